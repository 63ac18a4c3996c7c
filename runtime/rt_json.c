/* runtime/rt_json.c -- canonical JSON, the one form in which results are written and compared
 * (docs/sdk.md, "The result"): keys sorted bytewise, compact, integers as integers, reals with
 * at most 15 significant digits ("%.15g", plus ".0" when that looks whole, as jansson writes
 * them). jansson parses and holds the values; this writer replaces json_dumps because a result
 * is written for every analysis, and json_dumps with JSON_SORT_KEYS cost more than the whole
 * rest of a small analysis. Numbers are made in rt_util.c (rt_json_number). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"

#define MAX_DEPTH 2048 /* jansson's own parser stops at 2048 too */

typedef struct out {
    char *data;
    size_t len, cap;
} out;

/* A result of a small analysis takes about 700 bytes: one allocation rather than several. */
#define FIRST_CAP 1024

static void grow(out *o, size_t n) {
    o->cap = o->len + n + 1 < FIRST_CAP / 2 ? FIRST_CAP : (o->len + n + 1) * 2;
    o->data = rt_xrealloc(o->data, o->cap);
}

/* Room for 'n' more bytes and the NUL; the test alone is inlined, as every character of
 * punctuation comes through here. */
static inline void reserve(out *o, size_t n) {
    if (o->len + n + 1 > o->cap)
        grow(o, n);
}

static void put(out *o, const char *s, size_t n) {
    reserve(o, n);
    memcpy(o->data + o->len, s, n);
    o->len += n;
}

static inline void put_char(out *o, char c) {
    reserve(o, 1);
    o->data[o->len++] = c;
}

/* Bytes that JSON strings must escape: control characters, the quote and the backslash. */
static int needs_escape(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\';
}

/* Whether one of the 8 bytes of 'w' needs escaping: bytes below 0x20, and those equal to '"' or
 * '\\' (each test is exact for "some byte", the subtraction borrowing only past a byte that
 * matched). Strings are most of a result, and most of their bytes need nothing. */
static bool word_needs_escape(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    return (((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
            ((backslash - ones) & ~backslash)) &
           highs;
}

static void put_string(out *o, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t start = 0, i = 0;
    put_char(o, '"');
    for (uint64_t w; i + 8 <= n; i += 8) { /* the common case: no byte to escape in a word */
        memcpy(&w, s + i, 8);
        if (word_needs_escape(w))
            break;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!needs_escape(c))
            continue;
        put(o, s + start, i - start);
        start = i + 1;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
        case '"':
        case '\\':
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        }
        put(o, esc, len);
    }
    put(o, s + start, n - start);
    put_char(o, '"');
}

/* The largest doubles (above 1.79769313486231e308) that "%.15g" rounds up past DBL_MAX: that
 * text would not read back (jansson: "real number overflow"). They get the 17 digits that do. */
#define REAL_ROUNDS_PAST_MAX 1.79769313486231e308

/* Powers of ten that doubles hold exactly. */
static const double powers_of_ten[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* "%.15g" of 'x' in 'buf' without printf, which costs more than the rest of a number's way into
 * a result, for x between 1e-4 and 1e15 (fixed notation): x times the power of ten that gives
 * it 15 digits before the point is rounded to an integer, in one multiplication, which is off
 * by at most 1/16 there; so unless the fraction it drops is within 0.1 of a half, the integer
 * is the one printf rounds the exact x to. Returns the length, or 0 when printf must do it. */
static size_t decimal_text(char *buf, double x) {
    double m = fabs(x);
    if (!(m >= 1e-4 && m < 1e15))
        return 0;
    int d = 0;
    while (m * powers_of_ten[d] < 1e14)
        d++;
    double scaled = m * powers_of_ten[d], whole = floor(scaled), dropped = scaled - whole;
    if (fabs(dropped - 0.5) < 0.1)
        return 0;
    long long k = (long long)whole + (dropped > 0.5);
    if (k < 100000000000000LL || k >= 1000000000000000LL)
        return 0; /* not 15 digits after all: a power of ten, rounded across */
    while (d > 0 && k % 10 == 0) {
        k /= 10;
        d--;
    }
    char text[24], *digits = rt_digits(text + sizeof text, (unsigned long long)k), *p = buf;
    int n = (int)(text + sizeof text - digits);
    if (x < 0)
        *p++ = '-';
    if (n <= d) { /* 0.000ddd */
        memcpy(p, "0.", 2);
        memset(p + 2, '0', (size_t)(d - n));
        p += 2 + d - n;
        memcpy(p, digits, (size_t)n);
        return (size_t)(p + n - buf);
    }
    memcpy(p, digits, (size_t)(n - d));
    p += n - d;
    if (d) {
        *p++ = '.';
        memcpy(p, digits + n - d, (size_t)d);
        p += d;
    }
    return (size_t)(p - buf);
}

/* "%.15g" with the exponent as jansson writes it: 1e21, 2.5e-7. */
static void put_real(out *o, double x) {
    char buf[40];
    size_t n = decimal_text(buf, x);
    if (n) {
        put(o, buf, n);
        if (!memchr(buf, '.', n))
            put(o, ".0", 2);
        return;
    }
    bool huge = (x > REAL_ROUNDS_PAST_MAX || x < -REAL_ROUNDS_PAST_MAX) && x - x == 0; /* finite */
    snprintf(buf, sizeof buf, huge ? "%.17g" : "%.15g", x);
    char *e = strchr(buf, 'e');
    if (e) {
        char *digits = e + 1 + (e[1] == '+' || e[1] == '-');
        char *first = digits;
        while (*first == '0' && first[1])
            first++;
        if (e[1] == '+')
            digits--;
        memmove(digits, first, strlen(first) + 1);
    }
    put(o, buf, strlen(buf));
    if (!strpbrk(buf, ".en")) /* "3" -> "3.0", but not "1e21", "nan", "inf" */
        put(o, ".0", 2);
}

static void put_integer(out *o, json_int_t v) {
    char buf[24];
    /* in unsigned arithmetic, so that the most negative value negates cleanly */
    char *p =
        rt_digits(buf + sizeof buf, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
    if (v < 0)
        *--p = '-';
    put(o, p, (size_t)(buf + sizeof buf - p));
}

/* Keys are counted strings: jansson 2.14 lets a key hold NUL (json_object_setn), so neither the
 * order nor the output may stop at one. */
typedef struct member {
    const char *key;
    size_t keylen;
    const json_t *value;
} member;

/* Bytewise, a key before every longer key it begins ("a" < "a\0" < "a\0x" < "ab"). */
static int compare_members(const void *a, const void *b) {
    const member *x = a, *y = b;
    if (x->keylen && y->keylen && x->key[0] != y->key[0]) /* most keys differ at once */
        return (unsigned char)x->key[0] - (unsigned char)y->key[0];
    int c = memcmp(x->key, y->key, x->keylen < y->keylen ? x->keylen : y->keylen);
    return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* Objects are small: insertion sort, with no call through a function pointer per comparison,
 * beats qsort up to a few dozen members. */
static void sort_members(member *m, size_t n) {
    if (n > 32) {
        qsort(m, n, sizeof *m, compare_members);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        member x = m[i];
        size_t j = i;
        for (; j > 0 && compare_members(&m[j - 1], &x) > 0; j--)
            m[j] = m[j - 1];
        m[j] = x;
    }
}

static int put_value(out *o, const json_t *v, int depth);

static int put_object(out *o, const json_t *v, int depth) {
    json_t *object = (json_t *)v; /* jansson's iterators take non-const pointers */
    size_t n = json_object_size(v), i = 0;
    member small[16], *members = n <= 16 ? small : rt_xmalloc(n * sizeof *members);
    for (void *it = json_object_iter(object); it && i < n; it = json_object_iter_next(object, it))
        members[i++] = (member){json_object_iter_key(it), json_object_iter_key_len(it),
                                json_object_iter_value(it)};
    n = i;
    sort_members(members, n);
    int rc = 0;
    put_char(o, '{');
    for (i = 0; i < n && rc == 0; i++) {
        if (i)
            put_char(o, ',');
        put_string(o, members[i].key, members[i].keylen);
        put_char(o, ':');
        rc = put_value(o, members[i].value, depth + 1);
    }
    put_char(o, '}');
    if (members != small)
        free(members);
    return rc;
}

static int put_array(out *o, const json_t *v, int depth) {
    int rc = 0;
    put_char(o, '[');
    for (size_t i = 0; i < json_array_size(v) && rc == 0; i++) {
        if (i)
            put_char(o, ',');
        rc = put_value(o, json_array_get(v, i), depth + 1);
    }
    put_char(o, ']');
    return rc;
}

static int put_value(out *o, const json_t *v, int depth) {
    if (depth > MAX_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return put_object(o, v, depth);
    case JSON_ARRAY:
        return put_array(o, v, depth);
    case JSON_STRING:
        put_string(o, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        put_integer(o, json_integer_value(v));
        return 0;
    case JSON_REAL:
        put_real(o, json_real_value(v));
        return 0;
    case JSON_TRUE:
        put(o, "true", 4);
        return 0;
    case JSON_FALSE:
        put(o, "false", 5);
        return 0;
    default:
        put(o, "null", 4);
        return 0;
    }
}

char *rt_json_canonical(const json_t *value) {
    out o = {0};
    if (!value || put_value(&o, value, 0) != 0) {
        free(o.data);
        return NULL;
    }
    put(&o, "", 0);
    o.data[o.len] = '\0';
    return o.data;
}
