/* integrations/ig_cmd_run.c -- `inquest run`: one analysis here, no server. The analysis runs in
 * a child process that this one ends at the deadline, so that even a runaway C call cannot hang
 * the user's shell; the child sends its result back through a pipe. With --remote URL, the
 * analysis is submitted to a server instead and waited for (ig_client.h), and the same report
 * is printed. */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ig_cli.h"
#include "ig_client.h"
#include "ig_report.h"

/* The in-process deadline normally ends the analysis first and says where it stood; the parent
 * waits this much longer before it ends the child. */
#define KILL_GRACE       1.0
#define MAX_RESULT_BYTES ((size_t)256 << 20)
/* Limits of the command-line budgets: a timeout past a day is a mistake, and an instruction
 * budget past 1e18 no longer fits the counter's arithmetic. */
#define MAX_TIMEOUT      (24 * 3600.0)
#define MAX_INSTRUCTIONS 1e18
/* poll() waits at most this long at a time; the loop around it watches the real deadline. */
#define POLL_SLICE_MS 60000
/* With --remote, how long to wait for the server's result unless --timeout says. */
#define REMOTE_TIMEOUT 300.0

static const char run_usage[] =
    "Usage: inquest run ANALYZER [key=value…] [options]\n"
    "       inquest run --replay FILE [ANALYZER [key=value…]] [options]\n"
    "       inquest run --remote URL ANALYZER [key=value…] [--inputs FILE] [--json|--md]\n"
    "\n"
    "Runs one analysis here (no server needed) and prints its report. ANALYZER is a name\n"
    "(http.error_spike) found on the analyzer path, or the path of a .lua file.\n"
    "\n"
    "Inputs: key=value pairs, typed and validated by the analyzer's schema\n"
    "(`inquest describe ANALYZER`); lists as a,b,c and maps as k=v,k2=v2.\n"
    "\n"
    "Options:\n"
    "  --inputs FILE.json    inputs as a JSON object (key=value pairs override them)\n"
    "  --json                print the result as JSON (inquest.result/v1), also of an\n"
    "                        analysis that failed; when none ran, the error as {\"error\":\n"
    "                        {\"code\", \"message\", \"fields\"}}: invalid_inputs (each in\n"
    "                        fields as inputs.NAME), unknown_analyzer, usage (a config or\n"
    "                        --replay file with problems, in fields with file and line), failed\n"
    "                        (--record); with --remote as `inquest wait --help` says\n"
    "  --md                  print the report as Markdown\n"
    "  --timeout DURATION    wall-clock deadline, at most 24h (default 30s)\n"
    "  --memory SIZE         memory budget of the Lua state (default 64MiB)\n"
    "  --instructions N      instruction budget, 1 to 1e18 (default 1000000000)\n"
    "  --now TIME            the analysis' clock: RFC 3339 or Unix seconds, after 1970\n"
    "                        (default: now)\n"
    "  --id ID               the analysis id (default: random; seeds math.random)\n"
    "  --analyzers DIR       look for analyzers in DIR (repeatable; default: the config's)\n"
    "  --config FILE         the configuration: connectors, limits, analyzer path\n"
    "                        (default: $INQUEST_CONFIG when set; docs/config.md)\n"
    "  --record FILE         write every connector exchange to FILE (docs/recording.md)\n"
    "  --replay FILE         answer connector calls from FILE, with no network; the\n"
    "                        analyzer, inputs, id and now default to the recorded ones\n"
    "  --no-fork             run in this process (no deadline backstop; for debugging)\n"
    "  --remote URL          submit it to the server at URL instead (priority interactive),\n"
    "                        wait for it and print the same report; --timeout is then how\n"
    "                        long to wait (default 5m). The token: --token-file FILE, else\n"
    "                        $INQUEST_TOKEN, else the file $INQUEST_TOKEN_FILE. Only --inputs,\n"
    "                        --json, --md and --timeout go with it\n"
    "  --token-file FILE     with --remote: read the API token from FILE\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit codes: 0 concluded; 1 the analyzer failed (error, timeout, budget), or with --remote\n"
    "did not finish in time or was refused; 2 usage or input error; 3 with --remote: the\n"
    "server cannot be reached, failed (5xx) or did not answer as the API does.\n";

typedef enum format { FORMAT_TEXT, FORMAT_JSON, FORMAT_MARKDOWN } format;

/* Budgets given on the command line, which the config's do not override. */
enum { SET_TIMEOUT = 1, SET_MEMORY = 2, SET_INSTRUCTIONS = 4 };

typedef struct run_options {
    wk_request request;
    json_t *inputs; /* owned */
    format output;
    int no_fork;
    ig_dirs dirs;
    char id[20];
    unsigned set;            /* SET_* */
    const char *config_path; /* or NULL */
    rt_config *config;       /* owned, or NULL */
    const char *record_path, *replay_path;
    rt_recording *recording;  /* owned: the one recorded into or replayed, or NULL */
    ig_client_options remote; /* --remote URL and --token-file; 'server' NULL: run here */
    const char *local_only;   /* the first option given that only a local run takes, or NULL */
    const char *cmd;          /* the command in messages: "run", or "record" (ig_run_local) */
} run_options;

/* An instruction budget such as 1e9: finite, from 1 to MAX_INSTRUCTIONS (strtod alone also
 * takes nan, inf and 1e30, which the conversion to an integer would turn into nonsense). */
static int parse_instructions(const char *text, double *out) {
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(*out) || *out < 1 || *out > MAX_INSTRUCTIONS)
        return ig_usage_error("run", "--instructions must be a number from 1 to 1e18 (got \"%s\")",
                              text);
    return IG_EXIT_OK;
}

/* key=value on the command line; the value stays a string for the schema to type. */
static int add_input(run_options *o, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return ig_usage_error("run", "expected key=value, got \"%s\"", arg);
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
    json_t *value = json_string(eq + 1);
    if (!value)
        return ig_usage_error("run", "the value of %s is not valid UTF-8", key);
    json_object_set_new(o->inputs, key, value);
    return IG_EXIT_OK;
}

enum {
    OPT_INPUTS = 256,
    OPT_JSON,
    OPT_MD,
    OPT_TIMEOUT,
    OPT_MEMORY,
    OPT_INSTRUCTIONS,
    OPT_NOW,
    OPT_ID,
    OPT_ANALYZERS,
    OPT_NO_FORK,
    OPT_CONFIG,
    OPT_RECORD,
    OPT_REPLAY,
    OPT_REMOTE,
    OPT_TOKEN_FILE
};

static const struct option run_long_options[] = {
    {"inputs", required_argument, NULL, OPT_INPUTS},
    {"json", no_argument, NULL, OPT_JSON},
    {"md", no_argument, NULL, OPT_MD},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"instructions", required_argument, NULL, OPT_INSTRUCTIONS},
    {"now", required_argument, NULL, OPT_NOW},
    {"id", required_argument, NULL, OPT_ID},
    {"analyzers", required_argument, NULL, OPT_ANALYZERS},
    {"no-fork", no_argument, NULL, OPT_NO_FORK},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"record", required_argument, NULL, OPT_RECORD},
    {"replay", required_argument, NULL, OPT_REPLAY},
    {"remote", required_argument, NULL, OPT_REMOTE},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int apply_option(run_options *o, int opt, char *arg) {
    char why[256];
    double n;
    wk_limits *limits = &o->request.limits;
    switch (opt) {
    case OPT_INPUTS:
        return ig_inputs_file("run", arg, o->inputs);
    case OPT_JSON:
        o->output = FORMAT_JSON;
        return IG_EXIT_OK;
    case OPT_MD:
        o->output = FORMAT_MARKDOWN;
        return IG_EXIT_OK;
    case OPT_TIMEOUT:
        if (rt_duration_parse(arg, &limits->timeout, why) != 0)
            return ig_usage_error("run", "--timeout: %s", why);
        if (!(limits->timeout > 0 && limits->timeout <= MAX_TIMEOUT))
            return ig_usage_error(
                "run", "--timeout: must be more than 0 and at most 24h (got \"%s\")", arg);
        o->set |= SET_TIMEOUT;
        return IG_EXIT_OK;
    case OPT_MEMORY:
        if (rt_size_parse(arg, &limits->memory) != 0 || limits->memory < 64 * 1024)
            return ig_usage_error("run",
                                  "--memory: expected a size of at least 64KiB such as "
                                  "64MiB (got \"%s\")",
                                  arg);
        o->set |= SET_MEMORY;
        return IG_EXIT_OK;
    case OPT_INSTRUCTIONS:
        if (parse_instructions(arg, &n) != IG_EXIT_OK)
            return IG_EXIT_USAGE;
        limits->instructions = (uint64_t)n;
        o->set |= SET_INSTRUCTIONS;
        return IG_EXIT_OK;
    case OPT_NOW:
        if (rt_time_parse(arg, rt_wallclock(), &o->request.now, why) != 0)
            return ig_usage_error("run", "--now: %s", why);
        /* The request's 0 means "the wall clock", so the clock cannot stand at or before 1970. */
        if (!(o->request.now > 0))
            return ig_usage_error("run", "--now: must be after 1970-01-01T00:00:00Z (got \"%s\")",
                                  arg);
        return IG_EXIT_OK;
    case OPT_ID:
        o->request.id = arg;
        return IG_EXIT_OK;
    case OPT_ANALYZERS:
        return ig_dirs_add(&o->dirs, "run", arg);
    case OPT_NO_FORK:
        o->no_fork = 1;
        return IG_EXIT_OK;
    case OPT_CONFIG:
        o->config_path = arg;
        return IG_EXIT_OK;
    case OPT_RECORD:
        o->record_path = arg;
        return IG_EXIT_OK;
    case OPT_REPLAY:
        o->replay_path = arg;
        return IG_EXIT_OK;
    case OPT_REMOTE:
        if (!*arg)
            return ig_usage_error("run", "--remote needs the server's URL");
        o->remote.server = arg;
        return IG_EXIT_OK;
    case OPT_TOKEN_FILE:
        o->remote.token_file = arg;
        return IG_EXIT_OK;
    case 'h':
        fputs(run_usage, stdout);
        return -1;
    default:
        return ig_usage_error("run", "unknown option");
    }
}

/* The options that only a run here takes: the budgets, clock, id, analyzer path, config and
 * recordings are the server's with --remote. */
static void note_local_only(run_options *o, int opt) {
    static const int local[] = {OPT_MEMORY,  OPT_INSTRUCTIONS, OPT_NOW,    OPT_ID,    OPT_ANALYZERS,
                                OPT_NO_FORK, OPT_CONFIG,       OPT_RECORD, OPT_REPLAY};
    for (size_t i = 0; i < sizeof local / sizeof *local && !o->local_only; i++)
        for (const struct option *l = run_long_options; local[i] == opt && l->name; l++)
            if (l->val == opt)
                o->local_only = l->name;
}

/* --remote: only what a server takes; ANALYZER is a name there, never a local file. */
static int check_remote(const run_options *o, int argc, char **argv) {
    if (o->local_only)
        return ig_usage_error("run", "--%s runs here: it does not go with --remote", o->local_only);
    if (optind >= argc)
        return ig_usage_error("run", "which analyzer? (its name on the server)");
    const char *name = argv[optind];
    size_t len = strlen(name);
    if (strchr(name, '/') || (len > 4 && strcmp(name + len - 4, ".lua") == 0))
        return ig_usage_error("run",
                              "with --remote, the analyzer is a name on the server, not a "
                              "file (got \"%s\")",
                              name);
    return IG_EXIT_OK;
}

/* getopt's complaints, in our words: 'opterr' is off so that each is said once. */
static int getopt_problem(int opt, char **argv) {
    if (opt == ':')
        return ig_usage_error("run", "%s needs a value", argv[optind - 1]);
    return ig_usage_error("run", "unknown option %s", argv[optind - 1]);
}

static int parse_args(run_options *o, int argc, char **argv) {
    int opt, rc;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", run_long_options, NULL)) != -1) {
        if (opt == '?' || opt == ':')
            return getopt_problem(opt, argv);
        note_local_only(o, opt);
        if ((rc = apply_option(o, opt, optarg)) != IG_EXIT_OK)
            return rc;
    }
    if (o->remote.token_file && !o->remote.server)
        return ig_usage_error("run", "--token-file goes with --remote");
    if (o->remote.server && (rc = check_remote(o, argc, argv)) != IG_EXIT_OK)
        return rc;
    if (o->record_path && o->replay_path)
        return ig_usage_error("run", "--record and --replay exclude each other");
    if (optind >= argc && !o->replay_path)
        return ig_usage_error("run", "which analyzer? (a name or a .lua file)");
    if (optind < argc && !(o->replay_path && strchr(argv[optind], '='))) /* else: an input */
        o->request.analyzer = argv[optind++];
    for (; optind < argc; optind++)
        if ((rc = add_input(o, argv[optind])) != IG_EXIT_OK)
            return rc;
    return IG_EXIT_OK;
}

/* ---- The config and recordings ------------------------------------------------------------- */

/* --config FILE (or $INQUEST_CONFIG): the connectors, and the budgets and analyzer path that
 * the command line does not give. */
static int load_config(run_options *o) {
    const char *path = o->config_path ? o->config_path : getenv("INQUEST_CONFIG");
    if (!path || !*path)
        return IG_EXIT_OK;
    rt_diag errors = {0}, warnings = {0};
    int rc = rt_config_load(path, &o->config, &errors, &warnings);
    if (rc != RT_OK)
        ig_error_diag(stderr, o->cmd, IG_ERROR_USAGE, &errors, "the config %s has problems", path);
    rt_diag_free(&errors);
    rt_diag_free(&warnings); /* a missing credential fails when its connector is set up */
    if (rc != RT_OK)
        return IG_EXIT_USAGE;
    const rt_limits *l = &o->config->limits;
    wk_limits *limits = &o->request.limits;
    limits->timeout = o->set & SET_TIMEOUT ? limits->timeout : l->timeout;
    limits->memory = o->set & SET_MEMORY ? limits->memory : l->memory;
    limits->instructions = o->set & SET_INSTRUCTIONS ? limits->instructions : l->instructions;
    limits->calls = l->calls;
    limits->call_bytes = l->call_bytes;
    for (size_t i = 0; !o->dirs.n && i < o->config->n_analyzers && i < IG_MAX_DIRS; i++)
        o->dirs.dirs[i] = o->config->analyzers[i];
    o->dirs.n = o->dirs.n ? o->dirs.n : o->config->n_analyzers;
    return IG_EXIT_OK;
}

/* --replay FILE: what the command line leaves out comes from the recording. */
static int load_replay(run_options *o) {
    rt_diag diag = {0};
    if (rt_recording_load(o->replay_path, &o->recording, &diag) != RT_OK) {
        ig_error_diag(stderr, "run", IG_ERROR_USAGE, &diag, "cannot replay %s", o->replay_path);
        rt_diag_free(&diag);
        return IG_EXIT_USAGE;
    }
    json_t *meta = rt_recording_meta(o->recording);
    if (!o->request.analyzer &&
        !(o->request.analyzer = json_string_value(json_object_get(meta, "analyzer"))))
        return ig_usage_error("run", "--replay %s names no analyzer: give one", o->replay_path);
    json_t *inputs = json_object_get(meta, "inputs");
    if (json_object_size(o->inputs) == 0 && json_is_object(inputs))
        json_object_update(o->inputs, inputs);
    if (!o->request.id)
        o->request.id = json_string_value(json_object_get(meta, "id"));
    if (o->request.now <= 0 && json_is_number(json_object_get(meta, "now")))
        o->request.now = json_number_value(json_object_get(meta, "now"));
    return IG_EXIT_OK;
}

static int prepare(run_options *o) {
    int code = load_config(o);
    if (code == IG_EXIT_OK && o->replay_path)
        code = load_replay(o);
    if (code == IG_EXIT_OK && o->record_path)
        o->recording = rt_recording_new();
    return code;
}

/* Connects the engine to the config's connectors and to the recording. */
static int connect_engine(run_options *o, wk_engine *engine) {
    rt_diag diag = {0};
    int rc = o->config ? wk_engine_connect(engine, o->config, &diag) : RT_OK;
    if (rc == RT_OK && o->recording)
        rc = wk_engine_use_recording(engine, o->recording, &diag);
    if (rc != RT_OK)
        ig_error_diag(stderr, o->cmd, IG_ERROR_USAGE, &diag, "cannot set up the connectors");
    rt_diag_free(&diag);
    return rc == RT_OK ? IG_EXIT_OK : IG_EXIT_USAGE;
}

/* --record FILE: the analysis it came from, then every exchange (already in the recording). */
static int save_recording(run_options *o) {
    char why[256];
    json_t *meta = rt_recording_meta(o->recording);
    json_object_set_new(meta, "analyzer", json_string(o->request.analyzer));
    json_object_set(meta, "inputs", o->inputs);
    json_object_set_new(meta, "id", json_string(o->request.id));
    json_object_set_new(meta, "now", rt_json_number(o->request.now));
    if (rt_recording_save(o->recording, o->record_path, why) == RT_OK)
        return IG_EXIT_OK;
    ig_error_say(stderr, o->cmd, IG_ERROR_FAILED, "--record %s: %s", o->record_path, why);
    return IG_EXIT_FAILED;
}

/* ---- Running and reporting ---------------------------------------------------------------- */

static int report(const run_options *o, const json_t *result) {
    if (o->output == FORMAT_JSON) {
        ig_print_json_text(rt_json_canonical(result));
    } else if (o->output == FORMAT_MARKDOWN) {
        ig_report_markdown(result, stdout);
    } else {
        ig_report_text(result, stdout, isatty(STDOUT_FILENO) && !getenv("NO_COLOR"));
    }
    fflush(stdout);
    const char *status = json_string_value(json_object_get(result, "status"));
    return status && strcmp(status, "ok") == 0 ? IG_EXIT_OK : IG_EXIT_FAILED;
}

/* Runs the analysis in this process. Returns an exit code; problems are printed, and kept as the
 * command's error (ig_error_diag). */
static int run_here(run_options *o, json_t **result) {
    rt_diag diag = {0};
    wk_engine *engine = ig_engine(o->dirs.dirs, o->dirs.n);
    if (connect_engine(o, engine) != IG_EXIT_OK) {
        wk_engine_free(engine);
        return IG_EXIT_USAGE;
    }
    int rc = wk_run(engine, &o->request, result, &diag);
    if (rc == RT_OK && o->record_path && save_recording(o) != IG_EXIT_OK) {
        json_decref(*result);
        *result = NULL;
        rc = RT_EIO;
    }
    if (rc == RT_EINPUT)
        ig_error_fields_under(ig_error_diag(stderr, NULL, IG_ERROR_INVALID_INPUTS, &diag,
                                            "invalid inputs for %s", o->request.analyzer),
                              "inputs", true);
    else if (rc != RT_OK && rt_diag_count(&diag))
        ig_error_fields_under(
            ig_error_diag(stderr, o->cmd,
                          rc == RT_ENOTFOUND ? IG_ERROR_UNKNOWN_ANALYZER : IG_ERROR_USAGE, &diag,
                          NULL),
            "analyzer", false);
    rt_diag_free(&diag);
    wk_engine_free(engine);
    return rc == RT_OK ? IG_EXIT_OK : rc == RT_EIO ? IG_EXIT_FAILED : IG_EXIT_USAGE;
}

/* Fault injection for the tests: INQUEST_TEST_FAULT=stall makes the child block as a runaway C
 * call would, so that the parent's deadline is what ends it. */
static void inject_fault(void) {
    const char *fault = getenv("INQUEST_TEST_FAULT");
    if (fault && strcmp(fault, "stall") == 0)
        for (;;)
            pause();
}

/* Sends the analysis' result to the parent through 'out'; or, when nothing ran, the error that
 * says why as {"error": {…}} (ig_error_kept), which the parent keeps as its own: with --json
 * it is the parent that prints it. */
static void child(run_options *o, int out) {
    json_t *result = NULL;
    inject_fault();
    int code = run_here(o, &result);
    json_t *error = ig_error_kept();
    json_t *sent = code == IG_EXIT_OK ? json_incref(result)
                   : error            ? json_pack("{s:O}", "error", error)
                                      : NULL;
    char *text = sent ? rt_json_canonical(sent) : NULL;
    size_t len = text ? strlen(text) : 0, done = 0;
    while (done < len) {
        ssize_t n = write(out, text + done, len - done);
        if (n < 0 && errno != EINTR)
            _exit(IG_EXIT_FAILED);
        done += n > 0 ? (size_t)n : 0;
    }
    free(text);
    json_decref(sent);
    json_decref(result);
    _exit(code);
}

/* How reading the child's result ended. */
typedef enum read_end { READ_DONE, READ_LATE, READ_TOO_BIG, READ_FAILED } read_end;

/* Reads the child's result into '*buf' (malloc'd, '*len' bytes) until the child closes the pipe
 * (READ_DONE), the deadline passes (READ_LATE), the result grows past MAX_RESULT_BYTES
 * (READ_TOO_BIG) or reading fails (READ_FAILED, errno in '*err'). Unless it returns READ_DONE,
 * the child may still be running or blocked writing to the pipe: the caller must end it before
 * it waits for it. */
static read_end read_result(int fd, double deadline, char **buf, size_t *len, int *err) {
    size_t cap = 0;
    for (;;) {
        double left = deadline - rt_monotonic();
        if (!(left > 0))
            return READ_LATE;
        /* A slice at a time, so that the milliseconds always fit an int; the loop comes back
         * here and looks at the deadline again. */
        double ms = ceil(left * 1000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, ms < POLL_SLICE_MS ? (int)ms : POLL_SLICE_MS);
        if (ready < 0 && errno != EINTR) {
            *err = errno;
            return READ_FAILED;
        }
        if (ready <= 0)
            continue;
        if (*len == cap) { /* the size comes from the child: grow by trying, up to the cap + 1 */
            size_t want = cap ? cap * 2 : 131072;
            want = want > MAX_RESULT_BYTES + 1 ? MAX_RESULT_BYTES + 1 : want;
            char *grown = realloc(*buf, want);
            if (!grown) {
                *err = ENOMEM;
                return READ_FAILED;
            }
            *buf = grown;
            cap = want;
        }
        ssize_t n = read(fd, *buf + *len, cap - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *err = errno;
            return READ_FAILED;
        }
        if (n == 0)
            return READ_DONE;
        *len += (size_t)n;
        if (*len > MAX_RESULT_BYTES)
            return READ_TOO_BIG;
    }
}

/* A result for an analysis that gave none; 'status' and the message say why. Should even that
 * result not be made, the message goes to stderr, so that the user is never left without one. */
static json_t *stopped(run_options *o, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *stopped(run_options *o, const char *status, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    json_t *result = wk_result_stopped(&o->request, status, message);
    if (!result)
        ig_error_say(stderr, o->cmd, IG_ERROR_FAILED, "%s: %s", status, message);
    return result;
}

/* The error a child that ran nothing sent instead of a result, {"error": {…}} in 'buf' ('len'
 * bytes); NULL when it is not one. */
static json_t *child_error(const char *buf, size_t len) {
    json_t *sent = json_loadb(buf, len, 0, NULL);
    json_t *error = json_object_get(sent, "error");
    error = json_is_object(error) && json_object_size(sent) == 1 ? json_incref(error) : NULL;
    json_decref(sent);
    return error;
}

/* Reads the child's result, ends the child if it has not ended, and waits for it. Returns the
 * result to report; or NULL with the exit code in '*code' when the child already said what was
 * wrong (a usage or input error, a recording that cannot be written): the error it sent is kept
 * as this command's. Whenever no result can be read, the result is a stopped one saying why,
 * and the exit code 1. */
static json_t *parent(run_options *o, pid_t pid, int in, int *code) {
    char *buf = NULL;
    size_t len = 0;
    int err = 0, status = 0;
    const char *name = o->request.analyzer;
    double deadline = rt_monotonic() + o->request.limits.timeout + KILL_GRACE;
    read_end end = read_result(in, deadline, &buf, &len, &err);
    if (end != READ_DONE)
        kill(pid, SIGKILL); /* it may be running away, or blocked writing what we no longer read */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    json_t *result = NULL, *sent = NULL;
    json_error_t error;
    *code = IG_EXIT_FAILED;
    if (end == READ_DONE && WIFEXITED(status) && WEXITSTATUS(status) != IG_EXIT_OK && len > 0)
        sent = child_error(buf, len);
    if (sent) {
        ig_error_keep(sent); /* the child printed it */
        *code = WEXITSTATUS(status);
    } else if (end == READ_LATE)
        result = stopped(o, "timeout", "%s did not finish within its %gs deadline and was stopped",
                         name, o->request.limits.timeout);
    else if (end == READ_TOO_BIG)
        result = stopped(o, "error", "the result of %s is larger than %zu MiB; it was stopped",
                         name, MAX_RESULT_BYTES >> 20);
    else if (end == READ_FAILED)
        result = stopped(o, "error", "cannot read the result of %s: %s; it was stopped", name,
                         strerror(err));
    else if (WIFSIGNALED(status))
        result =
            stopped(o, "error", "the process running %s died of signal %d", name, WTERMSIG(status));
    else if (WEXITSTATUS(status) == IG_EXIT_USAGE && len == 0)
        *code = IG_EXIT_USAGE; /* the child printed the problem */
    else if (WEXITSTATUS(status) != IG_EXIT_OK)
        result =
            stopped(o, "error", "the process running %s exited with status %d without a result",
                    name, WEXITSTATUS(status));
    else if (len == 0)
        result = stopped(o, "error", "the process running %s ended without a result", name);
    /* The canonical writer escapes NUL in strings (a log line may hold one) as \u0000. */
    else if (!(result = json_loadb(buf, len, JSON_ALLOW_NUL, &error)))
        result = stopped(o, "error", "the result of %s cannot be read: %s (byte %d of %zu)", name,
                         error.text, error.position, len);
    else if (!json_is_object(result)) {
        json_decref(result);
        result = stopped(o, "error", "the result of %s is not a JSON object", name);
    }
    free(buf);
    return result;
}

/* Runs the analysis in a child process and returns its result, or NULL with the exit code in
 * '*code' (the problem is printed). */
static json_t *forked_result(run_options *o, int *code) {
    int fds[2];
    fflush(NULL);
    *code = IG_EXIT_FAILED;
    if (pipe(fds) != 0) {
        ig_error_say(stderr, o->cmd, IG_ERROR_FAILED, "pipe: %s", strerror(errno));
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        ig_error_say(stderr, o->cmd, IG_ERROR_FAILED, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        close(fds[0]);
        child(o, fds[1]);
    }
    close(fds[1]);
    json_t *result = parent(o, pid, fds[0], code);
    close(fds[0]);
    return result;
}

static int run_forked(run_options *o) {
    int code;
    json_t *result = forked_result(o, &code);
    if (result)
        code = report(o, result);
    json_decref(result);
    return code;
}

/* ---- Running on a server (--remote) ------------------------------------------------------- */

/* Submits the analysis with priority interactive, waits for it and reports it as a run here
 * would. Problems with the server are printed by ig_client.c. */
static int run_remote(run_options *o) {
    ig_client *c = NULL;
    json_t *answer = NULL, *analysis = NULL;
    double timeout = o->set & SET_TIMEOUT ? o->request.limits.timeout : REMOTE_TIMEOUT;
    int code = ig_client_new("run", &o->remote, &c);
    if (code == IG_EXIT_OK) {
        json_t *request = json_pack("{s:s, s:O, s:s}", "analyzer", o->request.analyzer, "inputs",
                                    o->inputs, "priority", "interactive");
        code = request ? ig_api_submit(c, request, &answer)
                       : ig_usage_error("run", "the analyzer's name is not valid UTF-8");
        json_decref(request);
    }
    const char *id = code == IG_EXIT_OK ? ig_answer_string(c, answer, "id") : NULL;
    if (code == IG_EXIT_OK && !id)
        code = IG_EXIT_SERVER;
    if (code == IG_EXIT_OK) {
        /* the id on stderr, so that an interrupted wait can be taken up with `inquest wait` */
        fprintf(stderr, "inquest run: %s on %s\n", id, ig_client_url(c));
        code = ig_api_wait(c, id, timeout, &analysis);
    }
    const json_t *result = code == IG_EXIT_OK ? ig_analysis_result(c, analysis, timeout) : NULL;
    if (code == IG_EXIT_OK)
        code = result ? report(o, result) : IG_EXIT_FAILED;
    json_decref(analysis);
    json_decref(answer);
    ig_client_free(c);
    return code;
}

/* What a run here takes from the clock when the command line does not say: a new random id,
 * and now in whole seconds (they read better). */
static void settle_request(run_options *o) {
    o->request.inputs = o->inputs;
    if (!o->request.id) {
        wk_new_id(o->id);
        o->request.id = o->id;
    }
    if (o->request.now <= 0)
        o->request.now = floor(rt_wallclock());
}

int ig_run_local(const ig_local_run *spec, json_t **result) {
    run_options o = {.cmd = spec->cmd, .record_path = spec->record_path};
    int code = IG_EXIT_OK;
    *result = NULL;
    o.inputs = spec->inputs ? json_deep_copy(spec->inputs) : json_object();
    wk_limits_default(&o.request.limits);
    o.request.analyzer = spec->analyzer;
    o.request.id = spec->id;
    o.request.now = spec->now;
    o.config_path = spec->config_path;
    for (size_t i = 0; i < spec->n_dirs && code == IG_EXIT_OK; i++)
        code = ig_dirs_add(&o.dirs, spec->cmd, spec->dirs[i]);
    if (code == IG_EXIT_OK)
        code = prepare(&o);
    if (code == IG_EXIT_OK) {
        settle_request(&o);
        *result = forked_result(&o, &code);
        code = *result ? IG_EXIT_OK : code;
    }
    json_decref(o.inputs);
    rt_recording_free(o.recording);
    rt_config_free(o.config);
    return code;
}

int ig_cmd_run(int argc, char **argv) {
    run_options o = {.inputs = json_object(), .cmd = "run"};
    wk_limits_default(&o.request.limits);
    int code = parse_args(&o, argc, argv);
    if (o.output == FORMAT_JSON) /* every error, also a refused option, here or with --remote */
        ig_error_json("run");
    if (code == IG_EXIT_OK && o.remote.server) {
        code = run_remote(&o);
        json_decref(o.inputs);
        return code;
    }
    if (code == IG_EXIT_OK)
        code = prepare(&o);
    if (code == IG_EXIT_OK) {
        settle_request(&o);
        if (o.no_fork) {
            json_t *result = NULL;
            code = run_here(&o, &result);
            if (result)
                code = report(&o, result);
            json_decref(result);
        } else {
            code = run_forked(&o);
        }
    }
    json_decref(o.inputs);
    rt_recording_free(o.recording);
    rt_config_free(o.config);
    return code < 0 ? IG_EXIT_OK : code;
}
