/* sdk/sdk_finding.c -- the table given to ctx:finding checked and converted to the JSON of a
 * finding, its evidence typed by kind and cut to the caps of docs/sdk.md ("Findings").
 * Free-form values (scalars, action arguments) are converted by sdk_json.c.
 *
 * Design notes
 * - What a finding may hold is data: tables of fields (name, converter, cap, what the items or
 *   fields of a nested value are, flags). One record converter, one list converter and one
 *   string converter serve every evidence kind; the kinds table says which fields each has.
 * - Only raw access reads analyzer values. The one metamethod called is __evidence, found with
 *   lua_getmetatable + lua_rawget.
 * - __evidence runs analyzer code, and Lua allocations may fail, so both may raise. The work
 *   runs in a protected call, and every JSON value is attached to its parent as soon as it is
 *   made, so on an error freeing the root frees everything; the error is then raised again
 *   (lua_error keeps a memory error a memory error).
 *   Problems with the finding itself are not raised: they come back as NULL and a reason.
 * - Reasons name the place: "at evidence[2].series[1].labels.env: must be a string (got
 *   table)". The place is a chain of steps on the C stack, written out only on an error.
 * - Fields are read in the order of their table, so that of two problems the same one is always
 *   reported; a missing required field is reported as an unknown one when a key is misspelt.
 * - The caps bound each list, but a table may sit in many places (twenty evidence items sharing
 *   one table of 200 rows sharing one row), and the JSON is made in host memory outside the
 *   analysis' budgets. So every value is counted as it is attached (put, or attach for a whole
 *   action's args), with the bytes of its strings, and a finding over MAX_VALUES or MAX_BYTES
 *   is an error. MAX_VALUES leaves room for a full timeseries item (20 series of 2,000 points:
 *   120,043 values). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk.h"

#define STRING_CAP (4 * 1024)        /* bytes of any string in evidence */
#define TEXT_CAP   (16 * 1024)       /* bytes of the text of a "text" item */
#define MAX_VALUES 200000            /* JSON values of one finding */
#define MAX_BYTES  (4 * 1024 * 1024) /* bytes of the strings and keys of one finding */

enum {
    F_REQUIRED = 1, /* absent (nil) is an error */
    F_LINE = 2,     /* a string that is one line and not empty */
    F_AT_MOST = 4   /* a list longer than the cap is an error, not cut */
};

typedef struct field field;
typedef struct cv cv;

/* Converts the value at 'idx' as 'f' says and stores it in 'into' under 'key', or appends it when
 * 'key' is NULL. Returns 0, or -1 with the reason in c->why. May leave values on the stack. */
typedef int (*conv_fn)(cv *c, int idx, const field *f, json_t *into, const char *key);

struct field {
    const char *name; /* NULL ends a table of fields */
    conv_fn conv;
    size_t cap;      /* bytes of a string (characters for cv_text), items of a list; 0: none */
    const field *of; /* the items of a list (one field), the fields of a record (a table) */
    unsigned flags;
};

#define MAX_FIELDS 8 /* of one record */

/* One step of the way from the finding to a value: a field name or a list index. */
typedef struct step {
    const struct step *up;
    const char *name; /* NULL: 'index' */
    lua_Integer index;
} step;

struct cv {
    lua_State *L;
    const step *at;
    int truncated; /* the evidence item being converted was cut to a cap */
    int rc;
    size_t values, bytes; /* in the finding so far: see MAX_VALUES, MAX_BYTES */
    json_t *root;         /* the finding, once made: freed by the caller when anything fails */
    char *why;
    size_t whylen;
};

/* ---- Errors ------------------------------------------------------------------------------- */

/* Writes the way to 's' ("evidence[2].labels") into 'out'; returns its length. */
static size_t step_format(const step *s, char *out, size_t size) {
    if (!s)
        return 0;
    size_t n = step_format(s->up, out, size);
    int w;
    if (n >= size)
        return n;
    if (s->name)
        w = snprintf(out + n, size - n, "%s%s", n ? "." : "", s->name);
    else
        w = snprintf(out + n, size - n, "[%lld]", (long long)s->index);
    return w < 0 ? n : n + (size_t)w;
}

/* Sets c->why to "at WHERE" JOINT MESSAGE, or MESSAGE alone at the finding itself. Analyzer
 * strings in it may not be UTF-8: they are repaired, and the text is cut to 'whylen' between
 * characters. Returns -1. */
static int set_why(cv *c, const char *where, const char *joint, const char *message) {
    char text[640]; /* "at ", a place (< 200), a joint and a message (< 320: fail, cv_args) */
    if (!c->whylen)
        return -1;
    snprintf(text, sizeof text, "%s%s%s%s", *where ? "at " : "", where, *where ? joint : "",
             message);
    c->why[rt_utf8_repair(text, strlen(text), c->why, c->whylen - 1)] = '\0';
    return -1;
}

/* Writes "at PLACE: message" into c->why; returns -1. */
static int fail(cv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cv *c, const char *fmt, ...) {
    char where[200] = "", message[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    step_format(c->at, where, sizeof where);
    return set_why(c, where, ": ", message);
}

/* Counts 'values' more values and 'bytes' more bytes of strings in the finding. */
static int count(cv *c, size_t values, size_t bytes) {
    c->values += values;
    c->bytes += bytes;
    if (c->values > MAX_VALUES)
        return fail(c, "more than %d values in one finding (shared or nested tables?)", MAX_VALUES);
    if (c->bytes > MAX_BYTES)
        return fail(c, "more than %d MiB of strings in one finding (shared or nested tables?)",
                    MAX_BYTES >> 20);
    return 0;
}

/* Stores 'v' (stolen; NULL means memory ran out), which holds 'values' values and 'bytes'
 * bytes of strings, in 'into' under 'key', or appends it; with no 'into', 'v' is the finding
 * itself. */
static int attach(cv *c, json_t *into, const char *key, json_t *v, size_t values, size_t bytes) {
    int rc = !v      ? -1
             : !into ? (c->root = v, 0)
             : key   ? json_object_set_new_nocheck(into, key, v)
                     : json_array_append_new(into, v);
    return rc < 0 ? fail(c, "out of memory") : count(c, values, bytes);
}

/* attach for one value: a container (its items are put one by one) or a scalar. */
static int put(cv *c, json_t *into, const char *key, json_t *v) {
    return attach(c, into, key, v, 1, json_is_string(v) ? json_string_length(v) : 0);
}

/* A scalar (nil, boolean, number, string) as JSON, by sdk_json.c's rules. */
static json_t *scalar(cv *c, int idx) {
    return sdk_lua_to_json(c->L, idx, c->why, c->whylen);
}

/* ---- Strings ------------------------------------------------------------------------------ */

/* Checks that the value at '*idx' is a string; a number is accepted and converted as tostring
 * does, on a new stack slot that '*idx' then names. */
static int string_arg(cv *c, int *idx) {
    lua_State *L = c->L;
    if (lua_type(L, *idx) == LUA_TSTRING)
        return 0;
    if (lua_type(L, *idx) != LUA_TNUMBER)
        return fail(c, "must be a string (got %s)", luaL_typename(L, *idx));
    lua_pushvalue(L, *idx);
    lua_tolstring(L, -1, NULL); /* converts the copy, never the analyzer's value */
    *idx = lua_gettop(L);
    return 0;
}

/* The string at 'idx' as JSON, invalid UTF-8 replaced and cut to 'cap' bytes (0: no cap) at a
 * character boundary; a cut marks the evidence item truncated. */
static json_t *capped_string(cv *c, int idx, size_t cap) {
    size_t len;
    const char *s = lua_tolstring(c->L, idx, &len);
    size_t n = cap ? rt_utf8_cut(s, len, cap) : len; /* cut first: the text may be megabytes */
    if (n < len) /* a copy the analysis' memory budget pays for (test_finding_out_of_memory) */
        s = lua_pushlstring(c->L, s, n);
    json_t *v = rt_json_text(s, n);
    size_t vlen = json_string_length(v);
    if (v && cap && vlen > cap) { /* replacements made it longer again */
        const char *r = json_string_value(v);
        json_t *w = json_stringn_nocheck(r, rt_utf8_cut(r, vlen, cap));
        json_decref(v);
        v = w;
    }
    if (n < len || (cap && vlen > cap))
        c->truncated = 1;
    return v;
}

/* Evidence strings: cut to the cap. */
static int cv_string(cv *c, int idx, const field *f, json_t *into, const char *key) {
    if (string_arg(c, &idx) < 0)
        return -1;
    return put(c, into, key, capped_string(c, idx, f->cap));
}

/* Strings of the finding itself: over the cap (in characters) is an error, not a cut. */
static int cv_text(cv *c, int idx, const field *f, json_t *into, const char *key) {
    if (string_arg(c, &idx) < 0)
        return -1;
    json_t *v = scalar(c, idx);
    if (!v)
        return fail(c, "out of memory");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), chars = rt_utf8_count(s, n);
    int too_long = f->cap && chars > f->cap;
    int not_line = (f->flags & F_LINE) && (n == 0 || memchr(s, '\n', n) || memchr(s, '\r', n));
    if (too_long || not_line)
        json_decref(v);
    if (too_long)
        return fail(c, "must be at most %zu characters (got %zu)", f->cap, chars);
    if (not_line)
        return fail(c, "must be one line of text, not empty");
    return put(c, into, key, v);
}

/* root_cause: a tag matching ^[a-z0-9_.-]+$. */
static int cv_tag(cv *c, int idx, const field *f, json_t *into, const char *key) {
    size_t n;
    const char *s = lua_type(c->L, idx) == LUA_TSTRING ? lua_tolstring(c->L, idx, &n) : NULL;
    if (!s || n == 0 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != n)
        return fail(c, "must match ^[a-z0-9_.-]+$ (got %s%.60s%s)", s ? "\"" : "",
                    s ? s : luaL_typename(c->L, idx), s ? "\"" : "");
    (void)f;
    return put(c, into, key, json_stringn_nocheck(s, n));
}

static int cv_severity(cv *c, int idx, const field *f, json_t *into, const char *key) {
    static const char *const levels[] = {"info", "low", "medium", "high", "critical"};
    const char *s = lua_type(c->L, idx) == LUA_TSTRING ? lua_tostring(c->L, idx) : NULL;
    (void)f;
    for (size_t i = 0; s && i < sizeof levels / sizeof *levels; i++)
        if (strcmp(s, levels[i]) == 0)
            return put(c, into, key, json_string_nocheck(levels[i]));
    return fail(c, "must be one of info, low, medium, high, critical (got %s%.60s%s)",
                s ? "\"" : "", s ? s : luaL_typename(c->L, idx), s ? "\"" : "");
}

/* ---- Numbers ------------------------------------------------------------------------------ */

/* True when the value at 'idx' is a finite number. */
static int finite_number(lua_State *L, int idx) {
    return lua_type(L, idx) == LUA_TNUMBER && isfinite((double)lua_tonumber(L, idx));
}

static int cv_number(cv *c, int idx, const field *f, json_t *into, const char *key) {
    (void)f;
    if (!finite_number(c->L, idx))
        return fail(c, "must be a finite number (got %s)", luaL_typename(c->L, idx));
    return put(c, into, key, scalar(c, idx));
}

static int cv_confidence(cv *c, int idx, const field *f, json_t *into, const char *key) {
    double d = lua_type(c->L, idx) == LUA_TNUMBER ? (double)lua_tonumber(c->L, idx) : NAN;
    if (!(d >= 0 && d <= 1)) {
        if (lua_type(c->L, idx) == LUA_TNUMBER)
            return fail(c, "must be a number from 0 to 1 (got %g)", d);
        return fail(c, "must be a number from 0 to 1 (got %s)", luaL_typename(c->L, idx));
    }
    return cv_number(c, idx, f, into, key);
}

/* ---- Lists and records -------------------------------------------------------------------- */

static const field *field_find(const field *fields, const char *name) {
    for (; fields->name; fields++)
        if (strcmp(fields->name, name) == 0)
            return fields;
    return NULL;
}

/* The field named exactly by the 'len' bytes at 'name', or NULL. */
static const field *field_named(const field *fields, const char *name, size_t len) {
    for (; fields->name; fields++)
        if (fields->name[0] == name[0] && strlen(fields->name) == len &&
            memcmp(fields->name, name, len) == 0)
            return fields;
    return NULL;
}

/* Reports the keys of the table at 'idx' that are not among 'fields', the smallest few in byte
 * order so that the message does not depend on the order of the table. Returns -1 when there
 * are such keys, 0 when there are none. */
static int unknown_fields(cv *c, int idx, const field *fields) {
    lua_State *L = c->L;
    enum { MAX = 6 };
    const char *names[MAX];
    size_t n = 0, more = 0;
    int unnamed = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            unnamed = 1;
            continue;
        }
        const char *name = lua_tostring(L, -1); /* lives as long as the table holds the key */
        if (field_find(fields, name))
            continue;
        size_t i = n;
        if (n < MAX)
            n++;
        else if (more++, strcmp(name, names[MAX - 1]) < 0)
            i = MAX - 1; /* the largest kept gives way */
        else
            continue;
        for (; i > 0 && strcmp(name, names[i - 1]) < 0; i--)
            names[i] = names[i - 1];
        names[i] = name;
    }
    if (n == 0 && !unnamed)
        return 0;
    char list[200] = "", known[200] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(list + used, used < sizeof list ? sizeof list - used : 0,
                                 "%s'%.40s'", i ? ", " : "", names[i]);
    used = 0;
    for (const field *g = fields; g->name; g++)
        used += (size_t)snprintf(known + used, used < sizeof known ? sizeof known - used : 0,
                                 "%s%s", g == fields ? "" : ", ", g->name);
    if (n == 0)
        return fail(c, "every value must be given as name = value (fields: %s)", known);
    if (more)
        return fail(c, "unknown fields %s and %zu more (fields: %s)", list, more, known);
    return fail(c, "unknown field%s %s (fields: %s)", n > 1 ? "s" : "", list, known);
}

/* A table with named fields, each converted as its entry in f->of says. One pass over the
 * table keeps the value of each field on the stack; then the fields are converted in the order
 * of their table. */
static int cv_record(cv *c, int idx, const field *f, json_t *into, const char *key) {
    lua_State *L = c->L;
    if (lua_type(L, idx) != LUA_TTABLE)
        return fail(c, "must be a table (got %s)", luaL_typename(L, idx));
    json_t *out = json_object();
    if (put(c, into, key, out) < 0)
        return -1;
    int top = lua_gettop(L), at[MAX_FIELDS] = {0}, rc = 0;
    size_t nkeys = 0, found = 0;
    luaL_checkstack(L, MAX_FIELDS + 8, "finding nested too deeply"); /* values, and some more */
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t len = 0;
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
        const field *g = name ? field_named(f->of, name, len) : NULL;
        nkeys++;
        if (g) {
            lua_insert(L, -2); /* the value stays, below the key that lua_next goes on with */
            at[g - f->of] = lua_gettop(L) - 1;
            found++;
        } else {
            lua_pop(L, 1);
        }
    }
    int base = lua_gettop(L);
    for (const field *g = f->of; g->name && rc == 0; g++) {
        step s = {c->at, g->name, 0};
        c->at = &s;
        if (at[g - f->of])
            rc = g->conv(c, at[g - f->of], g, out, g->name);
        else if (g->flags & F_REQUIRED) {
            c->at = s.up;
            rc = unknown_fields(c, idx, f->of);
            c->at = &s;
            rc = rc < 0 ? rc : fail(c, "is required");
        }
        c->at = s.up;
        lua_settop(L, base);
    }
    lua_settop(L, top);
    if (rc == 0 && nkeys != found)
        rc = unknown_fields(c, idx, f->of);
    return rc;
}

/* A sequence, each item converted as f->of says, cut to f->cap items (F_AT_MOST: longer is an
 * error). */
static int cv_list(cv *c, int idx, const field *f, json_t *into, const char *key) {
    lua_State *L = c->L;
    if (lua_type(L, idx) != LUA_TTABLE)
        return fail(c, "must be a list (got %s)", luaL_typename(L, idx));
    lua_Unsigned n = lua_rawlen(L, idx);
    if (n == 0 && (lua_pushnil(L), lua_next(L, idx))) /* { kind = … } for { { kind = … } } */
        return fail(c, "must be a list { … }, not a table with named fields");
    if ((f->flags & F_AT_MOST) && n > f->cap)
        return fail(c, "must have at most %zu items (got %llu)", f->cap, (unsigned long long)n);
    json_t *out = json_array();
    if (put(c, into, key, out) < 0)
        return -1;
    if (f->cap && n > f->cap) {
        n = f->cap;
        c->truncated = 1;
    }
    int top = lua_gettop(L), rc = 0;
    step s = {c->at, NULL, 0};
    c->at = &s;
    for (lua_Unsigned i = 1; i <= n && rc == 0; i++) {
        s.index = (lua_Integer)i;
        lua_rawgeti(L, idx, s.index);
        rc = f->of->conv(c, top + 1, f->of, out, NULL);
        lua_settop(L, top);
    }
    c->at = s.up;
    return rc;
}

/* ---- Evidence values ---------------------------------------------------------------------- */

/* labels = { name = value }: strings (or numbers), names and values cut to the cap. */
static int cv_labels(cv *c, int idx, const field *f, json_t *into, const char *key) {
    lua_State *L = c->L;
    if (lua_type(L, idx) != LUA_TTABLE)
        return fail(c, "must be a table of names to strings (got %s)", luaL_typename(L, idx));
    json_t *out = json_object();
    if (put(c, into, key, out) < 0)
        return -1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int k = lua_gettop(L) - 1, rc;
        if (lua_type(L, k) != LUA_TSTRING)
            return fail(c, "label names must be strings (got %s)", luaL_typename(L, k));
        step s = {c->at, lua_tostring(L, k), 0};
        json_t *name = capped_string(c, k, f->cap);
        c->at = &s;
        if (!name)
            rc = fail(c, "out of memory");
        else if ((rc = count(c, 0, json_string_length(name))) == 0) /* the name is a key */
            rc = cv_string(c, k + 1, f, out, json_string_value(name));
        c->at = s.up;
        json_decref(name);
        if (rc < 0)
            return -1;
        lua_settop(L, k); /* the key, for lua_next */
    }
    return 0;
}

/* points = { { t, v }, … }: t a number, v a number or nil (NaN and nil become null). */
static int cv_point(cv *c, int idx, const field *f, json_t *into, const char *key) {
    lua_State *L = c->L;
    (void)f;
    if (lua_type(L, idx) != LUA_TTABLE)
        return fail(c, "must be a pair { t, v } (got %s)", luaL_typename(L, idx));
    json_t *out = json_array();
    if (put(c, into, key, out) < 0)
        return -1;
    lua_rawgeti(L, idx, 1);
    lua_rawgeti(L, idx, 2);
    if (!finite_number(L, -2))
        return fail(c, "t must be a finite number (got %s)", luaL_typename(L, -2));
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TNUMBER)
        return fail(c, "v must be a number or nil (got %s)", luaL_typename(L, -1));
    if (put(c, out, NULL, scalar(c, -2)) < 0)
        return -1;
    return put(c, out, NULL, scalar(c, -1));
}

/* A cell of a table: a string (cut to the cap), a number, a boolean or nil. */
static int cv_cell(cv *c, int idx, const field *f, json_t *into, const char *key) {
    switch (lua_type(c->L, idx)) {
    case LUA_TSTRING:
        return cv_string(c, idx, f, into, key);
    case LUA_TNUMBER:
    case LUA_TBOOLEAN:
    case LUA_TNIL:
        return put(c, into, key, scalar(c, idx));
    }
    return fail(c, "a cell must be a string, number or boolean (got %s)", luaL_typename(c->L, idx));
}

/* Adds to '*values' and '*bytes' the values in 'v' and the bytes of their strings and keys, as
 * sdk_lua_to_json counted them when it made 'v' (its nesting is bounded there). */
static void weigh(const json_t *v, size_t *values, size_t *bytes) {
    json_t *j = (json_t *)v; /* jansson's iterators take non-const pointers */
    ++*values;
    if (json_is_string(j))
        *bytes += json_string_length(j);
    else if (json_is_array(j))
        for (size_t i = 0; i < json_array_size(j); i++)
            weigh(json_array_get(j, i), values, bytes);
    else if (json_is_object(j))
        for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it)) {
            *bytes += json_object_iter_key_len(it);
            weigh(json_object_iter_value(it), values, bytes);
        }
}

/* Action arguments: any table sdk_lua_to_json accepts that becomes an object. Its reason
 * ("at x.y: …", or a bare message) is placed under ours. */
static int cv_args(cv *c, int idx, const field *f, json_t *into, const char *key) {
    char inner[256];
    (void)f;
    if (lua_type(c->L, idx) != LUA_TTABLE)
        return fail(c, "must be a table of names to values (got %s)", luaL_typename(c->L, idx));
    json_t *v = sdk_lua_to_json(c->L, idx, inner, sizeof inner);
    if (json_is_array(v)) {
        json_decref(v);
        return fail(c, "must be a table of names to values, not a list");
    }
    if (v) {
        size_t values = 0, bytes = 0;
        weigh(v, &values, &bytes);
        return attach(c, into, key, v, values, bytes);
    }
    if (strncmp(inner, "at ", 3) != 0)
        return fail(c, "%s", inner);
    char where[200] = ""; /* OURS then THEIRS: "at actions[1].args" ".x.y: …" */
    step_format(c->at, where, sizeof where);
    return set_why(c, where, inner[3] == '[' ? "" : ".", inner + 3);
}

/* ---- Evidence kinds ----------------------------------------------------------------------- */

static const field point = {"point", cv_point, 0, NULL, 0};
static const field series_fields[] = {
    {"labels", cv_labels, STRING_CAP, NULL, 0},
    {"points", cv_list, 2000, &point, F_REQUIRED},
    {NULL, NULL, 0, NULL, 0},
};
static const field series = {"series", cv_record, 0, series_fields, 0};
static const field timeseries[] = {
    {"kind", cv_string, STRING_CAP, NULL, F_REQUIRED},
    {"title", cv_string, STRING_CAP, NULL, 0},
    {"unit", cv_string, STRING_CAP, NULL, 0},
    {"series", cv_list, 20, &series, F_REQUIRED},
    {NULL, NULL, 0, NULL, 0},
};

static const field event_fields[] = {
    {"time", cv_number, 0, NULL, F_REQUIRED},    {"kind", cv_string, STRING_CAP, NULL, 0},
    {"service", cv_string, STRING_CAP, NULL, 0}, {"id", cv_string, STRING_CAP, NULL, 0},
    {"text", cv_string, STRING_CAP, NULL, 0},    {NULL, NULL, 0, NULL, 0},
};
static const field event = {"event", cv_record, 0, event_fields, 0};
static const field events[] = {
    {"kind", cv_string, STRING_CAP, NULL, F_REQUIRED},
    {"title", cv_string, STRING_CAP, NULL, 0},
    {"items", cv_list, 200, &event, F_REQUIRED},
    {NULL, NULL, 0, NULL, 0},
};

static const field pattern_fields[] = {
    {"pattern", cv_string, STRING_CAP, NULL, F_REQUIRED},
    {"count", cv_number, 0, NULL, F_REQUIRED},
    {"sample", cv_string, STRING_CAP, NULL, 0},
    {NULL, NULL, 0, NULL, 0},
};
static const field pattern = {"pattern", cv_record, 0, pattern_fields, 0};
static const field log_patterns[] = {
    {"kind", cv_string, STRING_CAP, NULL, F_REQUIRED},
    {"title", cv_string, STRING_CAP, NULL, 0},
    {"items", cv_list, 100, &pattern, F_REQUIRED},
    {NULL, NULL, 0, NULL, 0},
};

static const field column = {"column", cv_string, STRING_CAP, NULL, 0};
static const field cell = {"cell", cv_cell, STRING_CAP, NULL, 0};
static const field row = {"row", cv_list, 20, &cell, 0};
static const field table[] = {
    {"kind", cv_string, STRING_CAP, NULL, F_REQUIRED},
    {"title", cv_string, STRING_CAP, NULL, 0},
    {"columns", cv_list, 20, &column, F_REQUIRED},
    {"rows", cv_list, 200, &row, F_REQUIRED},
    {NULL, NULL, 0, NULL, 0},
};

static const field text[] = {
    {"kind", cv_string, STRING_CAP, NULL, F_REQUIRED},
    {"title", cv_string, STRING_CAP, NULL, 0},
    {"text", cv_string, TEXT_CAP, NULL, F_REQUIRED},
    {NULL, NULL, 0, NULL, 0},
};

static const struct kind {
    const char *name;
    const field *fields;
} kinds[] = {
    {"timeseries", timeseries}, {"events", events}, {"log_patterns", log_patterns},
    {"table", table},           {"text", text},
};
#define NKINDS (sizeof kinds / sizeof *kinds)

/* Reports the kind on top of the stack as unknown, listing the known ones. */
static int unknown_kind(cv *c) {
    const char *name = lua_type(c->L, -1) == LUA_TSTRING ? lua_tostring(c->L, -1) : NULL;
    char known[100] = "";
    size_t used = 0;
    for (size_t i = 0; i < NKINDS; i++)
        used += (size_t)snprintf(known + used, used < sizeof known ? sizeof known - used : 0,
                                 "%s%s", i ? ", " : "", kinds[i].name);
    step s = {c->at, "kind", 0};
    c->at = &s;
    if (name)
        fail(c, "unknown kind \"%.60s\" (kinds: %s)", name, known);
    else
        fail(c, "%s (kinds: %s)", lua_isnil(c->L, -1) ? "is required" : "must be a string", known);
    c->at = s.up;
    return -1;
}

/* An evidence item: a table with a kind, or a table or userdata (the SDK's series) whose
 * metatable's __evidence makes one. */
static int cv_evidence(cv *c, int idx, const field *f, json_t *into, const char *key) {
    lua_State *L = c->L;
    (void)f;
    int type = lua_type(L, idx);
    if ((type == LUA_TTABLE || type == LUA_TUSERDATA) && lua_getmetatable(L, idx)) {
        lua_pushliteral(L, "__evidence");
        if (lua_rawget(L, -2) == LUA_TFUNCTION) {
            lua_pushvalue(L, idx);
            lua_call(L, 1, 1); /* analyzer code: may raise (see the design notes) */
            idx = lua_gettop(L);
        }
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        return fail(c, "must be a table with a kind (got %s)", luaL_typename(L, idx));
    lua_pushliteral(L, "kind");
    const char *name = lua_rawget(L, idx) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    const struct kind *k = NULL;
    for (size_t i = 0; name && !k && i < NKINDS; i++)
        k = strcmp(name, kinds[i].name) == 0 ? &kinds[i] : NULL;
    if (!k)
        return unknown_kind(c);
    field item = {"evidence", cv_record, 0, k->fields, 0};
    c->truncated = 0;
    if (cv_record(c, idx, &item, into, key) < 0)
        return -1;
    if (c->truncated)
        return put(c, json_array_get(into, json_array_size(into) - 1), "truncated", json_true());
    return 0;
}

/* ---- Findings ----------------------------------------------------------------------------- */

static const field evidence_item = {"evidence", cv_evidence, 0, NULL, 0};
static const field action_fields[] = {
    {"type", cv_text, 0, NULL, F_REQUIRED | F_LINE},
    {"args", cv_args, 0, NULL, 0},
    {"description", cv_text, 0, NULL, 0},
    {NULL, NULL, 0, NULL, 0},
};
static const field action = {"action", cv_record, 0, action_fields, 0};
static const field finding_fields[] = {
    {"title", cv_text, 200, NULL, F_REQUIRED | F_LINE},
    {"summary", cv_text, 4000, NULL, 0},
    {"root_cause", cv_tag, 0, NULL, 0},
    {"severity", cv_severity, 0, NULL, 0},
    {"confidence", cv_confidence, 0, NULL, 0},
    {"evidence", cv_list, 20, &evidence_item, F_AT_MOST},
    {"actions", cv_list, 20, &action, F_AT_MOST},
    {NULL, NULL, 0, NULL, 0},
};
static const field finding = {"finding", cv_record, 0, finding_fields, 0};
_Static_assert(sizeof finding_fields / sizeof finding_fields[0] - 1 <= MAX_FIELDS,
               "the finding is the largest record: MAX_FIELDS is too small");

/* Runs protected: (cv *, finding table). */
static int finding_protected(lua_State *L) {
    cv *c = lua_touserdata(L, 1); /* each record makes room on the stack for its own work */
    c->rc = finding.conv(c, 2, &finding, NULL, NULL);
    json_t *out = c->root;
    if (c->rc == 0 && !json_object_get(out, "severity"))
        c->rc = put(c, out, "severity", json_string_nocheck("medium"));
    if (c->rc == 0 && !json_object_get(out, "confidence"))
        c->rc = put(c, out, "confidence", json_real(0.5));
    if (c->rc == 0 && !json_object_get(out, "evidence"))
        c->rc = put(c, out, "evidence", json_array());
    if (c->rc == 0 && !json_object_get(out, "actions"))
        c->rc = put(c, out, "actions", json_array());
    return 0;
}

/* Errors raised by __evidence (or by a Lua allocation failing) are raised again, after the
 * partial JSON is freed; everything else wrong comes back as NULL and 'why'. */
json_t *sdk_finding_to_json(lua_State *L, int idx, char *why, size_t whylen) {
    cv c = {.L = L, .why = why, .whylen = whylen};
    if (!lua_checkstack(L, 3)) {
        fail(&c, "out of memory");
        return NULL;
    }
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, finding_protected);
    lua_pushlightuserdata(L, &c);
    lua_pushvalue(L, idx);
    int status = lua_pcall(L, 2, 0, 0);
    if (status != LUA_OK || c.rc != 0) {
        json_decref(c.root);
        c.root = NULL;
    }
    if (status != LUA_OK)
        lua_error(L);
    return c.root;
}
