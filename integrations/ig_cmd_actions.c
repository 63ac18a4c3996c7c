/* integrations/ig_cmd_actions.c -- `inquest actions`: what the post-processor did and waits to
 * do, over the API (docs/api.md, actions): ls, show ID, approve ID, reject ID, audit. The HTTP
 * client is ig_client.c; the process that runs the actions is `inquest postproc`. */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_cli.h"
#include "ig_client.h"

static const char actions_usage[] =
    "Usage: inquest actions ls [--state S] [--limit N] [--cursor C] [options]\n"
    "       inquest actions show ID [options]\n"
    "       inquest actions approve ID [--reason TEXT] [options]\n"
    "       inquest actions reject ID [--reason TEXT] [options]\n"
    "       inquest actions audit [--since TIME | --after SEQ] [--limit N] [options]\n"
    "\n"
    "The post-processor's actions (GET /v1/actions, /v1/actions/ID) and its audit log\n"
    "(GET /v1/audit, JSON lines). An action waiting for a person (state awaiting_approval)\n"
    "runs once approved; the token's name is recorded as who decided.\n"
    "\n"
    "Options:\n"
    "  --state S           ls: only actions in state S (awaiting_approval, dry_run, …)\n"
    "  --limit N           ls: at most N (1 to 500); audit: records a page reads (1 to\n"
    "                      10000, default 1000); every page is read\n"
    "  --cursor C          ls: the next page, as the previous one said\n"
    "  --reason TEXT       approve, reject: why (kept in the audit)\n"
    "  --since TIME        audit: from TIME (RFC 3339, Unix seconds, or a duration back: 1h)\n"
    "  --after SEQ         audit: the records after record SEQ; where each page ends is\n"
    "                      printed on stderr (\"next: SEQ\"), the records alone on stdout\n"
    "  --json              ls, show, approve, reject: print the server's answer as JSON,\n"
    "                      and an error as {\"error\": {\"code\", \"message\", …}} (the\n"
    "                      server's as it came, with \"http_status\"; as `inquest wait --help`)\n"
    "  --server URL        the server (default: $INQUEST_URL, else " IG_DEFAULT_SERVER ")\n"
    "  --token-file FILE   the API token (default: $INQUEST_TOKEN, else $INQUEST_TOKEN_FILE)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit codes: 0 done; 1 the server refused (not found, not awaiting approval: 409); 2 usage\n"
    "error; 3 the server cannot be reached or failed.\n";

typedef struct args {
    const char *verb, *id, *state, *limit, *cursor, *reason, *since, *after;
    bool json;
    ig_client_options server;
} args;

static const char *field(const json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static void print_json(const json_t *v) {
    ig_print_json_text(json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS));
}

static void print_action(const json_t *a) {
    static const char *const keys[] = {"id",         "state",     "reason",      "type",
                                       "name",       "service",   "rule",        "analysis",
                                       "analyzer",   "connector", "approved_by", "rejected_by",
                                       "created_at", "updated_at"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_string_value(json_object_get(a, keys[i])) &&
            *json_string_value(json_object_get(a, keys[i])))
            printf("%-12s%s\n", keys[i], field(a, keys[i]));
    printf("%-12s%lld\n", "attempts", json_integer_value(json_object_get(a, "attempts")));
    const json_t *plan = json_object_get(a, "plan");
    char *body = json_dumps(json_object_get(plan, "body"), JSON_COMPACT | JSON_SORT_KEYS);
    printf("%-12s%s %s\n%-12s%s\n", "call", field(plan, "method"), field(plan, "path"), "body",
           body ? body : "");
    free(body);
    if (json_object_get(a, "outcome")) {
        char *o = json_dumps(json_object_get(a, "outcome"), JSON_COMPACT | JSON_SORT_KEYS);
        printf("%-12s%s\n", "outcome", o ? o : "");
        free(o);
    }
}

static int cmd_ls(ig_client *c, const args *a) {
    char path[512] = "/v1/actions";
    const char *sep = "?";
    const char *names[] = {"state", "limit", "cursor"};
    const char *values[] = {a->state, a->limit, a->cursor};
    for (int i = 0; i < 3; i++) {
        if (!values[i])
            continue;
        char *e = ig_url_escape(values[i]);
        size_t n = strlen(path);
        snprintf(path + n, sizeof path - n, "%s%s=%s", sep, names[i], e);
        sep = "&";
        free(e);
    }
    json_t *answer = NULL;
    int code = ig_api_call(c, "GET", path, NULL, &answer);
    const json_t *list = json_object_get(answer, "actions"), *item;
    size_t i;
    if (code == IG_EXIT_OK && a->json)
        print_json(answer);
    else if (code == IG_EXIT_OK) {
        printf("%-24s  %-18s  %-13s  %-12s  %s\n", "ID", "STATE", "TYPE", "SERVICE", "SUMMARY");
        json_array_foreach(list, i, item)
            printf("%-24s  %-18s  %-13s  %-12s  %s\n", field(item, "id"), field(item, "state"),
                   field(item, "type"), field(item, "service"), field(item, "summary"));
        if (json_object_get(answer, "next_cursor"))
            fprintf(stderr, "(more: inquest actions ls --cursor %s)\n",
                    field(answer, "next_cursor"));
    }
    json_decref(answer);
    return code;
}

static int cmd_one(ig_client *c, const args *a) {
    char *id = ig_url_escape(a->id), path[256];
    bool decide = strcmp(a->verb, "show") != 0;
    snprintf(path, sizeof path, "/v1/actions/%s%s%s", id, decide ? "/" : "", decide ? a->verb : "");
    free(id);
    json_t *body = decide ? json_object() : NULL, *answer = NULL;
    if (a->reason)
        json_object_set_new(body, "reason", json_string(a->reason));
    int code = ig_api_call(c, decide ? "POST" : "GET", path, body, &answer);
    if (code == IG_EXIT_OK && a->json)
        print_json(answer);
    else if (code == IG_EXIT_OK)
        print_action(answer);
    json_decref(body);
    json_decref(answer);
    return code;
}

/* The records as JSON lines on stdout, every page from the start asked for; where each page ends
 * ("next: SEQ", for --after) on stderr, so that stdout stays the records alone. */
static int cmd_audit(ig_client *c, const args *a) {
    char path[512] = "/v1/audit";
    ig_query_add(path, sizeof path, "limit", a->limit);
    ig_export e = {.path = path,
                   .since = a->since,
                   .after = a->after,
                   .limit = a->limit ? strtol(a->limit, NULL, 10) : 1000,
                   .resume = "inquest actions audit"};
    return ig_api_export(c, &e, stdout);
}

static int parse(int argc, char **argv, args *a) {
    enum {
        O_STATE = 256,
        O_LIMIT,
        O_CURSOR,
        O_REASON,
        O_SINCE,
        O_AFTER,
        O_JSON,
        O_SERVER,
        O_TOKEN
    };
    static const struct option options[] = {
        {"state", required_argument, NULL, O_STATE},
        {"limit", required_argument, NULL, O_LIMIT},
        {"cursor", required_argument, NULL, O_CURSOR},
        {"reason", required_argument, NULL, O_REASON},
        {"since", required_argument, NULL, O_SINCE},
        {"after", required_argument, NULL, O_AFTER},
        {"json", no_argument, NULL, O_JSON},
        {"server", required_argument, NULL, O_SERVER},
        {"token-file", required_argument, NULL, O_TOKEN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
        case O_STATE:
            a->state = optarg;
            break;
        case O_LIMIT:
            a->limit = optarg;
            break;
        case O_CURSOR:
            a->cursor = optarg;
            break;
        case O_REASON:
            a->reason = optarg;
            break;
        case O_SINCE:
            a->since = optarg;
            break;
        case O_AFTER:
            a->after = optarg;
            break;
        case O_JSON:
            a->json = true;
            break;
        case O_SERVER:
            a->server.server = optarg;
            break;
        case O_TOKEN:
            a->server.token_file = optarg;
            break;
        case 'h':
            fputs(actions_usage, stdout);
            return -1;
        default:
            return ig_usage_error("actions", "unknown option or missing value: %s",
                                  argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return ig_usage_error("actions", "which? ls, show ID, approve ID, reject ID or audit");
    a->verb = argv[optind++];
    bool needs_id = strcmp(a->verb, "show") == 0 || strcmp(a->verb, "approve") == 0 ||
                    strcmp(a->verb, "reject") == 0;
    if (!needs_id && strcmp(a->verb, "ls") != 0 && strcmp(a->verb, "audit") != 0)
        return ig_usage_error("actions", "unknown subcommand '%s'", a->verb);
    if (needs_id && optind < argc)
        a->id = argv[optind++];
    if (needs_id && (!a->id || !*a->id))
        return ig_usage_error("actions", "%s needs an action id (see `inquest actions ls`)",
                              a->verb);
    if (optind < argc)
        return ig_usage_error("actions", "unexpected argument \"%s\"", argv[optind]);
    if (a->reason && (!needs_id || strcmp(a->verb, "show") == 0))
        return ig_usage_error("actions", "--reason goes with approve and reject");
    if (a->json && strcmp(a->verb, "audit") == 0)
        return ig_usage_error("actions", "--json goes with ls, show, approve and reject (audit "
                                         "prints JSON lines already)");
    return IG_EXIT_OK;
}

int ig_cmd_actions(int argc, char **argv) {
    args a = {0};
    ig_client *c = NULL;
    int code = parse(argc, argv, &a);
    if (a.json) /* also when a later option was refused */
        ig_error_json("actions");
    if (code != IG_EXIT_OK)
        return code < 0 ? IG_EXIT_OK : code;
    if (NEVER(!a.verb)) /* parse returns OK only with a verb (ig_usage_error never returns OK) */
        return IG_EXIT_USAGE;
    if ((code = ig_client_new("actions", &a.server, &c)) != IG_EXIT_OK)
        return code;
    if (strcmp(a.verb, "ls") == 0)
        code = cmd_ls(c, &a);
    else if (strcmp(a.verb, "audit") == 0)
        code = cmd_audit(c, &a);
    else
        code = cmd_one(c, &a);
    ig_client_free(c);
    return code;
}
