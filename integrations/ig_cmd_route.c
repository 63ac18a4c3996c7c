/* integrations/ig_cmd_route.c -- `inquest route test PAYLOAD.json`: what the config's routes make
 * of a webhook payload, offline (no Redis, no server): which analyzers it would start with which
 * inputs, which alerts it would resolve, and why each route did not take each other alert. The
 * parsing and routing are the server's own (ig_alert.c, ig_route.c). */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_cli.h"
#include "ig_intake.h"

#define PAYLOAD_MAX (16 * 1024 * 1024)

static const char route_usage[] =
    "Usage: inquest route test PAYLOAD.json [--config FILE] [--source SOURCE] [--json]\n"
    "                          [--analyzers DIR]\n"
    "\n"
    "Shows what the routes of a config make of one alert webhook payload, without Redis or a\n"
    "server: for each route, the alerts it takes and the analysis each would start (analyzer,\n"
    "inputs, and whether the inputs fit the analyzer) or resolve, and for the other alerts the\n"
    "first matcher that failed with the value it saw. Routes are also checked against their\n"
    "analyzers' inputs, as `inquest serve` does when it starts.\n"
    "\n"
    "Options:\n"
    "  --config FILE      the configuration (default: $INQUEST_CONFIG)\n"
    "  --source SOURCE    alertmanager, grafana, pagerduty, opsgenie or generic/NAME (a generic\n"
    "                     webhook of the config); default: guessed from the payload's shape\n"
    "  --json             print one JSON object: source, alerts (normalised), routes, problems;\n"
    "                     when the config or the payload cannot be used (exit 2), the error\n"
    "                     as {\"error\": {\"code\", \"message\", \"fields\"}} (docs/operating.md)\n"
    "  --analyzers DIR    look for analyzers in DIR (repeatable; default: the config's)\n"
    "  -h, --help         this text\n"
    "\n"
    "Exit codes: 0 the payload is valid and every start's inputs fit; 1 the payload is\n"
    "malformed, a route does not fit its analyzer, or a start's inputs do not; 2 usage error,\n"
    "unreadable file or invalid config.\n";

typedef struct route_options {
    const char *config_path, *payload_path, *source;
    bool json;
    ig_dirs dirs;
} route_options;

static int parse_options(int argc, char **argv, route_options *o) {
    enum { OPT_CONFIG = 256, OPT_SOURCE, OPT_JSON, OPT_ANALYZERS };
    static const struct option options[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"json", no_argument, NULL, OPT_JSON},
        {"analyzers", required_argument, NULL, OPT_ANALYZERS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == OPT_CONFIG)
            o->config_path = optarg;
        else if (opt == OPT_SOURCE)
            o->source = optarg;
        else if (opt == OPT_JSON) {
            o->json = true;
            ig_error_json("route test");
        } else if (opt == OPT_ANALYZERS) {
            if (ig_dirs_add(&o->dirs, "route test", optarg) != IG_EXIT_OK)
                return IG_EXIT_USAGE;
        } else if (opt == 'h') {
            fputs(route_usage, stdout);
            return -1;
        } else
            return ig_usage_error("route test", "unknown option");
    }
    if (argc - optind != 1)
        return ig_usage_error("route test", "expected one PAYLOAD.json");
    o->payload_path = argv[optind];
    if (!o->config_path)
        o->config_path = getenv("INQUEST_CONFIG");
    if (!o->config_path || !*o->config_path)
        return ig_usage_error("route test", "needs a config with routes: --config FILE or "
                                            "$INQUEST_CONFIG");
    return IG_EXIT_OK;
}

/* The source a payload's shape says, for when --source is not given; -1 when it says none. */
static int guess_source(const char *text, size_t len) {
    json_t *body = json_loadb(text, len, 0, NULL);
    int source = -1;
    if (json_is_object(body)) {
        if (json_object_get(body, "event"))
            source = RT_SOURCE_PAGERDUTY;
        else if (json_object_get(body, "action") && json_object_get(body, "alert"))
            source = RT_SOURCE_OPSGENIE;
        else if (json_object_get(body, "alerts") &&
                 (json_object_get(body, "orgId") || json_object_get(body, "state")))
            source = RT_SOURCE_GRAFANA;
        else if (json_object_get(body, "alerts"))
            source = RT_SOURCE_ALERTMANAGER;
    }
    json_decref(body);
    return source;
}

/* The source of --source ("generic/NAME": '*generic' set), or -1 after a usage error. */
static int source_option(const rt_config *c, const char *name, const rt_intake_generic **generic) {
    rt_source source;
    *generic = NULL;
    if (strncmp(name, "generic/", 8) == 0) {
        for (size_t i = 0; i < c->intake.n_generic; i++)
            if (strcmp(c->intake.generic[i].name, name + 8) == 0) {
                *generic = &c->intake.generic[i];
                return RT_SOURCE_GENERIC;
            }
        ig_usage_error("route test", "the config has no generic webhook named '%s'", name + 8);
        return -1;
    }
    if (ig_source_parse(name, &source) != 0 || source == RT_SOURCE_GENERIC) {
        ig_usage_error("route test",
                       "--source: expected alertmanager, grafana, pagerduty, opsgenie or "
                       "generic/NAME, got '%s'",
                       name);
        return -1;
    }
    return (int)source;
}

/* ---- the report -------------------------------------------------------------------------------
 */

/* Validates a start's inputs: true when they fit; the problems as [{field, message}] in
 * '*problems' (new reference). */
static bool start_fits(wk_engine *engine, const ig_step *st, json_t **problems) {
    rt_diag d = {0};
    int rc = wk_validate(engine, st->route->analyzer, st->inputs, 0, NULL, NULL, &d);
    json_t *list = json_array(), *item;
    size_t i;
    json_array_foreach(d.items, i, item) {
        const char *f = json_string_value(json_object_get(item, "field"));
        char path[300];
        snprintf(path, sizeof path, "inputs%s%s", f ? "." : "", f ? f : "");
        json_array_append_new(list, json_pack("{s:s, s:O}", "field", path, "message",
                                              json_object_get(item, "message")));
    }
    rt_diag_free(&d);
    *problems = list;
    return rc == RT_OK;
}

/* The report as one JSON object; '*fits' false when a start's inputs do not fit. */
static json_t *report(wk_engine *engine, const rt_config *c, rt_source source, const ig_payload *p,
                      const ig_plan *plan, bool *fits) {
    json_t *routes = json_array();
    *fits = true;
    for (size_t r = 0; r < c->n_routes; r++) {
        const rt_route *route = &c->routes[r];
        json_t *matched = json_array(), *missed = json_array();
        for (size_t i = 0; i < plan->n_steps; i++) {
            const ig_step *st = &plan->steps[i];
            if (st->route != route)
                continue;
            json_t *o = json_pack(
                "{s:s, s:s, s:O, s:i}", "action", st->resolve ? "resolve" : "start", "fingerprint",
                json_string_value(json_object_get(st->alert, "fingerprint")), "labels",
                json_object_get(st->alert, "labels"), "alerts", (int)st->alerts);
            if (!st->resolve) {
                json_t *problems;
                bool ok = start_fits(engine, st, &problems);
                *fits = *fits && ok;
                json_object_set(o, "inputs", st->inputs);
                json_object_set_new(o, "inputs_valid", json_boolean(ok));
                json_object_set_new(o, "problems", problems);
            }
            json_array_append_new(matched, o);
        }
        for (size_t i = 0; i < plan->n_misses; i++)
            if (plan->misses[i].route == route)
                json_array_append_new(missed, json_pack("{s:i, s:s}", "alert",
                                                        (int)plan->misses[i].alert + 1, "why",
                                                        plan->misses[i].why));
        char window[32];
        rt_duration_format(route->dedup_window, window);
        json_array_append_new(
            routes,
            json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "name", route->name, "analyzer",
                      route->analyzer, "per", route->per == RT_ROUTE_PER_GROUP ? "group" : "alert",
                      "dedup_window", window, "matched", matched, "not_matched", missed));
    }
    return json_pack("{s:s, s:O, s:i, s:i, s:o}", "source", rt_source_name(source), "alerts",
                     p->alerts, "ignored", (int)p->ignored, "unrouted", (int)plan->unrouted,
                     "routes", routes);
}

static void print_text(const json_t *r) {
    json_t *alerts = json_object_get(r, "alerts"), *a, *route;
    size_t i, j;
    printf("payload: %s, %zu alert%s", json_string_value(json_object_get(r, "source")),
           json_array_size(alerts), json_array_size(alerts) == 1 ? "" : "s");
    if (json_integer_value(json_object_get(r, "ignored")))
        printf(", %lld event(s) ignored (neither start nor end of an alert)",
               (long long)json_integer_value(json_object_get(r, "ignored")));
    putchar('\n');
    json_array_foreach(alerts, i, a) {
        char *labels = json_dumps(json_object_get(a, "labels"), JSON_COMPACT | JSON_SORT_KEYS);
        printf("  alert %zu: %s fingerprint %s labels %s\n", i + 1,
               json_string_value(json_object_get(a, "status")),
               json_string_value(json_object_get(a, "fingerprint")), labels ? labels : "{}");
        free(labels);
    }
    json_array_foreach(json_object_get(r, "routes"), i, route) {
        json_t *m;
        printf("route %s -> %s (per %s, dedup window %s)\n",
               json_string_value(json_object_get(route, "name")),
               json_string_value(json_object_get(route, "analyzer")),
               json_string_value(json_object_get(route, "per")),
               json_string_value(json_object_get(route, "dedup_window")));
        json_array_foreach(json_object_get(route, "matched"), j, m) {
            const char *action = json_string_value(json_object_get(m, "action"));
            printf("  %s [%s]", action, json_string_value(json_object_get(m, "fingerprint")));
            if (strcmp(action, "start") == 0) {
                char *inputs =
                    json_dumps(json_object_get(m, "inputs"), JSON_COMPACT | JSON_SORT_KEYS);
                printf(" inputs %s", inputs ? inputs : "{}");
                free(inputs);
                json_t *problem;
                size_t k;
                json_array_foreach(json_object_get(m, "problems"), k, problem)
                    printf("\n    does not fit the analyzer: %s: %s",
                           json_string_value(json_object_get(problem, "field")),
                           json_string_value(json_object_get(problem, "message")));
            }
            putchar('\n');
        }
        json_array_foreach(json_object_get(route, "not_matched"), j, m) printf(
            "  not alert %lld: %s\n", (long long)json_integer_value(json_object_get(m, "alert")),
            json_string_value(json_object_get(m, "why")));
    }
    printf("unrouted: %lld\n", (long long)json_integer_value(json_object_get(r, "unrouted")));
}

/* ---- the command ------------------------------------------------------------------------------
 */

/* The config at 'path'; NULL after its errors are printed, and kept as the command's error with
 * each in its fields. */
static rt_config *load_config(const char *path) {
    rt_diag errors = {0}, warnings = {.label = "warning"};
    rt_config *c = NULL;
    rt_config_load(path, &c, &errors, &warnings);
    rt_diag_print(&errors, stderr, "");
    if (!c) /* the problems come first, above the line that sums them up */
        ig_error_fields(
            ig_error_say(stderr, "route test", IG_ERROR_USAGE, "%s has errors (above)", path),
            &errors);
    rt_diag_free(&errors);
    rt_diag_free(&warnings); /* secrets are not needed offline */
    return c;
}

/* What one run works on: the options, the config, the payload and its source. */
typedef struct route_run {
    route_options o;
    rt_config *c;
    char *text; /* the payload */
    size_t len;
    int source;
    const rt_intake_generic *generic;
} route_run;

static void run_free(route_run *r) {
    free(r->text);
    rt_config_free(r->c);
}

/* Reads the config and the payload and settles the source. Returns IG_EXIT_OK, or the exit
 * code after saying why on stderr. */
static int run_open(route_run *r, char *why) {
    if (!(r->c = load_config(r->o.config_path)))
        return IG_EXIT_USAGE;
    if (rt_file_read(r->o.payload_path, PAYLOAD_MAX, &r->text, &r->len, why) != RT_OK) {
        ig_error_say(stderr, "route test", IG_ERROR_USAGE, "%s", why);
        return IG_EXIT_USAGE;
    }
    r->source =
        r->o.source ? source_option(r->c, r->o.source, &r->generic) : guess_source(r->text, r->len);
    if (r->source < 0) {
        if (!r->o.source)
            ig_usage_error("route test", "cannot tell the payload's source: give --source");
        return IG_EXIT_USAGE;
    }
    return IG_EXIT_OK;
}

/* Prints 'out' (stolen) as indented JSON on stdout: the command's output, which holds its
 * problems (no error object after it). */
static void print_json(json_t *out) {
    char *dump = out ? json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    ig_print_json_text(dump ? dump : strdup("{}"));
    json_decref(out);
}

/* A malformed payload: with --json one JSON object (the routes' problems inside it, nothing
 * else on stdout), else the problems and the reason as text. */
static int report_malformed(const route_run *r, const rt_diag *problems, const char *why) {
    if (r->o.json)
        print_json(json_pack("{s:s, s:b, s:s, s:o}", "source", rt_source_name((rt_source)r->source),
                             "valid", 0, "error", why, "problems",
                             problems->items ? json_incref(problems->items) : json_array()));
    else {
        rt_diag_print(problems, stdout, "");
        printf("%s: %s\n", r->o.payload_path, why);
    }
    return IG_EXIT_FAILED;
}

/* A payload that parsed: what the routes make of it, as JSON or text. */
static int report_plan(const route_run *r, wk_engine *engine, const ig_payload *p,
                       const rt_diag *problems, size_t route_problems) {
    ig_plan plan = {0};
    bool fits;
    ig_plan_make(r->c, p, true, &plan);
    json_t *out = report(engine, r->c, (rt_source)r->source, p, &plan, &fits);
    json_object_set_new(out, "valid", json_true());
    json_object_set_new(out, "problems",
                        problems->items ? json_incref(problems->items) : json_array());
    if (r->o.json)
        print_json(json_incref(out));
    else {
        rt_diag_print(problems, stdout, "");
        print_text(out);
    }
    json_decref(out);
    ig_plan_free(&plan);
    return route_problems || !fits ? IG_EXIT_FAILED : IG_EXIT_OK;
}

static int route_test(int argc, char **argv) {
    route_run r = {0};
    char why[IG_INTAKE_WHY];
    int rc = parse_options(argc, argv, &r.o);
    if (rc != IG_EXIT_OK)
        return rc < 0 ? IG_EXIT_OK : rc;
    if ((rc = run_open(&r, why)) != IG_EXIT_OK) {
        run_free(&r);
        return rc;
    }
    wk_engine *engine = r.o.dirs.n
                            ? ig_engine(r.o.dirs.dirs, r.o.dirs.n)
                            : wk_engine_new((const char *const *)r.c->analyzers, r.c->n_analyzers);
    rt_diag problems = {0};
    ig_payload p;
    size_t route_problems = ig_routes_check(engine, r.c, &problems);
    if (ig_intake_parse((rt_source)r.source, r.generic, r.text, r.len, &p, why) != RT_OK)
        rc = report_malformed(&r, &problems, why);
    else {
        rc = report_plan(&r, engine, &p, &problems, route_problems);
        ig_payload_free(&p);
    }
    rt_diag_free(&problems);
    wk_engine_free(engine);
    run_free(&r);
    return rc;
}

int ig_cmd_route(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "test") == 0)
        return route_test(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(route_usage, stdout);
        return IG_EXIT_OK;
    }
    if (argc < 2)
        return ig_usage_error("route", "expected a subcommand: test");
    return ig_usage_error("route", "unknown subcommand '%s' (expected test)", argv[1]);
}
