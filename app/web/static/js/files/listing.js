// The entries table, windowed: however many entries a folder has, only the rows in view
// (plus a margin) are in the document, between two spacer rows that keep the scroll
// height true. Rows have one fixed height (files.css --row-height) so that a scroll
// position maps to an index without measuring.
import { fileUrl } from "../api.js";
import { h } from "../dom.js";
import { formatBytes, formatDate } from "../format.js";

export const ROW_HEIGHT = 44;
const OVERSCAN = 12;
const COLUMNS = [
  { key: "name", label: "Name" },
  { key: "size", label: "Size" },
  { key: "mtime", label: "Modified" },
];

export function folderHref(path) {
  return path === "/" ? "/" : `/?path=${encodeURIComponent(path)}`;
}

export function parentOf(path) {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

/**
 * A table of entries. `handlers`: onOpen(entry, index), onSort(key), onRowClick(index,
 * event), onToggle(index, event), onToggleAll(checked), onKey(event, index).
 */
export class EntryList {
  constructor(handlers) {
    this.handlers = handlers;
    this.entries = [];
    this.selection = null;
    this.active = 0;
    this.sort = { key: "name", order: "asc" };
    this.showFolder = false;
    this.first = 0;
    this.last = -1;
    this.frame = 0;
    this.body = h("tbody", {
      onclick: (event) => this.clicked(event),
      onkeydown: (event) => this.keyed(event),
    });
    this.selectAll = h("input", {
      type: "checkbox",
      "aria-label": "Select all",
      onchange: () => handlers.onToggleAll(this.selectAll.checked),
    });
    this.headers = COLUMNS.map((column) =>
      h(
        "th",
        { scope: "col", class: column.key === "mtime" ? "date" : column.key, dataset: { key: column.key } },
        h("button", { type: "button", class: "sort", onclick: () => handlers.onSort(column.key) }, column.label),
      ),
    );
    this.empty = h("p", { class: "empty", hidden: true }, "This folder is empty.");
    this.table = h(
      "table",
      { class: "entries", "aria-label": "Entries" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "check" }, this.selectAll), this.headers)),
      this.body,
    );
    this.element = h("div", { class: "entries-wrap" }, this.table, this.empty);
    this.onScroll = () => this.schedule();
    window.addEventListener("scroll", this.onScroll, { passive: true });
    window.addEventListener("resize", this.onScroll);
  }

  destroy() {
    window.removeEventListener("scroll", this.onScroll);
    window.removeEventListener("resize", this.onScroll);
  }

  setSort(key, order) {
    this.sort = { key, order };
    for (const th of this.headers) {
      const sorted = th.dataset.key === key;
      if (sorted) th.setAttribute("aria-sort", order === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
  }

  /** Show these entries (the array may grow later: call refresh()). */
  show(entries, { showFolder = false, emptyText = "This folder is empty." } = {}) {
    this.entries = entries;
    this.showFolder = showFolder;
    this.empty.textContent = emptyText;
    this.active = Math.min(this.active, Math.max(entries.length - 1, 0));
    this.refresh(true);
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.refresh(false);
    });
  }

  /** Redraw the rows in view; `force` redraws even when the window did not move. */
  refresh(force = true) {
    const count = this.entries.length;
    this.table.setAttribute("aria-rowcount", String(count + 1));
    this.empty.hidden = count > 0;
    const top = this.body.getBoundingClientRect().top;
    const viewport = window.innerHeight || 800;
    const first = Math.max(0, Math.floor(-top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(count - 1, Math.ceil((viewport - top) / ROW_HEIGHT) + OVERSCAN);
    if (!force && first === this.first && last === this.last) return;
    this.first = first;
    this.last = last;
    const hadFocus = this.body.contains(document.activeElement) && document.activeElement.tagName === "TR";
    const rows = [];
    if (first > 0) rows.push(spacer(first));
    for (let index = first; index <= last; index += 1) rows.push(this.row(this.entries[index], index));
    if (last < count - 1) rows.push(spacer(count - 1 - last));
    this.body.replaceChildren(...rows);
    this.updateSelectAll();
    if (hadFocus) this.focusActive(false);
  }

  row(entry, index) {
    const selected = this.selection?.has(entry) ?? false;
    const name = entry.is_dir
      ? h("a", { href: folderHref(entry.path), class: "entry-link", dataset: { open: "" } }, entry.name)
      : h("a", { href: fileUrl(entry.path), class: "entry-link", dataset: { open: "" } }, entry.name);
    const where = this.showFolder
      ? h("a", { href: folderHref(parentOf(entry.path)), class: "where" }, parentOf(entry.path))
      : null;
    return h(
      "tr",
      {
        dataset: { path: entry.path, kind: entry.is_dir ? "folder" : "file", index: String(index) },
        "aria-rowindex": String(index + 2),
        "aria-selected": selected ? "true" : "false",
        tabindex: index === this.active ? "0" : "-1",
        class: selected ? "selected" : "",
      },
      h(
        "td",
        { class: "check" },
        h("input", { type: "checkbox", checked: selected, "aria-label": `Select ${entry.name}`, tabindex: "-1" }),
      ),
      h("td", { class: "name" }, h("span", { class: entry.is_dir ? "icon-folder" : "icon-file", "aria-hidden": "true" }), name, where),
      h("td", { class: "size" }, entry.is_dir ? "—" : formatBytes(entry.size)),
      h("td", { class: "date" }, formatDate(entry.mtime)),
    );
  }

  updateSelectAll() {
    const count = this.selection?.size ?? 0;
    this.selectAll.checked = count > 0 && count >= this.entries.length;
    this.selectAll.indeterminate = count > 0 && count < this.entries.length;
  }

  indexOf(event) {
    const tr = event.target.closest("tr[data-index]");
    return tr ? Number(tr.dataset.index) : -1;
  }

  clicked(event) {
    const index = this.indexOf(event);
    if (index < 0) return;
    if (event.target.matches("input[type=checkbox]")) {
      // A click (or Space) on a checkbox: its shiftKey says whether it extends a range.
      this.setActive(index);
      this.handlers.onToggle(index, event);
      return;
    }
    if (event.target.closest("a.where")) return; // a plain link to the folder
    const link = event.target.closest("a[data-open]");
    this.setActive(index);
    if (link) {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      this.handlers.onOpen(this.entries[index], index);
      return;
    }
    this.handlers.onRowClick(index, event);
  }

  keyed(event) {
    const index = this.indexOf(event);
    if (index < 0) return;
    this.handlers.onKey(event, index);
  }

  setActive(index) {
    this.active = Math.max(0, Math.min(index, this.entries.length - 1));
    for (const tr of this.body.querySelectorAll("tr[data-index]")) {
      tr.tabIndex = Number(tr.dataset.index) === this.active ? 0 : -1;
    }
  }

  /** Move the active row (scrolling it into view) and focus it. */
  focusActive(scroll = true) {
    const tr = this.body.querySelector(`tr[data-index="${this.active}"]`);
    if (tr) {
      tr.tabIndex = 0;
      tr.focus({ preventScroll: !scroll });
      if (scroll) tr.scrollIntoView({ block: "nearest" });
      return;
    }
    if (!scroll) return;
    // Not drawn: scroll to where it would be, draw, then focus.
    const bodyTop = this.body.getBoundingClientRect().top + window.scrollY;
    window.scrollTo(0, bodyTop + this.active * ROW_HEIGHT - window.innerHeight / 2);
    this.refresh(true);
    this.body.querySelector(`tr[data-index="${this.active}"]`)?.focus();
  }

  /** Redraw the selection marks of the rows in view (cheap: no rebuild). */
  markSelection() {
    for (const tr of this.body.querySelectorAll("tr[data-index]")) {
      const entry = this.entries[Number(tr.dataset.index)];
      const selected = this.selection.has(entry);
      tr.classList.toggle("selected", selected);
      tr.setAttribute("aria-selected", selected ? "true" : "false");
      tr.querySelector("input[type=checkbox]").checked = selected;
    }
    this.updateSelectAll();
  }
}

function spacer(rows) {
  const cell = h("td", { colspan: "4" });
  cell.style.height = `${rows * ROW_HEIGHT}px`;
  return h("tr", { class: "spacer", "aria-hidden": "true" }, cell);
}
