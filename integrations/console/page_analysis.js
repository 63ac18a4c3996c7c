// integrations/console/page_analysis.js -- one analysis (GET /v1/analyses/ID): its summary, its
// findings ranked by confidence with their evidence drawn (time series as charts with the
// finding's change points, anomalies and events marked; events, log patterns and tables as
// tables; text), the steps and every connector call with its timing, errors and logs, and the
// post-processor's actions on it. While it runs, the page waits for its end with the API's long
// poll (?wait=30s): one request, answered the moment it finishes. Once it has, people judge it
// and make a backtest case of it (feedback.js).
import { get, api, currentSession } from "./api.js";
import { h, fill, when, ms, between, bytes, percent, badge, finished, announce, problem, table } from "./dom.js";
import { withBase } from "./base.js";
import { chart, markKind } from "./chart.js";
import { feedbackSection } from "./feedback.js";

function iso(t) {
  return new Date(t * 1000).toISOString().replace(".000Z", "Z");
}

function cell(v) {
  if (v === null || v === undefined) return h("span", { class: "muted" }, "null");
  if (typeof v === "number") return h("span", { class: "num" }, String(+v.toPrecision(6)));
  return String(v);
}

function evidenceItem(item, marks) {
  const title = (text) => item.title || text;
  const cut = item.truncated ? h("p", { class: "muted" }, "Cut to its caps.") : null;
  switch (item.kind) {
    case "timeseries":
      return chart(item, marks);
    case "events":
      return h("div", { class: "evidence" }, table(title("events"), ["time", "kind", "service", "id", "text"],
        (item.items || []).map((e) => [h("time", { datetime: iso(e.time) }, iso(e.time)), e.kind || "", e.service || "", e.id || "", e.text || ""])), cut);
    case "log_patterns":
      return h("div", { class: "evidence" }, table(title("log patterns"), ["pattern", "count", "sample"],
        (item.items || []).map((p) => [h("code", {}, p.pattern), h("span", { class: "num" }, String(p.count)), p.sample ? h("code", {}, p.sample) : ""]),
        { class: "log-patterns" }), cut);
    case "table":
      return h("div", { class: "evidence" }, table(title("table"), item.columns || [], (item.rows || []).map((r) => r.map(cell))), cut);
    case "text":
      return h("div", { class: "evidence" }, item.title ? h("h4", {}, item.title) : null, h("pre", { class: "text" }, item.text), cut);
    default:
      return h("div", { class: "evidence" }, h("pre", {}, JSON.stringify(item, null, 2)));
  }
}

function finding(f, i) {
  const ev = f.evidence || [];
  // The finding's events are marked on its charts: change points, anomalies, deploys…
  const marks = ev.filter((e) => e.kind === "events").flatMap((e) => e.items || []);
  const markedOnly = (e) => e.kind === "events" && (e.items || []).every((m) => markKind(m.kind) !== "event");
  const hasChart = ev.some((e) => e.kind === "timeseries");
  const conf = Math.max(0, Math.min(1, f.confidence || 0));
  const meter = h("meter", { min: 0, max: 1, value: conf, "aria-label": "confidence" });
  return h("article", { class: `finding sev-${f.severity}`, "aria-labelledby": `finding-${i}` },
    h("header", {},
      h("h3", { id: `finding-${i}` }, f.title),
      h("p", { class: "finding-meta" },
        h("span", { class: `sev sev-${f.severity}` }, f.severity), " · confidence ", h("strong", { class: "confidence" }, percent(conf)), " ", meter,
        f.root_cause ? [" · root cause ", h("code", {}, f.root_cause)] : null)),
    f.summary ? h("p", {}, f.summary) : null,
    ev.filter((e) => !(hasChart && markedOnly(e))).map((e) => evidenceItem(e, marks)),
    (f.actions || []).length ? h("div", {}, h("h4", {}, "Suggested actions"),
      h("ul", {}, f.actions.map((a) => h("li", {}, h("code", {}, a.type), a.description ? ` — ${a.description}` : "", a.args ? [" ", h("code", {}, JSON.stringify(a.args))] : null)))) : null);
}

function calls(result) {
  const list = result.calls || [];
  if (!list.length) return h("p", { class: "muted" }, "No connector calls.");
  const longest = Math.max(...list.map((c) => c.duration_ms || 0), 1);
  return table(null, ["connector", "operation", "status", "HTTP", "took", "", "bytes", "error"], list.map((c) => [
    c.connector, h("code", {}, c.operation), badge(c.status), c.http_status ?? "", ms(c.duration_ms),
    h("span", { class: "bar", "aria-hidden": "true" }, h("span", { class: `bar-fill w${Math.max(1, Math.round((c.duration_ms / longest) * 20))}` })),
    bytes(c.bytes), c.error || ""]), { class: "calls" });
}

function summary(a) {
  const r = a.result || {};
  const took = between(a.started_at, a.finished_at);
  const labels = Object.entries(a.labels || {});
  return h("section", { "aria-labelledby": "summary-h" },
    h("h2", { id: "summary-h", class: "visually-hidden" }, "Summary"),
    r.conclusion ? h("p", { class: "conclusion" }, h("code", { id: "conclusion-tag" }, r.conclusion.tag), r.conclusion.summary ? ` — ${r.conclusion.summary}` : "") : null,
    a.error ? h("p", { class: "problem" }, a.error) : null,
    h("dl", { class: "facts" },
      h("dt", {}, "Status"), h("dd", { id: "analysis-status" }, badge(a.status), a.cancelling ? " (cancelling)" : ""),
      h("dt", {}, "Analyzer"), h("dd", {}, h("a", { href: withBase(`/console/analyzers/${encodeURIComponent(a.analyzer)}`) }, a.analyzer),
        r.analyzer && r.analyzer.hash ? h("span", { class: "muted" }, ` ${r.analyzer.hash.slice(0, 19)}…`) : null),
      h("dt", {}, "Priority"), h("dd", {}, a.priority),
      h("dt", {}, "Submitted"), h("dd", {}, when(a.submitted_at)),
      h("dt", {}, "Started"), h("dd", {}, when(a.started_at)),
      h("dt", {}, "Finished"), h("dd", {}, when(a.finished_at), took !== undefined ? ` (took ${ms(took)})` : ""),
      a.resolved_at ? [h("dt", {}, "Alert resolved"), h("dd", {}, when(a.resolved_at))] : null,
      h("dt", {}, "Deliveries"), h("dd", {}, String(a.deliveries)),
      h("dt", {}, "Labels"), h("dd", {}, labels.length ? labels.map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`)) : h("span", { class: "muted" }, "none")),
      r.inputs ? [h("dt", {}, "Inputs"), h("dd", {}, h("code", {}, JSON.stringify(r.inputs)))] : null));
}

function body(a, actions) {
  const r = a.result;
  const out = [summary(a)];
  if (!r) {
    out.push(h("p", { class: "muted", id: "waiting" }, finished(a.status) ? "No result." : "Waiting for the analysis to finish…"));
    return out;
  }
  const findings = [...(r.findings || [])].sort((x, y) => (y.confidence || 0) - (x.confidence || 0));
  out.push(h("section", { "aria-labelledby": "findings-h" }, h("h2", { id: "findings-h" }, `Findings (${findings.length})`),
    findings.length ? findings.map(finding) : h("p", { class: "muted" }, "No findings.")));
  if ((r.errors || []).length) {
    out.push(h("section", { "aria-labelledby": "errors-h" }, h("h2", { id: "errors-h" }, "Errors"),
      table(null, ["message", "where"], r.errors.map((e) => [e.message, e.file ? `${e.file}:${e.line || ""}` : ""]))));
  }
  out.push(h("section", { "aria-labelledby": "steps-h" }, h("h2", { id: "steps-h" }, "Steps"),
    (r.steps || []).length ? table(null, ["step", "status", "took", "error"],
      r.steps.map((st) => [st.name, badge(st.status), ms(st.duration_ms), st.error || ""]), { class: "steps" }) : h("p", { class: "muted" }, "No steps recorded.")));
  out.push(h("section", { "aria-labelledby": "calls-h" }, h("h2", { id: "calls-h" }, "Connector calls"), calls(r)));
  if (actions && actions.length) {
    out.push(h("section", { "aria-labelledby": "actions-h" }, h("h2", { id: "actions-h" }, "Actions"),
      table(null, ["action", "type", "state", "reason"], actions.map((x) => [h("a", { href: withBase(`/console/actions#action-${x.id}`) }, x.name || x.rule || x.id), x.type, badge(x.state), x.reason || ""]))));
  }
  if ((r.logs || []).length) {
    out.push(h("details", {}, h("summary", {}, `Logs (${r.logs.length})`),
      h("pre", { class: "logs" }, r.logs.map((l) => `${l.level.padEnd(5)} ${l.message}\n`).join(""))));
  }
  if (r.usage || r.timing) {
    out.push(h("p", { class: "muted" }, r.timing ? `Ran ${ms(r.timing.duration_ms)}` : "",
      r.usage ? ` · ${r.usage.instructions} instructions · peak memory ${bytes(r.usage.memory_peak)}` : ""));
  }
  return out;
}

export async function analysisPage(main, [id]) {
  let stopped = false, ctrl = null;
  const heading = h("h1", {}, "Analysis ", h("code", {}, id));
  const tools = h("div", { class: "tools" });
  const content = h("div", { id: "analysis" });
  const errors = h("div");
  const judged = h("div", { id: "feedback-box" });
  fill(main, heading, tools, errors, content, judged);
  let judging = false;
  // The verdict form comes once the analysis has ended (a running one cannot be judged).
  function judge(x) {
    if (judging || !finished(x.status)) return;
    judging = true;
    feedbackSection(judged, x).catch((err) => fill(judged, problem(err)));
  }
  const session = currentSession();

  async function actionsOf() {
    try {
      const page = await get("/v1/actions?limit=500");
      return page.actions.filter((x) => x.analysis === id);
    } catch { return []; }
  }

  function drawTools(a) {
    fill(tools);
    if (!finished(a.status) && !a.cancelling) {
      const cancel = h("button", { type: "button", id: "cancel" }, "Cancel analysis");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try { await api("DELETE", `/v1/analyses/${encodeURIComponent(id)}`); announce("Cancellation asked for."); }
        catch (err) { fill(errors, problem(err)); cancel.disabled = false; }
      });
      tools.append(cancel);
    }
    tools.append(h("a", { href: withBase(`/v1/analyses/${encodeURIComponent(id)}`), class: "raw" }, "Raw JSON"));
    void session;
  }

  async function load(wait) {
    ctrl = new AbortController();
    const a = await get(`/v1/analyses/${encodeURIComponent(id)}${wait ? "?wait=30s" : ""}`, { signal: ctrl.signal });
    ctrl = null;
    return a;
  }

  let a = await load(false);
  drawTools(a);
  fill(content, body(a, finished(a.status) ? await actionsOf() : []));
  judge(a);
  (async () => {
    while (!stopped && !finished(a.status)) {
      try {
        const next = await load(true);
        if (stopped) return;
        const ended = finished(next.status);
        a = next;
        drawTools(a);
        fill(content, body(a, ended ? await actionsOf() : []));
        if (ended) announce(`The analysis finished: ${a.status}`);
        judge(a);
      } catch (err) {
        if (stopped || err.name === "AbortError") return;
        fill(errors, problem(err));
        await new Promise((r) => setTimeout(r, 5000));
      }
    }
  })();
  return () => { stopped = true; if (ctrl) ctrl.abort(); };
}
