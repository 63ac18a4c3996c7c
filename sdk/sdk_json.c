/* sdk/sdk_json.c -- Lua values to JSON and back: typed inputs, the results of ctx:call and the
 * free-form parts of findings (sdk_finding.c converts the typed parts).
 *
 * The values come from analyzer code, which may be hostile: only raw access is used (lua_rawlen,
 * lua_rawgeti, lua_next), so no __index, __pairs, __len or __tostring ever runs, and nothing here
 * raises a Lua error, so the caller never leaks the JSON built so far. Where a value sits is kept
 * as a chain of places on the C stack and written out only when there is an error to report.
 *
 * The JSON is made in host memory, outside the analysis' budgets, and a table reached twice is
 * converted twice: twenty tables { a = t, b = t } nested make a million values from a few KiB
 * of Lua. So each conversion counts what it makes, values and bytes of strings and keys, and
 * stops at MAX_VALUES or MAX_BYTES; the work done is then bounded by what it made. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk.h"

#define MAX_DEPTH  32
#define MAX_VALUES 100000            /* JSON values made by one conversion */
#define MAX_BYTES  (4 * 1024 * 1024) /* bytes of the strings and keys of one conversion */

/* One step of the way from the root to a value: a key of an object or an index of a sequence. */
typedef struct place {
    const struct place *up;
    const char *key; /* NULL: 'index' */
    size_t keylen;
    lua_Integer index;
} place;

typedef struct conv {
    lua_State *L;
    char *why;
    size_t whylen;
    size_t values, bytes; /* made so far: see MAX_VALUES, MAX_BYTES */
} conv;

/* ---- Errors ------------------------------------------------------------------------------- */

/* Writes the way to 'p' ("evidence[2].labels") into 'out'; returns its length. */
static size_t place_format(const place *p, char *out, size_t size) {
    if (!p)
        return 0;
    size_t n = place_format(p->up, out, size);
    int w;
    if (n >= size)
        return n;
    if (p->key)
        w = snprintf(out + n, size - n, "%s%.*s", n ? "." : "", (int)p->keylen, p->key);
    else
        w = snprintf(out + n, size - n, "[%lld]", (long long)p->index);
    return w < 0 ? n : n + (size_t)w;
}

/* Writes "at PLACE: message" (or the message alone at the root) into 'why'; returns NULL. */
static json_t *fail(conv *c, const place *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *fail(conv *c, const place *at, const char *fmt, ...) {
    char where[200] = "", message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    place_format(at, where, sizeof where);
    if (!c->whylen)
        return NULL;
    /* Keys in the place may not be UTF-8: repaired, and cut to 'whylen' between characters. */
    char text[sizeof where + sizeof message + 8];
    snprintf(text, sizeof text, "%s%s%s%s", *where ? "at " : "", where, *where ? ": " : "",
             message);
    c->why[rt_utf8_repair(text, strlen(text), c->why, c->whylen - 1)] = '\0';
    return NULL;
}

/* Counts 'n' more bytes of strings; over MAX_BYTES is an error, reported for the whole value
 * (the place where the sum goes over says little). Returns 0 or -1. */
static int count_bytes(conv *c, size_t n) {
    c->bytes += n;
    if (c->bytes <= MAX_BYTES)
        return 0;
    fail(c, NULL, "more than %d MiB of strings (shared or nested tables?)", MAX_BYTES >> 20);
    return -1;
}

/* ---- Lua to JSON -------------------------------------------------------------------------- */

static json_t *value_json(conv *c, int idx, int depth, const place *at);

/* Integers stay integers; whole floats print as integers too (rt_json_number); NaN and the
 * infinities have no JSON form and become null. */
static json_t *number_json(lua_State *L, int idx) {
    if (lua_isinteger(L, idx))
        return json_integer((json_int_t)lua_tointeger(L, idx));
    double d = (double)lua_tonumber(L, idx);
    return isfinite(d) ? rt_json_number(d) : json_null();
}

/* True when the keys of the table at 'idx' are exactly 1..n; 'n' (> 0) is its raw length. */
static int is_sequence(lua_State *L, int idx, lua_Unsigned n) {
    lua_Unsigned count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int isint = 0;
        lua_Integer k = lua_type(L, -2) == LUA_TNUMBER ? lua_tointegerx(L, -2, &isint) : 0;
        if (!isint || k < 1 || (lua_Unsigned)k > n) {
            lua_pop(L, 2);
            return 0;
        }
        count++;
        lua_pop(L, 1);
    }
    return count == n; /* keys are distinct, all in 1..n: n of them is all of them */
}

static json_t *array_json(conv *c, int idx, lua_Unsigned n, int depth, const place *at) {
    lua_State *L = c->L;
    json_t *array = json_array();
    place p = {at, NULL, 0, 0};
    if (!array)
        return fail(c, at, "out of memory");
    for (lua_Unsigned i = 1; i <= n; i++) {
        p.index = (lua_Integer)i;
        lua_rawgeti(L, idx, p.index);
        json_t *v = value_json(c, lua_gettop(L), depth, &p);
        lua_pop(L, 1);
        if (!v || json_array_append_new(array, v) < 0) {
            json_decref(array);
            return v ? fail(c, at, "out of memory") : NULL;
        }
    }
    return array;
}

/* Sets 'key' ('n' bytes, repaired when not UTF-8) of 'object' to 'value', which it steals.
 * Returns 0, -2 when the object had the key already, -1 when out of memory. */
static int set_key(json_t *object, const char *key, size_t n, json_t *value) {
    json_t *fixed = NULL;
    if (!rt_utf8_valid(key, n)) {
        if (!(fixed = rt_json_text(key, n))) {
            json_decref(value);
            return -1;
        }
        key = json_string_value(fixed), n = json_string_length(fixed);
    }
    size_t before = json_object_size(object);
    int rc = json_object_setn_new_nocheck(object, key, n, value);
    json_decref(fixed);
    return rc < 0 ? -1 : json_object_size(object) > before ? 0 : -2;
}

/* The key of the pair on top of the stack as text: a string as it is, a number as tostring
 * writes it (into 'buf'); NULL for any other key. */
static const char *key_text(lua_State *L, char *buf, size_t size, size_t *len) {
    if (lua_type(L, -2) == LUA_TSTRING)
        return lua_tolstring(L, -2, len); /* a string already: converts nothing */
    if (lua_type(L, -2) != LUA_TNUMBER)
        return NULL;
    if (lua_isinteger(L, -2)) {
        *len = (size_t)lua_integer2str(buf, size, lua_tointeger(L, -2));
        return buf;
    }
    *len = (size_t)lua_number2str(buf, size - 2, lua_tonumber(L, -2));
    if (buf[strspn(buf, "-0123456789")] == '\0') /* looks like an integer: tostring adds ".0" */
        buf[(*len)++] = '.', buf[(*len)++] = '0', buf[*len] = '\0';
    return buf;
}

static json_t *object_json(conv *c, int idx, int depth, const place *at) {
    lua_State *L = c->L;
    json_t *object = json_object();
    place p = {at, NULL, 0, 0};
    char buf[64];
    if (!object)
        return fail(c, at, "out of memory");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        p.key = key_text(L, buf, sizeof buf, &p.keylen);
        json_t *v = NULL;
        if (!p.key) {
            int b = lua_type(L, -2) == LUA_TBOOLEAN;
            fail(c, at, "%s%s key cannot be converted to JSON; keys must be strings or numbers",
                 b ? "the boolean " : "a ",
                 b ? (lua_toboolean(L, -2) ? "true" : "false") : luaL_typename(L, -2));
        } else if (memchr(p.key, '\0', p.keylen)) {
            /* A value may hold NUL (written \u0000); JSON readers refuse it in a key, so a result
             * with one could not be read back by anyone. */
            fail(c, at, "a key holds a NUL byte (after \"%s\"), which JSON keys cannot", p.key);
        } else if (count_bytes(c, p.keylen) == 0 && (v = value_json(c, lua_gettop(L), depth, &p))) {
            int rc = set_key(object, p.key, p.keylen, v);
            if (rc == -2)
                fail(c, at, "two keys become \"%.*s\" (a number and a string, or bytes not UTF-8)",
                     (int)p.keylen, p.key);
            else if (rc < 0)
                fail(c, at, "out of memory");
            v = rc == 0 ? v : NULL;
        }
        lua_pop(L, 1);
        if (!v) {
            lua_pop(L, 1);
            json_decref(object);
            return NULL;
        }
    }
    return object;
}

/* Tables: a sequence (keys exactly 1..n) becomes an array, anything else (the empty table too)
 * an object. Metatables are ignored. */
static json_t *table_json(conv *c, int idx, int depth, const place *at) {
    lua_State *L = c->L;
    if (depth > MAX_DEPTH)
        return fail(c, at, "nested deeper than %d levels (a cycle?)", MAX_DEPTH);
    if (!lua_checkstack(L, 4))
        return fail(c, at, "out of Lua stack");
    lua_Unsigned n = lua_rawlen(L, idx);
    if (n > 0 && is_sequence(L, idx, n))
        return array_json(c, idx, n, depth, at);
    return object_json(c, idx, depth, at);
}

static json_t *value_json(conv *c, int idx, int depth, const place *at) {
    lua_State *L = c->L;
    json_t *v;
    size_t n;
    if (++c->values > MAX_VALUES)
        return fail(c, NULL, "more than %d values (shared or nested tables?)", MAX_VALUES);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TTABLE:
        return table_json(c, idx, depth + 1, at);
    case LUA_TNUMBER:
        v = number_json(L, idx);
        break;
    case LUA_TSTRING: {
        const char *s = lua_tolstring(L, idx, &n); /* before 'n' is read */
        if (count_bytes(c, n) < 0)
            return NULL;
        v = rt_json_text(s, n);
        break;
    }
    default:
        return fail(c, at, "a %s cannot be converted to JSON", luaL_typename(L, idx));
    }
    return v ? v : fail(c, at, "out of memory");
}

json_t *sdk_lua_to_json(lua_State *L, int idx, char *why, size_t whylen) {
    conv c = {L, why, whylen, 0, 0};
    return value_json(&c, lua_absindex(L, idx), 0, NULL);
}

/* ---- JSON to Lua -------------------------------------------------------------------------- */

void sdk_json_to_lua(lua_State *L, const json_t *v) {
    json_t *j = (json_t *)v; /* jansson's iterators take non-const pointers; nothing is changed */
    luaL_checkstack(L, 3, "JSON nested too deeply");
    if (!j) {
        lua_pushnil(L);
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        lua_createtable(L, 0, (int)(json_object_size(j) < 1u << 20 ? json_object_size(j) : 0));
        for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it)) {
            json_t *value = json_object_iter_value(it);
            if (json_is_null(value))
                continue; /* a null member is an absent one */
            lua_pushlstring(L, json_object_iter_key(it), json_object_iter_key_len(it));
            sdk_json_to_lua(L, value);
            lua_rawset(L, -3);
        }
        return;
    case JSON_ARRAY:
        lua_createtable(L, (int)(json_array_size(j) < 1u << 20 ? json_array_size(j) : 0), 0);
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (json_is_null(json_array_get(j, i)))
                continue;
            sdk_json_to_lua(L, json_array_get(j, i));
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        return;
    case JSON_REAL:
        lua_pushnumber(L, (lua_Number)json_real_value(j));
        return;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(j));
        return;
    case JSON_NULL:
        break;
    }
    lua_pushnil(L);
}
