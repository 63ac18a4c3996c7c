// integrations/console/page_actions.js -- what the post-processor planned and did
// (GET /v1/actions): the actions waiting for a person, with approve and reject for the services
// and mitigations the token's approve list names (POST /v1/actions/ID/approve|reject); the
// recent actions; and the audit trail (GET /v1/audit, JSON lines), newest first.
import { get, api, currentSession } from "./api.js";
import { h, fill, when, badge, problem, table, announce, glob, percent } from "./dom.js";
import { withBase } from "./base.js";

const STATES = ["planned", "dry_run", "policy_denied", "awaiting_approval", "approved", "rejected", "expired", "executing",
  "retrying", "succeeded", "failed", "verifying", "verified", "verify_failed"];

// True when the session's token may decide 'x': its approve list names the service or the
// mitigation. The API decides in any case; this only hides buttons that could not work.
function mayDecide(session, x) {
  if (!session || !session.auth) return false;
  return (session.scopes.approve || []).some((g) => (x.service && glob(g).test(x.service)) || (x.name && glob(g).test(x.name)));
}

function plan(x) {
  if (!x.plan) return null;
  const p = x.plan;
  return h("details", {}, h("summary", {}, "The call it makes"),
    h("pre", { class: "text" }, `${p.method || ""} ${p.path || ""}\n${typeof p.body === "string" ? p.body : JSON.stringify(p.body, null, 2) || ""}`));
}

function pendingCard(x, session, onDecided) {
  const reason = h("input", { type: "text", id: `reason-${x.id}`, maxlength: 1024, autocomplete: "off" });
  const err = h("div");
  const may = mayDecide(session, x);
  const buttons = may ? [
    h("button", { type: "button", class: "approve", dataset: { decision: "approve" } }, "Approve"),
    h("button", { type: "button", class: "reject secondary", dataset: { decision: "reject" } }, "Reject"),
  ] : [];
  const card = h("article", { class: "action-card", id: `action-${x.id}`, dataset: { action: x.id }, "aria-labelledby": `title-${x.id}` },
    h("h3", { id: `title-${x.id}` }, `${x.type} ${x.name || ""}`, x.service ? ` on ${x.service}` : ""),
    h("dl", { class: "facts" },
      h("dt", {}, "Analysis"), h("dd", {}, h("a", { href: withBase(`/console/analyses/${encodeURIComponent(x.analysis)}`) }, h("code", {}, x.analysis)), ` (${x.analyzer})`),
      h("dt", {}, "Rule"), h("dd", {}, x.rule || "—"),
      h("dt", {}, "Confidence"), h("dd", {}, x.confidence !== undefined ? percent(x.confidence) : "—"),
      h("dt", {}, "Why it waits"), h("dd", {}, x.reason || "—"),
      h("dt", {}, "Created"), h("dd", {}, when(x.created_at)),
      h("dt", {}, "Decide by"), h("dd", {}, when(x.approval_deadline))),
    x.summary ? h("p", {}, x.summary) : null, plan(x),
    may ? h("div", { class: "decide" }, h("label", { for: `reason-${x.id}` }, "Reason (optional)"), reason, h("div", { class: "buttons" }, buttons))
      : h("p", { class: "muted" }, session && session.auth
        ? "Your token's approve list names neither this service nor this mitigation."
        : "Approving needs API tokens with an approve list (docs/config.md)."),
    err);
  for (const b of buttons) {
    b.addEventListener("click", async () => {
      for (const o of buttons) o.disabled = true;
      try {
        const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
        const now = await api("POST", `/v1/actions/${x.id}/${b.dataset.decision}`, body);
        announce(`Action ${x.id} ${now.state}`);
        onDecided(now);
      } catch (e) {
        fill(err, problem(e));
        for (const o of buttons) o.disabled = false;
      }
    });
  }
  return card;
}

function auditTable(text) {
  const records = text.split("\n").filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean).reverse();
  if (!records.length) return h("p", { class: "muted" }, "No records in this period.");
  return table(null, ["at", "action", "type", "name", "service", "transition", "actor", "reason"], records.map((r) => [
    when(r.at), h("code", {}, String(r.action || "").slice(0, 12)), r.type || "", r.name || "", r.service || "",
    [badge(r.from || "—"), " → ", badge(r.to || "—")], r.actor || "", r.reason || ""]), { class: "audit", id: "audit-table" });
}

export async function actionsPage(main, _params, q) {
  const session = currentSession();
  const pending = h("div", { id: "pending" });
  const recent = h("div", { id: "recent" });
  const audit = h("div", { id: "audit" });
  const errors = h("div");
  const stateSel = h("select", { id: "f-state" }, h("option", { value: "" }, "any state"), STATES.map((s) => h("option", { value: s }, s)));
  stateSel.value = q.get("state") || "";
  const sinceSel = h("select", { id: "f-audit-since" }, [["1h", "last hour"], ["24h", "last 24 hours"], ["7d", "last 7 days"], ["30d", "last 30 days"]].map(([v, t]) => h("option", { value: v }, t)));
  sinceSel.value = q.get("since") || "24h";

  fill(main, h("h1", {}, "Actions"), errors,
    h("section", { "aria-labelledby": "pending-h" }, h("h2", { id: "pending-h" }, "Waiting for approval"), pending),
    h("section", { "aria-labelledby": "recent-h" }, h("h2", { id: "recent-h" }, "Recent actions"),
      h("div", { class: "filters" }, h("div", { class: "field" }, h("label", { for: "f-state" }, "State"), stateSel)), recent),
    h("section", { "aria-labelledby": "audit-h" }, h("h2", { id: "audit-h" }, "Audit trail"),
      h("div", { class: "filters" }, h("div", { class: "field" }, h("label", { for: "f-audit-since" }, "Period"), sinceSel)), audit));

  async function loadPending() {
    const page = await get("/v1/actions?state=awaiting_approval&limit=500");
    if (!page.actions.length) { fill(pending, h("p", { class: "muted", id: "none-pending" }, "Nothing waits for approval.")); return; }
    fill(pending, page.actions.map((x) => pendingCard(x, session, (now) => {
      const card = document.getElementById(`action-${x.id}`);
      if (card) card.replaceWith(h("p", { class: "note", role: "status", dataset: { decided: x.id } }, `${x.type} ${x.name || ""} on ${x.service || "?"}: `, badge(now.state)));
      loadRecent();
      loadAudit();
    })));
  }
  async function loadRecent() {
    const page = await get(`/v1/actions?limit=100${stateSel.value ? "&state=" + encodeURIComponent(stateSel.value) : ""}`);
    fill(recent, page.actions.length ? table(null, ["created", "action", "type", "service", "state", "reason", "analysis"], page.actions.map((x) => [
      when(x.created_at), h("code", { id: `action-${x.id}-row` }, x.name || x.rule || x.id.slice(0, 12)), x.type, x.service || "", badge(x.state), x.reason || "",
      h("a", { href: withBase(`/console/analyses/${encodeURIComponent(x.analysis)}`) }, h("code", {}, x.analysis))]), { class: "list" })
      : h("p", { class: "muted" }, "No actions."));
  }
  async function loadAudit() {
    const text = await api("GET", `/v1/audit?since=${encodeURIComponent(sinceSel.value)}&limit=1000`, undefined, { raw: true });
    fill(audit, auditTable(text));
  }
  const guard = (fn) => () => fn().catch((e) => fill(errors, problem(e)));
  stateSel.addEventListener("change", guard(loadRecent));
  sinceSel.addEventListener("change", guard(loadAudit));
  await Promise.all([loadPending(), loadRecent(), loadAudit()]).catch((e) => fill(errors, problem(e)));

  // New approvals appear without a reload: the pending list is read again every 5 s while the
  // tab is visible, keeping the cards a user is typing a reason into.
  let stopped = false, timer = null;
  async function poll() {
    if (stopped) return;
    if (!document.hidden && !pending.contains(document.activeElement)) {
      try {
        const page = await get("/v1/actions?state=awaiting_approval&limit=500");
        const shown = new Set([...pending.querySelectorAll("article[data-action]")].map((a) => a.dataset.action));
        const now = new Set(page.actions.map((x) => x.id));
        if (page.actions.length !== shown.size || [...now].some((id) => !shown.has(id))) {
          await loadPending();
          const added = [...now].filter((id) => !shown.has(id)).length;
          if (added) announce(`${added} new action${added > 1 ? "s" : ""} waiting for approval`);
        }
      } catch (e) { fill(errors, problem(e)); }
    }
    if (!stopped) timer = setTimeout(poll, 5000);
  }
  timer = setTimeout(poll, 5000);
  return () => { stopped = true; clearTimeout(timer); };
}
