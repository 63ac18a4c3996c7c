/* runtime/rt_queue.h -- the analysis queue of DESIGN §6 on Redis 7 streams: submit, claim, extend,
 * complete, cancel, get, list, dead letters, stats and a watch on finished analyses. Every state
 * change is one call of a function of the library in rt_queue.lua; docs/queue.md describes the
 * keys, the functions and the lease protocol. The connection underneath is rt_redis.h.
 *
 * Calling convention. Every operation is asynchronous: it returns RT_OK and later calls its
 * callback exactly once, from the loop, with an rt code, a message ("" on success) and a typed
 * result valid only during the callback; or it returns an error code at once (RT_EINPUT for bad
 * arguments, RT_EBACKEND when Redis is not connected, RT_ELIMIT when too many commands are in
 * flight), with the reason in 'why' (at least 256 bytes; may be NULL), and never calls the
 * callback. Error codes in callbacks: RT_EBACKEND (Redis answered with an error, or the
 * connection was lost), RT_ETIMEDOUT, RT_ETOOBIG, RT_ENOTFOUND (get, cancel), RT_ECANCELED (the
 * queue was freed). */
#ifndef INQUEST_RT_QUEUE_H
#define INQUEST_RT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "rt.h"
#include "rt_redis.h"

#define RT_QUEUE_ID_SIZE   17   /* 16 hex digits and a NUL */
#define RT_QUEUE_MAX_BATCH 1000 /* requests, claims or completions in one call */

/* The names of rt_priority's values, in order, then NULL. */
extern const char *const rt_priority_names[4];

/* "interactive", "alert", "batch". */
const char *rt_priority_name(rt_priority priority);
/* The priority named 'name' into '*priority'. Returns 0, or -1 when no priority has that name. */
int rt_priority_parse(const char *name, rt_priority *priority);

/* The stable URL of analysis 'id' (DESIGN §6) under 'base_url' (server.external_url, which may
 * have a path: "https://ops.example.com/inquest"): BASE/v1/analyses/ID, malloc'd. Slashes at the
 * end of 'base_url' are left out, so there is never a double slash. The API's answers (url,
 * Location), the intake's and the post-processor's links all come from here, so they agree. */
char *rt_analysis_url(const char *base_url, const char *id);

typedef struct rt_queue rt_queue;

typedef struct rt_queue_team_cap {
    const char *team; /* an analyzer owner */
    int cap;          /* analyses of that team running at once; 0: no cap */
} rt_queue_team_cap;

typedef struct rt_queue_options {
    const char *prefix;    /* keys are "{prefix}:..."; NULL: "inquest". Letters, digits, ._- */
    double ttl;            /* seconds status and results live after their last change; 0: 7 d */
    double recent;         /* seconds analyses stay in the listing; 0: 1 d (capped at 'ttl') */
    int max_deliveries;    /* deliveries before a request is dead-lettered; 0: 3 */
    size_t results_maxlen; /* results stream length to trim to (never past a group); 0: 100000 */
    size_t dead_maxlen;    /* dead-letter stream length, trimmed approximately; 0: 10000 */
    int default_cap;       /* analyses of one team running at once; 0: no cap */
    const rt_queue_team_cap *caps; /* per-team caps over default_cap, 'n_caps' of them; copied */
    size_t n_caps;
    double recording_ttl;    /* seconds a recording that came with a result is kept; 0: 'ttl' */
    bool require_noeviction; /* refuse to come up unless maxmemory-policy is noeviction (the
                                default only warns, through on_state's 'why' and on stderr) */
    /* Called when the queue becomes usable (connected, library loaded, groups made) and when
     * it stops being; 'why' says why it went down, or carries a warning when it comes up. */
    void (*on_state)(rt_queue *q, bool up, const char *why, void *ud);
    void *ud;
} rt_queue_options;

/* Creates a queue on 'loop' over a connection made from 'redis' (its on_state, on_connect and
 * ud are the queue's own and are ignored) with 'options' (copied). It connects at once, loads
 * the function library when the loaded version differs, checks maxmemory-policy, and calls
 * on_state when it is up. Returns NULL with the reason in 'why' (at least 256 bytes) when an
 * option is invalid. Aborts when out of memory. */
rt_queue *rt_queue_new(uv_loop_t *loop, const rt_redis_options *redis,
                       const rt_queue_options *options, char *why);
/* Closes the queue's connections (the watch's too): every pending callback is called with
 * RT_ECANCELED, and the memory goes once the handles are closed, so the caller runs the loop
 * afterwards until it is idle. Accepts NULL. */
void rt_queue_free(rt_queue *q);
/* True while the queue is usable (for /readyz); rt_queue_error says why not. */
bool rt_queue_is_up(const rt_queue *q);
const char *rt_queue_error(const rt_queue *q);
/* The queue's main connection, for tests and for commands of the caller's own. */
rt_redis *rt_queue_redis(rt_queue *q);
/* Times the function library was loaded by this queue (tests). */
unsigned rt_queue_loads(const rt_queue *q);
/* The function library's VERSION: its functions are named inquest_vVERSION_NAME (tests). */
int rt_queue_version(const rt_queue *q);

/* A fresh analysis id: 16 lowercase hex digits, unique across processes (64 random bits). */
void rt_queue_new_id(rt_queue *q, char id[RT_QUEUE_ID_SIZE]);
/* True when 'id' is what the queue takes as an analysis id (1 to 64 of hex digits, '-' and '_'):
 * for keys built from an id, where another text could name another key. */
bool rt_queue_valid_id(const char *id);
/* A consumer name for a worker process, "host:pid:random" into 'out' of 'size' bytes: unique
 * per process, which the lease protocol needs. */
void rt_queue_consumer_name(char *out, size_t size);

/* ---- submit ---------------------------------------------------------------------------------- */

typedef struct rt_queue_request {
    const char *analyzer; /* the analyzer's name */
    const char *inputs;   /* canonical JSON text (rt_json_canonical) */
    rt_priority priority;
    const char *dedup_key;    /* NULL: sha256 of analyzer and 'dedup_inputs' */
    const char *dedup_inputs; /* canonical JSON of the inputs the analysis gets (wk_validate's
                                 'effective'), the same whatever form they were given in or when
                                 left to their defaults; NULL: 'inputs' */
    double dedup_window;      /* seconds; 0: no dedup. At most the queue's ttl. */
    double deadline;          /* Unix seconds by which it must start; 0: none */
    const char *team;         /* the analyzer's owner, for team caps; NULL: "" */
    const char *labels;       /* JSON object text; NULL: "{}" */
    double alert_started;     /* rt_queue_submit_alerts: when the alert started (Unix seconds);
                                 0: not known */
    bool record;              /* keep its recording whatever the share (rt_queue_claimed.record) */
} rt_queue_request;

typedef struct rt_queue_submitted {
    char id[RT_QUEUE_ID_SIZE];
    bool deduplicated; /* 'id' is an earlier request's, within its dedup window */
    bool late;         /* rt_queue_submit_alerts: nothing started ('id' ""): the alert resolved
                          within the window, and this firing started no later than that one */
} rt_queue_submitted;

typedef void (*rt_queue_submit_fn)(int rc, const char *msg, const rt_queue_submitted *out, size_t n,
                                   void *ud);

/* Queues the 'n' requests 'reqs' (at most RT_QUEUE_MAX_BATCH) in one atomic call; 'done' gets
 * one rt_queue_submitted per request, in order. */
int rt_queue_submit(rt_queue *q, const rt_queue_request *reqs, size_t n, rt_queue_submit_fn done,
                    void *ud, char *why);

/* ---- alerts (the intake) --------------------------------------------------------------------- */

/* As rt_queue_submit, for the alert intake: each request's 'dedup_key' names its route and alert
 * and must be set. In the same atomic call, each analysis started is recorded under its alert
 * for the queue's ttl, so that rt_queue_resolve finds it after the dedup window; and a request
 * whose alert was resolved within the window starts nothing when its 'alert_started' is not
 * later than the resolved alert's (a late or retried firing of the episode that ended): its
 * rt_queue_submitted has 'late' set. When either start is not known, it starts. */
int rt_queue_submit_alerts(rt_queue *q, const rt_queue_request *reqs, size_t n,
                           rt_queue_submit_fn done, void *ud, char *why);

/* A start the intake could not make: the inputs its route built for an alert do not fit the
 * analyzer. It is kept in the dead-letter stream (rt_queue_dead_letters) rather than lost. */
typedef struct rt_queue_misfit {
    const char *dedup_key; /* the start's, as it would have been submitted with */
    double window;         /* seconds the misfit is recorded once (the route's dedup window);
                              0: every time. At most the queue's ttl. */
    const char *analyzer, *team;
    rt_priority priority;
    const char *inputs;      /* JSON text: the inputs as the route built them */
    const char *reason;      /* one line for people */
    const char *route;       /* the route's name */
    const char *source;      /* the alert's source ("alertmanager") */
    const char *fingerprint; /* the alert's */
    const char *alert;       /* JSON text: the alert (labels, annotations, ...), for a replay */
    const char *errors;      /* JSON text: [{"field", "message"}, ...] */
} rt_queue_misfit;

/* Where a misfit was recorded: the dead-letter entry, and whether it was recorded by an earlier
 * call within its window ('repeat'; 'entry' is that call's, which may since have been trimmed). */
typedef struct rt_queue_buried {
    char entry[48];
    bool repeat;
} rt_queue_buried;

typedef void (*rt_queue_intake_fn)(int rc, const char *msg, const rt_queue_submitted *out, size_t n,
                                   const rt_queue_buried *buried, size_t m, void *ud);

/* rt_queue_submit_alerts of the 'n' requests 'reqs' (may be 0) and, in the same atomic call, the
 * 'm' misfits 'misfits' (may be 0; at most RT_QUEUE_MAX_BATCH each, not both 0) added to the
 * dead-letter stream, each once per its window. 'done' gets the starts' outcomes, then where
 * each misfit went, in order. */
int rt_queue_submit_intake(rt_queue *q, const rt_queue_request *reqs, size_t n,
                           const rt_queue_misfit *misfits, size_t m, rt_queue_intake_fn done,
                           void *ud, char *why);

/* One alert that resolved. */
typedef struct rt_queue_resolution {
    const char *dedup_key; /* as its starts were submitted with */
    double started;        /* when it started (Unix seconds); 0: not known */
    double window;         /* seconds its firing stays late: the route's dedup window */
} rt_queue_resolution;

/* The analyses one resolved alert stamped ('n_ids' of them; none when it had none left). */
typedef struct rt_queue_resolved {
    const char *const *ids;
    size_t n_ids;
} rt_queue_resolved;

typedef void (*rt_queue_resolve_fn)(int rc, const char *msg, const rt_queue_resolved *out, size_t n,
                                    void *ud);

/* Resolves the 'n' alerts 'alerts' (at most RT_QUEUE_MAX_BATCH) in one atomic call: every
 * analysis each started that still exists gets its 'resolved_at' (within the queue's ttl, after
 * the dedup window too), and the dedup key keeps a tombstone for 'window' so that only a firing
 * that started later starts a new analysis (rt_queue_submit_alerts). */
int rt_queue_resolve(rt_queue *q, const rt_queue_resolution *alerts, size_t n,
                     rt_queue_resolve_fn done, void *ud, char *why);

/* ---- claim, extend, complete (workers) ------------------------------------------------------- */

typedef struct rt_queue_claimed {
    const char *id;
    const char *entry; /* the stream entry id */
    const char *analyzer;
    const char *inputs; /* canonical JSON text, 'inputs_len' bytes */
    size_t inputs_len;
    const char *team;
    double deadline; /* Unix seconds; 0: none */
    int deliveries;  /* 1 on the first delivery */
    rt_priority priority;
    bool record;        /* its submitter asked for its recording (rt_queue_request.record) */
    double dequeued_at; /* Unix seconds by Redis' clock when the claim took it */
} rt_queue_claimed;

typedef enum rt_queue_lease {
    RT_LEASE_HELD = 0,  /* renewed */
    RT_LEASE_CANCELLED, /* renewed, and cancellation was asked: abort it and complete it */
    RT_LEASE_LOST,      /* another worker has it, or it ended: drop it, do not complete it */
} rt_queue_lease;

typedef void (*rt_queue_extend_fn)(int rc, const char *msg, const rt_queue_lease *leases, size_t n,
                                   void *ud);

/* Renews the leases of 'consumer' on the 'n' analyses 'ids' for 'lease' seconds from now (the
 * heartbeat); 'done' gets one rt_queue_lease per id, in order. */
int rt_queue_extend(rt_queue *q, const char *consumer, const char *const *ids, size_t n,
                    double lease, rt_queue_extend_fn done, void *ud, char *why);

typedef struct rt_queue_completion {
    const char *id;
    const char *status; /* ok, error, timeout, cpu_exceeded, memory_exceeded or cancelled */
    const char *result; /* the result's JSON text, 'result_len' bytes */
    size_t result_len;
    const char *recording; /* its recording to keep (rt_recording_dumps), 'recording_len' bytes,
                              kept only when the result is accepted; NULL: none */
    size_t recording_len;
} rt_queue_completion;

typedef enum rt_queue_verdict {
    RT_COMPLETE_ACCEPTED = 0,
    RT_COMPLETE_LEASE_LOST, /* refused: another worker holds it now (counted as a duplicate) */
    RT_COMPLETE_FINISHED,   /* refused: it has a result already (counted as a duplicate) */
    RT_COMPLETE_NOT_FOUND,  /* refused: no such analysis, or it expired (counted) */
} rt_queue_verdict;

typedef void (*rt_queue_claim_fn)(int rc, const char *msg, const rt_queue_verdict *verdicts,
                                  size_t n_verdicts, const rt_queue_claimed *items, size_t n,
                                  void *ud);

/* A worker's round, one atomic call: stores the 'n_results' 'results' of analyses 'consumer'
 * holds (the first result of an analysis wins; each is published on the results stream), then
 * claims up to 'max' requests (0: none; at most RT_QUEUE_MAX_BATCH) with a lease of 'lease'
 * seconds each: first expired leases of other workers (a new delivery; after max_deliveries the
 * request is dead-lettered instead), then, by priority, requests held by their team's cap that
 * now have room and new requests. Cancelled requests and those past their deadline are ended,
 * not returned. 'done' gets a verdict per result, in order, and the claimed requests: first
 * those submissions claimed for 'consumer' while it waited that its wait did not take
 * (rt_queue_wait_for_work). A round with neither results nor claims (a draining worker's
 * last) takes only those, and ends the consumer's wait at once: its wait's callback gets none.
 * 'handoff': when the claim finds at most one request and it is 2 or more, the consumer waits
 * for work (rt_queue_wait_for_work) for this many seconds; submissions meanwhile claim for it
 * (without team caps only) and its wait takes what they claimed, one round trip to Redis sooner
 * than a claim after a wake-up. 0: it does not wait. Any round ends the wait's registration. */
int rt_queue_claim(rt_queue *q, const char *consumer, const rt_queue_completion *results,
                   size_t n_results, size_t max, double lease, double handoff,
                   rt_queue_claim_fn done, void *ud, char *why);

typedef void (*rt_queue_complete_fn)(int rc, const char *msg, const rt_queue_verdict *verdicts,
                                     size_t n, void *ud);

/* rt_queue_claim that claims nothing: stores the results of 'n' (1 or more) analyses 'consumer'
 * holds, and ends its wait's registration, but leaves what was handed to it for its next round. */
int rt_queue_complete(rt_queue *q, const char *consumer, const rt_queue_completion *items, size_t n,
                      rt_queue_complete_fn done, void *ud, char *why);

/* ---- cancel, get, list, dead letters, stats -------------------------------------------------- */

typedef enum rt_queue_cancel_outcome {
    RT_CANCEL_DONE = 0, /* it was queued: cancelled now */
    RT_CANCEL_FLAGGED,  /* it runs: its worker learns at its next extend and ends it */
    RT_CANCEL_FINISHED, /* refused: it has ended; 'status' says how */
} rt_queue_cancel_outcome;

typedef void (*rt_queue_cancel_fn)(int rc, const char *msg, rt_queue_cancel_outcome outcome,
                                   const char *status, void *ud);

/* Cancels analysis 'id'. RT_ENOTFOUND when there is no such analysis. */
int rt_queue_cancel(rt_queue *q, const char *id, rt_queue_cancel_fn done, void *ud, char *why);

/* What is known of one analysis. Strings are "" when not set; times are Unix seconds, 0 when
 * not yet. */
typedef struct rt_queue_analysis {
    const char *id;
    const char *status; /* queued, running, a result's status, or dead */
    const char *analyzer, *team, *priority, *labels;
    const char *message;  /* why it is dead or timed out before running, else "" */
    const char *consumer; /* the worker that holds or held it */
    double submitted_at, started_at, finished_at, deadline;
    int deliveries;
    bool cancelling;    /* cancellation was asked while it ran */
    double resolved_at; /* when the alert that started it resolved (rt_queue_resolve); 0: not */
    const char *result; /* the result's JSON text once finished, else NULL */
    size_t result_len;
} rt_queue_analysis;

typedef void (*rt_queue_get_fn)(int rc, const char *msg, const rt_queue_analysis *a, void *ud);

/* Reads analysis 'id' and its result. RT_ENOTFOUND when there is none (or it expired). */
int rt_queue_get(rt_queue *q, const char *id, rt_queue_get_fn done, void *ud, char *why);

typedef struct rt_queue_filter {
    const char *status;   /* NULL: any */
    const char *analyzer; /* NULL: any */
    const char *cursor;   /* from a previous page; NULL: the newest */
    size_t limit;         /* 1 to 500; 0: 50 */
    const char *label;    /* NULL: any; else the analyses whose label 'label' is 'label_value' */
    const char *label_value;
    double since, until; /* submitted at or after 'since', at or before 'until' (Unix seconds);
                            0: no bound */
} rt_queue_filter;

/* 'next_cursor' is NULL on the last page. */
typedef void (*rt_queue_list_fn)(int rc, const char *msg, const rt_queue_analysis *items, size_t n,
                                 const char *next_cursor, void *ud);

/* Lists recent analyses, newest first (without results). A page examines at most 20 times
 * 'limit' analyses, so a rare filter may give a short page with a next cursor. */
int rt_queue_list(rt_queue *q, const rt_queue_filter *filter, rt_queue_list_fn done, void *ud,
                  char *why);

typedef struct rt_queue_dead {
    const char *entry; /* the dead-letter stream's entry id (a cursor) */
    const char *id, *analyzer, *team, *priority, *inputs, *reason;
    int deliveries;
    double at; /* Unix seconds */
    /* "queue" (delivered max_deliveries times), or "intake" (rt_queue_submit_intake: 'id' is "",
     * and the rest is the misfit's); the misfit's strings are "" for the queue's. */
    const char *origin, *route, *source, *fingerprint, *alert, *errors;
} rt_queue_dead;

typedef void (*rt_queue_dead_fn)(int rc, const char *msg, const rt_queue_dead *items, size_t n,
                                 const char *next_cursor, void *ud);

/* Lists dead-lettered requests, newest first, from 'cursor' (NULL: the newest), at most 'limit'
 * (0: 50; at most 500). */
int rt_queue_dead_letters(rt_queue *q, const char *cursor, size_t limit, rt_queue_dead_fn done,
                          void *ud, char *why);

typedef struct rt_queue_stats {
    long long queued[3]; /* by rt_priority: waiting, not yet delivered */
    long long held;      /* delivered but waiting for room under their team's cap */
    long long running;   /* leases */
    long long dead_letters, results_length;
    long long submitted, deduplicated, reclaims, dead, duplicates;
    long long resolved;     /* analyses stamped resolved by rt_queue_resolve */
    long long dead_intake;  /* misfits dead-lettered by rt_queue_submit_intake */
    long long completed[7]; /* ok, error, timeout, cpu_exceeded, memory_exceeded, cancelled, dead */
    long long recordings_kept, recordings_too_big; /* rt_queue_keep_recording, ..._too_big */
} rt_queue_stats;

/* The names of rt_queue_stats.completed's statuses, in order. */
extern const char *const rt_queue_statuses[7];

typedef void (*rt_queue_stats_fn)(int rc, const char *msg, const rt_queue_stats *stats, void *ud);

/* Reads the numbers /metrics shows. */
int rt_queue_stats_read(rt_queue *q, rt_queue_stats_fn done, void *ud, char *why);

/* ---- connector calls, as workers count them (for /metrics) ----------------------------------- */

#define RT_QUEUE_LATENCY_BUCKETS 12 /* bounds in rt_queue_latency_bounds, then +Inf */

/* Upper bounds, in seconds, of the latency histograms' buckets (connector calls, and the
 * server's submit-to-end durations). */
extern const double rt_queue_latency_bounds[RT_QUEUE_LATENCY_BUCKETS];

/* The calls to one connector: counts, not cumulative per bucket. */
typedef struct rt_queue_connector_stats {
    char connector[64];
    double calls, errors, seconds;
    double buckets[RT_QUEUE_LATENCY_BUCKETS + 1]; /* calls by duration; the last is +Inf */
} rt_queue_connector_stats;

/* Index in 'buckets' of a call that took 'seconds'. */
int rt_queue_latency_bucket(double seconds);

/* Adds the 'n' counts 'stats' (connector names: ^[a-z][a-z0-9_]*$) to the totals kept in Redis,
 * in one call; 'done' (may be NULL) gets its outcome. */
int rt_queue_connector_stats_add(rt_queue *q, const rt_queue_connector_stats *stats, size_t n,
                                 void (*done)(int rc, const char *msg, void *ud), void *ud,
                                 char *why);

typedef void (*rt_queue_connectors_fn)(int rc, const char *msg,
                                       const rt_queue_connector_stats *stats, size_t n, void *ud);

/* Reads the totals of every connector, in no particular order. */
int rt_queue_connector_stats_read(rt_queue *q, rt_queue_connectors_fn done, void *ud, char *why);

/* ---- cancellations of running analyses (workers) -------------------------------------------- */

/* Follows, on a connection of its own, the cancellations of analyses that 'consumer' holds:
 * 'fn'('id', 'ud') is called for each as soon as it is asked for (rt_queue_cancel), also across
 * reconnections, until the queue is freed. The heartbeat (rt_queue_extend) reports them too, as a
 * backstop. One follower per queue. Returns RT_OK, or RT_EUSAGE when one runs already. */
int rt_queue_follow_cancels(rt_queue *q, const char *consumer, void (*fn)(const char *id, void *ud),
                            void *ud);

/* ---- waiting for work (idle workers) --------------------------------------------------------- */

/* Called when a wait ends: the 'n' requests a submission claimed for the consumer ('items', to
 * start as a round's), or else 'requests', how many new requests woke the process, 1, or 2 for
 * two or more; 0 when the timeout passed or Redis could not be asked. */
typedef void (*rt_queue_woken_fn)(void *ud, int requests, const rt_queue_claimed *items, size_t n);

/* Waits on a connection of its own until a submission hands 'consumer' what it claimed for it
 * (its last round registered it: rt_queue_claim's 'handoff') or wakes this process (each new
 * request nobody was handed wakes one waiting process, and a wake-up takes at most two),
 * 'timeout' seconds pass, or Redis cannot be asked; then calls 'fn' once, from the loop. For a
 * worker whose claim found at most one request: it starts what it was handed, or claims again,
 * once for one request and more for more; the timeout bounds how late it sees expired leases of
 * others. Returns RT_OK, or RT_EUSAGE when a wait is out already or the queue is closing. */
int rt_queue_wait_for_work(rt_queue *q, const char *consumer, double timeout, rt_queue_woken_fn fn,
                           void *ud);

/* ---- watch ----------------------------------------------------------------------------------- */

/* An analysis that became final, as its line of a results stream entry tells it. Each entry is
 * one call that made analyses final (a worker's round, a cancel), with one field, "analyses": a
 * line per analysis, "id status ms analyzer" (docs/queue.md). */
typedef struct rt_queue_ended {
    char id[RT_QUEUE_ID_SIZE]; /* "" when the line names no analysis id */
    char status[24];
    char analyzer[128];
    double seconds; /* from its submission to its end; 0 when not known */
} rt_queue_ended;

/* The field of a results stream entry that lists its analyses. */
#define RT_QUEUE_ENDED_FIELD "analyses"
/* Bytes of the line rt_queue_ended_text makes of an entry of an earlier version. */
#define RT_QUEUE_ENDED_LINE 256

/* The lines of the results stream entry whose fields are 'fields' ([field, value, …]): the text
 * of its RT_QUEUE_ENDED_FIELD; for an entry of a version before 21 (one analysis: fields id,
 * analyzer, status, ms), its line, made in 'buf' of 'size' bytes, so that readers upgraded before
 * the workers read what those still write; NULL when it lists none. */
const char *rt_queue_ended_text(const redisReply *fields, char *buf, size_t size);

/* Reads the line at '*at' (in a text rt_queue_ended_text gave) into 'out' and moves '*at' past
 * it; false once no line is left. */
bool rt_queue_next_ended(const char **at, rt_queue_ended *out);

/* Called for each analysis that ended, as the results stream tells it; 'seconds' is the time
 * from its submission to its end (0 when not known). */
typedef void (*rt_queue_watch_fn)(const char *id, const char *analyzer, const char *status,
                                  double seconds, void *ud);

/* Starts following the results stream on a connection of its own (XREAD BLOCK), from its end:
 * 'fn' is called for every analysis that ends afterwards, also across reconnections (it goes on
 * from the last entry seen). One watch per queue; it stops with rt_queue_free. Returns RT_OK or
 * RT_EUSAGE when a watch runs already. */
int rt_queue_watch(rt_queue *q, rt_queue_watch_fn fn, void *ud);
/* True once the watch knows where the results stream ends and follows it: analyses that end
 * from then on are reported. */
bool rt_queue_watching(const rt_queue *q);
/* Reads analysis 'id' as rt_queue_get does, but on the watch's connection, behind the watch's
 * blocking read: Redis runs it when that read returns (the next analysis ends, or the read's
 * block times out), and its answer arrives right behind the entries the read brings (the watch's
 * callback runs first). A long poll learns so of its analysis' end and reads its result in one
 * round trip instead of two. Returns RT_OK, or RT_EUSAGE when the watch has no read out (not
 * started, reconnecting, or between two reads): then ask once the end is reported. */
int rt_queue_get_after_next_end(rt_queue *q, const char *id, rt_queue_get_fn done, void *ud,
                                char *why);

/* ---- recordings of analyses (docs/backtest.md, "Making cases") ----------------------------- *
 * A worker records an analysis' connector exchanges when the config's share picks its id or its
 * submitter asked (rt_queue_request.record), and sends it with the analysis' result
 * (rt_queue_completion.recording): the round keeps it as {P}:rec:ID only when it accepts the
 * result, so a kept recording is always of the run whose result was kept. */

/* True when 'share' (0 to 1) picks analysis 'id': a hash of the id against the share, so every
 * process agrees on the same id, and about that share of ids is picked. */
bool rt_queue_recording_chosen(const char *id, double share);

/* Counts a recording dropped because it was larger than the config allows. */
int rt_queue_recording_too_big(rt_queue *q, char *why);

typedef void (*rt_queue_recording_fn)(int rc, const char *msg, const char *text, size_t len,
                                      void *ud);

/* Reads the recording kept of analysis 'id'. RT_ENOTFOUND when none is kept (never recorded,
 * dropped, expired, or not finished yet). */
int rt_queue_get_recording(rt_queue *q, const char *id, rt_queue_recording_fn done, void *ud,
                           char *why);

#endif
