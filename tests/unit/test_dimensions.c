/* tests/unit/test_dimensions.c -- dimension analysis (sdk/sdk_dimensions.c): a planted culprit
 * among 1,000 values, a planted combination of two dimensions among four, a ratio whose biggest
 * raw mover is not the culprit, a change spread alike everywhere, the pruned search against a
 * brute-force one, the Lua binding and its refusals, real NAB series, and the work and memory
 * charged to the analysis' budgets. */
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
#include "sdk.h"
#include "sdk_dimensions.h"
#include "explain_support.h"

/* ---- Leaves made in C ------------------------------------------------------------------------ */

#define MAX_LEAVES 4096

typedef struct leaves {
    size_t n, dims;
    uint32_t value[MAX_LEAVES * 4], n_values[4];
    double expected[MAX_LEAVES], actual[MAX_LEAVES];
} leaves;

static void *scratch_malloc(void *ud, size_t size) {
    void **blocks = ud;
    for (int i = 0; i < 64; i++)
        if (!blocks[i])
            return blocks[i] = calloc(1, size ? size : 1);
    fail_msg("more than 64 scratch blocks");
    return NULL;
}

/* Runs the analysis on 'l' and returns the result; 'out' holds 'top' elements. */
static sdk_dim_result explain(const leaves *l, int depth, double min_share, size_t top,
                              sdk_dim_element *out) {
    void *blocks[64] = {0};
    sdk_scratch mem = {scratch_malloc, blocks};
    sdk_dim_data d = {l->n, l->dims, l->value, l->n_values, l->expected, l->actual, NULL};
    sdk_dim_opts o = {depth, min_share, top};
    sdk_dim_result r;
    assert_int_equal(sdk_dimensions_explain(&d, &o, &mem, NULL, out, &r), 0);
    for (int i = 0; i < 64; i++)
        free(blocks[i]);
    return r;
}

/* True when element 'e' is exactly the (dimension, value) pairs given, 'n' of them. */
static int is(const sdk_dim_element *e, int n, const uint32_t *dims, const uint32_t *values) {
    if (e->depth != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (e->dim[i] != dims[i] || e->value[i] != values[i])
            return 0;
    return 1;
}

/* 1,000 endpoints in 3 regions, 10% noise everywhere; endpoint 417 takes five times its
 * traffic in every region. */
static void test_culprit_among_1000(void **state) {
    (void)state;
    leaves *l = calloc(1, sizeof *l);
    sdk_dim_element out[5];
    rnd r = {1000};
    l->dims = 2;
    l->n_values[0] = 1000;
    l->n_values[1] = 3;
    for (uint32_t e = 0; e < 1000; e++)
        for (uint32_t g = 0; g < 3; g++, l->n++) {
            l->value[l->n * 2] = e;
            l->value[l->n * 2 + 1] = g;
            l->expected[l->n] = 20 + 10 * rnd_uniform(&r);
            l->actual[l->n] = l->expected[l->n] * (1 + 0.1 * rnd_normal(&r)) * (e == 417 ? 5 : 1);
        }
    sdk_dim_result res = explain(l, 3, 0.05, 5, out);
    assert_true(res.n >= 1);
    assert_true(is(&out[0], 1, (uint32_t[]){0}, (uint32_t[]){417}));
    print_message("explains %.3f, potential %.3f\n", out[0].explains, out[0].potential);
    assert_true(out[0].explains > 0.5 && out[0].explains < 2);
    assert_int_equal(out[0].leaves, 3);
    for (size_t i = 1; i < res.n; i++)
        assert_true(out[i].score < out[0].score);
    free(l);
}

/* version (3) x region (3) x endpoint (10) x host (4 per region, 12 in all): only version v2 in
 * region eu triples. The combination wins over either of its values, and no combination of
 * three with the same leaves is listed after it. */
static void test_combination(void **state) {
    (void)state;
    leaves *l = calloc(1, sizeof *l);
    sdk_dim_element out[8];
    rnd r = {77};
    l->dims = 4;
    uint32_t counts[4] = {3, 3, 10, 12};
    memcpy(l->n_values, counts, sizeof counts);
    for (uint32_t v = 0; v < 3; v++)
        for (uint32_t g = 0; g < 3; g++)
            for (uint32_t e = 0; e < 10; e++)
                for (uint32_t h = 0; h < 4; h++, l->n++) {
                    uint32_t *x = &l->value[l->n * 4];
                    x[0] = v, x[1] = g, x[2] = e, x[3] = g * 4 + h;
                    l->expected[l->n] = 10 + rnd_normal(&r);
                    l->actual[l->n] = 10 + rnd_normal(&r) + (v == 1 && g == 1 ? 30 : 0);
                }
    sdk_dim_result res = explain(l, 3, 0.05, 8, out);
    assert_true(is(&out[0], 2, (uint32_t[]){0, 1}, (uint32_t[]){1, 1}));
    assert_true(out[0].explains > 0.9 && out[0].potential > 0.8);
    assert_int_equal(out[0].leaves, 40);
    for (size_t i = 1; i < res.n; i++) {
        assert_true(out[i].score < out[0].score);
        assert_true(out[i].leaves != 40 || out[i].depth < 2); /* no same-leaves refinement */
    }
    /* version v2 alone predicts that v2 broke in every region: it scores far lower */
    for (size_t i = 1; i < res.n; i++)
        if (is(&out[i], 1, (uint32_t[]){0}, (uint32_t[]){1}))
            assert_true(out[i].potential < 0.5);
    assert_false(res.potential_all >= out[0].score);
    free(l);
}

/* Every leaf grows by half: no value explains it, the whole does. */
static void test_widespread(void **state) {
    (void)state;
    leaves *l = calloc(1, sizeof *l);
    sdk_dim_element out[4];
    rnd r = {3};
    l->dims = 2;
    l->n_values[0] = 20;
    l->n_values[1] = 5;
    for (uint32_t a = 0; a < 20; a++)
        for (uint32_t b = 0; b < 5; b++, l->n++) {
            l->value[l->n * 2] = a;
            l->value[l->n * 2 + 1] = b;
            l->expected[l->n] = 50 + 50 * rnd_uniform(&r);
            l->actual[l->n] = 1.5 * l->expected[l->n] * (1 + 0.01 * rnd_normal(&r));
        }
    sdk_dim_result res = explain(l, 3, 0.05, 4, out);
    assert_true(res.potential_all > 0.9);
    for (size_t i = 0; i < res.n; i++)
        assert_true(out[i].score < res.potential_all);
    free(l);
}

/* ---- The pruned search equals a brute-force one ------------------------------------------- */

/* Brute force: every element of up to 3 values, its sums leaf by leaf and its distance summed
 * over every leaf, as the design notes define them. */
static size_t brute_force(const leaves *l, double min_share, sdk_dim_element *all) {
    double F = 0, A = 0, sq = 0;
    for (size_t i = 0; i < l->n; i++) {
        F += l->expected[i];
        A += l->actual[i];
        sq += (l->actual[i] - l->expected[i]) * (l->actual[i] - l->expected[i]);
    }
    size_t k = 0;
    uint32_t d[3], v[3];
    for (int depth = 1; depth <= 3; depth++)
        for (d[0] = 0; d[0] < l->dims; d[0]++)
            for (d[1] = depth > 1 ? d[0] + 1 : 0; d[1] < (depth > 1 ? l->dims : 1); d[1]++)
                for (d[2] = depth > 2 ? d[1] + 1 : 0; d[2] < (depth > 2 ? l->dims : 1); d[2]++)
                    for (v[0] = 0; v[0] < l->n_values[d[0]]; v[0]++)
                        for (v[1] = 0; v[1] < (depth > 1 ? l->n_values[d[1]] : 1); v[1]++)
                            for (v[2] = 0; v[2] < (depth > 2 ? l->n_values[d[2]] : 1); v[2]++) {
                                sdk_dim_element e;
                                memset(&e, 0, sizeof e);
                                e.depth = depth;
                                for (int j = 0; j < 3; j++) {
                                    e.dim[j] = j < depth ? d[j] : UINT32_MAX;
                                    e.value[j] = j < depth ? v[j] : UINT32_MAX;
                                }
                                double f = 0, a = 0;
                                for (size_t i = 0; i < l->n; i++) {
                                    int in = 1;
                                    for (int j = 0; j < depth; j++)
                                        in &= l->value[i * l->dims + d[j]] == v[j];
                                    if (in) {
                                        f += l->expected[i];
                                        a += l->actual[i];
                                        e.leaves++;
                                    }
                                }
                                if (e.leaves == 0 || (a - f) / (A - F) < min_share)
                                    continue;
                                double dist = 0;
                                for (size_t i = 0; i < l->n; i++) {
                                    int in = 1;
                                    for (int j = 0; j < depth; j++)
                                        in &= l->value[i * l->dims + d[j]] == v[j];
                                    double guess = in && f > 0 ? l->expected[i] * a / f
                                                   : in        ? l->actual[i]
                                                               : l->expected[i];
                                    dist += (guess - l->actual[i]) * (guess - l->actual[i]);
                                }
                                e.expected = f;
                                e.actual = a;
                                e.explains = (a - f) / (A - F);
                                e.potential = fmax(0, 1 - sqrt(dist / sq));
                                e.score = e.potential * (1 - 0.05 * (depth - 1));
                                all[k++] = e;
                            }
    return k;
}

static void test_pruning_is_exact(void **state) {
    (void)state;
    leaves *l = calloc(1, sizeof *l);
    sdk_dim_element *all = calloc(20000, sizeof *all), out[40];
    for (uint64_t seed = 1; seed <= 20; seed++) {
        rnd r = {seed * 7919};
        memset(l, 0, sizeof *l);
        l->dims = 4;
        for (size_t k = 0; k < 4; k++)
            l->n_values[k] = 2 + (uint32_t)(rnd_uniform(&r) * 4);
        for (size_t i = 0; i < 150; i++, l->n++) { /* random leaves, some repeated */
            for (size_t k = 0; k < 4; k++)
                l->value[i * 4 + k] = (uint32_t)(rnd_uniform(&r) * l->n_values[k]);
            l->expected[i] = 100 * rnd_uniform(&r);
            l->actual[i] = l->expected[i] * (0.5 + rnd_uniform(&r)) + (i % 17 == 0 ? 200 : 0);
        }
        size_t n = brute_force(l, 0.05, all);
        sdk_dim_result res = explain(l, 3, 0.05, 40, out);
        /* what the search returns is in the brute force's list, with the same numbers */
        assert_true(res.n > 0);
        for (size_t i = 0; i < res.n; i++) {
            size_t j = 0;
            while (j < n && !is(&all[j], out[i].depth, out[i].dim, out[i].value))
                j++;
            assert_true(j < n);
            assert_true(fabs(all[j].potential - out[i].potential) < 1e-9);
            assert_true(fabs(all[j].explains - out[i].explains) < 1e-9);
            assert_int_equal(all[j].leaves, out[i].leaves);
            all[j].leaves = 0; /* found */
        }
        /* and the best the brute force found that the search left out had the same leaves as
         * a more general element the search returned, or scores below the search's last */
        for (size_t j = 0; j < n; j++)
            if (all[j].leaves && all[j].score > out[res.n - 1].score + 1e-12) {
                int same = 0;
                for (size_t i = 0; i < res.n && !same; i++)
                    same = out[i].depth < all[j].depth && out[i].leaves == all[j].leaves;
                assert_true(same || res.n < 40);
            }
    }
    free(all);
    free(l);
}

/* ---- The Lua binding ------------------------------------------------------------------------- */

static void test_lua_additive(void **state) {
    (void)state;
    lua_State *L = explain_state();
    run_lua(
        L,
        "local S, D = inquest.series, inquest.dimensions\n"
        "local t0 = 1763726400\n"
        "local all = {}\n"
        "for _, v in ipairs { 'v1', 'v2' } do for _, r in ipairs { 'us', 'eu' } do\n"
        "  local pts = {}\n"
        "  for i = 0, 9 do\n"
        "    pts[#pts + 1] = { t0 + 60 * i, (v == 'v2' and r == 'eu' and i >= 5) and 40 or 10 }\n"
        "  end\n"
        "  all[#all + 1] = S.new { labels = { __name__ = 'errors', version = v, region = r, "
        "job = 'api' }, points = pts }\n"
        "end end\n"
        "local set = S.set(all)\n"
        "local res = D.explain(set, { onset = t0 + 300, name = 'errors/s' })\n"
        "assert(res.kind == 'dimensions' and res.metric == 'errors/s' and not res.ratio)\n"
        "assert(res.baseline == 40 and res.incident == 70 and res.change == 30)\n"
        "assert(#res.dimensions == 2 and res.dimensions[1] == 'region')\n"
        "local top = res[1]\n"
        "assert(top.where == 'region=\"eu\", version=\"v2\"', top.where)\n"
        "assert(top.labels.version == 'v2' and top.labels.region == 'eu' and top.depth == 2)\n"
        "assert(top.baseline == 10 and top.incident == 40 and top.change == 30)\n"
        "assert(top.explains == 1 and top.potential == 1 and top.score == 0.95)\n"
        "assert(#set:filter(top.labels) == 1 and res.widespread == false)\n"
        "-- sums over windows, with limits; two sets; dimensions chosen\n"
        "local sum = D.explain(set, { onset = t0 + 300, before = 120, after = 60, agg = 'sum' })\n"
        "assert(sum.baseline == 80 and sum.incident == 140, sum.incident)\n"
        "local base = set:filter(function(s) return true end)\n"
        "local only = D.explain(S.set { all[1], all[2] }, S.set { all[3], all[4] }, "
        "{ dimensions = { 'version' } })\n"
        "assert(only[1].where == 'version=\"v2\"', only[1].where)\n"
        "local none = D.explain(set, set, {})\n"
        "assert(#none == 0 and none.change == 0)\n");
    expect_lua_error(L, "inquest.dimensions.explain(inquest.series.set(), {})",
                     "inquest.dimensions.explain: opts.onset (a time) is required with one set "
                     "for both windows (or give a baseline set and an incident set)");
    expect_lua_error(
        L, "local s = inquest.series.set() inquest.dimensions.explain(s, s, { onset = 1 })",
        "inquest.dimensions.explain: opts.onset splits one set in two: give it with "
        "one set only");
    expect_lua_error(
        L, "local s = inquest.series.set() inquest.dimensions.explain(s, s, { after = 60 })",
        "inquest.dimensions.explain: opts.before and opts.after reach from "
        "opts.onset: give it too");
    expect_lua_error(L, "inquest.dimensions.explain({ 1 }, { onset = 1 })",
                     "inquest.dimensions.explain: set[1] must be a series (got number)");
    expect_lua_error(L,
                     "inquest.dimensions.explain(inquest.series.set(), { onset = 1, agg = 'p99' })",
                     "inquest.dimensions.explain: opts.agg must be one of mean, sum, max, min, "
                     "last (got \"p99\")");
    expect_lua_error(L,
                     "inquest.dimensions.explain(inquest.series.set(), { onset = 1, "
                     "max_depth = 4 })",
                     "inquest.dimensions.explain: opts.max_depth must be a whole number from 1 "
                     "to 3");
    lua_close(L);
}

/* The error ratio: /search doubles its traffic at the same 1% (the biggest raw mover of
 * errors), /pay goes from 1% to 20% on unchanged traffic (the culprit). */
static void test_lua_ratio(void **state) {
    (void)state;
    lua_State *L = explain_state();
    run_lua(
        L,
        "local S, D = inquest.series, inquest.dimensions\n"
        "local t0 = 1763726400\n"
        "local spec = { { '/search', 10000, 20000, 0.01, 0.01 }, { '/pay', 500, 500, 0.01, 0.2 },\n"
        "  { '/cart', 2000, 2000, 0.02, 0.02 }, { '/home', 5000, 5000, 0.005, 0.005 } }\n"
        "local errs, reqs = {}, {}\n"
        "for _, s in ipairs(spec) do for _, r in ipairs { 'us', 'eu' } do\n"
        "  reqs[#reqs + 1] = S.new { labels = { endpoint = s[1], region = r }, "
        "points = { { t0, s[2] }, { t0 + 60, s[3] } } }\n"
        "  errs[#errs + 1] = S.new { labels = { endpoint = s[1], region = r, code = '500' }, "
        "points = { { t0, s[2] * s[4] }, { t0 + 60, s[3] * s[5] } } }\n"
        "end end\n"
        "errs, reqs = S.set(errs), S.set(reqs)\n"
        "local raw = D.explain(errs, { onset = t0 + 60 })\n"
        "assert(raw[1].where == 'endpoint=\"/search\"', raw[1].where)\n"
        "local r = D.explain_ratio(errs, reqs, { onset = t0 + 60, dimensions = { 'endpoint', "
        "'region' } })\n"
        "assert(r.ratio and r.kind == 'dimensions')\n"
        "assert(math.abs(r.baseline - 340 / 35000) < 1e-12 and math.abs(r.incident - 730 / "
        "55000) < 1e-12)\n"
        "local top = r[1]\n"
        "assert(top.where == 'endpoint=\"/pay\"', top.where)\n"
        "assert(top.baseline == 0.01 and top.incident == 0.2 and top.explains == 1)\n"
        "assert(math.abs(top.traffic - 1000 / 55000) < 1e-12)\n"
        "assert(math.abs(top.change - 190 / 55000) < 1e-12 and top.change == r.rate_effect)\n"
        "assert(top.numerator.baseline == 10 and top.denominator.incident == 1000)\n"
        "assert(math.abs(r.change - r.rate_effect - r.mix_effect) < 1e-12)\n"
        "for i = 2, #r do assert(r[i].labels.endpoint ~= '/search') end\n"
        "-- four sets: the same answer\n"
        "local function part(set, t) return set:filter(function() return true end) end\n"
        "local b, i = {}, {}\n"
        "for k, s in ipairs(errs) do b[k] = s:slice(nil, t0) i[k] = s:slice(t0 + 60) end\n"
        "local rb, ri = {}, {}\n"
        "for k, s in ipairs(reqs) do rb[k] = s:slice(nil, t0) ri[k] = s:slice(t0 + 60) end\n"
        "local four = D.explain_ratio(S.set(b), S.set(rb), S.set(i), S.set(ri), "
        "{ dimensions = { 'endpoint', 'region' } })\n"
        "assert(four[1].where == top.where and four[1].score == top.score)\n");
    expect_lua_error(L,
                     "local s = inquest.series.set{ inquest.series.new{ points = { { 5, 1 } } } }\n"
                     "local r, why = inquest.dimensions.explain_ratio(s, s, { onset = 1 })\n"
                     "error(why, 0)",
                     "inquest.dimensions.explain_ratio: the denominators have no baseline");
    lua_close(L);
}

/* ---- Real data: NAB's Twitter volumes --------------------------------------------------- */

static const char *const companies[] = {"AAPL", "AMZN", "CRM", "CVS", "FB",
                                        "GOOG", "IBM",  "KO",  "PFE", "UPS"};

/* The mean of 's' over [from, to). */
static double mean_in(const nab_series *s, double from, double to) {
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i] >= from && s->t[i] < to) {
            sum += s->v[i];
            n++;
        }
    return n ? sum / (double)n : 0;
}

/* The total mentions of the ten companies, two hours around each labelled anomaly against the
 * same two hours a day before: wherever plain arithmetic says the labelled company carries
 * most of the change, dimension analysis names it first. */
static void test_nab_tweets(void **state) {
    (void)state;
    char file[128], code[512];
    nab_series s[10];
    double w[8][2];
    lua_State *L = explain_state();
    lua_createtable(L, 10, 0);
    for (int i = 0; i < 10; i++) {
        snprintf(file, sizeof file, "realTweets/Twitter_volume_%s.csv", companies[i]);
        s[i] = nab_load(file);
        push_series(L, (const char *[]){"company", companies[i], NULL}, s[i].t, s[i].v, s[i].n);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "TWEETS");
    int checked = 0;
    for (int c = 0; c < 10; c++) {
        snprintf(file, sizeof file, "realTweets/Twitter_volume_%s.csv", companies[c]);
        size_t n = nab_windows(file, w, 8);
        for (size_t k = 0; k < n; k++) {
            double mid = (w[k][0] + w[k][1]) / 2, total = 0, own = 0;
            for (int i = 0; i < 10; i++) {
                double change = mean_in(&s[i], mid - 3600, mid + 3600) -
                                mean_in(&s[i], mid - 3600 - 86400, mid + 3600 - 86400);
                total += change;
                own += i == c ? change : 0;
            }
            if (!(own / total >= 0.5))
                continue;
            checked++;
            snprintf(code, sizeof code,
                     "local base, inc = {}, {}\n"
                     "for i, s in ipairs(TWEETS) do\n"
                     "  base[i] = s:slice(%.0f, %.0f) inc[i] = s:slice(%.0f, %.0f) end\n"
                     "local r = inquest.dimensions.explain(base, inc)\n"
                     "assert(r[1].where == 'company=\"%s\"', r[1].where)\n",
                     mid - 3600 - 86400, mid + 3599 - 86400, mid - 3600, mid + 3599, companies[c]);
            run_lua(L, code);
        }
    }
    print_message("labelled windows where the labelled company carries the change: %d\n", checked);
    assert_true(checked >= 8);
    for (int i = 0; i < 10; i++)
        nab_free(&s[i]);
    lua_close(L);
}

/* ---- Budgets ------------------------------------------------------------------------------- */

static long hook_calls;

static void counting_hook(lua_State *L, lua_Debug *ar) {
    (void)L;
    (void)ar;
    hook_calls++;
}

typedef struct cap {
    size_t used, limit;
} cap;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    cap *c = ud;
    osize = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        c->used -= osize;
        return NULL;
    }
    if (nsize > osize && c->used - osize + nsize > c->limit)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p)
        c->used = c->used - osize + nsize;
    return p;
}

/* 4,000 series of four dimensions, in the global ALL. */
static const char big_set[] =
    "local S = inquest.series\n"
    "local all = {}\n"
    "for e = 1, 200 do for r = 1, 5 do for v = 1, 4 do\n"
    "  local x = (e == 17 and v == 2) and 50 or 10\n"
    "  all[#all + 1] = S.new { labels = { endpoint = 'e' .. e, region = 'r' .. r, version = "
    "'v' .. v, host = 'h' .. (e % 7) }, points = { { 0, 10 }, { 60, x + e % 3 - 1 } } }\n"
    "end end end\n"
    "ALL = S.set(all)\n";

static const char big_explain[] = "R = inquest.dimensions.explain(ALL, { onset = 60 })\n"
                                  "assert(R[1].where == 'endpoint=\"e17\", version=\"v2\"', "
                                  "R[1].where)";

/* The work of an analysis of 4,000 series reaches the count hook, and its scratch memory the
 * state's allocator, whose refusal is a memory error that leaves the state usable. */
static void test_budgets(void **state) {
    (void)state;
    lua_State *L = explain_state();
    run_lua(L, big_set);
    hook_calls = 0;
    lua_sethook(L, counting_hook, LUA_MASKCOUNT, 1000);
    run_lua(L, big_explain);
    print_message("hook calls: %ld\n", hook_calls);
    assert_true(hook_calls > 4000L * 15 / 1000);
    lua_close(L);

    cap c = {0, (size_t)256 << 20};
    L = lua_newstate(capped_alloc, &c);
    luaL_openlibs(L);
    sdk_open(L);
    lua_setglobal(L, "inquest");
    run_lua(L, big_set);
    lua_gc(L, LUA_GCCOLLECT);
    c.limit = c.used + ((size_t)64 << 10);
    expect_lua_error(L, big_explain, "not enough memory");
    c.limit = (size_t)256 << 20;
    run_lua(L, big_explain);
    lua_close(L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_culprit_among_1000), cmocka_unit_test(test_combination),
        cmocka_unit_test(test_widespread),         cmocka_unit_test(test_pruning_is_exact),
        cmocka_unit_test(test_lua_additive),       cmocka_unit_test(test_lua_ratio),
        cmocka_unit_test(test_nab_tweets),         cmocka_unit_test(test_budgets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
