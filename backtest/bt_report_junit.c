/* backtest/bt_report_junit.c -- the backtest report as JUnit XML (bt_report_junit), the test
 * report format every CI system reads: a testsuite per analyzer, a testcase per case; a failure
 * for a case that fails (type "broken" when it passed on base), an error for one that is stale or
 * could not run, the root cause and findings in system-out. Reading the report is in
 * bt_report.c.
 *
 * The report's text may hold any bytes. XML 1.0 allows no control characters but tab, newline
 * and carriage return, and no U+FFFE or U+FFFF, in any form, escaped or not: those and bytes that
 * are no UTF-8 become U+FFFD; in attributes, tab and newlines are written as character references
 * so that parsers do not fold them into spaces. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt.h"
#include "bt_report_internal.h"

#define MESSAGE_CAP 500  /* bytes of a failure's message attribute */
#define TEXT_CAP    4000 /* bytes of one reason, error or request in a body */

/* Writes the first 'cap' bytes of 's' (cut at a character) as XML character data, or as an
 * attribute value when 'attr'. */
static void xml(FILE *out, const char *s, size_t cap, bool attr) {
    size_t n = s ? strlen(s) : 0, keep = s ? rt_utf8_cut(s, n, cap) : 0;
    for (size_t i = 0; i < keep;) {
        uint32_t cp;
        size_t len = bt__utf8_next(s + i, keep - i, &cp);
        if (cp == '&')
            fputs("&amp;", out);
        else if (cp == '<')
            fputs("&lt;", out);
        else if (cp == '>')
            fputs("&gt;", out);
        else if (cp == '"' && attr)
            fputs("&quot;", out);
        else if (cp == '\r' || ((cp == '\n' || cp == '\t') && attr))
            fprintf(out, "&#%u;", (unsigned)cp);
        else if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0xFFFE || cp == 0xFFFF ||
                 (cp == 0xFFFD && len == 1))
            fputs("\xEF\xBF\xBD", out);
        else
            fwrite(s + i, 1, len, out);
        i += len;
    }
    if (keep < n)
        fputs("…", out);
}

/* ' name="value"' with 'value' escaped. */
static void attr(FILE *out, const char *name, const char *value, size_t cap) {
    fprintf(out, " %s=\"", name);
    xml(out, value, cap, true);
    fputc('"', out);
}

static void attr_num(FILE *out, const char *name, size_t value) {
    fprintf(out, " %s=\"%zu\"", name, value);
}

/* Seconds with three decimals, as JUnit times are written. */
static void attr_time(FILE *out, double seconds) {
    fprintf(out, " time=\"%.3f\"", isfinite(seconds) && seconds > 0 ? seconds : 0.0);
}

static double case_seconds(const json_t *kase) {
    double ms;
    return bt__num(kase, "runtime_ms", &ms) ? ms / 1000 : 0;
}

/* Counts of a suite: JUnit's failures, errors and skipped. */
typedef struct counts {
    size_t tests, failures, errors, skipped;
    double seconds;
} counts;

static void count(counts *c, const json_t *kase) {
    bt__outcome o = bt__outcome_of(kase);
    c->tests++;
    c->failures += o == BT__FAIL;
    c->errors += o == BT__STALE || o == BT__ERROR;
    c->skipped += o == BT__NO_OUTCOME;
    c->seconds += case_seconds(kase);
}

/* ---- A testcase ----------------------------------------------------------------------------- */

/* The first reason of 'kase' (NULL when none), malloc'd. */
static char *first_reason(const json_t *kase) {
    const json_t *r = json_array_get(bt__list(kase, "reasons"), 0);
    return r ? bt__show(r) : NULL;
}

static void reasons_body(FILE *out, const json_t *kase) {
    const json_t *r;
    size_t i;
    json_array_foreach(bt__list(kase, "reasons"), i, r) {
        char *s = bt__show(r);
        if (*s) {
            xml(out, s, TEXT_CAP, false);
            fputc('\n', out);
        }
        free(s);
    }
}

static void failure_element(FILE *out, const json_t *kase) {
    bool broken = bt__change_of(kase) == BT__BROKEN;
    const char *budget = bt__str(kase, "budget");
    char *reason = first_reason(kase);
    char *message = bt__sfmt("%s%s", broken ? "broken (passed on base): " : "",
                             reason   ? reason
                             : budget ? budget
                                      : "not as expected");
    fputs("      <failure", out);
    attr(out, "type", broken ? "broken" : "fail", 16);
    attr(out, "message", message, MESSAGE_CAP);
    fputs(">", out);
    reasons_body(out, kase);
    if (budget) {
        fputs("budget hit: ", out);
        xml(out, budget, 100, false);
        fputc('\n', out);
    }
    fputs("</failure>\n", out);
    free(message);
    free(reason);
}

/* An error for a stale case (the request in the body) or one that could not run. */
static void error_element(FILE *out, const json_t *kase) {
    bool stale = bt__outcome_of(kase) == BT__STALE, broken = bt__change_of(kase) == BT__BROKEN;
    char *text =
        stale ? bt__request_text(bt__obj(kase, "stale_request"), TEXT_CAP) : bt__error_text(kase);
    char *first = text ? bt__sfmt("%.*s", (int)strcspn(text, "\n"), text) : NULL;
    char *message =
        stale ? bt__sfmt("%sstale: the recording holds no answer to %s",
                         broken ? "broken (passed on base): " : "", first ? first : "a request")
              : bt__sfmt("%s%s", broken ? "broken (passed on base): " : "",
                         text ? text : "the case could not run");
    fputs("      <error", out);
    attr(out, "type", stale ? "stale" : "error", 16);
    attr(out, "message", message, MESSAGE_CAP);
    fputs(">", out);
    if (text) {
        xml(out, text, TEXT_CAP, false);
        fputc('\n', out);
    }
    reasons_body(out, kase);
    fputs("</error>\n", out);
    free(message);
    free(first);
    free(text);
}

static void finding_lines(FILE *out, const json_t *side) {
    const json_t *f;
    size_t i;
    json_array_foreach(bt__list(side, "findings"), i, f) {
        const char *title = bt__str(f, "title"), *rc = bt__str(f, "root_cause");
        double confidence;
        fputs("  - ", out);
        xml(out, title ? title : "(untitled)", TEXT_CAP, false);
        fputs(" [", out);
        xml(out, rc ? rc : "no root cause", 200, false);
        if (bt__num(f, "confidence", &confidence))
            fprintf(out, ", %.2f", confidence);
        fputs("]\n", out);
    }
}

/* "label: value" on a line of system-out, when 'value' is there. */
static void out_line(FILE *out, const char *label, const char *value) {
    if (!value || !*value)
        return;
    fprintf(out, "%s: ", label);
    xml(out, value, TEXT_CAP, false);
    fputc('\n', out);
}

static void system_out(FILE *out, const json_t *kase) {
    const json_t *base = bt__obj(kase, "base");
    const char *expected = bt__expected_tag(kase);
    double calls, ms;
    fputs("      <system-out>", out);
    out_line(out, "case", bt__str(kase, "case"));
    out_line(out, "description", bt__str(kase, "description"));
    out_line(out, "root cause", bt__got_tag(kase));
    out_line(out, "expected root cause", expected ? expected : "(any)");
    out_line(out, "status", bt__str(kase, "status"));
    out_line(out, "conclusion", bt__str(kase, "conclusion"));
    if (json_array_size(bt__list(kase, "findings")))
        fputs("findings:\n", out);
    finding_lines(out, kase);
    if (bt__num(kase, "runtime_ms", &ms)) {
        char *text = bt__ms_text(ms);
        fprintf(out, "runtime: %s\n", text);
        free(text);
    }
    if (bt__num(kase, "connector_calls", &calls))
        fprintf(out, "connector calls: %.0f\n", calls);
    out_line(out, "change", bt__str(kase, "change"));
    if (base) {
        out_line(out, "base outcome", bt__str(base, "outcome"));
        out_line(out, "base root cause", bt__got_tag(base));
    }
    fputs("</system-out>\n", out);
}

static void testcase(FILE *out, const json_t *kase) {
    bt__outcome o = bt__outcome_of(kase);
    fputs("    <testcase", out);
    attr(out, "classname", bt__analyzer(kase), 1000);
    attr(out, "name", bt__case_name(kase), 1000);
    attr_time(out, case_seconds(kase));
    fputs(">\n", out);
    if (o == BT__FAIL)
        failure_element(out, kase);
    else if (o == BT__STALE || o == BT__ERROR)
        error_element(out, kase);
    else if (o == BT__NO_OUTCOME)
        fputs("      <skipped message=\"the report gives no outcome\"/>\n", out);
    system_out(out, kase);
    fputs("    </testcase>\n", out);
}

/* ---- Suites --------------------------------------------------------------------------------- */

/* The report's id and revisions; nothing when it has none (JUnit's schema wants at least one
 * property in a properties element). */
static void properties(FILE *out, const json_t *report) {
    static const char *const sides[] = {"head", "base"};
    if (!bt__str(report, "id") && !bt__str(bt__obj(report, "head"), "rev") &&
        !bt__str(bt__obj(report, "head"), "commit") && !bt__str(bt__obj(report, "base"), "rev") &&
        !bt__str(bt__obj(report, "base"), "commit"))
        return;
    fputs("    <properties>\n", out);
    if (bt__str(report, "id")) {
        fputs("      <property name=\"report\"", out);
        attr(out, "value", bt__str(report, "id"), 200);
        fputs("/>\n", out);
    }
    for (int s = 0; s < 2; s++) {
        const json_t *side = bt__obj(report, sides[s]);
        const char *rev = bt__str(side, "rev"), *commit = bt__str(side, "commit");
        if (rev) {
            fprintf(out, "      <property name=\"%s\"", sides[s]);
            attr(out, "value", rev, 200);
            fputs("/>\n", out);
        }
        if (commit) {
            fprintf(out, "      <property name=\"%s.commit\"", sides[s]);
            attr(out, "value", commit, 200);
            fputs("/>\n", out);
        }
    }
    fputs("    </properties>\n", out);
}

static void suite(FILE *out, const json_t *report, const bt__group *g) {
    counts c = {0};
    for (size_t i = 0; i < g->n; i++)
        count(&c, g->cases[i]);
    fputs("  <testsuite", out);
    attr(out, "name", g->analyzer, 1000);
    attr_num(out, "tests", c.tests);
    attr_num(out, "failures", c.failures);
    attr_num(out, "errors", c.errors);
    attr_num(out, "skipped", c.skipped);
    attr_time(out, c.seconds);
    if (bt__str(report, "started_at"))
        attr(out, "timestamp", bt__str(report, "started_at"), 40);
    fputs(">\n", out);
    properties(out, report);
    for (size_t i = 0; i < g->n; i++)
        testcase(out, g->cases[i]);
    fputs("  </testsuite>\n", out);
}

void bt_report_junit(const json_t *report, FILE *out) {
    bt__group *groups;
    size_t n = bt__groups(report, &groups);
    counts all = {0};
    const json_t *kase;
    size_t i;
    double secs;
    json_array_foreach(bt__list(report, "cases"), i, kase) count(&all, kase);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"inquest backtest\"", out);
    attr_num(out, "tests", all.tests);
    attr_num(out, "failures", all.failures);
    attr_num(out, "errors", all.errors);
    attr_num(out, "skipped", all.skipped);
    attr_time(out, bt__num(report, "duration_s", &secs) ? secs : all.seconds);
    fputs(">\n", out);
    for (size_t g = 0; g < n; g++)
        suite(out, report, &groups[g]);
    fputs("</testsuites>\n", out);
    bt__groups_free(groups, n);
}
