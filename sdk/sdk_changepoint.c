/* sdk/sdk_changepoint.c -- change points of a series' level (inquest.changepoint, docs/sdk.md
 * "Anomalies and change points"), in C; the Lua binding lives in sdk_anomaly_lua.c.
 *
 * Design notes
 * - Binary segmentation with the CUSUM test. A segment of L points is tested for one change of
 *   mean: S_k = sum of (x_i - mean) over its first k points; the change is placed where the
 *   likelihood ratio S_k^2 L / (k (L - k)) peaks, and its p-value comes from the unweighted
 *   statistic sup |S_k| / (sigma sqrt L), which without a change tends to the supremum of a
 *   Brownian bridge (the Kolmogorov distribution). A significant change splits the segment and
 *   both halves are tested again, breadth first, up to max_changes.
 * - Outliers. A spike is no change of level, but a big one moves a CUSUM. Before the search a
 *   Hampel filter replaces every point farther than 5 noise deviations from the median of its 7
 *   neighbours by that median: spikes of up to 3 points go, steps stay exactly where they are.
 * - Sigma. Metrics are autocorrelated, and a CUSUM divided by the point-to-point noise would
 *   call every slow wander a change. So sigma is the larger of the white-noise estimate
 *   (1.4826 MAD of the differences / sqrt 2) and a long-run one: the MAD of the means of
 *   batches of L^(1/3) residuals of the two-segment fit, times sqrt(batch). Under independence
 *   both agree; under positive autocorrelation the second grows, as the test needs.
 * - Cost: each level of the search reads every point a few times, plus linear selections for
 *   the medians; at most max_changes (<= 100) levels. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "sdk_changepoint.h"
#include "sdk_robust.h"

#define HAMPEL_HALF   3 /* neighbours on each side */
#define HAMPEL_SIGMAS 5
#define MIN_BATCHES   8

void sdk_cp_defaults(sdk_cp_opts *o) {
    *o = (sdk_cp_opts){.min_confidence = 0.99, .min_size = 3, .max_changes = 10};
}

const char *sdk_cp_check(const sdk_cp_opts *o, char *why, size_t whylen) {
    if (!(o->min_confidence >= 0.5 && o->min_confidence < 1))
        snprintf(why, whylen, "min_confidence must be from 0.5 to below 1 (got %g)",
                 o->min_confidence);
    else if (o->min_size < 1)
        snprintf(why, whylen, "min_size must be at least 1 (got %zu)", o->min_size);
    else if (o->max_changes < 1 || o->max_changes > SDK_CP_MAX_CHANGES)
        snprintf(why, whylen, "max_changes must be from 1 to %d (got %zu)", SDK_CP_MAX_CHANGES,
                 o->max_changes);
    else if (o->direction < -1 || o->direction > 1)
        snprintf(why, whylen, "direction must be -1, 0 or 1 (got %d)", o->direction);
    else
        return NULL;
    return why;
}

/* The work space: the finite values (cleaned), their indices in the series, a scratch array
 * and the queue of segments still to test. */
typedef struct work {
    double *x, *scratch;
    size_t *at;
    size_t *queue; /* pairs [lo, hi) */
    size_t m;      /* finite points */
} work;

size_t sdk_cp_work_size(size_t n) {
    return n * (2 * sizeof(double) + sizeof(size_t)) +
           4 * (SDK_CP_MAX_CHANGES + 1) * sizeof(size_t);
}

/* P(sup |B(t)| > x) for a Brownian bridge B: the Kolmogorov distribution's tail. */
static double kolmogorov_tail(double x) {
    if (x < 0.2)
        return 1;
    double sum = 0;
    for (int j = 1; j <= 100; j++) {
        double term = exp(-2.0 * j * j * x * x);
        sum += j % 2 ? term : -term;
        if (term < 1e-17)
            break;
    }
    return fmin(1, fmax(0, 2 * sum));
}

/* 1.4826 MAD of the differences of x[lo..hi), / sqrt 2: the noise of one point if it is white. */
static double white_sigma(work *w, size_t lo, size_t hi) {
    size_t n = 0;
    for (size_t i = lo + 1; i < hi; i++)
        w->scratch[n++] = fabs(w->x[i] - w->x[i - 1]);
    return n ? SDK__MAD_SIGMA * sdk__median(w->scratch, n) / sqrt(2.0) : 0;
}

/* Replaces the points of x that stand out from the median of their neighbours by it. */
static void hampel(work *w) {
    double sigma = white_sigma(w, 0, w->m), win[2 * HAMPEL_HALF + 1];
    double *clean = w->scratch; /* white_sigma is done with it */
    for (size_t i = 0; i < w->m; i++) {
        size_t lo = i > HAMPEL_HALF ? i - HAMPEL_HALF : 0, n = 0;
        for (size_t j = lo; j < w->m && j <= i + HAMPEL_HALF; j++)
            win[n++] = w->x[j];
        double med = sdk__median(win, n);
        clean[i] = fabs(w->x[i] - med) > HAMPEL_SIGMAS * sigma ? med : w->x[i];
    }
    memcpy(w->x, clean, w->m * sizeof(double));
}

/* The long-run sigma of x[lo..hi) around the two segments split at 'k', as for an AR(1)
 * process: the residuals' robust deviation times sqrt((1 + phi) / (1 - phi)), phi their lag-1
 * autocorrelation (0 to 0.98: a negative one would shrink sigma below the white estimate). */
static double long_run_sigma(work *w, size_t lo, size_t hi, size_t k) {
    double left = 0, right = 0, num = 0, den = 0, prev = 0;
    for (size_t i = lo; i < hi; i++)
        *(i < k ? &left : &right) += w->x[i];
    left /= (double)(k - lo);
    right /= (double)(hi - k);
    for (size_t i = lo; i < hi; i++) {
        double r = w->x[i] - (i < k ? left : right);
        w->scratch[i - lo] = fabs(r);
        if (i > lo)
            num += r * prev;
        den += r * r;
        prev = r;
    }
    double phi = den > 0 ? fmin(fmax(num / den, 0), 0.98) : 0;
    double sd = SDK__MAD_SIGMA * sdk__median(w->scratch, hi - lo);
    return sd * sqrt((1 + phi) / (1 - phi));
}

/* Tests x[lo..hi) for one change of mean. Returns its index (0: none possible) and its
 * confidence and statistic in 'cp'. */
static size_t test_segment(work *w, size_t lo, size_t hi, size_t min_size, sdk_changepoint *cp) {
    size_t len = hi - lo, best = 0;
    if (len < 2 * min_size || len < 4)
        return 0;
    double mean = 0, sum = 0, sup = 0, best_lr = -1;
    for (size_t i = lo; i < hi; i++)
        mean += w->x[i];
    mean /= (double)len;
    for (size_t k = lo + 1; k < hi; k++) {
        sum += w->x[k - 1] - mean;
        sup = fmax(sup, fabs(sum));
        if (k - lo < min_size || hi - k < min_size)
            continue;
        double lr = sum * sum * (double)len / ((double)(k - lo) * (double)(hi - k));
        if (lr > best_lr) {
            best_lr = lr;
            best = k;
        }
    }
    if (best == 0 || sup == 0)
        return 0;
    double sigma = fmax(white_sigma(w, lo, hi), long_run_sigma(w, lo, hi, best));
    sigma = fmax(sigma, 1e-12 * fmax(fabs(mean), 1.0));
    cp->score = sup / (sigma * sqrt((double)len));
    cp->confidence = 1 - kolmogorov_tail(cp->score);
    return best;
}

/* The median of x[lo..hi). */
static double segment_median(work *w, size_t lo, size_t hi) {
    memcpy(w->scratch, w->x + lo, (hi - lo) * sizeof(double));
    return sdk__median(w->scratch, hi - lo);
}

/* Inserts 'cp' (splitting at 'k') into 'out' (n items, sorted by index). */
static void insert_sorted(sdk_changepoint *out, size_t n, size_t k, const sdk_changepoint *cp) {
    size_t at = n;
    while (at > 0 && out[at - 1].index > k) {
        out[at] = out[at - 1];
        at--;
    }
    out[at] = *cp;
    out[at].index = k;
}

/* Breadth-first binary segmentation of x[0..m); returns the splits found, sorted, with their
 * index into x. */
static size_t segment(work *w, const sdk_cp_opts *o, sdk_changepoint *out) {
    size_t head = 0, tail = 0, found = 0;
    w->queue[tail++] = 0;
    w->queue[tail++] = w->m;
    while (head < tail && found < o->max_changes) {
        size_t lo = w->queue[head++], hi = w->queue[head++];
        sdk_changepoint cp = {0};
        size_t k = test_segment(w, lo, hi, o->min_size, &cp);
        if (k == 0 || cp.confidence < o->min_confidence)
            continue;
        insert_sorted(out, found++, k, &cp);
        /* room: two segments per change found, and max_changes <= SDK_CP_MAX_CHANGES */
        w->queue[tail++] = lo;
        w->queue[tail++] = k;
        w->queue[tail++] = k;
        w->queue[tail++] = hi;
    }
    return found;
}

size_t sdk_changepoints(const double *t, const double *v, size_t n, const sdk_cp_opts *o, void *mem,
                        sdk_changepoint *out) {
    work w = {.x = mem};
    w.scratch = w.x + n;
    w.at = (size_t *)(w.scratch + n);
    w.queue = w.at + n;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            w.x[w.m] = v[i];
            w.at[w.m++] = i;
        }
    if (w.m < 4)
        return 0;
    hampel(&w);
    size_t found = segment(&w, o, out), kept = 0;
    /* medians between neighbouring changes; then keep those of the wanted direction */
    for (size_t i = 0; i < found; i++) {
        size_t lo = i ? out[i - 1].index : 0, hi = i + 1 < found ? out[i + 1].index : w.m;
        out[i].before = segment_median(&w, lo, out[i].index);
        out[i].after = segment_median(&w, out[i].index, hi);
    }
    for (size_t i = 0; i < found; i++) {
        double delta = out[i].after - out[i].before;
        if (o->direction && !(delta * o->direction > 0))
            continue;
        out[kept] = out[i];
        out[kept].at = t[w.at[out[i].index]];
        out[kept++].index = w.at[out[i].index];
    }
    return kept;
}
