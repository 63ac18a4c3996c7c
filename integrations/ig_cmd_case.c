/* integrations/ig_cmd_case.c -- making backtest cases (docs/backtest.md, "Making cases"):
 * `inquest record` runs an analysis live as `inquest run --record` does (ig_cmd_run.c) and keeps
 * it as a case; `inquest case from-analysis` turns an analysis the service kept a recording of
 * into one, through the API (ig_client.h). Both write the case folder with backtest/bt_capture.c,
 * beside the analyzer unless told where, with the expectation the run makes: what it found,
 * which the author then corrects to what it should have found. */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "bt.h"
#include "ig_cli.h"
#include "ig_client.h"

#define PATH_BYTES   4096
#define NAME_MAX_LEN 100 /* bytes of a case's name */

static const char record_usage[] =
    "Usage: inquest record ANALYZER [key=value…] --case NAME|DIR [options]\n"
    "\n"
    "Runs one analysis live, exactly as `inquest run ANALYZER … --record FILE` does, and keeps\n"
    "it as a backtest case: a folder with case.json (what was run and what to expect) and\n"
    "recording.json (every connector exchange, without credentials). The expectation is what\n"
    "the analysis found; edit case.json to say what it should have found.\n"
    "\n"
    "Options:\n"
    "  --case NAME|DIR       where the case goes: a bare NAME (no '/') is the folder\n"
    "                        <analyzer>.cases/NAME beside the analyzer's file\n"
    "                        (analyzers/<domain>/<name>.cases/NAME/); anything else is a folder\n"
    "  --description TEXT    what the case is about, shown in backtest reports\n"
    "  --now TIME            the analysis' clock: RFC 3339 or Unix seconds (default: now)\n"
    "  --analyzers DIR       look for analyzers in DIR (repeatable; default: the config's)\n"
    "  --config FILE         the configuration: connectors, limits, analyzer path\n"
    "                        (default: $INQUEST_CONFIG when set; docs/config.md)\n"
    "  --force               replace a case that is there already\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit codes: 0 the case was written (whatever the analysis' status: the case expects it);\n"
    "1 it could not be written or nothing was recorded; 2 usage or input error.\n";

static const char case_usage[] =
    "Usage: inquest case from-analysis ID [options]\n"
    "\n"
    "Turns an analysis that ran on the service into a backtest case: its request (analyzer,\n"
    "inputs, id, now) and its recording, fetched through the API (GET /v1/analyses/ID and\n"
    "GET /v1/analyses/ID/recording), with the expectation its stored result makes, corrected by\n"
    "the latest verdict people gave on it (GET /v1/analyses/ID/feedback): a root cause they\n"
    "named replaces the run's; one judged wrong without a correction is expected absent. The\n"
    "service keeps recordings for a share of analyses (recordings.share in its config) and for\n"
    "those submitted with \"record\": true (`inquest submit --record`).\n"
    "\n"
    "Options:\n"
    "  --name NAME           the case's name: the folder <analyzer>.cases/NAME beside the\n"
    "                        analyzer's file (default: the analysis' date and id,\n"
    "                        2026-11-20-ID)\n"
    "  --case DIR            the case's folder instead\n"
    "  --description TEXT    what the case is about (default: where it came from)\n"
    "  --analyzers DIR       where the analyzer's file is found (repeatable; default: the\n"
    "                        analyzer path of $INQUEST_CONFIG when set, else\n"
    "                        $INQUEST_ANALYZER_PATH, else ./analyzers)\n"
    "  --force               replace a case that is there already\n"
    "  --no-feedback         the run's expectation, whatever verdict people gave\n"
    "  --remote URL          the server (default: $INQUEST_URL, else " IG_DEFAULT_SERVER ")\n"
    "  --token-file FILE     the API token, read from FILE (default: $INQUEST_TOKEN, else the\n"
    "                        file $INQUEST_TOKEN_FILE)\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit codes: 0 the case was written; 1 the server refused, the analysis has no result or\n"
    "no recording, or the case could not be written; 2 usage or input error; 3 the server\n"
    "cannot be reached, failed (5xx) or did not answer as the API does.\n";

/* What both commands gather before the case is written. */
typedef struct case_options {
    const char *cmd; /* "record" or "case" */
    const char *target;
    bool target_is_name; /* 'target' is a case's name, not a folder */
    const char *description, *config_path;
    ig_dirs dirs;
    bool force;
} case_options;

/* getopt's complaints, in our words ('opterr' is off, so that each is said once). */
static int getopt_problem(const char *cmd, int opt, char **argv) {
    if (opt == ':')
        return ig_usage_error(cmd, "%s needs a value", argv[optind - 1]);
    return ig_usage_error(cmd, "unknown option %s", argv[optind - 1]);
}

/* ---- Where the case goes -------------------------------------------------------------------- */

/* A case's name is one path element that reads well in a listing. */
static bool name_ok(const char *name) {
    size_t n = strlen(name);
    return n > 0 && n <= NAME_MAX_LEN && name[0] != '.' && name[0] != '-' &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* An engine over the analyzer path the run uses: --analyzers, else the config's (when it loads;
 * when it does not, the run says why), else $INQUEST_ANALYZER_PATH or ./analyzers. */
static wk_engine *path_engine(const case_options *o) {
    const char *config = o->config_path ? o->config_path : getenv("INQUEST_CONFIG");
    rt_config *c = NULL;
    if (!o->dirs.n && config && *config) {
        rt_diag errors = {0}, warnings = {0};
        rt_config_load(config, &c, &errors, &warnings);
        rt_diag_free(&errors);
        rt_diag_free(&warnings);
    }
    wk_engine *engine = c ? wk_engine_new((const char *const *)c->analyzers, c->n_analyzers)
                          : ig_engine((char **)o->dirs.dirs, o->dirs.n);
    rt_config_free(c);
    return engine;
}

/* The folder of case 'name' beside the analyzer file 'path': "x/y.lua" -> "x/y.cases/NAME". */
static bool beside(const char *path, const char *name, char *out) {
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".lua") == 0)
        n -= 4;
    int len = snprintf(out, PATH_BYTES, "%.*s.cases/%s", (int)n, path, name);
    return len > 0 && len < PATH_BYTES;
}

/* The case folder into 'out' (PATH_BYTES): the target folder, or the named case beside the
 * analyzer 'analyzer'. Returns IG_EXIT_OK, or an exit code after saying why. */
static int case_folder(const case_options *o, const char *analyzer, char *out) {
    if (!o->target_is_name) {
        snprintf(out, PATH_BYTES, "%s", o->target);
        return IG_EXIT_OK;
    }
    /* Whatever gave the name (--case, --name, a server's id): one path element, no "..". */
    if (!name_ok(o->target))
        return ig_usage_error(o->cmd,
                              "'%s' cannot name a case: a case's name is letters, digits, "
                              "'.', '_' and '-', not starting with '.' or '-'",
                              o->target);
    rt_diag diag = {0};
    char *path = NULL;
    wk_engine *engine = path_engine(o);
    int rc = wk_resolve(engine, analyzer, &path, &diag);
    wk_engine_free(engine);
    if (rc != RT_OK) {
        fprintf(stderr, "inquest %s: cannot put the case beside the analyzer %s:\n", o->cmd,
                analyzer);
        rt_diag_print(&diag, stderr, "  ");
        fprintf(stderr, "  (--analyzers DIR names where it is; --case DIR puts the case "
                        "elsewhere)\n");
        rt_diag_free(&diag);
        return IG_EXIT_USAGE;
    }
    bool fits = beside(path, o->target, out);
    free(path);
    if (!fits)
        return ig_usage_error(o->cmd, "the case's path is too long");
    return IG_EXIT_OK;
}

static bool file_in(const char *dir, const char *name) {
    char path[PATH_BYTES + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* Refuses a folder that holds a case already, unless --force. Said before anything runs. */
static int check_free(const case_options *o, const char *dir) {
    if (o->force || !(file_in(dir, "case.json") || file_in(dir, "recording.json")))
        return IG_EXIT_OK;
    fprintf(stderr, "inquest %s: %s holds a case already; --force replaces it\n", o->cmd, dir);
    return IG_EXIT_USAGE;
}

/* --force: the old case goes just before the new one is written. */
static int remove_old(const case_options *o, const char *dir) {
    static const char *const files[] = {"case.json", "recording.json"};
    for (size_t i = 0; o->force && i < 2; i++) {
        char path[PATH_BYTES + 32];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (unlink(path) != 0 && errno != ENOENT) {
            fprintf(stderr, "inquest %s: cannot replace %s: %s\n", o->cmd, path, strerror(errno));
            return IG_EXIT_FAILED;
        }
    }
    return IG_EXIT_OK;
}

/* ---- The case ------------------------------------------------------------------------------- */

/* Prints 's' (NULL: "") cleaned for the terminal as the backtest's renderings clean text:
 * control characters and escape sequences from a server or an analyzer become U+FFFD. */
static void put_clean(const char *s) {
    char *clean = bt_text_clean(s, 4096);
    fputs(clean, stdout);
    free(clean);
}

/* The expectation as the author reads it, and what to do next. */
static void print_case(const char *dir, const json_t *kase, size_t exchanges) {
    const json_t *e = json_object_get(kase, "expect"), *f;
    const json_t *cause = json_object_get(e, "root_cause");
    const char *conclusion = json_string_value(json_object_get(e, "conclusion"));
    size_t i;
    fputs("case ", stdout);
    put_clean(dir);
    printf("/ (case.json, recording.json: %zu exchange%s)\n", exchanges, exchanges == 1 ? "" : "s");
    fputs("  analyzer    ", stdout);
    put_clean(json_string_value(json_object_get(kase, "analyzer")));
    fputs("\n  status      ", stdout);
    put_clean(json_string_value(json_object_get(e, "status")));
    if (conclusion) {
        fputs("\n  conclusion  ", stdout);
        put_clean(conclusion);
    }
    fputs("\n  root_cause  ", stdout);
    put_clean(json_is_string(cause) ? json_string_value(cause) : "(none)");
    fputs("\n", stdout);
    json_array_foreach(json_object_get(e, "findings"), i, f) {
        const char *rc = json_string_value(json_object_get(f, "root_cause"));
        const char *title = json_string_value(json_object_get(f, "title"));
        printf("  %-11s ", i == 0 ? "findings" : "");
        put_clean(rc);
        fputs(rc && title ? "  " : "", stdout);
        put_clean(title);
        fputs("\n", stdout);
    }
    fputs("\nThis is what the analyzer found, not necessarily what it should have found. Edit\n  ",
          stdout);
    put_clean(dir);
    printf("/case.json\n"
           "to say what should be found (expect.root_cause, expect.findings, and expect.absent\n"
           "for findings that must not appear): that judgement is what makes the case a test.\n"
           "Titles are anchored patterns; loosen them where the wording may change.\n");
}

/* Writes the case ('kase' and 'recording') into 'dir' and prints it. */
static int write_case(const case_options *o, const char *dir, const json_t *kase,
                      const rt_recording *recording) {
    char why[256];
    int code = remove_old(o, dir);
    if (code != IG_EXIT_OK)
        return code;
    int rc = bt_case_write(dir, kase, recording, why);
    if (rc != RT_OK) {
        fprintf(stderr, "inquest %s: %s\n", o->cmd, why);
        return rc == RT_EUSAGE ? IG_EXIT_USAGE : IG_EXIT_FAILED;
    }
    /* The recording's own count: a result's calls leave out those of nested analyses, and a
     * server's stored result may have none. */
    print_case(dir, kase, rt_recording_count(recording));
    return IG_EXIT_OK;
}

/* ---- inquest record ------------------------------------------------------------------------ */

typedef struct record_args {
    case_options o;
    const char *analyzer;
    json_t *inputs; /* owned */
    double now;
} record_args;

enum { OPT_CASE = 256, OPT_DESCRIPTION, OPT_NOW, OPT_ANALYZERS, OPT_CONFIG, OPT_FORCE };

static int record_option(record_args *a, int opt, char *arg) {
    char why[256];
    switch (opt) {
    case OPT_CASE:
        if (!*arg)
            return ig_usage_error("record", "--case needs a name or a folder");
        a->o.target = arg;
        a->o.target_is_name = !strchr(arg, '/');
        if (a->o.target_is_name && !name_ok(arg))
            return ig_usage_error("record",
                                  "--case %s: a case's name is letters, digits, '.', '_' and "
                                  "'-', not starting with '.' or '-' (or give a folder with a "
                                  "'/', such as ./%s)",
                                  arg, arg);
        return IG_EXIT_OK;
    case OPT_DESCRIPTION:
        a->o.description = arg;
        return IG_EXIT_OK;
    case OPT_NOW:
        if (rt_time_parse(arg, rt_wallclock(), &a->now, why) != 0)
            return ig_usage_error("record", "--now: %s", why);
        if (!(a->now > 0))
            return ig_usage_error("record", "--now: must be after 1970-01-01T00:00:00Z");
        return IG_EXIT_OK;
    case OPT_ANALYZERS:
        return ig_dirs_add(&a->o.dirs, "record", arg);
    case OPT_CONFIG:
        a->o.config_path = arg;
        return IG_EXIT_OK;
    case OPT_FORCE:
        a->o.force = true;
        return IG_EXIT_OK;
    case 'h':
        fputs(record_usage, stdout);
        return -1;
    default:
        return ig_usage_error("record", "unknown option");
    }
}

/* key=value: the value stays a string for the analyzer's schema to type, as with `run`. */
static int record_input(record_args *a, const char *arg) {
    const char *eq = strchr(arg, '=');
    char key[256];
    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof key)
        return ig_usage_error("record", "expected key=value, got \"%s\"", arg);
    snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
    if (json_object_set_new(a->inputs, key, json_string(eq + 1)) != 0)
        return ig_usage_error("record", "%s is not valid UTF-8", arg);
    return IG_EXIT_OK;
}

static int record_parse(record_args *a, int argc, char **argv) {
    static const struct option options[] = {
        {"case", required_argument, NULL, OPT_CASE},
        {"description", required_argument, NULL, OPT_DESCRIPTION},
        {"now", required_argument, NULL, OPT_NOW},
        {"analyzers", required_argument, NULL, OPT_ANALYZERS},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"force", no_argument, NULL, OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, code;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (opt == '?' || opt == ':')
            return getopt_problem("record", opt, argv);
        if ((code = record_option(a, opt, optarg)) != IG_EXIT_OK)
            return code;
    }
    if (optind >= argc)
        return ig_usage_error("record", "which analyzer? (a name or a .lua file)");
    a->analyzer = argv[optind++];
    for (; optind < argc; optind++)
        if ((code = record_input(a, argv[optind])) != IG_EXIT_OK)
            return code;
    if (!a->o.target)
        return ig_usage_error("record", "where does the case go? --case NAME (beside the "
                                        "analyzer) or --case DIR");
    return IG_EXIT_OK;
}

/* Runs the analysis live into the recording file 'tmp'; its result in '*result'. */
static int record_run(const record_args *a, const char *tmp, json_t **result) {
    ig_local_run run = {.cmd = "record",
                        .analyzer = a->analyzer,
                        .inputs = a->inputs,
                        .now = a->now,
                        .config_path = a->o.config_path,
                        .dirs = a->o.dirs.dirs,
                        .n_dirs = a->o.dirs.n,
                        .record_path = tmp};
    return ig_run_local(&run, result);
}

/* The recording the run left in 'tmp', or NULL after saying why there is none. */
static rt_recording *recorded(const char *tmp, const json_t *result) {
    rt_recording *r = NULL;
    rt_diag diag = {0};
    struct stat st;
    if (stat(tmp, &st) == 0 && st.st_size == 0) { /* the placeholder: nothing was written */
        const json_t *error = json_array_get(json_object_get(result, "errors"), 0);
        const char *why = json_string_value(json_object_get(error, "message"));
        fprintf(
            stderr, "inquest record: nothing was recorded: the analysis ended with status %s%s%s\n",
            json_string_value(json_object_get(result, "status")), why ? ": " : "", why ? why : "");
        return NULL;
    }
    if (rt_recording_load(tmp, &r, &diag) != RT_OK) {
        fprintf(stderr, "inquest record: cannot read the recording back:\n");
        rt_diag_print(&diag, stderr, "  ");
    }
    rt_diag_free(&diag);
    return r;
}

/* Turns the run into the case in 'dir'. */
static int record_keep(record_args *a, const char *dir, const char *tmp, json_t *result) {
    rt_recording *r = recorded(tmp, result);
    if (!r)
        return IG_EXIT_FAILED;
    json_t *meta = rt_recording_meta(r);
    const char *name =
        json_string_value(json_object_get(json_object_get(result, "analyzer"), "name"));
    json_t *now = json_object_get(meta, "now");
    json_t *kase =
        bt_case_doc(name ? name : a->analyzer, a->o.description, json_incref(a->inputs),
                    json_is_number(now) ? json_number_value(now) : 0,
                    json_string_value(json_object_get(meta, "id")), bt_expect_from_result(result));
    int code = write_case(&a->o, dir, kase, r);
    const char *status = json_string_value(json_object_get(result, "status"));
    if (code == IG_EXIT_OK && status && strcmp(status, "ok") != 0)
        fprintf(stderr,
                "inquest record: note: the analysis ended with status %s, which the case "
                "expects\n",
                status);
    json_decref(kase);
    rt_recording_free(r);
    return code;
}

int ig_cmd_record(int argc, char **argv) {
    record_args a = {.o = {.cmd = "record"}, .inputs = json_object()};
    char dir[PATH_BYTES], tmp[] = "/tmp/inquest-record-XXXXXX";
    json_t *result = NULL;
    int fd = -1;
    int code = record_parse(&a, argc, argv);
    if (code == IG_EXIT_OK)
        code = case_folder(&a.o, a.analyzer, dir);
    if (code == IG_EXIT_OK)
        code = check_free(&a.o, dir);
    if (code == IG_EXIT_OK && (fd = mkstemp(tmp)) < 0) {
        fprintf(stderr, "inquest record: cannot make a temporary file: %s\n", strerror(errno));
        code = IG_EXIT_FAILED;
    }
    if (code == IG_EXIT_OK)
        code = record_run(&a, tmp, &result);
    if (code == IG_EXIT_OK)
        code = record_keep(&a, dir, tmp, result);
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    json_decref(result);
    json_decref(a.inputs);
    return code < 0 ? IG_EXIT_OK : code;
}

/* ---- inquest case from-analysis ---------------------------------------------------------- */

typedef struct from_args {
    case_options o;
    const char *id;
    ig_client_options server;
    bool no_feedback; /* --no-feedback: the run's expectation, whatever people said */
    char name[160];   /* the default name and description, which 'o' points at */
    char description[2600];
} from_args;

enum { OPT_NAME = 300, OPT_DIR, OPT_REMOTE, OPT_TOKEN_FILE, OPT_NO_FEEDBACK };

static int from_option(from_args *a, int opt, char *arg) {
    switch (opt) {
    case OPT_NAME:
    case OPT_DIR:
        if (a->o.target)
            return ig_usage_error("case", "--name and --case exclude each other");
        if (opt == OPT_NAME && !name_ok(arg))
            return ig_usage_error("case",
                                  "--name %s: a case's name is letters, digits, '.', '_' and "
                                  "'-', not starting with '.' or '-'",
                                  arg);
        if (!*arg)
            return ig_usage_error("case", "--case needs a folder");
        a->o.target = arg;
        a->o.target_is_name = opt == OPT_NAME;
        return IG_EXIT_OK;
    case OPT_DESCRIPTION:
        a->o.description = arg;
        return IG_EXIT_OK;
    case OPT_ANALYZERS:
        return ig_dirs_add(&a->o.dirs, "case", arg);
    case OPT_FORCE:
        a->o.force = true;
        return IG_EXIT_OK;
    case OPT_REMOTE:
        if (!*arg)
            return ig_usage_error("case", "--remote needs the server's URL");
        a->server.server = arg;
        return IG_EXIT_OK;
    case OPT_TOKEN_FILE:
        a->server.token_file = arg;
        return IG_EXIT_OK;
    case OPT_NO_FEEDBACK:
        a->no_feedback = true;
        return IG_EXIT_OK;
    case 'h':
        fputs(case_usage, stdout);
        return -1;
    default:
        return ig_usage_error("case", "unknown option");
    }
}

static int from_parse(from_args *a, int argc, char **argv) {
    static const struct option options[] = {
        {"name", required_argument, NULL, OPT_NAME},
        {"case", required_argument, NULL, OPT_DIR},
        {"description", required_argument, NULL, OPT_DESCRIPTION},
        {"analyzers", required_argument, NULL, OPT_ANALYZERS},
        {"force", no_argument, NULL, OPT_FORCE},
        {"remote", required_argument, NULL, OPT_REMOTE},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"no-feedback", no_argument, NULL, OPT_NO_FEEDBACK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, code;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (opt == '?' || opt == ':')
            return getopt_problem("case", opt, argv);
        if ((code = from_option(a, opt, optarg)) != IG_EXIT_OK)
            return code;
    }
    if (optind >= argc)
        return ig_usage_error("case", "which analysis? (its id)");
    a->id = argv[optind++];
    if (optind < argc)
        return ig_usage_error("case", "unexpected argument \"%s\"", argv[optind]);
    return IG_EXIT_OK;
}

/* The default name of a case from an analysis: its date (by its clock) and its id. */
static void default_name(const json_t *result, const char *id, char *out, size_t size) {
    double now = json_number_value(json_object_get(result, "now"));
    time_t t = (time_t)floor(now > 0 ? now : rt_wallclock());
    struct tm tm;
    char date[16];
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    snprintf(out, size, "%s-%.64s", date, id);
}

/* Loads the recording 'text' the server sent: through a temporary file, so that it is read by
 * the one loader of recordings, with the checks of a file. */
static int load_sent(const char *id, const char *text, size_t len, rt_recording **out) {
    char tmp[] = "/tmp/inquest-recording-XXXXXX"; /* not the id: "../x" would leave /tmp */
    rt_diag diag = {0};
    int code = IG_EXIT_OK;
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    bool written = f && fwrite(text, 1, len, f) == len;
    if (f ? fclose(f) != 0 : (fd >= 0 && close(fd) != 0))
        written = false;
    if (!written) {
        fprintf(stderr, "inquest case: cannot keep the recording in a temporary file: %s\n",
                strerror(errno));
        code = IG_EXIT_FAILED;
    } else if (rt_recording_load(tmp, out, &diag) != RT_OK) {
        fprintf(stderr, "inquest case: the server's recording of %s cannot be read:\n", id);
        rt_diag_print(&diag, stderr, "  ");
        code = IG_EXIT_SERVER;
    }
    if (fd >= 0)
        unlink(tmp);
    rt_diag_free(&diag);
    return code;
}

/* The latest verdict on analysis 'id' (GET /v1/analyses/ID/feedback), or NULL when there is none
 * or the server cannot say (a server older than feedback: the case is the run's, with a note). */
static json_t *fetch_feedback(ig_client *c, const char *id) {
    char *e = ig_url_escape(id), path[256];
    json_t *answer = NULL, *latest = NULL;
    snprintf(path, sizeof path, "/v1/analyses/%s/feedback", e);
    free(e);
    if (ig_api_call(c, "GET", path, NULL, &answer) != IG_EXIT_OK)
        fprintf(stderr, "  (the expectation is the run's, without anyone's verdict)\n");
    else if (json_is_object(json_object_get(answer, "feedback")))
        latest = json_incref(json_object_get(answer, "feedback"));
    json_decref(answer);
    return latest;
}

/* The analysis' result, its recording and the latest verdict on it, from the server. */
static int fetch(from_args *a, json_t **analysis, rt_recording **recording, json_t **feedback) {
    ig_client *c = NULL;
    char *text = NULL;
    size_t len = 0;
    int code = ig_client_new("case", &a->server, &c);
    if (code == IG_EXIT_OK)
        code = ig_api_get(c, a->id, 0, analysis);
    if (code == IG_EXIT_OK && !ig_analysis_result(c, *analysis, 0))
        code = IG_EXIT_FAILED;
    if (code == IG_EXIT_OK && (code = ig_api_recording(c, a->id, &text, &len)) == IG_EXIT_FAILED)
        fprintf(stderr,
                "  (the service keeps recordings for a share of analyses, recordings.share\n"
                "  in its config, and for those submitted with \"record\": true)\n");
    if (code == IG_EXIT_OK)
        code = load_sent(a->id, text, len, recording);
    if (code == IG_EXIT_OK && !a->no_feedback)
        *feedback = fetch_feedback(c, a->id);
    free(text);
    ig_client_free(c);
    return code;
}

/* Writes the case of the fetched 'analysis' and 'recording', its expectation corrected by the
 * latest verdict 'feedback' (NULL: none). */
static int from_keep(from_args *a, const json_t *analysis, rt_recording *recording,
                     const json_t *feedback) {
    const json_t *result = json_object_get(analysis, "result");
    json_t *meta = rt_recording_meta(recording);
    const char *analyzer = json_string_value(json_object_get(analysis, "analyzer"));
    const char *id = json_string_value(json_object_get(analysis, "id"));
    char dir[PATH_BYTES];
    id = id ? id : a->id;
    if (!analyzer)
        analyzer = json_string_value(json_object_get(meta, "analyzer"));
    if (!analyzer) {
        fprintf(stderr, "inquest case: the server named no analyzer for %s\n", a->id);
        return IG_EXIT_SERVER;
    }
    /* What the server says is data, never a path: an analyzer "../x.lua" would put the case
     * beside any file, an id "/../../x" anywhere. */
    if (!wk_valid_name(analyzer)) {
        fprintf(stderr,
                "inquest case: the server named the analyzer of %s \"%.100s\", which is "
                "not an analyzer name (like http.error_spike)\n",
                a->id, analyzer);
        return IG_EXIT_SERVER;
    }
    if (!name_ok(id)) {
        fprintf(stderr,
                "inquest case: the server gave %s the id \"%.100s\", which is not one (letters, "
                "digits, '.', '_' and '-')\n",
                a->id, id);
        return IG_EXIT_SERVER;
    }
    if (!a->o.target) {
        default_name(result, id, a->name, sizeof a->name);
        a->o.target = a->name;
        a->o.target_is_name = true;
    }
    int code = case_folder(&a->o, analyzer, dir);
    if (code == IG_EXIT_OK)
        code = check_free(&a->o, dir);
    if (code != IG_EXIT_OK)
        return code;
    if (!a->o.description) {
        bt_case_description(id, json_string_value(json_object_get(analysis, "submitted_at")),
                            feedback, a->description, sizeof a->description);
        a->o.description = a->description;
    }
    json_t *expect = bt_expect_from_result(result);
    if (feedback) {
        char what[256];
        json_t *judged = bt_expect_with_feedback(expect, feedback, what);
        json_decref(expect);
        expect = judged;
        fprintf(stderr, "inquest case: %s (--no-feedback keeps the run's expectation)\n", what);
    }
    /* The inputs as submitted (the recording's), which the schema types again on replay. */
    json_t *inputs = json_object_get(meta, "inputs");
    json_t *now = json_object_get(meta, "now");
    json_t *kase =
        bt_case_doc(analyzer, a->o.description,
                    json_deep_copy(inputs ? inputs : json_object_get(result, "inputs")),
                    json_is_number(now) ? json_number_value(now)
                                        : json_number_value(json_object_get(result, "now")),
                    id, expect);
    code = write_case(&a->o, dir, kase, recording);
    json_decref(kase);
    return code;
}

static int from_analysis(int argc, char **argv) {
    from_args a = {.o = {.cmd = "case"}};
    json_t *analysis = NULL, *feedback = NULL;
    rt_recording *recording = NULL;
    int code = from_parse(&a, argc, argv);
    if (code == IG_EXIT_OK)
        code = fetch(&a, &analysis, &recording, &feedback);
    if (code == IG_EXIT_OK)
        code = from_keep(&a, analysis, recording, feedback);
    rt_recording_free(recording);
    json_decref(feedback);
    json_decref(analysis);
    return code < 0 ? IG_EXIT_OK : code;
}

int ig_cmd_case(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(case_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? IG_EXIT_USAGE : IG_EXIT_OK;
    }
    if (strcmp(argv[1], "from-analysis") == 0)
        return from_analysis(argc - 1, argv + 1);
    return ig_usage_error("case", "unknown subcommand '%s' (expected from-analysis)", argv[1]);
}
