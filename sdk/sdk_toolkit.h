/* sdk/sdk_toolkit.h -- what the investigation toolkit's helpers (sdk_correlate.c,
 * sdk_dimensions.c, sdk_events.c, sdk_summary.c) share: C work charged to the analysis'
 * instruction budget, scratch memory from the Lua state, and options tables checked with errors
 * that name the function and the option. Nothing outside sdk/ includes it. */
#ifndef INQUEST_SDK_TOOLKIT_H
#define INQUEST_SDK_TOOLKIT_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

/* ---- Work done in C on behalf of Lua --------------------------------------------------------
 * A helper that loops in C is invisible to the VM's count hook, which is where the host keeps
 * the instruction budget and the deadline (workers/wk_sandbox.c). So the C cores count their
 * work, in units of about one inner-loop step, on a meter that hands it on in batches; for a
 * Lua state (sdk_work_lua) to sdk_charge (sdk_budget.h), which calls the state's count hook as
 * the VM would after as many instructions: the budget sees C work as instructions, and a budget
 * that trips raises from inside the loop. The cores take a NULL meter when nothing is to be
 * charged, so they run and are tested without Lua. */
typedef struct sdk_work {
    void (*charge)(struct sdk_work *w, size_t units); /* may raise (longjmp) */
    void *ud;       /* the charge's: for sdk_work_lua, the Lua state */
    size_t carry;   /* the charge's: units short of a hook period */
    size_t pending; /* counted, not yet charged */
} sdk_work;

#define SDK_WORK_BATCH 1024 /* units counted before they are charged */

/* Sets 'w' up to charge the instruction budget of 'L' (nothing when 'L' has no count hook). */
void sdk_work_lua(sdk_work *w, lua_State *L);

/* Charges the units pending on 'w'. */
void sdk__work_flush(sdk_work *w);

/* Counts 'units' of work on 'w' (NULL: nothing is counted). */
static inline void sdk_work_add(sdk_work *w, uint64_t units) {
    if (w && (w->pending += (size_t)units) >= SDK_WORK_BATCH)
        sdk__work_flush(w);
}

/* ---- Scratch memory ------------------------------------------------------------------------
 * The C cores that need memory of a size only known as they go ask an allocator; the bindings
 * give them sdk_scratch_lua, whose blocks are userdata left on the Lua stack: counted by the
 * memory budget, and collected when the binding returns or raises. */
typedef struct sdk_scratch {
    void *(*alloc)(void *ud, size_t size); /* zeroed memory, or NULL (or raises) */
    void *ud;
} sdk_scratch;

/* Sets 's' up to allocate userdata on the stack of 'L'; they stay until the caller returns. */
void sdk_scratch_lua(sdk_scratch *s, lua_State *L);

/* 'n' zeroed blocks of 'size' bytes from 's', or NULL when the product overflows or 's' has no
 * memory. */
void *sdk_scratch_alloc(const sdk_scratch *s, size_t n, size_t size);

/* ---- Options tables ------------------------------------------------------------------------
 * Every helper takes an optional table of options last. The option readers raise
 * "'fn': opts.'name' must be …" for a value of the wrong type. */

/* Raises unless the value at 'idx' is nil, absent or a table whose keys are all among 'known'
 * (NULL-terminated): "'fn': unknown option 'x' (options: a, b, c)". */
void sdk__opts_check(lua_State *L, int idx, const char *fn, const char *const known[]);
/* Option 'name' of the options table at 'idx' (nil or absent: 'def'), a number; with 'min'
 * and 'max' it must lie between them. */
double sdk__opt_number(lua_State *L, int idx, const char *fn, const char *name, double def,
                       double min, double max);
/* Option 'name' as a whole number from 'min' to 'max' (nil: 'def'). */
lua_Integer sdk__opt_integer(lua_State *L, int idx, const char *fn, const char *name,
                             lua_Integer def, lua_Integer min, lua_Integer max);
/* Option 'name' as a string (nil: 'def', which may be NULL); the string lives as long as the
 * options table holds it. */
const char *sdk__opt_string(lua_State *L, int idx, const char *fn, const char *name,
                            const char *def);
/* Pushes option 'name' (nil when the options are absent); returns its type. */
int sdk__opt_push(lua_State *L, int idx, const char *name);

/* True when the value at 'idx' is a series set (inquest.series.set, a query's answer). */
int sdk__is_set(lua_State *L, int idx);

/* Formats 'x' for people, deterministically: at most 3 significant digits for small numbers,
 * whole numbers from 100 on, no exponent below 1e15 ("0.0123", "4.5", "12.5", "1234"). 'out'
 * holds 32 bytes. */
const char *sdk__fmt_number(char *out, double x);

#endif
