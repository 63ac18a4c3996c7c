/* backtest/bt_run.c -- running a backtest: the cases (bt_case.c) replayed in sandboxed child
 * processes against the working tree's analyzers and, with --base, against the base
 * revision's (bt_base.c); the report assembled from what they observed (bt_score.c).
 *
 * Design notes. The cases run on a pool of --jobs children, forked by this process, each of
 * which enters the worker's jail (wk_jail.h: rlimits, no new privileges, seccomp) before it
 * reads anything of a case, and then replays jobs one at a time. A job is a case and the side
 * to start from; the child replays that side and the ones after it (head, then base with
 * --base) from one parse of its recording (rewound between the sides):
 *   parent ──case index, first side (2 × u32)──▶ child: reads the case's recording
 *   parent ◀──frame of 0 bytes── child: a side's analysis starts (its own deadline runs)
 *   parent ◀──frame (u32 length, {"side": k, observation…})── child: that side is done
 * and once every side of the job is done, the parent sends the next job. Reading a recording
 * costs more than replaying it, so a base run adds only the analyses. A child keeps one engine
 * per side from case to case while the recordings' connectors stay the same, so an analyzer is
 * compiled once per child, not once per case. The parent only waits on pipes (poll) and
 * backstops the analyses' own deadlines:
 *   - a child that has not answered by the running analysis' deadline plus KILL_GRACE is
 *     killed, and that side is a timeout; one that has not started the analysis LOAD_ALLOWANCE
 *     after it took the job (reading the recording, loading the analyzer) is killed, and that
 *     side is an error saying so; one that dies makes that side an error naming the signal;
 *   - the sides after it were lost with the child, not observed: they become a job of their
 *     own, queued after the others, for a new child. Such a second job gets no third: if its
 *     child ends too, its sides are errors;
 *   - a job the child never took (the pipe to it broke: it ended after its last job) goes to a
 *     new child the same way;
 *   - a new child takes the place of each that ended, while jobs are left.
 * Invariants: each job is sent to one child at a time, a case is queued at most twice, and has
 * exactly one observation per side at the end; a child holds at most one job, so the parent
 * always knows which case and side a dead child held. Children die with the parent
 * (PR_SET_PDEATHSIG), so that a SIGKILLed backtest leaves none replaying. */
#define _GNU_SOURCE /* pipe2, sched_getaffinity */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bt_internal.h"
#include "wk.h"
#include "wk_jail.h"

#define KILL_GRACE      2.0  /* seconds past an analysis' deadline before its child is killed */
#define LOAD_ALLOWANCE  60.0 /* seconds a child may take to start an analysis (256 MiB to read) */
#define MAX_FRAME       ((uint32_t)64 << 20) /* bytes of one observation */
#define RECORDING_BYTES ((size_t)256 << 20)  /* of recording.json, as rt_recording_load reads */
#define SIDES           2                    /* head, base */
#define PROGRESS_EVERY  0.1                  /* seconds between progress lines */

/* ---- what both sides of the pipe share ----------------------------------------------------- */

/* A backtest's run: the cases, where each side's analyzers are, and how they run. */
typedef struct runner {
    const bt_options *o;
    const bt_cases *cases;
    int sides;                      /* 1: head; 2: head and base */
    const char *const *dirs[SIDES]; /* the analyzer path of each side */
    size_t n_dirs[SIDES];
    wk_limits limits;
    rt_config replay_config; /* the config's connectors without credentials; used when o->config */
    rt_connector *connectors;
    wk_jail_options jail;
    char *fault;         /* owned: INQUEST_TEST_FAULT, for the tests (a copy: the jail clears
                            the environment); or NULL */
    json_t **obs[SIDES]; /* out: each side's observation of each case (NULL: it cannot run) */
} runner;

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
    interrupted = sig;
}

/* Writes all 'n' bytes; false when the other end is gone. */
static bool write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads exactly 'n' bytes; false at the end of the stream or on an error. */
static bool read_all(int fd, void *data, size_t n) {
    char *p = data;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static bool send_frame(int fd, const char *data, uint32_t len) {
    return write_all(fd, &len, sizeof len) && (len == 0 || write_all(fd, data, len));
}

/* ---- the child: replaying cases ------------------------------------------------------------ */

/* A child's engine, kept while the recordings' connectors stay the same. */
typedef struct child_state {
    wk_engine *engine;
    json_t *connectors; /* owned: those it was set up with */
} child_state;

/* "why: problem; problem" as an error observation. */
static json_t *observe_diag(const char *why, const rt_diag *diag, bool missing) {
    char text[2048];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", why);
    json_t *texts = bt__diag_texts(diag), *t;
    size_t i;
    json_array_foreach(texts, i, t) {
        if (n < sizeof text)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s%s", i ? "; " : ": ",
                                  json_string_value(t));
    }
    json_decref(texts);
    text[rt_utf8_cut(text, strlen(text), sizeof text - 1)] = '\0';
    return bt__observe_error(text, missing);
}

/* Drops jansson's quotes of the file ("near 'TOKEN'") from the problems of a recording that
 * does not load: a recording.json that is no JSON at all is no business of the report's. */
static void quote_nothing(rt_diag *diag) {
    json_t *item;
    size_t i;
    json_array_foreach(diag->items, i, item) {
        const char *message = json_string_value(json_object_get(item, "message"));
        char *text = message ? rt_xstrdup(message) : NULL;
        if (text) {
            bt__drop_near(text);
            json_object_set_new(item, "message", json_string(text));
        }
        free(text);
    }
}

static void engine_drop(child_state *s) {
    wk_engine_free(s->engine);
    json_decref(s->connectors);
    s->engine = NULL;
    s->connectors = NULL;
}

/* The engine to replay 'rec' with: the last one when the recording's connectors are those it
 * has, else a new one. NULL with the problem in 'diag'. */
static wk_engine *engine_for(const runner *r, int side, child_state *s, rt_recording *rec,
                             rt_diag *diag) {
    json_t *connectors = json_object_get(rt_recording_meta(rec), "connectors");
    bool same =
        s->engine && (connectors == s->connectors ||
                      (connectors && s->connectors && json_equal(connectors, s->connectors)));
    if (!same) {
        engine_drop(s);
        s->engine = wk_engine_new(r->dirs[side], r->n_dirs[side]);
        s->connectors = connectors ? json_deep_copy(connectors) : NULL;
        if (r->o->config && wk_engine_connect(s->engine, &r->replay_config, diag) != RT_OK) {
            engine_drop(s);
            return NULL;
        }
    }
    if (wk_engine_use_recording(s->engine, rec, diag) != RT_OK) {
        engine_drop(s);
        return NULL;
    }
    return s->engine;
}

/* The frozen clock: the case's, else the recording's (a number or an RFC 3339 time). */
static double clock_of(const bt_case *c, const json_t *meta) {
    const json_t *now = json_object_get(meta, "now");
    double t = 0;
    char why[256];
    if (c->now > 0)
        return c->now;
    if (json_is_number(now))
        return json_number_value(now);
    if (json_is_string(now) && rt_time_parse(json_string_value(now), 0, &t, why) == 0)
        return t;
    return 0;
}

static size_t common_prefix(const char *a, const char *b) {
    size_t n = 0;
    while (a[n] && a[n] == b[n])
        n++;
    return n;
}

/* The body of recorded request 'req' as text (body_json as sent: canonical), or NULL. */
static json_t *request_body(const json_t *req) {
    const json_t *body = json_object_get(req, "body");
    if (json_is_string(body))
        return json_incref((json_t *)body);
    const json_t *b = json_object_get(req, "body_json");
    char *text = b ? rt_json_canonical(b) : NULL;
    json_t *out = text ? json_string(text) : NULL;
    free(text);
    return out;
}

/* Adds to 'stale' (a stale_request) the recorded request of the same connector and method whose
 * path starts most like its path: most often what the analyzer asked for before its change,
 * for the reviewer to compare. The recording is read again as JSON: only for stale cases. */
static void add_nearest(const bt_case *c, json_t *stale) {
    size_t size = strlen(c->dir) + sizeof "/recording.json", len = 0;
    char *recording = rt_xmalloc(size), *text = NULL, why[256];
    snprintf(recording, size, "%s/recording.json", c->dir);
    json_t *doc = NULL, *x, *best = NULL;
    if (rt_file_read_plain(recording, RECORDING_BYTES, &text, &len, why) == RT_OK)
        doc = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    free(text);
    free(recording);
    const char *connector = json_string_value(json_object_get(stale, "connector"));
    const char *method = json_string_value(json_object_get(stale, "method"));
    const char *path = json_string_value(json_object_get(stale, "path"));
    size_t i, best_len = 0;
    json_array_foreach(json_object_get(doc, "exchanges"), i, x) {
        const json_t *req = json_object_get(x, "request");
        const char *p = json_string_value(json_object_get(req, "path"));
        const char *m = json_string_value(json_object_get(req, "method"));
        const char *conn = json_string_value(json_object_get(x, "connector"));
        if (!p || !m || !conn || !connector || !method || !path || strcmp(conn, connector) != 0 ||
            strcmp(m, method) != 0)
            continue;
        size_t n = common_prefix(p, path) + 1; /* + 1: a path with nothing in common still counts */
        if (n > best_len)
            best = (json_t *)req, best_len = n;
    }
    if (best) {
        json_t *nearest = json_pack("{s:O}", "path", json_object_get(best, "path"));
        json_t *body = request_body(best);
        if (body)
            json_object_set_new(nearest, "body", body);
        json_object_set_new(stale, "nearest", nearest);
    }
    json_decref(doc);
}

/* The length of root 'dir' without its trailing slashes, as the engine keeps it. */
static size_t root_len(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return n;
}

/* The length of the analyzer-path folder of 'dirs' ('n' of them) followed by '/' that 'text'
 * starts with (the longest), or 0. */
static size_t root_at(const char *text, const char *const *dirs, size_t n) {
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = root_len(dirs[i]);
        if (len > best && strncmp(text, dirs[i], len) == 0 && text[len] == '/')
            best = len + 1;
    }
    return best;
}

/* Member 'key' of 'obs' (a string) with the analyzer path's folders cut out of the paths in it:
 * "ROOT/demo/level.lua:12: boom" reads "demo/level.lua:12: boom" on head as on base, whose
 * analyzers lie in a temporary tree, so that equal errors compare equal and no temporary path
 * reaches the report. */
static void relative_paths(json_t *obs, const char *key, const char *const *dirs, size_t n) {
    const char *text = json_string_value(json_object_get(obs, key));
    if (!text)
        return;
    size_t len = strlen(text), out = 0;
    char *copy = rt_xmalloc(len + 1);
    for (size_t i = 0; i < len;) {
        /* a path starts the text or follows a space, a quote, a bracket: "x/analyzers/" is no
         * root "analyzers" */
        bool starts = i == 0 || !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789._-/~",
                                        text[i - 1]);
        size_t skip = starts ? root_at(text + i, dirs, n) : 0;
        if (skip)
            i += skip;
        else
            copy[out++] = text[i++];
    }
    copy[out] = '\0';
    json_object_set_new(obs, key, rt_json_text(copy, out));
    free(copy);
}

/* Fault injection for the tests, INQUEST_TEST_FAULT=backtest_STAGE:CASE[@WHERE] (CASE by its
 * folder's name):
 *   crash:CASE         the child dies (abort) as it takes CASE, before reading its recording;
 *   crash:CASE@SIDE    the child dies once the analysis of CASE on SIDE (head, base) started;
 *   stall:CASE[@SIDE]  the child hangs once the analysis of CASE on SIDE (head when not
 *                      said) started, as a runaway C call would;
 *   stall:CASE@load    the child hangs while it reads the recording of CASE; the parent then
 *                      allows 1 s for it, not LOAD_ALLOWANCE, for the test's sake;
 *   exit:CASE          the child stops taking cases (closes its end of the pipe) as it takes
 *                      CASE, and exits once it has answered for it.
 * True when the fault for 'stage' at 'where' ("take", "load", "head", "base") names 'c'. */
static bool fault_is(const char *fault, const char *stage, const bt_case *c, const char *where) {
    char want[300];
    if (!fault || strncmp(fault, "backtest_", 9) != 0)
        return false;
    snprintf(want, sizeof want, "%s:%s", stage, c->name);
    size_t n = strlen(want);
    if (strncmp(fault + 9, want, n) != 0)
        return false;
    const char *at = fault + 9 + n;
    if (*at == '\0') /* no @WHERE: crash as the case is taken, stall in head's analysis */
        return strcmp(where, strcmp(stage, "stall") == 0 ? "head" : "take") == 0;
    return *at == '@' && strcmp(at + 1, where) == 0;
}

static const char *const side_names[SIDES] = {"head", "base"};

static void inject_fault(const runner *r, const bt_case *c, const char *where) {
    if (fault_is(r->fault, "crash", c, where))
        abort();
    if (fault_is(r->fault, "stall", c, where))
        for (;;) /* sleep, not pause: the jail allows nanosleep only */
            sleep(3600);
}

/* Runs case 'c' on 'side' against recording 'rec'; 'out' gets the "started" frame before the
 * analysis. */
static json_t *replay(const runner *r, int side, child_state *s, const bt_case *c,
                      rt_recording *rec, int out) {
    rt_diag diag = {0};
    json_t *meta = rt_recording_meta(rec), *result = NULL, *obs;
    json_t *inputs = c->inputs ? c->inputs : json_object_get(meta, "inputs");
    const char *id = c->id ? c->id : json_string_value(json_object_get(meta, "id"));
    wk_request request = {.analyzer = c->analyzer,
                          .inputs = json_is_object(inputs) ? inputs : NULL,
                          .id = id ? id : c->name,
                          .now = clock_of(c, meta),
                          .limits = r->limits};
    if (!(request.now > 0))
        return bt__observe_error("no frozen clock: give now in case.json (or in recording.json)",
                                 false);
    wk_engine *engine = engine_for(r, side, s, rec, &diag);
    if (!engine) {
        obs = observe_diag("cannot replay the recording's connectors", &diag, false);
        rt_diag_free(&diag);
        return obs;
    }
    send_frame(out, NULL, 0);
    inject_fault(r, c, side_names[side]);
    int rc = wk_run(engine, &request, &result, &diag);
    if (rc == RT_OK) {
        obs = bt__observe_result(result);
        /* every call the replay answered or missed, nested analyses' too (ctx:call), which the
         * result's calls leave out */
        json_object_set_new(obs, "connector_calls",
                            json_integer((json_int_t)rt_recording_asked(rec)));
    } else if (rc == RT_ENOTFOUND)
        obs = observe_diag("no such analyzer", &diag, true);
    else if (rc == RT_EINPUT)
        obs = observe_diag("invalid inputs", &diag, false);
    else
        obs = observe_diag(rt_strerror(rc), &diag, false);
    relative_paths(obs, "error", r->dirs[side], r->n_dirs[side]);
    if (json_is_object(json_object_get(obs, "stale_request")))
        add_nearest(c, json_object_get(obs, "stale_request"));
    json_decref(result);
    rt_diag_free(&diag);
    return obs;
}

static bool send_json(int fd, const json_t *obs) {
    char *text = rt_json_canonical(obs);
    bool ok = text && strlen(text) <= MAX_FRAME && send_frame(fd, text, (uint32_t)strlen(text));
    free(text);
    return ok;
}

/* Sends the observation 'obs' (stolen) of side 'side'. */
static bool send_side(int fd, int side, json_t *obs) {
    json_object_set_new(obs, "side", json_integer(side));
    bool ok = send_json(fd, obs);
    json_decref(obs);
    return ok;
}

/* Replays case 'c' on every side from 'first' (0, or the side a lost child left), from one
 * parse of its recording, and sends each side's observation as it is made. False when the
 * parent is gone. */
static bool observe(const runner *r, child_state *states, const bt_case *c, int first, int out) {
    size_t n = strlen(c->dir) + sizeof "/recording.json";
    char *path = rt_xmalloc(n);
    snprintf(path, n, "%s/recording.json", c->dir);
    inject_fault(r, c, "take");
    inject_fault(r, c, "load");
    rt_recording *rec = NULL;
    rt_diag diag = {0};
    bool ok = true;
    /* Not through a link: the jail lets this process read what its user can, /proc/self/environ
     * among it, and the report is public. */
    if (rt_recording_load_plain(path, &rec, &diag) != RT_OK) {
        quote_nothing(&diag);
        json_t *obs = observe_diag("cannot read the recording", &diag, false);
        for (int side = first; ok && side < r->sides; side++)
            ok = send_side(out, side, json_deep_copy(obs));
        json_decref(obs);
    }
    for (int side = first; rec && ok && side < r->sides; side++) {
        if (side > first)
            rt_recording_rewind(rec);
        ok = send_side(out, side, replay(r, side, &states[side], c, rec, out));
    }
    rt_diag_free(&diag);
    rt_recording_free(rec);
    free(path);
    return ok;
}

/* The life of a child: enter the jail, then replay the cases the parent sends (a case's index
 * and the side to start from) until it closes the pipe. Never returns. */
static void child_main(const runner *r, pid_t parent, int in, int out) {
    char why[256];
    /* Ends with the parent, even SIGKILLed (which no cleanup sees): kept across the jail's
     * change of user, which clears it otherwise (wk_jail.c). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent) /* it died before the line above */
        _exit(0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_DFL); /* Ctrl-C reaches the whole process group: children just end */
    signal(SIGTERM, SIG_DFL);
    if (wk_jail_enter(&r->jail, why) != RT_OK) {
        json_t *fatal = json_pack("{s:s}", "fatal", why);
        send_json(out, fatal);
        _exit(2);
    }
    child_state states[SIDES] = {{0}};
    uint32_t msg[2]; /* case index, first side */
    bool go_on = true;
    while (go_on && read_all(in, msg, sizeof msg) && msg[0] < r->cases->n &&
           msg[1] < (uint32_t)r->sides) {
        const bt_case *c = &r->cases->items[msg[0]];
        bool last = fault_is(r->fault, "exit", c, "take");
        if (last)
            close(in); /* the parent's next write fails: this child is gone */
        go_on = observe(r, states, c, (int)msg[1], out) && !last;
    }
    for (int side = 0; side < SIDES; side++)
        engine_drop(&states[side]);
    _exit(go_on ? 0 : 3);
}

/* ---- the parent: a pool of children -------------------------------------------------------- */

/* A job: a case to replay from one of its sides on. */
typedef struct job {
    uint32_t index; /* the case */
    uint32_t side;  /* the first side to replay: 0, or the first one a lost child left */
    bool again;     /* it was given to a second child already: it gets no third */
} job;

typedef struct slot {
    pid_t pid;       /* 0: no child */
    int cmd, res;    /* the pipes to and from it; -1 when closed */
    long job;        /* the case it replays, or -1 */
    int done;        /* the side it replays: sides before it are observed */
    bool again;      /* the job's */
    bool analysing;  /* the analysis of side 'done' has started ("started" frame) */
    bool gone;       /* the job could not be sent: the child closed its end, so it is ending */
    double deadline; /* rt_monotonic() by which it must answer */
    char *buf;       /* what it sent that is not yet a whole frame */
    size_t len, cap;
} slot;

typedef struct pool {
    runner *r;
    slot *slots;
    int n_slots;
    job *jobs; /* the cases that can run, then the sides lost with their child, in turn */
    size_t n_jobs, next;
    size_t n_cases, done; /* cases to replay, and replayed on every side */
    double load_allowance;
    double last_progress;
    char fatal[300]; /* set when a child could not be sandboxed */
} pool;

static void slot_close(slot *s) {
    if (s->cmd >= 0)
        close(s->cmd);
    if (s->res >= 0)
        close(s->res);
    s->cmd = s->res = -1;
}

/* Waits for the child of 's' to end (after it was killed or closed its pipe): its status. */
static int slot_reap(slot *s) {
    int status = 0;
    while (s->pid > 0 && waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
    slot_close(s);
    s->len = 0;
    return status;
}

/* Forks the child of slot 'k'. False when the system refuses. */
static bool spawn(pool *p, int k) {
    int cmd[2], res[2];
    slot *s = &p->slots[k];
    if (pipe2(cmd, O_CLOEXEC) != 0)
        return false;
    if (pipe2(res, O_CLOEXEC) != 0) {
        close(cmd[0]), close(cmd[1]);
        return false;
    }
    fflush(NULL);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        close(cmd[0]), close(cmd[1]), close(res[0]), close(res[1]);
        return false;
    }
    if (pid == 0) {
        for (int i = 0; i < p->n_slots; i++) /* the other children's pipes are not its own */
            slot_close(&p->slots[i]);
        close(cmd[1]), close(res[0]);
        child_main(p->r, parent, cmd[0], res[1]);
    }
    close(cmd[0]), close(res[1]);
    s->pid = pid;
    s->cmd = cmd[1];
    s->res = res[0];
    s->job = -1;
    s->len = 0;
    return true;
}

/* Sends slot 's' its next job, or closes its pipe (it then exits) when none is left. */
static void dispatch(pool *p, slot *s) {
    if (p->next >= p->n_jobs) {
        if (s->cmd >= 0)
            close(s->cmd);
        s->cmd = -1;
        s->job = -1;
        return;
    }
    job j = p->jobs[p->next++];
    uint32_t msg[2] = {j.index, j.side};
    s->job = (long)j.index;
    s->done = (int)j.side;
    s->again = j.again;
    s->analysing = false;
    s->gone = false;
    s->deadline = rt_monotonic() + p->load_allowance;
    if (!write_all(s->cmd, msg, sizeof msg)) {
        /* The child closed its end: it has ended or is ending, and its EOF says how. Not a
         * deadline of the case's, which it never took: KILL_GRACE is a backstop. */
        s->gone = true;
        s->deadline = rt_monotonic() + KILL_GRACE;
    }
}

/* Queues sides 'side'… of case 'index' for another child: they were lost with theirs. */
static void requeue(pool *p, long index, int side) {
    p->jobs[p->n_jobs++] = (job){.index = (uint32_t)index, .side = (uint32_t)side, .again = true};
}

/* Stores the observation 'obs' (stolen) of 'side' of the job of 's'; the case is done once
 * every side is. */
static void observed(pool *p, slot *s, int side, json_t *obs) {
    if (s->job < 0 || side < 0 || side >= p->r->sides || side != s->done) {
        json_decref(obs); /* not what the protocol sends: ignored, the deadline still runs */
        return;
    }
    json_object_del(obs, "side");
    p->r->obs[side][s->job] = obs;
    s->analysing = false;
    s->deadline = rt_monotonic() + p->load_allowance; /* until the next side's analysis starts */
    if (++s->done == p->r->sides) {
        p->done++;
        s->job = -1;
    }
}

/* The job of 's' ends with its child: the side it stood at gets 'first' (stolen), what was seen
 * of it. The sides after it were lost with the child, not observed: they are replayed in a new
 * child, a job like any other, unless this was that second chance already (then they are an
 * error too). */
static void abandon(pool *p, slot *s, json_t *first) {
    long index = s->job;
    observed(p, s, s->done, first);
    if (s->job < 0)
        return;
    if (!s->again) {
        requeue(p, index, s->done);
        s->job = -1;
        return;
    }
    while (s->job >= 0)
        observed(p, s, s->done,
                 bt__observe_error("not replayed: the processes that took the case ended before "
                                   "this side, twice",
                                   false));
}

/* Why the child of 's' ended without an answer ('when': NULL, or where it stood). */
static json_t *death(int status, const char *when) {
    char why[400];
    if (WIFSIGNALED(status))
        snprintf(
            why, sizeof why, "the sandboxed process replaying the case died of signal %d%s%s%s",
            WTERMSIG(status),
            WTERMSIG(status) == SIGSYS ? " (SIGSYS: the seccomp filter refused a system call)" : "",
            when ? " " : "", when ? when : "");
    else
        snprintf(why, sizeof why,
                 "the sandboxed process replaying the case exited with status %d without an "
                 "answer%s%s",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, when ? " " : "", when ? when : "");
    return bt__observe_error(why, false);
}

/* The child of 's' ended (its pipe closed, or it was killed once its pipe broke) with 'status'
 * while it held a job. One it never took goes to another child, once; else the side it stood at
 * reads its death. */
static void lost(pool *p, slot *s, int status) {
    if (s->gone && !s->again) {
        requeue(p, s->job, s->done);
        s->job = -1;
        return;
    }
    abandon(p, s, death(status, s->gone ? "before it took the case" : NULL));
}

/* Replaces the child of 's' (it died, or was killed) when jobs are left. */
static void respawn(pool *p, slot *s) {
    if (p->next < p->n_jobs && spawn(p, (int)(s - p->slots)))
        dispatch(p, s);
}

/* One whole frame of 's' at 'data' ('len' bytes): "started", an observation, or a fatal one. */
static void on_frame(pool *p, slot *s, const char *data, uint32_t len) {
    if (len == 0) { /* started: the analysis' deadline runs from now */
        s->analysing = true;
        s->deadline = rt_monotonic() + p->r->limits.timeout + KILL_GRACE;
        return;
    }
    json_error_t error;
    json_t *obs = json_loadb(data, len, JSON_ALLOW_NUL, &error);
    const char *fatal = json_string_value(json_object_get(obs, "fatal"));
    if (fatal) {
        snprintf(p->fatal, sizeof p->fatal, "%s", fatal);
        json_decref(obs);
        return;
    }
    if (!json_is_object(obs)) {
        json_decref(obs);
        obs = bt__observe_error("the sandboxed process sent an answer that is not JSON", false);
        json_object_set_new(obs, "side", json_integer(s->done));
    }
    observed(p, s, (int)json_integer_value(json_object_get(obs, "side")), obs);
    if (s->job < 0 && !s->gone)
        dispatch(p, s);
}

/* Reads what the child of 's' sent; handles whole frames, and its end. */
static void on_readable(pool *p, slot *s) {
    if (s->cap - s->len < 65536) {
        s->cap = s->cap ? s->cap * 2 : 131072;
        s->buf = rt_xrealloc(s->buf, s->cap);
    }
    ssize_t n = read(s->res, s->buf + s->len, s->cap - s->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) { /* it exited: after its last case, or died in one */
        int status = slot_reap(s);
        if (s->job >= 0) {
            lost(p, s, status);
            respawn(p, s);
        }
        return;
    }
    s->len += (size_t)n;
    size_t at = 0;
    uint32_t len;
    while (s->len - at >= sizeof len) {
        memcpy(&len, s->buf + at, sizeof len);
        if (len > MAX_FRAME) {
            kill(s->pid, SIGKILL);
            break;
        }
        if (s->len - at - sizeof len < len)
            break;
        on_frame(p, s, s->buf + at + sizeof len, len);
        at += sizeof len + len;
    }
    memmove(s->buf, s->buf + at, s->len - at);
    s->len -= at;
}

/* The observation of the side of 's' that did not answer in time: past the analysis' deadline
 * a timeout, as a budget; before its analysis started (reading the recording, compiling the
 * analyzer), an error of the harness, which says which. */
static json_t *overdue(const pool *p, const slot *s) {
    char why[300], amount[32];
    if (!s->analysing) {
        rt_duration_format(p->load_allowance, amount);
        snprintf(why, sizeof why,
                 "the sandboxed process did not start the analysis within %s of taking the case "
                 "(reading its recording, loading the analyzer), and was stopped",
                 amount);
        return bt__observe_error(why, false);
    }
    rt_duration_format(p->r->limits.timeout, amount);
    snprintf(why, sizeof why,
             "the analysis did not end within its deadline of %s, and its sandboxed process was "
             "stopped",
             amount);
    return json_pack("{s:s, s:s, s:s, s:[], s:i}", "status", "timeout", "budget", "timeout",
                     "error", why, "findings", "connector_calls", 0);
}

/* Ends the children that are past their case's deadline. */
static void check_deadlines(pool *p) {
    double now = rt_monotonic();
    for (int k = 0; k < p->n_slots; k++) {
        slot *s = &p->slots[k];
        if (s->pid <= 0 || s->job < 0 || now < s->deadline)
            continue;
        kill(s->pid, SIGKILL);
        int status = slot_reap(s);
        if (s->gone)
            lost(p, s, status);
        else
            abandon(p, s, overdue(p, s));
        respawn(p, s);
    }
}

static void progress(pool *p, bool last) {
    double now = rt_monotonic();
    if (!p->r->o->progress || (!last && now - p->last_progress < PROGRESS_EVERY))
        return;
    p->last_progress = now;
    fprintf(stderr, "\rbacktest: %zu/%zu cases replayed%s", p->done, p->n_cases,
            p->r->sides > 1 ? " on head and base" : "");
    if (last)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* The poll timeout until the nearest deadline, in ms (at most a second, for progress). */
static int wait_ms(const pool *p) {
    double nearest = rt_monotonic() + 1;
    for (int k = 0; k < p->n_slots; k++)
        if (p->slots[k].pid > 0 && p->slots[k].job >= 0 && p->slots[k].deadline < nearest)
            nearest = p->slots[k].deadline;
    double ms = ceil((nearest - rt_monotonic()) * 1000);
    return ms < 0 ? 0 : (int)ms;
}

/* Runs every case that can run, on the pool; the observations land in p->r->obs. */
static int pool_run(pool *p, rt_diag *diag) {
    struct pollfd *fds = rt_xcalloc((size_t)p->n_slots, sizeof *fds);
    int rc = RT_OK;
    for (int k = 0; k < p->n_slots; k++) /* all closed before the first fork: children close them */
        p->slots[k] = (slot){.cmd = -1, .res = -1, .job = -1};
    for (int k = 0; k < p->n_slots; k++) {
        if (!spawn(p, k)) {
            rt_diag_add(diag, NULL, 0, NULL, "cannot start the backtest's processes: %s",
                        strerror(errno));
            rc = RT_EINTERNAL;
            break;
        }
        dispatch(p, &p->slots[k]);
    }
    while (rc == RT_OK && p->done < p->n_cases && !*p->fatal && !interrupted) {
        int n = 0;
        for (int k = 0; k < p->n_slots; k++)
            if (p->slots[k].res >= 0)
                fds[n++] = (struct pollfd){.fd = p->slots[k].res, .events = POLLIN};
        if (n == 0) { /* no child left, and cases are: forking failed */
            rt_diag_add(diag, NULL, 0, NULL, "cannot start the backtest's processes: %s",
                        strerror(errno));
            rc = RT_EINTERNAL;
            break;
        }
        if (poll(fds, (nfds_t)n, wait_ms(p)) < 0 && errno != EINTR) {
            rt_diag_add(diag, NULL, 0, NULL, "poll: %s", strerror(errno));
            rc = RT_EINTERNAL;
            break;
        }
        for (int i = 0; i < n; i++)
            for (int k = 0; fds[i].revents && k < p->n_slots; k++)
                if (p->slots[k].res == fds[i].fd) {
                    on_readable(p, &p->slots[k]); /* may replace the child: its pipes too */
                    break;
                }
        check_deadlines(p);
        progress(p, false);
    }
    progress(p, true);
    for (int k = 0; k < p->n_slots; k++) { /* done: each child exits once its pipe closes */
        slot *s = &p->slots[k];
        if (s->pid > 0 && (rc != RT_OK || *p->fatal || interrupted))
            kill(s->pid, SIGKILL);
        if (s->cmd >= 0)
            close(s->cmd);
        s->cmd = -1;
        slot_reap(s);
        free(s->buf);
    }
    free(fds);
    if (rc == RT_OK && *p->fatal) {
        rt_diag_add(diag, NULL, 0, NULL, "cannot sandbox the backtest's processes: %s", p->fatal);
        rc = RT_EINTERNAL;
    }
    if (rc == RT_OK && interrupted) {
        rt_diag_add(diag, NULL, 0, NULL, "interrupted by signal %d", (int)interrupted);
        rc = RT_ECANCELED;
    }
    return rc;
}

int bt__default_jobs(void) {
    /* The cores this process may run on (taskset, a container's cpuset), not all the machine's */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int)cores : 1;
}

/* True when the test fault stalls the reading of a recording (see fault_is). */
static bool load_stall_fault(const char *fault) {
    if (!fault || strncmp(fault, "backtest_stall:", 15) != 0)
        return false;
    size_t n = strlen(fault);
    return n > 5 && strcmp(fault + n - 5, "@load") == 0;
}

/* Replays every case that can run, on each side. */
static int run_cases(runner *r, rt_diag *diag) {
    pool p = {.r = r};
    /* each case once, and its lost sides once more at most */
    p.jobs = rt_xcalloc(2 * r->cases->n + 1, sizeof *p.jobs);
    for (size_t i = 0; i < r->cases->n; i++)
        if (!rt_diag_count(&r->cases->items[i].problems))
            p.jobs[p.n_jobs++] = (job){.index = (uint32_t)i};
    p.n_cases = p.n_jobs;
    p.load_allowance = load_stall_fault(r->fault) ? 1.0 : LOAD_ALLOWANCE;
    int jobs = r->o->jobs > 0 ? r->o->jobs : bt__default_jobs();
    p.n_slots = (size_t)jobs < p.n_cases ? jobs : (int)p.n_cases;
    p.slots = rt_xcalloc((size_t)p.n_slots + 1, sizeof *p.slots);
    int rc = p.n_cases ? pool_run(&p, diag) : RT_OK;
    free(p.slots);
    free(p.jobs);
    return rc;
}

/* ---- the whole backtest -------------------------------------------------------------------- */

/* The config's connectors as a replay sees them: their types and the settings that shape their
 * answers, never their credentials, which a replay does not need (and CI does not have). */
static void replay_connectors(runner *r, const rt_config *config) {
    r->connectors = rt_xcalloc(config->n_connectors + 1, sizeof *r->connectors);
    for (size_t i = 0; i < config->n_connectors; i++) {
        r->connectors[i] = config->connectors[i]; /* shallow: the config outlives the run */
        r->connectors[i].auth = (rt_auth){.type = RT_AUTH_NONE};
        r->connectors[i].headers = NULL;
        r->connectors[i].n_headers = 0;
    }
    r->replay_config.path = config->path;
    r->replay_config.connectors = r->connectors;
    r->replay_config.n_connectors = config->n_connectors;
}

static void runner_init(runner *r, const bt_options *o, const bt_cases *cases,
                        const bt_base *base) {
    memset(r, 0, sizeof *r);
    r->o = o;
    r->cases = cases;
    r->sides = o->base_rev ? 2 : 1;
    r->dirs[0] = o->dirs;
    r->n_dirs[0] = o->n_dirs;
    r->dirs[1] = (const char *const *)base->dirs;
    r->n_dirs[1] = base->n_dirs;
    wk_limits_default(&r->limits);
    if (o->config) {
        const rt_limits *l = &o->config->limits;
        r->limits = (wk_limits){.memory = l->memory,
                                .instructions = l->instructions,
                                .timeout = l->timeout,
                                .calls = l->calls,
                                .call_bytes = l->call_bytes};
        replay_connectors(r, o->config);
        r->jail.user = o->config->worker.user;
    }
    /* As root without worker.user, the children keep root but nothing else: CI containers run
     * as root, and a replay makes no call to the outside. */
    r->jail.allow_root = !r->jail.user;
    const char *fault = getenv("INQUEST_TEST_FAULT");
    r->fault = fault ? rt_xstrdup(fault) : NULL;
    for (int side = 0; side < SIDES; side++)
        r->obs[side] = rt_xcalloc(cases->n + 1, sizeof(json_t *));
}

static void runner_free(runner *r) {
    for (int side = 0; side < SIDES; side++) {
        for (size_t i = 0; r->obs[side] && i < r->cases->n; i++)
            json_decref(r->obs[side][i]);
        free(r->obs[side]);
    }
    free(r->connectors);
    free(r->fault);
}

/* "bt-20261122T071500Z-3f2a": when, and a random part for two runs in the same second. */
static void report_id(double started, char *out, size_t size) {
    char when[40];
    unsigned char r[2] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        r[0] = r[1] = 0;
    rt_time_format(floor(started), when); /* 2026-11-22T07:15:00Z */
    char compact[40];
    size_t n = 0;
    for (const char *c = when; *c && n < sizeof compact - 1; c++)
        if (*c != '-' && *c != ':')
            compact[n++] = *c;
    compact[n] = '\0';
    snprintf(out, size, "bt-%s-%02x%02x", compact, r[0], r[1]);
}

static json_t *revision(const char *rev, const char *commit) {
    return json_pack("{s:s, s:o}", "rev", rev, "commit",
                     commit && *commit ? json_string(commit) : json_null());
}

/* The report (inquest.backtest/v1) of the cases and their observations on each side. */
static json_t *assemble(const runner *r, const bt_base *b, double started) {
    const bt_options *o = r->o;
    const bt_cases *cases = r->cases;
    bool with_base = r->sides > 1;
    json_t *list = json_array();
    for (size_t i = 0; i < cases->n; i++) {
        json_t *entry = bt__case_entry(&cases->items[i], r->obs[0][i]);
        if (with_base)
            bt__compare(entry, &cases->items[i], r->obs[1][i]);
        json_array_append_new(list, entry);
    }
    json_t *summary = bt__summary(list, NULL, with_base);
    if (with_base)
        json_object_set_new(summary, "base", bt__summary(list, "base", false));
    char id[64], when[40], commit[64] = "";
    report_id(started, id, sizeof id);
    rt_time_format(floor(started), when);
    bt__head_commit(o->dirs[0], commit);
    json_t *report = json_object();
    json_object_set_new(report, "schema", json_string(BT_REPORT_SCHEMA));
    json_object_set_new(report, "id", json_string(id));
    json_object_set_new(report, "started_at", json_string(when));
    json_object_set_new(report, "duration_s",
                        json_real(round((rt_wallclock() - started) * 1000) / 1000));
    json_object_set_new(report, "head", revision("working tree", commit));
    json_object_set_new(report, "base", with_base ? revision(o->base_rev, b->commit) : json_null());
    json_object_set_new(report, "summary", summary);
    json_object_set_new(report, "confusion", bt__confusion(list));
    json_object_set_new(report, "cases", list);
    return report;
}

/* Signals while the pool runs: Ctrl-C and SIGTERM end it cleanly (children killed, the base's
 * temporary folder removed); a child that went away must not kill the parent with SIGPIPE. */
typedef struct saved_signals {
    struct sigaction intr, term, pipe;
} saved_signals;

static void signals_catch(saved_signals *saved) {
    struct sigaction sa = {.sa_handler = on_interrupt}, ignore = {.sa_handler = SIG_IGN};
    sigemptyset(&sa.sa_mask);
    sigemptyset(&ignore.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &saved->intr);
    sigaction(SIGTERM, &sa, &saved->term);
    sigaction(SIGPIPE, &ignore, &saved->pipe);
}

static void signals_restore(const saved_signals *saved) {
    sigaction(SIGINT, &saved->intr, NULL);
    sigaction(SIGTERM, &saved->term, NULL);
    sigaction(SIGPIPE, &saved->pipe, NULL);
}

int bt_run(const bt_options *o, json_t **report, rt_diag *diag) {
    double started = rt_wallclock();
    bt_cases cases = {0};
    bt_base base = {0};
    runner r = {0};
    bool with_base = o->base_rev != NULL;
    *report = NULL;
    if (o->n_dirs == 0) {
        rt_diag_add(diag, NULL, 0, NULL, "no analyzer path to run the cases with");
        return RT_EUSAGE;
    }
    saved_signals saved;
    signals_catch(&saved);
    int rc = bt__cases_find(o, o->dirs, o->n_dirs, &cases, diag);
    if (rc == RT_OK && with_base)
        rc = bt__base_open(o->base_rev, o->dirs, o->n_dirs, &base, diag);
    if (rc == RT_OK && interrupted) {
        rt_diag_add(diag, NULL, 0, NULL, "interrupted by signal %d", (int)interrupted);
        rc = RT_ECANCELED;
    }
    if (rc == RT_OK) {
        runner_init(&r, o, &cases, &base);
        rc = run_cases(&r, diag);
    }
    signals_restore(&saved);
    if (rc == RT_OK)
        *report = assemble(&r, &base, started);
    if (r.cases)
        runner_free(&r);
    bt__base_close(&base);
    bt__cases_free(&cases);
    return rc;
}
