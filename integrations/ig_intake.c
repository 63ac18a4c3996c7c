/* integrations/ig_intake.c -- the alert intake of `inquest serve` (docs/api.md, Intake): POST
 * /v1/intake/{alertmanager,grafana,pagerduty,opsgenie} and /v1/intake/generic/NAME. Checks the
 * source's credential or signature, parses the payload into alerts (ig_alert.c), asks the routes
 * what to start and resolve (ig_route.c), checks each start's inputs against its analyzer, and
 * sends the starts and resolves to the queue; counts every outcome for /metrics.
 *
 * Design notes. A request is refused whole, before anything is queued, when it is not allowed
 * (401) or its payload is malformed (400 naming the field). Otherwise the starts go in one
 * submit per RT_QUEUE_MAX_BATCH and the resolves in one resolve call, on the queue's one
 * connection, and the answer waits for all of them. A start whose inputs do not fit its analyzer
 * (a label value the input's pattern refuses, say) is not started and is reported in the
 * answer's "errors": the payload was fine, the route (or the analyzer) is what needs fixing, and
 * the sender must not retry for it. Nor is it lost: it goes to the queue's dead letters in the
 * same atomic call as the starts of its batch (rt_queue_submit_intake), with its analyzer, the
 * inputs as built, the route, the alert and the field errors, for an operator to see in
 * GET /v1/dead-letters and replay once the route is fixed; once per dedup window, as a start
 * would be. If Redis fails, the answer is 503 and the sender retries; dedup keys make the retry
 * start nothing twice, and record no misfit twice. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_intake.h"
#include "ig_serve.h"

#define MAX_ANALYSIS_LABELS 64 /* the API's cap on an analysis' labels */

/* ---- credentials ------------------------------------------------------------------------------
 */

typedef struct source_auth {
    char *expected;     /* owned: the auth header's expected value; NULL: no auth */
    const char *header; /* where it is: Authorization, or the configured header */
    rt_auth_type type;  /* of the auth: says the challenge of a 401 */
    char *signing;      /* owned: the HMAC secret; NULL: requests are not signed */
    size_t signing_len;
    const char *signature_header; /* the config's: where the signature is */
    rt_signature_format signature_format;
    const char *timestamp_header; /* the config's: a signed timestamp; NULL: none */
} source_auth;

struct ig_intake_auth {
    source_auth fixed[RT_INTAKE_SOURCES];
    source_auth *generic; /* owned, one per config->intake.generic */
    size_t n_generic;
};

static void source_auth_free(source_auth *a) {
    if (a->expected)
        rt_secret_free(a->expected, strlen(a->expected));
    rt_secret_free(a->signing, a->signing_len);
}

void ig_intake_auth_free(ig_intake_auth *auth) {
    if (!auth)
        return;
    for (int i = 0; i < RT_INTAKE_SOURCES; i++)
        source_auth_free(&auth->fixed[i]);
    for (size_t i = 0; i < auth->n_generic; i++)
        source_auth_free(&auth->generic[i]);
    free(auth->generic);
    free(auth);
}

/* Reads the secrets of 'src' (named 'name' in messages) into 'a'. */
static int read_source(const rt_intake_source *src, const char *name, source_auth *a, char *why) {
    char reason[256], *secret = NULL;
    size_t len = 0;
    if (!src->enabled)
        return RT_OK;
    if (src->auth.type != RT_AUTH_NONE) {
        if (rt_config_secret(&src->auth, &secret, &len, reason) != RT_OK) {
            snprintf(why, 256, "intake.%.64s.auth: %.*s", name, rt_utf8_fit(reason, 160), reason);
            return RT_EINPUT;
        }
        if (len == 0) { /* "" would let anyone in: header auth would expect an empty value */
            rt_secret_free(secret, len);
            snprintf(why, 256, "intake.%.64s.auth: the secret is empty", name);
            return RT_EINPUT;
        }
        a->expected = ig_auth_expected(&src->auth, secret, len);
        a->header = src->auth.type == RT_AUTH_HEADER ? src->auth.header : "Authorization";
        a->type = src->auth.type;
        rt_secret_free(secret, len);
    }
    if (src->signing.type == RT_AUTH_NONE)
        return RT_OK;
    if (rt_config_secret(&src->signing, &a->signing, &a->signing_len, reason) != RT_OK) {
        snprintf(why, 256, "intake.%.64s.signing_secret: %.*s", name, rt_utf8_fit(reason, 160),
                 reason);
        return RT_EINPUT;
    }
    if (a->signing_len == 0) { /* an HMAC under an empty key is one anyone can make */
        snprintf(why, 256, "intake.%.64s.signing_secret: the secret is empty", name);
        return RT_EINPUT;
    }
    a->signature_header = src->signature_header;
    a->signature_format = src->signature_format;
    a->timestamp_header = src->timestamp_header;
    return RT_OK;
}

int ig_intake_load(wk_engine *engine, const rt_config *config, ig_intake_auth **out, char *why) {
    ig_intake_auth *auth = rt_xcalloc(1, sizeof *auth);
    rt_diag problems = {0};
    int rc = RT_OK;
    *out = NULL;
    for (int i = 0; i < RT_INTAKE_SOURCES && rc == RT_OK; i++)
        rc = read_source(&config->intake.sources[i], rt_source_name((rt_source)i), &auth->fixed[i],
                         why);
    auth->generic = rt_xcalloc(config->intake.n_generic + 1, sizeof *auth->generic);
    auth->n_generic = config->intake.n_generic;
    for (size_t i = 0; i < config->intake.n_generic && rc == RT_OK; i++) {
        char name[96];
        snprintf(name, sizeof name, "generic.%.80s", config->intake.generic[i].name);
        rc = read_source(&config->intake.generic[i].source, name, &auth->generic[i], why);
    }
    if (rc == RT_OK && ig_routes_check(engine, config, &problems) > 0) {
        json_t *item;
        size_t i;
        json_array_foreach(problems.items, i, item)
            ig_log("error", "route does not fit its analyzer", json_deep_copy(item));
        json_t *first = json_array_get(problems.items, 0);
        const char *field = json_string_value(json_object_get(first, "field"));
        const char *message = json_string_value(json_object_get(first, "message"));
        size_t more = rt_diag_count(&problems) - 1;
        char also[64] = "";
        if (more)
            snprintf(also, sizeof also, " (and %zu more problem%s)", more, more == 1 ? "" : "s");
        field = field ? field : "routes";
        message = message ? message : "(no message)";
        snprintf(why, 256, "%.*s: %.*s%s", rt_utf8_fit(field, 60), field, rt_utf8_fit(message, 120),
                 message, also);
        rc = RT_EINPUT;
    }
    rt_diag_free(&problems);
    if (rc != RT_OK)
        ig_intake_auth_free(auth);
    else
        *out = auth;
    return rc;
}

/* ---- one request ------------------------------------------------------------------------------
 */

typedef struct intake_call {
    ig_serve *s;
    rt_httpd_req *req;
    rt_source source;
    ig_payload payload;
    ig_plan plan;
    json_t *analyses, *resolved, *errors;        /* the answer's lists */
    size_t started, deduplicated, late, stamped; /* counted in /metrics once the answer is 200 */
    size_t pending;                              /* queue calls in flight */
    int failed;                                  /* the first failure of a queue call, or RT_OK */
    char failed_msg[256];
} intake_call;

/* What one queue call carries: the steps of the plan it is about. */
typedef struct part {
    intake_call *c;
    size_t *steps; /* owned: indexes in c->plan.steps, in the call's order */
    size_t n;
    json_t **errors; /* owned array, borrowed entries of c->errors: one per misfit, in order */
    size_t m;
} part;

static void count(ig_serve *s, rt_source source, ig_intake_outcome outcome) {
    s->intake.requests[source][outcome]++;
}

/* Refuses 'req' with 'status' and counts and logs it. */
static void refuse(ig_serve *s, rt_httpd_req *req, rt_source source, ig_intake_outcome outcome,
                   int status, const char *code, const char *message) {
    count(s, source, outcome);
    ig_log("warn", "intake request refused",
           json_pack("{s:s, s:i, s:s, s:s, s:s}", "source", rt_source_name(source), "status",
                     status, "code", code, "reason", message, "remote", req->remote));
    if (status == 503)
        ig_retry_after(s, req);
    rt_httpd_error(req, status, code, "%s", message);
}

static void call_free(intake_call *c) {
    ig_payload_free(&c->payload);
    ig_plan_free(&c->plan);
    json_decref(c->analyses);
    json_decref(c->resolved);
    json_decref(c->errors);
    free(c);
}

static const char *alert_text(const json_t *alert, const char *key) {
    const char *v = json_string_value(json_object_get(alert, key));
    return v ? v : "";
}

/* Adds what an accepted request did to the counters of /metrics. Only then: a request refused
 * with 503 is retried by its sender, and would be counted twice. */
static void counts_add(const intake_call *c) {
    ig_intake_counts *n = &c->s->intake;
    size_t k;
    json_t *alert;
    count(c->s, c->source, IG_INTAKE_ACCEPTED);
    json_array_foreach(c->payload.alerts, k, alert)
        n->alerts[c->source][strcmp(alert_text(alert, "status"), "resolved") == 0]++;
    n->unrouted += c->plan.unrouted;
    n->started += c->started;
    n->deduplicated += c->deduplicated;
    n->late += c->late;
    n->resolved += c->stamped;
    n->input_errors += json_array_size(c->errors);
}

/* Answers once every queue call has: 200 with what was done, or 503 when one failed. */
static void finish_if_done(intake_call *c) {
    if (c->pending > 0)
        return;
    if (c->failed != RT_OK)
        refuse(c->s, c->req, c->source, IG_INTAKE_UNAVAILABLE, 503, "unavailable",
               *c->failed_msg ? c->failed_msg : "the queue is unavailable");
    else {
        counts_add(c);
        json_t *body = json_pack(
            "{s:i, s:i, s:i, s:O, s:O, s:O}", "alerts", (int)json_array_size(c->payload.alerts),
            "ignored", (int)c->payload.ignored, "unrouted", (int)c->plan.unrouted, "analyses",
            c->analyses, "resolved", c->resolved, "errors", c->errors);
        rt_httpd_respond_json(c->req, 200, body);
    }
    call_free(c);
}

static void part_failed(part *p, int rc, const char *msg) {
    if (p->c->failed == RT_OK) {
        p->c->failed = rc;
        snprintf(p->c->failed_msg, sizeof p->c->failed_msg, "the queue is unavailable: %s",
                 msg && *msg ? msg : rt_strerror(rc));
    }
}

static void part_free(part *p) {
    free(p->steps);
    free(p->errors);
    free(p);
}

static void part_done(part *p) {
    intake_call *c = p->c;
    part_free(p);
    c->pending--;
    finish_if_done(c);
}

static void submitted(int rc, const char *msg, const rt_queue_submitted *out, size_t n,
                      const rt_queue_buried *buried, size_t m, void *ud) {
    part *p = ud;
    intake_call *c = p->c;
    if (rc != RT_OK)
        part_failed(p, rc, msg);
    for (size_t j = 0; rc == RT_OK && j < m && j < p->m; j++)
        json_object_set_new(p->errors[j], "dead_letter", json_string(buried[j].entry));
    for (size_t i = 0; rc == RT_OK && i < n && i < p->n; i++) {
        const ig_step *st = &c->plan.steps[p->steps[i]];
        json_t *o =
            json_pack("{s:s, s:s, s:b, s:s, s:i}", "route", st->route->name, "analyzer",
                      st->route->analyzer, "deduplicated", out[i].deduplicated, "fingerprint",
                      alert_text(st->alert, "fingerprint"), "alerts", (int)st->alerts);
        if (out[i].late) {
            /* A retry of a firing that ended: the alert resolved after this start. */
            json_object_set_new(o, "id", json_null());
            json_object_set_new(o, "late", json_true());
            c->late++;
        } else {
            char *url = rt_analysis_url(c->s->base_url, out[i].id);
            json_object_set_new(o, "id", json_string(out[i].id));
            json_object_set_new(o, "url", json_string(url));
            free(url);
            *(out[i].deduplicated ? &c->deduplicated : &c->started) += 1;
        }
        json_array_append_new(c->analyses, o);
    }
    part_done(p);
}

static void resolved(int rc, const char *msg, const rt_queue_resolved *out, size_t n, void *ud) {
    part *p = ud;
    intake_call *c = p->c;
    if (rc != RT_OK)
        part_failed(p, rc, msg);
    for (size_t i = 0; rc == RT_OK && i < n && i < p->n; i++) {
        const ig_step *st = &c->plan.steps[p->steps[i]];
        json_t *ids = json_array();
        for (size_t k = 0; k < out[i].n_ids; k++)
            json_array_append_new(ids, json_string(out[i].ids[k]));
        /* "id": the newest (ids are sorted, and grow): the one a client most likely knows. */
        json_t *o = json_pack("{s:s, s:s, s:o}", "route", st->route->name, "fingerprint",
                              alert_text(st->alert, "fingerprint"), "ids", ids);
        json_object_set_new(o, "id",
                            out[i].n_ids ? json_string(out[i].ids[out[i].n_ids - 1]) : json_null());
        json_array_append_new(c->resolved, o);
        c->stamped += out[i].n_ids;
    }
    part_done(p);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The labels of the analysis a step starts: the alert's (up to the API's cap, in name order) and
 * where it came from, for the post-processor's rules. Canonical JSON text, malloc'd. */
static char *analysis_labels(const ig_step *st) {
    json_t *labels = json_object(), *v;
    const char *key;
    json_t *from = json_object_get(st->alert, "labels");
    json_object_set_new(labels, "inquest_route", json_string(st->route->name));
    json_object_set_new(labels, "inquest_source", json_string(alert_text(st->alert, "source")));
    json_object_set_new(labels, "inquest_fingerprint",
                        json_string(alert_text(st->alert, "fingerprint")));
    if (*alert_text(st->alert, "incident_id"))
        json_object_set_new(labels, "inquest_incident_id",
                            json_string(alert_text(st->alert, "incident_id")));
    const char **names = rt_xcalloc(json_object_size(from) + 1, sizeof *names);
    size_t n = 0;
    json_object_foreach(from, key, v) names[n++] = key;
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n && json_object_size(labels) < MAX_ANALYSIS_LABELS; i++)
        if (strncmp(names[i], IG_RESERVED_LABELS, strlen(IG_RESERVED_LABELS)) != 0)
            json_object_set(labels, names[i], json_object_get(from, names[i]));
    free(names);
    char *text = rt_json_canonical(labels);
    json_decref(labels);
    return text;
}

/* The dedup window of step 'st': its route's, capped as the queue keeps a key at most as long as
 * it keeps analyses. */
static double window_of(const intake_call *c, const ig_step *st) {
    double ttl = c->s->config->queue.result_ttl;
    return st->route->dedup_window < ttl ? st->route->dedup_window : ttl;
}

/* A batch of one queue call: up to RT_QUEUE_MAX_BATCH starts and as many misfits. */
typedef struct batch {
    rt_queue_request *reqs; /* owned; their inputs and labels owned too */
    size_t *starts, n;      /* owned: the steps of 'reqs' */
    rt_queue_misfit *misfits;
    json_t **errors; /* owned array: the answer's error of each misfit (borrowed) */
    size_t m;
} batch;

/* The misfit of start step 'st' whose inputs 'problems' refused, into 'f' (its inputs, reason,
 * alert and errors malloc'd, freed by batch_clear), and its entry of the answer's "errors",
 * appended there and returned (borrowed). 'info' is the analyzer's, or NULL when it did not
 * load. */
static json_t *misfit_of(intake_call *c, const ig_step *st, const wk_info *info,
                         const rt_diag *problems, rt_queue_misfit *f) {
    json_t *fields = json_array(), *item;
    size_t k;
    char reason[1024];
    int at = snprintf(reason, sizeof reason,
                      "the inputs route %.100s built do not fit analyzer %.100s:", st->route->name,
                      st->route->analyzer);
    json_array_foreach(problems->items, k, item) {
        const char *f_name = json_string_value(json_object_get(item, "field"));
        const char *m = json_string_value(json_object_get(item, "message"));
        char path[300];
        snprintf(path, sizeof path, "inputs%s%s", f_name ? "." : "", f_name ? f_name : "");
        json_array_append_new(
            fields, json_pack("{s:s, s:s}", "field", path, "message", m ? m : "(no message)"));
        if (at > 0 && (size_t)at < sizeof reason - 8)
            at += snprintf(reason + at, sizeof reason - (size_t)at, "%s %.*s: %.*s", k ? ";" : "",
                           rt_utf8_fit(path, 200), path, rt_utf8_fit(m ? m : "", 300), m ? m : "");
    }
    if ((size_t)at >= sizeof reason - 8) /* cut: end on a whole character, say so */
        snprintf(reason + rt_utf8_fit(reason, sizeof reason - 8), 8, " ...");
    json_t *e =
        json_pack("{s:s, s:s, s:s, s:O}", "route", st->route->name, "analyzer", st->route->analyzer,
                  "fingerprint", alert_text(st->alert, "fingerprint"), "fields", fields);
    ig_log("warn", "a route's inputs do not fit its analyzer; dead-lettered", json_deep_copy(e));
    json_array_append_new(c->errors, e);
    *f = (rt_queue_misfit){
        .dedup_key = st->dedup_key,
        .window = window_of(c, st),
        .analyzer = st->route->analyzer,
        .team = info && info->owner ? info->owner : "",
        .priority = st->route->priority,
        .inputs = rt_json_canonical(st->inputs),
        .reason = rt_xstrdup(reason),
        .route = st->route->name,
        .source = alert_text(st->alert, "source"),
        .fingerprint = alert_text(st->alert, "fingerprint"),
        .alert = rt_json_canonical(st->alert),
        .errors = rt_json_canonical(fields),
    };
    json_decref(fields);
    return e;
}

/* Checks the inputs of start step 'i' against its analyzer; adds it to 'b' as a start, or, when
 * they do not fit, as a misfit (also in the answer's "errors"). */
static void prepare_start(intake_call *c, size_t i, batch *b) {
    const ig_step *st = &c->plan.steps[i];
    const wk_info *info = NULL;
    rt_diag problems = {0};
    int rc = wk_validate(c->s->engine, st->route->analyzer, st->inputs, 0, &info, NULL, &problems);
    if (rc != RT_OK || !info) {
        /* wk_validate sets 'info' when only the inputs are at fault: the team, for the tokens
         * that may see the dead letter. */
        b->errors[b->m] = misfit_of(c, st, info, &problems, &b->misfits[b->m]);
        b->m++;
        rt_diag_free(&problems);
        return;
    }
    rt_queue_request *r = &b->reqs[b->n];
    memset(r, 0, sizeof *r);
    r->analyzer = info->name;
    r->team = info->owner;
    r->inputs = rt_json_canonical(st->inputs);
    r->labels = analysis_labels(st);
    r->priority = st->route->priority;
    r->dedup_key = st->dedup_key;
    r->dedup_window = window_of(c, st);
    r->alert_started = st->started;
    b->starts[b->n++] = i;
    rt_diag_free(&problems);
}

/* Frees what 'b' holds but its arrays, and empties it. */
static void batch_clear(batch *b) {
    for (size_t i = 0; i < b->n; i++) {
        free((char *)b->reqs[i].inputs);
        free((char *)b->reqs[i].labels);
    }
    for (size_t i = 0; i < b->m; i++) {
        free((char *)b->misfits[i].inputs);
        free((char *)b->misfits[i].reason);
        free((char *)b->misfits[i].alert);
        free((char *)b->misfits[i].errors);
    }
    b->n = b->m = 0;
}

/* Sends the starts and misfits of 'b' in one atomic call, and empties it. */
static void send_batch(intake_call *c, batch *b) {
    char why[256] = "";
    size_t max = RT_QUEUE_MAX_BATCH;
    part *p = rt_xcalloc(1, sizeof *p);
    *p = (part){c, b->starts, b->n, b->errors, b->m};
    c->pending++;
    if (rt_queue_submit_intake(c->s->queue, b->reqs, b->n, b->misfits, b->m, submitted, p, why) !=
        RT_OK) {
        part_failed(p, RT_EBACKEND, why);
        part_free(p);
        c->pending--;
    }
    batch_clear(b);
    b->starts = rt_xcalloc(max, sizeof *b->starts);
    b->errors = rt_xcalloc(max, sizeof(json_t *));
}

static void send_resolves(intake_call *c, size_t *steps, size_t n) {
    char why[256] = "";
    rt_queue_resolution *keys = rt_xcalloc(n, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        const ig_step *st = &c->plan.steps[steps[i]];
        keys[i] = (rt_queue_resolution){st->dedup_key, st->started, window_of(c, st)};
    }
    part *p = rt_xcalloc(1, sizeof *p);
    *p = (part){c, steps, n, NULL, 0};
    c->pending++;
    if (rt_queue_resolve(c->s->queue, keys, n, resolved, p, why) != RT_OK) {
        part_failed(p, RT_EBACKEND, why);
        part_free(p);
        c->pending--;
    }
    free(keys);
}

/* Sends the plan's starts (with its misfits) and resolves to the queue, in calls of at most
 * RT_QUEUE_MAX_BATCH of each. The pending count holds one extra until every call is out, so that
 * an answer cannot leave early. */
static void enqueue(intake_call *c) {
    size_t n = c->plan.n_steps, max = RT_QUEUE_MAX_BATCH;
    batch b = {.reqs = rt_xcalloc(max, sizeof *b.reqs),
               .starts = rt_xcalloc(max, sizeof *b.starts),
               .misfits = rt_xcalloc(max, sizeof *b.misfits),
               .errors = rt_xcalloc(max, sizeof(json_t *))};
    size_t *resolves = NULL, n_resolves = 0;
    c->pending++;
    for (size_t i = 0; i < n; i++) {
        if (c->plan.steps[i].resolve) {
            if (!resolves)
                resolves = rt_xcalloc(max, sizeof *resolves);
            resolves[n_resolves++] = i;
            if (n_resolves == max) {
                send_resolves(c, resolves, n_resolves);
                resolves = NULL, n_resolves = 0;
            }
        } else {
            prepare_start(c, i, &b);
            if (b.n == max || b.m == max)
                send_batch(c, &b);
        }
    }
    if (b.n || b.m)
        send_batch(c, &b);
    if (n_resolves)
        send_resolves(c, resolves, n_resolves);
    else
        free(resolves);
    free(b.reqs);
    free(b.starts);
    free(b.misfits);
    free(b.errors);
    c->pending--;
    finish_if_done(c);
}

/* ---- routing of requests ----------------------------------------------------------------------
 */

/* The source and its credentials that 'path' names, or false. 'generic' is set for a generic
 * webhook. */
static bool source_of(ig_serve *s, const char *path, rt_source *source,
                      const rt_intake_source **config, const source_auth **auth,
                      const rt_intake_generic **generic) {
    const char *rest = path + strlen("/v1/intake/");
    *generic = NULL;
    if (strncmp(rest, "generic/", 8) == 0) {
        *source = RT_SOURCE_GENERIC;
        for (size_t i = 0; i < s->config->intake.n_generic; i++)
            if (strcmp(s->config->intake.generic[i].name, rest + 8) == 0) {
                *generic = &s->config->intake.generic[i];
                *config = &(*generic)->source;
                *auth = &s->intake_auth->generic[i];
                return true;
            }
        return false;
    }
    if (ig_source_parse(rest, source) != 0 || *source == RT_SOURCE_GENERIC)
        return false;
    *config = &s->config->intake.sources[*source];
    *auth = &s->intake_auth->fixed[*source];
    return (*config)->enabled;
}

/* The challenge of a 401 for a source whose auth is of type 'type': the scheme the sender
 * must use; NULL for a custom header or a signature, which HTTP has no scheme for. */
static const char *challenge(rt_auth_type type) {
    return type == RT_AUTH_BASIC    ? "Basic realm=\"inquest\""
           : type == RT_AUTH_BEARER ? "Bearer realm=\"inquest\""
                                    : NULL;
}

/* True when 'req' carries what 'auth' asks for; else answers 401. */
static bool sender_allowed(ig_serve *s, rt_httpd_req *req, rt_source source,
                           const source_auth *auth) {
    if (auth->expected && !ig_auth_ok(auth->expected, rt_httpd_header(req, auth->header))) {
        if (challenge(auth->type))
            rt_httpd_set_header(req, "WWW-Authenticate", challenge(auth->type));
        refuse(s, req, source, IG_INTAKE_UNAUTHORIZED, 401, "unauthorized",
               rt_httpd_header(req, auth->header) ? "the credential is not valid"
                                                  : "this source needs a credential");
        return false;
    }
    if (!auth->signing)
        return true;
    char why[256];
    const char *header = auth->signature_header;
    const char *signature = rt_httpd_header(req, header);
    const char *timestamp =
        auth->timestamp_header ? rt_httpd_header(req, auth->timestamp_header) : NULL;
    if (!signature)
        snprintf(why, sizeof why, "the request is not signed (%.64s)", header);
    else if (auth->timestamp_header && !ig_timestamp_fresh(timestamp, rt_wallclock()))
        snprintf(why, sizeof why,
                 "%.64s is %s: a signed request must carry Unix seconds within %d s of now",
                 auth->timestamp_header, timestamp ? "stale or not a time" : "missing",
                 IG_TIMESTAMP_SKEW);
    else if (!ig_signature_ok(auth->signing, auth->signing_len, auth->signature_format,
                              auth->timestamp_header ? timestamp : NULL, req->body, req->body_len,
                              signature))
        snprintf(why, sizeof why, "%.64s does not match the %s", header,
                 auth->timestamp_header ? "timestamp and body" : "body");
    else
        return true;
    refuse(s, req, source, IG_INTAKE_UNAUTHORIZED, 401, "bad_signature", why);
    return false;
}

bool ig_intake_handle(ig_serve *s, rt_httpd_req *req) {
    rt_source source;
    const rt_intake_source *config;
    const source_auth *auth;
    const rt_intake_generic *generic;
    char why[IG_INTAKE_WHY];
    if (strncmp(req->path, "/v1/intake/", 11) != 0)
        return false;
    if (!s->intake_auth || !source_of(s, req->path, &source, &config, &auth, &generic)) {
        rt_httpd_error(req, 404, "not_found", "no intake source at %s (see intake in the config)",
                       req->path);
        return true;
    }
    if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0) {
        rt_httpd_set_header(req, "Allow", "POST, PUT");
        rt_httpd_error(req, 405, "method_not_allowed",
                       "%s is not allowed here (allowed: POST, PUT)", req->method);
        return true;
    }
    if (!sender_allowed(s, req, source, auth))
        return true;
    if (s->draining) {
        refuse(s, req, source, IG_INTAKE_UNAVAILABLE, 503, "unavailable",
               "the server is shutting down");
        return true;
    }
    intake_call *c = rt_xcalloc(1, sizeof *c);
    c->s = s;
    c->req = req;
    c->source = source;
    if (ig_intake_parse(source, generic, req->body, req->body_len, &c->payload, why) != RT_OK) {
        refuse(s, req, source, IG_INTAKE_BAD_REQUEST, 400, "bad_payload", why);
        call_free(c);
        return true;
    }
    ig_plan_make(s->config, &c->payload, false, &c->plan);
    c->analyses = json_array();
    c->resolved = json_array();
    c->errors = json_array();
    enqueue(c);
    return true;
}
