/* backtest/bt_capture.c -- turning a run into a backtest case (docs/backtest.md, "Making
 * cases"): the expectation a result makes, and writing a case folder (case.json beside
 * recording.json). `inquest record` and `inquest case from-analysis` (integrations/ig_cmd_case.c)
 * use it; reading cases back is bt_case.c's.
 *
 * The expectation is what the run found, written so that the same run passes it: its status,
 * conclusion, top root cause and each finding by root cause and title. Titles become anchored
 * PCRE2 patterns with every metacharacter escaped, so a title with "(" or "." matches itself and
 * nothing longer; the author loosens them by hand where the wording may change. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen, fsync */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bt.h"
#include "pp.h"

#define CASE_SCHEMA "inquest.case/v1"
#define PATH_BYTES  4096

/* ---- the expectation --------------------------------------------------------------------- */

/* 'n' bytes of 'title' as a PCRE2 pattern that matches exactly it: anchored with ^ and \z (not
 * $, which also matches before a final newline), metacharacters escaped, NUL written as \x{0}
 * (patterns are C strings). NULL when out of memory. */
static json_t *title_pattern(const char *title, size_t n) {
    static const char meta[] = "\\^$.|?*+()[]{}";
    char *out = malloc(n * 6 + 4), *p = out; /* \x{0} is the longest: 5 bytes for 1 */
    if (!out)
        return NULL;
    *p++ = '^';
    for (size_t i = 0; i < n; i++) {
        if (title[i] == '\0') {
            memcpy(p, "\\x{0}", 5);
            p += 5;
            continue;
        }
        if (strchr(meta, title[i]))
            *p++ = '\\';
        *p++ = title[i];
    }
    memcpy(p, "\\z", 2);
    p += 2;
    json_t *pattern = json_stringn(out, (size_t)(p - out));
    free(out);
    return pattern;
}

/* The expectation of one finding: its root cause and its title as a pattern; NULL when it has
 * neither (nothing to match it by). */
static json_t *finding_expect(const json_t *finding) {
    json_t *rc = json_object_get(finding, "root_cause"), *title = json_object_get(finding, "title");
    json_t *e = json_object();
    if (json_is_string(rc))
        json_object_set(e, "root_cause", rc);
    if (json_is_string(title)) {
        json_t *pattern = title_pattern(json_string_value(title), json_string_length(title));
        if (pattern)
            json_object_set_new(e, "title", pattern);
    }
    if (json_object_size(e) == 0) {
        json_decref(e);
        return NULL;
    }
    return e;
}

/* True when 'list' holds a value equal to 'v'. */
static bool listed(const json_t *list, const json_t *v) {
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
        if (json_equal(x, v))
            return true;
    }
    return false;
}

json_t *bt_expect_from_result(const json_t *result) {
    json_t *expect = json_object(), *findings = json_array(), *f;
    json_t *status = json_object_get(result, "status");
    json_t *tag = json_object_get(json_object_get(result, "conclusion"), "tag");
    json_t *all = json_object_get(result, "findings");
    const json_t *top = pp_top_finding(result); /* the one the backtest and the rules judge */
    json_t *cause = top ? json_object_get(top, "root_cause") : NULL;
    size_t i;
    /* A result without a status did not come from the engine; "error" is what it amounts to. */
    json_object_set_new(expect, "status",
                        json_is_string(status) ? json_incref(status) : json_string("error"));
    if (json_is_string(tag))
        json_object_set(expect, "conclusion", tag);
    json_object_set_new(expect, "root_cause",
                        json_is_string(cause) ? json_incref(cause) : json_null());
    json_array_foreach(all, i, f) {
        json_t *e = json_is_object(f) ? finding_expect(f) : NULL;
        if (e && !listed(findings, e))
            json_array_append(findings, e);
        json_decref(e);
    }
    json_object_set_new(expect, "findings", findings);
    return expect;
}

/* ---- a person's verdict ------------------------------------------------------------------ */

/* 'findings' without those whose root cause is 'cause' (the run's wrong one): a new array. */
static json_t *without_cause(const json_t *findings, const char *cause) {
    json_t *kept = json_array(), *f;
    size_t i;
    json_array_foreach(findings, i, f) {
        const char *rc = json_string_value(json_object_get(f, "root_cause"));
        if (!rc || strcmp(rc, cause) != 0)
            json_array_append(kept, f);
    }
    return kept;
}

/* Adds { "root_cause": 'cause' } to the expectation's `absent`, once. */
static void add_absent(json_t *expect, const char *cause) {
    json_t *absent = json_object_get(expect, "absent");
    if (!json_is_array(absent)) {
        absent = json_array();
        json_object_set_new(expect, "absent", absent);
    }
    json_t *item = json_pack("{s:s}", "root_cause", cause);
    if (!listed(absent, item))
        json_array_append(absent, item);
    json_decref(item);
}

json_t *bt_expect_with_feedback(const json_t *expect, const json_t *feedback, char *what) {
    json_t *e = json_deep_copy(expect);
    const char *verdict = json_string_value(json_object_get(feedback, "verdict"));
    const char *fix = json_string_value(json_object_get(feedback, "root_cause"));
    const char *ran = json_string_value(json_object_get(e, "root_cause"));
    char said[256] = "";
    if (!json_is_object(e)) {
        json_decref(e);
        e = json_object();
    }
    if (fix && !*fix)
        fix = NULL;
    if (verdict && strcmp(verdict, "wrong") == 0) {
        /* What the run blamed is what must not be blamed again; its findings are not wanted. */
        char *old = ran ? rt_xstrdup(ran) : NULL;
        if (old) {
            json_object_set_new(e, "findings", without_cause(json_object_get(e, "findings"), old));
            if (!fix || strcmp(fix, old) != 0)
                add_absent(e, old);
        }
        json_object_del(e, "conclusion");
        if (fix)
            json_object_set_new(e, "root_cause", json_string(fix));
        else
            json_object_del(e, "root_cause");
        snprintf(said, sizeof said, "judged wrong: %s%.64s%s%s%.64s", fix ? "expects " : "",
                 fix ? fix : "", fix && old ? ", " : "", old ? "expects absent " : "",
                 old ? old : "");
        if (!fix && !old)
            snprintf(said, sizeof said, "judged wrong: expects no root cause in particular");
        free(old);
    } else if (verdict && strcmp(verdict, "partly") == 0 && fix) {
        json_object_set_new(e, "root_cause", json_string(fix));
        snprintf(said, sizeof said, "judged partly right: expects root cause %.64s", fix);
    } else if (verdict)
        snprintf(said, sizeof said, "judged %.16s: the expectation is the run's", verdict);
    if (what)
        snprintf(what, 256, "%s", said);
    return e;
}

/* ---- the case document ------------------------------------------------------------------- */

void bt_case_description(const char *id, const char *submitted_at, const json_t *feedback,
                         char *out, size_t size) {
    const char *verdict = json_string_value(json_object_get(feedback, "verdict"));
    const char *by = json_string_value(json_object_get(feedback, "by"));
    const char *note = json_string_value(json_object_get(feedback, "note"));
    /* Whole first, then cut at a character: snprintf would cut one in the middle. */
    size_t cap = strlen(note ? note : "") + 512;
    char *text = rt_xmalloc(cap);
    int n = snprintf(text, cap, "analysis %.64s, submitted %.40s", id,
                     submitted_at ? submitted_at : "at an unknown time");
    if (verdict)
        n += snprintf(text + n, cap - (size_t)n, "; judged %.16s%s%.80s", verdict, by ? " by " : "",
                      by ? by : "");
    if (verdict && note && *note)
        snprintf(text + n, cap - (size_t)n, ": %s", note);
    size_t len = size ? rt_utf8_cut(text, strlen(text), size - 1) : 0;
    if (size) {
        memcpy(out, text, len);
        out[len] = '\0';
    }
    free(text);
}

json_t *bt_case_doc(const char *analyzer, const char *description, json_t *inputs, double now,
                    const char *id, json_t *expect) {
    json_t *kase = json_object();
    char text[40];
    json_object_set_new(kase, "schema", json_string(CASE_SCHEMA));
    json_object_set_new(kase, "analyzer", json_string(analyzer));
    if (description) /* json_string refuses text that is not UTF-8: then it is left out */
        json_object_set_new(kase, "description", json_string(description));
    if (!json_is_object(inputs)) {
        json_decref(inputs);
        inputs = json_object();
    }
    json_object_set_new(kase, "inputs", inputs);
    if (now > 0) {
        rt_time_format(now, text);
        json_object_set_new(kase, "now", json_string(text));
    }
    if (id)
        json_object_set_new(kase, "id", json_string(id));
    json_object_set_new(kase, "expect", expect);
    return kase;
}

/* ---- writing a case folder --------------------------------------------------------------- */

/* 'dir'/'name' into 'out' (PATH_BYTES); false when it does not fit. */
static bool join(char *out, const char *dir, const char *name) {
    int n = snprintf(out, PATH_BYTES, "%s/%s", dir, name);
    return n > 0 && n < PATH_BYTES;
}

/* Makes folder 'dir' and its parents (mkdir -p). 0, or -1 with errno set. */
static int make_dirs(const char *dir) {
    char path[PATH_BYTES];
    size_t n = strlen(dir);
    if (n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Checks what a case document must hold before anything is written. */
static int check_case(const json_t *kase, char *why) {
    const char *schema = json_string_value(json_object_get(kase, "schema"));
    const char *analyzer = json_string_value(json_object_get(kase, "analyzer"));
    if (!json_is_object(kase) || !schema || strcmp(schema, CASE_SCHEMA) != 0) {
        snprintf(why, 256, "a case needs \"schema\": \"%s\"", CASE_SCHEMA);
        return RT_EINPUT;
    }
    if (!analyzer || !*analyzer) {
        snprintf(why, 256, "a case needs \"analyzer\": the analyzer's name");
        return RT_EINPUT;
    }
    if (!json_is_object(json_object_get(kase, "expect"))) {
        snprintf(why, 256, "a case needs \"expect\": what the analyzer should find");
        return RT_EINPUT;
    }
    return RT_OK;
}

/* Writes 'doc' as indented JSON to 'path' through a temporary file renamed over it, so that a
 * reader never sees half a case. */
static int write_json(const json_t *doc, const char *path, char *why) {
    char tmp[PATH_BYTES + 8];
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    int fd = mkstemp(tmp), rc = RT_OK;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        snprintf(why, 256, "cannot create a file next to %.200s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return RT_EIO;
    }
    bool ok = fchmod(fd, 0644) == 0 && json_dumpf(doc, f, JSON_INDENT(2)) == 0 &&
              fputc('\n', f) != EOF && fflush(f) == 0 && fsync(fd) == 0;
    if (fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(why, 256, "cannot write %.200s: %s", path, strerror(errno));
        unlink(tmp);
        rc = RT_EIO;
    }
    return rc;
}

int bt_case_write(const char *dir, const json_t *kase, const rt_recording *recording, char *why) {
    char case_path[PATH_BYTES], recording_path[PATH_BYTES];
    struct stat st;
    int rc = check_case(kase, why);
    if (rc != RT_OK)
        return rc;
    if (!join(case_path, dir, "case.json") || !join(recording_path, dir, "recording.json")) {
        snprintf(why, 256, "the case folder's path is too long: %.200s", dir);
        return RT_EINPUT;
    }
    if (stat(case_path, &st) == 0 || stat(recording_path, &st) == 0) {
        snprintf(why, 256, "%.200s holds a case already: it is not overwritten", dir);
        return RT_EUSAGE;
    }
    if (make_dirs(dir) != 0) {
        snprintf(why, 256, "cannot create the folder %.200s: %s", dir, strerror(errno));
        return RT_EIO;
    }
    /* The recording first: a folder with case.json is a case, and it needs its recording. */
    if ((rc = rt_recording_save(recording, recording_path, why)) != RT_OK)
        return rc;
    if ((rc = write_json(kase, case_path, why)) != RT_OK)
        unlink(recording_path);
    return rc;
}
