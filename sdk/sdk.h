/* sdk/sdk.h -- the analyzer SDK seen from C: the Lua module `inquest` (analyzer definitions,
 * typed inputs, findings and evidence) and the conversions the engine needs. The execution of
 * analyses lives in workers/. */
#ifndef INQUEST_SDK_H
#define INQUEST_SDK_H

#include <lua.h>
#include <jansson.h>
#include "rt.h"

#define SDK_RESULT_SCHEMA "inquest.result/v1"
#define SDK_MAX_FINDINGS  50

/* A lua_CFunction for require "inquest": pushes the module table (analyzer, types, version,
 * and the toolkit's submodules, opened on first use). */
int sdk_open(lua_State *L);
/* The lua_CFunction that opens submodule 'name' of `inquest` ("series", "logs", ...), for
 * require "inquest.NAME"; NULL when there is none. */
lua_CFunction sdk_submodule(const char *name);

/* Problems in definitions (t.string{ patern = … }, an analyzer without a name, …) are collected
 * into 'd' with the file:line of the offending call, so that `inquest check` reports them all at
 * once. Before this is called with a non-NULL 'd', or after it is called with NULL, such
 * problems raise Lua errors instead. 'd' must outlive its registration. */
void sdk_set_diag(lua_State *L, rt_diag *d);

/* Reports a definition problem at the caller's position (level 1): into the registered diag, or
 * as a Lua error when none is registered. 'field' may be NULL. */
void sdk_problem(lua_State *L, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees what the state holds outside its own memory (the JSON of input types' defaults, and of
 * inputs being converted when an error stopped them), which their __gc would free in lua_close:
 * for a host that drops a state's memory whole instead of closing it (workers/wk_sandbox.c).
 * The state must not be used after this. */
void sdk_release_outside(lua_State *L);

/* True when the value at 'idx' is a definition made by inquest.analyzer{…}. */
int sdk_is_analyzer(lua_State *L, int idx);

/* True when the value at 'idx' is an input type made by inquest.types (t.string{…}, …). */
int sdk_is_type(lua_State *L, int idx);

/* Validates the raw inputs 'raw' (a JSON object whose values are strings typed by a user or JSON
 * values; NULL means none) against the inputs table at 'schema_idx' (name → type). 'now' is the
 * analysis' clock, for times like "now-1h". On success pushes the table of typed values and
 * returns 0; when 'effective' is not NULL it also receives (a new reference) the inputs the
 * analysis gets, as JSON, for a dedup key: every input that has a value, given or by default, as
 * validated (an int given as "6" is 6, durations and times are seconds), except that one read
 * against the clock ("now", "now-1h") is as written, since the analysis reads it against its own
 * clock when it runs. Otherwise pushes nothing, adds one problem per invalid field to 'd' (field
 * = the input's name, "tags[2]", "labels.env"), and returns -1. Every field is checked. */
int sdk_inputs_validate(lua_State *L, int schema_idx, const json_t *raw, double now,
                        json_t **effective, rt_diag *d);

/* The inputs table at 'schema_idx' as JSON, for `describe`: an object name → { type, required,
 * default, description, and the type's options }, list and map types with "items"/"values".
 * Returns a new reference. */
json_t *sdk_schema_json(lua_State *L, int schema_idx);

/* Converts the output of sdk_schema_json to a JSON Schema (draft 2020-12) object describing the
 * inputs as they are accepted in JSON. Returns a new reference. */
json_t *sdk_schema_to_json_schema(const json_t *schema, const char *title);

/* Converts the finding table at 'idx' (as documented in docs/sdk.md: title, summary, root_cause,
 * severity, confidence, evidence, actions) into its JSON form, applying the evidence caps.
 * Returns a new reference, or NULL with the reason (naming the field) in 'why' ('whylen' bytes). */
json_t *sdk_finding_to_json(lua_State *L, int idx, char *why, size_t whylen);

/* Converts the Lua value at 'idx' to JSON. Sequences become arrays, other tables objects with
 * their keys as strings; an empty table becomes {}. Functions, userdata and threads are errors,
 * NaN and infinities become null, nesting deeper than 32 is an error (cycles end there), and so
 * are more than 100,000 values or 4 MiB of strings (shared sub-tables count each time they are
 * reached). Returns a new reference, or NULL with the reason in 'why' ('whylen' bytes). */
json_t *sdk_lua_to_json(lua_State *L, int idx, char *why, size_t whylen);

/* Pushes the JSON value 'v' as a Lua value (null becomes nil in tables' absence). */
void sdk_json_to_lua(lua_State *L, const json_t *v);

#endif
