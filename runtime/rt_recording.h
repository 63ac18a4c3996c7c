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
 * (over 256 MiB) / RT_ESYNTAX (not JSON, or not a valid recording) / RT_ENOMEM with every problem,
 * file:line:column (syntax errors) or field path (exchanges[3].response.status), in 'diag'. */
int rt_recording_load(const char *path, rt_recording **out, rt_diag *diag);
/* Writes 'r' to 'path' (atomically: a temporary file renamed; mode 0644). Returns RT_OK, RT_EIO, or
 * RT_EINPUT when the meta data breaks the format's rules (the file is then left as it was), with
 * the reason in 'why' (at least 256 bytes). */
int rt_recording_save(const rt_recording *r, const char *path, char *why);
/* 'r' as the compact JSON text of the file format (keys sorted, no indentation), checked as
 * rt_recording_save checks it: for recordings kept elsewhere than in a file (the service keeps
 * them in Redis). Returns RT_OK with a malloc'd, NUL-terminated '*text' of '*len' bytes; RT_EINPUT
 * when the meta data breaks the format's rules, or RT_ENOMEM, with the reason in 'why' (256
 * bytes). */
int rt_recording_dumps(const rt_recording *r, char **text, size_t *len, char *why);
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
    int error;           /* RT_OK, or the transport error the call ended with */
    const char *message; /* the error's message, or NULL */
    long status;
    const char *response; /* response body (NUL-terminated when it comes from a match) */
    size_t response_len;
    size_t bytes;             /* the body's size as received; 0: 'response_len'. A JSON body is
                                 kept reformatted, so a replay reports the size received live */
    const char *content_type; /* or NULL */
} rt_exchange;

/* Appends an exchange (strings and bodies copied; 'body' NULL is an empty body). With 'error' set,
 * only the request half, 'error' and 'message' are kept. Aborts when out of memory. */
void rt_recording_add(rt_recording *r, const rt_exchange *e);
/* Finds the next unserved exchange with the same connector, method, path and body; exchanges
 * with the same request are served in the order they were recorded. Returns RT_OK and fills the
 * response half of 'e' (pointers into the recording, valid while it lives; a recorded transport
 * error comes back as RT_OK with 'e->error' set), or RT_EREPLAY when no unserved exchange has this
 * request. A match is a hash lookup: its cost does not grow with the recording. */
int rt_recording_match(rt_recording *r, rt_exchange *e);

/* Makes every exchange of 'r' unserved again, as it was after loading, so that one recording
 * replays several runs (a backtest runs a case against two versions of an analyzer, and parses
 * its recording once). */
void rt_recording_rewind(rt_recording *r);

/* The error code named 'name' as rt_errname writes it ("ETIMEDOUT" -> RT_ETIMEDOUT), or RT_OK when
 * 'name' names no error. Recordings store transport errors by name, so that renumbering the
 * table in rt.h does not change what an old recording means. */
int rt_errcode_from_name(const char *name);

#endif
