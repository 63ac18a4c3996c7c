/* integrations/ig_cmd_client.c -- the service's command-line clients: `inquest submit`, `status`,
 * `wait`, `result`, `cancel` and `ls`, over the HTTP API (docs/api.md). The HTTP/JSON client
 * and its messages are in ig_client.c; `inquest run --remote` is in ig_cmd_run.c. */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ig_cli.h"
#include "ig_client.h"
#include "ig_report.h"

#define DEFAULT_WAIT_TIMEOUT 300.0 /* `wait` and `submit --wait`: 5m */
#define MAX_WAIT_TIMEOUT     (7 * 24 * 3600.0)
#define MAX_LIST_LIMIT       500 /* docs/api.md: `limit` 1 to 500 */

/* ---- Usage --------------------------------------------------------------------------------- */

#define SERVER_OPTIONS                                                                             \
    "  --server URL          the server (default: $INQUEST_URL, else " IG_DEFAULT_SERVER ")\n"     \
    "  --token-file FILE     the API token, read from FILE (default: $INQUEST_TOKEN, else\n"       \
    "                        the file $INQUEST_TOKEN_FILE; none: no Authorization header)\n"       \
    "  -h, --help            this text\n"

#define EXIT_CODES(ok, failed)                                                                     \
    "\nExit codes: 0 " ok "; 1 " failed "; 2 usage or input error (also when the\n"                \
    "server finds the request invalid); 3 the server cannot be reached, failed (5xx) or did\n"     \
    "not answer as the API does.\n" JSON_ERRORS

/* What --json prints when a command fails, in every client command's help (docs/operating.md). */
#define JSON_ERRORS                                                                                \
    "\nWith --json, stdout holds one JSON object also when the command fails: its answer or\n"     \
    "result when there is one, else {\"error\": {\"code\", \"message\", …}}: the server's\n"     \
    "error as it came, with \"http_status\" (and \"retry_after\"), or the client's own:\n"         \
    "usage (an argument after --json, a file), unreachable, server_timeout, not_api,\n"            \
    "answer_too_large, and not_finished or no_result with the server's \"analysis\".\n"            \
    "stderr says the same, and the exit code is as above.\n"

#define REPORT_OPTIONS                                                                             \
    "  --json                print the result as JSON (inquest.result/v1); without one (not\n"     \
    "                        finished, dead), the error that says why (below)\n"                   \
    "  --md                  print the report as Markdown\n"

static const char submit_usage[] =
    "Usage: inquest submit ANALYZER [key=value…] [options]\n"
    "\n"
    "Queues an analysis on the server (POST /v1/analyses) and prints its id on stdout; when\n"
    "the same analysis was already submitted within the dedup window, the id is that one's and\n"
    "stderr says \"(deduplicated: existing analysis)\". Inputs are given as to `inquest run`\n"
    "and checked by the server before anything is queued.\n"
    "\n"
    "Options:\n"
    "  --inputs FILE.json    inputs as a JSON object (key=value pairs override them)\n"
    "  --priority P          interactive, alert or batch (default: the server's, interactive)\n"
    "  --dedup-key K         the same key within the dedup window is the same analysis\n"
    "                        (default: the analyzer and its inputs)\n"
    "  --deadline D          a duration from now (5m; at most 365d) or a time (RFC 3339, or\n"
    "                        Unix seconds: a bare number is a time); not started by then, it\n"
    "                        ends with status timeout, and one still running then is stopped\n"
    "  --label k=v           a label carried to the result (repeatable)\n"
    "  --record              keep the analysis' recording, for `inquest case from-analysis`\n"
    "  --wait                then wait for it and print its report, as `inquest wait`\n"
    "  --timeout DURATION    with --wait: how long to wait (default 5m)\n"
    "  --json                print the server's answer as JSON (with --wait: the result)\n"
    "  --md                  with --wait: print the report as Markdown\n" SERVER_OPTIONS EXIT_CODES(
        "queued (with --wait: finished with status ok)",
        "the server refused it (with --wait: the analysis failed or is not finished)");

static const char status_usage[] =
    "Usage: inquest status ID [options]\n"
    "\n"
    "Prints an analysis' status, analyzer and times (GET /v1/analyses/ID).\n"
    "\n"
    "Options:\n"
    "  --json                print the server's answer as JSON\n" SERVER_OPTIONS EXIT_CODES(
        "finished with status ok", "it failed, is not finished, or was refused");

static const char wait_usage[] =
    "Usage: inquest wait ID [options]\n"
    "\n"
    "Waits until an analysis finishes (long polls of GET /v1/analyses/ID?wait=30s), then\n"
    "prints its report as `inquest run` does. While time is left, a server that cannot be\n"
    "reached or fails (5xx) is tried again (stderr says so once).\n"
    "\n"
    "Options:\n"
    "  --timeout DURATION    how long to wait (default 5m); then it says that the analysis is\n"
    "                        still running and exits 1\n" REPORT_OPTIONS SERVER_OPTIONS EXIT_CODES(
        "finished with status ok", "it failed, did not finish in time, or the server refused");

static const char result_usage[] =
    "Usage: inquest result ID [options]\n"
    "\n"
    "Prints the report of a finished analysis, as `inquest run` does; one that has not\n"
    "finished is only named (see `inquest wait`).\n"
    "\n"
    "Options:\n" REPORT_OPTIONS SERVER_OPTIONS EXIT_CODES(
        "finished with status ok", "it failed, is not finished, or was refused");

static const char cancel_usage[] =
    "Usage: inquest cancel ID [options]\n"
    "\n"
    "Cancels an analysis (DELETE /v1/analyses/ID): a queued one at once, a running one at its\n"
    "next wait for I/O. One that has finished cannot be cancelled.\n"
    "\n"
    "Options:\n"
    "  --json                print the server's answer as JSON\n" SERVER_OPTIONS EXIT_CODES(
        "cancelled or being cancelled", "it has finished, or the server refused");

static const char ls_usage[] =
    "Usage: inquest ls [options]\n"
    "\n"
    "Lists recent analyses, newest first (GET /v1/analyses): id, analyzer, status, when it\n"
    "was submitted and how long it ran.\n"
    "\n"
    "Options:\n"
    "  --status S            only those with status S: queued, running, ok, error, timeout,\n"
    "                        cpu_exceeded, memory_exceeded, cancelled or dead\n"
    "  --analyzer A          only those of analyzer A\n"
    "  --label NAME=VALUE    only those whose label NAME is VALUE (one label)\n"
    "  --since T             only those submitted at or after T: an RFC 3339 time, Unix\n"
    "                        seconds, or a duration back from now such as 1h\n"
    "  --until T             only those submitted at or before T (as --since)\n"
    "  --limit N             at most N, 1 to 500 (default: the server's, 50)\n"
    "  --cursor C            the next page, as the previous one said (with the same filters)\n"
    "  --json                print the server's answer as JSON\n"
    "\n"
    "A page examines a bounded number of analyses, so with a rare filter it may be short or\n"
    "empty and still say that more may follow.\n" SERVER_OPTIONS EXIT_CODES("listed",
                                                                            "the server refused");

/* ---- Options ------------------------------------------------------------------------------- */

typedef enum format { FORMAT_TEXT, FORMAT_JSON, FORMAT_MARKDOWN } format;

/* The options a command takes, beyond --server, --token-file and --help. */
enum {
    TAKES_JSON = 1 << 0,
    TAKES_MD = 1 << 1,
    TAKES_TIMEOUT = 1 << 2,
    TAKES_SUBMIT = 1 << 3, /* --inputs, --priority, --dedup-key, --deadline, --label, --wait,
                              --record */
    TAKES_LIST = 1 << 4,   /* --status, --analyzer, --label (a filter), --since, --until,
                              --limit, --cursor */
};

typedef struct client_args client_args;

typedef struct client_command {
    const char *name;
    const char *usage;
    unsigned takes; /* TAKES_* */
    int (*run)(client_args *a, ig_client *c);
} client_command;

struct client_args {
    const client_command *cmd;
    ig_client_options server;
    format output;
    double timeout; /* of waiting */
    int timeout_set, wait;
    json_t *request; /* submit: the body (owned) */
    json_t *inputs;  /* submit: the request's inputs (borrowed from 'request') */
    char *query;     /* ls: the query string (owned) */
    char *filters;   /* ls: the filters as options, " --status ok …", for the next page's
                        command: the server's cursor does not carry them (owned) */
    int labelled;    /* ls: --label was given */
    char **operands; /* what getopt leaves: ANALYZER and key=value, or ID */
    int n_operands;
};

enum {
    OPT_SERVER = 256,
    OPT_TOKEN_FILE,
    OPT_JSON,
    OPT_MD,
    OPT_TIMEOUT,
    OPT_INPUTS,
    OPT_PRIORITY,
    OPT_DEDUP_KEY,
    OPT_DEADLINE,
    OPT_LABEL,
    OPT_WAIT,
    OPT_STATUS,
    OPT_ANALYZER,
    OPT_LIMIT,
    OPT_CURSOR,
    OPT_RECORD,
    OPT_SINCE,
    OPT_UNTIL,
};

static const struct option long_options[] = {
    {"server", required_argument, NULL, OPT_SERVER},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"json", no_argument, NULL, OPT_JSON},
    {"md", no_argument, NULL, OPT_MD},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"inputs", required_argument, NULL, OPT_INPUTS},
    {"priority", required_argument, NULL, OPT_PRIORITY},
    {"dedup-key", required_argument, NULL, OPT_DEDUP_KEY},
    {"deadline", required_argument, NULL, OPT_DEADLINE},
    {"label", required_argument, NULL, OPT_LABEL},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"status", required_argument, NULL, OPT_STATUS},
    {"analyzer", required_argument, NULL, OPT_ANALYZER},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"cursor", required_argument, NULL, OPT_CURSOR},
    {"record", no_argument, NULL, OPT_RECORD},
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Which TAKES_* bit an option needs (0: every command takes it). */
static unsigned option_needs(int opt) {
    switch (opt) {
    case OPT_JSON:
        return TAKES_JSON;
    case OPT_MD:
        return TAKES_MD;
    case OPT_TIMEOUT:
        return TAKES_TIMEOUT;
    case OPT_INPUTS:
    case OPT_PRIORITY:
    case OPT_DEDUP_KEY:
    case OPT_DEADLINE:
    case OPT_WAIT:
    case OPT_RECORD:
        return TAKES_SUBMIT;
    case OPT_LABEL: /* a label to carry, or one to filter on */
        return TAKES_SUBMIT | TAKES_LIST;
    case OPT_STATUS:
    case OPT_ANALYZER:
    case OPT_LIMIT:
    case OPT_CURSOR:
    case OPT_SINCE:
    case OPT_UNTIL:
        return TAKES_LIST;
    default:
        return 0;
    }
}

static const char *option_name(int opt) {
    for (const struct option *o = long_options; o->name; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

/* "k=v" split into a key of at most 'cap' bytes and the value after '='; NULL when malformed. */
static const char *split_pair(const char *arg, char *key, size_t cap) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || (size_t)(eq - arg) >= cap)
        return NULL;
    snprintf(key, cap, "%.*s", (int)(eq - arg), arg);
    return eq + 1;
}

/* Sets 'object'.'key' to the string after '=' in "key=value"; 'what' names it in messages. */
static int set_pair(const client_args *a, json_t *object, const char *what, const char *arg) {
    char key[256];
    const char *value = split_pair(arg, key, sizeof key);
    if (!value)
        return ig_usage_error(a->cmd->name, "%s: expected key=value, got \"%s\"", what, arg);
    /* json_string refuses text that is not UTF-8, and the set a key that is not */
    if (json_object_set_new(object, key, json_string(value)) != 0)
        return ig_usage_error(a->cmd->name, "%s: \"%s\" is not valid UTF-8", what, arg);
    return IG_EXIT_OK;
}

/* A duration from 1s to MAX_WAIT_TIMEOUT. */
static int parse_timeout(client_args *a, const char *arg) {
    char why[256];
    if (rt_duration_parse(arg, &a->timeout, why) != 0)
        return ig_usage_error(a->cmd->name, "--timeout: %s", why);
    if (!(a->timeout >= 1 && a->timeout <= MAX_WAIT_TIMEOUT))
        return ig_usage_error(a->cmd->name, "--timeout: must be from 1s to 7d (got \"%s\")", arg);
    a->timeout_set = 1;
    return IG_EXIT_OK;
}

static int check_priority(const client_args *a, const char *arg) {
    if (strcmp(arg, "interactive") != 0 && strcmp(arg, "alert") != 0 && strcmp(arg, "batch") != 0)
        return ig_usage_error(a->cmd->name,
                              "--priority: expected interactive, alert or batch (got \"%s\")", arg);
    json_object_set_new(a->request, "priority", json_string(arg));
    return IG_EXIT_OK;
}

/* Checked as the server reads it (rt_deadline_parse), so that a typo is caught before it
 * travels; sent as given, for the server to read against its own clock. */
static int check_deadline(const client_args *a, const char *arg) {
    char why[256];
    double value;
    if (rt_deadline_parse(arg, rt_wallclock(), &value, why) != 0)
        return ig_usage_error(a->cmd->name, "--deadline: %s", why);
    json_object_set_new(a->request, "deadline", json_string(arg));
    return IG_EXIT_OK;
}

static int nonempty_string(const client_args *a, json_t *object, const char *key, int opt,
                           const char *arg) {
    json_t *value = *arg ? json_string(arg) : NULL;
    if (!value)
        return ig_usage_error(a->cmd->name, "--%s needs a non-empty UTF-8 value", option_name(opt));
    json_object_set_new(object, key, value);
    return IG_EXIT_OK;
}

/* ls's filters go into the query string, escaped, and into the options the next page's command
 * repeats ('key' is also the option's name). */
static int add_query(client_args *a, const char *key, const char *value) {
    if (!*value)
        return ig_usage_error(a->cmd->name, "--%s needs a value", key);
    char *escaped = ig_url_escape(value);
    ig_append(&a->query, a->query ? "&" : "");
    ig_append(&a->query, key);
    ig_append(&a->query, "=");
    ig_append(&a->query, escaped);
    free(escaped);
    if (strcmp(key, "cursor") != 0) { /* the next page has a cursor of its own */
        char option[32];
        snprintf(option, sizeof option, "--%s", key);
        ig_append_word(&a->filters, option);
        ig_append_word(&a->filters, value);
    }
    return IG_EXIT_OK;
}

/* --label NAME=VALUE of ls: the API filters on one label. */
static int add_label_filter(client_args *a, const char *arg) {
    char name[256];
    if (a->labelled)
        return ig_usage_error(a->cmd->name, "--label: one at a time (the API filters on one)");
    if (!split_pair(arg, name, sizeof name))
        return ig_usage_error(a->cmd->name, "--label: expected NAME=VALUE, got \"%s\"", arg);
    a->labelled = 1;
    return add_query(a, "label", arg);
}

/* --since and --until of ls: checked as the server reads them (a bare number is Unix seconds,
 * not a duration), so that a typo is caught before it travels; sent as given. */
static int add_time_filter(client_args *a, int opt, const char *arg) {
    char why[256];
    double value;
    int number = *arg && strspn(arg, "0123456789.") == strlen(arg);
    if ((number || rt_duration_parse(arg, &value, why) != 0 || !(value > 0)) &&
        (rt_time_parse(arg, rt_wallclock(), &value, why) != 0 || !(value > 0)))
        return ig_usage_error(a->cmd->name,
                              "--%s: expected a time (RFC 3339, Unix seconds) or a duration "
                              "back from now such as 1h (got \"%s\")",
                              option_name(opt), arg);
    return add_query(a, option_name(opt), arg);
}

static int check_limit(client_args *a, const char *arg) {
    char *end;
    errno = 0;
    long n = strtol(arg, &end, 10);
    if (errno || end == arg || *end || n < 1 || n > MAX_LIST_LIMIT)
        return ig_usage_error(a->cmd->name, "--limit: expected a number from 1 to %d (got \"%s\")",
                              MAX_LIST_LIMIT, arg);
    return add_query(a, "limit", arg);
}

static int apply_option(client_args *a, int opt, char *arg) {
    switch (opt) {
    case OPT_SERVER:
        a->server.server = arg;
        return IG_EXIT_OK;
    case OPT_TOKEN_FILE:
        a->server.token_file = arg;
        return IG_EXIT_OK;
    case OPT_JSON:
    case OPT_MD:
        a->output = opt == OPT_JSON ? FORMAT_JSON : FORMAT_MARKDOWN;
        return IG_EXIT_OK;
    case OPT_TIMEOUT:
        return parse_timeout(a, arg);
    case OPT_INPUTS:
        return ig_inputs_file(a->cmd->name, arg, a->inputs);
    case OPT_PRIORITY:
        return check_priority(a, arg);
    case OPT_DEDUP_KEY:
        return nonempty_string(a, a->request, "dedup_key", opt, arg);
    case OPT_DEADLINE:
        return check_deadline(a, arg);
    case OPT_LABEL:
        if (a->cmd->takes & TAKES_LIST)
            return add_label_filter(a, arg);
        return set_pair(a, json_object_get(a->request, "labels"), "--label", arg);
    case OPT_WAIT:
        a->wait = 1;
        return IG_EXIT_OK;
    case OPT_RECORD:
        json_object_set_new(a->request, "record", json_true());
        return IG_EXIT_OK;
    case OPT_STATUS:
    case OPT_ANALYZER:
    case OPT_CURSOR:
        return add_query(a, option_name(opt), arg);
    case OPT_LIMIT:
        return check_limit(a, arg);
    case OPT_SINCE:
    case OPT_UNTIL:
        return add_time_filter(a, opt, arg);
    default:
        return ig_usage_error(a->cmd->name, "unknown option");
    }
}

/* getopt's complaints, in our words: 'opterr' is off so that each is said once. */
static int getopt_problem(const client_args *a, int opt, char **argv) {
    const char *arg = argv[optind - 1];
    if (opt == ':')
        return ig_usage_error(a->cmd->name, "%s needs a value", arg);
    return ig_usage_error(a->cmd->name, "unknown option %s", arg);
}

/* Parses the options; returns IG_EXIT_OK, an exit code, or -1 after printing --help. */
static int parse_options(client_args *a, int argc, char **argv) {
    int opt, code;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(a->cmd->usage, stdout);
            return -1;
        }
        if (opt == '?' || opt == ':')
            return getopt_problem(a, opt, argv);
        unsigned needs = option_needs(opt);
        if (needs && !(a->cmd->takes & needs))
            return ig_usage_error(a->cmd->name, "--%s does not apply to `inquest %s`",
                                  option_name(opt), a->cmd->name);
        if ((code = apply_option(a, opt, optarg)) != IG_EXIT_OK)
            return code;
    }
    a->operands = argv + optind;
    a->n_operands = argc - optind;
    return IG_EXIT_OK;
}

/* ---- Printing ------------------------------------------------------------------------------ */

static void print_json(const json_t *value) {
    ig_print_json_text(rt_json_canonical(value));
}

/* The exit code of an analysis' status: 0 only when it finished ok. */
static int status_exit(const json_t *analysis) {
    const char *status = json_string_value(json_object_get(analysis, "status"));
    return status && strcmp(status, "ok") == 0 ? IG_EXIT_OK : IG_EXIT_FAILED;
}

/* Prints the report of the finished 'analysis' in the chosen format, as `inquest run` does. */
static int print_report(const client_args *a, ig_client *c, const json_t *analysis, double waited) {
    const json_t *result = ig_analysis_result(c, analysis, waited);
    if (!result) /* with --json, the error that says why holds the analysis, for scripts */
        return IG_EXIT_FAILED;
    if (a->output == FORMAT_JSON)
        print_json(result);
    else if (a->output == FORMAT_MARKDOWN)
        ig_report_markdown(result, stdout);
    else
        ig_report_text(result, stdout, isatty(STDOUT_FILENO) && !getenv("NO_COLOR"));
    fflush(stdout);
    return status_exit(analysis);
}

/* How long from the time 'from' to 'to' (RFC 3339 strings) into 'out' (32 bytes); "" when one
 * is missing or unreadable. */
static void between(const char *from, const char *to, char *out) {
    char why[256];
    double t0, t1;
    *out = '\0';
    if (from && to && rt_time_parse(from, 0, &t0, why) == 0 &&
        rt_time_parse(to, 0, &t1, why) == 0 && t1 >= t0)
        rt_duration_format(round((t1 - t0) * 1000) / 1000, out); /* 9ms, not 9.000063ms */
}

static const char *field(const json_t *object, const char *key) {
    return json_string_value(json_object_get(object, key));
}

static void print_line(const char *label, const char *value) {
    if (value && *value)
        printf("%-11s%s\n", label, value);
}

static void print_status(const json_t *analysis) {
    char took[32], status[160];
    const char *tag =
        field(json_object_get(json_object_get(analysis, "result"), "conclusion"), "tag");
    const json_t *error = json_object_get(analysis, "error");
    snprintf(status, sizeof status, "%s%s%s%s%s", field(analysis, "status"), tag ? " (" : "",
             tag ? tag : "", tag ? ")" : "",
             json_is_true(json_object_get(analysis, "cancelling")) ? " (cancelling)" : "");
    print_line("id", field(analysis, "id"));
    print_line("analyzer", field(analysis, "analyzer"));
    print_line("status", status);
    print_line("error", json_is_string(error) ? json_string_value(error) : field(error, "message"));
    print_line("priority", field(analysis, "priority"));
    print_line("submitted", field(analysis, "submitted_at"));
    print_line("started", field(analysis, "started_at"));
    print_line("finished", field(analysis, "finished_at"));
    between(field(analysis, "started_at"), field(analysis, "finished_at"), took);
    print_line("took", took);
    print_line("url", field(analysis, "url"));
}

/* ---- The commands -------------------------------------------------------------------------- */

/* Waits for 'id' and prints its report; used by `wait` and `submit --wait`. */
static int wait_and_report(client_args *a, ig_client *c, const char *id) {
    json_t *analysis = NULL;
    double timeout = a->timeout_set ? a->timeout : DEFAULT_WAIT_TIMEOUT;
    int code = ig_api_wait(c, id, timeout, &analysis);
    if (code == IG_EXIT_OK)
        code = print_report(a, c, analysis, timeout);
    json_decref(analysis);
    return code;
}

/* The request's analyzer and inputs from the operands: ANALYZER key=value… */
static int build_request(client_args *a) {
    if (a->n_operands < 1)
        return ig_usage_error("submit", "which analyzer? (its name on the server)");
    json_t *name = json_string(a->operands[0]);
    if (!name || !*a->operands[0] || strchr(a->operands[0], '='))
        return ig_usage_error("submit", "expected an analyzer's name first, got \"%s\"",
                              a->operands[0]);
    json_object_set_new(a->request, "analyzer", name);
    for (int i = 1; i < a->n_operands; i++)
        if (set_pair(a, a->inputs, "inputs", a->operands[i]) != IG_EXIT_OK)
            return IG_EXIT_USAGE;
    if (json_object_size(json_object_get(a->request, "labels")) == 0)
        json_object_del(a->request, "labels"); /* the server's default */
    return IG_EXIT_OK;
}

static int cmd_submit(client_args *a, ig_client *c) {
    json_t *answer = NULL;
    int code = ig_api_submit(c, a->request, &answer);
    const char *id = code == IG_EXIT_OK ? ig_answer_string(c, answer, "id") : NULL;
    const char *dedup = json_is_true(json_object_get(answer, "deduplicated"))
                            ? "(deduplicated: existing analysis)"
                            : NULL;
    if (code == IG_EXIT_OK && a->output == FORMAT_JSON && !a->wait) {
        /* the server's answer, whatever it holds; without an id it is not the API's */
        print_json(answer);
        code = id ? IG_EXIT_OK : IG_EXIT_SERVER;
    } else if (code == IG_EXIT_OK && !id) {
        code = IG_EXIT_SERVER;
    } else if (code == IG_EXIT_OK && a->wait) {
        /* on stderr: stdout holds the report alone */
        fprintf(stderr, "inquest submit: %s%s%s; waiting for it\n", id, dedup ? " " : "",
                dedup ? dedup : "");
        code = wait_and_report(a, c, id);
    } else if (code == IG_EXIT_OK) {
        puts(id); /* alone on stdout, for ID=$(inquest submit …) */
        if (dedup)
            fprintf(stderr, "%s\n", dedup);
    }
    json_decref(answer);
    return code;
}

static int cmd_status(client_args *a, ig_client *c) {
    json_t *analysis = NULL;
    int code = ig_api_get(c, a->operands[0], 0, &analysis);
    /* Without a string "status" the answer is not the API's, whatever the output. */
    const char *status = code == IG_EXIT_OK ? ig_answer_string(c, analysis, "status") : NULL;
    if (code == IG_EXIT_OK && a->output == FORMAT_JSON) {
        print_json(analysis); /* the server's answer, whatever it holds */
        code = status ? status_exit(analysis) : IG_EXIT_SERVER;
    } else if (code == IG_EXIT_OK && !status) {
        code = IG_EXIT_SERVER;
    } else if (code == IG_EXIT_OK) {
        print_status(analysis);
        code = status_exit(analysis);
    }
    json_decref(analysis);
    return code;
}

static int cmd_wait(client_args *a, ig_client *c) {
    return wait_and_report(a, c, a->operands[0]);
}

static int cmd_result(client_args *a, ig_client *c) {
    json_t *analysis = NULL;
    int code = ig_api_get(c, a->operands[0], 0, &analysis);
    if (code == IG_EXIT_OK)
        code = print_report(a, c, analysis, 0);
    json_decref(analysis);
    return code;
}

static int cmd_cancel(client_args *a, ig_client *c) {
    json_t *answer = NULL;
    int code = ig_api_cancel(c, a->operands[0], &answer);
    const char *status = code == IG_EXIT_OK ? field(answer, "status") : NULL;
    if (code == IG_EXIT_OK && a->output == FORMAT_JSON)
        print_json(answer);
    else if (code == IG_EXIT_OK && json_is_true(json_object_get(answer, "cancelling")))
        printf("%s: cancelling (it stops at its next wait for I/O)\n", a->operands[0]);
    else if (code == IG_EXIT_OK)
        printf("%s: %s\n", a->operands[0], status ? status : "cancelled");
    json_decref(answer);
    return code;
}

/* ls's table: the widest entry of each column sets its width. */
enum { COL_ID, COL_ANALYZER, COL_STATUS, COL_SUBMITTED, COL_TOOK, N_COLS };

static void row_cells(const json_t *analysis, const char *cells[N_COLS], char *took) {
    const char *status = field(analysis, "status");
    between(field(analysis, "started_at"), field(analysis, "finished_at"), took);
    cells[COL_ID] = field(analysis, "id");
    cells[COL_ANALYZER] = field(analysis, "analyzer");
    cells[COL_STATUS] = status;
    cells[COL_SUBMITTED] = field(analysis, "submitted_at");
    cells[COL_TOOK] = *took ? took : "-";
    for (int i = 0; i < N_COLS; i++)
        cells[i] = cells[i] ? cells[i] : "-";
}

static void print_table(const json_t *analyses) {
    static const char *const heads[N_COLS] = {"ID", "ANALYZER", "STATUS", "SUBMITTED", "DURATION"};
    const char *cells[N_COLS];
    char took[32];
    int width[N_COLS];
    size_t i;
    const json_t *analysis;
    for (int k = 0; k < N_COLS; k++)
        width[k] = (int)strlen(heads[k]);
    json_array_foreach(analyses, i, analysis) {
        row_cells(analysis, cells, took);
        for (int k = 0; k < N_COLS; k++)
            width[k] = (int)strlen(cells[k]) > width[k] ? (int)strlen(cells[k]) : width[k];
    }
    printf("%-*s  %-*s  %-*s  %-*s  %s\n", width[0], heads[0], width[1], heads[1], width[2],
           heads[2], width[3], heads[3], heads[4]);
    json_array_foreach(analyses, i, analysis) {
        row_cells(analysis, cells, took);
        printf("%-*s  %-*s  %-*s  %-*s  %s\n", width[0], cells[0], width[1], cells[1], width[2],
               cells[2], width[3], cells[3], cells[4]);
    }
}

/* The command of the next page: the cursor does not carry the filters, so they are repeated,
 * and so are the server and token given. */
static void print_more(const client_args *a, ig_client *c, const char *cursor) {
    char *command = rt_xstrdup("inquest ls");
    ig_append(&command, a->filters ? a->filters : "");
    ig_append(&command, ig_client_again(c));
    ig_append_word(&command, "--cursor");
    ig_append_word(&command, cursor);
    fprintf(stderr, "(more: %s)\n", command);
    free(command);
}

static int cmd_ls(client_args *a, ig_client *c) {
    json_t *answer = NULL;
    int code = ig_api_list(c, a->query ? a->query : "", &answer);
    const json_t *analyses = json_object_get(answer, "analyses");
    const char *cursor = field(answer, "next_cursor");
    if (code == IG_EXIT_OK && a->output == FORMAT_JSON) {
        print_json(answer);
    } else if (code == IG_EXIT_OK && !json_is_array(analyses)) {
        ig_error_say(stderr, "ls", IG_ERROR_NOT_API,
                     "the server at %s answered without an array \"analyses\"", ig_client_url(c));
        code = IG_EXIT_SERVER;
    } else if (code == IG_EXIT_OK && json_array_size(analyses) == 0 && !cursor) {
        fputs("inquest ls: no analyses\n", stderr);
    } else if (code == IG_EXIT_OK) {
        if (json_array_size(analyses) > 0)
            print_table(analyses);
        else /* a rare filter: this page found none, a later one may */
            fputs("inquest ls: none on this page\n", stderr);
        if (cursor) /* on stderr: the table stays a table for scripts */
            print_more(a, c, cursor);
    }
    json_decref(answer);
    return code;
}

/* ---- Dispatch ------------------------------------------------------------------------------ */

/* The operands each command wants, beyond what parse_options took. */
static int check_operands(const client_args *a) {
    const char *name = a->cmd->name;
    if (a->cmd->run == cmd_submit) {
        if (a->output == FORMAT_MARKDOWN && !a->wait)
            return ig_usage_error(name, "--md goes with --wait (a report needs a result)");
        if (a->timeout_set && !a->wait)
            return ig_usage_error(name, "--timeout goes with --wait");
        return IG_EXIT_OK;
    }
    if (a->cmd->run == cmd_ls)
        return a->n_operands == 0
                   ? IG_EXIT_OK
                   : ig_usage_error(name, "unexpected argument \"%s\"", a->operands[0]);
    if (a->n_operands == 0 || !*a->operands[0])
        return ig_usage_error(name, "which analysis? (its id, as `inquest submit` printed it)");
    if (a->n_operands > 1)
        return ig_usage_error(name, "one analysis at a time (unexpected \"%s\")", a->operands[1]);
    return IG_EXIT_OK;
}

static int run_command(const client_command *cmd, int argc, char **argv) {
    client_args a = {.cmd = cmd, .request = json_object()};
    json_object_set_new(a.request, "inputs", a.inputs = json_object());
    json_object_set_new(a.request, "labels", json_object());
    ig_client *c = NULL;
    int code = parse_options(&a, argc, argv);
    if (a.output == FORMAT_JSON) /* also when a later option was refused */
        ig_error_json(cmd->name);
    if (code == IG_EXIT_OK)
        code = check_operands(&a);
    if (code == IG_EXIT_OK && cmd->run == cmd_submit)
        code = build_request(&a);
    if (code == IG_EXIT_OK)
        code = ig_client_new(cmd->name, &a.server, &c);
    if (code == IG_EXIT_OK)
        code = cmd->run(&a, c);
    ig_client_free(c);
    json_decref(a.request);
    free(a.query);
    free(a.filters);
    return code < 0 ? IG_EXIT_OK : code;
}

static const client_command commands[] = {
    {"submit", submit_usage, TAKES_SUBMIT | TAKES_TIMEOUT | TAKES_JSON | TAKES_MD, cmd_submit},
    {"status", status_usage, TAKES_JSON, cmd_status},
    {"wait", wait_usage, TAKES_TIMEOUT | TAKES_JSON | TAKES_MD, cmd_wait},
    {"result", result_usage, TAKES_JSON | TAKES_MD, cmd_result},
    {"cancel", cancel_usage, TAKES_JSON, cmd_cancel},
    {"ls", ls_usage, TAKES_LIST | TAKES_JSON, cmd_ls},
};

int ig_cmd_submit(int argc, char **argv) {
    return run_command(&commands[0], argc, argv);
}

int ig_cmd_status(int argc, char **argv) {
    return run_command(&commands[1], argc, argv);
}

int ig_cmd_wait(int argc, char **argv) {
    return run_command(&commands[2], argc, argv);
}

int ig_cmd_result(int argc, char **argv) {
    return run_command(&commands[3], argc, argv);
}

int ig_cmd_cancel(int argc, char **argv) {
    return run_command(&commands[4], argc, argv);
}

int ig_cmd_ls(int argc, char **argv) {
    return run_command(&commands[5], argc, argv);
}
