/* sdk/sdk_types.c -- inquest.types: the input types analyzers declare (t.string{…}, t.list{…}),
 * checked when the analyzer loads; the validation that turns raw inputs (typed on the command
 * line or sent as JSON) into typed Lua values; and the input schema for `describe` and JSON
 * Schema. Durations and times are parsed by runtime/rt_time.c; the analyzer definition lives in
 * sdk_module.c. */

/* Design notes.
 *
 * A type value is a Lua table { kind = "string", <options as written> } whose metatable is the
 * shared, protected type metatable: Lua code may read it, and the metatable cannot be taken to
 * forge a type. What validation reads is the type's *spec*: a C struct in a userdata, built once
 * by the constructor and found through a weak-keyed registry table (type table -> spec userdata).
 * The spec is authoritative: editing the table afterwards changes nothing. A spec's user values
 * keep alive what its pointers point into: 1 the item spec (t.list, t.map), 2 the pattern or the
 * enum values, 3 the description.
 *
 * Constructors run for every type of every analysis (each analysis is a fresh state), so they
 * read the options table in one pass (lua_next) that also copies it into the type value, keeping
 * each option's value on the stack, and then check the options in a fixed order. The registry
 * objects are found by address keys (lua_rawgetp), never by name; the constructors are light C
 * functions, allocated nowhere; only a spec that owns JSON (a default) gets a metatable, whose
 * __gc frees it, so the others cost no finalizer when the state closes.
 *
 * One table, 'kinds', drives the three jobs: each kind names its options (with how to read them
 * and their JSON Schema keyword), its converter, and its JSON Schema type. Constructors, the
 * describe output and JSON Schema loop over the option table; only conversion is per kind.
 *
 * Every raw value is a json_t: a string as a user typed it, or a typed JSON value. Defaults are
 * kept as the JSON of what the analyzer wrote and go through the same converters as user values,
 * once with now = 0 when the analyzer loads (to report bad defaults) and again for each analysis.
 *
 * Compiled PCRE2 patterns are cached process-wide by their text (bounded; flushed when full),
 * because validation runs for every analysis; specs hold the text, never a pointer into the
 * cache, so a flush can never leave one dangling. Not thread-safe: one thread per process. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <pcre2.h>
#include "sdk_internal.h"

#define MAX_DEPTH       8   /* t.list{ t.map{ … } } nesting */
#define MAX_INPUTS      256 /* inputs of one analyzer */
#define MAX_ENUM_VALUES 1000
#define MAX_PATTERN     4096 /* bytes of a pattern */
#define FIELD_MAX       200  /* bytes of a field path shown in a problem ("tags[2]") */
#define SHOW_MAX        60   /* bytes of a user's value or a pattern shown in a problem */
#define LIST_MAX        1000 /* default 'max' of t.list */
#define MAP_MAX         100  /* default 'max' of t.map */
#define STRING_MAX      4096 /* default 'max_length' of t.string */
#define RE_SLOTS        512  /* pattern cache: a power of two, twice RE_MAX */
#define RE_MAX          256

/* What getmetatable() and tostring() show of a type value. */
#define TYPE_NAME "inquest.type"

/* Registry keys: the addresses are unique in the process. */
static const char specs_key = 's';   /* the weak-keyed table type value -> spec */
static const char type_mt_key = 't'; /* the metatable of type values */
static const char spec_mt_key = 'g'; /* the metatable of specs that own JSON (their __gc) */
static const char box_mt_key = 'b';  /* the metatable of boxes (their __gc) */
static const char outside_key = 'o'; /* the head of the list of what holds JSON (outside_link) */

/* ---- specs and kinds ------------------------------------------------------------------------ */

typedef struct kind kind;
typedef struct vctx vctx;

/* A place in the state's list of the specs and boxes that hold JSON outside the state's memory,
 * for a host that drops the state without lua_close, which runs no __gc (sdk_release_outside).
 * 'prev' is NULL when it is not in the list. */
typedef struct outside {
    struct outside *prev, *next;
    void (*release)(struct outside *);
} outside;

typedef struct spec {
    outside outside; /* first: a spec is its place in the list */
    const kind *kind;
    json_t *def;             /* owned: the default as the analyzer wrote it, or NULL */
    rt_diag problems;        /* owned while check_default() runs, so that a raise cannot leak it */
    const struct spec *item; /* t.list, t.map: the type of items (user value 1) */
    const char *text;        /* t.string: the pattern; t.enum: the values, NUL after each (uv 2) */
    size_t text_len;
    uint32_t text_hash;     /* of the pattern, for the cache */
    int nvalues;            /* t.enum */
    const char *descr;      /* or NULL (user value 3) */
    int optional, depth;    /* depth: 0 for a scalar, 1 + the item's for t.list and t.map */
    int has_min, has_max;   /* the bounds below are set */
    lua_Integer imin, imax; /* t.int, and the counts: string length, list items, map entries */
    double min, max;        /* t.number, t.duration (seconds) */
    char written[2][32];    /* t.duration: min and max as the analyzer wrote them ("24h") */
} spec;

/* How an option's value is read, shown and compared. */
enum how { OPT_COUNT, OPT_INT, OPT_NUMBER, OPT_DURATION, OPT_PATTERN };

typedef struct option {
    const char *name;
    enum how how;
    int is_max;             /* sets the upper bound (else the lower one) */
    const char *schema_key; /* its JSON Schema keyword */
} option;

/* What a kind takes by position: t.enum{ "a", "b" }, t.list{ ITEM }, t.map{ VALUE }. */
enum positional { POS_NONE, POS_VALUES, POS_ITEM, POS_ENTRY };

/* Converts 'raw' for type 's': pushes the typed value and returns 0, or records a problem and
 * returns -1 with nothing pushed. */
typedef int (*convert_fn)(vctx *v, const spec *s, const json_t *raw);

struct kind {
    const char *name;
    const option *options; /* ends with { NULL } */
    lua_Integer default_max;
    enum positional positional;
    convert_fn convert;
    const char *json_types;   /* the JSON Schema "type": one name, or two separated by a space */
    const char *json_pattern; /* the JSON Schema "pattern" of the text form, or NULL */
    const char *json_hint;    /* added to the description in JSON Schema, or NULL */
};

/* The options every kind takes. A constructor keeps the value of option i of this list in
 * slot i, and that of the kind's own option j in slot NCOMMON + j. */
enum { C_DESCRIPTION, C_DEFAULT, C_OPTIONAL, C_REQUIRED, NCOMMON };
static const char *const common_options[] = {"description", "default", "optional", "required",
                                             NULL};
#define MAX_KIND_OPTIONS 3 /* options of one kind, besides the common ones */
#define NSLOTS           (NCOMMON + MAX_KIND_OPTIONS)

/* ---- small helpers -------------------------------------------------------------------------- */

/* After vsnprintf() returned 'n' for 'out' ('size' bytes): when the text was cut, cuts it at a
 * character boundary rather than inside one. */
static void fit_cut(char *out, int n, size_t size) {
    if (n >= 0 && (size_t)n >= size)
        out[rt_utf8_cut(out, size - 1, size - 4)] = '\0';
}

/* Writes 's' ('len' bytes) to 'out' ('size' bytes, at least SHOW_MAX * 4 + 8) for a message:
 * at most SHOW_MAX bytes of it, quoted when 'quoted', with quotes, backslashes and control
 * characters escaped so a terminal shows them harmlessly, and every byte of text that is not
 * UTF-8 escaped too, which tells more than the U+FFFD rt_diag_add would put in its place. */
static const char *show(const char *s, size_t len, int quoted, char *out, size_t size) {
    int valid = rt_utf8_valid(s, len);
    size_t fit = valid ? rt_utf8_cut(s, len, SHOW_MAX) : len < SHOW_MAX ? len : SHOW_MAX, n = 0;
    if (quoted)
        out[n++] = '"';
    for (size_t i = 0; i < fit && n + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f || (!valid && c >= 0x80))
            n += (size_t)snprintf(out + n, size - n, c == '"' || c == '\\' ? "\\%c" : "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    snprintf(out + n, size - n, "%s%s", fit < len ? "..." : "", quoted ? "\"" : "");
    return out;
}

/* A raw value as the user gave it, for "(got …)". 'out' holds 256 bytes. */
static const char *show_raw(const json_t *raw, char *out) {
    switch (json_typeof(raw)) {
    case JSON_STRING:
        return show(json_string_value(raw), json_string_length(raw), 1, out, 256);
    case JSON_INTEGER:
        snprintf(out, 256, "%lld", (long long)json_integer_value(raw));
        return out;
    case JSON_REAL:
        snprintf(out, 256, "%.15g", json_real_value(raw));
        return out;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    case JSON_ARRAY:
        return "a list";
    case JSON_OBJECT:
        return "an object";
    }
    return "?";
}

/* The text of a string raw value, or NULL when it is not a string or holds a NUL byte (which C
 * parsers would silently stop at). */
static const char *raw_text(const json_t *raw) {
    const char *s = json_string_value(raw);
    return s && strlen(s) == json_string_length(raw) ? s : NULL;
}

/* A JSON number as plain decimal text (no exponent; |x| < 1e15), so that the text parsers of
 * runtime/rt_time.c decide the bounds of numbers too. 'out' holds 48 bytes. */
static const char *number_text(double x, char *out) {
    int n = snprintf(out, 48, "%.9f", x + 0.0); /* + 0.0: -0 prints as 0 */
    while (n > 1 && out[n - 1] == '0')
        out[--n] = '\0';
    if (out[n - 1] == '.')
        out[n - 1] = '\0';
    return out;
}

static void push_seconds(lua_State *L, double x) {
    /* Integral values as integers, so the JSON of the inputs shows 3600 and not 3600.0. */
    if (x == floor(x) && fabs(x) < 9007199254740992.0)
        lua_pushinteger(L, (lua_Integer)x);
    else
        lua_pushnumber(L, x);
}

/* A JSON value holder with __gc: what is built from input while Lua may raise (out of memory)
 * is parked in one, so a raise cannot leak it. */
typedef struct box {
    outside outside; /* first, as in a spec */
    json_t *j;
} box;

/* Puts 'o' in the state's list (its head made by sdk__types_push, so that the engine's images of
 * a fresh state hold it). */
static void outside_link(lua_State *L, outside *o, void (*release)(outside *)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &outside_key);
    outside *head = lua_touserdata(L, -1);
    lua_pop(L, 1);
    o->release = release;
    o->prev = head;
    o->next = head->next;
    if (o->next)
        o->next->prev = o;
    head->next = o;
}

static void outside_unlink(outside *o) {
    if (!o->prev)
        return;
    o->prev->next = o->next;
    if (o->next)
        o->next->prev = o->prev;
    o->prev = o->next = NULL;
}

void sdk_release_outside(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &outside_key) == LUA_TUSERDATA) {
        outside *head = lua_touserdata(L, -1);
        while (head->next) {
            outside *o = head->next;
            outside_unlink(o);
            o->release(o);
        }
    }
    lua_pop(L, 1);
}

static void box_release(outside *o) {
    box *b = (box *)o;
    json_decref(b->j);
    b->j = NULL;
}

static int box_gc(lua_State *L) {
    box *b = lua_touserdata(L, 1); /* only boxes have this private metatable */
    outside_unlink(&b->outside);
    box_release(&b->outside);
    return 0;
}

/* Pushes a new, empty box. Its metatable is made on first use: most analyzers need no box. */
static box *box_push(lua_State *L) {
    box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &box_mt_key) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &box_mt_key);
    }
    lua_setmetatable(L, -2);
    outside_link(L, &b->outside, box_release);
    return b;
}

/* ---- pattern cache -------------------------------------------------------------------------- */

typedef struct re_slot {
    char *text; /* owned; NULL for an empty slot */
    size_t len;
    uint32_t hash;
    pcre2_code *code; /* owned */
} re_slot;

static re_slot re_cache[RE_SLOTS];
static int re_count;
static pcre2_match_data *re_data;       /* reused by every match: one thread per process */
static pcre2_match_context *re_context; /* the limits that keep a hostile pattern from hanging */

static uint32_t re_hash(const char *text, size_t len) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 16777619u;
    return h;
}

static void re_flush(void) {
    for (int i = 0; i < RE_SLOTS; i++) {
        free(re_cache[i].text);
        pcre2_code_free(re_cache[i].code);
        re_cache[i] = (re_slot){0};
    }
    re_count = 0;
}

/* The compiled pattern 'text', compiled and cached on first use; NULL with PCRE2's error code in
 * '*err' and the offset in '*off' when it does not compile. */
static const pcre2_code *re_get(const char *text, size_t len, uint32_t hash, int *err,
                                size_t *off) {
    size_t i = hash & (RE_SLOTS - 1);
    for (; re_cache[i].text; i = (i + 1) & (RE_SLOTS - 1))
        if (re_cache[i].hash == hash && re_cache[i].len == len &&
            memcmp(re_cache[i].text, text, len) == 0)
            return re_cache[i].code;
    PCRE2_SIZE offset = 0;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)text, len, PCRE2_UTF, err, &offset, NULL);
    if (!code) {
        *off = offset;
        return NULL;
    }
    if (re_count >= RE_MAX) {
        re_flush();
        i = hash & (RE_SLOTS - 1);
    }
    re_cache[i].text = memcpy(rt_xmalloc(len + 1), text, len);
    re_cache[i].text[len] = '\0';
    re_cache[i].len = len;
    re_cache[i].hash = hash;
    re_cache[i].code = code;
    re_count++;
    return code;
}

/* Matches 'subject' against the pattern of 's'. Returns 1 on a match, 0 when there is none, or
 * a negative PCRE2 error code (over the limits, a pattern that no longer compiles). */
static int re_match(const spec *s, const char *subject, size_t len) {
    int err = 0;
    size_t off = 0;
    const pcre2_code *code = re_get(s->text, s->text_len, s->text_hash, &err, &off);
    if (!code)
        return err < 0 ? err : PCRE2_ERROR_INTERNAL;
    if (!re_data) {
        re_data = pcre2_match_data_create(1, NULL);
        re_context = pcre2_match_context_create(NULL);
        if (!re_data || !re_context)
            abort(); /* bookkeeping: a few bytes, once */
        pcre2_set_match_limit(re_context, 100000);
        pcre2_set_depth_limit(re_context, 10000);
        pcre2_set_heap_limit(re_context, 8192); /* KiB */
    }
    int rc = pcre2_match(code, (PCRE2_SPTR)subject, len, 0, 0, re_data, re_context);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : rc;
}

/* ---- conversion of raw values --------------------------------------------------------------- */

struct vctx {
    lua_State *L;
    rt_diag *d;
    double now;
    int clock_reads;       /* times read against 'now' so far ("now-1h") */
    size_t flen;           /* length of 'field' */
    char field[FIELD_MAX]; /* the path of the value at hand: "tags[2]", "labels.env" */
};

/* Records a problem about the value at hand, followed by " (got …)" when 'raw' is not NULL.
 * Returns -1, the converters' failure. */
static int reject(vctx *v, const json_t *raw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reject(vctx *v, const json_t *raw, const char *fmt, ...) {
    char message[400], got[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fit_cut(message, n, sizeof message);
    if (raw)
        rt_diag_add(v->d, NULL, 0, v->flen ? v->field : NULL, "%s (got %s)", message,
                    show_raw(raw, got));
    else
        rt_diag_add(v->d, NULL, 0, v->flen ? v->field : NULL, "%s", message);
    return -1;
}

/* Appends "[i]" or ".key" (or "key" at the top) to the field path; returns the old length for
 * field_pop(). A path too long to show is cut at a character boundary. */
static size_t field_push(vctx *v, const char *key, size_t len, lua_Integer index) {
    size_t old = v->flen;
    char num[24];
    if (!key) {
        len = (size_t)snprintf(num, sizeof num, "[%lld]", (long long)index);
        key = num;
    } else if (old && old + 1 < sizeof v->field) {
        v->field[v->flen++] = '.';
    }
    size_t add = rt_utf8_cut(key, len, sizeof v->field - 1 - v->flen);
    memcpy(v->field + v->flen, key, add);
    v->flen += add;
    v->field[v->flen] = '\0';
    return old;
}

static void field_pop(vctx *v, size_t old) {
    v->flen = old;
    v->field[old] = '\0';
}

static int convert(vctx *v, const spec *s, const json_t *raw) {
    if (!s || !lua_checkstack(v->L, 8))
        return reject(v, NULL, s ? "is nested too deeply" : "has an invalid type");
    return s->kind->convert(v, s, raw);
}

/* Shows the bound of option 'o' of 's' in 'out' (48 bytes) as a user writes it. */
static const char *bound_text(const spec *s, enum how how, int is_max, char *out) {
    double x = is_max ? s->max : s->min;
    lua_Integer i = is_max ? s->imax : s->imin;
    if (how == OPT_DURATION && s->written[is_max][0])
        return s->written[is_max];
    if (how == OPT_DURATION)
        rt_duration_format(x, out);
    else if (how == OPT_NUMBER)
        snprintf(out, 48, "%.15g", x);
    else
        snprintf(out, 48, "%lld", (long long)i);
    return out;
}

/* Checks 'x' (or 'i' for counts and integers) against the bounds of 's'. Counts are of 'one'
 * or 'many' ("character(s)", "item(s)"): of a string's characters when 'raw' is a string, else
 * of items. Returns 0 or -1 after recording the problem. */
static int check_bounds(vctx *v, const spec *s, const json_t *raw, enum how how, double x,
                        lua_Integer i, const char *one, const char *many) {
    char b[48];
    int exact = how == OPT_COUNT || how == OPT_INT;
    int low = s->has_min && (exact ? i < s->imin : x < s->min);
    int high = s->has_max && (exact ? i > s->imax : x > s->max);
    if (!low && !high)
        return 0;
    lua_Integer bound = low ? s->imin : s->imax;
    if (how != OPT_COUNT)
        return reject(v, raw, "must be at %s %s", low ? "least" : "most",
                      bound_text(s, how, high, b));
    /* Counts: say how many there are rather than echo a long value. */
    if (!json_is_string(raw))
        return reject(v, NULL, "must have at %s %lld %s (got %lld)", low ? "least" : "most",
                      (long long)bound, bound == 1 ? one : many, (long long)i);
    return reject(v, raw, "must be at %s %lld %s long", low ? "least" : "most", (long long)bound,
                  bound == 1 ? one : many);
}

static int conv_string(vctx *v, const spec *s, const json_t *raw) {
    if (!json_is_string(raw))
        return reject(v, raw, "must be a string");
    const char *str = json_string_value(raw);
    size_t len = json_string_length(raw);
    if (check_bounds(v, s, raw, OPT_COUNT, 0, (lua_Integer)rt_utf8_count(str, len), "character",
                     "characters") < 0)
        return -1;
    char shown[256];
    int rc = s->text ? re_match(s, str, len) : 1;
    if (rc == 0)
        return reject(v, raw, "must match %s", show(s->text, s->text_len, 0, shown, 256));
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
        return reject(v, raw, "must match %s, which took too long to decide (PCRE2 limit)",
                      show(s->text, s->text_len, 0, shown, 256));
    if (rc < 0)
        return reject(v, raw, "cannot be matched against %s (PCRE2 error %d)",
                      show(s->text, s->text_len, 0, shown, 256), rc);
    lua_pushlstring(v->L, str, len);
    return 0;
}

/* "-12", "+7", "42": an integer in decimal, nothing else. */
static int parse_int(const char *s, lua_Integer *out) {
    int neg = *s == '-';
    unsigned long long u = 0, limit = neg ? 9223372036854775808ull : 9223372036854775807ull;
    s += *s == '-' || *s == '+';
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || u > (limit - (unsigned)(*s - '0')) / 10)
            return 0;
        u = u * 10 + (unsigned)(*s - '0');
    }
    *out = neg ? (lua_Integer)(0 - u) : (lua_Integer)u;
    return 1;
}

static int conv_int(vctx *v, const spec *s, const json_t *raw) {
    lua_Integer i = 0;
    double x = json_real_value(raw);
    const char *text = raw_text(raw);
    if (json_is_integer(raw))
        i = json_integer_value(raw);
    else if (json_is_real(raw) && x == floor(x) && fabs(x) < 9007199254740992.0)
        i = (lua_Integer)x; /* 5.0 from a JSON writer that knows no integers */
    else if (!text || !parse_int(text, &i))
        return reject(v, raw, "must be an integer");
    if (check_bounds(v, s, raw, OPT_INT, 0, i, NULL, NULL) < 0)
        return -1;
    lua_pushinteger(v->L, i);
    return 0;
}

/* A number as JSON writes one ("-1.5e3"; also ".5"), then strtod (in the C locale, which
 * Inquest never changes). Refuses hex, "inf", "nan", spaces and anything after. */
static int parse_number(const char *s, double *out) {
    const char *p = s;
    int digits = 0;
    p += *p == '-' || *p == '+';
    for (; *p >= '0' && *p <= '9'; p++)
        digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (digits && (*p == 'e' || *p == 'E')) {
        p += 1 + (p[1] == '-' || p[1] == '+');
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (!digits || *p || p - s > 64)
        return 0;
    *out = strtod(s, NULL);
    return isfinite(*out);
}

static int conv_number(vctx *v, const spec *s, const json_t *raw) {
    double x = json_number_value(raw);
    const char *text = raw_text(raw);
    if (!json_is_number(raw) && (!text || !parse_number(text, &x)))
        return reject(v, raw, "must be a number");
    if (check_bounds(v, s, raw, OPT_NUMBER, x, 0, NULL, NULL) < 0)
        return -1;
    lua_pushnumber(v->L, x);
    return 0;
}

static int conv_bool(vctx *v, const spec *s, const json_t *raw) {
    static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};
    const char *text = raw_text(raw);
    int b = json_is_true(raw) ? 1 : json_is_false(raw) ? 0 : -1;
    for (int i = 0; text && b < 0 && i < 3; i++)
        b = strcmp(text, yes[i]) == 0 ? 1 : strcmp(text, no[i]) == 0 ? 0 : -1;
    (void)s;
    if (b < 0)
        return reject(v, raw, "must be true or false");
    lua_pushboolean(v->L, b);
    return 0;
}

/* "a, b, c" from the enum values of 's', bounded, into 'out' (400 bytes). */
static const char *enum_list(const spec *s, char *out) {
    size_t n = 0;
    const char *p = s->text;
    out[0] = '\0';
    for (int i = 0; p && i < s->nvalues; i++, p += strlen(p) + 1) {
        size_t len = strlen(p);
        if (n + len + 8 > 400) {
            snprintf(out + n, 400 - n, ", ...");
            break;
        }
        n += (size_t)snprintf(out + n, 400 - n, "%s%s", i ? ", " : "", p);
    }
    return out;
}

static int conv_enum(vctx *v, const spec *s, const json_t *raw) {
    const char *text = raw_text(raw);
    const char *p = s->text;
    for (int i = 0; p && text && i < s->nvalues; i++, p += strlen(p) + 1)
        if (strcmp(p, text) == 0) {
            lua_pushstring(v->L, p);
            return 0;
        }
    char list[400];
    return reject(v, raw, "must be one of %s", enum_list(s, list));
}

static int conv_duration(vctx *v, const spec *s, const json_t *raw) {
    char why[128], buf[48];
    double x = json_number_value(raw);
    const char *text = raw_text(raw);
    if (json_is_number(raw)) {
        if (!(x >= 0))
            return reject(v, raw, "must not be negative");
        if (x >= 1e15)
            return reject(v, raw, "is too large for a duration");
        text = number_text(x, buf);
    } else if (!text) {
        return reject(v, raw, "must be a duration like \"30m\" or a number of seconds");
    }
    double parsed = 0;
    if (rt_duration_parse(text, &parsed, why) < 0)
        return reject(v, NULL, "%s", why);
    if (!json_is_number(raw)) /* a number keeps its exact value; its text only checked bounds */
        x = parsed;
    if (check_bounds(v, s, raw, OPT_DURATION, x, 0, NULL, NULL) < 0)
        return -1;
    push_seconds(v->L, x);
    return 0;
}

static int conv_time(vctx *v, const spec *s, const json_t *raw) {
    char why[128], buf[48];
    double x = json_number_value(raw);
    const char *text = raw_text(raw);
    (void)s;
    if (json_is_number(raw)) {
        if (!(fabs(x) < 1e15))
            return reject(v, raw, "is outside the years 0001 to 9999");
        text = number_text(x, buf);
    } else if (!text) {
        return reject(v, raw, "must be a time like \"2026-11-21T12:00:00Z\" or \"now-1h\"");
    }
    double parsed = 0;
    if (rt_time_parse(text, v->now, &parsed, why) < 0)
        return reject(v, NULL, "%s", why);
    v->clock_reads += rt_time_relative(text);
    push_seconds(v->L, json_is_number(raw) ? x : parsed);
    return 0;
}

/* Counts the pieces of "a,b,c" ("" has none). */
static lua_Integer count_pieces(const char *text, const char *end) {
    lua_Integer n = text < end;
    for (; text < end && (text = memchr(text, ',', (size_t)(end - text))); text++)
        n++;
    return n;
}

/* One piece of "a,b,c" or "k=v,k2=v2" ('text' to 'stop'), trimmed of spaces, into 'c'. Returns
 * 0, or -1 after recording a problem. */
static int add_piece(vctx *v, json_t *c, int is_map, const char *text, const char *stop) {
    const char *eq = is_map ? memchr(text, '=', (size_t)(stop - text)) : NULL;
    const char *key = text, *kend = eq ? eq : text, *val = eq ? eq + 1 : text, *vend = stop;
    while (key < kend && *key == ' ')
        key++;
    while (kend > key && kend[-1] == ' ')
        kend--;
    while (val < vend && *val == ' ')
        val++;
    while (vend > val && vend[-1] == ' ')
        vend--;
    if (is_map && (!eq || kend == key || kend - key > 255)) {
        json_t *piece = json_stringn(text, (size_t)(stop - text));
        reject(v, piece,
               eq && kend > key ? "has a key longer than 255 bytes"
                                : "must be key=value pairs separated by commas");
        json_decref(piece);
        return -1;
    }
    char name[256], shown[256];
    snprintf(name, sizeof name, "%.*s", (int)(kend - key), key);
    if (is_map && json_object_get(c, name))
        return reject(v, NULL, "has the key %s twice", show(name, strlen(name), 1, shown, 256));
    json_t *item = json_stringn(val, (size_t)(vend - val));
    return is_map ? json_object_set_new(c, name, item) : json_array_append_new(c, item);
}

/* On the command line a list is "a,b,c" (pieces trimmed of spaces; "" is none) or JSON "[…]",
 * and a map "k=v,k2=v2" or JSON "{…}". Parses the string 'raw' into 'b'. Returns 0; 1 when some
 * pieces had problems (recorded; the others are in 'b'); -1 when nothing is usable. */
static int split_text(vctx *v, const spec *s, const json_t *raw, box *b) {
    int is_map = s->kind->positional == POS_ENTRY, bad = 0;
    const char *text = json_string_value(raw), *end = text + json_string_length(raw);
    while (text < end && *text == ' ')
        text++;
    if (text < end && *text == (is_map ? '{' : '[')) {
        json_error_t e;
        char shown[256]; /* jansson may cut a character of the input in two in its message */
        b->j = json_loadb(text, (size_t)(end - text), is_map ? JSON_REJECT_DUPLICATES : 0, &e);
        return b->j ? 0
                    : reject(v, raw, "is not valid JSON: %s",
                             show(e.text, strlen(e.text), 0, shown, 256));
    }
    /* Count first: a string of a million commas must not become a million JSON strings. */
    if (check_bounds(v, s, NULL, OPT_COUNT, 0, count_pieces(text, end), is_map ? "entry" : "item",
                     is_map ? "entries" : "items") < 0)
        return -1;
    if (!(b->j = is_map ? json_object() : json_array()))
        abort(); /* bookkeeping: a few bytes */
    while (text < end) {
        const char *comma = memchr(text, ',', (size_t)(end - text)), *stop = comma ? comma : end;
        bad |= add_piece(v, b->j, is_map, text, stop) < 0;
        text = comma ? comma + 1 : end;
    }
    return bad;
}

/* Converts the JSON array or object 'c' (from 'raw') item by item, so that every bad item is
 * reported. */
static int fill_container(vctx *v, const spec *s, const json_t *c, const json_t *raw) {
    int is_map = s->kind->positional == POS_ENTRY, rc = 0;
    lua_State *L = v->L;
    const char *key;
    json_t *item;
    size_t i;
    if (is_map ? !json_is_object(c) : !json_is_array(c))
        return reject(v, raw, is_map ? "must be a map" : "must be a list");
    lua_Integer n = (lua_Integer)(is_map ? json_object_size(c) : json_array_size(c));
    if (check_bounds(v, s, NULL, OPT_COUNT, 0, n, is_map ? "entry" : "item",
                     is_map ? "entries" : "items") < 0)
        return -1;
    lua_createtable(L, is_map ? 0 : (int)n, is_map ? (int)n : 0);
    if (is_map) {
        json_object_foreach((json_t *)c, key, item) {
            size_t old = field_push(v, key, strlen(key), 0);
            if (convert(v, s->item, item) == 0)
                lua_setfield(L, -2, key);
            else
                rc = -1;
            field_pop(v, old);
        }
    } else {
        json_array_foreach(c, i, item) {
            size_t old = field_push(v, NULL, 0, (lua_Integer)i + 1);
            if (convert(v, s->item, item) == 0)
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            else
                rc = -1;
            field_pop(v, old);
        }
    }
    if (rc < 0)
        lua_pop(L, 1);
    return rc;
}

/* t.list and t.map: a JSON array or object, or its command line text. */
static int conv_container(vctx *v, const spec *s, const json_t *raw) {
    if (!json_is_string(raw))
        return fill_container(v, s, raw, raw);
    box *b = box_push(v->L); /* holds the parsed text while Lua may raise */
    int bad = split_text(v, s, raw, b);
    int rc = bad < 0 ? -1 : fill_container(v, s, b->j, raw);
    if (rc == 0 && bad) {
        lua_pop(v->L, 1);
        rc = -1;
    }
    json_decref(b->j);
    b->j = NULL;
    lua_remove(v->L, rc == 0 ? -2 : -1);
    return rc;
}

/* ---- the kinds ------------------------------------------------------------------------------ */

/* For JSON Schema: a decimal number, and a duration as rt_duration_parse() reads one. */
#define NUM "[0-9]+(\\.[0-9]+)?"
#define DUR "((?=[0-9])(" NUM "w)?(" NUM "d)?(" NUM "h)?(" NUM "m)?(" NUM "s)?(" NUM "ms)?|" NUM ")"

static const option string_options[] = {
    {"min_length", OPT_COUNT, 0, "minLength"},
    {"max_length", OPT_COUNT, 1, "maxLength"},
    {"pattern", OPT_PATTERN, 0, "pattern"},
    {NULL, OPT_COUNT, 0, NULL},
};
static const option int_options[] = {
    {"min", OPT_INT, 0, "minimum"}, {"max", OPT_INT, 1, "maximum"}, {NULL, OPT_COUNT, 0, NULL}};
static const option number_options[] = {
    {"min", OPT_NUMBER, 0, "minimum"},
    {"max", OPT_NUMBER, 1, "maximum"},
    {NULL, OPT_COUNT, 0, NULL},
};
static const option duration_options[] = {
    {"min", OPT_DURATION, 0, "minimum"},
    {"max", OPT_DURATION, 1, "maximum"},
    {NULL, OPT_COUNT, 0, NULL},
};
static const option list_options[] = {{"min", OPT_COUNT, 0, "minItems"},
                                      {"max", OPT_COUNT, 1, "maxItems"},
                                      {NULL, OPT_COUNT, 0, NULL}};
static const option map_options[] = {{"max", OPT_COUNT, 1, "maxProperties"},
                                     {NULL, OPT_COUNT, 0, NULL}};
static const option no_options[] = {{NULL, OPT_COUNT, 0, NULL}};
_Static_assert(sizeof string_options / sizeof string_options[0] - 1 <= MAX_KIND_OPTIONS,
               "a constructor keeps each option in a slot: MAX_KIND_OPTIONS is too small");

enum { K_STRING, K_INT, K_NUMBER, K_BOOL, K_ENUM, K_DURATION, K_TIME, K_LIST, K_MAP, NKINDS };

static const kind kinds[NKINDS] = {
    [K_STRING] = {"string", string_options, STRING_MAX, POS_NONE, conv_string, "string", NULL,
                  NULL},
    [K_INT] = {"int", int_options, 0, POS_NONE, conv_int, "integer", NULL, NULL},
    [K_NUMBER] = {"number", number_options, 0, POS_NONE, conv_number, "number", NULL, NULL},
    [K_BOOL] = {"bool", no_options, 0, POS_NONE, conv_bool, "boolean", NULL, NULL},
    [K_ENUM] = {"enum", no_options, 0, POS_VALUES, conv_enum, "string", NULL, NULL},
    [K_DURATION] = {"duration", duration_options, 0, POS_NONE, conv_duration, "string number",
                    "^" DUR "$",
                    "A duration: 90s, 30m, 1h30m, 2d, 500ms (units ms s m h d w, largest first), "
                    "or a number of seconds."},
    [K_TIME] = {"time", no_options, 0, POS_NONE, conv_time, "string number",
                "^(now([+-]" DUR ")?|-?" NUM "|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:"
                "[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))$",
                "A time: RFC 3339 (2026-11-21T12:00:00Z, 2026-11-21T14:00:00+02:00), Unix "
                "seconds, now, now-1h or now+5m."},
    [K_LIST] = {"list", list_options, LIST_MAX, POS_ITEM, conv_container, "array", NULL, NULL},
    [K_MAP] = {"map", map_options, MAP_MAX, POS_ENTRY, conv_container, "object", NULL, NULL},
};

/* ---- constructors: t.string{…} and the others --------------------------------------------- */

/* Reports a definition problem as "t.<kind>: <message>" at the analyzer's line. May raise. */
static void def_problem(lua_State *L, const kind *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void def_problem(lua_State *L, const kind *k, const char *fmt, ...) {
    char message[460];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fit_cut(message, n, sizeof message);
    sdk_problem(L, NULL, "t.%s: %s", k->name, message);
}

static void spec_release(outside *o) {
    spec *s = (spec *)o;
    json_decref(s->def);
    s->def = NULL;
    rt_diag_free(&s->problems);
}

static int spec_gc(lua_State *L) {
    spec *s = lua_touserdata(L, 1); /* only specs have this private metatable */
    outside_unlink(&s->outside);
    spec_release(&s->outside);
    return 0;
}

/* The spec of the type at 'idx', or NULL when it is not a type. 'specs' is the index of the
 * registry's type -> spec table. */
static const spec *spec_at(lua_State *L, int specs, int idx) {
    if (!lua_istable(L, idx))
        return NULL;
    lua_pushvalue(L, idx);
    lua_rawget(L, specs);
    const spec *s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return s;
}

/* Pushes the registry's type -> spec table (nil before sdk__types_push). */
static int push_specs(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &specs_key);
    return lua_gettop(L);
}

/* What one pass over the options table found. */
typedef struct scan {
    int at[NSLOTS];          /* the stack index of each option's value (see common_options) */
    int nstray, nunknown;    /* positional values the kind does not take; unknown names */
    const char *unknown[16]; /* the first unknown names; they live on in the options table */
} scan;

/* True when the string 'a' is exactly the 'len' bytes at 'b'. */
static int same_name(const char *a, const char *b, size_t len) {
    return a[0] == b[0] && strlen(a) == len && memcmp(a, b, len) == 0;
}

/* The slot of option 'name' ('len' bytes) of kind 'k', or -1 when 'k' has no such option. */
static int option_slot(const kind *k, const char *name, size_t len) {
    for (int i = 0; i < NCOMMON; i++)
        if (same_name(common_options[i], name, len))
            return i;
    for (int j = 0; k->options[j].name; j++)
        if (same_name(k->options[j].name, name, len))
            return NCOMMON + j;
    return -1;
}

static int is_option(const kind *k, const char *name) {
    for (const char *const *c = common_options; *c; c++)
        if (strcmp(*c, name) == 0)
            return 1;
    for (const option *o = k->options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return 1;
    return 0;
}

/* One pass over the options table (index 1): copies it into the type value (index 3), pushes
 * the value of each option of 'k' that is there, for the caller to read where sc->at says (an
 * absent option's slot names the nil at index 4), and notes the keys that are no option of 'k'. */
static void scan_options(lua_State *L, const kind *k, scan *sc) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    *sc = (scan){.nstray = 0};
    for (int i = 0; i < NSLOTS; i++)
        sc->at[i] = 4;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pushvalue(L, -2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 3);
        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t len;
            const char *name = lua_tolstring(L, -2, &len);
            int slot = option_slot(k, name, len);
            if (slot >= 0) {
                lua_insert(L, -2); /* the value stays, below the key that lua_next goes on with */
                sc->at[slot] = lua_gettop(L) - 1;
                continue;
            }
            if (!is_option(k, name) && sc->nunknown < 16)
                sc->unknown[sc->nunknown++] = name;
        } else if (lua_isinteger(L, -2)) {
            lua_Integer i = lua_tointeger(L, -2);
            sc->nstray += !((k->positional == POS_VALUES && i >= 1 && i <= n) ||
                            (k->positional >= POS_ITEM && i == 1));
        } else {
            sc->nstray++;
        }
        lua_pop(L, 1);
    }
}

/* Reads option 'o', whose value is at 'idx' (nil when absent), into 's' (index 2). */
static void read_option(lua_State *L, spec *s, const option *o, int idx) {
    int t = lua_type(L, idx), ok = t == LUA_TNUMBER, isint = 0;
    lua_Integer i = ok ? lua_tointegerx(L, idx, &isint) : 0; /* a string would be converted */
    double x = ok ? lua_tonumber(L, idx) : 0;
    char why[128];
    if (t == LUA_TNIL)
        return;
    switch (o->how) {
    case OPT_COUNT:
    case OPT_INT:
        if (!ok || !isint || (o->how == OPT_COUNT && i < 0)) {
            def_problem(L, s->kind, "'%s' must be a%s integer", o->name,
                        o->how == OPT_COUNT ? " non-negative" : "n");
            return;
        }
        break;
    case OPT_NUMBER:
        if (!ok || !isfinite(x)) {
            def_problem(L, s->kind, "'%s' must be a number", o->name);
            return;
        }
        break;
    case OPT_DURATION:
        if (t == LUA_TSTRING && rt_duration_parse(lua_tostring(L, idx), &x, why) < 0) {
            def_problem(L, s->kind, "'%s' is not a duration: %s", o->name, why);
            return;
        } else if (t != LUA_TSTRING && (!ok || !(x >= 0 && x < 1e15))) {
            def_problem(L, s->kind, "'%s' must be a duration like \"5m\" or seconds", o->name);
            return;
        }
        /* Messages and `describe` show the bound as written: "at most 24h", not "1d". */
        if (t == LUA_TSTRING && lua_rawlen(L, idx) < sizeof s->written[0])
            memcpy(s->written[o->is_max], lua_tostring(L, idx), lua_rawlen(L, idx) + 1);
        break;
    case OPT_PATTERN:
        if (t != LUA_TSTRING || lua_rawlen(L, idx) > MAX_PATTERN) {
            def_problem(L, s->kind, "'%s' must be a string of at most %d bytes", o->name,
                        MAX_PATTERN);
            return;
        }
        s->text = lua_tolstring(L, idx, &s->text_len);
        s->text_hash = re_hash(s->text, s->text_len);
        lua_pushvalue(L, idx);
        lua_setiuservalue(L, 2, 2);
        int err = 0;
        size_t off = 0;
        if (!re_get(s->text, s->text_len, s->text_hash, &err, &off)) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(err, message, sizeof message);
            def_problem(L, s->kind, "'%s' does not compile: %s at offset %zu", o->name,
                        (const char *)message, off);
            s->text = NULL; /* validate as if it had none: the problem is reported */
        }
        return;
    }
    if (o->is_max) {
        s->has_max = 1;
        s->imax = i;
        s->max = x;
    } else {
        s->has_min = 1;
        s->imin = i;
        s->min = x;
    }
}

/* description, optional, required: their values are where 'at' says. */
static void read_common(lua_State *L, spec *s, const int *at) {
    int t = lua_type(L, at[C_DESCRIPTION]);
    size_t len = 0;
    const char *descr = t == LUA_TSTRING ? lua_tolstring(L, at[C_DESCRIPTION], &len) : NULL;
    if (descr && !rt_utf8_valid(descr, len)) {
        def_problem(L, s->kind, "'description' must be UTF-8 text");
    } else if (descr) {
        s->descr = descr;
        lua_pushvalue(L, at[C_DESCRIPTION]);
        lua_setiuservalue(L, 2, 3);
    } else if (t != LUA_TNIL) {
        def_problem(L, s->kind, "'description' must be a string");
    }
    int opt = lua_type(L, at[C_OPTIONAL]), req = lua_type(L, at[C_REQUIRED]);
    int optional = lua_toboolean(L, at[C_OPTIONAL]), required = lua_toboolean(L, at[C_REQUIRED]);
    if (opt != LUA_TNIL && opt != LUA_TBOOLEAN)
        def_problem(L, s->kind, "'optional' must be a boolean");
    if (req != LUA_TNIL && req != LUA_TBOOLEAN)
        def_problem(L, s->kind, "'required' must be a boolean");
    if (required && optional)
        def_problem(L, s->kind, "'required = true' and 'optional = true' contradict each other");
    /* `required = false` reads as "optional": take it so. */
    s->optional = (opt == LUA_TBOOLEAN && optional) || (req == LUA_TBOOLEAN && !required);
}

/* True when the string 'v' is already among the first 'n' values of the options table. */
static int listed_before(lua_State *L, const char *v, lua_Integer n) {
    int dup = 0;
    for (lua_Integer j = 1; j < n && !dup; j++) {
        lua_rawgeti(L, 1, j);
        dup = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), v) == 0;
        lua_pop(L, 1);
    }
    return dup;
}

/* t.enum's values, kept NUL-separated in user value 2. */
static void read_values(lua_State *L, spec *s) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    char shown[256];
    luaL_Buffer b;
    if (n == 0 || n > MAX_ENUM_VALUES) {
        def_problem(L, s->kind, "needs 1 to %d values, as in t.enum{ \"a\", \"b\" }",
                    MAX_ENUM_VALUES);
        return;
    }
    luaL_buffinit(L, &b);
    for (lua_Integer i = 1; i <= n; i++) {
        size_t len = 0;
        lua_rawgeti(L, 1, i);
        const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        lua_pop(L, 1); /* 'v' lives on in the options table */
        if (!v || len == 0 || strlen(v) != len || !rt_utf8_valid(v, len))
            def_problem(L, s->kind, "value %lld must be a non-empty UTF-8 string", (long long)i);
        else if (listed_before(L, v, i))
            def_problem(L, s->kind, "value %s is listed twice", show(v, len, 1, shown, 256));
        else {
            luaL_addlstring(&b, v, len + 1);
            s->nvalues++;
        }
    }
    luaL_pushresult(&b);
    s->text = lua_tolstring(L, -1, &s->text_len);
    lua_setiuservalue(L, 2, 2);
}

/* t.list's and t.map's item type: the first element; its spec is kept as user value 1. */
static void read_item(lua_State *L, spec *s) {
    int specs = push_specs(L);
    lua_rawgeti(L, 1, 1);
    const spec *item = spec_at(L, specs, -1);
    if (!item) {
        def_problem(L, s->kind, "the first element must be a type, as in t.%s{ t.string{} }",
                    s->kind->name);
    } else if (item->depth + 1 > MAX_DEPTH) {
        def_problem(L, s->kind, "types nest at most %d deep", MAX_DEPTH);
    } else {
        s->item = item;
        s->depth = item->depth + 1;
        lua_rawget(L, specs);
        lua_setiuservalue(L, 2, 1);
        lua_pushnil(L); /* stands in for the item, popped below */
    }
    lua_pop(L, 2);
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reports the keys of the options table that are no option, as 'sc' found them: in name order,
 * so that a run reports them in the same order as the last one. */
static void check_keys(lua_State *L, const kind *k, scan *sc) {
    if (sc->nunknown > 1)
        qsort(sc->unknown, (size_t)sc->nunknown, sizeof sc->unknown[0], compare_strings);
    for (int i = 0; i < sc->nunknown; i++) {
        char shown[256];
        def_problem(L, k, "unknown option '%s'",
                    show(sc->unknown[i], strlen(sc->unknown[i]), 0, shown, 256));
    }
    if (sc->nstray && k->positional >= POS_ITEM)
        def_problem(L, k, "takes one type, as in t.%s{ t.string{} }, then named options", k->name);
    else if (sc->nstray)
        def_problem(L, k, "options are named, as in t.%s{ description = \"…\" }", k->name);
}

/* The first option of 'k' with the bound 'is_max', or NULL. */
static const option *bound_option(const kind *k, int is_max) {
    for (const option *o = k->options; o->name; o++)
        if (o->how != OPT_PATTERN && o->is_max == is_max)
            return o;
    return NULL;
}

static void check_min_max(lua_State *L, spec *s) {
    const option *lo = bound_option(s->kind, 0), *hi = bound_option(s->kind, 1);
    char a[48], b[48];
    if (!lo || !hi || !s->has_min || !s->has_max)
        return;
    int exact = lo->how == OPT_COUNT || lo->how == OPT_INT;
    if (exact ? s->imin > s->imax : s->min > s->max)
        def_problem(L, s->kind, "'%s' (%s) is greater than '%s' (%s)", lo->name,
                    bound_text(s, lo->how, 0, a), hi->name, bound_text(s, hi->how, 1, b));
}

static json_t *default_json(lua_State *L, int idx, const spec *s, char *why);

/* A table default of t.list (a sequence) or t.map (names to values) as a JSON array or object
 * of its items' defaults. NULL with the reason in 'why'. */
static json_t *default_table(lua_State *L, int idx, const spec *s, char *why) {
    int is_map = s->kind->positional == POS_ENTRY;
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    lua_pushnil(L); /* the shape first: what the keys are, and how many */
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int key_ok =
            is_map ? lua_type(L, -1) == LUA_TSTRING
                   : lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= n;
        if (!key_ok)
            snprintf(why, 128, "must be %s", is_map ? "a table of names to values" : "a sequence");
        else if (++count > s->imax)
            snprintf(why, 128, "has more than %lld %s", (long long)s->imax,
                     is_map ? "entries" : "items");
        if (!key_ok || count > s->imax) {
            lua_pop(L, 1);
            return NULL;
        }
    }
    json_t *c = is_map ? json_object() : json_array();
    for (lua_Integer i = 1; !is_map && i <= n; i++) {
        lua_rawgeti(L, idx, i);
        if (c && json_array_append_new(c, default_json(L, -1, s->item, why)) < 0) {
            json_decref(c);
            c = NULL;
        }
        lua_pop(L, 1);
    }
    if (is_map) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            json_t *item = c ? default_json(L, -1, s->item, why) : NULL;
            if (c && json_object_set_new(c, lua_tostring(L, -2), item) < 0) {
                if (item)
                    snprintf(why, 128, "has a name that is not UTF-8");
                json_decref(c);
                c = NULL;
            }
            lua_pop(L, 1);
        }
    }
    return c;
}

/* The default at 'idx' as raw JSON, shaped as a user would send it: scalars as they are, a
 * table as a JSON array (t.list) or object (t.map). NULL with the reason in 'why' (128 bytes). */
static json_t *default_json(lua_State *L, int idx, const spec *s, char *why) {
    int t = lua_type(L, idx);
    size_t len = 0;
    json_t *j = NULL;
    if (t == LUA_TSTRING) {
        const char *str = lua_tolstring(L, idx, &len);
        if (!(j = json_stringn(str, len)))
            snprintf(why, 128, "must be UTF-8");
    } else if (t == LUA_TBOOLEAN) {
        j = json_boolean(lua_toboolean(L, idx));
    } else if (t == LUA_TNUMBER) {
        j = lua_isinteger(L, idx) ? json_integer(lua_tointeger(L, idx))
                                  : json_real(lua_tonumber(L, idx));
        if (!j)
            snprintf(why, 128, "must be a finite number");
    } else if (t == LUA_TTABLE && s && s->item && lua_checkstack(L, 4)) {
        j = default_table(L, lua_absindex(L, idx), s, why);
    } else {
        snprintf(why, 128, "must be written as a user would type it (got a %s)",
                 lua_typename(L, t));
    }
    return j;
}

/* Converts the default, whose value is at 'idx' (nil when absent), like a user's value (with
 * now = 0: "now-1h" is checked for its syntax only) and reports the problems found, joined in
 * one. */
static void check_default(lua_State *L, spec *s, int idx) {
    char message[400] = "", why[128] = "";
    size_t n = 0, i;
    json_t *item;
    if (lua_isnil(L, idx) || (s->kind->positional >= POS_ITEM && !s->item))
        return;
    /* From here the spec owns JSON, which its __gc frees should anything raise. */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &spec_mt_key);
    lua_setmetatable(L, 2);
    outside_link(L, &s->outside, spec_release);
    if (!(s->def = default_json(L, idx, s, why))) {
        def_problem(L, s->kind, "'default' %s", why);
        return;
    }
    vctx v = {.L = L, .d = &s->problems}; /* now 0: a default is checked when it loads */
    if (convert(&v, s, s->def) == 0)
        lua_pop(L, 1);
    json_array_foreach(s->problems.items, i, item) {
        const char *field = json_string_value(json_object_get(item, "field"));
        if (n < sizeof message - 1)
            n += (size_t)snprintf(message + n, sizeof message - n, "%s%s%s%s", i ? "; " : "",
                                  field ? field : "", field ? ": " : "",
                                  json_string_value(json_object_get(item, "message")));
    }
    message[rt_utf8_cut(message, strlen(message), sizeof message - 4)] = '\0';
    rt_diag_free(&s->problems);
    if (n) {
        json_decref(s->def);
        s->def = NULL;
        def_problem(L, s->kind, "'default' is invalid: %s", message);
    }
}

/* t.<kind>{ options } or t.<kind>(): returns the type value; problems are reported through
 * sdk_problem(), and a type value is returned all the same so that later problems are found. */
static int construct(lua_State *L, const kind *k) {
    scan sc;
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    spec *s = lua_newuserdatauv(L, sizeof *s, 3); /* index 2 */
    memset(s, 0, sizeof *s);
    s->kind = k;
    /* Index 3: the type value, a copy of the options, with room for the kind and three named
     * options (more grow it). */
    lua_createtable(L, (int)lua_rawlen(L, 1), 4);
    lua_pushnil(L); /* index 4: the value of every option that is absent */
    luaL_checkstack(L, NSLOTS + 10, NULL);
    scan_options(L, k, &sc);

    read_common(L, s, sc.at);
    for (int j = 0; k->options[j].name; j++)
        read_option(L, s, &k->options[j], sc.at[NCOMMON + j]);
    if (!s->has_max && k->default_max) {
        s->has_max = 1;
        s->imax = k->default_max;
    }
    if (k->positional == POS_VALUES)
        read_values(L, s);
    else if (k->positional >= POS_ITEM)
        read_item(L, s);
    check_keys(L, k, &sc);
    check_min_max(L, s);
    check_default(L, s, sc.at[C_DEFAULT]);

    lua_pushstring(L, k->name);
    lua_setfield(L, 3, "kind");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &type_mt_key);
    lua_setmetatable(L, 3);
    push_specs(L);
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 2);
    lua_rawset(L, -3);
    lua_settop(L, 3);
    return 1;
}

/* The constructors are light C functions, one per kind: they cost no allocation per state. */
static int construct_string(lua_State *L) {
    return construct(L, &kinds[K_STRING]);
}
static int construct_int(lua_State *L) {
    return construct(L, &kinds[K_INT]);
}
static int construct_number(lua_State *L) {
    return construct(L, &kinds[K_NUMBER]);
}
static int construct_bool(lua_State *L) {
    return construct(L, &kinds[K_BOOL]);
}
static int construct_enum(lua_State *L) {
    return construct(L, &kinds[K_ENUM]);
}
static int construct_duration(lua_State *L) {
    return construct(L, &kinds[K_DURATION]);
}
static int construct_time(lua_State *L) {
    return construct(L, &kinds[K_TIME]);
}
static int construct_list(lua_State *L) {
    return construct(L, &kinds[K_LIST]);
}
static int construct_map(lua_State *L) {
    return construct(L, &kinds[K_MAP]);
}

static const lua_CFunction constructors[NKINDS] = {
    [K_STRING] = construct_string, [K_INT] = construct_int,   [K_NUMBER] = construct_number,
    [K_BOOL] = construct_bool,     [K_ENUM] = construct_enum, [K_DURATION] = construct_duration,
    [K_TIME] = construct_time,     [K_LIST] = construct_list, [K_MAP] = construct_map,
};

void sdk__types_push(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &type_mt_key) == LUA_TNIL) { /* once per state */
        lua_createtable(L, 0, 2);
        lua_pushliteral(L, TYPE_NAME);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "__name");      /* what tostring() shows */
        lua_setfield(L, -2, "__metatable"); /* getmetatable() sees this; setmetatable() refuses */
        lua_rawsetp(L, LUA_REGISTRYINDEX, &type_mt_key);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, spec_gc);
        lua_setfield(L, -2, "__gc");
        lua_rawsetp(L, LUA_REGISTRYINDEX, &spec_mt_key);
        lua_createtable(L, 0, 8); /* the types of a small analyzer, without a rehash */
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k"); /* a type's spec lives as long as the type */
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &specs_key);
        outside *head = lua_newuserdatauv(L, sizeof *head, 0);
        memset(head, 0, sizeof *head);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &outside_key);
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, NKINDS);
    for (int i = 0; i < NKINDS; i++) {
        lua_pushcfunction(L, constructors[i]);
        lua_setfield(L, -2, kinds[i].name);
    }
}

int sdk_is_type(lua_State *L, int idx) {
    if (!lua_istable(L, idx) || !lua_getmetatable(L, idx))
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &type_mt_key);
    int yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

/* ---- validation of inputs ------------------------------------------------------------------- */

typedef struct entry {
    const char *name;
    const spec *s; /* NULL when the value is not a type */
    int key;       /* stack index of the name, to set the result with */
} entry;

static int compare_entries(const void *a, const void *b) {
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* The inputs table at 'schema' as entries sorted by name (so that problems and `describe` come
 * in the same order every run). Pushes the registry's spec table and every name: the caller
 * restores the stack. Returns the number of entries; problems go to 'd' when not NULL. */
static int collect_inputs(lua_State *L, int schema, entry *e, rt_diag *d) {
    int n = 0, specs = push_specs(L), have_specs = lua_istable(L, specs);
    if (!lua_istable(L, schema))
        return 0;
    lua_pushnil(L);
    while (lua_next(L, schema)) {
        if (lua_type(L, -2) == LUA_TSTRING && n < MAX_INPUTS && lua_checkstack(L, 8)) {
            e[n].name = lua_tostring(L, -2); /* lives on in the schema table */
            e[n].s = have_specs ? spec_at(L, specs, -1) : NULL;
            lua_pop(L, 1);
            e[n++].key = lua_gettop(L); /* stays; a copy goes on with lua_next */
            lua_pushvalue(L, -1);
            continue;
        }
        if (d && lua_type(L, -2) != LUA_TSTRING)
            rt_diag_add(d, NULL, 0, NULL, "input names must be strings");
        else if (d)
            rt_diag_add(d, NULL, 0, NULL, "an analyzer takes at most %d inputs", MAX_INPUTS);
        lua_pop(L, 1);
    }
    for (int i = 1; i < n; i++) /* insertion sort: a handful of inputs, sorted on every call */
        for (int j = i; j > 0 && compare_entries(&e[j - 1], &e[j]) > 0; j--) {
            entry swap = e[j];
            e[j] = e[j - 1];
            e[j - 1] = swap;
        }
    return n;
}

/* Every input in 'raw' that the schema does not know is a problem naming the known ones. */
static void check_unknown(const json_t *raw, const entry *e, int n, rt_diag *d) {
    const char *key;
    json_t *value;
    char shown[256];
    json_object_foreach((json_t *)raw, key, value) {
        entry probe = {key, NULL, 0};
        if (bsearch(&probe, e, (size_t)n, sizeof e[0], compare_entries))
            continue;
        char known[400] = "";
        size_t len = 0;
        for (int i = 0; i < n && len < sizeof known; i++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "",
                                    show(e[i].name, strlen(e[i].name), 0, shown, 256));
        if (len >= sizeof known)
            memcpy(known + rt_utf8_cut(known, sizeof known - 1, sizeof known - 5), " ...", 5);
        char name[FIELD_MAX];
        snprintf(name, sizeof name, "%.*s", (int)rt_utf8_cut(key, strlen(key), FIELD_MAX - 1), key);
        if (n)
            rt_diag_add(d, NULL, 0, name, "unknown input (known: %s)", known);
        else
            rt_diag_add(d, NULL, 0, name, "unknown input (this analyzer takes none)");
    }
}

/* The typed table on top as JSON, for sdk_inputs_validate's 'effective', with each input that
 * was read against the clock as written ('written'[i] when not NULL): the analysis reads it
 * against its own clock when it runs, so the instant it names now is not the one the analysis
 * gets. NULL with the problem in 'd' when the table is too large for JSON, which the engine
 * refuses too (a result keeps its inputs). */
static json_t *effective_json(lua_State *L, const entry *e, const json_t *const *written, int n,
                              rt_diag *d) {
    char why[256];
    json_t *out = sdk_lua_to_json(L, -1, why, sizeof why);
    if (!out) {
        rt_diag_add(d, NULL, 0, NULL, "%s", why);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (written[i])
            json_object_set_new(out, e[i].name, json_deep_copy(written[i]));
    return out;
}

int sdk_inputs_validate(lua_State *L, int schema_idx, const json_t *raw, double now,
                        json_t **effective, rt_diag *d) {
    entry e[MAX_INPUTS];
    const json_t *written[MAX_INPUTS]; /* for effective_json() */
    size_t before = rt_diag_count(d), found = 0;
    int base = lua_gettop(L);
    if (effective)
        *effective = NULL;
    schema_idx = lua_absindex(L, schema_idx);
    int n = collect_inputs(L, schema_idx, e, d);
    if (raw && !json_is_object(raw))
        rt_diag_add(d, NULL, 0, NULL, "inputs must be a JSON object");
    lua_createtable(L, 0, n);
    vctx v = {.L = L, .d = d, .now = now};
    for (int i = 0; i < n; i++) {
        const spec *s = e[i].s;
        const json_t *value = json_is_object(raw) ? json_object_get(raw, e[i].name) : NULL;
        size_t old = field_push(&v, e[i].name, strlen(e[i].name), 0);
        int clock_reads = v.clock_reads;
        found += value != NULL;
        if (json_is_null(value)) /* JSON's way of leaving an input out */
            value = NULL;
        if (!value && s)
            value = s->def;
        lua_pushvalue(L, e[i].key);
        if (!s) {
            reject(&v, NULL, "is not an input type");
            lua_pop(L, 1);
        } else if (!value) {
            if (!s->optional)
                reject(&v, NULL, "is required");
            lua_pop(L, 1);
        } else if (convert(&v, s, value) == 0) {
            lua_rawset(L, -3);
        } else {
            lua_pop(L, 1);
        }
        written[i] = v.clock_reads > clock_reads ? value : NULL;
        field_pop(&v, old);
    }
    if (json_is_object(raw) && found < json_object_size(raw)) /* else all are known */
        check_unknown(raw, e, n, d);
    if (rt_diag_count(d) == before && effective)
        *effective = effective_json(L, e, written, n, d);
    if (rt_diag_count(d) > before) {
        lua_settop(L, base);
        return -1;
    }
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
    return 0;
}

/* ---- schema: `describe` and JSON Schema ----------------------------------------------------- */

/* The description of type 's': its kind, description and options, and its item type. */
static json_t *describe(const spec *s) {
    json_t *out = json_pack("{s:s}", "type", s->kind->name);
    char b[48];
    if (!out)
        abort(); /* bookkeeping: a few bytes */
    if (s->descr)
        json_object_set_new(out, "description", json_string(s->descr));
    for (const option *o = s->kind->options; o->name; o++) {
        json_t *value = NULL;
        int set = o->how == OPT_PATTERN ? s->text != NULL : o->is_max ? s->has_max : s->has_min;
        if (!set)
            continue;
        if (o->how == OPT_PATTERN)
            value = json_stringn(s->text, s->text_len);
        else if (o->how == OPT_DURATION)
            value = json_string(bound_text(s, o->how, o->is_max, b));
        else if (o->how == OPT_NUMBER)
            value = json_real(o->is_max ? s->max : s->min);
        else
            value = json_integer(o->is_max ? s->imax : s->imin);
        json_object_set_new(out, o->name, value);
    }
    if (s->kind->positional == POS_VALUES) {
        json_t *values = json_array();
        const char *p = s->text;
        for (int i = 0; p && i < s->nvalues; i++, p += strlen(p) + 1)
            json_array_append_new(values, json_string(p));
        json_object_set_new(out, "values", values);
    } else if (s->item) {
        json_object_set_new(out, s->kind->positional == POS_ENTRY ? "values" : "items",
                            describe(s->item));
    }
    return out;
}

json_t *sdk_schema_json(lua_State *L, int schema_idx) {
    entry e[MAX_INPUTS];
    int base = lua_gettop(L), n = collect_inputs(L, lua_absindex(L, schema_idx), e, NULL);
    json_t *out = json_object();
    for (int i = 0; i < n; i++) {
        if (!e[i].s)
            continue;
        json_t *desc = describe(e[i].s);
        json_object_set_new(desc, "required", json_boolean(!e[i].s->def && !e[i].s->optional));
        if (e[i].s->def)
            json_object_set_new(desc, "default", json_deep_copy(e[i].s->def));
        json_object_set_new(out, e[i].name, desc);
    }
    lua_settop(L, base);
    return out;
}

static const kind *kind_named(const char *name) {
    for (int i = 0; name && i < NKINDS; i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}

/* The JSON Schema of one description from describe(); {} (anything) for what it does not know.
 * 'depth' bounds the recursion on a hand-made description. */
static json_t *json_schema_of(const json_t *desc, int depth) {
    json_t *out = json_object();
    const kind *k = kind_named(json_string_value(json_object_get(desc, "type")));
    if (!k || depth > MAX_DEPTH + 2)
        return out;
    const char *space = strchr(k->json_types, ' ');
    if (space)
        json_object_set_new(
            out, "type",
            json_pack("[s#s]", k->json_types, (int)(space - k->json_types), space + 1));
    else
        json_object_set_new(out, "type", json_string(k->json_types));
    for (const option *o = k->options; o->name; o++) {
        json_t *value = json_object_get(desc, o->name);
        double seconds = 0;
        char why[128];
        if (!value)
            continue;
        if (o->how == OPT_DURATION && json_is_string(value) &&
            rt_duration_parse(json_string_value(value), &seconds, why) == 0)
            json_object_set_new(out, o->schema_key,
                                seconds == floor(seconds) ? json_integer((json_int_t)seconds)
                                                          : json_real(seconds));
        else if (o->how != OPT_DURATION)
            json_object_set(out, o->schema_key, value);
    }
    if (k->json_pattern)
        json_object_set_new(out, "pattern", json_string(k->json_pattern));
    if (k->positional == POS_VALUES && json_object_get(desc, "values"))
        json_object_set(out, "enum", json_object_get(desc, "values"));
    if (k->positional >= POS_ITEM) {
        int is_map = k->positional == POS_ENTRY;
        json_t *item = json_object_get(desc, is_map ? "values" : "items");
        json_object_set_new(out, is_map ? "additionalProperties" : "items",
                            json_schema_of(item, depth + 1));
    }
    const char *text = json_string_value(json_object_get(desc, "description"));
    if (text || k->json_hint)
        json_object_set_new(out, "description",
                            text && k->json_hint ? json_sprintf("%s %s", text, k->json_hint)
                                                 : json_string(text ? text : k->json_hint));
    if (json_object_get(desc, "default"))
        json_object_set(out, "default", json_object_get(desc, "default"));
    return out;
}

json_t *sdk_schema_to_json_schema(const json_t *schema, const char *title) {
    json_t *out = json_pack("{s:s,s:s}", "$schema", "https://json-schema.org/draft/2020-12/schema",
                            "type", "object");
    json_t *props = json_object(), *required = json_array();
    const char *name;
    json_t *desc;
    if (!out || !props || !required)
        abort(); /* bookkeeping: a few bytes */
    if (title)
        json_object_set_new(out, "title", json_string(title));
    json_object_foreach((json_t *)schema, name, desc) {
        json_object_set_new(props, name, json_schema_of(desc, 0));
        if (json_is_true(json_object_get(desc, "required")))
            json_array_append_new(required, json_string(name));
    }
    json_object_set_new(out, "properties", props);
    json_object_set_new(out, "required", required);
    json_object_set_new(out, "additionalProperties", json_false());
    return out;
}
