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
struct ig_store;
struct ig_insights_job;
struct ig_backtests;

/* An API token with its secret, read once at start (and on reload). */
typedef struct ig_token {
    const rt_token *config;
    char *secret; /* owned, wiped on free */
    size_t len;
} ig_token;

/* The credentials of the intake sources, read once at start (and on reload): ig_intake.c. */
typedef struct ig_intake_auth ig_intake_auth;

/* How intake requests ended, for /metrics (inquest_intake_requests_total{source,outcome}). */
typedef enum ig_intake_outcome {
    IG_INTAKE_ACCEPTED = 0,
    IG_INTAKE_UNAUTHORIZED, /* 401: no or wrong credential, unsigned or badly signed */
    IG_INTAKE_BAD_REQUEST,  /* 400: a malformed payload; nothing queued */
    IG_INTAKE_UNAVAILABLE,  /* 503: Redis could not take it, or the server drains */
    IG_INTAKE_OUTCOMES
} ig_intake_outcome;

#define IG_INTAKE_SOURCE_SLOTS 5 /* rt_source's values: the four fixed ones and generic */

typedef struct ig_intake_counts {
    uint64_t requests[IG_INTAKE_SOURCE_SLOTS][IG_INTAKE_OUTCOMES];
    uint64_t alerts[IG_INTAKE_SOURCE_SLOTS][2]; /* [firing, resolved] */
    uint64_t started;                           /* analyses a route started */
    uint64_t deduplicated; /* repeats answered with a running analysis of the same alert */
    uint64_t late;         /* firings of an alert that resolved since: nothing started */
    uint64_t resolved;     /* analyses stamped resolved by their alert */
    uint64_t input_errors; /* starts refused: the inputs a route built did not fit its analyzer */
    uint64_t unrouted;     /* alerts no route took */
} ig_intake_counts;

/* A long poll waiting for its analysis to finish (ig_api.c). */
typedef struct ig_waiter ig_waiter;

#define IG_WAITER_BUCKETS 1024
#define IG_RECENT_ENDS    4096 /* ids of analyses the watch saw end, kept for long polls */
#define IG_READS_AHEAD    4    /* long-polled analyses read behind the watch's read (ig_api.c) */

typedef struct ig_serve {
    uv_loop_t *loop; /* the engine's */
    rt_config *config;
    wk_engine *engine; /* validates inputs at submit; describes analyzers */
    rt_queue *queue;
    rt_httpd *httpd;
    ig_token *tokens;
    size_t n_tokens;
    ig_intake_auth *intake_auth; /* owned */
    ig_intake_counts intake;
    char *base_url;  /* owned: server.external_url, or http://<listen>; no trailing slash */
    json_t *catalog; /* owned: { name: { name, owner, description, version, tags, inputs } } */
    ig_waiter *waiters[IG_WAITER_BUCKETS]; /* by the hash of their analysis id */
    size_t n_waiters;
    /* The last IG_RECENT_ENDS analyses the watch saw end, in a ring: a long poll whose status
     * read raced with the end of its analysis finds it here (ig_api.c). */
    char recent_ends[IG_RECENT_ENDS][RT_QUEUE_ID_SIZE];
    uint64_t n_ends; /* ends seen since the start; the ring holds the last ones */
    /* Analyses whose read waits behind the watch's (rt_queue_get_after_next_end), "" for a free
     * place, and whether the watch has told their end since: that read answers their long polls. */
    char ahead[IG_READS_AHEAD][RT_QUEUE_ID_SIZE];
    bool ahead_ended[IG_READS_AHEAD];
    bool draining;                /* SIGTERM: refuse new work, finish what is in flight */
    struct pp_chain *actions;     /* the post-processor's actions and audit in Redis (owned) */
    struct pp_postproc *postproc; /* the embedded post-processor, or NULL (owned) */
    struct ig_console *console;   /* the web console's sessions (ig_console.h), or NULL (owned) */
    struct ig_store *store;       /* feedback and insights in Redis (ig_store.h), owned */
    struct ig_insights_job *insights; /* the insights job (ig_api_insights.c), or NULL (owned) */
    struct ig_backtests *backtests;   /* reports read so far (ig_api_backtests.c), owned */
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

/* Sets Retry-After on a 503 of 'req': the seconds within which serve tries Redis again when it is
 * down (the cap of its reconnection backoff, rounded up; at least 1). A client that waits that
 * long finds serve connected if Redis is back. Every 503 "unavailable" of serve carries it. */
void ig_retry_after(const ig_serve *s, rt_httpd_req *req);
/* Answers 400 bad_request with 'message', also as the one problem of 'field' in "fields": for a
 * query parameter or a body member that is wrong on its own (a state or status that is none). */
void ig_respond_field_error(rt_httpd_req *req, const char *field, const char *message);
/* Reads query parameter 'name' as a time: RFC 3339, Unix seconds (a bare number), or a duration
 * back from now ("1h"). '*t' is 0 when the parameter is absent. False after answering 400. */
bool ig_query_time(rt_httpd_req *req, const char *name, double *t);
/* Answers 200 with the records of a stream read ('reply': an array of [id, fields]) as JSON
 * lines, each made by 'to_json' and kept when 'token' may see its analyzer and team. The header
 * Inquest-Next-After names the last record read, or 'after' when none was: where the next page
 * starts; Inquest-Records-Read says how many were read, shown or not (fewer than the page's
 * limit: the end for now). */
void ig_respond_records(rt_httpd_req *req, const redisReply *reply, const char *after,
                        const ig_token *token, json_t *(*to_json)(const redisReply *record));
/* A listing's next_cursor names the last item its page examined, which the token may not see:
 * for a token it is sealed (ig_api.c, AES-256-GCM under a key of the token's), so that it tells
 * nothing of that item and only that token can use it; without tokens it stays plain. */
#define IG_CURSOR_PLAIN 112 /* bytes of a plain cursor, at most */
#define IG_CURSOR_TEXT  320 /* bytes of a cursor as a client gets it, with its NUL, at most */
/* The cursor 'plain' (at most IG_CURSOR_PLAIN bytes) as 'token' (NULL: no tokens) gets it, into
 * 'out' (IG_CURSOR_TEXT bytes). */
void ig_cursor_seal(const ig_token *token, const char *plain, char *out);
/* The plain cursor in 'text', a cursor a client sent, into 'plain' (IG_CURSOR_PLAIN + 1 bytes):
 * opened for 'token', as it is without tokens. False when 'token' did not seal it. */
bool ig_cursor_open(const ig_token *token, const char *text, char *plain);

/* True when 'token' (NULL: no tokens configured) may use analyzer 'name' (NULL: none) owned by
 * 'team' (NULL: none): the one check of the API (ig_api.c) and of the actions it shows. */
bool ig_token_allows(const ig_token *token, const char *name, const char *team);
/* True when 'token' (NULL: no tokens configured) may use every analyzer, whatever its name: its
 * analyzers list holds '*'. What holds no analyzer (a damaged backtest report) or every team's
 * (the labelled insights series of /metrics) is shown only to such a token. */
bool ig_token_allows_all(const ig_token *token);
/* The configured token that the Authorization header of 'req' presents (Bearer), or NULL when
 * it presents none or an unknown one. Answers nothing: for /metrics, which needs no token. */
const ig_token *ig_presented_token(const ig_serve *s, rt_httpd_req *req);
/* Answers every waiting long poll now, with the status it has (for drain and shutdown). */
void ig_api_release_waiters(ig_serve *s);

/* Verdicts on analyses and the case made of one (ig_api_feedback.c): /v1/analyses/ID/feedback,
 * /v1/analyses/ID/case and the export /v1/feedback, for 'token' (NULL: no tokens). Returns false,
 * doing nothing, for other paths. */
bool ig_api_feedback(ig_serve *s, rt_httpd_req *req, const ig_token *token);

/* /v1/insights (ig_api_insights.c); false, doing nothing, for other paths. */
bool ig_api_insights(ig_serve *s, rt_httpd_req *req, const ig_token *token);
/* Starts the insights job when insights.enabled (docs/config.md), else removes its group from
 * the results stream; needs s->store. */
void ig_insights_start(ig_serve *s);
/* Stops the job; its calls in flight end on their own. Accepts a server without one. */
void ig_insights_stop(ig_serve *s);
/* The insights' series for /metrics, from the job's last report: malloc'd text, "" without.
 * Only totals, unless 'labelled': then also the series by service, alert and analyzer, whose
 * labels name every team's. */
char *ig_insights_metrics(const ig_serve *s, bool labelled);

/* /v1/backtests and /v1/backtests/NAME (ig_api_backtests.c): the reports of the config's
 * backtests.reports folders; false, doing nothing, for other paths. */
bool ig_api_backtests(ig_serve *s, rt_httpd_req *req, const ig_token *token);
/* Frees what ig_api_backtests kept; accepts NULL. */
void ig_backtests_free(struct ig_backtests *b);

/* Reads the analyzers on the path into s->catalog (start and SIGHUP). Problems with single
 * analyzers are written to stderr as JSON log lines; they do not stop the server. */
void ig_api_load_catalog(ig_serve *s);

/* Reads the intake credentials of 'config' into '*out' and checks its routes against the
 * analyzers of 'engine' (on SIGHUP a fresh one, so that a failure changes nothing). Returns RT_OK,
 * or RT_EINPUT with the first problem in 'why' (256 bytes) after logging every route problem. */
int ig_intake_load(wk_engine *engine, const rt_config *config, ig_intake_auth **out, char *why);
/* Wipes and frees what ig_intake_load read; accepts NULL. */
void ig_intake_auth_free(ig_intake_auth *auth);
/* Handles 'req' when its path is under /v1/intake/ (docs/api.md, Intake): returns false, doing
 * nothing, for any other path. Intake requests authenticate with their source's own credentials,
 * not with API tokens. */
bool ig_intake_handle(ig_serve *s, rt_httpd_req *req);

/* Answers 'req' with the Prometheus text exposition of the server's and the queue's numbers
 * (ig_metrics.c). */
void ig_metrics_respond(ig_serve *s, rt_httpd_req *req);

/* Counts one analysis that took 'seconds' from submission to result in the histogram. */
void ig_metrics_observe(ig_serve *s, double seconds);

#endif
