// Generate images with Seedream: a prompt, up to two reference images (from this computer
// or from the user's files), the model options POST /api/generate takes; progress from
// its event stream (read with fetch, as it is a POST); the results, saved in a folder of
// the user's files that they pick.
import { api, ApiError, fileUrl, query, request } from "../api.js";
import { openDialog } from "../dialog.js";
import { clear, h, loadStylesheet } from "../dom.js";
import { formatBytes } from "../format.js";
import { toast } from "../toast.js";

const IMAGE_NAME = /\.(png|jpe?g|webp|bmp|tiff?|gif)$/i;
const MODELS = ["seedream-4-0-250828", "seedream-3-0-t2i-250415", "seededit-3-0-i2i-250628"];
const SIZES = ["1K", "2K", "4K", "2048x2048", "2304x1728", "1728x2304", "2560x1440", "adaptive"];
const DEFAULT_FOLDER = "/Generated";

let uid = 0;
function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

function field(label, input, hint) {
  input.id ||= nextId("gen");
  const children = [h("label", { for: input.id }, label), input];
  if (hint) {
    const hintId = `${input.id}-hint`;
    input.setAttribute("aria-describedby", hintId);
    children.push(h("small", { id: hintId, class: "muted" }, hint));
  }
  return h("div", { class: "field" }, children);
}

function datalist(values) {
  return h("datalist", { id: nextId("list") }, values.map((value) => h("option", { value })));
}

/** The picker of an image among the user's files: browse folders, or search by name. */
async function pickUserImage() {
  const list = h("ul", { class: "picker-list", "aria-label": "Images and folders" });
  const where = h("p", { class: "muted picker-where" });
  const search = h("input", { type: "search", placeholder: "Name contains…", autocomplete: "off" });
  let chosen = null;
  let dialog = null;

  function choose(path) {
    chosen = path;
    dialog?.close();
  }

  function show(entries, folder) {
    const items = [];
    if (folder && folder !== "/") {
      const parent = folder.slice(0, folder.lastIndexOf("/")) || "/";
      items.push(h("li", {}, h("button", { type: "button", class: "picker-folder", onclick: () => browse(parent) }, "↑ Parent folder")));
    }
    for (const entry of entries) {
      if (entry.is_dir) {
        items.push(h("li", {}, h("button", { type: "button", class: "picker-folder", onclick: () => browse(entry.path) }, h("span", { class: "icon-folder", "aria-hidden": "true" }), entry.name)));
      } else if (IMAGE_NAME.test(entry.name)) {
        items.push(
          h(
            "li",
            {},
            h(
              "button",
              { type: "button", class: "picker-file", onclick: () => choose(entry.path), "aria-label": `Use ${entry.path}` },
              h("span", { class: "icon-file", "aria-hidden": "true" }),
              h("span", { class: "picker-name" }, entry.name),
              h("span", { class: "muted" }, formatBytes(entry.size)),
            ),
          ),
        );
      }
    }
    if (!items.length) items.push(h("li", { class: "muted" }, "No images here."));
    list.replaceChildren(...items);
  }

  async function browse(folder) {
    where.textContent = `In ${folder}`;
    try {
      const page = await api(`/api/list${query({ path: folder, limit: 1000 })}`);
      show(page.entries, folder);
    } catch (error) {
      list.replaceChildren(h("li", { class: "alert" }, error.message));
    }
  }

  let pending = null;
  search.addEventListener("input", () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const text = search.value.trim();
      if (!text) return browse("/");
      where.textContent = `Names containing “${text}”`;
      try {
        const found = await api(`/api/search${query({ q: text, limit: 200 })}`);
        show(found.entries.filter((entry) => !entry.is_dir), null);
      } catch (error) {
        list.replaceChildren(h("li", { class: "alert" }, error.message));
      }
    }, 200);
  });

  const searchId = nextId("picker-search");
  search.id = searchId;
  browse("/");
  await openDialog({
    title: "Choose an image from your files",
    body: [h("label", { for: searchId }, "Search your images"), search, where, list],
    onOpen: (el) => {
      dialog = el;
      el.classList.add("picker");
      search.focus();
    },
  });
  return chosen;
}

/** One reference slot: a file from this computer, or one of the user's files. */
function referenceSlot(number) {
  const fileInput = h("input", { type: "file", accept: "image/*" });
  fileInput.id = nextId(`ref${number}`);
  const chosenText = h("span", { class: "ref-chosen muted" }, "None");
  const pickButton = h("button", { type: "button" }, `Choose reference ${number} from my files`);
  const clearButton = h("button", { type: "button", hidden: true, "aria-label": `Remove reference ${number}` }, "Remove");
  const preview = h("img", { class: "ref-preview", alt: "", hidden: true });
  let userPath = null;
  let objectUrl = null;

  function showPreview(src) {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = src?.startsWith("blob:") ? src : null;
    preview.hidden = !src;
    if (src) preview.src = src;
    else preview.removeAttribute("src");
  }

  function reset() {
    userPath = null;
    fileInput.value = "";
    chosenText.textContent = "None";
    clearButton.hidden = true;
    showPreview(null);
  }

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    if (!file) return reset();
    userPath = null;
    chosenText.textContent = `${file.name} (this computer)`;
    clearButton.hidden = false;
    showPreview(URL.createObjectURL(file));
  });
  pickButton.addEventListener("click", async () => {
    const path = await pickUserImage();
    pickButton.focus();
    if (!path) return;
    fileInput.value = "";
    userPath = path;
    chosenText.textContent = `${path} (your files)`;
    clearButton.hidden = false;
    showPreview(fileUrl(path));
  });
  clearButton.addEventListener("click", reset);

  const element = h(
    "fieldset",
    { class: "ref-slot", dataset: { ref: String(number) } },
    h("legend", {}, `Reference image ${number}`),
    h("div", { class: "ref-row" }, preview, h("div", { class: "ref-body" }, h("div", {}, "Chosen: ", chosenText),
      h("label", { for: fileInput.id }, `Reference ${number} from this computer`), fileInput,
      h("div", { class: "ref-actions" }, pickButton, clearButton))),
  );
  return {
    element,
    addTo(form, name) {
      if (fileInput.files[0]) form.append(name, fileInput.files[0]);
      else if (userPath) form.append(`${name}_path`, userPath);
    },
    reset,
  };
}

/** The events of a text/event-stream body, as {event, data} objects. */
async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

function resultCard(image, folder) {
  if (image.error) {
    return h(
      "li",
      { class: "result result-error", dataset: { index: String(image.index) } },
      h("p", { class: "alert" }, `Image ${image.index + 1}: ${image.error.message}`),
    );
  }
  const url = fileUrl(image.path);
  return h(
    "li",
    { class: "result", dataset: { index: String(image.index), path: image.path } },
    h("img", { src: url, alt: `Generated image ${image.index + 1}`, loading: "lazy" }),
    h(
      "div",
      { class: "result-meta" },
      h("span", { class: "result-name" }, image.name),
      h("span", { class: "muted" }, [image.size, formatBytes(image.bytes)].filter(Boolean).join(" · ")),
      h(
        "span",
        { class: "result-links" },
        h("a", { href: url, download: image.name }, "Download"),
        h("a", { href: `/?path=${encodeURIComponent(folder)}` }, "Open folder"),
      ),
    ),
  );
}

export async function render(root) {
  loadStylesheet("generate.css");
  const modelList = datalist(MODELS);
  const sizeList = datalist(SIZES);
  const prompt = h("textarea", { rows: 4, required: true, maxlength: 4000, placeholder: "A lighthouse at dusk, oil painting" });
  const model = h("input", { type: "text", list: modelList.id, autocomplete: "off", placeholder: "server default" });
  const size = h("input", { type: "text", list: sizeList.id, autocomplete: "off", placeholder: "model default" });
  const count = h("input", { type: "number", min: 1, max: 15, step: 1, value: "1" });
  const seed = h("input", { type: "number", min: -1, max: 2147483647, step: 1, placeholder: "random" });
  const guidance = h("input", { type: "number", min: 1, max: 10, step: 0.1, placeholder: "model default" });
  const watermark = h("input", { type: "checkbox" });
  const folder = h("input", { type: "text", value: DEFAULT_FOLDER, required: true, autocomplete: "off" });
  const refs = [referenceSlot(1), referenceSlot(2)];
  const submit = h("button", { type: "submit", class: "primary" }, "Generate");
  const formError = h("p", { class: "alert", role: "alert", hidden: true });
  const progress = h("progress", { class: "gen-progress", hidden: true, "aria-label": "Generation progress" });
  const status = h("p", { class: "gen-status", role: "status" });
  const results = h("ul", { class: "results", "aria-label": "Generated images" });

  const form = h(
    "form",
    { class: "generate-form" },
    field("Prompt", prompt),
    h("div", { class: "refs" }, refs.map((ref) => ref.element)),
    h(
      "details",
      { class: "options" },
      h("summary", {}, "Options"),
      h(
        "div",
        { class: "options-grid" },
        field("Model", model, "empty: the server's model"),
        field("Size", size, "1K, 2K, 4K or W×H such as 2048x2048"),
        field("Number of images", count, "more than 1: Seedream 4 and later"),
        field("Seed", seed, "Seedream 3.0 and SeedEdit only"),
        field("Guidance", guidance, "1 to 10; Seedream 3.0 and SeedEdit only"),
        h("div", { class: "field checkbox" }, h("label", {}, watermark, " Watermark")),
        modelList,
        sizeList,
      ),
    ),
    field("Save into folder", folder, "a folder of your files; made if missing"),
    h("div", { class: "form-actions" }, submit, progress),
    formError,
  );

  clear(root).append(
    h("h1", { class: "page-title" }, "Generate images"),
    form,
    status,
    h("section", { "aria-labelledby": "results-title" }, h("h2", { id: "results-title" }, "Results"), results),
  );

  function fail(message) {
    formError.textContent = message;
    formError.hidden = false;
    formError.scrollIntoView({ block: "nearest" });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.hidden = true;
    const body = new FormData();
    body.append("prompt", prompt.value);
    body.append("folder", folder.value.trim());
    body.append("stream", "true");
    if (model.value.trim()) body.append("model", model.value.trim());
    if (size.value.trim()) body.append("size", size.value.trim());
    if (count.value && count.value !== "1") body.append("max_images", count.value);
    if (seed.value) body.append("seed", seed.value);
    if (guidance.value) body.append("guidance_scale", guidance.value);
    if (watermark.checked) body.append("watermark", "true");
    refs.forEach((ref, index) => ref.addTo(body, `image${index + 1}`));

    submit.disabled = true;
    progress.hidden = false;
    progress.removeAttribute("value");
    status.textContent = "Generating…";
    results.replaceChildren();
    const target = folder.value.trim();
    let saved = 0;
    try {
      const response = await request("/api/generate", { method: "POST", body });
      let finished = false;
      for await (const { event: kind, data } of readEvents(response)) {
        if (kind === "image") {
          results.append(resultCard(data, target));
          if (!results.children[1]) results.scrollIntoView({ block: "nearest" });
          if (!data.error) saved += 1;
          status.textContent = `Generating… ${saved} saved so far`;
        } else if (kind === "completed") {
          finished = true;
          const failed = data.images.length - saved;
          status.textContent = `Done: ${saved} image${saved === 1 ? "" : "s"} saved in ${target}${failed ? `, ${failed} failed` : ""}.`;
          if (saved) toast(`${saved} image${saved === 1 ? "" : "s"} saved in ${target}`, "ok");
        } else if (kind === "error") {
          finished = true;
          throw new ApiError(502, data.error?.code, data.error?.message ?? "the generation failed");
        }
      }
      if (!finished) throw new ApiError(502, "stream_cut", "the connection ended before the generation finished");
    } catch (error) {
      status.textContent = saved ? `Stopped after ${saved} saved image(s).` : "";
      fail(error.code === "seedream_not_configured" ? `Image generation is not set up on this server: ${error.message}` : error.message);
    } finally {
      submit.disabled = false;
      progress.hidden = true;
    }
  });
}
