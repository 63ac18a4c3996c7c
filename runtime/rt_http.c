/* runtime/rt_http.c -- the HTTP client of rt_http.h: libcurl's multi interface on a libuv loop,
 * with per-call deadlines, capped bodies, retries, per-target queues and rate limits, and record
 * and replay through rt_recording.h (the recording format lives in rt_recording.c).
 *
 * Design notes.
 *
 * Driving curl. One multi handle per client: it holds curl's connection cache, so keep-alive
 * connections serve every call of the client. curl says which sockets to watch (on_socket: one
 * uv_poll_t per socket, attached to it with curl_multi_assign) and when to wake it (on_curl_timer:
 * one uv_timer_t); both hand control back through curl_multi_socket_action, after which
 * check_done collects the finished transfers. This is curl's docs/examples/multi-uv.c.
 *
 * A call is in one of four states:
 *   QUEUED   in its target's FIFO, waiting for a slot (concurrency) and, before its first
 *            attempt, a token (rate limit); its timer is armed at its deadline.
 *   RUNNING  an attempt's easy handle is in the multi and holds one of the target's slots.
 *   BACKOFF  between attempts, holding no slot; its timer is armed for the backoff.
 *   READY    its outcome is known without the network (a replay, or a failure before any
 *            attempt) and it waits in the client's ready list for the idle handle, because
 *            'done' never runs inside rt_http_start.
 * QUEUED -> RUNNING -> BACKOFF -> QUEUED (at the front: it has waited its turn once) -> ...
 * Every call ends in finish(), which records it, calls 'done' and frees it, or in cancel.
 *
 * Invariants:
 *   - user code runs only in finish(); every caller of finish() touches nothing afterwards but
 *     http->closing, because 'done' may have freed the client;
 *   - the client's memory lives until its last handle's close callback, so that read is safe;
 *   - pump() never calls user code, so it may run anywhere;
 *   - a handle is active only while there is work, so an idle client lets uv_run return. */
#define _GNU_SOURCE /* strncasecmp, memmem */
#include "rt_http.h"
#include "rt_ring.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include "rt_recording.h"

#define DEFAULT_TIMEOUT      10.0
#define DEFAULT_MAX_RESPONSE (16u << 20)
#define DEFAULT_CONCURRENCY  8
#define DEFAULT_RETRIES      2
#define BACKOFF_BASE         0.1 /* seconds before the first retry, doubled for each next one */
#define BACKOFF_CAP          5.0
#define MAX_CONNECTS         64 /* kept in curl's connection cache */
#define FIRST_BUFFER         16384
#define MIN_ATTEMPT          0.001 /* an attempt with less time left than this is not started */
#define REPLAY_BODY_SHOWN    200   /* bytes of a request body in a replay miss message */
#define REPLAY_CUT           "\xE2\x80\xA6" /* "…": where a replay miss message was cut */
#define PATH_SHOWN           100            /* bytes of a path in messages */

/* ---- structures ------------------------------------------------------------------------------ */

struct rt_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t curl_timer; /* curl's own timeouts */
    uv_idle_t ready_idle;  /* delivers the ready list; active only while it is not empty */
    rt_recording *recording;
    rt__ring calls;   /* every call not yet finished or cancelled (rt_http_call.in_client) */
    rt__ring ready;   /* READY calls (rt_http_call.in_wait) */
    rt__ring sockets; /* watched sockets (sock.in_client) */
    rt_http_target *targets;
    uint64_t rng;
    int open_handles; /* initialised and not yet closed: the client is freed when 0 */
    bool closing;
};

struct rt_http_target {
    rt_http *http;
    rt_http_target *next;
    char *name, *base_url;
    char *authority; /* "host:port" of the base URL, for messages */
    double timeout, rate, burst;
    size_t max_response;
    int concurrency, retries;
    bool tls_verify;
    struct curl_slist *headers;
    char **secrets; /* redacted from answers: the options' secrets and their JSON forms */
    size_t *secret_lens, n_secrets;
    rt__ring queue; /* QUEUED calls, oldest first (rt_http_call.in_wait) */
    int running;    /* RUNNING calls */
    double tokens;  /* of the rate limit's bucket, at time 'refilled' */
    double refilled;
    uv_timer_t pump_timer; /* wakes the queue when the next token is due */
};

typedef enum call_state { QUEUED, RUNNING, BACKOFF, READY } call_state;

struct rt_http_call {
    rt_http_target *target;
    rt_http_done done;
    void *ud;
    rt__ring in_client, in_wait;
    call_state state;
    rt_http_method method;
    bool idempotent;
    bool replayed;       /* the outcome comes from the recording */
    bool has_timer;      /* 'timer' is initialised: free the call in its close callback */
    bool waited_out;     /* the deadline passed while QUEUED */
    bool too_big;        /* the body passed the cap */
    bool over_allowance; /* the body passed what was left of the allowance */
    bool out_of_memory;  /* the body buffer could not grow */
    int max_attempts;
    char *path, *body, *content_type; /* copies; body and content_type may be NULL */
    size_t body_len;
    double started, deadline; /* seconds on uv_hrtime's clock */
    CURL *easy;
    struct curl_slist *post_headers; /* the target's, plus Content-Type, for a POST */
    struct curl_slist *own_headers;  /* the call's own, for a POST */
    CURLcode result;                 /* of the last attempt */
    long os_errno;
    double retry_after; /* seconds asked by the last reply's Retry-After; -1: none */
    char *buf;          /* the body of the last attempt, NUL-terminated */
    size_t len, cap;
    size_t received;              /* body bytes of every attempt: what 'allowance' was charged */
    size_t attempt_cap;           /* the most the last attempt could read */
    rt_http_allowance *allowance; /* not owned; NULL: none */
    const char *replay_body;      /* the recording's bytes, NUL-terminated */
    rt_recording *recording;      /* the call's own, else the client's; NULL: live, unrecorded */
    uv_timer_t timer;             /* QUEUED: the deadline; BACKOFF: the next attempt */
    rt_http_response r;           /* the outcome so far: the last attempt's */
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct sock {
    rt_http *http;
    curl_socket_t fd;
    uv_poll_t poll;
    rt__ring in_client;
} sock;

static const char *const method_names[] = {"GET", "POST"};
static char empty_body[1];

static double now(void) {
    return (double)uv_hrtime() / 1e9;
}

/* ---- handles and freeing --------------------------------------------------------------------- */

static void free_client(rt_http *http) {
    rt_http_target *t = http->targets;
    while (t) {
        rt_http_target *next = t->next;
        curl_slist_free_all(t->headers);
        for (size_t i = 0; i < t->n_secrets; i++)
            rt_secret_free(t->secrets[i], t->secret_lens[i]);
        free(t->secrets);
        free(t->secret_lens);
        free(t->name);
        free(t->base_url);
        free(t->authority);
        free(t);
        t = next;
    }
    free(http);
}

/* One of the client's handles is closed: the last one frees the client. */
static void unref_client(rt_http *http) {
    if (--http->open_handles == 0 && http->closing)
        free_client(http);
}

static void on_client_handle_closed(uv_handle_t *h) {
    unref_client(h->data);
}

static void on_target_timer_closed(uv_handle_t *h) {
    rt_http_target *t = h->data;
    unref_client(t->http);
}

static void on_sock_closed(uv_handle_t *h) {
    sock *k = h->data;
    rt_http *http = k->http;
    free(k);
    unref_client(http);
}

static void sock_close(sock *k) {
    rt__ring_remove(&k->in_client);
    uv_close((uv_handle_t *)&k->poll, on_sock_closed);
}

static void free_call_memory(rt_http_call *call) {
    curl_slist_free_all(call->post_headers);
    curl_slist_free_all(call->own_headers);
    free(call->path);
    free(call->body);
    free(call->content_type);
    free(call->buf);
    free(call);
}

static void on_call_timer_closed(uv_handle_t *h) {
    rt_http_call *call = h->data;
    rt_http *http = call->target->http;
    free_call_memory(call);
    unref_client(http);
}

/* Frees 'call', which is in no ring and whose easy handle is out of the multi. */
static void call_free(rt_http_call *call) {
    if (call->easy)
        curl_easy_cleanup(call->easy);
    if (call->has_timer)
        uv_close((uv_handle_t *)&call->timer, on_call_timer_closed);
    else
        free_call_memory(call);
}

static void on_call_timer(uv_timer_t *timer);

/* Arms the call's timer 'seconds' from now, initialising it on first use: replayed calls and
 * calls that never wait need none. */
static void arm(rt_http_call *call, double seconds) {
    rt_http *http = call->target->http;
    if (!call->has_timer) {
        uv_timer_init(http->loop, &call->timer);
        call->timer.data = call;
        call->has_timer = true;
        http->open_handles++;
    }
    double ms = ceil(seconds * 1000);
    uv_timer_start(&call->timer, on_call_timer, ms > 0 ? (uint64_t)ms : 0, 0);
}

/* ---- messages -------------------------------------------------------------------------------- */

/* "16 MiB", "512 KiB" or "1000 bytes". 'out' holds 32 bytes. */
static void format_size(size_t n, char *out) {
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(out, 32, "%zu MiB", n >> 20);
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(out, 32, "%zu KiB", n >> 10);
    else
        snprintf(out, 32, "%zu bytes", n);
}

/* One byte of a path as a message shows it into 'esc' (4 bytes); returns its length. */
static size_t show_byte(unsigned char ch, char *esc) {
    static const char hex[] = "0123456789abcdef";
    static const char named[] = {['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r'};
    if (ch == '\\' || (ch < sizeof named && named[ch])) {
        esc[0] = '\\';
        esc[1] = ch == '\\' ? '\\' : named[ch];
        return 2;
    }
    if (ch < 0x20 || ch == 0x7f) {
        memcpy(esc, "\\x", 2);
        esc[2] = hex[ch >> 4];
        esc[3] = hex[ch & 15];
        return 4;
    }
    esc[0] = (char)ch;
    return 1;
}

void rt_http_path_show(const char *path, char *out, size_t size) {
    static const char cut[] = "…";
    size_t n = strcspn(path, "?"), room = size - sizeof cut, o = 0, i = 0;
    for (; i < n; i++) {
        char esc[4];
        size_t k = show_byte((unsigned char)path[i], esc);
        if (o + k > room)
            break;
        memcpy(out + o, esc, k);
        o += k;
    }
    if (i < n) {
        /* A character cut in two would not be UTF-8: its bytes went out as they were. */
        while (o > 0 && ((unsigned char)path[i] & 0xC0) == 0x80)
            o--, i--;
        memcpy(out + o, cut, sizeof cut);
    } else {
        out[o] = '\0';
    }
}

/* "GET /api/v1/query, 3 attempts": the call, for messages. The query is left out: it is long
 * and says nothing about why a call failed. Control characters are escaped: a path holding
 * "\r\n" must not put lines of its own choosing into a log or a result. */
static void describe_call(const rt_http_call *call, char *out, size_t size) {
    char path[PATH_SHOWN + 4];
    rt_http_path_show(call->path, path, sizeof path);
    snprintf(out, size, "%s %s, %d attempt%s", method_names[call->method], path, call->r.attempts,
             call->r.attempts == 1 ? "" : "s");
}

/* curl's own words for the last attempt's failure. The URL it may quote holds no credentials:
 * rt_http_target_new refuses user:password@. */
static const char *curl_words(const rt_http_call *call) {
    return call->errbuf[0] ? call->errbuf : curl_easy_strerror(call->result);
}

/* Fills the message of a live call that ended in an error, once its attempts are counted. */
static void explain(rt_http_call *call) {
    const rt_http_target *t = call->target;
    char what[280], size[32], limit[32], where[150];
    switch (call->r.error) {
    case RT_ETIMEDOUT:
        rt_duration_format(t->timeout, limit);
        snprintf(what, sizeof what, "no answer within %s%s", limit,
                 call->waited_out ? ": still waiting for its turn under the target's concurrency "
                                    "and rate limits"
                                  : "");
        break;
    case RT_ECONNREFUSED:
        snprintf(what, sizeof what, "connection refused by %s", t->authority);
        break;
    case RT_ETOOBIG:
        format_size(t->max_response, size);
        if (call->result == CURLE_OUT_OF_MEMORY)
            snprintf(what, sizeof what, "a response header larger than curl's 100 KiB limit");
        else
            snprintf(what, sizeof what, "response larger than the %s cap", size);
        break;
    case RT_ELIMIT:
        format_size(call->allowance->limit, size);
        snprintf(what, sizeof what, "%s %.64s (%s in all)",
                 call->attempt_cap ? "answer larger than what is left of" : "nothing left of",
                 call->allowance->name, size);
        break;
    case RT_ETLS:
        snprintf(what, sizeof what, "TLS failure with %s: %s", t->authority, curl_words(call));
        break;
    case RT_ECONNECT:
        if (call->result == CURLE_COULDNT_RESOLVE_HOST)
            snprintf(what, sizeof what, "cannot resolve the host of %s", t->authority);
        else if (call->result == CURLE_GOT_NOTHING)
            snprintf(what, sizeof what, "%s closed the connection without replying", t->authority);
        else if (call->result == CURLE_COULDNT_CONNECT)
            snprintf(what, sizeof what, "cannot connect to %s: %s", t->authority, curl_words(call));
        else
            snprintf(what, sizeof what, "connection to %s failed: %s", t->authority,
                     curl_words(call));
        break;
    default:
        snprintf(what, sizeof what, "%s",
                 call->out_of_memory ? "out of memory for the response" : curl_words(call));
        break;
    }
    describe_call(call, where, sizeof where);
    snprintf(call->r.message, sizeof call->r.message, "%.64s: %s (%s)", t->name, what, where);
}

/* ---- outcomes -------------------------------------------------------------------------------- */

static int map_error(const rt_http_call *call) {
    switch (call->result) {
    case CURLE_OK:
        return RT_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return RT_ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return call->os_errno == ECONNREFUSED ? RT_ECONNREFUSED : RT_ECONNECT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return RT_ECONNECT;
    case CURLE_FILESIZE_EXCEEDED:
        return RT_ETOOBIG;
    case CURLE_OUT_OF_MEMORY:
        /* What curl 7.x answers for one header line over its CURL_MAX_HTTP_HEADER (100 KiB):
         * its header buffer refuses to grow. Its own words, "Out of memory", would send the
         * reader after the wrong cause; a real allocation failure in curl is this rare. */
        return RT_ETOOBIG;
    case CURLE_WRITE_ERROR:
        return call->too_big ? RT_ETOOBIG : RT_EINTERNAL;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return RT_ETLS;
    default:
        return RT_EINTERNAL;
    }
}

/* Transport failures after which the request may not have been seen, or was not answered:
 * worth another attempt when the call is idempotent. */
static bool retryable_failure(CURLcode result) {
    return result == CURLE_COULDNT_CONNECT || result == CURLE_GOT_NOTHING ||
           result == CURLE_RECV_ERROR || result == CURLE_SEND_ERROR;
}

/* Fills 'call->r' from the attempt that just ended. */
static void take_outcome(rt_http_call *call) {
    rt_http_response *r = &call->r;
    const char *type = NULL;
    r->status = 0;
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(call->easy, CURLINFO_OS_ERRNO, &call->os_errno);
    curl_easy_getinfo(call->easy, CURLINFO_CONTENT_TYPE, &type);
    snprintf(r->content_type, sizeof r->content_type, "%s", type ? type : "");
    r->error = map_error(call);
    if (call->result == CURLE_FILESIZE_EXCEEDED && call->attempt_cap < call->target->max_response) {
        /* Content-Length said more than the allowance had left: over the cap too? */
        curl_off_t length = -1;
        curl_easy_getinfo(call->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        call->over_allowance = length < 0 || (uint64_t)length <= call->target->max_response;
    }
    if (call->over_allowance)
        r->error = RT_ELIMIT;
    /* Once curl is past connecting (and the TLS handshake), the request may be on its way. */
    curl_off_t pretransfer = 0;
    curl_easy_getinfo(call->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    r->sent = call->result == CURLE_OK || r->status != 0 || pretransfer > 0;
    r->message[0] = '\0';
    r->body = call->buf && r->error == RT_OK ? call->buf : empty_body;
    r->len = r->error == RT_OK ? call->len : 0;
    r->bytes = call->received;
}

static bool wants_retry(const rt_http_call *call) {
    if (!call->idempotent || call->r.attempts >= call->max_attempts)
        return false;
    if (call->result == CURLE_OK)
        return call->r.status == 429 || (call->r.status >= 500 && call->r.status <= 599);
    return retryable_failure(call->result);
}

/* A number in [0, 1), from xorshift64*: jitter needs no better. */
static double random01(rt_http *http) {
    uint64_t x = http->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    http->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void record(rt_http_call *call) {
    const rt_http_response *r = &call->r;
    rt_exchange e = {
        .connector = call->target->name,
        .method = method_names[call->method],
        .path = call->path,
        .body = call->body,
        .body_len = call->body_len,
        .error = r->error,
        .message = r->message[0] ? r->message : NULL,
        .status = r->status,
        .response = r->body,
        .response_len = r->len,
        .bytes = r->bytes,
        .content_type = r->content_type[0] ? r->content_type : NULL,
    };
    /* Out of memory for the body, the exchange is lost and the recording says so when it is
     * saved: the call itself goes on, its answer in hand. */
    (void)rt_recording_add(call->recording, &e);
}

/* ---- secrets in answers ---------------------------------------------------------------------- */

/* The 'len' bytes at 'text' with each occurrence of 'secret' ('slen' bytes) replaced by
 * RT_HTTP_REDACTED: a new NUL-terminated buffer of '*out_len' bytes (malloc'd: the size comes
 * from the network), or NULL when 'secret' does not occur, or when the buffer cannot be had,
 * which sets '*failed'. */
static char *replace_all(const char *text, size_t len, const char *secret, size_t slen,
                         size_t *out_len, bool *failed) {
    static const char mark[] = RT_HTTP_REDACTED;
    const char *end = text + len, *p, *hit;
    size_t found = 0;
    for (p = text; (hit = memmem(p, (size_t)(end - p), secret, slen)); p = hit + slen)
        found++;
    if (!found)
        return NULL;
    size_t n = len - found * slen + found * (sizeof mark - 1);
    char *out = malloc(n + 1), *o = out;
    if (!out) {
        *failed = true;
        return NULL;
    }
    for (p = text; (hit = memmem(p, (size_t)(end - p), secret, slen)); p = hit + slen) {
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, mark, sizeof mark - 1);
        o += sizeof mark - 1;
    }
    memcpy(o, p, (size_t)(end - p));
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* 'text' ('len' bytes) without any of the target's secrets: a new buffer of '*out_len' bytes,
 * NULL when none occurs, or NULL and '*failed' when out of memory. */
static char *redacted(const rt_http_target *t, const char *text, size_t len, size_t *out_len,
                      bool *failed) {
    char *clean = NULL;
    *failed = false;
    *out_len = len;
    for (size_t i = 0; i < t->n_secrets && !*failed; i++) {
        size_t n;
        char *next = replace_all(clean ? clean : text, *out_len, t->secrets[i], t->secret_lens[i],
                                 &n, failed);
        if (next) {
            free(clean);
            clean = next;
            *out_len = n;
        }
    }
    if (*failed) {
        free(clean);
        return NULL;
    }
    return clean;
}

/* Redacts the NUL-terminated 'text' in its 'size'-byte buffer, cutting what no longer fits;
 * out of memory, it empties it. */
/* Cuts off the end of 'text' ('len' bytes) where it holds the start of a secret: a message cut
 * to its buffer may have lost the rest of one, which whole-secret redaction cannot see. */
static void cut_secret_start(const rt_http_target *t, char *text, size_t len) {
    for (size_t i = 0; i < t->n_secrets; i++) {
        size_t most = t->secret_lens[i] - 1 < len ? t->secret_lens[i] - 1 : len;
        for (size_t k = most; k > 0; k--)
            if (memcmp(text + len - k, t->secrets[i], k) == 0) {
                len -= k;
                text[len] = '\0';
                break;
            }
    }
}

/* Redacts 'text', a buffer of 'size' bytes that may have been filled and cut. */
static void redact_fixed(const rt_http_target *t, char *text, size_t size) {
    size_t n, len = strlen(text);
    bool failed;
    if (len + 1 >= size)
        cut_secret_start(t, text, len);
    char *clean = redacted(t, text, strlen(text), &n, &failed);
    if (failed) {
        text[0] = '\0';
    } else if (clean) {
        n = n < size ? n : rt_utf8_cut(clean, n, size - 1);
        memcpy(text, clean, n);
        text[n] = '\0';
    }
    free(clean);
}

/* Takes the target's secrets out of what the call's owner and the recording are given: a
 * backend that echoes the request (a 404 quoting its path, an /echo of its headers) would
 * otherwise hand the credential to analyzer code, results and recordings. One memmem per
 * secret over the body when nothing is found. */
static void redact_outcome(rt_http_call *call) {
    rt_http_response *r = &call->r;
    const rt_http_target *t = call->target;
    redact_fixed(t, r->message, sizeof r->message);
    redact_fixed(t, r->content_type, sizeof r->content_type);
    if (r->body == empty_body || r->len == 0)
        return;
    size_t n;
    bool failed;
    char *clean = redacted(t, r->body, r->len, &n, &failed);
    if (failed) { /* the body cannot be cleaned: it does not leave */
        r->body = empty_body;
        r->len = 0;
        r->error = RT_EINTERNAL;
        call->out_of_memory = true;
        r->message[0] = '\0';
        explain(call);
        return;
    }
    if (!clean)
        return;
    free(call->buf);
    call->buf = r->body = clean;
    call->len = r->len = n;
    call->cap = n + 1;
}

/* Ends 'call': records it, tells its owner and frees it. The caller must not touch the client
 * afterwards except to read http->closing. */
static void finish(rt_http_call *call) {
    rt__ring_remove(&call->in_client);
    rt__ring_remove(&call->in_wait);
    call->r.duration = now() - call->started;
    if (call->replayed) {
        /* The recording's own bytes, NUL-terminated (rt_recording_match): nothing copied. The
         * cast only matches the response's type; the callback may not write to the body. */
        call->r.body = call->replay_body ? (char *)call->replay_body : empty_body;
    } else {
        call->r.bytes = call->received; /* also when no attempt's outcome was taken */
        if (!call->r.body)              /* it ended before any answer */
            call->r.body = empty_body;
        if (call->r.error != RT_OK && !call->r.message[0])
            explain(call);
        if (call->target->n_secrets)
            redact_outcome(call);
        if (call->recording && rt_recording_get_mode(call->recording) == RT_RECORDING_RECORD)
            record(call);
    }
    call->done(&call->r, call->ud);
    call_free(call);
}

static void on_ready(uv_idle_t *idle);

/* Puts 'call' in the ready list, to be finished from the loop. */
static void make_ready(rt_http_call *call) {
    rt_http *http = call->target->http;
    call->state = READY;
    rt__ring_remove(&call->in_wait);
    rt__ring_insert_before(&http->ready, &call->in_wait);
    if (!uv_is_active((uv_handle_t *)&http->ready_idle))
        uv_idle_start(&http->ready_idle, on_ready);
}

static void fail_early(rt_http_call *call, int error, CURLcode result) {
    call->r.error = error;
    call->result = result;
    make_ready(call);
}

/* ---- attempts -------------------------------------------------------------------------------- */

static size_t allowance_left(const rt_http_allowance *a) {
    return a->used < a->limit ? a->limit - a->used : 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
    rt_http_call *call = ud;
    size_t add = size * n, cap = call->target->max_response;
    if (add > cap - call->len) {
        call->too_big = true;
        return 0;
    }
    if (call->allowance && add > allowance_left(call->allowance)) {
        call->over_allowance = true;
        return 0;
    }
    if (call->len + add + 1 > call->cap) {
        size_t want = call->cap ? call->cap : FIRST_BUFFER;
        while (want < call->len + add + 1)
            want *= 2;
        if (want > cap + 1)
            want = cap + 1;
        char *p = realloc(call->buf, want); /* the size comes from the network */
        if (!p) {
            call->out_of_memory = true;
            return 0;
        }
        call->buf = p;
        call->cap = want;
    }
    memcpy(call->buf + call->len, data, add);
    call->len += add;
    call->buf[call->len] = '\0';
    call->received += add;
    if (call->allowance)
        call->allowance->used += add;
    return add;
}

/* Retry-After's value: delta seconds, or an HTTP date. Returns seconds from now, or -1. */
static double parse_retry_after(const char *value, size_t n) {
    char text[64];
    while (n && (*value == ' ' || *value == '\t'))
        value++, n--;
    while (n && (value[n - 1] == '\r' || value[n - 1] == '\n' || value[n - 1] == ' '))
        n--;
    if (n == 0 || n >= sizeof text)
        return -1;
    memcpy(text, value, n);
    text[n] = '\0';
    if (strspn(text, "0123456789") == n)
        return strtod(text, NULL);
    time_t at = curl_getdate(text, NULL);
    if (at == -1)
        return -1;
    double delta = difftime(at, time(NULL));
    return delta > 0 ? delta : 0;
}

static size_t on_header(char *line, size_t size, size_t n, void *ud) {
    rt_http_call *call = ud;
    size_t len = size * n;
    static const char name[] = "Retry-After:";
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) /* a new response: forget the last one's */
        call->retry_after = -1;
    else if (len > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0)
        call->retry_after = parse_retry_after(line + sizeof name - 1, len - (sizeof name - 1));
    return len;
}

/* Makes the call's easy handle: everything but the attempt's timeout, set once per call. */
static int setup_easy(rt_http_call *call) {
    rt_http_target *t = call->target;
    CURL *e = curl_easy_init();
    if (!e)
        return RT_EINTERNAL;
    size_t nb = strlen(t->base_url), np = strlen(call->path);
    char *url = rt_xmalloc(nb + np + 1);
    memcpy(url, t->base_url, nb);
    memcpy(url + nb, call->path, np + 1);
    curl_easy_setopt(e, CURLOPT_URL, url); /* curl copies it */
    free(url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "inquest/" INQUEST_VERSION);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, t->tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, t->tls_verify ? 2L : 0L);
    if (call->method == RT_HTTP_POST) {
        char line[160];
        for (const struct curl_slist *h = t->headers; h; h = h->next)
            call->post_headers = curl_slist_append(call->post_headers, h->data);
        for (const struct curl_slist *h = call->own_headers; h; h = h->next)
            call->post_headers = curl_slist_append(call->post_headers, h->data);
        snprintf(line, sizeof line, "Content-Type: %s",
                 call->content_type ? call->content_type : "application/json");
        call->post_headers = curl_slist_append(call->post_headers, line);
        /* No "100 Continue" round trip before a large body: the backends answer at once. */
        call->post_headers = curl_slist_append(call->post_headers, "Expect:");
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body ? call->body : empty_body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->post_headers);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    }
    call->easy = e;
    return RT_OK;
}

/* Sends the next attempt of 'call', which holds a slot; failures go to the ready list. */
static void start_attempt(rt_http_call *call) {
    rt_http_target *t = call->target;
    double left = call->deadline - now();
    if (left < MIN_ATTEMPT) {
        /* Never tried: its time went by in the queue, also when the slot it waited for came
         * free in the same turn of the loop as its deadline. */
        call->waited_out = call->r.attempts == 0;
        fail_early(call, RT_ETIMEDOUT, CURLE_OPERATION_TIMEDOUT);
        return;
    }
    if (!call->easy && setup_easy(call) != RT_OK) {
        fail_early(call, RT_EINTERNAL, CURLE_FAILED_INIT);
        return;
    }
    /* A body that Content-Length says is over the cap, or over what the allowance has left, is
     * refused before it is read. */
    call->attempt_cap = t->max_response;
    if (call->allowance && allowance_left(call->allowance) < call->attempt_cap)
        call->attempt_cap = allowance_left(call->allowance);
    if (call->attempt_cap == 0) { /* 0 would tell curl "no limit" */
        call->over_allowance = true;
        fail_early(call, RT_ELIMIT, CURLE_FILESIZE_EXCEEDED);
        return;
    }
    call->len = 0;
    call->too_big = call->over_allowance = call->out_of_memory = false;
    call->retry_after = -1;
    call->errbuf[0] = '\0';
    curl_easy_setopt(call->easy, CURLOPT_TIMEOUT_MS, (long)ceil(left * 1000));
    curl_easy_setopt(call->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)call->attempt_cap);
    call->r.attempts++;
    if (curl_multi_add_handle(t->http->multi, call->easy) != CURLM_OK) {
        fail_early(call, RT_EINTERNAL, CURLE_FAILED_INIT);
        return;
    }
    call->state = RUNNING;
    t->running++;
}

/* Takes a token of 't's bucket, or returns how many seconds until there is one. */
static double take_token(rt_http_target *t) {
    if (t->rate <= 0)
        return 0;
    double at = now();
    t->tokens += (at - t->refilled) * t->rate;
    if (t->tokens > t->burst)
        t->tokens = t->burst;
    t->refilled = at;
    if (t->tokens >= 1) {
        t->tokens -= 1;
        return 0;
    }
    return (1 - t->tokens) / t->rate;
}

static void on_pump_timer(uv_timer_t *timer);

/* Starts queued calls of 't' while it has free slots and tokens. Retries took their token with
 * their first attempt: the rate limit counts calls, not attempts. */
static void pump(rt_http_target *t) {
    while (!rt__ring_empty(&t->queue) && t->running < t->concurrency) {
        rt_http_call *call = RT__RING_ENTRY(t->queue.next, rt_http_call, in_wait);
        if (call->r.attempts == 0) {
            double wait = take_token(t);
            if (wait > 0) {
                uv_timer_start(&t->pump_timer, on_pump_timer, (uint64_t)ceil(wait * 1000), 0);
                return;
            }
        }
        rt__ring_remove(&call->in_wait);
        if (call->has_timer)
            uv_timer_stop(&call->timer);
        start_attempt(call);
    }
}

static void on_pump_timer(uv_timer_t *timer) {
    pump(timer->data);
}

/* Puts 'call' in its target's queue ('front' for a retry) and starts what can start. */
static void enqueue(rt_http_call *call, bool front) {
    rt_http_target *t = call->target;
    call->state = QUEUED;
    rt__ring_insert_before(front ? t->queue.next : &t->queue, &call->in_wait);
    pump(t);
    if (call->state == QUEUED)
        arm(call, call->deadline - now());
}

static void on_call_timer(uv_timer_t *timer) {
    rt_http_call *call = timer->data;
    if (call->state == BACKOFF) {
        enqueue(call, true);
        return;
    }
    double left = call->deadline - now();
    if (left >= MIN_ATTEMPT) { /* libuv's clock runs a little behind ours */
        arm(call, left);
        return;
    }
    call->waited_out = true;
    call->r.error = RT_ETIMEDOUT;
    call->result = CURLE_OPERATION_TIMEDOUT;
    finish(call);
}

/* The attempt of 'call' is over: retry it, or end it. */
static void attempt_done(rt_http_call *call, CURLcode result) {
    rt_http_target *t = call->target;
    rt_http *http = t->http;
    curl_multi_remove_handle(http->multi, call->easy);
    t->running--;
    call->result = result;
    take_outcome(call);
    pump(t);
    if (wants_retry(call)) {
        double delay = BACKOFF_BASE * pow(2, call->r.attempts - 1);
        if (delay > BACKOFF_CAP)
            delay = BACKOFF_CAP;
        delay *= 0.5 + 0.5 * random01(http);
        if (call->retry_after > delay)
            delay = call->retry_after;
        if (now() + delay + MIN_ATTEMPT < call->deadline) {
            call->state = BACKOFF;
            arm(call, delay);
            return;
        }
        /* No time for the wait the server or the backoff asks: the last outcome stands. */
    }
    finish(call);
}

/* ---- driving curl ---------------------------------------------------------------------------- */

static void check_done(rt_http *http) {
    CURLMsg *m;
    int left;
    while (!http->closing && (m = curl_multi_info_read(http->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *call = NULL;
        CURLcode result = m->data.result; /* 'm' dies with the easy handle's removal */
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &call);
        attempt_done((rt_http_call *)(void *)call, result);
    }
}

static void on_poll(uv_poll_t *poll, int status, int events) {
    sock *k = poll->data;
    rt_http *http = k->http;
    int flags = 0, running;
    if (http->closing)
        return;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else
        flags = (events & UV_READABLE ? CURL_CSELECT_IN : 0) |
                (events & UV_WRITABLE ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(http->multi, k->fd, flags, &running);
    check_done(http);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    rt_http *http = userp;
    sock *k = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (k) {
            sock_close(k);
            if (http->multi)
                curl_multi_assign(http->multi, fd, NULL);
        }
        return 0;
    }
    if (!k) {
        k = rt_xcalloc(1, sizeof *k);
        k->http = http;
        k->fd = fd;
        if (uv_poll_init_socket(http->loop, &k->poll, fd) != 0) {
            free(k);
            return -1;
        }
        k->poll.data = k;
        http->open_handles++;
        rt__ring_insert_before(&http->sockets, &k->in_client);
        curl_multi_assign(http->multi, fd, k);
    }
    int events = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&k->poll, events, on_poll);
    return 0;
}

static void on_curl_timeout(uv_timer_t *timer) {
    rt_http *http = timer->data;
    int running;
    if (http->closing)
        return;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(http);
}

static int on_curl_timer(CURLM *multi, long ms, void *userp) {
    rt_http *http = userp;
    (void)multi;
    if (ms < 0 || http->closing)
        uv_timer_stop(&http->curl_timer);
    else /* 0 too goes through the loop: curl may not be called back from its own callback */
        uv_timer_start(&http->curl_timer, on_curl_timeout, (uint64_t)ms, 0);
    return 0;
}

static void on_ready(uv_idle_t *idle) {
    rt_http *http = idle->data;
    rt__ring batch;
    /* Only the calls ready now: those made ready by the callbacks wait for the next turn, so a
     * callback that starts a call for each one it gets cannot hold the loop here. */
    rt__ring_move(&http->ready, &batch);
    uv_idle_stop(idle);
    while (!rt__ring_empty(&batch)) {
        finish(RT__RING_ENTRY(batch.next, rt_http_call, in_wait));
        if (http->closing)
            return;
    }
}

/* ---- the API --------------------------------------------------------------------------------- */

static void global_init(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

rt_http *rt_http_new(uv_loop_t *loop) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init);
    rt_http *http = rt_xcalloc(1, sizeof *http);
    http->loop = loop;
    http->multi = curl_multi_init();
    if (!http->multi) {
        fprintf(stderr, "inquest: cannot create a curl multi handle\n");
        abort();
    }
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, (long)MAX_CONNECTS);
    curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    uv_timer_init(loop, &http->curl_timer);
    http->curl_timer.data = http;
    uv_idle_init(loop, &http->ready_idle);
    http->ready_idle.data = http;
    http->open_handles = 2;
    rt__ring_init(&http->calls);
    rt__ring_init(&http->ready);
    rt__ring_init(&http->sockets);
    http->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)http) | 1;
    return http;
}

void rt_http_free(rt_http *http) {
    if (!http)
        return;
    http->closing = true;
    /* Cancelling one call touches no other while closing (nothing is pumped), so the next
     * member can be read first. */
    for (rt__ring *r = http->calls.next, *next; r != &http->calls; r = next) {
        next = r->next;
        rt_http_cancel(RT__RING_ENTRY(r, rt_http_call, in_client));
    }
    CURLM *multi = http->multi;
    http->multi = NULL;
    curl_multi_cleanup(multi);
    while (!rt__ring_empty(&http->sockets))
        sock_close(RT__RING_ENTRY(http->sockets.next, sock, in_client));
    for (rt_http_target *t = http->targets; t; t = t->next)
        uv_close((uv_handle_t *)&t->pump_timer, on_target_timer_closed);
    uv_close((uv_handle_t *)&http->curl_timer, on_client_handle_closed);
    uv_close((uv_handle_t *)&http->ready_idle, on_client_handle_closed);
}

void rt_http_set_recording(rt_http *http, rt_recording *recording) {
    http->recording = recording;
}

/* Checks 'o' for rt_http_target_new; the reason in 'why'. Header lines are checked for shape
 * only and never quoted: they hold credentials. */
static bool target_options_ok(const rt_http_target_options *o, char *why) {
    const char *name = o->name && *o->name ? o->name : NULL;
    if (!name) {
        snprintf(why, 256, "a target needs a name");
        return false;
    }
    if (o->base_url) {
        const char *rest = strncmp(o->base_url, "http://", 7) == 0    ? o->base_url + 7
                           : strncmp(o->base_url, "https://", 8) == 0 ? o->base_url + 8
                                                                      : NULL;
        if (!rest) {
            snprintf(why, 256, "%.64s: the base URL must start with http:// or https://", name);
            return false;
        }
        size_t authority = strcspn(rest, "/?#");
        if (authority == 0 || memchr(rest, '@', authority)) {
            snprintf(why, 256, "%.64s: the base URL needs a host and no user:password@", name);
            return false;
        }
    }
    for (size_t i = 0; i < o->n_headers; i++) {
        const char *h = o->headers[i];
        if (!h || !strchr(h, ':') || h[0] == ':' || strpbrk(h, "\r\n")) {
            snprintf(why, 256, "%.64s: header %zu is not a \"Name: value\" line", name, i + 1);
            return false;
        }
    }
    return true;
}

/* How a JSON writer may escape a secret it echoes in a string: it always escapes '"', '\' and
 * control characters; some also '/' ("\/"), some every non-ASCII character (\uXXXX, a
 * surrogate pair past U+FFFF), in upper or lower case hex. */
enum { ESCAPE_SLASH = 1, ESCAPE_NON_ASCII = 2, HEX_LOWER = 4, ESCAPE_WAYS = 8 };

static char *put_code(char *o, unsigned code, int how) {
    return o + sprintf(o, how & HEX_LOWER ? "\\u%04x" : "\\u%04X", code);
}

/* The code point of the UTF-8 character at 's' in '*code'; its length, or 0 when 's' does not
 * start a valid one. */
static size_t utf8_decode(const unsigned char *s, unsigned *code) {
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (!n || s[0] > 0xF4)
        return 0;
    *code = s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *code = *code << 6 | (s[i] & 0x3F);
    }
    static const unsigned least[] = {0, 0, 0x80, 0x800, 0x10000};
    bool valid = *code >= least[n] && *code <= 0x10FFFF && (*code < 0xD800 || *code > 0xDFFF);
    return valid ? n : 0;
}

/* 'secret' as a JSON writer escaping it 'how' writes it in a string (malloc'd); NULL when its
 * non-ASCII characters are to be escaped and it is not UTF-8. */
static char *json_escaped(const char *secret, int how) {
    static const char escaped[] = "\"\\\b\f\n\r\t", letters[] = "\"\\bfnrt";
    char *out = rt_xmalloc(strlen(secret) * 6 + 1), *o = out; /* at most 6 bytes for a byte */
    for (const unsigned char *p = (const unsigned char *)secret; *p;) {
        const char *shorter = strchr(escaped, *p);
        unsigned code;
        size_t n;
        if (*p == '/' && (how & ESCAPE_SLASH)) {
            *o++ = '\\', *o++ = '/', p++;
        } else if (shorter) {
            *o++ = '\\', *o++ = letters[shorter - escaped], p++;
        } else if (*p < 0x20) {
            o = put_code(o, *p++, how);
        } else if (*p < 0x80 || !(how & ESCAPE_NON_ASCII)) {
            *o++ = (char)*p++;
        } else if ((n = utf8_decode(p, &code)) == 0) {
            rt_secret_free(out, (size_t)(o - out));
            return NULL;
        } else {
            if (code > 0xFFFF) {
                code -= 0x10000;
                o = put_code(o, 0xD800 | code >> 10, how);
                code = 0xDC00 | (code & 0x3FF);
            }
            o = put_code(o, code, how);
            p += n;
        }
    }
    *o = '\0';
    return out;
}

static bool kept_already(const rt_http_target *t, size_t from, const char *form) {
    for (size_t i = from; i < t->n_secrets; i++)
        if (strcmp(t->secrets[i], form) == 0)
            return true;
    return false;
}

/* Keeps 'secret' for redaction, with every other form a backend echoing it in a JSON string may
 * write it in (json_escaped). */
static void add_secret(rt_http_target *t, const char *secret) {
    size_t first = t->n_secrets;
    if (!*secret)
        return;
    t->secrets = rt_xrealloc(t->secrets, (first + 1 + ESCAPE_WAYS) * sizeof *t->secrets);
    t->secret_lens =
        rt_xrealloc(t->secret_lens, (first + 1 + ESCAPE_WAYS) * sizeof *t->secret_lens);
    t->secrets[t->n_secrets] = rt_xstrdup(secret);
    t->secret_lens[t->n_secrets++] = strlen(secret);
    for (int how = 0; how < ESCAPE_WAYS; how++) {
        char *form = json_escaped(secret, how);
        if (!form)
            continue;
        if (kept_already(t, first, form)) {
            rt_secret_free(form, strlen(form));
            continue;
        }
        t->secrets[t->n_secrets] = form;
        t->secret_lens[t->n_secrets++] = strlen(form);
    }
}

rt_http_target *rt_http_target_new(rt_http *http, const rt_http_target_options *options,
                                   char *why) {
    if (!target_options_ok(options, why))
        return NULL;
    rt_http_target *t = rt_xcalloc(1, sizeof *t);
    t->http = http;
    t->name = rt_xstrdup(options->name);
    if (options->base_url) {
        t->base_url = rt_xstrdup(options->base_url);
        size_t n = strlen(t->base_url);
        while (n > 0 && t->base_url[n - 1] == '/') /* the call's path brings its own */
            t->base_url[--n] = '\0';
        const char *host = strstr(t->base_url, "://") + 3;
        size_t len = strcspn(host, "/?#");
        t->authority = rt_xmalloc(len + 1);
        memcpy(t->authority, host, len);
        t->authority[len] = '\0';
    } else {
        t->authority = rt_xstrdup("(no base URL)");
    }
    t->timeout = options->timeout > 0 ? options->timeout : DEFAULT_TIMEOUT;
    t->max_response = options->max_response ? options->max_response : DEFAULT_MAX_RESPONSE;
    t->rate = options->rate_limit > 0 ? options->rate_limit : 0;
    t->burst = t->rate > 1 ? t->rate : 1;
    t->tokens = t->burst;
    t->refilled = now();
    t->concurrency = options->concurrency > 0 ? options->concurrency : DEFAULT_CONCURRENCY;
    t->retries = options->retries < 0 ? 0 : options->retries ? options->retries : DEFAULT_RETRIES;
    t->tls_verify = options->tls_verify;
    for (size_t i = 0; i < options->n_headers; i++)
        t->headers = curl_slist_append(t->headers, options->headers[i]);
    for (size_t i = 0; i < options->n_secrets; i++)
        if (options->secrets[i])
            add_secret(t, options->secrets[i]);
    rt__ring_init(&t->queue);
    uv_timer_init(http->loop, &t->pump_timer);
    t->pump_timer.data = t;
    http->open_handles++;
    t->next = http->targets;
    http->targets = t;
    return t;
}

const char *rt_http_target_name(const rt_http_target *target) {
    return target->name;
}

/* "replay: no recorded response for CONNECTOR METHOD PATH[ with body BODY]" for the request 'e'
 * in 'out' ('size' bytes). A request that cannot be shown whole (a body over REPLAY_BODY_SHOWN
 * bytes or holding NUL, a message over 'size') ends in REPLAY_CUT, so that a reader (the
 * backtest's stale_request) can tell a cut request from one that happens to fill the buffer. */
static void miss_message(char *out, size_t size, const rt_exchange *e) {
    size_t shown = e->body_len ? rt_utf8_cut(e->body, e->body_len, REPLAY_BODY_SHOWN) : 0;
    int n = snprintf(out, size, "replay: no recorded response for %s %s %s", e->connector,
                     e->method, e->path);
    if (e->body_len && n >= 0 && (size_t)n < size)
        n += snprintf(out + n, size - (size_t)n, " with body %.*s", (int)shown, e->body);
    bool cut = n < 0 || (size_t)n >= size || shown < e->body_len ||
               (shown && memchr(e->body, '\0', shown));
    if (cut) {
        size_t keep = rt_utf8_cut(out, strlen(out), size - sizeof REPLAY_CUT);
        memcpy(out + keep, REPLAY_CUT, sizeof REPLAY_CUT);
    }
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool rt_http_path_climbs(const char *path) {
    size_t dots = 0, others = 0;
    bool parameter = false; /* past a ';' in this segment: "..;x" is ".." to some servers */
    for (const char *p = path;;) {
        bool end = *p == '\0' || *p == '?' || *p == '#';
        char ch = *p;
        size_t step = 1;
        if (ch == '%' && hex_digit(p[1]) >= 0 && hex_digit(p[2]) >= 0) {
            ch = (char)(hex_digit(p[1]) * 16 + hex_digit(p[2]));
            step = 3;
        }
        /* an encoded '?' or '#' ends the segment too, for a server that decodes, then parses */
        bool bound = ch == '/' || ch == '\\' || (step == 3 && (ch == '?' || ch == '#'));
        if (end || bound) {
            if (dots >= 1 && dots <= 2 && others == 0)
                return true;
            if (end)
                return false;
            dots = others = 0;
            parameter = false;
        } else if (!parameter) {
            parameter = ch == ';';
            dots += ch == '.';
            others += ch != '.' && ch != ';';
        }
        p += step;
    }
}

/* Answers 'call' from the recording: no network, no handle, nothing copied but on a miss. */
static void replay(rt_http_call *call, const rt_http_request *request) {
    rt_http_target *t = call->target;
    rt_http_response *r = &call->r;
    const char *path = request->path ? request->path : "";
    rt_exchange e = {
        .connector = t->name,
        .method = method_names[call->method],
        .path = path,
        .body = request->body,
        .body_len = request->body ? request->body_len : 0,
    };
    call->replayed = true;
    r->attempts = 1;
    r->sent = true;
    if (rt_recording_match(call->recording, &e) == RT_OK) {
        r->error = e.error;
        r->status = e.status;
        call->replay_body = e.response;
        r->len = e.response ? e.response_len : 0;
        r->bytes = e.bytes;
        if (call->allowance) /* charged, not refused: the replay gives what the run got */
            call->allowance->used += e.bytes;
        snprintf(r->message, sizeof r->message, "%s", e.message ? e.message : "");
        snprintf(r->content_type, sizeof r->content_type, "%s",
                 e.content_type ? e.content_type : "");
    } else {
        miss_message(r->message, sizeof r->message, &e);
        r->error = RT_EREPLAY;
    }
    make_ready(call);
}

rt_http_call *rt_http_start(rt_http_target *target, const rt_http_request *request,
                            rt_http_done done, void *ud) {
    rt_http *http = target->http;
    rt_http_call *call = rt_xcalloc(1, sizeof *call);
    call->target = target;
    call->done = done;
    call->ud = ud;
    call->method = request->method == RT_HTTP_POST ? RT_HTTP_POST : RT_HTTP_GET;
    call->started = now();
    call->deadline = call->started + target->timeout;
    call->retry_after = -1;
    rt__ring_init(&call->in_wait);
    rt__ring_insert_before(&http->calls, &call->in_client);
    call->recording = request->recording ? request->recording : http->recording;
    call->allowance = request->allowance;
    if (rt_http_path_climbs(request->path ? request->path : "")) {
        char where[150];
        call->path = rt_xstrdup(request->path);
        describe_call(call, where, sizeof where);
        snprintf(call->r.message, sizeof call->r.message,
                 "%.64s: the path has a '.' or '..' segment, which would leave the target's base "
                 "URL (%s)",
                 target->name, where);
        fail_early(call, RT_EINPUT, CURLE_URL_MALFORMAT);
        return call;
    }
    if (call->recording && rt_recording_get_mode(call->recording) == RT_RECORDING_REPLAY) {
        replay(call, request);
        return call;
    }
    call->path = rt_xstrdup(request->path ? request->path : "");
    if (request->body) {
        call->body = rt_xmalloc(request->body_len + 1);
        memcpy(call->body, request->body, request->body_len);
        call->body[request->body_len] = '\0';
        call->body_len = request->body_len;
    }
    if (request->content_type)
        call->content_type = rt_xstrdup(request->content_type);
    for (size_t i = 0; i < request->n_headers; i++)
        call->own_headers = curl_slist_append(call->own_headers, request->headers[i]);
    call->idempotent = request->idempotent;
    call->max_attempts = request->idempotent ? 1 + target->retries : 1;
    if (!target->base_url) {
        char where[150];
        describe_call(call, where, sizeof where);
        snprintf(call->r.message, sizeof call->r.message,
                 "%.64s: no base URL to send the call to (%s)", target->name, where);
        fail_early(call, RT_EINTERNAL, CURLE_URL_MALFORMAT);
        return call;
    }
    enqueue(call, false);
    return call;
}

void rt_http_cancel(rt_http_call *call) {
    rt_http_target *t = call->target;
    rt_http *http = t->http;
    bool was_running = call->state == RUNNING;
    if (was_running) {
        curl_multi_remove_handle(http->multi, call->easy);
        t->running--;
    }
    rt__ring_remove(&call->in_wait);
    rt__ring_remove(&call->in_client);
    if (call->has_timer)
        uv_timer_stop(&call->timer);
    call_free(call);
    if (was_running && !http->closing)
        pump(t);
}
