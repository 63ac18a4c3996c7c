/* integrations/ig_intake.h -- alert intake: webhooks of Alertmanager, Grafana, PagerDuty, Opsgenie
 * and generic JSON senders become alerts of one shape (ig_alert.c), which the config's routes turn
 * into analyses to start and alerts to mark resolved (ig_route.c). Both are pure: no server, no
 * Redis, so `inquest route test` and the unit tests use them as the server does. The HTTP side
 * (auth, signatures, the queue, counters) is ig_intake.c; docs/api.md "Intake".
 *
 * The alert shape. Every alert is a JSON object with exactly these members, named as templates
 * name them (docs/config.md, routes):
 *   source        "alertmanager", "grafana", "pagerduty", "opsgenie" or "generic"
 *   status        "firing" or "resolved"
 *   labels        object of strings (a missing label reads as "")
 *   annotations   object of strings
 *   startsAt, endsAt   text as the sender wrote it (RFC 3339), "" when not known
 *   fingerprint   what identifies the alert across notifications (never "")
 *   incident_id   the incident tool's id (PagerDuty, Opsgenie), else ""
 *   groupKey      the notification group (Alertmanager, Grafana), else the incident id
 *   generatorURL  a link back to the alert's source, "" when none
 * plus "webhook": the generic webhook's name, for generic alerts only. */
#ifndef INQUEST_IG_INTAKE_H
#define INQUEST_IG_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "rt_config.h"
#include "wk.h"

#define IG_INTAKE_MAX_ALERTS 1000 /* alerts in one payload */
#define IG_INTAKE_MAX_LABELS 256  /* labels (or annotations) of one alert */
#define IG_INTAKE_MAX_VALUE  4096 /* bytes of one label or annotation value */
#define IG_INTAKE_WHY        512  /* bytes of a refusal's reason */

/* What a payload held. */
typedef struct ig_payload {
    json_t *alerts; /* owned: array of alerts of the shape above, in the payload's order */
    size_t ignored; /* events that are no alert's start or end (an Opsgenie AddNote, a PagerDuty
                       incident.annotated): accepted, nothing to do */
} ig_payload;

/* The source named 'name' ("grafana") into '*source'. Returns 0, or -1 for no such source. */
int ig_source_parse(const char *name, rt_source *source);

/* Parses the 'len' bytes at 'body', a webhook of 'source' ('generic': with the mapping of
 * webhook 'g'; NULL otherwise), into 'out' (free with ig_payload_free). Returns RT_OK, or
 * RT_EINPUT with 'why' (IG_INTAKE_WHY bytes) naming the first field at fault and what is wrong
 * with it ("alerts[3].labels: not an object"); then 'out' holds nothing. */
int ig_intake_parse(rt_source source, const rt_intake_generic *g, const char *body, size_t len,
                    ig_payload *out, char *why);
void ig_payload_free(ig_payload *p);

/* ---- routes (ig_route.c) -------------------------------------------------------------------- */

/* Whether 'route' takes 'alert'. Returns true, or false with the reason in 'why' of 'size'
 * bytes: the source, or the first matcher that fails with the value it saw. */
bool ig_route_takes(const rt_route *route, const json_t *alert, char *why, size_t size);

/* The text of template 'text' over 'alert': each {{ name }} replaced by the alert's value
 * (labels.X, annotations.X, or a member), "" when it has none. Returns a malloc'd string. */
char *ig_template_render(const char *text, const json_t *alert);

/* The inputs 'route' gives its analyzer for 'alert': an object of the rendered templates; an
 * input that renders to "" is left out, so that the analyzer's default applies. New reference. */
json_t *ig_route_inputs(const rt_route *route, const json_t *alert);

/* One thing a payload asks for under one route. */
typedef struct ig_step {
    const rt_route *route;
    bool resolve;    /* true: mark the analysis of 'dedup_key' resolved; false: start one */
    json_t *alert;   /* owned: the alert, or for a route with per: group the group's view
                        (common labels and annotations, the earliest startsAt) */
    json_t *inputs;  /* owned: for a start, the inputs (ig_route_inputs) */
    char *dedup_key; /* owned: "intake", the route, the source and the fingerprint (or the
                        group key), separated by newlines: the key that collapses repeats */
    size_t alerts;   /* alerts of the payload this step stands for */
    double started;  /* when the alert's episode started (Unix seconds; 0: not known): its
                        startsAt; for a group, the latest startsAt of its firing alerts (of
                        all, for a resolve). A firing no later than a resolved one is late. */
} ig_step;

/* A route that did not take an alert, and why (for `inquest route test`). */
typedef struct ig_miss {
    const rt_route *route;
    size_t alert; /* index in the payload */
    char why[256];
} ig_miss;

typedef struct ig_plan {
    ig_step *steps; /* owned, in route order, then payload order */
    size_t n_steps;
    ig_miss *misses; /* owned; only when asked for */
    size_t n_misses;
    size_t unrouted; /* alerts no route took */
} ig_plan;

/* What the routes of 'config' make of the alerts of 'p': starts for firing alerts, resolves for
 * resolved ones (per: group: for groups whose matched alerts are all resolved). With 'explain',
 * 'misses' says why each route did not take each alert. Free with ig_plan_free. */
void ig_plan_make(const rt_config *config, const ig_payload *p, bool explain, ig_plan *plan);
void ig_plan_free(ig_plan *plan);

/* Checks every route of 'config' against the analyzers of 'engine': the analyzer exists, each
 * input is one of its inputs, a required input without default has a template, and an input
 * written without {{ }} is a valid value. Problems go to 'diag' with the config's file, the
 * route's line and the field "routes.N.inputs.NAME" (or "routes.N.analyzer"). Returns the
 * number of problems found. */
size_t ig_routes_check(wk_engine *engine, const rt_config *config, rt_diag *diag);

/* ---- who sent it (ig_intake_auth.c) -------------------------------------------------------- */

/* The header value a sender with credential 'secret' ('len' bytes) of 'auth' presents: "Bearer
 * SECRET", "Basic base64(USER:SECRET)", or SECRET itself for auth type header. Malloc'd; the
 * caller wipes and frees it with rt_secret_free(value, strlen(value)). */
char *ig_auth_expected(const rt_auth *auth, const char *secret, size_t len);

/* True when 'presented' (a header's value, NULL when absent) equals 'expected' (never when
 * 'expected' is ""). The SHA-256 digests of both are compared in constant time, so the time
 * tells neither where they differ nor how long the secret is. */
bool ig_auth_ok(const char *expected, const char *presented);

/* True when 'header', a signature header's value written as 'format' ("v1=HEX" as PagerDuty
 * writes it, or the hex alone as Grafana does; several, comma-separated, while a secret is
 * rotated), holds the hex HMAC-SHA256 under 'secret' ('len' bytes) of the 'n' bytes at 'body',
 * or with 'timestamp' (not NULL) of "TIMESTAMP:BODY". Compared in constant time; NULL or a
 * malformed header is false. */
bool ig_signature_ok(const char *secret, size_t len, rt_signature_format format,
                     const char *timestamp, const void *body, size_t n, const char *header);

#define IG_TIMESTAMP_SKEW 300 /* seconds a signed timestamp may be from the clock */

/* True when 'value' (a timestamp header's, NULL when absent) is Unix seconds within
 * IG_TIMESTAMP_SKEW of 'now': an older signed request is a replay. */
bool ig_timestamp_fresh(const char *value, double now);

#endif
