/* sdk/sdk_changepoint.h -- change points of a time series (inquest.changepoint, docs/sdk.md
 * "Anomalies and change points"): where its level changed, with a confidence, so that an
 * analyzer can say when an incident started. Anomalies live in sdk_anomaly.h. */
#ifndef INQUEST_SDK_CHANGEPOINT_H
#define INQUEST_SDK_CHANGEPOINT_H

#include <stddef.h>
#include <lua.h>

typedef struct sdk_cp_opts {
    double min_confidence; /* a change counts when 1 - its p-value reaches this (0.5..1) */
    size_t min_size;       /* points on each side of a change, at least */
    size_t max_changes;    /* changes to look for, at most */
    int direction;         /* +1 only rises, -1 only falls, 0 both */
} sdk_cp_opts;

/* A change of level between the points before 'index' and those from it. */
typedef struct sdk_changepoint {
    size_t index;      /* 0-based index of the first point after the change */
    double at;         /* its time */
    double before;     /* median of the segment before (outliers replaced, see the notes) */
    double after;      /* median of the segment after */
    double confidence; /* 1 - p-value of the CUSUM test that found it */
    double score;      /* the test's statistic: sup |CUSUM| in long-run standard deviations */
} sdk_changepoint;

#define SDK_CP_MAX_CHANGES 100

/* Fills 'o' with the defaults of docs/sdk.md: min_confidence 0.99, min_size 3, max_changes 10,
 * both directions. */
void sdk_cp_defaults(sdk_cp_opts *o);

/* Checks 'o'; returns NULL when usable, else what is wrong in 'why' ('whylen' bytes). */
const char *sdk_cp_check(const sdk_cp_opts *o, char *why, size_t whylen);

/* Bytes of work space sdk_changepoints needs for 'n' points. */
size_t sdk_cp_work_size(size_t n);

/* Finds the change points of the 'n' points ('t', 'v'; times increasing; NaN values are left
 * out) with the checked settings 'o', using 'work' (sdk_cp_work_size(n) bytes, aligned for
 * doubles). Stores at most o->max_changes of them in 'out', in time order, and returns how
 * many. The onset of an incident is the first. Work is O(n) per level of the search, at most
 * o->max_changes levels. */
size_t sdk_changepoints(const double *t, const double *v, size_t n, const sdk_cp_opts *o,
                        void *work, sdk_changepoint *out);

/* A lua_CFunction that pushes the function inquest.changepoint (sdk_anomaly_lua.c). */
int sdk_changepoint_open(lua_State *L);

#endif
