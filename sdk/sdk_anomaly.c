/* sdk/sdk_anomaly.c -- anomaly detection (inquest.anomaly, docs/sdk.md "Anomalies and change
 * points"): a streaming detector in C and the window form built on it. Their Lua binding lives
 * in sdk_anomaly_lua.c, change points in sdk_changepoint.c, series in sdk_series.c.
 *
 * Design notes
 * - Baselines. Each point is compared with what three models expected of it:
 *     rolling  the median of 'level' values, those before the last 'shift_points' (a robust
 *              local level that lags, so that a shift shows in full before it is taken in);
 *     daily    the median of the values at the same time 1..7 days earlier;
 *     weekly   the median of the values at the same time 1..2 weeks earlier.
 *   A seasonal model speaks once the history covers its period, and judges once it has been
 *   wrong or right over a whole period (its first hours of residuals may all be night). Each
 *   model keeps its last 'window' residuals (value - expectation): their median corrects the
 *   expectation (today may run higher than last week), their MAD is the scale, and their mean
 *   absolute deviation is how well the model has predicted lately. The best of those able to
 *   judge judges the point. So a daily peak that the daily model expects is no anomaly, and a
 *   flat stretch where a peak should be is one. (The mean deviation, not the MAD, picks the
 *   model: the rolling median misses every daily ramp by a mile, but on too few points for a
 *   MAD to notice.)
 * - Scores and thresholds. A point's robust z is (value - expected) / scale. What z is rare
 *   depends on the series: bursty ones make z of 50 every day. So thresholds are not fixed:
 *   each is the z that a point passes with probability 'risk' under the tail of the model's own
 *   last 'tail_window' scores, fitted by peaks over threshold (SPOT, tail_threshold()), never
 *   below the floors 'threshold' and 'shift'. Each model keeps its own tail: the rolling
 *   model's misses on a ramp are no reason to doubt a daily model that never misses. A
 *   seasonal model whose tail is still too short to fit judges by the rolling model's
 *   thresholds if they are higher. A second statistic, the median z of the last
 *   'shift_points' points, finds sustained changes that no single point shows.
 * - Anomalies. A point passing either threshold opens an anomaly (a shift one reaches back to
 *   where Page's CUSUM puts its start); it goes on while |z| stays past 'hold' in its direction
 *   (hysteresis) and ends at the first point that does not. It is a level shift when the
 *   rolling level has moved at least half its deviation (the values stayed), else a spike or a
 *   dip. Within 'window' points of an anomaly a new one in the same direction must outscore it
 *   (an aftershock belongs to what was reported), and the way back after one is not a change
 *   the other way (returning()).
 * - Learning. Every value enters the level and the history. An anomalous point's scores and
 *   residuals enter the models clipped to their thresholds (SPOT leaves alarms out of its
 *   peaks for the same reason): the models learn that something moved, not that such a jump
 *   is normal, and a lasting change is still learned step by step.
 * - Cost. Memory is bounded and taken once: one block holds the history ring and the windows,
 *   so that the Lua binding takes it from the analysis' allocator. Windows are rings; their
 *   medians, MADs and tails are recomputed every window/16 points by selection (O(window)), so
 *   a point costs O(1) amortized (about 16 visits of each window) plus two binary searches of
 *   the history per seasonal lag. A series' cost is linear in its length, which the memory
 *   budget bounds (docs/sdk.md, "The sandbox").
 * - Settings are one set for every series (sdk_anomaly_defaults), chosen for the reasons given
 *   there. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "sdk_anomaly.h"
#include "sdk_robust.h"

#define MAX_WINDOW   100000
#define MAX_HISTORY  1000000
#define DAY          86400.0
#define WEEK         (7 * DAY)
#define DAY_LAGS     7      /* same time 1..7 days earlier */
#define WEEK_LAGS    2      /* same time 1..2 weeks earlier */
#define MEANAD_SIGMA 1.2533 /* mean absolute deviation to standard deviation, normal data */
#define SHIFT_MAX    64     /* most points the shift statistic may span */
#define TAIL_SHARE   50     /* the tail fit's peaks: the top 1/50 of the scores */

enum { M_ROLLING, M_DAILY, M_WEEKLY, N_MODELS };
static const char *const model_names[N_MODELS] = {"rolling", "daily", "weekly"};

/* ---- A rolling window: a ring, and what was computed of it 'stale' pushes ago ---------------- */

typedef struct rwin {
    double *ring; /* 'n' values, the oldest at 'head' */
    size_t cap, n, head;
    double center, scale, fit; /* median, scale (MAD-based) and mean absolute deviation */
    size_t stale;              /* pushes since they were computed */
} rwin;

static void rwin_push(rwin *w, double x) {
    if (w->cap == 0) /* a tail_window of 0 */
        return;
    if (w->n == w->cap) {
        w->ring[w->head] = x;
        w->head = (w->head + 1) % w->cap;
    } else {
        w->ring[(w->head + w->n++) % w->cap] = x;
    }
    w->stale++;
}

/* Whether the window's figures are due: every push while it is small, else every cap/16
 * pushes. A median of a few hundred points barely moves in a few more. */
static int rwin_due(const rwin *w) {
    return w->stale > 0 && (w->n <= 64 || w->stale >= w->cap / 16);
}

/* Recomputes the median, the scale and the fit of 'w', using 'scratch' (cap doubles). */
static void rwin_refresh(rwin *w, double *scratch) {
    if (!rwin_due(w) || w->n == 0)
        return;
    w->stale = 0;
    memcpy(scratch, w->ring, w->n * sizeof(double)); /* order does not matter */
    w->center = sdk__median(scratch, w->n);
    double sum = 0;
    for (size_t i = 0; i < w->n; i++) {
        scratch[i] = fabs(scratch[i] - w->center);
        sum += scratch[i];
    }
    w->fit = sum / (double)w->n;
    w->scale = SDK__MAD_SIGMA * sdk__median(scratch, w->n);
    if (w->scale <= 0) /* over half the values equal: the mean deviation still sees the rest */
        w->scale = MEANAD_SIGMA * w->fit;
}

/* ---- The tail of the scores ------------------------------------------------------------------ */

/* The score that a point passes with probability 'risk' under the tail of the 'n' scores at
 * 'a' (reordered): SPOT's peaks over threshold (Siffer et al., KDD 2017). The excesses of the
 * top 2% over the 98% quantile are fitted with a generalized Pareto distribution by
 * probability-weighted moments (Hosking and Wallis 1987: no iteration, sound for shapes below
 * 1), and its quantile at 'risk' is the answer. Heavy-tailed series get high thresholds, quiet
 * ones low. INFINITY when there are too few peaks to fit. */
static double tail_threshold(double *a, size_t n, double risk) {
    size_t k = n / TAIL_SHARE;
    if (k < 8)
        return INFINITY;
    sdk__select(a, n, n - k - 1);
    double u = a[n - k - 1], *peaks = a + n - k;
    sdk__sort(peaks, k);
    double a0 = 0, a1 = 0;
    for (size_t i = 0; i < k; i++) {
        double y = peaks[i] - u, p = ((double)i + 0.65) / (double)k; /* plotting position */
        a0 += y;
        a1 += (1 - p) * y;
    }
    a0 /= (double)k;
    a1 /= (double)k;
    if (!(a0 > 0) || !(a0 - 2 * a1 > 0))
        return u;
    double sigma = 2 * a0 * a1 / (a0 - 2 * a1), xi = 2 - a0 / (a0 - 2 * a1);
    double r = risk * (double)n / (double)k; /* the chance of passing, given a peak */
    if (fabs(xi) < 1e-6)
        return u - sigma * log(r);
    return u + sigma / xi * (pow(r, -xi) - 1);
}

/* ---- The stream ------------------------------------------------------------------------------ */

/* A baseline model: its residuals, and the history of its own scores, whose tail says what is
 * rare for it. Each model keeps its own: the rolling model's misses on a ramp are no reason to
 * doubt a daily model that never misses. */
typedef struct model {
    rwin resid;                /* the last 'window' residuals */
    rwin scores, shift_scores; /* the last 'tail_window' |z| and |shift statistic| */
    double limit, shift_limit; /* the thresholds in force for each */
    double zring[SHIFT_MAX];   /* z of the last shift_points points */
    size_t zn, zhead;
    double resid_now, z, zm; /* this point's residual, z and shift statistic (NaN: none) */
    double since;            /* time of its first residual */
} model;

struct sdk_anomaly_stream {
    sdk_anomaly_opts o;
    double *ht, *hv; /* the history ring, for the seasonal lookups */
    size_t hcap, hn, hhead;
    double last_t;
    double *scratch;         /* max(window, tail_window) doubles for the windows' figures */
    rwin level;              /* the last 'level' values but the most recent shift_points */
    double delay[SHIFT_MAX]; /* those, on their way to 'level' */
    size_t dn, dhead;
    model m[N_MODELS];
    int judge;           /* the model that judges the current point */
    int open;            /* 'cur' is open */
    sdk_anomaly cur;     /* the open anomaly, or the last one */
    double before;       /* the expectation when 'cur' opened */
    double before_scale; /* and the scale then */
    size_t since_last;   /* points since the last anomalous one */
    size_t since_close;  /* points since 'cur' closed */
};

void sdk_anomaly_defaults(sdk_anomaly_opts *o) {
    /* One set for every series. Points, not durations: at a 5-minute step 12 points are an
     * hour, 2016 a week. 'level' 12: a median of 12 ignores a burst of up to 5 points and
     * follows a new level within 6. 'shift_points' 12: an hour's shift at that step, the
     * same span. 'window' 2016: a week of residuals holds a weekly cycle's busy and quiet
     * days. 'tail_window' 8064: four windows, so that the tail fit has 160 peaks. 'risk'
     * 1e-4: a false alarm per 10,000 points (about a month at a 5-minute step), as far as the
     * tail fit holds. 'threshold' 5 and 'shift' 3: floors in robust standard deviations for
     * quiet series, where the tail says little (5 is about a one-in-a-million point of
     * Gaussian noise; 3 on a median of 12 is rarer still). 'hold' 3: an anomaly lasts while
     * its points stay 3 deviations out. 'min_points' 60: no scale from fewer. 'history'
     * 20480: two weeks at a one-minute step. */
    *o = (sdk_anomaly_opts){
        .level = 12,
        .window = 2016,
        .tail_window = 8064,
        .risk = 1e-4,
        .threshold = 5,
        .hold = 3,
        .shift = 3,
        .shift_points = 12,
        .min_points = 60,
        .history = 20480,
        .seasons = SDK_SEASON_DAY | SDK_SEASON_WEEK,
    };
}

const char *sdk_anomaly_check(const sdk_anomaly_opts *o, char *why, size_t whylen) {
    if (o->window < 8 || o->window > MAX_WINDOW)
        snprintf(why, whylen, "window must be from 8 to %d points (got %zu)", MAX_WINDOW,
                 o->window);
    else if (o->level < 1 || o->level > o->window)
        snprintf(why, whylen, "level must be from 1 to window (got %zu)", o->level);
    else if (o->tail_window > MAX_WINDOW)
        snprintf(why, whylen, "tail_window must be at most %d points (got %zu)", MAX_WINDOW,
                 o->tail_window);
    else if (!(o->risk >= 0 && o->risk <= 0.01))
        snprintf(why, whylen, "risk must be from 0 to 0.01 (got %g)", o->risk);
    else if (!(o->threshold > 0) || !isfinite(o->threshold))
        snprintf(why, whylen, "threshold must be > 0 (got %g)", o->threshold);
    else if (!(o->hold > 0) || !(o->hold <= o->threshold))
        snprintf(why, whylen, "hold must be > 0 and at most threshold (got %g)", o->hold);
    else if (!(o->shift > 0) || !isfinite(o->shift))
        snprintf(why, whylen, "shift must be > 0 (got %g)", o->shift);
    else if (o->shift_points < 2 || o->shift_points > SHIFT_MAX)
        snprintf(why, whylen, "shift_points must be from 2 to %d (got %zu)", SHIFT_MAX,
                 o->shift_points);
    else if (o->min_points < 4 || o->min_points > o->window)
        snprintf(why, whylen, "min_points must be from 4 to window (got %zu)", o->min_points);
    else if (o->history > MAX_HISTORY)
        snprintf(why, whylen, "history must be at most %d points (got %zu)", MAX_HISTORY,
                 o->history);
    else
        return NULL;
    return why;
}

/* Doubles the stream needs beyond its struct: history times and values, the scratch, the level
 * ring, and each model's residual ring and two score rings. */
static size_t doubles_needed(const sdk_anomaly_opts *o) {
    size_t scratch = o->window > o->tail_window ? o->window : o->tail_window;
    return 2 * o->history + scratch + o->level + N_MODELS * (o->window + 2 * o->tail_window);
}

size_t sdk_anomaly_stream_size(const sdk_anomaly_opts *o) {
    return sizeof(sdk_anomaly_stream) + doubles_needed(o) * sizeof(double);
}

static double *rwin_init(rwin *w, double *mem, size_t cap) {
    *w = (rwin){.ring = mem, .cap = cap};
    return mem + cap;
}

sdk_anomaly_stream *sdk_anomaly_stream_init(void *mem, size_t size, const sdk_anomaly_opts *o) {
    sdk_anomaly_stream *s = mem;
    if (size < sdk_anomaly_stream_size(o))
        return NULL;
    memset(s, 0, sizeof *s);
    s->o = *o;
    double *d = (double *)(s + 1);
    s->ht = d;
    s->hv = d + o->history;
    s->hcap = o->history;
    s->scratch = d + 2 * o->history;
    d = s->scratch + (o->window > o->tail_window ? o->window : o->tail_window);
    d = rwin_init(&s->level, d, o->level);
    for (int k = 0; k < N_MODELS; k++) {
        model *m = &s->m[k];
        d = rwin_init(&m->resid, d, o->window);
        d = rwin_init(&m->scores, d, o->tail_window);
        d = rwin_init(&m->shift_scores, d, o->tail_window);
        m->limit = o->threshold;
        m->shift_limit = o->shift;
    }
    s->last_t = -INFINITY;
    s->since_last = s->since_close = SIZE_MAX / 2;
    return s;
}

/* ---- History and models ---------------------------------------------------------------------- */

/* The value of the history point nearest to 't' within 'tol', or NaN. The ring holds times in
 * increasing order, so a binary search over its logical order finds it. */
static double history_at(const sdk_anomaly_stream *s, double t, double tol) {
    size_t lo = 0, hi = s->hn;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ht[(s->hhead + mid) % s->hcap] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    double best = NAN, dist = tol;
    for (size_t i = lo > 0 ? lo - 1 : 0; i <= lo && i < s->hn; i++) {
        size_t at = (s->hhead + i) % s->hcap;
        if (fabs(s->ht[at] - t) <= dist) {
            dist = fabs(s->ht[at] - t);
            best = s->hv[at];
        }
    }
    return best;
}

static void history_push(sdk_anomaly_stream *s, double t, double v) {
    if (s->hcap == 0)
        return;
    size_t at = (s->hhead + s->hn) % s->hcap;
    if (s->hn == s->hcap)
        s->hhead = (s->hhead + 1) % s->hcap;
    else
        s->hn++;
    s->ht[at] = t;
    s->hv[at] = v;
}

/* What the seasonal model 'm' expects at 't' before its residuals correct it: the median of
 * the values at t - k·period that the history holds; NaN before it covers one period. */
static double seasonal_expect(const sdk_anomaly_stream *s, int m, double t, double tol) {
    double period = m == M_DAILY ? DAY : WEEK, got[DAY_LAGS];
    int lags = m == M_DAILY ? DAY_LAGS : WEEK_LAGS;
    if (!(s->o.seasons & (m == M_DAILY ? SDK_SEASON_DAY : SDK_SEASON_WEEK)) || s->hn == 0 ||
        s->ht[s->hhead] > t - period + tol)
        return NAN;
    size_t n = 0;
    for (int k = 1; k <= lags; k++) {
        double v = history_at(s, t - k * period, tol);
        if (!isnan(v))
            got[n++] = v;
    }
    return n ? sdk__median(got, n) : NAN;
}

/* What model 'k' expects at 't' before its residuals correct it; NaN when it cannot say. */
static double model_expect(sdk_anomaly_stream *s, int k, double t, double tol) {
    if (k != M_ROLLING)
        return seasonal_expect(s, k, t, tol);
    rwin_refresh(&s->level, s->scratch);
    return s->level.n ? s->level.center : NAN;
}

/* The scale a point is judged by: never 0, or every wiggle of a flat series would be infinitely
 * surprising; 1e-9 of the level (or of 1) keeps z finite. */
static double scale_floor(double scale, double level) {
    double f = 1e-9 * fmax(fabs(level), 1.0);
    return scale > f ? scale : f;
}

/* Pushes 'z' to the z ring of 'm' and returns their median (NaN until the ring is full). */
static double shift_statistic(sdk_anomaly_stream *s, model *m, double z) {
    double a[SHIFT_MAX];
    size_t cap = s->o.shift_points;
    m->zring[(m->zhead + m->zn) % cap] = z;
    if (m->zn < cap)
        m->zn++;
    else
        m->zhead = (m->zhead + 1) % cap;
    if (m->zn < cap)
        return NAN;
    memcpy(a, m->zring, cap * sizeof(double));
    return sdk__median(a, cap);
}

/* The thresholds model 'k' judges by, into 'limit' and 'shift_limit': its own once its tail
 * holds enough scores to fit (8 peaks), else no lower than the rolling model's. A seasonal
 * model comes of age days after the rolling one, and its first few hundred scores say little
 * of how its errors run. */
static void limits(const sdk_anomaly_stream *s, int k, double *limit, double *shift_limit) {
    const model *m = &s->m[k], *r = &s->m[M_ROLLING];
    *limit = m->limit;
    *shift_limit = m->shift_limit;
    if (k != M_ROLLING && s->o.risk > 0 && m->scores.n < 8 * TAIL_SHARE) {
        *limit = fmax(*limit, r->limit);
        *shift_limit = fmax(*shift_limit, r->shift_limit);
    }
}

/* Judges 'v' at 't': every model that can says what it expected and how far off 'v' is, and
 * the one that has fitted best lately is the judge ('pt'). */
static void judge(sdk_anomaly_stream *s, double t, double v, sdk_anomaly_point *pt) {
    double tol = isfinite(s->last_t) ? 0.5 * (t - s->last_t) : 0, best = INFINITY;
    s->judge = -1;
    for (int k = 0; k < N_MODELS; k++) {
        model *m = &s->m[k];
        double e = model_expect(s, k, t, tol);
        m->resid_now = v - e;
        m->z = m->zm = NAN;
        if (isnan(e))
            continue;
        rwin_refresh(&m->resid, s->scratch);
        if (m->resid.n < s->o.min_points)
            continue;
        /* a season's errors must have been seen over a whole period before it judges: its
         * first hours of residuals may all be night, and night is quiet */
        int ready = k == M_ROLLING || t - m->since >= (k == M_DAILY ? DAY : WEEK);

        e += m->resid.center;
        m->z = (v - e) / scale_floor(m->resid.scale, e);
        m->zm = shift_statistic(s, m, m->z);
        if (ready && m->resid.fit < best) {
            best = m->resid.fit;
            s->judge = k;
            pt->expected = e;
            pt->z = m->z;
            pt->baseline = model_names[k];
        }
    }
}

/* Pushes 'x' to the score window 'w' and refreshes '*limit', the threshold in force for its
 * statistic, when due: the tail threshold of the window, never below 'floor'. */
static void track(sdk_anomaly_stream *s, rwin *w, double *limit, double x, double floor) {
    if (s->o.risk == 0 || w->cap == 0 || isnan(x))
        return;
    rwin_push(w, fabs(x));
    if (rwin_due(w)) {
        w->stale = 0;
        memcpy(s->scratch, w->ring, w->n * sizeof(double));
        double tail = tail_threshold(s->scratch, w->n, s->o.risk);
        *limit = isfinite(tail) && tail > floor ? tail : floor;
    }
}

/* Feeds 'v' to the rolling level 'shift_points' points late: the level then stands where the
 * series was before the points the shift statistic looks at, and a shift shows in full in
 * that statistic instead of being half taken in by the level. */
static void delay_push(sdk_anomaly_stream *s, double v) {
    size_t m = s->o.shift_points;
    if (s->dn == m) {
        rwin_push(&s->level, s->delay[s->dhead]);
        s->delay[s->dhead] = v;
        s->dhead = (s->dhead + 1) % m;
    } else {
        s->delay[(s->dhead + s->dn++) % m] = v;
    }
}

/* Clips 'x' to 'center' ± 'width'. */
static double clip(double x, double center, double width) {
    return fmin(fmax(x, center - width), center + width);
}

/* Feeds the point ('t', 'v'; 'anomalous' or not) to the detector: its value to the level and
 * the history, and to each model its scores and residual. An anomalous point's are clipped to
 * the model's thresholds (SPOT leaves alarms out of its peaks for the same reason): the models
 * learn that something moved, not that such a jump is normal, and a lasting change is still
 * learned step by step. */
static void learn(sdk_anomaly_stream *s, double t, double v, int anomalous) {
    delay_push(s, v);
    history_push(s, t, v);
    for (int k = 0; k < N_MODELS; k++) {
        model *m = &s->m[k];
        double r = m->resid_now;
        if (isnan(r))
            continue;
        track(s, &m->scores, &m->limit, anomalous ? fmin(fabs(m->z), m->limit) : m->z,
              s->o.threshold);
        track(s, &m->shift_scores, &m->shift_limit,
              anomalous ? fmin(fabs(m->zm), m->shift_limit) : m->zm, s->o.shift);
        if (anomalous && m->resid.n > 0)
            r = clip(r, m->resid.center, m->limit * scale_floor(m->resid.scale, 0));
        if (m->resid.n == 0)
            m->since = t;
        rwin_push(&m->resid, r);
    }
}

/* ---- Anomalies ------------------------------------------------------------------------------- */

static void open_anomaly(sdk_anomaly_stream *s, double start, double t, double v,
                         const sdk_anomaly_point *pt, int dir) {
    s->open = 1;
    s->cur = (sdk_anomaly){.start = start,
                           .end = t,
                           .peak = t,
                           .value = v,
                           .expected = pt->expected,
                           .magnitude = fabs(v - pt->expected),
                           .score = fabs(pt->z),
                           .direction = dir,
                           .kind = SDK_ANOMALY_SPIKE,
                           .baseline = pt->baseline,
                           .points = 1};
    s->before = pt->expected;
    s->before_scale = pt->z != 0 ? fabs((v - pt->expected) / pt->z) : 0;
}

static void grow_anomaly(sdk_anomaly_stream *s, double t, double v, const sdk_anomaly_point *pt) {
    sdk_anomaly *a = &s->cur;
    a->end = t;
    a->points++;
    if (fabs(pt->z) > a->score) {
        a->peak = t;
        a->value = v;
        a->expected = pt->expected;
        a->magnitude = fabs(v - pt->expected);
        a->score = fabs(pt->z);
        a->baseline = pt->baseline;
    }
}

/* The kind of 'a' as it stands: a level shift when the rolling level has moved at least half
 * of its peak deviation from where the baseline stood before it (the values stayed there),
 * else a spike or a dip (they came back). */
static void classify(sdk_anomaly_stream *s, sdk_anomaly *a) {
    rwin_refresh(&s->level, s->scratch);
    double moved = (s->level.center - s->before) * a->direction;
    if (moved >= 0.5 * (a->value - s->before) * a->direction)
        a->kind = SDK_ANOMALY_LEVEL_SHIFT;
    else
        a->kind = a->direction > 0 ? SDK_ANOMALY_SPIKE : SDK_ANOMALY_DIP;
}

static int close_anomaly(sdk_anomaly_stream *s, sdk_anomaly *closed) {
    if (!s->open)
        return 0;
    classify(s, &s->cur);
    s->open = 0;
    s->since_close = 0;
    if (closed)
        *closed = s->cur;
    return SDK_ANOMALY_CLOSED;
}

/* Whether 'v', judged in direction 'dir', is the series coming back after the last anomaly:
 * opposite to it, within 'level' points of its last point, and back between half its
 * deviation and the old baseline. The rolling level took some of the anomaly in, so the way
 * back looks like a change the other way; it is none. */
static int returning(const sdk_anomaly_stream *s, double v, int dir) {
    const sdk_anomaly *a = &s->cur;
    if (a->points == 0 || dir == a->direction || s->since_last > s->o.level)
        return 0;
    double d = (v - s->before) * a->direction, peak = (a->value - s->before) * a->direction;
    return d < 0.5 * peak && d > -s->o.hold * s->before_scale;
}

/* How many points before the current one a shift in direction 'dir' began, estimated over the
 * z ring as Page's CUSUM does: after the last minimum of the sums of (z dir - limit / 2). */
static size_t shift_start(const sdk_anomaly_stream *s, const model *md, int dir, double limit) {
    double sum = 0, low = 0;
    size_t m = md->zn, at = 0;
    for (size_t i = 0; i < m; i++) {
        sum += md->zring[(md->zhead + i) % s->o.shift_points] * dir - limit / 2;
        if (sum < low) {
            low = sum;
            at = i + 1;
        }
    }
    return m - 1 - (at < m ? at : m - 1); /* the current point is the ring's last */
}

/* Decides whether the judged point ('t', 'v', 'pt') is anomalous, and opens, grows or closes
 * the anomaly; returns the push's result bits. */
static int decide(sdk_anomaly_stream *s, double t, double v, sdk_anomaly_point *pt,
                  sdk_anomaly *closed) {
    const model *m = &s->m[s->judge];
    double zm = m->zm, limit, shift_limit;
    limits(s, s->judge, &limit, &shift_limit);
    int dir = pt->z > 0 ? 1 : -1, rc = 0;
    int point = fabs(pt->z) >= limit;
    int shift = fabs(zm) >= shift_limit && (zm > 0) == (dir > 0);
    int hold = s->open && s->cur.direction == dir && fabs(pt->z) >= s->o.hold;
    if (returning(s, v, dir) || (!s->open && s->since_close < s->o.window &&
                                 dir == s->cur.direction && fabs(pt->z) <= s->cur.score))
        point = shift = 0;
    s->since_close++;
    s->since_last++;
    if (!point && !shift && !hold)
        return close_anomaly(s, closed);
    if (s->open && s->cur.direction != dir)
        rc = close_anomaly(s, closed);
    if (s->open) {
        grow_anomaly(s, t, v, pt);
    } else if (shift && !point) { /* it reaches back to the points that make it */
        size_t back = shift_start(s, m, dir, shift_limit);
        size_t k = s->hn >= back ? s->hn - back : 0;
        open_anomaly(s, back && k < s->hn ? s->ht[(s->hhead + k) % s->hcap] : t, t, v, pt, dir);
    } else {
        open_anomaly(s, t, t, v, pt, dir);
    }
    s->since_last = 0;
    pt->anomalous = 1;
    return rc | 1;
}

int sdk_anomaly_stream_push(sdk_anomaly_stream *s, double t, double v, sdk_anomaly_point *pt,
                            sdk_anomaly *closed) {
    sdk_anomaly_point local;
    if (!pt)
        pt = &local;
    *pt = (sdk_anomaly_point){.expected = NAN, .baseline = model_names[M_ROLLING]};
    if (!(t > s->last_t) || !isfinite(t))
        return -1;
    if (!isfinite(v))
        return 0;
    judge(s, t, v, pt);
    int rc = s->judge < 0 ? 0 : decide(s, t, v, pt, closed);
    learn(s, t, v, pt->anomalous);
    s->last_t = t;
    return rc;
}

int sdk_anomaly_stream_open(sdk_anomaly_stream *s, sdk_anomaly *a) {
    if (!s->open)
        return 0;
    *a = s->cur;
    classify(s, a);
    return 1;
}

int sdk_anomaly_stream_flush(sdk_anomaly_stream *s, sdk_anomaly *a) {
    return close_anomaly(s, a) ? 1 : 0;
}

const char *sdk_anomaly_kind_name(sdk_anomaly_kind k) {
    static const char *const names[] = {"spike", "dip", "level_shift"};
    return names[k];
}
