/* tests/unit/test_anomaly.c -- anomaly detection (sdk/sdk_anomaly.c) and change points
 * (sdk/sdk_changepoint.c): planted spikes, dips, level shifts and changes found where they
 * were planted, with their direction, size and confidence; a daily peak that is no anomaly
 * and a deviation from it that is; noise, autocorrelated noise and spikes that are no change;
 * the streaming and window forms agreeing; the Lua binding's answers and refusals; and the
 * public NAB series of ../shared/data/nab: the detector's event-level F1 against NAB's
 * windowed-Gaussian baseline, and labelled bursts found by both helpers. */
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
#include "sdk_anomaly.h"
#include "sdk_changepoint.h"
#include "nab.h"

/* ---- helpers -------------------------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static double uniform(rng *r) { /* xorshift64: the same numbers on every machine */
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return ((double)(r->s >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(rng *r) {
    return sqrt(-2 * log(uniform(r))) * cos(6.283185307179586 * uniform(r));
}

#define T0   1763726400.0 /* 2025-11-21T12:00:00Z */
#define STEP 60.0

/* A series of 'n' points a minute apart: 'level' plus Gaussian noise of deviation 'sd'. */
static void noise(double *t, double *v, size_t n, double level, double sd, uint64_t seed) {
    rng r = {seed};
    for (size_t i = 0; i < n; i++) {
        t[i] = T0 + STEP * (double)i;
        v[i] = level + sd * gauss(&r);
    }
}

typedef struct found {
    sdk_anomaly a[64];
    size_t n;
    size_t flagged[4096]; /* indices of the points the stream called anomalous */
    size_t n_flagged;
} found;

/* Runs a stream with the settings 'o' (NULL: defaults) over the points, collecting every
 * anomaly that ends (and the open one at the end) and every anomalous point. */
static void detect(const double *t, const double *v, size_t n, const sdk_anomaly_opts *o,
                   found *f) {
    sdk_anomaly_opts d;
    if (!o) {
        sdk_anomaly_defaults(&d);
        o = &d;
    }
    char why[200];
    assert_null(sdk_anomaly_check(o, why, sizeof why));
    size_t size = sdk_anomaly_stream_size(o);
    void *mem = malloc(size);
    sdk_anomaly_stream *s = sdk_anomaly_stream_init(mem, size, o);
    assert_non_null(s);
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < n; i++) {
        sdk_anomaly a;
        int rc = sdk_anomaly_stream_push(s, t[i], v[i], NULL, &a);
        assert_true(rc >= 0);
        if ((rc & SDK_ANOMALY_CLOSED) && f->n < 64)
            f->a[f->n++] = a;
        if ((rc & 1) && f->n_flagged < 4096)
            f->flagged[f->n_flagged++] = i;
    }
    if (f->n < 64 && sdk_anomaly_stream_flush(s, &f->a[f->n]))
        f->n++;
    free(mem);
}

static void print_found(const found *f) {
    for (size_t i = 0; i < f->n; i++)
        print_message("  %s %s at point %.0f..%.0f, peak %.0f, score %.1f, magnitude %.2f (%s)\n",
                      sdk_anomaly_kind_name(f->a[i].kind), f->a[i].direction > 0 ? "up" : "down",
                      (f->a[i].start - T0) / STEP, (f->a[i].end - T0) / STEP,
                      (f->a[i].peak - T0) / STEP, f->a[i].score, f->a[i].magnitude,
                      f->a[i].baseline);
}

/* ---- Planted anomalies ------------------------------------------------------------------------
 */

/* A minute series at 100 ± 1 with a spike (+15 at 300), a dip (-15 at 500) and a lasting level
 * shift (+8 from 700): exactly three anomalies, each where it was planted, in its direction,
 * of its size, of its kind. */
static void planted_spike_dip_shift(void **state) {
    (void)state;
    enum { N = 1000 };
    double t[N], v[N];
    noise(t, v, N, 100, 1, 7);
    v[300] += 15;
    v[500] -= 15;
    for (size_t i = 700; i < N; i++)
        v[i] += 8;
    found f;
    detect(t, v, N, NULL, &f);
    print_found(&f);
    assert_int_equal(f.n, 3);

    assert_int_equal(f.a[0].kind, SDK_ANOMALY_SPIKE);
    assert_int_equal(f.a[0].direction, 1);
    assert_true(f.a[0].start == t[300] && f.a[0].end == t[300] && f.a[0].peak == t[300]);
    assert_true(fabs(f.a[0].magnitude - 15) < 3 && f.a[0].score > 8);
    assert_true(fabs(f.a[0].expected - 100) < 1);

    assert_int_equal(f.a[1].kind, SDK_ANOMALY_DIP);
    assert_int_equal(f.a[1].direction, -1);
    assert_true(f.a[1].start == t[500] && f.a[1].end == t[500]);
    assert_true(fabs(f.a[1].magnitude - 15) < 3 && f.a[1].score > 8);

    assert_int_equal(f.a[2].kind, SDK_ANOMALY_LEVEL_SHIFT);
    assert_int_equal(f.a[2].direction, 1);
    assert_true(f.a[2].start == t[700]);
    /* the rolling level takes the new one in: it lags shift_points (12) behind, and a median of
     * level (12) moves halfway in 6 more */
    assert_true(f.a[2].end < t[700 + 30]);
    assert_true(fabs(f.a[2].magnitude - 8) < 3);
    assert_string_equal(f.a[2].baseline, "rolling");
}

/* A shift of 4 deviations, which few single points show past the threshold of 5: the median of
 * 12 points does (past 3), and the anomaly reaches back to where the shift started. */
static void planted_small_shift(void **state) {
    (void)state;
    enum { N = 900 };
    double t[N], v[N];
    noise(t, v, N, 50, 1, 11);
    for (size_t i = 600; i < N; i++)
        v[i] -= 4;
    found f;
    detect(t, v, N, NULL, &f);
    print_found(&f);
    assert_true(f.n >= 1);
    assert_int_equal(f.a[0].direction, -1);
    assert_true(f.a[0].start >= t[598] && f.a[0].start <= t[606]);
    for (size_t i = 0; i < f.n; i++) {
        assert_int_equal(f.a[i].direction, -1);
        assert_true(f.a[i].end <= t[640]);
    }
    assert_int_equal(f.a[f.n - 1].kind, SDK_ANOMALY_LEVEL_SHIFT);
}

/* Nothing to find: pure noise, a constant, a series shorter than the warm-up, NaN values. */
static void nothing_planted(void **state) {
    (void)state;
    enum { N = 3000 };
    static double t[N], v[N];
    found f;
    noise(t, v, N, 10, 2, 3);
    detect(t, v, N, NULL, &f);
    print_found(&f);
    assert_int_equal(f.n, 0);

    for (size_t i = 0; i < N; i++)
        v[i] = 42;
    detect(t, v, N, NULL, &f);
    assert_int_equal(f.n, 0);

    noise(t, v, 50, 10, 2, 3);
    v[40] = 1000; /* before min_points: the baseline cannot judge it yet */
    detect(t, v, 50, NULL, &f);
    assert_int_equal(f.n, 0);

    noise(t, v, N, 10, 2, 5);
    for (size_t i = 0; i < N; i += 7)
        v[i] = NAN; /* no value: skipped, neither normal nor anomalous */
    v[2000] = 60;
    detect(t, v, N, NULL, &f);
    print_found(&f);
    assert_int_equal(f.n, 1);
    assert_true(f.a[0].peak == t[2000]);
}

/* The stream refuses times that do not increase, and says nothing changed. */
static void times_must_increase(void **state) {
    (void)state;
    sdk_anomaly_opts o;
    sdk_anomaly_defaults(&o);
    size_t size = sdk_anomaly_stream_size(&o);
    void *mem = malloc(size);
    sdk_anomaly_stream *s = sdk_anomaly_stream_init(mem, size, &o);
    assert_int_equal(sdk_anomaly_stream_push(s, 100, 1, NULL, NULL), 0);
    assert_int_equal(sdk_anomaly_stream_push(s, 100, 1, NULL, NULL), -1);
    assert_int_equal(sdk_anomaly_stream_push(s, 99, 1, NULL, NULL), -1);
    assert_int_equal(sdk_anomaly_stream_push(s, NAN, 1, NULL, NULL), -1);
    assert_int_equal(sdk_anomaly_stream_push(s, 101, 1, NULL, NULL), 0);
    assert_null(sdk_anomaly_stream_init(mem, size - 1, &o));
    free(mem);
}

static void settings_checked(void **state) {
    (void)state;
    sdk_anomaly_opts o;
    char why[200];
    sdk_anomaly_defaults(&o);
    assert_null(sdk_anomaly_check(&o, why, sizeof why));
    o.window = 4;
    assert_string_equal(sdk_anomaly_check(&o, why, sizeof why),
                        "window must be from 8 to 100000 points (got 4)");
    sdk_anomaly_defaults(&o);
    o.hold = 9;
    assert_string_equal(sdk_anomaly_check(&o, why, sizeof why),
                        "hold must be > 0 and at most threshold (got 9)");
    sdk_anomaly_defaults(&o);
    o.risk = 0.5;
    assert_string_equal(sdk_anomaly_check(&o, why, sizeof why),
                        "risk must be from 0 to 0.01 (got 0.5)");
    sdk_anomaly_defaults(&o);
    o.min_points = o.window + 1;
    assert_string_equal(sdk_anomaly_check(&o, why, sizeof why),
                        "min_points must be from 4 to window (got 2017)");
}

/* ---- Seasonality ------------------------------------------------------------------------------
 */

/* Ten days at a 5-minute step: 100 ± 3 with a daily peak (+80 from 12:00 to 13:55). Once the
 * history covers a day the daily baseline judges, and the peaks are no anomalies; a bump at
 * 03:00 on day 8 is one (rolling and daily models alike would call it), and so is day 9's
 * missing peak, which only the daily baseline can see. */
static void seasonal_peak_is_normal(void **state) {
    (void)state;
    enum { PER_DAY = 288, N = 10 * PER_DAY };
    static double t[N], v[N];
    rng r = {99};
    for (size_t i = 0; i < N; i++) {
        size_t day = i / PER_DAY, slot = i % PER_DAY;
        int peak = slot >= 144 && slot < 168;
        t[i] = T0 + 300.0 * (double)i;
        v[i] = 100 + 3 * gauss(&r) + (peak && day != 9 ? 80 : 0);
        if (day == 8 && slot >= 36 && slot < 42)
            v[i] += 30;
    }
    found f;
    detect(t, v, N, NULL, &f);
    for (size_t i = 0; i < f.n; i++)
        print_message("  %s %s day %.2f (%zu points, score %.1f, %s)\n",
                      sdk_anomaly_kind_name(f.a[i].kind), f.a[i].direction > 0 ? "up" : "down",
                      (f.a[i].start - T0) / 86400, f.a[i].points, f.a[i].score, f.a[i].baseline);
    size_t bump = 0, missing = 0, other = 0;
    for (size_t i = 0; i < f.n; i++) {
        double day = (f.a[i].start - T0) / 86400;
        if (day < 2)
            continue; /* the first day has no daily baseline yet */
        if (day >= 8.12 && day < 8.15 && f.a[i].direction > 0)
            bump++;
        else if (day >= 9.49 && day < 9.6 && f.a[i].direction < 0)
            missing++;
        else
            other++;
    }
    assert_int_equal(bump, 1);
    assert_true(missing >= 1);
    assert_int_equal(other, 0);
    for (size_t i = 0; i < f.n; i++)
        if ((f.a[i].start - T0) / 86400 >= 9.49 && f.a[i].direction < 0)
            assert_string_equal(f.a[i].baseline, "daily");
}

/* ---- Streaming and window forms, and the Lua binding -------------------------------------------
 */

static lua_State *new_state(void) {
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    sdk_open(L);
    lua_setglobal(L, "inquest");
    return L;
}

/* Runs 'code'; it returns a string, compared with 'want'. */
static void expect_lua(lua_State *L, const char *code, const char *want) {
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
    assert_string_equal(lua_tostring(L, -1), want);
    lua_settop(L, 0);
}

/* The message of the error 'code' raises, without its position. */
static void expect_refusal(lua_State *L, const char *code, const char *want) {
    char wrapped[1024];
    snprintf(wrapped, sizeof wrapped,
             "local ok, err = pcall(function() %s end)\n"
             "assert(not ok, 'no error')\n"
             "return (tostring(err):gsub('^[^:]*:%%d+: ', ''))",
             code);
    expect_lua(L, wrapped, want);
}

/* A series in Lua: S (global) of 1,500 minute points with a spike, a dip and a shift. */
static const char make_series[] =
    "local pts, seed = {}, 42\n"
    "local function rnd() seed = (seed * 1103515245 + 12345) % 2147483648 return seed / "
    "2147483648 end\n"
    "for i = 1, 1500 do\n"
    "  local v = 20 + (rnd() + rnd() + rnd() - 1.5) * 2\n"
    "  if i == 400 then v = v + 30 elseif i == 800 then v = v - 30 elseif i >= 1100 then v = v + "
    "12 end\n"
    "  if i == 1000 then v = nil end\n"
    "  pts[i] = { 1763726400 + 60 * i, v }\n"
    "end\n"
    "S = inquest.series.new { labels = { service = 'x' }, points = pts }\n";

/* The window form is the stream run over the series: the anomalies detect() returns are those
 * the stream ends, and the points inside them are those the stream calls anomalous. */
static void stream_and_window_agree(void **state) {
    (void)state;
    lua_State *L = new_state();
    if (luaL_dostring(L, make_series) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
    expect_lua(
        L,
        "local A = inquest.anomaly\n"
        "local window = A.detect(S)\n"
        "local st, ended, flagged = A.stream(), {}, {}\n"
        "for t, v in S:points() do\n"
        "  local open, closed = st:push(t, v)\n"
        "  if open then flagged[#flagged + 1] = t end\n"
        "  if closed then ended[#ended + 1] = closed end\n"
        "end\n"
        "ended[#ended + 1] = st:flush()\n"
        "assert(#window == #ended, #window .. ' vs ' .. #ended)\n"
        "local inside, out = 0, {}\n"
        "for i, a in ipairs(window) do\n"
        "  for _, k in ipairs { 'start', 'end', 'peak', 'value', 'expected', 'magnitude',\n"
        "                       'score', 'direction', 'kind', 'baseline', 'points' } do\n"
        "    assert(a[k] == ended[i][k], k)\n"
        "  end\n"
        "  inside = inside + a.points\n"
        "  out[#out + 1] = ('%s %s %d'):format(a.kind, a.direction, (a.start - 1763726400) / "
        "60)\n"
        "end\n"
        "assert(inside == #flagged)\n"
        "return table.concat(out, ', ')",
        "spike up 400, dip down 800, level_shift up 1100");
    /* from: earlier points only teach the baselines */
    expect_lua(L,
               "local a = inquest.anomaly.detect(S, { from = 1763726400 + 60 * 900 })\n"
               "return #a .. ' ' .. a[1].kind",
               "1 level_shift");
    /* s:last() and the onset of the change */
    expect_lua(L,
               "local st = inquest.anomaly.stream { window = 100, min_points = 10 }\n"
               "for i = 1, 50 do st:push(i, 5 + i % 2) end\n"
               "local e, z, b = st:last()\n"
               "local onset, all = inquest.changepoint(S)\n"
               "return ('%g %g %s | %d %s %.0f->%.0f %d'):format(e, z, b, onset.index,\n"
               "  onset.direction, onset.before, onset.after, #all)",
               "5.5 -0.674491 rolling | 1100 up 20->32 1");
    lua_close(L);
}

static void lua_refusals(void **state) {
    (void)state;
    lua_State *L = new_state();
    if (luaL_dostring(L, make_series) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
    expect_refusal(L, "inquest.anomaly.detect({})",
                   "inquest.anomaly.detect: series must be a series (got table)");
    expect_refusal(L, "inquest.anomaly.detect(S, { windwo = 3 })",
                   "inquest.anomaly.detect: unknown option 'windwo' (known: level, window, "
                   "tail_window, risk, threshold, hold, shift, shift_points, min_points, history, "
                   "seasons, from)");
    expect_refusal(L, "inquest.anomaly.detect(S, { window = 2.5 })",
                   "inquest.anomaly.detect: window must be a whole number >= 0 (got 2.5)");
    expect_refusal(L, "inquest.anomaly.detect(S, { risk = 'low' })",
                   "inquest.anomaly.detect: risk must be a number (got string)");
    expect_refusal(L, "inquest.anomaly.detect(S, { seasons = { 'month' } })",
                   "inquest.anomaly.detect: seasons[1] must be \"day\" or \"week\"");
    expect_refusal(L, "inquest.anomaly.stream { from = 1 }",
                   "inquest.anomaly.stream: unknown option 'from' (a stream sees every point it "
                   "is given)");
    expect_refusal(L, "local s = inquest.anomaly.stream() s:push(10, 1) s:push(5, 1)",
                   "stream:push: times must be finite and increase (got 5 after 10)");
    expect_refusal(L, "local s = inquest.anomaly.stream() s:push(10, 'x')",
                   "stream:push: v must be a number or nil (got string)");
    expect_refusal(L, "local s = inquest.anomaly.stream() s.push({}, 1, 1)",
                   "stream:push: call it on a stream, as s:push(…) (got table)");
    expect_refusal(L, "inquest.changepoint(S, { direction = 'sideways' })",
                   "inquest.changepoint: direction must be \"any\", \"up\" or \"down\"");
    expect_refusal(L, "inquest.changepoint(S, { min_confidence = 2 })",
                   "inquest.changepoint: min_confidence must be from 0.5 to below 1 (got 2)");
    expect_refusal(L, "inquest.changepoint(S, 5)",
                   "inquest.changepoint: options must be a table (got number)");
    lua_close(L);
}

/* A state whose allocator refuses past 'limit' bytes, as the analysis' budget does. */
typedef struct budget {
    size_t used, limit;
} budget;

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    budget *b = ud;
    if (!ptr)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        b->used -= osize;
        return NULL;
    }
    if (nsize > osize && b->used - osize + nsize > b->limit)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p)
        b->used = b->used - osize + nsize;
    return p;
}

/* The detector's working memory comes from the state's allocator: under a budget too small
 * for it, detect() fails with a memory error and the state lives on. */
static void working_memory_is_budgeted(void **state) {
    (void)state;
    budget b = {0, (size_t)4 << 20};
    lua_State *L = lua_newstate(budget_alloc, &b);
    assert_non_null(L);
    luaL_openlibs(L);
    sdk_open(L);
    lua_setglobal(L, "inquest");
    expect_lua(L,
               "local pts = {}\n"
               "for i = 1, 20 do pts[i] = { i, i } end\n"
               "local s = inquest.series.new { points = pts }\n"
               "local ok, err = pcall(inquest.anomaly.detect, s, { history = 1000000, window = "
               "100000, tail_window = 100000 })\n"
               "return tostring(ok) .. ' ' .. tostring(err) .. ' ' .. #inquest.anomaly.detect(s)",
               "false not enough memory 0");
    lua_close(L);
}

/* ---- Change points ----------------------------------------------------------------------------
 */

static size_t changes(const double *t, const double *v, size_t n, const sdk_cp_opts *o,
                      sdk_changepoint *out) {
    sdk_cp_opts d;
    if (!o) {
        sdk_cp_defaults(&d);
        o = &d;
    }
    void *work = malloc(sdk_cp_work_size(n));
    size_t k = sdk_changepoints(t, v, n, o, work, out);
    free(work);
    return k;
}

/* A level change of 1.5 deviations at 240 of 400 points, under a spike of 40 deviations that
 * must not count: one change, within 3 points of 240, confident, with the levels around it. */
static void changepoint_planted(void **state) {
    (void)state;
    enum { N = 400 };
    double t[N], v[N];
    sdk_changepoint out[SDK_CP_MAX_CHANGES];
    noise(t, v, N, 10, 1, 21);
    for (size_t i = 240; i < N; i++)
        v[i] += 1.5;
    v[100] += 40;
    size_t k = changes(t, v, N, NULL, out);
    for (size_t i = 0; i < k; i++)
        print_message("  change at %zu: %.2f -> %.2f, confidence %.5f, score %.2f\n", out[i].index,
                      out[i].before, out[i].after, out[i].confidence, out[i].score);
    assert_int_equal(k, 1);
    assert_true(out[0].index >= 237 && out[0].index <= 243);
    assert_true(out[0].at == t[out[0].index]);
    assert_true(out[0].confidence >= 0.999);
    assert_true(fabs(out[0].before - 10) < 0.3 && fabs(out[0].after - 11.5) < 0.3);

    /* a rise then a fall: both, in time order; direction keeps one */
    for (size_t i = 320; i < N; i++)
        v[i] -= 4;
    k = changes(t, v, N, NULL, out);
    assert_int_equal(k, 2);
    assert_true(out[0].index >= 237 && out[0].index <= 243 && out[0].after > out[0].before);
    assert_true(out[1].index >= 318 && out[1].index <= 322 && out[1].after < out[1].before);
    sdk_cp_opts o;
    sdk_cp_defaults(&o);
    o.direction = -1;
    k = changes(t, v, N, &o, out);
    assert_int_equal(k, 1);
    assert_true(out[0].index >= 318 && out[0].index <= 322);
}

/* Without a change, 200 series each of white noise and of strongly autocorrelated noise
 * (AR(1), phi 0.8) show one in few of them: the long-run sigma keeps slow wander from passing
 * for a change (a white-noise sigma would call it in most). */
static void changepoint_not_in_noise(void **state) {
    (void)state;
    enum { N = 300, RUNS = 200 };
    double t[N], v[N];
    sdk_changepoint out[SDK_CP_MAX_CHANGES];
    for (int phi10 = 0; phi10 <= 8; phi10 += 8) {
        rng r = {1234 + (uint64_t)phi10};
        size_t with = 0;
        for (int run = 0; run < RUNS; run++) {
            double ar = 0;
            for (size_t i = 0; i < N; i++) {
                ar = phi10 / 10.0 * ar + gauss(&r);
                t[i] = (double)i;
                v[i] = ar;
            }
            with += changes(t, v, N, NULL, out) > 0;
        }
        print_message("  phi %.1f: %zu of %d series with a change\n", phi10 / 10.0, with, RUNS);
        assert_true(with <= (phi10 ? RUNS / 10 : RUNS / 50));
    }
    /* a constant, a short series, NaN everywhere */
    for (size_t i = 0; i < N; i++)
        v[i] = 3;
    assert_int_equal(changes(t, v, N, NULL, out), 0);
    assert_int_equal(changes(t, v, 3, NULL, out), 0);
    for (size_t i = 0; i < N; i++)
        v[i] = i < 150 ? 1 : NAN;
    assert_int_equal(changes(t, v, N, NULL, out), 0);
}

/* A step in a noiseless series, with NaN around it: found exactly, at its time. */
static void changepoint_exact(void **state) {
    (void)state;
    double t[20], v[20];
    sdk_changepoint out[SDK_CP_MAX_CHANGES];
    for (size_t i = 0; i < 20; i++) {
        t[i] = 1000 + 10.0 * (double)i;
        v[i] = i < 12 ? 2 : 7;
    }
    v[5] = v[13] = NAN;
    assert_int_equal(changes(t, v, 20, NULL, out), 1);
    assert_int_equal(out[0].index, 12);
    assert_true(out[0].at == 1120 && out[0].before == 2 && out[0].after == 7);
    assert_true(out[0].confidence > 0.999999);
}

/* ---- The public NAB series ----------------------------------------------------------------------
 */

static nab_series *nab;
static long n_nab;

static int load_nab(void **state) {
    (void)state;
    char why[512];
    n_nab = nab_load(DATA_DIR "/nab", &nab, why, sizeof why);
    if (n_nab < 0)
        fprintf(stderr, "test_anomaly: the public data is missing: %s\n", why);
    return 0;
}

static int free_nab(void **state) {
    (void)state;
    nab_free(nab, n_nab > 0 ? (size_t)n_nab : 0);
    return 0;
}

static const nab_series *nab_get(const char *name) {
    if (n_nab <= 0)
        fail_msg("the NAB data of ../shared/data/nab is missing (see ../shared/data/README.md)");
    for (long i = 0; i < n_nab; i++)
        if (strstr(nab[i].name, name))
            return &nab[i];
    fail_msg("no NAB series %s", name);
    return NULL;
}

/* Event-level F1 of the streaming detector, one parameter set, over every NAB series, at least
 * 0.10 above NAB's windowed Gaussian with the threshold that suits it best. */
static void nab_f1_beats_baseline(void **state) {
    (void)state;
    nab_get("");
    nab_score ours, base;
    double threshold;
    assert_int_equal(nab_score_toolkit(nab, (size_t)n_nab, NULL, NULL, &ours, NULL, NULL), 0);
    nab_score_gaussian_best(nab, (size_t)n_nab, &base, &threshold);
    print_message("  toolkit: found %zu of %zu windows, %zu false positives: P %.3f R %.3f F1 "
                  "%.3f\n  baseline (z >= %g): found %zu, %zu false positives: F1 %.3f\n",
                  ours.found, ours.windows, ours.fp, ours.precision, ours.recall, ours.f1,
                  threshold, base.found, base.fp, base.f1);
    assert_int_equal(ours.windows, 31);
    assert_true(ours.f1 >= base.f1 + 0.10);
}

/* The largest burst of Coca-Cola mentions (2,241 in 5 minutes on a day of ~8, day 46.7) is a
 * spike up found inside its labelled window, by the window form of the detector. */
static void nab_burst_found(void **state) {
    (void)state;
    const nab_series *s = nab_get("Twitter_volume_KO");
    found f;
    detect(s->t, s->v, s->n, NULL, &f);
    size_t hits = 0;
    for (size_t i = 0; i < f.n; i++)
        if (f.a[i].value == 2241) {
            hits++;
            assert_int_equal(f.a[i].direction, 1);
            assert_true(f.a[i].start >= s->win[2][0] && f.a[i].end <= s->win[2][1]);
            assert_true(f.a[i].magnitude > 2000);
        }
    assert_int_equal(hits, 1);
}

/* On the artificial daily series (a square wave a day, with noise) whose labelled anomaly is a
 * day with a higher or a lower peak, or none: the anomaly is found in its window, and once the
 * daily baseline has judged for a day (from day 3 on) the daily cycle itself is never called
 * anomalous. */
static void nab_daily_series(void **state) {
    (void)state;
    static const char *const names[] = {"art_daily_jumpsup", "art_daily_jumpsdown",
                                        "art_daily_nojump"};
    for (size_t k = 0; k < 3; k++) {
        const nab_series *s = nab_get(names[k]);
        found f;
        detect(s->t, s->v, s->n, NULL, &f);
        size_t in = 0, out = 0;
        for (size_t i = 0; i < f.n_flagged; i++) {
            double t = s->t[f.flagged[i]];
            if (t >= s->win[0][0] && t <= s->win[0][1])
                in++;
            else if (t >= s->t[0] + 3 * 86400)
                out++;
        }
        print_message("  %s: %zu anomalous points in the window, %zu outside\n", names[k], in, out);
        assert_true(in > 0);
        assert_int_equal(out, 0);
    }
}

/* Change points on NAB data with known answers: the artificial series whose anomaly is a jump
 * of the daily level (a flat middle, a lower or a higher day) change at the labelled moment
 * (the window's middle, to the 5-minute point), upwards, with full confidence, when given the
 * 12 hours before it and the 2 after; and the largest burst of Apple mentions (13,479 in 5
 * minutes) begins within half an hour before its label. */
static void nab_changepoint_onsets(void **state) {
    (void)state;
    static const struct {
        const char *name;
        size_t window;
        double before, after, tolerance;
    } cases[] = {
        {"art_daily_flatmiddle", 0, 12, 2, 300},
        {"art_daily_jumpsdown", 0, 12, 2, 300},
        {"art_daily_jumpsup", 0, 12, 2, 300},
        {"Twitter_volume_AAPL", 3, 12, 2, 1800},
    };
    sdk_changepoint out[SDK_CP_MAX_CHANGES];
    sdk_cp_opts o;
    sdk_cp_defaults(&o);
    o.direction = 1;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const nab_series *s = nab_get(cases[k].name);
        double mid = (s->win[cases[k].window][0] + s->win[cases[k].window][1]) / 2;
        size_t lo = 0, hi;
        while (lo < s->n && s->t[lo] < mid - cases[k].before * 3600)
            lo++;
        for (hi = lo; hi < s->n && s->t[hi] <= mid + cases[k].after * 3600;)
            hi++;
        size_t n = changes(s->t + lo, s->v + lo, hi - lo, &o, out);
        print_message("  %s: %zu changes, the first %+.0f s from the label, %.0f -> %.0f, "
                      "confidence %.6f\n",
                      cases[k].name, n, n ? out[0].at - mid : NAN, out[0].before, out[0].after,
                      out[0].confidence);
        assert_true(n >= 1);
        assert_true(out[0].at >= mid - cases[k].tolerance && out[0].at <= mid + 300);
        assert_true(out[0].after > out[0].before && out[0].confidence >= 0.999);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(planted_spike_dip_shift),
        cmocka_unit_test(planted_small_shift),
        cmocka_unit_test(nothing_planted),
        cmocka_unit_test(times_must_increase),
        cmocka_unit_test(settings_checked),
        cmocka_unit_test(seasonal_peak_is_normal),
        cmocka_unit_test(stream_and_window_agree),
        cmocka_unit_test(lua_refusals),
        cmocka_unit_test(working_memory_is_budgeted),
        cmocka_unit_test(changepoint_planted),
        cmocka_unit_test(changepoint_not_in_noise),
        cmocka_unit_test(changepoint_exact),
        cmocka_unit_test(nab_f1_beats_baseline),
        cmocka_unit_test(nab_burst_found),
        cmocka_unit_test(nab_daily_series),
        cmocka_unit_test(nab_changepoint_onsets),
    };
    return cmocka_run_group_tests(tests, load_nab, free_nab);
}
