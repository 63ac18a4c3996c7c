/* tests/unit/test_insights.c -- insights and feedback in Redis (integrations/ig_store.c,
 * integrations/ig_insights.c, their functions in integrations/ig_store.lua) against a real
 * redis-server that this program starts with tests/support/redis: what a finished analysis is
 * counted as, each results entry counted once whichever consumer folds it, nothing written by a
 * fold it refuses, a verdict replacing the count of the one before, the verdicts an analysis
 * holds and repeats that write nothing, the cap on names an analyzer a day, the report's
 * rankings, shares, quantiles and precision, and the library loaded again after a FUNCTION
 * FLUSH. Each test has a key prefix of its own and its own loop. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <cmocka.h>
#include "ig_store.h"
#include "rt_queue.h"
#include "test_redis.h"

static test_redis server;
static int test_no;

static int group_setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return test_redis_start(&server, "insights");
}

static int group_teardown(void **state) {
    (void)state;
    return test_redis_stop(&server);
}

/* ---- harness --------------------------------------------------------------------------------- */

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    rt_queue *q;
    ig_store *st;
    char prefix[32];
} fx;

static void on_guard(uv_timer_t *t) {
    (void)t;
    fail_msg("a test waited more than 10 s");
}

#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        while (!(cond))                                                                            \
            if (uv_run(&(f)->loop, UV_RUN_ONCE) == 0 && !(cond))                                   \
                fail_msg("the loop went idle waiting for %s", #cond);                              \
    } while (0)

static void open_fx(fx *f) {
    rt_redis_options r = {.url = server.url, .command_timeout = 2};
    rt_queue_options o = {0};
    char why[256] = "";
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->guard);
    uv_timer_start(&f->guard, on_guard, 10000, 0);
    uv_unref((uv_handle_t *)&f->guard);
    snprintf(f->prefix, sizeof f->prefix, "i%d-%d", (int)getpid(), ++test_no);
    o.prefix = f->prefix;
    f->q = rt_queue_new(&f->loop, &r, &o, why);
    if (!f->q)
        fail_msg("rt_queue_new: %s", why);
    RUN_UNTIL(f, rt_queue_is_up(f->q));
    f->st = ig_store_new(rt_queue_redis(f->q), f->prefix);
}

static void close_fx(fx *f) {
    ig_store_free(f->st);
    rt_queue_free(f->q);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* What a call answered: its code, message, and what the test wants of the reply. */
typedef struct answer {
    bool done;
    int rc;
    char msg[512];
    long long integers[4]; /* the reply's first integers (an array's), or its integer */
    size_t elements;
    char str[4096]; /* a string reply, or the second element of an array (a verdict's JSON) */
    json_t *report; /* ig_insights_report of the reply, when 'days' is set */
    int days, top;
    ig_insights_filter filter;
} answer;

static void on_answer(int rc, const char *msg, const redisReply *reply, void *ud) {
    answer *a = ud;
    a->done = true;
    a->rc = rc;
    snprintf(a->msg, sizeof a->msg, "%s", msg);
    if (!reply)
        return;
    if (a->days) {
        a->report = ig_insights_report(reply, rt_wallclock(), a->days, a->top ? a->top : 10,
                                       a->filter, NULL);
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER)
        a->integers[0] = reply->integer;
    if (reply->type == REDIS_REPLY_STRING)
        snprintf(a->str, sizeof a->str, "%.*s", (int)reply->len, reply->str);
    if (reply->type == REDIS_REPLY_ARRAY) {
        a->elements = reply->elements;
        for (size_t i = 0; i < reply->elements && i < 4; i++)
            if (reply->element[i]->type == REDIS_REPLY_INTEGER)
                a->integers[i] = reply->element[i]->integer;
        if (reply->elements > 1 && reply->element[1]->type == REDIS_REPLY_STRING)
            snprintf(a->str, sizeof a->str, "%s", reply->element[1]->str);
    }
}

static void on_raw(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    (void)r;
    on_answer(rc, msg, rc == RT_OK ? reply : NULL, ud);
}

/* One command given as NULL-terminated strings, waited for. */
static answer raw_on(fx *f, ...) {
    const char *argv[32];
    int argc = 0;
    answer out = {0};
    va_list ap;
    va_start(ap, f);
    for (const char *a; argc < 32 && (a = va_arg(ap, const char *));)
        argv[argc++] = a;
    va_end(ap);
    if (rt_redis_command(rt_queue_redis(f->q), argc, argv, NULL, on_raw, &out) != RT_OK)
        fail_msg("rt_redis_command: %s", rt_redis_error(rt_queue_redis(f->q)));
    RUN_UNTIL(f, out.done);
    return out;
}

#define RAW(f, ...) raw_on(f, __VA_ARGS__, (const char *)NULL)

static const char *key(fx *f, const char *suffix) {
    static char buf[4][160];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "{%s}:%s", f->prefix, suffix);
    return buf[i];
}

/* ---- building blocks ------------------------------------------------------------------------- */

/* A finished analysis as rt_queue_get gives it. */
static rt_queue_analysis analysis(const char *analyzer, const char *status, const char *labels,
                                  const char *result, double run_s) {
    double now = rt_wallclock();
    return (rt_queue_analysis){.id = "0123456789abcdef",
                               .status = status,
                               .analyzer = analyzer,
                               .team = "team-x",
                               .priority = "interactive",
                               .labels = labels,
                               .message = "",
                               .consumer = "",
                               .submitted_at = now - run_s - 1,
                               .started_at = run_s >= 0 ? now - run_s : 0,
                               .finished_at = now,
                               .result = result,
                               .result_len = result ? strlen(result) : 0};
}

/* A result with one high finding blaming 'cause' (NULL: none), concluded with 'tag'. */
static const char *result_of(const char *cause, const char *tag, const char *service) {
    static char buf[4][1024];
    static int i;
    i = (i + 1) % 4;
    snprintf(
        buf[i], sizeof buf[i],
        "{\"status\":\"ok\",\"inputs\":{\"service\":\"%s\"},\"conclusion\":{\"tag\":\"%s\"},"
        "\"findings\":[%s%s%s{\"title\":\"noise\",\"root_cause\":\"noise\",\"severity\":\"info\","
        "\"confidence\":0.99}]}",
        service, tag,
        cause ? "{\"title\":\"t\",\"severity\":\"high\",\"confidence\":0.5,"
                "\"root_cause\":\""
              : "",
        cause ? cause : "", cause ? "\"}," : "");
    return buf[i];
}

/* One analysis' line of a results entry, as the queue publishes it (rt_queue.lua). */
#define ENDED_LINE "0123456789abcdef ok 12 x"

/* Adds 'n' entries of one analysis each to the results stream and reads them as 'consumer' of
 * the group insights; their ids into 'ids'. */
static void publish_and_read(fx *f, size_t n, const char *consumer, char ids[][48]) {
    for (size_t i = 0; i < n; i++) {
        answer a = RAW(f, "XADD", key(f, "results"), "*", RT_QUEUE_ENDED_FIELD, ENDED_LINE);
        assert_int_equal(a.rc, RT_OK);
        snprintf(ids[i], 48, "%.47s", a.str);
    }
    char count[16];
    snprintf(count, sizeof count, "%zu", n);
    answer r = RAW(f, "XREADGROUP", "GROUP", "insights", consumer, "COUNT", count, "STREAMS",
                   key(f, "results"), ">");
    assert_int_equal(r.rc, RT_OK);
}

static void store_call(fx *f, const char *fn, int nkeys, const char *const *keys) {
    answer a = {0};
    assert_int_equal(ig_store_call(f->st, fn, nkeys, keys, 0, NULL, on_answer, &a), RT_OK);
    RUN_UNTIL(f, a.done);
    assert_int_equal(a.rc, RT_OK);
}

static void init_group(fx *f) {
    const char *keys[] = {key(f, "results"), key(f, "in:since")};
    store_call(f, "inquest_ig_init", 2, keys);
}

static answer fold(fx *f, char ids[][48], const ig_summary *items, size_t n, int cap) {
    answer a = {0};
    const char *entries[64];
    for (size_t i = 0; i < n; i++)
        entries[i] = ids[i];
    assert_int_equal(ig_insights_fold(f->st, entries, items, n, 86400, cap, on_answer, &a), RT_OK);
    RUN_UNTIL(f, a.done);
    return a;
}

static json_t *report(fx *f, int top, ig_insights_filter filter) {
    answer a = {.days = 1, .top = top, .filter = filter};
    assert_int_equal(ig_insights_read(f->st, rt_wallclock(), 1, on_answer, &a), RT_OK);
    RUN_UNTIL(f, a.done);
    assert_int_equal(a.rc, RT_OK);
    return a.report;
}

static long long num(const json_t *r, const char *path) {
    json_t *v = json_object_get(r, path);
    return json_integer_value(v);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void durations_and_days(void **state) {
    (void)state;
    for (double ms = 1.5; ms < 1e7; ms *= 1.37) {
        double back = ig_duration_of_bucket(ig_duration_bucket(ms));
        assert_true(fabs(back - ms) / ms <= 0.06);
    }
    assert_int_equal(ig_duration_bucket(0), 0);
    assert_int_equal(ig_duration_bucket(1e12), IG_DURATION_BUCKETS - 1);
    char day[9];
    double end;
    ig_day_of(1795305600.5, day, &end); /* 2026-11-22T00:00:00.5Z */
    assert_string_equal(day, "20261122");
    assert_true(end == (1795305600.0 + 86400) * 1000);
    ig_day_of(1795305599.9, day, &end);
    assert_string_equal(day, "20261121");
}

static void summaries(void **state) {
    (void)state;
    ig_summary s;
    rt_queue_analysis a = analysis("http.error_spike", "ok", "{\"service\":\"checkout\"}",
                                   result_of("bad_deploy", "root_cause_found", "ignored"), 2.5);
    ig_insights_summarize(&a, rt_wallclock(), &s);
    assert_string_equal(s.analyzer, "http.error_spike");
    assert_string_equal(s.team, "team-x");
    assert_string_equal(s.outcome, "root_cause_found");
    assert_string_equal(s.service, "checkout");      /* the label wins over the input */
    assert_string_equal(s.root_cause, "bad_deploy"); /* the most severe, not the most confident */
    assert_string_equal(s.alert, "");
    assert_int_equal(s.bucket, ig_duration_bucket(2500));

    a = analysis("a|b", "ok", "{\"alertname\":\"High|Rate\"}",
                 result_of(NULL, "no_anomaly", "pay%ments"), -1);
    ig_insights_summarize(&a, rt_wallclock(), &s);
    assert_string_equal(s.analyzer, "a%7Cb");
    assert_string_equal(s.service, "pay%25ments"); /* from the input, escaped */
    assert_string_equal(s.alert, "High%7CRate");
    assert_string_equal(s.outcome, "no_anomaly");
    assert_string_equal(s.root_cause, "noise"); /* the only finding */
    assert_int_equal(s.bucket, -1);             /* it never started */

    a = analysis("x", "ok", "{\"inquest_route\":\"pages\"}", result_of("c", "weird_tag", "s"), 1);
    ig_insights_summarize(&a, rt_wallclock(), &s);
    assert_string_equal(s.outcome, "other");
    assert_string_equal(s.alert, "route:pages"); /* no alertname: the route names it */

    const char *statuses[] = {"error", "timeout", "memory_exceeded", "dead", "cancelled"};
    for (size_t i = 0; i < 5; i++) {
        a = analysis("x", statuses[i], "", result_of("c", "root_cause_found", "s"), 1);
        ig_insights_summarize(&a, rt_wallclock(), &s);
        assert_string_equal(s.outcome, i == 4 ? "cancelled" : "error");
        assert_string_equal(s.root_cause, ""); /* a failed run blames nothing */
    }
    ig_insights_summarize(NULL, rt_wallclock(), &s); /* gone: nothing to count */
    assert_string_equal(s.analyzer, "");

    char escaped[64];
    ig_store_escape("50%|x", 128, escaped, sizeof escaped);
    assert_string_equal(escaped, "50%25%7Cx");
    ig_store_unescape(escaped);
    assert_string_equal(escaped, "50%|x");
}

/* Every entry counted once: folding it again, or by a consumer that read it before another took
 * it over, counts nothing. */
static void counted_once(void **state) {
    fx f;
    char ids[4][48];
    ig_summary items[4];
    (void)state;
    open_fx(&f);
    init_group(&f);
    publish_and_read(&f, 3, "c1", ids);
    const char *causes[] = {"bad_deploy", "bad_deploy", "db.saturation"};
    for (int i = 0; i < 3; i++) {
        rt_queue_analysis a =
            analysis("fb.judge", "ok", "{\"service\":\"checkout\"}",
                     result_of(causes[i], "root_cause_found", "s"), 0.1 * (i + 1));
        ig_insights_summarize(&a, rt_wallclock(), &items[i]);
    }
    answer a = fold(&f, ids, items, 3, 100);
    assert_int_equal(a.rc, RT_OK);
    assert_int_equal(a.integers[0], 3);
    a = fold(&f, ids, items, 3, 100);
    assert_int_equal(a.integers[0], 0); /* acknowledged already */

    /* c2 takes over an entry c1 read; c2 counts it, c1's late fold does not. */
    publish_and_read(&f, 1, "c1", ids);
    answer claim = RAW(&f, "XCLAIM", key(&f, "results"), "insights", "c2", "0", ids[0]);
    assert_int_equal(claim.rc, RT_OK);
    assert_int_equal(fold(&f, ids, items, 1, 100).integers[0], 1);
    assert_int_equal(fold(&f, ids, items, 1, 100).integers[0], 0);

    json_t *r = report(&f, 10, NULL);
    assert_int_equal(num(r, "analyses"), 4);
    json_t *top = json_array_get(json_object_get(r, "root_causes"), 0);
    assert_string_equal(json_string_value(json_object_get(top, "root_cause")), "bad_deploy");
    assert_int_equal(num(top, "count"), 3);
    assert_true(json_real_value(json_object_get(top, "share")) == 0.75);
    json_t *svc = json_array_get(json_object_get(r, "services"), 0);
    assert_string_equal(json_string_value(json_object_get(svc, "service")), "checkout");
    assert_int_equal(num(svc, "analyses"), 4);
    json_decref(r);
    answer pending = RAW(&f, "XPENDING", key(&f, "results"), "insights");
    assert_int_equal(pending.integers[0], 0);
    close_fx(&f);
}

/* An entry lists the analyses of one call: folded together, each is counted, once. */
static void entry_of_several(void **state) {
    fx f;
    char ids[3][48];
    ig_summary items[3];
    (void)state;
    open_fx(&f);
    init_group(&f);
    answer e = RAW(&f, "XADD", key(&f, "results"), "*", RT_QUEUE_ENDED_FIELD,
                   ENDED_LINE "\n0123456789abcde0 error 3 x\n0123456789abcde1 ok 0 x");
    assert_int_equal(e.rc, RT_OK);
    answer r = RAW(&f, "XREADGROUP", "GROUP", "insights", "c1", "COUNT", "10", "STREAMS",
                   key(&f, "results"), ">");
    assert_int_equal(r.rc, RT_OK);
    for (int i = 0; i < 3; i++) {
        snprintf(ids[i], sizeof ids[i], "%.47s", e.str);
        rt_queue_analysis a = analysis("fb.judge", i == 1 ? "error" : "ok", "", "{}", 0.1);
        ig_insights_summarize(&a, rt_wallclock(), &items[i]);
    }
    assert_int_equal(fold(&f, ids, items, 3, 100).integers[0], 3);
    assert_int_equal(fold(&f, ids, items, 3, 100).integers[0], 0); /* acknowledged already */
    json_t *report_json = report(&f, 10, NULL);
    assert_int_equal(num(report_json, "analyses"), 3);
    json_decref(report_json);
    close_fx(&f);
}

/* The first time insights run on a queue, the group starts at the stream's start: what it holds
 * is counted too. Made again later (after insights were off), it starts at the end: nothing is
 * counted twice. */
static void group_starts(void **state) {
    fx f;
    (void)state;
    open_fx(&f);
    for (int i = 0; i < 2; i++)
        RAW(&f, "XADD", key(&f, "results"), "*", RT_QUEUE_ENDED_FIELD, ENDED_LINE);
    init_group(&f);
    answer r = RAW(&f, "XREADGROUP", "GROUP", "insights", "c1", "COUNT", "10", "STREAMS",
                   key(&f, "results"), ">");
    assert_int_equal(r.rc, RT_OK);
    answer pending = RAW(&f, "XPENDING", key(&f, "results"), "insights");
    assert_int_equal(pending.integers[0], 2);
    const char *keys[] = {key(&f, "results")};
    store_call(&f, "inquest_ig_drop", 1, keys);
    RAW(&f, "XADD", key(&f, "results"), "*", RT_QUEUE_ENDED_FIELD, ENDED_LINE);
    init_group(&f);
    RAW(&f, "XADD", key(&f, "results"), "*", RT_QUEUE_ENDED_FIELD, ENDED_LINE);
    r = RAW(&f, "XREADGROUP", "GROUP", "insights", "c1", "COUNT", "10", "STREAMS",
            key(&f, "results"), ">");
    pending = RAW(&f, "XPENDING", key(&f, "results"), "insights");
    assert_int_equal(pending.integers[0], 1); /* only the one added after */
    close_fx(&f);
}

/* A fold it refuses writes nothing: no entry acknowledged without its count. */
static void refused_fold_writes_nothing(void **state) {
    fx f;
    char ids[2][48];
    ig_summary items[2];
    (void)state;
    open_fx(&f);
    init_group(&f);
    publish_and_read(&f, 1, "c1", ids);
    rt_queue_analysis a = analysis("x", "ok", "", result_of("c", "root_cause_found", "s"), 1);
    ig_insights_summarize(&a, rt_wallclock(), &items[0]);
    items[1] = items[0];
    snprintf(ids[1], sizeof ids[1], "not-an-id");
    answer r = fold(&f, ids, items, 2, 100);
    assert_int_equal(r.rc, RT_EINPUT);
    assert_non_null(strstr(r.msg, "not a stream id"));
    answer pending = RAW(&f, "XPENDING", key(&f, "results"), "insights");
    assert_int_equal(pending.integers[0], 1); /* still pending: a later fold counts it */
    char day[9], what[32];
    double end;
    ig_day_of(rt_wallclock(), day, &end);
    snprintf(what, sizeof what, "in:%s", day);
    answer exists = RAW(&f, "EXISTS", key(&f, what));
    assert_int_equal(exists.integers[0], 0); /* and nothing counted */
    assert_int_equal(fold(&f, ids, items, 1, 100).integers[0], 1);
    close_fx(&f);
}

/* Summaries of 'n' analyses that found a root cause, the i-th of analyzer 'analyzers[i]' with the
 * label service=services[i]. */
static void summarize_services(const char *const *analyzers, const char *const *services, int n,
                               ig_summary *items) {
    for (int i = 0; i < n; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "{\"service\":\"%s\"}", services[i]);
        rt_queue_analysis a =
            analysis(analyzers[i], "ok", labels, result_of("c", "root_cause_found", "s"), 1);
        ig_insights_summarize(&a, rt_wallclock(), &items[i]);
    }
}

/* Free-text names are bounded per day: beyond the cap they count as "(other)". */
static void names_capped(void **state) {
    fx f;
    char ids[4][48];
    ig_summary items[4];
    (void)state;
    open_fx(&f);
    init_group(&f);
    publish_and_read(&f, 4, "c1", ids);
    const char *analyzers[] = {"x", "x", "x", "x"};
    const char *services[] = {"a", "b", "a", "c"};
    summarize_services(analyzers, services, 4, items);
    assert_int_equal(fold(&f, ids, items, 4, 2).integers[0], 4);
    json_t *r = report(&f, 10, NULL);
    json_t *svcs = json_object_get(r, "services");
    assert_int_equal(json_array_size(svcs), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(svcs, 0), "service")),
                        "a");
    assert_int_equal(num(json_array_get(svcs, 0), "analyses"), 2);
    const char *last = json_string_value(json_object_get(json_array_get(svcs, 2), "service"));
    assert_true(strcmp(last, "(other)") == 0 || strcmp(last, "b") == 0);
    bool other = false;
    for (size_t i = 0; i < 3; i++)
        other =
            other || strcmp(json_string_value(json_object_get(json_array_get(svcs, i), "service")),
                            "(other)") == 0;
    assert_true(other); /* c came third */
    json_decref(r);
    close_fx(&f);
}

/* The cap is each analyzer's: one that counts many services does not push another analyzer's
 * into "(other)". */
static void names_capped_per_analyzer(void **state) {
    fx f;
    char ids[4][48];
    ig_summary items[4];
    (void)state;
    open_fx(&f);
    init_group(&f);
    publish_and_read(&f, 4, "c1", ids);
    const char *analyzers[] = {"many.labels", "many.labels", "many.labels", "other.team"};
    const char *services[] = {"a", "b", "c", "d"};
    summarize_services(analyzers, services, 4, items);
    assert_int_equal(fold(&f, ids, items, 4, 2).integers[0], 4);
    json_t *r = report(&f, 10, NULL);
    bool d = false, other = false;
    size_t i;
    json_t *svc;
    json_array_foreach(json_object_get(r, "services"), i, svc) {
        const char *name = json_string_value(json_object_get(svc, "service"));
        d = d || strcmp(name, "d") == 0;
        other = other || strcmp(name, "(other)") == 0;
    }
    assert_true(other); /* many.labels' third */
    assert_true(d);     /* other.team's first, under its own cap */
    json_decref(r);
    close_fx(&f);
}

static void hset_analysis(fx *f, const char *id, const char *status) {
    char finished[32];
    snprintf(finished, sizeof finished, "%.0f", rt_wallclock() * 1000);
    char k[64];
    snprintf(k, sizeof k, "a:%s", id);
    answer a = RAW(f, "HSET", key(f, k), "status", status, "analyzer", "fb.judge", "team",
                   "team-fb", "finished_at", finished);
    assert_int_equal(a.rc, RT_OK);
}

/* A verdict with its note and who gave it. */
static answer give_by(fx *f, const char *id, const char *verdict, const char *cause,
                      const char *note, const char *by) {
    answer a = {0};
    ig_verdict v = {.id = id,
                    .analyzer = "fb.judge",
                    .verdict = verdict,
                    .root_cause = cause,
                    .note = note,
                    .by = by,
                    .finished_at = rt_wallclock()};
    int rc = ig_feedback_record(f->st, &v, 3600, 86400, on_answer, &a);
    if (rc != RT_OK) {
        a.rc = rc;
        return a;
    }
    RUN_UNTIL(f, a.done);
    return a;
}

static answer give(fx *f, const char *id, const char *verdict, const char *cause) {
    return give_by(f, id, verdict, cause, "n", "token:t");
}

static bool allows_fb_only(const char *analyzer, const char *team, void *ud) {
    (void)team, (void)ud;
    return strcmp(analyzer, "fb.judge") == 0;
}

/* A verdict counts once per analysis, in the day it finished: a new one takes the old one's
 * count back; the history and the export keep both. */
static void verdicts(void **state) {
    fx f;
    (void)state;
    open_fx(&f);
    hset_analysis(&f, "aaaaaaaaaaaaaaa1", "ok");
    hset_analysis(&f, "aaaaaaaaaaaaaaa2", "ok");
    hset_analysis(&f, "aaaaaaaaaaaaaaa3", "running");
    assert_int_equal(give(&f, "aaaaaaaaaaaaaaa1", "wrong", "db.saturation").rc, RT_OK);
    assert_int_equal(give(&f, "aaaaaaaaaaaaaaa2", "partly", NULL).rc, RT_OK);
    json_t *r = report(&f, 10, NULL);
    json_t *fb = json_object_get(json_array_get(json_object_get(r, "analyzers"), 0), "feedback");
    assert_int_equal(num(fb, "wrong"), 1);
    assert_int_equal(num(fb, "partly"), 1);
    assert_true(json_real_value(json_object_get(json_array_get(json_object_get(r, "analyzers"), 0),
                                                "precision")) == 0.25);
    json_decref(r);
    answer again = give(&f, "aaaaaaaaaaaaaaa1", "correct", NULL);
    assert_int_equal(again.rc, RT_OK);
    json_t *v = ig_feedback_record_json(again.str, strlen(again.str));
    assert_string_equal(json_string_value(json_object_get(v, "verdict")), "correct");
    assert_true(json_is_null(json_object_get(v, "root_cause")));
    assert_string_equal(json_string_value(json_object_get(v, "team")), "team-fb");
    json_decref(v);
    r = report(&f, 10, NULL);
    fb = json_object_get(json_array_get(json_object_get(r, "analyzers"), 0), "feedback");
    assert_int_equal(num(fb, "correct"), 1);
    assert_int_equal(num(fb, "wrong"), 0);
    assert_int_equal(num(fb, "judged"), 2);
    assert_true(json_real_value(json_object_get(json_array_get(json_object_get(r, "analyzers"), 0),
                                                "precision")) == 0.75);
    json_decref(r);
    r = report(&f, 10, allows_fb_only);
    assert_int_equal(json_array_size(json_object_get(r, "analyzers")), 1);
    json_decref(r);

    answer list = RAW(&f, "LLEN", key(&f, "fb:aaaaaaaaaaaaaaa1"));
    assert_int_equal(list.integers[0], 2);
    answer ttl = RAW(&f, "PTTL", key(&f, "fb:aaaaaaaaaaaaaaa1"));
    assert_true(ttl.integers[0] > 3500 * 1000 && ttl.integers[0] <= 3600 * 1000);
    answer log = RAW(&f, "XLEN", key(&f, "fb:log"));
    assert_int_equal(log.integers[0], 3);

    assert_int_equal(give(&f, "aaaaaaaaaaaaaaa3", "correct", NULL).rc, RT_EUSAGE);
    assert_int_equal(give(&f, "aaaaaaaaaaaaaaa4", "correct", NULL).rc, RT_ENOTFOUND);
    assert_int_equal(give(&f, "aaaaaaaaaaaaaaa1", "maybe", NULL).rc, RT_EINPUT);
    assert_int_equal(give(&f, "aaaaaaaaaaaaaaa1", "correct", "x").rc, RT_EINPUT);
    const char *field;
    assert_non_null(ig_feedback_problem("wrong", "two words", NULL, &field));
    assert_string_equal(field, "root_cause");
    assert_null(ig_feedback_problem("partly", "db.saturation", "", &field));
    close_fx(&f);
}

/* An analysis holds its newest IG_FEEDBACK_KEEP verdicts, in its list and in the export alike,
 * however many are given; the same verdict again by the same token as the latest writes nothing
 * and is answered as the first time; by another token, or changed, it is a verdict. */
static void verdicts_bounded(void **state) {
    fx f;
    char note[32], first_kept[64] = "";
    (void)state;
    open_fx(&f);
    hset_analysis(&f, "ccccccccccccccc1", "ok");
    int n = IG_FEEDBACK_KEEP + 5;
    for (int i = 0; i < n; i++) {
        snprintf(note, sizeof note, "note %d", i);
        answer a =
            give_by(&f, "ccccccccccccccc1", i % 2 ? "wrong" : "correct", NULL, note, "token:t");
        assert_int_equal(a.rc, RT_OK);
        assert_int_equal(a.elements, 4);
        assert_int_equal(a.integers[2], i < IG_FEEDBACK_KEEP ? i + 1 : IG_FEEDBACK_KEEP);
        assert_int_equal(a.integers[3], 1);
        if (i == n - IG_FEEDBACK_KEEP) {
            json_t *v = ig_feedback_record_json(a.str, strlen(a.str));
            snprintf(first_kept, sizeof first_kept, "%s",
                     json_string_value(json_object_get(v, "seq")));
            json_decref(v);
        }
    }
    assert_int_equal(RAW(&f, "LLEN", key(&f, "fb:ccccccccccccccc1")).integers[0], IG_FEEDBACK_KEEP);
    assert_int_equal(RAW(&f, "XLEN", key(&f, "fb:log")).integers[0], IG_FEEDBACK_KEEP);
    answer exact = RAW(&f, "XRANGE", key(&f, "fb:log"), first_kept, first_kept);
    assert_int_equal(exact.elements, 1); /* the oldest kept is still in the export... */
    answer before = RAW(&f, "XRANGE", key(&f, "fb:log"), "-", "+");
    assert_int_equal(before.elements, IG_FEEDBACK_KEEP); /* ...and nothing older */

    /* The latest again, by the same token, twice: nothing written, the same answer. */
    snprintf(note, sizeof note, "note %d", n - 1);
    const char *last = (n - 1) % 2 ? "wrong" : "correct";
    answer once = give_by(&f, "ccccccccccccccc1", last, NULL, note, "token:t");
    answer twice = give_by(&f, "ccccccccccccccc1", last, NULL, note, "token:t");
    assert_int_equal(once.rc, RT_OK);
    assert_int_equal(once.integers[2], IG_FEEDBACK_KEEP);
    assert_int_equal(once.integers[3], 0);
    assert_int_equal(twice.integers[3], 0);
    assert_string_equal(twice.str, once.str);
    assert_int_equal(RAW(&f, "XLEN", key(&f, "fb:log")).integers[0], IG_FEEDBACK_KEEP);
    json_t *r = report(&f, 10, NULL);
    json_t *fb = json_object_get(json_array_get(json_object_get(r, "analyzers"), 0), "feedback");
    assert_int_equal(num(fb, "judged"), 1); /* one analysis, judged once */
    json_decref(r);

    /* Another token, or another note: a verdict of its own. */
    assert_int_equal(give_by(&f, "ccccccccccccccc1", last, NULL, note, "token:u").integers[3], 1);
    assert_int_equal(
        give_by(&f, "ccccccccccccccc1", last, NULL, "another note", "token:u").integers[3], 1);
    assert_int_equal(RAW(&f, "LLEN", key(&f, "fb:ccccccccccccccc1")).integers[0], IG_FEEDBACK_KEEP);
    assert_int_equal(RAW(&f, "XLEN", key(&f, "fb:log")).integers[0], IG_FEEDBACK_KEEP);
    close_fx(&f);
}

/* The report ranks, cuts to the top and says how many it left out; shares and quantiles. */
static void rankings(void **state) {
    fx f;
    char ids[12][48];
    ig_summary items[12];
    (void)state;
    open_fx(&f);
    init_group(&f);
    publish_and_read(&f, 12, "c1", ids);
    /* checkout: 6 (bad_deploy 4, db 1, cert 1); payments: 4; search: 1; cart: 1. */
    const char *svc[] = {"checkout", "checkout", "checkout", "checkout", "checkout", "checkout",
                         "payments", "payments", "payments", "payments", "search",   "cart"};
    const char *cause[] = {"bad_deploy", "bad_deploy", "bad_deploy", "bad_deploy", "db", "cert",
                           "db",         "db",         "db",         "cert",       "x",  "y"};
    for (int i = 0; i < 12; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "{\"service\":\"%s\"}", svc[i]);
        rt_queue_analysis a =
            analysis(i < 11 ? "fb.judge" : "other.one", "ok", labels,
                     result_of(cause[i], "root_cause_found", "s"), i < 10 ? 0.1 : 10.0);
        ig_insights_summarize(&a, rt_wallclock(), &items[i]);
    }
    assert_int_equal(fold(&f, ids, items, 12, 100).integers[0], 12);
    json_t *r = report(&f, 2, NULL);
    json_t *svcs = json_object_get(r, "services");
    assert_int_equal(json_array_size(svcs), 2);
    assert_int_equal(num(r, "more_services"), 2);
    json_t *checkout = json_array_get(svcs, 0);
    assert_int_equal(num(checkout, "analyses"), 6);
    assert_int_equal(json_array_size(json_object_get(checkout, "root_causes")), 2);
    assert_int_equal(num(checkout, "other_root_causes"), 1);
    assert_true(
        json_real_value(json_object_get(json_array_get(json_object_get(checkout, "root_causes"), 0),
                                        "share")) == 0.667);
    json_t *d = json_object_get(r, "duration_ms");
    assert_true(fabs(json_number_value(json_object_get(d, "p50")) - 100) <= 6);
    assert_true(fabs(json_number_value(json_object_get(d, "p95")) - 10000) <= 600);
    assert_int_equal(num(d, "samples"), 12);
    json_t *analyzers = json_object_get(r, "analyzers");
    assert_int_equal(json_array_size(analyzers), 2); /* every analyzer, most analyses first */
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(analyzers, 0), "analyzer")), "fb.judge");
    assert_true(json_is_null(json_object_get(json_array_get(analyzers, 0), "precision")));
    json_decref(r);
    r = report(&f, 10, allows_fb_only);
    assert_int_equal(num(r, "analyses"), 11); /* other.one's is left out */
    json_decref(r);
    /* The day's counts expire retention (1 d here) after the day's end. */
    char day[9], what[32];
    double end;
    ig_day_of(rt_wallclock(), day, &end);
    snprintf(what, sizeof what, "in:%s", day);
    answer ttl = RAW(&f, "PTTL", key(&f, what));
    double want = end + 86400 * 1000 - rt_wallclock() * 1000;
    assert_true(fabs((double)ttl.integers[0] - want) < 5000);
    close_fx(&f);
}

/* A flushed library is loaded again by the next call, beside another version's library, which
 * stays (a program not yet upgraded calls it). */
static void reloads(void **state) {
    fx f;
    (void)state;
    open_fx(&f);
    init_group(&f);
    answer flush = RAW(&f, "FUNCTION", "FLUSH");
    assert_int_equal(flush.rc, RT_OK);
    const char *older = "#!lua name=inquest_ig_v1\n"
                        "redis.register_function{function_name = 'inquest_ig_v1_version', "
                        "flags = {'no-writes'}, callback = function() return 1 end}";
    assert_int_equal(RAW(&f, "FUNCTION", "LOAD", older).rc, RT_OK);
    hset_analysis(&f, "bbbbbbbbbbbbbbb1", "ok");
    assert_int_equal(give(&f, "bbbbbbbbbbbbbbb1", "correct", NULL).rc, RT_OK);
    assert_int_equal(RAW(&f, "FCALL_RO", "inquest_ig_v1_version", "0").rc, RT_OK);
    close_fx(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations_and_days), cmocka_unit_test(summaries),
        cmocka_unit_test(counted_once),       cmocka_unit_test(entry_of_several),
        cmocka_unit_test(group_starts),       cmocka_unit_test(refused_fold_writes_nothing),
        cmocka_unit_test(names_capped),       cmocka_unit_test(names_capped_per_analyzer),
        cmocka_unit_test(verdicts),           cmocka_unit_test(verdicts_bounded),
        cmocka_unit_test(rankings),           cmocka_unit_test(reloads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
