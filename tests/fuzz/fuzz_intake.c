/* tests/fuzz/fuzz_intake.c -- the alert webhook parsers (integrations/ig_alert.c: Alertmanager,
 * Grafana, PagerDuty, Opsgenie, a generic mapping) and the routes over what they return
 * (ig_route.c: matchers, templates, plans). The input's first line names the source
 * ("alertmanager"; anything else picks one by its length), the rest is the body. A payload parses
 * into alerts of the one shape of ig_intake.h, or is refused with "field: what is wrong". Seeds:
 * corpus/intake/. */
#include "fuzz_support.h"
#include "ig_intake.h"

/* Routes and a generic mapping like those of tests/fixtures/intake/inquest.yaml, without secrets:
 * regexes, negated matchers, per-group routes and templates all run on every parsed payload. */
static const char config_text[] =
    "intake:\n"
    "  generic:\n"
    "    ledger:\n"
    "      allow_unauthenticated: true\n"
    "      alerts: events\n"
    "      status: state\n"
    "      resolved_values: [closed, ok]\n"
    "      labels: tags\n"
    "      annotations: info\n"
    "      starts_at: at\n"
    "      ends_at: until\n"
    "      fingerprint: id\n"
    "      incident_id: ref.id\n"
    "      group_key: incident\n"
    "      generator_url: link\n"
    "routes:\n"
    "  - name: http-errors\n"
    "    sources: [alertmanager, grafana]\n"
    "    match: [alertname=~\"HighErrorRate|LatencyHigh\", env!=\"dev\"]\n"
    "    analyzer: svc.noop\n"
    "    inputs: { service: \"{{ labels.service }}\", n: \"3\" }\n"
    "  - name: errors-by-group\n"
    "    sources: [alertmanager, grafana]\n"
    "    match: [alertname!~\"Watchdog\"]\n"
    "    per: group\n"
    "    analyzer: svc.noop\n"
    "    inputs: { service: \"{{ labels.severity }}\", s: \"{{ annotations.summary }}\" }\n"
    "  - name: incidents\n"
    "    sources: [pagerduty, opsgenie]\n"
    "    match: ['priority=~\"P[12]\"', 'annotations.summary=~\".*\"']\n"
    "    analyzer: svc.noop\n"
    "    inputs: { service: \"{{ labels.service }}\", id: \"{{ incident_id }}\" }\n"
    "  - name: ledger\n"
    "    sources: [generic]\n"
    "    match: [service!=\"\"]\n"
    "    analyzer: svc.noop\n"
    "    per: group\n"
    "    inputs: { service: \"{{ labels.service }}\", at: \"{{ startsAt }}\" }\n";

static rt_config *config;

static void load_config(void) {
    rt_diag errors = {0}, warnings = {0};
    const char *path = fuzz_scratch_file((const uint8_t *)config_text, strlen(config_text));
    int rc = rt_config_load(path, &config, &errors, &warnings);
    if (rc != RT_OK)
        rt_diag_print(&errors, stderr, "");
    FUZZ_CHECK(rc == RT_OK, "the harness' own config does not load");
    FUZZ_CHECK(config->intake.n_generic == 1, "no generic webhook");
    rt_diag_free(&errors);
    rt_diag_free(&warnings);
}

/* The source the first line names, and where the body starts. */
static rt_source source_of(const char *data, size_t size, size_t *body) {
    const char *nl = memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - data) : 0;
    *body = nl ? n + 1 : 0;
    char name[32] = "";
    if (n < sizeof name)
        memcpy(name, data, n);
    rt_source source;
    if (ig_source_parse(name, &source) != 0)
        source = (rt_source)(n % 5);
    return source;
}

static void check_alert(const json_t *a, size_t i) {
    const char *status = json_string_value(json_object_get(a, "status"));
    const char *fingerprint = json_string_value(json_object_get(a, "fingerprint"));
    FUZZ_CHECK(json_is_string(json_object_get(a, "source")), "alerts[%zu]: no source", i);
    FUZZ_CHECK(status && (!strcmp(status, "firing") || !strcmp(status, "resolved")),
               "alerts[%zu]: status %s", i, status ? status : "(none)");
    FUZZ_CHECK(json_is_object(json_object_get(a, "labels")), "alerts[%zu]: no labels", i);
    FUZZ_CHECK(json_is_object(json_object_get(a, "annotations")), "alerts[%zu]: no annotations", i);
    FUZZ_CHECK(fingerprint && *fingerprint, "alerts[%zu]: empty fingerprint", i);
}

static void check_plan(const ig_payload *p) {
    ig_plan plan;
    ig_plan_make(config, p, true, &plan);
    for (size_t i = 0; i < plan.n_steps; i++) {
        const ig_step *s = &plan.steps[i];
        FUZZ_CHECK(s->dedup_key && *s->dedup_key, "step %zu: no dedup key", i);
        FUZZ_CHECK(s->resolve || json_is_object(s->inputs), "step %zu: a start without inputs", i);
    }
    ig_plan_free(&plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!config)
        load_config();
    size_t body;
    rt_source source = source_of((const char *)data, size, &body);
    const rt_intake_generic *g = source == RT_SOURCE_GENERIC ? &config->intake.generic[0] : NULL;
    ig_payload p;
    char why[IG_INTAKE_WHY] = "";
    int rc = ig_intake_parse(source, g, (const char *)data + body, size - body, &p, why);
    if (rc == RT_OK) {
        FUZZ_CHECK(json_is_array(p.alerts), "RT_OK without alerts");
        size_t i;
        json_t *a;
        json_array_foreach(p.alerts, i, a) check_alert(a, i);
        check_plan(&p);
    } else {
        FUZZ_CHECK(rc == RT_EINPUT, "%s", rt_errname(rc));
        FUZZ_CHECK(p.alerts == NULL, "a refused payload holds alerts");
        FUZZ_CHECK(strchr(why, ':') && why[0] != ':', "the reason names no field: \"%s\"", why);
    }
    ig_payload_free(&p);
    return 0;
}
