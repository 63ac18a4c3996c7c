/* integrations/ig_error.c -- a command's error, kept so that with --json it also reaches stdout
 * as {"error": {"code", "message", …}} (docs/operating.md, "Errors with --json"): a script that
 * reads stdout then always gets one JSON object. The messages are printed on stderr where the
 * problem is found (ig_client.c, ig_usage_error, the local commands), through ig_error_say, or
 * ig_error_diag for a list of problems (a config's, an analyzer's inputs), which keep them too;
 * main() calls ig_error_finish. */
#define _GNU_SOURCE /* vasprintf, open_memstream */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"
#include "ig_cli.h"

static struct {
    const char *cmd; /* the command given --json; NULL: errors are text only */
    json_t *error;   /* the last error kept (owned) */
    int printed;     /* the command printed its JSON output */
} kept;

void ig_error_json(const char *cmd) {
    kept.cmd = cmd;
}

void ig_error_keep(json_t *error) {
    json_decref(kept.error); /* a later problem is the one that ended the command: a retried
                                call's earlier failures are not */
    kept.error = error;
}

json_t *ig_error_vsay(FILE *err, const char *cmd, const char *code, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *message = rt_xmalloc(n > 0 ? (size_t)n + 1 : 1);
    vsnprintf(message, n > 0 ? (size_t)n + 1 : 1, fmt, again);
    va_end(again);
    fprintf(err, "inquest%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", message);
    /* rt_json_text: a message may quote an argument or a path that is not UTF-8 */
    json_t *error =
        json_pack("{s:s, s:o*}", "code", code, "message", rt_json_text(message, strlen(message)));
    free(message);
    ig_error_keep(error);
    return error;
}

json_t *ig_error_say(FILE *err, const char *cmd, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    json_t *error = ig_error_vsay(err, cmd, code, fmt, ap);
    va_end(ap);
    return error;
}

/* One problem of a diagnostic as the API's "fields" item: field ("" when none) and message, and
 * where it is when the diagnostic knows: file, line, column. */
static json_t *field_of(const json_t *item) {
    const char *field = json_string_value(json_object_get(item, "field"));
    json_t *o = json_pack("{s:s, s:O}", "field", field ? field : "", "message",
                          json_object_get(item, "message"));
    json_t *file = json_object_get(item, "file");
    json_t *line = json_object_get(item, "line"), *column = json_object_get(item, "column");
    if (file)
        json_object_set(o, "file", file);
    if (file && line)
        json_object_set(o, "line", line);
    if (file && line && column)
        json_object_set(o, "column", column);
    return o;
}

json_t *ig_diag_fields(const rt_diag *diag) {
    json_t *fields = json_array(), *item;
    size_t i;
    json_array_foreach(diag->items, i, item) json_array_append_new(fields, field_of(item));
    return fields;
}

void ig_error_fields(json_t *error, const rt_diag *diag) {
    if (rt_diag_count(diag))
        json_object_set_new(error, "fields", ig_diag_fields(diag));
}

json_t *ig_error_fields_under(json_t *error, const char *under, bool prefix) {
    json_t *item;
    size_t i;
    json_array_foreach(json_object_get(error, "fields"), i, item) {
        const char *field = json_string_value(json_object_get(item, "field"));
        bool named = field && *field;
        if (named && !prefix)
            continue;
        char *path = NULL;
        if (asprintf(&path, "%s%s%s", under, named ? "." : "", named ? field : "") >= 0)
            json_object_set_new(item, "field", rt_json_text(path, strlen(path)));
        free(path);
    }
    return error;
}

/* The problems of 'diag' as rt_diag_print writes them, one line each, joined by "; " (malloc'd;
 * NULL when out of memory). */
static char *diag_text(const rt_diag *diag) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    rt_diag_print(diag, f, "");
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    while (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    char *joined = rt_xmalloc(len + 1 + len), *out = joined; /* each '\n' may become "; " */
    for (char *p = text; *p; p++) {
        if (*p == '\n') {
            *out++ = ';';
            *out++ = ' ';
        } else {
            *out++ = *p;
        }
    }
    *out = '\0';
    free(text);
    return joined;
}

json_t *ig_error_diag(FILE *err, const char *cmd, const char *code, const rt_diag *diag,
                      const char *fmt, ...) {
    const char *sep = cmd ? " " : "";
    json_t *error;
    if (fmt) {
        char *headline;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&headline, fmt, ap);
        va_end(ap);
        if (n < 0)
            headline = NULL;
        fprintf(err, "inquest%s%s: %s:\n", sep, cmd ? cmd : "", headline ? headline : "");
        rt_diag_print(diag, err, "  ");
        error = json_pack("{s:s, s:o*}", "code", code, "message",
                          headline ? rt_json_text(headline, strlen(headline)) : NULL);
        free(headline);
    } else {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "inquest%s%s: ", sep, cmd ? cmd : "");
        rt_diag_print(diag, err, prefix);
        char *text = diag_text(diag);
        error = json_pack("{s:s, s:o*}", "code", code, "message",
                          text ? rt_json_text(text, strlen(text)) : NULL);
        free(text);
    }
    ig_error_fields(error, diag);
    ig_error_keep(error);
    return error;
}

json_t *ig_error_kept(void) {
    return kept.error;
}

void ig_print_json_text(char *text) {
    puts(text ? text : "null");
    free(text);
    kept.printed = 1;
}

/* A failure that kept no error (a path that prints its problem some other way) still leaves an
 * object of the documented shape, named after its exit code. */
static json_t *unnamed_error(int code) {
    const char *name = code == IG_EXIT_USAGE    ? IG_ERROR_USAGE
                       : code == IG_EXIT_SERVER ? IG_ERROR_SERVER
                                                : IG_ERROR_FAILED;
    return json_pack("{s:s, s:s}", "code", name, "message", "see the message on stderr");
}

int ig_error_finish(int code) {
    if (kept.cmd && code != IG_EXIT_OK && !kept.printed) {
        json_t *error = kept.error ? json_incref(kept.error) : unnamed_error(code);
        json_t *wrapper = json_pack("{s:o}", "error", error);
        char *text = rt_json_canonical(wrapper);
        puts(text ? text : "{\"error\":null}");
        free(text);
        json_decref(wrapper);
    }
    json_decref(kept.error);
    kept.error = NULL;
    return code;
}
