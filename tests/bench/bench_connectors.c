/* tests/bench/bench_connectors.c -- connector figures: 100 concurrent calls from one analysis to
 * a loopback server that answers each after 100 ms, against that 100 ms
 * (parallel_queries_vs_slowest), and the engine's cost per call when answers are replayed
 * (connector_overhead: 10 KiB bodies, kept as text so that no JSON is parsed). Prints
 * `bench NAME VALUE UNIT` lines. Usage: bench_connectors MOCK_HTTP fanout.lua */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "rt_http.h"
#include "wk.h"

#define SLOWEST  0.100 /* seconds the server waits before each answer */
#define FANOUT   100
#define REPLAYED 20000 /* calls per overhead round */

static void fail(const char *what) {
    fprintf(stderr, "bench_connectors: %s\n", what);
    exit(1);
}

/* Starts mock_http; returns its pid and its port in '*port'. */
static pid_t start_mock(const char *mock, int *port) {
    int fds[2];
    if (pipe(fds) != 0)
        fail("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        execl(mock, mock, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    if (!in || fscanf(in, "listening on 127.0.0.1:%d", port) != 1)
        fail("mock_http did not start");
    fclose(in);
    return pid;
}

/* Runs the fanout analyzer once; returns its wall-clock seconds. */
static double run_fanout(wk_engine *engine, const char *analyzer, int calls, const char *path,
                         int parallel) {
    json_t *inputs =
        json_pack("{s:i, s:s, s:b}", "calls", calls, "path", path, "parallel", parallel);
    wk_request request = {.analyzer = analyzer, .inputs = inputs, .id = "bench", .now = 1795262400};
    wk_limits_default(&request.limits);
    request.limits.calls = calls + 1;
    request.limits.timeout = 600;
    json_t *result = NULL;
    rt_diag diag = {0};
    double start = rt_monotonic();
    if (wk_run(engine, &request, &result, &diag) != RT_OK)
        fail("the fanout analyzer did not run");
    double seconds = rt_monotonic() - start;
    const char *status = json_string_value(json_object_get(result, "status"));
    if (!status || strcmp(status, "ok") != 0) {
        char *text = json_dumps(json_object_get(result, "errors"), 0);
        fprintf(stderr, "bench_connectors: %s\n", text);
        fail("the fanout analyzer failed");
    }
    json_decref(result);
    json_decref(inputs);
    rt_diag_free(&diag);
    return seconds;
}

static void parallel_vs_slowest(const char *mock, const char *analyzer) {
    int port;
    pid_t pid = start_mock(mock, &port);
    char url[64], yaml[512], path[] = "/tmp/inquest-bench-XXXXXX";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    int fd = mkstemp(path);
    snprintf(yaml, sizeof yaml,
             "connectors:\n  bench:\n    type: http\n    url: %s\n"
             "    concurrency: %d\n",
             url, FANOUT);
    if (fd < 0 || write(fd, yaml, strlen(yaml)) != (ssize_t)strlen(yaml))
        fail("cannot write the config");
    close(fd);
    rt_config *config = NULL;
    rt_diag errors = {0}, warnings = {0};
    if (rt_config_load(path, &config, &errors, &warnings) != RT_OK)
        fail("the config does not load");
    wk_engine *engine = wk_engine_new(NULL, 0);
    if (wk_engine_connect(engine, config, &errors) != RT_OK)
        fail("cannot connect");
    run_fanout(engine, analyzer, 10, "/delay/1", 1); /* warm up: connections */
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        double s = run_fanout(engine, analyzer, FANOUT, "/delay/100", 1);
        best = s < best ? s : best;
    }
    printf("bench parallel_queries_vs_slowest %.2f x\n", best / SLOWEST);
    wk_engine_free(engine);
    rt_config_free(config);
    unlink(path);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* A recording with 'n' answers of 10 KiB to GET /x of connector "bench". */
static rt_recording *replayable(int n) {
    static char body[10240];
    memset(body, 'x', sizeof body);
    rt_recording *r = rt_recording_new();
    json_object_set_new(rt_recording_meta(r), "connectors",
                        json_pack("{s:{s:s}}", "bench", "type", "http"));
    for (int i = 0; i < n; i++) {
        rt_exchange e = {.connector = "bench",
                         .method = "GET",
                         .path = "/x",
                         .status = 200,
                         .response = body,
                         .response_len = sizeof body,
                         .content_type = "text/plain"};
        rt_recording_add(r, &e);
    }
    char file[] = "/tmp/inquest-bench-rec-XXXXXX", why[256];
    int fd = mkstemp(file);
    close(fd);
    if (rt_recording_save(r, file, why) != RT_OK)
        fail(why);
    rt_recording_free(r);
    rt_diag diag = {0};
    if (rt_recording_load(file, &r, &diag) != RT_OK)
        fail("the recording does not load");
    unlink(file);
    return r;
}

static void connector_overhead(const char *analyzer) {
    double best = 1e9;
    for (int round = 0; round < 3; round++) {
        rt_recording *r = replayable(REPLAYED);
        wk_engine *engine = wk_engine_new(NULL, 0);
        rt_diag diag = {0};
        if (wk_engine_use_recording(engine, r, &diag) != RT_OK)
            fail("cannot replay");
        double none = run_fanout(engine, analyzer, 0, "/x", 0);
        double all = run_fanout(engine, analyzer, REPLAYED, "/x", 0);
        double per_call = (all - none) / REPLAYED;
        best = per_call < best ? per_call : best;
        wk_engine_free(engine);
        rt_recording_free(r);
    }
    printf("bench connector_overhead %.2f us\n", best * 1e6);
}

int main(int argc, char **argv) {
    if (argc != 3)
        fail("usage: bench_connectors MOCK_HTTP fanout.lua");
    parallel_vs_slowest(argv[1], argv[2]);
    connector_overhead(argv[2]);
    return 0;
}
