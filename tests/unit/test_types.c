/* tests/unit/test_types.c -- the input types (sdk/sdk_types.c) and the duration, time and size
 * parsers under them (runtime/rt_time.c): accepted values, the exact message of every refusal,
 * definition problems, and the schema outputs. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "sdk_internal.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static lua_State *new_state(void) {
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    sdk__types_push(L);
    lua_setglobal(L, "t");
    return L;
}

/* Runs 'code' and leaves its one result on the stack. */
static void run(lua_State *L, const char *code) {
    if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
        fail_msg("Lua error: %s", lua_tostring(L, -1));
}

/* Problem 'i' of 'd' as "field: message" (or "message"), into 'buf' (1200 bytes). */
static const char *problem(const rt_diag *d, size_t i, char *buf) {
    json_t *item = json_array_get(d->items, i);
    const char *field = json_string_value(json_object_get(item, "field"));
    snprintf(buf, 1200, "%s%s%s", field ? field : "", field ? ": " : "",
             json_string_value(json_object_get(item, "message")));
    return buf;
}

/* Checks that 'd' holds exactly the problems in 'ap' (NULL-terminated), in order; 'what' names
 * the case in failures. */
static void expect_problems(const rt_diag *d, const char *what, va_list ap) {
    char buf[1200];
    size_t n = 0;
    for (const char *want; (want = va_arg(ap, const char *)); n++) {
        if (n >= rt_diag_count(d))
            fail_msg("%s: missing problem '%s' (only %zu found)", what, want, rt_diag_count(d));
        assert_string_equal(problem(d, n, buf), want);
    }
    for (size_t i = n; i < rt_diag_count(d); i++)
        print_message("%s: unexpected problem: %s\n", what, problem(d, i, buf));
    assert_int_equal(rt_diag_count(d), n);
}

/* Defines the inputs table 'code' ("{ a = t.string{} }") with problems collected into 'd'. */
static void define(lua_State *L, const char *code, rt_diag *d) {
    char chunk[2048];
    snprintf(chunk, sizeof chunk, "return %s", code);
    sdk_set_diag(L, d);
    run(L, chunk);
    sdk_set_diag(L, NULL);
}

/* Validates 'raw' (JSON text, or NULL) against the schema on top of the stack. Returns what
 * sdk_inputs_validate returns; on success the typed table is on top. */
static int validate(lua_State *L, const char *raw, double now, rt_diag *d) {
    json_error_t e;
    json_t *j = raw ? json_loads(raw, JSON_ALLOW_NUL, &e) : NULL;
    if (raw && !j)
        fail_msg("bad test JSON %s: %s", raw, e.text);
    int top = lua_gettop(L);
    int rc = sdk_inputs_validate(L, -1, j, now, NULL, d);
    assert_int_equal(lua_gettop(L), top + (rc == 0));
    json_decref(j);
    return rc;
}

/* Defines 'schema', validates 'raw' and expects the problems given (none: success). */
static void check(const char *schema, const char *raw, ...) {
    lua_State *L = new_state();
    rt_diag defs = {0}, d = {0};
    char buf[1200];
    define(L, schema, &defs);
    if (rt_diag_count(&defs))
        fail_msg("definition problem: %s", problem(&defs, 0, buf));
    int rc = validate(L, raw, 1795262400, &d);
    va_list ap;
    va_start(ap, raw);
    expect_problems(&d, raw ? raw : "no inputs", ap);
    va_end(ap);
    assert_int_equal(rc, rt_diag_count(&d) ? -1 : 0);
    rt_diag_free(&d);
    lua_close(L);
}

/* Validates 'raw' against 'schema' and checks the typed inputs, as JSON, equal 'want'. */
static void check_value(const char *schema, const char *raw, const char *want) {
    lua_State *L = new_state();
    rt_diag defs = {0}, d = {0};
    char buf[1200];
    define(L, schema, &defs);
    if (rt_diag_count(&defs))
        fail_msg("definition problem: %s", problem(&defs, 0, buf));
    if (validate(L, raw, 1795262400, &d) != 0)
        fail_msg("%s refused: %s", raw, problem(&d, 0, buf));
    /* Compare through Lua: integers stay integers, so 3600 and 3600.0 differ. */
    lua_setglobal(L, "got");
    lua_pushstring(L, want);
    lua_setglobal(L, "want");
    run(L, "local function show(v)\n"
           "  if math.type(v) == 'integer' then return tostring(v) end\n"
           "  if math.type(v) == 'float' then\n"
           "    local s = string.format('%.17g', v)\n"
           "    return s:find('[.eni]') and s or s .. '.0'\n"
           "  end\n"
           "  if type(v) == 'string' then return string.format('%q', v) end\n"
           "  if type(v) ~= 'table' then return tostring(v) end\n"
           "  local keys = {}\n"
           "  for k in pairs(v) do keys[#keys + 1] = k end\n"
           "  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)\n"
           "  local out = {}\n"
           "  for _, k in ipairs(keys) do out[#out + 1] = tostring(k) .. '=' .. show(v[k]) end\n"
           "  return '{' .. table.concat(out, ',') .. '}'\n"
           "end\n"
           "return show(got)");
    assert_string_equal(lua_tostring(L, -1), want);
    rt_diag_free(&d);
    lua_close(L);
}

/* ---- durations ------------------------------------------------------------------------------ */

static void test_duration_parse_good(void **state) {
    static const struct {
        const char *text;
        double seconds;
    } cases[] = {
        {"90s", 90},
        {"30m", 1800},
        {"1h30m", 5400},
        {"500ms", 0.5},
        {"250ms", 0.25},
        {"2d", 172800},
        {"1w", 604800},
        {"1.5h", 5400},
        {"45", 45},
        {"0", 0},
        {"0.25", 0.25},
        {"0s", 0},
        {"1w2d3h4m5s6ms", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5 + 0.006},
        {"10000w", 6048000000.0},
        {"1.000000000001s", 1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = -1;
        char why[128] = "";
        if (rt_duration_parse(cases[i].text, &got, why) != 0)
            fail_msg("%s refused: %s", cases[i].text, why);
        if (got != cases[i].seconds)
            fail_msg("%s: got %.17g, want %.17g", cases[i].text, got, cases[i].seconds);
    }
}

static void test_duration_parse_bad(void **state) {
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"", "empty duration (like 90s, 1h30m, 500ms, 2d)"},
        {"5x", "unknown unit \"x\" in \"5x\" (use ms, s, m, h, d, w)"},
        {"5M", "unknown unit \"M\" in \"5M\" (use ms, s, m, h, d, w)"},
        {"-5m", "duration \"-5m\" is negative"},
        {"1h30", "missing unit after \"30\" in \"1h30\" (use ms, s, m, h, d, w)"},
        {"5m ", "unexpected \" \" in duration \"5m \""},
        {"5 m", "unexpected \" m\" in duration \"5 m\""},
        {"30m1h", "units out of order in \"30m1h\" (write each unit once, largest first: 1h30m)"},
        {"1m1m", "units out of order in \"1m1m\" (write each unit once, largest first: 1h30m)"},
        {"m", "cannot read \"m\" as a duration (like 90s, 1h30m, 500ms, 2d)"},
        {"1e6", "unknown unit \"e\" in \"1e6\" (use ms, s, m, h, d, w)"},
        {"1.h", "cannot read \"1.h\" as a duration (like 90s, 1h30m, 500ms, 2d)"},
        {"inf", "cannot read \"inf\" as a duration (like 90s, 1h30m, 500ms, 2d)"},
        {"10001w", "duration \"10001w\" is too large (at most 10000w)"},
        {"9999999999999999999999h", "duration \"9999999999999999999999h\" is too large (at most "
                                    "10000w)"},
        {"5\xc2\xb5s", "unexpected \"\\xc2\\xb5s\" in duration \"5\\xc2\\xb5s\""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = -1;
        char why[128] = "";
        if (rt_duration_parse(cases[i].text, &got, why) == 0)
            fail_msg("%s accepted as %g", cases[i].text, got);
        assert_string_equal(why, cases[i].why);
    }
}

static void test_duration_format(void **state) {
    static const struct {
        double seconds;
        const char *text;
    } cases[] = {
        {5400, "1h30m"},
        {0.25, "250ms"},
        {0, "0s"},
        {86400, "1d"},
        {604800, "1w"},
        {90.5, "1m30.5s"},
        {1.1, "1.1s"},
        {0.0005, "0.5ms"},
        {3600.25, "1h0.25s"},
        {59, "59s"},
        {691200, "1w1d"},
        {-90, "-1m30s"},
        {6048000000.0, "10000w"},
        {0.001, "1ms"},
        {1e-9, "0.000001ms"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        rt_duration_format(cases[i].seconds, out);
        assert_string_equal(out, cases[i].text);
    }
}

static void test_duration_round_trip(void **state) {
    static const double values[] = {0,     0.001,  0.25,   1,           1.5,         59.999,
                                    60,    61,     3599,   3600,        5400,        86399.5,
                                    86400, 604799, 604800, 1234567.891, 6048000000.0};
    (void)state;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char text[32], why[128] = "";
        double back = -1;
        rt_duration_format(values[i], text);
        if (rt_duration_parse(text, &back, why) != 0)
            fail_msg("%.17g formats as %s, which does not parse: %s", values[i], text, why);
        if (fabs(back - values[i]) > 1e-9 * (1 + values[i]))
            fail_msg("%.17g -> %s -> %.17g", values[i], text, back);
    }
}

/* ---- times ---------------------------------------------------------------------------------- */

static void test_time_parse_good(void **state) {
    static const struct {
        const char *text;
        double t;
    } cases[] = {
        {"2026-11-21T12:00:00Z", 1795262400},
        {"2026-11-21t12:00:00z", 1795262400},
        {"2026-11-21 12:00:00Z", 1795262400},
        {"2026-11-21T14:00:00+02:00", 1795262400},
        {"2026-11-21T06:30:00-05:30", 1795262400},
        {"2026-11-21T12:00:00.5Z", 1795262400.5},
        {"2026-11-21T12:00:00.250+00:00", 1795262400.25},
        {"2024-02-29T00:00:00Z", 1709164800},
        {"2000-02-29T23:59:59Z", 951868799},
        {"1969-12-31T23:59:59Z", -1},
        {"0001-01-01T00:00:00Z", -62135596800.0},
        {"9999-12-31T23:59:59Z", 253402300799.0},
        {"2016-12-31T23:59:60Z", 1483228800}, /* a leap second: the next minute's first */
        {"1795262400", 1795262400},
        {"1795262400.5", 1795262400.5},
        {"-1", -1},
        {"now", 1000000},
        {"now-1h30m", 1000000 - 5400},
        {"now+5m", 1000000 + 300},
        {"now-1.5h", 1000000 - 5400},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = 0;
        char why[128] = "";
        if (rt_time_parse(cases[i].text, 1000000, &got, why) != 0)
            fail_msg("%s refused: %s", cases[i].text, why);
        if (got != cases[i].t)
            fail_msg("%s: got %.17g, want %.17g", cases[i].text, got, cases[i].t);
    }
}

static void test_time_parse_bad(void **state) {
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"", "empty time (like 2026-11-21T12:00:00Z, now or now-1h)"},
        {"yesterday", "cannot read \"yesterday\" as a time (use RFC 3339 like "
                      "2026-11-21T12:00:00Z, Unix seconds, now or now-1h)"},
        {"2026-11-21", "missing time of day in \"2026-11-21\" (like 2026-11-21T12:00:00Z)"},
        {"2026-11-21T12:00:00", "missing time zone in \"2026-11-21T12:00:00\" (end with Z or an "
                                "offset like +02:00)"},
        {"2026-11-21T12:00:00+2", "bad time zone in \"2026-11-21T12:00:00+2\" (end with Z or an "
                                  "offset like +02:00)"},
        {"2026-11-21T12:00", "bad time of day in \"2026-11-21T12:00\" (like 2026-11-21T12:00:00Z)"},
        {"2026-13-01T00:00:00Z", "no such date: \"2026-13-01T00:00:00Z\""},
        {"2023-02-29T00:00:00Z", "no such date: \"2023-02-29T00:00:00Z\""},
        {"2100-02-29T00:00:00Z", "no such date: \"2100-02-29T00:00:00Z\""},
        {"2026-11-21T24:00:00Z", "bad time of day in \"2026-11-21T24:00:00Z\" (like "
                                 "2026-11-21T12:00:00Z)"},
        {"2026-11-21T12:00:00.Z", "missing digits after '.' in \"2026-11-21T12:00:00.Z\""},
        {"2026-1-21T12:00:00Z", "cannot read \"2026-1-21T12:00:00Z\" as a date (like "
                                "2026-11-21T12:00:00Z)"},
        {"now-5x", "unknown unit \"x\" in \"5x\" (use ms, s, m, h, d, w)"},
        {"now-", "cannot read \"now-\" as a time (like now, now-1h, now+5m)"},
        {"nowish", "cannot read \"nowish\" as a time (like now, now-1h, now+5m)"},
        {"-1h", "cannot read \"-1h\" as a time (for one before now, write now-1h)"},
        {"99999999999999", "time \"99999999999999\" is outside the years 0001 to 9999"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = 0;
        char why[128] = "";
        if (rt_time_parse(cases[i].text, 1000000, &got, why) == 0)
            fail_msg("%s accepted as %.17g", cases[i].text, got);
        assert_string_equal(why, cases[i].why);
    }
}

/* ---- deadlines (the API's and `inquest submit --deadline`) ------------------------------------
 */

#define DEADLINE_NOW 1795262400.0 /* 2026-11-21T12:00:00Z */

static void test_deadline_parse_good(void **state) {
    static const struct {
        const char *text;
        double t;
    } cases[] = {
        {"5m", DEADLINE_NOW + 300},
        {"1h30m", DEADLINE_NOW + 5400},
        {"365d", DEADLINE_NOW + 365 * 86400.0},
        {"2026-11-21T12:10:00Z", DEADLINE_NOW + 600},
        {"now+5m", DEADLINE_NOW + 300},
        /* a bare number is Unix seconds, as since/until and t.time read it */
        {"1795263000", 1795263000},
        {"1795262400.5", 1795262400.5},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = 0;
        char why[128] = "";
        if (rt_deadline_parse(cases[i].text, DEADLINE_NOW, &got, why) != 0)
            fail_msg("%s refused: %s", cases[i].text, why);
        if (got != cases[i].t)
            fail_msg("%s: got %.17g, want %.17g", cases[i].text, got, cases[i].t);
    }
}

static void test_deadline_parse_bad(void **state) {
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"", "empty: give a duration from now (5m) or a time (RFC 3339)"},
        {"whenever", "cannot read \"whenever\" as a duration from now (5m) or a time (RFC 3339, "
                     "Unix seconds)"},
        {"5x", "unknown unit \"x\" in \"5x\" (use ms, s, m, h, d, w)"},
        {"0s", "the duration \"0s\" is zero: give one to come, such as 5m"},
        {"0ms", "the duration \"0ms\" is zero: give one to come, such as 5m"},
        {"366d", "the duration \"366d\" is longer than the 365d a deadline may be ahead"},
        {"99999d", "the duration \"99999d\" is longer than the 365d a deadline may be ahead"},
        {"0", "\"0\" has passed already: give a time to come (a bare number is Unix seconds: "
              "300s is a duration)"},
        {"300", "\"300\" has passed already: give a time to come (a bare number is Unix seconds: "
                "300s is a duration)"},
        {"1795262400", "\"1795262400\" has passed already: give a time to come (a bare number is "
                       "Unix seconds: 300s is a duration)"},
        {"2020-01-01T00:00:00Z",
         "\"2020-01-01T00:00:00Z\" has passed already: give a time to come"},
        {"now-1h", "\"now-1h\" has passed already: give a time to come"},
        {"6000-01-01T00:00:00Z",
         "\"6000-01-01T00:00:00Z\" is more than 365d ahead: give a nearer time, or none"},
        {"2027-11-22T12:00:00Z",
         "\"2027-11-22T12:00:00Z\" is more than 365d ahead: give a nearer time, or none"},
        {"99999999999999", "time \"99999999999999\" is outside the years 0001 to 9999"},
        {"-5m", "cannot read \"-5m\" as a time (for one before now, write now-5m)"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = 0;
        char why[128] = "";
        if (rt_deadline_parse(cases[i].text, DEADLINE_NOW, &got, why) == 0)
            fail_msg("%s accepted as %.17g", cases[i].text, got);
        assert_string_equal(why, cases[i].why);
    }
}

static void test_time_format(void **state) {
    static const struct {
        double t;
        const char *text;
    } cases[] = {
        {1795262400, "2026-11-21T12:00:00Z"},
        {1795262400.5, "2026-11-21T12:00:00.5Z"},
        {1795262400.1, "2026-11-21T12:00:00.1Z"},
        {1795262400.123456, "2026-11-21T12:00:00.123456Z"},
        {1709164800, "2024-02-29T00:00:00Z"},
        {0, "1970-01-01T00:00:00Z"},
        {-1, "1969-12-31T23:59:59Z"},
        {-0.5, "1969-12-31T23:59:59.5Z"},
        {-62135596800.0, "0001-01-01T00:00:00Z"},
        {253402300799.0, "9999-12-31T23:59:59Z"},
        {1795262399.9999999, "2026-11-21T12:00:00Z"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[40];
        rt_time_format(cases[i].t, out);
        assert_string_equal(out, cases[i].text);
    }
}

static void test_time_round_trip(void **state) {
    static const double values[] = {0,
                                    -1,
                                    1795262400,
                                    1795262400.25,
                                    951868799,
                                    1709164800.5,
                                    -62135596800.0,
                                    253402300799.0,
                                    1e9,
                                    -86400 * 365.0};
    (void)state;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char text[40], why[128] = "";
        double back = 0;
        rt_time_format(values[i], text);
        if (rt_time_parse(text, 0, &back, why) != 0)
            fail_msg("%.17g formats as %s, which does not parse: %s", values[i], text, why);
        assert_true(back == values[i]);
    }
}

/* ---- sizes ---------------------------------------------------------------------------------- */

static void test_size_parse(void **state) {
    static const struct {
        const char *text;
        size_t bytes;
    } good[] = {
        {"64MiB", 67108864}, {"512KiB", 524288},    {"1GiB", 1073741824},
        {"64MB", 64000000},  {"1000", 1000},        {"1.5KiB", 1536},
        {"10b", 10},         {"2gib", 2147483648u}, {"1TB", 1000000000000u},
    };
    static const char *const bad[] = {"",       "1e6",  "64XB",           "-1", "1.5B", "MiB",
                                      "64 MiB", "0x10", "99999999999TiB", NULL};
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t got = 0;
        if (rt_size_parse(good[i].text, &got) != 0)
            fail_msg("%s refused", good[i].text);
        assert_int_equal(got, good[i].bytes);
    }
    for (size_t i = 0; bad[i]; i++) {
        size_t got = 0;
        if (rt_size_parse(bad[i], &got) == 0)
            fail_msg("%s accepted as %zu", bad[i], got);
    }
}

/* rt_copy and rt_concat cut to the buffer as snprintf would, and say how much they wrote. */
static void test_copy_and_concat(void **state) {
    char out[8];
    (void)state;
    assert_int_equal(rt_copy(out, sizeof out, "abc"), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(rt_copy(out, sizeof out, "abcdefghij"), 7);
    assert_string_equal(out, "abcdefg");
    assert_int_equal(rt_copy(out, 1, "abc"), 0);
    assert_string_equal(out, "");
    assert_int_equal(rt_concat(out, sizeof out, "{p}:", "a:", "0123", NULL), 7);
    assert_string_equal(out, "{p}:a:0");
    assert_int_equal(rt_concat(out, sizeof out, "ab", "", "cd", NULL), 4);
    assert_string_equal(out, "abcd");
    assert_int_equal(rt_concat(out, sizeof out, NULL), 0);
    assert_string_equal(out, "");
}

/* ---- type values ---------------------------------------------------------------------------- */

static void test_type_values(void **state) {
    lua_State *L = new_state();
    (void)state;
    run(L, "return t.bool()");
    assert_true(sdk_is_type(L, -1));
    lua_getfield(L, -1, "kind");
    assert_string_equal(lua_tostring(L, -1), "bool");
    lua_pop(L, 2);
    run(L, "return t.string{ pattern = '^a', description = 'x' }");
    assert_true(sdk_is_type(L, -1));
    lua_getfield(L, -1, "pattern");
    assert_string_equal(lua_tostring(L, -1), "^a");
    lua_pop(L, 2);
    run(L, "return {}");
    assert_false(sdk_is_type(L, -1));
    lua_pop(L, 1);
    run(L, "return 5");
    assert_false(sdk_is_type(L, -1));
    lua_pop(L, 1);
    /* The metatable is protected: it can be neither borrowed to forge a type nor removed. */
    run(L, "return select(2, pcall(setmetatable, t.int{}, nil))");
    assert_non_null(strstr(lua_tostring(L, -1), "protected metatable"));
    lua_pop(L, 1);
    run(L, "return getmetatable(t.int{})");
    assert_string_equal(lua_tostring(L, -1), "inquest.type");
    lua_pop(L, 1);
    /* Not a table: misuse raises. */
    run(L, "return select(2, pcall(t.string, 'x'))");
    assert_non_null(strstr(lua_tostring(L, -1), "table expected"));
    lua_close(L);
}

/* ---- every kind: good and bad values -------------------------------------------------------- */

static void test_string(void **state) {
    const char *schema = "{ service = t.string{ pattern = '^[a-z0-9-]+$', min_length = 2, "
                         "max_length = 10 } }";
    (void)state;
    check_value(schema, "{\"service\": \"checkout\"}", "{service=\"checkout\"}");
    check(schema, "{\"service\": \"API!\"}", "service: must match ^[a-z0-9-]+$ (got \"API!\")",
          NULL);
    check(schema, "{\"service\": \"a\"}", "service: must be at least 2 characters long (got \"a\")",
          NULL);
    check(schema, "{\"service\": \"abcdefghijk\"}",
          "service: must be at most 10 characters long (got \"abcdefghijk\")", NULL);
    check(schema, "{\"service\": 5}", "service: must be a string (got 5)", NULL);
    check(schema, "{\"service\": [\"a\"]}", "service: must be a string (got a list)", NULL);
    /* Lengths count characters, not bytes: five two-byte characters fit in 2..10. */
    check_value("{ s = t.string{ max_length = 5 } }",
                "{\"s\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
                "{s=\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}");
    /* Unanchored unless anchored. */
    check_value("{ s = t.string{ pattern = 'b' } }", "{\"s\": \"abc\"}", "{s=\"abc\"}");
    /* The default max_length is 4096. */
    char raw[4200];
    snprintf(raw, sizeof raw, "{\"s\": \"%04097d\"}", 0);
    lua_State *L = new_state();
    rt_diag d = {0};
    define(L, "{ s = t.string{} }", NULL);
    assert_int_equal(validate(L, raw, 0, &d), -1);
    char buf[1200];
    assert_non_null(strstr(problem(&d, 0, buf), "s: must be at most 4096 characters long"));
    rt_diag_free(&d);
    lua_close(L);
}

static void test_string_escapes_shown_values(void **state) {
    (void)state;
    check("{ s = t.string{ pattern = '^[a-z]+$' } }", "{\"s\": \"a\\nb\\u001b[31m\\\"\"}",
          "s: must match ^[a-z]+$ (got \"a\\x0ab\\x1b[31m\\\"\")", NULL);
    check("{ s = t.string{ pattern = '^[a-z]+$' } }",
          "{\"s\": \"0123456789012345678901234567890123456789012345678901234567890123456789\"}",
          "s: must match ^[a-z]+$ (got "
          "\"012345678901234567890123456789012345678901234567890123456789...\")",
          NULL);
}

static void test_pattern_limit(void **state) {
    /* Catastrophic backtracking ends at the match limit, as a refusal with its reason. */
    (void)state;
    check("{ s = t.string{ pattern = '^(a|aa)+$' } }",
          "{\"s\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\"}",
          "s: must match ^(a|aa)+$, which took too long to decide (PCRE2 limit) (got "
          "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\")",
          NULL);
}

static void test_int(void **state) {
    const char *schema = "{ n = t.int{ min = 1, max = 10 } }";
    (void)state;
    check_value(schema, "{\"n\": 5}", "{n=5}");
    check_value(schema, "{\"n\": \"7\"}", "{n=7}");
    check_value(schema, "{\"n\": \"+7\"}", "{n=7}");
    check_value(schema, "{\"n\": 5.0}", "{n=5}");
    check_value("{ n = t.int{} }", "{\"n\": \"-9223372036854775808\"}", "{n=-9223372036854775808}");
    check(schema, "{\"n\": \"x\"}", "n: must be an integer (got \"x\")", NULL);
    check(schema, "{\"n\": 1.5}", "n: must be an integer (got 1.5)", NULL);
    check(schema, "{\"n\": \"1.0\"}", "n: must be an integer (got \"1.0\")", NULL);
    check(schema, "{\"n\": \" 5\"}", "n: must be an integer (got \" 5\")", NULL);
    check(schema, "{\"n\": \"\"}", "n: must be an integer (got \"\")", NULL);
    check(schema, "{\"n\": true}", "n: must be an integer (got true)", NULL);
    check(schema, "{\"n\": 0}", "n: must be at least 1 (got 0)", NULL);
    check(schema, "{\"n\": \"11\"}", "n: must be at most 10 (got \"11\")", NULL);
    check("{ n = t.int{} }", "{\"n\": \"9223372036854775808\"}",
          "n: must be an integer (got \"9223372036854775808\")", NULL);
}

static void test_number(void **state) {
    const char *schema = "{ x = t.number{ min = 0, max = 1 } }";
    (void)state;
    check_value(schema, "{\"x\": 0.5}", "{x=0.5}");
    check_value(schema, "{\"x\": 1}", "{x=1.0}");
    check_value(schema, "{\"x\": \"0.25\"}", "{x=0.25}");
    check_value(schema, "{\"x\": \".5\"}", "{x=0.5}");
    check_value(schema, "{\"x\": \"1e-1\"}", "{x=0.10000000000000001}");
    check(schema, "{\"x\": \"nan\"}", "x: must be a number (got \"nan\")", NULL);
    check(schema, "{\"x\": \"inf\"}", "x: must be a number (got \"inf\")", NULL);
    check(schema, "{\"x\": \"0x1\"}", "x: must be a number (got \"0x1\")", NULL);
    check(schema, "{\"x\": \"1e999\"}", "x: must be a number (got \"1e999\")", NULL);
    check(schema, "{\"x\": \"1.5\"}", "x: must be at most 1 (got \"1.5\")", NULL);
    check(schema, "{\"x\": 1.5}", "x: must be at most 1 (got 1.5)", NULL);
    check(schema, "{\"x\": -0.1}", "x: must be at least 0 (got -0.1)", NULL);
}

static void test_bool(void **state) {
    const char *schema = "{ a = t.bool{}, b = t.bool(), c = t.bool{}, d = t.bool{}, e = t.bool{}, "
                         "f = t.bool{}, g = t.bool{}, h = t.bool{} }";
    (void)state;
    check_value(schema,
                "{\"a\": true, \"b\": false, \"c\": \"true\", \"d\": \"false\", \"e\": \"yes\", "
                "\"f\": \"no\", \"g\": \"1\", \"h\": \"0\"}",
                "{a=true,b=false,c=true,d=false,e=true,f=false,g=true,h=false}");
    check("{ a = t.bool{} }", "{\"a\": \"maybe\"}", "a: must be true or false (got \"maybe\")",
          NULL);
    check("{ a = t.bool{} }", "{\"a\": 1}", "a: must be true or false (got 1)", NULL);
    check("{ a = t.bool{} }", "{\"a\": \"TRUE\"}", "a: must be true or false (got \"TRUE\")", NULL);
}

static void test_enum(void **state) {
    const char *schema = "{ region = t.enum{ 'us-east', 'eu-west' } }";
    (void)state;
    check_value(schema, "{\"region\": \"eu-west\"}", "{region=\"eu-west\"}");
    check(schema, "{\"region\": \"mars\"}",
          "region: must be one of us-east, eu-west (got \"mars\")", NULL);
    check(schema, "{\"region\": 1}", "region: must be one of us-east, eu-west (got 1)", NULL);
    check(schema, "{\"region\": \"us-east\\u0000x\"}",
          "region: must be one of us-east, eu-west (got \"us-east\\x00x\")", NULL);
}

static void test_duration(void **state) {
    const char *schema = "{ window = t.duration{ min = '5m', max = '24h' } }";
    (void)state;
    check_value(schema, "{\"window\": \"30m\"}", "{window=1800}");
    check_value(schema, "{\"window\": \"1.5h\"}", "{window=5400}");
    check_value(schema, "{\"window\": 3600}", "{window=3600}");
    check_value(schema, "{\"window\": \"3600\"}", "{window=3600}");
    check_value(schema, "{\"window\": 400.5}", "{window=400.5}");
    check(schema, "{\"window\": \"48h\"}", "window: must be at most 24h (got \"48h\")", NULL);
    check(schema, "{\"window\": \"1m\"}", "window: must be at least 5m (got \"1m\")", NULL);
    check(schema, "{\"window\": 172800}", "window: must be at most 24h (got 172800)", NULL);
    check(schema, "{\"window\": \"5x\"}",
          "window: unknown unit \"x\" in \"5x\" (use ms, s, m, h, d, w)", NULL);
    check(schema, "{\"window\": -60}", "window: must not be negative (got -60)", NULL);
    check(schema, "{\"window\": 1e300}", "window: is too large for a duration (got 1e+300)", NULL);
    check(schema, "{\"window\": true}",
          "window: must be a duration like \"30m\" or a number of seconds (got true)", NULL);
}

static void test_time(void **state) {
    const char *schema = "{ at = t.time{} }";
    (void)state;
    /* The analysis' clock of check_value() is 1795262400 (2026-11-21T12:00:00Z). */
    check_value(schema, "{\"at\": \"now\"}", "{at=1795262400}");
    check_value(schema, "{\"at\": \"now-1h\"}", "{at=1795258800}");
    check_value(schema, "{\"at\": \"2026-11-21T14:00:00+02:00\"}", "{at=1795262400}");
    check_value(schema, "{\"at\": \"2026-11-21T12:00:00.5Z\"}", "{at=1795262400.5}");
    check_value(schema, "{\"at\": 1795262400}", "{at=1795262400}");
    check_value(schema, "{\"at\": \"1795262400\"}", "{at=1795262400}");
    check(schema, "{\"at\": \"tomorrow\"}",
          "at: cannot read \"tomorrow\" as a time (use RFC 3339 like 2026-11-21T12:00:00Z, Unix "
          "seconds, now or now-1h)",
          NULL);
    check(schema, "{\"at\": 1e300}", "at: is outside the years 0001 to 9999 (got 1e+300)", NULL);
    check(schema, "{\"at\": 1e14}",
          "at: time \"100000000000000\" is outside the years 0001 to 9999", NULL);
    check(schema, "{\"at\": false}",
          "at: must be a time like \"2026-11-21T12:00:00Z\" or \"now-1h\" (got false)", NULL);
}

static void test_list(void **state) {
    const char *schema = "{ tags = t.list{ t.string{ pattern = '^[a-z]+$' }, min = 1, max = 3 } }";
    (void)state;
    check_value(schema, "{\"tags\": \"a,b,c\"}", "{tags={1=\"a\",2=\"b\",3=\"c\"}}");
    check_value(schema, "{\"tags\": \" a , b \"}", "{tags={1=\"a\",2=\"b\"}}");
    check_value(schema, "{\"tags\": \"[\\\"x\\\"]\"}", "{tags={1=\"x\"}}");
    check_value(schema, "{\"tags\": [\"x\", \"y\"]}", "{tags={1=\"x\",2=\"y\"}}");
    check(schema, "{\"tags\": \"a,A!,b\"}", "tags[2]: must match ^[a-z]+$ (got \"A!\")", NULL);
    check(schema, "{\"tags\": [\"A\", \"b\", \"C\"]}", "tags[1]: must match ^[a-z]+$ (got \"A\")",
          "tags[3]: must match ^[a-z]+$ (got \"C\")", NULL);
    check(schema, "{\"tags\": \"a,b,c,d\"}", "tags: must have at most 3 items (got 4)", NULL);
    check(schema, "{\"tags\": []}", "tags: must have at least 1 item (got 0)", NULL);
    check(schema, "{\"tags\": \"\"}", "tags: must have at least 1 item (got 0)", NULL);
    check(schema, "{\"tags\": {\"a\": 1}}", "tags: must be a list (got an object)", NULL);
    check(schema, "{\"tags\": \"[1,\"}",
          "tags: is not valid JSON: ']' expected near end of file (got \"[1,\")", NULL);
    check_value("{ ns = t.list{ t.int{} } }", "{\"ns\": \"1, 2,3\"}", "{ns={1=1,2=2,3=3}}");
    check("{ ns = t.list{ t.int{} } }", "{\"ns\": [1, \"x\", 3.5]}",
          "ns[2]: must be an integer (got \"x\")", "ns[3]: must be an integer (got 3.5)", NULL);
}

static void test_map(void **state) {
    const char *schema = "{ labels = t.map{ t.enum{ 'prod', 'dev' }, max = 2 } }";
    (void)state;
    check_value(schema, "{\"labels\": \"env=prod, tier = dev\"}",
                "{labels={env=\"prod\",tier=\"dev\"}}");
    check_value(schema, "{\"labels\": {\"env\": \"dev\"}}", "{labels={env=\"dev\"}}");
    check_value(schema, "{\"labels\": \"{\\\"env\\\": \\\"dev\\\"}\"}", "{labels={env=\"dev\"}}");
    check(schema, "{\"labels\": \"env=PROD\"}",
          "labels.env: must be one of prod, dev (got \"PROD\")", NULL);
    check(schema, "{\"labels\": \"env\"}",
          "labels: must be key=value pairs separated by commas (got \"env\")", NULL);
    check(schema, "{\"labels\": \"env=prod,env=dev\"}", "labels: has the key \"env\" twice", NULL);
    check(schema, "{\"labels\": \"a=prod,b=prod,c=prod\"}",
          "labels: must have at most 2 entries (got 3)", NULL);
    check(schema, "{\"labels\": [\"prod\"]}", "labels: must be a map (got a list)", NULL);
    /* Nested: every level in the field name. */
    check("{ m = t.map{ t.list{ t.int{ max = 5 } } } }", "{\"m\": {\"a\": [1, 9], \"b\": \"6\"}}",
          "m.a[2]: must be at most 5 (got 9)", "m.b[1]: must be at most 5 (got \"6\")", NULL);
}

/* ---- whole inputs: all problems at once, defaults, optional, unknown ------------------------ */

static const char *const sample =
    "{ service = t.string{ pattern = '^[a-z0-9-]+$', description = 'service name' },"
    "  at = t.time{ default = 'now' },"
    "  window = t.duration{ default = '30m', min = '5m', max = '24h' },"
    "  region = t.enum{ 'us-east', 'eu-west', optional = true } }";

static void test_all_problems_at_once(void **state) {
    (void)state;
    check(sample, "{\"service\": \"API!\", \"window\": \"48h\", \"region\": \"mars\"}",
          "region: must be one of us-east, eu-west (got \"mars\")",
          "service: must match ^[a-z0-9-]+$ (got \"API!\")",
          "window: must be at most 24h (got \"48h\")", NULL);
    check(sample, "{}", "service: is required", NULL);
    check(sample, NULL, "service: is required", NULL);
}

static void test_defaults_and_optional(void **state) {
    (void)state;
    check_value(sample, "{\"service\": \"checkout\"}",
                "{at=1795262400,service=\"checkout\",window=1800}");
    check_value(sample, "{\"service\": \"checkout\", \"region\": null, \"at\": \"now-1h\"}",
                "{at=1795258800,service=\"checkout\",window=1800}");
    check_value("{ a = t.int{ required = false }, b = t.list{ t.int{}, default = { 1, 2 } },"
                "  c = t.map{ t.int{}, default = 'x=1' }, d = t.bool{ default = false } }",
                "{}", "{b={1=1,2=2},c={x=1},d=false}");
}

/* The effective inputs of 'raw' (JSON text) for 'schema' at the clock 'now', as canonical JSON
 * (malloc'd), or NULL when they are refused. */
static char *effective(const char *schema, const char *raw, double now) {
    lua_State *L = new_state();
    rt_diag d = {0};
    json_t *j = json_loads(raw, 0, NULL), *out = NULL;
    assert_non_null(j);
    define(L, schema, NULL);
    int rc = sdk_inputs_validate(L, -1, j, now, &out, &d);
    assert_int_equal(rc == 0, out != NULL);
    char *text = out ? rt_json_canonical(out) : NULL;
    json_decref(out);
    json_decref(j);
    rt_diag_free(&d);
    lua_close(L);
    return text;
}

static void expect_effective(const char *schema, const char *raw, double now, const char *want) {
    char *got = effective(schema, raw, now);
    if (!want)
        assert_null(got);
    else if (!got || strcmp(got, want) != 0)
        fail_msg("effective inputs of %s:\n got %s\nwant %s", raw, got ? got : "(refused)", want);
    free(got);
}

/* What a dedup key is made of: each input's value as validated, whatever form it was given in,
 * or its default when left out; a time read against the clock as written, whatever the clock. */
static void test_effective_inputs(void **state) {
    const char *schema =
        "{ service = t.string{}, n = t.int{ default = 0 }, x = t.number{ optional = true },"
        "  on = t.bool{ default = false }, e = t.enum{ 'a', 'b', default = 'a' },"
        "  window = t.duration{ default = '30m' }, at = t.time{ default = 'now' },"
        "  since = t.time{ optional = true }, tags = t.list{ t.string{}, optional = true },"
        "  times = t.list{ t.time{}, optional = true }, m = t.map{ t.int{}, optional = true } }";
    const char *plain =
        "{\"at\":\"now\",\"e\":\"a\",\"n\":0,\"on\":false,\"service\":\"d\",\"window\":1800}";
    const char *typed = "{\"at\":\"now\",\"e\":\"b\",\"m\":{\"k\":1},\"n\":6,\"on\":true,"
                        "\"service\":\"d\",\"tags\":[\"a\",\"b\"],\"window\":5400,\"x\":1.5}";
    const char *instant = "{\"at\":\"now\",\"e\":\"a\",\"n\":0,\"on\":false,\"service\":\"d\","
                          "\"since\":1795262400,\"window\":1800}";
    const char *relative = "{\"at\":\"now-5m\",\"e\":\"a\",\"n\":0,\"on\":false,\"service\":\"d\","
                           "\"since\":\"now-1h\",\"times\":[\"now\",1795262400],\"window\":1800}";
    double now = 1795262400;
    (void)state;
    expect_effective(schema, "{\"service\": \"d\"}", now, plain);
    expect_effective(schema,
                     "{\"service\": \"d\", \"n\": \"0\", \"on\": \"no\", \"e\": \"a\","
                     " \"window\": \"1800s\", \"at\": \"now\", \"x\": null}",
                     now, plain);
    expect_effective(schema, "{\"service\": \"d\", \"n\": 0.0, \"window\": 1800.0}", now + 60,
                     plain);
    expect_effective(schema,
                     "{\"service\": \"d\", \"n\": \"6\", \"x\": \"1.5\", \"on\": \"yes\","
                     " \"e\": \"b\", \"window\": \"1h30m\", \"tags\": \"a, b\", \"m\": \"k=1\"}",
                     now, typed);
    expect_effective(schema,
                     "{\"service\": \"d\", \"n\": 6, \"x\": 1.5, \"on\": true, \"e\": \"b\","
                     " \"window\": 5400, \"tags\": [\"a\", \"b\"], \"m\": {\"k\": 1}}",
                     now, typed);
    /* A time given as an instant is kept, in whichever form. */
    expect_effective(schema, "{\"service\": \"d\", \"since\": \"2026-11-21T12:00:00Z\"}", now,
                     instant);
    expect_effective(schema, "{\"service\": \"d\", \"since\": 1795262400}", now + 60, instant);
    expect_effective(schema,
                     "{\"service\": \"d\", \"since\": \"2026-11-21T14:00:00+02:00\","
                     " \"at\": null}",
                     now, instant);
    for (int i = 0; i < 2; i++)
        expect_effective(schema,
                         "{\"service\": \"d\", \"at\": \"now-5m\", \"since\": \"now-1h\","
                         " \"times\": [\"now\", 1795262400]}",
                         now + i * 60, relative);
    expect_effective(schema, "{\"service\": \"d\", \"n\": \"many\"}", now, NULL);
}

static void test_unknown_inputs(void **state) {
    (void)state;
    check(sample, "{\"service\": \"x\", \"servce\": \"y\"}",
          "servce: unknown input (known: at, region, service, window)", NULL);
    check("{}", "{\"a\": 1}", "a: unknown input (this analyzer takes none)", NULL);
    check("{ a = t.int{} }", "[1]", "inputs must be a JSON object", "a: is required", NULL);
}

static void test_validate_twice_same_state(void **state) {
    /* The pattern cache and the reused match data across calls and patterns. */
    lua_State *L = new_state();
    rt_diag d = {0};
    (void)state;
    define(L, "{ a = t.string{ pattern = '^x' }, b = t.string{ pattern = '^y' } }", NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(validate(L, "{\"a\": \"xa\", \"b\": \"yb\"}", 0, &d), 0);
        lua_pop(L, 1);
        assert_int_equal(validate(L, "{\"a\": \"ya\", \"b\": \"xb\"}", 0, &d), -1);
        assert_int_equal(rt_diag_count(&d), 2 * (i + 1));
    }
    rt_diag_free(&d);
    lua_close(L);
}

/* ---- definition problems -------------------------------------------------------------------- */

static void expect_definition(const char *code, ...) {
    lua_State *L = new_state();
    rt_diag d = {0};
    define(L, code, &d);
    assert_true(sdk_is_type(L, -1)); /* a type value all the same */
    va_list ap;
    va_start(ap, code);
    expect_problems(&d, code, ap);
    va_end(ap);
    rt_diag_free(&d);
    lua_close(L);
}

static void test_definition_problems(void **state) {
    (void)state;
    expect_definition("t.string{ patern = 'x' }", "t.string: unknown option 'patern'", NULL);
    expect_definition("t.string{ zz = 1, aa = 2 }", "t.string: unknown option 'aa'",
                      "t.string: unknown option 'zz'", NULL);
    expect_definition("t.int{ min = 'x' }", "t.int: 'min' must be an integer", NULL);
    expect_definition("t.int{ min = 1.5 }", "t.int: 'min' must be an integer", NULL);
    expect_definition("t.int{ min = 5, max = 1 }", "t.int: 'min' (5) is greater than 'max' (1)",
                      NULL);
    expect_definition("t.duration{ min = '1h', max = '5m' }",
                      "t.duration: 'min' (1h) is greater than 'max' (5m)", NULL);
    expect_definition("t.duration{ max = '5x' }",
                      "t.duration: 'max' is not a duration: unknown unit \"x\" in \"5x\" (use ms, "
                      "s, m, h, d, w)",
                      NULL);
    expect_definition("t.string{ min_length = -1 }",
                      "t.string: 'min_length' must be a non-negative integer", NULL);
    expect_definition("t.string{ min_length = 5000 }",
                      "t.string: 'min_length' (5000) is greater than 'max_length' (4096)", NULL);
    expect_definition("t.string{ pattern = '(a' }",
                      "t.string: 'pattern' does not compile: missing closing parenthesis at "
                      "offset 2",
                      NULL);
    expect_definition("t.string{ pattern = 5 }",
                      "t.string: 'pattern' must be a string of at most 4096 bytes", NULL);
    expect_definition("t.enum{}", "t.enum: needs 1 to 1000 values, as in t.enum{ \"a\", \"b\" }",
                      NULL);
    expect_definition("t.enum{ 'a', 5 }", "t.enum: value 2 must be a non-empty UTF-8 string", NULL);
    expect_definition("t.enum{ 'a', 'a' }", "t.enum: value \"a\" is listed twice", NULL);
    expect_definition("t.list{ 'x' }",
                      "t.list: the first element must be a type, as in t.list{ t.string{} }", NULL);
    expect_definition("t.map{}",
                      "t.map: the first element must be a type, as in t.map{ t.string{} }", NULL);
    expect_definition("t.list{ t.int{}, t.int{} }",
                      "t.list: takes one type, as in t.list{ t.string{} }, then named options",
                      NULL);
    expect_definition("t.string{ 'x' }",
                      "t.string: options are named, as in t.string{ description = \"…\" }", NULL);
    expect_definition("t.bool{ required = true, optional = true }",
                      "t.bool: 'required = true' and 'optional = true' contradict each other",
                      NULL);
    expect_definition("t.bool{ optional = 1, description = 2 }",
                      "t.bool: 'description' must be a string",
                      "t.bool: 'optional' must be a boolean", NULL);
    expect_definition("t.bool{ description = 'caf\\xe9' }",
                      "t.bool: 'description' must be UTF-8 text", NULL);
    expect_definition("t.duration{ default = '5x' }",
                      "t.duration: 'default' is invalid: unknown unit \"x\" in \"5x\" (use ms, s, "
                      "m, h, d, w)",
                      NULL);
    expect_definition("t.duration{ default = '1h', max = '30m' }",
                      "t.duration: 'default' is invalid: must be at most 30m (got \"1h\")", NULL);
    expect_definition("t.string{ pattern = '^[a-z]+$', default = 'A' }",
                      "t.string: 'default' is invalid: must match ^[a-z]+$ (got \"A\")", NULL);
    expect_definition("t.list{ t.int{}, default = { 1, 'x', 'y' } }",
                      "t.list: 'default' is invalid: [2]: must be an integer (got \"x\"); [3]: "
                      "must be an integer (got \"y\")",
                      NULL);
    expect_definition("t.int{ default = {} }",
                      "t.int: 'default' must be written as a user would type it (got a table)",
                      NULL);
    expect_definition("t.time{ default = 'now-1h' }", NULL); /* checked with now = 0 */
    expect_definition("t.time{ default = 'then' }",
                      "t.time: 'default' is invalid: cannot read \"then\" as a time (use RFC 3339 "
                      "like 2026-11-21T12:00:00Z, Unix seconds, now or now-1h)",
                      NULL);
    expect_definition("t.list{ t.list{ t.list{ t.list{ t.list{ t.list{ t.list{ t.list{ "
                      "t.list{ t.int{} } } } } } } } } }",
                      "t.list: types nest at most 8 deep", NULL);
    /* Several problems in one type: all of them. */
    expect_definition("t.int{ min = 'a', max = 'b', bogus = true, default = 'x' }",
                      "t.int: 'min' must be an integer", "t.int: 'max' must be an integer",
                      "t.int: unknown option 'bogus'",
                      "t.int: 'default' is invalid: must be an integer (got \"x\")", NULL);
}

static void test_definition_problem_raises_without_diag(void **state) {
    lua_State *L = new_state();
    (void)state;
    run(L, "return select(2, pcall(function() return t.string{ patern = 'x' } end))");
    const char *message = lua_tostring(L, -1), *want = "t.string: unknown option 'patern'";
    assert_true(strlen(message) >= strlen(want));
    assert_string_equal(message + strlen(message) - strlen(want), want);
    lua_close(L);
}

static void test_spec_is_authoritative(void **state) {
    /* Editing a type table after construction changes nothing. */
    lua_State *L = new_state();
    rt_diag d = {0};
    (void)state;
    define(L,
           "(function() local s = t.string{ pattern = '^a' } s.pattern = nil "
           "collectgarbage() return { s = s } end)()",
           NULL);
    assert_int_equal(validate(L, "{\"s\": \"b\"}", 0, &d), -1);
    char buf[1200];
    assert_string_equal(problem(&d, 0, buf), "s: must match ^a (got \"b\")");
    rt_diag_free(&d);
    lua_close(L);
}

/* ---- schema outputs ------------------------------------------------------------------------- */

static char *dump(const json_t *j) {
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* sdk_release_outside frees the JSON that the defaults of types hold outside the state, as their
 * __gc would: a state dropped without lua_close leaks nothing (the sanitizers' leak check), and a
 * lua_close after it frees nothing twice. */
static void test_release_outside(void **state) {
    lua_State *L = new_state();
    (void)state;
    define(L, "{ n = t.int{ default = 3 }, s = t.string{ default = 'x' } }", NULL);
    json_t *schema = sdk_schema_json(L, -1);
    assert_non_null(json_object_get(json_object_get(schema, "n"), "default"));
    assert_non_null(json_object_get(json_object_get(schema, "s"), "default"));
    json_decref(schema);
    sdk_release_outside(L);
    schema = sdk_schema_json(L, -1);
    assert_null(json_object_get(json_object_get(schema, "n"), "default"));
    assert_null(json_object_get(json_object_get(schema, "s"), "default"));
    json_decref(schema);
    lua_close(L);
}

static void test_schema_json(void **state) {
    lua_State *L = new_state();
    (void)state;
    define(L, sample, NULL);
    json_t *schema = sdk_schema_json(L, -1);
    char *text = dump(schema);
    assert_string_equal(
        text,
        "{\"at\":{\"default\":\"now\",\"required\":false,\"type\":\"time\"},"
        "\"region\":{\"required\":false,\"type\":\"enum\",\"values\":[\"us-east\",\"eu-west\"]},"
        "\"service\":{\"description\":\"service name\",\"max_length\":4096,\"pattern\":\"^[a-z0-"
        "9-]+$\",\"required\":true,\"type\":\"string\"},"
        "\"window\":{\"default\":\"30m\",\"max\":\"24h\",\"min\":\"5m\",\"required\":false,"
        "\"type\":\"duration\"}}");
    free(text);
    json_decref(schema);
    lua_pop(L, 1);
    define(L, "{ tags = t.list{ t.string{}, min = 1 }, labels = t.map{ t.int{ max = 3 } } }", NULL);
    schema = sdk_schema_json(L, -1);
    text = dump(schema);
    assert_string_equal(text, "{\"labels\":{\"max\":100,\"required\":true,\"type\":\"map\","
                              "\"values\":{\"max\":3,\"type\":\"int\"}},"
                              "\"tags\":{\"items\":{\"max_length\":4096,\"type\":\"string\"},"
                              "\"max\":1000,\"min\":1,\"required\":true,\"type\":\"list\"}}");
    free(text);
    json_decref(schema);
    lua_close(L);
}

/* Checks that JSON Schema 'pattern' accepts what rt_duration_parse (or rt_time_parse, when
 * 'is_time') accepts, on a sample of good and bad texts. */
static void expect_pattern_agrees(const char *pattern, int is_time) {
    /* Good and bad texts, separated by spaces ("''" stands for the empty text). */
    static const char texts[] =
        "90s 1h30m 500ms 1.5h 45 0 1w2d3h4m5s6ms 5x 30m1h '' -5m 1h30 1e6 now now-1h now+5m30s "
        "now-5x now-30 now- now+ 2026-11-21T12:00:00Z 2026-11-21t12:00:00.5+02:00 2026-11-21 "
        "2026-11-21T12:00:00 1795262400 1795262400.5 -1 then";
    int err = 0;
    PCRE2_SIZE off = 0;
    assert_non_null(pattern);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    assert_non_null(re);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    for (const char *p = texts; *p;) {
        char text[64], why[128];
        size_t len = strcspn(p, " ");
        snprintf(text, sizeof text, "%.*s", len == 2 && p[0] == '\'' ? 0 : (int)len, p);
        p += len + (p[len] == ' ');
        double x;
        int parses =
            is_time ? rt_time_parse(text, 0, &x, why) == 0 : rt_duration_parse(text, &x, why) == 0;
        int matches = pcre2_match(re, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL) >= 0;
        if (parses != matches)
            fail_msg("'%s': parser says %d, pattern %s says %d", text, parses, pattern, matches);
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
}

static void test_json_schema(void **state) {
    lua_State *L = new_state();
    (void)state;
    define(L,
           "{ service = t.string{ pattern = '^[a-z]+$', description = 'service name' },"
           "  n = t.int{ min = 1, max = 5, default = 2 }, x = t.number{ optional = true },"
           "  ok = t.bool{ optional = true }, region = t.enum{ 'a', 'b' },"
           "  window = t.duration{ min = '5m', max = '1.5h', default = '30m' },"
           "  at = t.time{ default = 'now' },"
           "  tags = t.list{ t.string{}, max = 3, optional = true },"
           "  labels = t.map{ t.int{}, optional = true } }",
           NULL);
    json_t *schema = sdk_schema_json(L, -1);
    json_t *js = sdk_schema_to_json_schema(schema, "http.error_spike");
    json_t *p = json_object_get(js, "properties");
    char *text;
#define EXPECT_JSON(value, want)                                                                   \
    do {                                                                                           \
        text = dump(value);                                                                        \
        assert_string_equal(text, want);                                                           \
        free(text);                                                                                \
    } while (0)
    assert_string_equal(json_string_value(json_object_get(js, "$schema")),
                        "https://json-schema.org/draft/2020-12/schema");
    EXPECT_JSON(json_object_get(js, "title"), "\"http.error_spike\"");
    EXPECT_JSON(json_object_get(js, "type"), "\"object\"");
    EXPECT_JSON(json_object_get(js, "additionalProperties"), "false");
    EXPECT_JSON(json_object_get(js, "required"), "[\"region\",\"service\"]");
    EXPECT_JSON(json_object_get(p, "service"),
                "{\"description\":\"service name\",\"maxLength\":4096,\"pattern\":\"^[a-z]+$\","
                "\"type\":\"string\"}");
    EXPECT_JSON(json_object_get(p, "n"),
                "{\"default\":2,\"maximum\":5,\"minimum\":1,\"type\":\"integer\"}");
    EXPECT_JSON(json_object_get(p, "x"), "{\"type\":\"number\"}");
    EXPECT_JSON(json_object_get(p, "ok"), "{\"type\":\"boolean\"}");
    EXPECT_JSON(json_object_get(p, "region"), "{\"enum\":[\"a\",\"b\"],\"type\":\"string\"}");
    EXPECT_JSON(json_object_get(p, "tags"),
                "{\"items\":{\"maxLength\":4096,\"type\":\"string\"},\"maxItems\":3,"
                "\"type\":\"array\"}");
    EXPECT_JSON(json_object_get(p, "labels"),
                "{\"additionalProperties\":{\"type\":\"integer\"},\"maxProperties\":100,"
                "\"type\":\"object\"}");
    json_t *w = json_object_get(p, "window");
    EXPECT_JSON(json_object_get(w, "type"), "[\"string\",\"number\"]");
    EXPECT_JSON(json_object_get(w, "minimum"), "300");
    EXPECT_JSON(json_object_get(w, "maximum"), "5400");
    EXPECT_JSON(json_object_get(w, "default"), "\"30m\"");
    assert_non_null(strstr(json_string_value(json_object_get(w, "description")), "1h30m"));
    json_t *at = json_object_get(p, "at");
    EXPECT_JSON(json_object_get(at, "type"), "[\"string\",\"number\"]");
    assert_non_null(strstr(json_string_value(json_object_get(at, "description")), "RFC 3339"));
    /* The patterns given for durations and times agree with the parsers. */
    expect_pattern_agrees(json_string_value(json_object_get(w, "pattern")), 0);
    expect_pattern_agrees(json_string_value(json_object_get(at, "pattern")), 1);
#undef EXPECT_JSON
    json_decref(js);
    json_decref(schema);
    lua_close(L);
}

/* ---- out of memory: a Lua allocation failing anywhere raises, and leaks nothing ------------ */

static long allocs_left = -1; /* allocations that may still succeed; -1: no limit */

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (!ptr || nsize > osize) { /* Lua expects shrinking never to fail */
        if (allocs_left == 0)
            return NULL;
        if (allocs_left > 0)
            allocs_left--;
    }
    return realloc(ptr, nsize);
}

static int validate_protected(lua_State *L) {
    rt_diag *d = lua_touserdata(L, 2);
    const json_t *raw = lua_touserdata(L, 3);
    lua_pushinteger(L, sdk_inputs_validate(L, 1, raw, 0, NULL, d));
    return 1;
}

/* Runs 'code' (defining types) with 'define_limit' allocations allowed, then validates 'raw'
 * with 'validate_limit' (-1: no limit). Returns 1 when both ran to the end. */
static int run_limited(const char *code, const char *raw, long define_limit, long validate_limit) {
    lua_State *L = lua_newstate(limited_alloc, NULL);
    rt_diag defs = {0}, d = {0};
    json_t *j = json_loads(raw, 0, NULL);
    int done = 0;
    assert_non_null(L);
    assert_non_null(j);
    luaL_openlibs(L);
    sdk__types_push(L);
    lua_setglobal(L, "t");
    sdk_set_diag(L, &defs);
    allocs_left = define_limit;
    int rc = luaL_loadstring(L, code);
    if (rc == LUA_OK)
        rc = lua_pcall(L, 0, 1, 0);
    if (rc == LUA_OK) {
        lua_pushcfunction(L, validate_protected);
        lua_pushvalue(L, -2);
        lua_pushlightuserdata(L, &d);
        lua_pushlightuserdata(L, j);
        allocs_left = validate_limit;
        rc = lua_pcall(L, 3, 1, 0);
        done = rc == LUA_OK;
    }
    if (rc != LUA_OK && rc != LUA_ERRMEM)
        fail_msg("limits %ld, %ld: not a memory error: %s", define_limit, validate_limit,
                 lua_tostring(L, -1));
    allocs_left = -1;
    lua_close(L);
    json_decref(j);
    rt_diag_free(&defs);
    rt_diag_free(&d);
    return done;
}

static void test_out_of_memory(void **state) {
    const char *code =
        "return { tags = t.list{ t.string{ pattern = '^[a-z]$' } }, labels = t.map{ t.int{} },"
        "  w = t.duration{ default = '30m' }, bad = t.list{ t.int{}, default = { 1, 'x' } } }";
    const char *raw = "{\"tags\": \"a,b,B\", \"labels\": \"x=1,y=2\", \"bad\": \"[1]\"}";
    long define = 0, validate = 0;
    (void)state;
    while (!run_limited(code, raw, define, -1) && define < 100000)
        define++;
    while (!run_limited(code, raw, -1, validate) && validate < 100000)
        validate++;
    /* Failures were injected at every allocation before each went through. */
    assert_true(define > 50);
    assert_true(validate > 10);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parse_good),
        cmocka_unit_test(test_duration_parse_bad),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_duration_round_trip),
        cmocka_unit_test(test_time_parse_good),
        cmocka_unit_test(test_time_parse_bad),
        cmocka_unit_test(test_deadline_parse_good),
        cmocka_unit_test(test_deadline_parse_bad),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_size_parse),
        cmocka_unit_test(test_copy_and_concat),
        cmocka_unit_test(test_type_values),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_string_escapes_shown_values),
        cmocka_unit_test(test_pattern_limit),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_all_problems_at_once),
        cmocka_unit_test(test_defaults_and_optional),
        cmocka_unit_test(test_effective_inputs),
        cmocka_unit_test(test_unknown_inputs),
        cmocka_unit_test(test_validate_twice_same_state),
        cmocka_unit_test(test_definition_problems),
        cmocka_unit_test(test_definition_problem_raises_without_diag),
        cmocka_unit_test(test_spec_is_authoritative),
        cmocka_unit_test(test_schema_json),
        cmocka_unit_test(test_release_outside),
        cmocka_unit_test(test_json_schema),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
