/* runtime/rt_fnlib.h -- a Redis function library shipped inside the binary (FUNCTION LOAD), and
 * calls of its functions. Each VERSION of a library NAME (the text's "#!lua name=NAME" and
 * "local VERSION = N") is a library of its own, NAME_vN, whose functions the text registers as
 * NAME_vN_REST: a function's arguments change between versions, so during a rolling upgrade the
 * programs of each version call their own, side by side on the same keys (docs/queue.md,
 * "Loading"). A call names the function NAME_REST. A call that finds its version's library
 * missing (first use, FUNCTION FLUSH, a Redis restarted without persistence) loads it (not
 * REPLACE) and is sent again behind the load on the same connection. Used by the post-processor's
 * action chain (postproc/pp_chain.c) and the feedback and insights store
 * (integrations/ig_store.c); the queue (rt_queue.c) loads its own as part of coming up. */
#ifndef INQUEST_RT_FNLIB_H
#define INQUEST_RT_FNLIB_H

#include <stddef.h>
#include "rt_redis.h"

typedef struct rt_fnlib rt_fnlib;

#define RT_FNLIB_NAME_SIZE 64

/* The library 'text' ('len' bytes: "#!lua name=NAME" first, and a "local VERSION = N" line) as
 * it is loaded: named NAME_vN in its first line, then LIBRARY (that name) and the prelude every
 * library shares (runtime/rt_fnlib_prelude.lua: wrap, register), then the rest of 'text'.
 * Returns it (allocated, NUL-terminated, '*out_len' bytes); 'name' gets NAME, '*version' N. */
char *rt_fnlib_versioned(const char *text, size_t len, size_t *out_len,
                         char name[RT_FNLIB_NAME_SIZE], int *version);

/* The answer of a call: RT_OK with 'reply', or an error whose 'msg' is the function's message
 * after its rt error name (rt_errcode_of); RT_ECANCELED when the handle was freed meanwhile. */
typedef void (*rt_fnlib_fn)(int rc, const char *msg, const redisReply *reply, void *ud);

/* A handle on the library 'text' ('len' bytes: "#!lua name=NAME" first, and a "local VERSION =
 * N" line) on 'redis'. 'prefix' ("{name}:") goes first in every call's arguments. */
rt_fnlib *rt_fnlib_new(rt_redis *redis, const char *prefix, const char *text, size_t len);
/* Frees 'l' at once, or with its last outstanding call (which hears RT_ECANCELED). Accepts
 * NULL. */
void rt_fnlib_free(rt_fnlib *l);
/* FCALL function 'fn' (NAME_REST: its version's NAME_vN_REST is called) with the 'nkeys' keys
 * 'keys', then the prefix and the 'nargs' arguments 'args' (copied). 'done' gets the answer.
 * RT_OK, or an error when the call cannot be sent. */
int rt_fnlib_call(rt_fnlib *l, const char *fn, int nkeys, const char *const *keys, int nargs,
                  const char *const *args, rt_fnlib_fn done, void *ud);

#endif
