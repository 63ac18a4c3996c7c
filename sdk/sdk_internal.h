/* sdk/sdk_internal.h -- what the SDK's own files share; nothing outside sdk/ includes it. */
#ifndef INQUEST_SDK_INTERNAL_H
#define INQUEST_SDK_INTERNAL_H

#include "sdk.h"

/* Pushes the table inquest.types (t.string, t.int, …). */
void sdk__types_push(lua_State *L);

#endif
