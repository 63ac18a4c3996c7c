/* tests/support/nab.h -- the NAB series of ../shared/data/nab (README there) and the event-level
 * scoring of anomaly detections on them, shared by tests/unit/test_anomaly.c and
 * tests/bench/bench_anomaly.c so that the test and the benchmark count the same way. */
#ifndef INQUEST_TESTS_NAB_H
#define INQUEST_TESTS_NAB_H

#include <stddef.h>

typedef struct nab_series {
    char *name;    /* "realTweets/Twitter_volume_AAPL.csv" */
    double *t, *v; /* Unix seconds (the CSV's UTC times) and values */
    size_t n;
    double (*win)[2]; /* labelled anomaly windows [start, end], Unix seconds */
    size_t n_win;
} nab_series;

/* Loads every series that 'dir'/windows.json names, in its order. Returns the number loaded
 * into '*out', or -1 with the reason in 'why' ('whylen' bytes): a missing or unreadable file
 * is named there. */
long nab_load(const char *dir, nab_series **out, char *why, size_t whylen);
void nab_free(nab_series *s, size_t n);

/* Event-level counts over series, and the figures they give. */
typedef struct nab_score {
    size_t windows; /* windows counted (those that end after the warm-up) */
    size_t found;   /* of those, windows with at least one detection in them */
    size_t fp;      /* runs of consecutive detections outside every window */
    size_t skipped; /* windows that end inside the warm-up: no detector may find them */
    double precision, recall, f1;
} nab_score;

/* The share of each series that is warm-up, where detections are ignored. */
#define NAB_WARMUP 0.15

/* Adds the detections 'flags' (one per point of 's', nonzero: a detection) to 'acc'. Points in
 * the warm-up (the first 15%) are ignored; a window counts once however many detections fall in
 * it; detections outside every window are false positives, a run of consecutive ones counting
 * once. */
void nab_score_add(nab_score *acc, const nab_series *s, const unsigned char *flags);

/* Computes precision, recall and F1 from the counts in 'acc'. */
void nab_score_finish(nab_score *acc);

/* Scores the streaming detector of sdk/sdk_anomaly.c with its default settings, changed by
 * 'adjust' (may be NULL; it gets the defaults to change), on the 'n' series at 's'. Every point
 * the stream calls anomalous is a detection. Adds the points pushed to '*points' and the seconds
 * spent pushing to '*seconds' (both may be NULL). Returns -1 when 'adjust' made the settings
 * invalid. */
typedef struct sdk_anomaly_opts sdk_anomaly_opts;
int nab_score_toolkit(const nab_series *s, size_t n, void (*adjust)(sdk_anomaly_opts *, void *),
                      void *ud, nab_score *out, size_t *points, double *seconds);

/* NAB's windowedGaussian (nab/detectors/gaussian in numenta/NAB): a point's z against the mean
 * and standard deviation of the 1,000 values before it. NAB chose its threshold per scoring
 * profile on the whole corpus; here it gets the threshold, from 2 to 40 in steps of 0.5, with
 * the best F1 on the 'n' series at 's', which can only flatter it. That threshold goes to
 * '*threshold'. */
#define NAB_GAUSS_WINDOW 1000
void nab_score_gaussian_best(const nab_series *s, size_t n, nab_score *out, double *threshold);

#endif
