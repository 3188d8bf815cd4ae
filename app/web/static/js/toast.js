// Short messages in the live region (read out by screen readers).
import { h } from "./dom.js";

export function toast(message, kind = "info", timeout = 5000) {
  const region = document.getElementById("toasts");
  if (!region) return;
  const item = h("div", { class: `toast toast-${kind}` }, message);
  region.append(item);
  setTimeout(() => item.remove(), timeout);
}

export function showError(error) {
  toast(error?.message ?? String(error), "error", 8000);
}
