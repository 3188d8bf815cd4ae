// The share dialog: make a link to a file (optional expiry and password), then show it
// with "Copy link". The file browser's "Share" button and the shares page open it.
import { api } from "../api.js";
import { openDialog } from "../dialog.js";
import { h } from "../dom.js";
import { formatDate } from "../format.js";
import { showError, toast } from "../toast.js";

const HOUR = 3600;
const EXPIRIES = [
  ["never", "Never"],
  [String(HOUR), "In 1 hour"],
  [String(24 * HOUR), "In 1 day"],
  [String(7 * 24 * HOUR), "In 7 days"],
  [String(30 * 24 * HOUR), "In 30 days"],
  ["date", "On a date…"],
];

let counter = 0;
function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

function isoDate(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** Seconds from now to the end of the chosen day (local time); null for none. */
function secondsUntilEndOf(dateText) {
  const [year, month, day] = dateText.split("-").map(Number);
  if (!year || !month || !day) return null;
  const end = new Date(year, month - 1, day, 23, 59, 59);
  const seconds = Math.floor((end.getTime() - Date.now()) / 1000);
  return seconds > 0 ? seconds : null;
}

async function askOptions(entry) {
  const expiryId = uid("share-expiry");
  const dateId = uid("share-date");
  const passwordId = uid("share-password");
  const expiry = h("select", { id: expiryId }, EXPIRIES.map(([value, label]) => h("option", { value }, label)));
  const date = h("input", { id: dateId, type: "date", min: isoDate(new Date()) });
  const dateRow = h("div", { class: "share-date", hidden: true }, h("label", { for: dateId }, "Expiry date"), date);
  const password = h("input", { id: passwordId, type: "password", autocomplete: "new-password", maxlength: 1024 });
  expiry.addEventListener("change", () => {
    const onDate = expiry.value === "date";
    dateRow.hidden = !onDate;
    date.required = onDate;
    if (onDate) date.focus();
  });
  date.addEventListener("input", () => {
    date.setCustomValidity(date.value && secondsUntilEndOf(date.value) === null ? "Choose a day from today on." : "");
  });
  return openDialog({
    title: `Share ${entry.name}`,
    body: [
      h("p", { class: "dialog-note" }, "Anyone with the link can open and download this file, without an account."),
      h("label", { for: expiryId }, "Link expires"),
      expiry,
      dateRow,
      h("label", { for: passwordId }, "Password (optional)"),
      password,
    ],
    buttons: [
      {
        label: "Create link",
        primary: true,
        value: () => ({
          expires_in:
            expiry.value === "never"
              ? undefined
              : expiry.value === "date"
                ? secondsUntilEndOf(date.value)
                : Number(expiry.value),
          password: password.value || undefined,
        }),
      },
    ],
    onOpen: () => expiry.focus(),
  });
}

/** Put the link on the clipboard; where the browser refuses, select it for Ctrl+C. */
export async function copyLink(input, status) {
  try {
    await navigator.clipboard.writeText(input.value);
    status.textContent = "Link copied.";
    toast("Link copied", "ok");
  } catch {
    input.focus();
    input.select();
    status.textContent = "Press Ctrl+C (⌘C) to copy the selected link.";
  }
}

function showLink(entry, made) {
  const linkId = uid("share-link");
  const input = h("input", { id: linkId, type: "text", readonly: true, value: made.url, class: "share-url", spellcheck: "false" });
  const status = h("p", { class: "dialog-note", role: "status" });
  const copy = h("button", { type: "button", class: "primary", onclick: () => copyLink(input, status) }, "Copy link");
  const terms = [
    made.expires_at ? `Expires ${formatDate(made.expires_at)}.` : "Does not expire.",
    made.password ? "Needs the password you chose." : "No password.",
  ].join(" ");
  return openDialog({
    title: `Link to ${entry.name}`,
    body: [
      h("label", { for: linkId }, "Link"),
      h("div", { class: "share-link-row" }, input, copy),
      status,
      h("p", { class: "dialog-note" }, terms, " This is the only time the link is shown: copy it now. You can revoke it on the Shared links page."),
    ],
    buttons: [{ label: "Done", primary: true, value: true }],
    cancel: null,
    onOpen: () => {
      input.select();
      copy.focus();
    },
  });
}

/**
 * Ask for the link's options, make it, and show it; resolves with the new share
 * ({token, url, id, path, expires_at, password, ...}) or null when cancelled or refused.
 */
export async function openShareDialog(entry) {
  const options = await askOptions(entry);
  if (!options) return null;
  let made;
  try {
    made = await api("/api/shares", { method: "POST", json: { path: entry.path, ...options } });
  } catch (error) {
    showError(error);
    return null;
  }
  await showLink(entry, made);
  return made;
}
