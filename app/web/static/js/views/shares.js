// Shared links: every link the user made (file, created, expiry, password), revoked one
// by one. A link's address is shown once, when it is made (only its hash is stored):
// this page can copy only the links made while it is open, and keeps them nowhere.
import { api } from "../api.js";
import { confirmDialog, promptDialog } from "../dialog.js";
import { copyLink, openShareDialog } from "../dialogs/share.js";
import { clear, h } from "../dom.js";
import { formatBytes, formatDate } from "../format.js";
import { showError, toast } from "../toast.js";

function baseName(path) {
  return path.split("/").pop() || path;
}

function expiryText(share, now) {
  if (!share.expires_at) return "Never";
  return share.expires_at * 1000 < now ? `Expired ${formatDate(share.expires_at)}` : formatDate(share.expires_at);
}

export async function render(root) {
  // id -> URL of the links made on this page since it was opened (memory only).
  const madeHere = new Map();
  const body = h("tbody");
  const status = h("p", { class: "list-status", role: "status" });
  const copyStatus = h("p", { class: "visually-hidden", role: "status" });
  const table = h(
    "table",
    { class: "entries records shares-list" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "File"),
        h("th", { scope: "col", class: "date" }, "Created"),
        h("th", { scope: "col" }, "Expires"),
        h("th", { scope: "col" }, "Password"),
        h("th", { scope: "col", class: "actions" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    body,
  );
  const shareButton = h("button", { type: "button", class: "primary" }, "Share a file");
  clear(root).append(
    h("h1", { class: "page-title" }, "Shared links"),
    h(
      "p",
      { class: "page-intro" },
      "A link's address is shown only once, when it is made: copy it then. Here you see every link you made and can revoke it; a revoked link stops working at once.",
    ),
    h("div", { class: "list-toolbar", role: "toolbar", "aria-label": "Shared links" }, shareButton),
    status,
    copyStatus,
    h("div", { class: "table-scroll" }, table),
  );

  async function revoke(share) {
    const sure = await confirmDialog({
      title: "Revoke this link?",
      message: `Whoever has the link to ${share.path} will no longer be able to open it.`,
      action: "Revoke",
      danger: true,
    });
    if (!sure) return;
    try {
      await api(`/api/shares/${encodeURIComponent(share.id)}`, { method: "DELETE" });
      madeHere.delete(share.id);
      toast(`Revoked the link to ${baseName(share.path)}`, "ok");
    } catch (error) {
      showError(error);
    }
    await load();
  }

  function row(share, now) {
    const url = madeHere.get(share.id);
    const linkInput = url ? h("input", { type: "text", readonly: true, value: url, class: "share-url", "aria-label": `Link to ${share.path}` }) : null;
    return h(
      "tr",
      { dataset: { id: share.id, path: share.path } },
      h(
        "td",
        { class: "name" },
        h("span", { class: "icon-file", "aria-hidden": "true" }),
        h("span", { class: "entry-name" }, baseName(share.path)),
        h("span", { class: "entry-origin" }, `${share.path} · ${formatBytes(share.size)}`),
        linkInput,
      ),
      h("td", { class: "date" }, formatDate(share.created_at)),
      h("td", { class: "expires" }, expiryText(share, now)),
      h("td", { class: "password" }, share.password ? "Yes" : "No"),
      h(
        "td",
        { class: "actions" },
        url
          ? h("button", { type: "button", "aria-label": `Copy the link to ${share.path}`, onclick: () => copyLink(linkInput, copyStatus) }, "Copy link")
          : null,
        h("button", { type: "button", class: "danger", "aria-label": `Revoke the link to ${share.path}`, onclick: () => revoke(share) }, "Revoke"),
      ),
    );
  }

  async function load() {
    let shares;
    try {
      shares = (await api("/api/shares")).shares;
    } catch (error) {
      showError(error);
      return;
    }
    const now = Date.now();
    shares.reverse(); // the newest first
    clear(body).append(...shares.map((share) => row(share, now)));
    status.textContent = shares.length
      ? `${shares.length} link${shares.length === 1 ? "" : "s"}`
      : "You have no shared links. Share a file from its row in Files, or here.";
    table.hidden = shares.length === 0;
  }

  shareButton.addEventListener("click", async () => {
    const path = await promptDialog({ title: "Share a file", label: "Path of the file", value: "/", action: "Next" });
    if (!path) return;
    let entry;
    try {
      entry = await api(`/api/stat?path=${encodeURIComponent(path)}`);
    } catch (error) {
      showError(error);
      return;
    }
    if (entry.is_dir) {
      showError(new Error(`${entry.path} is a folder: only files can be shared`));
      return;
    }
    const made = await openShareDialog(entry);
    if (made) madeHere.set(made.id, made.url);
    await load();
  });

  await load();
}
