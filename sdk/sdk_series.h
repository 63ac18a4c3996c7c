/* sdk/sdk_series.h -- time series and logs as the SDK holds them: decoded responses of
 * Prometheus-style APIs (Prometheus, VictoriaMetrics, Thanos, Mimir, Loki) in C, and their Lua
 * types (`inquest.series`, docs/sdk.md "Time series"). Decoding runs on the event loop, outside
 * any Lua state; pushing runs inside the analysis, under its memory budget. */
#ifndef INQUEST_SDK_SERIES_H
#define INQUEST_SDK_SERIES_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include <jansson.h>

typedef struct sdk_label {
    char *name, *value; /* owned */
} sdk_label;

/* One series decoded from a response: labels, then points in time order. */
typedef struct sdk_series_data {
    sdk_label *labels; /* owned, sorted by name */
    size_t n_labels;
    double *t; /* Unix seconds, owned */
    double *v; /* values (NaN, ±Inf as Prometheus sends them), owned */
    size_t n, cap;
} sdk_series_data;

/* One log entry of a Loki stream. */
typedef struct sdk_log_entry {
    int64_t ns; /* Unix nanoseconds */
    char *line; /* owned, NUL-terminated */
    size_t len;
    size_t stream; /* index into the streams' labels */
} sdk_log_entry;

typedef enum sdk_result_type {
    SDK_RESULT_MATRIX = 0, /* series */
    SDK_RESULT_VECTOR,     /* series of one point each */
    SDK_RESULT_SCALAR,     /* one series without labels, of one point */
    SDK_RESULT_STRING,     /* 'text' */
    SDK_RESULT_STREAMS,    /* Loki log streams: 'entries', 'streams' */
    SDK_RESULT_DATA,       /* any other "data" (series, labels endpoints): 'data' */
} sdk_result_type;

/* A decoded response of a Prometheus-style HTTP API: the envelope
 * {"status":"success","data":…,"warnings":[…]} or {"status":"error","errorType":…,"error":…}. */
typedef struct sdk_response {
    sdk_result_type type;
    sdk_series_data *series; /* owned; matrix, vector and scalar */
    size_t n_series;
    sdk_log_entry *entries; /* owned; streams: every entry of every stream, sorted by time */
    size_t n_entries;
    sdk_series_data *streams; /* owned; streams: each stream's labels (no points) */
    size_t n_streams;
    char *text;       /* owned; string */
    json_t *data;     /* owned; other data */
    json_t *warnings; /* owned array of strings, or NULL */
} sdk_response;

/* A memory budget that decoding charges: before each block it allocates for the result, the
 * decoder adds the block's size to '*used', or stops when that would take '*used' past 'limit'.
 * Others may charge '*used' too: it is their sum that 'limit' bounds. */
typedef struct sdk_memory {
    size_t *used;
    size_t limit;
} sdk_memory;

/* Decodes the 'len' bytes at 'body' in one streaming pass (yajl), without building a DOM for
 * matrices and streams. Returns 0 and fills 'out'; -1 when the body is not such a response
 * ('why' says where and what: "malformed JSON at byte 1234: …",
 * "data.result[3].values[17][1]: \"x\" is not a number"); 1 when it is an error envelope ('why'
 * holds "errorType: error", the backend's own words); RT_ETOOBIG when the result would not fit
 * 'memory' ('why': "data.result[3].values[17][1]: the decoded answer would pass its memory limit
 * (8388608 bytes)"). 'out' is empty after a failure, and what was charged to 'memory' given
 * back. After a success what 'out' holds stays charged (what '*used' grew by): the caller gives
 * it back when it frees 'out'. 'memory' NULL: no limit. The warnings and other endpoints'
 * "data" are made by jansson, through its allocator (json_set_alloc_funcs): a caller charges
 * them there. */
int sdk_response_decode(const char *body, size_t len, const sdk_memory *memory, sdk_response *out,
                        char *why, size_t whylen);
void sdk_response_free(sdk_response *r);

/* Pushes the Lua form of 'r': a series set (matrix, vector), a number (scalar), a string, a log
 * list (streams: { {time=, ns=, line=, labels=}, … } by time), or the data as Lua values.
 * Allocates from the state (may raise a memory error); 'r' is left as it was. */
void sdk_response_push(lua_State *L, const sdk_response *r);

/* Pushes a series set made of 'n' decoded series. */
void sdk_series_push_set(lua_State *L, const sdk_series_data *series, size_t n);

/* A lua_CFunction that pushes the table inquest.series (also fit for a require "inquest.series"):
 * constructors, so that analyzers and tests can make series of their own. */
int sdk_series_open(lua_State *L);

/* ---- Shared by sdk_series.c (series) and sdk_series_set.c (sets); not API ---------------- */

/* A series in Lua: a full userdata holding its points, so that they count against the
 * analysis' memory budget; its first user value is its labels table (name → string), which
 * series made from it may share and which is never changed. */
typedef struct sdk__series {
    size_t n;   /* points */
    double p[]; /* n times in increasing order, then n values */
} sdk__series;

#define SDK__SERIES_T(s) ((s)->p)
#define SDK__SERIES_V(s) ((s)->p + (s)->n)

/* Pushes a new series of 'n' points, not yet filled in, labelled by the table at 'labels' (0:
 * a new empty table). Raises when 'n' is more than a series may hold. */
sdk__series *sdk__series_new(lua_State *L, size_t n, int labels);
/* The series at 'idx', or NULL. */
sdk__series *sdk__series_test(lua_State *L, int idx);
/* The series at 'idx'; raises "'fn': 'what' must be a series (got …)" otherwise. */
sdk__series *sdk__series_check(lua_State *L, int idx, const char *fn, const char *what);
/* Raises "'fn': …" unless 'step' > 0, 'start' and 'end' are finite, 'end' is not before
 * 'start' (unless 'empty': the grid may be empty) and the grid has at most SDK__MAX_GRID
 * points. */
void sdk__grid_check(lua_State *L, const char *fn, double step, double start, double end,
                     int empty);
/* Pushes the series at 'idx' resampled on the grid 'start', 'start' + 'step', … <= 'end'. */
void sdk__series_align(lua_State *L, int idx, double step, double start, double end);
/* Pushes { labels = {…}, points = { {t, v}, … } }, the series at 'idx' as a timeseries
 * evidence item holds it, downsampled to SDK__EVIDENCE_POINTS points. */
void sdk__series_evidence(lua_State *L, int idx);
/* Checks the optional title and unit (strings) at 'title' and 'title' + 1, then pushes the
 * timeseries evidence item { kind = "timeseries", title = …, unit = … } without its series;
 * 'fn' names the caller in errors. */
void sdk__evidence_begin(lua_State *L, int title, const char *fn);
/* Pushes a new empty series set with room for 'n' series. */
void sdk__set_new(lua_State *L, int n);
/* The number at 'idx', or 'def' when it is nil or absent (a NaN 'def': the number is required);
 * raises "'fn': 'what' must be a number (got …)" otherwise. */
double sdk__num_arg(lua_State *L, int idx, const char *fn, const char *what, double def);

#define SDK__MAX_GRID        1000000 /* points of a series that align makes */
#define SDK__EVIDENCE_SERIES 20
#define SDK__EVIDENCE_POINTS 2000

#endif
