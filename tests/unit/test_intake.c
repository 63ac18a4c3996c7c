/* tests/unit/test_intake.c -- the alert intake without a server: each source's normaliser over
 * the fixture payloads of tests/fixtures/intake/ (and the field a malformed one is refused for),
 * PagerDuty's signatures, the auth header values, templates, routes' matching with their
 * reasons, per-alert and per-group plans, and routes checked against analyzer schemas. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "ig_intake.h"

#define FIXTURES TESTS_DIR "/fixtures/intake/"

/* ---- helpers -------------------------------------------------------------------------------- */

static char *fixture(const char *name, size_t *len) {
    char path[512], why[256], *text = NULL;
    snprintf(path, sizeof path, FIXTURES "%s", name);
    if (rt_file_read(path, 1 << 20, &text, len, why) != RT_OK)
        fail_msg("%s", why);
    return text;
}

static rt_config *config(void) {
    rt_diag errors = {0}, warnings = {0};
    rt_config *c = NULL;
    int rc = rt_config_load(FIXTURES "inquest.yaml", &c, &errors, &warnings);
    if (rc != RT_OK) {
        char *dump = json_dumps(errors.items, JSON_INDENT(1));
        fail_msg("config: %s", dump);
    }
    rt_diag_free(&errors);
    rt_diag_free(&warnings);
    return c;
}

static const char *text_of(const json_t *alert, const char *key) {
    return json_string_value(json_object_get(alert, key));
}

static const char *label(const json_t *alert, const char *set, const char *name) {
    return json_string_value(json_object_get(json_object_get(alert, set), name));
}

/* Parses fixture 'name' from 'source'; asserts it is accepted. */
static void parse_ok(rt_source source, const rt_intake_generic *g, const char *name,
                     ig_payload *p) {
    size_t len;
    char why[IG_INTAKE_WHY] = "", *text = fixture(name, &len);
    int rc = ig_intake_parse(source, g, text, len, p, why);
    free(text);
    if (rc != RT_OK)
        fail_msg("%s: %s", name, why);
}

/* Parses 'body' from 'source'; asserts it is accepted. */
static void parse_ok_text(rt_source source, const rt_intake_generic *g, const char *body,
                          ig_payload *p) {
    char why[IG_INTAKE_WHY] = "";
    if (ig_intake_parse(source, g, body, strlen(body), p, why) != RT_OK)
        fail_msg("%s: %s", body, why);
}

/* Asserts that 'body' from 'source' is refused with a reason starting with 'want'. */
static void parse_refused(rt_source source, const rt_intake_generic *g, const char *body,
                          const char *want) {
    ig_payload p;
    char why[IG_INTAKE_WHY] = "";
    assert_int_equal(ig_intake_parse(source, g, body, strlen(body), &p, why), RT_EINPUT);
    if (strncmp(why, want, strlen(want)) != 0)
        fail_msg("refused with '%s', expected '%s…'", why, want);
    assert_null(p.alerts);
}

/* ---- normalisers ---------------------------------------------------------------------------- */

static void test_alertmanager(void **state) {
    (void)state;
    ig_payload p;
    parse_ok(RT_SOURCE_ALERTMANAGER, NULL, "alertmanager.json", &p);
    assert_int_equal(json_array_size(p.alerts), 3);
    json_t *a = json_array_get(p.alerts, 0), *r = json_array_get(p.alerts, 1);
    assert_string_equal(text_of(a, "source"), "alertmanager");
    assert_string_equal(text_of(a, "status"), "firing");
    assert_string_equal(text_of(r, "status"), "resolved");
    assert_string_equal(label(a, "labels", "service"), "checkout");
    assert_string_equal(label(a, "annotations", "summary"), "5xx above 5% on checkout");
    assert_string_equal(text_of(a, "startsAt"), "2026-11-21T11:52:30.123Z");
    assert_string_equal(text_of(a, "fingerprint"), "c6a5e6b8f1d2a3b4");
    assert_string_equal(text_of(a, "groupKey"),
                        "{}/{severity=\"page\"}:{alertname=\"HighErrorRate\"}");
    assert_string_equal(text_of(a, "incident_id"), "");
    assert_true(strncmp(text_of(a, "generatorURL"), "http://prometheus.example.com", 29) == 0);
    ig_payload_free(&p);
}

static void test_alertmanager_refusals(void **state) {
    (void)state;
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL, "[1]", "body: not a JSON object");
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL, "{\"alerts\":", "body: not valid JSON");
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL, "{\"version\":\"4\"}", "alerts: required");
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL, "{\"version\":\"3\",\"alerts\":[]}",
                  "version: expected \"4\"");
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL, "{\"alerts\":{}}", "alerts: not a list");
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL,
                  "{\"alerts\":[{\"status\":\"firing\",\"labels\":{}},7]}",
                  "alerts[1]: not an object");
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL,
                  "{\"alerts\":[{\"status\":\"firing\",\"labels\":{}},{\"status\":\"firing\","
                  "\"labels\":[]}]}",
                  "alerts[1].labels: not an object");
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL,
                  "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":1}}]}",
                  "alerts[0].labels.a: not a string");
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL, "{\"alerts\":[{\"labels\":{}}]}",
                  "alerts[0].status: required");
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL,
                  "{\"alerts\":[{\"status\":\"firing\",\"labels\":{},\"startsAt\":5}]}",
                  "alerts[0].startsAt: not a string");
    parse_refused(RT_SOURCE_ALERTMANAGER, NULL, "{\"alerts\":[],\"alerts\":[]}",
                  "body: not valid JSON");
    /* A long non-ASCII key in a path is cut at a character: the reason stays UTF-8. */
    char body[512] = "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"k";
    for (int i = 0; i < 40; i++)
        strcat(body, "\xc3\xa9");
    strcat(body, "\":1}}]}");
    ig_payload p;
    char why[IG_INTAKE_WHY];
    assert_int_equal(ig_intake_parse(RT_SOURCE_ALERTMANAGER, NULL, body, strlen(body), &p, why),
                     RT_EINPUT);
    assert_true(rt_utf8_valid(why, strlen(why)));
    assert_true(strncmp(why, "alerts[0].labels.k\xc3\xa9", 20) == 0);
}

static void test_fingerprint_from_labels(void **state) {
    (void)state;
    const char *a = "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"x\":\"1\",\"y\":\"2\"}}]}";
    const char *b = "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"y\":\"2\",\"x\":\"1\"}}]}";
    ig_payload pa, pb;
    char why[IG_INTAKE_WHY];
    assert_int_equal(ig_intake_parse(RT_SOURCE_ALERTMANAGER, NULL, a, strlen(a), &pa, why), RT_OK);
    assert_int_equal(ig_intake_parse(RT_SOURCE_ALERTMANAGER, NULL, b, strlen(b), &pb, why), RT_OK);
    const char *fa = text_of(json_array_get(pa.alerts, 0), "fingerprint");
    assert_int_equal(strlen(fa), 16);
    assert_string_equal(fa, text_of(json_array_get(pb.alerts, 0), "fingerprint"));
    ig_payload_free(&pb);
    /* Other labels, or another value of one, are another alert. */
    const char *c = "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"x\":\"1\",\"y\":\"3\"}},"
                    "{\"status\":\"firing\",\"labels\":{\"x\":\"1\"}}]}";
    assert_int_equal(ig_intake_parse(RT_SOURCE_ALERTMANAGER, NULL, c, strlen(c), &pb, why), RT_OK);
    const char *fc = text_of(json_array_get(pb.alerts, 0), "fingerprint");
    const char *fd = text_of(json_array_get(pb.alerts, 1), "fingerprint");
    assert_string_not_equal(fa, fc);
    assert_string_not_equal(fa, fd);
    assert_string_not_equal(fc, fd);
    ig_payload_free(&pa);
    ig_payload_free(&pb);
}

/* A generic alert with no fingerprint, no incident id and no labels has no identity: refused,
 * rather than made one analysis with every other such alert. */
static void test_generic_without_identity(void **state) {
    (void)state;
    rt_config *c = config();
    rt_intake_generic *g = &c->intake.generic[0];
    free(g->map.fingerprint);
    g->map.fingerprint = NULL; /* labels: tags is left */
    parse_refused(RT_SOURCE_GENERIC, g,
                  "{\"events\":[{\"tags\":{\"a\":\"1\"}},{\"tags\":{\"a\":\"2\"}},{\"tags\":{}},"
                  "{\"tags\":{\"a\":\"3\"}}]}",
                  "events[2]: no fingerprint, incident_id or labels");
    free(g->map.alerts);
    g->map.alerts = NULL; /* the body is the alert */
    parse_refused(RT_SOURCE_GENERIC, g, "{\"state\":\"open\"}",
                  "body: no fingerprint, incident_id or labels");
    ig_payload p;
    parse_ok_text(RT_SOURCE_GENERIC, g, "{\"tags\":{\"a\":\"1\"}}", &p);
    assert_int_equal(strlen(text_of(json_array_get(p.alerts, 0), "fingerprint")), 16);
    ig_payload_free(&p);
    rt_config_free(c);
}

static void test_grafana(void **state) {
    (void)state;
    ig_payload p;
    parse_ok(RT_SOURCE_GRAFANA, NULL, "grafana.json", &p);
    assert_int_equal(json_array_size(p.alerts), 1);
    json_t *a = json_array_get(p.alerts, 0);
    assert_string_equal(text_of(a, "source"), "grafana");
    assert_string_equal(label(a, "labels", "team"), "payments");
    assert_string_equal(text_of(a, "fingerprint"), "57c6d9296de2ad39");
    ig_payload_free(&p);
    /* Grafana's version is "1": only Alertmanager's must be "4". */
    parse_refused(RT_SOURCE_GRAFANA, NULL, "{\"version\":\"1\",\"alerts\":[{}]}",
                  "alerts[0].status: required");
}

static void test_pagerduty(void **state) {
    (void)state;
    ig_payload p;
    parse_ok(RT_SOURCE_PAGERDUTY, NULL, "pagerduty_triggered.json", &p);
    assert_int_equal(json_array_size(p.alerts), 1);
    json_t *a = json_array_get(p.alerts, 0);
    assert_string_equal(text_of(a, "status"), "firing");
    assert_string_equal(text_of(a, "fingerprint"), "Q2R6KX0ABCDEF1");
    assert_string_equal(text_of(a, "incident_id"), "Q2R6KX0ABCDEF1");
    assert_string_equal(label(a, "labels", "service"), "checkout");
    assert_string_equal(label(a, "labels", "priority"), "P1");
    assert_string_equal(label(a, "labels", "incident_number"), "4821");
    assert_string_equal(label(a, "labels", "team"), "payments");
    assert_string_equal(label(a, "annotations", "title"), "5xx above 5% on checkout");
    assert_string_equal(text_of(a, "startsAt"), "2026-11-21T11:59:02Z");
    ig_payload_free(&p);
    parse_ok(RT_SOURCE_PAGERDUTY, NULL, "pagerduty_resolved.json", &p);
    a = json_array_get(p.alerts, 0);
    assert_string_equal(text_of(a, "status"), "resolved");
    assert_string_equal(text_of(a, "endsAt"), "2026-11-21T12:20:00.000Z");
    ig_payload_free(&p);
    parse_ok(RT_SOURCE_PAGERDUTY, NULL, "pagerduty_annotated.json", &p);
    assert_int_equal(json_array_size(p.alerts), 0);
    assert_int_equal(p.ignored, 1);
    ig_payload_free(&p);
    /* An acknowledgement is no new firing; a reopened incident is, starting when it reopened. */
    const char *ack =
        "{\"event\":{\"event_type\":\"incident.acknowledged\",\"data\":{\"id\":\"Q1\"}}}";
    parse_ok_text(RT_SOURCE_PAGERDUTY, NULL, ack, &p);
    assert_int_equal(json_array_size(p.alerts), 0);
    assert_int_equal(p.ignored, 1);
    ig_payload_free(&p);
    const char *reopened = "{\"event\":{\"event_type\":\"incident.reopened\",\"occurred_at\":"
                           "\"2026-11-21T13:00:00Z\",\"data\":{\"id\":\"Q1\",\"created_at\":"
                           "\"2026-11-21T11:00:00Z\"}}}";
    parse_ok_text(RT_SOURCE_PAGERDUTY, NULL, reopened, &p);
    assert_string_equal(text_of(json_array_get(p.alerts, 0), "status"), "firing");
    assert_string_equal(text_of(json_array_get(p.alerts, 0), "startsAt"), "2026-11-21T13:00:00Z");
    ig_payload_free(&p);
    parse_refused(RT_SOURCE_PAGERDUTY, NULL, "{}", "event: required");
    parse_refused(RT_SOURCE_PAGERDUTY, NULL, "{\"event\":{\"event_type\":\"incident.triggered\"}}",
                  "event.data: required");
    parse_refused(RT_SOURCE_PAGERDUTY, NULL,
                  "{\"event\":{\"event_type\":\"incident.triggered\",\"data\":{\"id\":7}}}",
                  "event.data.id: not a string");
}

static void test_opsgenie(void **state) {
    (void)state;
    ig_payload p;
    parse_ok(RT_SOURCE_OPSGENIE, NULL, "opsgenie_create.json", &p);
    json_t *a = json_array_get(p.alerts, 0);
    assert_string_equal(text_of(a, "status"), "firing");
    assert_string_equal(text_of(a, "fingerprint"), "disk-full-db-3");
    assert_string_equal(text_of(a, "incident_id"),
                        "9a1c4b2e-5e6f-4b8a-9c1d-2f3e4a5b6c7d-1763726400000");
    assert_string_equal(label(a, "labels", "host"), "db-3");
    assert_string_equal(label(a, "labels", "usage_pct"), "91");      /* a number in details */
    assert_string_equal(label(a, "labels", "service"), "orders-db"); /* a name:value tag */
    assert_string_equal(label(a, "labels", "tags"), "prod,service:orders-db,disk");
    assert_string_equal(label(a, "labels", "priority"), "P2");
    assert_string_equal(label(a, "annotations", "message"), "Disk usage above 90% on db-3");
    assert_string_equal(text_of(a, "startsAt"), "2025-11-21T11:59:00Z");
    ig_payload_free(&p);
    parse_ok(RT_SOURCE_OPSGENIE, NULL, "opsgenie_close.json", &p);
    assert_string_equal(text_of(json_array_get(p.alerts, 0), "status"), "resolved");
    ig_payload_free(&p);
    const char *note = "{\"action\":\"AddNote\",\"alert\":{\"alertId\":\"x\"}}";
    char why[IG_INTAKE_WHY];
    assert_int_equal(ig_intake_parse(RT_SOURCE_OPSGENIE, NULL, note, strlen(note), &p, why), RT_OK);
    assert_int_equal(p.ignored, 1);
    ig_payload_free(&p);
    static const char *const not_firing[] = {"Acknowledge", "UnAcknowledge", "Escalate"};
    for (size_t i = 0; i < 3; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"action\":\"%s\",\"alert\":{\"alertId\":\"x\"}}",
                 not_firing[i]);
        parse_ok_text(RT_SOURCE_OPSGENIE, NULL, body, &p);
        assert_int_equal(json_array_size(p.alerts), 0);
        assert_int_equal(p.ignored, 1);
        ig_payload_free(&p);
    }
    parse_refused(RT_SOURCE_OPSGENIE, NULL, "{\"action\":\"Create\"}", "alert: required");
    parse_refused(RT_SOURCE_OPSGENIE, NULL,
                  "{\"action\":\"Create\",\"alert\":{\"alertId\":\"x\",\"tags\":\"a\"}}",
                  "alert.tags: not a list");
}

static void test_generic(void **state) {
    (void)state;
    rt_config *c = config();
    const rt_intake_generic *g = &c->intake.generic[0];
    ig_payload p;
    parse_ok(RT_SOURCE_GENERIC, g, "generic.json", &p);
    assert_int_equal(json_array_size(p.alerts), 2);
    json_t *a = json_array_get(p.alerts, 0), *b = json_array_get(p.alerts, 1);
    assert_string_equal(text_of(a, "webhook"), "ledger");
    assert_string_equal(text_of(a, "status"), "firing");
    assert_string_equal(text_of(b, "status"), "resolved"); /* "closed" is a resolved value */
    assert_string_equal(text_of(a, "fingerprint"), "evt-1");
    assert_string_equal(text_of(a, "groupKey"), "INC-2207");
    assert_string_equal(label(a, "annotations", "summary"), "ledger lag above 30s");
    assert_string_equal(text_of(a, "startsAt"), "2025-11-21T12:00:00Z"); /* Unix seconds */
    assert_string_equal(text_of(b, "startsAt"), "2026-11-21T10:00:00Z");
    ig_payload_free(&p);
    parse_refused(RT_SOURCE_GENERIC, g, "{\"events\":{}}", "events: not a list");
    parse_refused(RT_SOURCE_GENERIC, g, "{\"events\":[{\"tags\":[1]}]}",
                  "events[0].tags: not an object");
    rt_config_free(c);
}

/* ---- who sent it ---------------------------------------------------------------------------- */

/* 'prefix' and the hex HMAC-SHA256 of 'body' under 'secret' into 'out': with "v1=" as
 * PagerDuty signs, with "" as Grafana does. */
static void sign_as(const char *prefix, const char *secret, const char *body, char *out) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), mac,
         &n);
    strcpy(out, prefix);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + strlen(prefix) + 2 * i, "%02x", mac[i]);
}

static void sign(const char *secret, const char *body, char *out) {
    sign_as("v1=", secret, body, out);
}

static void test_signature(void **state) {
    (void)state;
    const char *body = "{\"event\":{}}", *secret = "s3cret";
    char good[80], other[80], header[256];
    sign(secret, body, good);
    sign("another", body, other);
    assert_true(ig_signature_ok(secret, 6, RT_SIGNATURE_V1, NULL, body, strlen(body), good));
    snprintf(header, sizeof header, "%s,%s", other, good); /* a secret being rotated */
    assert_true(ig_signature_ok(secret, 6, RT_SIGNATURE_V1, NULL, body, strlen(body), header));
    snprintf(header, sizeof header, " %s , v1=00", good);
    assert_true(ig_signature_ok(secret, 6, RT_SIGNATURE_V1, NULL, body, strlen(body), header));
    for (char *p = good + 3; *p; p++) /* hex in upper case */
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_true(ig_signature_ok(secret, 6, RT_SIGNATURE_V1, NULL, body, strlen(body), good));
    assert_false(ig_signature_ok(secret, 6, RT_SIGNATURE_V1, NULL, body, strlen(body), other));
    assert_false(
        ig_signature_ok(secret, 6, RT_SIGNATURE_V1, NULL, "{}", 2, good)); /* another body */
    assert_false(ig_signature_ok(secret, 6, RT_SIGNATURE_V1, NULL, body, strlen(body), NULL));
    assert_false(ig_signature_ok(secret, 6, RT_SIGNATURE_V1, NULL, body, strlen(body), ""));
    assert_false(ig_signature_ok(secret, 6, RT_SIGNATURE_V1, NULL, body, strlen(body), "v1=00"));
    assert_false(ig_signature_ok(secret, 6, RT_SIGNATURE_V1, NULL, body, strlen(body),
                                 good + 3)); /* no v1= */
}

/* Grafana: the hex alone in X-Grafana-Alerting-Signature, over the body or, with a timestamp
 * header, over "TIMESTAMP:BODY". */
static void test_signature_grafana(void **state) {
    (void)state;
    const char *body = "{\"alerts\":[]}", *secret = "gf-secret";
    size_t len = strlen(secret);
    char sig[80], v1[80], with_ts[80];
    sign_as("", secret, body, sig);
    sign_as("v1=", secret, body, v1);
    sign_as("", secret, "1763726400:{\"alerts\":[]}", with_ts);
    assert_true(ig_signature_ok(secret, len, RT_SIGNATURE_HEX, NULL, body, strlen(body), sig));
    assert_false(ig_signature_ok(secret, len, RT_SIGNATURE_HEX, NULL, body, strlen(body), v1));
    assert_false(ig_signature_ok(secret, len, RT_SIGNATURE_V1, NULL, body, strlen(body), sig));
    assert_false(ig_signature_ok(secret, len, RT_SIGNATURE_HEX, NULL, "{}", 2, sig));
    assert_true(
        ig_signature_ok(secret, len, RT_SIGNATURE_HEX, "1763726400", body, strlen(body), with_ts));
    assert_false(ig_signature_ok(secret, len, RT_SIGNATURE_HEX, "1763726401", body, strlen(body),
                                 with_ts)); /* another time */
    assert_false(ig_signature_ok(secret, len, RT_SIGNATURE_HEX, "1763726400", body, strlen(body),
                                 sig)); /* the body alone */
    assert_false(ig_signature_ok("", 0, RT_SIGNATURE_HEX, NULL, body, strlen(body), sig));
    /* A signed timestamp must be recent: an old request is a replay. */
    assert_true(ig_timestamp_fresh("1763726400", 1763726400.0 + 10));
    assert_false(ig_timestamp_fresh("1763726400", 1763726400.0 + IG_TIMESTAMP_SKEW + 1));
    assert_false(ig_timestamp_fresh("1763726400", 1763726400.0 - IG_TIMESTAMP_SKEW - 1));
    assert_false(ig_timestamp_fresh("17637x", 1763726400.0));
    assert_false(ig_timestamp_fresh("", 1763726400.0));
    assert_false(ig_timestamp_fresh(NULL, 1763726400.0));
}

static void test_auth_expected(void **state) {
    (void)state;
    char am[] = "am", key[] = "X-Key";
    rt_auth bearer = {.type = RT_AUTH_BEARER}, basic = {.type = RT_AUTH_BASIC, .username = am},
            header = {.type = RT_AUTH_HEADER, .header = key};
    char *v = ig_auth_expected(&bearer, "tok", 3);
    assert_string_equal(v, "Bearer tok");
    assert_true(ig_auth_ok(v, "Bearer tok"));
    assert_false(ig_auth_ok(v, "Bearer to"));
    assert_false(ig_auth_ok(v, "Bearer tokk"));
    assert_false(ig_auth_ok(v, NULL));
    free(v);
    v = ig_auth_expected(&basic, "pw", 2);
    assert_string_equal(v, "Basic YW06cHc="); /* base64("am:pw") */
    free(v);
    v = ig_auth_expected(&header, "k1", 2);
    assert_string_equal(v, "k1");
    free(v);
    /* An empty expected value lets nobody in, not whoever sends an empty header. */
    assert_false(ig_auth_ok("", ""));
    assert_false(ig_auth_ok("", "x"));
}

/* ---- templates and routes ------------------------------------------------------------------- */

static void test_templates(void **state) {
    (void)state;
    json_t *alert = json_pack("{s:s, s:{s:s}, s:{s:s}, s:s, s:s}", "status", "firing", "labels",
                              "service", "api", "annotations", "runbook", "http://r", "startsAt",
                              "2026-11-21T12:00:00Z", "fingerprint", "abc");
    char *t = ig_template_render("{{ labels.service }}-{{labels.missing}}/{{ annotations.runbook }}"
                                 " {{ startsAt }} {{ fingerprint }} {{ incident_id }}.",
                                 alert);
    assert_string_equal(t, "api-/http://r 2026-11-21T12:00:00Z abc .");
    free(t);
    t = ig_template_render("plain", alert);
    assert_string_equal(t, "plain");
    free(t);
    json_decref(alert);
}

static void test_route_reasons(void **state) {
    (void)state;
    rt_config *c = config();
    ig_payload p;
    char why[256];
    parse_ok(RT_SOURCE_ALERTMANAGER, NULL, "alertmanager.json", &p);
    const rt_route *http = &c->routes[0], *incidents = &c->routes[2];
    assert_true(ig_route_takes(http, json_array_get(p.alerts, 0), why, sizeof why));
    assert_false(ig_route_takes(http, json_array_get(p.alerts, 2), why, sizeof why));
    assert_string_equal(why, "env!=\"dev\" does not hold: labels.env is \"dev\"");
    assert_false(ig_route_takes(incidents, json_array_get(p.alerts, 0), why, sizeof why));
    assert_string_equal(why,
                        "the alert comes from alertmanager; the route takes pagerduty, opsgenie");
    /* A value cut for the reason is cut at a character: the reason stays UTF-8 (JSON). */
    char long_env[160] = "d";
    for (int i = 0; i < 60; i++)
        strcat(long_env, "\xc3\xa9"); /* é: 1 + 120 bytes, so byte 80 is inside one */
    json_t *dev = json_array_get(p.alerts, 2);
    json_object_set_new(json_object_get(dev, "labels"), "alertname", json_string(long_env));
    assert_false(ig_route_takes(http, dev, why, sizeof why));
    assert_true(rt_utf8_valid(why, strlen(why)));
    json_t *reason = json_string(why);
    assert_non_null(reason);
    json_decref(reason);
    assert_non_null(strstr(why, "labels.alertname is \"d\xc3\xa9"));
    json_object_del(json_object_get(json_array_get(p.alerts, 0), "labels"), "alertname");
    assert_false(ig_route_takes(http, json_array_get(p.alerts, 0), why, sizeof why));
    assert_string_equal(
        why, "alertname=~\"HighErrorRate|LatencyHigh\" does not hold: labels.alertname is "
             "not set");
    ig_payload_free(&p);
    rt_config_free(c);
}

static const ig_step *step_of(const ig_plan *plan, const char *route, size_t nth) {
    for (size_t i = 0; i < plan->n_steps; i++)
        if (strcmp(plan->steps[i].route->name, route) == 0 && nth-- == 0)
            return &plan->steps[i];
    return NULL;
}

static void test_plan(void **state) {
    (void)state;
    rt_config *c = config();
    ig_payload p;
    ig_plan plan;
    parse_ok(RT_SOURCE_ALERTMANAGER, NULL, "alertmanager.json", &p);
    ig_plan_make(c, &p, true, &plan);
    /* http-errors: a start (checkout) and a resolve (payments); search is dev. */
    const ig_step *start = step_of(&plan, "http-errors", 0),
                  *resolve = step_of(&plan, "http-errors", 1);
    assert_non_null(start);
    assert_false(start->resolve);
    assert_string_equal(json_string_value(json_object_get(start->inputs, "service")), "checkout");
    assert_string_equal(json_string_value(json_object_get(start->inputs, "n")), "3");
    assert_string_equal(start->dedup_key, "intake\nhttp-errors\nalertmanager\nc6a5e6b8f1d2a3b4");
    assert_non_null(resolve);
    assert_true(resolve->resolve);
    assert_null(resolve->inputs);
    assert_null(step_of(&plan, "http-errors", 2));
    /* errors-by-group: one start for the group of all three, over their common labels. */
    const ig_step *group = step_of(&plan, "errors-by-group", 0);
    assert_non_null(group);
    assert_null(step_of(&plan, "errors-by-group", 1));
    assert_int_equal(group->alerts, 3);
    assert_false(group->resolve);
    json_t *labels = json_object_get(group->alert, "labels");
    assert_int_equal(json_object_size(labels), 2); /* alertname and severity */
    assert_string_equal(json_string_value(json_object_get(group->inputs, "service")), "page");
    assert_string_equal(json_string_value(json_object_get(group->alert, "startsAt")),
                        "2026-11-21T10:40:00Z");
    assert_true(strstr(group->dedup_key, "\ngroup\n{}/{severity=") != NULL);
    /* why the other routes did not take the alerts */
    assert_int_equal(plan.unrouted, 0);
    assert_int_equal(plan.n_misses, 1 + 3 + 3);
    ig_plan_free(&plan);
    ig_payload_free(&p);
    rt_config_free(c);
}

static void test_group_resolves(void **state) {
    (void)state;
    rt_config *c = config();
    ig_payload p;
    ig_plan plan;
    parse_ok(RT_SOURCE_ALERTMANAGER, NULL, "alertmanager.json", &p);
    size_t i;
    json_t *a;
    json_array_foreach(p.alerts, i, a) json_object_set_new(a, "status", json_string("resolved"));
    ig_plan_make(c, &p, false, &plan);
    const ig_step *group = step_of(&plan, "errors-by-group", 0);
    assert_non_null(group);
    assert_true(group->resolve);
    assert_int_equal(plan.n_misses, 0); /* not asked for */
    ig_plan_free(&plan);
    ig_payload_free(&p);
    rt_config_free(c);
}

/* An input that renders to "" is left out, so the analyzer's default (or its required check)
 * applies. */
static void test_empty_inputs_left_out(void **state) {
    (void)state;
    char service[] = "service", nope[] = "{{ labels.nope }}", n[] = "n",
         n_text[] = "{{ labels.n }}", name[] = "r";
    rt_template t[] = {{service, nope}, {n, n_text}};
    rt_route r = {.name = name, .inputs = t, .n_inputs = 2};
    json_t *alert = json_pack("{s:{s:s}}", "labels", "n", "4");
    json_t *inputs = ig_route_inputs(&r, alert);
    assert_int_equal(json_object_size(inputs), 1);
    assert_string_equal(json_string_value(json_object_get(inputs, "n")), "4");
    json_decref(inputs);
    json_decref(alert);
}

static void test_routes_check(void **state) {
    (void)state;
    const char *dirs[] = {TESTS_DIR "/service/analyzers"};
    wk_engine *engine = wk_engine_new(dirs, 1);
    rt_config *c = config();
    rt_diag d = {0};
    assert_int_equal(ig_routes_check(engine, c, &d), 0);
    rt_diag_free(&d);
    /* Break routes: an unknown analyzer, an unknown input, a required input not given, and a
     * literal that is not a valid value. */
    free(c->routes[0].analyzer);
    c->routes[0].analyzer = rt_xstrdup("svc.missing");
    free(c->routes[1].inputs[0].name);
    c->routes[1].inputs[0].name = rt_xstrdup("servce");
    free(c->routes[2].inputs[0].text);
    c->routes[2].inputs[0].text = rt_xstrdup("Not Valid!");
    assert_int_equal(ig_routes_check(engine, c, &d), 4);
    const char *want[][2] = {
        {"routes.0.analyzer", "no analyzer named 'svc.missing'"},
        {"routes.1.inputs.servce", "analyzer svc.noop has no input 'servce'"},
        {"routes.1.inputs.service", "requires this input"},
        {"routes.2.inputs.service", "must match"},
    };
    for (size_t k = 0; k < 4; k++) {
        json_t *item = json_array_get(d.items, k);
        assert_string_equal(json_string_value(json_object_get(item, "field")), want[k][0]);
        const char *m = json_string_value(json_object_get(item, "message"));
        if (!strstr(m, want[k][1]))
            fail_msg("%s: '%s' lacks '%s'", want[k][0], m, want[k][1]);
        assert_true(json_integer_value(json_object_get(item, "line")) > 0);
    }
    rt_diag_free(&d);
    rt_config_free(c);
    wk_engine_free(engine);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alertmanager),
        cmocka_unit_test(test_alertmanager_refusals),
        cmocka_unit_test(test_fingerprint_from_labels),
        cmocka_unit_test(test_grafana),
        cmocka_unit_test(test_pagerduty),
        cmocka_unit_test(test_opsgenie),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_generic_without_identity),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_signature_grafana),
        cmocka_unit_test(test_auth_expected),
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_route_reasons),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_group_resolves),
        cmocka_unit_test(test_empty_inputs_left_out),
        cmocka_unit_test(test_routes_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
