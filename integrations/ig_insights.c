/* integrations/ig_insights.c -- insights (docs/console.md): what of a finished analysis is
 * counted, the counts in Redis by UTC day (one atomic call of ig_store.lua per batch of results),
 * and the report made of a period's counts: analyses by outcome and run time, the top root
 * causes per service and per alert, and each analyzer's precision from people's verdicts. The
 * job that feeds the counts as analyses end, and the API and metrics over the report, are
 * ig_api_insights.c.
 *
 * Design notes. Results and status hashes expire (queue.result_ttl), so nothing can be rescanned
 * later: each analysis is summarized once, as it ends, into counters of the day it finished,
 * which live for insights.retention. A period is a run of whole days read in one call. Run times
 * are a histogram of IG_DURATION_BUCKETS buckets, 20 a decade, so that quantiles of any period,
 * service or analyzer come from adding histograms; a quantile is the middle of its bucket,
 * within 6%. Precision counts each analysis' latest verdict once: correct 1, partly 1/2, wrong 0,
 * over the analyses judged. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ig_store.h"
#include "pp.h"

const char *const ig_outcomes[IG_OUTCOMES] = {
    "root_cause_found", "inconclusive", "no_anomaly", "other", "error", "cancelled"};

/* ---- durations and days --------------------------------------------------------------------- */

int ig_duration_bucket(double ms) {
    if (!(ms > 1))
        return 0;
    int b = (int)floor(20 * log10(ms));
    return b < 0 ? 0 : b >= IG_DURATION_BUCKETS ? IG_DURATION_BUCKETS - 1 : b;
}

double ig_duration_of_bucket(int bucket) {
    return pow(10, (bucket + 0.5) / 20);
}

void ig_day_of(double t, char *day, double *day_end) {
    time_t whole = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&whole, &tm);
    strftime(day, 9, "%Y%m%d", &tm);
    double start = floor(t / 86400) * 86400;
    *day_end = (start + 86400) * 1000;
}

/* ---- summaries ------------------------------------------------------------------------------ */

static const char *outcome_of(const char *status, const json_t *result) {
    if (strcmp(status, "cancelled") == 0)
        return "cancelled";
    if (strcmp(status, "ok") != 0)
        return "error";
    const char *tag =
        json_string_value(json_object_get(json_object_get(result, "conclusion"), "tag"));
    for (int i = 0; tag && i < 3; i++)
        if (strcmp(tag, ig_outcomes[i]) == 0)
            return ig_outcomes[i];
    return "other";
}

/* The string 'key' of object 'o', or NULL. */
static const char *text_of(const json_t *o, const char *key) {
    return json_string_value(json_object_get(o, key));
}

void ig_insights_summarize(const rt_queue_analysis *a, double now, ig_summary *out) {
    memset(out, 0, sizeof *out);
    out->bucket = -1;
    out->outcome = "error";
    ig_day_of(a && a->finished_at > 0 ? a->finished_at : now, out->day, &out->day_end);
    if (!a || !*a->analyzer)
        return;
    json_t *result = a->result ? json_loadb(a->result, a->result_len, 0, NULL) : NULL;
    json_t *labels = *a->labels ? json_loads(a->labels, 0, NULL) : NULL;
    ig_store_escape(a->analyzer, 256, out->analyzer, sizeof out->analyzer);
    ig_store_escape(a->team, IG_NAME_MAX, out->team, sizeof out->team);
    out->outcome = outcome_of(a->status, result);
    const char *service = text_of(labels, "service");
    if (!service || !*service)
        service = text_of(json_object_get(result, "inputs"), "service");
    if (service)
        ig_store_escape(service, IG_NAME_MAX, out->service, sizeof out->service);
    const char *alert = text_of(labels, "alertname"), *route = text_of(labels, "inquest_route");
    if (alert && *alert)
        ig_store_escape(alert, IG_NAME_MAX, out->alert, sizeof out->alert);
    else if (route && *route) { /* PagerDuty and Opsgenie name no alert: their route does */
        char named[IG_NAME_MAX + 8];
        snprintf(named, sizeof named, "route:%.*s", rt_utf8_fit(route, IG_NAME_MAX), route);
        ig_store_escape(named, IG_NAME_MAX + 6, out->alert, sizeof out->alert);
    }
    const char *cause =
        strcmp(a->status, "ok") == 0 ? text_of(pp_top_finding(result), "root_cause") : NULL;
    if (cause && *cause)
        ig_store_escape(cause, IG_NAME_MAX, out->root_cause, sizeof out->root_cause);
    if (a->started_at > 0 && a->finished_at >= a->started_at)
        out->bucket = ig_duration_bucket((a->finished_at - a->started_at) * 1000);
    json_decref(result);
    json_decref(labels);
}

int ig_insights_fold(ig_store *st, const char *const *entries, const ig_summary *items, size_t n,
                     double retention, int cap, ig_store_fn done, void *ud) {
    char k_results[192], retention_ms[32], capacity[16], count[16];
    enum { ITEM = 10 };
    if (n == 0 || n > IG_FOLD_MAX)
        return RT_EINPUT;
    ig_store_key(st, "results", k_results, sizeof k_results);
    snprintf(retention_ms, sizeof retention_ms, "%.0f", retention * 1000);
    snprintf(capacity, sizeof capacity, "%d", cap);
    snprintf(count, sizeof count, "%zu", n);
    const char **args = rt_xcalloc(3 + n * ITEM, sizeof *args);
    char *numbers = rt_xcalloc(n, 48); /* per item: the day's end and the bucket */
    args[0] = retention_ms;
    args[1] = capacity;
    args[2] = count;
    for (size_t i = 0; i < n; i++) {
        const ig_summary *s = &items[i];
        char *end = numbers + i * 48, *bucket = end + 24;
        snprintf(end, 24, "%.0f", s->day_end);
        if (s->bucket >= 0)
            snprintf(bucket, 24, "%d", s->bucket);
        const char **a = args + 3 + i * ITEM;
        a[0] = entries[i];
        a[1] = s->day;
        a[2] = end;
        a[3] = s->analyzer;
        a[4] = s->team;
        a[5] = s->service;
        a[6] = s->alert;
        a[7] = s->outcome ? s->outcome : "";
        a[8] = s->root_cause;
        a[9] = bucket;
    }
    const char *keys[] = {k_results};
    int rc = ig_store_call(st, "inquest_ig_fold", 1, keys, (int)(3 + n * ITEM), args, done, ud);
    free(numbers);
    free(args);
    return rc;
}

int ig_insights_read(ig_store *st, double now, int days, ig_store_fn done, void *ud) {
    if (days < 1 || days > 3660)
        return RT_EINPUT;
    char **keys = rt_xcalloc((size_t)days, sizeof *keys);
    for (int i = 0; i < days; i++) {
        char day[9], what[32];
        double end;
        ig_day_of(now - (double)i * 86400, day, &end);
        snprintf(what, sizeof what, "in:%s", day);
        keys[i] = rt_xmalloc(256);
        ig_store_key(st, what, keys[i], 256);
    }
    int rc =
        ig_store_call(st, "inquest_ig_read", days, (const char *const *)keys, 0, NULL, done, ud);
    for (int i = 0; i < days; i++)
        free(keys[i]);
    free(keys);
    return rc;
}

/* ---- the report ------------------------------------------------------------------------------ *
 * The counts are gathered into JSON objects as maps, per analyzer A:
 *   { team, o: {outcome: n}, d: {bucket: n}, r: {cause: n}, f: {verdict: n},
 *     s: {service: {o, d, r}}, a: {alert: {o, d, r}} }
 * then filtered by analyzer and merged across analyzers for the rankings. */

static json_t *child(json_t *o, const char *key) {
    json_t *c = json_object_get(o, key);
    if (!c) {
        c = json_object();
        json_object_set_new(o, key, c);
    }
    return c;
}

static void bump(json_t *map, const char *key, json_int_t n) {
    json_t *v = json_object_get(map, key);
    json_object_set_new(map, key, json_integer(json_integer_value(v) + n));
}

/* Splits field 'f' at '|' into at most 5 parts, unescaped, in 'parts'; returns how many. */
static int split(char *f, char **parts) {
    int n = 0;
    for (char *p = f; n < 5;) {
        parts[n++] = p;
        char *bar = strchr(p, '|');
        if (!bar)
            break;
        *bar = '\0';
        p = bar + 1;
    }
    for (int i = 0; i < n; i++)
        ig_store_unescape(parts[i]);
    return n;
}

/* Adds one field of a day's counts to 'all' (the per-analyzer maps). */
static void gather(json_t *all, const char *field, const char *value) {
    char copy[2048], *p[5];
    /* Names are JSON keys below: text that is not UTF-8 (nothing this library wrote) is left
     * out rather than failing halfway. */
    if (strlen(field) >= sizeof copy || !rt_utf8_valid(field, strlen(field)) ||
        !rt_utf8_valid(value, strlen(value)))
        return;
    snprintf(copy, sizeof copy, "%s", field);
    int n = split(copy, p);
    if (n < 2)
        return;
    json_t *a = child(all, p[1]);
    json_int_t v = strtoll(value, NULL, 10);
    if (strcmp(p[0], "t") == 0 && n == 2)
        json_object_set_new(a, "team", json_string(value));
    else if (n == 3 && (strcmp(p[0], "o") == 0 || strcmp(p[0], "d") == 0 ||
                        strcmp(p[0], "r") == 0 || strcmp(p[0], "f") == 0))
        bump(child(a, p[0]), p[2], v);
    else if (n == 4 && (p[0][0] == 's' || p[0][0] == 'a') && p[0][1] && !p[0][2] &&
             strchr("odr", p[0][1])) {
        char kind[2] = {p[0][1], '\0'};
        json_t *group = child(a, p[0][0] == 's' ? "s" : "a");
        bump(child(child(group, p[2]), kind), p[3], v);
    }
}

/* Adds the counts of map 'from' to map 'into'. */
static void merge(json_t *into, const json_t *from) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)from, k, v) bump(into, k, json_integer_value(v));
}

static json_int_t total(const json_t *map) {
    const char *k;
    json_t *v;
    json_int_t n = 0;
    json_object_foreach((json_t *)map, k, v) n += json_integer_value(v);
    return n;
}

/* Outcome counts with every outcome present, from map 'o'. */
static json_t *outcomes_json(const json_t *o) {
    json_t *out = json_object();
    for (int i = 0; i < IG_OUTCOMES; i++)
        json_object_set_new(out, ig_outcomes[i],
                            json_integer(json_integer_value(json_object_get(o, ig_outcomes[i]))));
    return out;
}

/* { p50, p95, samples } from the histogram map 'd' (bucket index: count); nulls when empty. */
static json_t *durations_json(const json_t *d) {
    json_int_t counts[IG_DURATION_BUCKETS] = {0}, n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)d, k, v) {
        long b = strtol(k, NULL, 10);
        if (b >= 0 && b < IG_DURATION_BUCKETS && json_integer_value(v) > 0) {
            counts[b] += json_integer_value(v);
            n += json_integer_value(v);
        }
    }
    json_t *out = json_object();
    const double qs[] = {0.5, 0.95};
    const char *names[] = {"p50", "p95"};
    for (int q = 0; q < 2; q++) {
        json_int_t want = (json_int_t)ceil(qs[q] * (double)n), seen = 0;
        int b = 0;
        while (n && b < IG_DURATION_BUCKETS && (seen += counts[b]) < want)
            b++;
        /* Milliseconds, to 3 significant digits: the bucket says no more. Divided by a power
         * of ten rather than multiplied by its inverse, which is no exact double. */
        double ms = n ? ig_duration_of_bucket(b) : 0;
        int e = ms > 0 ? (int)floor(log10(ms)) - 2 : 0;
        double rounded =
            e < 0 ? round(ms * pow(10, -e)) / pow(10, -e) : round(ms / pow(10, e)) * pow(10, e);
        json_object_set_new(out, names[q], n ? rt_json_number(rounded) : json_null());
    }
    json_object_set_new(out, "samples", json_integer(n));
    return out;
}

typedef struct ranked {
    const char *name;
    json_int_t n;
} ranked;

static int by_count(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    if (a->n != b->n)
        return a->n < b->n ? 1 : -1;
    return strcmp(a->name, b->name);
}

/* The entries of map 'm' (name: count or name: {…} counted by 'count'), most first (then by
 * name), in '*out' (malloc'd); returns how many. */
static size_t rank(const json_t *m, json_int_t (*count)(const json_t *), ranked **out) {
    size_t n = 0;
    const char *k;
    json_t *v;
    *out = rt_xcalloc(json_object_size(m) + 1, sizeof **out);
    json_object_foreach((json_t *)m, k, v) {
        (*out)[n].name = k;
        (*out)[n++].n = count ? count(v) : json_integer_value(v);
    }
    qsort(*out, n, sizeof **out, by_count);
    return n;
}

/* [{root_cause, count, share}] of the top 'top' of map 'r', each a share of 'of' analyses. */
static json_t *causes_json(const json_t *r, int top, json_int_t of) {
    ranked *list;
    size_t n = rank(r, NULL, &list);
    json_t *out = json_array();
    for (size_t i = 0; i < n && i < (size_t)top; i++)
        json_array_append_new(
            out, json_pack(
                     "{s:s, s:I, s:o}", "root_cause", list[i].name, "count", (json_int_t)list[i].n,
                     "share",
                     rt_json_number(of ? round((double)list[i].n / (double)of * 1000) / 1000 : 0)));
    free(list);
    return out;
}

static json_int_t analyses_of(const json_t *group) {
    return total(json_object_get(group, "o"));
}

/* The ranking of the services or alerts 'groups' ({name: {o, d, r}}): the 'top' with the most
 * analyses, each with its outcomes, run times and top root causes; the key of the name is 'key'. */
static json_t *ranking_json(const json_t *groups, const char *key, int top, json_int_t *more) {
    ranked *list;
    size_t n = rank(groups, analyses_of, &list);
    json_t *out = json_array();
    for (size_t i = 0; i < n && i < (size_t)top; i++) {
        const json_t *g = json_object_get(groups, list[i].name);
        const json_t *r = json_object_get(g, "r");
        json_int_t analyses = list[i].n;
        json_t *o = json_pack("{s:s, s:I, s:o, s:o, s:o, s:I}", key, list[i].name, "analyses",
                              analyses, "outcomes", outcomes_json(json_object_get(g, "o")),
                              "duration_ms", durations_json(json_object_get(g, "d")), "root_causes",
                              causes_json(r, top, analyses), "other_root_causes",
                              (json_int_t)(json_object_size(r) > (size_t)top
                                               ? json_object_size(r) - (size_t)top
                                               : 0));
        json_array_append_new(out, o);
    }
    *more = n > (size_t)top ? (json_int_t)(n - (size_t)top) : 0;
    free(list);
    return out;
}

/* Merges the {name: {o, d, r}} maps 'from' into 'into'. */
static void merge_groups(json_t *into, const json_t *from) {
    const char *name;
    json_t *g;
    json_object_foreach((json_t *)from, name, g) {
        json_t *to = child(into, name);
        const char *kinds[] = {"o", "d", "r"};
        for (int i = 0; i < 3; i++)
            merge(child(to, kinds[i]), json_object_get(g, kinds[i]));
    }
}

/* An analyzer's row: its counts and its precision from the verdicts on its analyses. */
static json_t *analyzer_json(const char *name, const json_t *a) {
    const json_t *f = json_object_get(a, "f");
    json_int_t correct = json_integer_value(json_object_get(f, "correct"));
    json_int_t wrong = json_integer_value(json_object_get(f, "wrong"));
    json_int_t partly = json_integer_value(json_object_get(f, "partly"));
    /* A verdict replaced later is taken back from its count: never below zero for long, but a
     * day that expired between the two may leave one; it reads as none. */
    correct = correct > 0 ? correct : 0, wrong = wrong > 0 ? wrong : 0;
    partly = partly > 0 ? partly : 0;
    json_int_t judged = correct + wrong + partly;
    json_t *o = json_pack(
        "{s:s, s:o, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I}}", "analyzer", name, "team",
        json_is_string(json_object_get(a, "team")) ? json_incref(json_object_get(a, "team"))
                                                   : json_null(),
        "analyses", analyses_of(a), "outcomes", outcomes_json(json_object_get(a, "o")),
        "duration_ms", durations_json(json_object_get(a, "d")), "feedback", "correct", correct,
        "wrong", wrong, "partly", partly, "judged", judged);
    json_object_set_new(
        o, "precision",
        judged ? rt_json_number(
                     round(((double)correct + (double)partly / 2) / (double)judged * 1000) / 1000)
               : json_null());
    return o;
}

/* The UTC date of 't' as YYYY-MM-DD into 'out' (16 bytes). */
static void date_of(double t, char *out) {
    time_t whole = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&whole, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

json_t *ig_insights_report(const redisReply *reply, double now, int days, int top,
                           ig_insights_filter allows, void *ud) {
    json_t *all = json_object();
    for (size_t i = 0; reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        const redisReply *day = reply->element[i];
        for (size_t k = 0; day->type == REDIS_REPLY_ARRAY && k + 1 < day->elements; k += 2)
            if (day->element[k]->type == REDIS_REPLY_STRING &&
                day->element[k + 1]->type == REDIS_REPLY_STRING)
                gather(all, day->element[k]->str, day->element[k + 1]->str);
    }
    json_t *o = json_object(), *d = json_object(), *r = json_object(), *services = json_object();
    json_t *alerts = json_object(), *analyzers = json_array();
    const char *name;
    json_t *a;
    ranked *list;
    size_t n = rank(all, analyses_of, &list);
    for (size_t i = 0; i < n; i++) {
        name = list[i].name;
        a = json_object_get(all, name);
        if (allows && !allows(name, json_string_value(json_object_get(a, "team")), ud))
            continue;
        merge(o, json_object_get(a, "o"));
        merge(d, json_object_get(a, "d"));
        merge(r, json_object_get(a, "r"));
        merge_groups(services, json_object_get(a, "s"));
        merge_groups(alerts, json_object_get(a, "a"));
        json_array_append_new(analyzers, analyzer_json(name, a));
    }
    free(list);
    char from[16], to[16], period[16];
    date_of(now - (double)(days - 1) * 86400, from);
    date_of(now, to);
    snprintf(period, sizeof period, "%dd", days);
    json_int_t analyses = total(o), more_services, more_alerts;
    json_t *report =
        json_pack("{s:s, s:s, s:i, s:s, s:s, s:I}", "schema", "inquest.insights/v1", "period",
                  period, "days", days, "from", from, "to", to, "analyses", analyses);
    json_object_set_new(report, "outcomes", outcomes_json(o));
    json_object_set_new(report, "duration_ms", durations_json(d));
    json_object_set_new(report, "root_causes", causes_json(r, top, analyses));
    json_object_set_new(report, "services", ranking_json(services, "service", top, &more_services));
    json_object_set_new(report, "more_services", json_integer(more_services));
    json_object_set_new(report, "alerts", ranking_json(alerts, "alert", top, &more_alerts));
    json_object_set_new(report, "more_alerts", json_integer(more_alerts));
    json_object_set_new(report, "analyzers", analyzers);
    json_decref(all);
    json_decref(o);
    json_decref(d);
    json_decref(r);
    json_decref(services);
    json_decref(alerts);
    return report;
}
