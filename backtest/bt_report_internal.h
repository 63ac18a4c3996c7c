/* backtest/bt_report_internal.h -- what the report's renderings share (bt_report.c): reading an
 * inquest.backtest/v1 report (docs/backtest.md) in which any member may be absent, null or of
 * another type; text made safe for a terminal, a review comment or XML; display widths; and a
 * growable buffer. The renderings themselves are bt_report_text.c, bt_report_md.c and
 * bt_report_junit.c. Nothing outside backtest/ includes it, apart from its unit test. */
#ifndef INQUEST_BT_REPORT_INTERNAL_H
#define INQUEST_BT_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- A growable string (bookkeeping: aborts when memory runs out) ------------------------- */

typedef struct bt__buf {
    char *data; /* NUL-terminated once anything was put; NULL before */
    size_t len, cap;
} bt__buf;

void bt__put(bt__buf *b, const char *s, size_t n);
void bt__puts(bt__buf *b, const char *s);
void bt__printf(bt__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Cuts 'b' back to 'len' bytes (a row that did not fit). */
void bt__truncate(bt__buf *b, size_t len);
/* The text of 'b' ("" when empty): valid until the next put. */
const char *bt__text(const bt__buf *b);
void bt__buf_free(bt__buf *b);
/* A malloc'd string made by printf. */
char *bt__sfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Reading the report --------------------------------------------------------------------- */

/* The string member 'key' of 'o', or NULL when 'o' is no object or the member no string. */
const char *bt__str(const json_t *o, const char *key);
/* The number member 'key' of 'o' in '*v'; false (and '*v' 0) when there is none. */
bool bt__num(const json_t *o, const char *key, double *v);
/* The object or array member 'key' of 'o', or NULL. */
const json_t *bt__obj(const json_t *o, const char *key);
const json_t *bt__list(const json_t *o, const char *key);
/* 'v' as people read it (malloc'd): a string as it is, absent or null as "", anything else as
 * canonical JSON. */
char *bt__show(const json_t *v);

/* What a case's outcome and change are; the last of each stands for anything else. */
typedef enum bt__outcome { BT__PASS, BT__FAIL, BT__STALE, BT__ERROR, BT__NO_OUTCOME } bt__outcome;
typedef enum bt__change {
    BT__BROKEN,
    BT__FIXED,
    BT__CHANGED,
    BT__NEW,
    BT__UNCHANGED,
    BT__NO_CHANGE /* no base, or a kind this version does not know */
} bt__change;

bt__outcome bt__outcome_of(const json_t *kase);
bt__change bt__change_of(const json_t *kase);
/* The names of outcomes and changes as the report spells them ("pass", "broken"); "?" and ""
 * for the last of each. */
const char *bt__outcome_name(bt__outcome o);
const char *bt__change_name(bt__change c);

/* The case's name for people: its folder below "<analyzer>.cases/", else its last path
 * component, else "(unnamed case)". Points into 'kase'. */
const char *bt__case_name(const json_t *kase);
/* The case's analyzer, or "(unknown analyzer)". */
const char *bt__analyzer(const json_t *kase);
/* The expected top root cause: the tag, "(none)" for null, NULL when the case expects none in
 * particular (no expect.root_cause member). */
const char *bt__expected_tag(const json_t *kase);
/* The root cause a case (or a case's base side) got: the tag, or "(none)". */
const char *bt__got_tag(const json_t *side);
/* The case's error as text (malloc'd), or NULL when it has none: a string as it is, an object's
 * "message", anything else as JSON. */
char *bt__error_text(const json_t *kase);
/* The stale request 'req' ({connector, method, path, body}) as text (malloc'd): "connector
 * METHOD path" and, when there is a body, a newline and the body (a string as it is, JSON as
 * canonical JSON) cut to about 'body_cap' bytes. NULL when 'req' is no object. */
char *bt__request_text(const json_t *req, size_t body_cap);
/* The findings of 'a' that 'b' lacks (equal root cause and title), as "title (root_cause)" in a
 * new array of strings. 'a' and 'b' are case sides (a case or its base member). */
json_t *bt__findings_only_in(const json_t *a, const json_t *b);

/* Counts over the cases array (not the summary, which may be absent). */
typedef struct bt__tally {
    size_t cases;
    size_t outcome[BT__NO_OUTCOME + 1];
    size_t change[BT__NO_CHANGE + 1];
    size_t new_failing; /* new on head and not passing: with a base, these fail the job too */
    /* With a base, cases in error there (nothing to compare with) that do not pass on head,
     * which fail the job too: in error on head as well (the case cannot run: its case.json or
     * recording cannot be read), or failing or stale on head. */
    size_t broken_case, unjudged;
} bt__tally;

void bt__tally_cases(const json_t *report, bt__tally *t);

/* The cases grouped by analyzer, groups in order of first appearance, cases in report order. */
typedef struct bt__group {
    const char *analyzer;
    const json_t **cases; /* borrowed from the report */
    size_t n;
} bt__group;

size_t bt__groups(const json_t *report, bt__group **groups);
void bt__groups_free(bt__group *groups, size_t n);

/* The tags of a confusion object (expected and got alike), sorted, "(none)" last. Returns their
 * number; '*tags' (malloc'd array of pointers into 'confusion') is freed by the caller. */
size_t bt__confusion_tags(const json_t *confusion, const char ***tags);
/* confusion[expected][got], 0 when absent. */
double bt__confusion_at(const json_t *confusion, const char *expected, const char *got);

/* A non-zero cell of a confusion. */
typedef struct bt__pair {
    const char *expected, *got; /* point into the confusion */
    double n;
} bt__pair;

/* The non-zero cells of 'confusion', most cases first, then by tags. Returns their number;
 * '*pairs' (malloc'd) is freed by the caller. */
size_t bt__confusion_pairs(const json_t *confusion, bt__pair **pairs);

/* ---- The summary's lines (head, base and their difference) -------------------------------- */

typedef enum bt__kind { BT__COUNT, BT__RATIO, BT__MS } bt__kind;

/* summary[group][key] (summary[key] without a group) shown as 'how'; 'better' is +1 when more is
 * better, -1 when less is, 0 when neither. */
typedef struct bt__line {
    const char *label, *group, *key;
    bt__kind how;
    int better;
} bt__line;

extern const bt__line bt__lines[];
extern const size_t bt__n_lines;

/* A summary line as text: head, base ("–" when absent), the difference head − base ("" when none
 * or not both known) and 'better': +1 when the difference is an improvement, -1 when worse. */
typedef struct bt__line_texts {
    char *head, *base, *delta;
    int better;
} bt__line_texts;

/* Fills 'x' with line 'l' of 'summary' (its "base" member for the base side); the head side's
 * counts of cases and outcomes come from 'tally' when the summary lacks them. */
void bt__line_text(const json_t *summary, const bt__tally *tally, const bt__line *l,
                   bt__line_texts *x);
void bt__line_texts_free(bt__line_texts *x);
/* "tp 9, fp 1, fn 2" of the root-cause scores of 'summary' (malloc'd), or NULL. */
char *bt__scores_text(const json_t *summary);

/* ---- Text ----------------------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 character at 's' ('n' > 0 bytes left) with its code point
 * in '*cp'; for a byte that starts none, 1 and U+FFFD. */
size_t bt__utf8_next(const char *s, size_t n, uint32_t *cp);

/* A copy of 's' (NULL: "") fit for a person's screen or a review comment, malloc'd: at most
 * 'cap' bytes of it (cut at a character, "…" added when cut), bytes that are no UTF-8 and
 * control characters (C0 but tab and newline, DEL, C1), bidirectional overrides and line
 * separators replaced by U+FFFD; with 'lines' false, tabs and newlines become spaces (a cell),
 * else carriage returns go and tabs and newlines stay (a block). */
char *bt__clean(const char *s, size_t cap, bool lines);
/* The columns a terminal gives the UTF-8 text 's': East Asian wide and emoji characters take
 * two, combining marks none. */
size_t bt__width(const char *s);
/* A copy of 's' at most 'width' columns wide (malloc'd), ending in "…" when it was cut. */
char *bt__fit(const char *s, size_t width);
/* The bytes of the longest prefix of 's' at most 'width' columns wide (at least one character
 * when 's' is not empty, so that a loop over a text always advances). */
size_t bt__prefix(const char *s, size_t width);
/* A commit as people read it: its first 12 bytes, as git abbreviates (malloc'd; NULL for NULL). */
char *bt__short_commit(const char *commit);

/* A runtime in milliseconds as people read it ("4.2 ms", "120 ms", "1.84 s"); malloc'd. */
char *bt__ms_text(double ms);
/* A number of cases or calls ("12"), or a ratio with two decimals ("0.86"); malloc'd. */
char *bt__count_text(double v);
char *bt__ratio_text(double v);

#endif
