/* tests/bench/bench_explain.c -- the toolkit's explaining helpers (sdk/sdk_correlate.c,
 * sdk_dimensions.c, sdk_events.c, sdk_summary.c): how long a call takes on inputs of an
 * incident's size, each the best of several rounds, and how often correlation finds a planted
 * copy among NAB's real Twitter series (../shared/data; the argument is that folder). Prints
 *   bench dimensions_explain_5000 MS ms       5,000 series of 4 labels, a 2-value culprit
 *   bench dimensions_ratio_5000 MS ms         the same as a ratio of two sets
 *   bench correlate_rank_500 MS ms            500 candidates of 400 points
 *   bench events_rank_10000 MS ms             10,000 events, a scope of 3 labels
 *   bench summary_us US us                    a result with two findings
 *   bench correlate_nab_planted_top1 F        share of NAB's labelled windows (all ten series)
 *                                             where a copy 10 minutes ahead (a hundredth of the
 *                                             scale, noise of a third of its deviation, an
 *                                             outlier) ranks first at its exact lag, among the
 *                                             other nine */
#define _DEFAULT_SOURCE /* timegm */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>
#include "sdk.h"
#include "sdk_series.h"

#define ROUNDS 5

static lua_State *state(void) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    sdk_open(L);
    lua_setglobal(L, "inquest");
    return L;
}

static void run(lua_State *L, const char *code) {
    if (luaL_dostring(L, code) != LUA_OK) {
        fprintf(stderr, "bench_explain: %s\n", lua_tostring(L, -1));
        exit(1);
    }
    lua_settop(L, 0);
}

/* The best of ROUNDS timings of the global function RUN, called 'calls' times, in ms a call. */
static double best_ms(lua_State *L, int calls) {
    double best = INFINITY;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = rt_monotonic();
        for (int i = 0; i < calls; i++)
            run(L, "RUN()");
        best = fmin(best, (rt_monotonic() - t0) * 1000 / calls);
    }
    return best;
}

static const char dimensions_setup[] =
    "local S = inquest.series\n"
    "local all, req = {}, {}\n"
    "local seed = 1\n"
    "local function noise() seed = (seed * 1103515245 + 12345) % 2147483648\n"
    "  return seed / 2147483648 - 0.5 end\n"
    "for e = 1, 250 do for r = 1, 4 do for v = 1, 5 do\n"
    "  local labels = { endpoint = 'e' .. e, region = 'r' .. r, version = 'v' .. v,\n"
    "                   host = 'h' .. ((e * 7 + r) % 40) }\n"
    "  local base = 10 + 5 * noise()\n"
    "  local bad = (v == 2 and r == 3) and 4 or 1\n"
    "  local pe, pr = {}, {}\n"
    "  for i = 0, 59 do\n"
    "    local x = base * (1 + 0.1 * noise())\n"
    "    pe[#pe + 1] = { i * 60, i >= 30 and x * bad or x }\n"
    "    pr[#pr + 1] = { i * 60, 100 * base }\n"
    "  end\n"
    "  all[#all + 1] = S.new { labels = labels, points = pe }\n"
    "  req[#req + 1] = S.new { labels = labels, points = pr }\n"
    "end end end\n"
    "ERR, REQ = S.set(all), S.set(req)\n";

static const char correlate_setup[] =
    "local S = inquest.series\n"
    "local seed = 7\n"
    "local function gauss() seed = (seed * 1103515245 + 12345) % 2147483648\n"
    "  local u = (seed + 1) / 2147483649\n"
    "  seed = (seed * 1103515245 + 12345) % 2147483648\n"
    "  return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * seed / 2147483648) end\n"
    "local times, t = {}, {}\n"
    "local level = 0\n"
    "for i = 1, 403 do level = level + 0.3 * gauss()\n"
    "  t[i] = 100 + level + gauss() + (i >= 300 and 8 or 0) times[i] = i * 60 end\n"
    "TARGET = S.new { times = { table.unpack(times, 1, 400) }, values = { table.unpack(t, 1, 400) "
    "} }\n"
    "CANDS = {}\n"
    "for k = 1, 500 do local v, l = {}, 50\n"
    "  for i = 1, 400 do l = l + gauss() v[i] = l end\n"
    "  CANDS[k] = S.new { times = { table.unpack(times, 1, 400) }, values = v } end\n"
    "local p = {}\n"
    "for i = 1, 400 do p[i] = 50 * t[i + 3] + 1000 + 20 * gauss() end\n"
    "CANDS[250] = S.new { labels = { name = 'planted' }, times = { table.unpack(times, 1, 400) }, "
    "values = p }\n"
    "CANDS = S.set(CANDS)\n";

static const char events_setup[] =
    "local kinds = { 'deploy', 'config', 'flag', 'scale', 'restart', 'maintenance' }\n"
    "local services = { 'search', 'cart', 'checkout', 'auth', 'ads' }\n"
    "local regions = { 'us-east', 'eu-west', 'ap-south' }\n"
    "EVENTS = {}\n"
    "for i = 1, 10000 do EVENTS[i] = { time = 1e9 + (i * 7919) % 86400 - 43200,\n"
    "  kind = kinds[i % 6 + 1], id = 'e' .. i, service = services[i % 5 + 1],\n"
    "  labels = { region = regions[i % 3 + 1], version = 'v' .. i % 4 } } end\n"
    "SCOPE = { service = 'checkout', region = 'eu-west', version = 'v2' }\n";

static const char summary_setup[] =
    "local S = inquest.series\n"
    "local s = S.new { labels = { endpoint = '/pay' }, points = { { 0, 1 }, { 60, 12.5 } } }\n"
    "RESULT = { status = 'ok', conclusion = { tag = 'root_cause_found', summary = 'deploy' },\n"
    "  findings = { { title = '5xx on /pay', root_cause = 'bad_deploy', confidence = 0.8,\n"
    "    evidence = { s, { kind = 'events', items = { { time = 0, kind = 'deploy', id = '1' } } "
    "},\n"
    "      { kind = 'log_patterns', items = { { pattern = 'refused <*>', count = 3 } } } } },\n"
    "    { title = 'latency', severity = 'low' } } }\n";

/* ---- NAB ------------------------------------------------------------------------------------ */

static double parse_time(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return NAN;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm);
}

/* Pushes the series of nab/'file' labelled company='name'; returns its points (owned). */
static size_t push_nab(lua_State *L, const char *data, const char *file, const char *name,
                       double **t, double **v) {
    char path[1024], line[256];
    snprintf(path, sizeof path, "%s/nab/%s", data, file);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_explain: the public data is missing: cannot read %s\n", path);
        exit(1);
    }
    size_t n = 0, cap = 32768;
    *t = malloc(cap * sizeof **t);
    *v = malloc(cap * sizeof **v);
    while (fgets(line, sizeof line, f) && n < cap) {
        char *comma = strchr(line, ',');
        if (!comma || isnan(parse_time(line)))
            continue;
        (*t)[n] = parse_time(line);
        (*v)[n++] = strtod(comma + 1, NULL);
    }
    fclose(f);
    char key[] = "company", value[16];
    snprintf(value, sizeof value, "%s", name);
    sdk_label label = {key, value};
    sdk_series_data d = {&label, 1, *t, *v, n, n};
    sdk_series_push_set(L, &d, 1);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
    return n;
}

static const char *const companies[] = {"AAPL", "AMZN", "CRM", "CVS", "FB",
                                        "GOOG", "IBM",  "KO",  "PFE", "UPS"};

/* For every labelled window of every company: the copy 10 minutes ahead, at a hundredth of the
 * scale, with noise and an outlier, among the other nine; returns the share found first at
 * 600 s. */
static double nab_planted(const char *data) {
    char file[128], code[256];
    double *t[10], *v[10];
    size_t n[10];
    json_error_t err;
    snprintf(file, sizeof file, "%s/nab/windows.json", data);
    json_t *windows = json_load_file(file, 0, &err);
    if (!windows) {
        fprintf(stderr, "bench_explain: the public data is missing: %s: %s\n", file, err.text);
        exit(1);
    }
    lua_State *L = state();
    lua_createtable(L, 10, 0);
    for (int c = 0; c < 10; c++) {
        snprintf(file, sizeof file, "realTweets/Twitter_volume_%s.csv", companies[c]);
        n[c] = push_nab(L, data, file, companies[c], &t[c], &v[c]);
        lua_rawseti(L, -2, c + 1);
    }
    lua_setglobal(L, "TWEETS");
    int found = 0, total = 0;
    uint64_t seed = 99;
    for (int c = 0; c < 10; c++) {
        double *copy = malloc(n[c] * sizeof *copy), mean = 0, sd = 0;
        for (size_t i = 0; i < n[c]; i++)
            mean += v[c][i] / (double)n[c];
        for (size_t i = 0; i < n[c]; i++)
            sd += (v[c][i] - mean) * (v[c][i] - mean) / (double)n[c];
        sd = sqrt(sd);
        for (size_t i = 0; i < n[c]; i++) { /* noise of a third of the series' deviation */
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = (double)(seed >> 11) / 9007199254740992.0 - 0.5;
            copy[i] = 1000 + 0.01 * (v[c][i + 2 < n[c] ? i + 2 : i] + sd * u * 2 / 3);
        }
        copy[n[c] / 2] = 1e6;
        char key[] = "company", value[] = "copy";
        sdk_label label = {key, value};
        sdk_series_data d = {&label, 1, t[c], copy, n[c], n[c]};
        sdk_series_push_set(L, &d, 1);
        lua_rawgeti(L, -1, 1);
        lua_setglobal(L, "COPY");
        lua_settop(L, 0);
        snprintf(file, sizeof file, "realTweets/Twitter_volume_%s.csv", companies[c]);
        json_t *list = json_object_get(windows, file);
        for (size_t k = 0; k < json_array_size(list); k++) {
            json_t *w = json_array_get(list, k);
            double mid = (parse_time(json_string_value(json_array_get(w, 0))) +
                          parse_time(json_string_value(json_array_get(w, 1)))) /
                         2;
            snprintf(code, sizeof code,
                     "local c = {} for i, s in ipairs(TWEETS) do if i ~= %d then c[#c + 1] = s "
                     "end end c[#c + 1] = COPY\n"
                     "local r = inquest.correlate.rank(TWEETS[%d], c, { onset = %.0f })\n"
                     "return r[1].labels.company == 'copy' and r[1].lag == 600",
                     c + 1, c + 1, mid);
            if (luaL_dostring(L, code) != LUA_OK) {
                fprintf(stderr, "bench_explain: %s\n", lua_tostring(L, -1));
                exit(1);
            }
            found += lua_toboolean(L, -1);
            total++;
            lua_settop(L, 0);
        }
        free(copy);
    }
    for (int c = 0; c < 10; c++) {
        free(t[c]);
        free(v[c]);
    }
    json_decref(windows);
    lua_close(L);
    return total ? (double)found / total : 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: bench_explain DATA (the public data folder, ../shared/data)\n");
        return 2;
    }
    lua_State *L = state();
    run(L, dimensions_setup);
    run(L, "function RUN() local r = inquest.dimensions.explain(ERR, { onset = 1800 })\n"
           "  assert(r[1].where == 'region=\"r3\", version=\"v2\"', r[1].where) end");
    printf("bench dimensions_explain_5000 %.1f ms\n", best_ms(L, 3));
    run(L, "function RUN() local r = inquest.dimensions.explain_ratio(ERR, REQ, { onset = 1800 })\n"
           "  assert(r[1].where == 'region=\"r3\", version=\"v2\"', r[1].where) end");
    printf("bench dimensions_ratio_5000 %.1f ms\n", best_ms(L, 3));
    run(L, correlate_setup);
    run(L, "function RUN() local r = inquest.correlate.rank(TARGET, CANDS, { onset = 300 * 60 })\n"
           "  assert(r[1].labels.name == 'planted' and r[1].lag == 180) end");
    printf("bench correlate_rank_500 %.1f ms\n", best_ms(L, 3));
    run(L, events_setup);
    run(L, "function RUN() local r = inquest.events.rank(EVENTS, 1e9, SCOPE) end");
    printf("bench events_rank_10000 %.1f ms\n", best_ms(L, 3));
    run(L, summary_setup);
    run(L, "function RUN() for i = 1, 1000 do inquest.summary(RESULT) end end");
    printf("bench summary_us %.1f us\n", best_ms(L, 1));
    lua_close(L);
    printf("bench correlate_nab_planted_top1 %.3f\n", nab_planted(argv[1]));
    return 0;
}
