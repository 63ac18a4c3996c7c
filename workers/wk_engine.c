/* workers/wk_engine.c -- the life of one analysis.
 *
 * Design notes. An analysis goes: resolve → sandbox (fresh state) → load the definition (run the
 * file's chunk, which returns inquest.analyzer{…}) → validate inputs → run(ctx, input) in its
 * own thread → result. Each stage either hands on to the next or ends the analysis:
 *   - resolve fails, inputs are invalid   → no result: the caller made the mistake (RT_ENOTFOUND,
 *                                           RT_EINPUT), and every problem is in the diag;
 *   - the definition does not load         → result with status "error" and each problem;
 *   - run raises, or a budget trips        → result with status "error" or the budget's status,
 *                                           and where the analyzer stood (file:line).
 * Findings, steps and logs recorded before an error stay in the result. The Lua state is closed
 * before wk_run returns; nothing of an analysis outlives it but its result. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <lauxlib.h>
#include "sdk.h"
#include "wk_internal.h"

static const char *const status_names[] = {
    [WK_TRIP_NONE] = "ok",
    [WK_TRIP_MEMORY] = "memory_exceeded",
    [WK_TRIP_CPU] = "cpu_exceeded",
    [WK_TRIP_TIMEOUT] = "timeout",
};

void wk_limits_default(wk_limits *limits) {
    limits->memory = WK_DEFAULT_MEMORY;
    limits->instructions = WK_DEFAULT_INSTRUCTIONS;
    limits->timeout = WK_DEFAULT_TIMEOUT;
    limits->calls = WK_DEFAULT_CALLS;
    limits->call_bytes = WK_DEFAULT_CALL_BYTES;
}

wk_engine *wk_engine_new(const char *const *roots, size_t nroots) {
    wk_engine *engine = rt_xcalloc(1, sizeof *engine);
    engine->roots = rt_xcalloc(nroots ? nroots : 1, sizeof *engine->roots);
    for (size_t i = 0; i < nroots; i++) {
        engine->roots[i] = rt_xstrdup(roots[i]);
        size_t n = strlen(engine->roots[i]);
        while (n > 1 && engine->roots[i][n - 1] == '/')
            engine->roots[i][--n] = '\0';
    }
    engine->nroots = nroots;
    if (uv_loop_init(&engine->loop) != 0)
        abort(); /* no file descriptors left for an epoll set: nothing sensible to go on with */
    wk__scheduler_init(engine);
    return engine;
}

uv_loop_t *wk_engine_loop(wk_engine *engine) {
    return &engine->loop;
}

void wk_engine_free(wk_engine *engine) {
    if (!engine)
        return;
    wk_engine_reload(engine);
    wk__heap_drop_spares(engine);
    wk__connectors_free(engine); /* closes the HTTP client's handles: run the loop until idle */
    wk__scheduler_close(engine);
    uv_run(&engine->loop, UV_RUN_DEFAULT);
    uv_loop_close(&engine->loop);
    for (size_t i = 0; i < engine->nroots; i++)
        free(engine->roots[i]);
    free(engine->roots);
    free(engine);
}

/* ---- Errors and where they happened ------------------------------------------------------- */

/* The message of an error object, without invoking metamethods: a hostile __tostring could
 * loop, and the host runs it outside every budget. */
const char *wk__error_text(lua_State *L, int idx, char *buf, size_t size) {
    if (lua_type(L, idx) == LUA_TSTRING)
        return lua_tostring(L, idx);
    if (lua_type(L, idx) == LUA_TNUMBER)
        snprintf(buf, size, "%.14g", lua_tonumber(L, idx));
    else
        snprintf(buf, size, "(error object is a %s value)", luaL_typename(L, idx));
    return buf;
}

void wk__error_from_thread_at(wk_analysis *a, lua_State *co, int line, const char *message) {
    lua_Debug ar;
    json_t *error = json_object();
    for (int level = 0; lua_getstack(co, level, &ar); level++) {
        lua_getinfo(co, "Sl", &ar);
        if (level == 0 && line > 0)
            ar.currentline = line;
        if (ar.currentline <= 0 || ar.source[0] != '@')
            continue;
        size_t n = strlen(ar.short_src);
        /* "file:12: boom" says the place twice once file and line are fields of their own. */
        if (strncmp(message, ar.short_src, n) == 0 && message[n] == ':') {
            const char *rest = strstr(message + n + 1, ": ");
            if (rest)
                message = rest + 2;
        }
        json_object_set_new(error, "file", rt_json_text_cut(ar.source + 1, WK_MAX_TEXT));
        json_object_set_new(error, "line", json_integer(ar.currentline));
        break;
    }
    json_object_set_new(error, "message", rt_json_text_cut(message, WK_MAX_TEXT));
    json_array_append_new(a->errors, error);
}

void wk__error_from_thread(wk_analysis *a, lua_State *co, const char *message) {
    wk__error_from_thread_at(a, co, 0, message);
}

/* ---- Running Lua code in a thread of its own ---------------------------------------------- */

/* Calls the function below 'nargs' arguments on top of a->L in a new thread, so that later the
 * analysis can yield for I/O. Returns LUA_OK with 'nresults' results in their place, or the
 * error status with the error recorded. */
static int call_in_thread(wk_analysis *a, int nargs, int nresults) {
    lua_State *L = a->L;
    lua_State *co = lua_newthread(L);
    lua_insert(L, -(nargs + 2));
    lua_xmove(L, co, nargs + 1);
    int nres = 0, status = lua_resume(co, L, nargs, &nres);
    if (status == LUA_YIELD) {
        status = LUA_ERRRUN;
        lua_pushliteral(co, "attempt to yield from outside a coroutine");
    }
    if (status == LUA_OK) {
        lua_settop(co, nresults);
        lua_xmove(co, L, nresults);
        lua_remove(L, -(nresults + 1));
    } else {
        char buf[64];
        wk__error_from_thread(a, co, wk__error_text(co, -1, buf, sizeof buf));
        lua_pop(L, 1);
    }
    return status;
}

/* ---- Stages ------------------------------------------------------------------------------- */

void wk_new_id(char *out) {
    unsigned char bytes[8] = {0};
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes)
        abort(); /* no entropy: nothing sensible to go on with */
    for (size_t i = 0; i < sizeof bytes; i++)
        sprintf(out + 2 * i, "%02x", bytes[i]);
}

/* The budget of a new tree of analyses, whose root asked for 'limits'. */
static wk_shared *shared_new(const wk_limits *limits) {
    wk_shared *s = rt_xcalloc(1, sizeof *s);
    s->refs = 1;
    s->limits = *limits;
    if (s->limits.calls <= 0)
        s->limits.calls = WK_DEFAULT_CALLS;
    if (!s->limits.call_bytes)
        s->limits.call_bytes = WK_DEFAULT_CALL_BYTES;
    s->deadline = rt_monotonic() + s->limits.timeout;
    s->answer_bytes.limit = s->limits.call_bytes;
    s->answer_bytes.name = "limits.call_bytes";
    return s;
}

static void shared_release(wk_shared *s) {
    if (s && --s->refs == 0)
        free(s);
}

/* A new analysis; nested under 'parent' (NULL at the top), it shares the parent's budget and
 * the request's limits are not read. */
static wk_analysis *analysis_new(wk_engine *engine, const wk_request *request,
                                 wk_analysis *parent) {
    wk_analysis *a = rt_xcalloc(1, sizeof *a);
    a->engine = engine;
    if (parent) {
        a->budget.shared = parent->budget.shared;
        a->budget.shared->refs++;
    } else {
        a->budget.shared = shared_new(&request->limits);
    }
    a->started_at = rt_wallclock();
    a->started_mono = rt_monotonic();
    a->now = request->now > 0 ? request->now : floor(a->started_at);
    if (request->id)
        rt_copy(a->id, sizeof a->id, request->id);
    else
        wk_new_id(a->id);
    a->findings = json_array();
    a->steps = json_array();
    a->logs = json_array();
    a->errors = json_array();
    a->calls = json_array();
    return a;
}

static void analysis_free(wk_analysis *a) {
    wk__tasks_end(a);
    wk__sandbox_close(a);
    json_decref(a->findings);
    json_decref(a->steps);
    json_decref(a->logs);
    json_decref(a->errors);
    json_decref(a->calls);
    json_decref(a->inputs);
    shared_release(a->budget.shared);
    rt_diag_free(&a->problems);
    free(a->conclusion_tag);
    free(a->conclusion_summary);
    free(a->version);
    free(a->path);
    free(a);
}

/* Checks that the name fits the file's place under the analyzer path. */
static void check_name(wk_analysis *a, const char *name, rt_diag *diag) {
    char *expected = wk__expected_name(a->engine, a->path);
    if (expected && strcmp(expected, name) != 0)
        rt_diag_add(diag, a->path, 0, NULL,
                    "the analyzer is named '%s' but its file says '%s' (rename one of them)", name,
                    expected);
    free(expected);
}

/* Runs the analyzer file's chunk; pushes the definition. Problems go to 'diag'. */
static int load_definition(wk_analysis *a, char *hash, rt_diag *diag) {
    lua_State *L = a->L;
    size_t before = rt_diag_count(diag);
    int rc = wk__sandbox_take_chunk(a, hash) ? RT_OK
                                             : wk__catalog_load(a->engine, L, a->path, hash, diag);
    if (rc != RT_OK)
        return rc == RT_ENOTFOUND ? RT_ENOTFOUND : RT_EANALYZER;
    sdk_set_diag(L, diag);
    size_t errors_before = json_array_size(a->errors);
    int status = call_in_thread(a, 0, 1);
    sdk_set_diag(L, NULL);
    if (status != LUA_OK) {
        json_t *e = json_array_get(a->errors, errors_before);
        rt_diag_add(diag, json_string_value(json_object_get(e, "file")),
                    (int)json_integer_value(json_object_get(e, "line")), NULL, "%s",
                    json_string_value(json_object_get(e, "message")));
        json_array_remove(a->errors, errors_before);
        return RT_EANALYZER;
    }
    if (!sdk_is_analyzer(L, -1)) {
        rt_diag_add(diag, a->path, 0, NULL, "the file must return inquest.analyzer{…}");
        lua_pop(L, 1);
        return RT_EANALYZER;
    }
    lua_getfield(L, -1, "name");
    rt_copy(a->name, sizeof a->name, lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_getfield(L, -2, "version");
    a->version = lua_isstring(L, -1) ? rt_xstrdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 2);
    check_name(a, a->name, diag);
    if (rt_diag_count(diag) > before) {
        lua_pop(L, 1);
        return RT_EANALYZER;
    }
    return RT_OK;
}

static const char *default_conclusion(wk_analysis *a) {
    size_t i;
    json_t *finding;
    json_array_foreach(a->findings, i, finding) {
        if (json_object_get(finding, "root_cause"))
            return "root_cause_found";
    }
    return "inconclusive";
}

/* Sets 'key' of 'object' to 'value', which it steals. json_pack would do, at several times the
 * cost of the analysis' own work: results are built on the hot path. */
static void set(json_t *object, const char *key, json_t *value) {
    json_object_set_new_nocheck(object, key, value);
}

static json_t *conclusion_json(wk_analysis *a) {
    json_t *c = json_object();
    set(c, "tag", json_string(a->conclusion_tag ? a->conclusion_tag : default_conclusion(a)));
    if (a->conclusion_summary)
        set(c, "summary", rt_json_text(a->conclusion_summary, strlen(a->conclusion_summary)));
    return c;
}

static json_t *analyzer_json(wk_analysis *a, const char *hash) {
    json_t *j = json_object();
    set(j, "name", rt_json_text(a->name, strlen(a->name)));
    set(j, "file", rt_json_text(a->path, strlen(a->path)));
    if (*hash) /* none when the file did not compile */
        set(j, "hash", json_string(hash));
    if (a->version)
        set(j, "version", rt_json_text(a->version, strlen(a->version)));
    return j;
}

static json_t *usage_json(wk_analysis *a) {
    json_t *u = json_object();
    set(u, "instructions", json_integer((json_int_t)a->budget.steps_used));
    set(u, "memory_peak", json_integer((json_int_t)a->budget.memory_peak));
    set(u, "memory_reserved", json_integer((json_int_t)a->heap.reserved_peak));
    return u;
}

static json_t *timing_json(wk_analysis *a) {
    json_t *t = json_object();
    set(t, "started_at", rt_json_number(a->started_at));
    set(t, "duration_ms", json_real((rt_monotonic() - a->started_mono) * 1e3));
    return t;
}

/* The result of a finished analysis. */
static json_t *result_json(wk_analysis *a, const char *status) {
    json_t *r = json_object();
    set(r, "schema", json_string(SDK_RESULT_SCHEMA));
    set(r, "id", rt_json_text(a->id, strlen(a->id)));
    set(r, "analyzer", analyzer_json(a, a->hash));
    set(r, "inputs", a->inputs ? json_incref(a->inputs) : json_object());
    set(r, "now", rt_json_number(a->now));
    set(r, "status", json_string(status));
    set(r, "findings", json_incref(a->findings));
    set(r, "steps", json_incref(a->steps));
    set(r, "calls", json_incref(a->calls));
    set(r, "logs", json_incref(a->logs));
    if (strcmp(status, "ok") == 0)
        set(r, "conclusion", conclusion_json(a));
    else
        set(r, "errors", json_incref(a->errors));
    if (a->logs_dropped)
        set(r, "logs_dropped", json_integer((json_int_t)a->logs_dropped));
    set(r, "usage", usage_json(a));
    set(r, "timing", timing_json(a));
    return r;
}

/* What the protected start of an analysis reads and writes. */
typedef struct stage {
    wk_analysis *a;
    const json_t *raw; /* the raw inputs */
    rt_diag *diag;     /* the caller's mistakes: invalid inputs */
    int rc;
    lua_State *co; /* run's thread, with run, ctx and the inputs on its stack */
} stage;

/* Validates the inputs against the definition at index 1, then prepares run's thread. */
static void prepare_run(stage *s) {
    wk_analysis *a = s->a;
    lua_State *L = a->L;
    lua_getfield(L, 1, "inputs");
    if (sdk_inputs_validate(L, 2, s->raw, a->now, NULL, s->diag) != 0) {
        s->rc = RT_EINPUT;
        return;
    }
    char why[256];
    a->inputs = sdk_lua_to_json(L, 3, why, sizeof why);
    if (!a->inputs) { /* valid one by one, but together too large to keep in a result */
        rt_diag_add(s->diag, NULL, 0, "inputs", "%s", why);
        s->rc = RT_EINPUT;
        return;
    }
    s->co = lua_newthread(L); /* 4: anchored on the main thread's stack */
    lua_getfield(L, 1, "run");
    wk__ctx_push(a);
    lua_pushvalue(L, 3);
    lua_xmove(L, s->co, 3);
}

/* The host's own Lua work runs in a protected call, like the analyzer's: it allocates from the
 * analysis' budget too, and may fail. Argument: the stage. Leaves run's thread on the stack. */
static int start_protected(lua_State *L) {
    stage *s = lua_touserdata(L, 1);
    lua_settop(L, 0);
    s->rc = load_definition(s->a, s->a->hash, &s->a->problems);
    if (s->rc == RT_OK)
        prepare_run(s);
    return s->co ? 1 : 0;
}

/* Says which budget ended the analysis, and how large it was, in the error that ended it: the
 * hook raised a bare message because it must not allocate. */
static void explain_trip(wk_analysis *a) {
    const wk_limits *l = &a->budget.shared->limits;
    char text[200], amount[32];
    json_t *last = json_array_get(a->errors, json_array_size(a->errors) - 1);
    if (!last)
        return;
    if (a->budget.tripped == WK_TRIP_MEMORY)
        snprintf(text, sizeof text, "memory budget of %.1f MiB exceeded",
                 (double)l->memory / (1 << 20));
    else if (a->budget.tripped == WK_TRIP_CPU)
        snprintf(text, sizeof text, "instruction budget of %llu exceeded",
                 (unsigned long long)l->instructions);
    else {
        rt_duration_format(l->timeout, amount);
        snprintf(text, sizeof text, "deadline of %s exceeded", amount);
    }
    if (a->parent) /* else a reader may take it for a budget of the nested analysis' own */
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 " (a budget it shares with the analysis that called it)");
    json_object_set_new(last, "message", json_string(text));
}

/* The status of the analysis 'a' that has ended, whose run ended with 'run_status'. */
static const char *final_status(wk_analysis *a, int run_status) {
    /* An analysis that died right after an allocation failed died of memory, whether Lua
     * raised LUA_ERRMEM or a library turned the failure into an ordinary error. */
    if (run_status != LUA_OK && a->budget.alloc_failed && !a->budget.tripped)
        a->budget.tripped = WK_TRIP_MEMORY;
    if (a->stage_rc == RT_EANALYZER)
        json_array_extend(a->errors, a->problems.items);
    if (a->budget.tripped) {
        if (json_array_size(a->errors) == 0) /* it tripped in a coroutine whose error was caught */
            json_array_append_new(a->errors, json_object());
        explain_trip(a);
        return status_names[a->budget.tripped];
    }
    if (a->abort_status)
        return a->abort_status;
    return run_status == LUA_OK ? "ok" : "error";
}

void wk__analysis_end(wk_analysis *a) {
    int run_status = a->stage_rc == RT_OK ? wk__run_status(a) : LUA_ERRRUN;
    const char *status = final_status(a, run_status);
    wk__tasks_end(a);
    json_t *result = result_json(a, status);
    if (a->parent)
        a->parent->budget.steps_used += a->budget.steps_used;
    wk_done_fn done = a->done;
    void *ud = a->done_ud;
    analysis_free(a);
    done(result, ud);
}

/* Opens the state of 'a', loads its analyzer and validates the inputs. Returns RT_OK with run's
 * thread in '*co', RT_OK with '*co' NULL when the analysis already failed (its errors are
 * recorded), or RT_EINPUT. */
static int start_resolved(wk_analysis *a, const json_t *raw, lua_State **co, rt_diag *diag) {
    stage s = {.a = a, .raw = raw, .diag = diag, .rc = RT_OK};
    *co = NULL;
    if (wk__sandbox_open(a) != RT_OK) {
        a->budget.tripped = WK_TRIP_MEMORY;
        json_array_append_new(a->errors, json_pack("{s:s}", "message",
                                                   "memory budget exceeded while "
                                                   "creating the Lua state"));
        return RT_OK;
    }
    lua_pushcfunction(a->L, start_protected);
    lua_pushlightuserdata(a->L, &s);
    int status = lua_pcall(a->L, 1, 1, 0);
    if (status != LUA_OK) {
        char buf[64];
        if (status == LUA_ERRMEM && !a->budget.tripped)
            a->budget.tripped = WK_TRIP_MEMORY;
        wk__error_from_thread(a, a->L, wk__error_text(a->L, -1, buf, sizeof buf));
        return RT_OK;
    }
    a->stage_rc = s.rc;
    *co = s.co;
    return s.rc == RT_EINPUT ? RT_EINPUT : RT_OK;
}

/* Starts one analysis, nested under 'parent' (NULL at the top); '*started' (may be NULL)
 * receives it before it runs, for a caller that may have to abort it. */
static int start_analysis(wk_engine *engine, const wk_request *request, wk_analysis *parent,
                          wk_done_fn done, void *ud, wk_analysis **started, rt_diag *diag) {
    wk_analysis *a = analysis_new(engine, request, parent);
    a->parent = parent;
    a->depth = parent ? parent->depth + 1 : 0;
    /* A nested analysis' calls belong to the recording of the analysis that asked for it: a
     * replay of that one makes them again. */
    a->recording = parent ? parent->recording : request->recording;
    a->done = done;
    a->done_ud = ud;
    int rc = wk_resolve(engine, request->analyzer, &a->path, diag);
    lua_State *co = NULL;
    if (rc == RT_OK) {
        rt_copy(a->name, sizeof a->name, request->analyzer);
        rc = start_resolved(a, request->inputs, &co, diag);
    }
    if (rc != RT_OK) {
        analysis_free(a);
        return rc;
    }
    if (started)
        *started = a;
    if (co && request->run_started)
        *request->run_started = rt_wallclock();
    if (co)
        wk__run_task(a, co);
    else
        wk__analysis_end(a);
    return RT_OK;
}

int wk_start(wk_engine *engine, const wk_request *request, wk_done_fn done, void *ud,
             wk_analysis **handle, rt_diag *diag) {
    return start_analysis(engine, request, NULL, done, ud, handle, diag);
}

void wk_cancel(wk_analysis *handle, const char *message) {
    wk__abort(handle, "cancelled", message);
}

typedef struct sync_run {
    json_t *result;
    int done;
} sync_run;

static void sync_done(json_t *result, void *ud) {
    sync_run *s = ud;
    s->result = result;
    s->done = 1;
}

int wk_run(wk_engine *engine, const wk_request *request, json_t **result, rt_diag *diag) {
    sync_run s = {0};
    int rc = wk_start(engine, request, sync_done, &s, NULL, diag);
    if (rc != RT_OK)
        return rc;
    /* Every wait keeps a handle active (a transfer, a timer), and the deadline timer runs while
     * any does: the loop cannot run dry before the analysis ends. */
    while (!s.done)
        if (!uv_run(&engine->loop, UV_RUN_ONCE) && NEVER(!s.done))
            return RT_EINTERNAL;
    *result = s.result;
    return RT_OK;
}

/* ---- Chaining: ctx:call ------------------------------------------------------------------- */

static void push_chain(lua_State *L, wk_analysis *a, const char *name) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const wk_analysis *chain[WK_MAX_CALL_DEPTH + 2];
    int n = 0;
    for (const wk_analysis *p = a; p && n < WK_MAX_CALL_DEPTH + 1; p = p->parent)
        chain[n++] = p;
    while (n-- > 0) {
        luaL_addstring(&b, chain[n]->name);
        luaL_addstring(&b, " → ");
    }
    luaL_addstring(&b, name);
    luaL_pushresult(&b);
}

/* Raises an error when calling 'name' from 'a' would close a cycle or nest too deep. */
static void check_call(lua_State *L, wk_analysis *a, const char *name) {
    for (const wk_analysis *p = a; p; p = p->parent) {
        if (strcmp(p->name, name) == 0) {
            push_chain(L, a, name);
            luaL_error(L, "ctx:call: cycle %s", lua_tostring(L, -1));
            return;
        }
    }
    if (a && a->depth >= WK_MAX_CALL_DEPTH) {
        push_chain(L, a, name);
        luaL_error(L, "ctx:call: calls nest at most %d deep (%s)", WK_MAX_CALL_DEPTH,
                   lua_tostring(L, -1));
    }
}

/* Pushes the Lua form of the JSON value passed as light userdata (lua_pcall'ed: it allocates). */
static int push_result(lua_State *L) {
    const json_t *result = lua_touserdata(L, 1);
    sdk_json_to_lua(L, result);
    return 1;
}

/* Raises "ctx:call NAME: why: each problem;" and frees 'diag' first, since raising leaves. */
static int raise_call_error(lua_State *L, const char *name, int rc, rt_diag *diag) {
    char message[2048];
    size_t len =
        (size_t)snprintf(message, sizeof message, "ctx:call %s: %s:", name, rt_strerror(rc));
    for (size_t i = 0; i < rt_diag_count(diag) && len < sizeof message; i++) {
        json_t *item = json_array_get(diag->items, i);
        const char *field = json_string_value(json_object_get(item, "field"));
        len += (size_t)snprintf(message + len, sizeof message - len, " %s%s%s;", field ? field : "",
                                field ? ": " : "",
                                json_string_value(json_object_get(item, "message")));
    }
    rt_diag_free(diag);
    return luaL_error(L, "%s", message);
}

/* A ctx:call in progress: the caller's task waits for the nested analysis. */
typedef struct nested_wait {
    wk_wait wait;
    wk_analysis *child; /* until it ends */
    json_t *result;     /* once it has ended */
    int cancelled;
} nested_wait;

static void nested_done(json_t *result, void *ud) {
    nested_wait *w = ud;
    w->child = NULL;
    if (w->cancelled) {
        json_decref(result);
        return;
    }
    w->result = result;
    if (w->wait.task) /* else it ended before its caller yielded, which pushes the result */
        wk__wake(&w->wait);
}

static void nested_cancel(wk_wait *wait) {
    nested_wait *w = (nested_wait *)wait;
    w->cancelled = 1;
    if (w->child)
        wk__abort(w->child, "cancelled", "the calling analysis ended first");
    json_decref(w->result);
    free(w);
}

/* Pushes the nested analysis' result as a Lua table. */
static int nested_resumed(lua_State *L, int status, lua_KContext kctx) {
    nested_wait *w = (nested_wait *)kctx;
    json_t *result = w->result;
    (void)status;
    free(w);
    lua_pushcfunction(L, push_result);
    lua_pushlightuserdata(L, result);
    int rc = lua_pcall(L, 1, 1, 0);
    json_decref(result);
    if (rc != LUA_OK)
        return lua_error(L);
    /* The nested analysis may have spent the tree's instructions or time: its caller then ends
     * too, rather than go on with nothing left until its hook notices. */
    wk__budget_enforce(L);
    return 1;
}

int wk__call(lua_State *L, const char *name, int inputs_idx) {
    wk_analysis *a = wk__analysis(L);
    if (a->budget.tripped) /* a budget ended this analysis: it starts nothing more */
        return luaL_error(L, "ctx:call: this analysis is over its budget (%s)",
                          status_names[a->budget.tripped]);
    wk__budget_enforce(L); /* a nested analysis before may have spent the tree's */
    if (!*name || wk__looks_like_path(name)) /* a path would run any file it can name */
        return luaL_error(L, "ctx:call: '%s' is not an analyzer name (like http.error_spike)",
                          name);
    check_call(L, a, name);
    wk__check_task(L, "ctx:call");
    char why[256], id[sizeof a->id + 16];
    json_t *inputs = NULL;
    if (!lua_isnoneornil(L, inputs_idx) &&
        !(inputs = sdk_lua_to_json(L, inputs_idx, why, sizeof why)))
        return luaL_error(L, "ctx:call: inputs: %s", why);
    snprintf(id, sizeof id, "%s.%d", a->id, ++a->calls_made);
    /* No limits: the nested analysis spends its caller's (wk_shared). */
    wk_request request = {.analyzer = name, .inputs = inputs, .id = id, .now = a->now};
    nested_wait *w = rt_xcalloc(1, sizeof *w);
    w->wait.cancel = nested_cancel;
    rt_diag diag = {0};
    int rc = start_analysis(a->engine, &request, a, nested_done, w, &w->child, &diag);
    json_decref(inputs);
    if (rc != RT_OK) {
        free(w);
        return raise_call_error(L, name, rc, &diag);
    }
    rt_diag_free(&diag);
    if (w->result) /* it ended at once */
        return nested_resumed(L, LUA_OK, (lua_KContext)w);
    return wk__wait(L, &w->wait, nested_resumed, (lua_KContext)w);
}

/* ---- Inspection without running ---------------------------------------------------------- */

static char *dup_field(lua_State *L, const char *key) {
    lua_getfield(L, 1, key);
    char *s = lua_isstring(L, -1) ? rt_xstrdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
    return s;
}

static void fill_info(wk_analysis *a, wk_info *info) {
    lua_State *L = a->L;
    char why[256];
    info->name = dup_field(L, "name");
    info->owner = dup_field(L, "owner");
    info->description = dup_field(L, "description");
    info->version = dup_field(L, "version");
    lua_getfield(L, 1, "tags");
    info->tags = lua_istable(L, -1) ? sdk_lua_to_json(L, -1, why, sizeof why) : NULL;
    if (!json_is_array(info->tags)) {
        json_decref(info->tags);
        info->tags = json_array();
    }
    lua_getfield(L, 1, "inputs");
    info->inputs = sdk_schema_json(L, lua_gettop(L));
    lua_settop(L, 1);
}

typedef struct inspection {
    wk_analysis *a;
    wk_info *info;
    rt_diag *diag;
    int rc;
} inspection;

static int inspect_protected(lua_State *L) {
    inspection *i = lua_touserdata(L, 1);
    lua_settop(L, 0);
    i->rc = load_definition(i->a, i->info->hash, i->diag);
    if (i->rc == RT_OK)
        fill_info(i->a, i->info);
    return 0;
}

int wk_inspect(wk_engine *engine, const char *path, wk_info *info, rt_diag *diag) {
    wk_request request = {.analyzer = path, .id = "inspect"};
    wk_limits_default(&request.limits);
    memset(info, 0, sizeof *info);
    wk_analysis *a = analysis_new(engine, &request, NULL);
    a->path = rt_xstrdup(path);
    inspection i = {.a = a, .info = info, .diag = diag, .rc = RT_ENOMEM};
    if (wk__sandbox_open(a) == RT_OK) {
        lua_pushcfunction(a->L, inspect_protected);
        lua_pushlightuserdata(a->L, &i);
        if (lua_pcall(a->L, 1, 0, 0) != LUA_OK) {
            char buf[64];
            rt_diag_add(diag, path, 0, NULL, "%s", wk__error_text(a->L, -1, buf, sizeof buf));
            i.rc = RT_EANALYZER;
        }
    }
    if (i.rc == RT_OK)
        info->path = rt_xstrdup(path);
    else
        wk_info_free(info);
    analysis_free(a);
    return i.rc;
}

/* ---- Validation without running ------------------------------------------------------------ */

/* An analyzer kept loaded for wk_validate: its state holds the definition in the registry. */
typedef struct wk_validator {
    char *name; /* as asked for */
    wk_analysis *a;
    int definition; /* registry reference */
    wk_info info;
} wk_validator;

typedef struct keeping {
    wk_validator *v;
    rt_diag *diag;
    const json_t *raw;
    char **effective; /* wk_validate's, or NULL */
    int rc;
} keeping;

static int keep_protected(lua_State *L) {
    keeping *k = lua_touserdata(L, 1);
    lua_settop(L, 0);
    k->rc = load_definition(k->v->a, k->v->info.hash, k->diag);
    if (k->rc != RT_OK)
        return 0;
    fill_info(k->v->a, &k->v->info);
    k->v->definition = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static int validate_protected(lua_State *L) {
    keeping *k = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, k->v->definition);
    lua_getfield(L, 1, "inputs");
    json_t *effective = NULL, **want = k->effective ? &effective : NULL;
    k->rc = sdk_inputs_validate(L, 2, k->raw, k->v->a->now, want, k->diag) ? RT_EINPUT : RT_OK;
    if (effective) /* nothing raises from here on: it cannot leak */
        *k->effective = rt_json_canonical(effective);
    json_decref(effective);
    lua_settop(L, 0);
    return 0;
}

/* Runs 'fn' protected on the validator's state; a Lua error is the analyzer's problem. */
static int run_kept(keeping *k, lua_CFunction fn) {
    wk_analysis *a = k->v->a;
    wk_shared *s = a->budget.shared;
    a->budget.steps_used = s->steps_used = 0;
    s->deadline = rt_monotonic() + s->limits.timeout;
    lua_pushcfunction(a->L, fn);
    lua_pushlightuserdata(a->L, k);
    if (lua_pcall(a->L, 1, 0, 0) != LUA_OK) {
        char buf[64];
        rt_diag_add(k->diag, a->path, 0, NULL, "%s", wk__error_text(a->L, -1, buf, sizeof buf));
        lua_settop(a->L, 0);
        return RT_EANALYZER;
    }
    return k->rc;
}

static void validator_free(wk_validator *v) {
    analysis_free(v->a);
    wk_info_free(&v->info);
    free(v->name);
}

/* The validator of 'name', loaded on first use; NULL with the problems in 'diag'. */
static wk_validator *validator(wk_engine *engine, const char *name, int *rc, rt_diag *diag) {
    for (size_t i = 0; i < engine->nvalidators; i++)
        if (strcmp(engine->validators[i].name, name) == 0)
            return &engine->validators[i];
    wk_request request = {.analyzer = name, .id = "validate"};
    wk_limits_default(&request.limits);
    wk_validator v = {.a = analysis_new(engine, &request, NULL)};
    keeping k = {.v = &v, .diag = diag, .rc = RT_ENOMEM};
    *rc = wk_resolve(engine, name, &v.a->path, diag);
    if (*rc == RT_OK)
        *rc = wk__sandbox_open(v.a) == RT_OK ? run_kept(&k, keep_protected) : RT_ENOMEM;
    if (*rc != RT_OK) {
        validator_free(&v);
        return NULL;
    }
    /* The state is kept for the process' life, so its collector cannot wait for the count hook
     * to see it grow (wk_sandbox.c): validation runs C, not Lua instructions, the hook hardly
     * fires, and the garbage of every validation would stay until the memory budget forced a
     * collection, limits.memory per analyzer in serve (tests/reliability/burst). */
    lua_gc(v.a->L, LUA_GCRESTART);
    v.a->budget.gc_stopped = 0;
    v.info.path = rt_xstrdup(v.a->path);
    v.name = rt_xstrdup(name);
    engine->validators =
        rt_xrealloc(engine->validators, (engine->nvalidators + 1) * sizeof *engine->validators);
    engine->validators[engine->nvalidators] = v;
    return &engine->validators[engine->nvalidators++];
}

int wk_validate(wk_engine *engine, const char *analyzer, const json_t *inputs, double now,
                const wk_info **info, char **effective, rt_diag *diag) {
    int rc = RT_OK;
    if (effective)
        *effective = NULL;
    wk_validator *v = validator(engine, analyzer, &rc, diag);
    if (!v)
        return rc;
    keeping k = {.v = v, .diag = diag, .raw = inputs, .effective = effective, .rc = RT_ENOMEM};
    v->a->now = now > 0 ? now : floor(rt_wallclock());
    if (info)
        *info = &v->info;
    return run_kept(&k, validate_protected);
}

void wk_engine_reload(wk_engine *engine) {
    for (size_t i = 0; i < engine->nvalidators; i++)
        validator_free(&engine->validators[i]);
    free(engine->validators);
    engine->validators = NULL;
    engine->nvalidators = 0;
    wk__catalog_forget(engine);
}

static void compile_one(const char *path, void *engine) {
    wk__catalog_compiled(engine, path);
}

void wk_engine_warm(wk_engine *engine) {
    wk_each_analyzer(engine, NULL, compile_one, engine);
    wk_request request = {.id = "warm"};
    wk_limits_default(&request.limits);
    wk_analysis *a = analysis_new(engine, &request, NULL);
    wk__sandbox_open(a); /* a state with no analyzer: the first slot keeps its fresh image */
    analysis_free(a);
}

void wk_info_free(wk_info *info) {
    if (!info)
        return;
    free(info->path);
    free(info->name);
    free(info->owner);
    free(info->description);
    free(info->version);
    json_decref(info->tags);
    json_decref(info->inputs);
    memset(info, 0, sizeof *info);
}

json_t *wk_result_stopped(const wk_request *request, const char *status, const char *message) {
    json_t *r = json_object(), *analyzer = json_object(), *error = json_object();
    set(analyzer, "name", rt_json_text_cut(request->analyzer, WK_MAX_TEXT));
    set(error, "message", rt_json_text_cut(message, WK_MAX_TEXT));
    set(r, "schema", json_string(SDK_RESULT_SCHEMA));
    set(r, "id", rt_json_text_cut(request->id, WK_MAX_TEXT));
    set(r, "analyzer", analyzer);
    set(r, "inputs", json_object());
    set(r, "now", rt_json_number(request->now));
    set(r, "status", json_string(status));
    set(r, "findings", json_array());
    set(r, "steps", json_array());
    set(r, "calls", json_array());
    set(r, "logs", json_array());
    set(r, "errors", json_pack("[o]", error));
    return r;
}
