/* postproc/pp_chain.c -- calls of the action chain's Redis functions (pp_chain.lua, embedded in
 * the binary): the library is loaded when Redis lacks it or holds an older one, and a call that
 * finds it missing (FUNCTION FLUSH, a restarted Redis without persistence) loads it and is sent
 * again behind the load on the same connection. The transitions themselves are in the Lua file;
 * the process that drives them is pp_postproc.c, the API that shows and decides them is
 * integrations/ig_api.c. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include "pp.h"

extern const char pp_chain_lua[];
extern const size_t pp_chain_lua_len;

#define MAX_ARGS 32

struct pp_chain {
    rt_redis *redis;
    char prefix[160]; /* "{name}:" */
    int version;      /* of the embedded library */
    bool checked;     /* the loaded version was asked for */
    bool orphaned;    /* freed by its owner while calls were out: freed with the last one */
    size_t pending;
};

typedef struct call {
    pp_chain *ch;
    int argc;
    char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    bool retried;
    pp_chain_fn done;
    void *ud;
} call;

static int library_version(void) {
    const char *v = strstr(pp_chain_lua, "\nlocal VERSION = ");
    return v ? atoi(v + 17) : 0;
}

pp_chain *pp_chain_new(rt_redis *redis, const char *prefix) {
    pp_chain *ch = rt_xcalloc(1, sizeof *ch);
    ch->redis = redis;
    snprintf(ch->prefix, sizeof ch->prefix, "{%s}:", prefix && *prefix ? prefix : "inquest");
    ch->version = library_version();
    return ch;
}

void pp_chain_free(pp_chain *ch) {
    if (!ch)
        return;
    if (ch->pending) {
        ch->orphaned = true;
        return;
    }
    free(ch);
}

void pp_chain_key(const pp_chain *ch, const char *what, char *out, size_t size) {
    snprintf(out, size, "%s%s", ch->prefix, what);
}

void pp_action_key(const pp_chain *ch, const char *id, char *out, size_t size) {
    snprintf(out, size, "%spp:act:%s", ch->prefix, id);
}

/* ---- the library ---------------------------------------------------------------------------- */

static void on_loaded(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    (void)r, (void)reply, (void)rc, (void)msg, (void)ud; /* a failure shows in the next call */
}

static void load(pp_chain *ch) {
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", pp_chain_lua};
    size_t lens[] = {8, 4, 7, pp_chain_lua_len};
    rt_redis_command(ch->redis, 4, argv, lens, on_loaded, NULL);
}

static void on_version(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    pp_chain *ch = ud;
    (void)r, (void)msg;
    ch->pending--;
    bool old =
        rc == RT_OK && reply && reply->type == REDIS_REPLY_INTEGER && reply->integer < ch->version;
    if (ch->orphaned) {
        if (!ch->pending)
            free(ch);
        return;
    }
    if (old)
        load(ch);
    else if (rc != RT_OK)
        ch->checked = false; /* not found is handled by the calls; other errors: ask again */
}

/* Asks for the loaded version once per handle, ahead of the first call: an older library is
 * replaced, so the calls that follow the load run the new one. */
static void check_version(pp_chain *ch) {
    if (ch->checked)
        return;
    const char *argv[] = {"FCALL_RO", "inquest_pp_version", "0"};
    if (rt_redis_command(ch->redis, 3, argv, NULL, on_version, ch) == RT_OK) {
        ch->checked = true;
        ch->pending++;
    }
}

/* ---- calls ---------------------------------------------------------------------------------- */

static void call_free(call *c) {
    for (int i = 0; i < c->argc; i++)
        free(c->argv[i]);
    free(c);
}

static int send_call(call *c);

static void on_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    call *c = ud;
    pp_chain *ch = c->ch;
    (void)r;
    ch->pending--;
    if (ch->orphaned) { /* the owner is gone: its job only frees itself */
        c->done(RT_ECANCELED, "post-processor freed", NULL, c->ud);
        call_free(c);
        if (!ch->pending)
            free(ch);
        return;
    }
    if (rc == RT_EBACKEND && reply && !c->retried &&
        strncmp(msg, "ERR Function not found", 22) == 0) {
        c->retried = true;
        load(ch);
        if (send_call(c) == RT_OK)
            return;
    }
    const char *rest = msg;
    if (rc == RT_EBACKEND && reply)
        rc = rt_errcode_of(msg, &rest);
    c->done(rc, rest, rc == RT_OK ? reply : NULL, c->ud);
    call_free(c);
}

static int send_call(call *c) {
    int rc =
        rt_redis_command(c->ch->redis, c->argc, (const char *const *)c->argv, c->lens, on_reply, c);
    if (rc == RT_OK)
        c->ch->pending++;
    return rc;
}

static void add(call *c, const char *s) {
    size_t n = strlen(s);
    c->argv[c->argc] = rt_xstrndup(s, n);
    c->lens[c->argc++] = n;
}

int pp_chain_call(pp_chain *ch, const char *fn, int nkeys, const char *const *keys, int nargs,
                  const char *const *args, pp_chain_fn done, void *ud) {
    char count[16];
    if (NEVER(nkeys + nargs + 4 > MAX_ARGS))
        return RT_EINTERNAL;
    call *c = rt_xcalloc(1, sizeof *c);
    *c = (call){.ch = ch, .done = done, .ud = ud};
    snprintf(count, sizeof count, "%d", nkeys);
    add(c, "FCALL");
    add(c, fn);
    add(c, count);
    for (int i = 0; i < nkeys; i++)
        add(c, keys[i]);
    add(c, ch->prefix);
    for (int i = 0; i < nargs; i++)
        add(c, args[i]);
    check_version(ch);
    int rc = send_call(c);
    if (rc != RT_OK)
        call_free(c);
    return rc;
}

/* ---- actions as JSON ------------------------------------------------------------------------ */

static void set_ms_time(json_t *o, const char *key, const char *ms) {
    char text[40];
    double t = ms ? atof(ms) / 1000 : 0;
    if (t > 0) {
        rt_time_format(t, text);
        json_object_set_new(o, key, json_string(text));
    }
}

json_t *pp_action_json(const redisReply *flat) {
    json_t *o = json_object();
    for (size_t i = 0; flat && i + 1 < flat->elements; i += 2) {
        const redisReply *k = flat->element[i], *v = flat->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "spec") == 0) {
            json_t *spec = json_loadb(v->str, v->len, 0, NULL);
            if (json_is_object(spec))
                json_object_update_missing(o, spec);
            json_decref(spec);
        } else if (strcmp(k->str, "outcome") == 0) {
            json_t *outcome = json_loadb(v->str, v->len, 0, NULL);
            if (outcome)
                json_object_set_new(o, "outcome", outcome);
        } else if (strcmp(k->str, "created_at") == 0 || strcmp(k->str, "updated_at") == 0 ||
                   strcmp(k->str, "lease_until") == 0)
            set_ms_time(o, k->str, v->str);
        else if (strcmp(k->str, "attempts") == 0)
            json_object_set_new(o, "attempts", json_integer(atoi(v->str)));
        else if (v->len > 0)
            json_object_set_new(o, k->str, rt_json_text(v->str, v->len));
    }
    return o;
}
