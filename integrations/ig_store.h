/* integrations/ig_store.h -- what people and the insights job add to analyses, kept in Redis
 * (docs/console.md): verdicts on analyses (feedback) and the daily counts of finished analyses
 * (insights), each change one atomic call of the function library ig_store.lua. The calls and
 * the verdicts are ig_store.c; the summaries that are counted and the report made of the counts
 * are ig_insights.c. `inquest serve` uses them (ig_api_feedback.c, ig_api_insights.c), and so do
 * the unit tests; nothing here knows of HTTP or tokens.
 *
 * Calling convention, as the queue's (runtime/rt_queue.h): a call returns RT_OK and later calls
 * its callback once from the loop, or returns an error at once (RT_EBACKEND: Redis is not
 * connected; RT_EINPUT: bad arguments) without calling it. Callbacks get an rt code: RT_OK with
 * the reply, the code a function raised (RT_EINPUT, RT_ENOTFOUND, RT_EUSAGE) with its message,
 * or the connection's (RT_EBACKEND, RT_ETIMEDOUT, RT_ECANCELED). */
#ifndef INQUEST_IG_STORE_H
#define INQUEST_IG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "rt_queue.h"
#include "rt_redis.h"

typedef struct ig_store ig_store;

/* The reply of a call: valid during the callback only; NULL unless 'rc' is RT_OK. */
typedef void (*ig_store_fn)(int rc, const char *msg, const redisReply *reply, void *ud);

/* A handle on the library for the queue whose keys start with "{'prefix'}:" (NULL or "":
 * "inquest"), over connection 'redis' (not owned). The library is loaded when Redis lacks it or
 * holds an older one, ahead of the first call; a call that finds it gone (FUNCTION FLUSH, a
 * restart without persistence) loads it and is sent again once. */
ig_store *ig_store_new(rt_redis *redis, const char *prefix);
/* Frees 'st' once the calls it has out have ended (their callbacks get RT_ECANCELED); accepts
 * NULL. */
void ig_store_free(ig_store *st);
/* The key "{prefix}:'what'" into 'out' of 'size' bytes. */
void ig_store_key(const ig_store *st, const char *what, char *out, size_t size);
/* The connection calls go over (for plain reads: the export stream, a verdict list). */
rt_redis *ig_store_redis(ig_store *st);
/* FCALL of function 'fn' with 'nkeys' keys, then the prefix and 'nargs' arguments. */
int ig_store_call(ig_store *st, const char *fn, int nkeys, const char *const *keys, int nargs,
                  const char *const *args, ig_store_fn done, void *ud);

/* A name as the counts' fields hold it: at most 'cap' bytes of 's' (cut at a character), '%'
 * and '|' written %25 and %7C, into 'out' of 'size' bytes (3 * cap + 1 always fit). */
void ig_store_escape(const char *s, size_t cap, char *out, size_t size);
/* The reverse, in place. */
void ig_store_unescape(char *s);

/* ---- feedback (ig_store.c) ----------------------------------------------------------------- */

#define IG_NOTE_MAX  2000 /* bytes of a verdict's note */
#define IG_CAUSE_MAX 128  /* bytes of a root cause tag */

/* A person's verdict on a finished analysis. */
typedef struct ig_verdict {
    const char *id;         /* the analysis */
    const char *analyzer;   /* its analyzer, as the queue names it */
    const char *verdict;    /* "correct", "wrong" or "partly" */
    const char *root_cause; /* wrong, partly: the root cause it should have been; NULL or "" */
    const char *note;       /* NULL or "": none */
    const char *by;         /* who: "token:NAME", or "anonymous" on a server without tokens */
    double finished_at;     /* when the analysis finished (Unix seconds): the day it counts on */
} ig_verdict;

/* NULL when 'verdict', 'root_cause' and 'note' (NULL: absent) make a verdict, else what is
 * wrong, naming the field: for the API's 400 and the library's own check. */
const char *ig_feedback_problem(const char *verdict, const char *root_cause, const char *note,
                                const char **field);

#define IG_FEEDBACK_KEEP 20 /* verdicts an analysis holds, the newest (ig_store.lua's FB_KEEP) */

/* Records 'v' in one call: the analysis' verdicts (kept 'ttl' seconds after the last, at most
 * IG_FEEDBACK_KEEP: the oldest go, from the export too), the export stream (trimmed to 'ttl' of
 * age) and the counts of the day it finished (kept 'retention' seconds after that day). A repeat
 * of the latest verdict by the same 'by' writes nothing. The reply is [seq, the verdict as JSON
 * text, the verdicts the analysis holds, 1 recorded or 0 a repeat (seq and verdict are then the
 * latest's)]; RT_ENOTFOUND when the analysis is gone, RT_EUSAGE when it has not finished. */
int ig_feedback_record(ig_store *st, const ig_verdict *v, double ttl, double retention,
                       ig_store_fn done, void *ud);

/* A verdict of the export stream (an XRANGE entry: [id, [field, value, …]]) as the export's
 * JSON object: seq, at, analysis, analyzer, team, verdict, root_cause, note, by. NULL when the
 * entry is malformed. */
json_t *ig_feedback_entry_json(const redisReply *entry);
/* A verdict as the library keeps it in an analysis' list (JSON text of 'len' bytes) as the API
 * shows it; NULL when it does not parse. */
json_t *ig_feedback_record_json(const char *text, size_t len);

/* ---- insights (ig_insights.c) -------------------------------------------------------------- */

#define IG_OUTCOMES         6    /* ig_outcomes */
#define IG_DURATION_BUCKETS 140  /* 20 a decade, from 1 ms to 10^7 ms */
#define IG_NAME_MAX         128  /* bytes of a service, alert or root cause counted (cut beyond) */
#define IG_NAMES_PER_DAY    2000 /* services and alerts of an analyzer a day; '(other)' beyond */

/* How an analysis ended, for the counts: "root_cause_found", "inconclusive", "no_anomaly",
 * "other" (status ok with another conclusion or none), "error" (error, timeout, budgets, dead),
 * "cancelled". */
extern const char *const ig_outcomes[IG_OUTCOMES];

/* What insights count of one finished analysis; names are escaped for the counts' fields ('%'
 * and '|' as %25 and %7C) and "" when there is none. */
typedef struct ig_summary {
    char day[9];    /* the UTC day it finished, YYYYMMDD */
    double day_end; /* the end of that day, Unix milliseconds */
    char analyzer[3 * 256 + 1], team[3 * IG_NAME_MAX + 1];
    char service[3 * IG_NAME_MAX + 1];    /* the label service, else the input service */
    char alert[3 * IG_NAME_MAX + 8];      /* the label alertname, else "route:" and the label
                                             inquest_route of an analysis an alert started */
    char root_cause[3 * IG_NAME_MAX + 1]; /* of the top finding (pp_top_finding) of an ok one */
    const char *outcome;                  /* one of ig_outcomes */
    int bucket;                           /* of its run time (started to finished); -1: none */
} ig_summary;

/* The summary of analysis 'a' (as rt_queue_get read it, with its result), or of one gone
 * ('a' NULL: nothing to count, '*out' says so with an empty analyzer). 'now' (Unix seconds)
 * stands for the end of an analysis that has none. */
void ig_insights_summarize(const rt_queue_analysis *a, double now, ig_summary *out);

/* The duration bucket of 'ms' milliseconds, and the duration a bucket stands for (its middle,
 * geometrically: within 6% of any duration in it). */
int ig_duration_bucket(double ms);
double ig_duration_of_bucket(int bucket);

/* The UTC day of Unix time 't' as YYYYMMDD into 'day' (9 bytes), and its end in Unix ms. */
void ig_day_of(double t, char *day, double *day_end);

/* Analyses one fold may count: a few entries of the results stream, each listing the analyses
 * of one call (a worker's round: up to RT_QUEUE_MAX_BATCH results and the claims' endings). */
#define IG_FOLD_MAX (16 * RT_QUEUE_MAX_BATCH)

/* Counts the 'n' analyses 'items' of the results entries 'entries' in one call, acknowledging
 * each entry in the group 'insights' (an entry another consumer acknowledged is not counted
 * again). The analyses of an entry must all be in the same call. Buckets are kept 'retention'
 * seconds after their day; a day counts at most 'cap' services and alerts of each analyzer. The
 * reply is [counted, n]. */
int ig_insights_fold(ig_store *st, const char *const *entries, const ig_summary *items, size_t n,
                     double retention, int cap, ig_store_fn done, void *ud);

/* Reads the counts of the 'days' UTC days up to and including the day of 'now' (Unix seconds),
 * in one call; the reply is what ig_insights_report reads. */
int ig_insights_read(ig_store *st, double now, int days, ig_store_fn done, void *ud);

/* Whether the report shows analyzer 'analyzer' of team 'team' (NULL: not known). */
typedef bool (*ig_insights_filter)(const char *analyzer, const char *team, void *ud);

/* The report (docs/api.md, GET /v1/insights) of the counts 'reply' of ig_insights_read for the
 * 'days' days up to the day of 'now': analyses by outcome and duration, the top 'top' root causes
 * overall and per service and alert (the 'top' services and alerts with the most analyses), and
 * each analyzer's counts and precision from feedback. Only analyzers 'allows' takes (NULL: all)
 * are in it. */
json_t *ig_insights_report(const redisReply *reply, double now, int days, int top,
                           ig_insights_filter allows, void *ud);

#endif
