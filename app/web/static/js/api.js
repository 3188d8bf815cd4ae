// The one way the pages talk to the server: /api/ with the session cookie, the CSRF
// token on every request that changes something, and errors as ApiError.

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function csrfHeaders(headers = {}) {
  return { ...headers, "X-CSRF-Token": csrfToken };
}

export function csrf() {
  return csrfToken;
}

async function errorOf(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
    }
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401) {
    // The session ended (expired, revoked, logged out elsewhere): log in again.
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  return new ApiError(response.status, code, message);
}

/** fetch(), with the CSRF header, same-origin credentials and ApiError on failure. */
export async function request(path, { method = "GET", json, body, headers = {}, signal } = {}) {
  const init = { method, headers: csrfHeaders(headers), credentials: "same-origin", signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** request(), answering the parsed JSON body. */
export async function api(path, options = {}) {
  const response = await request(path, options);
  return response.json();
}

/** A query string from an object, skipping empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, item);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** The URL of a user's file (for downloads, previews and media). */
export function fileUrl(path, params = {}) {
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return `/api/files${encoded}${query(params)}`;
}
