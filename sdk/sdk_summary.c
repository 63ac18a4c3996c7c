/* sdk/sdk_summary.c -- plain-language summaries by deterministic templates (inquest.summary,
 * docs/sdk.md "Summary"): of a result, of findings and their evidence, and of the results of
 * sdk_dimensions.c, sdk_correlate.c and sdk_events.c. What the helpers share is
 * sdk_toolkit.c's.
 *
 * Design notes
 * - Every sentence cites what it rests on: series by their labels, the culprit's label values,
 *   a deploy by its kind and id, a log pattern by its text, with the numbers that made them
 *   stand out. Numbers are written by sdk__fmt_number, times in RFC 3339 UTC, durations as
 *   users write them ("4m"), so the same input gives the same text on every machine.
 * - The text is built in a fixed buffer and cut, at a character boundary and with "…", at
 *   SDK_SUMMARY_MAX bytes; quoted strings are cut at QUOTE_MAX bytes. Only the first few of
 *   anything are described (MAX_LISTED), the rest counted, so the work is small and bounded.
 * - Tables are read raw (no metamethods run); series and sets are asked for their evidence
 *   (__evidence), as a finding would. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk.h"
#include "sdk_series.h"
#include "sdk_summary.h"
#include "sdk_toolkit.h"

#define QUOTE_MAX  120 /* bytes of a quoted string */
#define MAX_LISTED 3   /* findings, items or evidence described; the rest are counted */
#define FN         "inquest.summary"

/* ---- Text ------------------------------------------------------------------------------- */

typedef struct text {
    char buf[SDK_SUMMARY_MAX + 1];
    size_t used;
    int full;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    char piece[1024];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    if (t->full || w < 0)
        return;
    size_t n = (size_t)w < sizeof piece ? (size_t)w
                                        : rt_utf8_cut(piece, sizeof piece - 1, sizeof piece - 1);
    size_t room = SDK_SUMMARY_MAX - strlen("…") - t->used;
    if (n > room) {
        n = rt_utf8_cut(piece, n, room);
        t->full = 1;
    }
    memcpy(t->buf + t->used, piece, n);
    t->used += n;
    if (t->full) {
        memcpy(t->buf + t->used, "…", strlen("…"));
        t->used += strlen("…");
    }
    t->buf[t->used] = '\0';
}

/* Appends 's' quoted, cut at QUOTE_MAX bytes with "…". */
static void put_quoted(text *t, const char *s) {
    int fit = rt_utf8_fit(s, QUOTE_MAX);
    put(t, "\"%.*s%s\"", fit, s, s[fit] ? "…" : "");
}

static void put_number(text *t, double x) {
    char n[32];
    put(t, "%s", sdk__fmt_number(n, x));
}

static void put_percent(text *t, double share) {
    char n[32];
    put(t, "%s%%", sdk__fmt_number(n, 100 * share));
}

static void put_time(text *t, double when) {
    char at[40];
    rt_time_format(when, at);
    put(t, "%s", at);
}

static void put_duration(text *t, double seconds) {
    char d[32];
    rt_duration_format(seconds, d);
    put(t, "%s", d);
}

/* ---- Reading tables raw ----------------------------------------------------------------- */

/* Pushes field 'name' of the table at 'idx' without metamethods (nil for a non-table); returns
 * its type. */
static int field(lua_State *L, int idx, const char *name) {
    if (!lua_istable(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    idx = lua_absindex(L, idx);
    lua_pushstring(L, name);
    return lua_rawget(L, idx);
}

/* Field 'name' as a string (NULL when not a string or number); the caller pops it. */
static const char *field_string(lua_State *L, int idx, const char *name) {
    int type = field(L, idx, name);
    return type == LUA_TSTRING || type == LUA_TNUMBER ? lua_tostring(L, -1) : NULL;
}

/* Field 'name' as a number, NaN when it is none. */
static double field_number(lua_State *L, int idx, const char *name) {
    double x = field(L, idx, name) == LUA_TNUMBER ? (double)lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    return x;
}

static size_t length(lua_State *L, int idx) {
    return lua_istable(L, idx) ? lua_rawlen(L, idx) : 0;
}

static int string_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the labels table at 'idx' as {name="value", …}, names sorted. */
static void put_labels(text *t, lua_State *L, int idx) {
    enum { MAX = 16 };
    const char *names[MAX];
    size_t n = 0, more = 0;
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) {
        put(t, "{}");
        return;
    }
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1))
        if (lua_type(L, -2) == LUA_TSTRING && n < MAX)
            names[n++] = lua_tostring(L, -2); /* the table keeps it */
        else
            more++;
    qsort(names, n, sizeof *names, string_cmp);
    put(t, "{");
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawget(L, idx);
        const char *v = lua_tostring(L, -1);
        put(t, "%s%s=", i ? ", " : "", names[i]);
        put_quoted(t, v ? v : "");
        lua_pop(L, 1);
    }
    put(t, "%s}", more ? ", …" : "");
}

/* Appends the name of the series (a series, or a table with labels) at 'idx'. */
static void put_series_name(text *t, lua_State *L, int idx) {
    if (sdk__series_test(L, idx))
        lua_getiuservalue(L, idx, 1);
    else
        field(L, idx, "labels");
    put_labels(t, L, -1);
    lua_pop(L, 1);
}

/* Appends " and N more 'what'(s)" when 'n' is more than what was listed ('what' NULL: " and N
 * more"; a 'what' ending in s takes no other). */
static void put_more(text *t, size_t n, size_t listed, const char *what) {
    if (n <= listed)
        return;
    int plural = what && n - listed > 1 && what[strlen(what) - 1] != 's';
    put(t, " and %zu more%s%s%s", n - listed, what ? " " : "", what ? what : "", plural ? "s" : "");
}

/* Appends the string 's' unquoted, cut at 80 bytes: ids, names, label values. */
static void put_name(text *t, const char *s) {
    int fit = rt_utf8_fit(s, 80);
    put(t, "%.*s%s", fit, s, s[fit] ? "…" : "");
}

/* ---- Evidence ---------------------------------------------------------------------------
 * Each function appends one evidence item (the table at 'idx', an absolute index) and leaves
 * the stack as it found it. */

/* The highest value of the points list at 'idx' ({ {t, v}, … }) and its time. */
static int peak(lua_State *L, int idx, double *v, double *at) {
    int found = 0;
    for (size_t i = 1, n = length(L, idx); i <= n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        if (lua_type(L, -1) == LUA_TNUMBER && lua_type(L, -2) == LUA_TNUMBER) {
            double x = (double)lua_tonumber(L, -1);
            if (!isnan(x) && (!found || x > *v)) {
                *v = x;
                *at = (double)lua_tonumber(L, -2);
                found = 1;
            }
        }
        lua_pop(L, 3);
    }
    return found;
}

/* Appends the item's title and ": ", when it has one. */
static void put_title(text *t, lua_State *L, int idx) {
    const char *title = field_string(L, idx, "title");
    if (title) {
        int fit = rt_utf8_fit(title, QUOTE_MAX);
        put(t, "%.*s%s: ", fit, title, title[fit] ? "…" : "");
    }
    lua_pop(L, 1);
}

static void timeseries_evidence(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L);
    double v = 0, at = 0;
    put_title(t, L, idx);
    field(L, idx, "series");
    size_t n = length(L, top + 1);
    lua_rawgeti(L, top + 1, 1);
    put(t, "series ");
    put_series_name(t, L, top + 2);
    put_more(t, n, n ? 1 : 0, "series");
    field(L, top + 2, "points");
    if (peak(L, top + 3, &v, &at)) {
        put(t, ", peak ");
        put_number(t, v);
        put(t, " at ");
        put_time(t, at);
    }
    lua_settop(L, top);
}

/* Appends an event's kind ('kind', or else the event's own) and id ("deploy 4711"), or its
 * kind and time when it has no id. */
static void put_event_name(text *t, lua_State *L, int idx, const char *kind) {
    int top = lua_gettop(L);
    const char *own = field_string(L, idx, "kind"), *id = field_string(L, idx, "id");
    double time = field_number(L, idx, "time");
    put_name(t, kind ? kind : own ? own : "event");
    if (id) {
        put(t, " ");
        put_name(t, id);
    } else if (!isnan(time)) {
        put(t, " at ");
        put_time(t, time);
    }
    lua_settop(L, top);
}

/* "deploy 4711 of checkout at T" */
static void put_event(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L);
    const char *kind = field_string(L, idx, "kind"), *id = field_string(L, idx, "id");
    const char *service = field_string(L, idx, "service");
    double time = field_number(L, idx, "time");
    put_name(t, kind ? kind : "event");
    if (id) {
        put(t, " ");
        put_name(t, id);
    }
    if (service) {
        put(t, " of ");
        put_name(t, service);
    }
    if (!isnan(time)) {
        put(t, " at ");
        put_time(t, time);
    }
    lua_settop(L, top);
}

static void events_evidence(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L), items = top + 1;
    put_title(t, L, idx);
    field(L, idx, "items");
    size_t n = length(L, items);
    for (size_t i = 1; i <= n && i <= MAX_LISTED; i++) {
        lua_rawgeti(L, items, (lua_Integer)i);
        put(t, "%s", i > 1 ? ", " : "");
        put_event(t, L, items + 1);
        lua_settop(L, items);
    }
    if (n == 0)
        put(t, "no events");
    put_more(t, n, MAX_LISTED, "event");
    lua_settop(L, top);
}

static void log_patterns_evidence(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L);
    put_title(t, L, idx);
    field(L, idx, "items");
    size_t n = length(L, top + 1);
    lua_rawgeti(L, top + 1, 1);
    const char *pattern = field_string(L, top + 2, "pattern");
    double count = field_number(L, top + 2, "count");
    put(t, "log pattern ");
    put_quoted(t, pattern ? pattern : "");
    if (!isnan(count)) {
        put(t, " (");
        put_number(t, count);
        put(t, " lines)");
    }
    put_more(t, n, n ? 1 : 0, "pattern");
    lua_settop(L, top);
}

/* Appends the table cell at 'idx': a number, a string or a boolean. */
static void put_cell(text *t, lua_State *L, int idx) {
    if (lua_type(L, idx) == LUA_TNUMBER)
        put_number(t, (double)lua_tonumber(L, idx));
    else if (lua_type(L, idx) == LUA_TSTRING)
        put(t, "%.*s", rt_utf8_fit(lua_tostring(L, idx), QUOTE_MAX), lua_tostring(L, idx));
    else if (lua_type(L, idx) == LUA_TBOOLEAN)
        put(t, "%s", lua_toboolean(L, idx) ? "true" : "false");
}

/* The first row: "title": column cell, column cell (1 of N rows). */
static void table_evidence(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L), columns = top + 1, rows = top + 2, row = top + 3;
    put_title(t, L, idx);
    field(L, idx, "columns");
    field(L, idx, "rows");
    size_t n = length(L, rows);
    lua_rawgeti(L, rows, 1);
    for (size_t c = 1, cols = length(L, columns); n && c <= cols && c <= 2 * MAX_LISTED; c++) {
        lua_rawgeti(L, columns, (lua_Integer)c);
        lua_rawgeti(L, row, (lua_Integer)c);
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        put(t, "%s%s ", c > 1 ? ", " : "", name);
        put_cell(t, L, -1);
        lua_pop(L, 2);
    }
    if (n)
        put(t, " (1 of %zu row%s)", n, n == 1 ? "" : "s");
    else
        put(t, "with no rows");
    lua_settop(L, top);
}

static void text_evidence(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L);
    put_title(t, L, idx);
    const char *body = field_string(L, idx, "text");
    body = body ? body : "";
    int fit = rt_utf8_fit(body, QUOTE_MAX);
    put(t, "%.*s%s", fit, body, body[fit] ? "…" : "");
    lua_settop(L, top);
}

/* Appends the evidence item at 'idx' (a table, or a value with __evidence). */
static void evidence(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx) || sdk__is_set(L, idx)) {
        if (luaL_callmeta(L, idx, "__evidence") && lua_istable(L, -1))
            evidence(t, L, -1);
        else
            put(t, "a %s", luaL_typename(L, idx));
        lua_settop(L, top);
        return;
    }
    const char *kind = field_string(L, idx, "kind");
    kind = kind ? kind : "";
    if (strcmp(kind, "timeseries") == 0)
        timeseries_evidence(t, L, idx);
    else if (strcmp(kind, "events") == 0)
        events_evidence(t, L, idx);
    else if (strcmp(kind, "log_patterns") == 0)
        log_patterns_evidence(t, L, idx);
    else if (strcmp(kind, "table") == 0)
        table_evidence(t, L, idx);
    else
        text_evidence(t, L, idx);
    lua_settop(L, top);
}

/* ---- Findings and results ---------------------------------------------------------------- */

static int severity_rank(const char *severity) {
    static const char *const order[] = {"info", "low", "medium", "high", "critical", NULL};
    for (int i = 0; severity && order[i]; i++)
        if (strcmp(order[i], severity) == 0)
            return i;
    return 2; /* medium, the default */
}

/* "Title (root cause bad_deploy, confidence 80%). Evidence: …; …." */
static void finding(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L);
    const char *title = field_string(L, idx, "title"), *cause = field_string(L, idx, "root_cause");
    double confidence = field_number(L, idx, "confidence");
    title = title ? title : "A finding";
    put(t, "%.*s", rt_utf8_fit(title, 200), title);
    if (cause || !isnan(confidence)) {
        put(t, " (");
        if (cause)
            put(t, "root cause %.*s%s", rt_utf8_fit(cause, QUOTE_MAX), cause,
                isnan(confidence) ? "" : ", ");
        if (!isnan(confidence))
            put(t, "confidence %.0f%%", 100 * confidence);
        put(t, ")");
    }
    put(t, ".");
    field(L, idx, "evidence");
    int list = lua_gettop(L);
    size_t n = length(L, list);
    for (size_t i = 1; i <= n && i <= MAX_LISTED; i++) {
        put(t, "%s", i == 1 ? " Evidence: " : "; ");
        lua_rawgeti(L, list, (lua_Integer)i);
        evidence(t, L, -1);
        lua_pop(L, 1);
    }
    if (n > MAX_LISTED)
        put(t, "; and %zu more item%s", n - MAX_LISTED, n - MAX_LISTED > 1 ? "s" : "");
    if (n)
        put(t, ".");
    lua_settop(L, top);
}

typedef struct order {
    int severity;
    double confidence;
    size_t index;
} order;

static int order_cmp(const void *a, const void *b) {
    const order *x = a, *y = b;
    if (x->severity != y->severity)
        return x->severity > y->severity ? -1 : 1;
    if (x->confidence != y->confidence)
        return x->confidence > y->confidence ? -1 : 1;
    return x->index < y->index ? -1 : 1;
}

/* The findings of the list at 'list', most severe and confident first, MAX_LISTED of them
 * described and the rest counted. */
static void findings(text *t, lua_State *L, int list) {
    size_t n = length(L, list);
    order *all = lua_newuserdatauv(L, (n ? n : 1) * sizeof *all, 0);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, list, (lua_Integer)i);
        all[i - 1].severity = severity_rank(field_string(L, -1, "severity"));
        lua_pop(L, 1);
        double c = field_number(L, -1, "confidence");
        all[i - 1].confidence = isnan(c) ? 0.5 : c;
        all[i - 1].index = i;
        lua_pop(L, 1);
    }
    qsort(all, n, sizeof *all, order_cmp);
    for (size_t i = 0; i < n && i < MAX_LISTED; i++) {
        put(t, "%s", t->used ? " " : "");
        lua_rawgeti(L, list, (lua_Integer)all[i].index);
        finding(t, L, lua_gettop(L));
        lua_pop(L, 1);
    }
    if (n > MAX_LISTED)
        put(t, " %zu more finding%s.", n - MAX_LISTED, n - MAX_LISTED == 1 ? "" : "s");
    lua_pop(L, 1);
}

/* "Root cause found: the summary. Finding. Finding." or "The analysis ended with timeout: …". */
static void result(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L);
    const char *status = field_string(L, idx, "status");
    if (status && strcmp(status, "ok") != 0) {
        field(L, idx, "errors");
        lua_rawgeti(L, -1, 1);
        const char *why = field_string(L, -1, "message");
        put(t, "The analysis ended with %.*s", rt_utf8_fit(status, 40), status);
        if (why)
            put(t, ": %.*s%s", rt_utf8_fit(why, 300), why, why[rt_utf8_fit(why, 300)] ? "…" : "");
        put(t, ".");
        lua_settop(L, top);
        return;
    }
    field(L, idx, "conclusion");
    const char *tag = field_string(L, -1, "tag"), *summary = field_string(L, -2, "summary");
    if (tag) {
        for (size_t i = 0; tag[i] && i < 60; i++)
            put(t, "%c",
                i == 0 && tag[i] >= 'a' && tag[i] <= 'z' ? tag[i] - 'a' + 'A'
                : tag[i] == '_'                          ? ' '
                                                         : tag[i]);
        if (summary && *summary) {
            int fit = rt_utf8_fit(summary, 600);
            put(t, ": %.*s%s", fit, summary, summary[fit] ? "…" : "");
        }
        if (t->used && t->buf[t->used - 1] != '.')
            put(t, ".");
    }
    field(L, idx, "findings");
    if (length(L, -1) == 0)
        put(t, "%sNo findings.", t->used ? " " : "");
    else
        findings(t, L, lua_gettop(L));
    lua_settop(L, top);
}

/* ---- Results of the toolkit --------------------------------------------------------------- */

/* A ratio with no traffic under it (0/0: a version deployed in the incident) has no value. */
static void put_value(text *t, double x, int as_percent) {
    if (isnan(x))
        put(t, "no traffic");
    else if (as_percent)
        put_percent(t, x);
    else
        put_number(t, x);
}

/* True when the labels of one of the items at 'a' and 'b' are all among the other's: one
 * refines the other, and naming both says little more than naming one. */
static int refines(lua_State *L, int a, int b) {
    int top = lua_gettop(L), yes = 0;
    field(L, a, "labels");
    field(L, b, "labels");
    for (int pass = 0; pass < 2 && !yes; pass++) {
        int x = top + 1 + pass, y = top + 2 - pass;
        yes = lua_istable(L, x) && lua_istable(L, y);
        for (lua_pushnil(L); yes && lua_next(L, x); lua_pop(L, 1)) {
            lua_pushvalue(L, -2);
            lua_rawget(L, y);
            yes = lua_rawequal(L, -1, -2);
            lua_pop(L, 1);
        }
        lua_settop(L, top + 2);
    }
    lua_settop(L, top);
    return yes;
}

/* The first item: where="…" explains P% of the change (from B to A[, on T% of the traffic]). */
static void put_culprit(text *t, lua_State *L, int item, int ratio, double change) {
    const char *where = field_string(L, item, "where");
    put(t, "%s explains ", where ? where : "?");
    put_percent(t, field_number(L, item, "explains"));
    put(t, " of the %s (from ", !ratio ? "change" : change > 0 ? "rise" : "fall");
    put_value(t, field_number(L, item, "baseline"), ratio);
    put(t, " to ");
    put_value(t, field_number(L, item, "incident"), ratio);
    if (ratio && !isnan(field_number(L, item, "traffic"))) {
        put(t, ", on ");
        put_percent(t, field_number(L, item, "traffic"));
        put(t, " of the traffic");
    }
    put(t, ")");
    lua_pop(L, 1);
}

/* The items after the first that explain at least a tenth and do not refine it. */
static void put_next_culprits(text *t, lua_State *L, int idx) {
    lua_rawgeti(L, idx, 1);
    int first = lua_gettop(L);
    for (size_t i = 2, listed = 1, n = length(L, idx); i <= n && listed < MAX_LISTED; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        double share = field_number(L, -1, "explains");
        if (share >= 0.1 && !refines(L, first, first + 1)) {
            const char *where = field_string(L, -1, "where");
            put(t, ", then %s (", where ? where : "?");
            put_percent(t, share);
            put(t, ")");
            lua_pop(L, 1);
            listed++;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void put_dimension_names(text *t, lua_State *L, int idx) {
    field(L, idx, "dimensions");
    for (size_t i = 1, n = length(L, -1); i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        put(t, "%s%s", i > 1 ? ", " : "",
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* "The metric went from B to A (+P%): where explains …, then …." */
static void dimensions_summary(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L), ratio = field(L, idx, "ratio") == LUA_TBOOLEAN && lua_toboolean(L, -1);
    int widespread = field(L, idx, "widespread") == LUA_TBOOLEAN && lua_toboolean(L, -1);
    double base = field_number(L, idx, "baseline"), change = field_number(L, idx, "change");
    const char *metric = field_string(L, idx, "metric");
    put(t, "%.*s", metric ? rt_utf8_fit(metric, QUOTE_MAX) : 1000,
        metric  ? metric
        : ratio ? "The ratio"
                : "The metric");
    if (isnan(change) || change == 0) {
        put(t, " did not change (");
        put_value(t, base, ratio);
        put(t, ").");
        lua_settop(L, top);
        return;
    }
    put(t, " went from ");
    put_value(t, base, ratio);
    put(t, " to ");
    put_value(t, field_number(L, idx, "incident"), ratio);
    if (!ratio && base != 0) {
        put(t, " (%s", change > 0 ? "+" : "");
        put_percent(t, change / fabs(base));
        put(t, ")");
    }
    if (widespread) {
        put(t, ", alike across ");
        put_dimension_names(t, L, idx);
        put(t, ": no label value explains it alone.");
    } else if (length(L, idx) == 0) {
        put(t, ": no label value explains it.");
    } else {
        put(t, ": ");
        lua_rawgeti(L, idx, 1);
        put_culprit(t, L, lua_gettop(L), ratio, change);
        put_next_culprits(t, L, idx);
        put(t, ".");
    }
    double mix = field_number(L, idx, "mix_effect");
    if (ratio && fabs(mix) >= 0.25 * fabs(change)) {
        put(t, " A shift of traffic between label values accounts for ");
        put_percent(t, mix / change);
        put(t, " of it.");
    }
    lua_settop(L, top);
}

/* "score S, same direction, leading by 3m" of the correlation item at 'item'. */
static void put_correlation(text *t, lua_State *L, int item) {
    const char *direction = field_string(L, item, "direction");
    double lag = field_number(L, item, "lag");
    put(t, "score ");
    put_number(t, field_number(L, item, "score"));
    if (direction && strcmp(direction, "none") != 0)
        put(t, ", %s direction", direction);
    if (lag > 0 || lag < 0) {
        put(t, lag > 0 ? ", leading by " : ", lagging by ");
        put_duration(t, fabs(lag));
    } else {
        put(t, ", no lag");
    }
    lua_pop(L, 1);
}

static void correlation_summary(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L);
    size_t n = length(L, idx);
    field(L, idx, "target");
    lua_rawgeti(L, idx, 1);
    int target = top + 1, first = top + 2;
    double best = field_number(L, first, "score");
    if (n == 0) {
        put(t, "No candidate series to compare with series ");
        put_series_name(t, L, target);
    } else if (!(best >= 0.5)) {
        put(t, "No candidate moved with series ");
        put_series_name(t, L, target);
        put(t, " around the onset; the closest is series ");
        put_series_name(t, L, first);
        put(t, " (score ");
        put_number(t, best);
        put(t, ")");
    } else {
        put(t, "Series ");
        put_series_name(t, L, target);
        for (size_t i = 1, listed = 0; i <= n && listed < MAX_LISTED; i++, listed++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            if (!(field_number(L, -1, "score") >= 0.5))
                break;
            put(t, i == 1 ? " moved with series " : ", then series ");
            put_series_name(t, L, -1);
            put(t, " (");
            put_correlation(t, L, lua_gettop(L));
            put(t, ")");
            lua_pop(L, 1);
        }
    }
    put(t, ".");
    lua_settop(L, top);
}

/* "deploy 4711 (score 0.9)" of the ranked event at 'item'. */
static void put_ranked_event(text *t, lua_State *L, int item) {
    const char *kind = field_string(L, item, "kind");
    field(L, item, "event");
    put_event_name(t, L, lua_gettop(L), kind);
    put(t, " (score ");
    put_number(t, field_number(L, item, "score"));
    put(t, ")");
    lua_pop(L, 2);
}

static void events_summary(text *t, lua_State *L, int idx) {
    int top = lua_gettop(L);
    size_t n = length(L, idx);
    lua_rawgeti(L, idx, 1);
    int first = top + 1;
    double best = field_number(L, first, "score");
    if (n == 0) {
        put(t, "No change event to rank.");
    } else if (!(best >= 0.1)) {
        put(t, "No change event stands out; the likeliest is ");
        put_ranked_event(t, L, first);
        put(t, ".");
    } else {
        put(t, "The likeliest trigger is ");
        put_ranked_event(t, L, first);
        field(L, first, "reasons");
        for (size_t i = 1, m = length(L, -1); i <= m; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i);
            const char *why = lua_tostring(L, -1);
            put(t, "%s%.*s", i == 1 ? ": " : "; ", rt_utf8_fit(why ? why : "", 300),
                why ? why : "");
            lua_pop(L, 1);
        }
        put(t, ".");
        for (size_t i = 2; i <= n && i <= MAX_LISTED; i++) {
            put(t, i == 2 ? " Next: " : ", ");
            lua_rawgeti(L, idx, (lua_Integer)i);
            put_ranked_event(t, L, lua_gettop(L));
            lua_pop(L, 1);
        }
        if (n >= 2)
            put(t, ".");
    }
    lua_settop(L, top);
}

/* ---- inquest.summary ------------------------------------------------------------------------ */

static int has(lua_State *L, int idx, const char *name) {
    int yes = field(L, idx, name) != LUA_TNIL;
    lua_pop(L, 1);
    return yes;
}

static int is_kind(const char *kind, const char *name) {
    return kind && strcmp(kind, name) == 0;
}

static void summarize(text *t, lua_State *L, int idx) {
    if (!lua_istable(L, idx) || sdk__is_set(L, idx)) {
        if (!luaL_getmetafield(L, idx, "__evidence"))
            luaL_error(L,
                       FN ": expects a result, a finding, a list of findings, a result of "
                          "the toolkit or an evidence item (got %s)",
                       luaL_typename(L, idx));
        lua_pop(L, 1);
        evidence(t, L, idx);
        return;
    }
    const char *kind = field_string(L, idx, "kind");
    int items = has(L, idx, "items");
    if (is_kind(kind, "dimensions"))
        dimensions_summary(t, L, idx);
    else if (is_kind(kind, "correlation"))
        correlation_summary(t, L, idx);
    else if (is_kind(kind, "events") && !items)
        events_summary(t, L, idx);
    else if (kind)
        evidence(t, L, idx);
    else if (has(L, idx, "status") || has(L, idx, "findings") || has(L, idx, "conclusion"))
        result(t, L, idx);
    else if (has(L, idx, "title"))
        finding(t, L, idx);
    else if (length(L, idx) == 0)
        put(t, "No findings.");
    else
        findings(t, L, idx);
    lua_pop(L, 1);
}

void sdk_summary_push(lua_State *L, int idx) {
    text *t = lua_newuserdatauv(L, sizeof *t, 0); /* 4 KiB: the state's, not the C stack's */
    t->used = 0;
    t->full = 0;
    t->buf[0] = '\0';
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 24, NULL);
    summarize(t, L, idx);
    lua_pushlstring(L, t->buf, t->used);
    lua_remove(L, -2);
}

int sdk_summary(lua_State *L) {
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    sdk_summary_push(L, 1);
    return 1;
}
