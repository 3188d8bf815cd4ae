// The trash: what the user deleted, restored one by one or as a selection, deleted for
// good one by one ("Delete forever") or all at once ("Empty trash").
import { api } from "../api.js";
import { confirmDialog } from "../dialog.js";
import { clear, h } from "../dom.js";
import { formatBytes, formatDate } from "../format.js";
import { showError, toast } from "../toast.js";

function baseName(path) {
  return path.split("/").pop() || path;
}

function folderOf(path) {
  const parent = path.slice(0, path.lastIndexOf("/")) || "/";
  return parent === "/" ? "/" : `/?path=${encodeURIComponent(parent)}`;
}

function describe(item) {
  if (!item.is_dir) return formatBytes(item.size);
  const inside = item.items - 1;
  return `${formatBytes(item.size)} · ${inside} item${inside === 1 ? "" : "s"} inside`;
}

export async function render(root) {
  const selected = new Set();
  const restoreButton = h("button", { type: "button", class: "primary", disabled: true }, "Restore");
  const emptyButton = h("button", { type: "button", class: "danger" }, "Empty trash");
  const selectAll = h("input", { type: "checkbox", "aria-label": "Select all" });
  const status = h("p", { class: "list-status", role: "status" });
  const body = h("tbody");
  const table = h(
    "table",
    { class: "entries records trash-list" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col", class: "check" }, selectAll),
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col", class: "size" }, "Size"),
        h("th", { scope: "col", class: "date" }, "Deleted"),
        h("th", { scope: "col", class: "actions" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    body,
  );
  clear(root).append(
    h("h1", { class: "page-title" }, "Trash"),
    h(
      "p",
      { class: "page-intro" },
      "Deleted files and folders stay here for 30 days, then they are deleted for good.",
    ),
    h("div", { class: "list-toolbar", role: "toolbar", "aria-label": "Trash" }, restoreButton, emptyButton),
    status,
    h("div", { class: "table-scroll" }, table),
  );

  let items = [];

  function updateSelection() {
    restoreButton.disabled = selected.size === 0;
    restoreButton.textContent = selected.size > 1 ? `Restore (${selected.size})` : "Restore";
    selectAll.checked = items.length > 0 && selected.size === items.length;
    selectAll.indeterminate = selected.size > 0 && selected.size < items.length;
    emptyButton.disabled = items.length === 0;
  }

  async function restore(ids) {
    let done = 0;
    for (const id of ids) {
      const item = items.find((entry) => entry.trash_id === id);
      try {
        await api("/api/restore", { method: "POST", json: { trash_id: id } });
        done += 1;
      } catch (error) {
        showError(new Error(`${item ? item.path : id}: ${error.message}`));
      }
    }
    if (done) toast(done === 1 ? "Restored 1 item" : `Restored ${done} items`, "ok");
    await load();
  }

  async function purge(item) {
    const sure = await confirmDialog({
      title: "Delete forever?",
      message: `${item.path} will be deleted for good. This cannot be undone.`,
      action: "Delete forever",
      danger: true,
    });
    if (!sure) return;
    try {
      await api(`/api/trash/${encodeURIComponent(item.trash_id)}`, { method: "DELETE" });
      toast(`Deleted ${baseName(item.path)} for good`, "ok");
    } catch (error) {
      showError(error);
    }
    await load();
  }

  function row(item) {
    const box = h("input", {
      type: "checkbox",
      "aria-label": `Select ${item.path}`,
      checked: selected.has(item.trash_id),
      onchange: () => {
        if (box.checked) selected.add(item.trash_id);
        else selected.delete(item.trash_id);
        updateSelection();
      },
    });
    return h(
      "tr",
      { dataset: { trashId: item.trash_id, path: item.path } },
      h("td", { class: "check" }, box),
      h(
        "td",
        { class: "name" },
        h("span", { class: item.is_dir ? "icon-folder" : "icon-file", "aria-hidden": "true" }),
        h("span", { class: "entry-name" }, baseName(item.path)),
        h("a", { class: "entry-origin", href: folderOf(item.path), title: "Where it was" }, item.path),
      ),
      h("td", { class: "size" }, describe(item)),
      h("td", { class: "date" }, formatDate(item.deleted_at)),
      h(
        "td",
        { class: "actions" },
        h("button", { type: "button", "aria-label": `Restore ${item.path}`, onclick: () => restore([item.trash_id]) }, "Restore"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete ${item.path} forever`, onclick: () => purge(item) }, "Delete forever"),
      ),
    );
  }

  async function load() {
    try {
      items = (await api("/api/trash")).trash;
    } catch (error) {
      showError(error);
      return;
    }
    for (const id of [...selected]) {
      if (!items.some((item) => item.trash_id === id)) selected.delete(id);
    }
    clear(body).append(...items.map(row));
    const total = items.reduce((sum, item) => sum + item.size, 0);
    status.textContent = items.length
      ? `${items.length} item${items.length === 1 ? "" : "s"}, ${formatBytes(total)}`
      : "The trash is empty.";
    table.hidden = items.length === 0;
    updateSelection();
  }

  selectAll.addEventListener("change", () => {
    selected.clear();
    if (selectAll.checked) for (const item of items) selected.add(item.trash_id);
    for (const box of body.querySelectorAll("td.check input")) box.checked = selectAll.checked;
    updateSelection();
  });
  restoreButton.addEventListener("click", () => restore([...selected]));
  emptyButton.addEventListener("click", async () => {
    const total = items.reduce((sum, item) => sum + item.size, 0);
    const sure = await confirmDialog({
      title: "Empty the trash?",
      message: `${items.length} item${items.length === 1 ? "" : "s"} (${formatBytes(total)}) will be deleted for good. This cannot be undone.`,
      action: "Empty trash",
      danger: true,
    });
    if (!sure) return;
    try {
      const { purged } = await api("/api/trash", { method: "DELETE" });
      toast(`Deleted ${purged} item${purged === 1 ? "" : "s"} for good`, "ok");
    } catch (error) {
      showError(error);
    }
    await load();
  });

  await load();
}
