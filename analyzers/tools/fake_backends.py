"""analyzers/tools/fake_backends.py -- a loopback HTTP server standing in for Loki and the deploy
API while `record-cases` records a scenario (scenarios.py): it answers from the scenario's log
lines and deploys, filtered by the request as the real ones would, so that an analyzer may ask
for any window and get what was there. Prometheus is the real one (the metrics need PromQL).

Loki: GET /loki/api/v1/query_range with a LogQL subset, enough for the library's analyzers:
  {name="v", name=~"re", name!="v"} |= "text" != "text" |~ "re" !~ "re"        (log query)
  [sum [by (labels)]] (count_over_time(LOG_QUERY [5m]))                        (metric query)
A query outside it is answered 400 with a parse error, as Loki does.
Deploys: GET /api/deploys?service=S&since=RFC3339&until=RFC3339 -> {"deploys": [...]}.
"""

import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STRING = r'"(?:[^"\\]|\\.)*"|`[^`]*`'


class QueryError(Exception):
    pass


def literal(token):
    """The text of a quoted LogQL string: "…" with Go escapes, or `…` as it is."""
    return json.loads(token) if token.startswith('"') else token[1:-1]


def parse_log_query(text):
    """(matchers, filters) of a log query: matchers [(name, op, value)], filters [(op, value)]."""
    m = re.match(r"\s*\{([^}]*)\}", text)
    if not m:
        raise QueryError("parse error at line 1, col 1: syntax error: unexpected %r" % text[:20])
    matchers = [(name, op, literal(value)) for name, op, value in
                re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(%s)' % STRING, m.group(1))]
    rest, filters = text[m.end():], []
    while rest.strip():
        f = re.match(r"\s*(\|=|!=|\|~|!~)\s*(%s)" % STRING, rest)
        if not f:
            raise QueryError("parse error: unsupported after the selector: %r" % rest.strip()[:40])
        filters.append((f.group(1), literal(f.group(2))))
        rest = rest[f.end():]
    return matchers, filters


def parse_duration(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    for n, u in re.findall(r"(\d+)(ms|s|m|h|d)", text):
        total += int(n) * units[u]
    return total


def parse_metric_query(text):
    """(by, log query, range seconds) of a metric query, or None for a log query."""
    m = re.match(r"\s*(?:sum\s*(?:by\s*\(([^)]*)\))?\s*\()?\s*count_over_time\s*\((.*)\[(\w+)\]\s*\)\s*(\))?\s*$",
                 text, re.S)
    if not m:
        if "(" in text.split("{", 1)[0]:
            raise QueryError("parse error: only [sum [by (…)]] (count_over_time(…[d])) is served here")
        return None
    by = [b.strip() for b in m.group(1).split(",") if b.strip()] if m.group(1) else None
    summed = text.lstrip().startswith("sum")
    return (by if summed else False), m.group(2), parse_duration(m.group(3))


def matches(entry_labels, line, matchers, filters):
    for name, op, value in matchers:
        have = entry_labels.get(name, "")
        ok = {"=": have == value, "!=": have != value,
              "=~": re.fullmatch(value, have) is not None, "!~": re.fullmatch(value, have) is None}[op]
        if not ok:
            return False
    for op, value in filters:
        ok = {"|=": value in line, "!=": value not in line,
              "|~": re.search(value, line) is not None, "!~": re.search(value, line) is None}[op]
        if not ok:
            return False
    return True


class Backends:
    def __init__(self, logs, deploys):
        self.logs = sorted(logs, key=lambda e: e[0])
        self.deploys = deploys

    def loki(self, q):
        query = q["query"][0]
        start, end = int(q["start"][0]) / 1e9, int(q["end"][0]) / 1e9
        metric = parse_metric_query(query)
        if metric:
            return self.loki_metric(metric, start, end, float(q.get("step", ["60"])[0]))
        matchers, filters = parse_log_query(query)
        limit = int(q.get("limit", ["100"])[0])
        picked = [e for e in self.logs if start <= e[0] < end and matches(e[1], e[2], matchers, filters)]
        backward = q.get("direction", ["backward"])[0] == "backward"
        picked = (picked[::-1] if backward else picked)[:limit]
        streams = {}
        for t, labels, line in picked:
            key = json.dumps(labels, sort_keys=True)
            streams.setdefault(key, []).append(["%d" % round(t * 1e9), line])
        result = [{"stream": json.loads(k), "values": v} for k, v in streams.items()]
        return {"status": "success", "data": {"resultType": "streams", "result": result}}

    def loki_metric(self, metric, start, end, step):
        by, log_query, span = metric
        matchers, filters = parse_log_query(log_query)
        picked = [e for e in self.logs if matches(e[1], e[2], matchers, filters)]
        series = {}
        t = start
        while t <= end + 1e-9:
            for when, labels, _ in picked:
                if t - span < when <= t:
                    if by is False:
                        key = labels
                    else:
                        key = {k: labels[k] for k in (by or []) if k in labels}
                    k = json.dumps(key, sort_keys=True)
                    series.setdefault(k, {})
                    series[k][t] = series[k].get(t, 0) + 1
            t += step
        result = [{"metric": json.loads(k), "values": [[round(t, 3), str(n)] for t, n in sorted(v.items())]}
                  for k, v in sorted(series.items())]
        return {"status": "success", "data": {"resultType": "matrix", "result": result}}

    def deploy_list(self, q):
        since = datetime.strptime(q["since"][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        until = datetime.strptime(q["until"][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        out = []
        for d in self.deploys:
            at = datetime.strptime(d["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            if since <= at <= until and ("service" not in q or q["service"][0] == d["service"]):
                out.append(d)
        return {"deploys": out}


def serve(backends):
    """Starts the server on a free loopback port in a thread; returns (server, port)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            q = parse_qs(url.query)
            try:
                if url.path == "/loki/api/v1/query_range":
                    body, status = backends.loki(q), 200
                elif url.path == "/api/deploys":
                    body, status = backends.deploy_list(q), 200
                else:
                    body, status = {"error": "not found"}, 404
            except (QueryError, KeyError, ValueError, re.error) as e:
                body, status = {"status": "error", "errorType": "bad_data", "error": str(e)}, 400
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, server.server_address[1]
