/* runtime/rt_recording.c -- recordings of connector exchanges: the file format of
 * docs/recording.md (JSON through jansson), its strict loader, and the index that serves
 * recorded exchanges in order. rt_http.c records into a recording and replays from it.
 *
 * Design notes. A recording is an array of entries, each one malloc'd block holding all its
 * strings (request half first, response half after), NUL-terminated so that bodies can be handed
 * out as C strings. Entries with the same request (connector, method, path, body bytes) form a
 * group, chained through `next` in recorded order; an open-addressing table (linear probing, at
 * most half full) maps a request's 64-bit hash to its group, and the group's `cursor` is the next
 * entry to serve. So a match is one hash of the request, a probe or two and one comparison,
 * whatever the size of the recording. Invariants:
 *   - a group's cursor only moves forward: a served entry is marked and never served again; an
 *     entry added to an exhausted group becomes its cursor; only rt_recording_rewind starts
 *     every group over, for another run;
 *   - loading succeeds whole, or reports every problem (up to MAX_PROBLEMS) and returns nothing;
 *   - what save writes, load reads back to the same exchanges: request bodies and text bodies
 *     byte for byte, JSON response bodies as equal JSON. Save checks its document with the
 *     loader's own rules before writing, so a recorder's mistake fails at record time, not at
 *     the first replay;
 *   - no credential is ever written: requests carry no headers at all, and a connector's "auth"
 *     and "headers" settings are dropped from the meta data on save and refused on load. */
#define _GNU_SOURCE /* fdopen, fsync, mkstemp, memmem */
#include "rt_recording.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#define RECORDING_MAX ((size_t)256 << 20) /* bytes of a recording file */
#define MAX_PROBLEMS  100                 /* reported by one load */
#define FIELD_MAX     256                 /* bytes of a field path in a message */
#define NONE          SIZE_MAX            /* no entry, no group */

/* The members of a recording's top level that make up its meta data. */
static const char *const META_MEMBERS[] = {"analyzer", "connectors", "id", "inputs", "now", NULL};

typedef struct entry {
    char *block; /* owns every string below */
    const char *connector, *method, *path;
    const char *body; /* request body; "" when none */
    size_t body_len;
    int error;           /* RT_OK, or the transport error the call ended with */
    const char *message; /* NULL when none */
    long status;
    const char *response; /* response body; "" when none */
    size_t response_len;
    size_t bytes;             /* the body's size as received */
    const char *content_type; /* NULL when none */
    uint64_t hash;            /* of the request half */
    size_t next;              /* the next entry with the same request, or NONE */
    bool served;
} entry;

typedef struct group {
    size_t first, last; /* entries with this request, chained through entry.next */
    size_t cursor;      /* the next one to serve, or NONE when all are served */
} group;

struct rt_recording {
    rt_recording_mode mode;
    json_t *meta; /* owned */
    entry *entries;
    size_t n_entries, cap_entries;
    group *groups;
    size_t n_groups, cap_groups;
    size_t *slots; /* group index + 1, 0 when empty; n_slots is 0 or a power of two */
    size_t n_slots;
    char lost[200]; /* why an exchange could not be kept (out of memory); "": none was lost */
    size_t asked;   /* rt_recording_match calls since the load or the last rewind */
};

/* ---- error names ------------------------------------------------------------------------ */

int rt_errcode_from_name(const char *name) {
#define XX(code, msg)                                                                              \
    if (strcmp(name, #code) == 0)                                                                  \
        return RT_##code;
    RT_ERRNO_MAP(XX)
#undef XX
    return RT_OK;
}

/* ---- the index -------------------------------------------------------------------------- */

#define HASH_K 0x9e3779b97f4a7c15ULL

/* Folds 'n' bytes at 'p' into 'h', eight at a time, with their length so that the parts of a
 * request cannot run into each other ("ab"+"c" is not "a"+"bc"). */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t w;
    h = (h ^ n) * HASH_K;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * HASH_K;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * HASH_K;
    return h ^ (h >> 29);
}

/* The 64-bit finaliser of MurmurHash3: every input bit reaches the low bits the table uses. */
static uint64_t hash_mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static uint64_t request_hash(const char *connector, const char *method, const char *path,
                             const char *body, size_t body_len) {
    uint64_t h = hash_bytes(0, connector, strlen(connector));
    h = hash_bytes(h, method, strlen(method));
    h = hash_bytes(h, path, strlen(path));
    return hash_mix(hash_bytes(h, body ? body : "", body_len));
}

static bool same_request(const entry *a, uint64_t hash, const rt_exchange *e) {
    return a->hash == hash && a->body_len == e->body_len && strcmp(a->path, e->path) == 0 &&
           strcmp(a->connector, e->connector) == 0 && strcmp(a->method, e->method) == 0 &&
           (e->body_len == 0 || memcmp(a->body, e->body, e->body_len) == 0);
}

/* The group of the request in 'e' (whose hash is 'hash'), or NONE. */
static size_t group_find(const rt_recording *r, uint64_t hash, const rt_exchange *e) {
    if (r->n_slots == 0)
        return NONE;
    size_t mask = r->n_slots - 1;
    for (size_t i = (size_t)hash & mask; r->slots[i]; i = (i + 1) & mask) {
        size_t g = r->slots[i] - 1;
        if (same_request(&r->entries[r->groups[g].first], hash, e))
            return g;
    }
    return NONE;
}

static void slot_put(size_t *slots, size_t n_slots, uint64_t hash, size_t g) {
    size_t i = (size_t)hash & (n_slots - 1);
    while (slots[i])
        i = (i + 1) & (n_slots - 1);
    slots[i] = g + 1;
}

/* Makes room for one more group, keeping the table at most half full. */
static void slots_reserve(rt_recording *r) {
    if ((r->n_groups + 1) * 2 <= r->n_slots)
        return;
    size_t n = r->n_slots ? r->n_slots * 2 : 64;
    size_t *slots = rt_xcalloc(n, sizeof *slots);
    for (size_t g = 0; g < r->n_groups; g++)
        slot_put(slots, n, r->entries[r->groups[g].first].hash, g);
    free(r->slots);
    r->slots = slots;
    r->n_slots = n;
}

/* Copies the exchange 'e' into a new entry and indexes it. Returns RT_OK, or RT_ENOMEM when its
 * strings (whose sizes come from the network or the file) do not fit in memory. */
static int entry_add(rt_recording *r, const rt_exchange *e) {
    bool failed = e->error != RT_OK;
    const char *message = failed && e->message ? e->message : NULL;
    const char *content_type = !failed ? e->content_type : NULL;
    size_t response_len = failed || !e->response ? 0 : e->response_len;
    size_t body_len = e->body ? e->body_len : 0;
    size_t lens[] = {strlen(e->connector) + 1,
                     strlen(e->method) + 1,
                     strlen(e->path) + 1,
                     body_len + 1,
                     message ? strlen(message) + 1 : 0,
                     response_len + 1,
                     content_type ? strlen(content_type) + 1 : 0};
    size_t total = 0;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        if (lens[i] > SIZE_MAX - total)
            return RT_ENOMEM;
        total += lens[i];
    }
    char *block = malloc(total), *p = block;
    if (!block)
        return RT_ENOMEM;

    entry x = {
        .block = block, .error = failed ? e->error : RT_OK, .status = failed ? 0 : e->status};
#define COPY(field, src, n)                                                                        \
    do {                                                                                           \
        memcpy(p, (src), (n));                                                                     \
        p[(n)] = '\0';                                                                             \
        x.field = p;                                                                               \
        p += (n) + 1;                                                                              \
    } while (0)
    COPY(connector, e->connector, lens[0] - 1);
    COPY(method, e->method, lens[1] - 1);
    COPY(path, e->path, lens[2] - 1);
    COPY(body, body_len ? e->body : "", body_len);
    x.body_len = body_len;
    if (message)
        COPY(message, message, lens[4] - 1);
    COPY(response, response_len ? e->response : "", response_len);
    x.response_len = response_len;
    x.bytes = failed ? 0 : e->bytes ? e->bytes : response_len;
    if (content_type)
        COPY(content_type, content_type, lens[6] - 1);
#undef COPY
    x.hash = request_hash(x.connector, x.method, x.path, x.body, x.body_len);
    x.next = NONE;

    if (r->n_entries == r->cap_entries) {
        r->cap_entries = r->cap_entries ? r->cap_entries * 2 : 16;
        r->entries = rt_xrealloc(r->entries, r->cap_entries * sizeof *r->entries);
    }
    size_t index = r->n_entries++;
    r->entries[index] = x;

    rt_exchange key = {.connector = x.connector,
                       .method = x.method,
                       .path = x.path,
                       .body = x.body,
                       .body_len = x.body_len};
    size_t g = group_find(r, x.hash, &key);
    if (g != NONE) {
        group *gr = &r->groups[g];
        r->entries[gr->last].next = index;
        gr->last = index;
        if (gr->cursor == NONE)
            gr->cursor = index;
        return RT_OK;
    }
    slots_reserve(r);
    if (r->n_groups == r->cap_groups) {
        r->cap_groups = r->cap_groups ? r->cap_groups * 2 : 16;
        r->groups = rt_xrealloc(r->groups, r->cap_groups * sizeof *r->groups);
    }
    g = r->n_groups++;
    r->groups[g] = (group){index, index, index};
    slot_put(r->slots, r->n_slots, x.hash, g);
    return RT_OK;
}

/* ---- the recording ---------------------------------------------------------------------- */

rt_recording *rt_recording_new(void) {
    rt_recording *r = rt_xcalloc(1, sizeof *r);
    r->mode = RT_RECORDING_RECORD;
    r->meta = json_object();
    if (!r->meta)
        abort(); /* bookkeeping: a few bytes */
    return r;
}

void rt_recording_free(rt_recording *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n_entries; i++)
        free(r->entries[i].block);
    free(r->entries);
    free(r->groups);
    free(r->slots);
    json_decref(r->meta);
    free(r);
}

rt_recording_mode rt_recording_get_mode(const rt_recording *r) {
    return r->mode;
}

size_t rt_recording_count(const rt_recording *r) {
    return r->n_entries;
}

json_t *rt_recording_meta(rt_recording *r) {
    return r->meta;
}

int rt_recording_add(rt_recording *r, const rt_exchange *e) {
    if (NEVER(!e->connector || !e->method || !e->path))
        return RT_EINTERNAL;
    int rc = entry_add(r, e);
    /* A body's size comes from the network: out of memory, this exchange is lost and the
     * recording with it (save and dumps refuse it), not the process. The first loss is told. */
    if (rc != RT_OK && !r->lost[0])
        snprintf(r->lost, sizeof r->lost,
                 "out of memory keeping a response of %zu bytes from %.64s: the recording is "
                 "incomplete",
                 e->response_len, e->connector);
    return rc;
}

int rt_recording_match(rt_recording *r, rt_exchange *e) {
    uint64_t hash =
        request_hash(e->connector, e->method, e->path, e->body, e->body ? e->body_len : 0);
    rt_exchange key = *e;
    if (!key.body)
        key.body_len = 0;
    r->asked++;
    size_t g = group_find(r, hash, &key);
    if (g == NONE || r->groups[g].cursor == NONE)
        return RT_EREPLAY;
    entry *x = &r->entries[r->groups[g].cursor];
    r->groups[g].cursor = x->next;
    x->served = true;
    e->error = x->error;
    e->message = x->message;
    e->status = x->status;
    e->response = x->response;
    e->response_len = x->response_len;
    e->bytes = x->bytes;
    e->content_type = x->content_type;
    return RT_OK;
}

size_t rt_recording_asked(const rt_recording *r) {
    return r->asked;
}

void rt_recording_rewind(rt_recording *r) {
    r->asked = 0;
    for (size_t i = 0; i < r->n_entries; i++)
        r->entries[i].served = false;
    for (size_t g = 0; g < r->n_groups; g++)
        r->groups[g].cursor = r->groups[g].first;
}

/* ---- bodies -------------------------------------------------------------------------------
 * A body is written as one of "body_json" (a JSON object or array), "body" (a string: the bytes
 * when they are UTF-8) or "body_base64" (any other bytes); no member means an empty body. */

static const char BASE64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *base64_string(const unsigned char *s, size_t n) {
    char *out = rt_xmalloc((n + 2) / 3 * 4 + 1), *p = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? s[i + 2] : 0);
        *p++ = BASE64[v >> 18];
        *p++ = BASE64[(v >> 12) & 63];
        *p++ = i + 1 < n ? BASE64[(v >> 6) & 63] : '=';
        *p++ = i + 2 < n ? BASE64[v & 63] : '=';
    }
    json_t *j = json_stringn(out, (size_t)(p - out));
    free(out);
    return j;
}

static int base64_digit(unsigned char c) {
    const char *p = c ? strchr(BASE64, c) : NULL;
    return p ? (int)(p - BASE64) : -1;
}

/* True when the 'n' bytes at 's' are padded base64 (RFC 4648, standard alphabet). */
static bool base64_valid(const char *s, size_t n) {
    if (n % 4)
        return false;
    size_t pad = n && s[n - 1] == '=' ? 1 + (n > 1 && s[n - 2] == '=') : 0;
    for (size_t i = 0; i < n - pad; i++)
        if (base64_digit((unsigned char)s[i]) < 0)
            return false;
    return true;
}

/* Decodes the valid base64 'n' bytes at 's' into 'out' (room for n / 4 * 3); returns the length. */
static size_t base64_decode(const char *s, size_t n, unsigned char *out) {
    size_t len = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int digits = 0;
        for (int k = 0; k < 4; k++) {
            int d = s[i + k] == '=' ? 0 : base64_digit((unsigned char)s[i + k]);
            digits += s[i + k] != '=';
            v = v << 6 | (uint32_t)d;
        }
        out[len++] = (unsigned char)(v >> 16);
        if (digits > 2)
            out[len++] = (unsigned char)(v >> 8);
        if (digits > 3)
            out[len++] = (unsigned char)v;
    }
    return len;
}

/* True when 'content_type' says JSON: application/json or any type ending in +json. */
static bool is_json_type(const char *content_type) {
    if (!content_type)
        return false;
    size_t n = strcspn(content_type, ";");
    while (n && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
        n--;
    return (n == 16 && strncasecmp(content_type, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(content_type + n - 5, "+json", 5) == 0);
}

/* Sets the body member of 'obj' for the 'n' bytes at 'data'. A request body is matched byte for
 * byte, so it is kept as JSON only when its canonical form (rt_json_canonical: the form in which
 * Inquest writes JSON) is exactly these bytes. A response body is only read, so it is kept as
 * JSON whenever it is labelled and parses as JSON: replay serves equal JSON, not the same bytes
 * (docs/recording.md). */
static void body_put(json_t *obj, const char *data, size_t n, bool request,
                     const char *content_type) {
    if (n == 0)
        return;
    if (request || is_json_type(content_type)) {
        json_t *v = json_loadb(data, n, JSON_REJECT_DUPLICATES, NULL);
        bool keep = v != NULL;
        if (v && request) {
            char *text = rt_json_canonical(v);
            keep = text && strlen(text) == n && memcmp(text, data, n) == 0;
            free(text);
        }
        if (keep) {
            json_object_set_new_nocheck(obj, "body_json", v);
            return;
        }
        json_decref(v);
    }
    json_t *s = json_stringn(data, n); /* NULL when not UTF-8 */
    if (s)
        json_object_set_new_nocheck(obj, "body", s);
    else
        json_object_set_new_nocheck(obj, "body_base64", base64_string((const void *)data, n));
}

/* The bytes of the body of 'obj', a checked request or response: '*data' and '*len', borrowed
 * from 'obj' or, when '*owned' is set, in a buffer the caller frees. The inverse of body_put.
 * Returns RT_OK or RT_ENOMEM. */
static int body_get(json_t *obj, bool request, const char **data, size_t *len, char **owned) {
    json_t *v;
    *data = "";
    *len = 0;
    *owned = NULL;
    if ((v = json_object_get(obj, "body"))) {
        *data = json_string_value(v);
        *len = json_string_length(v);
    } else if ((v = json_object_get(obj, "body_base64"))) {
        size_t n = json_string_length(v);
        if (!(*owned = malloc(n / 4 * 3 + 1)))
            return RT_ENOMEM;
        *len = base64_decode(json_string_value(v), n, (unsigned char *)*owned);
        *data = *owned;
    } else if ((v = json_object_get(obj, "body_json"))) {
        *owned = request ? rt_json_canonical(v) : json_dumps(v, JSON_COMPACT);
        if (!*owned)
            return RT_ENOMEM;
        *data = *owned;
        *len = strlen(*owned);
    }
    return RT_OK;
}

/* ---- checks -------------------------------------------------------------------------------
 * One set of rules for what load reads and what save writes. jansson keeps no positions of
 * values, so a problem is placed by its field path ("exchanges[3].response.status"). */

typedef struct checker {
    const char *file; /* in messages; NULL when checking a document to be saved */
    rt_diag *diag;
    size_t n;
    json_t *connectors; /* the recording's, to check exchanges against; NULL when absent */
} checker;

static void problem(checker *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(checker *c, const char *field, const char *fmt, ...) {
    char message[512];
    va_list ap;
    if (c->n > MAX_PROBLEMS)
        return;
    if (c->n++ == MAX_PROBLEMS) {
        rt_diag_add(c->diag, c->file, 0, NULL, "too many problems; stopping here");
        return;
    }
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    rt_diag_add(c->diag, c->file, 0, field && *field ? field : NULL, "%s", message);
}

static const char *kind_of(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* 'base'.'key' into 'out' (FIELD_MAX bytes), cut when longer. */
static void join(char *out, const char *base, const char *key) {
    int n = snprintf(out, FIELD_MAX, "%s%s", base, *base ? "." : "");
    if (n >= 0 && n < FIELD_MAX)
        snprintf(out + n, FIELD_MAX - (size_t)n, "%s", key);
}

static bool listed(const char *const *names, const char *name) {
    for (; *names; names++)
        if (strcmp(*names, name) == 0)
            return true;
    return false;
}

/* Reports each member of 'obj' not in 'allowed' (NULL-terminated). */
static void check_members(checker *c, json_t *obj, const char *path, const char *const *allowed) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (listed(allowed, key))
            continue;
        char expected[256] = "", field[FIELD_MAX];
        for (const char *const *a = allowed; *a; a++)
            snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
                     a == allowed ? "" : ", ", *a);
        /* An empty name would leave the field empty too (the top, when 'path' is ""): the
         * problem would not say where it is. */
        join(field, path, *key ? key : "\"\"");
        problem(c, field, "unknown member (expected %s)", expected);
    }
}

/* Member 'key' of 'obj' when it is a 'type' (JSON_TRUE: an object or an array); NULL when it is
 * absent (a problem when 'required') or of another type (a problem). */
static json_t *member(checker *c, json_t *obj, const char *path, const char *key, json_type type,
                      bool required) {
    static const char *const names[] = {[JSON_OBJECT] = "an object",
                                        [JSON_ARRAY] = "an array",
                                        [JSON_STRING] = "a string",
                                        [JSON_INTEGER] = "an integer",
                                        [JSON_TRUE] = "an object or an array"};
    char field[FIELD_MAX];
    json_t *v = json_object_get(obj, key);
    join(field, path, key);
    if (!v) {
        if (required)
            problem(c, field, "missing (expected %s)", names[type]);
        return NULL;
    }
    bool ok = type == JSON_TRUE ? json_is_object(v) || json_is_array(v) : json_typeof(v) == type;
    if (!ok) {
        problem(c, field, "expected %s, got %s", names[type], kind_of(v));
        return NULL;
    }
    if (type == JSON_STRING && strlen(json_string_value(v)) != json_string_length(v)) {
        problem(c, field, "holds a NUL character");
        return NULL;
    }
    return v;
}

static void check_body(checker *c, json_t *obj, const char *path) {
    char field[FIELD_MAX];
    json_t *v;
    int n = 0;
    if ((v = json_object_get(obj, "body"))) {
        n++;
        join(field, path, "body");
        if (!json_is_string(v))
            problem(c, field, "expected a string, got %s", kind_of(v));
    }
    if ((v = json_object_get(obj, "body_base64"))) {
        n++;
        join(field, path, "body_base64");
        if (!json_is_string(v))
            problem(c, field, "expected a string, got %s", kind_of(v));
        else if (!base64_valid(json_string_value(v), json_string_length(v)))
            problem(c, field, "is not padded base64");
    }
    if (json_object_get(obj, "body_json")) {
        n++;
        member(c, obj, path, "body_json", JSON_TRUE, false);
    }
    if (n > 1)
        problem(c, path, "has %d of body, body_base64 and body_json (at most one)", n);
}

static void check_request(checker *c, json_t *req, const char *path) {
    static const char *const members[] = {"body",   "body_base64", "body_json",
                                          "method", "path",        NULL};
    char field[FIELD_MAX];
    json_t *v;
    check_members(c, req, path, members);
    if ((v = member(c, req, path, "method", JSON_STRING, true))) {
        const char *m = json_string_value(v);
        size_t n = strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        join(field, path, "method");
        if (n == 0 || n > 16 || m[n])
            problem(c, field, "expected an HTTP method in capitals like GET or POST");
    }
    /* Any path: what the connector asked for, even when a server would refuse it. */
    member(c, req, path, "path", JSON_STRING, true);
    check_body(c, req, path);
}

static void check_response(checker *c, json_t *resp, const char *path) {
    static const char *const members[] = {"body",         "body_base64", "body_json", "status",
                                          "content_type", "bytes",       NULL};
    char field[FIELD_MAX];
    json_t *v;
    check_members(c, resp, path, members);
    if ((v = member(c, resp, path, "status", JSON_INTEGER, true))) {
        json_int_t status = json_integer_value(v);
        join(field, path, "status");
        if (status < 100 || status > 999)
            problem(c, field, "expected an HTTP status from 100 to 999, got %lld",
                    (long long)status);
    }
    member(c, resp, path, "content_type", JSON_STRING, false);
    if ((v = member(c, resp, path, "bytes", JSON_INTEGER, false)) &&
        (json_integer_value(v) < 0 || (uintmax_t)json_integer_value(v) > RECORDING_MAX)) {
        join(field, path, "bytes"); /* a size_t on replay: -1 would wrap to SIZE_MAX */
        problem(c, field, "expected a size from 0 to %zu bytes, got %lld", RECORDING_MAX,
                (long long)json_integer_value(v));
    }
    check_body(c, resp, path);
}

static void check_error(checker *c, json_t *err, const char *path) {
    static const char *const members[] = {"code", "message", NULL};
    char field[FIELD_MAX];
    json_t *v;
    check_members(c, err, path, members);
    if ((v = member(c, err, path, "code", JSON_STRING, true)) &&
        rt_errcode_from_name(json_string_value(v)) == RT_OK) {
        join(field, path, "code");
        problem(c, field, "\"%.64s\" is not the name of an Inquest error (like ETIMEDOUT)",
                json_string_value(v));
    }
    member(c, err, path, "message", JSON_STRING, true);
}

static void check_exchange(checker *c, json_t *x, size_t i) {
    static const char *const members[] = {"connector", "error", "request", "response", NULL};
    char path[FIELD_MAX], field[FIELD_MAX];
    json_t *v;
    snprintf(path, sizeof path, "exchanges[%zu]", i);
    if (!json_is_object(x)) {
        problem(c, path, "expected an object, got %s", kind_of(x));
        return;
    }
    check_members(c, x, path, members);
    if ((v = member(c, x, path, "connector", JSON_STRING, true))) {
        const char *name = json_string_value(v);
        join(field, path, "connector");
        if (!*name)
            problem(c, field, "is empty");
        else if (c->connectors && !json_object_get(c->connectors, name))
            problem(c, field, "\"%.64s\" is not one of the recording's connectors", name);
    }
    if ((v = member(c, x, path, "request", JSON_OBJECT, true))) {
        join(field, path, "request");
        check_request(c, v, field);
    }
    json_t *response = json_object_get(x, "response"), *error = json_object_get(x, "error");
    if (response && error)
        problem(c, path, "has both a response and an error (an exchange ends with one)");
    else if (!response && !error)
        problem(c, path, "has neither a response nor an error");
    if ((v = member(c, x, path, "response", JSON_OBJECT, false))) {
        join(field, path, "response");
        check_response(c, v, field);
    }
    if ((v = member(c, x, path, "error", JSON_OBJECT, false))) {
        join(field, path, "error");
        check_error(c, v, field);
    }
}

static void check_connectors(checker *c, json_t *connectors) {
    const char *name;
    json_t *conn;
    json_object_foreach(connectors, name, conn) {
        char path[FIELD_MAX];
        join(path, "connectors", name);
        if (!*name) {
            problem(c, path, "a connector's name is empty");
            continue;
        }
        if (!json_is_object(conn)) {
            problem(c, path, "expected an object, got %s", kind_of(conn));
            continue;
        }
        json_t *type = member(c, conn, path, "type", JSON_STRING, true);
        if (type && !*json_string_value(type)) {
            char field[FIELD_MAX];
            join(field, path, "type");
            problem(c, field, "is empty");
        }
        /* The other settings are free: whatever changes how a connector's answers are read. */
        static const char *const secret[] = {"auth", "headers", NULL};
        for (const char *const *s = secret; *s; s++)
            if (json_object_get(conn, *s)) {
                char field[FIELD_MAX];
                join(field, path, *s);
                problem(c, field, "credentials and headers are never part of a recording");
            }
    }
}

static void check_document(checker *c, json_t *root) {
    static const char *const members[] = {"analyzer", "connectors", "exchanges", "id",
                                          "inputs",   "now",        "schema",    NULL};
    json_t *v;
    if (!json_is_object(root)) {
        problem(c, NULL, "expected an object at the top, got %s", kind_of(root));
        return;
    }
    v = json_object_get(root, "schema");
    if (!v) {
        problem(c, "schema", "missing: not an Inquest recording (expected \"%s\")",
                RT_RECORDING_SCHEMA);
        return;
    }
    if (!json_is_string(v) || strcmp(json_string_value(v), RT_RECORDING_SCHEMA) != 0) {
        if (json_is_string(v))
            problem(c, "schema", "expected \"%s\", got \"%.64s\"", RT_RECORDING_SCHEMA,
                    json_string_value(v));
        else
            problem(c, "schema", "expected \"%s\", got %s", RT_RECORDING_SCHEMA, kind_of(v));
        return; /* another format: its members would only add noise */
    }
    check_members(c, root, "", members);
    if ((v = member(c, root, "", "analyzer", JSON_STRING, false)) && !*json_string_value(v))
        problem(c, "analyzer", "is empty");
    member(c, root, "", "id", JSON_STRING, false);
    member(c, root, "", "inputs", JSON_OBJECT, false);
    if ((v = json_object_get(root, "now"))) {
        char why[256];
        double t;
        if (json_is_number(v)) {
            if (rt_time_check(json_number_value(v), why) < 0) /* replays turn it into integers */
                problem(c, "now", "%s", why);
        } else if (!json_is_string(v))
            problem(c, "now", "expected an RFC 3339 time or Unix seconds, got %s", kind_of(v));
        else if (strncmp(json_string_value(v), "now", 3) == 0)
            problem(c, "now", "expected a fixed time, not one relative to now");
        else if (rt_time_parse(json_string_value(v), 0, &t, why) < 0)
            problem(c, "now", "%s", why);
    }
    if ((c->connectors = member(c, root, "", "connectors", JSON_OBJECT, false)))
        check_connectors(c, c->connectors);
    if ((v = member(c, root, "", "exchanges", JSON_ARRAY, true))) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            check_exchange(c, x, i);
        }
    }
}

/* ---- save ------------------------------------------------------------------------------- */

static json_t *must(json_t *v) {
    if (!v)
        abort(); /* bookkeeping: jansson is out of memory building the document */
    return v;
}

/* The document of 'r', as docs/recording.md shows it. */
static json_t *document(const rt_recording *r) {
    json_t *doc = must(json_object()), *exchanges = must(json_array());
    const char *key;
    json_t *v;
    json_object_foreach(r->meta, key, v) {
        if (strcmp(key, "connectors") != 0 || !json_is_object(v)) {
            json_object_set(doc, key, v);
            continue;
        }
        /* Defence in depth: the recorder copies only non-secret settings, but credentials must
         * never reach the disk even if it copied too much. */
        json_t *copy = must(json_deep_copy(v)), *conn;
        const char *name;
        json_object_foreach(copy, name, conn) {
            json_object_del(conn, "auth");
            json_object_del(conn, "headers");
        }
        json_object_set_new(doc, "connectors", copy);
    }
    json_object_set_new(doc, "schema", must(json_string(RT_RECORDING_SCHEMA)));
    for (size_t i = 0; i < r->n_entries; i++) {
        const entry *x = &r->entries[i];
        json_t *ex = must(json_object()), *req = must(json_object());
        json_object_set_new(ex, "connector", must(json_string(x->connector)));
        json_object_set_new(req, "method", must(json_string(x->method)));
        json_object_set_new(req, "path", must(json_string(x->path)));
        body_put(req, x->body, x->body_len, true, NULL);
        json_object_set_new(ex, "request", req);
        if (x->error != RT_OK) {
            json_t *err = must(json_object());
            json_object_set_new(err, "code", must(json_string(rt_errname(x->error))));
            json_object_set_new(
                err, "message",
                rt_json_text_cut(x->message ? x->message : rt_strerror(x->error), 4096));
            json_object_set_new(ex, "error", err);
        } else {
            json_t *resp = must(json_object());
            json_object_set_new(resp, "status", must(json_integer(x->status)));
            if (x->content_type)
                json_object_set_new(resp, "content_type", rt_json_text_cut(x->content_type, 1024));
            body_put(resp, x->response, x->response_len, false, x->content_type);
            json_object_set_new(resp, "bytes", must(json_integer((json_int_t)x->bytes)));
            json_object_set_new(ex, "response", resp);
        }
        json_array_append_new(exchanges, ex);
    }
    json_object_set_new(doc, "exchanges", exchanges);
    return doc;
}

/* Writes 'doc' to 'path' through a temporary file in the same folder, renamed over it: a reader
 * sees the old recording or the new one, never half of one. */
static int write_atomic(const json_t *doc, const char *path, char *why) {
    int rc = RT_OK, fd;
    size_t n = strlen(path);
    char *tmp = rt_xmalloc(n + 8);
    FILE *f = NULL;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".XXXXXX", 8);
    if ((fd = mkstemp(tmp)) < 0) {
        snprintf(why, 256, "cannot create a file next to %s: %s", path, strerror(errno));
        free(tmp);
        return RT_EIO;
    }
    if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
        snprintf(why, 256, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        rc = RT_EIO;
        goto out;
    }
    if (json_dumpf(doc, f, JSON_INDENT(2) | JSON_SORT_KEYS) < 0 || fputc('\n', f) == EOF ||
        fflush(f) != 0 || fsync(fileno(f)) < 0) {
        snprintf(why, 256, "cannot write %s: %s", tmp, strerror(errno));
        rc = RT_EIO;
        goto out;
    }
    int closed = fclose(f);
    f = NULL;
    if (closed != 0) {
        snprintf(why, 256, "cannot write %s: %s", tmp, strerror(errno));
        rc = RT_EIO;
        goto out;
    }
    if (rename(tmp, path) < 0) {
        snprintf(why, 256, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        rc = RT_EIO;
    }
out:
    if (f)
        fclose(f);
    if (rc != RT_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* The document of 'r', checked with the loader's own rules so that a recorder's mistake fails
 * when it is written, not at the first replay; 'what' names where it goes in 'why'. NULL with
 * the reason in 'why' (256 bytes) when the meta data breaks the format's rules. */
static json_t *checked_document(const rt_recording *r, const char *what, char *why) {
    const char *key;
    json_t *v;
    json_object_foreach(r->meta, key, v) {
        if (!listed(META_MEMBERS, key)) {
            snprintf(why, 256,
                     "cannot write %s: \"%.64s\" is not a member of a recording's meta "
                     "data",
                     what, key);
            return NULL;
        }
    }
    json_t *doc = document(r);
    rt_diag diag = {0};
    checker c = {.diag = &diag};
    check_document(&c, doc);
    if (rt_diag_count(&diag)) {
        json_t *first = json_array_get(diag.items, 0);
        const char *field = json_string_value(json_object_get(first, "field"));
        snprintf(why, 256, "cannot write %s: %s%s%s", what, field ? field : "", field ? ": " : "",
                 json_string_value(json_object_get(first, "message")));
        json_decref(doc);
        doc = NULL;
    }
    rt_diag_free(&diag);
    return doc;
}

/* An incomplete recording would replay as a stale case, blaming the analyzer: never written. */
static bool lost_exchanges(const rt_recording *r, char *why) {
    if (r->lost[0])
        snprintf(why, 256, "%s", r->lost);
    return r->lost[0] != '\0';
}

int rt_recording_save(const rt_recording *r, const char *path, char *why) {
    if (lost_exchanges(r, why))
        return RT_ENOMEM;
    json_t *doc = checked_document(r, path, why);
    if (!doc)
        return RT_EINPUT;
    int rc = write_atomic(doc, path, why);
    json_decref(doc);
    return rc;
}

int rt_recording_dumps(const rt_recording *r, char **text, size_t *len, char *why) {
    *text = NULL;
    *len = 0;
    if (lost_exchanges(r, why))
        return RT_ENOMEM;
    json_t *doc = checked_document(r, "the recording", why);
    if (!doc)
        return RT_EINPUT;
    /* Compact, keys sorted: the file's order, without the indentation a file has for review. */
    *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (!*text) {
        snprintf(why, 256, "out of memory writing the recording as text");
        return RT_ENOMEM;
    }
    *len = strlen(*text);
    return RT_OK;
}

/* ---- load ------------------------------------------------------------------------------- */

/* Copies the JSON text of 'n' bytes at 's' to 'out' without the white space between tokens
 * that JSON does not need, and returns the copy's length. Recordings are written indented, and
 * most of their bytes are that indentation, which jansson's lexer reads a byte at a time as
 * slowly as the values: a backtest reads a recording per case. A run of white space is kept
 * (as one space) where dropping it could join two tokens ("1 2", "true false") into one, so a
 * text that is not JSON stays so. Strings are copied as they are. */
static size_t squeeze(const char *s, size_t n, char *out) {
    size_t o = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            out[o++] = c;
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
            continue;
        }
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            size_t j = i;
            while (j + 1 < n &&
                   (s[j + 1] == ' ' || s[j + 1] == '\n' || s[j + 1] == '\r' || s[j + 1] == '\t'))
                j++;
            char next = j + 1 < n ? s[j + 1] : '\0', last = o ? out[o - 1] : '\0';
            bool after = !last || last == '{' || last == '[' || last == ':' || last == ',';
            bool before = !next || next == '}' || next == ']' || next == ':' || next == ',';
            if (!after && !before)
                out[o++] = ' ';
            i = j;
            continue;
        }
        in_string = c == '"';
        out[o++] = c;
    }
    return o;
}

/* Where a value lies in the squeezed text: 'len' bytes from 'at'; 'len' 0 when unknown. */
typedef struct span {
    size_t at, len;
} span;

/* The end of the string that starts at s[i] (its opening quote). */
static size_t skip_string(const char *s, size_t n, size_t i) {
    for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i + 1;
}

/* The end of the value that starts at s[i], in JSON that parsed and has no white space. */
static size_t skip_value(const char *s, size_t n, size_t i) {
    if (i < n && s[i] == '"')
        return skip_string(s, n, i);
    if (i < n && s[i] != '{' && s[i] != '[') {
        while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']')
            i++;
        return i;
    }
    int depth = 0;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            i = skip_string(s, n, i);
            continue;
        }
        depth += (c == '{' || c == '[') - (c == '}' || c == ']');
        i++;
        if (depth == 0)
            break;
    }
    return i;
}

/* Walks the members of the object at s[obj]: for each, '*key' and '*key_len' name the key as
 * written and the result is where its value starts; 'next' is the member to start from (the
 * end of the previous value; 0: the first). Returns 0 past the last member. */
static size_t next_member(const char *s, size_t n, size_t obj, size_t next, const char **key,
                          size_t *key_len) {
    size_t i = next ? next : obj + 1;
    if (next && i < n && s[i] == ',')
        i++;
    if (i >= n || s[i] != '"')
        return 0;
    size_t end = skip_string(s, n, i);
    *key = s + i + 1;
    *key_len = end - i - 2;
    return end < n && s[end] == ':' ? end + 1 : 0;
}

static bool is_key(const char *key, size_t len, const char *name) {
    return len == strlen(name) && memcmp(key, name, len) == 0;
}

/* The span of the body_json member of the response object at s[resp]; the object's end. */
static size_t response_span(const char *s, size_t n, size_t resp, span *body) {
    const char *key;
    size_t len, value, end = 0;
    while ((value = next_member(s, n, resp, end, &key, &len))) {
        end = skip_value(s, n, value);
        if (is_key(key, len, "body_json") && (s[value] == '{' || s[value] == '['))
            *body = (span){value, end - value};
    }
    /* Past its '}'; an object with no member that next_member reads ("{}", or not JSON) ends
     * where its first member would be. Never at or before 'resp': the walk must go forward. */
    return (end ? end : resp + 1) + 1;
}

/* The spans of exchanges[i].response.body_json in the squeezed text 's' of 'n' bytes, in
 * '*count' entries (one per exchange found): their compact text as written, which replay serves
 * instead of the same JSON written out again (json_dumps). A key written with escapes is not
 * recognised: its exchange then does without a span. One pass; safe on text that is not JSON
 * (the spans are then checked, or not used). NULL when out of memory. */
static span *body_spans(const char *s, size_t n, size_t *count) {
    size_t cap = 16;
    span *spans = calloc(cap, sizeof *spans);
    const char *key;
    size_t len, value, end = 0;
    *count = 0;
    if (!spans || n == 0 || s[0] != '{')
        return spans;
    while ((value = next_member(s, n, 0, end, &key, &len))) {
        if (!is_key(key, len, "exchanges") || s[value] != '[') {
            end = skip_value(s, n, value);
            continue;
        }
        for (size_t i = value + 1; i < n && s[i] == '{';) {
            if (*count == cap) {
                span *more = realloc(spans, 2 * cap * sizeof *spans);
                if (!more) {
                    free(spans);
                    return NULL;
                }
                memset(more + cap, 0, cap * sizeof *more);
                spans = more, cap *= 2;
            }
            size_t member = 0, v;
            while ((v = next_member(s, n, i, member, &key, &len)))
                member = is_key(key, len, "response") && s[v] == '{'
                             ? response_span(s, n, v, &spans[*count])
                             : skip_value(s, n, v);
            ++*count;
            /* Past the exchange's '}' (as in response_span: never back to the start of the
             * text, where text that is not JSON would be walked again and again). */
            i = (member ? member : i + 1) + 1;
            i += i < n && s[i] == ',';
        }
        break;
    }
    return spans;
}

/* ---- checking JSON bodies without building them -------------------------------------------
 * A JSON response body is most of a recording. Building it as a jansson tree only to check it
 * and write it out again was most of the cost of loading one (a backtest loads one per case), so
 * the bodies are checked apart, by yajl, with no tree, and left out of the document that jansson
 * builds (a placeholder stands in each one's place). The check answers "jansson takes it" or
 * "not sure": for the latter (a key twice, a \u escape, deep nesting, a number out of range,
 * anything yajl refuses) the whole document is read by jansson as before, which decides and
 * places the error. So what loads, and every message, is what it was without the shortcut. */

#define BODY_MAX_DEPTH 1000 /* deeper bodies are left to jansson (its limit: 2048 in all) */
#define PLACEHOLDER    "inquest:span"

typedef struct body_check {
    int depth;
    uint64_t *keys; /* hashes of the keys of the open objects, innermost last */
    size_t n_keys, cap_keys;
    size_t *frames; /* where each open object's keys start in 'keys' */
    size_t n_frames, cap_frames;
} body_check;

/* Makes room for one more of the 'n' items of 'size' bytes at '*items'. */
static bool grow(void **items, size_t *cap, size_t n, size_t size) {
    if (n < *cap)
        return true;
    size_t more = *cap ? *cap * 2 : 64;
    void *grown = realloc(*items, more * size);
    if (!grown)
        return false;
    *items = grown;
    *cap = more;
    return true;
}

static int on_open(void *ctx) {
    body_check *b = ctx;
    return ++b->depth <= BODY_MAX_DEPTH;
}

static int on_close(void *ctx) {
    ((body_check *)ctx)->depth--;
    return 1;
}

static int on_start_map(void *ctx) {
    body_check *b = ctx;
    if (!on_open(ctx) || !grow((void **)&b->frames, &b->cap_frames, b->n_frames, sizeof(size_t)))
        return 0;
    b->frames[b->n_frames++] = b->n_keys;
    return 1;
}

static int on_key(void *ctx, const unsigned char *key, size_t len) {
    body_check *b = ctx;
    if (!grow((void **)&b->keys, &b->cap_keys, b->n_keys, sizeof(uint64_t)))
        return 0;
    b->keys[b->n_keys++] = hash_bytes(0, key, len);
    return 1;
}

static int compare_hashes(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* A key twice in the object that ends (or two keys of one hash): not sure. */
static int on_end_map(void *ctx) {
    body_check *b = ctx;
    size_t first = b->frames[--b->n_frames], n = b->n_keys - first;
    if (n > 1)
        qsort(b->keys + first, n, sizeof *b->keys, compare_hashes);
    for (size_t i = 1; i < n; i++)
        if (b->keys[first + i] == b->keys[first + i - 1])
            return 0;
    b->n_keys = first;
    return on_close(ctx);
}

/* Numbers are only looked at so that yajl refuses those out of range, as jansson does. */
static int on_integer(void *ctx, long long value) {
    (void)ctx, (void)value;
    return 1;
}

static int on_double(void *ctx, double value) {
    (void)ctx, (void)value;
    return 1;
}

static const yajl_callbacks body_callbacks = {
    .yajl_integer = on_integer,
    .yajl_double = on_double,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_open,
    .yajl_end_array = on_close,
};

/* True when jansson would take the 'n' bytes at 's' as a JSON value; false when not sure. */
static bool body_ok(const char *s, size_t n) {
    if (memmem(s, n, "\\u", 2)) /* jansson refuses lone surrogates, yajl does not */
        return false;
    body_check b = {0};
    yajl_handle h = yajl_alloc(&body_callbacks, NULL, &b);
    bool ok = h && yajl_parse(h, (const unsigned char *)s, n) == yajl_status_ok &&
              yajl_complete_parse(h) == yajl_status_ok;
    if (h)
        yajl_free(h);
    free(b.keys);
    free(b.frames);
    return ok;
}

/* Whether exchanges[i].response.body_json of 'root' is the placeholder of span 'i'. */
static bool placeholder_at(json_t *root, size_t i) {
    json_t *x = json_array_get(json_object_get(root, "exchanges"), i);
    json_t *body = json_object_get(json_object_get(x, "response"), "body_json");
    json_t *index = json_object_get(body, PLACEHOLDER);
    return json_object_size(body) == 1 && json_is_integer(index) &&
           json_integer_value(index) == (json_int_t)i;
}

/* The document in the squeezed text 'compact' ('len' bytes) with its JSON bodies, which 'spans'
 * ('count') place, checked apart and replaced by placeholders; NULL when not sure of it (the
 * caller then reads the whole text with jansson). */
static json_t *parse_skeleton(const char *compact, size_t len, const span *spans, size_t count) {
    char *skeleton = malloc(len + count * 40 + 1), *o = skeleton;
    size_t at = 0;
    json_t *root = NULL;
    if (!skeleton)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        if (!spans[i].len)
            continue;
        if (spans[i].at < at || !body_ok(compact + spans[i].at, spans[i].len))
            goto out;
        memcpy(o, compact + at, spans[i].at - at);
        o += spans[i].at - at;
        o += sprintf(o, "{\"" PLACEHOLDER "\":%zu}", i);
        at = spans[i].at + spans[i].len;
    }
    memcpy(o, compact + at, len - at);
    o += len - at;
    root =
        json_loadb(skeleton, (size_t)(o - skeleton), JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, NULL);
    for (size_t i = 0; root && i < count; i++)
        if (spans[i].len && !placeholder_at(root, i)) {
            json_decref(root);
            root = NULL;
        }
out:
    free(skeleton);
    return root;
}

/* What reading a recording's text gives besides its document. */
typedef struct text {
    char *compact; /* the squeezed text, or NULL */
    span *spans;   /* where each exchange's JSON body is in it (len 0: not known), or NULL */
    size_t count;
} text;

/* The JSON document in the 'len' bytes at 'data', parsed as recordings are: squeezed, its
 * bodies checked apart (parse_skeleton); else the squeezed text whole; else (a syntax error)
 * the text as written, so that the error's line and column are those of the file. 't' gets the
 * squeezed text and the spans of the bodies, which build() serves. */
static json_t *parse(const char *data, size_t len, text *t, json_error_t *error) {
    const size_t flags = JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES;
    json_t *root = NULL;
    memset(t, 0, sizeof *t);
    if ((t->compact = malloc(len + 1))) {
        size_t n = squeeze(data, len, t->compact);
        t->spans = body_spans(t->compact, n, &t->count);
        if (t->spans)
            root = parse_skeleton(t->compact, n, t->spans, t->count);
        if (!root)
            root = json_loadb(t->compact, n, flags, error);
    }
    if (root)
        return root;
    free(t->compact);
    free(t->spans);
    memset(t, 0, sizeof *t);
    return json_loadb(data, len, flags, error);
}

/* Adds the exchanges of the checked document 'root' to 'r', their JSON response bodies taken
 * from the squeezed text where 't' knows them. Returns RT_OK or RT_ENOMEM. */
static int build(rt_recording *r, json_t *root, const text *t, const char *file, rt_diag *diag) {
    for (const char *const *m = META_MEMBERS; *m; m++) {
        json_t *v = json_object_get(root, *m);
        if (v)
            json_object_set(r->meta, *m, v);
    }
    json_t *x, *exchanges = json_object_get(root, "exchanges");
    size_t i;
    json_array_foreach(exchanges, i, x) {
        json_t *req = json_object_get(x, "request"), *resp = json_object_get(x, "response");
        json_t *err = json_object_get(x, "error");
        rt_exchange e = {
            .connector = json_string_value(json_object_get(x, "connector")),
            .method = json_string_value(json_object_get(req, "method")),
            .path = json_string_value(json_object_get(req, "path")),
        };
        char *owned_request = NULL, *owned_response = NULL;
        int rc = body_get(req, true, &e.body, &e.body_len, &owned_request);
        if (rc == RT_OK && resp) {
            e.status = (long)json_integer_value(json_object_get(resp, "status"));
            e.content_type = json_string_value(json_object_get(resp, "content_type"));
            e.bytes = (size_t)json_integer_value(json_object_get(resp, "bytes"));
            if (i < t->count && t->spans[i].len && json_object_get(resp, "body_json")) {
                e.response = t->compact + t->spans[i].at;
                e.response_len = t->spans[i].len;
            } else {
                rc = body_get(resp, false, &e.response, &e.response_len, &owned_response);
            }
        } else if (rc == RT_OK) {
            e.error = rt_errcode_from_name(json_string_value(json_object_get(err, "code")));
            e.message = json_string_value(json_object_get(err, "message"));
        }
        if (rc == RT_OK)
            rc = entry_add(r, &e);
        free(owned_request);
        free(owned_response);
        if (rc != RT_OK) {
            char field[FIELD_MAX];
            snprintf(field, sizeof field, "exchanges[%zu]", i);
            rt_diag_add(diag, file, 0, field, "out of memory loading the exchange");
            return rc;
        }
    }
    return RT_OK;
}

/* The text of the recording file 'path' in '*data' ('*len' bytes); with 'plain', only a
 * regular file that is not a link (rt_file_read_plain). RT_OK, or an error added to 'diag'. */
static int read_file(const char *path, bool plain, char **data, size_t *len, rt_diag *diag) {
    char why[256];
    struct stat st;
    int rc;
    /* A file that is too large is refused before reading any of it. */
    if ((plain ? lstat(path, &st) : stat(path, &st)) == 0 && S_ISREG(st.st_mode) &&
        (uintmax_t)st.st_size > RECORDING_MAX) {
        rt_diag_add(diag, path, 0, NULL, "%s is larger than %zu bytes (256 MiB)", path,
                    RECORDING_MAX);
        return RT_ETOOBIG;
    }
    rc = plain ? rt_file_read_plain(path, RECORDING_MAX, data, len, why)
               : rt_file_read(path, RECORDING_MAX, data, len, why);
    if (rc != RT_OK)
        rt_diag_add(diag, path, 0, NULL, "%s", why);
    return rc;
}

static int load(const char *path, bool plain, rt_recording **out, rt_diag *diag) {
    char *data = NULL;
    size_t len = 0;
    json_error_t error;
    rt_recording *r = NULL;
    json_t *root = NULL;
    int rc;

    *out = NULL;
    if ((rc = read_file(path, plain, &data, &len, diag)) != RT_OK)
        return rc;
    text t;
    root = parse(data, len, &t, &error);
    free(data);
    if (!root) {
        if (json_error_code(&error) == json_error_out_of_memory) {
            rt_diag_add(diag, path, 0, NULL, "out of memory reading the recording");
            return RT_ENOMEM;
        }
        rt_diag_add_at(diag, path, error.line > 0 ? error.line : 1,
                       error.column > 0 ? error.column : 1, NULL, "%s", error.text);
        return RT_ESYNTAX;
    }
    checker c = {.file = path, .diag = diag};
    check_document(&c, root);
    if (c.n) {
        rc = RT_ESYNTAX;
        goto out;
    }
    r = rt_recording_new();
    r->mode = RT_RECORDING_REPLAY;
    if ((rc = build(r, root, &t, path, diag)) != RT_OK)
        goto out;
    *out = r;
    r = NULL;
out:
    free(t.spans);
    free(t.compact);
    rt_recording_free(r);
    json_decref(root);
    return rc;
}

int rt_recording_load(const char *path, rt_recording **out, rt_diag *diag) {
    return load(path, false, out, diag);
}

int rt_recording_load_plain(const char *path, rt_recording **out, rt_diag *diag) {
    return load(path, true, out, diag);
}
