// integrations/console/feedback.js -- on an analysis' page: the verdict people gave on it ("was
// the root cause right?"), a form to give one (POST /v1/analyses/ID/feedback: correct, wrong or
// partly, an optional note, and for wrong or partly the root cause it should have been), its
// history, and the one step that turns a judged analysis into a backtest case: a download of
// case.json and recording.json (GET /v1/analyses/ID/case?format=tar) and the exact command that
// makes the same case on the author's machine. What the case will expect is said in words.
import { get, post } from "./api.js";
import { h, fill, when, badge, problem, table, announce } from "./dom.js";
import { withBase } from "./base.js";

const VERDICTS = [
  ["correct", "Correct", "the root cause it found is what caused it"],
  ["wrong", "Wrong", "the root cause it found is not what caused it"],
  ["partly", "Partly", "part of the story, or one of several causes"],
];
const TAG = /^[A-Za-z0-9_.:/-]{1,128}$/;

function verdictNow(fb) {
  if (!fb) return h("p", { class: "muted verdict-now", id: "verdict-now" }, "No verdict yet.");
  return h("p", { class: "verdict-now", id: "verdict-now", dataset: { verdict: fb.verdict } },
    "Current verdict: ", badge(fb.verdict),
    fb.root_cause ? [" — it should have been ", h("code", { id: "verdict-cause" }, fb.root_cause)] : null,
    h("span", { class: "muted" }, " · by ", fb.by || "someone", " ", when(fb.at)),
    fb.note ? h("span", {}, " — “", fb.note, "”") : null);
}

function history(list) {
  if (!list || list.length < 2) return null;
  return h("details", { id: "verdict-history" }, h("summary", {}, `Earlier verdicts (${list.length - 1})`),
    table(null, ["when", "verdict", "root cause", "by", "note"],
      list.slice(1).map((v) => [when(v.at), badge(v.verdict), v.root_cause ? h("code", {}, v.root_cause) : "—", v.by || "", v.note || ""])));
}

// The causes the analysis named, as suggestions for the root cause it should have been.
function causesOf(result) {
  const seen = new Set();
  for (const f of (result && result.findings) || []) if (f.root_cause) seen.add(f.root_cause);
  return [...seen];
}

// The case section: the download, the command, and what the case will expect; or why there is
// none (no recording was kept).
async function caseSection(box, id) {
  let info;
  try {
    info = await get(`/v1/analyses/${encodeURIComponent(id)}/case?format=summary`);
  } catch (err) {
    if (err.code === "no_recording") {
      fill(box, h("div", { class: "problem", id: "case-no-recording", role: "note" },
        h("p", {}, h("strong", {}, "No recording was kept of this analysis,"), " so it cannot become a backtest case: a case replays the connector calls the analysis made."),
        h("p", {}, "The service keeps a recording when ", h("code", {}, "recordings.share"),
          " in its config picks the analysis, or when it is submitted with ", h("code", {}, "\"record\": true"),
          " (", h("code", {}, "inquest submit --record"), "). Run it again that way, judge it, and the case is one click away.")));
    } else fill(box, problem(err));
    return;
  }
  const e = info.expect || {};
  const expects = [];
  expects.push(h("li", {}, "status ", h("code", {}, e.status || "ok"), e.conclusion ? [", conclusion ", h("code", {}, e.conclusion)] : null));
  if ("root_cause" in e) expects.push(h("li", {}, "root cause ", e.root_cause ? h("code", { id: "case-expects" }, e.root_cause) : "none"));
  else expects.push(h("li", {}, "no root cause in particular"));
  for (const a of e.absent || []) expects.push(h("li", {}, "not ", h("code", { class: "case-absent" }, a.root_cause || a.title || "?")));
  if ((e.findings || []).length) expects.push(h("li", {}, `${e.findings.length} finding${e.findings.length > 1 ? "s" : ""} by root cause and title`));
  const command = h("code", { id: "case-command" }, info.command);
  const copy = h("button", { type: "button", class: "secondary", id: "case-copy" }, "Copy");
  copy.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(info.command); announce("Command copied"); }
    catch { announce("Select the command to copy it"); }
  });
  const href = withBase(`/v1/analyses/${encodeURIComponent(id)}/case?format=tar`);
  fill(box,
    h("p", {}, "The verdict makes this analysis a backtest case (", info.expectation, "). The case expects:"),
    h("ul", { id: "case-expect" }, expects),
    h("p", {}, h("a", { href, download: `${info.name}.tar`, class: "button", id: "case-download" }, "Download the case"),
      " ", h("span", { class: "muted" }, `${info.name}.tar: case.json and recording.json; unpack it into `,
        h("code", {}, `${info.folder || "<analyzer>.cases"}/`), " beside the analyzer")),
    h("p", {}, "Or make the same case on your machine, beside the analyzer:"),
    h("div", { class: "command" }, command, copy));
}

// Draws the feedback and case sections of analysis 'a' into 'box'.
export async function feedbackSection(box, a) {
  const id = a.id;
  const nowBox = h("div");
  const histBox = h("div");
  const caseBox = h("div", { id: "case" });
  const caseH = h("section", { "aria-labelledby": "case-h", hidden: true },
    h("h2", { id: "case-h" }, "Make a backtest case"), caseBox);
  const summaryBox = h("div", { id: "fb-problems", tabindex: "-1" });
  const errCause = h("p", { class: "field-error", id: "err-fb-cause" });
  const errVerdict = h("p", { class: "field-error", id: "err-fb-verdict" });
  const radios = VERDICTS.map(([v, label, help]) => h("div", {},
    h("input", { type: "radio", name: "verdict", value: v, id: `fb-${v}`, "aria-describedby": `fb-${v}-help` }), " ",
    h("label", { for: `fb-${v}` }, h("strong", {}, label)), " ", h("span", { class: "muted", id: `fb-${v}-help` }, `— ${help}`)));
  // A native radio group (arrow keys move between the choices), named by its legend.
  const group = h("fieldset", { class: "verdict-options", id: "fb-verdict", role: "radiogroup", "aria-required": "true",
    "aria-labelledby": "fb-verdict-legend", "aria-describedby": "err-fb-verdict" },
    h("legend", { id: "fb-verdict-legend" }, "Was the root cause right?"), radios, errVerdict);
  const causes = causesOf(a.result);
  const list = h("datalist", { id: "fb-causes" }, causes.map((c) => h("option", { value: c })));
  const cause = h("input", { type: "text", id: "fb-cause", name: "root_cause", list: "fb-causes", autocomplete: "off",
    spellcheck: "false", maxlength: 128, disabled: true, "aria-describedby": "help-fb-cause err-fb-cause" });
  const note = h("textarea", { id: "fb-note", name: "note", rows: 2, maxlength: 2000, "aria-describedby": "help-fb-note" });
  const send = h("button", { type: "submit", id: "fb-submit" }, "Record verdict");
  const form = h("form", { id: "feedback-form", novalidate: true, "aria-labelledby": "feedback-h" },
    group,
    h("div", { class: "field" }, h("label", { for: "fb-cause" }, "Root cause it should have been"), cause, list,
      h("p", { class: "help", id: "help-fb-cause" }, "optional, for wrong or partly: a tag such as db.saturation; the backtest case then expects it"),
      errCause),
    h("div", { class: "field" }, h("label", { for: "fb-note" }, "Note"), note,
      h("p", { class: "help", id: "help-fb-note" }, "optional: why, in a few words (at most 2000 characters)")),
    send);
  fill(box, h("section", { "aria-labelledby": "feedback-h", id: "feedback" },
    h("h2", { id: "feedback-h" }, "Feedback"), nowBox, summaryBox, form, histBox), caseH);

  form.addEventListener("change", () => {
    const v = form.elements.verdict.value;
    cause.disabled = !(v === "wrong" || v === "partly");
  });

  function show(answer) {
    fill(nowBox, verdictNow(answer.feedback));
    fill(histBox, history(answer.history));
    caseH.hidden = !answer.feedback;
    if (answer.feedback) caseSection(caseBox, id);
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const el of [cause, group]) el.removeAttribute("aria-invalid");
    errCause.textContent = errVerdict.textContent = "";
    fill(summaryBox);
    const verdict = form.elements.verdict.value;
    const body = { verdict };
    const problems = [];
    if (!verdict) problems.push(["verdict", "choose correct, wrong or partly", group, errVerdict]);
    const c = cause.value.trim();
    if (c && !cause.disabled) {
      if (!TAG.test(c)) problems.push(["root_cause", "a tag of letters, digits and _ . : / - (db.saturation)", cause, errCause]);
      else body.root_cause = c;
    }
    if (note.value.trim()) body.note = note.value.trim();
    if (problems.length) {
      for (const [, message, el, err] of problems) { err.textContent = message; el.setAttribute("aria-invalid", "true"); }
      fill(summaryBox, h("div", { class: "problem", role: "alert" }, h("p", {}, h("strong", {}, "Please fix these fields:")),
        h("ul", {}, problems.map(([field, message]) => h("li", {}, h("code", {}, field), ": ", message)))));
      (problems[0][2] === group ? form.querySelector("input[name=verdict]") : problems[0][2]).focus();
      return;
    }
    send.disabled = true;
    try {
      // The POST answers the verdict and a count; the earlier verdicts only when asked.
      const answer = await post(`/v1/analyses/${encodeURIComponent(id)}/feedback?history=true`, body);
      show(answer);
      announce(`Verdict recorded: ${answer.feedback.verdict}`);
      note.value = "";
    } catch (err) {
      for (const f of err.fields || []) {
        const [el, e] = f.field === "root_cause" ? [cause, errCause] : [group, errVerdict];
        e.textContent = f.message;
        el.setAttribute("aria-invalid", "true");
      }
      fill(summaryBox, problem(err));
      summaryBox.focus();
    } finally {
      send.disabled = false;
    }
  });

  try {
    show(await get(`/v1/analyses/${encodeURIComponent(id)}/feedback`));
  } catch (err) {
    fill(nowBox, problem(err));
  }
}
