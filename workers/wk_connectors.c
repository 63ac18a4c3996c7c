/* workers/wk_connectors.c -- the connectors analyses query (docs/sdk.md, "Connectors"):
 * prometheus, loki, elasticsearch and http, as Lua objects whose methods build a request, start
 * it through the HTTP client (runtime/rt_http.c), yield, and turn the answer into SDK values.
 * The waiting itself is wk_io.c's; decoding Prometheus-style answers is sdk_response.c's.
 *
 * A call goes: binding (checks arguments, builds the request, charges the budget) → rt_http
 * → on_answer, on the loop: records the call, decodes the body into C values (their memory
 * charged to the analysis' budget while they live) → wk__wake → answered, in the analyzer's
 * thread: pushes the Lua values (under the memory budget) and frees the C ones. Expected
 * failures (the backend refused the query, a timeout, a malformed body) return nil and a
 * message naming the connector; misuse (bad arguments, unknown connector) raises. Credentials
 * live only in the targets' header lines: Lua, results and recordings never see them. */
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "rt_http.h"
#include "sdk.h"
#include "sdk_series.h"
#include "wk_internal.h"

#define MAX_MESSAGE 600
#define BODY_QUOTE  200 /* bytes of a non-JSON error body quoted in a message */

/* ---- The engine's connectors ---------------------------------------------------------------- */

static const char *const type_metatables[] = {
    [RT_CONNECTOR_PROMETHEUS] = "inquest.connector.prometheus",
    [RT_CONNECTOR_LOKI] = "inquest.connector.loki",
    [RT_CONNECTOR_ELASTICSEARCH] = "inquest.connector.elasticsearch",
    [RT_CONNECTOR_HTTP] = "inquest.connector.http",
};

static wk_connector *find_connector(wk_engine *engine, const char *name) {
    for (size_t i = 0; i < engine->nconnectors; i++)
        if (strcmp(engine->connectors[i].name, name) == 0)
            return &engine->connectors[i];
    return NULL;
}

static wk_connector *add_connector(wk_engine *engine, const char *name, rt_connector_type type) {
    engine->connectors =
        rt_xrealloc(engine->connectors, (engine->nconnectors + 1) * sizeof *engine->connectors);
    wk_connector *c = &engine->connectors[engine->nconnectors++];
    memset(c, 0, sizeof *c);
    c->name = rt_xstrdup(name);
    c->type = type;
    return c;
}

static rt_http *engine_http(wk_engine *engine) {
    if (!engine->http)
        engine->http = rt_http_new(&engine->loop);
    return engine->http;
}

/* The settings that change how a connector's answers read: kept with the connector and in
 * recordings, so that a replay reads them the same way without the config. */
static json_t *settings_json(const rt_connector *rc) {
    json_t *s = json_pack("{s:s}", "type", rt_connector_type_name(rc->type));
    const rt_events *e = &rc->events;
    if (!e->path)
        return s;
    json_t *events = json_pack("{s:s, s:s}", "path", e->path, "time", e->time);
    const char *const names[] = {"items", "kind", "service", "id", "text"};
    const char *const values[] = {e->items, e->kind, e->service, e->id, e->text};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (values[i])
            json_object_set_new(events, names[i], json_string(values[i]));
    json_object_set_new(s, "events", events);
    return s;
}

/* Creates the target of connector 'rc'. Returns RT_OK or RT_EINPUT with the problem in 'diag'. */
static int connect_one(wk_engine *engine, const rt_config *config, const rt_connector *rc,
                       rt_diag *diag) {
    char why[256];
    rt_connector_creds creds;
    int rc_ = RT_OK;
    if (rt_connector_creds_load(rc, &creds, why) != RT_OK) {
        rt_diag_add(diag, config->path, rc->line, rc->name, "credential: %s", why);
        return RT_EINPUT;
    }
    rt_http_target_options o = {
        .name = rc->name,
        .base_url = creds.base_url,
        .timeout = rc->timeout,
        .max_response = rc->max_response,
        .rate_limit = rc->rate_limit,
        .concurrency = rc->concurrency,
        .tls_verify = rc->tls_verify,
        .headers = (const char *const *)creds.headers,
        .n_headers = creds.n_headers,
        .secrets = (const char *const *)creds.secrets,
        .n_secrets = creds.n_secrets,
    };
    rt_http_target *target = rt_http_target_new(engine_http(engine), &o, why);
    if (!target) {
        rt_diag_add(diag, config->path, rc->line, rc->name, "%s", why);
        rc_ = RT_EINPUT;
    }
    rt_connector_creds_free(&creds); /* the target copied them; a credential must not linger */
    if (rc_ == RT_OK) {
        wk_connector *c = add_connector(engine, rc->name, rc->type);
        c->target = target;
        c->settings = settings_json(rc);
    }
    return rc_;
}

/* A connector that rules' actions name is the post-processor's alone: no credential is read
 * and no target made for it here, so that analyzer code cannot reach it whatever it calls; its
 * name is kept only to say why it cannot be had (ctx_connector). */
int wk_engine_connect(wk_engine *engine, const rt_config *config, rt_diag *diag) {
    int rc = RT_OK;
    for (size_t i = 0; i < config->n_connectors; i++) {
        const rt_connector *conn = &config->connectors[i];
        if (conn->reserved)
            add_connector(engine, conn->name, conn->type)->reserved = true;
        else if (connect_one(engine, config, conn, diag) != RT_OK)
            rc = RT_EINPUT;
    }
    return rc;
}

/* Replay: the connectors the recording used and the config does not define. */
static int replay_connectors(wk_engine *engine, rt_recording *recording, rt_diag *diag) {
    json_t *connectors = json_object_get(rt_recording_meta(recording), "connectors");
    const char *name;
    json_t *settings;
    int rc = RT_OK;
    json_object_foreach(connectors, name, settings) {
        rt_connector_type type;
        if (find_connector(engine, name))
            continue;
        if (rt_connector_type_parse(json_string_value(json_object_get(settings, "type")), &type)) {
            rt_diag_add(diag, NULL, 0, name, "the recording's connector has an unknown type");
            rc = RT_EINPUT;
            continue;
        }
        char why[256];
        rt_http_target_options o = {.name = name};
        wk_connector *c = add_connector(engine, name, type);
        c->target = rt_http_target_new(engine_http(engine), &o, why);
        c->settings = json_incref(settings);
    }
    return rc;
}

/* The recordings' "connectors": each connector's name, type and non-secret settings (not the
 * reserved ones: no analysis calls them). */
static json_t *connectors_meta(const wk_engine *engine) {
    json_t *connectors = json_object();
    for (size_t i = 0; i < engine->nconnectors; i++)
        if (!engine->connectors[i].reserved)
            json_object_set(connectors, engine->connectors[i].name, engine->connectors[i].settings);
    return connectors;
}

int wk_engine_use_recording(wk_engine *engine, rt_recording *recording, rt_diag *diag) {
    engine->recording = recording;
    rt_http_set_recording(engine_http(engine), recording);
    if (rt_recording_get_mode(recording) == RT_RECORDING_REPLAY)
        return replay_connectors(engine, recording, diag);
    json_object_set_new(rt_recording_meta(recording), "connectors", connectors_meta(engine));
    return RT_OK;
}

void wk_recording_meta(wk_engine *engine, rt_recording *recording, const wk_request *request) {
    json_t *meta = rt_recording_meta(recording);
    json_object_set_new(meta, "analyzer", json_string(request->analyzer));
    json_object_set_new(meta, "inputs",
                        request->inputs ? json_deep_copy(request->inputs) : json_object());
    if (request->id)
        json_object_set_new(meta, "id", json_string(request->id));
    if (request->now > 0)
        json_object_set_new(meta, "now", rt_json_number(request->now));
    json_object_set_new(meta, "connectors", connectors_meta(engine));
}

void wk__connectors_free(wk_engine *engine) {
    for (size_t i = 0; i < engine->nconnectors; i++) {
        free(engine->connectors[i].name);
        json_decref(engine->connectors[i].settings);
    }
    free(engine->connectors);
    engine->connectors = NULL;
    engine->nconnectors = 0;
    if (engine->http)
        rt_http_free(engine->http);
    engine->http = NULL;
}

/* ---- Calls ---------------------------------------------------------------------------------- */

typedef enum answer_kind {
    ANSWER_PROM,   /* a Prometheus-style envelope: sdk_response */
    ANSWER_JSON,   /* any JSON */
    ANSWER_SEARCH, /* an Elasticsearch _search answer, reshaped */
    ANSWER_EVENTS, /* an http connector's events, read through its settings */
    ANSWER_TEXT,   /* the body as it came */
} answer_kind;

/* What a method expects of a Prometheus-style answer. */
typedef enum expect { EXPECT_ANY, EXPECT_SERIES, EXPECT_LOGS, EXPECT_DATA } expect;

typedef struct wk_call {
    wk_wait wait;
    wk_analysis *a;
    const wk_connector *c;
    rt_http_call *http;  /* while in flight */
    json_t *record;      /* its entry in the result's calls (a->calls holds it) */
    json_t *root_record; /* owned reference: made by a nested analysis, its entry in the root's
                            calls too, or NULL */
    size_t outside;      /* bytes of the decoded answer, charged to shared->memory_outside */
    answer_kind kind;
    expect expect;
    double started; /* rt_monotonic() */
    int failed;
    char message[MAX_MESSAGE];
    sdk_response prom;
    json_t *json;
    char *text; /* ANSWER_TEXT */
    size_t len;
} wk_call;

static void call_free(wk_call *call) {
    call->a->budget.shared->memory_outside -= call->outside;
    json_decref(call->root_record);
    sdk_response_free(&call->prom);
    json_decref(call->json);
    free(call->text);
    free(call);
}

static void call_cancel(wk_wait *wait) {
    wk_call *call = (wk_call *)wait;
    if (call->http)
        rt_http_cancel(call->http);
    json_object_set_new(call->record, "status", json_string("cancelled"));
    json_object_set_new(call->record, "bytes", json_integer(0));
    json_object_set_new(call->record, "duration_ms",
                        json_real((rt_monotonic() - call->started) * 1e3));
    if (call->root_record)
        json_object_update(call->root_record, call->record);
    call_free(call);
}

static void fail(wk_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(wk_call *call, const char *fmt, ...) {
    va_list ap;
    int n = snprintf(call->message, sizeof call->message, "%s: ", call->c->name);
    va_start(ap, fmt);
    vsnprintf(call->message + n, sizeof call->message - (size_t)n, fmt, ap);
    va_end(ap);
    call->failed = 1;
}

/* "1.0 MiB", "512.0 KiB": a size for messages (lua_pushfstring knows no precision). */
static void size_text(size_t n, char *out, size_t size) {
    bool mib = n >= (1 << 20); /* limits under 1 MiB would read as 0.0 MiB */
    snprintf(out, size, "%.1f %s", (double)n / (mib ? 1 << 20 : 1 << 10), mib ? "MiB" : "KiB");
}

/* The start of a body that is not what was expected, on one line, for a message. */
static void quote_body(const rt_http_response *r, char *out, size_t size) {
    size_t n = rt_utf8_cut(r->body, r->len, size - 1 < BODY_QUOTE ? size - 1 : BODY_QUOTE);
    for (size_t i = 0; i < n; i++)
        out[i] = r->body[i] == '\n' || r->body[i] == '\r' || r->body[i] == '\t' ? ' ' : r->body[i];
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* The backend's own words for a failed Elasticsearch call: error.root_cause[0] or error. */
static int search_error(const json_t *body, char *out, size_t size) {
    const json_t *e = json_object_get(body, "error");
    const json_t *root = json_array_get(json_object_get(e, "root_cause"), 0);
    const json_t *src = root ? root : e;
    const char *type = json_string_value(json_object_get(src, "type"));
    const char *reason = json_string_value(json_object_get(src, "reason"));
    if (!type && !reason)
        return -1;
    snprintf(out, size, "%s: %s", type ? type : "error", reason ? reason : "(no reason)");
    return 0;
}

/* What the memory budget leaves for C values, in the terms of the SDK's decoder: it charges
 * memory_outside, as charged_malloc does (below), up to what the Lua states leave of the limit
 * (nothing when a state that tripped holds more). */
static sdk_memory outside_budget(wk_shared *s) {
    size_t left = s->memory_used < s->limits.memory ? s->limits.memory - s->memory_used : 0;
    return (sdk_memory){.used = &s->memory_outside, .limit = left};
}

/* A non-2xx answer: the backend's message when it sent one, else the start of the body. */
static void fail_status(wk_call *call, const rt_http_response *r) {
    char why[MAX_MESSAGE / 2] = "";
    if (call->kind == ANSWER_PROM) {
        sdk_response ignored;
        sdk_memory memory = outside_budget(call->a->budget.shared);
        if (sdk_response_decode(r->body, r->len, &memory, &ignored, why, sizeof why) == 1)
            return fail(call, "%s", why);
        sdk_response_free(&ignored);
    } else if (call->kind == ANSWER_SEARCH) {
        json_t *body = json_loadb(r->body, r->len, 0, NULL);
        int found = search_error(body, why, sizeof why) == 0;
        json_decref(body);
        if (found)
            return fail(call, "HTTP %ld: %s", r->status, why);
    }
    quote_body(r, why, sizeof why);
    fail(call, "HTTP %ld%s%s", r->status, *why ? ": " : "", why);
}

/* Elasticsearch's answer, reshaped: { took, timed_out, total, hits = { {id, index, score,
 * source}, … }, aggregations }. */
static json_t *search_result(json_t *body) {
    json_t *hits = json_object_get(body, "hits"), *total = json_object_get(hits, "total");
    json_t *out = json_object(), *list = json_array(), *hit;
    size_t i;
    json_array_foreach(json_object_get(hits, "hits"), i, hit) {
        json_t *h = json_object();
        json_object_set(h, "id", json_object_get(hit, "_id"));
        json_object_set(h, "index", json_object_get(hit, "_index"));
        json_object_set(h, "score", json_object_get(hit, "_score"));
        json_object_set(h, "source", json_object_get(hit, "_source"));
        json_array_append_new(list, h);
    }
    json_object_set(out, "took", json_object_get(body, "took"));
    json_object_set(out, "timed_out", json_object_get(body, "timed_out"));
    json_object_set(out, "total", json_is_object(total) ? json_object_get(total, "value") : total);
    json_object_set_new(out, "hits", list);
    json_object_set(out, "aggregations", json_object_get(body, "aggregations"));
    return out;
}

static json_t *events_read(const json_t *body, const json_t *settings, const char *kind, char *why,
                           size_t size);

static void decode_json(wk_call *call, const rt_http_response *r) {
    json_error_t error;
    json_t *body = json_loadb(r->body, r->len, JSON_DECODE_ANY, &error);
    if (!body && json_error_code(&error) == json_error_out_of_memory)
        return fail(call, "out of memory decoding the answer (%zu bytes)", r->len);
    if (!body)
        return fail(call, "malformed JSON at line %d, column %d: %s", error.line, error.column,
                    error.text);
    char why[MAX_MESSAGE / 2];
    if (call->kind == ANSWER_SEARCH) {
        call->json = search_result(body);
    } else if (call->kind == ANSWER_EVENTS) {
        json_t *events = json_object_get(call->c->settings, "events");
        if (!(call->json = events_read(body, events, call->c->name, why, sizeof why)))
            fail(call, "events: %s", why);
    } else {
        call->json = json_incref(body);
    }
    json_decref(body);
}

static void record_outcome(wk_call *call, const rt_http_response *r) {
    json_t *rec = call->record;
    json_object_set_new(rec, "duration_ms", json_real(r->duration * 1e3));
    json_object_set_new(rec, "bytes", json_integer((json_int_t)r->bytes));
    if (r->status)
        json_object_set_new(rec, "http_status", json_integer(r->status));
    json_object_set_new(rec, "status", json_string(call->failed ? "error" : "ok"));
    if (call->failed)
        json_object_set_new(rec, "error", rt_json_text_cut(call->message, WK_MAX_TEXT));
    if (call->root_record)
        json_object_update(call->root_record, rec);
}

/* A transport failure: the client's message already names the connector. */
static void fail_transport(wk_call *call, const rt_http_response *r) {
    snprintf(call->message, sizeof call->message, "%s", r->message);
    call->failed = 1;
}

/* ---- Decoding under the memory budget ----------------------------------------------------------
 * A decoded answer can take many times the bytes of its body (jansson spends some 40 bytes on
 * each 0 of [0,0,…]; a Prometheus series of one point [1,"0"] is a series, its labels and two
 * arrays), and it is made in C, where the Lua allocator does not see it. So while an answer is
 * decoded, jansson allocates through charged_malloc, which charges what it hands out to the
 * tree's memory_outside and refuses what would not fit in the memory budget beside the tree's
 * Lua states. Prometheus-style answers are decoded by sdk_response.c into arrays of its own: it
 * charges them to the same memory_outside itself, before it allocates them (outside_budget),
 * and stops where the next would not fit; that refusal reads as jansson's. What the decode left
 * charged, jansson's and the decoder's, is what memory_outside grew by: the call holds it
 * (call->outside) until it is freed, after its values are pushed. jansson's allocator is the
 * process' own: it is swapped only for the decode, which runs on the loop's thread and calls
 * nothing else; jansson called from another thread (none today) meanwhile sees no charging of
 * its own and allocates uncharged. Blocks come from malloc either way, so free() may release
 * them after the decode. */

typedef struct charging {
    wk_shared *shared;
    size_t held;  /* charged, not yet freed */
    bool refused; /* an allocation did not fit */
    json_malloc_t old_malloc;
    json_free_t old_free;
} charging;

static _Thread_local charging *charging_now; /* the decode in progress on this thread */

static void *charged_malloc(size_t size) {
    void *p = malloc(size);
    if (!p || !charging_now)
        return p;
    charging *c = charging_now;
    wk_shared *s = c->shared;
    size_t n = malloc_usable_size(p);
    if (s->memory_used + s->memory_outside + n > s->limits.memory) {
        free(p);
        c->refused = true;
        return NULL;
    }
    s->memory_outside += n;
    c->held += n;
    return p;
}

static void charged_free(void *p) {
    if (p && charging_now) {
        size_t n = malloc_usable_size(p);
        if (n > charging_now->held) /* cannot happen: only blocks of this decode are freed */
            n = charging_now->held;
        charging_now->held -= n;
        charging_now->shared->memory_outside -= n;
    }
    free(p);
}

static void charging_begin(charging *c, wk_shared *shared) {
    *c = (charging){.shared = shared};
    json_get_alloc_funcs(&c->old_malloc, &c->old_free);
    json_set_alloc_funcs(charged_malloc, charged_free);
    charging_now = c;
}

static void charging_end(charging *c) {
    charging_now = NULL;
    json_set_alloc_funcs(c->old_malloc, c->old_free);
}

/* A copy of the body as text, charged like a decoded answer. */
static void keep_text(wk_call *call, const rt_http_response *r) {
    call->text = charged_malloc(r->len + 1);
    if (!call->text) {
        if (!charging_now->refused)
            fail(call, "out of memory for the answer (%zu bytes)", r->len);
        return;
    }
    memcpy(call->text, r->body, r->len);
    call->len = r->len;
}

static const char *const result_type_names[] = {
    [SDK_RESULT_MATRIX] = "matrix",   [SDK_RESULT_VECTOR] = "vector",
    [SDK_RESULT_SCALAR] = "scalar",   [SDK_RESULT_STRING] = "string",
    [SDK_RESULT_STREAMS] = "streams", [SDK_RESULT_DATA] = "data",
};

static void decode_prom(wk_call *call, const rt_http_response *r) {
    char why[MAX_MESSAGE / 2];
    sdk_memory memory = outside_budget(call->a->budget.shared);
    int rc = sdk_response_decode(r->body, r->len, &memory, &call->prom, why, sizeof why);
    if (rc == RT_ETOOBIG) {
        charging_now->refused = true; /* the same refusal as jansson's, the same message */
        return;
    }
    if (rc != 0)
        return fail(call, "%s%s", rc < 0 ? "malformed response: " : "", why);
    sdk_result_type t = call->prom.type;
    if (call->expect == EXPECT_LOGS && t != SDK_RESULT_STREAMS)
        fail(call, "the query returned a %s, not log lines: use :metrics for metric queries",
             result_type_names[t]);
    else if (call->expect == EXPECT_SERIES && t == SDK_RESULT_STREAMS)
        fail(call, "the query returned log lines, not series: use :logs for log queries");
}

/* Turns the answer 'r' into C values, charged to the memory budget: what does not fit fails the
 * call with a message that says so, whatever the decoder made of the failed allocation. */
static void decode(wk_call *call, const rt_http_response *r) {
    charging c;
    size_t outside_before = call->a->budget.shared->memory_outside;
    charging_begin(&c, call->a->budget.shared);
    if (r->status < 200 || r->status > 299)
        fail_status(call, r);
    else if (call->kind == ANSWER_PROM)
        decode_prom(call, r);
    else if (call->kind == ANSWER_TEXT)
        keep_text(call, r);
    else
        decode_json(call, r);
    if (c.refused) {
        sdk_response_free(&call->prom);
        json_decref(call->json);
        call->json = NULL;
        char limit[32];
        size_text(c.shared->limits.memory, limit, sizeof limit);
        fail(call, "answer too large for the memory budget (limit %s)", limit);
    }
    charging_end(&c);
    call->outside = c.shared->memory_outside - outside_before;
}

/* The HTTP client's callback, on the loop. */
static void on_answer(const rt_http_response *r, void *ud) {
    wk_call *call = ud;
    wk_analysis *a = call->a;
    call->http = NULL;
    if (r->error == RT_EREPLAY) { /* strict replay: the analysis fails, showing the request */
        fail_transport(call, r);
        record_outcome(call, r);
        /* ... and so does the analysis at the root of a ctx:call chain: to its caller a nested
         * analysis' failure is only data, which it could conclude over as if nothing were
         * amiss, and the recording would pass for one that still serves the analyzer. Ending
         * the root ends the nested ones, this one among them, which cancels the call (freed). */
        wk_analysis *root = a;
        while (root->parent)
            root = root->parent;
        wk__abort(root, "error", r->message);
        return;
    }
    if (r->error != RT_OK)
        fail_transport(call, r);
    else
        decode(call, r);
    record_outcome(call, r);
    wk__wake(&call->wait);
}

/* Pushes the answer of the call passed as light userdata: nil and a message, or the values. */
static int push_answer(lua_State *L) {
    wk_call *call = lua_touserdata(L, 1);
    if (call->failed) {
        lua_pushnil(L);
        lua_pushstring(L, call->message);
        return 2;
    }
    if (call->kind == ANSWER_PROM)
        sdk_response_push(L, &call->prom);
    else if (call->kind == ANSWER_TEXT)
        lua_pushlstring(L, call->text, call->len);
    else
        sdk_json_to_lua(L, call->json);
    return 1;
}

/* The continuation of every connector method, in the analyzer's thread. */
static int answered(lua_State *L, int status, lua_KContext kctx) {
    wk_call *call = (wk_call *)kctx;
    (void)status;
    int base = lua_gettop(L);
    lua_pushcfunction(L, push_answer);
    lua_pushlightuserdata(L, call);
    int rc = lua_pcall(L, 1, LUA_MULTRET, 0);
    call_free(call);
    return rc == LUA_OK ? lua_gettop(L) - base : lua_error(L);
}

/* Charges the analysis for one more call, raising when its budgets are used up. The budgets are
 * the tree's (wk_shared): the calls of nested analyses count against the root's limits. */
static void charge_call(lua_State *L, wk_analysis *a, const wk_connector *c) {
    wk_shared *s = a->budget.shared;
    if (s->calls >= s->limits.calls)
        luaL_error(L, "%s: the analysis has made its %d connector calls (limits.calls)", c->name,
                   s->limits.calls);
    if (s->answer_bytes.used >= s->answer_bytes.limit) {
        char message[256], limit[32];
        size_text(s->answer_bytes.limit, limit, sizeof limit);
        snprintf(message, sizeof message,
                 "%.64s: the analysis has read its %s of connector answers (limits.call_bytes)",
                 c->name, limit);
        luaL_error(L, "%s", message);
    }
    s->calls++;
}

/* Lists the call 'call' of a nested analysis in the root's result too, saying which made it. */
static void list_in_root(wk_call *call, const char *operation) {
    const wk_analysis *root = call->a;
    while (root->parent)
        root = root->parent;
    if (root == call->a)
        return;
    call->root_record =
        json_pack("{s:s, s:s, s:s, s:o, s:o}", "connector", call->c->name, "operation", operation,
                  "status", "pending", "analysis", rt_json_text_cut(call->a->id, WK_MAX_TEXT),
                  "analyzer", rt_json_text_cut(call->a->name, WK_MAX_TEXT));
    json_array_append(root->calls, call->root_record);
}

/* Starts 'request' for the method 'operation' of connector 'c' and yields until it is answered.
 * 'setup' fills what the call expects of the answer. */
static int call_start(lua_State *L, const wk_connector *c, const char *operation,
                      const rt_http_request *request, answer_kind kind, expect ex) {
    wk_analysis *a = wk__analysis(L);
    char what[160];
    snprintf(what, sizeof what, "%s:%s", c->name, operation);
    wk__check_task(L, what);
    charge_call(L, a, c);
    wk_call *call = rt_xcalloc(1, sizeof *call);
    call->wait.cancel = call_cancel;
    call->a = a;
    call->c = c;
    call->kind = kind;
    call->expect = ex;
    call->started = rt_monotonic();
    call->record = json_pack("{s:s, s:s, s:s}", "connector", c->name, "operation", operation,
                             "status", "pending");
    json_array_append_new(a->calls, call->record);
    list_in_root(call, operation);
    rt_http_request own = *request;
    own.recording = a->recording; /* NULL: the engine's, if any */
    own.allowance = &a->budget.shared->answer_bytes;
    call->http = rt_http_start(c->target, &own, on_answer, call);
    return wk__wait(L, &call->wait, answered, (lua_KContext)call);
}

/* ---- Requests ------------------------------------------------------------------------------- */

/* Appends 'text' to 'b' escaped for a URL (RFC 3986: only unreserved characters as they are). */
static void add_escaped(luaL_Buffer *b, const char *text) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p)) {
            luaL_addchar(b, (char)*p);
        } else {
            luaL_addchar(b, '%');
            luaL_addchar(b, hex[*p >> 4]);
            luaL_addchar(b, hex[*p & 15]);
        }
    }
}

/* Appends 'key'='value' to the query in 'b'; '*first' says whether it opens the query. */
static void add_param(luaL_Buffer *b, int *first, const char *key, const char *value) {
    luaL_addchar(b, *first ? '?' : '&');
    *first = 0;
    add_escaped(b, key);
    luaL_addchar(b, '=');
    add_escaped(b, value);
}

static void add_number(luaL_Buffer *b, int *first, const char *key, double value) {
    char text[40];
    snprintf(text, sizeof text, "%.15g", value);
    add_param(b, first, key, text);
}

/* A time argument: Unix seconds, or text as inputs take it (RFC 3339, "now-1h"); 'dflt' when
 * absent and 'dflt' is not NaN. */
static double check_time(lua_State *L, int idx, const char *what, double dflt) {
    if (lua_isnoneornil(L, idx) && !isnan(dflt))
        return dflt;
    if (lua_type(L, idx) == LUA_TNUMBER)
        return lua_tonumber(L, idx);
    char why[160];
    double t = NAN; /* set by rt_time_parse on every path that returns: luaL_error does not
                       return, but lua.h does not tell the analyzer so */
    const char *text = lua_tostring(L, idx);
    if (!text)
        luaL_error(L, "%s: expected a time (Unix seconds or RFC 3339), got %s", what,
                   luaL_typename(L, idx));
    else if (rt_time_parse(text, wk__analysis(L)->now, &t, why) != 0)
        luaL_error(L, "%s: %s", what, why);
    return t;
}

/* A step argument: seconds, or a duration ("30s"). */
static double check_step(lua_State *L, int idx, const char *what) {
    char why[160];
    double step = 0;
    if (lua_type(L, idx) == LUA_TNUMBER)
        step = lua_tonumber(L, idx);
    else if (lua_type(L, idx) != LUA_TSTRING || rt_duration_parse(lua_tostring(L, idx), &step, why))
        luaL_error(L, "%s: expected a step (seconds, or a duration such as \"30s\")", what);
    if (!(step > 0))
        luaL_error(L, "%s: the step must be more than 0", what);
    return step;
}

static const wk_connector *check_connector(lua_State *L, rt_connector_type type) {
    const wk_connector **c = luaL_checkudata(L, 1, type_metatables[type]);
    return *c;
}

/* Raises when 'path' climbs out of the connector's URL (rt_http_path_climbs): "/../admin"
 * would take the connector's credential to what it was not configured for. */
static void check_path(lua_State *L, const wk_connector *c, const char *op, const char *path) {
    char shown[120];
    if (!rt_http_path_climbs(path))
        return;
    rt_http_path_show(path, shown, sizeof shown);
    luaL_error(L,
               "%s:%s: the path has a '.' or '..' segment (plain or %%-encoded), which would "
               "leave the connector's URL: %s",
               c->name, op, shown);
}

/* Starts a GET of the path in the buffer 'b' (pushed as the path). */
static int get(lua_State *L, const wk_connector *c, const char *op, luaL_Buffer *b,
               answer_kind kind, expect ex) {
    luaL_pushresult(b);
    check_path(L, c, op, lua_tostring(L, -1));
    rt_http_request request = {
        .method = RT_HTTP_GET, .path = lua_tostring(L, -1), .idempotent = true};
    return call_start(L, c, op, &request, kind, ex);
}

/* The window at 'idx' and 'idx'+1: a start and an end not before it. */
static void check_window(lua_State *L, int idx, const char *what, double *start, double *end) {
    char field[120];
    snprintf(field, sizeof field, "%s: start", what);
    *start = check_time(L, idx, field, NAN);
    snprintf(field, sizeof field, "%s: end", what);
    *end = check_time(L, idx + 1, field, NAN);
    if (*end < *start)
        luaL_error(L, "%s: end is before start", what);
}

/* ---- prometheus ---------------------------------------------------------------------------- */

static int prom_query(lua_State *L) {
    const wk_connector *c = check_connector(L, RT_CONNECTOR_PROMETHEUS);
    const char *expr = luaL_checkstring(L, 2);
    double at = check_time(L, 3, "prometheus:query: time", wk__analysis(L)->now);
    luaL_Buffer b;
    int first = 1;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/api/v1/query");
    add_param(&b, &first, "query", expr);
    add_number(&b, &first, "time", at);
    return get(L, c, "query", &b, ANSWER_PROM, EXPECT_SERIES);
}

static int prom_range(lua_State *L) {
    const wk_connector *c = check_connector(L, RT_CONNECTOR_PROMETHEUS);
    const char *expr = luaL_checkstring(L, 2);
    double start, end;
    check_window(L, 3, "prometheus:range", &start, &end);
    double step = check_step(L, 5, "prometheus:range: step");
    luaL_Buffer b;
    int first = 1;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/api/v1/query_range");
    add_param(&b, &first, "query", expr);
    add_number(&b, &first, "start", start);
    add_number(&b, &first, "end", end);
    add_number(&b, &first, "step", step);
    return get(L, c, "range", &b, ANSWER_PROM, EXPECT_SERIES);
}

/* match[] parameters from a string or a list of strings at 'idx'. */
static void add_matchers(lua_State *L, int idx, luaL_Buffer *b, int *first, const char *what) {
    if (lua_isnoneornil(L, idx))
        return;
    if (lua_type(L, idx) == LUA_TSTRING) {
        add_param(b, first, "match[]", lua_tostring(L, idx));
        return;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: match must be a selector or a list of selectors", what);
    for (lua_Integer i = 1; lua_rawgeti(L, idx, i) != LUA_TNIL; i++) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: match[%d] must be a string", what, (int)i);
        const char *m = lua_tostring(L, -1);
        lua_pop(L, 1); /* the list holds it: the pointer stays valid */
        add_param(b, first, "match[]", m);
    }
    lua_pop(L, 1);
}

/* Optional start and end of the window at 'idx' and 'idx'+1. */
static void add_window(lua_State *L, int idx, luaL_Buffer *b, int *first, const char *what) {
    char field[120];
    snprintf(field, sizeof field, "%s: start", what);
    if (!lua_isnoneornil(L, idx))
        add_number(b, first, "start", check_time(L, idx, field, NAN));
    snprintf(field, sizeof field, "%s: end", what);
    if (!lua_isnoneornil(L, idx + 1))
        add_number(b, first, "end", check_time(L, idx + 1, field, NAN));
}

static int prom_series(lua_State *L) {
    const wk_connector *c = check_connector(L, RT_CONNECTOR_PROMETHEUS);
    luaL_checkany(L, 2);
    lua_settop(L, 4);
    luaL_Buffer b;
    int first = 1;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/api/v1/series");
    add_matchers(L, 2, &b, &first, "prometheus:series");
    add_window(L, 3, &b, &first, "prometheus:series");
    return get(L, c, "series", &b, ANSWER_PROM, EXPECT_DATA);
}

/* label_values(label, { match = …, start = …, ["end"] = … }) */
static int prom_label_values(lua_State *L) {
    const wk_connector *c = check_connector(L, RT_CONNECTOR_PROMETHEUS);
    size_t len;
    const char *label = luaL_checklstring(L, 2, &len);
    for (size_t i = 0; i < len; i++)
        if (!(label[i] == '_' || (label[i] >= 'a' && label[i] <= 'z') ||
              (label[i] >= 'A' && label[i] <= 'Z') || (i && label[i] >= '0' && label[i] <= '9')))
            return luaL_error(L, "prometheus:label_values: '%s' is not a label name", label);
    if (!len)
        return luaL_error(L, "prometheus:label_values: the label name is empty");
    if (lua_isnoneornil(L, 3)) {
        lua_settop(L, 2);
        lua_newtable(L);
    }
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    lua_getfield(L, 3, "match"); /* 4 */
    lua_getfield(L, 3, "start"); /* 5 */
    lua_getfield(L, 3, "end");   /* 6 */
    luaL_Buffer b;
    int first = 1;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/api/v1/label/");
    luaL_addstring(&b, label);
    luaL_addstring(&b, "/values");
    add_matchers(L, 4, &b, &first, "prometheus:label_values");
    add_window(L, 5, &b, &first, "prometheus:label_values");
    return get(L, c, "label_values", &b, ANSWER_PROM, EXPECT_DATA);
}

static const luaL_Reg prometheus_methods[] = {
    {"query", prom_query},
    {"range", prom_range},
    {"series", prom_series},
    {"label_values", prom_label_values},
    {NULL, NULL},
};

/* ---- loki ------------------------------------------------------------------------------------ */

static void add_nanoseconds(luaL_Buffer *b, int *first, const char *key, double seconds) {
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)llround(seconds * 1e9));
    add_param(b, first, key, text);
}

/* Starts a query_range: logs(query, start, end, { limit, direction }) or metrics(query, start,
 * end, step). */
static int loki_range(lua_State *L, const char *op, expect ex) {
    const wk_connector *c = check_connector(L, RT_CONNECTOR_LOKI);
    char what[64];
    snprintf(what, sizeof what, "loki:%s", op);
    const char *query = luaL_checkstring(L, 2);
    double start, end;
    check_window(L, 3, what, &start, &end);
    double step = ex == EXPECT_SERIES ? check_step(L, 5, what) : 0;
    lua_Integer limit = 100;
    const char *direction = "backward";
    if (ex == EXPECT_LOGS && !lua_isnoneornil(L, 5)) {
        luaL_checktype(L, 5, LUA_TTABLE);
        lua_getfield(L, 5, "limit");
        limit = luaL_optinteger(L, -1, 100);
        lua_getfield(L, 5, "direction");
        direction = luaL_optstring(L, -1, "backward");
        if (limit < 1 || limit > 5000)
            return luaL_error(L, "%s: limit must be from 1 to 5000 (got %d)", what, (int)limit);
        if (strcmp(direction, "backward") != 0 && strcmp(direction, "forward") != 0)
            return luaL_error(L, "%s: direction must be \"backward\" or \"forward\"", what);
    }
    luaL_Buffer b;
    int first = 1;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "/loki/api/v1/query_range");
    add_param(&b, &first, "query", query);
    add_nanoseconds(&b, &first, "start", start);
    add_nanoseconds(&b, &first, "end", end);
    if (ex == EXPECT_SERIES) {
        add_number(&b, &first, "step", step);
    } else {
        add_number(&b, &first, "limit", (double)limit);
        add_param(&b, &first, "direction", direction);
    }
    return get(L, c, op, &b, ANSWER_PROM, ex);
}

static int loki_logs(lua_State *L) {
    return loki_range(L, "logs", EXPECT_LOGS);
}

static int loki_metrics(lua_State *L) {
    return loki_range(L, "metrics", EXPECT_SERIES);
}

static const luaL_Reg loki_methods[] = {
    {"logs", loki_logs},
    {"metrics", loki_metrics},
    {NULL, NULL},
};

/* ---- elasticsearch --------------------------------------------------------------------------- */

/* Starts a POST of the JSON form of the table at 'body_idx' to the path on top of the stack. */
static int post_json(lua_State *L, const wk_connector *c, const char *op, int body_idx,
                     answer_kind kind, bool idempotent) {
    char why[256];
    check_path(L, c, op, lua_tostring(L, -1));
    json_t *body = sdk_lua_to_json(L, body_idx, why, sizeof why);
    if (!body)
        return luaL_error(L, "%s:%s: body: %s", c->name, op, why);
    /* Canonical, so that the same table always makes the same request, which replay matches
     * byte for byte and a recording shows as JSON. */
    char *text = rt_json_canonical(body);
    json_decref(body);
    if (!text)
        return luaL_error(L, "%s:%s: body: out of memory", c->name, op);
    lua_pushstring(L, text); /* anchored for the request, which copies it */
    free(text);
    rt_http_request request = {.method = RT_HTTP_POST,
                               .path = lua_tostring(L, -2),
                               .body = lua_tostring(L, -1),
                               .body_len = lua_rawlen(L, -1),
                               .idempotent = idempotent};
    return call_start(L, c, op, &request, kind, EXPECT_ANY);
}

static int es_search(lua_State *L) {
    const wk_connector *c = check_connector(L, RT_CONNECTOR_ELASTICSEARCH);
    size_t len;
    const char *index = luaL_checklstring(L, 2, &len);
    luaL_checktype(L, 3, LUA_TTABLE);
    /* "." and ".." are no index either (Elasticsearch refuses them): as a path segment they
     * would leave the connector's URL, "/tenant-a/../_search" reaching every tenant. */
    if (!len ||
        strspn(index, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._*,:-+") !=
            len ||
        strcmp(index, ".") == 0 || strcmp(index, "..") == 0)
        return luaL_error(L, "elasticsearch:search: '%s' is not an index name or pattern", index);
    lua_settop(L, 3);
    lua_pushfstring(L, "/%s/_search", index);
    return post_json(L, c, "search", 3, ANSWER_SEARCH, true); /* a search only reads */
}

static const luaL_Reg elasticsearch_methods[] = {
    {"search", es_search},
    {NULL, NULL},
};

/* ---- http ------------------------------------------------------------------------------------ */

/* Appends 'path' to 'b' with each {name} replaced by the escaped string value of 'name' in the
 * table at 'vars' (0: none). */
static void fill_template(lua_State *L, luaL_Buffer *b, const char *path, int vars,
                          const char *what) {
    while (*path) {
        const char *open = strchr(path, '{'), *close = open ? strchr(open, '}') : NULL;
        if (!close) {
            luaL_addstring(b, path);
            return;
        }
        luaL_addlstring(b, path, (size_t)(open - path));
        lua_pushlstring(L, open + 1, (size_t)(close - open - 1));
        lua_pushvalue(L, -1); /* the name, kept below the value for messages */
        lua_rawget(L, vars);  /* vars is a table here: a template needs one */
        /* lua_pushfstring has no %.*s: the name goes in as the string kept on the stack */
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "%s: the path needs {%s}, which is missing or not a string", what,
                       lua_tostring(L, -2));
        char value[512]; /* copied: a number's text lives only on the stack */
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        if (len >= sizeof value)
            luaL_error(L, "%s: {%s} is longer than %d bytes", what, lua_tostring(L, -2),
                       (int)sizeof value - 1);
        memcpy(value, text, len + 1);
        lua_pop(L, 2);
        add_escaped(b, value);
        path = close + 1;
    }
}

/* Appends the query table at 'idx' (0: none) to 'b', keys sorted so that the same call always
 * makes the same request, which replay matches. */
static void add_query(lua_State *L, luaL_Buffer *b, int idx, int *first, const char *what) {
    enum { MAX_PARAMS = 64 };
    const char *keys[MAX_PARAMS], *values[MAX_PARAMS];
    int n = 0;
    if (!idx)
        return;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING || n == MAX_PARAMS)
            luaL_error(L, "%s: query must map at most %d names to strings", what, MAX_PARAMS);
        keys[n] = lua_tostring(L, -2); /* both held by the table */
        values[n++] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    for (int i = 1; i < n; i++) /* insertion sort: few parameters */
        for (int j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *k = keys[j], *v = values[j];
            keys[j] = keys[j - 1], values[j] = values[j - 1];
            keys[j - 1] = k, values[j - 1] = v;
        }
    for (int i = 0; i < n; i++)
        add_param(b, first, keys[i], values[i]);
}

/* Pushes the path of http:get/post: 'path' (argument 2) with { params } filled and { query }
 * appended, from the options table at 'opts' (0: none). */
static void push_http_path(lua_State *L, int opts, const char *what) {
    const char *path = luaL_checkstring(L, 2);
    if (path[0] != '/')
        luaL_error(L, "%s: the path must start with '/' (got \"%s\")", what, path);
    int params = 0, query = 0;
    if (opts) {
        lua_getfield(L, opts, "params");
        lua_getfield(L, opts, "query");
        params = lua_istable(L, -2) ? lua_gettop(L) - 1 : 0;
        query = lua_istable(L, -1) ? lua_gettop(L) : 0;
    }
    luaL_Buffer b;
    int first = strchr(path, '?') == NULL;
    luaL_buffinit(L, &b);
    if (strchr(path, '{') && !params)
        luaL_error(L, "%s: the path has {…} but no params fill it", what);
    fill_template(L, &b, path, params, what);
    add_query(L, &b, query, &first, what);
    luaL_pushresult(&b);
}

static int options_index(lua_State *L, int idx) {
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    return idx;
}

/* get(path, { params, query, raw }): with raw, the body as text instead of decoded JSON. */
static int http_get(lua_State *L) {
    const wk_connector *c = check_connector(L, RT_CONNECTOR_HTTP);
    int opts = options_index(L, 3), raw = 0;
    lua_settop(L, 3);
    if (opts) {
        lua_getfield(L, opts, "raw");
        raw = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    push_http_path(L, opts, "http:get");
    check_path(L, c, "get", lua_tostring(L, -1));
    rt_http_request request = {
        .method = RT_HTTP_GET, .path = lua_tostring(L, -1), .idempotent = true};
    return call_start(L, c, "get", &request, raw ? ANSWER_TEXT : ANSWER_JSON, EXPECT_ANY);
}

/* post(path, body, { params, query, idempotent }): a POST is retried only when the options say
 * that it only reads. */
static int http_post(lua_State *L) {
    const wk_connector *c = check_connector(L, RT_CONNECTOR_HTTP);
    luaL_checkany(L, 3);
    int opts = options_index(L, 4);
    lua_settop(L, 4);
    bool idempotent = false;
    if (opts) {
        lua_getfield(L, opts, "idempotent");
        idempotent = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    push_http_path(L, opts, "http:post");
    return post_json(L, c, "post", 3, ANSWER_JSON, idempotent);
}

/* events:list{ from = t, to = t, name = value, … }: the configured path, its {from} and {to}
 * filled as RFC 3339 times and the other {name}s from the arguments. */
static int http_list(lua_State *L) {
    const wk_connector *c = check_connector(L, RT_CONNECTOR_HTTP);
    json_t *events = json_object_get(c->settings, "events");
    if (!events)
        return luaL_error(L, "%s:list: the connector has no events section in the config", c->name);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    wk_analysis *a = wk__analysis(L);
    char from[40], to[40];
    lua_getfield(L, 2, "from");
    rt_time_format(check_time(L, -1, "events:list: from", a->now - 3600), from);
    lua_getfield(L, 2, "to");
    rt_time_format(check_time(L, -1, "events:list: to", a->now), to);
    lua_createtable(L, 0, 8); /* 5: the template's values */
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 5);
    }
    lua_pushstring(L, from);
    lua_setfield(L, 5, "from");
    lua_pushstring(L, to);
    lua_setfield(L, 5, "to");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    fill_template(L, &b, json_string_value(json_object_get(events, "path")), 5, "events:list");
    return get(L, c, "events", &b, ANSWER_EVENTS, EXPECT_ANY);
}

static const luaL_Reg http_methods[] = {
    {"get", http_get},
    {"post", http_post},
    {"list", http_list},
    {NULL, NULL},
};

/* ---- Events ---------------------------------------------------------------------------------- */

/* The value at the dotted 'path' ("a.b.c") in 'v', or NULL. */
static const json_t *dotted(const json_t *v, const char *path) {
    char key[128];
    while (v && path && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        v = json_object_get(v, key);
        path += n + (path[n] == '.');
    }
    return v;
}

/* An event's time: RFC 3339 text, or Unix seconds, or milliseconds when past the year 33658. */
static int event_time(const json_t *v, double *t) {
    char why[160];
    if (json_is_number(v)) {
        *t = json_number_value(v);
        if (*t > 1e12)
            *t /= 1e3;
        return 0;
    }
    return json_is_string(v) ? rt_time_parse(json_string_value(v), 0, t, why) : -1;
}

static void copy_text(json_t *event, const char *key, const json_t *item, const char *path) {
    const json_t *v = path ? dotted(item, path) : NULL;
    if (json_is_string(v))
        json_object_set_new(event, key, rt_json_text_cut(json_string_value(v), WK_MAX_TEXT));
    else if (json_is_number(v))
        json_object_set_new(event, key, json_real(json_number_value(v)));
}

static int by_time(const void *x, const void *y) {
    double a = json_number_value(json_object_get(*(json_t *const *)x, "time"));
    double b = json_number_value(json_object_get(*(json_t *const *)y, "time"));
    return (a > b) - (a < b);
}

/* The events in 'body' read through 'settings' (the connector's events section), sorted by
 * time: { time, kind, service, id, text }, 'kind' when the item names none. NULL with the
 * reason in 'why' when the shape is not as configured. */
static json_t *events_read(const json_t *body, const json_t *settings, const char *kind, char *why,
                           size_t size) {
    const char *items_path = json_string_value(json_object_get(settings, "items"));
    const json_t *items = items_path ? dotted(body, items_path) : body;
    const char *time_path = json_string_value(json_object_get(settings, "time"));
    if (!json_is_array(items)) {
        snprintf(why, size, "%s is not a list", items_path ? items_path : "the answer");
        return NULL;
    }
    size_t n = json_array_size(items);
    json_t **list = rt_xcalloc(n + 1, sizeof(json_t *));
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(items, i);
        double t;
        if (event_time(dotted(item, time_path), &t) != 0) {
            snprintf(why, size, "item %zu: %s is missing or not a time", i + 1, time_path);
            while (i-- > 0)
                json_decref(list[i]);
            free(list);
            return NULL;
        }
        list[i] = json_pack("{s:o, s:s}", "time", rt_json_number(t), "kind", kind);
        static const char *const keys[] = {"kind", "service", "id", "text"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            copy_text(list[i], keys[k], item,
                      json_string_value(json_object_get(settings, keys[k])));
    }
    qsort(list, n, sizeof(json_t *), by_time);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, list[i]);
    free(list);
    return out;
}

/* ---- ctx.metrics, ctx.logs, ctx.search, ctx.http, ctx.events ----------------------------------
 */

static const luaL_Reg *const type_methods[] = {
    [RT_CONNECTOR_PROMETHEUS] = prometheus_methods,
    [RT_CONNECTOR_LOKI] = loki_methods,
    [RT_CONNECTOR_ELASTICSEARCH] = elasticsearch_methods,
    [RT_CONNECTOR_HTTP] = http_methods,
};

static int connector_tostring(lua_State *L) {
    const wk_connector **c = lua_touserdata(L, 1);
    lua_pushfstring(L, "%s connector '%s'", rt_connector_type_name((*c)->type), (*c)->name);
    return 1;
}

static void push_metatable(lua_State *L, rt_connector_type type) {
    if (!luaL_newmetatable(L, type_metatables[type]))
        return;
    lua_newtable(L);
    luaL_setfuncs(L, type_methods[type], 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, connector_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
}

/* The accessors, by the name analyzers call them; upvalue 1: the index in this table. */
static const struct accessor {
    const char *name;
    rt_connector_type type;
    const char *noun;
} accessors[] = {
    {"metrics", RT_CONNECTOR_PROMETHEUS, "prometheus"},      {"logs", RT_CONNECTOR_LOKI, "loki"},
    {"search", RT_CONNECTOR_ELASTICSEARCH, "elasticsearch"}, {"http", RT_CONNECTOR_HTTP, "http"},
    {"events", RT_CONNECTOR_HTTP, "http (with events)"},
};

/* ctx.metrics("prom") (or ctx:metrics("prom")): the connector object. */
static int ctx_connector(lua_State *L) {
    const struct accessor *acc = &accessors[lua_tointeger(L, lua_upvalueindex(1))];
    int arg = lua_istable(L, 1) ? 2 : 1; /* called with ':' */
    const char *name = luaL_checkstring(L, arg);
    wk_engine *engine = wk__analysis(L)->engine;
    wk_connector *c = find_connector(engine, name);
    if (!c) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (size_t i = 0; i < engine->nconnectors; i++) {
            if (engine->connectors[i].reserved)
                continue;
            luaL_addstring(&b, luaL_bufflen(&b) ? ", " : "");
            luaL_addstring(&b, engine->connectors[i].name);
        }
        luaL_pushresult(&b);
        return luaL_error(L, "ctx.%s: no connector named '%s' (connectors: %s)", acc->name, name,
                          lua_rawlen(L, -1) ? lua_tostring(L, -1) : "none configured");
    }
    if (c->reserved)
        return luaL_error(L,
                          "ctx.%s: connector '%s' is reserved for actions (rules' actions name "
                          "it): analyzers cannot call it; give them a connector of their own",
                          acc->name, name);
    if (c->type != acc->type)
        return luaL_error(L, "ctx.%s: '%s' is a %s connector, not %s", acc->name, name,
                          rt_connector_type_name(c->type), acc->noun);
    if (strcmp(acc->name, "events") == 0 && !json_object_get(c->settings, "events"))
        return luaL_error(L, "ctx.events: connector '%s' has no events section in the config",
                          name);
    const wk_connector **box = lua_newuserdatauv(L, sizeof(const wk_connector *), 0);
    *box = c;
    push_metatable(L, c->type);
    lua_setmetatable(L, -2);
    return 1;
}

void wk__connectors_register(lua_State *L) {
    for (size_t i = 0; i < sizeof accessors / sizeof *accessors; i++) {
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, ctx_connector, 1);
        lua_setfield(L, -2, accessors[i].name);
    }
}
