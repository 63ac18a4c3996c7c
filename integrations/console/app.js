// integrations/console/app.js -- the console's entry point: reads the session, draws the header
// (who is logged in, log out) and routes the path to a page module, in the browser's history so
// that every page has its own URL (/console/analyses/ID is an analysis' stable link). Each page
// is a function (main, params, query) that draws into <main> and returns a cleanup function that
// stops its live updates when the user leaves it.
import { loadSession } from "./api.js";
import { withBase, consolePath } from "./base.js";
import { h, fill, problem } from "./dom.js";
import { analysesPage } from "./page_analyses.js";
import { analysisPage } from "./page_analysis.js";
import { analyzersPage, analyzerPage } from "./page_analyzers.js";
import { actionsPage } from "./page_actions.js";
import { insightsPage } from "./page_insights.js";
import { backtestsPage, backtestPage } from "./page_backtests.js";

const routes = [
  [/^\/console\/(?:analyses)?$/, analysesPage, "Analyses", "analyses"],
  [/^\/console\/analyses\/([^/]+)$/, analysisPage, "Analysis", "analyses"],
  [/^\/console\/analyzers$/, analyzersPage, "Analyzers", "analyzers"],
  [/^\/console\/analyzers\/([^/]+)$/, analyzerPage, "Analyzer", "analyzers"],
  [/^\/console\/actions$/, actionsPage, "Actions", "actions"],
  [/^\/console\/insights$/, insightsPage, "Insights", "insights"],
  [/^\/console\/backtests$/, backtestsPage, "Backtests", "backtests"],
  [/^\/console\/backtests\/([^/]+)$/, backtestPage, "Backtest", "backtests"],
];

let cleanup = null;

function header(session) {
  const who = document.getElementById("who");
  if (!session.auth) {
    fill(who, h("span", { class: "muted" }, "open server (no tokens)"));
    return;
  }
  // A plain form (the server answers with a redirect to the login page); its CSRF field is
  // filled only as it is sent, so the token never sits in the page's markup.
  const csrf = h("input", { type: "hidden", name: "csrf" });
  const form = h("form", { method: "post", action: withBase("/console/logout"), class: "logout" }, csrf,
    h("button", { type: "submit", id: "logout" }, "Log out"));
  form.addEventListener("submit", () => { csrf.value = session.csrf; });
  fill(who, h("span", {}, "Signed in as ", h("strong", { id: "who-token" }, session.token)), form);
}

function markNav(section) {
  for (const a of document.querySelectorAll("nav a[data-section]")) {
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function route(focus) {
  const main = document.getElementById("main");
  if (cleanup) { cleanup(); cleanup = null; }
  const path = consolePath(location.pathname);
  for (const [re, page, title, section] of routes) {
    const m = path !== null && path.match(re);
    if (!m) continue;
    document.title = `${title} · Inquest`;
    markNav(section);
    main.replaceChildren();
    try {
      cleanup = (await page(main, m.slice(1).map(decodeURIComponent), new URLSearchParams(location.search))) || null;
    } catch (err) {
      main.append(problem(err));
    }
    if (focus) {
      const h1 = main.querySelector("h1");
      (h1 || main).setAttribute("tabindex", "-1");
      (h1 || main).focus();
    }
    return;
  }
  document.title = "Not found · Inquest";
  fill(main, h("h1", {}, "Not found"), h("p", {}, "No console page at ", h("code", {}, location.pathname), "."));
}

// Follows links to console pages inside the app; others (and modified clicks) as usual.
function onClick(ev) {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  const path = consolePath(url.pathname);
  if (url.origin !== location.origin || !path || !path.startsWith("/console/") || path === "/console/login") return;
  ev.preventDefault();
  navigate(path + url.search);
}

// Shows console page 'to' ("/console/analyses/ID", without the base).
export function navigate(to, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", withBase(to));
  else history.pushState(null, "", withBase(to));
  route(true);
}

async function start() {
  const session = await loadSession();
  header(session);
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", () => route(true));
  await route(false);
}

start().catch((err) => fill(document.getElementById("main"), problem(err)));
