/* tests/unit/test_httpd.c -- runtime/rt_httpd.c against raw loopback sockets: well-formed
 * requests (query, headers, Content-Length and chunked bodies, keep-alive, pipelining, answers
 * given later, HTTP/1.0, Expect: 100-continue), hostile ones (garbage, oversized headers and
 * bodies, slowloris, too many connections, a client that leaves before its answer), the error
 * counters, and that the server answers a good request after each bad one.
 *
 * Each test starts its own server, whose loop runs in a second thread; the test itself is the
 * client, with blocking sockets (5 s receive timeout, so that a bug fails instead of hanging).
 * Whatever must happen on the loop (reading counters, answering a parked request, closing the
 * server) goes through on_loop(), which runs a function there and waits for it. Closing the
 * server at the end of each test checks that its 'done' callback runs and the loop has no
 * handle left. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cmocka.h>
#include "rt_httpd.h"

/* ---- the server, on its own thread -------------------------------------------------------- */

typedef struct server {
    uv_loop_t loop;
    uv_async_t wake;
    pthread_t thread;
    rt_httpd *httpd;
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*call)(void *); /* what on_loop asked for */
    void *call_arg;
    bool call_done;
    /* what the handler saw, under 'mu' */
    rt_httpd_req *parked;
    int parked_count, aborts;
    bool answer_in_abort; /* answer the parked request from its abort callback */
    bool closed;          /* rt_httpd_close's 'done' ran */
    int abort_rc;         /* what answering from the abort callback returned */
    int header_rc[4];     /* what rt_httpd_set_header returned in /auth */
} server;

static server S;

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_wake(uv_async_t *async) {
    (void)async;
    pthread_mutex_lock(&S.mu);
    void (*call)(void *) = S.call;
    void *arg = S.call_arg;
    S.call = NULL;
    pthread_mutex_unlock(&S.mu);
    if (!call)
        return;
    call(arg);
    pthread_mutex_lock(&S.mu);
    S.call_done = true;
    pthread_cond_broadcast(&S.cv);
    pthread_mutex_unlock(&S.mu);
}

static void sleep_for(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Runs 'fn'('arg') on the loop's thread and waits until it has run. */
static void on_loop(void (*fn)(void *), void *arg) {
    pthread_mutex_lock(&S.mu);
    S.call = fn;
    S.call_arg = arg;
    S.call_done = false;
    pthread_mutex_unlock(&S.mu);
    uv_async_send(&S.wake);
    pthread_mutex_lock(&S.mu);
    while (!S.call_done)
        pthread_cond_wait(&S.cv, &S.mu);
    pthread_mutex_unlock(&S.mu);
}

/* Waits (5 s at most) until '*value' (guarded by S.mu) reaches 'want'. */
static void wait_count(int *value, int want) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&S.mu);
    while (*value < want)
        if (pthread_cond_timedwait(&S.cv, &S.mu, &until) == ETIMEDOUT)
            break;
    int got = *value;
    pthread_mutex_unlock(&S.mu);
    assert_int_equal(got, want);
}

static void signal_change(void) {
    pthread_cond_broadcast(&S.cv);
}

/* ---- the handler ---------------------------------------------------------------------------- */

typedef struct later {
    uv_timer_t timer;
    rt_httpd_req *req;
    long ms;
} later;

static void on_later_closed(uv_handle_t *h) {
    free(h->data);
}

static void on_later(uv_timer_t *t) {
    later *l = t->data;
    rt_httpd_respond_json(l->req, 200, json_pack("{s:I}", "async", (json_int_t)l->ms));
    uv_close((uv_handle_t *)t, on_later_closed);
}

static void on_parked_abort(rt_httpd_req *req, void *ud) {
    (void)ud;
    pthread_mutex_lock(&S.mu);
    S.aborts++;
    bool answer = S.answer_in_abort;
    if (answer)
        S.parked = NULL;
    signal_change();
    pthread_mutex_unlock(&S.mu);
    if (answer) {
        int rc = rt_httpd_respond(req, 200, NULL, NULL, 0);
        pthread_mutex_lock(&S.mu);
        S.abort_rc = rc;
        pthread_mutex_unlock(&S.mu);
    }
}

static json_t *optional(const char *s) {
    return s ? json_string(s) : json_null();
}

static void answer_echo(rt_httpd_req *req) {
    char a[64];
    int n = rt_httpd_query(req, "a", a, sizeof a);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s%,s:s,s:I,s:o,s:o,s:o}", "method", req->method, "path",
                          req->path, "query", req->query, "body", req->body, req->body_len,
                          "remote", req->remote, "headers", (json_int_t)rt_httpd_header_count(req),
                          "a", n >= 0 ? json_string(a) : json_null(), "test",
                          optional(rt_httpd_header(req, "x-TEST")), "authorization",
                          optional(rt_httpd_header(req, "Authorization")));
    rt_httpd_respond_json(req, 200, o);
}

static void handler(rt_httpd_req *req, void *ud) {
    char arg[32];
    (void)ud;
    if (strcmp(req->path, "/echo") == 0) {
        answer_echo(req);
    } else if (strcmp(req->path, "/async") == 0) {
        later *l = calloc(1, sizeof *l);
        l->req = req;
        l->ms = rt_httpd_query(req, "ms", arg, sizeof arg) > 0 ? atol(arg) : 0;
        uv_timer_init(&S.loop, &l->timer);
        l->timer.data = l;
        uv_timer_start(&l->timer, on_later, (uint64_t)l->ms, 0);
    } else if (strcmp(req->path, "/park") == 0) {
        rt_httpd_on_abort(req, on_parked_abort, NULL);
        pthread_mutex_lock(&S.mu);
        S.parked = req;
        S.parked_count++;
        signal_change();
        pthread_mutex_unlock(&S.mu);
    } else if (strcmp(req->path, "/auth") == 0) {
        /* No cmocka asserts off the main thread: the results are checked there. */
        int rc[4] = {rt_httpd_set_header(req, "WWW-Authenticate", "Bearer"),
                     rt_httpd_set_header(req, "X-Bad", "a\r\nSet-Cookie: x"),
                     rt_httpd_set_header(req, "Bad Name", "x"),
                     rt_httpd_set_header(req, "Content-Length", "1")};
        pthread_mutex_lock(&S.mu);
        memcpy(S.header_rc, rc, sizeof rc);
        pthread_mutex_unlock(&S.mu);
        rt_httpd_error(req, 401, "unauthorized", "a token is %s", "missing");
    } else if (strcmp(req->path, "/big") == 0) {
        size_t n = rt_httpd_query(req, "n", arg, sizeof arg) > 0 ? (size_t)atol(arg) : 0;
        char *body = malloc(n + 1);
        memset(body, 'z', n);
        rt_httpd_respond(req, 200, "text/plain", body, n); /* copied: freed at once */
        free(body);
    } else if (strcmp(req->path, "/created") == 0) {
        rt_httpd_set_header(req, "Location", "/v1/analyses/42");
        rt_httpd_respond(req, 201, "text/plain", "made", 4);
    } else {
        rt_httpd_error(req, 404, "not_found", "no route for %s %s", req->method, req->path);
    }
}

/* ---- starting and stopping ------------------------------------------------------------------ */

static void *loop_main(void *arg) {
    (void)arg;
    uv_run(&S.loop, UV_RUN_DEFAULT);
    return NULL;
}

static void start(rt_httpd_options o) {
    char why[256] = "";
    pthread_mutex_lock(&S.mu);
    S.parked = NULL;
    S.parked_count = S.aborts = 0;
    S.answer_in_abort = S.closed = false;
    pthread_mutex_unlock(&S.mu);
    assert_int_equal(uv_loop_init(&S.loop), 0);
    o.handler = handler;
    S.httpd = rt_httpd_new(&S.loop, &o, why);
    if (!S.httpd)
        fail_msg("rt_httpd_new: %s", why);
    S.port = rt_httpd_port(S.httpd);
    assert_true(S.port > 0);
    uv_async_init(&S.loop, &S.wake, on_wake);
    assert_int_equal(pthread_create(&S.thread, NULL, loop_main, NULL), 0);
}

static void on_closed(void *ud) {
    (void)ud;
    pthread_mutex_lock(&S.mu);
    S.closed = true;
    pthread_mutex_unlock(&S.mu);
}

static void do_close(void *arg) {
    (void)arg;
    rt_httpd_close(S.httpd, on_closed, NULL);
    uv_close((uv_handle_t *)&S.wake, NULL);
}

/* Closes the server; its loop must then run out of work, with 'done' called. */
static void stop(void) {
    on_loop(do_close, NULL);
    pthread_join(S.thread, NULL);
    assert_true(S.closed);
    assert_int_equal(uv_loop_close(&S.loop), 0);
}

static rt_httpd_stats stats_now;

static void read_stats(void *arg) {
    (void)arg;
    rt_httpd_get_stats(S.httpd, &stats_now);
}

static rt_httpd_stats stats(void) {
    on_loop(read_stats, NULL);
    return stats_now;
}

/* How many errors with 'code' were counted. */
static uint64_t errors_of(const char *code) {
    rt_httpd_stats st = stats();
    for (size_t i = 0; i < st.n_errors; i++)
        if (strcmp(st.errors[i].code, code) == 0)
            return st.errors[i].count;
    return 0;
}

/* ---- the client ----------------------------------------------------------------------------- */

typedef struct client {
    int fd;
    char buf[65536];
    size_t len;
} client;

typedef struct response {
    int status;
    char head[8192];
    char body[65536];
    size_t body_len;
    json_t *json; /* the body when it is JSON */
} response;

/* A connection whose receive buffer holds about 'rcvbuf' bytes (0: the system's). */
static client *connect_with(int rcvbuf) {
    client *c = calloc(1, sizeof *c);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port)};
    struct timeval tv = {.tv_sec = 5};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (rcvbuf)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    return c;
}

static client *connect_client(void) {
    return connect_with(0);
}

static void disconnect(client *c) {
    close(c->fd);
    free(c);
}

static void send_bytes(client *c, const char *data, size_t n) {
    while (n > 0) {
        ssize_t k = send(c->fd, data, n, MSG_NOSIGNAL);
        assert_true(k > 0);
        data += k;
        n -= (size_t)k;
    }
}

static void send_text(client *c, const char *text) {
    send_bytes(c, text, strlen(text));
}

/* Reads more; false at the end of the stream. */
static bool fill(client *c) {
    assert_true(c->len < sizeof c->buf);
    ssize_t k = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (k < 0 && errno == EAGAIN)
        fail_msg("no answer within 5 s");
    if (k <= 0)
        return false;
    c->len += (size_t)k;
    return true;
}

static void consume(client *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* The value of header 'name' in 'r' into a static buffer, or NULL. */
static const char *header_of(const response *r, const char *name) {
    static char value[1024];
    size_t n = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 2 + n + 1 + strspn(p + 2 + n + 1, " ");
            snprintf(value, sizeof value, "%.*s", (int)strcspn(v, "\r"), v);
            return value;
        }
    }
    return NULL;
}

/* The length of the status line and headers in 'c', blank line included; 0 when incomplete. */
static size_t head_length(const client *c) {
    for (size_t i = 0; i + 4 <= c->len; i++)
        if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    return 0;
}

/* Reads one response; with 'head_only' (the answer to HEAD) its status line and headers. */
static void read_answer(client *c, response *r, bool head_only) {
    size_t head_len;
    json_decref(r->json);
    memset(r, 0, sizeof *r);
    while (!(head_len = head_length(c)))
        if (!fill(c))
            fail_msg("the connection closed before an answer; got '%.*s'", (int)c->len, c->buf);
    assert_true(head_len < sizeof r->head);
    memcpy(r->head, c->buf, head_len);
    consume(c, head_len);
    assert_int_equal(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1);
    const char *cl = header_of(r, "Content-Length");
    r->body_len = cl && !head_only ? (size_t)atol(cl) : 0;
    assert_true(r->body_len < sizeof r->body);
    while (c->len < r->body_len)
        if (!fill(c))
            fail_msg("the connection closed inside a body");
    memcpy(r->body, c->buf, r->body_len);
    consume(c, r->body_len);
    r->json = json_loadb(r->body, r->body_len, 0, NULL);
}

static void read_response(client *c, response *r) {
    read_answer(c, r, false);
}

static void free_response(response *r) {
    json_decref(r->json);
    r->json = NULL;
}

/* The server closed the connection, after nothing more. */
static void expect_eof(client *c) {
    assert_false(fill(c));
    assert_int_equal(c->len, 0);
}

static const char *json_str(const json_t *o, const char *path1, const char *path2) {
    const json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

/* Checks an error answer: 'status', the house JSON shape with 'code', and "Connection: close"
 * when 'closes'. */
static void expect_error(const response *r, int status, const char *code, bool closes) {
    if (r->status != status)
        fail_msg("expected %d, got '%s%s'", status, r->head, r->body);
    assert_non_null(r->json);
    assert_string_equal(json_str(r->json, "error", "code"), code);
    assert_non_null(json_str(r->json, "error", "message"));
    assert_string_equal(header_of(r, "Content-Type"), "application/json");
    if (closes)
        assert_string_equal(header_of(r, "Connection"), "close");
}

/* A good request on a fresh connection still gets its answer. */
static void expect_still_serving(void) {
    client *c = connect_client();
    response r = {0};
    send_text(c, "GET /echo?a=ok HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(r.json, "a", NULL), "ok");
    free_response(&r);
    disconnect(c);
}

/* Sends 'request' on a fresh connection, expects the error 'status' with 'code', then the
 * connection's end, then that the server still serves. */
static void expect_refused(const char *request, int status, const char *code) {
    client *c = connect_client();
    response r = {0};
    send_text(c, request);
    read_response(c, &r);
    expect_error(&r, status, code, true);
    expect_eof(c);
    free_response(&r);
    disconnect(c);
    expect_still_serving();
}

/* ---- well-formed requests ------------------------------------------------------------------- */

static void test_get_query_and_headers(void **state) {
    (void)state;
    start((rt_httpd_options){0});
    client *c = connect_client();
    response r = {0};
    send_text(c, "GET /echo?b=2&a=x%20y+z%2B#frag HTTP/1.1\r\nHost: x\r\nX-Test: hello there\r\n"
                 "X-Empty:\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header_of(&r, "Content-Type"), "application/json");
    assert_non_null(header_of(&r, "Date"));
    assert_null(header_of(&r, "Connection"));
    assert_string_equal(json_str(r.json, "method", NULL), "GET");
    assert_string_equal(json_str(r.json, "path", NULL), "/echo");
    assert_string_equal(json_str(r.json, "query", NULL), "b=2&a=x%20y+z%2B");
    assert_string_equal(json_str(r.json, "a", NULL), "x y z+");
    assert_string_equal(json_str(r.json, "test", NULL), "hello there");
    assert_int_equal(json_integer_value(json_object_get(r.json, "headers")), 3);
    assert_true(strncmp(json_str(r.json, "remote", NULL), "127.0.0.1:", 10) == 0);
    assert_string_equal(json_str(r.json, "body", NULL), "");

    /* Extra headers, a status other than 200, a body that is not JSON. */
    send_text(c, "POST /created HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(header_of(&r, "Location"), "/v1/analyses/42");
    assert_string_equal(header_of(&r, "Content-Type"), "text/plain");
    assert_int_equal(r.body_len, 4);
    assert_memory_equal(r.body, "made", 4);

    /* HEAD: the headers of the answer, with its length, and no body. */
    send_text(c, "HEAD /created HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?a=after HTTP/1.1\r\n\r\n");
    read_answer(c, &r, true);
    assert_int_equal(r.status, 201);
    assert_string_equal(header_of(&r, "Content-Length"), "4");
    read_response(c, &r); /* starts right after the headers of the one before */
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(r.json, "a", NULL), "after");
    free_response(&r);
    disconnect(c);
    stop();
}

static void test_query_decoding(void **state) {
    char out[16];
    rt_httpd_req req = {.query = "a=1&b=%41%62+c&c&d=&e=%4&f=%00&g=0123456789abcdefghij&b=2"};
    (void)state;
    assert_int_equal(rt_httpd_query(&req, "a", out, sizeof out), 1);
    assert_string_equal(out, "1");
    assert_int_equal(rt_httpd_query(&req, "b", out, sizeof out), 4);
    assert_string_equal(out, "Ab c");
    assert_int_equal(rt_httpd_query(&req, "c", out, sizeof out), 0);
    assert_int_equal(rt_httpd_query(&req, "d", out, sizeof out), 0);
    assert_int_equal(rt_httpd_query(&req, "e", out, sizeof out), RT_ESYNTAX);
    assert_int_equal(rt_httpd_query(&req, "f", out, sizeof out), RT_ESYNTAX);
    assert_int_equal(rt_httpd_query(&req, "g", out, sizeof out), RT_ETOOBIG);
    assert_int_equal(rt_httpd_query(&req, "zz", out, sizeof out), RT_ENOTFOUND);
    assert_int_equal(rt_httpd_url_decode("a%2Fb+", 6, false, out, sizeof out), 4);
    assert_string_equal(out, "a/b+");
}

static void test_post_bodies(void **state) {
    (void)state;
    start((rt_httpd_options){0});
    client *c = connect_client();
    response r = {0};
    send_text(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(r.json, "method", NULL), "POST");
    assert_string_equal(json_str(r.json, "body", NULL), "hello world");

    /* Chunked, in pieces that split a chunk header, on the same connection. */
    send_text(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r");
    send_text(c, "\nhello\r\n6\r\n world\r\n");
    send_text(c, "0\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(r.json, "body", NULL), "hello world");
    free_response(&r);
    disconnect(c);
    stop();
}

/* Trailers of a chunked body are dropped: not headers (an Authorization trailer must not pass for
 * one), and the request's path and query stay as they were (they once pointed into a buffer that
 * a long trailer moved: a use-after-free). Trailers still count against the header limit. */
static void test_chunked_trailers(void **state) {
    (void)state;
    start((rt_httpd_options){.max_header_bytes = 8192});
    client *c = connect_client();
    response r = {0};
    char trailer[3001];
    memset(trailer, 't', sizeof trailer - 1);
    trailer[sizeof trailer - 1] = '\0';
    send_text(c, "POST /echo?a=kept HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "2\r\n{}\r\n0\r\nX-Test: ");
    send_text(c, trailer);
    send_text(c, "\r\nAuthorization: Bearer from-a-trailer\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(r.json, "path", NULL), "/echo");
    assert_string_equal(json_str(r.json, "query", NULL), "a=kept");
    assert_string_equal(json_str(r.json, "a", NULL), "kept");
    assert_string_equal(json_str(r.json, "body", NULL), "{}");
    assert_int_equal(json_integer_value(json_object_get(r.json, "headers")), 2);
    assert_true(json_is_null(json_object_get(r.json, "test")));
    assert_true(json_is_null(json_object_get(r.json, "authorization")));
    /* The connection goes on. */
    send_text(c, "GET /echo?a=next HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(r.json, "a", NULL), "next");
    free_response(&r);
    disconnect(c);

    /* Trailers past the header limit are refused like headers past it. */
    c = connect_client();
    send_text(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "2\r\n{}\r\n0\r\n");
    for (int i = 0; i < 3; i++) {
        send_text(c, "X-Test: ");
        send_text(c, trailer);
        send_text(c, "\r\n");
    }
    read_response(c, &r);
    expect_error(&r, 431, "headers_too_large", true);
    expect_eof(c);
    free_response(&r);
    disconnect(c);
    expect_still_serving();
    stop();
}

static void test_keep_alive(void **state) {
    (void)state;
    start((rt_httpd_options){0});
    client *c = connect_client();
    response r = {0};
    for (int i = 0; i < 3; i++) {
        char req[128], want[8];
        snprintf(req, sizeof req, "GET /echo?a=%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        snprintf(want, sizeof want, "%d", i);
        send_text(c, req);
        read_response(c, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_str(r.json, "a", NULL), want);
    }
    rt_httpd_stats st = stats();
    assert_int_equal(st.connections_accepted, 1);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.responses[2], 3);
    free_response(&r);
    disconnect(c);
    stop();
}

static void test_pipelining_in_order(void **state) {
    (void)state;
    start((rt_httpd_options){0});
    client *c = connect_client();
    response r = {0};
    /* The first answer comes late, the second at once, the third a little later: answers must
     * still leave in request order. */
    send_text(c, "GET /async?ms=80 HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /echo?a=second HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /async?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "async")), 80);
    read_response(c, &r);
    assert_string_equal(json_str(r.json, "a", NULL), "second");
    read_response(c, &r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "async")), 1);
    free_response(&r);
    disconnect(c);
    stop();
}

static void test_async_answer(void **state) {
    (void)state;
    start((rt_httpd_options){0});
    client *c = connect_client();
    response r = {0};
    double t0 = seconds();
    send_text(c, "GET /async?ms=150 HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(c, &r);
    assert_true(seconds() - t0 >= 0.14);
    assert_int_equal(json_integer_value(json_object_get(r.json, "async")), 150);
    free_response(&r);
    disconnect(c);
    stop();
}

/* Reads the answer to GET /big: its headers, then 'n' body bytes, reading slowly when 'slow'. */
static void read_big(client *c, size_t n) {
    response r = {0};
    read_answer(c, &r, true);
    assert_int_equal(r.status, 200);
    assert_int_equal(atol(header_of(&r, "Content-Length")), (long)n);
    size_t got = c->len;
    c->len = 0;
    while (got < n) {
        ssize_t k = recv(c->fd, c->buf, n - got < sizeof c->buf ? n - got : sizeof c->buf, 0);
        assert_true(k > 0);
        assert_int_equal(c->buf[k - 1], 'z');
        got += (size_t)k;
    }
    assert_int_equal(got, n);
}

static void test_large_answers(void **state) {
    (void)state;
    start((rt_httpd_options){.write_timeout = 0.3});
    client *c = connect_with(16384); /* no autotuning: 8 MiB cannot sit in buffers */
    response r = {0};
    /* 8 MiB does not fit in the socket's buffers: the rest leaves with uv_write, and the
     * connection goes on afterwards. */
    send_text(c, "GET /big?n=8388608 HTTP/1.1\r\n\r\n");
    read_big(c, 8388608);
    send_text(c, "GET /echo?a=next HTTP/1.1\r\n\r\n");
    read_response(c, &r);
    assert_string_equal(json_str(r.json, "a", NULL), "next");
    /* A client that does not read is cut off after the write timeout. */
    send_text(c, "GET /big?n=8388608 HTTP/1.1\r\n\r\n");
    double until = seconds() + 5;
    while (stats().timeouts < 1 && seconds() < until)
        sched_yield();
    assert_int_equal(stats().timeouts, 1);
    free_response(&r);
    disconnect(c);
    expect_still_serving();
    stop();
}

/* More pipelined requests than the input buffer holds, behind an answer that comes late: the
 * server stops reading, then catches up, and answers every one in order. */
static void test_pipelined_flood(void **state) {
    enum { N = 2000 };
    static char requests[N * 64];
    size_t n = 0;
    (void)state;
    start((rt_httpd_options){0});
    client *c = connect_client();
    response r = {0};
    n += (size_t)snprintf(requests, sizeof requests, "GET /async?ms=50 HTTP/1.1\r\n\r\n");
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(requests + n, sizeof requests - n, "GET /echo?a=%d HTTP/1.1\r\n\r\n",
                              i);
    assert_true(n > 32768);
    send_bytes(c, requests, n);
    read_response(c, &r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "async")), 50);
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        read_response(c, &r);
        assert_string_equal(json_str(r.json, "a", NULL), want);
    }
    assert_int_equal(stats().requests, N + 1);
    free_response(&r);
    disconnect(c);
    stop();
}

static void answer_parked_late(void *arg) {
    int *rc = arg;
    pthread_mutex_lock(&S.mu);
    rt_httpd_req *req = S.parked;
    S.parked = NULL;
    pthread_mutex_unlock(&S.mu);
    rc[1] = rt_httpd_aborted(req);
    rc[0] = rt_httpd_error(req, 504, "too_late", "nobody is listening");
}

static void test_client_leaves_before_answer(void **state) {
    int rc[2] = {0, 0};
    (void)state;
    start((rt_httpd_options){0});
    client *c = connect_client();
    send_text(c, "GET /park HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_count(&S.parked_count, 1);
    disconnect(c);
    wait_count(&S.aborts, 1); /* the abort callback fired */
    on_loop(answer_parked_late, rc);
    assert_int_equal(rc[1], 1);
    assert_int_equal(rc[0], RT_ECANCELED); /* a late answer is harmless */
    rt_httpd_stats st = stats();
    assert_int_equal(st.aborted, 1);
    assert_int_equal(st.responses[5], 0); /* nothing was sent, nothing counted */
    assert_int_equal(errors_of("too_late"), 0);
    expect_still_serving();
    stop();
}

static void answer_parked_ok(void *arg) {
    (void)arg;
    pthread_mutex_lock(&S.mu);
    rt_httpd_req *req = S.parked;
    S.parked = NULL;
    pthread_mutex_unlock(&S.mu);
    rt_httpd_respond(req, 202, "text/plain", "held", 4);
}

/* stats.waiting counts the requests the handler holds for a client that waits, which is what a
 * drain waits for: the server's own refusals, counted in the responses, are not in it. */
static void test_waiting_requests(void **state) {
    int rc[2] = {0, 0};
    (void)state;
    start((rt_httpd_options){0});
    expect_refused("HELLO\x01 WORLD\r\n\r\n", 400, "bad_request");
    client *c = connect_client();
    response r = {0};
    send_text(c, "GET /park HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_count(&S.parked_count, 1);
    rt_httpd_stats st = stats();
    assert_int_equal(st.waiting, 1);
    /* Answers (the refusal and expect_still_serving's) as many as requests: not a sign of quiet. */
    assert_int_equal(st.requests, 2);
    assert_int_equal(st.responses[2] + st.responses[4], 2);
    on_loop(answer_parked_ok, NULL);
    read_response(c, &r);
    assert_int_equal(r.status, 202);
    assert_int_equal(stats().waiting, 0);
    /* A request whose client left is not waited for, also before the handler lets it go. */
    send_text(c, "GET /park HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_count(&S.parked_count, 2);
    assert_int_equal(stats().waiting, 1);
    disconnect(c);
    wait_count(&S.aborts, 1);
    assert_int_equal(stats().waiting, 0);
    on_loop(answer_parked_late, rc);
    assert_int_equal(rc[0], RT_ECANCELED);
    assert_int_equal(stats().waiting, 0);
    free_response(&r);
    stop();
}

static void test_close_with_request_pending(void **state) {
    (void)state;
    start((rt_httpd_options){0});
    pthread_mutex_lock(&S.mu);
    S.answer_in_abort = true;
    pthread_mutex_unlock(&S.mu);
    client *c = connect_client();
    send_text(c, "GET /park HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_count(&S.parked_count, 1);
    stop(); /* aborts the parked request, which is answered from its abort callback */
    assert_int_equal(S.aborts, 1);
    assert_int_equal(S.abort_rc, RT_ECANCELED);
    expect_eof(c);
    disconnect(c);
}

static void test_http10(void **state) {
    (void)state;
    start((rt_httpd_options){0});
    client *c = connect_client();
    response r = {0};
    send_text(c, "GET /echo?a=1 HTTP/1.0\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header_of(&r, "Connection"), "close");
    expect_eof(c);
    disconnect(c);

    /* HTTP/1.0 that asks to be kept alive is. */
    c = connect_client();
    send_text(c, "GET /echo?a=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    read_response(c, &r);
    assert_string_equal(header_of(&r, "Connection"), "keep-alive");
    send_text(c, "GET /echo?a=2 HTTP/1.1\r\nConnection: close\r\n\r\n");
    read_response(c, &r);
    assert_string_equal(json_str(r.json, "a", NULL), "2");
    assert_string_equal(header_of(&r, "Connection"), "close");
    expect_eof(c);
    free_response(&r);
    disconnect(c);
    stop();
}

static void test_expect_continue(void **state) {
    (void)state;
    start((rt_httpd_options){.max_body_bytes = 1024});
    client *c = connect_client();
    response r = {0};
    send_text(
        c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 100);
    send_text(c, "hello");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(r.json, "body", NULL), "hello");
    free_response(&r);
    disconnect(c);

    /* Too big: refused at once, without 100 Continue; an unknown expectation: 417. */
    expect_refused("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                   "Content-Length: 5000\r\n\r\n",
                   413, "body_too_large");
    expect_refused("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: coffee\r\nContent-Length: 5\r\n\r\n",
                   417, "expectation_failed");
    stop();
}

/* ---- hostile requests ----------------------------------------------------------------------- */

static void test_body_too_large(void **state) {
    (void)state;
    start((rt_httpd_options){.max_body_bytes = 1024});
    /* Declared: refused before a byte of it is read. */
    expect_refused("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", 413,
                   "body_too_large");
    /* Chunked: refused when the chunks pass the limit, while the client is still sending. */
    client *c = connect_client();
    response r = {0};
    char chunk[700];
    memset(chunk, 'x', sizeof chunk);
    send_text(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        send_text(c, "258\r\n"); /* 600 */
        send_bytes(c, chunk, 600);
        send_text(c, "\r\n");
    }
    read_response(c, &r);
    expect_error(&r, 413, "body_too_large", true);
    expect_eof(c);
    free_response(&r);
    disconnect(c);
    expect_still_serving();
    /* A body at the limit is fine. */
    c = connect_client();
    char request[2048];
    int n =
        snprintf(request, sizeof request, "POST /echo HTTP/1.1\r\nContent-Length: 1024\r\n\r\n");
    memset(request + n, 'y', 1024);
    send_bytes(c, request, (size_t)n + 1024);
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    free_response(&r);
    disconnect(c);
    assert_int_equal(errors_of("body_too_large"), 2);
    stop();
}

static void test_headers_too_large(void **state) {
    static char request[32768];
    (void)state;
    start((rt_httpd_options){0});
    /* One 20 KiB header: more than the 16 KiB of the default. */
    int n = snprintf(request, sizeof request, "GET /echo HTTP/1.1\r\nX-Big: ");
    memset(request + n, 'b', 20000);
    snprintf(request + n + 20000, sizeof request - (size_t)n - 20000, "\r\n\r\n");
    expect_refused(request, 431, "headers_too_large");
    /* 150 small ones: more than 100 lines. */
    n = snprintf(request, sizeof request, "GET /echo HTTP/1.1\r\n");
    for (int i = 0; i < 150; i++)
        n += snprintf(request + n, sizeof request - (size_t)n, "X-H%d: v\r\n", i);
    snprintf(request + n, sizeof request - (size_t)n, "\r\n");
    expect_refused(request, 431, "too_many_headers");
    /* A 20 KiB URL. */
    n = snprintf(request, sizeof request, "GET /echo?a=");
    memset(request + n, 'u', 20000);
    snprintf(request + n + 20000, sizeof request - (size_t)n - 20000, " HTTP/1.1\r\n\r\n");
    expect_refused(request, 414, "uri_too_long");
    assert_int_equal(errors_of("headers_too_large"), 1);
    assert_int_equal(stats().responses[4], 3);
    stop();
}

static void test_malformed(void **state) {
    (void)state;
    start((rt_httpd_options){0});
    expect_refused("HELLO\x01 WORLD\r\n\r\n", 400, "bad_request");
    expect_refused("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "bad_request"); /* TLS */
    expect_refused("GET /echo HTTP/1.1\r\nBad Header Line\r\n\r\n", 400, "bad_request");
    expect_refused("GET nopath HTTP/1.1\r\n\r\n", 400, "invalid_url");
    expect_refused("GET /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
                   "bad_request");
    expect_refused("POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
                   "unsupported_transfer_encoding");
    expect_refused(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 501,
        "upgrade_not_supported");
    expect_refused("CONNECT example.com:443 HTTP/1.1\r\n\r\n", 501, "not_implemented");
    expect_refused("GET /echo HTTP/2.0\r\n\r\n", 505, "http_version_not_supported");
    expect_refused("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
                   "bad_request");
    rt_httpd_stats st = stats();
    assert_int_equal(st.responses[4], 6);
    assert_int_equal(st.responses[5], 4);
    assert_int_equal(errors_of("bad_request"), 5);
    stop();
}

/* After a HEAD request, a refusal on the same connection still carries its body. */
static void test_error_after_head(void **state) {
    (void)state;
    start((rt_httpd_options){0});
    client *c = connect_client();
    response r = {0};
    send_text(c, "HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    read_answer(c, &r, true);
    assert_int_equal(r.status, 200);
    assert_non_null(header_of(&r, "Content-Length"));
    send_text(c, "\x01junk\r\n\r\n");
    read_response(c, &r);
    expect_error(&r, 400, "bad_request", true);
    expect_eof(c);
    free_response(&r);
    disconnect(c);
    expect_still_serving();
    stop();
}

static void test_slowloris(void **state) {
    (void)state;
    start((rt_httpd_options){.header_timeout = 0.2, .body_timeout = 0.2, .idle_timeout = 0.2});
    response r = {0};
    /* Headers that never end. */
    client *c = connect_client();
    double t0 = seconds();
    send_text(c, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    read_response(c, &r);
    expect_error(&r, 408, "request_timeout", true);
    assert_true(seconds() - t0 >= 0.15);
    expect_eof(c);
    disconnect(c);
    /* A body that never ends. */
    c = connect_client();
    send_text(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    read_response(c, &r);
    expect_error(&r, 408, "request_timeout", true);
    expect_eof(c);
    disconnect(c);
    /* A client that says nothing is closed without an answer; so is a quiet kept-alive one. */
    c = connect_client();
    expect_eof(c);
    disconnect(c);
    c = connect_client();
    send_text(c, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    expect_eof(c);
    disconnect(c);
    free_response(&r);
    assert_int_equal(stats().timeouts, 3);
    assert_int_equal(errors_of("request_timeout"), 2);
    expect_still_serving();
    stop();
}

/* request_timeout bounds headers and body together: slow headers leave less time for the body. */
static void test_request_timeout(void **state) {
    (void)state;
    start((rt_httpd_options){.header_timeout = 1.2, .body_timeout = 1.2, .request_timeout = 0.6});
    response r = {0};
    client *c = connect_client();
    double t0 = seconds();
    send_text(c, "POST /echo HTTP/1.1\r\nHost: x\r\n");
    sleep_for(0.3);
    send_text(c, "Content-Length: 10\r\n\r\nabc");
    read_response(c, &r);
    expect_error(&r, 408, "request_timeout", true);
    double took = seconds() - t0;
    if (took < 0.55 || took > 1.1) /* headers then body each in their own time: 1.5 s */
        fail_msg("the 408 came after %.3f s, not about 0.6 s", took);
    expect_eof(c);
    disconnect(c);
    /* The same for a later request on a kept-alive connection: counted from its first byte. */
    c = connect_client();
    send_text(c, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(c, &r);
    assert_int_equal(r.status, 200);
    sleep_for(0.7); /* idle, which does not count */
    t0 = seconds();
    send_text(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    read_response(c, &r);
    expect_error(&r, 408, "request_timeout", true);
    took = seconds() - t0;
    if (took < 0.55 || took > 1.1)
        fail_msg("the 408 came after %.3f s, not about 0.6 s", took);
    expect_eof(c);
    disconnect(c);
    free_response(&r);
    expect_still_serving();
    stop();
}

/* max_connections must fit under the limit on open files, with room for the rest. */
static void test_connections_within(void **state) {
    (void)state;
    assert_int_equal(rt_httpd_connections_within(1024, 1024), 1024 - RT_HTTPD_FD_MARGIN);
    assert_int_equal(rt_httpd_connections_within(1024, 1024 + RT_HTTPD_FD_MARGIN), 1024);
    assert_int_equal(rt_httpd_connections_within(1024, 524288), 1024);
    assert_int_equal(rt_httpd_connections_within(100, 1024), 100);
    assert_int_equal(rt_httpd_connections_within(1024, 200), 100); /* half, when the margin
                                                                      would take more */
    assert_int_equal(rt_httpd_connections_within(1024, 1), 1);
    assert_int_equal(rt_httpd_connections_within(1024, 0), 1);
}

static void test_max_connections(void **state) {
    (void)state;
    start((rt_httpd_options){.max_connections = 2});
    client *a = connect_client(), *b = connect_client();
    response r = {0};
    /* Answered requests prove both were accepted before the third arrives. */
    send_text(a, "GET /echo HTTP/1.1\r\n\r\n");
    read_response(a, &r);
    send_text(b, "GET /echo HTTP/1.1\r\n\r\n");
    read_response(b, &r);
    client *c = connect_client();
    read_response(c, &r);
    expect_error(&r, 503, "too_many_connections", true);
    assert_non_null(header_of(&r, "Retry-After"));
    assert_non_null(header_of(&r, "Date")); /* as every other answer has */
    assert_string_equal(header_of(&r, "X-Content-Type-Options"), "nosniff");
    expect_eof(c);
    disconnect(c);
    /* Once one leaves, there is room again. */
    disconnect(a);
    double until = seconds() + 5;
    while (stats().connections_open > 1 && seconds() < until)
        sched_yield();
    rt_httpd_stats st = stats();
    assert_int_equal(st.connections_open, 1);
    assert_int_equal(st.connections_rejected, 1);
    assert_int_equal(errors_of("too_many_connections"), 1);
    expect_still_serving();
    free_response(&r);
    disconnect(b);
    stop();
}

static void test_error_answers_counted(void **state) {
    (void)state;
    start((rt_httpd_options){0});
    client *c = connect_client();
    response r = {0};
    send_text(c, "GET /auth HTTP/1.1\r\n\r\n");
    read_response(c, &r);
    expect_error(&r, 401, "unauthorized", false);
    assert_string_equal(json_str(r.json, "error", "message"), "a token is missing");
    assert_string_equal(header_of(&r, "WWW-Authenticate"), "Bearer");
    assert_null(header_of(&r, "X-Bad"));
    pthread_mutex_lock(&S.mu);
    int rc[4] = {S.header_rc[0], S.header_rc[1], S.header_rc[2], S.header_rc[3]};
    pthread_mutex_unlock(&S.mu);
    assert_int_equal(rc[0], RT_OK);
    assert_int_equal(rc[1], RT_EINPUT);
    assert_int_equal(rc[2], RT_EINPUT);
    assert_int_equal(rc[3], RT_EUSAGE);
    /* A handler's error answer keeps the connection. */
    send_text(c, "DELETE /nowhere HTTP/1.1\r\n\r\n");
    read_response(c, &r);
    expect_error(&r, 404, "not_found", false);
    assert_string_equal(json_str(r.json, "error", "message"), "no route for DELETE /nowhere");
    send_text(c, "GET /nowhere HTTP/1.1\r\n\r\n");
    read_response(c, &r);
    rt_httpd_stats st = stats();
    assert_int_equal(st.responses[4], 3);
    assert_int_equal(st.n_errors, 2);
    assert_string_equal(st.errors[0].code, "unauthorized");
    assert_int_equal(st.errors[0].count, 1);
    assert_string_equal(st.errors[1].code, "not_found");
    assert_int_equal(st.errors[1].count, 2);
    free_response(&r);
    disconnect(c);
    stop();
}

static void test_listen_errors(void **state) {
    char why[256] = "";
    uv_loop_t loop;
    (void)state;
    start((rt_httpd_options){0});
    uv_loop_init(&loop);
    rt_httpd_options o = {.port = S.port, .handler = handler};
    assert_null(rt_httpd_new(&loop, &o, why));
    assert_non_null(strstr(why, "cannot listen on 127.0.0.1"));
    o = (rt_httpd_options){.host = "not-an-address", .handler = handler};
    assert_null(rt_httpd_new(&loop, &o, why));
    assert_non_null(strstr(why, "invalid listen address"));
    o = (rt_httpd_options){0};
    assert_null(rt_httpd_new(&loop, &o, why));
    assert_int_equal(uv_loop_close(&loop), 0); /* nothing was left behind */
    /* IPv6, where the machine has it; closing an idle server on a loop of this thread. */
    uv_loop_init(&loop);
    o = (rt_httpd_options){.host = "::1", .handler = handler};
    rt_httpd *v6 = rt_httpd_new(&loop, &o, why);
    if (v6) {
        assert_true(rt_httpd_port(v6) > 0);
        rt_httpd_close(v6, NULL, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    assert_int_equal(uv_loop_close(&loop), 0);
    stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_query_and_headers),
        cmocka_unit_test(test_query_decoding),
        cmocka_unit_test(test_post_bodies),
        cmocka_unit_test(test_chunked_trailers),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelining_in_order),
        cmocka_unit_test(test_async_answer),
        cmocka_unit_test(test_large_answers),
        cmocka_unit_test(test_pipelined_flood),
        cmocka_unit_test(test_client_leaves_before_answer),
        cmocka_unit_test(test_waiting_requests),
        cmocka_unit_test(test_close_with_request_pending),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_headers_too_large),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_error_after_head),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_request_timeout),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_connections_within),
        cmocka_unit_test(test_error_answers_counted),
        cmocka_unit_test(test_listen_errors),
    };
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&S.mu, NULL);
    pthread_cond_init(&S.cv, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
