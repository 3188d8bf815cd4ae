// What the toolbar buttons do to the selection: each asks what it needs (a name, a
// destination), calls /api/ and says what happened. The page reloads the list after.
import { api, csrf, fileUrl, query } from "../api.js";
import { openDialog, promptDialog } from "../dialog.js";
import { h } from "../dom.js";
import { showError, toast } from "../toast.js";
import { parentOf } from "./listing.js";

function join(folder, name) {
  return folder === "/" ? `/${name}` : `${folder}/${name}`;
}

/** A name the server would refuse, said before asking it. */
function nameProblem(name) {
  if (!name) return "A name is needed.";
  if (name.includes("/")) return "A name cannot contain “/”.";
  if (name === "." || name === "..") return "“.” and “..” are not names.";
  return "";
}

export async function newFolder(folder) {
  const name = await promptDialog({ title: "New folder", label: "Folder name", value: "", action: "Create" });
  if (name === null) return false;
  const problem = nameProblem(name);
  if (problem) {
    toast(problem, "error");
    return false;
  }
  await api("/api/mkdir", { method: "POST", json: { path: join(folder, name) } });
  toast(`Folder “${name}” created`, "ok");
  return true;
}

export async function rename(entry) {
  const name = await promptDialog({ title: `Rename “${entry.name}”`, label: "New name", value: entry.name, action: "Rename" });
  if (name === null || name === entry.name) return false;
  const problem = nameProblem(name);
  if (problem) {
    toast(problem, "error");
    return false;
  }
  await api("/api/move", { method: "POST", json: { from: entry.path, to: join(parentOf(entry.path), name) } });
  toast(`Renamed to “${name}”`, "ok");
  return true;
}

/** Move or copy entries into a folder the person picks. */
export async function transfer(entries, verb, startFolder) {
  const target = await pickFolder(verb, startFolder, entries);
  if (target === null) return false;
  const endpoint = verb === "Move" ? "/api/move" : "/api/copy";
  let done = 0;
  for (const entry of entries) {
    const to = join(target, entry.name);
    if (to === entry.path) continue;
    try {
      await api(endpoint, { method: "POST", json: { from: entry.path, to } });
      done += 1;
    } catch (error) {
      showError(error);
    }
  }
  if (done) toast(`${verb === "Move" ? "Moved" : "Copied"} ${done} item${done === 1 ? "" : "s"} to ${target}`, "ok");
  return done > 0;
}

/** A dialog to browse folders and choose one (or type its path). Resolves the path or null. */
export function pickFolder(verb, startFolder, entries) {
  let folder = startFolder;
  const list = h("ul", { class: "picker-list", "aria-label": "Folders" });
  const pathInput = h("input", { type: "text", id: "picker-path", value: folder, autocomplete: "off", spellcheck: "false" });
  const problem = h("p", { class: "picker-problem", role: "alert" });
  const moving = new Set(entries.map((entry) => entry.path));

  async function browse(path) {
    folder = path;
    pathInput.value = path;
    list.replaceChildren(h("li", { class: "muted" }, "Loading…"));
    try {
      const page = await api(`/api/list${query({ path, limit: 1000, sort: "name" })}`);
      const items = [];
      if (path !== "/") items.push(folderButton("⬑ Up", parentOf(path)));
      for (const entry of page.entries) {
        if (entry.is_dir && !moving.has(entry.path)) items.push(folderButton(entry.name, entry.path));
      }
      if (items.length === 0) items.push(h("li", { class: "muted" }, "No folders here."));
      list.replaceChildren(...items);
    } catch (error) {
      list.replaceChildren(h("li", { class: "muted" }, error.message));
    }
  }

  function folderButton(label, path) {
    return h("li", {}, h("button", { type: "button", class: "picker-folder", onclick: () => browse(path) }, label));
  }

  function chosen() {
    const value = pathInput.value.trim().replace(/\/+$/, "") || "/";
    return value.startsWith("/") ? value : null;
  }

  pathInput.addEventListener("input", () => {
    problem.textContent = chosen() === null ? "A folder path starts with “/”." : "";
  });
  browse(folder);
  return openDialog({
    title: `${verb} ${entries.length === 1 ? `“${entries[0].name}”` : `${entries.length} items`} to…`,
    body: [h("label", { for: "picker-path" }, "Destination folder"), pathInput, problem, list],
    buttons: [{ label: `${verb} here`, primary: true, value: () => chosen() }],
    onOpen: () => pathInput.focus(),
  });
}

/** Move entries to the trash; the toast offers Undo (restore from the trash). */
export async function remove(entries, afterUndo) {
  const trashed = [];
  for (const entry of entries) {
    try {
      const answer = await api(fileUrl(entry.path), { method: "DELETE" });
      trashed.push(answer.trash_id);
    } catch (error) {
      showError(error);
    }
  }
  if (!trashed.length) return false;
  const label = trashed.length === 1 ? `“${entries[0].name}”` : `${trashed.length} items`;
  undoToast(`Moved ${label} to the trash`, async () => {
    for (const trashId of trashed) {
      try {
        await api("/api/restore", { method: "POST", json: { trash_id: trashId } });
      } catch (error) {
        showError(error);
      }
    }
    toast(`Restored ${label}`, "ok");
    afterUndo();
  });
  return true;
}

function undoToast(message, undo) {
  const region = document.getElementById("toasts");
  if (!region) return;
  const button = h("button", { type: "button", class: "toast-action" }, "Undo");
  const item = h("div", { class: "toast toast-ok" }, h("span", {}, message), button);
  button.addEventListener("click", () => {
    item.remove();
    undo();
  });
  region.append(item);
  setTimeout(() => item.remove(), 10000);
}

/** One file: the file itself. A folder or several entries: one zip (POSTed, so that a
 * long selection fits; the browser saves the answer as an attachment). */
export function download(entries) {
  if (entries.length === 1 && !entries[0].is_dir) {
    const link = h("a", { href: fileUrl(entries[0].path), download: entries[0].name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    return;
  }
  const form = h(
    "form",
    { method: "post", action: "/api/zip", hidden: true },
    h("input", { type: "hidden", name: "paths", value: JSON.stringify(entries.map((entry) => entry.path)) }),
    h("input", { type: "hidden", name: "csrf_token", value: csrf() }),
  );
  document.body.append(form);
  form.submit();
  form.remove();
}

export async function share(entry) {
  let module;
  try {
    module = await import("../dialogs/share.js");
  } catch {
    toast("Sharing is not available on this server yet.", "error");
    return;
  }
  await module.openShareDialog(entry);
}
