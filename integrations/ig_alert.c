/* integrations/ig_alert.c -- the intake's normalisers: one per source, each turning a webhook's
 * body into alerts of the one shape of ig_intake.h. Routes over those alerts are ig_route.c.
 *
 * Every normaliser checks what it reads and stops at the first field at fault, naming it by its
 * path in the payload ("alerts[3].labels"), so that a sender's bug is found from the 400 alone.
 * Fields it does not read are not checked: senders add fields over time. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_intake.h"

/* ---- refusals ---------------------------------------------------------------------------------
 */

/* The reason of a refusal: "PATH: message". Always returns RT_EINPUT. */
static int refuse(char *why, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(char *why, const char *path, const char *fmt, ...) {
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* Paths and messages hold the sender's text (keys, values): cut at characters, as 'why'
     * goes into JSON, and short enough that 'why' itself is never cut. */
    snprintf(why, IG_INTAKE_WHY, "%.*s: %.*s", rt_utf8_fit(path, 250), path,
             rt_utf8_fit(message, 250), message);
    return RT_EINPUT;
}

/* "parent.name" or "parent[i]" into 'out' of 256 bytes, cut at characters. */
static void member_path(char *out, const char *parent, const char *name) {
    snprintf(out, 256, "%.*s%s%.*s", rt_utf8_fit(parent, 180), parent, *parent ? "." : "",
             rt_utf8_fit(name, 60), name);
}

static void index_path(char *out, const char *parent, size_t i) {
    snprintf(out, 256, "%.*s[%zu]", rt_utf8_fit(parent, 200), parent, i);
}

/* ---- reading members --------------------------------------------------------------------------
 */

/* The string member 'key' of 'o' into '*out' ("" when absent or null and not 'required').
 * Returns RT_OK or a refusal. */
static int text_member(const json_t *o, const char *key, const char *parent, bool required,
                       const char **out, char *why) {
    json_t *v = json_object_get(o, key);
    char path[256];
    *out = "";
    if (!v || json_is_null(v)) {
        member_path(path, parent, key);
        return required ? refuse(why, path, "required") : RT_OK;
    }
    if (!json_is_string(v)) {
        member_path(path, parent, key);
        return refuse(why, path, "not a string");
    }
    if (json_string_length(v) > IG_INTAKE_MAX_VALUE) {
        member_path(path, parent, key);
        return refuse(why, path, "longer than %d bytes", IG_INTAKE_MAX_VALUE);
    }
    *out = json_string_value(v);
    return RT_OK;
}

/* A scalar as label text: strings as they are; with 'lenient', numbers and booleans written as
 * JSON writes them (generic senders and Opsgenie details). NULL when it is not one. */
static char *scalar_text(const json_t *v, bool lenient) {
    char buf[64];
    if (json_is_string(v))
        return rt_xstrdup(json_string_value(v));
    if (!lenient)
        return NULL;
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
    else
        return NULL;
    return rt_xstrdup(buf);
}

/* Copies 'v', an object of strings at 'path', into the object 'into'. Absent or null is empty
 * unless 'required'. With 'lenient', numbers and booleans are taken as text and other values
 * skipped. Returns RT_OK or a refusal. */
static int string_map(const json_t *v, const char *path, bool required, bool lenient, json_t *into,
                      char *why) {
    const char *key;
    json_t *item;
    char here[256];
    if (!v || json_is_null(v))
        return required ? refuse(why, path, "required") : RT_OK;
    if (!json_is_object(v))
        return refuse(why, path, "not an object");
    if (json_object_size(v) > IG_INTAKE_MAX_LABELS)
        return refuse(why, path, "more than %d entries", IG_INTAKE_MAX_LABELS);
    json_object_foreach((json_t *)v, key, item) {
        char *text = scalar_text(item, lenient);
        member_path(here, path, key);
        if (!text && lenient)
            continue;
        if (!text)
            return refuse(why, here, "not a string");
        if (strlen(text) > IG_INTAKE_MAX_VALUE) {
            free(text);
            return refuse(why, here, "longer than %d bytes", IG_INTAKE_MAX_VALUE);
        }
        json_object_set_new(into, key, json_string(text));
        free(text);
    }
    return RT_OK;
}

/* The value at the dotted 'path' in 'root' ("a.b.0.c": a segment of digits indexes a list), or
 * NULL when there is none. */
static json_t *at_path(const json_t *root, const char *path) {
    const json_t *v = root;
    const char *p = path;
    while (v && *p) {
        size_t n = strcspn(p, ".");
        char seg[256];
        snprintf(seg, sizeof seg, "%.*s", (int)(n < 255 ? n : 255), p);
        if (json_is_object(v))
            v = json_object_get(v, seg);
        else if (json_is_array(v) && n > 0 && strspn(seg, "0123456789") == n)
            v = json_array_get(v, strtoul(seg, NULL, 10));
        else
            v = NULL;
        p += n;
        if (*p == '.')
            p++;
    }
    return (json_t *)v;
}

/* ---- the alert shape --------------------------------------------------------------------------
 */

/* A new alert with every member at its empty value. */
static json_t *alert_new(rt_source source) {
    return json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:s}", "source",
                     rt_source_name(source), "status", "firing", "labels", json_object(),
                     "annotations", json_object(), "startsAt", "", "endsAt", "", "fingerprint", "",
                     "incident_id", "", "groupKey", "", "generatorURL", "");
}

static void set_text(json_t *alert, const char *key, const char *value) {
    json_object_set_new(alert, key, json_string(value ? value : ""));
}

/* A fingerprint for senders without one: 16 hex digits of the SHA-256 of the sorted labels, so
 * that the same labels are the same alert in every notification (as Alertmanager's is). */
static void labels_fingerprint(json_t *alert) {
    char *text = rt_json_canonical(json_object_get(alert, "labels"));
    char hex[72];
    rt_sha256_hex(text ? text : "", text ? strlen(text) : 0, hex);
    free(text);
    hex[7 + 16] = '\0';
    set_text(alert, "fingerprint", hex + 7);
}

/* Unix seconds, or milliseconds when the number is too large to be seconds, as RFC 3339. */
static void set_epoch(json_t *alert, const char *key, double t) {
    char text[40];
    if (!(t > 0) || !isfinite(t))
        return;
    rt_time_format(t > 1e11 ? t / 1000.0 : t, text);
    set_text(alert, key, text);
}

/* ---- Alertmanager and Grafana -----------------------------------------------------------------
 */

/* One alert of an Alertmanager (version 4) or Grafana payload: 'a' at 'path'. */
static int am_alert(rt_source source, const json_t *a, const char *path, const char *group_key,
                    json_t **out, char *why) {
    const char *status, *s;
    char here[256];
    int rc;
    if (!json_is_object(a))
        return refuse(why, path, "not an object");
    if ((rc = text_member(a, "status", path, true, &status, why)) != RT_OK)
        return rc;
    if (strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0) {
        member_path(here, path, "status");
        return refuse(why, here, "must be firing or resolved");
    }
    json_t *alert = alert_new(source);
    *out = alert;
    set_text(alert, "status", status);
    set_text(alert, "groupKey", group_key);
    member_path(here, path, "labels");
    if ((rc = string_map(json_object_get(a, "labels"), here, true, false,
                         json_object_get(alert, "labels"), why)) != RT_OK)
        return rc;
    member_path(here, path, "annotations");
    if ((rc = string_map(json_object_get(a, "annotations"), here, false, false,
                         json_object_get(alert, "annotations"), why)) != RT_OK)
        return rc;
    static const char *const texts[] = {"startsAt", "endsAt", "generatorURL", "fingerprint"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        if ((rc = text_member(a, texts[i], path, false, &s, why)) != RT_OK)
            return rc;
        set_text(alert, texts[i], s);
    }
    if (!*json_string_value(json_object_get(alert, "fingerprint")))
        labels_fingerprint(alert);
    return RT_OK;
}

/* Alertmanager's webhook (version 4) and Grafana's, which has Alertmanager's shape and more. */
static int am_payload(rt_source source, const json_t *body, ig_payload *out, char *why) {
    const char *group_key, *version;
    int rc;
    if ((rc = text_member(body, "version", "", false, &version, why)) != RT_OK)
        return rc;
    if (source == RT_SOURCE_ALERTMANAGER && *version && strcmp(version, "4") != 0)
        return refuse(why, "version",
                      "expected \"4\" (Alertmanager's webhook payload), got \"%.*s\"",
                      rt_utf8_fit(version, 60), version);
    if ((rc = text_member(body, "groupKey", "", false, &group_key, why)) != RT_OK)
        return rc;
    json_t *alerts = json_object_get(body, "alerts");
    if (!alerts)
        return refuse(why, "alerts", "required");
    if (!json_is_array(alerts))
        return refuse(why, "alerts", "not a list");
    if (json_array_size(alerts) > IG_INTAKE_MAX_ALERTS)
        return refuse(why, "alerts", "more than %d alerts", IG_INTAKE_MAX_ALERTS);
    for (size_t i = 0; i < json_array_size(alerts); i++) {
        char path[256];
        json_t *alert = NULL;
        index_path(path, "alerts", i);
        rc = am_alert(source, json_array_get(alerts, i), path, group_key, &alert, why);
        if (alert)
            json_array_append_new(out->alerts, alert);
        if (rc != RT_OK)
            return rc;
    }
    return RT_OK;
}

/* ---- PagerDuty V3 -----------------------------------------------------------------------------
 */

/* The status a PagerDuty event type stands for; NULL for events that neither start nor end an
 * incident (acknowledged, unacknowledged, annotated, priority_updated, …), which are accepted
 * and ignored: an acknowledgement is no new firing, and after the dedup window it would start
 * a second analysis of the same incident. */
static const char *pagerduty_status(const char *event_type) {
    if (strcmp(event_type, "incident.triggered") == 0 ||
        strcmp(event_type, "incident.reopened") == 0)
        return "firing";
    if (strcmp(event_type, "incident.resolved") == 0)
        return "resolved";
    return NULL;
}

/* Copies the text at 'member' of 'o' (a string, or the "summary" of a reference object) to
 * label 'label' of 'alert' when there is one. */
static void label_from(json_t *alert, const char *label, const json_t *v) {
    if (json_is_object(v))
        v = json_object_get(v, "summary");
    char *text = v ? scalar_text(v, true) : NULL;
    if (text && *text && strlen(text) <= IG_INTAKE_MAX_VALUE)
        json_object_set_new(json_object_get(alert, "labels"), label, json_string(text));
    free(text);
}

static void annotation_from(json_t *alert, const char *name, const json_t *v) {
    if (json_is_string(v) && json_string_length(v) <= IG_INTAKE_MAX_VALUE)
        json_object_set(json_object_get(alert, "annotations"), name, (json_t *)v);
}

static int pagerduty_payload(const json_t *body, ig_payload *out, char *why) {
    const char *type, *id, *s;
    int rc;
    json_t *event = json_object_get(body, "event");
    if (!json_is_object(event))
        return refuse(why, "event", event ? "not an object" : "required");
    if ((rc = text_member(event, "event_type", "event", true, &type, why)) != RT_OK)
        return rc;
    const char *status = pagerduty_status(type);
    if (!status) {
        out->ignored++;
        return RT_OK;
    }
    json_t *data = json_object_get(event, "data");
    if (!json_is_object(data))
        return refuse(why, "event.data", data ? "not an object" : "required");
    if ((rc = text_member(data, "id", "event.data", true, &id, why)) != RT_OK)
        return rc;
    if (!*id)
        return refuse(why, "event.data.id", "empty");
    json_t *alert = alert_new(RT_SOURCE_PAGERDUTY);
    json_array_append_new(out->alerts, alert);
    set_text(alert, "status", status);
    set_text(alert, "fingerprint", id);
    set_text(alert, "incident_id", id);
    set_text(alert, "groupKey", id);
    label_from(alert, "event_type", json_object_get(event, "event_type"));
    label_from(alert, "service", json_object_get(data, "service"));
    label_from(alert, "urgency", json_object_get(data, "urgency"));
    label_from(alert, "priority", json_object_get(data, "priority"));
    label_from(alert, "incident_number", json_object_get(data, "number"));
    label_from(alert, "incident_key", json_object_get(data, "incident_key"));
    label_from(alert, "team", json_array_get(json_object_get(data, "teams"), 0));
    annotation_from(alert, "title", json_object_get(data, "title"));
    annotation_from(alert, "summary", json_object_get(data, "title"));
    annotation_from(alert, "description", json_object_get(data, "description"));
    if ((rc = text_member(data, "html_url", "event.data", false, &s, why)) != RT_OK)
        return rc;
    set_text(alert, "generatorURL", s);
    const char *created, *occurred;
    if ((rc = text_member(data, "created_at", "event.data", false, &created, why)) != RT_OK ||
        (rc = text_member(event, "occurred_at", "event", false, &occurred, why)) != RT_OK)
        return rc;
    /* A reopened incident is a new episode: it starts when it reopened, so that the tombstone
     * of its resolve (the queue's intake section) does not take it for a late firing. */
    bool reopened = strcmp(type, "incident.reopened") == 0;
    set_text(alert, "startsAt", *created && !(reopened && *occurred) ? created : occurred);
    if (strcmp(status, "resolved") == 0)
        set_text(alert, "endsAt", occurred);
    return RT_OK;
}

/* ---- Opsgenie ---------------------------------------------------------------------------------
 */

/* The status an Opsgenie alert action stands for; NULL for the others (Acknowledge,
 * UnAcknowledge, Escalate, notes, owners, …): only Create starts an alert, as the others are
 * no new firing and after the dedup window would start a second analysis of it. */
static const char *opsgenie_status(const char *action) {
    if (strcmp(action, "Create") == 0)
        return "firing";
    if (strcmp(action, "Close") == 0 || strcmp(action, "Delete") == 0)
        return "resolved";
    return NULL;
}

/* Tags as a label "tags" (comma-separated), and "name:value" tags as labels of their own when
 * the name is free. */
static int opsgenie_tags(const json_t *tags, json_t *labels, char *why) {
    char joined[IG_INTAKE_MAX_VALUE + 1] = "";
    size_t len = 0;
    if (!tags || json_is_null(tags))
        return RT_OK;
    if (!json_is_array(tags))
        return refuse(why, "alert.tags", "not a list");
    for (size_t i = 0; i < json_array_size(tags); i++) {
        const char *tag = json_string_value(json_array_get(tags, i));
        if (!tag) {
            char path[256];
            index_path(path, "alert.tags", i);
            return refuse(why, path, "not a string");
        }
        const char *colon = strchr(tag, ':');
        if (colon && colon > tag && (size_t)(colon - tag) < 128) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(colon - tag), tag);
            if (!json_object_get(labels, name))
                json_object_set_new(labels, name, json_string(colon + 1));
        }
        int n = snprintf(joined + len, sizeof joined - len, "%s%s", len ? "," : "", tag);
        if (n > 0 && (size_t)n < sizeof joined - len)
            len += (size_t)n;
    }
    if (len)
        json_object_set_new(labels, "tags", json_string(joined));
    return RT_OK;
}

static int opsgenie_payload(const json_t *body, ig_payload *out, char *why) {
    const char *action, *id, *alias;
    int rc;
    if ((rc = text_member(body, "action", "", true, &action, why)) != RT_OK)
        return rc;
    const char *status = opsgenie_status(action);
    if (!status) {
        out->ignored++;
        return RT_OK;
    }
    json_t *a = json_object_get(body, "alert");
    if (!json_is_object(a))
        return refuse(why, "alert", a ? "not an object" : "required");
    if ((rc = text_member(a, "alertId", "alert", true, &id, why)) != RT_OK ||
        (rc = text_member(a, "alias", "alert", false, &alias, why)) != RT_OK)
        return rc;
    if (!*id)
        return refuse(why, "alert.alertId", "empty");
    json_t *alert = alert_new(RT_SOURCE_OPSGENIE);
    json_array_append_new(out->alerts, alert);
    json_t *labels = json_object_get(alert, "labels");
    set_text(alert, "status", status);
    set_text(alert, "fingerprint", *alias ? alias : id);
    set_text(alert, "incident_id", id);
    set_text(alert, "groupKey", *alias ? alias : id);
    if ((rc = string_map(json_object_get(a, "details"), "alert.details", false, true, labels,
                         why)) != RT_OK ||
        (rc = opsgenie_tags(json_object_get(a, "tags"), labels, why)) != RT_OK)
        return rc;
    label_from(alert, "priority", json_object_get(a, "priority"));
    label_from(alert, "entity", json_object_get(a, "entity"));
    label_from(alert, "team", json_object_get(a, "team"));
    label_from(alert, "action", json_object_get(body, "action"));
    annotation_from(alert, "message", json_object_get(a, "message"));
    annotation_from(alert, "summary", json_object_get(a, "message"));
    annotation_from(alert, "description", json_object_get(a, "description"));
    annotation_from(alert, "alias", json_object_get(a, "alias"));
    annotation_from(alert, "tinyId", json_object_get(a, "tinyId"));
    json_t *created = json_object_get(a, "createdAt");
    if (created && !json_is_number(created))
        return refuse(why, "alert.createdAt", "not a number (Unix milliseconds)");
    set_epoch(alert, "startsAt", json_number_value(created));
    return RT_OK;
}

/* ---- generic ----------------------------------------------------------------------------------
 */

/* The text at mapping path 'field' of 'a' (at 'path') into member 'key' of 'alert'; times may
 * be numbers (Unix seconds or milliseconds). */
static int generic_text(const json_t *a, const char *field, const char *path, json_t *alert,
                        const char *key, bool time, char *why) {
    char here[256];
    json_t *v = field ? at_path(a, field) : NULL;
    if (!v || json_is_null(v))
        return RT_OK;
    member_path(here, path, field);
    if (time && json_is_number(v)) {
        set_epoch(alert, key, json_number_value(v));
        return RT_OK;
    }
    char *text = scalar_text(v, true);
    if (!text)
        return refuse(why, here, "not a string");
    if (strlen(text) > IG_INTAKE_MAX_VALUE) {
        free(text);
        return refuse(why, here, "longer than %d bytes", IG_INTAKE_MAX_VALUE);
    }
    set_text(alert, key, text);
    free(text);
    return RT_OK;
}

static int generic_alert(const rt_intake_generic *g, const json_t *a, const char *path,
                         const char *group_key, json_t **out, char *why) {
    const rt_intake_mapping *m = &g->map;
    char here[256];
    int rc;
    if (!json_is_object(a))
        return refuse(why, path, "not an object");
    json_t *alert = *out = alert_new(RT_SOURCE_GENERIC);
    set_text(alert, "webhook", g->name);
    set_text(alert, "groupKey", group_key);
    if ((rc = generic_text(a, m->status, path, alert, "status", false, why)) != RT_OK)
        return rc;
    const char *status = json_string_value(json_object_get(alert, "status"));
    bool resolved = false;
    for (size_t i = 0; m->status && i < m->n_resolved; i++)
        resolved = resolved || strcmp(status, m->resolved[i]) == 0;
    set_text(alert, "status", resolved ? "resolved" : "firing");
    if (m->labels) {
        member_path(here, path, m->labels);
        if ((rc = string_map(at_path(a, m->labels), here, false, true,
                             json_object_get(alert, "labels"), why)) != RT_OK)
            return rc;
    }
    if (m->annotations) {
        member_path(here, path, m->annotations);
        if ((rc = string_map(at_path(a, m->annotations), here, false, true,
                             json_object_get(alert, "annotations"), why)) != RT_OK)
            return rc;
    }
    if ((rc = generic_text(a, m->starts_at, path, alert, "startsAt", true, why)) != RT_OK ||
        (rc = generic_text(a, m->ends_at, path, alert, "endsAt", true, why)) != RT_OK ||
        (rc = generic_text(a, m->fingerprint, path, alert, "fingerprint", false, why)) != RT_OK ||
        (rc = generic_text(a, m->incident_id, path, alert, "incident_id", false, why)) != RT_OK ||
        (rc = generic_text(a, m->generator_url, path, alert, "generatorURL", false, why)) != RT_OK)
        return rc;
    const char *fp = json_string_value(json_object_get(alert, "fingerprint"));
    const char *incident = json_string_value(json_object_get(alert, "incident_id"));
    if (!*fp && *incident)
        set_text(alert, "fingerprint", incident);
    else if (!*fp && json_object_size(json_object_get(alert, "labels")) == 0)
        /* A hash of no labels is the same for every alert: all would be one analysis. */
        return refuse(why, *path ? path : "body", "no fingerprint, incident_id or labels");
    else if (!*fp)
        labels_fingerprint(alert);
    if (!*json_string_value(json_object_get(alert, "groupKey")))
        json_object_set(alert, "groupKey", json_object_get(alert, "fingerprint"));
    return RT_OK;
}

static int generic_payload(const rt_intake_generic *g, const json_t *body, ig_payload *out,
                           char *why) {
    const rt_intake_mapping *m = &g->map;
    json_t *group = m->group_key ? at_path(body, m->group_key) : NULL;
    const char *group_key = json_is_string(group) ? json_string_value(group) : "";
    if (group && !json_is_string(group))
        return refuse(why, m->group_key, "not a string");
    if (!m->alerts) {
        json_t *alert = NULL;
        int rc = generic_alert(g, body, "", group_key, &alert, why);
        if (alert)
            json_array_append_new(out->alerts, alert);
        return rc;
    }
    json_t *list = at_path(body, m->alerts);
    if (!list)
        return refuse(why, m->alerts, "required");
    if (!json_is_array(list))
        return refuse(why, m->alerts, "not a list");
    if (json_array_size(list) > IG_INTAKE_MAX_ALERTS)
        return refuse(why, m->alerts, "more than %d alerts", IG_INTAKE_MAX_ALERTS);
    for (size_t i = 0; i < json_array_size(list); i++) {
        char path[256];
        json_t *alert = NULL;
        index_path(path, m->alerts, i);
        int rc = generic_alert(g, json_array_get(list, i), path, group_key, &alert, why);
        if (alert)
            json_array_append_new(out->alerts, alert);
        if (rc != RT_OK)
            return rc;
    }
    return RT_OK;
}

/* ---- entry points -----------------------------------------------------------------------------
 */

int ig_source_parse(const char *name, rt_source *source) {
    for (int i = RT_SOURCE_ALERTMANAGER; i <= RT_SOURCE_GENERIC; i++)
        if (name && strcmp(name, rt_source_name((rt_source)i)) == 0) {
            *source = (rt_source)i;
            return 0;
        }
    return -1;
}

int ig_intake_parse(rt_source source, const rt_intake_generic *g, const char *body, size_t len,
                    ig_payload *out, char *why) {
    json_error_t error;
    int rc;
    memset(out, 0, sizeof *out);
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        snprintf(why, IG_INTAKE_WHY, "body: not valid JSON: %s (line %d, column %d)", error.text,
                 error.line, error.column);
        return RT_EINPUT;
    }
    out->alerts = json_array();
    if (!json_is_object(root))
        rc = refuse(why, "body", "not a JSON object");
    else if (source == RT_SOURCE_ALERTMANAGER || source == RT_SOURCE_GRAFANA)
        rc = am_payload(source, root, out, why);
    else if (source == RT_SOURCE_PAGERDUTY)
        rc = pagerduty_payload(root, out, why);
    else if (source == RT_SOURCE_OPSGENIE)
        rc = opsgenie_payload(root, out, why);
    else if (source == RT_SOURCE_GENERIC && g)
        rc = generic_payload(g, root, out, why);
    else
        rc = refuse(why, "source", "no mapping for this generic webhook");
    json_decref(root);
    if (rc != RT_OK)
        ig_payload_free(out);
    return rc;
}

void ig_payload_free(ig_payload *p) {
    json_decref(p->alerts);
    memset(p, 0, sizeof *p);
}
