"""analyzers/tools/scenarios.py -- the incidents behind the analyzer library's backtest cases.

Each scenario is made of what the systems of a small shop would hold: metrics (OpenMetrics text
for `promtool tsdb create-blocks-from openmetrics`, then served by a real Prometheus), log lines
(served by fake_backends.py as Loki would) and deploy events (served as the deploy API of
examples/inquest.yaml). `record-cases` (beside this file) loads one, runs the analyzer against
it live and keeps the run as the case's recording.

Deterministic: every random number comes from a generator seeded with the scenario's name, and
no clock is read, so a scenario gives the same bytes every time.

The services' metrics follow the conventions of analyzers/README.md ("The analyzer library"):
  http_requests_total{service,endpoint,region,version,instance,code}       counter
  http_request_duration_seconds_{bucket,sum,count}{service,endpoint,region,version,instance}
  dependency_requests_total{service,dependency,result}                      counter (ok, error)
  dependency_request_duration_seconds_{sum,count}{service,dependency}       counter
  node_cpu_seconds_total, node_memory_*, node_filesystem_* {instance,service,job="node"}
"""

import math
import random
from datetime import datetime, timezone

SCRAPE = 30  # seconds between samples
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def unix(text):
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def rfc3339(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def labels_text(labels):
    return ",".join('%s="%s"' % (k, v) for k, v in labels.items())


class Metrics:
    """OpenMetrics families, each a list of lines, written family after family."""

    def __init__(self):
        self.families = {}

    def family(self, name, kind, help_text):
        if name not in self.families:
            self.families[name] = ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind)]
        return self.families[name]

    def text(self):
        out = []
        for lines in self.families.values():
            out.extend(lines)
        out.append("# EOF")
        return "\n".join(out) + "\n"


def normal_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


class Scenario:
    """What one case's analysis will see: metrics, logs and deploys from 'start' to 'at'."""

    def __init__(self, name, analyzer, at, inputs, description, hours=4.5):
        self.name, self.analyzer, self.description = name, analyzer, description
        self.at = unix(at)
        self.inputs = dict(inputs, at=at)
        self.start = self.at - int(hours * 3600)
        self.rng = random.Random(name)
        self.metrics = Metrics()
        self.logs = []  # (unix seconds, labels, line)
        self.deploys = []

    def times(self):
        return range(self.start, self.at + SCRAPE, SCRAPE)

    def noise(self, spread=0.05):
        return 1 + spread * (2 * self.rng.random() - 1)

    # ---- HTTP servers ----------------------------------------------------------------------

    def http_service(self, service, instances, endpoints, effect=None):
        """Requests and latency of 'service': 'instances' is a list of (instance, region,
        version_at) where version_at(t) is the version running; 'endpoints' maps an endpoint to
        (requests a second per instance, median latency in seconds). 'effect(t, instance,
        endpoint)' returns (5xx ratio, latency factor) when something goes wrong."""
        req = self.metrics.family("http_requests", "counter", "HTTP requests served.")
        dur = self.metrics.family("http_request_duration_seconds", "histogram",
                                  "Time to serve an HTTP request.")
        sigma = 0.5
        for instance, region, version_at in instances:
            for endpoint, (rps, median) in endpoints.items():
                ok = err = count = total = 0.0
                buckets = [0.0] * (len(BUCKETS) + 1)
                rows_req, rows_dur = [], []
                for t in self.times():
                    bad, slow = (effect(t, instance, endpoint) if effect else (0.0, 1.0))
                    n = rps * SCRAPE * self.noise() * (1 + 0.15 * math.sin(2 * math.pi * (t % 86400) / 86400))
                    e = n * max(0.001, bad) * self.noise(0.3)
                    ok, err = ok + n - e, err + e
                    m = median * slow * self.noise(0.03)
                    count += n
                    total += n * m * math.exp(sigma * sigma / 2)
                    for i, le in enumerate(BUCKETS):
                        buckets[i] += n * normal_cdf((math.log(le) - math.log(m)) / sigma)
                    buckets[-1] = count
                    labels = dict(service=service, endpoint=endpoint, region=region,
                                  version=version_at(t), instance=instance)
                    rows_req.append((t, labels, ok, err))
                    rows_dur.append((t, labels, [round(b) for b in buckets], total))
                self._counter_rows(req, rows_req)
                self._histogram_rows(dur, rows_dur)

    def _counter_rows(self, lines, rows):
        # One series after the other (a version change starts a new series).
        for code, i in (("200", 2), ("500", 3)):
            for row in rows:
                lines.append("http_requests_total{%s,code=\"%s\"} %.0f %d"
                             % (labels_text(row[1]), code, row[i], row[0]))

    def _histogram_rows(self, lines, rows):
        for t, labels, buckets, total in rows:
            base = labels_text(labels)
            for le, b in zip(BUCKETS + ("+Inf",), buckets):
                lines.append('http_request_duration_seconds_bucket{%s,le="%s"} %d %d' % (base, le, b, t))
            lines.append("http_request_duration_seconds_sum{%s} %.3f %d" % (base, total, t))
            lines.append("http_request_duration_seconds_count{%s} %d %d" % (base, buckets[-1], t))

    # ---- calls to dependencies -------------------------------------------------------------

    def dependencies(self, service, deps, effect=None):
        """Calls from 'service' to each dependency in 'deps' (name -> (calls a second, mean
        latency in seconds)); 'effect(t, dependency)' returns (error ratio, latency factor)."""
        req = self.metrics.family("dependency_requests", "counter",
                                  "Calls to the service's dependencies, by result.")
        dur = self.metrics.family("dependency_request_duration_seconds", "summary",
                                  "Time the service's calls to its dependencies took.")
        for dep, (rps, latency) in deps.items():
            ok = err = count = total = 0.0
            rows = []
            for t in self.times():
                bad, slow = effect(t, dep) if effect else (0.0, 1.0)
                n = rps * SCRAPE * self.noise()
                e = n * max(0.0005, bad) * self.noise(0.3)
                ok, err, count = ok + n - e, err + e, count + n
                total += n * latency * slow * self.noise(0.05)
                rows.append((t, ok, err, count, total))
            base = 'service="%s",dependency="%s"' % (service, dep)
            for result, i in (("ok", 1), ("error", 2)):
                req.extend('dependency_requests_total{%s,result="%s"} %.0f %d' % (base, result, r[i], r[0])
                           for r in rows)
            for r in rows:
                dur.append("dependency_request_duration_seconds_sum{%s} %.3f %d" % (base, r[4], r[0]))
                dur.append("dependency_request_duration_seconds_count{%s} %.0f %d" % (base, r[3], r[0]))

    # ---- hosts (node_exporter) -------------------------------------------------------------

    def hosts(self, hosts, effect=None):
        """node_exporter metrics of 'hosts' (instance -> (service, cpu busy, memory used, disk
        used), fractions); 'effect(t, instance)' returns a dict overriding some of cpu, memory,
        disk at time t."""
        cpu = self.metrics.family("node_cpu_seconds", "counter", "Seconds the CPUs spent in each mode.")
        mem_total = self.metrics.family("node_memory_MemTotal_bytes", "gauge", "Memory in total.")
        mem_avail = self.metrics.family("node_memory_MemAvailable_bytes", "gauge", "Memory available.")
        fs_size = self.metrics.family("node_filesystem_size_bytes", "gauge", "Size of the filesystem.")
        fs_avail = self.metrics.family("node_filesystem_avail_bytes", "gauge", "Space available.")
        total_mem, total_fs = 32 * 2**30, 200 * 2**30
        for instance, (service, busy, used, disk) in hosts.items():
            base = 'instance="%s",job="node",service="%s"' % (instance, service)
            rows = []
            for t in self.times():
                now = dict(cpu=busy, memory=used, disk=disk)
                now.update(effect(t, instance) if effect else {})
                rows.append((t, now))
            for c in ("0", "1"):
                seconds = dict(idle=1e6, user=3e5, system=5e4, iowait=1e4)
                per_mode = {m: [] for m in seconds}
                for t, now in rows:
                    b = min(0.999, max(0.0, now["cpu"] * self.noise(0.08)))
                    step = dict(idle=1 - b, user=0.8 * b, system=0.15 * b, iowait=0.05 * b)
                    for m in seconds:
                        seconds[m] += SCRAPE * step[m]
                        per_mode[m].append("node_cpu_seconds_total{%s,cpu=\"%s\",mode=\"%s\"} %.2f %d"
                                           % (base, c, m, seconds[m], t))
                for m in seconds:
                    cpu.extend(per_mode[m])
            fs = base + ',mountpoint="/",fstype="ext4"'
            for t, now in rows:
                mem_total.append("node_memory_MemTotal_bytes{%s} %d %d" % (base, total_mem, t))
                free = 1 - min(0.999, now["memory"] * self.noise(0.005))
                mem_avail.append("node_memory_MemAvailable_bytes{%s} %d %d" % (base, total_mem * free, t))
                fs_size.append("node_filesystem_size_bytes{%s} %d %d" % (fs, total_fs, t))
                fs_avail.append("node_filesystem_avail_bytes{%s} %d %d"
                                % (fs, total_fs * (1 - min(0.9999, now["disk"])), t))

    # ---- logs and deploys --------------------------------------------------------------------

    def log_stream(self, labels, per_minute, make_line, since=None, until=None):
        """About 'per_minute' lines a minute from 'since' to 'until' (default: the whole span),
        each made by make_line(rng, t); per_minute may be a function of t."""
        t = float(since if since is not None else self.start)
        end = until if until is not None else self.at
        while t < end:
            rate = per_minute(t) if callable(per_minute) else per_minute
            if rate <= 0:
                t += 60
                continue
            t += self.rng.expovariate(rate / 60.0)
            if t < end:
                self.logs.append((round(t, 3), labels, make_line(self.rng, t)))

    def deploy(self, id, service, at, version, region, text):
        self.deploys.append(dict(id=id, service=service, created_at=rfc3339(at), version=version,
                                 region=region, description=text, author="ci-bot",
                                 status="succeeded"))


# ---- the scenarios -------------------------------------------------------------------------

SCENARIOS = {}


def scenario(case):
    def register(fn):
        SCENARIOS[case] = fn
        return fn
    return register


def logfmt_time(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (int(t * 1000) % 1000)


FLEET = {  # instance -> (service, cpu busy, memory used, disk used)
    "app-1": ("checkout", 0.35, 0.52, 0.41),
    "app-2": ("checkout", 0.38, 0.55, 0.44),
    "app-3": ("checkout", 0.33, 0.50, 0.62),
    "db-1": ("payments-db", 0.45, 0.61, 0.55),
    "db-2": ("payments-db", 0.42, 0.58, 0.57),
    "db-3": ("payments-db", 0.47, 0.60, 0.53),
}


def ramp(t, start, minutes, frm, to):
    """A value going from 'frm' at 'start' to 'to' over 'minutes', then staying."""
    if t < start:
        return frm
    return frm + (to - frm) * min(1.0, (t - start) / (60.0 * minutes))


@scenario("host/saturation.cases/memory-leak-db-2")
def memory_leak():
    s = Scenario("memory-leak-db-2", "host.saturation", "2026-11-16T10:00:00Z",
                 {"window": "1h"}, "db-2's memory leaks from 09:20 until 97% is used")
    leak = s.at - 40 * 60
    s.hosts(FLEET, lambda t, h: {"memory": ramp(t, leak, 30, 0.58, 0.97)} if h == "db-2" else {})
    s.deploy("d-5071", "payments-db", leak - 180, "v14.2", "eu-west", "payments-db: larger statement cache")
    s.deploy("d-5066", "checkout", leak - 50 * 60, "v3.3.9", "eu-west", "checkout: copy changes")
    return s


@scenario("host/saturation.cases/disk-full-app-3")
def disk_full():
    s = Scenario("disk-full-app-3", "host.saturation", "2026-11-16T15:30:00Z",
                 {"window": "1h", "selector": 'job="node",service="checkout"'},
                 "app-3's root filesystem fills from 14:45 (logs no longer rotated)")
    fill = s.at - 45 * 60
    s.hosts(FLEET, lambda t, h: {"disk": ramp(t, fill, 42, 0.62, 0.985)} if h == "app-3" else {})
    return s


@scenario("host/saturation.cases/cpu-runaway-app-2")
def cpu_runaway():
    s = Scenario("cpu-runaway-app-2", "host.saturation", "2026-11-17T03:15:00Z",
                 {"window": "1h"}, "a runaway batch job holds app-2's CPUs from 02:50")
    s.hosts(FLEET, lambda t, h: {"cpu": 0.985} if h == "app-2" and t >= s.at - 25 * 60 else {})
    return s


@scenario("host/saturation.cases/quiet")
def hosts_quiet():
    s = Scenario("hosts-quiet", "host.saturation", "2026-11-17T11:00:00Z", {"window": "1h"},
                 "nothing wrong: one short CPU burst on app-1 to 70%, memory and disks steady")
    burst = s.at - 30 * 60
    s.hosts(FLEET, lambda t, h: {"cpu": 0.7} if h == "app-1" and burst <= t < burst + 240 else {})
    return s


CHECKOUT_ENDPOINTS = {"/cart": (8, 0.045), "/pay": (3, 0.12), "/search": (12, 0.08), "/products": (10, 0.03)}


def checkout_instances(versions):
    """Two instances in each of two regions, the version of each region given by
    versions(t, region)."""
    return [("checkout-%s-%d" % (r, i), r, (lambda r: lambda t: versions(t, r))(r))
            for r in ("eu-west", "us-east") for i in (1, 2)]


@scenario("latency/regression.cases/search-v3-eu-west")
def search_v3():
    s = Scenario("search-v3-eu-west", "latency.regression", "2026-11-18T14:00:00Z",
                 {"service": "checkout", "window": "1h"},
                 "v3.4.1, deployed to eu-west at 13:28, makes /search five times slower there")
    deploy = s.at - 32 * 60
    rolled = deploy + 120
    versions = lambda t, r: "v3.4.1" if r == "eu-west" and t >= rolled else "v3.4.0"
    s.http_service("checkout", checkout_instances(versions), CHECKOUT_ENDPOINTS,
                   lambda t, i, e: (0.0, 5.0 if e == "/search" and "eu-west" in i and t >= rolled else 1.0))
    s.deploy("d-5120", "catalog", s.at - 95 * 60, "v8.1.0", "us-east", "catalog: new image sizes")
    s.deploy("d-5127", "checkout", s.at - 150 * 60, "v3.4.0", "eu-west", "checkout: v3.4.0 everywhere")
    s.deploy("d-5131", "checkout", deploy, "v3.4.1", "eu-west", "checkout: fuzzy matching in /search")
    return s


@scenario("latency/regression.cases/slow-host")
def slow_host():
    s = Scenario("slow-host", "latency.regression", "2026-11-18T20:00:00Z",
                 {"service": "checkout", "window": "1h"},
                 "checkout-us-east-2 serves every endpoint three times slower from 19:40 (a noisy "
                 "neighbour); no deploy of checkout")
    s.http_service("checkout", checkout_instances(lambda t, r: "v3.4.0"), CHECKOUT_ENDPOINTS,
                   lambda t, i, e: (0.0, 3.0 if i == "checkout-us-east-2" and t >= s.at - 20 * 60 else 1.0))
    s.deploy("d-5140", "catalog", s.at - 25 * 60, "v8.1.1", "us-east", "catalog: fix image sizes")
    return s


@scenario("latency/regression.cases/quiet-deploy")
def quiet_deploy():
    s = Scenario("quiet-deploy", "latency.regression", "2026-11-19T09:00:00Z",
                 {"service": "checkout", "window": "1h"},
                 "nothing wrong: v3.4.2 deployed at 08:30 everywhere, latency as before")
    versions = lambda t, r: "v3.4.2" if t >= s.at - 28 * 60 else "v3.4.0"
    s.http_service("checkout", checkout_instances(versions), CHECKOUT_ENDPOINTS)
    s.deploy("d-5150", "checkout", s.at - 30 * 60, "v3.4.2", "all", "checkout: dependency updates")
    return s


def checkout_log_noise(s, rate=1.0):
    """The errors checkout always logs: declined cards, and an occasional slow orders-db query."""
    labels = {"service": "checkout", "level": "error"}
    s.log_stream(labels, 3 * rate, lambda rng, t: (
        'ts=%s level=error caller=pay/card.go:88 msg="card declined" order_id=o-%d code=%s'
        % (logfmt_time(t), rng.randrange(100000, 999999), rng.choice(["insufficient_funds", "expired", "do_not_honor"]))))
    s.log_stream(labels, 1 * rate, lambda rng, t: (
        'ts=%s level=error caller=orders/store.go:141 msg="query timeout" db=orders-db timeout_ms=%d query_id=%08x'
        % (logfmt_time(t), rng.choice([500, 1000]), rng.getrandbits(32))))
    s.log_stream(labels, 0.5 * rate, lambda rng, t: (
        'ts=%s level=error caller=cart/session.go:52 msg="session expired" session=%032x'
        % (logfmt_time(t), rng.getrandbits(128))))


@scenario("logs/error_burst.cases/new-error-after-deploy")
def new_error():
    s = Scenario("new-error-after-deploy", "logs.error_burst", "2026-11-19T14:30:00Z",
                 {"service": "checkout", "window": "30m"},
                 "from 14:12 checkout logs 'upstream connect error' to paylink-eu, 2 minutes after "
                 "deploy d-5203 moved it to the paylink v3 API")
    checkout_log_noise(s)
    onset = s.at - 18 * 60
    s.log_stream({"service": "checkout", "level": "error"}, 30, lambda rng, t: (
        'ts=%s level=error caller=paylink/client.go:211 msg="upstream connect error: connection '
        'refused" upstream=paylink-eu.example.net:443 order_id=o-%d attempt=%d'
        % (logfmt_time(t), rng.randrange(100000, 999999), rng.randint(1, 3))), since=onset)
    s.deploy("d-5203", "checkout", onset - 120, "v3.5.0", "eu-west", "checkout: paylink v3 API")
    s.deploy("d-5199", "search-index", onset - 40 * 60, "v12", "eu-west", "search-index: reindex")
    return s


@scenario("logs/error_burst.cases/timeouts-increase")
def timeouts_increase():
    s = Scenario("timeouts-increase", "logs.error_burst", "2026-11-19T18:00:00Z",
                 {"service": "checkout", "window": "30m"},
                 "orders-db query timeouts, usually one a minute, come 25 a minute from 17:45")
    checkout_log_noise(s)
    onset = s.at - 15 * 60
    s.log_stream({"service": "checkout", "level": "error"}, 25, lambda rng, t: (
        'ts=%s level=error caller=orders/store.go:141 msg="query timeout" db=orders-db timeout_ms=%d query_id=%08x'
        % (logfmt_time(t), rng.choice([500, 1000]), rng.getrandbits(32))), since=onset)
    return s


@scenario("logs/error_burst.cases/quiet")
def logs_quiet():
    s = Scenario("logs-quiet", "logs.error_burst", "2026-11-19T22:00:00Z",
                 {"service": "checkout", "window": "30m"},
                 "nothing wrong: the usual declined cards, timeouts and expired sessions")
    checkout_log_noise(s)
    return s


CHECKOUT_DEPS = {"payments-db": (20, 0.004), "search-index": (15, 0.035), "paylink": (3, 0.2),
                 "redis-cart": (40, 0.001)}


def dependency_case(s, service_effect, dep_effect):
    s.http_service("checkout", checkout_instances(lambda t, r: "v3.4.0"),
                   {"/cart": (8, 0.045), "/pay": (3, 0.12), "/search": (12, 0.08)}, service_effect)
    s.dependencies("checkout", CHECKOUT_DEPS, dep_effect)


@scenario("dependency/failure.cases/payments-db-down")
def payments_db_down():
    s = Scenario("payments-db-down", "dependency.failure", "2026-11-20T10:00:00Z",
                 {"service": "checkout", "window": "1h", "follow": "logs.error_burst,host.saturation"},
                 "payments-db fails 40% of checkout's calls from 09:35, when db-2 runs out of memory; "
                 "checkout's /pay answers 5xx")
    down = s.at - 25 * 60
    dependency_case(
        s, lambda t, i, e: (0.35 if e == "/pay" and t >= down else 0.0, 1.0),
        lambda t, d: (0.4, 3.0) if d == "payments-db" and t >= down else (0.0, 1.0))
    s.hosts(FLEET, lambda t, h: {"memory": ramp(t, down - 15 * 60, 14, 0.58, 0.99)} if h == "db-2" else {})
    checkout_log_noise(s)
    s.log_stream({"service": "checkout", "level": "error"}, 12, lambda rng, t: (
        'ts=%s level=error caller=pay/ledger.go:63 msg="payments-db: connection reset by peer" '
        'host=db-2.payments.internal:5432 order_id=o-%d' % (logfmt_time(t), rng.randrange(100000, 999999))),
        since=down)
    return s


@scenario("dependency/failure.cases/slow-search-index")
def slow_search_index():
    s = Scenario("slow-search-index", "dependency.failure", "2026-11-20T16:00:00Z",
                 {"service": "checkout", "window": "1h", "signal": "latency",
                  "follow": "logs.error_burst,host.saturation"},
                 "search-index answers in 600 ms instead of 35 ms from 15:30; checkout's /search "
                 "slows with it")
    slow = s.at - 30 * 60
    dependency_case(
        s, lambda t, i, e: (0.0, 6.0 if e == "/search" and t >= slow else 1.0),
        lambda t, d: (0.0, 17.0) if d == "search-index" and t >= slow else (0.0, 1.0))
    s.hosts(FLEET)
    checkout_log_noise(s)
    return s


@scenario("dependency/failure.cases/own-bug")
def own_bug():
    s = Scenario("own-bug", "dependency.failure", "2026-11-20T19:00:00Z",
                 {"service": "checkout", "window": "1h", "follow": "logs.error_burst,host.saturation"},
                 "checkout's /cart fails 20% from 18:40 by itself (a nil map in the cart code); "
                 "every dependency answers as before")
    bug = s.at - 20 * 60
    dependency_case(s, lambda t, i, e: (0.2 if e == "/cart" and t >= bug else 0.0, 1.0), None)
    s.hosts(FLEET)
    checkout_log_noise(s)
    s.log_stream({"service": "checkout", "level": "error"}, 12, lambda rng, t: (
        'ts=%s level=error caller=cart/merge.go:97 msg="panic: assignment to entry in nil map" '
        'cart_id=c-%d' % (logfmt_time(t), rng.randrange(100000, 999999))), since=bug)
    return s


@scenario("dependency/failure.cases/quiet")
def dependency_quiet():
    s = Scenario("dependency-quiet", "dependency.failure", "2026-11-20T23:00:00Z",
                 {"service": "checkout", "window": "1h", "follow": "logs.error_burst,host.saturation"},
                 "nothing wrong: checkout and its dependencies as usual")
    dependency_case(s, None, None)
    s.hosts(FLEET)
    checkout_log_noise(s)
    return s
