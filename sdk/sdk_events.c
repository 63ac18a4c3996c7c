/* sdk/sdk_events.c -- event isolation (inquest.events, docs/sdk.md "Event isolation"): change
 * events ranked as the likely trigger of an anomaly. Events come from the change-event
 * connectors (workers/wk_connectors.c) or from the analyzer; what the helpers share is
 * sdk_toolkit.c's.
 *
 * Design notes
 * - score = time * scope * kind, each from 0 to 1, so that one bad factor sinks an event: a
 *   deploy of another service right at the onset, or one of the right service a day before,
 *   are both unlikely triggers.
 * - Time: causes come before effects, and the closer the likelier. A rollout (an event with an
 *   end) is at the onset when the onset falls inside it. A small grace after the onset absorbs
 *   clocks that disagree; later events keep a small score (they are listed, last).
 * - Scope: a geometric mean over the anomaly's labels (service, region, host, version, …) of
 *   a factor for each: 1 when the event names one of the anomaly's values, 0.5 when it does
 *   not say (a global config push may well touch every region), 0.05 when it names others.
 *   Weights per label change the mean, not the factors.
 * - Kind: code and configuration changes cause most incidents, scaling and restarts seldom;
 *   the weights are documented defaults that an analyzer may override. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk.h"
#include "sdk_events.h"
#include "sdk_toolkit.h"

/* ---- Scores ----------------------------------------------------------------------------- */

double sdk_events_before(double onset, double time, double end) {
    if (!isnan(end) && end >= time && onset >= time)
        return onset <= end ? 0 : onset - end;
    return onset - time;
}

double sdk_events_time_score(double before, const sdk_events_opts *o) {
    if (before < -o->grace)
        return SDK_EVENTS_AFTER * pow(0.5, (-before - o->grace) / o->half_life);
    if (before <= 0)
        return 1;
    if (before > o->horizon)
        return 0;
    return pow(0.5, before / o->half_life);
}

double sdk_events_scope_score(const sdk_scope_match *match, const double *weight, size_t n) {
    double sum = 0, weights = 0;
    for (size_t i = 0; i < n; i++) {
        double f = match[i] == SDK_SCOPE_MATCH     ? 1
                   : match[i] == SDK_SCOPE_UNKNOWN ? SDK_SCOPE_F_UNKNOWN
                                                   : SDK_SCOPE_F_MISS;
        sum += weight[i] * log(f);
        weights += weight[i];
    }
    return weights > 0 ? exp(sum / weights) : 1;
}

static const struct kind {
    const char *name;
    double weight;
    const char *aliases[4];
} kinds[] = {
    {"deploy", 1.0, {"deployment", "release", "rollout", NULL}},
    {"config", 0.9, {"config_change", "config_push", "configuration", NULL}},
    {"flag", 0.8, {"feature_flag", "flag_flip", "feature", NULL}},
    {"migration", 0.8, {"schema_migration", "db_migration", NULL}},
    {"rollback", 0.6, {"revert", NULL}},
    {"maintenance", 0.6, {NULL}},
    {"scale", 0.4, {"scaling", "autoscale", NULL}},
    {"restart", 0.4, {"reboot", NULL}},
};

#define OTHER_KIND_WEIGHT 0.5

double sdk_events_kind_weight(const char *kind, const char **canonical) {
    for (size_t i = 0; kind && i < sizeof kinds / sizeof *kinds; i++) {
        int same = strcmp(kinds[i].name, kind) == 0;
        for (int j = 0; !same && kinds[i].aliases[j]; j++)
            same = strcmp(kinds[i].aliases[j], kind) == 0;
        if (same) {
            *canonical = kinds[i].name;
            return kinds[i].weight;
        }
    }
    *canonical = kind ? kind : "other";
    return OTHER_KIND_WEIGHT;
}

/* ---- inquest.events.rank ------------------------------------------------------------------ */

static const char *const rank_options[] = {"half_life", "horizon", "grace", "kinds",
                                           "weights",   "top",     NULL};

#define FN "inquest.events.rank"

/* A number field of the event at 'idx', or 'def' when absent. */
static double event_time(lua_State *L, int idx, size_t i, const char *name, double def) {
    int type = lua_getfield(L, idx, name);
    double t = (double)lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (type == LUA_TNIL && !isnan(def))
        return def;
    if (type != LUA_TNUMBER || !isfinite(t))
        luaL_error(L, FN ": events[%d].%s must be a time (Unix seconds; got %s)", (int)i, name,
                   type == LUA_TNUMBER ? "infinity or NaN" : lua_typename(L, type));
    return t;
}

static void check_events(lua_State *L) {
    if (!lua_istable(L, 1))
        luaL_error(L, FN ": events must be a list of events (got %s)", luaL_typename(L, 1));
    for (size_t i = 1, n = lua_rawlen(L, 1); i <= n; i++) {
        if (lua_rawgeti(L, 1, (lua_Integer)i) != LUA_TTABLE)
            luaL_error(L, FN ": events[%d] must be a table { time = …, kind = …, … } (got %s)",
                       (int)i, luaL_typename(L, -1));
        event_time(L, -1, i, "time", NAN);
        event_time(L, -1, i, "end", INFINITY);
        int type = lua_getfield(L, -1, "kind");
        if (type != LUA_TNIL && type != LUA_TSTRING)
            luaL_error(L, FN ": events[%d].kind must be a string (got %s)", (int)i,
                       lua_typename(L, type));
        lua_pop(L, 2);
    }
}

/* True when the value at 'idx' is a string or number, or a list of them. */
static int is_values(lua_State *L, int idx) {
    if (lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER)
        return 1;
    if (!lua_istable(L, idx))
        return 0;
    for (size_t i = 1, n = lua_rawlen(L, idx); i <= n; i++) {
        int type = lua_rawgeti(L, idx, (lua_Integer)i);
        lua_pop(L, 1);
        if (type != LUA_TSTRING && type != LUA_TNUMBER)
            return 0;
    }
    return 1;
}

static void check_scope(lua_State *L) {
    if (lua_isnoneornil(L, 3))
        return;
    if (!lua_istable(L, 3))
        luaL_error(L, FN ": scope must be a table of labels (got %s)", luaL_typename(L, 3));
    for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1))
        if (lua_type(L, -2) != LUA_TSTRING || !is_values(L, -1))
            luaL_error(L, FN ": scope.%s must be a string or a list of strings (got %s)",
                       lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?",
                       luaL_typename(L, -1));
}

/* Checks that opts.'name' is nil or a table of names to numbers from 0 to 'max'. */
static void check_weights(lua_State *L, const char *name, double max) {
    if (sdk__opt_push(L, 4, name) != LUA_TNIL) {
        if (!lua_istable(L, -1))
            luaL_error(L, FN ": opts.%s must be a table of names to weights", name);
        for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
            double x = (double)lua_tonumber(L, -1);
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TNUMBER ||
                !(x >= 0 && x <= max))
                luaL_error(L, FN ": opts.%s.%s must be a weight from 0 to %s", name,
                           lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?",
                           max > 1 ? "1000" : "1");
        }
    }
    lua_pop(L, 1);
}

static int string_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes the scope's label names, sorted, as a list. */
static void push_scope_names(lua_State *L) {
    size_t n = 0;
    int scoped = lua_istable(L, 3);
    for (lua_pushnil(L); scoped && lua_next(L, 3); lua_pop(L, 1))
        n++;
    if (!scoped)
        lua_pop(L, 1);
    const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0);
    n = 0;
    for (lua_pushnil(L); scoped && lua_next(L, 3); lua_pop(L, 1))
        names[n++] = lua_tostring(L, -2); /* the scope keeps it */
    if (!scoped)
        lua_pop(L, 1);
    qsort(names, n, sizeof *names, string_cmp);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_remove(L, -2);
}

/* Pushes the first of the values at 'idx' (a string, a number or a list) as a string. */
static void push_first(lua_State *L, int idx) {
    if (lua_istable(L, idx))
        lua_rawgeti(L, idx, 1);
    else
        lua_pushvalue(L, idx);
    lua_tostring(L, -1);
}

/* True when one of the values at 'a' equals one of those at 'b' (as strings); then pushes
 * it. */
static int overlap(lua_State *L, int a, int b) {
    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    size_t na = lua_istable(L, a) ? lua_rawlen(L, a) : 1;
    size_t nb = lua_istable(L, b) ? lua_rawlen(L, b) : 1;
    for (size_t i = 1; i <= na; i++) {
        if (lua_istable(L, a))
            lua_rawgeti(L, a, (lua_Integer)i);
        else
            lua_pushvalue(L, a);
        const char *x = lua_tostring(L, -1);
        for (size_t j = 1; j <= nb; j++) {
            if (lua_istable(L, b))
                lua_rawgeti(L, b, (lua_Integer)j);
            else
                lua_pushvalue(L, b);
            const char *y = lua_tostring(L, -1);
            int same = x && y && strcmp(x, y) == 0;
            lua_pop(L, 1);
            if (same)
                return 1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* Pushes the event's values of label 'name': event.labels[name], else event[name]; returns
 * whether they are values (a string, a number or a list of them). */
static int push_event_values(lua_State *L, int ev, const char *name) {
    ev = lua_absindex(L, ev);
    if (lua_getfield(L, ev, "labels") == LUA_TTABLE) {
        if (lua_getfield(L, -1, name) != LUA_TNIL) {
            lua_remove(L, -2);
            return is_values(L, -1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_getfield(L, ev, name);
    return is_values(L, -1);
}

/* ---- One event ---------------------------------------------------------------------------- */

typedef struct ranked {
    double score, time, scope, kind, before;
    size_t index;
} ranked;

/* The stack of a ranking: 1 events, 2 onset, 3 scope, 4 opts, then the scope's label names,
 * the scores, the labels' matches and weights, the list returned; then, while an event is
 * scored or described, the event, and its item, reasons and matches. Every event is scored;
 * only those returned are described, for words cost more than numbers. */
enum { NAMES = 5, RANKED, MATCH, WEIGHT, OUT, EVENT, ITEM, REASONS, MATCHES };

/* Appends to the text 'buf' ('size' bytes, 'used' so far) as printf would; text that does not
 * fit is left out. */
static void append(char *buf, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, size_t *used, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (w > 0 && (size_t)w < size - *used)
        *used += (size_t)w;
    else
        buf[*used] = '\0';
}

/* The weight of scope label 'name': opts.weights[name], else 1. */
static double label_weight(lua_State *L, const char *name) {
    double w = 1;
    if (sdk__opt_push(L, 4, "weights") == LUA_TTABLE) {
        if (lua_getfield(L, -1, name) == LUA_TNUMBER)
            w = (double)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return w;
}

/* Compares the event at 'ev' with the scope: fills 'match' and 'weight' (one per scope label);
 * when 'describe', adds the scope's reason to the list at REASONS and the matches to the table
 * at MATCHES. */
static void compare_scope(lua_State *L, int ev, sdk_scope_match *match, double *weight,
                          int describe) {
    static const char *const words[] = {"mismatch", "unknown", "match"};
    char text[1024];
    size_t n = lua_rawlen(L, NAMES), used = 0;
    append(text, sizeof text, &used, "scope:");
    for (size_t i = 0; i < n; i++) {
        int base = lua_gettop(L);
        lua_rawgeti(L, NAMES, (lua_Integer)i + 1);
        const char *name = lua_tostring(L, -1);
        lua_getfield(L, 3, name);
        int has = push_event_values(L, ev, name), hit = has && overlap(L, -1, -2);
        match[i] = hit ? SDK_SCOPE_MATCH : has ? SDK_SCOPE_MISMATCH : SDK_SCOPE_UNKNOWN;
        weight[i] = label_weight(L, name);
        if (!describe) {
            lua_settop(L, base);
            continue;
        }
        append(text, sizeof text, &used, "%s %s", i ? "," : "", name);
        if (hit) {
            const char *value = lua_tostring(L, -1);
            append(text, sizeof text, &used, "=%.*s matches", rt_utf8_fit(value, 80), value);
        } else if (!has) {
            append(text, sizeof text, &used, " not given");
        } else {
            push_first(L, base + 2); /* the scope's */
            push_first(L, base + 3); /* the event's */
            const char *want = lua_tostring(L, -2), *got = lua_tostring(L, -1);
            append(text, sizeof text, &used, "=%.*s, not %.*s", rt_utf8_fit(got, 80), got,
                   rt_utf8_fit(want, 80), want);
        }
        lua_pushstring(L, words[match[i] + 1]);
        lua_setfield(L, MATCHES, name);
        lua_settop(L, base);
    }
    if (n == 0 || !describe)
        return;
    lua_pushstring(L, text);
    lua_rawseti(L, REASONS, (lua_Integer)lua_rawlen(L, REASONS) + 1);
}

/* Adds the reason of the event's time ('before' seconds before the onset) to REASONS. */
static void time_reason(lua_State *L, double time, double end, double before,
                        const sdk_events_opts *o) {
    char at[40], d[32], h[32];
    rt_time_format(time, at);
    rt_duration_format(fabs(before), d);
    rt_duration_format(o->horizon, h);
    if (before == 0 && !isnan(end) && end > time)
        lua_pushfstring(L, "at %s, still rolling out at the onset", at);
    else if (before == 0)
        lua_pushfstring(L, "at %s, at the onset", at);
    else if (before < -o->grace)
        lua_pushfstring(L, "at %s, %s after the onset", at, d);
    else if (before < 0)
        lua_pushfstring(L, "at %s, %s after the onset (within the grace for clocks)", at, d);
    else if (before > o->horizon)
        lua_pushfstring(L, "at %s, %s before the onset, past the %s horizon", at, d, h);
    else
        lua_pushfstring(L, "at %s, %s before the onset", at, d);
    lua_rawseti(L, REASONS, (lua_Integer)lua_rawlen(L, REASONS) + 1);
}

/* The kind's weight: opts.kinds[kind], else opts.kinds[canonical], else the default. When
 * 'describe', adds its reason to REASONS and sets the item's kind. */
static double kind_weight(lua_State *L, int describe) {
    char w[32];
    lua_getfield(L, EVENT, "kind");
    const char *raw = lua_tostring(L, -1), *canonical; /* the stack keeps raw */
    double weight = sdk_events_kind_weight(raw, &canonical);
    if (sdk__opt_push(L, 4, "kinds") == LUA_TTABLE) {
        int found = raw && lua_getfield(L, -1, raw) == LUA_TNUMBER;
        if (!found) {
            if (raw)
                lua_pop(L, 1);
            found = lua_getfield(L, -1, canonical) == LUA_TNUMBER;
        }
        if (found)
            weight = (double)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (!describe) {
        lua_pop(L, 1);
        return weight;
    }
    lua_pushfstring(L, "kind %s weighs %s", canonical, sdk__fmt_number(w, weight));
    lua_rawseti(L, REASONS, (lua_Integer)lua_rawlen(L, REASONS) + 1);
    lua_pushstring(L, canonical);
    lua_setfield(L, ITEM, "kind");
    lua_pop(L, 1);
    return weight;
}

/* Copies field 'name' of the event to the table on top when it is a string or a number. */
static void copy_field(lua_State *L, const char *name) {
    int type = lua_getfield(L, EVENT, name);
    if (type == LUA_TSTRING || type == LUA_TNUMBER)
        lua_setfield(L, -2, name);
    else
        lua_pop(L, 1);
}

/* Pushes the event as an item of an events evidence { time, kind, service, id, text }, the
 * text its score and reasons. */
static void push_evidence(lua_State *L, double time, double score) {
    char n[32];
    lua_createtable(L, 0, 5);
    lua_pushnumber(L, time);
    lua_setfield(L, -2, "time");
    lua_getfield(L, ITEM, "kind");
    lua_setfield(L, -2, "kind");
    copy_field(L, "service");
    copy_field(L, "id");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "score %s", sdk__fmt_number(n, score));
    luaL_addvalue(&b);
    for (size_t i = 1, m = lua_rawlen(L, REASONS); i <= m; i++) {
        luaL_addstring(&b, "; ");
        lua_rawgeti(L, REASONS, (lua_Integer)i);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_setfield(L, -2, "text");
}

static void set_number(lua_State *L, int idx, const char *name, double x) {
    lua_pushnumber(L, x);
    lua_setfield(L, idx, name);
}

/* Scores event 'i' (at EVENT) into 'r'. */
static void score_one(lua_State *L, size_t i, double onset, const sdk_events_opts *o, ranked *r) {
    double time = event_time(L, EVENT, i, "time", NAN);
    double end = event_time(L, EVENT, i, "end", INFINITY); /* absent: infinite, then NaN */
    end = isinf(end) ? NAN : end;
    r->before = sdk_events_before(onset, time, end);
    r->time = sdk_events_time_score(r->before, o);
    compare_scope(L, EVENT, lua_touserdata(L, MATCH), lua_touserdata(L, WEIGHT), 0);
    r->scope = sdk_events_scope_score(lua_touserdata(L, MATCH), lua_touserdata(L, WEIGHT),
                                      lua_rawlen(L, NAMES));
    r->kind = kind_weight(L, 0);
    r->score = r->time * r->scope * r->kind;
    r->index = i;
}

/* Pushes the item of the event scored 'r' (at EVENT): its scores, reasons and evidence. */
static void describe_one(lua_State *L, const ranked *r, double onset, const sdk_events_opts *o) {
    lua_createtable(L, 0, 12); /* ITEM */
    lua_newtable(L);           /* REASONS */
    lua_newtable(L);           /* MATCHES */
    double time = event_time(L, EVENT, r->index, "time", NAN);
    double end = event_time(L, EVENT, r->index, "end", INFINITY);
    end = isinf(end) ? NAN : end;
    (void)onset;
    time_reason(L, time, end, r->before, o);
    compare_scope(L, EVENT, lua_touserdata(L, MATCH), lua_touserdata(L, WEIGHT), 1);
    kind_weight(L, 1);
    lua_pushvalue(L, EVENT);
    lua_setfield(L, ITEM, "event");
    lua_getfield(L, EVENT, "id");
    lua_setfield(L, ITEM, "id");
    set_number(L, ITEM, "score", r->score);
    set_number(L, ITEM, "time_score", r->time);
    set_number(L, ITEM, "scope_score", r->scope);
    set_number(L, ITEM, "kind_score", r->kind);
    set_number(L, ITEM, "before", r->before);
    lua_setfield(L, ITEM, "scope"); /* MATCHES */
    push_evidence(L, time, r->score);
    lua_setfield(L, ITEM, "evidence");
    lua_setfield(L, ITEM, "reasons"); /* REASONS */
}

static int ranked_cmp(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (fabs(x->before) != fabs(y->before))
        return fabs(x->before) < fabs(y->before) ? -1 : 1;
    return x->index < y->index ? -1 : 1;
}

/* inquest.events.rank(events, onset, scope, opts): the events, likeliest trigger first. */
static int events_rank(lua_State *L) {
    check_events(L);
    double onset = (double)lua_tonumber(L, 2);
    if (lua_type(L, 2) != LUA_TNUMBER || !isfinite(onset))
        return luaL_error(L, FN ": onset must be a time (Unix seconds; got %s)",
                          luaL_typename(L, 2));
    check_scope(L);
    sdk__opts_check(L, 4, FN, rank_options);
    lua_settop(L, 4);
    sdk_events_opts o;
    o.half_life = sdk__opt_number(L, 4, FN, "half_life", 1800, 1e-3, 1e12);
    o.horizon = sdk__opt_number(L, 4, FN, "horizon", 86400, 0, 1e12);
    o.grace = sdk__opt_number(L, 4, FN, "grace", 60, 0, 1e12);
    check_weights(L, "kinds", 1);
    check_weights(L, "weights", 1000);
    lua_Integer top = sdk__opt_integer(L, 4, FN, "top", 10, 0, INT32_MAX);
    size_t n = lua_rawlen(L, 1);
    push_scope_names(L);
    size_t labels = lua_rawlen(L, NAMES);
    ranked *rk = lua_newuserdatauv(L, (n ? n : 1) * sizeof *rk, 0);
    lua_newuserdatauv(L, (labels + 1) * sizeof(sdk_scope_match), 0);
    lua_newuserdatauv(L, (labels + 1) * sizeof(double), 0);
    sdk_work w;
    sdk_work_lua(&w, L);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i); /* EVENT, where OUT will be */
        lua_pushnil(L);
        lua_insert(L, -2);
        score_one(L, i, onset, &o, &rk[i - 1]);
        lua_settop(L, WEIGHT);
        sdk_work_add(&w, 16 * (labels + 1));
    }
    qsort(rk, n, sizeof *rk, ranked_cmp);
    size_t keep = top == 0 || (size_t)top > n ? n : (size_t)top;
    lua_createtable(L, (int)keep, 3); /* OUT */
    for (size_t i = 0; i < keep; i++) {
        lua_rawgeti(L, 1, (lua_Integer)rk[i].index); /* EVENT */
        describe_one(L, &rk[i], onset, &o);
        lua_rawseti(L, OUT, (lua_Integer)i + 1);
        lua_settop(L, OUT);
    }
    lua_pushliteral(L, "events");
    lua_setfield(L, -2, "kind");
    lua_pushnumber(L, onset);
    lua_setfield(L, -2, "onset");
    if (lua_istable(L, 3)) {
        lua_pushvalue(L, 3);
        lua_setfield(L, -2, "scope");
    }
    return 1;
}

int sdk_events_open(lua_State *L) {
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, events_rank);
    lua_setfield(L, -2, "rank");
    return 1;
}
