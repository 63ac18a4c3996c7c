/* tests/unit/test_findings.c -- Lua values to JSON and back, findings and their evidence (kinds,
 * caps, every validation message, __evidence), canonical JSON, the people's renderers of a
 * result, and that docs/result.schema.json is JSON. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>
#include "sdk.h"
#include "ig_report.h"

#ifndef TESTS_DIR
#define TESTS_DIR "tests"
#endif

/* ---- helpers ------------------------------------------------------------------------------ */

static int setup(void **state) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    *state = L;
    return 0;
}

static int teardown(void **state) {
    lua_close(*state);
    return 0;
}

/* Pushes the value of the Lua expression 'expr'. */
static void push_lua(lua_State *L, const char *expr) {
    char code[8192];
    snprintf(code, sizeof code, "return %s", expr);
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
}

static void run_lua(lua_State *L, const char *code) {
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
}

/* Asserts that 'v' (consumed) is canonically 'expected'. */
static void assert_json(json_t *v, const char *expected) {
    assert_non_null(v);
    char *s = rt_json_canonical(v);
    assert_string_equal(s, expected);
    free(s);
    json_decref(v);
}

static json_t *to_json(lua_State *L, const char *expr, char *why) {
    char ignored[256];
    push_lua(L, expr);
    json_t *v = sdk_lua_to_json(L, -1, why ? why : ignored, 256);
    lua_pop(L, 1);
    return v;
}

static void assert_lua_json(lua_State *L, const char *expr, const char *expected) {
    char why[256] = "";
    json_t *v = to_json(L, expr, why);
    if (!v)
        fail_msg("%s: %s", expr, why);
    assert_json(v, expected);
}

static void assert_lua_error(lua_State *L, const char *expr, const char *expected) {
    char why[256] = "";
    assert_null(to_json(L, expr, why));
    assert_string_equal(why, expected);
}

/* The finding 'expr' as JSON; NULL with the reason in 'why' (NULL: fails the test). */
static json_t *finding(lua_State *L, const char *expr, char *why) {
    char reason[256] = "";
    int top = lua_gettop(L);
    push_lua(L, expr);
    json_t *v = sdk_finding_to_json(L, -1, why ? why : reason, 256);
    if (!v && !why)
        fail_msg("%s: %s", expr, reason);
    lua_settop(L, top);
    return v;
}

static void assert_finding(lua_State *L, const char *expr, const char *expected) {
    char why[256] = "";
    json_t *v = finding(L, expr, why);
    if (!v)
        fail_msg("%s: %s", expr, why);
    assert_json(v, expected);
}

static void assert_finding_error(lua_State *L, const char *expr, const char *expected) {
    char why[256] = "";
    assert_null(finding(L, expr, why));
    assert_string_equal(why, expected);
}

/* The one evidence item of the finding { title = "t", evidence = { ITEM } }. */
static json_t *evidence_of(lua_State *L, const char *item) {
    char expr[4096], why[256] = "";
    snprintf(expr, sizeof expr, "{ title = 't', evidence = { %s } }", item);
    json_t *f = finding(L, expr, why);
    if (!f)
        fail_msg("%s: %s", item, why);
    json_t *ev = json_incref(json_array_get(json_object_get(f, "evidence"), 0));
    json_decref(f);
    return ev;
}

/* ---- Lua to JSON -------------------------------------------------------------------------- */

static void test_json_sequences_and_objects(void **state) {
    lua_State *L = *state;
    assert_lua_json(L, "{ 1, 2, 3 }", "[1,2,3]");
    assert_lua_json(L, "{}", "{}");
    assert_lua_json(L, "{ b = 1, a = { true, false } }", "{\"a\":[true,false],\"b\":1}");
    assert_lua_json(L, "{ 1, 2, x = 3 }", "{\"1\":1,\"2\":2,\"x\":3}");
    assert_lua_json(L, "{ [1] = 'a', [3] = 'c' }", "{\"1\":\"a\",\"3\":\"c\"}");
    assert_lua_json(L, "{ [2] = 'b' }", "{\"2\":\"b\"}");
    assert_lua_json(L, "{ [1.5] = 'x', [-2] = 'y', [2^63] = 'z' }",
                    "{\"-2\":\"y\",\"1.5\":\"x\",\"9.2233720368548e+18\":\"z\"}");
    assert_lua_json(L, "{ {}, { {} } }", "[{},[{}]]");
    assert_lua_json(L, "'text'", "\"text\"");
    assert_lua_json(L, "nil", "null");
}

static void test_json_numbers(void **state) {
    lua_State *L = *state;
    assert_lua_json(L, "{ 3, 3.0, 0.8, -0.5, 1e21, 2^40 }", "[3,3,0.8,-0.5,1e21,1099511627776]");
    assert_lua_json(L, "{ 0/0, math.huge, -math.huge, 1 }", "[null,null,null,1]");
    assert_lua_json(L, "math.maxinteger", "9223372036854775807");
}

static void test_json_cycle_ends_at_depth_limit(void **state) {
    lua_State *L = *state;
    char why[256] = "";
    push_lua(L, "(function() local t = {} t.self = t return t end)()");
    assert_null(sdk_lua_to_json(L, -1, why, sizeof why));
    lua_pop(L, 1);
    assert_non_null(strstr(why, "nested deeper than 32 levels (a cycle?)"));
    assert_int_equal(strncmp(why, "at self.self.self", 17), 0);
    /* 32 levels are fine */
    assert_lua_json(L, "(function() local t = 1 for i = 1, 32 do t = { t } end return t end)()",
                    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    assert_lua_error(L, "(function() local t = 1 for i = 1, 33 do t = { t } end return t end)()",
                     "at [1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1][1]"
                     "[1][1][1][1][1][1][1][1]: nested deeper than 32 levels (a cycle?)");
}

static void test_json_ignores_hostile_metatables(void **state) {
    lua_State *L = *state;
    const char *mt = "{ __index = function() while true do end end, __len = function() "
                     "error('len') end, __pairs = function() error('pairs') end, __tostring = "
                     "function() while true do end end, __newindex = error }";
    char expr[1024];
    snprintf(expr, sizeof expr, "setmetatable({ 1, 2 }, %s)", mt);
    assert_lua_json(L, expr, "[1,2]");
    snprintf(expr, sizeof expr, "setmetatable({ a = setmetatable({}, %s) }, %s)", mt, mt);
    assert_lua_json(L, expr, "{\"a\":{}}");
}

static void test_json_replaces_invalid_utf8(void **state) {
    lua_State *L = *state;
    assert_lua_json(L, "'a\\xffb'",
                    "\"a\xEF\xBF\xBD"
                    "b\"");
    assert_lua_json(L, "'\\xc0\\xaf'", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""); /* overlong */
    assert_lua_json(L, "'\\xed\\xa0\\x80'",
                    "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");        /* surrogate */
    assert_lua_json(L, "'\\xe2\\x82'", "\"\xEF\xBF\xBD\xEF\xBF\xBD\""); /* cut short */
    assert_lua_json(L, "'h\\u{e9}llo \\u{1F600} 12345678'",
                    "\"h\xC3\xA9llo \xF0\x9F\x98\x80 12345678\"");
    assert_lua_json(L, "'a\\0b'", "\"a\\u0000b\"");
    assert_lua_json(L, "{ ['k\\xff'] = 1 }", "{\"k\xEF\xBF\xBD\":1}");
}

static void test_json_errors_name_the_place(void **state) {
    lua_State *L = *state;
    assert_lua_error(L, "print", "a function cannot be converted to JSON");
    assert_lua_error(L, "{ a = { { b = print } } }",
                     "at a[1].b: a function cannot be converted to JSON");
    assert_lua_error(L, "{ x = { [true] = 1 } }",
                     "at x: the boolean true key cannot be converted to JSON; keys must be strings "
                     "or numbers");
    assert_lua_error(L, "{ [{}] = 1 }",
                     "a table key cannot be converted to JSON; keys must be strings or numbers");
    assert_lua_error(L, "{ coroutine.create(print) }",
                     "at [1]: a thread cannot be converted to JSON");
    assert_lua_error(L, "{ ['\\xff'] = print }",
                     "at \xEF\xBF\xBD: a function cannot be converted to JSON"); /* still UTF-8 */
    assert_lua_error(L, "{ x = { ['a\\0b'] = 1 } }",
                     "at x: a key holds a NUL byte (after \"a\"), which JSON keys cannot");
    assert_lua_error(L, "{ [1] = 'a', ['1'] = 'b', x = 1 }",
                     "two keys become \"1\" (a number and a string, or bytes not UTF-8)");
}

/* Twenty-odd levels of { a = t, b = t } are a few hundred bytes of Lua and millions of JSON
 * values; 30 levels would be a billion. The conversion stops at 100,000 values, at once. */
static void test_json_value_bound(void **state) {
    lua_State *L = *state;
    const char *dag = "(function() local t = { v = 'x' } for i = 1, 30 do t = { a = t, b = t } "
                      "end return t end)()";
    double start = rt_monotonic();
    assert_lua_error(L, dag, "more than 100000 values (shared or nested tables?)");
    assert_true(rt_monotonic() - start < 2.0);
    run_lua(L, "function list(n, v) local t = {} for i = 1, n do t[i] = v or i end return t end");
    /* wide but legal: exactly 100,000 values (the list and 99,999 items), and a wide object */
    json_t *v = to_json(L, "list(99999)", NULL);
    assert_int_equal(json_array_size(v), 99999);
    json_decref(v);
    v = to_json(L,
                "(function() local t = {} for i = 1, 50000 do t['k' .. i] = i end return t "
                "end)()",
                NULL);
    assert_int_equal(json_object_size(v), 50000);
    json_decref(v);
    assert_lua_error(L, "list(100000)", "more than 100000 values (shared or nested tables?)");
    /* a list holding one table many times: every place counts */
    assert_lua_error(L, "list(1000, list(100))",
                     "more than 100000 values (shared or nested tables?)");
    /* strings and keys: 4 MiB in all */
    v = to_json(L, "list(4, ('s'):rep(2^20))", NULL);
    assert_int_equal(json_array_size(v), 4);
    json_decref(v);
    assert_lua_error(L, "{ a = list(4, ('s'):rep(2^20)) }", /* and the key 'a' */
                     "more than 4 MiB of strings (shared or nested tables?)");
    assert_lua_error(L, "{ [('k'):rep(4 * 2^20 + 1)] = 1 }",
                     "more than 4 MiB of strings (shared or nested tables?)");
}

static void test_json_to_lua_and_back(void **state) {
    lua_State *L = *state;
    const char *text = "{\"a\":[1,2.5,\"x\",true,false],\"b\":{\"c\":{}},\"n\":null,\"e\":[]}";
    json_t *in = json_loads(text, 0, NULL);
    sdk_json_to_lua(L, in);
    assert_int_equal(lua_type(L, -1), LUA_TTABLE);
    lua_getfield(L, -1, "n");
    assert_true(lua_isnil(L, -1)); /* a null member is absent */
    lua_pop(L, 1);
    lua_getfield(L, -1, "a");
    lua_rawgeti(L, -1, 1);
    assert_true(lua_isinteger(L, -1));
    lua_rawgeti(L, -2, 2);
    assert_false(lua_isinteger(L, -1));
    lua_pop(L, 3);
    char why[256];
    assert_json(sdk_lua_to_json(L, -1, why, sizeof why),
                "{\"a\":[1,2.5,\"x\",true,false],\"b\":{\"c\":{}},\"e\":{}}");
    lua_pop(L, 1);
    json_decref(in);
    sdk_json_to_lua(L, NULL);
    assert_true(lua_isnil(L, -1));
    lua_pop(L, 1);
}

/* ---- Findings ----------------------------------------------------------------------------- */

static void test_finding_defaults_and_fields(void **state) {
    lua_State *L = *state;
    assert_finding(L, "{ title = 'Slow' }",
                   "{\"actions\":[],\"confidence\":0.5,\"evidence\":[],\"severity\":\"medium\","
                   "\"title\":\"Slow\"}");
    assert_finding(L,
                   "{ title = 'T', summary = 'S', root_cause = 'db.saturation-1_x', severity = "
                   "'critical', confidence = 1, actions = { { type = 'rollback', args = { deploy "
                   "= '4711', n = 2 }, description = 'undo' }, { type = 'page' } } }",
                   "{\"actions\":[{\"args\":{\"deploy\":\"4711\",\"n\":2},\"description\":"
                   "\"undo\",\"type\":\"rollback\"},{\"type\":\"page\"}],\"confidence\":1,"
                   "\"evidence\":[],\"root_cause\":\"db.saturation-1_x\",\"severity\":"
                   "\"critical\",\"summary\":\"S\",\"title\":\"T\"}");
    assert_finding(L, "setmetatable({ title = 'M' }, { __index = function() error('no') end })",
                   "{\"actions\":[],\"confidence\":0.5,\"evidence\":[],\"severity\":\"medium\","
                   "\"title\":\"M\"}");
}

static void test_evidence_kinds(void **state) {
    lua_State *L = *state;
    assert_json(evidence_of(L, "{ kind = 'timeseries', title = 'rate', unit = 'req/s', series = "
                               "{ { labels = { code = '500', n = 5 }, points = { { 1, 0.5 }, { 2, "
                               "nil }, { 3, 0/0 }, { 4 } } }, { points = {} } } }"),
                "{\"kind\":\"timeseries\",\"series\":[{\"labels\":{\"code\":\"500\",\"n\":\"5\"},"
                "\"points\":[[1,0.5],[2,null],[3,null],[4,null]]},{\"points\":[]}],\"title\":"
                "\"rate\",\"unit\":\"req/s\"}");
    assert_json(evidence_of(L, "{ kind = 'events', items = { { time = 1795262400, kind = "
                               "'deploy', service = 'checkout', id = 4711, text = 'rolled' } } }"),
                "{\"items\":[{\"id\":\"4711\",\"kind\":\"deploy\",\"service\":\"checkout\","
                "\"text\":\"rolled\",\"time\":1795262400}],\"kind\":\"events\"}");
    assert_json(evidence_of(L, "{ kind = 'log_patterns', items = { { pattern = 'refused <*>', "
                               "count = 12, sample = 'refused 10.0.0.1' } } }"),
                "{\"items\":[{\"count\":12,\"pattern\":\"refused <*>\",\"sample\":\"refused "
                "10.0.0.1\"}],\"kind\":\"log_patterns\"}");
    assert_json(evidence_of(L, "{ kind = 'table', columns = { 'a', 'b' }, rows = { { 1, 'x' }, "
                               "{ true, 2.5 } } }"),
                "{\"columns\":[\"a\",\"b\"],\"kind\":\"table\",\"rows\":[[1,\"x\"],[true,2.5]]}");
    assert_json(evidence_of(L, "{ kind = 'text', title = 'log', text = 'line 1\\nline 2' }"),
                "{\"kind\":\"text\",\"text\":\"line 1\\nline 2\",\"title\":\"log\"}");
}

/* Asserts that the evidence 'item' converts with 'field' (a list) holding 'n' items, and
 * whether it is marked truncated. */
static void assert_list_cap(lua_State *L, const char *item, const char *field, size_t n) {
    json_t *ev = evidence_of(L, item);
    json_t *list = json_object_get(ev, field);
    if (!list) /* rows[1] */
        list = json_array_get(json_object_get(ev, "rows"), 0);
    assert_int_equal(json_array_size(list), n);
    assert_true(json_is_true(json_object_get(ev, "truncated")));
    json_decref(ev);
}

static void test_evidence_caps(void **state) {
    lua_State *L = *state;
    run_lua(L, "function list(n, f) local t = {} for i = 1, n do t[i] = f(i) end return t "
               "end");
    assert_list_cap(L,
                    "{ kind = 'timeseries', series = list(21, function() return { points = {} "
                    "} end) }",
                    "series", 20);
    json_t *ev = evidence_of(L, "{ kind = 'timeseries', series = { { points = list(2001, "
                                "function(i) return { i, i } end) } } }");
    assert_int_equal(json_array_size(json_object_get(
                         json_array_get(json_object_get(ev, "series"), 0), "points")),
                     2000);
    assert_true(json_is_true(json_object_get(ev, "truncated")));
    json_decref(ev);
    assert_list_cap(L,
                    "{ kind = 'events', items = list(201, function(i) return { time = i } "
                    "end) }",
                    "items", 200);
    assert_list_cap(L,
                    "{ kind = 'log_patterns', items = list(101, function(i) return { pattern "
                    "= 'p', count = i } end) }",
                    "items", 100);
    assert_list_cap(L, "{ kind = 'table', columns = list(21, tostring), rows = {} }", "columns",
                    20);
    assert_list_cap(L,
                    "{ kind = 'table', columns = {}, rows = list(201, function() return {} "
                    "end) }",
                    "rows", 200);
    assert_list_cap(L, "{ kind = 'table', columns = {}, rows = { list(21, tostring) } }", "none",
                    20);
    /* exactly at the caps: not truncated */
    ev = evidence_of(L, "{ kind = 'events', items = list(200, function(i) return { time = i } "
                        "end) }");
    assert_null(json_object_get(ev, "truncated"));
    json_decref(ev);
}

static void test_evidence_string_caps(void **state) {
    lua_State *L = *state;
    /* 4095 ASCII bytes then 'é' (2 bytes): the cut at 4096 would split it, so it goes */
    json_t *ev = evidence_of(L, "{ kind = 'text', title = ('a'):rep(4095) .. '\\u{e9}', text = "
                                "('b'):rep(16384) }");
    assert_int_equal(json_string_length(json_object_get(ev, "title")), 4095);
    assert_int_equal(json_string_length(json_object_get(ev, "text")), 16384);
    assert_true(json_is_true(json_object_get(ev, "truncated")));
    json_decref(ev);
    ev = evidence_of(L, "{ kind = 'text', text = ('\\u{20AC}'):rep(6000) }"); /* 18000 bytes */
    assert_int_equal(json_string_length(json_object_get(ev, "text")), 16383);
    json_decref(ev);
    /* invalid bytes grow to U+FFFD (3 bytes each); the result is still cut to the cap */
    ev = evidence_of(L, "{ kind = 'table', columns = { ('\\xff'):rep(5000) }, rows = {} }");
    assert_int_equal(json_string_length(json_array_get(json_object_get(ev, "columns"), 0)), 4095);
    assert_true(json_is_true(json_object_get(ev, "truncated")));
    json_decref(ev);
    ev = evidence_of(L, "{ kind = 'text', text = ('c'):rep(16384) }");
    assert_null(json_object_get(ev, "truncated"));
    json_decref(ev);
}

static void test_finding_errors(void **state) {
    lua_State *L = *state;
    static const char *const cases[][2] = {
        {"'x'", "must be a table (got string)"},
        {"{}", "at title: is required"},
        {"{ titel = 'x' }", "unknown field 'titel' (fields: title, summary, root_cause, severity, "
                            "confidence, evidence, actions)"},
        {"{ title = 'x', b = 1, a = 2 }", "unknown fields 'a', 'b' (fields: title, summary, "
                                          "root_cause, severity, confidence, evidence, actions)"},
        {"{ title = 'x', 'y' }", "every value must be given as name = value (fields: title, "
                                 "summary, root_cause, severity, confidence, evidence, actions)"},
        {"{ title = ('x'):rep(201) }", "at title: must be at most 200 characters (got 201)"},
        {"{ title = 'a\\nb' }", "at title: must be one line of text, not empty"},
        {"{ title = '' }", "at title: must be one line of text, not empty"},
        {"{ title = {} }", "at title: must be a string (got table)"},
        {"{ title = 't', summary = ('x'):rep(4001) }",
         "at summary: must be at most 4000 characters (got 4001)"},
        {"{ title = 't', root_cause = 'Bad Deploy' }",
         "at root_cause: must match ^[a-z0-9_.-]+$ (got \"Bad Deploy\")"},
        {"{ title = 't', root_cause = 'caf\\xff' }",
         "at root_cause: must match ^[a-z0-9_.-]+$ (got \"caf\xEF\xBF\xBD\")"},
        {"{ title = 't', severity = 'urgent' }",
         "at severity: must be one of info, low, medium, high, critical (got \"urgent\")"},
        {"{ title = 't', confidence = 80 }",
         "at confidence: must be a number from 0 to 1 (got 80)"},
        {"{ title = 't', confidence = '0.5' }",
         "at confidence: must be a number from 0 to 1 (got string)"},
        {"{ title = 't', evidence = { kind = 'text', text = 'x' } }",
         "at evidence: must be a list { … }, not a table with named fields"},
        {"{ title = 't', evidence = 'x' }", "at evidence: must be a list (got string)"},
        {"{ title = 't', evidence = { 'x' } }",
         "at evidence[1]: must be a table with a kind (got string)"},
        {"{ title = 't', evidence = { { kind = 'graph' } } }",
         "at evidence[1].kind: unknown kind \"graph\" (kinds: timeseries, events, log_patterns, "
         "table, text)"},
        {"{ title = 't', evidence = { { text = 'x' } } }",
         "at evidence[1].kind: is required (kinds: timeseries, events, log_patterns, table, text)"},
        {"{ title = 't', evidence = { { kind = true } } }",
         "at evidence[1].kind: must be a string (kinds: timeseries, events, log_patterns, table, "
         "text)"},
        {"{ title = 't', evidence = { { kind = 'text' } } }", "at evidence[1].text: is required"},
        {"{ title = 't', evidence = { { kind = 'text', text = 'x', colour = 'red' } } }",
         "at evidence[1]: unknown field 'colour' (fields: kind, title, text)"},
        {"{ title = 't', evidence = { { kind = 'timeseries', series = { { points = { { 'a', 1 } "
         "} } } } } }",
         "at evidence[1].series[1].points[1]: t must be a finite number (got string)"},
        {"{ title = 't', evidence = { { kind = 'timeseries', series = { { points = { { 1, 'x' } "
         "} } } } } }",
         "at evidence[1].series[1].points[1]: v must be a number or nil (got string)"},
        {"{ title = 't', evidence = { { kind = 'timeseries', series = { { points = { 5 } } } } } }",
         "at evidence[1].series[1].points[1]: must be a pair { t, v } (got number)"},
        {"{ title = 't', evidence = { { kind = 'timeseries', series = { { labels = { env = {} }, "
         "points = {} } } } } }",
         "at evidence[1].series[1].labels.env: must be a string (got table)"},
        {"{ title = 't', evidence = { { kind = 'timeseries', series = { { labels = { 'prod' }, "
         "points = {} } } } } }",
         "at evidence[1].series[1].labels: label names must be strings (got number)"},
        {"{ title = 't', evidence = { { kind = 'events', items = { { time = 'noon' } } } } }",
         "at evidence[1].items[1].time: must be a finite number (got string)"},
        {"{ title = 't', evidence = { { kind = 'log_patterns', items = { { pattern = 'p' } } } } }",
         "at evidence[1].items[1].count: is required"},
        {"{ title = 't', evidence = { { kind = 'table', columns = {}, rows = { { {} } } } } }",
         "at evidence[1].rows[1][1]: a cell must be a string, number or boolean (got table)"},
        {"{ title = 't', actions = { { description = 'x' } } }", "at actions[1].type: is required"},
        {"{ title = 't', actions = { { type = 'x', args = { a = { print } } } } }",
         "at actions[1].args.a[1]: a function cannot be converted to JSON"},
        {"{ title = 't', actions = { { type = 'x', args = { 1, 2 } } } }",
         "at actions[1].args: must be a table of names to values, not a list"},
        {"{ title = 't', actions = { { type = 'x', args = 'y' } } }",
         "at actions[1].args: must be a table of names to values (got string)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_finding_error(L, cases[i][0], cases[i][1]);
}

static void test_finding_list_caps(void **state) {
    lua_State *L = *state;
    run_lua(L, "function list(n, v) local t = {} for i = 1, n do t[i] = v end return t end "
               "item = { kind = 'text', text = 'x' } act = { type = 'page' }");
    json_t *f =
        finding(L, "{ title = 't', evidence = list(20, item), actions = list(20, act) }", NULL);
    assert_int_equal(json_array_size(json_object_get(f, "evidence")), 20);
    assert_int_equal(json_array_size(json_object_get(f, "actions")), 20);
    json_decref(f);
    assert_finding_error(L, "{ title = 't', evidence = list(21, item) }",
                         "at evidence: must have at most 20 items (got 21)");
    assert_finding_error(L, "{ title = 't', actions = list(21, act) }",
                         "at actions: must have at most 20 items (got 21)");
    assert_finding_error(L, "{ title = 't', evidence = list(1e6, item) }",
                         "at evidence: must have at most 20 items (got 1000000)");
}

/* The caps bound each list, not what shared tables multiply: a finding holds at most 200,000
 * values and 4 MiB of strings, and action args at most what sdk_lua_to_json makes. */
static void test_finding_value_bound(void **state) {
    lua_State *L = *state;
    run_lua(L, "function list(n, f) local t = {} for i = 1, n do t[i] = f(i) end return t end "
               "function dag(n) local t = { v = 'x' } for i = 1, n do t = { a = t, b = t } end "
               "return t end");
    double start = rt_monotonic();
    assert_finding_error(L, "{ title = 't', actions = { { type = 't', args = dag(30) } } }",
                         "at actions[1].args: more than 100000 values (shared or nested "
                         "tables?)");
    assert_true(rt_monotonic() - start < 2.0);
    /* args each under their bound, over the finding's together */
    run_lua(L, "wide = {} for i = 1, 70000 do wide['k' .. i] = true end");
    assert_finding_error(L,
                         "{ title = 't', actions = list(3, function() return { type = 't', args "
                         "= wide } end) }",
                         "at actions[3].args: more than 200000 values in one finding (shared or "
                         "nested tables?)");
    /* a full timeseries item (20 series of 2,000 points: 120,043 values) is legal... */
    run_lua(L, "full = { kind = 'timeseries', series = list(20, function() return { points = "
               "list(2000, function(i) return { i, i } end) } end) }");
    json_t *f = finding(L, "{ title = 't', evidence = { full } }", NULL);
    json_t *series = json_object_get(json_array_get(json_object_get(f, "evidence"), 0), "series");
    assert_int_equal(json_array_size(series), 20);
    assert_int_equal(json_array_size(json_object_get(json_array_get(series, 19), "points")), 2000);
    json_decref(f);
    /* ...twice is too much */
    assert_finding_error(L, "{ title = 't', evidence = { full, full } }",
                         "at evidence[2].series[14].points[642]: more than 200000 values in one "
                         "finding (shared or nested tables?)");
    /* one row of 1 KiB cells shared by 200 rows of 20 items: 80 MiB from 20 KiB of Lua */
    run_lua(L, "row = list(20, function() return ('c'):rep(1024) end) "
               "grid = { kind = 'table', columns = {}, rows = list(200, function() return row "
               "end) }");
    assert_finding_error(L, "{ title = 't', evidence = list(20, function() return grid end) }",
                         "at evidence[2].rows[5][16]: more than 4 MiB of strings in one finding "
                         "(shared or nested tables?)");
}

static void test_evidence_metamethod(void **state) {
    lua_State *L = *state;
    run_lua(L, "Text = { __evidence = function(self) return { kind = 'text', text = "
               "self.s } end, __index = function() error('never') end }");
    assert_finding(L, "{ title = 't', evidence = { setmetatable({ s = 'from SDK type' }, Text) } }",
                   "{\"actions\":[],\"confidence\":0.5,\"evidence\":[{\"kind\":\"text\",\"text\":"
                   "\"from SDK type\"}],\"severity\":\"medium\",\"title\":\"t\"}");
    /* a metatable without __evidence: the table is read raw */
    assert_finding(L,
                   "{ title = 't', evidence = { setmetatable({ kind = 'text', text = 'x' }, { "
                   "__index = error }) } }",
                   "{\"actions\":[],\"confidence\":0.5,\"evidence\":[{\"kind\":\"text\",\"text\":"
                   "\"x\"}],\"severity\":\"medium\",\"title\":\"t\"}");
}

static int call_finding(lua_State *L) {
    char why[256];
    json_t *v = sdk_finding_to_json(L, 1, why, sizeof why);
    json_decref(v);
    lua_pushboolean(L, v != NULL);
    return 1;
}

/* An error in __evidence is raised again (after the partial JSON is freed: ASan checks). */
static void test_evidence_metamethod_error_propagates(void **state) {
    lua_State *L = *state;
    lua_pushcfunction(L, call_finding);
    push_lua(L, "{ title = 't', evidence = { { kind = 'text', text = 'first' }, setmetatable({}, "
                "{ __evidence = function() error('boom', 0) end }) } }");
    assert_int_equal(lua_pcall(L, 1, 1, 0), LUA_ERRRUN);
    assert_string_equal(lua_tostring(L, -1), "boom");
    lua_pop(L, 1);
}

/* A Lua allocator with a budget, to make allocations fail on purpose. */
typedef struct budget {
    size_t used, limit;
} budget;

static void *budget_alloc(void *ud, void *p, size_t old, size_t size) {
    budget *b = ud;
    old = p ? old : 0;
    if (size == 0) {
        free(p);
        b->used -= old;
        return NULL;
    }
    if (size > old && b->used + (size - old) > b->limit)
        return NULL;
    void *q = realloc(p, size);
    if (q)
        b->used = b->used - old + size;
    return q;
}

/* Memory running out halfway (cutting the long text needs a Lua string of 16 KiB) is raised
 * again as a memory error, and the JSON made so far is freed (ASan's leak check). */
static void test_finding_out_of_memory(void **state) {
    (void)state;
    budget b = {0, SIZE_MAX};
    lua_State *L = lua_newstate(budget_alloc, &b);
    luaL_openlibs(L);
    lua_pushcfunction(L, call_finding);
    push_lua(L, "{ title = 't', evidence = { { kind = 'text', text = 'short' }, { kind = 'text', "
                "text = ('x'):rep(100000) } } }");
    b.limit = b.used + 8192;
    assert_int_equal(lua_pcall(L, 1, 1, 0), LUA_ERRMEM); /* lua_error keeps the kind */
    b.limit = SIZE_MAX;
    lua_close(L);
}

/* ---- Canonical JSON ----------------------------------------------------------------------- */

static void test_canonical_json(void **state) {
    (void)state;
    json_t *v = json_pack("{s:f, s:f, s:f, s:I, s:f, s:[i, s], s:{s:n, s:b}}", "b", 0.8, "a", 1e21,
                          "c", 3.0, "big", (json_int_t)9007199254740993LL, "third", 0.1 + 0.2,
                          "list", 1, "x", "nested", "z", "y", 1);
    assert_json(v, "{\"a\":1e21,\"b\":0.8,\"big\":9007199254740993,\"c\":3.0,\"list\":[1,\"x\"],"
                   "\"nested\":{\"y\":true,\"z\":null},\"third\":0.3}");
    assert_json(json_string("é/\n"), "\"é/\\n\"");
    assert_json(json_integer(-42), "-42");
}

/* Reals are written as "%.15g" writes them (plus ".0" when that looks whole), though most are
 * written without printf: checked against printf for decimals of every length and place, next
 * to them and next to ties, and for doubles of every size, with both signs. */
static void assert_real_as_printf(double x) {
    char want[48];
    snprintf(want, sizeof want, "%.15g", x);
    if (!strpbrk(want, ".en"))
        strcat(want, ".0");
    if (strchr(want, 'e'))
        return; /* the exponent's form is test_canonical_json's */
    json_t *v = json_real(x);
    char *got = rt_json_canonical(v);
    if (strcmp(got, want) != 0)
        fail_msg("%.17g: wrote %s, printf %s", x, got, want);
    free(got);
    json_decref(v);
}

/* A fixed sequence of 64-bit numbers (an LCG's high bits), so that a failure repeats. */
static uint64_t next_random(uint64_t *seed) {
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return *seed >> 11;
}

static void test_canonical_json_reals(void **state) {
    (void)state;
    static const double fixed[] = {1e-4,
                                   0.8,
                                   0.1 + 0.2,
                                   1795409815.63282,
                                   0.938981000217609,
                                   999999999999999,
                                   1e15 - 0.5,
                                   123456789012345.6,
                                   0.5,
                                   100,
                                   1e14,
                                   0.00012345678901234,
                                   2.5e-5,
                                   1e15,
                                   1e16};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        assert_real_as_printf(fixed[i]);
        assert_real_as_printf(-fixed[i]);
    }
    uint64_t seed = 42;
    for (int i = 0; i < 200000; i++) {
        long long k = (long long)(next_random(&seed) % 1000000000000000ULL);
        int digits = (int)(next_random(&seed) % 15) + 1, d = (int)(next_random(&seed) % 20);
        for (int j = digits; j < 15; j++)
            k /= 10;
        double decimal = (double)k / pow(10, d); /* the double nearest to k / 10^d */
        double any = ldexp((double)(next_random(&seed) % 1000000007) / 1000000007,
                           (int)(next_random(&seed) % 120) - 60);
        assert_real_as_printf(i % 2 ? decimal : -decimal);
        assert_real_as_printf(i % 2 ? any : -any);
        assert_real_as_printf(nextafter(decimal, 0));
        /* a 16th digit 5: the rounding printf does is closest to a tie */
        assert_real_as_printf((double)(k * 10 + 5) / pow(10, d + 1));
        /* wall clock times and durations, with every bit of the fraction used */
        assert_real_as_printf(1795409815 + (double)(next_random(&seed) % 1000000007) / 1000000007);
        assert_real_as_printf(any / (1 << 20));
    }
}

/* Keys may hold NUL (json_object_setn): sorted and written by their length, a key before the
 * longer keys it begins. */
static void test_canonical_json_nul_keys(void **state) {
    lua_State *L = *state;
    json_t *v = json_object();
    json_object_setn_new(v, "a\0y", 3, json_integer(2));
    json_object_setn_new(v, "b", 1, json_integer(5));
    json_object_setn_new(v, "a\0x", 3, json_integer(1));
    json_object_setn_new(v, "a", 1, json_integer(3));
    json_object_setn_new(v, "a\0", 2, json_integer(4));
    json_object_setn_new(v, "\0", 1, json_integer(0));
    assert_json(v, "{\"\\u0000\":0,\"a\":3,\"a\\u0000\":4,\"a\\u0000x\":1,\"a\\u0000y\":2,"
                   "\"b\":5}");
    /* An analyzer's keys never hold NUL: JSON readers refuse it in a key, so a result with one
     * could not be read back (test_json_errors_name_the_place). */
    assert_lua_error(L, "{ ['a\\0x'] = 1 }",
                     "a key holds a NUL byte (after \"a\"), which JSON keys cannot");
}

/* ---- Renderers ---------------------------------------------------------------------------- */

static const char sample_result[] =
    "{\"schema\":\"inquest.result/v1\",\"id\":\"an-42\",\"now\":1795262400,\"status\":\"ok\","
    "\"analyzer\":{\"name\":\"http.error_spike\",\"version\":\"1.2.0\",\"file\":\"a.lua\","
    "\"hash\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"},"
    "\"inputs\":{\"service\":\"checkout\",\"window\":1800},"
    "\"conclusion\":{\"tag\":\"root_cause_found\",\"summary\":\"deploy 4711 broke /checkout\"},"
    "\"findings\":[{\"title\":\"5xx from /checkout\",\"severity\":\"high\",\"confidence\":0.8,"
    "\"root_cause\":\"bad_deploy\",\"summary\":\"errors began at the deploy\",\"evidence\":["
    "{\"kind\":\"timeseries\",\"title\":\"5xx rate\",\"unit\":\"req/s\",\"series\":[{\"labels\":"
    "{\"code\":\"500\"},\"points\":[[1,0],[2,1],[3,null],[4,7],[5,3]]}]},"
    "{\"kind\":\"events\",\"title\":\"deploys\",\"items\":[{\"time\":1795262580,\"kind\":"
    "\"deploy\",\"service\":\"checkout\",\"id\":\"4711\",\"text\":\"rolled "
    "out\\u001b[2J\\r\\u009b\"}]},"
    "{\"kind\":\"log_patterns\",\"items\":[{\"pattern\":\"refused <*>\",\"count\":1234}]},"
    "{\"kind\":\"table\",\"columns\":[\"host\",\"errors\"],\"rows\":[[\"web|1\",17],[\"web-2\","
    "3]],\"truncated\":true},"
    "{\"kind\":\"text\",\"title\":\"stack\",\"text\":\"line one\\nline two\"}],"
    "\"actions\":[{\"type\":\"rollback\",\"args\":{\"deploy\":\"4711\"},\"description\":"
    "\"undo the deploy\"}]}],"
    "\"steps\":[{\"name\":\"fetch_metrics\",\"status\":\"ok\",\"duration_ms\":120.4},"
    "{\"name\":\"fetch_logs\",\"status\":\"error\",\"duration_ms\":1500,\"error\":\"timeout\"}],"
    "\"calls\":[{\"connector\":\"prometheus\",\"operation\":\"query_range\",\"duration_ms\":80,"
    "\"bytes\":5120,\"status\":\"ok\"}],"
    "\"logs\":[%s],\"logs_dropped\":3,"
    "\"errors\":[{\"message\":\"attempt to index nil\",\"file\":\"a.lua\",\"line\":42}],"
    "\"timing\":{\"started_at\":1795262400.5,\"duration_ms\":2345}}";

static json_t *sample(void) {
    char logs[4096] = "", text[8192];
    for (int i = 1; i <= 25; i++)
        snprintf(logs + strlen(logs), sizeof logs - strlen(logs),
                 "%s{\"level\":\"info\",\"message\":\"log line %d\"}", i > 1 ? "," : "", i);
    snprintf(text, sizeof text, sample_result, logs);
    json_error_t error;
    json_t *result = json_loads(text, 0, &error);
    if (!result)
        fail_msg("sample result: %s", error.text);
    return result;
}

static char *render(const json_t *result, int markdown, int colour) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (markdown)
        ig_report_markdown(result, out);
    else
        ig_report_text(result, out, colour);
    fclose(out);
    return text;
}

static void assert_contains(const char *text, const char *part) {
    if (!strstr(text, part))
        fail_msg("\"%s\" not found in:\n%s", part, text);
}

static void test_report_text(void **state) {
    (void)state;
    json_t *result = sample();
    char *text = render(result, 0, 0);
    static const char *const parts[] = {"http.error_spike (1.2.0)",
                                        "ok",
                                        "root_cause_found",
                                        "deploy 4711 broke /checkout",
                                        "service = \"checkout\"",
                                        "window = 1800",
                                        "1. high",
                                        "5xx from /checkout",
                                        "confidence 80%",
                                        "root cause bad_deploy",
                                        "errors began at the deploy",
                                        "[timeseries]",
                                        "5xx rate (req/s)",
                                        "{\"code\":\"500\"}",
                                        "▁▂ █▄",
                                        "2026-11-21T12:03:00Z",
                                        "rolled out?[2J???",
                                        "1234",
                                        "refused <*>",
                                        "web|1",
                                        "(truncated)",
                                        "       line one\n       line two",
                                        "rollback {\"deploy\":\"4711\"}: undo the deploy",
                                        "fetch_metrics",
                                        "120 ms",
                                        "1.50 s",
                                        "timeout",
                                        "prometheus",
                                        "5 earlier lines not shown",
                                        "log line 25",
                                        "3 more lines were dropped",
                                        "a.lua:42: attempt to index nil",
                                        "analysis an-42",
                                        "now 2026-11-21T12:00:00Z",
                                        "sha256:0123456789ab ",
                                        "took 2.35 s"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        assert_contains(text, parts[i]);
    assert_null(strstr(text, "log line 5\n"));
    assert_null(strchr(text, '\033'));
    free(text);
    text = render(result, 0, 1);
    assert_contains(text, "\033[32mok");
    free(text);
    json_object_set_new(result, "status", json_string("memory_exceeded"));
    text = render(result, 0, 1);
    assert_contains(text, "\033[31mmemory_exceeded");
    free(text);
    json_decref(result);
}

static void test_report_markdown(void **state) {
    (void)state;
    json_t *result = sample();
    char *text = render(result, 1, 0);
    static const char *const parts[] = {"## http.error_spike (1.2.0)",
                                        "**ok** · `root_cause_found`: deploy 4711 broke /checkout",
                                        "### Inputs",
                                        "| service | `\"checkout\"` |",
                                        "### Findings",
                                        "#### 1. 5xx from /checkout",
                                        "root cause `bad_deploy`",
                                        "| series | trend | min | max | last |",
                                        "| --- |",
                                        "| web\\|1 | 17 |",
                                        "```\nline one\nline two\n```",
                                        "### Steps",
                                        "### Logs",
                                        "- `a.lua:42`: attempt to index nil",
                                        "`sha256:0123456789ab`"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        assert_contains(text, parts[i]);
    assert_null(strstr(text, "web|1"));
    assert_null(strchr(text, '\033'));
    free(text);
    json_decref(result);
}

static void test_report_survives_odd_results(void **state) {
    (void)state;
    static const char odd_evidence[] =
        "{\"findings\":[{\"evidence\":[{\"kind\":\"timeseries\",\"series\":[{\"points\":[[1],"
        "\"x\",[2,\"y\"]]}]},{\"kind\":\"table\",\"rows\":[[1,2,3]]},{\"kind\":\"nope\"},7],"
        "\"actions\":[{}]}],\"errors\":[{}],\"now\":\"yesterday\",\"timing\":{}}";
    static const char *const odd[] = {
        "{}", "[]", "null", "{\"status\":7,\"findings\":{},\"logs\":[1,null],\"steps\":[3]}",
        odd_evidence};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        json_t *result = json_loads(odd[i], JSON_DECODE_ANY, NULL);
        for (int md = 0; md < 2; md++)
            free(render(result, md, 1));
        json_decref(result);
    }
}

/* ---- The schema --------------------------------------------------------------------------- */

static void test_schema_is_json(void **state) {
    (void)state;
    json_error_t error;
    json_t *schema = json_load_file(TESTS_DIR "/../docs/result.schema.json", 0, &error);
    if (!schema)
        fail_msg("docs/result.schema.json: %d:%d: %s", error.line, error.column, error.text);
    assert_string_equal(json_string_value(json_object_get(schema, "$schema")),
                        "https://json-schema.org/draft/2020-12/schema");
    json_t *kinds =
        json_object_get(json_object_get(json_object_get(schema, "$defs"), "evidence"), "oneOf");
    assert_int_equal(json_array_size(kinds), 5);
    json_decref(schema);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_sequences_and_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_cycle_ends_at_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_ignores_hostile_metatables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_replaces_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_errors_name_the_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_value_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_to_lua_and_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finding_defaults_and_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_string_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finding_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finding_list_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finding_value_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_metamethod, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_metamethod_error_propagates, setup, teardown),
        cmocka_unit_test(test_finding_out_of_memory),
        cmocka_unit_test(test_canonical_json),
        cmocka_unit_test(test_canonical_json_reals),
        cmocka_unit_test_setup_teardown(test_canonical_json_nul_keys, setup, teardown),
        cmocka_unit_test(test_report_text),
        cmocka_unit_test(test_report_markdown),
        cmocka_unit_test(test_report_survives_odd_results),
        cmocka_unit_test(test_schema_is_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
