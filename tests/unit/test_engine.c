/* tests/unit/test_engine.c -- the engine in one process: results, determinism, input and
 * definition problems, that the process goes on after every kind of budget hit, and that a
 * connector answer too large for the memory budget fails its call without taking the process'
 * memory with it. */
#define _DEFAULT_SOURCE /* mkdtemp, symlink */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "rt_recording.h"
#include "wk.h"

#define SRC_ROOT TESTS_DIR "/.."

static wk_engine *new_engine(void) {
    const char *root = TESTS_DIR "/sdk/analyzers";
    return wk_engine_new(&root, 1);
}

/* Runs 'analyzer' with the "k=v" string inputs that follow (NULL-terminated). */
static int run(wk_engine *engine, const char *analyzer, json_t **result, rt_diag *diag,
               const char *id, const wk_limits *limits, ...) {
    json_t *inputs = json_object();
    va_list ap;
    va_start(ap, limits);
    for (const char *kv; (kv = va_arg(ap, const char *));) {
        const char *eq = strchr(kv, '=');
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        json_object_set_new(inputs, key, json_string(eq + 1));
    }
    va_end(ap);
    wk_request request = {.analyzer = analyzer, .inputs = inputs, .id = id, .now = 1795262400};
    if (limits)
        request.limits = *limits;
    else
        wk_limits_default(&request.limits);
    int rc = wk_run(engine, &request, result, diag);
    json_decref(inputs);
    return rc;
}

static const char *status_of(json_t *result) {
    return json_string_value(json_object_get(result, "status"));
}

static void drop_timing(json_t *result) {
    size_t i;
    json_t *step;
    json_object_del(result, "timing");
    json_array_foreach(json_object_get(result, "steps"), i, step)
        json_object_del(step, "duration_ms");
}

static void test_example_runs_and_concludes(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    json_t *result = NULL;
    rt_diag diag = {0};
    assert_int_equal(run(engine, SRC_ROOT "/examples/hello/hello.lua", &result, &diag, "x", NULL,
                         "service=checkout", "window=30m", NULL),
                     RT_OK);
    assert_string_equal(status_of(result), "ok");
    assert_string_equal(json_string_value(json_object_get(result, "schema")), "inquest.result/v1");
    json_t *conclusion = json_object_get(result, "conclusion");
    assert_string_equal(json_string_value(json_object_get(conclusion, "tag")), "root_cause_found");
    assert_int_equal(json_array_size(json_object_get(result, "findings")), 1);
    assert_int_equal(json_array_size(json_object_get(result, "steps")), 2);
    json_t *analyzer = json_object_get(result, "analyzer");
    assert_string_equal(json_string_value(json_object_get(analyzer, "name")), "examples.hello");
    assert_int_equal(strncmp(json_string_value(json_object_get(analyzer, "hash")), "sha256:", 7),
                     0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(result, "inputs"), "window")), 1800);
    json_decref(result);
    wk_engine_free(engine);
}

static void test_same_id_same_result(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    json_t *a = NULL, *b = NULL, *c = NULL;
    rt_diag diag = {0};
    const char *path = SRC_ROOT "/examples/hello/hello.lua";
    assert_int_equal(run(engine, path, &a, &diag, "same", NULL, "service=api", NULL), RT_OK);
    assert_int_equal(run(engine, path, &b, &diag, "same", NULL, "service=api", NULL), RT_OK);
    assert_int_equal(run(engine, path, &c, &diag, "other", NULL, "service=api", NULL), RT_OK);
    drop_timing(a);
    drop_timing(b);
    drop_timing(c);
    char *ja = rt_json_canonical(a), *jb = rt_json_canonical(b), *jc = rt_json_canonical(c);
    assert_string_equal(ja, jb);
    assert_string_not_equal(ja, jc); /* the id differs */
    free(ja);
    free(jb);
    free(jc);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    wk_engine_free(engine);
}

/* run_started receives when the analyzer's run began: after the analysis started (its state made,
 * its inputs validated), before it ended; a request refused for its inputs never runs. */
static void test_run_started(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    json_t *inputs = json_pack("{s:s}", "service", "api"), *result = NULL;
    double started = 0, before = rt_wallclock();
    wk_request r = {.analyzer = SRC_ROOT "/examples/hello/hello.lua",
                    .inputs = inputs,
                    .run_started = &started};
    wk_limits_default(&r.limits);
    rt_diag diag = {0};
    assert_int_equal(wk_run(engine, &r, &result, &diag), RT_OK);
    double began =
        json_real_value(json_object_get(json_object_get(result, "timing"), "started_at"));
    assert_true(started >= before && started >= began && started <= rt_wallclock());
    json_decref(result);
    json_decref(inputs);
    started = 0;
    inputs = json_pack("{s:i}", "service", 7);
    r.inputs = inputs;
    assert_int_equal(wk_run(engine, &r, &result, &diag), RT_EINPUT);
    assert_true(started == 0);
    json_decref(inputs);
    rt_diag_free(&diag);
    wk_engine_free(engine);
}

static void test_invalid_inputs_all_reported(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    json_t *result = NULL;
    rt_diag diag = {0};
    assert_int_equal(run(engine, "types.all", &result, &diag, "x", NULL, "count=11", "window=48h",
                         "region=mars", "bogus=1", NULL),
                     RT_EINPUT);
    assert_null(result);
    /* service missing, count too big, window too long, region unknown, bogus unknown */
    assert_int_equal(rt_diag_count(&diag), 5);
    rt_diag_free(&diag);
    wk_engine_free(engine);
}

static void test_not_found(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    json_t *result = NULL;
    rt_diag diag = {0};
    assert_int_equal(run(engine, "no.such", &result, &diag, "x", NULL, NULL), RT_ENOTFOUND);
    assert_int_equal(rt_diag_count(&diag), 1);
    rt_diag_free(&diag);
    wk_engine_free(engine);
}

/* Each analysis starts from a fresh state, though states are copies of one image (wk_sandbox.c):
 * what an analysis changes in its globals, the inquest module or its ctx, the next one does not
 * see, and math.random starts from the analysis id's seed each time. A budget too small for the
 * image still gets a state, built anew, that trips it as before. */
static void test_fresh_state_each(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    const char *path = TESTS_DIR "/sdk/analyzers/fresh/state.lua";
    const char *first = NULL;
    json_t *results[3] = {NULL};
    rt_diag diag = {0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run(engine, path, &results[i], &diag, "same", NULL, NULL), RT_OK);
        json_t *conclusion = json_object_get(results[i], "conclusion");
        assert_string_equal(json_string_value(json_object_get(conclusion, "tag")), "fresh");
        const char *summary = json_string_value(json_object_get(conclusion, "summary"));
        if (!first)
            first = summary;
        assert_string_equal(summary, first);
    }
    wk_limits tiny = {.memory = 4096, .instructions = 1000000, .timeout = 30};
    json_t *tripped = NULL;
    assert_int_equal(run(engine, path, &tripped, &diag, "same", &tiny, NULL), RT_OK);
    assert_string_equal(status_of(tripped), "memory_exceeded");
    json_t *again = NULL;
    assert_int_equal(run(engine, path, &again, &diag, "same", NULL, NULL), RT_OK);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(again, "conclusion"), "tag")), "fresh");
    for (int i = 0; i < 3; i++)
        json_decref(results[i]);
    json_decref(tripped);
    json_decref(again);
    wk_engine_free(engine);
}

/* After each budget trips, the same engine runs a normal analysis as if nothing happened. */
static void test_process_survives_budgets(void **state) {
    (void)state;
    static const struct {
        const char *file, *status;
    } cases[] = {
        {"infinite_loop", "cpu_exceeded"},
        {"memory_table_growth", "memory_exceeded"},
        {"deadline", "timeout"},
        {"pattern_bomb_find", "cpu_exceeded"},
        {"memory_in_pcall", "memory_exceeded"},
        {"yield_to_engine", "error"},
    };
    wk_engine *engine = new_engine();
    /* A generous deadline, so that slow (sanitizer) builds still hit the other budgets first. */
    wk_limits limits = {.memory = 16 << 20, .instructions = 10000000, .timeout = 30};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[512];
        json_t *result = NULL;
        rt_diag diag = {0};
        snprintf(path, sizeof path, TESTS_DIR "/sandbox/%s/analyzer.lua", cases[i].file);
        wk_limits l = limits;
        if (strcmp(cases[i].status, "timeout") == 0) {
            l.instructions = UINT64_MAX / 2;
            l.timeout = 0.3;
        }
        assert_int_equal(run(engine, path, &result, &diag, "x", &l, NULL), RT_OK);
        assert_string_equal(status_of(result), cases[i].status);
        json_decref(result);
        assert_int_equal(run(engine, SRC_ROOT "/examples/hello/hello.lua", &result, &diag, "x",
                             NULL, "service=api", NULL),
                         RT_OK);
        assert_string_equal(status_of(result), "ok");
        json_decref(result);
    }
    wk_engine_free(engine);
}

static void test_definition_problems_all_reported(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    wk_info info;
    rt_diag diag = {0};
    assert_int_equal(wk_inspect(engine, TESTS_DIR "/cli/check_problems/bad.lua", &info, &diag),
                     RT_EANALYZER);
    assert_true(rt_diag_count(&diag) >= 4);
    json_t *first = json_array_get(diag.items, 0);
    assert_true(json_integer_value(json_object_get(first, "line")) > 0);
    rt_diag_free(&diag);
    wk_info_free(&info);
    wk_engine_free(engine);
}

/* A syntax error in a file whose path is longer than Lua's chunk names (LUA_IDSIZE, 60) keeps its
 * line: Lua names the file "..." and the path's end then, and that is the file too. */
static void test_syntax_error_line_of_long_path(void **state) {
    (void)state;
    char dir[] = "/tmp/test_engine_XXXXXX", sub[160], path[200];
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/a-folder-name-long-enough-to-be-cut-by-lua", dir);
    snprintf(path, sizeof path, "%s/syntax.lua", sub);
    assert_int_equal(mkdir(sub, 0700), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("return inquest.analyzer{\n  name = 'syntax',\n  run = function(ctx (\n}\n", f);
    fclose(f);
    assert_true(strlen(path) > 60);
    wk_engine *engine = new_engine();
    wk_info info;
    rt_diag diag = {0};
    assert_int_equal(wk_inspect(engine, path, &info, &diag), RT_EANALYZER);
    json_t *first = json_array_get(diag.items, 0);
    assert_int_equal(json_integer_value(json_object_get(first, "line")), 3);
    assert_string_equal(json_string_value(json_object_get(first, "file")), path);
    const char *message = json_string_value(json_object_get(first, "message"));
    assert_true(strncmp(message, "...", 3) != 0 && !strstr(message, "syntax.lua"));
    rt_diag_free(&diag);
    wk_info_free(&info);
    wk_engine_free(engine);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

/* Text from analyzer code is cut before it goes into a result. */
static void test_huge_error_is_cut(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    json_t *result = NULL;
    rt_diag diag = {0};
    assert_int_equal(run(engine, TESTS_DIR "/sandbox/huge_error_message/analyzer.lua", &result,
                         &diag, "x", NULL, NULL),
                     RT_OK);
    json_t *error = json_array_get(json_object_get(result, "errors"), 0);
    json_t *step = json_array_get(json_object_get(result, "steps"), 0);
    assert_in_range(json_string_length(json_object_get(error, "message")), 1000, 4096);
    assert_in_range(json_string_length(json_object_get(step, "error")), 1000, 4096);
    json_decref(result);
    wk_engine_free(engine);
}

/* The inputs a run would refuse are refused without running, and the analyzer stays loaded. */
static void test_validate(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    rt_diag diag = {0};
    const wk_info *info = NULL;
    json_t *bad = json_pack("{s:s, s:s, s:s}", "count", "11", "region", "mars", "bogus", "1");
    json_t *good = json_pack("{s:s}", "service", "api");
    assert_int_equal(wk_validate(engine, "types.all", bad, 0, &info, NULL, &diag), RT_EINPUT);
    assert_int_equal(rt_diag_count(&diag), 4); /* service missing, count, region, bogus */
    rt_diag_free(&diag);
    assert_int_equal(wk_validate(engine, "types.all", good, 0, &info, NULL, &diag), RT_OK);
    assert_int_equal(rt_diag_count(&diag), 0);
    assert_string_equal(info->name, "types.all");
    assert_non_null(info->owner);
    assert_int_equal(wk_validate(engine, "no.such", good, 0, NULL, NULL, &diag), RT_ENOTFOUND);
    rt_diag_free(&diag);
    wk_engine_reload(engine); /* loads it again on next use */
    assert_int_equal(wk_validate(engine, "types.all", good, 0, &info, NULL, &diag), RT_OK);
    json_decref(bad);
    json_decref(good);
    wk_engine_free(engine);
}

/* A name resolved once keeps its file until a reload, as its compiled form does: a run does not
 * walk the analyzer path again, and a reload sees the files as they are now. */
static void test_resolved_until_reload(void **state) {
    (void)state;
    char dir[] = "/tmp/inquest-resolve-XXXXXX", folder[64], file[96];
    assert_non_null(mkdtemp(dir));
    snprintf(folder, sizeof folder, "%s/chain", dir);
    snprintf(file, sizeof file, "%s/leaf.lua", folder);
    assert_int_equal(mkdir(folder, 0700), 0);
    assert_int_equal(symlink(TESTS_DIR "/sdk/analyzers/chain/leaf.lua", file), 0);
    const char *root = dir;
    wk_engine *engine = wk_engine_new(&root, 1);
    rt_diag diag = {0};
    json_t *result = NULL;
    assert_int_equal(run(engine, "chain.leaf", &result, &diag, "r1", NULL, "service=api", NULL),
                     RT_OK);
    json_decref(result);
    assert_int_equal(unlink(file), 0);
    assert_int_equal(run(engine, "chain.leaf", &result, &diag, "r2", NULL, "service=api", NULL),
                     RT_OK);
    assert_string_equal(status_of(result), "ok");
    json_decref(result);
    wk_engine_reload(engine);
    assert_int_equal(run(engine, "chain.leaf", &result, &diag, "r3", NULL, "service=api", NULL),
                     RT_ENOTFOUND);
    rt_diag_free(&diag);
    wk_engine_free(engine);
    assert_int_equal(rmdir(folder), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* Writes an analyzer at 'path' that concludes with 'tag'. */
static void write_tagger(const char *path, const char *tag) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "local inquest = require \"inquest\"\n"
            "return inquest.analyzer { name = \"warm.tag\", owner = \"tests\",\n"
            "  description = \"concludes with its tag\",\n"
            "  run = function(ctx) ctx:conclude(\"%s\", \"tagged\") end }\n",
            tag);
    assert_int_equal(fclose(f), 0);
}

static const char *tag_of(json_t *result) {
    return json_string_value(json_object_get(json_object_get(result, "conclusion"), "tag"));
}

/* wk_engine_warm compiles the analyzers before their first analysis (so an edit after it is seen
 * only after a reload, as after a first analysis), and warming again after a reload compiles
 * the files as they are then. */
static void test_warm_compiles_before_use(void **state) {
    (void)state;
    char dir[] = "/tmp/inquest-warm-XXXXXX", folder[64], file[96];
    assert_non_null(mkdtemp(dir));
    snprintf(folder, sizeof folder, "%s/warm", dir);
    snprintf(file, sizeof file, "%s/tag.lua", folder);
    assert_int_equal(mkdir(folder, 0700), 0);
    write_tagger(file, "one");
    const char *root = dir;
    wk_engine *engine = wk_engine_new(&root, 1);
    wk_engine_warm(engine);
    write_tagger(file, "two");
    rt_diag diag = {0};
    json_t *result = NULL;
    assert_int_equal(run(engine, "warm.tag", &result, &diag, "w1", NULL, NULL), RT_OK);
    assert_string_equal(tag_of(result), "one");
    json_decref(result);
    wk_engine_reload(engine);
    wk_engine_warm(engine);
    write_tagger(file, "three");
    assert_int_equal(run(engine, "warm.tag", &result, &diag, "w2", NULL, NULL), RT_OK);
    assert_string_equal(tag_of(result), "two");
    json_decref(result);
    rt_diag_free(&diag);
    wk_engine_free(engine);
    assert_int_equal(unlink(file), 0);
    assert_int_equal(rmdir(folder), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* wk_validate gives the inputs the analysis gets, for the service's dedup key: the same text for
 * inputs given in other forms or left to their defaults; "now-1h" as written, at any clock. */
static void test_validate_effective(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    rt_diag diag = {0};
    const char *want = "{\"at\":\"now-1h\",\"count\":3,\"service\":\"api\",\"verbose\":false,"
                       "\"window\":1800}";
    json_t *plain = json_pack("{s:s}", "service", "api");
    json_t *spelt = json_pack("{s:s, s:s, s:s, s:s, s:n}", "service", "api", "count", "3", "window",
                              "1800s", "verbose", "no", "region");
    json_t *bad = json_pack("{s:s}", "count", "11");
    char *got = NULL;
    assert_int_equal(wk_validate(engine, "types.all", plain, 0, NULL, &got, &diag), RT_OK);
    assert_string_equal(got, want);
    free(got);
    assert_int_equal(wk_validate(engine, "types.all", spelt, 1795262400, NULL, &got, &diag), RT_OK);
    assert_string_equal(got, want);
    free(got);
    assert_int_equal(wk_validate(engine, "types.all", bad, 0, NULL, &got, &diag), RT_EINPUT);
    assert_null(got);
    rt_diag_free(&diag);
    json_decref(plain);
    json_decref(spelt);
    json_decref(bad);
    wk_engine_free(engine);
}

typedef struct cancelled_run {
    json_t *result;
    wk_analysis *handle;
} cancelled_run;

static void cancel_when_waiting(uv_timer_t *timer) {
    cancelled_run *r = timer->data;
    wk_cancel(r->handle, "cancelled by the test");
    uv_close((uv_handle_t *)timer, NULL);
}

static void cancelled_done(json_t *result, void *ud) {
    ((cancelled_run *)ud)->result = result;
}

/* An analysis waiting for an answer that never comes ends as "cancelled" when cancelled, and
 * its call is listed as cancelled. The server is a listening socket that never answers. */
static void test_cancel_waiting(void **state) {
    (void)state;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    assert_int_equal(bind(listener, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(listener, 4), 0);
    assert_int_equal(getsockname(listener, (struct sockaddr *)&addr, &len), 0);
    char path[] = "/tmp/test_engine_XXXXXX", yaml[160];
    int fd = mkstemp(path);
    int n =
        snprintf(yaml, sizeof yaml,
                 "connectors: { hang: { type: http, url: 'http://127.0.0.1:%d', timeout: 60s } }\n",
                 ntohs(addr.sin_port));
    assert_int_equal(write(fd, yaml, (size_t)n), n);
    close(fd);
    rt_config *config = NULL;
    rt_diag diag = {0}, warnings = {0};
    assert_int_equal(rt_config_load(path, &config, &diag, &warnings), RT_OK);
    wk_engine *engine = new_engine();
    assert_int_equal(wk_engine_connect(engine, config, &diag), RT_OK);
    cancelled_run r = {0};
    wk_request request = {.analyzer = "wait.hang", .id = "c"};
    wk_limits_default(&request.limits);
    assert_int_equal(wk_start(engine, &request, cancelled_done, &r, &r.handle, &diag), RT_OK);
    assert_non_null(r.handle);
    assert_null(r.result); /* it waits */
    uv_timer_t timer;
    uv_timer_init(wk_engine_loop(engine), &timer);
    timer.data = &r;
    uv_timer_start(&timer, cancel_when_waiting, 50, 0);
    uv_run(wk_engine_loop(engine), UV_RUN_DEFAULT);
    assert_non_null(r.result);
    assert_string_equal(status_of(r.result), "cancelled");
    json_t *call = json_array_get(json_object_get(r.result, "calls"), 0);
    assert_string_equal(json_string_value(json_object_get(call, "status")), "cancelled");
    json_decref(r.result);
    wk_engine_free(engine);
    rt_config_free(config);
    unlink(path);
    close(listener);
}

/* ---- A Prometheus answer over the memory budget ------------------------------------------ */

#define BIG_SERIES 100000 /* of 4 points each: 8 MB of body */

/* A query_range answer of 'series' series of 4 points [t, "0"] each, and its length. */
static char *range_body(size_t series, size_t *len) {
    size_t cap = 100 + series * 100, n = 0;
    char *body = malloc(cap);
    assert_non_null(body);
    n += (size_t)snprintf(
        body, cap, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[");
    for (size_t i = 0; i < series; i++)
        n += (size_t)snprintf(body + n, cap - n,
                              "%s{\"metric\":{\"i\":\"%zu\"},\"values\":[[1000,\"0\"],[1001,\"0\"],"
                              "[1002,\"0\"],[1003,\"0\"]]}",
                              i ? "," : "", i);
    n += (size_t)snprintf(body + n, cap - n, "]}}");
    *len = n;
    return body;
}

/* Adds the answer of the range 'query' of budget.prom_answer: 'series' series. */
static void add_range(rt_recording *r, const char *query, size_t series) {
    char path[160];
    size_t len;
    char *body = range_body(series, &len);
    snprintf(path, sizeof path, "/api/v1/query_range?query=%s&start=1000&end=1003&step=1", query);
    rt_exchange e = {.connector = "prom",
                     .method = "GET",
                     .path = path,
                     .status = 200,
                     .response = body,
                     .response_len = len,
                     .content_type = "application/json"};
    rt_recording_add(r, &e);
    free(body);
}

/* The process' peak RSS in KiB (VmHWM), or -1. */
static long peak_rss_kib(void) {
    char line[256];
    long kib = -1;
    FILE *in = fopen("/proc/self/status", "r");
    while (in && fgets(line, sizeof line, in))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    if (in)
        fclose(in);
    return kib;
}

/* The child of run_child, in a process of its own (main runs it for "--prom-answer"): runs
 * budget.prom_answer with 'input' against the recording at 'recording' under a memory budget of
 * 8 MiB, and writes the result, with the process' peak RSS as "peak_kib", to 'out'. It asserts
 * nothing: the parent does. */
static int prom_answer_child(const char *recording, const char *input, const char *out) {
    wk_engine *engine = new_engine();
    rt_recording *r = NULL;
    rt_diag diag = {0};
    wk_limits limits;
    json_t *result = NULL;
    int rc = 2;
    wk_limits_default(&limits);
    limits.memory = 8 << 20;
    if (rt_recording_load(recording, &r, &diag) == RT_OK &&
        wk_engine_use_recording(engine, r, &diag) == RT_OK &&
        run(engine, "budget.prom_answer", &result, &diag, "x", &limits, input, NULL) == RT_OK) {
        json_object_set_new(result, "peak_kib", json_integer(peak_rss_kib()));
        rc = json_dump_file(result, out, 0) == 0 ? 0 : 3;
    }
    json_decref(result);
    wk_engine_free(engine);
    rt_recording_free(r);
    rt_diag_free(&diag);
    return rc;
}

/* Runs prom_answer_child in a new process: executed afresh, so that its peak RSS is its own
 * (a forked child starts with its parent's, and keeps its heap). Returns the child's result. */
static json_t *run_child(const char *recording, const char *input, const char *out) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_engine", "--prom-answer", recording, input, out,
              (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    json_t *result = json_load_file(out, 0, NULL);
    assert_non_null(result);
    unlink(out);
    return result;
}

static const char *conclusion(json_t *result, const char *field) {
    return json_string_value(json_object_get(json_object_get(result, "conclusion"), field));
}

/* A Prometheus answer of 8 MB, many series of a few points, fails its call with the budget's
 * message, as a JSON answer does; the analysis goes on to its next call and ends normally; and
 * the process holds no more than about the budget for it. It used to be decoded in full outside
 * every budget (the peak RSS went from 67 MB without it to 157 MB with it), and then the
 * analysis hit memory_exceeded making its Lua values. */
static void test_prom_answer_over_memory(void **state) {
    (void)state;
    char dir[] = "/tmp/test_engine_XXXXXX", recording[64], out[64];
    assert_non_null(mkdtemp(dir));
    snprintf(recording, sizeof recording, "%s/recording.json", dir);
    snprintf(out, sizeof out, "%s/result.json", dir);
    rt_recording *r = rt_recording_new();
    json_object_set_new(rt_recording_meta(r), "analyzer", json_string("budget.prom_answer"));
    json_object_set_new(rt_recording_meta(r), "connectors",
                        json_pack("{s:{s:s}}", "prom", "type", "prometheus"));
    add_range(r, "big", BIG_SERIES);
    add_range(r, "small", 1);
    char why[256];
    assert_int_equal(rt_recording_save(r, recording, why), RT_OK);
    rt_recording_free(r);

    json_t *with = run_child(recording, "big=true", out);
    assert_string_equal(status_of(with), "ok");
    assert_string_equal(conclusion(with, "tag"), "refused");
    assert_string_equal(conclusion(with, "summary"),
                        "prom: answer too large for the memory budget (limit 8.0 MiB); small: 1 "
                        "series");
    json_t *calls = json_object_get(with, "calls");
    assert_string_equal(json_string_value(json_object_get(json_array_get(calls, 0), "status")),
                        "error");
    assert_string_equal(json_string_value(json_object_get(json_array_get(calls, 1), "status")),
                        "ok");
    /* The decode stops within the 8 MiB: the peak is about that of a run without the answer.
     * Not measured under the sanitizers (SANITIZED set), where freed blocks wait in quarantine
     * and every block is padded: RSS is not the heap. */
    if (!getenv("SANITIZED")) {
        json_t *without = run_child(recording, "big=false", out);
        json_int_t without_kib = json_integer_value(json_object_get(without, "peak_kib"));
        json_int_t with_kib = json_integer_value(json_object_get(with, "peak_kib"));
        print_message("peak RSS: %lld KiB without the big answer, %lld KiB with it\n",
                      (long long)without_kib, (long long)with_kib);
        assert_string_equal(status_of(without), "ok");
        assert_string_equal(conclusion(without, "tag"), "skipped");
        assert_true(without_kib > 0 && with_kib < without_kib + (24 << 10));
        json_decref(without);
    }
    json_decref(with);
    unlink(recording);
    rmdir(dir);
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--prom-answer") == 0)
        return prom_answer_child(argv[2], argv[3], argv[4]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_runs_and_concludes),
        cmocka_unit_test(test_same_id_same_result),
        cmocka_unit_test(test_run_started),
        cmocka_unit_test(test_invalid_inputs_all_reported),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_fresh_state_each),
        cmocka_unit_test(test_process_survives_budgets),
        cmocka_unit_test(test_definition_problems_all_reported),
        cmocka_unit_test(test_syntax_error_line_of_long_path),
        cmocka_unit_test(test_huge_error_is_cut),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_resolved_until_reload),
        cmocka_unit_test(test_warm_compiles_before_use),
        cmocka_unit_test(test_validate_effective),
        cmocka_unit_test(test_cancel_waiting),
        cmocka_unit_test(test_prom_answer_over_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
