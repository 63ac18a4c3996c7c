/* integrations/ig_error.c -- a client command's error, kept so that with --json it also reaches
 * stdout as {"error": {"code", "message", …}} (docs/operating.md, "Errors with --json"): a
 * script that reads stdout then always gets one JSON object. The messages are printed on stderr
 * where the problem is found (ig_client.c, ig_usage_error), through ig_error_say, which keeps
 * them too; main() calls ig_error_finish. */
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
    fprintf(err, "inquest %s: %s\n", cmd, message);
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
