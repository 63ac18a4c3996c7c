/* workers/wk_io.c -- the scheduler of one analysis' threads on the event loop: connector calls
 * and nested analyses yield their thread and the loop resumes it (OpenResty's cosockets);
 * ctx:parallel runs functions in threads of their own and waits for all of them. What a call
 * sends and how its answer reads lives in wk_connectors.c; the analysis' life in wk_engine.c.
 *
 * Design notes.
 * Tasks. Every thread the host resumes is a task: run's (the first, the root) and one per
 * function of a ctx:parallel (its children). A task is
 *   running    inside lua_resume;
 *   waiting    yielded by a binding through wk__wait, with exactly one wait outstanding: a
 *              connector call, a nested analysis, or its children (ctx:parallel);
 *   preempted  yielded by the count hook once it ran a slice (WK_SLICE), on the engine's ready
 *              queue, with no wait;
 *   done       returned or raised. A child's results or error stay on its thread's stack until
 *              its parent collects them; the root's error is recorded at once.
 * Transitions: the loop resumes a waiting task when its I/O is done (wk__wake), and the first
 * preempted task once per turn (run_ready), so that its timers and replies, and the other
 * analyses, run between slices of one that computes; a child that finishes makes its parent
 * runnable when it was the last (ctx:parallel's continuation then collects). ctx:parallel starts
 * its children itself, nested inside its parent's resume.
 * Slices. A slice starts with each resume from the loop; the resumes nested in it (ctx:parallel's
 * children, a ctx:call's analysis) spend the same slice, so that the loop comes back after one
 * slice however they nest. A task is preempted in its own thread or inside a coroutine the
 * analyzer made: then the coroutine and each one resuming it yield in turn up to the task, and
 * resuming the task resumes them back down (wk_sandbox.c, "Coroutines"): no coroutine.resume of
 * the analyzer's returns early.
 * Ending. The analysis ends when its root is done, a budget trips or it is aborted (deadline,
 * replay miss, cancellation). It ends only when no lua_resume of it is in progress ('resuming'
 * is 0): the state cannot be closed under a running thread. A preempted analysis runs no
 * resume, so an abort or its deadline ends it at once, before any more of its code runs. Ending
 * cancels every outstanding wait and takes its tasks off the ready queue, so nothing resumes a
 * task afterwards. */
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "wk_internal.h"

#define MAX_PARALLEL 256 /* functions in one ctx:parallel */

struct wk_task {
    wk_task *next;
    wk_analysis *a;
    lua_State *co;
    wk_task *parent;  /* the task whose ctx:parallel started this one; NULL for the root */
    wk_wait *wait;    /* while waiting */
    wk_wait children; /* the wait on its children, while in ctx:parallel */
    int pending;      /* children not yet done */
    int done, status, nres;
    int preempted;       /* yielded by the count hook: on the engine's ready queue */
    int line;            /* then: the line its innermost function stood at */
    wk_task *next_ready; /* the next preempted task, in the engine's ready queue */
};

static wk_task *task_new(wk_analysis *a, lua_State *co, wk_task *parent) {
    wk_task *t = rt_xcalloc(1, sizeof *t);
    t->a = a;
    t->co = co;
    t->parent = parent;
    wk_task **tail = &a->tasks; /* the root stays first */
    while (*tail)
        tail = &(*tail)->next;
    *tail = t;
    return t;
}

/* Frees done task 't' once its parent collected it: tasks are found by their thread, and a
 * collected thread's address may come back for a new one. */
static void task_free(wk_task *t) {
    for (wk_task **p = &t->a->tasks; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    free(t);
}

static wk_task *task_of(lua_State *L) {
    for (wk_task *t = wk__analysis(L)->tasks; t; t = t->next)
        if (t->co == L)
            return t;
    return NULL;
}

int wk__is_task(lua_State *L) {
    return task_of(L) != NULL;
}

void wk__check_task(lua_State *L, const char *what) {
    if (!task_of(L))
        luaL_error(L,
                   "%s: I/O cannot run inside a coroutine the analyzer made (coroutine.create or "
                   "coroutine.wrap); use ctx:parallel to run calls side by side",
                   what);
}

int wk__run_status(const wk_analysis *a) {
    return a->tasks && a->tasks->done ? a->tasks->status : LUA_ERRRUN;
}

static int ended(const wk_analysis *a) {
    return a->budget.tripped || a->abort_status || (a->tasks && a->tasks->done);
}

/* Ends the analysis once nothing of it runs. Called last by every entry from the loop. */
static void settle(wk_analysis *a) {
    if (!a->resuming && ended(a))
        wk__analysis_end(a);
}

static void task_resume(wk_task *t, lua_State *from, int nargs);

/* A child is done: its parent goes on once all its children are. */
static void child_done(wk_task *t) {
    wk_task *p = t->parent;
    if (--p->pending == 0 && p->wait == &p->children && !ended(t->a))
        task_resume(p, t->a->L, 0);
}

static void ready_push(wk_task *t);
static void arm_deadline(wk_analysis *a);
static void time_out(wk_analysis *a);
static void run_ready(uv_idle_t *turn);

/* Resumes 't' with 'nargs' values on its stack, on behalf of thread 'from'. Contract: in a task,
 * lua_resume returns LUA_YIELD only when a binding yielded through wk__wait (coroutine.yield
 * raises in a task, wk_sandbox.c) or the count hook preempted it (wk__preempt); LUA_OK or an
 * error means the task is done. */
static void task_resume(wk_task *t, lua_State *from, int nargs) {
    wk_analysis *a = t->a;
    wk_engine *e = a->engine;
    t->wait = NULL;
    t->preempted = 0;
    if (e->resumes++ == 0)
        e->slice_start = 0; /* a new slice, timed from its first hook: no clock read here */
    a->resuming++;
    int status = lua_resume(t->co, from, nargs, &t->nres);
    a->resuming--;
    e->resumes--;
    if (status == LUA_YIELD && t->wait)
        return;
    if (status == LUA_YIELD && t->preempted) {
        ready_push(t);
        arm_deadline(a); /* the hook does not watch it while the task is off the CPU */
        return;
    }
    if (status == LUA_YIELD) { /* cannot happen, but must not hang the analysis */
        status = LUA_ERRRUN;
        lua_pushliteral(t->co, "attempt to yield from outside a coroutine");
    }
    t->done = 1;
    t->status = status;
    if (!t->parent) {
        if (status != LUA_OK) {
            char buf[64];
            wk__error_from_thread(a, t->co, wk__error_text(t->co, -1, buf, sizeof buf));
        }
    } else {
        child_done(t);
    }
}

void wk__run_task(wk_analysis *a, lua_State *co) {
    task_resume(task_new(a, co, NULL), a->L, 2);
    settle(a);
}

/* ---- Preemption ----------------------------------------------------------------------------- */

int wk__preempt(lua_State *L, lua_Debug *ar) {
    if (!lua_isyieldable(L) || !lua_getinfo(L, "Sl", ar) || strcmp(ar->what, "C") == 0)
        return 0; /* in C, a yield without a continuation would drop the rest of the function */
    wk_task *t = task_of(L);
    if (!t) { /* a coroutine the analyzer made: the yield passes up to its task */
        lua_State *root = wk__coroutine_task(L);
        if (!root || !(t = task_of(root)))
            return 0;
        wk__analysis(L)->preempting = 1;
    }
    t->preempted = 1;
    t->line = ar->currentline;
    return 1;
}

static void ready_push(wk_task *t) {
    wk_engine *e = t->a->engine;
    t->next_ready = NULL;
    if (e->ready_last)
        e->ready_last->next_ready = t;
    else
        e->ready = t;
    e->ready_last = t;
    uv_idle_start(&e->turn, run_ready); /* no-op when it is started already */
}

static void ready_remove(wk_task *t) {
    wk_engine *e = t->a->engine;
    wk_task *prev = NULL;
    for (wk_task *r = e->ready; r; prev = r, r = r->next_ready) {
        if (r != t)
            continue;
        if (prev)
            prev->next_ready = t->next_ready;
        else
            e->ready = t->next_ready;
        if (e->ready_last == t)
            e->ready_last = prev;
        break;
    }
    t->preempted = 0;
    if (!e->ready)
        uv_idle_stop(&e->turn);
}

/* Resumes the first preempted task, one per turn of the loop: between two slices the loop polls
 * for I/O (an active idle handle makes the poll not block) and runs its timers. A deadline that
 * passed meanwhile ends the analysis instead, before any more of its code runs. */
static void run_ready(uv_idle_t *turn) {
    wk_engine *e = turn->data;
    wk_task *t = e->ready;
    if (!t) {
        uv_idle_stop(turn);
        return;
    }
    wk_analysis *a = t->a;
    if (rt_monotonic() > a->budget.shared->deadline) { /* before its timer said so */
        time_out(a);
        return;
    }
    ready_remove(t);
    task_resume(t, a->L, 0);
    settle(a);
}

void wk__scheduler_init(wk_engine *engine) {
    uv_idle_init(&engine->loop, &engine->turn);
    engine->turn.data = engine;
}

void wk__scheduler_close(wk_engine *engine) {
    uv_close((uv_handle_t *)&engine->turn, NULL);
}

/* ---- Waiting ------------------------------------------------------------------------------ */

static void free_timer(uv_handle_t *handle) {
    free(handle);
}

/* Records 'message' where the first task waiting for I/O or preempted stands (not one waiting
 * only for its children: the place of interest is the call that did not come back, or the code
 * that computed). */
static void waiting_task_error(wk_analysis *a, const char *message) {
    wk_task *where = a->tasks;
    for (wk_task *t = a->tasks; t; t = t->next)
        if ((t->wait && t->wait != &t->children) || t->preempted) {
            where = t;
            break;
        }
    if (NEVER(!where)) /* an analysis waits only in its tasks */
        return;
    wk__error_from_thread_at(a, where->co, where->preempted ? where->line : 0, message);
}

/* The deadline passed while the analysis waited or was preempted: it ends, saying where it
 * stood. */
static void time_out(wk_analysis *a) {
    waiting_task_error(a, "deadline exceeded");
    a->budget.tripped = WK_TRIP_TIMEOUT;
    settle(a);
}

/* The loop's clock, which the timer was started by, is read once a turn: after a slice it lags
 * the deadline's, and the timer may fire early. */
static void deadline_passed(uv_timer_t *timer) {
    wk_analysis *a = timer->data;
    double left = a->budget.shared->deadline - rt_monotonic();
    if (left > 0)
        uv_timer_start(timer, deadline_passed, (uint64_t)(left * 1e3) + 1, 0);
    else
        time_out(a);
}

/* The count hook watches the deadline while Lua runs; this timer while the analysis waits or
 * is preempted. */
static void arm_deadline(wk_analysis *a) {
    if (a->deadline)
        return;
    a->deadline = rt_xmalloc(sizeof *a->deadline);
    uv_timer_init(&a->engine->loop, a->deadline);
    a->deadline->data = a;
    double left = a->budget.shared->deadline - rt_monotonic();
    uv_timer_start(a->deadline, deadline_passed, left > 0 ? (uint64_t)(left * 1e3) + 1 : 0, 0);
}

int wk__wait(lua_State *L, wk_wait *wait, lua_KFunction k, lua_KContext kctx) {
    wk_task *t = task_of(L);
    if (!t) /* wk__check_task ran before the I/O started: cannot happen */
        return luaL_error(L, "I/O outside a task");
    wait->task = t;
    t->wait = wait;
    arm_deadline(t->a);
    return lua_yieldk(L, 0, kctx, k);
}

void wk__wake(wk_wait *wait) {
    wk_task *t = wait->task;
    wk_analysis *a = t->a;
    if (t->wait != wait) /* cannot happen: the wait was cancelled */
        return;
    task_resume(t, a->L, 0);
    settle(a);
}

void wk__abort(wk_analysis *a, const char *status, const char *message) {
    if (a->abort_status || !a->tasks || a->tasks->done)
        return;
    a->abort_status = status;
    json_array_append_new(a->errors,
                          json_pack("{s:o}", "message", rt_json_text_cut(message, WK_MAX_TEXT)));
    settle(a);
}

void wk__tasks_end(wk_analysis *a) {
    for (wk_task *t = a->tasks, *next; t; t = next) {
        next = t->next;
        if (t->preempted)
            ready_remove(t);
        if (t->wait && t->wait->cancel)
            t->wait->cancel(t->wait);
        free(t);
    }
    a->tasks = NULL;
    if (a->deadline) {
        uv_timer_stop(a->deadline);
        uv_close((uv_handle_t *)a->deadline, free_timer);
        a->deadline = NULL;
    }
}

/* ---- ctx:parallel ------------------------------------------------------------------------- */

/* Keys in a deterministic order (integers, then strings), so that calls start, and are listed
 * in the result, the same way on every run: Lua's own table order varies between states. */
static int key_before(lua_State *L, int i, int j) {
    int ti = lua_type(L, i), tj = lua_type(L, j);
    if (ti != tj)
        return ti == LUA_TNUMBER;
    return lua_compare(L, i, j, LUA_OPLT);
}

/* Pushes a sequence of the keys of the table at 'idx', sorted. Raises on a value that is not a
 * function or a key that is neither an integer nor a string. */
static int push_sorted_keys(lua_State *L, int idx) {
    int n = 0;
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (!lua_isinteger(L, -2) && lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "ctx:parallel: keys must be integers or strings");
        if (lua_type(L, -1) != LUA_TFUNCTION) {
            lua_pushvalue(L, -2);
            return luaL_error(L, "ctx:parallel: [%s] must be a function (got %s)",
                              luaL_tolstring(L, -1, NULL), luaL_typename(L, -2));
        }
        if (++n > MAX_PARALLEL)
            return luaL_error(L, "ctx:parallel: at most %d functions at once", MAX_PARALLEL);
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, n);
    }
    int keys = lua_gettop(L);
    for (int i = 2; i <= n; i++) /* insertion sort: n is small */
        for (int j = i; j > 1; j--) {
            lua_rawgeti(L, keys, j);
            lua_rawgeti(L, keys, j - 1);
            int swap = key_before(L, -2, -1);
            if (swap) {
                lua_rawseti(L, keys, j);
                lua_rawseti(L, keys, j - 1);
            } else {
                lua_pop(L, 2);
                break;
            }
        }
    return n;
}

/* Stack: ctx, functions, keys, threads. Moves each child's outcome into results[key] or
 * errors[key]: a child that raised, or returned nil and a message, failed. */
static int parallel_collect(lua_State *L, int status, lua_KContext kctx) {
    int n = (int)kctx;
    (void)status;
    lua_createtable(L, 0, n); /* 5: results */
    lua_createtable(L, 0, 0); /* 6: errors */
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, 3, i);
        lua_rawgeti(L, 4, i);
        lua_State *co = lua_tothread(L, -1);
        wk_task *t = task_of(co);
        lua_pop(L, 1);
        int failed = t->status != LUA_OK || (t->nres >= 2 && lua_isnil(co, -t->nres));
        if (failed && t->status == LUA_OK) /* nil, message */
            lua_settop(co, lua_gettop(co) - t->nres + 2);
        else if (t->status == LUA_OK && t->nres > 1)
            lua_settop(co, lua_gettop(co) - t->nres + 1);
        /* else it raised: the error is on top, above what the frame that raised held (which
         * lua_resume counts in 'nres') */
        if (lua_gettop(co) > 0) {
            lua_xmove(co, L, 1);
            lua_rawset(L, failed ? 6 : 5);
        } else {
            lua_pop(L, 1);
        }
        task_free(t);
    }
    return 2;
}

int wk__ctx_parallel(lua_State *L) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    wk__check_task(L, "ctx:parallel");
    wk_task *parent = task_of(L);
    int n = push_sorted_keys(L, 2);
    lua_createtable(L, n, 0); /* 4: the children's threads, anchored here */
    parent->pending = n;
    for (int i = 1; i <= n; i++) {
        lua_State *co = lua_newthread(L);
        lua_rawseti(L, 4, i);
        lua_rawgeti(L, 3, i);
        lua_gettable(L, 2);
        lua_xmove(L, co, 1);
        task_resume(task_new(parent->a, co, parent), L, 0);
        if (ended(parent->a))
            break;
    }
    if (ended(parent->a)) /* a child tripped a budget or the analysis was aborted */
        return luaL_error(L, "ctx:parallel: the analysis ended");
    if (parent->pending == 0)
        return parallel_collect(L, LUA_OK, n);
    parent->children.cancel = NULL; /* each child cancels its own wait */
    return wk__wait(L, &parent->children, parallel_collect, n);
}
