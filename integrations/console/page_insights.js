// integrations/console/page_insights.js -- what keeps causing the analyses (GET /v1/insights):
// over a period of whole UTC days, how analyses concluded and how long they ran, the top root
// causes overall, per service and per alert, and each analyzer's precision from the verdicts
// people gave. Every chart is an SVG image with a text description, and its numbers are in a
// table beside it.
import { get } from "./api.js";
import { h, fill, ms, problem, table } from "./dom.js";
import { withBase } from "./base.js";
import { bars } from "./chart.js";

const PERIODS = [["1d", "today"], ["7d", "last 7 days"], ["14d", "last 14 days"], ["30d", "last 30 days"], ["90d", "last 90 days"]];
const OUTCOMES = [
  ["root_cause_found", "root cause found"], ["inconclusive", "inconclusive"], ["no_anomaly", "no anomaly"],
  ["other", "other conclusion"], ["error", "error"], ["cancelled", "cancelled"],
];

function pct(x) {
  return x === null || x === undefined ? "—" : `${Math.round(x * 100)}%`;
}

function count(n) {
  return `${n} analys${n === 1 ? "is" : "es"}`;
}

function durations(d) {
  if (!d || d.p50 === null || d.p50 === undefined) return "—";
  return `p50 ${ms(d.p50)} · p95 ${ms(d.p95)}`;
}

function outcomeChart(title, outcomes, id) {
  const items = OUTCOMES.map(([k, label]) => ({ label, value: (outcomes || {})[k] || 0, class: `o-${k}` }));
  return h("div", { class: "grid-2" },
    bars(title, items, { id }),
    table(null, ["outcome", "analyses"], items.map((i) => [i.label, h("span", { class: "num" }, String(i.value))]), { class: "outcomes" }));
}

function causesChart(title, causes, id) {
  if (!causes || !causes.length) return h("p", { class: "muted" }, "No root cause was found.");
  const items = causes.map((c) => ({ label: c.root_cause, value: c.count, text: `${c.count} (${pct(c.share)})` }));
  return h("div", { class: "grid-2" },
    bars(title, items, { id }),
    table(null, ["root cause", "analyses", "share"],
      causes.map((c) => [h("code", {}, c.root_cause), h("span", { class: "num" }, String(c.count)), pct(c.share)]),
      { class: "causes" }));
}

// One service or alert: its analyses, how they concluded, run times and top root causes.
function groupCard(g, key, kind, i) {
  const name = g[key];
  const concluded = OUTCOMES.filter(([k]) => g.outcomes && g.outcomes[k]).map(([k, label]) => `${g.outcomes[k]} ${label}`).join(", ");
  return h("article", { class: "group-card", dataset: { [kind]: name }, "aria-labelledby": `${kind}-${i}` },
    h("h3", { id: `${kind}-${i}` }, name),
    h("p", { class: "muted" }, `${count(g.analyses)}: ${concluded || "none"} · run time ${durations(g.duration_ms)}`),
    causesChart(`Top root causes of ${name}`, g.root_causes, `${kind}-${i}-causes`),
    g.other_root_causes ? h("p", { class: "muted" }, `… and ${g.other_root_causes} more root causes`) : null);
}

function analyzersTable(list) {
  if (!list.length) return h("p", { class: "muted" }, "No analyses in this period.");
  return table(null, ["analyzer", "analyses", "found", "inconclusive", "no anomaly", "error", "run time", "correct", "partly", "wrong", "precision"],
    list.map((a) => {
      const o = a.outcomes || {}, f = a.feedback || {};
      const judged = f.judged || 0;
      return [h("a", { href: withBase(`/console/analyzers/${encodeURIComponent(a.analyzer)}`) }, a.analyzer),
        h("span", { class: "num" }, String(a.analyses)), String(o.root_cause_found || 0), String(o.inconclusive || 0),
        String(o.no_anomaly || 0), String((o.error || 0) + (o.cancelled || 0)), durations(a.duration_ms),
        String(f.correct || 0), String(f.partly || 0), String(f.wrong || 0),
        a.precision === null || a.precision === undefined
          ? h("span", { class: "muted" }, "not judged")
          : h("span", { class: "precision", dataset: { analyzer: a.analyzer } }, `${pct(a.precision)} of ${judged}`)];
    }), { class: "list", id: "analyzers-table" });
}

export async function insightsPage(main, _params, q) {
  const period = q.get("period") || "";
  const sel = h("select", { id: "f-period", name: "period" },
    h("option", { value: "" }, "the server's period"), PERIODS.map(([v, t]) => h("option", { value: v }, t)));
  sel.value = period;
  const form = h("form", { class: "filters", "aria-label": "Period" },
    h("div", { class: "field" }, h("label", { for: "f-period" }, "Period"), sel),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Show")));
  const out = h("div", { id: "insights" });
  fill(main, h("h1", {}, "Insights"), form, out);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    // The period is part of the page's address, so that a view can be linked to.
    const p = new URLSearchParams();
    if (sel.value) p.set("period", sel.value);
    history.replaceState(null, "", withBase(`/console/insights${p.toString() ? "?" + p : ""}`));
    load(sel.value).catch((err) => fill(out, problem(err)));
  });

  async function load(p) {
    const r = await get(`/v1/insights${p ? "?period=" + encodeURIComponent(p) : ""}`);
    const o = r.outcomes || {};
    const found = o.root_cause_found || 0;
    fill(out,
      h("p", { id: "insights-summary" }, h("strong", {}, count(r.analyses)), ` finished from ${r.from} to ${r.to} (UTC days)`,
        r.analyses ? `: ${pct(found / r.analyses)} found a root cause; run time ${durations(r.duration_ms)}.` : ".",
        r.enabled === false ? h("span", { class: "muted" }, " Insights are off on this server (insights.enabled): nothing new is counted.") : null),
      h("section", { "aria-labelledby": "outcomes-h" }, h("h2", { id: "outcomes-h" }, "How analyses concluded"),
        outcomeChart("Analyses by outcome", o, "outcomes-chart")),
      h("section", { "aria-labelledby": "causes-h" }, h("h2", { id: "causes-h" }, "Top root causes"),
        causesChart("Top root causes overall", r.root_causes, "causes-chart")),
      h("section", { "aria-labelledby": "services-h", id: "services" }, h("h2", { id: "services-h" }, "By service"),
        (r.services || []).length ? r.services.map((g, i) => groupCard(g, "service", "service", i)) : h("p", { class: "muted" }, "No analysis named a service (label or input service)."),
        r.more_services ? h("p", { class: "muted" }, `… and ${r.more_services} more services`) : null),
      h("section", { "aria-labelledby": "alerts-h", id: "alerts" }, h("h2", { id: "alerts-h" }, "By alert"),
        (r.alerts || []).length ? r.alerts.map((g, i) => groupCard(g, "alert", "alert", i)) : h("p", { class: "muted" }, "No analysis was started by an alert."),
        r.more_alerts ? h("p", { class: "muted" }, `… and ${r.more_alerts} more alerts`) : null),
      h("section", { "aria-labelledby": "analyzers-h" }, h("h2", { id: "analyzers-h" }, "Analyzers"),
        h("p", { class: "muted" }, "Precision counts the latest verdict on each judged analysis: correct 1, partly ½, wrong 0."),
        analyzersTable(r.analyzers || [])));
  }
  await load(period).catch((err) => fill(out, problem(err)));
}
