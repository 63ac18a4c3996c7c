// integrations/console/page_analyzers.js -- the analyzer catalogue (GET /v1/analyzers) and one
// analyzer (GET /v1/analyzers/NAME): its input schema, and a form with a typed field per input
// that starts an analysis (POST /v1/analyses). The browser checks what the schema says it can
// (required, numbers and their bounds, lengths, patterns) before sending; the API checks
// everything again, and its field problems are shown at their fields.
import { get, post } from "./api.js";
import { h, fill, problem, table, announce } from "./dom.js";
import { withBase } from "./base.js";
import { navigate } from "./app.js";

export async function analyzersPage(main) {
  const { analyzers } = await get("/v1/analyzers");
  analyzers.sort((a, b) => a.name.localeCompare(b.name));
  const search = h("input", { id: "a-search", type: "search", autocomplete: "off" });
  const tbody = h("tbody");
  const count = h("p", { class: "muted", role: "status" });
  function draw() {
    const term = search.value.trim().toLowerCase();
    const shown = analyzers.filter((a) => !term || [a.name, a.owner, a.description, ...(a.tags || [])].join(" ").toLowerCase().includes(term));
    fill(tbody, shown.map((a) => h("tr", { dataset: { name: a.name } },
      h("td", {}, h("a", { href: withBase(`/console/analyzers/${encodeURIComponent(a.name)}`) }, a.name)),
      h("td", {}, a.owner || ""), h("td", {}, a.description || ""), h("td", {}, a.version || ""),
      h("td", {}, (a.tags || []).map((t) => h("span", { class: "label" }, t))))));
    count.textContent = `${shown.length} of ${analyzers.length} analyzers`;
  }
  search.addEventListener("input", draw);
  fill(main, h("h1", {}, "Analyzers"),
    h("div", { class: "filters" }, h("div", { class: "field" }, h("label", { for: "a-search" }, "Find"), search)),
    h("table", { class: "list" }, h("caption", { class: "visually-hidden" }, "Analyzers this token may use"),
      h("thead", {}, h("tr", {}, ["Name", "Owner", "Description", "Version", "Tags"].map((c) => h("th", { scope: "col" }, c)))), tbody),
    count);
  draw();
}

function typeOf(p) {
  const t = Array.isArray(p.type) ? p.type : [p.type];
  if (p.enum) return "enum";
  if (t.includes("boolean")) return "boolean";
  if (t.includes("integer")) return "integer";
  if (t.includes("number") && !t.includes("string")) return "number";
  if (t.includes("array") || t.includes("object")) return "json";
  return "string";
}

function describeType(p) {
  const kind = typeOf(p);
  const bits = [kind === "string" && Array.isArray(p.type) ? "text or number" : kind];
  if (p.minimum !== undefined) bits.push(`min ${p.minimum}`);
  if (p.maximum !== undefined) bits.push(`max ${p.maximum}`);
  if (p.minLength !== undefined) bits.push(`at least ${p.minLength} characters`);
  if (p.enum) bits.push(`one of ${p.enum.join(", ")}`);
  return bits.join(", ");
}

// The control of input 'name' with schema 'p'; 'required' from the schema's list.
function control(name, p, required) {
  const id = `in-${name}`;
  const kind = typeOf(p);
  const common = { id, name, "aria-describedby": `help-${name} err-${name}` };
  if (kind === "enum") {
    const sel = h("select", { ...common, required },
      required ? null : h("option", { value: "" }, p.default !== undefined ? `default (${p.default})` : "—"),
      p.enum.map((v) => h("option", { value: v }, v)));
    if (required && p.default !== undefined) sel.value = p.default;
    return sel;
  }
  if (kind === "boolean") {
    const box = h("input", { ...common, type: "checkbox" });
    box.checked = p.default === true;
    return box;
  }
  if (kind === "integer" || kind === "number") {
    return h("input", { ...common, type: "number", inputmode: kind === "integer" ? "numeric" : "decimal",
      step: kind === "integer" ? "1" : "any", min: p.minimum, max: p.maximum, required,
      placeholder: p.default !== undefined ? String(p.default) : null });
  }
  if (kind === "json") {
    return h("textarea", { ...common, rows: 3, required, spellcheck: "false",
      placeholder: p.default !== undefined ? JSON.stringify(p.default) : "JSON, or a,b,c / k=v,k2=v2" });
  }
  return h("input", { ...common, type: "text", required, spellcheck: "false", autocomplete: "off",
    minlength: p.minLength, maxlength: p.maxLength,
    placeholder: p.default !== undefined ? String(p.default) : null });
}

// The value to send for control 'el' of kind 'kind', or undefined to leave the input out (its
// default applies).
function valueOf(el, kind) {
  if (kind === "boolean") return el.checked;
  const v = el.value.trim();
  if (v === "") return undefined;
  if (kind === "integer" || kind === "number") return Number(v);
  if (kind === "json" && /^[[{]/.test(v)) {
    try { return JSON.parse(v); } catch { return v; }
  }
  return v;
}

// The pattern of 'p' as a JavaScript RegExp, or null when JavaScript cannot read it (the API
// checks it in any case). Schema patterns are PCRE2 and unanchored unless anchored, as test() is.
function patternOf(p) {
  if (!p.pattern) return null;
  try { return new RegExp(p.pattern, "u"); } catch { return null; }
}

export async function analyzerPage(main, [name]) {
  const a = await get(`/v1/analyzers/${encodeURIComponent(name)}`);
  const schema = a.inputs || { properties: {} };
  const props = Object.entries(schema.properties || {});
  const required = new Set(schema.required || []);
  const fields = new Map(); // input name -> { el, kind, err, pattern }
  const summary = h("div", { id: "form-problems", tabindex: "-1" });

  const rows = props.map(([n, p]) => {
    const el = control(n, p, required.has(n));
    const err = h("p", { class: "field-error", id: `err-${n}` });
    fields.set(`inputs.${n}`, { el, kind: typeOf(p), err, pattern: patternOf(p) });
    const label = h("label", { for: `in-${n}` }, n, required.has(n) ? h("span", { class: "req" }, " (required)") : null);
    const help = h("p", { class: "help", id: `help-${n}` }, describeType(p),
      p.default !== undefined ? `; default ${JSON.stringify(p.default)}` : "",
      p.description ? ` — ${p.description}` : "");
    return h("div", { class: `field field-${typeOf(p)}` }, typeOf(p) === "boolean" ? [el, " ", label] : [label, el], help, err);
  });

  const priority = h("select", { id: "in-priority", name: "priority", "aria-describedby": "err-priority" },
    ["interactive", "alert", "batch"].map((v) => h("option", { value: v }, v)));
  const labels = h("textarea", { id: "in-labels", name: "labels", rows: 2, spellcheck: "false",
    placeholder: "service=checkout", "aria-describedby": "help-labels err-labels" });
  const extra = [
    ["priority", priority, "interactive runs before alert and batch"],
    ["labels", labels, "one NAME=VALUE a line; carried to the result, for rules and filtering"],
  ].map(([n, el, help]) => {
    const err = h("p", { class: "field-error", id: `err-${n}` });
    fields.set(n, { el, kind: "string", err });
    return h("div", { class: "field" }, h("label", { for: `in-${n}` }, n), el, h("p", { class: "help", id: `help-${n}` }, help), err);
  });

  const submit = h("button", { type: "submit", id: "start" }, "Start analysis");
  const form = h("form", { id: "start-form", novalidate: true, "aria-labelledby": "start-h" },
    h("fieldset", {}, h("legend", {}, "Inputs"), rows.length ? rows : h("p", { class: "muted" }, "This analyzer takes no inputs.")),
    h("fieldset", {}, h("legend", {}, "Request"), extra), submit);

  fill(main, h("h1", {}, a.name),
    h("p", {}, a.description || ""),
    h("dl", { class: "facts" }, h("dt", {}, "Owner"), h("dd", {}, a.owner || "—"), h("dt", {}, "Version"), h("dd", {}, a.version || "—"),
      h("dt", {}, "Tags"), h("dd", {}, (a.tags || []).join(", ") || "—")),
    h("section", { "aria-labelledby": "schema-h" }, h("h2", { id: "schema-h" }, "Input schema"),
      table(null, ["input", "type", "required", "default", "description"],
        props.map(([n, p]) => [h("code", {}, n), describeType(p), required.has(n) ? "yes" : "no",
          p.default !== undefined ? h("code", {}, JSON.stringify(p.default)) : "", p.description || ""]))),
    h("section", { "aria-labelledby": "start-h" }, h("h2", { id: "start-h" }, "Start an analysis"), summary, form));

  function clear() {
    for (const f of fields.values()) { f.err.textContent = ""; f.el.removeAttribute("aria-invalid"); }
    fill(summary);
  }
  function mark(field, message) {
    const f = fields.get(field);
    if (!f) return false;
    f.err.textContent = message;
    f.el.setAttribute("aria-invalid", "true");
    return true;
  }
  function showProblems(list, title) {
    fill(summary, h("div", { class: "problem", role: "alert" }, h("p", {}, h("strong", {}, title)),
      h("ul", {}, list.map(([field, message]) => {
        const f = fields.get(field);
        return h("li", {}, f ? h("a", { href: `#${f.el.id}` }, field) : h("code", {}, field || "request"), ": ", message);
      }))));
    const first = list.map(([field]) => fields.get(field)).find(Boolean);
    (first ? first.el : summary).focus();
  }
  summary.addEventListener("click", (ev) => {
    const link = ev.target.closest("a[href^='#']");
    if (!link) return;
    ev.preventDefault();
    document.getElementById(link.getAttribute("href").slice(1)).focus();
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear();
    const problems = [];
    const inputs = {};
    for (const [field, f] of fields) {
      if (!field.startsWith("inputs.")) continue;
      f.el.setCustomValidity("");
      const v = valueOf(f.el, f.kind);
      if (f.pattern && typeof v === "string" && !f.pattern.test(v)) f.el.setCustomValidity(`must match ${f.pattern.source}`);
      if (!f.el.checkValidity()) problems.push([field, f.el.validationMessage]);
      else if (v !== undefined) inputs[field.slice(7)] = v;
    }
    const body = { analyzer: a.name, inputs, priority: priority.value };
    const lines = labels.value.split("\n").map((l) => l.trim()).filter(Boolean);
    if (lines.length) {
      body.labels = {};
      for (const l of lines) {
        const eq = l.indexOf("=");
        if (eq < 1) problems.push(["labels", `"${l}" is not NAME=VALUE`]);
        else body.labels[l.slice(0, eq).trim()] = l.slice(eq + 1).trim();
      }
    }
    for (const [field, message] of problems) mark(field, message);
    if (problems.length) { showProblems(problems, "Please fix these fields:"); return; }
    submit.disabled = true;
    try {
      const out = await post("/v1/analyses", body);
      announce(`Analysis ${out.id} ${out.deduplicated ? "was already submitted" : "queued"}`);
      navigate(`/console/analyses/${encodeURIComponent(out.id)}`);
    } catch (err) {
      const list = (err.fields || []).map((f) => [f.field, f.message]);
      for (const [field, message] of list) mark(field, message);
      if (list.length) showProblems(list, `The server refused the request (${err.code}):`);
      else fill(summary, problem(err));
      submit.disabled = false;
    }
  });
}
