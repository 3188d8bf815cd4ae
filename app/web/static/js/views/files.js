// The file browser: a folder's entries with breadcrumbs.
import { api, fileUrl, query } from "../api.js";
import { clear, h } from "../dom.js";
import { formatBytes, formatDate } from "../format.js";

const PAGE = 200;

function currentPath() {
  return new URLSearchParams(location.search).get("path") || "/";
}

function folderHref(path) {
  return path === "/" ? "/" : `/?path=${encodeURIComponent(path)}`;
}

function breadcrumbs(path) {
  const parts = path.split("/").filter(Boolean);
  const items = [h("li", {}, h("a", { href: "/" }, "All files"))];
  parts.forEach((part, index) => {
    const target = `/${parts.slice(0, index + 1).join("/")}`;
    const last = index === parts.length - 1;
    items.push(
      h("li", {}, h("a", { href: folderHref(target), "aria-current": last ? "page" : false }, part)),
    );
  });
  return h("nav", { "aria-label": "Breadcrumbs", class: "breadcrumbs" }, h("ol", {}, items));
}

function row(entry) {
  const link = entry.is_dir
    ? h("a", { href: folderHref(entry.path) }, entry.name)
    : h("a", { href: fileUrl(entry.path), download: entry.name }, entry.name);
  return h(
    "tr",
    { dataset: { path: entry.path, kind: entry.is_dir ? "folder" : "file" } },
    h("td", { class: "name" }, h("span", { class: entry.is_dir ? "icon-folder" : "icon-file", "aria-hidden": "true" }), link),
    h("td", { class: "size" }, entry.is_dir ? "—" : formatBytes(entry.size)),
    h("td", { class: "date" }, formatDate(entry.mtime)),
  );
}

export async function render(root) {
  const path = currentPath();
  const body = h("tbody");
  const table = h(
    "table",
    { class: "entries" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Size"), h("th", { scope: "col" }, "Modified"))),
    body,
  );
  clear(root).append(h("h1", { class: "page-title" }, path === "/" ? "All files" : path.split("/").pop()), breadcrumbs(path), table);
  let offset = 0;
  for (;;) {
    const page = await api(`/api/list${query({ path, offset, limit: PAGE })}`);
    body.append(...page.entries.map(row));
    offset += page.entries.length;
    if (!page.entries.length || offset >= page.total) break;
  }
}
