/* tests/unit/test_http.c -- runtime/rt_http.c against tests/support/mock_http.c on loopback:
 * bodies and headers, timeouts, retries and Retry-After, the response cap, allowances shared by
 * calls in flight, refused connections, concurrency and rate limits, cancelling and freeing at
 * every stage, and record then replay.
 * One mock server serves every test (started once, stopped at the end); each test runs its own
 * loop until the client has nothing left to do, which also proves an idle client lets uv_run
 * return. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, kill */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "rt_http.h"
#include "rt_recording.h"

#define SECRET "Bearer s3cr3t-t0ken"

static pid_t mock_pid;
static char mock_url[64]; /* "http://127.0.0.1:PORT" */

/* ---- the mock server --------------------------------------------------------------------- */

/* Starts mock_http with 'args' (NULL-terminated, after the program) and its stdout on a pipe:
 * returns its pid and, in 'fd', the pipe's reading end. */
static pid_t spawn_mock(const char *const *args, int *fd) {
    int p[2];
    char *argv[8] = {(char *)MOCK_HTTP};
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = (char *)args[i];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execv(MOCK_HTTP, argv);
        _exit(127);
    }
    close(p[1]);
    *fd = p[0];
    return pid;
}

static int group_setup(void **state) {
    static const char *const none[] = {NULL};
    char line[128] = "";
    size_t n = 0;
    int fd, port = 0;
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    mock_pid = spawn_mock(none, &fd);
    if (mock_pid < 0)
        return -1;
    /* The first line tells the port: reading it waits for the server to listen. */
    while (n < sizeof line - 1 && !strchr(line, '\n')) {
        ssize_t got = read(fd, line + n, sizeof line - 1 - n);
        if (got <= 0)
            break;
        n += (size_t)got;
        line[n] = '\0';
    }
    close(fd);
    if (sscanf(line, "listening on 127.0.0.1:%d", &port) != 1) {
        fprintf(stderr, "mock_http said '%s'\n", line);
        return -1;
    }
    snprintf(mock_url, sizeof mock_url, "http://127.0.0.1:%d", port);
    return 0;
}

static int group_teardown(void **state) {
    int status = 0;
    (void)state;
    kill(mock_pid, SIGTERM);
    waitpid(mock_pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- harness ----------------------------------------------------------------------------- */

/* What one call's callback saw. */
typedef struct got {
    int calls; /* times the callback ran */
    int error;
    long status;
    char message[512];
    char content_type[128];
    char *body;
    size_t len;
    size_t bytes;
    int attempts;
    double duration;
    double at; /* when the callback ran, on uv_hrtime's clock in seconds */
} got;

typedef struct fixture {
    uv_loop_t loop;
    rt_http *http;
    uv_timer_t guard;
} fixture;

static double seconds(void) {
    return (double)uv_hrtime() / 1e9;
}

static void on_done(const rt_http_response *r, void *ud) {
    got *g = ud;
    g->calls++;
    g->error = r->error;
    g->status = r->status;
    snprintf(g->message, sizeof g->message, "%s", r->message);
    snprintf(g->content_type, sizeof g->content_type, "%s", r->content_type);
    assert_non_null(r->body);
    assert_int_equal(r->body[r->len], '\0');
    free(g->body);
    g->body = malloc(r->len + 1);
    memcpy(g->body, r->body, r->len + 1);
    g->len = r->len;
    g->bytes = r->bytes;
    g->attempts = r->attempts;
    g->duration = r->duration;
    g->at = seconds();
}

static void on_guard(uv_timer_t *t) {
    (void)t;
    fail_msg("the loop was still busy after 8 s");
}

static void fixture_init(fixture *f) {
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->http = rt_http_new(&f->loop);
    /* Unreferenced: it does not keep the loop alive, and fails the test if something else does
     * for too long. */
    uv_timer_init(&f->loop, &f->guard);
    uv_timer_start(&f->guard, on_guard, 8000, 0);
    uv_unref((uv_handle_t *)&f->guard);
}

/* Runs the loop until nothing is left to do. */
static void run(fixture *f) {
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* Frees the client, closes everything and checks that no handle was left open. */
static void fixture_done(fixture *f) {
    if (f->http)
        rt_http_free(f->http);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

typedef struct target_spec {
    const char *name, *base;
    double timeout, rate;
    size_t max_response;
    int concurrency, retries;
    const char *const *headers;
    size_t n_headers;
    const char *const *secrets;
    size_t n_secrets;
} target_spec;

static rt_http_target *target(fixture *f, target_spec s) {
    char why[256] = "";
    rt_http_target_options o = {
        .name = s.name ? s.name : "mock",
        .base_url = s.base ? s.base : mock_url,
        .timeout = s.timeout ? s.timeout : 5,
        .max_response = s.max_response,
        .rate_limit = s.rate,
        .concurrency = s.concurrency,
        .retries = s.retries,
        .headers = s.headers,
        .n_headers = s.n_headers,
        .secrets = s.secrets,
        .n_secrets = s.n_secrets,
    };
    rt_http_target *t = rt_http_target_new(f->http, &o, why);
    if (!t)
        fail_msg("rt_http_target_new: %s", why);
    return t;
}

static rt_http_call *get(rt_http_target *t, const char *path, got *g) {
    rt_http_request req = {.method = RT_HTTP_GET, .path = path, .idempotent = true};
    return rt_http_start(t, &req, on_done, g);
}

static rt_http_call *post(rt_http_target *t, const char *path, const char *body, bool idempotent,
                          got *g) {
    rt_http_request req = {.method = RT_HTTP_POST,
                           .path = path,
                           .body = body,
                           .body_len = body ? strlen(body) : 0,
                           .content_type = "text/plain",
                           .idempotent = idempotent};
    return rt_http_start(t, &req, on_done, g);
}

/* One GET of 'path' on a target made from 's', run to its end. */
static void get_one(target_spec s, const char *path, got *g) {
    fixture f;
    fixture_init(&f);
    get(target(&f, s), path, g);
    run(&f);
    fixture_done(&f);
    assert_int_equal(g->calls, 1);
}

static void got_free(got *g, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(g[i].body);
}

/* A loopback port with nothing listening: bound, then closed. */
static int closed_port(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_get(void **state) {
    static const char *const headers[] = {"X-Scope-OrgID: tenant-1", "Authorization: " SECRET};
    got g = {0};
    (void)state;
    get_one((target_spec){.headers = headers, .n_headers = 2}, "/echo?q=up%7Bjob%3D%22a%22%7D", &g);
    assert_int_equal(g.error, RT_OK);
    assert_int_equal(g.status, 200);
    assert_int_equal(g.attempts, 1);
    assert_string_equal(g.content_type, "application/json");
    assert_string_equal(g.message, "");
    assert_non_null(strstr(g.body, "\"method\":\"GET\""));
    assert_non_null(strstr(g.body, "\"query\":\"q=up%7Bjob%3D%22a%22%7D\""));
    assert_non_null(strstr(g.body, "\"x-scope-orgid\":\"tenant-1\""));
    assert_non_null(strstr(g.body, "\"authorization\":\"" SECRET "\""));
    assert_non_null(strstr(g.body, "\"user-agent\":\"inquest/" INQUEST_VERSION "\""));
    assert_true(g.duration > 0 && g.duration < 1);
    got_free(&g, 1);
}

static void test_post(void **state) {
    fixture f;
    got g = {0};
    (void)state;
    fixture_init(&f);
    post(target(&f, (target_spec){0}), "/echo", "query=up", false, &g);
    run(&f);
    fixture_done(&f);
    assert_int_equal(g.status, 200);
    assert_non_null(strstr(g.body, "\"method\":\"POST\""));
    assert_non_null(strstr(g.body, "\"body\":\"query=up\""));
    assert_non_null(strstr(g.body, "\"content-type\":\"text/plain\""));
    got_free(&g, 1);
}

static void test_status_delivered(void **state) {
    got g = {0};
    (void)state;
    get_one((target_spec){.retries = -1}, "/status/404", &g);
    assert_int_equal(g.error, RT_OK); /* the caller judges the status */
    assert_int_equal(g.status, 404);
    assert_non_null(strstr(g.body, "status 404"));
    got_free(&g, 1);
}

static void test_timeout(void **state) {
    static const char *const headers[] = {"Authorization: " SECRET};
    got g = {0};
    (void)state;
    get_one((target_spec){.name = "prom", .timeout = 0.3, .headers = headers, .n_headers = 1},
            "/hang", &g);
    assert_int_equal(g.error, RT_ETIMEDOUT);
    assert_true(g.duration >= 0.25 && g.duration < 2.0);
    assert_string_equal(g.message, "prom: no answer within 300ms (GET /hang, 1 attempt)");
    assert_int_equal(g.status, 0);
    assert_int_equal(g.len, 0);
    got_free(&g, 1);
}

static void test_retries(void **state) {
    fixture f;
    got ok = {0}, none = {0}, not_idempotent = {0}, count = {0};
    (void)state;
    fixture_init(&f);
    rt_http_target *t = target(&f, (target_spec){0});
    rt_http_target *once = target(&f, (target_spec){.name = "once", .retries = -1});
    get(t, "/flaky/k1/2", &ok);
    get(once, "/flaky/k4/1", &none);
    post(t, "/flaky/k2/1", "x", false, &not_idempotent);
    run(&f);
    get(t, "/count/k2", &count);
    run(&f);
    fixture_done(&f);
    assert_int_equal(ok.error, RT_OK);
    assert_int_equal(ok.status, 200);
    assert_int_equal(ok.attempts, 3);
    assert_string_equal(ok.body, "{\"ok\":true,\"attempt\":3}");
    /* Backoff: 50-100 ms, then 100-200 ms. */
    assert_true(ok.duration >= 0.15 && ok.duration < 1.0);
    assert_int_equal(none.error, RT_OK);
    assert_int_equal(none.status, 503);
    assert_int_equal(none.attempts, 1);
    assert_int_equal(not_idempotent.status, 503);
    assert_int_equal(not_idempotent.attempts, 1);
    assert_string_equal(count.body, "{\"count\":1}");
    got_free(&ok, 1), got_free(&none, 1), got_free(&not_idempotent, 1), got_free(&count, 1);
}

static void test_retries_exhausted(void **state) {
    got g = {0};
    (void)state;
    get_one((target_spec){.retries = 1}, "/status/502", &g);
    assert_int_equal(g.error, RT_OK); /* the last response is delivered */
    assert_int_equal(g.status, 502);
    assert_int_equal(g.attempts, 2);
    assert_non_null(strstr(g.body, "status 502"));
    got_free(&g, 1);
}

static void test_retry_after(void **state) {
    got honoured = {0}, too_long = {0};
    (void)state;
    get_one((target_spec){0}, "/flaky/k3/1?retry_after=1", &honoured);
    assert_int_equal(honoured.status, 200);
    assert_int_equal(honoured.attempts, 2);
    assert_true(honoured.duration >= 0.9 && honoured.duration < 2.0);
    /* A wait that does not fit in the timeout: the 429 is the answer, at once. */
    get_one((target_spec){.timeout = 1}, "/status/429?retry_after=5", &too_long);
    assert_int_equal(too_long.error, RT_OK);
    assert_int_equal(too_long.status, 429);
    assert_int_equal(too_long.attempts, 1);
    assert_true(too_long.duration < 0.5);
    got_free(&honoured, 1), got_free(&too_long, 1);
}

static void test_size_cap(void **state) {
    fixture f;
    got big = {0}, chunked = {0}, fine = {0};
    (void)state;
    fixture_init(&f);
    rt_http_target *t = target(&f, (target_spec){.name = "loki", .max_response = 1 << 20});
    get(t, "/bytes/2000000", &big);               /* Content-Length tells at once */
    get(t, "/bytes/2000000?chunked=1", &chunked); /* found out while reading */
    get(t, "/bytes/1000", &fine);
    run(&f);
    fixture_done(&f);
    assert_int_equal(big.error, RT_ETOOBIG);
    assert_int_equal(big.attempts, 1);
    assert_string_equal(big.message,
                        "loki: response larger than the 1 MiB cap (GET /bytes/2000000, 1 attempt)");
    assert_int_equal(chunked.error, RT_ETOOBIG);
    assert_non_null(strstr(chunked.message, "loki: response larger than the 1 MiB cap"));
    assert_int_equal(fine.error, RT_OK);
    assert_int_equal(fine.len, 1000);
    assert_int_equal(strlen(fine.body), 1000);
    got_free(&big, 1), got_free(&chunked, 1), got_free(&fine, 1);
}

/* Calls in flight at once share their allowance: they read no more than its limit between them,
 * whether their size is known beforehand or not, and a failed call is charged what it read. */
static void test_allowance(void **state) {
    fixture f;
    enum { N = 6 };
    got g[N] = {{0}}, over_cap = {0};
    rt_http_allowance allowance = {.limit = 1 << 20, .name = "limits.call_bytes"};
    (void)state;
    fixture_init(&f);
    rt_http_target *t = target(&f, (target_spec){.concurrency = N, .max_response = 512 << 10});
    for (int i = 0; i < N; i++) {
        rt_http_request req = {.method = RT_HTTP_GET,
                               .path = i % 2 ? "/bytes/300000" : "/bytes/300000?chunked=1",
                               .idempotent = true,
                               .allowance = &allowance};
        rt_http_start(t, &req, on_done, &g[i]);
    }
    run(&f);
    size_t read = 0, charged = 0;
    int limited = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(g[i].calls, 1);
        read += g[i].len;
        charged += g[i].bytes;
        if (g[i].error == RT_ELIMIT) {
            limited++;
            assert_non_null(strstr(g[i].message, "mock: answer larger than what is left of "
                                                 "limits.call_bytes (1 MiB in all)"));
        } else {
            assert_int_equal(g[i].error, RT_OK);
            assert_int_equal(g[i].len, 300000);
        }
    }
    assert_true(limited >= N - 3); /* 3 × 300000 bytes fit in 1 MiB, 4 do not */
    assert_true(read <= allowance.limit);
    assert_int_equal(charged, allowance.used);
    assert_true(allowance.used <= allowance.limit);
    /* Over the cap, found out while reading: what was read is charged all the same. */
    allowance = (rt_http_allowance){.limit = 4 << 20, .name = "limits.call_bytes"};
    rt_http_request req = {.method = RT_HTTP_GET,
                           .path = "/bytes/2000000?chunked=1",
                           .idempotent = true,
                           .allowance = &allowance};
    rt_http_start(t, &req, on_done, &over_cap);
    run(&f);
    fixture_done(&f);
    assert_int_equal(over_cap.error, RT_ETOOBIG);
    assert_int_equal(over_cap.len, 0);
    assert_true(over_cap.bytes > 0 && over_cap.bytes <= 512 << 10);
    assert_int_equal(allowance.used, over_cap.bytes);
    got_free(g, N), got_free(&over_cap, 1);
}

static void test_refused(void **state) {
    static const char *const headers[] = {"Authorization: " SECRET};
    char base[64], expect[160];
    got g = {0};
    (void)state;
    int port = closed_port();
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    get_one((target_spec){.name = "prom", .base = base, .headers = headers, .n_headers = 1},
            "/api/v1/query?query=up", &g);
    assert_int_equal(g.error, RT_ECONNREFUSED);
    assert_int_equal(g.attempts, 3);
    snprintf(expect, sizeof expect,
             "prom: connection refused by 127.0.0.1:%d (GET /api/v1/query, 3 attempts)", port);
    assert_string_equal(g.message, expect);
    assert_null(strstr(g.message, "s3cr3t"));
    got_free(&g, 1);
}

/* Runs 'n' GETs of 'path' at once on a target made from 's'; returns the seconds they took. */
static double run_many(target_spec s, const char *path, got *g, int n) {
    fixture f;
    fixture_init(&f);
    rt_http_target *t = target(&f, s);
    double start = seconds();
    for (int i = 0; i < n; i++)
        get(t, path, &g[i]);
    run(&f);
    double took = seconds() - start;
    fixture_done(&f);
    for (int i = 0; i < n; i++) {
        assert_int_equal(g[i].calls, 1);
        assert_int_equal(g[i].status, 200);
    }
    return took;
}

static void test_concurrency(void **state) {
    got g[10] = {{0}};
    (void)state;
    double capped = run_many((target_spec){.concurrency = 2}, "/delay/200", g, 10);
    assert_true(capped >= 0.9 && capped < 2.0);
    got_free(g, 10);
    memset(g, 0, sizeof g);
    double open = run_many((target_spec){.concurrency = 10}, "/delay/200", g, 10);
    assert_true(open < 0.6);
    got_free(g, 10);
}

static void test_rate_limit(void **state) {
    got g[10] = {{0}};
    (void)state;
    /* 5 per second with a burst of 5: five at once, then one every 200 ms, so the tenth starts
     * 1 s after the first. */
    double took = run_many((target_spec){.rate = 5, .concurrency = 10}, "/delay/0", g, 10);
    assert_true(took >= 0.95 && took < 1.8);
    got_free(g, 10);
}

static void test_hundred_at_once(void **state) {
    static got g[100];
    (void)state;
    memset(g, 0, sizeof g);
    double took = run_many((target_spec){.concurrency = 100}, "/delay/100", g, 100);
    assert_true(took < 0.5);
    got_free(g, 100);
}

static void test_queue_timeout(void **state) {
    fixture f;
    got hung = {0}, queued = {0};
    (void)state;
    fixture_init(&f);
    rt_http_target *t = target(&f, (target_spec){.timeout = 0.3, .concurrency = 1});
    get(t, "/hang", &hung);
    get(t, "/delay/0", &queued);
    run(&f);
    fixture_done(&f);
    assert_int_equal(queued.error, RT_ETIMEDOUT);
    assert_int_equal(queued.attempts, 0);
    assert_true(queued.duration >= 0.25 && queued.duration < 2.0);
    assert_non_null(strstr(queued.message, "still waiting for its turn"));
    assert_int_equal(hung.error, RT_ETIMEDOUT);
    got_free(&hung, 1), got_free(&queued, 1);
}

static void on_cancel_timer(uv_timer_t *timer) {
    rt_http_call **calls = timer->data;
    for (int i = 0; calls[i]; i++)
        rt_http_cancel(calls[i]);
    uv_close((uv_handle_t *)timer, NULL);
}

static void test_cancel(void **state) {
    fixture f;
    uv_timer_t timer;
    got g[4] = {{0}}, count = {0};
    rt_http_call *calls[4] = {0};
    (void)state;
    fixture_init(&f);
    rt_http_target *t = target(&f, (target_spec){.concurrency = 1});
    rt_http_target *other = target(&f, (target_spec){.name = "other"});
    calls[0] = get(t, "/hang", &g[0]);                                /* in flight */
    calls[1] = get(t, "/delay/0", &g[1]);                             /* queued behind it */
    calls[2] = get(other, "/status/503?retry_after=1&key=kc", &g[2]); /* in backoff */
    uv_timer_init(&f.loop, &timer);
    timer.data = calls;
    uv_timer_start(&timer, on_cancel_timer, 200, 0);
    double start = seconds();
    run(&f);
    assert_true(seconds() - start < 0.6); /* the loop went idle at once */
    get(other, "/count/kc", &count);
    run(&f);
    fixture_done(&f);
    for (int i = 0; i < 3; i++)
        assert_int_equal(g[i].calls, 0);
    assert_string_equal(count.body, "{\"count\":1}");
    got_free(&count, 1);
}

static void on_free_timer(uv_timer_t *timer) {
    rt_http_free(timer->data);
    uv_close((uv_handle_t *)timer, NULL);
}

static void test_free_in_flight(void **state) {
    fixture f;
    uv_timer_t timer;
    got g[5] = {{0}};
    (void)state;
    fixture_init(&f);
    rt_http_target *t = target(&f, (target_spec){.concurrency = 1});
    rt_http_target *other = target(&f, (target_spec){.name = "other", .rate = 1});
    get(t, "/hang", &g[0]);                         /* in flight */
    get(t, "/hang", &g[1]);                         /* queued for a slot */
    get(other, "/status/503?retry_after=2", &g[2]); /* in backoff by then */
    get(other, "/delay/0", &g[3]);                  /* waiting for a token */
    post(other, "/echo", "x", true, &g[4]);
    uv_timer_init(&f.loop, &timer);
    timer.data = f.http;
    uv_timer_start(&timer, on_free_timer, 100, 0);
    f.http = NULL;
    double start = seconds();
    run(&f);
    assert_true(seconds() - start < 0.5);
    fixture_done(&f); /* ASan reports what would leak */
    for (int i = 0; i < 5; i++)
        assert_int_equal(g[i].calls, 0);
}

typedef struct freeing {
    rt_http *http;
    got g;
} freeing;

static void on_done_then_free(const rt_http_response *r, void *ud) {
    freeing *fr = ud;
    on_done(r, &fr->g);
    rt_http_free(fr->http);
}

static void test_free_from_callback(void **state) {
    fixture f;
    freeing fr = {0};
    got hung = {0};
    (void)state;
    fixture_init(&f);
    rt_http_target *t = target(&f, (target_spec){0});
    rt_http_request req = {.method = RT_HTTP_GET, .path = "/delay/10", .idempotent = true};
    fr.http = f.http;
    get(t, "/hang", &hung);
    rt_http_start(t, &req, on_done_then_free, &fr);
    f.http = NULL;
    run(&f);
    fixture_done(&f);
    assert_int_equal(fr.g.calls, 1);
    assert_int_equal(fr.g.status, 200);
    assert_int_equal(hung.calls, 0);
    got_free(&fr.g, 1);
}

static void test_bad_target(void **state) {
    static const char *const bad_header[] = {"X-Ok: 1", "Authorization " SECRET};
    fixture f;
    char why[256];
    (void)state;
    fixture_init(&f);
    rt_http_target_options o = {.name = "prom", .base_url = "ftp://x"};
    assert_null(rt_http_target_new(f.http, &o, why));
    assert_non_null(strstr(why, "http:// or https://"));
    o.base_url = "http://user:pw@host:9090";
    assert_null(rt_http_target_new(f.http, &o, why));
    assert_null(strstr(why, "pw"));
    o.base_url = "http://host:9090";
    o.headers = bad_header;
    o.n_headers = 2;
    assert_null(rt_http_target_new(f.http, &o, why));
    assert_non_null(strstr(why, "header 2"));
    assert_null(strstr(why, "s3cr3t"));
    fixture_done(&f);
}

/* JSON bodies come back from a recording as equal JSON, not byte for byte (rt_recording.h). */
static void assert_json_equal(const char *a, const char *b) {
    json_t *ja = json_loads(a, JSON_DECODE_ANY, NULL), *jb = json_loads(b, JSON_DECODE_ANY, NULL);
    if (!ja || !jb)
        assert_string_equal(a, b);
    else if (!json_equal(ja, jb))
        fail_msg("'%s' is not '%s'", a, b);
    json_decref(ja);
    json_decref(jb);
}

static void test_record_replay(void **state) {
    char dir[] = "/tmp/test_http_XXXXXX", path[64], why[256], base[64];
    rt_diag diag = {0};
    rt_recording *rec = rt_recording_new(), *loaded = NULL;
    got live[3] = {{0}}, again[3] = {{0}}, miss = {0}, miss_body = {0}, cancelled = {0};
    got miss_long_body = {0}, miss_long_path = {0};
    char long_body[301], long_path[700];
    memset(long_body, 'b', 300);
    long_body[300] = '\0';
    memcpy(long_path, "/", 1);
    memset(long_path + 1, 'p', sizeof long_path - 2);
    long_path[sizeof long_path - 1] = '\0';
    fixture f;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/recording.json", dir);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", closed_port());

    /* Record: a 200, a refused connection, a POST with a body. */
    fixture_init(&f);
    rt_http_set_recording(f.http, rec);
    rt_http_target *prom = target(&f, (target_spec){.name = "prom"});
    rt_http_target *down = target(&f, (target_spec){.name = "down", .base = base, .retries = -1});
    get(prom, "/echo?q=1", &live[0]);
    get(down, "/api/v1/query?query=up", &live[1]);
    post(prom, "/echo", "{\"a\":1}", true, &live[2]);
    run(&f);
    fixture_done(&f);
    assert_int_equal(live[0].status, 200);
    assert_int_equal(live[1].error, RT_ECONNREFUSED);
    assert_int_equal(rt_recording_save(rec, path, why), RT_OK);
    rt_recording_free(rec);

    /* Replay: no server (no base URL at all), the same outcomes, misses named. */
    assert_int_equal(rt_recording_load(path, &loaded, &diag), RT_OK);
    fixture_init(&f);
    rt_http_set_recording(f.http, loaded);
    prom = target(&f, (target_spec){.name = "prom", .base = NULL});
    down = target(&f, (target_spec){.name = "down", .base = NULL});
    get(prom, "/echo?q=1", &again[0]);
    get(down, "/api/v1/query?query=up", &again[1]);
    post(prom, "/echo", "{\"a\":1}", true, &again[2]);
    get(prom, "/echo?q=2", &miss);
    post(prom, "/api/v1/query", "query=rate(x[5m])", true, &miss_body);
    post(prom, "/api/v1/query", long_body, true, &miss_long_body);
    get(prom, long_path, &miss_long_path);
    rt_http_cancel(get(prom, "/echo?q=1", &cancelled));
    assert_int_equal(again[0].calls, 0); /* never before rt_http_start returns */
    run(&f);
    fixture_done(&f);
    rt_recording_free(loaded);
    unlink(path);
    rmdir(dir);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(again[i].calls, 1);
        assert_int_equal(again[i].error, live[i].error);
        assert_int_equal(again[i].status, live[i].status);
        assert_string_equal(again[i].message, live[i].message);
        assert_json_equal(again[i].body, live[i].body);
        assert_string_equal(again[i].content_type, live[i].content_type);
    }
    assert_int_equal(miss.error, RT_EREPLAY);
    assert_string_equal(miss.message, "replay: no recorded response for prom GET /echo?q=2");
    assert_int_equal(miss_body.error, RT_EREPLAY);
    assert_string_equal(miss_body.message, "replay: no recorded response for prom POST "
                                           "/api/v1/query with body query=rate(x[5m])");
    assert_int_equal(cancelled.calls, 0);
    /* a request that cannot be shown whole ends in "…", whether its body or its path was cut */
    char want[512];
    snprintf(
        want, sizeof want,
        "replay: no recorded response for prom POST /api/v1/query with body %.200s\xE2\x80\xA6",
        long_body);
    assert_string_equal(miss_long_body.message, want);
    size_t n = strlen(miss_long_path.message);
    assert_true(n <= 511);
    assert_string_equal(miss_long_path.message + n - 3, "\xE2\x80\xA6");
    assert_non_null(strstr(miss_long_path.message, "prom GET /ppp"));
    got_free(&miss_long_body, 1), got_free(&miss_long_path, 1);
    got_free(live, 3), got_free(again, 3), got_free(&miss, 1), got_free(&miss_body, 1);
    rt_diag_free(&diag);
}

/* A mock of its own with canned answers: 'routes' (the JSON of its --routes file) and
 * 'body' (the file body.json beside it, for a route's body_file). */
typedef struct routes_mock {
    char dir[32], routes[64], body[64], port_file[64];
    char base[64]; /* "http://127.0.0.1:PORT" */
    pid_t pid;
} routes_mock;

static void write_file(const char *path, const char *text) {
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(text, out);
    fclose(out);
}

static void routes_mock_start(routes_mock *m, const char *routes, const char *body) {
    char text[16] = "";
    int fd;
    FILE *in;
    snprintf(m->dir, sizeof m->dir, "/tmp/test_http_XXXXXX");
    assert_non_null(mkdtemp(m->dir));
    snprintf(m->routes, sizeof m->routes, "%s/routes.json", m->dir);
    snprintf(m->body, sizeof m->body, "%s/body.json", m->dir);
    snprintf(m->port_file, sizeof m->port_file, "%s/port", m->dir);
    write_file(m->body, body);
    write_file(m->routes, routes);
    const char *args[] = {"--routes", m->routes, "--port-file", m->port_file, NULL};
    m->pid = spawn_mock(args, &fd);
    close(fd);
    /* No event says the port file is there: poll for it, for the start-up only. */
    for (int i = 0; i < 500 && access(m->port_file, F_OK) != 0; i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    assert_non_null(in = fopen(m->port_file, "r"));
    assert_non_null(fgets(text, sizeof text, in));
    fclose(in);
    snprintf(m->base, sizeof m->base, "http://127.0.0.1:%d", atoi(text));
}

static void routes_mock_stop(routes_mock *m) {
    int status;
    kill(m->pid, SIGTERM);
    waitpid(m->pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unlink(m->body), unlink(m->routes), unlink(m->port_file), rmdir(m->dir);
}

/* The routes file of the mock: canned answers, checked before the built-in paths. */
static void test_mock_routes(void **state) {
    routes_mock m;
    got g[3] = {{0}};
    (void)state;
    routes_mock_start(
        &m,
        "[{\"path\": \"/q\", \"query_contains\": \"x=1\", \"body_file\": \"body.json\"},\n"
        " {\"method\": \"GET\", \"path\": \"/q\", \"status\": 500, \"delay_ms\": 50,\n"
        "  \"headers\": {\"Content-Type\": \"text/plain\"}, \"body\": \"down\"}]\n",
        "{\"status\":\"success\"}");
    fixture f;
    fixture_init(&f);
    rt_http_target *t = target(&f, (target_spec){.base = m.base, .retries = -1});
    get(t, "/q?x=1", &g[0]);
    get(t, "/q?x=2", &g[1]);
    get(t, "/nothing", &g[2]);
    run(&f);
    fixture_done(&f);
    routes_mock_stop(&m);
    assert_int_equal(g[0].status, 200);
    assert_string_equal(g[0].body, "{\"status\":\"success\"}");
    assert_int_equal(g[1].status, 500);
    assert_string_equal(g[1].body, "\"down\"");
    assert_string_equal(g[1].content_type, "text/plain");
    assert_true(g[1].duration >= 0.04);
    assert_int_equal(g[2].status, 404);
    assert_string_equal(g[2].body, "{\"error\":\"no route for GET /nothing\"}");
    got_free(g, 3);
}

/* Paths that climb out of the base URL, however written, are refused before anything is sent;
 * the others pass. */
static void test_path_climbs(void **state) {
    static const char *const climbs[] = {
        "/..",        "/../x",        "/a/../../x", "/./x",      "/a/.",      "/%2e%2e/x",
        "/%2E%2e/x",  "/.%2E/x",      "/%2e/x",     "/a/..%2fb", "/a/..%2Fb", "/a/%2F..%2Fb",
        "/a\\..\\b",  "/a/..%5cb",    "/..;/x",     "/.;x/y",    "/x/..?q=1", "/x/..#f",
        "/a/..%3f/b", "/a/%2e%2e%3F", "/a/..%23x", /* an encoded '?' or '#' ends a segment too */
    };
    static const char *const fine[] = {
        "/",         "/api/v1/query", "/a/...",        "/a/..x",   "/a/x..",       "/a/.x",
        "/a%2e%2ex", "/x?q=/../",     "/x?q=%2e%2e/y", "/x#/../y", "/a/%2e%2e%2e", "",
        "/x/..%2",   "/x/%2",         "/a%3fb/..x",
    };
    for (size_t i = 0; i < sizeof climbs / sizeof *climbs; i++)
        if (!rt_http_path_climbs(climbs[i]))
            fail_msg("'%s' climbs, but was let through", climbs[i]);
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++)
        if (rt_http_path_climbs(fine[i]))
            fail_msg("'%s' does not climb, but was refused", fine[i]);
    (void)state;

    fixture f;
    got climbed = {0}, count = {0};
    fixture_init(&f);
    rt_http_target *t = target(&f, (target_spec){.name = "api", .base = mock_url});
    get(t, "/x/%2E./count/climb?key=climb", &climbed);
    run(&f);
    get(t, "/count/climb", &count);
    run(&f);
    fixture_done(&f);
    assert_int_equal(climbed.error, RT_EINPUT);
    assert_int_equal(climbed.attempts, 0);
    assert_string_equal(climbed.message,
                        "api: the path has a '.' or '..' segment, which would leave the target's "
                        "base URL (GET /x/%2E./count/climb, 0 attempts)");
    assert_string_equal(count.body, "{\"count\":0}"); /* nothing reached the server */
    got_free(&climbed, 1), got_free(&count, 1);
}

/* A path shown in a message has its control characters escaped, so that it cannot add lines
 * of its own to a log or a result. */
static void test_path_shown(void **state) {
    char out[32], long_path[300];
    got g = {0};
    (void)state;
    rt_http_path_show("/x\r\nX-Injected: 1\t\x01\\?q=\r\n", out, sizeof out);
    assert_string_equal(out, "/x\\r\\nX-Injected: 1\\t\\x01\\\\");
    memset(long_path, 'p', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    rt_http_path_show(long_path, out, sizeof out);
    assert_int_equal(strlen(out), sizeof out - 1);
    assert_string_equal(out + strlen(out) - 3, "\xE2\x80\xA6");
    /* cut between characters, never inside one: "/" and 13 "é" fit in 28 bytes, not 14 */
    long_path[0] = '/';
    for (int i = 0; i < 40; i++)
        memcpy(long_path + 1 + 2 * i, "\xC3\xA9", 2);
    long_path[81] = '\0';
    rt_http_path_show(long_path, out, sizeof out);
    assert_int_equal(strlen(out), 1 + 26 + 3);
    assert_true(rt_utf8_valid(out, strlen(out)));
    get_one((target_spec){.name = "api"}, "/x\r\nX-Injected: 1", &g);
    assert_int_not_equal(g.error, RT_OK); /* curl refuses such a URL */
    assert_null(strpbrk(g.message, "\r\n"));
    assert_non_null(strstr(g.message, "(GET /x\\r\\nX-Injected: 1, 1 attempt)"));
    got_free(&g, 1);
}

/* What a backend echoes of a target's secrets (its headers, its secret path, in a body, in
 * JSON's "\/" form, in a message) reaches neither the caller nor the recording. */
static void test_secrets_redacted(void **state) {
    static const char *const headers[] = {"Authorization: Bearer s3cr3t-t0ken"};
    static const char *const token[] = {"s3cr3t-t0ken"};
    static const char *const hook[] = {"hooks/T1/B2/H00KS3CRET"};
    static const char *const host[] = {"127.0.0.1"};
    char base[128], refused_base[64], path[96], why[256];
    char *saved = NULL;
    size_t saved_len = 0;
    got echo = {0}, echoed_path = {0}, json_form = {0}, refused = {0}, clean = {0}, cut = {0};
    routes_mock m;
    (void)state;
    /* The last route's Content-Type holds the secret across the end of the 128 bytes kept. */
    routes_mock_start(
        &m,
        "[{\"path\": \"/hooks/T1/B2/H00KS3CRET/json\", \"status\": 400,"
        " \"body_file\": \"body.json\"},"
        " {\"path\": \"/hooks/T1/B2/H00KS3CRET/cut\", \"headers\": {\"Content-Type\":"
        " \"text/plain; k=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxhooks/T1/B2/H00KS3CRET\"}, \"body\": {}}]",
        "{\"error\":\"bad hook hooks\\/T1\\/B2\\/H00KS3CRET\"}");
    snprintf(base, sizeof base, "%s/hooks/T1/B2/H00KS3CRET", m.base);
    snprintf(refused_base, sizeof refused_base, "http://127.0.0.1:%d", closed_port());
    rt_recording *rec = rt_recording_new();
    fixture f;
    fixture_init(&f);
    rt_http_set_recording(f.http, rec);
    rt_http_target *api = target(
        &f,
        (target_spec){
            .name = "api", .headers = headers, .n_headers = 1, .secrets = token, .n_secrets = 1});
    rt_http_target *slack =
        target(&f, (target_spec){.name = "slack", .base = base, .secrets = hook, .n_secrets = 1});
    rt_http_target *down = target(
        &f,
        (target_spec){
            .name = "down", .base = refused_base, .retries = -1, .secrets = host, .n_secrets = 1});
    get(api, "/echo", &echo);
    get(slack, "/nothing", &echoed_path);
    get(slack, "/json", &json_form);
    get(slack, "/cut", &cut);
    get(down, "/x", &refused);
    run(&f);
    fixture_done(&f);
    routes_mock_stop(&m);
    /* No secrets given: nothing to redact, nothing searched. */
    get_one((target_spec){.name = "plain", .headers = headers, .n_headers = 1}, "/echo", &clean);
    assert_int_equal(echo.status, 200);
    assert_null(strstr(echo.body, "s3cr3t"));
    assert_non_null(strstr(echo.body, "\"authorization\":\"Bearer [redacted]\""));
    assert_int_equal(echoed_path.status, 404);
    assert_string_equal(echoed_path.body, "{\"error\":\"no route for GET /[redacted]/nothing\"}");
    assert_int_equal(json_form.status, 400);
    assert_string_equal(json_form.body, "{\"error\":\"bad hook [redacted]\"}");
    /* Cut to its buffer, a content type kept the secret's start: that start is cut off too. */
    assert_int_equal(cut.status, 200);
    assert_null(strstr(cut.content_type, "hooks/"));
    assert_non_null(strstr(cut.content_type, "text/plain; k=xxx"));
    assert_int_equal(refused.error, RT_ECONNREFUSED);
    assert_non_null(strstr(refused.message, "connection refused by [redacted]:"));
    assert_non_null(strstr(clean.body, "s3cr3t-t0ken"));
    /* The recording holds what the caller got. */
    char dir[] = "/tmp/test_http_XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/recording.json", dir);
    assert_int_equal(rt_recording_save(rec, path, why), RT_OK);
    rt_recording_free(rec);
    assert_int_equal(rt_file_read(path, 1 << 20, &saved, &saved_len, why), RT_OK);
    assert_null(strstr(saved, "s3cr3t"));
    assert_null(strstr(saved, "H00KS3CRET"));
    assert_non_null(strstr(saved, "[redacted]"));
    free(saved);
    unlink(path);
    rmdir(dir);
    got_free(&echo, 1), got_free(&echoed_path, 1), got_free(&json_form, 1);
    got_free(&refused, 1), got_free(&clean, 1), got_free(&cut, 1);
}

/* One header over curl's 100 KiB: said so, not "Out of memory". */
/* A secret echoed inside a JSON string, in any of the ways JSON writers escape it, is redacted
 * too: '"', '\' and control characters escaped, '/' too or not, non-ASCII characters as they are
 * or as \uXXXX (past U+FFFF, a surrogate pair) in either case. */
static void test_secret_json_forms(void **state) {
    static const char *const secret[] = {"a\"b\\c/d\xc3\xa9\t\xf0\x9f\x94\x91"};
    got g = {0};
    routes_mock m;
    (void)state;
    routes_mock_start(&m,
                      "[{\"path\": \"/echo\", \"headers\": {\"Content-Type\": \"text/plain\"},"
                      " \"body_file\": \"body.json\"}]",
                      "1 a\\\"b\\\\c/d\xc3\xa9\\t\xf0\x9f\x94\x91 "
                      "2 a\\\"b\\\\c\\/d\xc3\xa9\\t\xf0\x9f\x94\x91 "
                      "3 a\\\"b\\\\c/d\\u00E9\\t\\uD83D\\uDD11 "
                      "4 a\\\"b\\\\c\\/d\\u00e9\\t\\ud83d\\udd11 "
                      "5 a\"b\\c/d\xc3\xa9\t\xf0\x9f\x94\x91");
    get_one((target_spec){.base = m.base, .secrets = secret, .n_secrets = 1}, "/echo", &g);
    routes_mock_stop(&m);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body, "1 [redacted] 2 [redacted] 3 [redacted] 4 [redacted] 5 [redacted]");
    got_free(&g, 1);
}

static void test_header_too_big(void **state) {
    size_t big = 200000;
    char *routes = malloc(big + 200);
    int n = snprintf(routes, big + 200, "[{\"path\": \"/big\", \"headers\": {\"X-Big\": \"");
    memset(routes + n, 'a', big);
    strcpy(routes + n + big, "\"}, \"body\": {}}]");
    routes_mock m;
    got g = {0};
    (void)state;
    routes_mock_start(&m, routes, "");
    free(routes);
    get_one((target_spec){.name = "api", .base = m.base}, "/big", &g);
    routes_mock_stop(&m);
    assert_int_equal(g.error, RT_ETOOBIG);
    assert_int_equal(g.attempts, 1);
    assert_string_equal(g.message,
                        "api: a response header larger than curl's 100 KiB limit (GET /big, 1 "
                        "attempt)");
    got_free(&g, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_post),
        cmocka_unit_test(test_status_delivered),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_retries_exhausted),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_allowance),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_hundred_at_once),
        cmocka_unit_test(test_queue_timeout),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_free_in_flight),
        cmocka_unit_test(test_free_from_callback),
        cmocka_unit_test(test_bad_target),
        cmocka_unit_test(test_record_replay),
        cmocka_unit_test(test_mock_routes),
        cmocka_unit_test(test_path_climbs),
        cmocka_unit_test(test_path_shown),
        cmocka_unit_test(test_secrets_redacted),
        cmocka_unit_test(test_secret_json_forms),
        cmocka_unit_test(test_header_too_big),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
