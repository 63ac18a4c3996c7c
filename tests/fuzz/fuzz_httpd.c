/* tests/fuzz/fuzz_httpd.c -- the HTTP server's request parsing (runtime/rt_httpd.c on
 * http-parser: request line, headers, chunked and declared bodies, pipelining, limits) on any
 * bytes a client sends. The server has no seam to feed bytes without a socket, so the harness
 * runs it in-process on a loopback port and plays the client on the same thread: it sends the
 * input, half-closes, and runs the loop until the server has closed the connection. The server
 * must never crash, leak or hang on a connection, and every answer it sends starts with a status
 * line; an error answer (4xx, 5xx) carries the house JSON error with a message. Seeds:
 * corpus/httpd/ (requests as test_httpd and the API tests send them). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include "fuzz_support.h"
#include "rt_httpd.h"

static uv_loop_t loop;
static rt_httpd *server;
static int port;

/* Reads what a handler reads (headers, the query, the path %-decoded) and answers with some of
 * it, so that the request's strings are all touched; "/error" answers with the house error. */
static void handler(rt_httpd_req *req, void *ud) {
    (void)ud;
    char value[256], path[256];
    size_t headers = rt_httpd_header_count(req);
    for (size_t i = 0; i < headers; i++) {
        const char *name, *text;
        FUZZ_CHECK(rt_httpd_header_at(req, i, &name, &text) && name && text, "header %zu", i);
    }
    const char *host = rt_httpd_header(req, "host");
    int q = rt_httpd_query(req, "q", value, sizeof value);
    int p = rt_httpd_url_decode(req->path, strlen(req->path), false, path, sizeof path);
    if (host && rt_httpd_set_header(req, "X-Echo-Host", host) != RT_OK)
        FUZZ_CHECK(rt_httpd_set_header(req, "X-Echo-Host", "refused") == RT_OK, "a plain header");
    if (strncmp(req->path, "/error", 6) == 0) {
        rt_httpd_error(req, 400, "fuzz", "path %s, q %d, %zu headers, %zu body bytes",
                       p >= 0 ? path : "(malformed)", q, headers, req->body_len);
        return;
    }
    json_t *answer = json_pack("{s:s, s:i, s:i, s:I}", "method", req->method, "query", q, "path", p,
                               "body", (json_int_t)req->body_len);
    rt_httpd_respond_json(req, 200, answer);
}

static void start(void) {
    char why[256] = "";
    FUZZ_CHECK(uv_loop_init(&loop) == 0, "uv_loop_init");
    /* Small limits and short timeouts, so that inputs reach them. */
    rt_httpd_options o = {.handler = handler,
                          .max_header_bytes = 2048,
                          .max_headers = 16,
                          .max_body_bytes = 4096,
                          .header_timeout = 2,
                          .body_timeout = 2,
                          .idle_timeout = 2};
    server = rt_httpd_new(&loop, &o, why);
    FUZZ_CHECK(server, "rt_httpd_new: %s", why);
    port = rt_httpd_port(server);
}

static int connect_client(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    FUZZ_CHECK(rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
    return fd;
}

static bool holds(const char *s, size_t n, const char *what) {
    size_t k = strlen(what);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, what, k) == 0)
            return true;
    return false;
}

/* The first answer's status line and, for an error, its JSON message. */
static void check_answer(const char *got, size_t n) {
    FUZZ_CHECK(n >= 12 && memcmp(got, "HTTP/1.", 7) == 0, "no status line: %.*s", (int)n, got);
    int status = atoi(got + 9);
    FUZZ_CHECK(status >= 100 && status <= 599, "status %d", status);
    const char *body = NULL;
    for (size_t i = 0; i + 4 <= n && !body; i++)
        if (memcmp(got + i, "\r\n\r\n", 4) == 0)
            body = got + i + 4;
    /* A HEAD request's answer has no body: what follows it, if anything, is the next answer. */
    bool head = got + n - body >= 7 && memcmp(body, "HTTP/1.", 7) == 0;
    if (status < 400 || !body || body == got + n || head)
        return;
    FUZZ_CHECK(holds(got, n, "{\"error\":{\"code\":\""),
               "an error answer without the house error: %.*s", (int)n, got);
    FUZZ_CHECK(!holds(got, n, "\"message\":\"\""), "an error answer with an empty message: %.*s",
               (int)n, got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!server)
        start();
    int fd = connect_client();
    char got[4096];
    size_t sent = 0, n = 0;
    bool shut = false, closed = false;
    double deadline = rt_monotonic() + 8; /* past the server's own timeouts (2 s) */
    while (!closed) {
        FUZZ_CHECK(rt_monotonic() < deadline, "the server kept the connection open: a hang");
        uv_run(&loop, UV_RUN_NOWAIT);
        if (sent < size) {
            ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != ENOTCONN)
                sent = size; /* the server closed while we sent: read what it said */
        } else if (!shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        char buf[4096];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r > 0 && n < sizeof got) {
            size_t take = (size_t)r < sizeof got - n ? (size_t)r : sizeof got - n;
            memcpy(got + n, buf, take);
            n += take;
        }
        closed = r == 0 || (r < 0 && errno != EAGAIN && errno != ENOTCONN && errno != EINPROGRESS);
        if (r < 0 && errno == EAGAIN)
            poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 1);
    }
    close(fd);
    if (n)
        check_answer(got, n);
    for (int i = 0; i < 4; i++) /* the server's side of the connection closes on the loop */
        uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
