/* tests/fuzz/fuzz_answers.c -- the decoder of Prometheus-style answers (sdk/sdk_response.c:
 * Prometheus, Loki and their kin, one streaming yajl pass) on any body, and the Lua values made
 * from what it decodes (sdk_response_push). A body decodes (0), is the backend's error envelope
 * (1, its words in 'why') or is refused (-1, 'why' says where: "data.result[3]…"); 'out' is empty
 * after a failure. What decodes is decoded again under a memory limit below what it took, which
 * must stop it (RT_ETOOBIG) with nothing left behind, charged or allocated. Elasticsearch and http
 * answers are jansson's alone (workers/wk_connectors.c), and fuzz_json covers jansson with the
 * canonical writer. Seeds: corpus/answers/. */
#include <lauxlib.h>
#include <lualib.h>
#include "fuzz_support.h"
#include "rt.h"
#include "sdk_series.h"

static lua_State *L;

static int push(lua_State *state) {
    sdk_response_push(state, lua_touserdata(state, 1));
    return 1;
}

static void check_decoded(const sdk_response *r) {
    if (r->type == SDK_RESULT_STREAMS) {
        for (size_t i = 0; i < r->n_entries; i++) {
            FUZZ_CHECK(r->entries[i].stream < r->n_streams, "entry %zu: stream %zu of %zu", i,
                       r->entries[i].stream, r->n_streams);
            FUZZ_CHECK(i == 0 || r->entries[i - 1].ns <= r->entries[i].ns,
                       "entries %zu and %zu out of time order", i - 1, i);
        }
    }
    for (size_t i = 0; i < r->n_series; i++) {
        const sdk_series_data *s = &r->series[i];
        FUZZ_CHECK(s->n <= s->cap || s->cap == 0, "series %zu: %zu points, room for %zu", i, s->n,
                   s->cap);
        for (size_t k = 1; k < s->n_labels; k++)
            FUZZ_CHECK(strcmp(s->labels[k - 1].name, s->labels[k].name) <= 0,
                       "series %zu: labels out of order", i);
    }
}

/* Decodes the answer that took 'took' bytes of memory again under a limit below that, which the
 * input picks (0, a quarter, a half or three quarters), so that every place where a decode can
 * stop is reached. */
static void check_limited(const uint8_t *data, size_t size, size_t took) {
    size_t used = 0;
    sdk_memory memory = {.used = &used, .limit = took / 4 * (size % 4)};
    sdk_response r;
    char why[512] = "";
    int rc = sdk_response_decode((const char *)data, size, &memory, &r, why, sizeof why);
    FUZZ_CHECK(rc == RT_ETOOBIG, "under a limit of %zu bytes (it took %zu): returned %d (%s)",
               memory.limit, took, rc, why);
    FUZZ_CHECK(strstr(why, "the decoded answer would pass its memory limit"), "why: %s", why);
    FUZZ_CHECK(used == 0, "%zu bytes still charged after stopping", used);
    FUZZ_CHECK(r.n_series == 0 && r.n_entries == 0 && !r.data && !r.text,
               "not empty after stopping");
    sdk_response_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!L) {
        L = luaL_newstate();
        luaL_openlibs(L);
        luaL_requiref(L, "inquest.series", sdk_series_open, 0);
        lua_settop(L, 0);
    }
    sdk_response r;
    char why[512] = "";
    size_t used = 0;
    sdk_memory unlimited = {.used = &used, .limit = SIZE_MAX};
    int rc = sdk_response_decode((const char *)data, size, &unlimited, &r, why, sizeof why);
    FUZZ_CHECK(rc >= -1 && rc <= 1, "returned %d", rc);
    if (rc == 0) {
        check_decoded(&r);
        if (used > 0)
            check_limited(data, size, used);
        lua_pushcfunction(L, push);
        lua_pushlightuserdata(L, &r);
        FUZZ_CHECK(lua_pcall(L, 1, 1, 0) == LUA_OK, "push: %s", lua_tostring(L, -1));
        lua_settop(L, 0);
    } else {
        FUZZ_CHECK(*why, "%s without a reason", rc < 0 ? "refused" : "an error envelope");
        FUZZ_CHECK(r.n_series == 0 && r.n_entries == 0 && !r.data && !r.text,
                   "not empty after a failure");
        FUZZ_CHECK(used == 0, "%zu bytes still charged after a failure", used);
    }
    sdk_response_free(&r);
    return 0;
}
