/* workers/wk_internal.h -- what the engine's own files share: the budget of one analysis, the
 * analysis itself, and the sandbox that hosts it. Nothing outside workers/ includes it. */
#ifndef INQUEST_WK_INTERNAL_H
#define INQUEST_WK_INTERNAL_H

#include <lua.h>
#include "rt_http.h"
#include "wk.h"

/* Error messages and other text from analyzer code are cut to this many bytes in results. */
#define WK_MAX_TEXT 4096

/* Why an analysis was stopped; 0 while its budgets hold. Values match result statuses. */
typedef enum wk_trip {
    WK_TRIP_NONE = 0,
    WK_TRIP_MEMORY,
    WK_TRIP_CPU,
    WK_TRIP_TIMEOUT,
} wk_trip;

/* The budget of a tree of analyses: an analysis and those its ctx:calls started, at any depth,
 * count against the root's limits together, so that nesting and ctx:parallel cannot multiply
 * them. The root creates it; each analysis of the tree holds a reference, so that it outlives
 * the last of them. Counts are of the whole tree; a state that finds a limit passed trips. */
typedef struct wk_shared {
    int refs;
    wk_limits limits;
    double deadline;       /* rt_monotonic() time */
    uint64_t steps_used;   /* instructions and pattern steps of every state */
    size_t memory_used;    /* bytes held by every Lua state */
    size_t memory_outside; /* bytes held for them outside their states: answers decoded in C */
    int calls;             /* connector calls started */
    rt_http_allowance answer_bytes; /* bytes of connector answers read (limits.call_bytes) */
} wk_shared;

/* Budget of one Lua state. Read by the allocator, the count hook and the pattern matcher. */
typedef struct wk_budget {
    wk_shared *shared;  /* the tree's */
    size_t memory_used; /* bytes held by this Lua state */
    size_t memory_peak;
    uint64_t steps_used; /* this state's instructions and pattern steps, and its finished nested
                            analyses': what its result reports */
    int alloc_failed;    /* the last growing allocation failed: a second one in a row trips */
    int gc_stopped;      /* the collector waits until the state grows (wk_sandbox.c) */
    wk_trip tripped;
} wk_budget;

/* A compiled analyzer (or lib module): bytecode the host made itself from the file's text. */
typedef struct wk_compiled {
    char *path;
    char hash[72];
    char *bytecode;
    size_t len;
} wk_compiled;

/* A connector as analyses see it (wk_connectors.c). */
typedef struct wk_connector {
    char *name; /* owned */
    rt_connector_type type;
    struct rt_http_target *target;
    json_t *settings; /* owned: what shapes the answers (the http connector's events) */
    bool reserved;    /* an action's (rt_connector.reserved): no target, only a clear refusal */
} wk_connector;

struct wk_engine {
    char **roots;
    size_t nroots;
    wk_compiled *cache;
    size_t ncache;
    /* Analyzer names resolved to files so far, name then path, each malloc'd: like the compiled
     * cache, they hold until wk_engine_reload, and spare each analysis a walk of the path. */
    char **resolved;
    size_t nresolved;
    struct chunk *spare; /* chunks of closed states, for the next ones (wk_heap.c) */
    size_t nspare;
    struct wk_slot *free_slots, **slots; /* every slot made, and those no state holds */
    size_t nslots;
    int no_images; /* a fresh state did not fit a slot's region: states are built each time */
    uv_loop_t loop;
    struct rt_http *http; /* created with the first connector */
    wk_connector *connectors;
    size_t nconnectors;
    rt_recording *recording;         /* not owned; NULL: live */
    struct wk_validator *validators; /* analyzers kept loaded for wk_validate */
    size_t nvalidators;
    /* The scheduler's (wk_io.c): tasks the count hook preempted, resumed one per turn of the
     * loop by 'turn' in the order they yielded; and the slice of the outermost resume. */
    struct wk_task *ready, *ready_last;
    uv_idle_t turn;
    int resumes;        /* task resumes in progress, nested ones included */
    double slice_start; /* rt_monotonic() at the first hook of the slice; 0 before it */
};

/* Blocks up to this size come from the heap's size classes; larger ones from malloc. */
#define WK_HEAP_SMALL 256

/* Nested resumes of coroutines the analyzer made that a preemption passes through; a coroutine
 * nested deeper computes on until it returns or yields (wk__coroutine_task). */
#define WK_RESUMES_MAX 16
/* Coroutines left suspended by preemptions at once, in all the tasks of an analysis. */
#define WK_HELD_MAX 64

/* The memory of one Lua state (wk_heap.c). */
typedef struct wk_heap {
    wk_engine *engine;
    void *free[WK_HEAP_SMALL / 16]; /* free blocks by size class */
    char *next, *end;               /* the unused part of the newest chunk */
    struct chunk *chunks;
    struct big *bigs; /* the large blocks from malloc, linked (wk_heap.c) */
    /* The slot's region the state lives in first (NULL: none), and its first unused segment. */
    char *region, *region_next;
    int building; /* the slot's image is being made: large blocks come from the region too */
    int escaped;  /* while building, a block went outside the region: no image of this state */
    int refused;  /* while building, the budget refused a block: no image of this state either */
    size_t reserved, reserved_peak; /* bytes of chunks and large blocks the state holds */
    size_t cap;                     /* the most it may hold: twice its budget and some slack */
} wk_heap;

/* The bytes of a state built in a slot's region (region[0, len)), and what goes with them. */
typedef struct wk_image {
    char *bytes; /* NULL: none */
    size_t len;
    wk_heap heap; /* the heap when the image was made */
    lua_State *L; /* the state in the image */
    size_t memory_used, memory_peak;
} wk_image;

/* A slot: memory at an address of its own in which a fresh state is built once, its image kept,
 * and the image copied back for each later state of the slot (wk_sandbox.c, "Images"). */
typedef struct wk_slot {
    char *region;    /* REGION_BYTES (wk_heap.c) */
    wk_image fresh;  /* a fresh state */
    wk_image loaded; /* a fresh state with the chunk of the analyzer at 'loaded_path' loaded */
    char *loaded_path;
    char loaded_hash[72];
    struct wk_slot *next_free;
} wk_slot;

/* Lua's allocation contract: 'osize' is the size the block at 'ptr' was allocated with. */
void *wk__heap_realloc(wk_heap *h, void *ptr, size_t osize, size_t nsize);
void wk__heap_free(wk_heap *h, void *ptr, size_t size);
/* Gives the chunks of a dropped state back to the engine for later states, and frees its large
 * blocks. */
void wk__heap_release(wk_heap *h);
/* Frees the chunks and the slots the engine keeps. */
void wk__heap_drop_spares(wk_engine *engine);
/* A free slot of the engine (made when none is), or NULL when SLOTS_MAX (wk_heap.c) are in use. */
wk_slot *wk__slot_take(wk_engine *engine);
void wk__slot_give(wk_engine *engine, wk_slot *slot);
/* The heap starts in 'slot''s region, building its fresh image when it has none. */
void wk__heap_enter(wk_heap *h, wk_slot *slot);
/* Keeps in 'image' the state built in the heap's region; fails when part of it is outside. */
int wk__heap_save(wk_heap *h, wk_image *image);
/* Copies 'image' back into its region, and the heap as it was then. */
void wk__heap_restore(wk_heap *h, const wk_image *image);

typedef struct wk_task wk_task;
typedef struct wk_wait wk_wait;

/* What a yielded task waits for (wk_io.c): a connector call, a nested analysis or the tasks of
 * a ctx:parallel. 'cancel' stops it when the analysis ends first; it frees what it owns and the
 * task is never resumed. */
struct wk_wait {
    wk_task *task;
    void (*cancel)(wk_wait *wait);
};

/* An analysis in progress. The Lua state's extra space points to it. */
struct wk_analysis {
    wk_engine *engine;
    wk_analysis *parent; /* the analysis whose ctx:call started this one, or NULL */
    int depth;
    lua_State *L;
    wk_budget budget;
    wk_heap heap;
    wk_slot *slot;       /* the slot the state lives in, or NULL */
    char chunk_hash[72]; /* the hash of the chunk wk__sandbox_open loaded, if it did */
    char id[160];
    char name[128]; /* the analyzer's name once known */
    char *version;  /* owned, or NULL */
    char *path;     /* owned */
    double now;
    double started_at, started_mono;          /* wall clock, monotonic clock */
    int calls_made;                           /* by ctx:call, numbering the children's ids */
    json_t *findings, *steps, *logs, *errors; /* owned arrays */
    json_t *calls; /* owned array: connector calls, in start order; the root's also lists those
                      of its nested analyses */
    wk_done_fn done;
    void *done_ud;
    wk_task *tasks;           /* every task of the analysis; the first is run's */
    int resuming;             /* lua_resume calls in progress (nested by ctx:parallel) */
    const char *abort_status; /* set when the analysis is ended from outside its code */
    uv_timer_t *deadline;     /* started with the first wait; freed in its close callback */
    json_t *inputs;           /* owned: the typed inputs, for the result */
    char hash[72];
    int stage_rc;     /* RT_EANALYZER when the definition did not load */
    rt_diag problems; /* then: why */
    size_t logs_dropped;
    char *conclusion_tag, *conclusion_summary; /* owned, or NULL */
    rt_recording *recording; /* not owned: its request's or its parent's; NULL: the engine's */
    /* Coroutines the analyzer made (wk_sandbox.c, "Coroutines"): the resumes in progress,
     * outermost first, so that the count hook finds the task a coroutine runs under; the
     * threads a preemption left suspended, which only the resume they were in may go on with;
     * and whether a preemption is on its way from a coroutine up to its task. */
    struct {
        lua_State *from, *co;
    } resumes[WK_RESUMES_MAX];
    int n_resumes; /* may exceed WK_RESUMES_MAX: the deeper ones are not kept, nor preempted */
    lua_State *held[WK_HELD_MAX];
    int n_held;
    int preempting;
};

/* The analysis that owns 'L' (any thread of its state). */
static inline wk_analysis *wk__analysis(lua_State *L) {
    return *(wk_analysis **)lua_getextraspace(L);
}

/* Creates the sandboxed Lua state of 'a' (fresh, allow-listed, budgeted) in a->L. Returns RT_OK
 * or RT_ENOMEM. */
int wk__sandbox_open(wk_analysis *a);
void wk__sandbox_close(wk_analysis *a);
/* Pushes the chunk of a->path that wk__sandbox_open loaded, with its hash in 'hash' (72 bytes),
 * and returns 1; returns 0 when it loaded none. Once only. */
int wk__sandbox_take_chunk(wk_analysis *a, char *hash);

/* Pushes the compiled chunk of the analyzer at 'path' (from the engine's cache; compiled from
 * text on first use). Returns RT_OK, or an error with the problem in 'diag'. 'hash' receives
 * the text's hash (72 bytes). */
int wk__catalog_load(wk_engine *engine, lua_State *L, const char *path, char *hash, rt_diag *diag);

/* The compiled analyzer at 'path', compiled on first use; NULL when it does not compile
 * (wk__catalog_load says why). */
wk_compiled *wk__catalog_compiled(wk_engine *engine, const char *path);
/* Pushes the chunk of 'c'; returns lua_load's status (an error only when memory fails). */
int wk__catalog_push(lua_State *L, const wk_compiled *c);

/* Drops every compiled analyzer, so that the next run reads the files again. */
void wk__catalog_forget(wk_engine *engine);

/* The name an analyzer at 'path' must have when 'path' lies under a root (malloc'd), or NULL. */
char *wk__expected_name(wk_engine *engine, const char *path);

/* True when 'name_or_path' names a file (has a '/' or ends in .lua) rather than an analyzer. */
int wk__looks_like_path(const char *name_or_path);

/* The folders of the analyzer path. */
size_t wk__catalog_roots(wk_engine *engine, const char *const **roots);

/* Raises the budget's error in 'L' when the tree's instructions or time are spent: after a
 * nested analysis, which may have spent them, its caller goes on only if they last. */
void wk__budget_enforce(lua_State *L);

/* Pushes the standard library 'name' (string, table, math, utf8, coroutine), opening it if
 * this state has not yet; pushes nil for other names. */
void wk__push_library(lua_State *L, const char *name);

/* Makes what the ctx tables of a fresh state share (wk__ctx_push takes it from the registry). */
void wk__ctx_prepare(lua_State *L);
/* Pushes the ctx table of analysis 'a'. */
void wk__ctx_push(wk_analysis *a);

/* Adds a log line to the analysis (capped; extra lines are counted). */
void wk__log(wk_analysis *a, const char *level, const char *message, size_t len);

/* Runs the nested analysis that ctx:call asked for; pushes its result as a Lua table. Raises a
 * Lua error on cycles, depth, unknown analyzers and invalid inputs. */
int wk__call(lua_State *L, const char *name, int inputs_idx);

/* The message of the error object at 'idx' of 'L', without invoking metamethods; 'buf' holds
 * the text of a non-string one. */
const char *wk__error_text(lua_State *L, int idx, char *buf, size_t size);

/* Records where the analysis stood (file, line) for the error 'message' raised in thread 'co'. */
void wk__error_from_thread(wk_analysis *a, lua_State *co, const char *message);
/* The same with 'line' (when not 0) as the line of the innermost function: for a thread the
 * count hook preempted, of which Lua would name the instruction before the one it stopped at
 * (the VM steps back one to resume there). */
void wk__error_from_thread_at(wk_analysis *a, lua_State *co, int line, const char *message);

/* ---- The scheduler (wk_io.c) -------------------------------------------------------------- */

/* An analysis runs at most this long (seconds) before the count hook yields it back to the loop,
 * which then runs its timers (lease heartbeats, deadlines), replies (cancellations) and the
 * other analyses before resuming it: short enough that a CPU-bound analysis delays them by a
 * few milliseconds only, long enough that a turn of the loop (an epoll_wait that does not
 * block, microseconds) costs nothing measurable. */
#define WK_SLICE 0.010

/* Prepares the loop handle that resumes the preempted tasks of 'engine' (wk_engine_new), and
 * closes it (wk_engine_free). */
void wk__scheduler_init(wk_engine *engine);
void wk__scheduler_close(wk_engine *engine);
/* Called by the count hook of 'L' (its 'ar') once its slice is over: true when 'L' may yield
 * here, and its task is then marked preempted: the hook must yield (lua_yield(L, 0)) as its last
 * act. 'L' is a task's thread, or a coroutine the analyzer made inside one, which yields up to it
 * (wk__coroutine_task). False when a C call lies between (a table.sort comparator), or when a C
 * function of the SDK charges its work through the hook (sdk_charge): the next hook tries
 * again. */
int wk__preempt(lua_State *L, lua_Debug *ar);
/* The thread of the task under which coroutine 'co' (one the analyzer made) runs, when every
 * resume between them can pass a preemption up (wk_sandbox.c); NULL when one cannot. */
lua_State *wk__coroutine_task(lua_State *co);

/* Starts run's thread 'co' (its function and 2 arguments on its stack) as the analysis' first
 * task, and the analysis goes on from the loop until it ends (wk__analysis_end). */
void wk__run_task(wk_analysis *a, lua_State *co);

/* Called by a binding running in 'L' that has started I/O: marks the task of 'L' waiting on
 * 'wait' and yields; 'k' runs when the task is resumed (lua_yieldk). Raises when 'L' is not a
 * task's thread: I/O cannot run in a coroutine the analyzer made itself. */
int wk__wait(lua_State *L, wk_wait *wait, lua_KFunction k, lua_KContext kctx);
/* Raises unless 'L' is a task's thread (see wk__wait); 'what' names the caller. Call it before
 * starting I/O. */
void wk__check_task(lua_State *L, const char *what);
/* The I/O 'wait' is waiting for is done: resumes its task (called from the loop). */
void wk__wake(wk_wait *wait);
/* Ends analysis 'a' from outside its code with 'status' and 'message' (a replay miss, a
 * cancellation): its waits are cancelled and it ends as soon as no thread of it runs. */
void wk__abort(wk_analysis *a, const char *status, const char *message);
/* True when 'L' is the thread of one of its analysis' tasks. */
int wk__is_task(lua_State *L);
/* How run's thread ended: LUA_OK, an error status, or LUA_ERRRUN when it never ended. */
int wk__run_status(const wk_analysis *a);
/* ctx:parallel{ f, … } (wk_io.c). */
int wk__ctx_parallel(lua_State *L);
/* Cancels the waits of 'a' and frees its tasks (wk_io.c), when it ends. */
void wk__tasks_end(wk_analysis *a);

/* Ends 'a' (wk_engine.c): builds the result, closes the state, calls 'done', frees 'a'. The
 * scheduler calls it once nothing of the analysis runs any more. */
void wk__analysis_end(wk_analysis *a);

/* ---- Connectors (wk_connectors.c) --------------------------------------------------------- */

/* ctx.metrics, ctx.logs, ctx.search, ctx.http, ctx.events: push the connector object. */
void wk__connectors_register(lua_State *L);
/* Frees the engine's connectors. */
void wk__connectors_free(wk_engine *engine);

#endif
