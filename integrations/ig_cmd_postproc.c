/* integrations/ig_cmd_postproc.c -- `inquest postproc`: the post-processor as a long-running
 * process (postproc/pp_postproc.c does the work): reads the config, opens the queue, consumes
 * finished analyses and runs their actions; SIGTERM and SIGINT drain (nothing new is taken, what
 * is in flight ends), then it exits; SIGHUP reads the config again (a config with errors is
 * refused and the running one kept). Also the one function that opens a post-processor from a
 * config, which `inquest serve --postproc` uses too. */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_cli.h"
#include "pp.h"

static const char postproc_usage[] =
    "Usage: inquest postproc [--config FILE]\n"
    "\n"
    "Runs the post-processor (docs/operating.md): takes finished analyses from the results\n"
    "stream in Redis (a consumer group: several processes share the work, and what a process\n"
    "that died had taken is taken over), matches the config's rules, and records and runs their\n"
    "actions through the safety chain: plan, policy, approval, execution with an\n"
    "Idempotency-Key, verification, and an audit record of every step. Rules are dry runs\n"
    "unless they say dry_run: false. Logs are JSON lines on stderr.\n"
    "\n"
    "Options:\n"
    "  --config FILE   the configuration (default: $INQUEST_CONFIG); it needs a redis section\n"
    "  -h, --help      this text\n"
    "\n"
    "`inquest serve --postproc` (or postproc.embedded: true) runs the same inside the server.\n"
    "\n"
    "Signals: SIGTERM or SIGINT drain and exit; SIGHUP reloads the config (rules, policies,\n"
    "connectors, postproc settings; redis and queue need a restart): a config with errors is\n"
    "refused, logged, and the running one kept.\n"
    "\n"
    "Exit codes: 0 stopped by a signal; 2 usage, config or startup error.\n";

struct pp_postproc *ig_postproc_open(uv_loop_t *loop, const rt_config *c, rt_queue *queue,
                                     const char *base_url, char *why) {
    char *password = NULL;
    size_t len = 0;
    if (c->redis_auth.type != RT_AUTH_NONE &&
        rt_config_secret(&c->redis_auth, &password, &len, why) != RT_OK)
        return NULL;
    rt_redis_options redis = {.url = c->redis_url,
                              .username = c->redis_auth.username,
                              .password = password,
                              .password_len = len,
                              .name = "redis"};
    pp_postproc_options o = {
        .config = c, .queue = queue, .redis = &redis, .base_url = base_url, .log = ig_log};
    pp_postproc *p = pp_postproc_new(loop, &o, why);
    rt_secret_free(password, len);
    return p; /* it says "postproc ready" once it follows the results stream */
}

char *ig_external_url(const rt_config *c, const char *listening) {
    const char *where = listening ? listening : c->server.listen;
    size_t n = strlen(where) + 16;
    char *url = c->server.external_url ? rt_xstrdup(c->server.external_url) : rt_xmalloc(n);
    if (!c->server.external_url)
        snprintf(url, n, "http://%s", where);
    n = strlen(url);
    while (n > 0 && url[n - 1] == '/') /* a link adds its own: BASE/v1/analyses/ID */
        url[--n] = '\0';
    return url;
}

typedef struct postproc_process {
    uv_loop_t loop;
    const char *path;
    rt_config *config;
    rt_config **retired; /* owned: configs a reload replaced, kept until exit (actions in flight
                            use their connectors) */
    size_t n_retired;
    rt_queue *queue;
    pp_postproc *pp;
    uv_signal_t term, intr, hup;
    bool stopping;
} postproc_process;

static void queue_state(rt_queue *q, bool up, const char *why, void *ud) {
    (void)q, (void)ud;
    ig_log(up ? "info" : "warn", up ? "queue up" : "queue down",
           why && *why ? json_pack("{s:s}", "reason", why) : NULL);
}

static void drained(void *ud) {
    postproc_process *p = ud;
    ig_log("info", "drained; stopping", NULL);
    pp_postproc_free(p->pp);
    p->pp = NULL;
    rt_queue_free(p->queue);
    p->queue = NULL;
    uv_close((uv_handle_t *)&p->term, NULL);
    uv_close((uv_handle_t *)&p->intr, NULL);
    uv_close((uv_handle_t *)&p->hup, NULL);
}

static void on_stop(uv_signal_t *h, int signum) {
    postproc_process *p = h->data;
    if (p->stopping)
        return;
    p->stopping = true;
    ig_log("info", "draining", json_pack("{s:s}", "signal", signum == SIGTERM ? "TERM" : "INT"));
    pp_postproc_drain(p->pp, drained, p);
}

/* SIGHUP: the config again, all or nothing: one with errors (printed on stderr), or whose
 * connectors cannot be opened, is refused and the running one kept. */
static void on_reload(uv_signal_t *h, int signum) {
    postproc_process *p = h->data;
    char why[256] = "";
    (void)signum;
    if (p->stopping)
        return;
    rt_config *config = ig_service_config("postproc", p->path, true);
    if (!config || pp_postproc_reload(p->pp, config, why) != RT_OK) {
        ig_log("error", "reload failed; keeping the running config",
               json_pack("{s:s, s:s}", "config", p->path, "reason",
                         *why ? why : "the config has errors (logged above)"));
        rt_config_free(config);
        return;
    }
    p->retired = rt_xrealloc(p->retired, (p->n_retired + 1) * sizeof(rt_config *));
    p->retired[p->n_retired++] = p->config;
    p->config = config;
    ig_log("info", "reloaded",
           json_pack("{s:i, s:i}", "rules", (int)config->n_rules, "policies",
                     (int)config->n_policies));
}

static int parse_options(int argc, char **argv, const char **config) {
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'c')
            *config = optarg;
        else if (opt == 'h') {
            fputs(postproc_usage, stdout);
            return -1;
        } else
            return ig_usage_error("postproc", "unknown option");
    }
    if (optind < argc)
        return ig_usage_error("postproc", "unexpected argument \"%s\"", argv[optind]);
    if (!*config)
        *config = getenv("INQUEST_CONFIG");
    if (!*config || !**config)
        return ig_usage_error("postproc", "needs a config with a redis section: --config FILE "
                                          "or $INQUEST_CONFIG");
    return IG_EXIT_OK;
}

int ig_cmd_postproc(int argc, char **argv) {
    postproc_process p = {0};
    const char *path = NULL;
    char why[256] = "";
    int rc = parse_options(argc, argv, &path);
    if (rc != IG_EXIT_OK)
        return rc < 0 ? IG_EXIT_OK : rc;
    signal(SIGPIPE, SIG_IGN);
    p.path = path;
    if (!(p.config = ig_service_config("postproc", path, false)))
        return IG_EXIT_USAGE;
    uv_loop_init(&p.loop);
    char *password = NULL, *base = ig_external_url(p.config, NULL);
    size_t len = 0;
    if (p.config->redis_auth.type == RT_AUTH_NONE ||
        rt_config_secret(&p.config->redis_auth, &password, &len, why) == RT_OK)
        p.queue = ig_queue_open(&p.loop, p.config, password, len, queue_state, &p, why);
    rt_secret_free(password, len);
    if (p.queue)
        p.pp = ig_postproc_open(&p.loop, p.config, p.queue, base, why);
    free(base);
    rc = IG_EXIT_OK;
    if (!p.pp) {
        fprintf(stderr, "inquest postproc: %s\n", why);
        rt_queue_free(p.queue);
        rc = IG_EXIT_USAGE;
    } else {
        uv_signal_init(&p.loop, &p.term);
        uv_signal_init(&p.loop, &p.intr);
        uv_signal_init(&p.loop, &p.hup);
        p.term.data = p.intr.data = p.hup.data = &p;
        uv_signal_start(&p.term, on_stop, SIGTERM);
        uv_signal_start(&p.intr, on_stop, SIGINT);
        uv_signal_start(&p.hup, on_reload, SIGHUP);
    }
    uv_run(&p.loop, UV_RUN_DEFAULT);
    uv_loop_close(&p.loop);
    for (size_t i = 0; i < p.n_retired; i++)
        rt_config_free(p.retired[i]);
    free(p.retired);
    rt_config_free(p.config);
    return rc;
}
