/* integrations/ig_api_insights.c -- insights in `inquest serve` (docs/console.md, Insights): the
 * job that counts analyses as they finish, GET /v1/insights, and the insights' series of
 * /metrics (totals; by service, alert and analyzer only for a scrape that may see every team's).
 * What is counted and how the report is made is ig_insights.c; the counts live in Redis
 * (ig_store.lua).
 *
 * Design notes. The job reads the queue's results stream with a consumer group of its own,
 * 'insights', so that every finished analysis is read by one serve process of the many that may
 * share a queue, and none is lost while no serve runs (the stream keeps what a group has not
 * read). A tick, every insights.interval:
 *   group   inquest_ig_init once (the first time on a queue the group starts at the stream's
 *           start, so that what it holds is counted; then at its end)
 *   claim   XAUTOCLAIM: entries another process (or this one) read and did not count within
 *           CLAIM_IDLE, because it died or Redis refused the fold
 *   read    XREADGROUP of up to BATCH new entries, without blocking
 *   summarize  each analysis an entry lists (one entry per call that made analyses final, a
 *           line each) into an ig_summary (rt_queue_get: status and result)
 *   fold    inquest_ig_fold: counts them and acknowledges their entries in one call; the next
 *           batch follows at once while batches come full
 *   report  the counts of insights.period, kept for /metrics
 * Reading an entry and counting it are two steps, like the post-processor's (postproc/
 * pp_postproc.c): the count happens in the call that acknowledges the entry, so an entry is
 * counted once even when two processes came to read it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_serve.h"
#include "ig_store.h"

#define BATCH      8 /* entries read at once: a get of a result per analysis, all in flight */
#define BATCH_TEXT "8"
#define CLAIM_IDLE 120.0 /* seconds, at least, before a read entry is taken over */

struct ig_insights_job {
    ig_serve *s;
    uv_timer_t timer;
    char consumer[128];
    char k_results[192];
    char claim_cursor[64];
    bool off; /* insights.enabled false: the job only removes the group */
    bool grouped, busy, closing, timer_closed;
    size_t calls; /* Redis calls out: the job is freed when none is and the timer is closed */
    /* The batch being summarized: an item per analysis, or per entry that lists none. */
    size_t n, cap, n_entries, waiting;
    bool failed; /* a get failed for Redis' sake: the batch is not folded, its entries wait */
    char (*entries)[48];           /* each item's entry */
    char (*ids)[RT_QUEUE_ID_SIZE]; /* each item's analysis; "" for none */
    ig_summary *items;
    json_t *report; /* the last report of insights.period, for /metrics (owned) */
    uint64_t counted, errors;
    double last_fold; /* Unix seconds of the last fold that went through */
};

typedef struct ig_insights_job job;

static void say(job *j, const char *level, const char *msg, json_t *fields) {
    (void)j;
    ig_log(level, msg, fields);
}

static void job_free(job *j) {
    json_decref(j->report);
    free(j->entries);
    free(j->ids);
    free(j->items);
    free(j);
}

/* Ends one call of 'j': true when the job is closing (the caller returns at once), after freeing
 * it with the last call. */
static bool call_ended(job *j) {
    j->calls--;
    if (!j->closing)
        return false;
    if (!j->calls && j->timer_closed)
        job_free(j);
    return true;
}

static void tick_done(job *j) {
    j->busy = false;
}

/* ---- the report ------------------------------------------------------------------------------ */

static void reported(int rc, const char *msg, const redisReply *reply, void *ud) {
    job *j = ud;
    if (call_ended(j))
        return;
    if (rc == RT_OK) {
        json_decref(j->report);
        j->report =
            ig_insights_report(reply, rt_wallclock(), (int)(j->s->config->insights.period / 86400),
                               j->s->config->insights.top, NULL, NULL);
    } else
        say(j, "warn", "insights: cannot read the counts", json_pack("{s:s}", "reason", msg));
    tick_done(j);
}

static void refresh_report(job *j) {
    int days = (int)(j->s->config->insights.period / 86400);
    if (ig_insights_read(j->s->store, rt_wallclock(), days, reported, j) == RT_OK)
        j->calls++;
    else
        tick_done(j);
}

/* ---- reading and counting ------------------------------------------------------------------- */

static void read_new(job *j);
static void drop_group(job *j);

static void folded(int rc, const char *msg, const redisReply *reply, void *ud) {
    job *j = ud;
    if (call_ended(j))
        return;
    if (rc != RT_OK) { /* the entries stay pending: a later claim takes them again */
        j->errors++;
        say(j, "warn", "insights: the counts were not updated; the analyses will be read again",
            json_pack("{s:s, s:i}", "reason", msg, "analyses", (int)j->n));
        refresh_report(j);
        return;
    }
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER)
        j->counted += (uint64_t)reply->element[0]->integer;
    j->last_fold = rt_wallclock();
    bool full = j->n_entries == BATCH;
    j->n = 0;
    /* A backlog is read batch after batch, each call answered before the next is sent, so the
     * server's other work goes on between them. */
    if (full)
        read_new(j);
    else
        refresh_report(j);
}

static void fold(job *j) {
    int rc = RT_EBACKEND; /* a get failed: not folded */
    if (!j->failed) {
        const char **entries = rt_xcalloc(j->n, sizeof *entries);
        for (size_t i = 0; i < j->n; i++)
            entries[i] = j->entries[i];
        const rt_insights *in = &j->s->config->insights;
        rc = ig_insights_fold(j->s->store, entries, j->items, j->n, in->retention, IG_NAMES_PER_DAY,
                              folded, j);
        free(entries);
    }
    if (rc != RT_OK) {
        j->errors++;
        refresh_report(j); /* the entries wait for a later claim */
        return;
    }
    j->calls++;
}

/* A get of one analysis of the batch; 'ud' is its slot's summary. */
typedef struct slot {
    job *j;
    size_t i;
} slot;

static void got(int rc, const char *msg, const rt_queue_analysis *a, void *ud) {
    slot *sl = ud;
    job *j = sl->j;
    size_t i = sl->i;
    free(sl);
    if (call_ended(j))
        return;
    if (rc == RT_OK || rc == RT_ENOTFOUND) /* an analysis gone is acknowledged, not counted */
        ig_insights_summarize(rc == RT_OK ? a : NULL, rt_wallclock(), &j->items[i]);
    else {
        j->failed = true;
        say(j, "warn", "insights: cannot read a finished analysis; it will be read again",
            json_pack("{s:s}", "reason", msg));
    }
    if (--j->waiting == 0)
        fold(j);
}

/* Adds to the batch an item of results entry 'entry' for analysis 'id' ("": nothing to count,
 * the entry is only acknowledged). */
static void add_item(job *j, const char *entry, const char *id) {
    if (j->n == j->cap) {
        j->cap = j->cap ? 2 * j->cap : 64;
        j->entries = rt_xrealloc(j->entries, j->cap * sizeof *j->entries);
        j->ids = rt_xrealloc(j->ids, j->cap * sizeof *j->ids);
        j->items = rt_xrealloc(j->items, j->cap * sizeof *j->items);
    }
    snprintf(j->entries[j->n], sizeof *j->entries, "%s", entry);
    snprintf(j->ids[j->n], sizeof *j->ids, "%s", id);
    ig_insights_summarize(NULL, rt_wallclock(), &j->items[j->n]);
    j->n++;
}

/* Adds the analyses results entry 'e' lists ([id, [field, value, …]]) to the batch. */
static void add_entry(job *j, const redisReply *e) {
    char line[RT_QUEUE_ENDED_LINE];
    const char *at = rt_queue_ended_text(e->element[1], line, sizeof line);
    size_t before = j->n;
    rt_queue_ended ended;
    while (rt_queue_next_ended(&at, &ended))
        if (ended.id[0])
            add_item(j, e->element[0]->str, ended.id);
    if (j->n == before)
        add_item(j, e->element[0]->str, "");
    j->n_entries++;
}

/* Summarizes the analyses of the entries 'list' (XREADGROUP's or XAUTOCLAIM's: [id, [field,
 * value, …]] each), then folds them; with none, the tick ends with the report. */
static void take(job *j, const redisReply *list) {
    char why[256];
    j->n = j->n_entries = 0;
    j->failed = false;
    for (size_t k = 0; list && list->type == REDIS_REPLY_ARRAY && k < list->elements; k++) {
        const redisReply *e = list->element[k];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING || e->element[0]->len >= 48)
            continue; /* a deleted entry, which XAUTOCLAIM reports as nil, has nothing to count */
        add_entry(j, e);
    }
    if (j->n == 0) {
        refresh_report(j);
        return;
    }
    j->waiting = 1; /* held while the gets are sent, so that none ends the batch early */
    for (size_t i = 0; i < j->n; i++) {
        if (!j->ids[i][0]) /* an entry that lists no analysis: acknowledged, nothing counted */
            continue;
        slot *sl = rt_xmalloc(sizeof *sl);
        *sl = (slot){j, i};
        int rc = rt_queue_get(j->s->queue, j->ids[i], got, sl, why);
        if (rc == RT_OK) {
            j->calls++;
            j->waiting++;
            continue;
        }
        free(sl);
        if (rc != RT_EINPUT) /* Redis: read again later; a malformed id is only acknowledged */
            j->failed = true;
    }
    if (--j->waiting == 0)
        fold(j);
}

static void on_read(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    job *j = ud;
    (void)r;
    if (call_ended(j))
        return;
    if (rc != RT_OK) {
        if (strstr(msg, "NOGROUP"))
            j->grouped = false; /* the stream went: make the group again */
        else
            say(j, "warn", "insights: cannot read the results stream",
                json_pack("{s:s}", "reason", msg));
        tick_done(j);
        return;
    }
    /* [[stream, [entry…]]], or nil when nothing is new. */
    const redisReply *entries = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                                        reply->element[0]->type == REDIS_REPLY_ARRAY &&
                                        reply->element[0]->elements == 2
                                    ? reply->element[0]->element[1]
                                    : NULL;
    take(j, entries);
}

static void read_new(job *j) {
    const char *argv[] = {"XREADGROUP", "GROUP",   "insights",   j->consumer, "COUNT",
                          BATCH_TEXT,   "STREAMS", j->k_results, ">"};
    if (rt_redis_command(ig_store_redis(j->s->store), 9, argv, NULL, on_read, j) == RT_OK)
        j->calls++;
    else
        tick_done(j);
}

static void on_claimed(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    job *j = ud;
    (void)r;
    if (call_ended(j))
        return;
    if (rc != RT_OK || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        if (rc != RT_OK && strstr(msg, "NOGROUP"))
            j->grouped = false;
        read_new(j);
        return;
    }
    if (reply->element[0]->type == REDIS_REPLY_STRING)
        snprintf(j->claim_cursor, sizeof j->claim_cursor, "%s", reply->element[0]->str);
    const redisReply *entries = reply->element[1];
    if (entries->type == REDIS_REPLY_ARRAY && entries->elements > 0)
        take(j, entries); /* the new ones follow in the same tick when this batch came full */
    else
        read_new(j);
}

/* Takes over what was read and not counted within CLAIM_IDLE (three intervals at least): the
 * scan goes on from where the last one ended, "0-0" again once through. */
static void claim_stale(job *j) {
    char idle[32];
    snprintf(idle, sizeof idle, "%.0f",
             fmax(CLAIM_IDLE, 3 * j->s->config->insights.interval) * 1000);
    const char *argv[] = {"XAUTOCLAIM", j->k_results,    "insights", j->consumer,
                          idle,         j->claim_cursor, "COUNT",    BATCH_TEXT};
    if (rt_redis_command(ig_store_redis(j->s->store), 8, argv, NULL, on_claimed, j) == RT_OK)
        j->calls++;
    else
        tick_done(j);
}

static void on_init(int rc, const char *msg, const redisReply *reply, void *ud) {
    job *j = ud;
    (void)reply;
    if (call_ended(j))
        return;
    if (rc != RT_OK) {
        say(j, "warn", "insights: cannot make the results group",
            json_pack("{s:s}", "reason", msg));
        tick_done(j);
        return;
    }
    j->grouped = true;
    claim_stale(j);
}

static void on_tick(uv_timer_t *t) {
    job *j = t->data;
    if (j->busy || j->closing || j->s->draining)
        return;
    j->busy = true;
    if (j->off) {
        drop_group(j);
        return;
    }
    if (j->grouped) {
        claim_stale(j);
        return;
    }
    char since[192];
    ig_store_key(j->s->store, "in:since", since, sizeof since);
    const char *keys[] = {j->k_results, since};
    if (ig_store_call(j->s->store, "inquest_ig_init", 2, keys, 0, NULL, on_init, j) == RT_OK)
        j->calls++;
    else
        tick_done(j);
}

/* ---- start and stop ------------------------------------------------------------------------- */

static void on_dropped(int rc, const char *msg, const redisReply *reply, void *ud) {
    job *j = ud;
    (void)reply;
    if (call_ended(j))
        return;
    if (rc == RT_OK) {
        ig_log("info", "insights off: their group on the results stream is removed", NULL);
        uv_timer_stop(&j->timer);
    } else
        ig_log("warn", "insights off, but their group on the results stream stays; trying again",
               json_pack("{s:s}", "reason", msg));
    tick_done(j);
}

/* Insights off: a group nobody reads would keep the results stream from being trimmed, so it is
 * removed, once Redis answers. Another serve with insights on makes it again (from then on). */
static void drop_group(job *j) {
    const char *keys[] = {j->k_results};
    if (ig_store_call(j->s->store, "inquest_ig_drop", 1, keys, 0, NULL, on_dropped, j) == RT_OK)
        j->calls++;
    else
        tick_done(j); /* not connected yet: the next tick tries again */
}

void ig_insights_start(ig_serve *s) {
    job *j = rt_xcalloc(1, sizeof *j);
    j->s = s;
    j->off = !s->config->insights.enabled;
    ig_store_key(s->store, "results", j->k_results, sizeof j->k_results);
    snprintf(j->claim_cursor, sizeof j->claim_cursor, "0-0");
    rt_queue_consumer_name(j->consumer, sizeof j->consumer);
    uv_timer_init(s->loop, &j->timer);
    j->timer.data = j;
    /* The first tick comes soon after the start (the queue connects meanwhile), then every
     * interval; insights off retries its one call every second until it went through. */
    uint64_t every = j->off ? 1000 : (uint64_t)fmax(1, s->config->insights.interval * 1000);
    uv_timer_start(&j->timer, on_tick, every < 500 ? every : 500, every);
    s->insights = j;
}

static void timer_closed(uv_handle_t *h) {
    job *j = h->data;
    j->timer_closed = true;
    if (!j->calls)
        job_free(j);
}

void ig_insights_stop(ig_serve *s) {
    job *j = s->insights;
    if (!j)
        return;
    s->insights = NULL;
    j->closing = true;
    uv_close((uv_handle_t *)&j->timer, timer_closed);
}

/* ---- GET /v1/insights ----------------------------------------------------------------------- */

typedef struct insights_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    int days, top;
} insights_call;

static bool token_allows(const char *analyzer, const char *team, void *ud) {
    return ig_token_allows(ud, analyzer, team);
}

static void insights_read(int rc, const char *msg, const redisReply *reply, void *ud) {
    insights_call *c = ud;
    if (rc != RT_OK) {
        ig_retry_after(c->s, c->req);
        rt_httpd_error(c->req, 503, "unavailable", "Redis cannot answer: %s", msg);
    } else {
        json_t *report = ig_insights_report(reply, rt_wallclock(), c->days, c->top, token_allows,
                                            (void *)c->token);
        char interval[32];
        rt_duration_format(c->s->config->insights.interval, interval);
        json_object_set_new(report, "enabled", json_boolean(c->s->config->insights.enabled));
        json_object_set_new(report, "interval", json_string(interval));
        rt_httpd_respond_json(c->req, 200, report);
    }
    free(c);
}

static void get_insights(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    char text[32], why[128];
    double period = s->config->insights.period, retention = s->config->insights.retention;
    int n = rt_httpd_query(req, "period", text, sizeof text);
    if (n != RT_ENOTFOUND && (n <= 0 || rt_duration_parse(text, &period, why) != 0 ||
                              period < 86400 || fmod(period, 86400) != 0 || period > retention)) {
        char longest[32];
        rt_duration_format(floor(retention / 86400) * 86400, longest);
        rt_httpd_error(req, 400, "bad_request",
                       "period must be whole days from 1d to %s (insights.retention): the "
                       "counts are kept by UTC day",
                       longest);
        return;
    }
    int top = s->config->insights.top;
    n = rt_httpd_query(req, "top", text, sizeof text);
    if (n != RT_ENOTFOUND) {
        char *end = NULL;
        long t = n > 0 ? strtol(text, &end, 10) : 0;
        if (n <= 0 || *end || t < 1 || t > 100) {
            rt_httpd_error(req, 400, "bad_request", "top must be a whole number from 1 to 100");
            return;
        }
        top = (int)t;
    }
    insights_call *c = rt_xcalloc(1, sizeof *c);
    *c = (insights_call){
        .s = s, .req = req, .token = token, .days = (int)(period / 86400), .top = top};
    if (ig_insights_read(s->store, rt_wallclock(), c->days, insights_read, c) != RT_OK) {
        free(c);
        ig_retry_after(s, req);
        rt_httpd_error(req, 503, "unavailable", "Redis cannot answer: %s",
                       rt_redis_error(ig_store_redis(s->store)));
    }
}

bool ig_api_insights(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    if (strcmp(req->path, "/v1/insights") != 0)
        return false;
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
        get_insights(s, req, token);
    else {
        rt_httpd_set_header(req, "Allow", "GET");
        rt_httpd_error(req, 405, "method_not_allowed", "%s is not allowed here (allowed: GET)",
                       req->method);
    }
    return true;
}

/* ---- /metrics ------------------------------------------------------------------------------- */

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

/* A label value as the text format wants it: backslash, quote and newline escaped. Into 'out'
 * of 'size' bytes (3 * IG_NAME_MAX fit). */
static const char *label(const char *v, char *out, size_t size) {
    size_t o = 0;
    for (const char *p = v ? v : ""; *p && o + 3 < size; p++) {
        if (*p == '\\' || *p == '"')
            out[o++] = '\\', out[o++] = *p;
        else if (*p == '\n')
            out[o++] = '\\', out[o++] = 'n';
        else
            out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

typedef struct pair {
    const char *group, *cause;
    json_int_t n;
} pair;

static int by_n(const void *x, const void *y) {
    const pair *a = x, *b = y;
    return a->n != b->n ? (a->n < b->n ? 1 : -1) : 0;
}

/* The top 'top' (group, root cause) pairs of the ranking 'groups' under the name 'key'. */
static void pairs(text *t, const char *metric, const char *key, const json_t *groups, int top) {
    size_t n = 0, i, k;
    json_t *g, *rc;
    json_array_foreach(groups, i, g) n += json_array_size(json_object_get(g, "root_causes"));
    pair *all = rt_xcalloc(n + 1, sizeof *all);
    n = 0;
    json_array_foreach(groups, i, g) {
        json_array_foreach(json_object_get(g, "root_causes"), k, rc) {
            all[n++] = (pair){json_string_value(json_object_get(g, key)),
                              json_string_value(json_object_get(rc, "root_cause")),
                              json_integer_value(json_object_get(rc, "count"))};
        }
    }
    qsort(all, n, sizeof *all, by_n);
    for (i = 0; i < n && i < (size_t)top; i++) {
        char a[3 * IG_NAME_MAX + 16], b[3 * IG_NAME_MAX + 16];
        put(t, "%s{%s=\"%s\",root_cause=\"%s\"} %lld\n", metric, key,
            label(all[i].group, a, sizeof a), label(all[i].cause, b, sizeof b),
            (long long)all[i].n);
    }
    free(all);
}

/* The series whose labels name services, alerts and analyzers, of every team: the top 'top' of
 * each ranking of the report 'r'. */
static void labelled_series(text *t, const json_t *r, int top) {
    char a[3 * 256 + 16];
    size_t i;
    json_t *x;
    family(t, "inquest_insights_service_root_cause", "gauge",
           "Analyses of a service whose top root cause was this, within insights.period: the "
           "insights.top pairs with the most.");
    pairs(t, "inquest_insights_service_root_cause", "service", json_object_get(r, "services"), top);
    family(t, "inquest_insights_alert_root_cause", "gauge",
           "Analyses started by an alert whose top root cause was this, within insights.period: "
           "the insights.top pairs with the most.");
    pairs(t, "inquest_insights_alert_root_cause", "alert", json_object_get(r, "alerts"), top);
    family(t, "inquest_insights_analyzer_analyses", "gauge",
           "Analyses of an analyzer within insights.period: the insights.top analyzers with the "
           "most.");
    json_array_foreach(json_object_get(r, "analyzers"), i, x) {
        if (i >= (size_t)top)
            break;
        put(t, "inquest_insights_analyzer_analyses{analyzer=\"%s\"} %lld\n",
            label(json_string_value(json_object_get(x, "analyzer")), a, sizeof a),
            (long long)json_integer_value(json_object_get(x, "analyses")));
    }
    family(t, "inquest_insights_precision", "gauge",
           "Share of an analyzer's judged analyses whose root cause was right (correct 1, partly "
           "1/2, wrong 0), within insights.period: the insights.top analyzers with the most "
           "analyses, when judged.");
    json_array_foreach(json_object_get(r, "analyzers"), i, x) {
        if (i >= (size_t)top)
            break;
        if (json_is_number(json_object_get(x, "precision")))
            put(t, "inquest_insights_precision{analyzer=\"%s\"} %g\n",
                label(json_string_value(json_object_get(x, "analyzer")), a, sizeof a),
                json_number_value(json_object_get(x, "precision")));
    }
}

char *ig_insights_metrics(const ig_serve *s, bool labelled) {
    const job *j = s->insights;
    text t = {0};
    put(&t, "%s", "");
    if (!j || j->off)
        return t.data;
    const json_t *r = j->report;
    int top = s->config->insights.top;
    family(&t, "inquest_insights_counted_total", "counter",
           "Finished analyses this server counted into the insights.");
    put(&t, "inquest_insights_counted_total %llu\n", (unsigned long long)j->counted);
    family(&t, "inquest_insights_fold_errors_total", "counter",
           "Batches of finished analyses the insights could not count yet (read again later).");
    put(&t, "inquest_insights_fold_errors_total %llu\n", (unsigned long long)j->errors);
    family(&t, "inquest_insights_last_fold_timestamp_seconds", "gauge",
           "When this server last counted a batch of finished analyses (0: not yet): an alert on "
           "its age finds a job that stopped.");
    put(&t, "inquest_insights_last_fold_timestamp_seconds %.3f\n", j->last_fold);
    if (!r)
        return t.data;
    family(&t, "inquest_insights_analyses", "gauge",
           "Analyses that finished within insights.period (whole UTC days), by outcome.");
    for (int o = 0; o < IG_OUTCOMES; o++)
        put(&t, "inquest_insights_analyses{outcome=\"%s\"} %lld\n", ig_outcomes[o],
            (long long)json_integer_value(
                json_object_get(json_object_get(r, "outcomes"), ig_outcomes[o])));
    const json_t *d = json_object_get(r, "duration_ms");
    if (json_is_number(json_object_get(d, "p50"))) {
        family(&t, "inquest_insights_duration_seconds", "gauge",
               "Run time of those analyses: the median and 95th percentile (within 6%).");
        put(&t, "inquest_insights_duration_seconds{quantile=\"0.5\"} %g\n",
            json_number_value(json_object_get(d, "p50")) / 1000);
        put(&t, "inquest_insights_duration_seconds{quantile=\"0.95\"} %g\n",
            json_number_value(json_object_get(d, "p95")) / 1000);
    }
    if (labelled)
        labelled_series(&t, r, top);
    return t.data;
}
