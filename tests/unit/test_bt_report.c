/* tests/unit/test_bt_report.c -- the backtest report's renderings and its keeping on disk
 * (backtest/bt_report*.c) with the fixture reports of tests/fixtures/backtest-reports/: their
 * exact output (golden <fixture>.txt, .md and .xml files beside them; BT_REPORT_UPDATE=1 in the
 * environment rewrites those, to review as a diff), that the JUnit XML parses, that Markdown
 * escaping holds against hostile names and reasons, that a comment stays under GitHub's size
 * limit, that reports with absent, null and oddly typed members render, and bt_report_save. */
#define _POSIX_C_SOURCE 200809L /* open_memstream, mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "bt.h"
#include "bt_report_internal.h"

#ifndef TESTS_DIR
#define TESTS_DIR "tests"
#endif
#define FIXTURES TESTS_DIR "/fixtures/backtest-reports"

static const char *const fixtures[] = {"head-only", "with-base", "hostile", "empty", "nulls"};
#define N_FIXTURES (sizeof fixtures / sizeof *fixtures)

/* ---- helpers -------------------------------------------------------------------------------- */

static json_t *load(const char *name) {
    char path[512];
    json_error_t err;
    snprintf(path, sizeof path, FIXTURES "/%s.json", name);
    json_t *report = json_load_file(path, 0, &err);
    if (!report)
        fail_msg("%s:%d: %s", path, err.line, err.text);
    return report;
}

typedef enum kind { TEXT, COLOR, MARKDOWN, JUNIT } kind;

/* The rendering 'k' of 'report', malloc'd. Out of line: inlined, GCC 12 takes the buffer that
 * open_memstream hands back through 'text' for a pointer to 'text' itself (-Wdangling-pointer). */
__attribute__((noinline)) static char *render(kind k, const json_t *report) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    if (k == TEXT || k == COLOR)
        bt_report_text(report, out, k == COLOR);
    else if (k == MARKDOWN)
        bt_report_markdown(report, out);
    else
        bt_report_junit(report, out);
    fclose(out);
    return text;
}

/* Compares 'text' with golden file <fixture>.<ext>, or writes it when BT_REPORT_UPDATE is set. */
static void golden(const char *fixture, const char *ext, const char *text) {
    char path[512], *want = NULL, why[256];
    size_t len;
    snprintf(path, sizeof path, FIXTURES "/%s.%s", fixture, ext);
    if (getenv("BT_REPORT_UPDATE")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        return;
    }
    if (rt_file_read(path, 1 << 20, &want, &len, why) != RT_OK)
        fail_msg("%s (BT_REPORT_UPDATE=1 writes the golden files)", why);
    if (strcmp(want, text) != 0) {
        size_t line = 1, i = 0;
        for (; want[i] && want[i] == text[i]; i++)
            line += want[i] == '\n';
        size_t from = i;
        while (from > 0 && want[from - 1] != '\n')
            from--;
        fail_msg("%s differs at line %zu:\n  want: %.*s\n  got:  %.*s\n(BT_REPORT_UPDATE=1 "
                 "rewrites the golden files)",
                 path, line, (int)strcspn(want + from, "\n"), want + from,
                 (int)strcspn(text + from, "\n"), text + from);
    }
    free(want);
}

/* Fails unless 'xml' is well-formed XML, as python3's parser (what CI has) reads it. */
static void assert_xml_parses(const char *xml, const char *what) {
#ifndef PYTHON3
    (void)xml;
    fail_msg("%s: no python3 was found when the tests were configured: it checks the JUnit XML",
             what);
#else
    char path[] = "/tmp/test_bt_report_XXXXXX", cmd[1024];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(xml, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "'%s' -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' '%s'",
             PYTHON3, path);
    int rc = system(cmd);
    unlink(path);
    if (rc != 0)
        fail_msg("%s: the JUnit XML does not parse (python3 exit %d):\n%s", what, rc, xml);
#endif
}

static void assert_starts(const char *s, const char *prefix) {
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("want a start of\n%s\ngot\n%.*s", prefix, (int)strlen(prefix) + 20, s);
}

static size_t count(const char *s, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static json_t *huge_report(size_t n, size_t tags);

/* ---- golden files --------------------------------------------------------------------------- */

static void test_golden_text(void **state) {
    (void)state;
    for (size_t i = 0; i < N_FIXTURES; i++) {
        json_t *report = load(fixtures[i]);
        char *text = render(TEXT, report);
        golden(fixtures[i], "txt", text);
        free(text);
        json_decref(report);
    }
}

static void test_golden_markdown(void **state) {
    (void)state;
    for (size_t i = 0; i < N_FIXTURES; i++) {
        json_t *report = load(fixtures[i]);
        char *md = render(MARKDOWN, report);
        golden(fixtures[i], "md", md);
        free(md);
        json_decref(report);
    }
}

static void test_golden_junit(void **state) {
    (void)state;
    for (size_t i = 0; i < N_FIXTURES; i++) {
        json_t *report = load(fixtures[i]);
        char *xml = render(JUNIT, report);
        golden(fixtures[i], "xml", xml);
        assert_xml_parses(xml, fixtures[i]);
        free(xml);
        json_decref(report);
    }
}

/* ---- the terminal table --------------------------------------------------------------------- */

static void test_text_fits_80_columns(void **state) {
    (void)state;
    for (size_t i = 0; i < N_FIXTURES; i++) {
        json_t *report = load(fixtures[i]);
        char *text = render(TEXT, report), *save = NULL;
        size_t n = 0;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            n++;
            if (bt__width(line) > 80)
                fail_msg("%s: line %zu is %zu columns wide: %s", fixtures[i], n, bt__width(line),
                         line);
        }
        free(text);
        json_decref(report);
    }
}

/* Drops the SGR sequences ("\033[...m") that colour adds. */
static char *strip_sgr(const char *s) {
    char *out = rt_xmalloc(strlen(s) + 1), *o = out;
    while (*s) {
        if (s[0] == '\033' && s[1] == '[') {
            s += 2 + strspn(s + 2, "0123456789;");
            assert_int_equal(*s, 'm');
            s++;
            continue;
        }
        *o++ = *s++;
    }
    *o = '\0';
    return out;
}

static void test_text_colour_only_when_asked(void **state) {
    (void)state;
    json_t *report = load("with-base");
    char *plain = render(TEXT, report), *color = render(COLOR, report), *stripped;
    assert_null(strchr(plain, '\033'));
    assert_non_null(strstr(color, "\033[31mbroken\033[0m"));
    assert_non_null(strstr(color, "\033[32mfixed\033[0m"));
    stripped = strip_sgr(color);
    assert_string_equal(stripped, plain);
    free(stripped);
    free(color);
    free(plain);
    json_decref(report);
}

/* Escape sequences, bells and bidirectional overrides in names do not reach the terminal. */
static void test_text_neutralises_controls(void **state) {
    (void)state;
    json_t *report = load("hostile");
    char *text = render(TEXT, report);
    assert_null(strchr(text, '\033'));
    assert_null(strchr(text, '\a'));
    assert_null(strchr(text, '\r'));
    assert_null(strstr(text, "\xE2\x80\xAE")); /* U+202E */
    assert_non_null(strstr(text, "\xEF\xBF\xBD[31mred"));
    free(text);
    json_decref(report);
}

static void test_widths(void **state) {
    (void)state;
    char *s;
    assert_int_equal(bt__width("abc"), 3);
    assert_int_equal(bt__width("日本語"), 6);
    assert_int_equal(bt__width("e\xCC\x81"), 1); /* e and a combining acute */
    assert_int_equal(bt__width("🔥"), 2);
    assert_string_equal(s = bt__fit("日本語のケース", 7), "日本語…");
    free(s);
    assert_string_equal(s = bt__fit("abcdef", 6), "abcdef");
    free(s);
    assert_string_equal(s = bt__fit("abcdefg", 6), "abcde…");
    free(s);
    assert_string_equal(s = bt__clean("a\xff\tb\nc\x1b", 100, false),
                        "a\xEF\xBF\xBD b c\xEF\xBF\xBD");
    free(s);
    assert_string_equal(s = bt__clean("a\r\nb", 100, true), "a\nb");
    free(s);
    assert_string_equal(s = bt__clean("abcdef", 3, false), "abc…");
    free(s);
}

/* Past 12 tags the matrix would not fit: the non-zero pairs, most cases first. */
static void test_text_confusion_pairs(void **state) {
    (void)state;
    json_t *report = huge_report(3, 15);
    char *text = render(TEXT, report);
    const char *pairs = strstr(text, "Root causes (rows: expected, columns: got)\n");
    assert_non_null(pairs);
    assert_starts(strchr(pairs, '\n') + 1, "  tag-014 → tag-014");
    assert_non_null(strstr(pairs, "  … 201 more pairs\n")); /* 225 cells, 24 shown */
    free(text);
    json_decref(report);
}

/* ---- Markdown ------------------------------------------------------------------------------- */

/* 'md' without its code: fenced blocks and inline code spans (CommonMark: a run of n backticks
 * up to the next run of exactly n) are replaced by "CODE". What is left is what GitHub parses as
 * Markdown and HTML. */
static char *strip_code(const char *md) {
    bt__buf out = {0};
    const char *p = md;
    while (*p) {
        size_t run = strspn(p, "`");
        bool line_start = p == md || p[-1] == '\n';
        if (run >= 3 && line_start) { /* a fence: up to a line of at least as many backticks */
            const char *q = strchr(p, '\n');
            for (; q; q = strchr(q + 1, '\n'))
                if (strspn(q + 1, "`") >= run && q[1 + strspn(q + 1, "`")] == '\n')
                    break;
            if (!q) {
                fail_msg("a fence of %zu backticks is not closed", run);
                break;
            }
            p = q + 1 + strspn(q + 1, "`");
            bt__puts(&out, "CODE");
            continue;
        }
        if (run) {
            const char *q = p + run;
            for (; *q; q++) {
                size_t r = strspn(q, "`");
                if (r == run)
                    break;
                q += r ? r - 1 : 0;
            }
            assert_true(*q); /* every span is closed */
            p = q + run;
            bt__puts(&out, "CODE");
            continue;
        }
        bt__put(&out, p++, 1);
    }
    return out.data;
}

/* Every table row has the columns of its table's header: no pipe from the report splits one. */
static void assert_tables_hold(const char *md) {
    char *copy = rt_xstrdup(md), *save = NULL;
    size_t columns = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t pipes = 0;
        if (line[0] != '|') {
            columns = 0;
            continue;
        }
        for (char *p = line; *p; p++)
            pipes += *p == '|' && (p == line || p[-1] != '\\');
        if (!columns)
            columns = pipes;
        if (pipes != columns)
            fail_msg("a row with %zu pipes in a table of %zu: %s", pipes, columns, line);
    }
    free(copy);
}

/* Outside code, '<' opens only the renderer's own tags. */
static void assert_no_foreign_html(const char *md) {
    static const char *const ours[] = {"<br>",       "<sub>",     "</sub>",    "<details>",
                                       "</details>", "<summary>", "</summary>"};
    char *text = strip_code(md);
    for (const char *p = strchr(text, '<'); p; p = strchr(p + 1, '<')) {
        bool known = false;
        for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
            known = known || strncmp(p, ours[i], strlen(ours[i])) == 0;
        if (!known)
            fail_msg("HTML from the report reaches the comment: %.40s", p);
    }
    free(text);
}

static void test_markdown_escaping(void **state) {
    (void)state;
    json_t *report = load("hostile");
    char *md = render(MARKDOWN, report), *text = strip_code(md);
    assert_tables_hold(md);
    assert_no_foreign_html(md);
    /* Mentions are broken by a word joiner; code spans hold no mention at all. */
    assert_null(strstr(text, "@octocat"));
    assert_non_null(strstr(text, "@\xE2\x81\xA0octocat please look"));
    /* Markdown's syntax from a reason is text: no link, image or emphasis, entities as text. */
    assert_non_null(strstr(text, "!\\[img\\](http://evil/x.png) \\[link\\](javascript:alert(1)) "
                                 "\\*\\*bold\\*\\* \\_it\\_ \\~\\~s\\~\\~ \\$x\\$ &amp;lt;"));
    assert_non_null(strstr(text, "line one line two \\| with pipe"));
    assert_non_null(strstr(text, "a\\\\\\|b backslash pipe"));
    /* No control character, carriage return or bidirectional override gets through. */
    for (const char *p = md; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\n')
            fail_msg("control character 0x%02x in the Markdown", (unsigned char)*p);
    assert_null(strstr(md, "\xE2\x80\xAE"));
    assert_null(strstr(md, "\xE2\x80\xA8"));
    /* The verdict counts the cases, from the cases. */
    assert_starts(md, "## ❌ 2 cases broken by this change, 1 new case does not pass\n");
    /* A name that ends in a backtick stays in its span. */
    assert_non_null(strstr(md, "`` ends-with-backtick` ``"));
    /* The fence of a stale request's body is longer than the body's own. */
    assert_non_null(strstr(md, "`````text\nprom|x GET /q?a=<b>&c=`d`\n````\n``` inner fence\n"));
    free(text);
    free(md);
    json_decref(report);
}

static void test_markdown_verdicts(void **state) {
    (void)state;
    static const struct {
        const char *fixture, *headline;
    } cases[] = {
        {"head-only", "## ❌ 4 of 6 cases do not pass\n"},
        /* its broken-case cannot be read: in error on both sides, it fails the job too */
        {"with-base", "## ❌ 3 cases broken by this change, 1 new case does not pass, 1 case in "
                      "error on head and on base\n"},
        {"empty", "## ⚠️ No case was backtested\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *report = load(cases[i].fixture);
        char *md = render(MARKDOWN, report);
        assert_starts(md, cases[i].headline);
        free(md);
        json_decref(report);
    }
    json_t *good =
        json_pack("{s:[{s:s,s:s,s:s},{s:s,s:s,s:s}],s:{s:s}}", "cases", "case", "a.cases/one",
                  "outcome", "pass", "change", "fixed", "case", "a.cases/two", "outcome", "pass",
                  "change", "unchanged", "base", "rev", "main");
    char *md = render(MARKDOWN, good);
    assert_starts(md, "## ✅ No case got worse (2 cases)\n");
    free(md);
    /* A new case must pass, as bt_exit_code has it. */
    json_array_append_new(
        json_object_get(good, "cases"),
        json_pack("{s:s,s:s,s:s}", "case", "b.cases/three", "outcome", "fail", "change", "new"));
    md = render(MARKDOWN, good);
    assert_starts(md, "## ❌ 1 new case does not pass\n");
    free(md);
    /* Nor can a case that did not run on base be shown no worse: it must pass too. */
    json_array_append_new(json_object_get(good, "cases"),
                          json_pack("{s:s,s:s,s:s,s:{s:s}}", "case", "b.cases/four", "outcome",
                                    "stale", "change", "changed", "base", "outcome", "error"));
    json_array_append_new(json_object_get(good, "cases"),
                          json_pack("{s:s,s:s,s:s,s:{s:s}}", "case", "b.cases/five", "outcome",
                                    "error", "change", "unchanged", "base", "outcome", "error"));
    md = render(MARKDOWN, good);
    assert_starts(md, "## ❌ 1 new case does not pass, 1 case in error on head and on base, 1 case "
                      "does not pass and did not run on base\n");
    assert_int_equal(bt_exit_code(good), 1);
    free(md);
    json_decref(good);
}

/* A report of 'n' cases, each broken, stale or fixed with long reasons and bodies, and 'tags'
 * root-cause tags in its confusion. */
static json_t *huge_report(size_t n, size_t tags) {
    json_t *cases = json_array(), *conf = json_object();
    char name[128], reason[400];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "analyzers/a/b.cases/case-%05zu-with-a-rather-long-name", i);
        json_t *reasons =
            json_pack("[s,s,s,s,s,s]", reason, reason, reason, reason, reason, reason);
        json_t *kase = json_pack(
            "{s:s,s:s,s:s,s:o,s:s,s:f,s:i,s:{s:s}}", "case", name, "analyzer", "a.b", "outcome",
            i % 3 == 2 ? "pass"
            : i % 3    ? "stale"
                       : "fail",
            "reasons", reasons, "change", i % 3 == 2 ? "fixed" : "broken", "runtime_ms", 4.2,
            "connector_calls", 10, "base", "outcome", i % 3 == 2 ? "fail" : "pass");
        if (i % 3 == 1)
            json_object_set_new(kase, "stale_request",
                                json_pack("{s:s,s:s,s:s,s:s%}", "connector", "prom", "method",
                                          "POST", "path", "/api/v1/query", "body", reason,
                                          (size_t)300));
        json_array_append_new(cases, kase);
    }
    for (size_t i = 0; i < tags; i++) {
        json_t *row = json_object();
        snprintf(name, sizeof name, "tag-%03zu", i);
        for (size_t j = 0; j < tags; j++) {
            char got[32];
            snprintf(got, sizeof got, "tag-%03zu", j);
            json_object_set_new(row, got, json_integer((json_int_t)i + (json_int_t)j + 1));
        }
        json_object_set_new(conf, name, row);
    }
    return json_pack("{s:s,s:{s:s},s:o,s:o}", "id", "bt-huge", "base", "rev", "main", "cases",
                     cases, "confusion", conf);
}

/* Each <details> closed, each fence closed, no table cut. */
static void assert_well_formed(const char *md) {
    assert_int_equal(count(md, "<details>"), count(md, "</details>"));
    free(strip_code(md)); /* fails on an unclosed fence or span */
    assert_tables_hold(md);
}

static void test_markdown_truncates_to_fit_a_comment(void **state) {
    (void)state;
    json_t *report = huge_report(3000, 40);
    char *md = render(MARKDOWN, report);
    size_t bytes = strlen(md);
    assert_true(bytes <= 65536);
    assert_true(rt_utf8_count(md, bytes) <= 65536);
    assert_true(bytes > 50000); /* the room is used, not wasted */
    assert_starts(md, "## ❌ 2000 cases broken by this change\n");
    assert_non_null(strstr(md, "more changed cases not shown"));
    assert_non_null(strstr(md, "more stale cases not shown"));
    assert_non_null(strstr(md, "more cases not shown"));
    assert_non_null(strstr(md, "<summary>Root causes: expected × got</summary>"));
    assert_non_null(strstr(md, "more pairs not shown"));
    assert_well_formed(md);
    free(md);
    json_decref(report);

    /* Nothing changed: the list of every case is what gets cut. */
    json_t *quiet = json_pack("{s:{s:s},s:[]}", "base", "rev", "main", "cases");
    for (size_t i = 0; i < 5000; i++)
        json_array_append_new(json_object_get(quiet, "cases"),
                              json_pack("{s:s,s:s,s:s,s:s}", "case", "x.cases/some-case-name",
                                        "analyzer", "x", "outcome", "pass", "change", "unchanged"));
    md = render(MARKDOWN, quiet);
    assert_true(strlen(md) <= 65536);
    assert_non_null(strstr(md, "## ✅ No case got worse (5000 cases)"));
    assert_non_null(strstr(md, "more cases not shown"));
    assert_well_formed(md);
    free(md);
    json_decref(quiet);
}

/* ---- reports with anything missing ---------------------------------------------------------- */

static void test_absent_members(void **state) {
    (void)state;
    json_t *reports[] = {
        NULL,          json_null(),           json_array(),
        json_object(), json_string("report"), json_pack("{s:[n,i,{}]}", "cases", 1)};
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++) {
        for (kind k = TEXT; k <= JUNIT; k++) {
            char *out = render(k, reports[i]);
            assert_true(rt_utf8_valid(out, strlen(out)));
            if (k == JUNIT)
                assert_xml_parses(out, "a report with absent members");
            free(out);
        }
        json_decref(reports[i]);
    }
}

#define BAD_NAME   "x.cases/bad\xff\xfe-\xc3"
#define BAD_REASON "\xed\xa0\x80 surrogate \xc0\xaf" /* a surrogate, an overlong '/' */

/* Text that is no UTF-8 (jansson keeps what json_stringn_nocheck gives it) comes out repaired. */
static void test_invalid_utf8_and_controls(void **state) {
    (void)state;
    char controls[40];
    for (int c = 1; c < 32; c++)
        controls[c - 1] = (char)c;
    controls[31] = '\0';
    json_t *kase =
        json_pack("{s:s,s:s,s:[s]}", "analyzer", "a", "outcome", "fail", "reasons", controls);
    json_object_set_new(kase, "case", json_stringn_nocheck(BAD_NAME, sizeof BAD_NAME - 1));
    json_array_append_new(json_object_get(kase, "reasons"),
                          json_stringn_nocheck(BAD_REASON, sizeof BAD_REASON - 1));
    json_t *report = json_pack("{s:[o]}", "cases", kase);
    for (kind k = TEXT; k <= JUNIT; k++) {
        char *out = render(k, report);
        assert_true(rt_utf8_valid(out, strlen(out)));
        assert_non_null(strstr(out, "bad\xEF\xBF\xBD\xEF\xBF\xBD-\xEF\xBF\xBD"));
        if (k == JUNIT) {
            assert_xml_parses(out, "a report with bytes that are no UTF-8");
            /* tab and newline kept in the body, as references in the message attribute */
            assert_non_null(strstr(out, "message=\"\xEF\xBF\xBD\xEF\xBF\xBD"));
            assert_non_null(strstr(out, "&#9;&#10;"));
            assert_non_null(strstr(out, "&#13;"));
        }
        free(out);
    }
    json_decref(report);
}

/* ---- keeping a report ----------------------------------------------------------------------- */

static void test_save(void **state) {
    (void)state;
    char tmp[] = "/tmp/test_bt_report_XXXXXX", dir[600], path[700], why[256] = "", *text, *want;
    size_t len;
    assert_non_null(mkdtemp(tmp));
    snprintf(dir, sizeof dir, "%s/reports/nested", tmp);
    json_t *report = load("with-base");
    assert_int_equal(bt_report_save(report, dir, why), RT_OK);
    snprintf(path, sizeof path, "%s/20261122T081000Z-bt-20261122T081000Z-9c1e.json", dir);
    assert_int_equal(rt_file_read(path, 1 << 20, &text, &len, why), RT_OK);
    want = rt_json_canonical(report);
    assert_int_equal(len, strlen(want) + 1);
    assert_true(strncmp(text, want, strlen(want)) == 0 && text[len - 1] == '\n');
    free(text);
    free(want);
    /* Saving again replaces the file; nothing else is left in the folder. */
    assert_int_equal(bt_report_save(report, dir, why), RT_OK);
    DIR *d = opendir(dir);
    size_t files = 0;
    for (struct dirent *e; (e = readdir(d));)
        files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 1);
    json_decref(report);

    /* An id cannot lead out of the folder. */
    report = load("hostile");
    assert_int_equal(bt_report_save(report, dir, why), RT_OK);
    snprintf(path, sizeof path, "%s/20261122T090000Z-_._.._evil_id__x_.json", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    json_decref(report);

    /* Errors say what is wrong and where. */
    snprintf(path, sizeof path, "%s/20261122T090000Z-_._.._evil_id__x_.json/sub", dir);
    report = load("empty");
    assert_int_equal(bt_report_save(report, path, why), RT_EIO);
    assert_non_null(strstr(why, "cannot create folder"));
    assert_non_null(strstr(why, "evil_id__x_.json/sub: Not a directory"));
    assert_int_equal(bt_report_save(report, "", why), RT_EUSAGE);
    assert_string_equal(why, "cannot keep the backtest report: no folder given");
    json_decref(report);
    report = json_array();
    assert_int_equal(bt_report_save(report, dir, why), RT_EINPUT);
    assert_string_equal(why, "cannot keep the backtest report: it is no JSON object");
    json_decref(report);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", tmp);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_text),
        cmocka_unit_test(test_golden_markdown),
        cmocka_unit_test(test_golden_junit),
        cmocka_unit_test(test_text_fits_80_columns),
        cmocka_unit_test(test_text_colour_only_when_asked),
        cmocka_unit_test(test_text_neutralises_controls),
        cmocka_unit_test(test_widths),
        cmocka_unit_test(test_text_confusion_pairs),
        cmocka_unit_test(test_markdown_escaping),
        cmocka_unit_test(test_markdown_verdicts),
        cmocka_unit_test(test_markdown_truncates_to_fit_a_comment),
        cmocka_unit_test(test_absent_members),
        cmocka_unit_test(test_invalid_utf8_and_controls),
        cmocka_unit_test(test_save),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
