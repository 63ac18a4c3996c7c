/* tests/unit/test_series.c -- responses of Prometheus-style APIs decoded (sdk/sdk_response.c):
 * every result type, Loki's streams, other endpoints' data, members in any order, special
 * values, numbers as strtod reads them, error envelopes, malformed, truncated and misshapen
 * bodies; then their Lua form, and the series and set methods (sdk/sdk_series.c,
 * sdk/sdk_series_set.c) with the exact message of every refusal, and series as evidence. */
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
#include <lualib.h>
#include "sdk.h"
#include "sdk_series.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static sdk_response decode_ok(const char *body) {
    sdk_response r;
    char why[512];
    int rc = sdk_response_decode(body, strlen(body), NULL, &r, why, sizeof why);
    if (rc != 0)
        fail_msg("decode returned %d: %s\nbody: %s", rc, why, body);
    return r;
}

static void assert_empty(const sdk_response *r) {
    static const sdk_response empty;
    assert_memory_equal(r, &empty, sizeof empty);
}

/* Decodes the 'len' bytes at 'body', expecting 'rc' and the reason 'why'. */
static void expect_decode_n(const char *body, size_t len, int rc, const char *why) {
    sdk_response r;
    char got[512];
    int got_rc = sdk_response_decode(body, len, NULL, &r, got, sizeof got);
    if (got_rc != rc)
        fail_msg("expected %d, got %d (%s)\nbody: %.*s", rc, got_rc, got, (int)len, body);
    assert_string_equal(got, why);
    assert_empty(&r);
}

static void expect_decode(const char *body, int rc, const char *why) {
    expect_decode_n(body, strlen(body), rc, why);
}

static const char *label(const sdk_series_data *s, const char *name) {
    for (size_t i = 0; i < s->n_labels; i++)
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    return NULL;
}

/* Asserts that doubles are the same bits (NaN equals NaN). */
static void assert_same(double got, double want) {
    uint64_t g, w;
    memcpy(&g, &got, sizeof g);
    memcpy(&w, &want, sizeof w);
    if (g != w && !(isnan(got) && isnan(want)))
        fail_msg("got %.17g, want %.17g", got, want);
}

static lua_State *new_state(void) {
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    sdk_open(L);
    lua_setglobal(L, "inquest");
    luaL_dostring(L, "S = inquest.series");
    return L;
}

static void run(lua_State *L, const char *code) {
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
    lua_settop(L, 0);
}

/* Asserts that the Lua statement 'code' raises 'message' at its line 1. */
static void expect_error(lua_State *L, const char *code, const char *message) {
    static const char where[] = "]:1: ";
    if (luaL_loadstring(L, code) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
    if (lua_pcall(L, 0, 0, 0) == LUA_OK)
        fail_msg("no error from: %s", code);
    const char *got = lua_tostring(L, -1);
    if (got && strncmp(got, "[string \"", 9) == 0 && strstr(got, where))
        got = strstr(got, where) + strlen(where);
    if (!got || strcmp(got, message) != 0)
        fail_msg("from: %s\n got: %s\nwant: %s", code, got ? got : "(not a string)", message);
    lua_settop(L, 0);
}

/* Decodes 'body' and pushes it into 'L' as the global 'name'. */
static void push_global(lua_State *L, const char *body, const char *name) {
    sdk_response r = decode_ok(body);
    sdk_response_push(L, &r);
    lua_setglobal(L, name);
    sdk_response_free(&r);
}

/* The Prometheus documentation's examples, and Loki's. */
static const char matrix_body[] =
    "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
    "{\"metric\":{\"__name__\":\"up\",\"job\":\"prometheus\",\"instance\":\"localhost:9090\"},"
    "\"values\":[[1435781430.781,\"1\"],[1435781445.781,\"1\"],[1435781460.781,\"1\"]]},"
    "{\"metric\":{\"__name__\":\"up\",\"job\":\"node\",\"instance\":\"localhost:9091\"},"
    "\"values\":[[1435781430.781,\"0\"],[1435781445.781,\"0\"],[1435781460.781,\"1\"]]}]}}";

static const char vector_body[] =
    "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
    "{\"metric\":{\"__name__\":\"up\",\"job\":\"prometheus\",\"instance\":\"localhost:9090\"},"
    "\"value\":[1435781451.781,\"1\"]},"
    "{\"metric\":{\"__name__\":\"up\",\"job\":\"node\",\"instance\":\"localhost:9100\"},"
    "\"value\":[1435781451.781,\"0\"]}]}}";

static const char streams_body[] =
    "{\n  \"status\": \"success\",\n  \"data\": {\n    \"resultType\": \"streams\",\n"
    "    \"result\": [\n      {\n        \"stream\": {\n"
    "          \"filename\": \"/var/log/myproject.log\",\n          \"job\": \"varlogs\",\n"
    "          \"level\": \"info\"\n        },\n        \"values\": [\n"
    "          [\"1569266497240578000\", \"foo\"],\n"
    "          [\"1569266492548155000\", \"bar\"]\n        ]\n      },\n"
    "      {\n        \"stream\": { \"job\": \"other\" },\n        \"values\": [\n"
    "          [\"1569266497240578000\", \"same time, second stream\"],\n"
    "          [\"1569266492548155001\", \"b\\u00e4z\\n\", {\"structuredMetadata\": {\"x\": "
    "\"y\"}}]\n"
    "        ]\n      }\n    ],\n"
    "    \"stats\": {\n      \"summary\": { \"bytesProcessedPerSecond\": 123, "
    "\"execTime\": 0.5, \"queueTime\": [1, {\"x\": [null, true]}] }\n    }\n  }\n}";

/* ---- Decoding -------------------------------------------------------------------------------- */

static void test_decode_matrix(void **state) {
    (void)state;
    sdk_response r = decode_ok(matrix_body);
    assert_int_equal(r.type, SDK_RESULT_MATRIX);
    assert_int_equal(r.n_series, 2);
    const sdk_series_data *s = &r.series[1];
    assert_int_equal(s->n_labels, 3);
    assert_string_equal(s->labels[0].name, "__name__"); /* sorted by name */
    assert_string_equal(s->labels[1].name, "instance");
    assert_string_equal(s->labels[2].name, "job");
    assert_string_equal(label(s, "instance"), "localhost:9091");
    assert_int_equal(s->n, 3);
    assert_same(s->t[0], 1435781430.781);
    assert_same(s->t[2], 1435781460.781);
    assert_same(s->v[1], 0);
    assert_same(s->v[2], 1);
    assert_null(r.warnings);
    sdk_response_free(&r);
    sdk_response_free(&r); /* freeing twice is harmless */
    sdk_response_free(NULL);
}

static void test_decode_vector_scalar_string(void **state) {
    (void)state;
    sdk_response r = decode_ok(vector_body);
    assert_int_equal(r.type, SDK_RESULT_VECTOR);
    assert_int_equal(r.n_series, 2);
    assert_int_equal(r.series[0].n, 1);
    assert_same(r.series[0].t[0], 1435781451.781);
    assert_same(r.series[0].v[0], 1);
    assert_string_equal(label(&r.series[1], "instance"), "localhost:9100");
    sdk_response_free(&r);

    r = decode_ok("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
                  "\"result\":[1435781451.781,\"1.5\"]}}");
    assert_int_equal(r.type, SDK_RESULT_SCALAR);
    assert_int_equal(r.n_series, 1);
    assert_int_equal(r.series[0].n_labels, 0);
    assert_same(r.series[0].t[0], 1435781451.781);
    assert_same(r.series[0].v[0], 1.5);
    sdk_response_free(&r);

    r = decode_ok("{\"status\":\"success\",\"data\":{\"resultType\":\"string\","
                  "\"result\":[1435781451.781,\"a \\\"quoted\\\" text\"]}}");
    assert_int_equal(r.type, SDK_RESULT_STRING);
    assert_string_equal(r.text, "a \"quoted\" text");
    sdk_response_free(&r);
}

static void test_decode_streams(void **state) {
    (void)state;
    sdk_response r = decode_ok(streams_body);
    assert_int_equal(r.type, SDK_RESULT_STREAMS);
    assert_int_equal(r.n_streams, 2);
    assert_string_equal(label(&r.streams[0], "filename"), "/var/log/myproject.log");
    assert_string_equal(label(&r.streams[1], "job"), "other");
    assert_int_equal(r.n_entries, 4);
    /* by time; of equal times, in the order received */
    assert_true(r.entries[0].ns == 1569266492548155000);
    assert_string_equal(r.entries[0].line, "bar");
    assert_true(r.entries[1].ns == 1569266492548155001);
    assert_string_equal(r.entries[1].line, "b\xc3\xa4z\n");
    assert_int_equal(r.entries[1].len, 5);
    assert_int_equal(r.entries[1].stream, 1);
    assert_string_equal(r.entries[2].line, "foo");
    assert_int_equal(r.entries[2].stream, 0);
    assert_string_equal(r.entries[3].line, "same time, second stream");
    assert_int_equal(r.entries[3].stream, 1);
    assert_int_equal(r.n_series, 0);
    sdk_response_free(&r);
}

static void test_decode_loki_matrix(void **state) {
    (void)state; /* a metric query: Prometheus' shape, with Loki's stats */
    sdk_response r = decode_ok(
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":"
        "{\"level\":\"error\"},\"values\":[[1588889221,\"137.95\"],[1588889221.5,\"467.115\"]]}],"
        "\"stats\":{\"ingester\":{\"compressedBytes\":0,\"store\":{\"chunksDownloadTime\":0}}}}}");
    assert_int_equal(r.type, SDK_RESULT_MATRIX);
    assert_int_equal(r.n_series, 1);
    assert_same(r.series[0].t[1], 1588889221.5);
    assert_same(r.series[0].v[1], 467.115);
    sdk_response_free(&r);
}

/* The JSON of r.data, canonical. */
static void assert_data(const char *body, const char *want) {
    sdk_response r = decode_ok(body);
    assert_int_equal(r.type, SDK_RESULT_DATA);
    char *got = rt_json_canonical(r.data);
    assert_string_equal(got, want);
    free(got);
    sdk_response_free(&r);
}

static void test_decode_other_data(void **state) {
    (void)state;
    assert_data("{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"job\":\"prometheus\"},"
                "{\"__name__\":\"up\",\"job\":\"node\"}]}",
                "[{\"__name__\":\"up\",\"job\":\"prometheus\"},{\"__name__\":\"up\",\"job\":"
                "\"node\"}]");
    assert_data("{\"status\":\"success\",\"data\":[\"__name__\",\"job\"]}",
                "[\"__name__\",\"job\"]");
    assert_data("{\"data\" : \"text\", \"status\":\"success\"}", "\"text\"");
    assert_data("{\"status\":\"success\",\"data\":{}}", "{}");
    assert_data("{\"status\":\"success\",\"data\":[[[[[[[[[[[[1]]]]]]]]]]]]}",
                "[[[[[[[[[[[[1]]]]]]]]]]]]");
    /* metadata with a metric named "result": not a query result, since no resultType comes */
    assert_data("{\"status\":\"success\",\"data\":{\"result\":[{\"type\":\"counter\",\"help\":"
                "\"h\",\"unit\":\"\"}],\"up\":[{\"type\":\"gauge\"}]}}",
                "{\"result\":[{\"help\":\"h\",\"type\":\"counter\",\"unit\":\"\"}],\"up\":[{"
                "\"type\":\"gauge\"}]}");
    assert_data("{\"status\":\"success\",\"data\":{\"result\":\"x\",\"resultType2\":1}}",
                "{\"result\":\"x\",\"resultType2\":1}");
}

static void test_decode_member_order(void **state) {
    (void)state;
    /* data before status, result before resultType, members unknown to the decoder */
    sdk_response r = decode_ok(
        "{\"data\":{\"result\":[{\"values\":[[1,\"2\"]],\"metric\":{\"b\":\"2\",\"a\":\"1\"},"
        "\"extra\":{\"x\":[1]}}],\"stats\":{},\"resultType\":\"matrix\"},\"infos\":[\"i\"],"
        "\"warnings\":[\"w1\",{\"not\":\"a string\"},\"w2\"],\"status\":\"success\"}");
    assert_int_equal(r.type, SDK_RESULT_MATRIX);
    assert_int_equal(r.n_series, 1);
    assert_string_equal(r.series[0].labels[0].name, "a");
    assert_int_equal(json_array_size(r.warnings), 2);
    assert_string_equal(json_string_value(json_array_get(r.warnings, 1)), "w2");
    sdk_response_free(&r);

    /* a vector's value before its metric; a stream's values before its labels */
    r = decode_ok("{\"status\":\"success\",\"data\":{\"result\":[{\"value\":[1,\"2\"],"
                  "\"metric\":{\"a\":\"1\"}}],\"resultType\":\"vector\"}}");
    assert_int_equal(r.type, SDK_RESULT_VECTOR);
    assert_string_equal(label(&r.series[0], "a"), "1");
    sdk_response_free(&r);
    r = decode_ok("{\"status\":\"success\",\"data\":{\"result\":[{\"values\":[[\"2\",\"x\"]],"
                  "\"stream\":{\"a\":\"1\"}}],\"resultType\":\"streams\"}}");
    assert_int_equal(r.n_entries, 1);
    assert_string_equal(label(&r.streams[0], "a"), "1");
    sdk_response_free(&r);
    r = decode_ok("{\"status\":\"success\",\"data\":{\"result\":[7,\"8\"],"
                  "\"resultType\":\"scalar\"}}");
    assert_same(r.series[0].v[0], 8);
    sdk_response_free(&r);
}

static void test_decode_special_values(void **state) {
    (void)state;
    static const struct {
        const char *text;
        double value;
    } cases[] = {
        {"NaN", NAN},
        {"+Inf", INFINITY},
        {"-Inf", -INFINITY},
        {"0", 0},
        {"-0", -0.0},
        {"1e-05", 1e-05},
        {"1E+3", 1000},
        {"0.30000000000000004", 0.30000000000000004},
        {"1.4666666666666666", 1.4666666666666666},
        {"12345678901234567890", 12345678901234567890.0},
        {"9007199254740993", 9007199254740993.0},
        {"0.000000000000000000000001", 1e-24},
        {"1000000000000000000000000000000000000000000000000000000000000000000000000000", 1e75},
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {"5e-324", 5e-324},
    };
    char body[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(body, sizeof body,
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                 "{\"metric\":{},\"value\":[1700000000.5,\"%s\"]}]}}",
                 cases[i].text);
        sdk_response r = decode_ok(body);
        assert_same(r.series[0].v[0], cases[i].value);
        sdk_response_free(&r);
    }
}

/* Numbers are read as strtod reads them, to the bit: 17 digits, halfway cases, times. */
static void test_decode_numbers_as_strtod(void **state) {
    (void)state;
    enum { N = 20000 };
    size_t cap = N * 64 + 256, len = 0;
    char *body = malloc(cap), text[N][40];
    uint64_t x = 88172645463325252u;
    len += (size_t)snprintf(body, cap,
                            "{\"status\":\"success\",\"data\":{\"resultType\":"
                            "\"matrix\",\"result\":[{\"metric\":{},\"values\":[");
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v = (double)(x % 10000000) / (double)(x % 997 + 1);
        if (i % 3 == 0)
            snprintf(text[i], sizeof text[i], "%.17g", v);
        else if (i % 3 == 1)
            snprintf(text[i], sizeof text[i], "%.16g5", v); /* near halfway */
        else
            snprintf(text[i], sizeof text[i], "%llu.%llu", (unsigned long long)(x % 100000000000),
                     (unsigned long long)(x % 100000000));
        len += (size_t)snprintf(body + len, cap - len, "%s[%d.%03d,\"%s\"]", i ? "," : "",
                                1700000000 + i, i % 1000, text[i]);
    }
    snprintf(body + len, cap - len, "]}]}}");
    sdk_response r = decode_ok(body);
    assert_int_equal(r.series[0].n, N);
    for (int i = 0; i < N; i++) {
        char t[40];
        snprintf(t, sizeof t, "%d.%03d", 1700000000 + i, i % 1000);
        assert_same(r.series[0].t[i], strtod(t, NULL));
        assert_same(r.series[0].v[i], strtod(text[i], NULL));
    }
    sdk_response_free(&r);
    free(body);
}

static void test_decode_error_envelope(void **state) {
    (void)state;
    expect_decode("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
                  "\\\"query\\\": 1:5: parse error: unexpected character: '!'\"}",
                  1,
                  "bad_data: invalid parameter \"query\": 1:5: parse error: unexpected character: "
                  "'!'");
    expect_decode("{\"error\":\"query timed out\",\"data\":{\"resultType\":\"matrix\",\"result\":"
                  "[]},\"status\":\"error\",\"errorType\":\"timeout\"}",
                  1, "timeout: query timed out");
    expect_decode("{\"status\":\"error\",\"error\":\"only the error\"}", 1, "only the error");
    expect_decode("{\"status\":\"error\",\"errorType\":\"internal\"}", 1, "internal");
    expect_decode("{\"status\":\"error\"}", 1, "error without a message");
}

static void test_decode_malformed(void **state) {
    (void)state;
    expect_decode("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[}}", -1,
                  "malformed JSON at byte 61: parse error: unallowed token at this point in JSON "
                  "text");
    expect_decode(
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric"
        "\":{},\"values\":[[1,\"1\"]",
        -1, "malformed JSON at byte 90: parse error: premature EOF (truncated?)");
    expect_decode("{\"status\":\"success\",\"data\":{}} x", -1,
                  "malformed JSON at byte 32: parse error: trailing garbage");
    expect_decode("{\"status\":\"success\",\"data\":[NaN]}", -1,
                  "malformed JSON at byte 29: lexical error: invalid char in json text");
    expect_decode("", -1, "malformed JSON: the body is empty");
    expect_decode("[]", -1, "the body is not a JSON object (got a list)");
    expect_decode("\"ok\"", -1, "the body is not a JSON object (got a string)");
    expect_decode("42", -1, "the body is not a JSON object (got a number)");
    expect_decode("null", -1, "the body is not a JSON object (got true, false or null)");
    expect_decode("{\"data\":{}}", -1, "missing status");
    expect_decode("{\"status\":1,\"data\":{}}", -1, "status: must be a string (got a number)");
    expect_decode("{\"status\":[],\"data\":{}}", -1, "status: must be a string (got a list)");
}

/* Every prefix of a valid body is refused cleanly (and, under ASan, without a leak). */
static void test_decode_truncated(void **state) {
    (void)state;
    const char *bodies[] = {matrix_body, vector_body, streams_body};
    for (size_t b = 0; b < 3; b++) {
        size_t n = strlen(bodies[b]);
        for (size_t len = 0; len < n; len++) {
            sdk_response r;
            char why[512];
            int rc = sdk_response_decode(bodies[b], len, NULL, &r, why, sizeof why);
            if (rc != -1 || strncmp(why, "malformed JSON", 14) != 0)
                fail_msg("prefix of %zu bytes: %d %s", len, rc, why);
            assert_empty(&r);
        }
    }
}

/* A matrix of 'series' series of 'points' points [t,"0"] each, the body a caller frees. */
static char *points_body(size_t series, size_t points) {
    size_t cap = 200 + series * (40 + points * 16), n = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    n += (size_t)snprintf(
        body + n, cap - n,
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[");
    for (size_t s = 0; s < series; s++) {
        n += (size_t)snprintf(body + n, cap - n, "%s{\"metric\":{\"i\":\"%zu\"},\"values\":[",
                              s ? "," : "", s);
        for (size_t p = 0; p < points; p++)
            n += (size_t)snprintf(body + n, cap - n, "%s[%zu,\"0\"]", p ? "," : "", p + 1);
        n += (size_t)snprintf(body + n, cap - n, "]}");
    }
    snprintf(body + n, cap - n, "]}}");
    return body;
}

/* What decoding 'body' leaves charged (0 when it fails). */
static size_t charge_of(const char *body) {
    size_t used = 0;
    sdk_memory unlimited = {.used = &used, .limit = SIZE_MAX};
    sdk_response r;
    char why[512];
    if (sdk_response_decode(body, strlen(body), &unlimited, &r, why, sizeof why) != 0)
        fail_msg("decode failed: %s\nbody: %.200s", why, body);
    sdk_response_free(&r);
    return used;
}

/* Under a memory limit the decoder stops, saying where, before it allocates past it; what it
 * had made is freed and its charge given back, at whichever block it stops (under ASan, without
 * a leak); other charges on the same count are left as they were. Every limit is tried, up to
 * the first under which the answer decodes: at least what it leaves charged (more may be held
 * on the way: arrays being grown, temporary ones). */
static void test_decode_memory_limit(void **state) {
    (void)state;
    const char *bodies[] = {
        matrix_body,
        vector_body,
        streams_body,
        "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"2\"]}}",
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},"
        "\"values\":[[3,\"3\"],[1,\"1\"],[2,\"2\"]]}]}}", /* sorted: a temporary array */
    };
    const size_t others = 1000; /* charged by someone else */
    for (size_t b = 0; b < sizeof bodies / sizeof *bodies; b++) {
        size_t took = charge_of(bodies[b]), limit = others;
        assert_true(took > 0);
        for (;; limit++) {
            size_t used = others;
            sdk_memory memory = {.used = &used, .limit = limit};
            sdk_response r;
            char why[512];
            int rc =
                sdk_response_decode(bodies[b], strlen(bodies[b]), &memory, &r, why, sizeof why);
            if (rc == 0) {
                assert_int_equal(used, others + took);
                sdk_response_free(&r);
                break;
            }
            if (rc != RT_ETOOBIG || !strstr(why, "the decoded answer would pass its memory limit"))
                fail_msg("body %zu, limit %zu (it took %zu): %d %s", b, limit, took, rc, why);
            assert_int_equal(used, others);
            assert_empty(&r);
        }
        assert_true(limit >= others + took);
    }
}

/* What a decoded answer is charged: 16 bytes a point and little more; a series of one point is
 * not charged the room its array had while it was read. The message says where it stopped. */
static void test_decode_memory_charged(void **state) {
    (void)state;
    char *long_series = points_body(1, 100000), *short_series = points_body(10000, 1);
    size_t took = charge_of(long_series);
    assert_in_range(took, 100000 * 16, 100000 * 16 + 1000);
    took = charge_of(short_series);
    assert_in_range(took, 10000 * (16 + 16), 10000 * 400); /* not 1 KiB for 64 points each */
    size_t used = 0;
    sdk_memory memory = {.used = &used, .limit = 1 << 20};
    sdk_response r;
    char why[512];
    assert_int_equal(
        sdk_response_decode(long_series, strlen(long_series), &memory, &r, why, sizeof why),
        RT_ETOOBIG);
    /* 32768 points hold 512 KiB; room for twice as many would pass 1 MiB while they are copied */
    assert_string_equal(why, "data.result[0].values[32768][1]: the decoded answer would pass its "
                             "memory limit (1048576 bytes)");
    assert_int_equal(used, 0);
    free(long_series);
    free(short_series);
}

static void test_decode_wrong_shapes(void **state) {
    (void)state;
    static const struct {
        const char *data, *why;
    } cases[] = {
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":\"x\"}]}",
         "data.result[0].values: must be a list (got a string)"},
        {"{\"result\":[{\"metric\":{},\"values\":\"x\"}],\"resultType\":\"matrix\"}",
         "data.result[0].values: must be a list (got a string)"},
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[1,\"1\"],[2,\"x\"]]}]"
         "}",
         "data.result[0].values[1][1]: \"x\" is not a number"},
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[1,2]]}]}",
         "data.result[0].values[0][1]: must be a string (got a number)"},
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[1]]}]}",
         "data.result[0].values[0]: must be a pair [time, \"value\"] (got 1 item)"},
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[1,\"1\",2]]}]}",
         "data.result[0].values[0][2]: is one too many: a point is [time, \"value\"] (got a "
         "number)"},
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[{}]}]}",
         "data.result[0].values[0]: must be a pair [time, \"value\"] (got an object)"},
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[{},\"1\"]]}]}",
         "data.result[0].values[0][0]: must be a time in seconds, or in nanoseconds as a string "
         "(got an object)"},
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"job\":1},\"values\":[]}]}",
         "data.result[0].metric.job: label values must be strings (got a number)"},
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":[],\"values\":[]}]}",
         "data.result[0].metric: must be an object of labels (got a list)"},
        {"{\"resultType\":\"matrix\",\"result\":[[1]]}",
         "data.result[0]: must be a series or a stream (got a list)"},
        {"{\"resultType\":\"matrix\",\"result\":{}}",
         "data.result: must be a list (got an object)"},
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"value\":[1,\"1\"]}]}",
         "data.result[0]: is a series with one \"value\", which a \"matrix\" result does not "
         "hold"},
        {"{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,\"1\"]},{\"metric\":{}"
         ","
         "\"values\":[[1,\"1\"]]}]}",
         "data.result[1]: is a series with \"values\", which a \"vector\" result does not hold"},
        {"{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[\"1\",\"1\"]}]}",
         "data.result[0].value[0]: must be a time in seconds (got a string)"},
        {"{\"resultType\":\"streams\",\"result\":[{\"metric\":{},\"values\":[[1,\"1\"]]}]}",
         "data.result[0]: is a series with \"values\", which a \"streams\" result does not hold"},
        {"{\"resultType\":\"streams\",\"result\":[{\"stream\":{},\"values\":[[\"x\",\"1\"]]}]}",
         "data.result[0].values[0][0]: \"x\" is not a time in nanoseconds"},
        {"{\"resultType\":\"streams\",\"result\":[{\"stream\":{},\"values\":[[\"1\",\"a\"],[2,"
         "\"2\"]]}]}",
         "data.result[0].values[1][1]: a series holds either points or log entries, not both"},
        {"{\"resultType\":\"streams\",\"result\":[{\"stream\":{},\"metric\":{}}]}",
         "data.result[0]: has both \"stream\" and \"metric\""},
        {"{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[\"Inf\",\"1\"]]}]}",
         "data.result[0].values[0][0]: \"Inf\" is not a time in nanoseconds"},
        {"{\"resultType\":\"scalar\",\"result\":[1,\"x\"]}",
         "data.result[1]: \"x\" is not a number"},
        {"{\"resultType\":\"scalar\",\"result\":[1]}",
         "data.result: must be [time, \"value\"] (got 1 item)"},
        {"{\"resultType\":\"scalar\",\"result\":[1,\"1\",2]}",
         "data.result[2]: is one too many: a scalar or string is [time, \"value\"] (got a "
         "number)"},
        {"{\"resultType\":\"string\",\"result\":[1,2]}",
         "data.result[1]: must be a string (got a number)"},
        {"{\"resultType\":\"scalar\",\"result\":[]}", "data.result: a scalar is [time, \"value\"]"},
        {"{\"resultType\":\"matrix\",\"result\":[1,\"1\"]}",
         "data.result: a matrix is a list of series or streams"},
        {"{\"resultType\":\"foo\",\"result\":[]}",
         "data.resultType: unknown \"foo\" (known: matrix, vector, scalar, string, streams)"},
        {"{\"resultType\":1,\"result\":[]}", "data.resultType: must be a string (got a number)"},
        {"{\"resultType\":\"matrix\"}", "missing data.result"},
        /* the first misfit found before resultType came is the one reported */
        {"{\"result\":[{\"metric\":{\"a\":1},\"values\":\"x\"}],\"resultType\":\"matrix\"}",
         "data.result[0].metric.a: label values must be strings (got a number)"},
    };
    char body[1024];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(body, sizeof body, "{\"status\":\"success\",\"data\":%s}", cases[i].data);
        expect_decode(body, -1, cases[i].why);
    }
    expect_decode("{\"status\":\"weird\",\"data\":{}}", -1,
                  "status: \"weird\" is neither \"success\" nor \"error\"");
    expect_decode("{\"status\":\"success\"}", -1, "missing data");
}

static void test_decode_empty_and_unsorted(void **state) {
    (void)state;
    static const char *const types[] = {"matrix", "vector", "streams"};
    char body[256];
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body,
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\",\"result\":[]}}",
                 types[i]);
        sdk_response r = decode_ok(body);
        assert_int_equal(r.n_series + r.n_streams + r.n_entries, 0);
        assert_int_equal(r.type, i == 0   ? SDK_RESULT_MATRIX
                                 : i == 1 ? SDK_RESULT_VECTOR
                                          : SDK_RESULT_STREAMS);
        sdk_response_free(&r);
    }
    /* out of order and a repeated time: sorted, the last of equal times kept */
    sdk_response r = decode_ok(
        "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},"
        "\"values\":[[3,\"3\"],[1,\"1\"],[2,\"2\"],[1,\"1.5\"]]},{\"metric\":{},\"values\":[]}]}}");
    assert_int_equal(r.n_series, 2);
    assert_int_equal(r.series[0].n, 3);
    assert_same(r.series[0].t[0], 1);
    assert_same(r.series[0].v[0], 1.5);
    assert_same(r.series[0].t[2], 3);
    assert_int_equal(r.series[1].n, 0);
    sdk_response_free(&r);
}

static void test_decode_bad_why(void **state) {
    (void)state; /* 'why' may be short, or absent */
    sdk_response r;
    char why[8];
    assert_int_equal(sdk_response_decode("[]", 2, NULL, &r, why, sizeof why), -1);
    assert_string_equal(why, "the bod");
    assert_int_equal(sdk_response_decode("[]", 2, NULL, &r, NULL, 0), -1);
    assert_int_equal(sdk_response_decode("{\"status\":\"error\"}", 18, NULL, &r, NULL, 0), 1);
}

/* ---- Pushing into Lua ------------------------------------------------------------------------ */

static void test_push(void **state) {
    (void)state;
    lua_State *L = new_state();
    push_global(L, matrix_body, "m");
    run(L, "assert(#m == 2 and getmetatable(m) ~= nil)\n"
           "local s = m[2]\n"
           "assert(s.labels.instance == 'localhost:9091' and s.labels.__name__ == 'up')\n"
           "assert(#s == 3)\n"
           "local t, v = s:at(1)\n"
           "assert(t == 1435781430.781 and v == 0)\n"
           "local n = 0\n"
           "for _, x in ipairs(m) do n = n + #x end\n"
           "assert(n == 6)");
    push_global(L, vector_body, "v");
    run(L, "assert(#v == 2 and #v[1] == 1 and select(2, v[1]:at(1)) == 1)");
    push_global(L,
                "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"2."
                "5\"]}}",
                "sc");
    run(L, "assert(sc == 2.5)");
    push_global(L,
                "{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[1,\"hi"
                "\"]}}",
                "st");
    run(L, "assert(st == 'hi')");
    push_global(L, streams_body, "logs");
    run(L, "assert(#logs == 4)\n"
           "assert(logs[1].line == 'bar' and logs[1].ns == '1569266492548155000')\n"
           "assert(logs[1].time == 1569266492.548155, logs[1].time)\n"
           "assert(logs[1].labels.job == 'varlogs' and logs[3].labels == logs[1].labels)\n"
           "assert(logs[2].labels.job == 'other' and logs[2].line == 'b\\u{e4}z\\n')");
    push_global(L, "{\"status\":\"success\",\"data\":[{\"job\":\"a\"},{\"job\":\"b\"}]}", "d");
    run(L, "assert(#d == 2 and d[2].job == 'b')");
    lua_close(L);
}

/* ---- Series ---------------------------------------------------------------------------------- */

static void test_series_reading(void **state) {
    (void)state;
    lua_State *L = new_state();
    run(L, "local s = S.new{ labels = { job = 'api', code = 500 },\n"
           "  points = { {0, 1}, {60, 4}, {120, 0/0}, {180, 2}, {240, 3} } }\n"
           "assert(#s == 5)\n"
           "local l = s.labels\n"
           "assert(l.job == 'api' and l.code == '500')\n"
           "l.job = 'changed'\n"
           "assert(s.labels.job == 'api' and s:label('job') == 'api' and s:label('x') == nil)\n"
           "local t, v = s:at(2) assert(t == 60 and v == 4)\n"
           "t, v = s:at(-1) assert(t == 240 and v == 3)\n"
           "assert(s:at(6) == nil and s:at(0) == nil and s:at(-6) == nil)\n"
           "t, v = s:first() assert(t == 0 and v == 1)\n"
           "t, v = s:last() assert(t == 240 and v == 3)\n"
           "local ts, vs = {}, {}\n"
           "for t, v in s:points() do ts[#ts + 1] = t vs[#vs + 1] = v end\n"
           "assert(#ts == 5 and ts[5] == 240 and vs[2] == 4 and vs[3] ~= vs[3])\n"
           "local times, values = s:times(), s:values()\n"
           "assert(#times == 5 and times[3] == 120 and values[5] == 3 and values[3] ~= values[3])\n"
           "v, t = s:min() assert(v == 1 and t == 0)\n"
           "v, t = s:max() assert(v == 4 and t == 60)\n"
           "assert(s:sum() == 10 and s:mean() == 2.5)\n"
           "assert(s:quantile(0) == 1 and s:quantile(1) == 4 and s:quantile(0.5) == 2.5)\n"
           "assert(s:quantile(0.25) == 1.75)\n"
           "local e = S.new{}\n"
           "assert(#e == 0 and e:first() == nil and e:min() == nil and e:mean() == nil)\n"
           "assert(e:sum() == 0 and e:quantile(0.5) == nil and next(e.labels) == nil)\n"
           "local nan = S.new{ times = {1, 2}, values = {0/0, 0/0} }\n"
           "assert(nan:max() == nil and nan:mean() == nil and nan:sum() == 0)\n"
           "assert(tostring(s) == 'series{code=\"500\", job=\"api\"} (5 points, '\n"
           "  .. '1970-01-01T00:00:00Z to 1970-01-01T00:04:00Z)', tostring(s))\n"
           "assert(tostring(e) == 'series{} (no points)')\n");
    lua_close(L);
}

static void test_series_transform(void **state) {
    (void)state;
    lua_State *L = new_state();
    run(L,
        "local function pts(s) local o = {} for t, v in s:points() do\n"
        "  o[#o + 1] = v ~= v and ('%g:nan'):format(t) or ('%g:%g'):format(t, v) end\n"
        "  return table.concat(o, ' ') end\n"
        "local a = S.new{ labels = { job = 'api', code = '500' },\n"
        "  points = { {0, 1}, {60, 2}, {120, 0/0}, {180, 4} } }\n"
        "local b = S.new{ labels = { job = 'api', code = '502' },\n"
        "  times = {60, 120, 180, 240}, values = {10, 20, 0, 30} }\n"
        "assert(pts(a + b) == '60:12 120:nan 180:4', pts(a + b))\n"
        "assert(pts(b - a) == '60:8 120:nan 180:-4')\n"
        "assert(pts(a * b) == '60:20 120:nan 180:0')\n"
        "assert(pts(a / b) == '60:0.2 120:nan 180:nan', pts(a / b))\n"
        "assert(pts(a * 2) == '0:2 60:4 120:nan 180:8')\n"
        "assert(pts(10 - a) == '0:9 60:8 120:nan 180:6')\n"
        "assert(pts(a / 0) == '0:nan 60:nan 120:nan 180:nan')\n"
        "assert(pts(2 / a) == '0:2 60:1 120:nan 180:0.5')\n"
        "assert(pts(-a) == '0:-1 60:-2 120:nan 180:-4')\n"
        "local l = (a + b).labels\n"
        "assert(l.job == 'api' and l.code == nil)\n"
        "assert((a * 2).labels.code == '500')\n"
        "assert(pts(a:slice(60, 120)) == '60:2 120:nan')\n"
        "assert(pts(a:slice(61)) == '120:nan 180:4' and pts(a:slice(nil, 0)) == '0:1')\n"
        "assert(#a:slice(200) == 0 and #a:slice(120, 60) == 0)\n"
        "assert(pts(a:fill(0)) == '0:1 60:2 120:0 180:4')\n"
        "assert(pts(a:align(30)) == '0:1 30:nan 60:2 90:nan 120:nan 150:nan 180:4')\n"
        "assert(pts(a:align(90, -30, 200)) == '-30:nan 60:2 150:nan', pts(a:align(90, -30, 200)))\n"
        "assert(pts(a:align(60, 30, 150)) == '30:1 90:2 150:nan')\n"
        "assert(pts(a:align(0.1, 0, 0.3)) == '0:1 0.1:nan 0.2:nan 0.3:nan')\n"
        "assert(#S.new{}:align(60) == 0 and #S.new{}:align(60, 0, 120) == 3)\n"
        "assert(a:align(60).labels.code == '500')\n");
    lua_close(L);
}

static void test_series_errors(void **state) {
    (void)state;
    lua_State *L = new_state();
    run(L, "s = S.new{ points = { {0, 1}, {60, 2} } }");
    static const char *const cases[][2] = {
        {"S.new(5)", "inquest.series.new: expects a table { labels = …, points = … } (got number)"},
        {"S.new{ point = {} }",
         "inquest.series.new: unknown field 'point' (fields: labels, points, times, values)"},
        {"S.new{ {1, 2} }",
         "inquest.series.new: fields must be named (labels, points, times, values)"},
        {"S.new{ points = {}, times = {} }",
         "inquest.series.new: give points, or times and values, not both"},
        {"S.new{ labels = 'x' }",
         "inquest.series.new: labels must be a table of names to strings (got string)"},
        {"S.new{ labels = { 'x' } }",
         "inquest.series.new: labels: names must be strings (got number)"},
        {"S.new{ labels = { a = true } }",
         "inquest.series.new: labels.a must be a string (got boolean)"},
        {"S.new{ points = 5 }",
         "inquest.series.new: points must be a list of pairs { t, v } (got number)"},
        {"S.new{ points = { {1, 2}, 3 } }",
         "inquest.series.new: points[2] must be a pair { t, v } (got number)"},
        {"S.new{ points = { {'x', 2} } }",
         "inquest.series.new: points[1][1] (a time) must be a finite number (got string)"},
        {"S.new{ points = { {1/0, 2} } }",
         "inquest.series.new: points[1][1] (a time) must be a finite number (got infinity or "
         "NaN)"},
        {"S.new{ points = { {1, 'x'} } }",
         "inquest.series.new: points[1][2] (a value) must be a number or nil (got string)"},
        {"S.new{ points = { {2, 1}, {1, 1} } }",
         "inquest.series.new: points[2][1]: times must increase (got 1 after 2)"},
        {"S.new{ times = {1, 2}, values = {1} }",
         "inquest.series.new: times and values must have the same length (got 2 and 1)"},
        {"S.new{ times = {1}, values = 'x' }",
         "inquest.series.new: values must be a list of numbers (got string)"},
        {"S.new{ times = {1, 1}, values = {1, 2} }",
         "inquest.series.new: times[2]: times must increase (got 1 after 1)"},
        {"S.set(5)", "inquest.series.set: expects a list of series (got number)"},
        {"S.set{ s, {} }", "inquest.series.set: item 2 must be a series (got table)"},
        {"s:align(-1)", "series:align: step must be > 0 (got -1)"},
        {"s:align()", "series:align: step must be a number (got no value)"},
        {"s:align(0/0)", "series:align: step must be > 0 (got nan)"},
        {"s:align(60, 100, 0)", "series:align: end (0) is before start (100)"},
        {"s:align(1e-3, 0, 1e4)",
         "series:align: the grid would have more than 1000000 points (step too small?)"},
        {"s:align(60, 'x')", "series:align: start must be a number (got string)"},
        {"s:align(60, 0, 1/0)", "series:align: start and end must be finite numbers"},
        {"s.align(5, 60)", "series:align: call it on a series, as s:align(…) (got number)"},
        {"s:at('x')", "series:at: i must be a whole number (got string)"},
        {"s:at(1.5)", "series:at: i must be a whole number (got number)"},
        {"s:quantile(2)", "series:quantile: q must be from 0 to 1 (got 2)"},
        {"s:quantile()", "series:quantile: q must be a number (got no value)"},
        {"s:slice('a')", "series:slice: t0 must be a number (got string)"},
        {"s:fill()", "series:fill: v must be a number (got no value)"},
        {"s:label(1)", "series:label: name must be a string (got number)"},
        {"s:evidence(1)", "series:evidence: title must be a string (got number)"},
        {"s:evidence('t', {})", "series:evidence: unit must be a string (got table)"},
        {"local x = s + 'a'", "series +: operands must be series or numbers (got string)"},
        {"local x = {} * s", "series *: operands must be series or numbers (got table)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_error(L, cases[i][0], cases[i][1]);
    lua_close(L);
}

/* The memory of a series is the Lua state's: 16 bytes a point. */
static void test_series_memory(void **state) {
    (void)state;
    lua_State *L = new_state();
    lua_gc(L, LUA_GCCOLLECT);
    int before = lua_gc(L, LUA_GCCOUNT);
    run(L, "big = S.new{}:align(1, 0, 99999)");
    int after = lua_gc(L, LUA_GCCOUNT);
    assert_true(after - before >= 100000 * 16 / 1024);
    lua_close(L);
}

/* ---- Sets ------------------------------------------------------------------------------------ */

static const char set_fixture[] =
    "local function s(labels, times, values) return S.new{ labels = labels, times = times,\n"
    "  values = values } end\n"
    "set = S.set{\n"
    "  s({ job = 'api', code = '500', pod = 'a' }, {0, 60, 120}, {1, 2, 3}),\n"
    "  s({ job = 'api', code = '502', pod = 'a' }, {60, 120, 180}, {10, 0/0, 30}),\n"
    "  s({ job = 'api', code = '500', pod = 'b' }, {0, 60}, {5, 0/0}),\n"
    "  s({ job = 'web', code = '200' }, {0, 60, 120, 180}, {100, 100, 100, 100}),\n"
    "}\n"
    "function pts(x) local o = {} for t, v in x:points() do\n"
    "  o[#o + 1] = v ~= v and ('%g:nan'):format(t) or ('%g:%g'):format(t, v) end\n"
    "  return table.concat(o, ' ') end\n";

static void test_set_methods(void **state) {
    (void)state;
    lua_State *L = new_state();
    run(L, set_fixture);
    run(L, "assert(#set == 4 and tostring(set) == 'series set (4 series)')\n"
           "local n = 0 for i, x in ipairs(set) do n = n + #x end assert(n == 12)\n"
           "local f = set:filter{ code = '500' }\n"
           "assert(#f == 2 and f[1] == set[1] and f[2] == set[3] and getmetatable(f) == "
           "getmetatable(set))\n"
           "assert(#set:filter{ code = { '502', 200 } } == 2)\n"
           "assert(#set:filter{ code = '500', pod = 'b' } == 1)\n"
           "assert(#set:filter{ pod = '' } == 1)  -- absent is empty, as in PromQL\n"
           "assert(#set:filter{ code = {} } == 0 and #set:filter{} == 4)\n"
           "assert(#set:filter(function(x) return #x > 2 end) == 3)\n"
           "local g = set:group_by('code')\n"
           "assert(#g['500'] == 2 and #g['502'] == 1 and #g['200'] == 1)\n"
           "assert(getmetatable(g['500']) == getmetatable(set))\n"
           "g = set:group_by('job', 'pod')\n"
           "assert(#g['api,a'] == 2 and #g['api,b'] == 1 and #g['web,'] == 1)\n"
           "local l = set:labels('code')\n"
           "assert(#l == 3 and l[1] == '200' and l[2] == '500' and l[3] == '502')\n"
           "assert(#set:labels('pod') == 2 and #set:labels('none') == 0)\n"
           "local top = set:top(2)\n"
           "assert(#top == 2 and top[1] == set[4] and top[2] == set[2])\n"
           "top = set:top(10, 'mean')\n"
           "assert(#top == 4 and top[1] == set[4] and top[2] == set[2] and top[3] == set[3])\n"
           "assert(set:top(1, 'last')[1] == set[4] and set:top(1, 'min')[1] == set[4])\n"
           "assert(set:top(2, 'sum')[2] == set[2] and #set:top(0) == 0)\n"
           "local a = set:align(60, 0, 180)\n"
           "assert(#a == 4 and pts(a[2]) == '0:nan 60:10 120:nan 180:30')\n"
           "assert(pts(set:align(120)[1]) == '0:1 120:3')\n");
    lua_close(L);
}

static void test_set_aggregation(void **state) {
    (void)state;
    lua_State *L = new_state();
    run(L, set_fixture);
    run(L, "local t = set:total()\n"
           "assert(pts(t) == '0:106 60:112 120:103 180:130', pts(t))\n"
           "assert(next(t.labels) == nil)\n"
           "local by = set:sum_by('code')\n"
           "assert(#by == 3 and by[1].labels.code == '500' and by[1].labels.job == nil)\n"
           "assert(pts(by[1]) == '0:6 60:2 120:3', pts(by[1]))\n"
           "assert(pts(by[2]) == '60:10 120:nan 180:30', pts(by[2]))\n"
           "assert(pts(set:sum('job')[1]) == '0:6 60:12 120:3 180:30')\n"
           "assert(pts(set:avg_by('job')[1]) == '0:3 60:6 120:3 180:30')\n"
           "assert(pts(set:max_by('job')[1]) == '0:5 60:10 120:3 180:30')\n"
           "assert(pts(set:min_by('job')[1]) == '0:1 60:2 120:3 180:30')\n"
           "assert(pts(set:count_by('job')[1]) == '0:2 60:2 120:1 180:1')\n"
           "local two = set:sum_by('job', 'pod')\n"
           "assert(#two == 3 and two[3].labels.job == 'web' and two[3].labels.pod == nil)\n"
           "local e = S.set{}\n"
           "assert(#e:total() == 0 and #e:sum_by('x') == 0 and #e:filter{} == 0)\n"
           "assert(#e:align(60) == 0 and #e:top(3) == 0 and #e:labels('x') == 0)\n");
    lua_close(L);
}

static void test_set_errors(void **state) {
    (void)state;
    lua_State *L = new_state();
    run(L, set_fixture);
    static const char *const cases[][2] = {
        {"set.filter(5)", "set:filter: call it on a series set, as set:filter(…) (got number)"},
        {"set.filter({}, {})", "set:filter: call it on a series set, as set:filter(…) (got table)"},
        {"set:filter(5)",
         "set:filter: expects a table of labels to values, or a function (got number)"},
        {"set:filter{ code = true }",
         "set:filter: code must be a string or a list of strings (got boolean)"},
        {"set:filter{ code = { 'a', {} } }", "set:filter: code[2] must be a string (got table)"},
        {"set:filter{ 'x' }", "set:filter: label names must be strings (got number)"},
        {"set:group_by()", "set:group_by: expects one or more label names"},
        {"set:group_by('a', 1)",
         "set:group_by: label names must be strings (argument 2 is number)"},
        {"set:sum_by(true)", "set:sum_by: label names must be strings (argument 1 is boolean)"},
        {"set:top()", "set:top: k must be a whole number >= 0 (got no value)"},
        {"set:top(-1)", "set:top: k must be a whole number >= 0 (got -1)"},
        {"set:top(1.5)", "set:top: k must be a whole number >= 0 (got 1.5)"},
        {"set:top(1, 'median')",
         "set:top: by must be one of max, min, mean, last, sum (got \"median\")"},
        {"set:top(1, 2)", "set:top: by must be one of max, min, mean, last, sum (got number)"},
        {"set:labels()", "set:labels: name must be a string (got no value)"},
        {"set:align(0)", "set:align: step must be > 0 (got 0)"},
        {"set:align(60, 100, 0)", "set:align: end (0) is before start (100)"},
        {"set:evidence(5)", "set:evidence: title must be a string (got number)"},
        {"local b = S.set{} b[1] = 5 b:total()",
         "set:total: item 1 of the set must be a series (got number)"},
        {"local b = S.set{} b[1] = {} b:filter{}",
         "set:filter: item 1 of the set must be a series (got table)"},
        {"set:filter(function() error('inside') end)", "inside"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_error(L, cases[i][0], cases[i][1]);
    lua_close(L);
}

/* ---- Evidence -------------------------------------------------------------------------------- */

/* The finding { title = "f", evidence = { EXPR } } as canonical JSON. */
static char *finding(lua_State *L, const char *expr) {
    char code[512], why[512];
    snprintf(code, sizeof code, "return { title = 'f', evidence = { %s } }", expr);
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
    json_t *j = sdk_finding_to_json(L, -1, why, sizeof why);
    if (!j)
        fail_msg("%s: %s", expr, why);
    lua_settop(L, 0);
    char *text = rt_json_canonical(json_object_get(j, "evidence"));
    json_decref(j);
    return text;
}

static void test_evidence(void **state) {
    (void)state;
    lua_State *L = new_state();
    run(L, "a = S.new{ labels = { job = 'api' }, points = { {0, 1}, {60, 0/0} } }\n"
           "b = S.new{ labels = { job = 'web' }, points = { {0, 2} } }");
    char *j = finding(L, "a:evidence('Errors', 'req/s')");
    assert_string_equal(j, "[{\"kind\":\"timeseries\",\"series\":[{\"labels\":{\"job\":\"api\"},"
                           "\"points\":[[0,1],[60,null]]}],\"title\":\"Errors\",\"unit\":"
                           "\"req/s\"}]");
    free(j);
    j = finding(L, "S.set{ a, b }");
    assert_string_equal(j, "[{\"kind\":\"timeseries\",\"series\":[{\"labels\":{\"job\":\"api\"},"
                           "\"points\":[[0,1],[60,null]]},{\"labels\":{\"job\":\"web\"},"
                           "\"points\":[[0,2]]}]}]");
    free(j);
    j = finding(L, "S.set{ a, b }:evidence('both')");
    assert_non_null(strstr(j, "\"title\":\"both\""));
    free(j);

    /* more than 20 series: the first 20, marked truncated */
    run(L, "local l = {} for i = 1, 25 do l[i] = b * i end big = S.set(l)");
    j = finding(L, "big");
    json_t *e = json_loads(j, 0, NULL);
    json_t *series = json_object_get(json_array_get(e, 0), "series");
    assert_int_equal(json_array_size(series), 20);
    assert_true(json_is_true(json_object_get(json_array_get(e, 0), "truncated")));
    json_decref(e);
    free(j);

    /* more than 2,000 points: the lowest and highest of each of 1,000 runs, so that a spike and
     * a dip survive */
    run(L, "local t, v = {}, {} for i = 1, 5000 do t[i] = i v[i] = i % 7 end\n"
           "v[2501] = 1000 v[3333] = -1000 long = S.new{ times = t, values = v }\n"
           "ev = long:evidence()\n"
           "local p = ev.series[1].points\n"
           "assert(#p == 2000, #p)\n"
           "local hi, lo = false, false\n"
           "for i, x in ipairs(p) do hi = hi or x[2] == 1000 lo = lo or x[2] == -1000\n"
           "  assert(i == 1 or x[1] > p[i - 1][1]) end\n"
           "assert(hi and lo)");
    j = finding(L, "ev");
    assert_null(strstr(j, "truncated"));
    free(j);
    lua_close(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_matrix),
        cmocka_unit_test(test_decode_vector_scalar_string),
        cmocka_unit_test(test_decode_streams),
        cmocka_unit_test(test_decode_loki_matrix),
        cmocka_unit_test(test_decode_other_data),
        cmocka_unit_test(test_decode_member_order),
        cmocka_unit_test(test_decode_special_values),
        cmocka_unit_test(test_decode_numbers_as_strtod),
        cmocka_unit_test(test_decode_error_envelope),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_memory_limit),
        cmocka_unit_test(test_decode_memory_charged),
        cmocka_unit_test(test_decode_wrong_shapes),
        cmocka_unit_test(test_decode_empty_and_unsorted),
        cmocka_unit_test(test_decode_bad_why),
        cmocka_unit_test(test_push),
        cmocka_unit_test(test_series_reading),
        cmocka_unit_test(test_series_transform),
        cmocka_unit_test(test_series_errors),
        cmocka_unit_test(test_series_memory),
        cmocka_unit_test(test_set_methods),
        cmocka_unit_test(test_set_aggregation),
        cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_evidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
