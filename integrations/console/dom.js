// integrations/console/dom.js -- small DOM and formatting helpers shared by the console's pages:
// an element builder (text is always set as text, never parsed as HTML), time and duration
// formats, and the live region that announces updates to screen readers.

// h("a", { href: "/x", class: "link" }, "text", child…): an element with attributes and children.
// Attributes named on* are refused: handlers are attached with addEventListener, so the strict
// Content-Security-Policy (no inline scripts) holds for everything the pages build.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) throw new Error(`h: no inline handlers (${k})`);
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replaces the children of 'el' with 'children'.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// "2026-11-21 12:00:05" in the browser's time zone, with the full UTC time as a tooltip.
export function when(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return h("time", { datetime: iso, title: iso }, text);
}

// Milliseconds as "850 ms", "1.2 s", "3m05s".
export function ms(value) {
  if (value === undefined || value === null || Number.isNaN(value)) return "—";
  if (value < 1) return `${value.toFixed(2)} ms`;
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60000) return `${(value / 1000).toFixed(1)} s`;
  const m = Math.floor(value / 60000), s = Math.round((value % 60000) / 1000);
  return `${m}m${String(s).padStart(2, "0")}s`;
}

// The time between two RFC 3339 strings in ms, or undefined.
export function between(a, b) {
  if (!a || !b) return undefined;
  return Date.parse(b) - Date.parse(a);
}

export function bytes(n) {
  if (n === undefined || n === null) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function percent(x) {
  return `${Math.round(x * 100)}%`;
}

// A status as a badge whose class gives its colour and whose text says it (colour is never the
// only carrier of meaning).
export function badge(status) {
  return h("span", { class: `badge badge-${String(status).replace(/[^a-z_]/g, "")}` }, status);
}

const FINAL = new Set(["ok", "error", "timeout", "cpu_exceeded", "memory_exceeded", "cancelled", "dead"]);
export function finished(status) {
  return FINAL.has(status);
}

// Tells screen readers about 'message' through the page's polite live region.
export function announce(message) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  // A new text node in a later task is what makes screen readers read a repeated message.
  setTimeout(() => { live.textContent = message; }, 50);
}

// An error box (role=alert) with the API's message and, when it has them, its field problems.
export function problem(err) {
  const box = h("div", { class: "problem", role: "alert" },
    h("p", {}, h("strong", {}, "Error: "), err.message || String(err)));
  if (err.fields && err.fields.length) {
    box.append(h("ul", {}, err.fields.map((f) => h("li", {}, h("code", {}, f.field || "request"), ": ", f.message))));
  }
  return box;
}

// A table from 'columns' (strings) and 'rows' (arrays of cells: nodes or text), with a caption.
export function table(caption, columns, rows, attrs = {}) {
  return h("table", attrs,
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

// A glob as the server's fnmatch uses it (*, ?, [...]) turned into a RegExp.
export function glob(pattern) {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) { re += "\\["; continue; }
      let body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (body.startsWith("!")) body = "^" + body.slice(1);
      re += `[${body}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(re + "$");
}
