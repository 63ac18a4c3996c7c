/* sdk/sdk_series_set.c -- sets of series (docs/sdk.md "Time series"): what a range query
 * returns; filtered, grouped, aggregated by labels, ranked, aligned, and put in evidence. The
 * series themselves are sdk_series.c's.
 *
 * Design notes
 * - A set is a plain Lua table, a sequence of series, whose metatable holds the methods: #set,
 *   set[i] and ipairs work as on any list, and an analyzer may make one from a list of its own
 *   (inquest.series.set). Since it is a plain table, an item may be anything: each method
 *   checks the items it reads.
 * - Groups (group_by, the aggregations) come out in the order of their first series in the set,
 *   so that results do not depend on the order of a Lua table.
 * - Scratch memory (times to merge, scores to rank) is Lua userdata: counted by the memory
 *   budget, and collected if an error is raised half-way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk.h"
#include "sdk_series.h"

#define META "inquest.series_set"

#define T(s) SDK__SERIES_T(s)
#define V(s) SDK__SERIES_V(s)

static void push_meta(lua_State *L);

void sdk__set_new(lua_State *L, int n) {
    lua_createtable(L, n, 0);
    push_meta(L);
    lua_setmetatable(L, -2);
}

/* The set a method is called on: returns its length. */
static size_t self(lua_State *L, const char *fn) {
    int yes = lua_istable(L, 1) && lua_getmetatable(L, 1);
    if (yes) {
        luaL_getmetatable(L, META);
        yes = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    if (!yes)
        luaL_error(L, "%s: call it on a series set, as set:%s(…) (got %s)", fn, strchr(fn, ':') + 1,
                   luaL_typename(L, 1));
    return lua_rawlen(L, 1);
}

/* Pushes item 'i' of the set at 'set', which must be a series. */
static sdk__series *item(lua_State *L, int set, size_t i, const char *fn) {
    char what[40];
    lua_rawgeti(L, set, (lua_Integer)i);
    snprintf(what, sizeof what, "item %zu of the set", i);
    return sdk__series_check(L, -1, fn, what);
}

/* Appends the value on top (popped) to the list at 'list'. */
static void append(lua_State *L, int list) {
    lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
}

/* Checks that the arguments from 'from' to the top are label names; returns how many. */
static int label_args(lua_State *L, int from, const char *fn) {
    int top = lua_gettop(L);
    for (int i = from; i <= top; i++)
        if (lua_type(L, i) != LUA_TSTRING)
            luaL_error(L, "%s: label names must be strings (argument %d is %s)", fn, i - from + 1,
                       luaL_typename(L, i));
    return top - from + 1;
}

/* Pushes the value of label 'name' (a string on the stack at 'name') of the series at 'idx';
 * an absent label is "", as in PromQL. */
static void push_label(lua_State *L, int idx, int name) {
    lua_getiuservalue(L, idx, 1);
    lua_pushvalue(L, name);
    if (lua_rawget(L, -2) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushliteral(L, "");
    }
    lua_remove(L, -2);
}

/* ---- filter ----------------------------------------------------------------------------- */

/* Pushes the filter { label = "v" | { "a", "b" } } at 'spec' with each value a string, or a
 * table whose keys are the strings of the list. */
static void normalize_spec(lua_State *L, int spec, const char *fn) {
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, spec)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: label names must be strings (got %s)", fn, luaL_typename(L, -2));
        if (lua_istable(L, -1)) {
            int list = lua_gettop(L);
            lua_newtable(L);
            for (size_t i = 1; i <= lua_rawlen(L, list); i++) {
                lua_rawgeti(L, list, (lua_Integer)i);
                if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
                    luaL_error(L, "%s: %s[%d] must be a string (got %s)", fn,
                               lua_tostring(L, list - 1), (int)i, luaL_typename(L, -1));
                lua_tostring(L, -1);
                lua_pushboolean(L, 1);
                lua_rawset(L, -3);
            }
            lua_replace(L, list);
        } else if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_tostring(L, -1);
        } else if (lua_type(L, -1) != LUA_TSTRING) {
            luaL_error(L, "%s: %s must be a string or a list of strings (got %s)", fn,
                       lua_tostring(L, -2), luaL_typename(L, -1));
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

/* True when the series at 'idx' has the labels of the normalized filter at 'spec'. */
static int matches(lua_State *L, int idx, int spec) {
    int yes = 1;
    lua_pushnil(L);
    while (yes && lua_next(L, spec)) {
        push_label(L, idx, lua_gettop(L) - 1);
        if (lua_istable(L, -2))
            yes = lua_rawget(L, -2) != LUA_TNIL;
        else
            yes = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    if (!yes)
        lua_pop(L, 1); /* the key lua_next would have gone on with */
    return yes;
}

/* set:filter{ label = "value" | { "a", "b" }, … } or set:filter(function(s) … end). */
static int set_filter(lua_State *L) {
    const char *fn = "set:filter";
    size_t n = self(L, fn);
    int by_function = lua_isfunction(L, 2);
    if (!by_function && !lua_istable(L, 2))
        return luaL_error(L, "%s: expects a table of labels to values, or a function (got %s)", fn,
                          luaL_typename(L, 2));
    lua_settop(L, 2);
    if (!by_function)
        normalize_spec(L, 2, fn);
    sdk__set_new(L, 0);
    int out = lua_gettop(L);
    for (size_t i = 1; i <= n; i++) {
        item(L, 1, i, fn);
        int keep;
        if (by_function) {
            lua_pushvalue(L, 2);
            lua_pushvalue(L, -2);
            lua_call(L, 1, 1);
            keep = lua_toboolean(L, -1);
            lua_pop(L, 1);
        } else {
            keep = matches(L, out + 1, 3);
        }
        if (keep)
            append(L, out);
        else
            lua_pop(L, 1);
    }
    return 1;
}

/* ---- Groups ----------------------------------------------------------------------------- */

/* Pushes the key of the series at 'idx' by the 'n' label names from 'names': their values
 * joined by ",". */
static void push_key(lua_State *L, int idx, int names, int n) {
    luaL_checkstack(L, 2 * n, NULL);
    for (int j = 0; j < n; j++) {
        if (j)
            lua_pushliteral(L, ",");
        push_label(L, idx, names + j);
    }
    if (n == 0)
        lua_pushliteral(L, "");
    else
        lua_concat(L, 2 * n - 1);
}

/* Pushes the groups of the set at 1 by the 'n' label names from 'names': a table key → list of
 * series, and below it the list of keys in the order they first came. */
static void group(lua_State *L, size_t len, int names, int n, const char *fn) {
    lua_newtable(L);
    lua_newtable(L);
    int keys = lua_gettop(L) - 1, groups = keys + 1;
    for (size_t i = 1; i <= len; i++) {
        item(L, 1, i, fn);
        push_key(L, groups + 1, names, n);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, groups) == LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            append(L, keys);
            sdk__set_new(L, 0);
            lua_pushvalue(L, -2);
            lua_pushvalue(L, -2);
            lua_rawset(L, groups);
        }
        lua_pushvalue(L, groups + 1);
        append(L, lua_gettop(L) - 1);
        lua_pop(L, 3);
    }
}

/* set:group_by("label", …) → { [value] = set, … }; with several labels the key is their values
 * joined by ",". */
static int set_group_by(lua_State *L) {
    const char *fn = "set:group_by";
    size_t n = self(L, fn);
    int names = label_args(L, 2, fn);
    if (names == 0)
        return luaL_error(L, "%s: expects one or more label names", fn);
    group(L, n, 2, names, fn);
    return 1;
}

/* ---- Aggregation ------------------------------------------------------------------------ */

enum { AGG_SUM, AGG_AVG, AGG_MAX, AGG_MIN, AGG_COUNT };

static int double_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Pushes the times of every series of the list at 'list' ('k' series, 'total' points), sorted
 * and each once, as a userdata; returns their number. */
static size_t union_times(lua_State *L, int list, size_t k, size_t total, double **out) {
    double *t = lua_newuserdatauv(L, total * sizeof *t, 0);
    size_t n = 0;
    for (size_t i = 1; i <= k; i++) {
        lua_rawgeti(L, list, (lua_Integer)i);
        sdk__series *s = lua_touserdata(L, -1);
        memcpy(t + n, T(s), s->n * sizeof *t);
        n += s->n;
        lua_pop(L, 1);
    }
    qsort(t, n, sizeof *t, double_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || t[i] != t[m - 1])
            t[m++] = t[i];
    *out = t;
    return m;
}

static void combine(int op, double *acc, double v) {
    switch (op) {
    case AGG_MAX:
        *acc = v > *acc ? v : *acc;
        break;
    case AGG_MIN:
        *acc = v < *acc ? v : *acc;
        break;
    default:
        *acc += v;
    }
}

/* Pushes the series that aggregates by 'op' the series of the list at 'list', labelled by the
 * table at 'labels'. NaN values are left out; a time where no value is left is NaN (0 for
 * AGG_COUNT). */
static void aggregate(lua_State *L, int list, int op, int labels) {
    list = lua_absindex(L, list);
    labels = lua_absindex(L, labels);
    size_t k = lua_rawlen(L, list), total = 0;
    for (size_t i = 1; i <= k; i++) {
        lua_rawgeti(L, list, (lua_Integer)i);
        total += ((sdk__series *)lua_touserdata(L, -1))->n;
        lua_pop(L, 1);
    }
    double *grid;
    size_t m = union_times(L, list, k, total, &grid);
    double *count = lua_newuserdatauv(L, m * sizeof *count, 0);
    sdk__series *out = sdk__series_new(L, m, labels);
    memcpy(T(out), grid, m * sizeof *grid);
    for (size_t j = 0; j < m; j++)
        count[j] = 0;
    for (size_t i = 1; i <= k; i++) {
        lua_rawgeti(L, list, (lua_Integer)i);
        const sdk__series *s = lua_touserdata(L, -1);
        for (size_t p = 0, j = 0; p < s->n; p++) {
            while (grid[j] < T(s)[p])
                j++; /* the grid holds every time of every series */
            if (isnan(V(s)[p]))
                continue;
            if (count[j]++ == 0)
                V(out)[j] = op == AGG_COUNT ? 0 : V(s)[p];
            else if (op != AGG_COUNT)
                combine(op, &V(out)[j], V(s)[p]);
        }
        lua_pop(L, 1);
    }
    for (size_t j = 0; j < m; j++)
        V(out)
    [j] = op == AGG_COUNT ? count[j]
          : !count[j]     ? NAN
          : op == AGG_AVG ? V(out)[j] / count[j]
                          : V(out)[j];
    lua_replace(L, -3); /* the series replaces the scratch */
    lua_pop(L, 1);
}

/* Pushes the labels of the series on top that the 'n' names from 'names' say. */
static void group_labels(lua_State *L, int names, int n) {
    int s = lua_gettop(L);
    lua_createtable(L, 0, n);
    for (int j = 0; j < n; j++) {
        lua_getiuservalue(L, s, 1);
        lua_pushvalue(L, names + j);
        lua_rawget(L, -2);
        lua_remove(L, -2);
        lua_pushvalue(L, names + j);
        lua_insert(L, -2);
        lua_rawset(L, -3);
    }
}

/* set:OP_by("label", …): a set of one series per group, labelled by the group's labels. */
static int aggregate_by(lua_State *L, int op, const char *fn) {
    size_t n = self(L, fn);
    int names = label_args(L, 2, fn), first = lua_gettop(L) + 1;
    group(L, n, 2, names, fn);
    size_t groups = lua_rawlen(L, first);
    sdk__set_new(L, (int)groups);
    for (size_t g = 1; g <= groups; g++) {
        lua_rawgeti(L, first, (lua_Integer)g);
        lua_rawget(L, first + 1); /* the group's list */
        lua_rawgeti(L, -1, 1);
        group_labels(L, 2, names);
        lua_remove(L, -2);
        aggregate(L, lua_gettop(L) - 1, op, -1);
        lua_replace(L, -3);
        lua_pop(L, 1);
        lua_rawseti(L, first + 2, (lua_Integer)g);
    }
    return 1;
}

static int set_sum_by(lua_State *L) {
    return aggregate_by(L, AGG_SUM, "set:sum_by");
}

static int set_avg_by(lua_State *L) {
    return aggregate_by(L, AGG_AVG, "set:avg_by");
}

static int set_max_by(lua_State *L) {
    return aggregate_by(L, AGG_MAX, "set:max_by");
}

static int set_min_by(lua_State *L) {
    return aggregate_by(L, AGG_MIN, "set:min_by");
}

static int set_count_by(lua_State *L) {
    return aggregate_by(L, AGG_COUNT, "set:count_by");
}

/* set:total(): the sum of every series, without labels. */
static int set_total(lua_State *L) {
    lua_settop(L, 1);
    aggregate_by(L, AGG_SUM, "set:total");
    if (lua_rawgeti(L, -1, 1) == LUA_TNIL)
        sdk__series_new(L, 0, 0);
    return 1;
}

/* ---- Ranking and labels ----------------------------------------------------------------- */

typedef struct score {
    double score;
    size_t index;
} score;

static int score_cmp(const void *a, const void *b) {
    const score *x = a, *y = b;
    if (isnan(x->score) != isnan(y->score))
        return isnan(x->score) ? 1 : -1;
    if (x->score != y->score && !isnan(x->score))
        return x->score > y->score ? -1 : 1;
    return x->index < y->index ? -1 : 1;
}

enum { BY_MAX, BY_MIN, BY_MEAN, BY_LAST, BY_SUM };

/* The score of 's' by 'by'; NaN values are left out, and a series without any scores NaN. */
static double score_of(const sdk__series *s, int by) {
    double acc = NAN;
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        double v = V(s)[i];
        if (isnan(v))
            continue;
        acc = n++ == 0                        ? v
              : by == BY_MAX                  ? (v > acc ? v : acc)
              : by == BY_MIN                  ? (v < acc ? v : acc)
              : by == BY_MEAN || by == BY_SUM ? acc + v
                                              : v;
    }
    return by == BY_MEAN && n ? acc / (double)n : acc;
}

/* set:top(k, by): the k series of the highest max (min, mean, last, sum), highest first. */
static int set_top(lua_State *L) {
    static const char *const bys[] = {"max", "min", "mean", "last", "sum", NULL};
    const char *fn = "set:top";
    size_t n = self(L, fn);
    int whole;
    lua_Integer k = lua_tointegerx(L, 2, &whole);
    if (!whole || k < 0)
        return luaL_error(L, "%s: k must be a whole number >= 0 (got %s)", fn,
                          lua_type(L, 2) == LUA_TNUMBER ? lua_tostring(L, 2) : luaL_typename(L, 2));
    const char *name = lua_isnoneornil(L, 3) ? "max" : NULL;
    if (lua_type(L, 3) == LUA_TSTRING)
        name = lua_tostring(L, 3);
    int by = 0;
    while (name && bys[by] && strcmp(bys[by], name) != 0)
        by++;
    if (!name || !bys[by])
        return luaL_error(L, "%s: by must be one of max, min, mean, last, sum (got %s%s%s)", fn,
                          name ? "\"" : "", name ? name : luaL_typename(L, 3), name ? "\"" : "");
    lua_settop(L, 1);
    score *sc = lua_newuserdatauv(L, n * sizeof *sc, 0);
    for (size_t i = 0; i < n; i++) {
        sc[i] = (score){score_of(item(L, 1, i + 1, fn), by), i + 1};
        lua_pop(L, 1);
    }
    qsort(sc, n, sizeof *sc, score_cmp);
    size_t keep = (size_t)k < n ? (size_t)k : n;
    sdk__set_new(L, (int)keep);
    for (size_t i = 0; i < keep; i++) {
        lua_rawgeti(L, 1, (lua_Integer)sc[i].index);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int string_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* set:labels("name"): the distinct values of the label, sorted (series without it add none). */
static int set_labels(lua_State *L) {
    const char *fn = "set:labels";
    size_t n = self(L, fn), m = 0;
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "%s: name must be a string (got %s)", fn, luaL_typename(L, 2));
    lua_settop(L, 2);
    lua_newtable(L); /* 3: value → true */
    for (size_t i = 1; i <= n; i++) {
        item(L, 1, i, fn);
        lua_getiuservalue(L, -1, 1);
        lua_pushvalue(L, 2);
        if (lua_rawget(L, -2) == LUA_TSTRING) {
            lua_pushboolean(L, 1);
            lua_rawset(L, 3);
            lua_pop(L, 2);
        } else {
            lua_pop(L, 3);
        }
    }
    for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1))
        m++;
    const char **values = lua_newuserdatauv(L, m * sizeof *values, 0);
    m = 0;
    for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1))
        values[m++] = lua_tostring(L, -2); /* the table at 3 keeps them alive */
    qsort(values, m, sizeof *values, string_cmp);
    lua_createtable(L, (int)m, 0);
    for (size_t i = 0; i < m; i++) {
        lua_pushstring(L, values[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* ---- Alignment and evidence ------------------------------------------------------------- */

/* set:align(step, start, end): every series on one grid, by default from the earliest time of
 * the set to the latest. */
static int set_align(lua_State *L) {
    const char *fn = "set:align";
    size_t n = self(L, fn);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 1; i <= n; i++) {
        const sdk__series *s = item(L, 1, i, fn);
        if (s->n) {
            lo = T(s)[0] < lo ? T(s)[0] : lo;
            hi = T(s)[s->n - 1] > hi ? T(s)[s->n - 1] : hi;
        }
        lua_pop(L, 1);
    }
    double step = sdk__num_arg(L, 2, fn, "step", NAN);
    double start = sdk__num_arg(L, 3, fn, "start", isfinite(lo) ? lo : 0);
    double end = sdk__num_arg(L, 4, fn, "end", isfinite(hi) ? hi : start - step);
    sdk__grid_check(L, fn, step, start, end, !isfinite(lo) && lua_isnoneornil(L, 4));
    lua_settop(L, 1);
    sdk__set_new(L, (int)n);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i);
        sdk__series_align(L, -1, step, start, end);
        lua_rawseti(L, 2, (lua_Integer)i);
        lua_pop(L, 1);
    }
    return 1;
}

/* set:evidence(title, unit): the first SDK__EVIDENCE_SERIES series. A longer set adds one
 * empty series more, which the finding's cap then cuts, marking the item truncated. */
static int set_evidence(lua_State *L) {
    const char *fn = "set:evidence";
    size_t n = self(L, fn);
    sdk__evidence_begin(L, 2, fn);
    size_t keep = n < SDK__EVIDENCE_SERIES ? n : SDK__EVIDENCE_SERIES;
    lua_createtable(L, (int)keep + 1, 0);
    for (size_t i = 1; i <= keep; i++) {
        item(L, 1, i, fn);
        sdk__series_evidence(L, -1);
        lua_rawseti(L, -3, (lua_Integer)i);
        lua_pop(L, 1);
    }
    if (n > keep) {
        lua_createtable(L, 0, 1);
        lua_newtable(L);
        lua_setfield(L, -2, "points");
        lua_rawseti(L, -2, (lua_Integer)keep + 1);
    }
    lua_setfield(L, -2, "series");
    return 1;
}

static int set_meta_evidence(lua_State *L) {
    lua_settop(L, 1);
    return set_evidence(L);
}

static int set_tostring(lua_State *L) {
    size_t n = self(L, "set:__tostring");
    lua_pushfstring(L, "series set (%I series)", (lua_Integer)n);
    return 1;
}

static const luaL_Reg methods[] = {
    {"filter", set_filter},     {"group_by", set_group_by},
    {"sum_by", set_sum_by},     {"sum", set_sum_by},
    {"avg_by", set_avg_by},     {"max_by", set_max_by},
    {"min_by", set_min_by},     {"count_by", set_count_by},
    {"total", set_total},       {"top", set_top},
    {"labels", set_labels},     {"align", set_align},
    {"evidence", set_evidence}, {NULL, NULL},
};

static void push_meta(lua_State *L) {
    if (!luaL_newmetatable(L, META))
        return;
    lua_createtable(L, 0, sizeof methods / sizeof *methods - 1);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, set_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, set_meta_evidence);
    lua_setfield(L, -2, "__evidence");
}
