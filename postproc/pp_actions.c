/* postproc/pp_actions.c -- the call each action type makes, built from an analysis and the
 * action's arguments, shaped as the target's documented API wants it:
 *   incident_note  PagerDuty REST v2 POST /incidents/{id}/notes {"note":{"content"}} with From,
 *                  or Opsgenie POST /v2/alerts/{id}/notes?identifierType=id {note,user,source}
 *   slack          an incoming webhook: {"text", "blocks"} in Block Kit (header, mrkdwn sections)
 *   ticket         GitHub POST /repos/{owner}/{repo}/issues, or Jira POST /rest/api/2/issue
 *   webhook        the operator's endpoint: the analysis as inquest.action/v1
 *   silence        Alertmanager API v2 POST /api/v2/silences
 *   mitigation     the operator's endpoint with typed arguments
 * Limits of the targets (Slack's 50 blocks and 3000 characters, Jira's 255) are kept here, so
 * that a call is never refused for its size. Which rules apply is pp_rules.c; running the calls
 * is pp_postproc.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "pp.h"

/* ---- small helpers ------------------------------------------------------------------------- */

void pp_action_id(const char *analysis, const char *rule, size_t index, char out[PP_ID_SIZE]) {
    char text[512], hash[72];
    int n = snprintf(text, sizeof text, "%s%c%s%c%zu", analysis, 0, rule, 0, index);
    rt_sha256_hex(text, n > 0 && (size_t)n < sizeof text ? (size_t)n : sizeof text - 1, hash);
    snprintf(out, PP_ID_SIZE, "%.24s", hash + 7);
}

/* The action's argument 'name' rendered over 'a', or 'fallback' rendered (NULL: ""). */
static char *arg(const rt_action *ac, const pp_analysis *a, const char *name,
                 const char *fallback) {
    for (size_t i = 0; i < ac->n_args; i++)
        if (strcmp(ac->args[i].name, name) == 0)
            return pp_render(ac->args[i].text, a);
    return fallback ? pp_render(fallback, a) : rt_xstrdup("");
}

/* 's' %-escaped for a path segment or a query value (RFC 3986 unreserved kept). */
static char *escape(const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    char *out = rt_xmalloc(strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            *o++ = (char)*p;
        else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *out = rt_xmalloc((size_t)(n > 0 ? n : 0) + 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
    va_end(ap);
    return out;
}

/* The bytes of the first 'chars' characters of 's' ('len' bytes, UTF-8). */
static size_t prefix_bytes(const char *s, size_t len, size_t chars) {
    size_t bytes = 0;
    for (size_t n = 0; bytes < len && n < chars; n++) {
        bytes++;
        while (bytes < len && ((unsigned char)s[bytes] & 0xC0) == 0x80)
            bytes++;
    }
    return bytes;
}

/* A JSON string of the first 'bytes' of 's' and "…". */
static json_t *ellipsized(const char *s, size_t bytes) {
    char *cut = format("%.*s…", (int)bytes, s);
    json_t *out = rt_json_text(cut, strlen(cut));
    free(cut);
    return out;
}

/* A JSON string of 's' cut to 'max' characters (not bytes: the targets count characters),
 * ending in "…" when cut. */
static json_t *text_max(const char *s, size_t max) {
    size_t len = strlen(s);
    if (rt_utf8_count(s, len) <= max)
        return rt_json_text(s, len);
    return ellipsized(s, prefix_bytes(s, len, max - 1));
}

/* Slack mrkdwn treats &, < and > as control characters: text from analyses is escaped. */
static char *slack_escape(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '&' ? 5 : (*p == '<' || *p == '>') ? 4 : 1;
    char *out = rt_xmalloc(n + 1), *o = out;
    for (const char *p = s; *p; p++) {
        const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
        if (rep) {
            memcpy(o, rep, strlen(rep));
            o += strlen(rep);
        } else
            *o++ = *p;
    }
    *o = '\0';
    return out;
}

static const char *str(const json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* "root_cause_found" or "no conclusion". */
static const char *conclusion_tag(const pp_analysis *a) {
    const char *t = str(json_object_get(a->result, "conclusion"), "tag");
    return *t ? t : "no conclusion";
}

/* The text of notes and tickets: what was concluded, the top findings, and the link. */
static char *report_text(const pp_analysis *a, bool markdown) {
    const json_t *ranked[PP_SLACK_FINDING];
    size_t n = pp_findings_ranked(a->result, ranked, PP_SLACK_FINDING);
    const char *summary = str(json_object_get(a->result, "conclusion"), "summary");
    char *out = format("Inquest analysis %s (%s): %s, %s%s%s\n", a->id, a->analyzer, a->status,
                       conclusion_tag(a), *summary ? " - " : "", summary);
    for (size_t i = 0; i < n; i++) {
        double conf = json_number_value(json_object_get(ranked[i], "confidence"));
        const char *s = str(ranked[i], "summary");
        char *line = format("%s%s [%s, confidence %.0f%%]%s%s\n", markdown ? "- " : "* ",
                            str(ranked[i], "title"), str(ranked[i], "severity"), conf * 100,
                            *s ? ": " : "", s);
        char *joined = format("%s%s", out, line);
        free(out);
        free(line);
        out = joined;
    }
    char *joined = format("%sDetails: %s", out, a->url);
    free(out);
    return joined;
}

/* Parses a rendered typed argument 'text' of 'type'; NULL when it is not one. */
static json_t *typed(const char *text, rt_arg_type type) {
    char *end = NULL;
    errno = 0;
    switch (type) {
    case RT_ARG_INT: {
        long long v = strtoll(text, &end, 10);
        return *text && !*end && !errno ? json_integer(v) : NULL;
    }
    case RT_ARG_NUMBER: {
        double v = strtod(text, &end);
        return *text && !*end && !errno && isfinite(v) ? json_real(v) : NULL;
    }
    case RT_ARG_BOOL:
        return strcmp(text, "true") == 0    ? json_true()
               : strcmp(text, "false") == 0 ? json_false()
                                            : NULL;
    case RT_ARG_STRING:
        break;
    }
    return rt_json_text(text, strlen(text));
}

/* ---- the types ------------------------------------------------------------------------------ */

typedef struct build {
    const rt_config *c;
    const rt_rule *r;
    const rt_action *ac;
    const pp_analysis *a;
    pp_plan *p;
    char *why;
} build;

static int refuse(build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(build *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->why, 256, fmt, ap);
    va_end(ap);
    return RT_EINPUT;
}

static int incident_note(build *b) {
    char *tool = arg(b->ac, b->a, "tool", "pagerduty");
    char *id = arg(b->ac, b->a, "incident_id", b->c->postproc.incident_id);
    char *content = arg(b->ac, b->a, "content", NULL);
    int rc = RT_OK;
    if (!*content) {
        free(content);
        content = report_text(b->a, false);
    }
    char *eid = escape(id);
    if (!*id)
        rc = refuse(b, "no incident id: the analysis has no value for '%s'",
                    b->c->postproc.incident_id);
    else if (strcmp(tool, "pagerduty") == 0) {
        char *from = arg(b->ac, b->a, "from", NULL);
        if (!*from)
            rc = refuse(b, "a PagerDuty note needs args.from: the email of a PagerDuty user");
        b->p->path = format("/incidents/%s/notes", eid);
        json_object_set_new(b->p->headers, "From", json_string(from));
        json_object_set_new(b->p->headers, "Accept",
                            json_string("application/vnd.pagerduty+json;version=2"));
        b->p->body = json_pack("{s:{s:o}}", "note", "content", text_max(content, PP_NOTE_MAX));
        free(from);
    } else if (strcmp(tool, "opsgenie") == 0) {
        char *user = arg(b->ac, b->a, "user", "inquest");
        b->p->path = format("/v2/alerts/%s/notes?identifierType=id", eid);
        b->p->body = json_pack("{s:o, s:o, s:s}", "note", text_max(content, PP_NOTE_MAX), "user",
                               text_max(user, PP_OPSGENIE_USER), "source", "inquest");
        free(user);
    } else
        rc = refuse(b, "args.tool must be pagerduty or opsgenie, not '%s'", tool);
    b->p->summary = format("note on %s incident %s", tool, id);
    free(eid);
    free(tool);
    free(id);
    free(content);
    return rc;
}

/* Escaped mrkdwn 'text' cut to 'max' characters like text_max, but never inside an entity
 * ("&amp;" cut to "&am" would show as text, or join what follows). */
static json_t *slack_text_max(const char *text, size_t max) {
    size_t len = strlen(text);
    if (rt_utf8_count(text, len) <= max)
        return rt_json_text(text, len);
    size_t bytes = prefix_bytes(text, len, max - 1);
    for (size_t back = 1; back <= 4 && back <= bytes; back++) {
        char c = text[bytes - back];
        if (c == ';')
            break;
        if (c == '&') {
            bytes -= back;
            break;
        }
    }
    return ellipsized(text, bytes);
}

static json_t *slack_section(const char *mrkdwn) {
    return json_pack("{s:s, s:{s:s, s:o}}", "type", "section", "text", "type", "mrkdwn", "text",
                     slack_text_max(mrkdwn, PP_SLACK_TEXT));
}

static json_t *slack_blocks(const pp_analysis *a, const char *heading) {
    json_t *blocks = json_array();
    const json_t *ranked[PP_SLACK_FINDING];
    size_t n = pp_findings_ranked(a->result, ranked, PP_SLACK_FINDING);
    json_array_append_new(blocks,
                          json_pack("{s:s, s:{s:s, s:o}}", "type", "header", "text", "type",
                                    "plain_text", "text", text_max(heading, PP_SLACK_HEADER)));
    char *summary = slack_escape(str(json_object_get(a->result, "conclusion"), "summary"));
    char *analyzer = slack_escape(a->analyzer);
    char *status = slack_escape(a->status), *tag = slack_escape(conclusion_tag(a));
    char *head =
        format("*%s* ended *%s*: `%s`%s%s", analyzer, status, tag, *summary ? "\n" : "", summary);
    free(status);
    free(tag);
    json_array_append_new(blocks, slack_section(head));
    for (size_t i = 0; i < n && json_array_size(blocks) < PP_SLACK_BLOCKS - 1; i++) {
        char *title = slack_escape(str(ranked[i], "title"));
        char *text = slack_escape(str(ranked[i], "summary"));
        double conf = json_number_value(json_object_get(ranked[i], "confidence"));
        char *severity = slack_escape(str(ranked[i], "severity"));
        char *line = format("*%s*\n%s, confidence %.0f%%%s%s", title, severity, conf * 100,
                            *text ? "\n" : "", text);
        json_array_append_new(blocks, slack_section(line));
        free(severity);
        free(title);
        free(text);
        free(line);
    }
    char *link = format("<%s|Open the analysis>", a->url);
    json_array_append_new(blocks, slack_section(link));
    free(link);
    free(head);
    free(summary);
    free(analyzer);
    return blocks;
}

static int slack(build *b) {
    char *heading = arg(b->ac, b->a, "title", "Inquest: {{ analyzer }}");
    char *raw = format("Inquest: %s ended %s (%s): %s", b->a->analyzer, b->a->status,
                       conclusion_tag(b->a), b->a->url);
    char *fallback = slack_escape(raw); /* the notification's text is mrkdwn too */
    free(raw);
    b->p->path = rt_xstrdup(""); /* the webhook's URL is the connector's: its path is a secret */
    b->p->body = json_pack("{s:o, s:o}", "text", slack_text_max(fallback, PP_SLACK_TEXT), "blocks",
                           slack_blocks(b->a, heading));
    b->p->summary = format("slack message to %s", b->ac->connector);
    free(heading);
    free(fallback);
    return RT_OK;
}

/* "a, b,c" as a JSON array of the non-empty, trimmed items. */
static json_t *comma_list(const char *text) {
    json_t *list = json_array();
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, ",");
        const char *s = p, *e = p + n;
        while (s < e && *s == ' ')
            s++;
        while (e > s && e[-1] == ' ')
            e--;
        if (e > s)
            json_array_append_new(list, rt_json_text(s, (size_t)(e - s)));
        p += n + (p[n] == ',');
    }
    return list;
}

/* Jira refuses a label with a space: each becomes '_'. Steals and returns 'list'. */
static json_t *no_spaces(json_t *list) {
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        char *t = rt_xstrdup(json_string_value(v));
        for (char *c = t; *c; c++)
            if (*c == ' ' || *c == '\t')
                *c = '_';
        json_string_set(v, t);
        free(t);
    }
    return list;
}

static int ticket(build *b) {
    char *tracker = arg(b->ac, b->a, "tracker", "github");
    const char *top = b->a->top ? str(b->a->top, "title") : conclusion_tag(b->a);
    char *deftitle = format("[inquest] %s: %s", b->a->analyzer, top);
    char *title = arg(b->ac, b->a, "title", NULL);
    char *body = arg(b->ac, b->a, "body", NULL);
    char *labels = arg(b->ac, b->a, "labels", NULL);
    int rc = RT_OK;
    if (!*body) {
        free(body);
        body = report_text(b->a, true);
    }
    const char *t = *title ? title : deftitle;
    if (strcmp(tracker, "github") == 0) {
        char *repo = arg(b->ac, b->a, "repository", NULL);
        const char *slash = strchr(repo, '/');
        static const char ok[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
        if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/') ||
            strspn(repo, ok) != (size_t)(slash - repo) ||
            strspn(slash + 1, ok) != strlen(slash + 1) || strstr(repo, "..") || slash - repo > 39 ||
            strlen(slash + 1) > 100)
            rc = refuse(b, "a GitHub ticket needs args.repository as owner/repo, got '%s'", repo);
        b->p->path = format("/repos/%s/issues", repo); /* owner and repo names need no escaping */
        json_object_set_new(b->p->headers, "Accept", json_string("application/vnd.github+json"));
        b->p->body = json_pack("{s:o, s:o, s:o}", "title", text_max(t, PP_TITLE_MAX), "body",
                               text_max(body, 65536), "labels", comma_list(labels));
        b->p->summary = format("GitHub issue in %s", repo);
        free(repo);
    } else if (strcmp(tracker, "jira") == 0) {
        char *project = arg(b->ac, b->a, "project", NULL);
        char *type = arg(b->ac, b->a, "issue_type", "Bug");
        if (!*project)
            rc = refuse(b, "a Jira ticket needs args.project (the project key)");
        b->p->path = rt_xstrdup("/rest/api/2/issue");
        b->p->body =
            json_pack("{s:{s:{s:s}, s:o, s:o, s:{s:s}, s:o}}", "fields", "project", "key", project,
                      "summary", text_max(t, PP_TITLE_MAX), "description", text_max(body, 32767),
                      "issuetype", "name", type, "labels", no_spaces(comma_list(labels)));
        b->p->summary = format("Jira issue in %s", project);
        free(project);
        free(type);
    } else
        rc = refuse(b, "args.tracker must be github or jira, not '%s'", tracker);
    free(tracker);
    free(deftitle);
    free(title);
    free(body);
    free(labels);
    return rc;
}

/* The analysis as webhooks and mitigations receive it. */
static json_t *analysis_json(const pp_analysis *a) {
    json_t *conclusion = json_object_get(a->result, "conclusion");
    return json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:O}", "id", a->id, "url", a->url, "analyzer",
                     a->analyzer, "status", a->status, "conclusion",
                     conclusion ? conclusion : json_null(), "top_finding",
                     a->top ? a->top : json_null(), "labels", a->labels);
}

static json_t *rendered_args(const rt_action *ac, const pp_analysis *a) {
    json_t *args = json_object();
    for (size_t i = 0; i < ac->n_args; i++) {
        char *v = pp_render(ac->args[i].text, a);
        json_object_set_new(args, ac->args[i].name, rt_json_text(v, strlen(v)));
        free(v);
    }
    return args;
}

static int webhook(build *b) {
    b->p->path = b->ac->path ? pp_render(b->ac->path, b->a) : rt_xstrdup("/");
    b->p->body = json_pack("{s:s, s:s, s:s, s:o, s:o}", "schema", "inquest.action/v1", "id",
                           b->p->id, "rule", b->r->name, "analysis", analysis_json(b->a), "args",
                           rendered_args(b->ac, b->a));
    b->p->summary = format("webhook to %s", b->ac->connector);
    return RT_OK;
}

/* Matchers "name=value, name=~regex, name!=v, name!~re" as Alertmanager's. An equality with
 * an empty value names a label the analysis lacks: the silence is refused rather than made
 * wider by leaving it out. */
static int silence_matchers(build *b, const char *text, json_t **out) {
    json_t *list = comma_list(text), *m, *matchers = json_array();
    size_t i;
    int rc = RT_OK;
    json_array_foreach(list, i, m) {
        const char *s = json_string_value(m), *op, *value;
        size_t n = strcspn(s, "=!");
        op = s + n;
        bool ne = *op == '!', re = *op && op[1] == '~';
        if (n == 0 || !*op || (ne && op[1] != '=' && op[1] != '~')) {
            rc = refuse(b,
                        "args.matchers: '%s' is not name=value, name!=value, name=~re or "
                        "name!~re",
                        s);
            break;
        }
        value = op + (ne || re ? 2 : 1);
        size_t vlen = strlen(value), nlen = n;
        while (nlen > 0 && s[nlen - 1] == ' ')
            nlen--;
        while (*value == ' ')
            value++, vlen--;
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"')
            value++, vlen -= 2;
        if (vlen == 0 && !ne && !re) { /* dropping it would silence more than meant */
            rc = refuse(b,
                        "args.matchers: '%.*s' has no value (the analysis lacks the label): a "
                        "silence is never widened",
                        (int)nlen, s);
            break;
        }
        json_array_append_new(matchers,
                              json_pack("{s:s%, s:s%, s:b, s:b}", "name", s, nlen, "value", value,
                                        vlen, "isRegex", re, "isEqual", !ne));
    }
    json_decref(list);
    if (rc == RT_OK && json_array_size(matchers) == 0)
        rc = refuse(b, "a silence needs at least one matcher (args.matchers)");
    if (rc != RT_OK)
        json_decref(matchers);
    else
        *out = matchers;
    return rc;
}

static int silence(build *b) {
    char *text = arg(b->ac, b->a, "matchers",
                     "alertname={{ labels.alertname }}, service={{ labels.service }}");
    char *duration = arg(b->ac, b->a, "duration", "1h");
    char *by = arg(b->ac, b->a, "created_by", "inquest");
    char *comment = arg(b->ac, b->a, "comment", NULL);
    char why[256], starts[40], ends[40];
    double seconds = 0, now = floor(rt_wallclock());
    json_t *matchers = NULL;
    int rc = silence_matchers(b, text, &matchers);
    if (rc == RT_OK && (rt_duration_parse(duration, &seconds, why) != 0 || seconds <= 0))
        rc = refuse(b, "args.duration: '%s' is not a duration", duration);
    if (!*comment) {
        free(comment);
        comment = format("Inquest analysis %s concluded %s: %s", b->a->id, conclusion_tag(b->a),
                         b->a->url);
    }
    rt_time_format(now, starts);
    rt_time_format(now + seconds, ends);
    b->p->path = rt_xstrdup("/api/v2/silences");
    if (rc == RT_OK)
        b->p->body = json_pack("{s:o, s:s, s:s, s:s, s:s}", "matchers", matchers, "startsAt",
                               starts, "endsAt", ends, "createdBy", by, "comment", comment);
    else
        json_decref(matchers);
    b->p->summary = format("silence for %s: %s", duration, text);
    free(text);
    free(duration);
    free(by);
    free(comment);
    return rc;
}

static int mitigation(build *b) {
    json_t *args = json_object();
    int rc = RT_OK;
    for (size_t i = 0; i < b->ac->n_args && rc == RT_OK; i++) {
        const rt_template *t = &b->ac->args[i];
        char *v = pp_render(t->text, b->a);
        rt_arg_type type = rt_arg_type_of(b->ac, t->name);
        json_t *value = typed(v, type);
        if (!value)
            rc = refuse(b, "argument %s: '%.64s' is not %s", t->name, v,
                        type == RT_ARG_INT      ? "a whole number"
                        : type == RT_ARG_NUMBER ? "a number"
                                                : "true or false");
        else
            json_object_set_new(args, t->name, value);
        free(v);
    }
    if (rc == RT_OK && !*b->p->service)
        rc = refuse(b, "no service: the mitigation's service template is empty for this analysis");
    b->p->path = b->ac->path ? pp_render(b->ac->path, b->a) : rt_xstrdup("/");
    b->p->body = json_pack("{s:s, s:s, s:s, s:s, s:o}", "action", b->p->name, "service",
                           b->p->service, "analysis", b->a->id, "url", b->a->url, "args", args);
    b->p->summary = format("%s on %s", b->p->name, b->p->service);
    return rc;
}

int pp_plan_build(const rt_config *c, const rt_rule *r, size_t index, const pp_analysis *a,
                  pp_plan *p, char *why) {
    const rt_action *ac = &r->actions[index];
    build b = {c, r, ac, a, p, why};
    memset(p, 0, sizeof *p);
    pp_action_id(a->id, r->name, index, p->id);
    p->type = ac->type;
    p->headers = json_object();
    p->name = rt_xstrdup(ac->type == RT_ACTION_MITIGATION && ac->name ? ac->name
                         : ac->type == RT_ACTION_MITIGATION           ? "mitigation"
                                                            : rt_action_type_name(ac->type));
    p->service = ac->type == RT_ACTION_MITIGATION
                     ? pp_render(ac->service ? ac->service : "{{ labels.service }}", a)
                     : rt_xstrdup(json_string_value(json_object_get(a->labels, "service"))
                                      ? json_string_value(json_object_get(a->labels, "service"))
                                      : "");
    /* A mitigation or webhook always carries its key: an endpoint that honours it acts once even
     * when it is sent twice. 'idempotent' says whether it does, which decides retries. */
    if (ac->idempotent || ac->type == RT_ACTION_MITIGATION || ac->type == RT_ACTION_WEBHOOK)
        json_object_set_new(p->headers, "Idempotency-Key", json_string(p->id));
    static int (*const builders[])(build *) = {incident_note, slack,   ticket,
                                               webhook,       silence, mitigation};
    int rc = builders[ac->type](&b);
    if (!p->body)
        p->body = json_object();
    if (!p->path)
        p->path = rt_xstrdup("/");
    if (!p->summary)
        p->summary = rt_xstrdup(p->name);
    return rc;
}

void pp_plan_free(pp_plan *p) {
    if (!p)
        return;
    free(p->name);
    free(p->service);
    free(p->path);
    free(p->summary);
    json_decref(p->headers);
    json_decref(p->body);
    memset(p, 0, sizeof *p);
}

int pp_plan_retime(json_t *body, const char *type, double now) {
    char why[256], starts[40], ends[40];
    double s, e;
    if (!type || strcmp(type, rt_action_type_name(RT_ACTION_SILENCE)) != 0)
        return RT_OK;
    /* The duration is what planning put between the two times: the rendered argument is not
     * kept, and the body holds nothing Alertmanager does not take. */
    const char *st = json_string_value(json_object_get(body, "startsAt"));
    const char *et = json_string_value(json_object_get(body, "endsAt"));
    if (!st || !et || rt_time_parse(st, 0, &s, why) != 0 || rt_time_parse(et, 0, &e, why) != 0 ||
        !(e > s))
        return RT_EINPUT;
    now = floor(now);
    rt_time_format(now, starts);
    rt_time_format(now + (e - s), ends);
    json_object_set_new(body, "startsAt", json_string(starts));
    json_object_set_new(body, "endsAt", json_string(ends));
    return RT_OK;
}

json_t *pp_plan_json(const pp_plan *p) {
    return json_pack("{s:s, s:s, s:O, s:O}", "method", "POST", "path", p->path, "headers",
                     p->headers, "body", p->body);
}
