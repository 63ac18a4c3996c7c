/* integrations/ig_report.c -- an inquest.result/v1 (docs/sdk.md) rendered for people: the
 * terminal report and Markdown. `inquest run` picks one (ig_cmd_run.c); --json writes the result.
 *
 * Both renderers walk the result through the same section functions; a small writer decides how
 * a heading, a table, a code block or a colour looks in each. Results may come from other
 * versions, so every field is optional: a missing or oddly typed one is left out, never fatal. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "ig_report.h"
#include "rt.h"

#define CELL_MAX  60 /* characters of a table cell in the terminal */
#define LOGS_SHOW 20 /* the last log lines shown */
#define SPARK_MAX 40 /* characters of a sparkline */

typedef struct rp {
    FILE *out;
    int md;     /* Markdown, else terminal text */
    int colour; /* ANSI colour (terminal only) */
} rp;

#define BOLD   "\033[1m"
#define DIM    "\033[2m"
#define RED    "\033[31m"
#define GREEN  "\033[32m"
#define YELLOW "\033[33m"
#define RESET  "\033[0m"

/* ---- Reading the result ------------------------------------------------------------------- */

static const char *str(const json_t *o, const char *key) {
    return json_string_value(json_object_get(o, key));
}

static const json_t *list(const json_t *o, const char *key) {
    const json_t *a = json_object_get(o, key);
    return json_is_array(a) ? a : NULL;
}

static char *dup(const char *s) {
    return rt_xstrdup(s ? s : "");
}

/* A value as people read it: a string as it is, anything else as compact JSON, absent as "". */
static char *show(const json_t *v) {
    if (!v || json_is_null(v) || json_is_string(v))
        return dup(json_string_value(v));
    char *s = rt_json_canonical(v);
    return s ? s : dup("?");
}

static char *sfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sfmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = rt_xmalloc(n > 0 ? (size_t)n + 1 : 1);
    va_start(ap, fmt);
    vsnprintf(s, n > 0 ? (size_t)n + 1 : 1, fmt, ap);
    va_end(ap);
    return s;
}

static char *time_text(const json_t *t) {
    char buf[40];
    if (!json_is_number(t))
        return show(t);
    rt_time_format(json_number_value(t), buf);
    return dup(buf);
}

static char *ms_text(const json_t *ms) {
    double v = json_number_value(ms);
    if (!json_is_number(ms))
        return dup("");
    if (v < 10)
        return sfmt("%.1f ms", v);
    if (v < 1000)
        return sfmt("%.0f ms", v);
    if (v < 60000)
        return sfmt("%.2f s", v / 1000);
    return sfmt("%.0fm%02.0fs", floor(v / 60000), floor(fmod(v, 60000) / 1000));
}

/* ---- The writer --------------------------------------------------------------------------- */

static const char *sgr(const rp *r, const char *code) {
    return r->colour && !r->md ? code : "";
}

static const char *status_colour(const rp *r, const char *status) {
    if (!status)
        return "";
    if (strcmp(status, "ok") == 0)
        return sgr(r, GREEN);
    if (strcmp(status, "cancelled") == 0)
        return sgr(r, YELLOW);
    size_t n = strlen(status);
    if (strcmp(status, "error") == 0 || strcmp(status, "timeout") == 0 ||
        (n > 9 && strcmp(status + n - 9, "_exceeded") == 0))
        return sgr(r, RED);
    return "";
}

static void heading(const rp *r, const char *title) {
    if (r->md) /* every Markdown block ends with a blank line */
        fprintf(r->out, "### %s\n\n", title);
    else
        fprintf(r->out, "\n%s%s%s\n", sgr(r, BOLD), title, sgr(r, RESET));
}

/* The longest run of backticks in 's': Markdown code needs a longer fence. */
static size_t backticks(const char *s) {
    size_t run = 0, longest = 0;
    for (; *s; s++)
        run = *s == '`' ? run + 1 : 0, longest = run > longest ? run : longest;
    return longest;
}

/* 's' inline as code: in Markdown in backticks (more of them than any run inside). */
static char *code(const rp *r, const char *s) {
    if (!r->md)
        return dup(s);
    size_t longest = backticks(s);
    char fence[8] = "```````";
    fence[longest + 1 < 7 ? longest + 1 : 7] = '\0';
    return sfmt("%s%s%s%s%s", fence, longest ? " " : "", s, longest ? " " : "", fence);
}

/* Writes the lines of 'text', each starting with 'indent' and ending with a newline. */
static void indented(const rp *r, const char *indent, const char *text) {
    fputs(indent, r->out);
    for (const char *p = text; *p; p++) {
        fputc(*p, r->out);
        if (*p == '\n' && p[1])
            fputs(indent, r->out);
    }
    if (!*text || text[strlen(text) - 1] != '\n')
        fputc('\n', r->out);
}

/* A block of preformatted text: fenced in Markdown, indented in the terminal. */
static void block(const rp *r, const char *indent, const char *text) {
    if (!r->md) {
        indented(r, indent, text);
        return;
    }
    size_t longest = backticks(text) > 2 ? backticks(text) : 2;
    for (size_t i = 0; i <= longest; i++)
        fputc('`', r->out);
    fprintf(r->out, "\n%s%s", text, *text && text[strlen(text) - 1] == '\n' ? "" : "\n");
    for (size_t i = 0; i <= longest; i++)
        fputc('`', r->out);
    fputs("\n\n", r->out);
}

/* ---- Tables: rows are JSON arrays of strings, the first row the header ------------------- */

static json_t *row_add(json_t *rows) {
    json_t *row = json_array();
    json_array_append_new(rows, row);
    return row;
}

/* Appends the cell 's' (owned: freed here). */
static void cell(json_t *row, char *s) {
    json_array_append_new(row, json_string(s));
    free(s);
}

static size_t chars(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* A terminal cell: one line, at most CELL_MAX characters; returns the characters written. */
static size_t cell_text(const rp *r, const char *s) {
    size_t n = 0;
    for (; *s && n < CELL_MAX; s++) {
        if (((unsigned char)*s & 0xC0) == 0x80) {
            fputc(*s, r->out);
            continue;
        }
        if (n == CELL_MAX - 1 && chars(s) > 1) {
            fputs("…", r->out);
            return CELL_MAX;
        }
        fputc(*s == '\n' || *s == '\r' || *s == '\t' ? ' ' : *s, r->out);
        n++;
    }
    while (*s && ((unsigned char)*s & 0xC0) == 0x80)
        fputc(*s++, r->out);
    return n;
}

/* A Markdown cell: '|' escaped, line breaks as <br>. */
static void cell_md(const rp *r, const char *s) {
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", r->out);
        else if (*s == '\n')
            fputs("<br>", r->out);
        else if (*s != '\r')
            fputc(*s, r->out);
    }
}

static void table_md(const rp *r, const json_t *rows, size_t ncols) {
    for (size_t i = 0; i < json_array_size(rows); i++) {
        for (size_t j = 0; j < ncols; j++) {
            fputs(j ? " | " : "| ", r->out);
            const char *s = json_string_value(json_array_get(json_array_get(rows, i), j));
            cell_md(r, s ? s : "");
        }
        fputs(" |\n", r->out);
        for (size_t j = 0; i == 0 && j < ncols; j++)
            fputs(j + 1 < ncols ? "| --- " : "| --- |\n", r->out);
    }
    fputc('\n', r->out);
}

static void table(const rp *r, const char *indent, json_t *rows) {
    size_t ncols = json_array_size(json_array_get(rows, 0)), width[32] = {0};
    if (ncols > 32)
        ncols = 32;
    if (r->md) {
        table_md(r, rows, ncols);
        json_decref(rows);
        return;
    }
    for (size_t i = 0; i < json_array_size(rows); i++)
        for (size_t j = 0; j < ncols; j++) {
            const char *s = json_string_value(json_array_get(json_array_get(rows, i), j));
            size_t n = s ? chars(s) : 0;
            n = n > CELL_MAX ? CELL_MAX : n;
            width[j] = n > width[j] ? n : width[j];
        }
    for (size_t i = 0; i < json_array_size(rows); i++) {
        fprintf(r->out, "%s%s", indent, i == 0 ? sgr(r, DIM) : "");
        for (size_t j = 0; j < ncols; j++) {
            const char *s = json_string_value(json_array_get(json_array_get(rows, i), j));
            size_t n = cell_text(r, s ? s : "");
            for (; j + 1 < ncols && n < width[j] + 2; n++)
                fputc(' ', r->out);
        }
        fprintf(r->out, "%s\n", i == 0 ? sgr(r, RESET) : "");
    }
    json_decref(rows);
}

/* A table with the header 'cols' ("a|b|c"); fill it with row_add and cell. */
static json_t *table_new(const char *cols) {
    json_t *rows = json_array(), *head = row_add(rows);
    for (const char *p = cols; *p;) {
        size_t n = strcspn(p, "|");
        cell(head, sfmt("%.*s", (int)n, p));
        p += n + (p[n] == '|');
    }
    return rows;
}

/* A section that is a table: only when it has rows. */
static void section_table(const rp *r, const char *title, json_t *rows) {
    if (json_array_size(rows) < 2) {
        json_decref(rows);
        return;
    }
    heading(r, title);
    table(r, "  ", rows);
}

/* ---- Evidence ----------------------------------------------------------------------------- */

/* A one-line chart of 'points' ([t, v] pairs; v may be null), at most SPARK_MAX characters, each
 * the largest value of its share of the points, so spikes stay visible. */
static char *sparkline(const json_t *points, double *min, double *max) {
    static const char *const bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    size_t n = json_array_size(points), width = n < SPARK_MAX ? n : SPARK_MAX;
    double cols[SPARK_MAX];
    *min = INFINITY, *max = -INFINITY;
    for (size_t c = 0; c < width; c++) {
        cols[c] = NAN;
        for (size_t i = c * n / width; i < (c + 1) * n / width; i++) {
            const json_t *v = json_array_get(json_array_get(points, i), 1);
            double d = json_number_value(v);
            if (!json_is_number(v))
                continue;
            cols[c] = d <= cols[c] ? cols[c] : d;
            *min = d < *min ? d : *min;
            *max = d > *max ? d : *max;
        }
    }
    char *out = rt_xmalloc(width * 3 + 1), *o = out;
    for (size_t c = 0; c < width; c++) {
        int level = *max > *min ? (int)lround((cols[c] - *min) / (*max - *min) * 7) : 3;
        const char *bar = isnan(cols[c]) ? " " : bars[level];
        size_t len = strlen(bar);
        memcpy(o, bar, len);
        o += len;
    }
    *o = '\0';
    return out;
}

static char *number_text(double d) {
    return isfinite(d) ? sfmt("%.6g", d) : dup("");
}

static void ev_timeseries(const rp *r, const json_t *ev, const char *indent) {
    json_t *rows = table_new("series|trend|min|max|last");
    const json_t *series = list(ev, "series"), *s;
    size_t i;
    json_array_foreach(series, i, s) {
        const json_t *labels = json_object_get(s, "labels"), *points = list(s, "points");
        json_t *row = row_add(rows);
        double min, max;
        char *line = sparkline(points, &min, &max);
        const json_t *last = json_array_get(json_array_get(points, json_array_size(points) - 1), 1);
        char *l = json_object_size(labels) ? show(labels) : dup("(no labels)");
        cell(row, code(r, l));
        free(l);
        cell(row, line);
        cell(row, number_text(min));
        cell(row, number_text(max));
        cell(row, show(last));
    }
    table(r, indent, rows);
}

static void ev_events(const rp *r, const json_t *ev, const char *indent) {
    static const char *const fields[] = {"kind", "service", "id", "text"};
    json_t *rows = table_new("time|kind|service|id|text");
    const json_t *item;
    size_t i;
    json_array_foreach(list(ev, "items"), i, item) {
        json_t *row = row_add(rows);
        cell(row, time_text(json_object_get(item, "time")));
        for (size_t j = 0; j < 4; j++)
            cell(row, show(json_object_get(item, fields[j])));
    }
    table(r, indent, rows);
}

static void ev_log_patterns(const rp *r, const json_t *ev, const char *indent) {
    json_t *rows = table_new("count|pattern");
    const json_t *item;
    size_t i;
    json_array_foreach(list(ev, "items"), i, item) {
        json_t *row = row_add(rows);
        cell(row, show(json_object_get(item, "count")));
        cell(row, code(r, str(item, "pattern") ? str(item, "pattern") : ""));
    }
    table(r, indent, rows);
}

static void ev_table(const rp *r, const json_t *ev, const char *indent) {
    json_t *rows = json_array(), *head = row_add(rows);
    const json_t *col, *row;
    size_t i, j, ncols = json_array_size(list(ev, "columns"));
    json_array_foreach(list(ev, "columns"), i, col) cell(head, show(col));
    json_array_foreach(list(ev, "rows"), i, row) {
        json_t *out = row_add(rows);
        for (j = 0; j < ncols; j++)
            cell(out, show(json_array_get(row, j)));
    }
    table(r, indent, rows);
}

static void ev_text(const rp *r, const json_t *ev, const char *indent) {
    block(r, indent, str(ev, "text") ? str(ev, "text") : "");
}

static const struct {
    const char *kind;
    void (*render)(const rp *r, const json_t *ev, const char *indent);
} renderers[] = {
    {"timeseries", ev_timeseries}, {"events", ev_events}, {"log_patterns", ev_log_patterns},
    {"table", ev_table},           {"text", ev_text},
};

static void evidence(const rp *r, const json_t *ev) {
    const char *kind = str(ev, "kind") ? str(ev, "kind") : "?", *title = str(ev, "title");
    const char *unit = str(ev, "unit");
    char *extra = sfmt("%s%s%s%s", unit ? " (" : "", unit ? unit : "", unit ? ")" : "",
                       json_is_true(json_object_get(ev, "truncated")) ? " (truncated)" : "");
    if (r->md)
        fprintf(r->out, "**%s%s%s**%s\n\n", kind, title ? ": " : "", title ? title : "", extra);
    else
        fprintf(r->out, "     %s[%s]%s%s%s%s\n", sgr(r, DIM), kind, sgr(r, RESET), title ? " " : "",
                title ? title : "", extra);
    free(extra);
    for (size_t i = 0; i < sizeof renderers / sizeof *renderers; i++)
        if (strcmp(kind, renderers[i].kind) == 0)
            renderers[i].render(r, ev, "       ");
}

/* ---- Sections ----------------------------------------------------------------------------- */

static void header(const rp *r, const json_t *res) {
    const json_t *analyzer = json_object_get(res, "analyzer");
    const json_t *conclusion = json_object_get(res, "conclusion");
    const char *name = str(analyzer, "name"), *version = str(analyzer, "version");
    const char *status = str(res, "status"), *tag = str(conclusion, "tag");
    const char *summary = str(conclusion, "summary");
    char *v = version ? sfmt(" (%s)", version) : dup("");
    if (r->md) {
        fprintf(r->out, "## %s%s\n\n**%s**", name ? name : "analysis", v, status ? status : "?");
        if (tag)
            fprintf(r->out, " · `%s`", tag);
        fprintf(r->out, "%s%s\n\n", summary ? ": " : "", summary ? summary : "");
    } else {
        fprintf(r->out, "%s%s%s%s  %s%s%s", sgr(r, BOLD), name ? name : "analysis", v,
                sgr(r, RESET), status_colour(r, status), status ? status : "?", sgr(r, RESET));
        fprintf(r->out, "%s%s\n", tag ? "  " : "", tag ? tag : "");
        if (summary)
            indented(r, "  ", summary);
    }
    free(v);
}

static void inputs(const rp *r, const json_t *res) {
    const json_t *in = json_object_get(res, "inputs"), *value;
    const char *name;
    json_t *rows = table_new("input|value");
    if (!json_object_size(in)) {
        json_decref(rows);
        return;
    }
    heading(r, "Inputs");
    json_object_foreach((json_t *)in, name, value) {
        char *json = rt_json_canonical(value);
        if (!r->md) /* name = value lines read better than a table in the terminal */
            fprintf(r->out, "  %s = %s\n", name, json ? json : "?");
        json_t *row = row_add(rows);
        cell(row, dup(name));
        cell(row, code(r, json ? json : "?"));
        free(json);
    }
    if (r->md)
        table(r, "", rows);
    else
        json_decref(rows);
}

static void actions(const rp *r, const json_t *finding) {
    const json_t *a;
    size_t i;
    if (!json_array_size(list(finding, "actions")))
        return;
    fprintf(r->out, r->md ? "**Suggested actions**\n\n" : "     Suggested actions:\n");
    json_array_foreach(list(finding, "actions"), i, a) {
        char *type = code(r, str(a, "type") ? str(a, "type") : "?");
        char *args =
            json_object_size(json_object_get(a, "args")) ? show(json_object_get(a, "args")) : NULL;
        char *args_code = args ? code(r, args) : dup("");
        const char *desc = str(a, "description");
        fprintf(r->out, "%s- %s%s%s%s%s\n", r->md ? "" : "       ", type, args ? " " : "",
                args_code, desc ? ": " : "", desc ? desc : "");
        free(type), free(args), free(args_code);
    }
    if (r->md)
        fputc('\n', r->out);
}

static const char *severity_colour(const rp *r, const char *severity) {
    if (severity && (strcmp(severity, "critical") == 0 || strcmp(severity, "high") == 0))
        return sgr(r, RED);
    if (severity && strcmp(severity, "medium") == 0)
        return sgr(r, YELLOW);
    return sgr(r, DIM);
}

static void finding(const rp *r, size_t n, const json_t *f) {
    const char *severity = str(f, "severity"), *cause = str(f, "root_cause");
    const char *title = str(f, "title"), *summary = str(f, "summary");
    const json_t *confidence = json_object_get(f, "confidence"), *ev;
    char *rc = cause ? code(r, cause) : dup("");
    char *conf = json_is_number(confidence)
                     ? sfmt("confidence %.0f%%", json_number_value(confidence) * 100)
                     : dup("");
    char *details = sfmt("%s%s%s%s", conf, *conf && *rc ? " · " : "", *rc ? "root cause " : "", rc);
    if (r->md) {
        fprintf(r->out, "#### %zu. %s\n\n**%s**%s%s\n\n", n, title ? title : "(untitled)",
                severity ? severity : "?", *details ? " · " : "", details);
        if (summary)
            fprintf(r->out, "%s\n\n", summary);
    } else {
        fprintf(r->out, "  %zu. %s%s%s %s%s%s\n", n, severity_colour(r, severity),
                severity ? severity : "?", sgr(r, RESET), sgr(r, BOLD), title ? title : "",
                sgr(r, RESET));
        if (*details)
            fprintf(r->out, "     %s\n", details);
        if (summary)
            indented(r, "     ", summary);
    }
    size_t i;
    json_array_foreach(list(f, "evidence"), i, ev) evidence(r, ev);
    actions(r, f);
    free(rc), free(conf), free(details);
}

static void findings(const rp *r, const json_t *res) {
    const json_t *f;
    size_t i;
    if (!json_array_size(list(res, "findings")))
        return;
    heading(r, "Findings");
    json_array_foreach(list(res, "findings"), i, f) finding(r, i + 1, f);
}

static void steps(const rp *r, const json_t *res) {
    const json_t *s;
    size_t i;
    json_t *rows = table_new("step|status|duration|error");
    json_array_foreach(list(res, "steps"), i, s) {
        json_t *row = row_add(rows);
        cell(row, show(json_object_get(s, "name")));
        cell(row, show(json_object_get(s, "status")));
        cell(row, ms_text(json_object_get(s, "duration_ms")));
        cell(row, show(json_object_get(s, "error")));
    }
    section_table(r, "Steps", rows);
}

static void calls(const rp *r, const json_t *res) {
    static const char *const fields[] = {"connector", "operation", "status", "bytes"};
    const json_t *c;
    size_t i;
    json_t *rows = table_new("connector|operation|status|bytes|duration");
    json_array_foreach(list(res, "calls"), i, c) {
        json_t *row = row_add(rows);
        for (size_t j = 0; j < 4; j++)
            cell(row, show(json_object_get(c, fields[j])));
        cell(row, ms_text(json_object_get(c, "duration_ms")));
    }
    section_table(r, "Connector calls", rows);
}

static void logs(const rp *r, const json_t *res) {
    const json_t *logs = list(res, "logs");
    size_t n = json_array_size(logs), first = n > LOGS_SHOW ? n - LOGS_SHOW : 0;
    json_int_t dropped = json_integer_value(json_object_get(res, "logs_dropped"));
    if (n == 0 && dropped <= 0)
        return;
    heading(r, "Logs");
    if (first)
        fprintf(r->out, "%s%zu earlier lines not shown\n%s", r->md ? "" : "  … ", first,
                r->md ? "\n" : "");
    char *text = NULL;
    size_t size = 0;
    FILE *m = open_memstream(&text, &size);
    for (size_t i = first; m && i < n; i++) {
        const json_t *line = json_array_get(logs, i);
        const char *level = str(line, "level"), *message = str(line, "message");
        fprintf(m, "%-5s %s\n", level ? level : "", message ? message : "");
    }
    if (m && fclose(m) == 0)
        block(r, "  ", text);
    free(text);
    if (dropped > 0)
        fprintf(r->out, "%s%lld more lines were dropped (at most 500 are kept)\n%s",
                r->md ? "" : "  ", (long long)dropped, r->md ? "\n" : "");
}

static void errors(const rp *r, const json_t *res) {
    const json_t *e;
    size_t i;
    if (!json_array_size(list(res, "errors")))
        return;
    heading(r, "Errors");
    json_array_foreach(list(res, "errors"), i, e) {
        const char *file = str(e, "file"), *message = str(e, "message");
        json_int_t line = json_integer_value(json_object_get(e, "line"));
        char *place = file ? (line > 0 ? sfmt("%s:%lld", file, (long long)line) : dup(file)) : NULL;
        char *where = place ? code(r, place) : dup("");
        fprintf(r->out, "%s%s%s%s%s%s\n", r->md ? "- " : "  ", sgr(r, RED), where,
                place ? ": " : "", message ? message : "(no message)", sgr(r, RESET));
        free(place), free(where);
    }
    if (r->md)
        fputc('\n', r->out);
}

static void footer(const rp *r, const json_t *res) {
    const char *id = str(res, "id"), *hash = str(json_object_get(res, "analyzer"), "hash");
    char *now =
        json_is_number(json_object_get(res, "now")) ? time_text(json_object_get(res, "now")) : NULL;
    char *took = ms_text(json_object_get(json_object_get(res, "timing"), "duration_ms"));
    char *short_hash = hash ? sfmt("%.19s", hash) : NULL; /* "sha256:" and 12 hex digits */
    char *parts[4] = {id ? code(r, id) : NULL, now ? sfmt("now %s", now) : NULL,
                      short_hash ? code(r, short_hash) : NULL,
                      *took ? sfmt("took %s", took) : NULL};
    size_t shown = 0;
    for (size_t i = 0; i < 4; i++) {
        if (!parts[i])
            continue;
        if (shown++)
            fputs(" · ", r->out);
        else
            fprintf(r->out, "%s%s", r->md ? "---\n\n" : "\n", sgr(r, DIM));
        fprintf(r->out, "%s%s", i == 0 ? "analysis " : "", parts[i]);
        free(parts[i]);
    }
    if (shown)
        fprintf(r->out, "%s\n", sgr(r, RESET));
    free(now), free(took), free(short_hash);
}

/* A copy of the 'n' bytes at 's' with control characters (but newline and tab), C0 and C1
 * alike, replaced by '?'. */
static char *scrub_string(const char *s, size_t n) {
    char *out = rt_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int c1 = c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] <= 0x9F;
        out[i] = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7F || c1 ? '?' : s[i];
        if (c1)
            out[++i] = '?';
    }
    out[n] = '\0';
    return out;
}

/* A copy of 'v' whose strings (keys too) cannot drive a terminal: log lines and event texts in
 * evidence come from the systems under investigation. */
static json_t *scrub(const json_t *v) {
    json_t *out;
    size_t i;
    if (json_is_string(v)) {
        char *s = scrub_string(json_string_value(v), json_string_length(v));
        out = json_stringn(s, json_string_length(v));
        free(s);
        return out;
    }
    if (json_is_array(v)) {
        out = json_array();
        for (i = 0; i < json_array_size(v); i++)
            json_array_append_new(out, scrub(json_array_get(v, i)));
        return out;
    }
    if (!json_is_object(v))
        return json_incref((json_t *)v); /* numbers, booleans, null: shared, never changed */
    out = json_object();
    for (void *it = json_object_iter((json_t *)v); it;
         it = json_object_iter_next((json_t *)v, it)) {
        char *key = scrub_string(json_object_iter_key(it), json_object_iter_key_len(it));
        json_object_setn_new(out, key, json_object_iter_key_len(it),
                             scrub(json_object_iter_value(it)));
        free(key);
    }
    return out;
}

static void report(const rp *r, const json_t *original) {
    json_t *result = scrub(original);
    header(r, result);
    inputs(r, result);
    findings(r, result);
    steps(r, result);
    calls(r, result);
    logs(r, result);
    errors(r, result);
    footer(r, result);
    json_decref(result);
}

void ig_report_text(const json_t *result, FILE *out, int colour) {
    rp r = {out, 0, colour};
    report(&r, result);
}

void ig_report_markdown(const json_t *result, FILE *out) {
    rp r = {out, 1, 0};
    report(&r, result);
}
