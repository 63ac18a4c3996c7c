"""tests/console/webdriver.py -- a small W3C WebDriver client over HTTP (urllib and json from the
standard library only) that drives Debian's chromium headless through chromium-driver, for the
console's browser tests (tests/console/browser) and its screenshots (tests/console/screenshots).

    with Browser() as b:                       # starts chromedriver on a free loopback port
        b.get("http://127.0.0.1:8080/console/")
        b.wait_for("#analyses-rows tr")        # waits for a DOM condition, never sleeps blindly
        b.find("#token").send_keys("secret")

Chromium runs headless with a temporary profile, --disable-background-networking (it sends
nothing anywhere), loopback only, and --no-sandbox when run as root (its sandbox refuses root).
Everything it starts is in its own process group, which close() ends: nothing else is touched.
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C web element identifier key
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
KEYS = {"ENTER": "\ue007", "TAB": "\ue004", "SPACE": "\ue00d", "DOWN": "\ue015"}


class WebDriverError(Exception):
    pass


class Timeout(AssertionError):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Element:
    def __init__(self, browser, ref, selector):
        self.b, self.ref, self.selector = browser, ref, selector

    def _cmd(self, method, path, body=None):
        return self.b._cmd(method, f"/element/{self.ref}{path}", body)

    def click(self):
        self._cmd("POST", "/click", {})
        return self

    def clear(self):
        self._cmd("POST", "/clear", {})
        return self

    def send_keys(self, text):
        self._cmd("POST", "/value", {"text": text})
        return self

    @property
    def text(self):
        return self._cmd("GET", "/text")

    def attr(self, name):
        return self._cmd("GET", f"/attribute/{name}")

    def prop(self, name):
        return self._cmd("GET", f"/property/{name}")

    def find(self, css):
        ref = self.b._cmd("POST", f"/element/{self.ref}/element", {"using": "css selector", "value": css})
        return Element(self.b, ref[ELEMENT], f"{self.selector} {css}")

    def select(self, value):
        """Chooses the option with 'value' of this <select>, as a user would (change event)."""
        self.b.js("const s = arguments[0]; s.value = arguments[1];"
                  "s.dispatchEvent(new Event('change', {bubbles: true}));", self, value)
        return self


class Browser:
    def __init__(self, width=1280, height=1000, log_dir=None):
        self.width, self.height = width, height
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="inquest-browser-")
        self.profile = tempfile.mkdtemp(prefix="inquest-chromium-profile-")
        self.port = free_port()
        self.proc = None
        self.session = None

    # ---- process ----------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                raise WebDriverError(f"{path} is missing: run scripts/install-deps (packages chromium, chromium-driver)")
        log = open(os.path.join(self.log_dir, "chromedriver.log"), "ab")
        # Its own session: close() signals the group, which holds chromium too.
        self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self._http("GET", "/status", timeout=2).get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise WebDriverError("chromedriver did not start (see chromedriver.log)")
            time.sleep(0.05)
        args = ["--headless=new", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-component-update", "--disable-default-apps", "--disable-dev-shm-usage",
                "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain",
                f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--lang=en-US"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "pageLoadStrategy": "normal",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        out = self._http("POST", "/session", caps, timeout=60)
        self.session = out["sessionId"]
        self._cmd("POST", "/timeouts", {"implicit": 0, "pageLoad": 30000, "script": 30000})

    def close(self):
        if self.session:
            try:
                self._http("DELETE", f"/session/{self.session}", timeout=20)
            except (OSError, WebDriverError):
                pass
            self.session = None
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        shutil.rmtree(self.profile, ignore_errors=True)

    # ---- protocol ---------------------------------------------------------------------------
    def _http(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                payload = json.loads(res.read() or b"{}")
        except urllib.error.HTTPError as e:
            payload = json.loads(e.read() or b"{}")
            v = payload.get("value", {})
            raise WebDriverError(f"{method} {path}: {v.get('error')}: {v.get('message', '')[:400]}") from None
        return payload.get("value", payload)

    def _cmd(self, method, path, body=None):
        return self._http(method, f"/session/{self.session}{path}", body)

    def _unwrap(self, v):
        if isinstance(v, dict) and ELEMENT in v:
            return Element(self, v[ELEMENT], "(returned)")
        if isinstance(v, list):
            return [self._unwrap(x) for x in v]
        return v

    # ---- pages ------------------------------------------------------------------------------
    def get(self, url):
        self._cmd("POST", "/url", {"url": url})

    @property
    def url(self):
        return self._cmd("GET", "/url")

    @property
    def title(self):
        return self._cmd("GET", "/title")

    def js(self, script, *args):
        args = [{ELEMENT: a.ref} if isinstance(a, Element) else a for a in args]
        return self._unwrap(self._cmd("POST", "/execute/sync", {"script": script, "args": args}))

    def find(self, css):
        ref = self._cmd("POST", "/element", {"using": "css selector", "value": css})
        return Element(self, ref[ELEMENT], css)

    def find_all(self, css):
        refs = self._cmd("POST", "/elements", {"using": "css selector", "value": css})
        return [Element(self, r[ELEMENT], css) for r in refs]

    def exists(self, css):
        return bool(self._cmd("POST", "/elements", {"using": "css selector", "value": css}))

    def keys(self, text):
        """Types 'text' into whatever has the focus (keyboard only, as a user without a mouse)."""
        actions = [a for c in text for a in ({"type": "keyDown", "value": c}, {"type": "keyUp", "value": c})]
        self._cmd("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})
        self._cmd("DELETE", "/actions")

    def wait_until(self, what, predicate, timeout=20.0, interval=0.05):
        """Calls 'predicate' until it returns something true, which is returned; Timeout after
        'timeout' seconds naming 'what'. A poll of the DOM, not a sleep standing in for one."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                v = predicate()
                if v:
                    return v
            except WebDriverError as e:
                last = e
            if time.monotonic() > deadline:
                raise Timeout(f"waited {timeout:.0f}s for {what}" + (f" (last error: {last})" if last else ""))
            time.sleep(interval)

    def wait_for(self, css, timeout=20.0, text=None):
        """The first element matching 'css' (whose text contains 'text', when given)."""
        def found():
            for el in self.find_all(css):
                if text is None or text in el.text:
                    return el
            return None
        return self.wait_until(f"{css}" + (f" with text {text!r}" if text else ""), found, timeout)

    def screenshot(self, path, full_page=True):
        """A PNG of the page into 'path'; 'full_page' grows the window to the page's height."""
        if full_page:
            h = self.js("return Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight))")
            self._cmd("POST", "/window/rect", {"width": self.width, "height": max(self.height, min(int(h) + 100, 6000))})
        png = base64.b64decode(self._cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        if full_page:
            self._cmd("POST", "/window/rect", {"width": self.width, "height": self.height})
        return path

    def color_scheme(self, scheme):
        """Emulates prefers-color-scheme: 'light' or 'dark' (Chrome DevTools Protocol)."""
        self._cmd("POST", "/goog/cdp/execute", {"cmd": "Emulation.setEmulatedMedia",
                                                "params": {"features": [{"name": "prefers-color-scheme", "value": scheme}]}})

    def console_errors(self):
        """The browser's console messages of level SEVERE since the last call (CSP violations,
        script errors)."""
        try:
            logs = self._cmd("POST", "/se/log", {"type": "browser"})
        except WebDriverError:
            return []
        return [e["message"] for e in logs if e.get("level") == "SEVERE"]

    def cookies(self):
        return self._cmd("GET", "/cookie")
