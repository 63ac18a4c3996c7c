/* tests/unit/test_queue.c -- runtime/rt_redis.c and runtime/rt_queue.c (with its function
 * library runtime/rt_queue.lua) against a real redis-server that this program starts in a fresh
 * folder with tests/support/redis, restarts, pauses (SIGSTOP) and stops. Each test uses a key
 * prefix of its own, runs its own loop, and ends by closing everything and checking that no
 * handle was left open. Waiting is on events (callbacks, states); where a lease must expire, a
 * uv timer waits for the time itself. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, kill */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/types.h>
#include <cmocka.h>
#include "rt_redis.h"
#include "rt_queue.h"
#include "test_redis.h"

static test_redis server;
static int test_no;

static int group_setup(void **state) {
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return test_redis_start(&server, "queue");
}

static int group_teardown(void **state) {
    (void)state;
    return test_redis_stop(&server);
}

/* After a test that pauses the server (SIGSTOP), also one that failed: the tests after it need
 * it to answer. */
static int resume_server(void **state) {
    (void)state;
    pid_t pid = (pid_t)test_redis_pid(&server);
    return pid > 0 ? kill(pid, SIGCONT) : 0;
}

/* ---- harness --------------------------------------------------------------------------------- */

typedef struct fx {
    uv_loop_t loop;
    uv_timer_t guard;
    uv_timer_t keepalive; /* keeps the loop polling while connections sit idle */
    rt_queue *q;
    char prefix[32];
    int ups, downs;
    char why[512];
} fx;

static void on_guard(uv_timer_t *t) {
    fx *f = t->loop->data;
    fail_msg("a test waited more than 10 s%s%s", f->q ? "; the queue says: " : "",
             f->q ? rt_queue_error(f->q) : "");
}

static void loop_init(fx *f) {
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->guard);
    uv_timer_start(&f->guard, on_guard, 10000, 0);
    uv_unref((uv_handle_t *)&f->guard);
    uv_timer_init(&f->loop, &f->keepalive);
    f->loop.data = f;
}

static void on_keepalive(uv_timer_t *t) {
    (void)t;
}

/* Runs the loop until 'cond' holds; fails if the loop has nothing left that could make it. */
#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        while (!(cond))                                                                            \
            if (uv_run(&(f)->loop, UV_RUN_ONCE) == 0 && !(cond))                                   \
                fail_msg("the loop went idle waiting for %s", #cond);                              \
    } while (0)

/* The same while idle connections must notice what happens to them (a restarted server): their
 * sockets do not keep the loop alive by themselves (rt_redis.c), so a timer does. */
#define RUN_UNTIL_POLLING(f, cond)                                                                 \
    do {                                                                                           \
        uv_timer_start(&(f)->keepalive, on_keepalive, 10, 10);                                     \
        RUN_UNTIL(f, cond);                                                                        \
        uv_timer_stop(&(f)->keepalive);                                                            \
    } while (0)

/* Runs the loop until '*flag' is set; fails if the loop has nothing left that could set it. */
static void run_until(fx *f, const volatile bool *flag) {
    RUN_UNTIL(f, *flag);
}

static void on_wait(uv_timer_t *t) {
    *(bool *)t->data = true;
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* Lets 'ms' milliseconds pass with the loop running (for leases and windows to expire). */
static void wait_ms(fx *f, uint64_t ms) {
    bool fired = false;
    uv_timer_t *t = malloc(sizeof *t);
    uv_timer_init(&f->loop, t);
    t->data = &fired;
    uv_timer_start(t, on_wait, ms, 0);
    run_until(f, &fired);
}

static void loop_done(fx *f) {
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_close((uv_handle_t *)&f->keepalive, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void on_queue_state(rt_queue *q, bool up, const char *why, void *ud) {
    fx *f = ud;
    (void)q;
    if (up)
        f->ups++;
    else
        f->downs++;
    snprintf(f->why, sizeof f->why, "%s", why);
}

static bool queue_up(fx *f) {
    return rt_queue_is_up(f->q);
}

/* A loop and a queue with a prefix of its own, up, its connection made with 'r'. 'o' may be
 * NULL. */
static void open_queue_on(fx *f, const rt_queue_options *o, rt_redis_options r) {
    rt_queue_options opts = o ? *o : (rt_queue_options){0};
    char why[256] = "";
    loop_init(f);
    snprintf(f->prefix, sizeof f->prefix, "t%d-%d", (int)getpid(), ++test_no);
    opts.prefix = f->prefix;
    opts.on_state = on_queue_state;
    opts.ud = f;
    f->q = rt_queue_new(&f->loop, &r, &opts, why);
    if (!f->q)
        fail_msg("rt_queue_new: %s", why);
    RUN_UNTIL(f, queue_up(f));
}

/* A loop and a queue with a prefix of its own, up. 'o' may be NULL. */
static void open_queue(fx *f, const rt_queue_options *o) {
    open_queue_on(f, o, (rt_redis_options){.url = server.url, .command_timeout = 2});
}

static void close_queue(fx *f) {
    rt_queue_free(f->q);
    loop_done(f);
}

/* ---- raw commands ---------------------------------------------------------------------------- */

typedef struct raw_reply {
    bool done;
    int rc;
    char msg[512];
    int type;
    long long integer;
    char str[512];
    size_t elements;
} raw_reply;

static void on_raw(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    raw_reply *out = ud;
    (void)r;
    if (!out)
        return;
    out->done = true;
    out->rc = rc;
    snprintf(out->msg, sizeof out->msg, "%s", msg);
    if (reply) {
        out->type = reply->type;
        out->integer = reply->integer;
        out->elements = reply->elements;
        if (reply->str)
            snprintf(out->str, sizeof out->str, "%.*s", (int)reply->len, reply->str);
    }
}

/* Runs one command given as NULL-terminated strings on 'r' and waits for its reply. */
static raw_reply raw_on(fx *f, rt_redis *r, ...) {
    const char *argv[32];
    int argc = 0;
    raw_reply out = {0};
    va_list ap;
    va_start(ap, r);
    for (const char *a; argc < 32 && (a = va_arg(ap, const char *));)
        argv[argc++] = a;
    va_end(ap);
    int rc = rt_redis_command(r, argc, argv, NULL, on_raw, &out);
    if (rc != RT_OK)
        fail_msg("rt_redis_command: %s", rt_redis_error(r));
    run_until(f, &out.done);
    return out;
}

#define RAW(f, ...) raw_on(f, rt_queue_redis((f)->q), __VA_ARGS__, (const char *)NULL)

/* "{prefix}:suffix" of the fixture's queue. */
static const char *key(fx *f, const char *suffix, const char *id) {
    static char buf[4][160];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "{%s}:%s%s", f->prefix, suffix, id ? id : "");
    return buf[i];
}

/* ---- queue calls, waited for ----------------------------------------------------------------- */

typedef struct submitted {
    bool done;
    int rc;
    char msg[512];
    size_t n;
    rt_queue_submitted out[RT_QUEUE_MAX_BATCH];
} submitted;

static void on_submit(int rc, const char *msg, const rt_queue_submitted *out, size_t n, void *ud) {
    submitted *s = ud;
    s->done = true;
    s->rc = rc;
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    s->n = n;
    if (n)
        memcpy(s->out, out, n * sizeof *out);
}

static submitted *submit(fx *f, const rt_queue_request *reqs, size_t n) {
    submitted *s = calloc(1, sizeof *s);
    char why[256];
    int rc = rt_queue_submit(f->q, reqs, n, on_submit, s, why);
    if (rc != RT_OK)
        fail_msg("rt_queue_submit: %s", why);
    run_until(f, &s->done);
    if (s->rc != RT_OK)
        fail_msg("submit: %s", s->msg);
    assert_int_equal(s->n, n);
    return s;
}

/* Submits one request and returns its id (static buffer). */
static const char *submit_one(fx *f, rt_queue_request r, bool *dedup) {
    static char id[RT_QUEUE_ID_SIZE];
    submitted *s = submit(f, &r, 1);
    snprintf(id, sizeof id, "%s", s->out[0].id);
    if (dedup)
        *dedup = s->out[0].deduplicated;
    free(s);
    return id;
}

static rt_queue_request req(const char *analyzer, const char *inputs, rt_priority p) {
    return (rt_queue_request){
        .analyzer = analyzer, .inputs = inputs, .priority = p, .team = "team-a"};
}

typedef struct claimed_item {
    char id[RT_QUEUE_ID_SIZE], entry[48], analyzer[64], inputs[256], team[32];
    int deliveries;
    rt_priority priority;
    double deadline, dequeued_at;
    bool record;
} claimed_item;

typedef struct claimed {
    bool done;
    int rc;
    char msg[512];
    size_t n, n_verdicts;
    claimed_item items[RT_QUEUE_MAX_BATCH];
    rt_queue_verdict verdicts[RT_QUEUE_MAX_BATCH];
} claimed;

static void on_claim(int rc, const char *msg, const rt_queue_verdict *verdicts, size_t n_verdicts,
                     const rt_queue_claimed *items, size_t n, void *ud) {
    claimed *c = ud;
    c->done = true;
    c->rc = rc;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    c->n = n;
    c->n_verdicts = n_verdicts;
    for (size_t i = 0; i < n_verdicts; i++)
        c->verdicts[i] = verdicts[i];
    for (size_t i = 0; i < n; i++) {
        claimed_item *it = &c->items[i];
        snprintf(it->id, sizeof it->id, "%s", items[i].id);
        snprintf(it->entry, sizeof it->entry, "%s", items[i].entry);
        snprintf(it->analyzer, sizeof it->analyzer, "%s", items[i].analyzer);
        snprintf(it->inputs, sizeof it->inputs, "%.*s", (int)items[i].inputs_len, items[i].inputs);
        snprintf(it->team, sizeof it->team, "%s", items[i].team);
        it->deliveries = items[i].deliveries;
        it->priority = items[i].priority;
        it->deadline = items[i].deadline;
        it->record = items[i].record;
        it->dequeued_at = items[i].dequeued_at;
    }
}

/* A round: stores 'results', then claims up to 'max'; the caller frees the result. */
static claimed *round_of(fx *f, const char *consumer, const rt_queue_completion *results,
                         size_t n_results, size_t max, double lease) {
    claimed *c = calloc(1, sizeof *c);
    char why[256];
    if (rt_queue_claim(f->q, consumer, results, n_results, max, lease, 0, on_claim, c, why) !=
        RT_OK)
        fail_msg("rt_queue_claim: %s", why);
    run_until(f, &c->done);
    if (c->rc != RT_OK)
        fail_msg("claim: %s", c->msg);
    return c;
}

/* Claims; the caller frees the result. */
static claimed *claim(fx *f, const char *consumer, size_t max, double lease) {
    return round_of(f, consumer, NULL, 0, max, lease);
}

static size_t claim_count(fx *f, const char *consumer, size_t max, double lease) {
    claimed *c = claim(f, consumer, max, lease);
    size_t n = c->n;
    free(c);
    return n;
}

typedef struct verdicts {
    bool done;
    int rc;
    char msg[512];
    size_t n;
    int v[RT_QUEUE_MAX_BATCH];
} verdicts;

static void on_verdicts(int rc, const char *msg, const rt_queue_verdict *v, size_t n, void *ud) {
    verdicts *out = ud;
    out->done = true;
    out->rc = rc;
    snprintf(out->msg, sizeof out->msg, "%s", msg);
    out->n = n;
    for (size_t i = 0; i < n; i++)
        out->v[i] = (int)v[i];
}

static void on_leases(int rc, const char *msg, const rt_queue_lease *v, size_t n, void *ud) {
    on_verdicts(rc, msg, (const rt_queue_verdict *)(const void *)v, n, ud);
    for (size_t i = 0; i < n; i++)
        ((verdicts *)ud)->v[i] = (int)v[i];
}

/* Completes one analysis held by 'consumer'; returns its verdict. */
static int complete_one(fx *f, const char *consumer, const char *id, const char *status,
                        const char *result) {
    verdicts out = {0};
    char why[256];
    rt_queue_completion c = {
        .id = id, .status = status, .result = result, .result_len = strlen(result)};
    if (rt_queue_complete(f->q, consumer, &c, 1, on_verdicts, &out, why) != RT_OK)
        fail_msg("rt_queue_complete: %s", why);
    run_until(f, &out.done);
    if (out.rc != RT_OK)
        fail_msg("complete: %s", out.msg);
    assert_int_equal(out.n, 1);
    return out.v[0];
}

static int extend_one(fx *f, const char *consumer, const char *id, double lease) {
    verdicts out = {0};
    char why[256];
    if (rt_queue_extend(f->q, consumer, &id, 1, lease, on_leases, &out, why) != RT_OK)
        fail_msg("rt_queue_extend: %s", why);
    run_until(f, &out.done);
    if (out.rc != RT_OK)
        fail_msg("extend: %s", out.msg);
    return out.v[0];
}

typedef struct got {
    bool done;
    int rc;
    char msg[512];
    char status[32], analyzer[64], team[32], priority[16], message[256], consumer[64], labels[128];
    char result[512];
    bool has_result, cancelling;
    int deliveries;
    double submitted_at, started_at, finished_at;
} got;

static void on_get(int rc, const char *msg, const rt_queue_analysis *a, void *ud) {
    got *g = ud;
    g->done = true;
    g->rc = rc;
    snprintf(g->msg, sizeof g->msg, "%s", msg);
    if (!a)
        return;
    snprintf(g->status, sizeof g->status, "%s", a->status);
    snprintf(g->analyzer, sizeof g->analyzer, "%s", a->analyzer);
    snprintf(g->team, sizeof g->team, "%s", a->team);
    snprintf(g->priority, sizeof g->priority, "%s", a->priority);
    snprintf(g->message, sizeof g->message, "%s", a->message);
    snprintf(g->consumer, sizeof g->consumer, "%s", a->consumer);
    snprintf(g->labels, sizeof g->labels, "%s", a->labels);
    g->has_result = a->result != NULL;
    if (a->result)
        snprintf(g->result, sizeof g->result, "%.*s", (int)a->result_len, a->result);
    g->cancelling = a->cancelling;
    g->deliveries = a->deliveries;
    g->submitted_at = a->submitted_at;
    g->started_at = a->started_at;
    g->finished_at = a->finished_at;
}

static got get(fx *f, const char *id) {
    got g = {0};
    char why[256];
    if (rt_queue_get(f->q, id, on_get, &g, why) != RT_OK)
        fail_msg("rt_queue_get: %s", why);
    run_until(f, &g.done);
    return g;
}

typedef struct cancelled {
    bool done;
    int rc;
    char msg[256], status[32];
    rt_queue_cancel_outcome outcome;
} cancelled;

static void on_cancel(int rc, const char *msg, rt_queue_cancel_outcome outcome, const char *status,
                      void *ud) {
    cancelled *c = ud;
    c->done = true;
    c->rc = rc;
    c->outcome = outcome;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    snprintf(c->status, sizeof c->status, "%s", status);
}

static cancelled cancel(fx *f, const char *id) {
    cancelled c = {0};
    char why[256];
    if (rt_queue_cancel(f->q, id, on_cancel, &c, why) != RT_OK)
        fail_msg("rt_queue_cancel: %s", why);
    run_until(f, &c.done);
    return c;
}

typedef struct stats_got {
    bool done;
    int rc;
    char msg[256];
    rt_queue_stats s;
} stats_got;

static void on_stats(int rc, const char *msg, const rt_queue_stats *s, void *ud) {
    stats_got *g = ud;
    g->done = true;
    g->rc = rc;
    snprintf(g->msg, sizeof g->msg, "%s", msg);
    if (s)
        g->s = *s;
}

static rt_queue_stats stats(fx *f) {
    stats_got g = {0};
    char why[256];
    if (rt_queue_stats_read(f->q, on_stats, &g, why) != RT_OK)
        fail_msg("rt_queue_stats_read: %s", why);
    run_until(f, &g.done);
    if (g.rc != RT_OK)
        fail_msg("stats: %s", g.msg);
    return g.s;
}

/* ---- rt_redis -------------------------------------------------------------------------------- */

typedef struct conn {
    fx f;
    rt_redis *r;
    int ups, downs;
    bool up;
    char why[512];
    bool refused_while_down; /* a command sent from the down callback failed at once */
    char refusal[512];
} conn;

static void on_conn_state(rt_redis *r, bool up, const char *why, void *ud) {
    conn *c = ud;
    c->up = up;
    snprintf(c->why, sizeof c->why, "%s", why);
    if (up) {
        c->ups++;
        return;
    }
    c->downs++;
    const char *argv[] = {"PING"};
    if (rt_redis_command(r, 1, argv, NULL, on_raw, NULL) == RT_EBACKEND) {
        c->refused_while_down = true;
        snprintf(c->refusal, sizeof c->refusal, "%s", rt_redis_error(r));
    }
}

static void conn_open(conn *c, double timeout, size_t max_reply) {
    rt_redis_options o = {.url = server.url,
                          .command_timeout = timeout,
                          .max_reply = max_reply,
                          .on_state = on_conn_state,
                          .ud = c};
    char why[256];
    memset(c, 0, sizeof *c);
    loop_init(&c->f);
    c->r = rt_redis_new(&c->f.loop, &o, why);
    if (!c->r)
        fail_msg("rt_redis_new: %s", why);
    run_until(&c->f, &c->up);
}

static void conn_close(conn *c) {
    rt_redis_close(c->r);
    loop_done(&c->f);
}

/* Waits for the connection to go down and come up again. */
static void wait_up_again(conn *c, int downs) {
    RUN_UNTIL_POLLING(&c->f, c->downs == downs && c->up);
}

static void test_url_errors(void **state) {
    static const char *const bad[] = {"http://x",        "redis://user:pw@127.0.0.1:1",
                                      "rediss://h:1",    "redis://:1",
                                      "redis://h:99999", "redis://h:1/x",
                                      "unix://relative"};
    char why[256];
    uv_loop_t loop;
    (void)state;
    uv_loop_init(&loop);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rt_redis_options o = {.url = bad[i]};
        why[0] = '\0';
        assert_null(rt_redis_new(&loop, &o, why));
        assert_non_null(strstr(why, "redis URL"));
    }
    rt_redis_options o = {.url = "redis://user:pw@h"};
    assert_null(rt_redis_new(&loop, &o, why));
    assert_null(strstr(why, "pw")); /* the message never quotes a credential */
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* A server that refuses the connection is reported as such, not as libuv's bare UV_EBADF ("bad
 * file descriptor"), which is all its poll tells of any socket error. */
static void test_refused_connection_named(void **state) {
    conn c;
    char why[256];
    (void)state;
    memset(&c, 0, sizeof c);
    loop_init(&c.f);
    rt_redis_options o = {.url = "redis://127.0.0.1:1", .on_state = on_conn_state, .ud = &c};
    c.r = rt_redis_new(&c.f.loop, &o, why);
    assert_non_null(c.r);
    RUN_UNTIL(&c.f, c.downs >= 1);
    if (!strstr(c.why, "Connection refused"))
        fail_msg("the reason does not say the connection was refused: %s", c.why);
    conn_close(&c);
}

/* A connection comes up, survives a clean restart and a kill -9 of the server, refuses commands
 * at once while down, and counts its connections. */
static void test_reconnect(void **state) {
    conn c;
    (void)state;
    conn_open(&c, 2, 0);
    assert_int_equal(rt_redis_connections(c.r), 1);
    raw_reply pong = raw_on(&c.f, c.r, "PING", (const char *)NULL);
    assert_int_equal(pong.rc, RT_OK);
    assert_string_equal(pong.str, "PONG");

    assert_int_equal(test_redis_run(&server, "restart", NULL), 0);
    wait_up_again(&c, 1);
    assert_true(c.refused_while_down);
    assert_non_null(strstr(c.refusal, "redis: not connected ("));
    assert_true(rt_redis_connections(c.r) >= 2);
    assert_int_equal(raw_on(&c.f, c.r, "PING", (const char *)NULL).rc, RT_OK);

    assert_int_equal(test_redis_run(&server, "restart", "--kill"), 0);
    wait_up_again(&c, 2);
    assert_int_equal(raw_on(&c.f, c.r, "PING", (const char *)NULL).rc, RT_OK);
    conn_close(&c);
}

/* A command without a reply within its timeout fails with RT_ETIMEDOUT, and so does every
 * other command awaiting a reply; the connection is made again. */
static void test_command_timeout(void **state) {
    conn c;
    raw_reply blocked = {0}, behind = {0};
    (void)state;
    conn_open(&c, 0.3, 0);
    const char *blpop[] = {"BLPOP", "test-queue:never", "5"}, *ping[] = {"PING"};
    uint64_t t0 = uv_now(&c.f.loop);
    assert_int_equal(rt_redis_command(c.r, 3, blpop, NULL, on_raw, &blocked), RT_OK);
    assert_int_equal(rt_redis_command(c.r, 1, ping, NULL, on_raw, &behind), RT_OK);
    run_until(&c.f, &behind.done);
    assert_true(blocked.done);
    assert_int_equal(blocked.rc, RT_ETIMEDOUT);
    assert_int_equal(behind.rc, RT_ETIMEDOUT);
    assert_non_null(strstr(blocked.msg, "did not answer within 0.3s"));
    assert_true(uv_now(&c.f.loop) - t0 >= 290);
    wait_up_again(&c, 1);
    assert_int_equal(raw_on(&c.f, c.r, "PING", (const char *)NULL).rc, RT_OK);
    conn_close(&c);
}

/* A paused server (SIGSTOP): commands time out, the client keeps trying, and comes back up once
 * the server resumes. */
static void test_paused_server(void **state) {
    conn c;
    raw_reply r = {0};
    pid_t pid = (pid_t)test_redis_pid(&server);
    (void)state;
    assert_true(pid > 0);
    conn_open(&c, 0.2, 0);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    const char *ping[] = {"PING"};
    assert_int_equal(rt_redis_command(c.r, 1, ping, NULL, on_raw, &r), RT_OK);
    run_until(&c.f, &r.done);
    assert_int_equal(r.rc, RT_ETIMEDOUT);
    wait_ms(&c.f, 300); /* reconnection attempts time out meanwhile */
    assert_false(c.up);
    assert_int_equal(kill(pid, SIGCONT), 0);
    run_until(&c.f, &c.up);
    assert_int_equal(raw_on(&c.f, c.r, "PING", (const char *)NULL).rc, RT_OK);
    conn_close(&c);
}

/* What a timer sent while the server was paused: every submission must be refused at once. */
typedef struct probes {
    fx *f;
    int refused, accepted;
    char why[256];
    submitted accepted_ones; /* where the callbacks of accepted ones write */
} probes;

static void on_probe(uv_timer_t *t) {
    probes *p = t->data;
    char why[256] = "";
    rt_queue_request r = req("demo.paused", "{}", RT_PRIORITY_BATCH);
    if (rt_queue_submit(p->f->q, &r, 1, on_submit, &p->accepted_ones, why) == RT_OK) {
        p->accepted++;
        return;
    }
    p->refused++;
    snprintf(p->why, sizeof p->why, "%s", why);
}

/* A paused server (SIGSTOP) still accepts connections, but answers nothing. Once a command timed
 * out, commands are refused at once with the reason until a connection is up again, also while
 * a new connection's handshake waits on the paused server; the queue's own preparation of a new
 * connection is not refused, so it comes up again once the server resumes. */
static void test_refused_while_not_answering(void **state) {
    fx f;
    submitted first = {0};
    char why[256] = "";
    pid_t pid = (pid_t)test_redis_pid(&server);
    (void)state;
    assert_true(pid > 0);
    open_queue_on(&f, NULL, (rt_redis_options){.url = server.url, .command_timeout = 0.2});
    rt_redis *r = rt_queue_redis(f.q);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    rt_queue_request one = req("demo.paused", "{}", RT_PRIORITY_BATCH);
    assert_int_equal(rt_queue_submit(f.q, &one, 1, on_submit, &first, why), RT_OK);
    run_until(&f, &first.done);
    assert_int_equal(first.rc, RT_ETIMEDOUT);
    assert_non_null(strstr(first.msg, "redis: did not answer within 0.2s; connection dropped"));
    assert_false(rt_queue_is_up(f.q));

    /* Two more connections (each handshake times out) while a submission is tried every 5 ms. */
    probes p = {.f = &f};
    uv_timer_t probe;
    uv_timer_init(&f.loop, &probe);
    probe.data = &p;
    uv_timer_start(&probe, on_probe, 0, 5);
    unsigned made = rt_redis_connections(r);
    RUN_UNTIL(&f, rt_redis_connections(r) >= made + 2 && p.refused > 0);
    uv_timer_stop(&probe);
    assert_int_equal(p.accepted, 0);
    assert_string_equal(p.why, "redis: did not answer within 0.2s; refused until it answers again");
    const char *ping[] = {"PING"};
    assert_int_equal(rt_redis_command(r, 1, ping, NULL, on_raw, NULL), RT_EBACKEND);
    assert_false(rt_queue_is_up(f.q));

    assert_int_equal(kill(pid, SIGCONT), 0);
    RUN_UNTIL_POLLING(&f, queue_up(&f));
    uv_close((uv_handle_t *)&probe, NULL);
    assert_int_equal(RAW(&f, "PING").rc, RT_OK);
    submit_one(&f, one, NULL);
    close_queue(&f);
}

/* Error replies come through with their text; a reply over max_reply is RT_ETOOBIG. */
static void test_errors_and_cap(void **state) {
    conn c;
    (void)state;
    conn_open(&c, 2, 65536);
    raw_reply e = raw_on(&c.f, c.r, "FCALL", "no_such_function", "0", (const char *)NULL);
    assert_int_equal(e.rc, RT_EBACKEND);
    assert_string_equal(e.msg, "ERR Function not found");
    e = raw_on(&c.f, c.r, "GET", (const char *)NULL);
    assert_int_equal(e.rc, RT_EBACKEND);
    assert_non_null(strstr(e.msg, "wrong number of arguments"));

    char *big = malloc(200001);
    memset(big, 'x', 200000);
    big[200000] = '\0';
    assert_int_equal(raw_on(&c.f, c.r, "SET", "test-queue:big", big, (const char *)NULL).rc, RT_OK);
    free(big);
    raw_reply g = raw_on(&c.f, c.r, "GET", "test-queue:big", (const char *)NULL);
    assert_int_equal(g.rc, RT_ETOOBIG);
    assert_non_null(strstr(g.msg, "65536"));
    run_until(&c.f, &c.up); /* that one was dropped mid-reply: connected again */
    /* A reply a little over the cap, measured once whole. */
    raw_reply s = raw_on(&c.f, c.r, "GETRANGE", "test-queue:big", "0", "69999", (const char *)NULL);
    assert_int_equal(s.rc, RT_ETOOBIG);
    run_until(&c.f, &c.up);
    assert_int_equal(c.downs, 1);
    assert_int_equal(raw_on(&c.f, c.r, "DEL", "test-queue:big", (const char *)NULL).rc, RT_OK);
    conn_close(&c);
}

/* Closing with commands in flight: each gets RT_ECANCELED, and the loop ends with nothing open. */
static void test_close_pending(void **state) {
    conn c;
    raw_reply a = {0}, b = {0};
    (void)state;
    conn_open(&c, 2, 0);
    const char *ping[] = {"PING"};
    assert_int_equal(rt_redis_command(c.r, 1, ping, NULL, on_raw, &a), RT_OK);
    assert_int_equal(rt_redis_command(c.r, 1, ping, NULL, on_raw, &b), RT_OK);
    rt_redis_close(c.r);
    assert_true(a.done && b.done);
    assert_int_equal(a.rc, RT_ECANCELED);
    assert_int_equal(b.rc, RT_ECANCELED);
    loop_done(&c.f);
}

/* ---- the queue ------------------------------------------------------------------------------- */

/* The name of function 'name' of the queue's library version, in 'out' (48 bytes). */
static const char *function(const fx *f, const char *name, char *out) {
    snprintf(out, 48, "inquest_v%d_%s", rt_queue_version(f->q), name);
    return out;
}

/* The library is loaded when missing: after FUNCTION FLUSH, the next call loads it again and
 * succeeds; a queue that finds the current version does not load it. Another version's library
 * (a program not yet upgraded calls it) is left as it is, and both answer. */
static void test_library_reload(void **state) {
    fx f, g;
    char fn[48];
    (void)state;
    open_queue(&f, NULL);
    open_queue(&g, NULL);
    assert_int_equal(rt_queue_loads(g.q), 0); /* f's connection loaded it, or an earlier test */
    assert_int_equal(RAW(&g, "FUNCTION", "FLUSH").rc, RT_OK);
    assert_int_equal(RAW(&g, "FCALL_RO", function(&g, "version", fn), "0").rc, RT_EBACKEND);
    const char *older = "#!lua name=inquest_v1\n"
                        "redis.register_function{function_name = 'inquest_v1_version', "
                        "flags = {'no-writes'}, callback = function() return 1 end}";
    assert_int_equal(RAW(&g, "FUNCTION", "LOAD", older).rc, RT_OK);
    const char *id = submit_one(&g, req("demo.a", "{}", RT_PRIORITY_BATCH), NULL);
    assert_int_equal(strlen(id), 16);
    assert_int_equal(rt_queue_loads(g.q), 1);
    raw_reply v = RAW(&g, "FCALL_RO", function(&g, "version", fn), "0");
    assert_int_equal(v.rc, RT_OK);
    assert_int_equal(v.integer, rt_queue_version(g.q));
    assert_int_equal(RAW(&g, "FCALL_RO", "inquest_v1_version", "0").integer, 1);
    /* An error reply from a function comes through with its text. */
    raw_reply e =
        RAW(&g, "FCALL", function(&g, "submit", fn), "1", key(&g, "listing", NULL),
            key(&g, "", NULL), "1000", "1000", "1", "id", "a", "t", "urgent", "{}", "{}", "0", "0");
    assert_int_equal(e.rc, RT_EBACKEND);
    assert_string_equal(e.msg, "EINPUT priority \"urgent\" is not interactive, alert or batch");
    close_queue(&g);
    close_queue(&f);
}

static void test_round_trip_priority(void **state) {
    fx f;
    rt_queue_options o = {.ttl = 3600};
    (void)state;
    open_queue(&f, &o);
    rt_queue_request reqs[3] = {req("demo.batch", "{\"n\":1}", RT_PRIORITY_BATCH),
                                req("demo.alert", "{\"n\":2}", RT_PRIORITY_ALERT),
                                req("demo.inter", "{\"n\":3}", RT_PRIORITY_INTERACTIVE)};
    reqs[1].labels = "{\"alert\":\"HighErrorRate\"}";
    reqs[2].deadline = rt_wallclock() + 3600;
    submitted *s = submit(&f, reqs, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(strlen(s->out[i].id), 16);
        assert_false(s->out[i].deduplicated);
    }
    got q0 = get(&f, s->out[1].id);
    assert_string_equal(q0.status, "queued");
    assert_string_equal(q0.priority, "alert");
    assert_string_equal(q0.labels, "{\"alert\":\"HighErrorRate\"}");
    assert_false(q0.has_result);
    /* Labels and a deadline are stored only when given; absent, they read as none. */
    assert_int_equal(RAW(&f, "HEXISTS", key(&f, "a:", s->out[0].id), "labels").integer, 0);
    assert_int_equal(RAW(&f, "HEXISTS", key(&f, "a:", s->out[0].id), "deadline").integer, 0);
    assert_int_equal(RAW(&f, "HEXISTS", key(&f, "a:", s->out[2].id), "deadline").integer, 1);
    assert_string_equal(get(&f, s->out[0].id).labels, "");
    /* A live analysis lives as long as its request; only a finished one expires. */
    assert_int_equal(RAW(&f, "PTTL", key(&f, "a:", s->out[1].id)).integer, -1);
    rt_queue_stats st = stats(&f);
    assert_int_equal(st.queued[0] + st.queued[1] + st.queued[2], 3);
    assert_int_equal(st.queued[RT_PRIORITY_BATCH], 1);

    double before = rt_wallclock();
    claimed *c = claim(&f, "w1", 10, 30);
    assert_int_equal(c->n, 3);
    /* When the claim took them, by Redis' clock: the same as ours here, to within its µs. */
    assert_true(c->items[0].dequeued_at >= before - 0.001);
    assert_true(c->items[0].dequeued_at <= rt_wallclock() + 0.001);
    assert_true(c->items[2].dequeued_at == c->items[0].dequeued_at);
    assert_string_equal(c->items[0].analyzer, "demo.inter");
    assert_int_equal(c->items[0].priority, RT_PRIORITY_INTERACTIVE);
    assert_true(c->items[0].deadline > rt_wallclock() + 3500);
    assert_string_equal(c->items[1].analyzer, "demo.alert");
    assert_string_equal(c->items[2].analyzer, "demo.batch");
    assert_string_equal(c->items[2].inputs, "{\"n\":1}");
    assert_string_equal(c->items[2].team, "team-a");
    assert_string_equal(c->items[2].id, s->out[0].id);
    assert_int_equal(c->items[2].deliveries, 1);
    assert_non_null(strchr(c->items[2].entry, '-'));
    st = stats(&f);
    assert_int_equal(st.running, 3);
    assert_int_equal(st.queued[0] + st.queued[1] + st.queued[2], 0);
    /* The leases are a skiplist even when few (rt_queue.lua, LEASE_KEEPER): adding one does not
     * scan them all. */
    assert_string_equal(RAW(&f, "OBJECT", "ENCODING", key(&f, "leases", NULL)).str, "skiplist");
    assert_int_equal(RAW(&f, "ZCARD", key(&f, "leases", NULL)).integer, 4);
    got r = get(&f, s->out[0].id);
    assert_string_equal(r.status, "running");
    assert_string_equal(r.consumer, "w1");
    assert_true(r.started_at >= r.submitted_at && r.submitted_at > 1e9);

    for (int i = 0; i < 3; i++)
        assert_int_equal(complete_one(&f, "w1", c->items[i].id, "ok", "{\"conclusion\":\"x\"}"),
                         RT_COMPLETE_ACCEPTED);
    got done = get(&f, s->out[0].id);
    assert_string_equal(done.status, "ok");
    assert_true(done.has_result);
    assert_string_equal(done.result, "{\"conclusion\":\"x\"}");
    assert_true(done.finished_at >= done.started_at);
    /* Results and status expire; the request streams hold nothing of finished analyses. */
    long long ttl = RAW(&f, "PTTL", key(&f, "a:", s->out[0].id)).integer;
    assert_true(ttl > 3590 * 1000LL && ttl <= 3600 * 1000LL);
    ttl = RAW(&f, "PTTL", key(&f, "r:", s->out[0].id)).integer;
    assert_true(ttl > 3590 * 1000LL && ttl <= 3600 * 1000LL);
    /* Small values keep the status hash compact (a listpack, not a hash table). */
    assert_string_equal(RAW(&f, "OBJECT", "ENCODING", key(&f, "a:", s->out[0].id)).str, "listpack");
    assert_int_equal(RAW(&f, "XLEN", key(&f, "q:batch", NULL)).integer, 0);
    assert_int_equal(RAW(&f, "XLEN", key(&f, "results", NULL)).integer, 3);
    st = stats(&f);
    assert_int_equal(st.running, 0);
    assert_int_equal(st.completed[0], 3);
    assert_int_equal(st.submitted, 3);
    assert_int_equal(st.results_length, 3);
    /* A second completion of a finished analysis is refused and counted. */
    assert_int_equal(complete_one(&f, "w1", c->items[0].id, "error", "{}"), RT_COMPLETE_FINISHED);
    assert_int_equal(stats(&f).duplicates, 1);
    assert_string_equal(get(&f, c->items[0].id).result, "{\"conclusion\":\"x\"}");
    assert_int_equal(get(&f, "0123456789abcdef").rc, RT_ENOTFOUND);
    free(c);
    free(s);
    close_queue(&f);
}

static void on_batch_complete(int rc, const char *msg, const rt_queue_verdict *v, size_t n,
                              void *ud) {
    size_t *accepted = ud;
    if (rc != RT_OK)
        fail_msg("complete: %s", msg);
    for (size_t i = 0; i < n; i++)
        *accepted += v[i] == RT_COMPLETE_ACCEPTED;
}

/* A thousand requests in one call, claimed and completed in batches: each exactly once. */
static void test_batch(void **state) {
    fx f;
    enum { N = 1000 };
    static rt_queue_request reqs[N];
    static char inputs[N][32];
    (void)state;
    open_queue(&f, NULL);
    for (int i = 0; i < N; i++) {
        snprintf(inputs[i], sizeof inputs[i], "{\"i\":%d}", i);
        reqs[i] = req("demo.batch", inputs[i], (rt_priority)(i % 3));
    }
    double t0 = rt_monotonic();
    submitted *s = submit(&f, reqs, N);
    double t1 = rt_monotonic();
    size_t seen = 0, accepted = 0;
    char *ids = calloc(N, RT_QUEUE_ID_SIZE);
    for (;;) {
        claimed *c = claim(&f, "w1", 250, 30);
        if (c->n == 0) {
            free(c);
            break;
        }
        rt_queue_completion *items = calloc(c->n, sizeof *items);
        for (size_t i = 0; i < c->n; i++) {
            int at = atoi(strchr(c->items[i].inputs, ':') + 1);
            assert_string_equal(ids + at * RT_QUEUE_ID_SIZE, ""); /* never twice */
            strcpy(ids + at * RT_QUEUE_ID_SIZE, c->items[i].id);
            items[i] = (rt_queue_completion){
                .id = c->items[i].id, .status = "ok", .result = "{}", .result_len = 2};
        }
        seen += c->n;
        size_t before = accepted;
        char why[256];
        assert_int_equal(
            rt_queue_complete(f.q, "w1", items, c->n, on_batch_complete, &accepted, why), RT_OK);
        RUN_UNTIL(&f, accepted >= before + c->n);
        free(items);
        free(c);
    }
    double t2 = rt_monotonic();
    assert_int_equal(seen, N);
    assert_int_equal(accepted, N);
    for (int i = 0; i < N; i++)
        assert_string_equal(ids + i * RT_QUEUE_ID_SIZE, s->out[i].id);
    print_message("    submit %d in one call: %.1f ms; claim + complete: %.1f ms\n", N,
                  (t1 - t0) * 1e3, (t2 - t1) * 1e3);
    free(ids);
    free(s);
    close_queue(&f);
}

/* Finished entries leave the request stream by trimming below the oldest pending entry: an older
 * analysis still running keeps its entry (and the finished ones after it wait), undelivered
 * entries are never trimmed, and once nothing is pending the stream keeps only what waits. */
static void test_trim_keeps_pending(void **state) {
    fx f;
    rt_queue_request reqs[5];
    (void)state;
    open_queue(&f, NULL);
    for (int i = 0; i < 5; i++)
        reqs[i] = req("demo.trim", "{}", RT_PRIORITY_BATCH);
    submitted *s = submit(&f, reqs, 5);
    claimed *c = claim(&f, "w1", 2, 30);
    assert_int_equal(c->n, 2);
    assert_int_equal(complete_one(&f, "w1", c->items[1].id, "ok", "{}"), RT_COMPLETE_ACCEPTED);
    /* The first is still running: its entry stays, and the three undelivered ones. */
    assert_true(RAW(&f, "XLEN", key(&f, "q:batch", NULL)).integer >= 4);
    assert_int_equal(
        RAW(&f, "XRANGE", key(&f, "q:batch", NULL), c->items[0].entry, c->items[0].entry).elements,
        1);
    rt_queue_stats st = stats(&f);
    assert_int_equal(st.queued[RT_PRIORITY_BATCH], 3);
    assert_int_equal(st.running, 1);
    assert_int_equal(complete_one(&f, "w1", c->items[0].id, "ok", "{}"), RT_COMPLETE_ACCEPTED);
    /* Nothing pending: exactly the undelivered entries remain. */
    assert_int_equal(RAW(&f, "XLEN", key(&f, "q:batch", NULL)).integer, 3);
    assert_int_equal(stats(&f).queued[RT_PRIORITY_BATCH], 3);
    free(c);
    c = claim(&f, "w2", 10, 30);
    assert_int_equal(c->n, 3);
    for (size_t i = 0; i < c->n; i++)
        assert_int_equal(complete_one(&f, "w2", c->items[i].id, "ok", "{}"), RT_COMPLETE_ACCEPTED);
    assert_int_equal(RAW(&f, "XLEN", key(&f, "q:batch", NULL)).integer, 0);
    st = stats(&f);
    assert_int_equal(st.queued[RT_PRIORITY_BATCH], 0);
    assert_int_equal(st.completed[0], 5);
    free(c);
    free(s);
    close_queue(&f);
}

/* The same dedup key within the window gives the same id; after it, a new analysis. The
 * default key is the analyzer and the inputs. */
static void test_dedup(void **state) {
    fx f;
    bool dup;
    char first[RT_QUEUE_ID_SIZE], second[RT_QUEUE_ID_SIZE];
    (void)state;
    open_queue(&f, NULL);
    rt_queue_request r = req("demo.dedup", "{\"s\":\"checkout\"}", RT_PRIORITY_ALERT);
    r.dedup_window = 0.4;
    snprintf(first, sizeof first, "%s", submit_one(&f, r, &dup));
    assert_false(dup);
    assert_string_equal(submit_one(&f, r, &dup), first);
    assert_true(dup);
    /* Other inputs: another analysis. An explicit key collapses different inputs. */
    rt_queue_request other = r;
    other.inputs = "{\"s\":\"search\"}";
    assert_string_not_equal(submit_one(&f, other, &dup), first);
    assert_false(dup);
    rt_queue_request k1 = r, k2 = other;
    k1.dedup_key = k2.dedup_key = "alert:fp-123";
    snprintf(second, sizeof second, "%s", submit_one(&f, k1, &dup));
    assert_false(dup);
    assert_string_equal(submit_one(&f, k2, &dup), second);
    assert_true(dup);
    /* The dedup key (128 bits of the hash) lives as long as the window. */
    char hex[72];
    rt_sha256_hex("keyalert:fp-123", 15, hex);
    hex[7 + 32] = '\0';
    long long ttl = RAW(&f, "PTTL", key(&f, "d:", hex + 7)).integer;
    assert_true(ttl > 0 && ttl <= 400);
    /* Without a window there is no dedup. */
    rt_queue_request none = r;
    none.dedup_window = 0;
    assert_string_not_equal(submit_one(&f, none, &dup), first);
    assert_false(dup);
    wait_ms(&f, 450);
    assert_string_not_equal(submit_one(&f, r, &dup), first);
    assert_false(dup);
    rt_queue_stats st = stats(&f);
    assert_int_equal(st.deduplicated, 2);
    assert_int_equal(st.submitted, 5);
    close_queue(&f);
}

static void test_cancel(void **state) {
    fx f;
    char queued[RT_QUEUE_ID_SIZE], running[RT_QUEUE_ID_SIZE];
    (void)state;
    open_queue(&f, NULL);
    snprintf(queued, sizeof queued, "%s",
             submit_one(&f, req("demo.c", "{\"a\":1}", RT_PRIORITY_BATCH), NULL));
    cancelled c = cancel(&f, queued);
    assert_int_equal(c.rc, RT_OK);
    assert_int_equal(c.outcome, RT_CANCEL_DONE);
    assert_string_equal(get(&f, queued).status, "cancelled");
    assert_int_equal(claim_count(&f, "w1", 10, 30), 0);
    assert_int_equal(RAW(&f, "XLEN", key(&f, "q:batch", NULL)).integer, 0);

    snprintf(running, sizeof running, "%s",
             submit_one(&f, req("demo.c", "{\"a\":2}", RT_PRIORITY_BATCH), NULL));
    assert_int_equal(claim_count(&f, "w1", 10, 30), 1);
    assert_int_equal(extend_one(&f, "w1", running, 30), RT_LEASE_HELD);
    c = cancel(&f, running);
    assert_int_equal(c.outcome, RT_CANCEL_FLAGGED);
    assert_string_equal(c.status, "running");
    assert_true(get(&f, running).cancelling);
    assert_int_equal(extend_one(&f, "w1", running, 30), RT_LEASE_CANCELLED);
    assert_int_equal(complete_one(&f, "w1", running, "cancelled", "{}"), RT_COMPLETE_ACCEPTED);
    assert_string_equal(get(&f, running).status, "cancelled");

    c = cancel(&f, running);
    assert_int_equal(c.rc, RT_OK);
    assert_int_equal(c.outcome, RT_CANCEL_FINISHED);
    assert_string_equal(c.status, "cancelled");
    assert_non_null(strstr(c.msg, "finished already"));
    assert_int_equal(cancel(&f, "00000000000000ff").rc, RT_ENOTFOUND);
    rt_queue_stats st = stats(&f);
    assert_int_equal(st.completed[5], 2); /* cancelled */
    assert_int_equal(st.running, 0);
    close_queue(&f);
}

/* Requests cancelled while queued leave no depth behind: Redis 7.0 counts the group's lag too
 * large for good once entries not yet delivered were deleted and a later one was read. */
static void test_depth_after_queued_cancels(void **state) {
    fx f;
    char first[RT_QUEUE_ID_SIZE], ids[2][RT_QUEUE_ID_SIZE];
    (void)state;
    open_queue(&f, NULL);
    snprintf(first, sizeof first, "%s",
             submit_one(&f, req("demo.c", "{\"a\":0}", RT_PRIORITY_BATCH), NULL));
    assert_int_equal(claim_count(&f, "w1", 1, 30), 1);
    for (int i = 0; i < 2; i++) {
        char inputs[16];
        snprintf(inputs, sizeof inputs, "{\"a\":%d}", i + 1);
        snprintf(ids[i], sizeof ids[i], "%s",
                 submit_one(&f, req("demo.c", inputs, RT_PRIORITY_BATCH), NULL));
        assert_int_equal(cancel(&f, ids[i]).outcome, RT_CANCEL_DONE);
    }
    submit_one(&f, req("demo.c", "{\"a\":3}", RT_PRIORITY_BATCH), NULL);
    assert_int_equal(claim_count(&f, "w1", 10, 30), 1);
    assert_int_equal(stats(&f).queued[RT_PRIORITY_BATCH], 0);
    close_queue(&f);
}

/* A request whose deadline passed before a worker took it ends as timeout, with a message; the
 * same request again within the dedup window runs (the first never did). */
static void test_deadline(void **state) {
    fx f;
    bool dup;
    char late[RT_QUEUE_ID_SIZE];
    (void)state;
    open_queue(&f, NULL);
    rt_queue_request r = req("demo.d", "{}", RT_PRIORITY_INTERACTIVE);
    r.deadline = rt_wallclock() + 0.15;
    r.dedup_window = 60;
    snprintf(late, sizeof late, "%s", submit_one(&f, r, NULL));
    r.dedup_window = 0;
    r.deadline = rt_wallclock() + 60;
    r.inputs = "{\"ok\":1}";
    const char *fine = submit_one(&f, r, NULL);
    char keep[RT_QUEUE_ID_SIZE];
    snprintf(keep, sizeof keep, "%s", fine);
    wait_ms(&f, 250);
    claimed *c = claim(&f, "w1", 10, 30);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->items[0].id, keep);
    free(c);
    got g = get(&f, late);
    assert_string_equal(g.status, "timeout");
    assert_non_null(strstr(g.message, "deadline passed before the analysis started"));
    assert_int_equal(stats(&f).completed[2], 1);
    rt_queue_request again = req("demo.d", "{}", RT_PRIORITY_INTERACTIVE);
    again.dedup_window = 60;
    assert_string_not_equal(submit_one(&f, again, &dup), late);
    assert_false(dup);
    close_queue(&f);
}

/* A worker stalls past its lease (as if SIGSTOPped): another worker reclaims the request, the
 * stalled worker's heartbeat reports the lease lost and its late completion is refused and
 * counted; exactly one result is kept. */
static void test_lease_expiry(void **state) {
    fx f;
    char id[RT_QUEUE_ID_SIZE];
    (void)state;
    open_queue(&f, NULL);
    snprintf(id, sizeof id, "%s", submit_one(&f, req("demo.l", "{}", RT_PRIORITY_ALERT), NULL));
    assert_int_equal(claim_count(&f, "stalled", 10, 0.15), 1);
    assert_int_equal(claim_count(&f, "other", 10, 30), 0); /* the lease holds */
    wait_ms(&f, 250);
    claimed *c = claim(&f, "other", 10, 30);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->items[0].id, id);
    assert_int_equal(c->items[0].deliveries, 2);
    free(c);
    assert_int_equal(extend_one(&f, "stalled", id, 30), RT_LEASE_LOST);
    assert_int_equal(complete_one(&f, "stalled", id, "ok", "{\"by\":\"stalled\"}"),
                     RT_COMPLETE_LEASE_LOST);
    assert_int_equal(complete_one(&f, "other", id, "ok", "{\"by\":\"other\"}"),
                     RT_COMPLETE_ACCEPTED);
    got g = get(&f, id);
    assert_string_equal(g.result, "{\"by\":\"other\"}");
    assert_int_equal(g.deliveries, 2);
    rt_queue_stats st = stats(&f);
    assert_int_equal(st.reclaims, 1);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.completed[0], 1);
    assert_int_equal(RAW(&f, "XLEN", key(&f, "results", NULL)).integer, 1);
    /* A worker that renews its lease keeps it past the first lease's end. */
    snprintf(id, sizeof id, "%s",
             submit_one(&f, req("demo.l", "{\"b\":1}", RT_PRIORITY_ALERT), NULL));
    assert_int_equal(claim_count(&f, "alive", 10, 0.2), 1);
    wait_ms(&f, 120);
    assert_int_equal(extend_one(&f, "alive", id, 0.3), RT_LEASE_HELD);
    wait_ms(&f, 150);
    assert_int_equal(claim_count(&f, "other", 10, 30), 0);
    assert_int_equal(complete_one(&f, "alive", id, "ok", "{}"), RT_COMPLETE_ACCEPTED);
    /* A worker whose renewals failed (Redis out of reach) gets its own expired lease back as it
     * was: no new delivery, no reclaim counted. */
    snprintf(id, sizeof id, "%s",
             submit_one(&f, req("demo.l", "{\"c\":1}", RT_PRIORITY_ALERT), NULL));
    assert_int_equal(claim_count(&f, "cut-off", 10, 0.1), 1);
    wait_ms(&f, 200);
    c = claim(&f, "cut-off", 10, 30);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->items[0].id, id);
    assert_int_equal(c->items[0].deliveries, 1);
    free(c);
    assert_int_equal(stats(&f).reclaims, 1);
    assert_int_equal(complete_one(&f, "cut-off", id, "ok", "{}"), RT_COMPLETE_ACCEPTED);
    close_queue(&f);
}

/* After Redis restarts, the leases that expired while it was down stay with their workers for a
 * lease (the claimer's, 1 s) and a reconnection (the longest backoff, here 0.2 s) from the
 * queue's return: a worker that comes back within that time renews its lease and completes,
 * and nothing runs twice. A worker that does not come back is taken over once that time is
 * over. */
static void test_restart_keeps_leases(void **state) {
    fx f;
    char back[RT_QUEUE_ID_SIZE], gone[RT_QUEUE_ID_SIZE];
    (void)state;
    open_queue_on(&f, NULL,
                  (rt_redis_options){.url = server.url, .command_timeout = 2, .backoff_max = 0.2});
    snprintf(back, sizeof back, "%s", submit_one(&f, req("demo.r", "{}", RT_PRIORITY_ALERT), NULL));
    assert_int_equal(claim_count(&f, "back", 1, 0.1), 1);
    snprintf(gone, sizeof gone, "%s",
             submit_one(&f, req("demo.r", "{\"g\":1}", RT_PRIORITY_ALERT), NULL));
    assert_int_equal(claim_count(&f, "gone", 1, 0.1), 1);
    assert_string_equal(RAW(&f, "HGET", key(&f, "redis", NULL), "since").str, "");

    wait_ms(&f, 150); /* both leases expire, as they do while Redis is down */
    assert_int_equal(test_redis_run(&server, "restart", NULL), 0);
    RUN_UNTIL_POLLING(&f, rt_queue_is_up(f.q) && f.downs == 1);
    assert_string_not_equal(RAW(&f, "HGET", key(&f, "redis", NULL), "since").str, "");
    assert_int_equal(claim_count(&f, "other", 10, 1), 0);
    assert_int_equal(extend_one(&f, "back", back, 1), RT_LEASE_HELD);
    assert_int_equal(complete_one(&f, "back", back, "ok", "{}"), RT_COMPLETE_ACCEPTED);

    wait_ms(&f, 1200); /* the lease and the reconnection are over: "gone" is taken over */
    claimed *c = claim(&f, "other", 10, 1);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->items[0].id, gone);
    assert_int_equal(c->items[0].deliveries, 2);
    free(c);
    assert_int_equal(extend_one(&f, "gone", gone, 1), RT_LEASE_LOST);
    rt_queue_stats st = stats(&f);
    assert_int_equal(st.reclaims, 1);
    assert_int_equal(st.duplicates, 0);
    close_queue(&f);
}

typedef struct dead_got {
    bool done;
    int rc;
    size_t n;
    char id[RT_QUEUE_ID_SIZE], reason[256], inputs[64], next[64];
    char entry[48], origin[16], route[32], fingerprint[32], alert[128], errors[128];
    int deliveries;
} dead_got;

static void on_dead(int rc, const char *msg, const rt_queue_dead *items, size_t n, const char *next,
                    void *ud) {
    dead_got *d = ud;
    (void)msg;
    d->done = true;
    d->rc = rc;
    d->n = n;
    if (n) {
        snprintf(d->id, sizeof d->id, "%s", items[0].id);
        snprintf(d->reason, sizeof d->reason, "%s", items[0].reason);
        snprintf(d->inputs, sizeof d->inputs, "%s", items[0].inputs);
        d->deliveries = items[0].deliveries;
        snprintf(d->entry, sizeof d->entry, "%s", items[0].entry);
        snprintf(d->origin, sizeof d->origin, "%s", items[0].origin);
        snprintf(d->route, sizeof d->route, "%s", items[0].route);
        snprintf(d->fingerprint, sizeof d->fingerprint, "%s", items[0].fingerprint);
        snprintf(d->alert, sizeof d->alert, "%s", items[0].alert);
        snprintf(d->errors, sizeof d->errors, "%s", items[0].errors);
    }
    snprintf(d->next, sizeof d->next, "%s", next ? next : "");
}

/* Delivered max_deliveries times without a result: dead-lettered with its reason. */
static void test_dead_letter(void **state) {
    fx f;
    char id[RT_QUEUE_ID_SIZE];
    rt_queue_options o = {.max_deliveries = 2};
    (void)state;
    open_queue(&f, &o);
    snprintf(id, sizeof id, "%s",
             submit_one(&f, req("demo.dl", "{\"x\":7}", RT_PRIORITY_BATCH), NULL));
    assert_int_equal(claim_count(&f, "w1", 10, 0.1), 1);
    wait_ms(&f, 150);
    assert_int_equal(claim_count(&f, "w2", 10, 0.1), 1);
    wait_ms(&f, 150);
    assert_int_equal(claim_count(&f, "w3", 10, 0.1), 0);
    got g = get(&f, id);
    assert_string_equal(g.status, "dead");
    assert_non_null(strstr(g.message, "lease expired after 2 deliveries (last consumer w2)"));
    assert_false(g.has_result);
    dead_got d = {0};
    char why[256];
    assert_int_equal(rt_queue_dead_letters(f.q, NULL, 10, on_dead, &d, why), RT_OK);
    run_until(&f, &d.done);
    assert_int_equal(d.rc, RT_OK);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.id, id);
    assert_string_equal(d.inputs, "{\"x\":7}");
    assert_int_equal(d.deliveries, 2);
    assert_non_null(strstr(d.reason, "lease expired"));
    assert_string_equal(d.next, ""); /* a short page is the last */
    rt_queue_stats st = stats(&f);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.dead_letters, 1);
    assert_int_equal(st.running, 0);
    assert_int_equal(RAW(&f, "XLEN", key(&f, "q:batch", NULL)).integer, 0);
    /* The late worker cannot complete it. */
    assert_int_equal(complete_one(&f, "w2", id, "ok", "{}"), RT_COMPLETE_FINISHED);
    close_queue(&f);
}

typedef struct intake_got {
    bool done;
    int rc;
    size_t n, m;
    char id[RT_QUEUE_ID_SIZE];
    bool deduplicated;
    rt_queue_buried buried[2];
} intake_got;

static void on_intake(int rc, const char *msg, const rt_queue_submitted *out, size_t n,
                      const rt_queue_buried *buried, size_t m, void *ud) {
    intake_got *g = ud;
    (void)msg;
    g->done = true;
    g->rc = rc;
    g->n = n;
    g->m = m;
    if (n) {
        snprintf(g->id, sizeof g->id, "%s", out[0].id);
        g->deduplicated = out[0].deduplicated;
    }
    for (size_t j = 0; j < m && j < 2; j++)
        g->buried[j] = buried[j];
}

static intake_got submit_intake(fx *f, const rt_queue_request *reqs, size_t n,
                                const rt_queue_misfit *misfits, size_t m) {
    intake_got g = {0};
    char why[256] = "";
    int rc = rt_queue_submit_intake(f->q, reqs, n, misfits, m, on_intake, &g, why);
    if (rc != RT_OK)
        fail_msg("rt_queue_submit_intake: %s", why);
    run_until(f, &g.done);
    assert_int_equal(g.rc, RT_OK);
    return g;
}

/* The intake's misfits: in the dead letters in the same call as its starts, once per window;
 * a call of misfits alone; nothing queued for them. */
static void test_intake_misfits(void **state) {
    fx f;
    char why[256];
    (void)state;
    open_queue(&f, NULL);
    rt_queue_request r = req("demo.intake", "{\"s\":\"checkout\"}", RT_PRIORITY_ALERT);
    r.dedup_key = "intake\nok-route\nalertmanager\nfp-1";
    r.dedup_window = 0.4;
    rt_queue_misfit mf = {.dedup_key = "intake\nbad-route\nalertmanager\nfp-1",
                          .window = 0.4,
                          .analyzer = "demo.intake",
                          .team = "t",
                          .priority = RT_PRIORITY_ALERT,
                          .inputs = "{\"s\":\"Check Out!\"}",
                          .reason = "inputs.s: must match",
                          .route = "bad-route",
                          .source = "alertmanager",
                          .fingerprint = "fp-1",
                          .alert = "{\"labels\":{\"s\":\"Check Out!\"}}",
                          .errors = "[{\"field\":\"inputs.s\",\"message\":\"must match\"}]"};
    intake_got g1 = submit_intake(&f, &r, 1, &mf, 1);
    assert_int_equal(g1.n, 1);
    assert_int_equal(g1.m, 1);
    assert_false(g1.deduplicated);
    assert_false(g1.buried[0].repeat);
    assert_true(strlen(g1.buried[0].entry) > 2);
    /* The next notification within the window: the start deduplicated, the misfit not again. */
    intake_got g2 = submit_intake(&f, &r, 1, &mf, 1);
    assert_true(g2.deduplicated);
    assert_string_equal(g2.id, g1.id);
    assert_true(g2.buried[0].repeat);
    assert_string_equal(g2.buried[0].entry, g1.buried[0].entry);
    /* Misfits alone, one without a window: recorded each time. */
    rt_queue_misfit other = mf;
    other.dedup_key = "intake\nbad-route\nalertmanager\nfp-2";
    other.fingerprint = "fp-2";
    other.window = 0;
    intake_got g3 = submit_intake(&f, NULL, 0, &other, 1);
    assert_int_equal(g3.n, 0);
    assert_false(g3.buried[0].repeat);
    intake_got g4 = submit_intake(&f, NULL, 0, &other, 1);
    assert_false(g4.buried[0].repeat);
    assert_string_not_equal(g4.buried[0].entry, g3.buried[0].entry);
    dead_got d = {0};
    assert_int_equal(rt_queue_dead_letters(f.q, NULL, 10, on_dead, &d, why), RT_OK);
    run_until(&f, &d.done);
    assert_int_equal(d.n, 3);
    assert_string_equal(d.entry, g4.buried[0].entry);
    assert_string_equal(d.origin, "intake");
    assert_string_equal(d.id, "");
    assert_string_equal(d.route, "bad-route");
    assert_string_equal(d.fingerprint, "fp-2");
    assert_string_equal(d.inputs, "{\"s\":\"Check Out!\"}");
    assert_string_equal(d.reason, "inputs.s: must match");
    assert_string_equal(d.alert, mf.alert);
    assert_string_equal(d.errors, mf.errors);
    assert_int_equal(d.deliveries, 0);
    rt_queue_stats st = stats(&f);
    assert_int_equal(st.dead_intake, 3);
    assert_int_equal(st.dead, 0);
    assert_int_equal(st.submitted, 1);
    assert_int_equal(st.queued[RT_PRIORITY_ALERT], 1);
    /* Refused at once: nothing, or a misfit without its route. */
    assert_int_equal(rt_queue_submit_intake(f.q, NULL, 0, NULL, 0, on_intake, NULL, why),
                     RT_EINPUT);
    other.route = NULL;
    assert_int_equal(rt_queue_submit_intake(f.q, NULL, 0, &other, 1, on_intake, NULL, why),
                     RT_EINPUT);
    assert_non_null(strstr(why, "misfit 1"));
    close_queue(&f);
}

/* A team at its cap: its other requests wait (held), the other teams' go on; as its analyses
 * finish, the held ones run, each exactly once. */
static void test_team_cap(void **state) {
    fx f;
    rt_queue_team_cap caps[] = {{"team-capped", 1}};
    rt_queue_options o = {.caps = caps, .n_caps = 1};
    rt_queue_request reqs[4];
    (void)state;
    open_queue(&f, &o);
    for (int i = 0; i < 4; i++) {
        reqs[i] = req("demo.cap",
                      i == 0   ? "{\"i\":0}"
                      : i == 1 ? "{\"i\":1}"
                      : i == 2 ? "{\"i\":2}"
                               : "{\"i\":3}",
                      RT_PRIORITY_BATCH);
        reqs[i].team = i < 3 ? "team-capped" : "team-free";
    }
    free(submit(&f, reqs, 4));
    claimed *c = claim(&f, "w1", 10, 30);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->items[0].team, "team-capped");
    assert_string_equal(c->items[1].team, "team-free");
    rt_queue_stats st = stats(&f);
    assert_int_equal(st.held, 2);
    assert_int_equal(st.running, 2);
    assert_int_equal(claim_count(&f, "w2", 10, 30), 0); /* still at the cap */
    char seen[3][64] = {"", "", ""};
    snprintf(seen[0], 64, "%.60s", c->items[0].inputs);
    for (int round = 1; round < 3; round++) {
        if (round == 1) {
            assert_int_equal(complete_one(&f, "w1", c->items[0].id, "ok", "{}"),
                             RT_COMPLETE_ACCEPTED);
            free(c);
            c = claim(&f, "w1", 10, 30);
        } else { /* one round: the result frees the room its claim takes */
            rt_queue_completion r = {
                .id = c->items[0].id, .status = "ok", .result = "{}", .result_len = 2};
            claimed *next = round_of(&f, "w1", &r, 1, 10, 30);
            free(c);
            c = next;
            assert_int_equal(c->n_verdicts, 1);
            assert_int_equal(c->verdicts[0], RT_COMPLETE_ACCEPTED);
        }
        assert_int_equal(c->n, 1);
        assert_string_equal(c->items[0].team, "team-capped");
        snprintf(seen[round], 64, "%.60s", c->items[0].inputs);
        assert_int_equal(stats(&f).held, 2 - round);
    }
    assert_string_not_equal(seen[0], seen[1]);
    assert_string_not_equal(seen[1], seen[2]);
    assert_string_not_equal(seen[0], seen[2]);
    free(c);
    assert_int_equal(claim_count(&f, "w1", 10, 30), 0);
    st = stats(&f);
    assert_int_equal(st.held, 0);
    assert_int_equal(st.running, 2); /* the last capped one and the free team's */
    close_queue(&f);
}

typedef struct watched {
    int calls;
    char id[RT_QUEUE_ID_SIZE], status[32], analyzer[64];
    double seconds;
} watched;

static void on_watch(const char *id, const char *analyzer, const char *status, double seconds,
                     void *ud) {
    watched *w = ud;
    w->calls++;
    w->seconds = seconds;
    snprintf(w->id, sizeof w->id, "%s", id);
    snprintf(w->status, sizeof w->status, "%s", status);
    snprintf(w->analyzer, sizeof w->analyzer, "%s", analyzer);
}

static void wait_watching(fx *f) {
    RUN_UNTIL(f, rt_queue_watching(f->q));
}

static void run_and_complete(fx *f, const char *inputs, char *id) {
    snprintf(id, RT_QUEUE_ID_SIZE, "%s",
             submit_one(f, req("demo.w", inputs, RT_PRIORITY_INTERACTIVE), NULL));
    assert_int_equal(claim_count(f, "w1", 10, 30), 1);
    wait_ms(f, 20); /* so that it takes a measurable time */
    assert_int_equal(complete_one(f, "w1", id, "error", "{}"), RT_COMPLETE_ACCEPTED);
}

/* A request held by its team's cap ends as timeout once its deadline passes, though its team
 * has no room yet. */
static void test_held_deadline(void **state) {
    fx f;
    rt_queue_team_cap caps[] = {{"team-capped", 1}};
    rt_queue_options o = {.caps = caps, .n_caps = 1};
    char late[RT_QUEUE_ID_SIZE];
    (void)state;
    open_queue(&f, &o);
    rt_queue_request first = req("demo.cap", "{\"i\":0}", RT_PRIORITY_BATCH);
    first.team = "team-capped";
    free(submit(&f, &first, 1));
    assert_int_equal(claim_count(&f, "w1", 10, 30), 1);
    rt_queue_request second = req("demo.cap", "{\"i\":1}", RT_PRIORITY_BATCH);
    second.team = "team-capped";
    second.deadline = rt_wallclock() + 0.15;
    snprintf(late, sizeof late, "%s", submit_one(&f, second, NULL));
    assert_int_equal(claim_count(&f, "w1", 10, 30), 0);
    assert_int_equal(stats(&f).held, 1);
    wait_ms(&f, 250);
    assert_int_equal(claim_count(&f, "w1", 10, 30), 0);
    got g = get(&f, late);
    assert_string_equal(g.status, "timeout");
    assert_non_null(strstr(g.message, "while its team was at its cap"));
    assert_int_equal(stats(&f).held, 0);
    close_queue(&f);
}

/* A connection's init deletes the consumers that hold nothing and were silent long enough (each
 * worker child is one), and keeps one that holds a request. */
static void test_stale_consumers(void **state) {
    fx f;
    char fn[48];
    (void)state;
    open_queue(&f, NULL);
    free(submit(&f, (rt_queue_request[]){req("demo.s", "{}", RT_PRIORITY_BATCH)}, 1));
    assert_int_equal(claim_count(&f, "busy", 10, 30), 1);
    char stream[160];
    snprintf(stream, sizeof stream, "%s", key(&f, "q:batch", NULL));
    assert_int_equal(RAW(&f, "XGROUP", "CREATECONSUMER", stream, "workers", "gone").integer, 1);
    assert_int_equal(RAW(&f, "FCALL", function(&f, "init", fn), "3", key(&f, "q:interactive", NULL),
                         key(&f, "q:alert", NULL), stream, key(&f, "", NULL), "0")
                         .rc,
                     RT_OK);
    raw_reply left = RAW(&f, "XINFO", "CONSUMERS", stream, "workers");
    assert_int_equal(left.rc, RT_OK);
    assert_int_equal(left.elements, 1); /* "busy" holds its request */
    close_queue(&f);
}

/* The watch reports each completion from the results stream, also after Redis restarts. */
static void test_watch(void **state) {
    fx f;
    watched w = {0};
    char id[RT_QUEUE_ID_SIZE];
    (void)state;
    open_queue(&f, NULL);
    assert_int_equal(rt_queue_watch(f.q, on_watch, &w), RT_OK);
    assert_int_equal(rt_queue_watch(f.q, on_watch, &w), RT_EUSAGE);
    wait_watching(&f);
    run_and_complete(&f, "{\"a\":1}", id);
    RUN_UNTIL(&f, w.calls >= 1);
    assert_int_equal(w.calls, 1);
    assert_string_equal(w.id, id);
    assert_string_equal(w.status, "error");
    assert_string_equal(w.analyzer, "demo.w");
    assert_true(w.seconds >= 0.02 && w.seconds < 10); /* from submission to completion */

    assert_int_equal(test_redis_run(&server, "restart", NULL), 0);
    RUN_UNTIL_POLLING(&f, rt_queue_is_up(f.q) && f.downs == 1);
    wait_watching(&f);
    run_and_complete(&f, "{\"a\":2}", id);
    RUN_UNTIL(&f, w.calls >= 2);
    assert_string_equal(w.id, id);
    assert_int_equal(f.downs, 1);

    /* A round that completes three publishes one entry, a line each; the watch reports each. */
    long long entries = RAW(&f, "XLEN", key(&f, "results", NULL)).integer;
    rt_queue_request reqs[3];
    for (int i = 0; i < 3; i++)
        reqs[i] = req("demo.w", "{}", RT_PRIORITY_BATCH);
    free(submit(&f, reqs, 3));
    claimed *c = claim(&f, "w1", 3, 30);
    assert_int_equal(c->n, 3);
    rt_queue_completion done[3];
    for (int i = 0; i < 3; i++)
        done[i] = (rt_queue_completion){c->items[i].id, "ok", "{}", 2, NULL, 0};
    free(round_of(&f, "w1", done, 3, 0, 30));
    RUN_UNTIL(&f, w.calls >= 5);
    assert_int_equal(w.calls, 5);
    assert_string_equal(w.id, c->items[2].id); /* in the order of the round's results */
    assert_string_equal(w.status, "ok");
    assert_int_equal(RAW(&f, "XLEN", key(&f, "results", NULL)).integer, entries + 1);
    free(c);
    /* An entry as a queue before version 21 wrote it, one per analysis: reported too. */
    RAW(&f, "XADD", key(&f, "results", NULL), "*", "id", "0123456789abcdef", "analyzer", "demo.old",
        "status", "timeout", "ms", "1500");
    RUN_UNTIL(&f, w.calls >= 6);
    assert_string_equal(w.id, "0123456789abcdef");
    assert_string_equal(w.analyzer, "demo.old");
    assert_string_equal(w.status, "timeout");
    assert_true(w.seconds == 1.5);
    close_queue(&f);
}

/* A read behind the watch's read waits for the next end, and its answer comes after the entries
 * that read brought: a long poll learns the end and the result in one round trip. */
static void test_get_after_next_end(void **state) {
    fx f;
    watched w = {0};
    got g = {0};
    char why[256];
    (void)state;
    open_queue(&f, NULL);
    const char *id = submit_one(&f, req("demo.w", "{}", RT_PRIORITY_INTERACTIVE), NULL);
    assert_int_equal(rt_queue_get_after_next_end(f.q, id, on_get, &g, why), RT_EUSAGE);
    assert_int_equal(rt_queue_watch(f.q, on_watch, &w), RT_OK);
    wait_watching(&f);
    assert_int_equal(claim_count(&f, "w1", 10, 30), 1);
    assert_int_equal(rt_queue_get_after_next_end(f.q, id, on_get, &g, why), RT_OK);
    wait_ms(&f, 100);
    assert_false(g.done); /* no analysis ended: it waits behind the watch's read */
    assert_int_equal(complete_one(&f, "w1", id, "ok", "{\"k\":1}"), RT_COMPLETE_ACCEPTED);
    run_until(&f, &g.done);
    assert_int_equal(w.calls, 1); /* the end was told first */
    assert_int_equal(g.rc, RT_OK);
    assert_string_equal(g.status, "ok");
    assert_string_equal(g.result, "{\"k\":1}");
    close_queue(&f);
}

/* A line of a results entry: id, status, ms, then the analyzer (the rest of the line, perhaps
 * empty). A line whose first word is not an analysis id is read with none. */
static void test_ended_lines(void **state) {
    const char *at = "0123456789abcdef ok 1500 demo.x\n"
                     "not-an-id error 7 demo.y\n"
                     "0123456789abcde0 timeout \n"
                     "0123456789abcde1 ok -5 demo.z";
    rt_queue_ended e;
    (void)state;
    assert_true(rt_queue_next_ended(&at, &e));
    assert_string_equal(e.id, "0123456789abcdef");
    assert_string_equal(e.status, "ok");
    assert_true(e.seconds == 1.5);
    assert_string_equal(e.analyzer, "demo.x");
    assert_true(rt_queue_next_ended(&at, &e));
    assert_string_equal(e.id, "");
    assert_string_equal(e.status, "error");
    assert_string_equal(e.analyzer, "demo.y");
    assert_true(rt_queue_next_ended(&at, &e));
    assert_string_equal(e.id, "0123456789abcde0");
    assert_string_equal(e.status, "timeout");
    assert_true(e.seconds == 0); /* no ms: not read from the next line */
    assert_string_equal(e.analyzer, "");
    assert_true(rt_queue_next_ended(&at, &e));
    assert_true(e.seconds == 0); /* Redis' clock went back */
    assert_string_equal(e.analyzer, "demo.z");
    assert_false(rt_queue_next_ended(&at, &e));
    at = NULL;
    assert_false(rt_queue_next_ended(&at, &e));
}

typedef struct wake {
    double at;                 /* rt_monotonic() when the wait ended; 0 before */
    int requests;              /* what it said */
    size_t n;                  /* requests a submission claimed for it */
    char id[RT_QUEUE_ID_SIZE]; /* the first of them */
} wake;

static void on_woken(void *ud, int requests, const rt_queue_claimed *items, size_t n) {
    wake *w = ud;
    w->at = rt_monotonic();
    w->requests = requests;
    w->n = n;
    if (n)
        snprintf(w->id, sizeof w->id, "%s", items[0].id);
}

/* A number of Redis' INFO clients ("blocked_clients"). */
static long long info_clients(fx *f, const char *field) {
    raw_reply r = RAW(f, "INFO", "clients");
    const char *at = strstr(r.str, field);
    return at ? atoll(at + strlen(field) + 1) : -1;
}

/* An idle worker's wait ends with the next submission, long before its timeout, and says whether
 * one request or more woke it; with nothing submitted, at the timeout. Only one wait at a time. */
static void test_wait_for_work(void **state) {
    fx f;
    wake w = {0};
    double start;
    (void)state;
    open_queue(&f, NULL);
    /* The first wait finds its connection not made yet: it ends soon, for the caller to claim. */
    start = rt_monotonic();
    assert_int_equal(rt_queue_wait_for_work(f.q, "w1", 5.0, on_woken, &w), RT_OK);
    assert_int_equal(rt_queue_wait_for_work(f.q, "w1", 5.0, on_woken, &w), RT_EUSAGE);
    RUN_UNTIL_POLLING(&f, w.at > 0);
    assert_true(w.at - start < 1.0);
    assert_int_equal(w.requests, 0);

    /* Once its BLMPOP blocks in Redis, a submission wakes it: the blocked wait, not a later one. */
    long long blocked = info_clients(&f, "blocked_clients");
    w = (wake){0};
    assert_int_equal(rt_queue_wait_for_work(f.q, "w1", 5.0, on_woken, &w), RT_OK);
    RUN_UNTIL_POLLING(&f, info_clients(&f, "blocked_clients") > blocked);
    start = rt_monotonic();
    submit_one(&f, req("demo.wake", "{}", RT_PRIORITY_BATCH), NULL);
    RUN_UNTIL_POLLING(&f, w.at > 0);
    assert_true(w.at - start < 1.0);
    assert_int_equal(w.requests, 1);
    assert_int_equal(claim_count(&f, "w1", 10, 30), 1);

    /* Nothing submitted: the wait ends at its timeout (its connection is up by now). */
    w = (wake){0};
    start = rt_monotonic();
    assert_int_equal(rt_queue_wait_for_work(f.q, "w1", 0.3, on_woken, &w), RT_OK);
    RUN_UNTIL_POLLING(&f, w.at > 0);
    assert_in_range((long)((w.at - start) * 1000), 250, 2000);
    assert_int_equal(w.requests, 0);

    /* Three at once: the wake-up says "more than one", and leaves a token for another worker. */
    rt_queue_request three[3] = {req("demo.wake", "{\"n\":1}", RT_PRIORITY_BATCH),
                                 req("demo.wake", "{\"n\":2}", RT_PRIORITY_BATCH),
                                 req("demo.wake", "{\"n\":3}", RT_PRIORITY_BATCH)};
    free(submit(&f, three, 3));
    w = (wake){0};
    assert_int_equal(rt_queue_wait_for_work(f.q, "w1", 5.0, on_woken, &w), RT_OK);
    RUN_UNTIL_POLLING(&f, w.at > 0);
    assert_int_equal(w.requests, 2);
    assert_int_equal(RAW(&f, "LLEN", key(&f, "wake", NULL)).integer, 1);
    /* A busy worker claims them all; the next claim finds nothing and deletes the token left,
     * which would only wake an idle worker for nothing. */
    assert_int_equal(claim_count(&f, "w1", 10, 30), 3);
    assert_int_equal(RAW(&f, "LLEN", key(&f, "wake", NULL)).integer, 1);
    assert_int_equal(claim_count(&f, "w1", 10, 30), 0);
    assert_int_equal(RAW(&f, "LLEN", key(&f, "wake", NULL)).integer, 0);
    close_queue(&f);
}

/* A claim of 'consumer' for up to 'max' that, finding at most one request, lets submissions
 * claim for it for 'handoff' seconds; returns how many it claimed. */
static size_t claim_handing(fx *f, const char *consumer, size_t max, double handoff) {
    claimed c = {0};
    char why[256];
    if (rt_queue_claim(f->q, consumer, NULL, 0, max, 30, handoff, on_claim, &c, why) != RT_OK)
        fail_msg("rt_queue_claim: %s", why);
    run_until(f, &c.done);
    assert_int_equal(c.rc, RT_OK);
    return c.n;
}

/* A worker whose claim found nothing and that waits is handed the next submission: the
 * submission claims it for the worker (running under it, a lease, no wake token) and the wait
 * returns it. A registration is used once and lasts its 'handoff'; a claim of the worker takes
 * what was handed to it and its wait did not take; with team caps there are no hand-offs. */
static void test_handoff(void **state) {
    fx f;
    wake w = {0};
    char id[RT_QUEUE_ID_SIZE];
    (void)state;
    open_queue(&f, NULL);
    /* The first wait makes its connection and ends at once (test_wait_for_work). */
    assert_int_equal(rt_queue_wait_for_work(f.q, "w1", 5.0, on_woken, &w), RT_OK);
    RUN_UNTIL_POLLING(&f, w.at > 0);
    w = (wake){0};
    assert_int_equal(claim_handing(&f, "w1", 4, 5.0), 0);
    assert_int_equal(RAW(&f, "HEXISTS", key(&f, "idle", NULL), "w1").integer, 1);
    long long blocked = info_clients(&f, "blocked_clients");
    assert_int_equal(rt_queue_wait_for_work(f.q, "w1", 5.0, on_woken, &w), RT_OK);
    RUN_UNTIL_POLLING(&f, info_clients(&f, "blocked_clients") > blocked);
    snprintf(id, sizeof id, "%s", submit_one(&f, req("demo.h", "{}", RT_PRIORITY_BATCH), NULL));
    RUN_UNTIL_POLLING(&f, w.at > 0);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.id, id);
    got g = get(&f, id);
    assert_string_equal(g.status, "running");
    assert_string_equal(g.consumer, "w1");
    assert_int_equal(g.deliveries, 1);
    assert_int_equal(stats(&f).running, 1);
    assert_int_equal(RAW(&f, "LLEN", key(&f, "wake", NULL)).integer, 0);
    assert_int_equal(RAW(&f, "HEXISTS", key(&f, "idle", NULL), "w1").integer, 0); /* used */
    assert_int_equal(complete_one(&f, "w1", id, "ok", "{}"), RT_COMPLETE_ACCEPTED);

    /* Handed while the worker does not wait: its next claim, even one for nothing, takes it. */
    assert_int_equal(claim_handing(&f, "w1", 4, 5.0), 0);
    snprintf(id, sizeof id, "%s",
             submit_one(&f, req("demo.h", "{\"n\":1}", RT_PRIORITY_BATCH), NULL));
    claimed *c = claim(&f, "w1", 0, 30);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->items[0].id, id);
    assert_true(c->items[0].dequeued_at > 0);
    free(c);
    assert_int_equal(complete_one(&f, "w1", id, "ok", "{}"), RT_COMPLETE_ACCEPTED);

    /* A request whose deadline passed ends as timeout when a hand-off reads it, and the rest
     * of the submission is handed as usual. */
    assert_int_equal(claim_handing(&f, "w1", 4, 5.0), 0);
    rt_queue_request two[2] = {req("demo.h", "{\"n\":3}", RT_PRIORITY_BATCH),
                               req("demo.h", "{\"n\":4}", RT_PRIORITY_BATCH)};
    two[1].deadline = rt_wallclock() - 1;
    submitted *sub = submit(&f, two, 2);
    got late = get(&f, sub->out[1].id);
    assert_string_equal(late.status, "timeout");
    assert_int_equal(RAW(&f, "PTTL", key(&f, "a:", sub->out[1].id)).integer > 0, 1);
    c = claim(&f, "w1", 0, 30);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->items[0].id, sub->out[0].id);
    assert_int_equal(complete_one(&f, "w1", c->items[0].id, "ok", "{}"), RT_COMPLETE_ACCEPTED);
    free(c);
    free(sub);
    assert_int_equal(stats(&f).running, 0);

    /* A round with nothing to store or claim (a draining worker's last) ends the wait at once,
     * handing nothing. */
    w = (wake){0};
    assert_int_equal(claim_handing(&f, "w1", 4, 5.0), 0);
    blocked = info_clients(&f, "blocked_clients");
    assert_int_equal(rt_queue_wait_for_work(f.q, "w1", 5.0, on_woken, &w), RT_OK);
    RUN_UNTIL_POLLING(&f, info_clients(&f, "blocked_clients") > blocked);
    double t0 = rt_monotonic();
    assert_int_equal(claim_count(&f, "w1", 0, 30), 0);
    RUN_UNTIL_POLLING(&f, w.at > 0);
    assert_true(w.at - t0 < 1.0);
    assert_int_equal(w.n, 0);
    assert_int_equal(w.requests, 0);
    assert_int_equal(RAW(&f, "HEXISTS", key(&f, "idle", NULL), "w1").integer, 0);

    /* A registration past its 'handoff': the submission wakes a worker instead. */
    assert_int_equal(claim_handing(&f, "w1", 4, 0.1), 0);
    wait_ms(&f, 200);
    snprintf(id, sizeof id, "%s",
             submit_one(&f, req("demo.h", "{\"n\":2}", RT_PRIORITY_BATCH), NULL));
    assert_int_equal(RAW(&f, "LLEN", key(&f, "wake", NULL)).integer, 1);
    assert_int_equal(RAW(&f, "HLEN", key(&f, "idle", NULL)).integer, 0);
    assert_string_equal(get(&f, id).status, "queued");
    assert_int_equal(claim_count(&f, "w2", 4, 30), 1);
    close_queue(&f);

    /* With team caps (which a submission does not know), a claim registers no hand-offs. */
    rt_queue_team_cap caps[] = {{"team-capped", 1}};
    rt_queue_options o = {.caps = caps, .n_caps = 1};
    open_queue(&f, &o);
    assert_int_equal(claim_handing(&f, "w1", 4, 5.0), 0);
    assert_int_equal(RAW(&f, "HLEN", key(&f, "idle", NULL)).integer, 0);
    close_queue(&f);
}

static void on_cancel_told(const char *id, void *ud) {
    snprintf(ud, RT_QUEUE_ID_SIZE, "%s", id);
}

/* A worker following cancellations learns of one for an analysis it holds at once, long
 * before its next heartbeat; cancellations of other workers' analyses do not reach it. */
static void test_follow_cancels(void **state) {
    fx f;
    char told[RT_QUEUE_ID_SIZE] = "", mine[RT_QUEUE_ID_SIZE], theirs[RT_QUEUE_ID_SIZE];
    (void)state;
    open_queue(&f, NULL);
    snprintf(mine, sizeof mine, "%s",
             submit_one(&f, req("demo.c", "{\"a\":1}", RT_PRIORITY_BATCH), NULL));
    assert_int_equal(claim_count(&f, "w1", 1, 30), 1);
    snprintf(theirs, sizeof theirs, "%s",
             submit_one(&f, req("demo.c", "{\"a\":2}", RT_PRIORITY_BATCH), NULL));
    assert_int_equal(claim_count(&f, "w2", 1, 30), 1);
    assert_int_equal(rt_queue_follow_cancels(f.q, "w1", on_cancel_told, told), RT_OK);
    assert_int_equal(rt_queue_follow_cancels(f.q, "w1", on_cancel_told, told), RT_EUSAGE);
    wait_ms(&f, 100); /* its connection is up and its BLPOP out */
    assert_int_equal(cancel(&f, theirs).outcome, RT_CANCEL_FLAGGED);
    double start = rt_monotonic();
    assert_int_equal(cancel(&f, mine).outcome, RT_CANCEL_FLAGGED);
    RUN_UNTIL_POLLING(&f, told[0]);
    assert_true(rt_monotonic() - start < 1.0);
    assert_string_equal(told, mine);
    close_queue(&f);
}

typedef struct connector_totals {
    bool added, read;
    int rc;
    size_t n;
    rt_queue_connector_stats prom;
} connector_totals;

static void on_counted(int rc, const char *msg, void *ud) {
    connector_totals *t = ud;
    (void)msg;
    t->rc = rc;
    t->added = true;
}

static void on_connectors(int rc, const char *msg, const rt_queue_connector_stats *stats, size_t n,
                          void *ud) {
    connector_totals *t = ud;
    (void)msg;
    t->rc = rc;
    t->n = n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(stats[i].connector, "prom") == 0)
            t->prom = stats[i];
    t->read = true;
}

/* Workers add what they counted; the totals add up across calls and connectors stay apart. */
static void test_connector_stats(void **state) {
    fx f;
    connector_totals t = {0};
    rt_queue_connector_stats add[2] = {
        {.connector = "prom", .calls = 3, .errors = 1, .seconds = 0.5},
        {.connector = "loki", .calls = 1, .seconds = 2}};
    (void)state;
    add[0].buckets[rt_queue_latency_bucket(0.004)] = 2;
    add[0].buckets[rt_queue_latency_bucket(100)] = 1;
    assert_int_equal(rt_queue_latency_bucket(100), RT_QUEUE_LATENCY_BUCKETS);
    open_queue(&f, NULL);
    for (int round = 0; round < 2; round++) {
        t.added = false;
        assert_int_equal(rt_queue_connector_stats_add(f.q, add, 2, on_counted, &t, NULL), RT_OK);
        RUN_UNTIL(&f, t.added);
        assert_int_equal(t.rc, RT_OK);
    }
    assert_int_equal(rt_queue_connector_stats_read(f.q, on_connectors, &t, NULL), RT_OK);
    RUN_UNTIL(&f, t.read);
    assert_int_equal(t.n, 2);
    assert_true(t.prom.calls == 6 && t.prom.errors == 2 && t.prom.seconds == 1.0);
    assert_true(t.prom.buckets[0] == 4 && t.prom.buckets[RT_QUEUE_LATENCY_BUCKETS] == 2);
    close_queue(&f);
}

typedef struct listed {
    bool done;
    int rc;
    size_t n;
    char ids[10][RT_QUEUE_ID_SIZE], status[10][32];
    char next[160];
    bool has_next;
} listed;

static void on_list(int rc, const char *msg, const rt_queue_analysis *items, size_t n,
                    const char *next, void *ud) {
    listed *l = ud;
    (void)msg;
    l->done = true;
    l->rc = rc;
    l->n = n;
    for (size_t i = 0; i < n && i < 10; i++) {
        snprintf(l->ids[i], sizeof l->ids[i], "%s", items[i].id);
        snprintf(l->status[i], sizeof l->status[i], "%s", items[i].status);
    }
    l->has_next = next != NULL;
    snprintf(l->next, sizeof l->next, "%s", next ? next : "");
}

static listed list(fx *f, const char *status, const char *cursor, size_t limit) {
    listed l = {0};
    char why[256];
    rt_queue_filter filter = {.status = status, .cursor = cursor, .limit = limit};
    if (rt_queue_list(f->q, &filter, on_list, &l, why) != RT_OK)
        fail_msg("rt_queue_list: %s", why);
    run_until(f, &l.done);
    assert_int_equal(l.rc, RT_OK);
    return l;
}

/* The analyses submitted from 'since' to 'until' (Unix seconds; 0: no bound), one page. */
static listed list_between(fx *f, double since, double until) {
    listed l = {0};
    char why[256];
    rt_queue_filter filter = {.since = since, .until = until, .limit = 50};
    if (rt_queue_list(f->q, &filter, on_list, &l, why) != RT_OK)
        fail_msg("rt_queue_list: %s", why);
    run_until(f, &l.done);
    assert_int_equal(l.rc, RT_OK);
    return l;
}

/* Recent analyses, newest first, page by page, with a status filter. */
static void test_list(void **state) {
    fx f;
    rt_queue_request reqs[5];
    static const char *const inputs[5] = {"{\"i\":0}", "{\"i\":1}", "{\"i\":2}", "{\"i\":3}",
                                          "{\"i\":4}"};
    (void)state;
    open_queue(&f, NULL);
    for (int i = 0; i < 5; i++)
        reqs[i] = req("demo.list", inputs[i], RT_PRIORITY_BATCH);
    submitted *s = submit(&f, reqs, 5);
    listed a = list(&f, NULL, NULL, 2);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.ids[0], s->out[4].id);
    assert_string_equal(a.ids[1], s->out[3].id);
    assert_true(a.has_next);
    listed b = list(&f, NULL, a.next, 2);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.ids[0], s->out[2].id);
    assert_string_equal(b.ids[1], s->out[1].id);
    listed c = list(&f, NULL, b.next, 2);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.ids[0], s->out[0].id);
    assert_false(c.has_next);
    cancelled x = cancel(&f, s->out[2].id);
    assert_int_equal(x.outcome, RT_CANCEL_DONE);
    listed only = list(&f, "cancelled", NULL, 10);
    assert_int_equal(only.n, 1);
    assert_string_equal(only.ids[0], s->out[2].id);
    assert_string_equal(only.status[0], "cancelled");
    free(s);
    close_queue(&f);
}

/* The listing's index holds an entry per submit call: pages run across entries, newest first,
 * 'since' and 'until' bound it, and each submit trims it to 'recent', exactly. */
static void test_list_index(void **state) {
    fx f;
    rt_queue_options o = {.recent = 0.3};
    rt_queue_request reqs[3] = {req("demo.ix", "{\"i\":0}", RT_PRIORITY_BATCH),
                                req("demo.ix", "{\"i\":1}", RT_PRIORITY_BATCH),
                                req("demo.ix", "{\"i\":2}", RT_PRIORITY_BATCH)};
    (void)state;
    open_queue(&f, &o);
    submitted *old = submit(&f, reqs, 3);
    wait_ms(&f, 400); /* past 'recent': the next submit trims these */
    double between = rt_wallclock();
    submitted *a = submit(&f, reqs, 2), *b = submit(&f, reqs + 2, 1);
    assert_int_equal(RAW(&f, "XLEN", key(&f, "listing", NULL)).integer, 2);
    const char *newest_first[3] = {b->out[0].id, a->out[1].id, a->out[0].id};
    listed p1 = list(&f, NULL, NULL, 2);
    assert_int_equal(p1.n, 2);
    assert_string_equal(p1.ids[0], newest_first[0]);
    assert_string_equal(p1.ids[1], newest_first[1]);
    listed p2 = list(&f, NULL, p1.next, 2);
    assert_int_equal(p2.n, 1); /* the trimmed batch is not listed */
    assert_string_equal(p2.ids[0], newest_first[2]);
    assert_false(p2.has_next);
    listed none_after = list_between(&f, rt_wallclock() + 60, 0);
    assert_int_equal(none_after.n, 0);
    listed before = list_between(&f, 0, between - 0.2);
    assert_int_equal(before.n, 0);
    listed since = list_between(&f, between - 0.2, 0);
    assert_int_equal(since.n, 3);
    char why[256];
    rt_queue_filter bad = {.cursor = "1-1:12345"};
    assert_int_equal(rt_queue_list(f.q, &bad, on_list, NULL, why), RT_EINPUT);
    bad.cursor = "99999999999999999999-0:1"; /* over 2^64 - 1 */
    assert_int_equal(rt_queue_list(f.q, &bad, on_list, NULL, why), RT_EINPUT);
    free(old);
    free(a);
    free(b);
    close_queue(&f);
}

/* A Redis that may evict keys: a warning by default, a refusal with require_noeviction. */
static void test_noeviction_check(void **state) {
    fx f, g;
    rt_queue_options strict = {.require_noeviction = true};
    rt_redis_options r = {.url = server.url, .command_timeout = 2};
    char why[256];
    (void)state;
    open_queue(&f, NULL);
    assert_string_equal(f.why, ""); /* no warning with noeviction */
    assert_int_equal(RAW(&f, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru").rc, RT_OK);
    loop_init(&g);
    strict.prefix = "strict";
    strict.on_state = on_queue_state;
    strict.ud = &g;
    g.q = rt_queue_new(&g.loop, &r, &strict, why);
    assert_non_null(g.q);
    RUN_UNTIL(&g, g.downs >= 1);
    assert_false(rt_queue_is_up(g.q));
    assert_non_null(strstr(g.why, "maxmemory-policy allkeys-lru"));
    assert_non_null(strstr(rt_queue_error(g.q), "noeviction"));
    close_queue(&g);
    open_queue(&g, NULL); /* only warns */
    assert_non_null(strstr(g.why, "set it to noeviction"));
    close_queue(&g);
    assert_int_equal(RAW(&f, "CONFIG", "SET", "maxmemory-policy", "noeviction").rc, RT_OK);
    close_queue(&f);
}

/* Bad arguments are refused at once with a reason, and the callback is not called. */
static void test_refused_at_once(void **state) {
    fx f;
    char why[256] = "";
    (void)state;
    open_queue(&f, NULL);
    rt_queue_request r = req("demo.x", "{}", RT_PRIORITY_BATCH);
    r.priority = (rt_priority)7;
    assert_int_equal(rt_queue_submit(f.q, &r, 1, on_submit, NULL, why), RT_EINPUT);
    assert_non_null(strstr(why, "priority"));
    r = req("demo.x", "{}", RT_PRIORITY_BATCH);
    r.dedup_window = 30 * 86400;
    assert_int_equal(rt_queue_submit(f.q, &r, 1, on_submit, NULL, why), RT_EINPUT);
    rt_queue_completion c = {.id = "0123456789abcdef", .status = "dead", .result = "{}"};
    assert_int_equal(rt_queue_complete(f.q, "w", &c, 1, on_verdicts, NULL, why), RT_EINPUT);
    assert_int_equal(rt_queue_get(f.q, "../x", on_get, NULL, why), RT_EINPUT);
    rt_queue_options bad = {.prefix = "a}b"};
    rt_redis_options ro = {.url = server.url};
    assert_null(rt_queue_new(&f.loop, &ro, &bad, why));
    assert_non_null(strstr(why, "prefix"));
    close_queue(&f);
}

/* ---- recordings of analyses ------------------------------------------------------------- */

typedef struct rec_got {
    bool done;
    int rc;
    char text[256];
    size_t len;
} rec_got;

static void on_recording(int rc, const char *msg, const char *text, size_t len, void *ud) {
    rec_got *g = ud;
    (void)msg;
    g->done = true;
    g->rc = rc;
    g->len = len;
    snprintf(g->text, sizeof g->text, "%.*s", (int)len, text ? text : "");
}

static rec_got recording_of(fx *f, const char *id) {
    rec_got g = {0};
    assert_int_equal(rt_queue_get_recording(f->q, id, on_recording, &g, NULL), RT_OK);
    run_until(f, &g.done);
    return g;
}

/* The choice by share is a function of the id: the same id always gets the same answer, and
 * about that share of ids is picked. */
static void test_recording_share(void **state) {
    char id[32];
    int picked = 0;
    (void)state;
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "%016x", (unsigned)(i * 2654435761u));
        bool chosen = rt_queue_recording_chosen(id, 0.1);
        assert_true(chosen == rt_queue_recording_chosen(id, 0.1));
        assert_false(rt_queue_recording_chosen(id, 0));
        assert_true(rt_queue_recording_chosen(id, 1));
        if (chosen)
            assert_true(rt_queue_recording_chosen(id, 0.5)); /* a larger share keeps them */
        picked += chosen;
    }
    assert_in_range(picked, 1700, 2300);
}

/* A submitter's ask for a recording travels with its request to the claim, and makes it meet
 * only other asks in dedup; a recording goes with its result and is kept, with its own TTL, only
 * when the result is accepted; read back byte for byte, and counted; one too big is only
 * counted. */
static void test_recordings(void **state) {
    fx f;
    rt_queue_options o = {.ttl = 3600, .recording_ttl = 60};
    (void)state;
    open_queue(&f, &o);
    rt_queue_request reqs[2] = {req("demo.rec", "{\"n\":1}", RT_PRIORITY_INTERACTIVE),
                                req("demo.rec", "{\"n\":2}", RT_PRIORITY_INTERACTIVE)};
    reqs[0].record = true;
    submitted *s = submit(&f, reqs, 2);
    const char *ids[2] = {s->out[0].id, s->out[1].id};
    claimed *c = claim(&f, "w1", 2, 30);
    assert_int_equal(c->n, 2);
    for (size_t i = 0; i < 2; i++)
        assert_true(c->items[i].record == (strcmp(c->items[i].id, ids[0]) == 0));
    free(c);
    rt_queue_request again = req("demo.rec", "{\"n\":2}", RT_PRIORITY_INTERACTIVE);
    again.record = true; /* the earlier one was not recorded: this one runs */
    submitted *s2 = submit(&f, &again, 1);
    assert_false(s2->out[0].deduplicated);
    free(s2);

    static const char text[] = "{\"schema\":\"inquest.recording/v1\",\"exchanges\":[]}";
    rt_queue_completion done = {.id = ids[0],
                                .status = "ok",
                                .result = "{}",
                                .result_len = 2,
                                .recording = text,
                                .recording_len = sizeof text - 1};
    claimed *refused = round_of(&f, "w2", &done, 1, 0, 30); /* not w2's: refused, not kept */
    assert_int_equal(refused->verdicts[0], RT_COMPLETE_LEASE_LOST);
    free(refused);
    assert_int_equal(recording_of(&f, ids[0]).rc, RT_ENOTFOUND);
    claimed *kept = round_of(&f, "w1", &done, 1, 0, 30);
    assert_int_equal(kept->verdicts[0], RT_COMPLETE_ACCEPTED);
    free(kept);
    rec_got r = recording_of(&f, ids[0]);
    assert_int_equal(r.rc, RT_OK);
    assert_int_equal(r.len, sizeof text - 1);
    assert_string_equal(r.text, text);
    long long ttl = RAW(&f, "PTTL", key(&f, "rec:", ids[0])).integer;
    assert_true(ttl > 0 && ttl <= 60000);
    assert_int_equal(recording_of(&f, ids[1]).rc, RT_ENOTFOUND);
    assert_int_equal(rt_queue_recording_too_big(f.q, NULL), RT_OK);
    rt_queue_stats st = stats(&f);
    assert_int_equal(st.recordings_kept, 1);
    assert_int_equal(st.recordings_too_big, 1);

    char why[256] = "";
    assert_int_equal(rt_queue_get_recording(f.q, "", on_recording, &r, why), RT_EINPUT);
    free(s);
    close_queue(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_errors),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_refused_connection_named),
        cmocka_unit_test(test_command_timeout),
        cmocka_unit_test_teardown(test_paused_server, resume_server),
        cmocka_unit_test_teardown(test_refused_while_not_answering, resume_server),
        cmocka_unit_test(test_errors_and_cap),
        cmocka_unit_test(test_close_pending),
        cmocka_unit_test(test_library_reload),
        cmocka_unit_test(test_round_trip_priority),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_trim_keeps_pending),
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_depth_after_queued_cancels),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_lease_expiry),
        cmocka_unit_test(test_restart_keeps_leases),
        cmocka_unit_test(test_dead_letter),
        cmocka_unit_test(test_intake_misfits),
        cmocka_unit_test(test_team_cap),
        cmocka_unit_test(test_held_deadline),
        cmocka_unit_test(test_stale_consumers),
        cmocka_unit_test(test_watch),
        cmocka_unit_test(test_get_after_next_end),
        cmocka_unit_test(test_ended_lines),
        cmocka_unit_test(test_wait_for_work),
        cmocka_unit_test(test_handoff),
        cmocka_unit_test(test_connector_stats),
        cmocka_unit_test(test_follow_cancels),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_index),
        cmocka_unit_test(test_noeviction_check),
        cmocka_unit_test(test_refused_at_once),
        cmocka_unit_test(test_recording_share),
        cmocka_unit_test(test_recordings),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
