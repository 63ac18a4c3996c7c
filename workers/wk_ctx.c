/* workers/wk_ctx.c -- the ctx object an analyzer's run(ctx, input) receives: findings, steps,
 * the conclusion, the log and chaining (docs/sdk.md, "The context"). What it records goes
 * straight into the analysis' result parts, so an error later loses none of it. */
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include "sdk.h"
#include "wk_internal.h"

#define MAX_LOGS        500
#define MAX_LOG_MESSAGE 1000
#define MAX_STEPS       500
#define MAX_STEP_NAME   200
#define MAX_SUMMARY     4000

void wk__log(wk_analysis *a, const char *level, const char *message, size_t len) {
    if (json_array_size(a->logs) >= MAX_LOGS) {
        a->logs_dropped++;
        return;
    }
    json_t *text = rt_json_text(message, rt_utf8_cut(message, len, MAX_LOG_MESSAGE));
    json_array_append_new(a->logs, json_pack("{s:s, s:o}", "level", level, "message", text));
}

/* ctx.log(fmt, …), ctx.log.warn(fmt, …): arguments from 'first' on, formatted like
 * string.format when more than one. */
static int log_at(lua_State *L, const char *level, int first) {
    int n = lua_gettop(L);
    if (!lua_isstring(L, first)) /* argument numbers would count the hidden self of ctx.log() */
        return luaL_error(L, "ctx.log: the message must be a string (got %s)",
                          luaL_typename(L, first));
    if (n > first) {
        wk__push_library(L, LUA_STRLIBNAME);
        lua_getfield(L, -1, "format");
        lua_remove(L, -2);
        lua_insert(L, first);
        lua_call(L, n - first + 1, 1);
    } else {
        lua_pushvalue(L, first);
    }
    size_t len;
    const char *message = lua_tolstring(L, -1, &len);
    wk__log(wk__analysis(L), level, message, len);
    return 0;
}

static int log_call(lua_State *L) {
    return log_at(L, "info", 2);
}
static int log_debug(lua_State *L) {
    return log_at(L, "debug", 1);
}
static int log_info(lua_State *L) {
    return log_at(L, "info", 1);
}
static int log_warn(lua_State *L) {
    return log_at(L, "warn", 1);
}
static int log_error(lua_State *L) {
    return log_at(L, "error", 1);
}

static int ctx_finding(lua_State *L) {
    wk_analysis *a = wk__analysis(L);
    char why[256];
    luaL_checktype(L, 2, LUA_TTABLE);
    if (json_array_size(a->findings) >= SDK_MAX_FINDINGS)
        return luaL_error(L, "ctx:finding: an analysis keeps at most %d findings",
                          SDK_MAX_FINDINGS);
    json_t *finding = sdk_finding_to_json(L, 2, why, sizeof why);
    if (!finding)
        return luaL_error(L, "ctx:finding: %s", why);
    json_array_append_new(a->findings, finding);
    return 0;
}

static int is_tag(const char *s) {
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

static char *dup_capped(const char *s, size_t cap) {
    size_t n = rt_utf8_cut(s, strlen(s), cap);
    char *out = rt_xmalloc(n + 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static int ctx_conclude(lua_State *L) {
    wk_analysis *a = wk__analysis(L);
    const char *tag = luaL_checkstring(L, 2);
    const char *summary = luaL_optstring(L, 3, NULL);
    if (!is_tag(tag))
        return luaL_error(L, "ctx:conclude: tag '%s' must match ^[a-z0-9_]+$ (at most 64)", tag);
    free(a->conclusion_tag);
    free(a->conclusion_summary);
    a->conclusion_tag = rt_xstrdup(tag);
    a->conclusion_summary = summary ? dup_capped(summary, MAX_SUMMARY) : NULL;
    return 0;
}

/* Stack of a step: ctx, name, start time, fn, args… while fn runs; then its results. */
static int step_done(lua_State *L, int status, lua_KContext k) {
    wk_analysis *a = wk__analysis(L);
    (void)k;
    double ms = (rt_monotonic() - lua_tonumber(L, 3)) * 1e3;
    int ok = status == LUA_OK || status == LUA_YIELD;
    if (json_array_size(a->steps) < MAX_STEPS) {
        json_t *step = json_object();
        json_object_set_new(step, "name", rt_json_text_cut(lua_tostring(L, 2), MAX_STEP_NAME));
        json_object_set_new(step, "status", json_string(ok ? "ok" : "error"));
        json_object_set_new(step, "duration_ms", json_real(ms));
        if (!ok && lua_type(L, -1) == LUA_TSTRING)
            json_object_set_new(step, "error", rt_json_text_cut(lua_tostring(L, -1), WK_MAX_TEXT));
        json_array_append_new(a->steps, step);
    }
    if (!ok)
        return lua_error(L);
    return lua_gettop(L) - 3;
}

static int ctx_step(lua_State *L) {
    luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_pushnumber(L, rt_monotonic());
    lua_insert(L, 3);
    int nargs = lua_gettop(L) - 4;
    return step_done(L, lua_pcallk(L, nargs, LUA_MULTRET, 0, 0, step_done), 0);
}

static int ctx_call(lua_State *L) {
    const char *name = luaL_checkstring(L, 2);
    luaL_argexpected(L, lua_isnoneornil(L, 3) || lua_istable(L, 3), 3, "table of inputs");
    return wk__call(L, name, 3);
}

static const luaL_Reg ctx_methods[] = {
    {"finding", ctx_finding}, {"conclude", ctx_conclude},     {"step", ctx_step},
    {"call", ctx_call},       {"parallel", wk__ctx_parallel}, {NULL, NULL},
};

static const luaL_Reg log_levels[] = {
    {"debug", log_debug}, {"info", log_info}, {"warn", log_warn},
    {"error", log_error}, {NULL, NULL},
};

/* Registry keys of what every ctx of a state shares: the ctx.log table and ctx's metatable. */
static const char log_key, metatable_key;

void wk__ctx_prepare(lua_State *L) {
    luaL_newlib(L, log_levels);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, log_call);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &log_key);
    lua_createtable(L, 0, 1);
    luaL_newlib(L, ctx_methods);
    wk__connectors_register(L);
    lua_setfield(L, -2, "__index");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &metatable_key);
}

void wk__ctx_push(wk_analysis *a) {
    lua_State *L = a->L;
    lua_createtable(L, 0, 4);
    if (a->now == (double)(lua_Integer)a->now)
        lua_pushinteger(L, (lua_Integer)a->now);
    else
        lua_pushnumber(L, a->now);
    lua_setfield(L, -2, "now");
    lua_pushstring(L, a->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, a->name);
    lua_setfield(L, -2, "analyzer");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &log_key);
    lua_setfield(L, -2, "log");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &metatable_key);
    lua_setmetatable(L, -2);
}
