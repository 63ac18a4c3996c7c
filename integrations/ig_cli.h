/* integrations/ig_cli.h -- the `inquest` command line: each subcommand's entry point and what
 * they share (exit codes, the analyzer path, usage errors). main() lives in ig_main.c. */
#ifndef INQUEST_IG_CLI_H
#define INQUEST_IG_CLI_H

#include <stdarg.h>
#include <stdio.h>
#include "rt_queue.h"
#include "wk.h"

/* Exit codes, documented in docs/sdk.md and `inquest help`. */
enum {
    IG_EXIT_OK = 0,     /* ran and concluded; or the command did what was asked */
    IG_EXIT_FAILED = 1, /* the analyzer failed: error, timeout, budget; or check found problems */
    IG_EXIT_USAGE = 2,  /* usage or input error */
    IG_EXIT_SERVER = 3, /* the server cannot be reached, fails (5xx) or answers what is not the
                           API: apart from 1 so that a script can retry it */
};

/* Each subcommand: 'argc'/'argv' start at the subcommand's name. Returns an exit code. */
int ig_cmd_run(int argc, char **argv);
int ig_cmd_check(int argc, char **argv);
int ig_cmd_list(int argc, char **argv);
int ig_cmd_describe(int argc, char **argv);
int ig_cmd_new(int argc, char **argv);
int ig_cmd_config(int argc, char **argv);
int ig_cmd_route(int argc, char **argv); /* route test: ig_cmd_route.c */
int ig_cmd_serve(int argc, char **argv);
int ig_cmd_worker(int argc, char **argv);
int ig_cmd_postproc(int argc, char **argv);
/* `inquest actions ls|show|approve|reject|audit` (ig_cmd_actions.c). */
int ig_cmd_actions(int argc, char **argv);
/* The service's clients (ig_cmd_client.c): submit, status, wait, result, cancel, ls. */
int ig_cmd_submit(int argc, char **argv);
int ig_cmd_status(int argc, char **argv);
int ig_cmd_wait(int argc, char **argv);
int ig_cmd_result(int argc, char **argv);
int ig_cmd_cancel(int argc, char **argv);
int ig_cmd_ls(int argc, char **argv);
/* `inquest backtest` (ig_cmd_backtest.c): replays backtest cases, with --base against a git
 * revision's analyzers. */
int ig_cmd_backtest(int argc, char **argv);

/* Making backtest cases (ig_cmd_case.c): `inquest record` and `inquest case from-analysis`. */
int ig_cmd_record(int argc, char **argv);
int ig_cmd_case(int argc, char **argv);
/* Insights and verdicts on analyses, over the API (ig_cmd_insights.c). */
int ig_cmd_insights(int argc, char **argv);
int ig_cmd_feedback(int argc, char **argv);

/* One analysis run here as `inquest run … --record FILE` runs it (ig_cmd_run.c), for commands
 * that need its result rather than its report. */
typedef struct ig_local_run {
    const char *cmd;         /* the command in messages ("record") */
    const char *analyzer;    /* a name on the analyzer path, or a .lua file */
    const json_t *inputs;    /* raw inputs (an object; NULL: none), typed by the analyzer */
    const char *id;          /* NULL: a new random one */
    double now;              /* the analysis' clock; 0: now, in whole seconds */
    const char *config_path; /* NULL: $INQUEST_CONFIG when set */
    char *const *dirs;       /* --analyzers folders, 'n_dirs' of them; none: the config's */
    size_t n_dirs;
    const char *record_path; /* where the recording is written; NULL: not recorded */
} ig_local_run;

/* Runs 'spec' in a child process ended at its deadline, with the config's connectors and
 * budgets, as `inquest run` does. Returns IG_EXIT_OK with the result in '*result' (owned by the
 * caller; whatever its status: a result that says why when the child gave none), or an exit
 * code after printing why nothing ran (a bad config, unknown analyzer, invalid inputs). */
int ig_run_local(const ig_local_run *spec, json_t **result);

/* Prints "inquest CMD: message" and a hint to see --help on stderr; returns IG_EXIT_USAGE. The
 * error is kept as IG_ERROR_USAGE (below). */
int ig_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Errors as JSON (ig_error.c). With --json, a command's stdout holds one JSON object
 * whatever happens: its output, or when it fails without printing any, {"error": {"code",
 * "message", …}} (docs/operating.md, "Errors with --json"). Every error is printed on stderr
 * where it is found, as before, and kept here by the same call; main() prints the last one
 * kept, which is the one that ended the command. The codes the command line gives its own
 * errors (the server's keep the server's code, docs/api.md): */
#define IG_ERROR_USAGE          "usage"            /* a bad argument or file: exit 2 */
#define IG_ERROR_UNREACHABLE    "unreachable"      /* no connection, or it broke: 3 */
#define IG_ERROR_SERVER_TIMEOUT "server_timeout"   /* no whole answer in time: 3 */
#define IG_ERROR_TOO_LARGE      "answer_too_large" /* an answer over the client's cap: 3 */
#define IG_ERROR_NOT_API        "not_api"          /* an answer that is not the API's: 3 */
#define IG_ERROR_NOT_FINISHED   "not_finished"     /* still queued or running: 1 */
#define IG_ERROR_NO_RESULT      "no_result"        /* it ended without a result (dead): 1 */
#define IG_ERROR_INTERNAL       "internal"         /* libcurl would not start: 3 */
#define IG_ERROR_FAILED         "failed"           /* any other failure: 1 (stderr says what) */
#define IG_ERROR_SERVER         "server"           /* any other failure: 3 (stderr says what) */
/* The local commands (run, describe) name what the API names alike (docs/api.md): */
#define IG_ERROR_INVALID_INPUTS   "invalid_inputs"   /* the inputs do not fit the analyzer: 2 */
#define IG_ERROR_UNKNOWN_ANALYZER "unknown_analyzer" /* no such analyzer (name or file): 2 */
#define IG_ERROR_INVALID_ANALYZER "invalid_analyzer" /* the analyzer does not load: 1 */

/* Command 'cmd' (static) was given --json: when it fails without printing its JSON output, its
 * error goes to stdout as JSON too. Its JSON output must then go through ig_print_json_text. */
void ig_error_json(const char *cmd);
/* Prints "inquest 'cmd': MESSAGE" on 'err' and keeps {"code": 'code', "message": MESSAGE} as
 * the command's error. Returns that object (borrowed), for members of the caller's. */
json_t *ig_error_say(FILE *err, const char *cmd, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
json_t *ig_error_vsay(FILE *err, const char *cmd, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* A list of problems (a config's, an analyzer's inputs) as the command's error. With a
 * headline 'fmt', prints "inquest 'cmd': HEADLINE:" on 'err' and then each problem of 'diag' on
 * its own line indented by two spaces; with 'fmt' NULL, each problem on its own line after
 * "inquest 'cmd': " (one problem, said in one line). 'cmd' NULL: "inquest: ". Keeps {"code":
 * 'code', "message": HEADLINE (without 'fmt': the problems, joined by "; "), "fields": the
 * problems (ig_error_fields)}. Returns that object (borrowed). */
json_t *ig_error_diag(FILE *err, const char *cmd, const char *code, const rt_diag *diag,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The problems of 'diag' as the API's "fields" (docs/api.md): each {"field" ("" when none),
 * "message"} with "file", "line" and "column" when 'diag' knows them. The API's refusals and the
 * commands' errors both give them so. */
json_t *ig_diag_fields(const rt_diag *diag);
/* Sets "fields" of 'error' to ig_diag_fields of 'diag'; nothing when 'diag' holds none. For a
 * caller that printed the problems itself. */
void ig_error_fields(json_t *error, const rt_diag *diag);
/* Names the fields of 'error' as the API names them (docs/api.md), so that a script reads the
 * same from a command here as from a server: with 'prefix', each as "'under'.FIELD" ("inputs"
 * for inputs: inputs.service); without, only a problem of no field, as 'under' ("analyzer").
 * Returns 'error'. */
json_t *ig_error_fields_under(json_t *error, const char *under, bool prefix);
/* Keeps 'error' (an object with "code" and "message"; stolen) as the command's error, printed on
 * stderr by the caller: the server's error, passed on. */
void ig_error_keep(json_t *error);
/* The error kept so far (borrowed; NULL: none), for a child process to hand to its parent. */
json_t *ig_error_kept(void);
/* Prints 'text' (one JSON document, malloc'd: freed here; NULL, when out of memory: null) on
 * stdout as the command's output, after which no error object is printed. */
void ig_print_json_text(char *text);
/* Ends the command whose exit code is 'code': prints its error as JSON on stdout when it was
 * given --json, failed and printed no JSON output. Returns 'code'. */
int ig_error_finish(int code);

/* Adds the members of the JSON object in the file 'path' (--inputs FILE of command 'cmd') to
 * 'inputs'. Returns IG_EXIT_OK, or a usage error that says what is wrong: the file cannot be
 * read, is not JSON (where), or holds no object. */
int ig_inputs_file(const char *cmd, const char *path, json_t *inputs);

/* Collects the repeatable --analyzers option into a small fixed array. Refuses an empty folder
 * (it would name the filesystem's root). */
#define IG_MAX_DIRS 16
typedef struct ig_dirs {
    char *dirs[IG_MAX_DIRS];
    size_t n;
} ig_dirs;
int ig_dirs_add(ig_dirs *d, const char *cmd, char *dir);

/* The analyzer path's folders, the one place that decides them: the 'n' folders 'dirs' (from
 * --analyzers), else the non-empty elements of INQUEST_ANALYZER_PATH (colon-separated), else
 * "analyzers". There is always at least one, and 'dirs[0]' is where `new` writes. 'dirs' point
 * into the caller's strings or into 'copy', which the path owns; ig_path_free releases it. */
typedef struct ig_path {
    const char *dirs[IG_MAX_DIRS];
    size_t n;
    char *copy; /* owned: the split copy of INQUEST_ANALYZER_PATH, or NULL */
} ig_path;
void ig_path_init(ig_path *p, char *const *dirs, size_t n);
void ig_path_free(ig_path *p);

/* An engine over the analyzer path of ig_path_init('dirs', 'n'). */
wk_engine *ig_engine(char **dirs, size_t n);

/* Labels whose names start so are Inquest's own: the intake's (inquest_route…) and the
 * post-processor's (inquest_verifies, which no rule acts on). Neither a client's submission nor
 * an alert's labels may set them. */
#define IG_RESERVED_LABELS "inquest_"

/* The service's processes (serve, worker): */

/* The config of a service process ('cmd': "serve", "worker") at 'path', refused without a redis
 * section; NULL when refused. Every problem and warning goes to stderr: warnings as JSON log
 * lines (the service's log begins with them), errors as text at start (for the operator at the
 * terminal) and as JSON log lines when 'log_json' (a reload, in a running service's log). */
rt_config *ig_service_config(const char *cmd, const char *path, bool log_json);

/* One JSON log line on stderr: {"ts", "level", "msg", and the fields of 'fields' (stolen, may be
 * NULL)}. */
void ig_log(const char *level, const char *msg, json_t *fields);

/* The queue that config 'c' describes (its redis and queue sections), on 'loop', with the Redis
 * password 'password' of 'len' bytes (NULL: none), which the caller read (a worker reads it
 * before it enters its jail). 'on_state' and 'ud' as in rt_queue_options. NULL with 'why' (256
 * bytes) when an option is refused. Its commands wait up to rt_redis' 5 s: the worker and the
 * post-processor keep that, as no client waits on them, while their completions may carry
 * results and recordings of megabytes, and a false timeout would drop the connection with
 * every claim, heartbeat and completion in flight on it. */
rt_queue *ig_queue_open(uv_loop_t *loop, const rt_config *c, const char *password, size_t len,
                        void (*on_state)(rt_queue *q, bool up, const char *why, void *ud), void *ud,
                        char *why);
/* The same for `inquest serve`, whose API clients wait on its commands: they wait up to the
 * config's redis.timeout (rt_config.c says why it is short). */
rt_queue *ig_queue_open_api(uv_loop_t *loop, const rt_config *c, const char *password, size_t len,
                            void (*on_state)(rt_queue *q, bool up, const char *why, void *ud),
                            void *ud, char *why);

/* The post-processor that config 'c' describes, on 'loop' over 'queue', linking analyses under
 * 'base_url' (ig_cmd_postproc.c). NULL with 'why' (256 bytes) when a secret cannot be read. */
struct pp_postproc *ig_postproc_open(uv_loop_t *loop, const rt_config *c, rt_queue *queue,
                                     const char *base_url, char *why);
/* Where people reach the API, for links (rt_analysis_url): server.external_url, path included,
 * else http://'listening' (the HOST:PORT serve listens on; NULL: server.listen); no trailing
 * slash (malloc'd). */
char *ig_external_url(const rt_config *c, const char *listening);

#endif
