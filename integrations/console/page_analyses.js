// integrations/console/page_analyses.js -- recent analyses (GET /v1/analyses), filtered by
// analyzer, status, service label and submission time, with live updates.
//
// Live updates poll the listing: every 2 s while a row in view is queued or running, every 15 s
// otherwise (new analyses appear), paused while the tab is hidden. Not one long poll per row
// (GET /v1/analyses/ID?wait=): a browser keeps at most 6 connections to a server over HTTP/1.1,
// and a page of running analyses would hold them all. Not server-sent events: the server answers
// each request once with its length known (runtime/rt_httpd.h), and a listing is one cheap call
// to Redis. A row that finishes is announced in the page's live region.
import { get } from "./api.js";
import { h, fill, when, ms, between, badge, finished, announce, problem } from "./dom.js";
import { withBase } from "./base.js";

const STATUSES = ["queued", "running", "ok", "error", "timeout", "cpu_exceeded", "memory_exceeded", "cancelled", "dead"];
const SINCE = [["", "any time"], ["15m", "last 15 minutes"], ["1h", "last hour"], ["6h", "last 6 hours"], ["24h", "last 24 hours"], ["7d", "last 7 days"]];
const FAST = 2000, SLOW = 15000;

function select(name, label, options, value) {
  const sel = h("select", { id: `f-${name}`, name },
    options.map(([v, text]) => { const o = h("option", { value: v }, text); if (v === value) o.selected = true; return o; }));
  return h("div", { class: "field" }, h("label", { for: `f-${name}` }, label), sel);
}

function query(q, cursor) {
  const p = new URLSearchParams({ limit: "50" });
  if (q.get("analyzer")) p.set("analyzer", q.get("analyzer"));
  if (q.get("status")) p.set("status", q.get("status"));
  if (q.get("service")) p.set("label", `service=${q.get("service")}`);
  if (q.get("since")) p.set("since", q.get("since"));
  if (cursor) p.set("cursor", cursor);
  return `/v1/analyses?${p}`;
}

function row(a) {
  const service = (a.labels && a.labels.service) || "";
  const took = finished(a.status) ? between(a.started_at || a.submitted_at, a.finished_at) : undefined;
  return h("tr", { dataset: { id: a.id, status: a.status } },
    h("td", {}, h("a", { href: withBase(`/console/analyses/${encodeURIComponent(a.id)}`) }, h("code", {}, a.id))),
    h("td", {}, a.analyzer),
    h("td", { class: "status" }, badge(a.status), a.cancelling ? " cancelling" : ""),
    h("td", {}, service || h("span", { class: "muted" }, "—")),
    h("td", {}, when(a.submitted_at)),
    h("td", { class: "num" }, took === undefined ? (finished(a.status) ? "—" : "…") : ms(took)));
}

export async function analysesPage(main, _params, q) {
  const catalog = await get("/v1/analyzers").catch(() => ({ analyzers: [] }));
  const service = h("input", { id: "f-service", name: "service", type: "text", autocomplete: "off",
                               spellcheck: "false", value: q.get("service") || "" });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter analyses" },
    select("analyzer", "Analyzer", [["", "any analyzer"], ...catalog.analyzers.map((a) => [a.name, a.name])], q.get("analyzer") || ""),
    select("status", "Status", [["", "any status"], ...STATUSES.map((st) => [st, st])], q.get("status") || ""),
    h("div", { class: "field" }, h("label", { for: "f-service" }, "Service label"), service),
    select("since", "Submitted", SINCE, q.get("since") || ""),
    h("div", { class: "field actions" }, h("button", { type: "submit" }, "Filter")));
  const status = h("p", { class: "muted", id: "list-status" });
  const tbody = h("tbody", { id: "analyses-rows" });
  const more = h("button", { type: "button", id: "more", hidden: true }, "Show older analyses");
  const errors = h("div");
  fill(main, h("h1", {}, "Recent analyses"), form, errors,
    h("table", { class: "list", "aria-describedby": "list-status" },
      h("caption", { class: "visually-hidden" }, "Recent analyses, newest first"),
      h("thead", {}, h("tr", {}, ["Analysis", "Analyzer", "Status", "Service", "Submitted", "Took"].map((c) => h("th", { scope: "col" }, c)))),
      tbody),
    status, more);

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, String(v).trim());
    history.replaceState(null, "", withBase(`/console/analyses${p.toString() ? "?" + p : ""}`));
    dispatchEvent(new PopStateEvent("popstate"));
  });

  const rows = new Map(); // id -> last known analysis
  let cursor = null, timer = null, stopped = false, inflight = null;

  function put(a, atTop) {
    const old = rows.get(a.id);
    // An unchanged row is left alone: redrawing it would take the keyboard focus from its link.
    if (old && JSON.stringify(old) === JSON.stringify(a)) return;
    rows.set(a.id, a);
    const tr = row(a);
    const existing = tbody.querySelector(`tr[data-id="${CSS.escape(a.id)}"]`);
    if (existing) existing.replaceWith(tr);
    else if (atTop) tbody.prepend(tr);
    else tbody.append(tr);
    if (old && !finished(old.status) && finished(a.status)) announce(`Analysis ${a.id} (${a.analyzer}) finished: ${a.status}`);
  }

  function summary() {
    status.textContent = rows.size ? `${rows.size} analys${rows.size === 1 ? "is" : "es"} shown; updates live.` : "No analyses match.";
  }

  async function loadMore() {
    try {
      const page = await get(query(q, cursor));
      for (const a of page.analyses) put(a, false);
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      summary();
    } catch (err) { fill(errors, problem(err)); }
  }
  more.addEventListener("click", loadMore);

  async function refresh() {
    if (stopped) return;
    if (document.hidden) { schedule(); return; }
    inflight = new AbortController();
    try {
      const page = await get(query(q, null), { signal: inflight.signal });
      const fresh = page.analyses.filter((a) => !rows.has(a.id)).reverse();
      for (const a of page.analyses) if (rows.has(a.id)) put(a, false);
      for (const a of fresh) put(a, true);
      // Unfinished rows older than the first page are asked for one by one (few, in practice).
      const seen = new Set(page.analyses.map((a) => a.id));
      for (const [id, a] of rows) {
        if (!finished(a.status) && !seen.has(id)) {
          const now = await get(`/v1/analyses/${encodeURIComponent(id)}`, { signal: inflight.signal }).catch(() => null);
          if (now) { delete now.result; put(now, false); }
        }
      }
      fill(errors);
      summary();
    } catch (err) {
      if (err.name !== "AbortError") fill(errors, problem(err));
    }
    inflight = null;
    schedule();
  }

  function schedule() {
    if (stopped) return;
    const busy = [...rows.values()].some((a) => !finished(a.status));
    timer = setTimeout(refresh, busy ? FAST : SLOW);
  }

  const onVisible = () => { if (!document.hidden && !inflight) { clearTimeout(timer); refresh(); } };
  document.addEventListener("visibilitychange", onVisible);
  await loadMore();
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (inflight) inflight.abort();
    document.removeEventListener("visibilitychange", onVisible);
  };
}
