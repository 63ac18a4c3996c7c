/* tests/unit/test_preempt.c -- time slicing (workers/wk_io.c, "Slices"): an analysis that
 * computes without ever waiting for I/O still gives its event loop a turn every slice, so that
 * timers (a worker's lease heartbeats) fire, a cancellation ends it promptly, and the other
 * analyses of the loop go on; and a preemption does not show in what the analysis computes
 * (coroutines it made, pcall and xpcall, a table.sort comparator, ctx:parallel, ctx:call).
 * The analyzers are in tests/unit/preempt/slice/. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "wk.h"

#define TICK_MS 10

static wk_engine *new_engine(void) {
    const char *root = TESTS_DIR "/unit/preempt";
    return wk_engine_new(&root, 1);
}

/* One analysis started with wk_start: its handle, and its result once it ended. */
typedef struct started {
    wk_analysis *handle;
    json_t *result;
    double ended_at; /* rt_monotonic() */
} started;

static void ended(json_t *result, void *ud) {
    started *s = ud;
    s->result = result;
    s->ended_at = rt_monotonic();
}

/* Starts 'analyzer' with the integer input n (when n >= 0) under a deadline of 'timeout'
 * seconds and an instruction budget no test reaches. */
static void start(wk_engine *engine, const char *analyzer, long long n, double timeout,
                  started *s) {
    json_t *inputs = n >= 0 ? json_pack("{s:I}", "n", (json_int_t)n) : NULL;
    wk_request request = {
        .analyzer = analyzer, .inputs = inputs, .id = analyzer, .now = 1795262400};
    wk_limits_default(&request.limits);
    request.limits.instructions = 1000000000000000ULL;
    request.limits.timeout = timeout;
    rt_diag diag = {0};
    assert_int_equal(wk_start(engine, &request, ended, s, &s->handle, &diag), RT_OK);
    rt_diag_free(&diag);
    json_decref(inputs);
}

static const char *status_of(const started *s) {
    return json_string_value(json_object_get(s->result, "status"));
}

static const char *summary_of(const started *s) {
    return json_string_value(json_object_get(json_object_get(s->result, "conclusion"), "summary"));
}

/* A repeating timer on the engine's loop that counts its ticks. */
typedef struct ticker {
    uv_timer_t timer;
    int ticks;
} ticker;

static void tick(uv_timer_t *timer) {
    ((ticker *)timer->data)->ticks++;
}

static void ticker_start(wk_engine *engine, ticker *t) {
    t->ticks = 0;
    uv_timer_init(wk_engine_loop(engine), &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, tick, TICK_MS, TICK_MS);
}

/* Runs the loop until 's' has ended, then stops the ticker. */
static void run_until_ended(wk_engine *engine, started *s, ticker *t) {
    while (!s->result)
        uv_run(wk_engine_loop(engine), UV_RUN_ONCE);
    if (t) {
        uv_close((uv_handle_t *)&t->timer, NULL);
        uv_run(wk_engine_loop(engine), UV_RUN_NOWAIT);
    }
}

/* An analysis that loops until its deadline (300 ms) lets a 10 ms timer of its loop tick all the
 * while, and still ends with "timeout" at the line where it looped. Before time slicing the
 * loop stood still: no tick at all. */
static void test_timer_ticks_while_computing(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    ticker t;
    ticker_start(engine, &t);
    started s = {0};
    double t0 = rt_monotonic();
    start(engine, "slice.spin", -1, 0.3, &s);
    run_until_ended(engine, &s, &t);
    double took = s.ended_at - t0;
    print_message("spin: %d ticks of %d ms in %.0f ms\n", t.ticks, TICK_MS, took * 1e3);
    assert_string_equal(status_of(&s), "timeout");
    assert_true(took >= 0.3 && took < 1.0);
    /* 30 ticks fit; a loaded machine may lose some, but not most */
    assert_true(t.ticks >= 10);
    json_t *error = json_array_get(json_object_get(s.result, "errors"), 0);
    assert_int_equal(json_integer_value(json_object_get(error, "line")), 8);
    json_decref(s.result);
    wk_engine_free(engine);
}

/* The same two coroutines deep (a coroutine.wrap that resumes a coroutine.create): each yields
 * in turn up to run's thread, so the loop ticks as well. Before, a coroutine the analyzer made
 * was never preempted: no tick. */
static void test_timer_ticks_while_computing_in_coroutines(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    ticker t;
    ticker_start(engine, &t);
    started s = {0};
    start(engine, "slice.spin_co", -1, 0.3, &s);
    run_until_ended(engine, &s, &t);
    print_message("spin_co: %d ticks of %d ms\n", t.ticks, TICK_MS);
    assert_string_equal(status_of(&s), "timeout");
    assert_true(t.ticks >= 10);
    json_decref(s.result);
    wk_engine_free(engine);
}

/* A coroutine preempted inside one function of a ctx:parallel cannot be resumed or closed by the
 * other meanwhile, and reads "normal": it is inside a resume. The first still gets its sum. */
static void test_held_coroutine_refused_to_others(void **state) {
    (void)state;
    const long long n = 5000000;
    wk_engine *engine = new_engine();
    started s = {0};
    start(engine, "slice.shared", n, 60, &s);
    run_until_ended(engine, &s, NULL);
    assert_string_equal(status_of(&s), "ok");
    char want[512];
    snprintf(want, sizeof want,
             "%lld normal|false|cannot resume non-suspended coroutine|false|cannot close a "
             "normal coroutine",
             n * (n + 1) / 2);
    assert_string_equal(summary_of(&s), want);
    json_decref(s.result);
    wk_engine_free(engine);
}

/* A cancellation asked from the loop (as a worker learns it, from Redis) while an analysis
 * computes ends it as "cancelled" within a few slices, long before its deadline. */
typedef struct canceller {
    uv_timer_t timer;
    started *s;
    double asked_at;
} canceller;

static void cancel_now(uv_timer_t *timer) {
    canceller *c = timer->data;
    if (!c->s->result) { /* before time slicing, the analysis had ended before any timer ran */
        c->asked_at = rt_monotonic();
        wk_cancel(c->s->handle, "cancelled by the test");
    }
    uv_close((uv_handle_t *)timer, NULL);
}

static void test_cancel_while_computing(void **state) {
    (void)state;
    wk_engine *engine = new_engine();
    started s = {0};
    canceller c = {.s = &s};
    uv_timer_init(wk_engine_loop(engine), &c.timer);
    c.timer.data = &c;
    uv_timer_start(&c.timer, cancel_now, 50, 0);
    start(engine, "slice.spin", -1, 2.0, &s);
    run_until_ended(engine, &s, NULL);
    uv_run(wk_engine_loop(engine), UV_RUN_NOWAIT); /* the timer's close */
    assert_string_equal(status_of(&s), "cancelled");
    assert_true(c.asked_at > 0);
    print_message("cancelled %.1f ms after it was asked\n", (s.ended_at - c.asked_at) * 1e3);
    assert_true(s.ended_at - c.asked_at < 0.1);
    json_decref(s.result);
    wk_engine_free(engine);
}

/* While one analysis computes, another started on the same loop runs its own computation to
 * its end; then the first is cancelled. */
typedef struct pair {
    uv_timer_t timer;
    wk_engine *engine;
    started spin, count;
    int spin_ended_first; /* the computing one had ended when the second ended */
} pair;

static void count_ended(json_t *result, void *ud) {
    pair *p = ud;
    ended(result, &p->count);
    p->spin_ended_first = p->spin.result != NULL;
    if (!p->spin.result)
        wk_cancel(p->spin.handle, "the test is done");
}

static void start_count(uv_timer_t *timer) {
    pair *p = timer->data;
    json_t *inputs = json_pack("{s:I}", "n", (json_int_t)300000);
    wk_request request = {.analyzer = "slice.count", .inputs = inputs, .id = "count"};
    wk_limits_default(&request.limits);
    rt_diag diag = {0};
    assert_int_equal(wk_start(p->engine, &request, count_ended, p, &p->count.handle, &diag), RT_OK);
    json_decref(inputs);
    uv_close((uv_handle_t *)timer, NULL);
}

static void test_other_analysis_goes_on(void **state) {
    (void)state;
    pair p = {.engine = new_engine()};
    uv_timer_init(wk_engine_loop(p.engine), &p.timer);
    p.timer.data = &p;
    uv_timer_start(&p.timer, start_count, 20, 0);
    start(p.engine, "slice.spin", -1, 2.0, &p.spin);
    run_until_ended(p.engine, &p.spin, NULL);
    while (!p.count.result)
        uv_run(wk_engine_loop(p.engine), UV_RUN_ONCE);
    assert_string_equal(status_of(&p.count), "ok");
    assert_string_equal(summary_of(&p.count), "45000150000");
    assert_false(p.spin_ended_first);
    assert_string_equal(status_of(&p.spin), "cancelled");
    json_decref(p.spin.result);
    json_decref(p.count.result);
    wk_engine_free(p.engine);
}

/* Long computations in coroutines the analyzer made, in pcall and xpcall, in a sort comparator,
 * in ctx:parallel and in a nested analysis give the values they give without preemption, while
 * the loop ticks; the instructions are all counted. */
static void test_values_survive_preemption(void **state) {
    (void)state;
    const long long n = 1000000, k = n / 1000;
    wk_engine *engine = new_engine();
    ticker t;
    ticker_start(engine, &t);
    started s = {0};
    start(engine, "slice.mixed", n, 60, &s);
    run_until_ended(engine, &s, &t);
    assert_string_equal(status_of(&s), "ok");
    char want[512];
    long long sum = n * (n + 1) / 2, half = (n / 2) * (n / 2 + 1) / 2;
    snprintf(want, sizeof want, "%lld %lld %lld %lld 299 %lld %lld %lld", sum,
             k * 500500 + k * (k + 1) / 2, sum, sum, sum, half, sum);
    assert_string_equal(summary_of(&s), want);
    json_int_t instructions =
        json_integer_value(json_object_get(json_object_get(s.result, "usage"), "instructions"));
    print_message("mixed: %d ticks, %lld instructions\n", t.ticks, (long long)instructions);
    assert_true(instructions > 8 * n); /* some 2 an iteration of sums over 8 n numbers */
    assert_true(t.ticks >= 3);
    json_decref(s.result);
    wk_engine_free(engine);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_ticks_while_computing),
        cmocka_unit_test(test_timer_ticks_while_computing_in_coroutines),
        cmocka_unit_test(test_held_coroutine_refused_to_others),
        cmocka_unit_test(test_cancel_while_computing),
        cmocka_unit_test(test_other_analysis_goes_on),
        cmocka_unit_test(test_values_survive_preemption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
