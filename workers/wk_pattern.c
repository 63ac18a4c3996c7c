/* workers/wk_pattern.c -- Lua 5.4 patterns (find, match, gmatch, gsub) that charge a step budget,
   so a pathological pattern cannot hold a worker inside one C call; API in workers/wk_pattern.h. */

/*
 * Design notes.
 *
 * Why: the sandbox stops runaway scripts with an instruction hook, but a hook only runs between
 * VM instructions, and stock string.find('.-.-.-b') can spend minutes inside one C call. These
 * replacements follow the Lua 5.4 manual (§6.4.1 and the string.find/match/gmatch/gsub entries)
 * and stock results and error messages, and add a meter.
 *
 * Steps. One step is one elementary piece of matching work:
 *   - each entry into the backtracking matcher (a new start position, a capture, each retry of
 *     '?', '*', '+', '-'),
 *   - each test of one subject character against one pattern item (plus one more step per 8 bytes
 *     of a set's text, because a long set costs time per test); '%f' makes two such tests,
 *   - each subject character scanned by '%b', and each byte compared by a back-reference '%1',
 *   - for a plain find, each subject byte passed over and, per candidate, the needle's length.
 * Steps are counted in the Meter (a plain field, not a call) and handed to the charge callback in
 * batches: as soon as WK_PATTERN_CHARGE_EVERY have piled up (exactly that many, except after a
 * bulk count, a back-reference or a plain find, which may hand over more). A call that ends between
 * batches leaves its remainder in the Budget so the next call goes on from there: a script cannot
 * run free by keeping every call just under one batch. The remainder is written back before any Lua
 * code runs from inside a call (gsub's function or table replacement), so nested calls keep one
 * count. A call that raises loses its unsaved remainder (under one batch). The abort is raised
 * with luaL_error, so like every string library error it carries the caller's "chunk:line:".
 *
 * Depth. The matcher recurses for captures and quantifiers; like stock Lua it allows 200 nested
 * levels and raises "pattern too complex" beyond, at the same points as stock.
 *
 * Resources. Nothing is malloc'd: matcher state lives on the C stack (or, for gmatch, in a
 * userdata) and gsub builds its result in a luaL_Buffer, so raising from any depth is safe.
 */

#include "wk_pattern.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include <lauxlib.h>

#if defined(__clang_analyzer__)
/* They longjmp and never return; told to clang-tidy's analyzer so that it does not walk on past a
   raised error into states the error exists to prevent. */
int(luaL_error)(lua_State *L, const char *fmt, ...) __attribute__((analyzer_noreturn));
int(luaL_typeerror)(lua_State *L, int arg, const char *tname) __attribute__((analyzer_noreturn));
#endif

#define ESC      '%'
#define SPECIALS "^$*+?.([%-"

#if defined(LUA_MAXCAPTURES)
#define MAX_CAPTURES LUA_MAXCAPTURES
#else
#define MAX_CAPTURES 32
#endif

#define MAX_DEPTH 200 /* stock MAXCCALLS */

/* Capture lengths that are not lengths. */
#define CAP_OPEN     (-1)
#define CAP_POSITION (-2)

/* Caps one bulk charge so the step counter cannot wrap. */
#define MAX_BULK_STEPS (1u << 30)

#define uchar(c) ((unsigned char)(c))

/* Shared by the four closures of one install: one upvalue userdata. */
typedef struct Budget {
    wk_charge_fn charge;
    void *ud;
    unsigned pending; /* steps counted but not yet charged, carried between calls */
} Budget;

typedef struct Meter {
    lua_State *L;
    Budget *budget;
    unsigned steps; /* steps since the last charge */
} Meter;

typedef struct Capture {
    const char *start;
    ptrdiff_t len; /* or CAP_OPEN / CAP_POSITION */
} Capture;

typedef struct Matcher {
    Meter meter;
    const char *src;     /* subject */
    const char *src_end; /* one past its last byte (the terminating NUL) */
    const char *pat_end;
    int depth_left;
    int level; /* captures opened so far */
    Capture cap[MAX_CAPTURES];
} Matcher;

/* ---- the meter ---- */

/* Hands the counted steps to the callback and raises its message if it says stop. */
static void meter_charge(Meter *mt) {
    Budget *b = mt->budget;
    unsigned n = mt->steps;
    const char *msg;

    mt->steps = 0;
    if (b->charge == NULL)
        return;
    msg = b->charge(b->ud, n);
    if (msg != NULL) {
        b->pending = 0;
        luaL_error(mt->L, "%s", msg);
    }
}

static inline void tick(Meter *mt, unsigned n) {
    mt->steps += n;
    if (mt->steps >= WK_PATTERN_CHARGE_EVERY)
        meter_charge(mt);
}

static void tick_bulk(Meter *mt, size_t n) {
    tick(mt, n > MAX_BULK_STEPS ? MAX_BULK_STEPS : (unsigned)n);
}

/* Takes over the budget's remainder; 'meter_save' hands it back. */
static void meter_load(Meter *mt, lua_State *L, Budget *b) {
    mt->L = L;
    mt->budget = b;
    mt->steps = b->pending;
}

static void meter_save(Meter *mt) {
    mt->budget->pending = mt->steps;
}

/* ---- single items: classes, sets, one character ---- */

/* Whether byte 'c' is in class %'cl'; any other character stands for itself. An upper-case class
   letter is the complement. The letter is taken as ASCII (stock asks tolower and isupper, which
   agree in the C locale the workers run in); the byte 'c' is classified by <ctype.h>, as stock. */
static int class_matches(int c, int cl) {
    int lower = (cl >= 'A' && cl <= 'Z') ? cl - 'A' + 'a' : cl;
    int in;

    switch (lower) {
    case 'a':
        in = isalpha(c);
        break;
    case 'c':
        in = iscntrl(c);
        break;
    case 'd':
        in = isdigit(c);
        break;
    case 'g':
        in = isgraph(c);
        break;
    case 'l':
        in = islower(c);
        break;
    case 'p':
        in = ispunct(c);
        break;
    case 's':
        in = isspace(c);
        break;
    case 'u':
        in = isupper(c);
        break;
    case 'w':
        in = isalnum(c);
        break;
    case 'x':
        in = isxdigit(c);
        break;
    case 'z': /* deprecated since 5.2, still in stock 5.4 */
        in = (c == 0);
        break;
    default:
        return cl == c;
    }
    in = (in != 0);
    return (lower != cl) ? !in : in;
}

/* Whether byte 'c' is in the set whose '[' is at 'p' and whose closing ']' is at 'rb'. */
static int set_matches(int c, const char *p, const char *rb) {
    int hit = 1; /* what a member gets: 0 for a complemented set */

    p++;
    if (*p == '^') {
        hit = 0;
        p++;
    }
    for (; p < rb; p++) {
        if (*p == ESC) {
            p++;
            if (class_matches(c, uchar(*p)))
                return hit;
        } else if (p[1] == '-' && p + 2 < rb) {
            if (uchar(p[0]) <= c && c <= uchar(p[2]))
                return hit;
            p += 2;
        } else if (uchar(*p) == c) {
            return hit;
        }
    }
    return !hit;
}

/* End of the '%x' or '[set]' item at 'p'. */
static const char *class_end(Matcher *m, const char *p) {
    char c = *p++;

    if (c == ESC) {
        if (p == m->pat_end)
            luaL_error(m->meter.L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (p < m->pat_end && *p == '^')
        p++;
    /* The first member is taken as is, so "[]]" and "[^]]" are sets holding ']'. */
    do {
        if (p == m->pat_end)
            luaL_error(m->meter.L, "malformed pattern (missing ']')");
        c = *p++;
        if (c == ESC && p < m->pat_end)
            p++;
    } while (p == m->pat_end || *p != ']');
    return p + 1;
}

/* End of the single-character item at 'p' (where a quantifier would be). */
static inline const char *item_end(Matcher *m, const char *p) {
    return (*p == ESC || *p == '[') ? class_end(m, p) : p + 1;
}

/* Steps one test of the item from 'p' to 'ep' costs: a long set costs more. */
static inline unsigned item_cost(const char *p, const char *ep) {
    return (*p == '[') ? 1 + (unsigned)((ep - p) >> 3) : 1;
}

/* Whether the subject byte at 's' matches the item from 'p' to 'ep'. The caller charges
   item_cost: keeping this a leaf lets the compiler inline it into the loops. */
static inline int item_matches(const Matcher *m, const char *s, const char *p, const char *ep) {
    int c;

    if (s >= m->src_end)
        return 0;
    c = uchar(*s);
    switch (*p) {
    case '.':
        return 1;
    case ESC:
        return class_matches(c, uchar(p[1]));
    case '[':
        return set_matches(c, p, ep - 1);
    default:
        return uchar(*p) == c;
    }
}

/* ---- the backtracking matcher ---- */

static const char *do_match(Matcher *m, const char *s, const char *p);

/* Greedy '*' and '+': 'count' items from 'base' are known to match; take all that do, then give
   them back one at a time until the rest of the pattern matches. */
static const char *expand_greedy(Matcher *m, const char *base, size_t count, const char *p,
                                 const char *ep) {
    unsigned cost = item_cost(p, ep);

    for (;;) {
        tick(&m->meter, cost);
        if (!item_matches(m, base + count, p, ep))
            break;
        count++;
    }
    for (;;) {
        const char *r = do_match(m, base + count, ep + 1);
        if (r != NULL)
            return r;
        if (count == 0)
            return NULL;
        count--;
    }
}

/* Lazy '-': try the rest of the pattern first, then one more item. */
static const char *expand_lazy(Matcher *m, const char *s, const char *p, const char *ep) {
    unsigned cost = item_cost(p, ep);

    for (;;) {
        const char *r = do_match(m, s, ep + 1);
        if (r != NULL)
            return r;
        tick(&m->meter, cost);
        if (!item_matches(m, s, p, ep))
            return NULL;
        s++;
    }
}

/* '(' at 'p': opens a capture (or a position capture for "()") and matches the rest. */
static const char *open_capture(Matcher *m, const char *s, const char *p) {
    ptrdiff_t what = CAP_OPEN;
    const char *r;

    p++;
    if (p < m->pat_end && *p == ')') {
        what = CAP_POSITION;
        p++;
    }
    if (m->level >= MAX_CAPTURES)
        luaL_error(m->meter.L, "too many captures");
    m->cap[m->level].start = s;
    m->cap[m->level].len = what;
    m->level++;
    r = do_match(m, s, p);
    if (r == NULL)
        m->level--; /* undo: the caller backtracks */
    return r;
}

/* ')' at 'p': closes the innermost open capture and matches the rest. */
static const char *close_capture(Matcher *m, const char *s, const char *p) {
    const char *r;
    int i = m->level - 1;

    while (i >= 0 && m->cap[i].len != CAP_OPEN)
        i--;
    if (i < 0)
        luaL_error(m->meter.L, "invalid pattern capture");
    m->cap[i].len = s - m->cap[i].start;
    r = do_match(m, s, p + 1);
    if (r == NULL)
        m->cap[i].len = CAP_OPEN;
    return r;
}

/* "%bxy" with 'p' at x: a balanced run from x to its matching y. */
static const char *match_balance(Matcher *m, const char *s, const char *p) {
    int depth = 1;

    if (p + 1 >= m->pat_end)
        luaL_error(m->meter.L, "malformed pattern (missing arguments to '%%b')");
    tick(&m->meter, 1);
    if (s >= m->src_end || *s != *p)
        return NULL;
    while (++s < m->src_end) {
        tick(&m->meter, 1);
        if (*s == p[1]) {
            if (--depth == 0)
                return s + 1;
        } else if (*s == *p) {
            depth++;
        }
    }
    return NULL;
}

/* "%f[set]" with 'p' at the '[' and 'ep' past its ']': the empty string where the previous byte
   is not in the set and the current one is; the subject's ends count as '\0'. */
static const char *match_frontier(Matcher *m, const char *s, const char *p, const char *ep) {
    int prev = (s == m->src) ? 0 : uchar(s[-1]);
    int cur = (s < m->src_end) ? uchar(*s) : 0;

    tick(&m->meter, 2 * item_cost(p, ep)); /* two set tests */
    if (!set_matches(prev, p, ep - 1) && set_matches(cur, p, ep - 1))
        return s;
    return NULL;
}

/* "%d" back-reference: the text of capture 'digit' again. A position capture never matches. */
static const char *match_backref(Matcher *m, const char *s, int digit) {
    int i = digit - '1';
    size_t len;

    if (i < 0 || i >= m->level || m->cap[i].len == CAP_OPEN)
        luaL_error(m->meter.L, "invalid capture index %%%d", i + 1);
    if (m->cap[i].len == CAP_POSITION)
        return NULL;
    len = (size_t)m->cap[i].len;
    tick_bulk(&m->meter, len + 1);
    if ((size_t)(m->src_end - s) >= len && memcmp(m->cap[i].start, s, len) == 0)
        return s + len;
    return NULL;
}

/* '%b', '%f' or a back-reference at 'p'. Returns where the subject goes on (NULL: no match) and
   sets '*next' to where the pattern goes on. */
static const char *match_escape(Matcher *m, const char *s, const char *p, const char **next) {
    const char *set = p + 2;

    switch (p[1]) {
    case 'b':
        *next = p + 4;
        return match_balance(m, s, p + 2);
    case 'f':
        if (set >= m->pat_end || *set != '[')
            luaL_error(m->meter.L, "missing '[' after '%%f' in pattern");
        *next = item_end(m, set);
        return match_frontier(m, s, set, *next);
    default:
        *next = p + 2;
        return match_backref(m, s, uchar(p[1]));
    }
}

/* The item from 'p' to 'ep' matched at 's' and its quantifier 'q' (one of "*+-") repeats it. */
static const char *match_repeat(Matcher *m, const char *s, const char *p, const char *ep, int q) {
    switch (q) {
    case '+':
        return expand_greedy(m, s + 1, 0, p, ep);
    case '*':
        return expand_greedy(m, s, 1, p, ep);
    default:
        return expand_lazy(m, s, p, ep);
    }
}

static int is_escape_op(int c) {
    return c == 'b' || c == 'f' || (c >= '0' && c <= '9');
}

/* Every exit of do_match gives its depth level back. */
static const char *leave(Matcher *m, const char *s) {
    m->depth_left++;
    return s;
}

/* Matches pattern 'p' (up to pat_end) at subject position 's'. Returns the end of the match or
   NULL. Items that need backtracking recurse; plain items loop, as in stock Lua, so the depth
   limit trips on the same patterns. */
static const char *do_match(Matcher *m, const char *s, const char *p) {
    if (m->depth_left-- == 0)
        luaL_error(m->meter.L, "pattern too complex");
    tick(&m->meter, 1);
    while (p < m->pat_end) {
        const char *ep;
        int q;

        switch (*p) {
        case '(':
            return leave(m, open_capture(m, s, p));
        case ')':
            return leave(m, close_capture(m, s, p));
        case '$':
            if (p + 1 == m->pat_end)
                return leave(m, (s == m->src_end) ? s : NULL);
            break; /* a '$' elsewhere is literal */
        case ESC:
            if (p + 1 < m->pat_end && is_escape_op(uchar(p[1]))) {
                const char *next;
                s = match_escape(m, s, p, &next);
                if (s == NULL)
                    return leave(m, NULL);
                p = next;
                continue;
            }
            break;
        default:
            break;
        }
        ep = item_end(m, p);
        q = (ep < m->pat_end) ? *ep : '\0';
        tick(&m->meter, item_cost(p, ep));
        if (!item_matches(m, s, p, ep)) {
            if (q != '*' && q != '?' && q != '-')
                return leave(m, NULL);
            p = ep + 1; /* zero repetitions are fine */
        } else if (q == '?') {
            const char *r = do_match(m, s + 1, ep + 1);
            if (r != NULL)
                return leave(m, r);
            p = ep + 1; /* without the optional item */
        } else if (q == '*' || q == '+' || q == '-') {
            return leave(m, match_repeat(m, s, p, ep, q));
        } else {
            s++;
            p = ep;
        }
    }
    return leave(m, s);
}

/* ---- set-up, and captures out to Lua ---- */

/* Before each attempt at a new start position. */
static void matcher_reset(Matcher *m) {
    m->level = 0;
    m->depth_left = MAX_DEPTH;
}

static void matcher_init(Matcher *m, lua_State *L, Budget *b, const char *s, size_t ls,
                         const char *p, size_t lp) {
    meter_load(&m->meter, L, b);
    m->src = s;
    m->src_end = s + ls;
    m->pat_end = p + lp;
    matcher_reset(m);
}

/* Capture 'i' of the match 's'..'e' (the whole match stands in as capture 0 when the pattern has
   none). Returns CAP_POSITION for a position capture, else its length with the text in '*text'. */
static ptrdiff_t capture_span(Matcher *m, int i, const char *s, const char *e, const char **text) {
    if (i >= m->level) {
        if (i != 0)
            luaL_error(m->meter.L, "invalid capture index %%%d", i + 1);
        *text = s;
        return e - s;
    }
    if (m->cap[i].len == CAP_OPEN)
        luaL_error(m->meter.L, "unfinished capture");
    *text = m->cap[i].start;
    return m->cap[i].len;
}

static void push_capture(Matcher *m, int i, const char *s, const char *e) {
    const char *text;
    ptrdiff_t len = capture_span(m, i, s, e, &text);

    if (len == CAP_POSITION)
        lua_pushinteger(m->meter.L, (lua_Integer)(text - m->src) + 1);
    else
        lua_pushlstring(m->meter.L, text, (size_t)len);
}

/* Pushes all captures, or the whole match 's'..'e' if there are none and 's' is not NULL. */
static int push_captures(Matcher *m, const char *s, const char *e) {
    int n = (m->level == 0 && s != NULL) ? 1 : m->level;
    int i;

    luaL_checkstack(m->meter.L, n, "too many captures");
    for (i = 0; i < n; i++)
        push_capture(m, i, s, e);
    return n;
}

/* ---- find and match ---- */

/* 1-based start position from a possibly negative 'pos', as in stock Lua. */
static size_t start_index(lua_Integer pos, size_t len) {
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return (size_t)((lua_Integer)len + pos) + 1;
}

static int has_specials(const char *p, size_t lp) {
    size_t i;

    for (i = 0; i < lp; i++)
        if (p[i] != '\0' && strchr(SPECIALS, p[i]) != NULL)
            return 1;
    return 0;
}

/* First occurrence of 'p' in 's' (no pattern items). */
static const char *search_plain(Meter *mt, const char *s, size_t ls, const char *p, size_t lp) {
    const char *cur = s, *last;

    if (lp == 0)
        return s;
    if (lp > ls)
        return NULL;
    last = s + (ls - lp); /* the last place the needle fits */
    while (cur <= last) {
        const char *hit = memchr(cur, *p, (size_t)(last - cur) + 1);
        if (hit == NULL) {
            tick_bulk(mt, (size_t)(last - cur) + 1);
            return NULL;
        }
        tick_bulk(mt, (size_t)(hit - cur) + lp);
        if (memcmp(hit + 1, p + 1, lp - 1) == 0)
            return hit;
        cur = hit + 1;
    }
    return NULL;
}

static int find_plain(lua_State *L, Budget *b, const char *s, size_t ls, size_t init, const char *p,
                      size_t lp) {
    Meter mt;
    const char *hit;

    meter_load(&mt, L, b);
    hit = search_plain(&mt, s + init, ls - init, p, lp);
    meter_save(&mt);
    if (hit == NULL) {
        luaL_pushfail(L);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
    lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)lp);
    return 2;
}

static int find_pattern(lua_State *L, Budget *b, const char *s, size_t ls, size_t init,
                        const char *p, size_t lp, int find) {
    Matcher m;
    const char *s1 = s + init;
    int anchored = (lp > 0 && *p == '^');

    if (anchored) {
        p++;
        lp--;
    }
    matcher_init(&m, L, b, s, ls, p, lp);
    do {
        const char *e;
        matcher_reset(&m);
        e = do_match(&m, s1, p);
        if (e != NULL) {
            meter_save(&m.meter);
            if (!find)
                return push_captures(&m, s1, e);
            lua_pushinteger(L, (lua_Integer)(s1 - s) + 1);
            lua_pushinteger(L, (lua_Integer)(e - s));
            return push_captures(&m, NULL, NULL) + 2;
        }
    } while (s1++ < m.src_end && !anchored);
    meter_save(&m.meter);
    luaL_pushfail(L);
    return 1;
}

static int find_aux(lua_State *L, int find) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    Budget *b = lua_touserdata(L, lua_upvalueindex(1));

    if (init > ls) { /* starts after the end: no match, not even an empty one */
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp)))
        return find_plain(L, b, s, ls, init, p, lp);
    return find_pattern(L, b, s, ls, init, p, lp, find);
}

static int wk_find(lua_State *L) {
    return find_aux(L, 1);
}

static int wk_match(lua_State *L) {
    return find_aux(L, 0);
}

/* ---- gmatch ---- */

/* The iterator's state; the subject and pattern it points into are upvalues of the iterator. */
typedef struct Gmatch {
    const char *next; /* where the next search starts */
    const char *last; /* end of the last match: an empty match there is skipped */
    const char *pat;
    Matcher m;
} Gmatch;

/* Upvalues: subject, pattern, Gmatch, budget. A leading '^' is a literal here, as in stock. */
static int gmatch_next(lua_State *L) {
    Gmatch *g = lua_touserdata(L, lua_upvalueindex(3));
    const char *src;

    meter_load(&g->m.meter, L, g->m.meter.budget); /* the iterator may run in another thread */
    for (src = g->next; src <= g->m.src_end; src++) {
        const char *e;
        matcher_reset(&g->m);
        e = do_match(&g->m, src, g->pat);
        if (e != NULL && e != g->last) {
            g->next = g->last = e;
            meter_save(&g->m.meter);
            return push_captures(&g->m, src, e);
        }
    }
    g->next = src; /* stay exhausted */
    meter_save(&g->m.meter);
    return 0;
}

static int wk_gmatch(lua_State *L) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    Budget *b = lua_touserdata(L, lua_upvalueindex(1));
    Gmatch *g;

    lua_settop(L, 2); /* the iterator keeps subject and pattern alive */
    g = lua_newuserdatauv(L, sizeof *g, 0);
    if (init > ls)
        init = ls + 1; /* past the end, without overflowing 's + init' */
    matcher_init(&g->m, L, b, s, ls, p, lp);
    g->next = s + init;
    g->last = NULL;
    g->pat = p;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, gmatch_next, 4);
    return 1;
}

/* ---- gsub ---- */

/* Appends capture 'i' of the match 's'..'e' to 'b'. */
static void add_capture(Matcher *m, luaL_Buffer *b, int i, const char *s, const char *e) {
    const char *text;
    ptrdiff_t len = capture_span(m, i, s, e, &text);

    if (len == CAP_POSITION) {
        lua_pushinteger(m->meter.L, (lua_Integer)(text - m->src) + 1);
        luaL_addvalue(b);
    } else {
        luaL_addlstring(b, text, (size_t)len);
    }
}

/* Appends the replacement string (argument 3) for the match 's'..'e', expanding %0-%9 and %%. */
static void add_template(Matcher *m, luaL_Buffer *b, const char *s, const char *e) {
    size_t len;
    const char *t = lua_tolstring(m->meter.L, 3, &len);
    const char *end = t + len;
    const char *esc;

    while ((esc = memchr(t, ESC, (size_t)(end - t))) != NULL) {
        int c = (esc + 1 < end) ? uchar(esc[1]) : '\0';
        luaL_addlstring(b, t, (size_t)(esc - t));
        if (c == ESC)
            luaL_addchar(b, ESC);
        else if (c == '0')
            luaL_addlstring(b, s, (size_t)(e - s));
        else if (c >= '1' && c <= '9')
            add_capture(m, b, c - '1', s, e);
        else
            luaL_error(m->meter.L, "invalid use of '%c' in replacement string", ESC);
        t = esc + 2;
    }
    luaL_addlstring(b, t, (size_t)(end - t));
}

/* Appends the replacement for the match 's'..'e' given replacement type 'tr'. Returns whether the
   text changed (a false or nil from a table or function keeps the match). */
static int add_replacement(Matcher *m, luaL_Buffer *b, const char *s, const char *e, int tr) {
    lua_State *L = m->meter.L;

    if (tr != LUA_TFUNCTION && tr != LUA_TTABLE) {
        add_template(m, b, s, e);
        return 1;
    }
    meter_save(&m->meter); /* Lua code may run and call us again */
    if (tr == LUA_TFUNCTION) {
        int n;
        lua_pushvalue(L, 3);
        n = push_captures(m, s, e);
        lua_call(L, n, 1);
    } else {
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    }
    meter_load(&m->meter, L, m->meter.budget);
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

/* Text between matches is copied a run at a time, when the next match or the end comes. */
static int wk_gsub(lua_State *L) {
    size_t ls, lp;
    const char *src = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int tr = lua_type(L, 3);
    lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    Budget *bud = lua_touserdata(L, lua_upvalueindex(1));
    const char *last = NULL;  /* end of the last match */
    const char *copied = src; /* subject text before this is in 'b' */
    int anchored = (lp > 0 && *p == '^');
    int changed = 0;
    lua_Integer n = 0;
    Matcher m;
    luaL_Buffer b;

    luaL_argexpected(
        L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
        "string/function/table");
    luaL_buffinit(L, &b);
    if (anchored) {
        p++;
        lp--;
    }
    matcher_init(&m, L, bud, src, ls, p, lp);
    while (n < max_n) {
        const char *e;
        matcher_reset(&m);
        e = do_match(&m, src, p);
        if (e != NULL && e != last) { /* an empty match right after a match does not count */
            n++;
            luaL_addlstring(&b, copied, (size_t)(src - copied));
            changed |= add_replacement(&m, &b, src, e, tr);
            src = last = copied = e;
        } else if (src < m.src_end) {
            src++;
        } else {
            break;
        }
        if (anchored)
            break;
    }
    meter_save(&m.meter);
    if (changed) {
        luaL_addlstring(&b, copied, (size_t)(m.src_end - copied));
        luaL_pushresult(&b);
    } else {
        lua_pushvalue(L, 1); /* the subject itself, as stock does */
    }
    lua_pushinteger(L, n);
    return 2;
}

/* ---- install ---- */

void wk_pattern_install(lua_State *L, int libidx, wk_charge_fn charge, void *ud) {
    static const luaL_Reg fns[] = {
        {"find", wk_find}, {"match", wk_match}, {"gmatch", wk_gmatch},
        {"gsub", wk_gsub}, {NULL, NULL},
    };
    Budget *b;

    libidx = lua_absindex(L, libidx);
    lua_pushvalue(L, libidx);
    b = lua_newuserdatauv(L, sizeof *b, 0);
    b->charge = charge;
    b->ud = ud;
    b->pending = 0;
    luaL_setfuncs(L, fns, 1);
    lua_pop(L, 1);
}
