/* runtime/rt_http.h -- the HTTP client every connector call goes through: libcurl's multi
 * interface driven by a libuv loop, with per-call timeouts, response caps and retries, and
 * per-target concurrency and rate limits. Record and replay (rt_recording.h) plug in here, so
 * that there is one HTTP layer (DESIGN §7). The connectors' protocols live in workers/. */
#ifndef INQUEST_RT_HTTP_H
#define INQUEST_RT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "rt.h"

typedef struct rt_recording rt_recording;

/* The client of one loop. All its calls run on that loop's thread. */
typedef struct rt_http rt_http;

/* Creates the client of 'loop'. Aborts when out of memory. */
rt_http *rt_http_new(uv_loop_t *loop);
/* Cancels every call in flight (their callbacks are not called), closes the client's handles
 * and frees it once they are closed: the caller runs the loop afterwards until it is idle. */
void rt_http_free(rt_http *http);

/* With a recording in RT_RECORDING_RECORD mode, every exchange of every target is appended to
 * it; in RT_RECORDING_REPLAY mode, calls are answered from it and nothing goes to the network.
 * NULL: live, unrecorded (the default). The client does not own 'recording'. */
void rt_http_set_recording(rt_http *http, rt_recording *recording);

/* Where calls go, and how: one per connector. Strings are copied. */
typedef struct rt_http_target_options {
    const char *name;     /* the connector's name: in messages and as the recording key */
    const char *base_url; /* "http://127.0.0.1:9090/prefix"; may be NULL when replaying */
    double timeout;       /* seconds for a whole call, retries included; 0: 10 s */
    size_t max_response;  /* bytes of a response body; 0: 16 MiB */
    double rate_limit;    /* calls started per second; 0: no limit */
    int concurrency;      /* calls in flight at once; 0: 8 */
    int retries;          /* extra attempts of an idempotent call; negative: none; 0: default 2 */
    bool tls_verify;      /* verify the server's certificate and name */
    const char *const *headers; /* "Name: value" lines sent with every call, 'n_headers' of
                                   them; credentials go here and are never recorded or shown */
    size_t n_headers;
    const char *const *secrets; /* the credential's own values ('n_secrets' of them: a token, a
                                   password and its Basic form, a secret path), which a backend
                                   may echo: each occurrence in an answer's body, content type
                                   or message becomes RT_HTTP_REDACTED before the answer is
                                   recorded or handed on (also as JSON writes '/', "\/") */
    size_t n_secrets;
} rt_http_target_options;

/* What stands for a target's secret in its answers (rt_http_target_options.secrets). */
#define RT_HTTP_REDACTED "[redacted]"

typedef struct rt_http_target rt_http_target;

/* Adds a target to 'http'; it lives as long as the client. Returns NULL (and the reason in
 * 'why', at least 256 bytes) when the base URL is not http:// or https://. */
rt_http_target *rt_http_target_new(rt_http *http, const rt_http_target_options *options, char *why);
const char *rt_http_target_name(const rt_http_target *target);

typedef enum rt_http_method { RT_HTTP_GET = 0, RT_HTTP_POST } rt_http_method;

/* Bytes of answers that several calls read together (an analysis' limits.call_bytes). Each call
 * charges the body bytes it receives as they arrive, on every attempt, whether the call then
 * succeeds or not (a replayed call charges the bytes its recording reports, when it is answered);
 * a call whose body would take 'used' past 'limit' ends with RT_ELIMIT. So calls in flight at
 * once cannot read more than 'limit' between them. Owned by the caller; it must outlive its
 * calls. */
typedef struct rt_http_allowance {
    size_t limit;
    size_t used;
    const char *name; /* what the limit is called, for messages ("limits.call_bytes") */
} rt_http_allowance;

/* True when 'path' (up to its query or fragment) has a segment that climbs: "." or "..",
 * written plainly or percent-encoded (%2e, %2E, mixed), also when an encoded '/' or a '\'
 * (plain or %5C) bounds it or a ';' parameter follows it ("..;x"). Such a path would leave the
 * target's base URL (curl and servers resolve dot segments), so rt_http_start refuses it. */
bool rt_http_path_climbs(const char *path);

/* 'path' up to its query, for a message: control characters and '\' escaped ("\r", "\n",
 * "\x01"), cut to fit 'size' bytes (at least 8) with "…" where it was cut. */
void rt_http_path_show(const char *path, char *out, size_t size);

/* One call. 'path' is appended to the target's base URL and holds the query string, already
 * escaped ("/api/v1/query?query=up&time=1700000000"). Strings are copied. */
typedef struct rt_http_request {
    rt_http_method method;
    const char *path;
    const char *body; /* POST body or NULL */
    size_t body_len;
    const char *content_type;   /* of the body; NULL: application/json */
    bool idempotent;            /* may be retried (GETs, and POSTs that only read) */
    const char *const *headers; /* POST: "Name: value" lines of this call only, after the
                                   target's ('n_headers' of them; copied) */
    size_t n_headers;
    rt_recording *recording; /* this call's recording, over the client's (rt_http_set_recording):
                                it records into it or replays from it by its mode; NULL: the
                                client's. Not owned: it must outlive the call */
    rt_http_allowance *allowance; /* charged with the bytes the call reads; NULL: none */
} rt_http_request;

/* How a call ended. 'error' is RT_OK when an HTTP response arrived, whatever its status (the
 * caller judges 4xx and 5xx: the backend's body says what went wrong); otherwise one of
 * RT_ETIMEDOUT, RT_ECONNREFUSED, RT_ECONNECT, RT_ETLS, RT_ETOOBIG (the body passed the cap, or
 * a header curl's own limit), RT_ELIMIT (the body passed what was left of the request's
 * allowance), RT_EINPUT (a path that climbs: rt_http_path_climbs), RT_EREPLAY (no recorded
 * response: "replay: no recorded response for CONNECTOR METHOD PATH[ with body BODY]", ending in
 * "…" when the request could not be shown whole) or RT_EINTERNAL, and 'message' says what
 * happened in words a user can act on, naming the target (never a credential: the target's
 * secrets are redacted from it, its body and its content type). The body is the call's (a
 * replayed one's is the recording's own bytes, not a copy). */
typedef struct rt_http_response {
    int error;
    char message[512];
    long status; /* HTTP status, 0 when none arrived */
    char *body;  /* NUL-terminated, read-only, valid during the callback; "" on errors */
    size_t len;
    size_t bytes;           /* body bytes received, by every attempt and also when the call
                               failed (what its allowance was charged), or as recorded when
                               replayed */
    char content_type[128]; /* "" when absent */
    int attempts;           /* 1 + retries made; 0 when the call never left the queue */
    bool sent;              /* the request may have reached the target: false only when the last
                               attempt failed before it could be sent (no connection, no name,
                               TLS handshake, never left the queue) */
    double duration;        /* seconds from the start (queueing included) to the end */
} rt_http_response;

typedef struct rt_http_call rt_http_call;

/* Called once, on the loop, when a call ends; 'response' is valid only during the call. */
typedef void (*rt_http_done)(const rt_http_response *response, void *ud);

/* Starts a call to 'target'. It waits its turn under the target's concurrency and rate limits,
 * then is sent; connection errors, 5xx and 429 replies of idempotent calls are retried with
 * jittered exponential backoff, honouring Retry-After, within the call's timeout. 'done' is
 * always called from the loop, never before this returns. Returns the call, valid until 'done'
 * runs or it is cancelled. */
rt_http_call *rt_http_start(rt_http_target *target, const rt_http_request *request,
                            rt_http_done done, void *ud);
/* Stops 'call' and frees it, at any stage (queued, in flight, between attempts, replay
 * pending); its callback will not be called. Not for a call whose callback has run. */
void rt_http_cancel(rt_http_call *call);

#endif
