/* postproc/pp_rules.c -- which rules a finished analysis satisfies, and the values templates
 * take from it ({{ labels.service }}, {{ finding.title }}, …: docs/config.md, rules). The root
 * cause is the top finding's (the one severity and min_confidence judge too); the conclusion is
 * the result's tag ("root_cause_found"). What the
 * matching rules do is built in pp_actions.c. */
#define _POSIX_C_SOURCE 200809L
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "pp.h"

/* ---- the analysis ------------------------------------------------------------------------------
 */

static json_t *object_or_empty(const char *text, size_t len) {
    json_t *v = text ? json_loadb(text, len, 0, NULL) : NULL;
    if (json_is_object(v))
        return v;
    json_decref(v);
    return json_object();
}

void pp_analysis_init(pp_analysis *a, const char *id, const char *analyzer, const char *team,
                      const char *status, const char *labels, const char *result, size_t result_len,
                      const char *base_url) {
    memset(a, 0, sizeof *a);
    snprintf(a->id, sizeof a->id, "%s", id);
    a->analyzer = rt_xstrdup(analyzer ? analyzer : "");
    a->team = rt_xstrdup(team ? team : "");
    a->status = rt_xstrdup(status ? status : "");
    a->labels = object_or_empty(labels, labels ? strlen(labels) : 0);
    a->result = object_or_empty(result, result_len);
    a->top = pp_top_finding(a->result);
    a->url = rt_analysis_url(base_url, id);
}

void pp_analysis_free(pp_analysis *a) {
    if (!a)
        return;
    free(a->analyzer);
    free(a->team);
    free(a->status);
    free(a->url);
    json_decref(a->result);
    json_decref(a->labels);
    memset(a, 0, sizeof *a);
}

/* ---- findings ------------------------------------------------------------------------------- */

static int severity_rank(const json_t *finding) {
    const char *s = json_string_value(json_object_get(finding, "severity"));
    for (int i = 0; s && rt_severities[i]; i++)
        if (strcmp(s, rt_severities[i]) == 0)
            return i;
    return -1;
}

static double confidence_of(const json_t *finding) {
    json_t *c = json_object_get(finding, "confidence");
    return json_is_number(c) ? json_number_value(c) : 0;
}

/* True when finding 'x' ranks before 'y': higher severity, then higher confidence. */
static bool ranks_before(const json_t *x, const json_t *y) {
    int sx = severity_rank(x), sy = severity_rank(y);
    if (sx != sy)
        return sx > sy;
    return confidence_of(x) > confidence_of(y);
}

size_t pp_findings_ranked(const json_t *result, const json_t **out, size_t max) {
    const json_t *findings = json_object_get(result, "findings"), *f;
    size_t n = 0, i;
    /* An insertion sort that keeps the analyzer's order among equals; there are few findings. */
    json_array_foreach(findings, i, f) {
        if (!json_is_object(f))
            continue;
        size_t at = n < max ? n : max;
        while (at > 0 && ranks_before(f, out[at - 1]))
            at--;
        if (at >= max)
            continue;
        size_t last = n < max ? n : max - 1;
        memmove(out + at + 1, out + at, (last - at) * sizeof *out);
        out[at] = f;
        if (n < max)
            n++;
    }
    return n;
}

const json_t *pp_top_finding(const json_t *result) {
    const json_t *top = NULL;
    return pp_findings_ranked(result, &top, 1) ? top : NULL;
}

/* ---- values and templates ------------------------------------------------------------------- */

/* A JSON value as template text: strings as they are, numbers and the rest as JSON. */
static char *text_of(const json_t *v) {
    if (!v || json_is_null(v))
        return rt_xstrdup("");
    if (json_is_string(v))
        return rt_xstrndup(json_string_value(v), json_string_length(v));
    if (json_is_number(v)) {
        char *t = rt_json_canonical(v);
        return t ? t : rt_xstrdup("");
    }
    char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    return t ? t : rt_xstrdup("");
}

char *pp_value(const pp_analysis *a, const char *name) {
    const json_t *conclusion = json_object_get(a->result, "conclusion");
    if (strcmp(name, "id") == 0)
        return rt_xstrdup(a->id);
    if (strcmp(name, "url") == 0)
        return rt_xstrdup(a->url);
    if (strcmp(name, "analyzer") == 0)
        return rt_xstrdup(a->analyzer);
    if (strcmp(name, "status") == 0)
        return rt_xstrdup(a->status);
    /* The cause the analysis found (its top finding's), not how it concluded: a rule that
     * says root_cause: bad_deploy means the deploy, whatever the conclusion's tag. */
    if (strcmp(name, "root_cause") == 0)
        return text_of(json_object_get(a->top, "root_cause"));
    if (strcmp(name, "conclusion") == 0)
        return text_of(json_object_get(conclusion, "tag"));
    if (strcmp(name, "summary") == 0)
        return text_of(json_object_get(conclusion, "summary"));
    if (strncmp(name, "labels.", 7) == 0)
        return text_of(json_object_get(a->labels, name + 7));
    if (strncmp(name, "inputs.", 7) == 0)
        return text_of(json_object_get(json_object_get(a->result, "inputs"), name + 7));
    if (strncmp(name, "finding.", 8) == 0)
        return text_of(json_object_get(a->top, name + 8));
    return rt_xstrdup("");
}

char *pp_render(const char *text, const pp_analysis *a) {
    size_t cap = strlen(text) + 64, n = 0;
    char *out = rt_xmalloc(cap);
    const char *p = text;
    for (;;) {
        const char *open = strstr(p, "{{"), *close = open ? strstr(open + 2, "}}") : NULL;
        const char *end = close ? open : p + strlen(p);
        char *value = NULL;
        if (close) {
            const char *s = open + 2, *e = close;
            while (s < e && *s == ' ')
                s++;
            while (e > s && e[-1] == ' ')
                e--;
            char *name = rt_xstrndup(s, (size_t)(e - s));
            value = pp_value(a, name);
            free(name);
        }
        size_t need = (size_t)(end - p) + (value ? strlen(value) : 0) + 1;
        if (n + need > cap) {
            cap = (n + need) * 2;
            out = rt_xrealloc(out, cap);
        }
        memcpy(out + n, p, (size_t)(end - p));
        n += (size_t)(end - p);
        if (value) {
            memcpy(out + n, value, strlen(value));
            n += strlen(value);
            free(value);
        }
        if (!close)
            break;
        p = close + 2;
    }
    out[n] = '\0';
    return out;
}

/* ---- rules ---------------------------------------------------------------------------------- */

static bool in_set(unsigned bits, const char *const *names, const char *value) {
    for (int i = 0; value && names[i]; i++)
        if (strcmp(names[i], value) == 0)
            return bits & (1u << i);
    return false;
}

bool pp_rule_matches(const rt_rule *r, const pp_analysis *a) {
    const rt_rule_match *m = &r->match;
    const char *tag =
        json_string_value(json_object_get(json_object_get(a->result, "conclusion"), "tag"));
    if (m->analyzer && fnmatch(m->analyzer, a->analyzer, 0) != 0)
        return false;
    if (m->status && !in_set(m->status, rt_result_statuses, a->status))
        return false;
    const char *cause = json_string_value(json_object_get(a->top, "root_cause"));
    if (m->conclusion && (!tag || fnmatch(m->conclusion, tag, 0) != 0))
        return false;
    if (m->root_cause && (!cause || fnmatch(m->root_cause, cause, 0) != 0))
        return false;
    if (m->severity &&
        !in_set(m->severity, rt_severities, json_string_value(json_object_get(a->top, "severity"))))
        return false;
    if (m->min_confidence > 0 && (!a->top || confidence_of(a->top) < m->min_confidence))
        return false;
    for (size_t i = 0; i < m->n_labels; i++) {
        const rt_matcher *lm = &m->labels[i];
        if (!rt_matcher_matches(lm, json_string_value(json_object_get(a->labels, lm->name))))
            return false;
    }
    return true;
}
