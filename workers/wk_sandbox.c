/* workers/wk_sandbox.c -- the Lua state of one analysis: a budgeted allocator, an instruction
 * and deadline hook that pcall cannot swallow, and an allow-listed environment (docs/sdk.md,
 * "The sandbox"). The analysis' lifecycle lives in wk_engine.c, the ctx object in wk_ctx.c. */
#define _DEFAULT_SOURCE /* timegm */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include <lualib.h>
#include "sdk.h"
#include "sdk_series.h"
#include "wk_internal.h"
#include "wk_pattern.h"

/* The hook runs every this many VM instructions: often enough that a deadline holds to a few
 * milliseconds, rarely enough to cost nothing measurable. */
#define HOOK_EVERY 1000
/* A state's collector starts once it holds this much: most analyses end before, and collecting
 * a state that is about to be closed is wasted work. */
#define GC_START_BYTES ((size_t)256 << 10)
/* Once a budget has tripped, the state may grow this much more so that the error can unwind. */
#define TRIPPED_SLACK ((size_t)1 << 20)

static const char *const trip_messages[] = {
    [WK_TRIP_MEMORY] = "memory budget exceeded",
    [WK_TRIP_CPU] = "instruction budget exceeded",
    [WK_TRIP_TIMEOUT] = "deadline exceeded",
};

/* ---- Budgets ----------------------------------------------------------------------------- */

static void trip(wk_budget *b, wk_trip why) {
    if (!b->tripped)
        b->tripped = why;
}

/* A growing allocation that fails is answered with NULL; Lua then collects garbage and tries
 * once more. Only a second failure in a row means the analysis really is over its budget. */
static void *refuse(wk_budget *b) {
    if (b->alloc_failed)
        trip(b, WK_TRIP_MEMORY);
    b->alloc_failed = 1;
    return NULL;
}

/* The memory budget holds for every state of the tree at once, and what is held for them outside
 * (wk_shared): nested analyses run side by side would otherwise hold it many times over. */
static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    wk_analysis *a = ud;
    wk_budget *b = &a->budget;
    wk_shared *s = b->shared;
    if (!ptr)
        osize = 0;
    if (nsize == 0) {
        s->memory_used -= osize;
        b->memory_used -= osize;
        wk__heap_free(&a->heap, ptr, osize);
        return NULL;
    }
    size_t limit = s->limits.memory + (b->tripped ? TRIPPED_SLACK : 0);
    void *p = nsize > osize && s->memory_used + s->memory_outside - osize + nsize > limit
                  ? NULL
                  : wk__heap_realloc(&a->heap, ptr, osize, nsize);
    if (!p) {
        a->heap.refused |= a->heap.building; /* collected to fit: not the state others get */
        return refuse(b);
    }
    s->memory_used = s->memory_used - osize + nsize;
    b->memory_used = b->memory_used - osize + nsize;
    if (nsize > osize) {
        b->alloc_failed = 0;
        if (b->memory_used > b->memory_peak)
            b->memory_peak = b->memory_used;
    }
    return p;
}

/* Instructions and the deadline are the tree's: a nested analysis spends what its caller has
 * left, and so do those that run beside it. '*now' receives the clock it read (0: none). */
static const char *budget_check(wk_budget *b, uint64_t steps, double *now) {
    wk_shared *s = b->shared;
    b->steps_used += steps;
    s->steps_used += steps;
    *now = 0;
    if (s->steps_used > s->limits.instructions)
        trip(b, WK_TRIP_CPU);
    else if ((*now = rt_monotonic()) > s->deadline)
        trip(b, WK_TRIP_TIMEOUT);
    return b->tripped ? trip_messages[b->tripped] : NULL;
}

static const char *charge_pattern(void *ud, unsigned steps) {
    double now;
    return budget_check(ud, steps, &now);
}

/* Charges 'steps' of work a C function is about to do to the instruction budget, and raises
 * the budget's error instead when they do not fit. */
static void charge(lua_State *L, lua_Unsigned steps) {
    wk_budget *b = &wk__analysis(L)->budget;
    const wk_shared *s = b->shared;
    uint64_t left =
        s->steps_used < s->limits.instructions ? s->limits.instructions - s->steps_used : 0;
    double now;
    const char *tripped = budget_check(b, steps < left ? steps : left + 1, &now);
    if (tripped)
        luaL_error(L, "%s", tripped);
}

void wk__budget_enforce(lua_State *L) {
    charge(L, 0);
}

/* True when the slice of the running resume is over at 'now'. The slice is timed from the
 * hook's first run after the loop resumed a task (the scheduler zeroes 'slice_start'), so that
 * the clock is read only where the hook reads it anyway: an analysis too short for a hook pays
 * nothing. */
static int slice_over(wk_engine *engine, double now) {
    if (engine->slice_start == 0) {
        engine->slice_start = now;
        return 0;
    }
    return now - engine->slice_start > WK_SLICE;
}

/* Once a budget trips, the hook fires on every instruction of every thread and raises again, so
 * that pcall, xpcall and error handlers cannot catch the error and go on. While they hold, the
 * hook gives the loop its turn once the slice is over (wk_io.c, "Slices"). */
static void budget_hook(lua_State *L, lua_Debug *ar) {
    wk_analysis *a = wk__analysis(L);
    wk_budget *b = &a->budget;
    double now;
    if (!b->tripped && !budget_check(b, HOOK_EVERY, &now)) {
        if (b->gc_stopped && b->memory_used > GC_START_BYTES) {
            lua_gc(L, LUA_GCRESTART);
            b->gc_stopped = 0;
        }
        if (now > 0 && slice_over(a->engine, now) && wk__preempt(L, ar))
            lua_yield(L, 0); /* in a hook it returns, and Lua yields once the hook is done */
        return;
    }
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    lua_pushstring(L, trip_messages[b->tripped]);
    lua_error(L);
}

/* ---- Replacements for unsafe or nondeterministic base functions --------------------------- */

/* Calls the function a wrapper replaces (its upvalue 1) with the wrapper's arguments; returns
 * the number of its results, 'nresults' or all of them (LUA_MULTRET). */
static int call_wrapped(lua_State *L, int nresults) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, nresults);
    return nresults == LUA_MULTRET ? lua_gettop(L) : nresults;
}

static int sb_setmetatable(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, lua_isnoneornil(L, 2) || lua_istable(L, 2), 2, "nil or table");
    /* raw: a metatable's own __index could add __gc while this looks */
    if (lua_istable(L, 2) && (lua_pushliteral(L, "__gc"), lua_rawget(L, 2)) != LUA_TNIL)
        return luaL_error(L, "setmetatable: __gc metamethods are not allowed in analyzers "
                             "(finalizers run outside the analysis' budgets)");
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* load() compiles text only: bytecode can break the VM's invariants. */
static int sb_load(lua_State *L) {
    int nargs = lua_gettop(L);
    lua_settop(L, 4); /* absent arguments become nil; an env given as nil stays given */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushliteral(L, "t");
    if (nargs >= 4)
        lua_pushvalue(L, 4);
    lua_call(L, nargs >= 4 ? 4 : 3, LUA_MULTRET);
    return lua_gettop(L) - 4;
}

/* xpcall runs its message handler after the stack unwinds, as ordinary code. Lua would run it
 * at the error with hooks possibly off (an error raised by the budget hook leaves them off until
 * a pcall catches it), and a looping handler would then escape every budget. Without the debug
 * library a handler cannot tell the difference. */
static int xpcall_handled(lua_State *L, int status, lua_KContext k) {
    (void)k;
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_pop(L, 1);
        lua_pushliteral(L, "error in error handling"); /* as Lua says it */
    }
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

/* Stack: handler, then fn's results, or the error. */
static int xpcall_done(lua_State *L, int status, lua_KContext k) {
    if (status == LUA_OK || status == LUA_YIELD) {
        lua_pushboolean(L, 1);
        lua_replace(L, 1);
        return lua_gettop(L);
    }
    lua_pushvalue(L, 1);
    lua_insert(L, -2);
    return xpcall_handled(L, lua_pcallk(L, 1, 1, 0, k, xpcall_handled), k);
}

static int sb_xpcall(lua_State *L) {
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 1); /* swap fn and handler: handler, fn, args… */
    lua_copy(L, 2, 1);
    lua_replace(L, 2);
    return xpcall_done(L, lua_pcallk(L, n - 2, LUA_MULTRET, 0, 0, xpcall_done), 0);
}

static int sb_collectgarbage(lua_State *L) {
    static const char *const options[] = {"collect", "count", "step", NULL};
    int option = luaL_checkoption(L, 1, "collect", options);
    if (option != 1) /* a collection walks the whole state, in C */
        charge(L, wk__analysis(L)->budget.memory_used / 16);
    switch (option) {
    case 0:
        lua_gc(L, LUA_GCCOLLECT);
        lua_pushinteger(L, 0);
        return 1;
    case 1:
        lua_pushnumber(L, lua_gc(L, LUA_GCCOUNT) + lua_gc(L, LUA_GCCOUNTB) / 1024.0);
        return 1;
    default:
        lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, (int)luaL_optinteger(L, 2, 0)));
        return 1;
    }
}

/* print() writes to the analysis log: an analyzer has no terminal. */
static int sb_print(lua_State *L) {
    int n = lua_gettop(L);
    luaL_Buffer buf;
    luaL_buffinit(L, &buf);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&buf, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&buf);
    }
    luaL_pushresult(&buf);
    size_t len;
    const char *line = lua_tolstring(L, -1, &len);
    wk__log(wk__analysis(L), "info", line, len);
    return 0;
}

/* ---- os: the analysis' clock only --------------------------------------------------------- */

static int date_field(lua_State *L, const char *key, int fallback) {
    int isnum, t = lua_getfield(L, 1, key);
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    if (t == LUA_TNIL && fallback >= 0)
        return fallback;
    if (!isnum || v < -100000 || v > 100000)
        return luaL_error(L, "os.time: field '%s' is missing or not a small integer", key);
    return (int)v;
}

static int sb_os_time(lua_State *L) {
    if (lua_isnoneornil(L, 1)) {
        lua_pushinteger(L, (lua_Integer)floor(wk__analysis(L)->now));
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    struct tm tm = {
        .tm_year = date_field(L, "year", -1) - 1900,
        .tm_mon = date_field(L, "month", -1) - 1,
        .tm_mday = date_field(L, "day", -1),
        .tm_hour = date_field(L, "hour", 12),
        .tm_min = date_field(L, "min", 0),
        .tm_sec = date_field(L, "sec", 0),
    };
    lua_pushinteger(L, (lua_Integer)timegm(&tm));
    return 1;
}

static void set_int_field(lua_State *L, const char *key, int value) {
    lua_pushinteger(L, value);
    lua_setfield(L, -2, key);
}

static void push_date_table(lua_State *L, const struct tm *tm) {
    lua_createtable(L, 0, 9);
    set_int_field(L, "year", tm->tm_year + 1900);
    set_int_field(L, "month", tm->tm_mon + 1);
    set_int_field(L, "day", tm->tm_mday);
    set_int_field(L, "hour", tm->tm_hour);
    set_int_field(L, "min", tm->tm_min);
    set_int_field(L, "sec", tm->tm_sec);
    set_int_field(L, "yday", tm->tm_yday + 1);
    set_int_field(L, "wday", tm->tm_wday + 1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "isdst");
}

/* os.date formats in UTC whatever the machine's zone, with C99's conversions only. */
static int sb_os_date(lua_State *L) {
    const char *fmt = luaL_optstring(L, 1, "%c");
    lua_Number t = luaL_optnumber(L, 2, wk__analysis(L)->now);
    time_t secs = (time_t)floor(t);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        return luaL_error(L, "os.date: time out of range");
    if (strlen(fmt) > 1024) /* each conversion is C work no hook sees */
        return luaL_error(L, "os.date: format longer than 1024 bytes");
    if (*fmt == '!')
        fmt++;
    if (strcmp(fmt, "*t") == 0) {
        push_date_table(L, &tm);
        return 1;
    }
    luaL_Buffer buf;
    luaL_buffinit(L, &buf);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            luaL_addchar(&buf, *fmt);
            continue;
        }
        char spec[3] = {'%', *++fmt, '\0'}, out[64];
        if (!*fmt || !strchr("aAbBcCdDeFgGhHIjmMnprRStTuUVwWxXyYzZ%", *fmt))
            return luaL_error(L, "os.date: invalid conversion specifier '%s'", spec);
        luaL_addlstring(&buf, out, strftime(out, sizeof out, spec, &tm));
    }
    luaL_pushresult(&buf);
    return 1;
}

/* ---- require: the SDK and analyzers/lib only ---------------------------------------------- */

static int is_lib_name(const char *name) {
    if (strncmp(name, "lib.", 4) != 0 || !name[4])
        return 0;
    for (const char *p = name + 4; *p; p++)
        if (!(*p == '_' || *p == '.' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return 0;
    return !strstr(name, "..") && name[strlen(name) - 1] != '.';
}

/* Finds analyzers/lib/x/y.lua for "lib.x.y" under the analyzer path; pushes its chunk. */
static int load_lib(lua_State *L, const char *name) {
    wk_analysis *a = wk__analysis(L);
    const char *const *roots;
    size_t nroots = wk__catalog_roots(a->engine, &roots);
    for (size_t i = 0; i < nroots; i++) {
        luaL_Buffer path;
        luaL_buffinit(L, &path);
        luaL_addstring(&path, roots[i]);
        luaL_addchar(&path, '/');
        for (const char *p = name; *p; p++)
            luaL_addchar(&path, *p == '.' ? '/' : *p);
        luaL_addstring(&path, ".lua");
        luaL_pushresult(&path);
        char hash[72];
        rt_diag diag = {0};
        int rc = wk__catalog_load(a->engine, L, lua_tostring(L, -1), hash, &diag);
        if (rc == RT_OK) {
            rt_diag_free(&diag);
            return 1;
        }
        lua_pop(L, 1);
        if (rc != RT_ENOTFOUND) {
            const char *why =
                json_string_value(json_object_get(json_array_get(diag.items, 0), "message"));
            lua_pushfstring(L, "require '%s': %s", name, why ? why : rt_strerror(rc));
            rt_diag_free(&diag);
            return lua_error(L);
        }
        rt_diag_free(&diag);
    }
    return luaL_error(L, "module '%s' not found in lib/ of the analyzer path", name);
}

static int sb_require(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, 2, name) != LUA_TNIL) {
        if (lua_toboolean(L, -1) == 0)
            return luaL_error(L, "require '%s': circular require", name);
        return 1;
    }
    lua_pop(L, 1);
    wk__push_library(L, name);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    if (strcmp(name, "inquest") == 0)
        lua_pushcfunction(L, sdk_open);
    else if (strncmp(name, "inquest.", 8) == 0 && sdk_submodule(name + 8))
        lua_pushcfunction(L, sdk_submodule(name + 8));
    else if (is_lib_name(name))
        load_lib(L, name);
    else
        return luaL_error(L,
                          "module '%s' not found: analyzers may require \"inquest\" and "
                          "modules of analyzers/lib (\"lib.name\") only",
                          name);
    lua_pushboolean(L, 0); /* marks the module as loading */
    lua_setfield(L, 2, name);
    lua_pushstring(L, name);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_pushnil(L); /* a later require tries again */
        lua_setfield(L, 2, name);
        return lua_error(L);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
    return 1;
}

/* ---- The environment ---------------------------------------------------------------------- *
 * Opening Lua's libraries costs more than the rest of a small analysis, and most analyzers use
 * few of them. So the base library is opened eagerly and the others when first touched: a
 * global that is missing asks the globals' metatable, which opens the library of that name;
 * a method call on a string asks the string metatable, which opens the string library. */

static const char *const removed_globals[] = {"dofile", "loadfile", "warn", NULL};

static const luaL_Reg replaced_globals[] = {
    {"setmetatable", sb_setmetatable},
    {"xpcall", sb_xpcall},
    {"collectgarbage", sb_collectgarbage},
    {"print", sb_print},
    {"require", sb_require},
    {NULL, NULL},
};

static const luaL_Reg os_functions[] = {{"time", sb_os_time}, {"date", sb_os_date}, {NULL, NULL}};

/* Pushes a metatable that cannot be read or replaced from Lua, with 'index' as __index. */
static void push_locked_metatable(lua_State *L, lua_CFunction index) {
    lua_createtable(L, 0, 2);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushcfunction(L, index);
    lua_setfield(L, -2, "__index");
}

/* ---- Library functions whose work memory does not bound ----------------------------------
 * Most of Lua's library does work in proportion to the memory it allocates, which the memory
 * budget bounds. These do not: they loop in C without allocating, where no hook runs. */

/* string.rep of an empty string (and separator) loops n times to produce nothing. */
static int sb_string_rep(lua_State *L) {
    size_t len, seplen = 0;
    luaL_checklstring(L, 1, &len);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &seplen);
    if (len + seplen == 0 || n <= 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    return call_wrapped(L, 1);
}

/* table.move copies e - f + 1 elements, present or not. */
static int sb_table_move(lua_State *L) {
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    if (e >= f)
        charge(L, (lua_Unsigned)e - (lua_Unsigned)f + 1);
    return call_wrapped(L, 1);
}

/* table.insert, remove, concat and sort loop in C over a length or over elements that __len and
 * __index supply: a __len of 2^62 makes a loop no budget sees. They take plain tables here.
 * Upvalues: the original function, its name. */
static int sb_table_plain(lua_State *L) {
    static const char *const fields[] = {"__index", "__newindex", "__len"};
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getmetatable(L, 1)) {
        for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
            lua_pushstring(L, fields[i]);
            if (lua_rawget(L, -2) != LUA_TNIL)
                return luaL_error(L,
                                  "table.%s: tables with an %s metamethod are not supported "
                                  "in analyzers",
                                  lua_tostring(L, lua_upvalueindex(2)), fields[i]);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    return call_wrapped(L, LUA_MULTRET);
}

/* Replaces field 'name' of the table on top with 'fn', which gets the original (and with
 * 'named', the name) as upvalues. */
static void wrap_function(lua_State *L, const char *name, lua_CFunction fn, int named) {
    lua_getfield(L, -1, name);
    if (named)
        lua_pushstring(L, name);
    lua_pushcclosure(L, fn, 1 + named);
    lua_setfield(L, -2, name);
}

static int open_table(lua_State *L) {
    luaopen_table(L);
    wrap_function(L, "move", sb_table_move, 0);
    for (const char *const *f = (const char *const[]){"insert", "remove", "concat", "sort", NULL};
         *f; f++)
        wrap_function(L, *f, sb_table_plain, 1);
    return 1;
}

/* ---- Coroutines ----------------------------------------------------------------------------
 * A new coroutine counts instructions from zero: one that runs fewer than the hook's period is
 * never charged, so creating one is charged that period. A coroutine that the budget ended
 * died inside the hook, where Lua turns hooks off; closing it would run its __close handlers
 * with hooks still off, so after a trip nothing is closed.
 * Preemption. The count hook preempts a coroutine the analyzer made as it preempts a task
 * (wk__preempt): the coroutine yields, and the resume that ran it (resume_into) yields its own
 * thread in turn, with a continuation, and so on up to the task's thread, which the scheduler
 * takes off the CPU (wk_io.c). Resuming the task runs the continuations, each resuming the
 * coroutine below it, down to where the hook stopped: the analyzer's coroutine.resume returns
 * only what the coroutine returns or yields. Each resume records itself in a->resumes while it
 * runs, so that the hook finds the way up and checks that every thread on it may yield there
 * (wk__coroutine_task). Meanwhile the coroutines on the way are held (a->held): another task
 * that resumed or closed one would take it from under the resume it is in, which is refused as
 * Lua refuses it for a coroutine that resumes another ("normal"). */

static int sb_coroutine_create(lua_State *L) {
    charge(L, HOOK_EVERY);
    return call_wrapped(L, 1);
}

static void check_not_tripped(lua_State *L) {
    wk_budget *b = &wk__analysis(L)->budget;
    if (b->tripped)
        luaL_error(L, "%s", trip_messages[b->tripped]);
}

/* A task's thread is resumed by the scheduler only (wk_io.c): resumed from Lua, a task waiting
 * for I/O would run its binding's continuation without the answer, and one the count hook
 * preempted would run on outside its turn; closed, either would lose what it waits for. */
static void check_not_task(lua_State *L, const char *what) {
    lua_State *co = lua_tothread(L, 1);
    if (co && co != L && wk__is_task(co)) /* itself, it answers as Lua does */
        luaL_error(L,
                   "coroutine.%s: run's thread and the functions of ctx:parallel belong to the "
                   "engine, not to the analyzer",
                   what);
}

static int held_at(const wk_analysis *a, const lua_State *co) {
    for (int i = 0; i < a->n_held; i++)
        if (a->held[i] == co)
            return i;
    return -1;
}

/* Lets the resume that 'co' was preempted in go on with it. */
static void release(wk_analysis *a, lua_State *co) {
    int i = held_at(a, co);
    if (i >= 0)
        a->held[i] = a->held[--a->n_held];
}

lua_State *wk__coroutine_task(lua_State *co) {
    wk_analysis *a = wk__analysis(co);
    int i = a->n_resumes - 1, levels = 0;
    if (i >= WK_RESUMES_MAX)
        return NULL;
    for (lua_State *at = co; i >= 0; i--, levels++) {
        if (a->resumes[i].co != at)
            return NULL;
        at = a->resumes[i].from;
        if (!lua_isyieldable(at)) /* its resume was called where it cannot yield: a C call */
            return NULL;
        if (wk__is_task(at))
            return a->n_held + levels + 1 <= WK_HELD_MAX ? at : NULL;
    }
    return NULL; /* not under a task: while the definition loads */
}

enum { RESUME_ERROR = -1, RESUME_PREEMPTED = -2 };

/* Resumes 'co' with 'narg' values from L; moves its results (returns their count) or its error
 * (returns RESUME_ERROR) to L. RESUME_PREEMPTED: the count hook preempted it, nothing moved, and
 * L must yield too (passing the preemption up) and resume it again from its continuation. */
static int resume_into(lua_State *L, lua_State *co, int narg) {
    wk_analysis *a = wk__analysis(L);
    if (held_at(a, co) >= 0) {
        lua_pushliteral(L, "cannot resume non-suspended coroutine");
        return RESUME_ERROR;
    }
    if (lua_status(co) == LUA_OK && lua_gettop(co) == 0) {
        lua_pushliteral(L, "cannot resume dead coroutine");
        return RESUME_ERROR;
    }
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return RESUME_ERROR;
    }
    lua_xmove(L, co, narg);
    if (a->n_resumes < WK_RESUMES_MAX) {
        a->resumes[a->n_resumes].from = L;
        a->resumes[a->n_resumes].co = co;
    }
    a->n_resumes++;
    int nres, status = lua_resume(co, L, narg, &nres);
    a->n_resumes--;
    if (status == LUA_YIELD && a->preempting) {
        a->held[a->n_held++] = co; /* wk__coroutine_task made room */
        if (wk__is_task(L))
            a->preempting = 0; /* it arrives: the task yields, and the scheduler has it */
        return RESUME_PREEMPTED;
    }
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_xmove(co, L, 1);
        return RESUME_ERROR;
    }
    if (!lua_checkstack(L, nres + 1)) {
        lua_pop(co, nres);
        lua_pushliteral(L, "too many results to resume");
        return RESUME_ERROR;
    }
    lua_xmove(co, L, nres);
    return nres;
}

/* What coroutine.resume returns after resume_into gave 'n'. */
static int resumed(lua_State *L, int n) {
    lua_pushboolean(L, n >= 0);
    if (n < 0) {
        lua_insert(L, -2); /* false, the error */
        return 2;
    }
    lua_insert(L, -(n + 1)); /* true, the results */
    return n + 1;
}

/* What the function coroutine.wrap returns gives after resume_into gave 'n' for 'co'. */
static int wrapped_results(lua_State *L, lua_State *co, int n) {
    if (n >= 0)
        return n;
    int status = lua_status(co);
    if (status != LUA_OK && status != LUA_YIELD) { /* the coroutine died: close it, as Lua does */
        check_not_tripped(L);
        lua_resetthread(co);
        if (lua_type(L, -1) == LUA_TSTRING) { /* say where the wrapped call was */
            luaL_where(L, 1);
            lua_insert(L, -2);
            lua_concat(L, 2);
        }
    }
    return lua_error(L);
}

static int resume_again(lua_State *L, int status, lua_KContext wrapped);

/* Resumes 'co' for coroutine.resume, or for coroutine.wrap's function when 'wrapped', and
 * returns what that returns; preempted, L yields too and resume_again goes on. */
static int resume_step(lua_State *L, lua_State *co, int narg, lua_KContext wrapped) {
    int n = resume_into(L, co, narg);
    if (n == RESUME_PREEMPTED)
        return lua_yieldk(L, 0, wrapped, resume_again);
    return wrapped ? wrapped_results(L, co, n) : resumed(L, n);
}

/* The continuation after a preemption: resumes the coroutine again, coroutine.resume's (index
 * 1) or the wrapped function's (its upvalue). */
static int resume_again(lua_State *L, int status, lua_KContext wrapped) {
    (void)status;
    lua_State *co = lua_tothread(L, wrapped ? lua_upvalueindex(1) : 1);
    release(wk__analysis(L), co);
    return resume_step(L, co, 0, wrapped);
}

/* coroutine.resume as Lua's own, but for a task's thread. */
static int sb_coroutine_resume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    check_not_task(L, "resume");
    return resume_step(L, co, lua_gettop(L) - 1, 0);
}

/* The function coroutine.wrap returns. Upvalue: the coroutine. */
static int wrapped_coroutine(lua_State *L) {
    return resume_step(L, lua_tothread(L, lua_upvalueindex(1)), lua_gettop(L), 1);
}

static int sb_coroutine_wrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    charge(L, HOOK_EVERY);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, wrapped_coroutine, 1);
    return 1;
}

static int sb_coroutine_close(lua_State *L) {
    check_not_tripped(L);
    check_not_task(L, "close");
    lua_State *co = lua_tothread(L, 1);
    if (co && held_at(wk__analysis(L), co) >= 0)
        return luaL_error(L, "cannot close a normal coroutine");
    return call_wrapped(L, LUA_MULTRET);
}

/* coroutine.status as Lua's own, but "normal" for a coroutine held by a preemption: it is in a
 * resume, as one that resumes another is. */
static int sb_coroutine_status(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    if (co && held_at(wk__analysis(L), co) >= 0) {
        lua_pushliteral(L, "normal");
        return 1;
    }
    return call_wrapped(L, 1);
}

/* In a task's own thread a yield would reach the scheduler (wk_io.c), which resumes only tasks
 * that wait for I/O: there it is what plain Lua says of a yield outside any coroutine. */
static int sb_coroutine_yield(lua_State *L) {
    if (wk__is_task(L))
        return luaL_error(L, "attempt to yield from outside a coroutine");
    return lua_yield(L, lua_gettop(L));
}

static int open_coroutine(lua_State *L) {
    luaopen_coroutine(L);
    lua_pushcfunction(L, sb_coroutine_yield);
    lua_setfield(L, -2, "yield");
    wrap_function(L, "create", sb_coroutine_create, 0);
    wrap_function(L, "close", sb_coroutine_close, 0);
    wrap_function(L, "status", sb_coroutine_status, 0);
    lua_pushcfunction(L, sb_coroutine_resume);
    lua_setfield(L, -2, "resume");
    lua_pushcfunction(L, sb_coroutine_wrap);
    lua_setfield(L, -2, "wrap");
    return 1;
}

static int open_string(lua_State *L) {
    luaopen_string(L);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    wrap_function(L, "rep", sb_string_rep, 0);
    wk_pattern_install(L, lua_gettop(L), charge_pattern, &wk__analysis(L)->budget);
    lua_pushliteral(L, ""); /* luaopen_string gave strings a new metatable: lock it */
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    return 1;
}

/* math.random gives the same sequence for the same analysis id: the seed it starts from, and
 * the seed of math.randomseed() without arguments, which Lua would take from the clock. */
static lua_Integer id_seed(lua_State *L) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a of the id */
    for (const char *p = wk__analysis(L)->id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (lua_Integer)(h >> 1);
}

static int sb_randomseed(lua_State *L) {
    if (lua_isnone(L, 1))
        lua_pushinteger(L, id_seed(L));
    return call_wrapped(L, 0);
}

static int open_math(lua_State *L) {
    luaopen_math(L);
    wrap_function(L, "randomseed", sb_randomseed, 0);
    lua_getfield(L, -1, "randomseed");
    lua_call(L, 0, 0);
    return 1;
}

static const luaL_Reg lazy_libs[] = {
    {LUA_STRLIBNAME, open_string},   {LUA_TABLIBNAME, open_table},    {LUA_MATHLIBNAME, open_math},
    {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_COLIBNAME, open_coroutine}, {NULL, NULL},
};

void wk__push_library(lua_State *L, const char *name) {
    for (const luaL_Reg *lib = lazy_libs; lib->name; lib++) {
        if (strcmp(lib->name, name) == 0) {
            luaL_requiref(L, lib->name, lib->func, 1);
            return;
        }
    }
    lua_pushnil(L);
}

/* __index of the globals: (_G, key). */
static int lazy_global(lua_State *L) {
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    wk__push_library(L, lua_tostring(L, 2));
    return 1;
}

/* __index of strings until the string library is open: (s, key). */
static int lazy_string_method(lua_State *L) {
    wk__push_library(L, LUA_STRLIBNAME);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int setup(lua_State *L) {
    /* Globals sized for the base library and the lazy ones at once, instead of grown by
     * rehashing six times while they are registered. */
    lua_createtable(L, 0, 48);
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_createtable(L, 0, 8); /* the loaded modules likewise */
    lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    for (const char *const *name = removed_globals; *name; name++) {
        lua_pushnil(L);
        lua_setfield(L, -2, *name);
    }
    luaL_setfuncs(L, replaced_globals, 0);
    lua_getfield(L, -1, "load");
    lua_pushcclosure(L, sb_load, 1);
    lua_setfield(L, -2, "load");
    luaL_newlib(L, os_functions);
    lua_setfield(L, -2, "os");
    push_locked_metatable(L, lazy_global);
    lua_setmetatable(L, -2);
    lua_pushliteral(L, "");
    push_locked_metatable(L, lazy_string_method);
    lua_setmetatable(L, -2);
    /* What nearly every analysis asks for first, made here so that images hold it. */
    lua_settop(L, 0);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "inquest");
    lua_call(L, 1, 0);
    wk__ctx_prepare(L);
    return 0;
}

/* ---- Images --------------------------------------------------------------------------------
 * Every analysis gets a fresh state, and building one (Lua's own tables, the base library, the
 * inquest module, the ctx methods) costs more than the rest of a small analysis. So a state is
 * built at a fixed address, a slot's region, and the bytes of the fresh state are kept: the
 * next state of that slot is a copy of them, identical to a state built anew, since a state
 * holds no pointers but into its own memory, to the program's functions and to the analysis
 * (the allocator's and the extra space's, set again). A second image of the slot has the chunk
 * of the analyzer it ran last loaded too, which is most of the rest of a state's making. An
 * image holds nothing an analysis made: it is taken before any analyzer code runs, and with no
 * library open whose state depends on the analysis (math seeds its generator from the analysis
 * id, string counts pattern steps against its budget). */

/* Registry key of the analyzer's chunk that wk__sandbox_open loaded (wk__sandbox_take_chunk). */
static const char chunk_key = 'c';

/* Whether the state opened nothing but the globals and the inquest module. */
static int only_prelude_loaded(lua_State *L) {
    int n = 0;
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        n++;
    }
    lua_pop(L, 1);
    return n == 2;
}

/* Keeps the state of 'a' as it is in 'image'; fails when part of it lies outside the region. */
static int image_save(wk_analysis *a, wk_image *image) {
    if (wk__heap_save(&a->heap, image) != 0)
        return -1;
    image->L = a->L;
    image->memory_used = a->budget.memory_used;
    image->memory_peak = a->budget.memory_peak;
    return 0;
}

/* 'image' as the state of 'a', unless the budget is too small for it. */
static int image_restore(wk_analysis *a, const wk_image *image) {
    wk_budget *b = &a->budget;
    wk_shared *s = b->shared;
    if (s->memory_used + s->memory_outside + image->memory_peak > s->limits.memory)
        return -1; /* building it would have failed */
    wk__heap_restore(&a->heap, image);
    a->L = image->L;
    *(wk_analysis **)lua_getextraspace(a->L) = a;
    lua_setallocf(a->L, budget_alloc, a);
    b->memory_used = image->memory_used;
    b->memory_peak = image->memory_peak;
    s->memory_used += image->memory_used;
    b->gc_stopped = 1;
    return 0;
}

static int open_fresh(wk_analysis *a) {
    wk_budget *b = &a->budget;
    if (a->slot)
        wk__heap_enter(&a->heap, a->slot);
    lua_State *L = lua_newstate(budget_alloc, a);
    if (!L)
        return RT_ENOMEM;
    *(wk_analysis **)lua_getextraspace(L) = a;
    a->L = L;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
    /* Stopped until the hook sees the state grow; an allocation over the budget still makes Lua
     * collect at once (its emergency collection runs whether or not the collector is stopped). */
    lua_gc(L, LUA_GCSTOP);
    b->gc_stopped = 1;
    lua_pushcfunction(L, setup);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK)
        return RT_ENOMEM; /* setup only allocates */
    if (a->heap.building) {
        if (!only_prelude_loaded(L))
            a->heap.escaped = 1; /* no longer only a fresh state: no image of it */
        if (image_save(a, &a->slot->fresh) != 0 && !a->heap.refused)
            a->engine->no_images = 1; /* every fresh state is the same: none would fit */
    }
    return RT_OK;
}

static int load_chunk(lua_State *L) {
    if (wk__catalog_push(L, lua_touserdata(L, 1)) != LUA_OK)
        return lua_error(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &chunk_key);
    return 0;
}

/* Loads the chunk of analyzer 'c' (not run: that is the analysis' own work) into the fresh state
 * of 'a', and keeps the state as the slot's second image, for the slot's next analyses of 'c'.
 * When memory fails, nothing is loaded and load_definition loads the chunk and says so. */
static void preload(wk_analysis *a, const wk_compiled *c) {
    wk_slot *slot = a->slot;
    wk_budget before = a->budget;
    a->heap.building = 1;
    lua_pushcfunction(a->L, load_chunk);
    lua_pushlightuserdata(a->L, (void *)c);
    if (lua_pcall(a->L, 1, 0, 0) != LUA_OK) {
        lua_pop(a->L, 1);
        a->heap.building = 0;
        a->budget.tripped = before.tripped; /* the budget trips where the analysis loads it */
        a->budget.alloc_failed = before.alloc_failed;
        return;
    }
    memcpy(a->chunk_hash, c->hash, sizeof a->chunk_hash);
    if (image_save(a, &slot->loaded) != 0)
        return; /* it did not fit: the image of the analyzer before stays */
    free(slot->loaded_path);
    slot->loaded_path = rt_xstrdup(c->path);
    memcpy(slot->loaded_hash, c->hash, sizeof slot->loaded_hash);
}

static int is_loaded(const wk_slot *slot, const wk_compiled *c) {
    return slot->loaded_path && strcmp(slot->loaded_path, c->path) == 0 &&
           strcmp(slot->loaded_hash, c->hash) == 0;
}

int wk__sandbox_open(wk_analysis *a) {
    a->heap.engine = a->engine;
    a->heap.cap = 2 * a->budget.shared->limits.memory + 4 * TRIPPED_SLACK;
    wk_slot *slot = a->slot = wk__slot_take(a->engine);
    /* With a slot, the analyzer's chunk comes with the state: loaded the same way each time, so
     * that the analysis' memory figures are the same each time too. */
    const wk_compiled *c = slot && a->path ? wk__catalog_compiled(a->engine, a->path) : NULL;
    if (c && is_loaded(slot, c) && image_restore(a, &slot->loaded) == 0) {
        memcpy(a->chunk_hash, slot->loaded_hash, sizeof a->chunk_hash);
        return RT_OK;
    }
    if (slot && slot->fresh.bytes && image_restore(a, &slot->fresh) != 0) {
        wk__slot_give(a->engine, slot); /* a budget too small for the image: a state of its own */
        a->slot = slot = NULL;
    }
    if (!a->L) {
        int rc = open_fresh(a);
        if (rc != RT_OK) {
            if (!a->L)
                wk__sandbox_close(a);
            return rc;
        }
    }
    if (c && slot && slot->fresh.bytes)
        preload(a, c);
    return RT_OK;
}

int wk__sandbox_take_chunk(wk_analysis *a, char *hash) {
    lua_State *L = a->L;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &chunk_key) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &chunk_key);
    memcpy(hash, a->chunk_hash, sizeof a->chunk_hash);
    return 1;
}

/* The state is dropped, not closed: its memory goes back with its heap, whole, instead of block
 * by block as lua_close frees it, which took a tenth of a small analysis' instructions. No
 * finalizer runs: those of the SDK free what it holds outside the state (sdk_release_outside);
 * analyzers may set none (sb_setmetatable). */
void wk__sandbox_close(wk_analysis *a) {
    wk_budget *b = &a->budget;
    if (a->L)
        sdk_release_outside(a->L);
    a->L = NULL;
    b->shared->memory_used -= b->memory_used;
    b->memory_used = 0;
    wk__heap_release(&a->heap);
    if (a->slot)
        wk__slot_give(a->engine, a->slot);
    a->slot = NULL;
}
