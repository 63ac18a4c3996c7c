/* tests/unit/test_bt_capture.c -- backtest/bt_capture.c: the expectation a result makes (status,
 * conclusion, the top finding's root cause, each finding by root cause and an anchored, escaped
 * title that matches exactly its title under PCRE2), and case folders written whole, read back
 * equal, never over an existing case. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "bt.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static char dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_bt_capture_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    char command[128];
    (void)state;
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    return system(command) == 0 ? 0 : -1;
}

static json_t *parse(const char *text) {
    json_error_t error;
    json_t *v = json_loads(text, 0, &error);
    if (!v)
        fail_msg("bad JSON in the test: %s: %s", error.text, text);
    return v;
}

/* Asserts that 'value' equals the JSON 'want', printing both when not. */
static void assert_json(const json_t *value, const char *want) {
    json_t *w = parse(want);
    if (!json_equal(value, w)) {
        char *got = json_dumps(value, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *exp = json_dumps(w, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fail_msg("expected %s\n     got %s", exp, got);
    }
    json_decref(w);
}

static json_t *expect_of(const char *result) {
    json_t *r = parse(result), *e = bt_expect_from_result(r);
    json_decref(r);
    return e;
}

/* True when PCRE2 'pattern' matches 'subject' (unanchored, as the backtest matches titles). */
static bool matches(const char *pattern, const char *subject) {
    int error;
    PCRE2_SIZE offset;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &error, &offset, NULL);
    if (!re)
        fail_msg("'%s' does not compile at %zu", pattern, (size_t)offset);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

static rt_recording *recording_of(const char *id) {
    rt_recording *r = rt_recording_new();
    json_t *meta = rt_recording_meta(r);
    json_object_set_new(meta, "analyzer", json_string("demo.spike"));
    json_object_set_new(meta, "id", json_string(id));
    json_object_set_new(meta, "now", json_integer(1795183200));
    json_object_set_new(meta, "inputs", json_pack("{s:s}", "service", "checkout"));
    json_object_set_new(meta, "connectors", json_pack("{s:{s:s}}", "prom", "type", "prometheus"));
    rt_exchange e = {.connector = "prom",
                     .method = "GET",
                     .path = "/api/v1/query?query=up",
                     .status = 200,
                     .response = "{\"status\":\"success\"}",
                     .response_len = 20,
                     .content_type = "application/json"};
    rt_recording_add(r, &e);
    return r;
}

static json_t *case_doc(void) {
    return parse("{\"schema\": \"inquest.case/v1\", \"analyzer\": \"demo.spike\","
                 " \"inputs\": {\"service\": \"checkout\"}, \"now\": \"2026-11-21T12:00:00Z\","
                 " \"id\": \"a-1\", \"expect\": {\"status\": \"ok\", \"root_cause\": null}}");
}

static const char *at(const char *name) {
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- bt_expect_from_result ------------------------------------------------------------------- */

static void test_expect_top_cause_and_findings(void **state) {
    (void)state;
    json_t *e = expect_of(
        "{\"status\": \"ok\", \"conclusion\": {\"tag\": \"root_cause_found\"}, \"findings\": ["
        " {\"title\": \"db slow\", \"root_cause\": \"db.saturation\", \"confidence\": 0.4},"
        " {\"title\": \"deploy 4711 (canary)\", \"root_cause\": \"bad_deploy\", \"confidence\": "
        "0.8},"
        " {\"title\": \"noise\", \"confidence\": 0.1}]}");
    assert_json(
        e, "{\"status\": \"ok\", \"conclusion\": \"root_cause_found\","
           " \"root_cause\": \"bad_deploy\", \"findings\": ["
           "  {\"root_cause\": \"db.saturation\", \"title\": \"^db slow\\\\z\"},"
           "  {\"root_cause\": \"bad_deploy\", \"title\": \"^deploy 4711 \\\\(canary\\\\)\\\\z\"},"
           "  {\"title\": \"^noise\\\\z\"}]}");
    json_decref(e);
}

static void test_expect_negative_case(void **state) {
    (void)state;
    json_t *e = expect_of("{\"status\": \"ok\", \"conclusion\": {\"tag\": \"no_anomaly\"},"
                          " \"findings\": []}");
    assert_json(e, "{\"status\": \"ok\", \"conclusion\": \"no_anomaly\", \"root_cause\": null,"
                   " \"findings\": []}");
    json_decref(e);
}

/* The top finding is the most severe, then the most confident; when it names no cause, the
 * case expects none. */
static void test_expect_top_without_cause(void **state) {
    (void)state;
    json_t *e = expect_of("{\"status\": \"ok\", \"findings\": ["
                          " {\"title\": \"a\", \"root_cause\": \"x\", \"confidence\": 0.5},"
                          " {\"title\": \"b\", \"confidence\": 0.9}]}");
    assert_true(json_is_null(json_object_get(e, "root_cause")));
    assert_null(json_object_get(e, "conclusion"));
    json_decref(e);
}

/* Severity first: a critical finding of low confidence is the top one. */
static void test_expect_severity_first(void **state) {
    (void)state;
    json_t *e = expect_of("{\"status\": \"ok\", \"findings\": ["
                          " {\"title\": \"a\", \"root_cause\": \"sure\", \"confidence\": 0.9,"
                          "  \"severity\": \"medium\"},"
                          " {\"title\": \"b\", \"root_cause\": \"grave\", \"confidence\": 0.2,"
                          "  \"severity\": \"critical\"},"
                          " {\"title\": \"c\", \"root_cause\": \"odd\", \"confidence\": 1,"
                          "  \"severity\": \"bogus\"}]}");
    assert_string_equal(json_string_value(json_object_get(e, "root_cause")), "grave");
    json_decref(e);
}

/* Equal severity and confidence: the first finding in the analyzer's order. Missing
 * confidence counts 0. */
static void test_expect_ties_and_missing_confidence(void **state) {
    (void)state;
    json_t *e = expect_of("{\"status\": \"ok\", \"findings\": ["
                          " {\"title\": \"a\", \"root_cause\": \"first\", \"confidence\": 0.7},"
                          " {\"title\": \"b\", \"root_cause\": \"second\", \"confidence\": 0.7},"
                          " {\"title\": \"c\", \"root_cause\": \"none\"}]}");
    assert_string_equal(json_string_value(json_object_get(e, "root_cause")), "first");
    json_decref(e);
}

static void test_expect_error_result(void **state) {
    (void)state;
    json_t *e = expect_of("{\"status\": \"timeout\", \"findings\": [], \"errors\": []}");
    assert_json(e, "{\"status\": \"timeout\", \"root_cause\": null, \"findings\": []}");
    json_decref(e);
    e = expect_of("{}"); /* not the engine's: no status is an error */
    assert_json(e, "{\"status\": \"error\", \"root_cause\": null, \"findings\": []}");
    json_decref(e);
}

static void test_expect_duplicates_once(void **state) {
    (void)state;
    json_t *e = expect_of("{\"status\": \"ok\", \"findings\": ["
                          " {\"title\": \"same\", \"root_cause\": \"x\", \"confidence\": 0.5},"
                          " {\"title\": \"same\", \"root_cause\": \"x\", \"confidence\": 0.6}]}");
    assert_int_equal(json_array_size(json_object_get(e, "findings")), 1);
    json_decref(e);
}

/* Every PCRE2 metacharacter is escaped: the pattern matches its title, and not a title that
 * only looks like it, nor one with more text around it. */
static void test_title_patterns_match_exactly(void **state) {
    static const char *const titles[] = {
        "5xx on /api/v1/pay (p99 > 2.5s) after deploy [4711]",
        "cost $100 + 20% | ^caret {braces} *star? back\\slash",
        "naïve café – 日本語",
        "a.b",
    };
    (void)state;
    for (size_t i = 0; i < sizeof titles / sizeof *titles; i++) {
        json_t *result = json_pack("{s:s, s:[{s:s, s:f}]}", "status", "ok", "findings", "title",
                                   titles[i], "confidence", 0.5);
        json_t *e = bt_expect_from_result(result);
        const char *pattern = json_string_value(
            json_object_get(json_array_get(json_object_get(e, "findings"), 0), "title"));
        char longer[300];
        assert_non_null(pattern);
        assert_true(matches(pattern, titles[i]));
        snprintf(longer, sizeof longer, "x%s", titles[i]);
        assert_false(matches(pattern, longer));
        snprintf(longer, sizeof longer, "%sx", titles[i]);
        assert_false(matches(pattern, longer));
        snprintf(longer, sizeof longer, "%s\n", titles[i]); /* $ would match before it */
        assert_false(matches(pattern, longer));
        json_decref(e);
        json_decref(result);
    }
    assert_false(matches("^a\\.b\\z", "axb")); /* the dot is literal */
}

/* ---- a person's verdict --------------------------------------------------------------------- */

#define RUN_EXPECT                                                                                 \
    "{\"status\": \"ok\", \"conclusion\": \"root_cause_found\", \"root_cause\": \"bad_deploy\","   \
    " \"findings\": [{\"root_cause\": \"bad_deploy\", \"title\": \"^deploy$\"},"                   \
    " {\"root_cause\": \"db\", \"title\": \"^db$\"}, {\"title\": \"^noise$\"}]}"

/* The run's expectation judged by 'feedback' (JSON), and the line that says so in 'what'. */
static json_t *judged(const char *feedback, char *what) {
    json_t *run = parse(RUN_EXPECT), *fb = parse(feedback);
    json_t *e = bt_expect_with_feedback(run, fb, what);
    assert_json(run, RUN_EXPECT); /* not changed */
    json_decref(run);
    json_decref(fb);
    return e;
}

static void test_feedback_in_the_expectation(void **state) {
    char what[256];
    (void)state;
    json_t *e = judged("{\"verdict\": \"correct\"}", what);
    assert_json(e, RUN_EXPECT);
    assert_string_equal(what, "judged correct: the expectation is the run's");
    json_decref(e);

    /* Wrong, with the cause it should have been: that cause, the run's absent, its findings gone.
     */
    e = judged("{\"verdict\": \"wrong\", \"root_cause\": \"db\"}", what);
    assert_json(
        e,
        "{\"status\": \"ok\", \"root_cause\": \"db\","
        " \"findings\": [{\"root_cause\": \"db\", \"title\": \"^db$\"}, {\"title\": \"^noise$\"}],"
        " \"absent\": [{\"root_cause\": \"bad_deploy\"}]}");
    assert_string_equal(what, "judged wrong: expects db, expects absent bad_deploy");
    json_decref(e);

    /* Wrong without one: the run's cause absent, none in particular expected. */
    e = judged("{\"verdict\": \"wrong\", \"root_cause\": null, \"note\": \"no\"}", what);
    assert_json(
        e,
        "{\"status\": \"ok\","
        " \"findings\": [{\"root_cause\": \"db\", \"title\": \"^db$\"}, {\"title\": \"^noise$\"}],"
        " \"absent\": [{\"root_cause\": \"bad_deploy\"}]}");
    json_decref(e);

    /* Partly, with a cause: that cause, the findings kept; without one: the run's. */
    e = judged("{\"verdict\": \"partly\", \"root_cause\": \"db\"}", what);
    json_t *want = parse(RUN_EXPECT);
    json_object_set_new(want, "root_cause", json_string("db"));
    assert_true(json_equal(e, want));
    json_decref(want);
    json_decref(e);
    e = judged("{\"verdict\": \"partly\"}", what);
    assert_json(e, RUN_EXPECT);
    json_decref(e);

    /* A run that found nothing, judged wrong: what it should have found, nothing absent. */
    json_t *none = parse("{\"status\": \"ok\", \"root_cause\": null, \"findings\": []}");
    json_t *fb = parse("{\"verdict\": \"wrong\", \"root_cause\": \"cert_expiry\"}");
    e = bt_expect_with_feedback(none, fb, NULL);
    assert_json(e, "{\"status\": \"ok\", \"root_cause\": \"cert_expiry\", \"findings\": []}");
    json_decref(e);
    json_decref(fb);
    fb = parse("{\"verdict\": \"wrong\"}");
    e = bt_expect_with_feedback(none, fb, what);
    assert_json(e, "{\"status\": \"ok\", \"findings\": []}");
    assert_string_equal(what, "judged wrong: expects no root cause in particular");
    json_decref(e);
    json_decref(fb);
    json_decref(none);
}

static void test_case_description(void **state) {
    char out[128];
    (void)state;
    bt_case_description("3f9c", "2026-11-22T08:00:00.000Z", NULL, out, sizeof out);
    assert_string_equal(out, "analysis 3f9c, submitted 2026-11-22T08:00:00.000Z");
    json_t *fb = parse("{\"verdict\": \"wrong\", \"by\": \"token:oncall\", \"note\": \"db\"}");
    bt_case_description("3f9c", NULL, fb, out, sizeof out);
    assert_string_equal(out, "analysis 3f9c, submitted at an unknown time; judged wrong by "
                             "token:oncall: db");
    json_decref(fb);
    fb =
        parse("{\"verdict\": \"partly\", \"note\": \"ééééééééééééééééééééééééééééééééééééééééé\"}");
    bt_case_description("3f9c", NULL, fb, out, 80);
    assert_true(strlen(out) < 80 && rt_utf8_valid(out, strlen(out)));
    json_decref(fb);
}

/* ---- bt_case_write ------------------------------------------------------------------------- */

static void test_case_write_and_read_back(void **state) {
    char why[256] = "";
    (void)state;
    json_t *kase = case_doc();
    rt_recording *r = recording_of("a-1");
    const char *folder = at("analyzers/demo/spike.cases/first");
    assert_int_equal(bt_case_write(folder, kase, r, why), RT_OK);

    json_error_t error;
    json_t *back = json_load_file(at("analyzers/demo/spike.cases/first/case.json"), 0, &error);
    assert_non_null(back);
    assert_true(json_equal(back, kase));
    rt_recording *loaded = NULL;
    rt_diag diag = {0};
    assert_int_equal(
        rt_recording_load(at("analyzers/demo/spike.cases/first/recording.json"), &loaded, &diag),
        RT_OK);
    json_t *meta = rt_recording_meta(loaded);
    assert_string_equal(json_string_value(json_object_get(meta, "id")), "a-1");
    assert_string_equal(json_string_value(json_object_get(meta, "analyzer")), "demo.spike");
    rt_exchange e = {.connector = "prom", .method = "GET", .path = "/api/v1/query?query=up"};
    assert_int_equal(rt_recording_match(loaded, &e), RT_OK);
    assert_int_equal(e.status, 200);

    rt_recording_free(loaded);
    json_decref(back);
    json_decref(kase);
    rt_recording_free(r);
}

static void test_case_write_refuses_overwrite(void **state) {
    char why[256] = "", *before = NULL, *after = NULL;
    size_t n_before, n_after;
    (void)state;
    json_t *kase = case_doc();
    rt_recording *r = recording_of("a-1"), *other = recording_of("a-2");
    assert_int_equal(bt_case_write(at("c"), kase, r, why), RT_OK);
    assert_int_equal(rt_file_read(at("c/recording.json"), 1 << 20, &before, &n_before, why), RT_OK);
    assert_int_equal(bt_case_write(at("c"), kase, other, why), RT_EUSAGE);
    assert_non_null(strstr(why, "holds a case already"));
    assert_int_equal(rt_file_read(at("c/recording.json"), 1 << 20, &after, &n_after, why), RT_OK);
    assert_string_equal(before, after);

    /* A folder with only a recording is a case too: nothing is written over it. */
    assert_int_equal(unlink(at("c/case.json")), 0);
    assert_int_equal(bt_case_write(at("c"), kase, other, why), RT_EUSAGE);
    assert_false(exists(at("c/case.json")));
    free(before);
    free(after);
    json_decref(kase);
    rt_recording_free(r);
    rt_recording_free(other);
}

static void test_case_write_checks_the_case(void **state) {
    char why[256] = "";
    (void)state;
    rt_recording *r = recording_of("a-1");
    json_t *bad = parse("{\"schema\": \"inquest.case/v2\", \"analyzer\": \"x\", \"expect\": {}}");
    assert_int_equal(bt_case_write(at("bad"), bad, r, why), RT_EINPUT);
    assert_non_null(strstr(why, "inquest.case/v1"));
    json_decref(bad);
    bad = parse("{\"schema\": \"inquest.case/v1\", \"expect\": {}}");
    assert_int_equal(bt_case_write(at("bad"), bad, r, why), RT_EINPUT);
    assert_non_null(strstr(why, "analyzer"));
    json_decref(bad);
    bad = parse("{\"schema\": \"inquest.case/v1\", \"analyzer\": \"x\"}");
    assert_int_equal(bt_case_write(at("bad"), bad, r, why), RT_EINPUT);
    assert_non_null(strstr(why, "expect"));
    assert_false(exists(at("bad"))); /* nothing written */
    json_decref(bad);
    rt_recording_free(r);
}

/* A recording the format refuses leaves no case behind; a folder that cannot be made is said. */
static void test_case_write_failures(void **state) {
    char why[256] = "";
    (void)state;
    json_t *kase = case_doc();
    rt_recording *r = recording_of("a-1");
    json_object_set_new(rt_recording_meta(r), "bogus", json_true());
    assert_int_equal(bt_case_write(at("broken"), kase, r, why), RT_EINPUT);
    assert_false(exists(at("broken/case.json")));
    assert_false(exists(at("broken/recording.json")));
    json_object_del(rt_recording_meta(r), "bogus");

    FILE *f = fopen(at("plain"), "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(bt_case_write(at("plain/case"), kase, r, why), RT_EIO);
    assert_non_null(strstr(why, "cannot create the folder"));
    json_decref(kase);
    rt_recording_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expect_top_cause_and_findings),
        cmocka_unit_test(test_expect_negative_case),
        cmocka_unit_test(test_expect_top_without_cause),
        cmocka_unit_test(test_expect_severity_first),
        cmocka_unit_test(test_expect_ties_and_missing_confidence),
        cmocka_unit_test(test_expect_error_result),
        cmocka_unit_test(test_expect_duplicates_once),
        cmocka_unit_test(test_title_patterns_match_exactly),
        cmocka_unit_test(test_feedback_in_the_expectation),
        cmocka_unit_test(test_case_description),
        cmocka_unit_test_setup_teardown(test_case_write_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_write_refuses_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_write_checks_the_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_case_write_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
