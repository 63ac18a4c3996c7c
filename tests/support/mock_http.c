/* tests/support/mock_http.c -- a loopback HTTP/1.1 server with slow, failing and canned answers,
 * for the HTTP client's tests (tests/unit/test_http.c), connector tests and benches. libuv and
 * http-parser; keep-alive; one request at a time per connection (bytes of a pipelined request
 * wait until the answer to the one before is written). `mock_http --help` lists the paths. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <http_parser.h>
#include <jansson.h>
#include <uv.h>
#include "rt.h"

#define MAX_REQUEST_BODY (64u << 20)
#define MAX_PENDING      (1u << 20) /* bytes received while an answer is being prepared */
#define MAX_BODY_FILE    (256u << 20)
#define MAX_BYTES        (1u << 30) /* of /bytes/N */

static const char usage[] =
    "usage: mock_http [--port-file FILE] [--routes FILE.json] [--record FILE] [--help]\n"
    "\n"
    "A loopback HTTP/1.1 test server. Binds 127.0.0.1 on a free port and writes the port to\n"
    "FILE (atomically), or prints \"listening on 127.0.0.1:PORT\". Serves until SIGTERM or\n"
    "SIGINT. Routes in FILE.json are tried first:\n"
    "  [{\"method\": \"GET\", \"path\": \"/x\", \"query_contains\": \"a=1\", \"status\": 200,\n"
    "    \"headers\": {\"Content-Type\": \"application/json\"},\n"
    "    \"body_file\": \"relative/to/routes.json\" or \"body\": <any JSON value>,\n"
    "    \"delay_ms\": 0, \"times\": N}]\n"
    "(with \"times\", the route answers N matching requests in a row, then lets the next one\n"
    "pass on to the routes after it, then answers N again: a server that fails N times and\n"
    "then answers)\n"
    "then the built-in paths:\n"
    "  /delay/MS         200 {\"delayed_ms\":MS} after MS milliseconds\n"
    "  /status/CODE      CODE (200-599) with an error body; ?retry_after=S adds Retry-After\n"
    "  /flaky/KEY/N      503 for the first N requests of KEY (?retry_after=S), then\n"
    "                    200 {\"ok\":true,\"attempt\":K}\n"
    "  /bytes/N          200 with a JSON body of exactly N bytes; ?chunked=1 sends it chunked,\n"
    "                    without Content-Length\n"
    "  /close            closes the connection without replying\n"
    "  /hang             never replies\n"
    "  /echo             200 {\"method\",\"path\",\"query\",\"headers\",\"body\"}\n"
    "  /count/KEY        200 {\"count\":N}: requests seen for KEY\n"
    "  /counters         GET: Prometheus text exposition of the growing counters, one\n"
    "                    \"SERIES VALUE\" line each (untyped), for Prometheus to scrape;\n"
    "                    POST or PUT {\"SERIES\": PER_SECOND, ...}: from now on each named\n"
    "                    series grows by that much a second (new ones start at 0; 0 stops\n"
    "                    one; values never go down); answers {\"SERIES\": VALUE, ...}\n"
    "A request counts for KEY when it is /flaky/KEY/N or has ?key=KEY.\n"
    "With --record, every request is appended to FILE as one JSON line {\"method\", \"path\",\n"
    "\"query\", \"headers\" (names lowercased), \"body\"} as soon as it is complete, before\n"
    "it is answered: what a stand-in of an incident tool received, for tests to check.\n";

/* ---- the server's state ---------------------------------------------------------------------- */

typedef struct route {
    char *method; /* NULL: any */
    char *path, *query_contains;
    int status;
    char *headers; /* "Name: value\r\n" lines */
    bool has_content_type;
    char *body;
    size_t body_len;
    unsigned delay_ms;
    unsigned times; /* 0: every matching request; else N in a row, then one passes on */
    unsigned long matched;
} route;

typedef struct counter {
    struct counter *next;
    long count;
    char key[];
} counter;

/* A counter of /counters that grows at 'rate' a second: its value at uv_hrtime() 'now' is
 * value + rate * (now - since) / 1e9, so that Prometheus sees a rate that the test sets, at the
 * current time (alerting rules evaluate now: backfilled data cannot fire them). */
typedef struct growing {
    struct growing *next;
    double value, rate;
    uint64_t since;
    char series[]; /* name{labels}, as exposed */
} growing;

typedef struct conn conn;

typedef struct server {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_signal_t sigterm, sigint;
    route *routes;
    size_t n_routes;
    counter *counters;
    growing *growing, **growing_tail; /* in the order they were first named */
    conn *conns;
    FILE *record; /* --record: each request as a JSON line */
    bool stopping;
} server;

struct conn {
    server *srv;
    conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer; /* a delayed answer */
    http_parser parser;
    int open;  /* handles not yet closed */
    bool busy; /* a request is being answered: later bytes wait in 'pending' */
    bool keep_alive, closing, value_last;
    char *url, *body, *field, *value, *pending, *reply;
    size_t url_len, body_len, field_len, value_len, pending_len, reply_len;
    json_t *headers; /* lowercased name -> value */
};

typedef struct write_req {
    uv_write_t req;
    conn *c;
    char *data;
} write_req;

static http_parser_settings settings;

/* ---- small helpers --------------------------------------------------------------------------- */

/* Appends the 'n' bytes at 'data' to the buffer '*buf' of '*len' bytes, kept NUL-terminated.
 * Returns false when that would pass 'cap'. */
static bool append(char **buf, size_t *len, const char *data, size_t n, size_t cap) {
    if (n > cap - *len)
        return false;
    *buf = rt_xrealloc(*buf, *len + n + 1);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

/* The value of parameter 'name' in the raw query 'q' into 'out' (of 'size'), or false. */
static bool query_param(const char *q, const char *name, char *out, size_t size) {
    size_t n = strlen(name);
    for (const char *p = q; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t len = strcspn(p + n + 1, "&");
            if (len >= size)
                return false;
            memcpy(out, p + n + 1, len);
            out[len] = '\0';
            return true;
        }
    }
    return false;
}

/* Parses a whole decimal number in [0, max]; false when 's' is not one. */
static bool parse_count(const char *s, long max, long *out) {
    char *end;
    if (!*s || strspn(s, "0123456789") != strlen(s))
        return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || v > max)
        return false;
    *out = v;
    return true;
}

/* Counts a request for 'key' (of 'n' bytes) and returns its number. With 'count' false only
 * returns how many were seen. */
static long count_key(server *srv, const char *key, size_t n, bool count) {
    counter *c;
    for (c = srv->counters; c; c = c->next)
        if (strlen(c->key) == n && memcmp(c->key, key, n) == 0)
            break;
    if (!c) {
        if (!count)
            return 0;
        c = rt_xcalloc(1, sizeof *c + n + 1);
        memcpy(c->key, key, n);
        c->next = srv->counters;
        srv->counters = c;
    }
    return count ? ++c->count : c->count;
}

/* ---- connections ----------------------------------------------------------------------------- */

static void reset_request(conn *c) {
    free(c->url);
    free(c->body);
    free(c->field);
    free(c->value);
    c->url = c->body = c->field = c->value = NULL;
    c->url_len = c->body_len = c->field_len = c->value_len = 0;
    c->value_last = false;
    json_decref(c->headers);
    c->headers = json_object();
}

static void on_conn_closed(uv_handle_t *h) {
    conn *c = h->data;
    if (--c->open > 0)
        return;
    reset_request(c);
    json_decref(c->headers);
    free(c->pending);
    free(c->reply);
    free(c);
}

static void conn_close(conn *c) {
    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void feed(conn *c, const char *data, size_t n);

static void on_written(uv_write_t *req, int status) {
    write_req *w = (write_req *)req;
    conn *c = w->c;
    free(w->data);
    free(w);
    if (c->closing)
        return;
    if (status < 0 || !c->keep_alive) {
        conn_close(c);
        return;
    }
    /* The answer is out: go on with what arrived meanwhile. */
    c->busy = false;
    http_parser_pause(&c->parser, 0);
    char *pending = c->pending;
    size_t n = c->pending_len;
    c->pending = NULL;
    c->pending_len = 0;
    if (n)
        feed(c, pending, n);
    free(pending);
}

/* Writes 'data' ('len' bytes, malloc'd; taken). */
static void send_bytes(conn *c, char *data, size_t len) {
    write_req *w = rt_xcalloc(1, sizeof *w);
    w->c = c;
    w->data = data;
    uv_buf_t buf = uv_buf_init(data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) {
        free(data);
        free(w);
        conn_close(c);
    }
}

/* A whole answer: status line, 'headers' (lines with CRLF, may be ""), Content-Type unless
 * NULL, then 'body'. Chunked when 'chunked', else with Content-Length. Returns a malloc'd
 * buffer and its length in '*len'. */
static char *format_reply(const conn *c, int status, const char *headers, const char *type,
                          const char *body, size_t body_len, bool chunked, size_t *len) {
    char head[512];
    const char *reason = http_status_str((enum http_status)status);
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n%s%s%s%s", status,
                     strcmp(reason, "<unknown>") == 0 ? "Status" : reason,
                     c->keep_alive ? "" : "Connection: close\r\n", type ? "Content-Type: " : "",
                     type ? type : "", type ? "\r\n" : "");
    if (chunked)
        n += snprintf(head + n, sizeof head - n, "Transfer-Encoding: chunked\r\n");
    else
        n += snprintf(head + n, sizeof head - n, "Content-Length: %zu\r\n", body_len);
    size_t hl = strlen(headers);
    size_t total = (size_t)n + hl + 2 + body_len + (chunked ? 32 : 0);
    char *out = rt_xmalloc(total + 1);
    size_t at = 0;
    memcpy(out, head, (size_t)n);
    at += (size_t)n;
    memcpy(out + at, headers, hl);
    at += hl;
    memcpy(out + at, "\r\n", 2);
    at += 2;
    if (chunked && body_len)
        at += (size_t)snprintf(out + at, 20, "%zx\r\n", body_len);
    memcpy(out + at, body, body_len);
    at += body_len;
    if (chunked)
        at += (size_t)snprintf(out + at, 12, "%s0\r\n\r\n", body_len ? "\r\n" : "");
    *len = at;
    return out;
}

static void on_delay(uv_timer_t *timer) {
    conn *c = timer->data;
    char *reply = c->reply;
    c->reply = NULL;
    send_bytes(c, reply, c->reply_len);
}

/* Sends an answer now or, with 'delay_ms', later. */
static void reply(conn *c, int status, const char *headers, const char *type, const char *body,
                  size_t body_len, bool chunked, unsigned delay_ms) {
    size_t len;
    char *out = format_reply(c, status, headers, type, body, body_len, chunked, &len);
    if (delay_ms == 0) {
        send_bytes(c, out, len);
        return;
    }
    free(c->reply);
    c->reply = out;
    c->reply_len = len;
    uv_timer_start(&c->timer, on_delay, delay_ms, 0);
}

static void reply_json(conn *c, int status, const char *headers, const char *json,
                       unsigned delay_ms) {
    reply(c, status, headers, "application/json", json, strlen(json), false, delay_ms);
}

/* ---- answers --------------------------------------------------------------------------------- */

static const route *find_route(server *srv, const char *method, const char *path,
                               const char *query) {
    for (size_t i = 0; i < srv->n_routes; i++) {
        route *r = &srv->routes[i];
        if ((!r->method || strcmp(r->method, method) == 0) && strcmp(r->path, path) == 0 &&
            (!r->query_contains || strstr(query, r->query_contains)) &&
            (!r->times || r->matched++ % (r->times + 1u) != r->times))
            return r;
    }
    return NULL;
}

static void answer_echo(conn *c, const char *method, const char *path, const char *query) {
    json_t *o = json_object();
    json_object_set_new(o, "method", json_string(method));
    json_object_set_new(o, "path", rt_json_text(path, strlen(path)));
    json_object_set_new(o, "query", rt_json_text(query, strlen(query)));
    json_object_set(o, "headers", c->headers);
    json_object_set_new(o, "body", rt_json_text(c->body ? c->body : "", c->body_len));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    reply_json(c, 200, "", text, 0);
    free(text);
}

static void answer_bytes(conn *c, long n, bool chunked) {
    char *body = rt_xmalloc((size_t)n + 1);
    memset(body, 'x', (size_t)n);
    if (n >= 2)
        body[0] = body[n - 1] = '"';
    reply(c, 200, "", "application/json", body, (size_t)n, chunked, 0);
    free(body);
}

/* ---- /counters: growing counters for Prometheus to scrape ----------------------------------- */

#define MAX_GROWING     1000
#define MAX_SERIES_TEXT 1024

static double growing_value(const growing *g, uint64_t now) {
    return g->value + g->rate * (double)(now - g->since) / 1e9;
}

/* True when 's' is a series as the text format writes one: a metric name, then nothing or
 * {labels} (on one line). The labels are Prometheus' to judge: a scrape with a bad one fails. */
static bool series_text_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > MAX_SERIES_TEXT || strpbrk(s, "\r\n") ||
        !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:", s[0]))
        return false;
    size_t name = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
    return s[name] == '\0' || (s[name] == '{' && s[n - 1] == '}');
}

static growing *find_growing(server *srv, const char *series) {
    for (growing *g = srv->growing; g; g = g->next)
        if (strcmp(g->series, series) == 0)
            return g;
    return NULL;
}

static void answer_counters_text(conn *c) {
    uint64_t now = uv_hrtime();
    char *text = rt_xstrdup(""), line[MAX_SERIES_TEXT + 64];
    size_t len = 0;
    for (const growing *g = c->srv->growing; g; g = g->next) {
        int n = snprintf(line, sizeof line, "%s %.6f\n", g->series, growing_value(g, now));
        append(&text, &len, line, (size_t)n, SIZE_MAX);
    }
    reply(c, 200, "", "text/plain; version=0.0.4; charset=utf-8", text, len, false, 0);
    free(text);
}

/* Sets the rates of the body's {"SERIES": PER_SECOND, ...}: all of them or, when one is bad,
 * none (400 naming it). */
static void answer_counters_set(conn *c) {
    server *srv = c->srv;
    json_error_t error;
    json_t *body = c->body ? json_loadb(c->body, c->body_len, 0, &error) : NULL, *v;
    const char *series;
    char message[MAX_SERIES_TEXT + 128] = "";
    size_t fresh = 0, have = 0;
    for (const growing *g = srv->growing; g; g = g->next)
        have++;
    if (!json_is_object(body))
        snprintf(message, sizeof message, "the body must be a JSON object of series to rates");
    json_object_foreach(body, series, v) {
        if (*message)
            break;
        if (!series_text_ok(series))
            snprintf(message, sizeof message, "\"%s\": not a series (name or name{labels})",
                     series);
        else if (!json_is_number(v) || !(json_number_value(v) >= 0) || json_number_value(v) > 1e12)
            snprintf(message, sizeof message, "\"%s\": the rate must be a number from 0 to 1e12",
                     series);
        else if (!find_growing(srv, series) && have + ++fresh > MAX_GROWING)
            snprintf(message, sizeof message, "more than %d series", MAX_GROWING);
    }
    if (*message) {
        json_t *o = json_pack("{s:s}", "error", message);
        char *text = json_dumps(o, JSON_COMPACT);
        reply_json(c, 400, "", text, 0);
        free(text);
        json_decref(o);
        json_decref(body);
        return;
    }
    uint64_t now = uv_hrtime();
    json_t *values = json_object();
    json_object_foreach(body, series, v) {
        growing *g = find_growing(srv, series);
        if (!g) {
            g = rt_xcalloc(1, sizeof *g + strlen(series) + 1);
            strcpy(g->series, series);
            g->since = now;
            *srv->growing_tail = g;
            srv->growing_tail = &g->next;
        }
        g->value = growing_value(g, now);
        g->since = now;
        g->rate = json_number_value(v);
        json_object_set_new(values, series, json_real(g->value));
    }
    char *text = json_dumps(values, JSON_COMPACT);
    reply_json(c, 200, "", text, 0);
    free(text);
    json_decref(values);
    json_decref(body);
}

/* The built-in paths; false when 'path' is none of them. */
static bool answer_builtin(conn *c, const char *method, const char *path, const char *query) {
    char text[256], arg[64], headers[96] = "";
    long n;
    if (query_param(query, "retry_after", arg, sizeof arg))
        snprintf(headers, sizeof headers, "Retry-After: %s\r\n", arg);
    if (strncmp(path, "/count/", 7) == 0) {
        snprintf(text, sizeof text, "{\"count\":%ld}",
                 count_key(c->srv, path + 7, strlen(path + 7), false));
        reply_json(c, 200, "", text, 0);
        return true;
    }
    if (query_param(query, "key", arg, sizeof arg))
        count_key(c->srv, arg, strlen(arg), true);
    if (strncmp(path, "/delay/", 7) == 0 && parse_count(path + 7, 3600000, &n)) {
        snprintf(text, sizeof text, "{\"delayed_ms\":%ld}", n);
        reply_json(c, 200, "", text, (unsigned)n);
    } else if (strncmp(path, "/status/", 8) == 0 && parse_count(path + 8, 599, &n) && n >= 200) {
        snprintf(text, sizeof text,
                 "{\"status\":\"error\",\"errorType\":\"mock\",\"error\":\"status %ld\"}", n);
        reply_json(c, (int)n, headers, text, 0);
    } else if (strncmp(path, "/flaky/", 7) == 0 && strchr(path + 7, '/') &&
               parse_count(strchr(path + 7, '/') + 1, INT_MAX, &n)) {
        const char *key = path + 7;
        long k = count_key(c->srv, key, (size_t)(strchr(key, '/') - key), true);
        if (k <= n) {
            reply_json(c, 503, headers,
                       "{\"status\":\"error\",\"errorType\":\"mock\",\"error\":\"flaky\"}", 0);
        } else {
            snprintf(text, sizeof text, "{\"ok\":true,\"attempt\":%ld}", k);
            reply_json(c, 200, "", text, 0);
        }
    } else if (strncmp(path, "/bytes/", 7) == 0 && parse_count(path + 7, MAX_BYTES, &n)) {
        answer_bytes(c, n, query_param(query, "chunked", arg, sizeof arg));
    } else if (strcmp(path, "/close") == 0) {
        conn_close(c);
    } else if (strcmp(path, "/hang") == 0) {
        /* stays busy: nothing more is read from this connection */
    } else if (strcmp(path, "/echo") == 0) {
        answer_echo(c, method, path, query);
    } else if (strcmp(path, "/counters") == 0 && strcmp(method, "GET") == 0) {
        answer_counters_text(c);
    } else if (strcmp(path, "/counters") == 0 &&
               (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)) {
        answer_counters_set(c);
    } else {
        return false;
    }
    (void)method;
    return true;
}

/* Answers the request just parsed. */
static void answer(conn *c) {
    struct http_parser_url u;
    const char *method = http_method_str((enum http_method)c->parser.method);
    char path[4096] = "/", query[8192] = "";
    http_parser_url_init(&u);
    if (c->url && http_parser_parse_url(c->url, c->url_len, 0, &u) == 0) {
        if (u.field_set & (1 << UF_PATH))
            snprintf(path, sizeof path, "%.*s", (int)u.field_data[UF_PATH].len,
                     c->url + u.field_data[UF_PATH].off);
        if (u.field_set & (1 << UF_QUERY))
            snprintf(query, sizeof query, "%.*s", (int)u.field_data[UF_QUERY].len,
                     c->url + u.field_data[UF_QUERY].off);
    }
    if (c->srv->record) {
        json_t *o = json_pack("{s:s, s:o, s:o, s:O, s:o}", "method", method, "path",
                              rt_json_text(path, strlen(path)), "query",
                              rt_json_text(query, strlen(query)), "headers", c->headers, "body",
                              rt_json_text(c->body ? c->body : "", c->body_len));
        char *line = json_dumps(o, JSON_COMPACT);
        fprintf(c->srv->record, "%s\n", line);
        fflush(c->srv->record);
        free(line);
        json_decref(o);
    }
    const route *r = find_route(c->srv, method, path, query);
    if (r) {
        reply(c, r->status, r->headers, r->has_content_type ? NULL : "application/json",
              r->body ? r->body : "", r->body_len, false, r->delay_ms);
        return;
    }
    if (answer_builtin(c, method, path, query))
        return;
    char message[4200];
    snprintf(message, sizeof message, "no route for %s %s", method, path);
    json_t *o = json_object();
    json_object_set_new(o, "error", rt_json_text(message, strlen(message)));
    char *text = json_dumps(o, JSON_COMPACT);
    reply_json(c, 404, "", text, 0);
    free(text);
    json_decref(o);
}

/* ---- parsing --------------------------------------------------------------------------------- */

static void commit_header(conn *c) {
    if (!c->field)
        return;
    for (char *p = c->field; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    json_object_set_new(c->headers, c->field, rt_json_text(c->value ? c->value : "", c->value_len));
    free(c->field);
    free(c->value);
    c->field = c->value = NULL;
    c->field_len = c->value_len = 0;
}

static int on_message_begin(http_parser *p) {
    reset_request(p->data);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
    conn *c = p->data;
    return append(&c->url, &c->url_len, at, n, 65536) ? 0 : -1;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
    conn *c = p->data;
    if (c->value_last)
        commit_header(c);
    c->value_last = false;
    return append(&c->field, &c->field_len, at, n, 65536) ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    conn *c = p->data;
    c->value_last = true;
    return append(&c->value, &c->value_len, at, n, 65536) ? 0 : -1;
}

static int on_headers_complete(http_parser *p) {
    commit_header(p->data);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
    conn *c = p->data;
    return append(&c->body, &c->body_len, at, n, MAX_REQUEST_BODY) ? 0 : -1;
}

static int on_message_complete(http_parser *p) {
    conn *c = p->data;
    c->keep_alive = http_should_keep_alive(p);
    c->busy = true;
    /* One request at a time: the parser stops here, and what follows waits for the answer. */
    http_parser_pause(p, 1);
    answer(c);
    return 0;
}

/* Parses 'n' bytes; those after a complete request wait in 'pending'. */
static void feed(conn *c, const char *data, size_t n) {
    size_t done = http_parser_execute(&c->parser, &settings, data, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->closing)
        return;
    if (e == HPE_PAUSED) {
        if (done < n && !append(&c->pending, &c->pending_len, data + done, n - done, MAX_PENDING))
            conn_close(c);
        return;
    }
    if (e != HPE_OK)
        conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    buf->base = rt_xmalloc(suggested);
    buf->len = suggested;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    conn *c = stream->data;
    if (nread < 0) {
        conn_close(c);
    } else if (nread > 0 && c->busy) {
        if (!append(&c->pending, &c->pending_len, buf->base, (size_t)nread, MAX_PENDING))
            conn_close(c);
    } else if (nread > 0) {
        feed(c, buf->base, (size_t)nread);
    }
    free(buf->base);
}

static void on_connection(uv_stream_t *listener, int status) {
    server *srv = listener->data;
    if (status < 0)
        return;
    conn *c = rt_xcalloc(1, sizeof *c);
    c->srv = srv;
    c->headers = json_object();
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open = 2;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->next = srv->conns;
    if (c->next)
        c->next->prev = c;
    srv->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

/* ---- the routes file ------------------------------------------------------------------------- */

typedef struct position {
    int line, column;
} position;

/* Where each element of the top-level array in 'text' starts: jansson keeps no positions, and
 * a message about an entry should say where it is. 'text' is valid JSON; returns the count. */
static size_t element_positions(const char *text, size_t len, position *out, size_t max) {
    int line = 1, column = 1, depth = 0;
    bool in_string = false, escaped = false, expect = false;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (ch == '\\')
                escaped = true;
            else if (ch == '"')
                in_string = false;
        } else {
            if (depth == 1 && expect && !strchr(" \t\r\n]", ch)) {
                if (n < max)
                    out[n] = (position){line, column};
                n++;
                expect = false;
            }
            if (ch == '"')
                in_string = true;
            else if (ch == '[' || ch == '{')
                expect = ++depth == 1;
            else if (ch == ']' || ch == '}')
                depth--;
            else if (ch == ',' && depth == 1)
                expect = true;
        }
        if (ch == '\n')
            line++, column = 1;
        else
            column++;
    }
    return n;
}

typedef struct routes_file {
    const char *path;
    char *dir; /* with a trailing '/', or "" */
    position *where;
    size_t n_where;
} routes_file;

static void route_error(const routes_file *f, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void route_error(const routes_file *f, size_t i, const char *fmt, ...) {
    va_list ap;
    position at = i < f->n_where ? f->where[i] : (position){1, 1};
    fprintf(stderr, "%s:%d:%d: route %zu: ", f->path, at.line, at.column, i + 1);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static char *optional_string(const routes_file *f, size_t i, json_t *entry, const char *key,
                             bool *ok) {
    json_t *v = json_object_get(entry, key);
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        route_error(f, i, "\"%s\" must be a string", key);
        *ok = false;
        return NULL;
    }
    return rt_xstrdup(json_string_value(v));
}

/* Reads entry 'i' into 'r'; false after printing what is wrong. */
static bool load_route(const routes_file *f, size_t i, json_t *entry, route *r) {
    static const char *const keys[] = {"method",    "path", "query_contains", "status", "headers",
                                       "body_file", "body", "delay_ms",       "times"};
    bool ok = true;
    const char *key;
    json_t *v;
    if (!json_is_object(entry)) {
        route_error(f, i, "must be an object");
        return false;
    }
    json_object_foreach(entry, key, v) {
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(keys[k], key) != 0)
            k++;
        if (k == sizeof keys / sizeof keys[0]) {
            route_error(f, i, "unknown key \"%s\"", key);
            ok = false;
        }
    }
    r->status = 200;
    r->headers = rt_xstrdup("");
    r->method = optional_string(f, i, entry, "method", &ok);
    r->path = optional_string(f, i, entry, "path", &ok);
    r->query_contains = optional_string(f, i, entry, "query_contains", &ok);
    json_t *path_value = json_object_get(entry, "path");
    if (!path_value || (json_is_string(path_value) && r->path[0] != '/')) {
        route_error(f, i, "\"path\" must be a string starting with /");
        ok = false;
    }
    if ((v = json_object_get(entry, "status"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 200 || json_integer_value(v) > 599) {
            route_error(f, i, "\"status\" must be an integer from 200 to 599");
            ok = false;
        } else {
            r->status = (int)json_integer_value(v);
        }
    }
    if ((v = json_object_get(entry, "delay_ms"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 3600000) {
            route_error(f, i, "\"delay_ms\" must be an integer from 0 to 3600000");
            ok = false;
        } else {
            r->delay_ms = (unsigned)json_integer_value(v);
        }
    }
    if ((v = json_object_get(entry, "times"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000) {
            route_error(f, i, "\"times\" must be an integer from 1 to 1000000");
            ok = false;
        } else {
            r->times = (unsigned)json_integer_value(v);
        }
    }
    if ((v = json_object_get(entry, "headers"))) {
        json_t *value;
        size_t len = 0;
        if (!json_is_object(v)) {
            route_error(f, i, "\"headers\" must be an object of strings");
            ok = false;
        }
        json_object_foreach(v, key, value) {
            const char *s = json_string_value(value);
            if (!s || strpbrk(key, "\r\n:") || strpbrk(s, "\r\n")) {
                route_error(f, i, "header \"%s\" must be a one-line string", key);
                ok = false;
                continue;
            }
            append(&r->headers, &len, key, strlen(key), SIZE_MAX);
            append(&r->headers, &len, ": ", 2, SIZE_MAX);
            append(&r->headers, &len, s, strlen(s), SIZE_MAX);
            append(&r->headers, &len, "\r\n", 2, SIZE_MAX);
            if (strcasecmp(key, "Content-Type") == 0)
                r->has_content_type = true;
        }
    }
    json_t *file = json_object_get(entry, "body_file"), *body = json_object_get(entry, "body");
    if (file && body) {
        route_error(f, i, "\"body\" and \"body_file\" do not go together");
        ok = false;
    } else if (file) {
        char why[256], *path;
        if (!json_is_string(file)) {
            route_error(f, i, "\"body_file\" must be a string");
            return false;
        }
        const char *name = json_string_value(file);
        path = rt_xmalloc(strlen(f->dir) + strlen(name) + 1);
        sprintf(path, "%s%s", name[0] == '/' ? "" : f->dir, name);
        if (rt_file_read(path, MAX_BODY_FILE, &r->body, &r->body_len, why) != RT_OK) {
            route_error(f, i, "%s", why);
            ok = false;
        }
        free(path);
    } else if (body) {
        r->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        r->body_len = strlen(r->body);
    }
    return ok;
}

static void free_routes(server *srv) {
    for (size_t i = 0; i < srv->n_routes; i++) {
        route *r = &srv->routes[i];
        free(r->method);
        free(r->path);
        free(r->query_contains);
        free(r->headers);
        free(r->body);
    }
    free(srv->routes);
    srv->routes = NULL;
    srv->n_routes = 0;
}

/* Loads the routes in 'path' into 'srv'; false after printing what is wrong. */
static bool load_routes(server *srv, const char *path) {
    char why[256], *text = NULL;
    size_t len = 0;
    json_error_t error;
    json_t *root = NULL;
    routes_file f = {.path = path};
    bool ok = false;
    if (rt_file_read(path, MAX_BODY_FILE, &text, &len, why) != RT_OK) {
        fprintf(stderr, "mock_http: %s\n", why);
        return false;
    }
    root = json_loadb(text, len, 0, &error);
    if (!root) {
        fprintf(stderr, "%s:%d:%d: %s\n", path, error.line, error.column, error.text);
        goto out;
    }
    if (!json_is_array(root)) {
        fprintf(stderr, "%s:1:1: the routes must be a JSON array\n", path);
        goto out;
    }
    const char *slash = strrchr(path, '/');
    f.dir = rt_xmalloc(slash ? (size_t)(slash - path) + 2 : 1);
    snprintf(f.dir, slash ? (size_t)(slash - path) + 2 : 1, "%s", path);
    f.n_where = json_array_size(root);
    f.where = rt_xcalloc(f.n_where, sizeof *f.where);
    element_positions(text, len, f.where, f.n_where);
    srv->n_routes = json_array_size(root);
    srv->routes = rt_xcalloc(srv->n_routes, sizeof *srv->routes);
    ok = true;
    for (size_t i = 0; i < srv->n_routes; i++)
        ok &= load_route(&f, i, json_array_get(root, i), &srv->routes[i]);
out:
    free(f.dir);
    free(f.where);
    json_decref(root);
    free(text);
    return ok;
}

/* ---- main ------------------------------------------------------------------------------------ */

static void on_quiet_close(uv_handle_t *h) {
    (void)h;
}

static void on_signal(uv_signal_t *sig, int signum) {
    server *srv = sig->data;
    (void)signum;
    if (srv->stopping)
        return;
    srv->stopping = true;
    while (srv->conns)
        conn_close(srv->conns);
    uv_close((uv_handle_t *)&srv->tcp, on_quiet_close);
    uv_close((uv_handle_t *)&srv->sigterm, on_quiet_close);
    uv_close((uv_handle_t *)&srv->sigint, on_quiet_close);
}

/* Writes 'port' to 'path' through a temporary file, so that a reader never sees half of it. */
static bool write_port_file(const char *path, int port) {
    char *tmp = rt_xmalloc(strlen(path) + 5);
    sprintf(tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%d\n", port) > 0;
    ok = f && fclose(f) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok)
        fprintf(stderr, "mock_http: cannot write %s: %s\n", path, strerror(errno));
    free(tmp);
    return ok;
}

static int listen_loopback(server *srv) {
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof bound, rc;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(srv->loop, &srv->tcp);
    srv->tcp.data = srv;
    if ((rc = uv_tcp_bind(&srv->tcp, (const struct sockaddr *)&addr, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&srv->tcp, 511, on_connection)) != 0 ||
        (rc = uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&bound, &len)) != 0) {
        fprintf(stderr, "mock_http: cannot listen on 127.0.0.1: %s\n", uv_strerror(rc));
        return -1;
    }
    return ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

int main(int argc, char **argv) {
    const char *port_file = NULL, *routes = NULL;
    server srv = {0};
    int rc = 2, port;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
            port_file = argv[++i];
        } else if (strcmp(argv[i], "--routes") == 0 && i + 1 < argc) {
            routes = argv[++i];
        } else if (strcmp(argv[i], "--record") == 0 && i + 1 < argc) {
            if (!(srv.record = fopen(argv[++i], "a"))) {
                fprintf(stderr, "mock_http: cannot open %s\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "mock_http: unexpected argument %s\n%s", argv[i], usage);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    http_parser_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    srv.loop = uv_default_loop();
    srv.growing_tail = &srv.growing;
    if (routes && !load_routes(&srv, routes))
        goto out;
    if ((port = listen_loopback(&srv)) < 0) {
        uv_close((uv_handle_t *)&srv.tcp, on_quiet_close);
        uv_run(srv.loop, UV_RUN_DEFAULT);
        goto out;
    }
    uv_signal_init(srv.loop, &srv.sigterm);
    uv_signal_init(srv.loop, &srv.sigint);
    srv.sigterm.data = srv.sigint.data = &srv;
    uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv.sigint, on_signal, SIGINT);
    if (port_file ? !write_port_file(port_file, port)
                  : printf("listening on 127.0.0.1:%d\n", port) < 0 || fflush(stdout) != 0) {
        on_signal(&srv.sigterm, SIGTERM);
        uv_run(srv.loop, UV_RUN_DEFAULT);
        goto out;
    }
    uv_run(srv.loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    uv_loop_close(srv.loop);
    free_routes(&srv);
    if (srv.record)
        fclose(srv.record);
    while (srv.counters) {
        counter *next = srv.counters->next;
        free(srv.counters);
        srv.counters = next;
    }
    while (srv.growing) {
        growing *next = srv.growing->next;
        free(srv.growing);
        srv.growing = next;
    }
    return rc;
}
