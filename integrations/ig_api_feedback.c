/* integrations/ig_api_feedback.c -- people's verdicts on analyses in the /v1 API (docs/api.md,
 * Feedback): POST and GET /v1/analyses/ID/feedback, the export GET /v1/feedback (JSON lines,
 * paged like the audit), and GET /v1/analyses/ID/case, the backtest case a verdict makes of an
 * analysis in one step (docs/backtest.md, "Making cases"): case.json and recording.json in one
 * JSON document, or in a tar. Verdicts live in Redis through ig_store.c; the rest of the API is
 * ig_api.c.
 *
 * Scoping is the analysis': a token that may not read an analysis neither reads nor gives a
 * verdict on it, nor sees it in the export (404, or left out). A verdict outlives its analysis
 * (feedback.ttl against queue.result_ttl), and each verdict carries its analyzer and team, so the
 * verdicts of an expired analysis are still scoped. */
#define _GNU_SOURCE /* strncasecmp */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "bt.h"
#include "ig_serve.h"
#include "ig_store.h"

#define MAX_ID        64
#define HISTORY       IG_FEEDBACK_KEEP /* verdicts shown per analysis: all it holds */
#define EXPORT_LIMIT  1000             /* records per page of /v1/feedback by default */
#define EXPORT_MAX    10000            /* and at most */
#define CASE_NAME_MAX 80
#define TAR_BLOCK     512

/* ---- small helpers --------------------------------------------------------------------------- */

/* /v1/analyses/ID/'suffix': its id into 'id' (MAX_ID + 1 bytes); false for other paths. */
static bool analysis_path(const char *path, const char *suffix, char *id) {
    static const char prefix[] = "/v1/analyses/";
    size_t n = strlen(path), p = sizeof prefix - 1, q = strlen(suffix);
    if (n <= p + q || strncmp(path, prefix, p) != 0 || strcmp(path + n - q, suffix) != 0)
        return false;
    size_t len = n - p - q;
    if (len > MAX_ID || memchr(path + p, '/', len))
        return false;
    memcpy(id, path + p, len);
    id[len] = '\0';
    return true;
}

static void method_not_allowed(rt_httpd_req *req, const char *allow) {
    rt_httpd_set_header(req, "Allow", allow);
    rt_httpd_error(req, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)",
                   req->method, allow);
}

static bool is_get(const rt_httpd_req *req) {
    return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

/* Answers a failure of Redis or of a function: 404, 409, 400, 503 or 500. */
static void respond_store_error(const ig_serve *s, rt_httpd_req *req, int rc, const char *msg) {
    if (rc == RT_ENOTFOUND)
        rt_httpd_error(req, 404, "not_found", "no such analysis (or it has expired)");
    else if (rc == RT_EUSAGE)
        rt_httpd_error(req, 409, "conflict", "%s", msg);
    else if (rc == RT_EINPUT)
        rt_httpd_error(req, 400, "bad_request", "%s", msg);
    else if (rc == RT_EBACKEND || rc == RT_ETIMEDOUT || rc == RT_ECANCELED || rc == RT_ELIMIT) {
        ig_retry_after(s, req);
        rt_httpd_error(req, 503, "unavailable", "Redis cannot answer: %s",
                       msg && *msg ? msg : rt_strerror(rc));
    } else
        rt_httpd_error(req, 500, "internal", "%s", msg && *msg ? msg : rt_strerror(rc));
}

static bool final_status(const char *status) {
    return strcmp(status, "queued") != 0 && strcmp(status, "running") != 0;
}

/* Who gives a verdict, as the audit names deciders: the token, or nobody in particular. */
static void actor_of(const ig_token *token, char *out, size_t size) {
    if (token)
        snprintf(out, size, "token:%s", token->config->name);
    else
        snprintf(out, size, "anonymous");
}

/* ---- one analysis' verdicts ------------------------------------------------------------------ */

typedef struct fb_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    char id[MAX_ID + 1];
    char *verdict, *root_cause, *note; /* POST: the verdict (owned) */
    bool history;                      /* POST: answer with the history (?history=true) */
} fb_call;

static void fb_call_free(fb_call *c) {
    free(c->verdict);
    free(c->root_cause);
    free(c->note);
    free(c);
}

/* The answer of GET (and of POST with ?history=true): { analysis, feedback: the latest or null,
 * verdicts: how many, history: newest first } from the list 'list' (the library's JSON texts). */
static json_t *verdicts_json(const char *id, const redisReply *list) {
    json_t *history = json_array();
    for (size_t i = 0; list && list->type == REDIS_REPLY_ARRAY && i < list->elements; i++) {
        const redisReply *e = list->element[i];
        json_t *v = e->type == REDIS_REPLY_STRING ? ig_feedback_record_json(e->str, e->len) : NULL;
        if (v)
            json_array_append_new(history, v);
    }
    json_t *latest = json_array_get(history, 0);
    return json_pack("{s:s, s:O, s:I, s:o}", "analysis", id, "feedback",
                     latest ? latest : json_null(), "verdicts",
                     (json_int_t)json_array_size(history), "history", history);
}

static void got_analysis(int rc, const char *msg, const rt_queue_analysis *a, void *ud);

/* The verdicts are read first: they are scoped by the analyzer they name, and outlive their
 * analysis. None: the analysis itself says whether the token may see it. */
static void got_verdicts(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    fb_call *c = ud;
    char why[256] = "";
    (void)r;
    if (rc != RT_OK || !reply || reply->type != REDIS_REPLY_ARRAY) {
        respond_store_error(c->s, c->req, rc != RT_OK ? rc : RT_EBADRESPONSE, msg);
        fb_call_free(c);
        return;
    }
    json_t *answer = verdicts_json(c->id, reply);
    const json_t *latest = json_object_get(answer, "feedback");
    if (json_is_object(latest)) {
        if (ig_token_allows(c->token, json_string_value(json_object_get(latest, "analyzer")),
                            json_string_value(json_object_get(latest, "team"))))
            rt_httpd_respond_json(c->req, 200, answer);
        else {
            json_decref(answer);
            rt_httpd_error(c->req, 404, "not_found", "no such analysis (or it has expired)");
        }
        fb_call_free(c);
        return;
    }
    json_decref(answer);
    if ((rc = rt_queue_get(c->s->queue, c->id, got_analysis, c, why)) != RT_OK) {
        respond_store_error(c->s, c->req, rc, why);
        fb_call_free(c);
    }
}

static void read_verdicts(fb_call *c) {
    char key[256], stop[16];
    ig_store_key(c->s->store, "fb:", key, sizeof key);
    snprintf(key + strlen(key), sizeof key - strlen(key), "%s", c->id);
    snprintf(stop, sizeof stop, "%d", HISTORY - 1);
    const char *argv[] = {"LRANGE", key, "0", stop};
    int rc = rt_redis_command(ig_store_redis(c->s->store), 4, argv, NULL, got_verdicts, c);
    if (rc != RT_OK) {
        respond_store_error(c->s, c->req, rc, rt_redis_error(ig_store_redis(c->s->store)));
        fb_call_free(c);
    }
}

/* The library's answer [seq, verdict, verdicts held, recorded]: the verdict stored (or, for a
 * repeat, the one it repeats) and how many the analysis holds. Not the history, unless asked: it
 * is up to IG_FEEDBACK_KEEP notes of 2000 bytes, for each of what may be many POSTs. */
static void recorded(int rc, const char *msg, const redisReply *reply, void *ud) {
    fb_call *c = ud;
    if (rc == RT_OK && (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 ||
                        reply->element[1]->type != REDIS_REPLY_STRING ||
                        reply->element[2]->type != REDIS_REPLY_INTEGER ||
                        reply->element[3]->type != REDIS_REPLY_INTEGER)) {
        rc = RT_EBADRESPONSE;
        msg = "the feedback library answered something else";
    }
    if (rc != RT_OK) {
        respond_store_error(c->s, c->req, rc, msg);
        fb_call_free(c);
        return;
    }
    if (reply->element[3]->integer == 1) { /* recorded: a repeat changed nothing to log */
        char by[160];
        actor_of(c->token, by, sizeof by);
        ig_log("info", "feedback",
               json_pack("{s:s, s:s, s:s, s:s}", "analysis", c->id, "verdict", c->verdict,
                         "root_cause", c->root_cause ? c->root_cause : "", "by", by));
    }
    if (c->history) {
        read_verdicts(c); /* answer with the verdicts as they are now */
        return;
    }
    json_t *v = ig_feedback_record_json(reply->element[1]->str, reply->element[1]->len);
    rt_httpd_respond_json(c->req, 200,
                          json_pack("{s:s, s:o, s:I}", "analysis", c->id, "feedback",
                                    v ? v : json_null(), "verdicts",
                                    (json_int_t)reply->element[2]->integer));
    fb_call_free(c);
}

/* GET: no verdict yet; POST: the analysis is there, may be judged by the token, and has ended. */
static void got_analysis(int rc, const char *msg, const rt_queue_analysis *a, void *ud) {
    fb_call *c = ud;
    if (rc == RT_ENOTFOUND || (rc == RT_OK && !ig_token_allows(c->token, a->analyzer, a->team)))
        rt_httpd_error(c->req, 404, "not_found", "no such analysis (or it has expired)");
    else if (rc != RT_OK)
        respond_store_error(c->s, c->req, rc, msg);
    else if (!c->verdict) {
        rt_httpd_respond_json(c->req, 200,
                              json_pack("{s:s, s:n, s:i, s:[]}", "analysis", c->id, "feedback",
                                        "verdicts", 0, "history"));
    } else if (!final_status(a->status))
        rt_httpd_error(c->req, 409, "conflict",
                       "the analysis has not finished yet (status %s): judge it once it has",
                       a->status);
    else {
        char by[160];
        actor_of(c->token, by, sizeof by);
        ig_verdict v = {.id = c->id,
                        .analyzer = a->analyzer,
                        .verdict = c->verdict,
                        .root_cause = c->root_cause,
                        .note = c->note,
                        .by = by,
                        .finished_at = a->finished_at};
        const rt_config *cfg = c->s->config;
        rc = ig_feedback_record(c->s->store, &v, cfg->feedback.ttl, cfg->insights.retention,
                                recorded, c);
        if (rc == RT_OK)
            return;
        respond_store_error(c->s, c->req, rc, rt_redis_error(ig_store_redis(c->s->store)));
    }
    fb_call_free(c);
}

/* The body of a POST: { verdict, root_cause?, note? }, every problem at once. Returns 0, or
 * answers 400 and returns -1. */
static int read_verdict(rt_httpd_req *req, fb_call *c) {
    json_error_t error;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_object(body)) {
        json_decref(body);
        rt_httpd_error(req, 400, "bad_request",
                       "expected {\"verdict\": \"correct\"|\"wrong\"|\"partly\", \"root_cause\": "
                       "…, \"note\": …}");
        return -1;
    }
    json_t *fields = json_array(), *v;
    const char *key;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "verdict") != 0 && strcmp(key, "root_cause") != 0 &&
            strcmp(key, "note") != 0)
            json_array_append_new(fields, json_pack("{s:s, s:s}", "field", key, "message",
                                                    "unknown field (expected verdict, "
                                                    "root_cause or note)"));
        else if (!json_is_string(v) && !json_is_null(v))
            json_array_append_new(fields,
                                  json_pack("{s:s, s:s}", "field", key, "message", "must be text"));
    }
    const char *verdict = json_string_value(json_object_get(body, "verdict"));
    const char *cause = json_string_value(json_object_get(body, "root_cause"));
    const char *note = json_string_value(json_object_get(body, "note"));
    const char *field = NULL, *problem = ig_feedback_problem(verdict, cause, note, &field);
    if (problem)
        json_array_append_new(fields, json_pack("{s:s, s:s}", "field", field, "message", problem));
    if (json_array_size(fields)) {
        char message[64];
        snprintf(message, sizeof message, "%zu problem%s", json_array_size(fields),
                 json_array_size(fields) == 1 ? "" : "s");
        rt_httpd_respond_json(req, 400,
                              json_pack("{s:{s:s, s:s, s:o}}", "error", "code", "bad_request",
                                        "message", message, "fields", fields));
        json_decref(body);
        return -1;
    }
    json_decref(fields);
    c->verdict = rt_xstrdup(verdict);
    c->root_cause = cause && *cause ? rt_xstrdup(cause) : NULL;
    c->note = note && *note ? rt_xstrdup(note) : NULL;
    json_decref(body);
    return 0;
}

/* ?history=true|false of a POST. Returns 0, or answers 400 and returns -1. */
static int read_history_param(rt_httpd_req *req, fb_call *c) {
    char text[8];
    int n = rt_httpd_query(req, "history", text, sizeof text);
    if (n == RT_ENOTFOUND)
        return 0;
    if (n > 0 && (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)) {
        c->history = strcmp(text, "true") == 0;
        return 0;
    }
    rt_httpd_error(req, 400, "bad_request",
                   "history must be true (answer with every verdict the analysis holds) or false");
    return -1;
}

static void feedback(ig_serve *s, rt_httpd_req *req, const ig_token *token, const char *id) {
    char why[256] = "";
    bool post = strcmp(req->method, "POST") == 0;
    if (!post && !is_get(req)) {
        method_not_allowed(req, "GET, POST");
        return;
    }
    /* The id becomes a key (fb:ID) before the analysis is read: "log" would be the export's. */
    if (!rt_queue_valid_id(id)) {
        rt_httpd_error(req, 404, "not_found", "no such analysis");
        return;
    }
    fb_call *c = rt_xcalloc(1, sizeof *c);
    *c = (fb_call){.s = s, .req = req, .token = token};
    snprintf(c->id, sizeof c->id, "%s", id);
    if (!post) {
        read_verdicts(c);
        return;
    }
    if (read_history_param(req, c) != 0 || read_verdict(req, c) != 0) {
        fb_call_free(c);
        return;
    }
    int rc = rt_queue_get(s->queue, id, got_analysis, c, why);
    if (rc != RT_OK) {
        if (rc == RT_EINPUT)
            rt_httpd_error(req, 404, "not_found", "no such analysis");
        else
            respond_store_error(s, req, rc, why);
        fb_call_free(c);
    }
}

/* ---- the export ------------------------------------------------------------------------------ */

typedef struct export_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    char after[48];
} export_call;

static void exported(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    export_call *c = ud;
    (void)r;
    if (rc != RT_OK || !reply || reply->type != REDIS_REPLY_ARRAY) {
        respond_store_error(c->s, c->req, rc != RT_OK ? rc : RT_EBADRESPONSE, msg);
        free(c);
        return;
    }
    ig_respond_records(c->req, reply, c->after, c->token, ig_feedback_entry_json);
    free(c);
}

/* GET /v1/feedback?since=&until=&after=&limit=: the verdicts given in that time (RFC 3339, Unix
 * seconds or a duration back), oldest first, one JSON object a line; the header
 * Inquest-Next-After names where the next page starts (?after=). */
static void export(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    char text[64], after[48] = "", start[64], end[64] = "+", count[16], key[192];
    double since = 0, until = 0;
    long limit = EXPORT_LIMIT;
    if (!is_get(req)) {
        method_not_allowed(req, "GET");
        return;
    }
    if (!ig_query_time(req, "since", &since) || !ig_query_time(req, "until", &until))
        return;
    int n = rt_httpd_query(req, "limit", text, sizeof text);
    if (n != RT_ENOTFOUND) {
        char *stop = NULL;
        limit = n > 0 ? strtol(text, &stop, 10) : 0;
        if (n <= 0 || *stop || limit < 1 || limit > EXPORT_MAX) {
            rt_httpd_error(req, 400, "bad_request", "limit must be a whole number from 1 to %d",
                           EXPORT_MAX);
            return;
        }
    }
    n = rt_httpd_query(req, "after", after, sizeof after);
    if (n > 0 && !rt_stream_id(after)) {
        rt_httpd_error(req, 400, "bad_request",
                       "after must be the seq of a record (1700000000000-0), as "
                       "Inquest-Next-After gave it");
        return;
    }
    if (n <= 0)
        after[0] = '\0';
    if (*after && since > 0) {
        rt_httpd_error(req, 400, "bad_request", "give since or after, not both");
        return;
    }
    if (*after)
        snprintf(start, sizeof start, "(%s", after);
    else
        snprintf(start, sizeof start, "%.0f", floor(since * 1000));
    if (until > 0)
        snprintf(end, sizeof end, "%.0f", floor(until * 1000));
    snprintf(count, sizeof count, "%ld", limit);
    ig_store_key(s->store, "fb:log", key, sizeof key);
    export_call *c = rt_xcalloc(1, sizeof *c);
    c->s = s;
    c->req = req;
    c->token = token;
    snprintf(c->after, sizeof c->after, "%s", after);
    const char *argv[] = {"XRANGE", key, start, end, "COUNT", count};
    int rc = rt_redis_command(ig_store_redis(s->store), 6, argv, NULL, exported, c);
    if (rc != RT_OK) {
        respond_store_error(s, req, rc, rt_redis_error(ig_store_redis(s->store)));
        free(c);
    }
}

/* ---- the case of an analysis ----------------------------------------------------------------- */

typedef struct case_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    char id[MAX_ID + 1];
    char name[CASE_NAME_MAX + 1];
    bool tar, summary; /* ?format=tar; ?format=summary: the document without case and recording */
    char *analyzer, *submitted_at; /* owned */
    json_t *result;                /* owned */
    char *recording;               /* owned: as the worker stored it, 'recording_len' bytes */
    size_t recording_len;
} case_call;

static void case_call_free(case_call *c) {
    free(c->analyzer);
    free(c->submitted_at);
    json_decref(c->result);
    free(c->recording);
    free(c);
}

/* A case's name as `inquest case from-analysis --name` takes it. */
static bool name_ok(const char *name) {
    size_t n = strlen(name);
    return n > 0 && n <= CASE_NAME_MAX && name[0] != '.' && name[0] != '-' &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* The folder of the analyzer's cases below its root on the analyzer path
 * ("http/error_spike.cases"), or NULL when it cannot be told. Malloc'd. */
static char *cases_folder(ig_serve *s, const char *analyzer) {
    char *path = NULL, *out = NULL;
    rt_diag diag = {0};
    /* A name as the queue stored it, never a path to resolve (wk_resolve would take one). */
    if (wk_valid_name(analyzer) && wk_resolve(s->engine, analyzer, &path, &diag) == RT_OK) {
        const char *rel = NULL;
        for (size_t i = 0; !rel && i < s->config->n_analyzers; i++) {
            size_t n = strlen(s->config->analyzers[i]);
            while (n > 1 && s->config->analyzers[i][n - 1] == '/')
                n--;
            if (strncmp(path, s->config->analyzers[i], n) == 0 && path[n] == '/')
                rel = path + n + 1;
        }
        if (!rel)
            rel = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        size_t len = strlen(rel);
        if (len > 4 && strcmp(rel + len - 4, ".lua") == 0)
            len -= 4;
        out = rt_xmalloc(len + 8);
        snprintf(out, len + 8, "%.*s.cases", (int)len, rel);
    }
    rt_diag_free(&diag);
    free(path);
    return out;
}

/* Appends one file of a ustar archive: 'name' (at most 99 bytes), 'len' bytes at 'data' ('dir':
 * a folder entry with no data). The header's checksum is the sum of its bytes with the checksum
 * field read as spaces (POSIX pax, ustar). */
static void tar_add(char **out, size_t *n, size_t *cap, const char *name, const char *data,
                    size_t len, bool dir, double mtime) {
    size_t need = *n + TAR_BLOCK + (len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
    if (need > *cap) {
        *cap = need * 2;
        *out = rt_xrealloc(*out, *cap);
    }
    char *h = *out + *n;
    memset(h, 0, TAR_BLOCK);
    snprintf(h, 100, "%s", name);
    snprintf(h + 100, 8, "%07o", dir ? 0755 : 0644);
    snprintf(h + 108, 8, "%07o", 0);
    snprintf(h + 116, 8, "%07o", 0);
    snprintf(h + 124, 12, "%011llo", (unsigned long long)(dir ? 0 : len));
    snprintf(h + 136, 12, "%011llo", (unsigned long long)mtime);
    memset(h + 148, ' ', 8);
    h[156] = dir ? '5' : '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    *n += TAR_BLOCK;
    if (dir)
        return;
    memcpy(*out + *n, data, len);
    size_t padded = (len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
    memset(*out + *n + len, 0, padded - len);
    *n += padded;
}

/* Answers with the case: a tar of NAME/case.json and NAME/recording.json, or one JSON document
 * with both, the folder it belongs in and the command that makes it on the author's machine. */
static void respond_case(case_call *c, const json_t *feedback) {
    char description[2600], what[256] = "", *folder = cases_folder(c->s, c->analyzer);
    json_t *rec = json_loadb(c->recording, c->recording_len, 0, NULL);
    json_t *inputs = json_object_get(rec, "inputs"), *now = json_object_get(rec, "now");
    json_t *expect = bt_expect_from_result(c->result);
    if (feedback) {
        json_t *judged = bt_expect_with_feedback(expect, feedback, what);
        json_decref(expect);
        expect = judged;
    }
    bt_case_description(c->id, c->submitted_at, feedback, description, sizeof description);
    json_t *kase =
        bt_case_doc(c->analyzer, description,
                    json_deep_copy(inputs ? inputs : json_object_get(c->result, "inputs")),
                    json_is_number(now) ? json_number_value(now)
                                        : json_number_value(json_object_get(c->result, "now")),
                    c->id, expect);
    char command[512];
    snprintf(command, sizeof command, "inquest case from-analysis %s --remote %s --name %s", c->id,
             c->s->base_url, c->name);
    if (c->tar) {
        char *text = json_dumps(kase, JSON_INDENT(2)), header[CASE_NAME_MAX + 64], path[128];
        size_t n = 0, cap = 0, len = text ? strlen(text) : 0;
        char *out = NULL, *with_newline = rt_xmalloc(len + 2);
        memcpy(with_newline, text ? text : "", len);
        with_newline[len] = '\n';
        double mtime = floor(rt_wallclock());
        snprintf(path, sizeof path, "%s/", c->name);
        tar_add(&out, &n, &cap, path, NULL, 0, true, mtime);
        snprintf(path, sizeof path, "%s/case.json", c->name);
        tar_add(&out, &n, &cap, path, with_newline, len + 1, false, mtime);
        snprintf(path, sizeof path, "%s/recording.json", c->name);
        tar_add(&out, &n, &cap, path, c->recording, c->recording_len, false, mtime);
        out = rt_xrealloc(out, n + 2 * TAR_BLOCK); /* the end: two blocks of zeros */
        memset(out + n, 0, 2 * TAR_BLOCK);
        n += 2 * TAR_BLOCK;
        snprintf(header, sizeof header, "attachment; filename=\"%s.tar\"", c->name);
        rt_httpd_set_header(c->req, "Content-Disposition", header);
        rt_httpd_respond(c->req, 200, "application/x-tar", out, n);
        free(out);
        free(with_newline);
        free(text);
    } else if (c->summary) {
        json_t *doc = json_pack(
            "{s:s, s:s, s:s, s:s, s:s*, s:O, s:s, s:O, s:I, s:s}", "schema",
            "inquest.case-bundle/v1", "analysis", c->id, "analyzer", c->analyzer, "name", c->name,
            "folder", folder, "feedback", feedback ? feedback : json_null(), "command", command,
            "expect", json_object_get(kase, "expect"), "recording_bytes",
            (json_int_t)c->recording_len, "expectation", *what ? what : "the run's");
        rt_httpd_respond_json(c->req, 200, doc);
    } else {
        json_t *doc =
            json_pack("{s:s, s:s, s:s, s:s, s:s*, s:O, s:s, s:O, s:o, s:o}", "schema",
                      "inquest.case-bundle/v1", "analysis", c->id, "analyzer", c->analyzer, "name",
                      c->name, "folder", folder, "feedback", feedback ? feedback : json_null(),
                      "command", command, "case", kase, "recording",
                      rec ? json_incref(rec) : rt_json_text(c->recording, c->recording_len),
                      "expectation", json_string(*what ? what : "the run's"));
        rt_httpd_respond_json(c->req, 200, doc);
    }
    json_decref(kase);
    json_decref(rec);
    free(folder);
}

static void case_verdict(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    case_call *c = ud;
    (void)r;
    if (rc != RT_OK || !reply || reply->type != REDIS_REPLY_ARRAY) {
        respond_store_error(c->s, c->req, rc != RT_OK ? rc : RT_EBADRESPONSE, msg);
        case_call_free(c);
        return;
    }
    json_t *latest = reply->elements && reply->element[0]->type == REDIS_REPLY_STRING
                         ? ig_feedback_record_json(reply->element[0]->str, reply->element[0]->len)
                         : NULL;
    respond_case(c, latest);
    json_decref(latest);
    case_call_free(c);
}

static void case_recording(int rc, const char *msg, const char *text, size_t len, void *ud) {
    case_call *c = ud;
    if (rc == RT_ENOTFOUND)
        rt_httpd_error(c->req, 404, "no_recording",
                       "no recording kept for this analysis, so it cannot become a case: the "
                       "service keeps one when recordings.share (docs/config.md) picks the "
                       "analysis or it was submitted with \"record\": true");
    else if (rc != RT_OK)
        respond_store_error(c->s, c->req, rc, msg);
    else {
        char key[256];
        c->recording = rt_xstrndup(text, len);
        c->recording_len = len;
        ig_store_key(c->s->store, "fb:", key, sizeof key);
        snprintf(key + strlen(key), sizeof key - strlen(key), "%s", c->id);
        const char *argv[] = {"LRANGE", key, "0", "0"};
        rc = rt_redis_command(ig_store_redis(c->s->store), 4, argv, NULL, case_verdict, c);
        if (rc == RT_OK)
            return;
        respond_store_error(c->s, c->req, rc, rt_redis_error(ig_store_redis(c->s->store)));
    }
    case_call_free(c);
}

static void case_analysis(int rc, const char *msg, const rt_queue_analysis *a, void *ud) {
    case_call *c = ud;
    char why[256] = "";
    if (rc == RT_ENOTFOUND || (rc == RT_OK && !ig_token_allows(c->token, a->analyzer, a->team)))
        rt_httpd_error(c->req, 404, "not_found", "no such analysis (or it has expired)");
    else if (rc != RT_OK)
        respond_store_error(c->s, c->req, rc, msg);
    else if (!final_status(a->status) || !a->result)
        rt_httpd_error(c->req, 409, "conflict", "the analysis has %s, so it makes no case yet",
                       final_status(a->status) ? "no result (it never ran)" : "not finished");
    else if (!(c->result = json_loadb(a->result, a->result_len, 0, NULL)))
        rt_httpd_error(c->req, 500, "internal", "the stored result of %s does not parse", c->id);
    else {
        char at[40];
        c->analyzer = rt_xstrdup(a->analyzer);
        if (a->submitted_at > 0) {
            rt_time_format(floor(a->submitted_at * 1000) / 1000, at);
            c->submitted_at = rt_xstrdup(at);
        }
        if (!*c->name) { /* as the command names it by default: its date and id */
            char day[16];
            time_t t = (time_t)floor(a->submitted_at > 0 ? a->submitted_at : rt_wallclock());
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(day, sizeof day, "%Y-%m-%d", &tm);
            snprintf(c->name, sizeof c->name, "%s-%.64s", day, c->id);
        }
        if ((rc = rt_queue_get_recording(c->s->queue, c->id, case_recording, c, why)) == RT_OK)
            return;
        respond_store_error(c->s, c->req, rc, why);
    }
    case_call_free(c);
}

/* GET /v1/analyses/ID/case[?format=tar][&name=NAME]. */
static void make_case(ig_serve *s, rt_httpd_req *req, const ig_token *token, const char *id) {
    char format[16] = "", why[256] = "";
    if (!is_get(req)) {
        method_not_allowed(req, "GET");
        return;
    }
    case_call *c = rt_xcalloc(1, sizeof *c);
    *c = (case_call){.s = s, .req = req, .token = token};
    snprintf(c->id, sizeof c->id, "%s", id);
    int n = rt_httpd_query(req, "format", format, sizeof format);
    if (n != RT_ENOTFOUND && strcmp(format, "tar") != 0 && strcmp(format, "json") != 0 &&
        strcmp(format, "summary") != 0) {
        rt_httpd_error(req, 400, "bad_request",
                       "format must be json (the default), tar or summary (json without the case "
                       "and recording themselves)");
        case_call_free(c);
        return;
    }
    c->tar = strcmp(format, "tar") == 0;
    c->summary = strcmp(format, "summary") == 0;
    n = rt_httpd_query(req, "name", c->name, sizeof c->name);
    if (n != RT_ENOTFOUND && (n <= 0 || !name_ok(c->name))) {
        rt_httpd_error(req, 400, "bad_request",
                       "name must be 1 to %d letters, digits, '.', '_' and '-', not starting "
                       "with '.' or '-'",
                       CASE_NAME_MAX);
        case_call_free(c);
        return;
    }
    if (n == RT_ENOTFOUND)
        c->name[0] = '\0';
    int rc = rt_queue_get(s->queue, id, case_analysis, c, why);
    if (rc != RT_OK) {
        if (rc == RT_EINPUT)
            rt_httpd_error(req, 404, "not_found", "no such analysis");
        else
            respond_store_error(s, req, rc, why);
        case_call_free(c);
    }
}

bool ig_api_feedback(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    char id[MAX_ID + 1];
    if (strcmp(req->path, "/v1/feedback") == 0)
        export(s, req, token);
    else if (analysis_path(req->path, "/feedback", id))
        feedback(s, req, token, id);
    else if (analysis_path(req->path, "/case", id))
        make_case(s, req, token, id);
    else
        return false;
    return true;
}
