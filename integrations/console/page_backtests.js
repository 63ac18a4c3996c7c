// integrations/console/page_backtests.js -- the backtest reports `inquest backtest --out DIR`
// kept (GET /v1/backtests) and one report (GET /v1/backtests/NAME, inquest.backtest/v1,
// docs/backtest.md): head against base, the changed cases first with their reasons, the stale
// requests, the confusion of root causes, then every case. A report may come from another
// version or be edited by hand: any member may be missing or of another type, and shows as "–".
import { get } from "./api.js";
import { h, fill, when, badge, problem, table } from "./dom.js";
import { withBase } from "./base.js";

const DASH = "–";
const str = (v) => (typeof v === "string" && v !== "" ? v : null);
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const obj = (v) => (v && typeof v === "object" && !Array.isArray(v) ? v : null);
const arr = (v) => (Array.isArray(v) ? v : []);

function text(v) {
  const s = str(v);
  return s === null ? h("span", { class: "muted" }, DASH) : s;
}

function n(v, digits) {
  const x = num(v);
  if (x === null) return h("span", { class: "muted" }, DASH);
  return h("span", { class: "num" }, digits === undefined ? String(+x.toPrecision(6)) : x.toFixed(digits));
}

function rev(r) {
  const o = obj(r);
  if (!o) return h("span", { class: "muted" }, DASH);
  const commit = str(o.commit);
  return h("span", {}, str(o.rev) || DASH, commit ? h("code", { class: "muted", title: commit }, ` ${commit.slice(0, 12)}`) : null);
}

function cause(v) {
  if (v === null) return h("code", {}, "(none)");
  return str(v) ? h("code", {}, v) : h("span", { class: "muted" }, DASH);
}

function outcome(v) {
  return str(v) ? badge(v) : h("span", { class: "muted" }, DASH);
}

// ---- the list ----------------------------------------------------------------------------------

function row(b) {
  const c = obj(b.counts) || {};
  const broken = num(b.broken);
  return h("tr", { dataset: { name: b.name } },
    h("td", {}, str(b.started_at) ? when(b.started_at) : h("span", { class: "muted" }, DASH)),
    h("td", {}, h("a", { href: withBase(`/console/backtests/${encodeURIComponent(b.name)}`) }, b.name),
      str(b.problem) ? h("span", { class: "problem-note" }, h("br"), h("span", { class: "badge badge-error" }, b.problem)) : null),
    h("td", {}, rev(b.head)), h("td", {}, rev(b.base)),
    h("td", { class: "num" }, n(c.cases)), h("td", { class: "num" }, n(c.pass)), h("td", { class: "num" }, n(c.fail)),
    h("td", { class: "num" }, n(c.stale)), h("td", { class: "num" }, n(c.error)),
    h("td", { class: "num broken" }, broken === null ? h("span", { class: "muted" }, DASH)
      : broken > 0 ? h("span", { class: "badge badge-broken" }, `${broken} broken`) : "0"));
}

export async function backtestsPage(main) {
  const tbody = h("tbody", { id: "backtests-rows" });
  const more = h("button", { type: "button", id: "more", hidden: true }, "Show older reports");
  const note = h("p", { class: "muted", id: "backtests-status" });
  fill(main, h("h1", {}, "Backtest reports"),
    h("p", { class: "muted" }, "The JSON reports that ", h("code", {}, "inquest backtest --out DIR"),
      " kept in the folders of ", h("code", {}, "backtests.reports"), ", newest first."),
    h("table", { class: "list", "aria-describedby": "backtests-status" },
      h("caption", { class: "visually-hidden" }, "Backtest reports"),
      h("thead", {}, h("tr", {}, ["started", "report", "head", "base", "cases", "pass", "fail", "stale", "error", "broken"]
        .map((c) => h("th", { scope: "col" }, c)))), tbody),
    note, more);
  let cursor = null;
  async function page() {
    const r = await get(`/v1/backtests?limit=50${cursor ? "&cursor=" + encodeURIComponent(cursor) : ""}`);
    for (const b of r.backtests) tbody.append(row(b));
    cursor = r.next_cursor || null;
    more.hidden = !cursor;
    note.textContent = !tbody.children.length
      ? (r.folders ? "No reports in the folders yet." : "No folders to list: set backtests.reports in the server's config (docs/config.md).")
      : `${tbody.children.length} report${tbody.children.length > 1 ? "s" : ""}`;
  }
  more.addEventListener("click", () => page().catch((err) => main.append(problem(err))));
  await page();
}

// ---- one report --------------------------------------------------------------------------------

// head against base for the summary's numbers; 'better' says which way is good.
function summaryTable(s) {
  const head = obj(s) || {}, base = obj(head.base);
  const rows = [
    ["cases", (x) => x.cases, 0], ["pass", (x) => x.pass, 1], ["fail", (x) => x.fail, -1],
    ["stale", (x) => x.stale, -1], ["error", (x) => x.error, -1], ["budget hits", (x) => x.budget_hits, -1],
    ["root cause precision", (x) => (obj(x.root_cause) || {}).precision, 1],
    ["root cause recall", (x) => (obj(x.root_cause) || {}).recall, 1],
    ["root cause F1", (x) => (obj(x.root_cause) || {}).f1, 1],
    ["runtime p50 (ms)", (x) => (obj(x.runtime_ms) || {}).p50, -1],
    ["runtime p95 (ms)", (x) => (obj(x.runtime_ms) || {}).p95, -1],
    ["connector calls", (x) => (obj(x.connector_calls) || {}).total, -1],
  ];
  const cols = base ? ["", "head", "base", "Δ"] : ["", "head"];
  return table(null, cols, rows.map(([label, get, better]) => {
    const hv = num(get(head)), bv = base ? num(get(base)) : null;
    const cells = [label, n(hv)];
    if (base) {
      cells.push(n(bv));
      if (hv === null || bv === null) cells.push(h("span", { class: "muted" }, DASH));
      else {
        const d = +(hv - bv).toPrecision(6);
        const cls = !d || !better ? "" : (d > 0) === (better > 0) ? "delta-better" : "delta-worse";
        cells.push(h("span", { class: `num ${cls}` }, d > 0 ? `+${d}` : String(d), cls ? h("span", { class: "visually-hidden" }, cls === "delta-better" ? " (better)" : " (worse)") : null));
      }
    }
    return cells;
  }), { class: "summary", id: "report-summary" });
}

function caseName(c) {
  const p = str(c.case);
  if (!p) return DASH;
  const i = p.indexOf(".cases/");
  return i >= 0 ? p.slice(i + 7) : p;
}

function findings(list) {
  return arr(list).filter(obj).map((f) => `${str(f.title) || DASH}${str(f.root_cause) ? ` (${f.root_cause})` : ""}`);
}

// One changed (or failing) case: its outcome and root cause on both sides, and why.
function changedCase(c) {
  const base = obj(c.base);
  const e = obj(c.expect) || {};
  const reasons = arr(c.reasons).filter(str);
  const baseReasons = base ? arr(base.reasons).filter(str) : [];
  const onlyHead = base ? findings(c.findings).filter((f) => !findings(base.findings).includes(f)) : [];
  const onlyBase = base ? findings(base.findings).filter((f) => !findings(c.findings).includes(f)) : [];
  const err = obj(c.error);
  return h("article", { class: "group-card", dataset: { case: str(c.case) || "" } },
    h("h4", {}, text(c.analyzer), " · ", caseName(c), " ", str(c.change) ? badge(c.change) : null),
    str(c.description) ? h("p", {}, c.description) : null,
    h("dl", { class: "facts" },
      h("dt", {}, "head"), h("dd", {}, outcome(c.outcome), " root cause ", cause(c.root_cause)),
      base ? [h("dt", {}, "base"), h("dd", {}, outcome(base.outcome), " root cause ", cause(base.root_cause))] : null,
      h("dt", {}, "expected"), h("dd", {}, "root_cause" in e ? cause(e.root_cause) : h("span", { class: "muted" }, "(any)"))),
    reasons.length ? h("ul", { class: "reasons" }, reasons.map((r) => h("li", {}, r))) : null,
    c.change === "fixed" && baseReasons.length ? h("p", { class: "muted" }, "Failed on base: ", baseReasons.join("; ")) : null,
    str(c.budget) ? h("p", {}, "budget hit: ", h("code", {}, c.budget)) : null,
    err ? h("p", { class: "problem" }, str(err.message) || JSON.stringify(err)) : null,
    onlyHead.length ? h("ul", {}, onlyHead.map((f) => h("li", {}, "+ new finding: ", f))) : null,
    onlyBase.length ? h("ul", {}, onlyBase.map((f) => h("li", {}, "− finding on base only: ", f))) : null);
}

function staleRequest(c) {
  const r = obj(c.stale_request) || {};
  const body = r.body === null || r.body === undefined ? "" : `\n${typeof r.body === "string" ? r.body : JSON.stringify(r.body)}`;
  return h("article", { class: "group-card" }, h("h4", {}, text(c.analyzer), " · ", caseName(c)),
    h("pre", { class: "text" }, `${str(r.connector) || "?"}: ${str(r.method) || "?"} ${str(r.path) || ""}${body}`));
}

function confusionTable(conf) {
  const m = obj(conf);
  if (!m) return h("p", { class: "muted" }, "No confusion of root causes in this report.");
  const rows = Object.keys(m).sort();
  const cols = [...new Set(rows.flatMap((r) => Object.keys(obj(m[r]) || {})))].sort();
  if (!rows.length) return h("p", { class: "muted" }, "No cases with root causes.");
  return h("table", { class: "matrix", id: "confusion" },
    h("caption", {}, "Rows: the expected root cause; columns: the one found; the diagonal is what was right."),
    h("thead", {}, h("tr", {}, h("td", {}), cols.map((c) => h("th", { scope: "col" }, h("code", {}, c))))),
    h("tbody", {}, rows.map((r) => h("tr", {}, h("th", { scope: "row" }, h("code", {}, r)),
      cols.map((c) => {
        const v = num((obj(m[r]) || {})[c]);
        return h("td", { class: r === c ? "diag" : "" }, v ? String(v) : "·");
      })))));
}

export async function backtestPage(main, [name]) {
  const r = await get(`/v1/backtests/${encodeURIComponent(name)}`);
  const s = obj(r.summary) || {};
  const changes = obj(s.changes);
  const cases = arr(r.cases).filter(obj);
  const order = { broken: 0, fixed: 1, changed: 2, new: 3 };
  const changed = cases.filter((c) => c.change in order || (!obj(c.base) && str(c.outcome) && c.outcome !== "pass"))
    .sort((a, b) => (order[a.change] ?? 4) - (order[b.change] ?? 4));
  const stale = cases.filter((c) => c.outcome === "stale");
  fill(main, h("h1", {}, "Backtest ", h("code", {}, str(r.id) || name)),
    h("dl", { class: "facts" },
      h("dt", {}, "Started"), h("dd", {}, str(r.started_at) ? when(r.started_at) : DASH),
      h("dt", {}, "Took"), h("dd", {}, num(r.duration_s) !== null ? `${r.duration_s} s` : DASH),
      h("dt", {}, "Head"), h("dd", { id: "report-head" }, rev(r.head)),
      h("dt", {}, "Base"), h("dd", { id: "report-base" }, rev(r.base)),
      h("dt", {}, "Changes"), h("dd", {}, changes
        ? ["broken", "fixed", "changed", "new", "unchanged"].map((k) => `${num(changes[k]) ?? 0} ${k}`).join(", ") : DASH),
      h("dt", {}, "Raw"), h("dd", {}, h("a", { href: withBase(`/v1/backtests/${encodeURIComponent(name)}`) }, "the JSON report"))),
    h("section", { "aria-labelledby": "summary-h" }, h("h2", { id: "summary-h" }, obj(s.base) ? "Head against base" : "Summary"),
      summaryTable(s)),
    h("section", { "aria-labelledby": "changed-h", id: "changed" },
      h("h2", { id: "changed-h" }, obj(r.base) ? `Changed cases (${changed.length})` : `Cases that do not pass (${changed.length})`),
      changed.length ? changed.map(changedCase) : h("p", { class: "muted" }, "No case changed.")),
    h("section", { "aria-labelledby": "stale-h", id: "stale" }, h("h2", { id: "stale-h" }, `Stale requests (${stale.length})`),
      stale.length ? [h("p", { class: "muted" }, "The analyzer made requests the recording does not hold: record these cases again."), stale.map(staleRequest)]
        : h("p", { class: "muted" }, "None.")),
    h("section", { "aria-labelledby": "confusion-h" }, h("h2", { id: "confusion-h" }, "Confusion of root causes"), confusionTable(r.confusion)),
    h("details", { id: "all-cases" }, h("summary", {}, `Every case (${cases.length})`),
      table(null, ["analyzer", "case", "outcome", "change", "expected", "got", "runtime (ms)", "calls"],
        cases.map((c) => [text(c.analyzer), caseName(c), outcome(c.outcome), str(c.change) ? badge(c.change) : DASH,
          "root_cause" in (obj(c.expect) || {}) ? cause(c.expect.root_cause) : h("span", { class: "muted" }, "(any)"),
          "root_cause" in c ? cause(c.root_cause) : DASH, n(c.runtime_ms), n(c.connector_calls)]))));
}
