/* runtime/rt_recording.h -- recordings of connector exchanges (docs/recording.md): what
 * `inquest run --record` writes and `--replay` and backtest cases serve. A recording holds the
 * analysis it came from (analyzer, inputs, id, now), the connectors it used (name, type and
 * settings that shape their answers, never credentials) and every exchange, keyed by connector,
 * method, path with query, and body. rt_http.c records and replays through this file. */
#ifndef INQUEST_RT_RECORDING_H
#define INQUEST_RT_RECORDING_H

#include <stddef.h>
#include <jansson.h>
#include "rt.h"

#define RT_RECORDING_SCHEMA "inquest.recording/v1"

typedef enum rt_recording_mode { RT_RECORDING_RECORD = 1, RT_RECORDING_REPLAY } rt_recording_mode;

typedef struct rt_recording rt_recording;

/* A new, empty recording to record into. */
rt_recording *rt_recording_new(void);
/* Loads the recording in 'path' for replay. Returns RT_OK, or RT_ENOTFOUND / RT_EIO / RT_ETOOBIG
 * / RT_ESYNTAX with the problem, file:line:column and field, in 'diag'. */
int rt_recording_load(const char *path, rt_recording **out, rt_diag *diag);
/* Writes 'r' to 'path' (atomically: a temporary file renamed). Returns RT_OK or RT_EIO with the
 * reason in 'why' (at least 256 bytes). */
int rt_recording_save(const rt_recording *r, const char *path, char *why);
void rt_recording_free(rt_recording *r);
rt_recording_mode rt_recording_get_mode(const rt_recording *r);

/* The analysis a recording belongs to: "analyzer", "inputs", "id", "now" and "connectors" (an
 * object: name -> { "type": …, and the connector's non-secret settings that change how its
 * answers are read }). Borrowed object; set members on it when recording. */
json_t *rt_recording_meta(rt_recording *r);

/* One exchange. In a lookup only the request half is read. */
typedef struct rt_exchange {
    const char *connector; /* the target's name */
    const char *method;    /* "GET", "POST" */
    const char *path;      /* path and query, relative to the connector's base URL */
    const char *body;      /* request body or NULL */
    size_t body_len;
    int error;          /* RT_OK, or the transport error the call ended with */
    const char *message; /* the error's message, or NULL */
    long status;
    const char *response;   /* response body */
    size_t response_len;
    const char *content_type; /* or NULL */
} rt_exchange;

/* Appends an exchange (strings copied). */
void rt_recording_add(rt_recording *r, const rt_exchange *e);
/* Finds the next unserved exchange with the same connector, method, path and body; exchanges
 * with the same request are served in the order they were recorded. Returns RT_OK and fills the
 * response half of 'e' (pointers into the recording, valid while it lives), or RT_EREPLAY. */
int rt_recording_match(rt_recording *r, rt_exchange *e);

#endif
