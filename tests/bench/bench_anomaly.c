/* tests/bench/bench_anomaly.c -- the streaming anomaly detector (sdk/sdk_anomaly.c) with its one
 * default parameter set on the NAB series of ../shared/data/nab, scored event by event
 * (tests/support/nab.h), next to NAB's windowed-Gaussian baseline scored the same way in the
 * same run (with the threshold that suits it best on this data). Prints
 *   bench anomaly_f1 X fraction            (and anomaly_precision, anomaly_recall)
 *   bench anomaly_f1_baseline X fraction
 *   bench anomaly_throughput X points/s    (the stream alone, one core)
 * Usage: bench_anomaly [-v] [DATA_DIR] [key=value …]. A key=value changes one default setting
 * (level, window, tail_window, risk, threshold, hold, shift, shift_points, min_points, history,
 * seasons), to see how the figures move around the one set; -v prints the counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sdk_anomaly.h"
#include "nab.h"

typedef struct change {
    const char *const *kv;
    int n, bad;
} change;

/* Applies "key=value" to 'o'; returns -1 for an unknown key. */
static int apply(sdk_anomaly_opts *o, const char *kv) {
    const char *eq = strchr(kv, '=');
    double x = strtod(eq + 1, NULL);
    size_t len = (size_t)(eq - kv);
#define SET(name, type)                                                                            \
    if (len == strlen(#name) && strncmp(kv, #name, len) == 0) {                                    \
        o->name = (type)x;                                                                         \
        return 0;                                                                                  \
    }
    SET(level, size_t)
    SET(window, size_t)
    SET(tail_window, size_t)
    SET(risk, double)
    SET(threshold, double)
    SET(hold, double)
    SET(shift, double)
    SET(shift_points, size_t)
    SET(min_points, size_t)
    SET(history, size_t)
    SET(seasons, int)
#undef SET
    return -1;
}

static void adjust(sdk_anomaly_opts *o, void *ud) {
    change *c = ud;
    for (int i = 0; i < c->n; i++)
        if (apply(o, c->kv[i]) < 0) {
            fprintf(stderr, "bench_anomaly: unknown setting %s\n", c->kv[i]);
            c->bad = 1;
        }
}

int main(int argc, char **argv) {
    const char *dir = DATA_DIR "/nab";
    const char *kv[64];
    change c = {kv, 0, 0};
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else if (strchr(argv[i], '=') && c.n < 64)
            kv[c.n++] = argv[i];
        else
            dir = argv[i];
    }
    char why[512];
    nab_series *all;
    long n = nab_load(dir, &all, why, sizeof why);
    if (n < 0) {
        fprintf(stderr, "bench_anomaly: %s\n", why);
        return 1;
    }
    nab_score ours, base;
    size_t points = 0;
    double seconds = 0, threshold;
    if (nab_score_toolkit(all, (size_t)n, adjust, &c, &ours, &points, &seconds) < 0 || c.bad) {
        fprintf(stderr, "bench_anomaly: invalid settings\n");
        return 2;
    }
    nab_score_gaussian_best(all, (size_t)n, &base, &threshold);
    if (verbose)
        fprintf(stderr,
                "bench_anomaly: %zu series, %zu windows counted (%zu end in the warm-up); "
                "toolkit found %zu with %zu false positives; baseline (z >= %g) found %zu with "
                "%zu\n",
                (size_t)n, ours.windows, ours.skipped, ours.found, ours.fp, threshold, base.found,
                base.fp);
    nab_free(all, (size_t)n);
    printf("bench anomaly_f1 %.3f fraction\n", ours.f1);
    printf("bench anomaly_precision %.3f fraction\n", ours.precision);
    printf("bench anomaly_recall %.3f fraction\n", ours.recall);
    printf("bench anomaly_f1_baseline %.3f fraction\n", base.f1);
    printf("bench anomaly_throughput %.0f points/s\n", (double)points / seconds);
    return 0;
}
