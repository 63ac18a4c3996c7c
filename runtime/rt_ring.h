/* runtime/rt_ring.h -- intrusive doubly-linked rings with a sentinel (as libuv's queue.h), for
 * the runtime's own lists of calls, commands and sockets. Internal to runtime/: the HTTP client
 * (rt_http.c) and the Redis client (rt_redis.c) use it. */
#ifndef INQUEST_RT_RING_H
#define INQUEST_RT_RING_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rt__ring {
    struct rt__ring *prev, *next;
} rt__ring;

/* The structure of type 'type' whose member 'member' is the ring link 'r'. */
#define RT__RING_ENTRY(r, type, member) ((type *)(void *)((char *)(r)-offsetof(type, member)))

static inline void rt__ring_init(rt__ring *r) {
    r->prev = r->next = r;
}

static inline bool rt__ring_empty(const rt__ring *r) {
    return r->next == r;
}

static inline void rt__ring_insert_before(rt__ring *at, rt__ring *r) {
    r->prev = at->prev;
    r->next = at;
    at->prev->next = r;
    at->prev = r;
}

/* Leaves 'r' in a ring of its own, so that removing it twice is harmless. */
static inline void rt__ring_remove(rt__ring *r) {
    r->prev->next = r->next;
    r->next->prev = r->prev;
    rt__ring_init(r);
}

/* Moves every member of 'from' to the empty 'to'. */
static inline void rt__ring_move(rt__ring *from, rt__ring *to) {
    rt__ring_init(to);
    if (rt__ring_empty(from))
        return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    rt__ring_init(from);
}

#endif
