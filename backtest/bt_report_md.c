/* backtest/bt_report_md.c -- the backtest report as Markdown for a pull-request comment
 * (bt_report_markdown): a verdict, the summary head against base, the cases that changed, the
 * stale requests, then every case and the confusion of root causes folded away. Reading the
 * report and cleaning its text are in bt_report.c.
 *
 * Everything from the report may hold anything (a case name is a folder name, a reason quotes
 * analyzer output), so it goes out through three writers only: md_text (escaped prose), md_code
 * (a code span: no mentions, no HTML, no emphasis) and md_block (a fenced block). GitHub refuses
 * comments over 65,536 characters: sections are written in order of importance, each into what
 * room the ones before it left, and a list that does not fit says how many rows it left out. */
#include <stdlib.h>
#include <string.h>

#include "bt.h"
#include "bt_report_internal.h"

#define MD_MAX      60000 /* bytes of the comment: under GitHub's limit with room for a marker */
#define NOTE_ROOM   400   /* what a "not shown" note takes */
#define CELL_CAP    300   /* bytes of one reason, error or name in a cell */
#define TAG_CAP     120
#define REASONS_MAX 5
#define DIFF_MAX    3
#define BODY_CAP    1500 /* bytes of a stale request's body */
#define MATRIX_MAX  10   /* tags in a matrix; more are listed as pairs */
#define WORD_JOINER "\xE2\x81\xA0"

/* ---- Writers -------------------------------------------------------------------------------- */

/* Prose: one line, HTML's specials as entities, Markdown's as backslash escapes, '|' escaped for
 * tables, and '@' followed by a word joiner so that a name cannot mention anyone. */
static void md_text(bt__buf *b, const char *raw, size_t cap) {
    char *s = bt__clean(raw, cap, false);
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&':
            bt__puts(b, "&amp;");
            break;
        case '<':
            bt__puts(b, "&lt;");
            break;
        case '>':
            bt__puts(b, "&gt;");
            break;
        case '@':
            bt__puts(b, "@" WORD_JOINER);
            break;
        case '\\':
        case '`':
        case '*':
        case '_':
        case '[':
        case ']':
        case '~':
        case '$':
        case '|':
            bt__put(b, "\\", 1);
            bt__put(b, p, 1);
            break;
        default:
            bt__put(b, p, 1);
        }
    }
    free(s);
}

static size_t longest_backticks(const char *s) {
    size_t run = 0, longest = 0;
    for (; *s; s++) {
        run = *s == '`' ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    return longest;
}

/* A code span: its content is literal, so no HTML, emphasis or mention can come of it. Fenced
 * with more backticks than any run inside, padded with a space where CommonMark strips one; in
 * a table, '|' is escaped (GitHub removes the backslash inside code spans too). */
static void md_code(bt__buf *b, const char *raw, size_t cap, bool table) {
    char *s = bt__clean(raw, cap, false);
    size_t n = strlen(s), fence = longest_backticks(s) + 1;
    bool padded = n && (s[0] == '`' || s[n - 1] == '`' || s[0] == ' ' || s[n - 1] == ' ');
    if (!n) {
        bt__puts(b, "(empty)");
        free(s);
        return;
    }
    for (size_t i = 0; i < fence; i++)
        bt__put(b, "`", 1);
    if (padded)
        bt__put(b, " ", 1);
    for (const char *p = s; *p; p++)
        if (*p == '|' && table)
            bt__puts(b, "\\|");
        else
            bt__put(b, p, 1);
    if (padded)
        bt__put(b, " ", 1);
    for (size_t i = 0; i < fence; i++)
        bt__put(b, "`", 1);
    free(s);
}

/* A fenced block of text, fenced with more backticks than any run inside. */
static void md_block(bt__buf *b, const char *raw, size_t cap) {
    char *s = bt__clean(raw, cap, true);
    size_t n = strlen(s), fence = longest_backticks(s) + 1;
    fence = fence < 3 ? 3 : fence;
    for (size_t i = 0; i < fence; i++)
        bt__put(b, "`", 1);
    bt__printf(b, "text\n%s%s", s, n && s[n - 1] == '\n' ? "" : "\n");
    for (size_t i = 0; i < fence; i++)
        bt__put(b, "`", 1);
    bt__puts(b, "\n\n");
    free(s);
}

/* A root-cause tag: a code span, "(none)" and "(any)" (NULL) as they are. */
static void md_tag(bt__buf *b, const char *tag) {
    if (!tag)
        bt__puts(b, "(any)");
    else if (strcmp(tag, "(none)") == 0)
        bt__puts(b, "(none)");
    else
        md_code(b, tag, TAG_CAP, true);
}

static const char *outcome_badge(bt__outcome o) {
    static const char *const badges[] = {"✅ pass", "❌ fail", "⚠️ stale", "💥 error", "❔"};
    return badges[o];
}

static const char *change_badge(bt__change c) {
    static const char *const badges[] = {"🔴 broken", "🟢 fixed", "🟡 changed",
                                         "🆕 new",    "unchanged",  ""};
    return badges[c];
}

/* The outcome of 'side' (a case or its base): a badge, or the unknown outcome escaped. */
static void md_outcome(bt__buf *b, const json_t *side) {
    bt__outcome o = bt__outcome_of(side);
    const char *raw = bt__str(side, "outcome");
    bt__puts(b, outcome_badge(o));
    if (o == BT__NO_OUTCOME && raw) {
        bt__puts(b, " ");
        md_text(b, raw, 40);
    }
}

static size_t room(size_t limit, size_t reserve) {
    return limit > reserve ? limit - reserve : 0;
}

/* ---- The verdict and the summary ------------------------------------------------------------ */

static const char *plural(size_t n, const char *one, const char *many) {
    return n == 1 ? one : many;
}

/* Appends "N ONE|MANY" to the verdict 'line' (", " between parts) when 'n' is not 0. */
static void verdict_part(bt__buf *b, bool *first, size_t n, const char *one, const char *many) {
    if (!n)
        return;
    bt__printf(b, "%s%zu %s", *first ? "## ❌ " : ", ", n, plural(n, one, many));
    *first = false;
}

/* The headline agrees with the exit status (bt_exit_code): with a base, a case broken, or one
 * that did not run on base (new, or an error there) and does not pass, fails the job; without,
 * any case that does not pass. */
static void verdict(bt__buf *b, const bt__tally *t, bool base) {
    size_t bad = t->cases - t->outcome[BT__PASS];
    bool first = true;
    if (t->cases == 0) {
        bt__puts(b, "## ⚠️ No case was backtested\n\n");
        return;
    }
    if (base) {
        verdict_part(b, &first, t->change[BT__BROKEN], "case broken by this change",
                     "cases broken by this change");
        verdict_part(b, &first, t->new_failing, "new case does not pass", "new cases do not pass");
        verdict_part(b, &first, t->broken_case, "case in error on head and on base",
                     "cases in error on head and on base");
        verdict_part(b, &first, t->unjudged, "case does not pass and did not run on base",
                     "cases do not pass and did not run on base");
        if (!first)
            bt__puts(b, "\n\n");
        else
            bt__printf(b, "## ✅ No case got worse (%zu %s)\n\n", t->cases,
                       plural(t->cases, "case", "cases"));
    } else if (bad)
        bt__printf(b, "## ❌ %zu of %zu %s not pass\n\n", bad, t->cases,
                   plural(t->cases, "case does", "cases do"));
    else
        bt__printf(b, "## ✅ All %zu %s pass\n\n", t->cases, plural(t->cases, "case", "cases"));
}

static void side(bt__buf *b, const json_t *report, const char *key) {
    const json_t *o = bt__obj(report, key);
    const char *rev = bt__str(o, "rev"), *commit = bt__str(o, "commit");
    md_code(b, rev ? rev : "?", 200, false);
    if (commit && *commit) {
        char *short_commit = bt__short_commit(commit);
        bt__puts(b, " (");
        md_code(b, short_commit, 100, false);
        bt__puts(b, ")");
        free(short_commit);
    }
}

static void intro(bt__buf *b, const json_t *report, const bt__tally *t, bool base) {
    const char *id = bt__str(report, "id");
    double secs;
    bt__puts(b, "Inquest backtest");
    if (id) {
        bt__puts(b, " ");
        md_code(b, id, 100, false);
    }
    if (bt__obj(report, "head")) {
        bt__puts(b, " of ");
        side(b, report, "head");
    }
    if (base && bt__obj(report, "base")) {
        bt__puts(b, " against ");
        side(b, report, "base");
    }
    bt__printf(b, ": %zu case%s", t->cases, t->cases == 1 ? "" : "s");
    if (bt__num(report, "duration_s", &secs)) {
        char *d = bt__ms_text(secs * 1000);
        bt__printf(b, " in %s", d);
        free(d);
    }
    bt__puts(b, ".\n\n");
}

static void summary(bt__buf *b, const json_t *report, const bt__tally *t, bool base) {
    const json_t *s = bt__obj(report, "summary");
    bt__puts(b, base ? "| | head | base | Δ |\n| :-- | --: | --: | --: |\n"
                     : "| | head |\n| :-- | --: |\n");
    for (size_t i = 0; i < bt__n_lines; i++) {
        bt__line_texts x;
        bt__line_text(s, t, &bt__lines[i], &x);
        bt__printf(b, "| %s | %s |", bt__lines[i].label, x.head);
        if (base)
            bt__printf(b, " %s | %s%s |", x.base, x.delta,
                       x.better > 0   ? " 🟢"
                       : x.better < 0 ? " 🔴"
                                      : "");
        bt__puts(b, "\n");
        bt__line_texts_free(&x);
    }
    char *head = bt__scores_text(s), *base_scores = bt__scores_text(bt__obj(s, "base"));
    if (head || base_scores) {
        bt__printf(b, "| root causes | %s |", head ? head : "–");
        if (base)
            bt__printf(b, " %s | |", base_scores ? base_scores : "–");
        bt__puts(b, "\n");
    }
    free(head);
    free(base_scores);
    bt__puts(b, "\n");
}

static void changes(bt__buf *b, const json_t *report, const bt__tally *t, bool base) {
    const json_t *given = bt__obj(bt__obj(report, "summary"), "changes");
    if (!base && !given)
        return;
    bt__puts(b, "**Changes:**");
    for (int c = 0; c < BT__NO_CHANGE; c++) {
        double v = (double)t->change[c];
        if (given)
            bt__num(given, bt__change_name((bt__change)c), &v);
        bt__printf(b, "%s %.0f %s", c ? " ·" : "", v, change_badge((bt__change)c));
    }
    bt__puts(b, "\n\n");
}

/* ---- Cases that need a look ----------------------------------------------------------------- */

static void cell_break(bt__buf *b, bool *first) {
    if (!*first)
        bt__puts(b, "<br>");
    *first = false;
}

static void reasons_of(bt__buf *b, const json_t *side, const char *prefix, bool *first) {
    const json_t *reasons = bt__list(side, "reasons"), *reason;
    size_t i;
    json_array_foreach(reasons, i, reason) {
        if (i == REASONS_MAX) {
            cell_break(b, first);
            bt__printf(b, "… %zu more", json_array_size(reasons) - i);
            break;
        }
        char *s = bt__show(reason);
        if (*s) {
            cell_break(b, first);
            bt__puts(b, prefix);
            md_text(b, s, CELL_CAP);
        }
        free(s);
    }
}

static void findings_diff(bt__buf *b, const json_t *kase, bool *first) {
    const json_t *base = bt__obj(kase, "base"), *f;
    json_t *only[2] = {bt__findings_only_in(kase, base), bt__findings_only_in(base, kase)};
    size_t i;
    for (int s = 0; s < 2 && base; s++) {
        json_array_foreach(only[s], i, f) {
            cell_break(b, first);
            if (i == DIFF_MAX) {
                bt__printf(b, "%s %zu more", s ? "➖" : "➕", json_array_size(only[s]) - i);
                break;
            }
            bt__puts(b, s ? "➖ on base only: " : "➕ new finding: ");
            md_text(b, json_string_value(f), CELL_CAP);
        }
    }
    json_decref(only[0]);
    json_decref(only[1]);
}

/* What went wrong with a case, in one cell: its reasons (the base's for a fixed case), budget,
 * error, the findings only one side has. */
static void why_cell(bt__buf *b, const json_t *kase) {
    const char *budget = bt__str(kase, "budget");
    char *error = bt__error_text(kase);
    bool first = true;
    if (bt__change_of(kase) == BT__FIXED)
        reasons_of(b, bt__obj(kase, "base"), "base: ", &first);
    reasons_of(b, kase, "", &first);
    if (budget) {
        cell_break(b, &first);
        bt__puts(b, "budget hit: ");
        md_code(b, budget, 60, true);
    }
    if (error) {
        cell_break(b, &first);
        bt__puts(b, "error: ");
        md_text(b, error, CELL_CAP);
    }
    if (bt__outcome_of(kase) == BT__STALE) {
        cell_break(b, &first);
        bt__puts(b, "stale: a request the recording does not hold (below)");
    }
    findings_diff(b, kase, &first);
    free(error);
}

/* The case's name as a code span, its analyzer under it when the report has several. */
static void case_cell(bt__buf *b, const json_t *kase, bool analyzers) {
    md_code(b, bt__case_name(kase), CELL_CAP, true);
    if (analyzers) {
        bt__puts(b, "<br><sub>");
        md_code(b, bt__analyzer(kase), CELL_CAP, true);
        bt__puts(b, "</sub>");
    }
}

static void changed_row(bt__buf *b, const json_t *kase, bool analyzers) {
    const json_t *base = bt__obj(kase, "base");
    bt__puts(b, "| ");
    case_cell(b, kase, analyzers);
    bt__printf(b, " | %s | ", change_badge(bt__change_of(kase)));
    if (base) {
        md_outcome(b, base);
        bt__puts(b, " → ");
    }
    md_outcome(b, kase);
    bt__puts(b, " | ");
    md_tag(b, bt__expected_tag(kase));
    bt__puts(b, " | ");
    if (base) {
        md_tag(b, bt__got_tag(base));
        bt__puts(b, " → ");
    }
    md_tag(b, bt__got_tag(kase));
    bt__puts(b, " | ");
    why_cell(b, kase);
    bt__puts(b, " |\n");
}

static void failing_row(bt__buf *b, const json_t *kase, bool analyzers) {
    bt__puts(b, "| ");
    case_cell(b, kase, analyzers);
    bt__puts(b, " | ");
    md_outcome(b, kase);
    bt__puts(b, " | ");
    md_tag(b, bt__expected_tag(kase));
    bt__puts(b, " | ");
    md_tag(b, bt__got_tag(kase));
    bt__puts(b, " | ");
    why_cell(b, kase);
    bt__puts(b, " |\n");
}

/* Whether 'kase' belongs in the first table: a change a reviewer must see (with a base; a new
 * case only when it does not pass), or any case that does not pass (without). */
static bool needs_look(const json_t *kase, bool base, bt__change kind) {
    if (!base)
        return bt__outcome_of(kase) != BT__PASS;
    return bt__change_of(kase) == kind && (kind != BT__NEW || bt__outcome_of(kase) != BT__PASS);
}

static const char *const look_head[2] = {
    "### Cases that do not pass\n\n| case | outcome | expected | root cause | why |\n"
    "| --- | --- | --- | --- | --- |\n",
    "### Changed cases\n\n| case | change | outcome | expected | root cause | why |\n"
    "| --- | --- | --- | --- | --- | --- |\n",
};

/* The cases a reviewer must look at, most important kind first, as rows while they fit. */
static void look_section(bt__buf *b, const json_t *report, bool base, bool analyzers,
                         size_t limit) {
    const json_t *kase;
    size_t i, shown = 0, left = 0, new_pass = 0;
    int first = base ? BT__BROKEN : BT__NO_CHANGE, last = base ? BT__NEW : BT__NO_CHANGE;
    for (int kind = first; kind <= last; kind++) {
        json_array_foreach(bt__list(report, "cases"), i, kase) {
            new_pass += kind == BT__NEW && bt__change_of(kase) == BT__NEW &&
                        bt__outcome_of(kase) == BT__PASS;
            if (!needs_look(kase, base, (bt__change)kind))
                continue;
            if (left) {
                left++;
                continue;
            }
            size_t mark = b->len;
            if (!shown)
                bt__puts(b, look_head[base]);
            (base ? changed_row : failing_row)(b, kase, analyzers);
            if (b->len + NOTE_ROOM > limit) {
                bt__truncate(b, mark);
                left++;
                continue;
            }
            shown++;
        }
    }
    if (shown)
        bt__puts(b, "\n");
    if (left)
        bt__printf(b,
                   "_… and %zu more %s not shown: the comment would pass GitHub's size limit._"
                   "\n\n",
                   left, base ? "changed cases" : "cases that do not pass");
    if (new_pass)
        bt__printf(b, "%zu new case%s pass%s.\n\n", new_pass, new_pass == 1 ? "" : "s",
                   new_pass == 1 ? "es" : "");
}

static void stale_case(bt__buf *b, const json_t *kase) {
    char *req = bt__request_text(bt__obj(kase, "stale_request"), BODY_CAP);
    bt__puts(b, "**");
    md_code(b, bt__case_name(kase), CELL_CAP, false);
    bt__puts(b, "** of ");
    md_code(b, bt__analyzer(kase), CELL_CAP, false);
    bt__puts(b, "\n\n");
    md_block(b, req ? req : "(the report does not show the request)", SIZE_MAX);
    free(req);
}

static void stale_section(bt__buf *b, const json_t *report, size_t limit) {
    const json_t *kase;
    size_t i, shown = 0, left = 0;
    json_array_foreach(bt__list(report, "cases"), i, kase) {
        if (bt__outcome_of(kase) != BT__STALE)
            continue;
        if (left) {
            left++;
            continue;
        }
        size_t mark = b->len;
        if (!shown)
            bt__puts(b, "### Stale cases\n\nThe analyzer made a request that the case's recording "
                        "does not hold: record the case again, or look at what the change does to "
                        "the analyzer's requests.\n\n");
        stale_case(b, kase);
        if (b->len + NOTE_ROOM > limit) {
            bt__truncate(b, mark);
            left++;
            continue;
        }
        shown++;
    }
    if (left)
        bt__printf(b,
                   "_… and %zu more stale cases not shown: the comment would pass GitHub's size "
                   "limit._\n\n",
                   left);
}

static void error_row(bt__buf *b, const json_t *kase, bool analyzers) {
    char *error = bt__error_text(kase);
    bt__puts(b, "| ");
    case_cell(b, kase, analyzers);
    bt__puts(b, " | ");
    md_text(b, error ? error : "(no message)", CELL_CAP);
    bt__puts(b, " |\n");
    free(error);
}

/* With a base, the cases that could not run and are not among the changed ones. */
static void error_section(bt__buf *b, const json_t *report, bool analyzers, size_t limit) {
    const json_t *kase;
    size_t i, shown = 0, left = 0;
    json_array_foreach(bt__list(report, "cases"), i, kase) {
        bt__change c = bt__change_of(kase);
        if (bt__outcome_of(kase) != BT__ERROR || c == BT__BROKEN || c == BT__FIXED ||
            c == BT__CHANGED || c == BT__NEW)
            continue;
        if (left) {
            left++;
            continue;
        }
        size_t mark = b->len;
        if (!shown)
            bt__puts(b, "### Cases that could not run\n\n| case | error |\n| --- | --- |\n");
        error_row(b, kase, analyzers);
        if (b->len + NOTE_ROOM > limit) {
            bt__truncate(b, mark);
            left++;
            continue;
        }
        shown++;
    }
    if (shown)
        bt__puts(b, "\n");
    if (left)
        bt__printf(b, "_… and %zu more cases that could not run not shown._\n\n", left);
}

/* ---- Every case, the confusion -------------------------------------------------------------- */

static void detail_row(bt__buf *b, const json_t *kase, bool base) {
    double v;
    const char *expected = bt__expected_tag(kase), *got = bt__got_tag(kase);
    bt__puts(b, "| ");
    md_code(b, bt__case_name(kase), CELL_CAP, true);
    bt__puts(b, " | ");
    md_code(b, bt__analyzer(kase), CELL_CAP, true);
    bt__puts(b, " | ");
    md_outcome(b, kase);
    if (base)
        bt__printf(b, " | %s", change_badge(bt__change_of(kase)));
    bt__puts(b, " | ");
    if (!expected || strcmp(expected, got) != 0) {
        md_tag(b, expected);
        bt__puts(b, " → ");
    }
    md_tag(b, got);
    char *ms = bt__num(kase, "runtime_ms", &v) ? bt__ms_text(v) : rt_xstrdup("–");
    char *calls = bt__num(kase, "connector_calls", &v) ? bt__count_text(v) : rt_xstrdup("–");
    bt__printf(b, " | %s | %s |\n", ms, calls);
    free(ms);
    free(calls);
}

static void details_section(bt__buf *b, const json_t *report, bool base, size_t limit) {
    const json_t *cases = bt__list(report, "cases"), *kase;
    size_t i, n = json_array_size(cases);
    if (n == 0)
        return;
    bt__printf(b, "<details>\n<summary>All %zu case%s</summary>\n\n", n, n == 1 ? "" : "s");
    bt__puts(b, base ? "| case | analyzer | outcome | change | expected → got | runtime | calls |\n"
                       "| --- | --- | --- | --- | --- | --: | --: |\n"
                     : "| case | analyzer | outcome | expected → got | runtime | calls |\n"
                       "| --- | --- | --- | --- | --: | --: |\n");
    json_array_foreach(cases, i, kase) {
        size_t mark = b->len;
        detail_row(b, kase, base);
        if (b->len + NOTE_ROOM > limit) {
            bt__truncate(b, mark);
            bt__printf(b,
                       "\n_… and %zu more cases not shown: the comment would pass GitHub's "
                       "size limit; the JSON and JUnit reports hold them all._\n",
                       n - i);
            break;
        }
    }
    bt__puts(b, "\n</details>\n\n");
}

static void matrix(bt__buf *b, const json_t *conf, const char **tags, size_t n) {
    bt__puts(b, "| expected ＼ got |");
    for (size_t j = 0; j < n; j++) {
        bt__puts(b, " ");
        md_tag(b, tags[j]);
        bt__puts(b, " |");
    }
    bt__puts(b, "\n| :-- |");
    for (size_t j = 0; j < n; j++)
        bt__puts(b, " --: |");
    bt__puts(b, "\n");
    for (size_t i = 0; i < n; i++) {
        bt__puts(b, "| ");
        md_tag(b, tags[i]);
        bt__puts(b, " |");
        for (size_t j = 0; j < n; j++) {
            double v = bt__confusion_at(conf, tags[i], tags[j]);
            char *count = bt__count_text(v);
            bt__printf(b, v == 0 ? " · |" : i == j ? " **%s** |" : " %s |", count);
            free(count);
        }
        bt__puts(b, "\n");
    }
}

/* Too many tags for a matrix: the non-zero cells, one a row, most cases first. */
static void pairs_table(bt__buf *b, const json_t *conf, size_t limit) {
    bt__pair *pairs;
    size_t np = bt__confusion_pairs(conf, &pairs), k;
    bt__puts(b, "| expected | got | cases |\n| --- | --- | --: |\n");
    for (k = 0; k < np; k++) {
        size_t mark = b->len;
        char *count = bt__count_text(pairs[k].n);
        bt__puts(b, "| ");
        md_tag(b, pairs[k].expected);
        bt__puts(b, " | ");
        md_tag(b, pairs[k].got);
        bt__printf(b, " | %s |\n", count);
        free(count);
        if (b->len + NOTE_ROOM > limit) {
            bt__truncate(b, mark);
            break;
        }
    }
    if (k < np)
        bt__printf(b, "\n_… and %zu more pairs not shown._\n", np - k);
    free(pairs);
}

static void confusion_section(bt__buf *b, const json_t *report, size_t limit) {
    const json_t *conf = bt__obj(report, "confusion");
    const char **tags;
    size_t n = bt__confusion_tags(conf, &tags), mark = b->len;
    if (n > 0 && limit > NOTE_ROOM * 2) {
        bt__puts(b, "<details>\n<summary>Root causes: expected × got</summary>\n\n");
        if (n <= MATRIX_MAX)
            matrix(b, conf, tags, n);
        if (n > MATRIX_MAX || b->len + NOTE_ROOM > limit) {
            bt__truncate(b, mark);
            bt__puts(b, "<details>\n<summary>Root causes: expected × got</summary>\n\n");
            pairs_table(b, conf, limit);
        }
        bt__puts(b, "\n</details>\n");
    }
    free(tags);
}

/* ---- The whole ------------------------------------------------------------------------------ */

void bt_report_markdown(const json_t *report, FILE *out) {
    bt__buf top = {0}, look = {0}, stale = {0}, errors = {0}, conf = {0}, all = {0};
    bt__tally t;
    bt__group *groups;
    size_t n_groups = bt__groups(report, &groups), used;
    bool base = bt__obj(report, "base") != NULL;
    const json_t *kase;
    size_t i;
    json_array_foreach(bt__list(report, "cases"), i, kase) {
        base = base || bt__obj(kase, "base") || bt__str(kase, "change");
    }
    bt__tally_cases(report, &t);
    verdict(&top, &t, base);
    intro(&top, report, &t, base);
    summary(&top, report, &t, base);
    changes(&top, report, &t, base);
    /* Each section gets what the ones before left, less a reserve for those after it. */
    used = top.len;
    look_section(&look, report, base, n_groups > 1, room(room(MD_MAX, used), 12000));
    used += look.len;
    stale_section(&stale, report, room(room(MD_MAX, used), 8000));
    used += stale.len;
    if (base)
        error_section(&errors, report, n_groups > 1, room(room(MD_MAX, used), 6000));
    used += errors.len;
    size_t conf_room = room(room(MD_MAX, used), 3000);
    confusion_section(&conf, report, conf_room < 6000 ? conf_room : 6000);
    used += conf.len;
    details_section(&all, report, base, room(MD_MAX, used));
    fprintf(out, "%s%s%s%s%s%s", bt__text(&top), bt__text(&look), bt__text(&stale),
            bt__text(&errors), bt__text(&all), bt__text(&conf));
    bt__buf_free(&top);
    bt__buf_free(&look);
    bt__buf_free(&stale);
    bt__buf_free(&errors);
    bt__buf_free(&conf);
    bt__buf_free(&all);
    bt__groups_free(groups, n_groups);
}
