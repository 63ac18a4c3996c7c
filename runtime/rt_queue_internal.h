/* runtime/rt_queue_internal.h -- a seam of the queue (runtime/rt_queue.c) for its tests: the
 * parsers of its replies run on a reply tree the caller built, without a connection. Nothing
 * outside runtime/ includes it but the fuzz harness tests/fuzz/fuzz_redis.c; the API is
 * rt_queue.h. */
#ifndef INQUEST_RT_QUEUE_INTERNAL_H
#define INQUEST_RT_QUEUE_INTERNAL_H

#include <stddef.h>
#include <hiredis/hiredis.h>

/* The replies rt_queue.c parses, by the operation (rt_queue.h) whose callback gets the result. */
typedef enum rt__queue_reply {
    RT__REPLY_SUBMIT,      /* rt_queue_submit(_alerts): rt_queue_submit_fn */
    RT__REPLY_INTAKE,      /* rt_queue_submit_intake: rt_queue_intake_fn */
    RT__REPLY_CLAIM,       /* rt_queue_claim: rt_queue_claim_fn */
    RT__REPLY_COMPLETE,    /* rt_queue_complete: rt_queue_complete_fn */
    RT__REPLY_EXTEND,      /* rt_queue_extend: rt_queue_extend_fn */
    RT__REPLY_CANCEL,      /* rt_queue_cancel: rt_queue_cancel_fn */
    RT__REPLY_GET,         /* rt_queue_get: rt_queue_get_fn */
    RT__REPLY_LIST,        /* rt_queue_list: rt_queue_list_fn */
    RT__REPLY_DEAD,        /* rt_queue_dead_letters: rt_queue_dead_fn */
    RT__REPLY_RESOLVE,     /* rt_queue_resolve: rt_queue_resolve_fn */
    RT__REPLY_STATS,       /* rt_queue_stats_read: rt_queue_stats_fn */
    RT__REPLY_COUNT,       /* rt_queue_connector_stats_add: its 'done' */
    RT__REPLY_CONNECTORS,  /* rt_queue_connector_stats_read: rt_queue_connectors_fn */
    RT__REPLY_RECORDING,   /* rt_queue_get_recording: rt_queue_recording_fn */
    RT__REPLY_WATCH_START, /* the watch's first read (XREVRANGE): no callback */
    RT__REPLY_WATCH,       /* the watch's XREAD: rt_queue_watch_fn, once per entry */
    RT__N_REPLIES
} rt__queue_reply;

/* Hands 'reply' (the caller's, not freed) to the parser of 'which' as a reply from Redis would
 * reach it, an error reply included, from an operation that sent 'n' items ('m' misfits for
 * RT__REPLY_INTAKE): results of a round, ids, requests or alerts, a page's limit. The result goes
 * to 'done' (the operation's callback type, cast) with 'ud'. Frees what it made. */
void rt__queue_parse(rt__queue_reply which, size_t n, size_t m, const redisReply *reply,
                     void (*done)(void), void *ud);

#endif
