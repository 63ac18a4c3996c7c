/* integrations/ig_cmd_serve.c -- `inquest serve`: the HTTP API process. Reads the config, opens
 * the queue in Redis and the HTTP server on one libuv loop, and handles signals: SIGTERM and
 * SIGINT drain (take nothing new, answer what is in flight, then exit), SIGHUP reloads analyzers,
 * tokens and the embedded post-processor's rules. The API itself is ig_api.c; /metrics is
 * ig_metrics.c. */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "ig_cli.h"
#include "ig_console.h"
#include "ig_serve.h"
#include "ig_store.h"
#include "pp.h"

#define DRAIN_CHECK_MS 20
#define DRAIN_MAX_MS   10000 /* answers in flight get this long before the server closes */

static const char serve_usage[] =
    "Usage: inquest serve [--config FILE] [--listen HOST:PORT] [--analyzers DIR] [--postproc]\n"
    "\n"
    "Serves the HTTP API (docs/api.md): accepts analyses, checks their inputs, queues them in\n"
    "Redis for `inquest worker`, and answers with their status and results. Logs are JSON\n"
    "lines on stderr.\n"
    "\n"
    "Options:\n"
    "  --config FILE        the configuration (default: $INQUEST_CONFIG); it needs a redis\n"
    "                       section (docs/config.md)\n"
    "  --listen HOST:PORT   where to listen (default: the config's server.listen,\n"
    "                       127.0.0.1:8080); port 0 picks a free one, which the log names\n"
    "  --analyzers DIR      look for analyzers in DIR (repeatable; default: the config's)\n"
    "  --postproc           run the post-processor here too, as `inquest postproc` does\n"
    "                       (also with postproc.embedded: true in the config)\n"
    "  -h, --help           this text\n"
    "\n"
    "Console: the web console at /console/ (docs/console.md; console.enabled: false turns it\n"
    "off) logs in with the API's tokens.\n"
    "\n"
    "Alerts: POST /v1/intake/SOURCE for the sources of the config's intake section; routes are\n"
    "checked against their analyzers' inputs at start and on reload.\n"
    "\n"
    "Signals: SIGTERM or SIGINT drain and exit; SIGHUP reloads analyzers, tokens, routes,\n"
    "intake credentials and the embedded post-processor's rules, policies, connectors and\n"
    "postproc settings (other settings need a restart).\n"
    "\n"
    "Exit codes: 0 stopped by a signal; 2 usage, config or startup error.\n";

typedef struct serve_options {
    const char *config_path, *listen;
    ig_dirs dirs;
    bool postproc;
} serve_options;

struct retired {
    struct retired *next;
    rt_config *config;
    ig_token *tokens;
    size_t n_tokens;
    ig_intake_auth *intake_auth;
};

typedef struct serve_process {
    ig_serve s;
    serve_options o;
    const rt_config *first; /* the config the engine was opened with: its analyzer path, which
                               a reload does not change (it stays until exit, retired) */
    uv_signal_t term, intr, hup;
    uv_timer_t drain;
    unsigned drain_waited_ms;
    bool postproc_drained;
} serve_process;

/* ---- start ------------------------------------------------------------------------------- */

static int parse_options(int argc, char **argv, serve_options *o) {
    enum { OPT_CONFIG = 256, OPT_LISTEN, OPT_ANALYZERS, OPT_POSTPROC };
    static const struct option options[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"analyzers", required_argument, NULL, OPT_ANALYZERS},
        {"postproc", no_argument, NULL, OPT_POSTPROC},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == OPT_CONFIG)
            o->config_path = optarg;
        else if (opt == OPT_LISTEN)
            o->listen = optarg;
        else if (opt == OPT_POSTPROC)
            o->postproc = true;
        else if (opt == OPT_ANALYZERS) {
            if (ig_dirs_add(&o->dirs, "serve", optarg) != IG_EXIT_OK)
                return IG_EXIT_USAGE;
        } else if (opt == 'h') {
            fputs(serve_usage, stdout);
            return -1;
        } else
            return ig_usage_error("serve", "unknown option");
    }
    if (optind < argc)
        return ig_usage_error("serve", "unexpected argument \"%s\"", argv[optind]);
    if (!o->config_path)
        o->config_path = getenv("INQUEST_CONFIG");
    if (!o->config_path || !*o->config_path)
        return ig_usage_error("serve", "needs a config with a redis section: --config FILE or "
                                       "$INQUEST_CONFIG");
    return IG_EXIT_OK;
}

static void tokens_free(ig_token *tokens, size_t n) {
    for (size_t i = 0; i < n; i++)
        rt_secret_free(tokens[i].secret, tokens[i].len);
    free(tokens);
}

/* A token shorter than this can be guessed by whoever reaches the API: 16 random characters
 * are 64 bits or more, out of reach at any rate a server answers. */
#define TOKEN_MIN_CHARS 16

/* Reads the secret of every token of 'config', and warns of those short enough to guess. Returns
 * the tokens, or NULL with '*why' set (256 bytes) naming the token whose secret cannot be read. */
static ig_token *read_tokens(const rt_config *config, size_t *n, char *why) {
    ig_token *tokens = rt_xcalloc(config->n_tokens ? config->n_tokens : 1, sizeof *tokens);
    *n = 0;
    for (size_t i = 0; i < config->n_tokens; i++) {
        char reason[256];
        tokens[i].config = &config->tokens[i];
        if (rt_config_secret(&config->tokens[i].auth, &tokens[i].secret, &tokens[i].len, reason) !=
            RT_OK) {
            snprintf(why, 256, "token %.64s: %.160s", config->tokens[i].name, reason);
            tokens_free(tokens, i);
            return NULL;
        }
        if (tokens[i].len < TOKEN_MIN_CHARS)
            ig_log("warn", "token is short enough to guess; use 32 random characters or more",
                   json_pack("{s:s, s:I, s:i}", "token", config->tokens[i].name, "characters",
                             (json_int_t)tokens[i].len, "at_least", TOKEN_MIN_CHARS));
    }
    *n = config->n_tokens;
    return tokens;
}

/* Splits "host:port" or "[v6]:port" into 'host' (64 bytes) and '*port'. */
static int split_listen(const char *listen, char *host, int *port) {
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    if (!colon)
        return -1;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p < 0 || p > 65535)
        return -1;
    const char *h = listen;
    size_t n = (size_t)(colon - listen);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']')
        h++, n -= 2;
    if (n == 0 || n >= 64)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (int)p;
    return 0;
}

static void queue_state(rt_queue *q, bool up, const char *why, void *ud) {
    (void)q, (void)ud;
    ig_log(up ? "info" : "error", up ? "queue up" : "queue down",
           why && *why ? json_pack("{s:s}", "reason", why) : NULL);
}

static int open_queue(ig_serve *s, char *why) {
    const rt_config *c = s->config;
    char *password = NULL;
    size_t password_len = 0;
    if (c->redis_auth.type != RT_AUTH_NONE &&
        rt_config_secret(&c->redis_auth, &password, &password_len, why) != RT_OK)
        return RT_EINPUT;
    s->queue = ig_queue_open_api(s->loop, c, password, password_len, queue_state, s, why);
    rt_secret_free(password, password_len);
    if (!s->queue)
        return RT_EINPUT;
    rt_queue_watch(s->queue, ig_api_finished, s);
    s->actions = pp_chain_new(rt_queue_redis(s->queue), c->queue.prefix);
    s->store = ig_store_new(rt_queue_redis(s->queue), c->queue.prefix);
    return RT_OK;
}

/* server.max_connections, or fewer when they would not fit under the limit on open files, raised
 * to its hard limit first (the usual soft limit is 1024, the default max_connections). Past the
 * limit, clients would be reset by libuv instead of getting the server's 503. */
static size_t fit_connections(size_t wanted) {
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return wanted;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < lim.rlim_max) {
        struct rlimit raised = {lim.rlim_max, lim.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            lim.rlim_cur = lim.rlim_max;
    }
    if (lim.rlim_cur == RLIM_INFINITY)
        return wanted;
    size_t fit = rt_httpd_connections_within(wanted, (uint64_t)lim.rlim_cur);
    if (fit < wanted)
        ig_log("warn", "server.max_connections lowered to fit the limit on open files",
               json_pack("{s:I, s:I, s:I, s:i}", "max_connections", (json_int_t)wanted,
                         "open_files", (json_int_t)lim.rlim_cur, "lowered_to", (json_int_t)fit,
                         "kept_for_other_files", RT_HTTPD_FD_MARGIN));
    return fit;
}

static int open_http(ig_serve *s, const char *listen, char *why) {
    char host[64];
    int port = 0;
    if (split_listen(listen, host, &port) != 0) {
        snprintf(why, 256, "listen: expected HOST:PORT, got \"%s\"", listen);
        return RT_EINPUT;
    }
    const rt_server *srv = &s->config->server;
    rt_httpd_options o = {.host = host,
                          .port = port,
                          .handler = ig_api_handle,
                          .handler_ud = s,
                          .max_body_bytes = srv->max_body,
                          .max_connections = fit_connections((size_t)srv->max_connections),
                          .idle_timeout = srv->idle_timeout,
                          /* read_timeout is for headers and body together (docs/config.md) */
                          .header_timeout = srv->read_timeout,
                          .body_timeout = srv->read_timeout,
                          .request_timeout = srv->read_timeout};
    if (!(s->httpd = rt_httpd_new(s->loop, &o, why)))
        return RT_EINPUT;
    char listening[128]; /* the port bound, which listen's may leave to the kernel (:0) */
    snprintf(listening, sizeof listening, "%s%s%s:%d", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", rt_httpd_port(s->httpd));
    s->base_url = ig_external_url(s->config, listening);
    ig_log("info", "listening",
           json_pack("{s:s, s:i, s:s}", "address", host, "port", rt_httpd_port(s->httpd),
                     "external_url", s->base_url));
    return RT_OK;
}

static wk_engine *open_engine(const serve_options *o, const rt_config *c) {
    if (o->dirs.n)
        return ig_engine((char **)o->dirs.dirs, o->dirs.n);
    return wk_engine_new((const char *const *)c->analyzers, c->n_analyzers);
}

/* ---- signals ----------------------------------------------------------------------------- */

static void close_all(serve_process *p) {
    uv_close((uv_handle_t *)&p->term, NULL);
    uv_close((uv_handle_t *)&p->intr, NULL);
    uv_close((uv_handle_t *)&p->hup, NULL);
    uv_close((uv_handle_t *)&p->drain, NULL);
    rt_httpd_close(p->s.httpd, NULL, NULL);
    pp_postproc_free(p->s.postproc);
    p->s.postproc = NULL;
    pp_chain_free(p->s.actions);
    p->s.actions = NULL;
    ig_insights_stop(&p->s);
    ig_store_free(p->s.store);
    p->s.store = NULL;
    rt_queue_free(p->s.queue);
}

/* True once every request handed to the API has its answer, or its client is gone. (Not
 * answers >= requests: the answers count the server's own refusals, 400 to 503, which never
 * reached a handler, and one of them would end the drain with a request still unanswered.) */
static bool quiet(const ig_serve *s) {
    rt_httpd_stats h;
    rt_httpd_get_stats(s->httpd, &h);
    return h.waiting == 0;
}

static void drain_tick(uv_timer_t *timer) {
    serve_process *p = timer->data;
    p->drain_waited_ms += DRAIN_CHECK_MS;
    /* The post-processor's calls in flight get their connectors' timeout: cut, their outcome
     * would go unrecorded and the action be taken over later. */
    double limit = DRAIN_MAX_MS;
    if (p->s.postproc && !p->postproc_drained)
        limit = fmax(limit, (pp_postproc_calls_timeout(p->s.postproc) + 2) * 1000);
    if ((!quiet(&p->s) || (p->s.postproc && !p->postproc_drained)) && p->drain_waited_ms < limit)
        return;
    uv_timer_stop(timer);
    ig_log("info", "drained; stopping", NULL);
    close_all(p);
}

static void postproc_drained(void *ud) {
    ((serve_process *)ud)->postproc_drained = true;
}

static void on_stop(uv_signal_t *handle, int signum) {
    serve_process *p = handle->data;
    if (p->s.draining)
        return;
    p->s.draining = true;
    ig_log("info", "draining", json_pack("{s:s}", "signal", signum == SIGTERM ? "TERM" : "INT"));
    ig_api_release_waiters(&p->s);
    if (p->s.postproc)
        pp_postproc_drain(p->s.postproc, postproc_drained, p);
    uv_timer_start(&p->drain, drain_tick, DRAIN_CHECK_MS, DRAIN_CHECK_MS);
}

/* SIGHUP: analyzers and tokens again, all or nothing: the new config's routes are checked
 * against a fresh engine over the analyzers as they are on disk now, and only when everything
 * holds is the serving engine reloaded and the config, tokens, intake and catalogue replaced.
 * The replaced config stays until exit, as requests in flight may hold its tokens. */
static void on_reload(uv_signal_t *handle, int signum) {
    serve_process *p = handle->data;
    ig_serve *s = &p->s;
    char why[256] = "";
    (void)signum;
    rt_config *config = ig_service_config("serve", p->o.config_path, true);
    size_t n_tokens = 0;
    ig_intake_auth *intake_auth = NULL;
    ig_token *tokens = config ? read_tokens(config, &n_tokens, why) : NULL;
    if (tokens) {
        wk_engine *probe = open_engine(&p->o, p->first);
        int rc = ig_intake_load(probe, config, &intake_auth, why);
        wk_engine_free(probe);
        if (rc != RT_OK) {
            tokens_free(tokens, n_tokens);
            tokens = NULL;
        }
    }
    /* The embedded post-processor last: it takes the config when it can (its connectors'
     * credentials read), and everything else has been checked by then. */
    if (tokens && s->postproc && pp_postproc_reload(s->postproc, config, why) != RT_OK) {
        tokens_free(tokens, n_tokens);
        tokens = NULL;
        ig_intake_auth_free(intake_auth);
        intake_auth = NULL;
    }
    if (!tokens) {
        ig_log("error", "reload failed; keeping the running config",
               json_pack("{s:s, s:s}", "config", p->o.config_path, "reason",
                         *why ? why : "the config has errors (logged above)"));
        rt_config_free(config);
        return;
    }
    wk_engine_reload(s->engine);
    struct retired *r = rt_xcalloc(1, sizeof *r);
    *r = (struct retired){s->retired, s->config, s->tokens, s->n_tokens, s->intake_auth};
    s->retired = r;
    s->config = config;
    s->tokens = tokens;
    s->n_tokens = n_tokens;
    s->intake_auth = intake_auth;
    ig_api_load_catalog(s);
    ig_log("info", "reloaded",
           json_pack("{s:i, s:i}", "analyzers", (int)json_object_size(s->catalog), "tokens",
                     (int)n_tokens));
}

static void watch_signals(serve_process *p) {
    uv_signal_t *handles[] = {&p->term, &p->intr, &p->hup};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(p->s.loop, handles[i]);
        handles[i]->data = p;
    }
    uv_signal_start(&p->term, on_stop, SIGTERM);
    uv_signal_start(&p->intr, on_stop, SIGINT);
    uv_signal_start(&p->hup, on_reload, SIGHUP);
    uv_timer_init(p->s.loop, &p->drain);
    p->drain.data = p;
}

static void serve_free(serve_process *p) {
    ig_serve *s = &p->s;
    for (struct retired *r = s->retired, *next; r; r = next) {
        next = r->next;
        tokens_free(r->tokens, r->n_tokens);
        ig_intake_auth_free(r->intake_auth);
        rt_config_free(r->config);
        free(r);
    }
    tokens_free(s->tokens, s->n_tokens);
    ig_intake_auth_free(s->intake_auth);
    json_decref(s->catalog);
    ig_backtests_free(s->backtests);
    ig_console_free(s->console);
    free(s->base_url);
    wk_engine_free(s->engine);
    rt_config_free(s->config);
}

int ig_cmd_serve(int argc, char **argv) {
    serve_process p = {0};
    ig_serve *s = &p.s;
    char why[256] = "";
    int rc = parse_options(argc, argv, &p.o);
    if (rc != IG_EXIT_OK)
        return rc < 0 ? IG_EXIT_OK : rc;
    signal(SIGPIPE, SIG_IGN);
    if (!(s->config = ig_service_config("serve", p.o.config_path, false)))
        return IG_EXIT_USAGE;
    s->engine = open_engine(&p.o, s->config);
    p.first = s->config;
    s->loop = wk_engine_loop(s->engine);
    if (!(s->tokens = read_tokens(s->config, &s->n_tokens, why)) ||
        ig_intake_load(s->engine, s->config, &s->intake_auth, why) != RT_OK ||
        ig_console_open(s, why) != RT_OK || open_queue(s, why) != RT_OK ||
        open_http(s, p.o.listen ? p.o.listen : s->config->server.listen, why) != RT_OK) {
        fprintf(stderr, "inquest serve: %s\n", why);
        pp_chain_free(s->actions);
        ig_store_free(s->store);
        rt_queue_free(s->queue);
        uv_run(s->loop, UV_RUN_DEFAULT);
        serve_free(&p);
        return IG_EXIT_USAGE;
    }
    if ((p.o.postproc || s->config->postproc.embedded) &&
        !(s->postproc = ig_postproc_open(s->loop, s->config, s->queue, s->base_url, why))) {
        fprintf(stderr, "inquest serve: postproc: %s\n", why);
        rt_httpd_close(s->httpd, NULL, NULL);
        pp_chain_free(s->actions);
        ig_store_free(s->store);
        rt_queue_free(s->queue);
        uv_run(s->loop, UV_RUN_DEFAULT);
        serve_free(&p);
        return IG_EXIT_USAGE;
    }
    ig_api_load_catalog(s);
    ig_insights_start(s);
    watch_signals(&p);
    uv_run(s->loop, UV_RUN_DEFAULT);
    serve_free(&p);
    return IG_EXIT_OK;
}
