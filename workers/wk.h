/* workers/wk.h -- the execution engine: finds analyzers, runs each analysis in a fresh sandboxed
 * Lua state under budgets, and returns its `inquest.result/v1`. One code path runs analyzers for
 * every command; the queue and the service (later) are only transport. */
#ifndef INQUEST_WK_H
#define INQUEST_WK_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "rt.h"

#define WK_MAX_CALL_DEPTH 4

/* Budgets of one analysis (docs/sdk.md, "The sandbox"). */
typedef struct wk_limits {
    size_t memory;         /* bytes the Lua state may hold */
    uint64_t instructions; /* Lua VM instructions plus pattern-matching steps */
    double timeout;        /* seconds of wall clock */
} wk_limits;

#define WK_DEFAULT_MEMORY       ((size_t)64 << 20)
#define WK_DEFAULT_INSTRUCTIONS 1000000000ULL
#define WK_DEFAULT_TIMEOUT      30.0

void wk_limits_default(wk_limits *limits);

/* The engine of one process: the analyzer path and the cache of analyzers it compiled. */
typedef struct wk_engine wk_engine;

/* Creates an engine that looks for analyzers by name under the 'nroots' folders 'roots' (copied).
 */
wk_engine *wk_engine_new(const char *const *roots, size_t nroots);
void wk_engine_free(wk_engine *engine);

/* One analysis to run. */
typedef struct wk_request {
    const char *analyzer; /* a name (http.error_spike) or a path to a .lua file */
    const json_t *inputs; /* raw inputs (an object), or NULL */
    const char *id;       /* the analysis id, or NULL for a new random one */
    double now;           /* the analysis' clock, or 0 for the wall clock */
    wk_limits limits;
} wk_request;

/* Runs 'request' to its end. Returns RT_OK and a new result in '*result' whatever the analysis'
 * status (an analyzer that does not load gives status "error"); RT_ENOTFOUND when the analyzer
 * does not exist, RT_EINPUT when inputs are invalid; the problems are added to 'diag'. */
int wk_run(wk_engine *engine, const wk_request *request, json_t **result, rt_diag *diag);

/* Writes a new random analysis id (16 hex digits and a NUL) to 'out'. */
void wk_new_id(char *out);

/* The result of an analysis that was stopped from outside (its process was ended at the
 * deadline, or died): 'status' and 'message' say why. 'request' must have its id and now set. */
json_t *wk_result_stopped(const wk_request *request, const char *status, const char *message);

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

/* Calls 'fn'('path', 'ud') for each analyzer file under the analyzer path, or only under the
 * folder 'folder' when it is not NULL, in sorted order (*.cases folders, and the lib/ folder of a
 * root, are skipped; linked folders are not entered). Names are still checked against the
 * engine's roots, so 'folder' may be any folder inside the analyzer path. */
void wk_each_analyzer(wk_engine *engine, const char *folder, void (*fn)(const char *path, void *ud),
                      void *ud);

#endif
