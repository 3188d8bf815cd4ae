// How numbers and dates read on the pages.

const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "—";
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(seconds) {
  if (!seconds) return "—";
  return dateFormat.format(new Date(seconds * 1000));
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "—";
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

// ----- admin (users page): quotas typed as people write them -----

const BYTE_UNITS = {
  b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, p: 1e15, pb: 1e15,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, pib: 2 ** 50,
};

/**
 * "10 GB" -> 10e9, "1.5GiB" -> 1610612736, "512" -> 512 bytes; "", "0", "none",
 * "unlimited", "no limit" -> 0 (no limit). Throws a readable Error for anything else.
 */
export function parseBytes(text) {
  const value = String(text ?? "").trim().toLowerCase().replace(/,/g, "");
  if (["", "0", "none", "unlimited", "no limit", "∞"].includes(value)) return 0;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(value);
  const unit = match ? (match[2] === "" ? 1 : BYTE_UNITS[match[2]]) : undefined;
  if (!match || unit === undefined) {
    throw new Error(`"${text}" is not a size: write it like 500 MB, 10 GB or 1.5 TiB`);
  }
  return Math.floor(Number(match[1]) * unit);
}
