/* sdk/sdk_logpattern.h -- log patterns in C: online template mining of log lines and the
 * comparison of a pattern's counts in two windows, for the Lua module inquest.logs (sdk_logs.c)
 * and for other parts of the toolkit. The rules are in sdk_logpattern.c's design notes and in
 * docs/sdk.md "Log patterns". */
#ifndef INQUEST_SDK_LOGPATTERN_H
#define INQUEST_SDK_LOGPATTERN_H

#include <stddef.h>
#include <stdint.h>

/* Each line is counted in one of these slots: a comparison puts its baseline in 0 and its
 * incident in 1; plain mining uses 0. */
#define SDK_LP_SLOTS 2
/* Example lines kept per pattern and slot: the first lines of its most frequent shapes. */
#define SDK_LP_SAMPLES 3

/* An allocator with the contract of lua_Alloc (lua_getallocf), so that a Lua state's memory
 * budget counts what a miner holds. It may return NULL for a growing request. */
typedef void *(*sdk_lp_alloc)(void *ud, void *ptr, size_t osize, size_t nsize);

typedef struct sdk_lp_config {
    double similarity;  /* a new shape joins a cluster when this share of its words equal the
                           cluster's constant words (Drain's threshold); 0 < x <= 1 */
    unsigned split_max; /* a position where a cluster's shapes hold at most this many distinct
                           words keeps them as constants, one pattern each */
    size_t max_shapes;  /* distinct masked lines kept; a line of a new shape past it is dropped */
    size_t max_line;    /* bytes of a line looked at (and kept as a sample); the rest is cut */
} sdk_lp_config;

/* similarity 0.5, split_max 3, max_shapes 50,000, max_line 4,096: one configuration for every
 * log (docs/sdk.md gives its grouping accuracy on the Loghub samples). */
extern const sdk_lp_config sdk_lp_defaults;

typedef struct sdk_lp sdk_lp;

/* A pattern as sdk_lp_build made it. Every pointer points into the miner: valid until the next
 * sdk_lp_add, sdk_lp_build or sdk_lp_free. */
typedef struct sdk_lp_pattern {
    const char *text; /* the template, NUL-terminated: words, and "<*>" where values vary */
    size_t len;
    uint64_t count[SDK_LP_SLOTS]; /* lines of each slot */
    uint64_t total;
    double first[SDK_LP_SLOTS], last[SDK_LP_SLOTS]; /* times of the first and last line of
                                                       each slot added with a time; NaN without */
    size_t shapes;                                  /* distinct masked lines it gathers */
    size_t cluster; /* the cluster it was split from (patterns of one cluster differ only
                       where a position has few values) */
    const char *sample[SDK_LP_SLOTS][SDK_LP_SAMPLES]; /* example lines, NULL past the last */
    size_t sample_len[SDK_LP_SLOTS][SDK_LP_SAMPLES];
} sdk_lp_pattern;

/* A new, empty miner with 'config' (NULL: sdk_lp_defaults), taking its memory from 'alloc'('ud',
 * …). NULL when memory runs out or 'config' is out of range. */
sdk_lp *sdk_lp_new(const sdk_lp_config *config, sdk_lp_alloc alloc, void *ud);
/* Gives back everything 'm' holds; NULL is fine. */
void sdk_lp_free(sdk_lp *m);

/* Mines the 'len' bytes at 'line' (need not be NUL-terminated; invalid UTF-8 is kept as bytes)
 * as a line of slot 'slot' (< SDK_LP_SLOTS) seen at 'time' (Unix seconds, NaN when unknown).
 * Returns the id of its shape (>= 0: stable, for sdk_lp_pattern_of); RT_ELIMIT when the line is
 * of a new shape and max_shapes are kept (the line is counted in sdk_lp_dropped); RT_ENOMEM when
 * memory ran out (the miner is as it was). The work is one pass over the line and one hash
 * probe, plus a search among clusters of the same length and first word for a new shape. */
long sdk_lp_add(sdk_lp *m, const char *line, size_t len, unsigned slot, double time);

/* Makes the patterns from the shapes added so far (nothing to do when nothing was added since
 * the last build). Returns RT_OK or RT_ENOMEM (then the previous build is gone). */
int sdk_lp_build(sdk_lp *m);
/* The number of patterns of the last build, and pattern 'i' (< that number) of it. */
size_t sdk_lp_count(const sdk_lp *m);
const sdk_lp_pattern *sdk_lp_get(const sdk_lp *m, size_t i);
/* The pattern of the last build that the shape 'id' (from sdk_lp_add) belongs to; shapes
 * added since then have none: (size_t)-1. */
size_t sdk_lp_pattern_of(const sdk_lp *m, long id);
/* The pattern of the last build that the 'len' bytes at 'line' would belong to, without adding
 * them: that of its shape when known, else one of the most similar cluster (when similar
 * enough) whose words it has wherever the pattern does not vary. (size_t)-1 when none fits, or
 * when memory runs out. */
size_t sdk_lp_match(sdk_lp *m, const char *line, size_t len);

/* Lines added, and lines dropped because max_shapes were kept. */
uint64_t sdk_lp_lines(const sdk_lp *m);
uint64_t sdk_lp_dropped(const sdk_lp *m);
/* Distinct shapes kept. */
size_t sdk_lp_shapes(const sdk_lp *m);

/* Writes into 'out' (room for 3 * 'len' + 1 bytes) the 'len' bytes at 'line' masked as mining
 * sees them: words separated by one space, "<*>" for each run of values; NUL-terminated.
 * Returns the length written. For tests, and for showing what a pattern is made of. */
size_t sdk_lp_mask(const char *line, size_t len, char *out);

/* ---- Comparing two windows ------------------------------------------------------------------ */

typedef enum sdk_lp_status {
    SDK_LP_STEADY = 0, /* no significant change */
    SDK_LP_NEW,        /* in the incident, never in the baseline */
    SDK_LP_INCREASED,  /* rate up by min_ratio or more, significantly */
    SDK_LP_DECREASED,  /* rate down to 1/min_ratio or less, significantly */
    SDK_LP_GONE,       /* in the baseline, never in the incident, significantly */
} sdk_lp_status;

typedef struct sdk_lp_thresholds {
    double alpha;       /* significance level of a change (0.01) */
    double min_ratio;   /* of the rates, for increased and decreased (2) */
    uint64_t min_count; /* lines in the incident for new, in the baseline for gone (1) */
} sdk_lp_thresholds;

extern const sdk_lp_thresholds sdk_lp_default_thresholds;

typedef struct sdk_lp_change {
    double base_rate, rate; /* lines per minute in the baseline and in the incident */
    double ratio;           /* rate / base_rate: +Inf when new, NaN when neither has a line */
    double p_up, p_down;    /* one-sided p-values of a rise and of a fall */
    sdk_lp_status status;
} sdk_lp_change;

/* Compares 'base' lines in 'base_seconds' with 'count' lines in 'seconds' (both > 0) as two
 * Poisson rates: given the 'base' + 'count' lines, equal rates would put each in the incident
 * with probability seconds / (base_seconds + seconds), so the p-values are the binomial tails
 * at 'count' (the conditional test of two Poisson means). 't' NULL: the defaults. */
void sdk_lp_compare(uint64_t base, double base_seconds, uint64_t count, double seconds,
                    const sdk_lp_thresholds *t, sdk_lp_change *out);
/* "steady", "new", "increased", "decreased", "gone". */
const char *sdk_lp_status_name(sdk_lp_status s);

/* P(X >= k) for X ~ Binomial(n, p), through the regularized incomplete beta function. */
double sdk_lp_binomial_upper(uint64_t k, uint64_t n, double p);

/* ---- The Lua module -------------------------------------------------------------------------- */

struct lua_State;
/* A lua_CFunction that pushes the table inquest.logs (sdk_logs.c): patterns, miner, compare,
 * mask. */
int sdk_logs_open(struct lua_State *L);

#endif
