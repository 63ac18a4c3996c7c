/* tests/support/test_redis.h -- a redis-server for the C tests that need a real one: started in a
 * fresh folder by tests/support/redis (REDIS_SUPPORT, the script's path), driven through it
 * (restart, --kill), and stopped with its folder removed. */
#ifndef TEST_REDIS_H
#define TEST_REDIS_H

typedef struct test_redis {
    char dir[256]; /* the server's folder: its data, log, pid and env */
    char url[128]; /* redis://127.0.0.1:PORT */
} test_redis;

/* Starts a server in a new folder /tmp/inquest-test-NAME-XXXXXX. Returns 0, or -1. */
int test_redis_start(test_redis *r, const char *name);

/* Runs `tests/support/redis VERB DIR EXTRA` (EXTRA may be NULL); returns its exit status. */
int test_redis_run(const test_redis *r, const char *verb, const char *extra);

/* The server's pid, or 0. */
int test_redis_pid(const test_redis *r);

/* Stops the server and removes its folder. Returns 0, or -1. */
int test_redis_stop(test_redis *r);

#endif
