/* backtest/bt_score.c -- judging replays: what one replay observed (from its result), whether a
 * case passes and why not in plain words, how head and base differ on it, and the report's
 * summary (root-cause precision, recall and F1, confusion, runtimes, connector calls) as
 * docs/backtest.md defines them. Pure functions of JSON values, so that the unit tests can
 * drive them without running anything; the runner is bt_run.c. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcre2.h>

#include "bt_internal.h"
#include "pp.h"

#define REPLAY_MISS "replay: no recorded response for "
#define WITH_BODY   " with body "
/* rt_http.c keeps a replay miss' message in 512 bytes: one that fills them was cut. */
#define MISS_MESSAGE_MAX 511

/* The outcomes and changes, in the order summaries list them. */
static const char *const outcomes[] = {"pass", "fail", "stale", "error", NULL};
static const char *const changes[] = {"unchanged", "fixed", "broken", "changed", "new", NULL};

/* Sets 'key' of 'obj' to 'value', which it steals. */
static void set(json_t *obj, const char *key, json_t *value) {
    json_object_set_new(obj, key, value ? value : json_null());
}

static json_t *string_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

/* A number rounded to 'digits' decimals, for reports that people read (1, not 1.0). */
static json_t *rounded(double value, int digits) {
    double scale = pow(10, digits);
    return rt_json_number(round(value * scale) / scale);
}

static const char *str(const json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

/* ---- observations -------------------------------------------------------------------------- */

const char *bt__top_root_cause(const json_t *result) {
    return str(pp_top_finding(result), "root_cause");
}

/* "file:line: message" of the first of 'errors' (the result's errors), or NULL. */
static json_t *first_error(const json_t *errors) {
    const json_t *e = json_array_get(errors, 0);
    const char *message = str(e, "message"), *file = str(e, "file");
    json_int_t line = json_integer_value(json_object_get(e, "line"));
    if (!message)
        return json_null();
    if (file && line > 0)
        return json_sprintf("%s:%lld: %s", file, (long long)line, message);
    return json_string(message);
}

/* The request of a replay miss, read from the message rt_http.c gives it:
 * "replay: no recorded response for CONNECTOR METHOD PATH[ with body BODY]". NULL when
 * 'message' is no replay miss. */
static json_t *stale_request(const char *message) {
    size_t prefix = strlen(REPLAY_MISS);
    if (!message || strncmp(message, REPLAY_MISS, prefix) != 0)
        return NULL;
    const char *connector = message + prefix, *method = strchr(connector, ' ');
    const char *path = method ? strchr(method + 1, ' ') : NULL;
    if (!path)
        return NULL;
    const char *body = strstr(path + 1, WITH_BODY);
    json_t *r = json_object();
    set(r, "connector", rt_json_text(connector, (size_t)(method - connector)));
    set(r, "method", rt_json_text(method + 1, (size_t)(path - method - 1)));
    path++;
    set(r, "path", rt_json_text(path, body ? (size_t)(body - path) : strlen(path)));
    set(r, "body",
        body ? rt_json_text(body + strlen(WITH_BODY), strlen(body + strlen(WITH_BODY)))
             : json_null());
    if (strlen(message) >= MISS_MESSAGE_MAX)
        set(r, "truncated", json_true());
    return r;
}

static json_t *findings_of(const json_t *result) {
    json_t *out = json_array(), *f;
    size_t i;
    json_array_foreach(json_object_get(result, "findings"), i, f) {
        json_t *o = json_object();
        set(o, "title", json_incref(json_object_get(f, "title")));
        set(o, "root_cause", json_incref(json_object_get(f, "root_cause")));
        set(o, "severity", json_incref(json_object_get(f, "severity")));
        set(o, "confidence", json_incref(json_object_get(f, "confidence")));
        json_array_append_new(out, o);
    }
    return out;
}

static bool is_budget(const char *status) {
    return status && (strcmp(status, "timeout") == 0 || strcmp(status, "cpu_exceeded") == 0 ||
                      strcmp(status, "memory_exceeded") == 0);
}

json_t *bt__observe_result(const json_t *result) {
    json_t *o = json_object(), *e;
    const char *status = str(result, "status");
    json_t *errors = json_object_get(result, "errors"), *stale = NULL;
    size_t i;
    json_array_foreach(errors, i, e) {
        if (!stale)
            stale = stale_request(str(e, "message"));
    }
    set(o, "status", string_or_null(status));
    set(o, "conclusion", string_or_null(str(json_object_get(result, "conclusion"), "tag")));
    set(o, "root_cause", string_or_null(bt__top_root_cause(result)));
    set(o, "findings", findings_of(result));
    json_t *ms = json_object_get(json_object_get(result, "timing"), "duration_ms");
    set(o, "runtime_ms", json_is_number(ms) ? rounded(json_number_value(ms), 3) : NULL);
    set(o, "connector_calls",
        json_integer((json_int_t)json_array_size(json_object_get(result, "calls"))));
    set(o, "budget", is_budget(status) ? json_string(status) : NULL);
    set(o, "error", status && strcmp(status, "ok") != 0 ? first_error(errors) : NULL);
    set(o, "stale_request", stale);
    return o;
}

json_t *bt__observe_error(const char *error, bool missing) {
    json_t *o = json_object();
    set(o, "error", json_string(error));
    if (missing)
        set(o, "missing", json_true());
    return o;
}

/* ---- one case ------------------------------------------------------------------------------ */

static void reason(json_t *reasons, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason(json_t *reasons, const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_array_append_new(reasons, rt_json_text_cut(text, sizeof text - 1));
}

static bool title_matches(const bt_matcher *m, const char *title) {
    if (!m->code)
        return true;
    if (!title)
        return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(m->code, NULL);
    int rc = md ? pcre2_match(m->code, (PCRE2_SPTR)title, strlen(title), 0, 0, md, NULL) : -1;
    pcre2_match_data_free(md);
    return rc >= 0;
}

static bool matches(const bt_matcher *m, const json_t *finding) {
    const char *root_cause = str(finding, "root_cause");
    if (m->root_cause && !(root_cause && strcmp(m->root_cause, root_cause) == 0))
        return false;
    return title_matches(m, str(finding, "title"));
}

/* "root cause bad_deploy and a title matching /deploy 4711/". */
static void describe(const bt_matcher *m, char *out, size_t size) {
    snprintf(out, size, "%s%s%s%s%s%s", m->root_cause ? "root cause " : "",
             m->root_cause ? m->root_cause : "", m->root_cause && m->title ? " and " : "",
             m->title ? "a title matching /" : "", m->title ? m->title : "", m->title ? "/" : "");
}

static void check_findings(const bt_case *c, const json_t *findings, json_t *reasons) {
    char what[600];
    for (size_t k = 0; k < c->n_findings; k++) {
        bool found = false;
        size_t i;
        json_t *f;
        json_array_foreach(findings, i, f) {
            found = found || matches(&c->findings[k], f);
        }
        describe(&c->findings[k], what, sizeof what);
        if (!found)
            reason(reasons, "missing finding: none with %s", what);
    }
    for (size_t k = 0; k < c->n_absent; k++) {
        size_t i;
        json_t *f;
        json_array_foreach(findings, i, f) {
            if (!matches(&c->absent[k], f))
                continue;
            const char *rc = str(f, "root_cause");
            describe(&c->absent[k], what, sizeof what);
            reason(reasons, "unwanted finding: \"%s\"%s%s%s matches expect.absent[%zu] (%s)",
                   str(f, "title") ? str(f, "title") : "", rc ? " (root cause " : "", rc ? rc : "",
                   rc ? ")" : "", k, what);
        }
    }
}

/* The reasons a case that ran does not pass; none: it passes. A status other than the one
 * expected is the only reason given: what it found or concluded then follows from it. */
static void judge(const bt_case *c, const json_t *obs, json_t *reasons) {
    const char *status = str(obs, "status"), *error = str(obs, "error");
    if (!status || strcmp(status, c->status) != 0) {
        reason(reasons, "status: expected %s, got %s%s%s", c->status, status ? status : "none",
               error ? ": " : "", error ? error : "");
        return;
    }
    const char *conclusion = str(obs, "conclusion");
    if (c->conclusion && !(conclusion && strcmp(conclusion, c->conclusion) == 0))
        reason(reasons, "conclusion: expected %s, got %s", c->conclusion,
               conclusion ? conclusion : "none");
    const char *root_cause = str(obs, "root_cause");
    bool same = (!root_cause && !c->root_cause) ||
                (root_cause && c->root_cause && strcmp(root_cause, c->root_cause) == 0);
    if (c->has_root_cause && !same)
        reason(reasons, "root cause: expected %s, got %s", c->root_cause ? c->root_cause : "none",
               root_cause ? root_cause : "none");
    check_findings(c, json_object_get(obs, "findings"), reasons);
}

/* "the analyzer asked prom for GET /api/…, which the recording does not hold". */
static void stale_reason(const json_t *stale, json_t *reasons) {
    const char *body = str(stale, "body");
    reason(reasons,
           "stale: %s was asked for %s %s%s%s, which the recording does not hold (record the "
           "case again)",
           str(stale, "connector"), str(stale, "method"), str(stale, "path"),
           body ? " with body " : "", body ? body : "");
}

json_t *bt__diag_texts(const rt_diag *d) {
    json_t *out = json_array(), *item;
    size_t i;
    json_array_foreach(d->items, i, item) {
        char text[1400];
        size_t n = 0;
        const char *file = str(item, "file"), *field = str(item, "field");
        json_int_t line = json_integer_value(json_object_get(item, "line"));
        json_int_t column = json_integer_value(json_object_get(item, "column"));
        text[0] = '\0';
        if (file)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s", file);
        if (file && line > 0)
            n += (size_t)snprintf(text + n, sizeof text - n, ":%lld", (long long)line);
        if (file && line > 0 && column > 0)
            n += (size_t)snprintf(text + n, sizeof text - n, ":%lld", (long long)column);
        if (n < sizeof text && field)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s%s", file ? ": " : "", field);
        if (n < sizeof text)
            snprintf(text + n, sizeof text - n, "%s%s", n ? ": " : "", str(item, "message"));
        json_array_append_new(out, rt_json_text_cut(text, sizeof text - 1));
    }
    return out;
}

/* The observed members of an entry (or of its base side), copied from 'obs'. */
static void observed(json_t *entry, const json_t *obs) {
    static const char *const keys[] = {
        "status",          "conclusion", "root_cause", "findings",      "runtime_ms",
        "connector_calls", "budget",     "error",      "stale_request", NULL};
    for (const char *const *k = keys; *k; k++) {
        json_t *v = json_object_get(obs, *k);
        set(entry, *k, v ? json_deep_copy(v) : NULL);
    }
    if (!json_is_array(json_object_get(entry, "findings")))
        set(entry, "findings", json_array());
}

/* The outcome of case 'c' observed as 'obs', with its reasons appended to 'reasons'. */
static const char *outcome_of(const bt_case *c, const json_t *obs, json_t *reasons) {
    if (rt_diag_count(&c->problems)) {
        json_t *texts = bt__diag_texts(&c->problems);
        json_array_extend(reasons, texts);
        json_decref(texts);
        return "error";
    }
    if (!obs || !json_object_get(obs, "status")) {
        const char *error = str(obs, "error");
        reason(reasons, "%s", error ? error : "the case did not run");
        return "error";
    }
    const json_t *stale = json_object_get(obs, "stale_request");
    if (json_is_object(stale)) {
        stale_reason(stale, reasons);
        return "stale";
    }
    judge(c, obs, reasons);
    return json_array_size(reasons) ? "fail" : "pass";
}

json_t *bt__case_entry(const bt_case *c, const json_t *head) {
    json_t *entry = json_object(), *reasons = json_array();
    set(entry, "case", json_string(c->dir));
    set(entry, "analyzer", string_or_null(c->analyzer));
    set(entry, "description", string_or_null(c->description));
    set(entry, "expect", json_deep_copy(c->expect));
    const char *outcome = outcome_of(c, head, reasons);
    set(entry, "outcome", json_string(outcome));
    set(entry, "reasons", reasons);
    observed(entry, head);
    if (strcmp(outcome, "error") == 0 && json_is_null(json_object_get(entry, "error")))
        set(entry, "error", json_incref(json_array_get(reasons, 0)));
    set(entry, "change", NULL);
    set(entry, "base", NULL);
    return entry;
}

/* ---- head against base --------------------------------------------------------------------- */

/* What two sides must share for a case to be unchanged: how it ended and what it found. */
static bool same_behaviour(const json_t *a, const json_t *b) {
    static const char *const keys[] = {"outcome",  "status",        "conclusion", "root_cause",
                                       "findings", "stale_request", "error",      NULL};
    for (const char *const *k = keys; *k; k++) {
        const json_t *x = json_object_get(a, *k), *y = json_object_get(b, *k);
        if (!(x == y || (x && y && json_equal(x, y))))
            return false;
    }
    return true;
}

void bt__compare(json_t *entry, const bt_case *c, const json_t *base) {
    if (json_is_true(json_object_get(base, "missing"))) {
        set(entry, "change", json_string("new"));
        return;
    }
    json_t *side = bt__case_entry(c, base);
    json_t *b = json_object();
    static const char *const keys[] = {"outcome",    "reasons",  "status",        "conclusion",
                                       "root_cause", "findings", "runtime_ms",    "connector_calls",
                                       "budget",     "error",    "stale_request", NULL};
    for (const char *const *k = keys; *k; k++)
        set(b, *k, json_incref(json_object_get(side, *k)));
    json_decref(side);
    bool head_pass = strcmp(str(entry, "outcome"), "pass") == 0;
    bool base_pass = strcmp(str(b, "outcome"), "pass") == 0;
    const char *change = head_pass && !base_pass    ? "fixed"
                         : !head_pass && base_pass  ? "broken"
                         : same_behaviour(entry, b) ? "unchanged"
                                                    : "changed";
    set(entry, "change", json_string(change));
    set(entry, "base", b);
}

/* ---- summaries ----------------------------------------------------------------------------- */

double bt__quantile(const double *sorted, size_t n, double q) {
    if (n == 0)
        return 0;
    double rank = ceil(q * (double)n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    return sorted[i < n ? i : n - 1];
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The side of 'entry' a summary reads: the entry itself, or its base; NULL when it has none. */
static const json_t *side_of(const json_t *entry, const char *side) {
    const json_t *s = side ? json_object_get(entry, side) : entry;
    return json_is_object(s) ? s : NULL;
}

static bool ran(const json_t *s) {
    const char *outcome = str(s, "outcome");
    return outcome && (strcmp(outcome, "pass") == 0 || strcmp(outcome, "fail") == 0);
}

/* Root-cause scores over the sides that ran and whose case expects a root cause (or none). */
static json_t *root_cause_scores(const json_t *cases, const char *side) {
    long tp = 0, fp = 0, fn = 0;
    size_t i;
    json_t *entry;
    json_array_foreach(cases, i, entry) {
        const json_t *s = side_of(entry, side);
        const json_t *want = json_object_get(json_object_get(entry, "expect"), "root_cause");
        if (!s || !ran(s) || !want)
            continue;
        const char *expected = json_string_value(want), *got = str(s, "root_cause");
        bool equal = expected && got && strcmp(expected, got) == 0;
        tp += equal;
        fp += got && !equal;
        fn += expected && !equal;
    }
    json_t *r = json_object();
    double precision = tp + fp ? (double)tp / (double)(tp + fp) : NAN;
    double recall = tp + fn ? (double)tp / (double)(tp + fn) : NAN;
    double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : NAN;
    set(r, "precision", isnan(precision) ? NULL : rounded(precision, 4));
    set(r, "recall", isnan(recall) ? NULL : rounded(recall, 4));
    set(r, "f1", isnan(f1) ? NULL : rounded(f1, 4));
    set(r, "tp", json_integer(tp));
    set(r, "fp", json_integer(fp));
    set(r, "fn", json_integer(fn));
    return r;
}

static json_t *runtimes(const json_t *cases, const char *side) {
    double *v = rt_xmalloc((json_array_size(cases) + 1) * sizeof *v);
    size_t n = 0, i;
    json_t *entry;
    json_array_foreach(cases, i, entry) {
        const json_t *ms = json_object_get(side_of(entry, side), "runtime_ms");
        if (json_is_number(ms))
            v[n++] = json_number_value(ms);
    }
    qsort(v, n, sizeof *v, compare_doubles);
    json_t *r = json_object();
    set(r, "p50", n ? rounded(bt__quantile(v, n, 0.5), 3) : NULL);
    set(r, "p95", n ? rounded(bt__quantile(v, n, 0.95), 3) : NULL);
    free(v);
    return r;
}

static json_t *calls(const json_t *cases, const char *side) {
    json_int_t total = 0, max = 0, n = 0;
    size_t i;
    json_t *entry;
    json_array_foreach(cases, i, entry) {
        const json_t *c = json_object_get(side_of(entry, side), "connector_calls");
        if (!json_is_integer(c))
            continue;
        json_int_t k = json_integer_value(c);
        total += k;
        max = k > max ? k : max;
        n++;
    }
    json_t *r = json_object();
    set(r, "total", json_integer(total));
    set(r, "mean", n ? rounded((double)total / (double)n, 2) : NULL);
    set(r, "max", json_integer(max));
    return r;
}

/* counts[k] of each name in 'names' that member 'key' of the sides takes. */
static json_t *tally(const json_t *cases, const char *side, const char *key,
                     const char *const *names) {
    json_t *r = json_object();
    for (const char *const *n = names; *n; n++)
        set(r, *n, json_integer(0));
    size_t i;
    json_t *entry;
    json_array_foreach(cases, i, entry) {
        const char *value = str(side ? side_of(entry, side) : entry, key);
        json_t *count = value ? json_object_get(r, value) : NULL;
        if (count)
            json_integer_set(count, json_integer_value(count) + 1);
    }
    return r;
}

json_t *bt__summary(const json_t *cases, const char *side, bool with_base) {
    json_t *s = json_object(), *counts = tally(cases, side, "outcome", outcomes);
    json_int_t n = 0, budget_hits = 0;
    size_t i;
    json_t *entry;
    json_array_foreach(cases, i, entry) {
        const json_t *x = side_of(entry, side);
        n += x != NULL;
        budget_hits += x && json_is_string(json_object_get(x, "budget"));
    }
    set(s, "cases", json_integer(n));
    json_object_update(s, counts);
    json_decref(counts);
    set(s, "budget_hits", json_integer(budget_hits));
    set(s, "root_cause", root_cause_scores(cases, side));
    set(s, "runtime_ms", runtimes(cases, side));
    set(s, "connector_calls", calls(cases, side));
    if (with_base)
        set(s, "changes", tally(cases, NULL, "change", changes));
    return s;
}

json_t *bt__confusion(const json_t *cases) {
    json_t *m = json_object();
    size_t i;
    json_t *entry;
    json_array_foreach(cases, i, entry) {
        const json_t *want = json_object_get(json_object_get(entry, "expect"), "root_cause");
        if (!ran(entry) || !want)
            continue;
        const char *expected = json_is_string(want) ? json_string_value(want) : BT_NONE;
        const char *got = str(entry, "root_cause") ? str(entry, "root_cause") : BT_NONE;
        json_t *row = json_object_get(m, expected);
        if (!row)
            json_object_set_new(m, expected, row = json_object());
        json_t *count = json_object_get(row, got);
        json_object_set_new(row, got, json_integer(json_integer_value(count) + 1));
    }
    return m;
}

int bt_exit_code(const json_t *report) {
    size_t i;
    json_t *entry;
    bool with_base = json_is_object(json_object_get(report, "base"));
    json_array_foreach(json_object_get(report, "cases"), i, entry) {
        const char *outcome = str(entry, "outcome"), *change = str(entry, "change");
        bool pass = outcome && strcmp(outcome, "pass") == 0;
        /* A case new on head has no base to compare with: it must pass, as without --base. */
        if (with_base && change && strcmp(change, "broken") == 0)
            return 1;
        if ((!with_base || (change && strcmp(change, "new") == 0)) && !pass)
            return 1;
    }
    return 0;
}
