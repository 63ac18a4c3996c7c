/* tests/unit/explain_support.c -- the public data, random numbers and Lua states of the
 * toolkit's unit tests (explain_support.h). */
#define _DEFAULT_SOURCE /* timegm */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>
#include "sdk.h"
#include "sdk_series.h"
#include "explain_support.h"

/* "2014-04-01 00:00:00" (with an optional fraction) as Unix seconds, UTC. */
static double parse_time(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        fail_msg("bad NAB time: %s", s);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm);
}

static void data_path(char *out, size_t size, const char *file) {
    snprintf(out, size, "%s/nab/%s", SHARED_DATA, file);
}

nab_series nab_load(const char *file) {
    char path[1024], line[256];
    data_path(path, sizeof path, file);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("the public data is missing: cannot read %s (it lives beside the clone, in "
                 "../shared/data; see its README)",
                 path);
    nab_series s = {NULL, NULL, 0};
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        char *comma = strchr(line, ',');
        if (!comma || strncmp(line, "timestamp", 9) == 0)
            continue;
        *comma = '\0';
        if (s.n == cap) {
            cap = cap ? 2 * cap : 4096;
            s.t = realloc(s.t, cap * sizeof *s.t);
            s.v = realloc(s.v, cap * sizeof *s.v);
            assert_non_null(s.t);
            assert_non_null(s.v);
        }
        s.t[s.n] = parse_time(line);
        s.v[s.n++] = strtod(comma + 1, NULL);
    }
    fclose(f);
    assert_true(s.n > 1000);
    return s;
}

void nab_free(nab_series *s) {
    free(s->t);
    free(s->v);
    s->t = s->v = NULL;
    s->n = 0;
}

size_t nab_windows(const char *file, double (*w)[2], size_t max) {
    char path[1024];
    json_error_t err;
    data_path(path, sizeof path, "windows.json");
    json_t *all = json_load_file(path, 0, &err);
    if (!all)
        fail_msg("the public data is missing: cannot read %s: %s", path, err.text);
    json_t *list = json_object_get(all, file);
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(list) && n < max; i++, n++)
        for (size_t k = 0; k < 2; k++)
            w[n][k] = parse_time(json_string_value(json_array_get(json_array_get(list, i), k)));
    json_decref(all);
    return n;
}

double rnd_uniform(rnd *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return ((double)((r->s * 2685821657736338717ULL) >> 11) + 0.5) / 9007199254740992.0;
}

double rnd_normal(rnd *r) {
    double u = rnd_uniform(r), v = rnd_uniform(r);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

lua_State *explain_state(void) {
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    sdk_open(L);
    lua_setglobal(L, "inquest");
    return L;
}

void push_series(lua_State *L, const char *const *labels, const double *t, const double *v,
                 size_t n) {
    sdk_label l[8];
    sdk_series_data d;
    memset(&d, 0, sizeof d);
    for (; labels && labels[2 * d.n_labels] && d.n_labels < 8; d.n_labels++) {
        l[d.n_labels].name = (char *)labels[2 * d.n_labels];
        l[d.n_labels].value = (char *)labels[2 * d.n_labels + 1];
    }
    d.labels = l;
    d.t = (double *)t;
    d.v = (double *)v;
    d.n = d.cap = n;
    sdk_series_push_set(L, &d, 1);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
}

void run_lua(lua_State *L, const char *code) {
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
    lua_settop(L, 0);
}

void expect_lua_error(lua_State *L, const char *code, const char *message) {
    static const char where[] = "]:1: ";
    if (luaL_loadstring(L, code) != LUA_OK)
        fail_msg("Lua: %s", lua_tostring(L, -1));
    if (lua_pcall(L, 0, 0, 0) == LUA_OK)
        fail_msg("no error from: %s", code);
    const char *got = lua_tostring(L, -1);
    if (got && strncmp(got, "[string \"", 9) == 0 && strstr(got, where))
        got = strstr(got, where) + strlen(where);
    if (!got || strcmp(got, message) != 0)
        fail_msg("from: %s\n got: %s\nwant: %s", code, got ? got : "(not a string)", message);
    lua_settop(L, 0);
}
