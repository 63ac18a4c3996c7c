/* runtime/rt_fnlib.h -- a Redis function library shipped inside the binary (FUNCTION LOAD), and
 * calls of its functions: the library is loaded when Redis lacks it or holds an older VERSION,
 * and a call that finds it missing (FUNCTION FLUSH, a Redis restarted without persistence) loads
 * it and is sent again behind the load on the same connection. Used by the post-processor's
 * action chain (postproc/pp_chain.c) and the feedback and insights store
 * (integrations/ig_store.c); the queue (rt_queue.c) loads its own as part of coming up. */
#ifndef INQUEST_RT_FNLIB_H
#define INQUEST_RT_FNLIB_H

#include <stddef.h>
#include "rt_redis.h"

typedef struct rt_fnlib rt_fnlib;

/* The answer of a call: RT_OK with 'reply', or an error whose 'msg' is the function's message
 * after its rt error name (rt_errcode_of); RT_ECANCELED when the handle was freed meanwhile. */
typedef void (*rt_fnlib_fn)(int rc, const char *msg, const redisReply *reply, void *ud);

/* A handle on the library 'text' ('len' bytes; its "local VERSION = N" line says its version;
 * it must outlive the handle) on 'redis', whose function 'version_fn' answers the version
 * loaded. 'prefix' ("{name}:") goes first in every call's arguments. */
rt_fnlib *rt_fnlib_new(rt_redis *redis, const char *prefix, const char *text, size_t len,
                       const char *version_fn);
/* Frees 'l' at once, or with its last outstanding call (which hears RT_ECANCELED). Accepts
 * NULL. */
void rt_fnlib_free(rt_fnlib *l);
/* FCALL 'fn' with the 'nkeys' keys 'keys', then the prefix and the 'nargs' arguments 'args'
 * (copied). 'done' gets the answer. RT_OK, or an error when the call cannot be sent. */
int rt_fnlib_call(rt_fnlib *l, const char *fn, int nkeys, const char *const *keys, int nargs,
                  const char *const *args, rt_fnlib_fn done, void *ud);

#endif
