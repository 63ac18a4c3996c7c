/* tests/unit/test_utf8.c -- runtime/rt_utf8.c: which sequences are well-formed (overlong forms,
 * surrogates, above U+10FFFF, cut short), repair, cuts at character boundaries, counting, JSON
 * strings of any bytes, and rt_diag_add (runtime/rt_diag.c) given a message that is not UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "rt.h"

#define FFFD "\xEF\xBF\xBD"

/* A test string with its length, so that NUL bytes may be part of it. */
#define S(lit) (lit), sizeof(lit) - 1

/* ---- helpers -------------------------------------------------------------------------------- */

/* 'n' bytes at 's' repaired, into 'out' (at least 3 * n + 1 bytes); returns 'out'. */
static char *repaired(const char *s, size_t n, char *out) {
    size_t len = rt_utf8_repair(s, n, out, SIZE_MAX);
    assert_int_equal(len, rt_utf8_repair(s, n, NULL, SIZE_MAX)); /* measuring agrees */
    out[len] = '\0';
    return out;
}

static void assert_repair(const char *s, size_t n, const char *want) {
    char out[64];
    assert_true(n * 3 < sizeof out);
    assert_string_equal(repaired(s, n, out), want);
}

/* ---- validity ------------------------------------------------------------------------------- */

static void test_valid_sequences(void **state) {
    (void)state;
    assert_true(rt_utf8_valid(S("")));
    assert_true(rt_utf8_valid(S("plain ASCII, longer than eight bytes")));
    assert_true(rt_utf8_valid(S("a\0b"))); /* NUL is a character */
    assert_true(rt_utf8_valid(S("\x7F")));
    assert_true(rt_utf8_valid(S("\xC2\x80")));         /* U+0080, the first of 2 bytes */
    assert_true(rt_utf8_valid(S("h\xC3\xA9llo")));     /* é */
    assert_true(rt_utf8_valid(S("\xDF\xBF")));         /* U+07FF */
    assert_true(rt_utf8_valid(S("\xE0\xA0\x80")));     /* U+0800, the first of 3 bytes */
    assert_true(rt_utf8_valid(S("\xE2\x82\xAC")));     /* € */
    assert_true(rt_utf8_valid(S("\xED\x9F\xBF")));     /* U+D7FF, just below the surrogates */
    assert_true(rt_utf8_valid(S("\xEE\x80\x80")));     /* U+E000, just above them */
    assert_true(rt_utf8_valid(S("\xEF\xBF\xBF")));     /* U+FFFF */
    assert_true(rt_utf8_valid(S("\xF0\x90\x80\x80"))); /* U+10000, the first of 4 bytes */
    assert_true(rt_utf8_valid(S("\xF0\x9F\x98\x80"))); /* 😀 */
    assert_true(rt_utf8_valid(S("\xF4\x8F\xBF\xBF"))); /* U+10FFFF, the last */
    assert_true(rt_utf8_valid(S("12345678\xC3\xA9.12345678\xF0\x9F\x98\x80.1234567")));
}

static void test_invalid_sequences(void **state) {
    (void)state;
    /* overlong forms */
    assert_false(rt_utf8_valid(S("\xC0\xAF")));
    assert_false(rt_utf8_valid(S("\xC1\xBF")));
    assert_false(rt_utf8_valid(S("\xE0\x80\xAF")));
    assert_false(rt_utf8_valid(S("\xE0\x9F\xBF")));
    assert_false(rt_utf8_valid(S("\xF0\x80\x80\xAF")));
    assert_false(rt_utf8_valid(S("\xF0\x8F\xBF\xBF")));
    /* surrogates */
    assert_false(rt_utf8_valid(S("\xED\xA0\x80")));
    assert_false(rt_utf8_valid(S("\xED\xBF\xBF")));
    /* above U+10FFFF */
    assert_false(rt_utf8_valid(S("\xF4\x90\x80\x80")));
    assert_false(rt_utf8_valid(S("\xF5\x80\x80\x80")));
    assert_false(rt_utf8_valid(S("\xF7\xBF\xBF\xBF")));
    /* cut short, at the end or by a byte that does not continue */
    assert_false(rt_utf8_valid(S("\xC3")));
    assert_false(rt_utf8_valid(S("\xE2\x82")));
    assert_false(rt_utf8_valid(S("\xF0\x9F\x98")));
    assert_false(rt_utf8_valid(S("\xC3Z")));
    assert_false(rt_utf8_valid(S("\xE2\x82Z")));
    /* bytes that never start a character */
    assert_false(rt_utf8_valid(S("\x80")));
    assert_false(rt_utf8_valid(S("\xBF")));
    assert_false(rt_utf8_valid(S("\xFE")));
    assert_false(rt_utf8_valid(S("\xFF")));
    /* after the ASCII fast path, and a valid prefix of the right length does not hide it */
    assert_false(rt_utf8_valid(S("abcdefgh\xFF")));
    assert_false(rt_utf8_valid(S("abcdefghabcdefgh\xC3")));
    assert_true(rt_utf8_valid("abcdefgh\xC3", 8));
}

/* ---- repair --------------------------------------------------------------------------------- */

static void test_repair_replaces_each_byte(void **state) {
    (void)state;
    assert_repair(S(""), "");
    assert_repair(S("h\xC3\xA9llo"), "h\xC3\xA9llo");
    assert_repair(S("a\xFFz"), "a" FFFD "z");
    assert_repair(S("\xC0\xAF"), FFFD FFFD);                            /* overlong */
    assert_repair(S("\xED\xA0\x80"), FFFD FFFD FFFD);                   /* surrogate */
    assert_repair(S("\xF4\x90\x80\x80"), FFFD FFFD FFFD FFFD);          /* above U+10FFFF */
    assert_repair(S("\xE2\x82"), FFFD FFFD);                            /* cut short */
    assert_repair(S("\xF0\x9F\x98x"), FFFD FFFD FFFD "x");              /* cut short, then ASCII */
    assert_repair(S("\xE2\x82\xE2\x82\xAC"), FFFD FFFD "\xE2\x82\xAC"); /* then a whole € */
    assert_repair(S("abcdefgh\xFF"), "abcdefgh" FFFD);
}

static void test_repair_stops_at_cap(void **state) {
    (void)state;
    char out[16];
    assert_int_equal(rt_utf8_repair(S("ab\xFF"), out, 4), 2); /* U+FFFD does not fit */
    assert_int_equal(rt_utf8_repair(S("ab\xFF"), out, 5), 5);
    assert_memory_equal(out, "ab" FFFD, 5);
    assert_int_equal(rt_utf8_repair(S("a\xE2\x82\xAC"), out, 3), 1); /* nor does € */
    assert_int_equal(rt_utf8_repair(S("a\xE2\x82\xAC"), out, 4), 4);
    assert_int_equal(rt_utf8_repair(S("abc"), out, 0), 0);
    assert_int_equal(rt_utf8_repair(S("ab\xFFyz"), NULL, 4), 2); /* measures the same */
    assert_int_equal(rt_utf8_repair(S("ab\xFFyz"), NULL, SIZE_MAX), 7);
}

/* ---- cut and count -------------------------------------------------------------------------- */

static void test_cut_at_boundaries(void **state) {
    (void)state;
    const char *euro = "a\xE2\x82\xACz"; /* a € z: 5 bytes */
    size_t want[] = {0, 1, 1, 1, 4, 5, 5, 5};
    for (size_t cap = 0; cap < sizeof want / sizeof *want; cap++)
        assert_int_equal(rt_utf8_cut(euro, 5, cap), want[cap]);
    assert_int_equal(rt_utf8_cut(S("\xF0\x9F\x98\x80"), 3), 0);
    assert_int_equal(rt_utf8_cut(S("\xF0\x9F\x98\x80"), 4), 4);
    assert_int_equal(rt_utf8_cut(S("\xC3\xA9\xC3\xA9"), 3), 2);
    assert_int_equal(rt_utf8_cut(S("abc"), 0), 0);
    assert_int_equal(rt_utf8_cut(S(""), 0), 0);
    assert_int_equal(rt_utf8_cut(S("abc"), SIZE_MAX), 3);
    /* Bytes that are not part of a character are characters of their own: any cut is whole. */
    assert_int_equal(rt_utf8_cut(S("\xFF\xFF\xFF"), 2), 2);
    assert_int_equal(rt_utf8_cut(S("a\x80\x80\x80\x80"), 3), 3);
    assert_int_equal(rt_utf8_cut(S("ab\xE2\x82"), 3), 3);
    assert_int_equal(rt_utf8_cut(S("\xED\xA0\x80"), 2), 2); /* a surrogate is 3 bytes, not one */
}

static void test_count(void **state) {
    (void)state;
    assert_int_equal(rt_utf8_count(S("")), 0);
    assert_int_equal(rt_utf8_count(S("abc")), 3);
    assert_int_equal(rt_utf8_count(S("h\xC3\xA9llo")), 5);
    assert_int_equal(rt_utf8_count(S("\xE2\x82\xAC\xF0\x9F\x98\x80")), 2);
    assert_int_equal(rt_utf8_count(S("12345678901234567890\xC3\xA9")), 21);
    /* as many as the repaired copy shows */
    assert_int_equal(rt_utf8_count(S("a\xFFz")), 3);
    assert_int_equal(rt_utf8_count(S("\xE2\x82")), 2);
    assert_int_equal(rt_utf8_count(S("\xED\xA0\x80")), 3);
}

/* Checks the properties for the 'n' bytes at 's': repair makes UTF-8 and changes only what is
 * not; a cut never splits a character (cut, then repaired, is a prefix of the repaired whole)
 * and is the longest that does not; counting agrees with the repaired copy; a repair to a cap is
 * the longest prefix of whole characters of the repaired whole. */
static void check_properties(const char *s, size_t n) {
    char whole[3 * 16], part[3 * 16], capped[3 * 16];
    assert_true(n <= 16);
    size_t wlen = rt_utf8_repair(s, n, whole, SIZE_MAX);
    assert_true(rt_utf8_valid(whole, wlen));
    assert_int_equal(rt_utf8_valid(s, n), wlen == n && memcmp(s, whole, n) == 0);
    assert_int_equal(rt_utf8_count(s, n), rt_utf8_count(whole, wlen));
    size_t last = 0;
    for (size_t cap = 0; cap <= n + 1; cap++) {
        size_t k = rt_utf8_cut(s, n, cap);
        assert_true(k <= cap && k <= n && k >= last);
        size_t plen = rt_utf8_repair(s, k, part, SIZE_MAX);
        assert_memory_equal(part, whole, plen); /* a prefix: nothing split */
        for (size_t more = k + 1; more <= cap && more <= n; more++) {
            size_t mlen = rt_utf8_repair(s, more, part, SIZE_MAX);
            assert_true(mlen > wlen || memcmp(part, whole, mlen) != 0); /* the longest */
        }
        last = k;
    }
    for (size_t cap = 0; cap <= wlen; cap++) {
        size_t clen = rt_utf8_repair(s, n, capped, cap);
        assert_true(clen <= cap);
        assert_memory_equal(capped, whole, clen);
        assert_int_equal(clen, rt_utf8_repair(whole, wlen, NULL, cap));
    }
}

/* Every string of up to 4 bytes over an alphabet of the bytes that matter, and random longer
 * ones. (Without 0xEF and 0xBD no input looks like the U+FFFD that repair writes.) */
static void test_properties(void **state) {
    (void)state;
    static const unsigned char alphabet[] = {'a',  0x00, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                                             0xC2, 0xDF, 0xE0, 0xE2, 0xED, 0xF0, 0xF4, 0xF5, 0xFF};
    enum { A = sizeof alphabet };
    char s[16];
    for (size_t n = 1, total = A; n <= 4; n++, total *= A)
        for (size_t code = 0; code < total; code++) {
            size_t c = code;
            for (size_t i = 0; i < n; i++, c /= A)
                s[i] = (char)alphabet[c % A];
            check_properties(s, n);
        }
    uint32_t seed = 12345;
    for (int round = 0; round < 100000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 5 + (seed >> 16) % 12;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = (char)alphabet[(seed >> 16) % A];
        }
        check_properties(s, n);
    }
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static void test_json_text(void **state) {
    (void)state;
    json_t *v = rt_json_text(S("a\xFFz"));
    assert_non_null(v);
    assert_int_equal(json_string_length(v), 5);
    assert_memory_equal(json_string_value(v), "a" FFFD "z", 5);
    json_decref(v);
    v = rt_json_text(S("\xC0\xAF\xED\xA0\x80"));
    assert_string_equal(json_string_value(v), FFFD FFFD FFFD FFFD FFFD);
    json_decref(v);
    v = rt_json_text(S("a\0b"));
    assert_int_equal(json_string_length(v), 3);
    assert_memory_equal(json_string_value(v), "a\0b", 3);
    json_decref(v);
    v = rt_json_text(S(""));
    assert_string_equal(json_string_value(v), "");
    json_decref(v);
    v = rt_json_text(S("h\xC3\xA9llo"));
    assert_string_equal(json_string_value(v), "h\xC3\xA9llo");
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    assert_string_equal(text, "\"h\xC3\xA9llo\"");
    free(text);
    json_decref(v);
}

/* ---- diagnostics ---------------------------------------------------------------------------- */

static const char *item_string(const rt_diag *d, size_t i, const char *key) {
    return json_string_value(json_object_get(json_array_get(d->items, i), key));
}

static void test_diag_repairs_message(void **state) {
    (void)state;
    rt_diag d = {NULL};
    rt_diag_add(&d, "f\xFF.lua", 3, "k\xC0", "bad value \"%s\"", "\xE2\x82x");
    rt_diag_add(&d, NULL, 0, NULL, "%s", "fine \xE2\x82\xAC");
    assert_int_equal(rt_diag_count(&d), 2);
    assert_string_equal(item_string(&d, 0, "message"), "bad value \"" FFFD FFFD "x\"");
    assert_string_equal(item_string(&d, 0, "file"), "f" FFFD ".lua");
    assert_string_equal(item_string(&d, 0, "field"), "k" FFFD);
    assert_string_equal(item_string(&d, 1, "message"), "fine \xE2\x82\xAC");
    char *canonical = rt_json_canonical(d.items);
    assert_non_null(canonical);
    free(canonical);
    rt_diag_free(&d);
    assert_int_equal(rt_diag_count(&d), 0);
}

/* The canonical writer escapes a byte that needs it wherever it sits in a string, whether it
 * checks a word of eight bytes at once or byte by byte (rt_json.c, put_string): each such byte,
 * and bytes beside the range, at every place of strings of 0 to 24 bytes. */
static void test_canonical_escapes(void **state) {
    static const unsigned char specials[] = {'"', '\\', '\n', 0x01, 0x1f, 0x20, 0x7f, 0xc3};
    (void)state;
    for (size_t len = 1; len <= 24; len++)
        for (size_t at = 0; at < len; at++)
            for (size_t k = 0; k < sizeof specials; k++) {
                char text[32], want[64], *w = want;
                memset(text, 'a', len);
                text[at] = (char)specials[k];
                *w++ = '"';
                for (size_t i = 0; i < len; i++) {
                    unsigned char c = (unsigned char)text[i];
                    if (c == '"' || c == '\\')
                        w += sprintf(w, "\\%c", c);
                    else if (c == '\n')
                        w += sprintf(w, "\\n");
                    else if (c < 0x20)
                        w += sprintf(w, "\\u%04x", c);
                    else
                        *w++ = (char)c;
                }
                strcpy(w, "\"");
                json_t *j = json_stringn_nocheck(text, len);
                char *got = rt_json_canonical(j);
                assert_string_equal(got, want);
                free(got);
                json_decref(j);
            }
}

/* A message too long is cut between characters, never inside one. */
static void test_diag_cuts_long_message(void **state) {
    (void)state;
    char ascii[2000], accents[2001];
    memset(ascii, 'x', sizeof ascii - 1);
    ascii[sizeof ascii - 1] = '\0';
    for (size_t i = 0; i + 1 < sizeof accents; i += 2)
        memcpy(accents + i, "\xC3\xA9", 2);
    accents[sizeof accents - 1] = '\0';
    rt_diag d = {NULL};
    rt_diag_add(&d, NULL, 0, NULL, "%s", ascii);
    rt_diag_add(&d, NULL, 0, NULL, "%s", accents);
    rt_diag_add(&d, NULL, 0, NULL, "x%s", accents); /* the odd byte moves where the cut falls */
    assert_int_equal(strlen(item_string(&d, 0, "message")), 1023);
    const char *m = item_string(&d, 1, "message");
    assert_int_equal(strlen(m), 1022);
    assert_true(rt_utf8_valid(m, strlen(m)));
    m = item_string(&d, 2, "message");
    assert_int_equal(strlen(m), 1023);
    assert_true(rt_utf8_valid(m, strlen(m)));
    assert_null(strstr(m, FFFD));
    rt_diag_free(&d);
}

/* rt_utf8_fit: a "%.*s" precision that never cuts a character. */
static void test_fit(void **state) {
    (void)state;
    char text[64], out[64];
    assert_int_equal(rt_utf8_fit(NULL, 10), 0);
    assert_int_equal(rt_utf8_fit("abc", 10), 3);
    assert_int_equal(rt_utf8_fit("abc", 2), 2);
    assert_int_equal(rt_utf8_fit("a\xE2\x82\xAC", 3), 1); /* a€: the euro does not fit in 3 */
    assert_int_equal(rt_utf8_fit("a\xE2\x82\xAC", 4), 4);
    snprintf(text, sizeof text, "x%s", "\xC3\xA9\xC3\xA9\xC3\xA9");
    snprintf(out, sizeof out, "%.*s", rt_utf8_fit(text, 4), text);
    assert_string_equal(out, "x\xC3\xA9"); /* not "x\xC3\xA9\xC3" */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit),
        cmocka_unit_test(test_valid_sequences),
        cmocka_unit_test(test_invalid_sequences),
        cmocka_unit_test(test_repair_replaces_each_byte),
        cmocka_unit_test(test_repair_stops_at_cap),
        cmocka_unit_test(test_cut_at_boundaries),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_properties),
        cmocka_unit_test(test_json_text),
        cmocka_unit_test(test_diag_repairs_message),
        cmocka_unit_test(test_diag_cuts_long_message),
        cmocka_unit_test(test_canonical_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
