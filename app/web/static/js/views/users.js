// User management (admins): every account with its use and quota; add one, disable or
// enable it, set its quota ("10 GB"). The server checks every value again.
import { api } from "../api.js";
import { promptDialog } from "../dialog.js";
import { clear, h, loadStylesheet } from "../dom.js";
import { formatBytes, parseBytes } from "../format.js";
import { showError, toast } from "../toast.js";

let uid = 0;
function field(label, input, hint) {
  const id = `users-field-${(uid += 1)}`;
  input.id = id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    hint ? h("small", { id: hintId, class: "muted" }, hint) : null,
  );
}

function quotaText(user) {
  return user.quota_bytes ? formatBytes(user.quota_bytes) : "No limit";
}

function usageBar(user) {
  if (!user.quota_bytes) return null;
  const share = Math.min(user.used_bytes / user.quota_bytes, 1);
  const bar = h(
    "div",
    { class: `usage-bar${share >= 0.9 ? " full" : ""}`, role: "img", "aria-label": `${Math.round(share * 100)}% of the quota used` },
    h("span"),
  );
  bar.firstChild.style.width = `${share * 100}%`;
  return bar;
}

export async function render(root) {
  loadStylesheet("users.css");
  const me = document.body.dataset.user;
  const body = h("tbody");
  const username = h("input", { type: "text", required: true, autocomplete: "off", pattern: "[A-Za-z0-9._\\-]{1,64}" });
  const password = h("input", { type: "password", required: true, autocomplete: "new-password" });
  const quota = h("input", { type: "text", autocomplete: "off", placeholder: "No limit", inputmode: "text" });
  const admin = h("input", { type: "checkbox" });
  const formError = h("p", { class: "alert", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "add-user", "aria-labelledby": "add-user-title" },
    h("h2", { id: "add-user-title" }, "Add a user"),
    h(
      "div",
      { class: "add-user-fields" },
      field("Username", username, "letters, digits, . _ -"),
      field("Password", password),
      field("Quota", quota, "e.g. 10 GB, 500 MB; empty: no limit"),
      h("div", { class: "field checkbox" }, h("label", {}, admin, " Administrator")),
      h("div", { class: "field submit" }, h("button", { type: "submit", class: "primary" }, "Add user")),
    ),
    formError,
  );

  clear(root).append(
    h("h1", { class: "page-title" }, "Users"),
    form,
    h(
      "section",
      { "aria-labelledby": "users-title" },
      h("h2", { id: "users-title" }, "Accounts"),
      h(
        "div",
        { class: "table-scroll" },
        h(
          "table",
          { class: "users" },
          h(
            "thead",
            {},
            h("tr", {}, ["Name", "Role", "Status", "Used", "Quota", "Actions"].map((label) => h("th", { scope: "col" }, label))),
          ),
          body,
        ),
      ),
    ),
  );

  async function change(user, changes, done) {
    try {
      await api(`/api/admin/users/${encodeURIComponent(user.name)}`, { method: "PATCH", json: changes });
      toast(done, "ok");
      await load();
    } catch (error) {
      showError(error);
    }
  }

  async function askQuota(user) {
    let value = user.quota_bytes ? formatBytes(user.quota_bytes) : "";
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const answer = await promptDialog({
        title: `Quota of ${user.name}`,
        label: "Quota (e.g. 10 GB; 0 for no limit)",
        value,
        action: "Set quota",
      });
      if (answer === null) return;
      try {
        const bytes = parseBytes(answer);
        await change(user, { quota_bytes: bytes }, `${user.name}: quota ${bytes ? formatBytes(bytes) : "removed"}`);
        return;
      } catch (error) {
        showError(error);
        value = answer;
      }
    }
  }

  function row(user) {
    const toggle = h(
      "button",
      { type: "button", "aria-label": `${user.disabled ? "Enable" : "Disable"} ${user.name}`, disabled: user.name === me },
      user.disabled ? "Enable" : "Disable",
    );
    if (user.name === me) toggle.title = "You cannot disable your own account";
    toggle.addEventListener("click", () =>
      change(user, { disabled: !user.disabled }, `${user.name} ${user.disabled ? "enabled" : "disabled"}`),
    );
    const setQuota = h("button", { type: "button", "aria-label": `Set quota of ${user.name}` }, "Set quota");
    setQuota.addEventListener("click", () => askQuota(user));
    return h(
      "tr",
      { dataset: { user: user.name }, class: user.disabled ? "is-disabled" : "" },
      h("th", { scope: "row", class: "user-name" }, user.name),
      h("td", { class: "user-role" }, user.admin ? "Administrator" : "User"),
      h("td", { class: "user-status" }, h("span", { class: `badge ${user.disabled ? "state-down" : "state-up"}` }, user.disabled ? "disabled" : "active")),
      h("td", { class: "num user-used" }, formatBytes(user.used_bytes)),
      h("td", { class: "num user-quota" }, quotaText(user), usageBar(user)),
      h("td", { class: "user-actions" }, toggle, setQuota),
    );
  }

  async function load() {
    const { users } = await api("/api/admin/users");
    body.replaceChildren(...users.map(row));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.hidden = true;
    let quotaBytes;
    try {
      quotaBytes = parseBytes(quota.value);
    } catch (error) {
      formError.textContent = error.message;
      formError.hidden = false;
      quota.focus();
      return;
    }
    try {
      const added = await api("/api/admin/users", {
        method: "POST",
        json: { username: username.value.trim(), password: password.value, admin: admin.checked, quota_bytes: quotaBytes },
      });
      toast(`Added ${added.name}`, "ok");
      form.reset();
      await load();
      username.focus();
    } catch (error) {
      formError.textContent = error.message;
      formError.hidden = false;
    }
  });

  await load();
}
