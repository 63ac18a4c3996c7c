/* tests/unit/test_ci_examples.c -- lint of the CI examples (examples/ci/): each is YAML that
 * libyaml reads, and holds the steps that examples/ci/README.md promises: a pull-request trigger,
 * a checkout with the whole history, the backtest against the base branch with its Markdown and
 * JUnit XML, one comment or note updated in place, the JUnit XML kept, the job failed on the exit
 * status. No CI system runs here; this catches a file that no CI system would read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <yaml.h>

#ifndef SOURCE_DIR
#define SOURCE_DIR "."
#endif

typedef struct doc {
    yaml_document_t yaml;
    const char *path;
} doc;

/* Loads the one YAML document of 'path'; fails the test with libyaml's line and column. */
static void load(doc *d, const char *path) {
    yaml_parser_t parser;
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &d->yaml))
        fail_msg("%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "not YAML");
    if (!yaml_document_get_root_node(&d->yaml))
        fail_msg("%s: no YAML document", path);
    yaml_parser_delete(&parser);
    fclose(f);
    d->path = path;
}

static yaml_node_t *root(doc *d) {
    return yaml_document_get_root_node(&d->yaml);
}

/* The value of 'key' in mapping 'map', or NULL. */
static yaml_node_t *get(doc *d, yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&d->yaml, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(&d->yaml, p->value);
    }
    return NULL;
}

/* The value at the path of keys (NULL-terminated) from 'node', failing when one is missing. */
static yaml_node_t *at(doc *d, yaml_node_t *node, ...) {
    va_list ap;
    va_start(ap, node);
    for (const char *key = va_arg(ap, const char *); key; key = va_arg(ap, const char *)) {
        node = get(d, node, key);
        if (!node)
            fail_msg("%s: no member \"%s\"", d->path, key);
    }
    va_end(ap);
    return node;
}

static const char *scalar(yaml_node_t *node) {
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

/* The step of sequence 'steps' whose member 'key' contains 'text', or NULL. */
static yaml_node_t *step_with(doc *d, yaml_node_t *steps, const char *key, const char *text) {
    assert_int_equal(steps->type, YAML_SEQUENCE_NODE);
    for (yaml_node_item_t *i = steps->data.sequence.items.start; i < steps->data.sequence.items.top;
         i++) {
        yaml_node_t *step = yaml_document_get_node(&d->yaml, *i);
        const char *value = scalar(get(d, step, key));
        if (value && strstr(value, text))
            return step;
    }
    return NULL;
}

static void assert_step(doc *d, yaml_node_t *steps, const char *key, const char *text) {
    if (!step_with(d, steps, key, text))
        fail_msg("%s: no step whose %s holds \"%s\"", d->path, key, text);
}

static void test_github_actions(void **state) {
    (void)state;
    doc d;
    load(&d, SOURCE_DIR "/examples/ci/github-actions/backtest.yml");
    at(&d, root(&d), "on", "pull_request", NULL);
    assert_string_equal(scalar(at(&d, root(&d), "permissions", "pull-requests", NULL)), "write");
    yaml_node_t *steps = at(&d, root(&d), "jobs", "backtest", "steps", NULL);
    yaml_node_t *checkout = step_with(&d, steps, "uses", "actions/checkout@");
    assert_non_null(checkout);
    assert_string_equal(scalar(at(&d, checkout, "with", "fetch-depth", NULL)), "0");
    assert_step(&d, steps, "run", "make build");
    assert_step(&d, steps, "run",
                "build/inquest backtest --base \"origin/$BASE_REF\" --format markdown \\\n"
                "  --junit backtest-junit.xml --out backtest-reports > report.md");
    yaml_node_t *comment = step_with(&d, steps, "uses", "actions/github-script@");
    assert_non_null(comment);
    const char *script = scalar(at(&d, comment, "with", "script", NULL));
    assert_non_null(strstr(script, "updateComment"));
    assert_non_null(strstr(script, "github.paginate"));
    yaml_node_t *upload = step_with(&d, steps, "uses", "actions/upload-artifact@");
    assert_non_null(upload);
    assert_non_null(strstr(scalar(at(&d, upload, "with", "path", NULL)), "backtest-junit.xml"));
    assert_step(&d, steps, "run", "exit \"${STATUS:-2}\"");
    yaml_document_delete(&d.yaml);
}

static void test_gitlab_ci(void **state) {
    (void)state;
    doc d;
    load(&d, SOURCE_DIR "/examples/ci/gitlab-ci.yml");
    yaml_node_t *job = at(&d, root(&d), "backtest", NULL);
    yaml_node_t *rules = at(&d, job, "rules", NULL);
    assert_int_equal(rules->type, YAML_SEQUENCE_NODE);
    yaml_node_t *rule = yaml_document_get_node(&d.yaml, *rules->data.sequence.items.start);
    assert_non_null(strstr(scalar(at(&d, rule, "if", NULL)), "merge_request_event"));
    assert_string_equal(scalar(at(&d, job, "variables", "GIT_DEPTH", NULL)), "0");
    assert_string_equal(scalar(at(&d, job, "artifacts", "reports", "junit", NULL)),
                        "backtest-junit.xml");
    yaml_node_t *script = at(&d, job, "script", NULL);
    yaml_node_t *run = yaml_document_get_node(&d.yaml, script->data.sequence.items.start[1]);
    assert_non_null(strstr(scalar(run), "build/inquest backtest --base "
                                        "\"origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\""));
    assert_non_null(strstr(scalar(run), "exit \"$status\""));
    yaml_document_delete(&d.yaml);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_github_actions),
        cmocka_unit_test(test_gitlab_ci),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
