/* workers/wk_pattern.h -- Lua 5.4 patterns with a step budget, for the sandbox's string library.
   The matcher itself is in workers/wk_pattern.c; the budget it charges is owned by the caller. */
#ifndef WK_PATTERN_H
#define WK_PATTERN_H

#include <lua.h>

/* Called every WK_PATTERN_CHARGE_EVERY matching steps with the steps done since the last call.
   Returns NULL to go on, or a message: the match is abandoned by raising that message as a Lua
   error. */
typedef const char *(*wk_charge_fn)(void *ud, unsigned steps);

#define WK_PATTERN_CHARGE_EVERY 1024

/* Replaces find, match, gmatch and gsub in the string library table at stack index 'libidx' with
   budgeted versions that call 'charge'('ud', …). The closures keep 'charge' and 'ud' as upvalues;
   'ud' must outlive the lua_State. A NULL 'charge' counts steps but never stops a match. */
void wk_pattern_install(lua_State *L, int libidx, wk_charge_fn charge, void *ud);

#endif
