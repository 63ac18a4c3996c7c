/* integrations/ig_client.c -- the command line's client of the HTTP API (docs/api.md): one
 * blocking libcurl easy handle per client, bounded answers parsed with jansson, and the API's
 * errors turned into messages and exit codes. The commands that use it are in ig_cmd_client.c
 * and ig_cmd_run.c; the analyses' own HTTP client (libcurl multi on libuv) is runtime/rt_http.c. */
#define _POSIX_C_SOURCE 200809L /* nanosleep, strncasecmp */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include "rt.h"
#include "ig_cli.h"
#include "ig_client.h"

/* An answer over this many bytes is refused. jansson holds a parsed answer in about 20 times
 * the memory of its text, so this cap is what bounds the memory a hostile or broken server can
 * make the command use (about 1.3 GiB). No cap bounds a whole result: the SDK caps each finding
 * (docs/sdk.md, "Findings": 200,000 values and 4 MiB of strings, some 10 MiB of JSON) and a
 * result at 50 findings, and the worker and serve pass results on as they are. A result of six
 * maximal findings still fits; a larger one is refused with a message naming this cap rather
 * than letting the command take gigabytes. */
#define MAX_ANSWER_BYTES ((size_t)64 << 20)
#define MAX_TOKEN_BYTES  (64 * 1024)
#define CONNECT_TIMEOUT  10.0 /* seconds to open a connection (TLS included) */
#define CALL_TIMEOUT     60.0 /* seconds for a whole call that does not long-poll */
/* A long poll's call may take the wait it asked for plus this, for the server's own work. */
#define WAIT_MARGIN 30.0
/* A server that answers a long poll at once (one that does not hold it, or a proxy that cuts
 * it) is asked again only after this many seconds, so that waiting is never a busy loop. */
#define MIN_POLL_INTERVAL 1.0
/* After a failed long poll (no answer, or a 5xx without Retry-After), a wait tries again after
 * this many seconds, doubled each time; no pause is longer than RETRY_MAX_PAUSE, whatever the
 * server's Retry-After asks, so that a wait notices soon that the server is back. */
#define RETRY_FIRST_PAUSE 0.5
#define RETRY_MAX_PAUSE   10.0

struct ig_client {
    const char *cmd;    /* "submit", … (static) */
    char *base;         /* the base URL, without trailing '/' (owned) */
    char *shown;        /* 'base' without user:password, for messages (owned) */
    char *auth;         /* "Authorization: Bearer …", or NULL (owned; never printed) */
    const char *source; /* where the token came from, for messages: never the token itself */
    char *again;        /* the options a command it suggests repeats (owned; "" for none) */
    CURL *curl;
    FILE *err; /* where a call's problems are printed: stderr, or while ig_api_wait may try the
                  call again, a buffer that is printed only if it gives up */
    /* How the last call ended, for ig_api_wait to judge whether another try may do better: */
    int transient;      /* no answer came (cannot connect, cut off, timed out), or a 5xx */
    long status;        /* its HTTP status; 0 when no answer came */
    double retry_after; /* its Retry-After in seconds; 0 when it had none (or a date) */
};

/* Prints a problem of the command on 'err' (stderr, or the buffer of a wait's try) and keeps it
 * as the command's error (ig_error.c), under 'code' (IG_ERROR_*). Returns the error kept. */
static json_t *say(const ig_client *c, FILE *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static json_t *say(const ig_client *c, FILE *err, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    json_t *error = ig_error_vsay(err, c->cmd, code, fmt, ap);
    va_end(ap);
    return error;
}

/* ---- Making a client ----------------------------------------------------------------------- */

/* 'url' as messages may show it: without any user:password@. Everything from the scheme's
 * "://" to the last '@' is dropped, not just up to the first '/', '?' or '#': a password may hold
 * any of those ("http://user:se/cret@host"), and so may the URL libcurl is handed, which then
 * fails to parse. A base URL's path or query has no business holding an '@', so when one does,
 * the message shows less than it could, never a secret. */
static char *shown_url(const char *url) {
    const char *scheme_end = strstr(url, "://");
    const char *authority = scheme_end ? scheme_end + 3 : url;
    const char *at = strrchr(authority, '@');
    if (!at)
        return rt_xstrdup(url);
    size_t head = (size_t)(authority - url), n = head + strlen(at + 1) + 1;
    char *out = rt_xmalloc(n);
    snprintf(out, n, "%.*s%s", (int)head, url, at + 1);
    return out;
}

static int set_server(ig_client *c, const char *server) {
    if (!server || !*server)
        server = getenv("INQUEST_URL");
    if (!server || !*server)
        server = IG_DEFAULT_SERVER;
    if (strncasecmp(server, "http://", 7) != 0 && strncasecmp(server, "https://", 8) != 0) {
        char *shown = shown_url(server); /* a mistyped scheme may still carry a password */
        int code = ig_usage_error(
            c->cmd, "the server must be an http:// or https:// URL (got \"%s\")", shown);
        free(shown);
        return code;
    }
    size_t len = strlen(server);
    while (len > 0 && server[len - 1] == '/')
        len--; /* the API's paths start with '/' */
    c->base = rt_xstrndup(server, len);
    c->shown = shown_url(c->base);
    return IG_EXIT_OK;
}

/* A bearer token must fit on one header line: control characters (a second line, say) would
 * let the file add headers of its own. */
static int token_printable(const char *token, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f)
            return 0;
    return len > 0;
}

static void set_auth(ig_client *c, const char *token, size_t len) {
    const char prefix[] = "Authorization: Bearer ";
    c->auth = rt_xmalloc(sizeof prefix + len);
    memcpy(c->auth, prefix, sizeof prefix - 1);
    memcpy(c->auth + sizeof prefix - 1, token, len);
    c->auth[sizeof prefix - 1 + len] = '\0';
}

/* A token file that others may read is used all the same, as refusing it would break setups
 * that work, but said once (a client reads its token once), as ssh says of a private key. */
static void warn_if_exposed(const ig_client *c, const char *path) {
    char why[1024];
    if (rt_secret_file_exposed(path, why, sizeof why))
        fprintf(stderr, "inquest %s: warning: the token file %s\n", c->cmd, why);
}

static int read_token_file(ig_client *c, const char *path) {
    char why[256], *data = NULL;
    size_t len = 0;
    if (rt_file_read(path, MAX_TOKEN_BYTES, &data, &len, why) != RT_OK)
        return ig_usage_error(c->cmd, "cannot read the token: %s", why);
    if (len > 0 && data[len - 1] == '\n') /* as editors and `echo` leave it */
        len--;
    if (len > 0 && data[len - 1] == '\r')
        len--;
    int ok = token_printable(data, len);
    if (ok)
        set_auth(c, data, len);
    memset(data, 0, len); /* the secret does not linger on the heap */
    free(data);
    if (!ok)
        return ig_usage_error(c->cmd,
                              "the token file %s is empty or holds more than one line "
                              "(or a control character)",
                              path);
    warn_if_exposed(c, path);
    return IG_EXIT_OK;
}

/* The token: --token-file, else $INQUEST_TOKEN, else $INQUEST_TOKEN_FILE; none is fine (a
 * server without a `tokens` section asks for none). */
static int set_token(ig_client *c, const char *token_file) {
    const char *env = getenv("INQUEST_TOKEN");
    if (token_file && *token_file) {
        c->source = "the token of --token-file";
        return read_token_file(c, token_file);
    }
    if (env && *env) {
        if (!token_printable(env, strlen(env)))
            return ig_usage_error(c->cmd, "$INQUEST_TOKEN holds a line break or control character");
        c->source = "the token of $INQUEST_TOKEN";
        set_auth(c, env, strlen(env));
        return IG_EXIT_OK;
    }
    if ((token_file = getenv("INQUEST_TOKEN_FILE")) && *token_file) {
        c->source = "the token of $INQUEST_TOKEN_FILE";
        return read_token_file(c, token_file);
    }
    return IG_EXIT_OK;
}

void ig_append(char **to, const char *text) {
    size_t old = *to ? strlen(*to) : 0, n = strlen(text) + 1;
    *to = rt_xrealloc(*to, old + n);
    memcpy(*to + old, text, n);
}

void ig_append_word(char **to, const char *word) {
    char *quoted = rt_shell_word(word);
    ig_append(to, " ");
    ig_append(to, quoted);
    free(quoted);
}

/* The options given on the command line that a suggested command must repeat to reach the same
 * server with the same token: the server as it may be shown (never a password), and the token
 * file's name (never the token). */
static void set_again(ig_client *c, const ig_client_options *options) {
    c->again = rt_xstrdup("");
    if (options->server && *options->server) {
        ig_append_word(&c->again, "--server");
        ig_append_word(&c->again, c->shown);
    }
    if (options->token_file && *options->token_file) {
        ig_append_word(&c->again, "--token-file");
        ig_append_word(&c->again, options->token_file);
    }
}

int ig_client_new(const char *cmd, const ig_client_options *options, ig_client **out) {
    static int curl_ready;
    ig_client *c = rt_xcalloc(1, sizeof *c);
    c->cmd = cmd;
    c->err = stderr;
    int code = set_server(c, options->server);
    if (code == IG_EXIT_OK)
        code = set_token(c, options->token_file);
    if (code == IG_EXIT_OK)
        set_again(c, options);
    if (code == IG_EXIT_OK && !curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            say(c, stderr, IG_ERROR_INTERNAL, "cannot initialise libcurl");
            code = IG_EXIT_SERVER;
        }
        curl_ready = code == IG_EXIT_OK;
    }
    if (code == IG_EXIT_OK && !(c->curl = curl_easy_init())) {
        say(c, stderr, IG_ERROR_INTERNAL, "cannot initialise libcurl");
        code = IG_EXIT_SERVER;
    }
    if (code != IG_EXIT_OK) {
        ig_client_free(c);
        c = NULL;
    }
    *out = c;
    return code;
}

void ig_client_free(ig_client *c) {
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    if (c->auth)
        memset(c->auth, 0, strlen(c->auth));
    free(c->auth);
    free(c->base);
    free(c->shown);
    free(c->again);
    free(c);
}

const char *ig_client_url(const ig_client *c) {
    return c->shown;
}

const char *ig_client_again(const ig_client *c) {
    return c->again ? c->again : "";
}

char *ig_url_escape(const char *text) {
    char *escaped = curl_easy_escape(NULL, text, 0);
    if (!escaped) {
        fprintf(stderr, "inquest: out of memory\n");
        abort();
    }
    char *copy = rt_xstrdup(escaped); /* so that the caller frees it with free() */
    curl_free(escaped);
    return copy;
}

void ig_query_add(char *path, size_t size, const char *name, const char *value) {
    if (!value)
        return;
    char *e = ig_url_escape(value);
    size_t n = strlen(path);
    snprintf(path + n, size - n, "%s%s=%s", strchr(path, '?') ? "&" : "?", name, e);
    free(e);
}

/* ---- One call ------------------------------------------------------------------------------ */

/* The answer's body: a buffer with a cap, as everything from the network (STYLE.md). */
typedef struct answer_buf {
    char *data;
    size_t len, cap;
    int too_big;
} answer_buf;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
    answer_buf *b = userdata;
    size_t n = size * nmemb;
    if (n > MAX_ANSWER_BYTES - b->len) {
        b->too_big = 1;
        return 0; /* curl ends the call with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t want = b->cap ? b->cap : 16384;
        while (want < b->len + n + 1)
            want *= 2;
        char *grown = realloc(b->data, want); /* the size comes from the server: try */
        if (!grown) {
            b->too_big = 1;
            return 0;
        }
        b->data = grown;
        b->cap = want;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* A call's request and what came back. */
typedef struct call {
    const char *method; /* "GET", "POST", "DELETE" */
    char *path;         /* after the base URL, query included (owned) */
    char *body;         /* JSON to send, or NULL (owned) */
    double timeout;     /* seconds for the whole call */
    long status;        /* the HTTP status, once answered */
    answer_buf answer;
    char retry_after[32];  /* the Retry-After header, or "" */
    char next_after[48];   /* the Inquest-Next-After header (GET /v1/audit), or "" */
    char records_read[24]; /* the Inquest-Records-Read header (the same answers), or "" */
    int failed;            /* no whole answer came */
    int too_big;           /* the answer passed MAX_ANSWER_BYTES */
} call;

/* Copies the value of header 'name' (lower case, with its colon) from 'line' of 'n' bytes. */
static void header_value(const char *line, size_t n, const char *name, char *out, size_t size) {
    size_t len = strlen(name);
    if (n <= len || strncasecmp(line, name, len) != 0)
        return;
    const char *v = line + len, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    size_t vlen = 0;
    while (v + vlen < end && v[vlen] != '\r' && v[vlen] != '\n')
        vlen++;
    snprintf(out, size, "%.*s", (int)vlen, v);
}

static size_t on_header(char *line, size_t size, size_t nitems, void *userdata) {
    call *k = userdata;
    size_t n = size * nitems;
    header_value(line, n, "retry-after:", k->retry_after, sizeof k->retry_after);
    header_value(line, n, "inquest-next-after:", k->next_after, sizeof k->next_after);
    header_value(line, n, "inquest-records-read:", k->records_read, sizeof k->records_read);
    return n;
}

static struct curl_slist *request_headers(const ig_client *c, const call *k) {
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    if (h && k->body)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (h && c->auth)
        h = curl_slist_append(h, c->auth);
    if (!h) {
        fprintf(stderr, "inquest: out of memory\n");
        abort();
    }
    return h;
}

static void set_options(ig_client *c, call *k, const char *url, struct curl_slist *headers,
                        char *error) {
    CURL *e = c->curl;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(CONNECT_TIMEOUT * 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(k->timeout * 1000));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_ANSWER_BYTES);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "inquest/" INQUEST_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &k->answer);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, k);
    if (strcmp(k->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, k->body ? k->body : "");
    } else if (strcmp(k->method, "DELETE") == 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
}

/* Sends 'k' and reads the answer into it. Returns IG_EXIT_OK once any HTTP answer has come,
 * else IG_EXIT_SERVER after saying why. */
static int perform(ig_client *c, call *k) {
    size_t n = strlen(c->base) + strlen(k->path) + 1;
    char error[CURL_ERROR_SIZE] = "", *url = rt_xmalloc(n);
    snprintf(url, n, "%s%s", c->base, k->path);
    struct curl_slist *headers = request_headers(c, k);
    set_options(c, k, url, headers, error);
    CURLcode rc = curl_easy_perform(c->curl);
    curl_slist_free_all(headers);
    free(url);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &k->status);
    if (rc == CURLE_OK)
        return IG_EXIT_OK;
    k->too_big = k->answer.too_big || rc == CURLE_FILESIZE_EXCEEDED;
    if (k->too_big)
        say(c, c->err, IG_ERROR_TOO_LARGE, "the answer of %s%s is larger than %zu MiB", c->shown,
            k->path, MAX_ANSWER_BYTES >> 20);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        say(c, c->err, IG_ERROR_SERVER_TIMEOUT, "the server at %s did not answer within %gs (%s)",
            c->shown, k->timeout, *error ? error : curl_easy_strerror(rc));
    else
        say(c, c->err, IG_ERROR_UNREACHABLE, "cannot reach the server at %s: %s", c->shown,
            *error ? error : curl_easy_strerror(rc));
    k->failed = 1;
    return IG_EXIT_SERVER;
}

/* ---- Answers ------------------------------------------------------------------------------- */

/* The exit code of an HTTP error status: the request was invalid (2), refused (1), or the server
 * failed (3). */
static int status_exit(long status) {
    if (status == 400 || status == 413 || status == 431)
        return IG_EXIT_USAGE;
    if (status >= 400 && status < 500)
        return IG_EXIT_FAILED;
    return IG_EXIT_SERVER;
}

static void print_fields(FILE *err, const json_t *fields) {
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        const char *field = json_string_value(json_object_get(f, "field"));
        const char *message = json_string_value(json_object_get(f, "message"));
        fprintf(err, "  %s%s%s\n", field ? field : "", field ? ": " : "",
                message ? message : "(no message)");
    }
}

/* What to do about an error, when there is something to do. */
static void print_hint(const ig_client *c, long status, const call *k) {
    if (status == 401 && c->auth)
        fprintf(c->err, "  (%s was refused)\n", c->source);
    else if (status == 401)
        fprintf(c->err, "  (no token was sent: set $INQUEST_TOKEN, $INQUEST_TOKEN_FILE or "
                        "--token-file)\n");
    if (status >= 500 && *k->retry_after)
        fprintf(c->err, "  (retry after %ss)\n", k->retry_after);
}

/* The server's 'error' (the API's: code, message, fields) as the command's error, as it came,
 * with what only the HTTP answer says: its status, and after how many seconds to retry. */
static void keep_server_error(const call *k, const json_t *error) {
    char *end, code[32];
    json_t *kept = json_deep_copy(error);
    double retry_after = strtod(k->retry_after, &end);
    if (!json_is_string(json_object_get(kept, "code"))) { /* the API always gives one */
        snprintf(code, sizeof code, "http_%ld", k->status);
        json_object_set_new(kept, "code", json_string(code));
    }
    json_object_set_new(kept, "http_status", json_integer(k->status));
    if (end != k->retry_after && !*end && retry_after > 0) /* delta-seconds, not a date */
        json_object_set_new(kept, "retry_after", rt_json_number(retry_after));
    ig_error_keep(kept);
}

/* An error answer: the API's { "error": { code, message, fields } } when it is one. One that
 * is not (a proxy's page, or --server names something else) is exit 3 whatever its status: the
 * server did not answer as the API does, and a 404 of another server says nothing of the
 * analysis asked for. */
static int print_error(ig_client *c, const call *k, const json_t *body) {
    const json_t *error = json_object_get(body, "error");
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *message = json_string_value(json_object_get(error, "message"));
    const char *what = k->status >= 500 ? "the server failed: " : "";
    if (!message) {
        json_t *kept = say(c, c->err, IG_ERROR_NOT_API,
                           "%s%s%s answered HTTP %ld without the API's error: is %s the "
                           "Inquest server?",
                           what, c->shown, k->path, k->status, c->shown);
        json_object_set_new(kept, "http_status", json_integer(k->status));
        return IG_EXIT_SERVER;
    }
    fprintf(c->err, "inquest %s: %s%s (HTTP %ld%s%s)\n", c->cmd, what, message, k->status,
            code ? " " : "", code ? code : "");
    print_fields(c->err, json_object_get(error, "fields"));
    print_hint(c, k->status, k);
    keep_server_error(k, error);
    return status_exit(k->status);
}

/* Parses the answer of 'k' into '*out'; errors, non-JSON and non-objects are printed. A string
 * may hold NUL: the engine writes one in a Lua string as \u0000, and the server passes results
 * on as they are (the reports print it as '?', ig_report.c). */
static int read_answer(ig_client *c, call *k, json_t **out) {
    json_error_t error;
    const answer_buf *b = &k->answer;
    json_t *body = b->len ? json_loadb(b->data, b->len, JSON_ALLOW_NUL, &error) : NULL;
    int code = IG_EXIT_OK;
    if (k->status >= 400) {
        code = print_error(c, k, body);
    } else if (k->status < 200 || k->status > 299) {
        json_t *kept = say(c, c->err, IG_ERROR_NOT_API,
                           "%s%s answered HTTP %ld, which the API never does: is %s the "
                           "Inquest server?",
                           c->shown, k->path, k->status, c->shown);
        json_object_set_new(kept, "http_status", json_integer(k->status));
        code = IG_EXIT_SERVER;
    } else if (!body) {
        say(c, c->err, IG_ERROR_NOT_API, "the answer of %s%s is not JSON: %s (byte %d of %zu)",
            c->shown, k->path, b->len ? error.text : "empty body", b->len ? error.position : 0,
            b->len);
        code = IG_EXIT_SERVER;
    } else if (!json_is_object(body)) {
        say(c, c->err, IG_ERROR_NOT_API, "the answer of %s%s is not a JSON object", c->shown,
            k->path);
        code = IG_EXIT_SERVER;
    }
    if (code == IG_EXIT_OK)
        *out = body;
    else
        json_decref(body);
    return code;
}

/* Keeps in 'c' how call 'k' ended: whether a later try might fare better (no answer, or the
 * server failed), and after how long the server asked to be tried again. */
static void note_outcome(ig_client *c, const call *k) {
    char *end;
    c->status = k->failed ? 0 : k->status;
    c->transient = !k->too_big && (k->failed || (k->status >= 500 && k->status <= 599));
    c->retry_after = strtod(k->retry_after, &end); /* delta-seconds; an HTTP date reads as 0 */
    if (end == k->retry_after || *end || !(c->retry_after > 0))
        c->retry_after = 0;
}

/* One whole call: sends 'method' 'path' (owned: freed here) with 'request' (or NULL) and reads
 * the answer into '*answer'. */
static int api_call(ig_client *c, const char *method, char *path, const json_t *request,
                    double timeout, json_t **answer) {
    call k = {.method = method, .path = path, .timeout = timeout};
    *answer = NULL;
    if (request && !(k.body = rt_json_canonical(request))) {
        fprintf(stderr, "inquest: out of memory\n");
        abort();
    }
    int code = perform(c, &k);
    if (code == IG_EXIT_OK)
        code = read_answer(c, &k, answer);
    note_outcome(c, &k);
    free(k.answer.data);
    free(k.body);
    free(k.path);
    return code;
}

/* "/v1/analyses/ID" and the 'suffix', the id escaped (it comes from the user). */
static char *analysis_path(const char *id, const char *suffix) {
    char *escaped = ig_url_escape(id);
    size_t n = strlen("/v1/analyses/") + strlen(escaped) + strlen(suffix) + 1;
    char *path = rt_xmalloc(n);
    snprintf(path, n, "/v1/analyses/%s%s", escaped, suffix);
    free(escaped);
    return path;
}

/* ---- The API ------------------------------------------------------------------------------- */

int ig_api_submit(ig_client *c, const json_t *request, json_t **answer) {
    return api_call(c, "POST", rt_xstrdup("/v1/analyses"), request, CALL_TIMEOUT, answer);
}

int ig_api_get(ig_client *c, const char *id, double wait, json_t **answer) {
    char suffix[32] = "";
    wait = wait > IG_WAIT_SLICE ? IG_WAIT_SLICE : wait;
    /* whole seconds, rounded down: a caller's deadline is never overshot by the server's hold */
    int seconds = wait >= 1 ? (int)floor(wait) : 0;
    if (seconds > 0)
        snprintf(suffix, sizeof suffix, "?wait=%ds", seconds);
    return api_call(c, "GET", analysis_path(id, suffix), NULL,
                    seconds > 0 ? seconds + WAIT_MARGIN : CALL_TIMEOUT, answer);
}

int ig_api_cancel(ig_client *c, const char *id, json_t **answer) {
    return api_call(c, "DELETE", analysis_path(id, ""), NULL, CALL_TIMEOUT, answer);
}

int ig_api_list(ig_client *c, const char *query, json_t **answer) {
    size_t n = strlen("/v1/analyses?") + strlen(query) + 1;
    char *path = rt_xmalloc(n);
    snprintf(path, n, "/v1/analyses%s%s", *query ? "?" : "", query);
    return api_call(c, "GET", path, NULL, CALL_TIMEOUT, answer);
}

const char *ig_answer_string(ig_client *c, const json_t *answer, const char *key) {
    const char *value = json_string_value(json_object_get(answer, key));
    if (!value)
        say(c, stderr, IG_ERROR_NOT_API, "the server at %s answered without a string \"%s\"",
            c->shown, key);
    return value;
}

const json_t *ig_analysis_result(ig_client *c, const json_t *analysis, double waited) {
    const char *id = json_string_value(json_object_get(analysis, "id"));
    const char *status = json_string_value(json_object_get(analysis, "status"));
    const json_t *result = json_object_get(analysis, "result");
    char took[32];
    json_t *kept;
    id = id ? id : "the analysis";
    status = status ? status : "unknown";
    if (!ig_analysis_finished(analysis)) {
        rt_duration_format(waited, took);
        kept = say(c, stderr, IG_ERROR_NOT_FINISHED,
                   "%s is still %s%s%s; `inquest wait %s%s` waits for it", id, status,
                   waited > 0 ? " after " : "", waited > 0 ? took : "", id, ig_client_again(c));
    } else if (json_is_object(result)) {
        return result;
    } else {
        const json_t *error = json_object_get(analysis, "error");
        const char *why = json_is_string(error)
                              ? json_string_value(error)
                              : json_string_value(json_object_get(error, "message"));
        kept = say(c, stderr, IG_ERROR_NO_RESULT, "%s ended as %s without a result%s%s", id, status,
                   why ? ": " : "", why ? why : "");
    }
    /* the server's answer too, as --json printed it before it printed errors as JSON */
    json_object_set_new(kept, "analysis", json_deep_copy(analysis));
    return NULL;
}

int ig_analysis_finished(const json_t *analysis) {
    const char *status = json_string_value(json_object_get(analysis, "status"));
    return status && strcmp(status, "queued") != 0 && strcmp(status, "running") != 0;
}

static void sleep_seconds(double seconds) {
    if (!(seconds > 0))
        return;
    struct timespec t = {.tv_sec = (time_t)seconds,
                         .tv_nsec = (long)((seconds - floor(seconds)) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* One long poll of ig_api_wait, whose problems go into '*held' (malloc'd; what it held is
 * freed) instead of stderr: they are printed only if the wait gives up on them. */
static int get_holding_problems(ig_client *c, const char *id, double wait, json_t **answer,
                                char **held) {
    char *text = NULL;
    size_t len = 0;
    FILE *buffer = open_memstream(&text, &len);
    if (!buffer) {
        fprintf(stderr, "inquest: out of memory\n");
        abort();
    }
    c->err = buffer;
    int code = ig_api_get(c, id, wait, answer);
    c->err = stderr;
    fclose(buffer);
    free(*held);
    *held = text;
    return code;
}

/* Says, once per wait, that it goes on although the last try failed, and how long it may. */
static void say_retrying(const ig_client *c, double left) {
    char until[32];
    rt_duration_format(ceil(left), until);
    if (c->status)
        fprintf(stderr,
                "inquest %s: the server at %s answered HTTP %ld; trying again for up to %s\n",
                c->cmd, c->shown, c->status, until);
    else
        fprintf(stderr, "inquest %s: cannot reach the server at %s; trying again for up to %s\n",
                c->cmd, c->shown, until);
}

/* The pause before the next try after a failed one: what the server's Retry-After asks (Redis is
 * down: serve says 1s), else 'backoff', which doubles for the next time; at most
 * RETRY_MAX_PAUSE, and never past the deadline. */
static double retry_pause(const ig_client *c, double *backoff, double left) {
    double pause = c->retry_after > 0 ? c->retry_after : *backoff;
    *backoff = fmin(*backoff * 2, RETRY_MAX_PAUSE);
    return fmin(fmin(pause, RETRY_MAX_PAUSE), left);
}

/* The server may fail or be out of reach for a moment (a restart, Redis down): a wait that has
 * time left tries again rather than give up, and reports the last problem only when the time
 * is up. A refusal (4xx) or an answer that is not the API's ends it at once. */
int ig_api_wait(ig_client *c, const char *id, double timeout, json_t **answer) {
    double deadline = rt_monotonic() + timeout, backoff = RETRY_FIRST_PAUSE;
    char *held = NULL; /* the problems of the last try */
    int retrying = 0, code;
    for (;;) {
        double started = rt_monotonic(), left = deadline - started;
        code = get_holding_problems(c, id, left > 0 ? left : 0, answer, &held);
        double now = rt_monotonic();
        if (code != IG_EXIT_OK) {
            if (!c->transient || now >= deadline)
                break;
            if (!retrying++)
                say_retrying(c, deadline - now);
            sleep_seconds(retry_pause(c, &backoff, deadline - now));
            continue;
        }
        backoff = RETRY_FIRST_PAUSE;
        if (!json_is_string(json_object_get(*answer, "status"))) {
            say(c, stderr, IG_ERROR_NOT_API, "the answer of %s/v1/analyses/%s has no \"status\"",
                c->shown, id);
            json_decref(*answer);
            *answer = NULL;
            code = IG_EXIT_SERVER;
            break;
        }
        if (ig_analysis_finished(*answer) || now >= deadline)
            break;
        json_decref(*answer);
        *answer = NULL;
        double pause = started + MIN_POLL_INTERVAL - now;
        sleep_seconds(pause < deadline - now ? pause : deadline - now);
    }
    if (code != IG_EXIT_OK && held)
        fputs(held, stderr);
    free(held);
    return code;
}

int ig_api_call(ig_client *c, const char *method, const char *path, const json_t *request,
                json_t **answer) {
    return api_call(c, method, rt_xstrdup(path), request, CALL_TIMEOUT, answer);
}

int ig_api_recording(ig_client *c, const char *id, char **text, size_t *len) {
    call k = {.method = "GET", .path = analysis_path(id, "/recording"), .timeout = CALL_TIMEOUT};
    int code = perform(c, &k);
    *text = NULL;
    *len = 0;
    if (code == IG_EXIT_OK && k.status >= 200 && k.status < 300) {
        /* As it came: a recording's bodies may hold NUL, which a parse here would refuse. */
        *text = k.answer.data ? k.answer.data : rt_xstrdup("");
        *len = k.answer.len;
        k.answer.data = NULL;
    } else if (code == IG_EXIT_OK) {
        json_t *body = k.answer.len ? json_loadb(k.answer.data, k.answer.len, 0, NULL) : NULL;
        code = print_error(c, &k, body);
        json_decref(body);
    }
    free(k.answer.data);
    free(k.path);
    return code;
}

int ig_api_text(ig_client *c, const char *path, FILE *out, char *next, size_t size, long *read) {
    call k = {.method = "GET", .path = rt_xstrdup(path), .timeout = CALL_TIMEOUT};
    int code = perform(c, &k);
    if (next && size)
        snprintf(next, size, "%s", k.next_after);
    if (read) {
        char *end = NULL;
        *read = *k.records_read ? strtol(k.records_read, &end, 10) : -1;
        if (*read < 0 || !end || *end) /* absent (an older server) or not a count */
            *read = -1;
    }
    if (code == IG_EXIT_OK && k.status >= 200 && k.status < 300)
        fwrite(k.answer.data ? k.answer.data : "", 1, k.answer.len, out);
    else if (code == IG_EXIT_OK) { /* an error is the API's JSON */
        json_t *body = k.answer.len ? json_loadb(k.answer.data, k.answer.len, 0, NULL) : NULL;
        code = print_error(c, &k, body);
        json_decref(body);
    }
    free(k.answer.data);
    free(k.path);
    return code;
}

/* One page of an export, written to 'out'; '*read' is how many records the server read for it,
 * or the lines of the page when it does not say (a scoped token is shown fewer). */
static int export_page(ig_client *c, const char *path, FILE *out, long *read, char *next,
                       size_t size) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return IG_EXIT_FAILED;
    int code = ig_api_text(c, path, mem, next, size, read);
    fclose(mem);
    if (*read < 0) {
        *read = 0;
        for (size_t i = 0; i < len; i++)
            *read += buf[i] == '\n' || (i + 1 == len);
    }
    fwrite(buf, 1, len, out);
    if (len && buf[len - 1] != '\n')
        fputc('\n', out);
    free(buf);
    return code;
}

int ig_api_export(ig_client *c, const ig_export *e, FILE *out) {
    char after[64] = "", next[64] = "";
    snprintf(after, sizeof after, "%s", e->after ? e->after : "");
    for (;;) {
        char path[1024];
        long read = 0;
        snprintf(path, sizeof path, "%s", e->path);
        if (*after)
            ig_query_add(path, sizeof path, "after", after);
        else
            ig_query_add(path, sizeof path, "since", e->since);
        int code = export_page(c, path, out, &read, next, sizeof next);
        if (code != IG_EXIT_OK)
            return code;
        if (e->resume && *next)
            fprintf(stderr, "next: %s (%s --after %s)\n", next, e->resume, next);
        if (read < e->limit || !*next || strcmp(next, after) == 0)
            return IG_EXIT_OK;
        snprintf(after, sizeof after, "%s", next);
    }
}
