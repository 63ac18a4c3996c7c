/* sdk/sdk_dimensions.c -- dimension analysis (inquest.dimensions, docs/sdk.md "Dimension
 * analysis"): the label values, and combinations of up to three, that explain the change of a
 * metric between a baseline and an incident window, for counts and for ratios. Series and sets
 * are sdk_series.c's and sdk_series_set.c's; what the helpers share is sdk_toolkit.c's.
 *
 * Design notes
 * - Leaves and elements. The metric is split into leaves, one per combination of the values
 *   of every dimension; an element (version="v2", region="eu") is the set of leaves that have
 *   its values. Each leaf has an expected value (what the incident window would hold had
 *   nothing changed) and an actual one.
 * - The score of an element is HotSpot's potential score (Sun et al., IEEE Access 2018): take
 *   "this element changed, the rest did not" as a hypothesis (its leaves scaled alike to its
 *   actual total, the others as expected), and measure how much closer that puts every leaf
 *   to its actual value: 1 - |hypothesis - actual| / |expected - actual| (Euclidean, over
 *   all leaves). It is high only when the element explains most of the change (Adtributor's
 *   explanatory power) and when the change is concentrated in it: version="v2" scores lower
 *   than version="v2", region="eu" when only eu's v2 broke, because it predicts that the
 *   other regions' v2 broke too. A less specific element wins ties: 5% less per value beyond
 *   the first.
 * - With per-element sums of f, a, f^2, f*a, a^2 (f expected, a actual) the distance is
 *   O(1) per element, so every element is scored exactly, none sampled.
 * - Pruning (Apriori, as iDice prunes by impact): an element can explain at least min_share of
 *   the change only if the sum of |a - f| over its leaves is at least min_share * |change|,
 *   and that sum only shrinks as values are added. So pairs are counted only of values that
 *   pass, and triples only of pairs that pass: exact, and the tables stay small.
 * - Ratios (error rate = errors / requests) are explained by their contribution to the
 *   ratio's change, not by raw counts: a leaf's expected errors are its incident requests at
 *   its baseline rate, so a leaf whose traffic doubled at the same rate explains nothing, and
 *   the shift of traffic between leaves of different rates (the mix effect) is reported apart.
 * - Adtributor's surprise (Bhagwan et al., NSDI 2014), the Jensen-Shannon divergence between
 *   an element's share of the expected and of the actual total, is reported for each element.
 * - Memory comes from the caller's scratch allocator (userdata under the memory budget), and
 *   the work, leaves times combinations, is counted on the instruction budget. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "sdk_dimensions.h"
#include "sdk_series.h"

#define NONE          UINT32_MAX
#define DEPTH_PENALTY 0.05

/* ---- Sums over leaves ------------------------------------------------------------------- */

typedef struct acc {
    double f, a, ff, fa, aa, mass, extra[SDK_DIM_EXTRA];
    size_t leaves;
} acc;

static void acc_add(acc *s, const sdk_dim_data *d, size_t i) {
    double f = d->expected[i], a = d->actual[i];
    s->f += f;
    s->a += a;
    s->ff += f * f;
    s->fa += f * a;
    s->aa += a * a;
    s->mass += fabs(a - f);
    s->leaves++;
    for (int k = 0; d->extra && k < SDK_DIM_EXTRA; k++)
        s->extra[k] += d->extra[i * SDK_DIM_EXTRA + k];
}

/* Elements of two and three values, by their values' global ids (a value's id is its index
 * plus the number of values of the dimensions before). Open addressing; grows by doubling. */
typedef struct entry {
    uint32_t key[SDK_DIM_MAX_DEPTH]; /* increasing; NONE after the last; key[0] NONE: empty */
    int kept;                        /* passed the pruning */
    acc s;
} entry;

typedef struct table {
    entry *slot;
    size_t cap, used;
} table;

static size_t hash(const uint32_t k[SDK_DIM_MAX_DEPTH]) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < SDK_DIM_MAX_DEPTH; i++)
        h = (h ^ k[i]) * 0xff51afd7ed558ccdULL;
    return (size_t)(h ^ (h >> 29));
}

static entry *table_slot(const table *t, const uint32_t k[SDK_DIM_MAX_DEPTH]) {
    size_t i = hash(k) & (t->cap - 1);
    while (t->slot[i].key[0] != NONE && memcmp(t->slot[i].key, k, sizeof t->slot[i].key) != 0)
        i = (i + 1) & (t->cap - 1);
    return &t->slot[i];
}

static int table_init(table *t, size_t cap, const sdk_scratch *mem) {
    t->slot = sdk_scratch_alloc(mem, cap, sizeof *t->slot);
    if (!t->slot)
        return -1;
    for (size_t i = 0; i < cap; i++)
        t->slot[i].key[0] = NONE;
    t->cap = cap;
    t->used = 0;
    return 0;
}

/* The entry of 'k', added when absent; NULL when out of memory. */
static entry *table_add(table *t, const uint32_t k[SDK_DIM_MAX_DEPTH], const sdk_scratch *mem) {
    entry *e = table_slot(t, k);
    if (e->key[0] != NONE)
        return e;
    if (2 * (t->used + 1) > t->cap) {
        table old = *t;
        if (table_init(t, old.cap * 2, mem) != 0)
            return NULL;
        for (size_t i = 0; i < old.cap; i++)
            if (old.slot[i].key[0] != NONE) {
                *table_slot(t, old.slot[i].key) = old.slot[i];
                t->used++;
            }
        e = table_slot(t, k);
    }
    memcpy(e->key, k, sizeof e->key);
    t->used++;
    return e;
}

static const entry *table_find(const table *t, const uint32_t k[SDK_DIM_MAX_DEPTH]) {
    const entry *e = table_slot(t, k);
    return e->key[0] == NONE ? NULL : e;
}

/* ---- Counting ----------------------------------------------------------------------------- */

typedef struct ctx {
    const sdk_dim_data *d;
    const sdk_dim_opts *o;
    const sdk_scratch *mem;
    sdk_work *w;
    uint32_t *offset; /* n_dims + 1: the first global id of each dimension's values */
    acc *single;      /* by global id */
    int *single_kept;
    table pairs, triples;
    acc total;
    double change, threshold, sq; /* total change, pruning threshold, sum of (a - f)^2 */
} ctx;

static int passes(const ctx *c, const acc *s) {
    return s->leaves > 0 && s->mass > 0 && s->mass >= c->threshold * (1 - 1e-12);
}

static void count_totals(ctx *c) {
    const sdk_dim_data *d = c->d;
    for (size_t i = 0; i < d->n_leaves; i++) {
        acc_add(&c->total, d, i);
        for (size_t k = 0; k < d->n_dims; k++)
            acc_add(&c->single[c->offset[k] + d->value[i * d->n_dims + k]], d, i);
    }
    sdk_work_add(c->w, (uint64_t)d->n_leaves * (d->n_dims + 1));
    c->change = c->total.a - c->total.f;
    c->threshold = c->o->min_share * fabs(c->change);
    c->sq = c->total.ff - 2 * c->total.fa + c->total.aa;
    for (uint32_t g = 0; g < c->offset[d->n_dims]; g++)
        c->single_kept[g] = passes(c, &c->single[g]);
}

/* The global ids of leaf 'i' in the dimensions whose value passed, into 'g'; returns how many. */
static size_t kept_values(const ctx *c, size_t i, uint32_t *g) {
    size_t m = 0;
    for (size_t k = 0; k < c->d->n_dims; k++) {
        uint32_t id = c->offset[k] + c->d->value[i * c->d->n_dims + k];
        if (c->single_kept[id])
            g[m++] = id;
    }
    return m;
}

static int count_pairs(ctx *c) {
    uint32_t g[SDK_DIM_MAX_DIMS];
    for (size_t i = 0; i < c->d->n_leaves; i++) {
        size_t m = kept_values(c, i, g);
        for (size_t x = 0; x < m; x++)
            for (size_t y = x + 1; y < m; y++) {
                entry *e = table_add(&c->pairs, (uint32_t[]){g[x], g[y], NONE}, c->mem);
                if (!e)
                    return -1;
                acc_add(&e->s, c->d, i);
            }
        sdk_work_add(c->w, c->d->n_dims + m * m);
    }
    for (size_t i = 0; i < c->pairs.cap; i++)
        c->pairs.slot[i].kept = c->pairs.slot[i].key[0] != NONE && passes(c, &c->pairs.slot[i].s);
    return 0;
}

static int pair_kept(const ctx *c, uint32_t a, uint32_t b) {
    const entry *e = table_find(&c->pairs, (uint32_t[]){a, b, NONE});
    return e && e->kept;
}

static int count_triples(ctx *c) {
    uint32_t g[SDK_DIM_MAX_DIMS];
    for (size_t i = 0; i < c->d->n_leaves; i++) {
        size_t m = kept_values(c, i, g);
        for (size_t x = 0; x < m; x++)
            for (size_t y = x + 1; y < m; y++) {
                if (!pair_kept(c, g[x], g[y]))
                    continue;
                for (size_t z = y + 1; z < m; z++) {
                    if (!pair_kept(c, g[x], g[z]) || !pair_kept(c, g[y], g[z]))
                        continue;
                    entry *e = table_add(&c->triples, (uint32_t[]){g[x], g[y], g[z]}, c->mem);
                    if (!e)
                        return -1;
                    acc_add(&e->s, c->d, i);
                }
                sdk_work_add(c->w, 2 * m);
            }
        sdk_work_add(c->w, c->d->n_dims + m * m);
    }
    return 0;
}

/* ---- Scoring ---------------------------------------------------------------------------- */

/* HotSpot's potential score of the element with sums 's' (design notes). */
static double potential(const ctx *c, const acc *s) {
    double inside = s->ff - 2 * s->fa + s->aa, fitted = 0;
    if (s->f > 0) {
        double r = s->a / s->f;
        fitted = r * r * s->ff - 2 * r * s->fa + s->aa;
    }
    double d2 = c->sq - inside + fmax(fitted, 0);
    return c->sq > 0 ? fmax(0, 1 - sqrt(fmax(d2, 0) / c->sq)) : 0;
}

static double plogp(double p, double m) {
    return p > 0 ? p * log2(p / m) : 0;
}

/* Adtributor's surprise: the Jensen-Shannon divergence of the element's shares. */
static double surprise(const ctx *c, const acc *s) {
    if (!(c->total.f > 0 && c->total.a > 0))
        return 0;
    double p = fmax(s->f / c->total.f, 0), q = fmax(s->a / c->total.a, 0), m = (p + q) / 2;
    return m > 0 ? (plogp(p, m) + plogp(q, m)) / 2 : 0;
}

/* The dimension of the global id 'g'. */
static uint32_t dim_of(const ctx *c, uint32_t g) {
    uint32_t k = 0;
    while (g >= c->offset[k + 1])
        k++;
    return k;
}

static sdk_dim_element element(const ctx *c, const uint32_t key[SDK_DIM_MAX_DEPTH], const acc *s) {
    sdk_dim_element e;
    memset(&e, 0, sizeof e);
    for (int i = 0; i < SDK_DIM_MAX_DEPTH; i++) {
        e.dim[i] = e.value[i] = NONE;
        if (key[i] == NONE)
            continue;
        e.depth++;
        e.dim[i] = dim_of(c, key[i]);
        e.value[i] = key[i] - c->offset[e.dim[i]];
    }
    e.leaves = s->leaves;
    e.expected = s->f;
    e.actual = s->a;
    memcpy(e.extra, s->extra, sizeof e.extra);
    e.explains = (s->a - s->f) / c->change;
    e.surprise = surprise(c, s);
    e.potential = potential(c, s);
    e.score = e.potential * (1 - DEPTH_PENALTY * (e.depth - 1));
    return e;
}

static int element_cmp(const void *a, const void *b) {
    const sdk_dim_element *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    if (x->explains != y->explains)
        return x->explains > y->explains ? -1 : 1;
    for (int i = 0; i < SDK_DIM_MAX_DEPTH; i++) {
        if (x->dim[i] != y->dim[i])
            return x->dim[i] < y->dim[i] ? -1 : 1;
        if (x->value[i] != y->value[i])
            return x->value[i] < y->value[i] ? -1 : 1;
    }
    return 0;
}

/* Adds the element of 'key' to the candidates when it explains enough of the change. */
static void consider(const ctx *c, const uint32_t key[SDK_DIM_MAX_DEPTH], const acc *s,
                     sdk_dim_element *cand, size_t *n) {
    if (s->leaves == 0 || !passes(c, s))
        return;
    sdk_dim_element e = element(c, key, s);
    if (e.explains >= c->o->min_share * (1 - 1e-12))
        cand[(*n)++] = e;
}

/* True when every value of 'general' is one of 'specific''s. */
static int generalizes(const sdk_dim_element *general, const sdk_dim_element *specific) {
    for (int i = 0; i < general->depth; i++) {
        int found = 0;
        for (int j = 0; j < specific->depth; j++)
            found |= general->dim[i] == specific->dim[j] && general->value[i] == specific->value[j];
        if (!found)
            return 0;
    }
    return 1;
}

/* Writes the best candidates to 'out', leaving out those with the leaves of a better, more
 * general one. */
static size_t select_best(sdk_dim_element *cand, size_t n, size_t top, sdk_dim_element *out) {
    size_t k = 0;
    qsort(cand, n, sizeof *cand, element_cmp);
    for (size_t i = 0; i < n && k < top; i++) {
        int same = 0;
        for (size_t j = 0; j < k && !same; j++)
            same = out[j].leaves == cand[i].leaves && generalizes(&out[j], &cand[i]);
        if (!same)
            out[k++] = cand[i];
    }
    return k;
}

static size_t collect(const ctx *c, sdk_dim_element *cand) {
    size_t n = 0;
    for (uint32_t g = 0; g < c->offset[c->d->n_dims]; g++)
        consider(c, (uint32_t[]){g, NONE, NONE}, &c->single[g], cand, &n);
    const table *tables[] = {&c->pairs, &c->triples};
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < tables[t]->cap; i++)
            if (tables[t]->slot && tables[t]->slot[i].key[0] != NONE)
                consider(c, tables[t]->slot[i].key, &tables[t]->slot[i].s, cand, &n);
    return n;
}

static int prepare(ctx *c) {
    const sdk_dim_data *d = c->d;
    c->offset = sdk_scratch_alloc(c->mem, d->n_dims + 1, sizeof *c->offset);
    if (!c->offset)
        return -1;
    for (size_t k = 0; k < d->n_dims; k++)
        c->offset[k + 1] = c->offset[k] + d->n_values[k];
    c->single = sdk_scratch_alloc(c->mem, c->offset[d->n_dims] + 1, sizeof *c->single);
    c->single_kept = sdk_scratch_alloc(c->mem, c->offset[d->n_dims] + 1, sizeof(int));
    if (!c->single || !c->single_kept || table_init(&c->pairs, 64, c->mem) != 0 ||
        table_init(&c->triples, 64, c->mem) != 0)
        return -1;
    return 0;
}

int sdk_dimensions_explain(const sdk_dim_data *d, const sdk_dim_opts *o, const sdk_scratch *mem,
                           sdk_work *w, sdk_dim_element *out, sdk_dim_result *result) {
    ctx c;
    memset(&c, 0, sizeof c);
    memset(result, 0, sizeof *result);
    c.d = d;
    c.o = o;
    c.mem = mem;
    c.w = w;
    if (d->n_dims > SDK_DIM_MAX_DIMS || prepare(&c) != 0)
        return -1;
    count_totals(&c);
    result->expected = c.total.f;
    result->actual = c.total.a;
    memcpy(result->extra, c.total.extra, sizeof result->extra);
    if (c.change == 0 || c.sq <= 0)
        return 0;
    result->potential_all = potential(&c, &c.total);
    if ((o->max_depth >= 2 && count_pairs(&c) != 0) ||
        (o->max_depth >= 3 && count_triples(&c) != 0))
        return -1;
    size_t most = c.offset[d->n_dims] + c.pairs.used + c.triples.used;
    sdk_dim_element *cand = sdk_scratch_alloc(mem, most + 1, sizeof *cand);
    if (!cand)
        return -1;
    size_t n = collect(&c, cand);
    sdk_work_add(w, (uint64_t)most + (uint64_t)n * 16);
    result->n = select_best(cand, n, o->top, out);
    return 0;
}

/* ---- inquest.dimensions ------------------------------------------------------------------
 * The binding turns series into leaves: a leaf per combination of the dimensions' values, each
 * with up to four sums (slots) of its series' values aggregated over a window: baseline and
 * incident for explain, the numerators' and denominators' baseline and incident for
 * explain_ratio. */

enum { SLOT_BASE, SLOT_INC, SLOTS_ADDITIVE };
enum { SLOT_N0, SLOT_D0, SLOT_N1, SLOT_D1, SLOTS_RATIO };
enum { AGG_MEAN, AGG_SUM, AGG_MAX, AGG_MIN, AGG_LAST };

static const char *const explain_options[] = {"dimensions", "onset",     "before", "after", "agg",
                                              "min_share",  "max_depth", "top",    "name",  NULL};

/* A set of series and what it adds to leaves: the window of its points and the slot. */
typedef struct source {
    int idx; /* on the stack */
    double from, to;
    int slot, incident; /* an incident window includes its end */
} source;

typedef struct request {
    const char *fn;
    source src[4];
    int n_src, ratio, opts, agg;
    int dims;    /* stack: the list of dimension names */
    int interns; /* stack: per dimension, { value -> id } */
    int names;   /* stack: per dimension, { id -> value } */
    int leaves;  /* stack: packed ids -> leaf index */
    size_t n_leaves, n_dims;
    uint32_t *value, *n_values;
    double *slot; /* n_leaves * 4 */
} request;

/* Raises unless the value at 'idx' is a set or a list of series. */
static void check_set(lua_State *L, int idx, const char *fn, const char *what) {
    char item[64];
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: %s must be a series set (got %s)", fn, what, luaL_typename(L, idx));
    for (size_t i = 1, n = lua_rawlen(L, idx); i <= n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        snprintf(item, sizeof item, "%s[%zu]", what, i);
        sdk__series_check(L, -1, fn, item);
        lua_pop(L, 1);
    }
}

/* True when the value at 'idx' is a set, or a non-empty list whose first item is a series. */
static int looks_like_set(lua_State *L, int idx) {
    if (sdk__is_set(L, idx))
        return 1;
    if (!lua_istable(L, idx))
        return 0;
    lua_rawgeti(L, idx, 1);
    int yes = sdk__series_test(L, -1) != NULL;
    lua_pop(L, 1);
    return yes;
}

/* Reads the windows: split at opts.onset when 'split', else every point. */
static void windows(lua_State *L, request *r, int split) {
    double onset = sdk__opt_number(L, r->opts, r->fn, "onset", NAN, -1e15, 1e15);
    double before = sdk__opt_number(L, r->opts, r->fn, "before", INFINITY, 0, INFINITY);
    double after = sdk__opt_number(L, r->opts, r->fn, "after", INFINITY, 0, INFINITY);
    if (split && isnan(onset))
        luaL_error(L,
                   "%s: opts.onset (a time) is required with one set for both windows "
                   "(or give a baseline set and an incident set)",
                   r->fn);
    if (!split && !isnan(onset))
        luaL_error(L, "%s: opts.onset splits one set in two: give it with one set only", r->fn);
    if (isnan(onset) && (isfinite(before) || isfinite(after)))
        luaL_error(L, "%s: opts.before and opts.after reach from opts.onset: give it too", r->fn);
    for (int i = 0; i < r->n_src; i++) {
        int incident = r->src[i].incident;
        r->src[i].from = !split ? -INFINITY : incident ? onset : onset - before;
        r->src[i].to = !split ? INFINITY : incident ? onset + after : onset;
    }
}

static int read_agg(lua_State *L, request *r) {
    static const char *const aggs[] = {"mean", "sum", "max", "min", "last", NULL};
    const char *name = sdk__opt_string(L, r->opts, r->fn, "agg", "mean");
    for (int i = 0; aggs[i]; i++)
        if (strcmp(aggs[i], name) == 0)
            return i;
    return luaL_error(L, "%s: opts.agg must be one of mean, sum, max, min, last (got \"%s\")",
                      r->fn, name);
}

/* The aggregate of the values of 's' in the window of 'src' (from <= t < to, or t <= to for an
 * incident window), NaN values left out; 0 when there are none. */
static double aggregate(const sdk__series *s, const source *src, int agg) {
    const double *t = SDK__SERIES_T(s), *v = SDK__SERIES_V(s);
    double sum = 0, last = 0;
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        int in = t[i] >= src->from && (t[i] < src->to || (t[i] == src->to && src->incident));
        if (!in || isnan(v[i]))
            continue;
        sum = n == 0           ? v[i]
              : agg == AGG_MAX ? fmax(sum, v[i])
              : agg == AGG_MIN ? fmin(sum, v[i])
                               : sum + v[i];
        last = v[i];
        n++;
    }
    if (n == 0)
        return 0;
    return agg == AGG_MEAN ? sum / (double)n : agg == AGG_LAST ? last : sum;
}

static int string_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* True when the table on top has two keys or more. */
static int two_or_more(lua_State *L) {
    int n = 0;
    for (lua_pushnil(L); n < 2 && lua_next(L, -2); n++)
        lua_pop(L, 1);
    if (n == 2)
        lua_pop(L, 1); /* the key that lua_next would go on with */
    return n == 2;
}

/* Pushes the list of dimensions: opts.dimensions, or else every label name of the sources'
 * series (but __name__) that has two values or more, sorted. */
static void push_dimensions(lua_State *L, request *r) {
    if (sdk__opt_push(L, r->opts, "dimensions") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            luaL_error(L, "%s: opts.dimensions must be a list of label names", r->fn);
        for (size_t i = 1, n = lua_rawlen(L, -1); i <= n; i++)
            if (lua_rawgeti(L, -1, (lua_Integer)i) != LUA_TSTRING)
                luaL_error(L, "%s: opts.dimensions[%d] must be a label name (got %s)", r->fn,
                           (int)i, luaL_typename(L, -1));
            else
                lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_newtable(L); /* name -> { value -> true } */
    int seen = lua_gettop(L);
    size_t names = 0;
    for (int k = 0; k < r->n_src; k++)
        for (size_t i = 1, n = lua_rawlen(L, r->src[k].idx); i <= n; i++) {
            lua_rawgeti(L, r->src[k].idx, (lua_Integer)i);
            lua_getiuservalue(L, -1, 1);
            for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
                if (strcmp(lua_tostring(L, -2), "__name__") == 0)
                    continue;
                lua_pushvalue(L, -2);
                if (lua_rawget(L, seen) == LUA_TNIL) {
                    lua_pop(L, 1);
                    lua_newtable(L);
                    lua_pushvalue(L, -3);
                    lua_pushvalue(L, -2);
                    lua_rawset(L, seen);
                    names++;
                }
                lua_pushvalue(L, -2);
                lua_pushboolean(L, 1);
                lua_rawset(L, -3);
                lua_pop(L, 1);
            }
            lua_pop(L, 2);
        }
    const char **list = lua_newuserdatauv(L, (names ? names : 1) * sizeof *list, 0);
    size_t m = 0;
    for (lua_pushnil(L); lua_next(L, seen); lua_pop(L, 1))
        if (two_or_more(L))
            list[m++] = lua_tostring(L, -2); /* 'seen' keeps it alive */
    qsort(list, m, sizeof *list, string_cmp);
    lua_createtable(L, (int)m, 0);
    for (size_t i = 0; i < m; i++) {
        lua_pushstring(L, list[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_replace(L, seen);
    lua_pop(L, 1);
}

/* The id of the value on top in dimension 'k' (popped), a new one when it is new. */
static uint32_t intern(lua_State *L, request *r, size_t k) {
    lua_rawgeti(L, r->interns, (lua_Integer)k + 1);
    lua_pushvalue(L, -2);
    if (lua_rawget(L, -2) == LUA_TNUMBER) {
        uint32_t id = (uint32_t)lua_tointeger(L, -1);
        lua_pop(L, 3);
        return id;
    }
    lua_pop(L, 1);
    uint32_t id = r->n_values[k]++;
    lua_pushvalue(L, -2);
    lua_pushinteger(L, id);
    lua_rawset(L, -3);
    lua_rawgeti(L, r->names, (lua_Integer)k + 1);
    lua_pushvalue(L, -3);
    lua_rawseti(L, -2, (lua_Integer)id + 1);
    lua_pop(L, 3);
    return id;
}

/* The leaf of the series on top: its values' ids, found or added. */
static size_t leaf_of(lua_State *L, request *r, uint32_t *ids) {
    lua_getiuservalue(L, -1, 1);
    for (size_t k = 0; k < r->n_dims; k++) {
        lua_rawgeti(L, r->dims, (lua_Integer)k + 1);
        if (lua_rawget(L, -2) != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushliteral(L, ""); /* as in PromQL, an absent label is empty */
        }
        ids[k] = intern(L, r, k);
    }
    lua_pop(L, 1);
    lua_pushlstring(L, (const char *)ids, r->n_dims * sizeof *ids);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, r->leaves) == LUA_TNUMBER) {
        size_t leaf = (size_t)lua_tointeger(L, -1);
        lua_pop(L, 2);
        return leaf;
    }
    lua_pop(L, 1);
    size_t leaf = r->n_leaves++;
    memcpy(r->value + leaf * r->n_dims, ids, r->n_dims * sizeof *ids);
    lua_pushinteger(L, (lua_Integer)leaf);
    lua_rawset(L, r->leaves);
    return leaf;
}

/* Makes the leaves of every source's series, and their slots. */
static void build_leaves(lua_State *L, request *r, sdk_work *w) {
    size_t total = 0;
    for (int k = 0; k < r->n_src; k++)
        total += lua_rawlen(L, r->src[k].idx);
    r->n_dims = lua_rawlen(L, r->dims);
    if (r->n_dims > SDK_DIM_MAX_DIMS)
        luaL_error(L, "%s: at most %d dimensions (got %d): choose them with opts.dimensions", r->fn,
                   SDK_DIM_MAX_DIMS, (int)r->n_dims);
    r->value = lua_newuserdatauv(L, (total * r->n_dims + 1) * sizeof *r->value, 0);
    r->slot = lua_newuserdatauv(L, (total * 4 + 1) * sizeof *r->slot, 0);
    r->n_values = lua_newuserdatauv(L, (r->n_dims + 1) * sizeof *r->n_values, 0);
    uint32_t *ids = lua_newuserdatauv(L, (r->n_dims + 1) * sizeof *ids, 0);
    memset(r->slot, 0, (total * 4 + 1) * sizeof *r->slot);
    memset(r->n_values, 0, (r->n_dims + 1) * sizeof *r->n_values);
    lua_createtable(L, (int)r->n_dims, 0);
    r->interns = lua_gettop(L);
    lua_createtable(L, (int)r->n_dims, 0);
    r->names = lua_gettop(L);
    for (size_t k = 1; k <= r->n_dims; k++) {
        lua_newtable(L);
        lua_rawseti(L, r->interns, (lua_Integer)k);
        lua_newtable(L);
        lua_rawseti(L, r->names, (lua_Integer)k);
    }
    lua_newtable(L);
    r->leaves = lua_gettop(L);
    r->n_leaves = 0;
    luaL_checkstack(L, 8, NULL);
    for (int k = 0; k < r->n_src; k++)
        for (size_t i = 1, n = lua_rawlen(L, r->src[k].idx); i <= n; i++) {
            lua_rawgeti(L, r->src[k].idx, (lua_Integer)i);
            const sdk__series *s = lua_touserdata(L, -1);
            size_t leaf = leaf_of(L, r, ids);
            r->slot[leaf * 4 + (size_t)r->src[k].slot] += aggregate(s, &r->src[k], r->agg);
            sdk_work_add(w, s->n + 4 * r->n_dims);
            lua_pop(L, 1);
        }
}

/* ---- Results ----------------------------------------------------------------------------- */

static void set_number(lua_State *L, const char *name, double x) {
    if (isnan(x))
        return;
    lua_pushnumber(L, x);
    lua_setfield(L, -2, name);
}

/* Pushes the value 'v' of dimension 'k'. */
static void push_value(lua_State *L, const request *r, uint32_t k, uint32_t v) {
    lua_rawgeti(L, r->names, (lua_Integer)k + 1);
    lua_rawgeti(L, -1, (lua_Integer)v + 1);
    lua_remove(L, -2);
}

/* Sets labels ({ name = value }) and where ('name="value", …', in the dimensions' order) of the
 * item on top. */
static void set_where(lua_State *L, const request *r, const sdk_dim_element *e) {
    luaL_Buffer b;
    lua_createtable(L, 0, e->depth);
    for (int i = 0; i < e->depth; i++) {
        lua_rawgeti(L, r->dims, (lua_Integer)e->dim[i] + 1);
        push_value(L, r, e->dim[i], e->value[i]);
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "labels");
    luaL_buffinit(L, &b);
    for (int i = 0; i < e->depth; i++) {
        lua_rawgeti(L, r->dims, (lua_Integer)e->dim[i] + 1);
        lua_pushfstring(L, "%s%s=\"", i ? ", " : "", lua_tostring(L, -1));
        lua_remove(L, -2);
        luaL_addvalue(&b);
        push_value(L, r, e->dim[i], e->value[i]);
        luaL_addvalue(&b);
        luaL_addchar(&b, '"');
    }
    luaL_pushresult(&b);
    lua_setfield(L, -2, "where");
}

static double ratio(double num, double den) {
    return den != 0 ? num / den : NAN;
}

/* Pushes { baseline = , incident = } of two numbers. */
static void push_pair(lua_State *L, double base, double inc) {
    lua_createtable(L, 0, 2);
    set_number(L, "baseline", base);
    set_number(L, "incident", inc);
}

static void push_item(lua_State *L, const request *r, const sdk_dim_element *e,
                      const sdk_dim_result *res) {
    lua_createtable(L, 0, 12);
    set_where(L, r, e);
    lua_pushinteger(L, e->depth);
    lua_setfield(L, -2, "depth");
    lua_pushinteger(L, (lua_Integer)e->leaves);
    lua_setfield(L, -2, "leaves");
    if (r->ratio) {
        set_number(L, "baseline", ratio(e->extra[SLOT_N0], e->extra[SLOT_D0]));
        set_number(L, "incident", ratio(e->extra[SLOT_N1], e->extra[SLOT_D1]));
        set_number(L, "change", (e->actual - e->expected) / res->extra[SLOT_D1]);
        set_number(L, "traffic", e->extra[SLOT_D1] / res->extra[SLOT_D1]);
        push_pair(L, e->extra[SLOT_N0], e->extra[SLOT_N1]);
        lua_setfield(L, -2, "numerator");
        push_pair(L, e->extra[SLOT_D0], e->extra[SLOT_D1]);
        lua_setfield(L, -2, "denominator");
    } else {
        set_number(L, "baseline", e->expected);
        set_number(L, "incident", e->actual);
        set_number(L, "change", e->actual - e->expected);
    }
    set_number(L, "explains", e->explains);
    set_number(L, "surprise", e->surprise);
    set_number(L, "potential", e->potential);
    set_number(L, "score", e->score);
}

/* Pushes the result: the items best first, and what the change was. */
static void push_result(lua_State *L, const request *r, const sdk_dim_element *el,
                        const sdk_dim_result *res) {
    lua_createtable(L, (int)res->n, 10);
    for (size_t i = 0; i < res->n; i++) {
        push_item(L, r, &el[i], res);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushliteral(L, "dimensions");
    lua_setfield(L, -2, "kind");
    if (sdk__opt_push(L, r->opts, "name") == LUA_TSTRING)
        lua_setfield(L, -2, "metric");
    else
        lua_pop(L, 1);
    lua_pushvalue(L, r->dims);
    lua_setfield(L, -2, "dimensions");
    lua_pushboolean(L, r->ratio);
    lua_setfield(L, -2, "ratio");
    double best = res->n ? el[0].score : 0;
    lua_pushboolean(L, res->potential_all > 0 && res->potential_all >= best);
    lua_setfield(L, -2, "widespread");
    if (r->ratio) {
        double r0 = ratio(res->extra[SLOT_N0], res->extra[SLOT_D0]);
        double r1 = ratio(res->extra[SLOT_N1], res->extra[SLOT_D1]);
        set_number(L, "baseline", r0);
        set_number(L, "incident", r1);
        set_number(L, "change", r1 - r0);
        set_number(L, "rate_effect", (res->actual - res->expected) / res->extra[SLOT_D1]);
        set_number(L, "mix_effect", res->expected / res->extra[SLOT_D1] - r0);
    } else {
        set_number(L, "baseline", res->expected);
        set_number(L, "incident", res->actual);
        set_number(L, "change", res->actual - res->expected);
    }
}

/* ---- The functions ------------------------------------------------------------------------ */

/* Fills expected and actual (and for a ratio, extra) of 'd' from the request's slots. Returns
 * NULL, or why the data cannot be explained. */
static const char *leaf_values(lua_State *L, const request *r, sdk_dim_data *d) {
    double *expected = lua_newuserdatauv(L, (r->n_leaves + 1) * sizeof *expected, 0);
    double *actual = lua_newuserdatauv(L, (r->n_leaves + 1) * sizeof *actual, 0);
    double n0 = 0, d0 = 0;
    for (size_t i = 0; i < r->n_leaves && r->ratio; i++) {
        n0 += r->slot[i * 4 + SLOT_N0];
        d0 += r->slot[i * 4 + SLOT_D0];
    }
    if (r->ratio && !(d0 > 0))
        return "the denominators have no baseline";
    for (size_t i = 0; i < r->n_leaves; i++) {
        const double *s = r->slot + i * 4;
        if (r->ratio) {
            double rate = s[SLOT_D0] > 0 ? s[SLOT_N0] / s[SLOT_D0] : n0 / d0;
            expected[i] = s[SLOT_D1] * rate;
            actual[i] = s[SLOT_N1];
        } else {
            expected[i] = s[SLOT_BASE];
            actual[i] = s[SLOT_INC];
        }
    }
    d->n_leaves = r->n_leaves;
    d->n_dims = r->n_dims;
    d->value = r->value;
    d->n_values = r->n_values;
    d->expected = expected;
    d->actual = actual;
    d->extra = r->ratio ? r->slot : NULL;
    return NULL;
}

/* Runs the request whose sources are set; returns the results' count (1 or 2). */
static int run(lua_State *L, request *r, int split) {
    sdk__opts_check(L, r->opts, r->fn, explain_options);
    windows(L, r, split);
    r->agg = read_agg(L, r);
    sdk_dim_opts o;
    o.min_share = sdk__opt_number(L, r->opts, r->fn, "min_share", 0.05, 1e-9, 1);
    o.max_depth = (int)sdk__opt_integer(L, r->opts, r->fn, "max_depth", 3, 1, SDK_DIM_MAX_DEPTH);
    o.top = (size_t)sdk__opt_integer(L, r->opts, r->fn, "top", 10, 1, 1000);
    sdk_work w;
    sdk_work_lua(&w, L);
    push_dimensions(L, r);
    r->dims = lua_gettop(L);
    build_leaves(L, r, &w);
    sdk_dim_data d;
    const char *why = leaf_values(L, r, &d);
    if (why) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", r->fn, why);
        return 2;
    }
    sdk_scratch mem;
    sdk_scratch_lua(&mem, L);
    sdk_dim_element *out = lua_newuserdatauv(L, o.top * sizeof *out, 0);
    int top = lua_gettop(L);
    sdk_dim_result res;
    if (sdk_dimensions_explain(&d, &o, &mem, &w, out, &res) != 0)
        return luaL_error(L, "%s: out of memory", r->fn);
    lua_settop(L, top);
    push_result(L, r, out, &res);
    return 1;
}

/* inquest.dimensions.explain(baseline, incident, opts) or explain(set, { onset = t, … }). */
static int dimensions_explain(lua_State *L) {
    request r;
    memset(&r, 0, sizeof r);
    r.fn = "inquest.dimensions.explain";
    int two = looks_like_set(L, 2) || lua_gettop(L) >= 3;
    check_set(L, 1, r.fn, two ? "baseline" : "set");
    if (two)
        check_set(L, 2, r.fn, "incident");
    r.opts = two ? 3 : 2;
    lua_settop(L, r.opts);
    r.n_src = 2;
    r.src[0] = (source){1, 0, 0, SLOT_BASE, 0};
    r.src[1] = (source){two ? 2 : 1, 0, 0, SLOT_INC, 1};
    return run(L, &r, !two);
}

/* inquest.dimensions.explain_ratio(num, den, { onset = t, … }) or
 * explain_ratio(num_baseline, den_baseline, num_incident, den_incident, opts). */
static int dimensions_explain_ratio(lua_State *L) {
    static const char *const names[] = {"numerator baseline", "denominator baseline",
                                        "numerator incident", "denominator incident"};
    request r;
    memset(&r, 0, sizeof r);
    r.fn = "inquest.dimensions.explain_ratio";
    int four = looks_like_set(L, 3) || lua_gettop(L) >= 4;
    for (int i = 0; i < (four ? 4 : 2); i++)
        check_set(L, i + 1, r.fn, four ? names[i] : i ? "denominator" : "numerator");
    r.opts = four ? 5 : 3;
    lua_settop(L, r.opts);
    r.ratio = 1;
    r.n_src = 4;
    for (int i = 0; i < 4; i++)
        r.src[i] = (source){four ? i + 1 : i % 2 + 1, 0, 0, i, i >= 2};
    return run(L, &r, !four);
}

int sdk_dimensions_open(lua_State *L) {
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, dimensions_explain);
    lua_setfield(L, -2, "explain");
    lua_pushcfunction(L, dimensions_explain_ratio);
    lua_setfield(L, -2, "explain_ratio");
    return 1;
}
