/* workers/wk_supervisor.h -- the parent of `inquest worker`: forks N children, restarts those
 * that die, forwards SIGHUP (reload) and SIGTERM (drain) to them; and what a child needs to hear
 * those signals on its own loop. The sandbox a child enters is in wk_jail.h. */
#ifndef INQUEST_WK_SUPERVISOR_H
#define INQUEST_WK_SUPERVISOR_H

#include <sys/types.h>
#include <uv.h>

#define WK_SUPERVISOR_BACKOFF_MIN   0.1  /* seconds before the first restart of a slot */
#define WK_SUPERVISOR_BACKOFF_MAX   30.0 /* the doubling stops here */
#define WK_SUPERVISOR_BACKOFF_RESET 60.0 /* a child that lived this long had no crash loop */
#define WK_SUPERVISOR_DRAIN_TIMEOUT 30.0 /* seconds children get to finish after SIGTERM */

typedef enum wk_supervisor_event_kind {
    WK_SUPERVISOR_STARTED, /* a child was forked: 'slot', 'pid' */
    WK_SUPERVISOR_EXITED,  /* a child ended: 'slot', 'pid', 'status' or 'signal', 'restart_in' */
    WK_SUPERVISOR_FORK_FAILED, /* fork failed: 'slot', 'error', 'restart_in' */
    WK_SUPERVISOR_RELOADING,   /* SIGHUP: forwarded to the children */
    WK_SUPERVISOR_STOPPING,    /* SIGTERM or SIGINT: children are draining */
    WK_SUPERVISOR_KILLING,     /* the drain timed out (or a second stop signal): SIGKILL to 'pid' */
    WK_SUPERVISOR_STOPPED,     /* every child is gone; wk_supervise returns */
    WK_SUPERVISOR_GIVING_UP,   /* a child exited with 'fatal_status' ('slot', 'pid', 'status'):
                                  no restarts; the others are stopped */
} wk_supervisor_event_kind;

typedef struct wk_supervisor_event {
    wk_supervisor_event_kind kind;
    int slot;          /* the child's index, 0 .. processes-1; -1 for the supervisor's events */
    pid_t pid;         /* the child's pid, or 0 */
    int status;        /* exit status of a child that exited, else -1 */
    int signal;        /* signal that ended the child, else 0 (SIGSYS: the sandbox killed it) */
    int error;         /* errno of a failed fork, else 0 */
    double restart_in; /* seconds until the slot's next child, or -1 when none (stopping) */
} wk_supervisor_event;

typedef struct wk_supervisor_options {
    int processes; /* children to keep running; 0: the number of online CPUs */
    /* The life of a child, called in the fork child with its 'slot' and 'ud'; its return value
     * is the child's exit status. It starts with default signal dispositions (SIGHUP and SIGINT
     * ignored until it listens: wk_supervisor_child_signals), an empty signal mask and no event
     * loop of the supervisor's: it makes its own. */
    int (*child_main)(int slot, void *ud);
    void *ud;
    double backoff_min;   /* 0: WK_SUPERVISOR_BACKOFF_MIN */
    double backoff_max;   /* 0: WK_SUPERVISOR_BACKOFF_MAX */
    double backoff_reset; /* 0: WK_SUPERVISOR_BACKOFF_RESET */
    double drain_timeout; /* 0: WK_SUPERVISOR_DRAIN_TIMEOUT */
    /* An exit status (not 0) by which a child says it cannot run with this configuration (an
     * unknown user, a secret that cannot be read): restarting it would fail the same way
     * forever, so the supervisor stops instead. 0: every exit is restarted. */
    int fatal_status;
    /* Called in the supervisor for each event; NULL: a JSON line on stderr. */
    void (*on_event)(const wk_supervisor_event *event, void *event_ud);
    void *event_ud;
} wk_supervisor_options;

/* Runs the supervisor in the calling process until it is told to stop: forks 'o->processes'
 * children that run 'o->child_main', and restarts a child that exits or is killed after its
 * slot's backoff ('o->backoff_min', doubled on each quick death up to 'o->backoff_max', back to
 * the minimum once a child lived 'o->backoff_reset'). SIGHUP is forwarded to the children.
 * SIGTERM or SIGINT is forwarded as SIGTERM; children that are still running after
 * 'o->drain_timeout' are killed with SIGKILL (at once on a second SIGTERM or SIGINT). Call it
 * from a single-threaded process with no event loop: children are forked from it. It blocks
 * SIGCHLD, SIGTERM, SIGINT and SIGHUP while it runs and restores their mask and dispositions
 * before returning. Returns RT_OK once every child is gone after a stop, RT_EINPUT once every
 * child is gone after one exited with 'o->fatal_status', RT_EUSAGE when 'o' is invalid,
 * RT_EINTERNAL when signals cannot be set up. */
int wk_supervise(const wk_supervisor_options *o);

/* ---- in a child ----------------------------------------------------------------------------- */

/* What a child listens to on its own loop. Caller-owned; fields are read-only. */
typedef struct wk_child_signals {
    uv_signal_t term, hup;
    void (*on_term)(void *ud);
    void (*on_hup)(void *ud);
    void *ud;
    int draining; /* set once SIGTERM arrived: take no new work, finish what is in flight */
    int closed;
} wk_child_signals;

/* Listens on 'loop' for SIGTERM, which sets 's->draining' and calls 'on_term'('ud'), and for
 * SIGHUP, which calls 'on_hup'('ud') (either may be NULL). 'on_term' is called again on each
 * SIGTERM. The handles keep 'loop' alive: once the child has drained it calls
 * wk_supervisor_child_signals_close. Returns RT_OK or RT_EINTERNAL. */
int wk_supervisor_child_signals(wk_child_signals *s, uv_loop_t *loop, void (*on_term)(void *ud),
                                void (*on_hup)(void *ud), void *ud);

/* Stops listening: closes the handles of 's', which must stay valid until the loop has run once
 * more. Safe to call twice. */
void wk_supervisor_child_signals_close(wk_child_signals *s);

#endif
