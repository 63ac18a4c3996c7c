/* tests/bench/bench_prom_parse.c -- how fast a Prometheus range query response is decoded
 * (sdk_response_decode), and decoded then pushed into Lua (sdk_response_push). The response is
 * made here, the same each run: about 10 MB, 100 series of 3,000 points each, with the labels
 * and values a Kubernetes service has (rates with 16 or 17 digits, counters, some NaN).
 * Prints `bench prom_parse VALUE MB/s` and `bench prom_parse_push VALUE MB/s` (MB = 10^6 bytes),
 * each the best of several rounds of at least a second. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk.h"
#include "sdk_series.h"

#define SERIES 100
#define POINTS 3000
#define ROUNDS 5

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if ((size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        b->cap = b->cap * 2 + (size_t)w;
        b->p = rt_xrealloc(b->p, b->cap);
    }
}

/* The shortest text that reads back as 'v', as Go's strconv (and so Prometheus) writes it. */
static void put_value(buf *b, double v) {
    char text[40];
    if (isnan(v)) {
        put(b, "\"NaN\"");
        return;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    put(b, "\"%s\"", text);
}

static uint64_t next(uint64_t *state) { /* xorshift64: the same numbers on every machine */
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static void put_series(buf *b, int i, uint64_t *rng) {
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    static const char *const codes[] = {"200", "201", "204", "400", "404", "500", "503"};
    put(b,
        "%s{\"metric\":{\"__name__\":\"http_server_requests_seconds_count\",\"cluster\":"
        "\"prod-eu-west-1\",\"container\":\"checkout\",\"endpoint\":\"http\",\"instance\":"
        "\"10.42.%d.%d:8080\",\"job\":\"kubernetes-pods\",\"method\":\"%s\",\"namespace\":"
        "\"shop\",\"pod\":\"checkout-7d9f8b6c4-%05d\",\"service\":\"checkout\",\"status\":"
        "\"%s\",\"uri\":\"/api/v1/cart/{id}/items\"},\"values\":[",
        i ? "," : "", i / 16, i % 16 * 7, methods[i % 4], i * 7919 % 100000, codes[i % 7]);
    double counter = (double)(next(rng) % 100000);
    for (int p = 0; p < POINTS; p++) {
        uint64_t r = next(rng);
        double v = i % 3 == 0    ? (counter += (double)(r % 50))     /* a counter */
                   : r % 97 == 0 ? NAN                               /* a gap */
                                 : (double)(r % 100000) / 15.0 / 60; /* a rate */
        put(b, "%s[%.3f,", p ? "," : "", 1763726400.781 + 15.0 * p);
        put_value(b, v);
        put(b, "]");
    }
    put(b, "]}");
}

static buf make_response(void) {
    buf b = {rt_xmalloc(1 << 20), 0, 1 << 20};
    uint64_t rng = 88172645463325252u;
    put(&b, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[");
    for (int i = 0; i < SERIES; i++)
        put_series(&b, i, &rng);
    put(&b, "]}}");
    return b;
}

/* MB/s of the best of ROUNDS rounds, each decoding (and pushing, when 'L') 'b' for at least
 * a second. */
static double measure(const buf *b, lua_State *L) {
    double best = 0;
    for (int round = 0; round < ROUNDS; round++) {
        double start = rt_monotonic(), elapsed;
        size_t runs = 0;
        do {
            sdk_response r;
            char why[256];
            if (sdk_response_decode(b->p, b->n, NULL, &r, why, sizeof why) != 0) {
                fprintf(stderr, "bench_prom_parse: %s\n", why);
                exit(1);
            }
            if (L) {
                sdk_response_push(L, &r);
                lua_pop(L, 1);
                lua_gc(L, LUA_GCCOLLECT);
            }
            sdk_response_free(&r);
            runs++;
        } while ((elapsed = rt_monotonic() - start) < 1.0);
        double rate = (double)b->n * (double)runs / elapsed / 1e6;
        best = rate > best ? rate : best;
    }
    return best;
}

int main(void) {
    buf b = make_response();
    printf("bench prom_parse %.1f MB/s\n", measure(&b, NULL));
    lua_State *L = luaL_newstate();
    printf("bench prom_parse_push %.1f MB/s\n", measure(&b, L));
    lua_close(L);
    free(b.p);
    return 0;
}
