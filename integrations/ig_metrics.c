/* integrations/ig_metrics.c -- /metrics of `inquest serve`: the queue's numbers (read from Redis
 * at each scrape) and the server's own, in the Prometheus text format 0.0.4. docs/operating.md
 * lists the series. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_serve.h"

/* A growing text, for one exposition. */
typedef struct text {
    char *data;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (n > 0 ? (size_t)n : 0) + 256;
        t->data = rt_xrealloc(t->data, t->cap);
    }
}

static void family(text *t, const char *name, const char *type, const char *help) {
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void queue_metrics(text *t, const rt_queue_stats *q) {
    family(t, "inquest_queue_depth", "gauge", "Analyses waiting to be claimed, by priority.");
    for (int p = 0; p < 3; p++)
        put(t, "inquest_queue_depth{priority=\"%s\"} %lld\n", rt_priority_name((rt_priority)p),
            q->queued[p]);
    family(t, "inquest_queue_held", "gauge",
           "Analyses claimed but waiting for room under their team's concurrency cap.");
    put(t, "inquest_queue_held %lld\n", q->held);
    family(t, "inquest_analyses_running", "gauge", "Analyses a worker holds a lease on.");
    put(t, "inquest_analyses_running %lld\n", q->running);
    family(t, "inquest_analyses_submitted_total", "counter", "Analyses accepted for the queue.");
    put(t, "inquest_analyses_submitted_total %lld\n", q->submitted);
    family(t, "inquest_analyses_deduplicated_total", "counter",
           "Submissions answered with an earlier analysis within its dedup window.");
    put(t, "inquest_analyses_deduplicated_total %lld\n", q->deduplicated);
    family(t, "inquest_analyses_completed_total", "counter", "Analyses that ended, by status.");
    for (int i = 0; i < 7; i++)
        put(t, "inquest_analyses_completed_total{status=\"%s\"} %lld\n", rt_queue_statuses[i],
            q->completed[i]);
    family(t, "inquest_queue_reclaims_total", "counter",
           "Requests taken over from a worker whose lease expired.");
    put(t, "inquest_queue_reclaims_total %lld\n", q->reclaims);
    family(t, "inquest_queue_dead_letters_total", "counter",
           "Requests moved to the dead letters after too many deliveries.");
    put(t, "inquest_queue_dead_letters_total %lld\n", q->dead);
    /* Apart, so that the series above keeps its meaning: a misfit is no delivery that failed. */
    family(t, "inquest_intake_dead_letters_total", "counter",
           "Intake starts whose inputs did not fit their analyzer, kept in the dead letters.");
    put(t, "inquest_intake_dead_letters_total %lld\n", q->dead_intake);
    family(t, "inquest_queue_duplicate_completions_total", "counter",
           "Completions refused because the analysis had a result or another worker held it.");
    put(t, "inquest_queue_duplicate_completions_total %lld\n", q->duplicates);
    family(t, "inquest_recordings_total", "counter",
           "Recordings of analyses workers kept, and dropped as larger than recordings.max_bytes.");
    put(t, "inquest_recordings_total{outcome=\"kept\"} %lld\n", q->recordings_kept);
    put(t, "inquest_recordings_total{outcome=\"too_big\"} %lld\n", q->recordings_too_big);
}

/* The samples of histogram 'name' with the labels 'labels' ("" or `connector="x"`), from the
 * counts per bucket 'buckets' (RT_QUEUE_LATENCY_BUCKETS + 1, not cumulative) and their 'sum'. */
static void histogram(text *t, const char *name, const char *labels, const double *buckets,
                      double sum) {
    const char *comma = *labels ? "," : "", *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    double cumulative = 0;
    for (int i = 0; i < RT_QUEUE_LATENCY_BUCKETS; i++) {
        cumulative += buckets[i];
        put(t, "%s_bucket{%s%sle=\"%g\"} %.0f\n", name, labels, comma, rt_queue_latency_bounds[i],
            cumulative);
    }
    cumulative += buckets[RT_QUEUE_LATENCY_BUCKETS];
    put(t, "%s_bucket{%s%sle=\"+Inf\"} %.0f\n", name, labels, comma, cumulative);
    put(t, "%s_sum%s%s%s %.6f\n", name, open, labels, close, sum);
    put(t, "%s_count%s%s%s %.0f\n", name, open, labels, close, cumulative);
}

static void duration_metrics(text *t, const ig_serve *s) {
    double buckets[RT_QUEUE_LATENCY_BUCKETS + 1];
    for (int i = 0; i <= RT_QUEUE_LATENCY_BUCKETS; i++)
        buckets[i] = (double)s->duration_buckets[i];
    family(t, "inquest_analysis_duration_seconds", "histogram",
           "Time from submission to result of the analyses this server saw end.");
    histogram(t, "inquest_analysis_duration_seconds", "", buckets, s->duration_sum);
}

static void connector_metrics(text *t, const rt_queue_connector_stats *c, size_t n) {
    family(t, "inquest_connector_calls_total", "counter",
           "Connector calls made by analyses, as the workers counted them.");
    for (size_t i = 0; i < n; i++)
        put(t, "inquest_connector_calls_total{connector=\"%s\"} %.0f\n", c[i].connector,
            c[i].calls);
    family(t, "inquest_connector_errors_total", "counter",
           "Connector calls that failed (timeout, refused, an HTTP error status, …).");
    for (size_t i = 0; i < n; i++)
        put(t, "inquest_connector_errors_total{connector=\"%s\"} %.0f\n", c[i].connector,
            c[i].errors);
    family(t, "inquest_connector_duration_seconds", "histogram",
           "How long connector calls took, retries included.");
    for (size_t i = 0; i < n; i++) {
        char labels[96];
        snprintf(labels, sizeof labels, "connector=\"%s\"", c[i].connector);
        histogram(t, "inquest_connector_duration_seconds", labels, c[i].buckets, c[i].seconds);
    }
}

static void http_metrics(text *t, const ig_serve *s) {
    rt_httpd_stats h;
    rt_httpd_get_stats(s->httpd, &h);
    family(t, "inquest_http_requests_total", "counter", "HTTP requests handled.");
    put(t, "inquest_http_requests_total %llu\n", (unsigned long long)h.requests);
    family(t, "inquest_http_responses_total", "counter", "HTTP answers sent, by status class.");
    for (int c = 1; c <= 5; c++)
        put(t, "inquest_http_responses_total{class=\"%dxx\"} %llu\n", c,
            (unsigned long long)h.responses[c]);
    family(t, "inquest_http_errors_total", "counter", "HTTP error answers, by error code.");
    for (size_t i = 0; i < h.n_errors; i++)
        put(t, "inquest_http_errors_total{code=\"%s\"} %llu\n", h.errors[i].code,
            (unsigned long long)h.errors[i].count);
    family(t, "inquest_http_connections_open", "gauge", "HTTP connections open now.");
    put(t, "inquest_http_connections_open %llu\n", (unsigned long long)h.connections_open);
    family(t, "inquest_http_connections_rejected_total", "counter",
           "Connections refused over server.max_connections.");
    put(t, "inquest_http_connections_rejected_total %llu\n",
        (unsigned long long)h.connections_rejected);
    family(t, "inquest_http_timeouts_total", "counter",
           "Connections closed because the client was too slow.");
    put(t, "inquest_http_timeouts_total %llu\n", (unsigned long long)h.timeouts);
    family(t, "inquest_http_long_polls", "gauge",
           "Long polls (GET /v1/analyses/ID?wait=) waiting for their analysis now.");
    put(t, "inquest_http_long_polls %zu\n", s->n_waiters);
    family(t, "inquest_submit_unavailable_total", "counter",
           "Requests answered 503 because Redis could not take them.");
    put(t, "inquest_submit_unavailable_total %llu\n",
        (unsigned long long)s->submit_refused_unavailable);
}

static void intake_metrics(text *t, const ig_serve *s) {
    static const char *const outcomes[] = {"accepted", "unauthorized", "bad_request",
                                           "unavailable"};
    const ig_intake_counts *c = &s->intake;
    family(t, "inquest_intake_requests_total", "counter",
           "Alert webhooks received, by source and outcome (refusals: unauthorized, bad_request, "
           "unavailable).");
    for (int src = 0; src < IG_INTAKE_SOURCE_SLOTS; src++)
        for (int o = 0; o < IG_INTAKE_OUTCOMES; o++)
            put(t, "inquest_intake_requests_total{source=\"%s\",outcome=\"%s\"} %llu\n",
                rt_source_name((rt_source)src), outcomes[o],
                (unsigned long long)c->requests[src][o]);
    family(t, "inquest_intake_alerts_total", "counter",
           "Alerts in accepted webhooks, by source and status.");
    for (int src = 0; src < IG_INTAKE_SOURCE_SLOTS; src++)
        for (int st = 0; st < 2; st++)
            put(t, "inquest_intake_alerts_total{source=\"%s\",status=\"%s\"} %llu\n",
                rt_source_name((rt_source)src), st ? "resolved" : "firing",
                (unsigned long long)c->alerts[src][st]);
    family(t, "inquest_intake_analyses_total", "counter",
           "What routes did with firing alerts in accepted webhooks: started a new analysis, "
           "found a running one (deduplicated), started nothing as the alert resolved since "
           "(late), or could not start one (input_error).");
    put(t, "inquest_intake_analyses_total{outcome=\"started\"} %llu\n",
        (unsigned long long)c->started);
    put(t, "inquest_intake_analyses_total{outcome=\"deduplicated\"} %llu\n",
        (unsigned long long)c->deduplicated);
    put(t, "inquest_intake_analyses_total{outcome=\"late\"} %llu\n", (unsigned long long)c->late);
    put(t, "inquest_intake_analyses_total{outcome=\"input_error\"} %llu\n",
        (unsigned long long)c->input_errors);
    family(t, "inquest_intake_resolved_total", "counter",
           "Analyses stamped resolved by the alert that started them.");
    put(t, "inquest_intake_resolved_total %llu\n", (unsigned long long)c->resolved);
    family(t, "inquest_intake_unrouted_alerts_total", "counter", "Alerts that no route took.");
    put(t, "inquest_intake_unrouted_alerts_total %llu\n", (unsigned long long)c->unrouted);
}

/* One scrape: the queue's numbers, then the connectors', then the answer. */
typedef struct scrape {
    ig_serve *s;
    rt_httpd_req *req;
    rt_queue_stats queue;
    bool queue_read;
    bool labelled; /* the insights' series by service, alert and analyzer too */
} scrape;

static void respond(scrape *sc, const rt_queue_connector_stats *connectors, size_t n) {
    text t = {0};
    family(&t, "inquest_queue_up", "gauge", "1 when Redis answers and the queue is usable.");
    put(&t, "inquest_queue_up %d\n", sc->queue_read);
    if (sc->queue_read)
        queue_metrics(&t, &sc->queue);
    duration_metrics(&t, sc->s);
    connector_metrics(&t, connectors, n);
    http_metrics(&t, sc->s);
    intake_metrics(&t, sc->s);
    char *insights = ig_insights_metrics(sc->s, sc->labelled); /* the job's last report */
    put(&t, "%s", insights);
    free(insights);
    rt_httpd_respond(sc->req, 200, "text/plain; version=0.0.4; charset=utf-8", t.data, t.len);
    free(t.data);
    free(sc);
}

static void connectors_read(int rc, const char *msg, const rt_queue_connector_stats *stats,
                            size_t n, void *ud) {
    (void)msg;
    respond(ud, rc == RT_OK ? stats : NULL, rc == RT_OK ? n : 0);
}

static void stats_read(int rc, const char *msg, const rt_queue_stats *stats, void *ud) {
    scrape *sc = ud;
    (void)msg;
    if (rc == RT_OK) {
        sc->queue = *stats;
        sc->queue_read = true;
    }
    if (rt_queue_connector_stats_read(sc->s->queue, connectors_read, sc, NULL) != RT_OK)
        respond(sc, NULL, 0);
}

void ig_metrics_respond(ig_serve *s, rt_httpd_req *req) {
    scrape *sc = rt_xcalloc(1, sizeof *sc);
    sc->s = s;
    sc->req = req;
    /* /metrics needs no token, but the insights' labels name every team's services, alerts and
     * analyzers, which /v1/insights shows a token only for its own analyzers: they are for a
     * scrape that presents a token allowed every analyzer, or a server without tokens. */
    const ig_token *token = ig_presented_token(s, req);
    sc->labelled = s->n_tokens == 0 || (token && ig_token_allows_all(token));
    if (rt_queue_stats_read(s->queue, stats_read, sc, NULL) != RT_OK)
        respond(sc, NULL, 0);
}

void ig_metrics_observe(ig_serve *s, double seconds) {
    s->duration_buckets[rt_queue_latency_bucket(seconds)]++;
    s->duration_sum += seconds;
}
