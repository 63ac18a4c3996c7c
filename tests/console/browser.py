"""tests/console/browser.py -- the console driven by a real browser (Debian's chromium headless
through chromium-driver, tests/console/webdriver.py) against a running `inquest serve` with real
Redis, a worker and serve's embedded post-processor, which tests/console/browser starts.

    browser.py URL WORKDIR [--screenshots DIR]
    browser.py URL WORKDIR --proxied

With --proxied, URL is a proxy's with a path (http://127.0.0.1:PORT/inquest, tests/console/
strip_proxy.py) that serve's server.external_url names, and the scenario is a shorter one: the
console loads there, logs in, shows an analysis and lists it, with every path it uses under
that path, and logs out.

Environment: ONCALL_TOKEN (may use every analyzer and approve actions on service checkout),
VIEWER_TOKEN (team-console's analyzers only, approves nothing), STANDIN_LOG (the JSON lines the
mitigation's stand-in recorded). Prints one line per check; exits 0 when all held, 1 otherwise.
With --screenshots, also writes a PNG of each page in light and in dark mode into DIR.
Every wait is for a DOM condition (or an HTTP answer) with a timeout, never a bare sleep.
"""
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webdriver import Browser, Timeout, KEYS  # noqa: E402

URL, WORK = sys.argv[1], sys.argv[2]
SHOTS = sys.argv[sys.argv.index("--screenshots") + 1] if "--screenshots" in sys.argv else None
ONCALL, VIEWER = os.environ["ONCALL_TOKEN"], os.environ["VIEWER_TOKEN"]
failed = 0


def say(msg):
    print(f"browser: {msg}", file=sys.stderr, flush=True)


def check(what, cond, detail=""):
    global failed
    if cond:
        say(f"ok: {what}")
    else:
        failed += 1
        say(f"FAIL: {what}{': ' + str(detail) if detail else ''}")


def http(method, path, body=None, headers=None):
    """One request to serve without the browser: (status, parsed JSON or text, headers)."""
    req = urllib.request.Request(URL + path, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, text, hdrs = res.status, res.read().decode(), res.headers
    except urllib.error.HTTPError as e:
        status, text, hdrs = e.code, e.read().decode(), e.headers
    try:
        return status, json.loads(text), hdrs
    except ValueError:
        return status, text, hdrs


def in_page_fetch(b, method, path, headers=None, body=None):
    """A fetch from the console's own page (same origin, with its cookie): [status, body]."""
    return b.js("""
        const [method, path, headers, body] = [arguments[0], arguments[1], arguments[2], arguments[3]];
        return fetch(path, {method, headers, body, credentials: 'same-origin'})
          .then(async r => [r.status, await r.text()]);""", method, path, headers or {}, body)


def session_cookie(b):
    return next((c for c in b.cookies() if c["name"] == "inquest_session"), None)


def login(b, token, next_path="/console/analyses"):
    b.get(URL + next_path)
    b.wait_for("#token")
    b.find("#token").send_keys(token)
    b.find("#login-form button[type=submit]").click()
    b.wait_until("the page after the login", lambda: "/console/login" not in b.url and b.exists("#who-token"))


def no_console_errors(b, where):
    errors = [e for e in b.console_errors() if "favicon" not in e]
    check(f"no script errors or CSP violations on {where}", not errors, errors[:3])


def shot(b, name):
    if not SHOTS:
        return
    for scheme in ("light", "dark"):
        b.color_scheme(scheme)
        b.screenshot(os.path.join(SHOTS, f"{name}-{scheme}.png"))
    b.color_scheme("light")


def main():
    with Browser(log_dir=WORK) as b:
        # ---- login, cookie, logout ---------------------------------------------------------
        b.get(URL + "/console/analyses?status=ok")
        b.wait_for("#login-form")
        check("a page without a session sends the browser to the login form, remembering the page",
              "/console/login?next=" in b.url and "analyses" in b.url, b.url)
        shot(b, "login")
        b.find("#token").send_keys("not-a-token")
        b.find("#login-form button[type=submit]").click()
        b.wait_until("the login error", lambda: b.exists("#login-error") and b.find("#login-error").prop("hidden") is False)
        check("a wrong token is refused and the form says so", "error=invalid" in b.url, b.url)
        check("the token field is marked invalid", b.find("#token").attr("aria-invalid") == "true")
        b.find("#token").send_keys(ONCALL)
        b.find("#login-form button[type=submit]").click()
        b.wait_until("the list after the login", lambda: b.exists("#analyses-rows") and "/console/login" not in b.url)
        check("the login leads back to the page asked for", b.url.endswith("/console/analyses?status=ok"), b.url)
        check("the header names the token", b.find("#who-token").text == "oncall")
        c = session_cookie(b)
        check("the session cookie is HttpOnly, SameSite=Strict, Path=/",
              c and c["httpOnly"] and c.get("sameSite") == "Strict" and c["path"] == "/", c)
        check("scripts cannot read the session cookie", b.js("return document.cookie") == "")
        csrf = json.loads(in_page_fetch(b, "GET", "/console/session")[1])["csrf"]
        html = b.js("return document.documentElement.outerHTML")
        check("the page's markup holds neither the token nor the CSRF token", ONCALL not in html and csrf not in html)
        no_console_errors(b, "the list")

        # ---- CSRF and origins --------------------------------------------------------------
        body = json.dumps({"analyzer": "console.chart", "inputs": {"service": "checkout"}})
        st, text = in_page_fetch(b, "POST", "/v1/analyses", {"Content-Type": "application/json"}, body)
        check("a POST with the session cookie but no CSRF token is refused (403 csrf)",
              st == 403 and json.loads(text)["error"]["code"] == "csrf", (st, text[:200]))
        st, text = in_page_fetch(b, "POST", "/v1/analyses", {"Content-Type": "application/json", "X-Inquest-CSRF": "0" * 64}, body)
        check("a POST with a wrong CSRF token is refused (403 csrf)", st == 403 and "csrf" in text, (st, text[:200]))
        st, text = in_page_fetch(b, "POST", "/console/logout")
        check("a logout without the CSRF token is refused (403)", st == 403, (st, text[:200]))
        st, text = in_page_fetch(b, "GET", "/v1/analyses?limit=1")
        check("a GET needs no CSRF token", st == 200, (st, text[:200]))
        cookie = f"inquest_session={c['value']}"
        st, out, _ = http("POST", "/v1/analyses", body.encode(), {"Cookie": cookie, "X-Inquest-CSRF": csrf,
                                                                 "Origin": "http://attacker.example"})
        check("the right CSRF token from another origin is refused (403)", st == 403, (st, out))
        st, out, _ = http("POST", "/console/login", f"token={ONCALL}".encode(),
                          {"Origin": "http://attacker.example", "Content-Type": "application/x-www-form-urlencoded"})
        check("a login form posted from another origin is refused (403)", st == 403, (st, out))
        st, out, _ = http("GET", "/v1/analyses?limit=1", None, {"Cookie": "inquest_session=v1.oncall.9999999999.x.y.z"})
        check("a forged session cookie is refused (401)", st == 401, (st, out))
        b.console_errors()  # the refusals above are logged by the browser, on purpose

        # ---- the analyzer form -------------------------------------------------------------
        b.find("nav a[data-section=analyzers]").click()
        b.wait_for("tr[data-name='console.chart'] a").click()
        b.wait_for("#start-form")
        check("the form has a typed field per input",
              b.find("#in-points").attr("type") == "number" and b.find("#in-noisy").attr("type") == "checkbox"
              and b.find("#in-region").prop("tagName") == "SELECT" and b.find("#in-service").prop("required"))
        shot(b, "analyzer")
        b.find("#in-service").send_keys("Not Valid")
        b.find("#start").click()
        b.wait_for("#err-service", text="match")
        check("the browser refuses a value its pattern does not take, at its field",
              b.find("#in-service").attr("aria-invalid") == "true" and b.exists("#form-problems [role=alert]"))
        b.find("#in-service").clear().send_keys("checkout")
        b.find("#in-window").send_keys("2m")
        b.find("#start").click()
        err = b.wait_for("#err-window", text="")
        b.wait_until("the API's field error", lambda: b.find("#err-window").text.strip())
        check("the API's field error is shown at its field (inputs.window below its minimum)",
              b.find("#in-window").attr("aria-invalid") == "true" and "inputs.window" in b.find("#form-problems").text,
              err.text)
        b.find("#in-window").clear().send_keys("30m")
        b.find("#in-ms").send_keys("4000")
        b.find("#in-labels").send_keys("service=checkout\napprove=yes")
        b.find("#start").click()
        b.wait_until("the new analysis' page", lambda: "/console/analyses/" in b.url)
        aid = b.url.rsplit("/", 1)[1]
        b.console_errors()  # the API's 400 above is logged by the browser, on purpose
        check("the form started an analysis and opened its page", len(aid) >= 8, b.url)

        # ---- watch it finish in the list ---------------------------------------------------
        b.find("nav a[data-section=analyses]").click()
        row = f"#analyses-rows tr[data-id='{aid}']"
        b.wait_for(row)
        first = b.find(row).attr("data-status")
        check("the list shows the analysis before it finished", first in ("queued", "running"), first)
        b.wait_until("the row to finish without a reload", lambda: b.find(row).attr("data-status") == "ok", timeout=40)
        check("the row turned ok by itself (live update)", b.find(f"{row} .status").text.startswith("ok"))
        b.wait_until("the live region's announcement", lambda: aid in b.find("#live").text, timeout=5)
        check("the finish was announced in the live region", "finished: ok" in b.find("#live").text, b.find("#live").text)
        b.find("#f-service").send_keys("checkout")
        b.find("#f-status").select("ok")
        b.find(".filters button[type=submit]").click()
        b.wait_until("the filtered list", lambda: "service=checkout" in b.url and b.exists(row))
        check("filtering by service label and status keeps it", b.exists(row))
        shot(b, "analyses")

        # ---- open it: the chart ------------------------------------------------------------
        b.find(f"{row} a").click()
        path = b.wait_for("svg.chart-svg path.series")
        d = path.attr("d") or ""
        check("the analysis page draws the series as an SVG path", d.startswith("M") and d.count("L") >= 50, d[:60])
        check("the change point is marked", b.exists("svg.chart-svg line.mark-change"))
        check("the two anomalies are ringed", len(b.find_all("svg.chart-svg circle.mark-anomaly")) == 2)
        check("the deploy is marked", b.exists("svg.chart-svg .mark-event-head"))
        check("the chart has a text description", "change point at" in b.find("svg.chart-svg desc").prop("textContent"))
        titles = [e.text for e in b.find_all("article.finding h3")]
        check("findings are ranked by confidence", titles and titles[0].startswith("checkout:") and titles[-1] == "Traffic is flat", titles)
        check("log patterns are a table", "upstream timeout" in b.find("table.log-patterns").text)
        check("the steps are listed", "wait on mock" in b.find("table.steps").text)
        calls = b.find("table.calls").text
        check("every connector call is listed with its timing", "mock" in calls and re.search(r"\b4\.\d s\b", calls), calls)
        no_console_errors(b, "the analysis")
        shot(b, "analysis")

        # ---- judge it, and make a backtest case of it ------------------------------------------
        b.wait_for("#feedback-form")
        check("the analysis has no verdict yet", "No verdict yet" in b.find("#verdict-now").text)
        check("the verdicts are a radio group with its legend",
              len(b.find_all("#fb-verdict input[type=radio][name=verdict]")) == 3
              and "root cause right" in b.find("#fb-verdict legend").text)
        b.find("#fb-submit").click()
        b.wait_for("#err-fb-verdict", text="choose")
        check("a verdict is required, said at its field", b.find("#fb-verdict").attr("aria-invalid") == "true"
              and b.exists("#fb-problems [role=alert]"))
        check("the root cause field waits for wrong or partly", b.find("#fb-cause").prop("disabled") is True)
        b.find("label[for=fb-correct]").click()
        b.keys(KEYS["DOWN"])  # the keyboard moves within the radio group: correct -> wrong
        b.wait_until("the root cause field to open", lambda: b.find("#fb-cause").prop("disabled") is False)
        check("the arrow key chooses the next verdict, which opens the root cause field",
              b.find("#fb-wrong").prop("checked") is True)
        b.find("#fb-cause").send_keys("db.saturation")
        b.find("#fb-note").send_keys("the database was saturated")
        b.find("#fb-submit").click()
        now = b.wait_for("#verdict-now[data-verdict=wrong]")
        check("the verdict is recorded and shown, with the cause it should have been",
              "db.saturation" in now.text and "token:oncall" in now.text and "saturated" in now.text, now.text)
        b.wait_until("the verdict's announcement", lambda: "Verdict recorded: wrong" in b.find("#live").text, timeout=5)
        check("the verdict was announced in the live region", True)
        dl = b.wait_for("#case-download")
        href = dl.attr("href") or ""
        check("a judged analysis offers its backtest case to download",
              href.endswith(f"/v1/analyses/{aid}/case?format=tar") and (dl.attr("download") or "").endswith(".tar"), href)
        check("... and shows the command that makes it",
              b.find("#case-command").text.startswith(f"inquest case from-analysis {aid} --remote "), b.find("#case-command").text)
        check("... saying what the case will expect", b.find("#case-expects").text == "db.saturation"
              and "bad_deploy" in b.find("#case-expect").text, b.find("#case-expect").text)
        st, size, kind = b.js("""return fetch(arguments[0], {credentials: 'same-origin'})
              .then(async r => [r.status, (await r.arrayBuffer()).byteLength, r.headers.get('Content-Type')]);""", href)
        check("the download is a tar of the case", st == 200 and kind == "application/x-tar" and size > 2048, (st, size, kind))
        no_console_errors(b, "the feedback")
        shot(b, "analysis-judged")

        # ---- approve its action ------------------------------------------------------------
        b.find("nav a[data-section=actions]").click()
        card = b.wait_for("article[data-action]", timeout=40)
        action = card.attr("data-action")
        check("the mitigation waits for approval in the console", "rollback" in card.text and aid in card.text, card.text[:200])
        shot(b, "actions")
        b.find(f"#reason-{action}").send_keys("checked in the console")
        b.find(f"#action-{action} button.approve").click()
        note = b.wait_for(f"[data-decided='{action}']")
        check("approving answers with the action approved", "approved" in note.text, note.text)
        b.wait_for("#audit-table", text="checked in the console", timeout=20)
        check("the audit trail shows the approval by the token", "token:oncall" in b.find("#audit-table").text)
        log = os.environ.get("STANDIN_LOG")
        if log:
            def ran():
                with open(log) as f:
                    return any(json.loads(line).get("path") == "/rollback" for line in f if line.strip())
            try:
                b.wait_until("the approved mitigation's call", ran, timeout=20)
                check("the approved mitigation ran", True)
            except Timeout as e:
                check("the approved mitigation ran", False, e)
        no_console_errors(b, "the actions")

        # ---- insights ----------------------------------------------------------------------
        b.find("nav a[data-section=insights]").click()
        b.wait_for("#insights-summary")

        def ranked():
            if not b.exists("#services article[data-service=checkout]"):
                b.find("form.filters button[type=submit]").click()  # the job counts it soon
                return False
            return b.exists("span.precision[data-analyzer='console.chart']")
        b.wait_until("the analysis in the insights", ranked, timeout=20)
        card = b.find("#services article[data-service=checkout]")
        check("insights rank the root causes of the service", "bad_deploy" in card.text and "1 analysis" in card.text, card.text[:200])
        check("... with a bar chart that describes itself",
              b.exists("#services svg[role=img] rect.bar-rect[data-label=bad_deploy]")
              and "bad_deploy: 1" in b.find("#services svg desc").prop("textContent"))
        check("... how analyses concluded, charted", b.exists("#outcomes-chart rect.o-root_cause_found[data-value='1']"))
        check("... and the analyzer's precision from the verdict (wrong: 0%)",
              b.find("span.precision[data-analyzer='console.chart']").text == "0% of 1",
              b.find("span.precision[data-analyzer='console.chart']").text)
        no_console_errors(b, "the insights")
        shot(b, "insights")

        # ---- backtest reports --------------------------------------------------------------
        b.find("nav a[data-section=backtests]").click()
        row = b.wait_for("#backtests-rows tr[data-name]")
        check("the backtest reports are listed with their revisions and counts",
              "working tree" in row.text and "origin/main" in row.text and "3 broken" in row.text, row.text)
        shot(b, "backtests")
        row.find("a").click()
        b.wait_for("#report-summary")
        first = b.find("#changed article")
        check("a report shows the changed cases first, broken ones first, with their reasons",
              "broken" in first.text and "expected bad_deploy, got db.saturation" in first.text, first.text[:300])
        check("... head against base", "origin/main" in b.find("#report-base").text and b.exists("#report-summary .delta-worse"))
        check("... the stale requests", "/api/v1/query" in b.find("#stale").text)
        check("... and the confusion of root causes", b.exists("#confusion td.diag"))
        no_console_errors(b, "the backtest report")
        shot(b, "backtest")

        # ---- keyboard ----------------------------------------------------------------------
        b.get(URL + "/console/analyzers")
        b.wait_for("tr[data-name]")
        b.js("document.activeElement.blur()")
        b.keys(KEYS["TAB"])
        focus = b.js("const e = document.activeElement; return [e.className, getComputedStyle(e).outlineStyle, e.textContent]")
        check("the first Tab reaches the skip link, with a visible focus ring", focus[0] == "skip" and focus[1] != "none", focus)
        shot(b, "analyzers")

        # ---- logout ------------------------------------------------------------------------
        old = session_cookie(b)["value"]
        b.find("#logout").click()
        b.wait_until("the login page after logout", lambda: "logged_out=1" in b.url and b.find("#login-message").text)
        check("logout clears the cookie", session_cookie(b) is None)
        st, _, _ = http("GET", "/v1/analyses?limit=1", None, {"Cookie": f"inquest_session={old}"})
        check("the logged-out session's cookie is refused afterwards (401)", st == 401, st)

        # ---- a narrower token sees and may do less -----------------------------------------
        login(b, VIEWER, "/console/analyzers")
        b.wait_for("tr[data-name]")
        names = [e.attr("data-name") for e in b.find_all("tr[data-name]")]
        check("a team's token sees only its team's analyzers", names == ["console.chart"], names)
        b.get(URL + "/console/actions")
        b.wait_for("#recent")
        check("a token without approve scope gets no approve buttons", not b.exists("button.approve"))
        no_console_errors(b, "the viewer's pages")
    return 1 if failed else 0


def proxied():
    """The console behind a proxy that serves it under URL's path and strips that path."""
    base = urllib.parse.urlsplit(URL).path.rstrip("/")
    body = json.dumps({"analyzer": "console.chart", "inputs": {"service": "checkout"}}).encode()
    st, out, hdrs = http("POST", "/v1/analyses", body, {"Authorization": f"Bearer {ONCALL}",
                                                        "Content-Type": "application/json"})
    check("an analysis submitted through the proxy, its Location under the proxy's path",
          st == 202 and (hdrs.get("Location") or "").startswith(URL + "/v1/analyses/"), (st, out, hdrs.get("Location")))
    aid = out["id"]
    page = URL + f"/console/analyses/{aid}"

    def paths_outside_base(b):
        """The paths from the host's root in the page's links, sources and forms that miss the base."""
        return b.js("""
            const base = arguments[0], out = [];
            for (const e of document.querySelectorAll('[href], [src], [action]'))
              for (const a of ['href', 'src', 'action']) {
                const v = e.getAttribute(a);
                if (v && v.startsWith('/') && !v.startsWith(base + '/')) out.push(v);
              }
            return out;""", base)

    with Browser(log_dir=WORK) as b:
        b.get(page)
        b.wait_for("#login-form")
        check(f"the analysis' page without a session leads to the login form under {base}, remembering the page",
              b.url.startswith(URL + "/console/login?next=") and urllib.parse.unquote(b.url).endswith(f"next={base}/console/analyses/{aid}"), b.url)
        check("the login page's links and form are under the base", not paths_outside_base(b), paths_outside_base(b))
        no_console_errors(b, "the login page behind the proxy")
        b.find("#token").send_keys(ONCALL)
        b.find("#login-form button[type=submit]").click()
        b.wait_until("the analysis' page after the login", lambda: "/console/login" not in b.url and b.exists("#who-token"))
        check("the login leads back to the analysis' page under the proxy's path", b.url == page, b.url)
        c = session_cookie(b)
        check(f"the session cookie's Path is {base}", c and c["path"] == base and c["httpOnly"], c)
        b.wait_for("svg.chart-svg path.series", timeout=40)
        check("the analysis' page draws its findings (its fetches go through the proxy)",
              b.find("article.finding h3").text.startswith("checkout:"), b.find("article.finding h3").text)
        b.wait_for("#feedback-form")
        check("the analysis' links are under the base", not paths_outside_base(b), paths_outside_base(b))
        no_console_errors(b, "the analysis behind the proxy")
        b.find("nav a[data-section=analyses]").click()
        b.wait_for(f"#analyses-rows tr[data-id='{aid}']")
        check("the list is under the base, and lists the analysis", b.url == URL + "/console/analyses", b.url)
        b.find(f"#analyses-rows tr[data-id='{aid}'] a").click()
        b.wait_until("the analysis' page from the list", lambda: b.url == page and b.exists("#feedback-form"))
        check("its link in the list leads to its page under the base", True)
        b.find("#logout").click()
        b.wait_until("the login page after logout", lambda: "logged_out=1" in b.url and b.find("#login-message").text)
        check("logout leads to the login page under the base", b.url.startswith(URL + "/console/login?"), b.url)
        check("and clears the cookie", session_cookie(b) is None)
        no_console_errors(b, "the pages behind the proxy")
    return 1 if failed else 0


sys.exit(proxied() if "--proxied" in sys.argv else main())
