/* runtime/rt_queue.c -- the queue of rt_queue.h: builds the calls of the function library
 * (runtime/rt_queue.lua, embedded in the binary), sends them over rt_redis.c and turns the
 * replies into typed results. docs/queue.md is the operator's view of the same protocol.
 *
 * Design notes: the lease protocol.
 *
 * An analysis is one status hash ({p}:a:ID) and, while it waits or runs, one entry in the
 * stream of its priority ({p}:q:interactive|alert|batch), read through the consumer group
 * "workers". Its states (the hash's 'status'):
 *   queued    in its stream, not delivered; or delivered but held: its team is at its cap, the
 *             entry is pending under the consumer "~held" and the id waits in {p}:held:TEAM.
 *   running   delivered to the consumer named in the hash, with a lease: a score (expiry, ms)
 *             in {p}:leases. The worker renews it with extend (the heartbeat).
 *   ok, error, timeout, cpu_exceeded, memory_exceeded, cancelled   a result's status: final.
 *   dead      delivered max_deliveries times without a result; its request is in {p}:dead.
 * Transitions, each inside one function call (so atomic):
 *   submit:   -> queued (or the earlier id, when the dedup key is live)
 *   claim:    queued -> running (deliveries + 1); queued -> timeout (deadline passed);
 *             queued -> queued+held (team at cap); held -> running (room again);
 *             running with an expired lease -> running under the claimer (deliveries + 1),
 *             or -> dead (deliveries reached max), -> cancelled (cancel was asked),
 *             -> timeout (deadline passed)
 *   complete: running (held by the caller) -> the result's status, the result in {p}:r:ID;
 *             a worker's round (inquest_claim) completes first, then claims
 *   cancel:   queued -> cancelled; running -> running with 'cancel' set (extend reports it)
 * Invariants:
 *   - a request's stream entry exists until its analysis is final: the call that makes the
 *     status final acknowledges it, and it leaves the stream by a trim below the oldest pending
 *     entry (or XDEL), never while it waits or runs, so nothing waiting or running is lost;
 *   - an analysis is running exactly while its id is in {p}:leases; {p}:running counts, per
 *     team, the ids in {p}:leases of that team;
 *   - only the consumer named in the hash may complete it: a worker whose lease was taken over
 *     (it stalled past its lease) is refused and counted as a duplicate, so there is exactly
 *     one result. An expired lease nobody took over yet still belongs to its worker, and for a
 *     lease and a reconnection after Redis restarted nobody takes one over (rt_queue.lua,
 *     "restarts"), so that workers back from the outage keep what they ran;
 *   - results and status hashes carry TTLs; the dedup key expires with its window.
 *
 * The C side. Each operation is an 'op': its arguments are copied into the op (a retry needs
 * them), sent as one FCALL, and its reply parsed into the caller's typed result. When Redis
 * answers "Function not found" (a FUNCTION FLUSH, a restarted Redis without persistence), the
 * library is loaded again and the op sent once more: both go down the same connection, so the
 * retry runs after the load. Each VERSION of the library is a library of its own, inquest_vN,
 * with functions inquest_vN_NAME, so that programs of two versions work side by side during a
 * rolling upgrade (docs/queue.md, "Loading"). On each new connection the queue checks that its
 * version is there (inquest_vN_version) and loads it when it is not; then inquest_vN_init makes
 * the groups. */
#define _POSIX_C_SOURCE 200809L /* gethostname */
#include "rt_queue.h"
#include "rt_queue_internal.h"
#include "rt_fnlib.h"
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const char rt_queue_lua[];
extern const size_t rt_queue_lua_len;

#define DEFAULT_TTL            (7 * 86400.0)
#define DEFAULT_RECENT         86400.0
#define DEFAULT_MAX_DELIVERIES 3
#define DEFAULT_RESULTS_MAXLEN 100000
#define DEFAULT_DEAD_MAXLEN    10000
#define DEFAULT_LIST_LIMIT     50
#define MAX_LIST_LIMIT         500
#define LIST_SCAN_FACTOR       20
#define N_FIELDS               14 /* FIELDS in rt_queue.lua */
#define WATCH_BLOCK_MS         2000
#define WATCH_RETRY_MS         500
#define WATCH_BATCH            "1000"
#define CHUNK                  65536

const char *const rt_queue_statuses[7] = {
    "ok", "error", "timeout", "cpu_exceeded", "memory_exceeded", "cancelled", "dead"};
const char *const rt_priority_names[4] = {"interactive", "alert", "batch", NULL};

struct rt_queue {
    uv_loop_t *loop;
    rt_redis *redis, *watch_redis, *wake_redis, *cancel_redis;
    char *url, *username, *password, *name; /* to make the watch's connection */
    size_t password_len;
    rt_redis_options redis_options;
    char prefix[80];         /* "{name}:" */
    char *keys[9];           /* streams x3, leases, running, stats, results, dead, held */
    char listing_key[96];    /* the listing's index (rt_queue.lua, submit) */
    char connectors_key[96]; /* workers' counts of connector calls */
    uint64_t ttl_ms, recent_ms;
    int max_deliveries, default_cap;
    size_t results_maxlen, dead_maxlen;
    uint64_t recording_ttl_ms;
    rt_queue_team_cap *caps;
    size_t n_caps;
    bool require_noeviction, up, closing;
    char warning[256];
    char error[320];
    int version;   /* the library's VERSION: its functions are inquest_vVERSION_NAME */
    char *library; /* its text, named inquest_vVERSION in the first line */
    size_t library_len;
    unsigned loads;
    bool reloading;
    uint64_t rng;
    void (*on_state)(rt_queue *q, bool up, const char *why, void *ud);
    void *ud;
    /* the watch */
    uv_timer_t watch_timer; /* retry after an error; its close callback frees the queue */
    rt_queue_watch_fn watch_fn;
    void *watch_ud;
    char watch_last[64]; /* the last results entry seen; "" until the start is known */
    bool watch_busy;     /* an XREAD or XREVRANGE is in flight */
    /* waiting for work */
    uv_timer_t wake_timer; /* when the wake connection is down, or after a failed BLMPOP */
    rt_queue_woken_fn wake_fn;
    void *wake_ud;
    char wake_key[96], inbox_key[192]; /* the wake tokens; what submissions claimed for us */
    int open_timers; /* the queue is freed when the last of its timers has closed */
    /* following cancellations */
    void (*cancel_fn)(const char *id, void *ud);
    void *cancel_ud;
    char cancel_key[256];
    bool cancel_busy;        /* a BLPOP is out */
    uv_timer_t cancel_timer; /* after an error reply: BLPOP again (the connection stays up) */
};

enum { K_INTERACTIVE, K_ALERT, K_BATCH, K_LEASES, K_RUNNING, K_STATS, K_RESULTS, K_DEAD, K_HELD };

const char *rt_priority_name(rt_priority priority) {
    return (unsigned)priority < 3 ? rt_priority_names[priority] : "batch";
}

int rt_priority_parse(const char *name, rt_priority *priority) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, rt_priority_names[i]) == 0) {
            *priority = (rt_priority)i;
            return 0;
        }
    return -1;
}

char *rt_analysis_url(const char *base_url, const char *id) {
    static const char path[] = "/v1/analyses/";
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    size_t size = n + sizeof path + strlen(id);
    char *url = rt_xmalloc(size);
    memcpy(url, base_url, n);
    rt_concat(url + n, size - n, path, id, NULL);
    return url;
}

/* ---- arguments: copied into chunks that never move, so argv can point into them ------------ */

typedef struct chunk {
    struct chunk *next;
    size_t used, size;
    char data[];
} chunk;

typedef struct args {
    const char **argv;
    size_t *lens;
    int argc, cap;
    chunk *chunks;
    bool failed; /* out of memory for data that came from input */
} args;

static void args_free(args *a) {
    free(a->argv);
    free(a->lens);
    for (chunk *c = a->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    memset(a, 0, sizeof *a);
}

static void args_add(args *a, const char *s, size_t len) {
    chunk *c = a->chunks;
    if (a->failed)
        return;
    if (!c || c->size - c->used < len) {
        size_t size = len > CHUNK ? len : CHUNK;
        c = malloc(sizeof *c + size); /* sizes come from input: fail cleanly */
        if (!c) {
            a->failed = true;
            return;
        }
        c->size = size;
        c->used = 0;
        c->next = a->chunks;
        a->chunks = c;
    }
    if (a->argc == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->argv = rt_xrealloc(a->argv, sizeof *a->argv * (size_t)a->cap);
        a->lens = rt_xrealloc(a->lens, sizeof *a->lens * (size_t)a->cap);
    }
    if (len)
        memcpy(c->data + c->used, s, len);
    a->argv[a->argc] = c->data + c->used;
    a->lens[a->argc++] = len;
    c->used += len;
}

static void args_str(args *a, const char *s) {
    args_add(a, s, strlen(s));
}

static void args_fmt(args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void args_fmt(args *a, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    args_add(a, buf, n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Without printf, as the next: both are made several times per analysis. */
static void args_u64(args *a, uint64_t v) {
    char digits[20], *p = rt_digits(digits + sizeof digits, v);
    args_add(a, p, (size_t)(digits + sizeof digits - p));
}

/* A key: the prefix, the key's kind ("a:") and an id. */
static void args_key(args *a, const rt_queue *q, const char *kind, const char *id) {
    char key[512];
    args_add(a, key, rt_concat(key, sizeof key, q->prefix, kind, id, NULL));
}

/* "FCALL name numkeys", with the key count filled in later by args_set_numkeys. */
/* "FCALL inquest_vVERSION_'name'" ('fcall' is FCALL or FCALL_RO: rt_queue.lua, register). */
static void args_function(args *a, const char *fcall, int version, const char *name) {
    args_str(a, fcall);
    args_fmt(a, "inquest_v%d_%s", version, name);
}

/* FCALL of function 'name' with a placeholder for the number of keys (args_set_numkeys). */
static void args_fcall(args *a, int version, const char *name) {
    args_function(a, "FCALL", version, name);
    args_str(a, "0");
}

static void args_set_numkeys(args *a, int numkeys) {
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%d", numkeys);
    /* The placeholder "0" is one byte: write the count in a chunk of its own. */
    args_add(a, buf, (size_t)n);
    if (!a->failed) {
        a->argv[2] = a->argv[a->argc - 1];
        a->lens[2] = a->lens[a->argc - 1];
        a->argc--;
    }
}

/* ---- operations ----------------------------------------------------------------------------- */

typedef struct op op;
typedef void (*op_parse_fn)(op *o, const redisReply *reply);
/* Calls the op's typed callback with an error and no result. */
typedef void (*op_fail_fn)(op *o, int rc, const char *msg);

struct op {
    rt_queue *q;
    rt_redis *r;    /* the connection it goes on: the queue's, or the watch's */
    double timeout; /* seconds it may wait for its answer; 0: the connection's own */
    args a;
    op_parse_fn parse;
    op_fail_fn fail;
    void (*done)(void); /* the typed callback, cast back by parse and fail */
    void *ud;
    size_t n; /* items sent, for checking the reply's shape */
    size_t m; /* misfits sent (rt_queue_submit_intake) */
    bool retried;
};

static int fail_at_once(rt_queue *q, int rc, char *why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at_once(rt_queue *q, int rc, char *why, const char *fmt, ...) {
    va_list ap;
    (void)q;
    if (!why)
        return rc;
    va_start(ap, fmt);
    vsnprintf(why, 256, fmt, ap);
    va_end(ap);
    return rc;
}

static void op_free(op *o) {
    args_free(&o->a);
    free(o);
}

static int op_send(op *o);

static void on_load_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud);

/* Sends FUNCTION LOAD of this version's library (not REPLACE: another version's library stays
 * for the programs that call it); 'done' gets the answer (loaded_rc says how it went). */
static int send_load(rt_queue *q, rt_redis *r, rt_redis_reply_fn done) {
    const char *argv[] = {"FUNCTION", "LOAD", q->library};
    size_t lens[] = {8, 4, q->library_len};
    q->loads++;
    return rt_redis_command(r, 3, argv, lens, done, q);
}

/* A load's outcome: RT_OK also when another connection loaded the same version first. */
static int loaded_rc(int rc, const char *msg) {
    return rc == RT_EBACKEND && msg && strstr(msg, "already exists") ? RT_OK : rc;
}

/* Loads the library again and re-sends 'o' behind the load, on the same connection. */
static void reload_and_retry(op *o) {
    rt_queue *q = o->q;
    if (!q->reloading && send_load(q, q->redis, on_load_reply) == RT_OK)
        q->reloading = true;
    o->retried = true;
    if (op_send(o) != RT_OK) {
        o->fail(o, RT_EBACKEND, rt_redis_error(o->r));
        op_free(o);
    }
}

static void on_op_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    op *o = ud;
    char text[512];
    (void)r;
    if (rc == RT_EBACKEND && reply && !o->retried && !o->q->closing &&
        strncmp(msg, "ERR Function not found", 22) == 0) {
        reload_and_retry(o);
        return;
    }
    if (rc == RT_EBACKEND && reply) {
        const char *rest;
        rc = rt_errcode_of(msg, &rest);
        snprintf(text, sizeof text, "%s%s", rc == RT_EBACKEND ? "redis: " : "queue: ", rest);
        o->fail(o, rc, text);
    } else if (rc != RT_OK) {
        o->fail(o, rc, msg);
    } else {
        o->parse(o, reply);
    }
    op_free(o);
}

static int op_send(op *o) {
    if (o->timeout > 0)
        return rt_redis_command_timeout(o->r, o->timeout, o->a.argc, o->a.argv, o->a.lens,
                                        on_op_reply, o);
    return rt_redis_command(o->r, o->a.argc, o->a.argv, o->a.lens, on_op_reply, o);
}

/* 'o' (zeroed) as an operation of 'q' on its connection. */
static op *op_init(op *o, rt_queue *q, void (*done)(void), void *ud, op_parse_fn parse,
                   op_fail_fn fail) {
    o->q = q;
    o->r = q->redis;
    o->done = done;
    o->ud = ud;
    o->parse = parse;
    o->fail = fail;
    return o;
}

static op *op_new(rt_queue *q, void (*done)(void), void *ud, op_parse_fn parse, op_fail_fn fail) {
    return op_init(rt_xcalloc(1, sizeof(op)), q, done, ud, parse, fail);
}

/* Sends 'o' or frees it and returns why not. */
static int op_start(op *o, char *why) {
    rt_queue *q = o->q;
    int rc;
    if (o->a.failed) {
        op_free(o);
        return fail_at_once(q, RT_ENOMEM, why, "queue: out of memory for the call's arguments");
    }
    if (q->closing) {
        op_free(o);
        return fail_at_once(q, RT_EUSAGE, why, "queue: freed");
    }
    rc = op_send(o);
    if (rc != RT_OK) {
        rt_redis *r = o->r;
        op_free(o);
        return fail_at_once(q, rc, why, "%s", rt_redis_error(r));
    }
    return RT_OK;
}

/* A malformed reply (a library and a binary of different versions, say). */
static void bad_reply(op *o, const char *what) {
    char msg[256];
    snprintf(msg, sizeof msg, "queue: unexpected reply to %s", what);
    o->fail(o, RT_EBADRESPONSE, msg);
}

/* ---- reply elements ------------------------------------------------------------------------- */

static const redisReply *elem(const redisReply *r, size_t i) {
    return r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
}

static const char *str_of(const redisReply *e) {
    return e && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) ? e->str : "";
}

static long long int_of(const redisReply *e) {
    if (!e)
        return 0;
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtoll(e->str, NULL, 10);
    return 0;
}

static bool is_array(const redisReply *r, size_t min) {
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= min;
}

/* True when the 'n' elements of 'r' from 'first' on, every 'step', are values of an enum of 0 to
 * 'max': a value past it (a library of another version) would be taken for another outcome. */
static bool enum_values(const redisReply *r, size_t first, size_t step, size_t n, long long max) {
    for (size_t i = 0; i < n; i++) {
        long long v = int_of(elem(r, first + step * i));
        if (v < 0 || v > max)
            return false;
    }
    return true;
}

/* ---- submit --------------------------------------------------------------------------------- */

static void submit_fail(op *o, int rc, const char *msg) {
    ((rt_queue_submit_fn)o->done)(rc, msg, NULL, 0, o->ud);
}

static void submit_parse(op *o, const redisReply *reply) {
    if (!is_array(reply, o->n * 2)) {
        bad_reply(o, "submit");
        return;
    }
    rt_queue_submitted *out = rt_xcalloc(o->n ? o->n : 1, sizeof *out);
    for (size_t i = 0; i < o->n; i++) {
        long long flag = int_of(elem(reply, 2 * i + 1));
        rt_copy(out[i].id, sizeof out[i].id, str_of(elem(reply, 2 * i)));
        out[i].deduplicated = flag == 1;
        out[i].late = flag == 2;
    }
    ((rt_queue_submit_fn)o->done)(RT_OK, "", out, o->n, o->ud);
    free(out);
}

static void intake_fail(op *o, int rc, const char *msg) {
    ((rt_queue_intake_fn)o->done)(rc, msg, NULL, 0, NULL, 0, o->ud);
}

static void intake_parse(op *o, const redisReply *reply) {
    if (!is_array(reply, (o->n + o->m) * 2)) {
        bad_reply(o, "submit intake");
        return;
    }
    rt_queue_submitted *out = rt_xcalloc(o->n ? o->n : 1, sizeof *out);
    rt_queue_buried *buried = rt_xcalloc(o->m ? o->m : 1, sizeof *buried);
    for (size_t i = 0; i < o->n; i++) {
        long long flag = int_of(elem(reply, 2 * i + 1));
        rt_copy(out[i].id, sizeof out[i].id, str_of(elem(reply, 2 * i)));
        out[i].deduplicated = flag == 1;
        out[i].late = flag == 2;
    }
    for (size_t j = 0; j < o->m; j++) {
        size_t at = 2 * (o->n + j);
        rt_copy(buried[j].entry, sizeof buried[j].entry, str_of(elem(reply, at)));
        buried[j].repeat = int_of(elem(reply, at + 1)) == 1;
    }
    ((rt_queue_intake_fn)o->done)(RT_OK, "", out, o->n, buried, o->m, o->ud);
    free(out);
    free(buried);
}

static int check_request(const rt_queue *q, const rt_queue_request *r, size_t i, char *why) {
    const char *bad = NULL;
    if (!r->analyzer || !*r->analyzer)
        bad = "no analyzer";
    else if (!r->inputs)
        bad = "no inputs (canonical JSON text)";
    else if ((unsigned)r->priority > RT_PRIORITY_BATCH)
        bad = "priority is not interactive, alert or batch";
    else if (!(r->dedup_window >= 0) || r->dedup_window * 1000.0 > (double)q->ttl_ms)
        bad = "dedup window must be from 0 to the queue's ttl";
    else if (!(r->deadline >= 0) || r->deadline > 1e11)
        bad = "deadline must be Unix seconds or 0";
    if (!bad)
        return RT_OK;
    if (why)
        snprintf(why, 256, "queue: request %zu: %s", i + 1, bad);
    return RT_EINPUT;
}

/* The dedup key's Redis key. */
static void dedup_of(const rt_queue *q, const rt_queue_request *r, char *key, size_t key_size) {
    /* What is hashed: "key" then the explicit key, or the analyzer, a newline and the inputs. A
     * request that asks for its recording only meets others that asked too (the earlier
     * analysis would have none): "rec" leads the text of those. */
    const char *lead = r->record ? "rec" : "";
    const char *inputs = r->dedup_inputs ? r->dedup_inputs : r->inputs;
    const char *a = r->dedup_key ? "key" : r->analyzer, *b = r->dedup_key ? r->dedup_key : inputs;
    size_t nl = strlen(lead), na = strlen(a), ns = r->dedup_key ? 0 : 1, nb = strlen(b);
    char *buf = rt_xmalloc(nl + na + ns + nb + 1), hex[72];
    memcpy(buf, lead, nl);
    memcpy(buf + nl, a, na);
    memcpy(buf + nl + na, "\n", ns);
    memcpy(buf + nl + na + ns, b, nb + 1);
    rt_sha256_hex(buf, nl + na + ns + nb, hex);
    free(buf);
    /* 128 bits of the hash are as safe from collisions and keep the key short. */
    hex[7 + 32] = '\0';
    rt_concat(key, key_size, q->prefix, "d:", hex + 7, NULL);
}

/* The record of the analyses an alert started, beside its dedup key 'dkey' ("{P}d:HEX"):
 * "{P}ar:HEX" into 'out' of 'size' bytes. */
static void record_of(const rt_queue *q, const char *dkey, char *out, size_t size) {
    rt_concat(out, size, q->prefix, "ar:", dkey + strlen(q->prefix) + 2, NULL);
}

/* Which submit: the API's, the intake's starts, or the intake's starts and misfits. */
typedef enum submit_kind { SUBMIT_PLAIN, SUBMIT_ALERTS, SUBMIT_INTAKE } submit_kind;

/* The misfit's fields as the dead-letter entry holds them, name then value. */
static void misfit_args(args *a, const rt_queue_misfit *f) {
    const char *pairs[][2] = {
        {"analyzer", f->analyzer},
        {"team", f->team ? f->team : ""},
        {"priority", rt_priority_name(f->priority)},
        {"inputs", f->inputs},
        {"reason", f->reason},
        {"route", f->route},
        {"source", f->source ? f->source : ""},
        {"fingerprint", f->fingerprint ? f->fingerprint : ""},
        {"alert", f->alert ? f->alert : "{}"},
        {"errors", f->errors ? f->errors : "[]"},
    };
    size_t n = sizeof pairs / sizeof pairs[0];
    args_u64(a, (uint64_t)(f->window * 1000.0 + 0.5));
    args_u64(a, n);
    for (size_t i = 0; i < n; i++) {
        args_str(a, pairs[i][0]);
        args_str(a, pairs[i][1]);
    }
}

/* Returns RT_EINPUT itself, as check_request does, rather than through the variadic
 * fail_at_once: the analyzer does not follow a variadic call, and would then think a misfit
 * without a dedup key could pass. */
static int check_misfit(const rt_queue *q, const rt_queue_misfit *f, size_t i, char *why) {
    if (f->dedup_key && f->analyzer && f->inputs && f->reason && f->route &&
        (unsigned)f->priority <= RT_PRIORITY_BATCH && f->window >= 0 &&
        f->window * 1000.0 <= (double)q->ttl_ms)
        return RT_OK;
    if (why)
        snprintf(why, 256,
                 "queue: misfit %zu: needs a dedup key, an analyzer, inputs, a reason, a route, a "
                 "priority and a window from 0 to the queue's ttl",
                 i + 1);
    return RT_EINPUT;
}

/* Submit, the intake's submit (rt_queue_submit_alerts), or that with misfits
 * (rt_queue_submit_intake). */
static int submit_call(rt_queue *q, const rt_queue_request *reqs, size_t n, submit_kind kind,
                       const rt_queue_misfit *misfits, size_t m, void (*done)(void), void *ud,
                       char *why) {
    bool alerts = kind != SUBMIT_PLAIN;
    if ((kind != SUBMIT_INTAKE && n == 0) || n > RT_QUEUE_MAX_BATCH)
        return fail_at_once(q, RT_EINPUT, why, "queue: submit takes 1 to %d requests, not %zu",
                            RT_QUEUE_MAX_BATCH, n);
    if (kind == SUBMIT_INTAKE && ((n == 0 && m == 0) || m > RT_QUEUE_MAX_BATCH))
        return fail_at_once(q, RT_EINPUT, why,
                            "queue: the intake's submit takes 0 to %d requests and misfits, and "
                            "at least one",
                            RT_QUEUE_MAX_BATCH);
    for (size_t i = 0; i < n; i++) {
        if (check_request(q, &reqs[i], i, why) != RT_OK)
            return RT_EINPUT;
        if (alerts && (!reqs[i].dedup_key || !(reqs[i].alert_started >= 0)))
            return fail_at_once(q, RT_EINPUT, why,
                                "queue: request %zu: an alert needs a dedup key and a start",
                                i + 1);
    }
    for (size_t i = 0; i < m; i++)
        if (check_misfit(q, &misfits[i], i, why) != RT_OK)
            return RT_EINPUT;
    op *o = kind == SUBMIT_INTAKE ? op_new(q, done, ud, intake_parse, intake_fail)
                                  : op_new(q, done, ud, submit_parse, submit_fail);
    char(*ids)[RT_QUEUE_ID_SIZE] = rt_xmalloc((n ? n : 1) * sizeof *ids);
    o->n = n;
    o->m = m;
    args_fcall(&o->a, q->version,
               kind == SUBMIT_INTAKE   ? "submit_intake"
               : kind == SUBMIT_ALERTS ? "submit_alerts"
                                       : "submit");
    args_str(&o->a, q->listing_key);
    for (size_t i = 0; i < n; i++) {
        char key[160];
        rt_queue_new_id(q, ids[i]);
        args_key(&o->a, q, "a:", ids[i]);
        dedup_of(q, &reqs[i], key, sizeof key);
        args_str(&o->a, key);
    }
    for (size_t i = 0; alerts && i < n; i++) {
        char key[160], record[168];
        dedup_of(q, &reqs[i], key, sizeof key);
        record_of(q, key, record, sizeof record);
        args_str(&o->a, record);
    }
    if (kind == SUBMIT_INTAKE) {
        args_str(&o->a, q->keys[K_DEAD]);
        args_str(&o->a, q->keys[K_STATS]);
        for (size_t i = 0; i < m; i++) {
            /* The misfit's marker "{P}dl:HEX", beside its dedup key "{P}d:HEX". */
            char key[160];
            rt_queue_request r = {.dedup_key = misfits[i].dedup_key};
            dedup_of(q, &r, key, sizeof key);
            args_key(&o->a, q, "dl:", key + strlen(q->prefix) + 2);
        }
    }
    args_set_numkeys(&o->a, (int)(1 + (alerts ? 3 : 2) * n + (kind == SUBMIT_INTAKE ? 2 + m : 0)));
    args_str(&o->a, q->prefix);
    args_u64(&o->a, q->ttl_ms);
    args_u64(&o->a, q->recent_ms);
    args_u64(&o->a, n);
    for (size_t i = 0; i < n; i++) {
        const rt_queue_request *r = &reqs[i];
        args_str(&o->a, ids[i]);
        args_str(&o->a, r->analyzer);
        args_str(&o->a, r->team ? r->team : "");
        args_str(&o->a, rt_priority_name(r->priority));
        args_str(&o->a, r->inputs);
        args_str(&o->a, r->labels ? r->labels : "{}");
        args_u64(&o->a, (uint64_t)(r->dedup_window * 1000.0 + 0.5));
        args_u64(&o->a, (uint64_t)(r->deadline * 1000.0 + 0.5));
        args_str(&o->a, r->record ? "1" : "0");
    }
    for (size_t i = 0; alerts && i < n; i++)
        args_u64(&o->a, (uint64_t)(reqs[i].alert_started * 1000.0 + 0.5));
    if (kind == SUBMIT_INTAKE) {
        args_u64(&o->a, q->dead_maxlen);
        args_u64(&o->a, m);
        for (size_t i = 0; i < m; i++)
            misfit_args(&o->a, &misfits[i]);
    }
    free(ids);
    return op_start(o, why);
}

int rt_queue_submit(rt_queue *q, const rt_queue_request *reqs, size_t n, rt_queue_submit_fn done,
                    void *ud, char *why) {
    return submit_call(q, reqs, n, SUBMIT_PLAIN, NULL, 0, (void (*)(void))done, ud, why);
}

int rt_queue_submit_alerts(rt_queue *q, const rt_queue_request *reqs, size_t n,
                           rt_queue_submit_fn done, void *ud, char *why) {
    return submit_call(q, reqs, n, SUBMIT_ALERTS, NULL, 0, (void (*)(void))done, ud, why);
}

int rt_queue_submit_intake(rt_queue *q, const rt_queue_request *reqs, size_t n,
                           const rt_queue_misfit *misfits, size_t m, rt_queue_intake_fn done,
                           void *ud, char *why) {
    return submit_call(q, reqs, n, SUBMIT_INTAKE, misfits, m, (void (*)(void))done, ud, why);
}

/* ---- claim and complete -------------------------------------------------------------------- */

static void claim_fail(op *o, int rc, const char *msg) {
    ((rt_queue_claim_fn)o->done)(rc, msg, NULL, 0, NULL, 0, o->ud);
}

static void complete_fail(op *o, int rc, const char *msg) {
    ((rt_queue_complete_fn)o->done)(rc, msg, NULL, 0, o->ud);
}

/* The verdicts of a round's o->n results: the reply's first elements. NULL when malformed. */
static rt_queue_verdict *verdicts_of(op *o, const redisReply *reply, const char *what) {
    if (!is_array(reply, o->n) || !enum_values(reply, 0, 1, o->n, RT_COMPLETE_NOT_FOUND)) {
        bad_reply(o, what);
        return NULL;
    }
    rt_queue_verdict *out = rt_xcalloc(o->n ? o->n : 1, sizeof *out);
    for (size_t i = 0; i < o->n; i++)
        out[i] = (rt_queue_verdict)int_of(elem(reply, i));
    return out;
}

/* Values per claimed request in a round's reply (CLAIMED in rt_queue.lua). */
#define CLAIMED_VALUES 9

/* Requests claimed for a worker, read from CLAIMED_VALUES each: a round's, and what submissions
 * claimed for it while it waited (rt_queue.lua, hand_to_idle), which its inbox holds as JSON
 * arrays of their claim time and the values; those are read into replies ('values', pointing
 * into 'arrays'), as a round's values are. */
typedef struct claimed_set {
    rt_queue_claimed *items;
    size_t n, cap;
    json_t **arrays;
    size_t n_arrays;
    redisReply *values;
    const redisReply **v;
} claimed_set;

static void claimed_set_free(claimed_set *cs) {
    free(cs->items);
    for (size_t i = 0; i < cs->n_arrays; i++)
        json_decref(cs->arrays[i]);
    free(cs->arrays);
    free(cs->values);
    free(cs->v);
}

/* Adds the requests of the 'n' values 'v', claimed at 'when' (µs); false when they are malformed
 * (a library of another version). */
static bool claimed_add(claimed_set *cs, const redisReply *const *v, size_t n, long long when) {
    if (n % CLAIMED_VALUES)
        return false;
    size_t more = n / CLAIMED_VALUES;
    if (cs->n + more > cs->cap) {
        cs->cap = cs->n + more;
        cs->items = rt_xrealloc(cs->items, cs->cap * sizeof *cs->items);
    }
    for (size_t i = 0; i < more; i++) {
        const redisReply *const *e = v + CLAIMED_VALUES * i;
        long long rank = int_of(e[6]);
        if (rank < 0 || rank > RT_PRIORITY_BATCH)
            return false;
        cs->items[cs->n++] = (rt_queue_claimed){
            .id = str_of(e[0]),
            .entry = str_of(e[1]),
            .analyzer = str_of(e[2]),
            .inputs = str_of(e[3]),
            .inputs_len = e[3]->type == REDIS_REPLY_STRING ? e[3]->len : 0,
            .deadline = (double)int_of(e[4]) / 1000.0,
            .deliveries = (int)int_of(e[5]),
            .priority = (rt_priority)rank,
            .team = str_of(e[7]),
            .record = e[8]->type == REDIS_REPLY_STRING && e[8]->len == 1 && e[8]->str[0] == '1',
            .dequeued_at = (double)when / 1e6};
    }
    return true;
}

/* Adds what the 'n' inbox elements 'texts' hold; false when one is malformed. */
static bool claimed_add_handed(claimed_set *cs, const redisReply *const *texts, size_t n) {
    size_t total = 0, k = 0;
    cs->arrays = rt_xcalloc(n + 1, sizeof *cs->arrays);
    for (; cs->n_arrays < n; cs->n_arrays++) {
        const redisReply *t = texts[cs->n_arrays];
        json_t *a = t->type == REDIS_REPLY_STRING ? json_loadb(t->str, t->len, 0, NULL) : NULL;
        if (!json_is_array(a)) {
            json_decref(a);
            return false;
        }
        cs->arrays[cs->n_arrays] = a;
        total += json_array_size(a);
    }
    cs->values = rt_xcalloc(total + 1, sizeof *cs->values);
    cs->v = rt_xcalloc(total + 1, sizeof *cs->v);
    for (size_t i = 0; i < n; i++) {
        size_t first = k, j;
        json_t *x;
        json_array_foreach(cs->arrays[i], j, x) {
            redisReply *r = &cs->values[k];
            if (json_is_string(x))
                *r = (redisReply){.type = REDIS_REPLY_STRING,
                                  .str = (char *)json_string_value(x),
                                  .len = json_string_length(x)};
            else
                *r = (redisReply){.type = REDIS_REPLY_INTEGER,
                                  .integer = (long long)json_number_value(x)};
            cs->v[k++] = r;
        }
        if (k > first && /* [] hands nothing: it ends a draining worker's wait */
            !claimed_add(cs, cs->v + first + 1, k - first - 1, int_of(cs->v[first])))
            return false;
    }
    return true;
}

/* A round's reply: a verdict per result, when the claim ran (µs by Redis' clock), how many inbox
 * elements follow and those, then CLAIMED_VALUES per request it claimed. */
static void claim_parse(op *o, const redisReply *reply) {
    rt_queue_verdict *verdicts = verdicts_of(o, reply, "claim");
    claimed_set cs = {0};
    if (!verdicts)
        return;
    const redisReply *when = elem(reply, o->n), *k = elem(reply, o->n + 1);
    size_t first = o->n + 2;
    if (!when || when->type != REDIS_REPLY_INTEGER || !k || k->type != REDIS_REPLY_INTEGER ||
        k->integer < 0 || (size_t)k->integer > reply->elements - first ||
        !claimed_add_handed(&cs, (const redisReply *const *)reply->element + first,
                            (size_t)k->integer) ||
        !claimed_add(&cs, (const redisReply *const *)reply->element + first + k->integer,
                     reply->elements - first - (size_t)k->integer, when->integer))
        bad_reply(o, "claim");
    else
        ((rt_queue_claim_fn)o->done)(RT_OK, "", verdicts, o->n, cs.items, cs.n, o->ud);
    claimed_set_free(&cs);
    free(verdicts);
}

static void complete_parse(op *o, const redisReply *reply) {
    rt_queue_verdict *verdicts = verdicts_of(o, reply, "complete");
    if (verdicts)
        ((rt_queue_complete_fn)o->done)(RT_OK, "", verdicts, o->n, o->ud);
    free(verdicts);
}

static bool result_status(const char *s) {
    for (int i = 0; i < 6; i++) /* not "dead": only the queue buries */
        if (s && strcmp(s, rt_queue_statuses[i]) == 0)
            return true;
    return false;
}

/* Checks a round's arguments; RT_OK, or RT_EINPUT with 'why' filled. */
static int check_round(rt_queue *q, const char *consumer, const rt_queue_completion *results,
                       size_t n_results, size_t max, double lease, char *why) {
    if (!consumer || !*consumer || n_results > RT_QUEUE_MAX_BATCH || max > RT_QUEUE_MAX_BATCH ||
        (max > 0 && !(lease >= 0.01)))
        return fail_at_once(q, RT_EINPUT, why,
                            "queue: a round needs a consumer, 0 to %d results, and 0 to %d "
                            "claims with a lease of at least 10ms",
                            RT_QUEUE_MAX_BATCH, RT_QUEUE_MAX_BATCH);
    for (size_t i = 0; i < n_results; i++)
        if (!results[i].id || !result_status(results[i].status) || !results[i].result)
            return fail_at_once(q, RT_EINPUT, why,
                                "queue: result %zu: needs an id, a result and a status among "
                                "ok, error, timeout, cpu_exceeded, memory_exceeded, cancelled",
                                i + 1);
    return RT_OK;
}

/* Sends a round (inquest_claim): 'results' to store, then up to 'max' claims. */
static int round_start(rt_queue *q, const char *consumer, const rt_queue_completion *results,
                       size_t n_results, size_t max, double lease, double handoff, op *o,
                       char *why) {
    o->n = n_results;
    args_fcall(&o->a, q->version, "claim");
    for (int i = 0; i < 9; i++)
        args_str(&o->a, q->keys[i]);
    for (size_t i = 0; i < n_results; i++) {
        args_key(&o->a, q, "a:", results[i].id);
        args_key(&o->a, q, "r:", results[i].id);
    }
    args_set_numkeys(&o->a, (int)(9 + 2 * n_results));
    args_str(&o->a, q->prefix);
    args_str(&o->a, consumer);
    args_u64(&o->a, max);
    args_u64(&o->a, (uint64_t)(lease * 1000.0 + 0.5));
    /* after a restart, claims leave other workers' leases alone for a lease and the longest a
     * client takes to reconnect (rt_queue.lua, "restarts") */
    args_u64(&o->a, rt_redis_backoff_max_ms(q->redis));
    args_u64(&o->a, (uint64_t)q->max_deliveries);
    args_u64(&o->a, q->ttl_ms);
    args_u64(&o->a, q->results_maxlen);
    args_u64(&o->a, q->dead_maxlen);
    args_u64(&o->a, (uint64_t)q->default_cap);
    args_u64(&o->a, q->n_caps);
    for (size_t i = 0; i < q->n_caps; i++) {
        args_str(&o->a, q->caps[i].team);
        args_u64(&o->a, (uint64_t)q->caps[i].cap);
    }
    args_u64(&o->a, q->recording_ttl_ms);
    args_u64(&o->a, (uint64_t)(handoff * 1000.0 + 0.5));
    args_u64(&o->a, n_results);
    for (size_t i = 0; i < n_results; i++) {
        args_str(&o->a, results[i].id);
        args_str(&o->a, results[i].status);
        args_add(&o->a, results[i].result, results[i].result_len);
        args_add(&o->a, results[i].recording ? results[i].recording : "", results[i].recording_len);
    }
    return op_start(o, why);
}

int rt_queue_claim(rt_queue *q, const char *consumer, const rt_queue_completion *results,
                   size_t n_results, size_t max, double lease, double handoff,
                   rt_queue_claim_fn done, void *ud, char *why) {
    if (check_round(q, consumer, results, n_results, max, lease, why) != RT_OK)
        return RT_EINPUT;
    op *o = op_new(q, (void (*)(void))done, ud, claim_parse, claim_fail);
    return round_start(q, consumer, results, n_results, max, lease, handoff, o, why);
}

int rt_queue_complete(rt_queue *q, const char *consumer, const rt_queue_completion *items, size_t n,
                      rt_queue_complete_fn done, void *ud, char *why) {
    if (n == 0)
        return fail_at_once(q, RT_EINPUT, why, "queue: complete needs 1 to %d results",
                            RT_QUEUE_MAX_BATCH);
    if (check_round(q, consumer, items, n, 0, 0, why) != RT_OK)
        return RT_EINPUT;
    op *o = op_new(q, (void (*)(void))done, ud, complete_parse, complete_fail);
    return round_start(q, consumer, items, n, 0, 0, 0, o, why);
}

/* ---- extend --------------------------------------------------------------------------------- */

static void extend_fail(op *o, int rc, const char *msg) {
    ((rt_queue_extend_fn)o->done)(rc, msg, NULL, 0, o->ud);
}

static void extend_parse(op *o, const redisReply *reply) {
    if (!is_array(reply, o->n) || !enum_values(reply, 0, 1, o->n, RT_LEASE_LOST)) {
        bad_reply(o, "extend");
        return;
    }
    rt_queue_lease *out = rt_xcalloc(o->n ? o->n : 1, sizeof *out);
    for (size_t i = 0; i < o->n; i++)
        out[i] = (rt_queue_lease)int_of(elem(reply, i));
    ((rt_queue_extend_fn)o->done)(RT_OK, "", out, o->n, o->ud);
    free(out);
}

int rt_queue_extend(rt_queue *q, const char *consumer, const char *const *ids, size_t n,
                    double lease, rt_queue_extend_fn done, void *ud, char *why) {
    if (!consumer || !*consumer || n == 0 || n > RT_QUEUE_MAX_BATCH || !(lease >= 0.01))
        return fail_at_once(q, RT_EINPUT, why,
                            "queue: extend needs a consumer, 1 to %d ids and a lease of at least "
                            "10ms",
                            RT_QUEUE_MAX_BATCH);
    op *o = op_new(q, (void (*)(void))done, ud, extend_parse, extend_fail);
    o->n = n;
    args_fcall(&o->a, q->version, "extend");
    args_str(&o->a, q->keys[K_LEASES]);
    for (size_t i = 0; i < n; i++)
        args_key(&o->a, q, "a:", ids[i]);
    args_set_numkeys(&o->a, (int)(1 + n));
    args_str(&o->a, q->prefix);
    args_str(&o->a, consumer);
    args_u64(&o->a, (uint64_t)(lease * 1000.0 + 0.5));
    for (size_t i = 0; i < n; i++)
        args_str(&o->a, ids[i]);
    return op_start(o, why);
}

/* ---- cancel --------------------------------------------------------------------------------- */

static void cancel_fail(op *o, int rc, const char *msg) {
    ((rt_queue_cancel_fn)o->done)(rc, msg, RT_CANCEL_FINISHED, "", o->ud);
}

static void cancel_parse(op *o, const redisReply *reply) {
    long long outcome = int_of(elem(reply, 0));
    const char *status = str_of(elem(reply, 1));
    if (!is_array(reply, 2) || outcome < 0 || outcome > 3) {
        bad_reply(o, "cancel");
    } else if (outcome == 3) {
        o->fail(o, RT_ENOTFOUND, "queue: no such analysis");
    } else if (outcome == RT_CANCEL_FINISHED) {
        char msg[128];
        snprintf(msg, sizeof msg, "queue: the analysis has finished already (%s)", status);
        ((rt_queue_cancel_fn)o->done)(RT_OK, msg, RT_CANCEL_FINISHED, status, o->ud);
    } else {
        ((rt_queue_cancel_fn)o->done)(RT_OK, "", (rt_queue_cancel_outcome)outcome, status, o->ud);
    }
}

static bool valid_id(const char *id) {
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n <= 64 && strspn(id, "0123456789abcdefABCDEF-_") == n;
}

bool rt_queue_valid_id(const char *id) {
    return valid_id(id);
}

int rt_queue_cancel(rt_queue *q, const char *id, rt_queue_cancel_fn done, void *ud, char *why) {
    if (!valid_id(id))
        return fail_at_once(q, RT_EINPUT, why, "queue: '%.64s' is not an analysis id",
                            id ? id : "");
    op *o = op_new(q, (void (*)(void))done, ud, cancel_parse, cancel_fail);
    args_fcall(&o->a, q->version, "cancel");
    args_key(&o->a, q, "a:", id);
    args_set_numkeys(&o->a, 1);
    args_str(&o->a, q->prefix);
    args_str(&o->a, id);
    args_u64(&o->a, q->ttl_ms);
    args_u64(&o->a, q->results_maxlen);
    return op_start(o, why);
}

/* ---- get and list --------------------------------------------------------------------------- */

/* Fills 'a' from the N_FIELDS values at 'v' (the order of FIELDS in rt_queue.lua). */
static void analysis_from(rt_queue_analysis *a, const char *id, const redisReply *const *v) {
    memset(a, 0, sizeof *a);
    a->id = id;
    a->status = str_of(v[0]);
    a->analyzer = str_of(v[1]);
    a->team = str_of(v[2]);
    a->priority = str_of(v[3]);
    a->submitted_at = (double)int_of(v[4]) / 1000.0;
    a->started_at = (double)int_of(v[5]) / 1000.0;
    a->finished_at = (double)int_of(v[6]) / 1000.0;
    a->deliveries = (int)int_of(v[7]);
    a->labels = str_of(v[8]);
    a->deadline = (double)int_of(v[9]) / 1000.0;
    a->message = str_of(v[10]);
    a->consumer = str_of(v[11]);
    a->cancelling = strcmp(str_of(v[12]), "1") == 0 && strcmp(a->status, "running") == 0;
    a->resolved_at = (double)int_of(v[13]) / 1000.0;
}

typedef struct get_op {
    op base;
    char id[72];
} get_op;

static void get_fail(op *o, int rc, const char *msg) {
    ((rt_queue_get_fn)o->done)(rc, msg, NULL, o->ud);
}

static void get_parse(op *o, const redisReply *reply) {
    rt_queue_analysis a;
    if (!reply || reply->type == REDIS_REPLY_NIL) {
        o->fail(o, RT_ENOTFOUND, "queue: no such analysis");
        return;
    }
    if (!is_array(reply, N_FIELDS + 1)) {
        bad_reply(o, "get");
        return;
    }
    analysis_from(&a, ((get_op *)o)->id, (const redisReply *const *)reply->element);
    const redisReply *result = reply->element[N_FIELDS];
    if (result->type == REDIS_REPLY_STRING) {
        a.result = result->str;
        a.result_len = result->len;
    }
    ((rt_queue_get_fn)o->done)(RT_OK, "", &a, o->ud);
}

/* op_new for a get, which keeps the 'id' it asked for: the reply does not repeat it. */
static op *get_op_new(rt_queue *q, void (*done)(void), void *ud, const char *id) {
    get_op *g = rt_xcalloc(1, sizeof *g);
    rt_copy(g->id, sizeof g->id, id);
    return op_init(&g->base, q, done, ud, get_parse, get_fail);
}

/* A get of 'id', ready to send. */
static op *get_call(rt_queue *q, const char *id, rt_queue_get_fn done, void *ud) {
    op *o = get_op_new(q, (void (*)(void))done, ud, id);
    args_function(&o->a, "FCALL_RO", q->version, "get");
    args_str(&o->a, "2");
    args_key(&o->a, q, "a:", id);
    args_key(&o->a, q, "r:", id);
    args_str(&o->a, q->prefix);
    return o;
}

int rt_queue_get(rt_queue *q, const char *id, rt_queue_get_fn done, void *ud, char *why) {
    if (!valid_id(id))
        return fail_at_once(q, RT_EINPUT, why, "queue: '%.64s' is not an analysis id",
                            id ? id : "");
    return op_start(get_call(q, id, done, ud), why);
}

static void list_fail(op *o, int rc, const char *msg) {
    ((rt_queue_list_fn)o->done)(rc, msg, NULL, 0, NULL, o->ud);
}

static void list_parse(op *o, const redisReply *reply) {
    const size_t per = N_FIELDS + 1;
    char cursor[80];
    if (!is_array(reply, 2) || (reply->elements - 2) % per) {
        bad_reply(o, "list");
        return;
    }
    size_t n = (reply->elements - 2) / per;
    rt_queue_analysis *items = rt_xcalloc(n ? n : 1, sizeof *items);
    for (size_t i = 0; i < n; i++) {
        const redisReply *const *v = (const redisReply *const *)reply->element + 2 + i * per;
        analysis_from(&items[i], str_of(v[0]), v + 1);
    }
    const char *entry = str_of(reply->element[0]);
    snprintf(cursor, sizeof cursor, "%s:%s", entry, str_of(reply->element[1]));
    ((rt_queue_list_fn)o->done)(RT_OK, "", items, n, *entry ? cursor : NULL, o->ud);
    free(items);
}

/* Reads a listing's cursor, "ENTRY:LEFT" (list_parse): the index' entry to go on from and how
 * many of its ids are left to list. */
static bool list_cursor(const char *cursor, char *entry, size_t size, char *left) {
    const char *colon = strchr(cursor, ':');
    size_t n = colon ? (size_t)(colon - cursor) : 0, m = colon ? strlen(colon + 1) : 0;
    if (!colon || n >= size || m == 0 || m > 4 || strspn(colon + 1, "0123456789") != m)
        return false;
    memcpy(entry, cursor, n);
    entry[n] = '\0';
    memcpy(left, colon + 1, m + 1);
    return rt_stream_id(entry);
}

int rt_queue_list(rt_queue *q, const rt_queue_filter *f, rt_queue_list_fn done, void *ud,
                  char *why) {
    /* The index' entry ids are times in ms: 'until' starts the walk, 'since' ends it. */
    char from[48] = "+", left[8] = "", oldest[24] = "";
    size_t limit = f && f->limit ? f->limit : DEFAULT_LIST_LIMIT;
    if (limit > MAX_LIST_LIMIT)
        return fail_at_once(q, RT_EINPUT, why, "queue: limit must be from 1 to %d", MAX_LIST_LIMIT);
    if (f && f->cursor && *f->cursor) {
        if (!list_cursor(f->cursor, from, sizeof from, left))
            return fail_at_once(q, RT_EINPUT, why, "queue: malformed cursor");
    } else if (f && f->until > 0)
        snprintf(from, sizeof from, "%.0f", floor(f->until * 1000));
    if (f && f->since > 0)
        snprintf(oldest, sizeof oldest, "%.0f", ceil(f->since * 1000));
    op *o = op_new(q, (void (*)(void))done, ud, list_parse, list_fail);
    args_function(&o->a, "FCALL_RO", q->version, "list");
    args_str(&o->a, "1");
    args_str(&o->a, q->listing_key);
    args_str(&o->a, q->prefix);
    args_str(&o->a, from);
    args_str(&o->a, left);
    args_u64(&o->a, limit);
    args_str(&o->a, f && f->status ? f->status : "");
    args_str(&o->a, f && f->analyzer ? f->analyzer : "");
    args_u64(&o->a, limit * LIST_SCAN_FACTOR);
    args_str(&o->a, f && f->label ? f->label : "");
    args_str(&o->a, f && f->label && f->label_value ? f->label_value : "");
    args_str(&o->a, oldest);
    return op_start(o, why);
}

/* ---- dead letters --------------------------------------------------------------------------- */

static void dead_fail(op *o, int rc, const char *msg) {
    ((rt_queue_dead_fn)o->done)(rc, msg, NULL, 0, NULL, o->ud);
}

static void dead_from(rt_queue_dead *d, const redisReply *entry) {
    const redisReply *f = elem(entry, 1);
    memset(d, 0, sizeof *d);
    d->entry = str_of(elem(entry, 0));
    d->id = d->analyzer = d->team = d->priority = d->inputs = d->reason = "";
    d->route = d->source = d->fingerprint = d->alert = d->errors = "";
    d->origin = "queue";
    for (size_t i = 0; f && i + 1 < f->elements; i += 2) {
        const char *k = str_of(f->element[i]), *v = str_of(f->element[i + 1]);
        if (strcmp(k, "id") == 0)
            d->id = v;
        else if (strcmp(k, "analyzer") == 0)
            d->analyzer = v;
        else if (strcmp(k, "team") == 0)
            d->team = v;
        else if (strcmp(k, "priority") == 0)
            d->priority = v;
        else if (strcmp(k, "inputs") == 0)
            d->inputs = v;
        else if (strcmp(k, "reason") == 0)
            d->reason = v;
        else if (strcmp(k, "deliveries") == 0)
            d->deliveries = atoi(v);
        else if (strcmp(k, "origin") == 0)
            d->origin = v;
        else if (strcmp(k, "route") == 0)
            d->route = v;
        else if (strcmp(k, "source") == 0)
            d->source = v;
        else if (strcmp(k, "fingerprint") == 0)
            d->fingerprint = v;
        else if (strcmp(k, "alert") == 0)
            d->alert = v;
        else if (strcmp(k, "errors") == 0)
            d->errors = v;
        else if (strcmp(k, "at") == 0)
            d->at = (double)strtoll(v, NULL, 10) / 1000.0; /* ms, as every time the queue keeps */
    }
}

static void dead_parse(op *o, const redisReply *reply) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        bad_reply(o, "dead letters");
        return;
    }
    size_t n = reply->elements;
    rt_queue_dead *items = rt_xcalloc(n ? n : 1, sizeof *items);
    for (size_t i = 0; i < n; i++)
        dead_from(&items[i], reply->element[i]);
    /* A full page may have more after it: its last entry is the next cursor. */
    const char *next = n && n == o->n ? items[n - 1].entry : NULL;
    if (next && !*next) { /* an entry without its id: "" would start from the newest again */
        free(items);
        bad_reply(o, "dead letters");
        return;
    }
    ((rt_queue_dead_fn)o->done)(RT_OK, "", items, n, next, o->ud);
    free(items);
}

int rt_queue_dead_letters(rt_queue *q, const char *cursor, size_t limit, rt_queue_dead_fn done,
                          void *ud, char *why) {
    limit = limit ? limit : DEFAULT_LIST_LIMIT;
    if (limit > MAX_LIST_LIMIT)
        return fail_at_once(q, RT_EINPUT, why, "queue: limit must be from 1 to %d", MAX_LIST_LIMIT);
    if (cursor && *cursor && strspn(cursor, "0123456789-") != strlen(cursor))
        return fail_at_once(q, RT_EINPUT, why, "queue: malformed cursor");
    op *o = op_new(q, (void (*)(void))done, ud, dead_parse, dead_fail);
    o->n = limit;
    args_str(&o->a, "XREVRANGE");
    args_str(&o->a, q->keys[K_DEAD]);
    if (cursor && *cursor)
        args_fmt(&o->a, "(%s", cursor); /* exclusive: the page after the cursor's entry */
    else
        args_str(&o->a, "+");
    args_str(&o->a, "-");
    args_str(&o->a, "COUNT");
    args_u64(&o->a, limit);
    return op_start(o, why);
}

/* ---- resolve (alert intake) ----------------------------------------------------------------- */

static void resolve_fail(op *o, int rc, const char *msg) {
    ((rt_queue_resolve_fn)o->done)(rc, msg, NULL, 0, o->ud);
}

static void resolve_parse(op *o, const redisReply *reply) {
    if (!is_array(reply, o->n)) {
        bad_reply(o, "resolve");
        return;
    }
    size_t total = 0;
    for (size_t i = 0; i < o->n; i++) {
        const redisReply *e = elem(reply, i);
        if (!e || e->type != REDIS_REPLY_ARRAY) {
            bad_reply(o, "resolve");
            return;
        }
        total += e->elements;
    }
    rt_queue_resolved *out = rt_xcalloc(o->n ? o->n : 1, sizeof *out);
    const char **ids = rt_xcalloc(total ? total : 1, sizeof *ids), **next = ids;
    for (size_t i = 0; i < o->n; i++) {
        const redisReply *e = elem(reply, i);
        out[i].ids = next;
        out[i].n_ids = e->elements;
        for (size_t k = 0; k < e->elements; k++)
            *next++ = str_of(e->element[k]);
    }
    ((rt_queue_resolve_fn)o->done)(RT_OK, "", out, o->n, o->ud);
    free(ids);
    free(out);
}

int rt_queue_resolve(rt_queue *q, const rt_queue_resolution *alerts, size_t n,
                     rt_queue_resolve_fn done, void *ud, char *why) {
    if (n == 0 || n > RT_QUEUE_MAX_BATCH)
        return fail_at_once(q, RT_EINPUT, why, "queue: resolve takes 1 to %d alerts, not %zu",
                            RT_QUEUE_MAX_BATCH, n);
    for (size_t i = 0; i < n; i++)
        if (!alerts[i].dedup_key || !(alerts[i].started >= 0) || !(alerts[i].window >= 0) ||
            alerts[i].window * 1000.0 > (double)q->ttl_ms)
            return fail_at_once(q, RT_EINPUT, why,
                                "queue: resolve %zu: needs a dedup key, a start and a window from "
                                "0 to the queue's ttl",
                                i + 1);
    op *o = op_new(q, (void (*)(void))done, ud, resolve_parse, resolve_fail);
    o->n = n;
    args_fcall(&o->a, q->version, "resolve");
    args_str(&o->a, q->keys[K_STATS]);
    for (size_t i = 0; i < n; i++) {
        char key[160], record[168];
        rt_queue_request r = {.dedup_key = alerts[i].dedup_key};
        dedup_of(q, &r, key, sizeof key);
        record_of(q, key, record, sizeof record);
        args_str(&o->a, key);
        args_str(&o->a, record);
    }
    args_set_numkeys(&o->a, (int)(1 + 2 * n));
    args_str(&o->a, q->prefix);
    for (size_t i = 0; i < n; i++) {
        args_u64(&o->a, (uint64_t)(alerts[i].started * 1000.0 + 0.5));
        args_u64(&o->a, (uint64_t)(alerts[i].window * 1000.0 + 0.5));
    }
    return op_start(o, why);
}

/* ---- stats ---------------------------------------------------------------------------------- */

static void stats_fail(op *o, int rc, const char *msg) {
    ((rt_queue_stats_fn)o->done)(rc, msg, NULL, o->ud);
}

static void stat_set(rt_queue_stats *s, const char *name, long long v) {
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"queued:interactive", offsetof(rt_queue_stats, queued[0])},
        {"queued:alert", offsetof(rt_queue_stats, queued[1])},
        {"queued:batch", offsetof(rt_queue_stats, queued[2])},
        {"held", offsetof(rt_queue_stats, held)},
        {"running", offsetof(rt_queue_stats, running)},
        {"dead_letters", offsetof(rt_queue_stats, dead_letters)},
        {"results_length", offsetof(rt_queue_stats, results_length)},
        {"submitted", offsetof(rt_queue_stats, submitted)},
        {"deduplicated", offsetof(rt_queue_stats, deduplicated)},
        {"reclaims", offsetof(rt_queue_stats, reclaims)},
        {"dead", offsetof(rt_queue_stats, dead)},
        {"duplicates", offsetof(rt_queue_stats, duplicates)},
        {"resolved", offsetof(rt_queue_stats, resolved)},
        {"dead_intake", offsetof(rt_queue_stats, dead_intake)},
        {"recordings:kept", offsetof(rt_queue_stats, recordings_kept)},
        {"recordings:too_big", offsetof(rt_queue_stats, recordings_too_big)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(name, fields[i].name) == 0) {
            *(long long *)(void *)((char *)s + fields[i].offset) = v;
            return;
        }
    if (strncmp(name, "completed:", 10) == 0)
        for (int i = 0; i < 7; i++)
            if (strcmp(name + 10, rt_queue_statuses[i]) == 0)
                s->completed[i] = v;
}

static void stats_parse(op *o, const redisReply *reply) {
    rt_queue_stats s;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        bad_reply(o, "stats");
        return;
    }
    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < reply->elements; i += 2)
        stat_set(&s, str_of(reply->element[i]), int_of(reply->element[i + 1]));
    ((rt_queue_stats_fn)o->done)(RT_OK, "", &s, o->ud);
}

int rt_queue_stats_read(rt_queue *q, rt_queue_stats_fn done, void *ud, char *why) {
    op *o = op_new(q, (void (*)(void))done, ud, stats_parse, stats_fail);
    args_function(&o->a, "FCALL_RO", q->version, "stats");
    args_str(&o->a, "8");
    for (int k = K_INTERACTIVE; k <= K_LEASES; k++)
        args_str(&o->a, q->keys[k]);
    args_str(&o->a, q->keys[K_STATS]);
    args_str(&o->a, q->keys[K_DEAD]);
    args_str(&o->a, q->keys[K_RESULTS]);
    args_str(&o->a, q->keys[K_HELD]);
    args_str(&o->a, q->prefix);
    return op_start(o, why);
}

/* ---- connector calls --------------------------------------------------------------------------
 */

#define MAX_CONNECTOR_STATS 256 /* connectors read back; more are left out */

const double rt_queue_latency_bounds[RT_QUEUE_LATENCY_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

int rt_queue_latency_bucket(double seconds) {
    int i = 0;
    while (i < RT_QUEUE_LATENCY_BUCKETS && seconds > rt_queue_latency_bounds[i])
        i++;
    return i;
}

static void counted_parse(op *o, const redisReply *reply) {
    (void)reply;
    if (o->done)
        ((void (*)(int, const char *, void *))o->done)(RT_OK, "", o->ud);
}

static void counted_fail(op *o, int rc, const char *msg) {
    if (o->done)
        ((void (*)(int, const char *, void *))o->done)(rc, msg, o->ud);
}

static void add_count(args *a, const char *connector, const char *field, double v) {
    if (v == 0)
        return;
    args_fmt(a, "%s|%s", connector, field);
    args_fmt(a, "%.17g", v);
}

int rt_queue_connector_stats_add(rt_queue *q, const rt_queue_connector_stats *stats, size_t n,
                                 void (*done)(int rc, const char *msg, void *ud), void *ud,
                                 char *why) {
    op *o = op_new(q, (void (*)(void))done, ud, counted_parse, counted_fail);
    args_fcall(&o->a, q->version, "count");
    args_str(&o->a, q->connectors_key);
    args_set_numkeys(&o->a, 1);
    args_str(&o->a, q->prefix);
    for (size_t i = 0; i < n; i++) {
        const rt_queue_connector_stats *st = &stats[i];
        add_count(&o->a, st->connector, "calls", st->calls);
        add_count(&o->a, st->connector, "errors", st->errors);
        add_count(&o->a, st->connector, "seconds", st->seconds);
        for (int b = 0; b <= RT_QUEUE_LATENCY_BUCKETS; b++) {
            char field[8];
            snprintf(field, sizeof field, "b%d", b);
            add_count(&o->a, st->connector, field, st->buckets[b]);
        }
    }
    return op_start(o, why);
}

/* The entry of 'name' in 'out' (one of '*n'), added when new; NULL when full. */
static rt_queue_connector_stats *stats_of(rt_queue_connector_stats *out, size_t *n,
                                          const char *name, size_t len) {
    for (size_t i = 0; i < *n; i++)
        if (strlen(out[i].connector) == len && memcmp(out[i].connector, name, len) == 0)
            return &out[i];
    if (*n == MAX_CONNECTOR_STATS || len >= sizeof out->connector)
        return NULL;
    memset(&out[*n], 0, sizeof out[*n]);
    memcpy(out[*n].connector, name, len);
    return &out[(*n)++];
}

static void connectors_fail(op *o, int rc, const char *msg) {
    ((rt_queue_connectors_fn)o->done)(rc, msg, NULL, 0, o->ud);
}

/* True when the values of the field/value pairs 'r' are numbers (HINCRBYFLOAT stores no NaN and
 * no infinity). */
static bool finite_values(const redisReply *r) {
    for (size_t i = 1; i < r->elements; i += 2)
        if (!isfinite(atof(str_of(r->element[i]))))
            return false;
    return true;
}

static void connectors_parse(op *o, const redisReply *reply) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 ||
        !finite_values(reply)) {
        bad_reply(o, "connector stats");
        return;
    }
    rt_queue_connector_stats *out = rt_xcalloc(MAX_CONNECTOR_STATS, sizeof *out);
    size_t n = 0;
    for (size_t i = 0; i < reply->elements; i += 2) {
        const char *field = str_of(reply->element[i]), *bar = strchr(field, '|');
        rt_queue_connector_stats *st = bar ? stats_of(out, &n, field, (size_t)(bar - field)) : NULL;
        double v = atof(str_of(reply->element[i + 1]));
        int b = bar && bar[1] == 'b' ? atoi(bar + 2) : -1;
        if (!st)
            continue;
        if (strcmp(bar + 1, "calls") == 0)
            st->calls = v;
        else if (strcmp(bar + 1, "errors") == 0)
            st->errors = v;
        else if (strcmp(bar + 1, "seconds") == 0)
            st->seconds = v;
        else if (b >= 0 && b <= RT_QUEUE_LATENCY_BUCKETS)
            st->buckets[b] = v;
    }
    ((rt_queue_connectors_fn)o->done)(RT_OK, "", out, n, o->ud);
    free(out);
}

int rt_queue_connector_stats_read(rt_queue *q, rt_queue_connectors_fn done, void *ud, char *why) {
    op *o = op_new(q, (void (*)(void))done, ud, connectors_parse, connectors_fail);
    args_str(&o->a, "HGETALL");
    args_str(&o->a, q->connectors_key);
    return op_start(o, why);
}

/* ---- preparing a connection: policy check, library, groups ---------------------------------- */

static void set_error(rt_queue *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(rt_queue *q, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->error, sizeof q->error, fmt, ap);
    va_end(ap);
}

static void on_init_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    rt_queue *q = ud;
    (void)reply;
    if (rc != RT_OK) {
        char why[320];
        snprintf(why, sizeof why, "queue: cannot create the consumer groups: %s", msg);
        rt_redis_connected(r, rc, why);
        return;
    }
    rt_redis_connected(r, RT_OK, NULL);
    (void)q;
}

static void send_init(rt_queue *q, rt_redis *r) {
    char init[48];
    snprintf(init, sizeof init, "inquest_v%d_init", q->version);
    const char *argv[] = {"FCALL",          init,     "3", q->keys[K_INTERACTIVE], q->keys[K_ALERT],
                          q->keys[K_BATCH], q->prefix};
    if (rt_redis_command(r, 7, argv, NULL, on_init_reply, q) != RT_OK)
        rt_redis_connected(r, RT_EBACKEND, rt_redis_error(r));
}

static void on_load_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    rt_queue *q = ud;
    (void)r;
    (void)reply;
    q->reloading = false;
    rc = loaded_rc(rc, msg);
    if (rc != RT_OK && rc != RT_ECANCELED)
        set_error(q, "queue: FUNCTION LOAD failed: %s", msg);
}

/* During the handshake: the load, then the groups. */
static void on_handshake_load_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg,
                                    void *ud) {
    rt_queue *q = ud;
    (void)reply;
    if ((rc = loaded_rc(rc, msg)) != RT_OK) {
        char why[320];
        snprintf(why, sizeof why, "queue: FUNCTION LOAD of the library failed: %s", msg);
        rt_redis_connected(r, rc, why);
        return;
    }
    send_init(q, r);
}

static void on_version_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg,
                             void *ud) {
    rt_queue *q = ud;
    if (rc != RT_OK && !(rc == RT_EBACKEND && reply && strstr(msg, "Function not found"))) {
        char why[320];
        snprintf(why, sizeof why, "queue: cannot read the library's version: %s", msg);
        rt_redis_connected(r, rc, why);
        return;
    }
    if (rc == RT_OK) /* this version's library is there */
        send_init(q, r);
    else if (send_load(q, r, on_handshake_load_reply) != RT_OK)
        rt_redis_connected(r, RT_EBACKEND, rt_redis_error(r));
}

static void on_policy_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg,
                            void *ud) {
    rt_queue *q = ud;
    const char *policy = str_of(elem(reply, 1));
    q->warning[0] = '\0';
    if (rc != RT_OK) {
        snprintf(q->warning, sizeof q->warning,
                 "queue: cannot check maxmemory-policy (%.150s); it must be noeviction", msg);
    } else if (strcmp(policy, "noeviction") != 0) {
        snprintf(q->warning, sizeof q->warning,
                 "queue: Redis runs with maxmemory-policy %.40s: it may evict queued requests "
                 "and results; set it to noeviction",
                 *policy ? policy : "(unknown)");
        if (q->require_noeviction) {
            rt_redis_connected(r, RT_EBACKEND, q->warning);
            return;
        }
    }
    if (q->warning[0])
        fprintf(stderr, "inquest: %s\n", q->warning);
    char version[48];
    snprintf(version, sizeof version, "inquest_v%d_version", q->version);
    const char *argv[] = {"FCALL_RO", version, "0"};
    if (rt_redis_command(r, 3, argv, NULL, on_version_reply, q) != RT_OK)
        rt_redis_connected(r, RT_EBACKEND, rt_redis_error(r));
}

static void on_redis_connect(rt_redis *r, void *ud) {
    rt_queue *q = ud;
    const char *argv[] = {"CONFIG", "GET", "maxmemory-policy"};
    q->reloading = false;
    if (rt_redis_command(r, 3, argv, NULL, on_policy_reply, q) != RT_OK)
        rt_redis_connected(r, RT_EBACKEND, rt_redis_error(r));
}

static void on_redis_state(rt_redis *r, bool up, const char *why, void *ud) {
    rt_queue *q = ud;
    (void)r;
    q->up = up;
    if (up)
        q->error[0] = '\0';
    else
        set_error(q, "%s", why);
    if (q->on_state && !q->closing)
        q->on_state(q, up, up ? q->warning : why, q->ud);
}

/* ---- the watch ------------------------------------------------------------------------------ */

static void watch_read(rt_queue *q);

static void on_watch_timer(uv_timer_t *t) {
    watch_read(t->data);
}

static void watch_retry_later(rt_queue *q) {
    if (!q->closing)
        uv_timer_start(&q->watch_timer, on_watch_timer, WATCH_RETRY_MS, 0);
}

static void on_watch_entries(rt_redis *r, const redisReply *reply, int rc, const char *msg,
                             void *ud) {
    rt_queue *q = ud;
    (void)r;
    (void)msg;
    q->watch_busy = false;
    if (q->closing || rc == RT_ECANCELED)
        return;
    if (rc != RT_OK) {
        /* A lost connection resumes when it is up again (on_watch_state); an error reply is
         * retried after a pause, so that a persistent one does not spin. */
        if (reply)
            watch_retry_later(q);
        return;
    }
    const redisReply *entries = elem(elem(reply, 0), 1);
    for (size_t i = 0; entries && i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        char line[RT_QUEUE_ENDED_LINE];
        const char *at = rt_queue_ended_text(elem(e, 1), line, sizeof line);
        rt_queue_ended ended;
        snprintf(q->watch_last, sizeof q->watch_last, "%s", str_of(elem(e, 0)));
        while (rt_queue_next_ended(&at, &ended)) {
            q->watch_fn(ended.id, ended.analyzer, ended.status, ended.seconds, q->watch_ud);
            if (q->closing)
                return;
        }
    }
    watch_read(q);
}

const char *rt_queue_ended_text(const redisReply *fields, char *buf, size_t size) {
    const char *id = NULL, *analyzer = "", *status = "", *ms = "0";
    for (size_t j = 0; fields && fields->type == REDIS_REPLY_ARRAY && j + 1 < fields->elements;
         j += 2) {
        const char *k = str_of(fields->element[j]), *v = str_of(fields->element[j + 1]);
        if (strcmp(k, RT_QUEUE_ENDED_FIELD) == 0)
            return v;
        if (strcmp(k, "id") == 0)
            id = v;
        else if (strcmp(k, "analyzer") == 0)
            analyzer = v;
        else if (strcmp(k, "status") == 0)
            status = v;
        else if (strcmp(k, "ms") == 0)
            ms = v;
    }
    if (!id)
        return NULL;
    snprintf(buf, size, "%s %s %s %s", id, status, ms, analyzer);
    return buf;
}

/* Copies the 'n' bytes at 'from' into 'out' of 'size' bytes, cut to fit. */
static void copy_word(char *out, size_t size, const char *from, size_t n) {
    n = n < size ? n : size - 1;
    memcpy(out, from, n);
    out[n] = '\0';
}

bool rt_queue_next_ended(const char **at, rt_queue_ended *out) {
    const char *line = *at;
    if (!line || !*line)
        return false;
    size_t len = strcspn(line, "\n");
    *at = line + len + (line[len] == '\n');
    /* id, status and ms end at a space each; the analyzer is the rest of the line */
    const char *word = line, *end = line + len, *words[3];
    size_t sizes[3];
    for (int i = 0; i < 3; i++) {
        const char *space = memchr(word, ' ', (size_t)(end - word));
        words[i] = word;
        sizes[i] = (size_t)((space ? space : end) - word);
        word = space ? space + 1 : end;
    }
    *out = (rt_queue_ended){.seconds = 0};
    copy_word(out->id, sizeof out->id, words[0], sizes[0]);
    if (sizes[0] != RT_QUEUE_ID_SIZE - 1 || !valid_id(out->id))
        out->id[0] = '\0';
    copy_word(out->status, sizeof out->status, words[1], sizes[1]);
    if (sizes[2] > 0) /* whole ms; < 0 when Redis' clock went back */
        out->seconds = fmax(0, (double)strtoll(words[2], NULL, 10) / 1000);
    copy_word(out->analyzer, sizeof out->analyzer, word, (size_t)(end - word));
    return true;
}

static void on_watch_start(rt_redis *r, const redisReply *reply, int rc, const char *msg,
                           void *ud) {
    rt_queue *q = ud;
    (void)r;
    (void)msg;
    q->watch_busy = false;
    if (q->closing || rc != RT_OK) {
        if (!q->closing && reply)
            watch_retry_later(q);
        return;
    }
    /* The newest entry now, or 0-0 for an empty stream: the watch reports what comes after. */
    const char *last = str_of(elem(elem(reply, 0), 0));
    rt_copy(q->watch_last, sizeof q->watch_last, *last ? last : "0-0");
    watch_read(q);
}

static void watch_read(rt_queue *q) {
    int rc;
    if (q->closing || q->watch_busy || !q->watch_redis || !rt_redis_is_up(q->watch_redis))
        return;
    if (!q->watch_last[0]) {
        const char *argv[] = {"XREVRANGE", q->keys[K_RESULTS], "+", "-", "COUNT", "1"};
        rc = rt_redis_command(q->watch_redis, 6, argv, NULL, on_watch_start, q);
    } else {
        char block[16];
        snprintf(block, sizeof block, "%d", WATCH_BLOCK_MS);
        const char *argv[] = {"XREAD", "COUNT",   WATCH_BATCH,        "BLOCK",
                              block,   "STREAMS", q->keys[K_RESULTS], q->watch_last};
        rc = rt_redis_command_timeout(q->watch_redis, WATCH_BLOCK_MS / 1000.0 + 5.0, 8, argv, NULL,
                                      on_watch_entries, q);
    }
    q->watch_busy = rc == RT_OK;
}

static void on_watch_state(rt_redis *r, bool up, const char *why, void *ud) {
    (void)r;
    (void)why;
    if (up)
        watch_read(ud);
}

int rt_queue_watch(rt_queue *q, rt_queue_watch_fn fn, void *ud) {
    char why[256];
    if (q->watch_redis || q->closing)
        return RT_EUSAGE;
    rt_redis_options o = q->redis_options;
    char name[96];
    snprintf(name, sizeof name, "%s-watch", q->name);
    o.name = name;
    o.on_state = on_watch_state;
    o.on_connect = NULL;
    o.ud = q;
    q->watch_fn = fn;
    q->watch_ud = ud;
    q->watch_redis = rt_redis_new(q->loop, &o, why);
    return q->watch_redis ? RT_OK : RT_EINTERNAL;
}

bool rt_queue_watching(const rt_queue *q) {
    return q->watch_redis && q->watch_last[0] && rt_redis_is_up(q->watch_redis);
}

int rt_queue_get_after_next_end(rt_queue *q, const char *id, rt_queue_get_fn done, void *ud,
                                char *why) {
    if (!valid_id(id))
        return fail_at_once(q, RT_EINPUT, why, "queue: '%.64s' is not an analysis id",
                            id ? id : "");
    /* Behind a read that is out, Redis runs it when that read returns, not at once. */
    if (!q->watch_busy || !q->watch_last[0])
        return fail_at_once(q, RT_EUSAGE, why, "queue: the watch is not reading");
    op *o = get_call(q, id, done, ud);
    o->r = q->watch_redis;
    o->timeout = WATCH_BLOCK_MS / 1000.0 + 5.0; /* as the read it waits behind */
    return op_start(o, why);
}

/* ---- following cancellations ------------------------------------------------------------------
 */

#define CANCEL_BLOCK    1.0 /* seconds one BLPOP waits; then another */
#define CANCEL_RETRY_MS 100 /* after an error reply */

static void follow_cancels(rt_queue *q);

static void on_cancel_timer(uv_timer_t *t) {
    follow_cancels(t->data);
}

static void on_cancel_popped(rt_redis *r, const redisReply *reply, int rc, const char *msg,
                             void *ud) {
    rt_queue *q = ud;
    (void)r, (void)msg;
    q->cancel_busy = false;
    if (rc == RT_ECANCELED || q->closing)
        return;
    const redisReply *id = elem(reply, 1); /* [key, id], or nil after the timeout */
    if (rc == RT_OK && id && id->type == REDIS_REPLY_STRING)
        q->cancel_fn(id->str, q->cancel_ud);
    if (q->closing)
        return;
    if (rc == RT_OK)
        follow_cancels(q);
    else /* an error reply (-LOADING while Redis restarts) or a dropped connection, which
          * on_cancel_state also resumes from once it is up again */
        uv_timer_start(&q->cancel_timer, on_cancel_timer, CANCEL_RETRY_MS, 0);
}

static void follow_cancels(rt_queue *q) {
    const char *argv[] = {"BLPOP", q->cancel_key, "1"};
    if (q->closing || q->cancel_busy || !rt_redis_is_up(q->cancel_redis))
        return;
    q->cancel_busy = rt_redis_command_timeout(q->cancel_redis, CANCEL_BLOCK + 5.0, 3, argv, NULL,
                                              on_cancel_popped, q) == RT_OK;
}

static void on_cancel_state(rt_redis *r, bool up, const char *why, void *ud) {
    (void)r, (void)why;
    if (up)
        follow_cancels(ud);
}

int rt_queue_follow_cancels(rt_queue *q, const char *consumer, void (*fn)(const char *id, void *ud),
                            void *ud) {
    char why[256], name[96];
    if (q->cancel_redis || q->closing)
        return RT_EUSAGE;
    rt_redis_options o = q->redis_options;
    snprintf(name, sizeof name, "%s-cancels", q->name);
    o.name = name;
    o.on_state = on_cancel_state;
    o.on_connect = NULL;
    o.ud = q;
    snprintf(q->cancel_key, sizeof q->cancel_key, "%scancel:%s", q->prefix, consumer);
    q->cancel_fn = fn;
    q->cancel_ud = ud;
    q->cancel_redis = rt_redis_new(q->loop, &o, why);
    return q->cancel_redis ? RT_OK : RT_EINTERNAL;
}

/* ---- waiting for work ------------------------------------------------------------------------ */

#define WAKE_RETRY_MS 100 /* after a failed BLMPOP, so that a broken connection does not spin */

/* Calls the waiter once, and forgets it. */
static void woken(rt_queue *q, int requests, const rt_queue_claimed *items, size_t n) {
    rt_queue_woken_fn fn = q->wake_fn;
    q->wake_fn = NULL;
    uv_timer_stop(&q->wake_timer);
    if (fn && !q->closing)
        fn(q->wake_ud, requests, items, n);
}

static void on_wake_timer(uv_timer_t *t) {
    woken(t->data, 0, NULL, 0);
}

/* What submissions claimed for us: the inbox elements in 'list'. Handed requests that cannot be
 * read (a library of another version) are not started: their leases expire and other workers
 * run them. */
static void handed(rt_queue *q, const redisReply *list) {
    claimed_set cs = {0};
    bool ok = claimed_add_handed(&cs, (const redisReply *const *)list->element, list->elements);
    woken(q, 0, ok ? cs.items : NULL, ok ? cs.n : 0);
    claimed_set_free(&cs);
}

/* BLMPOP's reply: nil at the timeout, else [key, [element, ...]]: from the inbox, what
 * submissions claimed for us; from the wake list, tokens. */
static void on_wake_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    rt_queue *q = ud;
    (void)r, (void)msg;
    if (rc == RT_ECANCELED || q->closing)
        return;
    if (rc != RT_OK) {
        uv_timer_start(&q->wake_timer, on_wake_timer, WAKE_RETRY_MS, 0);
        return;
    }
    const redisReply *list = elem(reply, 1);
    if (!list || list->type != REDIS_REPLY_ARRAY)
        woken(q, 0, NULL, 0);
    else if (strcmp(str_of(elem(reply, 0)), q->inbox_key) == 0)
        handed(q, list);
    else
        woken(q, (int)list->elements, NULL, 0);
}

int rt_queue_wait_for_work(rt_queue *q, const char *consumer, double timeout, rt_queue_woken_fn fn,
                           void *ud) {
    char why[256], seconds[32];
    if (q->wake_fn || q->closing)
        return RT_EUSAGE;
    if (!q->wake_redis) {
        rt_redis_options o = q->redis_options;
        char name[96];
        snprintf(name, sizeof name, "%s-wake", q->name);
        o.name = name;
        o.on_state = NULL;
        o.on_connect = NULL;
        q->wake_redis = rt_redis_new(q->loop, &o, why);
        snprintf(q->wake_key, sizeof q->wake_key, "%swake", q->prefix);
    }
    snprintf(q->inbox_key, sizeof q->inbox_key, "%sinbox:%s", q->prefix, consumer);
    q->wake_fn = fn;
    q->wake_ud = ud;
    snprintf(seconds, sizeof seconds, "%.3f", timeout);
    /* The inbox first. Two elements at most: two submissions' hand-offs, or enough tokens to tell
     * one request, for which one claim is enough, from more. */
    const char *argv[] = {"BLMPOP", seconds, "2", q->inbox_key, q->wake_key, "LEFT", "COUNT", "2"};
    /* Not connected yet (the first wait) or any more: the caller claims again soon. */
    if (!q->wake_redis || rt_redis_command_timeout(q->wake_redis, timeout + 5.0, 8, argv, NULL,
                                                   on_wake_reply, q) != RT_OK)
        uv_timer_start(&q->wake_timer, on_wake_timer, (uint64_t)fmin(timeout * 1000, WAKE_RETRY_MS),
                       0);
    return RT_OK;
}

/* ---- life ----------------------------------------------------------------------------------- */

static void seed(rt_queue *q) {
    if (uv_random(NULL, NULL, &q->rng, sizeof q->rng, 0, NULL) != 0)
        q->rng = uv_hrtime() ^ ((uint64_t)getpid() << 40) ^ (uintptr_t)q;
}

void rt_queue_new_id(rt_queue *q, char id[RT_QUEUE_ID_SIZE]) {
    /* splitmix64: a bijection of a counter, so ids of one process never repeat, and a random
     * start, so that processes do not collide (64 bits). */
    uint64_t z = (q->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    static const char hex[] = "0123456789abcdef"; /* not snprintf: an id per submission */
    for (int i = 15; i >= 0; i--, z >>= 4)
        id[i] = hex[z & 15];
    id[16] = '\0';
}

void rt_queue_consumer_name(char *out, size_t size) {
    char host[64] = "host";
    uint32_t r = 0;
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    if (uv_random(NULL, NULL, &r, sizeof r, 0, NULL) != 0)
        r = (uint32_t)uv_hrtime();
    snprintf(out, size, "%s:%d:%08x", host, (int)getpid(), r);
}

static int check_options(const rt_queue_options *o, const char *prefix, char *why) {
    size_t n = strlen(prefix);
    if (n == 0 || n > 64 ||
        strspn(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n) {
        snprintf(why, 256, "queue: prefix '%.64s' must be 1 to 64 letters, digits, '.', '_', '-'",
                 prefix);
        return -1;
    }
    if (o->ttl < 0 || o->recent < 0 || o->max_deliveries < 0 || o->default_cap < 0) {
        snprintf(why, 256, "queue: ttl, recent, max_deliveries and caps must not be negative");
        return -1;
    }
    for (size_t i = 0; i < o->n_caps; i++)
        if (!o->caps[i].team || o->caps[i].cap < 0) {
            snprintf(why, 256, "queue: cap %zu needs a team and a cap of 0 or more", i + 1);
            return -1;
        }
    return 0;
}

static void copy_options(rt_queue *q, const rt_queue_options *o) {
    static const char *const suffix[9] = {"q:interactive", "q:alert", "q:batch",
                                          "leases",        "running", "stats",
                                          "results",       "dead",    "held"};
    double ttl = o->ttl > 0 ? o->ttl : DEFAULT_TTL;
    double recent = o->recent > 0 ? o->recent : DEFAULT_RECENT;
    snprintf(q->prefix, sizeof q->prefix, "{%s}:", o->prefix ? o->prefix : "inquest");
    for (int i = 0; i < 9; i++) {
        q->keys[i] = rt_xmalloc(strlen(q->prefix) + strlen(suffix[i]) + 1);
        sprintf(q->keys[i], "%s%s", q->prefix, suffix[i]);
    }
    snprintf(q->listing_key, sizeof q->listing_key, "%slisting", q->prefix);
    snprintf(q->connectors_key, sizeof q->connectors_key, "%sconnectors", q->prefix);
    q->ttl_ms = (uint64_t)(ttl * 1000.0);
    q->recording_ttl_ms = (uint64_t)((o->recording_ttl > 0 ? o->recording_ttl : ttl) * 1000.0);
    q->recent_ms = (uint64_t)((recent < ttl ? recent : ttl) * 1000.0);
    q->max_deliveries = o->max_deliveries ? o->max_deliveries : DEFAULT_MAX_DELIVERIES;
    q->results_maxlen = o->results_maxlen ? o->results_maxlen : DEFAULT_RESULTS_MAXLEN;
    q->dead_maxlen = o->dead_maxlen ? o->dead_maxlen : DEFAULT_DEAD_MAXLEN;
    q->default_cap = o->default_cap;
    q->n_caps = o->n_caps;
    q->caps = rt_xcalloc(o->n_caps ? o->n_caps : 1, sizeof *q->caps);
    for (size_t i = 0; i < o->n_caps; i++) {
        q->caps[i].team = rt_xstrdup(o->caps[i].team);
        q->caps[i].cap = o->caps[i].cap;
    }
    q->require_noeviction = o->require_noeviction;
    q->on_state = o->on_state;
    q->ud = o->ud;
}

/* Keeps copies of the connection options, for the watch's own connection. */
static void copy_redis_options(rt_queue *q, const rt_redis_options *r) {
    q->redis_options = *r;
    q->url = rt_xstrdup(r->url ? r->url : "");
    q->name = rt_xstrdup(r->name ? r->name : "redis");
    q->username = r->username ? rt_xstrdup(r->username) : NULL;
    if (r->password) {
        q->password = rt_xmalloc(r->password_len + 1);
        memcpy(q->password, r->password, r->password_len);
        q->password[r->password_len] = '\0';
        q->password_len = r->password_len;
    }
    q->redis_options.url = q->url;
    q->redis_options.name = q->name;
    q->redis_options.username = q->username;
    q->redis_options.password = q->password;
    q->redis_options.on_state = on_redis_state;
    q->redis_options.on_connect = on_redis_connect;
    q->redis_options.ud = q;
}

static void queue_release(rt_queue *q) {
    for (int i = 0; i < 9; i++)
        free(q->keys[i]);
    for (size_t i = 0; i < q->n_caps; i++)
        free((char *)q->caps[i].team);
    free(q->caps);
    free(q->url);
    free(q->library);
    free(q->name);
    free(q->username);
    if (q->password) {
        volatile char *p = q->password;
        for (size_t i = 0; i < q->password_len; i++)
            p[i] = 0;
        free(q->password);
    }
    free(q);
}

rt_queue *rt_queue_new(uv_loop_t *loop, const rt_redis_options *redis, const rt_queue_options *o,
                       char *why) {
    static const rt_queue_options defaults = {0};
    if (!o)
        o = &defaults;
    if (check_options(o, o->prefix ? o->prefix : "inquest", why) < 0)
        return NULL;
    rt_queue *q = rt_xcalloc(1, sizeof *q);
    q->loop = loop;
    char name[RT_FNLIB_NAME_SIZE];
    q->library =
        rt_fnlib_versioned(rt_queue_lua, rt_queue_lua_len, &q->library_len, name, &q->version);
    seed(q);
    copy_options(q, o);
    copy_redis_options(q, redis);
    snprintf(q->error, sizeof q->error, "queue: connecting");
    q->redis = rt_redis_new(loop, &q->redis_options, why);
    if (!q->redis) {
        queue_release(q);
        return NULL;
    }
    uv_timer_init(loop, &q->watch_timer);
    q->watch_timer.data = q;
    uv_timer_init(loop, &q->wake_timer);
    q->wake_timer.data = q;
    uv_timer_init(loop, &q->cancel_timer);
    q->cancel_timer.data = q;
    q->open_timers = 3;
    return q;
}

static void on_queue_closed(uv_handle_t *h) {
    rt_queue *q = h->data;
    if (--q->open_timers == 0)
        queue_release(q);
}

void rt_queue_free(rt_queue *q) {
    if (!q || q->closing)
        return;
    q->closing = true;
    rt_redis_close(q->watch_redis);
    rt_redis_close(q->wake_redis);
    rt_redis_close(q->cancel_redis);
    rt_redis_close(q->redis);
    uv_close((uv_handle_t *)&q->watch_timer, on_queue_closed);
    uv_close((uv_handle_t *)&q->wake_timer, on_queue_closed);
    uv_close((uv_handle_t *)&q->cancel_timer, on_queue_closed);
}

bool rt_queue_is_up(const rt_queue *q) {
    return q->up;
}

const char *rt_queue_error(const rt_queue *q) {
    const char *now = rt_redis_error(q->redis);
    return q->up ? "" : *now ? now : q->error;
}

rt_redis *rt_queue_redis(rt_queue *q) {
    return q->redis;
}

unsigned rt_queue_loads(const rt_queue *q) {
    return q->loads;
}

int rt_queue_version(const rt_queue *q) {
    return q->version;
}

/* ---- recordings of analyses ----------------------------------------------------------------
 * {P}:rec:ID the recording's compact JSON (the config's recordings.ttl), kept by the round that
 * stores an accepted result (rt_queue_completion.recording). A submitter's ask for it travels
 * with the request (rt_queue_request.record, rt_queue_claimed.record).
 * The counts go to {P}:stats as recordings:kept and recordings:too_big, which inquest_stats
 * returns with the rest. */

bool rt_queue_recording_chosen(const char *id, double share) {
    if (!(share > 0) || !id)
        return false;
    if (share >= 1)
        return true;
    /* FNV-1a, then the 64-bit finaliser of MurmurHash3: ids are random hex already, but an id
     * may come from elsewhere (ctx:call's "ID.1"), and every bit should count. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (double)(h >> 11) / 9007199254740992.0 < share; /* 53 bits: [0, 1) */
}

static void counted(op *o, const redisReply *reply) {
    (void)o, (void)reply;
}

static void count_failed(op *o, int rc, const char *msg) {
    (void)o, (void)rc, (void)msg; /* a counter lost with Redis is not worth a retry */
}

int rt_queue_recording_too_big(rt_queue *q, char *why) {
    op *o = op_new(q, NULL, NULL, counted, count_failed);
    args_str(&o->a, "HINCRBY");
    args_str(&o->a, q->keys[K_STATS]);
    args_str(&o->a, "recordings:too_big");
    args_str(&o->a, "1");
    return op_start(o, why);
}

static void recording_fail(op *o, int rc, const char *msg) {
    ((rt_queue_recording_fn)o->done)(rc, msg, NULL, 0, o->ud);
}

static void recording_parse(op *o, const redisReply *reply) {
    if (!reply || reply->type == REDIS_REPLY_NIL)
        o->fail(o, RT_ENOTFOUND, "queue: no recording kept for this analysis");
    else if (reply->type != REDIS_REPLY_STRING)
        bad_reply(o, "GET of a recording");
    else
        ((rt_queue_recording_fn)o->done)(RT_OK, "", reply->str, reply->len, o->ud);
}

int rt_queue_get_recording(rt_queue *q, const char *id, rt_queue_recording_fn done, void *ud,
                           char *why) {
    if (!valid_id(id))
        return fail_at_once(q, RT_EINPUT, why, "queue: '%.64s' is not an analysis id",
                            id ? id : "");
    op *o = op_new(q, (void (*)(void))done, ud, recording_parse, recording_fail);
    args_str(&o->a, "GET");
    args_key(&o->a, q, "rec:", id);
    return op_start(o, why);
}

/* ---- the parsers' seam for tests (rt_queue_internal.h) --------------------------------------- */

/* The op of each reply; a get's is a get_op (get_op_new), and the watch's reads are none. */
static const struct {
    op_parse_fn parse;
    op_fail_fn fail;
} parsers[RT__N_REPLIES] = {
    [RT__REPLY_SUBMIT] = {submit_parse, submit_fail},
    [RT__REPLY_INTAKE] = {intake_parse, intake_fail},
    [RT__REPLY_CLAIM] = {claim_parse, claim_fail},
    [RT__REPLY_COMPLETE] = {complete_parse, complete_fail},
    [RT__REPLY_EXTEND] = {extend_parse, extend_fail},
    [RT__REPLY_CANCEL] = {cancel_parse, cancel_fail},
    [RT__REPLY_LIST] = {list_parse, list_fail},
    [RT__REPLY_DEAD] = {dead_parse, dead_fail},
    [RT__REPLY_RESOLVE] = {resolve_parse, resolve_fail},
    [RT__REPLY_STATS] = {stats_parse, stats_fail},
    [RT__REPLY_COUNT] = {counted_parse, counted_fail},
    [RT__REPLY_CONNECTORS] = {connectors_parse, connectors_fail},
    [RT__REPLY_RECORDING] = {recording_parse, recording_fail},
};

void rt__queue_parse(rt__queue_reply which, size_t n, size_t m, const redisReply *reply,
                     void (*done)(void), void *ud) {
    /* A queue that never connects: the parsers read no more of it than the watch's callback. */
    rt_queue *q = rt_xcalloc(1, sizeof *q);
    /* What rt_redis.c hands over for an error reply. */
    int rc = reply && reply->type == REDIS_REPLY_ERROR ? RT_EBACKEND : RT_OK;
    char msg[512] = "";
    if (rc != RT_OK)
        snprintf(msg, sizeof msg, "%.*s", (int)reply->len, reply->str);
    if (which == RT__REPLY_WATCH_START || which == RT__REPLY_WATCH) {
        q->watch_fn = (rt_queue_watch_fn)done;
        q->watch_ud = ud;
        /* After an error reply the watch only arms its retry timer, which needs a loop. */
        if (rc == RT_OK)
            (which == RT__REPLY_WATCH ? on_watch_entries : on_watch_start)(NULL, reply, rc, msg, q);
    } else if ((unsigned)which < RT__N_REPLIES) {
        op *o = which == RT__REPLY_GET
                    ? get_op_new(q, done, ud, "")
                    : op_new(q, done, ud, parsers[which].parse, parsers[which].fail);
        o->n = n;
        o->m = m;
        o->retried = true; /* "Function not found" is not sent again: there is no connection */
        on_op_reply(NULL, reply, rc, msg, o); /* parses, or fails, and frees the op */
    }
    free(q);
}
