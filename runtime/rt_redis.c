/* runtime/rt_redis.c -- the Redis connection of rt_redis.h: hiredis 0.14's async API on a libuv
 * loop, with the timeouts, reply caps and reconnection that hiredis leaves to its user. The queue
 * protocol that runs over it lives in rt_queue.c.
 *
 * Design notes.
 *
 * States of a connection:
 *   DOWN        no connection; the timer is armed for the next attempt (jittered backoff,
 *               doubling from backoff_min to backoff_max, reset once up).
 *   CONNECTING  hiredis' non-blocking connect is under way; the timer is the connect timeout.
 *   HANDSHAKE   connected; AUTH, SELECT and CLIENT SETNAME are in flight, then the on_connect
 *               hook runs until it calls rt_redis_connected.
 *   UP          usable; on_state(up) has been called.
 *   CLOSED      rt_redis_close was called; the memory goes with the timer's close callback.
 * DOWN -> CONNECTING -> HANDSHAKE -> UP -> DOWN ...; any failure leads to DOWN, close to CLOSED.
 *
 * Commands are accepted in HANDSHAKE and UP (the connection exists, so they are bounded by their
 * timeout) and refused at once otherwise: nothing waits for a connection, so nothing queues
 * without bound. Each command awaiting its reply sits in the 'pending' ring with its deadline.
 * Replies come back in order, so one timer suffices: it is armed at the earliest deadline known
 * (or earlier) and, when it fires, scans the ring; a command past its deadline means the
 * connection is stuck, and it is dropped: every pending command fails with RT_ETIMEDOUT.
 *
 * Not answering: a server that accepts connections but does not answer (stopped, hung) would make
 * each command wait out its timeout, and after the drop, each new connection too, since the
 * kernel still completes the TCP connect. So a command past its deadline marks the server as not
 * answering ('unanswered') until a connection is up again: meanwhile every command is refused at
 * once ("did not answer within ..."), in HANDSHAKE too, except those sent from this connection's
 * own callbacks (the on_connect hook and the replies it awaits; nothing else is in flight then):
 * they are what finds out that it answers again.
 *
 * Dropping: hiredis frees a context in redisAsyncFree, calling every pending callback with a NULL
 * reply (at once, or, inside one of its callbacks, right after that callback returns). Before
 * freeing, drop() records why in drop_rc/drop_msg, which those callbacks report, and clears
 * ac->data so that the disconnect callback knows the drop was ours. A context is never freed
 * inside the connect callback: hiredis goes on using it after that callback returns.
 *
 * Reading: the poll adapter is hiredis' libuv adapter, adapted: after each read it checks that
 * the reply being received has not passed max_reply (a bulk string stays in the reader's buffer
 * until it is whole; replies are read 16 KiB at a time), and each complete reply is measured
 * too. The poll handle is unreferenced: an idle connection does not keep the loop alive, while a
 * pending command (its timer) or a reconnection (the backoff timer) does.
 *
 * Invariants:
 *   - r->ac is non-NULL exactly in CONNECTING, HANDSHAKE and UP;
 *   - n_pending is the length of 'pending', and the timer runs while it is not zero;
 *   - 'unanswered' is false in UP;
 *   - user callbacks run only from on_reply and report_state; after them, only r's memory is
 *     touched, which lives until the timer's close callback. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "rt_redis.h"
#include "rt_ring.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <hiredis/async.h>

#define DEFAULT_COMMAND_TIMEOUT 5.0
#define DEFAULT_CONNECT_TIMEOUT 2.0
#define DEFAULT_BACKOFF_MIN     0.05
#define DEFAULT_BACKOFF_MAX     2.0
#define DEFAULT_MAX_REPLY       ((size_t)64 << 20)
#define DEFAULT_MAX_PENDING     65536
#define ELEMENT_COST            16 /* bytes a reply element counts for besides its text */

typedef enum conn_state { DOWN = 0, CONNECTING, HANDSHAKE, UP, CLOSED } conn_state;

struct rt_redis {
    uv_loop_t *loop;
    uv_timer_t timer; /* backoff, connect timeout or command deadlines, by state */
    redisAsyncContext *ac;
    conn_state state;
    char *host, *path; /* one of them: TCP host or unix socket path */
    int port, db;
    char *username, *password, *name;
    size_t password_len;
    uint64_t command_timeout, connect_timeout, backoff_min, backoff_max; /* ms */
    size_t max_reply, max_pending;
    rt_redis_state_fn on_state;
    rt_redis_connect_fn on_connect;
    void *ud;
    rt__ring pending; /* cmd.link, oldest first */
    size_t n_pending;
    uint64_t next_deadline; /* the timer's due time while commands are pending; 0: not armed */
    int handshake_left;     /* handshake replies still awaited */
    int failures;           /* attempts since the last time up, for the backoff */
    int reported;           /* what on_state last said: 1 up, 0 down, -1 nothing yet */
    int in_callbacks;       /* reply callbacks and on_connect hooks running (nested) */
    bool unanswered;        /* a command timed out and no connection has been up since */
    char unanswered_why[64];
    unsigned connections;
    uint64_t rng;
    int drop_rc; /* why the pending commands of a dropped connection fail */
    char drop_msg[320];
    char down_why[256]; /* why the connection last went down, without the name */
    char error[320];    /* rt_redis_error */
};

typedef struct cmd {
    rt__ring link;
    rt_redis *r;
    rt_redis_reply_fn done;
    void *ud;
    uint64_t deadline; /* uv_now ms */
    uint64_t timeout;  /* ms, for the message */
} cmd;

/* The poll adapter: one per hiredis context, freed in its close callback. */
typedef struct poller {
    uv_poll_t handle;
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    rt_redis *r;
    int events;
} poller;

static void connect_now(rt_redis *r);
static void drop(rt_redis *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- small helpers -------------------------------------------------------------------------- */

static void wipe_free(char *s, size_t n) {
    if (!s)
        return;
    volatile char *v = s;
    for (size_t i = 0; i < n; i++)
        v[i] = 0;
    free(s);
}

static uint64_t ms(double seconds, double fallback) {
    return (uint64_t)((seconds > 0 ? seconds : fallback) * 1000.0 + 0.5);
}

static double rand01(rt_redis *r) {
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return (double)(r->rng >> 11) / 9007199254740992.0;
}

/* ---- URLs ----------------------------------------------------------------------------------- */

static int parse_db(const char *s, int *db, char *why) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 65535) {
        snprintf(why, 256, "redis URL: database '%s' is not a number from 0 to 65535", s);
        return -1;
    }
    *db = (int)v;
    return 0;
}

static int parse_unix(rt_redis *r, const char *rest, char *why) {
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n == 0 || rest[0] != '/') {
        snprintf(why, 256,
                 "redis URL: unix:// needs an absolute socket path (unix:///run/redis.sock)");
        return -1;
    }
    if (q && strncmp(q, "?db=", 4) != 0) {
        snprintf(why, 256, "redis URL: the only parameter of a unix:// URL is ?db=N");
        return -1;
    }
    r->path = rt_xmalloc(n + 1);
    memcpy(r->path, rest, n);
    r->path[n] = '\0';
    return q ? parse_db(q + 4, &r->db, why) : 0;
}

static int parse_tcp(rt_redis *r, const char *rest, char *why) {
    const char *slash = strchr(rest, '/'), *host_end, *colon;
    size_t hlen;
    r->port = 6379;
    if (slash && slash[1] && parse_db(slash + 1, &r->db, why) < 0)
        return -1;
    const char *end = slash ? slash : rest + strlen(rest);
    if (rest[0] == '[') { /* [IPv6]:port */
        host_end = memchr(rest, ']', (size_t)(end - rest));
        if (!host_end) {
            snprintf(why, 256, "redis URL: '[' without ']' in the host");
            return -1;
        }
        rest++;
        colon = host_end + 1 < end && host_end[1] == ':' ? host_end + 1 : NULL;
    } else {
        colon = memchr(rest, ':', (size_t)(end - rest));
        host_end = colon ? colon : end;
    }
    hlen = (size_t)(host_end - rest);
    if (hlen == 0) {
        snprintf(why, 256, "redis URL: no host (redis://127.0.0.1:6379/0)");
        return -1;
    }
    if (colon) {
        char *pend;
        long port = strtol(colon + 1, &pend, 10);
        if (pend != end || port < 1 || port > 65535) {
            snprintf(why, 256, "redis URL: the port is not a number from 1 to 65535");
            return -1;
        }
        r->port = (int)port;
    }
    r->host = rt_xmalloc(hlen + 1);
    memcpy(r->host, rest, hlen);
    r->host[hlen] = '\0';
    return 0;
}

static int parse_url(rt_redis *r, const char *url, char *why) {
    if (!url || !*url) {
        snprintf(why, 256, "redis URL: empty (redis://127.0.0.1:6379/0 or unix:///path)");
        return -1;
    }
    if (strncmp(url, "rediss://", 9) == 0) {
        snprintf(why, 256, "redis URL: TLS (rediss://) is not supported (hiredis 0.14 has no TLS)");
        return -1;
    }
    if (strncmp(url, "unix://", 7) == 0)
        return parse_unix(r, url + 7, why);
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(why, 256, "redis URL: '%.100s' is neither redis:// nor unix://", url);
        return -1;
    }
    if (strchr(url + 8, '@')) {
        snprintf(why, 256,
                 "redis URL: credentials do not belong in the URL; give the password by "
                 "password_env or password_file");
        return -1;
    }
    return parse_tcp(r, url + 8, why);
}

/* ---- state ---------------------------------------------------------------------------------- */

static void report_state(rt_redis *r, bool up, const char *why) {
    if (r->reported == (int)up || r->state == CLOSED)
        return;
    r->reported = (int)up;
    if (r->on_state)
        r->on_state(r, up, why, r->ud);
}

static void on_timer(uv_timer_t *t);

static void schedule_reconnect(rt_redis *r) {
    double base = (double)r->backoff_min;
    for (int i = 0; i < r->failures && base < (double)r->backoff_max; i++)
        base *= 2;
    if (base > (double)r->backoff_max)
        base = (double)r->backoff_max;
    r->failures++;
    r->state = DOWN;
    r->next_deadline = 0;
    /* Jitter in [base/2, base): many clients that lost one server do not return at once. */
    uv_timer_start(&r->timer, on_timer, (uint64_t)(base * (0.5 + 0.5 * rand01(r))), 0);
}

/* Goes DOWN for 'why' (unless closed) and tries again after the backoff. */
static void went_down(rt_redis *r, const char *why) {
    char msg[320];
    snprintf(r->down_why, sizeof r->down_why, "%s", why);
    if (r->state == CLOSED)
        return;
    schedule_reconnect(r);
    snprintf(msg, sizeof msg, "%s: %s", r->name, why);
    report_state(r, false, msg);
}

static void became_up(rt_redis *r) {
    r->state = UP;
    r->unanswered = false;
    r->failures = 0;
    r->error[0] = r->down_why[0] = '\0';
    report_state(r, true, "");
}

/* Drops the connection: pending commands fail with 'rc' and the formatted message. */
static void drop(rt_redis *r, int rc, const char *fmt, ...) {
    redisAsyncContext *ac = r->ac;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(r->drop_msg, sizeof r->drop_msg, "%s: %s", r->name, why);
    r->drop_rc = rc;
    if (!ac)
        return;
    r->ac = NULL;
    ac->data = NULL;
    if (r->state != CLOSED)
        r->state = DOWN;
    /* Callbacks that send again from within redisAsyncFree are refused with this reason. */
    snprintf(r->down_why, sizeof r->down_why, "%s", why);
    redisAsyncFree(ac);
    went_down(r, why);
}

/* ---- the poll adapter (after hiredis/adapters/libuv.h) -------------------------------------- */

static void poller_close_cb(uv_handle_t *h) {
    free(h->data);
}

/* Bytes of the reply being read that are already buffered. */
static size_t partial_reply(const redisAsyncContext *ac) {
    const redisReader *rd = ac->c.reader;
    return rd && rd->buf ? rd->len - rd->pos : 0;
}

/* What went wrong on the socket 'fd', which libuv's poll reports only as UV_EBADF whatever the
 * error (it saw EPOLLERR): the socket's own pending error, such as "Connection refused". */
static const char *socket_error(int fd, int status) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
        return strerror(err);
    return uv_strerror(status);
}

static void on_poll(uv_poll_t *h, int status, int events) {
    poller *p = h->data;
    if (status < 0) {
        if (p->ac && p->r->ac == p->ac)
            drop(p->r, RT_EBACKEND, "socket error (%s)", socket_error(p->ac->c.fd, status));
        return;
    }
    if (p->ac && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
    if (p->ac && p->r->ac == p->ac && partial_reply(p->ac) > p->r->max_reply)
        drop(p->r, RT_ETOOBIG, "a reply passed the cap of %zu bytes; connection dropped",
             p->r->max_reply);
}

static void poller_update(poller *p, int add, int del) {
    p->events = (p->events | add) & ~del;
    if (p->events)
        uv_poll_start(&p->handle, p->events, on_poll);
    else
        uv_poll_stop(&p->handle);
}

static void ev_add_read(void *d) {
    poller_update(d, UV_READABLE, 0);
}
static void ev_del_read(void *d) {
    poller_update(d, 0, UV_READABLE);
}
static void ev_add_write(void *d) {
    poller_update(d, UV_WRITABLE, 0);
}
static void ev_del_write(void *d) {
    poller_update(d, 0, UV_WRITABLE);
}

static void ev_cleanup(void *d) {
    poller *p = d;
    p->ac = NULL;
    uv_close((uv_handle_t *)&p->handle, poller_close_cb);
}

static int attach(rt_redis *r, redisAsyncContext *ac) {
    poller *p = rt_xcalloc(1, sizeof *p);
    if (uv_poll_init(r->loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return -1;
    }
    uv_unref((uv_handle_t *)&p->handle); /* an idle connection lets the loop end */
    p->handle.data = p;
    p->ac = ac;
    p->r = r;
    ac->ev.data = p;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}

/* ---- commands ------------------------------------------------------------------------------- */

/* The reply's size in bytes as counted against max_reply; stops counting past 'cap'. */
static size_t reply_size(const redisReply *reply, size_t cap) {
    size_t n = ELEMENT_COST;
    if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
        reply->type == REDIS_REPLY_ERROR)
        n += reply->len;
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements && n <= cap; i++)
        n += reply_size(reply->element[i], cap - n);
    return n;
}

static void arm_timer(rt_redis *r, uint64_t deadline) {
    if (r->next_deadline && r->next_deadline <= deadline)
        return;
    r->next_deadline = deadline;
    uint64_t now = uv_now(r->loop);
    uv_timer_start(&r->timer, on_timer, deadline > now ? deadline - now : 0, 0);
}

static void on_reply(redisAsyncContext *ac, void *reply_, void *priv) {
    cmd *c = priv;
    rt_redis *r = c->r;
    const redisReply *reply = reply_;
    char msg[512] = "";
    int rc = RT_OK;
    rt__ring_remove(&c->link);
    if (--r->n_pending == 0 && r->state >= HANDSHAKE && r->state != CLOSED) {
        uv_timer_stop(&r->timer);
        r->next_deadline = 0;
    }
    if (!reply) {
        rc = r->drop_rc ? r->drop_rc : RT_EBACKEND;
        if (r->drop_rc)
            snprintf(msg, sizeof msg, "%s", r->drop_msg);
        else
            snprintf(msg, sizeof msg, "%s: connection lost (%s)", r->name,
                     ac->errstr[0] ? ac->errstr : "closed");
    } else if (reply->type == REDIS_REPLY_ERROR) {
        rc = RT_EBACKEND;
        snprintf(msg, sizeof msg, "%.*s", (int)reply->len, reply->str);
    } else if (reply_size(reply, r->max_reply) > r->max_reply) {
        rc = RT_ETOOBIG;
        snprintf(msg, sizeof msg, "%s: a reply passed the cap of %zu bytes", r->name, r->max_reply);
    }
    r->in_callbacks++;
    c->done(r, reply, rc, msg, c->ud);
    r->in_callbacks--;
    free(c);
}

/* 'kind', the decimal digits of 'n' and CRLF at 'p'; returns where they end. */
static char *put_count(char *p, char kind, size_t n) {
    char digits[20], *d = rt_digits(digits + sizeof digits, n);
    *p++ = kind;
    memcpy(p, d, (size_t)(digits + sizeof digits - d));
    p += digits + sizeof digits - d;
    memcpy(p, "\r\n", 2);
    return p + 2;
}

/* The command in Redis' protocol, an array of bulk strings ('lens' NULL: the arguments are
 * strings): malloc'd, '*len' bytes and a NUL (hiredis looks at the command as a C string), NULL
 * when memory is short (arguments come from input).
 * hiredis' own formatting, a printf per argument, was a tenth of serve's cost of a submission. */
static char *format_command(int argc, const char *const *argv, const size_t *lens, size_t *len) {
    size_t total = 24;
    for (int i = 0; i < argc; i++)
        total += 26 + (lens ? lens[i] : strlen(argv[i]));
    char *out = malloc(total), *p = out;
    if (!out)
        return NULL;
    p = put_count(p, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t n = lens ? lens[i] : strlen(argv[i]);
        p = put_count(p, '$', n);
        memcpy(p, argv[i], n);
        memcpy(p + n, "\r\n", 2);
        p += n + 2;
    }
    *p = '\0';
    *len = (size_t)(p - out);
    return out;
}

/* Sends a command in HANDSHAKE or UP (the caller checked). */
static int send_command(rt_redis *r, uint64_t timeout, int argc, const char *const *argv,
                        const size_t *lens, rt_redis_reply_fn done, void *ud) {
    size_t len;
    char *text = format_command(argc, argv, lens, &len);
    if (!text) {
        snprintf(r->error, sizeof r->error, "%s: out of memory for a command", r->name);
        return RT_ENOMEM;
    }
    cmd *c = rt_xmalloc(sizeof *c);
    c->r = r;
    c->done = done;
    c->ud = ud;
    c->deadline = uv_now(r->loop) + timeout;
    c->timeout = timeout;
    int ok = redisAsyncFormattedCommand(r->ac, on_reply, c, text, len) == REDIS_OK;
    free(text);
    if (!ok) {
        free(c);
        snprintf(r->error, sizeof r->error, "%s: not connected (%s)", r->name,
                 r->ac->errstr[0] ? r->ac->errstr : "disconnecting");
        return RT_EBACKEND;
    }
    rt__ring_insert_before(&r->pending, &c->link);
    r->n_pending++;
    arm_timer(r, c->deadline);
    return RT_OK;
}

/* True, with the reason in r->error, when commands are refused now: there is no connection, or
 * the server has not answered since a command timed out ("Not answering" above). */
static bool refuses_commands(rt_redis *r) {
    bool from_hook = r->state == HANDSHAKE && r->in_callbacks > 0;
    if (r->unanswered && r->state != CLOSED && !from_hook)
        snprintf(r->error, sizeof r->error, "%s: %s; refused until it answers again", r->name,
                 r->unanswered_why);
    else if (r->state != UP && r->state != HANDSHAKE)
        snprintf(r->error, sizeof r->error, "%s: not connected (%s)", r->name,
                 r->state == CLOSED ? "closed"
                 : r->down_why[0]   ? r->down_why
                                    : "connecting");
    else
        return false;
    return true;
}

int rt_redis_command_timeout(rt_redis *r, double timeout, int argc, const char *const *argv,
                             const size_t *lens, rt_redis_reply_fn done, void *ud) {
    if (refuses_commands(r))
        return RT_EBACKEND;
    if (r->n_pending >= r->max_pending) {
        snprintf(r->error, sizeof r->error, "%s: %zu commands already await replies", r->name,
                 r->n_pending);
        return RT_ELIMIT;
    }
    return send_command(r, ms(timeout, DEFAULT_COMMAND_TIMEOUT), argc, argv, lens, done, ud);
}

int rt_redis_command(rt_redis *r, int argc, const char *const *argv, const size_t *lens,
                     rt_redis_reply_fn done, void *ud) {
    return rt_redis_command_timeout(r, (double)r->command_timeout / 1000.0, argc, argv, lens, done,
                                    ud);
}

/* The timer: the backoff's end (DOWN), the connect timeout (CONNECTING), or a command deadline
 * (HANDSHAKE, UP). */
static void on_timer(uv_timer_t *t) {
    rt_redis *r = t->data;
    uint64_t now = uv_now(r->loop), earliest = UINT64_MAX;
    if (r->state == DOWN) {
        connect_now(r);
        return;
    }
    if (r->state == CONNECTING) {
        drop(r, RT_ETIMEDOUT, "connect timed out after %gs", (double)r->connect_timeout / 1000.0);
        return;
    }
    r->next_deadline = 0;
    for (rt__ring *i = r->pending.next; i != &r->pending; i = i->next) {
        cmd *c = RT__RING_ENTRY(i, cmd, link);
        if (c->deadline <= now) {
            snprintf(r->unanswered_why, sizeof r->unanswered_why, "did not answer within %gs",
                     (double)c->timeout / 1000.0);
            r->unanswered = true;
            drop(r, RT_ETIMEDOUT, "%s; connection dropped", r->unanswered_why);
            return;
        }
        if (c->deadline < earliest)
            earliest = c->deadline;
    }
    if (earliest != UINT64_MAX)
        arm_timer(r, earliest);
}

/* ---- connecting ----------------------------------------------------------------------------- */

static void handshake_done(rt_redis *r) {
    if (!r->on_connect) {
        became_up(r);
        return;
    }
    r->in_callbacks++;
    r->on_connect(r, r->ud);
    r->in_callbacks--;
}

static void on_handshake_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg,
                               void *ud) {
    const char *what = ud;
    (void)reply;
    if (r->state != HANDSHAKE)
        return; /* dropped meanwhile: the drop said why */
    if (rc != RT_OK && strcmp(what, "CLIENT SETNAME") != 0) {
        drop(r, rc, "%s failed: %s", what, msg);
        return;
    }
    if (--r->handshake_left == 0)
        handshake_done(r);
}

static void start_handshake(rt_redis *r) {
    char db[16];
    r->state = HANDSHAKE;
    r->handshake_left = 0;
    r->connections++;
    if (r->password) {
        const char *argv[3] = {"AUTH", r->username, r->password};
        size_t lens[3] = {4, r->username ? strlen(r->username) : 0, r->password_len};
        if (!r->username) {
            argv[1] = r->password;
            lens[1] = r->password_len;
        }
        send_command(r, r->command_timeout, r->username ? 3 : 2, argv, lens, on_handshake_reply,
                     (void *)"AUTH");
        r->handshake_left++;
    }
    if (r->db) {
        snprintf(db, sizeof db, "%d", r->db);
        send_command(r, r->command_timeout, 2, (const char *const[]){"SELECT", db}, NULL,
                     on_handshake_reply, (void *)"SELECT");
        r->handshake_left++;
    }
    if (!strpbrk(r->name, " \t\r\n")) {
        send_command(r, r->command_timeout, 3, (const char *const[]){"CLIENT", "SETNAME", r->name},
                     NULL, on_handshake_reply, (void *)"CLIENT SETNAME");
        r->handshake_left++;
    }
    if (r->handshake_left == 0)
        handshake_done(r);
}

static void on_connect_cb(const redisAsyncContext *ac, int status) {
    rt_redis *r = ac->data;
    if (!r)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns. */
        r->ac = NULL;
        char why[256];
        snprintf(why, sizeof why, "cannot connect (%s)", ac->errstr[0] ? ac->errstr : "refused");
        went_down(r, why);
        return;
    }
    uv_timer_stop(&r->timer);
    r->next_deadline = 0;
    start_handshake(r);
}

static void on_disconnect_cb(const redisAsyncContext *ac, int status) {
    rt_redis *r = ac->data;
    char why[256];
    (void)status;
    if (!r)
        return; /* our own drop */
    r->ac = NULL;
    snprintf(why, sizeof why, "connection lost (%s)",
             ac->errstr[0] ? ac->errstr : "closed by the server");
    went_down(r, why);
}

static void connect_now(rt_redis *r) {
    redisAsyncContext *ac =
        r->path ? redisAsyncConnectUnix(r->path) : redisAsyncConnect(r->host, r->port);
    char why[256];
    r->drop_rc = 0;
    r->drop_msg[0] = '\0';
    if (!ac) {
        went_down(r, "out of memory creating a redis context");
        return;
    }
    if (ac->err) {
        snprintf(why, sizeof why, "cannot connect (%s)", ac->errstr);
        redisAsyncFree(ac);
        went_down(r, why);
        return;
    }
    if (attach(r, ac) < 0) {
        redisAsyncFree(ac);
        went_down(r, "cannot watch the redis socket");
        return;
    }
    ac->data = r;
    r->ac = ac;
    r->state = CONNECTING;
    redisAsyncSetDisconnectCallback(ac, on_disconnect_cb);
    redisAsyncSetConnectCallback(ac, on_connect_cb); /* after attach: it asks for writability */
    uv_timer_start(&r->timer, on_timer, r->connect_timeout, 0);
}

/* ---- life ----------------------------------------------------------------------------------- */

rt_redis *rt_redis_new(uv_loop_t *loop, const rt_redis_options *o, char *why) {
    rt_redis *r = rt_xcalloc(1, sizeof *r);
    if (parse_url(r, o->url, why) < 0) {
        free(r->host);
        free(r->path);
        free(r);
        return NULL;
    }
    r->loop = loop;
    r->name = rt_xstrdup(o->name ? o->name : "redis");
    r->username = o->username ? rt_xstrdup(o->username) : NULL;
    if (o->password) {
        r->password = rt_xmalloc(o->password_len + 1);
        memcpy(r->password, o->password, o->password_len);
        r->password[o->password_len] = '\0';
        r->password_len = o->password_len;
    }
    r->command_timeout = ms(o->command_timeout, DEFAULT_COMMAND_TIMEOUT);
    r->connect_timeout = ms(o->connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    r->backoff_min = ms(o->backoff_min, DEFAULT_BACKOFF_MIN);
    r->backoff_max = ms(o->backoff_max, DEFAULT_BACKOFF_MAX);
    if (r->backoff_max < r->backoff_min)
        r->backoff_max = r->backoff_min;
    r->max_reply = o->max_reply ? o->max_reply : DEFAULT_MAX_REPLY;
    r->max_pending = o->max_pending ? o->max_pending : DEFAULT_MAX_PENDING;
    r->on_state = o->on_state;
    r->on_connect = o->on_connect;
    r->ud = o->ud;
    r->reported = -1;
    r->rng = (uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)r) | 1;
    rt__ring_init(&r->pending);
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    connect_now(r);
    return r;
}

static void on_timer_closed(uv_handle_t *h) {
    rt_redis *r = h->data;
    free(r->host);
    free(r->path);
    free(r->username);
    wipe_free(r->password, r->password_len);
    free(r->name);
    free(r);
}

void rt_redis_close(rt_redis *r) {
    if (!r || r->state == CLOSED)
        return;
    r->state = CLOSED;
    drop(r, RT_ECANCELED, "client closed");
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

void rt_redis_connected(rt_redis *r, int rc, const char *why) {
    if (r->state != HANDSHAKE)
        return; /* that connection is gone already */
    if (rc == RT_OK)
        became_up(r);
    else
        drop(r, rc, "%s", why ? why : "on_connect failed");
}

bool rt_redis_is_up(const rt_redis *r) {
    return r->state == UP;
}

const char *rt_redis_error(const rt_redis *r) {
    return r->error[0] ? r->error : r->down_why;
}

const char *rt_redis_name(const rt_redis *r) {
    return r->name;
}

uint64_t rt_redis_backoff_max_ms(const rt_redis *r) {
    return r->backoff_max;
}

unsigned rt_redis_connections(const rt_redis *r) {
    return r->connections;
}
