/* tests/unit/test_logpattern.c -- log patterns (sdk/sdk_logpattern.c): masking, templates of
 * constructed lines with known answers, the split of positions with few words, slots, times and
 * samples, matching, the shape cap, every allocation failing in turn, the comparison's
 * statistics; grouping accuracy on the four Loghub samples of the shared data against Drain's
 * published figures; and the Lua module inquest.logs (sdk/sdk_logs.c) under a memory limit and a
 * count hook that charges its work. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "rt.h"
#include "sdk.h"
#include "sdk_logpattern.h"
#include "loghub.h"

/* ---- helpers -------------------------------------------------------------------------------- */

/* A lua_Alloc that counts what it holds (so a wrong old size shows), refuses past 'limit', and
 * refuses the growing call number 'fail_at' (counted from 0; -1: none). */
typedef struct budget {
    size_t used, limit;
    long calls, fail_at;
} budget;

static void *budget_alloc(void *ud, void *p, size_t osize, size_t nsize) {
    budget *b = ud;
    if (!p)
        osize = 0;
    if (nsize == 0) {
        free(p);
        assert_true(b->used >= osize);
        b->used -= osize;
        return NULL;
    }
    if (nsize > osize && (b->calls++ == b->fail_at || b->used - osize + nsize > b->limit))
        return NULL;
    void *q = realloc(p, nsize);
    if (q)
        b->used = b->used - osize + nsize;
    return q;
}

static budget unlimited(void) {
    return (budget){0, SIZE_MAX, 0, -1};
}

static sdk_lp *new_miner(budget *b, const sdk_lp_config *c) {
    sdk_lp *m = sdk_lp_new(c, budget_alloc, b);
    assert_non_null(m);
    return m;
}

static long add(sdk_lp *m, const char *line) {
    long id = sdk_lp_add(m, line, strlen(line), 0, NAN);
    assert_true(id >= 0);
    return id;
}

static void addf(sdk_lp *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(sdk_lp *m, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    add(m, line);
}

static void expect_mask(const char *line, const char *want) {
    char out[1024];
    size_t n = sdk_lp_mask(line, strlen(line), out);
    assert_int_equal(n, strlen(out));
    if (strcmp(out, want) != 0)
        fail_msg("mask(\"%s\")\n got: \"%s\"\nwant: \"%s\"", line, out, want);
}

/* The built pattern whose text is 'text', or NULL. */
static const sdk_lp_pattern *find(const sdk_lp *m, const char *text) {
    for (size_t i = 0; i < sdk_lp_count(m); i++)
        if (strcmp(sdk_lp_get(m, i)->text, text) == 0)
            return sdk_lp_get(m, i);
    return NULL;
}

/* Builds 'm' and asserts that its patterns are exactly the 'n' texts of 'want' with the counts
 * of 'counts' (in any order). */
static void expect_patterns(sdk_lp *m, size_t n, const char *const *want, const uint64_t *counts) {
    assert_int_equal(sdk_lp_build(m), RT_OK);
    char got[4096] = "";
    for (size_t i = 0, used = 0; i < sdk_lp_count(m) && used < sizeof got; i++)
        used +=
            (size_t)snprintf(got + used, sizeof got - used, "\n  %llu %s",
                             (unsigned long long)sdk_lp_get(m, i)->total, sdk_lp_get(m, i)->text);
    if (sdk_lp_count(m) != n)
        fail_msg("%zu patterns, want %zu:%s", sdk_lp_count(m), n, got);
    for (size_t i = 0; i < n; i++) {
        const sdk_lp_pattern *p = find(m, want[i]);
        if (!p)
            fail_msg("no pattern \"%s\" among:%s", want[i], got);
        if (p->total != counts[i])
            fail_msg("\"%s\": %llu lines, want %llu", want[i], (unsigned long long)p->total,
                     (unsigned long long)counts[i]);
    }
}

/* ---- Masking ------------------------------------------------------------------------------- */

static void test_mask(void **state) {
    (void)state;
    /* numbers, IPs, ports, hex, ids, paths with numbers: values */
    expect_mask("PacketResponder 1 for block blk_-695 terminating",
                "PacketResponder <*> for block <*> terminating");
    expect_mask("Received block from /10.250.19.102:54106 of size 67108864",
                "Received block from <*> of size <*>");
    expect_mask("session 0x14ed93111f20027 at QuorumPeer$QuorumServer@33557fe4 snapshot.b00000084",
                "session <*> at <*>"); /* adjacent values: one */
    expect_mask("id 4f1c2a3e-93b1-4c7e-8d3a-2b6f0e9c1d7a done", "id <*> done");
    expect_mask("open /user/root/_task_0001_m_000590_0/part-00590. now", "open <*> now");
    expect_mask("maxSessionTimeout set to -1 after v1.2.3",
                "maxSessionTimeout set to <*> after <*>");
    /* host names by their top-level domain; Java classes and settings stay words */
    expect_mask("for ns.marryaldkfaczcz.com [173.234.31.186] failed", "for <*> failed");
    expect_mask("due to java.io.IOException: user.dir=/ n.leader",
                "due to java.io.IOException: user.dir=/ n.leader");
    /* adjacent values are one; a unit after a value is part of it */
    expect_mask("0 bytes sent, 18846 bytes (18.4 KB) received, lifetime <1 sec",
                "<*> sent, <*> received, lifetime <*>");
    expect_mask("took 250 ms then 3 s", "took <*> then <*>");
    expect_mask("s 5 MB", "s <*>");
    /* words holding digits that are not values: ssh2, SOCKS5, IPv4, test9 */
    expect_mask("via SOCKS5 and ssh2 over IPv4 as test9", "via SOCKS5 and ssh2 over IPv4 as test9");
    /* hex words need a digit: "face" and "added" are words */
    expect_mask("face added deadbeef1", "face added <*>");
    /* white space of any kind and length separates words */
    expect_mask("  a\t\tb \r\n c  ", "a b c");
    expect_mask("", "");
    /* a word holding the byte that marks variables is a value, never a word read as one */
    expect_mask("x \x01 y", "x <*> y");
    /* bytes beyond ASCII are kept, and end runs as punctuation does */
    expect_mask("caf\xc3\xa9 2\xc3\xa9t\xc3\xa9", "caf\xc3\xa9 <*>");
}

/* ---- Templates of constructed lines --------------------------------------------------------- */

static const char *const users[] = {"alice", "bob",   "carol", "dave", "erin",    "frank",
                                    "grace", "heidi", "ivan",  "judy", "mallory", "oscar"};

/* Three templates, interleaved, with values in their variables; each line's pattern is its
 * template, whatever the values. */
static void test_constructed(void **state) {
    (void)state;
    budget b = unlimited();
    sdk_lp *m = new_miner(&b, NULL);
    long ids[300];
    for (int i = 0; i < 100; i++) {
        char line[200];
        snprintf(line, sizeof line, "Invalid user %s from 10.0.%d.%d", users[i % 12], i % 7, i);
        ids[3 * i] = add(m, line);
        snprintf(line, sizeof line, "Accepted publickey for %s from 10.1.0.%d port %d ssh2",
                 users[(i * 5) % 12], i, 40000 + i * 13);
        ids[3 * i + 1] = add(m, line);
        snprintf(line, sizeof line, "disk /dev/sda%d is %d%% full (%d.%d GB free)", i % 4, i,
                 100 - i, i % 10);
        ids[3 * i + 2] = add(m, line);
    }
    static const char *const want[] = {
        "Invalid user <*> from <*>",
        "Accepted publickey for <*> from <*> port <*> ssh2",
        "disk <*> is <*> full <*> free)",
    };
    expect_patterns(m, 3, want, (const uint64_t[]){100, 100, 100});
    for (int i = 0; i < 300; i++)
        assert_string_equal(sdk_lp_get(m, sdk_lp_pattern_of(m, ids[i]))->text, want[i % 3]);
    assert_int_equal(sdk_lp_lines(m), 300);
    sdk_lp_free(m);
    assert_int_equal(b.used, 0);
}

/* A position with at most split_max distinct words keeps them as constants, one pattern each;
 * one more word, or a value among them, makes it a variable. */
static void test_split(void **state) {
    (void)state;
    static const char *const states[] = {"LOOKING", "LEADING", "FOLLOWING", "OBSERVING"};
    budget b = unlimited();
    sdk_lp *m = new_miner(&b, NULL);
    for (int i = 0; i < 90; i++)
        addf(m, "Notification: %d (n.leader), 0x%x (n.zxid), %s (n.state), %s (my state)", i % 3, i,
             states[i % 3], states[(i / 3) % 2]);
    assert_int_equal(sdk_lp_build(m), RT_OK);
    assert_int_equal(sdk_lp_count(m), 6); /* 3 states x 2 states: 15 lines each */
    const sdk_lp_pattern *p =
        find(m, "Notification: <*> (n.leader), <*> (n.zxid), LEADING (n.state), LEADING (my "
                "state)");
    assert_non_null(p);
    assert_int_equal(p->total, 15);
    assert_int_equal(p->cluster, sdk_lp_get(m, 0)->cluster); /* split from one cluster */
    sdk_lp_free(m);

    m = new_miner(&b, NULL); /* a fourth word: a value */
    for (int i = 0; i < 80; i++)
        addf(m, "state changed to %s after election", states[i % 4]);
    static const char *const one[] = {"state changed to <*> after election"};
    expect_patterns(m, 1, one, (const uint64_t[]){80});
    sdk_lp_free(m);

    m = new_miner(&b, NULL); /* two words and a value at one place: a variable */
    add(m, "Failed none for invalid user admin from 1.2.3.4");
    add(m, "Failed none for invalid user root from 1.2.3.5");
    add(m, "Failed none for invalid user 0 from 1.2.3.6");
    static const char *const mixed[] = {"Failed none for invalid user <*> from <*>"};
    expect_patterns(m, 1, mixed, (const uint64_t[]){3});
    sdk_lp_free(m);

    sdk_lp_config c = sdk_lp_defaults; /* split_max 4: the four states are four patterns */
    c.split_max = 4;
    m = new_miner(&b, &c);
    for (int i = 0; i < 80; i++)
        addf(m, "state changed to %s after election", states[i % 4]);
    assert_int_equal(sdk_lp_build(m), RT_OK);
    assert_int_equal(sdk_lp_count(m), 4);
    sdk_lp_free(m);
    assert_int_equal(b.used, 0);
}

/* Lines of other lengths or first words are other clusters; lines of one leaf that share less
 * than 'similarity' of their words are too; a pattern shows a word wherever all its shapes have
 * it, also where its cluster's other patterns differ. */
static void test_clusters(void **state) {
    (void)state;
    budget b = unlimited();
    sdk_lp *m = new_miner(&b, NULL);
    for (int i = 0; i < 10; i++) {
        addf(m, "Connection closed by %d.1.1.1 [preauth]", i);
        addf(m, "Connection reset by peer %d", i);
        addf(m, "Closed connection by 10.0.0.%d [preauth]", i);
        addf(m, "Client attempting to establish new session at 10.0.0.%d:%d", i, 4000 + i);
        addf(m, "Client attempting to renew session 0x%x at 10.0.0.%d:%d", i, i, 5000 + i);
        addf(m, "Connection to db-%d lost while reading reply", i);
    }
    static const char *const want[] = {
        "Connection closed by <*> [preauth]",
        "Connection reset by peer <*>",
        "Closed connection by <*> [preauth]",
        "Client attempting to establish new session at <*>",
        "Client attempting to renew session <*> at <*>",
        "Connection to <*> lost while reading reply",
    };
    expect_patterns(m, 6, want, (const uint64_t[]){10, 10, 10, 10, 10, 10});
    sdk_lp_free(m);

    sdk_lp_config c = sdk_lp_defaults; /* 3 words of 5 equal: one cluster at 0.6, two above */
    m = new_miner(&b, &c);
    for (int i = 0; i < 8; i++)
        addf(m, "job %s finished with %s", users[i], i % 2 ? "success" : "warnings");
    static const char *const loose[] = {"job <*> finished with success",
                                        "job <*> finished with warnings"};
    expect_patterns(m, 2, loose, (const uint64_t[]){4, 4});
    sdk_lp_free(m);
    c.similarity = 0.9;
    m = new_miner(&b, &c);
    for (int i = 0; i < 8; i++)
        addf(m, "job %s finished with %s", users[i], i % 2 ? "success" : "warnings");
    assert_int_equal(sdk_lp_build(m), RT_OK);
    assert_int_equal(sdk_lp_count(m), 8);
    sdk_lp_free(m);
    assert_int_equal(b.used, 0);
}

/* ---- Slots, times, samples, matching, limits ------------------------------------------------ */

static void test_slots_times_samples(void **state) {
    (void)state;
    budget b = unlimited();
    sdk_lp *m = new_miner(&b, NULL);
    const char *a = "payment failed for order 1 after 30 ms",
               *c = "payment failed for order 2 after 31 ms";
    assert_int_equal(sdk_lp_add(m, a, strlen(a), 0, 100), 0);
    assert_int_equal(sdk_lp_add(m, c, strlen(c), 0, 50), 0); /* one shape */
    assert_int_equal(sdk_lp_add(m, c, strlen(c), 1, NAN), 0);
    assert_int_equal(sdk_lp_add(m, c, strlen(c), 1, 300), 0);
    const char *u = "user bob logged out";
    for (int i = 0; i < 5; i++)
        assert_int_equal(sdk_lp_add(m, u, strlen(u), 1, 200 + i), 1);
    const char *v = "user eve logged out";
    assert_int_equal(sdk_lp_add(m, v, strlen(v), 1, 210), 2);
    assert_int_equal(sdk_lp_build(m), RT_OK);
    assert_int_equal(sdk_lp_count(m), 3);
    const sdk_lp_pattern *p = find(m, "payment failed for order <*> after <*>");
    assert_non_null(p);
    assert_int_equal(p->count[0], 2);
    assert_int_equal(p->count[1], 2);
    assert_int_equal(p->total, 4);
    assert_true(p->first[0] == 50 && p->last[0] == 100 && p->first[1] == 300 && p->last[1] == 300);
    assert_int_equal(p->sample_len[0][0], strlen(a)); /* each slot's first line of the shape */
    assert_memory_equal(p->sample[0][0], a, strlen(a));
    assert_null(p->sample[0][1]);
    assert_memory_equal(p->sample[1][0], c, strlen(c));
    assert_int_equal(p->sample_len[1][0], strlen(c));
    p = find(m, "user <*> logged out"); /* two words at one place: split, one pattern each */
    assert_null(p);
    p = find(m, "user bob logged out");
    assert_non_null(p);
    assert_true(isnan(p->first[0]) && p->first[1] == 200 && p->last[1] == 204);
    assert_int_equal(p->count[1], 5);
    sdk_lp_free(m);

    m = new_miner(&b, NULL); /* samples: the first lines of the most frequent shapes */
    for (int i = 0; i < 10; i++)
        for (int k = 0; k <= i; k++)
            addf(m, "GET /%s %d", users[i], k);
    assert_int_equal(sdk_lp_build(m), RT_OK);
    assert_int_equal(sdk_lp_count(m), 1);
    p = sdk_lp_get(m, 0);
    assert_string_equal(p->text, "GET <*> <*>");
    assert_int_equal(p->shapes, 10);
    assert_memory_equal(p->sample[0][0], "GET /judy 0", 11);
    assert_memory_equal(p->sample[0][1], "GET /ivan 0", 11);
    assert_memory_equal(p->sample[0][2], "GET /heidi 0", 12);
    sdk_lp_free(m);
    assert_int_equal(b.used, 0);
}

static void test_match(void **state) {
    (void)state;
    budget b = unlimited();
    sdk_lp *m = new_miner(&b, NULL);
    assert_int_equal(sdk_lp_match(m, "x", 1), (size_t)-1); /* nothing built */
    for (int i = 0; i < 20; i++) {
        addf(m, "Invalid user %s from 10.0.0.%d", users[i % 12], i);
        addf(m, "Too many authentication failures for %s", i % 2 ? "root" : "admin");
    }
    assert_int_equal(sdk_lp_build(m), RT_OK);
    static const struct {
        const char *line, *pattern;
    } cases[] = {
        {"Invalid user bob from 10.9.9.9", "Invalid user <*> from <*>"}, /* a known shape */
        {"Invalid user zoe from 10.9.9.9", "Invalid user <*> from <*>"}, /* a new word */
        {"Too many authentication failures for root", "Too many authentication failures for root"},
        {"Too many authentication failures for guest", NULL}, /* a third word: no pattern */
        {"Invalid user zoe", NULL},                           /* another length */
        {"Valid user zoe from 10.9.9.9", NULL},               /* another first word */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t p = sdk_lp_match(m, cases[i].line, strlen(cases[i].line));
        if (!cases[i].pattern && p != (size_t)-1)
            fail_msg("\"%s\" matched \"%s\"", cases[i].line, sdk_lp_get(m, p)->text);
        if (cases[i].pattern && p == (size_t)-1)
            fail_msg("\"%s\" matched nothing", cases[i].line);
        if (cases[i].pattern)
            assert_string_equal(sdk_lp_get(m, p)->text, cases[i].pattern);
    }
    assert_int_equal(sdk_lp_lines(m), 40); /* matching adds nothing */
    add(m, "one more line");
    assert_int_equal(sdk_lp_count(m), 0); /* a build lasts until the next add */
    assert_null(sdk_lp_get(m, 0));
    sdk_lp_free(m);
    assert_int_equal(b.used, 0);
}

/* Past max_shapes, lines of known shapes are counted and lines of new shapes dropped; lines are
 * looked at up to max_line bytes, cut at a character. */
static void test_limits(void **state) {
    (void)state;
    budget b = unlimited();
    sdk_lp_config c = sdk_lp_defaults;
    c.max_shapes = 2;
    c.max_line = 16;
    assert_null(sdk_lp_new(&(sdk_lp_config){0, 3, 10, 10}, budget_alloc, &b));
    assert_null(sdk_lp_new(&(sdk_lp_config){0.5, 0, 10, 10}, budget_alloc, &b));
    sdk_lp *m = new_miner(&b, &c);
    assert_int_equal(sdk_lp_add(m, "alpha 1", 7, 0, NAN), 0);
    assert_int_equal(sdk_lp_add(m, "beta 2", 6, 0, NAN), 1);
    assert_int_equal(sdk_lp_add(m, "gamma 3", 7, 0, NAN), RT_ELIMIT);
    assert_int_equal(sdk_lp_add(m, "alpha 4", 7, 0, NAN), 0);
    /* cut at 16 bytes, not inside the two-byte é: "alpha 5 caf" plus 5 more bytes */
    const char *longer = "alpha 5 caf\xc3\xa9\xc3\xa9\xc3\xa9 and the rest";
    assert_int_equal(sdk_lp_add(m, longer, strlen(longer), 0, NAN), RT_ELIMIT);
    assert_int_equal(sdk_lp_dropped(m), 2);
    assert_int_equal(sdk_lp_lines(m), 3);
    assert_int_equal(sdk_lp_shapes(m), 2);
    sdk_lp_free(m);

    c.max_shapes = 10;
    m = new_miner(&b, &c);
    assert_int_equal(sdk_lp_add(m, longer, strlen(longer), 0, NAN), 0);
    assert_int_equal(sdk_lp_build(m), RT_OK);
    assert_string_equal(sdk_lp_get(m, 0)->text, "alpha <*> caf\xc3\xa9\xc3\xa9"); /* 15 bytes */
    assert_int_equal(sdk_lp_get(m, 0)->sample_len[0][0], 15);
    sdk_lp_free(m);
    assert_int_equal(b.used, 0);
}

/* Lines of the four Loghub samples through a miner whose allocation number k fails, for every
 * k until none does: each add and build either works or says RT_ENOMEM and leaves the miner as
 * it was, so that retrying gives the patterns of a miner that never failed. */
static void test_out_of_memory(void **state) {
    (void)state;
    static const char *const lines[] = {
        "Invalid user bob from 10.0.0.1",
        "Invalid user eve from 10.0.0.2",
        "Connection closed by 10.0.0.3 [preauth]",
        "Invalid user bob from 10.0.0.4",
        "state LOOKING",
        "state LEADING",
        "Received disconnect from 1.2.3.4: 11: Bye Bye",
        "Too many authentication failures for root",
        "Invalid user mallory from 10.0.0.5",
    };
    enum { N = sizeof lines / sizeof *lines };
    char want[2048] = "", got[2048];
    for (long k = -1, failed = 1; failed; k++) { /* k -1: nothing fails, the answer */
        budget b = unlimited();
        b.fail_at = k;
        failed = 0;
        sdk_lp *m = sdk_lp_new(NULL, budget_alloc, &b);
        if (!m) {
            failed = 1;
            assert_int_equal(b.used, 0);
            continue;
        }
        for (int rep = 0; rep < 3; rep++)
            for (int i = 0; i < N; i++) {
                long rc = sdk_lp_add(m, lines[i], strlen(lines[i]), (unsigned)rep % 2, NAN);
                if (rc == RT_ENOMEM) {
                    failed = 1;
                    rc = sdk_lp_add(m, lines[i], strlen(lines[i]), (unsigned)rep % 2, NAN);
                }
                assert_true(rc >= 0);
            }
        if (sdk_lp_build(m) == RT_ENOMEM) {
            failed = 1;
            assert_int_equal(sdk_lp_count(m), 0);
            assert_int_equal(sdk_lp_build(m), RT_OK);
        }
        got[0] = 0;
        for (size_t i = 0, used = 0; i < sdk_lp_count(m); i++) {
            const sdk_lp_pattern *p = sdk_lp_get(m, i);
            used +=
                (size_t)snprintf(got + used, sizeof got - used, "%s %llu/%llu|", p->text,
                                 (unsigned long long)p->count[0], (unsigned long long)p->count[1]);
        }
        if (k < 0)
            strcpy(want, got);
        assert_string_equal(got, want);
        assert_int_equal(sdk_lp_lines(m), 3 * N);
        sdk_lp_free(m);
        assert_int_equal(b.used, 0);
        failed |= k < 0;
    }
}

/* ---- The comparison ------------------------------------------------------------------------- */

static void assert_close(double got, double want, double rel) {
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("got %.17g, want %.17g", got, want);
}

static void test_binomial(void **state) {
    (void)state;
    /* P(X >= 8), X ~ B(10, 0.5) = (45 + 10 + 1) / 1024 */
    assert_close(sdk_lp_binomial_upper(8, 10, 0.5), 56.0 / 1024, 1e-12);
    assert_close(sdk_lp_binomial_upper(1, 10, 0.5), 1023.0 / 1024, 1e-12);
    assert_close(sdk_lp_binomial_upper(10, 10, 0.25), pow(0.25, 10), 1e-10);
    assert_close(sdk_lp_binomial_upper(3, 5, 0.3), 0.16308, 1e-12); /* 0.1323+0.02835+0.00243 */
    assert_true(sdk_lp_binomial_upper(0, 10, 0.5) == 1 && sdk_lp_binomial_upper(11, 10, 0.5) == 0);
    assert_true(sdk_lp_binomial_upper(1, 10, 0) == 0 && sdk_lp_binomial_upper(1, 10, 1) == 1);
    /* large n: mean 500,000, sd 500; 3 sd above is about 0.00135 */
    double p = sdk_lp_binomial_upper(501500, 1000000, 0.5);
    assert_true(p > 0.0012 && p < 0.0015);
}

static void test_compare(void **state) {
    (void)state;
    sdk_lp_change c;
    /* equal windows, 5 new lines: each would fall in the incident with probability 1/2 */
    sdk_lp_compare(0, 600, 5, 600, NULL, &c);
    assert_int_equal(c.status, SDK_LP_NEW);
    assert_close(c.p_up, 1.0 / 32, 1e-12);
    assert_true(c.base_rate == 0 && c.rate == 0.5 && isinf(c.ratio));
    /* 10 lines an hour, 30 in ten minutes: 18 times the rate */
    sdk_lp_compare(10, 3600, 30, 600, NULL, &c);
    assert_int_equal(c.status, SDK_LP_INCREASED);
    assert_close(c.ratio, 18, 1e-12);
    assert_close(c.p_up, sdk_lp_binomial_upper(30, 40, 1.0 / 7), 1e-12);
    assert_true(c.p_up < 1e-10);
    /* the same rate is steady, whatever the counts */
    sdk_lp_compare(600, 3600, 100, 600, NULL, &c);
    assert_int_equal(c.status, SDK_LP_STEADY);
    assert_close(c.ratio, 1, 1e-12);
    /* twice the rate on few lines is not significant */
    sdk_lp_compare(2, 600, 4, 600, NULL, &c);
    assert_int_equal(c.status, SDK_LP_STEADY);
    /* fewer, and none */
    sdk_lp_compare(600, 600, 100, 600, NULL, &c);
    assert_int_equal(c.status, SDK_LP_DECREASED);
    sdk_lp_compare(50, 600, 0, 600, NULL, &c);
    assert_int_equal(c.status, SDK_LP_GONE);
    assert_close(c.p_down, pow(0.5, 50), 1e-9);
    /* one new line is under min_count 2; with min_count 1 it is new */
    sdk_lp_compare(0, 600, 1, 600, NULL, &c);
    assert_int_equal(c.status, SDK_LP_STEADY);
    sdk_lp_compare(0, 600, 1, 600, &(sdk_lp_thresholds){0.01, 2, 1}, &c);
    assert_int_equal(c.status, SDK_LP_NEW);
    sdk_lp_compare(0, 600, 0, 600, NULL, &c);
    assert_true(isnan(c.ratio) && c.status == SDK_LP_STEADY);
    assert_string_equal(sdk_lp_status_name(SDK_LP_INCREASED), "increased");
    assert_string_equal(sdk_lp_status_name(SDK_LP_GONE), "gone");
}

/* ---- The Loghub samples ------------------------------------------------------------------- */

/* Grouping accuracy on each sample, with the one default configuration, at least Drain's
 * published figure (the bar; Brain's is the aim). */
static void test_loghub_accuracy(void **state) {
    (void)state;
    for (int k = 0; k < LH_DATASETS; k++) {
        lh_data d;
        char why[256];
        if (lh_load(SHARED_DATA, lh_names[k], &d, why) < 0)
            fail_msg("the shared data is missing: %s (tests read it from %s, beside the "
                     "repository)",
                     why, SHARED_DATA);
        assert_int_equal(d.n, 2000);
        budget b = unlimited();
        sdk_lp *m = new_miner(&b, NULL);
        long *shape = calloc(d.n, sizeof *shape);
        size_t *group = calloc(d.n, sizeof *group);
        for (size_t i = 0; i < d.n; i++)
            shape[i] = sdk_lp_add(m, d.content[i], d.len[i], 0, NAN);
        assert_int_equal(sdk_lp_build(m), RT_OK);
        for (size_t i = 0; i < d.n; i++) {
            assert_true(shape[i] >= 0);
            group[i] = sdk_lp_pattern_of(m, shape[i]);
        }
        double ga = lh_accuracy(&d, group);
        printf("# %-9s grouping accuracy %.4f (Drain %.4f, Brain %.4f), %zu patterns\n",
               lh_names[k], ga, lh_drain[k], lh_brain[k], sdk_lp_count(m));
        if (ga < lh_drain[k])
            fail_msg("%s: grouping accuracy %.4f is below Drain's %.4f", lh_names[k], ga,
                     lh_drain[k]);
        free(shape);
        free(group);
        sdk_lp_free(m);
        lh_free(&d);
    }
}

/* Real HDFS lines, alternately in the baseline and the incident (one distribution), with a new
 * error planted in the incident and one pattern's lines made six times as many there: those two
 * are the only changes found. */
static void test_compare_planted_on_hdfs(void **state) {
    (void)state;
    lh_data d;
    char why[256];
    if (lh_load(SHARED_DATA, "HDFS", &d, why) < 0)
        fail_msg("the shared data is missing: %s", why);
    budget b = unlimited();
    sdk_lp *m = new_miner(&b, NULL);
    static const char planted[] =
        "java.net.SocketTimeoutException: 63000 millis timeout while waiting for channel to be "
        "ready for read. ch : java.nio.channels.SocketChannel[connected local=/10.251.203.80:50010 "
        "remote=/10.251.203.80:42312]";
    uint64_t jumped = 0;
    for (size_t i = 0; i < d.n; i++) {
        unsigned slot = i % 2;
        int jump = slot == 1 && strncmp(d.content[i], "Verification succeeded", 22) == 0;
        jumped += jump ? 6 : 0;
        for (int k = 0; k < (jump ? 6 : 1); k++)
            assert_true(sdk_lp_add(m, d.content[i], d.len[i], slot, (double)i) >= 0);
        if (slot == 1 && i % 50 == 1)
            assert_true(sdk_lp_add(m, planted, strlen(planted), 1, (double)i) >= 0);
    }
    assert_int_equal(sdk_lp_build(m), RT_OK);
    int changed = 0;
    for (size_t i = 0; i < sdk_lp_count(m); i++) {
        const sdk_lp_pattern *p = sdk_lp_get(m, i);
        sdk_lp_change c;
        sdk_lp_compare(p->count[0], 1000, p->count[1], 1000, NULL, &c);
        if (c.status == SDK_LP_STEADY)
            continue;
        changed++;
        if (strncmp(p->text, "java.net.SocketTimeoutException:", 32) == 0) {
            assert_int_equal(c.status, SDK_LP_NEW);
            assert_int_equal(p->count[1], 40);
        } else if (strcmp(p->text, "Verification succeeded for <*>") == 0) {
            assert_int_equal(c.status, SDK_LP_INCREASED);
            assert_int_equal(p->count[1], jumped);
            assert_true(c.p_up < 1e-6);
        } else {
            fail_msg("\"%s\" is %s (%llu lines, then %llu)", p->text, sdk_lp_status_name(c.status),
                     (unsigned long long)p->count[0], (unsigned long long)p->count[1]);
        }
    }
    assert_int_equal(changed, 2);
    sdk_lp_free(m);
    lh_free(&d);
}

/* The accuracy measure itself, on a made-up grouping: a group is right only when it is exactly
 * the lines of one event. */
static void test_accuracy_measure(void **state) {
    (void)state;
    const char *events[] = {"E1", "E1", "E2", "E2", "E3", "E4"};
    lh_data d = {.n = 6, .event = events};
    assert_true(lh_accuracy(&d, (const size_t[]){1, 1, 2, 2, 3, 4}) == 1);
    assert_true(lh_accuracy(&d, (const size_t[]){1, 1, 2, 2, 3, 3}) == 4.0 / 6); /* E3+E4 */
    assert_true(lh_accuracy(&d, (const size_t[]){1, 2, 3, 3, 4, 5}) == 4.0 / 6); /* E1 split */
    assert_true(lh_accuracy(&d, (const size_t[]){1, 1, 1, 1, 1, 1}) == 0);
}

/* ---- The Lua module ----------------------------------------------------------------------- */

typedef struct hooked {
    budget b;
    long calls; /* hook calls */
    long trip;  /* raise at this call (0: never) */
} hooked;

static lua_State *new_state(hooked *h) {
    lua_State *L = lua_newstate(budget_alloc, &h->b);
    assert_non_null(L);
    luaL_openlibs(L);
    sdk_open(L);
    lua_setglobal(L, "inquest");
    return L;
}

static void run(lua_State *L, const char *code) {
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
    lua_settop(L, 0);
}

static hooked *hook_state;

static void count_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    if (++hook_state->calls == hook_state->trip) {
        lua_pushliteral(L, "instruction budget exceeded");
        lua_error(L);
    }
}

static const char lines_fixture[] =
    "lines = {}\n"
    "for i = 1, 20000 do lines[i] = { time = i, line = ('request %d from 10.0.%d.%d took %d "
    "ms'):format(i, i % 256, i % 7, i % 100) } end\n";

/* The work of a call is charged through the count hook: mining 20,000 lines in one call costs
 * hook calls in proportion, and a hook that raises stops it. */
static void test_lua_charge(void **state) {
    (void)state;
    hooked h = {unlimited(), 0, 0};
    hook_state = &h;
    lua_State *L = new_state(&h);
    run(L, lines_fixture);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1000);
    long before = h.calls;
    run(L, "local p = inquest.logs.patterns(lines) assert(#p == 1 and p[1].count == 20000)");
    long charged = h.calls - before; /* 20,000 lines of 40 bytes: 18 units each, 360 calls */
    assert_true(charged >= 300 && charged < 1000);
    h.trip = h.calls + 100;
    if (luaL_dostring(L, "return inquest.logs.patterns(lines)") == LUA_OK)
        fail_msg("the hook's error did not stop the call");
    assert_string_equal(lua_tostring(L, -1), "instruction budget exceeded");
    assert_int_equal(h.calls, h.trip);
    lua_sethook(L, NULL, 0, 0);
    lua_close(L);
    assert_int_equal(h.b.used, 0);
}

/* Under a memory limit a big call fails with a memory error, the state lives on, and closing it
 * gives everything back. */
static void test_lua_memory(void **state) {
    (void)state;
    hooked h = {unlimited(), 0, 0};
    lua_State *L = new_state(&h);
    run(L, "big = {} for i = 1, 20000 do big[i] = ('word%d line %d of many distinct words "
           "x%dy'):format(i, i, i) end");
    h.b.limit = h.b.used + 256 * 1024;
    if (luaL_dostring(L, "return inquest.logs.patterns(big)") == LUA_OK)
        fail_msg("no memory error");
    assert_non_null(strstr(lua_tostring(L, -1), "not enough memory"));
    lua_settop(L, 0);
    h.b.limit = SIZE_MAX;
    run(L, "local m = inquest.logs.miner() m:add_all(big) assert(#m == 20000)\n"
           "assert(#m:patterns() > 1000)");
    lua_close(L);
    assert_int_equal(h.b.used, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_constructed),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_clusters),
        cmocka_unit_test(test_slots_times_samples),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_binomial),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_accuracy_measure),
        cmocka_unit_test(test_loghub_accuracy),
        cmocka_unit_test(test_compare_planted_on_hdfs),
        cmocka_unit_test(test_lua_charge),
        cmocka_unit_test(test_lua_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
