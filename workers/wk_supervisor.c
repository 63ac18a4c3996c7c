/* workers/wk_supervisor.c -- the parent of `inquest worker`: keeps N forked children running,
 * restarts the dead after a backoff, forwards reload and drain; and the helper with which a
 * child hears those signals on its own loop. The jail a child enters is wk_jail.c.
 *
 * Design notes. The parent is deliberately small: no event loop, no threads, one allocation (the
 * slots). It blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP and takes them one at a time with
 * sigtimedwait, whose timeout is the next thing due (a restart, the drain deadline). So nothing
 * runs in a signal handler, and a child is forked from a process that holds no loop, no handle
 * and no thread: the child starts clean, resets those signals, unblocks its mask and calls
 * child_main, which makes its own loop.
 *
 * Each slot (0 .. N-1) is in one of two states:
 *   running  pid > 0; leaves it when waitpid reports the child's end;
 *   waiting  pid == 0; a new child is forked at restart_at, unless the supervisor is stopping.
 * A slot's backoff starts at backoff_min and doubles after each restart, up to backoff_max; a
 * child that lived backoff_reset seconds resets it, so only a crash loop waits long. A child
 * that exits with fatal_status says the configuration cannot work (an unknown user, a secret
 * that cannot be read): the supervisor stops as on SIGTERM and wk_supervise fails, so that the
 * process exits with an error its service manager sees, instead of restarting children forever.
 * Stopping: SIGTERM (or SIGINT) sets 'stopping', cancels pending restarts, sends SIGTERM to every
 * running child and sets the drain deadline; at the deadline (or on a second stop signal) the
 * remaining children get SIGKILL. wk_supervise returns when no slot runs. Only pids that have not
 * been reaped are signalled, so a signal never reaches a recycled pid. */
#define _GNU_SOURCE /* sigabbrev_np, _SC_NPROCESSORS_ONLN, PR_SET_PDEATHSIG */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "rt.h"
#include "wk_supervisor.h"

typedef struct sup_slot {
    pid_t pid;         /* the running child, or 0 */
    double started;    /* rt_monotonic() at fork */
    double restart_at; /* when a waiting slot forks again */
    double backoff;    /* the wait after the next quick death */
} sup_slot;

typedef struct supervisor {
    wk_supervisor_options o; /* defaults filled in */
    sup_slot *slots;
    int running;     /* slots with a child */
    int stopping;    /* a stop signal arrived, or a child exited with fatal_status */
    int gave_up;     /* a child exited with fatal_status */
    int killed;      /* SIGKILL was sent to what remained */
    double deadline; /* end of the drain */
    pid_t self;
} supervisor;

/* The signals the parent takes with sigtimedwait, and what they were before. */
static const int taken[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
#define NTAKEN (sizeof taken / sizeof taken[0])

typedef struct saved_signals {
    sigset_t mask;
    struct sigaction actions[NTAKEN];
} saved_signals;

/* ---- events --------------------------------------------------------------------------------- */

/* Each event's name ("event", for machines) and its line's "msg", as every Inquest log line has. */
static const struct {
    const char *name, *message;
} events[] = {
    [WK_SUPERVISOR_STARTED] = {"child_started", "worker child started"},
    [WK_SUPERVISOR_EXITED] = {"child_exited", "worker child exited"},
    [WK_SUPERVISOR_FORK_FAILED] = {"fork_failed", "could not start a worker child"},
    [WK_SUPERVISOR_RELOADING] = {"reloading", "reloading: SIGHUP passed on to the worker children"},
    [WK_SUPERVISOR_STOPPING] = {"stopping", "stopping: the worker children finish what they run"},
    [WK_SUPERVISOR_KILLING] = {"killing", "killing a worker child that did not stop in time"},
    [WK_SUPERVISOR_STOPPED] = {"stopped", "stopped"},
    [WK_SUPERVISOR_GIVING_UP] = {"giving_up", "giving up: the worker child is not restarted"},
};

static const char *event_level(const wk_supervisor_event *e) {
    if (e->kind == WK_SUPERVISOR_FORK_FAILED || e->kind == WK_SUPERVISOR_GIVING_UP ||
        e->signal == SIGSYS)
        return "error";
    if (e->kind == WK_SUPERVISOR_KILLING)
        return "warn";
    if (e->kind == WK_SUPERVISOR_EXITED && e->restart_in >= 0)
        return "warn"; /* it died on its own: it will be restarted */
    return "info";
}

/* The default reporter: one JSON line on stderr, as every Inquest process logs. */
static void log_event(const wk_supervisor_event *e, void *ud) {
    (void)ud;
    char ts[40], name[16];
    rt_time_format(rt_wallclock(), ts);
    json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:s}", "ts", ts, "level", event_level(e), "msg",
                             events[e->kind].message, "component", "supervisor", "event",
                             events[e->kind].name);
    if (!line)
        return;
    if (e->slot >= 0)
        json_object_set_new(line, "slot", json_integer(e->slot));
    if (e->pid > 0)
        json_object_set_new(line, "pid", json_integer(e->pid));
    if ((e->kind == WK_SUPERVISOR_EXITED || e->kind == WK_SUPERVISOR_GIVING_UP) && e->signal == 0)
        json_object_set_new(line, "status", json_integer(e->status));
    if (e->kind == WK_SUPERVISOR_GIVING_UP)
        json_object_set_new(line, "reason",
                            json_string("a child cannot run with this configuration (its log "
                                        "says why): restarting it would fail the same way"));
    if (e->signal) {
        const char *abbrev = sigabbrev_np(e->signal);
        snprintf(name, sizeof name, "SIG%s", abbrev ? abbrev : "?");
        json_object_set_new(line, "signal", json_string(name));
    }
    if (e->signal == SIGSYS)
        json_object_set_new(line, "reason",
                            json_string("killed by the sandbox: a system call outside the "
                                        "seccomp allow-list (wk_jail.c)"));
    if (e->error)
        json_object_set_new(line, "error", json_string(strerror(e->error)));
    if (e->restart_in >= 0)
        json_object_set_new(line, "restart_in", rt_json_number(e->restart_in));
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
}

static void emit(supervisor *s, wk_supervisor_event e) {
    s->o.on_event(&e, s->o.event_ud);
}

static wk_supervisor_event event(wk_supervisor_event_kind kind, int slot, pid_t pid) {
    return (wk_supervisor_event){
        .kind = kind, .slot = slot, .pid = pid, .status = -1, .restart_in = -1};
}

/* ---- signals of the parent ------------------------------------------------------------------ */

/* Blocks the taken signals, then sets them to their default action: a blocked signal with
 * SIG_IGN would be discarded (nohup ignores SIGHUP), and SIGCHLD ignored reaps children itself. */
static int take_signals(saved_signals *saved, sigset_t *set) {
    sigemptyset(set);
    for (size_t i = 0; i < NTAKEN; i++) {
        sigaddset(set, taken[i]);
        sigaction(taken[i], NULL, &saved->actions[i]);
    }
    if (pthread_sigmask(SIG_BLOCK, set, &saved->mask) != 0)
        return RT_EINTERNAL;
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    for (size_t i = 0; i < NTAKEN; i++)
        if (sigaction(taken[i], &dfl, NULL) != 0)
            return RT_EINTERNAL;
    return RT_OK;
}

static void restore_signals(const saved_signals *saved) {
    for (size_t i = 0; i < NTAKEN; i++)
        sigaction(taken[i], &saved->actions[i], NULL);
    pthread_sigmask(SIG_SETMASK, &saved->mask, NULL);
}

/* Waits up to 'seconds' for one of 'set'. Returns the signal, or 0 on timeout or interruption. */
static int next_signal(const sigset_t *set, double seconds) {
    if (seconds < 0)
        seconds = 0;
    struct timespec ts = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

/* ---- children ------------------------------------------------------------------------------- */

static void set_disposition(int sig, void (*handler)(int)) {
    struct sigaction sa = {.sa_handler = handler};
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* The fork child: a clean signal state, then child_main. SIGHUP is held (blocked) until
 * child_main listens for it (wk_supervisor_child_signals): the child compiles its analyzers
 * before that, and a reload asked meanwhile must reach it. SIGINT is ignored: the terminal's
 * goes to the supervisor, which decides for everyone. */
__attribute__((noreturn)) static void run_child(supervisor *s, int index) {
    set_disposition(SIGTERM, SIG_DFL);
    set_disposition(SIGCHLD, SIG_DFL);
    set_disposition(SIGHUP, SIG_DFL); /* blocked below: an ignored signal would be lost */
    set_disposition(SIGINT, SIG_IGN);
    /* A supervisor killed with SIGKILL cannot forward anything: its death is the drain signal. */
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != s->self)
        raise(SIGTERM); /* it died before prctl; pending until the mask opens */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_SETMASK, &hup, NULL);
    exit(s->o.child_main(index, s->o.ud));
}

/* Schedules the next child of slot 'index' after its backoff, and returns the wait. */
static double schedule_restart(supervisor *s, int index, double now) {
    sup_slot *sl = &s->slots[index];
    if (sl->started > 0 && now - sl->started >= s->o.backoff_reset)
        sl->backoff = s->o.backoff_min;
    double wait = sl->backoff;
    sl->restart_at = now + wait;
    sl->backoff = fmin(sl->backoff * 2, s->o.backoff_max);
    return wait;
}

static void start_child(supervisor *s, int index) {
    sup_slot *sl = &s->slots[index];
    fflush(NULL); /* or the child would write the parent's buffered output again */
    pid_t pid = fork();
    if (pid == 0)
        run_child(s, index);
    double now = rt_monotonic();
    if (pid < 0) {
        wk_supervisor_event e = event(WK_SUPERVISOR_FORK_FAILED, index, 0);
        e.error = errno;
        sl->started = 0;
        e.restart_in = schedule_restart(s, index, now);
        emit(s, e);
        return;
    }
    sl->pid = pid;
    sl->started = now;
    s->running++;
    emit(s, event(WK_SUPERVISOR_STARTED, index, pid));
}

static void stop(supervisor *s);

static void child_ended(supervisor *s, int index, int status) {
    sup_slot *sl = &s->slots[index];
    wk_supervisor_event e = event(WK_SUPERVISOR_EXITED, index, sl->pid);
    if (WIFEXITED(status))
        e.status = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        e.signal = WTERMSIG(status);
    int fatal = s->o.fatal_status && e.status == s->o.fatal_status && !s->stopping;
    sl->pid = 0;
    s->running--;
    if (!s->stopping && !fatal)
        e.restart_in = schedule_restart(s, index, rt_monotonic());
    emit(s, e);
    if (fatal) {
        s->gave_up = 1;
        e.kind = WK_SUPERVISOR_GIVING_UP;
        emit(s, e);
        stop(s);
    }
}

/* Collects every child of ours that ended. Only our own pids: the caller's other children, if
 * any, are not ours to reap. */
static void reap(supervisor *s) {
    for (int i = 0; i < s->o.processes; i++) {
        int status = 0;
        if (s->slots[i].pid <= 0)
            continue;
        pid_t r = waitpid(s->slots[i].pid, &status, WNOHANG);
        if (r == s->slots[i].pid || (r < 0 && errno == ECHILD))
            child_ended(s, i, status);
    }
}

static void start_due(supervisor *s) {
    double now = rt_monotonic();
    for (int i = 0; i < s->o.processes && !s->stopping; i++)
        if (s->slots[i].pid == 0 && s->slots[i].restart_at <= now)
            start_child(s, i);
}

static void signal_children(supervisor *s, int sig) {
    for (int i = 0; i < s->o.processes; i++)
        if (s->slots[i].pid > 0)
            kill(s->slots[i].pid, sig);
}

static void kill_remaining(supervisor *s) {
    s->killed = 1;
    for (int i = 0; i < s->o.processes; i++)
        if (s->slots[i].pid > 0)
            emit(s, event(WK_SUPERVISOR_KILLING, i, s->slots[i].pid));
    signal_children(s, SIGKILL);
}

/* A stop signal: the first starts the drain, a second one ends it at once. */
static void stop(supervisor *s) {
    if (s->stopping) {
        if (!s->killed)
            kill_remaining(s);
        return;
    }
    s->stopping = 1;
    s->deadline = rt_monotonic() + s->o.drain_timeout;
    emit(s, event(WK_SUPERVISOR_STOPPING, -1, 0));
    signal_children(s, SIGTERM);
}

/* Seconds until something is due: the drain deadline, or the earliest restart. */
static double time_to_next(const supervisor *s) {
    double now = rt_monotonic(), next = now + 60; /* a periodic reap costs nothing */
    if (s->stopping)
        return s->killed ? 1 : s->deadline - now;
    for (int i = 0; i < s->o.processes; i++)
        if (s->slots[i].pid == 0 && s->slots[i].restart_at < next)
            next = s->slots[i].restart_at;
    return next - now;
}

/* ---- the supervisor ------------------------------------------------------------------------- */

static int resolve_options(const wk_supervisor_options *in, wk_supervisor_options *o) {
    *o = *in;
    if (!o->child_main || o->processes < 0 || o->backoff_min < 0 || o->backoff_max < 0 ||
        o->backoff_reset < 0 || o->drain_timeout < 0)
        return RT_EUSAGE;
    if (o->processes == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o->processes = cpus > 0 ? (int)cpus : 1;
    }
    if (o->backoff_min == 0)
        o->backoff_min = WK_SUPERVISOR_BACKOFF_MIN;
    if (o->backoff_max == 0)
        o->backoff_max = WK_SUPERVISOR_BACKOFF_MAX;
    if (o->backoff_max < o->backoff_min)
        o->backoff_max = o->backoff_min;
    if (o->backoff_reset == 0)
        o->backoff_reset = WK_SUPERVISOR_BACKOFF_RESET;
    if (o->drain_timeout == 0)
        o->drain_timeout = WK_SUPERVISOR_DRAIN_TIMEOUT;
    if (!o->on_event)
        o->on_event = log_event;
    return RT_OK;
}

static void run(supervisor *s, const sigset_t *set) {
    while (!s->stopping || s->running > 0) {
        start_due(s);
        switch (next_signal(set, time_to_next(s))) {
        case SIGTERM:
        case SIGINT:
            stop(s);
            break;
        case SIGHUP:
            emit(s, event(WK_SUPERVISOR_RELOADING, -1, 0));
            signal_children(s, SIGHUP);
            break;
        default: /* SIGCHLD, or a timeout: reaping below covers both */
            break;
        }
        reap(s);
        if (s->stopping && !s->killed && rt_monotonic() >= s->deadline)
            kill_remaining(s);
    }
}

int wk_supervise(const wk_supervisor_options *o) {
    supervisor s = {.self = getpid()};
    int rc = resolve_options(o, &s.o);
    if (rc != RT_OK)
        return rc;
    saved_signals saved;
    sigset_t set;
    rc = take_signals(&saved, &set);
    if (rc == RT_OK) {
        s.slots = rt_xcalloc((size_t)s.o.processes, sizeof *s.slots);
        for (int i = 0; i < s.o.processes; i++)
            s.slots[i].backoff = s.o.backoff_min; /* restart_at 0: start now */
        run(&s, &set);
        emit(&s, event(WK_SUPERVISOR_STOPPED, -1, 0));
        free(s.slots);
    }
    restore_signals(&saved);
    return rc == RT_OK && s.gave_up ? RT_EINPUT : rc;
}

/* ---- in a child ----------------------------------------------------------------------------- */

static void on_child_signal(uv_signal_t *handle, int signum) {
    wk_child_signals *s = handle->data;
    if (signum == SIGTERM) {
        s->draining = 1;
        if (s->on_term)
            s->on_term(s->ud);
    } else if (s->on_hup) {
        s->on_hup(s->ud);
    }
}

int wk_supervisor_child_signals(wk_child_signals *s, uv_loop_t *loop, void (*on_term)(void *ud),
                                void (*on_hup)(void *ud), void *ud) {
    memset(s, 0, sizeof *s);
    s->on_term = on_term;
    s->on_hup = on_hup;
    s->ud = ud;
    if (uv_signal_init(loop, &s->term) != 0)
        return RT_EINTERNAL;
    if (uv_signal_init(loop, &s->hup) != 0) {
        uv_close((uv_handle_t *)&s->term, NULL);
        s->closed = 1;
        return RT_EINTERNAL;
    }
    s->term.data = s->hup.data = s;
    if (uv_signal_start(&s->term, on_child_signal, SIGTERM) != 0 ||
        uv_signal_start(&s->hup, on_child_signal, SIGHUP) != 0) {
        wk_supervisor_child_signals_close(s);
        return RT_EINTERNAL;
    }
    sigset_t hup; /* held since the fork (run_child): one that came meanwhile arrives now */
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &hup, NULL);
    return RT_OK;
}

void wk_supervisor_child_signals_close(wk_child_signals *s) {
    if (s->closed)
        return;
    s->closed = 1;
    uv_close((uv_handle_t *)&s->term, NULL);
    uv_close((uv_handle_t *)&s->hup, NULL);
}
