/* integrations/ig_api.c -- the /v1 HTTP API of `inquest serve` (docs/api.md): routes, tokens,
 * submit with inputs checked before anything is queued, status and result with long polls,
 * cancel, listings and the analyzer catalogue. The process around it is ig_cmd_serve.c; the
 * queue underneath is runtime/rt_queue.h.
 *
 * Design notes. Every handler answers exactly once: at once for what it knows (a bad request, a
 * refused token), or from a queue callback, which carries a small context naming the request.
 * A long poll is a waiter filed under its analysis id: the results watch, its timer, the
 * client going away and the server closing each end it, whichever comes first, and each of
 * them takes it out of the table before answering, so it is answered once. */
#define _GNU_SOURCE /* strncasecmp */
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "ig_console.h"
#include "ig_serve.h"
#include "sdk.h"

#define MAX_WAIT      60.0 /* seconds a long poll may hold */
#define MAX_BATCH     RT_QUEUE_MAX_BATCH
#define MAX_ID        64
#define MAX_LABELS    64
#define MAX_LABEL_LEN 1024 /* bytes of a label's value */
#define MAX_LABEL_KEY 128  /* bytes of a label's name */
#define MAX_DEDUP_KEY 512

/* ---- small helpers ----------------------------------------------------------------------- */

static bool path_is(const char *path, const char *want) {
    return strcmp(path, want) == 0;
}

/* The rest of 'path' after 'prefix' when it starts with it and the rest is one non-empty segment
 * (no '/'), else NULL. */
static const char *segment_after(const char *path, const char *prefix) {
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0 || !path[n] || strchr(path + n, '/'))
        return NULL;
    return path + n;
}

/* RFC 3339 UTC with milliseconds always written, so that times sort as text. */
static void set_time(json_t *o, const char *key, double t) {
    char text[40];
    if (t <= 0)
        return;
    time_t whole = (time_t)floor(t);
    int ms = (int)((t - (double)whole) * 1000);
    struct tm tm;
    gmtime_r(&whole, &tm);
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof text - n, ".%03dZ", ms > 999 ? 999 : ms);
    json_object_set_new(o, key, json_string(text));
}

/* The error object of a refusal with every problem of 'diag' as "fields". */
static json_t *refusal_json(const char *code, const rt_diag *diag) {
    char message[64];
    size_t n = rt_diag_count(diag);
    snprintf(message, sizeof message, "%zu problem%s", n, n == 1 ? "" : "s");
    return json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message", message, "fields",
                     ig_diag_fields(diag));
}

/* Answers 'status' with the problems of 'diag'. rt_httpd_error has no "fields"; the server
 * still counts the answer by its status class. */
static void respond_fields(rt_httpd_req *req, int status, const char *code, const rt_diag *diag) {
    rt_httpd_respond_json(req, status, refusal_json(code, diag));
}

void ig_respond_field_error(rt_httpd_req *req, const char *field, const char *message) {
    rt_httpd_respond_json(req, 400,
                          json_pack("{s:{s:s, s:s, s:[{s:s, s:s}]}}", "error", "code",
                                    "bad_request", "message", message, "fields", "field", field,
                                    "message", message));
}

void ig_retry_after(const ig_serve *s, rt_httpd_req *req) {
    uint64_t ms = rt_redis_backoff_max_ms(rt_queue_redis(s->queue));
    char seconds[24];
    snprintf(seconds, sizeof seconds, "%llu",
             (unsigned long long)(ms > 1000 ? (ms + 999) / 1000 : 1));
    rt_httpd_set_header(req, "Retry-After", seconds);
}

/* 503 when Redis cannot take a command: clients retry once serve has tried it again. */
static void respond_unavailable(ig_serve *s, rt_httpd_req *req, const char *why) {
    s->submit_refused_unavailable++;
    ig_retry_after(s, req);
    rt_httpd_error(req, 503, "unavailable", "the queue is unavailable: %s",
                   why && *why ? why : "Redis is not reachable");
}

/* Answers a queue callback's failure: 503 for Redis trouble, 500 for the rest. */
static void respond_queue_error(ig_serve *s, rt_httpd_req *req, int rc, const char *msg) {
    if (rc == RT_EBACKEND || rc == RT_ETIMEDOUT || rc == RT_ECANCELED)
        respond_unavailable(s, req, msg);
    else
        rt_httpd_error(req, 500, "internal", "%s", msg && *msg ? msg : rt_strerror(rc));
}

/* ---- tokens ------------------------------------------------------------------------------ */

const ig_token *ig_presented_token(const ig_serve *s, rt_httpd_req *req) {
    const char *h = rt_httpd_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    const char *presented = h + 7;
    size_t len = strlen(presented);
    for (size_t i = 0; i < s->n_tokens; i++)
        if (s->tokens[i].secret && s->tokens[i].len == len &&
            CRYPTO_memcmp(s->tokens[i].secret, presented, len) == 0)
            return &s->tokens[i];
    return NULL;
}

/* The token 'req' presents, or NULL after answering 401. Without tokens configured, every
 * request is allowed: '*token' is NULL and the result true. */
static bool authenticate(ig_serve *s, rt_httpd_req *req, const ig_token **token) {
    *token = NULL;
    if (s->n_tokens == 0) /* no credential to check: still no change from another site's page */
        return !s->console || ig_console_same_origin(s, req);
    const char *h = rt_httpd_header(req, "Authorization");
    /* The console's pages call the API with their session cookie (and its CSRF token). */
    if (!h && s->console && s->config->console.enabled && ig_console_has_cookie(req))
        return ig_console_authenticate(s, req, token);
    if ((*token = ig_presented_token(s, req)))
        return true;
    rt_httpd_set_header(req, "WWW-Authenticate", "Bearer realm=\"inquest\"");
    rt_httpd_error(req, 401, "unauthorized",
                   h ? "the token is not valid"
                     : "this server needs a token: Authorization: Bearer …");
    return false;
}

bool ig_token_allows_all(const ig_token *token) {
    if (!token)
        return true;
    for (size_t i = 0; i < token->config->n_analyzers; i++)
        if (strcmp(token->config->analyzers[i], "*") == 0)
            return true;
    return false;
}

bool ig_token_allows(const ig_token *token, const char *name, const char *team) {
    if (!token)
        return true;
    const rt_token *t = token->config;
    for (size_t i = 0; name && i < t->n_analyzers; i++)
        if (fnmatch(t->analyzers[i], name, 0) == 0)
            return true;
    for (size_t i = 0; team && i < t->n_teams; i++)
        if (strcmp(t->teams[i], team) == 0)
            return true;
    return false;
}

/* ---- the catalogue ----------------------------------------------------------------------- */

static void add_to_catalog(const char *path, void *ud) {
    ig_serve *s = ud;
    wk_info info;
    rt_diag diag = {0};
    if (wk_inspect(s->engine, path, &info, &diag) != RT_OK) {
        ig_log("warn", "analyzer does not load; it is left out of the catalogue",
               json_pack("{s:s, s:O}", "path", path, "problems",
                         diag.items ? diag.items : json_null()));
        rt_diag_free(&diag);
        return;
    }
    /* version is optional: null when the analyzer declares none, so that every entry has the
     * same members (docs/api.md, Analyzers). */
    json_t *entry = json_pack(
        "{s:s, s:s*, s:s*, s:o, s:O, s:o}", "name", info.name, "owner", info.owner, "description",
        info.description, "version", info.version ? json_string(info.version) : json_null(), "tags",
        info.tags, "inputs", sdk_schema_to_json_schema(info.inputs, info.name));
    if (entry)
        json_object_set_new(s->catalog, info.name, entry);
    wk_info_free(&info);
}

void ig_api_load_catalog(ig_serve *s) {
    json_decref(s->catalog);
    s->catalog = json_object();
    wk_each_analyzer(s->engine, NULL, add_to_catalog, s);
}

/* The owner of analyzer 'name' as the catalogue last read it; NULL when it has none or is not
 * there (a file that does not load is left out). */
static const char *catalog_owner(const ig_serve *s, const char *name) {
    return json_string_value(json_object_get(json_object_get(s->catalog, name), "owner"));
}

/* The message for 'text' given where an analyzer's name belongs and that is not one (a path, a
 * file): static storage, valid until the next call. */
static const char *not_a_name(const char *text) {
    static char message[640];
    char shown[400]; /* 120 bytes of 'text', each byte that is not UTF-8 as U+FFFD (3 bytes) */
    size_t n = strlen(text), cut = rt_utf8_cut(text, n, 120);
    shown[rt_utf8_repair(text, cut, shown, sizeof shown - 1)] = '\0';
    snprintf(message, sizeof message,
             "'%s%s' is not an analyzer name (lower-case letters, digits and '_', parts joined "
             "by single dots, like http.error_spike; GET /v1/analyzers lists them)",
             shown, cut < n ? "…" : "");
    return message;
}

static json_t *catalog_summary(const json_t *entry) {
    json_t *copy = json_deep_copy(entry);
    json_object_del(copy, "inputs");
    return copy;
}

static void list_analyzers(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    json_t *list = json_array(), *entry;
    const char *name;
    json_object_foreach(s->catalog, name, entry) {
        const char *owner = json_string_value(json_object_get(entry, "owner"));
        if (ig_token_allows(token, name, owner))
            json_array_append_new(list, catalog_summary(entry));
    }
    rt_httpd_respond_json(req, 200, json_pack("{s:o}", "analyzers", list));
}

static void describe_analyzer(ig_serve *s, rt_httpd_req *req, const ig_token *token,
                              const char *raw_name) {
    char name[256];
    int n = rt_httpd_url_decode(raw_name, strlen(raw_name), false, name, sizeof name);
    if (n < 0 || !wk_valid_name(name)) {
        rt_httpd_error(req, 404, "not_found", "%s", not_a_name(n >= 0 ? name : raw_name));
        return;
    }
    json_t *entry = json_object_get(s->catalog, name);
    const char *owner = json_string_value(json_object_get(entry, "owner"));
    if (!entry || !ig_token_allows(token, name, owner)) {
        rt_httpd_error(req, 404, "not_found", "no analyzer named '%s'", n >= 0 ? name : raw_name);
        return;
    }
    rt_httpd_respond_json(req, 200, json_incref(entry));
}

/* ---- submit ------------------------------------------------------------------------------ */

/* One submission, checked and ready for the queue. Strings are owned. */
typedef struct submission {
    char *analyzer, *inputs, *dedup_key, *labels, *team;
    char *effective; /* the inputs the analysis gets (wk_validate), which the dedup key is of */
    rt_priority priority;
    double deadline;
    bool record; /* keep its recording (docs/api.md "record") */
} submission;

static void submission_free(submission *sub) {
    free(sub->analyzer);
    free(sub->inputs);
    free(sub->effective);
    free(sub->dedup_key);
    free(sub->labels);
    free(sub->team);
}

static const char *const submit_keys[] = {"analyzer", "inputs", "priority", "dedup_key",
                                          "deadline", "labels", "record",   NULL};

/* The optional string member 'key' of 'o': true when absent or a string, else a problem. */
static bool optional_string(const json_t *o, const char *key, const char **out, rt_diag *diag) {
    json_t *v = json_object_get(o, key);
    *out = json_string_value(v);
    if (v && !json_is_string(v)) {
        rt_diag_add(diag, NULL, 0, key, "must be a string");
        return false;
    }
    return true;
}

/* One label a client gives, as field "labels.NAME" (its name cut to MAX_LABEL_KEY bytes). */
static void check_label(const char *name, const json_t *value, rt_diag *diag) {
    char field[MAX_LABEL_KEY + 16];
    size_t n = strlen(name);
    snprintf(field, sizeof field, "labels.%.*s", (int)rt_utf8_cut(name, n, MAX_LABEL_KEY), name);
    if (!*name)
        rt_diag_add(diag, NULL, 0, "labels", "a label's name cannot be empty");
    else if (strncmp(name, IG_RESERVED_LABELS, strlen(IG_RESERVED_LABELS)) == 0)
        rt_diag_add(diag, NULL, 0, field,
                    "names that start with " IG_RESERVED_LABELS " are reserved: Inquest sets them");
    else if (strchr(name, '='))
        rt_diag_add(diag, NULL, 0, field,
                    "a name cannot hold '=': ?label=NAME=VALUE could never find it");
    else if (n > MAX_LABEL_KEY)
        rt_diag_add(diag, NULL, 0, field, "a name has at most %d bytes", MAX_LABEL_KEY);
    if (!json_is_string(value) || json_string_length(value) > MAX_LABEL_LEN)
        rt_diag_add(diag, NULL, 0, field, "must be a string of at most %d bytes", MAX_LABEL_LEN);
}

static void check_shape(const json_t *o, rt_diag *diag) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        size_t i = 0;
        while (submit_keys[i] && strcmp(submit_keys[i], key) != 0)
            i++;
        if (!submit_keys[i])
            rt_diag_add(diag, NULL, 0, key,
                        "unknown field (expected analyzer, inputs, priority, dedup_key, deadline, "
                        "labels or record)");
    }
    json_t *inputs = json_object_get(o, "inputs");
    if (inputs && !json_is_object(inputs))
        rt_diag_add(diag, NULL, 0, "inputs", "must be an object");
    json_t *record = json_object_get(o, "record");
    if (record && !json_is_boolean(record))
        rt_diag_add(diag, NULL, 0, "record", "must be true or false");
    json_t *labels = json_object_get(o, "labels");
    if (labels && !json_is_object(labels))
        rt_diag_add(diag, NULL, 0, "labels", "must be an object of strings");
    else if (labels && json_object_size(labels) > MAX_LABELS)
        rt_diag_add(diag, NULL, 0, "labels", "at most %d labels", MAX_LABELS);
    json_object_foreach(labels, key, v) {
        check_label(key, v, diag);
    }
}

static void parse_options(const json_t *o, submission *sub, rt_diag *diag) {
    const char *priority = NULL, *dedup = NULL, *deadline = NULL;
    char why[256];
    sub->priority = RT_PRIORITY_INTERACTIVE;
    if (optional_string(o, "priority", &priority, diag) && priority &&
        rt_priority_parse(priority, &sub->priority) != 0)
        rt_diag_add(diag, NULL, 0, "priority", "must be interactive, alert or batch");
    if (optional_string(o, "dedup_key", &dedup, diag) && dedup &&
        (!*dedup || strlen(dedup) > MAX_DEDUP_KEY))
        rt_diag_add(diag, NULL, 0, "dedup_key", "must hold 1 to %d bytes", MAX_DEDUP_KEY);
    if (optional_string(o, "deadline", &deadline, diag) && deadline &&
        rt_deadline_parse(deadline, rt_wallclock(), &sub->deadline, why) != 0)
        rt_diag_add(diag, NULL, 0, "deadline", "%s", why);
}

/* Adds the problems wk_validate found ('rc' what it returned) to 'diag': input fields as
 * "inputs.NAME"; the problems of an analyzer that does not load on field "analyzer", with the
 * file and line they are at, so that its author need not read serve's log to find them. */
static void add_input_problems(const rt_diag *problems, int rc, rt_diag *diag) {
    json_t *item;
    size_t i;
    json_array_foreach(problems->items, i, item) {
        const char *field = json_string_value(json_object_get(item, "field"));
        const char *message = json_string_value(json_object_get(item, "message"));
        char path[300];
        snprintf(path, sizeof path, "inputs%s%s", field ? "." : "", field ? field : "");
        if (rc == RT_EINPUT)
            rt_diag_add(diag, NULL, 0, path, "%s", message);
        else
            rt_diag_add(diag, json_string_value(json_object_get(item, "file")),
                        (int)json_integer_value(json_object_get(item, "line")), "analyzer", "%s",
                        message);
    }
}

/* Checks one submission object 'o' into 'sub': shape, options, token, the analyzer and its
 * inputs. Returns 0, or the HTTP status of the refusal with its problems in 'diag' and the
 * error code in '*code'. */
static int check_submission(ig_serve *s, const ig_token *token, const json_t *o, submission *sub,
                            const char **code, rt_diag *diag) {
    *code = "bad_request";
    if (!json_is_object(o)) {
        rt_diag_add(diag, NULL, 0, NULL, "a submission is a JSON object");
        return 400;
    }
    const char *analyzer = NULL;
    if (!optional_string(o, "analyzer", &analyzer, diag) || !analyzer)
        rt_diag_add(diag, NULL, 0, "analyzer", "required: the analyzer's name");
    check_shape(o, diag);
    parse_options(o, sub, diag);
    size_t shape_problems = rt_diag_count(diag);
    if (!analyzer)
        return 400;
    /* A name, never a path: wk_resolve would load any file named so, from anywhere on disk. */
    if (!wk_valid_name(analyzer)) {
        rt_diag_add(diag, NULL, 0, "analyzer", "%s", not_a_name(analyzer));
        *code = "unknown_analyzer";
        return 400;
    }
    /* The inputs are checked even when the request has other problems: all of them at once. */
    const wk_info *info = NULL;
    rt_diag problems = {0};
    json_t *inputs = json_object_get(o, "inputs");
    int rc = wk_validate(s->engine, analyzer, json_is_object(inputs) ? inputs : NULL, 0, &info,
                         &sub->effective, &problems);
    /* The token comes first: it learns nothing of an analyzer it may not use, not its inputs,
     * why it does not load, nor whether there is one. A name with no owner to check the token's
     * teams against (no such analyzer, or one that never loaded: the catalogue may have seen it
     * load before) is allowed by the token's analyzer globs alone. */
    bool forbidden =
        !ig_token_allows(token, analyzer, info ? info->owner : catalog_owner(s, analyzer));
    if (rc == RT_ENOTFOUND || forbidden) {
        rt_diag_add(diag, NULL, 0, "analyzer", "no analyzer named '%s'%s", analyzer,
                    forbidden ? " that this token may use" : "");
        *code = forbidden ? "forbidden" : "unknown_analyzer";
        rt_diag_free(&problems);
        return forbidden ? 403 : 400;
    }
    add_input_problems(&problems, rc, diag);
    rt_diag_free(&problems);
    if (rt_diag_count(diag) || NEVER(!info)) { /* wk_validate gives the info when it passes */
        *code = shape_problems    ? "bad_request"
                : rc == RT_EINPUT ? "invalid_inputs"
                                  : "invalid_analyzer";
        return 400;
    }
    json_t *empty = inputs ? NULL : json_object();
    sub->analyzer = rt_xstrdup(info->name);
    sub->team = info->owner ? rt_xstrdup(info->owner) : NULL;
    sub->inputs = rt_json_canonical(inputs ? inputs : empty);
    json_decref(empty);
    json_t *labels = json_object_get(o, "labels");
    sub->labels = labels ? rt_json_canonical(labels) : NULL;
    sub->record = json_is_true(json_object_get(o, "record"));
    /* A dedup key is the analyzer's own: the same key for another analyzer, which another team
     * may own, is another analysis. */
    const char *dedup = json_string_value(json_object_get(o, "dedup_key"));
    if (dedup) {
        size_t n = strlen(sub->analyzer) + strlen(dedup) + 2;
        sub->dedup_key = rt_xmalloc(n);
        snprintf(sub->dedup_key, n, "%s\n%s", sub->analyzer, dedup);
    }
    return 0;
}

static void to_request(const ig_serve *s, const submission *sub, rt_queue_request *r) {
    memset(r, 0, sizeof *r);
    r->analyzer = sub->analyzer;
    r->inputs = sub->inputs; /* as sent: the worker validates them again, at its own clock */
    r->priority = sub->priority;
    r->dedup_key = sub->dedup_key;
    r->dedup_inputs = sub->effective;
    r->dedup_window = s->config->queue.dedup_window;
    r->deadline = sub->deadline;
    r->team = sub->team;
    r->labels = sub->labels;
    r->record = sub->record;
}

static json_t *accepted_json(const ig_serve *s, const rt_queue_submitted *out) {
    char *url = rt_analysis_url(s->base_url, out->id);
    json_t *o =
        json_pack("{s:s, s:b, s:s}", "id", out->id, "deduplicated", out->deduplicated, "url", url);
    if (!out->deduplicated) /* an earlier analysis may be anywhere in its life: GET tells */
        json_object_set_new(o, "status", json_string("queued"));
    free(url);
    return o;
}

/* What a submit carries through the queue's callback. */
typedef struct submit_call {
    ig_serve *s;
    rt_httpd_req *req;
    submission *subs; /* owned, 'n' */
    size_t n;
    json_t *answers;       /* batch: one per submission, refusals already in place; NULL: single */
    size_t *slots;         /* batch: where each queued submission's answer goes */
    const ig_token *token; /* single: the token the answer after ?wait= is read with */
    double wait;           /* single: seconds to hold the answer for the analysis' end (?wait=) */
} submit_call;

static void submit_call_free(submit_call *c) {
    for (size_t i = 0; i < c->n; i++)
        submission_free(&c->subs[i]);
    free(c->subs);
    free(c->slots);
    json_decref(c->answers);
    free(c);
}

static void get_analysis(ig_serve *s, rt_httpd_req *req, const ig_token *token, const char *id,
                         double wait);

static void submitted(int rc, const char *msg, const rt_queue_submitted *out, size_t n, void *ud) {
    submit_call *c = ud;
    if (rc != RT_OK)
        respond_queue_error(c->s, c->req, rc, msg);
    else if (!c->answers) {
        /* The url the body gives: under server.external_url's path too, which a client behind
         * a proxy that serves the API there needs (a bare /v1/analyses/ID would miss it). */
        char *location = rt_analysis_url(c->s->base_url, out[0].id);
        rt_httpd_set_header(c->req, "Location", location);
        free(location);
        if (c->wait > 0) /* the long poll of GET ?wait=, filed before the client could ask */
            get_analysis(c->s, c->req, c->token, out[0].id, c->wait);
        else
            rt_httpd_respond_json(c->req, 202, accepted_json(c->s, &out[0]));
    } else {
        for (size_t i = 0; i < n; i++)
            json_array_set_new(c->answers, c->slots[i], accepted_json(c->s, &out[i]));
        rt_httpd_respond_json(c->req, 200, json_pack("{s:O}", "analyses", c->answers));
    }
    submit_call_free(c);
}

/* Sends the checked submissions of 'c' to the queue; answers at once when it cannot take them. */
static void enqueue(submit_call *c) {
    char why[256] = "";
    rt_queue_request *reqs = rt_xcalloc(c->n ? c->n : 1, sizeof *reqs);
    for (size_t i = 0; i < c->n; i++)
        to_request(c->s, &c->subs[i], &reqs[i]);
    int rc = rt_queue_submit(c->s->queue, reqs, c->n, submitted, c, why);
    free(reqs);
    if (rc != RT_OK) {
        if (rc == RT_EBACKEND || rc == RT_ELIMIT)
            respond_unavailable(c->s, c->req, why);
        else
            rt_httpd_error(c->req, 500, "internal", "%s", why);
        submit_call_free(c);
    }
}

/* ?wait=DURATION, at most MAX_WAIT; 0 when absent. -1 after answering 400. */
static double wait_param(rt_httpd_req *req) {
    char text[32], why[128];
    double wait = 0;
    int n = rt_httpd_query(req, "wait", text, sizeof text);
    if (n == RT_ENOTFOUND)
        return 0;
    if (n < 0 || rt_duration_parse(text, &wait, why) != 0 || wait < 0) {
        rt_httpd_error(req, 400, "bad_request", "wait must be a duration such as 30s");
        return -1;
    }
    return wait > MAX_WAIT ? MAX_WAIT : wait;
}

/* Parses the request body as JSON; NULL after answering 400. */
static json_t *body_json(rt_httpd_req *req) {
    json_error_t error;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &error);
    if (!body)
        rt_httpd_error(req, 400, "bad_request",
                       "the body is not valid JSON: %s (line %d, column %d)", error.text,
                       error.line, error.column);
    return body;
}

/* POST /v1/analyses; with ?wait=, answered as the long poll GET ?wait= of its analysis. */
static void submit_one(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    double wait = wait_param(req);
    json_t *body = wait < 0 ? NULL : body_json(req);
    if (!body)
        return;
    submit_call *c = rt_xcalloc(1, sizeof *c);
    c->s = s;
    c->req = req;
    c->token = token;
    c->wait = wait;
    c->subs = rt_xcalloc(1, sizeof *c->subs);
    c->n = 1;
    rt_diag diag = {0};
    const char *code;
    int status = check_submission(s, token, body, &c->subs[0], &code, &diag);
    json_decref(body);
    if (status) {
        respond_fields(req, status, code, &diag);
        rt_diag_free(&diag);
        submit_call_free(c);
        return;
    }
    enqueue(c);
}

static void submit_batch(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    json_t *body = body_json(req);
    if (!body)
        return;
    json_t *list = json_object_get(body, "analyses");
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > MAX_BATCH) {
        json_decref(body);
        rt_httpd_error(req, 400, "bad_request", "expected {\"analyses\": [ … ]} with 1 to %d items",
                       MAX_BATCH);
        return;
    }
    rt_diag unknown = {0}; /* as a submission's own fields: a typo is refused, never ignored */
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "analyses") != 0)
            rt_diag_add(&unknown, NULL, 0, key, "unknown field (expected analyses)");
    }
    if (rt_diag_count(&unknown)) {
        json_decref(body);
        respond_fields(req, 400, "bad_request", &unknown);
        rt_diag_free(&unknown);
        return;
    }
    size_t total = json_array_size(list);
    submit_call *c = rt_xcalloc(1, sizeof *c);
    c->s = s;
    c->req = req;
    c->subs = rt_xcalloc(total, sizeof *c->subs);
    c->slots = rt_xcalloc(total, sizeof *c->slots);
    c->answers = json_array();
    for (size_t i = 0; i < total; i++) {
        rt_diag diag = {0};
        const char *code;
        json_array_append_new(c->answers, json_null());
        if (check_submission(s, token, json_array_get(list, i), &c->subs[c->n], &code, &diag)) {
            json_array_set_new(c->answers, i, refusal_json(code, &diag));
            submission_free(&c->subs[c->n]);
            memset(&c->subs[c->n], 0, sizeof c->subs[c->n]);
        } else
            c->slots[c->n++] = i;
        rt_diag_free(&diag);
    }
    json_decref(body);
    if (c->n == 0) {
        rt_httpd_respond_json(req, 200, json_pack("{s:O}", "analyses", c->answers));
        submit_call_free(c);
        return;
    }
    enqueue(c);
}

/* ---- one analysis: status, result, long poll, cancel --------------------------------------- */

/* The API's view of 'a' without its result. */
static json_t *analysis_json(const ig_serve *s, const rt_queue_analysis *a) {
    json_t *labels = *a->labels ? json_loads(a->labels, 0, NULL) : NULL;
    char *url = rt_analysis_url(s->base_url, a->id);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:i, s:s}", "id", a->id, "analyzer",
                          a->analyzer, "status", a->status, "priority", a->priority, "labels",
                          labels ? labels : json_object(), "deliveries", a->deliveries, "url", url);
    free(url);
    set_time(o, "submitted_at", a->submitted_at);
    set_time(o, "started_at", a->started_at);
    set_time(o, "finished_at", a->finished_at);
    set_time(o, "deadline", a->deadline);
    set_time(o, "resolved_at", a->resolved_at);
    if (a->cancelling)
        json_object_set_new(o, "cancelling", json_true());
    if (*a->message)
        json_object_set_new(o, "error", json_string(a->message));
    return o;
}

/* The API's view of 'a' as text, with its result spliced in as the raw JSON text the worker
 * stored (no parse and dump of a result that may be large). Returns a malloc'd text. */
static char *analysis_text(const ig_serve *s, const rt_queue_analysis *a) {
    json_t *o = analysis_json(s, a);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!a->result || !text)
        return text;
    size_t n = strlen(text);
    char *full = rt_xmalloc(n + a->result_len + 16);
    memcpy(full, text, n - 1); /* without the closing brace */
    memcpy(full + n - 1, ",\"result\":", 10);
    memcpy(full + n + 9, a->result, a->result_len);
    memcpy(full + n + 9 + a->result_len, "}", 2);
    free(text);
    return full;
}

static bool finished(const rt_queue_analysis *a) {
    return strcmp(a->status, "queued") != 0 && strcmp(a->status, "running") != 0;
}

static void not_found(rt_httpd_req *req) {
    rt_httpd_error(req, 404, "not_found", "no analysis with this id (or it has expired)");
}

/* Answers 'req' with analysis 'a' as 'token' may see it: as not found when it may not. */
static void respond_analysis(const ig_serve *s, rt_httpd_req *req, const ig_token *token,
                             const rt_queue_analysis *a) {
    if (!ig_token_allows(token, a->analyzer, a->team)) {
        not_found(req);
        return;
    }
    char *text = analysis_text(s, a);
    rt_httpd_respond(req, 200, "application/json", text, strlen(text));
    free(text);
}

struct ig_waiter {
    ig_waiter *next;
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    char id[MAX_ID + 1];
    uv_timer_t timer;
};

typedef struct get_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    double wait;      /* seconds the client may wait for the end; 0: answer now */
    uint64_t ends_at; /* s->n_ends when the status was asked for */
    char id[MAX_ID + 1];
} get_call;

/* A submission with ?wait= whose analysis cannot be read (Redis went away after it took the
 * submission) is answered as one without ?wait=, with its id and url only: it is queued, and a
 * client that took a failure for a refusal would submit it again. False for other requests. */
static bool answered_as_queued(const ig_serve *s, rt_httpd_req *req, const char *id) {
    if (strcmp(req->method, "POST") != 0)
        return false;
    char *url = rt_analysis_url(s->base_url, id);
    rt_httpd_respond_json(req, 202, json_pack("{s:s, s:s}", "id", id, "url", url));
    free(url);
    return true;
}

static size_t bucket_of(const char *id) {
    size_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = h * 33 + *p;
    return h % IG_WAITER_BUCKETS;
}

/* Takes 'w' out of the table; false when it was not there (answered already). */
static bool unfile(ig_waiter *w) {
    for (ig_waiter **p = &w->s->waiters[bucket_of(w->id)]; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            w->s->n_waiters--;
            return true;
        }
    return false;
}

static void free_waiter(uv_handle_t *h) {
    free(h->data);
}

/* Ends 'w' once: out of the table, its timer closed; false when it had ended already. */
static bool end_waiter(ig_waiter *w) {
    if (!unfile(w))
        return false;
    uv_timer_stop(&w->timer);
    rt_httpd_on_abort(w->req, NULL, NULL);
    uv_close((uv_handle_t *)&w->timer, free_waiter);
    return true;
}

/* Answers 'w' with what the queue knows now. */
static void wake(ig_waiter *w) {
    if (end_waiter(w))
        get_analysis(w->s, w->req, w->token, w->id, 0);
}

/* Files 'w' anew with what is left of its wait: its analysis is read again. */
static void ask_again(ig_waiter *w) {
    double left = (double)uv_timer_get_due_in(&w->timer) / 1000.0;
    if (end_waiter(w))
        get_analysis(w->s, w->req, w->token, w->id, left);
}

static void waited_long_enough(uv_timer_t *timer) {
    wake(timer->data);
}

static void client_left(rt_httpd_req *req, void *ud) {
    if (end_waiter(ud)) /* the answer only frees the request now */
        rt_httpd_error(req, 499, "client_closed", "the client went away");
}

/* ---- reads ahead ----
 * A long-polled analysis usually ends a moment after its poll is filed; the watch then tells
 * the end, and a read of the analysis fetches the result: two round trips to Redis after the
 * end. A read queued behind the watch's blocking read (rt_queue_get_after_next_end) runs as
 * soon as that read returns, and its answer comes with the end: one. At most IG_READS_AHEAD
 * analyses at once: every watch read that returns runs them all again, ended or not, which
 * under load (reads that return every few milliseconds) would cost Redis more than the polls
 * gain; the others are read once the watch tells their end. */

typedef struct ahead_call {
    ig_serve *s;
    char id[RT_QUEUE_ID_SIZE];
} ahead_call;

/* The place of 'id' among the reads ahead ("" finds a free one), or -1. */
static int ahead_place(const ig_serve *s, const char *id) {
    for (int i = 0; i < IG_READS_AHEAD; i++)
        if (strcmp(s->ahead[i], id) == 0)
            return i;
    return -1;
}

static bool has_waiters(const ig_serve *s, const char *id) {
    for (const ig_waiter *w = s->waiters[bucket_of(id)]; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return true;
    return false;
}

static void got_ahead(int rc, const char *msg, const rt_queue_analysis *a, void *ud);

/* Queues a read of 'id' behind the watch's read, unless one is queued or there is no room. */
static void read_ahead(ig_serve *s, const char *id) {
    int place = ahead_place(s, "");
    if (place < 0 || ahead_place(s, id) >= 0)
        return;
    ahead_call *c = rt_xcalloc(1, sizeof *c);
    char why[256];
    c->s = s;
    rt_copy(c->id, sizeof c->id, id);
    if (rt_queue_get_after_next_end(s->queue, id, got_ahead, c, why) != RT_OK) {
        free(c);
        return;
    }
    memcpy(s->ahead[place], c->id, sizeof c->id);
    s->ahead_ended[place] = false;
}

/* A read ahead came back: it answers the long polls of its analysis when that ended; when the
 * read failed, or the watch told the end and the read still saw it running (a reconnection came
 * between them), they ask again for the rest of their wait; else another read waits behind the
 * next watch read. */
static void got_ahead(int rc, const char *msg, const rt_queue_analysis *a, void *ud) {
    ahead_call *c = ud;
    ig_serve *s = c->s;
    (void)msg;
    if (rc == RT_ECANCELED) { /* the queue closes; so does the server */
        free(c);
        return;
    }
    int place = ahead_place(s, c->id);
    bool ended = place >= 0 && s->ahead_ended[place], done = rc == RT_OK && finished(a);
    if (place >= 0)
        s->ahead[place][0] = '\0';
    for (ig_waiter *w = s->waiters[bucket_of(c->id)], *next; w; w = next) {
        next = w->next;
        if (strcmp(w->id, c->id) != 0)
            continue;
        if (done && end_waiter(w))
            respond_analysis(s, w->req, w->token, a);
        else if (!done && (rc != RT_OK || ended))
            ask_again(w);
    }
    if (rc == RT_OK && !done && !ended && has_waiters(s, c->id))
        read_ahead(s, c->id);
    free(c);
}

static void file_waiter(ig_serve *s, rt_httpd_req *req, const ig_token *token, const char *id,
                        double wait) {
    /* The client may have left while Redis was asked: its abort callback was not set then, and
     * setting it now does not call it (rt_httpd.h). Answering only frees the request. */
    if (rt_httpd_aborted(req)) {
        rt_httpd_error(req, 499, "client_closed", "the client went away");
        return;
    }
    ig_waiter *w = rt_xcalloc(1, sizeof *w);
    w->s = s;
    w->req = req;
    w->token = token;
    rt_copy(w->id, sizeof w->id, id);
    uv_timer_init(s->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, waited_long_enough, (uint64_t)(wait * 1000), 0);
    size_t b = bucket_of(id);
    w->next = s->waiters[b];
    s->waiters[b] = w;
    s->n_waiters++;
    rt_httpd_on_abort(req, client_left, w);
    read_ahead(s, w->id);
}

/* True when the watch saw 'id' end after the 'since'-th end: its status read may be stale. The
 * ring may have moved on meanwhile, and then it may be. */
static bool ended_since(const ig_serve *s, const char *id, uint64_t since) {
    if (s->n_ends - since > IG_RECENT_ENDS)
        return true;
    for (uint64_t i = since; i < s->n_ends; i++)
        if (strcmp(s->recent_ends[i % IG_RECENT_ENDS], id) == 0)
            return true;
    return false;
}

void ig_api_finished(const char *id, const char *analyzer, const char *status, double seconds,
                     void *ud) {
    ig_serve *s = ud;
    (void)analyzer, (void)status;
    ig_metrics_observe(s, seconds);
    rt_copy(s->recent_ends[s->n_ends++ % IG_RECENT_ENDS], RT_QUEUE_ID_SIZE, id);
    int place = *id ? ahead_place(s, id) : -1;
    if (place >= 0) { /* its read ahead, right behind this end, answers its long polls */
        s->ahead_ended[place] = true;
        return;
    }
    ig_waiter *w = s->waiters[bucket_of(id)];
    while (w) {
        ig_waiter *next = w->next;
        if (strcmp(w->id, id) == 0)
            wake(w);
        w = next;
    }
}

void ig_api_release_waiters(ig_serve *s) {
    for (size_t b = 0; b < IG_WAITER_BUCKETS; b++)
        while (s->waiters[b])
            wake(s->waiters[b]);
}

static void got_analysis(int rc, const char *msg, const rt_queue_analysis *a, void *ud) {
    get_call *c = ud;
    if (rc == RT_ENOTFOUND)
        not_found(c->req);
    else if (rc != RT_OK) {
        if (!answered_as_queued(c->s, c->req, c->id))
            respond_queue_error(c->s, c->req, rc, msg);
    } else if (c->wait > 0 && !finished(a) && !c->s->draining &&
               ig_token_allows(c->token, a->analyzer, a->team)) {
        /* It may have ended between Redis' answer and now, its end already told: ask again. */
        if (ended_since(c->s, a->id, c->ends_at))
            get_analysis(c->s, c->req, c->token, a->id, c->wait);
        else
            file_waiter(c->s, c->req, c->token, a->id, c->wait);
    } else {
        respond_analysis(c->s, c->req, c->token, a);
    }
    free(c);
}

static void get_analysis(ig_serve *s, rt_httpd_req *req, const ig_token *token, const char *id,
                         double wait) {
    char why[256] = "";
    get_call *c = rt_xcalloc(1, sizeof *c);
    *c = (get_call){.s = s, .req = req, .token = token, .wait = wait, .ends_at = s->n_ends};
    rt_copy(c->id, sizeof c->id, id);
    int rc = rt_queue_get(s->queue, id, got_analysis, c, why);
    if (rc != RT_OK) {
        free(c);
        if (rc == RT_EINPUT)
            rt_httpd_error(req, 404, "not_found", "no analysis with this id");
        else if (!answered_as_queued(s, req, id))
            respond_unavailable(s, req, why);
    }
}

typedef struct cancel_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    char id[MAX_ID + 1];
} cancel_call;

static void cancelled(int rc, const char *msg, rt_queue_cancel_outcome outcome, const char *status,
                      void *ud) {
    cancel_call *c = ud;
    if (rc == RT_ENOTFOUND)
        not_found(c->req);
    else if (rc != RT_OK)
        respond_queue_error(c->s, c->req, rc, msg);
    else if (outcome == RT_CANCEL_FINISHED)
        rt_httpd_error(c->req, 409, "conflict", "the analysis has finished (status %s)", status);
    else
        rt_httpd_respond_json(c->req, 202,
                              json_pack("{s:s, s:s, s:b}", "id", c->id, "status",
                                        outcome == RT_CANCEL_DONE ? "cancelled" : "running",
                                        "cancelling", outcome == RT_CANCEL_FLAGGED));
    free(c);
}

/* Cancels after checking, with a get, that the token may see the analysis. */
static void cancel_checked(int rc, const char *msg, const rt_queue_analysis *a, void *ud) {
    cancel_call *c = ud;
    char why[256] = "";
    if (rc == RT_ENOTFOUND || (rc == RT_OK && !ig_token_allows(c->token, a->analyzer, a->team)))
        not_found(c->req);
    else if (rc != RT_OK)
        respond_queue_error(c->s, c->req, rc, msg);
    else if (rt_queue_cancel(c->s->queue, c->id, cancelled, c, why) == RT_OK)
        return;
    else
        respond_unavailable(c->s, c->req, why);
    free(c);
}

static void cancel_analysis(ig_serve *s, rt_httpd_req *req, const ig_token *token, const char *id) {
    char why[256] = "";
    cancel_call *c = rt_xcalloc(1, sizeof *c);
    c->s = s;
    c->req = req;
    c->token = token;
    rt_copy(c->id, sizeof c->id, id);
    int rc = rt_queue_get(s->queue, id, cancel_checked, c, why);
    if (rc != RT_OK) {
        free(c);
        if (rc == RT_EINPUT) /* not an analysis id: as GET answers it */
            rt_httpd_error(req, 404, "not_found", "no analysis with this id");
        else
            respond_unavailable(s, req, why);
    }
}

/* ---- one analysis' recording --------------------------------------------------------------- */

typedef struct recording_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    char id[MAX_ID + 1];
    char status[32]; /* the analysis', for the message when none is kept */
} recording_call;

static void got_recording(int rc, const char *msg, const char *text, size_t len, void *ud) {
    recording_call *c = ud;
    bool open = strcmp(c->status, "queued") == 0 || strcmp(c->status, "running") == 0;
    if (rc == RT_ENOTFOUND)
        rt_httpd_error(c->req, 404, "no_recording", "no recording kept for this analysis%s%s%s",
                       open ? " (yet: it is " : "", open ? c->status : "", open ? ")" : "");
    else if (rc != RT_OK)
        respond_queue_error(c->s, c->req, rc, msg);
    else
        rt_httpd_respond(c->req, 200, "application/json", text, len);
    free(c);
}

/* The recording is served under the analysis' own token scoping: first the analysis. */
static void recording_checked(int rc, const char *msg, const rt_queue_analysis *a, void *ud) {
    recording_call *c = ud;
    char why[256] = "";
    if (rc == RT_ENOTFOUND || (rc == RT_OK && !ig_token_allows(c->token, a->analyzer, a->team)))
        rt_httpd_error(c->req, 404, "not_found", "no such analysis (or it has expired)");
    else if (rc != RT_OK)
        respond_queue_error(c->s, c->req, rc, msg);
    else {
        rt_copy(c->status, sizeof c->status, a->status);
        if (rt_queue_get_recording(c->s->queue, c->id, got_recording, c, why) == RT_OK)
            return;
        respond_unavailable(c->s, c->req, why);
    }
    free(c);
}

static void get_recording(ig_serve *s, rt_httpd_req *req, const ig_token *token, const char *id) {
    char why[256] = "";
    recording_call *c = rt_xcalloc(1, sizeof *c);
    *c = (recording_call){.s = s, .req = req, .token = token};
    rt_copy(c->id, sizeof c->id, id);
    int rc = rt_queue_get(s->queue, id, recording_checked, c, why);
    if (rc != RT_OK) {
        free(c);
        if (rc == RT_EINPUT)
            rt_httpd_error(req, 404, "not_found", "no such analysis");
        else
            respond_unavailable(s, req, why);
    }
}

/* /v1/analyses/ID/recording: its id into 'id' (MAX_ID + 1 bytes); false for other paths. */
static bool recording_path(const char *path, char *id) {
    static const char prefix[] = "/v1/analyses/", suffix[] = "/recording";
    size_t n = strlen(path), p = sizeof prefix - 1, q = sizeof suffix - 1;
    if (n <= p + q || strncmp(path, prefix, p) != 0 || strcmp(path + n - q, suffix) != 0)
        return false;
    size_t len = n - p - q;
    if (len > MAX_ID || memchr(path + p, '/', len))
        return false;
    memcpy(id, path + p, len);
    id[len] = '\0';
    return true;
}

/* ---- listings ---------------------------------------------------------------------------- */

/* A page of a listing being answered. A full page may be the last: the queue cannot tell, so
 * the page after it is probed (for one item) before the answer says that more may follow. */
typedef struct list_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    /* GET /v1/analyses: the filter, and the texts it points into, for the probe */
    rt_queue_filter f;
    char status[64], analyzer[256], label[MAX_LABEL_LEN + 256], cursor[IG_CURSOR_PLAIN + 1];
    json_t *page;                   /* a full page while the next is probed (owned) */
    const char *key;                /* its member: "analyses", "dead_letters" */
    char next[IG_CURSOR_PLAIN + 1]; /* the queue's cursor after it */
} list_call;

/* A page of GET /v1/analyses (or /v1/dead-letters) names where the next one starts: the place
 * after the last analysis (dead letter) it examined, which the token may not see (a page skips
 * those, and its scan is bounded, so it cannot always end on one it shows). For a token that
 * cursor is sealed, so that it tells nothing of that analysis, not even when it was submitted
 * (the listing's and the dead letters' entry ids are times): AES-256-GCM under a key derived from
 * the token's secret (HMAC-SHA256 of CURSOR_LABEL), a fresh nonce each time, as CURSOR_PREFIX then
 * hex of nonce, ciphertext and tag. Only that token can open it, any serve process with the same
 * tokens can (nothing to share or store), and a cursor it did not seal is refused. Without tokens
 * every analysis is visible: the cursor stays the queue's own, plain. */
#define CURSOR_PREFIX "s1."
#define CURSOR_LABEL  "inquest list cursor v1"
#define CURSOR_PLAIN  IG_CURSOR_PLAIN /* a queue cursor: "ENTRY:LEFT" (41 + 1 + 4) */
#define CURSOR_NONCE  12
#define CURSOR_TAG    16
#define CURSOR_TEXT   (sizeof CURSOR_PREFIX + 2 * (CURSOR_NONCE + CURSOR_PLAIN + CURSOR_TAG))
_Static_assert(CURSOR_TEXT <= IG_CURSOR_TEXT, "IG_CURSOR_TEXT holds a sealed cursor");

/* The cursor key of 'token' into 'key' (32 bytes). Aborts when libcrypto cannot: a server that
 * could not seal would leak what a listing hides, and that is a broken installation. */
static void cursor_key(const ig_token *token, unsigned char *key) {
    size_t len = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, token->secret, token->len,
                   (const unsigned char *)CURSOR_LABEL, sizeof CURSOR_LABEL - 1, key, 32, &len) ||
        len != 32) {
        fprintf(stderr, "inquest serve: listing cursor: HMAC-SHA256 failed\n");
        abort();
    }
}

/* AES-256-GCM of 'n' bytes at 'in' into 'out' (encrypt: 'tag' written; else checked). */
static bool cursor_gcm(bool encrypt, const unsigned char *key, const unsigned char *nonce,
                       const unsigned char *in, int n, unsigned char *out, unsigned char *tag) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, end = 0;
    bool ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, encrypt) &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CURSOR_NONCE, NULL) == 1 &&
              EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, encrypt) &&
              EVP_CipherUpdate(ctx, out, &len, in, n) && len == n &&
              (encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CURSOR_TAG, tag) == 1) &&
              EVP_CipherFinal_ex(ctx, out + len, &end) == 1 &&
              (!encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CURSOR_TAG, tag) == 1);
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* The cursor 'plain' as 'token' gets it, into 'out' (CURSOR_TEXT bytes): sealed for a token,
 * as it is without tokens. */
void ig_cursor_seal(const ig_token *token, const char *plain, char *out) {
    static const char digits[] = "0123456789abcdef";
    unsigned char key[32], box[CURSOR_NONCE + CURSOR_PLAIN + CURSOR_TAG];
    size_t n = strlen(plain);
    if (!token || n > CURSOR_PLAIN) { /* a queue cursor is never longer (rt_queue_list) */
        rt_copy(out, CURSOR_TEXT, token ? "" : plain);
        return;
    }
    cursor_key(token, key);
    if (RAND_bytes(box, CURSOR_NONCE) != 1 ||
        !cursor_gcm(true, key, box, (const unsigned char *)plain, (int)n, box + CURSOR_NONCE,
                    box + CURSOR_NONCE + n)) {
        fprintf(stderr, "inquest serve: listing cursor: AES-256-GCM failed\n");
        abort();
    }
    OPENSSL_cleanse(key, sizeof key);
    char *o = out + sizeof CURSOR_PREFIX - 1;
    memcpy(out, CURSOR_PREFIX, sizeof CURSOR_PREFIX - 1);
    for (size_t i = 0; i < CURSOR_NONCE + n + CURSOR_TAG; i++) {
        *o++ = digits[box[i] >> 4];
        *o++ = digits[box[i] & 15];
    }
    *o = '\0';
}

static int hex_value(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The queue's cursor in the cursor 'text' a client sent, into 'plain' (CURSOR_PLAIN + 1 bytes):
 * opened for a token, as it is without tokens. False when 'token' did not seal it. */
bool ig_cursor_open(const ig_token *token, const char *text, char *plain) {
    unsigned char key[32], box[CURSOR_NONCE + CURSOR_PLAIN + CURSOR_TAG];
    size_t p = sizeof CURSOR_PREFIX - 1, hex = strlen(text) - (strlen(text) >= p ? p : 0);
    if (!token) {
        size_t n = strlen(text);
        if (n > CURSOR_PLAIN)
            return false;
        memcpy(plain, text, n + 1);
        return true;
    }
    if (strncmp(text, CURSOR_PREFIX, p) != 0 || hex % 2 || hex / 2 > sizeof box ||
        hex / 2 <= CURSOR_NONCE + CURSOR_TAG)
        return false;
    for (size_t i = 0; i < hex / 2; i++) {
        int hi = hex_value(text[p + 2 * i]), lo = hex_value(text[p + 2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        box[i] = (unsigned char)(hi << 4 | lo);
    }
    size_t n = hex / 2 - CURSOR_NONCE - CURSOR_TAG;
    cursor_key(token, key);
    bool ok = cursor_gcm(false, key, box, box + CURSOR_NONCE, (int)n, (unsigned char *)plain,
                         box + CURSOR_NONCE + n);
    OPENSSL_cleanse(key, sizeof key);
    plain[ok ? n : 0] = '\0';
    return ok;
}

/* Answers a listing: 'list' (stolen) under 'key', with the cursor of the next page if any; or
 * the queue's error 'rc'. Frees 'c'. */
static void respond_page(list_call *c, int rc, const char *msg, const char *key, json_t *list,
                         const char *next_cursor) {
    if (rc != RT_OK) {
        json_decref(list);
        respond_queue_error(c->s, c->req, rc, msg);
    } else {
        json_t *body = json_pack("{s:o}", key, list);
        if (next_cursor)
            json_object_set_new(body, "next_cursor", json_string(next_cursor));
        rt_httpd_respond_json(c->req, 200, body);
    }
    free(c);
}

/* Answers the full page 'c->page' once the page after it was probed: with the cursor to it
 * when 'more' may be there. Frees 'c'. */
static void respond_probed(list_call *c, bool more) {
    char sealed[CURSOR_TEXT];
    if (more)
        ig_cursor_seal(c->token, c->next, sealed);
    respond_page(c, RT_OK, "", c->key, c->page, more ? sealed : NULL);
}

/* Keeps the full page 'list' (stolen) under 'key' and the queue's 'next' cursor in 'c' while
 * the page after it is probed. */
static void hold_page(list_call *c, const char *key, json_t *list, const char *next) {
    c->key = key;
    c->page = list;
    rt_copy(c->next, sizeof c->next, next);
}

/* The probe after a full page of analyses: more may follow when it found one, or could not
 * tell (its scan ran out, Redis failed: then a client is better told to ask once more). */
static void probed(int rc, const char *msg, const rt_queue_analysis *items, size_t n,
                   const char *next_cursor, void *ud) {
    (void)msg, (void)items;
    respond_probed(ud, rc != RT_OK || n > 0 || next_cursor);
}

static void listed(int rc, const char *msg, const rt_queue_analysis *items, size_t n,
                   const char *next_cursor, void *ud) {
    list_call *c = ud;
    char why[256];
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!ig_token_allows(c->token, items[i].analyzer, items[i].team))
            continue;
        json_array_append_new(list, analysis_json(c->s, &items[i]));
    }
    if (rc == RT_OK && next_cursor && n == c->f.limit) {
        hold_page(c, "analyses", list, next_cursor);
        c->f.cursor = c->next;
        c->f.limit = 1;
        if (rt_queue_list(c->s->queue, &c->f, probed, c, why) != RT_OK)
            respond_probed(c, true);
        return;
    }
    char sealed[CURSOR_TEXT];
    if (rc == RT_OK && next_cursor)
        ig_cursor_seal(c->token, next_cursor, sealed);
    respond_page(c, rc, msg, "analyses", list, rc == RT_OK && next_cursor ? sealed : NULL);
}

/* Answers a listing the queue would not start: its arguments ('rc' RT_EINPUT: a bad cursor or
 * filter, 'why' says which), or Redis. */
static void refuse_listing(ig_serve *s, rt_httpd_req *req, int rc, const char *why) {
    if (rc == RT_EINPUT)
        rt_httpd_error(req, 400, "bad_request", "%s", why);
    else
        respond_unavailable(s, req, why);
}

/* ?limit= from 1 to 500; 0 after answering 400. */
static size_t limit_param(rt_httpd_req *req) {
    char text[16];
    int n = rt_httpd_query(req, "limit", text, sizeof text);
    if (n == RT_ENOTFOUND)
        return 50;
    char *end = NULL;
    long limit = n > 0 ? strtol(text, &end, 10) : 0;
    if (n <= 0 || *end || limit < 1 || limit > 500) {
        rt_httpd_error(req, 400, "bad_request", "limit must be a whole number from 1 to 500");
        return 0;
    }
    return (size_t)limit;
}

/* ?NAME= as a time (RFC 3339, Unix seconds) or a duration back from now (1h) into '*t'; 0 when
 * absent. False after answering 400. */
bool ig_query_time(rt_httpd_req *req, const char *name, double *t) {
    char text[64], why[128];
    double d, now = rt_wallclock();
    int n = rt_httpd_query(req, name, text, sizeof text);
    *t = 0;
    if (n == RT_ENOTFOUND || n == 0)
        return true;
    /* A bare number is Unix seconds, not a duration of that many seconds back. */
    bool number = n > 0 && strspn(text, "0123456789.") == (size_t)n;
    if (n > 0 && !number && rt_duration_parse(text, &d, why) == 0 && d > 0) {
        /* 0 means "no bound" to the callers, and a stream id cannot be negative: a duration back
         * past 1970 would be an until that bounds nothing, or a since Redis refuses. */
        *t = now - d;
        if (*t <= 0) {
            rt_httpd_error(req, 400, "bad_request",
                           "%s: %s back from now is before 1970; give a shorter duration or a "
                           "time",
                           name, text);
            return false;
        }
    } else if (n < 0 || rt_time_parse(text, now, t, why) != 0 || *t <= 0) {
        rt_httpd_error(req, 400, "bad_request",
                       "%s must be a time (RFC 3339, Unix seconds) or a duration back (1h)", name);
        return false;
    }
    return true;
}

/* ?status= into 'c': one an analysis can have (docs/api.md), or absent. False after answering
 * 400 naming them, as /v1/actions?state= does. */
static bool status_param(rt_httpd_req *req, list_call *c) {
    char message[256] = "status must be one of: queued, running";
    int n = rt_httpd_query(req, "status", c->status, sizeof c->status);
    if (n == RT_ENOTFOUND || n == 0)
        return true;
    bool known = n > 0 && (strcmp(c->status, "queued") == 0 || strcmp(c->status, "running") == 0);
    for (size_t i = 0; i < sizeof rt_queue_statuses / sizeof *rt_queue_statuses; i++) {
        known = known || (n > 0 && strcmp(c->status, rt_queue_statuses[i]) == 0);
        size_t len = strlen(message);
        snprintf(message + len, sizeof message - len, ", %s", rt_queue_statuses[i]);
    }
    if (!known) {
        ig_respond_field_error(req, "status", message);
        return false;
    }
    c->f.status = c->status;
    return true;
}

/* ?label=NAME=VALUE into 'c': the analyses whose label NAME is VALUE (service=checkout). False
 * after answering 400. */
static bool label_param(rt_httpd_req *req, list_call *c) {
    int n = rt_httpd_query(req, "label", c->label, sizeof c->label);
    char *eq = n > 0 ? strchr(c->label, '=') : NULL;
    if (n != RT_ENOTFOUND && (!eq || eq == c->label)) {
        rt_httpd_error(req, 400, "bad_request",
                       "label must be NAME=VALUE, such as service=checkout");
        return false;
    }
    if (eq) {
        *eq = '\0';
        c->f.label = c->label;
        c->f.label_value = eq + 1;
    }
    return true;
}

/* ?analyzer= into 'c': an analyzer name the token may use, or absent. False after answering
 * 400 (no name) or 403, as a submission of it is, whether there is one or not: its analyses
 * would be left out of every page anyway, and the answer tells nothing of what exists. */
static bool analyzer_param(ig_serve *s, rt_httpd_req *req, const ig_token *token, list_call *c) {
    int n = rt_httpd_query(req, "analyzer", c->analyzer, sizeof c->analyzer);
    if ((n < 0 && n != RT_ENOTFOUND) || (n > 0 && !wk_valid_name(c->analyzer))) {
        rt_httpd_error(req, 400, "bad_request", "analyzer: %s",
                       n > 0 ? not_a_name(c->analyzer) : "not an analyzer name");
        return false;
    }
    if (n > 0 && !ig_token_allows(token, c->analyzer, catalog_owner(s, c->analyzer))) {
        rt_httpd_error(req, 403, "forbidden", "no analyzer named '%s' that this token may use",
                       c->analyzer);
        return false;
    }
    if (n > 0)
        c->f.analyzer = c->analyzer;
    return true;
}

/* ?cursor= into 'c', as this token was given it. False after answering 400. */
static bool cursor_param(rt_httpd_req *req, const ig_token *token, list_call *c) {
    char text[CURSOR_TEXT + 64];
    int n = rt_httpd_query(req, "cursor", text, sizeof text);
    if ((n < 0 && n != RT_ENOTFOUND) || (n > 0 && !ig_cursor_open(token, text, c->cursor))) {
        rt_httpd_error(req, 400, "bad_request",
                       "cursor must be a next_cursor this token was given by GET /v1/analyses");
        return false;
    }
    if (n > 0)
        c->f.cursor = c->cursor;
    return true;
}

static void list_analyses(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    char why[256] = "";
    list_call *c = rt_xcalloc(1, sizeof *c);
    c->s = s;
    c->req = req;
    c->token = token;
    if (!(c->f.limit = limit_param(req)) || !ig_query_time(req, "since", &c->f.since) ||
        !ig_query_time(req, "until", &c->f.until) || !label_param(req, c) ||
        !status_param(req, c) || !analyzer_param(s, req, token, c) ||
        !cursor_param(req, token, c)) {
        free(c);
        return;
    }
    int rc = rt_queue_list(s->queue, &c->f, listed, c, why);
    if (rc != RT_OK) {
        free(c);
        refuse_listing(s, req, rc, why);
    }
}

/* The JSON text 'text' that the queue stored, as a value; text it cannot parse (it wrote it, so
 * only a damaged entry) stays a string, so that nothing of it is hidden. */
static json_t *stored_json(const char *text) {
    json_t *v = *text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_string(text);
}

/* The probe after a full page of dead letters: as probed(). */
static void dead_probed(int rc, const char *msg, const rt_queue_dead *items, size_t n,
                        const char *next_cursor, void *ud) {
    (void)msg, (void)items, (void)next_cursor;
    respond_probed(ud, rc != RT_OK || n > 0);
}

static void dead_listed(int rc, const char *msg, const rt_queue_dead *items, size_t n,
                        const char *next_cursor, void *ud) {
    list_call *c = ud;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!ig_token_allows(c->token, items[i].analyzer, items[i].team))
            continue;
        const rt_queue_dead *d = &items[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "origin", d->origin, "id", d->id,
                              "analyzer", d->analyzer, "priority", d->priority, "reason", d->reason,
                              "deliveries", d->deliveries);
        json_object_set_new(o, "entry", json_string(d->entry));
        if (!*d->id) /* the intake's misfits never became an analysis */
            json_object_set_new(o, "id", json_null());
        set_time(o, "at", d->at);
        json_object_set_new(o, "inputs", stored_json(d->inputs));
        if (strcmp(d->origin, "intake") == 0) {
            json_object_set_new(o, "route", json_string(d->route));
            json_object_set_new(o, "source", json_string(d->source));
            json_object_set_new(o, "fingerprint", json_string(d->fingerprint));
            json_object_set_new(o, "alert", stored_json(d->alert));
            json_object_set_new(o, "errors", stored_json(d->errors));
        }
        json_array_append_new(list, o);
    }
    /* The queue gives a cursor after a full page only, which may be the last: probed. The next
     * page starts after the last entry examined, which the token may not see: sealed like a
     * listing's cursor. */
    char why[256];
    if (rc == RT_OK && next_cursor) {
        hold_page(c, "dead_letters", list, next_cursor);
        if (rt_queue_dead_letters(c->s->queue, c->next, 1, dead_probed, c, why) != RT_OK)
            respond_probed(c, true);
        return;
    }
    respond_page(c, rc, msg, "dead_letters", list, NULL);
}

static void list_dead(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    char text[CURSOR_TEXT + 64], cursor[CURSOR_PLAIN + 1], why[256] = "";
    size_t limit = limit_param(req);
    if (!limit)
        return;
    int n = rt_httpd_query(req, "cursor", text, sizeof text);
    bool has_cursor = n > 0;
    /* Redis would refuse a malformed one ("Invalid stream ID"), and that reads as Redis trouble. */
    if ((n < 0 && n != RT_ENOTFOUND) ||
        (has_cursor && (!ig_cursor_open(token, text, cursor) || !rt_stream_id(cursor)))) {
        rt_httpd_error(req, 400, "bad_request",
                       "cursor must be a next_cursor this token was given by GET "
                       "/v1/dead-letters");
        return;
    }
    list_call *c = rt_xcalloc(1, sizeof *c);
    *c = (list_call){.s = s, .req = req, .token = token};
    int rc =
        rt_queue_dead_letters(s->queue, has_cursor ? cursor : NULL, limit, dead_listed, c, why);
    if (rc != RT_OK) {
        free(c);
        refuse_listing(s, req, rc, why);
    }
}

/* ---- routing ----------------------------------------------------------------------------- */

static void method_not_allowed(rt_httpd_req *req, const char *allow) {
    rt_httpd_set_header(req, "Allow", allow);
    rt_httpd_error(req, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)",
                   req->method, allow);
}

static bool is_get(const rt_httpd_req *req) {
    return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

/* /healthz, /readyz, /metrics: no token, for probes and Prometheus. */
static bool operations(ig_serve *s, rt_httpd_req *req) {
    bool ours = path_is(req->path, "/healthz") || path_is(req->path, "/readyz") ||
                path_is(req->path, "/metrics");
    if (ours && !is_get(req))
        method_not_allowed(req, "GET");
    else if (path_is(req->path, "/healthz"))
        rt_httpd_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
    else if (path_is(req->path, "/readyz")) {
        if (rt_queue_is_up(s->queue) && !s->draining)
            rt_httpd_respond_json(req, 200, json_pack("{s:s}", "status", "ready"));
        else {
            ig_retry_after(s, req);
            rt_httpd_error(req, 503, "unavailable", "not ready: %s",
                           s->draining ? "draining" : rt_queue_error(s->queue));
        }
    } else if (path_is(req->path, "/metrics"))
        ig_metrics_respond(s, req);
    else
        return false;
    return true;
}

static void analyses_route(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    char id_of[MAX_ID + 1];
    if (ig_api_feedback(s, req, token)) /* /v1/analyses/ID/feedback and /case */
        return;
    if (recording_path(req->path, id_of)) {
        is_get(req) ? get_recording(s, req, token, id_of) : method_not_allowed(req, "GET");
        return;
    }
    if (path_is(req->path, "/v1/analyses")) {
        if (strcmp(req->method, "POST") == 0)
            submit_one(s, req, token);
        else if (is_get(req))
            list_analyses(s, req, token);
        else
            method_not_allowed(req, "GET, POST");
        return;
    }
    const char *id = segment_after(req->path, "/v1/analyses/");
    if (!id || strlen(id) > MAX_ID) {
        rt_httpd_error(req, 404, "not_found", "no such path: %s", req->path);
        return;
    }
    double wait = is_get(req) ? wait_param(req) : 0;
    if (wait < 0)
        return;
    if (is_get(req))
        get_analysis(s, req, token, id, wait);
    else if (strcmp(req->method, "DELETE") == 0)
        cancel_analysis(s, req, token, id);
    else
        method_not_allowed(req, "GET, DELETE");
}

static int by_text(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True when no query parameter of 'req' is given twice; else false after answering 400. None of
 * the API's parameters takes several values, and reading the first would quietly drop the other
 * (docs/api.md, Conventions). The names are sorted to find a repeat, whatever their number. */
static bool params_once(rt_httpd_req *req) {
    size_t n = 1, k = 0;
    for (const char *p = req->query; *p; p++)
        n += *p == '&';
    char **names = rt_xcalloc(n, sizeof *names), name[256];
    for (const char *p = req->query; *p;) {
        size_t pair = strcspn(p, "&"), len = strcspn(p, "=&");
        if (pair > 0 && rt_httpd_url_decode(p, len, true, name, sizeof name) >= 0)
            names[k++] = rt_xstrdup(name);
        p += pair + (p[pair] == '&');
    }
    qsort(names, k, sizeof *names, by_text);
    size_t twice = 0;
    while (twice + 1 < k && strcmp(names[twice], names[twice + 1]) != 0)
        twice++;
    if (twice + 1 < k)
        rt_httpd_error(req, 400, "bad_request",
                       "the query parameter %s is given twice: give it once", names[twice]);
    for (size_t i = 0; i < k; i++)
        free(names[i]);
    free(names);
    return twice + 1 >= k;
}

void ig_api_handle(rt_httpd_req *req, void *ud) {
    ig_serve *s = ud;
    const ig_token *token = NULL;
    if (operations(s, req) || ig_intake_handle(s, req) || ig_console_handle(s, req) ||
        !authenticate(s, req, &token) || !params_once(req))
        return;
    bool submits = strcmp(req->method, "POST") == 0;
    if (submits && s->draining) {
        ig_retry_after(s, req);
        rt_httpd_error(req, 503, "unavailable", "the server is shutting down");
    } else if (path_is(req->path, "/v1/analyses:batch")) {
        if (submits)
            submit_batch(s, req, token);
        else
            method_not_allowed(req, "POST");
    } else if (strncmp(req->path, "/v1/analyses", 12) == 0)
        analyses_route(s, req, token);
    else if (strncmp(req->path, "/v1/actions", 11) == 0 || path_is(req->path, "/v1/audit"))
        ig_api_actions(s, req, token);
    else if (ig_api_feedback(s, req, token) || ig_api_insights(s, req, token) ||
             ig_api_backtests(s, req, token))
        return; /* /v1/feedback, /v1/insights, /v1/backtests…: answered */
    else if (path_is(req->path, "/v1/dead-letters"))
        is_get(req) ? list_dead(s, req, token) : method_not_allowed(req, "GET");
    else if (path_is(req->path, "/v1/analyzers"))
        is_get(req) ? list_analyzers(s, req, token) : method_not_allowed(req, "GET");
    else if (segment_after(req->path, "/v1/analyzers/"))
        is_get(req) ? describe_analyzer(s, req, token, segment_after(req->path, "/v1/analyzers/"))
                    : method_not_allowed(req, "GET");
    else
        rt_httpd_error(req, 404, "not_found", "no such path: %s", req->path);
}

/* ---- records of a stream as JSON lines (the audit, the feedback export) ------------------------
 */

void ig_respond_records(rt_httpd_req *req, const redisReply *reply, const char *after,
                        const ig_token *token, json_t *(*to_json)(const redisReply *record)) {
    /* The next page starts after the last record read, also one the token may not see: an
     * export that resumes there reads nothing twice and misses nothing it may see. */
    const redisReply *last = reply->elements ? reply->element[reply->elements - 1] : NULL;
    const char *next = last && last->type == REDIS_REPLY_ARRAY && last->elements > 0 &&
                               last->element[0]->type == REDIS_REPLY_STRING
                           ? last->element[0]->str
                           : after;
    if (*next)
        rt_httpd_set_header(req, "Inquest-Next-After", next);
    /* What was read, not what is shown: a scoped token's page can show fewer lines than it read,
     * and only a page that read fewer than its limit is the end. */
    char read[24];
    snprintf(read, sizeof read, "%zu", reply->elements);
    rt_httpd_set_header(req, "Inquest-Records-Read", read);
    size_t cap = 4096, n = 0;
    char *text = rt_xmalloc(cap);
    for (size_t i = 0; i < reply->elements; i++) {
        json_t *o = to_json(reply->element[i]);
        bool shown = o && ig_token_allows(token, json_string_value(json_object_get(o, "analyzer")),
                                          json_string_value(json_object_get(o, "team")));
        char *line = shown ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!line)
            continue;
        size_t len = strlen(line);
        if (n + len + 2 > cap) {
            cap = (n + len + 2) * 2;
            text = rt_xrealloc(text, cap);
        }
        memcpy(text + n, line, len);
        text[n + len] = '\n';
        n += len + 1;
        free(line);
    }
    rt_httpd_respond(req, 200, "application/x-ndjson", text, n);
    free(text);
}
