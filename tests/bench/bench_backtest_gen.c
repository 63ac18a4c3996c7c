/* tests/bench/bench_backtest_gen.c -- writes the synthetic analyzer and backtest cases that
 * tests/bench/bench_backtest times: bench.saturation, which makes 10 Prometheus range queries
 * (errors, latency, CPU, memory, …; 4 pods each) and names as root cause the metric that rose
 * most over its baseline, and N cases of it, each a recording of those 10 answers (about KIB
 * KiB of Prometheus JSON in all, written by the runtime's own recording writer) and what the
 * case expects.
 *
 * Usage: bench_backtest_gen DIR N [KIB] [base|head]
 * Writes DIR/analyzers/bench/saturation.lua and, when N > 0, the cases in
 * DIR/analyzers/bench/saturation.cases/case-NNNN/. "base" and "head" differ only in the
 * threshold over which a rise counts (1.5 and 2.0 times the baseline), so that some cases pass
 * on one side only: a rise of 1.8 (a real incident, found by base only: broken on head) and
 * one of 1.6 (noise, found by base only: fixed on head). The numbers come from a fixed
 * generator, the same on every machine. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "rt.h"
#include "rt_recording.h"

#define PODS   4
#define CALLS  10
#define NOW0   1795180800.0 /* 2026-11-20T12:00:00Z; each case an hour later */
#define WINDOW 3600.0

typedef struct metric {
    const char *name, *query, *cause;
    double level; /* the baseline's order of magnitude */
} metric;

/* The queries the analyzer makes, in its order; %s is the service. */
static const metric metrics[CALLS] = {
    {"errors", "sum by (pod) (rate(http_requests_total{service=\"%s\",code=~\"5..\"}[1m]))",
     "error_spike", 2.5},
    {"latency_p99",
     "histogram_quantile(0.99, sum by (pod, le) "
     "(rate(http_request_duration_seconds_bucket{service=\"%s\"}[1m])))",
     "latency", 0.25},
    {"cpu", "sum by (pod) (rate(container_cpu_usage_seconds_total{service=\"%s\"}[1m]))",
     "cpu.saturation", 0.6},
    {"memory", "sum by (pod) (container_memory_working_set_bytes{service=\"%s\"})", "memory.leak",
     5.2e8},
    {"db_connections", "sum by (pod) (db_pool_connections_in_use{service=\"%s\"})", "db.saturation",
     18},
    {"queue_depth", "sum by (pod) (queue_messages_ready{service=\"%s\"})", "queue.backlog", 120},
    {"gc_pause", "sum by (pod) (rate(go_gc_duration_seconds_sum{service=\"%s\"}[1m]))",
     "gc.pressure", 0.004},
    {"restarts",
     "sum by (pod) (increase(kube_pod_container_status_restarts_total{service=\"%s\"}[5m]))",
     "crash_loop", 0.05},
    {"disk_io", "sum by (pod) (rate(node_disk_io_time_seconds_total{service=\"%s\"}[1m]))",
     "disk.saturation", 0.08},
    {"network_drops", "sum by (pod) (rate(node_network_receive_drop_total{service=\"%s\"}[1m]))",
     "network.drops", 0.3},
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    fputs("bench_backtest_gen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void make_dir(const char *path) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die("mkdir %s: %s", path, strerror(errno));
}

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if ((size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        b->cap = b->cap * 2 + (size_t)w + 64;
        b->p = rt_xrealloc(b->p, b->cap);
    }
}

/* A query parameter as the connectors escape it (RFC 3986: unreserved characters stay). */
static void put_escaped(buf *b, const char *text) {
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            put(b, "%c", *p);
        else
            put(b, "%%%02X", *p);
    }
}

static uint64_t next(uint64_t *state) { /* xorshift64: the same numbers on every machine */
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Noise of ±5%. */
static double jitter(uint64_t *state) {
    return 0.95 + 0.1 * (double)(next(state) % 1000000007) / 1000000007.0;
}

/* How case 'i' is made: which metric rises ('*which', -1: none), by how much, and whether the
 * rise is an incident a good analyzer should name. */
static double scenario(size_t i, int *which, int *incident) {
    *which = (int)((i / 10) % CALLS);
    switch (i % 10) {
    case 0: /* a quiet hour */
        *which = -1, *incident = 0;
        return 1;
    case 1: /* noise that a threshold of 1.5 takes for an incident */
        *incident = 0;
        return 1.6;
    case 2: /* a small real incident that a threshold of 2 misses */
        *incident = 1;
        return 1.8;
    default:
        *incident = 1;
        return 2.5 + (double)(i % 7);
    }
}

/* The Prometheus answer for metric 'm' of case 'i': a matrix of PODS series of 'points' points
 * from 'start' every 'step' seconds; the metric 'which' rises by 'rise' from 60% of the window. */
static void answer(buf *b, const metric *m, const char *service, double start, double step,
                   int points, double rise, uint64_t *state) {
    put(b, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[");
    for (int pod = 0; pod < PODS; pod++) {
        put(b,
            "%s{\"metric\":{\"namespace\":\"shop\",\"pod\":\"%s-7d9f8c6b5-%c%c%c%c\","
            "\"service\":\"%s\"},\"values\":[",
            pod ? "," : "", service, 'a' + pod, 'k' + pod, 'q' + pod, 'x' - pod, service);
        for (int k = 0; k < points; k++) {
            double v = m->level * jitter(state) * (k >= points * 6 / 10 ? rise : 1);
            put(b, "%s[%.15g,\"%.15g\"]", k ? "," : "", start + k * step, v);
        }
        put(b, "]}");
    }
    put(b, "]}}");
}

/* Writes the recording of case 'i' to 'path'. */
static void write_recording(const char *path, size_t i, const char *service, double now, int points,
                            double step) {
    int which, incident;
    double rise = scenario(i, &which, &incident);
    uint64_t state = 0x9e3779b97f4a7c15ULL ^ (i * 0x2545f4914f6cdd1dULL);
    rt_recording *r = rt_recording_new();
    json_t *meta = rt_recording_meta(r);
    json_object_set_new(meta, "analyzer", json_string("bench.saturation"));
    json_object_set_new(meta, "inputs", json_pack("{s:s}", "service", service));
    json_object_set_new(meta, "id", json_sprintf("bench-%04zu", i));
    json_object_set_new(meta, "now", json_real(now));
    json_object_set_new(meta, "connectors", json_pack("{s:{s:s}}", "prom", "type", "prometheus"));
    for (int c = 0; c < CALLS; c++) {
        buf query = {0}, p = {0}, body = {0};
        put(&query, metrics[c].query, service);
        put(&p, "/api/v1/query_range?query=");
        put_escaped(&p, query.p);
        put(&p, "&start=%.15g&end=%.15g&step=%.15g", now - WINDOW, now, step);
        answer(&body, &metrics[c], service, now - WINDOW, step, points, c == which ? rise : 1,
               &state);
        rt_exchange e = {.connector = "prom",
                         .method = "GET",
                         .path = p.p,
                         .status = 200,
                         .response = body.p,
                         .response_len = body.n,
                         .content_type = "application/json"};
        rt_recording_add(r, &e);
        free(query.p);
        free(p.p);
        free(body.p);
    }
    char why[256];
    if (rt_recording_save(r, path, why) != RT_OK)
        die("%s: %s", path, why);
    rt_recording_free(r);
}

static void write_json(const char *path, json_t *doc) {
    if (json_dump_file(doc, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
        die("cannot write %s", path);
    json_decref(doc);
}

/* case.json of case 'i': inputs, id and now come from the recording. */
static void write_case(const char *path, size_t i) {
    int which, incident;
    scenario(i, &which, &incident);
    json_t *expect = json_object();
    if (incident) {
        json_object_set_new(expect, "conclusion", json_string("root_cause_found"));
        json_object_set_new(expect, "root_cause", json_string(metrics[which].cause));
        json_object_set_new(expect, "findings",
                            json_pack("[{s:s, s:s}]", "root_cause", metrics[which].cause, "title",
                                      metrics[which].name));
    } else {
        json_object_set_new(expect, "conclusion", json_string("no_anomaly"));
        json_object_set_new(expect, "root_cause", json_null());
    }
    json_object_set_new(expect, "absent", json_pack("[{s:s}]", "root_cause", "crash_loop"));
    if (incident && which == 7) /* crash_loop is the cause here: nothing is absent */
        json_object_del(expect, "absent");
    write_json(path,
               json_pack("{s:s, s:s, s:s, s:o}", "schema", "inquest.case/v1", "analyzer",
                         "bench.saturation", "description",
                         incident ? "a rise of one metric" : "a quiet hour", "expect", expect));
}

static const char analyzer_text[] =
    "-- bench.saturation -- a synthetic analyzer for tests/bench/bench_backtest: ten range\n"
    "-- queries, and the metric that rose most over its baseline names the root cause.\n"
    "local inquest = require \"inquest\"\n"
    "local t = inquest.types\n"
    "\n"
    "local THRESHOLD = %s\n"
    "local METRICS = {\n"
    "%s"
    "}\n"
    "\n"
    "-- The mean of the first quarter of a series: the level before anything happened.\n"
    "local function baseline(s)\n"
    "  local n, sum = 0, 0\n"
    "  for i = 1, math.max(1, #s // 4) do\n"
    "    local _, v = s:at(i)\n"
    "    if v == v then n, sum = n + 1, sum + v end\n"
    "  end\n"
    "  return n > 0 and sum / n or 0\n"
    "end\n"
    "\n"
    "return inquest.analyzer {\n"
    "  name = \"bench.saturation\",\n"
    "  owner = \"team-bench\",\n"
    "  description = \"Which resource of a service rose most over its baseline?\",\n"
    "  inputs = {\n"
    "    service = t.string { required = true, pattern = \"^[a-z0-9-]+$\" },\n"
    "    at = t.time { default = \"now\" },\n"
    "    window = t.duration { default = \"1h\" },\n"
    "  },\n"
    "  run = function(ctx, input)\n"
    "    local prom = ctx.metrics(\"prom\")\n"
    "    local worst, rise = nil, 0\n"
    "    for _, m in ipairs(METRICS) do\n"
    "      local set = prom:range(m.query:format(input.service), input.at - input.window,\n"
    "                             input.at, \"%gs\")\n"
    "      local total = set:total()\n"
    "      local before = baseline(total)\n"
    "      local r = before > 0 and total:max() / before or 0\n"
    "      if r > rise then worst, rise = m, r end\n"
    "    end\n"
    "    if not worst or rise < THRESHOLD then\n"
    "      return ctx:conclude(\"no_anomaly\", (\"nothing rose %%.1f times\"):format(THRESHOLD))\n"
    "    end\n"
    "    ctx:finding {\n"
    "      title = (\"%%s of %%s rose %%.1f times over its baseline\"):format(worst.name,\n"
    "        input.service, rise),\n"
    "      root_cause = worst.cause,\n"
    "      severity = rise > 4 and \"high\" or \"medium\",\n"
    "      confidence = math.min(0.95, 0.4 + rise / 10),\n"
    "    }\n"
    "  end,\n"
    "}\n";

/* The step that gives about 'kib' KiB of answers per case in all. */
static void sizes(double kib, int *points, double *step) {
    double per_series = kib * 1024 / CALLS / PODS - 100; /* the metric's labels */
    *points = (int)(per_series / 34);                    /* [1795184400,"2.61234567890123"], */
    if (*points < 8)
        *points = 8;
    *step = floor(WINDOW / *points);
    *points = (int)(WINDOW / *step) + 1;
}

static void write_analyzer(const char *path, const char *variant, double step) {
    buf list = {0}, text = {0};
    for (int c = 0; c < CALLS; c++) {
        buf q = {0};
        for (const char *p = metrics[c].query; *p; p++) /* Lua string: escape quotes */
            put(&q, *p == '"' ? "\\\"" : "%c", *p);
        put(&list, "  { name = \"%s\", cause = \"%s\",\n    query = \"%s\" },\n", metrics[c].name,
            metrics[c].cause, q.p);
        free(q.p);
    }
    put(&text, analyzer_text, strcmp(variant, "head") == 0 ? "2.0" : "1.5", list.p, step);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(text.p, 1, text.n, f) != text.n || fclose(f) != 0)
        die("cannot write %s", path);
    free(list.p);
    free(text.p);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5)
        die("usage: bench_backtest_gen DIR N [KIB] [base|head]");
    const char *dir = argv[1], *variant = argc > 4 ? argv[4] : "base";
    size_t n = strtoul(argv[2], NULL, 10);
    double kib = argc > 3 ? strtod(argv[3], NULL) : 50;
    if (!(kib > 0) || (strcmp(variant, "base") != 0 && strcmp(variant, "head") != 0))
        die("KIB must be more than 0, and the variant base or head");
    int points;
    double step;
    sizes(kib, &points, &step);
    char path[4096];
    snprintf(path, sizeof path, "%s/analyzers", dir);
    make_dir(path);
    snprintf(path, sizeof path, "%s/analyzers/bench", dir);
    make_dir(path);
    snprintf(path, sizeof path, "%s/analyzers/bench/saturation.lua", dir);
    write_analyzer(path, variant, step);
    if (n > 0) {
        snprintf(path, sizeof path, "%s/analyzers/bench/saturation.cases", dir);
        make_dir(path);
    }
    for (size_t i = 0; i < n; i++) {
        char service[32];
        snprintf(service, sizeof service, "svc-%zu", i % 97);
        snprintf(path, sizeof path, "%s/analyzers/bench/saturation.cases/case-%04zu", dir, i);
        make_dir(path);
        snprintf(path, sizeof path, "%s/analyzers/bench/saturation.cases/case-%04zu/case.json", dir,
                 i);
        write_case(path, i);
        snprintf(path, sizeof path, "%s/analyzers/bench/saturation.cases/case-%04zu/recording.json",
                 dir, i);
        write_recording(path, i, service, NOW0 + 3600.0 * (double)i, points, step);
    }
    return 0;
}
