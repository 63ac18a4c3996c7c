/* sdk/sdk_budget.h -- C work that the SDK does on behalf of analyzer code, charged to the host's
 * instruction budget through the Lua state's count hook (the budget itself lives in
 * workers/wk_sandbox.c). */
#ifndef INQUEST_SDK_BUDGET_H
#define INQUEST_SDK_BUDGET_H

#include <stddef.h>
#include <lua.h>

/* Charges 'units' of work (each about as long as one Lua VM instruction) done by a C function
 * called from Lua: adds them to '*carry' and, for every hook period they fill, calls the state's
 * count hook as the VM calls it after so many instructions. A host whose hook enforces a budget
 * raises its error there once the budget is spent, so a loop that calls C functions cannot run
 * past it. The rest of a period stays in '*carry' for the next charge. Without a count hook it
 * does nothing. May raise (the hook's error). */
void sdk_charge(lua_State *L, size_t *carry, size_t units);

#endif
