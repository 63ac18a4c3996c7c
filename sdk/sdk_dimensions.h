/* sdk/sdk_dimensions.h -- dimension analysis: which label values, and combinations of up to
 * three, explain the change of a metric split by labels between a baseline and an incident
 * window, for additive metrics and for ratios (inquest.dimensions, docs/sdk.md "Dimension
 * analysis"). The C core works on leaves (one per combination of label values); the Lua
 * binding makes them from series sets. */
#ifndef INQUEST_SDK_DIMENSIONS_H
#define INQUEST_SDK_DIMENSIONS_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include "sdk_toolkit.h"

#define SDK_DIM_MAX_DEPTH 3  /* label values an element combines, at most */
#define SDK_DIM_MAX_DIMS  64 /* dimensions, at most */
#define SDK_DIM_EXTRA     4  /* sums carried from leaves to elements for the caller */

/* The metric, leaf by leaf. An element is a set of (dimension, value) pairs, at most one per
 * dimension; its leaves are those that have all of them. */
typedef struct sdk_dim_data {
    size_t n_leaves, n_dims;
    const uint32_t *value;    /* n_leaves * n_dims: leaf i's value in dimension d at i*n_dims+d */
    const uint32_t *n_values; /* n_dims: the values of each dimension are 0 .. n_values[d]-1 */
    const double *expected;   /* n_leaves: what the incident window would hold had nothing
                                 changed: the baseline, or for a ratio's numerator the
                                 incident's denominator at the baseline's ratio */
    const double *actual;     /* n_leaves: what it holds */
    const double *extra;      /* NULL, or n_leaves * SDK_DIM_EXTRA sums to carry (a ratio's
                                 numerators and denominators) */
} sdk_dim_data;

typedef struct sdk_dim_opts {
    int max_depth;    /* 1 .. SDK_DIM_MAX_DEPTH */
    double min_share; /* the least share of the total change an element must explain, > 0 */
    size_t top;       /* elements to keep */
} sdk_dim_opts;

/* An element, and how well it explains the change. */
typedef struct sdk_dim_element {
    int depth;
    uint32_t dim[SDK_DIM_MAX_DEPTH], value[SDK_DIM_MAX_DEPTH]; /* dims increasing */
    size_t leaves;
    double expected, actual, extra[SDK_DIM_EXTRA];
    double explains;  /* share of the total change: (actual - expected) / total change */
    double surprise;  /* Jensen-Shannon divergence of its shares of expected and actual, 0..1 */
    double potential; /* 0..1: how well "this element changed, nothing else" fits every leaf */
    double score;     /* the potential, less 5% per value combined beyond the first */
} sdk_dim_element;

typedef struct sdk_dim_result {
    double expected, actual, extra[SDK_DIM_EXTRA]; /* totals */
    double potential_all;                          /* how well "every leaf changed alike" fits */
    size_t n;                                      /* elements written */
} sdk_dim_result;

/* Finds the elements of up to 'o'->max_depth values that explain at least 'o'->min_share of the
 * change of 'd' (expected to actual), scores them (sdk_dim_element) and writes the best
 * 'o'->top to 'out', best first; an element with the same leaves as a better one of fewer
 * values is left out. Memory comes from 'mem', work is counted on 'w' (may be NULL). Returns 0,
 * or -1 when 'mem' ran out. */
int sdk_dimensions_explain(const sdk_dim_data *d, const sdk_dim_opts *o, const sdk_scratch *mem,
                           sdk_work *w, sdk_dim_element *out, sdk_dim_result *result);

/* A lua_CFunction that pushes the table inquest.dimensions: explain, explain_ratio. */
int sdk_dimensions_open(lua_State *L);

#endif
