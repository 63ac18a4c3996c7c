/* postproc/pp.h -- the post-processor's public face (DESIGN §2, docs/operating.md): rules over
 * finished analyses (pp_rules.c), the payload of each action type (pp_actions.c), the mitigation
 * policy (pp_policy.c), the action state machine and audit log in Redis (pp_chain.c, its Redis
 * functions in pp_chain.lua; pp_audit.c) and the process that consumes the results stream
 * (pp_postproc.c). `inquest postproc`, `inquest actions` and the /v1/actions API live in
 * integrations/. */
#ifndef INQUEST_PP_H
#define INQUEST_PP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "rt.h"
#include "rt_config.h"
#include "rt_queue.h"
#include "rt_redis.h"

#define PP_ID_SIZE       25    /* an action id: 24 hex digits and a NUL */
#define PP_NOTE_MAX      25000 /* bytes of a note's text (Opsgenie's limit; PagerDuty's too) */
#define PP_SLACK_TEXT    3000  /* characters of a section's text (Slack Block Kit) */
#define PP_SLACK_HEADER  150   /* characters of a header block's plain text */
#define PP_SLACK_BLOCKS  50    /* blocks of one message */
#define PP_SLACK_FINDING 5     /* findings a message shows */
#define PP_TITLE_MAX     255   /* characters of a ticket's title (Jira's summary) */
#define PP_OPSGENIE_USER 100   /* characters of an Opsgenie note's user */

/* ---- analyses and rules (pp_rules.c) ------------------------------------------------------- */

/* A finished analysis as rules and templates see it. */
typedef struct pp_analysis {
    char id[RT_QUEUE_ID_SIZE];
    char *analyzer, *team, *status; /* owned; "" when unknown */
    json_t *result;                 /* owned: the result (an empty object when there is none) */
    json_t *labels;                 /* owned: an object of strings */
    const json_t *top;              /* the top finding of 'result', or NULL */
    char *url;                      /* owned: the analysis' stable URL */
} pp_analysis;

/* Fills 'a' from what the queue knows of analysis 'id': its 'analyzer', 'team', 'status',
 * 'labels' (JSON object text, may be NULL) and 'result' (JSON text of 'result_len' bytes, may be
 * NULL); links point under 'base_url' (rt_analysis_url). Never fails: unreadable JSON reads as
 * empty. Free with pp_analysis_free. */
void pp_analysis_init(pp_analysis *a, const char *id, const char *analyzer, const char *team,
                      const char *status, const char *labels, const char *result, size_t result_len,
                      const char *base_url);
void pp_analysis_free(pp_analysis *a);

/* The top finding of 'result': the first of the highest severity, then the highest confidence;
 * NULL when it has none. 'result' keeps ownership. */
const json_t *pp_top_finding(const json_t *result);
/* The findings of 'result' in the order of pp_top_finding, at most 'max' of them, in 'out';
 * returns how many. */
size_t pp_findings_ranked(const json_t *result, const json_t **out, size_t max);

/* The value 'name' names in a template over 'a' ("labels.service", "finding.title", "url"), as
 * text: malloc'd, "" when it has none. */
char *pp_value(const pp_analysis *a, const char *name);
/* The template 'text' with each {{ name }} replaced by pp_value; malloc'd. */
char *pp_render(const char *text, const pp_analysis *a);

/* True when finished analysis 'a' satisfies every part of rule 'r''s match. */
bool pp_rule_matches(const rt_rule *r, const pp_analysis *a);

/* ---- plans: what an action would send (pp_actions.c) --------------------------------------- */

/* One HTTP call an action makes, built in full before anything runs, so that a dry run, an
 * approval and the audit show exactly what would be sent. Strings and JSON are owned. */
typedef struct pp_plan {
    char id[PP_ID_SIZE]; /* also the Idempotency-Key */
    rt_action_type type;
    char *name;      /* the mitigation's name, or the type's ("incident_note") */
    char *service;   /* the service acted on ("" when none) */
    char *path;      /* under the connector's URL, with the query */
    json_t *headers; /* object of header name to value: never credentials (the connector's) */
    json_t *body;    /* the JSON body */
    char *summary;   /* one line for listings and the audit */
} pp_plan;

/* The id of action 'index' of rule 'rule' for analysis 'analysis': the same for every retry
 * and every post-processor, 24 hex digits. */
void pp_action_id(const char *analysis, const char *rule, size_t index, char out[PP_ID_SIZE]);

/* Builds the call of action 'index' of rule 'r' for analysis 'a' under config 'c'. Returns RT_OK,
 * or RT_EINPUT with 'why' (256 bytes) when an argument is missing or has the wrong type (no
 * incident id, an int argument that is not a number). Free with pp_plan_free. */
int pp_plan_build(const rt_config *c, const rt_rule *r, size_t index, const pp_analysis *a,
                  pp_plan *out, char *why);
void pp_plan_free(pp_plan *p);

/* Makes the body of a call of type 'type' built earlier (the plan's 'body', changed in place)
 * fit to be sent at Unix time 'now': a silence starts at 'now' and ends its duration later (the
 * times of planning would shorten, or void, one approved after a delay). Other types are sent
 * as planned. Returns RT_OK, or RT_EINPUT when a silence's times cannot be read. */
int pp_plan_retime(json_t *body, const char *type, double now);

/* The plan as the JSON kept with the action: { method, path, headers, body }. */
json_t *pp_plan_json(const pp_plan *p);

/* ---- the mitigation policy (pp_policy.c) ----------------------------------------------------- */

/* What has run under a policy within its window, as Redis counts it (pp_chain.lua). */
typedef struct pp_usage {
    int per_service;   /* executions on this service */
    int services;      /* distinct services acted on */
    bool service_seen; /* this service is one of them */
} pp_usage;

/* The policy that governs mitigation 'name' on 'service': the first whose services and
 * actions globs both match; NULL when none does. */
const rt_policy *pp_policy_find(const rt_config *c, const char *service, const char *name);

/* Decides whether mitigation 'name' on 'service', backed by a top finding of 'confidence', may
 * run at Unix time 'now': a policy must allow it, the confidence reach its minimum, no freeze
 * hold, and with 'usage' (NULL: not counted yet) the rate limit and blast radius leave room.
 * Returns RT_OK, or RT_ELIMIT with the reason in 'why' (256 bytes). '*policy' is the policy
 * that decided (NULL when none matched). */
int pp_policy_decide(const rt_config *c, const char *service, const char *name, double confidence,
                     double now, const pp_usage *usage, const rt_policy **policy, char *why);

/* True when a freeze of 'p' holds at 'now'; 'reason' (256 bytes) then says which. */
bool pp_policy_frozen(const rt_policy *p, double now, char *reason);

/* ---- the action chain in Redis (pp_chain.c) -------------------------------------------------- */

/* States of an action (docs/operating.md, the safety chain). */
#define PP_STATES(XX)                                                                              \
    XX(PLANNED, "planned")                                                                         \
    XX(DRY_RUN, "dry_run")                                                                         \
    XX(POLICY_DENIED, "policy_denied")                                                             \
    XX(AWAITING_APPROVAL, "awaiting_approval")                                                     \
    XX(APPROVED, "approved")                                                                       \
    XX(REJECTED, "rejected")                                                                       \
    XX(EXPIRED, "expired")                                                                         \
    XX(EXECUTING, "executing")                                                                     \
    XX(RETRYING, "retrying")                                                                       \
    XX(SUCCEEDED, "succeeded")                                                                     \
    XX(FAILED, "failed")                                                                           \
    XX(VERIFYING, "verifying")                                                                     \
    XX(VERIFIED, "verified")                                                                       \
    XX(VERIFY_FAILED, "verify_failed")

typedef struct pp_chain pp_chain;

/* A handle on the chain's keys over connection 'redis' (not owned; commands go on it) with key
 * prefix 'prefix' (the queue's). The function library is loaded when missing or older. */
pp_chain *pp_chain_new(rt_redis *redis, const char *prefix);
/* Forgets the handle; replies still due find it gone (they are cancelled with the connection,
 * which the caller closes first). Accepts NULL. */
void pp_chain_free(pp_chain *ch);
/* The key of 'what' ("results", "audit", "actions") into 'out' of 'size' bytes. */
void pp_chain_key(const pp_chain *ch, const char *what, char *out, size_t size);
/* The key of the hash of action 'id' into 'out' of 'size' bytes. */
void pp_action_key(const pp_chain *ch, const char *id, char *out, size_t size);

/* How a call ended: 'rc' RT_OK with 'reply' (valid during the callback only), or an error with
 * 'msg'. An error reply whose first word is an rt error name maps to that code: RT_ENOTFOUND (no
 * such action), RT_EUSAGE (not in a state that allows it; 'msg' names the state). */
typedef void (*pp_chain_fn)(int rc, const char *msg, const redisReply *reply, void *ud);

/* Calls function 'fn' of the library with 'nkeys' keys then 'nargs' arguments (the prefix is
 * added as the first argument), loading the library first when Redis lacks it. Returns RT_OK,
 * after which 'done' runs once; or RT_EBACKEND/RT_ELIMIT as rt_redis_command. */
int pp_chain_call(pp_chain *ch, const char *fn, int nkeys, const char *const *keys, int nargs,
                  const char *const *args, pp_chain_fn done, void *ud);

/* An action as Redis keeps it, as a JSON object for the API and the command line (borrowed
 * from nothing: the caller owns it): the fields of the hash, with 'spec' and 'plan' parsed. */
json_t *pp_action_json(const redisReply *flat);

/* ---- the audit log (pp_audit.c) ----------------------------------------------------------------
 */

/* One audit record of a stream entry ('entry' an XRANGE item) as a JSON object: seq, at (RFC
 * 3339), action, analysis, analyzer, team, rule, type, name, service, from, to, actor, reason. NULL
 * when it is not one. */
json_t *pp_audit_json(const redisReply *entry);
/* The stream id from which records at or after Unix time 'since' start ("1700000000000-0"). */
void pp_audit_since(double since, char *out, size_t size);

/* ---- the post-processor (pp_postproc.c) ------------------------------------------------------ */

typedef struct pp_postproc pp_postproc;

typedef struct pp_postproc_options {
    const rt_config *config;       /* not owned; outlives the post-processor */
    rt_queue *queue;               /* not owned: the queue, for follow-up analyses and its prefix */
    const rt_redis_options *redis; /* for its own blocking connection (copied) */
    const char *base_url;          /* links to analyses, no trailing slash */
    void (*log)(const char *level, const char *msg, json_t *fields); /* steals 'fields' */
} pp_postproc_options;

/* Starts consuming the results stream on 'loop' and running actions. Reads the connectors'
 * secrets at once: NULL with 'why' (256 bytes) when one cannot be read or a connector is bad. */
pp_postproc *pp_postproc_new(uv_loop_t *loop, const pp_postproc_options *o, char *why);
/* Stops taking new results and actions; 'done'('ud') is called once nothing is in flight. */
void pp_postproc_drain(pp_postproc *p, void (*done)(void *ud), void *ud);
/* Frees it after pp_postproc_drain's callback (or at once, abandoning what is in flight: its
 * actions are taken over when their lease expires). The caller runs the loop afterwards until
 * it is idle. Accepts NULL. */
void pp_postproc_free(pp_postproc *p);
/* Seconds the calls in flight may still take: the longest timeout of their connectors (0 when
 * none is out). A drain that gives up sooner cuts a call whose outcome then goes unrecorded. */
double pp_postproc_calls_timeout(const pp_postproc *p);
/* Runs on with 'config' (not owned; it and the config it replaces outlive the post-processor:
 * actions in flight keep their connectors) from the next result and action on: rules, policies,
 * connectors and postproc settings. Returns RT_OK; or RT_EINPUT with 'why' (256 bytes) when a
 * connector's credential cannot be read or redis.url or queue.prefix changed, and the running
 * config stays. */
int pp_postproc_reload(pp_postproc *p, const rt_config *config, char *why);
/* The consumer name it uses in the results group and in audit records. */
const char *pp_postproc_consumer(const pp_postproc *p);

#endif
