/* runtime/rt_diag.c -- lists of problems with their places, so one run reports all of them.
 * Messages may quote users' bytes: they are kept repaired as UTF-8 (rt_utf8.c), never refused. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"

#define MESSAGE_MAX 1023 /* bytes of a message */

/* The text at 's' (NUL-terminated) as a JSON string, repaired when it is not UTF-8. */
static json_t *text_json(const char *s) {
    json_t *v = rt_json_text(s, strlen(s));
    if (!v)
        abort(); /* bookkeeping: a few bytes */
    return v;
}

static void add(rt_diag *d, const char *file, int line, int column, const char *field,
                const char *fmt, va_list ap) {
    char message[MESSAGE_MAX + 4]; /* 3 bytes more, to see whether the cut splits a character */
    vsnprintf(message, sizeof message, fmt, ap);
    message[rt_utf8_cut(message, strlen(message), MESSAGE_MAX)] = '\0';
    if (!d->items)
        d->items = json_array();
    json_t *item = json_object();
    if (!d->items || !item)
        abort(); /* bookkeeping: a few bytes */
    json_object_set_new_nocheck(item, "message", text_json(message));
    if (file)
        json_object_set_new_nocheck(item, "file", text_json(file));
    if (line > 0)
        json_object_set_new_nocheck(item, "line", json_integer(line));
    if (line > 0 && column > 0)
        json_object_set_new_nocheck(item, "column", json_integer(column));
    if (field)
        json_object_set_new_nocheck(item, "field", text_json(field));
    json_array_append_new(d->items, item);
}

void rt_diag_add(rt_diag *d, const char *file, int line, const char *field, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add(d, file, line, 0, field, fmt, ap);
    va_end(ap);
}

void rt_diag_add_at(rt_diag *d, const char *file, int line, int column, const char *field,
                    const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add(d, file, line, column, field, fmt, ap);
    va_end(ap);
}

size_t rt_diag_count(const rt_diag *d) {
    return d->items ? json_array_size(d->items) : 0;
}

void rt_diag_print(const rt_diag *d, FILE *out, const char *indent) {
    size_t i;
    json_t *item;
    if (!d->items)
        return;
    json_array_foreach(d->items, i, item) {
        const char *file = json_string_value(json_object_get(item, "file"));
        json_int_t line = json_integer_value(json_object_get(item, "line"));
        json_int_t column = json_integer_value(json_object_get(item, "column"));
        const char *field = json_string_value(json_object_get(item, "field"));
        fputs(indent, out);
        if (file)
            fputs(file, out);
        if (file && line > 0)
            fprintf(out, ":%lld", (long long)line);
        if (file && line > 0 && column > 0)
            fprintf(out, ":%lld", (long long)column);
        if (file)
            fputs(": ", out);
        if (d->label)
            fprintf(out, "%s: ", d->label);
        if (field)
            fprintf(out, "%s: ", field);
        fprintf(out, "%s\n", json_string_value(json_object_get(item, "message")));
    }
}

void rt_diag_free(rt_diag *d) {
    if (!d)
        return;
    json_decref(d->items);
    d->items = NULL;
}
