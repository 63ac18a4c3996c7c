/* runtime/rt_httpd.c -- the HTTP/1.1 server of `inquest serve` (rt_httpd.h): connections,
 * parsing with http-parser, limits and timeouts, answers. The API's handlers live in
 * integrations/; the HTTP client is rt_http.c.
 *
 * Design notes
 *
 * A connection is in one state at a time; its one timer guards the state:
 *
 *   IDLE     waiting for a request's first byte. Timer: header_timeout before the first request
 *            (a client that connects and says nothing), idle_timeout between requests; either
 *            closes without an answer.
 *   HEAD     reading the request line and headers. Timer: header_timeout, then 408.
 *   BODY     reading the body. Timer: body_timeout, then 408.
 *            request_timeout, when set, caps both: HEAD's and BODY's timers never run past
 *            'head_at' (the connection's start, or the request's first byte) plus it.
 *   HANDLER  the request is with the handler. No timer (a long poll may take minutes); bytes that
 *            arrive are kept in the input buffer, unparsed, and reading stops when it is full.
 *   WRITING  the answer did not leave in one uv_try_write; the rest is in one uv_write.
 *            Timer: write_timeout, then close.
 *   LINGER   the last answer is written and the write side shut down; what the client still
 *            sends is read and dropped until it closes or a short timer runs out, so that the
 *            kernel does not reset the connection and lose the answer (a 413 sent while the
 *            client is still sending its body).
 *   CLOSED   uv_close was called on both handles.
 *
 *   IDLE -> HEAD -> [BODY] -> HANDLER -> [WRITING] -> IDLE (keep-alive) or LINGER -> CLOSED
 *   HEAD, BODY -> (refused: 4xx/5xx) -> [WRITING] -> LINGER; any state -> CLOSED on EOF or error.
 *
 * Invariants
 * - One request per connection at a time: the parser pauses at the end of each message and is
 *   only run again in IDLE, HEAD or BODY, i.e. once the previous answer has been written. So
 *   pipelined answers leave in request order, at most one answer per connection is buffered, and
 *   a client that sends requests without reading answers stops being read (bounded memory).
 * - The request lives inside its connection (no allocation per request), and the connection is
 *   freed only when both its handles are closed AND the handler has answered: a request whose
 *   client went away stays valid until then; the abort callback says it is pointless to wait.
 * - 'head' does not grow once the headers are complete (trailers are counted, not kept): the
 *   request's path, query and headers point into it.
 * - stats.waiting counts the requests with the handler whose client waits: +1 in dispatch, -1 when
 *   one is answered (take_back) or aborted (conn_close), whichever comes first.
 * - Every byte from the network lands in a capped buffer: the input buffer (IN_CAP), the request
 *   line and headers (max_header_bytes plus the NULs between them), the body (max_body_bytes).
 * - The server is freed when its listener is closed and no connection is left (rt_httpd_close).
 * - Every error answer, the server's own included, leaves through send_error, which counts it;
 *   the one exception is the canned 503 to a connection over the limit (reject), which has no
 *   connection to send it on and counts itself the same way. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <http_parser.h>
#include "rt_httpd.h"

#define IN_CAP          (16u * 1024) /* input buffer of a connection */
#define EXTRA_CAP       (8u * 1024)  /* headers added by the handler */
#define KEEP_CAP        (16u * 1024) /* larger buffers are freed after each request */
#define LINGER_MS       2000
#define MAX_ERROR_CODES 64
#define CODE_LEN        32

typedef enum conn_state {
    S_IDLE,
    S_HEAD,
    S_BODY,
    S_HANDLER,
    S_WRITING,
    S_LINGER,
    S_CLOSED
} conn_state;

/* What the last header callback appended, to know when a piece starts a new string. */
typedef enum piece { P_URL, P_FIELD, P_VALUE } piece;

/* A growable byte buffer. */
typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

/* A header line, as offsets into the connection's 'head' buffer. */
typedef struct header {
    uint32_t name, value;
} header;

typedef struct conn conn;

struct rt_httpd {
    uv_loop_t *loop;
    uv_tcp_t listener;
    rt_httpd_handler handler;
    void *handler_ud;
    size_t max_header_bytes, max_headers, max_body, max_conns;
    uint64_t idle_ms, header_ms, body_ms, write_ms, request_ms; /* request_ms 0: none */
    int port;
    conn *conns;     /* every connection not yet freed */
    size_t n_live;   /* ... how many */
    size_t n_open;   /* ... of which have handles not yet closed: counted against max_conns */
    size_t n_reject; /* handles of refused connections not yet closed */
    bool closing, listener_open;
    void (*done)(void *ud);
    void *done_ud;
    rt_httpd_stats stats;
    rt_httpd_error_count errors[MAX_ERROR_CODES + 1]; /* the last one is "other" */
    char codes[MAX_ERROR_CODES + 1][CODE_LEN];
    size_t n_errors;
    time_t date_at; /* 'date' is the Date header of this second */
    char date[64];
};

struct conn {
    rt_httpd_req req; /* first, so that conn_of is a cast */
    rt_httpd *srv;
    conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write_req, continue_req;
    uv_shutdown_t shutdown_req;
    http_parser parser;
    conn_state state;
    int open_handles;
    bool req_pending;  /* the handler holds 'req' and has not answered */
    bool aborted;      /* ... and the connection went away */
    bool req_complete; /* the parser finished a message: dispatch it */
    bool keep_alive, close_after, head_only;
    bool head_done; /* the headers are complete: 'head' no longer grows (trailers are dropped) */
    bool reading, driving, served_one, continue_pending;
    rt_httpd_abort_cb abort_cb;
    void *abort_ud;
    char *in; /* input, IN_CAP bytes; [in_off, in_len) is not parsed yet */
    size_t in_off, in_len;
    buf head; /* the URL, then each header's name and value, each NUL-terminated */
    size_t url_len, header_bytes;
    uint64_t head_at; /* loop time where the request's header_timeout counts from */
    piece last;
    header *headers;
    size_t n_headers, headers_cap;
    buf body;
    buf extra;      /* "Name: value\r\n" lines set by the handler */
    buf out;        /* the answer being written */
    int err_status; /* set by a parser callback that refuses the request */
    const char *err_code;
    char err_message[160];
    char remote[64];
};

static void conn_close(conn *c);
static void conn_drive(conn *c);
static void send_error(conn *c, int status, const char *code, const char *message);

static conn *conn_of(rt_httpd_req *req) {
    return (conn *)req;
}

/* ---- buffers ------------------------------------------------------------------------------- */

/* Makes room for 'n' more bytes in 'b'; false when that passes 'cap' or memory is short (sizes
 * here come from the network: fail cleanly, never abort). */
static bool buf_reserve(buf *b, size_t n, size_t cap) {
    if (n > cap - b->len)
        return false;
    if (b->len + n <= b->cap)
        return true;
    size_t size = b->cap ? b->cap : 256;
    while (size < b->len + n)
        size = size > SIZE_MAX / 2 ? b->len + n : size * 2;
    char *p = realloc(b->data, size);
    if (!p)
        return false;
    b->data = p;
    b->cap = size;
    return true;
}

static bool buf_append(buf *b, const void *data, size_t n, size_t cap) {
    if (!buf_reserve(b, n, cap))
        return false;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return true;
}

/* Empties 'b', and frees its memory when a large request or answer left it big. */
static void buf_reset(buf *b) {
    b->len = 0;
    if (b->cap > KEEP_CAP) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

static void buf_free(buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- counters ------------------------------------------------------------------------------ */

static void count_error(rt_httpd *srv, const char *code) {
    size_t i;
    for (i = 0; i < srv->n_errors && i < MAX_ERROR_CODES; i++)
        if (strcmp(srv->codes[i], code) == 0)
            break;
    if (i == srv->n_errors && i < MAX_ERROR_CODES) {
        snprintf(srv->codes[i], CODE_LEN, "%s", code);
        srv->errors[i].code = srv->codes[i];
        srv->n_errors++;
    } else if (i == MAX_ERROR_CODES && srv->n_errors == MAX_ERROR_CODES) {
        snprintf(srv->codes[i], CODE_LEN, "other");
        srv->errors[i].code = srv->codes[i];
        srv->n_errors++;
    }
    srv->errors[i].count++;
}

static void count_response(rt_httpd *srv, int status) {
    if (status >= 100 && status < 600)
        srv->stats.responses[status / 100]++;
}

void rt_httpd_get_stats(const rt_httpd *server, rt_httpd_stats *stats) {
    *stats = server->stats;
    stats->errors = server->errors;
    stats->n_errors = server->n_errors;
}

/* ---- timers -------------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *timer) {
    conn *c = timer->data;
    switch (c->state) {
    case S_IDLE:
        if (!c->served_one)
            c->srv->stats.timeouts++;
        conn_close(c);
        break;
    case S_HEAD:
        c->srv->stats.timeouts++;
        send_error(c, 408, "request_timeout", "the request's headers took too long to arrive");
        break;
    case S_BODY:
        c->srv->stats.timeouts++;
        send_error(c, 408, "request_timeout", "the request's body took too long to arrive");
        break;
    case S_WRITING:
        c->srv->stats.timeouts++;
        conn_close(c);
        break;
    case S_LINGER:
        conn_close(c);
        break;
    case S_HANDLER:
    case S_CLOSED:
        break;
    }
}

static void arm(conn *c, uint64_t ms) {
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Arms the timer of HEAD or BODY: 'ms', but not past request_timeout from 'head_at'. */
static void arm_reading(conn *c, uint64_t ms) {
    rt_httpd *srv = c->srv;
    if (srv->request_ms) {
        uint64_t spent = uv_now(srv->loop) - c->head_at;
        uint64_t left = spent < srv->request_ms ? srv->request_ms - spent : 0;
        if (left < ms)
            ms = left;
    }
    arm(c, ms);
}

/* Starts the header timer of a request whose first byte (or connection) is here now. */
static void arm_head(conn *c) {
    c->head_at = uv_now(c->srv->loop);
    arm_reading(c, c->srv->header_ms);
}

/* ---- closing and freeing ------------------------------------------------------------------- */

static void server_maybe_done(rt_httpd *srv) {
    if (!srv->closing || srv->listener_open || srv->n_live > 0 || srv->n_reject > 0)
        return;
    void (*done)(void *) = srv->done;
    void *ud = srv->done_ud;
    free(srv);
    if (done)
        done(ud);
}

/* Frees 'c' once its handles are closed and its request, if any, answered. */
static void conn_maybe_free(conn *c) {
    rt_httpd *srv = c->srv;
    if (c->open_handles > 0 || c->req_pending)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->in);
    free(c->headers);
    buf_free(&c->head);
    buf_free(&c->body);
    buf_free(&c->extra);
    buf_free(&c->out);
    free(c);
    srv->n_live--;
    server_maybe_done(srv);
}

static void on_conn_handle_closed(uv_handle_t *handle) {
    conn *c = handle->data;
    if (--c->open_handles > 0)
        return;
    c->srv->n_open--;
    c->srv->stats.connections_open--;
    conn_maybe_free(c);
}

/* Closes 'c' now, without an answer; a request with the handler is aborted. Idempotent. */
static void conn_close(conn *c) {
    if (c->state == S_CLOSED)
        return;
    c->state = S_CLOSED;
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    if (c->req_pending && !c->aborted) {
        c->aborted = true;
        c->srv->stats.aborted++;
        c->srv->stats.waiting--;
        if (c->abort_cb)
            c->abort_cb(&c->req, c->abort_ud); /* may answer, which only marks it answered */
    }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    conn *c = req->data;
    if (status < 0)
        conn_close(c);
}

/* After the last answer: half-close, then drop what the client still sends (see LINGER). */
static void conn_linger(conn *c) {
    c->state = S_LINGER;
    c->in_off = c->in_len = 0;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    arm(c, LINGER_MS);
}

/* ---- writing ------------------------------------------------------------------------------- */

static void conn_read_start(conn *c);

/* The answer in 'out' has left: go on with the next request, or finish. */
static void answer_sent(conn *c) {
    uv_timer_stop(&c->timer);
    /* The next answer may be a refusal before its request began (garbage after a HEAD): it has
     * a body. */
    c->head_only = false;
    buf_reset(&c->out);
    buf_reset(&c->body);
    buf_reset(&c->extra);
    if (c->close_after) {
        conn_linger(c);
        conn_read_start(c);
        return;
    }
    c->served_one = true;
    c->state = S_IDLE;
    arm(c, c->srv->idle_ms);
    conn_read_start(c);
    conn_drive(c);
}

static void on_written(uv_write_t *req, int status) {
    conn *c = req->data;
    if (c->state == S_CLOSED)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    answer_sent(c);
}

/* Writes 'out': usually all at once with uv_try_write, else the rest with one uv_write. */
static void write_out(conn *c) {
    uv_stream_t *stream = (uv_stream_t *)&c->tcp;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write(stream, &b, 1);
    if (n >= 0 && (size_t)n == c->out.len) {
        answer_sent(c);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    b = uv_buf_init(c->out.data + done, (unsigned)(c->out.len - done));
    c->write_req.data = c;
    if (uv_write(&c->write_req, stream, &b, 1, on_written) != 0) {
        conn_close(c);
        return;
    }
    arm(c, c->srv->write_ms);
}

/* The Date header of now, cached for the second. */
static const char *http_date(rt_httpd *srv) {
    time_t now = time(NULL);
    if (now != srv->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(srv->date, sizeof srv->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        srv->date_at = now;
    }
    return srv->date;
}

/* Puts the status line and headers into 'out', then the body: the one buffer of one write. */
/* Every answer with a body says its type is the one to use: a browser that guessed another (a
 * JSON answer holding analysis text read as HTML) would run what the text says. */
#define NOSNIFF "X-Content-Type-Options: nosniff\r\n"

static void format_answer(conn *c, int status, const char *content_type, const void *body,
                          size_t len) {
    const char *reason = http_status_str((enum http_status)status);
    bool bodiless = status < 200 || status == 204 || status == 304;
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
                     strcmp(reason, "<unknown>") == 0 ? "Unknown" : reason, http_date(c->srv));
    if (!bodiless)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", len);
    if (c->close_after)
        n += snprintf(head + n, sizeof head - (size_t)n, "Connection: close\r\n");
    else if (c->req.http_minor == 0)
        n += snprintf(head + n, sizeof head - (size_t)n, "Connection: keep-alive\r\n");
    if (bodiless || c->head_only)
        len = 0;
    size_t type_len = content_type ? strlen(content_type) : 0;
    c->out.len = 0;
    if (!buf_reserve(&c->out, (size_t)n + type_len + 16 + sizeof NOSNIFF + c->extra.len + 2 + len,
                     SIZE_MAX)) {
        fprintf(stderr, "inquest: out of memory for a %zu-byte answer\n", len);
        abort();
    }
    buf_append(&c->out, head, (size_t)n, SIZE_MAX);
    if (content_type) {
        buf_append(&c->out, "Content-Type: ", 14, SIZE_MAX);
        buf_append(&c->out, content_type, type_len, SIZE_MAX);
        buf_append(&c->out, "\r\n", 2, SIZE_MAX);
        buf_append(&c->out, NOSNIFF, sizeof NOSNIFF - 1, SIZE_MAX);
    }
    if (c->extra.len)
        buf_append(&c->out, c->extra.data, c->extra.len, SIZE_MAX);
    buf_append(&c->out, "\r\n", 2, SIZE_MAX);
    if (len)
        buf_append(&c->out, body, len, SIZE_MAX);
}

/* Sends an answer on 'c', which is in HEAD, BODY or HANDLER. */
static void send_answer(conn *c, int status, const char *content_type, const void *body, size_t len,
                        bool close) {
    uv_timer_stop(&c->timer);
    c->close_after = close || !c->keep_alive || c->srv->closing;
    format_answer(c, status, content_type, body, len);
    count_response(c->srv, status);
    c->state = S_WRITING;
    write_out(c);
}

/* The one way out for an error answer: counted by 'code', shaped as the house JSON error. A
 * refusal by the server itself (not in HANDLER) closes the connection: the parser cannot go on. */
static void send_error(conn *c, int status, const char *code, const char *message) {
    char text[8192];
    json_t *o = json_pack("{s:{s:s,s:o}}", "error", "code", code, "message",
                          rt_json_text_cut(message, 1024));
    size_t n = o ? json_dumpb(o, text, sizeof text, JSON_COMPACT) : 0;
    json_decref(o);
    if (n == 0 || n > sizeof text)
        n = (size_t)snprintf(text, sizeof text,
                             "{\"error\":{\"code\":\"internal\",\"message\":\"\"}}");
    count_error(c->srv, code);
    send_answer(c, status, "application/json", text, n, c->state != S_HANDLER);
}

/* ---- parsing ------------------------------------------------------------------------------- */

/* Refuses the request being parsed from inside a parser callback: the answer is sent when the
 * parser has returned. Returns -1, for the callback to return. */
static int refuse(conn *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(conn *c, int status, const char *code, const char *fmt, ...) {
    va_list ap;
    if (c->err_status)
        return -1;
    c->err_status = status;
    c->err_code = code;
    va_start(ap, fmt);
    vsnprintf(c->err_message, sizeof c->err_message, fmt, ap);
    va_end(ap);
    return -1;
}

static bool add_nul(conn *c) {
    return buf_append(&c->head, "", 1, SIZE_MAX);
}

/* Appends a piece of the URL, a header name or a header value to 'head', starting a new string
 * when the kind of piece changes, within the header limits. */
static int head_piece(conn *c, piece kind, const char *at, size_t n) {
    rt_httpd *srv = c->srv;
    if (c->head_done) {
        /* A trailer of a chunked body. The request's path, query and headers point into 'head',
         * which must not move now; and a trailer must not pass for a header (Authorization,
         * Origin). Dropped, as nginx and most servers do, but still within the header limit. */
        c->header_bytes += n;
        if (c->header_bytes > srv->max_header_bytes)
            return refuse(c, 431, "headers_too_large", "the headers and trailers pass %zu bytes",
                          srv->max_header_bytes);
        return 0;
    }
    if (kind != c->last) {
        if (!add_nul(c))
            return refuse(c, 500, "out_of_memory", "out of memory reading the headers");
        if (kind == P_FIELD) {
            if (c->n_headers == srv->max_headers)
                return refuse(c, 431, "too_many_headers", "more than %zu header lines",
                              srv->max_headers);
            if (c->n_headers == c->headers_cap) {
                size_t cap = c->headers_cap ? c->headers_cap * 2 : 16;
                header *h = realloc(c->headers, cap * sizeof *h);
                if (!h)
                    return refuse(c, 500, "out_of_memory", "out of memory reading the headers");
                c->headers = h;
                c->headers_cap = cap;
            }
            c->headers[c->n_headers++] = (header){(uint32_t)c->head.len, 0};
        } else if (kind == P_VALUE) {
            c->headers[c->n_headers - 1].value = (uint32_t)c->head.len;
        }
        c->last = kind;
    }
    c->header_bytes += n;
    if (c->header_bytes > srv->max_header_bytes) {
        if (kind == P_URL)
            return refuse(c, 414, "uri_too_long", "the request line passes %zu bytes",
                          srv->max_header_bytes);
        return refuse(c, 431, "headers_too_large", "the headers pass %zu bytes",
                      srv->max_header_bytes);
    }
    if (kind == P_URL)
        c->url_len += n;
    if (!buf_append(&c->head, at, n, SIZE_MAX))
        return refuse(c, 500, "out_of_memory", "out of memory reading the headers");
    return 0;
}

static int on_message_begin(http_parser *p) {
    conn *c = p->data;
    c->head.len = c->url_len = c->header_bytes = 0;
    c->n_headers = 0;
    c->last = P_URL;
    c->body.len = 0;
    c->extra.len = 0;
    c->head_only = false;
    c->head_done = false;
    c->abort_cb = NULL;
    c->abort_ud = NULL;
    c->err_status = 0;
    c->req = (rt_httpd_req){.method = "", .path = "", .query = "", .body = "", .remote = c->remote};
    /* Before the first request, the timer set at accept already counts. */
    if (c->served_one)
        arm_head(c);
    c->state = S_HEAD;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
    return head_piece(p->data, P_URL, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
    return head_piece(p->data, P_FIELD, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    return head_piece(p->data, P_VALUE, at, n);
}

/* NUL-terminates the last piece; a header without a value gets "". */
static bool finish_head(conn *c) {
    if (!add_nul(c))
        return false;
    if (c->last == P_FIELD) {
        c->headers[c->n_headers - 1].value = (uint32_t)c->head.len;
        return add_nul(c);
    }
    return true;
}

/* Splits the URL into 'path' and 'query', in place. */
static int split_url(conn *c) {
    char *url = c->head.data;
    struct http_parser_url u;
    if (strcmp(url, "*") == 0) {
        c->req.path = url;
        return 0;
    }
    if (c->url_len > UINT16_MAX)
        return refuse(c, 414, "uri_too_long", "the URL passes %u bytes", UINT16_MAX);
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, c->url_len, c->parser.method == HTTP_CONNECT, &u) != 0)
        return refuse(c, 400, "invalid_url", "the request's URL is not valid");
    if (u.field_set & (1 << UF_QUERY)) {
        c->req.query = url + u.field_data[UF_QUERY].off;
        url[u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len] = '\0';
    }
    if (u.field_set & (1 << UF_PATH)) {
        c->req.path = url + u.field_data[UF_PATH].off;
        url[u.field_data[UF_PATH].off + u.field_data[UF_PATH].len] = '\0';
    } else {
        c->req.path = "/";
    }
    return 0;
}

static void on_continue_written(uv_write_t *req, int status) {
    conn *c = req->data;
    (void)status; /* a failed write shows as a read error soon */
    c->continue_pending = false;
}

/* Expect: 100-continue is answered at once, unless the body is refused first. */
static void send_continue(conn *c) {
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_stream_t *stream = (uv_stream_t *)&c->tcp;
    uv_buf_t b = uv_buf_init((char *)line, sizeof line - 1);
    if (c->continue_pending)
        return;
    int n = uv_try_write(stream, &b, 1);
    if (n == (int)b.len || (n < 0 && n != UV_EAGAIN))
        return; /* a failed write shows as a read error soon */
    b = uv_buf_init((char *)line + (n > 0 ? n : 0), b.len - (unsigned)(n > 0 ? n : 0));
    c->continue_req.data = c;
    if (uv_write(&c->continue_req, stream, &b, 1, on_continue_written) == 0)
        c->continue_pending = true;
}

static int check_expect(conn *c, bool has_body) {
    const char *expect = rt_httpd_header(&c->req, "Expect");
    if (!expect)
        return 0;
    if (strcasecmp(expect, "100-continue") != 0)
        return refuse(c, 417, "expectation_failed", "only Expect: 100-continue is supported");
    if (has_body && c->parser.http_minor >= 1)
        send_continue(c);
    return 0;
}

static int on_headers_complete(http_parser *p) {
    conn *c = p->data;
    rt_httpd *srv = c->srv;
    bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length);
    if (!finish_head(c))
        return refuse(c, 500, "out_of_memory", "out of memory reading the headers");
    c->head_done = true;
    if (p->http_major != 1)
        return refuse(c, 505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1");
    if (p->method == HTTP_CONNECT)
        return refuse(c, 501, "not_implemented", "CONNECT is not supported");
    if (p->upgrade)
        return refuse(c, 501, "upgrade_not_supported", "protocol upgrades are not supported");
    if (split_url(c) != 0)
        return -1;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > srv->max_body)
        return refuse(c, 413, "body_too_large", "the body passes %zu bytes", srv->max_body);
    c->req.method = http_method_str((enum http_method)p->method);
    c->req.http_minor = p->http_minor;
    c->head_only = p->method == HTTP_HEAD;
    if (check_expect(c, has_body) != 0)
        return -1;
    if (has_body) {
        c->state = S_BODY;
        arm_reading(c, srv->body_ms);
    }
    return 0;
}

static int on_chunk_header(http_parser *p) {
    conn *c = p->data;
    /* The chunk's size is known before its bytes: refuse it before reading them. */
    if (p->content_length > c->srv->max_body - c->body.len)
        return refuse(c, 413, "body_too_large", "the body passes %zu bytes", c->srv->max_body);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
    conn *c = p->data;
    if (n > c->srv->max_body - c->body.len)
        return refuse(c, 413, "body_too_large", "the body passes %zu bytes", c->srv->max_body);
    if (!buf_append(&c->body, at, n, SIZE_MAX))
        return refuse(c, 500, "out_of_memory", "out of memory reading the body");
    return 0;
}

static int on_message_complete(http_parser *p) {
    conn *c = p->data;
    if (!buf_reserve(&c->body, 1, SIZE_MAX))
        return refuse(c, 500, "out_of_memory", "out of memory reading the body");
    c->body.data[c->body.len] = '\0';
    c->keep_alive = http_should_keep_alive(p);
    c->req_complete = true;
    /* One request at a time: the bytes after this one wait until it is answered. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_header = on_chunk_header,
};

/* The parser's own complaint, as an answer. */
static void refuse_parse_error(conn *c, enum http_errno e) {
    switch (e) {
    case HPE_HEADER_OVERFLOW:
        send_error(c, 431, "headers_too_large", http_errno_description(e));
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        send_error(c, 501, "unsupported_transfer_encoding",
                   "only Transfer-Encoding: chunked is supported");
        break;
    case HPE_INVALID_METHOD:
        send_error(c, 400, "bad_request", "invalid HTTP method");
        break;
    case HPE_INVALID_URL:
    case HPE_INVALID_HOST:
    case HPE_INVALID_PORT:
    case HPE_INVALID_PATH:
    case HPE_INVALID_QUERY_STRING:
    case HPE_INVALID_FRAGMENT:
        send_error(c, 400, "invalid_url", http_errno_description(e));
        break;
    default:
        send_error(c, 400, "bad_request", http_errno_description(e));
        break;
    }
}

static void dispatch(conn *c) {
    uv_timer_stop(&c->timer);
    c->state = S_HANDLER;
    c->req_pending = true;
    c->aborted = false;
    c->req.body = c->body.data ? c->body.data : "";
    c->req.body_len = c->body.len;
    c->srv->stats.requests++;
    c->srv->stats.waiting++;
    c->srv->handler(&c->req, c->srv->handler_ud);
}

/* Runs the parser on the input not parsed yet, up to the end of one request. */
static void parse_input(conn *c) {
    size_t n = http_parser_execute(&c->parser, &settings, c->in + c->in_off, c->in_len - c->in_off);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    c->in_off += n;
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    if (c->req_complete) {
        c->req_complete = false;
        http_parser_pause(&c->parser, 0);
        dispatch(c);
    } else if (c->err_status) {
        send_error(c, c->err_status, c->err_code, c->err_message);
    } else if (e != HPE_OK) {
        refuse_parse_error(c, e);
    }
}

static bool parsing(const conn *c) {
    return c->state == S_IDLE || c->state == S_HEAD || c->state == S_BODY;
}

/* Parses what is buffered while the connection is ready for it. Not reentrant: an answer given
 * from inside the handler returns here, to the loop, instead of recursing. */
static void conn_drive(conn *c) {
    if (c->driving)
        return;
    c->driving = true;
    while (parsing(c) && c->in_off < c->in_len)
        parse_input(c);
    c->driving = false;
}

/* ---- reading ------------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b) {
    conn *c = handle->data;
    (void)suggested;
    if (!c->in)
        c->in = rt_xmalloc(IN_CAP);
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    *b = uv_buf_init(c->in + c->in_len, (unsigned)(IN_CAP - c->in_len));
}

static void conn_read_stop(conn *c) {
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b) {
    conn *c = stream->data;
    (void)b;
    if (c->state == S_CLOSED || nread == 0)
        return;
    if (nread == UV_ENOBUFS) {
        conn_read_stop(c);
        return;
    }
    if (nread < 0) { /* EOF or error: a pending request is aborted (see rt_httpd_abort_cb) */
        conn_close(c);
        return;
    }
    if (c->state == S_LINGER) {
        c->in_off = c->in_len = 0;
        return;
    }
    c->in_len += (size_t)nread;
    if (parsing(c))
        conn_drive(c);
    else if (c->in_len == IN_CAP)
        conn_read_stop(c); /* pipelined bytes wait for the answer; read again after it */
}

static void conn_read_start(conn *c) {
    if (c->reading || c->state == S_CLOSED)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    c->reading = true;
}

/* ---- accepting ----------------------------------------------------------------------------- */

static void format_remote(conn *c) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof ip);
            port = ntohs(a->sin6_port);
            snprintf(c->remote, sizeof c->remote, "[%s]:%d", ip, port);
            return;
        }
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
    }
    snprintf(c->remote, sizeof c->remote, "%s:%d", ip, port);
}

static void on_reject_closed(uv_handle_t *handle) {
    rt_httpd *srv = handle->data;
    free(handle);
    srv->n_reject--;
    server_maybe_done(srv);
}

/* A connection over the limit: accepted (else it would wait in the backlog), told 503, closed.
 * Counted like any error answer, without a connection of its own. */
static void reject(rt_httpd *srv) {
    uv_tcp_t *tcp = rt_xmalloc(sizeof *tcp);
    uv_tcp_init(srv->loop, tcp);
    tcp->data = srv;
    srv->n_reject++;
    if (uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)tcp) == 0) {
        static const char body[] = "{\"error\":{\"code\":\"too_many_connections\",\"message\":"
                                   "\"the server has too many connections open\"}}";
        char text[512];
        int n = snprintf(text, sizeof text,
                         "HTTP/1.1 503 Service Unavailable\r\nDate: %s\r\n" NOSNIFF
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\nRetry-After: 1\r\n\r\n%s",
                         http_date(srv), sizeof body - 1, body);
        uv_buf_t b = uv_buf_init(text, (unsigned)n);
        uv_try_write((uv_stream_t *)tcp, &b, 1); /* a fresh socket takes it all, or nothing */
        srv->stats.connections_rejected++;
        count_response(srv, 503);
        count_error(srv, "too_many_connections");
    }
    uv_close((uv_handle_t *)tcp, on_reject_closed);
}

static void on_connection(uv_stream_t *listener, int status) {
    rt_httpd *srv = listener->data;
    if (status < 0 || srv->closing)
        return;
    if (srv->n_open >= srv->max_conns) {
        reject(srv);
        return;
    }
    conn *c = rt_xcalloc(1, sizeof *c);
    c->srv = srv;
    c->next = srv->conns;
    if (c->next)
        c->next->prev = c;
    srv->conns = c;
    srv->n_live++;
    srv->n_open++;
    srv->stats.connections_open++;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->state = S_IDLE;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    srv->stats.connections_accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    format_remote(c);
    c->req.remote = c->remote;
    arm_head(c);
    conn_read_start(c);
}

/* ---- the server ---------------------------------------------------------------------------- */

static uint64_t to_ms(double seconds, double fallback) {
    return (uint64_t)((seconds > 0 ? seconds : fallback) * 1000 + 0.5);
}

static void apply_options(rt_httpd *srv, const rt_httpd_options *o) {
    srv->handler = o->handler;
    srv->handler_ud = o->handler_ud;
    srv->max_header_bytes = o->max_header_bytes ? o->max_header_bytes : 16 * 1024;
    srv->max_headers = o->max_headers ? o->max_headers : 100;
    srv->max_body = o->max_body_bytes ? o->max_body_bytes : 1024 * 1024;
    srv->max_conns = o->max_connections ? o->max_connections : 1024;
    srv->idle_ms = to_ms(o->idle_timeout, 60);
    srv->header_ms = to_ms(o->header_timeout, 10);
    srv->body_ms = to_ms(o->body_timeout, 30);
    srv->write_ms = to_ms(o->write_timeout, 30);
    srv->request_ms = o->request_timeout > 0 ? to_ms(o->request_timeout, 0) : 0;
}

/* Binds and listens on a plain socket first, so that failing leaves no handle to close. */
static int listen_socket(const char *host, int port, char *why) {
    struct sockaddr_storage ss;
    int one = 1, rc, fd;
    if (strchr(host, ':'))
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (rc != 0 || port < 0 || port > 65535) {
        snprintf(why, 256, "invalid listen address %s:%d", host, port);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, 256, "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t len =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 511) != 0) {
        snprintf(why, 256, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int bound_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

rt_httpd *rt_httpd_new(uv_loop_t *loop, const rt_httpd_options *options, char *why) {
    const char *host = options->host ? options->host : "127.0.0.1";
    if (!options->handler) {
        snprintf(why, 256, "the HTTP server needs a handler");
        return NULL;
    }
    int fd = listen_socket(host, options->port, why);
    if (fd < 0)
        return NULL;
    rt_httpd *srv = rt_xcalloc(1, sizeof *srv);
    srv->loop = loop;
    apply_options(srv, options);
    srv->port = bound_port(fd);
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    srv->listener_open = true;
    int rc = uv_tcp_open(&srv->listener, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
    if (NEVER(rc != 0)) {
        snprintf(why, 256, "cannot listen on %s:%d: %s", host, options->port, uv_strerror(rc));
        rt_httpd_close(srv, NULL, NULL); /* freed once the loop runs */
        return NULL;
    }
    return srv;
}

size_t rt_httpd_connections_within(size_t wanted, uint64_t nofile) {
    uint64_t room = nofile > 2 * RT_HTTPD_FD_MARGIN ? nofile - RT_HTTPD_FD_MARGIN : nofile / 2;
    if (room < 1)
        room = 1;
    return room < wanted ? (size_t)room : wanted;
}

int rt_httpd_port(const rt_httpd *server) {
    return server->port;
}

static void on_listener_closed(uv_handle_t *handle) {
    rt_httpd *srv = handle->data;
    srv->listener_open = false;
    server_maybe_done(srv);
}

void rt_httpd_close(rt_httpd *server, void (*done)(void *ud), void *ud) {
    if (NEVER(server->closing))
        return;
    server->closing = true;
    server->done = done;
    server->done_ud = ud;
    uv_close((uv_handle_t *)&server->listener, on_listener_closed);
    /* No connection is freed before the loop runs its close callbacks, so 'next' stays valid
     * even when an abort callback answers requests. */
    for (conn *c = server->conns, *next; c; c = next) {
        next = c->next;
        conn_close(c);
    }
}

/* ---- requests ------------------------------------------------------------------------------ */

const char *rt_httpd_header(const rt_httpd_req *req, const char *name) {
    const conn *c = (const conn *)req;
    for (size_t i = 0; i < c->n_headers; i++)
        if (strcasecmp(c->head.data + c->headers[i].name, name) == 0)
            return c->head.data + c->headers[i].value;
    return NULL;
}

size_t rt_httpd_header_count(const rt_httpd_req *req) {
    return ((const conn *)req)->n_headers;
}

bool rt_httpd_header_at(const rt_httpd_req *req, size_t i, const char **name, const char **value) {
    const conn *c = (const conn *)req;
    if (i >= c->n_headers)
        return false;
    *name = c->head.data + c->headers[i].name;
    *value = c->head.data + c->headers[i].value;
    return true;
}

static int hex_digit(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int rt_httpd_url_decode(const char *s, size_t n, bool plus_space, char *out, size_t size) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
            int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0))
                return RT_ESYNTAX;
            ch = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        }
        if (len + 1 >= size)
            return RT_ETOOBIG;
        out[len++] = ch;
    }
    if (size == 0)
        return RT_ETOOBIG;
    out[len] = '\0';
    return (int)len;
}

int rt_httpd_query(const rt_httpd_req *req, const char *name, char *out, size_t size) {
    char key[256];
    for (const char *p = req->query; *p;) {
        size_t pair = strcspn(p, "&"), key_len = strcspn(p, "=&");
        int k = rt_httpd_url_decode(p, key_len, true, key, sizeof key);
        if (k >= 0 && strcmp(key, name) == 0) {
            const char *value = key_len < pair ? p + key_len + 1 : p + key_len;
            return rt_httpd_url_decode(value, (size_t)(p + pair - value), true, out, size);
        }
        p += pair;
        if (*p == '&')
            p++;
    }
    return RT_ENOTFOUND;
}

void rt_httpd_on_abort(rt_httpd_req *req, rt_httpd_abort_cb cb, void *ud) {
    conn *c = conn_of(req);
    c->abort_cb = cb;
    c->abort_ud = ud;
}

bool rt_httpd_aborted(const rt_httpd_req *req) {
    return ((const conn *)req)->aborted;
}

/* ---- responses ----------------------------------------------------------------------------- */

static bool is_token(const char *s) {
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

static bool is_field_value(const char *s) {
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return false;
    return true;
}

int rt_httpd_set_header(rt_httpd_req *req, const char *name, const char *value) {
    static const char *const own[] = {"Content-Length", "Transfer-Encoding", "Connection", "Date"};
    conn *c = conn_of(req);
    if (NEVER(!c->req_pending))
        return RT_EUSAGE;
    if (!is_token(name) || !is_field_value(value))
        return RT_EINPUT;
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strcasecmp(name, own[i]) == 0)
            return RT_EUSAGE;
    size_t n = strlen(name), v = strlen(value);
    if (!buf_reserve(&c->extra, n + v + 4, EXTRA_CAP))
        return RT_ETOOBIG;
    buf_append(&c->extra, name, n, EXTRA_CAP);
    buf_append(&c->extra, ": ", 2, EXTRA_CAP);
    buf_append(&c->extra, value, v, EXTRA_CAP);
    buf_append(&c->extra, "\r\n", 2, EXTRA_CAP);
    return RT_OK;
}

/* Takes the request back from the handler; RT_ECANCELED (and frees it) when it was aborted. */
static int take_back(conn *c) {
    if (NEVER(!c->req_pending))
        return RT_EUSAGE;
    c->req_pending = false;
    if (c->aborted) {
        conn_maybe_free(c);
        return RT_ECANCELED;
    }
    c->srv->stats.waiting--;
    return RT_OK;
}

int rt_httpd_respond(rt_httpd_req *req, int status, const char *content_type, const void *body,
                     size_t len) {
    conn *c = conn_of(req);
    int rc = take_back(c);
    if (rc != RT_OK)
        return rc;
    assert(!content_type || is_field_value(content_type));
    send_answer(c, status, content_type, body, len, false);
    return RT_OK;
}

/* The answer is written in the canonical form results are stored in (rt_json.c): keys sorted,
 * and in a third of the instructions of json_dumpb, which was a sixth of serve's cost of a
 * submission. */
int rt_httpd_respond_json(rt_httpd_req *req, int status, json_t *body) {
    conn *c = conn_of(req);
    if (c->aborted || !c->req_pending) {
        json_decref(body);
        return take_back(c);
    }
    char *text = body ? rt_json_canonical(body) : NULL;
    json_decref(body);
    if (body && !text)
        return rt_httpd_error(req, 500, "internal", "the answer could not be encoded as JSON");
    int rc = rt_httpd_respond(req, status, "application/json", text ? text : "null",
                              text ? strlen(text) : 4);
    free(text);
    return rc;
}

int rt_httpd_error(rt_httpd_req *req, int status, const char *code, const char *fmt, ...) {
    conn *c = conn_of(req);
    char message[1024];
    va_list ap;
    int rc = take_back(c);
    if (rc != RT_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    send_error(c, status, code, message);
    return RT_OK;
}
