/* backtest/bt_internal.h -- what the harness' own files share: a case as read from its folder
 * (bt_case.c), what one replay of it observed (bt_run.c), scoring and comparing (bt_score.c)
 * and the base revision's analyzer path (bt_base.c). Nothing outside backtest/ includes it but
 * the harness' unit tests; the API is bt.h. */
#ifndef INQUEST_BT_INTERNAL_H
#define INQUEST_BT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "bt.h"

#define BT_CASE_SCHEMA   "inquest.case/v1"
#define BT_REPORT_SCHEMA "inquest.backtest/v1"
#define BT_NONE          "(none)" /* the confusion matrix' name for "no root cause" */

/* ---- Cases (bt_case.c) ---------------------------------------------------------------------- */

/* A finding that must (or must not) appear: equal root cause and/or a title that the PCRE2
 * pattern matches somewhere. */
typedef struct bt_matcher {
    char *root_cause; /* owned, or NULL: any */
    char *title;      /* owned: the pattern as written, or NULL: any */
    void *code;       /* owned pcre2_code of 'title', or NULL */
} bt_matcher;

/* One case folder. A case that cannot be read still has its folder and 'problems'. */
typedef struct bt_case {
    char *dir;           /* owned: the folder, as reports name it */
    char *name;          /* owned: the folder's last component */
    char *analyzer;      /* owned: the analyzer's name, or NULL when case.json does not say */
    char *description;   /* owned, or NULL */
    json_t *inputs;      /* owned object, or NULL: the recording's */
    double now;          /* the frozen clock; 0: the recording's */
    char *id;            /* owned, or NULL: the recording's, else the folder's name */
    json_t *expect;      /* owned: expect as written, status filled in (for the report) */
    char *status;        /* owned: the status expected ("ok" unless said) */
    char *conclusion;    /* owned, or NULL: any */
    bool has_root_cause; /* expect.root_cause was given */
    char *root_cause;    /* owned; NULL with has_root_cause: none expected */
    bt_matcher *findings, *absent;
    size_t n_findings, n_absent;
    rt_diag problems; /* why the case cannot run, each with its file and field; none: it can */
} bt_case;

typedef struct bt_cases {
    bt_case *items;
    size_t n;
} bt_cases;

/* Reads the case document 'doc' (a parsed case.json; borrowed) of the case folder 'dir' into
 * 'c' (zeroed first). Every problem goes to c->problems with 'file' (the name shown for
 * case.json) and its field. 'beside' is the name of the analyzer the folder sits beside, or
 * NULL under --cases. Never fails: a case with problems is an error case. */
void bt__case_parse(bt_case *c, const char *dir, const char *file, const json_t *doc,
                    const char *beside);
/* Reads the case folder 'dir' (case.json) into 'c', as bt__case_parse. */
void bt__case_load(bt_case *c, const char *dir, const char *beside);
void bt__case_free(bt_case *c);

/* Finds the cases that 'o' selects: beside each analyzer on 'dirs' ('n_dirs' folders), or
 * every case folder under o->cases_dir; only those of o->analyzers when it names some. Cases
 * come sorted by folder. Returns RT_OK; RT_ENOTFOUND when an analyzer named in o->analyzers is
 * not on the analyzer path, or no case is found, with the problem in 'diag'. */
int bt__cases_find(const bt_options *o, const char *const *dirs, size_t n_dirs, bt_cases *out,
                   rt_diag *diag);
void bt__cases_free(bt_cases *cases);

/* ---- Observations (bt_run.c) ----------------------------------------------------------------
 * What replaying a case observed, as a JSON object (so that it crosses the pipe from the
 * sandboxed child as it is): status, conclusion, root_cause (or null), findings [{title,
 * root_cause, severity, confidence}], runtime_ms, connector_calls, budget, error, stale_request,
 * and "missing": true when the analyzer does not exist on that side (base). */

/* The observation of the analysis result 'result' (borrowed). A replay miss ends the analysis
 * with status error: the observation then has its stale_request {connector, method, path, body}
 * read from the error's message. */
json_t *bt__observe_result(const json_t *result);
/* The observation of a case that did not run: 'error' says why. */
json_t *bt__observe_error(const char *error, bool missing);

/* ---- Scoring (bt_score.c) ------------------------------------------------------------------- */

/* The top finding's root cause in observation or result 'findings' holder 'obj' (ranked as the
 * post-processor ranks findings: severity, then confidence), or NULL. */
const char *bt__top_root_cause(const json_t *result);

/* The report's entry for case 'c' with the head's observation 'head' (borrowed): outcome,
 * reasons and what was observed. A case with problems is an error case whatever 'head' is
 * (NULL then). */
json_t *bt__case_entry(const bt_case *c, const json_t *head);
/* Adds the base's side to entry 'entry' (made by bt__case_entry) from the base's observation
 * 'base': entry.base and entry.change. */
void bt__compare(json_t *entry, const bt_case *c, const json_t *base);
/* The summary of the case entries 'cases' (pass, fail, …, root-cause scores, runtimes, calls;
 * and changes when 'with_base'); 'side' is NULL for the head or "base" for the base's side of
 * each entry. */
json_t *bt__summary(const json_t *cases, const char *side, bool with_base);
/* confusion[expected][got] over the entries 'cases' that ran and expected a root cause. */
json_t *bt__confusion(const json_t *cases);
/* The problems in 'd' as strings, "file:line:column: field: message" (the parts known). */
json_t *bt__diag_texts(const rt_diag *d);
/* The 'q' quantile (0..1) of 'n' sorted values, by nearest rank; 0 when 'n' is 0. */
double bt__quantile(const double *sorted, size_t n, double q);

/* ---- The base revision (bt_base.c) ---------------------------------------------------------- */

typedef struct bt_base {
    char *tmp;       /* owned: the temporary folder, removed by bt__base_close */
    char commit[64]; /* the revision's commit */
    char *dirs[16];  /* owned: the analyzer path at that revision, in 'tmp' */
    size_t n_dirs;
} bt_base;

/* Materialises the analyzer path 'dirs' ('n_dirs' folders of the working tree) as it was at git
 * revision 'rev', without the case folders, in a new temporary folder. Returns RT_OK, or
 * RT_EUSAGE (not a git repository, a bad revision), RT_ENOTFOUND (git missing) or RT_EIO with
 * the problem in 'diag'. */
int bt__base_open(const char *rev, const char *const *dirs, size_t n_dirs, bt_base *base,
                  rt_diag *diag);
/* Removes the temporary folder and frees 'base'. Accepts a zeroed 'base'. */
void bt__base_close(bt_base *base);
/* The commit the working tree of the analyzer folder 'dir' is on ("HEAD"), in 'commit' (64
 * bytes); false when 'dir' is in no git repository or git is missing. */
bool bt__head_commit(const char *dir, char *commit);

#endif
