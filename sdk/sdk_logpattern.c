/* sdk/sdk_logpattern.c -- log patterns: online template mining of log lines (masking, a
 * Drain-like search among clusters, patterns split where few words vary) and the comparison of
 * a pattern's rates in two windows. Its Lua module, inquest.logs, lives in sdk_logs.c.
 *
 * Design notes
 * - A line is cut into words at white space, and masked before any search: a word is a value
 *   when one of its alphanumeric runs starts with a digit (42, 10.0.0.1:80, blk_-17, 0x1f, <1,
 *   v1.2, mesos-master-1) or is hex holding a digit (33557fe4, b00000084), when it is a host
 *   name (ns.example.com: labels and a common top-level domain), or when it is a unit right after
 *   a value (18 KB, 3 sec, 451 bytes). Adjacent values become one variable, so a value of
 *   several words ("18.4 KB)", "<1 sec") has the shape of a value of one. Words such as ssh2,
 *   SOCKS5 or IPv4 stay words. No rule belongs to one kind of log: one configuration serves all.
 * - The masked line is a *shape*. Shapes live in a hash table, so a line whose shape is known
 *   (nearly every line of a real log) costs one pass over its bytes and one probe, and
 *   allocates nothing.
 * - A new shape is placed as Drain places a line: among the clusters with its number of words
 *   and first word (a leaf), the one whose template shares the largest share of its words,
 *   when at least 'similarity'; else it starts a cluster. A cluster's template turns positions
 *   where its shapes differ into variables. Once a leaf holds LEAF_MAX clusters, a new shape
 *   joins the most similar one, so that placing a shape costs at most LEAF_MAX comparisons.
 * - Patterns are made when asked (sdk_lp_build). At a position where a cluster's shapes
 *   differ, the words stay constants, one pattern each, unless a shape has a value there or
 *   there are more than 'split_max' distinct words: two or three words at one place are states
 *   (FOLLOWING, LEADING, LOOKING; admin, root), many are values (user names). This is what lets
 *   a loose similarity gather a template's lines without merging its neighbours.
 * - Words are compared by 64-bit hashes (VAR for a value); a collision would merge two words.
 * - Memory comes from the caller's allocator (a lua_Alloc: a Lua state's budget counts it) and
 *   any allocation may fail: an operation reserves what it needs, then commits, so a failure
 *   leaves the miner as it was. Places in the arenas are offsets: arenas move as they grow. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"
#include "sdk_logpattern.h"

#define VAR_BYTE '\x01' /* a variable in a shape's text */
#define VAR      0      /* the word hash of a value */
#define GEN      1      /* in a cluster's template: where its shapes differ */
#define NONE     UINT32_MAX
#define LEAF_MAX 100

const sdk_lp_config sdk_lp_defaults = {
    .similarity = 0.5,
    .split_max = 3,
    .max_shapes = 50000,
    .max_line = 4096,
};

const sdk_lp_thresholds sdk_lp_default_thresholds = {
    .alpha = 0.01,
    .min_ratio = 2,
    .min_count = 2,
};

typedef struct shape {
    uint64_t hash;
    size_t text, toks; /* offsets in m->text and m->toks */
    uint32_t len, ntok;
    uint32_t cluster, next; /* its cluster, and the cluster's next shape */
    uint32_t pattern;       /* in the last build */
    uint64_t count[SDK_LP_SLOTS];
    double first[SDK_LP_SLOTS], last[SDK_LP_SLOTS];
    size_t sample[SDK_LP_SLOTS]; /* offsets in m->lines of the first line of each slot */
    uint32_t sample_len[SDK_LP_SLOTS];
} shape;

typedef struct cluster {
    size_t tpl; /* offset in m->toks of its template: per position the word hash its shapes
                   share (VAR: a value in all), or GEN where they differ */
    uint32_t ntok;
    uint32_t head, tail; /* its shapes, oldest first */
    uint32_t next;       /* the next cluster of its leaf */
    uint32_t first;      /* its first pattern in the last build */
} cluster;

typedef struct leaf {
    uint64_t word; /* the first word's hash (VAR for a value; 0 words: VAR) */
    uint32_t ntok;
    uint32_t head, n; /* its clusters: the newest, and how many; head NONE: a free slot */
} leaf;

typedef struct pattern {
    sdk_lp_pattern pub;
    uint32_t cluster, rep, next; /* the shape it was rendered from; the cluster's next */
    size_t text, toks;           /* offsets in m->ptext and m->ptoks */
    uint32_t top[SDK_LP_SLOTS][SDK_LP_SAMPLES]; /* its most frequent shapes, NONE past the last */
} pattern;

struct sdk_lp {
    sdk_lp_config cf;
    sdk_lp_alloc alloc;
    void *ud;
    shape *shapes;
    size_t nshapes, shapes_cap;
    uint32_t *table; /* shape index + 1, 0 when free; a power of two */
    size_t table_cap;
    char *text; /* shapes' masked texts */
    size_t ntext, text_cap;
    uint64_t *toks; /* shapes' word hashes and clusters' templates */
    size_t ntoks, toks_cap;
    char *lines; /* sample lines */
    size_t nlines, lines_cap;
    cluster *clusters;
    size_t nclusters, clusters_cap;
    leaf *leaves; /* open addressing; a power of two */
    size_t nleaves, leaves_cap;
    char *buf;       /* the line being masked: max_line bytes */
    uint64_t *words; /* its word hashes, for sdk_lp_match */
    size_t words_cap;
    uint64_t lines_added, dropped;
    /* The last build. */
    int built;
    pattern *patterns;
    size_t npatterns, patterns_cap;
    uint32_t *pmap; /* pattern index + 1 by cluster and split words; a power of two */
    size_t pmap_cap;
    char *ptext;
    size_t nptext, ptext_cap;
    uint64_t *ptoks; /* patterns' word hashes, VAR where they vary */
    size_t nptoks, ptoks_cap;
    unsigned char *split; /* per position of the cluster being built: POS_* */
    uint64_t *distinct;   /* split_max + 1 words seen at one position */
    size_t split_cap;
};

enum { POS_CONST, POS_VAR, POS_SPLIT };

/* ---- Memory ------------------------------------------------------------------------------ */

/* Grows the array whose pointer is at 'pp' (of 'size'-byte items, '*cap' of them) to hold at
 * least 'need' items. */
static int reserve(sdk_lp *m, void *pp, size_t *cap, size_t need, size_t size) {
    if (need <= *cap)
        return RT_OK;
    size_t want = *cap ? *cap : 16;
    while (want < need) {
        if (want > SIZE_MAX / 2 / size)
            return RT_ENOMEM;
        want *= 2;
    }
    void *p;
    memcpy(&p, pp, sizeof p);
    void *q = m->alloc(m->ud, p, *cap * size, want * size);
    if (!q)
        return RT_ENOMEM;
    memcpy(pp, &q, sizeof q);
    *cap = want;
    return RT_OK;
}

#define RESERVE(m, arr, cap, need) reserve((m), &(arr), &(cap), (need), sizeof *(arr))

static void release(sdk_lp *m, void *p, size_t bytes) {
    if (p)
        m->alloc(m->ud, p, bytes, 0);
}

/* ---- Words -------------------------------------------------------------------------------- */

static uint64_t fmix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* A fast, well-mixed 64-bit hash; never VAR or GEN. */
static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0x87c37b91114253d5ull);
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        k *= 0x87c37b91114253d5ull;
        h = ((h ^ k ^ (k >> 31)) << 27 | (h ^ k ^ (k >> 31)) >> 37) * 5 + 0x52dce729;
    }
    uint64_t k = 0;
    memcpy(&k, p, n);
    h = fmix(h ^ k * 0x4cf5ad432745937full);
    return h <= GEN ? h + 2 : h;
}

/* Classes of bytes: white space, digit, letter, hex digit, and the punctuation that may open
 * or close a word ("(x", "x),"). Bytes of UTF-8 sequences have none, like other punctuation. */
enum { C_SPACE = 1, C_DIGIT = 2, C_ALPHA = 4, C_HEX = 8, C_OPEN = 16, C_CLOSE = 32 };

static const unsigned char cls[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  1,  1,  1,  1,  1,  0,  0,  /* \t to \r */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* */
    1,  32, 48, 0,  0,  0,  0,  48, 16, 32, 0,  0,  32, 0,  32, 0,  /* space ! " ' ( ) , . */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 32, 32, 16, 0,  32, 32, /* 0 to 9 : ; < > ? */
    0,  12, 12, 12, 12, 12, 12, 4,  4,  4,  4,  4,  4,  4,  4,  4,  /* A to O */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  16, 0,  32, 0,  0,  /* P to Z [ ] */
    0,  12, 12, 12, 12, 12, 12, 4,  4,  4,  4,  4,  4,  4,  4,  4,  /* a to o */
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  16, 0,  32, 0,  0,  /* p to z { } */
};

/* Word lists by length (1 to 8 bytes), each the words of that length in lower case, one after
 * the other: a word is looked up among those of its length only. */
typedef const char *const word_list[9];

/* Units of sizes and durations: a word that follows a value ("µs" is 3 bytes). */
static word_list units = {
    "",
    "bshd%",
    "kbmbgbtbpbnsusmshr",
    "kibmibgibtibsecminhrsday\xc2\xb5s",
    "bytesecsminshourdays",
    "byteshours",
    "secondminute",
    "secondsminutes",
    "",
};

/* Top-level domains common in logs: what makes a dotted word a host name rather than a Java
 * class (java.io.IOException) or a setting (user.dir). */
static word_list tlds = {
    "",
    "",
    "ioukdejpfrrubreuinaucausnlchsekrhktwomcn",
    "comnetorgedugovmilintbiz",
    "info",
    "local",
    "",
    "",
    "internal",
};

/* Whether the 'n' bytes at 'w' are a word of 'list', ignoring ASCII case. */
static int listed(const unsigned char *w, size_t n, word_list list) {
    char low[8];
    if (n == 0 || n > 8)
        return 0;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)(cls[w[i]] & C_ALPHA ? w[i] | 0x20 : w[i]);
    for (const char *p = list[n]; *p; p += n)
        if (memcmp(p, low, n) == 0)
            return 1;
    return 0;
}

/* 'w' without the brackets, quotes and punctuation around it. */
static const unsigned char *core(const unsigned char *w, size_t *n) {
    size_t a = 0, b = *n;
    while (a < b && cls[w[a]] & C_OPEN)
        a++;
    while (b > a && cls[w[b - 1]] & C_CLOSE)
        b--;
    *n = b - a;
    return w + a;
}

/* Labels of letters, digits and '-' joined by dots, at least two, the last a known top-level
 * domain in lower case. */
static int is_host(const unsigned char *w, size_t n) {
    size_t label = 0, dots = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] == '.') {
            if (label == 0)
                return 0;
            dots++, label = 0, last = i + 1;
        } else if (cls[w[i]] & (C_ALPHA | C_DIGIT) || w[i] == '-') {
            label++;
        } else {
            return 0;
        }
    }
    if (!dots || !label)
        return 0;
    for (size_t i = last; i < n; i++)
        if (w[i] < 'a' || w[i] > 'z')
            return 0;
    return listed(w + last, n - last, tlds);
}

/* Whether the word at 'w' ('n' bytes), which its letters do not make a value, is one by name:
 * a host name ('dotted': it holds a dot) or a unit after a value ('after_value'). */
static int named_value(const unsigned char *w, size_t n, int dotted, int after_value) {
    const unsigned char *c = core(w, &n);
    return (dotted && is_host(c, n)) || (after_value && listed(c, n, units));
}

/* Masks the 'n' bytes at 's' into 'out' (room for 'n' bytes): words separated by one space,
 * VAR_BYTE for each run of values. Returns the bytes written; '*ntok' is the number of words.
 * One pass: each word is copied as it is read, and taken back when it turns out a value. A
 * word is a value by its letters when one of its alphanumeric runs starts with a digit or is
 * hex holding a digit, or when it holds VAR_BYTE (which must never read as a word). */
static size_t mask(const char *s, size_t n, char *out, uint32_t *ntok) {
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    uint32_t k = 0;
    int prev = 0; /* the word before was a value */
    while (i < n) {
        if (cls[u[i]] & C_SPACE) {
            i++;
            continue;
        }
        if (k)
            out[o++] = ' ';
        size_t at = o, from = i;
        unsigned first = 0, digit = 0, hex = 0, dots = 0, value = 0; /* first: a run's class */
        for (; i < n; i++) {
            unsigned char c = u[i];
            unsigned cl = cls[c];
            if (cl & C_SPACE)
                break;
            out[o++] = (char)c;
            if (cl & (C_DIGIT | C_ALPHA)) {
                if (!first)
                    first = cl, digit = 0, hex = C_HEX;
                digit |= cl & C_DIGIT;
                hex &= cl;
                continue;
            }
            value |= first && ((first & C_DIGIT) || (digit && hex));
            first = 0;
            dots |= c == '.';
            value |= c == (unsigned char)VAR_BYTE;
        }
        value |= first && ((first & C_DIGIT) || (digit && hex));
        if (!value && (dots || prev))
            value = named_value(u + from, i - from, dots, prev);
        if (!value) {
            k++;
        } else if (prev) {
            o = at - 1; /* one variable with the value before, and no space */
        } else {
            o = at;
            out[o++] = VAR_BYTE;
            k++;
        }
        prev = value;
    }
    *ntok = k;
    return o;
}

/* Writes the word hashes of the masked text 't' ('n' bytes, 'ntok' words) into 'out'. */
static void hash_words(const char *t, size_t n, uint64_t *out) {
    size_t i = 0, k = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && t[j] != ' ')
            j++;
        out[k++] = j - i == 1 && t[i] == VAR_BYTE ? VAR : hash_bytes(t + i, j - i);
        i = j + 1;
    }
}

size_t sdk_lp_mask(const char *line, size_t len, char *out) {
    uint32_t ntok;
    size_t n = mask(line, len, out, &ntok), vars = 0;
    for (size_t i = 0; i < n; i++)
        vars += out[i] == VAR_BYTE;
    size_t o = n + 2 * vars; /* "<*>" in place of each VAR_BYTE, written from the end */
    out[o] = 0;
    for (size_t i = n; i-- > 0;) {
        if (out[i] == VAR_BYTE) {
            memcpy(out + o - 3, "<*>", 3);
            o -= 3;
        } else {
            out[--o] = out[i];
        }
    }
    return n + 2 * vars;
}

/* ---- The miner ----------------------------------------------------------------------------- */

sdk_lp *sdk_lp_new(const sdk_lp_config *config, sdk_lp_alloc alloc, void *ud) {
    const sdk_lp_config *cf = config ? config : &sdk_lp_defaults;
    if (!(cf->similarity > 0 && cf->similarity <= 1) || cf->split_max < 1 || cf->split_max > 64 ||
        cf->max_shapes < 1 || cf->max_shapes >= NONE / 2 || cf->max_line < 1 ||
        cf->max_line > ((size_t)1 << 30))
        return NULL;
    sdk_lp *m = alloc(ud, NULL, 0, sizeof *m);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    m->cf = *cf;
    m->alloc = alloc;
    m->ud = ud;
    m->buf = alloc(ud, NULL, 0, cf->max_line);
    if (!m->buf) {
        alloc(ud, m, sizeof *m, 0);
        return NULL;
    }
    return m;
}

static void free_build(sdk_lp *m) {
    release(m, m->patterns, m->patterns_cap * sizeof *m->patterns);
    release(m, m->pmap, m->pmap_cap * sizeof *m->pmap);
    release(m, m->ptext, m->ptext_cap);
    release(m, m->ptoks, m->ptoks_cap * sizeof *m->ptoks);
    release(m, m->split, m->split_cap);
    release(m, m->distinct, (m->cf.split_max + 1) * sizeof *m->distinct);
    m->patterns = NULL, m->pmap = NULL, m->ptext = NULL, m->ptoks = NULL, m->split = NULL;
    m->distinct = NULL;
    m->patterns_cap = m->pmap_cap = m->ptext_cap = m->ptoks_cap = m->split_cap = 0;
    m->npatterns = m->nptext = m->nptoks = 0;
    m->built = 0;
}

void sdk_lp_free(sdk_lp *m) {
    if (!m)
        return;
    free_build(m);
    release(m, m->shapes, m->shapes_cap * sizeof *m->shapes);
    release(m, m->table, m->table_cap * sizeof *m->table);
    release(m, m->text, m->text_cap);
    release(m, m->toks, m->toks_cap * sizeof *m->toks);
    release(m, m->lines, m->lines_cap);
    release(m, m->clusters, m->clusters_cap * sizeof *m->clusters);
    release(m, m->leaves, m->leaves_cap * sizeof *m->leaves);
    release(m, m->words, m->words_cap * sizeof *m->words);
    release(m, m->buf, m->cf.max_line);
    m->alloc(m->ud, m, sizeof *m, 0);
}

uint64_t sdk_lp_lines(const sdk_lp *m) {
    return m->lines_added;
}

uint64_t sdk_lp_dropped(const sdk_lp *m) {
    return m->dropped;
}

size_t sdk_lp_shapes(const sdk_lp *m) {
    return m->nshapes;
}

/* The shape whose text is the 'n' bytes at 't' with hash 'h', or NONE. */
static uint32_t lookup(const sdk_lp *m, uint64_t h, const char *t, size_t n) {
    if (!m->table_cap)
        return NONE;
    size_t mask_ = m->table_cap - 1;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        uint32_t e = m->table[i];
        if (!e)
            return NONE;
        const shape *s = &m->shapes[e - 1];
        if (s->hash == h && s->len == n && memcmp(m->text + s->text, t, n) == 0)
            return e - 1;
    }
}

static void table_put(uint32_t *table, size_t cap, uint64_t h, uint32_t id) {
    size_t i = h & (cap - 1);
    while (table[i])
        i = (i + 1) & (cap - 1);
    table[i] = id + 1;
}

/* Keeps the table at most half full for one more shape. */
static int table_reserve(sdk_lp *m) {
    if ((m->nshapes + 1) * 2 <= m->table_cap)
        return RT_OK;
    size_t cap = m->table_cap ? m->table_cap * 2 : 64;
    uint32_t *t = m->alloc(m->ud, NULL, 0, cap * sizeof *t);
    if (!t)
        return RT_ENOMEM;
    memset(t, 0, cap * sizeof *t);
    for (size_t i = 0; i < m->nshapes; i++)
        table_put(t, cap, m->shapes[i].hash, (uint32_t)i);
    release(m, m->table, m->table_cap * sizeof *m->table);
    m->table = t;
    m->table_cap = cap;
    return RT_OK;
}

static uint64_t leaf_hash(uint32_t ntok, uint64_t word) {
    return fmix(word ^ ((uint64_t)ntok * 0x9e3779b97f4a7c15ull));
}

/* The leaf of shapes of 'ntok' words starting with 'word', or where it would go (head NONE). */
static leaf *leaf_slot(const sdk_lp *m, uint32_t ntok, uint64_t word) {
    size_t mask_ = m->leaves_cap - 1;
    for (size_t i = leaf_hash(ntok, word) & mask_;; i = (i + 1) & mask_) {
        leaf *l = &m->leaves[i];
        if (l->head == NONE || (l->ntok == ntok && l->word == word))
            return l;
    }
}

static leaf *leaf_find(const sdk_lp *m, uint32_t ntok, uint64_t word) {
    if (!m->leaves_cap)
        return NULL;
    leaf *l = leaf_slot(m, ntok, word);
    return l->head == NONE ? NULL : l;
}

/* Keeps the leaves at most half full for one more. */
static int leaves_reserve(sdk_lp *m) {
    if ((m->nleaves + 1) * 2 <= m->leaves_cap)
        return RT_OK;
    size_t cap = m->leaves_cap ? m->leaves_cap * 2 : 64;
    leaf *t = m->alloc(m->ud, NULL, 0, cap * sizeof *t);
    if (!t)
        return RT_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        t[i].head = NONE;
    leaf *old = m->leaves;
    size_t old_cap = m->leaves_cap;
    m->leaves = t;
    m->leaves_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].head != NONE)
            *leaf_slot(m, old[i].ntok, old[i].word) = old[i];
    release(m, old, old_cap * sizeof *old);
    return RT_OK;
}

/* The share of the 'n' words 'w' equal to those of the template 'tpl' (a value equals a value,
 * GEN nothing). */
static double similarity(const uint64_t *tpl, const uint64_t *w, uint32_t n) {
    uint32_t same = 0;
    for (uint32_t i = 0; i < n; i++)
        same += tpl[i] == w[i];
    return n ? (double)same / n : 1;
}

/* The cluster of leaf 'l' most similar to the words 'w' (ties: the newest), and '*sim'. */
static uint32_t best_cluster(const sdk_lp *m, const leaf *l, const uint64_t *w, uint32_t n,
                             double *sim) {
    uint32_t best = NONE;
    *sim = -1;
    for (uint32_t c = l ? l->head : NONE; c != NONE; c = m->clusters[c].next) {
        double s = similarity(m->toks + m->clusters[c].tpl, w, n);
        if (s > *sim)
            *sim = s, best = c;
    }
    return best;
}

/* Places the new shape 'id' (its words hashed) in a cluster. The room for a leaf, a cluster and
 * its template is reserved. */
static void place(sdk_lp *m, uint32_t id) {
    shape *s = &m->shapes[id];
    const uint64_t *w = m->toks + s->toks;
    uint64_t first = s->ntok ? w[0] : VAR;
    leaf *l = leaf_slot(m, s->ntok, first);
    double sim;
    uint32_t c = best_cluster(m, l->head == NONE ? NULL : l, w, s->ntok, &sim);
    if (c != NONE && (sim >= m->cf.similarity || l->n >= LEAF_MAX)) {
        uint64_t *tpl = m->toks + m->clusters[c].tpl;
        for (uint32_t i = 0; i < s->ntok; i++)
            if (tpl[i] != w[i])
                tpl[i] = GEN;
    } else {
        if (l->head == NONE) {
            *l = (leaf){.word = first, .ntok = s->ntok, .head = NONE, .n = 0};
            m->nleaves++;
        }
        c = (uint32_t)m->nclusters++;
        cluster *nc = &m->clusters[c];
        *nc = (cluster){
            .tpl = m->ntoks, .ntok = s->ntok, .head = NONE, .tail = NONE, .next = l->head};
        memcpy(m->toks + m->ntoks, w, s->ntok * sizeof *w);
        m->ntoks += s->ntok;
        l->head = c;
        l->n++;
    }
    cluster *cl = &m->clusters[c];
    s->cluster = c;
    s->next = NONE;
    if (cl->tail == NONE)
        cl->head = id;
    else
        m->shapes[cl->tail].next = id;
    cl->tail = id;
}

/* Keeps the first line of slot 'slot' of shape 'id' as its sample. */
static int keep_sample(sdk_lp *m, uint32_t id, unsigned slot, const char *line, size_t len) {
    if (RESERVE(m, m->lines, m->lines_cap, m->nlines + len) < 0)
        return RT_ENOMEM;
    memcpy(m->lines + m->nlines, line, len);
    m->shapes[id].sample[slot] = m->nlines;
    m->shapes[id].sample_len[slot] = (uint32_t)len;
    m->nlines += len;
    return RT_OK;
}

/* Adds the shape in m->buf ('n' bytes, 'ntok' words, hash 'h'), first seen as 'line' in
 * 'slot'. Returns its id, RT_ELIMIT or RT_ENOMEM. */
static long add_shape(sdk_lp *m, uint64_t h, size_t n, uint32_t ntok, const char *line, size_t len,
                      unsigned slot) {
    if (m->nshapes >= m->cf.max_shapes) {
        m->dropped++;
        return RT_ELIMIT;
    }
    if (RESERVE(m, m->shapes, m->shapes_cap, m->nshapes + 1) < 0 ||
        RESERVE(m, m->text, m->text_cap, m->ntext + n) < 0 ||
        RESERVE(m, m->toks, m->toks_cap, m->ntoks + 2 * (size_t)ntok) < 0 ||
        RESERVE(m, m->clusters, m->clusters_cap, m->nclusters + 1) < 0 ||
        RESERVE(m, m->lines, m->lines_cap, m->nlines + len) < 0 || table_reserve(m) < 0 ||
        leaves_reserve(m) < 0)
        return RT_ENOMEM;
    uint32_t id = (uint32_t)m->nshapes++;
    shape *s = &m->shapes[id];
    *s = (shape){.hash = h,
                 .text = m->ntext,
                 .toks = m->ntoks,
                 .len = (uint32_t)n,
                 .ntok = ntok,
                 .pattern = NONE};
    for (int i = 0; i < SDK_LP_SLOTS; i++)
        s->first[i] = s->last[i] = NAN;
    memcpy(m->text + m->ntext, m->buf, n);
    m->ntext += n;
    hash_words(m->buf, n, m->toks + m->ntoks);
    m->ntoks += ntok;
    keep_sample(m, id, slot, line, len); /* reserved above: cannot fail */
    place(m, id);
    table_put(m->table, m->table_cap, h, id);
    return id;
}

/* The length of 'line' that mining looks at. */
static size_t cut(const sdk_lp *m, const char *line, size_t len) {
    return len > m->cf.max_line ? rt_utf8_cut(line, len, m->cf.max_line) : len;
}

long sdk_lp_add(sdk_lp *m, const char *line, size_t len, unsigned slot, double time) {
    uint32_t ntok;
    if (NEVER(slot >= SDK_LP_SLOTS))
        return RT_EINTERNAL;
    len = cut(m, line, len);
    size_t n = mask(line, len, m->buf, &ntok);
    uint64_t h = hash_bytes(m->buf, n);
    uint32_t id = lookup(m, h, m->buf, n);
    if (id == NONE) {
        long rc = add_shape(m, h, n, ntok, line, len, slot);
        if (rc < 0)
            return rc;
        id = (uint32_t)rc;
    } else if (!m->shapes[id].count[slot] && keep_sample(m, id, slot, line, len) < 0) {
        return RT_ENOMEM;
    }
    shape *s = &m->shapes[id];
    s->count[slot]++;
    if (!isnan(time)) {
        if (!(s->first[slot] <= time))
            s->first[slot] = time;
        if (!(s->last[slot] >= time))
            s->last[slot] = time;
    }
    m->lines_added++;
    m->built = 0;
    return id;
}

/* ---- Patterns ----------------------------------------------------------------------------- */

/* Marks each position of cluster 'c' in m->split: POS_CONST where its template has a word,
 * POS_VAR where a shape has a value or more than split_max words differ, else POS_SPLIT. */
static void classify(sdk_lp *m, const cluster *c) {
    const uint64_t *tpl = m->toks + c->tpl;
    for (uint32_t p = 0; p < c->ntok; p++) {
        m->split[p] = tpl[p] != GEN ? POS_CONST : POS_SPLIT;
        size_t nd = 0;
        for (uint32_t s = c->head; s != NONE && m->split[p] == POS_SPLIT; s = m->shapes[s].next) {
            uint64_t w = m->toks[m->shapes[s].toks + p];
            size_t k = 0;
            while (k < nd && m->distinct[k] != w)
                k++;
            if (k == nd)
                m->distinct[nd++] = w;
            if (w == VAR || nd > m->cf.split_max)
                m->split[p] = POS_VAR;
        }
    }
}

static uint64_t pattern_key(const sdk_lp *m, uint32_t c, const uint64_t *w, uint32_t n) {
    uint64_t h = fmix(c + 0x9e3779b97f4a7c15ull);
    for (uint32_t p = 0; p < n; p++)
        if (m->split[p] == POS_SPLIT)
            h = fmix(h ^ w[p]);
    return h;
}

/* The pattern of shape 's' of cluster 'c' (classified), made when it is the first of its
 * words at the split positions. The room for it is reserved. */
static uint32_t pattern_for(sdk_lp *m, uint32_t c, uint32_t s) {
    const uint64_t *w = m->toks + m->shapes[s].toks;
    uint32_t n = m->clusters[c].ntok;
    size_t mask_ = m->pmap_cap - 1;
    size_t i = pattern_key(m, c, w, n) & mask_;
    for (;; i = (i + 1) & mask_) {
        uint32_t e = m->pmap[i];
        if (!e)
            break;
        const pattern *pt = &m->patterns[e - 1];
        if (pt->cluster != c)
            continue;
        const uint64_t *r = m->toks + m->shapes[pt->rep].toks;
        uint32_t p = 0;
        while (p < n && (m->split[p] != POS_SPLIT || r[p] == w[p]))
            p++;
        if (p == n)
            return e - 1;
    }
    uint32_t id = (uint32_t)m->npatterns++;
    pattern *pt = &m->patterns[id];
    memset(pt, 0, sizeof *pt);
    pt->cluster = c;
    pt->rep = s;
    pt->toks = m->nptoks;
    memcpy(m->ptoks + m->nptoks, w, n * sizeof *w); /* narrow() takes out what varies */
    m->nptoks += n;
    pt->next = m->clusters[c].first;
    m->clusters[c].first = id;
    for (int k = 0; k < SDK_LP_SLOTS; k++) {
        pt->pub.first[k] = pt->pub.last[k] = NAN;
        for (int j = 0; j < SDK_LP_SAMPLES; j++)
            pt->top[k][j] = NONE;
    }
    m->pmap[i] = id + 1;
    return id;
}

/* Counts shape 's' into pattern 'pt': its lines, times, and its rank among the most frequent. */
static void gather(sdk_lp *m, pattern *pt, uint32_t s) {
    const shape *sh = &m->shapes[s];
    pt->pub.shapes++;
    for (int k = 0; k < SDK_LP_SLOTS; k++) {
        pt->pub.count[k] += sh->count[k];
        pt->pub.total += sh->count[k];
        if (!isnan(sh->first[k]) && !(pt->pub.first[k] <= sh->first[k]))
            pt->pub.first[k] = sh->first[k];
        if (!isnan(sh->last[k]) && !(pt->pub.last[k] >= sh->last[k]))
            pt->pub.last[k] = sh->last[k];
        if (!sh->count[k])
            continue;
        uint32_t *top = pt->top[k], x = s;
        for (int j = 0; j < SDK_LP_SAMPLES; j++) /* insertion: ties keep the older shape */
            if (top[j] == NONE || m->shapes[top[j]].count[k] < m->shapes[x].count[k]) {
                uint32_t t = top[j];
                top[j] = x;
                if ((x = t) == NONE)
                    break;
            }
    }
}

/* Narrows the words of pattern 'pt' to those of shape 's' too: a position where they differ
 * varies. So a pattern shows a word wherever all its shapes have it, also where its cluster's
 * other patterns differ. */
static void narrow(sdk_lp *m, pattern *pt, uint32_t s) {
    uint64_t *t = m->ptoks + pt->toks;
    const uint64_t *w = m->toks + m->shapes[s].toks;
    for (uint32_t p = 0; p < m->shapes[s].ntok; p++)
        if (t[p] != w[p])
            t[p] = VAR;
}

/* Writes the text of pattern 'pt' (room reserved): its shape's words, "<*>" where it varies. */
static void render(sdk_lp *m, pattern *pt) {
    const shape *r = &m->shapes[pt->rep];
    const char *t = m->text + r->text;
    const uint64_t *w = m->ptoks + pt->toks;
    pt->text = m->nptext;
    for (uint32_t p = 0, i = 0; p < r->ntok; p++) {
        uint32_t j = i;
        while (j < r->len && t[j] != ' ')
            j++;
        if (p)
            m->ptext[m->nptext++] = ' ';
        if (w[p] == VAR) {
            memcpy(m->ptext + m->nptext, "<*>", 3);
            m->nptext += 3;
        } else {
            memcpy(m->ptext + m->nptext, t + i, j - i);
            m->nptext += j - i;
        }
        i = j + 1;
    }
    m->ptext[m->nptext++] = 0;
    pt->pub.len = m->nptext - pt->text - 1;
}

/* Reserves what a build needs: patterns and their map for every shape, rendered texts (a shape's
 * text with 3 bytes per variable and a NUL), positions. */
static int build_reserve(sdk_lp *m) {
    size_t text = 0, maxtok = 0;
    for (size_t i = 0; i < m->nshapes; i++) {
        text += m->shapes[i].len + 2 * (size_t)m->shapes[i].ntok + 1;
        if (m->shapes[i].ntok > maxtok)
            maxtok = m->shapes[i].ntok;
    }
    size_t map = 16;
    while (map < 2 * m->nshapes)
        map *= 2;
    if (RESERVE(m, m->patterns, m->patterns_cap, m->nshapes) < 0 ||
        RESERVE(m, m->ptext, m->ptext_cap, text) < 0 ||
        RESERVE(m, m->ptoks, m->ptoks_cap, m->ntoks) < 0 ||
        RESERVE(m, m->split, m->split_cap, maxtok + 1) < 0 ||
        RESERVE(m, m->pmap, m->pmap_cap, map) < 0)
        return RT_ENOMEM;
    if (!m->distinct) {
        m->distinct = m->alloc(m->ud, NULL, 0, (m->cf.split_max + 1) * sizeof *m->distinct);
        if (!m->distinct)
            return RT_ENOMEM;
    }
    memset(m->pmap, 0, m->pmap_cap * sizeof *m->pmap);
    return RT_OK;
}

/* Points the patterns' public texts and samples into the arenas, now that they stay put. */
static void publish(sdk_lp *m) {
    for (size_t i = 0; i < m->npatterns; i++) {
        pattern *pt = &m->patterns[i];
        pt->pub.text = m->ptext + pt->text;
        pt->pub.cluster = pt->cluster;
        for (int k = 0; k < SDK_LP_SLOTS; k++)
            for (int j = 0; j < SDK_LP_SAMPLES; j++) {
                uint32_t s = pt->top[k][j];
                pt->pub.sample[k][j] = s == NONE ? NULL : m->lines + m->shapes[s].sample[k];
                pt->pub.sample_len[k][j] = s == NONE ? 0 : m->shapes[s].sample_len[k];
            }
    }
}

int sdk_lp_build(sdk_lp *m) {
    if (m->built)
        return RT_OK;
    m->npatterns = m->nptext = m->nptoks = 0;
    if (build_reserve(m) < 0) {
        free_build(m);
        return RT_ENOMEM;
    }
    for (uint32_t c = 0; c < m->nclusters; c++) {
        cluster *cl = &m->clusters[c];
        cl->first = NONE;
        classify(m, cl);
        for (uint32_t s = cl->head; s != NONE; s = m->shapes[s].next) {
            uint32_t p = pattern_for(m, c, s);
            m->shapes[s].pattern = p;
            gather(m, &m->patterns[p], s);
            narrow(m, &m->patterns[p], s);
        }
        for (uint32_t p = cl->first; p != NONE; p = m->patterns[p].next)
            render(m, &m->patterns[p]);
    }
    publish(m);
    m->built = 1;
    return RT_OK;
}

size_t sdk_lp_count(const sdk_lp *m) {
    return m->built ? m->npatterns : 0;
}

const sdk_lp_pattern *sdk_lp_get(const sdk_lp *m, size_t i) {
    return m->built && i < m->npatterns ? &m->patterns[i].pub : NULL;
}

size_t sdk_lp_pattern_of(const sdk_lp *m, long id) {
    if (!m->built || id < 0 || (size_t)id >= m->nshapes)
        return (size_t)-1;
    uint32_t p = m->shapes[id].pattern;
    return p == NONE ? (size_t)-1 : p;
}

/* Whether the words 'w' fit pattern 'pt': equal wherever it does not vary. */
static int fits(const sdk_lp *m, const pattern *pt, const uint64_t *w, uint32_t n) {
    const uint64_t *t = m->ptoks + pt->toks;
    for (uint32_t p = 0; p < n; p++)
        if (t[p] != VAR && t[p] != w[p])
            return 0;
    return 1;
}

size_t sdk_lp_match(sdk_lp *m, const char *line, size_t len) {
    uint32_t ntok;
    if (!m->built)
        return (size_t)-1;
    len = cut(m, line, len);
    size_t n = mask(line, len, m->buf, &ntok);
    uint32_t id = lookup(m, hash_bytes(m->buf, n), m->buf, n);
    if (id != NONE && m->shapes[id].pattern != NONE)
        return m->shapes[id].pattern;
    if (RESERVE(m, m->words, m->words_cap, (size_t)ntok + 1) < 0)
        return (size_t)-1;
    hash_words(m->buf, n, m->words);
    double sim;
    uint32_t c =
        best_cluster(m, leaf_find(m, ntok, ntok ? m->words[0] : VAR), m->words, ntok, &sim);
    if (c == NONE || sim < m->cf.similarity)
        return (size_t)-1;
    for (uint32_t p = m->clusters[c].first; p != NONE; p = m->patterns[p].next)
        if (fits(m, &m->patterns[p], m->words, ntok))
            return p;
    return (size_t)-1;
}

/* ---- Comparing two windows ------------------------------------------------------------------ */

/* The continued fraction of the regularized incomplete beta function I_x(a, b) (modified Lentz
 * evaluation); it converges fast for x < (a + 1) / (a + b + 2). */
static double beta_fraction(double a, double b, double x) {
    const double tiny = 1e-300, eps = 1e-15;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    d = 1 / (fabs(d) < tiny ? tiny : d);
    double h = d;
    for (int i = 1; i <= 100000; i++) {
        double even = i * (b - i) * x / ((a + 2 * i - 1) * (a + 2 * i));
        double odd = -(a + i) * (a + b + i) * x / ((a + 2 * i) * (a + 2 * i + 1));
        for (int k = 0; k < 2; k++) {
            double aa = k ? odd : even;
            d = 1 + aa * d;
            d = 1 / (fabs(d) < tiny ? tiny : d);
            c = 1 + aa / c;
            c = fabs(c) < tiny ? tiny : c;
            h *= d * c;
        }
        if (fabs(d * c - 1) < eps)
            break;
    }
    return h;
}

/* I_x(a, b), for a, b > 0 and 0 <= x <= 1. */
static double beta_regularized(double a, double b, double x) {
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2))
        return front * beta_fraction(a, b, x) / a;
    return 1 - front * beta_fraction(b, a, 1 - x) / b;
}

double sdk_lp_binomial_upper(uint64_t k, uint64_t n, double p) {
    if (k == 0)
        return 1;
    if (k > n || p <= 0)
        return 0;
    if (p >= 1)
        return 1;
    return beta_regularized((double)k, (double)(n - k + 1), p);
}

/* P(X <= k) for X ~ Binomial(n, p): I_{1-p}(n - k, k + 1), exact in its small tail. */
static double binomial_lower(uint64_t k, uint64_t n, double p) {
    if (k >= n || p <= 0)
        return 1;
    if (p >= 1)
        return 0;
    return beta_regularized((double)(n - k), (double)(k + 1), 1 - p);
}

void sdk_lp_compare(uint64_t base, double base_seconds, uint64_t count, double seconds,
                    const sdk_lp_thresholds *t, sdk_lp_change *out) {
    if (!t)
        t = &sdk_lp_default_thresholds;
    double share = seconds / (base_seconds + seconds);
    uint64_t n = base + count;
    out->base_rate = (double)base * 60 / base_seconds;
    out->rate = (double)count * 60 / seconds;
    out->ratio = out->base_rate > 0 ? out->rate / out->base_rate : out->rate > 0 ? INFINITY : NAN;
    out->p_up = sdk_lp_binomial_upper(count, n, share);
    out->p_down = binomial_lower(count, n, share);
    if (base == 0 && count >= t->min_count)
        out->status = SDK_LP_NEW;
    else if (count == 0 && base >= t->min_count && out->p_down <= t->alpha)
        out->status = SDK_LP_GONE;
    else if (base && count && out->ratio >= t->min_ratio && out->p_up <= t->alpha)
        out->status = SDK_LP_INCREASED;
    else if (base && count && out->ratio * t->min_ratio <= 1 && out->p_down <= t->alpha)
        out->status = SDK_LP_DECREASED;
    else
        out->status = SDK_LP_STEADY;
}

const char *sdk_lp_status_name(sdk_lp_status s) {
    static const char *const names[] = {"steady", "new", "increased", "decreased", "gone"};
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "steady";
}
