/* tests/unit/test_postproc.c -- the post-processor's pure parts (postproc/pp.h): rule matching,
 * templates, each action type's payload against its target's documented schema (field names,
 * required fields, limits), and the mitigation policy (allow-list, minimum confidence, freeze
 * windows, rate limit, blast radius). The chain in Redis is tested by tests/api/postproc. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "pp.h"

static const char config_text[] =
    "connectors:\n"
    "  pd: { type: http, url: 'https://api.pagerduty.com' }\n"
    "  hook: { type: http, url: 'http://127.0.0.1:1' }\n"
    "rules:\n"
    "  - name: notes\n"
    "    match: { analyzer: 'http.*', status: [ok], root_cause: 'bad_*', severity: [high, "
    "critical],\n"
    "             min_confidence: 0.7, labels: ['team=\"payments\"'] }\n"
    "    actions:\n"
    "      - { type: incident_note, connector: pd, args: { from: 'oncall@example.com' } }\n"
    "      - { type: incident_note, connector: pd, args: { tool: opsgenie } }\n"
    "      - { type: slack, connector: hook }\n"
    "      - { type: ticket, connector: hook, args: { repository: acme/web, labels: 'inc, "
    "bot' } }\n"
    "      - { type: ticket, connector: hook, args: { tracker: jira, project: OPS } }\n"
    "      - { type: webhook, connector: hook, path: '/hooks/{{ labels.team }}', args: { why: "
    "'{{ root_cause }}' } }\n"
    "      - { type: silence, connector: hook, args: { duration: 2h } }\n"
    "      - { type: mitigation, connector: hook, name: rollback, path: /rollback, idempotent: "
    "true,\n"
    "          args: { deploy: '{{ finding.deploy }}', replicas: '{{ inputs.n }}', force: 'true' "
    "},\n"
    "          arg_types: { replicas: int, force: bool } }\n"
    "      - { type: mitigation, connector: hook, name: scale, args: { n: '{{ summary }}' },\n"
    "          arg_types: { n: int } }\n"
    "policies:\n"
    "  - name: web\n"
    "    services: [web, 'api-*']\n"
    "    actions: [rollback]\n"
    "    min_confidence: 0.8\n"
    "    window: 1h\n"
    "    max_per_service: 2\n"
    "    blast_radius: 3\n"
    "    freeze:\n"
    "      - { start: '2026-12-20T00:00:00Z', end: '2027-01-03T00:00:00Z', reason: holidays }\n"
    "      - { start: 'Fri 16:00', end: 'Mon 08:00' }\n";

static const char result_text[] =
    "{\"status\":\"ok\",\"inputs\":{\"service\":\"web\",\"n\":3},"
    "\"conclusion\":{\"tag\":\"root_cause_found\",\"summary\":\"deploy 42 broke <checkout> & "
    "more\"},"
    "\"findings\":["
    "{\"title\":\"minor\",\"severity\":\"low\",\"confidence\":0.99,\"evidence\":[],\"actions\":[]},"
    "{\"title\":\"5xx after deploy 42\",\"summary\":\"errors on /pay\",\"severity\":\"high\","
    "\"confidence\":0.9,\"root_cause\":\"bad_deploy\",\"deploy\":\"d-42\",\"evidence\":[],"
    "\"actions\":[]},"
    "{\"title\":\"also high\",\"severity\":\"high\",\"confidence\":0.5,\"evidence\":[],"
    "\"actions\":[]}]}";

typedef struct fixture {
    rt_config *config;
    pp_analysis a;
} fixture;

static int setup(void **state) {
    char path[] = "/tmp/test_postproc_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, config_text, strlen(config_text)), (ssize_t)strlen(config_text));
    close(fd);
    fixture *f = calloc(1, sizeof *f);
    rt_diag errors = {0}, warnings = {0};
    int rc = rt_config_load(path, &f->config, &errors, &warnings);
    unlink(path);
    if (rc != RT_OK)
        fail_msg("%s", json_dumps(errors.items, JSON_INDENT(1)));
    rt_diag_free(&errors);
    rt_diag_free(&warnings);
    pp_analysis_init(&f->a, "0123456789abcdef", "http.error_spike", "team-edge", "ok",
                     "{\"team\":\"payments\",\"service\":\"web\",\"incident_id\":\"PABC123\","
                     "\"alertname\":\"HighErrors\"}",
                     result_text, strlen(result_text), "https://inquest.example");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    pp_analysis_free(&f->a);
    rt_config_free(f->config);
    free(f);
    return 0;
}

/* Builds action 'index' of the first rule; asserts it built (or not, with 'why' holding
 * 'error'). */
static void build(fixture *f, size_t index, pp_plan *p, const char *error) {
    char why[256] = "";
    int rc = pp_plan_build(f->config, &f->config->rules[0], index, &f->a, p, why);
    if (error) {
        assert_int_equal(rc, RT_EINPUT);
        assert_non_null(strstr(why, error));
    } else if (rc != RT_OK)
        fail_msg("action %zu: %s", index, why);
}

static const char *sget(const json_t *o, const char *path) {
    char key[64];
    const json_t *v = o;
    for (const char *p = path; v && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(key)) : json_object_get(v, key);
        p += n + (p[n] == '.');
    }
    return json_string_value(v);
}

/* ---- rules and templates ------------------------------------------------------------------- */

static void test_top_finding_and_templates(void **state) {
    fixture *f = *state;
    assert_string_equal(sget(f->a.top, "title"), "5xx after deploy 42"); /* high beats low */
    char *t = pp_render("{{ analyzer }}/{{root_cause}} {{ labels.service }} {{ inputs.n }} "
                        "{{ finding.deploy }} {{ labels.nope }}|{{ url }}",
                        &f->a);
    assert_string_equal(t, "http.error_spike/bad_deploy web 3 d-42 |"
                           "https://inquest.example/v1/analyses/0123456789abcdef");
    free(t);
    /* root_cause is the cause the top finding names; conclusion is the result's tag */
    t = pp_render("{{ root_cause }} {{ conclusion }}", &f->a);
    assert_string_equal(t, "bad_deploy root_cause_found");
    free(t);
}

static void test_rule_matching(void **state) {
    fixture *f = *state;
    const rt_rule *r = &f->config->rules[0];
    assert_true(pp_rule_matches(r, &f->a));
    pp_analysis b;
    /* each part of the match fails alone */
    const char *labels_other = "{\"team\":\"search\"}";
    pp_analysis_init(&b, "1", "http.error_spike", "", "ok", labels_other, result_text,
                     strlen(result_text), "x");
    assert_false(pp_rule_matches(r, &b)); /* labels */
    pp_analysis_free(&b);
    pp_analysis_init(&b, "1", "db.slow", "", "ok", "{\"team\":\"payments\"}", result_text,
                     strlen(result_text), "x");
    assert_false(pp_rule_matches(r, &b)); /* analyzer glob */
    pp_analysis_free(&b);
    pp_analysis_init(&b, "1", "http.x", "", "error", "{\"team\":\"payments\"}", result_text,
                     strlen(result_text), "x");
    assert_false(pp_rule_matches(r, &b)); /* status */
    pp_analysis_free(&b);
    const char *low = "{\"conclusion\":{\"tag\":\"root_cause_found\"},\"findings\":[{\"title\":"
                      "\"t\",\"severity\":\"critical\",\"confidence\":0.5,\"root_cause\":"
                      "\"bad_deploy\"}]}";
    pp_analysis_init(&b, "1", "http.x", "", "ok", "{\"team\":\"payments\"}", low, strlen(low), "x");
    assert_false(pp_rule_matches(r, &b)); /* min_confidence */
    pp_analysis_free(&b);
    const char *tag = "{\"conclusion\":{\"tag\":\"no_anomaly\"},\"findings\":[{\"title\":\"t\","
                      "\"severity\":\"critical\",\"confidence\":0.9}]}";
    pp_analysis_init(&b, "1", "http.x", "", "ok", "{\"team\":\"payments\"}", tag, strlen(tag), "x");
    assert_false(pp_rule_matches(r, &b)); /* root_cause glob */
    pp_analysis_free(&b);
    const char *info = "{\"conclusion\":{\"tag\":\"root_cause_found\"},\"findings\":[{\"title\":"
                       "\"t\",\"severity\":\"info\",\"confidence\":0.9,\"root_cause\":"
                       "\"bad_x\"}]}";
    pp_analysis_init(&b, "1", "http.x", "", "ok", "{\"team\":\"payments\"}", info, strlen(info),
                     "x");
    assert_false(pp_rule_matches(r, &b)); /* severity */
    pp_analysis_free(&b);
    /* root_cause is the top finding's: a conclusion tag that matches the glob does not count,
     * nor does the root cause of a finding that is not the top one */
    const char *bytag = "{\"conclusion\":{\"tag\":\"bad_deploy\"},\"findings\":[{\"title\":"
                        "\"t\",\"severity\":\"critical\",\"confidence\":0.9,\"root_cause\":"
                        "\"db.saturation\"},{\"title\":\"u\",\"severity\":\"low\",\"confidence\":"
                        "0.9,\"root_cause\":\"bad_deploy\"}]}";
    pp_analysis_init(&b, "1", "http.x", "", "ok", "{\"team\":\"payments\"}", bytag, strlen(bytag),
                     "x");
    assert_false(pp_rule_matches(r, &b));
    rt_rule_match cm = {.conclusion = (char *)"bad_*"};
    rt_rule by_conclusion = {.name = (char *)"c", .match = cm};
    assert_true(pp_rule_matches(&by_conclusion, &b)); /* match.conclusion: the tag */
    by_conclusion.match.root_cause = (char *)"db.*";
    assert_true(pp_rule_matches(&by_conclusion, &b));
    by_conclusion.match.conclusion = (char *)"root_cause_found";
    assert_false(pp_rule_matches(&by_conclusion, &b));
    pp_analysis_free(&b);
    const char *none = "{}";
    pp_analysis_init(&b, "1", "http.x", "", "ok", NULL, none, 2, "x");
    rt_rule any = {.name = (char *)"any"};
    assert_true(pp_rule_matches(&any, &b)); /* an empty match takes everything */
    pp_analysis_free(&b);
}

/* ---- payloads ------------------------------------------------------------------------------- */

static void test_pagerduty_note(void **state) {
    fixture *f = *state;
    pp_plan p;
    build(f, 0, &p, NULL);
    assert_string_equal(p.path, "/incidents/PABC123/notes");
    assert_string_equal(sget(p.headers, "From"), "oncall@example.com");
    assert_string_equal(sget(p.headers, "Accept"), "application/vnd.pagerduty+json;version=2");
    assert_null(json_object_get(p.headers, "Idempotency-Key")); /* PagerDuty takes none */
    /* {"note": {"content": "..."}} and nothing else */
    assert_int_equal(json_object_size(p.body), 1);
    assert_int_equal(json_object_size(json_object_get(p.body, "note")), 1);
    const char *content = sget(p.body, "note.content");
    assert_non_null(strstr(content, "root_cause_found"));
    assert_non_null(strstr(content, "5xx after deploy 42 [high, confidence 90%]"));
    assert_non_null(strstr(content, "https://inquest.example/v1/analyses/0123456789abcdef"));
    assert_true(strstr(content, "5xx after") < strstr(content, "minor")); /* ranked */
    char id2[PP_ID_SIZE];
    pp_action_id("0123456789abcdef", "notes", 0, id2);
    assert_string_equal(p.id, id2);
    assert_int_equal(strlen(p.id), 24);
    pp_plan_free(&p);
}

static void test_pagerduty_note_needs_from_and_incident(void **state) {
    fixture *f = *state;
    pp_plan p;
    rt_template *args = f->config->rules[0].actions[0].args;
    char *from = args[0].text;
    args[0].text = (char *)"";
    build(f, 0, &p, "args.from");
    pp_plan_free(&p);
    args[0].text = from;
    json_object_del(f->a.labels, "incident_id");
    build(f, 0, &p, "no incident id");
    pp_plan_free(&p);
}

static void test_opsgenie_note(void **state) {
    fixture *f = *state;
    pp_plan p;
    build(f, 1, &p, NULL);
    assert_string_equal(p.path, "/v2/alerts/PABC123/notes?identifierType=id");
    assert_string_equal(sget(p.body, "user"), "inquest");
    assert_string_equal(sget(p.body, "source"), "inquest");
    const char *note = sget(p.body, "note");
    assert_true(rt_utf8_count(note, strlen(note)) <= PP_NOTE_MAX);
    assert_non_null(strstr(note, "https://inquest.example/v1/analyses/0123456789abcdef"));
    assert_non_null(strstr(note, "5xx after deploy 42"));
    assert_int_equal(json_object_size(p.body), 3); /* note, user, source: nothing else */
    assert_null(json_object_get(p.headers, "Idempotency-Key"));
    pp_plan_free(&p);
    /* Opsgenie's user is at most 100 characters */
    rt_action *ac = &f->config->rules[0].actions[1];
    char user[300];
    memset(user, 'u', sizeof user - 1);
    user[sizeof user - 1] = '\0';
    rt_template t[2] = {{(char *)"tool", (char *)"opsgenie"}, {(char *)"user", user}};
    rt_template *saved = ac->args;
    size_t n = ac->n_args;
    ac->args = t;
    ac->n_args = 2;
    build(f, 1, &p, NULL);
    const char *u = sget(p.body, "user");
    assert_int_equal(rt_utf8_count(u, strlen(u)), PP_OPSGENIE_USER);
    pp_plan_free(&p);
    ac->args = saved;
    ac->n_args = n;
}

static void test_slack_blocks(void **state) {
    fixture *f = *state;
    pp_plan p;
    build(f, 2, &p, NULL);
    assert_string_equal(p.path, "");       /* the webhook's path is the connector's secret */
    assert_non_null(sget(p.body, "text")); /* the notification's fallback */
    json_t *blocks = json_object_get(p.body, "blocks"), *b;
    size_t i;
    assert_true(json_array_size(blocks) >= 3 && json_array_size(blocks) <= PP_SLACK_BLOCKS);
    assert_string_equal(sget(blocks, "0.type"), "header");
    assert_string_equal(sget(blocks, "0.text.type"), "plain_text");
    json_array_foreach(blocks, i, b) {
        if (i == 0)
            continue;
        assert_string_equal(sget(b, "type"), "section");
        assert_string_equal(sget(b, "text.type"), "mrkdwn");
        assert_true(rt_utf8_count(sget(b, "text.text"), strlen(sget(b, "text.text"))) <=
                    PP_SLACK_TEXT);
    }
    /* mrkdwn control characters from the analysis are escaped */
    assert_non_null(strstr(sget(blocks, "1.text.text"), "&lt;checkout&gt; &amp; more"));
    assert_non_null(strstr(sget(blocks, "2.text.text"), "5xx after deploy 42"));
    const char *last = sget(json_array_get(blocks, json_array_size(blocks) - 1), "text.text");
    assert_string_equal(last, "<https://inquest.example/v1/analyses/0123456789abcdef|Open the "
                              "analysis>");
    assert_string_equal(sget(blocks, "1.text.text"),
                        "*http.error_spike* ended *ok*: `root_cause_found`\ndeploy 42 broke "
                        "&lt;checkout&gt; &amp; more");
    pp_plan_free(&p);
    /* a conclusion tag, a severity and the fallback text cannot mention the channel */
    json_object_set_new(json_object_get(f->a.result, "conclusion"), "tag",
                        json_string("<!channel>"));
    json_object_set_new((json_t *)f->a.top, "severity", json_string("<!here>"));
    build(f, 2, &p, NULL);
    char *all = json_dumps(p.body, JSON_COMPACT);
    assert_null(strstr(all, "<!channel>"));
    assert_null(strstr(all, "<!here>"));
    assert_non_null(strstr(sget(p.body, "text"), "&lt;!channel&gt;"));
    free(all);
    pp_plan_free(&p);
    /* cut to Slack's limit, an entity is never split */
    char *amps = malloc(PP_SLACK_TEXT * 2);
    for (int k = 0; k < PP_SLACK_TEXT * 2 - 1; k++)
        amps[k] = k % 2 ? '&' : 'x';
    amps[PP_SLACK_TEXT * 2 - 1] = '\0';
    json_object_set_new(json_object_get(f->a.result, "conclusion"), "summary", json_string(amps));
    free(amps);
    build(f, 2, &p, NULL);
    const char *head = sget(p.body, "blocks.1.text.text");
    size_t len = strlen(head);
    assert_true(len > 4);
    assert_string_equal(head + len - strlen("…"), "…");
    const char *amp = strrchr(head, '&');
    assert_non_null(amp);
    assert_int_equal(strncmp(amp, "&amp;", 5), 0); /* the last entity is whole */
    pp_plan_free(&p);
}

static void test_slack_limits(void **state) {
    fixture *f = *state;
    /* a summary of 10,000 characters and 100 findings stay within Slack's limits */
    json_t *conclusion = json_object_get(f->a.result, "conclusion");
    char *big = malloc(10001);
    memset(big, 'x', 10000);
    big[10000] = '\0';
    json_object_set_new(conclusion, "summary", json_string(big));
    json_t *findings = json_object_get(f->a.result, "findings");
    for (int i = 0; i < 100; i++)
        json_array_append_new(findings, json_pack("{s:s, s:s, s:f}", "title", "t", "severity",
                                                  "medium", "confidence", 0.5));
    free(big);
    pp_plan p;
    build(f, 2, &p, NULL);
    json_t *blocks = json_object_get(p.body, "blocks"), *b;
    size_t i;
    assert_true(json_array_size(blocks) <= PP_SLACK_BLOCKS);
    assert_int_equal(json_array_size(blocks), 3 + PP_SLACK_FINDING);
    json_array_foreach(blocks, i, b) {
        const char *text = sget(b, "text.text");
        assert_true(rt_utf8_count(text, strlen(text)) <= (i ? PP_SLACK_TEXT : PP_SLACK_HEADER));
    }
    pp_plan_free(&p);
}

static void test_github_issue(void **state) {
    fixture *f = *state;
    pp_plan p;
    build(f, 3, &p, NULL);
    assert_string_equal(p.path, "/repos/acme/web/issues");
    assert_string_equal(sget(p.body, "title"), "[inquest] http.error_spike: 5xx after deploy 42");
    assert_non_null(strstr(sget(p.body, "body"), "- 5xx after deploy 42"));
    json_t *labels = json_object_get(p.body, "labels");
    assert_int_equal(json_array_size(labels), 2);
    assert_string_equal(sget(labels, "1"), "bot");
    pp_plan_free(&p);
    f->config->rules[0].actions[3].args[0].text[4] = '-'; /* "acme-web": no owner/repo */
    build(f, 3, &p, "owner/repo");
    pp_plan_free(&p);
    f->config->rules[0].actions[3].args[0].text[4] = '/';
    f->config->rules[0].actions[3].args[0].text[0] = '?'; /* "?cme/web": not a GitHub name */
    build(f, 3, &p, "owner/repo");
    pp_plan_free(&p);
}

static void test_jira_issue(void **state) {
    fixture *f = *state;
    pp_plan p;
    build(f, 4, &p, NULL);
    assert_string_equal(p.path, "/rest/api/2/issue");
    assert_string_equal(sget(p.body, "fields.project.key"), "OPS");
    assert_string_equal(sget(p.body, "fields.issuetype.name"), "Bug");
    assert_non_null(sget(p.body, "fields.summary"));
    assert_non_null(sget(p.body, "fields.description"));
    pp_plan_free(&p);
    /* Jira labels hold no spaces */
    rt_action *ac = &f->config->rules[0].actions[4];
    rt_template t[3] = {{(char *)"tracker", (char *)"jira"},
                        {(char *)"project", (char *)"OPS"},
                        {(char *)"labels", (char *)"root cause, inquest"}};
    rt_template *saved = ac->args;
    size_t n = ac->n_args;
    ac->args = t;
    ac->n_args = 3;
    build(f, 4, &p, NULL);
    assert_string_equal(sget(p.body, "fields.labels.0"), "root_cause");
    assert_string_equal(sget(p.body, "fields.labels.1"), "inquest");
    pp_plan_free(&p);
    ac->args = saved;
    ac->n_args = n;
    /* a title past 255 characters is cut */
    json_t *top = (json_t *)f->a.top;
    char long_title[400];
    memset(long_title, 'a', 399);
    long_title[399] = '\0';
    json_object_set_new(top, "title", json_string(long_title));
    build(f, 4, &p, NULL);
    const char *summary = sget(p.body, "fields.summary");
    assert_int_equal(rt_utf8_count(summary, strlen(summary)), PP_TITLE_MAX);
    pp_plan_free(&p);
}

static void test_webhook(void **state) {
    fixture *f = *state;
    pp_plan p;
    build(f, 5, &p, NULL);
    assert_string_equal(p.path, "/hooks/payments");
    assert_string_equal(sget(p.headers, "Idempotency-Key"), p.id);
    assert_string_equal(sget(p.body, "schema"), "inquest.action/v1");
    assert_string_equal(sget(p.body, "id"), p.id);
    assert_string_equal(sget(p.body, "analysis.id"), "0123456789abcdef");
    assert_string_equal(sget(p.body, "args.why"), "bad_deploy");
    pp_plan_free(&p);
}

static void test_alertmanager_silence(void **state) {
    fixture *f = *state;
    pp_plan p;
    build(f, 6, &p, NULL);
    assert_string_equal(p.path, "/api/v2/silences");
    json_t *m = json_object_get(p.body, "matchers");
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(sget(m, "0.name"), "alertname");
    assert_string_equal(sget(m, "0.value"), "HighErrors");
    assert_true(json_is_false(json_object_get(json_array_get(m, 0), "isRegex")));
    assert_true(json_is_true(json_object_get(json_array_get(m, 0), "isEqual")));
    const char *keys[] = {"startsAt", "endsAt", "createdBy", "comment"};
    for (int i = 0; i < 4; i++)
        assert_non_null(sget(p.body, keys[i]));
    double s, e;
    char why[256];
    assert_int_equal(rt_time_parse(sget(p.body, "startsAt"), 0, &s, why), 0);
    assert_int_equal(rt_time_parse(sget(p.body, "endsAt"), 0, &e, why), 0);
    assert_true(e - s == 7200);
    /* sent later (approved after a delay, or retried), it starts when it is sent, for as long */
    double later = s + 5400.7;
    assert_int_equal(pp_plan_retime(p.body, "silence", later), RT_OK);
    assert_int_equal(rt_time_parse(sget(p.body, "startsAt"), 0, &s, why), 0);
    assert_int_equal(rt_time_parse(sget(p.body, "endsAt"), 0, &e, why), 0);
    assert_true(s == floor(later));
    assert_true(e - s == 7200);
    json_t *other = json_pack("{s:s}", "startsAt", "2026-01-01T00:00:00Z");
    assert_int_equal(pp_plan_retime(other, "webhook", later), RT_OK); /* others: as planned */
    assert_string_equal(sget(other, "startsAt"), "2026-01-01T00:00:00Z");
    json_object_set_new(other, "endsAt", json_string("garbage"));
    assert_int_equal(pp_plan_retime(other, "silence", later), RT_EINPUT);
    json_decref(other);
    pp_plan_free(&p);
    /* regex and negative matchers */
    rt_action *ac = &f->config->rules[0].actions[6];
    rt_template t[2] = {{(char *)"duration", (char *)"2h"},
                        {(char *)"matchers", (char *)"service=~\"web|api\", env!=prod, a!~b"}};
    rt_template *saved = ac->args;
    size_t n = ac->n_args;
    ac->args = t;
    ac->n_args = 2;
    build(f, 6, &p, NULL);
    m = json_object_get(p.body, "matchers");
    assert_string_equal(sget(m, "0.value"), "web|api");
    assert_true(json_is_true(json_object_get(json_array_get(m, 0), "isRegex")));
    assert_true(json_is_false(json_object_get(json_array_get(m, 1), "isEqual")));
    assert_true(json_is_true(json_object_get(json_array_get(m, 2), "isRegex")));
    assert_true(json_is_false(json_object_get(json_array_get(m, 2), "isEqual")));
    pp_plan_free(&p);
    t[1].text = (char *)"nonsense";
    build(f, 6, &p, "args.matchers");
    pp_plan_free(&p);
    /* a label the analysis lacks refuses the silence rather than widen it */
    t[1].text = (char *)"alertname={{ labels.alertname }}, cluster={{ labels.cluster }}";
    build(f, 6, &p, "never widened");
    pp_plan_free(&p);
    ac->args = saved;
    ac->n_args = n;
}

static void test_mitigation_typed_args(void **state) {
    fixture *f = *state;
    pp_plan p;
    build(f, 7, &p, NULL);
    assert_string_equal(p.name, "rollback");
    assert_string_equal(p.service, "web");
    assert_string_equal(p.path, "/rollback");
    assert_string_equal(sget(p.headers, "Idempotency-Key"), p.id);
    assert_string_equal(sget(p.body, "action"), "rollback");
    assert_string_equal(sget(p.body, "args.deploy"), "d-42");
    json_t *args = json_object_get(p.body, "args");
    assert_true(json_is_integer(json_object_get(args, "replicas")));
    assert_int_equal(json_integer_value(json_object_get(args, "replicas")), 3);
    assert_true(json_is_true(json_object_get(args, "force")));
    pp_plan_free(&p);
    build(f, 8, &p, "argument n"); /* the summary is not a whole number */
    /* not idempotent unless the rule says so (no retry of a call that may have arrived), yet a
     * mitigation always carries its Idempotency-Key */
    assert_false(f->config->rules[0].actions[8].idempotent);
    assert_string_equal(sget(p.headers, "Idempotency-Key"), p.id);
    pp_plan_free(&p);
}

/* ---- the policy ----------------------------------------------------------------------------- */

static const double monday_noon = 1796040000; /* 2026-11-30T12:00:00Z, a Monday */

static void test_policy_allow_list_and_confidence(void **state) {
    fixture *f = *state;
    const rt_policy *p;
    char why[256];
    assert_int_equal(
        pp_policy_decide(f->config, "web", "rollback", 0.9, monday_noon, NULL, &p, why), RT_OK);
    assert_string_equal(p->name, "web");
    assert_int_equal(
        pp_policy_decide(f->config, "api-eu", "rollback", 0.9, monday_noon, NULL, &p, why), RT_OK);
    assert_int_equal(pp_policy_decide(f->config, "db", "rollback", 0.9, monday_noon, NULL, &p, why),
                     RT_ELIMIT);
    assert_null(p);
    assert_non_null(strstr(why, "no policy allows rollback on service 'db'"));
    assert_int_equal(pp_policy_decide(f->config, "web", "scale", 0.9, monday_noon, NULL, &p, why),
                     RT_ELIMIT);
    assert_int_equal(
        pp_policy_decide(f->config, "web", "rollback", 0.79, monday_noon, NULL, &p, why),
        RT_ELIMIT);
    assert_non_null(strstr(why, "below policy web's minimum 0.80"));
}

static void test_policy_freeze(void **state) {
    fixture *f = *state;
    const rt_policy *p;
    char why[256];
    double christmas = 1798243200; /* 2026-12-26 */
    assert_int_equal(pp_policy_decide(f->config, "web", "rollback", 0.9, christmas, NULL, &p, why),
                     RT_ELIMIT);
    assert_non_null(strstr(why, "holidays"));
    double friday_17 = monday_noon + 4 * 86400 + 5 * 3600; /* Fri 17:00 */
    double saturday = monday_noon + 5 * 86400;
    double monday_7 = monday_noon + 7 * 86400 - 5 * 3600; /* next Mon 07:00 */
    double monday_9 = monday_noon + 7 * 86400 - 3 * 3600;
    double friday_15 = friday_17 - 2 * 3600;
    assert_int_equal(pp_policy_decide(f->config, "web", "rollback", 0.9, friday_17, NULL, &p, why),
                     RT_ELIMIT);
    assert_non_null(strstr(why, "Fri 16:00"));
    assert_int_equal(pp_policy_decide(f->config, "web", "rollback", 0.9, saturday, NULL, &p, why),
                     RT_ELIMIT);
    assert_int_equal(pp_policy_decide(f->config, "web", "rollback", 0.9, monday_7, NULL, &p, why),
                     RT_ELIMIT);
    assert_int_equal(pp_policy_decide(f->config, "web", "rollback", 0.9, monday_9, NULL, &p, why),
                     RT_OK);
    assert_int_equal(pp_policy_decide(f->config, "web", "rollback", 0.9, friday_15, NULL, &p, why),
                     RT_OK);
}

static void test_policy_rate_limit_and_blast_radius(void **state) {
    fixture *f = *state;
    const rt_policy *p;
    char why[256];
    pp_usage u = {.per_service = 1, .services = 1, .service_seen = true};
    assert_int_equal(pp_policy_decide(f->config, "web", "rollback", 0.9, monday_noon, &u, &p, why),
                     RT_OK);
    u.per_service = 2; /* max_per_service: 2 */
    assert_int_equal(pp_policy_decide(f->config, "web", "rollback", 0.9, monday_noon, &u, &p, why),
                     RT_ELIMIT);
    assert_non_null(strstr(why, "rate limit of policy web: 2 on 'web' within 1h"));
    /* blast radius 3: a fourth service is refused, a service already acted on is not */
    u = (pp_usage){.per_service = 0, .services = 3, .service_seen = false};
    assert_int_equal(
        pp_policy_decide(f->config, "api-x", "rollback", 0.9, monday_noon, &u, &p, why), RT_ELIMIT);
    assert_non_null(strstr(why, "blast radius of policy web: 3 services"));
    u = (pp_usage){.per_service = 1, .services = 3, .service_seen = true};
    assert_int_equal(
        pp_policy_decide(f->config, "api-x", "rollback", 0.9, monday_noon, &u, &p, why), RT_OK);
}

/* Asserts that 'd' has an item at 'line':'column' of 'field' whose message holds 'text'. */
static void assert_item(const rt_diag *d, int line, int column, const char *field,
                        const char *text) {
    size_t i;
    json_t *item;
    json_array_foreach(d->items, i, item) {
        const char *f = json_string_value(json_object_get(item, "field"));
        if (json_integer_value(json_object_get(item, "line")) == line &&
            json_integer_value(json_object_get(item, "column")) == column && f &&
            strcmp(f, field) == 0 &&
            strstr(json_string_value(json_object_get(item, "message")), text))
            return;
    }
    char *dump = d->items ? json_dumps(d->items, JSON_INDENT(1)) : NULL;
    fail_msg("no item %d:%d %s '%s' in\n%s", line, column, field, text, dump ? dump : "(none)");
}

/* Action settings that would fail only when the action runs are refused at load, where they
 * are written; a policy's window must be longer than 0; a mitigation no policy allows is a
 * warning. Templated settings are left to run time. */
static void test_action_config_checks(void **state) {
    (void)state;
    static const char bad[] =
        "connectors: { c: { type: http, url: 'http://x' } }\n"
        "policies:\n"
        "  - { name: p, services: [web], actions: [rollback], window: 0s }\n"
        "rules:\n"
        "  - name: r\n"
        "    actions:\n"
        "      - { type: incident_note, connector: c, args: { tool: pagerduti } }\n"
        "      - { type: ticket, connector: c, args: { tracker: '{{ labels.t }}' } }\n"
        "      - { type: ticket, connector: c, args: { tracker: gitlab } }\n"
        "      - { type: silence, connector: c, args: { matchers: 'a=b, =c', duration: 0s } }\n"
        "      - { type: silence, connector: c, args: { matchers: 'a={{ labels.a }}', duration: "
        "soon } }\n"
        "      - { type: mitigation, connector: c, name: restart }\n"
        "      - { type: mitigation, connector: c, name: rollback }\n";
    char path[] = "/tmp/test_postproc_XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    rt_config *c = NULL;
    rt_diag errors = {0}, warnings = {0};
    assert_int_equal(rt_config_load(path, &c, &errors, &warnings), RT_EINPUT);
    unlink(path);
    assert_item(&errors, 3, 62, "policies.0.window", "expected a duration more than 0");
    assert_item(&errors, 7, 60, "rules.0.actions.0.args.tool",
                "expected pagerduty or opsgenie, not 'pagerduti'");
    assert_item(&errors, 9, 56, "rules.0.actions.2.args.tracker",
                "expected github or jira, not 'gitlab'");
    assert_item(&errors, 10, 58, "rules.0.actions.3.args.matchers", "'=c' is not name=value");
    assert_item(&errors, 10, 79, "rules.0.actions.3.args.duration", "longer than 0");
    assert_item(&errors, 11, 88, "rules.0.actions.4.args.duration", "not 'soon'");
    assert_int_equal(rt_diag_count(&errors), 6); /* the templated tracker and matchers pass */
    assert_int_equal(rt_diag_count(&warnings), 1);
    assert_item(&warnings, 12, 49, "rules.0.actions.5.name",
                "no policy allows mitigation 'restart'");
    rt_diag_free(&errors);
    rt_diag_free(&warnings);
}

static void test_policy_config_errors(void **state) {
    (void)state;
    static const char bad[] = "policies:\n"
                              "  - name: p\n"
                              "    services: [web]\n"
                              "    actions: [rollback]\n"
                              "    freeze: [{ start: 'Fri 16:00', end: '2026-01-01T00:00:00Z' }]\n"
                              "  - { name: q, services: [], actions: [x] }\n"
                              "rules:\n"
                              "  - name: r\n"
                              "    actions: [{ type: slack, connector: c, name: x }]\n"
                              "connectors: { c: { type: http, url: 'http://x' } }\n";
    char path[] = "/tmp/test_postproc_XXXXXX";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    rt_config *c = NULL;
    rt_diag errors = {0}, warnings = {0};
    assert_int_equal(rt_config_load(path, &c, &errors, &warnings), RT_EINPUT);
    unlink(path);
    char *text = json_dumps(errors.items, 0);
    assert_non_null(strstr(text, "weekly one like"));
    assert_non_null(strstr(text, "a policy needs services and actions"));
    assert_non_null(strstr(text, "only mitigations take this key"));
    free(text);
    rt_diag_free(&errors);
    rt_diag_free(&warnings);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_top_finding_and_templates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rule_matching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagerduty_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagerduty_note_needs_from_and_incident, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_opsgenie_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slack_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slack_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_github_issue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jira_issue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alertmanager_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mitigation_typed_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_allow_list_and_confidence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_freeze, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_rate_limit_and_blast_radius, setup, teardown),
        cmocka_unit_test(test_policy_config_errors),
        cmocka_unit_test(test_action_config_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
