/* tests/unit/test_backtest.c -- the backtest harness' judging (backtest/bt_case.c,
 * backtest/bt_score.c): reading case.json strictly with every problem named by its field;
 * outcomes and their reasons (status, conclusion, root cause, findings that must and must not
 * appear by root cause and PCRE2 title); a replay miss as stale with its request; head against
 * base; the summary's root-cause precision, recall, F1 and confusion, runtimes and calls; the
 * exit status; and rt_recording_rewind, which lets one parse of a recording replay both sides. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "bt_internal.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static json_t *parse(const char *text) {
    json_error_t error;
    json_t *v = json_loads(text, 0, &error);
    if (!v)
        fail_msg("bad JSON in the test: %s: %s", text, error.text);
    return v;
}

/* Case 'c' read from the case.json text 'text'. */
static void case_from(bt_case *c, const char *text) {
    json_t *doc = parse(text);
    bt__case_parse(c, "cases/c1", "cases/c1/case.json", doc, NULL);
    json_decref(doc);
}

/* The case problems as one string, each on its own line. */
static char *problems(const bt_case *c) {
    static char out[4096];
    json_t *texts = bt__diag_texts(&c->problems), *t;
    size_t i, n = 0;
    out[0] = '\0';
    json_array_foreach(texts, i, t) {
        n += (size_t)snprintf(out + n, sizeof out - n, "%s\n", json_string_value(t));
    }
    json_decref(texts);
    return out;
}

static const char *str(const json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

/* A result of status ok with 'findings' (JSON text of the array). */
static json_t *result_with(const char *conclusion, const char *findings) {
    char text[4096];
    snprintf(text, sizeof text,
             "{\"schema\": \"inquest.result/v1\", \"status\": \"ok\", \"conclusion\": {\"tag\": "
             "\"%s\"}, \"findings\": %s, \"calls\": [{}, {}, {}], \"timing\": {\"duration_ms\": "
             "4.25}}",
             conclusion, findings);
    return parse(text);
}

/* The entry of case 'c' for the result 'result' (stolen). */
static json_t *entry_for(const bt_case *c, json_t *result) {
    json_t *obs = bt__observe_result(result);
    json_t *entry = bt__case_entry(c, obs);
    json_decref(obs);
    json_decref(result);
    return entry;
}

static void assert_reason(const json_t *entry, size_t i, const char *want) {
    const char *got = json_string_value(json_array_get(json_object_get(entry, "reasons"), i));
    if (!got || strcmp(got, want) != 0)
        fail_msg("reason %zu: expected \"%s\", got \"%s\"", i, want, got ? got : "(none)");
}

static const char *const DEPLOY_CASE =
    "{\"schema\": \"inquest.case/v1\", \"analyzer\": \"http.error_spike\", \"now\": "
    "\"2026-11-20T14:10:00Z\", \"inputs\": {\"service\": \"checkout\"}, \"expect\": {"
    "\"conclusion\": \"root_cause_found\", \"root_cause\": \"bad_deploy\", \"findings\": "
    "[{\"root_cause\": \"bad_deploy\", \"title\": \"deploy d-47\\\\d+\"}], \"absent\": "
    "[{\"root_cause\": \"db.saturation\"}, {\"title\": \"(?i)^database\"}]}}";

/* ---- reading case.json ---------------------------------------------------------------------- */

static void test_case_read(void **state) {
    (void)state;
    bt_case c;
    case_from(&c, DEPLOY_CASE);
    assert_int_equal(rt_diag_count(&c.problems), 0);
    assert_string_equal(c.analyzer, "http.error_spike");
    assert_string_equal(c.name, "c1");
    assert_true(c.now == 1795183800.0);
    assert_string_equal(c.status, "ok"); /* the default */
    assert_string_equal(str(c.expect, "status"), "ok");
    assert_true(c.has_root_cause);
    assert_string_equal(c.root_cause, "bad_deploy");
    assert_int_equal(c.n_findings, 1);
    assert_int_equal(c.n_absent, 2);
    assert_string_equal(str(c.inputs, "service"), "checkout");
    bt__case_free(&c);

    case_from(&c, "{\"schema\": \"inquest.case/v1\", \"analyzer\": \"a.b\", \"now\": 1795183800,"
                  "\"expect\": {\"root_cause\": null}}");
    assert_int_equal(rt_diag_count(&c.problems), 0);
    assert_true(c.has_root_cause);
    assert_null(c.root_cause); /* a negative case: no root cause */
    assert_true(c.now == 1795183800.0);
    bt__case_free(&c);
}

static void test_case_problems(void **state) {
    (void)state;
    bt_case c;
    case_from(&c, "{\"schema\": \"inquest.case/v2\", \"analyser\": \"x\", \"inputs\": [],"
                  "\"now\": \"now-1h\", \"expect\": {\"status\": \"fine\", \"root_cause\": 7,"
                  "\"findings\": [{\"title\": \"a(b\"}, {}, {\"root_cause\": \"x\", \"tilte\": "
                  "\"y\"}], \"absent\": {}}}");
    const char *p = problems(&c);
    const char *expected[] = {
        "cases/c1/case.json: schema: expected \"inquest.case/v1\"",
        "cases/c1/case.json: analyser: unknown member (expected schema, analyzer, description, "
        "inputs, now, id, expect)",
        "cases/c1/case.json: analyzer: missing: the name of the analyzer to run",
        "cases/c1/case.json: inputs: expected an object, got an array",
        "cases/c1/case.json: now: a case's clock is frozen: give the time itself, not \"now-1h\"",
        "cases/c1/case.json: expect.status: 'fine' is no result status",
        "cases/c1/case.json: expect.root_cause: expected a non-empty string, got a number",
        "cases/c1/case.json: expect.findings[0].title: not a valid PCRE2 pattern: missing closing "
        "parenthesis at offset 3",
        "cases/c1/case.json: expect.findings[1]: give root_cause, title or both",
        "cases/c1/case.json: expect.findings[2].tilte: unknown member (expected root_cause, title)",
        "cases/c1/case.json: expect.absent: expected a list of findings ({root_cause, title}), got "
        "an object",
    };
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
        if (!strstr(p, expected[i]))
            fail_msg("missing problem \"%s\" in:\n%s", expected[i], p);
    assert_int_equal(rt_diag_count(&c.problems), sizeof expected / sizeof *expected);
    /* a case with problems is an error case, whatever was observed */
    json_t *entry = bt__case_entry(&c, NULL);
    assert_string_equal(str(entry, "outcome"), "error");
    assert_int_equal(json_array_size(json_object_get(entry, "reasons")),
                     sizeof expected / sizeof *expected);
    assert_string_equal(str(entry, "error"),
                        json_string_value(json_array_get(json_object_get(entry, "reasons"), 0)));
    json_decref(entry);
    bt__case_free(&c);

    case_from(&c, "[1, 2]");
    assert_string_equal(problems(&c),
                        "cases/c1/case.json: expected a JSON object (inquest.case/v1), got an "
                        "array\n");
    bt__case_free(&c);
}

static void test_case_beside_another_analyzer(void **state) {
    (void)state;
    bt_case c;
    json_t *doc = parse("{\"schema\": \"inquest.case/v1\", \"analyzer\": \"http.other\"}");
    bt__case_parse(&c, "a/http/error_spike.cases/x", "a/http/error_spike.cases/x/case.json", doc,
                   "http.error_spike");
    assert_string_equal(problems(&c), "a/http/error_spike.cases/x/case.json: analyzer: the case "
                                      "sits beside http.error_spike but names http.other\n");
    json_decref(doc);
    bt__case_free(&c);
}

/* ---- outcomes ------------------------------------------------------------------------------- */

static void test_pass(void **state) {
    (void)state;
    bt_case c;
    case_from(&c, DEPLOY_CASE);
    json_t *entry = entry_for(
        &c, result_with("root_cause_found",
                        "[{\"title\": \"5xx on /pay after deploy d-4711\", \"root_cause\": "
                        "\"bad_deploy\", \"severity\": \"high\", \"confidence\": 0.8},"
                        "{\"title\": \"slow queries\", \"root_cause\": \"db.load\"}]"));
    assert_string_equal(str(entry, "outcome"), "pass");
    assert_int_equal(json_array_size(json_object_get(entry, "reasons")), 0);
    assert_string_equal(str(entry, "root_cause"), "bad_deploy");
    assert_int_equal(json_integer_value(json_object_get(entry, "connector_calls")), 3);
    assert_true(json_real_value(json_object_get(entry, "runtime_ms")) == 4.25);
    assert_int_equal(json_array_size(json_object_get(entry, "findings")), 2);
    assert_string_equal(str(entry, "case"), "cases/c1");
    assert_true(json_is_null(json_object_get(entry, "change")));
    json_decref(entry);
    bt__case_free(&c);
}

static void test_fail_reasons(void **state) {
    (void)state;
    bt_case c;
    case_from(&c, DEPLOY_CASE);
    json_t *entry = entry_for(
        &c, result_with("inconclusive",
                        "[{\"title\": \"Database connections saturated\", \"root_cause\": "
                        "\"db.saturation\", \"confidence\": 0.7}]"));
    assert_string_equal(str(entry, "outcome"), "fail");
    assert_reason(entry, 0, "conclusion: expected root_cause_found, got inconclusive");
    assert_reason(entry, 1, "root cause: expected bad_deploy, got db.saturation");
    assert_reason(entry, 2,
                  "missing finding: none with root cause bad_deploy and a title matching "
                  "/deploy d-47\\d+/");
    assert_reason(entry, 3,
                  "unwanted finding: \"Database connections saturated\" (root cause "
                  "db.saturation) matches expect.absent[0] (root cause db.saturation)");
    assert_reason(entry, 4,
                  "unwanted finding: \"Database connections saturated\" (root cause "
                  "db.saturation) matches expect.absent[1] (a title matching /(?i)^database/)");
    assert_int_equal(json_array_size(json_object_get(entry, "reasons")), 5);
    json_decref(entry);
    bt__case_free(&c);
}

/* A title pattern is unanchored, and a finding must match both parts of a matcher. */
static void test_matching_both_parts(void **state) {
    (void)state;
    bt_case c;
    case_from(&c, "{\"schema\": \"inquest.case/v1\", \"analyzer\": \"a.b\", \"expect\": {"
                  "\"findings\": [{\"root_cause\": \"bad_deploy\", \"title\": \"4711\"}]}}");
    json_t *entry = entry_for(&c, result_with("x", "[{\"title\": \"deploy 4711\", \"root_cause\": "
                                                   "\"config_change\"}, {\"title\": \"deploy "
                                                   "4712\", \"root_cause\": \"bad_deploy\"}]"));
    assert_string_equal(str(entry, "outcome"), "fail"); /* no finding has both */
    json_decref(entry);
    entry = entry_for(&c, result_with("x", "[{\"title\": \"rollback of deploy 4711 now\", "
                                           "\"root_cause\": \"bad_deploy\"}]"));
    assert_string_equal(str(entry, "outcome"), "pass");
    json_decref(entry);
    bt__case_free(&c);
}

/* The top root cause is the post-processor's: severity first, then confidence, then order. */
static void test_top_root_cause(void **state) {
    (void)state;
    bt_case c;
    case_from(&c, "{\"schema\": \"inquest.case/v1\", \"analyzer\": \"a.b\", \"expect\": "
                  "{\"root_cause\": \"bad_deploy\"}}");
    json_t *entry = entry_for(
        &c, result_with("root_cause_found",
                        "[{\"title\": \"a\", \"root_cause\": \"db.load\", \"severity\": "
                        "\"medium\", \"confidence\": 0.9}, {\"title\": \"b\", \"root_cause\": "
                        "\"bad_deploy\", \"severity\": \"high\", \"confidence\": 0.5}]"));
    assert_string_equal(str(entry, "root_cause"), "bad_deploy");
    assert_string_equal(str(entry, "outcome"), "pass");
    json_decref(entry);
    entry = entry_for(&c, result_with("inconclusive", "[{\"title\": \"no cause\"}]"));
    assert_reason(entry, 0, "root cause: expected bad_deploy, got none");
    json_decref(entry);
    bt__case_free(&c);

    case_from(&c, "{\"schema\": \"inquest.case/v1\", \"analyzer\": \"a.b\", \"expect\": "
                  "{\"root_cause\": null}}");
    entry = entry_for(&c, result_with("x", "[{\"title\": \"t\", \"root_cause\": \"noise\"}]"));
    assert_reason(entry, 0, "root cause: expected none, got noise");
    json_decref(entry);
    bt__case_free(&c);
}

static void test_status_and_budget(void **state) {
    (void)state;
    bt_case c;
    case_from(&c, DEPLOY_CASE);
    json_t *result = parse("{\"status\": \"cpu_exceeded\", \"findings\": [], \"calls\": [], "
                           "\"errors\": [{\"message\": \"instruction budget of 1000 exceeded\", "
                           "\"file\": \"a/b.lua\", \"line\": 12}]}");
    json_t *entry = entry_for(&c, result);
    assert_string_equal(str(entry, "outcome"), "fail");
    assert_string_equal(str(entry, "budget"), "cpu_exceeded");
    assert_reason(entry, 0,
                  "status: expected ok, got cpu_exceeded: a/b.lua:12: instruction budget of "
                  "1000 exceeded");
    /* the status says it all: what it did not find follows from it */
    assert_int_equal(json_array_size(json_object_get(entry, "reasons")), 1);
    json_decref(entry);
    bt__case_free(&c);

    /* a case may expect a budget to trip */
    case_from(&c, "{\"schema\": \"inquest.case/v1\", \"analyzer\": \"a.b\", \"expect\": "
                  "{\"status\": \"timeout\"}}");
    entry = entry_for(&c, parse("{\"status\": \"timeout\", \"findings\": [], \"errors\": "
                                "[{\"message\": \"deadline of 30s exceeded\"}]}"));
    assert_string_equal(str(entry, "outcome"), "pass");
    json_decref(entry);
    bt__case_free(&c);
}

static void test_stale(void **state) {
    (void)state;
    bt_case c;
    case_from(&c, DEPLOY_CASE);
    json_t *entry = entry_for(
        &c, parse("{\"status\": \"error\", \"findings\": [], \"calls\": [{}, {}], \"errors\": "
                  "[{\"message\": \"replay: no recorded response for es POST /logs-*/_search "
                  "with body {\\\"size\\\":0}\"}]}"));
    assert_string_equal(str(entry, "outcome"), "stale");
    const json_t *r = json_object_get(entry, "stale_request");
    assert_string_equal(str(r, "connector"), "es");
    assert_string_equal(str(r, "method"), "POST");
    assert_string_equal(str(r, "path"), "/logs-*/_search");
    assert_string_equal(str(r, "body"), "{\"size\":0}");
    assert_null(json_object_get(r, "truncated"));
    assert_reason(entry, 0,
                  "stale: es was asked for POST /logs-*/_search with body {\"size\":0}, which "
                  "the recording does not hold (record the case again)");
    json_decref(entry);

    entry = entry_for(&c, parse("{\"status\": \"error\", \"findings\": [], \"errors\": "
                                "[{\"message\": \"replay: no recorded response for prom GET "
                                "/api/v1/query?query=up&time=1\"}]}"));
    r = json_object_get(entry, "stale_request");
    assert_string_equal(str(r, "path"), "/api/v1/query?query=up&time=1");
    assert_true(json_is_null(json_object_get(r, "body")));
    json_decref(entry);
    bt__case_free(&c);
}

static void test_error_observation(void **state) {
    (void)state;
    bt_case c;
    case_from(&c, DEPLOY_CASE);
    json_t *obs = bt__observe_error("cannot read the recording: x: no such file", false);
    json_t *entry = bt__case_entry(&c, obs);
    assert_string_equal(str(entry, "outcome"), "error");
    assert_string_equal(str(entry, "error"), "cannot read the recording: x: no such file");
    assert_reason(entry, 0, "cannot read the recording: x: no such file");
    json_decref(entry);
    json_decref(obs);
    bt__case_free(&c);
}

/* ---- head against base ---------------------------------------------------------------------- */

static const char *change_of(const bt_case *c, json_t *head, json_t *base) {
    static char change[32];
    json_t *ho = bt__observe_result(head), *bo = bt__observe_result(base);
    json_t *entry = bt__case_entry(c, ho);
    bt__compare(entry, c, bo);
    snprintf(change, sizeof change, "%s", str(entry, "change"));
    json_decref(entry);
    json_decref(ho);
    json_decref(bo);
    json_decref(head);
    json_decref(base);
    return change;
}

static void test_changes(void **state) {
    (void)state;
    bt_case c;
    case_from(&c, "{\"schema\": \"inquest.case/v1\", \"analyzer\": \"a.b\", \"expect\": "
                  "{\"root_cause\": \"bad_deploy\"}}");
    const char *good = "[{\"title\": \"deploy 1\", \"root_cause\": \"bad_deploy\"}]";
    const char *good2 = "[{\"title\": \"deploy 1 (new title)\", \"root_cause\": \"bad_deploy\"}]";
    const char *bad = "[{\"title\": \"db\", \"root_cause\": \"db\"}]";
    const char *bad2 = "[{\"title\": \"cache\", \"root_cause\": \"cache\"}]";
    assert_string_equal(change_of(&c, result_with("x", good), result_with("x", good)), "unchanged");
    assert_string_equal(change_of(&c, result_with("x", good2), result_with("x", good)), "changed");
    assert_string_equal(change_of(&c, result_with("x", good), result_with("x", bad)), "fixed");
    assert_string_equal(change_of(&c, result_with("x", bad), result_with("x", good)), "broken");
    assert_string_equal(change_of(&c, result_with("x", bad2), result_with("x", bad)), "changed");
    assert_string_equal(change_of(&c, result_with("x", bad), result_with("x", bad)), "unchanged");

    json_t *result = result_with("x", good);
    json_t *ho = bt__observe_result(result);
    json_t *bo = bt__observe_error("no such analyzer: …", true);
    json_decref(result);
    json_t *entry = bt__case_entry(&c, ho);
    bt__compare(entry, &c, bo);
    assert_string_equal(str(entry, "change"), "new");
    assert_true(json_is_null(json_object_get(entry, "base")));
    json_decref(entry);
    json_decref(ho);
    json_decref(bo);
    bt__case_free(&c);
}

/* ---- summaries ------------------------------------------------------------------------------ */

/* An entry expecting 'want' (NULL: none; "-": no expectation) that got 'got', with 'outcome'. */
static json_t *scored(const char *want, const char *got, const char *outcome, double ms,
                      int calls) {
    json_t *e = json_object(), *expect = json_object();
    if (!want)
        json_object_set_new(expect, "root_cause", json_null());
    else if (strcmp(want, "-") != 0)
        json_object_set_new(expect, "root_cause", json_string(want));
    json_object_set_new(e, "expect", expect);
    json_object_set_new(e, "outcome", json_string(outcome));
    json_object_set_new(e, "root_cause", got ? json_string(got) : json_null());
    json_object_set_new(e, "runtime_ms", json_real(ms));
    json_object_set_new(e, "connector_calls", json_integer(calls));
    json_object_set_new(e, "budget", json_null());
    return e;
}

static double number(const json_t *obj, const char *a, const char *b) {
    return json_number_value(json_object_get(json_object_get(obj, a), b));
}

static void test_summary_scores(void **state) {
    (void)state;
    json_t *cases = json_array();
    json_array_append_new(cases, scored("bad_deploy", "bad_deploy", "pass", 1, 10)); /* tp */
    json_array_append_new(cases, scored("bad_deploy", "bad_deploy", "pass", 2, 10)); /* tp */
    json_array_append_new(cases, scored("bad_deploy", "db", "fail", 3, 12));         /* fp fn */
    json_array_append_new(cases, scored("bad_deploy", NULL, "fail", 4, 8));          /* fn */
    json_array_append_new(cases, scored(NULL, "noise", "fail", 5, 10));              /* fp */
    json_array_append_new(cases, scored(NULL, NULL, "pass", 6, 10));                 /* - */
    json_array_append_new(cases, scored("-", "x", "pass", 7, 10)); /* no expectation: not scored */
    json_array_append_new(cases, scored("bad_deploy", NULL, "stale", 8, 3)); /* did not run */
    json_t *error = scored("bad_deploy", NULL, "error", 0, 0);
    json_object_del(error, "runtime_ms");
    json_object_del(error, "connector_calls");
    json_object_set_new(error, "budget", json_string("timeout"));
    json_array_append_new(cases, error);

    json_t *s = bt__summary(cases, NULL, false);
    assert_int_equal(json_integer_value(json_object_get(s, "cases")), 9);
    assert_int_equal(json_integer_value(json_object_get(s, "pass")), 4);
    assert_int_equal(json_integer_value(json_object_get(s, "fail")), 3);
    assert_int_equal(json_integer_value(json_object_get(s, "stale")), 1);
    assert_int_equal(json_integer_value(json_object_get(s, "error")), 1);
    assert_int_equal(json_integer_value(json_object_get(s, "budget_hits")), 1);
    json_t *rc = json_object_get(s, "root_cause");
    assert_int_equal(json_integer_value(json_object_get(rc, "tp")), 2);
    assert_int_equal(json_integer_value(json_object_get(rc, "fp")), 2);
    assert_int_equal(json_integer_value(json_object_get(rc, "fn")), 2);
    assert_true(number(s, "root_cause", "precision") == 0.5);
    assert_true(number(s, "root_cause", "recall") == 0.5);
    assert_true(number(s, "root_cause", "f1") == 0.5);
    assert_true(number(s, "runtime_ms", "p50") == 4); /* nearest rank of 1..8 */
    assert_true(number(s, "runtime_ms", "p95") == 8);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(s, "connector_calls"), "total")), 73);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(s, "connector_calls"), "max")), 12);
    assert_true(number(s, "connector_calls", "mean") == 9.13);
    assert_null(json_object_get(s, "changes"));
    json_decref(s);

    json_t *m = bt__confusion(cases);
    json_t *want = parse("{\"bad_deploy\": {\"bad_deploy\": 2, \"db\": 1, \"(none)\": 1},"
                         "\"(none)\": {\"noise\": 1, \"(none)\": 1}}");
    if (!json_equal(m, want)) {
        char *got = json_dumps(m, JSON_SORT_KEYS);
        fail_msg("confusion: %s", got);
    }
    json_decref(want);
    json_decref(m);
    json_decref(cases);
}

static void test_summary_empty(void **state) {
    (void)state;
    json_t *cases = json_array();
    json_array_append_new(cases, scored("bad_deploy", NULL, "error", 0, 0));
    json_t *s = bt__summary(cases, NULL, true);
    assert_true(json_is_null(json_object_get(json_object_get(s, "root_cause"), "precision")));
    assert_true(json_is_null(json_object_get(json_object_get(s, "root_cause"), "f1")));
    assert_non_null(json_object_get(s, "changes"));
    json_decref(s);
    json_decref(cases);
}

static void test_quantile(void **state) {
    (void)state;
    double v[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    assert_true(bt__quantile(v, 20, 0.5) == 10);
    assert_true(bt__quantile(v, 20, 0.95) == 19);
    assert_true(bt__quantile(v, 1, 0.95) == 1);
    assert_true(bt__quantile(v, 0, 0.5) == 0);
}

static void test_exit_code(void **state) {
    (void)state;
    json_t *r = parse("{\"base\": null, \"cases\": [{\"outcome\": \"pass\"}]}");
    assert_int_equal(bt_exit_code(r), 0);
    json_decref(r);
    r = parse("{\"base\": null, \"cases\": [{\"outcome\": \"pass\"}, {\"outcome\": \"stale\"}]}");
    assert_int_equal(bt_exit_code(r), 1);
    json_decref(r);
    /* with a base: only what passed there and no longer does, or a new case that fails */
    r = parse("{\"base\": {\"rev\": \"main\"}, \"cases\": [{\"outcome\": \"fail\", \"change\": "
              "\"unchanged\"}, {\"outcome\": \"pass\", \"change\": \"fixed\"}]}");
    assert_int_equal(bt_exit_code(r), 0);
    json_decref(r);
    r = parse("{\"base\": {\"rev\": \"main\"}, \"cases\": [{\"outcome\": \"stale\", \"change\": "
              "\"broken\"}]}");
    assert_int_equal(bt_exit_code(r), 1);
    json_decref(r);
    r = parse("{\"base\": {\"rev\": \"main\"}, \"cases\": [{\"outcome\": \"fail\", \"change\": "
              "\"new\"}]}");
    assert_int_equal(bt_exit_code(r), 1);
    json_decref(r);
}

/* ---- one parse, two replays ----------------------------------------------------------------- */

static void test_rewind(void **state) {
    (void)state;
    char dir[] = "/tmp/test_backtest_XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.json", dir);
    rt_recording *r = rt_recording_new();
    rt_exchange e = {.connector = "prom",
                     .method = "GET",
                     .path = "/q",
                     .status = 200,
                     .response = "one",
                     .response_len = 3};
    rt_recording_add(r, &e);
    e.response = "two";
    rt_recording_add(r, &e);
    char why[256];
    assert_int_equal(rt_recording_save(r, path, why), RT_OK);
    rt_recording_free(r);
    rt_diag diag = {0};
    assert_int_equal(rt_recording_load(path, &r, &diag), RT_OK);
    for (int round = 0; round < 2; round++) {
        rt_exchange q = {.connector = "prom", .method = "GET", .path = "/q"};
        assert_int_equal(rt_recording_match(r, &q), RT_OK);
        assert_string_equal(q.response, "one");
        assert_int_equal(rt_recording_match(r, &q), RT_OK);
        assert_string_equal(q.response, "two");
        assert_int_equal(rt_recording_match(r, &q), RT_EREPLAY);
        rt_recording_rewind(r); /* the same answers, in the same order, again */
    }
    rt_recording_free(r);
    unlink(path);
    rmdir(dir);
}

#define RECORDING_WITH(body)                                                                       \
    "{\"schema\": \"inquest.recording/v1\", \"exchanges\": [\n"                                    \
    "  {\"connector\": \"c\", \"request\": {\"method\": \"GET\", \"path\": \"/\"},\n"              \
    "   \"response\": {\"status\": 200, \"body_json\": " body "}}]}\n"

/* Loading a recording whose one body is 'body' fails as jansson fails on it, at the same place. */
static void expect_refused(const char *path, const char *body) {
    char text[512];
    snprintf(text, sizeof text, RECORDING_WITH("%s"), body);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    rt_recording *r = NULL;
    rt_diag diag = {0};
    json_error_t error;
    assert_null(json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error));
    if (rt_recording_load(path, &r, &diag) != RT_ESYNTAX)
        fail_msg("a body of %s loaded", body);
    json_t *item = json_array_get(diag.items, 0);
    assert_int_equal(json_integer_value(json_object_get(item, "line")), error.line);
    assert_int_equal(json_integer_value(json_object_get(item, "column")), error.column);
    assert_string_equal(json_string_value(json_object_get(item, "message")), error.text);
    rt_diag_free(&diag);
}

/* Recordings are read squeezed, their JSON bodies served as written (rt_recording.c, for the
 * backtest's speed): tricky bodies come back as equal JSON, each to its own exchange, and a text
 * that is not JSON stays refused, at its place in the file as written. */
static void test_recording_bodies(void **state) {
    (void)state;
    char dir[] = "/tmp/test_backtest_XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.json", dir);
    const char *bodies[] = {
        "{\"a b\": \"x \\\" y  z }]\", \"body_json\": {\"response\": [1, 2.5e3, -0.1, true, "
        "null]}}",
        "[ [ ], { }, \"\\\\\", [[{\"k\": \"{\"}]], -9223372036854775808 ]",
        "{\"exchanges\": [{\"response\": {\"body_json\": 1}}]}",
    };
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\n  \"schema\" : \"inquest.recording/v1\",\n  \"exchanges\": [\n", f);
    for (int i = 0; i < 3; i++)
        fprintf(
            f,
            "    {\"connector\": \"c\", \"request\": {\"method\": \"POST\", \"path\": \"/%d\",\n"
            "      \"body_json\": {\"q\": %d}},\n      \"response\": {\"status\": 200,\n"
            "        \"body_json\":  %s\n      }\n    }%s\n",
            i, i, bodies[i], i < 2 ? "," : "");
    fputs("  ]\n}\n", f);
    assert_int_equal(fclose(f), 0);
    rt_recording *r = NULL;
    rt_diag diag = {0};
    int rc = rt_recording_load(path, &r, &diag);
    if (rc != RT_OK) {
        rt_diag_print(&diag, stderr, "");
        fail_msg("load: %s", rt_errname(rc));
    }
    for (int i = 0; i < 3; i++) {
        char p[8], body[16];
        snprintf(p, sizeof p, "/%d", i);
        snprintf(body, sizeof body, "{\"q\":%d}", i);
        rt_exchange q = {
            .connector = "c", .method = "POST", .path = p, .body = body, .body_len = strlen(body)};
        assert_int_equal(rt_recording_match(r, &q), RT_OK);
        json_t *got = json_loadb(q.response, q.response_len, 0, NULL), *want = parse(bodies[i]);
        if (!got || !json_equal(got, want))
            fail_msg("exchange %d: served %.*s", i, (int)q.response_len, q.response);
        assert_null(memchr(q.response, '\n', q.response_len)); /* compact */
        if (i == 0) /* as written, not written out again (2500.0) */
            assert_non_null(strstr(q.response, "2.5e3"));
        json_decref(got);
        json_decref(want);
    }
    rt_recording_free(r);

    /* what jansson refuses in a body is refused, at its place in the file as written */
    const char *refused[] = {"{\"a\": 1, \"a\": 2}", "[99999999999999999999]", "[1e999]",
                             "[\"\\ud800\"]", "[1 2]"};
    for (size_t k = 0; k < sizeof refused / sizeof *refused; k++)
        expect_refused(path, refused[k]);
    /* a \u escape, which yajl is not trusted with, still loads */
    f = fopen(path, "w");
    fputs(RECORDING_WITH("[\"\\u00e9\", {\"k\": [1, 2]}]"), f);
    fclose(f);
    assert_int_equal(rt_recording_load(path, &r, &diag), RT_OK);
    rt_exchange q = {.connector = "c", .method = "GET", .path = "/"};
    assert_int_equal(rt_recording_match(r, &q), RT_OK);
    json_t *got = json_loadb(q.response, q.response_len, 0, NULL);
    assert_string_equal(json_string_value(json_array_get(got, 0)), "\xc3\xa9");
    json_decref(got);
    rt_recording_free(r);

    /* two tokens with only white space between them are not JSON, squeezed or not */
    const char *bad =
        "{\"schema\": \"inquest.recording/v1\", \"exchanges\": [\n"
        "  {\"connector\": \"c\", \"request\": {\"method\": \"GET\", \"path\": \"/\"},\n"
        "   \"response\": {\"status\": 200, \"body_json\": [1 2]}}]}\n";
    f = fopen(path, "w");
    fputs(bad, f);
    fclose(f);
    assert_int_equal(rt_recording_load(path, &r, &diag), RT_ESYNTAX);
    json_error_t error; /* where jansson places the error in the text as written */
    assert_null(json_loads(bad, 0, &error));
    json_t *item = json_array_get(diag.items, 0);
    assert_int_equal(json_integer_value(json_object_get(item, "line")), 3);
    assert_int_equal(json_integer_value(json_object_get(item, "line")), error.line);
    assert_int_equal(json_integer_value(json_object_get(item, "column")), error.column);
    rt_diag_free(&diag);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_read),
        cmocka_unit_test(test_case_problems),
        cmocka_unit_test(test_case_beside_another_analyzer),
        cmocka_unit_test(test_pass),
        cmocka_unit_test(test_fail_reasons),
        cmocka_unit_test(test_matching_both_parts),
        cmocka_unit_test(test_top_root_cause),
        cmocka_unit_test(test_status_and_budget),
        cmocka_unit_test(test_stale),
        cmocka_unit_test(test_error_observation),
        cmocka_unit_test(test_changes),
        cmocka_unit_test(test_summary_scores),
        cmocka_unit_test(test_summary_empty),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_exit_code),
        cmocka_unit_test(test_rewind),
        cmocka_unit_test(test_recording_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
