/* integrations/ig_main.c -- `inquest`: dispatches to the subcommands, prints help and version,
 * and holds what the subcommands share. */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include "ig_cli.h"

static const char usage[] =
    "Usage: inquest COMMAND [ARGS…]\n"
    "\n"
    "Root-cause analysis as code: run, check and write analyzers.\n"
    "\n"
    "Commands:\n"
    "  run ANALYZER [key=value…]   run an analysis here and print its report\n"
    "  check [PATH…]               validate analyzer definitions without running them\n"
    "  list                        list the analyzers on the analyzer path\n"
    "  describe NAME               show an analyzer's inputs (--json: JSON Schema)\n"
    "  new NAME                    write a new analyzer and its backtest case folder\n"
    "  backtest [ANALYZER…]        replay recorded incidents; --base REV compares with a revision\n"
    "  config check FILE           validate a configuration file (docs/config.md)\n"
    "  route test PAYLOAD.json     what the config's routes make of an alert webhook payload\n"
    "  record ANALYZER … --case N  run live and keep the run as a backtest case\n"
    "  case from-analysis ID       turn an analysis the service recorded into a backtest case\n"
    "  version                     print the version\n"
    "  help [COMMAND]              this text, or a command's help\n"
    "\n"
    "The service (docs/api.md, docs/operating.md):\n"
    "  serve                       the HTTP API: accepts analyses and alerts, serves results\n"
    "  worker                      run queued analyses in sandboxed child processes\n"
    "  postproc                    act on finished analyses: notes, messages, mitigations\n"
    "  submit ANALYZER [key=value…] queue an analysis on a server and print its id\n"
    "  status ID                   an analysis' status\n"
    "  wait ID                     wait until an analysis finishes, then print its report\n"
    "  result ID                   print a finished analysis' report\n"
    "  cancel ID                   cancel a queued or running analysis\n"
    "  ls                          list recent analyses\n"
    "  actions ls|show|approve|reject|audit   the post-processor's actions and audit log\n"
    "  feedback give|ls|export     verdicts on analyses: was the root cause right?\n"
    "  insights                    what keeps causing the analyses, and analyzers' precision\n"
    "\n"
    "Analyzers are found under ./analyzers, the folders of INQUEST_ANALYZER_PATH (colon-\n"
    "separated), or --analyzers DIR. Writing analyzers: docs/sdk.md.\n"
    "\n"
    "Exit codes: 0 ran and concluded; 1 the analyzer failed (error, timeout, budget) or check\n"
    "found problems; 2 usage or input error; 3 the server cannot be reached or failed.\n";

void ig_log(const char *level, const char *msg, json_t *fields) {
    char ts[40];
    json_t *line = fields ? fields : json_object();
    rt_time_format(rt_wallclock(), ts);
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level));
    json_object_set_new(line, "msg", json_string(msg));
    char *text = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
    if (text)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
}

/* Logs each problem of 'd' as a JSON line of its own: its message, and its place as fields. */
static void log_problems(const rt_diag *d, const char *level) {
    size_t i;
    json_t *item;
    if (!d->items)
        return;
    json_array_foreach(d->items, i, item) {
        json_t *place = json_deep_copy(item);
        json_object_del(place, "message");
        ig_log(level, json_string_value(json_object_get(item, "message")), place);
    }
}

rt_config *ig_service_config(const char *cmd, const char *path, bool log_json) {
    rt_diag errors = {0}, warnings = {.label = "warning"};
    rt_config *config = NULL;
    rt_config_load(path, &config, &errors, &warnings);
    /* Warnings go to the service's log, which is JSON lines from its start; errors that stop the
     * start are for the person who ran it, as text, unless the service runs already (a reload). */
    log_problems(&warnings, "warn");
    if (log_json)
        log_problems(&errors, "error");
    else
        rt_diag_print(&errors, stderr, "");
    rt_diag_free(&errors);
    rt_diag_free(&warnings);
    if (config && !config->redis_url) {
        if (log_json)
            ig_log("error", "the config has no redis section (docs/config.md)",
                   json_pack("{s:s}", "config", path));
        else
            fprintf(stderr, "inquest %s: %s has no redis section (docs/config.md)\n", cmd, path);
        rt_config_free(config);
        config = NULL;
    }
    return config;
}

static rt_queue *queue_open(uv_loop_t *loop, const rt_config *c, double command_timeout,
                            const char *password, size_t len,
                            void (*on_state)(rt_queue *q, bool up, const char *why, void *ud),
                            void *ud, char *why) {
    rt_redis_options redis = {.url = c->redis_url,
                              .username = c->redis_auth.username,
                              .password = password,
                              .password_len = len,
                              .name = "redis",
                              .command_timeout = command_timeout};
    rt_queue_team_cap *caps = rt_xcalloc(c->queue.n_team_caps + 1, sizeof *caps);
    for (size_t i = 0; i < c->queue.n_team_caps; i++)
        caps[i] = (rt_queue_team_cap){c->queue.team_caps[i].team, c->queue.team_caps[i].cap};
    rt_queue_options q = {.prefix = c->queue.prefix,
                          .ttl = c->queue.result_ttl,
                          .recording_ttl = c->recordings.ttl,
                          .max_deliveries = c->queue.max_deliveries,
                          .default_cap = c->queue.team_concurrency,
                          .caps = caps,
                          .n_caps = c->queue.n_team_caps,
                          .on_state = on_state,
                          .ud = ud};
    rt_queue *queue = rt_queue_new(loop, &redis, &q, why);
    free(caps);
    return queue;
}

rt_queue *ig_queue_open(uv_loop_t *loop, const rt_config *c, const char *password, size_t len,
                        void (*on_state)(rt_queue *q, bool up, const char *why, void *ud), void *ud,
                        char *why) {
    return queue_open(loop, c, 0, password, len, on_state, ud, why);
}

rt_queue *ig_queue_open_api(uv_loop_t *loop, const rt_config *c, const char *password, size_t len,
                            void (*on_state)(rt_queue *q, bool up, const char *why, void *ud),
                            void *ud, char *why) {
    return queue_open(loop, c, c->redis_timeout, password, len, on_state, ud, why);
}

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
} command;

static const char version_usage[] = "Usage: inquest version\n"
                                    "\n"
                                    "Prints the version of inquest, of Lua and of jansson.\n";

/* `inquest version`, also `inquest --version`. */
static int cmd_version(int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(version_usage, stdout);
        return IG_EXIT_OK;
    }
    if (argc > 1)
        return ig_usage_error("version", "unexpected argument \"%s\"", argv[1]);
    printf("inquest %s (%s, jansson %s)\n", INQUEST_VERSION, LUA_RELEASE, JANSSON_VERSION);
    return IG_EXIT_OK;
}

static const command commands[] = {
    {"run", ig_cmd_run},           {"check", ig_cmd_check},   {"list", ig_cmd_list},
    {"describe", ig_cmd_describe}, {"new", ig_cmd_new},       {"config", ig_cmd_config},
    {"serve", ig_cmd_serve},       {"worker", ig_cmd_worker}, {"submit", ig_cmd_submit},
    {"status", ig_cmd_status},     {"wait", ig_cmd_wait},     {"result", ig_cmd_result},
    {"cancel", ig_cmd_cancel},     {"ls", ig_cmd_ls},         {"route", ig_cmd_route},
    {"record", ig_cmd_record},     {"case", ig_cmd_case},     {NULL, NULL},
};

/* `inquest version`, a command of its own so that `version --help` and `help version` work. */
static const command version_commands[] = {
    {"version", cmd_version},
    {NULL, NULL},
};

/* The backtest harness' commands (ig_cmd_backtest.c). */
static const command backtest_commands[] = {
    {"backtest", ig_cmd_backtest},
    {NULL, NULL},
};

/* Insights and verdicts on analyses (ig_cmd_insights.c). */
static const command insight_commands[] = {
    {"insights", ig_cmd_insights},
    {"feedback", ig_cmd_feedback},
    {NULL, NULL},
};

/* The post-processor's commands (ig_cmd_postproc.c, ig_cmd_actions.c). */
static const command postproc_commands[] = {
    {"postproc", ig_cmd_postproc},
    {"actions", ig_cmd_actions},
    {NULL, NULL},
};

static const command *find_command(const char *name) {
    for (const command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    for (const command *c = postproc_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    for (const command *c = backtest_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    for (const command *c = insight_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    for (const command *c = version_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int ig_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ig_error_vsay(stderr, cmd, IG_ERROR_USAGE, fmt, ap);
    va_end(ap);
    fprintf(stderr, "(see `inquest %s --help`)\n", cmd);
    return IG_EXIT_USAGE;
}

#define MAX_INPUTS_BYTES ((size_t)16 << 20) /* --inputs FILE: more is no analysis' inputs */

int ig_inputs_file(const char *cmd, const char *path, json_t *inputs) {
    json_error_t error;
    char why[256], *text = NULL;
    size_t len = 0;
    /* Read first, so that a file that cannot be read says why, not where JSON went wrong. */
    if (rt_file_read(path, MAX_INPUTS_BYTES, &text, &len, why) != RT_OK)
        return ig_usage_error(cmd, "--inputs: %s", why);
    json_t *object = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    free(text);
    if (!object)
        return ig_usage_error(cmd, "--inputs %s:%d:%d: %s", path, error.line, error.column,
                              error.text);
    if (!json_is_object(object)) {
        json_decref(object);
        return ig_usage_error(cmd, "--inputs %s: must hold a JSON object", path);
    }
    json_object_update(inputs, object);
    json_decref(object);
    return IG_EXIT_OK;
}

int ig_dirs_add(ig_dirs *d, const char *cmd, char *dir) {
    if (!*dir)
        return ig_usage_error(cmd, "--analyzers needs a folder (got an empty one)");
    if (d->n == IG_MAX_DIRS)
        return ig_usage_error(cmd, "at most %d --analyzers folders", IG_MAX_DIRS);
    d->dirs[d->n++] = dir;
    return IG_EXIT_OK;
}

void ig_path_init(ig_path *p, char *const *dirs, size_t n) {
    memset(p, 0, sizeof *p);
    if (n > 0) {
        for (size_t i = 0; i < n && i < IG_MAX_DIRS; i++)
            p->dirs[p->n++] = dirs[i];
        return;
    }
    const char *env = getenv("INQUEST_ANALYZER_PATH");
    if (env && *env) {
        /* strtok_r skips empty elements: ":foo" is foo, never "" (which would be the root). */
        char *save = NULL;
        p->copy = rt_xstrdup(env);
        for (char *dir = strtok_r(p->copy, ":", &save); dir && p->n < IG_MAX_DIRS;
             dir = strtok_r(NULL, ":", &save))
            p->dirs[p->n++] = dir;
    }
    if (p->n == 0)
        p->dirs[p->n++] = "analyzers";
}

void ig_path_free(ig_path *p) {
    free(p->copy);
    p->copy = NULL;
    p->n = 0;
}

wk_engine *ig_engine(char **dirs, size_t n) {
    ig_path path;
    ig_path_init(&path, dirs, n);
    wk_engine *engine = wk_engine_new(path.dirs, path.n);
    ig_path_free(&path);
    return engine;
}

/* What the command printed on stdout may not have reached it (a full disk, a closed descriptor):
 * then the command did not do what was asked, whatever it returned, and says so. Stdio keeps the
 * first error of a write in the stream's error flag; the last buffered bytes go out here. */
static int check_stdout(int code) {
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return code;
    fprintf(stderr, "inquest: cannot write the output: %s\n",
            errno ? strerror(errno) : "a write to stdout failed");
    return code == IG_EXIT_OK ? IG_EXIT_FAILED : code;
}

/* With --json among its options, a command's errors are JSON too (ig_error_json), also one its
 * option parser finds before it reaches --json: an unknown option ahead of it. */
static void json_errors_if_asked(const char *name, int argc, char **argv) {
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0) {
            ig_error_json(name);
            return;
        }
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage, stderr);
        return IG_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        const command *c = argc > 2 ? find_command(argv[2]) : NULL;
        if (c) {
            char *help_argv[] = {argv[2], (char *)"--help", NULL};
            return c->fn(2, help_argv);
        }
        if (argc > 2) {
            fprintf(stderr, "inquest: unknown command '%s'\n\n%s", argv[2], usage);
            return IG_EXIT_USAGE;
        }
        fputs(usage, stdout);
        return IG_EXIT_OK;
    }
    const command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "inquest: unknown command '%s'\n\n%s", name, usage);
        return IG_EXIT_USAGE;
    }
    json_errors_if_asked(name, argc, argv);
    return c->fn(argc - 1, argv + 1);
}

int main(int argc, char **argv) {
    return check_stdout(ig_error_finish(dispatch(argc, argv)));
}
