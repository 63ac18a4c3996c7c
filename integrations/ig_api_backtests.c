/* integrations/ig_api_backtests.c -- the backtest reports `inquest serve` lists (docs/api.md,
 * Backtest reports): GET /v1/backtests lists the JSON reports that `inquest backtest --out DIR`
 * kept in the folders of backtests.reports, newest first, with what a list shows of each; GET
 * /v1/backtests/NAME answers one (docs/backtest.md, inquest.backtest/v1). The console draws both.
 *
 * Read only, and careful with the file system: a name is one plain file name (letters, digits,
 * '.', '_', '-', ending in .json, no '/'), looked up among the files a listing finds, never
 * joined to a path as given; a file is opened with O_NOFOLLOW and must be a regular file, so a
 * link in a folder cannot lead elsewhere; at most backtests.max_bytes of a report is read, and at
 * most MAX_FILES files of a folder are looked at. Reports are read when they change (by size,
 * time and inode) and their summaries kept, so that a listing reads nothing that it read before;
 * the reads are blocking, on the server's loop, which the bounds keep short.
 *
 * A token sees a report when it may use every analyzer the report has cases of (ig_token_allows,
 * with the analyzer's owner from the catalogue): a report of another team's analyzers stays
 * hidden, as their analyses do; one with no analyzer at all only a token allowed every analyzer
 * ('*') sees. */
#define _GNU_SOURCE /* O_NOFOLLOW, O_CLOEXEC, openat */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ig_serve.h"

#define MAX_FILES    2000 /* looked at in one folder */
#define NAME_MAX_LEN 200
#define LIST_LIMIT   50

typedef struct report {
    int dir;    /* index in backtests.reports */
    char *name; /* the file's name, "….json" (owned) */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    json_t *summary;   /* what the list shows (owned); NULL when it could not be read */
    json_t *analyzers; /* the analyzers it has cases of (owned) */
    bool seen;         /* by the last scan */
} report;

struct ig_backtests {
    report *items;
    size_t n, cap;
};

void ig_backtests_free(struct ig_backtests *b) {
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].name);
        json_decref(b->items[i].summary);
        json_decref(b->items[i].analyzers);
    }
    free(b->items);
    free(b);
}

/* A report's file name as a listing takes it: letters, digits, '.', '_' and '-', starting with a
 * letter or digit (no "." nor ".."), ending in ".json". */
static bool file_name_ok(const char *name) {
    size_t n = strlen(name);
    return n > 5 && n <= NAME_MAX_LEN && strcmp(name + n - 5, ".json") == 0 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n &&
           strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", name[0]);
}

/* Reads the file 'name' of folder 'dirfd' into '*text' (malloc'd, '*len' bytes) when it is a
 * regular file of at most 'cap' bytes, not a link; '*st' gets its stat. RT_OK, RT_ETOOBIG, or
 * RT_EIO with errno. */
static int read_report(int dirfd, const char *name, size_t cap, struct stat *st, char **text,
                       size_t *len) {
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    *text = NULL;
    *len = 0;
    if (fd < 0)
        return RT_EIO;
    int rc = RT_OK;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        rc = RT_EIO;
        goto out;
    }
    if ((size_t)st->st_size > cap) {
        rc = RT_ETOOBIG;
        goto out;
    }
    *text = malloc((size_t)st->st_size + 1);
    if (!*text) {
        rc = RT_ENOMEM;
        goto out;
    }
    while (*len < (size_t)st->st_size) {
        ssize_t got = read(fd, *text + *len, (size_t)st->st_size - *len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break; /* shorter than it was: what is there */
        *len += (size_t)got;
    }
    (*text)[*len] = '\0';
out:
    close(fd);
    return rc;
}

/* A member of 'o' as the list shows it: its value when it has type 'want' (a jansson type), else
 * null. Reports from other versions, or edited by hand, may hold anything. */
static json_t *typed(const json_t *o, const char *key, json_type want) {
    json_t *v = json_object_get(o, key);
    if (v && (json_typeof(v) == want || (want == JSON_REAL && json_is_integer(v))))
        return json_incref(v);
    return json_null();
}

static json_t *rev_json(const json_t *rev) {
    if (!json_is_object(rev))
        return json_null();
    return json_pack("{s:o, s:o}", "rev", typed(rev, "rev", JSON_STRING), "commit",
                     typed(rev, "commit", JSON_STRING));
}

/* The list's view of report 'doc' in file 'name' of 'size' bytes; the analyzers of its cases go
 * to '*analyzers'. */
static json_t *summarize(const char *name, const json_t *doc, off_t size, json_t **analyzers) {
    const json_t *summary = json_object_get(doc, "summary"), *c;
    const json_t *changes = json_object_get(summary, "changes");
    size_t i;
    json_t *counts = json_object();
    const char *keys[] = {"cases", "pass", "fail", "stale", "error", "budget_hits"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        json_object_set_new(counts, keys[k], typed(summary, keys[k], JSON_INTEGER));
    if (json_is_null(json_object_get(counts, "cases")) &&
        json_is_array(json_object_get(doc, "cases")))
        json_object_set_new(
            counts, "cases",
            json_integer((json_int_t)json_array_size(json_object_get(doc, "cases"))));
    *analyzers = json_array();
    json_array_foreach(json_object_get(doc, "cases"), i, c) {
        json_t *a = json_object_get(c, "analyzer");
        size_t k;
        json_t *seen;
        bool dup = false;
        if (!json_is_string(a))
            continue;
        json_array_foreach(*analyzers, k, seen) dup = dup || json_equal(seen, a);
        if (!dup)
            json_array_append(*analyzers, a);
    }
    size_t n = strlen(name) - 5;
    json_t *o = json_pack(
        "{s:s#, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "name", name, (int)n, "file",
        name, "id", typed(doc, "id", JSON_STRING), "started_at",
        typed(doc, "started_at", JSON_STRING), "duration_s", typed(doc, "duration_s", JSON_REAL),
        "head", rev_json(json_object_get(doc, "head")), "base",
        rev_json(json_object_get(doc, "base")), "counts", counts, "broken",
        json_is_object(changes) ? typed(changes, "broken", JSON_INTEGER) : json_null(), "analyzers",
        json_incref(*analyzers), "bytes", (json_int_t)size);
    return o;
}

static report *find(struct ig_backtests *b, int dir, const char *name) {
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].dir == dir && strcmp(b->items[i].name, name) == 0)
            return &b->items[i];
    return NULL;
}

/* Brings the entry of file 'name' of folder 'dir' up to date with the file as it is now. */
static void refresh(ig_serve *s, int dir, int dirfd, const char *name) {
    struct ig_backtests *b = s->backtests;
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return; /* a link, gone, unreadable: not listed */
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!regular)
        return;
    report *r = find(b, dir, name);
    if (r && r->dev == st.st_dev && r->ino == st.st_ino && r->size == st.st_size &&
        r->mtime.tv_sec == st.st_mtim.tv_sec && r->mtime.tv_nsec == st.st_mtim.tv_nsec) {
        r->seen = true;
        return;
    }
    if (!r) {
        if (b->n == b->cap) {
            b->cap = b->cap ? b->cap * 2 : 64;
            b->items = rt_xrealloc(b->items, b->cap * sizeof *b->items);
        }
        r = &b->items[b->n++];
        memset(r, 0, sizeof *r);
        r->dir = dir;
        r->name = rt_xstrdup(name);
    }
    json_decref(r->summary);
    json_decref(r->analyzers);
    r->summary = r->analyzers = NULL;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    r->size = st.st_size;
    r->mtime = st.st_mtim;
    r->seen = true;
    int rc = read_report(dirfd, name, s->config->backtests.max_bytes, &st, &text, &len);
    json_t *doc = rc == RT_OK ? json_loadb(text, len, 0, NULL) : NULL;
    const char *schema = json_string_value(json_object_get(doc, "schema"));
    if (json_is_object(doc) && schema && strcmp(schema, "inquest.backtest/v1") == 0)
        r->summary = summarize(name, doc, st.st_size, &r->analyzers);
    else {
        /* Listed, so that a report too large or damaged is not silently missing. */
        size_t n = strlen(name) - 5;
        r->summary = json_pack("{s:s#, s:s, s:I, s:s}", "name", name, (int)n, "file", name, "bytes",
                               (json_int_t)st.st_size, "problem",
                               rc == RT_ETOOBIG ? "larger than backtests.max_bytes"
                               : rc != RT_OK    ? "cannot be read"
                                                : "not an inquest.backtest/v1 report");
        r->analyzers = json_array();
    }
    json_decref(doc);
    free(text);
}

/* Scans every folder, brings the entries up to date and drops those of files gone. */
static void scan(ig_serve *s) {
    struct ig_backtests *b = s->backtests;
    for (size_t i = 0; i < b->n; i++)
        b->items[i].seen = false;
    for (size_t d = 0; d < s->config->backtests.n_reports; d++) {
        DIR *dir = opendir(s->config->backtests.reports[d]);
        if (!dir)
            continue;
        struct dirent *e;
        size_t looked = 0;
        while ((e = readdir(dir)) && looked < MAX_FILES) {
            if (!file_name_ok(e->d_name))
                continue;
            looked++;
            refresh(s, (int)d, dirfd(dir), e->d_name);
        }
        closedir(dir);
    }
    size_t kept = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->items[i].seen) {
            b->items[kept++] = b->items[i];
            continue;
        }
        free(b->items[i].name);
        json_decref(b->items[i].summary);
        json_decref(b->items[i].analyzers);
    }
    b->n = kept;
}

/* True when 'token' may use every analyzer of 'r'. A report that names none (damaged, too
 * large, empty, not a report) says nothing of whose it is, so only a token allowed every
 * analyzer sees it: for the others, "every one of none" would show it to all. */
static bool visible(const ig_serve *s, const ig_token *token, const report *r) {
    size_t i;
    json_t *a;
    if (json_array_size(r->analyzers) == 0)
        return ig_token_allows_all(token);
    json_array_foreach(r->analyzers, i, a) {
        const char *name = json_string_value(a);
        const char *owner =
            json_string_value(json_object_get(json_object_get(s->catalog, name), "owner"));
        if (!ig_token_allows(token, name, owner))
            return false;
    }
    return true;
}

/* Newest first: by started_at (RFC 3339 UTC sorts as text), then by name; the first folder wins
 * a name found twice. */
static int newest_first(const void *x, const void *y) {
    const report *a = *(const report *const *)x, *b = *(const report *const *)y;
    const char *sa = json_string_value(json_object_get(a->summary, "started_at"));
    const char *sb = json_string_value(json_object_get(b->summary, "started_at"));
    int c = strcmp(sb ? sb : "", sa ? sa : "");
    if (c)
        return c;
    c = strcmp(b->name, a->name);
    return c ? c : a->dir - b->dir;
}

/* The reports 'token' may see, newest first, one per name, in '*out' (malloc'd). */
static size_t visible_reports(ig_serve *s, const ig_token *token, report ***out) {
    struct ig_backtests *b = s->backtests;
    report **list = rt_xcalloc(b->n + 1, sizeof(report *));
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        report *r = &b->items[i], *first = r;
        for (size_t k = 0; k < b->n; k++)
            if (strcmp(b->items[k].name, r->name) == 0 && b->items[k].dir < first->dir)
                first = &b->items[k];
        if (first == r && visible(s, token, r))
            list[n++] = r;
    }
    qsort(list, n, sizeof(report *), newest_first);
    *out = list;
    return n;
}

/* ?'name'= as a whole number from 'lo' to 'hi' into '*out' (left as it is when absent). False
 * after answering 400. */
static bool number_param(rt_httpd_req *req, const char *name, long lo, long hi, long *out,
                         const char *what) {
    char text[32], *end = NULL;
    int n = rt_httpd_query(req, name, text, sizeof text);
    if (n == RT_ENOTFOUND)
        return true;
    long v = n > 0 ? strtol(text, &end, 10) : -1;
    if (n <= 0 || *end || v < lo || v > hi) {
        rt_httpd_error(req, 400, "bad_request", "%s must be %s", name, what);
        return false;
    }
    *out = v;
    return true;
}

static void list_reports(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    char text[32];
    long limit = LIST_LIMIT, offset = 0;
    if (!number_param(req, "limit", 1, 500, &limit, "a whole number from 1 to 500") ||
        !number_param(req, "cursor", 0, 1L << 30, &offset, "one a listing gave"))
        return;
    scan(s);
    report **list;
    size_t total = visible_reports(s, token, &list);
    json_t *items = json_array();
    for (size_t i = (size_t)offset; i < total && i < (size_t)(offset + limit); i++)
        json_array_append(items, list[i]->summary);
    json_t *body =
        json_pack("{s:o, s:i}", "backtests", items, "folders", (int)s->config->backtests.n_reports);
    if ((size_t)(offset + limit) < total) {
        snprintf(text, sizeof text, "%ld", offset + limit);
        json_object_set_new(body, "next_cursor", json_string(text));
    }
    free(list);
    rt_httpd_respond_json(req, 200, body);
}

static void one_report(ig_serve *s, rt_httpd_req *req, const ig_token *token, const char *raw) {
    char name[NAME_MAX_LEN + 8], file[NAME_MAX_LEN + 16];
    int n = rt_httpd_url_decode(raw, strlen(raw), false, name, sizeof name - 5);
    snprintf(file, sizeof file, "%s.json", n > 0 ? name : "");
    if (n <= 0 || !file_name_ok(file)) {
        rt_httpd_error(req, 404, "not_found", "no backtest report named '%s'", n > 0 ? name : raw);
        return;
    }
    scan(s);
    report **list, *r = NULL;
    size_t total = visible_reports(s, token, &list);
    for (size_t i = 0; i < total && !r; i++)
        if (strcmp(list[i]->name, file) == 0)
            r = list[i];
    free(list);
    if (!r) {
        rt_httpd_error(req, 404, "not_found", "no backtest report named '%s'", name);
        return;
    }
    const char *problem = json_string_value(json_object_get(r->summary, "problem"));
    if (problem) {
        rt_httpd_error(req, 422, "bad_report", "backtest report %s is %s", name, problem);
        return;
    }
    int fd = open(s->config->backtests.reports[r->dir], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int rc =
        fd >= 0 ? read_report(fd, file, s->config->backtests.max_bytes, &st, &text, &len) : RT_EIO;
    if (fd >= 0)
        close(fd);
    json_t *doc = rc == RT_OK ? json_loadb(text, len, 0, NULL) : NULL;
    if (!doc)
        rt_httpd_error(req, 404, "not_found", "backtest report %s cannot be read now", name);
    else
        rt_httpd_respond(req, 200, "application/json", text, len);
    json_decref(doc);
    free(text);
}

bool ig_api_backtests(ig_serve *s, rt_httpd_req *req, const ig_token *token) {
    const char *path = req->path;
    bool list = strcmp(path, "/v1/backtests") == 0;
    if (!list && strncmp(path, "/v1/backtests/", 14) != 0)
        return false;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        rt_httpd_set_header(req, "Allow", "GET");
        rt_httpd_error(req, 405, "method_not_allowed", "%s is not allowed here (allowed: GET)",
                       req->method);
        return true;
    }
    if (!s->backtests)
        s->backtests = rt_xcalloc(1, sizeof *s->backtests);
    if (list)
        list_reports(s, req, token);
    else if (!path[14] || strchr(path + 14, '/'))
        rt_httpd_error(req, 404, "not_found", "no backtest report named '%s'", path + 14);
    else
        one_report(s, req, token, path + 14);
    return true;
}
