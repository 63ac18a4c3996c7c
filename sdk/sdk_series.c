/* sdk/sdk_series.c -- the Lua type of a time series (inquest.series, docs/sdk.md "Time series"):
 * constructors, reading, aggregates, arithmetic on equal times, resampling and evidence. Sets of
 * series live in sdk_series_set.c, the decoding of responses in sdk_response.c.
 *
 * Design notes
 * - A series is a full userdata holding its points (see sdk__series), so that they count
 *   against the analysis' memory budget, and it never changes: every method that would change
 *   it returns a new series. So series share labels tables (s * 2 has the table of s), and
 *   s.labels hands out a copy.
 * - The times of a series strictly increase (the constructor checks it, the decoder sorts), so
 *   joins are merges and slices binary searches.
 * - Arguments are checked before anything is made, and errors name the method and the argument:
 *   "series:align: step must be > 0 (got -1)".
 * - Loops over points run in C, unseen by the instruction budget: a series is bounded by the
 *   memory budget (16 bytes a point), and what align makes by SDK__MAX_GRID. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk.h"
#include "sdk_series.h"

#define META       "inquest.series"
#define MAX_POINTS ((size_t)1 << 26) /* of any series: 1 GiB, over any memory budget */

#define T(s) SDK__SERIES_T(s)
#define V(s) SDK__SERIES_V(s)

static void push_meta(lua_State *L);

/* ---- The type --------------------------------------------------------------------------- */

sdk__series *sdk__series_new(lua_State *L, size_t n, int labels) {
    if (n > MAX_POINTS)
        luaL_error(L, "a series holds at most %d points (got %I)", (int)MAX_POINTS, (lua_Integer)n);
    labels = labels ? lua_absindex(L, labels) : 0;
    sdk__series *s = lua_newuserdatauv(L, sizeof *s + 2 * n * sizeof(double), 1);
    s->n = n;
    push_meta(L);
    lua_setmetatable(L, -2);
    if (labels)
        lua_pushvalue(L, labels);
    else
        lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    return s;
}

sdk__series *sdk__series_test(lua_State *L, int idx) {
    return luaL_testudata(L, idx, META);
}

sdk__series *sdk__series_check(lua_State *L, int idx, const char *fn, const char *what) {
    sdk__series *s = sdk__series_test(L, idx);
    if (!s)
        luaL_error(L, "%s: %s must be a series (got %s)", fn, what, luaL_typename(L, idx));
    return s;
}

/* The series a method is called on. */
static sdk__series *self(lua_State *L, const char *fn) {
    sdk__series *s = sdk__series_test(L, 1);
    if (!s)
        luaL_error(L, "%s: call it on a series, as s:%s(…) (got %s)", fn, strchr(fn, ':') + 1,
                   luaL_typename(L, 1));
    return s;
}

/* Pushes a new series of 'n' points with the labels of the series at 'idx'. */
static sdk__series *new_like(lua_State *L, int idx, size_t n) {
    lua_getiuservalue(L, idx, 1);
    sdk__series *s = sdk__series_new(L, n, -1);
    lua_remove(L, -2);
    return s;
}

double sdk__num_arg(lua_State *L, int idx, const char *fn, const char *what, double def) {
    if (lua_type(L, idx) == LUA_TNUMBER)
        return (double)lua_tonumber(L, idx);
    if (lua_isnoneornil(L, idx) && !isnan(def))
        return def;
    return luaL_error(L, "%s: %s must be a number (got %s)", fn, what, luaL_typename(L, idx));
}

/* 'x' as %.14g into 'buf' (32 bytes): as Lua prints numbers, without ".0" on whole ones. */
static const char *num(char *buf, double x) {
    snprintf(buf, 32, "%.14g", isnan(x) ? NAN : x); /* "nan", never "-nan" */
    return buf;
}

/* Pushes a copy of the labels table of the series at 'idx'. */
static void push_labels_copy(lua_State *L, int idx) {
    lua_getiuservalue(L, idx, 1);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, -3)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    lua_remove(L, -2);
}

/* __index: s.labels, or a method. */
static int series_index(lua_State *L) {
    size_t n;
    const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &n) : NULL;
    if (key && n == 6 && memcmp(key, "labels", 6) == 0) {
        push_labels_copy(L, 1);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* ---- Reading ---------------------------------------------------------------------------- */

static int series_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)self(L, "series:__len")->n);
    return 1;
}

static int series_label(lua_State *L) {
    self(L, "series:label");
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "series:label: name must be a string (got %s)", luaL_typename(L, 2));
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

/* Pushes point 'i' (1-based; negative counts from the end) of 's': 2 values, or none. */
static int push_point(lua_State *L, const sdk__series *s, lua_Integer i) {
    if (i < 0)
        i += (lua_Integer)s->n + 1;
    if (i < 1 || (lua_Unsigned)i > s->n)
        return 0;
    lua_pushnumber(L, T(s)[i - 1]);
    lua_pushnumber(L, V(s)[i - 1]);
    return 2;
}

static int series_at(lua_State *L) {
    sdk__series *s = self(L, "series:at");
    int ok;
    lua_Integer i = lua_tointegerx(L, 2, &ok);
    if (!ok)
        return luaL_error(L, "series:at: i must be a whole number (got %s)", luaL_typename(L, 2));
    return push_point(L, s, i);
}

static int series_first(lua_State *L) {
    return push_point(L, self(L, "series:first"), 1);
}

static int series_last(lua_State *L) {
    return push_point(L, self(L, "series:last"), -1);
}

/* The iterator of s:points(): upvalues are the series and the index of the last point given. */
static int points_next(lua_State *L) {
    sdk__series *s = lua_touserdata(L, lua_upvalueindex(1));
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(2)) + 1;
    lua_pushinteger(L, i);
    lua_replace(L, lua_upvalueindex(2));
    return push_point(L, s, i > (lua_Integer)s->n ? 0 : i);
}

static int series_points(lua_State *L) {
    self(L, "series:points");
    lua_settop(L, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, points_next, 2);
    return 1;
}

static void push_array(lua_State *L, const double *a, size_t n) {
    lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushnumber(L, a[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static int series_times(lua_State *L) {
    sdk__series *s = self(L, "series:times");
    push_array(L, T(s), s->n);
    return 1;
}

static int series_values(lua_State *L) {
    sdk__series *s = self(L, "series:values");
    push_array(L, V(s), s->n);
    return 1;
}

/* ---- Aggregates (NaN values are left out) ----------------------------------------------- */

typedef struct stats {
    size_t count, min, max; /* values; the index of the lowest and of the highest */
    double sum;
} stats;

static stats stats_of(const sdk__series *s) {
    stats st = {0, 0, 0, 0};
    const double *v = V(s);
    for (size_t i = 0; i < s->n; i++) {
        if (isnan(v[i]))
            continue;
        if (st.count++ == 0)
            st.min = st.max = i;
        st.min = v[i] < v[st.min] ? i : st.min;
        st.max = v[i] > v[st.max] ? i : st.max;
        st.sum += v[i];
    }
    return st;
}

/* s:min() and s:max(): the value and its time (the first, of equal values), or nothing. */
static int extreme(lua_State *L, const char *fn, int highest) {
    sdk__series *s = self(L, fn);
    stats st = stats_of(s);
    if (!st.count)
        return 0;
    size_t i = highest ? st.max : st.min;
    lua_pushnumber(L, V(s)[i]);
    lua_pushnumber(L, T(s)[i]);
    return 2;
}

static int series_min(lua_State *L) {
    return extreme(L, "series:min", 0);
}

static int series_max(lua_State *L) {
    return extreme(L, "series:max", 1);
}

static int series_sum(lua_State *L) {
    lua_pushnumber(L, stats_of(self(L, "series:sum")).sum);
    return 1;
}

static int series_mean(lua_State *L) {
    stats st = stats_of(self(L, "series:mean"));
    if (!st.count)
        return 0;
    lua_pushnumber(L, st.sum / (double)st.count);
    return 1;
}

static int double_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* s:quantile(q): interpolated between the two nearest ranks, as Prometheus'
 * quantile_over_time. */
static int series_quantile(lua_State *L) {
    sdk__series *s = self(L, "series:quantile");
    char buf[32];
    double q = sdk__num_arg(L, 2, "series:quantile", "q", NAN);
    if (!(q >= 0 && q <= 1))
        return luaL_error(L, "series:quantile: q must be from 0 to 1 (got %s)", num(buf, q));
    double *a = lua_newuserdatauv(L, s->n * sizeof *a, 0);
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!isnan(V(s)[i]))
            a[n++] = V(s)[i];
    if (n == 0)
        return 0;
    qsort(a, n, sizeof *a, double_cmp);
    double rank = q * (double)(n - 1), lo = floor(rank);
    size_t i = (size_t)lo, j = i + 1 < n ? i + 1 : i;
    lua_pushnumber(L, a[i] + (a[j] - a[i]) * (rank - lo));
    return 1;
}

/* ---- New series from one -------------------------------------------------------------- */

/* The first index of 's' whose time is at least 't' ('after': more than 't'). */
static size_t search(const sdk__series *s, double t, int after) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (after ? T(s)[mid] <= t : T(s)[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* s:slice(t0, t1): the points from t0 to t1, both included; nil leaves that side open. */
static int series_slice(lua_State *L) {
    sdk__series *s = self(L, "series:slice");
    double t0 = sdk__num_arg(L, 2, "series:slice", "t0", -INFINITY);
    double t1 = sdk__num_arg(L, 3, "series:slice", "t1", INFINITY);
    size_t from = search(s, t0, 0), to = search(s, t1, 1);
    size_t n = to > from ? to - from : 0;
    sdk__series *out = new_like(L, 1, n);
    memcpy(T(out), T(s) + from, n * sizeof(double));
    memcpy(V(out), V(s) + from, n * sizeof(double));
    return 1;
}

/* s:fill(v): NaN values replaced by v. */
static int series_fill(lua_State *L) {
    sdk__series *s = self(L, "series:fill");
    double with = sdk__num_arg(L, 2, "series:fill", "v", NAN);
    sdk__series *out = new_like(L, 1, s->n);
    memcpy(T(out), T(s), s->n * sizeof(double));
    for (size_t i = 0; i < s->n; i++)
        V(out)[i] = isnan(V(s)[i]) ? with : V(s)[i];
    return 1;
}

void sdk__series_align(lua_State *L, int idx, double step, double start, double end) {
    idx = lua_absindex(L, idx);
    const sdk__series *s = lua_touserdata(L, idx);
    size_t n = end >= start ? (size_t)floor((end - start) / step + 1e-9) + 1 : 0, j = 0;
    sdk__series *out = new_like(L, idx, n);
    for (size_t k = 0; k < n; k++) {
        double g = start + (double)k * step;
        while (j < s->n && T(s)[j] <= g)
            j++;
        T(out)[k] = g;
        V(out)[k] = j > 0 && T(s)[j - 1] > g - step ? V(s)[j - 1] : NAN;
    }
}

void sdk__grid_check(lua_State *L, const char *fn, double step, double start, double end,
                     int empty) {
    char a[32], b[32];
    if (!(step > 0) || !isfinite(step))
        luaL_error(L, "%s: step must be > 0 (got %s)", fn, num(a, step));
    if (!isfinite(start) || !isfinite(end))
        luaL_error(L, "%s: start and end must be finite numbers", fn);
    if (end < start && !empty)
        luaL_error(L, "%s: end (%s) is before start (%s)", fn, num(a, end), num(b, start));
    if ((end - start) / step >= SDK__MAX_GRID)
        luaL_error(L, "%s: the grid would have more than %d points (step too small?)", fn,
                   SDK__MAX_GRID);
}

/* s:align(step, start, end): the value at each time of the grid is that of the last point at
 * or before it, less than a step before; else NaN. */
static int series_align(lua_State *L) {
    const char *fn = "series:align";
    sdk__series *s = self(L, fn);
    double step = sdk__num_arg(L, 2, fn, "step", NAN);
    double start = sdk__num_arg(L, 3, fn, "start", s->n ? T(s)[0] : 0);
    double end = sdk__num_arg(L, 4, fn, "end", s->n ? T(s)[s->n - 1] : start - step);
    sdk__grid_check(L, fn, step, start, end, !s->n && lua_isnoneornil(L, 4));
    sdk__series_align(L, 1, step, start, end);
    return 1;
}

/* ---- Arithmetic ------------------------------------------------------------------------- */

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

static double apply(int op, double a, double b) {
    switch (op) {
    case OP_ADD:
        return a + b;
    case OP_SUB:
        return a - b;
    case OP_MUL:
        return a * b;
    }
    return b == 0 ? NAN : a / b;
}

/* Pushes the labels that the series at 1 and 2 both have, with the same value. */
static void push_common_labels(lua_State *L) {
    lua_getiuservalue(L, 1, 1);
    lua_getiuservalue(L, 2, 1);
    if (lua_rawequal(L, -1, -2)) {
        lua_pop(L, 1);
        return;
    }
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, -4)) {
        lua_pushvalue(L, -2);
        if (lua_rawget(L, -5) != LUA_TNIL && lua_rawequal(L, -1, -2)) {
            lua_pushvalue(L, -3);
            lua_insert(L, -2);
            lua_rawset(L, -5);
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* a OP b on the times both have. */
static int join(lua_State *L, int op, const sdk__series *a, const sdk__series *b) {
    size_t n = 0, k = 0;
    for (size_t i = 0, j = 0; i < a->n && j < b->n;) {
        n += T(a)[i] == T(b)[j];
        if (T(a)[i] <= T(b)[j])
            i++;
        else
            j++;
    }
    push_common_labels(L);
    sdk__series *out = sdk__series_new(L, n, -1);
    for (size_t i = 0, j = 0; i < a->n && j < b->n;) {
        if (T(a)[i] == T(b)[j]) {
            T(out)[k] = T(a)[i];
            V(out)[k++] = apply(op, V(a)[i], V(b)[j]);
        }
        if (T(a)[i] <= T(b)[j])
            i++;
        else
            j++;
    }
    return 1;
}

static int arith(lua_State *L, int op, const char *symbol) {
    sdk__series *a = sdk__series_test(L, 1), *b = sdk__series_test(L, 2), *s = a ? a : b;
    int other = !a ? 1 : 2; /* the operand that is not a series, unless both are */
    if (!s || (!(a && b) && lua_type(L, other) != LUA_TNUMBER))
        return luaL_error(L, "series %s: operands must be series or numbers (got %s)", symbol,
                          luaL_typename(L, other));
    if (a && b)
        return join(L, op, a, b);
    sdk__series *out = new_like(L, a ? 1 : 2, s->n);
    double x = (double)lua_tonumber(L, a ? 2 : 1);
    memcpy(T(out), T(s), s->n * sizeof(double));
    for (size_t i = 0; i < s->n; i++)
        V(out)[i] = a ? apply(op, V(s)[i], x) : apply(op, x, V(s)[i]);
    return 1;
}

static int series_add(lua_State *L) {
    return arith(L, OP_ADD, "+");
}

static int series_sub(lua_State *L) {
    return arith(L, OP_SUB, "-");
}

static int series_mul(lua_State *L) {
    return arith(L, OP_MUL, "*");
}

static int series_div(lua_State *L) {
    return arith(L, OP_DIV, "/");
}

static int series_unm(lua_State *L) {
    sdk__series *s = self(L, "series:__unm");
    sdk__series *out = new_like(L, 1, s->n);
    memcpy(T(out), T(s), s->n * sizeof(double));
    for (size_t i = 0; i < s->n; i++)
        V(out)[i] = -V(s)[i];
    return 1;
}

/* ---- Text and evidence ------------------------------------------------------------------ */

static int string_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writes {name="value", …} of the labels table on top into 'out', names sorted, cut short
 * after about 200 bytes. */
static void format_labels(lua_State *L, char *out, size_t size) {
    enum { MAX = 32 };
    const char *names[MAX];
    size_t n = 0, more = 0, used = 1;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (n < MAX)
            names[n++] = lua_tostring(L, -1); /* strings: the table keeps them alive */
        else
            more++;
    }
    qsort(names, n, sizeof *names, string_cmp);
    snprintf(out, size, "{");
    for (size_t i = 0; i < n; i++) {
        if (used > 200) {
            more += n - i;
            break;
        }
        lua_getfield(L, -1, names[i]);
        int w = snprintf(out + used, size - used, "%s%.60s=\"%.60s\"", i ? ", " : "", names[i],
                         lua_tostring(L, -1));
        lua_pop(L, 1);
        used += w > 0 && (size_t)w < size - used ? (size_t)w : 0;
    }
    snprintf(out + used, size - used, "%s}", more ? ", …" : "");
}

/* tostring(s): series{job="api"} (120 points, 2026-11-21T11:00:00Z to 2026-11-21T12:00:00Z) */
static int series_tostring(lua_State *L) {
    sdk__series *s = self(L, "series:__tostring");
    char labels[400], from[40], to[40];
    lua_getiuservalue(L, 1, 1);
    format_labels(L, labels, sizeof labels);
    if (s->n == 0) {
        lua_pushfstring(L, "series%s (no points)", labels);
        return 1;
    }
    rt_time_format(T(s)[0], from);
    rt_time_format(T(s)[s->n - 1], to);
    lua_pushfstring(L, "series%s (%I point%s, %s to %s)", labels, (lua_Integer)s->n,
                    s->n == 1 ? "" : "s", from, to);
    return 1;
}

static void add_point(lua_State *L, const sdk__series *s, size_t i, lua_Integer k) {
    lua_createtable(L, 2, 0);
    lua_pushnumber(L, T(s)[i]);
    lua_rawseti(L, -2, 1);
    lua_pushnumber(L, V(s)[i]);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, k);
}

/* Adds to the list on top the points of 's' from 'lo' to 'hi' (excluded) that a chart needs:
 * the lowest and the highest, in time order (or the first, when all are NaN). */
static lua_Integer add_run(lua_State *L, const sdk__series *s, size_t lo, size_t hi,
                           lua_Integer k) {
    size_t min = hi, max = hi;
    for (size_t i = lo; i < hi; i++) {
        if (isnan(V(s)[i]))
            continue;
        min = min == hi || V(s)[i] < V(s)[min] ? i : min;
        max = max == hi || V(s)[i] > V(s)[max] ? i : max;
    }
    if (min == hi) {
        add_point(L, s, lo, ++k);
        return k;
    }
    add_point(L, s, min < max ? min : max, ++k);
    if (min != max)
        add_point(L, s, min < max ? max : min, ++k);
    return k;
}

void sdk__series_evidence(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    const sdk__series *s = lua_touserdata(L, idx);
    enum { RUNS = SDK__EVIDENCE_POINTS / 2 };
    lua_Integer k = 0;
    lua_createtable(L, 0, 2);
    push_labels_copy(L, idx);
    lua_setfield(L, -2, "labels");
    lua_createtable(L, s->n < SDK__EVIDENCE_POINTS ? (int)s->n : SDK__EVIDENCE_POINTS, 0);
    if (s->n <= SDK__EVIDENCE_POINTS)
        for (size_t i = 0; i < s->n; i++)
            add_point(L, s, i, ++k);
    else
        for (size_t r = 0; r < RUNS; r++)
            k = add_run(L, s, r * s->n / RUNS, (r + 1) * s->n / RUNS, k);
    lua_setfield(L, -2, "points");
}

void sdk__evidence_begin(lua_State *L, int title, const char *fn) {
    static const char *const what[] = {"title", "unit"};
    for (int i = 0; i < 2; i++)
        if (!lua_isnoneornil(L, title + i) && lua_type(L, title + i) != LUA_TSTRING)
            luaL_error(L, "%s: %s must be a string (got %s)", fn, what[i],
                       luaL_typename(L, title + i));
    int top = lua_gettop(L);
    lua_createtable(L, 0, 4);
    lua_pushliteral(L, "timeseries");
    lua_setfield(L, -2, "kind");
    for (int i = 0; i < 2; i++) {
        if (title + i <= top)
            lua_pushvalue(L, title + i);
        else
            lua_pushnil(L);
        lua_setfield(L, -2, what[i]);
    }
}

/* s:evidence(title, unit), and __evidence(s) for a series in a finding's evidence list. */
static int series_evidence(lua_State *L) {
    self(L, "series:evidence");
    sdk__evidence_begin(L, 2, "series:evidence");
    lua_createtable(L, 1, 0);
    sdk__series_evidence(L, 1);
    lua_rawseti(L, -2, 1);
    lua_setfield(L, -2, "series");
    return 1;
}

static int series_meta_evidence(lua_State *L) {
    lua_settop(L, 1);
    return series_evidence(L);
}

/* ---- Constructors: inquest.series --------------------------------------------------------- */

/* Pushes a copy of the labels table at 'idx' (nil: empty), names and values strings (numbers
 * are converted). */
static void copy_labels(lua_State *L, int idx, const char *fn) {
    if (lua_isnil(L, idx)) {
        lua_newtable(L);
        return;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: labels must be a table of names to strings (got %s)", fn,
                   luaL_typename(L, idx));
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: labels: names must be strings (got %s)", fn, luaL_typename(L, -2));
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "%s: labels.%s must be a string (got %s)", fn, lua_tostring(L, -2),
                       luaL_typename(L, -1));
        lua_tostring(L, -1); /* converts the number in place: the value, never the key */
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

/* Stores point 'i' (0-based) of 's' from the Lua values at 'ti' and 'vi'; 'where' and 'at'
 * name them in errors ("points[3][1]", "times[3]"). */
static void set_point(lua_State *L, sdk__series *s, size_t i, int ti, int vi, const char *tname,
                      const char *vname) {
    const char *fn = "inquest.series.new";
    char a[32], b[32];
    if (lua_type(L, ti) != LUA_TNUMBER || !isfinite((double)lua_tonumber(L, ti)))
        luaL_error(L, "%s: %s (a time) must be a finite number (got %s)", fn, tname,
                   lua_type(L, ti) == LUA_TNUMBER ? "infinity or NaN" : luaL_typename(L, ti));
    if (!lua_isnil(L, vi) && lua_type(L, vi) != LUA_TNUMBER)
        luaL_error(L, "%s: %s (a value) must be a number or nil (got %s)", fn, vname,
                   luaL_typename(L, vi));
    T(s)[i] = (double)lua_tonumber(L, ti);
    V(s)[i] = lua_isnil(L, vi) ? NAN : (double)lua_tonumber(L, vi);
    if (i > 0 && !(T(s)[i] > T(s)[i - 1]))
        luaL_error(L, "%s: %s: times must increase (got %s after %s)", fn, tname, num(a, T(s)[i]),
                   num(b, T(s)[i - 1]));
}

/* new{ points = { {t, v}, … } }: the labels copy is on top; pushes the series. */
static void from_points(lua_State *L, int points) {
    const char *fn = "inquest.series.new";
    char tname[48], vname[48];
    if (!lua_istable(L, points))
        luaL_error(L, "%s: points must be a list of pairs { t, v } (got %s)", fn,
                   luaL_typename(L, points));
    size_t n = lua_rawlen(L, points);
    sdk__series *s = sdk__series_new(L, n, -1);
    for (size_t i = 0; i < n; i++) {
        if (lua_rawgeti(L, points, (lua_Integer)i + 1) != LUA_TTABLE)
            luaL_error(L, "%s: points[%d] must be a pair { t, v } (got %s)", fn, (int)i + 1,
                       luaL_typename(L, -1));
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        snprintf(tname, sizeof tname, "points[%zu][1]", i + 1);
        snprintf(vname, sizeof vname, "points[%zu][2]", i + 1);
        set_point(L, s, i, -2, -1, tname, vname);
        lua_pop(L, 3);
    }
}

/* new{ times = {…}, values = {…} }: the labels copy is on top; pushes the series. */
static void from_lists(lua_State *L, int times, int values) {
    const char *fn = "inquest.series.new";
    char tname[48], vname[48];
    for (int i = times; i <= values; i++)
        if (!lua_istable(L, i))
            luaL_error(L, "%s: %s must be a list of numbers (got %s)", fn,
                       i == times ? "times" : "values", luaL_typename(L, i));
    size_t n = lua_rawlen(L, times);
    if (lua_rawlen(L, values) != n)
        luaL_error(L, "%s: times and values must have the same length (got %d and %d)", fn, (int)n,
                   (int)lua_rawlen(L, values));
    sdk__series *s = sdk__series_new(L, n, -1);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, times, (lua_Integer)i + 1);
        lua_rawgeti(L, values, (lua_Integer)i + 1);
        snprintf(tname, sizeof tname, "times[%zu]", i + 1);
        snprintf(vname, sizeof vname, "values[%zu]", i + 1);
        set_point(L, s, i, -2, -1, tname, vname);
        lua_pop(L, 2);
    }
}

/* inquest.series.new{ labels = {…}, points = { {t, v}, … } } or { labels, times, values }. */
static int series_new(lua_State *L) {
    static const char *const fields[] = {"labels", "points", "times", "values", NULL};
    const char *fn = "inquest.series.new";
    if (!lua_istable(L, 1))
        return luaL_error(L, "%s: expects a table { labels = …, points = … } (got %s)", fn,
                          luaL_typename(L, 1));
    lua_settop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        int known = 0;
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "%s: fields must be named (labels, points, times, values)", fn);
        for (int i = 0; fields[i]; i++)
            known |= strcmp(fields[i], lua_tostring(L, -1)) == 0;
        if (!known)
            return luaL_error(L, "%s: unknown field '%s' (fields: labels, points, times, values)",
                              fn, lua_tostring(L, -1));
    }
    for (int i = 0; fields[i]; i++)
        lua_getfield(L, 1, fields[i]); /* 2 labels, 3 points, 4 times, 5 values */
    int lists = !lua_isnil(L, 4) || !lua_isnil(L, 5);
    if (!lua_isnil(L, 3) && lists)
        return luaL_error(L, "%s: give points, or times and values, not both", fn);
    copy_labels(L, 2, fn);
    if (lists)
        from_lists(L, 4, 5);
    else if (!lua_isnil(L, 3))
        from_points(L, 3);
    else
        sdk__series_new(L, 0, -1);
    return 1;
}

/* inquest.series.set{ s1, s2, … }: a set of the series given. */
static int series_set(lua_State *L) {
    const char *fn = "inquest.series.set";
    char what[32];
    if (lua_isnoneornil(L, 1)) {
        sdk__set_new(L, 0);
        return 1;
    }
    if (!lua_istable(L, 1))
        return luaL_error(L, "%s: expects a list of series (got %s)", fn, luaL_typename(L, 1));
    lua_settop(L, 1);
    size_t n = lua_rawlen(L, 1);
    sdk__set_new(L, n < INT32_MAX ? (int)n : 0);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i);
        snprintf(what, sizeof what, "item %zu", i);
        sdk__series_check(L, -1, fn, what);
        lua_rawseti(L, 2, (lua_Integer)i);
    }
    return 1;
}

void sdk_series_push_set(lua_State *L, const sdk_series_data *series, size_t n) {
    luaL_checkstack(L, 4, NULL);
    sdk__set_new(L, n < INT32_MAX ? (int)n : 0);
    for (size_t i = 0; i < n; i++) {
        const sdk_series_data *d = &series[i];
        lua_createtable(L, 0, (int)d->n_labels);
        for (size_t j = 0; j < d->n_labels; j++) {
            lua_pushstring(L, d->labels[j].value);
            lua_setfield(L, -2, d->labels[j].name);
        }
        sdk__series *s = sdk__series_new(L, d->n, -1);
        if (d->n) {
            memcpy(T(s), d->t, d->n * sizeof(double));
            memcpy(V(s), d->v, d->n * sizeof(double));
        }
        lua_remove(L, -2);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static const luaL_Reg methods[] = {
    {"label", series_label},
    {"at", series_at},
    {"first", series_first},
    {"last", series_last},
    {"points", series_points},
    {"times", series_times},
    {"values", series_values},
    {"min", series_min},
    {"max", series_max},
    {"sum", series_sum},
    {"mean", series_mean},
    {"quantile", series_quantile},
    {"slice", series_slice},
    {"fill", series_fill},
    {"align", series_align},
    {"evidence", series_evidence},
    {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__len", series_len},
    {"__add", series_add},
    {"__sub", series_sub},
    {"__mul", series_mul},
    {"__div", series_div},
    {"__unm", series_unm},
    {"__tostring", series_tostring},
    {"__evidence", series_meta_evidence},
    {NULL, NULL},
};

static void push_meta(lua_State *L) {
    if (!luaL_newmetatable(L, META))
        return;
    luaL_setfuncs(L, metamethods, 0);
    lua_createtable(L, 0, sizeof methods / sizeof *methods - 1);
    luaL_setfuncs(L, methods, 0);
    lua_pushcclosure(L, series_index, 1);
    lua_setfield(L, -2, "__index");
}

int sdk_series_open(lua_State *L) {
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, series_new);
    lua_setfield(L, -2, "new");
    lua_pushcfunction(L, series_set);
    lua_setfield(L, -2, "set");
    return 1;
}
