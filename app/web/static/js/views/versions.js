// A file's versions (/versions?path=...): the current content first, then the older
// ones; each can be downloaded, and an older one restored (it becomes a new version).
import { api, fileUrl } from "../api.js";
import { confirmDialog } from "../dialog.js";
import { clear, h } from "../dom.js";
import { formatBytes, formatDate } from "../format.js";
import { showError, toast } from "../toast.js";

function folderHref(path) {
  const parent = path.slice(0, path.lastIndexOf("/")) || "/";
  return parent === "/" ? "/" : `/?path=${encodeURIComponent(parent)}`;
}

export async function render(root) {
  const path = new URLSearchParams(location.search).get("path");
  const name = path ? path.split("/").pop() : "";
  const body = h("tbody");
  const status = h("p", { class: "list-status", role: "status" });
  const table = h(
    "table",
    { class: "entries records versions-list" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Version"),
        h("th", { scope: "col", class: "date" }, "Saved"),
        h("th", { scope: "col", class: "size" }, "Size"),
        h("th", { scope: "col", class: "actions" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    body,
  );
  clear(root).append(
    h("h1", { class: "page-title" }, path ? `Versions of ${name}` : "Versions"),
    path
      ? h("p", { class: "page-intro" }, h("a", { href: folderHref(path) }, "Back to the folder"), ` · ${path}`)
      : null,
    status,
    h("div", { class: "table-scroll" }, table),
  );
  if (!path) {
    status.textContent = "Open a file's versions from the file list.";
    table.hidden = true;
    return;
  }

  async function restore(version) {
    const sure = await confirmDialog({
      title: `Restore version ${version.version}?`,
      message: `${name} will hold the content of version ${version.version} again (saved ${formatDate(version.mtime)}). The current content stays as a version.`,
      action: "Restore",
    });
    if (!sure) return;
    try {
      const entry = await api("/api/restore", { method: "POST", json: { path, version: version.version } });
      toast(`Restored version ${version.version} as version ${entry.version}`, "ok");
    } catch (error) {
      showError(error);
    }
    await load();
  }

  function row(version, index) {
    const current = index === 0 && version.current;
    const label = `Version ${version.version}`;
    return h(
      "tr",
      { dataset: { version: String(version.version) } },
      h(
        "td",
        { class: "name" },
        h("span", { class: "entry-name" }, label),
        current ? h("span", { class: "badge" }, "current") : null,
      ),
      h("td", { class: "date" }, formatDate(version.mtime)),
      h("td", { class: "size" }, formatBytes(version.size)),
      h(
        "td",
        { class: "actions" },
        h(
          "a",
          {
            class: "button",
            href: fileUrl(path, current ? {} : { version: version.version }),
            download: name,
            "aria-label": `Download version ${version.version}`,
          },
          "Download",
        ),
        current
          ? null
          : h(
              "button",
              { type: "button", "aria-label": `Restore version ${version.version}`, onclick: () => restore(version) },
              "Restore",
            ),
      ),
    );
  }

  async function load() {
    let versions;
    let currentVersion = null;
    try {
      [versions, currentVersion] = await Promise.all([
        api(`/api/versions?path=${encodeURIComponent(path)}`).then((answer) => answer.versions),
        api(`/api/stat?path=${encodeURIComponent(path)}`)
          .then((entry) => entry.version)
          .catch(() => null), // deleted: every version is an old one
      ]);
    } catch (error) {
      showError(error);
      status.textContent = error.message;
      table.hidden = true;
      return;
    }
    const marked = versions.map((version) => ({ ...version, current: version.version === currentVersion }));
    clear(body).append(...marked.map(row));
    status.textContent = `${versions.length} version${versions.length === 1 ? "" : "s"}`;
    table.hidden = false;
  }

  await load();
}
