/* runtime/rt_config.h -- the configuration file (DESIGN §8, docs/config.md): one YAML file,
 * loaded into typed structures with every problem reported at once with file:line:column.
 * Parsing lives in rt_config.c; `inquest config check` in integrations/ig_cmd_config.c. */
#ifndef INQUEST_RT_CONFIG_H
#define INQUEST_RT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "rt.h"

#define RT_CONFIG_FILE_MAX    (1024 * 1024) /* bytes of a config file */
#define RT_CONFIG_SECRET_MAX  (64 * 1024)   /* bytes of a credential read from env or file */
#define RT_CONFIG_MAX_DIRS    16            /* folders on the analyzer path */
#define RT_CONFIG_MAX_ENTRIES 256           /* connectors, headers of one connector */

typedef enum rt_auth_type {
    RT_AUTH_NONE = 0, /* no auth section */
    RT_AUTH_BEARER,   /* Authorization: Bearer <secret> */
    RT_AUTH_BASIC,    /* Authorization: Basic base64(<username>:<secret>) */
    RT_AUTH_HEADER,   /* <header>: <secret> */
} rt_auth_type;

/* A credential is never in the config: only where to find it. Exactly one of 'env' and 'file'
 * is set when 'type' is not RT_AUTH_NONE. All strings owned by the config. */
typedef struct rt_auth {
    rt_auth_type type;
    char *username; /* basic */
    char *header;   /* header: the header's name */
    char *env;      /* token_env, password_env or value_env */
    char *file;     /* token_file, password_file or value_file */
} rt_auth;

typedef enum rt_connector_type {
    RT_CONNECTOR_PROMETHEUS = 0,
    RT_CONNECTOR_LOKI,
    RT_CONNECTOR_ELASTICSEARCH,
    RT_CONNECTOR_HTTP,
} rt_connector_type;

typedef struct rt_header {
    char *name, *value; /* owned */
} rt_header;

/* How an http connector's answers become events (ctx.events(name):list{…}); all strings owned,
 * NULL when not given. Fields are dotted paths into each item ("meta.created_at"). */
typedef struct rt_events {
    char *path;  /* required: path and query, with {name} filled from the call's arguments */
    char *items; /* where the list is in the response; NULL: the response is the list */
    char *time;  /* required: RFC 3339 text, or Unix seconds or milliseconds */
    char *kind, *service, *id, *text;
} rt_events;

typedef struct rt_connector {
    char *name; /* owned; matches ^[a-z][a-z0-9_]*$ */
    rt_connector_type type;
    char *url;           /* owned; http:// or https://, no user:password@ */
    double timeout;      /* seconds per call; default 10 */
    size_t max_response; /* bytes; default 16MiB */
    double rate_limit;   /* calls per second; 0: no limit (the default) */
    int concurrency;     /* calls at once; default 8 */
    bool tls_verify;     /* default true */
    rt_header *headers;  /* owned, 'n_headers' of them */
    size_t n_headers;
    rt_auth auth;
    rt_events events; /* http connectors; events.path NULL when not configured */
    int line;         /* where the connector is defined, for later messages */
} rt_connector;

/* Per-analysis budgets, defaults as in docs/sdk.md. */
typedef struct rt_limits {
    size_t memory;         /* bytes; default 64MiB */
    uint64_t instructions; /* default 1e9 */
    double timeout;        /* seconds; default 30 */
    int calls;             /* connector calls; default 500 */
    size_t call_bytes;     /* bytes of connector responses; default 256MiB */
} rt_limits;

typedef struct rt_config {
    char *path;       /* owned: the file it was loaded from */
    char **analyzers; /* owned: the analyzer path, at least one folder (default "analyzers") */
    size_t n_analyzers;
    rt_limits limits;
    char *redis_url;    /* owned; NULL when there is no redis section */
    rt_auth redis_auth; /* RT_AUTH_BASIC when redis has a password_env or password_file */
    rt_connector *connectors;
    size_t n_connectors;
} rt_config;

/* Loads the config file 'path'. Every problem goes to 'errors' and every warning (a secret's
 * env var or file that does not exist) to 'warnings', as rt_diag items with file, line, column,
 * field and message. Returns RT_OK and the config in '*out' (free with rt_config_free) when
 * there is no error; RT_EINPUT when the file has problems ('*out' NULL); RT_ENOTFOUND,
 * RT_ETOOBIG or RT_EIO when it cannot be read (one item in 'errors' says why). */
int rt_config_load(const char *path, rt_config **out, rt_diag *errors, rt_diag *warnings);
void rt_config_free(rt_config *config);

/* The connector named 'name', or NULL. */
const rt_connector *rt_config_connector(const rt_config *config, const char *name);
/* "prometheus", "loki", … */
const char *rt_connector_type_name(rt_connector_type type);
/* The type named 'name' ("loki") into '*type'. Returns 0, or -1 when no type has that name. */
int rt_connector_type_parse(const char *name, rt_connector_type *type);

/* Reads the credential of 'auth' from its env var or file (a file's one trailing newline
 * dropped) into a malloc'd NUL-terminated '*secret' of '*len' bytes, at most
 * RT_CONFIG_SECRET_MAX. The caller releases it with rt_config_secret_free. Returns RT_OK,
 * RT_ENOTFOUND (unset variable, missing file, no auth), RT_ETOOBIG or RT_EIO; 'why' (at least
 * 256 bytes) says what happened, never quoting the secret. */
int rt_config_secret(const rt_auth *auth, char **secret, size_t *len, char *why);
/* Overwrites and frees a secret from rt_config_secret; accepts NULL. */
void rt_config_secret_free(char *secret, size_t len);

#endif
