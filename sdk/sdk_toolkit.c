/* sdk/sdk_toolkit.c -- what the investigation toolkit's helpers share (sdk_toolkit.h): C work
 * counted and charged to the instruction budget (by sdk_budget.c), scratch memory as userdata,
 * options tables, and numbers formatted for people. The helpers themselves are
 * sdk_correlate.c, sdk_dimensions.c, sdk_events.c and sdk_summary.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk_toolkit.h"
#include "sdk_budget.h"

/* ---- Work ------------------------------------------------------------------------------ */

static void charge_lua(sdk_work *w, size_t units) {
    sdk_charge(w->ud, &w->carry, units);
}

void sdk_work_lua(sdk_work *w, lua_State *L) {
    w->charge = charge_lua;
    w->ud = L;
    w->carry = 0;
    w->pending = 0;
}

void sdk__work_flush(sdk_work *w) {
    size_t units = w->pending;
    w->pending = 0;
    if (w->charge)
        w->charge(w, units);
}

/* ---- Scratch ---------------------------------------------------------------------------- */

static void *scratch_userdata(void *ud, size_t size) {
    lua_State *L = ud;
    luaL_checkstack(L, 1, "too much scratch memory");
    void *p = lua_newuserdatauv(L, size ? size : 1, 0);
    memset(p, 0, size);
    return p;
}

void sdk_scratch_lua(sdk_scratch *s, lua_State *L) {
    s->alloc = scratch_userdata;
    s->ud = L;
}

void *sdk_scratch_alloc(const sdk_scratch *s, size_t n, size_t size) {
    if (size && n > SIZE_MAX / size)
        return NULL;
    return s->alloc(s->ud, n * size);
}

/* ---- Options ---------------------------------------------------------------------------- */

void sdk__opts_check(lua_State *L, int idx, const char *fn, const char *const known[]) {
    if (lua_isnoneornil(L, idx))
        return;
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: opts must be a table (got %s)", fn, luaL_typename(L, idx));
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        for (int i = 0; known[i] && lua_type(L, -1) == LUA_TSTRING; i++)
            ok |= strcmp(known[i], lua_tostring(L, -1)) == 0;
        if (ok)
            continue;
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int i = 0; known[i]; i++) {
            luaL_addstring(&b, i ? ", " : "");
            luaL_addstring(&b, known[i]);
        }
        luaL_pushresult(&b);
        luaL_error(L, "%s: unknown option '%s' (options: %s)", fn,
                   lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2),
                   lua_tostring(L, -1));
    }
}

int sdk__opt_push(lua_State *L, int idx, const char *name) {
    if (!lua_istable(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, idx, name);
}

double sdk__opt_number(lua_State *L, int idx, const char *fn, const char *name, double def,
                       double min, double max) {
    char a[32], b[32], c[32];
    int type = sdk__opt_push(L, idx, name);
    double x = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (type == LUA_TNIL)
        return def;
    if (type != LUA_TNUMBER)
        return luaL_error(L, "%s: opts.%s must be a number (got %s)", fn, name,
                          lua_typename(L, type));
    if (!(x >= min && x <= max))
        return luaL_error(L, "%s: opts.%s must be from %s to %s (got %s)", fn, name,
                          sdk__fmt_number(a, min), sdk__fmt_number(b, max), sdk__fmt_number(c, x));
    return x;
}

lua_Integer sdk__opt_integer(lua_State *L, int idx, const char *fn, const char *name,
                             lua_Integer def, lua_Integer min, lua_Integer max) {
    int type = sdk__opt_push(L, idx, name), whole = 0;
    lua_Integer x = lua_tointegerx(L, -1, &whole);
    lua_pop(L, 1);
    if (type == LUA_TNIL)
        return def;
    if (!whole || x < min || x > max)
        return luaL_error(L, "%s: opts.%s must be a whole number from %I to %I", fn, name, min,
                          max);
    return x;
}

const char *sdk__opt_string(lua_State *L, int idx, const char *fn, const char *name,
                            const char *def) {
    int type = sdk__opt_push(L, idx, name);
    const char *s = lua_tostring(L, -1); /* the options table keeps it alive */
    lua_pop(L, 1);
    if (type == LUA_TNIL)
        return def;
    if (type != LUA_TSTRING)
        luaL_error(L, "%s: opts.%s must be a string (got %s)", fn, name, lua_typename(L, type));
    return s;
}

int sdk__is_set(lua_State *L, int idx) {
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, "inquest.series_set");
    int yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

/* ---- Numbers for people ----------------------------------------------------------------- */

/* Drops the trailing zeros of a fraction, and its point when nothing is left after it. */
static void trim_zeros(char *s) {
    if (!strchr(s, '.') || strchr(s, 'e'))
        return;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '0')
        s[--n] = '\0';
    if (n > 0 && s[n - 1] == '.')
        s[--n] = '\0';
}

const char *sdk__fmt_number(char *out, double x) {
    double a = fabs(x);
    if (isnan(x))
        snprintf(out, 32, "NaN");
    else if (isinf(x))
        snprintf(out, 32, x > 0 ? "infinity" : "-infinity");
    else if (a >= 1e15 || a < 0.9995) /* three significant digits, in exponent form if need be */
        snprintf(out, 32, "%.3g", x);
    else if (a >= 99.5)
        snprintf(out, 32, "%.0f", x);
    else if (a >= 9.995)
        snprintf(out, 32, "%.1f", x);
    else
        snprintf(out, 32, "%.2f", x);
    trim_zeros(out);
    if (strcmp(out, "-0") == 0)
        snprintf(out, 32, "0");
    return out;
}
