// integrations/console/base.js -- where the console lives on its host: the path of
// server.external_url ("/inquest" behind a proxy that serves Inquest there and strips it, "" without
// one), which serve writes into each page's <meta name="inquest-base"> (integrations/ig_console.c).
// Every path the pages link to, fetch or put in the history goes through withBase(); the router
// reads the browser's address through consolePath().
const meta = document.querySelector('meta[name="inquest-base"]');
export const base = meta ? meta.content.replace(/\/+$/, "") : "";

// 'path' ("/v1/analyses?limit=50", "/console/analyses/ID") as the browser asks for it.
export function withBase(path) {
  return base + path;
}

// The console's own path ("/console/analyses") of the browser's 'pathname', or null when that is
// not under the base.
export function consolePath(pathname) {
  return pathname.startsWith(base + "/") ? pathname.slice(base.length) : null;
}
