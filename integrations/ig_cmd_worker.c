/* integrations/ig_cmd_worker.c -- `inquest worker`: a supervisor (workers/wk_supervisor.h) keeps
 * N sandboxed child processes running; each child claims analyses from the queue in Redis and
 * runs up to M at once on its event loop with the same engine as `inquest run`.
 *
 * Design notes (one child). A job is one claimed analysis, from claim to completion:
 *   claimed → running (wk_start) → done (its result waits in the completion batch) → completed
 *   (the queue accepted or refused it) → freed.
 * A heartbeat renews the leases of running jobs every third of the lease; a lease the queue says
 * is lost makes its job "lost": it is cancelled and its result is dropped, as another worker
 * owns the analysis now. Cancellation asked through the API arrives with the heartbeat too.
 * The child talks to the queue in rounds: once a turn of the loop has nothing else to do, one
 * atomic call stores the results waiting and claims requests for the free slots (none while it
 * drains). Up to MAX_ROUNDS are out at once, so that the next requests are on their way while
 * the last ones run. Results the queue could not take (Redis down) go back to the front of the
 * queue's batch and are sent again after a pause: a result is only dropped when its lease is
 * lost. Once the queue is back, the child renews its leases at once and sends those results
 * before it claims again (the queue keeps the leases of workers on their way back after a
 * restart: rt_queue.lua, "restarts"). A round that found nothing to claim makes the child wait for
 * a submission's wake-up. SIGTERM drains: no more claims, and the loop ends once every job is
 * completed.
 *
 * Recordings (docs/backtest.md, "Making cases"). A job is recorded when recordings.share picks
 * its id, or when its submitter asked (the claim says so). Its recording goes with its result
 * in a round, which keeps it only when the result is accepted. */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "ig_cli.h"
#include "wk_jail.h"
#include "wk_supervisor.h"

/* Requests asked for in one claim. The claimed ones start one after the other, so the last of a
 * claim waits for the others: a claim asks for as many as the child starts within a budget, by
 * the time its starts took lately, and at most MAX_CLAIM. Larger claims spread Redis' cost per
 * round over more analyses. While the queue keeps up, the budget is START_BUDGET, which keeps
 * that wait well under a millisecond. Once a claim comes back full, requests are waiting in the
 * queue, longer than any claim makes them wait here: the next claims get BACKLOG_BUDGET, which
 * drains the backlog sooner (under the queue benchmark, 1 ms instead of 0.3 ms made claims of
 * about 17 instead of 5 and throughput 20-25% higher; the dequeue-to-start p99 under that load
 * went from 4-5 to 8-9 ms, most of which is the claim's answer waiting in Redis and for the
 * child; then 2 ms and up to 64 instead of 1 ms and 32 cut Redis' function calls per analysis
 * by a fifth, its CPU per analysis by a tenth, and raised throughput by 14% on average over 6
 * alternating pairs, for a loaded p99 of 10-11 ms). */
#define START_BUDGET   0.0003 /* seconds from a claim to its last analysis' start */
#define BACKLOG_BUDGET 0.002
#define MAX_CLAIM      64
#define MAX_ROUNDS     2   /* rounds out at once */
#define IDLE_WAIT_MAX  1.0 /* seconds an idle child waits for a submission before claiming */
#define RETRY_MS       200 /* after a round failed (Redis down) */
#define COMPLETE_BATCH RT_QUEUE_MAX_BATCH
#define MAX_SAMPLES    (1 << 20) /* dequeue-to-start times kept for the stats at exit */
#define MAX_CONNECTORS 64        /* connectors counted; calls to others count as "other" */

static const char worker_usage[] =
    "Usage: inquest worker [--config FILE] [--processes N] [--concurrency M] [--user USER]\n"
    "                      [--analyzers DIR]\n"
    "\n"
    "Runs queued analyses: a supervisor keeps N sandboxed child processes running (seccomp,\n"
    "rlimits, no new privileges, an unprivileged user), each running up to M analyses at once.\n"
    "A child that dies is restarted; its analyses are reclaimed when their leases expire and\n"
    "finish elsewhere. Logs are JSON lines on stderr.\n"
    "\n"
    "Options:\n"
    "  --config FILE       the configuration (default: $INQUEST_CONFIG); it needs a redis\n"
    "                      section (docs/config.md)\n"
    "  --processes N       child processes (default: the config's worker.processes, else one\n"
    "                      per core)\n"
    "  --concurrency M     analyses per child at once (default: worker.concurrency, 64)\n"
    "  --user USER         the user children run as when started as root (default:\n"
    "                      worker.user; required as root)\n"
    "  --analyzers DIR     look for analyzers in DIR (repeatable; default: the config's)\n"
    "  -h, --help          this text\n"
    "\n"
    "Signals: SIGTERM or SIGINT drain (finish what runs, take nothing new) and exit; SIGHUP\n"
    "makes the children read analyzers again.\n"
    "\n"
    "Exit codes: 0 stopped by a signal; 2 usage, config or startup error.\n";

typedef struct worker_options {
    const char *config_path, *user;
    int processes, concurrency;
    ig_dirs dirs;
    rt_config *config; /* owned */
} worker_options;

typedef struct child child;

typedef struct job {
    struct job *next;
    child *c;
    char id[RT_QUEUE_ID_SIZE];
    wk_analysis *handle; /* while it runs */
    bool lost;           /* its lease went to another worker: drop its result */
    rt_recording *rec;   /* owned: its recording, when it is recorded */
    json_t *rec_inputs;  /* owned: the raw inputs, for the recording's meta data */
} job;

/* A result waiting to be sent. */
typedef struct pending {
    char id[RT_QUEUE_ID_SIZE];
    char status[24];
    json_t *result; /* owned until a round takes it: then it is written out as 'text' */
    char *text;     /* owned: the result's JSON */
    size_t len;
    char *recording; /* owned: its recording to keep (compact JSON), or NULL */
    size_t recording_len;
} pending;

struct child {
    const worker_options *o;
    wk_engine *engine;
    uv_loop_t *loop;
    rt_queue *queue;
    char consumer[128];
    job *running;
    size_t n_running;
    size_t rounds_out, claims_out; /* rounds sent and not answered, and the claims they ask */
    pending *batch;                /* completions waiting to be sent: 'n_batch' of them */
    size_t n_batch, cap_batch;
    uv_timer_t heartbeat, retry;
    uv_idle_t turn_end;  /* sends the next round once the loop has nothing else to do this turn */
    bool files_confined; /* its jail confines file access (Landlock) */
    bool starved;    /* a claim came back with at most one request, fewer than it asked: the queue
                        has no more; no claim goes out alone (one goes with results) until a claim
                        comes back full or a submission wakes the child */
    bool waiting;    /* for that wake-up (rt_queue_wait_for_work) */
    bool handoffs;   /* a round let submissions claim for the child while it waits (its
                        'handoff') and none took what they claimed since: it may wait in its
                        inbox */
    bool taken;      /* draining, the round that takes it went out: it ends the wait too */
    size_t reserved; /* room a registration for hand-offs may fill: while the child waits, its
                        wait may bring that many, so its rounds claim that many fewer */
    bool recovering; /* Redis was down: results go out before new claims, so that other
                        workers do not reclaim what is finished here */
    wk_child_signals signals;
    bool closing;
    rt_queue_connector_stats *connectors; /* calls counted since the last heartbeat */
    size_t n_connectors;
    double claimed_at; /* rt_monotonic() when the starts of the last claim began */
    double start_cost; /* seconds one start took lately (a moving average) */
    bool backlog;      /* the last claim came back full: requests wait in the queue */
    size_t claims;     /* answers to claims that brought requests */
    double *samples;   /* seconds from a request's claim in Redis to its analyzer's run */
    size_t n_samples;
};

/* ---- completions ------------------------------------------------------------------------- */

static void round_soon(child *c);

/* Room in the batch for 'n' more. */
static void batch_reserve(child *c, size_t n) {
    if (c->n_batch + n <= c->cap_batch)
        return;
    while (c->n_batch + n > c->cap_batch)
        c->cap_batch = c->cap_batch ? c->cap_batch * 2 : 64;
    c->batch = rt_xrealloc(c->batch, c->cap_batch * sizeof *c->batch);
}

/* Queues the result of analysis 'id' for the next round, with its 'recording' ('recording_len'
 * bytes, stolen; NULL: none). */
static void add_completion(child *c, const char *id, json_t *result, char *recording,
                           size_t recording_len) {
    batch_reserve(c, 1);
    pending *p = &c->batch[c->n_batch++];
    rt_copy(p->id, sizeof p->id, id);
    const char *status = json_string_value(json_object_get(result, "status"));
    rt_copy(p->status, sizeof p->status, status ? status : "error");
    /* Written out when a round takes it, not between the starts of a claim's analyses. */
    p->result = json_incref(result);
    p->text = NULL;
    p->len = 0;
    p->recording = recording;
    p->recording_len = recording_len;
    round_soon(c);
}

static void pending_free(pending *p) {
    json_decref(p->result);
    free(p->text);
    free(p->recording);
}

/* A round out: the results it carries (owned) and the requests it claims. */
typedef struct queue_round {
    child *c;
    pending *results;
    size_t n, claims;
    bool handoff; /* it let submissions claim for the child while it waits */
} queue_round;

/* Moves up to 'n' results from the front of the batch into round 'r', written out as JSON with
 * the project's own writer (three times as fast as jansson's on a result). */
static void take_results(child *c, queue_round *r, size_t n) {
    r->results = rt_xmalloc((n ? n : 1) * sizeof *r->results);
    r->n = n;
    if (n == 0) /* the batch may be NULL: no memcpy or memmove of it, even of 0 bytes */
        return;
    memcpy(r->results, c->batch, n * sizeof *c->batch);
    memmove(c->batch, c->batch + n, (c->n_batch - n) * sizeof *c->batch);
    c->n_batch -= n;
    for (size_t i = 0; i < n; i++) {
        pending *p = &r->results[i];
        if (!p->result)
            continue; /* written already: it comes back from a round that failed */
        p->text = rt_json_canonical(p->result);
        p->len = p->text ? strlen(p->text) : 0;
        json_decref(p->result);
        p->result = NULL;
    }
}

/* A failed round's results go back to the front of the batch, to be sent first. */
static void give_back(child *c, queue_round *r) {
    if (r->n == 0)
        return;
    batch_reserve(c, r->n);
    memmove(c->batch + r->n, c->batch, c->n_batch * sizeof *c->batch);
    memcpy(c->batch, r->results, r->n * sizeof *c->batch);
    c->n_batch += r->n;
    r->n = 0;
}

/* The queue took the round's results (each accepted, or refused because another result won). */
static void drop_sent(queue_round *r, const rt_queue_verdict *verdicts) {
    for (size_t i = 0; i < r->n; i++) {
        if (verdicts[i] != RT_COMPLETE_ACCEPTED)
            ig_log("info", "completion refused: another result won",
                   json_pack("{s:s, s:i}", "id", r->results[i].id, "verdict", (int)verdicts[i]));
        pending_free(&r->results[i]);
    }
    r->n = 0;
}

/* Frees 'r' and the results it still holds. */
static void round_free(queue_round *r) {
    for (size_t i = 0; i < r->n; i++)
        pending_free(&r->results[i]);
    free(r->results);
    free(r);
}

/* ---- jobs -------------------------------------------------------------------------------- */

static void unlink_job(job *j) {
    child *c = j->c;
    for (job **p = &c->running; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            c->n_running--;
            return;
        }
}

/* The counts of connector 'name': its own entry, or "other" for a name that is not a
 * connector's (an analyzer asked for one that does not exist) or once MAX_CONNECTORS are counted.
 */
static rt_queue_connector_stats *connector_stats(child *c, const char *name) {
    bool valid = name && *name >= 'a' && *name <= 'z' &&
                 strlen(name) < sizeof c->connectors->connector &&
                 strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name);
    const char *key = valid ? name : "other";
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < c->n_connectors; i++)
            if (strcmp(c->connectors[i].connector, key) == 0)
                return &c->connectors[i];
        if (c->n_connectors < MAX_CONNECTORS - 1 || strcmp(key, "other") == 0)
            break;
        key = "other"; /* full: one place is kept for it */
    }
    rt_queue_connector_stats *st = &c->connectors[c->n_connectors++];
    memset(st, 0, sizeof *st);
    rt_copy(st->connector, sizeof st->connector, key);
    return st;
}

/* Counts the connector calls listed in 'result' for /metrics. */
static void count_calls(child *c, const json_t *result) {
    size_t i;
    json_t *call;
    json_array_foreach(json_object_get(result, "calls"), i, call) {
        rt_queue_connector_stats *st =
            connector_stats(c, json_string_value(json_object_get(call, "connector")));
        const char *status = json_string_value(json_object_get(call, "status"));
        double seconds = json_number_value(json_object_get(call, "duration_ms")) / 1000;
        st->calls++;
        st->errors += status && strcmp(status, "error") == 0;
        st->seconds += seconds;
        st->buckets[rt_queue_latency_bucket(seconds)]++;
    }
}

/* Sends the counts of connector calls to Redis, where serve reads them; counts that cannot be
 * sent now are dropped (they are for graphs, not for correctness). */
static void send_connector_stats(child *c) {
    char why[256];
    if (c->n_connectors && rt_queue_connector_stats_add(c->queue, c->connectors, c->n_connectors,
                                                        NULL, NULL, why) == RT_OK)
        c->n_connectors = 0;
}

static void rec_complete(job *j, json_t *result);

static void job_done(json_t *result, void *ud) {
    job *j = ud;
    child *c = j->c;
    unlink_job(j);
    count_calls(c, result);
    rec_complete(j, result);
    json_decref(result);
    free(j);
    round_soon(c);
}

/* The limits of one claimed analysis: the config's, and no longer than its deadline allows. */
static void job_limits(const child *c, const rt_queue_claimed *item, wk_limits *l) {
    const rt_limits *cl = &c->o->config->limits;
    *l = (wk_limits){cl->memory, cl->instructions, cl->timeout, cl->calls, cl->call_bytes};
    if (item->deadline > 0) {
        double left = item->deadline - rt_wallclock();
        l->timeout = fmin(l->timeout, left > 0.001 ? left : 0.001);
    }
}

/* A request the engine refused (its analyzer is gone, its inputs no longer fit) ends as an
 * error with the reasons, like any analysis that cannot run. */
static void refuse(child *c, const wk_request *r, const rt_diag *diag) {
    char message[1024] = "";
    json_t *item;
    size_t i;
    json_array_foreach(diag->items, i, item) {
        size_t n = strlen(message);
        const char *field = json_string_value(json_object_get(item, "field"));
        snprintf(message + n, sizeof message - n, "%s%s%s%s", n ? "; " : "", field ? field : "",
                 field ? ": " : "", json_string_value(json_object_get(item, "message")));
    }
    json_t *result =
        wk_result_stopped(r, "error", *message ? message : "the analysis cannot start");
    add_completion(c, r->id, result, NULL, 0);
    json_decref(result);
}

static void rec_begin(job *j, wk_request *r, bool asked);
static void rec_abandon(job *j);
static job *find_job(child *c, const char *id);

static void start_job(child *c, const rt_queue_claimed *item) {
    json_error_t error;
    rt_diag diag = {0};
    json_t *inputs = json_loadb(item->inputs, item->inputs_len, 0, &error);
    double run_started = 0;
    wk_request r = {
        .analyzer = item->analyzer, .inputs = inputs, .id = item->id, .run_started = &run_started};
    r.now = floor(rt_wallclock());
    job_limits(c, item, &r.limits);
    job *j = rt_xcalloc(1, sizeof *j);
    j->c = c;
    rt_copy(j->id, sizeof j->id, item->id);
    j->next = c->running;
    c->running = j;
    c->n_running++;
    if (!inputs)
        rt_diag_add(&diag, NULL, 0, "inputs", "not JSON: %s", error.text);
    if (inputs)
        rec_begin(j, &r, item->record);
    if (!inputs || wk_start(c->engine, &r, job_done, j, &j->handle, &diag) != RT_OK) {
        unlink_job(j);
        rec_abandon(j);
        free(j);
        refuse(c, &r, &diag);
    }
    if (run_started > 0 && c->n_samples < MAX_SAMPLES)
        c->samples[c->n_samples++] = run_started - item->dequeued_at;
    rt_diag_free(&diag);
    json_decref(inputs);
}

/* ---- rounds ------------------------------------------------------------------------------ */

static void maybe_stop(child *c);
static bool send_round(child *c);
static void next_round(child *c);

static void on_turn_end(uv_idle_t *idle) {
    uv_idle_stop(idle);
    next_round(idle->data);
}

/* Sends the next round once this turn of the loop is over: what else finishes in the same turn
 * goes out with it. */
static void round_soon(child *c) {
    uv_idle_start(&c->turn_end, on_turn_end);
}

static void retry_round(uv_timer_t *timer) {
    next_round(timer->data);
}

/* How long an idle child waits for a submission before it claims anyway: claims also take over
 * expired leases of other workers, and requests a team cap held. */
static double idle_wait(const child *c) {
    return fmin(IDLE_WAIT_MAX, c->o->config->queue.lease / 2);
}

/* Requests the next round, which carries 'results', may claim: the free slots not claimed by
 * rounds out nor kept for what the wait may be handed (reserved), no more than it starts within
 * its budget and at least two, so that a claim that comes back with one tells a queue with no
 * more (starved); none alone while it has no more, and none while the child drains or still has
 * results from before an outage to send. */
static size_t claim_room(const child *c, size_t results) {
    size_t slots = (size_t)c->o->concurrency,
           taken = c->n_running + c->claims_out + (c->waiting ? c->reserved : 0);
    if ((c->starved && !results) || c->signals.draining || (c->recovering && c->n_batch) ||
        !rt_queue_is_up(c->queue) || taken >= slots)
        return 0;
    double seconds = c->backlog ? BACKLOG_BUDGET : START_BUDGET;
    size_t budget = (size_t)fmax(2, fmin(MAX_CLAIM, seconds / c->start_cost));
    return slots - taken < budget ? slots - taken : budget;
}

/* Starts the 'n' claimed 'items' and learns how long a start takes. A claimed request that runs
 * here already (its lease expired while Redis was out of reach, and the claim gave it back with
 * a new one) goes on as it is. */
static void start_claimed(child *c, const rt_queue_claimed *items, size_t n) {
    size_t started = 0;
    c->claimed_at = rt_monotonic();
    for (size_t i = 0; i < n; i++)
        if (!find_job(c, items[i].id)) {
            start_job(c, &items[i]);
            started++;
        }
    if (started) {
        c->start_cost += ((rt_monotonic() - c->claimed_at) / (double)started - c->start_cost) / 8;
        c->claims++;
    }
}

static void woken(void *ud, int requests, const rt_queue_claimed *items, size_t n);

/* Once no round is out, a starved child waits for a submission (or idle_wait) to claim again;
 * when it cannot wait, it claims again after a pause. */
static void wait_for_work(child *c) {
    if (c->waiting)
        return;
    if (rt_queue_wait_for_work(c->queue, c->consumer, idle_wait(c), woken, c) == RT_OK) {
        c->waiting = true;
        return;
    }
    c->starved = false;
    uv_timer_start(&c->retry, retry_round, RETRY_MS, 0);
}

/* A submission claimed requests for the child ('items'): they start, and the child waits for
 * more (its round with their results lets submissions claim for it again). Else one request woke
 * the child, or none (the wait timed out: the claim looks for expired leases and held requests):
 * one round claims it, as a second, sent while the first is out, would find nothing: on an idle
 * queue, a call to Redis for every analysis. More: rounds as usual. */
static void woken(void *ud, int requests, const rt_queue_claimed *items, size_t n) {
    child *c = ud;
    c->starved = c->waiting = false;
    c->reserved = 0;
    if (n) {
        start_claimed(c, items, n);
        c->starved = true;
        if (!c->signals.draining)
            wait_for_work(c);
    } else if (requests < 2) {
        send_round(c);
    } else {
        next_round(c);
    }
}

static void round_done(int rc, const char *msg, const rt_queue_verdict *verdicts, size_t n_verdicts,
                       const rt_queue_claimed *items, size_t n, void *ud) {
    queue_round *r = ud;
    child *c = r->c;
    (void)n_verdicts;         /* one per result sent, in order */
    if (rc == RT_ECANCELED) { /* the child closes: its leases expire and others take over */
        round_free(r);
        return;
    }
    c->rounds_out--;
    c->claims_out -= r->claims;
    if (rc != RT_OK) {
        ig_log("warn", "round failed; retrying",
               json_pack("{s:s, s:i}", "reason", msg, "results", (int)r->n));
        give_back(c, r);
        uv_timer_start(&c->retry, retry_round, RETRY_MS, 0);
    } else {
        drop_sent(r, verdicts);
        c->recovering = c->recovering && c->n_batch > 0;
        start_claimed(c, items, n);
        if (r->claims) {
            c->backlog = n == r->claims;
            c->starved = !c->backlog && n <= 1;
        }
        if (r->handoff && n <= 1) /* it registered the child for what it did not find */
            c->reserved = r->claims - n;
        if (c->starved && !c->rounds_out)
            wait_for_work(c);
        round_soon(c);
    }
    round_free(r);
    maybe_stop(c);
}

/* Sends the results waiting and claims for the free slots, in one call, unless MAX_ROUNDS are out
 * or the child pauses after a failure. Returns whether it sent a round. */
static bool send_round(child *c) {
    char why[256] = "";
    if (c->rounds_out >= MAX_ROUNDS || c->closing || uv_is_active((uv_handle_t *)&c->retry))
        return false;
    size_t n = c->n_batch < COMPLETE_BATCH ? c->n_batch : COMPLETE_BATCH, want = claim_room(c, n);
    bool take = !n && !want && c->handoffs && c->signals.draining;
    if (!n && !want && !take) {
        maybe_stop(c); /* draining, and the last job ended without a result (its lease was lost) */
        return false;
    }
    /* A claim that is the only round out leaves the child waiting when it finds at most one
     * request: submissions meanwhile claim for it (rt_queue_claim's 'handoff'). Every round ends
     * that; one that claims, or has nothing else to do ('take', when draining), takes what they
     * claimed. */
    double handoff = want && !c->rounds_out && !c->signals.draining ? idle_wait(c) : 0;
    queue_round *r = rt_xcalloc(1, sizeof *r);
    r->c = c;
    r->claims = want;
    r->handoff = handoff > 0;
    take_results(c, r, n);
    rt_queue_completion *items = rt_xcalloc(n ? n : 1, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = (rt_queue_completion){r->results[i].id,        r->results[i].status,
                                         r->results[i].text,      r->results[i].len,
                                         r->results[i].recording, r->results[i].recording_len};
    int rc = rt_queue_claim(c->queue, c->consumer, items, n, want, c->o->config->queue.lease,
                            handoff, round_done, r, why);
    free(items);
    if (rc != RT_OK) {
        give_back(c, r);
        round_free(r);
        uv_timer_start(&c->retry, retry_round, RETRY_MS, 0);
        return false;
    }
    c->rounds_out++;
    c->claims_out += want;
    c->handoffs = handoff > 0 || (c->handoffs && n && !want);
    c->taken = c->taken || take;
    return true;
}

/* Sends rounds until MAX_ROUNDS are out or nothing is left to send: the answers of two rounds
 * often arrive in one read, and one round sent for both would leave the child with a single
 * round out from then on, idle while Redis works on it. */
static void next_round(child *c) {
    while (send_round(c))
        ;
}

/* ---- recordings --------------------------------------------------------------------------- */

/* Before the job's analysis starts: it records when the share picks its id or its submitter
 * 'asked'. */
static void rec_begin(job *j, wk_request *r, bool asked) {
    if (!asked && !rt_queue_recording_chosen(j->id, j->c->o->config->recordings.share))
        return;
    j->rec = rt_recording_new();
    j->rec_inputs = json_incref((json_t *)r->inputs);
    r->recording = j->rec;
}

/* Frees the job's recording. */
static void rec_abandon(job *j) {
    rt_recording_free(j->rec);
    json_decref(j->rec_inputs);
    j->rec = NULL;
    j->rec_inputs = NULL;
}

/* The recording of the finished job, whose result is 'result', as compact JSON in '*text'
 * ('*len' bytes); NULL when it is not kept: larger than recordings.max_bytes (counted, with a
 * warning) or not written. */
static void rec_text(job *j, const json_t *result, char **text, size_t *len) {
    child *c = j->c;
    const rt_recordings *cfg = &c->o->config->recordings;
    const json_t *analyzer = json_object_get(json_object_get(result, "analyzer"), "name");
    wk_request r = {.analyzer = json_string_value(analyzer),
                    .inputs = j->rec_inputs,
                    .id = j->id,
                    .now = json_number_value(json_object_get(result, "now"))};
    char why[256] = "";
    wk_recording_meta(c->engine, j->rec, &r);
    if (rt_recording_dumps(j->rec, text, len, why) != RT_OK) {
        ig_log("warn", "recording not kept", json_pack("{s:s, s:s}", "id", j->id, "reason", why));
        *text = NULL;
    } else if (*len > cfg->max_bytes) {
        ig_log("warn", "recording dropped: larger than recordings.max_bytes",
               json_pack("{s:s, s:I, s:I}", "id", j->id, "bytes", (json_int_t)*len, "max_bytes",
                         (json_int_t)cfg->max_bytes));
        rt_queue_recording_too_big(c->queue, NULL);
        free(*text);
        *text = NULL;
    }
}

/* Queues the job's result with its recording, when it is kept, and frees the recording. */
static void rec_complete(job *j, json_t *result) {
    char *text = NULL;
    size_t len = 0;
    if (!j->lost && j->rec)
        rec_text(j, result, &text, &len);
    if (!j->lost)
        add_completion(j->c, j->id, result, text, text ? len : 0);
    rec_abandon(j);
}

/* ---- leases ------------------------------------------------------------------------------ */

typedef struct beat {
    child *c;
    char (*ids)[RT_QUEUE_ID_SIZE];
    size_t n;
} beat;

static job *find_job(child *c, const char *id) {
    for (job *j = c->running; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

static void extended(int rc, const char *msg, const rt_queue_lease *leases, size_t n, void *ud) {
    beat *b = ud;
    for (size_t i = 0; rc == RT_OK && i < n; i++) {
        job *j = find_job(b->c, b->ids[i]);
        if (!j || leases[i] == RT_LEASE_HELD)
            continue;
        j->lost = leases[i] == RT_LEASE_LOST;
        wk_cancel(j->handle, j->lost ? "the lease was lost: another worker runs this analysis"
                                     : "cancelled on request");
    }
    if (rc != RT_OK && rc != RT_ECANCELED)
        ig_log("warn", "lease renewal failed", json_pack("{s:s}", "reason", msg));
    free(b->ids);
    free(b);
}

/* Renews the leases of the jobs from 'first' on, at most RT_QUEUE_MAX_BATCH of them (one call's
 * worth); returns the job after them. */
static job *renew(child *c, job *first) {
    char why[256] = "";
    beat *b = rt_xcalloc(1, sizeof *b);
    b->c = c;
    b->ids = rt_xcalloc(RT_QUEUE_MAX_BATCH, sizeof *b->ids);
    const char *ids[RT_QUEUE_MAX_BATCH];
    job *j = first;
    for (; j && b->n < RT_QUEUE_MAX_BATCH; j = j->next) {
        memcpy(b->ids[b->n], j->id, RT_QUEUE_ID_SIZE);
        ids[b->n] = b->ids[b->n];
        b->n++;
    }
    if (rt_queue_extend(c->queue, c->consumer, ids, b->n, c->o->config->queue.lease, extended, b,
                        why) != RT_OK) {
        ig_log("warn", "lease renewal failed", json_pack("{s:s}", "reason", why));
        free(b->ids);
        free(b);
    }
    return j;
}

/* Renews the leases of every running job, one call per RT_QUEUE_MAX_BATCH of them. */
static void renew_all(child *c) {
    for (job *j = c->running; j;)
        j = renew(c, j);
}

static void heartbeat(uv_timer_t *timer) {
    child *c = timer->data;
    send_connector_stats(c);
    renew_all(c);
}

/* A cancellation of an analysis this child runs, told at once (the heartbeat tells it too). */
static void cancel_asked(const char *id, void *ud) {
    job *j = find_job(ud, id);
    if (j)
        wk_cancel(j->handle, "cancelled on request");
}

/* ---- the child's life -------------------------------------------------------------------- */

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Logs how long analyses waited between their claim and their start (the queue's share of
 * latency inside a worker), for operators and the benchmarks: from the claim by Redis' clock to
 * the start by this host's, so on another host than Redis the clocks' difference adds in. */
static void log_stats(child *c) {
    if (!c->n_samples)
        return;
    qsort(c->samples, c->n_samples, sizeof *c->samples, by_value);
    double p50 = c->samples[c->n_samples / 2], p99 = c->samples[c->n_samples * 99 / 100];
    ig_log("info", "worker child stats",
           json_pack("{s:i, s:f, s:f, s:f}", "analyses", (int)c->n_samples, "mean_claim",
                     (double)c->n_samples / (double)c->claims, "dequeue_to_start_p50_ms",
                     p50 * 1000, "dequeue_to_start_p99_ms", p99 * 1000));
}

static void close_child(child *c) {
    c->closing = true;
    log_stats(c);
    uv_close((uv_handle_t *)&c->heartbeat, NULL);
    uv_close((uv_handle_t *)&c->retry, NULL);
    uv_close((uv_handle_t *)&c->turn_end, NULL);
    wk_supervisor_child_signals_close(&c->signals);
    rt_queue_free(c->queue);
}

/* Once draining: first a round that ends the child's registration for hand-offs, so that no
 * submission claims for it any more, and takes what submissions claimed for it before (which it
 * runs); it ends the child's wait too, whose answer may bring one more hand-off. Then, once
 * nothing is left to run or send, the child ends. */
static void maybe_stop(child *c) {
    if (!c->signals.draining || c->closing || c->rounds_out)
        return;
    if (c->handoffs && rt_queue_is_up(c->queue))
        send_round(c);
    else if (!c->n_running && !c->n_batch && !(c->taken && c->waiting))
        close_child(c);
}

static void on_term(void *ud) {
    child *c = ud;
    maybe_stop(c);
}

static void on_hup(void *ud) {
    wk_engine *engine = ((child *)ud)->engine;
    wk_engine_reload(engine);
    wk_engine_warm(engine);
    ig_log("info", "analyzers reloaded", NULL);
}

static void queue_state(rt_queue *q, bool up, const char *why, void *ud) {
    (void)q;
    ig_log(up ? "info" : "warn", up ? "queue up" : "queue down",
           why && *why ? json_pack("{s:s}", "reason", why) : NULL);
    child *c = ud;
    if (!up) {
        c->recovering = true;
        return;
    }
    c->recovering = c->n_batch > 0;
    uv_timer_stop(&c->retry);
    /* Leases at once, not at the next beat: after a restart the queue keeps them for a lease
     * and a reconnection only (rt_queue.lua, "restarts"), and after an outage it cannot see
     * (Redis was out of reach, not restarted) only until another worker claims. The renewals
     * go out before the round, on the same connection. */
    renew_all(c);
    next_round(c);
}

static void init_handles(child *c) {
    uv_timer_t *timers[] = {&c->heartbeat, &c->retry};
    for (int i = 0; i < 2; i++) {
        uv_timer_init(c->loop, timers[i]);
        timers[i]->data = c;
    }
    uv_idle_init(c->loop, &c->turn_end);
    c->turn_end.data = c;
    uint64_t beat_ms = (uint64_t)(c->o->config->queue.lease * 1000 / 3);
    uv_timer_start(&c->heartbeat, heartbeat, beat_ms ? beat_ms : 1, beat_ms ? beat_ms : 1);
    wk_supervisor_child_signals(&c->signals, c->loop, on_term, on_hup, c);
}

/* The folders the child loads analyzers from (as it starts, and again on SIGHUP), the only
 * files its jail lets it read besides the libraries' own. */
static void analyzer_folders(const worker_options *o, wk_jail_options *jail) {
    if (o->dirs.n) {
        jail->read_paths = (const char *const *)o->dirs.dirs;
        jail->n_read_paths = o->dirs.n;
    } else {
        jail->read_paths = (const char *const *)o->config->analyzers;
        jail->n_read_paths = o->config->n_analyzers;
    }
}

/* Everything that needs more than the jail allows happens before it: connectors' and Redis'
 * secrets are read here. */
static int open_child(child *c, char *why) {
    const rt_config *cfg = c->o->config;
    rt_diag diag = {0};
    if (wk_engine_connect(c->engine, cfg, &diag) != RT_OK) {
        json_t *first = json_array_get(diag.items, 0);
        snprintf(why, 256, "connectors: %s", json_string_value(json_object_get(first, "message")));
        rt_diag_free(&diag);
        return RT_EINPUT;
    }
    char *password = NULL;
    size_t password_len = 0;
    if (cfg->redis_auth.type != RT_AUTH_NONE &&
        rt_config_secret(&cfg->redis_auth, &password, &password_len, why) != RT_OK)
        return RT_EINPUT;
    wk_jail_options jail = {.user = c->o->user};
    analyzer_folders(c->o, &jail);
    c->files_confined = wk_jail_file_abi(&jail) > 0;
    int rc = wk_jail_enter(&jail, why);
    if (rc == RT_OK) {
        /* In the jail, as analyses run; before the connection to Redis starts, whose timeout
         * would run meanwhile. */
        wk_engine_warm(c->engine);
        c->queue = ig_queue_open(c->loop, cfg, password, password_len, queue_state, c, why);
        rc = c->queue ? RT_OK : RT_EINPUT;
        if (rc == RT_OK)
            rt_queue_follow_cancels(c->queue, c->consumer, cancel_asked, c);
    }
    rt_secret_free(password, password_len);
    return rc;
}

static int child_main(int slot, void *ud) {
    const worker_options *o = ud;
    child c = {.o = o, .start_cost = START_BUDGET / 6}; /* until starts are timed */
    char why[256] = "";
    signal(SIGPIPE, SIG_IGN);
    c.engine = o->dirs.n ? ig_engine((char **)o->dirs.dirs, o->dirs.n)
                         : wk_engine_new((const char *const *)o->config->analyzers,
                                         o->config->n_analyzers);
    c.loop = wk_engine_loop(c.engine);
    rt_queue_consumer_name(c.consumer, sizeof c.consumer);
    c.samples = rt_xmalloc(MAX_SAMPLES * sizeof *c.samples);
    c.connectors = rt_xcalloc(MAX_CONNECTORS, sizeof *c.connectors);
    int rc = open_child(&c, why);
    if (rc != RT_OK) {
        ig_log("error", "worker child cannot start",
               json_pack("{s:i, s:s}", "slot", slot, "reason", why));
        free(c.samples);
        free(c.connectors);
        wk_engine_free(c.engine);
        return IG_EXIT_USAGE;
    }
    init_handles(&c);
    ig_log("info", "worker child ready",
           json_pack("{s:i, s:s, s:i, s:b}", "slot", slot, "consumer", c.consumer, "concurrency",
                     o->concurrency, "files_confined", c.files_confined));
    uv_run(c.loop, UV_RUN_DEFAULT);
    free(c.connectors);
    free(c.samples);
    free(c.batch);
    wk_engine_free(c.engine);
    return IG_EXIT_OK;
}

/* ---- the supervisor ---------------------------------------------------------------------- */

static int parse_options(int argc, char **argv, worker_options *o) {
    enum { OPT_CONFIG = 256, OPT_PROCESSES, OPT_CONCURRENCY, OPT_USER, OPT_ANALYZERS };
    static const struct option options[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"processes", required_argument, NULL, OPT_PROCESSES},
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"user", required_argument, NULL, OPT_USER},
        {"analyzers", required_argument, NULL, OPT_ANALYZERS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    char *end;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        long n = 0;
        if (opt == OPT_PROCESSES || opt == OPT_CONCURRENCY) {
            n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 100000)
                return ig_usage_error("worker", "--%s must be a whole number from 1 to 100000",
                                      opt == OPT_PROCESSES ? "processes" : "concurrency");
        }
        if (opt == OPT_CONFIG)
            o->config_path = optarg;
        else if (opt == OPT_PROCESSES)
            o->processes = (int)n;
        else if (opt == OPT_CONCURRENCY)
            o->concurrency = (int)n;
        else if (opt == OPT_USER)
            o->user = optarg;
        else if (opt == OPT_ANALYZERS) {
            if (ig_dirs_add(&o->dirs, "worker", optarg) != IG_EXIT_OK)
                return IG_EXIT_USAGE;
        } else if (opt == 'h') {
            fputs(worker_usage, stdout);
            return -1;
        } else
            return ig_usage_error("worker", "unknown option");
    }
    if (optind < argc)
        return ig_usage_error("worker", "unexpected argument \"%s\"", argv[optind]);
    if (!o->config_path)
        o->config_path = getenv("INQUEST_CONFIG");
    if (!o->config_path || !*o->config_path)
        return ig_usage_error("worker", "needs a config with a redis section: --config FILE or "
                                        "$INQUEST_CONFIG");
    return IG_EXIT_OK;
}

/* Settles the options from the config where the command line left them open. */
static int load(worker_options *o) {
    if (!(o->config = ig_service_config("worker", o->config_path, false)))
        return IG_EXIT_USAGE;
    if (!o->processes)
        o->processes = o->config->worker.processes;
    if (!o->concurrency)
        o->concurrency = o->config->worker.concurrency;
    if (!o->user)
        o->user = o->config->worker.user;
    if (geteuid() == 0 && !o->user) {
        fprintf(stderr, "inquest worker: started as root: name the user children run as "
                        "(--user or worker.user in the config)\n");
        return IG_EXIT_USAGE;
    }
    if (o->user && geteuid() != 0) { /* no switch: children run as this process' user */
        const struct passwd *pw = getpwnam(o->user);
        if (!pw || pw->pw_uid != geteuid())
            ig_log("warn",
                   "worker.user is not used: only a worker started as root can switch users",
                   json_pack("{s:s, s:i}", "user", o->user, "children_run_as_uid", (int)geteuid()));
    }
    return IG_EXIT_OK;
}

/* What no worker process carries: descriptors it did not open (a wrapper's, opened as root,
 * would stay readable in a child after the privilege drop); and a dumpable supervisor, whose
 * memory and environment a child could read through /proc when both run as the same user (a
 * worker not started as root). Sanitizer builds stay dumpable, as the jail says why. */
static void settle_process(void) {
    close_range(3, ~0U, 0);
    if (!WK_JAIL_SANITIZER)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int ig_cmd_worker(int argc, char **argv) {
    worker_options o = {0};
    settle_process();
    int rc = parse_options(argc, argv, &o);
    if (rc == IG_EXIT_OK)
        rc = load(&o);
    if (rc == IG_EXIT_OK) {
        wk_supervisor_options s = {.processes = o.processes,
                                   .child_main = child_main,
                                   .ud = &o,
                                   .fatal_status = IG_EXIT_USAGE};
        rc = wk_supervise(&s) == RT_OK ? IG_EXIT_OK : IG_EXIT_USAGE;
    }
    rt_config_free(o.config);
    return rc < 0 ? IG_EXIT_OK : rc;
}
