/* integrations/ig_store.c -- calls of the function library ig_store.lua (embedded in the binary)
 * and the verdicts people give on analyses. The library is loaded and called through
 * runtime/rt_fnlib.c, as the post-processor's is. The insights' side is ig_insights.c; the API
 * over both is ig_api_feedback.c and ig_api_insights.c. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_store.h"
#include "rt_fnlib.h"

extern const char ig_store_lua[];
extern const size_t ig_store_lua_len;

struct ig_store {
    rt_fnlib *lib;
    rt_redis *redis;
    char prefix[160]; /* "{name}:" */
};

ig_store *ig_store_new(rt_redis *redis, const char *prefix) {
    ig_store *st = rt_xcalloc(1, sizeof *st);
    st->redis = redis;
    snprintf(st->prefix, sizeof st->prefix, "{%s}:", prefix && *prefix ? prefix : "inquest");
    st->lib = rt_fnlib_new(redis, st->prefix, ig_store_lua, ig_store_lua_len);
    return st;
}

void ig_store_free(ig_store *st) {
    if (!st)
        return;
    rt_fnlib_free(st->lib); /* its calls out still hear RT_ECANCELED */
    free(st);
}

void ig_store_key(const ig_store *st, const char *what, char *out, size_t size) {
    snprintf(out, size, "%s%s", st->prefix, what);
}

rt_redis *ig_store_redis(ig_store *st) {
    return st->redis;
}

void ig_store_escape(const char *s, size_t cap, char *out, size_t size) {
    size_t n = rt_utf8_cut(s, strlen(s), cap), o = 0;
    for (size_t i = 0; i < n && o + 4 <= size; i++) {
        if (s[i] == '%' || s[i] == '|')
            o += (size_t)snprintf(out + o, size - o, "%%%02X", (unsigned char)s[i]);
        else
            out[o++] = s[i];
    }
    out[o < size ? o : size - 1] = '\0';
}

void ig_store_unescape(char *s) {
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '%' && r[1] == '2' && r[2] == '5')
            *w++ = '%', r += 2;
        else if (r[0] == '%' && r[1] == '7' && r[2] == 'C')
            *w++ = '|', r += 2;
        else
            *w++ = *r;
    }
    *w = '\0';
}

int ig_store_call(ig_store *st, const char *fn, int nkeys, const char *const *keys, int nargs,
                  const char *const *args, ig_store_fn done, void *ud) {
    return rt_fnlib_call(st->lib, fn, nkeys, keys, nargs, args, done, ud);
}

/* ---- verdicts ------------------------------------------------------------------------------- */

/* True when 'cause' is a root cause tag as analyzers write them (bad_deploy, db.saturation). */
static bool tag_ok(const char *cause) {
    size_t n = strlen(cause);
    return n > 0 && n <= IG_CAUSE_MAX &&
           strspn(cause, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/-") ==
               n;
}

const char *ig_feedback_problem(const char *verdict, const char *root_cause, const char *note,
                                const char **field) {
    *field = "verdict";
    if (!verdict)
        return "required: correct, wrong or partly";
    if (strcmp(verdict, "correct") != 0 && strcmp(verdict, "wrong") != 0 &&
        strcmp(verdict, "partly") != 0)
        return "must be correct, wrong or partly";
    *field = "root_cause";
    if (root_cause && *root_cause && strcmp(verdict, "correct") == 0)
        return "goes with a wrong or partly verdict: the root cause it should have been";
    if (root_cause && *root_cause && !tag_ok(root_cause))
        return "must be a tag of 1 to 128 letters, digits and _ . : / - (bad_deploy)";
    *field = "note";
    if (note && strlen(note) > IG_NOTE_MAX)
        return "at most 2000 bytes";
    *field = NULL;
    return NULL;
}

int ig_feedback_record(ig_store *st, const ig_verdict *v, double ttl, double retention,
                       ig_store_fn done, void *ud) {
    char k_list[256], k_log[192], k_status[256], ttl_ms[32], end_ms[32], retention_ms[32];
    char day[9], analyzer[3 * 256 + 1];
    double day_end;
    const char *field;
    if (ig_feedback_problem(v->verdict, v->root_cause, v->note, &field) || strlen(v->id) > 64)
        return RT_EINPUT;
    snprintf(k_list, sizeof k_list, "%sfb:%s", st->prefix, v->id);
    snprintf(k_status, sizeof k_status, "%sa:%s", st->prefix, v->id);
    ig_store_key(st, "fb:log", k_log, sizeof k_log);
    ig_day_of(v->finished_at > 0 ? v->finished_at : rt_wallclock(), day, &day_end);
    ig_store_escape(v->analyzer, 256, analyzer, sizeof analyzer);
    snprintf(ttl_ms, sizeof ttl_ms, "%.0f", ttl * 1000);
    snprintf(end_ms, sizeof end_ms, "%.0f", day_end);
    snprintf(retention_ms, sizeof retention_ms, "%.0f", retention * 1000);
    const char *keys[] = {k_list, k_log, k_status};
    const char *args[] = {v->id,
                          v->verdict,
                          v->root_cause ? v->root_cause : "",
                          v->note ? v->note : "",
                          v->by ? v->by : "anonymous",
                          ttl_ms,
                          analyzer,
                          day,
                          end_ms,
                          retention_ms};
    return ig_store_call(st, "inquest_ig_feedback", 3, keys, 10, args, done, ud);
}

/* RFC 3339 with milliseconds from Unix milliseconds in text. */
static void set_ms(json_t *o, const char *key, const char *ms) {
    char text[40];
    double t = ms ? atof(ms) / 1000 : 0;
    if (t > 0) {
        rt_time_format(floor(t * 1000) / 1000, text);
        json_object_set_new(o, key, json_string(text));
    }
}

json_t *ig_feedback_entry_json(const redisReply *e) {
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    const redisReply *f = e->element[1];
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_string(e->element[0]->str));
    char ms[32];
    snprintf(ms, sizeof ms, "%.*s", (int)strcspn(e->element[0]->str, "-"), e->element[0]->str);
    set_ms(o, "at", ms);
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
            json_object_set_new(o, k->str, v->len ? rt_json_text(v->str, v->len) : json_null());
    }
    return o;
}

json_t *ig_feedback_record_json(const char *text, size_t len) {
    json_t *o = json_loadb(text, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    /* The library's own members become the API's: at as a time, empty texts as null. */
    json_t *at = json_object_get(o, "at");
    if (json_is_string(at)) {
        char ms[32];
        snprintf(ms, sizeof ms, "%s", json_string_value(at));
        json_object_del(o, "at");
        set_ms(o, "at", ms);
    }
    json_object_del(o, "day");
    const char *empty[] = {"root_cause", "note", "team"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(o, empty[i]);
        if (!json_is_string(v) || !*json_string_value(v))
            json_object_set_new(o, empty[i], json_null());
    }
    return o;
}
