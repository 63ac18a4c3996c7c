/* integrations/ig_serve.h -- what the parts of `inquest serve` share: the process in
 * ig_cmd_serve.c (options, start, signals, drain), the /v1 API in ig_api.c (docs/api.md) and the
 * /metrics text in ig_metrics.c. Nothing outside these files includes it. */
#ifndef INQUEST_IG_SERVE_H
#define INQUEST_IG_SERVE_H

#include <stdbool.h>
#include <stdint.h>
#include "ig_cli.h"
#include "rt_config.h"
#include "rt_httpd.h"
#include "rt_queue.h"
#include "wk.h"

struct pp_chain;
struct pp_postproc;

/* An API token with its secret, read once at start (and on reload). */
typedef struct ig_token {
    const rt_token *config;
    char *secret; /* owned, wiped on free */
    size_t len;
} ig_token;

/* A long poll waiting for its analysis to finish (ig_api.c). */
typedef struct ig_waiter ig_waiter;

#define IG_WAITER_BUCKETS 1024
#define IG_RECENT_ENDS    4096 /* ids of analyses the watch saw end, kept for long polls */

typedef struct ig_serve {
    uv_loop_t *loop; /* the engine's */
    rt_config *config;
    wk_engine *engine; /* validates inputs at submit; describes analyzers */
    rt_queue *queue;
    rt_httpd *httpd;
    ig_token *tokens;
    size_t n_tokens;
    char *base_url;  /* owned: server.external_url, or http://<listen>; no trailing slash */
    json_t *catalog; /* owned: { name: { name, owner, description, version, tags, inputs } } */
    ig_waiter *waiters[IG_WAITER_BUCKETS]; /* by the hash of their analysis id */
    size_t n_waiters;
    /* The last IG_RECENT_ENDS analyses the watch saw end, in a ring: a long poll whose status
     * read raced with the end of its analysis finds it here (ig_api.c). */
    char recent_ends[IG_RECENT_ENDS][RT_QUEUE_ID_SIZE];
    uint64_t n_ends;              /* ends seen since the start; the ring holds the last ones */
    bool draining;                /* SIGTERM: refuse new work, finish what is in flight */
    struct pp_chain *actions;     /* the post-processor's actions and audit in Redis (owned) */
    struct pp_postproc *postproc; /* the embedded post-processor, or NULL (owned) */
    struct retired *retired; /* configs and tokens replaced by SIGHUP, freed at exit: requests in
                                flight may still point at their tokens */
    /* Counters for /metrics that the queue does not keep. */
    uint64_t submit_refused_unavailable;                     /* 503: Redis could not take it */
    uint64_t finished_seen;                                  /* analyses the watch saw end */
    uint64_t duration_buckets[RT_QUEUE_LATENCY_BUCKETS + 1]; /* the last one is +Inf */
    double duration_sum;
} ig_serve;

/* The HTTP handler of every request (rt_httpd_handler); 'ud' is the ig_serve. */
void ig_api_handle(rt_httpd_req *req, void *ud);
/* Tells long polls that analysis 'id' ended (rt_queue_watch_fn); 'ud' is the ig_serve. */
void ig_api_finished(const char *id, const char *analyzer, const char *status, double seconds,
                     void *ud);
/* Answers /v1/actions… and /v1/audit (ig_api_actions.c) for 'token' (NULL: no tokens). */
void ig_api_actions(ig_serve *s, rt_httpd_req *req, const ig_token *token);
/* Answers every waiting long poll now, with the status it has (for drain and shutdown). */
void ig_api_release_waiters(ig_serve *s);

/* Reads the analyzers on the path into s->catalog (start and SIGHUP). Problems with single
 * analyzers are written to stderr as JSON log lines; they do not stop the server. */
void ig_api_load_catalog(ig_serve *s);

/* Answers 'req' with the Prometheus text exposition of the server's and the queue's numbers
 * (ig_metrics.c). */
void ig_metrics_respond(ig_serve *s, rt_httpd_req *req);

/* Counts one analysis that took 'seconds' from submission to result in the histogram. */
void ig_metrics_observe(ig_serve *s, double seconds);

#endif
