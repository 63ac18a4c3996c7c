/* sdk/sdk_response.c -- the responses of Prometheus-style HTTP APIs (Prometheus, VictoriaMetrics,
 * Thanos, Mimir, Loki) decoded in one streaming pass, and pushed into Lua. The Lua types of
 * series and sets live in sdk_series.c and sdk_series_set.c.
 *
 * Design notes
 * - yajl calls back once per token. A stack of frames says what each open container is (its
 *   role) and, for the innermost one, which member (key) or item (index) comes next; every
 *   callback dispatches on the innermost frame. What is not needed (Loki's "stats", unknown
 *   members, Loki's structured metadata) has the role R_SKIP, and so has all it holds.
 * - Members come in any order. "result" is decoded by its shape, since "resultType" may come
 *   after it: a list of objects with "metric" and "values" of [t, "v"] (matrix) or "value"
 *   (vector), or with "stream" and "values" of ["ns", "line"] (streams); or one pair [t, "v"]
 *   (scalar, string). Each element's shape is counted, and checked against "resultType" at
 *   the end (reconcile).
 * - A "data" that is not an object, or an object without "resultType", is some other endpoint's
 *   data (series, labels, metadata): at the end its bytes are parsed again with jansson. So,
 *   until "resultType" is known, a shape error inside "data" is kept, not raised: "result" is
 *   abandoned (its frames become R_SKIP) and the error is reported only if "resultType" comes.
 * - A point costs four callbacks and no allocation: numbers are parsed in place
 *   (parse_number's exact fast path), and arrays grow geometrically.
 * - On failure 'out' is left empty: what was built is freed on the way out.
 * - Memory: the result can take several times the bytes of the body (a point [1,"0"] of 8
 *   bytes is 16 bytes of doubles, in arrays that grow by doubling). Under a caller's memory
 *   budget (sdk_memory) every block made for the result, and the temporary ones that grow with
 *   it (sort_points' and sort_entries'), is charged before it is allocated, growth included, and
 *   the parse stops where the next one would not fit. A series' arrays are cut to its points
 *   when it ends (a vector's series has one point in room for FIRST_POINTS). What the decoder
 *   frees before the end is given back when its size is known (growth, temporaries, strings);
 *   else (an element abandoned, "data" parsed again) it stays charged with the result, which
 *   errs on the safe side for answers that no backend sends. Copies of one token at a time (yajl's
 * buffer, parse_number's) are not charged: they do not grow with the result, and are no larger than
 *   the body, which the caller bounds.
 * - Only the first MAX_DEPTH containers have frames. Deeper ones can only be inside skipped
 *   values (a query result is 6 deep), and are counted, not kept. */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <yajl/yajl_parse.h>
#include "sdk.h"
#include "sdk_series.h"

#define MAX_DEPTH 64

/* What malloc adds to a block, in glibc: an 8-byte header and rounding to 16. Counted with
 * each block, so that a million short strings cost what they take. */
#define BLOCK_OVERHEAD 16

/* Room for the points of a series when its first one comes. */
#define FIRST_POINTS 64

/* What an open container is. Arrays: R_WARNINGS to R_PAIR. */
enum role {
    R_NONE, /* outside the body */
    R_SKIP,
    R_TOP,  /* the envelope */
    R_DATA, /* "data", an object */
    R_ELEMENT,
    R_LABELS, /* "metric", "stream" */
    R_WARNINGS,
    R_RESULT, /* "result", a list (or a pair, until the first item says: R_SCALAR) */
    R_SCALAR, /* "result", a pair [t, "v"] */
    R_POINTS, /* "values" */
    R_PAIR    /* [t, "v"] or ["ns", "line"] */
};

/* The member that comes next in an object. */
enum key {
    K_OTHER,
    K_STATUS,
    K_ERROR_TYPE,
    K_ERROR,
    K_WARNINGS,
    K_DATA,
    K_RESULT_TYPE,
    K_RESULT,
    K_METRIC,
    K_STREAM,
    K_VALUES,
    K_VALUE,
    K_LABEL
};

static const char *const key_names[] = {
    [K_STATUS] = "status", [K_ERROR_TYPE] = "errorType",
    [K_ERROR] = "error",   [K_WARNINGS] = "warnings",
    [K_DATA] = "data",     [K_RESULT_TYPE] = "resultType",
    [K_RESULT] = "result", [K_METRIC] = "metric",
    [K_STREAM] = "stream", [K_VALUES] = "values",
    [K_VALUE] = "value",
};

/* What one element of "result" is. */
enum shape { SH_MATRIX, SH_VECTOR, SH_STREAM, NSHAPES };

/* Flags of the element being read. */
enum { EL_METRIC = 1, EL_STREAM = 2, EL_VALUE = 4, EL_ENTRIES = 8, EL_UNSORTED = 16 };

/* Value types, as the callbacks see them. */
enum vtype { V_OBJECT, V_ARRAY, V_STRING, V_NUMBER, V_OTHER };

typedef struct frame {
    unsigned char role, key;
    size_t index;
} frame;

typedef struct dec {
    sdk_response *r;
    yajl_handle h;
    const char *body;
    size_t len;
    frame stack[MAX_DEPTH];
    size_t depth; /* open containers, also those deeper than MAX_DEPTH */
    char *why;
    size_t whylen;
    int failed;               /* 'why' says why */
    int too_big;              /* ... which is the memory limit */
    const sdk_memory *memory; /* NULL: no limit */
    size_t charged;           /* bytes charged (to 'memory', if any) and not given back */

    char *status, *error_type, *error, *result_type; /* owned */
    int seen_data, seen_result;
    size_t data_start, data_end; /* bytes of "data" in the body */
    char deferred[512];          /* the first shape error inside "data", until resultType */

    size_t cap_series, cap_entries, cap_streams;
    size_t n_shape[NSHAPES], first_shape[NSHAPES]; /* elements of each shape; the first one */
    int result_pair;                               /* "result" was [t, "v"]: */
    double pair_t;                                 /* its time */
    char *pair_text;                               /* its value, owned */

    sdk_series_data cur; /* the element being read (owned) */
    size_t cap_labels;
    char *label_name; /* the label whose value comes next, owned */
    unsigned flags;   /* EL_* */

    int entry;  /* the pair being read is a log entry */
    double t;   /* its time, or */
    int64_t ns; /* its time in nanoseconds */
} dec;

/* ---- Errors and paths ------------------------------------------------------------------- */

static int is_array(int role) {
    return role >= R_WARNINGS;
}

static int top_role(const dec *d) {
    return d->depth == 0 ? R_NONE : d->depth > MAX_DEPTH ? R_SKIP : d->stack[d->depth - 1].role;
}

/* Writes where the decoder stands into 'out': "data.result[3].values[17][1]". */
static void path(const dec *d, char *out, size_t size) {
    size_t n = 0, depth = d->depth < MAX_DEPTH ? d->depth : MAX_DEPTH;
    out[0] = '\0';
    for (size_t i = 0; i < depth && n < size; i++) {
        const frame *f = &d->stack[i];
        int w = 0;
        if (is_array(f->role))
            w = snprintf(out + n, size - n, "[%zu]", f->index);
        else if (f->key == K_LABEL)
            w = snprintf(out + n, size - n, ".%s", d->label_name ? d->label_name : "");
        else if (f->key != K_OTHER)
            w = snprintf(out + n, size - n, "%s%s", n ? "." : "", key_names[f->key]);
        n += w > 0 ? (size_t)w : 0;
    }
}

static int fail(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(dec *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (d->whylen)
        vsnprintf(d->why, d->whylen, fmt, ap);
    va_end(ap);
    d->failed = 1;
    return -1;
}

/* Fails with "PATH: message" at where the decoder stands. */
static int fail_at(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_at(dec *d, const char *fmt, ...) {
    char where[200], message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    path(d, where, sizeof where);
    return fail(d, "%s: %s", where, message);
}

static const char *vtype_name(enum vtype t) {
    static const char *const names[] = {"an object", "a list", "a string", "a number",
                                        "true, false or null"};
    return names[t];
}

static void series_data_free(sdk_series_data *s) {
    for (size_t i = 0; i < s->n_labels; i++) {
        free(s->labels[i].name);
        free(s->labels[i].value);
    }
    free(s->labels);
    free(s->t);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Turns the frames from "result" inward into skipped ones and drops the element being read. */
static void abandon_result(dec *d) {
    for (size_t i = 2; i < d->depth && i < MAX_DEPTH; i++)
        d->stack[i].role = R_SKIP;
    series_data_free(&d->cur);
    d->cap_labels = 0;
    d->flags = 0;
}

/* A value inside "data" does not fit a query result. Before "resultType" is known, "data" may
 * be another endpoint's: the error is kept and "result" abandoned (returns 0; the value is then
 * skipped). After, it is an error (returns -1). */
static int shape_error(dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int shape_error(dec *d, const char *fmt, ...) {
    char where[200], message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    path(d, where, sizeof where);
    if (d->result_type)
        return fail(d, "%s: %s", where, message);
    if (!d->deferred[0])
        snprintf(d->deferred, sizeof d->deferred, "%s: %s", where, message);
    abandon_result(d);
    return 0;
}

/* ---- Numbers ---------------------------------------------------------------------------- */

static const double powers_of_ten[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

__extension__ typedef unsigned __int128 u128;

static int is_digit(char c) {
    return (unsigned)(c - '0') < 10;
}

/* True when the 8 bytes at 'p' are digits; then '*out' is their value. Eight at a time, as
 * simdjson and fast_float do: a number is 13 to 17 digits, mostly. */
static int eight_digits(const char *p, uint64_t *out) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    if (((v + 0x4646464646464646u) | (v - 0x3030303030303030u)) & 0x8080808080808080u)
        return 0;
    v -= 0x3030303030303030u;
    v = v * 10 + (v >> 8);
    *out = (((v & 0x000000FF000000FFu) * 0x000F424000000064u) +
            (((v >> 16) & 0x000000FF000000FFu) * 0x0000271000000001u)) >>
           32;
    return 1;
#else
    (void)p;
    (void)out;
    return 0;
#endif
}

/* Reads the digits at 'p' on into '*m', which holds '*count' digits; returns where they end,
 * or NULL when there would be more than 19 in all (then '*m' might not hold them). */
static const char *digits(const char *p, const char *end, uint64_t *m, int *count) {
    uint64_t v = *m, eight;
    int n = *count;
    while (end - p >= 8 && n <= 11 && eight_digits(p, &eight)) {
        v = v * 100000000u + eight;
        p += 8;
        n += 8;
    }
    for (; p < end && is_digit(*p); p++) {
        if (++n > 19)
            return NULL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *m = v;
    *count = n;
    return p;
}

/* 'm' × 10^'scale', correctly rounded, for |scale| <= 19. When both are exact doubles, one
 * operation rounds correctly (Clinger's fast path). Otherwise the arithmetic is exact on 128
 * bits, and the one rounding is the conversion to double: a quotient has 62 bits or more, its
 * remainder kept as a sticky low bit (round to odd), so that rounding it gives what rounding
 * the exact value would. */
static double scaled(uint64_t m, int scale) {
    if (m <= (1ull << 53))
        return scale < 0 ? (double)m / powers_of_ten[-scale] : (double)m * powers_of_ten[scale];
    uint64_t p = (uint64_t)powers_of_ten[scale < 0 ? -scale : scale]; /* exact up to 10^19 */
    if (scale >= 0)
        return (double)((u128)m * p);
    int shift = 63 + __builtin_clzll(m); /* the numerator gets 127 bits */
    u128 num = (u128)m << shift, q = num / p;
    q |= num % p != 0;
    return ldexp((double)q, -shift);
}

/* The decimal number in the 'n' bytes at 's' when it has at most 19 digits and its exponent
 * is at most 19 (those Prometheus writes: its rates have 16 or 17 digits). Returns 0, or -1 for
 * the rest. */
static int fast_number(const char *s, size_t n, double *out) {
    const char *p = s, *end = s + n;
    uint64_t m = 0;
    int count = 0, whole, neg = 0, e = 0, eneg = 0;
    if (p < end && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    if (!(p = digits(p, end, &m, &count)))
        return -1;
    whole = count;
    if (p < end && *p == '.' && !(p = digits(p + 1, end, &m, &count)))
        return -1;
    if (count == 0)
        return -1;
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '-' || *p == '+'))
            eneg = *p++ == '-';
        if (p == end)
            return -1;
        for (; p < end && is_digit(*p) && e < 1000; p++)
            e = e * 10 + (*p - '0');
    }
    int scale = (eneg ? -e : e) - (count - whole);
    if (p != end || scale < -19 || scale > 19)
        return -1;
    double x = scaled(m, scale);
    *out = neg ? -x : x;
    return 0;
}

/* The number in the 'n' bytes at 's' ("1.5", "1e-05", "NaN", "+Inf", "-Inf", or digits by the
 * hundred: Prometheus writes 1e300 without an exponent). Returns 0, or -1. */
static int parse_number(const char *s, size_t n, double *out) {
    char small[64], *copy = small, *end;
    if (fast_number(s, n, out) == 0)
        return 0;
    if (n == 0 || s[0] == ' ' || (unsigned char)(s[0] - '\t') < 5)
        return -1; /* strtod would skip white space */
    if (n >= sizeof small)
        copy = rt_xmalloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    *out = strtod(copy, &end);
    int ok = end == copy + n;
    if (copy != small)
        free(copy);
    return ok ? 0 : -1;
}

/* Unix nanoseconds as Loki writes them: a string of digits. Returns 0, or -1. */
static int parse_ns(const char *s, size_t n, int64_t *out) {
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > INT64_MAX)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* ---- Memory ----------------------------------------------------------------------------- */

/* Charges a block of 'size' bytes before it is allocated. Returns 0, or -1 (the parse stops,
 * saying where) when it would take the budget past its limit. */
static int charge(dec *d, size_t size) {
    const sdk_memory *m = d->memory;
    size_t cost = size + BLOCK_OVERHEAD;
    if (m && (*m->used > m->limit || cost > m->limit - *m->used)) {
        char where[200];
        path(d, where, sizeof where);
        d->too_big = 1;
        return fail(d, "%s%sthe decoded answer would pass its memory limit (%zu bytes)", where,
                    *where ? ": " : "", m->limit);
    }
    if (m)
        *m->used += cost;
    d->charged += cost;
    return 0;
}

/* Gives back 'bytes' of what this decode charged. */
static void give_back(dec *d, size_t bytes) {
    assert(bytes <= d->charged);
    if (d->memory)
        *d->memory->used -= bytes;
    d->charged -= bytes;
}

/* Gives back the charge of a block of 'size' bytes that was freed. */
static void release(dec *d, size_t size) {
    give_back(d, size + BLOCK_OVERHEAD);
}

/* A block of 'from' bytes (0: none yet) is about to become one of 'to': both are held while
 * realloc copies. Returns 0, or -1 when 'to' does not fit. */
static int charge_resize(dec *d, size_t from, size_t to) {
    if (charge(d, to) < 0)
        return -1;
    if (from)
        release(d, from);
    return 0;
}

/* ---- Building the result ---------------------------------------------------------------- */

/* A charged, NUL-terminated copy of the 'n' bytes at 's'; NULL when it does not fit. */
static char *copy_text(dec *d, const char *s, size_t n) {
    if (charge(d, n + 1) < 0)
        return NULL;
    char *c = rt_xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

/* Frees a string of copy_text and gives back its charge (all of it unless it holds a NUL: then
 * some stays charged until the decode ends). */
static void free_text(dec *d, char *s) {
    if (!s)
        return;
    release(d, strlen(s) + 1);
    free(s);
}

/* Sets '*into' to a copy of the 'n' bytes at 's', freeing the string it held. */
static int replace_text(dec *d, char **into, const char *s, size_t n) {
    char *copy = copy_text(d, s, n);
    if (!copy)
        return -1;
    free_text(d, *into);
    *into = copy;
    return 0;
}

/* Returns 'items', which holds 'n' items of 'size' bytes in room for '*cap', with room for one
 * more; or NULL, 'items' unchanged, when that room does not fit the memory limit. */
static void *grow(dec *d, void *items, size_t n, size_t *cap, size_t size) {
    if (n < *cap)
        return items;
    size_t more = *cap ? *cap * 2 : 8;
    if (charge_resize(d, *cap * size, more * size) < 0)
        return NULL;
    *cap = more;
    return rt_xrealloc(items, more * size);
}

static int add_label(dec *d, const char *value, size_t n) {
    sdk_series_data *c = &d->cur;
    sdk_label *labels = grow(d, c->labels, c->n_labels, &d->cap_labels, sizeof *labels);
    if (!labels)
        return -1;
    c->labels = labels;
    char *copy = copy_text(d, value, n);
    if (!copy)
        return -1;
    c->labels[c->n_labels].name = d->label_name;
    c->labels[c->n_labels++].value = copy;
    d->label_name = NULL;
    return 0;
}

/* Makes room in 'c' for 'cap' points: its times and values, as one charge. */
static int resize_points(dec *d, sdk_series_data *c, size_t cap) {
    if (charge_resize(d, c->cap * 2 * sizeof(double), cap * 2 * sizeof(double)) < 0)
        return -1;
    c->t = rt_xrealloc(c->t, cap * sizeof *c->t);
    c->v = rt_xrealloc(c->v, cap * sizeof *c->v);
    c->cap = cap;
    return 0;
}

static int add_point(dec *d, double v) {
    sdk_series_data *c = &d->cur;
    if (d->flags & EL_ENTRIES)
        return shape_error(d, "a series holds either points or log entries, not both");
    if (c->n == c->cap && resize_points(d, c, c->cap ? c->cap * 2 : FIRST_POINTS) < 0)
        return -1;
    if (c->n && !(d->t > c->t[c->n - 1]))
        d->flags |= EL_UNSORTED;
    c->t[c->n] = d->t;
    c->v[c->n++] = v;
    return 0;
}

static int add_entry(dec *d, const char *line, size_t n) {
    sdk_response *r = d->r;
    if (d->cur.n)
        return shape_error(d, "a series holds either points or log entries, not both");
    sdk_log_entry *entries = grow(d, r->entries, r->n_entries, &d->cap_entries, sizeof *entries);
    if (!entries)
        return -1;
    r->entries = entries;
    char *copy = copy_text(d, line, n);
    if (!copy)
        return -1;
    r->entries[r->n_entries++] =
        (sdk_log_entry){.ns = d->ns, .line = copy, .len = n, .stream = r->n_streams};
    d->flags |= EL_ENTRIES;
    return 0;
}

typedef struct point {
    double t, v;
    size_t order;
} point;

static int point_cmp(const void *a, const void *b) {
    const point *p = a, *q = b;
    if (p->t != q->t)
        return p->t < q->t ? -1 : 1;
    return p->order < q->order ? -1 : 1;
}

/* Puts the points of 's' in time order; of equal times the last one received stays. No backend
 * is known to send them otherwise: this is for those that would. Returns 0, or -1 when its
 * temporary array does not fit. */
static int sort_points(dec *d, sdk_series_data *s) {
    size_t size = s->n * sizeof(point);
    if (charge(d, size) < 0)
        return -1;
    point *p = rt_xmalloc(size);
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        p[i] = (point){s->t[i], s->v[i], i};
    qsort(p, s->n, sizeof *p, point_cmp);
    for (size_t i = 0; i < s->n; i++) {
        if (n && s->t[n - 1] == p[i].t)
            n--;
        s->t[n] = p[i].t;
        s->v[n++] = p[i].v;
    }
    s->n = n;
    free(p);
    release(d, size);
    return 0;
}

/* Gives back the room that the points of 's' did not take: a vector's series holds one point
 * in room for FIRST_POINTS. realloc shrinks a block where it is. */
static void trim_points(dec *d, sdk_series_data *s) {
    if (s->n == s->cap)
        return;
    assert(s->n > 0);
    s->t = rt_xrealloc(s->t, s->n * sizeof *s->t);
    s->v = rt_xrealloc(s->v, s->n * sizeof *s->v);
    give_back(d, (s->cap - s->n) * 2 * sizeof(double));
    s->cap = s->n;
}

static int label_cmp(const void *a, const void *b) {
    return strcmp(((const sdk_label *)a)->name, ((const sdk_label *)b)->name);
}

/* The element that just ended (its index is the top frame's) becomes a series or a stream. */
static int end_element(dec *d) {
    sdk_response *r = d->r;
    int stream = (d->flags & (EL_STREAM | EL_ENTRIES)) != 0;
    enum shape sh = stream ? SH_STREAM : (d->flags & EL_VALUE) ? SH_VECTOR : SH_MATRIX;
    if (stream && (d->flags & (EL_METRIC | EL_VALUE)))
        return shape_error(d, "has both \"stream\" and \"%s\"",
                           d->flags & EL_METRIC ? "metric" : "value");
    if (d->n_shape[sh]++ == 0)
        d->first_shape[sh] = d->stack[d->depth - 1].index;
    if (d->cur.n_labels > 1)
        qsort(d->cur.labels, d->cur.n_labels, sizeof *d->cur.labels, label_cmp);
    if ((d->flags & EL_UNSORTED) && sort_points(d, &d->cur) < 0)
        return -1;
    trim_points(d, &d->cur);
    sdk_series_data **into = stream ? &r->streams : &r->series;
    size_t *n = stream ? &r->n_streams : &r->n_series;
    sdk_series_data *items =
        grow(d, *into, *n, stream ? &d->cap_streams : &d->cap_series, sizeof *items);
    if (!items)
        return -1;
    *into = items;
    items[(*n)++] = d->cur;
    memset(&d->cur, 0, sizeof d->cur);
    d->cap_labels = 0;
    d->flags = 0;
    return 0;
}

/* ---- Values ----------------------------------------------------------------------------- */

static int key_is(const unsigned char *s, size_t n, const char *name) {
    return strlen(name) == n && memcmp(s, name, n) == 0;
}

/* Where "data" begins: after the key just read, its colon and white space. */
static size_t value_start(const dec *d) {
    size_t at = yajl_get_bytes_consumed(d->h);
    while (at < d->len && (d->body[at] == ':' || d->body[at] == ' ' || d->body[at] == '\t' ||
                           d->body[at] == '\n' || d->body[at] == '\r'))
        at++;
    return at;
}

static int scalar_item(dec *d, enum vtype t, const char *s, size_t n);
static int pair_item(dec *d, enum vtype t, const char *s, size_t n);

/* The role of a container of type 't' that opens where the decoder stands; -1 on failure. */
static int open_role(dec *d, enum vtype t) {
    frame *f = d->depth && d->depth <= MAX_DEPTH ? &d->stack[d->depth - 1] : NULL;
    int rc;
    switch (top_role(d)) {
    case R_NONE:
        return t == V_OBJECT ? R_TOP
                             : fail(d, "the body is not a JSON object (got %s)", vtype_name(t));
    case R_TOP:
        if (f->key == K_DATA)
            return t == V_OBJECT ? R_DATA : R_SKIP;
        if (f->key == K_WARNINGS)
            return t == V_ARRAY ? R_WARNINGS : R_SKIP;
        if (f->key >= K_STATUS && f->key <= K_ERROR)
            return fail_at(d, "must be a string (got %s)", vtype_name(t));
        return R_SKIP;
    case R_DATA:
        if (f->key == K_RESULT && !d->seen_result++)
            return t == V_ARRAY                                                  ? R_RESULT
                   : (rc = shape_error(d, "must be a list (got an object)")) < 0 ? rc
                                                                                 : R_SKIP;
        if (f->key == K_RESULT_TYPE) /* a member that only query results have */
            return fail_at(d, "must be a string (got %s)", vtype_name(t));
        return R_SKIP;
    case R_RESULT:
        if (t == V_OBJECT)
            return R_ELEMENT;
        return (rc = shape_error(d, "must be a series or a stream (got a list)")) < 0 ? rc : R_SKIP;
    case R_ELEMENT:
        if ((f->key == K_METRIC || f->key == K_STREAM) && t == V_OBJECT) {
            d->flags |= f->key == K_METRIC ? EL_METRIC : EL_STREAM;
            return R_LABELS;
        }
        if ((f->key == K_VALUES || f->key == K_VALUE) && t == V_ARRAY) {
            d->flags |= f->key == K_VALUE ? EL_VALUE : 0;
            return f->key == K_VALUE ? R_PAIR : R_POINTS;
        }
        if (f->key == K_OTHER)
            return R_SKIP;
        rc =
            shape_error(d, "must be %s (got %s)",
                        f->key == K_METRIC || f->key == K_STREAM ? "an object of labels" : "a list",
                        vtype_name(t));
        return rc < 0 ? rc : R_SKIP;
    case R_POINTS:
        if (t == V_ARRAY)
            return R_PAIR;
        break;
    case R_SCALAR:
        return (rc = scalar_item(d, t, NULL, 0)) < 0 ? rc : R_SKIP;
    case R_PAIR:
        if (f->index >= 2 && d->entry)
            return R_SKIP; /* Loki's structured metadata */
        return (rc = pair_item(d, t, NULL, 0)) < 0 ? rc : R_SKIP;
    case R_SKIP:
    case R_WARNINGS:
        return R_SKIP;
    }
    rc = shape_error(d, "%s (got %s)",
                     top_role(d) == R_LABELS ? "label values must be strings"
                                             : "must be a pair [time, \"value\"]",
                     vtype_name(t));
    return rc < 0 ? rc : R_SKIP;
}

/* An item of a pair [t, "v"] or ["ns", "line"] at the top frame. */
static int pair_item(dec *d, enum vtype t, const char *s, size_t n) {
    frame *f = &d->stack[d->depth - 1];
    int in_value = d->stack[d->depth - 2].role == R_ELEMENT; /* a vector's "value" */
    if (f->index == 0 && t == V_NUMBER) {
        d->entry = 0;
        if (parse_number(s, n, &d->t) < 0 || !isfinite(d->t))
            return shape_error(d, "time %.*s is not a finite number", (int)(n < 40 ? n : 40), s);
        return 0;
    }
    if (f->index == 0 && t == V_STRING && !in_value) {
        d->entry = 1;
        if (parse_ns(s, n, &d->ns) < 0)
            return shape_error(d, "\"%.*s\" is not a time in nanoseconds", (int)(n < 40 ? n : 40),
                               s);
        return 0;
    }
    if (f->index == 1 && t == V_STRING) {
        double v;
        if (d->entry)
            return add_entry(d, s, n);
        if (parse_number(s, n, &v) < 0)
            return shape_error(d, "\"%.*s\" is not a number", (int)(n < 40 ? n : 40), s);
        return add_point(d, v);
    }
    if (f->index >= 2 && d->entry)
        return 0;
    if (f->index >= 2)
        return shape_error(d, "is one too many: a point is [time, \"value\"] (got %s)",
                           vtype_name(t));
    return shape_error(d, "must be %s (got %s)",
                       f->index == 1 ? "a string"
                       : in_value    ? "a time in seconds"
                                     : "a time in seconds, or in nanoseconds as a string",
                       vtype_name(t));
}

/* An item of "result" that is not an object: the pair [t, "v"] of a scalar or a string. */
static int scalar_item(dec *d, enum vtype t, const char *s, size_t n) {
    frame *f = &d->stack[d->depth - 1];
    if (f->index == 0 && t == V_NUMBER) {
        f->role = R_SCALAR;
        d->result_pair = 1;
        if (parse_number(s, n, &d->pair_t) < 0 || !isfinite(d->pair_t))
            return shape_error(d, "time %.*s is not a finite number", (int)(n < 40 ? n : 40), s);
        return 0;
    }
    if (f->role == R_SCALAR && f->index == 1 && t == V_STRING)
        return replace_text(d, &d->pair_text, s, n);
    if (f->role == R_SCALAR && f->index >= 2)
        return shape_error(d, "is one too many: a scalar or string is [time, \"value\"] (got %s)",
                           vtype_name(t));
    return shape_error(d, "must be %s (got %s)",
                       f->role == R_RESULT ? "a series or a stream"
                       : f->index == 0     ? "a time in seconds"
                                           : "a string",
                       vtype_name(t));
}

/* A member of the envelope that is not a container. */
static int top_member(dec *d, enum vtype t, const char *s, size_t n) {
    char **into = NULL;
    switch (d->stack[d->depth - 1].key) {
    case K_STATUS:
        into = &d->status;
        break;
    case K_ERROR_TYPE:
        into = &d->error_type;
        break;
    case K_ERROR:
        into = &d->error;
        break;
    case K_DATA: /* some other endpoint's: parsed again at the end */
        d->seen_data = 1;
        d->data_end = yajl_get_bytes_consumed(d->h);
        return 0;
    default:
        return 0;
    }
    if (t != V_STRING)
        return fail_at(d, "must be a string (got %s)", vtype_name(t));
    return replace_text(d, into, s, n);
}

/* A value that is not a container ('s' and 'n': the text of a string or number). */
static int scalar(dec *d, enum vtype t, const char *s, size_t n) {
    frame *f = d->depth && d->depth <= MAX_DEPTH ? &d->stack[d->depth - 1] : NULL;
    int rc = 0;
    switch (top_role(d)) {
    case R_NONE:
        return fail(d, "the body is not a JSON object (got %s)", vtype_name(t));
    case R_PAIR:
        rc = pair_item(d, t, s, n);
        break;
    case R_TOP:
        rc = top_member(d, t, s, n);
        break;
    case R_WARNINGS:
        if (t == V_STRING)
            json_array_append_new(d->r->warnings, rt_json_text(s, n));
        break;
    case R_DATA:
        if (f->key == K_RESULT_TYPE && t == V_STRING) {
            rc = replace_text(d, &d->result_type, s, n);
        } else if (f->key == K_RESULT_TYPE) {
            rc = fail_at(d, "must be a string (got %s)", vtype_name(t));
        } else if (f->key == K_RESULT && !d->seen_result++) {
            rc = shape_error(d, "must be a list (got %s)", vtype_name(t));
        }
        break;
    case R_RESULT:
    case R_SCALAR:
        rc = scalar_item(d, t, s, n);
        break;
    case R_LABELS:
        if (t == V_STRING)
            rc = add_label(d, s, n);
        else
            rc = shape_error(d, "label values must be strings (got %s)", vtype_name(t));
        break;
    case R_ELEMENT:
        if (f->key != K_OTHER)
            rc = shape_error(d, "must be %s (got %s)",
                             f->key == K_METRIC || f->key == K_STREAM ? "an object of labels"
                                                                      : "a list",
                             vtype_name(t));
        break;
    case R_POINTS:
        rc = shape_error(d, "must be a pair [time, \"value\"] (got %s)", vtype_name(t));
        break;
    }
    if (rc == 0 && f && is_array(f->role))
        f->index++;
    return rc;
}

/* ---- yajl callbacks: each returns 0 to stop the parse (d->failed says why) ---------------- */

static int push(dec *d, enum vtype t) {
    int role = open_role(d, t);
    if (role < 0)
        return 0;
    if (d->depth == 1 && d->stack[0].key == K_DATA)
        d->seen_data = 1;
    if (d->depth < MAX_DEPTH)
        d->stack[d->depth] = (frame){.role = (unsigned char)role};
    assert(d->depth < MAX_DEPTH || role == R_SKIP); /* a query result is 6 deep */
    d->depth++;
    return 1;
}

/* A container ended: what it was is finished, and the item after it comes next. */
static int pop(dec *d) {
    int role = top_role(d), rc = 0;
    size_t items = d->depth <= MAX_DEPTH ? d->stack[d->depth - 1].index : 0;
    d->depth--;
    if (role == R_ELEMENT)
        rc = end_element(d);
    else if (role == R_PAIR && items < 2)
        rc = shape_error(d, "must be a pair [time, \"value\"] (got %zu item%s)", items,
                         items == 1 ? "" : "s");
    else if (role == R_SCALAR && items < 2)
        rc = shape_error(d, "must be [time, \"value\"] (got 1 item)");
    if (d->depth == 1 && d->stack[0].key == K_DATA)
        d->data_end = yajl_get_bytes_consumed(d->h);
    if (d->depth && d->depth <= MAX_DEPTH && is_array(d->stack[d->depth - 1].role))
        d->stack[d->depth - 1].index++;
    return rc;
}

static enum key top_key(const unsigned char *s, size_t n) {
    return key_is(s, n, "status")      ? K_STATUS
           : key_is(s, n, "data")      ? K_DATA
           : key_is(s, n, "errorType") ? K_ERROR_TYPE
           : key_is(s, n, "error")     ? K_ERROR
           : key_is(s, n, "warnings")  ? K_WARNINGS
                                       : K_OTHER;
}

static enum key element_key(const unsigned char *s, size_t n) {
    return key_is(s, n, "values")   ? K_VALUES
           : key_is(s, n, "metric") ? K_METRIC
           : key_is(s, n, "value")  ? K_VALUE
           : key_is(s, n, "stream") ? K_STREAM
                                    : K_OTHER;
}

static int cb_map_key(void *ctx, const unsigned char *s, size_t n) {
    dec *d = ctx;
    frame *f = d->depth <= MAX_DEPTH ? &d->stack[d->depth - 1] : NULL;
    switch (f ? f->role : R_SKIP) {
    case R_TOP:
        f->key = top_key(s, n);
        if (f->key == K_DATA)
            d->data_start = value_start(d);
        break;
    case R_DATA:
        f->key = key_is(s, n, "result")       ? K_RESULT
                 : key_is(s, n, "resultType") ? K_RESULT_TYPE
                                              : K_OTHER;
        break;
    case R_ELEMENT:
        f->key = element_key(s, n);
        break;
    case R_LABELS:
        f->key = K_LABEL;
        return replace_text(d, &d->label_name, (const char *)s, n) == 0;
    }
    return 1;
}

static int cb_start_map(void *ctx) {
    return push(ctx, V_OBJECT);
}

static int cb_start_array(void *ctx) {
    dec *d = ctx;
    if (top_role(d) == R_TOP && d->stack[0].key == K_WARNINGS && !d->r->warnings)
        d->r->warnings = json_array();
    return push(d, V_ARRAY);
}

static int cb_end(void *ctx) {
    return pop(ctx) == 0;
}

static int cb_string(void *ctx, const unsigned char *s, size_t n) {
    return scalar(ctx, V_STRING, (const char *)s, n) == 0;
}

static int cb_number(void *ctx, const char *s, size_t n) {
    return scalar(ctx, V_NUMBER, s, n) == 0;
}

static int cb_null(void *ctx) {
    return scalar(ctx, V_OTHER, NULL, 0) == 0;
}

static int cb_boolean(void *ctx, int b) {
    (void)b;
    return cb_null(ctx);
}

/* ---- The end: what the response was ---------------------------------------------------- */

/* Sorts the 'n' entries at 'e' by time, keeping the order of equal times; 'tmp' has room for
 * 'n'. A merge sort: Loki sends each stream newest first, and qsort is not stable. */
static void sort_entries(sdk_log_entry *e, sdk_log_entry *tmp, size_t n) {
    if (n < 2)
        return;
    size_t h = n / 2, i = 0, j = h, k = 0;
    sort_entries(e, tmp, h);
    sort_entries(e + h, tmp, n - h);
    if (e[h - 1].ns <= e[h].ns)
        return; /* already in order: the common case of one stream sent oldest first */
    while (i < h && j < n)
        tmp[k++] = e[j].ns < e[i].ns ? e[j++] : e[i++];
    while (i < h)
        tmp[k++] = e[i++];
    memcpy(e, tmp, k * sizeof *e); /* the rest of the right half is in place */
}

static void drop_query_result(sdk_response *r) {
    for (size_t i = 0; i < r->n_series; i++)
        series_data_free(&r->series[i]);
    for (size_t i = 0; i < r->n_streams; i++)
        series_data_free(&r->streams[i]);
    for (size_t i = 0; i < r->n_entries; i++)
        free(r->entries[i].line);
    free(r->series);
    free(r->streams);
    free(r->entries);
    r->series = r->streams = NULL;
    r->entries = NULL;
    r->n_series = r->n_streams = r->n_entries = 0;
}

/* "data" was some other endpoint's: its bytes parsed again. */
static int other_data(dec *d) {
    json_error_t err;
    drop_query_result(d->r);
    d->r->type = SDK_RESULT_DATA;
    d->r->data = json_loadb(d->body + d->data_start, d->data_end - d->data_start,
                            JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    return d->r->data ? 0 : fail(d, "data: %s", err.text);
}

/* The first element of 'd' of a shape other than 'want', as an error; or 0. */
static int other_shape(dec *d, enum shape want) {
    static const char *const says[] = {
        [SH_MATRIX] = "a series with \"values\"",
        [SH_VECTOR] = "a series with one \"value\"",
        [SH_STREAM] = "a log stream",
    };
    for (int sh = 0; sh < NSHAPES; sh++)
        if (sh != (int)want && d->n_shape[sh])
            return fail(d, "data.result[%zu]: is %s, which a \"%s\" result does not hold",
                        d->first_shape[sh], says[sh], d->result_type);
    return 0;
}

/* "result" as "resultType" says it is. */
static int reconcile(dec *d) {
    sdk_response *r = d->r;
    const char *type = d->result_type;
    int pair = !strcmp(type, "scalar") || !strcmp(type, "string");
    if (pair != d->result_pair)
        return fail(d, "data.result: a %s is %s", type,
                    pair ? "[time, \"value\"]" : "a list of series or streams");
    if (!strcmp(type, "matrix") || !strcmp(type, "vector")) {
        r->type = type[0] == 'm' ? SDK_RESULT_MATRIX : SDK_RESULT_VECTOR;
        return other_shape(d, type[0] == 'm' ? SH_MATRIX : SH_VECTOR);
    }
    if (!strcmp(type, "streams")) {
        r->type = SDK_RESULT_STREAMS;
        size_t size = (r->n_entries + 1) * sizeof(sdk_log_entry);
        if (charge(d, size) < 0)
            return -1;
        sdk_log_entry *tmp = rt_xmalloc(size);
        sort_entries(r->entries, tmp, r->n_entries);
        free(tmp);
        release(d, size);
        return other_shape(d, SH_STREAM);
    }
    if (!pair)
        return fail(d,
                    "data.resultType: unknown \"%.40s\" (known: matrix, vector, scalar, "
                    "string, streams)",
                    type);
    if (!d->pair_text)
        return fail(d, "data.result: a %s is [time, \"value\"]", type);
    if (type[1] == 't') { /* string */
        r->type = SDK_RESULT_STRING;
        r->text = d->pair_text;
        d->pair_text = NULL;
        return 0;
    }
    if (charge(d, 2 * sizeof(double) + sizeof *r->series) < 0) /* three blocks, one charge */
        return -1;
    sdk_series_data s = {.t = rt_xmalloc(sizeof(double)), .v = rt_xmalloc(sizeof(double))};
    s.t[0] = d->pair_t;
    s.n = s.cap = 1;
    r->type = SDK_RESULT_SCALAR;
    r->series = rt_xmalloc(sizeof *r->series);
    r->series[r->n_series++] = s;
    if (parse_number(d->pair_text, strlen(d->pair_text), &s.v[0]) < 0)
        return fail(d, "data.result[1]: \"%.40s\" is not a number", d->pair_text);
    return 0;
}

/* Returns 0 for a success, 1 for an error envelope, -1 when it is neither. */
static int finish(dec *d) {
    if (!d->status)
        return fail(d, "missing status");
    if (!strcmp(d->status, "error")) {
        const char *type = d->error_type ? d->error_type : "", *error = d->error ? d->error : "";
        if (d->whylen)
            snprintf(d->why, d->whylen, "%s%s%s", type, *type && *error ? ": " : "",
                     *type || *error ? error : "error without a message");
        return 1;
    }
    if (strcmp(d->status, "success") != 0)
        return fail(d, "status: \"%.40s\" is neither \"success\" nor \"error\"", d->status);
    if (!d->seen_data)
        return fail(d, "missing data");
    if (!d->result_type)
        return other_data(d);
    if (d->deferred[0])
        return fail(d, "%s", d->deferred);
    if (!d->seen_result)
        return fail(d, "missing data.result");
    return reconcile(d);
}

/* yajl found the body malformed; 'at' is where, when yajl cannot say (the end of the body). */
static int json_error(dec *d, int at_end, size_t len) {
    unsigned char *text = yajl_get_error(d->h, 0, NULL, 0);
    size_t at = at_end ? len : yajl_get_bytes_consumed(d->h), n = text ? strlen((char *)text) : 0;
    while (n && (text[n - 1] == '\n' || text[n - 1] == '.' || text[n - 1] == ' '))
        n--;
    if (len == 0)
        fail(d, "malformed JSON: the body is empty");
    else
        fail(d, "malformed JSON at byte %zu: %.*s%s", at, (int)n, text ? (char *)text : "",
             at_end ? " (truncated?)" : "");
    if (text)
        yajl_free_error(d->h, text);
    return -1;
}

int sdk_response_decode(const char *body, size_t len, const sdk_memory *memory, sdk_response *out,
                        char *why, size_t whylen) {
    static const yajl_callbacks callbacks = {
        cb_null,      cb_boolean, NULL,   NULL,           cb_number, cb_string,
        cb_start_map, cb_map_key, cb_end, cb_start_array, cb_end,
    };
    dec d = {.r = out, .body = body, .len = len, .why = why, .whylen = whylen, .memory = memory};
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (whylen)
        why[0] = '\0';
    d.h = yajl_alloc(&callbacks, NULL, &d);
    if (!d.h) {
        fail(&d, "out of memory");
        goto out;
    }
    yajl_status st = yajl_parse(d.h, (const unsigned char *)body, len);
    int at_end = st == yajl_status_ok;
    if (at_end)
        st = yajl_complete_parse(d.h);
    if (d.failed)
        rc = -1;
    else if (st != yajl_status_ok)
        rc = json_error(&d, at_end, len);
    else
        rc = finish(&d);
    if (rc < 0 && d.too_big)
        rc = RT_ETOOBIG;
out:
    free_text(&d, d.status);
    free_text(&d, d.error_type);
    free_text(&d, d.error);
    free_text(&d, d.result_type);
    free_text(&d, d.label_name);
    free_text(&d, d.pair_text);
    series_data_free(&d.cur); /* empty unless the decode failed */
    if (rc != 0) {
        sdk_response_free(out);
        give_back(&d, d.charged);
    }
    if (d.h)
        yajl_free(d.h);
    return rc;
}

void sdk_response_free(sdk_response *r) {
    if (!r)
        return;
    drop_query_result(r);
    free(r->text);
    json_decref(r->data);
    json_decref(r->warnings);
    memset(r, 0, sizeof *r);
}

/* ---- Lua -------------------------------------------------------------------------------- */

static void push_labels(lua_State *L, const sdk_series_data *s) {
    lua_createtable(L, 0, (int)s->n_labels);
    for (size_t i = 0; i < s->n_labels; i++) {
        lua_pushstring(L, s->labels[i].value);
        lua_setfield(L, -2, s->labels[i].name);
    }
}

/* { { time =, ns =, line =, labels = }, … }: the entries of every stream, each stream's labels
 * one table that its entries share. */
static void push_entries(lua_State *L, const sdk_response *r) {
    luaL_checkstack(L, 4, NULL);
    lua_createtable(L, (int)r->n_streams, 0);
    for (size_t i = 0; i < r->n_streams; i++) {
        push_labels(L, &r->streams[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_createtable(L, (int)r->n_entries, 0);
    for (size_t i = 0; i < r->n_entries; i++) {
        const sdk_log_entry *e = &r->entries[i];
        lua_createtable(L, 0, 4);
        int64_t seconds = e->ns / 1000000000, fraction = e->ns % 1000000000;
        lua_pushnumber(L, (lua_Number)seconds + (lua_Number)fraction / 1e9);
        lua_setfield(L, -2, "time");
        lua_pushfstring(L, "%I", (lua_Integer)e->ns);
        lua_setfield(L, -2, "ns");
        lua_pushlstring(L, e->line, e->len);
        lua_setfield(L, -2, "line");
        lua_rawgeti(L, -3, (lua_Integer)e->stream + 1);
        lua_setfield(L, -2, "labels");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_remove(L, -2);
}

void sdk_response_push(lua_State *L, const sdk_response *r) {
    switch (r->type) {
    case SDK_RESULT_MATRIX:
    case SDK_RESULT_VECTOR:
        sdk_series_push_set(L, r->series, r->n_series);
        return;
    case SDK_RESULT_SCALAR:
        lua_pushnumber(L, r->n_series && r->series[0].n ? r->series[0].v[0] : NAN);
        return;
    case SDK_RESULT_STRING:
        lua_pushstring(L, r->text ? r->text : "");
        return;
    case SDK_RESULT_STREAMS:
        push_entries(L, r);
        return;
    case SDK_RESULT_DATA:
        sdk_json_to_lua(L, r->data);
        return;
    }
    lua_pushnil(L);
}
