/* sdk/sdk_module.c -- the Lua module `inquest`: analyzer definitions and how their problems are
 * reported, and the toolkit's submodules. Input types live in sdk_types.c, findings in
 * sdk_finding.c, time series in sdk_series.c, log patterns in sdk_logs.c, anomalies in
 * sdk_anomaly_lua.c, change points in sdk_changepoint.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk_internal.h"
#include "sdk_series.h"
#include "sdk_logpattern.h"
#include "sdk_anomaly.h"
#include "sdk_changepoint.h"
#include "sdk_correlate.h"
#include "sdk_dimensions.h"
#include "sdk_events.h"
#include "sdk_summary.h"

/* Registry keys: the addresses of these statics are unique in the process. */
static const char diag_key = 'd';
static const char analyzer_key = 'a';

void sdk_set_diag(lua_State *L, rt_diag *d) {
    if (d)
        lua_pushlightuserdata(L, d);
    else
        lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &diag_key);
}

void sdk_problem(lua_State *L, const char *field, const char *fmt, ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &diag_key);
    rt_diag *d = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!d) {
        luaL_where(L, 1);
        lua_pushfstring(L, "%s%s%s", field ? field : "", field ? ": " : "", message);
        lua_concat(L, 2);
        lua_error(L);
    }
    lua_Debug ar;
    const char *file = NULL;
    int line = 0;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.source[0] == '@') {
        file = ar.source + 1;
        line = ar.currentline;
    }
    rt_diag_add(d, file, line, field, "%s", message);
}

/* ---- inquest.analyzer{…} ------------------------------------------------------------------ */

static int is_name(const char *s) {
    int segment_start = 1;
    for (; *s; s++) {
        if (*s == '.') {
            if (segment_start)
                return 0;
            segment_start = 1;
        } else if ((*s >= 'a' && *s <= 'z') ||
                   (!segment_start && ((*s >= '0' && *s <= '9') || *s == '_'))) {
            segment_start = 0;
        } else {
            return 0;
        }
    }
    return !segment_start;
}

static int is_input_name(const char *s) {
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z')))
        return 0;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

/* Checks that the field 'key' of the definition, whose value is at 'idx' (nil when absent), has
 * type 'type'; 'required' when it must be there. */
/* True when the value at 'idx' is a string that is not UTF-8: text that every result, the
 * catalogue and the API carry as JSON, which holds UTF-8 only. */
static int is_not_utf8(lua_State *L, int idx) {
    size_t len = 0;
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
    return s && !rt_utf8_valid(s, len);
}

static void expect_field(lua_State *L, const char *key, int idx, int type, int required) {
    int t = lua_type(L, idx);
    if (t == LUA_TNIL && required)
        sdk_problem(L, key, "is required");
    else if (t != LUA_TNIL && t != type)
        sdk_problem(L, key, "must be a %s (got %s)", lua_typename(L, type), lua_typename(L, t));
    else if (is_not_utf8(L, idx))
        sdk_problem(L, key, "must be UTF-8 text");
}

static void check_inputs(lua_State *L, int idx) {
    if (!lua_istable(L, idx))
        return;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING || !is_input_name(lua_tostring(L, -2)))
            sdk_problem(L, "inputs", "input names must match ^[a-z_][a-z0-9_]*$ (got %s)",
                        lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2)
                                                       : luaL_typename(L, -2));
        else if (!sdk_is_type(L, -1))
            sdk_problem(L, "inputs", "input '%s' must be a type such as t.string{} (got %s)",
                        lua_tostring(L, -2), luaL_typename(L, -1));
        lua_pop(L, 1);
    }
}

static void check_tags(lua_State *L, int idx) {
    if (!lua_istable(L, idx))
        return;
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, idx, i) != LUA_TSTRING)
            sdk_problem(L, "tags", "must be a list of strings (item %d is a %s)", (int)i,
                        luaL_typename(L, -1));
        else if (is_not_utf8(L, -1))
            sdk_problem(L, "tags", "item %d must be UTF-8 text", (int)i);
        lua_pop(L, 1);
    }
}

enum { F_NAME, F_OWNER, F_DESCRIPTION, F_INPUTS, F_RUN, F_VERSION, F_TAGS, NFIELDS };
static const char *const known_fields[] = {"name", "owner",   "description", "inputs",
                                           "run",  "version", "tags",        NULL};

/* The field named by the 'len' bytes at 'key', or -1. */
static int field_index(const char *key, size_t len) {
    for (int i = 0; i < NFIELDS; i++)
        if (known_fields[i][0] == key[0] && strlen(known_fields[i]) == len &&
            memcmp(known_fields[i], key, len) == 0)
            return i;
    return -1;
}

static void check_unknown_fields(lua_State *L) {
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int known = 0;
        for (const char *const *k = known_fields; key && *k; k++)
            known |= strcmp(*k, key) == 0;
        if (!known)
            sdk_problem(L, NULL,
                        "inquest.analyzer: unknown field '%s' (known: name, owner, description, "
                        "inputs, run, version, tags)",
                        key ? key : luaL_typename(L, -1));
    }
}

/* inquest.analyzer{…}: one pass over the definition (index 1) keeps the value of each known
 * field on the stack, then the fields are checked in a fixed order. */
static int analyzer(lua_State *L) {
    int at[NFIELDS], unknown = 0;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_pushnil(L); /* index 2: the value of every field that is absent */
    for (int i = 0; i < NFIELDS; i++)
        at[i] = 2;
    luaL_checkstack(L, NFIELDS + 8, NULL);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        size_t len = 0;
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
        int f = key ? field_index(key, len) : -1;
        if (f >= 0) {
            lua_insert(L, -2); /* the value stays, below the key that lua_next goes on with */
            at[f] = lua_gettop(L) - 1;
        } else {
            unknown = 1;
            lua_pop(L, 1);
        }
    }
    expect_field(L, "name", at[F_NAME], LUA_TSTRING, 1);
    if (lua_isstring(L, at[F_NAME]) && !is_name(lua_tostring(L, at[F_NAME])))
        sdk_problem(L, "name",
                    "'%s' must look like domain.name: lower-case letters, digits "
                    "and _, segments separated by '.'",
                    lua_tostring(L, at[F_NAME]));
    expect_field(L, "owner", at[F_OWNER], LUA_TSTRING, 1);
    expect_field(L, "description", at[F_DESCRIPTION], LUA_TSTRING, 1);
    expect_field(L, "run", at[F_RUN], LUA_TFUNCTION, 1);
    expect_field(L, "version", at[F_VERSION], LUA_TSTRING, 0);
    expect_field(L, "inputs", at[F_INPUTS], LUA_TTABLE, 0);
    check_inputs(L, at[F_INPUTS]);
    expect_field(L, "tags", at[F_TAGS], LUA_TTABLE, 0);
    check_tags(L, at[F_TAGS]);
    if (unknown)
        check_unknown_fields(L);
    if (lua_isnil(L, at[F_INPUTS])) {
        lua_newtable(L);
        lua_setfield(L, 1, "inputs");
    }
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &analyzer_key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "inquest.analyzer");
        lua_setfield(L, -2, "__name");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &analyzer_key);
    }
    lua_setmetatable(L, 1);
    return 1;
}

int sdk_is_analyzer(lua_State *L, int idx) {
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &analyzer_key);
    int yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

/* The toolkit's submodules, made on first use: every analysis opens `inquest` in a fresh state,
 * and most use one or two of them. */
static const luaL_Reg submodules[] = {
    {"series", sdk_series_open},       {"logs", sdk_logs_open},
    {"anomaly", sdk_anomaly_open},     {"changepoint", sdk_changepoint_open},
    {"correlate", sdk_correlate_open}, {"dimensions", sdk_dimensions_open},
    {"events", sdk_events_open},       {NULL, NULL},
};

lua_CFunction sdk_submodule(const char *name) {
    for (const luaL_Reg *m = submodules; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m->func;
    return NULL;
}

/* __index of the module table (t, k): opens submodule k and keeps it in t. */
static int open_submodule(lua_State *L) {
    const char *name = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    lua_CFunction open = name ? sdk_submodule(name) : NULL;
    if (!open)
        return 0;
    lua_pushcfunction(L, open);
    lua_call(L, 0, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

int sdk_open(lua_State *L) {
    lua_createtable(L, 0, 4 + sizeof submodules / sizeof *submodules);
    lua_pushcfunction(L, analyzer);
    lua_setfield(L, -2, "analyzer");
    sdk__types_push(L);
    lua_setfield(L, -2, "types");
    lua_pushcfunction(L, sdk_summary);
    lua_setfield(L, -2, "summary");
    lua_pushliteral(L, INQUEST_VERSION);
    lua_setfield(L, -2, "version");
    lua_createtable(L, 0, 2);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable"); /* analyzers can neither read nor replace it */
    lua_pushcfunction(L, open_submodule);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    return 1;
}
