// The file browser: breadcrumbs, a toolbar acting on the selection, a search box, and
// a windowed list that pages through /api/list. Folders open in place (history.pushState)
// so that uploads in progress go on while the person browses.
import { api, query } from "../api.js";
import { clear, h, loadStylesheet } from "../dom.js";
import { showError, toast } from "../toast.js";
import * as actions from "../files/actions.js";
import { handleRowKey, isTyping, showShortcuts } from "../files/keyboard.js";
import { EntryList, folderHref } from "../files/listing.js";
import { Selection } from "../files/selection.js";
import { droppedItems, fromFileList } from "../files/drop.js";
import { UploadQueue } from "../files/uploads.js";
import { openPreview } from "../files/preview.js";

const FIRST_PAGE = 100; // small, so that the first rows show at once
const PAGE = 1000; // the most /api/list answers
const SEARCH_LIMIT = 500;
const SEARCH_DELAY_MS = 200;

function currentPath() {
  return new URLSearchParams(location.search).get("path") || "/";
}

class FilesPage {
  constructor(root) {
    this.root = root;
    this.path = currentPath();
    this.sort = { key: "name", order: "asc" };
    this.generation = 0;
    this.searchText = "";
    this.selection = new Selection(() => this.selectionChanged());
    this.list = new EntryList({
      onOpen: (entry, index) => this.open(index),
      onSort: (key) => this.sortBy(key),
      onRowClick: (index, event) => this.rowClicked(index, event),
      onToggle: (index, event) => this.toggled(index, event),
      onToggleAll: (checked) => (checked ? this.selection.all(this.list.entries) : this.selection.clear()),
      onKey: (event, index) => handleRowKey(event, index, this),
    });
    this.list.selection = this.selection;
    this.uploads = new UploadQueue({ user: document.body.dataset.user, onDone: (path) => this.uploaded(path) });
    this.list.setSort(this.sort.key, this.sort.order);
    this.build();
  }

  build() {
    this.title = h("h1", { class: "page-title" });
    this.crumbs = h("nav", { "aria-label": "Breadcrumbs", class: "breadcrumbs" });
    this.searchInput = h("input", {
      type: "search",
      id: "files-search",
      placeholder: "Search all files  ( / )",
      autocomplete: "off",
      spellcheck: "false",
      "aria-keyshortcuts": "/",
      oninput: () => this.searchSoon(),
      onkeydown: (event) => {
        if (event.key === "Escape") this.endSearch();
      },
    });
    const search = h(
      "form",
      { class: "files-search", role: "search", onsubmit: (event) => (event.preventDefault(), this.search()) },
      h("label", { for: "files-search", class: "visually-hidden" }, "Search"),
      this.searchInput,
    );
    this.buttons = {};
    const button = (name, onclick, extra = {}) => {
      this.buttons[name] = h("button", { type: "button", onclick, ...extra }, name);
      return this.buttons[name];
    };
    this.toolbar = h(
      "div",
      { class: "toolbar", role: "toolbar", "aria-label": "Actions" },
      button("New folder", () => this.run(() => actions.newFolder(this.path))),
      this.uploadControls(),
      button("Rename", () => this.renameSelected()),
      button("Move", () => this.run(() => actions.transfer(this.selected(), "Move", this.path))),
      button("Copy", () => this.run(() => actions.transfer(this.selected(), "Copy", this.path))),
      button("Delete", () => this.removeSelected(), { class: "danger" }),
      button("Download", () => actions.download(this.selected())),
      button("Share", () => actions.share(this.selected()[0]).catch(showError)),
      button("Versions", () => location.assign(`/versions${query({ path: this.selected()[0].path })}`)),
      h("button", { type: "button", class: "help", "aria-label": "Keyboard shortcuts", onclick: () => showShortcuts() }, "?"),
    );
    this.status = h("p", { class: "list-status", role: "status" });
    clear(this.root).append(
      h("div", { class: "files-head" }, this.title, search),
      this.crumbs,
      this.toolbar,
      this.status,
      this.list.element,
    );
    this.selectionChanged();
  }

  // ----- uploads -----

  uploadControls() {
    const picker = (label, extra) => {
      const input = h("input", {
        type: "file",
        multiple: true,
        class: "visually-hidden",
        ...extra,
        onchange: () => {
          this.uploads.add(fromFileList(input.files).files, this.path);
          input.value = "";
        },
      });
      return h("label", { class: "button upload-button" }, label, input);
    };
    return [picker("Upload files", {}), picker("Upload folder", { webkitdirectory: true })];
  }

  async dropped(event) {
    event.preventDefault();
    this.root.classList.remove("dropping");
    const folder = this.path;
    try {
      const { files, folders } = await droppedItems(event.dataTransfer);
      for (const relative of folders) {
        await api("/api/mkdir", { method: "POST", json: { path: folder === "/" ? `/${relative}` : `${folder}/${relative}` } });
      }
      if (files.length) this.uploads.add(files, folder);
      else if (folders.length) this.reloadSoon();
    } catch (error) {
      showError(error);
    }
  }

  uploaded(path) {
    // Redraw the list once a burst of uploads into this folder (or below it) settles.
    const here = this.path === "/" ? "/" : `${this.path}/`;
    if (!this.searchText && path.startsWith(here)) this.reloadSoon();
  }

  reloadSoon() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load(false), 300);
  }

  // ----- loading -----

  async load(fresh = true) {
    const generation = ++this.generation;
    this.searchText = "";
    if (fresh) this.selection.clear();
    delete this.list.element.dataset.loaded;
    this.drawHeading();
    const entries = [];
    let total = 0;
    let offset = 0;
    this.status.textContent = "Loading…";
    try {
      for (let page = 0; page < 1000; page += 1) {
        const limit = page === 0 ? FIRST_PAGE : PAGE;
        const answer = await api(
          `/api/list${query({ path: this.path, offset, limit, sort: this.sort.key, order: this.sort.order })}`,
        );
        if (generation !== this.generation) return;
        entries.push(...answer.entries);
        total = answer.total ?? entries.length;
        offset += answer.entries.length;
        if (page === 0) {
          this.list.show(entries);
          performance.mark("files:first-rows"); // what the 10,000-entry test measures
        }
        else this.list.refresh(true);
        this.status.textContent = offset < total ? `Loading… ${offset} of ${total}` : countText(total);
        if (!answer.entries.length || offset >= total) break;
      }
      this.list.element.dataset.loaded = "folder";
    } catch (error) {
      if (generation !== this.generation) return;
      this.status.textContent = "";
      if (error.status === 404) this.list.show([], { emptyText: "This folder does not exist." });
      this.list.element.dataset.loaded = "error";
      showError(error);
    }
  }

  drawHeading() {
    const parts = this.path.split("/").filter(Boolean);
    this.title.textContent = parts.length ? parts[parts.length - 1] : "All files";
    document.title = `${this.title.textContent} · Mini-Dropbox`;
    const items = [h("li", {}, h("a", { href: "/", "aria-current": parts.length ? false : "page" }, "All files"))];
    parts.forEach((part, index) => {
      const target = `/${parts.slice(0, index + 1).join("/")}`;
      const last = index === parts.length - 1;
      items.push(h("li", {}, h("a", { href: folderHref(target), "aria-current": last ? "page" : false }, part)));
    });
    this.crumbs.replaceChildren(h("ol", {}, items));
    this.crumbs.hidden = parts.length === 0; // the title already says "All files"
  }

  /** Go to a folder without leaving the page (uploads keep going). */
  navigate(path, push = true) {
    this.path = path;
    if (push) history.pushState({ path }, "", folderHref(path));
    this.searchInput.value = "";
    this.list.active = 0;
    window.scrollTo(0, 0);
    return this.load();
  }

  sortBy(key) {
    const order = this.sort.key === key && this.sort.order === "asc" ? "desc" : "asc";
    this.sort = { key, order };
    this.list.setSort(key, order);
    if (this.searchText) this.sortSearchResults();
    else this.load();
  }

  // ----- search -----

  searchSoon() {
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => this.search(), SEARCH_DELAY_MS);
  }

  async search() {
    const text = this.searchInput.value.trim();
    if (!text) return this.endSearch();
    const generation = ++this.generation;
    try {
      const answer = await api(`/api/search${query({ q: text, limit: SEARCH_LIMIT })}`);
      if (generation !== this.generation) return;
      this.searchText = text;
      this.selection.clear();
      this.results = answer.entries;
      this.title.textContent = `Search: ${text}`;
      this.sortSearchResults();
      this.list.element.dataset.loaded = "search";
      this.status.textContent = `${answer.entries.length} result${answer.entries.length === 1 ? "" : "s"} for “${text}”`;
    } catch (error) {
      showError(error);
    }
  }

  sortSearchResults() {
    const { key, order } = this.sort;
    const sign = order === "asc" ? 1 : -1;
    const sorted = [...this.results].sort((a, b) => {
      if (a.is_dir !== b.is_dir) return a.is_dir ? -1 : 1;
      const x = a[key] ?? 0;
      const y = b[key] ?? 0;
      const compared = key === "name" ? String(x).localeCompare(String(y)) : x - y;
      return sign * compared;
    });
    this.list.show(sorted, { showFolder: true, emptyText: "Nothing found." });
  }

  endSearch() {
    clearTimeout(this.searchTimer);
    this.searchInput.value = "";
    if (this.searchText) this.load();
  }

  // ----- selection -----

  selected() {
    return this.selection.entries(this.list.entries);
  }

  selectionChanged() {
    const count = this.selection.size;
    const one = count === 1;
    const chosen = one ? this.selected() : [];
    this.buttons.Rename.disabled = !one;
    this.buttons.Share.disabled = !one;
    this.buttons.Versions.disabled = !(one && chosen[0] && !chosen[0].is_dir);
    for (const name of ["Move", "Copy", "Delete", "Download"]) this.buttons[name].disabled = count === 0;
    this.buttons.Download.title = count > 1 || chosen[0]?.is_dir ? "Download as a zip" : "";
    this.list.markSelection();
    if (count) this.status.dataset.selection = `${count} selected`;
    else delete this.status.dataset.selection;
  }

  rowClicked(index, event) {
    if (event.shiftKey) this.selection.extendTo(this.list.entries, index);
    else if (event.ctrlKey || event.metaKey) this.selection.toggle(this.list.entries, index);
    else this.selection.only(this.list.entries, index);
  }

  toggled(index, event) {
    // A shift-click on a checkbox selects the whole range from the last one clicked.
    if (event.shiftKey) this.selection.extendTo(this.list.entries, index);
    else this.selection.toggle(this.list.entries, index);
  }

  selectAll() {
    this.selection.all(this.list.entries);
  }

  /** The entries an action on the focused row means: the selection, or that row. */
  targets(index) {
    const chosen = this.selected();
    if (chosen.length) return chosen;
    const entry = this.list.entries[index];
    return entry ? [entry] : [];
  }

  // ----- actions -----

  async run(action) {
    try {
      if (!(await action())) return;
      await this.reload(); // a fresh list: the selection acted on is cleared, as Dropbox does
      this.keepFocusOnList();
    } catch (error) {
      showError(error);
    }
  }

  /** After an action the button that started it is disabled (nothing is selected now):
   * the focus goes back to the list's active row rather than to the page's body. */
  keepFocusOnList() {
    const where = document.activeElement;
    if (!where || where === document.body || where.disabled || this.toolbar.contains(where)) {
      this.list.focusActive(false);
    }
  }

  reload() {
    return this.searchText ? this.search() : this.load();
  }

  open(index) {
    const entry = this.list.entries[index];
    if (!entry) return;
    if (entry.is_dir) {
      this.navigate(entry.path);
      return;
    }
    const files = this.list.entries.filter((item) => item && !item.is_dir);
    const dialog = openPreview(files, files.indexOf(entry), { download: (item) => actions.download([item]) });
    dialog.addEventListener("close", () => this.list.focusActive(false));
  }

  rename(index) {
    const chosen = this.targets(index);
    if (chosen.length === 1) this.run(() => actions.rename(chosen[0]));
  }

  renameSelected() {
    const chosen = this.selected();
    if (chosen.length === 1) this.run(() => actions.rename(chosen[0]));
  }

  remove(index) {
    const chosen = this.targets(index);
    if (chosen.length) this.run(() => actions.remove(chosen, () => this.reload()));
  }

  removeSelected() {
    const chosen = this.selected();
    if (chosen.length) this.run(() => actions.remove(chosen, () => this.reload()));
  }

  // ----- page-wide keys -----

  globalKey(event) {
    if (isTyping(event)) return;
    if (event.key === "/") {
      event.preventDefault();
      this.searchInput.focus();
      this.searchInput.select();
    } else if (event.key === "?") {
      event.preventDefault();
      showShortcuts();
    } else if (event.key === "Escape") {
      if (this.selection.size) this.selection.clear();
      else this.endSearch();
    }
  }
}

/** Uploads a reload cut short are resumable: say so (the browser cannot keep the files). */
function remindUnfinished(user) {
  let count = 0;
  for (let i = 0; i < localStorage.length; i += 1) {
    if (localStorage.key(i)?.startsWith(`tus::mdbx|${user}|`)) count += 1;
  }
  if (count) toast(`${count} upload${count === 1 ? " was" : "s were"} cut short: choose the same file${count === 1 ? "" : "s"} again to resume.`, "info", 10000);
}

function countText(total) {
  return `${total} item${total === 1 ? "" : "s"}`;
}

export async function render(root) {
  loadStylesheet("files.css");
  const page = new FilesPage(root);
  document.addEventListener("keydown", (event) => page.globalKey(event));
  document.addEventListener("click", (event) => {
    // Breadcrumbs and folder links open in place.
    const link = event.target.closest("a[href]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const url = new URL(link.href);
    if (url.origin !== location.origin || url.pathname !== "/" || link.hasAttribute("download")) return;
    event.preventDefault();
    page.navigate(url.searchParams.get("path") || "/");
  });
  window.addEventListener("popstate", () => page.navigate(currentPath(), false));
  root.addEventListener("dragover", (event) => {
    if (![...(event.dataTransfer?.types ?? [])].includes("Files")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    root.classList.add("dropping");
  });
  root.addEventListener("dragleave", (event) => {
    if (!root.contains(event.relatedTarget)) root.classList.remove("dropping");
  });
  root.addEventListener("drop", (event) => page.dropped(event));
  remindUnfinished(document.body.dataset.user);
  window.filesPage = page; // for the browser tests' probes
  await page.load();
}
