/* runtime/rt_utf8.c -- UTF-8 as strictly as JSON wants it, for text that comes from analyzers and
 * users and may be any bytes: checking, repairing, cutting at character boundaries, counting, and
 * making a JSON string of it (the rest of JSON is in rt_json.c and rt_util.c).
 *
 * A byte that is not part of a well-formed character is a character of its own, which repair
 * replaces by U+FFFD: so cutting a text and then repairing it gives a prefix of the repaired
 * whole, and counting agrees with what a repaired copy shows. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"

#define REPLACEMENT     "\xEF\xBF\xBD" /* U+FFFD */
#define REPLACEMENT_LEN 3

/* The length of the well-formed character at 's' (of 'n' > 0 bytes left), or 0 when there is
 * none: no overlong forms, no surrogates, nothing above U+10FFFF, as JSON requires. */
static size_t utf8_char(const unsigned char *s, size_t n) {
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* True when the 8 bytes at 's' are ASCII: the common case, checked a word at a time. */
static int ascii8(const char *s) {
    uint64_t word;
    memcpy(&word, s, 8);
    return (word & 0x8080808080808080u) == 0;
}

int rt_utf8_valid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8 && ascii8(s + i)) {
            i += 8;
            continue;
        }
        size_t len = utf8_char((const unsigned char *)s + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

size_t rt_utf8_repair(const char *s, size_t n, char *out, size_t cap) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t len = utf8_char(p + i, n - i), w = len ? len : REPLACEMENT_LEN;
        if (w > cap - o)
            break;
        if (out)
            memcpy(out + o, len ? s + i : REPLACEMENT, w);
        o += w;
        i += len ? len : 1;
    }
    return o;
}

size_t rt_utf8_cut(const char *s, size_t n, size_t cap) {
    const unsigned char *p = (const unsigned char *)s;
    if (n <= cap)
        return n;
    /* Only a character that starts in the last 3 bytes kept can reach past them, and it starts
     * at the nearest byte that is not a continuation byte. */
    for (size_t j = cap; j > 0 && cap - j < 3;) {
        j--;
        if ((p[j] & 0xC0) != 0x80)
            return utf8_char(p + j, n - j) > cap - j ? j : cap;
    }
    return cap;
}

int rt_utf8_fit(const char *s, size_t cap) {
    if (!s)
        return 0;
    if (cap > INT_MAX)
        cap = INT_MAX;
    /* A character is at most 4 bytes: looking 4 past 'cap' tells whether the one there fits. */
    return (int)rt_utf8_cut(s, strnlen(s, cap + 4), cap);
}

size_t rt_utf8_count(const char *s, size_t n) {
    size_t i = 0, chars = 0;
    while (i < n) {
        if (n - i >= 8 && ascii8(s + i)) {
            i += 8, chars += 8;
            continue;
        }
        size_t len = utf8_char((const unsigned char *)s + i, n - i);
        i += len ? len : 1, chars++;
    }
    return chars;
}

json_t *rt_json_text(const char *s, size_t n) {
    if (rt_utf8_valid(s, n))
        return json_stringn_nocheck(s, n);
    size_t len = rt_utf8_repair(s, n, NULL, SIZE_MAX);
    char *copy = malloc(len ? len : 1); /* sized by the input: may fail, cleanly */
    if (!copy)
        return NULL;
    rt_utf8_repair(s, n, copy, len);
    json_t *v = json_stringn_nocheck(copy, len);
    free(copy);
    return v;
}

json_t *rt_json_text_cut(const char *s, size_t cap) {
    size_t n = strlen(s);
    return rt_json_text(s, rt_utf8_cut(s, n, cap));
}
