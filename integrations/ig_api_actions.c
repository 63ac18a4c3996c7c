/* integrations/ig_api_actions.c -- the post-processor's part of the /v1 API (docs/api.md,
 * actions and audit): list and show actions, approve or reject one that waits for a person, and
 * export the audit log as JSON lines. Tokens see the actions of the analyzers they may use, and
 * the token's name is who decided, in the action and in the audit. The rest of the API is
 * ig_api.c; the state machine behind it is postproc/pp_chain.lua. */
#define _POSIX_C_SOURCE 200809L
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_serve.h"
#include "pp.h"

#define MAX_REASON   1024
#define AUDIT_LIMIT  1000  /* records per page of /v1/audit by default */
#define AUDIT_MAX    10000 /* and at most */
#define ACTION_LIMIT 50

#define TEXT_(x) #x
#define TEXT(x)  TEXT_(x) /* the value of macro 'x' as a string literal */

static bool allows_json(const ig_token *token, const json_t *o) {
    return ig_token_allows(token, json_string_value(json_object_get(o, "analyzer")),
                           json_string_value(json_object_get(o, "team")));
}

/* Answers a chain call's failure: 404, 409 for a state that does not allow it, 400 for arguments
 * the chain refused (the checks here should have caught them), 503 for Redis. */
static void respond_chain_error(const ig_serve *s, rt_httpd_req *req, int rc, const char *msg) {
    if (rc == RT_ENOTFOUND)
        rt_httpd_error(req, 404, "not_found", "no action with this id (or it has expired)");
    else if (rc == RT_EINPUT)
        rt_httpd_error(req, 400, "bad_request", "%s", msg && *msg ? msg : rt_strerror(rc));
    else if (rc == RT_EUSAGE)
        rt_httpd_error(req, 409, "conflict", "%s", msg);
    else if (rc == RT_EBACKEND || rc == RT_ETIMEDOUT || rc == RT_ECANCELED) {
        ig_retry_after(s, req);
        rt_httpd_error(req, 503, "unavailable", "Redis cannot answer: %s", msg);
    } else
        rt_httpd_error(req, 500, "internal", "%s", msg && *msg ? msg : rt_strerror(rc));
}

typedef struct action_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    char id[PP_ID_SIZE];
    char decision[8]; /* "approve", "reject" or "" to show */
    char *reason;     /* owned */
} action_call;

static void action_call_free(action_call *c) {
    free(c->reason);
    free(c);
}

static bool valid_id(const char *id) {
    return strlen(id) == PP_ID_SIZE - 1 && strspn(id, "0123456789abcdef") == PP_ID_SIZE - 1;
}

/* ---- one action ----------------------------------------------------------------------------- */

static void decided(int rc, const char *msg, const redisReply *reply, void *ud);

/* The actor of the audit: the token's name, as docs/api.md says (deciding needs a token). */
static void actor_of(const ig_token *token, char *out, size_t size) {
    snprintf(out, size, "token:%s", token->config->name);
}

static void decide(action_call *c) {
    char key[256], audit[192], due[192], actor[160], retention[32], ttl[32], approval_ttl[32];
    const rt_postproc *pp = &c->s->config->postproc;
    pp_action_key(c->s->actions, c->id, key, sizeof key);
    pp_chain_key(c->s->actions, "audit", audit, sizeof audit);
    pp_chain_key(c->s->actions, "pp:due", due, sizeof due);
    actor_of(c->token, actor, sizeof actor);
    snprintf(retention, sizeof retention, "%.0f", pp->audit_retention * 1000);
    snprintf(ttl, sizeof ttl, "%.0f", pp->action_ttl * 1000);
    snprintf(approval_ttl, sizeof approval_ttl, "%.0f", pp->approval_ttl * 1000);
    const char *keys[] = {key, audit, due};
    const char *args[] = {c->id,     c->decision, actor,       c->reason ? c->reason : "",
                          retention, ttl,         approval_ttl};
    int rc = pp_chain_call(c->s->actions, "inquest_pp_decide", 3, keys, 7, args, decided, c);
    if (rc != RT_OK) {
        respond_chain_error(c->s, c->req, rc, rt_redis_error(rt_queue_redis(c->s->queue)));
        action_call_free(c);
    }
}

/* True when 'token' may approve or reject action 'o': its approve scope names the service acted
 * on or the mitigation ("*" for all). Using an analyzer is not enough to decide what its
 * mitigations do. */
static bool may_decide(const ig_token *token, const json_t *o) {
    const char *service = json_string_value(json_object_get(o, "service"));
    const char *name = json_string_value(json_object_get(o, "name"));
    const rt_token *t = token ? token->config : NULL;
    for (size_t i = 0; t && i < t->n_approve; i++)
        if ((service && fnmatch(t->approve[i], service, 0) == 0) ||
            (name && fnmatch(t->approve[i], name, 0) == 0))
            return true;
    return false;
}

static void got_action(int rc, const char *msg, const redisReply *reply, void *ud) {
    action_call *c = ud;
    json_t *o = rc == RT_OK ? pp_action_json(reply) : NULL;
    if (rc == RT_OK && !allows_json(c->token, o))
        rc = RT_ENOTFOUND;
    if (rc != RT_OK)
        respond_chain_error(c->s, c->req, rc, msg);
    else if (*c->decision && !may_decide(c->token, o))
        rt_httpd_error(c->req, 403, "forbidden",
                       "token %s may not %s this action: its approve list names neither service "
                       "'%s' nor '%s'",
                       c->token->config->name, c->decision,
                       json_string_value(json_object_get(o, "service")),
                       json_string_value(json_object_get(o, "name")));
    else if (*c->decision) {
        json_decref(o);
        decide(c); /* the token may see it: now decide, atomically in Redis */
        return;
    } else
        rt_httpd_respond_json(c->req, 200, json_incref(o));
    json_decref(o);
    action_call_free(c);
}

static void get_action(action_call *c) {
    char key[256];
    pp_action_key(c->s->actions, c->id, key, sizeof key);
    const char *keys[] = {key};
    int rc = pp_chain_call(c->s->actions, "inquest_pp_get", 1, keys, 0, NULL, got_action, c);
    if (rc != RT_OK) {
        respond_chain_error(c->s, c->req, rc, rt_redis_error(rt_queue_redis(c->s->queue)));
        action_call_free(c);
    }
}

static void decided(int rc, const char *msg, const redisReply *reply, void *ud) {
    action_call *c = ud;
    bool expired = rc == RT_OK && reply && reply->type == REDIS_REPLY_STRING &&
                   strcmp(reply->str, "expired") == 0;
    if (rc != RT_OK || expired) {
        if (expired) /* past its deadline: the decision ended the wait instead (audited) */
            rt_httpd_error(c->req, 409, "conflict",
                           "the action expired: nobody approved or rejected it by its deadline "
                           "(postproc.approval_ttl), and it will not run");
        else
            respond_chain_error(c->s, c->req, rc, msg);
        action_call_free(c);
        return;
    }
    ig_log("info", *c->decision == 'a' ? "action approved" : "action rejected",
           json_pack("{s:s, s:s}", "action", c->id, "by", c->token->config->name));
    c->decision[0] = '\0';
    get_action(c); /* answer with the action as it is now */
}

/* The problem of field 'key' with value 'v' of an approve or reject body, or NULL. */
static const char *reason_problem(const char *key, const json_t *v) {
    if (strcmp(key, "reason") != 0)
        return "unknown field (expected reason)";
    if (!json_is_string(v))
        return "must be text";
    if (json_string_length(v) > MAX_REASON)
        return "must be at most " TEXT(MAX_REASON) " bytes";
    return NULL;
}

/* The optional body of approve and reject: { "reason": "..." }. A field it does not know (a
 * typo such as "reasn") is refused rather than dropped: the decision would go on without the
 * reason meant for the audit. Every problem at once, each naming its field; answers 400 and
 * returns RT_EINPUT when there is one. */
static int read_reason(rt_httpd_req *req, action_call *c) {
    if (req->body_len == 0)
        return RT_OK;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        rt_httpd_error(req, 400, "bad_request",
                       "expected an empty body or {\"reason\": \"…\"} (at most %d bytes)",
                       MAX_REASON);
        return RT_EINPUT;
    }
    json_t *fields = json_array(), *v;
    const char *key, *problem;
    json_object_foreach(body, key, v) {
        if ((problem = reason_problem(key, v)))
            json_array_append_new(fields,
                                  json_pack("{s:s, s:s}", "field", key, "message", problem));
    }
    size_t n = json_array_size(fields);
    if (n) {
        char message[64];
        snprintf(message, sizeof message, "%zu problem%s", n, n == 1 ? "" : "s");
        rt_httpd_respond_json(req, 400,
                              json_pack("{s:{s:s, s:s, s:o}}", "error", "code", "bad_request",
                                        "message", message, "fields", fields));
    } else {
        json_decref(fields);
        const char *reason = json_string_value(json_object_get(body, "reason"));
        c->reason = reason ? rt_xstrdup(reason) : NULL;
    }
    json_decref(body);
    return n ? RT_EINPUT : RT_OK;
}

static void one_action(ig_serve *s, rt_httpd_req *req, const ig_token *token, const char *rest) {
    action_call *c = rt_xcalloc(1, sizeof *c);
    *c = (action_call){.s = s, .req = req, .token = token};
    size_t n = strcspn(rest, "/");
    const char *verb = rest[n] ? rest + n + 1 : NULL;
    snprintf(c->id, sizeof c->id, "%.*s", (int)(n < PP_ID_SIZE ? n : PP_ID_SIZE - 1), rest);
    bool post = strcmp(req->method, "POST") == 0;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (n != PP_ID_SIZE - 1 || !valid_id(c->id) ||
        (verb && strcmp(verb, "approve") != 0 && strcmp(verb, "reject") != 0)) {
        rt_httpd_error(req, 404, "not_found", "no such path: %s", req->path);
    } else if (verb && !post) {
        rt_httpd_set_header(req, "Allow", "POST");
        rt_httpd_error(req, 405, "method_not_allowed", "%s is not allowed here (allowed: POST)",
                       req->method);
    } else if (!verb && !get) {
        rt_httpd_set_header(req, "Allow", "GET");
        rt_httpd_error(req, 405, "method_not_allowed", "%s is not allowed here (allowed: GET)",
                       req->method);
    } else if (verb && !token) {
        rt_httpd_error(req, 403, "forbidden",
                       "approving and rejecting need API tokens: configure tokens with an approve "
                       "list (docs/config.md)");
    } else if (!verb || read_reason(req, c) == RT_OK) {
        snprintf(c->decision, sizeof c->decision, "%s", verb ? verb : "");
        get_action(c);
        return;
    }
    action_call_free(c);
}

/* ---- listings ------------------------------------------------------------------------------- */

typedef struct list_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
} list_call;

static void listed(int rc, const char *msg, const redisReply *reply, void *ud) {
    list_call *c = ud;
    if (rc != RT_OK || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        respond_chain_error(c->s, c->req, rc != RT_OK ? rc : RT_EBADRESPONSE, msg);
        free(c);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 1; i < reply->elements; i++) {
        json_t *o = pp_action_json(reply->element[i]);
        if (allows_json(c->token, o))
            json_array_append_new(list, o);
        else
            json_decref(o);
    }
    json_t *body = json_pack("{s:o}", "actions", list);
    const redisReply *next = reply->element[0];
    /* The next page starts after the last action examined, which the token may not see (its id
     * is also its Idempotency-Key): sealed like the analyses listing's cursor. */
    char sealed[IG_CURSOR_TEXT];
    if (next->type == REDIS_REPLY_STRING && next->len > 0) {
        ig_cursor_seal(c->token, next->str, sealed);
        json_object_set_new(body, "next_cursor", json_string(sealed));
    }
    rt_httpd_respond_json(c->req, 200, body);
    free(c);
}

/* ?name= as text of at most 'size' bytes; false after answering 400 when it is malformed. */
static bool query_text(rt_httpd_req *req, const char *name, char *out, size_t size) {
    int n = rt_httpd_query(req, name, out, size);
    if (n == RT_ENOTFOUND) {
        *out = '\0';
        return true;
    }
    if (n < 0) {
        rt_httpd_error(req, 400, "bad_request", "%s is malformed or too long", name);
        return false;
    }
    return true;
}

static long limit_of(rt_httpd_req *req, long fallback, long max) {
    char text[16];
    if (!query_text(req, "limit", text, sizeof text))
        return 0;
    if (!*text)
        return fallback;
    char *end;
    long n = strtol(text, &end, 10);
    if (*end || n < 1 || n > max) {
        rt_httpd_error(req, 400, "bad_request", "limit must be a whole number from 1 to %ld", max);
        return 0;
    }
    return n;
}

#define XX(sym, name) name,
static const char *const states[] = {PP_STATES(XX)}; /* those an action can be in */
#undef XX
#define N_STATES (sizeof states / sizeof *states)

/* True when 'state' is one of 'states'; else answers 400 naming them. */
static bool known_state(rt_httpd_req *req, const char *state) {
    char message[512] = "state must be one of";
    for (size_t i = 0; i < N_STATES; i++)
        if (strcmp(state, states[i]) == 0)
            return true;
    for (size_t i = 0; i < N_STATES; i++) {
        size_t len = strlen(message);
        snprintf(message + len, sizeof message - len, "%s %s", i ? "," : ":", states[i]);
    }
    ig_respond_field_error(req, "state", message);
    return false;
}

/* True when 'cursor' is one inquest_pp_list gives: "MS:ID", its created time and id. */
static bool list_cursor(const char *cursor) {
    size_t ms = strspn(cursor, "0123456789");
    return ms >= 1 && ms <= 15 && cursor[ms] == ':' && valid_id(cursor + ms + 1);
}

static void list_actions(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    char state[32], text[IG_CURSOR_TEXT + 64], cursor[IG_CURSOR_PLAIN + 1] = "", limit[16];
    char key[192];
    long n = limit_of(req, ACTION_LIMIT, 500);
    if (!n || !query_text(req, "state", state, sizeof state) ||
        !query_text(req, "cursor", text, sizeof text))
        return;
    if (*state && !known_state(req, state))
        return;
    if (*text && (!ig_cursor_open(token, text, cursor) || !list_cursor(cursor))) {
        ig_respond_field_error(req, "cursor",
                               "cursor must be a next_cursor this token was given by GET "
                               "/v1/actions");
        return;
    }
    snprintf(limit, sizeof limit, "%ld", n);
    pp_chain_key(s->actions, "pp:actions", key, sizeof key);
    list_call *c = rt_xcalloc(1, sizeof *c);
    *c = (list_call){s, req, token};
    const char *keys[] = {key};
    const char *args[] = {cursor, limit, state};
    int rc = pp_chain_call(s->actions, "inquest_pp_list", 1, keys, 3, args, listed, c);
    if (rc != RT_OK) {
        respond_chain_error(s, req, rc, rt_redis_error(rt_queue_redis(s->queue)));
        free(c);
    }
}

/* ---- the audit log -------------------------------------------------------------------------- */

/* A page of the audit being read: the request, its token, and where it starts. */
typedef struct audit_call {
    ig_serve *s;
    rt_httpd_req *req;
    const ig_token *token;
    char after[48]; /* the 'after' asked for, or "" */
} audit_call;

static void audit_read(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    audit_call *c = ud;
    (void)r;
    if (rc != RT_OK || !reply || reply->type != REDIS_REPLY_ARRAY) {
        respond_chain_error(c->s, c->req, rc != RT_OK ? rc : RT_EBADRESPONSE, msg);
        free(c);
        return;
    }
    ig_respond_records(c->req, reply, c->after, c->token, pp_audit_json);
    free(c);
}

/* GET /v1/audit?since=TIME&limit=N: the records at or after 'since' (RFC 3339, Unix seconds,
 * or a duration back from now), oldest first, one JSON object a line; or ?after=SEQ: those after
 * the record 'seq' SEQ. The header Inquest-Next-After names where the next page starts. */
static void export_audit(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    char since[64], after[48], start[64], count[16], key[192];
    double t = 0;
    long n = limit_of(req, AUDIT_LIMIT, AUDIT_MAX);
    if (!n || !query_text(req, "since", since, sizeof since) ||
        !query_text(req, "after", after, sizeof after) || !ig_query_time(req, "since", &t))
        return;
    if (*after && *since) {
        rt_httpd_error(req, 400, "bad_request", "give since or after, not both");
        return;
    }
    if (*after && !rt_stream_id(after)) {
        rt_httpd_error(req, 400, "bad_request",
                       "after must be the seq of an audit record (1700000000000-0)");
        return;
    }
    if (*after)
        snprintf(start, sizeof start, "(%s", after); /* exclusive: the records after it */
    else
        pp_audit_since(t, start, sizeof start);
    snprintf(count, sizeof count, "%ld", n);
    pp_chain_key(s->actions, "audit", key, sizeof key);
    audit_call *c = rt_xcalloc(1, sizeof *c);
    c->s = s;
    c->req = req;
    c->token = token;
    snprintf(c->after, sizeof c->after, "%s", after);
    const char *argv[] = {"XRANGE", key, start, "+", "COUNT", count};
    int rc = rt_redis_command(rt_queue_redis(s->queue), 6, argv, NULL, audit_read, c);
    if (rc != RT_OK) {
        respond_chain_error(s, req, rc, rt_redis_error(rt_queue_redis(s->queue)));
        free(c);
    }
}

void ig_api_actions(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (strcmp(req->path, "/v1/audit") == 0) {
        if (get)
            export_audit(s, req, token);
        else {
            rt_httpd_set_header(req, "Allow", "GET");
            rt_httpd_error(req, 405, "method_not_allowed", "%s is not allowed here (allowed: GET)",
                           req->method);
        }
    } else if (strcmp(req->path, "/v1/actions") == 0) {
        if (get)
            list_actions(s, req, token);
        else {
            rt_httpd_set_header(req, "Allow", "GET");
            rt_httpd_error(req, 405, "method_not_allowed", "%s is not allowed here (allowed: GET)",
                           req->method);
        }
    } else if (strncmp(req->path, "/v1/actions/", 12) == 0)
        one_action(s, req, token, req->path + 12);
    else
        rt_httpd_error(req, 404, "not_found", "no such path: %s", req->path);
}
