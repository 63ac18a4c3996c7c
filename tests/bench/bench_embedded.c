/* tests/bench/bench_embedded.c -- embedded engine figures: analyses per second on one core
 * (fresh state each, inputs validated, one finding, JSON rendered), Lua memory per analysis,
 * and the peak RSS of `inquest run`. Prints `bench NAME VALUE UNIT` lines. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "wk.h"

static json_t *trivial_inputs(void) {
    return json_pack("{s:s, s:s, s:s, s:s}", "service", "checkout", "at", "now-1h", "window", "30m",
                     "region", "eu-west");
}

static void fail(const char *what) {
    fprintf(stderr, "bench_embedded: %s\n", what);
    exit(1);
}

/* Runs the analyzer 'n' times; returns seconds, and the mean peak of the memory its Lua state
 * held of the process (heap chunks and large blocks) in bytes: what a concurrent analysis costs. */
static double run_many(wk_engine *engine, const char *path, int n, double *memory) {
    json_t *inputs = trivial_inputs();
    wk_request request = {.analyzer = path, .inputs = inputs, .id = "bench", .now = 1795262400};
    wk_limits_default(&request.limits);
    double peak_sum = 0, start = rt_monotonic();
    for (int i = 0; i < n; i++) {
        json_t *result = NULL;
        rt_diag diag = {0};
        if (wk_run(engine, &request, &result, &diag) != RT_OK)
            fail("the trivial analyzer did not run");
        const char *status = json_string_value(json_object_get(result, "status"));
        if (!status || strcmp(status, "ok") != 0)
            fail("the trivial analyzer did not conclude");
        char *text = rt_json_canonical(result);
        peak_sum += (double)json_integer_value(
            json_object_get(json_object_get(result, "usage"), "memory_reserved"));
        free(text);
        json_decref(result);
    }
    double seconds = rt_monotonic() - start;
    json_decref(inputs);
    *memory = peak_sum / n;
    return seconds;
}

/* Peak RSS of `inquest run` on the trivial analyzer, parent and child alike, in KiB. The
 * children's figure also covers the forked copy of this program before it execs, so it is
 * measured first, while this program is still small: an upper bound of inquest's own peak. */
static long run_peak_rss(const char *inquest, const char *path) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execl(inquest, inquest, "run", path, "service=checkout", "region=eu-west", "--json",
              (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage usage;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        fail("inquest run of the trivial analyzer failed");
    getrusage(RUSAGE_CHILDREN, &usage);
    return usage.ru_maxrss;
}

/* "On one core": stay on the core this started on, so that the scheduler moving it between
 * cores adds no noise. */
static void pin_to_one_core(void) {
    cpu_set_t set;
    int cpu = sched_getcpu();
    CPU_ZERO(&set);
    CPU_SET(cpu < 0 ? 0 : cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: bench_embedded INQUEST TRIVIAL.lua [ANALYSES]\n");
        return 2;
    }
    long peak_rss = run_peak_rss(argv[1], argv[2]);
    pin_to_one_core();
    wk_engine *engine = wk_engine_new(NULL, 0);
    double memory;
    run_many(engine, argv[2], 2000, &memory); /* warm caches and the bytecode cache */
    /* The fastest of several rounds: other load on the machine only ever slows a round down. */
    int n = argc == 4 ? atoi(argv[3]) : 50000;
    double best = 1e9;
    for (int round = 0; round < 6; round++) {
        double seconds = run_many(engine, argv[2], n, &memory);
        best = seconds < best ? seconds : best;
    }
    printf("bench embedded_throughput %.0f analyses/s\n", n / best);
    printf("bench memory_per_analysis %.1f KiB\n", memory / 1024);
    printf("bench embedded_peak_rss %ld KiB\n", peak_rss);
    wk_engine_free(engine);
    return 0;
}
