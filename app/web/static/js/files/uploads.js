// The upload queue: files go up through tus (/api/tus/, tus-js-client) a few at a time,
// in chunks the server names, each chunk retried before the upload gives up, and resumed
// after a lost connection or a page reload (tus-js-client keeps each upload's URL in
// localStorage under a fingerprint of the user, the target path and the file).
// A large file goes up as one upload, chunk after chunk: the server answers a chunk
// once it is received and hashed, and makes it durable while the next one is sent, so
// one stream keeps the nodes busy. Partial uploads side by side (tus concatenation) were
// slower: the server must read every partial but the first back to hash the file.
// The panel draws a row once per file and then updates only that row, at most once a
// frame, so that hundreds of queued files do not freeze the page.
import { csrf, fileUrl } from "../api.js";
import { h } from "../dom.js";
import { formatBytes, formatDuration } from "../format.js";

const TUS_URL = new URL("../../vendor/tus-js-client-4.3.1/tus.min.js", import.meta.url).pathname;
const ENDPOINT = "/api/tus/";
const DEFAULT_CHUNK = 4 * 1024 * 1024;
const IN_FLIGHT = 3;
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000];
const ROWS_PER_FRAME = 100;
const SPEED_WINDOW_MS = 3000;

const REASONS = {
  quota_exceeded: "Not enough room in your storage",
  invalid_path: "The name is not allowed",
  invalid_name: "The name is not allowed",
  is_a_directory: "A folder has that name",
  not_a_directory: "A file is in the way of its folder",
  path_exists: "Something already has that name",
  too_large: "The file is too large",
  upload_length_exceeded: "The file is too large",
  request_too_large: "The file is too large",
};

let tusModule = null;
async function loadTus() {
  if (!tusModule) {
    await import(TUS_URL); // a UMD bundle: it defines window.tus
    tusModule = window.tus;
  }
  return tusModule;
}

let serverSizes = null;
/** The chunk size the server takes, from its OPTIONS answer. */
async function uploadSizes() {
  if (serverSizes) return serverSizes;
  try {
    const answer = await fetch(ENDPOINT, { method: "OPTIONS", credentials: "same-origin" });
    serverSizes = { chunk: Number(answer.headers.get("Mdbx-Chunk-Size")) || DEFAULT_CHUNK };
  } catch {
    serverSizes = { chunk: DEFAULT_CHUNK };
  }
  return serverSizes;
}

function joinPath(folder, relative) {
  const clean = relative.split("/").filter(Boolean).join("/");
  return folder === "/" ? `/${clean}` : `${folder}/${clean}`;
}

/** Why an upload failed, in words, from the server's JSON error when there is one. */
function failureReason(error) {
  const response = error?.originalResponse;
  if (!response) return navigator.onLine === false ? "You are offline" : "The connection was lost";
  let code = "";
  let message = "";
  try {
    const body = JSON.parse(response.getBody() || "{}");
    code = body.error?.code ?? "";
    message = body.error?.message ?? "";
  } catch {
    // not JSON: the status says enough
  }
  const status = response.getStatus();
  const reason = REASONS[code] ?? (status === 401 ? "You were logged out" : `Server answered ${status}`);
  return message ? `${reason}: ${message}` : reason;
}

function shouldRetry(error) {
  const status = error?.originalResponse?.getStatus?.() ?? 0;
  if (!status) return true; // the connection dropped: try again
  return status === 409 || status === 423 || (status >= 500 && status !== 507);
}

export class UploadQueue {
  /** `user` names the fingerprints; `onDone(path)` is called as each file lands. */
  constructor({ user, onDone }) {
    this.user = user;
    this.onDone = onDone;
    this.items = [];
    this.nextId = 1;
    this.pendingRows = [];
    this.dirty = new Set();
    this.frame = 0;
    this.build();
  }

  build() {
    this.summary = h("span", { class: "uploads-summary" });
    this.toggle = h(
      "button",
      { type: "button", class: "uploads-toggle", "aria-expanded": "true", onclick: () => this.setOpen(this.list.hidden) },
      "Hide",
    );
    this.clearButton = h("button", { type: "button", onclick: () => this.clearFinished() }, "Clear finished");
    this.list = h("ol", { class: "uploads-list", "aria-label": "Upload queue" });
    this.panel = h(
      "section",
      { class: "uploads", "aria-label": "Uploads", hidden: true },
      h("div", { class: "uploads-head" }, h("h2", {}, "Uploads"), this.summary, this.clearButton, this.toggle),
      this.list,
    );
    document.body.append(this.panel);
  }

  setOpen(open) {
    this.list.hidden = !open;
    this.toggle.textContent = open ? "Hide" : "Show";
    this.toggle.setAttribute("aria-expanded", String(open));
  }

  /** Queue files ({file, relativePath}) for the folder `folder`. */
  add(files, folder) {
    for (const { file, relativePath } of files) {
      const item = {
        id: this.nextId++,
        file,
        path: joinPath(folder, relativePath),
        state: "queued",
        sent: 0,
        samples: [],
        error: "",
        resumedFrom: 0,
        row: null,
        upload: null,
      };
      this.items.push(item);
      this.pendingRows.push(item);
    }
    this.panel.hidden = false;
    this.setOpen(true);
    this.schedule();
    this.pump();
  }

  pump() {
    let running = this.items.filter((item) => item.state === "uploading").length;
    for (const item of this.items) {
      if (running >= IN_FLIGHT) break;
      if (item.state !== "queued") continue;
      running += 1;
      this.start(item);
    }
    this.schedule();
  }

  async start(item) {
    item.state = "uploading";
    item.error = "";
    item.samples = [{ at: performance.now(), sent: item.sent }];
    item.firstProgress = undefined;
    this.touch(item);
    try {
      const tus = await loadTus();
      const sizes = await uploadSizes();
      const upload = new tus.Upload(item.file, {
        endpoint: ENDPOINT,
        chunkSize: sizes.chunk,
        retryDelays: RETRY_DELAYS,
        metadata: { path: item.path, filename: item.file.name, filetype: item.file.type || "" },
        headers: { "X-CSRF-Token": csrf() },
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        fingerprint: async () =>
          ["mdbx", this.user, item.path, item.file.size, item.file.lastModified].join("|"),
        onShouldRetry: (error) => shouldRetry(error),
        uploadDataDuringCreation: true, // a small file is one request
        onProgress: (sent) => {
          if (item.firstProgress === undefined) item.firstProgress = sent;
          item.sent = sent;
          this.touch(item);
        },
        onSuccess: () => this.finish(item, "done"),
        onError: (error) => {
          item.error = failureReason(error);
          this.finish(item, "failed");
        },
      });
      item.upload = upload;
      const previous = await upload.findPreviousUploads();
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        item.resumed = true;
      }
      if (item.state !== "uploading") return; // cancelled meanwhile
      upload.start();
    } catch (error) {
      item.error = error?.message ?? String(error);
      this.finish(item, "failed");
    }
  }

  finish(item, state) {
    if (item.state === "cancelled") return;
    item.state = state;
    if (state === "done") {
      item.sent = item.file.size;
      this.onDone?.(item.path);
    }
    this.touch(item);
    this.pump();
  }

  cancel(item) {
    const wasRunning = item.state === "uploading";
    item.state = "cancelled";
    // abort(true) also ends the upload on the server (tus termination) and forgets it.
    if (item.upload) item.upload.abort(true).catch(() => {});
    this.touch(item);
    if (wasRunning) this.pump();
  }

  retry(item) {
    item.state = "queued";
    item.upload = null;
    this.touch(item);
    this.pump();
  }

  clearFinished() {
    this.items = this.items.filter((item) => {
      const finished = item.state === "done" || item.state === "cancelled";
      if (finished) item.row?.remove();
      return !finished;
    });
    this.pendingRows = this.pendingRows.filter((item) => this.items.includes(item));
    if (!this.items.length) this.panel.hidden = true;
    this.schedule();
  }

  // ----- drawing, once a frame -----

  touch(item) {
    this.dirty.add(item);
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    const now = performance.now();
    const rows = this.pendingRows.splice(0, ROWS_PER_FRAME);
    if (rows.length) {
      const fragment = document.createDocumentFragment();
      for (const item of rows) {
        item.row = this.row(item);
        fragment.append(item.row.element);
        this.dirty.add(item);
      }
      this.list.append(fragment);
    }
    for (const item of this.dirty) if (item.row) this.update(item, now);
    this.dirty.clear();
    this.drawSummary();
    if (this.pendingRows.length) this.schedule();
  }

  row(item) {
    const progress = h("progress", { max: String(Math.max(item.file.size, 1)), value: "0", "aria-label": `Upload of ${item.path}` });
    const state = h("span", { class: "upload-state" });
    const detail = h("span", { class: "upload-detail" });
    const cancel = h("button", { type: "button", class: "upload-cancel", onclick: () => this.cancel(item) }, "Cancel");
    const retry = h("button", { type: "button", class: "upload-retry", hidden: true, onclick: () => this.retry(item) }, "Retry");
    const element = h(
      "li",
      { class: "upload", dataset: { path: item.path } },
      h("div", { class: "upload-line" }, h("span", { class: "upload-name", title: item.path }, item.path), state),
      progress,
      h("div", { class: "upload-line" }, detail, retry, cancel),
    );
    return { element, progress, state, detail, cancel, retry };
  }

  update(item, now) {
    const { element, progress, state, detail, cancel, retry } = item.row;
    element.dataset.state = item.state;
    if (item.firstProgress !== undefined) element.dataset.firstProgress = String(item.firstProgress);
    const total = item.file.size;
    progress.value = item.state === "done" ? Math.max(total, 1) : item.sent;
    const samples = item.samples;
    samples.push({ at: now, sent: item.sent });
    while (samples.length > 2 && now - samples[0].at > SPEED_WINDOW_MS) samples.shift();
    const elapsed = (now - samples[0].at) / 1000;
    const speed = elapsed > 0.2 ? (item.sent - samples[0].sent) / elapsed : 0;
    const labels = { queued: "Waiting", uploading: "Uploading", done: "Done", failed: "Failed", cancelled: "Cancelled" };
    state.textContent = labels[item.state];
    if (item.state === "uploading") {
      const left = speed > 0 ? formatDuration((total - item.sent) / speed) : "—";
      const rate = speed > 0 ? `${formatBytes(speed)}/s` : "…";
      detail.textContent = `${formatBytes(item.sent)} of ${formatBytes(total)} · ${rate} · ${left} left${item.resumed ? " · resumed" : ""}`;
    } else if (item.state === "failed") {
      detail.textContent = item.error;
    } else if (item.state === "done") {
      detail.replaceChildren(
        `${formatBytes(total)}${item.resumed ? " · resumed" : ""} · `,
        h("a", { href: fileUrl(item.path), download: item.file.name }, "Download"),
      );
    } else {
      detail.textContent = item.state === "queued" ? formatBytes(total) : "";
    }
    retry.hidden = item.state !== "failed";
    cancel.hidden = !(item.state === "queued" || item.state === "uploading" || item.state === "failed");
  }

  drawSummary() {
    let done = 0;
    let failed = 0;
    let active = 0;
    for (const item of this.items) {
      if (item.state === "done") done += 1;
      else if (item.state === "failed") failed += 1;
      else if (item.state === "queued" || item.state === "uploading") active += 1;
    }
    const parts = [`${done} of ${this.items.length} done`];
    if (active) parts.push(`${active} to go`);
    if (failed) parts.push(`${failed} failed`);
    this.summary.textContent = parts.join(" · ");
  }
}
