/* postproc/pp_audit.c -- the audit log as people read it: each entry of the stream {P}:audit
 * (written by pp_chain.lua in the same call as the transition it records) as one JSON object,
 * for `GET /v1/audit` (JSON lines) and `inquest actions audit`. The stream is append-only and
 * trimmed only by age (postproc.audit_retention). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pp.h"

json_t *pp_audit_json(const redisReply *entry) {
    static const char *const fields[] = {"action", "analysis", "analyzer", "team",
                                         "rule",   "type",     "name",     "service",
                                         "from",   "to",       "actor",    "reason"};
    if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    const redisReply *f = entry->element[1];
    json_t *o = json_pack("{s:s}", "seq", entry->element[0]->str);
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "at") == 0) {
            char text[40];
            rt_time_format(atof(v->str) / 1000, text);
            json_object_set_new(o, "at", json_string(text));
            continue;
        }
        for (size_t j = 0; j < sizeof fields / sizeof fields[0]; j++)
            if (strcmp(k->str, fields[j]) == 0)
                json_object_set_new(o, fields[j], rt_json_text(v->str, v->len));
    }
    return o;
}

void pp_audit_since(double since, char *out, size_t size) {
    snprintf(out, size, "%.0f-0", since > 0 ? floor(since * 1000) : 0);
}
