/* sdk/sdk_correlate.c -- time-series correlation around an onset (inquest.correlate,
 * docs/sdk.md "Correlation"): rank candidate series by how well their change explains the
 * target's. Series themselves are sdk_series.c's; what the helpers share is sdk_toolkit.c's.
 *
 * Design notes
 * - Two kinds of evidence, each scale-free and robust to outliers, make the score:
 *   co-movement, Spearman's rho of the first differences in the window (ranks: an outlier
 *   weighs no more than any other extreme; differences: two unrelated random walks, or two
 *   series with a trend, do not correlate by accident), and agreement of the changes at the
 *   onset. A candidate that follows every wiggle of the target is found by the first; one that
 *   shares only its step, by the second. score = 1 - (1 - |rho|)(1 - s): either kind of
 *   evidence alone can make it high.
 * - A change is the difference of the levels (interquartile means) of span points after and
 *   before a time, as a robust z-score against the same difference at earlier times of the
 *   same series, so that a series that always wanders needs a bigger change than a flat one.
 *   The yardstick needs history: the default window reaches 120 steps before the onset.
 *   f(z) = z^2 / (z^2 + 4^2): a change of 4 robust standard deviations counts half, and two
 *   changes agree as much as the weaker is significant.
 * - A change at the same time is not yet the same change: a spike next to a step, or a quiet
 *   series whose every blip is "significant" (sparse counts have a yardstick of 0), would
 *   score high. So the agreement is weighed by the shape: Spearman's rho of the levels of
 *   both, 2 span each side of the onset, in the direction of the changes:
 *   s = min(f(z_candidate), f(z_target)) * max(0, rho_shape * sign).
 * - Lags: the candidate at grid index i - lag is compared with the target at i, for every lag
 *   from -max_lag to max_lag; the best lag is kept, and of equal scores the smallest.
 * - Loops run in C: their work is counted on an sdk_work meter (the instruction budget), and
 *   their scratch memory comes from the caller (the binding: userdata, under the memory
 *   budget). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk_correlate.h"
#include "sdk_series.h"

#define NULL_MAX  64  /* earlier changes making the yardstick, at most */
#define NULL_MIN  8   /* and at least */
#define PAIRS_MIN 8   /* differences needed for a rank correlation */
#define HALF_Z    4.0 /* the robust z-score whose change counts half */
#define MAD_SCALE 1.4826

typedef struct ranked {
    double v;
    size_t i;
} ranked;

/* The scratch memory of one call, carved out of the caller's block. */
typedef struct scratch {
    double *null, *side;  /* NULL_MAX changes; one side of a change */
    double *dt, *rx, *ry; /* window-sized: target differences, the ranks of a lag's pairs */
    double *x, *y;        /* window-sized: pairs of levels near the onset */
    double *dc;           /* window and lags: the candidate's differences */
    size_t *ot, *oc;      /* their indices sorted by value, NaN left out */
    size_t nt, nc;        /* how many */
    unsigned char *valid; /* window-sized: both differences of a pair are numbers */
    ranked *order;        /* window and lags */
} scratch;

size_t sdk_corr_scratch_size(const sdk_corr_opts *o) {
    size_t w = o->hi - o->lo, e = w + 2 * o->max_lag;
    return (NULL_MAX + o->span + 5 * w + e) * sizeof(double) + (w + e) * sizeof(size_t) +
           e * sizeof(ranked) + w;
}

static scratch carve(void *block, const sdk_corr_opts *o) {
    size_t w = o->hi - o->lo, e = w + 2 * o->max_lag;
    scratch s;
    s.null = block;
    s.side = s.null + NULL_MAX;
    s.dt = s.side + o->span;
    s.rx = s.dt + w;
    s.ry = s.rx + w;
    s.x = s.ry + w;
    s.y = s.x + w;
    s.dc = s.y + w;
    s.order = (ranked *)(s.dc + e);
    s.ot = (size_t *)(s.order + e);
    s.oc = s.ot + w;
    s.valid = (unsigned char *)(s.oc + e);
    s.nt = s.nc = 0;
    return s;
}

/* ---- Robust statistics ------------------------------------------------------------------ */

/* The 'k'-th smallest (0-based) of the 'n' values at 'a', which it reorders so that those
 * before it are not larger (Wirth's selection). */
static double kth(double *a, ptrdiff_t n, ptrdiff_t k) {
    ptrdiff_t l = 0, m = n - 1;
    while (l < m) {
        double x = a[k];
        ptrdiff_t i = l, j = m;
        do {
            while (a[i] < x)
                i++;
            while (x < a[j])
                j--;
            if (i <= j) {
                double t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        } while (i <= j);
        if (j < k)
            l = i;
        if (k < i)
            m = j;
    }
    return a[k];
}

/* The median of the 'n' values at 'a' (reordered). n > 0. */
static double median(double *a, size_t n) {
    ptrdiff_t k = (ptrdiff_t)n / 2;
    double m = kth(a, (ptrdiff_t)n, k);
    if (n % 2)
        return m;
    double below = a[0]; /* the largest of those before the k-th: the other middle value */
    for (ptrdiff_t i = 1; i < k; i++)
        below = a[i] > below ? a[i] : below;
    return (below + m) / 2;
}

/* The interquartile mean of the values of 'x' from 'from' ('count' of them) that are not NaN
 * (the quarter of the lowest and of the highest left out: robust to an outlier, yet it peaks
 * where a step is, where a median stays flat for half a side), or NaN when fewer than half of
 * them are values. */
static double side_level(const double *x, size_t from, size_t count, double *buf) {
    size_t m = 0;
    for (size_t i = from; i < from + count; i++) {
        double v = x[i];
        if (isnan(v))
            continue;
        size_t j = m++; /* insertion sort: a side is a few points */
        for (; j > 0 && buf[j - 1] > v; j--)
            buf[j] = buf[j - 1];
        buf[j] = v;
    }
    if (m == 0 || m * 2 < count)
        return NAN;
    size_t cut = m / 4;
    double sum = 0;
    for (size_t i = cut; i < m - cut; i++)
        sum += buf[i];
    return sum / (double)(m - 2 * cut);
}

/* The change of 'x' ('n' points) at index 'at': the level of 'span' points from it minus that
 * of 'span' points before it; NaN where the grid has no room for them. */
static double change_at(const double *x, size_t n, ptrdiff_t at, size_t span, double *buf) {
    if (at < (ptrdiff_t)span || (size_t)at + span > n)
        return NAN;
    return side_level(x, (size_t)at, span, buf) - side_level(x, (size_t)at - span, span, buf);
}

/* The yardstick of 'x''s changes: their median and robust scale at up to NULL_MAX times from
 * 'span' to 'last'. Returns 0, or -1 when fewer than NULL_MIN times have a change. */
static int yardstick(const double *x, size_t last, size_t span, scratch *s, sdk_work *w,
                     double *center, double *scale) {
    if (last < span)
        return -1;
    size_t times = last - span + 1, stride = (times + NULL_MAX - 1) / NULL_MAX, k = 0;
    for (size_t at = span; at <= last && k < NULL_MAX; at += stride) {
        double d = change_at(x, last + span, (ptrdiff_t)at, span, s->side);
        if (!isnan(d))
            s->null[k++] = d;
    }
    sdk_work_add(w, (uint64_t)k * 2 * span);
    if (k < NULL_MIN)
        return -1;
    *center = median(s->null, k);
    for (size_t i = 0; i < k; i++)
        s->null[i] = fabs(s->null[i] - *center);
    *scale = MAD_SCALE * median(s->null, k);
    return 0;
}

/* z of the change 'd' against the yardstick; a flat series (scale 0) gets a tiny scale, so
 * that any change of it counts as large and no change as none. */
static double robust_z(double d, double center, double scale) {
    double least = 1e-9 * (1 + fabs(center));
    double z = (d - center) / (scale > least ? scale : least);
    return isnan(z) ? NAN : fmax(-1e6, fmin(1e6, z));
}

double sdk_corr_shift(const double *x, size_t n, const sdk_corr_opts *o, void *block) {
    scratch s = carve(block, o);
    double center, scale;
    if (o->onset < o->max_lag + 2 * o->span ||
        yardstick(x, o->onset - o->max_lag - o->span, o->span, &s, NULL, &center, &scale) != 0)
        return NAN;
    return robust_z(change_at(x, n, (ptrdiff_t)o->onset, o->span, s.side), center, scale);
}

/* ---- Rank correlation ------------------------------------------------------------------- */

static int ranked_cmp(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* The ranks (1-based, ties averaged) of the 'm' values at 'v' into 'r'. */
static void rank(const double *v, size_t m, double *r, ranked *order) {
    for (size_t i = 0; i < m; i++)
        order[i] = (ranked){v[i], i};
    qsort(order, m, sizeof *order, ranked_cmp);
    for (size_t i = 0; i < m;) {
        size_t j = i;
        while (j + 1 < m && order[j + 1].v == order[i].v)
            j++;
        for (size_t k = i; k <= j; k++)
            r[order[k].i] = (double)(i + j) / 2 + 1;
        i = j + 1;
    }
}

/* Pearson's correlation of the 'm' pairs; NaN when either side is constant. */
static double pearson(const double *x, const double *y, size_t m) {
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < m; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)m;
    my /= (double)m;
    for (size_t i = 0; i < m; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

/* The indices of the 'n' values at 'v' that are numbers, sorted by value, into 'out'; returns
 * how many. */
static size_t sort_indices(const double *v, size_t n, size_t *out, ranked *order) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i]))
            order[m++] = (ranked){v[i], i};
    qsort(order, m, sizeof *order, ranked_cmp);
    for (size_t i = 0; i < m; i++)
        out[i] = order[i].i;
    return m;
}

/* Ranks (1-based, ties averaged) among the members only: walks the 'n' indices 'sorted' by
 * the values 'v'; index x is a member when 0 <= x - 'shift' < 'w' and valid[x - shift], and its
 * rank goes to r[x - shift]. */
static void rank_members(const double *v, const size_t *sorted, size_t n, ptrdiff_t shift, size_t w,
                         const unsigned char *valid, double *r) {
    double next = 1;
    for (size_t a = 0; a < n;) {
        size_t b = a, members = 0;
        for (; b < n && v[sorted[b]] == v[sorted[a]]; b++) {
            ptrdiff_t k = (ptrdiff_t)sorted[b] - shift;
            members += k >= 0 && (size_t)k < w && valid[k];
        }
        double avg = next + (double)(members - 1) / 2;
        for (size_t c = a; c < b; c++) {
            ptrdiff_t k = (ptrdiff_t)sorted[c] - shift;
            if (k >= 0 && (size_t)k < w && valid[k])
                r[k] = avg;
        }
        next += (double)members;
        a = b;
    }
}

/* Spearman's rho of the target's differences (s->dt at window index k, that is grid index
 * lo + k) and the candidate's at lo + k - 'lag' (s->dc at k + max_lag - lag), over the pairs
 * where both are numbers. Both were sorted once: a lag only walks them. */
static double comovement(const sdk_corr_opts *o, long lag, scratch *s, sdk_work *w) {
    size_t width = o->hi - o->lo, m = 0;
    ptrdiff_t shift = (ptrdiff_t)o->max_lag - lag;
    for (size_t k = 0; k < width; k++) {
        s->valid[k] = !isnan(s->dt[k]) && !isnan(s->dc[(ptrdiff_t)k + shift]);
        m += s->valid[k];
    }
    sdk_work_add(w, 4 * (width + s->nc));
    if (m < PAIRS_MIN)
        return NAN;
    rank_members(s->dt, s->ot, s->nt, 0, width, s->valid, s->rx);
    rank_members(s->dc, s->oc, s->nc, shift, width, s->valid, s->ry);
    double mean = ((double)m + 1) / 2, sxy = 0, sxx = 0, syy = 0;
    for (size_t k = 0; k < width; k++) {
        if (!s->valid[k])
            continue;
        sxy += (s->rx[k] - mean) * (s->ry[k] - mean);
        sxx += (s->rx[k] - mean) * (s->rx[k] - mean);
        syy += (s->ry[k] - mean) * (s->ry[k] - mean);
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

/* Spearman's rho of the levels of the target and the candidate (at i - 'lag') near the onset:
 * 2 * span points each side. It tells a change of the same shape (a step with a step, a spike
 * with a spike) from a change that only happens at the same time. */
static double shape(const double *target, const double *cand, size_t n, const sdk_corr_opts *o,
                    long lag, scratch *s, sdk_work *w) {
    size_t from = o->onset > o->lo + 2 * o->span ? o->onset - 2 * o->span : o->lo;
    size_t to = o->onset + 2 * o->span < o->hi ? o->onset + 2 * o->span : o->hi, m = 0;
    for (size_t i = from; i < to; i++) {
        ptrdiff_t j = (ptrdiff_t)i - lag;
        if (j < 0 || (size_t)j >= n || isnan(target[i]) || isnan(cand[j]))
            continue;
        s->x[m] = target[i];
        s->y[m++] = cand[j];
    }
    if (m < PAIRS_MIN)
        return NAN;
    rank(s->x, m, s->rx, s->order);
    rank(s->y, m, s->ry, s->order);
    sdk_work_add(w, (uint64_t)m * 8);
    return pearson(s->rx, s->ry, m);
}

/* ---- Scoring ---------------------------------------------------------------------------- */

static double significance(double z) {
    return isnan(z) ? 0 : z * z / (z * z + HALF_Z * HALF_Z);
}

/* The score of a candidate at one lag from its co-movement 'rho', its change 'z' and the
 * shape of its change 'form'. */
static sdk_corr judge(double rho, double z, double form, double target_z, long lag) {
    double s = fmin(significance(z), significance(target_z)), r = isnan(rho) ? 0 : fabs(rho);
    double same = (z > 0) == (target_z > 0) ? 1 : -1;
    s *= isnan(form) ? 0 : fmax(0, same * form);
    sdk_corr c = {1 - (1 - r) * (1 - s), rho, z, lag, 0};
    if (s > 0 && s >= r)
        c.direction = (int)same;
    else if (r > 0)
        c.direction = rho > 0 ? 1 : -1;
    return c;
}

/* True when 'a' is better than 'b': a higher score, or as high at a smaller lag, leading
 * before lagging. */
static int better(const sdk_corr *a, const sdk_corr *b) {
    if (a->score != b->score)
        return a->score > b->score;
    if (labs(a->lag) != labs(b->lag))
        return labs(a->lag) < labs(b->lag);
    return a->lag > b->lag;
}

void sdk_correlate(const double *target, const double *cand, size_t n, const sdk_corr_opts *o,
                   double target_shift, void *block, sdk_work *w, sdk_corr *out) {
    scratch s = carve(block, o);
    double center = 0, scale = 0;
    size_t width = o->hi - o->lo, ext = width + 2 * o->max_lag;
    for (size_t i = o->lo; i < o->hi; i++)
        s.dt[i - o->lo] = target[i] - target[i - 1];
    for (size_t e = 0, j = o->lo - o->max_lag; e < ext; e++, j++)
        s.dc[e] = cand[j] - cand[j - 1];
    s.nt = sort_indices(s.dt, width, s.ot, s.order);
    s.nc = sort_indices(s.dc, ext, s.oc, s.order);
    sdk_work_add(w, 2 * (width + ext) * (1 + (uint64_t)log2((double)ext + 1)));
    int has_yardstick =
        o->onset >= o->max_lag + 2 * o->span &&
        yardstick(cand, o->onset - o->max_lag - o->span, o->span, &s, w, &center, &scale) == 0;
    *out = (sdk_corr){-1, NAN, NAN, 0, 0};
    for (long lag = -(long)o->max_lag; lag <= (long)o->max_lag; lag++) {
        double rho = comovement(o, lag, &s, w), z = NAN, form = NAN;
        if (has_yardstick) {
            z = robust_z(change_at(cand, n, (ptrdiff_t)o->onset - lag, o->span, s.side), center,
                         scale);
            form = shape(target, cand, n, o, lag, &s, w);
        }
        sdk_corr c = judge(rho, z, form, target_shift, lag);
        if (better(&c, out))
            *out = c;
        sdk_work_add(w, 2 * o->span + (o->hi - o->lo));
    }
}

/* ---- inquest.correlate.rank ------------------------------------------------------------- */

static const char *const rank_options[] = {"onset",   "step", "before", "after",
                                           "max_lag", "span", "top",    NULL};

/* The median spacing of the times of 's' (> 0: times increase), or NaN with fewer than 2. */
static double median_step(lua_State *L, const sdk__series *s) {
    if (s->n < 2)
        return NAN;
    double *d = lua_newuserdatauv(L, (s->n - 1) * sizeof *d, 0);
    for (size_t i = 1; i < s->n; i++)
        d[i - 1] = SDK__SERIES_T(s)[i] - SDK__SERIES_T(s)[i - 1];
    double m = median(d, s->n - 1);
    lua_pop(L, 1);
    return m;
}

/* The grid of a ranking: times g0 + k * step for k in [0, n). */
typedef struct grid {
    double g0, step;
    size_t n;
    sdk_corr_opts o;
} grid;

/* Steps in the duration 'd' (rounded; at least 'min'). */
static size_t steps(double d, double step, size_t min) {
    double k = floor(d / step + 0.5);
    return k < (double)min ? min : (size_t)k;
}

static grid make_grid(lua_State *L, int opts, double step, const char *fn) {
    grid g;
    double onset = sdk__opt_number(L, opts, fn, "onset", NAN, -1e15, 1e15);
    if (isnan(onset))
        luaL_error(L, "%s: opts.onset (a time) is required", fn);
    g.step = step;
    g.o.max_lag = steps(sdk__opt_number(L, opts, fn, "max_lag", 10 * step, 0, 1e12), step, 0);
    g.o.span = steps(sdk__opt_number(L, opts, fn, "span", 5 * step, 0, 1e12), step, 1);
    /* room for a change on each side of the onset */
    size_t before =
        steps(sdk__opt_number(L, opts, fn, "before", 120 * step, 0, 1e12), step, g.o.span);
    size_t after = steps(sdk__opt_number(L, opts, fn, "after", 30 * step, 0, 1e12), step, g.o.span);
    if ((double)before + (double)after + 2.0 * (double)g.o.max_lag >= SDK__MAX_GRID)
        luaL_error(L, "%s: the window would have more than %d points (step too small?)", fn,
                   SDK__MAX_GRID);
    g.o.lo = g.o.max_lag + 1;
    g.o.onset = g.o.lo + before;
    g.o.hi = g.o.onset + after + 1;
    g.n = g.o.hi + g.o.max_lag;
    g.g0 = onset - (double)g.o.onset * step;
    return g;
}

/* Checks the candidates at 'idx' (a set or a list of series); returns how many. */
static size_t check_candidates(lua_State *L, int idx, const char *fn) {
    char what[48];
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: candidates must be a set or a list of series (got %s)", fn,
                   luaL_typename(L, idx));
    size_t n = lua_rawlen(L, idx);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        snprintf(what, sizeof what, "candidates[%zu]", i);
        sdk__series_check(L, -1, fn, what);
        lua_pop(L, 1);
    }
    return n;
}

typedef struct scored {
    sdk_corr c;
    size_t index;
} scored;

static int scored_cmp(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->c.score != y->c.score)
        return x->c.score > y->c.score ? -1 : 1;
    return x->index < y->index ? -1 : 1;
}

/* Aligns the series at 'idx' on the grid; returns its values (the series is pushed). */
static const double *align(lua_State *L, int idx, const grid *g) {
    sdk__series_align(L, idx, g->step, g->g0, g->g0 + (double)(g->n - 1) * g->step);
    sdk__series *s = lua_touserdata(L, -1);
    assert(s->n == g->n);
    return SDK__SERIES_V(s);
}

static void set_number_or_nil(lua_State *L, const char *name, double x) {
    if (isnan(x))
        return;
    lua_pushnumber(L, x);
    lua_setfield(L, -2, name);
}

/* Pushes the item of candidate 'sc' (candidates at 2). */
static void push_item(lua_State *L, const scored *sc, const grid *g) {
    static const char *const directions[] = {"opposite", "none", "same"};
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, (lua_Integer)sc->index);
    lua_setfield(L, -2, "index");
    lua_rawgeti(L, 2, (lua_Integer)sc->index);
    lua_getfield(L, -1, "labels"); /* a copy */
    lua_setfield(L, -3, "labels");
    lua_setfield(L, -2, "series");
    lua_pushnumber(L, sc->c.score);
    lua_setfield(L, -2, "score");
    lua_pushnumber(L, (double)sc->c.lag * g->step);
    lua_setfield(L, -2, "lag");
    lua_pushstring(L, directions[sc->c.direction + 1]);
    lua_setfield(L, -2, "direction");
    set_number_or_nil(L, "comovement", sc->c.comovement);
    set_number_or_nil(L, "shift", sc->c.shift);
}

/* inquest.correlate.rank(target, candidates, opts): the candidates, best first. */
static int correlate_rank(lua_State *L) {
    const char *fn = "inquest.correlate.rank";
    sdk__series *target = sdk__series_check(L, 1, fn, "target");
    size_t n = check_candidates(L, 2, fn);
    sdk__opts_check(L, 3, fn, rank_options);
    lua_settop(L, 3);
    double step = sdk__opt_number(L, 3, fn, "step", median_step(L, target), 1e-3, 1e12);
    if (isnan(step)) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: the target has fewer than 2 points: give opts.step", fn);
        return 2;
    }
    grid g = make_grid(L, 3, step, fn);
    lua_Integer top = sdk__opt_integer(L, 3, fn, "top", 10, 0, INT32_MAX);
    sdk_work w;
    sdk_work_lua(&w, L);
    void *block = lua_newuserdatauv(L, sdk_corr_scratch_size(&g.o), 0); /* 4 */
    scored *all = lua_newuserdatauv(L, (n ? n : 1) * sizeof *all, 0);   /* 5 */
    const double *t = align(L, 1, &g);                                  /* 6 */
    double target_z = sdk_corr_shift(t, g.n, &g.o, block);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 2, (lua_Integer)i + 1);
        const double *c = align(L, -1, &g);
        all[i].index = i + 1;
        sdk_correlate(t, c, g.n, &g.o, target_z, block, &w, &all[i].c);
        sdk_work_add(&w, g.n);
        lua_pop(L, 2);
    }
    qsort(all, n, sizeof *all, scored_cmp);
    size_t keep = top == 0 || (size_t)top > n ? n : (size_t)top;
    lua_createtable(L, (int)keep, 5);
    for (size_t i = 0; i < keep; i++) {
        push_item(L, &all[i], &g);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushliteral(L, "correlation");
    lua_setfield(L, -2, "kind");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "target");
    lua_pushnumber(L, g.g0 + (double)g.o.onset * g.step);
    lua_setfield(L, -2, "onset");
    lua_pushnumber(L, g.step);
    lua_setfield(L, -2, "step");
    set_number_or_nil(L, "target_shift", target_z);
    return 1;
}

int sdk_correlate_open(lua_State *L) {
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, correlate_rank);
    lua_setfield(L, -2, "rank");
    return 1;
}
