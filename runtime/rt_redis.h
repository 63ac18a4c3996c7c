/* runtime/rt_redis.h -- an asynchronous Redis connection on a libuv loop (hiredis 0.14 async):
 * connects from a URL, authenticates, selects the database, times commands out, bounds replies,
 * and reconnects by itself with jittered backoff. The queue protocol on top of it lives in
 * rt_queue.h. hiredis 0.14 has no RESP3, no TLS and no Cluster support, so neither has this. */
#ifndef INQUEST_RT_REDIS_H
#define INQUEST_RT_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <hiredis/hiredis.h>
#include "rt.h"

/* One connection and what it takes to keep it up. All its calls run on its loop's thread. */
typedef struct rt_redis rt_redis;

/* Called when the connection becomes usable ('up' true: connected, authenticated, database
 * selected, the on_connect hook done) and when it stops being usable or the first attempt fails
 * ('up' false, 'why' says what happened, never quoting a credential). Not called again for the
 * same state: retries that fail the same way are silent. */
typedef void (*rt_redis_state_fn)(rt_redis *r, bool up, const char *why, void *ud);

/* Called once per new connection, after AUTH and SELECT, before the state turns up; it may send
 * commands (rt_redis_command works from here on) and must call rt_redis_connected(r, ...) once
 * they are done. For work that must precede use, such as loading a function library. */
typedef void (*rt_redis_connect_fn)(rt_redis *r, void *ud);

typedef struct rt_redis_options {
    const char *url;      /* "redis://host[:port][/db]" or "unix:///path[?db=N]"; no user:pass@ */
    const char *username; /* AUTH username (Redis 6 ACL), or NULL for the default user */
    const char *password; /* AUTH password, 'password_len' bytes, or NULL for no AUTH; copied
                             and wiped on free. Pass rt_config_secret's secret. */
    size_t password_len;
    const char *name;       /* CLIENT SETNAME and the prefix of messages; NULL: "redis" */
    double command_timeout; /* seconds a command may wait for its reply; 0: 5 */
    double connect_timeout; /* seconds for TCP connect; 0: 2 */
    double backoff_min;     /* seconds before the first reconnection attempt; 0: 0.05 */
    double backoff_max;     /* cap of the doubling backoff; 0: 2 */
    size_t max_reply;       /* bytes a reply may take; 0: 64 MiB */
    size_t max_pending;     /* commands awaiting replies at once; 0: 65536 */
    rt_redis_state_fn on_state;
    rt_redis_connect_fn on_connect; /* NULL: up right after AUTH and SELECT */
    void *ud;                       /* passed to on_state and on_connect */
} rt_redis_options;

/* Creates a connection on 'loop' from 'options' (strings are copied) and starts connecting at
 * once; on_state tells when it is up. Returns NULL with the reason in 'why' (at least 256
 * bytes) when the URL is malformed. Aborts when out of memory. */
rt_redis *rt_redis_new(uv_loop_t *loop, const rt_redis_options *options, char *why);

/* Drops the connection: every command awaiting a reply gets RT_ECANCELED, on_state is not called
 * again, and the memory is freed once its handles are closed; the caller runs the loop
 * afterwards until it is idle. Accepts NULL. Not from within one of its own callbacks' callers
 * other than the loop (it may be called from a reply callback). */
void rt_redis_close(rt_redis *r);

/* Ends the on_connect hook of the current connection: 'rc' RT_OK turns the state up; another
 * code drops the connection with 'why' as the reason and tries again after the backoff. */
void rt_redis_connected(rt_redis *r, int rc, const char *why);

/* How a command ended. 'reply' is the reply (valid during the call only), or NULL when none
 * arrived. 'rc' is RT_OK for a reply that is not an error; RT_EBACKEND for an error reply ('msg'
 * is its text as Redis sent it, e.g. "EINPUT priority must be ..." from a function) and for a
 * lost connection ("redis: connection lost (...)"); RT_ETIMEDOUT when no reply came within the
 * command timeout ("redis: did not answer within 5s; connection dropped": every command awaiting
 * a reply fails with it and the connection is dropped and made again); RT_ETOOBIG when the reply
 * passed max_reply; RT_ECANCELED when the client was closed. 'msg' is "" with RT_OK. */
typedef void (*rt_redis_reply_fn)(rt_redis *r, const redisReply *reply, int rc, const char *msg,
                                  void *ud);

/* Sends the command of 'argc' arguments 'argv' ('lens' their lengths in bytes; NULL: each is
 * NUL-terminated) with the default timeout. Returns RT_OK, after which 'done' runs exactly once
 * from the loop; or, with 'done' not called: RT_EBACKEND when there is no connection ("redis:
 * not connected (...)": commands never wait for one) or when a command timed out and no
 * connection has been up since ("redis: did not answer within 5s; refused until it answers
 * again": a hung server that still accepts connections is not waited for again on each new
 * one; the on_connect hook's commands are sent all the same), RT_ELIMIT when max_pending
 * commands await replies. rt_redis_error() has the message. */
int rt_redis_command(rt_redis *r, int argc, const char *const *argv, const size_t *lens,
                     rt_redis_reply_fn done, void *ud);
/* The same with a 'timeout' of its own in seconds: for a blocking command (XREAD BLOCK), whose
 * timeout must exceed the time it blocks. */
int rt_redis_command_timeout(rt_redis *r, double timeout, int argc, const char *const *argv,
                             const size_t *lens, rt_redis_reply_fn done, void *ud);

/* True while the connection is up. */
bool rt_redis_is_up(const rt_redis *r);
/* Why the last command was refused or the connection last went down; "" when never. */
const char *rt_redis_error(const rt_redis *r);
/* The options' name ("redis" by default), for messages. */
const char *rt_redis_name(const rt_redis *r);
/* The longest wait between two attempts to reconnect, in ms: its backoff's cap. */
uint64_t rt_redis_backoff_max_ms(const rt_redis *r);
/* Connections made since rt_redis_new (1 after the first one), for tests and metrics. */
unsigned rt_redis_connections(const rt_redis *r);

#endif
