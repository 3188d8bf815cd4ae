// The entry point of every page: draw the page's view (body[data-view]) into <main>.
import { showError } from "./toast.js";

const view = document.body.dataset.view;
const root = document.getElementById("view");

if (view && root) {
  import(`./views/${view}.js`)
    .then((module) => module.render(root))
    .catch(showError);
}
