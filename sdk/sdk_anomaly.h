/* sdk/sdk_anomaly.h -- anomaly detection on a time series (inquest.anomaly, docs/sdk.md
 * "Anomalies and change points"): a robust baseline (median/MAD) or a seasonal one (the same
 * time a day or a week earlier), spikes, dips and level shifts, in a streaming form (one point
 * at a time, bounded memory) and a window form. Change points live in sdk_changepoint.h. */
#ifndef INQUEST_SDK_ANOMALY_H
#define INQUEST_SDK_ANOMALY_H

#include <stddef.h>
#include <lua.h>

/* The settings of a detector; sdk_anomaly_defaults() gives the ones docs/sdk.md documents, one
 * set for every series (the reasons are in sdk_anomaly_defaults). Sizes are in points. */
typedef struct sdk_anomaly_opts {
    size_t level;        /* values whose median is the rolling baseline */
    size_t window;       /* residuals each baseline keeps (scale, fit); also how long an
                            anomaly's aftershocks must outscore it */
    double threshold;    /* least robust z of an anomalous point (z: the deviation in
                            MAD-estimated standard deviations) */
    double risk;         /* chance of a normal point passing the tail threshold (0: the
                            fixed floors only) */
    size_t tail_window;  /* last scores whose tail sets each threshold */
    double shift;        /* least |median z| of the last shift_points points for a shift */
    size_t shift_points; /* points the shift statistic spans, and the rolling level's lag */
    size_t min_points;   /* residuals a baseline needs before it judges */
    size_t history;      /* points kept for the seasonal baselines */
    int seasons;         /* SDK_SEASON_* bits: the seasonal baselines to try */
    double hold;         /* robust z that keeps an anomaly going (at most 'threshold') */
} sdk_anomaly_opts;

#define SDK_SEASON_DAY  1
#define SDK_SEASON_WEEK 2

typedef enum sdk_anomaly_kind {
    SDK_ANOMALY_SPIKE = 0, /* a short excursion up */
    SDK_ANOMALY_DIP,       /* a short excursion down */
    SDK_ANOMALY_LEVEL_SHIFT,
} sdk_anomaly_kind;

/* One anomaly: consecutive anomalous points in one direction. */
typedef struct sdk_anomaly {
    double start, end; /* times of its first and last anomalous points */
    double peak;       /* time of its largest deviation */
    double value;      /* the value there */
    double expected;   /* what the baseline expected there */
    double magnitude;  /* |value - expected| at the peak, in the series' unit */
    double score;      /* robust z at the peak: the deviation in (MAD-estimated) std devs */
    int direction;     /* +1 up, -1 down */
    sdk_anomaly_kind kind;
    const char *baseline; /* "rolling", "daily" or "weekly": the model used at the peak */
    size_t points;        /* anomalous points in it */
} sdk_anomaly;

/* What a detector says about one point. */
typedef struct sdk_anomaly_point {
    double expected; /* NaN while the baseline is still warming up */
    double z;        /* signed robust z; 0 while warming up */
    const char *baseline;
    int anomalous; /* the point belongs to an anomaly (the open one, 'event') */
} sdk_anomaly_point;

typedef struct sdk_anomaly_stream sdk_anomaly_stream;

/* Fills 'o' with the default settings. */
void sdk_anomaly_defaults(sdk_anomaly_opts *o);

/* Checks 'o'; returns NULL when it is usable, else what is wrong ("window must be at least
 * 8 (got 2)") in 'why' ('whylen' bytes). */
const char *sdk_anomaly_check(const sdk_anomaly_opts *o, char *why, size_t whylen);

/* Bytes a stream with the checked settings 'o' needs: all its memory is one block, so that a
 * Lua binding can take it from the analysis' allocator (lua_newuserdatauv). */
size_t sdk_anomaly_stream_size(const sdk_anomaly_opts *o);

/* Makes a stream in the 'size' bytes at 'mem' (aligned for doubles, 'size' from
 * sdk_anomaly_stream_size of 'o'). Holds no other resource: freeing 'mem' ends it. */
sdk_anomaly_stream *sdk_anomaly_stream_init(void *mem, size_t size, const sdk_anomaly_opts *o);

/* Feeds the point ('t', 'v'). Returns 1 when the point is anomalous, 0 when not, -1 (nothing
 * changed) when 't' is not after the last point's time. A NaN or infinite 'v' is skipped (0).
 * 'pt' (may be NULL) gets what the detector made of the point. When an anomaly ends (a normal
 * point after it, beyond the bridged gap) it is stored in 'closed' (may be NULL) and the return
 * value has bit 2 set; the open one, if any, stays readable through sdk_anomaly_stream_open. */
int sdk_anomaly_stream_push(sdk_anomaly_stream *s, double t, double v, sdk_anomaly_point *pt,
                            sdk_anomaly *closed);

#define SDK_ANOMALY_CLOSED 2

/* The anomaly open at the last point, as it stands, into 'a'; returns 0 when none is open. */
int sdk_anomaly_stream_open(sdk_anomaly_stream *s, sdk_anomaly *a);

/* Ends the open anomaly, if any, into 'a' and returns 1 (0 when none was open); for a series'
 * end. The stream goes on as if a normal point had come. */
int sdk_anomaly_stream_flush(sdk_anomaly_stream *s, sdk_anomaly *a);

/* The name of 'k': "spike", "dip" or "level_shift". */
const char *sdk_anomaly_kind_name(sdk_anomaly_kind k);

/* A lua_CFunction that pushes the table inquest.anomaly: detect, stream, changepoint and
 * defaults (sdk_anomaly_lua.c). */
int sdk_anomaly_open(lua_State *L);

#endif
