// Modal dialogs on <dialog>: focus is trapped and Escape closes, as the browser does it.
import { h } from "./dom.js";

/**
 * Open a modal with a title, a body (nodes) and buttons; resolves with the value of the
 * button pressed (null on Escape or Cancel). A button: {label, value, primary, danger}.
 * A form inside the body submits as the primary button. `cancel`: the label of the
 * button that closes with null (null: no such button, Escape still closes).
 */
export function openDialog({ title, body = [], buttons = [], onOpen, cancel = "Cancel" } = {}) {
  return new Promise((resolve) => {
    const titleId = `dialog-title-${Math.random().toString(36).slice(2)}`;
    const actions = h("div", { class: "dialog-actions" });
    const form = h(
      "form",
      { method: "dialog", class: "dialog-form" },
      h("h2", { id: titleId, class: "dialog-title" }, title),
      h("div", { class: "dialog-body" }, body),
      actions,
    );
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId }, form);
    let result = null;
    const all = cancel ? [{ label: cancel, value: null }, ...buttons] : buttons;
    for (const button of all) {
      const el = h(
        "button",
        {
          type: button.primary ? "submit" : "button",
          class: button.primary ? "primary" : button.danger ? "danger" : "",
        },
        button.label,
      );
      el.addEventListener("click", (event) => {
        if (!button.primary) {
          event.preventDefault();
          result = button.value ?? null;
          dialog.close();
        }
      });
      actions.append(el);
      if (button.primary) {
        form.addEventListener("submit", () => {
          result = typeof button.value === "function" ? button.value() : button.value;
        });
      }
    }
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    onOpen?.(dialog);
  });
}

/** Ask for a line of text; resolves with it (trimmed) or null. */
export async function promptDialog({ title, label, value = "", action = "OK" }) {
  const input = h("input", { type: "text", value, required: true, autocomplete: "off" });
  const id = `prompt-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  const answer = await openDialog({
    title,
    body: [h("label", { for: id }, label), input],
    buttons: [{ label: action, primary: true, value: () => input.value.trim() }],
    onOpen: () => {
      input.focus();
      const dot = value.lastIndexOf(".");
      input.setSelectionRange(0, dot > 0 ? dot : value.length);
    },
  });
  return answer || null;
}

/** Ask yes or no; resolves true for the action. */
export async function confirmDialog({ title, message, action = "OK", danger = false }) {
  const answer = await openDialog({
    title,
    body: [h("p", {}, message)],
    buttons: [{ label: action, primary: true, danger, value: true }],
  });
  return answer === true;
}
