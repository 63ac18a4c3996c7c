/* backtest/bt_report.c -- the backtest report (inquest.backtest/v1, docs/backtest.md) kept on
 * disk (bt_report_save), and what its renderings share: reading a report in which any member may
 * be missing, text made safe to show, display widths (bt_report_internal.h). The renderings are
 * bt_report_text.c (terminal), bt_report_md.c (review comment) and bt_report_junit.c (CI);
 * bt_run.c builds the report they read.
 *
 * Reports come from other versions and from files people edit, so nothing here trusts a member:
 * a missing or oddly typed one reads as absent, never as a crash. */
#define _POSIX_C_SOURCE 200809L /* fchmod, fsync, mkstemp */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt.h"
#include "bt_report_internal.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */
#define ELLIPSIS    "\xE2\x80\xA6" /* U+2026 */

/* ---- A growable string ---------------------------------------------------------------------- */

void bt__put(bt__buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = rt_xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void bt__puts(bt__buf *b, const char *s) {
    bt__put(b, s, strlen(s));
}

void bt__printf(bt__buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    bt__put(b, "", 0); /* room for the terminating NUL even when 'b' is empty */
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->data = rt_xrealloc(b->data, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void bt__truncate(bt__buf *b, size_t len) {
    if (b->data && len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

const char *bt__text(const bt__buf *b) {
    return b->data ? b->data : "";
}

void bt__buf_free(bt__buf *b) {
    free(b->data);
    *b = (bt__buf){0};
}

char *bt__sfmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t size = n > 0 ? (size_t)n + 1 : 1;
    char *s = rt_xmalloc(size);
    s[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(s, size, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- Reading the report --------------------------------------------------------------------- */

const char *bt__str(const json_t *o, const char *key) {
    return json_string_value(json_object_get(o, key));
}

bool bt__num(const json_t *o, const char *key, double *v) {
    const json_t *n = json_object_get(o, key);
    *v = json_is_number(n) ? json_number_value(n) : 0;
    return json_is_number(n) && isfinite(*v);
}

const json_t *bt__obj(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_object(v) ? v : NULL;
}

const json_t *bt__list(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_array(v) ? v : NULL;
}

char *bt__show(const json_t *v) {
    if (!v || json_is_null(v))
        return rt_xstrdup("");
    if (json_is_string(v))
        return rt_xstrdup(json_string_value(v));
    char *s = rt_json_canonical(v);
    return s ? s : rt_xstrdup("?");
}

static const char *const outcome_names[] = {"pass", "fail", "stale", "error", "?"};
static const char *const change_names[] = {"broken", "fixed", "changed", "new", "unchanged", ""};

bt__outcome bt__outcome_of(const json_t *kase) {
    const char *s = bt__str(kase, "outcome");
    for (int i = 0; s && i < BT__NO_OUTCOME; i++)
        if (strcmp(s, outcome_names[i]) == 0)
            return (bt__outcome)i;
    return BT__NO_OUTCOME;
}

bt__change bt__change_of(const json_t *kase) {
    const char *s = bt__str(kase, "change");
    for (int i = 0; s && i < BT__NO_CHANGE; i++)
        if (strcmp(s, change_names[i]) == 0)
            return (bt__change)i;
    return BT__NO_CHANGE;
}

const char *bt__outcome_name(bt__outcome o) {
    return outcome_names[o <= BT__NO_OUTCOME ? o : BT__NO_OUTCOME];
}

const char *bt__change_name(bt__change c) {
    return change_names[c <= BT__NO_CHANGE ? c : BT__NO_CHANGE];
}

const char *bt__case_name(const json_t *kase) {
    const char *path = bt__str(kase, "case"), *p, *name;
    if (!path || !*path)
        return "(unnamed case)";
    name = path;
    for (p = strstr(path, ".cases/"); p; p = strstr(p + 1, ".cases/"))
        name = p + strlen(".cases/");
    if (name == path && strrchr(path, '/'))
        name = strrchr(path, '/') + 1;
    return *name ? name : path;
}

const char *bt__analyzer(const json_t *kase) {
    const char *a = bt__str(kase, "analyzer");
    return a && *a ? a : "(unknown analyzer)";
}

const char *bt__expected_tag(const json_t *kase) {
    const json_t *rc = json_object_get(bt__obj(kase, "expect"), "root_cause");
    if (!rc)
        return NULL;
    return json_is_string(rc) ? json_string_value(rc) : "(none)";
}

const char *bt__got_tag(const json_t *side) {
    const char *rc = bt__str(side, "root_cause");
    return rc ? rc : "(none)";
}

char *bt__error_text(const json_t *kase) {
    const json_t *e = json_object_get(kase, "error");
    if (!e || json_is_null(e))
        return NULL;
    if (json_is_object(e) && bt__str(e, "message"))
        return rt_xstrdup(bt__str(e, "message"));
    return bt__show(e);
}

char *bt__request_text(const json_t *req, size_t body_cap) {
    if (!json_is_object(req))
        return NULL;
    const char *connector = bt__str(req, "connector"), *method = bt__str(req, "method");
    const char *path = bt__str(req, "path");
    const json_t *body = json_object_get(req, "body");
    bt__buf b = {0};
    bt__printf(&b, "%s %s %s", connector ? connector : "?", method ? method : "?",
               path ? path : "?");
    if (body && !json_is_null(body) && !(json_is_string(body) && !*json_string_value(body))) {
        char *text = bt__show(body);
        size_t n = strlen(text), keep = rt_utf8_cut(text, n, body_cap);
        bt__puts(&b, "\n");
        bt__put(&b, text, keep);
        if (keep < n)
            bt__printf(&b, "%s (%zu more bytes)", ELLIPSIS, n - keep);
        free(text);
    }
    return b.data;
}

static bool same_finding(const json_t *x, const json_t *y) {
    const char *tx = bt__str(x, "title"), *ty = bt__str(y, "title");
    const char *rx = bt__str(x, "root_cause"), *ry = bt__str(y, "root_cause");
    return (tx && ty ? strcmp(tx, ty) == 0 : tx == ty) &&
           (rx && ry ? strcmp(rx, ry) == 0 : rx == ry);
}

json_t *bt__findings_only_in(const json_t *a, const json_t *b) {
    json_t *out = json_array();
    const json_t *fa, *fb;
    size_t i, j;
    json_array_foreach(bt__list(a, "findings"), i, fa) {
        bool found = false;
        json_array_foreach(bt__list(b, "findings"), j, fb) {
            if ((found = same_finding(fa, fb)))
                break;
        }
        if (found)
            continue;
        const char *title = bt__str(fa, "title"), *rc = bt__str(fa, "root_cause");
        char *s = bt__sfmt("%s (%s)", title ? title : "(untitled)", rc ? rc : "no root cause");
        json_array_append_new(out, rt_json_text(s, strlen(s)));
        free(s);
    }
    return out;
}

void bt__tally_cases(const json_t *report, bt__tally *t) {
    const json_t *kase;
    size_t i;
    *t = (bt__tally){0};
    json_array_foreach(bt__list(report, "cases"), i, kase) {
        t->cases++;
        t->outcome[bt__outcome_of(kase)]++;
        t->change[bt__change_of(kase)]++;
        bt__outcome o = bt__outcome_of(kase);
        bt__change c = bt__change_of(kase);
        t->new_failing += c == BT__NEW && o != BT__PASS;
        /* as bt_exit_code judges: nothing to compare with when the base side is in error */
        const char *on_base = bt__str(bt__obj(kase, "base"), "outcome");
        if (c == BT__BROKEN || c == BT__NEW || o == BT__PASS || !on_base ||
            strcmp(on_base, "error") != 0)
            continue;
        t->broken_case += o == BT__ERROR;
        t->unjudged += o != BT__ERROR;
    }
}

size_t bt__groups(const json_t *report, bt__group **groups) {
    const json_t *cases = bt__list(report, "cases"), *kase;
    size_t n = 0, i, g;
    bt__group *out = rt_xcalloc(json_array_size(cases) + 1, sizeof *out);
    json_array_foreach(cases, i, kase) {
        const char *analyzer = bt__analyzer(kase);
        for (g = 0; g < n && strcmp(out[g].analyzer, analyzer) != 0; g++)
            ;
        if (g == n) {
            out[n].analyzer = analyzer;
            out[n++].cases = rt_xcalloc(json_array_size(cases), sizeof(json_t *));
        }
        out[g].cases[out[g].n++] = kase;
    }
    *groups = out;
    return n;
}

void bt__groups_free(bt__group *groups, size_t n) {
    for (size_t i = 0; groups && i < n; i++)
        free(groups[i].cases);
    free(groups);
}

/* "(none)" sorts after every tag: it is the row and column of "no root cause". */
static int tag_order(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int nx = strcmp(x, "(none)") == 0, ny = strcmp(y, "(none)") == 0;
    return nx != ny ? nx - ny : strcmp(x, y);
}

size_t bt__confusion_tags(const json_t *confusion, const char ***tags) {
    const char *expected, *got, **out;
    const json_t *row, *count;
    size_t n = 0, cap = 0, unique = 0;
    json_object_foreach((json_t *)confusion, expected, row) cap += 1 + json_object_size(row);
    out = rt_xcalloc(cap + 1, sizeof *out);
    json_object_foreach((json_t *)confusion, expected, row) {
        out[n++] = expected;
        json_object_foreach((json_t *)row, got, count) out[n++] = got;
    }
    /* Sorted, equal tags are neighbours: keep the first of each run. */
    qsort(out, n, sizeof *out, tag_order);
    for (size_t i = 0; i < n; i++)
        if (unique == 0 || strcmp(out[unique - 1], out[i]) != 0)
            out[unique++] = out[i];
    *tags = out;
    return unique;
}

double bt__confusion_at(const json_t *confusion, const char *expected, const char *got) {
    double v;
    return bt__num(bt__obj(confusion, expected), got, &v) ? v : 0;
}

static int pair_order(const void *a, const void *b) {
    const bt__pair *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    int c = tag_order(&x->expected, &y->expected);
    return c ? c : tag_order(&x->got, &y->got);
}

size_t bt__confusion_pairs(const json_t *confusion, bt__pair **pairs) {
    const char *expected, *got;
    const json_t *row, *count;
    size_t n = 0, cap = 0;
    json_object_foreach((json_t *)confusion, expected, row) cap += json_object_size(row);
    bt__pair *out = rt_xcalloc(cap + 1, sizeof *out);
    json_object_foreach((json_t *)confusion, expected, row) {
        json_object_foreach((json_t *)row, got, count) {
            double v = json_number_value(count);
            if (json_is_number(count) && isfinite(v) && v != 0)
                out[n++] = (bt__pair){expected, got, v};
        }
    }
    qsort(out, n, sizeof *out, pair_order);
    *pairs = out;
    return n;
}

/* ---- The summary's lines ------------------------------------------------------------------- */

const bt__line bt__lines[] = {
    {"cases", NULL, "cases", BT__COUNT, 0},
    {"pass", NULL, "pass", BT__COUNT, +1},
    {"fail", NULL, "fail", BT__COUNT, -1},
    {"stale", NULL, "stale", BT__COUNT, -1},
    {"error", NULL, "error", BT__COUNT, -1},
    {"budget hits", NULL, "budget_hits", BT__COUNT, -1},
    {"precision", "root_cause", "precision", BT__RATIO, +1},
    {"recall", "root_cause", "recall", BT__RATIO, +1},
    {"F1", "root_cause", "f1", BT__RATIO, +1},
    {"runtime p50", "runtime_ms", "p50", BT__MS, -1},
    {"runtime p95", "runtime_ms", "p95", BT__MS, -1},
    {"calls per case", "connector_calls", "mean", BT__COUNT, -1},
    {"calls, most", "connector_calls", "max", BT__COUNT, -1},
};
const size_t bt__n_lines = sizeof bt__lines / sizeof *bt__lines;

static bool line_value(const json_t *summary, const bt__line *l, double *v) {
    return bt__num(l->group ? bt__obj(summary, l->group) : summary, l->key, v);
}

/* The head side's value; counts of cases and outcomes from the cases when the summary lacks
 * them, as a report cut by hand may. */
static bool head_value(const json_t *summary, const bt__tally *t, const bt__line *l, double *v) {
    if (line_value(summary, l, v))
        return true;
    if (l->group)
        return false;
    if (strcmp(l->key, "cases") == 0)
        return *v = (double)t->cases, true;
    for (int o = 0; o < BT__NO_OUTCOME; o++)
        if (strcmp(l->key, outcome_names[o]) == 0)
            return *v = (double)t->outcome[o], true;
    return false;
}

static char *value_text(bt__kind how, double v) {
    return how == BT__RATIO ? bt__ratio_text(v)
           : how == BT__MS  ? bt__ms_text(v)
                            : bt__count_text(v);
}

/* The difference 'd' ("+1", "-0.05", "+0.3 ms"); "" when too small to show. */
static char *delta_text(bt__kind how, double d) {
    if (fabs(d) < (how == BT__RATIO ? 0.005 : how == BT__MS ? 0.05 : 1e-9))
        return rt_xstrdup("");
    char *abs = value_text(how, fabs(d)), *s = bt__sfmt("%s%s", d > 0 ? "+" : "-", abs);
    free(abs);
    return s;
}

void bt__line_text(const json_t *summary, const bt__tally *tally, const bt__line *l,
                   bt__line_texts *x) {
    double h, b;
    bool has_h = head_value(summary, tally, l, &h),
         has_b = line_value(bt__obj(summary, "base"), l, &b);
    x->head = has_h ? value_text(l->how, h) : rt_xstrdup("–");
    x->base = has_b ? value_text(l->how, b) : rt_xstrdup("–");
    x->delta = has_h && has_b ? delta_text(l->how, h - b) : rt_xstrdup("");
    x->better = *x->delta ? (h > b ? 1 : -1) * l->better : 0;
}

void bt__line_texts_free(bt__line_texts *x) {
    free(x->head);
    free(x->base);
    free(x->delta);
}

char *bt__scores_text(const json_t *summary) {
    const json_t *rc = bt__obj(summary, "root_cause");
    double tp, fp, fn;
    if (!bt__num(rc, "tp", &tp) || !bt__num(rc, "fp", &fp) || !bt__num(rc, "fn", &fn))
        return NULL;
    return bt__sfmt("tp %.0f, fp %.0f, fn %.0f", tp, fp, fn);
}

/* ---- Text ----------------------------------------------------------------------------------- */

size_t bt__utf8_next(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *p = (const unsigned char *)s;
    /* The lead byte says how long the character would be; rt_utf8_valid says whether it is one
     * (overlong forms, surrogates and stray continuation bytes are not). */
    size_t len = p[0] < 0x80 ? 1 : p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : 2;
    if (len > n || !rt_utf8_valid(s, len)) {
        *cp = 0xFFFD;
        return 1;
    }
    if (len == 1)
        *cp = p[0];
    else if (len == 2)
        *cp = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    else if (len == 3)
        *cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    else
        *cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
              (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    return len;
}

/* Characters that can make a screen or a comment show something else than the text holds: the
 * controls, and the bidirectional marks and overrides of "Trojan Source". */
static bool hidden_char(uint32_t cp) {
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0x061C || cp == 0x200E ||
           cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

char *bt__clean(const char *s, size_t cap, bool lines) {
    size_t n = s ? strlen(s) : 0, keep = s ? rt_utf8_cut(s, n, cap) : 0;
    bt__buf b = {0};
    bt__put(&b, "", 0);
    for (size_t i = 0; i < keep;) {
        uint32_t cp;
        size_t len = bt__utf8_next(s + i, keep - i, &cp);
        if (cp == '\r' && lines)
            ; /* a carriage return would overwrite the line on a terminal */
        else if (cp == '\n' || cp == '\t' || cp == '\r')
            bt__put(&b, lines && cp != '\r' ? s + i : " ", 1);
        else if (hidden_char(cp) || (cp == 0xFFFD && len == 1))
            bt__puts(&b, REPLACEMENT);
        else
            bt__put(&b, s + i, len);
        i += len;
    }
    if (keep < n)
        bt__puts(&b, ELLIPSIS);
    return b.data;
}

char *bt_text_clean(const char *s, size_t cap) {
    return bt__clean(s, cap, false);
}

typedef struct range {
    uint32_t lo, hi;
} range;

/* Combining marks and zero-width characters: no column of their own. */
static const range zero_width[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},   {0x064B, 0x065F},
    {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},   {0x200B, 0x200F},
    {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xE0100, 0xE01EF},
};

/* East Asian Wide and Fullwidth characters and emoji, as terminals draw them: two columns. A
 * short table rather than all of Unicode: a rare misjudged character shifts one row, no more. */
static const range double_width[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F004, 0x1F004},
    {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F2FF},
    {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB}, {0x1F900, 0x1F9FF},
    {0x1FA70, 0x1FAFF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

static bool in_ranges(uint32_t cp, const range *r, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi)
            return true;
    return false;
}

static size_t char_width(uint32_t cp) {
    if (cp < 0x300) /* Latin, the common case: neither table starts below U+0300 */
        return 1;
    if (in_ranges(cp, zero_width, sizeof zero_width / sizeof *zero_width))
        return 0;
    return in_ranges(cp, double_width, sizeof double_width / sizeof *double_width) ? 2 : 1;
}

size_t bt__width(const char *s) {
    size_t n = s ? strlen(s) : 0, width = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += bt__utf8_next(s + i, n - i, &cp);
        width += char_width(cp);
    }
    return width;
}

static size_t prefix_width(const char *s, size_t width, size_t *used) {
    size_t n = s ? strlen(s) : 0, i = 0;
    *used = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = bt__utf8_next(s + i, n - i, &cp), w = char_width(cp);
        if (*used + w > width)
            break;
        *used += w, i += len;
    }
    return i;
}

char *bt__fit(const char *s, size_t width) {
    size_t used;
    if (bt__width(s) <= width)
        return rt_xstrdup(s ? s : "");
    if (width == 0)
        return rt_xstrdup("");
    /* Keep what fits in one column less, for the ellipsis. */
    size_t cut = prefix_width(s, width - 1, &used);
    return bt__sfmt("%.*s%s", (int)cut, s, ELLIPSIS);
}

size_t bt__prefix(const char *s, size_t width) {
    size_t used, n = prefix_width(s, width, &used);
    uint32_t cp;
    return n || !s || !*s ? n : bt__utf8_next(s, strlen(s), &cp);
}

char *bt__short_commit(const char *commit) {
    return commit ? bt__sfmt("%.*s", rt_utf8_fit(commit, 12), commit) : NULL;
}

char *bt__ms_text(double ms) {
    if (!isfinite(ms))
        return rt_xstrdup("–");
    if (ms < 10)
        return bt__sfmt("%.1f ms", ms);
    if (ms < 1000)
        return bt__sfmt("%.0f ms", ms);
    return bt__sfmt("%.2f s", ms / 1000);
}

char *bt__count_text(double v) {
    if (!isfinite(v))
        return rt_xstrdup("–");
    return v == floor(v) && fabs(v) < 1e15 ? bt__sfmt("%.0f", v) : bt__sfmt("%.1f", v);
}

char *bt__ratio_text(double v) {
    return isfinite(v) ? bt__sfmt("%.2f", v) : rt_xstrdup("–");
}

/* ---- Keeping the report --------------------------------------------------------------------- */

/* Makes folder 'dir' and its parents, as mkdir -p. */
static int make_dirs(const char *dir, char *why) {
    char *path = rt_xstrdup(dir);
    struct stat st;
    int rc = RT_OK;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            snprintf(why, 256, "cannot create folder %s: %s", path, strerror(errno));
            rc = RT_EIO;
        }
        *p = '/';
        if (rc != RT_OK)
            goto out;
    }
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        snprintf(why, 256, "cannot create folder %s: %s", path, strerror(errno));
        rc = RT_EIO;
    } else if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, 256, "cannot keep the report in %s: it is not a folder", path);
        rc = RT_EIO;
    }
out:
    free(path);
    return rc;
}

/* The file name of a report: its start time without separators ("20261122T071500Z"; now when it
 * has none) and its id with anything that is no letter, digit, '-', '_' or '.' made '_', so that
 * names sort by time and an id cannot leave the folder. */
static char *file_name(const json_t *report) {
    const char *started = bt__str(report, "started_at"), *id = bt__str(report, "id");
    char stamp[40], now[40], name[160];
    size_t s = 0, o = 0;
    if (!started || !*started) {
        rt_time_format(floor(rt_wallclock()), now);
        started = now;
    }
    for (; *started && s < 32; started++)
        if ((*started >= '0' && *started <= '9') || (*started >= 'A' && *started <= 'Z') ||
            (*started >= 'a' && *started <= 'z') || *started == '.')
            stamp[s++] = *started;
    stamp[s] = '\0';
    for (id = id && *id ? id : "backtest"; *id && o < 96; id++) {
        char c = *id;
        bool keep = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    c == '-' || c == '_' || (c == '.' && o > 0);
        name[o++] = keep ? c : '_';
    }
    name[o] = '\0';
    return bt__sfmt("%s-%s.json", s ? stamp : "unknown", name);
}

/* Writes 'text' to 'path' through a hidden temporary file in the same folder, renamed over it:
 * the console lists a whole report or none, never half of one. */
static int write_atomic(const char *path, const char *dir, const char *name, const char *text,
                        char *why) {
    char *tmp = bt__sfmt("%s/.%s.XXXXXX", dir, name);
    int rc = RT_EIO, fd = mkstemp(tmp);
    FILE *f = NULL;
    if (fd < 0) {
        snprintf(why, 256, "cannot create a file in %s: %s", dir, strerror(errno));
        free(tmp);
        return RT_EIO;
    }
    if (fchmod(fd, 0644) < 0 || !(f = fdopen(fd, "w"))) {
        snprintf(why, 256, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        goto out;
    }
    bool wrote =
        fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno, closed = fclose(f);
    if (!wrote || closed != 0) {
        snprintf(why, 256, "cannot write %s: %s", tmp, strerror(wrote ? errno : err));
        goto out;
    }
    if (rename(tmp, path) < 0) {
        snprintf(why, 256, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto out;
    }
    rc = RT_OK;
out:
    if (rc != RT_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

int bt_report_save(const json_t *report, const char *dir, char *why) {
    char *name = NULL, *path = NULL, *text = NULL;
    int rc;
    if (!json_is_object(report)) {
        snprintf(why, 256, "cannot keep the backtest report: it is no JSON object");
        return RT_EINPUT;
    }
    if (!dir || !*dir) {
        snprintf(why, 256, "cannot keep the backtest report: no folder given");
        return RT_EUSAGE;
    }
    if ((rc = make_dirs(dir, why)) != RT_OK)
        return rc;
    name = file_name(report);
    path = bt__sfmt("%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    if (!(text = rt_json_canonical(report))) {
        snprintf(why, 256, "cannot keep the backtest report in %s: out of memory", path);
        rc = RT_ENOMEM;
        goto out;
    }
    rc = write_atomic(path, dir, name, text, why);
out:
    free(text);
    free(path);
    free(name);
    return rc;
}
