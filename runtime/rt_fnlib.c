/* runtime/rt_fnlib.c -- calls of a Redis function library shipped in the binary (rt_fnlib.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt_fnlib.h"

struct rt_fnlib {
    rt_redis *redis;
    char prefix[160]; /* "{name}:" */
    const char *text; /* the library, 'len' bytes */
    size_t len;
    char version_fn[64];
    int version;   /* of 'text' */
    bool checked;  /* the loaded version was asked for */
    bool orphaned; /* freed by its owner while calls were out: freed with the last one */
    size_t pending;
};

typedef struct call {
    rt_fnlib *l;
    int argc;
    char **argv; /* owned, 'argc' */
    size_t *lens;
    bool retried;
    rt_fnlib_fn done;
    void *ud;
} call;

rt_fnlib *rt_fnlib_new(rt_redis *redis, const char *prefix, const char *text, size_t len,
                       const char *version_fn) {
    rt_fnlib *l = rt_xcalloc(1, sizeof *l);
    const char *v = strstr(text, "\nlocal VERSION = ");
    l->redis = redis;
    snprintf(l->prefix, sizeof l->prefix, "%s", prefix);
    l->text = text;
    l->len = len;
    snprintf(l->version_fn, sizeof l->version_fn, "%s", version_fn);
    l->version = v ? atoi(v + 17) : 0;
    return l;
}

void rt_fnlib_free(rt_fnlib *l) {
    if (!l)
        return;
    if (l->pending) {
        l->orphaned = true;
        return;
    }
    free(l);
}

/* ---- the library ---------------------------------------------------------------------------- */

static void on_loaded(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    (void)r, (void)reply, (void)rc, (void)msg, (void)ud; /* a failure shows in the next call */
}

static void load(rt_fnlib *l) {
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", l->text};
    size_t lens[] = {8, 4, 7, l->len};
    rt_redis_command(l->redis, 4, argv, lens, on_loaded, NULL);
}

static void on_version(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    rt_fnlib *l = ud;
    (void)r, (void)msg;
    l->pending--;
    bool old =
        rc == RT_OK && reply && reply->type == REDIS_REPLY_INTEGER && reply->integer < l->version;
    if (l->orphaned) {
        if (!l->pending)
            free(l);
        return;
    }
    if (old)
        load(l);
    else if (rc != RT_OK)
        l->checked = false; /* not found is handled by the calls; other errors: ask again */
}

/* Asks for the loaded version once per handle, ahead of the first call: an older library is
 * replaced, so the calls that follow the load run the new one. A newer one is kept (a rolling
 * upgrade must keep old calls working). */
static void check_version(rt_fnlib *l) {
    if (l->checked)
        return;
    const char *argv[] = {"FCALL_RO", l->version_fn, "0"};
    if (rt_redis_command(l->redis, 3, argv, NULL, on_version, l) == RT_OK) {
        l->checked = true;
        l->pending++;
    }
}

/* ---- calls ---------------------------------------------------------------------------------- */

static void call_free(call *c) {
    for (int i = 0; i < c->argc; i++)
        free(c->argv[i]);
    free(c->argv);
    free(c->lens);
    free(c);
}

static int send_call(call *c);

static void on_reply(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    call *c = ud;
    rt_fnlib *l = c->l;
    (void)r;
    l->pending--;
    if (l->orphaned) { /* the owner is gone: its callers hear that, nothing more */
        c->done(RT_ECANCELED, "the library's handle was freed", NULL, c->ud);
        call_free(c);
        if (!l->pending)
            free(l);
        return;
    }
    if (rc == RT_EBACKEND && reply && !c->retried &&
        strncmp(msg, "ERR Function not found", 22) == 0) {
        c->retried = true;
        load(l);
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
        rt_redis_command(c->l->redis, c->argc, (const char *const *)c->argv, c->lens, on_reply, c);
    if (rc == RT_OK)
        c->l->pending++;
    return rc;
}

static void add(call *c, const char *s) {
    size_t n = strlen(s);
    c->argv[c->argc] = rt_xstrndup(s, n);
    c->lens[c->argc++] = n;
}

int rt_fnlib_call(rt_fnlib *l, const char *fn, int nkeys, const char *const *keys, int nargs,
                  const char *const *args, rt_fnlib_fn done, void *ud) {
    char count[16];
    if (NEVER(nkeys < 0 || nargs < 0))
        return RT_EINTERNAL;
    call *c = rt_xcalloc(1, sizeof *c);
    *c = (call){.l = l, .done = done, .ud = ud};
    c->argv = rt_xcalloc((size_t)(nkeys + nargs + 4), sizeof *c->argv);
    c->lens = rt_xcalloc((size_t)(nkeys + nargs + 4), sizeof *c->lens);
    snprintf(count, sizeof count, "%d", nkeys);
    add(c, "FCALL");
    add(c, fn);
    add(c, count);
    for (int i = 0; i < nkeys; i++)
        add(c, keys[i]);
    add(c, l->prefix);
    for (int i = 0; i < nargs; i++)
        add(c, args[i]);
    check_version(l);
    int rc = send_call(c);
    if (rc != RT_OK)
        call_free(c);
    return rc;
}
