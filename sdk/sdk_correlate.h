/* sdk/sdk_correlate.h -- time-series correlation around an onset: which of N candidate series
 * moved with a target, at which lag and in which direction (inquest.correlate, docs/sdk.md
 * "Correlation"). The C core works on series already on one time grid; the Lua binding aligns
 * them. */
#ifndef INQUEST_SDK_CORRELATE_H
#define INQUEST_SDK_CORRELATE_H

#include <stddef.h>
#include <lua.h>
#include "sdk_toolkit.h"

/* Where to look, in indices of the grid that target and candidates share (n points, NaN where
 * a series has no value). Lags go from -'max_lag' to 'max_lag' steps; the compared window
 * ['lo', 'hi') must leave room for them and for one difference: 'lo' > 'max_lag' and
 * 'hi' + 'max_lag' <= n, with 'lo' < 'onset' < 'hi'. A change is measured between 'span'
 * points before a time and 'span' points from it; changes at times before
 * 'onset' - 'max_lag' - 'span' make the yardstick ("what a change of this series usually
 * is"). */
typedef struct sdk_corr_opts {
    size_t lo, hi, onset, max_lag, span;
} sdk_corr_opts;

/* How one candidate relates to the target. */
typedef struct sdk_corr {
    double score;      /* 0..1: 1 - (1 - |comovement|)(1 - agreement of the changes) */
    double comovement; /* Spearman rho of the first differences at the lag; NaN: < 8 pairs */
    double shift;      /* robust z of the candidate's change at onset - lag; NaN: no yardstick */
    long lag;          /* grid steps; > 0: the candidate moved first */
    int direction;     /* +1 the same way as the target, -1 the opposite way, 0 unknown */
} sdk_corr;

/* The bytes of scratch memory sdk_correlate and sdk_corr_shift need for 'o'. */
size_t sdk_corr_scratch_size(const sdk_corr_opts *o);

/* The robust z-score of the change of 'x' ('n' points of the grid) at 'o'->onset: the
 * difference of the medians of 'span' points after and before, against the same difference at
 * up to 64 earlier times (their median and MAD). NaN when fewer than 8 earlier times have one.
 * 'scratch' holds sdk_corr_scratch_size('o') bytes. */
double sdk_corr_shift(const double *x, size_t n, const sdk_corr_opts *o, void *scratch);

/* Scores the candidate 'cand' against 'target' (both 'n' points of the grid) at every lag and
 * keeps the best in 'out' (ties: the smallest lag, leading before lagging). 'target_shift' is
 * sdk_corr_shift of the target. Counts its work on 'w' (may be NULL). */
void sdk_correlate(const double *target, const double *cand, size_t n, const sdk_corr_opts *o,
                   double target_shift, void *scratch, sdk_work *w, sdk_corr *out);

/* A lua_CFunction that pushes the table inquest.correlate: rank(target, candidates, opts). */
int sdk_correlate_open(lua_State *L);

#endif
