/* integrations/ig_client.h -- the client of the service's HTTP API (docs/api.md) for the command
 * line: `submit`, `status`, `wait`, `result`, `cancel`, `ls` (ig_cmd_client.c) and
 * `run --remote` (ig_cmd_run.c). Blocking calls with libcurl's easy interface; answers are parsed
 * with jansson. Every problem is printed here, once, as "inquest CMD: …", and kept as the
 * command's error for --json (ig_error.c), so that the commands only choose their exit code. */
#ifndef INQUEST_IG_CLIENT_H
#define INQUEST_IG_CLIENT_H

#include <stdio.h>
#include <jansson.h>

/* Where the server is when neither --server nor $INQUEST_URL says. */
#define IG_DEFAULT_SERVER "http://127.0.0.1:8080"

/* The longest long poll the API grants (docs/api.md: `?wait=` at most 60s); the client asks
 * for at most this much at a time. */
#define IG_WAIT_SLICE 30.0

typedef struct ig_client ig_client;

/* What the command line says about the server; NULL members fall back to the environment. */
typedef struct ig_client_options {
    const char *server;     /* --server URL (or run's --remote URL); else $INQUEST_URL */
    const char *token_file; /* --token-file FILE; else $INQUEST_TOKEN, else $INQUEST_TOKEN_FILE */
} ig_client_options;

/* Makes the client of the server that 'options' name, for the command 'cmd' (named in every
 * message). Returns IG_EXIT_OK and '*out', or IG_EXIT_USAGE after printing why (a URL that is
 * not http(s), an unreadable or malformed token file). The token is never printed. */
int ig_client_new(const char *cmd, const ig_client_options *options, ig_client **out);
/* Frees 'c' (NULL is fine). */
void ig_client_free(ig_client *c);
/* The server's base URL as it may be shown: without any user:password part. */
const char *ig_client_url(const ig_client *c);
/* The options of the command line that name the server and the token (" --server URL
 * --token-file FILE", each when given; "" when neither was), for a command that 'c' suggests to
 * run next: it must reach the same server with the same token. No password or token is in it. */
const char *ig_client_again(const ig_client *c);
/* Appends 'text' to the string '*to' (malloc'd, or NULL). */
void ig_append(char **to, const char *text);
/* Appends " 'word'" to the string '*to' (malloc'd, or NULL), quoted for a POSIX shell when it
 * holds anything but characters that need no quotes, so that a command printed can be pasted
 * as it is. */
void ig_append_word(char **to, const char *word);

/* The calls. Each returns IG_EXIT_OK with the server's JSON object in '*answer' (the caller
 * owns it), or an exit code after printing the problem, the server's message and each field
 * error: IG_EXIT_USAGE when the server found the request invalid (400, 413), IG_EXIT_FAILED when
 * it refused it (401, 403, 404, 409, …), IG_EXIT_SERVER when it could not be reached, failed or
 * answered something other than the API's JSON. */

/* POST /v1/analyses with 'request' (docs/api.md's fields); '*answer' holds a string "id". */
int ig_api_submit(ig_client *c, const json_t *request, json_t **answer);
/* GET /v1/analyses/'id', holding the answer up to 'wait' seconds (whole ones; below 1: answer at
 * once; at most IG_WAIT_SLICE) until the analysis finishes. '*answer' is not checked: with
 * --json, the commands print whatever object the server answered. */
int ig_api_get(ig_client *c, const char *id, double wait, json_t **answer);
/* Long-polls GET /v1/analyses/'id' until it finishes or 'timeout' seconds have passed;
 * '*answer' is the last answer, finished or not (ig_analysis_finished says). While time is
 * left, a server that cannot be reached or fails (5xx) is tried again, after its Retry-After
 * or a short backoff; stderr says so once, and the last problem is printed if time runs out. */
int ig_api_wait(ig_client *c, const char *id, double timeout, json_t **answer);
/* DELETE /v1/analyses/'id'; '*answer' holds the status ("cancelled", or "running" with
 * "cancelling": true). */
int ig_api_cancel(ig_client *c, const char *id, json_t **answer);
/* GET /v1/analyses?'query' ('query' already escaped, or ""); '*answer' holds an array
 * "analyses". */
int ig_api_list(ig_client *c, const char *query, json_t **answer);

/* Any call of the API: 'method' "GET" or "POST", 'path' with its query (escaped), 'request' the
 * JSON body or NULL. As the calls above. */
int ig_api_call(ig_client *c, const char *method, const char *path, const json_t *request,
                json_t **answer);
/* GET 'path', whose answer is text (JSON lines), written to 'out' as it came; 'next' (of 'size'
 * bytes; NULL: not wanted) gets the answer's Inquest-Next-After header, or "", and '*read' (NULL:
 * not wanted) its Inquest-Records-Read, the records the page read, or -1 when the server did not
 * say. Returns as the calls above. */
int ig_api_text(ig_client *c, const char *path, FILE *out, char *next, size_t size, long *read);

/* An export of JSON lines paged on Inquest-Next-After (GET /v1/audit, /v1/feedback). */
typedef struct ig_export {
    const char *path;   /* with the query every page has (limit, until) */
    const char *since;  /* where the first page starts: after 'after' or, without, since 'since' */
    const char *after;  /* (either may be NULL) */
    long limit;         /* records a page reads: a page that read fewer is the last */
    const char *resume; /* NULL, or the command that goes on from a page's end: after each page,
                           "next: SEQ (RESUME --after SEQ)" goes to stderr */
} ig_export;

/* Every page of export 'e', written to 'out' as the server sent them, until a page read fewer than
 * 'e->limit' records (Inquest-Records-Read; a server that does not say: lines). Returns as the
 * calls above. */
int ig_api_export(ig_client *c, const ig_export *e, FILE *out);

/* GET /v1/analyses/'id'/recording: the recording the service kept of the analysis, as the
 * server sent it, into '*text' (malloc'd, '*len' bytes). Returns as the
 * calls above: IG_EXIT_FAILED when there is none (404). */
int ig_api_recording(ig_client *c, const char *id, char **text, size_t *len);

/* Escapes 'text' for a URL's query or path (malloc'd; the caller frees it). */
char *ig_url_escape(const char *text);
/* Appends "name=VALUE" ('value' escaped) to the query of 'path' (a buffer of 'size' bytes);
 * 'value' NULL: nothing. */
void ig_query_add(char *path, size_t size, const char *name, const char *value);

/* The string 'key' of the server's 'answer', or NULL after saying that the answer lacks it. */
const char *ig_answer_string(ig_client *c, const json_t *answer, const char *key);

/* The result of the finished 'analysis' (an answer of GET /v1/analyses/ID; borrowed from it),
 * or NULL after printing why there is none: it is still queued or running (after the client
 * waited 'waited' seconds; 0: it did not wait), or it ended without one (`dead`). The error kept
 * for --json holds a copy of 'analysis'. */
const json_t *ig_analysis_result(ig_client *c, const json_t *analysis, double waited);

/* True when 'analysis' (an answer of GET /v1/analyses/ID) has finished: neither queued nor
 * running. */
int ig_analysis_finished(const json_t *analysis);

#endif
