/* tests/unit/test_events.c -- event isolation (sdk/sdk_events.c): the time, scope and kind
 * scores with known answers, a planted bad deploy among many change events, the order of
 * near misses (after the onset, another service, a rollout in progress, a day before), the
 * options, the reasons' exact words, and the binding's refusals. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lua.h>
#include <lauxlib.h>
#include "sdk_events.h"
#include "explain_support.h"

static void assert_near(double got, double want) {
    if (!(fabs(got - want) < 1e-12))
        fail_msg("got %.17g, want %.17g", got, want);
}

static void test_time(void **state) {
    (void)state;
    const sdk_events_opts o = {1800, 86400, 60};
    assert_near(sdk_events_before(1000, 760, NAN), 240);
    assert_near(sdk_events_before(1000, 700, 1100), 0);  /* rolling out at the onset */
    assert_near(sdk_events_before(1000, 700, 900), 100); /* counted from its end */
    assert_near(sdk_events_before(1000, 1100, 1200), -100);
    assert_near(sdk_events_time_score(0, &o), 1);
    assert_near(sdk_events_time_score(-60, &o), 1); /* the grace */
    assert_near(sdk_events_time_score(1800, &o), 0.5);
    assert_near(sdk_events_time_score(3600, &o), 0.25);
    assert_near(sdk_events_time_score(-61, &o), SDK_EVENTS_AFTER * pow(0.5, 1.0 / 1800));
    assert_near(sdk_events_time_score(-1860, &o), SDK_EVENTS_AFTER / 2);
    assert_near(sdk_events_time_score(86400, &o), pow(0.5, 48));
    assert_near(sdk_events_time_score(86401, &o), 0);
}

static void test_scope(void **state) {
    (void)state;
    const double one[] = {1, 1, 1}, heavy[] = {3, 1};
    sdk_scope_match all[] = {SDK_SCOPE_MATCH, SDK_SCOPE_MATCH, SDK_SCOPE_MATCH};
    sdk_scope_match mixed[] = {SDK_SCOPE_MATCH, SDK_SCOPE_MISMATCH};
    sdk_scope_match unknown[] = {SDK_SCOPE_UNKNOWN};
    assert_near(sdk_events_scope_score(all, one, 3), 1);
    assert_near(sdk_events_scope_score(all, one, 0), 1);
    assert_near(sdk_events_scope_score(unknown, one, 1), SDK_SCOPE_F_UNKNOWN);
    assert_near(sdk_events_scope_score(mixed, one, 2), sqrt(SDK_SCOPE_F_MISS));
    assert_near(sdk_events_scope_score(mixed, heavy, 2), pow(SDK_SCOPE_F_MISS, 0.25));
}

static void test_kinds(void **state) {
    (void)state;
    const char *canonical;
    assert_near(sdk_events_kind_weight("deploy", &canonical), 1);
    assert_string_equal(canonical, "deploy");
    assert_near(sdk_events_kind_weight("rollout", &canonical), 1);
    assert_string_equal(canonical, "deploy");
    assert_near(sdk_events_kind_weight("config_push", &canonical), 0.9);
    assert_string_equal(canonical, "config");
    assert_near(sdk_events_kind_weight("feature_flag", &canonical), 0.8);
    assert_string_equal(canonical, "flag");
    assert_near(sdk_events_kind_weight("autoscale", &canonical), 0.4);
    assert_string_equal(canonical, "scale");
    assert_near(sdk_events_kind_weight("dns_change", &canonical), 0.5);
    assert_string_equal(canonical, "dns_change");
    assert_near(sdk_events_kind_weight(NULL, &canonical), 0.5);
    assert_string_equal(canonical, "other");
}

/* 200 change events at random times of the day around the onset, of random kinds, services,
 * regions and versions, and the bad deploy: checkout v2 to eu-west 4 minutes before. */
static const char planted[] =
    "local onset = 1763726400\n"
    "local kinds = { 'deploy', 'config', 'flag', 'scale', 'restart', 'maintenance' }\n"
    "local services = { 'search', 'cart', 'checkout', 'auth', 'ads' }\n"
    "local regions = { 'us-east', 'eu-west', 'ap-south' }\n"
    "local seed = 12345\n"
    "local function pick(list) seed = (seed * 1103515245 + 12345) % 2147483648\n"
    "  return list[seed % #list + 1] end\n"
    "local function jitter() seed = (seed * 1103515245 + 12345) % 2147483648\n"
    "  return seed % 86400 - 43200 end\n"
    "EVENTS = {}\n"
    "for i = 1, 200 do\n"
    "  local e = { time = onset + jitter(), kind = pick(kinds), id = 'n' .. i,\n"
    "              service = pick(services), labels = { region = pick(regions) } }\n"
    "  -- no noise event is both as close and as well scoped as the bad deploy\n"
    "  if e.service == 'checkout' and math.abs(e.time - onset) < 1800 then e.service = 'ads' end\n"
    "  EVENTS[i] = e\n"
    "end\n"
    "table.insert(EVENTS, 77, { time = onset - 240, kind = 'deployment', id = '4711',\n"
    "  service = 'checkout', labels = { region = 'eu-west', version = 'v2' } })\n"
    "SCOPE = { service = 'checkout', region = 'eu-west', version = 'v2' }\n"
    "ONSET = onset\n";

static void test_planted_deploy(void **state) {
    (void)state;
    lua_State *L = explain_state();
    run_lua(L, planted);
    run_lua(L,
            "local r = inquest.events.rank(EVENTS, ONSET, SCOPE, { top = 0 })\n"
            "assert(#r == 201 and r.kind == 'events' and r.onset == ONSET and r.scope == SCOPE)\n"
            "local top = r[1]\n"
            "assert(top.id == '4711' and top.kind == 'deploy' and top.event == EVENTS[77])\n"
            "assert(top.before == 240 and top.scope_score == 1 and top.kind_score == 1)\n"
            "assert(math.abs(top.time_score - 0.5 ^ (240 / 1800)) < 1e-12)\n"
            "assert(top.score == top.time_score and top.score > r[2].score + 0.2)\n"
            "assert(top.scope.service == 'match' and top.scope.version == 'match')\n"
            "assert(top.reasons[1] == 'at 2025-11-21T11:56:00Z, 4m before the onset', "
            "top.reasons[1])\n"
            "assert(top.reasons[2] == 'scope: region=eu-west matches, service=checkout "
            "matches, version=v2 matches', top.reasons[2])\n"
            "assert(top.reasons[3] == 'kind deploy weighs 1', top.reasons[3])\n"
            "for i = 2, #r do assert(r[i].score <= r[i - 1].score) end\n"
            "assert(#inquest.events.rank(EVENTS, ONSET, SCOPE, { top = 5 }) == 5)\n"
            "-- by default the best 10, described as when all are\n"
            "local ten = inquest.events.rank(EVENTS, ONSET, SCOPE)\n"
            "assert(#ten == 10 and ten[10].id == r[10].id and ten[1].reasons[2] == "
            "top.reasons[2])\n");
    lua_close(L);
}

/* Near misses, in the order they must come. */
static void test_near_misses(void **state) {
    (void)state;
    lua_State *L = explain_state();
    run_lua(
        L,
        "local onset = 1763726400\n"
        "local ev = {\n"
        "  { id = 'after', time = onset + 600, kind = 'deploy', service = 'checkout', region = "
        "'eu-west' },\n"
        "  { id = 'day', time = onset - 86400 - 60, kind = 'deploy', service = 'checkout', "
        "region = 'eu-west' },\n"
        "  { id = 'other', time = onset - 60, kind = 'deploy', service = 'search', region = "
        "'eu-west' },\n"
        "  { id = 'rollout', time = onset - 2400, ['end'] = onset + 600, kind = 'rollout', "
        "service = 'checkout', region = { 'us-east', 'eu-west' } },\n"
        "  { id = 'bad', time = onset - 240, kind = 'deploy', service = 'checkout', region = "
        "'eu-west' },\n"
        "  { id = 'flag', time = onset - 900, kind = 'flag_flip', service = 'checkout' },\n"
        "  { id = 'hpa', time = onset - 120, kind = 'autoscale', service = 'checkout', region = "
        "'eu-west' },\n"
        "}\n"
        "local scope = { service = 'checkout', region = 'eu-west' }\n"
        "local r = inquest.events.rank(ev, onset, scope)\n"
        "local order = {}\n"
        "for i, it in ipairs(r) do order[i] = it.id end\n"
        "order = table.concat(order, ' ')\n"
        "assert(order == 'rollout bad flag hpa other after day', order)\n"
        "assert(r[1].reasons[1] == 'at 2025-11-21T11:20:00Z, still rolling out at the onset')\n"
        "assert(r[1].reasons[2] == 'scope: region=eu-west matches, service=checkout matches')\n"
        "assert(r[3].reasons[2] == 'scope: region not given, service=checkout matches')\n"
        "assert(r[5].reasons[2] == 'scope: region=eu-west matches, service=search, not "
        "checkout')\n"
        "assert(r[6].reasons[1] == 'at 2025-11-21T12:10:00Z, 10m after the onset')\n"
        "assert(r[7].reasons[1] == 'at 2025-11-20T11:59:00Z, 1d1m before the onset, past the 1d "
        "horizon' and r[7].score == 0)\n"
        "-- options: a flag weighs as much as a deploy, the region counts three times\n"
        "local o = inquest.events.rank(ev, onset, scope, { kinds = { flag = 1, deploy = 0.5 },\n"
        "  weights = { region = 3 }, half_life = 600 })\n"
        "assert(o[1].id == 'rollout' and o[1].kind_score == 0.5, o[1].id)\n"
        "for _, it in ipairs(o) do if it.id == 'flag' then\n"
        "  assert(it.kind_score == 1 and math.abs(it.scope_score - 0.5 ^ 0.75) < 1e-12) end end\n"
        "-- no scope: every event scores its time and kind\n"
        "local n = inquest.events.rank(ev, onset)\n"
        "assert(n[1].scope_score == 1 and #n[1].reasons == 2)\n");
    lua_close(L);
}

static void test_refusals(void **state) {
    (void)state;
    lua_State *L = explain_state();
    expect_lua_error(L, "inquest.events.rank({ { kind = 'deploy' } }, 0)",
                     "inquest.events.rank: events[1].time must be a time (Unix seconds; got nil)");
    expect_lua_error(L, "inquest.events.rank({ { time = 1, ['end'] = 'x' } }, 0)",
                     "inquest.events.rank: events[1].end must be a time (Unix seconds; got "
                     "string)");
    expect_lua_error(L, "inquest.events.rank({ 3 }, 0)",
                     "inquest.events.rank: events[1] must be a table { time = …, kind = …, … } "
                     "(got number)");
    expect_lua_error(L, "inquest.events.rank({ { time = 1, kind = 3 } }, 0)",
                     "inquest.events.rank: events[1].kind must be a string (got number)");
    expect_lua_error(L, "inquest.events.rank({}, 'now')",
                     "inquest.events.rank: onset must be a time (Unix seconds; got string)");
    expect_lua_error(L, "inquest.events.rank({}, 0, { region = true })",
                     "inquest.events.rank: scope.region must be a string or a list of strings "
                     "(got boolean)");
    expect_lua_error(L, "inquest.events.rank({}, 0, nil, { halflife = 1 })",
                     "inquest.events.rank: unknown option 'halflife' (options: half_life, "
                     "horizon, grace, kinds, weights, top)");
    expect_lua_error(L, "inquest.events.rank({}, 0, nil, { kinds = { deploy = 2 } })",
                     "inquest.events.rank: opts.kinds.deploy must be a weight from 0 to 1");
    run_lua(L, "local r = inquest.events.rank({}, 0) assert(#r == 0 and r.kind == 'events')");
    lua_close(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_kinds),       cmocka_unit_test(test_planted_deploy),
        cmocka_unit_test(test_near_misses), cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
