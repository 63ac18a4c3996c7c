/* tests/unit/explain_support.h -- what the toolkit's unit tests (test_correlate.c,
 * test_dimensions.c, test_events.c, test_summary.c) share: the public data beside the clone
 * (../shared/data: NAB series and their labelled windows), a seeded random source, and Lua
 * states with the SDK and series made from C arrays. */
#ifndef INQUEST_EXPLAIN_SUPPORT_H
#define INQUEST_EXPLAIN_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

/* A NAB series: times (Unix seconds) and values, owned. */
typedef struct nab_series {
    double *t, *v;
    size_t n;
} nab_series;

/* Loads nab/'file' (e.g. "realTweets/Twitter_volume_AAPL.csv") from the public data; fails the
 * test, naming the path, when the data is missing. */
nab_series nab_load(const char *file);
void nab_free(nab_series *s);

/* The labelled anomaly windows of nab/'file' from nab/windows.json into 'w' (at most 'max');
 * returns how many. */
size_t nab_windows(const char *file, double (*w)[2], size_t max);

/* A deterministic random source (xorshift64*): uniform in (0, 1), and standard normal. */
typedef struct rnd {
    uint64_t s;
} rnd;
double rnd_uniform(rnd *r);
double rnd_normal(rnd *r);

/* A fresh Lua state with the standard libraries and the SDK as the global 'inquest'. */
lua_State *explain_state(void);

/* Pushes a series labelled by the NULL-terminated name, value pairs in 'labels'. */
void push_series(lua_State *L, const char *const *labels, const double *t, const double *v,
                 size_t n);

/* Runs the Lua chunk 'code'; fails the test with Lua's message when it raises. */
void run_lua(lua_State *L, const char *code);

/* Runs the Lua chunk 'code', which must raise 'message' (position left out). */
void expect_lua_error(lua_State *L, const char *code, const char *message);

#endif
