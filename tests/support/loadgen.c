/* tests/support/loadgen.c -- a load generator and checker for `inquest serve`'s /v1 API
 * (docs/api.md), for the reliability tests (tests/reliability/) and the queue benchmark
 * (tests/bench/bench_queue). libcurl multi with keep-alive connections; jansson for the JSON.
 * The service it drives is started by tests/support/stack; `loadgen --help` lists the modes.
 *
 * Every mode prints one JSON object on stdout (its summary) and exits 0 when every check held,
 * 1 when one failed (the summary's "failures" says which), 2 on a usage error. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include <jansson.h>

static const char usage_text[] =
    "Usage: loadgen MODE --url API_URL [options]\n"
    "\n"
    "Modes:\n"
    "  submit    submit N analyses with unique inputs ({\"service\":\"api\",\"n\":OFFSET+i} "
    "merged\n"
    "            over --inputs); writes the acknowledged (202) ids to --ids\n"
    "      --n N  --concurrency C (64)  --batch B (1: POST /v1/analyses; >1: /v1/analyses:batch)\n"
    "      --analyzer A (svc.noop)  --inputs JSON ({})  --offset K (0)  --ids FILE\n"
    "      --retry-ms MS  retry refused (503) and failed requests after MS ms (default: no retry)\n"
    "      --allow-refusals  503s are not a failure (they must still be a clear 503\n"
    "                     {error:{code:unavailable}} with Retry-After)\n"
    "      --max-refusal-ms MS  fail when a 503 took longer than MS ms to come\n"
    "      --timeout S (600)\n"
    "  wait      wait until every id of --ids has ended (long polls ?wait=, with --concurrency),\n"
    "            and check each: a final status (in --expect-status, default ok), a result whose\n"
    "            id is the analysis' own; then read /metrics\n"
    "      --ids FILE  --concurrency C (64)  --timeout S (600)  --poll S (10)\n"
    "      --expect-status LIST  comma-separated statuses allowed (default ok; 'any': any final)\n"
    "      --expect-completed N  inquest_analyses_completed_total (all statuses) must be N: no\n"
    "                            analysis completed twice\n"
    "      --expect-duplicates N  inquest_queue_duplicate_completions_total must be N\n"
    "      --min-duplicates N     ... at least N\n"
    "  latency   on an idle system, N times one at a time: submit, then GET ?wait= until it\n"
    "            ended; reports submit → result visible p50/p90/p99/max in ms\n"
    "      --n N (200)  --analyzer A  --inputs JSON  --offset K\n"
    "      --poll-ms MS  poll with plain GETs every MS ms instead of long polls (?wait=10s)\n"
    "      --submit-wait  submit with POST ?wait=10s, whose answer is the analysis once it\n"
    "                     ended (as GET ?wait= gives it): one request instead of two\n"
    "  metrics   prints the queue's counters from /metrics as JSON\n"
    "  until     polls /metrics every 10 ms until inquest_analyses_completed_total reaches\n"
    "            --completed K (--timeout S); prints the time it took (for throughput runs)\n"
    "  hostile   malformed and hostile HTTP against the server (bad JSON, invalid UTF-8, huge\n"
    "            bodies and headers, header floods, slowloris, ...): each must get a clear 4xx\n"
    "            (a JSON error) or, where said, a close; a good request must work after each\n"
    "      --read-timeout S  the server's server.read_timeout (default 10), for slowloris\n"
    "\n"
    "Every mode prints a JSON summary on stdout; exit 0: every check held, 1: one failed,\n"
    "2: usage error.\n";

/* ---- small helpers ----------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory (%zu x %zu bytes)\n", n, size);
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "loadgen: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

/* A growing byte buffer with a cap: going over it is an error (the answer is dropped). */
typedef struct buf {
    char *data;
    size_t len, cap, max;
    bool over;
} buf;

static void buf_reset(buf *b) {
    b->len = 0;
    b->over = false;
    if (b->data)
        b->data[0] = '\0';
}

static bool buf_add(buf *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->max) {
        b->over = true;
        return false;
    }
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

/* Samples of a duration, in seconds. */
typedef struct samples {
    double *v;
    size_t n, cap;
} samples;

static void sample(samples *s, double x) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = x;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The 'q' quantile (0..1) in milliseconds; 0 without samples. Sorts the samples. */
static double quantile_ms(samples *s, double q) {
    if (!s->n)
        return 0;
    qsort(s->v, s->n, sizeof *s->v, by_value);
    size_t i = (size_t)ceil(q * (double)s->n);
    if (i > 0)
        i--;
    if (i >= s->n)
        i = s->n - 1;
    return s->v[i] * 1000;
}

static double round3(double x) {
    return round(x * 1000) / 1000;
}

/* The checks that failed, for the summary. */
static json_t *failures;

static void failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failed(const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (json_array_size(failures) < 50)
        json_array_append_new(failures, json_string(text));
    else if (json_array_size(failures) == 50)
        json_array_append_new(failures, json_string("... more failures not shown"));
    fprintf(stderr, "loadgen: check failed: %s\n", text);
}

/* Prints 'summary' (stolen) with the failures; returns the exit code. */
static int finish(json_t *summary) {
    json_object_set(summary, "failures", failures);
    json_object_set_new(summary, "ok", json_boolean(json_array_size(failures) == 0));
    char *text = json_dumps(summary, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(summary);
    return json_array_size(failures) ? 1 : 0;
}

/* ---- options ----------------------------------------------------------------------------- */

typedef struct options {
    const char *mode, *url, *ids, *analyzer, *inputs, *expect_status;
    long n, concurrency, batch, offset, completed, expect_completed, expect_duplicates,
        min_duplicates;
    double retry_ms, max_refusal_ms, timeout, poll, read_timeout, poll_ms;
    bool allow_refusals, submit_wait;
} options;

static options o = {.analyzer = "svc.noop",
                    .inputs = "{}",
                    .expect_status = "ok",
                    .n = -1,
                    .concurrency = 64,
                    .batch = 1,
                    .expect_completed = -1,
                    .expect_duplicates = -1,
                    .min_duplicates = -1,
                    .retry_ms = -1,
                    .max_refusal_ms = -1,
                    .timeout = 600,
                    .poll = 10,
                    .read_timeout = 10};

static json_t *inputs_template;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
    va_list ap;
    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (loadgen --help)\n", stderr);
    return 2;
}

static int parse_number(const char *name, const char *text, double min, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || v < min)
        return usage_error("--%s: expected a number of at least %g, got \"%s\"", name, min, text);
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv) {
    static const struct option longs[] = {
        {"url", 1, 0, 'u'},
        {"n", 1, 0, 'n'},
        {"concurrency", 1, 0, 'c'},
        {"batch", 1, 0, 'b'},
        {"analyzer", 1, 0, 'a'},
        {"inputs", 1, 0, 'i'},
        {"offset", 1, 0, 'o'},
        {"ids", 1, 0, 'I'},
        {"retry-ms", 1, 0, 'r'},
        {"allow-refusals", 0, 0, 'A'},
        {"max-refusal-ms", 1, 0, 'M'},
        {"timeout", 1, 0, 't'},
        {"poll", 1, 0, 'p'},
        {"expect-status", 1, 0, 'S'},
        {"expect-completed", 1, 0, 'C'},
        {"expect-duplicates", 1, 0, 'D'},
        {"min-duplicates", 1, 0, 'm'},
        {"read-timeout", 1, 0, 'R'},
        {"poll-ms", 1, 0, 'P'},
        {"submit-wait", 0, 0, 'W'},
        {"completed", 1, 0, 'K'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0},
    };
    int opt;
    double v;
    if (argc >= 2 && argv[1][0] != '-') {
        o.mode = argv[1];
        argv++, argc--;
    }
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (opt) {
        case 'u':
            o.url = optarg;
            break;
        case 'a':
            o.analyzer = optarg;
            break;
        case 'i':
            o.inputs = optarg;
            break;
        case 'I':
            o.ids = optarg;
            break;
        case 'S':
            o.expect_status = optarg;
            break;
        case 'A':
            o.allow_refusals = true;
            break;
        case 'W':
            o.submit_wait = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(0);
        case 'n':
        case 'c':
        case 'b':
        case 'o':
        case 'C':
        case 'D':
        case 'm':
        case 'K':
            if (parse_number("count", optarg, 0, &v))
                return 2;
            if (opt == 'n')
                o.n = (long)v;
            if (opt == 'c')
                o.concurrency = (long)v;
            if (opt == 'b')
                o.batch = (long)v;
            if (opt == 'o')
                o.offset = (long)v;
            if (opt == 'C')
                o.expect_completed = (long)v;
            if (opt == 'D')
                o.expect_duplicates = (long)v;
            if (opt == 'm')
                o.min_duplicates = (long)v;
            if (opt == 'K')
                o.completed = (long)v;
            break;
        case 'r':
            if (parse_number("retry-ms", optarg, 0, &o.retry_ms))
                return 2;
            break;
        case 'M':
            if (parse_number("max-refusal-ms", optarg, 0, &o.max_refusal_ms))
                return 2;
            break;
        case 't':
            if (parse_number("timeout", optarg, 0, &o.timeout))
                return 2;
            break;
        case 'p':
            if (parse_number("poll", optarg, 0, &o.poll))
                return 2;
            break;
        case 'P':
            if (parse_number("poll-ms", optarg, 0, &o.poll_ms))
                return 2;
            break;
        case 'R':
            if (parse_number("read-timeout", optarg, 0, &o.read_timeout))
                return 2;
            break;
        default:
            return usage_error("unknown option");
        }
    }
    if (!o.mode)
        return usage_error("a mode is needed: submit, wait, latency, metrics or hostile");
    if (!o.url)
        return usage_error("--url is needed (the API's base URL, e.g. http://127.0.0.1:8080)");
    if (o.concurrency < 1 || o.concurrency > 4096)
        return usage_error("--concurrency must be 1 to 4096");
    if (o.batch < 1 || o.batch > 1000)
        return usage_error("--batch must be 1 to 1000");
    json_error_t error;
    inputs_template = json_loads(o.inputs, 0, &error);
    if (!json_is_object(inputs_template))
        return usage_error("--inputs must be a JSON object");
    return 0;
}

/* ---- the HTTP engine: C slots, each a keep-alive easy handle, on one multi --------------- */

typedef struct slot slot;
/* Called once a slot's request ended: 'code' is curl's, 'status' the HTTP status (0 without an
 * answer). */
typedef void (*done_fn)(slot *s, CURLcode code, long status);

struct slot {
    CURL *easy;
    buf body;
    char *post; /* owned request body */
    struct curl_slist *headers;
    char retry_after[32];
    bool busy;
    double t0;
    done_fn done;
    size_t first, count; /* the items it carries */
};

typedef struct engine {
    CURLM *multi;
    slot *slots;
    size_t n;
    size_t busy;
} engine;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    slot *s = ud;
    buf_add(&s->body, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    slot *s = ud;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        size_t i = 12;
        while (i < len && p[i] == ' ')
            i++;
        size_t k = 0;
        while (i < len && k + 1 < sizeof s->retry_after && p[i] != '\r' && p[i] != '\n')
            s->retry_after[k++] = p[i++];
        s->retry_after[k] = '\0';
    }
    return len;
}

static void engine_init(engine *e, size_t n) {
    memset(e, 0, sizeof *e);
    e->multi = curl_multi_init();
    curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, (long)n + 16);
    e->slots = xcalloc(n, sizeof *e->slots);
    e->n = n;
    for (size_t i = 0; i < n; i++) {
        slot *s = &e->slots[i];
        s->easy = curl_easy_init();
        s->body.max = 256u << 20;
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        if (getenv("LOADGEN_VERBOSE"))
            curl_easy_setopt(s->easy, CURLOPT_VERBOSE, 1L);
        curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)((o.poll + 30) * 1000));
    }
}

static void engine_free(engine *e) {
    for (size_t i = 0; i < e->n; i++) {
        curl_easy_cleanup(e->slots[i].easy);
        free(e->slots[i].body.data);
        free(e->slots[i].post);
        curl_slist_free_all(e->slots[i].headers);
    }
    free(e->slots);
    curl_multi_cleanup(e->multi);
}

/* Starts a request on the free slot 's': GET 'url', or POST 'post' (stolen) when not NULL. */
static void engine_start(engine *e, slot *s, const char *url, char *post, done_fn done) {
    buf_reset(&s->body);
    s->retry_after[0] = '\0';
    free(s->post);
    s->post = post;
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    if (post) {
        s->headers = curl_slist_append(NULL, "Content-Type: application/json");
        s->headers = curl_slist_append(s->headers, "Expect:");
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
    } else {
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
    }
    s->done = done;
    s->busy = true;
    s->t0 = now_s();
    e->busy++;
    curl_multi_add_handle(e->multi, s->easy);
}

/* Calls the done functions of the transfers that ended. */
static void engine_reap(engine *e) {
    int left = 0;
    CURLMsg *m;
    while ((m = curl_multi_info_read(e->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        slot *s = NULL;
        long status = 0;
        CURLcode code = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(e->multi, m->easy_handle);
        s->busy = false;
        e->busy--;
        s->done(s, code, code == CURLE_OK ? status : 0);
    }
}

/* Runs the transfers for up to 'wait_ms', calling the done functions of those that end. */
static void engine_step(engine *e, int wait_ms) {
    int running = 0;
    curl_multi_perform(e->multi, &running);
    engine_reap(e);
    if (e->busy)
        curl_multi_poll(e->multi, NULL, 0, wait_ms, NULL);
    else if (wait_ms > 0)
        usleep((useconds_t)wait_ms * 1000);
    curl_multi_perform(e->multi, &running);
    engine_reap(e);
}

static slot *free_slot(engine *e) {
    for (size_t i = 0; i < e->n; i++)
        if (!e->slots[i].busy)
            return &e->slots[i];
    return NULL;
}

static char *url_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *url_of(const char *fmt, ...) {
    static char url[1024];
    va_list ap;
    int n = snprintf(url, sizeof url, "%s", o.url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    va_start(ap, fmt);
    vsnprintf(url + n, sizeof url - (size_t)n, fmt, ap);
    va_end(ap);
    return url;
}

/* The error code of an API error answer, or NULL. */
static const char *error_code(json_t *answer) {
    return json_string_value(json_object_get(json_object_get(answer, "error"), "code"));
}

/* ---- a work list of item indices, with delayed retries ----------------------------------- */

typedef struct worklist {
    size_t *ready; /* a FIFO ring of indices */
    size_t head, len, cap;
    size_t *later; /* indices waiting for 'due' */
    double *due;
    size_t n_later;
} worklist;

static void wl_init(worklist *w, size_t cap) {
    w->ready = xcalloc(cap, sizeof *w->ready);
    w->later = xcalloc(cap, sizeof *w->later);
    w->due = xcalloc(cap, sizeof *w->due);
    w->cap = cap;
}

static void wl_push(worklist *w, size_t i) {
    w->ready[(w->head + w->len++) % w->cap] = i;
}

static bool wl_pop(worklist *w, size_t *i) {
    double t = now_s();
    for (size_t k = 0; k < w->n_later;) /* move what is due */
        if (w->due[k] <= t) {
            wl_push(w, w->later[k]);
            w->later[k] = w->later[--w->n_later];
            w->due[k] = w->due[w->n_later];
        } else
            k++;
    if (!w->len)
        return false;
    *i = w->ready[w->head];
    w->head = (w->head + 1) % w->cap;
    w->len--;
    return true;
}

static void wl_delay(worklist *w, size_t i, double seconds) {
    w->later[w->n_later] = i;
    w->due[w->n_later++] = now_s() + seconds;
}

static void wl_free(worklist *w) {
    free(w->ready);
    free(w->later);
    free(w->due);
}

/* ---- /metrics ---------------------------------------------------------------------------- */

/* The value of the series 'name' (with its labels, as written) in the exposition 'text'; the
 * sum of every series of that family when 'name' has no '{'; -1 when absent. */
static double metric(const char *text, const char *name) {
    double total = -1;
    size_t n = strlen(name);
    bool family = !strchr(name, '{');
    for (const char *line = text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (*line == '#' || strncmp(line, name, n) != 0)
            continue;
        const char *rest = line + n;
        if (family && *rest == '{')
            rest = strchr(rest, '}') ? strchr(rest, '}') + 1 : rest;
        if (*rest != ' ')
            continue;
        total = (total < 0 ? 0 : total) + strtod(rest + 1, NULL);
    }
    return total;
}

static buf metrics_text;
static bool metrics_ok;

static void got_metrics(slot *s, CURLcode code, long status) {
    metrics_ok = code == CURLE_OK && status == 200;
    buf_reset(&metrics_text);
    if (metrics_ok)
        buf_add(&metrics_text, s->body.data, s->body.len);
}

/* Reads /metrics into a JSON object of the queue's counters; NULL when it cannot. */
static json_t *read_metrics(void) {
    engine e;
    engine_init(&e, 1);
    metrics_text.max = 64u << 20;
    metrics_ok = false;
    engine_start(&e, &e.slots[0], url_of("/metrics"), NULL, got_metrics);
    double deadline = now_s() + 30;
    while (e.busy && now_s() < deadline)
        engine_step(&e, 100);
    engine_free(&e);
    if (!metrics_ok)
        return NULL;
    const char *t = metrics_text.data;
    json_t *m = json_object();
    static const char *const names[][2] = {
        {"queue_up", "inquest_queue_up"},
        {"submitted", "inquest_analyses_submitted_total"},
        {"deduplicated", "inquest_analyses_deduplicated_total"},
        {"completed", "inquest_analyses_completed_total"},
        {"completed_ok", "inquest_analyses_completed_total{status=\"ok\"}"},
        {"completed_error", "inquest_analyses_completed_total{status=\"error\"}"},
        {"completed_timeout", "inquest_analyses_completed_total{status=\"timeout\"}"},
        {"completed_cancelled", "inquest_analyses_completed_total{status=\"cancelled\"}"},
        {"completed_dead", "inquest_analyses_completed_total{status=\"dead\"}"},
        {"duplicates", "inquest_queue_duplicate_completions_total"},
        {"reclaims", "inquest_queue_reclaims_total"},
        {"dead_letters", "inquest_queue_dead_letters_total"},
        {"running", "inquest_analyses_running"},
        {"queued", "inquest_queue_depth"},
        {"submit_unavailable", "inquest_submit_unavailable_total"},
        {"http_requests", "inquest_http_requests_total"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        double v = metric(t, names[i][1]);
        json_object_set_new(m, names[i][0], v < 0 ? json_null() : json_integer((json_int_t)v));
    }
    return m;
}

static long long metric_int(json_t *m, const char *key) {
    json_t *v = json_object_get(m, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static int mode_metrics(void) {
    json_t *m = read_metrics();
    if (!m) {
        failed("GET /metrics did not answer 200");
        m = json_object();
    }
    return finish(json_pack("{s:s, s:o}", "mode", "metrics", "metrics", m));
}

static int mode_until(void) {
    double t0 = now_s(), deadline = t0 + o.timeout;
    long long completed = -1;
    for (;;) {
        json_t *m = read_metrics();
        completed = m ? metric_int(m, "completed") : -1;
        json_decref(m);
        if (completed >= o.completed || now_s() > deadline)
            break;
        usleep(10000);
    }
    if (completed < o.completed)
        failed("completed %lld, not %ld, within %.0f s", completed, o.completed, o.timeout);
    return finish(json_pack("{s:s, s:I, s:f}", "mode", "until", "completed", (json_int_t)completed,
                            "elapsed_s", round3(now_s() - t0)));
}

/* ---- submit ------------------------------------------------------------------------------ */

typedef struct submit_state {
    engine e;
    worklist w;
    size_t n;
    char **ids;          /* per item, once acknowledged */
    unsigned char *done; /* per item: 1 acknowledged, 2 refused for good */
    size_t acked, remaining;
    long long answers_503, answers_other, transport_errors, unclear_refusals, retries;
    long long deduplicated;
    samples latency, refusal_latency;
    json_t *other_codes; /* { "status code": count } */
} submit_state;

static submit_state sub;

/* Appends the request of analysis 'i' to 'b': the inputs template, with service "api" unless it
 * has one, and n = offset + i. The part after n is rendered once: written as text, a request
 * costs the load generator a fraction of what it costs the server (with jansson it was half). */
static void add_analysis(buf *b, size_t i) {
    static buf head = {.max = SIZE_MAX}, rest = {.max = SIZE_MAX};
    if (!head.data) {
        json_t *inputs = json_deep_copy(inputs_template), *analyzer = json_string(o.analyzer);
        if (!json_object_get(inputs, "service"))
            json_object_set_new(inputs, "service", json_string("api"));
        json_object_del(inputs, "n");
        char *fields = json_dumps(inputs, JSON_COMPACT),
             *name = json_dumps(analyzer, JSON_ENCODE_ANY);
        buf_add(&head, "{\"analyzer\":", 12);
        buf_add(&head, name, strlen(name));
        buf_add(&head, ",\"inputs\":{\"n\":", 15);
        if (json_object_size(inputs))
            buf_add(&rest, ",", 1);
        buf_add(&rest, fields + 1, strlen(fields + 1)); /* the fields and the closing brace */
        buf_add(&rest, "}", 1);
        free(fields);
        free(name);
        json_decref(analyzer);
        json_decref(inputs);
    }
    char n[24];
    int len = snprintf(n, sizeof n, "%ld", o.offset + (long)i);
    buf_add(b, head.data, head.len);
    buf_add(b, n, (size_t)len);
    buf_add(b, rest.data, rest.len);
}

/* The body of one request of 'count' analyses from 'first' (the batch endpoint's when 'batch'). */
static char *requests_text(size_t first, size_t count, bool batch) {
    buf b = {.max = SIZE_MAX};
    if (batch)
        buf_add(&b, "{\"analyses\":[", 13);
    for (size_t k = 0; k < count; k++) {
        if (k)
            buf_add(&b, ",", 1);
        add_analysis(&b, first + k);
    }
    if (batch)
        buf_add(&b, "]}", 2);
    return b.data;
}

static void submit_again(size_t first, size_t count) {
    for (size_t k = 0; k < count; k++) {
        if (o.retry_ms >= 0) {
            wl_delay(&sub.w, first + k, o.retry_ms / 1000);
        } else {
            sub.done[first + k] = 2;
            sub.remaining--;
        }
    }
    if (o.retry_ms >= 0)
        sub.retries += (long long)count;
}

static void acknowledge(size_t i, json_t *answer) {
    const char *id = json_string_value(json_object_get(answer, "id"));
    if (!id || sub.done[i]) {
        if (!id)
            failed("item %zu: accepted without an id", i);
        return;
    }
    if (json_is_true(json_object_get(answer, "deduplicated")))
        sub.deduplicated++;
    sub.ids[i] = strdup(id);
    sub.done[i] = 1;
    sub.acked++;
    sub.remaining--;
}

static void count_other(long status) {
    char key[16];
    snprintf(key, sizeof key, "%ld", status);
    json_t *v = json_object_get(sub.other_codes, key);
    json_object_set_new(sub.other_codes, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static void submitted(slot *s, CURLcode code, long status) {
    double took = now_s() - s->t0;
    json_t *answer =
        status ? json_loadb(s->body.data ? s->body.data : "", s->body.len, 0, NULL) : NULL;
    if (code != CURLE_OK) {
        sub.transport_errors++;
        submit_again(s->first, s->count);
    } else if (status == 503) {
        sub.answers_503++;
        sample(&sub.refusal_latency, took);
        const char *c = error_code(answer);
        if (!c || strcmp(c, "unavailable") != 0 || !*s->retry_after) {
            sub.unclear_refusals++;
            if (sub.unclear_refusals <= 3)
                failed("a 503 without {error:{code:unavailable}} and Retry-After: %.200s",
                       s->body.data ? s->body.data : "");
        }
        if (o.max_refusal_ms >= 0 && took * 1000 > o.max_refusal_ms)
            failed("a 503 took %.1f ms (limit %.0f ms)", took * 1000, o.max_refusal_ms);
        submit_again(s->first, s->count);
    } else if (o.batch == 1 && status == 202) {
        sample(&sub.latency, took);
        acknowledge(s->first, answer);
    } else if (o.batch > 1 && status == 200) {
        sample(&sub.latency, took);
        json_t *list = json_object_get(answer, "analyses");
        for (size_t k = 0; k < s->count; k++) {
            json_t *a = json_array_get(list, k);
            if (json_object_get(a, "id"))
                acknowledge(s->first + k, a);
            else {
                sub.answers_other++;
                count_other(status);
                failed("batch item %zu refused: %.300s", s->first + k, json_dumps(a, JSON_COMPACT));
                sub.done[s->first + k] = 2;
                sub.remaining--;
            }
        }
    } else {
        sub.answers_other++;
        count_other(status);
        if (sub.answers_other <= 3)
            failed("submit answered %ld: %.300s", status, s->body.data ? s->body.data : "");
        submit_again(s->first, s->count);
    }
    json_decref(answer);
}

/* Starts the next submission (or batch) on 's'; false when nothing is ready to go. */
static bool submit_next(slot *s) {
    size_t idx[1000], k = 0, i;
    while (k < (size_t)o.batch && wl_pop(&sub.w, &i))
        idx[k++] = i;
    if (!k)
        return false;
    /* Requeued indices may come in any order: a batch carries consecutive ones only, so split
     * where they are not (the rest goes back to the front of the line as single retries). */
    size_t run = 1;
    while (run < k && idx[run] == idx[0] + run)
        run++;
    for (size_t r = run; r < k; r++)
        wl_delay(&sub.w, idx[r], 0);
    char *text = requests_text(idx[0], run, o.batch > 1);
    s->first = idx[0];
    s->count = run;
    engine_start(&sub.e, s, url_of(o.batch == 1 ? "/v1/analyses" : "/v1/analyses:batch"), text,
                 submitted);
    return true;
}

static int mode_submit(void) {
    if (o.n < 0)
        return usage_error("submit needs --n");
    sub.n = (size_t)o.n;
    sub.remaining = sub.n;
    sub.ids = xcalloc(sub.n, sizeof *sub.ids);
    sub.done = xcalloc(sub.n, 1);
    sub.other_codes = json_object();
    wl_init(&sub.w, sub.n + 1);
    for (size_t i = 0; i < sub.n; i++)
        wl_push(&sub.w, i);
    engine_init(&sub.e, (size_t)o.concurrency);
    double t0 = now_s(), deadline = t0 + o.timeout;
    while ((sub.remaining || sub.e.busy) && now_s() < deadline) {
        slot *s;
        while ((s = free_slot(&sub.e)) && submit_next(s))
            ;
        engine_step(&sub.e, sub.e.busy ? 50 : 5);
    }
    double elapsed = now_s() - t0;
    if (sub.remaining)
        failed("%zu submissions not answered within %.0f s", sub.remaining, o.timeout);
    if (sub.acked < sub.n && !o.allow_refusals)
        failed("%zu of %zu submissions acknowledged", sub.acked, sub.n);
    if (o.ids) {
        FILE *f = fopen(o.ids, "w");
        if (!f) {
            failed("cannot write %s: %s", o.ids, strerror(errno));
        } else {
            for (size_t i = 0; i < sub.n; i++)
                if (sub.ids[i])
                    fprintf(f, "%s\n", sub.ids[i]);
            fclose(f);
        }
    }
    json_t *summary = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
        "mode", "submit", "n", (json_int_t)sub.n, "acknowledged", (json_int_t)sub.acked,
        "deduplicated", (json_int_t)sub.deduplicated, "unavailable_503",
        (json_int_t)sub.answers_503, "unclear_refusals", (json_int_t)sub.unclear_refusals,
        "other_answers", (json_int_t)sub.answers_other, "transport_errors",
        (json_int_t)sub.transport_errors, "retries", (json_int_t)sub.retries, "other_codes",
        sub.other_codes, "elapsed_s", round3(elapsed), "rate_per_s",
        round3((double)sub.acked / (elapsed > 0 ? elapsed : 1)), "request_p50_ms",
        round3(quantile_ms(&sub.latency, 0.5)), "request_p99_ms",
        round3(quantile_ms(&sub.latency, 0.99)), "refusal_p50_ms",
        round3(quantile_ms(&sub.refusal_latency, 0.5)), "refusal_p99_ms",
        round3(quantile_ms(&sub.refusal_latency, 0.99)), "refusal_max_ms",
        round3(quantile_ms(&sub.refusal_latency, 1)));
    engine_free(&sub.e);
    wl_free(&sub.w);
    for (size_t i = 0; i < sub.n; i++)
        free(sub.ids[i]);
    free(sub.ids);
    free(sub.done);
    return finish(summary);
}

/* ---- wait -------------------------------------------------------------------------------- */

typedef struct wait_state {
    engine e;
    worklist w;
    char **ids;
    size_t n, remaining;
    json_t *statuses;   /* { status: count } */
    json_t *deliveries; /* { "1": count, "2": ..., } */
    long long not_found, bad_results, unavailable, transport_errors, polls, unexpected;
} wait_state;

static wait_state wt;

static bool is_final(const char *status) {
    return status && strcmp(status, "queued") != 0 && strcmp(status, "running") != 0;
}

static bool status_allowed(const char *status) {
    if (strcmp(o.expect_status, "any") == 0)
        return true;
    size_t n = strlen(status);
    for (const char *p = o.expect_status; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, status, n) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

static void bump(json_t *counts, const char *key) {
    json_t *v = json_object_get(counts, key);
    json_object_set_new(counts, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static void polled(slot *s, CURLcode code, long status) {
    size_t i = s->first;
    const char *id = wt.ids[i];
    wt.polls++;
    if (code != CURLE_OK || status == 503 || status == 0) {
        code != CURLE_OK ? wt.transport_errors++ : wt.unavailable++;
        wl_delay(&wt.w, i, 0.2);
        return;
    }
    if (status == 404) {
        wt.not_found++;
        if (wt.not_found <= 5)
            failed("analysis %s: 404, lost", id);
        wt.remaining--;
        return;
    }
    json_t *a = json_loadb(s->body.data ? s->body.data : "", s->body.len, 0, NULL);
    const char *st = json_string_value(json_object_get(a, "status"));
    if (status != 200 || !st) {
        wt.unexpected++;
        if (wt.unexpected <= 5)
            failed("analysis %s: answered %ld: %.200s", id, status,
                   s->body.data ? s->body.data : "");
        wl_delay(&wt.w, i, 0.2);
        json_decref(a);
        return;
    }
    if (!is_final(st)) {
        wl_delay(&wt.w, i, 0); /* the long poll has waited already */
        json_decref(a);
        return;
    }
    wt.remaining--;
    bump(wt.statuses, st);
    char d[16];
    snprintf(d, sizeof d, "%lld", (long long)json_integer_value(json_object_get(a, "deliveries")));
    bump(wt.deliveries, d);
    if (!status_allowed(st)) {
        wt.unexpected++;
        if (wt.unexpected <= 5)
            failed("analysis %s ended %s (expected %s): %.300s", id, st, o.expect_status,
                   json_string_value(json_object_get(a, "error"))
                       ? json_string_value(json_object_get(a, "error"))
                       : "");
    }
    json_t *result = json_object_get(a, "result");
    if (strcmp(st, "dead") != 0) {
        const char *rid = json_string_value(json_object_get(result, "id"));
        const char *rst = json_string_value(json_object_get(result, "status"));
        if (!rid || strcmp(rid, id) != 0 || !rst || strcmp(rst, st) != 0) {
            wt.bad_results++;
            if (wt.bad_results <= 5)
                failed("analysis %s: its result is not its own (result id %s, status %s)", id,
                       rid ? rid : "none", rst ? rst : "none");
        }
    }
    json_decref(a);
}

static bool poll_next(slot *s) {
    size_t i;
    if (!wl_pop(&wt.w, &i))
        return false;
    s->first = i;
    s->count = 1;
    char wait[32];
    snprintf(wait, sizeof wait, "%gs", o.poll);
    engine_start(&wt.e, s, url_of("/v1/analyses/%s?wait=%s", wt.ids[i], wait), NULL, polled);
    return true;
}

static char **read_ids(const char *path, size_t *n) {
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[256], **ids = NULL;
    size_t cap = 0;
    *n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n \t")] = '\0';
        if (!*line)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            ids = xrealloc(ids, cap * sizeof *ids);
        }
        ids[(*n)++] = strdup(line);
    }
    fclose(f);
    return ids ? ids : xcalloc(1, sizeof *ids);
}

static void check_metrics(json_t *m) {
    if (!m) {
        failed("GET /metrics did not answer 200");
        return;
    }
    long long completed = metric_int(m, "completed"), dups = metric_int(m, "duplicates");
    if (o.expect_completed >= 0 && completed != o.expect_completed)
        failed("inquest_analyses_completed_total is %lld, expected %ld (one result each)",
               completed, o.expect_completed);
    if (o.expect_duplicates >= 0 && dups != o.expect_duplicates)
        failed("inquest_queue_duplicate_completions_total is %lld, expected %ld", dups,
               o.expect_duplicates);
    if (o.min_duplicates >= 0 && dups < o.min_duplicates)
        failed("inquest_queue_duplicate_completions_total is %lld, expected at least %ld", dups,
               o.min_duplicates);
}

static int mode_wait(void) {
    if (!o.ids)
        return usage_error("wait needs --ids FILE");
    wt.ids = read_ids(o.ids, &wt.n);
    if (!wt.ids) {
        failed("cannot read %s: %s", o.ids, strerror(errno));
        return finish(json_pack("{s:s}", "mode", "wait"));
    }
    wt.remaining = wt.n;
    wt.statuses = json_object();
    wt.deliveries = json_object();
    wl_init(&wt.w, wt.n + 1);
    for (size_t i = 0; i < wt.n; i++)
        wl_push(&wt.w, i);
    engine_init(&wt.e, (size_t)o.concurrency);
    double t0 = now_s(), deadline = t0 + o.timeout;
    while ((wt.remaining || wt.e.busy) && now_s() < deadline) {
        slot *s;
        while ((s = free_slot(&wt.e)) && poll_next(s))
            ;
        engine_step(&wt.e, wt.e.busy ? 50 : 5);
    }
    double elapsed = now_s() - t0;
    if (wt.remaining)
        failed("%zu of %zu analyses did not end within %.0f s", wt.remaining, wt.n, o.timeout);
    engine_free(&wt.e);
    json_t *m = read_metrics();
    check_metrics(m);
    json_t *summary = json_pack(
        "{s:s, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:f, s:o}", "mode", "wait", "n",
        (json_int_t)wt.n, "finished", (json_int_t)(wt.n - wt.remaining), "statuses", wt.statuses,
        "deliveries", wt.deliveries, "not_found", (json_int_t)wt.not_found, "bad_results",
        (json_int_t)wt.bad_results, "unavailable", (json_int_t)wt.unavailable, "transport_errors",
        (json_int_t)wt.transport_errors, "polls", (json_int_t)wt.polls, "elapsed_s",
        round3(elapsed), "metrics", m ? m : json_null());
    wl_free(&wt.w);
    for (size_t i = 0; i < wt.n; i++)
        free(wt.ids[i]);
    free(wt.ids);
    return finish(summary);
}

/* ---- latency ----------------------------------------------------------------------------- */

static long last_status;
static CURLcode last_code;
static char *last_body;

static void remember(slot *s, CURLcode code, long status) {
    last_code = code;
    last_status = status;
    free(last_body);
    last_body = strdup(s->body.data ? s->body.data : "");
}

/* One request on 'e', waited for. */
static void one(engine *e, const char *url, char *post) {
    engine_start(e, &e->slots[0], url, post, remember);
    while (e->busy)
        engine_step(e, 2); /* short waits: nothing of curl's own timers adds to the latency */
}

static int mode_latency(void) {
    engine e;
    samples total = {0}, submit = {0};
    long n = o.n < 0 ? 200 : o.n, errors = 0, over_1s = 0;
    engine_init(&e, 1);
    for (long i = 0; i < n; i++) {
        char *text = requests_text((size_t)i, 1, false);
        double t0 = now_s();
        one(&e, url_of(o.submit_wait ? "/v1/analyses?wait=10s" : "/v1/analyses"), text);
        json_t *a = json_loads(last_body, 0, NULL);
        const char *id = json_string_value(json_object_get(a, "id"));
        if (last_status != (o.submit_wait ? 200 : 202) || !id) {
            if (++errors <= 3)
                failed("submit answered %ld: %.200s", last_status, last_body);
            json_decref(a);
            continue;
        }
        sample(&submit, now_s() - t0);
        char path[128];
        if (o.poll_ms > 0)
            snprintf(path, sizeof path, "/v1/analyses/%s", id);
        else
            snprintf(path, sizeof path, "/v1/analyses/%s?wait=10s", id);
        /* submitted with ?wait=, the answer is the analysis as GET ?wait= gives it */
        const char *st = o.submit_wait ? json_string_value(json_object_get(a, "status")) : NULL;
        double give_up = now_s() + 30;
        for (bool first = true; !is_final(st) && now_s() < give_up; first = false) {
            if (!first && o.poll_ms > 0)
                usleep((useconds_t)(o.poll_ms * 1000));
            json_decref(a);
            one(&e, url_of("%s", path), NULL);
            a = json_loads(last_body, 0, NULL);
            st = json_string_value(json_object_get(a, "status"));
            if (last_status != 200)
                break;
        }
        if (last_status == 200 && is_final(st)) {
            sample(&total, now_s() - t0);
            if (now_s() - t0 > 1)
                over_1s++;
        } else if (++errors <= 3)
            failed("analysis did not end: %ld %.200s", last_status, last_body);
        json_decref(a);
    }
    engine_free(&e);
    double mean = 0;
    for (size_t i = 0; i < total.n; i++)
        mean += total.v[i];
    mean = total.n ? mean / (double)total.n * 1000 : 0;
    json_t *report = json_pack(
        "{s:s, s:s, s:i, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "mode", "latency", "method",
        o.submit_wait   ? "submit_wait"
        : o.poll_ms > 0 ? "poll"
                        : "long_poll",
        "n", (int)n, "errors", (json_int_t)errors, "over_1s", (json_int_t)over_1s, "p50_ms",
        round3(quantile_ms(&total, 0.5)), "p90_ms", round3(quantile_ms(&total, 0.9)), "p99_ms",
        round3(quantile_ms(&total, 0.99)), "max_ms", round3(quantile_ms(&total, 1)), "mean_ms",
        round3(mean), "submit_p50_ms", round3(quantile_ms(&submit, 0.5)), "submit_p99_ms",
        round3(quantile_ms(&submit, 0.99)));
    free(total.v);
    free(submit.v);
    return finish(report);
}

/* ---- hostile ----------------------------------------------------------------------------- */

static char host[128] = "127.0.0.1";
static int port;

static int parse_url(void) {
    const char *p = strstr(o.url, "://");
    p = p ? p + 3 : o.url;
    const char *colon = strrchr(p, ':');
    if (!colon)
        return -1;
    size_t n = (size_t)(colon - p);
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, p, n);
    host[n] = '\0';
    port = atoi(colon + 1);
    return port > 0 ? 0 : -1;
}

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one_ = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one_, sizeof one_);
    return fd;
}

/* True once 'r' holds a whole answer (headers, and a Content-Length body). */
static bool answer_complete(const buf *r) {
    const char *end = r->data ? strstr(r->data, "\r\n\r\n") : NULL;
    if (!end)
        return false;
    const char *cl = strcasestr(r->data, "\r\nContent-Length:");
    if (!cl || cl > end)
        return true;
    size_t want = (size_t)strtoul(cl + 17, NULL, 10);
    return r->len >= (size_t)(end + 4 - r->data) + want;
}

typedef struct exchange {
    int status;     /* the answer's, 0 when none came */
    bool closed;    /* the server closed the connection */
    double seconds; /* until the answer (or the close) */
    buf answer;
} exchange;

/* Sends 'len' bytes of 'data' on 'fd' while reading, until a whole answer came, the server
 * closed, or 'timeout' seconds passed. Sending stops at an error (the server may close early). */
static void converse(int fd, const char *data, size_t len, double timeout, exchange *x) {
    size_t sent = 0;
    double t0 = now_s();
    memset(x, 0, sizeof *x);
    x->answer.max = 1u << 20;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    bool can_send = true;
    while (now_s() - t0 < timeout) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (can_send && sent < len ? POLLOUT : 0)};
        if (poll(&p, 1, 50) < 0)
            break;
        if (p.revents & POLLOUT) {
            ssize_t n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                can_send = false;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            char chunk[65536];
            ssize_t n = recv(fd, chunk, sizeof chunk, 0);
            if (n > 0) {
                buf_add(&x->answer, chunk, (size_t)n);
                if (answer_complete(&x->answer))
                    break;
            } else if (n == 0 || errno != EAGAIN) {
                x->closed = true;
                break;
            }
        }
    }
    x->seconds = now_s() - t0;
    if (x->answer.data && strncmp(x->answer.data, "HTTP/1.", 7) == 0)
        x->status = atoi(x->answer.data + 9);
}

/* The JSON error code of the answer in 'x', or NULL. */
static char *answer_code(const exchange *x) {
    const char *body = x->answer.data ? strstr(x->answer.data, "\r\n\r\n") : NULL;
    if (!body)
        return NULL;
    json_t *j = json_loads(body + 4, 0, NULL);
    const char *c = error_code(j);
    char *copy = c ? strdup(c) : NULL;
    json_decref(j);
    return copy;
}

static char *request(const char *method, const char *path, const char *extra_headers,
                     const char *body, size_t body_len, size_t *len) {
    size_t cap = body_len + strlen(path) + (extra_headers ? strlen(extra_headers) : 0) + 512;
    char *r = xmalloc(cap);
    int n = snprintf(r, cap,
                     "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%sContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, host, port, extra_headers ? extra_headers : "", body_len);
    memcpy(r + n, body, body_len);
    *len = (size_t)n + body_len;
    return r;
}

static json_t *hostile_results;
static const char *want_code; /* the error code the next case must carry, or NULL */
static int good_seq;

/* A good request works now: a valid submission is accepted, on a fresh connection. */
static bool good_request_works(const char *after) {
    char body[256];
    size_t len;
    snprintf(body, sizeof body,
             "{\"analyzer\":\"svc.noop\",\"inputs\":{\"service\":\"hostile\",\"n\":%d}}",
             ++good_seq + (int)o.offset);
    char *r = request("POST", "/v1/analyses", NULL, body, strlen(body), &len);
    exchange x;
    int fd = dial();
    if (fd < 0) {
        failed("after %s: cannot connect to the server any more", after);
        free(r);
        return false;
    }
    converse(fd, r, len, 5, &x);
    close(fd);
    free(r);
    free(x.answer.data);
    if (x.status != 202) {
        failed("after %s: a good submission got %d instead of 202", after, x.status);
        return false;
    }
    return true;
}

/* Runs one hostile case: sends 'data', expects one of the statuses in 'expect' (0-terminated;
 * a 0 first means "a close without an answer is fine too"), with a JSON error body for any 4xx. */
static void hostile_case(const char *name, const char *data, size_t len, const int *expect,
                         double timeout) {
    exchange x;
    int fd = dial();
    if (fd < 0) {
        failed("%s: cannot connect", name);
        return;
    }
    converse(fd, data, len, timeout, &x);
    close(fd);
    char *code = answer_code(&x);
    bool ok = false, close_ok = expect[0] == -1;
    for (const int *e = expect + (close_ok ? 1 : 0); *e; e++)
        ok |= x.status == *e;
    if (!x.status && close_ok && x.closed)
        ok = true;
    if (x.status >= 400 && x.status < 500 && !code) {
        ok = false;
        failed("%s: %d without a JSON error body", name, x.status);
    } else if (ok && want_code && (!code || strcmp(code, want_code) != 0)) {
        ok = false;
        failed("%s: error code %s, expected %s", name, code ? code : "none", want_code);
    } else if (!ok)
        failed("%s: got %d%s (code %s) after %.2f s", name, x.status, x.closed ? ", closed" : "",
               code ? code : "none", x.seconds);
    json_array_append_new(hostile_results,
                          json_pack("{s:s, s:i, s:s*, s:b, s:f, s:b}", "case", name, "status",
                                    x.status, "code", code, "closed", x.closed, "seconds",
                                    round3(x.seconds), "ok", ok));
    free(code);
    free(x.answer.data);
    want_code = NULL;
    good_request_works(name);
}

static void post_case(const char *name, const char *body, size_t body_len, const int *expect) {
    size_t len;
    if (body_len == SIZE_MAX)
        body_len = strlen(body);
    char *r = request("POST", "/v1/analyses", NULL, body, body_len, &len);
    hostile_case(name, r, len, expect, 10);
    free(r);
}

/* 'n' connections that send a request's first bytes and then one byte every 'gap' seconds
 * ('body': headers complete, the body trickles). While they are open, a good request must be
 * answered at once; the server must close each within read_timeout + slack. */
static void slowloris(const char *name, int n, bool body) {
    int *fds = xcalloc((size_t)n, sizeof *fds);
    const char *head =
        body ? "POST /v1/analyses HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"
             : "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    int open_ = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = dial();
        if (fds[i] >= 0) {
            send(fds[i], head, strlen(head), MSG_NOSIGNAL);
            fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
            open_++;
        }
    }
    double t0 = now_s(), limit = o.read_timeout + 5, good_at = -1;
    int closed = 0, answered_408 = 0;
    bool *gone = xcalloc((size_t)n, sizeof *gone);
    while (closed < open_ && now_s() - t0 < limit) {
        for (int i = 0; i < n; i++) {
            if (fds[i] < 0 || gone[i])
                continue;
            send(fds[i], body ? " " : "X", 1, MSG_NOSIGNAL);
            char chunk[4096];
            ssize_t k = recv(fds[i], chunk, sizeof chunk, 0);
            if (k > 0 && strncmp(chunk, "HTTP/1.1 408", 12) == 0)
                answered_408++;
            if (k == 0 || (k < 0 && errno != EAGAIN) || k > 0) {
                gone[i] = true;
                closed++;
            }
        }
        if (good_at < 0 && now_s() - t0 > 0.5) {
            double g0 = now_s();
            if (good_request_works(name))
                good_at = now_s() - g0;
        }
        usleep(300000);
    }
    double took = now_s() - t0;
    if (closed < open_)
        failed("%s: %d of %d slow connections still open after %.1f s (read_timeout %.0f s)", name,
               open_ - closed, open_, took, o.read_timeout);
    if (good_at < 0)
        failed("%s: no good request was answered while slow clients held connections", name);
    json_array_append_new(hostile_results,
                          json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:b}", "case", name,
                                    "connections", open_, "closed", closed, "answered_408",
                                    answered_408, "seconds", round3(took), "good_request_ms",
                                    round3(good_at * 1000), "ok", closed == open_ && good_at >= 0));
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    free(gone);
    good_request_works(name);
}

static int mode_hostile(void) {
    if (parse_url() != 0)
        return usage_error("--url: expected http://HOST:PORT");
    hostile_results = json_array();
    static const int bad[] = {400, 0}, bad_or_close[] = {-1, 400, 0};
    static const int too_large[] = {413, 0}, headers_large[] = {-1, 431, 400, 0};
    static const int not_found[] = {404, 0}, url_large[] = {-1, 414, 431, 400, 0};
    static const int bad_or_413[] = {-1, 400, 413, 0};
    if (!good_request_works("start"))
        return finish(json_pack("{s:s, s:o}", "mode", "hostile", "cases", hostile_results));

    /* Bodies. */
    want_code = "bad_request";
    post_case("bad_json", "{\"analyzer\":", SIZE_MAX, bad);
    post_case("not_an_object", "[1,2,3]", SIZE_MAX, bad);
    post_case("wrong_types", "{\"analyzer\":5,\"inputs\":[]}", SIZE_MAX, bad);
    post_case("unknown_field", "{\"analyzer\":\"svc.noop\",\"bogus\":1}", SIZE_MAX, bad);
    post_case("unknown_analyzer", "{\"analyzer\":\"no.such\"}", SIZE_MAX, bad);
    want_code = "invalid_inputs";
    post_case("bad_inputs",
              "{\"analyzer\":\"svc.noop\",\"inputs\":{\"service\":\"UP PER\",\"n\":-1}}", SIZE_MAX,
              bad);
    post_case("invalid_utf8_value",
              "{\"analyzer\":\"svc.noop\",\"inputs\":{\"service\":\"\xff\xfe\"}}", SIZE_MAX, bad);
    post_case("invalid_utf8_key", "{\"analyzer\":\"svc.noop\",\"\xc0\xaf\":1}", SIZE_MAX, bad);
    post_case("overlong_utf8", "{\"analyzer\":\"svc.noo\xc1\xb0\"}", SIZE_MAX, bad);
    post_case("lone_surrogate", "{\"analyzer\":\"svc.noop\",\"labels\":{\"a\":\"\\ud800\"}}",
              SIZE_MAX, bad);
    post_case("escaped_nul", "{\"analyzer\":\"svc.noop\\u0000x\"}", SIZE_MAX, bad);
    post_case("raw_nul", "{\"analyzer\":\"svc.noop\0\"}", 23, bad);
    post_case("duplicate_keys", "{\"analyzer\":\"svc.noop\",\"analyzer\":\"svc.slow\"}", SIZE_MAX,
              bad);
    post_case("empty_body", "", SIZE_MAX, bad);
    {
        size_t depth = 200000;
        char *deep = xmalloc(depth);
        memset(deep, '[', depth);
        post_case("deep_nesting", deep, depth, bad_or_413);
        free(deep);
    }
    {
        /* a batch over its limit */
        size_t cap = 1001 * 40 + 64, n = 0;
        char *b = xmalloc(cap);
        n += (size_t)sprintf(b, "{\"analyses\":[");
        for (int i = 0; i < 1001; i++)
            n += (size_t)sprintf(b + n, "%s{\"analyzer\":\"svc.noop\"}", i ? "," : "");
        n += (size_t)sprintf(b + n, "]}");
        size_t len;
        char *r = request("POST", "/v1/analyses:batch", NULL, b, n, &len);
        hostile_case("batch_over_limit", r, len, bad, 10);
        free(r);
        free(b);
    }
    {
        size_t len;
        char *r = request("POST", "/v1/analyses:batch", NULL, "{\"analyses\":{}}", 15, &len);
        hostile_case("batch_not_a_list", r, len, bad, 10);
        free(r);
    }
    {
        /* a body over max_body (1 MiB), with its length declared */
        size_t big = 4u << 20;
        char *b = xmalloc(big);
        memset(b, ' ', big);
        b[0] = '{';
        size_t len;
        char *r = request("POST", "/v1/analyses", NULL, b, big, &len);
        hostile_case("huge_body", r, len, too_large, 10);
        free(r);
        /* the same, chunked */
        size_t chunk = 65536, cap = big + 4096, n = 0;
        char *c = xmalloc(cap);
        n += (size_t)snprintf(c, cap,
                              "POST /v1/analyses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                              "chunked\r\nContent-Type: application/json\r\n\r\n");
        for (size_t off = 0; off + chunk <= big - chunk; off += chunk) {
            n += (size_t)snprintf(c + n, cap - n, "%zx\r\n", chunk);
            memcpy(c + n, b, chunk);
            n += chunk;
            n += (size_t)snprintf(c + n, cap - n, "\r\n");
        }
        n += (size_t)snprintf(c + n, cap - n, "0\r\n\r\n");
        hostile_case("huge_chunked_body", c, n, too_large, 10);
        free(c);
        free(b);
    }
    {
        /* 100 MiB declared, a little sent: refused on the header alone */
        const char *r =
            "POST /v1/analyses HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n{";
        hostile_case("huge_declared_length", r, strlen(r), too_large, 10);
    }
    /* Headers and request lines. */
    {
        size_t cap = 20000 * 32 + 256, n = 0;
        char *r = xmalloc(cap);
        n += (size_t)sprintf(r, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 20000; i++)
            n += (size_t)sprintf(r + n, "X-Flood-%d: v\r\n", i);
        n += (size_t)sprintf(r + n, "\r\n");
        hostile_case("header_flood", r, n, headers_large, 10);
        free(r);
    }
    {
        size_t big = 1u << 20, n = 0;
        char *r = xmalloc(big + 256);
        n += (size_t)sprintf(r, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
        memset(r + n, 'a', big);
        n += big;
        n += (size_t)sprintf(r + n, "\r\n\r\n");
        hostile_case("huge_header", r, n, headers_large, 10);
        n = (size_t)sprintf(r, "GET /v1/analyses/");
        memset(r + n, 'a', big);
        n += big;
        n += (size_t)sprintf(r + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
        hostile_case("huge_url", r, n, url_large, 10);
        free(r);
    }
    {
        static const char *const raw[][2] = {
            {"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"},
            {"bad_request_line", "GET\r\n\r\n"},
            {"negative_length",
             "POST /v1/analyses HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"},
            {"bad_length", "POST /v1/analyses HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"},
            {"length_and_chunked", "POST /v1/analyses HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
            {"two_lengths", "POST /v1/analyses HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                            "Content-Length: 40\r\n\r\n{}"},
            {"bad_chunk",
             "POST /v1/analyses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "zz\r\n{}\r\n0\r\n\r\n"},
            {"nul_in_header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"},
            {"bare_lf_header_injection",
             "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rX-B: b\r\n\r\n"},
        };
        for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
            size_t len = strlen(raw[i][1]);
            if (strcmp(raw[i][0], "nul_in_header") == 0)
                len = 41;
            hostile_case(raw[i][0], raw[i][1], len, bad_or_close, 10);
        }
    }
    {
        static const int version[] = {-1, 505, 400, 0};
        const char *r = "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n";
        hostile_case("bad_version", r, strlen(r), version, 10);
        r = "GET /v1/analyses/zzzz?wait=forever HTTP/1.1\r\nHost: x\r\n\r\n";
        hostile_case("bad_wait", r, strlen(r), bad, 10);
        r = "GET /v1/analyses/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n";
        hostile_case("path_traversal_id", r, strlen(r), not_found, 10);
        r = "GET /v1/analyses/a?wait=1s HTTP/1.1\r\nHost: x\r\n\r\n";
        hostile_case("unknown_id", r, strlen(r), not_found, 10);
    }
    /* Slow clients: headers that never end, and bodies that trickle. */
    slowloris("slowloris_headers", 200, false);
    slowloris("slowloris_body", 50, true);
    /* Many idle connections at once: the server still answers a good request. */
    {
        int n = 600, *fds = xcalloc((size_t)n, sizeof *fds), opened = 0;
        for (int i = 0; i < n; i++)
            if ((fds[i] = dial()) >= 0)
                opened++;
        bool ok = good_request_works("idle_connections");
        for (int i = 0; i < n; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        free(fds);
        json_array_append_new(hostile_results,
                              json_pack("{s:s, s:i, s:b}", "case", "idle_connections",
                                        "connections", opened, "ok", ok));
    }
    good_request_works("the end");
    size_t n_ok = 0, i;
    json_t *c;
    json_array_foreach(hostile_results, i, c) n_ok += json_is_true(json_object_get(c, "ok"));
    return finish(json_pack("{s:s, s:I, s:I, s:o}", "mode", "hostile", "cases_total",
                            (json_int_t)json_array_size(hostile_results), "cases_ok",
                            (json_int_t)n_ok, "cases", hostile_results));
}

/* ---- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    int rc = parse_options(argc, argv);
    if (rc)
        return rc;
    failures = json_array();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(o.mode, "submit") == 0)
        rc = mode_submit();
    else if (strcmp(o.mode, "wait") == 0)
        rc = mode_wait();
    else if (strcmp(o.mode, "latency") == 0)
        rc = mode_latency();
    else if (strcmp(o.mode, "metrics") == 0)
        rc = mode_metrics();
    else if (strcmp(o.mode, "until") == 0)
        rc = mode_until();
    else if (strcmp(o.mode, "hostile") == 0)
        rc = mode_hostile();
    else
        rc = usage_error("unknown mode \"%s\"", o.mode);
    curl_global_cleanup();
    json_decref(inputs_template);
    json_decref(failures);
    return rc;
}
