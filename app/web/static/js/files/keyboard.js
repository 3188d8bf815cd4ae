// The page's keyboard shortcuts: one table, read by the key handlers and by the "?"
// dialog that lists them.
import { openDialog } from "../dialog.js";
import { h } from "../dom.js";

export const SHORTCUTS = [
  ["↑ / ↓", "Move between entries"],
  ["Shift + ↑ / ↓", "Extend the selection"],
  ["Home / End", "First / last entry"],
  ["Space", "Select or unselect the entry"],
  ["Ctrl + A", "Select all"],
  ["Enter", "Open the folder, or preview the file"],
  ["F2", "Rename"],
  ["Delete", "Move to the trash"],
  ["/", "Search"],
  ["Escape", "Clear the selection or the search"],
  ["← / →", "Previous / next file, in a preview"],
  ["?", "Show these shortcuts"],
];

export function showShortcuts() {
  const rows = SHORTCUTS.map(([keys, what]) => h("tr", {}, h("th", { scope: "row" }, h("kbd", {}, keys)), h("td", {}, what)));
  return openDialog({
    title: "Keyboard shortcuts",
    body: [h("table", { class: "shortcuts" }, h("tbody", {}, rows))],
    buttons: [],
  });
}

/** Is the key meant for a text field (or a dialog), not for the page? */
export function isTyping(event) {
  const target = event.target;
  if (document.querySelector("dialog[open]")) return true;
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !["checkbox", "radio", "button", "submit", "file"].includes(target.type);
}

/**
 * Keys on a row of the list. `page`: {list, selection, open(index), rename(), remove(),
 * selectAll()}. Answers whether the key was used.
 */
export function handleRowKey(event, index, page) {
  const { list, selection } = page;
  const count = list.entries.length;
  const move = (to) => {
    const target = Math.max(0, Math.min(to, count - 1));
    if (event.shiftKey) {
      if (selection.anchor < 0) selection.anchor = index;
      list.setActive(target);
      selection.extendTo(list.entries, target);
    } else {
      list.setActive(target);
    }
    list.focusActive(true);
  };
  switch (event.key) {
    case "ArrowDown":
      move(index + 1);
      break;
    case "ArrowUp":
      move(index - 1);
      break;
    case "Home":
      move(0);
      break;
    case "End":
      move(count - 1);
      break;
    case "PageDown":
      move(index + Math.max(1, Math.floor(window.innerHeight / 44) - 2));
      break;
    case "PageUp":
      move(index - Math.max(1, Math.floor(window.innerHeight / 44) - 2));
      break;
    case " ":
      if (event.target.matches("input[type=checkbox]")) return false;
      selection.toggle(list.entries, index);
      break;
    case "Enter":
      if (event.target.closest("a")) return false; // the link's own click opens it
      page.open(index);
      break;
    case "F2":
      page.rename(index);
      break;
    case "Delete":
      page.remove(index);
      break;
    case "a":
    case "A":
      if (!(event.ctrlKey || event.metaKey)) return false;
      page.selectAll();
      break;
    default:
      return false;
  }
  event.preventDefault();
  return true;
}
