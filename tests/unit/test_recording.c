/* tests/unit/test_recording.c -- runtime/rt_recording.c: record, save, load and replay in order;
 * JSON, text and binary bodies; recorded transport errors; request bodies as part of the key;
 * every kind of load error with its place; meta data kept and credentials dropped; the cost of
 * a match. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "rt_recording.h"

#if defined(__SANITIZE_ADDRESS__)
/* test_add_out_of_memory asks for more than malloc can give: ASan must answer NULL, as malloc
 * does, rather than abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "allocator_may_return_null=1";
}
#endif

/* ---- helpers -------------------------------------------------------------------------------- */

static char dir[64];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_recording_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[512];
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    return rmdir(dir);
}

/* The path of 'name' in the test's folder (one static buffer per call site is enough here). */
static const char *at(const char *name) {
    static char paths[4][512];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* The file at 'path' as a malloc'd string. */
static char *read_text(const char *path) {
    char *data = NULL, why[256];
    size_t len;
    assert_int_equal(rt_file_read(path, SIZE_MAX, &data, &len, why), RT_OK);
    return data;
}

static void save(rt_recording *r, const char *path) {
    char why[256] = "";
    int rc = rt_recording_save(r, path, why);
    if (rc != RT_OK)
        fail_msg("save %s: %s: %s", path, rt_errname(rc), why);
}

static rt_recording *load_ok(const char *path) {
    rt_recording *r = NULL;
    rt_diag diag = {0};
    int rc = rt_recording_load(path, &r, &diag);
    if (rc != RT_OK) {
        char *dump = diag.items ? json_dumps(diag.items, JSON_INDENT(1)) : NULL;
        fail_msg("load %s: %s\n%s", path, rt_errname(rc), dump ? dump : "");
    }
    rt_diag_free(&diag);
    assert_int_equal(rt_recording_get_mode(r), RT_RECORDING_REPLAY);
    return r;
}

static rt_exchange response(const char *connector, const char *method, const char *path,
                            const char *body, long status, const char *content_type,
                            const char *text) {
    return (rt_exchange){.connector = connector,
                         .method = method,
                         .path = path,
                         .body = body,
                         .body_len = body ? strlen(body) : 0,
                         .status = status,
                         .content_type = content_type,
                         .response = text,
                         .response_len = strlen(text)};
}

static rt_exchange request(const char *connector, const char *method, const char *path,
                           const char *body) {
    return (rt_exchange){.connector = connector,
                         .method = method,
                         .path = path,
                         .body = body,
                         .body_len = body ? strlen(body) : 0};
}

/* Matches the request and expects 'status' and the response 'text'. */
static void expect_served(rt_recording *r, rt_exchange q, long status, const char *text) {
    assert_int_equal(rt_recording_match(r, &q), RT_OK);
    assert_int_equal(q.error, RT_OK);
    assert_int_equal(q.status, status);
    assert_int_equal(q.response_len, strlen(text));
    assert_string_equal(q.response, text);
}

static void expect_unmatched(rt_recording *r, rt_exchange q) {
    assert_int_equal(rt_recording_match(r, &q), RT_EREPLAY);
}

/* Writes 'text' as a recording, loads it, expects 'rc' and returns the problems. */
static rt_diag load_bad(const char *text, int rc) {
    rt_recording *r = NULL;
    rt_diag diag = {0};
    write_text(at("bad.json"), text);
    assert_int_equal(rt_recording_load(at("bad.json"), &r, &diag), rc);
    assert_null(r);
    return diag;
}

/* Asserts that 'd' has an item at 'line':'column' (0: none) with 'field' (NULL: none) whose
 * message contains 'text'. */
static void assert_item(const rt_diag *d, int line, int column, const char *field,
                        const char *text) {
    size_t i;
    json_t *item;
    json_array_foreach(d->items, i, item) {
        const char *f = json_string_value(json_object_get(item, "field"));
        const char *file = json_string_value(json_object_get(item, "file"));
        if (file && strstr(file, dir) == file &&
            json_integer_value(json_object_get(item, "line")) == line &&
            json_integer_value(json_object_get(item, "column")) == column &&
            (field ? f && strcmp(f, field) == 0 : !f) &&
            strstr(json_string_value(json_object_get(item, "message")), text))
            return;
    }
    char *dump = d->items ? json_dumps(d->items, JSON_INDENT(1)) : NULL;
    fail_msg("no item %d:%d %s '%s' in\n%s", line, column, field ? field : "-", text,
             dump ? dump : "(none)");
}

#define HEAD "{\"schema\": \"inquest.recording/v1\", "

/* ---- record, save, load, replay ------------------------------------------------------------- */

static void test_round_trip(void **state) {
    (void)state;
    rt_recording *r = rt_recording_new();
    assert_int_equal(rt_recording_get_mode(r), RT_RECORDING_RECORD);
    const char *q = "/api/v1/query?query=up&time=1700000000";
    rt_exchange first = response("prom", "GET", q, NULL, 200, "application/json",
                                 "{\"data\":{\"result\":[1]},\"status\":\"success\"}");
    rt_exchange second = response("prom", "GET", q, NULL, 503, "text/plain", "overloaded");
    rt_exchange other = response("prom", "GET", "/api/v1/labels", NULL, 200, "text/plain", "x");
    rt_recording_add(r, &first);
    rt_recording_add(r, &other);
    rt_recording_add(r, &second);
    save(r, at("rec.json"));
    rt_recording_free(r);

    r = load_ok(at("rec.json"));
    /* Equal requests are served in the order they were recorded, each once. */
    expect_served(r, request("prom", "GET", q, NULL), 200,
                  "{\"data\":{\"result\":[1]},\"status\":\"success\"}");
    expect_served(r, request("prom", "GET", q, NULL), 503, "overloaded");
    expect_unmatched(r, request("prom", "GET", q, NULL));
    /* Each part of the request is part of the key. */
    expect_unmatched(r, request("loki", "GET", "/api/v1/labels", NULL));
    expect_unmatched(r, request("prom", "POST", "/api/v1/labels", NULL));
    expect_unmatched(r, request("prom", "GET", "/api/v1/labels?x", NULL));
    expect_served(r, request("prom", "GET", "/api/v1/labels", NULL), 200, "x");
    expect_unmatched(r, request("prom", "GET", "/api/v1/labels", NULL));
    rt_recording_free(r);
}

/* A recording as text (what the service keeps in Redis) is the file's format without its
 * indentation: loaded as a file, it gives back the same exchanges. */
static void test_text(void **state) {
    char why[256] = "", *text = NULL;
    size_t len = 0;
    (void)state;
    rt_recording *r = rt_recording_new();
    rt_exchange json = response("prom", "GET", "/api/v1/query?query=up", NULL, 200,
                                "application/json", "{\"status\":\"success\"}");
    rt_exchange nul = response("es", "POST", "/x/_search", "{}", 200, "text/plain", "a");
    nul.response = "a\0b";
    nul.response_len = 3;
    rt_recording_add(r, &json);
    rt_recording_add(r, &nul);
    json_object_set_new(rt_recording_meta(r), "id", json_string("a-1"));
    assert_int_equal(rt_recording_dumps(r, &text, &len, why), RT_OK);
    assert_int_equal(strlen(text), len);
    assert_null(strchr(text, '\n')); /* compact */
    write_text(at("text.json"), text);
    rt_recording *back = load_ok(at("text.json"));
    assert_string_equal(json_string_value(json_object_get(rt_recording_meta(back), "id")), "a-1");
    expect_served(back, request("prom", "GET", "/api/v1/query?query=up", NULL), 200,
                  "{\"status\":\"success\"}");
    rt_exchange q = request("es", "POST", "/x/_search", "{}");
    assert_int_equal(rt_recording_match(back, &q), RT_OK);
    assert_int_equal(q.response_len, 3);
    assert_memory_equal(q.response, "a\0b", 3);
    rt_recording_free(back);
    free(text);

    /* Meta data the format does not know is refused when the text is made, as on save. */
    json_object_set_new(rt_recording_meta(r), "bogus", json_true());
    assert_int_equal(rt_recording_dumps(r, &text, &len, why), RT_EINPUT);
    assert_null(text);
    assert_non_null(strstr(why, "bogus"));
    rt_recording_free(r);
}

static void test_match_while_recording(void **state) {
    (void)state;
    rt_recording *r = rt_recording_new();
    rt_exchange a = response("es", "GET", "/", NULL, 200, NULL, "one");
    rt_recording_add(r, &a);
    expect_served(r, request("es", "GET", "/", NULL), 200, "one");
    expect_unmatched(r, request("es", "GET", "/", NULL));
    /* An exchange added to an exhausted request is served next. */
    a.response = "two";
    a.response_len = 3;
    rt_recording_add(r, &a);
    expect_served(r, request("es", "GET", "/", NULL), 200, "two");
    rt_recording_free(r);
}

static void test_bodies(void **state) {
    (void)state;
    static const char json[] = "{\"took\":3,\"hits\":{\"total\":{\"value\":2}},\"score\":1.5}";
    static const char binary[] = "\xff\xfe\x00\x01 not UTF-8 \xc3";
    static const char with_nul[] = "a\0b";
    rt_recording *r = rt_recording_new();
    rt_exchange e =
        response("es", "GET", "/json", NULL, 200, "application/json; charset=utf-8", json);
    rt_recording_add(r, &e);
    e = response("loki", "GET", "/text", NULL, 400, "text/plain; charset=utf-8",
                 "parse error at line 1, col 5: syntax error: unexpected IDENTIFIER\n");
    rt_recording_add(r, &e);
    e = response("es", "GET", "/broken-json", NULL, 200, "application/json", "{\"a\":");
    rt_recording_add(r, &e);
    e = response("es", "GET", "/problem", NULL, 404, "application/problem+json", "[1,2]");
    rt_recording_add(r, &e);
    e = response("es", "GET", "/binary", NULL, 200, "application/octet-stream", "");
    e.response = binary;
    e.response_len = sizeof binary - 1;
    rt_recording_add(r, &e);
    e = response("es", "GET", "/nul", NULL, 200, "text/plain", "");
    e.response = with_nul;
    e.response_len = 3;
    rt_recording_add(r, &e);
    e = response("es", "GET", "/empty", NULL, 204, NULL, "");
    rt_recording_add(r, &e);
    save(r, at("bodies.json"));
    rt_recording_free(r);

    /* JSON bodies are JSON values that a reviewer reads; other text is a string; bytes that are
     * not UTF-8 are base64. */
    char *text = read_text(at("bodies.json"));
    json_t *doc = json_loads(text, JSON_ALLOW_NUL, NULL);
    assert_non_null(doc);
    json_t *x = json_object_get(doc, "exchanges");
    assert_int_equal(json_array_size(x), 7);
#define RESPONSE(i) json_object_get(json_array_get(x, i), "response")
    assert_true(json_is_object(json_object_get(RESPONSE(0), "body_json")));
    assert_true(json_is_string(json_object_get(RESPONSE(1), "body")));
    assert_true(json_is_string(json_object_get(RESPONSE(2), "body")));
    assert_true(json_is_array(json_object_get(RESPONSE(3), "body_json")));
    assert_true(json_is_string(json_object_get(RESPONSE(4), "body_base64")));
    assert_true(json_is_string(json_object_get(RESPONSE(5), "body")));
    assert_null(json_object_get(RESPONSE(6), "body"));
    assert_null(json_object_get(RESPONSE(6), "content_type"));
#undef RESPONSE
    assert_non_null(strstr(text, "\n  \"exchanges\": [\n")); /* pretty-printed */
    json_decref(doc);
    free(text);

    r = load_ok(at("bodies.json"));
    rt_exchange q = request("es", "GET", "/json", NULL);
    assert_int_equal(rt_recording_match(r, &q), RT_OK);
    assert_string_equal(q.content_type, "application/json; charset=utf-8");
    json_t *served = json_loadb(q.response, q.response_len, 0, NULL);
    json_t *recorded = json_loads(json, 0, NULL);
    assert_true(json_equal(served, recorded)); /* equal JSON, not necessarily the same bytes */
    json_decref(served);
    json_decref(recorded);
    expect_served(r, request("loki", "GET", "/text", NULL), 400,
                  "parse error at line 1, col 5: syntax error: unexpected IDENTIFIER\n");
    expect_served(r, request("es", "GET", "/broken-json", NULL), 200, "{\"a\":");
    expect_served(r, request("es", "GET", "/problem", NULL), 404, "[1,2]");
    q = request("es", "GET", "/binary", NULL);
    assert_int_equal(rt_recording_match(r, &q), RT_OK);
    assert_int_equal(q.response_len, sizeof binary - 1);
    assert_memory_equal(q.response, binary, sizeof binary - 1);
    q = request("es", "GET", "/nul", NULL);
    assert_int_equal(rt_recording_match(r, &q), RT_OK);
    assert_int_equal(q.response_len, 3);
    assert_memory_equal(q.response, with_nul, 3);
    q = request("es", "GET", "/empty", NULL);
    assert_int_equal(rt_recording_match(r, &q), RT_OK);
    assert_int_equal(q.status, 204);
    assert_int_equal(q.response_len, 0);
    assert_string_equal(q.response, "");
    assert_null(q.content_type);
    rt_recording_free(r);
}

static void test_post_bodies(void **state) {
    (void)state;
    /* Canonical JSON is kept as JSON; other spellings of the same JSON stay strings, because a
     * request is matched byte for byte. */
    static const char canonical[] = "{\"query\":{\"match\":{\"service\":\"checkout\"}},\"size\":0}";
    static const char spaced[] =
        "{\"size\": 0, \"query\": {\"match\": {\"service\": \"checkout\"}}}";
    static const char *const path = "/logs-*/_search";
    rt_recording *r = rt_recording_new();
    rt_exchange e = response("es", "POST", path, canonical, 200, "application/json", "{\"n\":1}");
    rt_recording_add(r, &e);
    e = response("es", "POST", path, spaced, 200, "application/json", "{\"n\":2}");
    rt_recording_add(r, &e);
    e = response("es", "POST", path, "size=0", 200, "application/json", "{\"n\":3}");
    rt_recording_add(r, &e);
    e = response("es", "POST", path, NULL, 200, "application/json", "{\"n\":4}");
    rt_recording_add(r, &e);
    save(r, at("post.json"));
    rt_recording_free(r);

    json_t *doc = json_load_file(at("post.json"), 0, NULL);
    json_t *x = json_object_get(doc, "exchanges");
#define REQUEST(i) json_object_get(json_array_get(x, i), "request")
    assert_true(json_is_object(json_object_get(REQUEST(0), "body_json")));
    assert_string_equal(json_string_value(json_object_get(REQUEST(1), "body")), spaced);
    assert_string_equal(json_string_value(json_object_get(REQUEST(2), "body")), "size=0");
    assert_int_equal(json_object_size(REQUEST(3)), 2); /* method and path: no body */
#undef REQUEST
    json_decref(doc);

    r = load_ok(at("post.json"));
    expect_unmatched(r, request("es", "POST", path, "{\"size\":0}"));
    expect_served(r, request("es", "POST", path, "size=0"), 200, "{\"n\":3}");
    expect_served(r, request("es", "POST", path, spaced), 200, "{\"n\":2}");
    expect_served(r, request("es", "POST", path, NULL), 200, "{\"n\":4}");
    expect_served(r, request("es", "POST", path, canonical), 200, "{\"n\":1}");
    expect_unmatched(r, request("es", "POST", path, canonical));
    expect_unmatched(r, request("es", "GET", path, canonical));
    rt_recording_free(r);
}

static void test_error_exchanges(void **state) {
    (void)state;
    rt_recording *r = rt_recording_new();
    rt_exchange e = request("slow", "GET", "/api/slow", NULL);
    e.error = RT_ETIMEDOUT;
    e.message = "slow: no answer within 0.5 s";
    e.response = "ignored";
    e.response_len = 7;
    rt_recording_add(r, &e);
    e = request("down", "GET", "/", NULL);
    e.error = RT_ECONNREFUSED; /* no message: the error's own is written */
    rt_recording_add(r, &e);
    save(r, at("errors.json"));
    rt_recording_free(r);

    char *text = read_text(at("errors.json"));
    assert_non_null(strstr(text, "\"code\": \"ETIMEDOUT\""));
    assert_non_null(strstr(text, "\"code\": \"ECONNREFUSED\""));
    assert_non_null(strstr(text, "\"message\": \"connection refused\""));
    assert_null(strstr(text, "\"response\""));
    free(text);

    r = load_ok(at("errors.json"));
    rt_exchange q = request("slow", "GET", "/api/slow", NULL);
    assert_int_equal(rt_recording_match(r, &q), RT_OK);
    assert_int_equal(q.error, RT_ETIMEDOUT);
    assert_string_equal(q.message, "slow: no answer within 0.5 s");
    assert_int_equal(q.status, 0);
    assert_int_equal(q.response_len, 0);
    q = request("down", "GET", "/", NULL);
    assert_int_equal(rt_recording_match(r, &q), RT_OK);
    assert_int_equal(q.error, RT_ECONNREFUSED);
    expect_unmatched(r, request("slow", "GET", "/api/slow", NULL));
    rt_recording_free(r);
}

static void test_meta(void **state) {
    (void)state;
    rt_recording *r = rt_recording_new();
    json_t *meta = rt_recording_meta(r);
    json_object_set_new(meta, "analyzer", json_string("http.error_spike"));
    json_object_set_new(meta, "id", json_string("a-123"));
    json_object_set_new(meta, "now", json_string("2026-11-20T14:10:00Z"));
    json_object_set_new(
        meta, "inputs",
        json_pack("{s:s, s:s, s:[i,i]}", "service", "checkout", "window", "30m", "list", 1, 2));
    json_object_set_new(meta, "connectors",
                        json_pack("{s:{s:s, s:s, s:{s:s}}, s:{s:s, s:[s]}}", "prom", "type",
                                  "prometheus", "url", "http://127.0.0.1:9090", "auth", "token",
                                  "s3cr3t", "deploys", "type", "http", "headers",
                                  "X-Secret: s3cr3t"));
    rt_exchange e = response("prom", "GET", "/api/v1/query?query=up", NULL, 200, "text/plain", "");
    rt_recording_add(r, &e);
    save(r, at("meta.json"));
    rt_recording_free(r);

    /* Credentials never reach the file, even when the recorder passed them on. */
    char *text = read_text(at("meta.json"));
    assert_null(strstr(text, "s3cr3t"));
    assert_null(strstr(text, "auth"));
    free(text);

    r = load_ok(at("meta.json"));
    meta = rt_recording_meta(r);
    json_t *expected =
        json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:[i,i]}, s:{s:{s:s, s:s}, s:{s:s}}}", "analyzer",
                  "http.error_spike", "id", "a-123", "now", "2026-11-20T14:10:00Z", "inputs",
                  "service", "checkout", "window", "30m", "list", 1, 2, "connectors", "prom",
                  "type", "prometheus", "url", "http://127.0.0.1:9090", "deploys", "type", "http");
    assert_true(json_equal(meta, expected));
    json_decref(expected);
    rt_recording_free(r);

    /* A member a recording cannot have fails the save and leaves no file. */
    r = rt_recording_new();
    json_object_set_new(rt_recording_meta(r), "analyser", json_string("typo"));
    char why[256];
    assert_int_equal(rt_recording_save(r, at("typo.json"), why), RT_EINPUT);
    assert_non_null(strstr(why, "analyser"));
    assert_int_equal(access(at("typo.json"), F_OK), -1);
    json_object_del(rt_recording_meta(r), "analyser");
    json_object_set_new(rt_recording_meta(r), "now", json_true());
    assert_int_equal(rt_recording_save(r, at("typo.json"), why), RT_EINPUT);
    assert_non_null(strstr(why, "now"));
    rt_recording_free(r);
}

static void test_save_atomic(void **state) {
    (void)state;
    rt_recording *r = rt_recording_new();
    write_text(at("over.json"), "old");
    chmod(at("over.json"), 0600);
    save(r, at("over.json"));
    struct stat st;
    assert_int_equal(stat(at("over.json"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* Only the recording is left in the folder: no temporary file. */
    DIR *d = opendir(dir);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)))
        files += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 1);
    char *text = read_text(at("over.json"));
    assert_string_equal(text,
                        "{\n  \"exchanges\": [],\n  \"schema\": \"inquest.recording/v1\"\n}\n");
    free(text);
    /* A folder that does not exist is an I/O error with the reason. */
    char why[256];
    assert_int_equal(rt_recording_save(r, "/nonexistent-dir/x.json", why), RT_EIO);
    assert_non_null(strstr(why, "/nonexistent-dir/x.json"));
    rt_recording_free(r);
}

/* A recording written by hand, as docs/recording.md shows it. */
static void test_hand_written(void **state) {
    (void)state;
    write_text(at("hand.json"),
               HEAD "\"analyzer\": \"http.error_spike\", \"now\": 1795183200,\n"
                    "\"connectors\": {\"es\": {\"type\": \"elasticsearch\"}},\n"
                    "\"exchanges\": [{\"connector\": \"es\", \"request\": {\"method\": \"POST\",\n"
                    "  \"path\": \"/logs-*/_search\", \"body_json\": {\"size\": 0, \"query\": "
                    "{\"match_all\": {}}}},\n"
                    "  \"response\": {\"status\": 200, \"body_base64\": \"aGk=\"}}]}\n");
    rt_recording *r = load_ok(at("hand.json"));
    /* A request's body_json is matched in its canonical form: sorted keys, compact. */
    expect_served(
        r, request("es", "POST", "/logs-*/_search", "{\"query\":{\"match_all\":{}},\"size\":0}"),
        200, "hi");
    rt_recording_free(r);
}

/* ---- load errors ---------------------------------------------------------------------------- */

static void test_load_syntax_error(void **state) {
    (void)state;
    rt_diag d =
        load_bad(HEAD "\n  \"exchanges\": [\n    {\"connector\": \"x\",,}\n  ]\n}\n", RT_ESYNTAX);
    assert_item(&d, 3, 23, NULL, "expected near ','");
    assert_int_equal(rt_diag_count(&d), 1);
    rt_diag_free(&d);

    d = load_bad("", RT_ESYNTAX);
    assert_item(&d, 1, 1, NULL, "expected");
    rt_diag_free(&d);

    /* A key given twice is a syntax error too: one of the two would be silently lost. */
    d = load_bad(HEAD "\"exchanges\": [], \"id\": \"a\", \"id\": \"b\"}", RT_ESYNTAX);
    assert_item(&d, 1, 67, NULL, "duplicate object key"); /* at the end of the second key */
    rt_diag_free(&d);
}

static void test_load_schema(void **state) {
    (void)state;
    rt_diag d =
        load_bad("{\"schema\": \"inquest.recording/v2\", \"exchanges\": [], \"x\": 1}", RT_ESYNTAX);
    assert_item(&d, 0, 0, "schema",
                "expected \"inquest.recording/v1\", got \"inquest.recording/v2\"");
    assert_int_equal(rt_diag_count(&d), 1); /* another format: nothing else is reported */
    rt_diag_free(&d);

    d = load_bad("{\"exchanges\": []}", RT_ESYNTAX);
    assert_item(&d, 0, 0, "schema", "not an Inquest recording");
    rt_diag_free(&d);

    d = load_bad("[1]", RT_ESYNTAX);
    assert_item(&d, 0, 0, NULL, "expected an object at the top, got an array");
    rt_diag_free(&d);

    d = load_bad("{\"schema\": 1}", RT_ESYNTAX);
    assert_item(&d, 0, 0, "schema", "got an integer");
    rt_diag_free(&d);
}

static void test_load_unknown_members(void **state) {
    (void)state;
    rt_diag d = load_bad(HEAD "\"exchanges\": [{\"connector\": \"a\", \"request\": "
                              "{\"method\": \"GET\", \"path\": \"/\", \"headers\": {}}, "
                              "\"response\": {\"status\": 200, \"bodyy\": \"\"}}], "
                              "\"recorded_at\": 1}",
                         RT_ESYNTAX);
    assert_item(&d, 0, 0, "recorded_at", "unknown member (expected analyzer, connectors,");
    assert_item(&d, 0, 0, "exchanges[0].request.headers", "unknown member");
    assert_item(&d, 0, 0, "exchanges[0].response.bodyy", "unknown member");
    assert_int_equal(rt_diag_count(&d), 3);
    rt_diag_free(&d);
}

static void test_load_types(void **state) {
    (void)state;
    /* Every problem at once, each named by its field path. */
    rt_diag d = load_bad(
        HEAD "\"now\": true, \"inputs\": [], \"id\": 7,\n"
             "\"connectors\": {\"prom\": {\"type\": \"prometheus\", \"auth\": {}}, \"x\": 1},\n"
             "\"exchanges\": [\n"
             "{\"connector\": \"prom\", \"request\": {\"method\": \"GET\", \"path\": 5},\n"
             "  \"response\": {\"status\": 200}},\n"
             "{\"connector\": \"prom\", \"request\": {\"method\": \"get\", \"path\": \"/a b\"},\n"
             "  \"response\": {\"status\": \"200\", \"body\": \"\", \"body_json\": 3}},\n"
             "{\"connector\": \"nope\", \"request\": {\"method\": \"GET\", \"path\": \"q\"},\n"
             "  \"error\": {\"code\": \"EWHAT\"}},\n"
             "{\"connector\": \"prom\", \"request\": {\"method\": \"GET\", \"path\": \"/\"}},\n"
             "{\"connector\": \"prom\", \"request\": {\"method\": \"GET\", \"path\": \"/\"},\n"
             "  \"response\": {\"status\": 99, \"body_base64\": \"a\"}, \"error\": {\"code\": "
             "\"ETIMEDOUT\", \"message\": \"\"}},\n"
             "\"oops\"]}",
        RT_ESYNTAX);
    assert_item(&d, 0, 0, "now", "expected an RFC 3339 time or Unix seconds, got a boolean");
    assert_item(&d, 0, 0, "inputs", "expected an object, got an array");
    assert_item(&d, 0, 0, "id", "expected a string, got an integer");
    assert_item(&d, 0, 0, "connectors.prom.auth", "never part of a recording");
    assert_item(&d, 0, 0, "connectors.x", "expected an object, got an integer");
    assert_item(&d, 0, 0, "exchanges[0].request.path", "expected a string, got an integer");
    assert_item(&d, 0, 0, "exchanges[1].request.method", "HTTP method in capitals");
    assert_item(&d, 0, 0, "exchanges[1].response.status", "expected an integer, got a string");
    assert_item(&d, 0, 0, "exchanges[1].response.body_json",
                "expected an object or an array, got an integer");
    assert_item(&d, 0, 0, "exchanges[1].response", "at most one");
    assert_item(&d, 0, 0, "exchanges[2].connector", "\"nope\" is not one of the recording's");
    assert_item(&d, 0, 0, "exchanges[2].error.code", "\"EWHAT\" is not the name of an Inquest");
    assert_item(&d, 0, 0, "exchanges[2].error.message", "missing (expected a string)");
    assert_item(&d, 0, 0, "exchanges[3]", "neither a response nor an error");
    assert_item(&d, 0, 0, "exchanges[4]", "both a response and an error");
    assert_item(&d, 0, 0, "exchanges[4].response.status", "from 100 to 999, got 99");
    assert_item(&d, 0, 0, "exchanges[4].response.body_base64", "not padded base64");
    assert_item(&d, 0, 0, "exchanges[5]", "expected an object, got a string");
    assert_int_equal(rt_diag_count(&d), 18);
    rt_diag_free(&d);

    /* Numbers in range: a clock that no integer holds, a size that would wrap as a size_t. */
    d = load_bad(HEAD
                 "\"now\": 1e300, \"connectors\": {\"prom\": {\"type\": \"prometheus\"}},\n"
                 "\"exchanges\": [\n"
                 "{\"connector\": \"prom\", \"request\": {\"method\": \"GET\", \"path\": \"/\"},\n"
                 "  \"response\": {\"status\": 200, \"bytes\": -1}},\n"
                 "{\"connector\": \"prom\", \"request\": {\"method\": \"GET\", \"path\": \"/\"},\n"
                 "  \"response\": {\"status\": 200, \"bytes\": 268435457}},\n"
                 "{\"connector\": \"prom\", \"request\": {\"method\": \"GET\", \"path\": \"/\"},\n"
                 "  \"response\": {\"status\": 200, \"bytes\": 268435456}}]}",
                 RT_ESYNTAX);
    assert_item(&d, 0, 0, "now", "time \"1e+300\" is outside the years 0001 to 9999");
    assert_item(&d, 0, 0, "exchanges[0].response.bytes",
                "expected a size from 0 to 268435456 bytes, got -1");
    assert_item(&d, 0, 0, "exchanges[1].response.bytes", "got 268435457");
    assert_int_equal(rt_diag_count(&d), 3);
    rt_diag_free(&d);

    d = load_bad(HEAD "\"now\": \"now-1h\"}", RT_ESYNTAX);
    assert_item(&d, 0, 0, "now", "not one relative to now");
    assert_item(&d, 0, 0, "exchanges", "missing (expected an array)");
    rt_diag_free(&d);
}

static void test_load_files(void **state) {
    (void)state;
    rt_recording *r = (rt_recording *)1;
    rt_diag d = {0};
    assert_int_equal(rt_recording_load(at("missing.json"), &r, &d), RT_ENOTFOUND);
    assert_null(r);
    assert_item(&d, 0, 0, NULL, "missing.json");
    rt_diag_free(&d);

    /* Over 256 MiB: refused before reading (the file is sparse). */
    FILE *f = fopen(at("huge.json"), "wb");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), ((off_t)256 << 20) + 1), 0);
    fclose(f);
    assert_int_equal(rt_recording_load(at("huge.json"), &r, &d), RT_ETOOBIG);
    assert_item(&d, 0, 0, NULL, "256 MiB");
    rt_diag_free(&d);
    unlink(at("huge.json"));
}

static void test_errcode_names(void **state) {
    (void)state;
#define XX(name, msg) assert_int_equal(rt_errcode_from_name(rt_errname(RT_##name)), RT_##name);
    RT_ERRNO_MAP(XX)
#undef XX
    assert_int_equal(rt_errcode_from_name("OK"), RT_OK);
    assert_int_equal(rt_errcode_from_name("etimedout"), RT_OK);
    assert_int_equal(rt_errcode_from_name(""), RT_OK);
}

/* A body too large for memory (its size comes from the network) loses its exchange and the
 * recording, which save and dumps then refuse, saying why; the process goes on. */
static void test_add_out_of_memory(void **state) {
    (void)state;
    rt_recording *r = rt_recording_new();
    rt_exchange e = response("prom", "GET", "/q", NULL, 200, NULL, "ok");
    assert_int_equal(rt_recording_add(r, &e), RT_OK);
    e.response_len = (size_t)1 << 62; /* malloc refuses it before reading a byte */
    assert_int_equal(rt_recording_add(r, &e), RT_ENOMEM);
    char why[256], *text = NULL;
    size_t len = 0;
    assert_int_equal(rt_recording_save(r, at("lost.json"), why), RT_ENOMEM);
    assert_string_equal(why, "out of memory keeping a response of 4611686018427387904 bytes from "
                             "prom: the recording is incomplete");
    assert_int_equal(access(at("lost.json"), F_OK), -1);
    assert_int_equal(rt_recording_dumps(r, &text, &len, why), RT_ENOMEM);
    assert_null(text);
    /* the exchanges it kept still replay */
    rt_exchange q = request("prom", "GET", "/q", NULL);
    expect_served(r, q, 200, "ok");
    rt_recording_free(r);
}

/* ---- cost ----------------------------------------------------------------------------------- */

/* 1,000 cases of 10 calls each replay 10,000 matches: each must cost microseconds at most. */
static void test_match_cost(void **state) {
    (void)state;
    enum { N = 20000 };
    char path[160];
    rt_recording *r = rt_recording_new();
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof path,
                 "/api/v1/query_range?query=sum%%20by%%20(endpoint)%%20(rate(http_requests_total"
                 "%%7Bservice%%3D%%22checkout%%22%%7D%%5B1m%%5D))&start=%d&step=30",
                 i / 2); /* every request twice */
        rt_exchange e = response("prom", "GET", path, NULL, 200, "application/json", "{}");
        rt_recording_add(r, &e);
    }
    double start = rt_monotonic();
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof path,
                 "/api/v1/query_range?query=sum%%20by%%20(endpoint)%%20(rate(http_requests_total"
                 "%%7Bservice%%3D%%22checkout%%22%%7D%%5B1m%%5D))&start=%d&step=30",
                 i / 2);
        rt_exchange q = request("prom", "GET", path, NULL);
        assert_int_equal(rt_recording_match(r, &q), RT_OK);
    }
    double per_match = (rt_monotonic() - start) / N;
    print_message("match: %.2f us each (snprintf included)\n", per_match * 1e6);
    assert_true(per_match < 20e-6); /* generous: sanitizer builds and loaded CI machines */
    rt_recording_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_match_while_recording, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_exchanges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hand_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_unknown_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errcode_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_out_of_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_match_cost, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
