/* tests/unit/test_correlate.c -- time-series correlation (sdk/sdk_correlate.c): the change
 * statistic and the rank correlation on series with known answers, a planted correlated series
 * (lagged, scaled, noisy, with an outlier) among 500 random walks, a series that shares only the
 * step, the Lua binding and its refusals, real NAB series, and the work charged to the
 * instruction budget. */
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
#include "sdk_correlate.h"
#include "explain_support.h"

#define N      400
#define ONSET  300
#define LAG    3
#define WALKS  500
#define PLANTS 2

static const sdk_corr_opts opts = {.lo = 11, .hi = 360, .onset = ONSET, .max_lag = 10, .span = 5};

/* A target with a random-walk level, noise, and a step of 8 at ONSET; 'extra' points beyond N
 * so that leading copies can be made. */
static void make_target(rnd *r, double *x, size_t n) {
    double level = 0;
    for (size_t i = 0; i < n; i++) {
        level += 0.3 * rnd_normal(r);
        x[i] = 100 + level + rnd_normal(r) + (i >= ONSET ? 8 : 0);
    }
}

static void random_walk(rnd *r, double *x, size_t n) {
    double level = 50;
    for (size_t i = 0; i < n; i++)
        x[i] = level += rnd_normal(r);
}

static sdk_corr score(const double *target, const double *cand) {
    static double scratch[8192];
    assert_true(sdk_corr_scratch_size(&opts) <= sizeof scratch);
    sdk_corr c;
    sdk_correlate(target, cand, N, &opts, sdk_corr_shift(target, N, &opts, scratch), scratch, NULL,
                  &c);
    return c;
}

/* ---- Known answers ------------------------------------------------------------------------ */

static void test_shift(void **state) {
    (void)state;
    static double scratch[8192];
    double flat[N], step[N], noisy[N];
    rnd r = {42};
    for (size_t i = 0; i < N; i++) {
        flat[i] = 5;
        step[i] = i >= ONSET ? 7 : 5;
        noisy[i] = rnd_normal(&r) + (i >= ONSET ? 10 : 0);
    }
    assert_true(sdk_corr_shift(flat, N, &opts, scratch) == 0);
    assert_true(sdk_corr_shift(step, N, &opts, scratch) >= 1e6); /* any change of a flat series */
    double z = sdk_corr_shift(noisy, N, &opts, scratch);
    assert_true(z > 10 && z < 1e6);
    for (size_t i = 0; i < N; i++)
        noisy[i] = -noisy[i];
    assert_true(sdk_corr_shift(noisy, N, &opts, scratch) < -10);
    /* no yardstick without history before the onset */
    sdk_corr_opts early = opts;
    early.onset = early.lo + 4;
    assert_true(isnan(sdk_corr_shift(noisy, N, &early, scratch)));
}

static void test_identical_and_shifted(void **state) {
    (void)state;
    double target[N + 10], cand[N];
    rnd r = {7};
    make_target(&r, target, N + 10);
    sdk_corr c = score(target, target);
    assert_true(c.comovement > 0.999 && c.score > 0.999);
    assert_int_equal(c.lag, 0);
    assert_int_equal(c.direction, 1);
    for (size_t i = 0; i < N; i++) /* the candidate moves 4 steps before the target */
        cand[i] = target[i + 4];
    c = score(target, cand);
    assert_int_equal(c.lag, 4);
    assert_true(c.comovement > 0.999);
    for (size_t i = 0; i < N; i++) /* and now 2 steps after, upside down */
        cand[i] = i >= 2 ? -3 * target[i - 2] : 0;
    c = score(target, cand);
    assert_int_equal(c.lag, -2);
    assert_int_equal(c.direction, -1);
    assert_true(c.comovement < -0.999);
}

/* ---- Planted among random walks ----------------------------------------------------------- */

typedef struct candidates {
    double x[WALKS + PLANTS][N];
    sdk_corr c[WALKS + PLANTS];
} candidates;

/* The index of the best score. */
static size_t best(const candidates *k, size_t n) {
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (k->c[i].score > k->c[b].score)
            b = i;
    return b;
}

static void test_planted_among_random_walks(void **state) {
    (void)state;
    candidates *k = malloc(sizeof *k);
    double target[N + LAG];
    rnd r = {2026};
    make_target(&r, target, N + LAG);
    for (size_t i = 0; i < WALKS; i++)
        random_walk(&r, k->x[i], N);
    /* leads by LAG steps, 50 times the scale, an offset, noise, and one wild outlier */
    for (size_t i = 0; i < N; i++)
        k->x[WALKS][i] = 50 * target[i + LAG] + 1000 + 20 * rnd_normal(&r);
    k->x[WALKS][200] = 1e5;
    for (size_t i = 0; i < WALKS + 1; i++)
        k->c[i] = score(target, k->x[i]);
    assert_int_equal(best(k, WALKS + 1), WALKS);
    assert_int_equal(k->c[WALKS].lag, LAG);
    assert_int_equal(k->c[WALKS].direction, 1);
    double runner_up = 0;
    for (size_t i = 0; i < WALKS; i++)
        runner_up = fmax(runner_up, k->c[i].score);
    print_message("planted %.3f (rho %.3f, z %.1f), best random walk %.3f\n", k->c[WALKS].score,
                  k->c[WALKS].comovement, k->c[WALKS].shift, runner_up);
    assert_true(k->c[WALKS].score > runner_up + 0.1);
    free(k);
}

/* A candidate that shares the target's step but none of its noise is found by the agreement of
 * the changes, not by co-movement. */
static void test_step_only(void **state) {
    (void)state;
    candidates *k = malloc(sizeof *k);
    double target[N];
    rnd r = {99};
    make_target(&r, target, N);
    for (size_t i = 0; i < WALKS; i++)
        random_walk(&r, k->x[i], N);
    for (size_t i = 0; i < N; i++)
        k->x[WALKS][i] = 5 + 0.5 * rnd_normal(&r) - (i >= ONSET ? 4 : 0);
    for (size_t i = 0; i < WALKS + 1; i++)
        k->c[i] = score(target, k->x[i]);
    assert_int_equal(best(k, WALKS + 1), WALKS);
    assert_int_equal(k->c[WALKS].direction, -1);
    assert_true(labs(k->c[WALKS].lag) <= 1);
    assert_true(fabs(k->c[WALKS].comovement) < 0.3 && k->c[WALKS].shift < -10);
    free(k);
}

/* ---- The Lua binding ---------------------------------------------------------------------- */

/* Sets the globals target (the make_target series, a minute a step) and cands (a set of 20
 * random walks and, 8th, the target 3 steps ahead times 0.5). */
static void lua_fixture(lua_State *L) {
    double t[N], x[N + LAG], y[N];
    rnd r = {5};
    make_target(&r, x, N + LAG);
    for (size_t i = 0; i < N; i++)
        t[i] = 1763726400 + 60.0 * (double)i;
    push_series(L, (const char *[]){"name", "target", NULL}, t, x, N);
    lua_setglobal(L, "target");
    lua_createtable(L, 21, 0);
    for (int i = 1; i <= 21; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        for (size_t j = 0; j < N; j++)
            y[j] = i == 8 ? 0.5 * x[j + LAG] : 0;
        if (i != 8)
            random_walk(&r, y, N);
        push_series(L, (const char *[]){"name", name, NULL}, t, y, N);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "cands");
}

static void test_lua_rank(void **state) {
    (void)state;
    lua_State *L = explain_state();
    lua_fixture(L);
    run_lua(L,
            "local C = inquest.correlate\n"
            "local onset = 1763726400 + 60 * 300\n"
            "local r = C.rank(target, inquest.series.set(cands), { onset = onset, top = 3 })\n"
            "assert(#r == 3 and r.kind == 'correlation' and r.onset == onset and r.step == 60)\n"
            "assert(r.target == target and r.target_shift > 5)\n"
            "local top = r[1]\n"
            "assert(top.index == 8 and top.labels.name == 'c8' and top.series == cands[8])\n"
            "assert(top.lag == 180 and top.direction == 'same', top.lag)\n"
            "assert(top.score > 0.9 and top.comovement > 0.9 and top.shift > 5)\n"
            "assert(r[2].score <= top.score and r[3].score <= r[2].score)\n"
            "-- a plain list works as well; top = 0 keeps every candidate\n"
            "local all = C.rank(target, cands, { onset = onset, top = 0, max_lag = 0 })\n"
            "assert(#all == 21 and all[1].index == 8 and all[1].lag == 0)\n"
            "-- a candidate with no points scores 0 and comes last\n"
            "local none = C.rank(target, { inquest.series.new{}, cands[8] }, { onset = onset })\n"
            "assert(none[1].index == 2 and none[2].score == 0 and none[2].comovement == nil)\n"
            "-- a target of one point has no step: an expected failure\n"
            "local one = inquest.series.new{ points = { { onset, 1 } } }\n"
            "local x, why = C.rank(one, cands, { onset = onset })\n"
            "assert(x == nil and why:find('fewer than 2 points'))\n");
    expect_lua_error(L, "inquest.correlate.rank(target, cands, {})",
                     "inquest.correlate.rank: opts.onset (a time) is required");
    expect_lua_error(L, "inquest.correlate.rank(target, { target, 3 }, { onset = 0 })",
                     "inquest.correlate.rank: candidates[2] must be a series (got number)");
    expect_lua_error(L, "inquest.correlate.rank(1, cands, { onset = 0 })",
                     "inquest.correlate.rank: target must be a series (got number)");
    expect_lua_error(L, "inquest.correlate.rank(target, cands, { onset = 0, lags = 3 })",
                     "inquest.correlate.rank: unknown option 'lags' (options: onset, step, "
                     "before, after, max_lag, span, top)");
    expect_lua_error(L, "inquest.correlate.rank(target, cands, { onset = 0, step = 0 })",
                     "inquest.correlate.rank: opts.step must be from 0.001 to 1000000000000 "
                     "(got 0)");
    expect_lua_error(
        L, "inquest.correlate.rank(target, cands, { onset = 0, step = 1e-3, before = 3600 })",
        "inquest.correlate.rank: the window would have more than 1000000 points "
        "(step too small?)");
    lua_close(L);
}

/* ---- Real data: NAB's Twitter volumes --------------------------------------------------- */

static const char *const companies[] = {"AAPL", "AMZN", "CRM", "CVS", "FB",
                                        "GOOG", "IBM",  "KO",  "PFE", "UPS"};

/* Around each labelled anomaly of AAPL's mentions, the other nine companies' mentions and a
 * copy of AAPL's 10 minutes ahead (a hundredth of the scale, an offset, noise, one outlier):
 * the copy ranks first, 600 s ahead, in the same direction, clear of the real series. */
static void test_nab_tweets(void **state) {
    (void)state;
    char file[128];
    nab_series s[10];
    double w[8][2];
    lua_State *L = explain_state();
    for (int i = 0; i < 10; i++) {
        snprintf(file, sizeof file, "realTweets/Twitter_volume_%s.csv", companies[i]);
        s[i] = nab_load(file);
        push_series(L, (const char *[]){"company", companies[i], NULL}, s[i].t, s[i].v, s[i].n);
        lua_setglobal(L, companies[i]);
    }
    double *copy = malloc(s[0].n * sizeof *copy);
    rnd r = {11};
    for (size_t i = 0; i < s[0].n; i++)
        copy[i] = 1000 + 0.01 * s[0].v[i + 2 < s[0].n ? i + 2 : i] + 0.2 * rnd_normal(&r);
    copy[s[0].n / 2] = 1e6;
    push_series(L, (const char *[]){"company", "copy", NULL}, s[0].t, copy, s[0].n);
    lua_setglobal(L, "COPY");
    size_t n = nab_windows("realTweets/Twitter_volume_AAPL.csv", w, 8);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        char code[1024];
        snprintf(code, sizeof code,
                 "local cands = { AMZN, CRM, CVS, FB, GOOG, COPY, IBM, KO, PFE, UPS }\n"
                 "local r = inquest.correlate.rank(AAPL, cands, { onset = %.0f })\n"
                 "assert(r.step == 300)\n"
                 "local top = r[1]\n"
                 "assert(top.labels.company == 'copy', top.labels.company)\n"
                 "assert(top.lag == 600 and top.direction == 'same', top.lag)\n"
                 "assert(top.score > r[2].score + 0.1, r[2].score)\n"
                 "return r[2].labels.company, r[2].lag, r[2].direction\n",
                 (w[i][0] + w[i][1]) / 2);
        if (luaL_dostring(L, code) != LUA_OK)
            fail_msg("window %zu: %s", i + 1, lua_tostring(L, -1));
        /* 25 minutes after AAPL's first labelled burst, UPS's mentions jumped from about 5 to
         * over 80 (the raw data shows it): the runner-up, lagging, in the same direction */
        if (i == 0) {
            assert_string_equal(lua_tostring(L, -3), "UPS");
            assert_true(lua_tonumber(L, -2) < 0);
            assert_string_equal(lua_tostring(L, -1), "same");
        }
        lua_settop(L, 0);
    }
    free(copy);
    for (int i = 0; i < 10; i++)
        nab_free(&s[i]);
    lua_close(L);
}

/* ---- The instruction budget ---------------------------------------------------------------- */

static long hook_calls, hook_limit;

static void counting_hook(lua_State *L, lua_Debug *ar) {
    assert_int_equal(ar->event, LUA_HOOKCOUNT);
    if (++hook_calls > hook_limit)
        luaL_error(L, "budget exceeded");
}

/* The work of a ranking reaches the count hook as instructions would, and a hook that raises
 * ends the ranking. */
static void test_work_is_charged(void **state) {
    (void)state;
    lua_State *L = explain_state();
    lua_fixture(L);
    const char *code = "for i = 1, 10 do inquest.correlate.rank(target, cands, { onset = "
                       "1763726400 + 60 * 300, max_lag = 1200 }) end";
    hook_calls = 0;
    hook_limit = LONG_MAX;
    lua_sethook(L, counting_hook, LUA_MASKCOUNT, 1000);
    run_lua(L, code);
    /* 10 rankings of 21 candidates at 41 lags over a window of 151 differences: well over
     * 10 * 21 * 41 * 151 units, 1000 a call */
    print_message("hook calls: %ld\n", hook_calls);
    assert_true(hook_calls > 10L * 21 * 41 * 151 / 1000);
    hook_calls = 0;
    hook_limit = 20;
    expect_lua_error(L, code, "budget exceeded");
    lua_close(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shift),
        cmocka_unit_test(test_identical_and_shifted),
        cmocka_unit_test(test_planted_among_random_walks),
        cmocka_unit_test(test_step_only),
        cmocka_unit_test(test_lua_rank),
        cmocka_unit_test(test_nab_tweets),
        cmocka_unit_test(test_work_is_charged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
