/* runtime/rt_httpd.h -- the HTTP/1.1 server of `inquest serve`: libuv and http-parser, keep-alive
 * and pipelining, every limit that hostile clients test (header and body sizes, connection count,
 * slowloris timeouts), one handler callback that may answer at once or later, JSON error replies
 * that are counted. The API's routes and handlers live in integrations/; the HTTP client is
 * rt_http.h. Nothing here logs: failures are counted (rt_httpd_stats) and the caller reports. */
#ifndef INQUEST_RT_HTTPD_H
#define INQUEST_RT_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "rt.h"

/* One server on one loop. All its calls run on that loop's thread. */
typedef struct rt_httpd rt_httpd;

/* One request, handed to the handler. Its fields are read-only and stay valid until the request
 * is answered (rt_httpd_respond and the functions built on it), also when the client went away
 * before that (see rt_httpd_on_abort). Strings are NUL-terminated. */
typedef struct rt_httpd_req {
    const char *method; /* "GET", "POST", … (http-parser's names) */
    const char *path;   /* raw, not %-decoded: "/v1/analyses/a%2Fb"; "*" for "OPTIONS *" */
    const char *query;  /* raw, after '?' and before any '#': "a=1&b=x%20y"; "" when none */
    const char *body;   /* the body, NUL-terminated for convenience (it may hold NULs); "" */
    size_t body_len;
    const char *remote; /* the peer: "127.0.0.1:54321", "[::1]:54321" */
    int http_minor;     /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
    void *ud;           /* the handler's own, NULL at first */
} rt_httpd_req;

/* Called on the loop for each complete request. It answers by calling rt_httpd_respond (or
 * rt_httpd_respond_json, rt_httpd_error) exactly once, now or later; until then the next request
 * of the same connection waits, so that answers go out in request order. */
typedef void (*rt_httpd_handler)(rt_httpd_req *req, void *ud);

/* Called at most once, on the loop, when a request's connection goes away before it was answered
 * (the client disconnected or half-closed, a write failed, or the server is closing). The
 * request stays valid and must still be answered, which then only frees it (rt_httpd_respond
 * returns RT_ECANCELED); answering it from inside this callback is allowed and is what a long
 * poll does to release its waiter. */
typedef void (*rt_httpd_abort_cb)(rt_httpd_req *req, void *ud);

/* How the server listens, and its limits; zero fields take the defaults. Strings are copied. */
typedef struct rt_httpd_options {
    const char *host;         /* address to bind: "127.0.0.1", "::1", "0.0.0.0"; NULL: 127.0.0.1 */
    int port;                 /* 0: a free port (see rt_httpd_port) */
    rt_httpd_handler handler; /* required */
    void *handler_ud;         /* passed to 'handler' */
    size_t max_header_bytes;  /* request line and headers, names and values; 0: 16 KiB */
    size_t max_headers;       /* header lines per request; 0: 100 */
    size_t max_body_bytes;    /* request body, declared or chunked; 0: 1 MiB */
    size_t max_connections;   /* open at once; more are answered 503 and closed; 0: 1024 */
    double idle_timeout;      /* seconds a kept-alive connection may wait for its next request
                                 before it is closed; 0: 60 */
    double header_timeout;    /* seconds from a connection's start (or a request's first byte)
                                 until its headers are complete, else 408; 0: 10 */
    double body_timeout;      /* seconds from the end of the headers to the end of the body, else
                                 408; 0: 30 */
    double request_timeout;   /* seconds from where header_timeout counts from to the end of the
                                 body, else 408: headers and body together; 0: no limit but the
                                 two above */
    double write_timeout;     /* seconds for an answer to leave, else the connection is closed;
                                 0: 30 */
} rt_httpd_options;

/* Starts a server on 'loop' with 'options': it listens at once. Returns NULL, and the reason in
 * 'why' (at least 256 bytes), when the address is invalid or cannot be bound, or 'handler' is
 * missing. Aborts when out of memory. */
rt_httpd *rt_httpd_new(uv_loop_t *loop, const rt_httpd_options *options, char *why);

/* Descriptors a process serving HTTP keeps for other things than the server's connections: the
 * listener and a refused connection's, Redis, analyzer files, the post-processor's calls, libuv's
 * own. */
#define RT_HTTPD_FD_MARGIN 128

/* How many of 'wanted' connections fit under a limit of 'nofile' open descriptors: 'wanted', or
 * 'nofile' less RT_HTTPD_FD_MARGIN when that is smaller (half of 'nofile' when the margin would
 * take more than half; at least 1). Past the limit, accept fails and libuv resets the connections
 * waiting in the backlog, so max_connections must fit under it for its 503 to be what a client
 * gets. */
size_t rt_httpd_connections_within(size_t wanted, uint64_t nofile);

/* The port 'server' listens on: the one asked for, or the one the system chose for port 0. */
int rt_httpd_port(const rt_httpd *server);

/* Stops listening and closes every connection of 'server'; requests still waiting for their
 * answer get their abort callback. 'done' (may be NULL) is called with 'ud' once every handle is
 * closed and every request answered; 'server' is freed just before. The caller runs the loop
 * until it is idle. */
void rt_httpd_close(rt_httpd *server, void (*done)(void *ud), void *ud);

/* ---- requests ----------------------------------------------------------------------------- */

/* The value of header 'name' of 'req', compared without case; the first one when it is repeated.
 * NULL when absent. */
const char *rt_httpd_header(const rt_httpd_req *req, const char *name);
/* The number of header lines of 'req', and the 'i'-th of them (0-based) in '*name' and '*value'
 * as received. Returns false when 'i' is out of range. */
size_t rt_httpd_header_count(const rt_httpd_req *req);
bool rt_httpd_header_at(const rt_httpd_req *req, size_t i, const char **name, const char **value);

/* The query parameter 'name' of 'req', %-decoded with '+' as a space, into 'out' of 'size' bytes,
 * NUL-terminated; the first one when it is repeated; "a" and "a=" give "". Returns its length,
 * RT_ENOTFOUND when absent, RT_ETOOBIG when it does not fit, RT_ESYNTAX when its escapes are
 * malformed or decode to a NUL byte. */
int rt_httpd_query(const rt_httpd_req *req, const char *name, char *out, size_t size);

/* %-decodes the 'n' bytes at 's' into 'out' of 'size' bytes, NUL-terminated; with 'plus_space'
 * (query strings) '+' is a space. For path segments such as an analysis id. Returns the decoded
 * length, RT_ETOOBIG or RT_ESYNTAX as rt_httpd_query. */
int rt_httpd_url_decode(const char *s, size_t n, bool plus_space, char *out, size_t size);

/* Sets 'cb' (with 'ud') to be called if 'req' is aborted; NULL removes it. Setting it does not
 * call it for a request aborted already: a handler that parks 'req' after waiting for something
 * else checks rt_httpd_aborted first. */
void rt_httpd_on_abort(rt_httpd_req *req, rt_httpd_abort_cb cb, void *ud);
/* True when the connection of 'req' went away before its answer. */
bool rt_httpd_aborted(const rt_httpd_req *req);

/* ---- responses ---------------------------------------------------------------------------- */

/* Adds the header 'name': 'value' to the answer of 'req' (Location, WWW-Authenticate,
 * Retry-After, Cache-Control…); both are copied. The server writes Content-Length, Connection
 * and Date itself. Returns RT_OK; RT_EINPUT when 'name' is not a token or 'value' holds a
 * control character (a CR/LF would split the response); RT_EUSAGE for Content-Length,
 * Transfer-Encoding, Connection or Date; RT_ETOOBIG past 8 KiB of added headers. */
int rt_httpd_set_header(rt_httpd_req *req, const char *name, const char *value);

/* Answers 'req' with 'status' (200-599 in practice), a body of 'len' bytes at 'body'
 * (may be NULL when 'len' is 0) of type 'content_type' (NULL: no Content-Type), and the headers
 * set before. The body is copied: the caller keeps its buffer. Content-Length is always sent
 * (except for 204 and 304, which have no body); HEAD requests get the headers only; the
 * connection is kept alive unless the client, an error or the server's closing say otherwise,
 * and then the answer says "Connection: close". After this call 'req' is no longer valid.
 * Returns RT_OK, or RT_ECANCELED when 'req' was aborted: the answer is dropped and 'req' freed. */
int rt_httpd_respond(rt_httpd_req *req, int status, const char *content_type, const void *body,
                     size_t len);

/* Answers 'req' with 'status' and 'body' as canonical JSON (rt_json_canonical: compact, keys
 * sorted, reals to 15 significant digits; application/json); 'body' is stolen
 * (its reference is released, also on error); NULL sends "null". Returns as rt_httpd_respond. */
int rt_httpd_respond_json(rt_httpd_req *req, int status, json_t *body);

/* The house error reply, and the only way an error answer leaves the server (its own 4xx and 5xx
 * too), so that each one is counted by 'code': answers 'req' with 'status' and
 * {"error":{"code":"<code>","message":"<formatted>"}}. 'code' is a short snake_case identifier
 * ("not_found", "body_too_large"); the message is cut to 1 KiB and repaired to UTF-8. Returns as
 * rt_httpd_respond. */
int rt_httpd_error(rt_httpd_req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- counters, for /metrics ------------------------------------------------------------------ */

/* How many error answers carried one code. */
typedef struct rt_httpd_error_count {
    const char *code; /* "other" collects codes beyond the first 64 distinct ones */
    uint64_t count;
} rt_httpd_error_count;

typedef struct rt_httpd_stats {
    uint64_t connections_accepted; /* served (those over the limit are not counted here) */
    uint64_t connections_rejected; /* over max_connections: answered 503 and closed */
    uint64_t connections_open;     /* now, including those closing */
    uint64_t requests;             /* handed to the handler */
    uint64_t waiting;              /* now with the handler, their clients waiting: handed over and
                                      neither answered nor aborted yet. A drain waits for 0 (the
                                      responses count the server's own refusals too, which never
                                      reached the handler) */
    uint64_t responses[6];         /* answers sent, by status class: [2] = 2xx … [5] = 5xx */
    uint64_t aborted;              /* requests whose connection went away before their answer */
    uint64_t timeouts;             /* connections closed for a header, body or write timeout, or
                                      for sending nothing at all (a quiet kept-alive connection
                                      that is closed is not counted) */
    const rt_httpd_error_count *errors; /* by code, in the order first seen: the server's own
                                           table, read on its loop, valid until it is closed */
    size_t n_errors;
} rt_httpd_stats;

/* Fills 'stats' with the counters of 'server' since it started. */
void rt_httpd_get_stats(const rt_httpd *server, rt_httpd_stats *stats);

#endif
