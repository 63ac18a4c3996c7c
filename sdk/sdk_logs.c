/* sdk/sdk_logs.c -- the Lua module inquest.logs (docs/sdk.md "Log patterns"): the patterns of a
 * list of log entries, a miner fed line by line, and what changed between a baseline and an
 * incident; a thin binding over sdk_logpattern.c, which does the work.
 *
 * Design notes
 * - Arguments and options are checked before anything is made; errors name the function and
 *   the argument ("inquest.logs.compare: incident[3] must be a string or a log entry").
 * - A miner is a userdata whose C state comes from the state's allocator, so the analysis'
 *   memory budget counts it; its __gc gives it back (the sandbox refuses __gc only to analyzer
 *   code). When the allocator refuses, the miner collects garbage and tries once more, as Lua
 *   does, and raises when it still fails.
 * - The work in C (masking every line, building, pushing results) is charged to the instruction
 *   budget through sdk_charge: a loop over lines cannot outrun it.
 * - Pattern and change lists are plain lists with a metatable: :evidence(title) and
 *   __evidence make the log_patterns evidence item of a finding from them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "rt.h"
#include "sdk_budget.h"
#include "sdk_logpattern.h"

#define MINER "inquest.logs.miner"
#define LIST  "inquest.logs.list"

#define LINE_UNITS(len) (8 + (len) / 4) /* about the VM instructions' worth of masking a line */
#define ITEM_UNITS      64              /* of building and pushing one pattern */
#define EVIDENCE_ITEMS  100             /* a log_patterns item's cap (docs/sdk.md) */

typedef struct miner {
    sdk_lp *lp;
    lua_State *L; /* the thread of the call in progress: the allocator collects through it */
    lua_Alloc alloc;
    void *alloc_ud;
    size_t carry; /* work not yet charged */
} miner;

/* ---- Options ------------------------------------------------------------------------------ */

typedef struct options {
    sdk_lp_config config;
    sdk_lp_thresholds thresholds;
    double window[SDK_LP_SLOTS]; /* seconds; NaN: from the entries' times */
    int all;
} options;

enum { OPT_MINER = 1, OPT_COMPARE = 2 };

static const struct option {
    const char *name;
    int where; /* OPT_* */
} known_options[] = {
    {"similarity", OPT_MINER | OPT_COMPARE},
    {"split_max", OPT_MINER | OPT_COMPARE},
    {"max_shapes", OPT_MINER | OPT_COMPARE},
    {"max_line", OPT_MINER | OPT_COMPARE},
    {"baseline_window", OPT_COMPARE},
    {"incident_window", OPT_COMPARE},
    {"alpha", OPT_COMPARE},
    {"min_ratio", OPT_COMPARE},
    {"min_count", OPT_COMPARE},
    {"all", OPT_COMPARE},
    {NULL, 0},
};

/* Raises unless every key of the options table at 'idx' is an option of 'where'. */
static void check_option_names(lua_State *L, int idx, const char *fn, int where) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        const struct option *o = known_options;
        while (o->name && !(key && (o->where & where) && strcmp(o->name, key) == 0))
            o++;
        if (o->name)
            continue;
        luaL_Buffer b; /* "similarity, split_max, …": the options of 'where' */
        luaL_buffinit(L, &b);
        for (o = known_options; o->name; o++)
            if (o->where & where) {
                luaL_addstring(&b, o == known_options ? "" : ", ");
                luaL_addstring(&b, o->name);
            }
        luaL_pushresult(&b);
        luaL_error(L, "%s: unknown option '%s' (options: %s)", fn, key ? key : luaL_typename(L, -2),
                   lua_tostring(L, -1));
    }
}

/* The number option 'name' of the table at 'idx' within [lo, hi] ('whole': an integer), or
 * 'def' when absent. */
static double number_option(lua_State *L, int idx, const char *fn, const char *name, double lo,
                            double hi, int whole, double def) {
    int type = lua_getfield(L, idx, name);
    double x = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (type == LUA_TNIL)
        return def;
    if (type != LUA_TNUMBER || !(x >= lo && x <= hi) || (whole && x != floor(x))) {
        char range[64]; /* lua_pushfstring has no %g */
        snprintf(range, sizeof range, "from %g to %g", lo, hi);
        luaL_error(L, "%s: %s must be %s %s", fn, name, whole ? "a whole number" : "a number",
                   range);
    }
    return x;
}

/* Reads the options table at 'idx' (absent or nil: the defaults) for 'where'. */
static void read_options(lua_State *L, int idx, const char *fn, int where, options *o) {
    o->config = sdk_lp_defaults;
    o->thresholds = sdk_lp_default_thresholds;
    o->window[0] = o->window[1] = NAN;
    o->all = 0;
    if (lua_isnoneornil(L, idx))
        return;
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: options must be a table (got %s)", fn, luaL_typename(L, idx));
    check_option_names(L, idx, fn, where);
    sdk_lp_config *c = &o->config;
    c->similarity = number_option(L, idx, fn, "similarity", 0.01, 1, 0, c->similarity);
    c->split_max = (unsigned)number_option(L, idx, fn, "split_max", 1, 64, 1, c->split_max);
    c->max_shapes = (size_t)number_option(L, idx, fn, "max_shapes", 1, 1e7, 1, c->max_shapes);
    c->max_line = (size_t)number_option(L, idx, fn, "max_line", 16, 1 << 20, 1, c->max_line);
    if (!(where & OPT_COMPARE))
        return;
    sdk_lp_thresholds *t = &o->thresholds;
    o->window[0] = number_option(L, idx, fn, "baseline_window", 1e-3, 1e9, 0, NAN);
    o->window[1] = number_option(L, idx, fn, "incident_window", 1e-3, 1e9, 0, NAN);
    t->alpha = number_option(L, idx, fn, "alpha", 0, 1, 0, t->alpha);
    t->min_ratio = number_option(L, idx, fn, "min_ratio", 1, 1e9, 0, t->min_ratio);
    t->min_count =
        (uint64_t)number_option(L, idx, fn, "min_count", 1, 1e15, 1, (double)t->min_count);
    int type = lua_getfield(L, idx, "all");
    if (type != LUA_TNIL && type != LUA_TBOOLEAN)
        luaL_error(L, "%s: all must be a boolean (got %s)", fn, luaL_typename(L, -1));
    o->all = lua_toboolean(L, -1);
    lua_pop(L, 1);
}

/* ---- Entries ------------------------------------------------------------------------------ */

/* Raises unless the value at 'idx' is a list. */
static void check_list(lua_State *L, int idx, const char *fn, const char *what) {
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: %s must be a list of log entries or strings (got %s)", fn, what,
                   luaL_typename(L, idx));
}

/* The line of the entry at 'idx': a string, or a table whose 'line' is one (a log entry as
 * ctx.logs gives them), and its 'time' (NaN without). Pushes nothing that stays; the line stays
 * alive as long as the entry. 'what' and 'i' name the entry in errors (i 0: no index). */
static const char *entry_line(lua_State *L, int idx, size_t *len, double *time, const char *fn,
                              const char *what, lua_Integer i) {
    *time = NAN;
    *len = 0;
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING)
        return lua_tolstring(L, idx, len);
    const char *line = NULL;
    if (lua_istable(L, idx)) {
        lua_pushliteral(L, "line");
        if (lua_rawget(L, idx) == LUA_TSTRING)
            line = lua_tolstring(L, -1, len);
        lua_pushliteral(L, "time");
        if (lua_rawget(L, idx) == LUA_TNUMBER)
            *time = (double)lua_tonumber(L, -1);
        lua_pop(L, 2);
    }
    if (!line && i)
        luaL_error(L, "%s: %s[%I] must be a string or a log entry { line = \"…\" } (got %s)", fn,
                   what, i, luaL_typename(L, idx));
    if (!line)
        luaL_error(L, "%s: %s must be a string or a log entry { line = \"…\" } (got %s)", fn, what,
                   luaL_typename(L, idx));
    return line;
}

/* ---- The miner ---------------------------------------------------------------------------- */

/* The state's allocator, with one collection and one more try when it refuses. */
static void *miner_alloc(void *ud, void *p, size_t osize, size_t nsize) {
    miner *mn = ud;
    void *q = mn->alloc(mn->alloc_ud, p, osize, nsize);
    if (!q && nsize > 0 && mn->L) {
        lua_gc(mn->L, LUA_GCCOLLECT);
        q = mn->alloc(mn->alloc_ud, p, osize, nsize);
    }
    return q;
}

static int miner_gc(lua_State *L) {
    miner *mn = luaL_checkudata(L, 1, MINER);
    mn->L = NULL; /* giving back never collects */
    sdk_lp_free(mn->lp);
    mn->lp = NULL;
    return 0;
}

static void push_miner_meta(lua_State *L);

/* Pushes a new miner with 'config'. */
static miner *new_miner(lua_State *L, const sdk_lp_config *config, const char *fn) {
    miner *mn = lua_newuserdatauv(L, sizeof *mn, 0);
    memset(mn, 0, sizeof *mn);
    push_miner_meta(L);
    lua_setmetatable(L, -2);
    mn->alloc = lua_getallocf(L, &mn->alloc_ud);
    mn->L = L;
    mn->lp = sdk_lp_new(config, miner_alloc, mn);
    if (!mn->lp)
        luaL_error(L, "%s: not enough memory", fn);
    return mn;
}

/* The miner a method is called on, ready for a call from 'L'. */
static miner *self(lua_State *L, const char *fn) {
    miner *mn = luaL_testudata(L, 1, MINER);
    if (!mn)
        luaL_error(L, "%s: call it on a miner, as m:%s(…) (got %s)", fn, strchr(fn, ':') + 1,
                   luaL_typename(L, 1));
    else if (!mn->lp)
        luaL_error(L, "%s: the miner is closed", fn);
    else
        mn->L = L;
    return mn;
}

/* Mines one line into 'slot', charging its work. */
static void add_line(lua_State *L, miner *mn, const char *line, size_t len, double time,
                     unsigned slot, const char *fn) {
    sdk_charge(L, &mn->carry, LINE_UNITS(len));
    if (sdk_lp_add(mn->lp, line, len, slot, time) == RT_ENOMEM)
        luaL_error(L, "%s: not enough memory", fn);
}

/* Mines every entry of the list at 'idx' into 'slot'; returns the earliest and latest times in
 * 'span' (NaN without). */
static void add_list(lua_State *L, miner *mn, int idx, unsigned slot, const char *fn,
                     const char *what, double span[2]) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    span[0] = span[1] = NAN;
    for (lua_Integer i = 1; i <= n; i++) {
        size_t len;
        double t;
        lua_rawgeti(L, idx, i);
        const char *line = entry_line(L, -1, &len, &t, fn, what, i);
        add_line(L, mn, line, len, t, slot, fn);
        lua_pop(L, 1);
        if (!isnan(t)) {
            span[0] = isnan(span[0]) || t < span[0] ? t : span[0];
            span[1] = isnan(span[1]) || t > span[1] ? t : span[1];
        }
    }
}

static void build(lua_State *L, miner *mn, const char *fn) {
    sdk_charge(L, &mn->carry, LINE_UNITS(0) * sdk_lp_shapes(mn->lp));
    if (sdk_lp_build(mn->lp) < 0)
        luaL_error(L, "%s: not enough memory", fn);
}

/* ---- Lists --------------------------------------------------------------------------------- */

static void set_string(lua_State *L, const char *key, const char *s, size_t len) {
    if (!s)
        return;
    lua_pushlstring(L, s, len);
    lua_setfield(L, -2, key);
}

static void set_number(lua_State *L, const char *key, double x) {
    if (isnan(x))
        return;
    lua_pushnumber(L, x);
    lua_setfield(L, -2, key);
}

static void set_integer(lua_State *L, const char *key, uint64_t x) {
    lua_pushinteger(L, x > (uint64_t)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)x);
    lua_setfield(L, -2, key);
}

/* Sets 'key' to the list of the samples of 'p' in 'slot', and 'one' to the first. */
static void set_samples(lua_State *L, const sdk_lp_pattern *p, unsigned slot, const char *key,
                        const char *one) {
    int n = 0;
    while (n < SDK_LP_SAMPLES && p->sample[slot][n])
        n++;
    if (!n)
        return;
    set_string(L, one, p->sample[slot][0], p->sample_len[slot][0]);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushlstring(L, p->sample[slot][i], p->sample_len[slot][i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, key);
}

/* Pushes the pattern 'p' as Lua sees it: { pattern, count, sample, samples, first, last }. */
static void push_pattern(lua_State *L, const sdk_lp_pattern *p) {
    lua_createtable(L, 0, 6);
    set_string(L, "pattern", p->text, p->len);
    set_integer(L, "count", p->count[0]);
    set_samples(L, p, 0, "samples", "sample");
    set_number(L, "first", p->first[0]);
    set_number(L, "last", p->last[0]);
}

static void push_list_meta(lua_State *L);

typedef struct ranked {
    double key; /* lower first */
    uint64_t count;
    size_t i;
} ranked;

static int by_rank(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Pushes a scratch array of 'n' ranks (a userdata: the budget counts it, an error frees it). */
static ranked *push_ranks(lua_State *L, size_t n) {
    return lua_newuserdatauv(L, (n ? n : 1) * sizeof(ranked), 0);
}

/* Pushes the built patterns of 'mn', the most frequent first (ties: in order of creation). */
static void push_patterns(lua_State *L, miner *mn) {
    size_t n = sdk_lp_count(mn->lp);
    sdk_charge(L, &mn->carry, ITEM_UNITS * n);
    ranked *r = push_ranks(L, n);
    for (size_t i = 0; i < n; i++)
        r[i] = (ranked){0, sdk_lp_get(mn->lp, i)->count[0], i};
    qsort(r, n, sizeof *r, by_rank);
    lua_createtable(L, n < INT32_MAX ? (int)n : 0, 2);
    for (size_t i = 0; i < n; i++) {
        push_pattern(L, sdk_lp_get(mn->lp, r[i].i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    set_integer(L, "lines", sdk_lp_lines(mn->lp));
    set_integer(L, "dropped", sdk_lp_dropped(mn->lp));
    push_list_meta(L);
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
}

/* ---- inquest.logs ---------------------------------------------------------------------------- */

/* inquest.logs.miner([options]): an empty miner. */
static int logs_miner(lua_State *L) {
    options o;
    read_options(L, 1, "inquest.logs.miner", OPT_MINER, &o);
    new_miner(L, &o.config, "inquest.logs.miner");
    return 1;
}

/* inquest.logs.patterns(entries [, options]): the patterns of a list of entries. */
static int logs_patterns(lua_State *L) {
    const char *fn = "inquest.logs.patterns";
    options o;
    double span[2];
    check_list(L, 1, fn, "entries");
    read_options(L, 2, fn, OPT_MINER, &o);
    miner *mn = new_miner(L, &o.config, fn);
    add_list(L, mn, 1, 0, fn, "entries", span);
    build(L, mn, fn);
    push_patterns(L, mn);
    return 1;
}

/* inquest.logs.mask(line): the line as mining sees it. */
static int logs_mask(lua_State *L) {
    size_t len;
    double t;
    const char *line = entry_line(L, 1, &len, &t, "inquest.logs.mask", "line", 0);
    if (len > ((size_t)1 << 24))
        return luaL_error(L, "inquest.logs.mask: line is longer than 16 MiB");
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 3 * len + 1);
    luaL_pushresultsize(&b, sdk_lp_mask(line, len, out));
    return 1;
}

/* The window of 'slot': the option, or the span of its entries' times (at least a minute). */
static double window_of(lua_State *L, const options *o, unsigned slot, const double span[2],
                        const char *fn) {
    static const char *const names[] = {"baseline", "incident"};
    if (!isnan(o->window[slot]))
        return o->window[slot];
    if (isnan(span[0]))
        luaL_error(L, "%s: %s_window is needed: the %s entries have no times", fn, names[slot],
                   names[slot]);
    return span[1] - span[0] > 60 ? span[1] - span[0] : 60;
}

/* Pushes one change: the pattern 'p' in both windows, compared as 'c' says. */
static void push_change(lua_State *L, const sdk_lp_pattern *p, const sdk_lp_change *c) {
    int down = c->status == SDK_LP_DECREASED || c->status == SDK_LP_GONE;
    lua_createtable(L, 0, 14);
    set_string(L, "pattern", p->text, p->len);
    lua_pushstring(L, sdk_lp_status_name(c->status));
    lua_setfield(L, -2, "status");
    set_integer(L, "count", p->count[1]);
    set_integer(L, "baseline_count", p->count[0]);
    set_number(L, "rate", c->rate);
    set_number(L, "baseline_rate", c->base_rate);
    set_number(L, "ratio", c->ratio);
    set_number(L, "p_value", down ? c->p_down : c->p_up);
    set_samples(L, p, 0, "baseline_samples", "baseline_sample");
    set_samples(L, p, 1, "samples", "sample");
    if (!p->sample[1][0])
        set_string(L, "sample", p->sample[0][0], p->sample_len[0][0]);
    set_number(L, "first", p->first[1]);
    set_number(L, "last", p->last[1]);
}

/* inquest.logs.compare(baseline, incident [, options]): the patterns that are new or rose in the
 * incident, the most significant first. */
static int logs_compare(lua_State *L) {
    const char *fn = "inquest.logs.compare";
    options o;
    double span[SDK_LP_SLOTS][2], window[SDK_LP_SLOTS];
    check_list(L, 1, fn, "baseline");
    check_list(L, 2, fn, "incident");
    read_options(L, 3, fn, OPT_COMPARE, &o);
    miner *mn = new_miner(L, &o.config, fn);
    add_list(L, mn, 1, 0, fn, "baseline", span[0]);
    add_list(L, mn, 2, 1, fn, "incident", span[1]);
    for (unsigned s = 0; s < SDK_LP_SLOTS; s++)
        window[s] = window_of(L, &o, s, span[s], fn);
    build(L, mn, fn);
    size_t n = sdk_lp_count(mn->lp), kept = 0;
    sdk_charge(L, &mn->carry, 2 * ITEM_UNITS * n);
    sdk_lp_change *c = lua_newuserdatauv(L, (n ? n : 1) * sizeof *c, 0);
    ranked *r = push_ranks(L, n);
    for (size_t i = 0; i < n; i++) {
        const sdk_lp_pattern *p = sdk_lp_get(mn->lp, i);
        sdk_lp_compare(p->count[0], window[0], p->count[1], window[1], &o.thresholds, &c[i]);
        int down = c[i].status == SDK_LP_DECREASED || c[i].status == SDK_LP_GONE;
        if (o.all || c[i].status == SDK_LP_NEW || c[i].status == SDK_LP_INCREASED)
            r[kept++] = (ranked){down ? c[i].p_down : c[i].p_up, p->count[1], i};
    }
    qsort(r, kept, sizeof *r, by_rank);
    lua_createtable(L, (int)(kept < INT32_MAX ? kept : 0), 6);
    for (size_t k = 0; k < kept; k++) {
        push_change(L, sdk_lp_get(mn->lp, r[k].i), &c[r[k].i]);
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    set_number(L, "baseline_window", window[0]);
    set_number(L, "incident_window", window[1]);
    set_integer(L, "baseline_lines", lua_rawlen(L, 1));
    set_integer(L, "incident_lines", lua_rawlen(L, 2));
    set_integer(L, "patterns", n);
    set_integer(L, "dropped", sdk_lp_dropped(mn->lp));
    push_list_meta(L);
    lua_setmetatable(L, -2);
    return 1;
}

/* ---- Miner methods ------------------------------------------------------------------------- */

/* m:add(entry): mines one line (a string or a log entry). */
static int miner_add(lua_State *L) {
    const char *fn = "miner:add";
    size_t len;
    double t;
    miner *mn = self(L, fn);
    const char *line = entry_line(L, 2, &len, &t, fn, "entry", 0);
    add_line(L, mn, line, len, t, 0, fn);
    return 0;
}

/* m:add_all(entries): mines every entry of a list. */
static int miner_add_all(lua_State *L) {
    const char *fn = "miner:add_all";
    double span[2];
    miner *mn = self(L, fn);
    check_list(L, 2, fn, "entries");
    add_list(L, mn, 2, 0, fn, "entries", span);
    return 0;
}

/* m:patterns(): the patterns of every line mined so far. */
static int miner_patterns(lua_State *L) {
    miner *mn = self(L, "miner:patterns");
    build(L, mn, "miner:patterns");
    push_patterns(L, mn);
    return 1;
}

/* m:match(entry): the pattern the line belongs to, without mining it, or nil. */
static int miner_match(lua_State *L) {
    const char *fn = "miner:match";
    size_t len;
    double t;
    miner *mn = self(L, fn);
    const char *line = entry_line(L, 2, &len, &t, fn, "entry", 0);
    build(L, mn, fn);
    sdk_charge(L, &mn->carry, LINE_UNITS(len) + ITEM_UNITS);
    size_t p = sdk_lp_match(mn->lp, line, len);
    if (p == (size_t)-1)
        return 0;
    push_pattern(L, sdk_lp_get(mn->lp, p));
    return 1;
}

static int miner_len(lua_State *L) {
    miner *mn = self(L, "miner:__len");
    lua_pushinteger(L, (lua_Integer)sdk_lp_lines(mn->lp));
    return 1;
}

static int miner_tostring(lua_State *L) {
    miner *mn = self(L, "miner:__tostring");
    lua_pushfstring(L, "log miner (%I lines, %I shapes)", (lua_Integer)sdk_lp_lines(mn->lp),
                    (lua_Integer)sdk_lp_shapes(mn->lp));
    return 1;
}

static void push_miner_meta(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"add", miner_add},
        {"add_all", miner_add_all},
        {"patterns", miner_patterns},
        {"match", miner_match},
        {NULL, NULL},
    };
    static const luaL_Reg metamethods[] = {
        {"__gc", miner_gc},
        {"__len", miner_len},
        {"__tostring", miner_tostring},
        {NULL, NULL},
    };
    if (!luaL_newmetatable(L, MINER))
        return;
    luaL_setfuncs(L, metamethods, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
}

/* ---- Evidence ------------------------------------------------------------------------------- */

/* list:evidence(title): a log_patterns item of the list's first EVIDENCE_ITEMS patterns:
 * pattern, count and sample of each. A longer list adds one more, which the finding's cap
 * then cuts, marking the item truncated. */
static int list_evidence(lua_State *L) {
    const char *fn = "patterns:evidence";
    if (!lua_istable(L, 1))
        return luaL_error(L, "%s: call it on a pattern list, as list:evidence(title) (got %s)", fn,
                          luaL_typename(L, 1));
    if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "%s: title must be a string (got %s)", fn, luaL_typename(L, 2));
    lua_settop(L, 2);
    size_t n = lua_rawlen(L, 1), keep = n > EVIDENCE_ITEMS ? EVIDENCE_ITEMS + 1 : n;
    lua_createtable(L, 0, 3);
    lua_pushliteral(L, "log_patterns");
    lua_setfield(L, -2, "kind");
    if (lua_isnil(L, 2))
        lua_pushliteral(L, "log patterns");
    else
        lua_pushvalue(L, 2);
    lua_setfield(L, -2, "title");
    lua_createtable(L, (int)keep, 0);
    for (size_t i = 1; i <= keep; i++) {
        static const char *const fields[] = {"pattern", "count", "sample"};
        lua_rawgeti(L, 1, (lua_Integer)i);
        lua_createtable(L, 0, 3);
        for (int f = 0; f < 3 && lua_istable(L, -2); f++) {
            lua_pushstring(L, fields[f]);
            lua_rawget(L, -3);
            lua_setfield(L, -2, fields[f]);
        }
        lua_remove(L, -2);
        lua_rawseti(L, -2, (lua_Integer)i);
    }
    lua_setfield(L, -2, "items");
    return 1;
}

static int list_meta_evidence(lua_State *L) {
    lua_settop(L, 1);
    return list_evidence(L);
}

static void push_list_meta(lua_State *L) {
    if (!luaL_newmetatable(L, LIST))
        return;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, list_evidence);
    lua_setfield(L, -2, "evidence");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, list_meta_evidence);
    lua_setfield(L, -2, "__evidence");
}

int sdk_logs_open(lua_State *L) {
    static const luaL_Reg functions[] = {
        {"miner", logs_miner},
        {"patterns", logs_patterns},
        {"compare", logs_compare},
        {"mask", logs_mask},
        {NULL, NULL},
    };
    luaL_newlib(L, functions);
    return 1;
}
