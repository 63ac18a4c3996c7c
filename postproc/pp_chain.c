/* postproc/pp_chain.c -- calls of the action chain's Redis functions (pp_chain.lua, embedded in
 * the binary, loaded and called through runtime/rt_fnlib.c). The transitions themselves are in the
 * Lua file; the process that drives them is pp_postproc.c, the API that shows and decides them is
 * integrations/ig_api.c. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include "pp.h"
#include "rt_fnlib.h"

extern const char pp_chain_lua[];
extern const size_t pp_chain_lua_len;

struct pp_chain {
    rt_fnlib *lib;
    char prefix[160]; /* "{name}:" */
};

pp_chain *pp_chain_new(rt_redis *redis, const char *prefix) {
    pp_chain *ch = rt_xcalloc(1, sizeof *ch);
    snprintf(ch->prefix, sizeof ch->prefix, "{%s}:", prefix && *prefix ? prefix : "inquest");
    ch->lib = rt_fnlib_new(redis, ch->prefix, pp_chain_lua, pp_chain_lua_len);
    return ch;
}

void pp_chain_free(pp_chain *ch) {
    if (!ch)
        return;
    rt_fnlib_free(ch->lib); /* its calls out still hear RT_ECANCELED */
    free(ch);
}

void pp_chain_key(const pp_chain *ch, const char *what, char *out, size_t size) {
    snprintf(out, size, "%s%s", ch->prefix, what);
}

void pp_action_key(const pp_chain *ch, const char *id, char *out, size_t size) {
    snprintf(out, size, "%spp:act:%s", ch->prefix, id);
}

int pp_chain_call(pp_chain *ch, const char *fn, int nkeys, const char *const *keys, int nargs,
                  const char *const *args, pp_chain_fn done, void *ud) {
    return rt_fnlib_call(ch->lib, fn, nkeys, keys, nargs, args, done, ud);
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
                   strcmp(k->str, "lease_until") == 0 || strcmp(k->str, "approval_deadline") == 0)
            set_ms_time(o, k->str, v->str);
        else if (strcmp(k->str, "attempts") == 0)
            json_object_set_new(o, "attempts", json_integer(atoi(v->str)));
        else if (v->len > 0)
            json_object_set_new(o, k->str, rt_json_text(v->str, v->len));
    }
    return o;
}
