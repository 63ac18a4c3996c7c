/* sdk/sdk_anomaly_lua.c -- the Lua binding of anomaly detection and change points:
 * inquest.anomaly.detect, inquest.anomaly.stream, inquest.changepoint (docs/sdk.md "Anomalies
 * and change points"). The detectors themselves live in sdk_anomaly.c and sdk_changepoint.c.
 *
 * Every argument is checked before anything is made, and errors name the function and the
 * option: "inquest.anomaly.detect: window must be from 8 to 100000 points (got 2)". Working
 * memory (a stream, a change-point search) is a userdata, so the analysis' memory budget counts
 * it; the C work is linear in the series, which that budget bounds (docs/sdk.md, "The
 * sandbox"). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk_anomaly.h"
#include "sdk_budget.h"
#include "sdk_changepoint.h"
#include "sdk_series.h"

#define STREAM_META "inquest.anomaly.stream"

/* ---- Options --------------------------------------------------------------------------------- */

/* The number in field 'key' of the options table at 'idx' into '*out' (left as it is when the
 * field is absent); 'whole' asks for a whole number >= 0. */
static void opt_number(lua_State *L, int idx, const char *fn, const char *key, double *out,
                       int whole) {
    int type = lua_getfield(L, idx, key);
    if (type != LUA_TNIL) {
        if (type != LUA_TNUMBER)
            luaL_error(L, "%s: %s must be a number (got %s)", fn, key, luaL_typename(L, -1));
        double x = lua_tonumber(L, -1);
        if (whole && !(x >= 0 && x <= 1e15 && x == floor(x)))
            luaL_error(L, "%s: %s must be a whole number >= 0 (got %s)", fn, key,
                       lua_tostring(L, -1));
        *out = x;
    }
    lua_pop(L, 1);
}

static void opt_size(lua_State *L, int idx, const char *fn, const char *key, size_t *out) {
    double x = (double)*out;
    opt_number(L, idx, fn, key, &x, 1);
    *out = (size_t)x;
}

/* Raises "'fn': unknown option 'key' (known: …)" for a key of the table at 'idx' that is not in
 * 'known'. */
static void opt_known(lua_State *L, int idx, const char *fn, const char *const *known,
                      const char *list) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *k = known; *k && !ok; k++)
                ok = strcmp(*k, lua_tostring(L, -1)) == 0;
        if (!ok)
            luaL_error(L, "%s: unknown option '%s' (known: %s)", fn,
                       lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1),
                       list);
    }
}

/* The options table at 'idx' (nil: none); returns its absolute index, or 0. */
static int opt_table(lua_State *L, int idx, const char *fn) {
    if (lua_isnoneornil(L, idx))
        return 0;
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: options must be a table (got %s)", fn, luaL_typename(L, idx));
    return lua_absindex(L, idx);
}

/* seasons = { "day", "week" } (or an empty table, or false: none) into '*out'. */
static void opt_seasons(lua_State *L, int idx, const char *fn, int *out) {
    int type = lua_getfield(L, idx, "seasons");
    if (type == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        *out = 0;
    } else if (type == LUA_TTABLE) {
        *out = 0;
        for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
            const char *s = lua_tostring(L, -1);
            if (lua_type(L, -1) == LUA_TSTRING && strcmp(s, "day") == 0)
                *out |= SDK_SEASON_DAY;
            else if (lua_type(L, -1) == LUA_TSTRING && strcmp(s, "week") == 0)
                *out |= SDK_SEASON_WEEK;
            else
                luaL_error(L, "%s: seasons[%d] must be \"day\" or \"week\"", fn, (int)i);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    } else if (type != LUA_TNIL) {
        luaL_error(L, "%s: seasons must be a list of \"day\", \"week\" or false (got %s)", fn,
                   luaL_typename(L, -1));
    }
    lua_pop(L, 1);
}

static const char *const anomaly_keys[] = {
    "level",        "window",     "tail_window", "risk",    "threshold", "hold", "shift",
    "shift_points", "min_points", "history",     "seasons", "from",      NULL};
#define ANOMALY_KEYS                                                                               \
    "level, window, tail_window, risk, threshold, hold, shift, shift_points, min_points, "         \
    "history, seasons, from"

/* The detector settings of the options at 'idx' (0: none), checked; 'from' (may be NULL) gets
 * the option of that name (-inf when absent); 'stream' refuses it. */
static void anomaly_opts(lua_State *L, int idx, const char *fn, sdk_anomaly_opts *o, double *from) {
    char why[160];
    sdk_anomaly_defaults(o);
    if (from)
        *from = -INFINITY;
    if (!idx)
        return;
    opt_known(L, idx, fn, anomaly_keys, ANOMALY_KEYS);
    opt_size(L, idx, fn, "level", &o->level);
    opt_size(L, idx, fn, "window", &o->window);
    opt_size(L, idx, fn, "tail_window", &o->tail_window);
    opt_number(L, idx, fn, "risk", &o->risk, 0);
    opt_number(L, idx, fn, "threshold", &o->threshold, 0);
    opt_number(L, idx, fn, "hold", &o->hold, 0);
    opt_number(L, idx, fn, "shift", &o->shift, 0);
    opt_size(L, idx, fn, "shift_points", &o->shift_points);
    opt_size(L, idx, fn, "min_points", &o->min_points);
    opt_size(L, idx, fn, "history", &o->history);
    opt_seasons(L, idx, fn, &o->seasons);
    if (lua_getfield(L, idx, "from") != LUA_TNIL && !from)
        luaL_error(L, "%s: unknown option 'from' (a stream sees every point it is given)", fn);
    lua_pop(L, 1);
    if (from)
        opt_number(L, idx, fn, "from", from, 0);
    if (sdk_anomaly_check(o, why, sizeof why))
        luaL_error(L, "%s: %s", fn, why);
}

/* ---- Anomalies as Lua values ----------------------------------------------------------------- */

static void set_number(lua_State *L, const char *key, double x) {
    lua_pushnumber(L, x);
    lua_setfield(L, -2, key);
}

static void set_string(lua_State *L, const char *key, const char *s) {
    lua_pushstring(L, s);
    lua_setfield(L, -2, key);
}

/* Pushes { start, end, peak, value, expected, magnitude, score, direction, kind, baseline,
 * points }. */
static void push_anomaly(lua_State *L, const sdk_anomaly *a) {
    lua_createtable(L, 0, 11);
    set_number(L, "start", a->start);
    set_number(L, "end", a->end);
    set_number(L, "peak", a->peak);
    set_number(L, "value", a->value);
    set_number(L, "expected", a->expected);
    set_number(L, "magnitude", a->magnitude);
    set_number(L, "score", a->score);
    set_string(L, "direction", a->direction > 0 ? "up" : "down");
    set_string(L, "kind", sdk_anomaly_kind_name(a->kind));
    set_string(L, "baseline", a->baseline);
    lua_pushinteger(L, (lua_Integer)a->points);
    lua_setfield(L, -2, "points");
}

/* ---- inquest.anomaly.detect(series, opts) ---------------------------------------------------- */

/* Appends 'a' to the list at 'list' unless it ended before 'from'. */
static void add_anomaly(lua_State *L, int list, const sdk_anomaly *a, double from) {
    if (a->end < from)
        return;
    push_anomaly(L, a);
    lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
}

/* The C work per point, in Lua VM instructions (sdk_charge): a point costs the detector about
 * as long as a thousand instructions (bench_anomaly), a change-point search a few hundred over
 * its passes. Charged before the work, so a series the budget cannot afford fails at once. */
#define POINT_UNITS    1000
#define CP_POINT_UNITS 300

static int anomaly_detect(lua_State *L) {
    static const char fn[] = "inquest.anomaly.detect";
    sdk__series *s = sdk__series_check(L, 1, fn, "series");
    sdk_anomaly_opts o;
    double from;
    anomaly_opts(L, opt_table(L, 2, fn), fn, &o, &from);
    if (o.history > s->n) /* a ring longer than the series is never filled */
        o.history = s->n;
    size_t carry = 0;
    sdk_charge(L, &carry, s->n * POINT_UNITS);
    size_t size = sdk_anomaly_stream_size(&o);
    sdk_anomaly_stream *st = sdk_anomaly_stream_init(lua_newuserdatauv(L, size, 0), size, &o);
    lua_newtable(L);
    int list = lua_gettop(L);
    sdk_anomaly a;
    for (size_t i = 0; i < s->n; i++) {
        int rc = sdk_anomaly_stream_push(st, SDK__SERIES_T(s)[i], SDK__SERIES_V(s)[i], NULL, &a);
        if (rc > 0 && (rc & SDK_ANOMALY_CLOSED))
            add_anomaly(L, list, &a, from);
    }
    if (sdk_anomaly_stream_flush(st, &a))
        add_anomaly(L, list, &a, from);
    return 1;
}

/* ---- inquest.anomaly.stream(opts) ------------------------------------------------------------ */

static sdk_anomaly_stream *check_stream(lua_State *L, const char *fn) {
    sdk_anomaly_stream *st = luaL_testudata(L, 1, STREAM_META);
    if (!st)
        luaL_error(L, "%s: call it on a stream, as s:%s(…) (got %s)", fn, strchr(fn, ':') + 1,
                   luaL_typename(L, 1));
    return st;
}

/* s:push(t, v): the anomaly the point belongs to (nil: none) and the one that ended at it (nil:
 * none). 'v' may be nil (no value: skipped). */
static int stream_push(lua_State *L) {
    static const char fn[] = "stream:push";
    sdk_anomaly_stream *st = check_stream(L, fn);
    if (lua_type(L, 2) != LUA_TNUMBER)
        return luaL_error(L, "%s: t must be a number (got %s)", fn, luaL_typename(L, 2));
    if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TNUMBER)
        return luaL_error(L, "%s: v must be a number or nil (got %s)", fn, luaL_typename(L, 3));
    size_t carry = 0;
    sdk_charge(L, &carry, POINT_UNITS);
    double t = lua_tonumber(L, 2), v = lua_isnoneornil(L, 3) ? NAN : lua_tonumber(L, 3);
    sdk_anomaly_point pt;
    sdk_anomaly ended, open;
    int rc = sdk_anomaly_stream_push(st, t, v, &pt, &ended);
    lua_getiuservalue(L, 1, 1); /* the last point's figures, for s:last() */
    if (rc < 0) {
        char got[32], last[32];
        lua_getfield(L, -1, "t");
        snprintf(got, sizeof got, "%.14g", t);
        snprintf(last, sizeof last, "%.14g", lua_tonumber(L, -1));
        return luaL_error(L, "%s: times must be finite and increase (got %s after %s)", fn, got,
                          last);
    }
    set_number(L, "t", t);
    set_number(L, "expected", pt.expected);
    set_number(L, "z", pt.z);
    set_string(L, "baseline", pt.baseline);
    lua_pop(L, 1);
    if ((rc & 1) && sdk_anomaly_stream_open(st, &open))
        push_anomaly(L, &open);
    else
        lua_pushnil(L);
    if (rc & SDK_ANOMALY_CLOSED)
        push_anomaly(L, &ended);
    else
        lua_pushnil(L);
    return 2;
}

/* s:flush(): ends the open anomaly and returns it (nil: none was open). */
static int stream_flush(lua_State *L) {
    sdk_anomaly a;
    if (!sdk_anomaly_stream_flush(check_stream(L, "stream:flush"), &a))
        return 0;
    push_anomaly(L, &a);
    return 1;
}

/* s:last(): what the detector expected of the last point, its z and the baseline used. */
static int stream_last(lua_State *L) {
    check_stream(L, "stream:last");
    lua_getiuservalue(L, 1, 1);
    lua_getfield(L, -1, "expected");
    lua_getfield(L, -2, "z");
    lua_getfield(L, -3, "baseline");
    return 3;
}

static int stream_tostring(lua_State *L) {
    lua_pushfstring(L, "anomaly stream (%p)", lua_topointer(L, 1));
    return 1;
}

static void push_stream_meta(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"push", stream_push}, {"flush", stream_flush}, {"last", stream_last}, {NULL, NULL}};
    if (luaL_newmetatable(L, STREAM_META)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, stream_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, "inquest.anomaly.stream");
        lua_setfield(L, -2, "__name");
    }
}

static int anomaly_stream(lua_State *L) {
    static const char fn[] = "inquest.anomaly.stream";
    sdk_anomaly_opts o;
    anomaly_opts(L, opt_table(L, 1, fn), fn, &o, NULL);
    size_t size = sdk_anomaly_stream_size(&o);
    sdk_anomaly_stream_init(lua_newuserdatauv(L, size, 1), size, &o);
    lua_createtable(L, 0, 4);
    set_number(L, "t", -INFINITY);
    set_number(L, "expected", NAN);
    set_number(L, "z", 0);
    set_string(L, "baseline", "rolling");
    lua_setiuservalue(L, -2, 1);
    push_stream_meta(L);
    lua_setmetatable(L, -2);
    return 1;
}

/* ---- inquest.changepoint(series, opts) ------------------------------------------------------- */

static void cp_opts(lua_State *L, int idx, const char *fn, sdk_cp_opts *o) {
    static const char *const keys[] = {"min_confidence", "min_size", "max_changes", "direction",
                                       NULL};
    char why[160];
    sdk_cp_defaults(o);
    if (!idx)
        return;
    opt_known(L, idx, fn, keys, "min_confidence, min_size, max_changes, direction");
    opt_number(L, idx, fn, "min_confidence", &o->min_confidence, 0);
    opt_size(L, idx, fn, "min_size", &o->min_size);
    opt_size(L, idx, fn, "max_changes", &o->max_changes);
    if (lua_getfield(L, idx, "direction") != LUA_TNIL) {
        static const char *const dirs[] = {"any", "up", "down", NULL};
        const char *d = lua_tostring(L, -1);
        int i = 0;
        while (d && lua_type(L, -1) == LUA_TSTRING && dirs[i] && strcmp(dirs[i], d) != 0)
            i++;
        if (!d || lua_type(L, -1) != LUA_TSTRING || !dirs[i])
            luaL_error(L, "%s: direction must be \"any\", \"up\" or \"down\"", fn);
        o->direction = i == 0 ? 0 : i == 1 ? 1 : -1;
    }
    lua_pop(L, 1);
    if (sdk_cp_check(o, why, sizeof why))
        luaL_error(L, "%s: %s", fn, why);
}

static void push_changepoint(lua_State *L, const sdk_changepoint *c) {
    lua_createtable(L, 0, 8);
    set_number(L, "at", c->at);
    lua_pushinteger(L, (lua_Integer)c->index + 1);
    lua_setfield(L, -2, "index");
    set_number(L, "before", c->before);
    set_number(L, "after", c->after);
    set_number(L, "delta", c->after - c->before);
    set_string(L, "direction", c->after > c->before ? "up" : "down");
    set_number(L, "confidence", c->confidence);
    set_number(L, "score", c->score);
}

/* inquest.changepoint(series, opts): the onset (the first change; nil when none) and the list of
 * every change, in time order. */
static int changepoint(lua_State *L) {
    static const char fn[] = "inquest.changepoint";
    sdk__series *s = sdk__series_check(L, 1, fn, "series");
    sdk_cp_opts o;
    sdk_changepoint found[SDK_CP_MAX_CHANGES];
    cp_opts(L, opt_table(L, 2, fn), fn, &o);
    size_t carry = 0;
    sdk_charge(L, &carry, s->n * CP_POINT_UNITS);
    void *work = lua_newuserdatauv(L, sdk_cp_work_size(s->n), 0);
    size_t n = sdk_changepoints(SDK__SERIES_T(s), SDK__SERIES_V(s), s->n, &o, work, found);
    lua_pop(L, 1);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_changepoint(L, &found[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    if (n)
        lua_rawgeti(L, -1, 1);
    else
        lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* ---- The module ------------------------------------------------------------------------------ */

/* inquest.anomaly.defaults(): a new table of the default settings, for analyzers that adjust
 * one (a function, not a table: the module is made for every analysis, most never ask). */
static int anomaly_defaults(lua_State *L) {
    sdk_anomaly_opts o;
    sdk_anomaly_defaults(&o);
    lua_createtable(L, 0, 11);
    set_number(L, "level", (double)o.level);
    set_number(L, "window", (double)o.window);
    set_number(L, "tail_window", (double)o.tail_window);
    set_number(L, "risk", o.risk);
    set_number(L, "threshold", o.threshold);
    set_number(L, "hold", o.hold);
    set_number(L, "shift", o.shift);
    set_number(L, "shift_points", (double)o.shift_points);
    set_number(L, "min_points", (double)o.min_points);
    set_number(L, "history", (double)o.history);
    lua_createtable(L, 2, 0);
    lua_pushliteral(L, "day");
    lua_rawseti(L, -2, 1);
    lua_pushliteral(L, "week");
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, "seasons");
    return 1;
}

int sdk_anomaly_open(lua_State *L) {
    static const luaL_Reg funcs[] = {{"detect", anomaly_detect},
                                     {"stream", anomaly_stream},
                                     {"changepoint", changepoint},
                                     {"defaults", anomaly_defaults},
                                     {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}

int sdk_changepoint_open(lua_State *L) {
    lua_pushcfunction(L, changepoint);
    return 1;
}
