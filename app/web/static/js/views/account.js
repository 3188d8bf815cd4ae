// The account page: storage used against the quota, the password, and the logins that
// are open now (each can be ended, except this browser's: log out for that).
import { api, ApiError } from "../api.js";
import { clear, h, loadStylesheet } from "../dom.js";
import { formatBytes, formatDate } from "../format.js";
import { showError, toast } from "../toast.js";

function section(title, id, ...children) {
  return h("section", { class: "account-section", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

/** A user agent string, shortened to what a person recognises ("Chrome on Linux"). */
function describeAgent(label, kind) {
  if (!label) return kind === "web" ? "A browser" : "An API token";
  const browser = /Firefox\//.test(label)
    ? "Firefox"
    : /Edg\//.test(label)
      ? "Edge"
      : /Chrom(e|ium)\//.test(label)
        ? "Chrome"
        : /Safari\//.test(label)
          ? "Safari"
          : null;
  const system = /Windows/.test(label)
    ? "Windows"
    : /Android/.test(label)
      ? "Android"
      : /iPhone|iPad/.test(label)
        ? "iOS"
        : /Mac OS X/.test(label)
          ? "macOS"
          : /Linux/.test(label)
            ? "Linux"
            : null;
  if (browser) return system ? `${browser} on ${system}` : browser;
  return label.length > 60 ? `${label.slice(0, 57)}…` : label;
}

function storage(account) {
  const used = account.used_bytes;
  const quota = account.quota_bytes;
  if (!quota) {
    return [h("p", { class: "quota-text" }, `${formatBytes(used)} used · no limit`)];
  }
  const share = Math.min(used / quota, 1);
  const meter = h("meter", {
    id: "quota-meter",
    min: 0,
    max: quota,
    low: quota * 0.8,
    high: quota * 0.95,
    optimum: 0,
    value: Math.min(used, quota),
    "aria-label": "Storage used",
  });
  return [
    meter,
    h("p", { class: "quota-text" }, `${formatBytes(used)} of ${formatBytes(quota)} used (${Math.round(share * 100)} %) · ${formatBytes(Math.max(quota - used, 0))} free`),
  ];
}

function passwordForm(onChanged) {
  const fields = {};
  const rows = [
    ["old", "Current password", "current-password"],
    ["new", "New password", "new-password"],
    ["confirm", "Confirm new password", "new-password"],
  ].map(([key, label, autocomplete]) => {
    const id = `password-${key}`;
    fields[key] = h("input", { id, name: key, type: "password", required: true, autocomplete, maxlength: 1024 });
    return [h("label", { for: id }, label), fields[key]];
  });
  const alert = h("p", { class: "alert", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Change password");
  const form = h("form", { class: "stack password-form", novalidate: false }, alert, rows, submit);
  fields.confirm.addEventListener("input", () => {
    fields.confirm.setCustomValidity(fields.confirm.value === fields.new.value ? "" : "The two new passwords differ.");
  });
  fields.new.addEventListener("input", () => fields.confirm.dispatchEvent(new Event("input")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.hidden = true;
    if (fields.confirm.value !== fields.new.value) {
      alert.textContent = "The two new passwords differ.";
      alert.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      await api("/api/account/password", { method: "POST", json: { old: fields.old.value, new: fields.new.value } });
      form.reset();
      toast("Password changed. Every other login was ended.", "ok");
      await onChanged();
    } catch (error) {
      alert.textContent = error instanceof ApiError && error.code === "wrong_password" ? "The current password is not right." : error.message;
      alert.hidden = false;
      (error.code === "wrong_password" ? fields.old : fields.new).focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function render(root) {
  loadStylesheet("account.css");
  const storageBody = h("div", { class: "quota" });
  const sessionsBody = h("tbody");
  const sessionsStatus = h("p", { class: "list-status", role: "status" });
  const sessionsTable = h(
    "table",
    { class: "entries records sessions-list" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Login"),
        h("th", { scope: "col", class: "date" }, "Since"),
        h("th", { scope: "col", class: "date" }, "Expires"),
        h("th", { scope: "col", class: "actions" }, h("span", { class: "visually-hidden" }, "Actions")),
      ),
    ),
    sessionsBody,
  );

  async function revoke(session, name) {
    try {
      await api(`/api/account/sessions/${encodeURIComponent(session.id)}`, { method: "DELETE" });
      toast(`Ended ${name}`, "ok");
    } catch (error) {
      showError(error);
    }
    await loadSessions();
  }

  function sessionRow(session) {
    const name = describeAgent(session.label, session.kind);
    const kind = session.kind === "web" ? "Browser" : "API token";
    return h(
      "tr",
      { dataset: { id: session.id, kind: session.kind }, class: session.current ? "current" : "" },
      h(
        "td",
        { class: "name" },
        h("span", { class: "entry-name" }, name),
        h("span", { class: "entry-origin" }, kind),
      ),
      h("td", { class: "date" }, formatDate(session.created_at)),
      h("td", { class: "date expires" }, session.expires_at ? formatDate(session.expires_at) : "Until revoked"),
      h(
        "td",
        { class: "actions" },
        session.current
          ? h("span", { class: "badge" }, "This browser")
          : h("button", { type: "button", class: "danger", "aria-label": `Revoke ${name} (${kind}, since ${formatDate(session.created_at)})`, onclick: () => revoke(session, name) }, "Revoke"),
      ),
    );
  }

  async function loadSessions() {
    try {
      const { sessions } = await api("/api/account/sessions");
      clear(sessionsBody).append(...sessions.map(sessionRow));
      sessionsStatus.textContent = `${sessions.length} active login${sessions.length === 1 ? "" : "s"}`;
    } catch (error) {
      showError(error);
    }
  }

  async function loadAccount() {
    try {
      clear(storageBody).append(...storage(await api("/api/account")));
    } catch (error) {
      showError(error);
    }
  }

  clear(root).append(
    h("h1", { class: "page-title" }, "Account"),
    h("p", { class: "page-intro" }, `Signed in as ${document.body.dataset.user ?? ""}.`),
    h(
      "div",
      { class: "account-grid" },
      section("Storage", "storage-title", storageBody, h("p", { class: "dialog-note" }, "Counts your files, their old versions, the trash and shared links; each content once.")),
      section("Change password", "password-title", passwordForm(loadSessions)),
    ),
    section(
      "Active logins",
      "sessions-title",
      h("p", { class: "dialog-note" }, "Browsers and API tokens signed in to your account. Revoke any you do not recognise."),
      sessionsStatus,
      h("div", { class: "table-scroll" }, sessionsTable),
    ),
  );
  await Promise.all([loadAccount(), loadSessions()]);
}
