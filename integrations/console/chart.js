// integrations/console/chart.js -- time series evidence as an SVG chart drawn here, with no
// library: one path per series (gaps where a value is null), the axes, and markers for what the
// finding's events evidence says happened: change points (dashed lines), anomalies (rings on the
// series) and other events such as deploys (solid lines with a diamond). Colours come from
// classes (console.css), so light and dark mode both hold and the CSP needs no inline styles.
// The chart is an image with a text description; the numbers are also in a table under it.
import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 720, H = 260, M = { top: 16, right: 16, bottom: 28, left: 56 };
let uid = 0;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// The kind of marker an events item makes on a chart: "change", "anomaly" or "event".
export function markKind(kind) {
  const k = String(kind || "").toLowerCase().replace(/[-\s]/g, "_");
  if (k === "change_point" || k === "changepoint" || k === "change") return "change";
  if (k === "anomaly" || k === "anomalies" || k === "outlier") return "anomaly";
  return "event";
}

export function seriesName(labels) {
  const entries = Object.entries(labels || {});
  if (!entries.length) return "series";
  return "{" + entries.map(([k, v]) => `${k}="${v}"`).join(", ") + "}";
}

function niceTicks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((st) => st >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function fmtNum(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
  return String(+v.toPrecision(3));
}

function fmtTime(t, span) {
  const d = new Date(t * 1000), pad = (n) => String(n).padStart(2, "0");
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (span < 120) return `${hm}:${pad(d.getSeconds())}`;
  if (span > 2 * 86400) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
  return hm;
}

function iso(t) {
  return new Date(t * 1000).toISOString().replace(".000Z", "Z");
}

// The chart of timeseries evidence 'item' ({ title, unit, series: [{ labels, points }] }) with
// 'marks' ([{ time, kind, text, id, service }] from the finding's events evidence). Returns a
// <figure> with the SVG, a legend, and the data as a table.
export function chart(item, marks = []) {
  const id = `chart-${++uid}`;
  const series = (item.series || []).filter((x) => (x.points || []).length);
  let t0 = Infinity, t1 = -Infinity, v0 = Infinity, v1 = -Infinity;
  for (const x of series) for (const [t, v] of x.points) {
    if (t < t0) t0 = t; if (t > t1) t1 = t;
    if (v !== null && Number.isFinite(v)) { if (v < v0) v0 = v; if (v > v1) v1 = v; }
  }
  const title = item.title || "time series";
  const fig = h("figure", { class: "chart" });
  if (!series.length || !Number.isFinite(t0)) {
    fig.append(h("figcaption", {}, title), h("p", { class: "muted" }, "No points."));
    return fig;
  }
  if (!Number.isFinite(v0)) { v0 = 0; v1 = 1; }
  if (v0 > 0) v0 = 0; // rates and ratios read best from zero
  if (v1 === v0) v1 = v0 + 1;
  if (t1 === t0) { t0 -= 30; t1 += 30; }
  const yt = niceTicks(v0, v1, 4);
  v1 = Math.max(v1, yt[yt.length - 1]);
  const x = (t) => M.left + ((t - t0) / (t1 - t0)) * (W - M.left - M.right);
  const y = (v) => H - M.bottom - ((v - v0) / (v1 - v0)) * (H - M.top - M.bottom);

  const inRange = marks.filter((m) => m.time >= t0 && m.time <= t1);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${id}-t ${id}-d`,
                         class: "chart-svg", preserveAspectRatio: "xMidYMid meet" });
  const changes = inRange.filter((m) => markKind(m.kind) === "change");
  const anomalies = inRange.filter((m) => markKind(m.kind) === "anomaly");
  const events = inRange.filter((m) => markKind(m.kind) === "event");
  let peak = null;
  for (const ser of series) for (const [t, v] of ser.points) if (v !== null && (!peak || v > peak.v)) peak = { t, v };
  const desc = [`${series.length} series from ${iso(t0)} to ${iso(t1)}`];
  if (peak) desc.push(`highest value ${fmtNum(peak.v)}${item.unit ? " " + item.unit : ""} at ${iso(peak.t)}`);
  if (changes.length) desc.push(`change point${changes.length > 1 ? "s" : ""} at ${changes.map((m) => iso(m.time)).join(", ")}`);
  if (anomalies.length) desc.push(`${anomalies.length} anomal${anomalies.length > 1 ? "ies" : "y"}`);
  if (events.length) desc.push(`events: ${events.map((m) => `${m.kind || "event"} at ${iso(m.time)}`).join(", ")}`);
  svg.append(s("title", { id: `${id}-t` }, title), s("desc", { id: `${id}-d` }, desc.join("; ") + "."));

  const grid = s("g", { class: "grid" });
  for (const v of yt) {
    grid.append(s("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }));
    grid.append(s("text", { x: M.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, fmtNum(v)));
  }
  const span = t1 - t0;
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (span * i) / 4;
    grid.append(s("text", { x: x(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle", class: "tick" }, fmtTime(t, span)));
  }
  grid.append(s("line", { class: "axis", x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }));
  svg.append(grid);
  if (item.unit) svg.append(s("text", { x: 4, y: 12, class: "tick unit" }, item.unit));

  const marksBack = s("g", { class: "marks" });
  for (const m of changes) {
    marksBack.append(s("line", { class: "mark mark-change", x1: x(m.time), x2: x(m.time), y1: M.top, y2: H - M.bottom },
      s("title", {}, `change point at ${iso(m.time)}${m.text ? ": " + m.text : ""}`)));
    marksBack.append(s("text", { class: "mark-label", x: x(m.time) + 4, y: M.top + 10 }, "change point"));
  }
  for (const m of events) {
    const cx = x(m.time), by = H - M.bottom;
    marksBack.append(s("line", { class: "mark mark-event", x1: cx, x2: cx, y1: M.top, y2: by }));
    marksBack.append(s("path", { class: "mark-event-head", d: `M${cx} ${by - 7} l6 7 l-6 7 l-6 -7 z` },
      s("title", {}, `${m.kind || "event"}${m.id ? " " + m.id : ""} at ${iso(m.time)}${m.text ? ": " + m.text : ""}`)));
  }
  svg.append(marksBack);

  const lines = s("g", { class: "lines" });
  series.forEach((ser, i) => {
    let d = "", pen = false;
    for (const [t, v] of ser.points) {
      if (v === null || !Number.isFinite(v)) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${x(t).toFixed(1)} ${y(v).toFixed(1)}`;
      pen = true;
    }
    lines.append(s("path", { class: `series series-${i % 8}`, d, "data-series": seriesName(ser.labels) },
      s("title", {}, seriesName(ser.labels))));
  });
  svg.append(lines);

  // An anomaly is ringed where the first series is at its time (the nearest point).
  const first = series[0].points;
  const anomalyGroup = s("g", { class: "anomalies" });
  for (const m of anomalies) {
    let best = first[0];
    for (const p of first) if (Math.abs(p[0] - m.time) < Math.abs(best[0] - m.time)) best = p;
    const vy = best[1] === null ? H - M.bottom : y(best[1]);
    anomalyGroup.append(s("circle", { class: "mark-anomaly", cx: x(m.time), cy: vy, r: 6 },
      s("title", {}, `anomaly at ${iso(m.time)}${m.text ? ": " + m.text : ""}`)));
  }
  svg.append(anomalyGroup);

  const legend = h("ul", { class: "legend" },
    series.map((ser, i) => h("li", {}, h("span", { class: `swatch swatch-${i % 8}`, "aria-hidden": "true" }), seriesName(ser.labels))),
    changes.length ? h("li", {}, h("span", { class: "swatch swatch-change", "aria-hidden": "true" }), "change point") : null,
    anomalies.length ? h("li", {}, h("span", { class: "swatch swatch-anomaly", "aria-hidden": "true" }), "anomaly") : null,
    events.length ? h("li", {}, h("span", { class: "swatch swatch-event", "aria-hidden": "true" }), "event") : null);

  const rows = [];
  for (const ser of series) for (const [t, v] of ser.points.slice(0, 500)) rows.push([seriesName(ser.labels), iso(t), v === null ? "null" : String(v)]);
  const data = h("details", { class: "chart-data" }, h("summary", {}, "Data as a table"),
    h("table", {}, h("thead", {}, h("tr", {}, ["series", "time", "value"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
  fig.append(h("figcaption", {}, title, item.unit ? h("span", { class: "muted" }, ` (${item.unit})`) : null,
    item.truncated ? h("span", { class: "muted" }, " — cut to its caps") : null), svg, legend, data);
  return fig;
}

// A small horizontal bar chart: one bar per item ({ label, value, text }), longest first as
// given, scaled to the largest value (or to 'max'). An image with a title and a description that
// says every value, since the numbers are also in a table beside it for those who read tables.
// Bars are drawn with SVG attributes and classes only (no inline styles under the CSP).
export function bars(title, items, { max, kind = "plain", id } = {}) {
  const n = items.length;
  const top = Math.max(max || 0, ...items.map((i) => i.value || 0), 1);
  const rowH = 22, labelW = 170, barW = 300, valueW = 90;
  const w = labelW + barW + valueW, hgt = Math.max(1, n) * rowH + 4;
  const cid = id || `bars-${++uid}`;
  const svg = s("svg", { viewBox: `0 0 ${w} ${hgt}`, role: "img", "aria-labelledby": `${cid}-t ${cid}-d`,
                         class: `bars bars-${kind}`, width: w, height: hgt, preserveAspectRatio: "xMinYMin meet" });
  const desc = items.map((i) => `${i.label}: ${i.text || i.value}`).join("; ");
  svg.append(s("title", { id: `${cid}-t` }, title), s("desc", { id: `${cid}-d` }, n ? desc + "." : "Nothing to show."));
  items.forEach((item, k) => {
    const y = k * rowH + 2;
    const len = Math.max(item.value > 0 ? 2 : 0, Math.round(((item.value || 0) / top) * barW));
    const label = item.label.length > 26 ? item.label.slice(0, 25) + "…" : item.label;
    svg.append(s("text", { x: labelW - 8, y: y + 15, "text-anchor": "end", class: "bar-label" }, label, s("title", {}, item.label)));
    svg.append(s("rect", { x: labelW, y: y + 3, width: len, height: rowH - 8, rx: 2,
                           class: `bar-rect ${item.class || ""}`.trim(), "data-label": item.label, "data-value": item.value }));
    svg.append(s("text", { x: labelW + len + 6, y: y + 15, class: "bar-value" }, item.text || String(item.value)));
  });
  return h("figure", { class: "bar-chart", id: cid }, h("figcaption", {}, title), svg);
}
