/* integrations/ig_cmd_backtest.c -- `inquest backtest`: replays the recorded incidents of
 * analyzers (backtest/bt.h) and prints the report; with --base REV, compared with the analyzers
 * of a git revision. One run can write several renderings (stdout, --json, --junit,
 * --markdown, --out DIR), so that CI gets its JUnit XML and the review its Markdown at once. */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bt.h"
#include "ig_cli.h"

#define MAX_JOBS 1024

static const char backtest_usage[] =
    "Usage: inquest backtest [ANALYZER…] [--cases DIR] [--base REV] [--jobs N] [options]\n"
    "\n"
    "Replays recorded incidents (backtest cases) against analyzers, with no network, a\n"
    "frozen clock and production's budgets and sandbox, and reports for each case whether the\n"
    "analyzer still concludes what it should. With --base REV, also replays them against the\n"
    "analyzers as they were at git revision REV and reports what a change fixed, broke or\n"
    "changed. Cases are the folders <domain>/<name>.cases/<case>/ beside each analyzer on the\n"
    "analyzer path (docs/backtest.md); ANALYZER… (names, like http.error_spike) keeps only\n"
    "theirs.\n"
    "\n"
    "Options:\n"
    "  --cases DIR          the case folders under DIR instead of those beside the analyzers\n"
    "  --base REV           also replay against the analyzers of git revision REV (a branch,\n"
    "                       tag or commit of the repository holding the analyzer path)\n"
    "  --jobs N             cases replayed at once, each in a sandboxed process (default: one\n"
    "                       per core this process may run on)\n"
    "  --analyzers DIR      look for analyzers in DIR (repeatable; default: the config's)\n"
    "  --config FILE        budgets and connector settings (default: $INQUEST_CONFIG when set);\n"
    "                       credentials are never read: a replay makes no call\n"
    "  --format FORMAT      what goes to stdout: table (the default), json, junit or markdown;\n"
    "                       with json, a backtest that cannot run (exit 2) prints its error\n"
    "                       as {\"error\": {\"code\", \"message\", \"fields\"}} "
    "(docs/operating.md)\n"
    "  --json FILE          also write the JSON report (inquest.backtest/v1) to FILE\n"
    "  --junit FILE         also write JUnit XML, for CI test views, to FILE\n"
    "  --markdown FILE      also write Markdown, for a review comment, to FILE\n"
    "  --out DIR            keep the JSON report in DIR, where the console lists reports\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit codes: 0 every case passes, or with --base no case that passed on base fails on\n"
    "head (and every case new on head, or in error on base, passes); 1 otherwise; 2 usage\n"
    "error, no cases, an analyzer named that does not exist, a bad --base, or the backtest\n"
    "could not run.\n";

typedef enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_JUNIT, FORMAT_MARKDOWN } format;

typedef struct backtest_options {
    bt_options bt;
    ig_dirs dirs;
    format output;
    const char *config_path, *json_path, *junit_path, *markdown_path, *out_dir;
    rt_config *config; /* owned, or NULL */
} backtest_options;

enum {
    OPT_CASES = 256,
    OPT_BASE,
    OPT_JOBS,
    OPT_ANALYZERS,
    OPT_CONFIG,
    OPT_FORMAT,
    OPT_JSON,
    OPT_JUNIT,
    OPT_MARKDOWN,
    OPT_OUT,
};

static const struct option backtest_long_options[] = {
    {"cases", required_argument, NULL, OPT_CASES},
    {"base", required_argument, NULL, OPT_BASE},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {"analyzers", required_argument, NULL, OPT_ANALYZERS},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"json", required_argument, NULL, OPT_JSON},
    {"junit", required_argument, NULL, OPT_JUNIT},
    {"markdown", required_argument, NULL, OPT_MARKDOWN},
    {"out", required_argument, NULL, OPT_OUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_format(backtest_options *o, const char *text) {
    static const char *const names[] = {"table", "json", "junit", "markdown", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(text, names[i]) == 0) {
            o->output = (format)i;
            if (o->output == FORMAT_JSON) /* from here on, errors are JSON on stdout too */
                ig_error_json("backtest");
            return IG_EXIT_OK;
        }
    return ig_usage_error("backtest",
                          "--format: expected table, json, junit or markdown (got \"%s\")", text);
}

static int parse_jobs(backtest_options *o, const char *text) {
    char *end;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno || end == text || *end || n < 1 || n > MAX_JOBS)
        return ig_usage_error("backtest", "--jobs must be a whole number from 1 to %d (got \"%s\")",
                              MAX_JOBS, text);
    o->bt.jobs = (int)n;
    return IG_EXIT_OK;
}

/* A non-empty argument for the option 'name'. */
static int need(const char *name, const char *arg) {
    return *arg ? IG_EXIT_OK : ig_usage_error("backtest", "--%s needs a value", name);
}

static int apply_option(backtest_options *o, int opt, char *arg) {
    switch (opt) {
    case OPT_CASES:
        o->bt.cases_dir = arg;
        return need("cases", arg);
    case OPT_BASE:
        o->bt.base_rev = arg;
        return need("base", arg);
    case OPT_JOBS:
        return parse_jobs(o, arg);
    case OPT_ANALYZERS:
        return ig_dirs_add(&o->dirs, "backtest", arg);
    case OPT_CONFIG:
        o->config_path = arg;
        return need("config", arg);
    case OPT_FORMAT:
        return parse_format(o, arg);
    case OPT_JSON:
        o->json_path = arg;
        return need("json", arg);
    case OPT_JUNIT:
        o->junit_path = arg;
        return need("junit", arg);
    case OPT_MARKDOWN:
        o->markdown_path = arg;
        return need("markdown", arg);
    case OPT_OUT:
        o->out_dir = arg;
        return need("out", arg);
    case 'h':
        fputs(backtest_usage, stdout);
        return -1;
    default:
        return ig_usage_error("backtest", "unknown option");
    }
}

/* ANALYZER… are names: a file would name no analyzer of the path, and filter out everything. */
static int parse_args(backtest_options *o, int argc, char **argv) {
    int opt, rc;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", backtest_long_options, NULL)) != -1)
        if ((rc = apply_option(o, opt, optarg)) != IG_EXIT_OK)
            return rc;
    for (int i = optind; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (!*argv[i] || strchr(argv[i], '/') || (n > 4 && strcmp(argv[i] + n - 4, ".lua") == 0))
            return ig_usage_error("backtest",
                                  "\"%s\" is not an analyzer name (like http.error_spike): "
                                  "give names, or --cases DIR for case folders",
                                  argv[i]);
    }
    o->bt.analyzers = (const char *const *)argv + optind;
    o->bt.n_analyzers = (size_t)(argc - optind);
    return IG_EXIT_OK;
}

/* --config FILE (or $INQUEST_CONFIG): budgets, connector settings and the analyzer path. */
static int load_config(backtest_options *o) {
    const char *path = o->config_path ? o->config_path : getenv("INQUEST_CONFIG");
    if (!path || !*path)
        return IG_EXIT_OK;
    rt_diag errors = {0}, warnings = {0};
    int rc = rt_config_load(path, &o->config, &errors, &warnings);
    if (rc != RT_OK)
        ig_error_diag(stderr, "backtest", IG_ERROR_USAGE, &errors, "the config %s has problems",
                      path);
    rt_diag_free(&errors);
    rt_diag_free(&warnings); /* missing credentials do not matter: a replay reads none */
    o->bt.config = o->config;
    return rc == RT_OK ? IG_EXIT_OK : IG_EXIT_USAGE;
}

/* Writes the rendering 'fmt' of 'report' to 'out'. */
static void render(const json_t *report, format fmt, FILE *out, bool color) {
    if (fmt == FORMAT_JSON) {
        char *text = rt_json_canonical(report);
        fprintf(out, "%s\n", text ? text : "null");
        free(text);
    } else if (fmt == FORMAT_JUNIT) {
        bt_report_junit(report, out);
    } else if (fmt == FORMAT_MARKDOWN) {
        bt_report_markdown(report, out);
    } else {
        bt_report_text(report, out, color);
    }
}

static int write_file(const json_t *report, format fmt, const char *option, const char *path) {
    if (!path)
        return IG_EXIT_OK;
    FILE *f = fopen(path, "w");
    if (f) {
        render(report, fmt, f, false);
        if (ferror(f) | (fclose(f) != 0))
            f = NULL;
    }
    if (f)
        return IG_EXIT_OK;
    fprintf(stderr, "inquest backtest: --%s %s: %s\n", option, path, strerror(errno));
    return IG_EXIT_USAGE;
}

/* Every output the options ask for; the report is printed even when a file fails. */
static int write_outputs(const backtest_options *o, const json_t *report) {
    int code = write_file(report, FORMAT_JSON, "json", o->json_path);
    code |= write_file(report, FORMAT_JUNIT, "junit", o->junit_path);
    code |= write_file(report, FORMAT_MARKDOWN, "markdown", o->markdown_path);
    char why[256];
    if (o->out_dir && bt_report_save(report, o->out_dir, why) != RT_OK) {
        fprintf(stderr, "inquest backtest: --out %s: %s\n", o->out_dir, why);
        code = IG_EXIT_USAGE;
    }
    if (o->output == FORMAT_JSON) /* the output, also when a file failed: no error object */
        ig_print_json_text(rt_json_canonical(report));
    else
        render(report, o->output, stdout, isatty(STDOUT_FILENO) && !getenv("NO_COLOR"));
    fflush(stdout);
    return code ? IG_EXIT_USAGE : IG_EXIT_OK;
}

static int run(backtest_options *o) {
    ig_path path;
    char **dirs = o->dirs.dirs;
    size_t n = o->dirs.n;
    if (!n && o->config) {
        dirs = o->config->analyzers;
        n = o->config->n_analyzers;
    }
    ig_path_init(&path, dirs, n);
    o->bt.dirs = path.dirs;
    o->bt.n_dirs = path.n;
    o->bt.progress = isatty(STDERR_FILENO);
    json_t *report = NULL;
    rt_diag diag = {0};
    int rc = bt_run(&o->bt, &report, &diag);
    int code = IG_EXIT_USAGE;
    if (rc == RT_OK) {
        code = write_outputs(o, report);
        code = code == IG_EXIT_OK ? bt_exit_code(report) : code;
    } else {
        ig_error_diag(stderr, "backtest", IG_ERROR_USAGE, &diag, NULL);
    }
    json_decref(report);
    rt_diag_free(&diag);
    ig_path_free(&path);
    o->bt.dirs = NULL; /* they were 'path''s */
    o->bt.n_dirs = 0;
    return code;
}

int ig_cmd_backtest(int argc, char **argv) {
    backtest_options o = {0};
    int code = parse_args(&o, argc, argv);
    if (code == IG_EXIT_OK)
        code = load_config(&o);
    if (code == IG_EXIT_OK)
        code = run(&o);
    rt_config_free(o.config);
    return code < 0 ? IG_EXIT_OK : code;
}
