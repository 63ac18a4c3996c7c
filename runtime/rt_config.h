/* runtime/rt_config.h -- the configuration file (DESIGN §8, docs/config.md): one YAML file,
 * loaded into typed structures with every problem reported at once with file:line:column.
 * Parsing lives in rt_config.c; `inquest config check` in integrations/ig_cmd_config.c. */
#ifndef INQUEST_RT_CONFIG_H
#define INQUEST_RT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "rt.h"

#define RT_CONFIG_FILE_MAX    (1024 * 1024) /* bytes of a config file */
#define RT_CONFIG_SECRET_MAX  (64 * 1024)   /* bytes of a credential read from env or file */
#define RT_CONFIG_MAX_DIRS    16            /* folders on the analyzer path */
#define RT_CONFIG_MAX_ENTRIES 256           /* connectors, headers of one connector */

typedef enum rt_auth_type {
    RT_AUTH_NONE = 0, /* no auth section */
    RT_AUTH_BEARER,   /* Authorization: Bearer <secret> */
    RT_AUTH_BASIC,    /* Authorization: Basic base64(<username>:<secret>) */
    RT_AUTH_HEADER,   /* <header>: <secret> */
    RT_AUTH_PATH,     /* the secret is a path under the URL (a Slack webhook's /services/…) */
} rt_auth_type;

/* A credential is never in the config: only where to find it. Exactly one of 'env' and 'file'
 * is set when 'type' is not RT_AUTH_NONE. All strings owned by the config. */
typedef struct rt_auth {
    rt_auth_type type;
    char *username; /* basic */
    char *header;   /* header: the header's name */
    char *env;      /* token_env, password_env or value_env */
    char *file;     /* token_file, password_file or value_file */
} rt_auth;

typedef enum rt_connector_type {
    RT_CONNECTOR_PROMETHEUS = 0,
    RT_CONNECTOR_LOKI,
    RT_CONNECTOR_ELASTICSEARCH,
    RT_CONNECTOR_HTTP,
} rt_connector_type;

typedef struct rt_header {
    char *name, *value; /* owned */
} rt_header;

/* How an http connector's answers become events (ctx.events(name):list{…}); all strings owned,
 * NULL when not given. Fields are dotted paths into each item ("meta.created_at"). */
typedef struct rt_events {
    char *path;  /* required: path and query, with {name} filled from the call's arguments */
    char *items; /* where the list is in the response; NULL: the response is the list */
    char *time;  /* required: RFC 3339 text, or Unix seconds or milliseconds */
    char *kind, *service, *id, *text;
} rt_events;

/* Entries of named sections (connectors, tokens, routes, rules) begin with their name and the
 * line where they are defined, for later messages. */
typedef struct rt_connector {
    char *name; /* owned; matches ^[a-z][a-z0-9_]*$ */
    int line;
    rt_connector_type type;
    char *url;           /* owned; http:// or https://, no user:password@ */
    double timeout;      /* seconds per call; default 10 */
    size_t max_response; /* bytes; default 16MiB */
    double rate_limit;   /* calls per second; 0: no limit (the default) */
    int concurrency;     /* calls at once; default 8 */
    bool tls_verify;     /* default true */
    rt_header *headers;  /* owned, 'n_headers' of them */
    size_t n_headers;
    rt_auth auth;
    rt_events events; /* http connectors; events.path NULL when not configured */
    bool reserved;    /* a rule's action names it: the post-processor's alone, which analyzers
                         cannot call (their engine does not register it; docs/config.md) */
} rt_connector;

/* An Alertmanager-style label matcher ("service=~\"api|web\""): a label, or an annotation
 * when written "annotations.<name>", compared with a value or an anchored PCRE2 regex. A
 * missing label or annotation is the empty string, as in Alertmanager. */
typedef enum rt_match_op { RT_MATCH_EQ, RT_MATCH_NE, RT_MATCH_RE, RT_MATCH_NOT_RE } rt_match_op;

typedef struct rt_matcher {
    char *name; /* owned: the label's name, without "annotations." */
    bool annotation;
    rt_match_op op;
    char *value;                           /* owned */
    struct pcre2_real_code_8 *regex;       /* owned: for =~ and !~, anchored at both ends */
    struct pcre2_real_match_data_8 *match; /* owned: the regex's match data, made once at load;
                                              a matcher is used by one thread at a time */
} rt_matcher;

/* True when 'value' (the label's value, NULL when absent) satisfies 'm'. */
bool rt_matcher_matches(const rt_matcher *m, const char *value);

/* A name and the template that computes its value ("{{ labels.service }}"); both owned. */
typedef struct rt_template {
    char *name, *text;
} rt_template;

/* Where alerts come from (docs/config.md, routes). */
typedef enum rt_source {
    RT_SOURCE_ALERTMANAGER,
    RT_SOURCE_GRAFANA,
    RT_SOURCE_PAGERDUTY,
    RT_SOURCE_OPSGENIE,
    RT_SOURCE_GENERIC,
} rt_source;

/* What one analysis of a route stands for: each alert, or each notification group (the
 * alerts of one Alertmanager or Grafana group that match the route start one analysis). */
typedef enum rt_route_per { RT_ROUTE_PER_ALERT = 0, RT_ROUTE_PER_GROUP } rt_route_per;

/* A route: alerts that match start an analyzer with inputs built from templates. */
typedef struct rt_route {
    char *name; /* owned; unique among routes */
    int line;
    unsigned sources;  /* bits of rt_source; 0: every source */
    rt_matcher *match; /* owned: all must hold */
    size_t n_match;
    char *analyzer;      /* owned: the analyzer's name */
    rt_template *inputs; /* owned: one per input, over the alert */
    size_t n_inputs;
    rt_priority priority; /* default alert */
    double dedup_window;  /* seconds; default 1h */
    rt_route_per per;     /* default alert */
} rt_route;

/* Where a generic webhook's alert fields are: dotted paths into each alert object (or into
 * the body for 'alerts'); all owned, NULL when not given (docs/config.md, intake). */
typedef struct rt_intake_mapping {
    char *alerts;    /* the list of alerts; NULL: the body is one alert */
    char *status;    /* text; NULL: every alert fires */
    char **resolved; /* values of 'status' that mean resolved; default ["resolved"] */
    size_t n_resolved;
    char *labels;        /* an object of strings */
    char *annotations;   /* an object of strings */
    char *starts_at;     /* RFC 3339 text, or Unix seconds or milliseconds */
    char *ends_at;       /* the same */
    char *fingerprint;   /* text identifying the alert; NULL: a hash of its labels */
    char *incident_id;   /* text */
    char *group_key;     /* text, in the body (not in each alert) */
    char *generator_url; /* text */
} rt_intake_mapping;

/* How a signature header holds the hex HMAC-SHA256: "v1=HEX[,v1=HEX…]" (PagerDuty's, several
 * while a secret is rotated), or the hex alone (Grafana's). */
typedef enum rt_signature_format { RT_SIGNATURE_V1 = 0, RT_SIGNATURE_HEX } rt_signature_format;

/* One intake source of `inquest serve`: who may send to it. A source that the config does not
 * name has no endpoint. Secrets come from env or file, as everywhere. */
typedef struct rt_intake_source {
    bool enabled;           /* named in the config */
    int line;               /* where, for messages */
    rt_auth auth;           /* bearer, basic or header; RT_AUTH_NONE: none */
    rt_auth signing;        /* pagerduty, grafana: the HMAC secret of request signatures
                               (type RT_AUTH_HEADER, env or file); RT_AUTH_NONE: none */
    char *signature_header; /* owned: where the signature is (the source's default) */
    rt_signature_format signature_format; /* how it is written (the source's default) */
    char *timestamp_header;               /* owned: a Unix time the sender signs with the body,
                                             "TIME:BODY"; NULL: the body alone */
    bool allow_unauthenticated;           /* neither auth nor signing, on purpose; default false */
} rt_intake_source;

/* A generic JSON webhook: a source of its own name with a field mapping. */
typedef struct rt_intake_generic {
    char *name; /* owned; ^[a-z][a-z0-9_]*$, the last part of its endpoint's path */
    int line;
    rt_intake_source source;
    rt_intake_mapping map;
} rt_intake_generic;

#define RT_INTAKE_SOURCES 4 /* the fixed sources: alertmanager, grafana, pagerduty, opsgenie */

typedef struct rt_intake {
    rt_intake_source sources[RT_INTAKE_SOURCES]; /* by rt_source */
    rt_intake_generic *generic;                  /* owned */
    size_t n_generic;
} rt_intake;

/* "alertmanager", "grafana", "pagerduty", "opsgenie", "generic". */
const char *rt_source_name(rt_source source);

typedef enum rt_action_type {
    RT_ACTION_INCIDENT_NOTE,
    RT_ACTION_SLACK,
    RT_ACTION_TICKET,
    RT_ACTION_WEBHOOK,
    RT_ACTION_SILENCE,
    RT_ACTION_MITIGATION,
} rt_action_type;

/* "incident_note", "slack", … as the config writes them. */
const char *rt_action_type_name(rt_action_type type);

/* The types a mitigation's arguments may have (rt_action.arg_types). */
typedef enum rt_arg_type {
    RT_ARG_STRING = 0,
    RT_ARG_INT,
    RT_ARG_NUMBER,
    RT_ARG_BOOL,
} rt_arg_type;

/* An optional follow-up analysis that checks that a mitigation worked. */
typedef struct rt_verify {
    char *analyzer;      /* owned; NULL: no verification */
    rt_template *inputs; /* owned: templates over the analysis */
    size_t n_inputs;
    char **expect; /* owned: conclusion tags that mean it worked; none: no_anomaly, resolved */
    size_t n_expect;
    int line, column; /* of 'analyzer' in the file, for checks against the analyzer path */
} rt_verify;

/* What a rule does with a finished analysis; the connector holds the URL and credentials. */
typedef struct rt_action {
    rt_action_type type;
    char *connector;   /* owned: an http connector of this config */
    rt_template *args; /* owned: templates over the analysis */
    size_t n_args;
    bool approval;          /* a person approves before it runs; default true for mitigations */
    char *name;             /* owned: a mitigation's name, which policies allow ("rollback");
                               NULL: "mitigation" */
    char *service;          /* owned template: the service acted on; NULL: {{ labels.service }} */
    char *path;             /* owned template: the path under the connector's URL; NULL: the
                               type's own (docs/config.md) */
    rt_template *arg_types; /* owned: argument name to type name ("int"); see rt_arg_type_of */
    size_t n_arg_types;
    bool idempotent; /* the endpoint honours Idempotency-Key, so a call that may have reached it
                        (interrupted, no answer, 5xx) may be sent again; default true for webhooks
                        only */
    rt_verify verify;
    int line, column; /* of its name in the file (of the action when it has none) */
} rt_action;

/* What finished analyses a rule applies to; every given part must hold. */
typedef struct rt_rule_match {
    char *analyzer;        /* owned glob over the analyzer's name; NULL: any */
    unsigned status;       /* bits: 1 << index in rt_result_statuses; 0: any */
    char *root_cause;      /* owned glob over the top finding's root_cause; NULL: any */
    char *conclusion;      /* owned glob over the conclusion's tag; NULL: any */
    unsigned severity;     /* bits: 1 << index in rt_severities of the top finding; 0: any */
    double min_confidence; /* of the top finding; default 0 */
    rt_matcher *labels;    /* owned: over the analysis' labels */
    size_t n_labels;
} rt_rule_match;

typedef struct rt_rule {
    char *name; /* owned; unique among rules */
    int line;
    rt_rule_match match;
    rt_action *actions; /* owned, at least one */
    size_t n_actions;
    bool dry_run; /* default true: new rules only say what they would do */
} rt_rule;

/* The declared type of argument 'name' of 'a' (RT_ARG_STRING when not declared). */
rt_arg_type rt_arg_type_of(const rt_action *a, const char *name);

/* An API token: who may start and read which analyzers. */
typedef struct rt_token {
    char *name; /* owned: shown in logs and audit records, never the secret */
    int line;
    rt_auth auth;     /* RT_AUTH_BEARER: where the token is (token_env or token_file) */
    char **analyzers; /* owned globs over analyzer names ("http.*", "*") */
    size_t n_analyzers;
    char **teams; /* owned: analyzers owned by these teams */
    size_t n_teams;
    char **approve; /* owned globs over the services or mitigation names whose actions it may
                       approve or reject ("*": all); none: it may not decide any */
    size_t n_approve;
} rt_token;

/* A change freeze: absolute times, or a weekly window in UTC ("Fri 16:00" to "Mon 08:00"). */
typedef struct rt_freeze {
    bool weekly;
    double start, end;           /* Unix seconds; weekly: seconds from Monday 00:00 */
    char *reason;                /* owned; NULL when not given */
    char *start_text, *end_text; /* owned: as written */
} rt_freeze;

/* What mitigations may do to which services (docs/config.md, policies): the first policy whose
 * services and actions both match a mitigation decides; no policy matching is a denial. */
typedef struct rt_policy {
    char *name; /* owned; unique among policies */
    int line;
    char **services; /* owned globs over the service acted on */
    size_t n_services;
    char **actions; /* owned globs over mitigation names */
    size_t n_actions;
    double min_confidence; /* of the top finding; default 0 */
    double window;         /* seconds the counts below cover; default 1h */
    int max_per_service;   /* executions per service in the window; 0: no limit */
    int blast_radius;      /* distinct services acted on in the window; 0: no limit */
    rt_freeze *freeze;     /* owned: while one holds, nothing runs */
    size_t n_freeze;
} rt_policy;

/* `inquest postproc`, or the post-processor inside `inquest serve`. */
typedef struct rt_postproc {
    bool embedded;          /* serve runs it too; default false */
    char *incident_id;      /* owned template: the incident of an analysis; default
                               {{ labels.incident_id }} */
    double claim_idle;      /* seconds before a dead consumer's results are taken over; 60 */
    int max_deliveries;     /* a result taken more often than this, never recorded, is given up
                               (acknowledged, audited); default 5 */
    double lease;           /* seconds an action's execution may take before another process
                               may take it over; 60 */
    int retries;            /* attempts after the first of a failed call; default 4 */
    double retry_backoff;   /* seconds before the first retry, doubling; default 2 */
    double audit_retention; /* seconds audit records are kept; default 90d */
    double action_ttl;      /* seconds finished actions are kept; default 30d */
    double verify_timeout;  /* seconds a mitigation's follow-up analysis has to conclude before
                               the action is verify_failed; default 1h */
    double approval_ttl;    /* seconds an action waits for approval before it is expired (never
                               run); default 1h */
} rt_postproc;

extern const char *const rt_result_statuses[]; /* "ok", "error", …, NULL */
extern const char *const rt_severities[];      /* "info" … "critical", NULL */

/* The HTTP API of `inquest serve`. */
typedef struct rt_server {
    char *listen;        /* owned: host:port; default 127.0.0.1:8080 */
    char *external_url;  /* owned: where users reach it, for links; default http://<listen> */
    size_t max_body;     /* bytes; default 1MiB */
    int max_connections; /* default 1024 */
    double idle_timeout; /* seconds; default 60 */
    double read_timeout; /* seconds to send a request's headers and body; default 10 */
} rt_server;

/* The cap of one team (an analyzer owner) on analyses running at once; 0: none. */
typedef struct rt_team_cap {
    char *team; /* owned */
    int cap;
} rt_team_cap;

/* The request queue in Redis (docs/queue.md). */
typedef struct rt_queue_config {
    char *prefix;           /* owned: of every key; default "inquest" */
    double lease;           /* seconds a claim lasts without a heartbeat; default 30 */
    int max_deliveries;     /* then the request is dead-lettered; default 3 */
    double result_ttl;      /* seconds results and status are kept; default 7d */
    double dedup_window;    /* seconds the same request maps to one analysis; default 10m */
    int team_concurrency;   /* analyses of one team running at once; 0: no cap (the default) */
    rt_team_cap *team_caps; /* owned: caps of single teams, over team_concurrency */
    size_t n_team_caps;
} rt_queue_config;

/* `inquest worker`. */
typedef struct rt_worker {
    int processes;   /* child processes; 0 (the default): one per core */
    int concurrency; /* analyses one child runs at once; default 64 */
    char *user;      /* owned: the user children run as when started as root; NULL: none */
} rt_worker;

/* Per-analysis budgets, defaults as in docs/sdk.md. */
typedef struct rt_limits {
    size_t memory;         /* bytes; default 64MiB */
    uint64_t instructions; /* default 1e9 */
    double timeout;        /* seconds; default 30 */
    int calls;             /* connector calls; default 500 */
    size_t call_bytes;     /* bytes of connector responses; default 256MiB */
} rt_limits;

/* The web console of `inquest serve` (docs/console.md). */
typedef struct rt_console {
    bool enabled;        /* default true: /console/ is served */
    double session_ttl;  /* seconds a login lasts; default 8h */
    rt_auth session_key; /* RT_AUTH_BEARER when key_env or key_file names the key that signs
                            sessions; RT_AUTH_NONE: a random key made at start */
} rt_console;

/* The recordings the service keeps of analyses (the connector exchanges of each), from which
 * `inquest case from-analysis` makes backtest cases (docs/backtest.md). */
typedef struct rt_recordings {
    double share;     /* of analyses recorded, 0 to 1, chosen from each id; default 0 */
    double ttl;       /* seconds a recording is kept; default the queue's result_ttl */
    size_t max_bytes; /* of one recording; a larger one is dropped and counted; default 16MiB */
    int ttl_line, ttl_column; /* where ttl is written (1-based), for the check against the
                                 queue's result_ttl; 0 when not written */
} rt_recordings;

/* Verdicts people give on analyses (docs/console.md, Feedback): kept apart from results, and
 * longer. */
typedef struct rt_feedback {
    double ttl; /* seconds an analysis' verdicts are kept after the last one, and the export's
                   records; default 90d */
    int ttl_line, ttl_column; /* where ttl is written, for the check against result_ttl */
} rt_feedback;

/* The insights job of `inquest serve` (docs/console.md, Insights): finished analyses folded into
 * daily counts in Redis as they end, ranked over a period. */
typedef struct rt_insights {
    bool enabled;     /* default true */
    double interval;  /* seconds between folds; default 1m */
    double period;    /* whole days: the default period of GET /v1/insights and /metrics; 7d */
    double retention; /* seconds the daily counts are kept; the longest period; default 90d */
    int top;          /* entries of each ranking, series of each family in /metrics; default 10 */
} rt_insights;

/* The backtest reports `inquest serve` lists (`inquest backtest --out DIR`). */
typedef struct rt_backtests {
    char **reports; /* owned: the folders to list; none: nothing is listed */
    size_t n_reports;
    size_t max_bytes; /* of one report served; default 16MiB */
} rt_backtests;

typedef struct rt_config {
    char *path;       /* owned: the file it was loaded from */
    char **analyzers; /* owned: the analyzer path, at least one folder (default "analyzers") */
    size_t n_analyzers;
    rt_limits limits;
    char *redis_url;      /* owned; NULL when there is no redis section */
    rt_auth redis_auth;   /* RT_AUTH_BASIC when redis has a password_env or password_file */
    double redis_timeout; /* seconds serve's commands wait for Redis' reply; default 0.5 */
    rt_connector *connectors;
    size_t n_connectors;
    rt_server server;
    rt_queue_config queue;
    rt_worker worker;
    rt_token *tokens;
    size_t n_tokens;
    rt_route *routes;
    size_t n_routes;
    rt_intake intake;
    rt_rule *rules;
    size_t n_rules;
    rt_policy *policies;
    size_t n_policies;
    rt_postproc postproc;
    rt_console console;

    rt_recordings recordings;
    rt_feedback feedback;
    rt_insights insights;
    rt_backtests backtests;
} rt_config;

/* Loads the config file 'path'. Every problem goes to 'errors' and every warning (a secret's
 * env var or file that does not exist) to 'warnings', as rt_diag items with file, line, column,
 * field and message. Returns RT_OK and the config in '*out' (free with rt_config_free) when
 * there is no error; RT_EINPUT when the file has problems ('*out' NULL); RT_ENOTFOUND,
 * RT_ETOOBIG or RT_EIO when it cannot be read (one item in 'errors' says why). */
int rt_config_load(const char *path, rt_config **out, rt_diag *errors, rt_diag *warnings);
void rt_config_free(rt_config *config);

/* The connector named 'name', or NULL. */
const rt_connector *rt_config_connector(const rt_config *config, const char *name);
/* "prometheus", "loki", … */
const char *rt_connector_type_name(rt_connector_type type);
/* The type named 'name' ("loki") into '*type'. Returns 0, or -1 when no type has that name. */
int rt_connector_type_parse(const char *name, rt_connector_type *type);

/* Reads the credential of 'auth' from its env var or file (a file's one trailing newline
 * dropped) into a malloc'd NUL-terminated '*secret' of '*len' bytes, at most
 * RT_CONFIG_SECRET_MAX. The caller releases it with rt_secret_free. Returns RT_OK,
 * RT_ENOTFOUND (unset variable, missing file, no auth), RT_ETOOBIG or RT_EIO; 'why' (at least
 * 256 bytes) says what happened, never quoting the secret. */
int rt_config_secret(const rt_auth *auth, char **secret, size_t *len, char *why);

/* What every call through a connector carries, secrets included: the "Name: value" header
 * lines (its headers, then the credential's header) and the base URL (its url, followed by the
 * secret path of auth type path); and the secret values a backend could echo, which answers
 * must not show (rt_http_target_options.secrets): the token, password or header value, the
 * Basic form of user:password, the secret path. Shared by the workers' connectors and the
 * post-processor so that a credential is built in one place. All owned; free with
 * rt_connector_creds_free, which overwrites the secrets. */
typedef struct rt_connector_creds {
    char **headers;
    size_t n_headers;
    char *base_url;
    char **secrets;
    size_t n_secrets;
} rt_connector_creds;

/* Reads the credential of connector 'c' and fills 'out'. Returns RT_OK, or an error of
 * rt_config_secret with 'why' (256 bytes) saying what, never quoting the secret. */
int rt_connector_creds_load(const rt_connector *c, rt_connector_creds *out, char *why);
void rt_connector_creds_free(rt_connector_creds *creds);

#endif
