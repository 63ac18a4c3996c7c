/* workers/wk_catalog.c -- where analyzers are: resolving names under the analyzer path, walking
 * it, and compiling each file's text once into bytecode that later states load quickly. Only
 * bytecode the host compiled itself is ever loaded; analyzer code may load text only. */
#define _DEFAULT_SOURCE /* DT_DIR */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "wk_internal.h"

#define MAX_ANALYZER_BYTES (1 << 20)

size_t wk__catalog_roots(wk_engine *engine, const char *const **roots) {
    *roots = (const char *const *)engine->roots;
    return engine->nroots;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int wk_valid_name(const char *name) {
    if (!*name || *name == '.')
        return 0;
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || *p == '.' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return 0;
    /* "x.lua" would be taken for a file by wk_resolve (wk__looks_like_path), not a name. */
    return !strstr(name, "..") && name[strlen(name) - 1] != '.' && !wk__looks_like_path(name);
}

/* "http.error_spike" under "analyzers" is "analyzers/http/error_spike.lua". Malloc'd. */
static char *path_of_name(const char *root, const char *name) {
    size_t n = strlen(root), m = strlen(name);
    char *path = rt_xmalloc(n + m + 6);
    memcpy(path, root, n);
    path[n] = '/';
    for (size_t i = 0; i < m; i++)
        path[n + 1 + i] = name[i] == '.' ? '/' : name[i];
    memcpy(path + n + 1 + m, ".lua", 5);
    return path;
}

int wk__looks_like_path(const char *s) {
    size_t n = strlen(s);
    return strchr(s, '/') || (n > 4 && strcmp(s + n - 4, ".lua") == 0);
}

/* The file that 'name' resolved to before, or NULL. */
static const char *resolved_before(wk_engine *engine, const char *name) {
    for (size_t i = 0; i < engine->nresolved; i += 2)
        if (strcmp(engine->resolved[i], name) == 0)
            return engine->resolved[i + 1];
    return NULL;
}

static void remember_resolved(wk_engine *engine, const char *name, const char *path) {
    engine->resolved = rt_xrealloc(engine->resolved, (engine->nresolved + 2) * sizeof(char *));
    engine->resolved[engine->nresolved++] = rt_xstrdup(name);
    engine->resolved[engine->nresolved++] = rt_xstrdup(path);
}

int wk_resolve(wk_engine *engine, const char *name_or_path, char **path, rt_diag *diag) {
    if (wk__looks_like_path(name_or_path)) {
        if (is_file(name_or_path)) {
            *path = rt_xstrdup(name_or_path);
            return RT_OK;
        }
        rt_diag_add(diag, name_or_path, 0, NULL, "no such analyzer file");
        return RT_ENOTFOUND;
    }
    if (!wk_valid_name(name_or_path)) {
        rt_diag_add(diag, NULL, 0, NULL,
                    "'%s' is neither an analyzer name (like http.error_spike) nor a .lua file",
                    name_or_path);
        return RT_ENOTFOUND;
    }
    const char *known = resolved_before(engine, name_or_path);
    if (known) {
        *path = rt_xstrdup(known);
        return RT_OK;
    }
    for (size_t i = 0; i < engine->nroots; i++) {
        char *candidate = path_of_name(engine->roots[i], name_or_path);
        if (is_file(candidate)) {
            remember_resolved(engine, name_or_path, candidate);
            *path = candidate;
            return RT_OK;
        }
        free(candidate);
    }
    rt_diag_add(diag, NULL, 0, NULL, "analyzer '%s' not found under the analyzer path (%s%s)",
                name_or_path, engine->nroots ? engine->roots[0] : "empty",
                engine->nroots > 1 ? ", …; see `inquest list`" : "");
    return RT_ENOTFOUND;
}

/* The length of the start of 'message' that names 'path' as Lua does: the path itself, or "..."
 * and its end when it is longer than LUA_IDSIZE allows; 0 when it names something else. */
static size_t source_length(const char *message, const char *path) {
    size_t n = strlen(path);
    if (strncmp(message, path, n) == 0)
        return n;
    if (strncmp(message, "...", 3) != 0)
        return 0;
    for (size_t k = 1; k < n; k++)
        if (strncmp(message + 3, path + k, n - k) == 0 && message[3 + n - k] == ':')
            return 3 + n - k;
    return 0;
}

/* Lua's messages read "file:line: text"; split them so that the place is reported as such. */
static void diag_from_lua(rt_diag *diag, const char *path, const char *message) {
    size_t n = source_length(message, path);
    const char *p = message;
    if (n && p[n] == ':' && p[n + 1] >= '0' && p[n + 1] <= '9') {
        char *end;
        long line = strtol(p + n + 1, &end, 10);
        if (end[0] == ':' && end[1] == ' ') {
            rt_diag_add(diag, path, (int)line, NULL, "%s", end + 2);
            return;
        }
    }
    rt_diag_add(diag, path, 0, NULL, "%s", message);
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
    wk_compiled *c = ud;
    (void)L;
    c->bytecode = rt_xrealloc(c->bytecode, c->len + sz);
    memcpy(c->bytecode + c->len, p, sz);
    c->len += sz;
    return 0;
}

/* Compiles the text of 'path' in a scratch state and keeps the bytecode. */
static int compile(const char *path, wk_compiled *c, rt_diag *diag) {
    char *text = NULL, why[256];
    size_t len;
    int rc = rt_file_read(path, MAX_ANALYZER_BYTES, &text, &len, why);
    if (rc != RT_OK) {
        if (rc != RT_ENOTFOUND)
            rt_diag_add(diag, path, 0, NULL, "%s", why);
        return rc;
    }
    rt_sha256_hex(text, len, c->hash); /* results name the text even when it does not compile */
    lua_State *scratch = luaL_newstate();
    if (!scratch) {
        free(text);
        return RT_ENOMEM;
    }
    lua_pushfstring(scratch, "@%s", path);
    if (luaL_loadbufferx(scratch, text, len, lua_tostring(scratch, -1), "t") != LUA_OK) {
        diag_from_lua(diag, path, lua_tostring(scratch, -1));
        rc = RT_EANALYZER;
        goto out;
    }
    c->path = rt_xstrdup(path);
    lua_dump(scratch, dump_writer, c, 0); /* keep line numbers for file:line in errors */
out:
    lua_close(scratch);
    free(text);
    return rc;
}

/* The compiled form of 'path', compiling it on first use; NULL with '*rc' set when it does not
 * compile. 'hash' receives the text's hash either way (empty when the file cannot be read). */
static wk_compiled *cached(wk_engine *engine, const char *path, char *hash, rt_diag *diag,
                           int *rc) {
    for (size_t i = 0; i < engine->ncache; i++) {
        if (strcmp(engine->cache[i].path, path) == 0) {
            /* To the front: a worker compiles its whole analyzer path (wk_engine_warm), and runs
             * a few of them most of the time. */
            wk_compiled found = engine->cache[i];
            engine->cache[i] = engine->cache[0];
            engine->cache[0] = found;
            memcpy(hash, found.hash, sizeof found.hash);
            return &engine->cache[0];
        }
    }
    wk_compiled c = {0};
    *rc = compile(path, &c, diag);
    memcpy(hash, c.hash, sizeof c.hash);
    if (*rc != RT_OK)
        return NULL;
    engine->cache = rt_xrealloc(engine->cache, (engine->ncache + 1) * sizeof c);
    engine->cache[engine->ncache] = c;
    return &engine->cache[engine->ncache++];
}

wk_compiled *wk__catalog_compiled(wk_engine *engine, const char *path) {
    char hash[72];
    rt_diag diag = {0};
    int rc;
    wk_compiled *c = cached(engine, path, hash, &diag, &rc);
    rt_diag_free(&diag);
    return c;
}

int wk__catalog_push(lua_State *L, const wk_compiled *c) {
    return luaL_loadbufferx(L, c->bytecode, c->len, c->path, "b");
}

int wk__catalog_load(wk_engine *engine, lua_State *L, const char *path, char *hash, rt_diag *diag) {
    int rc = RT_OK;
    wk_compiled *c = cached(engine, path, hash, diag, &rc);
    if (!c)
        return rc;
    if (wk__catalog_push(L, c) != LUA_OK) {
        rt_diag_add(diag, path, 0, NULL, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return RT_ENOMEM; /* our own bytecode: only memory can fail */
    }
    return RT_OK;
}

void wk__catalog_forget(wk_engine *engine) {
    for (size_t i = 0; i < engine->ncache; i++) {
        free(engine->cache[i].path);
        free(engine->cache[i].bytecode);
    }
    free(engine->cache);
    engine->cache = NULL;
    engine->ncache = 0;
    for (size_t i = 0; i < engine->nresolved; i++)
        free(engine->resolved[i]);
    free(engine->resolved);
    engine->resolved = NULL;
    engine->nresolved = 0;
}

/* ---- Walking the analyzer path ------------------------------------------------------------ */

/* Folders nest at most this deep below where a walk starts; deeper ones are not entered. */
#define WALK_MAX_DEPTH 16

typedef struct path_list {
    char **items;
    size_t n;
} path_list;

/* 'path' spelled one way: without "." segments and repeated or trailing slashes ("./a//b/./c/"
 * is "a/b/c", "." is ""). ".." stays: undoing it needs the filesystem. Malloc'd. */
static char *normalised(const char *path) {
    char *out = rt_xmalloc(strlen(path) + 1), *o = out;
    const char *p = path;
    if (*p == '/')
        *o++ = '/';
    while (*p) {
        while (*p == '/')
            p++;
        const char *segment = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - segment);
        if (n == 0 || (n == 1 && segment[0] == '.'))
            continue;
        if (o > out && o[-1] != '/')
            *o++ = '/';
        memcpy(o, segment, n);
        o += n;
    }
    *o = '\0';
    return out;
}

static int has_parent_segment(const char *path) {
    for (const char *p = path; (p = strstr(p, "..")); p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return 1;
    return 0;
}

/* What of 'path' lies below 'root' (both normalised): a pointer into 'path', or NULL when
 * 'path' is not strictly below 'root' or climbs out with "..". */
static const char *below(const char *root, const char *path) {
    size_t n = strlen(root);
    const char *rest;
    if (n == 0) /* the root "." holds every relative path */
        rest = *path == '/' ? NULL : path;
    else if (root[n - 1] == '/') /* the root "/" */
        rest = strncmp(path, root, n) == 0 ? path + n : NULL;
    else
        rest = strncmp(path, root, n) == 0 && path[n] == '/' ? path + n + 1 : NULL;
    return rest && *rest && !has_parent_segment(rest) ? rest : NULL;
}

static int skipped_dir(const char *name, int top) {
    size_t n = strlen(name);
    return name[0] == '.' || (top && strcmp(name, "lib") == 0) ||
           (n > 6 && strcmp(name + n - 6, ".cases") == 0);
}

/* Adds the .lua files under 'dir' to 'out'. A symbolic link to a file counts; a link to a folder
 * is not entered, since links can make loops (a -> ..), and the depth is bounded besides. */
static void collect(const char *dir, int top, int depth, path_list *out) {
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        char *path = rt_xmalloc(strlen(dir) + n + 2);
        sprintf(path, "%s/%s", dir, e->d_name);
        struct stat st;
        int ok = lstat(path, &st) == 0;
        if (ok && S_ISLNK(st.st_mode))
            ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
        if (!ok) {
            free(path);
            continue;
        }
        if (S_ISDIR(st.st_mode) && !skipped_dir(e->d_name, top) && depth < WALK_MAX_DEPTH) {
            collect(path, 0, depth + 1, out);
        } else if (S_ISREG(st.st_mode) && n > 4 && strcmp(e->d_name + n - 4, ".lua") == 0) {
            out->items = rt_xrealloc(out->items, (out->n + 1) * sizeof *out->items);
            out->items[out->n++] = path;
            continue;
        }
        free(path);
    }
    closedir(d);
}

static int compare_paths(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether 'folder' lies strictly inside one of the roots (then its lib/ is no root's lib/). */
static int inside_a_root(wk_engine *engine, const char *folder) {
    char *f = normalised(folder);
    int inside = 0;
    for (size_t i = 0; i < engine->nroots && !inside; i++) {
        char *root = normalised(engine->roots[i]);
        inside = below(root, f) != NULL;
        free(root);
    }
    free(f);
    return inside;
}

void wk_each_analyzer(wk_engine *engine, const char *folder, void (*fn)(const char *path, void *ud),
                      void *ud) {
    path_list list = {0};
    if (folder) {
        char *dir = rt_xstrdup(folder);
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            dir[--n] = '\0';
        collect(dir, !inside_a_root(engine, dir), 0, &list);
        free(dir);
    } else {
        for (size_t i = 0; i < engine->nroots; i++)
            collect(engine->roots[i], 1, 0, &list);
    }
    if (list.n > 1)
        qsort(list.items, list.n, sizeof *list.items, compare_paths);
    for (size_t i = 0; i < list.n; i++) {
        fn(list.items[i], ud);
        free(list.items[i]);
    }
    free(list.items);
}

/* The name an analyzer at 'path' must have, when 'path' lies under a root; NULL otherwise. The
 * two are compared spelled one way, so that ./analyzers/x/y.lua is under the root analyzers. */
char *wk__expected_name(wk_engine *engine, const char *path) {
    char *p = normalised(path), *name = NULL;
    for (size_t i = 0; i < engine->nroots && !name; i++) {
        char *root = normalised(engine->roots[i]);
        const char *rest = below(root, p);
        size_t m = rest ? strlen(rest) : 0;
        if (m > 4 && strcmp(rest + m - 4, ".lua") == 0) {
            name = rt_xstrdup(rest);
            name[m - 4] = '\0';
            for (char *c = name; *c; c++)
                if (*c == '/')
                    *c = '.';
        }
        free(root);
    }
    free(p);
    return name;
}
