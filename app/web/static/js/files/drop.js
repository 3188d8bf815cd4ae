// What a drop (or a folder input) hands over, as files with their path relative to the
// folder they were dropped into: folders are walked with webkitGetAsEntry(), so that a
// whole tree keeps its shape. Empty folders are reported too (they are made, not sent).

const MAX_ENTRIES = 100_000; // a bound on the walk, whatever the drop holds

/** {files: [{file, relativePath}], folders: [relativePath]} from a drop's DataTransfer. */
export async function droppedItems(dataTransfer) {
  const roots = [];
  for (const item of dataTransfer.items ?? []) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) roots.push(entry);
  }
  if (!roots.length) return fromFileList(dataTransfer.files ?? []);
  const found = { files: [], folders: [] };
  let budget = MAX_ENTRIES;
  const walk = async (entry) => {
    budget -= 1;
    if (budget < 0) return;
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      found.files.push({ file, relativePath: entry.fullPath.replace(/^\/+/, "") });
      return;
    }
    if (!entry.isDirectory) return;
    const children = await readAll(entry.createReader());
    if (!children.length) found.folders.push(entry.fullPath.replace(/^\/+/, ""));
    for (const child of children) await walk(child);
  };
  for (const root of roots) await walk(root);
  return found;
}

/** A FileList (a file input, or a drop without entries): webkitRelativePath keeps folders. */
export function fromFileList(fileList) {
  const files = [...fileList].map((file) => ({ file, relativePath: file.webkitRelativePath || file.name }));
  return { files, folders: [] };
}

async function readAll(reader) {
  // readEntries answers in batches (100 in Chromium) until it answers none.
  const all = [];
  for (let round = 0; round < MAX_ENTRIES / 10; round += 1) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    all.push(...batch);
  }
  return all;
}
