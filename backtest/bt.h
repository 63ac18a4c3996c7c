/* backtest/bt.h -- the backtest harness (DESIGN §7, docs/backtest.md): cases (bt_case.c), their
 * replay in parallel sandboxed children (bt_run.c), scoring and the base-versus-head comparison
 * (bt_score.c), the base revision's analyzers (bt_base.c), the report's renderings (bt_report.c)
 * and turning a run into a case (bt_capture.c). The report is one JSON document,
 * inquest.backtest/v1 (docs/backtest.md): the runner builds it, every rendering reads only it. */
#ifndef INQUEST_BT_H
#define INQUEST_BT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "rt.h"
#include "rt_config.h"
#include "rt_recording.h"

/* ---- Running (bt_run.c) --------------------------------------------------------------------- */

typedef struct bt_options {
    const char *const *analyzers; /* names to backtest; none: every analyzer that has cases */
    size_t n_analyzers;
    const char *const *dirs; /* the analyzer path of the working tree (head) */
    size_t n_dirs;
    const char *cases_dir; /* --cases DIR: the cases under DIR instead of those beside analyzers */
    const char *base_rev;  /* --base REV: also run the analyzers as they were at REV; or NULL */
    int jobs;              /* child processes; 0: one per core */
    const rt_config *config; /* budgets and connector types; NULL: the defaults */
    bool progress;           /* one line on stderr as cases finish (a terminal) */
} bt_options;

/* Runs every case that 'o' selects and builds the report in '*report' (new reference).
 * Problems that stop the whole backtest (no cases, a bad --base) go to 'diag' with an error;
 * a case that cannot be read or run is a case with outcome "error" in the report. */
int bt_run(const bt_options *o, json_t **report, rt_diag *diag);

/* The exit status the report calls for: 1 when a case that passed on base does not pass on
 * head, or one that did not run on base (new there, or an error: a case or recording that
 * cannot be read, a process lost twice) does not pass on head; without a base, when any case
 * does not pass; else 0. */
int bt_exit_code(const json_t *report);

/* ---- Reports (bt_report.c) ------------------------------------------------------------------ */

/* The renderings of 'report' written to 'out' (docs/backtest.md, "Reading the report"). They read
 * only the report, take any member as possibly absent, null or of another type, and make every
 * text from it safe for where it goes.
 * bt_report_text: the terminal table, 80 columns wide, ANSI colour when 'color'. */
void bt_report_text(const json_t *report, FILE *out, bool color);
/* A pull-request comment: escaped Markdown of about 60,000 bytes at most (GitHub takes 65,536
 * characters), long lists cut with a note. */
void bt_report_markdown(const json_t *report, FILE *out);
/* JUnit XML: a testsuite per analyzer, a testcase per case; well-formed XML 1.0 whatever the
 * report's text holds. */
void bt_report_junit(const json_t *report, FILE *out);
/* Keeps the JSON report in folder 'dir' (made if missing) as <started_at>-<id>.json, where the
 * console lists them. RT_OK, or an error with 'why' (256 bytes). */
int bt_report_save(const json_t *report, const char *dir, char *why);

/* A copy of 's' (NULL: "") fit for a terminal, malloc'd, cleaned as the renderings clean a
 * report's text: control characters, escape sequences, bidirectional overrides and bytes that
 * are no UTF-8 become U+FFFD, tabs and newlines spaces; at most 'cap' bytes ("…" when cut). */
char *bt_text_clean(const char *s, size_t cap);

/* ---- Making cases (bt_capture.c) ------------------------------------------------------------ */

/* The expectation a result makes: its status, conclusion, top root cause and the findings it
 * found (root cause and title), for `inquest record` and `inquest case from-analysis`. */
json_t *bt_expect_from_result(const json_t *result);

/* The expectation 'expect' (not changed) corrected by a person's verdict 'feedback' on the run
 * it came from ({ verdict, root_cause, note, by }, as GET /v1/analyses/ID/feedback gives it):
 * "correct" keeps it; "wrong" with a root cause expects that cause, and the run's own root cause
 * in `absent` instead of its findings, without the conclusion; "wrong" without one expects the
 * run's root cause absent and no root cause in particular; "partly" with a root cause expects
 * that cause, keeping the findings; "partly" without one keeps it. Returns a new expectation, and
 * in 'what' (256 bytes; may be NULL) one line that says what changed. */
json_t *bt_expect_with_feedback(const json_t *expect, const json_t *feedback, char *what);

/* The description a case made of analysis 'id' has by default: where it came from (submitted at
 * 'submitted_at', RFC 3339; NULL: not known) and, when 'feedback' is not NULL, the verdict on it
 * and its note. Into 'out' of 'size' bytes, cut at a character. */
void bt_case_description(const char *id, const char *submitted_at, const json_t *feedback,
                         char *out, size_t size);

/* The case document (inquest.case/v1), members in the order docs/backtest.md shows them.
 * 'description' may be NULL (left out, as is text that is not UTF-8); 'inputs' (an object, else
 * {}) and 'expect' are stolen; 'now' is Unix seconds (0: left out), 'id' may be NULL. */
json_t *bt_case_doc(const char *analyzer, const char *description, json_t *inputs, double now,
                    const char *id, json_t *expect);

/* Writes case folder 'dir' (case.json and recording.json) from case document 'kase'
 * (inquest.case/v1) and 'recording'. Refuses to overwrite an existing case. RT_OK, or an error
 * with 'why' (256 bytes). */
int bt_case_write(const char *dir, const json_t *kase, const rt_recording *recording, char *why);

#endif
