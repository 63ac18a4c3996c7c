/* backtest/bt_report_text.c -- the backtest report as a terminal table (bt_report_text): a row
 * per case, grouped by analyzer, with what went wrong indented under the rows that need a look;
 * the summary, base side by side; the confusion of root causes as a small matrix. Fits 80
 * columns (wide characters counted as two); ANSI colour only when the caller asks. Reading the
 * report and making its text safe to print are in bt_report.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt.h"
#include "bt_report_internal.h"

#define WIDTH       80 /* columns the table fits */
#define NOTE        "      "
#define TEXT_CAP    600 /* bytes of a name, reason or error shown */
#define REASONS_MAX 8   /* reasons shown under a row */
#define DIFF_MAX    4   /* findings shown that only one side has */
#define BODY_CAP    480 /* bytes of a stale request's body shown */
#define BODY_LINES  6
#define MATRIX_MAX  12 /* tags in a matrix; more are listed as pairs */
#define PAIRS_MAX   24

#define BOLD   "\033[1m"
#define DIM    "\033[2m"
#define RED    "\033[31m"
#define GREEN  "\033[32m"
#define YELLOW "\033[33m"
#define RESET  "\033[0m"

typedef struct tx {
    FILE *out;
    bool color;
    bool base; /* the report has a base: the change column and the base side */
} tx;

static const char *sgr(const tx *t, const char *code) {
    return t->color ? code : "";
}

/* Writes 'n' spaces. */
static void pad(const tx *t, size_t n) {
    while (n-- > 0)
        fputc(' ', t->out);
}

/* Writes 's' in 'width' columns, cut with an ellipsis or padded, on the right when 'right'. */
static void cell(const tx *t, const char *s, size_t width, bool right, const char *colour) {
    char *fit = bt__fit(s, width);
    size_t w = bt__width(fit);
    if (right)
        pad(t, width - w);
    fprintf(t->out, "%s%s%s", colour && *colour ? colour : "", fit,
            colour && *colour ? sgr(t, RESET) : "");
    if (!right)
        pad(t, width - w);
    free(fit);
}

/* The columns left for a word on a line of 'avail' columns of which 'used' are taken: after a
 * space, unless the line is empty. */
static size_t line_room(size_t used, size_t avail) {
    if (!used)
        return avail;
    return avail > used + 1 ? avail - used - 1 : 0;
}

/* Writes the words of 'text' (a cleaned one-line text) from column strlen('indent') + the width
 * of 'first', wrapped at WIDTH, continuation lines under the first word; a word wider than a whole
 * line is broken where lines end. Stops after 'max_lines' lines (0: no limit) with "…" on a line
 * of its own. Returns the lines written. */
static size_t wrap(const tx *t, const char *indent, const char *first, const char *text,
                   size_t max_lines) {
    size_t start = strlen(indent) + bt__width(first), avail = WIDTH - start, used = 0, lines = 1;
    char *copy = rt_xstrdup(text), *save = NULL;
    fprintf(t->out, "%s%s", indent, first);
    for (char *word = strtok_r(copy, " ", &save); word; word = strtok_r(NULL, " ", &save)) {
        while (*word) {
            size_t w = bt__width(word), room = line_room(used, avail);
            if (w <= room || (w > avail && room >= 2)) {
                size_t n = w <= room ? strlen(word) : bt__prefix(word, room);
                fprintf(t->out, "%s%.*s", used ? " " : "", (int)n, word);
                used = w <= room ? used + (used ? 1 : 0) + w : avail;
                if (!*(word += n))
                    break;
            }
            if (max_lines && lines == max_lines) {
                fputs("\n", t->out);
                pad(t, start);
                fputs("…\n", t->out);
                free(copy);
                return lines + 1;
            }
            fputc('\n', t->out);
            pad(t, start);
            used = 0, lines++;
        }
    }
    fputc('\n', t->out);
    free(copy);
    return lines;
}

/* Like wrap, for text from the report: cleaned first. */
static void wrap_raw(const tx *t, const char *first, const char *raw) {
    char *text = bt__clean(raw, TEXT_CAP, false);
    wrap(t, NOTE, first, text, 0);
    free(text);
}

/* ---- The case table ------------------------------------------------------------------------- */

enum { C_CASE, C_OUTCOME, C_CHANGE, C_ROOT, C_RUNTIME, C_CALLS, NCOLS };

static const char *const col_head[NCOLS] = {"case",           "outcome", "change",
                                            "expected → got", "runtime", "calls"};
static const bool col_right[NCOLS] = {false, false, false, false, true, true};

/* "expected → got"; just the tag when both agree; "(any) → got" when the case expects none in
 * particular. */
static char *root_text(const json_t *kase) {
    const char *expected = bt__expected_tag(kase), *got = bt__got_tag(kase);
    char *e = bt__clean(expected ? expected : "(any)", 120, false), *g = bt__clean(got, 120, false);
    char *s = expected && strcmp(expected, got) == 0 ? rt_xstrdup(g) : bt__sfmt("%s → %s", e, g);
    free(e);
    free(g);
    return s;
}

/* The cells of the row of 'kase' (malloc'd, freed by cells_free). */
static void cells_of(const json_t *kase, char *cells[NCOLS]) {
    const char *outcome = bt__str(kase, "outcome"), *change = bt__str(kase, "change");
    double v;
    cells[C_CASE] = bt__clean(bt__case_name(kase), TEXT_CAP, false);
    cells[C_OUTCOME] = bt__clean(outcome ? outcome : "?", 40, false);
    cells[C_CHANGE] = bt__clean(change ? change : "", 40, false);
    cells[C_ROOT] = root_text(kase);
    cells[C_RUNTIME] = bt__num(kase, "runtime_ms", &v) ? bt__ms_text(v) : rt_xstrdup("–");
    cells[C_CALLS] = bt__num(kase, "connector_calls", &v) ? bt__count_text(v) : rt_xstrdup("–");
}

static void cells_free(char *cells[NCOLS]) {
    for (int i = 0; i < NCOLS; i++)
        free(cells[i]);
}

static bool shown(const tx *t, int col) {
    return col != C_CHANGE || t->base;
}

/* Column widths: as wide as their widest cell, then the case and root-cause columns narrowed,
 * the wider first, until the row fits WIDTH. */
static void col_widths(const tx *t, const json_t *cases, size_t width[NCOLS]) {
    const json_t *kase;
    size_t i, total = 2;
    for (int c = 0; c < NCOLS; c++)
        width[c] = bt__width(col_head[c]);
    json_array_foreach(cases, i, kase) {
        char *cells[NCOLS];
        cells_of(kase, cells);
        for (int c = 0; c < NCOLS; c++) {
            size_t w = bt__width(cells[c]);
            width[c] = w > width[c] ? w : width[c];
        }
        cells_free(cells);
    }
    for (int c = 0; c < NCOLS; c++)
        total += shown(t, c) ? width[c] + (c ? 2 : 0) : 0;
    for (; total > WIDTH && (width[C_CASE] > 12 || width[C_ROOT] > 14); total--) {
        bool root = width[C_ROOT] > 14 && (width[C_ROOT] >= width[C_CASE] || width[C_CASE] <= 12);
        width[root ? C_ROOT : C_CASE]--;
    }
}

static const char *outcome_colour(const tx *t, bt__outcome o) {
    return o == BT__PASS ? sgr(t, GREEN) : o == BT__STALE ? sgr(t, YELLOW) : sgr(t, RED);
}

static const char *change_colour(const tx *t, bt__change c) {
    return c == BT__BROKEN    ? sgr(t, RED)
           : c == BT__FIXED   ? sgr(t, GREEN)
           : c == BT__CHANGED ? sgr(t, YELLOW)
                              : "";
}

static void row(const tx *t, const json_t *kase, const size_t width[NCOLS]) {
    char *cells[NCOLS];
    int last = C_CALLS;
    cells_of(kase, cells);
    fputs("  ", t->out);
    for (int c = 0; c < NCOLS; c++) {
        if (!shown(t, c))
            continue;
        const char *colour = c == C_OUTCOME  ? outcome_colour(t, bt__outcome_of(kase))
                             : c == C_CHANGE ? change_colour(t, bt__change_of(kase))
                                             : "";
        cell(t, cells[c], width[c], col_right[c], colour);
        if (c != last)
            fputs("  ", t->out);
    }
    fputc('\n', t->out);
    cells_free(cells);
}

static void header(const tx *t, const size_t width[NCOLS]) {
    fprintf(t->out, "%s  ", sgr(t, DIM));
    for (int c = 0; c < NCOLS; c++) {
        if (!shown(t, c))
            continue;
        cell(t, col_head[c], width[c], col_right[c], NULL);
        if (c != C_CALLS)
            fputs("  ", t->out);
    }
    fprintf(t->out, "%s\n", sgr(t, RESET));
}

/* ---- What goes under a row ------------------------------------------------------------------ */

static void note_reasons(const tx *t, const json_t *kase) {
    const json_t *reasons = bt__list(kase, "reasons"), *reason;
    size_t i;
    json_array_foreach(reasons, i, reason) {
        if (i == REASONS_MAX) {
            fprintf(t->out, NOTE "… %zu more reasons\n", json_array_size(reasons) - i);
            break;
        }
        char *s = bt__show(reason);
        if (*s)
            wrap_raw(t, "- ", s);
        free(s);
    }
}

/* The stale request: "connector METHOD path" and its body, wrapped, in at most BODY_LINES
 * lines. */
static void note_stale(const tx *t, const json_t *kase) {
    char *req = bt__request_text(bt__obj(kase, "stale_request"), BODY_CAP);
    if (!req) {
        fputs(NOTE "stale: the recording holds no answer to a request (not in the report)\n",
              t->out);
        return;
    }
    char *text = bt__clean(req, SIZE_MAX, true), *save = NULL;
    size_t left = BODY_LINES;
    fputs(NOTE "stale: the recording holds no answer to\n", t->out);
    for (char *line = strtok_r(text, "\n", &save); line && left;
         line = strtok_r(NULL, "\n", &save)) {
        char *clean = bt__clean(line, SIZE_MAX, false);
        size_t used = wrap(t, line == text ? NOTE "  " : NOTE "    ", "", clean, left);
        left = used < left ? left - used : 0;
        free(clean);
    }
    free(text);
    free(req);
}

static void note_findings(const tx *t, const json_t *kase) {
    const json_t *base = bt__obj(kase, "base");
    json_t *only[2] = {bt__findings_only_in(kase, base), bt__findings_only_in(base, kase)};
    for (int side = 0; side < 2; side++) {
        const json_t *f;
        size_t i;
        json_array_foreach(only[side], i, f) {
            if (i == DIFF_MAX) {
                fprintf(t->out, NOTE "%c %zu more\n", side ? '-' : '+',
                        json_array_size(only[side]) - i);
                break;
            }
            wrap_raw(t,
                     side ? "- finding on base only: " : "+ new finding: ", json_string_value(f));
        }
        json_decref(only[side]);
    }
}

static void note_base(const tx *t, const json_t *kase) {
    const json_t *base = bt__obj(kase, "base");
    const char *outcome = bt__str(base, "outcome");
    if (!base)
        return;
    char *s = bt__sfmt("%s, root cause %s", outcome ? outcome : "?", bt__got_tag(base));
    wrap_raw(t, "base: ", s);
    free(s);
    note_findings(t, kase);
}

static void notes(const tx *t, const json_t *kase) {
    bt__outcome o = bt__outcome_of(kase);
    bt__change c = bt__change_of(kase);
    const char *budget = bt__str(kase, "budget");
    char *error = bt__error_text(kase);
    if (o == BT__PASS && c != BT__BROKEN && c != BT__FIXED && c != BT__CHANGED) {
        free(error);
        return;
    }
    note_reasons(t, kase);
    if (budget)
        wrap_raw(t, "budget hit: ", budget);
    if (error)
        wrap_raw(t, "error: ", error);
    if (o == BT__STALE)
        note_stale(t, kase);
    if (c == BT__BROKEN || c == BT__FIXED || c == BT__CHANGED)
        note_base(t, kase);
    free(error);
}

static void cases_table(const tx *t, const json_t *report) {
    const json_t *cases = bt__list(report, "cases");
    bt__group *groups;
    size_t width[NCOLS], n = bt__groups(report, &groups);
    fprintf(t->out, "\n%sCases%s (root cause: expected → got)\n", sgr(t, BOLD), sgr(t, RESET));
    if (n == 0) {
        fputs("  no cases\n", t->out);
        bt__groups_free(groups, n);
        return;
    }
    col_widths(t, cases, width);
    header(t, width);
    for (size_t g = 0; g < n; g++) {
        char *name = bt__clean(groups[g].analyzer, TEXT_CAP, false), *fit = bt__fit(name, WIDTH);
        fprintf(t->out, "%s%s%s\n", sgr(t, BOLD), fit, sgr(t, RESET));
        for (size_t i = 0; i < groups[g].n; i++) {
            row(t, groups[g].cases[i], width);
            notes(t, groups[g].cases[i]);
        }
        free(fit);
        free(name);
    }
    bt__groups_free(groups, n);
}

/* ---- The summary ---------------------------------------------------------------------------- */

static void summary_line(const tx *t, const json_t *summary, const bt__tally *tally,
                         const bt__line *l) {
    bt__line_texts x;
    bt__line_text(summary, tally, l, &x);
    fprintf(t->out, "  %-16s", l->label);
    cell(t, x.head, 10, true, NULL);
    if (t->base) {
        fputs("  ", t->out);
        cell(t, x.base, 10, true, NULL);
        fputs("  ", t->out);
        cell(t, x.delta, 10, true, x.better > 0 ? sgr(t, GREEN) : x.better < 0 ? sgr(t, RED) : "");
    }
    fputc('\n', t->out);
    bt__line_texts_free(&x);
}

static void changes_line(const tx *t, const json_t *summary, const bt__tally *tally) {
    const json_t *changes = bt__obj(summary, "changes");
    bt__buf b = {0};
    if (!t->base && !changes)
        return;
    for (int c = 0; c < BT__NO_CHANGE; c++) {
        double v = (double)tally->change[c];
        if (changes)
            bt__num(changes, bt__change_name((bt__change)c), &v);
        const char *colour = v > 0 ? change_colour(t, (bt__change)c) : "";
        bt__printf(&b, "%s%s%.0f %s%s", c ? ", " : "", colour, v, bt__change_name((bt__change)c),
                   *colour ? sgr(t, RESET) : "");
    }
    fprintf(t->out, "  changes: %s\n", bt__text(&b));
    bt__buf_free(&b);
}

static void summary(const tx *t, const json_t *report) {
    const json_t *s = bt__obj(report, "summary");
    bt__tally tally;
    bt__tally_cases(report, &tally);
    fprintf(t->out, "\n%sSummary%s", sgr(t, BOLD), sgr(t, RESET));
    if (t->base)
        fprintf(t->out, "%s%21s%12s%11sΔ%s", sgr(t, DIM), "head", "base", "", sgr(t, RESET));
    fputc('\n', t->out);
    for (size_t i = 0; i < bt__n_lines; i++)
        summary_line(t, s, &tally, &bt__lines[i]);
    char *head = bt__scores_text(s), *base = bt__scores_text(bt__obj(s, "base"));
    if (head || base)
        fprintf(t->out, "  root causes: %s%s%s%s\n", head ? head : "–", t->base ? " (base: " : "",
                t->base ? (base ? base : "–") : "", t->base ? ")" : "");
    free(head);
    free(base);
    changes_line(t, s, &tally);
}

/* ---- The confusion of root causes ----------------------------------------------------------- */

/* Too many tags for a matrix: the non-zero cells, most cases first. */
static void confusion_pairs(const tx *t, const json_t *conf) {
    bt__pair *pairs;
    size_t np = bt__confusion_pairs(conf, &pairs);
    for (size_t k = 0; k < np; k++) {
        if (k == PAIRS_MAX) {
            fprintf(t->out, "  … %zu more pairs\n", np - k);
            break;
        }
        char *e = bt__clean(pairs[k].expected, 120, false);
        char *g = bt__clean(pairs[k].got, 120, false);
        char *s = bt__sfmt("%s → %s", e, g), *count = bt__count_text(pairs[k].n);
        bool right = strcmp(pairs[k].expected, pairs[k].got) == 0;
        fputs("  ", t->out);
        cell(t, s, WIDTH - 12, false, NULL);
        cell(t, count, 8, true, right ? sgr(t, GREEN) : sgr(t, RED));
        fputc('\n', t->out);
        free(s);
        free(count);
        free(e);
        free(g);
    }
    free(pairs);
}

static void confusion_matrix(const tx *t, const json_t *conf, const char **tags, size_t n,
                             size_t label, size_t cw) {
    fputs("  ", t->out);
    pad(t, label);
    fputs(sgr(t, DIM), t->out);
    for (size_t j = 0; j < n; j++)
        fprintf(t->out, "%*zu", (int)cw, j + 1);
    fprintf(t->out, "%s\n", sgr(t, RESET));
    for (size_t i = 0; i < n; i++) {
        char *tag = bt__clean(tags[i], 120, false), *s = bt__sfmt("%zu %s", i + 1, tag);
        fputs("  ", t->out);
        cell(t, s, label, false, NULL);
        for (size_t j = 0; j < n; j++) {
            double v = bt__confusion_at(conf, tags[i], tags[j]);
            char *count = v != 0 ? bt__count_text(v) : rt_xstrdup("·");
            cell(t, count, cw, true, v == 0 ? "" : i == j ? sgr(t, GREEN) : sgr(t, RED));
            free(count);
        }
        fputc('\n', t->out);
        free(s);
        free(tag);
    }
}

/* The width of the matrix' row labels ("1 bad_deploy", at most 30) and of its count columns. */
static void matrix_widths(const json_t *conf, const char **tags, size_t n, size_t *label,
                          size_t *cw) {
    *label = 0, *cw = 3;
    for (size_t i = 0; i < n; i++) {
        char *tag = bt__clean(tags[i], 120, false), *s = bt__sfmt("%zu %s", i + 1, tag);
        size_t w = bt__width(s);
        *label = w > *label ? w : *label;
        for (size_t j = 0; j < n; j++) {
            char *count = bt__count_text(bt__confusion_at(conf, tags[i], tags[j]));
            *cw = strlen(count) + 2 > *cw ? strlen(count) + 2 : *cw;
            free(count);
        }
        free(s);
        free(tag);
    }
    *label = *label > 30 ? 30 : *label;
}

static void confusion(const tx *t, const json_t *report) {
    const json_t *conf = bt__obj(report, "confusion");
    const char **tags;
    size_t n = bt__confusion_tags(conf, &tags), label = 0, cw = 0;
    if (n > 0)
        fprintf(t->out, "\n%sRoot causes%s (rows: expected, columns: got)\n", sgr(t, BOLD),
                sgr(t, RESET));
    if (n > 0 && n <= MATRIX_MAX)
        matrix_widths(conf, tags, n, &label, &cw);
    if (n > MATRIX_MAX || 2 + label + n * cw > WIDTH)
        confusion_pairs(t, conf);
    else if (n > 0)
        confusion_matrix(t, conf, tags, n, label, cw);
    free(tags);
}

/* ---- The whole ------------------------------------------------------------------------------ */

/* "rev (commit)" of the side 'key' of 'report', cleaned and cut; NULL when absent. */
static char *side_text(const json_t *report, const char *key) {
    const json_t *side = bt__obj(report, key);
    const char *rev = bt__str(side, "rev"), *commit = bt__str(side, "commit");
    if (!side)
        return NULL;
    char *short_commit = bt__short_commit(commit);
    char *r = bt__clean(rev ? rev : "?", 200, false), *c = bt__clean(short_commit, 200, false);
    char *rf = bt__fit(r, 28);
    char *s = *c ? bt__sfmt("%s (%s)", rf, c) : rt_xstrdup(rf);
    free(r);
    free(c);
    free(rf);
    free(short_commit);
    return s;
}

static void title(const tx *t, const json_t *report) {
    const char *id = bt__str(report, "id"), *started = bt__str(report, "started_at");
    double secs;
    bt__tally tally;
    bt__buf b = {0};
    bt__tally_cases(report, &tally);
    bt__printf(&b, "Backtest");
    if (id)
        bt__printf(&b, " %s", id);
    if (started)
        bt__printf(&b, " · %s", started);
    bt__printf(&b, " · %zu case%s", tally.cases, tally.cases == 1 ? "" : "s");
    if (bt__num(report, "duration_s", &secs)) {
        char *d = bt__ms_text(secs * 1000);
        bt__printf(&b, " in %s", d);
        free(d);
    }
    char *clean = bt__clean(bt__text(&b), 400, false);
    wrap(t, "", "", clean, 0);
    char *head = side_text(report, "head"), *base = side_text(report, "base");
    if (head || base)
        fprintf(t->out, "%shead: %s%s%s%s\n", sgr(t, DIM), head ? head : "?",
                base ? "   base: " : "", base ? base : "", sgr(t, RESET));
    free(head);
    free(base);
    free(clean);
    bt__buf_free(&b);
}

void bt_report_text(const json_t *report, FILE *out, bool color) {
    tx t = {.out = out, .color = color, .base = bt__obj(report, "base") != NULL};
    if (!json_is_object(report)) {
        fputs("(not a backtest report: no JSON object)\n", out);
        return;
    }
    /* A base may show only in the cases (a report cut by hand): their change column still. */
    const json_t *kase;
    size_t i;
    json_array_foreach(bt__list(report, "cases"), i, kase) {
        t.base = t.base || bt__obj(kase, "base") || bt__str(kase, "change");
    }
    title(&t, report);
    cases_table(&t, report);
    summary(&t, report);
    confusion(&t, report);
}
