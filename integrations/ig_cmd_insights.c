/* integrations/ig_cmd_insights.c -- `inquest insights` and `inquest feedback`, over the API
 * (docs/api.md, Insights and Feedback): the ranking of root causes per service and alert, how
 * analyses concluded, their run time and each analyzer's precision; and people's verdicts on
 * analyses: give one, list them, export them as JSON lines. The HTTP client is ig_client.c; what
 * the server counts is ig_insights.c. */
#define _GNU_SOURCE /* getopt_long, open_memstream */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_cli.h"
#include "ig_client.h"

static const char insights_usage[] =
    "Usage: inquest insights [--period 7d] [--top N] [--json] [options]\n"
    "\n"
    "What keeps causing the analyses of the server (GET /v1/insights): over the last whole UTC\n"
    "days, how often analyses concluded (root_cause_found, inconclusive, no_anomaly, other,\n"
    "error, cancelled), their run time (p50, p95), the top root causes overall, per service\n"
    "(the label service, else the input service) and per alert (the label alertname an alert's\n"
    "analysis carries), and each analyzer's precision from the verdicts people gave (correct 1,\n"
    "partly 1/2, wrong 0, over the analyses judged). `inquest serve` counts analyses as they\n"
    "finish (insights in its config, docs/config.md).\n"
    "\n"
    "Options:\n"
    "  --period D          whole days back, today included (default: the server's\n"
    "                      insights.period, 7d)\n"
    "  --top N             entries of each ranking (1 to 100; default: the server's)\n"
    "  --json              print the server's answer as JSON, and an error as {\"error\":\n"
    "                      {\"code\", \"message\", …}} (as `inquest wait --help` says)\n"
    "  --server URL        the server (default: $INQUEST_URL, else " IG_DEFAULT_SERVER ")\n"
    "  --token-file FILE   the API token (default: $INQUEST_TOKEN, else $INQUEST_TOKEN_FILE)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit codes: 0 done; 1 the server refused; 2 usage error; 3 the server cannot be reached or\n"
    "failed.\n";

static const char feedback_usage[] =
    "Usage: inquest feedback give ID correct|wrong|partly [--root-cause TAG] [--note TEXT]\n"
    "       inquest feedback ls [ID] [--since TIME] [--json] [options]\n"
    "       inquest feedback export [--since TIME] [--until TIME] [--after SEQ] [--limit N]\n"
    "\n"
    "People's verdicts on analyses (docs/api.md, Feedback): was the root cause right? The latest\n"
    "verdict on an analysis counts (insights' precision; `inquest case from-analysis` takes it\n"
    "into the case), and every verdict is kept for the export.\n"
    "\n"
    "  give     records a verdict on a finished analysis; for wrong and partly, --root-cause\n"
    "           names the cause it should have been\n"
    "  ls       with ID: the analysis' verdicts, newest first; without: the verdicts given since\n"
    "           --since (default 7d), oldest first\n"
    "  export   every verdict given in the time asked for, as JSON lines on stdout, oldest\n"
    "           first, all pages; where to resume is printed on stderr (\"next: SEQ\", for\n"
    "           --after)\n"
    "\n"
    "Options:\n"
    "  --root-cause TAG    give: the root cause it should have been (wrong, partly)\n"
    "  --note TEXT         give: why, in a few words\n"
    "  --since TIME        ls, export: from TIME (RFC 3339, Unix seconds, or a duration back:\n"
    "                      7d)\n"
    "  --until TIME        export: up to TIME\n"
    "  --after SEQ         export: the verdicts after record SEQ (not with --since)\n"
    "  --limit N           export: records per request (1 to 10000; default 1000)\n"
    "  --json              give, ls: print the server's answer as JSON, and an error as\n"
    "                      {\"error\": {\"code\", \"message\", …}} (as `inquest wait --help`)\n"
    "  --server URL        the server (default: $INQUEST_URL, else " IG_DEFAULT_SERVER ")\n"
    "  --token-file FILE   the API token (default: $INQUEST_TOKEN, else $INQUEST_TOKEN_FILE)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit codes: 0 done; 1 the server refused (no such analysis, not finished: 409); 2 usage\n"
    "error; 3 the server cannot be reached or failed.\n";

typedef struct args {
    const char *verb, *id, *verdict, *root_cause, *note, *since, *until, *after, *limit;
    const char *period, *top;
    bool json;
    ig_client_options server;
} args;

static void print_json(const json_t *v) {
    ig_print_json_text(json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS));
}

static const char *text_of(const json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* Milliseconds as people read them: "850 ms", "1.2 s", "3.5 min". */
static void duration(const json_t *ms, char *out, size_t size) {
    if (!json_is_number(ms)) {
        snprintf(out, size, "-");
        return;
    }
    double v = json_number_value(ms);
    if (v < 1000)
        snprintf(out, size, "%.0f ms", v);
    else if (v < 60000)
        snprintf(out, size, "%.1f s", v / 1000);
    else
        snprintf(out, size, "%.1f min", v / 60000);
}

/* ---- inquest insights ----------------------------------------------------------------------- */

static void print_outcomes(const json_t *o) {
    static const char *const names[] = {
        "root_cause_found", "inconclusive", "no_anomaly", "other", "error", "cancelled"};
    printf("  ");
    for (size_t i = 0; i < 6; i++)
        printf("%s%s %lld", i ? " · " : "", names[i],
               (long long)json_integer_value(json_object_get(o, names[i])));
    printf("\n");
}

static void print_causes(const json_t *causes, const char *indent) {
    size_t i;
    json_t *c;
    json_array_foreach(causes, i, c) {
        printf("%s%-32.*s %6lld  %3.0f%%\n", indent, rt_utf8_fit(text_of(c, "root_cause"), 32),
               text_of(c, "root_cause"), (long long)json_integer_value(json_object_get(c, "count")),
               json_number_value(json_object_get(c, "share")) * 100);
    }
    if (!json_array_size(causes))
        printf("%s(none found)\n", indent);
}

static void print_ranking(const json_t *list, const char *key, const char *title, json_int_t more) {
    size_t i;
    json_t *g;
    printf("\n%s\n", title);
    if (!json_array_size(list))
        printf("  (none)\n");
    json_array_foreach(list, i, g) {
        char p50[32];
        duration(json_object_get(json_object_get(g, "duration_ms"), "p50"), p50, sizeof p50);
        printf("  %.*s (%lld analyses, p50 %s)\n", rt_utf8_fit(text_of(g, key), 60),
               text_of(g, key), (long long)json_integer_value(json_object_get(g, "analyses")), p50);
        print_causes(json_object_get(g, "root_causes"), "    ");
    }
    if (more)
        printf("  … and %lld more\n", (long long)more);
}

static void print_insights(const json_t *r) {
    char p50[32], p95[32];
    const json_t *d = json_object_get(r, "duration_ms");
    duration(json_object_get(d, "p50"), p50, sizeof p50);
    duration(json_object_get(d, "p95"), p95, sizeof p95);
    printf("Insights %s to %s (%s, UTC days): %lld analyses\n", text_of(r, "from"),
           text_of(r, "to"), text_of(r, "period"),
           (long long)json_integer_value(json_object_get(r, "analyses")));
    print_outcomes(json_object_get(r, "outcomes"));
    printf("  run time p50 %s, p95 %s\n", p50, p95);
    printf("\nTop root causes\n");
    print_causes(json_object_get(r, "root_causes"), "  ");
    print_ranking(json_object_get(r, "services"), "service", "By service",
                  json_integer_value(json_object_get(r, "more_services")));
    print_ranking(json_object_get(r, "alerts"), "alert", "By alert",
                  json_integer_value(json_object_get(r, "more_alerts")));
    printf("\nAnalyzers\n  %-28s %8s %6s %9s %9s %6s %9s\n", "ANALYZER", "ANALYSES", "FOUND", "P50",
           "P95", "JUDGED", "PRECISION");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(r, "analyzers"), i, a) {
        char precision[16] = "-";
        const json_t *ad = json_object_get(a, "duration_ms");
        duration(json_object_get(ad, "p50"), p50, sizeof p50);
        duration(json_object_get(ad, "p95"), p95, sizeof p95);
        if (json_is_number(json_object_get(a, "precision")))
            snprintf(precision, sizeof precision, "%.2f",
                     json_number_value(json_object_get(a, "precision")));
        printf("  %-28.*s %8lld %6lld %9s %9s %6lld %9s\n", rt_utf8_fit(text_of(a, "analyzer"), 28),
               text_of(a, "analyzer"),
               (long long)json_integer_value(json_object_get(a, "analyses")),
               (long long)json_integer_value(
                   json_object_get(json_object_get(a, "outcomes"), "root_cause_found")),
               p50, p95,
               (long long)json_integer_value(
                   json_object_get(json_object_get(a, "feedback"), "judged")),
               precision);
    }
}

/* ---- inquest feedback ----------------------------------------------------------------------- */

static void print_verdict_row(const json_t *v, bool with_analysis) {
    printf("%-24s  ", text_of(v, "at"));
    if (with_analysis)
        printf("%-16s  %-20.*s  ", text_of(v, "analysis"), rt_utf8_fit(text_of(v, "analyzer"), 20),
               text_of(v, "analyzer"));
    printf("%-8s  %-20.*s  %-20.*s  %s\n", text_of(v, "verdict"),
           rt_utf8_fit(text_of(v, "root_cause"), 20), text_of(v, "root_cause"),
           rt_utf8_fit(text_of(v, "by"), 20), text_of(v, "by"),
           json_is_string(json_object_get(v, "note")) ? text_of(v, "note") : "");
}

/* Every page of /v1/feedback from 'a''s start, to 'out'; 'resume': the command for "next:" lines
 * on stderr, or NULL. */
static int export_all(ig_client *c, const args *a, const char *since, FILE *out,
                      const char *resume) {
    char path[1024] = "/v1/feedback";
    ig_query_add(path, sizeof path, "limit", a->limit);
    ig_query_add(path, sizeof path, "until", a->until);
    ig_export e = {.path = path,
                   .since = since,
                   .after = a->after,
                   .limit = a->limit ? strtol(a->limit, NULL, 10) : 1000,
                   .resume = resume};
    return ig_api_export(c, &e, out);
}

/* The verdicts since 'a''s start (a week back by default), as a JSON array in '*records'. */
static int gather_verdicts(ig_client *c, const args *a, json_t **records) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return IG_EXIT_FAILED;
    int code = export_all(c, a, a->since ? a->since : "7d", mem, NULL);
    fclose(mem);
    *records = json_array();
    for (char *line = buf, *nl; code == IG_EXIT_OK && line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        json_t *v = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
        if (v)
            json_array_append_new(*records, v);
    }
    free(buf);
    return code;
}

static int feedback_give(ig_client *c, const args *a) {
    char *id = ig_url_escape(a->id), path[256];
    snprintf(path, sizeof path, "/v1/analyses/%s/feedback", id);
    free(id);
    json_t *body = json_pack("{s:s}", "verdict", a->verdict), *answer = NULL;
    if (a->root_cause)
        json_object_set_new(body, "root_cause", json_string(a->root_cause));
    if (a->note && json_object_set_new(body, "note", json_string(a->note)) != 0) {
        json_decref(body);
        return ig_usage_error("feedback", "--note is not valid UTF-8");
    }
    int code = ig_api_call(c, "POST", path, body, &answer);
    if (code == IG_EXIT_OK && a->json)
        print_json(answer);
    else if (code == IG_EXIT_OK)
        print_verdict_row(json_object_get(answer, "feedback"), true);
    json_decref(body);
    json_decref(answer);
    return code;
}

static int feedback_ls(ig_client *c, const args *a) {
    json_t *answer = NULL;
    int code;
    if (a->id) {
        char *id = ig_url_escape(a->id), path[256];
        snprintf(path, sizeof path, "/v1/analyses/%s/feedback", id);
        free(id);
        code = ig_api_call(c, "GET", path, NULL, &answer);
        if (code == IG_EXIT_OK && a->json)
            print_json(answer);
        else if (code == IG_EXIT_OK) {
            size_t i;
            json_t *v;
            if (!json_array_size(json_object_get(answer, "history")))
                printf("no verdict on %s yet (inquest feedback give %s correct|wrong|partly)\n",
                       a->id, a->id);
            json_array_foreach(json_object_get(answer, "history"), i, v)
                print_verdict_row(v, false);
        }
        json_decref(answer);
        return code;
    }
    json_t *records = NULL;
    code = gather_verdicts(c, a, &records);
    if (code == IG_EXIT_OK && a->json)
        print_json(records);
    else if (code == IG_EXIT_OK) {
        size_t i;
        json_t *v;
        printf("%-24s  %-16s  %-20s  %-8s  %-20s  %-20s  %s\n", "AT", "ANALYSIS", "ANALYZER",
               "VERDICT", "ROOT CAUSE", "BY", "NOTE");
        json_array_foreach(records, i, v) print_verdict_row(v, true);
    }
    json_decref(records);
    return code;
}

/* ---- options -------------------------------------------------------------------------------- */

static int parse(const char *cmd, int argc, char **argv, args *a) {
    enum {
        O_PERIOD = 256,
        O_TOP,
        O_ROOT_CAUSE,
        O_NOTE,
        O_SINCE,
        O_UNTIL,
        O_AFTER,
        O_LIMIT,
        O_JSON,
        O_SERVER,
        O_TOKEN
    };
    static const struct option options[] = {
        {"period", required_argument, NULL, O_PERIOD},
        {"top", required_argument, NULL, O_TOP},
        {"root-cause", required_argument, NULL, O_ROOT_CAUSE},
        {"note", required_argument, NULL, O_NOTE},
        {"since", required_argument, NULL, O_SINCE},
        {"until", required_argument, NULL, O_UNTIL},
        {"after", required_argument, NULL, O_AFTER},
        {"limit", required_argument, NULL, O_LIMIT},
        {"json", no_argument, NULL, O_JSON},
        {"server", required_argument, NULL, O_SERVER},
        {"token-file", required_argument, NULL, O_TOKEN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **slot[] = {[O_PERIOD - 256] = &a->period,
                           [O_TOP - 256] = &a->top,
                           [O_ROOT_CAUSE - 256] = &a->root_cause,
                           [O_NOTE - 256] = &a->note,
                           [O_SINCE - 256] = &a->since,
                           [O_UNTIL - 256] = &a->until,
                           [O_AFTER - 256] = &a->after,
                           [O_LIMIT - 256] = &a->limit,
                           [O_JSON - 256] = NULL,
                           [O_SERVER - 256] = &a->server.server,
                           [O_TOKEN - 256] = &a->server.token_file};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(strcmp(cmd, "insights") == 0 ? insights_usage : feedback_usage, stdout);
            return -1;
        }
        if (opt == O_JSON)
            a->json = true;
        else if (opt >= O_PERIOD && opt <= O_TOKEN && slot[opt - 256])
            *slot[opt - 256] = optarg;
        else if (opt == ':')
            return ig_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        else
            return ig_usage_error(cmd, "unknown option %s", argv[optind - 1]);
    }
    return IG_EXIT_OK;
}

/* Options that a verb does not take are refused, so that a typo does not go unnoticed. */
static int check_feedback(args *a, int argc, char **argv) {
    if (optind >= argc)
        return ig_usage_error("feedback", "which? give ID VERDICT, ls [ID] or export");
    a->verb = argv[optind++];
    bool give = strcmp(a->verb, "give") == 0, ls = strcmp(a->verb, "ls") == 0;
    bool export = strcmp(a->verb, "export") == 0;
    if (!give && !ls && !export)
        return ig_usage_error("feedback", "unknown subcommand '%s' (give, ls, export)", a->verb);
    if ((give || ls) && optind < argc)
        a->id = argv[optind++];
    if (give && optind < argc)
        a->verdict = argv[optind++];
    if (optind < argc)
        return ig_usage_error("feedback", "unexpected argument \"%s\"", argv[optind]);
    if (give && (!a->id || !a->verdict))
        return ig_usage_error("feedback", "give needs an analysis id and a verdict (correct, "
                                          "wrong or partly)");
    if (!give && (a->root_cause || a->note))
        return ig_usage_error("feedback", "--root-cause and --note go with give");
    if (!export && (a->until || a->after || a->limit))
        return ig_usage_error("feedback", "--until, --after and --limit go with export");
    if (export && a->json)
        return ig_usage_error("feedback", "export prints JSON lines already (no --json)");
    if ((give || (ls && a->id)) && a->since)
        return ig_usage_error("feedback", "--since goes with export and ls without an id");
    if (a->after && a->since)
        return ig_usage_error("feedback", "give --since or --after, not both");
    if (a->limit && (atol(a->limit) < 1 || atol(a->limit) > 10000))
        return ig_usage_error("feedback", "--limit must be from 1 to 10000");
    if (a->period || a->top)
        return ig_usage_error("feedback", "--period and --top go with `inquest insights`");
    return IG_EXIT_OK;
}

int ig_cmd_feedback(int argc, char **argv) {
    args a = {0};
    ig_client *c = NULL;
    int code = parse("feedback", argc, argv, &a);
    if (a.json) /* also when a later option was refused */
        ig_error_json("feedback");
    if (code == IG_EXIT_OK)
        code = check_feedback(&a, argc, argv);
    if (code != IG_EXIT_OK)
        return code < 0 ? IG_EXIT_OK : code;
    if ((code = ig_client_new("feedback", &a.server, &c)) != IG_EXIT_OK)
        return code;
    if (strcmp(a.verb, "give") == 0)
        code = feedback_give(c, &a);
    else if (strcmp(a.verb, "ls") == 0)
        code = feedback_ls(c, &a);
    else
        code = export_all(c, &a, a.since, stdout, "inquest feedback export");
    ig_client_free(c);
    return code;
}

int ig_cmd_insights(int argc, char **argv) {
    args a = {0};
    ig_client *c = NULL;
    json_t *answer = NULL;
    char path[256] = "/v1/insights";
    int code = parse("insights", argc, argv, &a);
    if (a.json) /* also when a later option was refused */
        ig_error_json("insights");
    if (code != IG_EXIT_OK)
        return code < 0 ? IG_EXIT_OK : code;
    if (optind < argc)
        return ig_usage_error("insights", "unexpected argument \"%s\"", argv[optind]);
    if (a.root_cause || a.note || a.since || a.until || a.after || a.limit)
        return ig_usage_error("insights", "it takes --period, --top and --json (the others are "
                                          "`inquest feedback`'s)");
    ig_query_add(path, sizeof path, "period", a.period);
    ig_query_add(path, sizeof path, "top", a.top);
    if ((code = ig_client_new("insights", &a.server, &c)) != IG_EXIT_OK)
        return code;
    code = ig_api_call(c, "GET", path, NULL, &answer);
    if (code == IG_EXIT_OK && a.json)
        print_json(answer);
    else if (code == IG_EXIT_OK)
        print_insights(answer);
    json_decref(answer);
    ig_client_free(c);
    return code;
}
