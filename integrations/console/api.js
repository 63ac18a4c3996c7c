// integrations/console/api.js -- how the console's pages talk to `inquest serve`: the /v1 API
// (docs/api.md) with the session cookie, and the CSRF token of GET /console/session in the
// X-Inquest-CSRF header of every request that changes something. Errors become ApiError with the
// API's code, message and field problems. Paths are the API's ("/v1/…"): requests go under the
// base path (base.js).
import { withBase } from "./base.js";

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "http_" + status;
    this.fields = e.fields || [];
  }
}

let session = null;

// Who the console acts as: { auth, token, csrf, scopes: { analyzers, teams, approve } }. A
// missing session sends the browser to the login form, back here afterwards.
export async function loadSession() {
  const res = await fetch(withBase("/console/session"), { credentials: "same-origin", cache: "no-store" });
  if (res.status === 401) {
    toLogin();
    return new Promise(() => {}); // the page is going away
  }
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  session = await res.json();
  return session;
}

export function currentSession() {
  return session;
}

function toLogin() {
  const next = location.pathname + location.search;
  location.assign(withBase("/console/login?next=") + encodeURIComponent(next));
}

// One API call: 'method' and 'path' ("/v1/analyses?limit=50"), an optional JSON 'body'. Returns
// the decoded JSON (or the text, for NDJSON), throws ApiError. 'signal' aborts it.
export async function api(method, path, body, { signal, raw = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && session && session.csrf) {
    headers["X-Inquest-CSRF"] = session.csrf;
  }
  const res = await fetch(withBase(path), {
    method, headers, signal, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && session && session.auth) {
    toLogin();
    return new Promise(() => {});
  }
  const text = await res.text();
  if (raw && res.ok) return text;
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const get = (path, opts) => api("GET", path, undefined, opts);
export const post = (path, body, opts) => api("POST", path, body === undefined ? {} : body, opts);
