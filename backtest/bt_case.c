/* backtest/bt_case.c -- backtest cases: reading a case folder's case.json (inquest.case/v1,
 * docs/backtest.md) strictly, so that a typo in an expectation is an error rather than a check
 * that silently never runs, and finding the case folders a backtest runs: beside each analyzer
 * on the analyzer path (<name>.cases/<case>/), or under --cases DIR. The recording beside
 * case.json is read by the child that replays the case (bt_run.c), not here. */
#define _DEFAULT_SOURCE       /* DT_DIR */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pcre2.h>

#include "bt_internal.h"
#include "wk.h"

#define MAX_CASE_BYTES ((size_t)1 << 20) /* a case.json is a few hundred bytes */
#define WALK_MAX_DEPTH 16                /* folders below --cases DIR */
#define FIELD_MAX      160

/* The statuses a result can have (docs/sdk.md, "The result"). */
static const char *const statuses[] = {
    "ok", "error", "timeout", "cpu_exceeded", "memory_exceeded", "cancelled", NULL};

static const char *const case_members[] = {"schema", "analyzer", "description", "inputs",
                                           "now",    "id",       "expect",      NULL};
static const char *const expect_members[] = {"status",   "conclusion", "root_cause",
                                             "findings", "absent",     NULL};
static const char *const matcher_members[] = {"root_cause", "title", NULL};

/* What reading one case.json needs at hand. */
typedef struct reader {
    bt_case *c;
    const char *file; /* case.json as shown */
} reader;

static void problem(reader *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(reader *r, const char *field, const char *fmt, ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    rt_diag_add(&r->c->problems, r->file, 0, field, "%s", message);
}

static const char *kind_of(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static bool listed(const char *const *names, const char *name) {
    for (; *names; names++)
        if (strcmp(*names, name) == 0)
            return true;
    return false;
}

/* Every member of 'obj' must be one of 'allowed': an unknown one is most often a typo. */
static void check_members(reader *r, const json_t *obj, const char *path,
                          const char *const *allowed) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (listed(allowed, key))
            continue;
        char field[FIELD_MAX], expected[256] = "";
        snprintf(field, sizeof field, "%s%s%s", path, *path ? "." : "", key);
        for (const char *const *a = allowed; *a; a++)
            snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
                     a == allowed ? "" : ", ", *a);
        problem(r, field, "unknown member (expected %s)", expected);
    }
}

/* The string member 'key' of 'obj' (owned copy), NULL when absent; a problem when it is not a
 * non-empty string. */
static char *string_member(reader *r, const json_t *obj, const char *path, const char *key) {
    json_t *v = json_object_get(obj, key);
    char field[FIELD_MAX];
    snprintf(field, sizeof field, "%s%s%s", path, *path ? "." : "", key);
    if (!v)
        return NULL;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        problem(r, field, "expected a non-empty string, got %s",
                json_is_string(v) ? "an empty one" : kind_of(v));
        return NULL;
    }
    return rt_xstrndup(json_string_value(v), json_string_length(v));
}

/* ---- expect -------------------------------------------------------------------------------- */

static void matcher_compile(reader *r, bt_matcher *m, const char *field) {
    int err;
    PCRE2_SIZE offset;
    m->code =
        pcre2_compile((PCRE2_SPTR)m->title, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &offset, NULL);
    if (m->code)
        return;
    char message[256];
    pcre2_get_error_message(err, (PCRE2_UCHAR *)message, sizeof message);
    problem(r, field, "not a valid PCRE2 pattern: %s at offset %zu", message, (size_t)offset);
}

/* expect.findings or expect.absent: a list of { root_cause, title }. */
static bt_matcher *matchers(reader *r, const json_t *expect, const char *key, size_t *n) {
    json_t *list = json_object_get(expect, key), *item;
    char path[FIELD_MAX], field[FIELD_MAX];
    size_t i;
    *n = 0;
    snprintf(path, sizeof path, "expect.%s", key);
    if (!list)
        return NULL;
    if (!json_is_array(list)) {
        problem(r, path, "expected a list of findings ({root_cause, title}), got %s",
                kind_of(list));
        return NULL;
    }
    bt_matcher *out = rt_xcalloc(json_array_size(list) + 1, sizeof *out);
    json_array_foreach(list, i, item) {
        snprintf(field, sizeof field, "%.120s[%zu]", path, i);
        if (!json_is_object(item)) {
            problem(r, field, "expected an object {root_cause, title}, got %s", kind_of(item));
            continue;
        }
        check_members(r, item, field, matcher_members);
        bt_matcher *m = &out[(*n)++];
        m->root_cause = string_member(r, item, field, "root_cause");
        m->title = string_member(r, item, field, "title");
        if (!json_object_get(item, "root_cause") && !json_object_get(item, "title"))
            problem(r, field, "give root_cause, title or both");
        char title_field[FIELD_MAX + 8];
        snprintf(title_field, sizeof title_field, "%.150s.title", field);
        if (m->title)
            matcher_compile(r, m, title_field);
    }
    return out;
}

static void read_expect(reader *r, const json_t *doc) {
    bt_case *c = r->c;
    json_t *expect = json_object_get(doc, "expect");
    c->expect = json_object();
    if (expect && !json_is_object(expect)) {
        problem(r, "expect", "expected an object, got %s", kind_of(expect));
        expect = NULL;
    }
    if (expect) {
        check_members(r, expect, "expect", expect_members);
        json_object_update(c->expect, expect);
    }
    c->status = string_member(r, expect, "expect", "status");
    if (c->status && !listed(statuses, c->status))
        problem(r, "expect.status",
                "'%s' is no result status (ok, error, timeout, cpu_exceeded, memory_exceeded, "
                "cancelled)",
                c->status);
    if (!c->status)
        c->status = rt_xstrdup("ok");
    json_object_set_new(c->expect, "status", json_string(c->status));
    c->conclusion = string_member(r, expect, "expect", "conclusion");
    json_t *root_cause = json_object_get(expect, "root_cause");
    c->has_root_cause = root_cause != NULL;
    if (root_cause && !json_is_null(root_cause))
        c->root_cause = string_member(r, expect, "expect", "root_cause");
    c->findings = matchers(r, expect, "findings", &c->n_findings);
    c->absent = matchers(r, expect, "absent", &c->n_absent);
}

/* ---- the case ------------------------------------------------------------------------------ */

/* now: an absolute time, as in recordings (RFC 3339 or Unix seconds), never relative. */
static void read_now(reader *r, const json_t *doc) {
    json_t *v = json_object_get(doc, "now");
    char why[256];
    if (!v)
        return;
    if (json_is_number(v)) {
        r->c->now = json_number_value(v);
    } else if (!json_is_string(v)) {
        problem(r, "now", "expected an RFC 3339 time or Unix seconds, got %s", kind_of(v));
        return;
    } else if (strncmp(json_string_value(v), "now", 3) == 0) {
        problem(r, "now", "a case's clock is frozen: give the time itself, not \"%s\"",
                json_string_value(v));
        return;
    } else if (rt_time_parse(json_string_value(v), 0, &r->c->now, why) != 0) {
        problem(r, "now", "%s", why);
        return;
    }
    if (!(r->c->now > 0)) {
        problem(r, "now", "must be after 1970-01-01T00:00:00Z");
        r->c->now = 0;
    }
}

void bt__case_parse(bt_case *c, const char *dir, const char *file, const json_t *doc,
                    const char *beside) {
    reader r = {.c = c, .file = file};
    const char *slash = strrchr(dir, '/');
    memset(c, 0, sizeof *c);
    c->dir = rt_xstrdup(dir);
    c->name = rt_xstrdup(slash && slash[1] ? slash + 1 : dir);
    if (!json_is_object(doc)) {
        problem(&r, NULL, "expected a JSON object (inquest.case/v1), got %s", kind_of(doc));
        c->expect = json_pack("{s:s}", "status", "ok");
        c->status = rt_xstrdup("ok");
        return;
    }
    const char *schema = json_string_value(json_object_get(doc, "schema"));
    if (!schema || strcmp(schema, BT_CASE_SCHEMA) != 0)
        problem(&r, "schema", "expected \"%s\"%s", BT_CASE_SCHEMA,
                json_object_get(doc, "schema") ? "" : " (the member is missing)");
    check_members(&r, doc, "", case_members);
    c->analyzer = string_member(&r, doc, "", "analyzer");
    if (!c->analyzer && !json_object_get(doc, "analyzer"))
        problem(&r, "analyzer", "missing: the name of the analyzer to run");
    if (c->analyzer && beside && strcmp(c->analyzer, beside) != 0)
        problem(&r, "analyzer", "the case sits beside %s but names %s", beside, c->analyzer);
    c->description = string_member(&r, doc, "", "description");
    c->id = string_member(&r, doc, "", "id");
    json_t *inputs = json_object_get(doc, "inputs");
    if (inputs && !json_is_object(inputs))
        problem(&r, "inputs", "expected an object, got %s", kind_of(inputs));
    else if (inputs)
        c->inputs = json_deep_copy(inputs);
    read_now(&r, doc);
    read_expect(&r, doc);
}

void bt__case_load(bt_case *c, const char *dir, const char *beside) {
    size_t n = strlen(dir) + sizeof "/case.json";
    char *file = rt_xmalloc(n), why[256];
    snprintf(file, n, "%s/case.json", dir);
    char *data = NULL;
    size_t len = 0;
    int rc = rt_file_read(file, MAX_CASE_BYTES, &data, &len, why);
    json_error_t error;
    json_t *doc = rc == RT_OK ? json_loadb(data, len, JSON_REJECT_DUPLICATES, &error) : NULL;
    if (doc) {
        bt__case_parse(c, dir, file, doc, beside);
    } else {
        json_t *empty = json_object();
        bt__case_parse(c, dir, file, empty, beside); /* the folder; its problems are below */
        json_decref(empty);
        rt_diag_free(&c->problems);
        if (rc == RT_ENOTFOUND)
            rt_diag_add(&c->problems, file, 0, NULL,
                        "missing: a case folder holds case.json and recording.json");
        else if (rc != RT_OK)
            rt_diag_add(&c->problems, file, 0, NULL, "%s", why);
        else
            rt_diag_add_at(&c->problems, file, error.line > 0 ? error.line : 1,
                           error.column > 0 ? error.column : 1, NULL, "%s", error.text);
    }
    json_decref(doc);
    free(data);
    free(file);
}

static void matchers_free(bt_matcher *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(m[i].root_cause);
        free(m[i].title);
        pcre2_code_free(m[i].code);
    }
    free(m);
}

void bt__case_free(bt_case *c) {
    if (!c)
        return;
    free(c->dir);
    free(c->name);
    free(c->analyzer);
    free(c->description);
    json_decref(c->inputs);
    free(c->id);
    json_decref(c->expect);
    free(c->status);
    free(c->conclusion);
    free(c->root_cause);
    matchers_free(c->findings, c->n_findings);
    matchers_free(c->absent, c->n_absent);
    rt_diag_free(&c->problems);
    memset(c, 0, sizeof *c);
}

/* ---- finding case folders ------------------------------------------------------------------ */

typedef struct list {
    char **items;
    size_t n;
} list;

static void list_add(list *l, char *item) {
    l->items = rt_xrealloc(l->items, (l->n + 1) * sizeof *l->items);
    l->items[l->n++] = item;
}

static void list_free(list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = rt_xmalloc(n);
    snprintf(path, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return path;
}

/* A folder and not a link to one: links could make loops, as in the analyzer path's walk. */
static bool is_real_dir(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The folders in 'dir' (not hidden, not links), sorted. */
static void subfolders(const char *dir, list *out) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *path = join(dir, e->d_name);
        if (is_real_dir(path))
            list_add(out, path);
        else
            free(path);
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->items, out->n, sizeof *out->items, compare_strings);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* --cases DIR: a folder with case.json is a case, and so is every folder of a <name>.cases
 * folder (one without case.json is then an error case, not silently skipped). */
static void walk_cases(const char *dir, bool in_cases, int depth, list *out) {
    char *file = join(dir, "case.json");
    bool is_case = is_file(file) || in_cases;
    free(file);
    if (is_case) {
        list_add(out, rt_xstrdup(dir));
        return;
    }
    if (depth >= WALK_MAX_DEPTH)
        return;
    list sub = {0};
    subfolders(dir, &sub);
    for (size_t i = 0; i < sub.n; i++)
        walk_cases(sub.items[i], ends_with(dir, ".cases"), depth + 1, out);
    list_free(&sub);
}

static void cases_add(bt_cases *cases, const char *dir, const char *beside) {
    cases->items = rt_xrealloc(cases->items, (cases->n + 1) * sizeof *cases->items);
    bt__case_load(&cases->items[cases->n++], dir, beside);
}

static bool selected(const bt_options *o, const char *name) {
    if (o->n_analyzers == 0)
        return true;
    for (size_t i = 0; name && i < o->n_analyzers; i++)
        if (strcmp(o->analyzers[i], name) == 0)
            return true;
    return false;
}

/* What the walk of the analyzer path collects. */
typedef struct beside_walk {
    const char *root;
    list paths, names;
} beside_walk;

/* "http/error_spike.lua" under a root is http.error_spike. */
static void on_analyzer(const char *path, void *ud) {
    beside_walk *w = ud;
    size_t n = strlen(w->root);
    const char *rest = path + n + (path[n] == '/');
    if (strncmp(path, w->root, n) != 0 || !ends_with(rest, ".lua"))
        return;
    char *name = rt_xstrndup(rest, strlen(rest) - 4);
    for (char *p = name; *p; p++)
        *p = *p == '/' ? '.' : *p;
    list_add(&w->paths, rt_xstrdup(path));
    list_add(&w->names, name);
}

static bool seen(const list *names, const char *name) {
    for (size_t i = 0; i < names->n; i++)
        if (strcmp(names->items[i], name) == 0)
            return true;
    return false;
}

/* The cases beside each analyzer: <root>/<domain>/<name>.cases/<case>/. An analyzer that an
 * earlier folder of the path shadows runs as that one, so its cases are left out. */
static void find_beside(const bt_options *o, wk_engine *engine, const char *const *dirs,
                        size_t n_dirs, bt_cases *out) {
    list done = {0};
    for (size_t d = 0; d < n_dirs; d++) {
        char *root = rt_xstrdup(dirs[d]);
        for (size_t n = strlen(root); n > 1 && root[n - 1] == '/';)
            root[--n] = '\0';
        beside_walk w = {.root = root};
        wk_each_analyzer(engine, root, on_analyzer, &w);
        for (size_t i = 0; i < w.paths.n; i++) {
            const char *name = w.names.items[i];
            if (seen(&done, name) || !selected(o, name))
                continue;
            list_add(&done, rt_xstrdup(name));
            const char *file = w.paths.items[i];
            size_t stem = strlen(file) - 4; /* without ".lua" */
            char *folder = rt_xmalloc(stem + sizeof ".cases");
            memcpy(folder, file, stem);
            memcpy(folder + stem, ".cases", sizeof ".cases");
            list sub = {0};
            subfolders(folder, &sub);
            for (size_t k = 0; k < sub.n; k++)
                cases_add(out, sub.items[k], name);
            list_free(&sub);
            free(folder);
        }
        list_free(&w.paths);
        list_free(&w.names);
        free(root);
    }
    list_free(&done);
}

static int find_under(const bt_options *o, bt_cases *out, rt_diag *diag) {
    struct stat st;
    if (stat(o->cases_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rt_diag_add(diag, o->cases_dir, 0, "--cases", "no such folder");
        return RT_ENOTFOUND;
    }
    list dirs = {0};
    walk_cases(o->cases_dir, false, 0, &dirs);
    for (size_t i = 0; i < dirs.n; i++) {
        bt_case c;
        bt__case_load(&c, dirs.items[i], NULL);
        if (o->n_analyzers && !selected(o, c.analyzer)) {
            bt__case_free(&c);
            continue;
        }
        out->items = rt_xrealloc(out->items, (out->n + 1) * sizeof *out->items);
        out->items[out->n++] = c;
    }
    list_free(&dirs);
    return RT_OK;
}

/* "analyzers, more" for messages: the analyzer path's folders. */
static void path_text(const char *const *dirs, size_t n_dirs, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n_dirs && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%s", i ? ", " : "", dirs[i]);
}

/* Every analyzer named on the command line must be on the analyzer path: a typo must not make
 * a backtest of nothing that passes. */
static int check_names(const bt_options *o, wk_engine *engine, const char *where, rt_diag *diag) {
    int rc = RT_OK;
    for (size_t i = 0; i < o->n_analyzers; i++) {
        char *path = NULL;
        rt_diag quiet = {0};
        if (wk_resolve(engine, o->analyzers[i], &path, &quiet) != RT_OK) {
            rt_diag_add(diag, NULL, 0, NULL, "no analyzer '%s' on the analyzer path (%s)",
                        o->analyzers[i], where);
            rc = RT_ENOTFOUND;
        }
        rt_diag_free(&quiet);
        free(path);
    }
    return rc;
}

int bt__cases_find(const bt_options *o, const char *const *dirs, size_t n_dirs, bt_cases *out,
                   rt_diag *diag) {
    char where[1024];
    memset(out, 0, sizeof *out);
    path_text(dirs, n_dirs, where, sizeof where);
    wk_engine *engine = wk_engine_new(dirs, n_dirs);
    int rc = check_names(o, engine, where, diag);
    if (rc == RT_OK && o->cases_dir)
        rc = find_under(o, out, diag);
    else if (rc == RT_OK)
        find_beside(o, engine, dirs, n_dirs, out);
    wk_engine_free(engine);
    if (rc == RT_OK && out->n == 0) {
        if (o->cases_dir)
            rt_diag_add(diag, o->cases_dir, 0, "--cases", "no case folders (with case.json) here%s",
                        o->n_analyzers ? " for the analyzers named" : "");
        else
            rt_diag_add(diag, NULL, 0, NULL,
                        "no backtest cases beside the analyzers%s on the analyzer path (%s): "
                        "cases live in <domain>/<name>.cases/<case>/",
                        o->n_analyzers ? " named" : "", where);
        rc = RT_ENOTFOUND;
    }
    return rc;
}

void bt__cases_free(bt_cases *cases) {
    for (size_t i = 0; i < cases->n; i++)
        bt__case_free(&cases->items[i]);
    free(cases->items);
    cases->items = NULL;
    cases->n = 0;
}
