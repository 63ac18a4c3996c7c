/* tests/support/test_redis.c -- see test_redis.h. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "test_redis.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int test_redis_run(const test_redis *r, const char *verb, const char *extra) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s '%s' %s", REDIS_SUPPORT, verb, r->dir, extra ? extra : "");
    return system(cmd);
}

/* The value of 'key' in the folder's env file (KEY=VALUE lines), into 'out'. */
static void read_env(const test_redis *r, const char *key, char *out, size_t size) {
    char path[300], line[256];
    size_t n = strlen(key);
    snprintf(path, sizeof path, "%s/env", r->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == '=')
            snprintf(out, size, "%.*s", (int)strcspn(line + n + 1, "\n"), line + n + 1);
    fclose(f);
}

int test_redis_start(test_redis *r, const char *name) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/inquest-test-%s-XXXXXX", name);
    if (!mkdtemp(r->dir) || test_redis_run(r, "start", NULL) != 0)
        return -1;
    read_env(r, "REDIS_URL", r->url, sizeof r->url);
    return r->url[0] ? 0 : -1;
}

int test_redis_pid(const test_redis *r) {
    char path[300];
    int pid = 0;
    snprintf(path, sizeof path, "%s/pid", r->dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

int test_redis_stop(test_redis *r) {
    char cmd[400];
    int rc = test_redis_run(r, "stop", NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    if (system(cmd) != 0)
        rc = -1;
    return rc == 0 ? 0 : -1;
}
