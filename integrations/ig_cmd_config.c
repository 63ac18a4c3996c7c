/* integrations/ig_cmd_config.c -- `inquest config check FILE`: loads the configuration file
 * (runtime/rt_config.c) and reports every error and warning with file:line:column. */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ig_cli.h"
#include "ig_intake.h"
#include "rt_config.h"

static const char config_usage[] =
    "Usage: inquest config check FILE [--json] [--analyzers DIR]\n"
    "\n"
    "Validates a configuration file (format: docs/config.md) and prints every problem as\n"
    "FILE:LINE:COLUMN: message, then a summary. Warnings (a secret's environment variable or\n"
    "file that does not exist here) do not make the file invalid. Each route is checked\n"
    "against its analyzer: the analyzer exists, the inputs it is given are its inputs, its\n"
    "required inputs are given, and inputs written without {{ }} are valid values. Each\n"
    "mitigation's verify analyzer must be on the analyzer path (when --analyzers is given or\n"
    "the config's analyzer folders are there). Rules' action settings written without {{ }}\n"
    "(a note's tool, a ticket's tracker, a silence's matchers and duration) are checked, and a\n"
    "mitigation that no policy allows is a warning. So are a connector with tls_verify: false\n"
    "and a credential sent over http:// to another host. The connectors that rules' actions\n"
    "name are listed as reserved: only the post-processor calls them, analyzers cannot.\n"
    "\n"
    "  --json            print a summary object: errors, warnings, connectors (with reserved),\n"
    "                    routes, rules and token names (never credentials); a file that\n"
    "                    cannot be read, or a usage error, as {\"error\": {\"code\",\n"
    "                    \"message\"}} (docs/operating.md)\n"
    "  --analyzers DIR   look for the routes' and verify analyzers in DIR (repeatable; default: "
    "the\n"
    "                    config's analyzers)\n"
    "\n"
    "Exit codes: 0 valid; 1 problems found; 2 usage error or unreadable file.\n";

enum { OPT_JSON = 256, OPT_ANALYZERS };

static const struct option config_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"analyzers", required_argument, NULL, OPT_ANALYZERS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static json_t *items(const rt_diag *d) {
    return d->items ? json_incref(d->items) : json_array();
}

static void print_json(const char *file, const rt_config *c, const rt_diag *errors,
                       const rt_diag *warnings) {
    json_t *conns = json_array();
    json_t *dirs = json_array();
    for (size_t i = 0; c && i < c->n_connectors; i++) {
        const rt_connector *conn = &c->connectors[i];
        json_array_append_new(conns, json_pack("{s:s, s:s, s:s, s:b}", "name", conn->name, "type",
                                               rt_connector_type_name(conn->type), "url", conn->url,
                                               "reserved", conn->reserved));
    }
    for (size_t i = 0; c && i < c->n_analyzers; i++)
        json_array_append_new(dirs, json_string(c->analyzers[i]));
    json_t *routes = json_array(), *rules = json_array(), *tokens = json_array();
    for (size_t i = 0; c && i < c->n_routes; i++)
        json_array_append_new(routes, json_pack("{s:s, s:s}", "name", c->routes[i].name, "analyzer",
                                                c->routes[i].analyzer));
    for (size_t i = 0; c && i < c->n_rules; i++)
        json_array_append_new(rules, json_pack("{s:s, s:b}", "name", c->rules[i].name, "dry_run",
                                               c->rules[i].dry_run));
    for (size_t i = 0; c && i < c->n_tokens; i++)
        json_array_append_new(tokens, json_string(c->tokens[i].name));
    json_t *summary =
        json_pack("{s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "file", file, "valid", c != NULL,
                  "errors", items(errors), "warnings", items(warnings), "connectors", conns,
                  "analyzers", dirs, "routes", routes, "rules", rules, "tokens", tokens);
    char *text = summary ? json_dumps(summary, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (!text) {
        fputs("inquest config: out of memory\n", stderr);
        exit(IG_EXIT_USAGE);
    }
    ig_print_json_text(text); /* its problems are in it: no error object after it */
    json_decref(summary);
}

/* "ok: 4 connectors, 2 tokens, 1 route, 1 rule": the sections that hold entries. */
static void print_counts(const rt_config *c) {
    const struct {
        size_t n;
        const char *what;
    } counts[] = {{c->n_connectors, "connector"},
                  {c->n_tokens, "token"},
                  {c->n_routes, "route"},
                  {c->n_rules, "rule"}};
    printf("ok: %zu connector%s", c->n_connectors, c->n_connectors == 1 ? "" : "s");
    for (size_t i = 1; i < sizeof counts / sizeof counts[0]; i++)
        if (counts[i].n)
            printf(", %zu %s%s", counts[i].n, counts[i].what, counts[i].n == 1 ? "" : "s");
}

/* "reserved for actions (analyzers cannot call them): pagerduty, slack": the connectors that
 * rules' actions name, which analyzers' engines leave out (docs/config.md, connectors). */
static void print_reserved(const rt_config *c) {
    size_t n = 0;
    for (size_t i = 0; i < c->n_connectors; i++) {
        if (!c->connectors[i].reserved)
            continue;
        printf("%s%s", n++ ? ", " : "reserved for actions (analyzers cannot call them): ",
               c->connectors[i].name);
    }
    if (n)
        putchar('\n');
}

/* Routes against their analyzers' schemas: problems join the config's errors. */
static void check_routes(rt_config **config, const ig_dirs *dirs, rt_diag *errors) {
    if (!*config || (*config)->n_routes == 0)
        return;
    wk_engine *engine =
        dirs->n ? ig_engine((char **)dirs->dirs, dirs->n)
                : wk_engine_new((const char *const *)(*config)->analyzers, (*config)->n_analyzers);
    if (ig_routes_check(engine, *config, errors) > 0) {
        rt_config_free(*config);
        *config = NULL;
    }
    wk_engine_free(engine);
}

/* Each mitigation's verify analyzer on the analyzer path: --analyzers, else the config's folders
 * when they are there (a config checked away from its deployment has nothing to look in). A
 * missing one would end every verification verify_failed. Problems join the config's errors. */
static void check_verify(rt_config **config, const ig_dirs *dirs, rt_diag *errors) {
    const rt_config *c = *config;
    bool any = false;
    for (size_t i = 0; c && i < c->n_rules; i++)
        for (size_t j = 0; j < c->rules[i].n_actions; j++)
            any |= c->rules[i].actions[j].verify.analyzer != NULL;
    if (!any)
        return;
    for (size_t i = 0; !dirs->n && i < c->n_analyzers; i++)
        if (access(c->analyzers[i], F_OK) != 0)
            return;
    wk_engine *engine = dirs->n ? ig_engine((char **)dirs->dirs, dirs->n)
                                : wk_engine_new((const char *const *)c->analyzers, c->n_analyzers);
    size_t found = 0;
    json_t *none = json_object();
    for (size_t i = 0; i < c->n_rules; i++)
        for (size_t j = 0; j < c->rules[i].n_actions; j++) {
            const rt_verify *v = &c->rules[i].actions[j].verify;
            rt_diag problems = {0};
            char field[128];
            if (!v->analyzer)
                continue;
            snprintf(field, sizeof field, "rules.%zu.actions.%zu.verify.analyzer", i, j);
            if (wk_validate(engine, v->analyzer, none, 0, NULL, NULL, &problems) == RT_ENOTFOUND) {
                rt_diag_add_at(errors, c->path, v->line, v->column, field,
                               "no analyzer named '%s' on the analyzer path", v->analyzer);
                found++;
            }
            rt_diag_free(&problems);
        }
    json_decref(none);
    wk_engine_free(engine);
    if (found) {
        rt_config_free(*config);
        *config = NULL;
    }
}

static int config_check(int argc, char **argv) {
    int opt, json = 0;
    ig_dirs dirs = {0};
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", config_options, NULL)) != -1) {
        if (opt == OPT_JSON) {
            json = 1;
            ig_error_json("config check");
        } else if (opt == OPT_ANALYZERS) {
            if (ig_dirs_add(&dirs, "config check", optarg) != IG_EXIT_OK)
                return IG_EXIT_USAGE;
        } else if (opt == 'h') {
            fputs(config_usage, stdout);
            return IG_EXIT_OK;
        } else
            return ig_usage_error("config check", "unknown option");
    }
    if (argc - optind != 1)
        return ig_usage_error("config check", "expected one FILE");
    const char *file = argv[optind];
    rt_diag errors = {0}, warnings = {.label = "warning"};
    rt_config *config = NULL;
    int rc = rt_config_load(file, &config, &errors, &warnings);
    check_routes(&config, &dirs, &errors);
    check_verify(&config, &dirs, &errors);
    if (rc == RT_OK && !config)
        rc = RT_EINPUT;
    int exit_code = rc == RT_OK ? IG_EXIT_OK : rc == RT_EINPUT ? IG_EXIT_FAILED : IG_EXIT_USAGE;
    if (exit_code == IG_EXIT_USAGE) {
        /* Unreadable: nothing was checked. The message names the file. */
        json_t *first = json_array_get(errors.items, 0);
        ig_error_say(stderr, "config check", IG_ERROR_USAGE, "%s",
                     first ? json_string_value(json_object_get(first, "message"))
                           : rt_strerror(rc));
    } else if (json) {
        print_json(file, config, &errors, &warnings);
    } else {
        size_t n_errors = rt_diag_count(&errors), n_warnings = rt_diag_count(&warnings);
        rt_diag_print(&errors, stdout, "");
        rt_diag_print(&warnings, stdout, "");
        if (config) {
            print_reserved(config);
            print_counts(config);
        } else {
            printf("%zu error%s", n_errors, n_errors == 1 ? "" : "s");
        }
        if (n_warnings)
            printf(", %zu warning%s", n_warnings, n_warnings == 1 ? "" : "s");
        putchar('\n');
    }
    rt_config_free(config);
    rt_diag_free(&errors);
    rt_diag_free(&warnings);
    return exit_code;
}

int ig_cmd_config(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return config_check(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(config_usage, stdout);
        return IG_EXIT_OK;
    }
    if (argc < 2)
        return ig_usage_error("config", "expected a subcommand: check");
    return ig_usage_error("config", "unknown subcommand '%s' (expected check)", argv[1]);
}
