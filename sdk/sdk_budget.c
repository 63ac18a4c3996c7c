/* sdk/sdk_budget.c -- C work charged to the instruction budget through the count hook (see
 * sdk_budget.h). */
#include <string.h>
#include <lauxlib.h>
#include "sdk_budget.h"

void sdk_charge(lua_State *L, size_t *carry, size_t units) {
    lua_Hook hook = lua_gethook(L);
    int every = lua_gethookcount(L);
    if (!hook || !(lua_gethookmask(L) & LUA_MASKCOUNT) || every <= 0)
        return;
    *carry += units;
    if (*carry < (size_t)every)
        return;
    lua_Debug ar;
    memset(&ar, 0, sizeof ar);
    lua_getstack(L, 0, &ar); /* the C function's own frame: what a hook may ask about */
    ar.event = LUA_HOOKCOUNT;
    luaL_checkstack(L, LUA_MINSTACK, NULL);
    while (*carry >= (size_t)every) {
        *carry -= (size_t)every;
        hook(L, &ar);
        hook = lua_gethook(L); /* a tripped budget re-arms its hook on every instruction */
        every = lua_gethookcount(L);
        if (!hook || every <= 0)
            return;
    }
}
