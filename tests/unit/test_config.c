/* tests/unit/test_config.c -- runtime/rt_config.c: a full valid config with its defaults, each
 * kind of error with its line:column, several errors at once, warnings kept apart from errors,
 * and reading a secret from its env var or file. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "rt_config.h"

/* ---- helpers -------------------------------------------------------------------------------- */

typedef struct loaded {
    char path[64];
    rt_config *config;
    rt_diag errors, warnings;
    int rc;
} loaded;

/* Writes 'text' to a temporary file and loads it. */
static void load(loaded *l, const char *text) {
    memset(l, 0, sizeof *l);
    snprintf(l->path, sizeof l->path, "/tmp/test_config_XXXXXX");
    int fd = mkstemp(l->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    l->rc = rt_config_load(l->path, &l->config, &l->errors, &l->warnings);
}

static void unload(loaded *l) {
    unlink(l->path);
    rt_config_free(l->config);
    rt_diag_free(&l->errors);
    rt_diag_free(&l->warnings);
}

/* Asserts that 'd' has an item at 'line':'column' whose field is 'field' (NULL: none) and whose
 * message contains 'text'. */
static void assert_item(const rt_diag *d, int line, int column, const char *field,
                        const char *text) {
    size_t i;
    json_t *item;
    json_array_foreach(d->items, i, item) {
        const char *f = json_string_value(json_object_get(item, "field"));
        if (json_integer_value(json_object_get(item, "line")) == line &&
            json_integer_value(json_object_get(item, "column")) == column &&
            (field ? f && strcmp(f, field) == 0 : !f) &&
            strstr(json_string_value(json_object_get(item, "message")), text))
            return;
    }
    char *dump = d->items ? json_dumps(d->items, JSON_INDENT(1)) : NULL;
    fail_msg("no item %d:%d %s '%s' in\n%s", line, column, field ? field : "-", text,
             dump ? dump : "(none)");
}

/* Loads 'text', expects exactly one error, at 'line':'column' with 'field' and 'text'. */
static void assert_one_error(const char *yaml, int line, int column, const char *field,
                             const char *text) {
    loaded l;
    load(&l, yaml);
    assert_int_equal(l.rc, RT_EINPUT);
    assert_null(l.config);
    assert_item(&l.errors, line, column, field, text);
    assert_int_equal(rt_diag_count(&l.errors), 1);
    unload(&l);
}

/* No item of 'd' mentions 'secret'. */
static void assert_not_quoted(const rt_diag *d, const char *secret) {
    char *dump = d->items ? json_dumps(d->items, 0) : NULL;
    if (dump)
        assert_null(strstr(dump, secret));
    free(dump);
}

/* ---- valid configs -------------------------------------------------------------------------- */

static const char full[] =
    "analyzers:\n"
    "  - analyzers\n"
    "  - /opt/analyzers\n"
    "limits:\n"
    "  memory: 128MiB\n"
    "  instructions: 2000000000\n"
    "  timeout: 1m\n"
    "redis:\n"
    "  url: redis://127.0.0.1:6379/0\n"
    "connectors:\n"
    "  prom:\n"
    "    type: prometheus\n"
    "    url: http://127.0.0.1:9090\n"
    "    timeout: 5s\n"
    "    max_response: 8MiB\n"
    "    rate_limit: 20\n"
    "    concurrency: 4\n"
    "    tls_verify: false\n"
    "    headers: { X-Scope-OrgID: team-a }\n"
    "    auth:\n"
    "      type: bearer\n"
    "      token_env: TEST_CONFIG_TOKEN\n"
    "  logs:\n"
    "    type: loki\n"
    "    url: https://loki.example:3100\n"
    "  es:\n"
    "    type: elasticsearch\n"
    "    url: https://es.example\n"
    "    auth: { type: basic, username: bob, password_env: TEST_CONFIG_TOKEN }\n"
    "  api:\n"
    "    type: http\n"
    "    url: https://api.example/v1\n"
    "    auth: { type: header, header: X-Api-Key, value_env: TEST_CONFIG_TOKEN }\n";

static void test_full(void **state) {
    (void)state;
    loaded l;
    setenv("TEST_CONFIG_TOKEN", "s3cret", 1);
    load(&l, full);
    assert_int_equal(l.rc, RT_OK);
    assert_int_equal(rt_diag_count(&l.errors), 0);
    assert_int_equal(rt_diag_count(&l.warnings), 1); /* valid, but said: tls_verify: false */
    assert_item(&l.warnings, 18, 17, "connectors.prom.tls_verify", "certificates are not verified");
    rt_config *c = l.config;
    assert_int_equal(c->n_analyzers, 2);
    assert_string_equal(c->analyzers[1], "/opt/analyzers");
    assert_int_equal(c->limits.memory, 128 << 20);
    assert_int_equal(c->limits.instructions, 2000000000);
    assert_true(c->limits.timeout == 60);
    assert_string_equal(c->redis_url, "redis://127.0.0.1:6379/0");
    assert_int_equal(c->n_connectors, 4);
    const rt_connector *p = rt_config_connector(c, "prom");
    assert_non_null(p);
    assert_int_equal(p->type, RT_CONNECTOR_PROMETHEUS);
    assert_string_equal(p->url, "http://127.0.0.1:9090");
    assert_true(p->timeout == 5);
    assert_int_equal(p->max_response, 8 << 20);
    assert_true(p->rate_limit == 20);
    assert_int_equal(p->concurrency, 4);
    assert_false(p->tls_verify);
    assert_int_equal(p->n_headers, 1);
    assert_string_equal(p->headers[0].name, "X-Scope-OrgID");
    assert_string_equal(p->headers[0].value, "team-a");
    assert_int_equal(p->auth.type, RT_AUTH_BEARER);
    assert_string_equal(p->auth.env, "TEST_CONFIG_TOKEN");
    assert_int_equal(p->line, 11);
    /* Defaults. */
    const rt_connector *logs = rt_config_connector(c, "logs");
    assert_int_equal(logs->type, RT_CONNECTOR_LOKI);
    assert_true(logs->timeout == 10);
    assert_int_equal(logs->max_response, 16 << 20);
    assert_true(logs->rate_limit == 0);
    assert_int_equal(logs->concurrency, 8);
    assert_true(logs->tls_verify);
    assert_int_equal(logs->auth.type, RT_AUTH_NONE);
    const rt_connector *es = rt_config_connector(c, "es");
    assert_int_equal(es->auth.type, RT_AUTH_BASIC);
    assert_string_equal(es->auth.username, "bob");
    const rt_connector *api = rt_config_connector(c, "api");
    assert_int_equal(api->type, RT_CONNECTOR_HTTP);
    assert_string_equal(api->auth.header, "X-Api-Key");
    assert_string_equal(rt_connector_type_name(api->type), "http");
    assert_null(rt_config_connector(c, "nope"));
    unload(&l);
}

static void test_defaults(void **state) {
    (void)state;
    loaded l;
    load(&l, "# nothing but a comment\n");
    assert_int_equal(l.rc, RT_OK);
    assert_int_equal(l.config->n_analyzers, 1);
    assert_string_equal(l.config->analyzers[0], "analyzers");
    assert_int_equal(l.config->limits.memory, 64 << 20);
    assert_int_equal(l.config->limits.instructions, 1000000000);
    assert_true(l.config->limits.timeout == 30);
    assert_null(l.config->redis_url);
    assert_int_equal(l.config->n_connectors, 0);
    assert_string_equal(l.config->server.listen, "127.0.0.1:8080");
    assert_null(l.config->server.external_url);
    assert_int_equal(l.config->server.max_body, 1 << 20);
    assert_string_equal(l.config->queue.prefix, "inquest");
    assert_true(l.config->queue.lease == 30);
    assert_int_equal(l.config->queue.max_deliveries, 3);
    assert_int_equal(l.config->worker.processes, 0);
    assert_int_equal(l.config->worker.concurrency, 64);
    assert_int_equal(l.config->n_tokens + l.config->n_routes + l.config->n_rules, 0);
    unload(&l);
}

/* ---- the service's sections ------------------------------------------------------------------ */

static const char service[] =
    "server: { listen: '0.0.0.0:9000', external_url: 'https://inquest.example', max_body: 2MiB }\n"
    "queue: { prefix: test, lease: 10s, max_deliveries: 5, team_concurrency: 4,\n"
    "         team_caps: { payments: 10, search: 0 } }\n"
    "worker: { processes: 2, concurrency: 16, user: inquest }\n"
    "connectors:\n"
    "  pagerduty: { type: http, url: 'https://api.pagerduty.com' }\n"
    "  prom: { type: prometheus, url: 'http://127.0.0.1:9090' }\n"
    "tokens:\n"
    "  oncall:\n"
    "    token_env: TEST_CONFIG_TOKEN\n"
    "    analyzers: ['http.*']\n"
    "    teams: [payments]\n"
    "routes:\n"
    "  - name: errors\n"
    "    sources: [alertmanager, grafana]\n"
    "    match:\n"
    "      - alertname=\"HighErrorRate\"\n"
    "      - service=~\"check.*|payments\"\n"
    "      - env!=dev\n"
    "      - annotations.runbook!~\"\"\n"
    "    analyzer: http.error_spike\n"
    "    inputs: { service: '{{ labels.service }}', start: '{{startsAt}}', window: 1h }\n"
    "    priority: interactive\n"
    "  - name: latency\n"
    "    match: ['alertname=HighLatency']\n"
    "    analyzer: http.latency\n"
    "rules:\n"
    "  - name: note\n"
    "    match: { analyzer: 'http.*', status: [ok], severity: [high, critical],\n"
    "             min_confidence: 0.7, labels: ['team=\"payments\"'] }\n"
    "    actions:\n"
    "      - { type: incident_note, connector: pagerduty, args: { text: '{{ summary }} {{ url }}' "
    "} }\n"
    "      - { type: mitigation, connector: pagerduty }\n"
    "    dry_run: false\n";

static void test_service_sections(void **state) {
    (void)state;
    loaded l;
    setenv("TEST_CONFIG_TOKEN", "s3cret", 1);
    load(&l, service);
    if (l.rc != RT_OK)
        fail_msg("%s", json_dumps(l.errors.items, JSON_INDENT(1)));
    /* valid, but no policy allows the mitigation: it would always be denied */
    assert_int_equal(rt_diag_count(&l.warnings), 1);
    assert_item(&l.warnings, 33, 9, "rules.0.actions.1.name",
                "no policy allows mitigation 'mitigation'");
    const rt_config *c = l.config;
    assert_string_equal(c->server.listen, "0.0.0.0:9000");
    assert_string_equal(c->server.external_url, "https://inquest.example");
    assert_int_equal(c->server.max_body, 2 << 20);
    assert_string_equal(c->queue.prefix, "test");
    assert_true(c->queue.lease == 10);
    assert_int_equal(c->queue.max_deliveries, 5);
    assert_int_equal(c->queue.team_concurrency, 4);
    assert_int_equal(c->queue.n_team_caps, 2);
    assert_string_equal(c->queue.team_caps[0].team, "payments");
    assert_int_equal(c->queue.team_caps[0].cap, 10);
    assert_int_equal(c->queue.team_caps[1].cap, 0);
    assert_int_equal(c->worker.processes, 2);
    assert_string_equal(c->worker.user, "inquest");

    assert_int_equal(c->n_tokens, 1);
    assert_string_equal(c->tokens[0].name, "oncall");
    assert_int_equal(c->tokens[0].line, 9);
    assert_int_equal(c->tokens[0].auth.type, RT_AUTH_BEARER);
    assert_string_equal(c->tokens[0].auth.env, "TEST_CONFIG_TOKEN");
    assert_int_equal(c->tokens[0].n_analyzers, 1);
    assert_string_equal(c->tokens[0].analyzers[0], "http.*");
    assert_string_equal(c->tokens[0].teams[0], "payments");

    assert_int_equal(c->n_routes, 2);
    const rt_route *r = &c->routes[0];
    assert_string_equal(r->name, "errors");
    assert_int_equal(r->sources, (1u << RT_SOURCE_ALERTMANAGER) | (1u << RT_SOURCE_GRAFANA));
    assert_int_equal(r->n_match, 4);
    assert_string_equal(r->match[1].name, "service");
    assert_int_equal(r->match[1].op, RT_MATCH_RE);
    assert_true(r->match[3].annotation);
    assert_string_equal(r->match[3].name, "runbook");
    assert_int_equal(r->n_inputs, 3);
    assert_string_equal(r->inputs[0].text, "{{ labels.service }}");
    assert_string_equal(r->inputs[2].text, "1h");
    assert_int_equal(r->priority, RT_PRIORITY_INTERACTIVE);
    assert_true(r->dedup_window == 3600);
    assert_int_equal(c->routes[1].priority, RT_PRIORITY_ALERT);
    assert_int_equal(c->routes[1].sources, 0);

    assert_int_equal(c->n_rules, 1);
    const rt_rule *u = &c->rules[0];
    assert_string_equal(u->match.analyzer, "http.*");
    assert_int_equal(u->match.status, 1u << 0);
    assert_int_equal(u->match.severity, (1u << 3) | (1u << 4));
    assert_true(u->match.min_confidence == 0.7);
    assert_int_equal(u->match.n_labels, 1);
    assert_false(u->dry_run);
    assert_int_equal(u->n_actions, 2);
    assert_int_equal(u->actions[0].type, RT_ACTION_INCIDENT_NOTE);
    assert_false(u->actions[0].approval);
    assert_true(u->actions[1].approval); /* a mitigation waits for a person by default */
    assert_string_equal(u->actions[0].args[0].text, "{{ summary }} {{ url }}");
    unload(&l);
}

static void test_matchers(void **state) {
    (void)state;
    loaded l;
    load(&l, "routes:\n  - name: m\n    analyzer: a\n    match:\n"
             "      - 'a=x'\n      - 'b!=x'\n      - 'c=~\"x|y+\"'\n      - 'd!~\"\"'\n"
             "      - 'e=\"say \\\"hi\\\"\"'\n");
    if (l.rc != RT_OK)
        fail_msg("%s", json_dumps(l.errors.items, JSON_INDENT(1)));
    const rt_matcher *m = l.config->routes[0].match;
    assert_true(rt_matcher_matches(&m[0], "x"));
    assert_false(rt_matcher_matches(&m[0], "xx"));
    assert_true(rt_matcher_matches(&m[1], NULL)); /* missing is "" */
    assert_false(rt_matcher_matches(&m[1], "x"));
    assert_true(rt_matcher_matches(&m[2], "yyy"));
    assert_false(rt_matcher_matches(&m[2], "xy")); /* anchored at both ends */
    assert_false(rt_matcher_matches(&m[3], NULL)); /* d!~"": d must be set */
    assert_true(rt_matcher_matches(&m[3], "set"));
    assert_string_equal(m[4].value, "say \"hi\"");
    unload(&l);
    assert_one_error("routes: [{ name: m, analyzer: a, match: ['a=~\"(x\"'] }]\n", 1, 42,
                     "routes.0.match", "bad regular expression at offset");
    assert_one_error("routes: [{ name: m, analyzer: a, match: ['a~x'] }]\n", 1, 42,
                     "routes.0.match", "expected =, !=, =~ or !~");
    assert_one_error("routes: [{ name: m, analyzer: a, match: ['=x'] }]\n", 1, 42, "routes.0.match",
                     "expected a label name");
    assert_one_error("routes: [{ name: m, analyzer: a, match: ['a=\"x'] }]\n", 1, 42,
                     "routes.0.match", "no closing quote");
}

static void test_intake(void **state) {
    (void)state;
    loaded l;
    load(&l, "intake:\n"
             "  alertmanager: { auth: { type: bearer, token_file: /run/secrets/am } }\n"
             "  pagerduty: { signing_secret_env: PD_SECRET }\n"
             "  generic:\n"
             "    ledger: { allow_unauthenticated: true, alerts: events, labels: tags }\n"
             "routes: [{ name: g, analyzer: a, match: [a=b], per: group }]\n");
    if (l.rc != RT_OK)
        fail_msg("%s", json_dumps(l.errors.items, JSON_INDENT(1)));
    const rt_intake *in = &l.config->intake;
    assert_true(in->sources[RT_SOURCE_ALERTMANAGER].enabled);
    assert_int_equal(in->sources[RT_SOURCE_ALERTMANAGER].auth.type, RT_AUTH_BEARER);
    assert_true(in->sources[RT_SOURCE_PAGERDUTY].enabled);
    assert_int_equal(in->sources[RT_SOURCE_PAGERDUTY].signing.type, RT_AUTH_HEADER);
    assert_string_equal(in->sources[RT_SOURCE_PAGERDUTY].signing.env, "PD_SECRET");
    assert_string_equal(in->sources[RT_SOURCE_PAGERDUTY].signature_header, "X-PagerDuty-Signature");
    assert_int_equal(in->sources[RT_SOURCE_PAGERDUTY].signature_format, RT_SIGNATURE_V1);
    assert_null(in->sources[RT_SOURCE_PAGERDUTY].timestamp_header);
    assert_false(in->sources[RT_SOURCE_GRAFANA].enabled);
    assert_int_equal(in->n_generic, 1);
    assert_string_equal(in->generic[0].name, "ledger");
    assert_string_equal(in->generic[0].map.alerts, "events");
    assert_int_equal(in->generic[0].map.n_resolved, 1); /* the default: "resolved" */
    assert_string_equal(in->generic[0].map.resolved[0], "resolved");
    assert_int_equal(l.config->routes[0].per, RT_ROUTE_PER_GROUP);
    assert_string_equal(rt_source_name(RT_SOURCE_OPSGENIE), "opsgenie");
    unload(&l);
    load(&l, "intake:\n"
             "  grafana: { signing_secret_env: GF, timestamp_header: X-Ts }\n");
    if (l.rc != RT_OK)
        fail_msg("%s", json_dumps(l.errors.items, JSON_INDENT(1)));
    const rt_intake_source *gf = &l.config->intake.sources[RT_SOURCE_GRAFANA];
    assert_int_equal(gf->signing.type, RT_AUTH_HEADER);
    assert_string_equal(gf->signature_header, "X-Grafana-Alerting-Signature");
    assert_int_equal(gf->signature_format, RT_SIGNATURE_HEX);
    assert_string_equal(gf->timestamp_header, "X-Ts");
    unload(&l);
    assert_one_error("intake: { grafana: { auth: { type: bearer, token_env: T }, "
                     "timestamp_header: X-Ts } }\n",
                     1, 60, "intake.grafana.timestamp_header", "needs signing_secret_env");
    assert_one_error("intake: { pagerduty: { signing_secret_env: P, signature_format: base64 } }\n",
                     1, 65, "intake.pagerduty.signature_format", "unknown signature_format");
    assert_one_error("intake: { opsgenie: {} }\n", 1, 21, "intake.opsgenie",
                     "an intake source needs auth, or allow_unauthenticated");
    assert_one_error("intake: { pagerduty: {} }\n", 1, 22, "intake.pagerduty",
                     "needs auth or signing_secret_env/signing_secret_file");
    assert_one_error(
        "intake: { alertmanager: { allow_unauthenticated: true, signing_secret_env: X } "
        "}\n",
        1, 56, "intake.alertmanager.signing_secret_env", "unknown key");
    assert_one_error("intake: { pagerduty: { signing_secret: x } }\n", 1, 24,
                     "intake.pagerduty.signing_secret", "secrets are never written");
    assert_one_error("intake: { opsgenie: { allow_unauthenticated: true, auth: { type: bearer, "
                     "token_env: T } } }\n",
                     1, 23, "intake.opsgenie.allow_unauthenticated", "does not go with auth");
    assert_one_error("intake: { generic: { Bad: { allow_unauthenticated: true, labels: l } } }\n",
                     1, 22, "intake.generic.Bad", "must match ^[a-z][a-z0-9_]*$");
    assert_one_error("intake: { generic: { g: { allow_unauthenticated: true, resolved_values: [], "
                     "fingerprint: id } } }\n",
                     1, 56, "intake.generic.g.resolved_values", "give at least one value");
    assert_one_error("intake: { generic: { g: { allow_unauthenticated: true, status: s } } }\n", 1,
                     22, "intake.generic.g", "needs fingerprint, incident_id or labels");
    assert_one_error("routes: [{ name: m, analyzer: a, match: [a=b], per: incident }]\n", 1, 53,
                     "routes.0.per", "unknown per 'incident'");
}

static void test_service_errors(void **state) {
    (void)state;
    assert_one_error(
        "routes: [{ name: m, analyzer: a, match: [a=b], inputs: { s: '{{ label.x }}' } "
        "}]\n",
        1, 61, "routes.0.inputs.s",
        "unknown '{{ label.x }}' (expected labels.<name>, annotations.<name>");
    assert_one_error("routes: [{ name: m, analyzer: a, match: [a=b], inputs: { s: '{{ labels.x' } "
                     "}]\n",
                     1, 61, "routes.0.inputs.s", "'{{' without its '}}'");
    assert_one_error("routes: [{ name: m, analyzer: a, match: [a=b], sources: [nagios] }]\n", 1, 58,
                     "routes.0.sources", "unknown value 'nagios' (expected alertmanager,");
    assert_one_error("routes:\n  - { name: m, analyzer: a, match: [a=b] }\n"
                     "  - { name: m, analyzer: b, match: [a=b] }\n",
                     3, 5, "routes.1", "name 'm' already used at line 2");
    assert_one_error("routes: [{ name: m, match: [a=b] }]\n", 1, 10, "routes.0",
                     "missing required key 'analyzer'");
    assert_one_error("tokens: { ci: { analyzers: ['*'] } }\n", 1, 11, "tokens.ci",
                     "a token needs token_env or token_file");
    assert_one_error("tokens: { ci: { token_env: T } }\n", 1, 11, "tokens.ci",
                     "a token that may run nothing");
    assert_one_error("tokens: { ci: { token: abc, teams: [x] } }\n", 1, 17, "tokens.ci.token",
                     "secrets are never written in the config");
    assert_one_error("rules: [{ name: r, actions: [] }]\n", 1, 9, "rules.0",
                     "a rule needs at least one action");
    assert_one_error("rules: [{ name: r, actions: [{ type: slack, connector: nope }] }]\n", 1, 1,
                     "rules.0.actions.0.connector", "no connector named 'nope'");
    assert_one_error("connectors: { p: { type: prometheus, url: 'http://p' } }\n"
                     "rules: [{ name: r, actions: [{ type: slack, connector: p }] }]\n",
                     2, 1, "rules.0.actions.0.connector", "through an http connector ('p' is");
    assert_one_error("connectors: { p: { type: http, url: 'http://p' } }\n"
                     "rules: [{ name: r, match: { status: [done] }, actions: [{ type: slack, "
                     "connector: p, args: { t: '{{ summary }}' } }] }]\n",
                     2, 38, "rules.0.match.status", "unknown value 'done'");
    assert_one_error("tokens: { Bad: { token_env: T, teams: [x] } }\n", 1, 11, "tokens.Bad",
                     "a token name must match");
    assert_one_error("queue: { team_caps: { payments: -1 } }\n", 1, 33, "queue.team_caps.payments",
                     "expected a whole number from 0 to 1000000");
}

/* ---- each error ----------------------------------------------------------------------------- */

static void test_unknown_key(void **state) {
    (void)state;
    assert_one_error(
        "limits:\n  memory: 1MiB\n  colour: blue\n", 3, 3, "limits.colour",
        "unknown key 'colour' (expected one of memory, instructions, timeout, calls, call_bytes)");
    assert_one_error("route: []\n", 1, 1, "route", "unknown key 'route'");
    assert_one_error("connectors:\n  p:\n    type: http\n    url: http://x\n    tls: true\n", 5, 5,
                     "connectors.p.tls", "unknown key 'tls'");
}

static void test_wrong_type(void **state) {
    (void)state;
    assert_one_error("analyzers: analyzers\n", 1, 12, "analyzers", "expected a list of folders");
    assert_one_error("limits: [1]\n", 1, 9, "limits", "expected a mapping, got a list");
    assert_one_error("connectors:\n  p: {type: http, url: http://x, concurrency: eight}\n", 2, 47,
                     "connectors.p.concurrency", "expected a whole number");
    assert_one_error("connectors:\n  p: {type: http, url: http://x, tls_verify: \"yes\"}\n", 2, 46,
                     "connectors.p.tls_verify", "expected true or false");
    assert_one_error("server:\n  external_url: https://ops.example.com/inquest?x=1#f\n", 2, 17,
                     "server.external_url", "must not have a query or fragment");
    assert_one_error("connectors:\n  p: {type: http, url: http://x, concurrency: 0}\n", 2, 47,
                     "connectors.p.concurrency", "from 1 to 1024");
    assert_one_error("connectors:\n  p: {type: graphite, url: http://x}\n", 2, 13,
                     "connectors.p.type",
                     "unknown type 'graphite' (expected one of prometheus, loki, elasticsearch, "
                     "http)");
}

static void test_bad_duration_and_size(void **state) {
    (void)state;
    assert_one_error("limits:\n  timeout: 30 s\n", 2, 12, "limits.timeout", "duration");
    assert_one_error("limits:\n  timeout: 0s\n", 2, 12, "limits.timeout", "more than 0");
    assert_one_error("limits:\n  timeout: 2d\n", 2, 12, "limits.timeout", "at most 1d");
    /* a lease shorter than a second would expire between a worker's renewals */
    assert_one_error("queue:\n  lease: 500ms\n", 2, 10, "queue.lease",
                     "expected a duration from 1s to 1h");
    assert_one_error("limits:\n  memory: lots\n", 2, 11, "limits.memory",
                     "cannot read 'lots' as a size");
    assert_one_error("limits:\n  memory: 1KiB\n", 2, 11, "limits.memory", "from 65536");
}

/* redis.timeout: serve's command timeout, half a second unless given, from 10ms to 1m. */
static void test_redis_timeout(void **state) {
    (void)state;
    loaded l;
    load(&l, "redis:\n  url: redis://127.0.0.1:6379\n");
    assert_int_equal(l.rc, RT_OK);
    assert_true(l.config->redis_timeout == 0.5);
    unload(&l);
    load(&l, "redis:\n  url: redis://127.0.0.1:6379\n  timeout: 250ms\n");
    assert_int_equal(l.rc, RT_OK);
    assert_true(l.config->redis_timeout == 0.25);
    unload(&l);
    static const char *const bad[] = {"0", "5ms", "2m", "-1s", "soon"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[96];
        snprintf(yaml, sizeof yaml, "redis:\n  url: redis://x\n  timeout: %s\n", bad[i]);
        assert_one_error(yaml, 3, 12, "redis.timeout",
                         i < 3 ? "expected a duration from 10ms to 1m" : "duration");
    }
}

static void test_bad_url(void **state) {
    (void)state;
    assert_one_error("connectors:\n  p:\n    type: http\n    url: ftp://x\n", 4, 10,
                     "connectors.p.url", "must start with http:// or https://");
    assert_one_error("connectors:\n  p:\n    type: http\n    url: http://\n", 4, 10,
                     "connectors.p.url", "has no host");
    loaded l;
    load(&l, "connectors:\n  p:\n    type: http\n    url: https://bob:hunter2@x/\n");
    assert_int_equal(l.rc, RT_EINPUT);
    assert_item(&l.errors, 4, 10, "connectors.p.url", "must not hold credentials");
    assert_not_quoted(&l.errors, "hunter2");
    unload(&l);
    assert_one_error("redis:\n  url: http://127.0.0.1:6379\n", 2, 8, "redis.url",
                     "must start with redis:// or unix://");
    /* config check must not pass what serve and workers then refuse at start */
    assert_one_error("redis:\n  url: rediss://127.0.0.1:6379\n", 2, 8, "redis.url",
                     "TLS to Redis (rediss://) is not supported yet");
}

static void test_bad_connector_name(void **state) {
    (void)state;
    assert_one_error("connectors:\n  Prom-1:\n    type: http\n    url: http://x\n", 2, 3,
                     "connectors.Prom-1", "^[a-z][a-z0-9_]*$");
    assert_one_error("connectors:\n  1prom: {type: http, url: http://x}\n", 2, 3,
                     "connectors.1prom", "must match");
}

static void test_inline_secret(void **state) {
    (void)state;
    const char *const cases[] = {
        "connectors:\n  p:\n    type: http\n    url: http://x\n    auth:\n      type: bearer\n"
        "      token: hunter2\n",
        "connectors:\n  p:\n    type: http\n    url: http://x\n    auth:\n      type: basic\n"
        "      username: bob\n      password: hunter2\n",
        "connectors:\n  p:\n    type: http\n    url: http://x\n    auth:\n      type: header\n"
        "      header: X-Key\n      value: hunter2\n",
    };
    const char *const keys[] = {"token", "password", "value"};
    const int lines[] = {7, 8, 8};
    for (size_t i = 0; i < 3; i++) {
        loaded l;
        char field[64], hint[64];
        load(&l, cases[i]);
        assert_int_equal(l.rc, RT_EINPUT);
        snprintf(field, sizeof field, "connectors.p.auth.%s", keys[i]);
        snprintf(hint, sizeof hint, "use %s_env", keys[i]);
        assert_item(&l.errors, lines[i], 7, field, hint);
        assert_int_equal(rt_diag_count(&l.errors), 1);
        assert_not_quoted(&l.errors, "hunter2");
        unload(&l);
    }
    assert_one_error("connectors:\n  p:\n    type: http\n    url: http://x\n"
                     "    headers: {Authorization: Bearer hunter2}\n",
                     5, 15, "connectors.p.headers.Authorization", "use auth");
    assert_one_error("redis:\n  url: redis://x\n  password: hunter2\n", 3, 3, "redis.password",
                     "use password_env");
}

static void test_duplicate_key(void **state) {
    (void)state;
    assert_one_error("limits:\n  memory: 1MiB\n  memory: 2MiB\n", 3, 3, "limits.memory",
                     "given twice (first at line 2)");
    assert_one_error("connectors:\n  p: {type: http, url: http://x}\n  p: {type: http, url: "
                     "http://y}\n",
                     3, 3, "connectors.p", "defined twice");
}

static void test_syntax_error(void **state) {
    (void)state;
    assert_one_error("limits:\n  memory: [1\n  timeout: 2s\n", 3, 10, NULL, "YAML syntax error");
    assert_one_error("limits:\n\tmemory: 1MiB\n", 2, 1, NULL, "YAML syntax error");
    assert_one_error("limits: {}\n---\nlimits: {}\n", 3, 1, NULL, "one YAML document");
}

static void test_missing_required(void **state) {
    (void)state;
    assert_one_error("connectors:\n  p:\n    url: http://x\n", 2, 3, "connectors.p",
                     "missing required key 'type'");
    assert_one_error("connectors:\n  p:\n    type: loki\n", 2, 3, "connectors.p",
                     "missing required key 'url'");
    assert_one_error("connectors:\n  p:\n    type: http\n    url: http://x\n    auth: {}\n", 5, 11,
                     "connectors.p.auth", "missing required key 'type'");
    assert_one_error("connectors:\n  p:\n    type: http\n    url: http://x\n"
                     "    auth: {type: bearer}\n",
                     5, 11, "connectors.p.auth", "needs token_env or token_file");
    assert_one_error("redis: {}\n", 1, 8, "redis", "missing required key 'url'");
}

static void test_auth_rules(void **state) {
    (void)state;
    assert_one_error("connectors:\n  p:\n    type: http\n    url: http://x\n"
                     "    auth: {type: basic, username: u, password_env: A, token_env: B}\n",
                     5, 55, "connectors.p.auth.token_env", "does not go with auth type basic");
    assert_one_error("connectors:\n  p:\n    type: http\n    url: http://x\n"
                     "    auth: {type: bearer, token_env: A, token_file: /x}\n",
                     5, 40, "connectors.p.auth.token_file", "not both");
    assert_one_error("connectors:\n  p:\n    type: http\n    url: http://x\n"
                     "    auth: {type: bearer, token_env: 1A}\n",
                     5, 37, "connectors.p.auth.token_env", "environment variable's name");
}

/* ---- several at once, and warnings ---------------------------------------------------------- */

static void test_many_errors(void **state) {
    (void)state;
    loaded l;
    load(&l, "limits:\n"                /* 1 */
             "  memory: lots\n"         /* 2 */
             "  colour: blue\n"         /* 3 */
             "connectors:\n"            /* 4 */
             "  Bad:\n"                 /* 5 */
             "    type: prometheus\n"   /* 6 */
             "    url: ftp://x\n"       /* 7 */
             "  good:\n"                /* 8 */
             "    type: loki\n"         /* 9 */
             "    url: http://x\n"      /* 10 */
             "    timeout: never\n"     /* 11 */
             "    auth:\n"              /* 12 */
             "      type: bearer\n"     /* 13 */
             "      token: hunter2\n"); /* 14 */
    assert_int_equal(l.rc, RT_EINPUT);
    assert_null(l.config);
    assert_int_equal(rt_diag_count(&l.errors), 6);
    assert_item(&l.errors, 2, 11, "limits.memory", "size");
    assert_item(&l.errors, 3, 3, "limits.colour", "unknown key");
    assert_item(&l.errors, 5, 3, "connectors.Bad", "must match");
    assert_item(&l.errors, 7, 10, "connectors.Bad.url", "http://");
    assert_item(&l.errors, 11, 14, "connectors.good.timeout", "never");
    assert_item(&l.errors, 14, 7, "connectors.good.auth.token", "token_env");
    assert_not_quoted(&l.errors, "hunter2");
    unload(&l);
}

static void test_warnings(void **state) {
    (void)state;
    loaded l;
    unsetenv("TEST_CONFIG_UNSET");
    load(&l, "connectors:\n"
             "  p:\n"
             "    type: http\n"
             "    url: http://x\n"
             "    auth: {type: bearer, token_env: TEST_CONFIG_UNSET}\n"
             "  q:\n"
             "    type: http\n"
             "    url: http://x\n"
             "    auth: {type: basic, username: u, password_file: /nonexistent/secret}\n");
    assert_int_equal(l.rc, RT_OK); /* warnings do not make the config invalid */
    assert_non_null(l.config);
    assert_int_equal(rt_diag_count(&l.errors), 0);
    assert_int_equal(rt_diag_count(&l.warnings), 4);
    assert_item(&l.warnings, 5, 37, "connectors.p.auth.token_env", "TEST_CONFIG_UNSET is not set");
    assert_item(&l.warnings, 9, 53, "connectors.q.auth.password_file", "cannot read");
    assert_item(&l.warnings, 4, 10, "connectors.p.url", "clear text over http://");
    assert_item(&l.warnings, 8, 10, "connectors.q.url", "clear text over http://");
    unload(&l);
}

/* Connectors that work but expose what they carry: certificates not verified, or a credential
 * in clear text over a network (loopback is no network). Warnings at the key, naming it. */
static void test_connector_exposure(void **state) {
    (void)state;
    loaded l;
    setenv("TEST_CONFIG_TOKEN", "s3cret", 1);
    load(&l, "connectors:\n"
             "  insecure: { type: http, url: 'https://api.example', tls_verify: false }\n"
             "  clear: { type: http, url: 'http://api.example/v1', auth: { type: bearer, "
             "token_env: TEST_CONFIG_TOKEN } }\n"
             "  local: { type: http, url: 'http://127.0.0.1:8080', auth: { type: bearer, "
             "token_env: TEST_CONFIG_TOKEN } }\n"
             "  local6: { type: http, url: 'http://[::1]:8080/x', auth: { type: bearer, "
             "token_env: TEST_CONFIG_TOKEN } }\n"
             "  named: { type: http, url: 'http://LocalHost/x', auth: { type: bearer, "
             "token_env: TEST_CONFIG_TOKEN } }\n"
             "  tricky: { type: http, url: 'http://127.0.0.1.example.com', auth: { type: bearer, "
             "token_env: TEST_CONFIG_TOKEN } }\n"
             "  open: { type: http, url: 'http://api.example' }\n"
             "  verified: { type: http, url: 'https://api.example', tls_verify: true, auth: "
             "{ type: bearer, token_env: TEST_CONFIG_TOKEN } }\n");
    assert_int_equal(l.rc, RT_OK);
    assert_item(&l.warnings, 2, 67, "connectors.insecure.tls_verify",
                "certificates are not verified: anyone on the network path can pose as the "
                "server, read the calls and forge its answers");
    assert_item(&l.warnings, 3, 29, "connectors.clear.url",
                "the credential (auth) goes in clear text over http://: use https://");
    assert_item(&l.warnings, 7, 30, "connectors.tricky.url", "clear text");
    assert_int_equal(rt_diag_count(&l.warnings), 3);
    unload(&l);
}

/* The connectors rules' actions name are marked reserved: the post-processor's alone. */
static void test_reserved_connectors(void **state) {
    (void)state;
    loaded l;
    load(&l, "connectors:\n"
             "  prom: { type: prometheus, url: 'http://127.0.0.1:9090' }\n"
             "  hook: { type: http, url: 'https://hooks.example' }\n"
             "  ops: { type: http, url: 'https://ops.example' }\n"
             "  deploys: { type: http, url: 'https://ops.example' }\n"
             "policies: [{ name: p, services: ['*'], actions: [rollback] }]\n"
             "rules:\n"
             "  - name: r\n"
             "    actions:\n"
             "      - { type: webhook, connector: hook }\n"
             "      - { type: mitigation, connector: ops, name: rollback }\n"
             "  - name: s\n"
             "    actions: [{ type: webhook, connector: hook }]\n");
    assert_int_equal(l.rc, RT_OK);
    const rt_config *c = l.config;
    assert_false(rt_config_connector(c, "prom")->reserved);
    assert_true(rt_config_connector(c, "hook")->reserved);
    assert_true(rt_config_connector(c, "ops")->reserved);
    assert_false(rt_config_connector(c, "deploys")->reserved); /* the same URL is not the same */
    unload(&l);
}

static void test_unreadable(void **state) {
    (void)state;
    rt_config *c = NULL;
    rt_diag errors = {0}, warnings = {0};
    assert_int_equal(rt_config_load("/nonexistent/inquest.yaml", &c, &errors, &warnings),
                     RT_ENOTFOUND);
    assert_null(c);
    assert_int_equal(rt_diag_count(&errors), 1);
    rt_diag_free(&errors);
    rt_diag_free(&warnings);
}

static void test_secret(void **state) {
    (void)state;
    char why[256], path[] = "/tmp/test_config_secret_XXXXXX";
    char *secret = NULL;
    size_t len = 0;
    rt_auth a = {.type = RT_AUTH_BEARER, .env = (char *)"TEST_CONFIG_TOKEN"};
    setenv("TEST_CONFIG_TOKEN", "s3cret", 1);
    assert_int_equal(rt_config_secret(&a, &secret, &len, why), RT_OK);
    assert_string_equal(secret, "s3cret");
    assert_int_equal(len, 6);
    rt_secret_free(secret, len);
    unsetenv("TEST_CONFIG_TOKEN");
    assert_int_equal(rt_config_secret(&a, &secret, &len, why), RT_ENOTFOUND);
    assert_null(secret);

    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from-file\n", 10), 10);
    close(fd);
    rt_auth f = {.type = RT_AUTH_BEARER, .file = path};
    assert_int_equal(rt_config_secret(&f, &secret, &len, why), RT_OK);
    assert_string_equal(secret, "from-file");
    rt_secret_free(secret, len);
    /* Too big: refused, and the reason does not quote the content. */
    FILE *big = fopen(path, "w");
    assert_non_null(big);
    for (int i = 0; i < RT_CONFIG_SECRET_MAX + 10; i++)
        fputc('z', big);
    fclose(big);
    assert_int_equal(rt_config_secret(&f, &secret, &len, why), RT_ETOOBIG);
    assert_null(secret);
    assert_null(strstr(why, "zzz"));
    unlink(path);
    rt_auth none = {0};
    assert_int_equal(rt_config_secret(&none, &secret, &len, why), RT_ENOTFOUND);
}

/* The console section: on by default with an 8 h session and a generated key; a key from one
 * place only, never inline. */
static void test_console(void **state) {
    (void)state;
    loaded l;
    load(&l, "redis: { url: redis://x }\n");
    assert_int_equal(l.rc, RT_OK);
    assert_true(l.config->console.enabled);
    assert_true(l.config->console.session_ttl == 8 * 3600);
    assert_int_equal(l.config->console.session_key.type, RT_AUTH_NONE);
    unload(&l);
    load(&l, "console: { enabled: false, session_ttl: 12h, key_env: TEST_CONFIG_TOKEN }\n");
    assert_int_equal(l.rc, RT_OK);
    assert_false(l.config->console.enabled);
    assert_true(l.config->console.session_ttl == 12 * 3600);
    assert_int_equal(l.config->console.session_key.type, RT_AUTH_BEARER);
    assert_string_equal(l.config->console.session_key.env, "TEST_CONFIG_TOKEN");
    unload(&l);
    assert_one_error("console:\n  key_env: TEST_CONFIG_TOKEN\n  key_file: /k\n", 3, 3,
                     "console.key_file", "not both");
    assert_one_error("console:\n  key: hunter2\n", 2, 3, "console.key", "use key_env");
    assert_one_error("console: { session_ttl: 31d }\n", 1, 25, "console.session_ttl", "at most");
    assert_one_error("console: { enabled: maybe }\n", 1, 21, "console.enabled", "");
}

/* ---- recordings -------------------------------------------------------------------------- */

static void test_recordings(void **state) {
    loaded l;
    (void)state;
    load(&l, ""); /* none kept; the ttl follows the queue's */
    assert_int_equal(l.rc, RT_OK);
    assert_true(l.config->recordings.share == 0);
    assert_true(l.config->recordings.ttl == 7 * 86400.0);
    assert_int_equal(l.config->recordings.max_bytes, (size_t)16 << 20);
    unload(&l);

    load(&l, "queue: { result_ttl: 2d }\nrecordings: { share: 0.05 }\n");
    assert_int_equal(l.rc, RT_OK);
    assert_true(l.config->recordings.share == 0.05);
    assert_true(l.config->recordings.ttl == 2 * 86400.0);
    unload(&l);

    load(&l, "recordings:\n  share: 1\n  ttl: 12h\n  max_bytes: 2MiB\n");
    assert_int_equal(l.rc, RT_OK);
    assert_true(l.config->recordings.share == 1);
    assert_true(l.config->recordings.ttl == 12 * 3600.0);
    assert_int_equal(l.config->recordings.max_bytes, (size_t)2 << 20);
    assert_int_equal(rt_diag_count(&l.warnings), 0);
    unload(&l);

    /* Outliving its analysis, a recording cannot become a case: a warning at the ttl. */
    load(&l, "queue: { result_ttl: 1d }\nrecordings:\n  ttl: 3d\n");
    assert_int_equal(l.rc, RT_OK);
    assert_item(&l.warnings, 3, 8, "recordings.ttl", "cannot become a case");
    unload(&l);
}

static void test_recordings_errors(void **state) {
    (void)state;
    assert_one_error("recordings:\n  share: 1.5\n", 2, 10, "recordings.share",
                     "expected a number from 0 to 1, got '1.5'");
    assert_one_error("recordings:\n  share: -0.1\n", 2, 10, "recordings.share",
                     "expected a number from 0 to 1");
    assert_one_error("recordings: { share: \"all\" }\n", 1, 22, "recordings.share",
                     "expected a number from 0 to 1, got 'all'");
    assert_one_error("recordings:\n  ttl: forever\n", 2, 8, "recordings.ttl", "forever");
    assert_one_error("recordings:\n  max_bytes: 12\n", 2, 14, "recordings.max_bytes",
                     "expected a size from 1024 to 67108864 bytes");
    assert_one_error("recordings:\n  shares: 0.1\n", 2, 3, "recordings.shares",
                     "unknown key 'shares' (expected one of share, ttl, max_bytes)");
    assert_one_error("recordings: 0.1\n", 1, 13, "recordings", "expected a mapping");
}

/* ---- feedback, insights, backtest reports ----------------------------------------------- */

static void test_insights(void **state) {
    loaded l;
    (void)state;
    load(&l, "");
    assert_int_equal(l.rc, RT_OK);
    assert_true(l.config->feedback.ttl == 90 * 86400.0);
    assert_false(l.config->insights.enabled); /* off unless asked: it costs Redis per analysis */
    assert_true(l.config->insights.interval == 60);
    assert_true(l.config->insights.period == 7 * 86400.0);
    assert_true(l.config->insights.retention == 90 * 86400.0);
    assert_int_equal(l.config->insights.top, 10);
    assert_int_equal(l.config->backtests.n_reports, 0);
    assert_int_equal(l.config->backtests.max_bytes, (size_t)16 << 20);
    unload(&l);

    load(&l, "feedback: { ttl: 400d }\ninsights: { enabled: false, interval: 200ms, period: 14d, "
             "retention: 30d, top: 3 }\nbacktests: { reports: [a, b], max_bytes: 1MiB }\n");
    assert_int_equal(l.rc, RT_OK);
    assert_true(l.config->feedback.ttl == 400 * 86400.0);
    assert_false(l.config->insights.enabled);
    assert_true(l.config->insights.interval == 0.2);
    assert_true(l.config->insights.period == 14 * 86400.0);
    assert_int_equal(l.config->insights.top, 3);
    assert_int_equal(l.config->backtests.n_reports, 2);
    assert_string_equal(l.config->backtests.reports[1], "b");
    assert_int_equal(rt_diag_count(&l.warnings), 0);
    unload(&l);

    /* Verdicts kept less than the analyses they judge: a warning at the ttl. */
    load(&l, "queue: { result_ttl: 10d }\nfeedback:\n  ttl: 2d\n");
    assert_int_equal(l.rc, RT_OK);
    assert_item(&l.warnings, 3, 8, "feedback.ttl", "less than the analyses it judges");
    unload(&l);
}

static void test_insights_errors(void **state) {
    (void)state;
    assert_one_error("insights:\n  period: 36h\n", 2, 11, "insights.period", "whole days");
    assert_one_error("insights:\n  period: 30d\n  retention: 7d\n", 2, 11, "insights.period",
                     "longer than the counts are kept");
    assert_one_error("insights:\n  retention: 2d\n", 2, 14, "insights.retention",
                     "longer than the counts are kept (retention 2d)");
    assert_one_error("insights:\n  top: 0\n", 2, 8, "insights.top", "from 1 to 100");
    assert_one_error("insights:\n  interval: 0s\n", 2, 13, "insights.interval", "more than 0");
    assert_one_error("backtests:\n  reports: /x\n", 2, 12, "backtests.reports", "list");
    assert_one_error("feedback:\n  keep: 1d\n", 2, 3, "feedback.keep", "unknown key 'keep'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_service_sections),
        cmocka_unit_test(test_matchers),
        cmocka_unit_test(test_service_errors),
        cmocka_unit_test(test_intake),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_bad_duration_and_size),
        cmocka_unit_test(test_redis_timeout),
        cmocka_unit_test(test_bad_url),
        cmocka_unit_test(test_bad_connector_name),
        cmocka_unit_test(test_inline_secret),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_auth_rules),
        cmocka_unit_test(test_many_errors),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_connector_exposure),
        cmocka_unit_test(test_reserved_connectors),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_console),

        cmocka_unit_test(test_recordings),
        cmocka_unit_test(test_recordings_errors),
        cmocka_unit_test(test_insights),
        cmocka_unit_test(test_insights_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
