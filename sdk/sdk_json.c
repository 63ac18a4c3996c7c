/* sdk/sdk_json.c -- Lua values to JSON and back: typed inputs, the results of ctx:call and the
 * free-form parts of findings (sdk_finding.c converts the typed parts).
 *
 * The values come from analyzer code, which may be hostile: only raw access is used (lua_rawlen,
 * lua_rawgeti, lua_next), so no __index, __pairs, __len or __tostring ever runs, and nothing here
 * raises a Lua error, so the caller never leaks the JSON built so far. Where a value sits is kept
 * as a chain of places on the C stack and written out only when there is an error to report. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk.h"

#define MAX_DEPTH 32

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
} conv;

/* ---- UTF-8 -------------------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 character at 's' (of 'n' bytes left), or 0 when there is
 * none: no overlong forms, no surrogates, nothing above U+10FFFF, as JSON requires. */
static size_t utf8_char(const unsigned char *s, size_t n) {
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Copies 'n' bytes at 's' to 'out' (when not NULL), each byte that is not part of well-formed
 * UTF-8 replaced by U+FFFD; returns the length of the copy. */
static size_t utf8_repair(const char *s, size_t n, char *out) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        size_t len = utf8_char(p + i, n - i);
        if (len == 0) {
            if (out)
                memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3, i++;
            continue;
        }
        if (out)
            memcpy(out + o, p + i, len);
        o += len, i += len;
    }
    return o;
}

/* True when the 'n' bytes at 's' are well-formed UTF-8; ASCII, the common case, 8 bytes a step. */
static int utf8_valid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint64_t word;
        if (n - i >= 8 && (memcpy(&word, s + i, 8), (word & 0x8080808080808080u) == 0)) {
            i += 8;
            continue;
        }
        size_t len = utf8_char((const unsigned char *)s + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

/* Calls 'take' with the 'n' bytes at 's' made well-formed UTF-8 (a repaired copy when needed)
 * and returns what it returns; -1 when out of memory. */
static int with_utf8(const char *s, size_t n, int (*take)(const char *, size_t, void *),
                     void *arg) {
    if (utf8_valid(s, n))
        return take(s, n, arg);
    size_t len = utf8_repair(s, n, NULL);
    char *copy = malloc(len ? len : 1); /* sized by analyzer data: may fail, cleanly */
    if (!copy)
        return -1;
    utf8_repair(s, n, copy);
    int rc = take(copy, len, arg);
    free(copy);
    return rc;
}

static int take_string(const char *s, size_t n, void *arg) {
    *(json_t **)arg = json_stringn_nocheck(s, n);
    return *(json_t **)arg ? 0 : -1;
}

/* A JSON string of the 'n' bytes at 's', invalid UTF-8 replaced; NULL when out of memory. */
static json_t *string_json(const char *s, size_t n) {
    json_t *v = NULL;
    return with_utf8(s, n, take_string, &v) == 0 ? v : NULL;
}

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
    snprintf(c->why, c->whylen, "%s%s%s%s", *where ? "at " : "", where, *where ? ": " : "",
             message);
    /* Keys in the place may not be UTF-8, and the cut at 'whylen' may split a character. */
    json_t *fixed = utf8_valid(c->why, strlen(c->why)) ? NULL : string_json(c->why, strlen(c->why));
    if (fixed) {
        const char *s = json_string_value(fixed);
        size_t n = json_string_length(fixed);
        while (n >= c->whylen || (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80))
            n--;
        memcpy(c->why, s, n);
        c->why[n] = '\0';
        json_decref(fixed);
    }
    return NULL;
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

typedef struct set_arg {
    json_t *object, *value;
} set_arg;

/* Sets a key that is well-formed UTF-8; -2 when the object had it already. */
static int take_key(const char *key, size_t n, void *arg) {
    set_arg *s = arg;
    size_t before = json_object_size(s->object);
    if (json_object_setn_new_nocheck(s->object, key, n, s->value) < 0)
        return -1;
    return json_object_size(s->object) > before ? 0 : -2;
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
        } else if ((v = value_json(c, lua_gettop(L), depth, &p))) {
            set_arg s = {object, v};
            int rc = with_utf8(p.key, p.keylen, take_key, &s);
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
        v = string_json(s, n);
        break;
    }
    default:
        return fail(c, at, "a %s cannot be converted to JSON", luaL_typename(L, idx));
    }
    return v ? v : fail(c, at, "out of memory");
}

json_t *sdk_lua_to_json(lua_State *L, int idx, char *why, size_t whylen) {
    conv c = {L, why, whylen};
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
