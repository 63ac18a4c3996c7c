/* runtime/rt_fnlib.c -- calls of a Redis function library shipped in the binary (rt_fnlib.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt_fnlib.h"

struct rt_fnlib {
    rt_redis *redis;
    char prefix[160];              /* "{name}:" */
    char name[RT_FNLIB_NAME_SIZE]; /* NAME of the text's "#!lua name=NAME" */
    int version;                   /* the text's VERSION */
    char *text;                    /* owned: the library as loaded (rt_fnlib_versioned) */
    size_t len;
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

extern const char rt_fnlib_prelude_lua[];
extern const size_t rt_fnlib_prelude_lua_len;

#define SHEBANG "#!lua name="

char *rt_fnlib_versioned(const char *text, size_t len, size_t *out_len,
                         char name[RT_FNLIB_NAME_SIZE], int *version) {
    const char *v = strstr(text, "\nlocal VERSION = ");
    const char *body = memchr(text, '\n', len);
    size_t body_len = body ? len - (size_t)(body - text) : 0;
    size_t name_len = body && strncmp(text, SHEBANG, strlen(SHEBANG)) == 0
                          ? (size_t)(body - text) - strlen(SHEBANG)
                          : 0;
    (void)NEVER(name_len == 0 || name_len >= RT_FNLIB_NAME_SIZE); /* our own texts name theirs */
    snprintf(name, RT_FNLIB_NAME_SIZE, "%.*s", (int)name_len, text + strlen(SHEBANG));
    *version = v ? atoi(v + 17) : 0;
    char head[256];
    int n = snprintf(head, sizeof head, SHEBANG "%s_v%d\nlocal LIBRARY = '%s_v%d'\n", name,
                     *version, name, *version);
    *out_len = (size_t)n + rt_fnlib_prelude_lua_len + body_len;
    char *out = rt_xmalloc(*out_len + 1);
    memcpy(out, head, (size_t)n);
    memcpy(out + n, rt_fnlib_prelude_lua, rt_fnlib_prelude_lua_len);
    memcpy(out + n + rt_fnlib_prelude_lua_len, body ? body : "", body_len);
    out[*out_len] = '\0';
    return out;
}

rt_fnlib *rt_fnlib_new(rt_redis *redis, const char *prefix, const char *text, size_t len) {
    rt_fnlib *l = rt_xcalloc(1, sizeof *l);
    l->redis = redis;
    snprintf(l->prefix, sizeof l->prefix, "%s", prefix);
    l->text = rt_fnlib_versioned(text, len, &l->len, l->name, &l->version);
    return l;
}

static void release(rt_fnlib *l) {
    free(l->text);
    free(l);
}

void rt_fnlib_free(rt_fnlib *l) {
    if (!l)
        return;
    if (l->pending) {
        l->orphaned = true;
        return;
    }
    release(l);
}

/* ---- the library ---------------------------------------------------------------------------- */

static void on_loaded(rt_redis *r, const redisReply *reply, int rc, const char *msg, void *ud) {
    (void)r, (void)reply, (void)rc, (void)msg, (void)ud; /* a failure shows in the next call */
}

/* FUNCTION LOAD, not REPLACE: another version's library stays for the programs that call it, and
 * "already exists" only means that another connection loaded this one first. */
static void load(rt_fnlib *l) {
    const char *argv[] = {"FUNCTION", "LOAD", l->text};
    size_t lens[] = {8, 4, l->len};
    rt_redis_command(l->redis, 3, argv, lens, on_loaded, NULL);
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
            release(l);
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
    char count[16], versioned[160];
    size_t name_len = strlen(l->name);
    if (NEVER(nkeys < 0 || nargs < 0) ||
        NEVER(strncmp(fn, l->name, name_len) != 0 || fn[name_len] != '_'))
        return RT_EINTERNAL;
    snprintf(versioned, sizeof versioned, "%s_v%d_%s", l->name, l->version, fn + name_len + 1);
    call *c = rt_xcalloc(1, sizeof *c);
    *c = (call){.l = l, .done = done, .ud = ud};
    size_t argc_max = (size_t)nkeys + (size_t)nargs + 4; /* FCALL, name, count, prefix */
    c->argv = rt_xcalloc(argc_max, sizeof *c->argv);
    c->lens = rt_xcalloc(argc_max, sizeof *c->lens);
    snprintf(count, sizeof count, "%d", nkeys);
    add(c, "FCALL");
    add(c, versioned);
    add(c, count);
    for (int i = 0; i < nkeys; i++)
        add(c, keys[i]);
    add(c, l->prefix);
    for (int i = 0; i < nargs; i++)
        add(c, args[i]);
    int rc = send_call(c);
    if (rc != RT_OK)
        call_free(c);
    return rc;
}
