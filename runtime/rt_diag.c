/* runtime/rt_diag.c -- lists of problems with their places, so one run reports all of them. */
#include <stdarg.h>
#include <stdio.h>
#include "rt.h"

void rt_diag_add(rt_diag *d, const char *file, int line, const char *field, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (!d->items)
        d->items = json_array();
    json_t *item = json_pack("{s:s}", "message", message);
    if (!d->items || !item)
        abort(); /* bookkeeping: a few bytes */
    if (file)
        json_object_set_new(item, "file", json_string(file));
    if (line > 0)
        json_object_set_new(item, "line", json_integer(line));
    if (field)
        json_object_set_new(item, "field", json_string(field));
    json_array_append_new(d->items, item);
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
        const char *field = json_string_value(json_object_get(item, "field"));
        fputs(indent, out);
        if (file && line > 0)
            fprintf(out, "%s:%lld: ", file, (long long)line);
        else if (file)
            fprintf(out, "%s: ", file);
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
