/* workers/wk.h -- the execution engine: finds analyzers, runs each analysis in a fresh sandboxed
 * Lua state under budgets, and returns its `inquest.result/v1`. One code path runs analyzers for
 * every command; the queue and the service (later) are only transport. */
#ifndef INQUEST_WK_H
#define INQUEST_WK_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>
#include "rt.h"
#include "rt_config.h"
#include "rt_recording.h"

#define WK_MAX_CALL_DEPTH 4

/* Budgets of one analysis (docs/sdk.md, "The sandbox"). */
typedef struct wk_limits {
    size_t memory;         /* bytes the Lua state may hold */
    uint64_t instructions; /* Lua VM instructions plus pattern-matching steps */
    double timeout;        /* seconds of wall clock */
    int calls;             /* connector calls */
    size_t call_bytes;     /* bytes of connector responses, all calls together */
} wk_limits;

#define WK_DEFAULT_MEMORY       ((size_t)64 << 20)
#define WK_DEFAULT_INSTRUCTIONS 1000000000ULL
#define WK_DEFAULT_TIMEOUT      30.0
#define WK_DEFAULT_CALLS        500
#define WK_DEFAULT_CALL_BYTES   ((size_t)256 << 20)

void wk_limits_default(wk_limits *limits);

/* The engine of one process: the analyzer path and the cache of analyzers it compiled. */
typedef struct wk_engine wk_engine;

/* Creates an engine that looks for analyzers by name under the 'nroots' folders 'roots' (copied).
 */
wk_engine *wk_engine_new(const char *const *roots, size_t nroots);
void wk_engine_free(wk_engine *engine);

/* The event loop the engine's analyses and connector calls run on (the engine's own). */
uv_loop_t *wk_engine_loop(wk_engine *engine);

/* Makes the connectors of 'config' available to analyses, reading their credentials now.
 * Returns RT_OK, or RT_EINPUT with every problem (a credential that cannot be read, a bad URL)
 * in 'diag'. 'config' must outlive the engine. */
int wk_engine_connect(wk_engine *engine, const rt_config *config, rt_diag *diag);

/* From now on every connector exchange is recorded into 'recording' (RT_RECORDING_RECORD), or
 * answered from it with no network (RT_RECORDING_REPLAY): connectors that the config does not
 * define are then taken from the recording. The engine does not own 'recording', which must
 * outlive it. Returns RT_OK, or RT_EINPUT with the problems in 'diag'. */
int wk_engine_use_recording(wk_engine *engine, rt_recording *recording, rt_diag *diag);

/* One analysis to run. */
typedef struct wk_request {
    const char *analyzer; /* a name (http.error_spike) or a path to a .lua file */
    const json_t *inputs; /* raw inputs (an object), or NULL */
    const char *id;       /* the analysis id, or NULL for a new random one */
    double now;           /* the analysis' clock, or 0 for the wall clock */
    wk_limits limits;
    rt_recording *recording; /* records this analysis' connector exchanges (and its nested
                                analyses'), over the engine's (wk_engine_use_recording); NULL:
                                the engine's. Not owned: it must live until 'done' is called */
    double *run_started;     /* NULL, or receives rt_wallclock() as the analyzer's run begins,
                                after its state is made and its inputs validated, before
                                wk_start returns */
} wk_request;

/* Called once when an analysis ends, with its result (the callee owns it). */
typedef void (*wk_done_fn)(json_t *result, void *ud);

/* A running analysis, for wk_cancel. */
typedef struct wk_analysis wk_analysis;

/* Starts 'request' on the engine's loop. Returns RT_OK when the analysis started: 'done' is
 * then called exactly once, from the loop or before wk_start returns, whatever the analysis'
 * status (an analyzer that does not load gives status "error"). Returns RT_ENOTFOUND when the
 * analyzer does not exist, RT_EINPUT when inputs are invalid, with the problems added to
 * 'diag'; 'done' is then not called. When 'handle' is not NULL it receives the analysis before
 * it runs; the handle is valid until 'done' is called. */
int wk_start(wk_engine *engine, const wk_request *request, wk_done_fn done, void *ud,
             wk_analysis **handle, rt_diag *diag);

/* Ends the analysis 'handle' with status "cancelled" and 'message': at once when it waits for
 * I/O (its calls are cancelled) or computes (it is off the CPU between two of its time slices
 * whenever the loop runs), at its next yield otherwise. 'done' is called as usual. */
void wk_cancel(wk_analysis *handle, const char *message);

/* Sets the meta data of 'recording' (docs/recording.md) for 'request': its analyzer, inputs (as
 * given, before validation), id and now, and the engine's connectors (type and the settings
 * that shape their answers, never credentials). */
void wk_recording_meta(wk_engine *engine, rt_recording *recording, const wk_request *request);

/* Runs 'request' to its end, running the loop meanwhile: wk_start made synchronous. Returns what
 * wk_start returns, and the result in '*result' when it is RT_OK. */
int wk_run(wk_engine *engine, const wk_request *request, json_t **result, rt_diag *diag);

/* Writes a new random analysis id (16 hex digits and a NUL) to 'out'. */
void wk_new_id(char *out);

/* The result of an analysis that was stopped from outside (its process was ended at the
 * deadline, or died): 'status' and 'message' say why. 'request' must have its id and now set. */
json_t *wk_result_stopped(const wk_request *request, const char *status, const char *message);

/* True when 'name' is an analyzer name as wk_resolve finds one under the analyzer path
 * (http.error_spike: lower-case letters, digits and '_', parts joined by single dots), never a
 * path: for names that come from files and servers, which must not pick a file to run. */
int wk_valid_name(const char *name);

/* Resolves 'name_or_path' to the path of an analyzer file. Returns RT_OK with a malloc'd path in
 * '*path', or RT_ENOTFOUND with the places searched in 'diag'. */
int wk_resolve(wk_engine *engine, const char *name_or_path, char **path, rt_diag *diag);

/* What `check`, `list` and `describe` need to know of an analyzer, without running it. */
typedef struct wk_info {
    char *path;
    char *name, *owner, *description, *version; /* version may be NULL */
    char hash[72];
    json_t *tags;   /* array of strings */
    json_t *inputs; /* sdk_schema_json() form */
} wk_info;

/* Loads the definition in the file 'path' and validates it. Returns RT_OK and fills 'info', or
 * RT_EANALYZER / RT_ENOTFOUND / RT_EIO with every problem, file:line, in 'diag'. */
int wk_inspect(wk_engine *engine, const char *path, wk_info *info, rt_diag *diag);
void wk_info_free(wk_info *info);

/* Validates 'inputs' (an object, or NULL) for the analyzer named 'analyzer' as wk_start would,
 * without running it, at the clock 'now' (0: the wall clock). The analyzer stays loaded for the
 * next calls, until wk_engine_reload. Returns RT_OK with its description in '*info' (when 'info'
 * is not NULL; owned by the engine, valid until wk_engine_reload) and, when 'effective' is not
 * NULL, the inputs the analysis gets as canonical JSON in '*effective' (malloc'd; what a dedup
 * key is made of: each input with its validated value or its default, a time read against the
 * clock as written, as sdk_inputs_validate says). Or returns RT_ENOTFOUND, RT_EANALYZER or
 * RT_EINPUT with every problem in 'diag', and '*effective' NULL. For the service's submit path. */
int wk_validate(wk_engine *engine, const char *analyzer, const json_t *inputs, double now,
                const wk_info **info, char **effective, rt_diag *diag);

/* Forgets compiled and loaded analyzers, so that the next analyses read their files again
 * (SIGHUP). Analyses already running keep what they loaded. */
void wk_engine_reload(wk_engine *engine);

/* Readies the engine for analyses before they come (a worker child at its start and after
 * SIGHUP): compiles every analyzer under the analyzer path, and builds a fresh state in the
 * first slot and keeps its image, each of which would otherwise add about a millisecond to the
 * first analysis after the start (other slots make theirs when first used, in tens of
 * microseconds). A file that does not compile is left for its analyses to report. */
void wk_engine_warm(wk_engine *engine);

/* Calls 'fn'('path', 'ud') for each analyzer file under the analyzer path, or only under the
 * folder 'folder' when it is not NULL, in sorted order (*.cases folders, and the lib/ folder of a
 * root, are skipped; linked folders are not entered). Names are still checked against the
 * engine's roots, so 'folder' may be any folder inside the analyzer path. */
void wk_each_analyzer(wk_engine *engine, const char *folder, void (*fn)(const char *path, void *ud),
                      void *ud);

#endif
