/* tests/unit/test_summary.c -- summaries by template (sdk/sdk_summary.c): the exact words for
 * results of dimension analysis (a culprit, a chosen dimension, no change, a change alike
 * everywhere, a ratio), of correlation (a match, none, no candidates), of event isolation (a
 * trigger, none standing out, no events), for a finding with every kind of evidence, results
 * that concluded or failed, a list of findings, a set and a series; the cap on length, the
 * refusal of what is none of these, and the words for what the helpers find in NAB's real
 * Twitter series. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <lua.h>
#include <lauxlib.h>
#include "sdk.h"
#include "sdk_summary.h"
#include "explain_support.h"

/* Summaries of the toolkit's results and of findings, into the global list OUT. */
static const char fixture[] =
    "local S = inquest.series\n"
    "local t0 = 1763726400\n"
    "OUT = {}\n"
    "local function say(x) OUT[#OUT + 1] = inquest.summary(x) end\n"
    "-- dimensions additive\n"
    "local all = {}\n"
    "for _, v in ipairs { 'v1', 'v2' } do for _, r in ipairs { 'us', 'eu' } do\n"
    "  local pts = {}\n"
    "  for i = 0, 9 do pts[#pts + 1] = { t0 + 60 * i, (v == 'v2' and r == 'eu' and i >= 5) and 40 "
    "or 10 } end\n"
    "  all[#all + 1] = S.new { labels = { version = v, region = r }, points = pts }\n"
    "end end\n"
    "local set = S.set(all)\n"
    "say(inquest.dimensions.explain(set, { onset = t0 + 300, name = 'errors/s' }))\n"
    "say(inquest.dimensions.explain(set, { onset = t0 + 300, dimensions = { 'version' } }))\n"
    "say(inquest.dimensions.explain(set, set))\n"
    "-- widespread\n"
    "local w = {}\n"
    "for i, s in ipairs(all) do w[i] = s * 2 end\n"
    "say(inquest.dimensions.explain(set, S.set(w)))\n"
    "-- ratio\n"
    "local spec = { { '/search', 10000, 20000, 0.01, 0.01 }, { '/pay', 500, 500, 0.01, 0.2 }, { "
    "'/cart', 2000, 2000, 0.02, 0.02 } }\n"
    "local errs, reqs = {}, {}\n"
    "for _, s in ipairs(spec) do\n"
    "  reqs[#reqs + 1] = S.new { labels = { endpoint = s[1] }, points = { { t0, s[2] }, { t0 + 60, "
    "s[3] } } }\n"
    "  errs[#errs + 1] = S.new { labels = { endpoint = s[1] }, points = { { t0, s[2] * s[4] }, { "
    "t0 + 60, s[3] * s[5] } } }\n"
    "end\n"
    "say(inquest.dimensions.explain_ratio(S.set(errs), S.set(reqs), { onset = t0 + 60, name = 'the "
    "5xx ratio' }))\n"
    "-- correlation\n"
    "local times, a, b, c = {}, {}, {}, {}\n"
    "for i = 1, 200 do times[i] = t0 + 60 * i; a[i] = math.sin(i / 3) * 10 + (i >= 150 and 30 or "
    "0) end\n"
    "for i = 1, 200 do b[i] = 5 * (a[i + 2] or a[200]) + 7; c[i] = (i * 7919 % 13) end\n"
    "local target = S.new { labels = { service = 'checkout', name = 'errors' }, times = times, "
    "values = a }\n"
    "local cb = S.new { labels = { dependency = 'db' }, times = times, values = b }\n"
    "local cc = S.new { labels = { dependency = 'cache' }, times = times, values = c }\n"
    "say(inquest.correlate.rank(target, { cc, cb }, { onset = t0 + 60 * 150 }))\n"
    "say(inquest.correlate.rank(target, { cc }, { onset = t0 + 60 * 150 }))\n"
    "say(inquest.correlate.rank(target, {}, { onset = t0 + 60 * 150 }))\n"
    "-- events\n"
    "local ev = {\n"
    "  { id = 'bad', time = t0 - 240, kind = 'deploy', service = 'checkout', region = 'eu-west' "
    "},\n"
    "  { id = 'flag-7', time = t0 - 900, kind = 'flag_flip', service = 'checkout' },\n"
    "  { time = t0 - 120, kind = 'autoscale', service = 'checkout', region = 'eu-west' },\n"
    "}\n"
    "say(inquest.events.rank(ev, t0, { service = 'checkout', region = 'eu-west' }))\n"
    "say(inquest.events.rank({ { id = 'old', time = t0 - 86400 * 3, kind = 'deploy' } }, t0))\n"
    "say(inquest.events.rank({}, t0))\n"
    "-- findings and results\n"
    "local f = { title = '5xx on /pay', root_cause = 'bad_deploy', confidence = 0.8, severity = "
    "'high',\n"
    "  evidence = { target, { kind = 'events', title = 'deploys', items = { ev[1], ev[2], ev[3], "
    "ev[1] } },\n"
    "    { kind = 'log_patterns', title = 'new errors', items = { { pattern = 'connection refused "
    "to <*>', count = 312, sample = 'x' } } },\n"
    "    { kind = 'table', title = 'culprits', columns = { 'where', 'explains' }, rows = { { "
    "'version=\"v2\"', 0.93 }, { 'x', 1 } } } } }\n"
    "say(f)\n"
    "say { status = 'ok', conclusion = { tag = 'root_cause_found', summary = 'deploy bad broke "
    "/pay' }, findings = { { title = 'Latency up on /cart', severity = 'low', evidence = { { kind "
    "= 'text', title = 'note', text = 'p99 went from 120 ms to 480 ms' } } }, f } }\n"
    "say { status = 'ok', conclusion = { tag = 'no_anomaly' }, findings = {} }\n"
    "say { status = 'cpu_exceeded', errors = { { message = 'instruction budget exceeded', file = "
    "'a.lua', line = 3 } } }\n"
    "say { { title = 'a' }, { title = 'b', severity = 'critical' }, { title = 'c', confidence = "
    "0.9 }, { title = 'd' }, { title = 'e' } }\n"
    "say(set)\n"
    "say(target)\n";

static const char *const expected[] = {
    "errors/s went from 40 to 70 (+75%): region=\"eu\", version=\"v2\" explains 100% of the change "
    "(from 10 to 40).",
    "The metric went from 40 to 70 (+75%): version=\"v2\" explains 100% of the change (from 20 to "
    "50).",
    "The metric did not change (55).",
    "The metric went from 55 to 110 (+100%), alike across region, version: no label value explains "
    "it alone.",
    "the 5xx ratio went from 1.16% to 1.51%: endpoint=\"/pay\" explains 100% of the rise (from 1% "
    "to 20%, on 2.22% of the traffic).",
    "Series {name=\"errors\", service=\"checkout\"} moved with series {dependency=\"db\"} (score "
    "1, same direction, leading by 2m).",
    "No candidate moved with series {name=\"errors\", service=\"checkout\"} around the onset; the "
    "closest is series {dependency=\"cache\"} (score 0.0522).",
    "No candidate series to compare with series {name=\"errors\", service=\"checkout\"}.",
    "The likeliest trigger is deploy bad (score 0.912): at 2025-11-21T11:56:00Z, 4m before the "
    "onset; scope: region=eu-west matches, service=checkout matches; kind deploy weighs 1. Next: "
    "flag flag-7 (score 0.4), scale at 2025-11-21T11:58:00Z (score 0.382).",
    "No change event stands out; the likeliest is deploy old (score 0).",
    "No change event to rank.",
    "5xx on /pay (root cause bad_deploy, confidence 80%). Evidence: series {name=\"errors\", "
    "service=\"checkout\"}, peak 40 at 2025-11-21T15:13:00Z; deploys: deploy bad of checkout at "
    "2025-11-21T11:56:00Z, flag_flip flag-7 of checkout at 2025-11-21T11:45:00Z, autoscale of "
    "checkout at 2025-11-21T11:58:00Z and 1 more event; new errors: log pattern \"connection "
    "refused to <*>\" (312 lines); and 1 more item.",
    "Root cause found: deploy bad broke /pay. 5xx on /pay (root cause bad_deploy, confidence 80%). "
    "Evidence: series {name=\"errors\", service=\"checkout\"}, peak 40 at 2025-11-21T15:13:00Z; "
    "deploys: deploy bad of checkout at 2025-11-21T11:56:00Z, flag_flip flag-7 of checkout at "
    "2025-11-21T11:45:00Z, autoscale of checkout at 2025-11-21T11:58:00Z and 1 more event; new "
    "errors: log pattern \"connection refused to <*>\" (312 lines); and 1 more item. Latency up on "
    "/cart. Evidence: note: p99 went from 120 ms to 480 ms.",
    "No anomaly. No findings.",
    "The analysis ended with cpu_exceeded: instruction budget exceeded.",
    "b. c (confidence 90%). a. 2 more findings.",
    "series {region=\"us\", version=\"v1\"} and 3 more series, peak 10 at 2025-11-21T12:00:00Z",
    "series {name=\"errors\", service=\"checkout\"}, peak 40 at 2025-11-21T15:13:00Z",
};

static void test_exact_words(void **state) {
    (void)state;
    lua_State *L = explain_state();
    run_lua(L, fixture);
    lua_getglobal(L, "OUT");
    size_t n = sizeof expected / sizeof *expected;
    assert_int_equal(lua_rawlen(L, -1), n);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        if (strcmp(lua_tostring(L, -1), expected[i]) != 0)
            fail_msg("summary %zu:\n got: %s\nwant: %s", i + 1, lua_tostring(L, -1), expected[i]);
        lua_pop(L, 1);
    }
    lua_close(L);
}

/* Three findings of long titles and wide tables: the summary stops at SDK_SUMMARY_MAX bytes,
 * with "…", and stays UTF-8 though the cut falls among characters of three bytes. */
static void test_cap(void **state) {
    (void)state;
    lua_State *L = explain_state();
    run_lua(
        L,
        "local long = string.rep('\\u{20AC}', 100)\n"
        "local row, cols = {}, {}\n"
        "for i = 1, 6 do row[i] = long cols[i] = 'c' .. i end\n"
        "local f = { title = long, evidence = {} }\n"
        "for i = 1, 3 do f.evidence[i] = { kind = 'table', columns = cols, rows = { row } } end\n"
        "TEXT = inquest.summary { status = 'ok', conclusion = { tag = 'x', summary = long },\n"
        "  findings = { f, f, f } }");
    lua_getglobal(L, "TEXT");
    size_t n;
    const char *text = lua_tolstring(L, -1, &n);
    assert_true(n <= SDK_SUMMARY_MAX && n > SDK_SUMMARY_MAX - 8);
    assert_true(rt_utf8_valid(text, n));
    assert_string_equal(text + n - strlen("…"), "…");
    lua_close(L);
}

static void test_refusals(void **state) {
    (void)state;
    lua_State *L = explain_state();
    expect_lua_error(L, "inquest.summary(42)",
                     "inquest.summary: expects a result, a finding, a list of findings, a result "
                     "of the toolkit or an evidence item (got number)");
    expect_lua_error(L, "inquest.summary()", "bad argument #1 to 'summary' (value expected)");
    run_lua(L, "assert(inquest.summary {} == 'No findings.')");
    lua_close(L);
}

/* ---- Real data: NAB's Twitter volumes --------------------------------------------------- */

static const char *const companies[] = {"AAPL", "AMZN", "CRM", "CVS", "FB",
                                        "GOOG", "IBM",  "KO",  "PFE", "UPS"};

/* What the helpers found around AAPL's first and last labelled bursts, in words: the mentions
 * of the ten companies by dimension analysis (the burst against the same hours a day before),
 * and by correlation with the others (UPS's own burst followed AAPL's). */
static void test_nab_words(void **state) {
    (void)state;
    char file[128], code[1024];
    nab_series s[10];
    double w[8][2];
    lua_State *L = explain_state();
    lua_createtable(L, 10, 0);
    for (int i = 0; i < 10; i++) {
        snprintf(file, sizeof file, "realTweets/Twitter_volume_%s.csv", companies[i]);
        s[i] = nab_load(file);
        push_series(L, (const char *[]){"company", companies[i], NULL}, s[i].t, s[i].v, s[i].n);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "TWEETS");
    size_t n = nab_windows("realTweets/Twitter_volume_AAPL.csv", w, 8);
    assert_int_equal(n, 4);
    snprintf(
        code, sizeof code,
        "local first, last = %.0f, %.0f\n"
        "local others = {}\n"
        "for i = 2, 10 do others[#others + 1] = TWEETS[i] end\n"
        "local base, inc = {}, {}\n"
        "for i, s in ipairs(TWEETS) do\n"
        "  base[i] = s:slice(last - 3600 - 86400, last + 3599 - 86400)\n"
        "  inc[i] = s:slice(last - 3600, last + 3599) end\n"
        "return inquest.summary(inquest.dimensions.explain(base, inc, { name = 'mentions' })),\n"
        "  inquest.summary(inquest.correlate.rank(TWEETS[1], others, { onset = first }))",
        (w[0][0] + w[0][1]) / 2, (w[3][0] + w[3][1]) / 2);
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
    assert_string_equal(lua_tostring(L, -2),
                        "mentions went from 129 to 3111 (+2315%): company=\"AAPL\" explains 100% "
                        "of the change (from 31.8 to 3015).");
    assert_string_equal(lua_tostring(L, -1),
                        "Series {company=\"AAPL\"} moved with series {company=\"UPS\"} (score "
                        "0.875, same direction, lagging by 25m), then series {company=\"CVS\"} "
                        "(score 0.655, same direction, lagging by 50m).");
    lua_close(L);
    for (int i = 0; i < 10; i++)
        nab_free(&s[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_words),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_nab_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
