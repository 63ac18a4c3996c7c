/* tests/bench/bench_logpattern.c -- log patterns (sdk/sdk_logpattern.c) on the Loghub samples of
 * the shared data: the grouping accuracy of the one default configuration on the Content of each
 * sample, as its README defines it, and how many lines a second one core mines, on the four
 * samples' lines repeated to 4,000,000 (mining and building the patterns; the best of 3 rounds).
 * Seconds are the thread's CPU time: on a machine shared with other work the wall clock would
 * measure the neighbours.
 * Prints `bench loggroup_accuracy_NAME VALUE fraction` for HDFS, Zookeeper, OpenSSH and
 * Proxifier, then `bench logpattern_throughput VALUE lines/s`.
 *
 * bench_logpattern [DATA]: DATA is the shared data folder (default: ../shared/data beside the
 * source tree). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "rt.h"
#include "sdk_logpattern.h"
#include "loghub.h"

#define LINES  4000000
#define ROUNDS 3

static void *heap(void *ud, void *p, size_t osize, size_t nsize) {
    (void)ud, (void)osize;
    if (nsize == 0) {
        free(p);
        return NULL;
    }
    return realloc(p, nsize);
}

static sdk_lp *new_miner(void) {
    sdk_lp *m = sdk_lp_new(NULL, heap, NULL);
    if (!m) {
        fprintf(stderr, "bench_logpattern: out of memory\n");
        exit(1);
    }
    return m;
}

static void fail_add(long rc) {
    fprintf(stderr, "bench_logpattern: sdk_lp_add: %s\n", rt_strerror((int)rc));
    exit(1);
}

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double accuracy(const lh_data *d) {
    sdk_lp *m = new_miner();
    long *shape = rt_xcalloc(d->n, sizeof *shape);
    size_t *group = rt_xcalloc(d->n, sizeof *group);
    for (size_t i = 0; i < d->n; i++)
        if ((shape[i] = sdk_lp_add(m, d->content[i], d->len[i], 0, NAN)) < 0)
            fail_add(shape[i]);
    if (sdk_lp_build(m) < 0)
        fail_add(RT_ENOMEM);
    for (size_t i = 0; i < d->n; i++)
        group[i] = sdk_lp_pattern_of(m, shape[i]);
    double ga = lh_accuracy(d, group);
    free(shape);
    free(group);
    sdk_lp_free(m);
    return ga;
}

/* Lines a second: every line of 'd' in turn, LINES in all, through one miner, then a build. */
static double throughput(const lh_data *d) {
    double best = 0;
    for (int round = 0; round < ROUNDS; round++) {
        sdk_lp *m = new_miner();
        double start = cpu_seconds();
        for (size_t n = 0; n < LINES;)
            for (int k = 0; k < LH_DATASETS && n < LINES; k++)
                for (size_t i = 0; i < d[k].n && n < LINES; i++, n++) {
                    long rc = sdk_lp_add(m, d[k].content[i], d[k].len[i], 0, NAN);
                    if (rc < 0)
                        fail_add(rc);
                }
        if (sdk_lp_build(m) < 0)
            fail_add(RT_ENOMEM);
        double rate = LINES / (cpu_seconds() - start);
        best = rate > best ? rate : best;
        sdk_lp_free(m);
    }
    return best;
}

int main(int argc, char **argv) {
    const char *data = argc > 1 ? argv[1] : SHARED_DATA;
    lh_data d[LH_DATASETS];
    for (int k = 0; k < LH_DATASETS; k++) {
        char why[256];
        if (lh_load(data, lh_names[k], &d[k], why) < 0) {
            fprintf(stderr, "bench_logpattern: the shared data is missing: %s\n", why);
            return 1;
        }
    }
    for (int k = 0; k < LH_DATASETS; k++)
        printf("bench loggroup_accuracy_%s %.4f fraction\n", lh_names[k], accuracy(&d[k]));
    printf("bench logpattern_throughput %.0f lines/s\n", throughput(d));
    for (int k = 0; k < LH_DATASETS; k++)
        lh_free(&d[k]);
    return 0;
}
