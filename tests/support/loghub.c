/* tests/support/loghub.c -- the Loghub samples' structured CSV read, and grouping accuracy (see
 * loghub.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"
#include "loghub.h"

const char *const lh_names[LH_DATASETS] = {"HDFS", "Zookeeper", "OpenSSH", "Proxifier"};
const double lh_drain[LH_DATASETS] = {0.998, 0.967, 0.788, 0.527};
const double lh_brain[LH_DATASETS] = {0.9975, 0.9875, 1.0, 1.0};

/* Reads one field at '*p' in place: unquotes it, NUL-terminates it, and leaves '*p' after its
 * separator. Returns what ended it: ',', '\n' or 0 (the end of the text); -1 for a quote that
 * never closes. */
static int field(char **p, char **start, size_t *len) {
    char *r = *p, *w = *p;
    *start = w;
    if (*r == '"') {
        for (r++;; r++) {
            if (!*r)
                return -1;
            if (*r == '"' && r[1] == '"')
                *w++ = *r++;
            else if (*r == '"')
                break;
            else
                *w++ = *r;
        }
        r++;
    }
    while (*r && *r != ',' && *r != '\n')
        *w++ = *r++;
    if (w > *start && w[-1] == '\r')
        w--;
    int end = *r;
    *len = (size_t)(w - *start);
    *w = 0;
    *p = end ? r + 1 : r;
    return end;
}

/* Reads the header row at '*p': the indexes of the columns Content and EventId (-1 when
 * absent) and the number of columns. */
static int header(char **p, int *content, int *event) {
    int n = 0, end = ',';
    *content = *event = -1;
    for (; end == ','; n++) {
        char *f;
        size_t len;
        end = field(p, &f, &len);
        if (strcmp(f, "Content") == 0)
            *content = n;
        if (strcmp(f, "EventId") == 0)
            *event = n;
    }
    return n;
}

int lh_load(const char *data, const char *name, lh_data *out, char *why) {
    char path[1024];
    size_t size;
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "%s/loghub/%s/%s_2k.log_structured.csv", data, name, name);
    if (rt_file_read(path, (size_t)64 << 20, &out->text, &size, why) < 0)
        return -1;
    char *p = out->text;
    int content, event, ncols = header(&p, &content, &event);
    if (content < 0 || event < 0) {
        snprintf(why, 256, "%.200s: no Content or EventId column in the header", path);
        return lh_free(out), -1;
    }
    size_t cap = 0;
    for (size_t row = 2; *p; row++) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 4096;
            out->content = rt_xrealloc(out->content, cap * sizeof *out->content);
            out->len = rt_xrealloc(out->len, cap * sizeof *out->len);
            out->event = rt_xrealloc(out->event, cap * sizeof *out->event);
        }
        int col = 0, end = ',';
        for (; end == ','; col++) {
            char *f;
            size_t n;
            if ((end = field(&p, &f, &n)) < 0) {
                snprintf(why, 256, "%.200s: row %zu: a quote that never closes", path, row);
                return lh_free(out), -1;
            }
            if (col == content)
                out->content[out->n] = f, out->len[out->n] = n;
            if (col == event)
                out->event[out->n] = f;
        }
        if (col != ncols) {
            snprintf(why, 256, "%.200s: row %zu has %d columns, the header %d", path, row, col,
                     ncols);
            return lh_free(out), -1;
        }
        out->n++;
    }
    return 0;
}

void lh_free(lh_data *d) {
    free(d->content);
    free(d->len);
    free(d->event);
    free(d->text);
    memset(d, 0, sizeof *d);
}

typedef struct line {
    size_t group, event_size;
    const char *event;
} line;

static int by_event(const void *a, const void *b) {
    return strcmp(((const line *)a)->event, ((const line *)b)->event);
}

static int by_group(const void *a, const void *b) {
    const line *x = a, *y = b;
    return x->group != y->group ? (x->group > y->group) - (x->group < y->group) : by_event(a, b);
}

/* A group is right when all its lines share one EventId and no other line has it: then each of
 * its lines counts (the logparser benchmark's grouping accuracy). */
double lh_accuracy(const lh_data *d, const size_t *group) {
    size_t n = d->n, right = 0;
    line *l = rt_xcalloc(n ? n : 1, sizeof *l);
    for (size_t i = 0; i < n; i++)
        l[i] = (line){.group = group[i], .event = d->event[i]};
    qsort(l, n, sizeof *l, by_event);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && strcmp(l[j].event, l[i].event) == 0; j++)
            ;
        for (size_t k = i; k < j; k++)
            l[k].event_size = j - i;
    }
    qsort(l, n, sizeof *l, by_group); /* a group is a run, its events sorted */
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && l[j].group == l[i].group; j++)
            ;
        if (strcmp(l[i].event, l[j - 1].event) == 0 && l[i].event_size == j - i)
            right += j - i;
    }
    free(l);
    return n ? (double)right / (double)n : 0;
}
