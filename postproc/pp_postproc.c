/* postproc/pp_postproc.c -- the post-processor at work: consumes finished analyses from the
 * results stream with a consumer group, records the actions the rules plan for them, and runs
 * the actions that are due. Used by `inquest postproc` and, embedded, by `inquest serve`.
 *
 * Design notes. Two flows, both at-least-once and both safe to run in several processes:
 *   results:  XREADGROUP (own connection, BLOCK) → for each analysis of the entry (one entry
 *             per call that made analyses final: a line each) read the analysis → match rules →
 *             build each action's call (pp_actions.c) → decide its first state (dry run,
 *             policy, approval) → inquest_pp_record, which records the actions; once every
 *             analysis of the entry is recorded, inquest_pp_record acknowledges the entry. An
 *             entry whose process died before that is pending in the group; XAUTOCLAIM gives it
 *             to a live process after postproc.claim_idle, which plans its analyses again.
 *             Action ids are derived from the analysis, rule and index, so planning twice
 *             records once.
 *   actions:  every tick, the ids due in {P}:pp:due → inquest_pp_begin moves one to executing
 *             under this consumer with a lease, or says another holds it → the policy again, with
 *             the counts Redis reserved (a mitigation) → the HTTP call with its Idempotency-Key →
 *             inquest_pp_finish: succeeded (or verifying, after submitting the follow-up
 *             analysis), failed, or retrying with backoff. A call that fails for the target's
 *             sake (5xx, 429, no answer) is retried up to postproc.retries times; a 4xx is
 *             final. When a process dies mid-call, the lease runs out and begin hands the action
 *             to another: sent again if the endpoint honours Idempotency-Key, else failed as
 *             "outcome unknown" rather than sent twice.
 * Jobs (an analysis being planned, an action being run) are listed so that freeing the
 * post-processor can detach them: a reply that arrives later finds its job detached and only
 * frees it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pp.h"
#include "rt_http.h"

#define TICK_MS       250
#define READ_BLOCK_MS 1000
#define READ_COUNT    "16"
#define DUE_BATCH     "16"
#define MAX_JOBS      256        /* analyses and actions in flight; reading waits beyond */
#define MAX_BACKOFF   300.0      /* seconds between retries, at most */
#define OUTCOME_BODY  512        /* bytes of a response kept in the action's outcome */
#define VERIFY_TTL    86400000.0 /* ms a follow-up analysis may take to be recognised, at least */

typedef struct target {
    const rt_connector *conn;
    rt_http_target *http;
} target;

typedef struct job job;

/* The analyses of one results entry being planned: the entry is acknowledged once each has its
 * actions recorded. Shared by their jobs; freed with the last. */
typedef struct entry_batch {
    char entry[64];
    size_t left; /* analyses not ended yet */
    bool failed; /* one was not recorded: the entry stays pending, to be taken again */
} entry_batch;

struct pp_postproc {
    uv_loop_t *loop;
    const rt_config *c;
    rt_queue *queue;
    pp_chain *chain;
    rt_redis *reader;
    rt_http *http;
    target *targets;
    size_t n_targets;
    target **retired; /* owned: the targets of configs a reload replaced (their connections are
                         the client's, freed with it; calls in flight may still use them) */
    size_t n_retired;
    char consumer[128], actor[160];
    char k_results[192], k_audit[192], k_actions[192], k_due[192];
    char *base_url;
    char claim_cursor[64]; /* where the next XAUTOCLAIM starts: the last one's answer */
    uv_timer_t tick;
    unsigned ticks;
    bool grouped, initing, reading, claiming, polling, draining, closing;
    bool ready;       /* the results group was made once */
    bool tick_closed; /* freed once the timer is closed and no XAUTOCLAIM reply is due */
    job *jobs;        /* in flight */
    size_t n_jobs;
    void (*log)(const char *level, const char *msg, json_t *fields);
    void (*drained)(void *ud);
    void *drained_ud;
};

/* An analysis being planned, or an action being run. */
struct job {
    job *prev, *next;
    pp_postproc *p;     /* NULL once detached */
    char entry[64];     /* the acknowledgement of a results entry: that entry */
    entry_batch *batch; /* analysis: its entry's analyses */
    bool recorded;      /* analysis: its actions are recorded */
    char id[PP_ID_SIZE > RT_QUEUE_ID_SIZE ? PP_ID_SIZE : RT_QUEUE_ID_SIZE];
    json_t *spec;       /* action: its spec (owned) */
    int attempts;       /* action: this attempt's number */
    rt_http_call *call; /* action: the call in flight */
    json_t *outcome;    /* action: what the call got (owned) */
    /* action: the end of the attempt, kept until Redis has recorded it (inquest_pp_finish is
     * sent again every tick while it is not): an outcome never recorded leaves the action
     * executing, and once its lease ran out it would be taken over and perhaps sent again. */
    char *end_outcome, *end_reason; /* owned; end_outcome NULL: not ended */
    double end_retry_in;
    bool end_unrecorded; /* the last inquest_pp_finish failed: send it again */
    bool end_warned;     /* that was logged */
};

/* Milliseconds the link of a follow-up analysis to its action is kept. */
static double verify_ttl(const pp_postproc *p) {
    return fmax(VERIFY_TTL, p->c->postproc.verify_timeout * 1000);
}

static void say(pp_postproc *p, const char *level, const char *msg, json_t *fields) {
    if (p->log)
        p->log(level, msg, fields);
    else
        json_decref(fields);
}

/* ---- jobs ----------------------------------------------------------------------------------- */

static job *job_new(pp_postproc *p) {
    job *j = rt_xcalloc(1, sizeof *j);
    j->p = p;
    j->next = p->jobs;
    if (j->next)
        j->next->prev = j;
    p->jobs = j;
    p->n_jobs++;
    return j;
}

static void maybe_drained(pp_postproc *p);
static void batch_end_one(pp_postproc *p, entry_batch *b, bool recorded);

static void job_free(job *j) {
    json_decref(j->spec);
    json_decref(j->outcome);
    free(j->end_outcome);
    free(j->end_reason);
    free(j);
}

/* Ends 'j': unlinks it (unless detached) and frees it. */
static void job_end(job *j) {
    pp_postproc *p = j->p;
    entry_batch *batch = j->batch;
    bool recorded = j->recorded;
    if (p) {
        if (j->prev)
            j->prev->next = j->next;
        else
            p->jobs = j->next;
        if (j->next)
            j->next->prev = j->prev;
        p->n_jobs--;
    }
    job_free(j);
    if (batch)
        batch_end_one(p, batch, recorded);
    if (p)
        maybe_drained(p);
}

/* ---- connectors ----------------------------------------------------------------------------- */

/* A target for each http connector of config 'c', into '*out' (owned) and '*n'. Each call is
 * retried by the post-processor itself (each attempt audited), never by the HTTP client. */
static int open_targets(pp_postproc *p, const rt_config *c, target **out, size_t *n, char *why) {
    target *targets = rt_xcalloc(c->n_connectors + 1, sizeof *targets);
    *out = targets;
    *n = 0;
    for (size_t i = 0; i < c->n_connectors; i++) {
        const rt_connector *rc = &c->connectors[i];
        if (rc->type != RT_CONNECTOR_HTTP)
            continue;
        char reason[256];
        rt_connector_creds creds;
        if (rt_connector_creds_load(rc, &creds, reason) != RT_OK) {
            snprintf(why, 256, "connector %s: credential: %.200s", rc->name, reason);
            return RT_EINPUT;
        }
        rt_http_target_options o = {.name = rc->name,
                                    .base_url = creds.base_url,
                                    .timeout = rc->timeout,
                                    .max_response = rc->max_response,
                                    .rate_limit = rc->rate_limit,
                                    .concurrency = rc->concurrency,
                                    .retries = -1,
                                    .tls_verify = rc->tls_verify,
                                    .headers = (const char *const *)creds.headers,
                                    .n_headers = creds.n_headers,
                                    .secrets = (const char *const *)creds.secrets,
                                    .n_secrets = creds.n_secrets};
        rt_http_target *t = rt_http_target_new(p->http, &o, reason);
        rt_connector_creds_free(&creds);
        if (!t) {
            snprintf(why, 256, "connector %s: %.200s", rc->name, reason);
            return RT_EINPUT;
        }
        targets[(*n)++] = (target){rc, t};
    }
    return RT_OK;
}

static const target *target_of(const pp_postproc *p, const char *name) {
    for (size_t i = 0; name && i < p->n_targets; i++)
        if (strcmp(p->targets[i].conn->name, name) == 0)
            return &p->targets[i];
    return NULL;
}

/* ---- planning ------------------------------------------------------------------------------- */

/* The seconds an attempt of an action through 'connector' may hold it: its calls' timeout and
 * a margin, so that a live holder's lease never runs out under it. */
static double lease_for(const pp_postproc *p, const char *connector) {
    const rt_connector *rc = rt_config_connector(p->c, connector);
    return fmax(p->c->postproc.lease, (rc ? rc->timeout : 0) + 5);
}

static double confidence_of(const pp_analysis *a) {
    return json_number_value(json_object_get(a->top, "confidence"));
}

/* The first state of a planned action, and why: what the rule and the policy say before
 * anything runs. */
static const char *first_state(const pp_postproc *p, const rt_rule *r, const rt_action *ac,
                               const pp_analysis *a, const pp_plan *plan, int built,
                               const char *built_why, const rt_policy **policy, char *why) {
    *policy = NULL;
    if (built != RT_OK) {
        snprintf(why, 256, "cannot build the call: %s", built_why);
        return "failed";
    }
    if (ac->type == RT_ACTION_MITIGATION &&
        pp_policy_decide(p->c, plan->service, plan->name, confidence_of(a), rt_wallclock(), NULL,
                         policy, why) != RT_OK)
        return "policy_denied";
    if (r->dry_run) {
        snprintf(why, 256, "dry run: would send the call its plan shows (%.200s)", plan->summary);
        return "dry_run";
    }
    if (ac->approval) {
        snprintf(why, 256, "waits for a person: inquest actions approve %s", plan->id);
        return "awaiting_approval";
    }
    *why = '\0';
    return "planned";
}

static json_t *verify_json(const rt_action *ac, const pp_analysis *a) {
    if (!ac->verify.analyzer)
        return json_null();
    json_t *inputs = json_object(), *expect = json_array();
    for (size_t i = 0; i < ac->verify.n_inputs; i++) {
        char *v = pp_render(ac->verify.inputs[i].text, a);
        json_object_set_new(inputs, ac->verify.inputs[i].name, rt_json_text(v, strlen(v)));
        free(v);
    }
    for (size_t i = 0; i < ac->verify.n_expect; i++)
        json_array_append_new(expect, json_string(ac->verify.expect[i]));
    return json_pack("{s:s, s:o, s:o}", "analyzer", ac->verify.analyzer, "inputs", inputs, "expect",
                     expect);
}

/* The action as inquest_pp_record takes it: { id, state, reason, spec } with its spec as JSON
 * text, which Redis keeps as it is. */
static json_t *planned_json(const pp_postproc *p, const rt_rule *r, size_t index,
                            const pp_analysis *a) {
    const rt_action *ac = &r->actions[index];
    pp_plan plan;
    char built_why[256] = "", why[256] = "";
    const rt_policy *policy = NULL;
    int built = pp_plan_build(p->c, r, index, a, &plan, built_why);
    const char *state = first_state(p, r, ac, a, &plan, built, built_why, &policy, why);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:f, s:o, s:s, s:o}",
        "id", plan.id, "analysis", a->id, "analyzer", a->analyzer, "team", a->team, "rule", r->name,
        "index", (int)index, "type", rt_action_type_name(ac->type), "name", plan.name, "service",
        plan.service, "connector", ac->connector, "dry_run", r->dry_run, "approval", ac->approval,
        "idempotent", ac->idempotent, "confidence", confidence_of(a), "plan", pp_plan_json(&plan),
        "summary", plan.summary, "verify", verify_json(ac, a));
    json_object_set_new(o, "lease_ms", json_real(lease_for(p, ac->connector) * 1000));
    if (policy)
        json_object_set_new(o, "policy",
                            json_pack("{s:s, s:f, s:i, s:i}", "name", policy->name, "window_ms",
                                      policy->window * 1000, "max_per_service",
                                      policy->max_per_service, "blast_radius",
                                      policy->blast_radius));
    char *spec = json_dumps(o, JSON_COMPACT);
    json_t *out = json_pack("{s:s, s:s, s:s, s:s}", "id", plan.id, "state", state, "reason", why,
                            "spec", spec);
    free(spec);
    json_decref(o);
    pp_plan_free(&plan);
    return out;
}

static void on_recorded(int rc, const char *msg, const redisReply *reply, void *ud) {
    job *j = ud;
    pp_postproc *p = j->p;
    (void)reply;
    if (!p) {
        job_end(j);
        return;
    }
    if (rc != RT_OK) /* the entry stays pending: XAUTOCLAIM brings it back */
        say(p, "warn", "actions not recorded; the result will be taken again",
            json_pack("{s:s, s:s}", "analysis", j->id, "reason", msg));
    j->recorded = rc == RT_OK;
    job_end(j);
}

/* Records what the rules plan for analysis 'a' of job 'j' (NULL: it is gone, or 'j' is the
 * acknowledgement of an entry, which records nothing and acknowledges it). */
static void record(job *j, const pp_analysis *a) {
    pp_postproc *p = j->p;
    json_t *actions = json_array();
    const char *tag = "";
    /* A follow-up analysis checks an action: no rule acts on it (a mitigation that fires on the
     * check of a mitigation would chain them). */
    const char *verifies =
        a ? json_string_value(json_object_get(a->labels, "inquest_verifies")) : NULL;
    for (size_t i = 0; a && !verifies && i < p->c->n_rules; i++) {
        const rt_rule *r = &p->c->rules[i];
        if (!pp_rule_matches(r, a))
            continue;
        for (size_t k = 0; k < r->n_actions; k++)
            json_array_append_new(actions, planned_json(p, r, k, a));
    }
    if (a)
        tag = json_string_value(json_object_get(json_object_get(a->result, "conclusion"), "tag"));
    char retention[32], ttl[32], vttl[32], approval_ttl[32];
    snprintf(vttl, sizeof vttl, "%.0f", verify_ttl(p));
    snprintf(approval_ttl, sizeof approval_ttl, "%.0f", p->c->postproc.approval_ttl * 1000);
    snprintf(retention, sizeof retention, "%.0f", p->c->postproc.audit_retention * 1000);
    snprintf(ttl, sizeof ttl, "%.0f", p->c->postproc.action_ttl * 1000);
    char *text = json_dumps(actions, JSON_COMPACT);
    const char *keys[] = {p->k_results, p->k_audit, p->k_actions, p->k_due};
    const char *args[] = {
        j->entry, j->id, a ? a->status : "",       tag ? tag : "", retention,   ttl,
        p->actor, text,  verifies ? verifies : "", vttl,           approval_ttl};
    if (json_array_size(actions))
        say(p, "info", "actions planned",
            json_pack("{s:s, s:i}", "analysis", j->id, "actions", (int)json_array_size(actions)));
    if (pp_chain_call(p->chain, "inquest_pp_record", 4, keys, 11, args, on_recorded, j) != RT_OK)
        job_end(j);
    free(text);
    json_decref(actions);
}

static void on_analysis(int rc, const char *msg, const rt_queue_analysis *qa, void *ud) {
    job *j = ud;
    pp_postproc *p = j->p;
    if (!p) {
        job_end(j);
        return;
    }
    if (rc == RT_ENOTFOUND) { /* expired before it was seen: nothing to do but acknowledge */
        record(j, NULL);
        return;
    }
    if (rc != RT_OK) {
        say(p, "warn", "cannot read a finished analysis; it will be taken again",
            json_pack("{s:s, s:s}", "analysis", j->id, "reason", msg));
        job_end(j);
        return;
    }
    pp_analysis a;
    pp_analysis_init(&a, qa->id, qa->analyzer, qa->team, qa->status, qa->labels, qa->result,
                     qa->result_len, p->base_url);
    record(j, &a);
    pp_analysis_free(&a);
}

/* One analysis of batch 'b' ended, 'recorded' or not. After the last, the entry is acknowledged
 * when each was recorded (unless the post-processor is being freed: it stays pending). */
static void batch_end_one(pp_postproc *p, entry_batch *b, bool recorded) {
    b->failed = b->failed || !recorded;
    if (--b->left > 0)
        return;
    if (p && !p->closing && !b->failed) {
        job *ack = job_new(p);
        snprintf(ack->entry, sizeof ack->entry, "%s", b->entry);
        record(ack, NULL);
    }
    free(b);
}

/* One entry of the results stream: [entry id, [field, value, …]], a line per analysis
 * (rt_queue_ended_text); lines that name no analysis are passed over. */
static void take_entry(pp_postproc *p, const redisReply *e) {
    const redisReply *f =
        e && e->type == REDIS_REPLY_ARRAY && e->elements == 2 ? e->element[1] : NULL;
    char why[256], line[RT_QUEUE_ENDED_LINE];
    if (!f || f->type != REDIS_REPLY_ARRAY || e->element[0]->type != REDIS_REPLY_STRING)
        return; /* a deleted entry (XAUTOCLAIM reports nil) */
    const char *at = rt_queue_ended_text(f, line, sizeof line);
    entry_batch *b = rt_xcalloc(1, sizeof *b);
    snprintf(b->entry, sizeof b->entry, "%s", e->element[0]->str);
    b->left = 1; /* held while the analyses start, so that none acknowledges the entry early */
    rt_queue_ended ended;
    while (rt_queue_next_ended(&at, &ended)) {
        if (!ended.id[0])
            continue;
        job *j = job_new(p);
        j->batch = b;
        b->left++;
        snprintf(j->id, sizeof j->id, "%s", ended.id);
        if (rt_queue_get(p->queue, j->id, on_analysis, j, why) != RT_OK)
            job_end(j); /* not recorded: the entry stays pending, taken again later */
    }
    batch_end_one(p, b, true);
}

/* ---- reading the results stream ------------------------------------------------------------- */

static void read_results(pp_postproc *p);

static void on_read(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    pp_postproc *p = ud;
    (void)r;
    p->reading = false;
    if (p->closing || rc == RT_ECANCELED)
        return;
    if (rc != RT_OK) {
        if (strstr(msg, "NOGROUP"))
            p->grouped = false; /* the stream was deleted: make the group again */
        return;                 /* the next tick tries again */
    }
    const redisReply *entries = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                                        reply->element[0]->type == REDIS_REPLY_ARRAY &&
                                        reply->element[0]->elements == 2
                                    ? reply->element[0]->element[1]
                                    : NULL;
    for (size_t i = 0; entries && i < entries->elements; i++)
        take_entry(p, entries->element[i]);
    read_results(p);
}

static void read_results(pp_postproc *p) {
    char block[16];
    if (p->reading || p->draining || p->closing || !p->grouped || p->n_jobs >= MAX_JOBS ||
        !rt_redis_is_up(p->reader))
        return;
    snprintf(block, sizeof block, "%d", READ_BLOCK_MS);
    const char *argv[] = {"XREADGROUP", "GROUP", "postproc", p->consumer,  "COUNT", READ_COUNT,
                          "BLOCK",      block,   "STREAMS",  p->k_results, ">"};
    p->reading = rt_redis_command_timeout(p->reader, READ_BLOCK_MS / 1000.0 + 5, 11, argv, NULL,
                                          on_read, p) == RT_OK;
}

static void on_claimed(int rc, const char *msg, const redisReply *reply, void *ud) {
    pp_postproc *p = ud;
    p->claiming = false;
    if (p->closing) {
        if (p->tick_closed)
            free(p);
        return;
    }
    if (rc == RT_ECANCELED)
        return;
    if (rc != RT_OK || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
        if (rc != RT_OK)
            say(p, "warn", "cannot take over stale results", json_pack("{s:s}", "reason", msg));
        return;
    }
    const redisReply *cursor = reply->element[0], *entries = reply->element[1],
                     *gave = reply->element[2];
    if (cursor->type == REDIS_REPLY_STRING)
        snprintf(p->claim_cursor, sizeof p->claim_cursor, "%s", cursor->str);
    for (size_t i = 0; gave->type == REDIS_REPLY_ARRAY && i < gave->elements; i++)
        if (gave->element[i]->type == REDIS_REPLY_STRING)
            say(p, "warn", "a result was given up: taken too often, never recorded",
                json_pack("{s:s, s:i}", "entry", gave->element[i]->str, "max_deliveries",
                          p->c->postproc.max_deliveries));
    for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++)
        take_entry(p, entries->element[i]);
}

/* Takes over results that a consumer took and did not acknowledge within claim_idle: its
 * process died, or Redis refused its record. The scan goes on from where the last one ended
 * (XAUTOCLAIM's cursor; "0-0" again once it has been through), so that a full page of entries
 * that stay pending cannot hide those after them; one taken more than postproc.max_deliveries
 * times is given up (inquest_pp_claim). */
static void claim_stale(pp_postproc *p) {
    char idle[32], max[16], retention[32];
    if (p->claiming || p->draining || !p->grouped || p->n_jobs >= MAX_JOBS)
        return;
    snprintf(idle, sizeof idle, "%.0f", p->c->postproc.claim_idle * 1000);
    snprintf(max, sizeof max, "%d", p->c->postproc.max_deliveries);
    snprintf(retention, sizeof retention, "%.0f", p->c->postproc.audit_retention * 1000);
    const char *keys[] = {p->k_results, p->k_audit};
    const char *args[] = {p->consumer, idle, p->claim_cursor, READ_COUNT, max, p->actor, retention};
    p->claiming =
        pp_chain_call(p->chain, "inquest_pp_claim", 2, keys, 7, args, on_claimed, p) == RT_OK;
}

static void on_init(int rc, const char *msg, const redisReply *reply, void *ud) {
    pp_postproc *p = ud;
    (void)reply;
    if (rc == RT_ECANCELED || p->closing)
        return;
    p->initing = false;
    p->grouped = rc == RT_OK;
    if (rc != RT_OK)
        say(p, "warn", "cannot make the results group", json_pack("{s:s}", "reason", msg));
    else {
        /* Ready: analyses that end from now on are seen (a new group starts at the end). */
        if (!p->ready)
            say(p, "info", "postproc ready",
                json_pack("{s:s, s:i, s:i}", "consumer", p->consumer, "rules", (int)p->c->n_rules,
                          "policies", (int)p->c->n_policies));
        p->ready = true;
        read_results(p);
    }
}

/* ---- running actions ------------------------------------------------------------------------ */

static void send_finish(job *j);

/* The last inquest_pp_finish of 'j' failed: the tick sends it again (logged once). */
static void unrecorded(job *j, const char *why) {
    j->end_unrecorded = true;
    if (!j->end_warned)
        say(j->p, "warn", "an action's outcome was not recorded; trying again until it is",
            json_pack("{s:s, s:s, s:s}", "action", j->id, "outcome", j->end_outcome, "reason",
                      why));
    j->end_warned = true;
}
static void verify(job *j);

static void on_finished(int rc, const char *msg, const redisReply *reply, void *ud) {
    job *j = ud;
    pp_postproc *p = j->p;
    if (!p) {
        job_end(j);
        return;
    }
    if (rc != RT_OK) { /* kept: the next tick sends it again, until Redis records it */
        unrecorded(j, msg);
        return;
    }
    if (reply && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "lost") == 0)
        say(p, "warn", "an action's outcome came after its lease ran out; audited, not applied",
            json_pack("{s:s, s:s, s:i}", "action", j->id, "outcome", j->end_outcome, "attempt",
                      j->attempts));
    else if (reply && reply->type == REDIS_REPLY_STRING) {
        say(p, "info", "action",
            json_pack("{s:s, s:s, s:i}", "action", j->id, "state", reply->str, "attempt",
                      j->attempts));
        if (strcmp(reply->str, "verifying") == 0) {
            verify(j); /* recorded as verifying, with its deadline: now queue the follow-up */
            return;
        }
    }
    job_end(j);
}

static void send_finish(job *j) {
    pp_postproc *p = j->p;
    char retry[32], retention[32], ttl[32], vttl[32];
    snprintf(retry, sizeof retry, "%.0f", j->end_retry_in * 1000);
    snprintf(retention, sizeof retention, "%.0f", p->c->postproc.audit_retention * 1000);
    snprintf(ttl, sizeof ttl, "%.0f", p->c->postproc.action_ttl * 1000);
    snprintf(vttl, sizeof vttl, "%.0f", p->c->postproc.verify_timeout * 1000);
    char key[256], *detail = j->outcome ? json_dumps(j->outcome, JSON_COMPACT) : NULL;
    pp_action_key(p->chain, j->id, key, sizeof key);
    const char *keys[] = {key, p->k_due, p->k_audit};
    const char *args[] = {
        j->id, p->actor, j->end_outcome, j->end_reason, detail ? detail : "{}", retry, retention,
        ttl,   vttl};
    j->end_unrecorded = false;
    if (pp_chain_call(p->chain, "inquest_pp_finish", 3, keys, 9, args, on_finished, j) != RT_OK)
        unrecorded(j, "Redis is not connected");
    free(detail);
}

/* Ends the attempt of 'j' with 'outcome' (see inquest_pp_finish), kept until it is recorded. */
static void finish(job *j, const char *outcome, const char *reason, double retry_in) {
    free(j->end_outcome);
    free(j->end_reason);
    j->end_outcome = rt_xstrdup(outcome);
    j->end_reason = rt_xstrdup(reason);
    j->end_retry_in = retry_in;
    send_finish(j);
}

static void on_linked(int rc, const char *msg, const redisReply *reply, void *ud) {
    job *j = ud;
    if (j->p && rc != RT_OK) /* the deadline ends it, verify_failed */
        say(j->p, "warn", "a follow-up analysis was not linked to its action",
            json_pack("{s:s, s:s}", "action", j->id, "reason", msg));
    else if (j->p && reply && reply->type == REDIS_REPLY_STRING)
        say(j->p, "info", "action", json_pack("{s:s, s:s}", "action", j->id, "state", reply->str));
    job_end(j);
}

/* Links verifying action 'j' to its follow-up analysis 'analysis' ("" when it could not be
 * queued: verify_failed with 'reason'). */
static void link_verify(job *j, const char *analysis, const char *reason) {
    pp_postproc *p = j->p;
    char key[256], retention[32], ttl[32], vttl[32];
    pp_action_key(p->chain, j->id, key, sizeof key);
    snprintf(retention, sizeof retention, "%.0f", p->c->postproc.audit_retention * 1000);
    snprintf(ttl, sizeof ttl, "%.0f", p->c->postproc.action_ttl * 1000);
    snprintf(vttl, sizeof vttl, "%.0f", verify_ttl(p));
    const char *keys[] = {key, p->k_due, p->k_audit};
    const char *args[] = {j->id, analysis, reason, retention, ttl, vttl};
    if (pp_chain_call(p->chain, "inquest_pp_verify_link", 3, keys, 6, args, on_linked, j) != RT_OK)
        job_end(j); /* the deadline ends it */
}

static void on_verify_submitted(int rc, const char *msg, const rt_queue_submitted *out, size_t n,
                                void *ud) {
    job *j = ud;
    if (!j->p) {
        job_end(j);
        return;
    }
    if (rc != RT_OK || n != 1) {
        char reason[320];
        snprintf(reason, sizeof reason, "the follow-up analysis was refused: %.200s", msg);
        link_verify(j, "", reason);
        return;
    }
    link_verify(j, out[0].id, "");
}

/* Queues the follow-up analysis of a mitigation that succeeded and is recorded as verifying. It
 * carries the label inquest_verifies (rules plan nothing for it) and the action's id as its
 * dedup key for the verification's deadline, so that queueing it twice starts one analysis. */
static void verify(job *j) {
    pp_postproc *p = j->p;
    const json_t *v = json_object_get(j->spec, "verify");
    char why[256], labels[96];
    char *inputs = rt_json_canonical(json_object_get(v, "inputs"));
    snprintf(labels, sizeof labels, "{\"inquest_verifies\":\"%s\"}", j->id);
    rt_queue_request r = {.analyzer = json_string_value(json_object_get(v, "analyzer")),
                          .inputs = inputs ? inputs : "{}",
                          .priority = RT_PRIORITY_ALERT,
                          .dedup_key = j->id,
                          .dedup_window = p->c->postproc.verify_timeout,
                          .labels = labels};
    if (rt_queue_submit(p->queue, &r, 1, on_verify_submitted, j, why) != RT_OK) {
        char reason[320];
        snprintf(reason, sizeof reason, "the follow-up analysis could not be queued: %.200s", why);
        link_verify(j, "", reason);
    }
    free(inputs);
}

/* The reason of a call that did not succeed: the status or the kind of failure, never the
 * request's path or the client's message (which quotes it: a Slack webhook's path is its
 * secret). */
static void failure_reason(const job *j, const rt_http_response *res, char *out, size_t size) {
    const char *connector = json_string_value(json_object_get(j->spec, "connector"));
    if (res->error == RT_OK)
        snprintf(out, size, "%s: HTTP %ld", connector ? connector : "?", res->status);
    else
        snprintf(out, size, "%s: %s", connector ? connector : "?", rt_strerror(res->error));
}

/* What a response means for the action: 2xx succeeded; 4xx other than 408 and 429 failed (the
 * call itself is wrong: sending it again changes nothing). The rest is retried only when that
 * cannot act twice: the endpoint honours Idempotency-Key ('idempotent'), or the request never
 * left (no connection, no name) or was refused unprocessed (429). A non-idempotent call that may
 * have been processed (no answer, a 5xx, a dropped connection) ends failed, outcome unknown: a
 * note, a message, a ticket or a silence is never posted twice. */
static void on_response(const rt_http_response *res, void *ud) {
    job *j = ud;
    pp_postproc *p = j->p;
    j->call = NULL;
    size_t keep =
        res->len < OUTCOME_BODY ? res->len : rt_utf8_cut(res->body, res->len, OUTCOME_BODY);
    j->outcome = json_pack("{s:i, s:i, s:o, s:f, s:b}", "attempt", j->attempts, "status",
                           (int)res->status, "body", rt_json_text(res->body, keep), "seconds",
                           res->duration, "sent", res->sent);
    if (res->error != RT_OK)
        json_object_set_new(j->outcome, "error", json_string(rt_strerror(res->error)));
    char reason[200];
    if (res->error == RT_OK && res->status >= 200 && res->status < 300) {
        snprintf(reason, sizeof reason, "HTTP %ld", res->status);
        finish(j, json_is_object(json_object_get(j->spec, "verify")) ? "verifying" : "succeeded",
               reason, 0);
        return;
    }
    bool refused = res->error == RT_OK && res->status >= 400 && res->status < 500 &&
                   res->status != 408 && res->status != 429;
    bool unprocessed = !res->sent || (res->error == RT_OK && res->status == 429);
    bool idempotent = json_is_true(json_object_get(j->spec, "idempotent"));
    failure_reason(j, res, reason, sizeof reason);
    char why[512];
    if (refused) {
        snprintf(why, sizeof why, "%s (not retried: the target refused the call)", reason);
        finish(j, "failed", why, 0);
    } else if (!idempotent && !unprocessed) {
        snprintf(why, sizeof why,
                 "%s: outcome unknown (the target may have processed it); not sent again, as "
                 "the endpoint takes no Idempotency-Key",
                 reason);
        finish(j, "failed", why, 0);
    } else if (j->attempts > p->c->postproc.retries) {
        snprintf(why, sizeof why, "%s; gave up after the last attempt", reason);
        finish(j, "failed", why, 0);
    } else {
        double backoff = fmin(MAX_BACKOFF, p->c->postproc.retry_backoff * pow(2, j->attempts - 1));
        finish(j, "retry", reason, backoff);
    }
}

/* Sends the action's call, as planned. */
static void execute(job *j) {
    pp_postproc *p = j->p;
    const json_t *plan = json_object_get(j->spec, "plan"), *value;
    const target *t = target_of(p, json_string_value(json_object_get(j->spec, "connector")));
    if (!t) {
        finish(j, "failed", "its connector is no longer in the config", 0);
        return;
    }
    /* Times are of the call, not of its planning: a silence approved an hour later starts now. */
    if (pp_plan_retime(json_object_get(plan, "body"),
                       json_string_value(json_object_get(j->spec, "type")),
                       rt_wallclock()) != RT_OK) {
        finish(j, "failed", "its planned silence has no readable startsAt and endsAt", 0);
        return;
    }
    const json_t *headers = json_object_get(plan, "headers");
    size_t n = 0, cap = json_object_size(headers) + 1;
    char **lines = rt_xcalloc(cap, sizeof *lines);
    const char *name;
    json_object_foreach((json_t *)headers, name, value) {
        const char *v = json_string_value(value);
        size_t len = strlen(name) + (v ? strlen(v) : 0) + 3;
        lines[n] = rt_xmalloc(len);
        snprintf(lines[n++], len, "%s: %s", name, v ? v : "");
    }
    char *body = json_dumps(json_object_get(plan, "body"), JSON_COMPACT);
    rt_http_request req = {.method = RT_HTTP_POST,
                           .path = json_string_value(json_object_get(plan, "path")),
                           .body = body,
                           .body_len = body ? strlen(body) : 0,
                           .headers = (const char *const *)lines,
                           .n_headers = n};
    j->call = rt_http_start(t->http, &req, on_response, j);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    free(body);
}

static const rt_rule *rule_of(const pp_postproc *p, const char *name) {
    for (size_t i = 0; name && i < p->c->n_rules; i++)
        if (strcmp(p->c->rules[i].name, name) == 0)
            return &p->c->rules[i];
    return NULL;
}

/* Checks, just before the call, that the running config still wants it (the kill switch: delete
 * the rule or make it a dry run, and reload), and the policy once more with what Redis counted;
 * then runs the call. */
static void policy_then_execute(job *j, const pp_usage *usage) {
    pp_postproc *p = j->p;
    const rt_policy *policy;
    char why[256];
    const char *type = json_string_value(json_object_get(j->spec, "type"));
    const char *rule = json_string_value(json_object_get(j->spec, "rule"));
    const rt_rule *r = rule_of(p, rule);
    if (!r) {
        snprintf(why, sizeof why, "not sent: rule %.100s is no longer in the config",
                 rule ? rule : "?");
        finish(j, "withdrawn", why, 0);
        return;
    }
    if (r->dry_run) {
        snprintf(why, sizeof why, "not sent: rule %.100s is now a dry run", rule);
        finish(j, "dry_run", why, 0);
        return;
    }
    if (type && strcmp(type, "mitigation") == 0 &&
        pp_policy_decide(p->c, json_string_value(json_object_get(j->spec, "service")),
                         json_string_value(json_object_get(j->spec, "name")),
                         json_number_value(json_object_get(j->spec, "confidence")), rt_wallclock(),
                         usage, &policy, why) != RT_OK) {
        finish(j, "denied", why, 0);
        return;
    }
    execute(j);
}

static long long int_at(const redisReply *r, size_t i) {
    const redisReply *e = r && i < r->elements ? r->element[i] : NULL;
    return e && e->type == REDIS_REPLY_INTEGER ? e->integer : 0;
}

static void on_begun(int rc, const char *msg, const redisReply *reply, void *ud) {
    job *j = ud;
    pp_postproc *p = j->p;
    if (!p) {
        job_end(j);
        return;
    }
    const char *verdict = rc == RT_OK && reply && reply->type == REDIS_REPLY_ARRAY &&
                                  reply->elements > 0 &&
                                  reply->element[0]->type == REDIS_REPLY_STRING
                              ? reply->element[0]->str
                              : "";
    if (rc != RT_OK)
        say(p, "warn", "cannot take an action",
            json_pack("{s:s, s:s}", "action", j->id, "reason", msg));
    else if (strcmp(verdict, "interrupted") == 0)
        say(p, "warn", "an action was interrupted during its call; not sent again",
            json_pack("{s:s}", "action", j->id));
    else if (strcmp(verdict, "expired") == 0)
        say(p, "warn", "an action expired before it ran (postproc.approval_ttl); not run",
            json_pack("{s:s}", "action", j->id));
    if (strcmp(verdict, "execute") != 0 || reply->elements < 6 ||
        reply->element[5]->type != REDIS_REPLY_STRING) {
        job_end(j);
        return;
    }
    j->attempts = (int)int_at(reply, 1);
    pp_usage usage = {(int)int_at(reply, 2), (int)int_at(reply, 3), int_at(reply, 4) != 0};
    j->spec = json_loadb(reply->element[5]->str, reply->element[5]->len, 0, NULL);
    if (!j->spec) {
        finish(j, "failed", "its record is not readable", 0);
        return;
    }
    policy_then_execute(j, &usage);
}

static bool running_here(const pp_postproc *p, const char *id) {
    for (const job *j = p->jobs; j; j = j->next)
        if (!j->entry[0] && !j->batch && strcmp(j->id, id) == 0)
            return true;
    return false;
}

static void begin(pp_postproc *p, const char *id) {
    char key[256], lease[32], retention[32], ttl[32], approval_ttl[32];
    if (running_here(p, id) || p->n_jobs >= MAX_JOBS)
        return;
    job *j = job_new(p);
    snprintf(j->id, sizeof j->id, "%s", id);
    pp_action_key(p->chain, id, key, sizeof key);
    snprintf(lease, sizeof lease, "%.0f", p->c->postproc.lease * 1000);
    snprintf(retention, sizeof retention, "%.0f", p->c->postproc.audit_retention * 1000);
    snprintf(ttl, sizeof ttl, "%.0f", p->c->postproc.action_ttl * 1000);
    snprintf(approval_ttl, sizeof approval_ttl, "%.0f", p->c->postproc.approval_ttl * 1000);
    const char *keys[] = {key, p->k_due, p->k_audit};
    const char *args[] = {id, p->actor, lease, retention, ttl, approval_ttl};
    if (pp_chain_call(p->chain, "inquest_pp_begin", 3, keys, 6, args, on_begun, j) != RT_OK)
        job_end(j);
}

static void on_due(int rc, const char *msg, const redisReply *reply, void *ud) {
    pp_postproc *p = ud;
    (void)msg;
    if (rc == RT_ECANCELED || p->closing)
        return;
    p->polling = false;
    for (size_t i = 0; rc == RT_OK && reply && reply->type == REDIS_REPLY_ARRAY &&
                       i < reply->elements && !p->draining;
         i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING)
            begin(p, reply->element[i]->str);
}

static void poll_due(pp_postproc *p) {
    if (p->polling || p->draining || !rt_queue_is_up(p->queue))
        return;
    const char *keys[] = {p->k_due};
    const char *args[] = {DUE_BATCH};
    p->polling = pp_chain_call(p->chain, "inquest_pp_due", 1, keys, 1, args, on_due, p) == RT_OK;
}

/* ---- life ----------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t) {
    pp_postproc *p = t->data;
    for (job *j = p->jobs, *next; j; j = next) {
        next = j->next; /* send_finish may not end it, but be safe */
        if (j->end_unrecorded && rt_queue_is_up(p->queue))
            send_finish(j);
    }
    if (!rt_queue_is_up(p->queue) || p->draining)
        return;
    if (!p->grouped && !p->initing && !p->draining) {
        const char *keys[] = {p->k_results, p->k_actions, p->k_due};
        char approval_ttl[32];
        snprintf(approval_ttl, sizeof approval_ttl, "%.0f", p->c->postproc.approval_ttl * 1000);
        const char *args[] = {approval_ttl};
        p->initing =
            pp_chain_call(p->chain, "inquest_pp_init", 3, keys, 1, args, on_init, p) == RT_OK;
    }
    read_results(p);
    poll_due(p);
    unsigned every = (unsigned)fmax(1, p->c->postproc.claim_idle * 1000 / TICK_MS / 4);
    if (p->ticks++ % every == 0)
        claim_stale(p);
}

static void on_reader_state(rt_redis *r, bool up, const char *why, void *ud) {
    pp_postproc *p = ud;
    (void)r;
    say(p, up ? "info" : "warn", up ? "results reader up" : "results reader down",
        why && *why ? json_pack("{s:s}", "reason", why) : NULL);
    if (up)
        read_results(p);
}

pp_postproc *pp_postproc_new(uv_loop_t *loop, const pp_postproc_options *o, char *why) {
    pp_postproc *p = rt_xcalloc(1, sizeof *p);
    p->loop = loop;
    p->c = o->config;
    p->queue = o->queue;
    p->log = o->log;
    p->base_url = rt_xstrdup(o->base_url);
    p->http = rt_http_new(loop);
    rt_queue_consumer_name(p->consumer, sizeof p->consumer);
    snprintf(p->claim_cursor, sizeof p->claim_cursor, "0-0");
    snprintf(p->actor, sizeof p->actor, "postproc:%s", p->consumer);
    const char *prefix = o->config->queue.prefix;
    p->chain = pp_chain_new(rt_queue_redis(o->queue), prefix);
    pp_chain_key(p->chain, "results", p->k_results, sizeof p->k_results);
    pp_chain_key(p->chain, "audit", p->k_audit, sizeof p->k_audit);
    pp_chain_key(p->chain, "pp:actions", p->k_actions, sizeof p->k_actions);
    pp_chain_key(p->chain, "pp:due", p->k_due, sizeof p->k_due);
    uv_timer_init(loop, &p->tick);
    p->tick.data = p;
    if (open_targets(p, p->c, &p->targets, &p->n_targets, why) != RT_OK) {
        pp_postproc_free(p);
        return NULL;
    }
    rt_redis_options r = *o->redis;
    char name[64];
    snprintf(name, sizeof name, "%s-postproc", o->redis->name ? o->redis->name : "redis");
    r.name = name;
    r.on_state = on_reader_state;
    r.on_connect = NULL;
    r.ud = p;
    if (!(p->reader = rt_redis_new(loop, &r, why))) {
        pp_postproc_free(p);
        return NULL;
    }
    uv_timer_start(&p->tick, on_tick, 0, TICK_MS);
    return p;
}

static void maybe_drained(pp_postproc *p) {
    if (!p->draining || p->n_jobs || p->reading || !p->drained)
        return;
    void (*done)(void *) = p->drained;
    p->drained = NULL;
    done(p->drained_ud);
}

void pp_postproc_drain(pp_postproc *p, void (*done)(void *ud), void *ud) {
    p->draining = true;
    p->drained = done;
    p->drained_ud = ud;
    /* The tick goes on: it sends again the outcomes Redis has not recorded yet. */
    /* A blocking read in flight would hold the drain for up to a second: drop its connection. */
    rt_redis_close(p->reader);
    p->reader = NULL;
    p->reading = false;
    maybe_drained(p);
}

double pp_postproc_calls_timeout(const pp_postproc *p) {
    double longest = 0;
    for (const job *j = p->jobs; j; j = j->next) {
        const target *t =
            j->call ? target_of(p, json_string_value(json_object_get(j->spec, "connector"))) : NULL;
        if (t)
            longest = fmax(longest, t->conn->timeout);
    }
    return longest;
}

const char *pp_postproc_consumer(const pp_postproc *p) {
    return p->consumer;
}

int pp_postproc_reload(pp_postproc *p, const rt_config *config, char *why) {
    target *targets = NULL;
    size_t n = 0;
    const rt_config *old = p->c;
    if (strcmp(config->queue.prefix, old->queue.prefix) != 0 ||
        strcmp(config->redis_url, old->redis_url) != 0) {
        snprintf(why, 256, "redis.url and queue.prefix take a restart");
        return RT_EINPUT;
    }
    if (open_targets(p, config, &targets, &n, why) != RT_OK) {
        free(targets); /* what it opened is the client's: freed with it */
        return RT_EINPUT;
    }
    p->retired = rt_xrealloc(p->retired, (p->n_retired + 1) * sizeof *p->retired);
    p->retired[p->n_retired++] = p->targets;
    p->targets = targets;
    p->n_targets = n;
    p->c = config;
    say(p, "info", "postproc reloaded",
        json_pack("{s:i, s:i, s:i}", "rules", (int)config->n_rules, "policies",
                  (int)config->n_policies, "connectors", (int)n));
    return RT_OK;
}

static void on_tick_closed(uv_handle_t *h) {
    pp_postproc *p = h->data;
    p->tick_closed = true;
    if (!p->claiming) /* else its reply frees it */
        free(p);
}

void pp_postproc_free(pp_postproc *p) {
    if (!p)
        return;
    p->closing = true;
    /* Calls in flight are cancelled with the client; replies of Redis find their job detached. */
    for (job *j = p->jobs, *next; j; j = next) {
        next = j->next;
        j->p = NULL;
        if (j->call || j->end_unrecorded) /* no callback is due: rt_http_free cancels the call */
            job_free(j);
    }
    p->jobs = NULL;
    p->n_jobs = 0;
    rt_redis_close(p->reader);
    rt_http_free(p->http);
    pp_chain_free(p->chain);
    free(p->targets);
    for (size_t i = 0; i < p->n_retired; i++)
        free(p->retired[i]);
    free(p->retired);
    free(p->base_url);
    uv_timer_stop(&p->tick);
    uv_close((uv_handle_t *)&p->tick, on_tick_closed);
}
