// Previews in the page, in a modal dialog: images through the server's thumbnails, text
// and code as text (only the first 256 KB is fetched), PDF drawn by pdf.js on canvases,
// audio and video streamed with Range so that seeking works. User content never becomes
// markup here: text goes in as textContent, SVG is shown as its source.
import { fileUrl, query, request } from "../api.js";
import { h } from "../dom.js";
import { formatBytes, formatDate } from "../format.js";

const TEXT_BYTES = 256 * 1024;
const PDF_PAGES = 10;
const PDF_URL = new URL("../../vendor/pdfjs-dist-4.10.38/pdf.min.mjs", import.meta.url).pathname;
const PDF_WORKER_URL = new URL("../../vendor/pdfjs-dist-4.10.38/pdf.worker.min.mjs", import.meta.url).pathname;

const KINDS = {
  image: ["jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "avif", "ico"],
  video: ["mp4", "m4v", "webm", "ogv", "mov", "mkv"],
  audio: ["mp3", "wav", "ogg", "oga", "m4a", "flac", "aac", "opus"],
  pdf: ["pdf"],
  text: [
    "txt", "md", "markdown", "csv", "tsv", "log", "json", "jsonl", "xml", "svg", "html", "htm", "css",
    "js", "mjs", "ts", "tsx", "jsx", "py", "rb", "go", "rs", "c", "h", "cc", "cpp", "hpp", "java", "kt",
    "swift", "sh", "bash", "zsh", "toml", "yaml", "yml", "ini", "cfg", "conf", "sql", "php", "pl", "lua",
    "r", "tex", "diff", "patch", "env", "gitignore", "dockerfile", "makefile",
  ],
};

export function previewKind(entry) {
  if (entry.is_dir) return null;
  const name = entry.name.toLowerCase();
  const ext = name.includes(".") ? name.split(".").pop() : name;
  for (const [kind, extensions] of Object.entries(KINDS)) if (extensions.includes(ext)) return kind;
  return "other";
}

let pdfjs = null;
async function loadPdfjs() {
  if (!pdfjs) {
    pdfjs = await import(PDF_URL);
    pdfjs.GlobalWorkerOptions.workerSrc = PDF_WORKER_URL;
  }
  return pdfjs;
}

/** Open the preview of files[index]; arrows move through `files`. `download(entry)` saves one. */
export function openPreview(files, index, { download }) {
  let current = index;
  let cleanup = () => {};
  const title = h("h2", { class: "preview-title", id: "preview-title" });
  const counter = h("span", { class: "preview-counter" });
  const stage = h("div", { class: "preview-stage" });
  const info = h("p", { class: "preview-info" });
  const previous = h("button", { type: "button", "aria-label": "Previous file", onclick: () => go(-1) }, "‹");
  const next = h("button", { type: "button", "aria-label": "Next file", onclick: () => go(1) }, "›");
  const save = h("button", { type: "button", onclick: () => download(files[current]) }, "Download");
  const close = h("button", { type: "button", "aria-label": "Close preview", onclick: () => dialog.close() }, "✕");
  const dialog = h(
    "dialog",
    { class: "preview", "aria-labelledby": "preview-title" },
    h("div", { class: "preview-head" }, title, counter, previous, next, save, close),
    stage,
    info,
  );

  function go(step) {
    const target = current + step;
    if (target < 0 || target >= files.length) return;
    current = target;
    show();
  }

  function show() {
    cleanup();
    cleanup = () => {};
    const entry = files[current];
    title.textContent = entry.name;
    counter.textContent = `${current + 1} of ${files.length}`;
    previous.disabled = current === 0;
    next.disabled = current === files.length - 1;
    info.textContent = `${formatBytes(entry.size)} · ${formatDate(entry.mtime)}`;
    const kind = previewKind(entry);
    dialog.dataset.kind = kind;
    dialog.dataset.path = entry.path;
    stage.replaceChildren();
    const drawn = { image, video: media, audio: media, pdf, text, other }[kind](entry, kind);
    if (drawn?.cleanup) cleanup = drawn.cleanup;
  }

  function image(entry) {
    const img = h("img", { alt: entry.name, src: `/api/thumbnail${query({ path: entry.path, size: 1024 })}` });
    // No thumbnail (an old server, or a format Pillow cannot read): the file itself.
    img.addEventListener("error", () => {
      if (img.dataset.fallback) return;
      img.dataset.fallback = "1";
      img.src = fileUrl(entry.path, { inline: 1 });
    });
    stage.append(img);
  }

  function media(entry, kind) {
    const element = h(kind, { controls: true, preload: "metadata", src: fileUrl(entry.path, { inline: 1 }) });
    element.setAttribute("aria-label", entry.name);
    stage.append(element);
    return {
      cleanup: () => {
        element.pause();
        element.removeAttribute("src");
        element.load();
      },
    };
  }

  function text(entry) {
    const pre = h("pre", { class: "preview-text", tabindex: "0" }, "Loading…");
    const note = h("p", { class: "preview-note" });
    stage.append(note, pre);
    const controller = new AbortController();
    request(fileUrl(entry.path), { headers: { Range: `bytes=0-${TEXT_BYTES - 1}` }, signal: controller.signal })
      .then((response) => response.arrayBuffer())
      .then((buffer) => {
        pre.textContent = new TextDecoder("utf-8", { fatal: false }).decode(buffer);
        if (entry.size > TEXT_BYTES) note.textContent = `First 256 KB shown (of ${formatBytes(entry.size)}).`;
      })
      .catch((error) => {
        if (error.name !== "AbortError") pre.textContent = `No preview: ${error.message}`;
      });
    return { cleanup: () => controller.abort() };
  }

  function pdf(entry) {
    const pages = h("div", { class: "preview-pdf" }, "Loading…");
    stage.append(pages);
    let task = null;
    let stopped = false;
    loadPdfjs()
      .then((lib) => {
        if (stopped) return null;
        task = lib.getDocument({ url: fileUrl(entry.path, { inline: 1 }), isEvalSupported: false, withCredentials: true });
        return task.promise;
      })
      .then(async (doc) => {
        if (!doc || stopped) return;
        pages.replaceChildren();
        const count = Math.min(doc.numPages, PDF_PAGES);
        for (let number = 1; number <= count && !stopped; number += 1) {
          const page = await doc.getPage(number);
          const viewport = page.getViewport({ scale: 1.5 });
          const canvas = h("canvas", { width: viewport.width, height: viewport.height, "aria-label": `Page ${number}` });
          pages.append(canvas);
          await page.render({ canvasContext: canvas.getContext("2d"), viewport }).promise;
        }
        if (doc.numPages > count) pages.append(h("p", { class: "preview-note" }, `First ${count} of ${doc.numPages} pages shown.`));
      })
      .catch((error) => {
        if (!stopped) pages.textContent = `No preview: ${error.message}`;
      });
    return {
      cleanup: () => {
        stopped = true;
        task?.destroy();
      },
    };
  }

  function other(entry) {
    stage.append(h("p", { class: "preview-none" }, `No preview for “${entry.name}”.`));
  }

  dialog.addEventListener("keydown", (event) => {
    if (event.target.closest?.("video, audio, input")) return; // their own arrows seek
    if (event.key === "ArrowLeft") go(-1);
    else if (event.key === "ArrowRight") go(1);
    else return;
    event.preventDefault();
  });
  dialog.addEventListener("close", () => {
    cleanup();
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
  show();
  close.focus();
  return dialog;
}
