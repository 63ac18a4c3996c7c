/* runtime/rt_config.c -- the configuration file: YAML read with libyaml into the typed structures
 * of rt_config.h, every problem reported with file:line:column. The format is docs/config.md.
 *
 * Design notes. libyaml loads the whole file as a node tree (its document API); the loader then
 * walks the tree against tables of fields. A section is a `field` array: name, kind (how the
 * value is read and checked), offset of where it is stored, limits, and for a nested mapping its
 * own table and an optional check that sees the whole mapping (auth: which fields go with which
 * type). Adding a section or a field is adding a row. Invariants:
 *   - every problem is reported and loading goes on (up to MAX_ERRORS), so the user fixes all
 *     at once; a value with a problem is left at its default;
 *   - a key not in the table is an error naming the expected keys; a key twice is an error;
 *   - values that could be secrets are never quoted in a message: inline secrets, URLs with
 *     user:password@, header values, and any value of the wrong type. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "rt_config.h"
#include "rt_queue.h" /* rt_priority_names */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fnmatch.h>
#include <unistd.h>
#include <yaml.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <openssl/evp.h>

#define MAX_ERRORS   100
#define MAX_FIELDS   32 /* of one table: the bits of a `seen` mask */
#define PATH_MAX_LEN 256
#define MESSAGE_MAX  1024

_Static_assert(sizeof(rt_connector_type) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(rt_auth_type) == sizeof(int), "enums are stored as int");

typedef struct loader {
    const char *file;
    const char *text; /* the file's bytes, for positions of reader errors */
    yaml_document_t doc;
    rt_diag *errors, *warnings;
    size_t n_errors;
} loader;

/* ---- problems ---------------------------------------------------------------------------------
 */

/* Appends 'message' at mark 'm' (0-based, as libyaml counts) to 'd'. */
static void add_at(rt_diag *d, const char *file, yaml_mark_t m, const char *field,
                   const char *message) {
    rt_diag_add_at(d, file, (int)m.line + 1, (int)m.column + 1, field, "%s", message);
}

static void problem(loader *ld, yaml_mark_t m, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(loader *ld, yaml_mark_t m, const char *field, const char *fmt, ...) {
    char message[MESSAGE_MAX];
    va_list ap;
    if (ld->n_errors > MAX_ERRORS)
        return;
    if (ld->n_errors++ == MAX_ERRORS) {
        add_at(ld->errors, ld->file, m, NULL, "too many errors; stopping here");
        return;
    }
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    add_at(ld->errors, ld->file, m, field && *field ? field : NULL, message);
}

static void warning(loader *ld, yaml_mark_t m, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void warning(loader *ld, yaml_mark_t m, const char *field, const char *fmt, ...) {
    char message[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    add_at(ld->warnings, ld->file, m, field && *field ? field : NULL, message);
}

/* ---- nodes ------------------------------------------------------------------------------------
 */

static yaml_node_t *node_at(loader *ld, int index) {
    return yaml_document_get_node(&ld->doc, index);
}

static bool is_plain(const yaml_node_t *n) {
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n) {
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (!is_plain(n))
        return false;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp((const char *)n->data.scalar.value, nulls[i]) == 0)
            return true;
    return false;
}

/* What 'n' is, for "expected X, got Y"; never its value, which could be a secret. */
static const char *node_kind(const yaml_node_t *n) {
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (is_null(n))
        return "nothing (null)";
    return "a scalar";
}

/* The text of scalar 'n', or NULL after reporting what was expected instead. */
static const char *scalar(loader *ld, const yaml_node_t *n, const char *path, const char *what) {
    if (n->type != YAML_SCALAR_NODE || is_null(n)) {
        problem(ld, n->start_mark, path, "expected %s, got %s", what, node_kind(n));
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (memchr(s, '\0', n->data.scalar.length)) {
        problem(ld, n->start_mark, path, "expected %s, got text with a NUL byte", what);
        return NULL;
    }
    return s;
}

/* "parent.name" into 'out' (PATH_MAX_LEN bytes), cut when longer. */
static void join_path(char *out, const char *parent, const char *name) {
    size_t n = 0;
    for (const char *p = parent ? parent : ""; *p && n < PATH_MAX_LEN - 1; p++)
        out[n++] = *p;
    if (n > 0 && n < PATH_MAX_LEN - 1)
        out[n++] = '.';
    for (const char *p = name; *p && n < PATH_MAX_LEN - 1; p++)
        out[n++] = *p;
    out[n] = '\0';
}

/* ---- value checks -----------------------------------------------------------------------------
 */

static bool is_connector_name(const char *s) {
    if (!(*s >= 'a' && *s <= 'z'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static bool is_env_name(const char *s) {
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/* An HTTP header name: RFC 9110 token characters. */
static bool is_header_name(const char *s) {
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

/* Why 'url' is not a URL of one of 'schemes' (NULL-terminated, "http://"), or NULL. */
static const char *url_problem(const char *url, const char *const *schemes) {
    const char *rest = NULL;
    for (const char *const *s = schemes; *s && !rest; s++)
        if (strncmp(url, *s, strlen(*s)) == 0)
            rest = url + strlen(*s);
    if (!rest)
        return NULL; /* the caller says which schemes */
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return "must not contain spaces or control characters";
    size_t authority = strcspn(rest, "/?#");
    if (memchr(rest, '@', authority))
        return "must not hold credentials (user:password@): use the auth settings";
    if (authority == 0 && strncmp(url, "unix://", 7) != 0)
        return "has no host";
    return "";
}

/* ---- fields -----------------------------------------------------------------------------------
 */

typedef enum field_kind {
    F_STRING,    /* char *, non-empty */
    F_URL,       /* char *, http:// or https:// */
    F_REDIS_URL, /* char *, redis://, rediss:// or unix:// */
    F_ENV,       /* char *, an environment variable's name */
    F_FILE,      /* char *, the path of a file that holds a secret */
    F_SECRET,    /* nothing: an inline secret, always an error */
    F_DURATION,  /* double seconds, more than 0, in [min, max] */
    F_SIZE,      /* size_t bytes, in [min, max] */
    F_INT,       /* int, in [min, max] */
    F_U64,       /* uint64_t, in [min, max] */
    F_RATE,      /* double, in (min, max] */
    F_FRACTION,  /* double, in [min, max] */
    F_BOOL,      /* bool */
    F_ENUM,      /* int: the index in 'names' plus 'min' */
    F_DIRS,      /* the analyzer path: rt_config's analyzers */
    F_HEADERS,   /* rt_connector's headers */
    F_TABLE,     /* a mapping read with 'sub', stored at the same base plus 'offset' */
    F_NAMED,     /* a mapping of name to entry ('sub', 'size', 'init'): a list of entries */
    F_LIST,      /* a list of mappings read like F_NAMED; with NAMED, each has a unique name */
    F_STRINGS,   /* a list of non-empty strings: char ** and its count */
    F_ENUM_SET,  /* a list of names of 'names': unsigned, bit i for names[i] */
    F_MATCHERS,  /* a list of label matchers: rt_matcher * and its count */
    F_TEMPLATES, /* a mapping of name to template over the roots 'names': rt_template * */
    F_CAPS,      /* a mapping of team to whole number in [min, max]: rt_team_cap * */
    F_TEMPLATE,  /* char *: one template over the roots 'names' */
} field_kind;

enum { REQUIRED = 1, NAMED = 2 };

struct field;
typedef struct seen_keys {
    unsigned bits;                 /* bit i: field i was given */
    yaml_mark_t key[MAX_FIELDS];   /* where its key is */
    yaml_mark_t value[MAX_FIELDS]; /* where its value is */
} seen_keys;

/* Checks a whole mapping once its fields are read: 'base' is where they were stored. */
typedef void check_fn(loader *ld, void *base, const seen_keys *seen, const char *path,
                      yaml_mark_t where);

typedef struct field {
    const char *name;
    field_kind kind;
    unsigned flags;
    size_t offset;
    double min, max;
    const char *const *names; /* F_ENUM, F_ENUM_SET; F_TEMPLATES: the roots templates use */
    const struct field *sub;  /* F_TABLE, F_NAMED, F_LIST: the fields of the mapping */
    check_fn *check;          /* F_TABLE, F_NAMED, F_LIST: optional */
    size_t size;              /* F_NAMED, F_LIST: bytes of one entry */
    void (*init)(void *);     /* F_NAMED, F_LIST: sets an entry's defaults; optional */
} field;

/* Lists are stored as a pointer followed by a size_t count; entries of F_NAMED and named
 * F_LIST sections begin with `char *name; int line;` (rt_config.h). */
typedef struct list_slot {
    void *items;
    size_t n;
} list_slot;
typedef struct named_head {
    char *name;
    int line;
} named_head;

static void load_table(loader *ld, int index, const field *fields, void *base, const char *path,
                       yaml_mark_t where, seen_keys *seen);

static void *at(void *base, const field *f) {
    return (char *)base + f->offset;
}

static void store_string(void *base, const field *f, const char *s) {
    char **slot = at(base, f);
    free(*slot);
    *slot = rt_xstrdup(s);
}

/* Reads a plain number; true when all of 's' is one. */
static bool number(const yaml_node_t *n, const char *s, double *v) {
    char *end = NULL;
    if (!is_plain(n) || !*s || strchr(" \t+", *s))
        return false;
    errno = 0;
    *v = strtod(s, &end);
    return *end == '\0' && errno == 0 && isfinite(*v);
}

static void load_dirs(loader *ld, const yaml_node_t *n, rt_config *c, const char *path) {
    if (n->type != YAML_SEQUENCE_NODE) {
        problem(ld, n->start_mark, path, "expected a list of folders, got %s", node_kind(n));
        return;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0 || count > RT_CONFIG_MAX_DIRS) {
        problem(ld, n->start_mark, path, "expected 1 to %d folders, got %zu", RT_CONFIG_MAX_DIRS,
                count);
        return;
    }
    char **dirs = rt_xcalloc(count, sizeof *dirs);
    size_t n_dirs = 0;
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        const yaml_node_t *item = node_at(ld, *i);
        const char *s = scalar(ld, item, path, "a folder");
        if (s && !*s)
            problem(ld, item->start_mark, path, "expected a folder, got an empty string");
        else if (s)
            dirs[n_dirs++] = rt_xstrdup(s);
    }
    for (size_t i = 0; i < c->n_analyzers; i++)
        free(c->analyzers[i]);
    free(c->analyzers);
    c->analyzers = dirs;
    c->n_analyzers = n_dirs;
}

/* Header names that carry credentials: they go in auth, whose value comes from env or file. */
static bool is_credential_header(const char *name) {
    return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "proxy-authorization") == 0 ||
           strcasecmp(name, "cookie") == 0;
}

/* The number of entries of 'n', a mapping of 'what' (e.g. "header name to value") holding at
 * most RT_CONFIG_MAX_ENTRIES 'plural'; -1, with the problem reported, when it is not. */
static long named_entries(loader *ld, const yaml_node_t *n, const char *path, const char *what,
                          const char *plural) {
    if (n->type != YAML_MAPPING_NODE) {
        problem(ld, n->start_mark, path, "expected a mapping of %s, got %s", what, node_kind(n));
        return -1;
    }
    long count = (long)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (count > RT_CONFIG_MAX_ENTRIES) {
        problem(ld, n->start_mark, path, "at most %d %s, got %ld", RT_CONFIG_MAX_ENTRIES, plural,
                count);
        return -1;
    }
    return count;
}

static void load_headers(loader *ld, const yaml_node_t *n, rt_connector *c, const char *path) {
    long count = named_entries(ld, n, path, "header name to value", "headers");
    if (count < 0)
        return;
    c->headers = rt_xcalloc(count ? (size_t)count : 1, sizeof *c->headers);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        const char *name = scalar(ld, k, path, "a header name");
        if (!name)
            continue;
        char here[PATH_MAX_LEN];
        join_path(here, path, name);
        if (!is_header_name(name)) {
            problem(ld, k->start_mark, path, "'%s' is not an HTTP header name", name);
            continue;
        }
        if (is_credential_header(name)) {
            problem(ld, k->start_mark, here,
                    "credentials are never written in the config: use auth (type bearer, basic "
                    "or header) with a *_env or *_file");
            continue;
        }
        bool twice = false;
        for (size_t i = 0; i < c->n_headers && !twice; i++)
            twice = strcasecmp(c->headers[i].name, name) == 0;
        if (twice) {
            problem(ld, k->start_mark, here, "header given twice");
            continue;
        }
        const char *value = scalar(ld, v, here, "a header value");
        if (!value)
            continue;
        if (strpbrk(value, "\r\n")) {
            problem(ld, v->start_mark, here, "a header value must be one line");
            continue;
        }
        c->headers[c->n_headers].name = rt_xstrdup(name);
        c->headers[c->n_headers].value = rt_xstrdup(value);
        c->n_headers++;
    }
}

/* Appends a zeroed entry of 'size' bytes to the list at 'slot', which has room for it. */
static void *list_add(list_slot *slot, size_t size) {
    return memset((char *)slot->items + slot->n++ * size, 0, size);
}

/* The named entry 'name' among the first 'n' of 'slot', or NULL. */
static const named_head *list_find(const list_slot *slot, size_t n, size_t size, const char *name) {
    for (size_t i = 0; i < n; i++) {
        const named_head *h = (const void *)((const char *)slot->items + i * size);
        if (h->name && strcmp(h->name, name) == 0)
            return h;
    }
    return NULL;
}

/* Reads one entry's mapping at node 'index' into 'entry', with its defaults and check. */
static void load_entry(loader *ld, const field *f, int index, void *entry, const char *path,
                       yaml_mark_t where) {
    seen_keys seen;
    if (f->init)
        f->init(entry);
    load_table(ld, index, f->sub, entry, path, where, &seen);
    if (f->check)
        f->check(ld, entry, &seen, path, where);
}

/* F_NAMED: a mapping of name to entry, kept in the file's order. */
static void load_named(loader *ld, const yaml_node_t *n, void *base, const field *f,
                       const char *path) {
    long count = named_entries(ld, n, path, "name to entry", "entries");
    if (count < 0)
        return;
    list_slot *slot = at(base, f);
    slot->items = rt_xcalloc(count ? (size_t)count : 1, f->size);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node_at(ld, p->key);
        const char *name = scalar(ld, k, path, "a name");
        if (!name)
            continue;
        char here[PATH_MAX_LEN];
        join_path(here, path, name);
        /* "connectors" names a connector: the section's name without its plural s. */
        int singular = (int)strlen(f->name) - (f->name[strlen(f->name) - 1] == 's');
        if (!is_connector_name(name))
            problem(ld, k->start_mark, here,
                    "a %.*s name must match ^[a-z][a-z0-9_]*$ (lowercase letters, digits, _)",
                    singular, f->name);
        else if (list_find(slot, slot->n, f->size, name))
            problem(ld, k->start_mark, here, "%.*s defined twice", singular, f->name);
        named_head *h = list_add(slot, f->size);
        load_entry(ld, f, p->value, h, here, k->start_mark);
        h->name = rt_xstrdup(name);
        h->line = (int)k->start_mark.line + 1;
    }
}

/* F_LIST: a list of mappings; with NAMED, each has a name (a required row of 'sub') that no
 * other entry has. */
static void load_list(loader *ld, const yaml_node_t *n, void *base, const field *f,
                      const char *path) {
    if (n->type != YAML_SEQUENCE_NODE) {
        problem(ld, n->start_mark, path, "expected a list, got %s", node_kind(n));
        return;
    }
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > RT_CONFIG_MAX_ENTRIES) {
        problem(ld, n->start_mark, path, "at most %d entries, got %zu", RT_CONFIG_MAX_ENTRIES,
                count);
        return;
    }
    list_slot *slot = at(base, f);
    slot->items = rt_xcalloc(count ? count : 1, f->size);
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        const yaml_node_t *item = node_at(ld, *i);
        char here[PATH_MAX_LEN], index[24];
        snprintf(index, sizeof index, "%zu", slot->n);
        join_path(here, path, index);
        named_head *h = list_add(slot, f->size);
        load_entry(ld, f, *i, h, here, item->start_mark);
        if (!(f->flags & NAMED))
            continue;
        /* Also when the name is missing (an error already): the checks across sections place
         * their problems at the entry's line, and line 0 would leave them without a place. */
        h->line = (int)item->start_mark.line + 1;
        if (!h->name)
            continue;
        const named_head *first = list_find(slot, slot->n - 1, f->size, h->name);
        if (first)
            problem(ld, item->start_mark, here, "name '%s' already used at line %d", h->name,
                    first->line);
    }
}

/* The items of list 'n', or NULL after reporting that it is not a list of at most
 * RT_CONFIG_MAX_ENTRIES; '*count' is their number. */
static yaml_node_item_t *list_items(loader *ld, const yaml_node_t *n, const char *path,
                                    const char *what, size_t *count) {
    if (n->type != YAML_SEQUENCE_NODE) {
        problem(ld, n->start_mark, path, "expected a list of %s, got %s", what, node_kind(n));
        return NULL;
    }
    *count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (*count > RT_CONFIG_MAX_ENTRIES) {
        problem(ld, n->start_mark, path, "at most %d %s, got %zu", RT_CONFIG_MAX_ENTRIES, what,
                *count);
        return NULL;
    }
    return n->data.sequence.items.start;
}

static void load_strings(loader *ld, const yaml_node_t *n, void *base, const field *f,
                         const char *path) {
    size_t count = 0;
    yaml_node_item_t *items = list_items(ld, n, path, "strings", &count);
    if (!items)
        return;
    list_slot *slot = at(base, f);
    char **strings = slot->items = rt_xcalloc(count ? count : 1, sizeof(char *));
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node_at(ld, items[i]);
        const char *text = scalar(ld, item, path, "a string");
        if (text && !*text)
            problem(ld, item->start_mark, path, "expected a string, got an empty one");
        else if (text)
            strings[slot->n++] = rt_xstrdup(text);
    }
}

/* "a, b or c" of the names 'names' into 'out' (256 bytes); a prefix such as "labels." shows
 * as "labels.<name>". */
static void name_list(const char *const *names, char *out) {
    out[0] = '\0';
    for (size_t i = 0; names[i]; i++) {
        size_t len = strlen(out);
        size_t n = strlen(names[i]);
        snprintf(out + len, 256 - len, "%s%s%s",
                 i == 0         ? ""
                 : names[i + 1] ? ", "
                                : " or ",
                 names[i], names[i][n - 1] == '.' ? "<name>" : "");
    }
}

static void load_enum_set(loader *ld, const yaml_node_t *n, void *base, const field *f,
                          const char *path) {
    size_t count = 0;
    yaml_node_item_t *items = list_items(ld, n, path, "names", &count);
    if (!items)
        return;
    unsigned *bits = at(base, f);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node_at(ld, items[i]);
        const char *name = scalar(ld, item, path, "a name");
        size_t j = 0;
        while (name && f->names[j] && strcmp(f->names[j], name) != 0)
            j++;
        if (name && f->names[j])
            *bits |= 1u << j;
        else if (name) {
            char expected[256];
            name_list(f->names, expected);
            problem(ld, item->start_mark, path, "unknown value '%s' (expected %s)", name, expected);
        }
    }
}

/* ---- matchers and templates ------------------------------------------------------------------
 */

static bool is_label_name(const char *s, size_t n) {
    if (n == 0 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* The value after the operator: a double-quoted string with \" and \\ escapes, or the rest of
 * the text as written. Returns a malloc'd copy, or NULL with 'why' set. */
static char *matcher_value(const char *s, const char **why) {
    while (*s == ' ')
        s++;
    if (*s != '"')
        return rt_xstrdup(s);
    char *out = rt_xmalloc(strlen(s)), *o = out;
    for (s++; *s && *s != '"'; s++) {
        if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
            s++;
        *o++ = *s;
    }
    *o = '\0';
    if (*s != '"' || s[1] != '\0') {
        free(out);
        *why = *s ? "text after the closing quote" : "no closing quote";
        return NULL;
    }
    return out;
}

/* Parses 'text' ("name=value", "name!=value", "name=~regex", "name!~regex", name optionally
 * "annotations.<name>") into 'm'. Returns NULL, or what is wrong. */
static const char *matcher_parse(const char *text, rt_matcher *m, char *why) {
    const char *s = text, *bad = NULL;
    while (*s == ' ')
        s++;
    if (strncmp(s, "annotations.", 12) == 0) {
        m->annotation = true;
        s += 12;
    }
    size_t n = strcspn(s, "=!~ ");
    const char *op = s + n;
    while (*op == ' ')
        op++;
    if (!is_label_name(s, n))
        return "expected a label name (or annotations.<name>) first, like service=\"api\"";
    static const char *const ops[] = {"=~", "!~", "!=", "="};
    static const rt_match_op kinds[] = {RT_MATCH_RE, RT_MATCH_NOT_RE, RT_MATCH_NE, RT_MATCH_EQ};
    size_t k = 0;
    while (k < 4 && strncmp(op, ops[k], strlen(ops[k])) != 0)
        k++;
    if (k == 4)
        return "expected =, !=, =~ or !~ after the name";
    m->name = rt_xstrndup(s, n);
    m->op = kinds[k];
    if (!(m->value = matcher_value(op + strlen(ops[k]), &bad)))
        return bad;
    if (m->op != RT_MATCH_RE && m->op != RT_MATCH_NOT_RE)
        return NULL;
    int err = 0;
    PCRE2_SIZE offset = 0;
    m->regex = pcre2_compile((PCRE2_SPTR)m->value, PCRE2_ZERO_TERMINATED,
                             PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF, &err, &offset, NULL);
    if (m->regex) {
        /* Once here rather than per match: routes match every alert of every webhook. */
        m->match = pcre2_match_data_create_from_pattern(m->regex, NULL);
        if (!m->match)
            abort(); /* bookkeeping: a few bytes */
        return NULL;
    }
    char message[160];
    pcre2_get_error_message(err, (PCRE2_UCHAR *)message, sizeof message);
    snprintf(why, 256, "bad regular expression at offset %zu: %s", (size_t)offset, message);
    return why;
}

static void matcher_free(rt_matcher *m) {
    free(m->name);
    free(m->value);
    pcre2_match_data_free(m->match);
    pcre2_code_free(m->regex);
}

bool rt_matcher_matches(const rt_matcher *m, const char *value) {
    const char *v = value ? value : "";
    bool hit;
    if (m->op == RT_MATCH_EQ || m->op == RT_MATCH_NE)
        hit = strcmp(v, m->value) == 0;
    else
        hit =
            pcre2_match(m->regex, (PCRE2_SPTR)v, PCRE2_ZERO_TERMINATED, 0, 0, m->match, NULL) >= 0;
    return (m->op == RT_MATCH_EQ || m->op == RT_MATCH_RE) ? hit : !hit;
}

static void load_matchers(loader *ld, const yaml_node_t *n, void *base, const field *f,
                          const char *path) {
    size_t count = 0;
    yaml_node_item_t *items = list_items(ld, n, path, "matchers", &count);
    if (!items)
        return;
    list_slot *slot = at(base, f);
    rt_matcher *matchers = slot->items = rt_xcalloc(count ? count : 1, sizeof *matchers);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = node_at(ld, items[i]);
        const char *text = scalar(ld, item, path, "a matcher like service=\"api\"");
        char why[256];
        if (!text)
            continue;
        rt_matcher *m = &matchers[slot->n++];
        const char *bad = matcher_parse(text, m, why);
        if (bad) {
            problem(ld, item->start_mark, path, "matcher '%s': %s", text, bad);
            matcher_free(m);
            memset(m, 0, sizeof *m);
            slot->n--;
        }
    }
}

/* Why the template 'text' is not one over 'roots' ("labels." takes any name after the dot,
 * "status" only itself), or NULL: each {{ … }} holds one dotted name. 'why' holds MESSAGE_MAX
 * bytes. */
static const char *template_problem(const char *text, const char *const *roots, char *why) {
    for (const char *p = strstr(text, "{{"); p; p = strstr(p, "{{")) {
        const char *end = strstr(p + 2, "}}");
        if (!end)
            return "'{{' without its '}}'";
        const char *a = p + 2, *b = end;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        bool known = false;
        for (size_t i = 0; roots[i] && !known; i++) {
            size_t len = strlen(roots[i]);
            bool prefix = roots[i][len - 1] == '.';
            known = prefix ? (size_t)(b - a) > len && strncmp(a, roots[i], len) == 0 &&
                                 is_label_name(a + len, (size_t)(b - a) - len)
                           : (size_t)(b - a) == len && strncmp(a, roots[i], len) == 0;
        }
        if (!known) {
            char expected[256];
            name_list(roots, expected);
            int shown = b - a > 64 ? 64 : (int)(b - a);
            snprintf(why, MESSAGE_MAX, "unknown '{{ %.*s }}' (expected %s)", shown, a, expected);
            return why;
        }
        p = end + 2;
    }
    return NULL;
}

static void load_templates(loader *ld, const yaml_node_t *n, void *base, const field *f,
                           const char *path) {
    long count = named_entries(ld, n, path, "name to template", "entries");
    if (count < 0)
        return;
    list_slot *slot = at(base, f);
    rt_template *t = slot->items = rt_xcalloc(count ? (size_t)count : 1, sizeof *t);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        const char *name = scalar(ld, k, path, "a name");
        char here[PATH_MAX_LEN], why[MESSAGE_MAX];
        if (!name)
            continue;
        join_path(here, path, name);
        const char *text = scalar(ld, v, here, "a value or a template like {{ labels.service }}");
        const char *bad = text ? template_problem(text, f->names, why) : NULL;
        if (bad)
            problem(ld, v->start_mark, here, "%s", bad);
        else if (text) {
            t[slot->n].name = rt_xstrdup(name);
            t[slot->n++].text = rt_xstrdup(text);
        }
    }
}

static void load_caps(loader *ld, const yaml_node_t *n, void *base, const field *f,
                      const char *path) {
    long count = named_entries(ld, n, path, "team to cap", "teams");
    if (count < 0)
        return;
    list_slot *slot = at(base, f);
    rt_team_cap *caps = slot->items = rt_xcalloc(count ? (size_t)count : 1, sizeof *caps);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        const char *team = scalar(ld, k, path, "a team");
        char here[PATH_MAX_LEN];
        double d = 0;
        if (!team)
            continue;
        join_path(here, path, team);
        const char *text = scalar(ld, v, here, "a whole number");
        if (text && (!number(v, text, &d) || d != floor(d) || d < f->min || d > f->max))
            problem(ld, v->start_mark, here, "expected a whole number from %.0f to %.0f", f->min,
                    f->max);
        else if (text) {
            caps[slot->n].team = rt_xstrdup(team);
            caps[slot->n++].cap = (int)d;
        }
    }
}

/* Warns when the secret file 'file' (the value at 'mark' of 'path') is open to other users, as
 * `inquest`'s --token-file does: the process uses it all the same, since refusing would stop a
 * service that runs today, but the operator hears of it at every start, reload and check. */
static void exposed_warning(loader *ld, yaml_mark_t mark, const char *path, const char *file) {
    char why[MESSAGE_MAX];
    if (rt_secret_file_exposed(file, why, sizeof why))
        warning(ld, mark, path, "secret file %s", why);
}

/* Reads 'v', the value of field 'f' at 'path', into 'base'. */
static void load_value(loader *ld, const field *f, const yaml_node_t *v, void *base,
                       const char *path) {
    char why[256];
    const char *s = NULL;
    double d = 0;
    size_t size = 0;
    switch (f->kind) {
    case F_STRING:
    case F_FILE:
        if ((s = scalar(ld, v, path, "a string")) && !*s)
            problem(ld, v->start_mark, path, "expected a string, got an empty one");
        else if (s)
            store_string(base, f, s);
        if (s && *s && f->kind == F_FILE)
            exposed_warning(ld, v->start_mark, path, s);
        return;
    case F_URL:
    case F_REDIS_URL: {
        static const char *const http[] = {"http://", "https://", NULL};
        static const char *const redis[] = {"redis://", "unix://", NULL};
        if (!(s = scalar(ld, v, path, "a URL")))
            return;
        const char *bad = url_problem(s, f->kind == F_URL ? http : redis);
        if (f->kind == F_REDIS_URL && strncmp(s, "rediss://", 9) == 0)
            problem(ld, v->start_mark, path,
                    "TLS to Redis (rediss://) is not supported yet: hiredis 0.14 has no TLS "
                    "(docs/queue.md says what to do instead)");
        else if (!bad)
            problem(ld, v->start_mark, path, "the URL must start with %s",
                    f->kind == F_URL ? "http:// or https://" : "redis:// or unix://");
        else if (*bad)
            problem(ld, v->start_mark, path, "the URL %s", bad);
        else
            store_string(base, f, s);
        return;
    }
    case F_ENV:
        if (!(s = scalar(ld, v, path, "an environment variable's name")))
            return;
        if (!is_env_name(s))
            problem(ld, v->start_mark, path,
                    "expected an environment variable's name (letters, digits, _), got '%s'", s);
        else
            store_string(base, f, s);
        return;
    case F_SECRET:
        return; /* reported by load_table, with the key */
    case F_DURATION:
        if (!(s = scalar(ld, v, path, "a duration (like 30s, 1m30s)")))
            return;
        if (rt_duration_parse(s, &d, why) < 0)
            problem(ld, v->start_mark, path, "%s", why);
        else if (!(d > 0) || d < f->min || d > f->max) {
            char min[32], max[32];
            rt_duration_format(f->min, min);
            rt_duration_format(f->max, max);
            if (f->min > 0)
                problem(ld, v->start_mark, path, "expected a duration from %s to %s", min, max);
            else
                problem(ld, v->start_mark, path, "expected a duration more than 0 and at most %s",
                        max);
        } else
            *(double *)at(base, f) = d;
        return;
    case F_SIZE:
        if (!(s = scalar(ld, v, path, "a size (like 64MiB, 512KiB)")))
            return;
        if (rt_size_parse(s, &size) < 0)
            problem(ld, v->start_mark, path,
                    "cannot read '%s' as a size (like 64MiB, 512KiB, 1GiB or bytes)", s);
        else if ((double)size < f->min || (double)size > f->max)
            problem(ld, v->start_mark, path, "expected a size from %.0f to %.0f bytes", f->min,
                    f->max);
        else
            *(size_t *)at(base, f) = size;
        return;
    case F_INT:
    case F_U64:
    case F_RATE:
        if (!(s = scalar(ld, v, path, "a number")))
            return;
        if (!number(v, s, &d) || (f->kind != F_RATE && d != floor(d)))
            problem(ld, v->start_mark, path, "expected %s, got '%s'",
                    f->kind == F_RATE ? "a number" : "a whole number", s);
        else if (f->kind == F_RATE && (!(d > f->min) || d > f->max))
            problem(ld, v->start_mark, path, "expected a number more than %.0f and at most %.0f",
                    f->min, f->max);
        else if (f->kind != F_RATE && (d < f->min || d > f->max))
            problem(ld, v->start_mark, path, "expected a whole number from %.0f to %.0f", f->min,
                    f->max);
        else if (f->kind == F_INT)
            *(int *)at(base, f) = (int)d;
        else if (f->kind == F_U64)
            *(uint64_t *)at(base, f) = (uint64_t)d;
        else
            *(double *)at(base, f) = d;
        return;
    case F_FRACTION:
        if (!(s = scalar(ld, v, path, "a number")))
            return;
        if (!number(v, s, &d) || d < f->min || d > f->max)
            problem(ld, v->start_mark, path, "expected a number from %g to %g, got '%s'", f->min,
                    f->max, s);
        else
            *(double *)at(base, f) = d;
        return;
    case F_BOOL:
        if (!(s = scalar(ld, v, path, "true or false")))
            return;
        if (is_plain(v) && strcmp(s, "true") == 0)
            *(bool *)at(base, f) = true;
        else if (is_plain(v) && strcmp(s, "false") == 0)
            *(bool *)at(base, f) = false;
        else
            problem(ld, v->start_mark, path, "expected true or false (unquoted)");
        return;
    case F_ENUM: {
        if (!(s = scalar(ld, v, path, "a name")))
            return;
        char expected[256] = "";
        for (size_t i = 0; f->names[i]; i++) {
            if (strcmp(s, f->names[i]) == 0) {
                *(int *)at(base, f) = (int)i + (int)f->min;
                return;
            }
            size_t len = strlen(expected);
            snprintf(expected + len, sizeof expected - len, "%s%s", i ? ", " : "", f->names[i]);
        }
        problem(ld, v->start_mark, path, "unknown %s '%s' (expected one of %s)", f->name, s,
                expected);
        return;
    }
    case F_DIRS:
        load_dirs(ld, v, base, path);
        return;
    case F_HEADERS:
        load_headers(ld, v, base, path);
        return;
    case F_TABLE: {
        seen_keys seen;
        void *sub = at(base, f);
        load_table(ld, (int)(v - ld->doc.nodes.start) + 1, f->sub, sub, path, v->start_mark, &seen);
        if (f->check)
            f->check(ld, sub, &seen, path, v->start_mark);
        return;
    }
    case F_NAMED:
        load_named(ld, v, base, f, path);
        return;
    case F_LIST:
        load_list(ld, v, base, f, path);
        return;
    case F_STRINGS:
        load_strings(ld, v, base, f, path);
        return;
    case F_ENUM_SET:
        load_enum_set(ld, v, base, f, path);
        return;
    case F_MATCHERS:
        load_matchers(ld, v, base, f, path);
        return;
    case F_TEMPLATES:
        load_templates(ld, v, base, f, path);
        return;
    case F_CAPS:
        load_caps(ld, v, base, f, path);
        return;
    case F_TEMPLATE: {
        char message[MESSAGE_MAX];
        const char *bad = NULL;
        if (!(s = scalar(ld, v, path, "a value or a template like {{ labels.service }}")))
            return;
        if (!*s)
            problem(ld, v->start_mark, path, "expected a template, got an empty string");
        else if ((bad = template_problem(s, f->names, message)))
            problem(ld, v->start_mark, path, "%s", bad);
        else
            store_string(base, f, s);
        return;
    }
    }
}

/* Reads the mapping at node 'index' against 'fields' into 'base'. 'where' is the place to name
 * for a missing field; 'seen' says which fields were given and where. */
static void load_table(loader *ld, int index, const field *fields, void *base, const char *path,
                       yaml_mark_t where, seen_keys *seen) {
    const yaml_node_t *n = node_at(ld, index);
    memset(seen, 0, sizeof *seen);
    if (n->type != YAML_MAPPING_NODE) {
        problem(ld, n->start_mark, path, "expected a mapping, got %s", node_kind(n));
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        const char *key = scalar(ld, k, path, "a key");
        if (!key)
            continue;
        char here[PATH_MAX_LEN];
        join_path(here, path, key);
        size_t i = 0;
        while (fields[i].name && strcmp(fields[i].name, key) != 0)
            i++;
        if (!fields[i].name) {
            char expected[512] = "";
            for (size_t j = 0; fields[j].name; j++) {
                if (fields[j].kind == F_SECRET)
                    continue;
                size_t len = strlen(expected);
                snprintf(expected + len, sizeof expected - len, "%s%s", len ? ", " : "",
                         fields[j].name);
            }
            problem(ld, k->start_mark, here, "unknown key '%s' (expected one of %s)", key,
                    expected);
            continue;
        }
        if (seen->bits & (1u << i)) {
            problem(ld, k->start_mark, here, "key given twice (first at line %d)",
                    (int)seen->key[i].line + 1);
            continue;
        }
        seen->bits |= 1u << i;
        seen->key[i] = k->start_mark;
        seen->value[i] = v->start_mark;
        if (fields[i].kind == F_SECRET)
            problem(ld, k->start_mark, here,
                    "secrets are never written in the config: use %s_env (an environment "
                    "variable) or %s_file (a file) instead",
                    key, key);
        else
            load_value(ld, &fields[i], v, base, here);
    }
    for (size_t i = 0; fields[i].name; i++)
        if ((fields[i].flags & REQUIRED) && !(seen->bits & (1u << i)))
            problem(ld, where, path, "missing required key '%s'", fields[i].name);
}

/* ---- auth -------------------------------------------------------------------------------------
 */

/* The rows of auth_fields, in order: their bits in seen_keys. */
enum {
    A_TYPE,
    A_TOKEN_ENV,
    A_TOKEN_FILE,
    A_TOKEN,
    A_USERNAME,
    A_PASSWORD_ENV,
    A_PASSWORD_FILE,
    A_PASSWORD,
    A_HEADER,
    A_VALUE_ENV,
    A_VALUE_FILE,
    A_VALUE,
};
#define BIT(i) (1u << (i))

/* Warns when the secret of 'a' is there but empty (a file of one newline is): a process that
 * reads it refuses to start, as an empty credential is one anyone can present. Its key is
 * 'key', its value at 'mark'. */
static void empty_warning(loader *ld, const rt_auth *a, yaml_mark_t mark, const char *path,
                          const char *key) {
    char here[PATH_MAX_LEN], why[256], *secret = NULL;
    size_t len = 0;
    rt_auth probe = *a;
    probe.type = RT_AUTH_HEADER; /* any type but none: rt_config_secret reads env or file */
    if (rt_config_secret(&probe, &secret, &len, why) != RT_OK)
        return;
    rt_secret_free(secret, len);
    if (len > 0)
        return;
    join_path(here, path, key);
    if (a->env)
        warning(ld, mark, here, "environment variable %s is empty", a->env);
    else
        warning(ld, mark, here, "secret file %s is empty", a->file);
}

/* Warns when the secret's variable or file is not there: CI machines have no secrets. */
static void secret_warnings(loader *ld, const rt_auth *a, const seen_keys *seen, int env_row,
                            int file_row, const char *path) {
    char here[PATH_MAX_LEN];
    const char *env_key = env_row == A_TOKEN_ENV   ? "token_env"
                          : env_row == A_VALUE_ENV ? "value_env"
                                                   : "password_env";
    const char *file_key = file_row == A_TOKEN_FILE   ? "token_file"
                           : file_row == A_VALUE_FILE ? "value_file"
                                                      : "password_file";
    if (a->env && !getenv(a->env)) {
        join_path(here, path, env_key);
        warning(ld, seen->value[env_row], here, "environment variable %s is not set", a->env);
    } else if (a->file && access(a->file, R_OK) != 0) {
        int err = errno;
        join_path(here, path, file_key);
        warning(ld, seen->value[file_row], here, "cannot read secret file %s: %s", a->file,
                strerror(err));
    } else if (a->env || a->file)
        empty_warning(ld, a, seen->value[a->env ? env_row : file_row], path,
                      a->env ? env_key : file_key);
}

/* Which keys go with which type, and that the secret comes from exactly one place. */
static void auth_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                       yaml_mark_t where) {
    static const char *const names[] = {"", "bearer", "basic", "header", "path"};
    static const unsigned takes[] = {
        [RT_AUTH_BEARER] = BIT(A_TOKEN_ENV) | BIT(A_TOKEN_FILE) | BIT(A_TOKEN),
        [RT_AUTH_BASIC] =
            BIT(A_USERNAME) | BIT(A_PASSWORD_ENV) | BIT(A_PASSWORD_FILE) | BIT(A_PASSWORD),
        [RT_AUTH_HEADER] = BIT(A_HEADER) | BIT(A_VALUE_ENV) | BIT(A_VALUE_FILE) | BIT(A_VALUE),
        [RT_AUTH_PATH] = BIT(A_VALUE_ENV) | BIT(A_VALUE_FILE) | BIT(A_VALUE),
    };
    static const char *const keys[] = {
        [A_TOKEN_ENV] = "token_env",
        [A_TOKEN_FILE] = "token_file",
        [A_TOKEN] = "token",
        [A_USERNAME] = "username",
        [A_PASSWORD_ENV] = "password_env",
        [A_PASSWORD_FILE] = "password_file",
        [A_PASSWORD] = "password",
        [A_HEADER] = "header",
        [A_VALUE_ENV] = "value_env",
        [A_VALUE_FILE] = "value_file",
        [A_VALUE] = "value",
    };
    rt_auth *a = base;
    if (a->type == RT_AUTH_NONE)
        return; /* no type, or a wrong one: already reported */
    char here[PATH_MAX_LEN];
    bool misfit = false; /* then 'env' or 'file' may hold another type's key: no warnings */
    for (int i = A_TYPE + 1; i <= A_VALUE; i++)
        if ((seen->bits & BIT(i)) && !(takes[a->type] & BIT(i))) {
            join_path(here, path, keys[i]);
            problem(ld, seen->key[i], here, "'%s' does not go with auth type %s", keys[i],
                    names[a->type]);
            misfit = true;
        }
    int env = a->type == RT_AUTH_BEARER  ? A_TOKEN_ENV
              : a->type == RT_AUTH_BASIC ? A_PASSWORD_ENV
                                         : A_VALUE_ENV;
    int file = env + 1, inline_row = env + 2;
    if ((seen->bits & BIT(env)) && (seen->bits & BIT(file))) {
        join_path(here, path, keys[file]);
        problem(ld, seen->key[file], here, "give one of %s and %s, not both", keys[env],
                keys[file]);
    } else if (!(seen->bits & (BIT(env) | BIT(file) | BIT(inline_row))))
        problem(ld, where, path, "auth type %s needs %s or %s", names[a->type], keys[env],
                keys[file]);
    if (a->type == RT_AUTH_BASIC && !(seen->bits & BIT(A_USERNAME)))
        problem(ld, where, path, "auth type basic needs username");
    if (a->type == RT_AUTH_HEADER && !(seen->bits & BIT(A_HEADER)))
        problem(ld, where, path, "auth type header needs header (the header's name)");
    if (a->header && !is_header_name(a->header))
        problem(ld, seen->value[A_HEADER], path, "'%s' is not an HTTP header name", a->header);
    if (!misfit)
        secret_warnings(ld, a, seen, env, file, path);
}

/* The redis section's password, when there is one, is a basic auth's. */
enum { R_URL, R_USERNAME, R_PASSWORD_ENV, R_PASSWORD_FILE, R_PASSWORD, R_TIMEOUT };

static void redis_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                        yaml_mark_t where) {
    (void)where;
    rt_config *c = base;
    if ((seen->bits & BIT(R_PASSWORD_ENV)) && (seen->bits & BIT(R_PASSWORD_FILE))) {
        char here[PATH_MAX_LEN];
        join_path(here, path, "password_file");
        problem(ld, seen->key[R_PASSWORD_FILE], here,
                "give one of password_env and password_file, not both");
        return;
    }
    if (c->redis_auth.env || c->redis_auth.file) {
        c->redis_auth.type = RT_AUTH_BASIC;
        seen_keys rows = {0};
        rows.value[A_PASSWORD_ENV] = seen->value[R_PASSWORD_ENV];
        rows.value[A_PASSWORD_FILE] = seen->value[R_PASSWORD_FILE];
        secret_warnings(ld, &c->redis_auth, &rows, A_PASSWORD_ENV, A_PASSWORD_FILE, path);
    }
}

/* ---- the tables -------------------------------------------------------------------------------
 */

static const char *const connector_types[] = {"prometheus", "loki", "elasticsearch", "http", NULL};
static const char *const auth_types[] = {"bearer", "basic", "header", "path", NULL};

#define A_OFF(m) offsetof(rt_auth, m)
static const field auth_fields[] = {
    [A_TYPE] = {"type", F_ENUM, REQUIRED, A_OFF(type), RT_AUTH_BEARER, 0, auth_types, NULL, NULL, 0,
                NULL},
    [A_TOKEN_ENV] = {"token_env", F_ENV, 0, A_OFF(env), 0, 0, NULL, NULL, NULL, 0, NULL},
    [A_TOKEN_FILE] = {"token_file", F_FILE, 0, A_OFF(file), 0, 0, NULL, NULL, NULL, 0, NULL},
    [A_TOKEN] = {"token", F_SECRET, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
    [A_USERNAME] = {"username", F_STRING, 0, A_OFF(username), 0, 0, NULL, NULL, NULL, 0, NULL},
    [A_PASSWORD_ENV] = {"password_env", F_ENV, 0, A_OFF(env), 0, 0, NULL, NULL, NULL, 0, NULL},
    [A_PASSWORD_FILE] = {"password_file", F_FILE, 0, A_OFF(file), 0, 0, NULL, NULL, NULL, 0, NULL},
    [A_PASSWORD] = {"password", F_SECRET, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
    [A_HEADER] = {"header", F_STRING, 0, A_OFF(header), 0, 0, NULL, NULL, NULL, 0, NULL},
    [A_VALUE_ENV] = {"value_env", F_ENV, 0, A_OFF(env), 0, 0, NULL, NULL, NULL, 0, NULL},
    [A_VALUE_FILE] = {"value_file", F_FILE, 0, A_OFF(file), 0, 0, NULL, NULL, NULL, 0, NULL},
    [A_VALUE] = {"value", F_SECRET, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

#define E_OFF(m) offsetof(rt_events, m)
static const field events_fields[] = {
    {"path", F_STRING, REQUIRED, E_OFF(path), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"items", F_STRING, 0, E_OFF(items), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"time", F_STRING, REQUIRED, E_OFF(time), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"kind", F_STRING, 0, E_OFF(kind), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"service", F_STRING, 0, E_OFF(service), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"id", F_STRING, 0, E_OFF(id), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"text", F_STRING, 0, E_OFF(text), 0, 0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

/* The indexes of connector_fields' rows that checks point at. */
enum { C_URL = 1, C_TLS_VERIFY = 6, C_EVENTS = 9 };

/* True when the host of http(s) URL 'url' is a loopback address or localhost: what is sent
 * there does not cross a network. */
static bool is_loopback_url(const char *url) {
    const char *host = strstr(url, "://");
    if (!host)
        return false;
    host += 3;
    size_t n = strcspn(host, "/?#");
    if (n > 0 && host[0] == '[')
        return strncmp(host, "[::1]", 5) == 0 && (n == 5 || host[5] == ':');
    size_t name = strcspn(host, ":/?#");
    return (name == 9 && strncasecmp(host, "localhost", 9) == 0) ||
           (strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") >= name);
}

/* Only http connectors answer with change events. A connector that does not verify
 * certificates, or sends a credential in clear text over a network, works, but anyone on the
 * path could read its credential and answers (or forge them): said as warnings, at the key. */
static void connector_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                            yaml_mark_t where) {
    const rt_connector *c = base;
    char here[PATH_MAX_LEN];
    (void)where;
    join_path(here, path, "events");
    if (c->events.path && c->type != RT_CONNECTOR_HTTP)
        problem(ld, seen->key[C_EVENTS], here, "only http connectors have events (this one is %s)",
                rt_connector_type_name(c->type));
    if ((seen->bits & BIT(C_TLS_VERIFY)) && !c->tls_verify) {
        join_path(here, path, "tls_verify");
        warning(ld, seen->value[C_TLS_VERIFY], here,
                "certificates are not verified: anyone on the network path can pose as the "
                "server, read %s and forge its answers",
                c->auth.type != RT_AUTH_NONE ? "the credential" : "the calls");
    }
    if (c->url && c->auth.type != RT_AUTH_NONE && strncmp(c->url, "http://", 7) == 0 &&
        !is_loopback_url(c->url)) {
        join_path(here, path, "url");
        warning(ld, seen->value[C_URL], here,
                "the credential (auth) goes in clear text over http://: use https://");
    }
}

static void connector_defaults(void *entry) {
    rt_connector *c = entry;
    c->timeout = 10;
    c->max_response = (size_t)16 << 20;
    c->concurrency = 8;
    c->tls_verify = true;
}

#define C_OFF(m) offsetof(rt_connector, m)
static const field connector_fields[] = {
    {"type", F_ENUM, REQUIRED, C_OFF(type), 0, 0, connector_types, NULL, NULL, 0, NULL},
    [C_URL] = {"url", F_URL, REQUIRED, C_OFF(url), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"timeout", F_DURATION, 0, C_OFF(timeout), 0, 3600, NULL, NULL, NULL, 0, NULL},
    {"max_response", F_SIZE, 0, C_OFF(max_response), 1024, 1 << 30, NULL, NULL, NULL, 0, NULL},
    {"rate_limit", F_RATE, 0, C_OFF(rate_limit), 0, 1e6, NULL, NULL, NULL, 0, NULL},
    {"concurrency", F_INT, 0, C_OFF(concurrency), 1, 1024, NULL, NULL, NULL, 0, NULL},
    [C_TLS_VERIFY] = {"tls_verify", F_BOOL, 0, C_OFF(tls_verify), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"headers", F_HEADERS, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
    {"auth", F_TABLE, 0, C_OFF(auth), 0, 0, NULL, auth_fields, auth_check, 0, NULL},
    [C_EVENTS] = {"events", F_TABLE, 0, C_OFF(events), 0, 0, NULL, events_fields, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

#define L_OFF(m) offsetof(rt_limits, m)
static const field limits_fields[] = {
    {"memory", F_SIZE, 0, L_OFF(memory), 64 * 1024, 1e15, NULL, NULL, NULL, 0, NULL},
    {"instructions", F_U64, 0, L_OFF(instructions), 1, 1e18, NULL, NULL, NULL, 0, NULL},
    {"timeout", F_DURATION, 0, L_OFF(timeout), 0, 86400, NULL, NULL, NULL, 0, NULL},
    {"calls", F_INT, 0, L_OFF(calls), 1, 1000000, NULL, NULL, NULL, 0, NULL},
    {"call_bytes", F_SIZE, 0, L_OFF(call_bytes), 1024, 1e12, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

/* The redis section is stored in rt_config itself: its offsets are rt_config's. */
#define G_OFF(m) offsetof(rt_config, m)
static const field redis_fields[] = {
    [R_URL] = {"url", F_REDIS_URL, REQUIRED, G_OFF(redis_url), 0, 0, NULL, NULL, NULL, 0, NULL},
    [R_USERNAME] = {"username", F_STRING, 0, G_OFF(redis_auth.username), 0, 0, NULL, NULL, NULL, 0,
                    NULL},
    [R_PASSWORD_ENV] = {"password_env", F_ENV, 0, G_OFF(redis_auth.env), 0, 0, NULL, NULL, NULL, 0,
                        NULL},
    [R_PASSWORD_FILE] = {"password_file", F_FILE, 0, G_OFF(redis_auth.file), 0, 0, NULL, NULL, NULL,
                         0, NULL},
    [R_PASSWORD] = {"password", F_SECRET, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
    /* Under 10ms even a healthy Redis would miss it (a submit of 1000 takes tens of ms). */
    [R_TIMEOUT] = {"timeout", F_DURATION, 0, G_OFF(redis_timeout), 0.01, 60, NULL, NULL, NULL, 0,
                   NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

enum { SV_LISTEN, SV_EXTERNAL_URL };

/* external_url is the base every link to an analysis is built under (BASE/v1/analyses/ID, and
 * the console's pages): a query or fragment in it would end up in the middle of each link. */
static void server_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                         yaml_mark_t where) {
    const rt_server *srv = base;
    (void)where;
    if (srv->external_url && strpbrk(srv->external_url, "?#")) {
        char name[160];
        snprintf(name, sizeof name, "%s.external_url", path);
        problem(ld, seen->value[SV_EXTERNAL_URL], name,
                "must not have a query or fragment (?, #): links to analyses are built under it");
    }
}

#define S_OFF(m) offsetof(rt_server, m)
static const field server_fields[] = {
    [SV_LISTEN] = {"listen", F_STRING, 0, S_OFF(listen), 0, 0, NULL, NULL, NULL, 0, NULL},
    [SV_EXTERNAL_URL] = {"external_url", F_URL, 0, S_OFF(external_url), 0, 0, NULL, NULL, NULL, 0,
                         NULL},
    {"max_body", F_SIZE, 0, S_OFF(max_body), 1024, 1 << 30, NULL, NULL, NULL, 0, NULL},
    {"max_connections", F_INT, 0, S_OFF(max_connections), 1, 1000000, NULL, NULL, NULL, 0, NULL},
    {"idle_timeout", F_DURATION, 0, S_OFF(idle_timeout), 0, 86400, NULL, NULL, NULL, 0, NULL},
    {"read_timeout", F_DURATION, 0, S_OFF(read_timeout), 0, 3600, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

#define Q_OFF(m) offsetof(rt_queue_config, m)
static const field queue_fields[] = {
    {"prefix", F_STRING, 0, Q_OFF(prefix), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"lease", F_DURATION, 0, Q_OFF(lease), 1, 3600, NULL, NULL, NULL, 0, NULL},
    {"max_deliveries", F_INT, 0, Q_OFF(max_deliveries), 1, 100, NULL, NULL, NULL, 0, NULL},
    {"result_ttl", F_DURATION, 0, Q_OFF(result_ttl), 0, 366 * 86400.0, NULL, NULL, NULL, 0, NULL},
    {"dedup_window", F_DURATION, 0, Q_OFF(dedup_window), 0, 86400, NULL, NULL, NULL, 0, NULL},
    {"team_concurrency", F_INT, 0, Q_OFF(team_concurrency), 0, 1000000, NULL, NULL, NULL, 0, NULL},
    {"team_caps", F_CAPS, 0, Q_OFF(team_caps), 0, 1000000, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

#define W_OFF(m) offsetof(rt_worker, m)
static const field worker_fields[] = {
    {"processes", F_INT, 0, W_OFF(processes), 0, 1024, NULL, NULL, NULL, 0, NULL},
    {"concurrency", F_INT, 0, W_OFF(concurrency), 1, 100000, NULL, NULL, NULL, 0, NULL},
    {"user", F_STRING, 0, W_OFF(user), 0, 0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

/* ---- tokens, routes and rules ------------------------------------------------------------------
 */

enum { T_TOKEN_ENV, T_TOKEN_FILE, T_TOKEN, T_ANALYZERS, T_TEAMS, T_APPROVE };

/* A token's secret comes from exactly one place, and it allows something. */
static void token_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                        yaml_mark_t where) {
    rt_token *t = base;
    t->auth.type = RT_AUTH_BEARER;
    if ((seen->bits & BIT(T_TOKEN_ENV)) && (seen->bits & BIT(T_TOKEN_FILE))) {
        char here[PATH_MAX_LEN];
        join_path(here, path, "token_file");
        problem(ld, seen->key[T_TOKEN_FILE], here,
                "give one of token_env and token_file, not both");
    } else if (!(seen->bits & (BIT(T_TOKEN_ENV) | BIT(T_TOKEN_FILE) | BIT(T_TOKEN))))
        problem(ld, where, path, "a token needs token_env or token_file");
    else {
        seen_keys rows = {0};
        rows.value[A_TOKEN_ENV] = seen->value[T_TOKEN_ENV];
        rows.value[A_TOKEN_FILE] = seen->value[T_TOKEN_FILE];
        secret_warnings(ld, &t->auth, &rows, A_TOKEN_ENV, A_TOKEN_FILE, path);
    }
    if (t->n_analyzers == 0 && t->n_teams == 0)
        problem(ld, where, path,
                "a token that may run nothing: give analyzers (\"*\" for all) or teams");
}

#define T_OFF(m) offsetof(rt_token, m)
static const field token_fields[] = {
    [T_TOKEN_ENV] = {"token_env", F_ENV, 0, T_OFF(auth.env), 0, 0, NULL, NULL, NULL, 0, NULL},
    [T_TOKEN_FILE] = {"token_file", F_FILE, 0, T_OFF(auth.file), 0, 0, NULL, NULL, NULL, 0, NULL},
    [T_TOKEN] = {"token", F_SECRET, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
    [T_ANALYZERS] = {"analyzers", F_STRINGS, 0, T_OFF(analyzers), 0, 0, NULL, NULL, NULL, 0, NULL},
    [T_TEAMS] = {"teams", F_STRINGS, 0, T_OFF(teams), 0, 0, NULL, NULL, NULL, 0, NULL},
    [T_APPROVE] = {"approve", F_STRINGS, 0, T_OFF(approve), 0, 0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

static const char *const sources[] = {"alertmanager", "grafana", "pagerduty",
                                      "opsgenie",     "generic", NULL};
/* What route inputs may use: the alert (docs/config.md, routes). */
static const char *const alert_roots[] = {"labels.",      "annotations.", "status",      "startsAt",
                                          "endsAt",       "fingerprint",  "incident_id", "source",
                                          "generatorURL", "groupKey",     NULL};
/* What rule arguments may use: the finished analysis (docs/config.md, rules). */
static const char *const analysis_roots[] = {"id",         "url",        "analyzer", "status",
                                             "root_cause", "conclusion", "summary",  "labels.",
                                             "inputs.",    "finding.",   NULL};

static const char *const route_pers[] = {"alert", "group", NULL};

static void route_defaults(void *entry) {
    rt_route *r = entry;
    r->priority = RT_PRIORITY_ALERT;
    r->dedup_window = 3600;
}

#define RO_OFF(m) offsetof(rt_route, m)
static const field route_fields[] = {
    {"name", F_STRING, REQUIRED, RO_OFF(name), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"sources", F_ENUM_SET, 0, RO_OFF(sources), 0, 0, sources, NULL, NULL, 0, NULL},
    {"match", F_MATCHERS, REQUIRED, RO_OFF(match), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"analyzer", F_STRING, REQUIRED, RO_OFF(analyzer), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"inputs", F_TEMPLATES, 0, RO_OFF(inputs), 0, 0, alert_roots, NULL, NULL, 0, NULL},
    {"priority", F_ENUM, 0, RO_OFF(priority), 0, 0, rt_priority_names, NULL, NULL, 0, NULL},
    {"dedup_window", F_DURATION, 0, RO_OFF(dedup_window), 0, 30 * 86400.0, NULL, NULL, NULL, 0,
     NULL},
    {"per", F_ENUM, 0, RO_OFF(per), 0, 0, route_pers, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

/* ---- intake ------------------------------------------------------------------------------------
 */

/* The rows of the sources' tables, in order: their bits in seen_keys. */
enum {
    IN_AUTH,
    IN_ALLOW,
    IN_SIGNING_ENV,
    IN_SIGNING_FILE,
    IN_SIGNING,
    IN_SIG_HEADER,
    IN_SIG_FORMAT,
    IN_TIMESTAMP_HEADER
};

/* Who may send: auth, a signature, or nobody in particular when the config says so. */
static void intake_source_check(loader *ld, rt_intake_source *src, const seen_keys *seen,
                                const char *path, yaml_mark_t where, bool signs) {
    char here[PATH_MAX_LEN];
    /* Tables of sources that do not sign use the signing rows' bits for rows of their own. */
    unsigned signing_bits = signs ? seen->bits : 0;
    src->enabled = true;
    src->line = (int)where.line + 1;
    if ((signing_bits & BIT(IN_SIGNING_ENV)) && (signing_bits & BIT(IN_SIGNING_FILE))) {
        join_path(here, path, "signing_secret_file");
        problem(ld, seen->key[IN_SIGNING_FILE], here,
                "give one of signing_secret_env and signing_secret_file, not both");
    }
    if (src->signing.env || src->signing.file)
        src->signing.type = RT_AUTH_HEADER; /* so that rt_config_secret reads it */
    bool guarded = src->auth.type != RT_AUTH_NONE || src->signing.type != RT_AUTH_NONE ||
                   (signing_bits & BIT(IN_SIGNING));
    if (!guarded && !src->allow_unauthenticated && !(seen->bits & BIT(IN_AUTH)))
        problem(ld, where, path,
                "an intake source needs auth%s, or allow_unauthenticated: true to accept anyone",
                signs ? " or signing_secret_env/signing_secret_file" : "");
    else if (guarded && src->allow_unauthenticated) {
        join_path(here, path, "allow_unauthenticated");
        problem(ld, seen->key[IN_ALLOW], here,
                "allow_unauthenticated does not go with auth or a signing secret");
    }
    if (src->signing.env && !getenv(src->signing.env)) {
        join_path(here, path, "signing_secret_env");
        warning(ld, seen->value[IN_SIGNING_ENV], here, "environment variable %s is not set",
                src->signing.env);
    }
    if (src->signing.file && access(src->signing.file, R_OK) != 0) {
        int err = errno;
        join_path(here, path, "signing_secret_file");
        warning(ld, seen->value[IN_SIGNING_FILE], here, "cannot read secret file %s: %s",
                src->signing.file, strerror(err));
    }
    if ((src->signing.env && getenv(src->signing.env)) ||
        (src->signing.file && access(src->signing.file, R_OK) == 0))
        empty_warning(ld, &src->signing,
                      seen->value[src->signing.env ? IN_SIGNING_ENV : IN_SIGNING_FILE], path,
                      src->signing.env ? "signing_secret_env" : "signing_secret_file");
}

static void intake_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                         yaml_mark_t where) {
    intake_source_check(ld, base, seen, path, where, false);
}

/* A signing source: its own signature header and format unless the config says otherwise. */
static void signed_check(loader *ld, rt_intake_source *src, const seen_keys *seen, const char *path,
                         yaml_mark_t where, const char *header, rt_signature_format format) {
    char here[PATH_MAX_LEN];
    intake_source_check(ld, src, seen, path, where, true);
    if (!src->signature_header)
        src->signature_header = rt_xstrdup(header);
    if (!(seen->bits & BIT(IN_SIG_FORMAT)))
        src->signature_format = format;
    static const int rows[] = {IN_SIG_HEADER, IN_TIMESTAMP_HEADER};
    const char *names[] = {src->signature_header, src->timestamp_header};
    for (int i = 0; i < 2; i++)
        if (names[i] && !is_header_name(names[i])) {
            join_path(here, path, i ? "timestamp_header" : "signature_header");
            problem(ld, seen->value[rows[i]], here, "'%s' is not an HTTP header name", names[i]);
        }
    if (src->signing.type == RT_AUTH_NONE) {
        static const int extra[] = {IN_SIG_HEADER, IN_SIG_FORMAT, IN_TIMESTAMP_HEADER};
        static const char *const keys[] = {"signature_header", "signature_format",
                                           "timestamp_header"};
        for (int i = 0; i < 3; i++)
            if (seen->bits & BIT(extra[i])) {
                join_path(here, path, keys[i]);
                problem(ld, seen->key[extra[i]], here,
                        "'%s' needs signing_secret_env or signing_secret_file", keys[i]);
            }
    }
}

static void pagerduty_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                            yaml_mark_t where) {
    signed_check(ld, base, seen, path, where, "X-PagerDuty-Signature", RT_SIGNATURE_V1);
}

static void grafana_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                          yaml_mark_t where) {
    signed_check(ld, base, seen, path, where, "X-Grafana-Alerting-Signature", RT_SIGNATURE_HEX);
}

static const char *const signature_formats[] = {"v1", "hex", NULL};

#define IS_OFF(m) offsetof(rt_intake_source, m)
/* Alertmanager and Opsgenie do not sign their requests: auth only. */
static const field intake_source_fields[] = {
    [IN_AUTH] = {"auth", F_TABLE, 0, IS_OFF(auth), 0, 0, NULL, auth_fields, auth_check, 0, NULL},
    [IN_ALLOW] = {"allow_unauthenticated", F_BOOL, 0, IS_OFF(allow_unauthenticated), 0, 0, NULL,
                  NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};
/* PagerDuty signs each request with the subscription's secret (X-PagerDuty-Signature), and
 * Grafana can (X-Grafana-Alerting-Signature, with a timestamp header or not). */
static const field intake_signed_fields[] = {
    [IN_AUTH] = {"auth", F_TABLE, 0, IS_OFF(auth), 0, 0, NULL, auth_fields, auth_check, 0, NULL},
    [IN_ALLOW] = {"allow_unauthenticated", F_BOOL, 0, IS_OFF(allow_unauthenticated), 0, 0, NULL,
                  NULL, NULL, 0, NULL},
    [IN_SIGNING_ENV] = {"signing_secret_env", F_ENV, 0, IS_OFF(signing.env), 0, 0, NULL, NULL, NULL,
                        0, NULL},
    [IN_SIGNING_FILE] = {"signing_secret_file", F_FILE, 0, IS_OFF(signing.file), 0, 0, NULL, NULL,
                         NULL, 0, NULL},
    [IN_SIGNING] = {"signing_secret", F_SECRET, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
    [IN_SIG_HEADER] = {"signature_header", F_STRING, 0, IS_OFF(signature_header), 0, 0, NULL, NULL,
                       NULL, 0, NULL},
    [IN_SIG_FORMAT] = {"signature_format", F_ENUM, 0, IS_OFF(signature_format), 0, 0,
                       signature_formats, NULL, NULL, 0, NULL},
    [IN_TIMESTAMP_HEADER] = {"timestamp_header", F_STRING, 0, IS_OFF(timestamp_header), 0, 0, NULL,
                             NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

/* The generic rows begin with the source's, at the same indexes (IN_AUTH, IN_ALLOW). */
enum { GE_RESOLVED = 4 };

/* Without resolved_values, "resolved" is the one value that means resolved. */
static void generic_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                          yaml_mark_t where) {
    rt_intake_generic *g = base;
    intake_source_check(ld, &g->source, seen, path, where, false);
    if (!(seen->bits & BIT(GE_RESOLVED))) {
        g->map.resolved = rt_xcalloc(1, sizeof *g->map.resolved);
        g->map.resolved[0] = rt_xstrdup("resolved");
        g->map.n_resolved = 1;
    } else if (g->map.n_resolved == 0) {
        char here[PATH_MAX_LEN];
        join_path(here, path, "resolved_values");
        problem(ld, seen->key[GE_RESOLVED], here, "give at least one value");
    }
    /* Without any of them every alert would have one identity: one analysis for all. */
    if (!g->map.fingerprint && !g->map.incident_id && !g->map.labels)
        problem(ld, where, path,
                "a generic webhook needs fingerprint, incident_id or labels: what tells one "
                "alert from another");
}

#define GE_OFF(m) offsetof(rt_intake_generic, m)
static const field generic_fields[] = {
    [IN_AUTH] = {"auth", F_TABLE, 0, GE_OFF(source.auth), 0, 0, NULL, auth_fields, auth_check, 0,
                 NULL},
    [IN_ALLOW] = {"allow_unauthenticated", F_BOOL, 0, GE_OFF(source.allow_unauthenticated), 0, 0,
                  NULL, NULL, NULL, 0, NULL},
    {"alerts", F_STRING, 0, GE_OFF(map.alerts), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"status", F_STRING, 0, GE_OFF(map.status), 0, 0, NULL, NULL, NULL, 0, NULL},
    [GE_RESOLVED] = {"resolved_values", F_STRINGS, 0, GE_OFF(map.resolved), 0, 0, NULL, NULL, NULL,
                     0, NULL},
    {"labels", F_STRING, 0, GE_OFF(map.labels), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"annotations", F_STRING, 0, GE_OFF(map.annotations), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"starts_at", F_STRING, 0, GE_OFF(map.starts_at), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"ends_at", F_STRING, 0, GE_OFF(map.ends_at), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"fingerprint", F_STRING, 0, GE_OFF(map.fingerprint), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"incident_id", F_STRING, 0, GE_OFF(map.incident_id), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"group_key", F_STRING, 0, GE_OFF(map.group_key), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"generator_url", F_STRING, 0, GE_OFF(map.generator_url), 0, 0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

#define IT_OFF(m) offsetof(rt_intake, m)
static const field intake_fields[] = {
    {"alertmanager", F_TABLE, 0, IT_OFF(sources[RT_SOURCE_ALERTMANAGER]), 0, 0, NULL,
     intake_source_fields, intake_check, 0, NULL},
    {"grafana", F_TABLE, 0, IT_OFF(sources[RT_SOURCE_GRAFANA]), 0, 0, NULL, intake_signed_fields,
     grafana_check, 0, NULL},
    {"pagerduty", F_TABLE, 0, IT_OFF(sources[RT_SOURCE_PAGERDUTY]), 0, 0, NULL,
     intake_signed_fields, pagerduty_check, 0, NULL},
    {"opsgenie", F_TABLE, 0, IT_OFF(sources[RT_SOURCE_OPSGENIE]), 0, 0, NULL, intake_source_fields,
     intake_check, 0, NULL},
    {"generic", F_NAMED, 0, IT_OFF(generic), 0, 0, NULL, generic_fields, generic_check,
     sizeof(rt_intake_generic), NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

static const char *const action_types[] = {"incident_note", "slack",      "ticket", "webhook",
                                           "silence",       "mitigation", NULL};
static const char *const arg_type_names[] = {"string", "int", "number", "bool", NULL};

const char *rt_action_type_name(rt_action_type type) {
    return (unsigned)type < sizeof action_types / sizeof *action_types - 1 ? action_types[type]
                                                                           : "unknown";
}
static const char *const no_roots[] = {NULL};
enum {
    AC_TYPE,
    AC_CONNECTOR,
    AC_ARGS,
    AC_APPROVAL,
    AC_NAME,
    AC_SERVICE,
    AC_PATH,
    AC_ARG_TYPES,
    AC_IDEMPOTENT,
    AC_VERIFY
};

rt_arg_type rt_arg_type_of(const rt_action *a, const char *name) {
    for (size_t i = 0; i < a->n_arg_types; i++)
        for (int t = 0; a->arg_types[i].name && arg_type_names[t]; t++)
            if (strcmp(a->arg_types[i].name, name) == 0 &&
                strcmp(a->arg_types[i].text, arg_type_names[t]) == 0)
                return (rt_arg_type)t;
    return RT_ARG_STRING;
}

/* The argument 'name' of 'a' when it is given and holds no template (its value is known only
 * when the action is planned), else NULL. */
static const char *literal_arg(const rt_action *a, const char *name) {
    for (size_t i = 0; i < a->n_args; i++)
        if (strcmp(a->args[i].name, name) == 0)
            return strstr(a->args[i].text, "{{") ? NULL : a->args[i].text;
    return NULL;
}

/* Where the value of key 'key' of the mapping that starts at 'map' is; 'map' when not found. */
static yaml_mark_t value_mark(loader *ld, yaml_mark_t map, const char *key) {
    for (yaml_node_t *n = ld->doc.nodes.start; n < ld->doc.nodes.top; n++) {
        if (n->type != YAML_MAPPING_NODE || n->start_mark.index != map.index)
            continue;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
            if (k && v && k->type == YAML_SCALAR_NODE &&
                strcmp((const char *)k->data.scalar.value, key) == 0)
                return v->start_mark;
        }
    }
    return map;
}

/* Matchers "a=b, a!=b, a=~re, a!~re" as a silence takes them (pp_actions.c): 'why' (128 bytes)
 * says which item is not one. Values may be templates; a name may not be empty. */
static bool matchers_ok(const char *text, char *why) {
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, ",");
        const char *s = p, *e = p + n;
        while (s < e && *s == ' ')
            s++;
        while (e > s && e[-1] == ' ')
            e--;
        if (e > s) {
            size_t name = strcspn(s, "=!");
            const char *op = s + name;
            bool ne = op < e && *op == '!';
            if (name == 0 || op >= e || (ne && (op + 1 >= e || (op[1] != '=' && op[1] != '~')))) {
                snprintf(why, 128, "'%.*s' is not name=value, name!=value, name=~re or name!~re",
                         (int)(e - s > 60 ? 60 : e - s), s);
                return false;
            }
        }
        p += n + (p[n] == ',');
    }
    return true;
}

/* Action settings that would otherwise fail only when the action runs, checked at load when
 * they hold no template: the incident tool, the ticket tracker, a silence's matchers and
 * duration. 'args' is where the args mapping starts. */
static void action_args_check(loader *ld, const rt_action *a, yaml_mark_t args, const char *path) {
    char here[PATH_MAX_LEN], why[128];
    const char *v;
    if (a->type == RT_ACTION_INCIDENT_NOTE && (v = literal_arg(a, "tool")) &&
        strcmp(v, "pagerduty") != 0 && strcmp(v, "opsgenie") != 0) {
        join_path(here, path, "args.tool");
        problem(ld, value_mark(ld, args, "tool"), here,
                "expected pagerduty or opsgenie, not '%.64s'", v);
    }
    if (a->type == RT_ACTION_TICKET && (v = literal_arg(a, "tracker")) &&
        strcmp(v, "github") != 0 && strcmp(v, "jira") != 0) {
        join_path(here, path, "args.tracker");
        problem(ld, value_mark(ld, args, "tracker"), here, "expected github or jira, not '%.64s'",
                v);
    }
    if (a->type != RT_ACTION_SILENCE)
        return;
    const char *m = NULL;
    for (size_t i = 0; i < a->n_args; i++)
        if (strcmp(a->args[i].name, "matchers") == 0)
            m = a->args[i].text;
    if (m && !matchers_ok(m, why)) {
        join_path(here, path, "args.matchers");
        problem(ld, value_mark(ld, args, "matchers"), here, "%s", why);
    }
    double seconds = 0;
    char dwhy[256];
    if ((v = literal_arg(a, "duration")) &&
        (rt_duration_parse(v, &seconds, dwhy) != 0 || !(seconds > 0))) {
        join_path(here, path, "args.duration");
        problem(ld, value_mark(ld, args, "duration"), here,
                "expected a duration longer than 0 (\"2h\"), not '%.64s'", v);
    }
}

/* Mitigations wait for a person unless the rule says otherwise; notes and messages do not.
 * Only webhooks are assumed to honour an Idempotency-Key: a mitigation's endpoint is assumed
 * not to until the operator says idempotent: true (it is then sent again after a failure that
 * may have reached it); the keys that only mitigations take are refused elsewhere. */
static void action_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                         yaml_mark_t where) {
    rt_action *a = base;
    char here[PATH_MAX_LEN];
    (void)where;
    if (!(seen->bits & BIT(AC_APPROVAL)))
        a->approval = a->type == RT_ACTION_MITIGATION;
    if (!(seen->bits & BIT(AC_IDEMPOTENT)))
        a->idempotent = a->type == RT_ACTION_WEBHOOK; /* a mitigation's endpoint: say so */
    if (a->type == RT_ACTION_SLACK && (seen->bits & BIT(AC_PATH))) {
        join_path(here, path, "path");
        problem(ld, seen->key[AC_PATH], here,
                "a Slack webhook's path is its secret: keep it out of the rules, in the "
                "connector (auth: { type: path, value_env: SLACK_WEBHOOK_PATH })");
    }
    static const int only_mitigations[] = {AC_NAME, AC_SERVICE, AC_ARG_TYPES, AC_VERIFY};
    for (size_t i = 0; i < 4 && a->type != RT_ACTION_MITIGATION; i++) {
        int row = only_mitigations[i];
        if (!(seen->bits & BIT(row)))
            continue;
        join_path(here, path,
                  row == AC_NAME      ? "name"
                  : row == AC_SERVICE ? "service"
                  : row == AC_VERIFY  ? "verify"
                                      : "arg_types");
        problem(ld, seen->key[row], here, "only mitigations take this key");
    }
    a->line = (int)(seen->bits & BIT(AC_NAME) ? seen->value[AC_NAME] : where).line + 1;
    a->column = (int)(seen->bits & BIT(AC_NAME) ? seen->value[AC_NAME] : where).column + 1;
    if (seen->bits & BIT(AC_ARGS))
        action_args_check(ld, a, seen->value[AC_ARGS], path);
    for (size_t i = 0; i < a->n_arg_types; i++) {
        bool known = false, declared = false;
        for (int t = 0; arg_type_names[t]; t++)
            known |= strcmp(a->arg_types[i].text, arg_type_names[t]) == 0;
        for (size_t j = 0; j < a->n_args; j++)
            declared |= strcmp(a->args[j].name, a->arg_types[i].name) == 0;
        join_path(here, path, "arg_types");
        if (!known)
            problem(ld, seen->value[AC_ARG_TYPES], here,
                    "unknown type '%s' of '%s' (expected string, int, number or bool)",
                    a->arg_types[i].text, a->arg_types[i].name);
        else if (!declared)
            problem(ld, seen->value[AC_ARG_TYPES], here, "'%s' is not one of the args",
                    a->arg_types[i].name);
    }
}

/* Where the analyzer is named, for `inquest config check` to look it up on the analyzer path. */
static void verify_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                         yaml_mark_t where) {
    rt_verify *v = base;
    (void)ld, (void)path;
    yaml_mark_t m = seen->bits & 1u ? seen->value[0] : where; /* row 0: analyzer */
    v->line = (int)m.line + 1;
    v->column = (int)m.column + 1;
}

#define V_OFF(m) offsetof(rt_verify, m)
static const field verify_fields[] = {
    {"analyzer", F_STRING, REQUIRED, V_OFF(analyzer), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"inputs", F_TEMPLATES, 0, V_OFF(inputs), 0, 0, analysis_roots, NULL, NULL, 0, NULL},
    {"expect", F_STRINGS, 0, V_OFF(expect), 0, 0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

#define AC_OFF(m) offsetof(rt_action, m)
static const field action_fields[] = {
    [AC_TYPE] = {"type", F_ENUM, REQUIRED, AC_OFF(type), 0, 0, action_types, NULL, NULL, 0, NULL},
    [AC_CONNECTOR] = {"connector", F_STRING, REQUIRED, AC_OFF(connector), 0, 0, NULL, NULL, NULL, 0,
                      NULL},
    [AC_ARGS] = {"args", F_TEMPLATES, 0, AC_OFF(args), 0, 0, analysis_roots, NULL, NULL, 0, NULL},
    [AC_APPROVAL] = {"approval", F_BOOL, 0, AC_OFF(approval), 0, 0, NULL, NULL, NULL, 0, NULL},
    [AC_NAME] = {"name", F_STRING, 0, AC_OFF(name), 0, 0, NULL, NULL, NULL, 0, NULL},
    [AC_SERVICE] = {"service", F_TEMPLATE, 0, AC_OFF(service), 0, 0, analysis_roots, NULL, NULL, 0,
                    NULL},
    [AC_PATH] = {"path", F_TEMPLATE, 0, AC_OFF(path), 0, 0, analysis_roots, NULL, NULL, 0, NULL},
    [AC_ARG_TYPES] = {"arg_types", F_TEMPLATES, 0, AC_OFF(arg_types), 0, 0, no_roots, NULL, NULL, 0,
                      NULL},
    [AC_IDEMPOTENT] = {"idempotent", F_BOOL, 0, AC_OFF(idempotent), 0, 0, NULL, NULL, NULL, 0,
                       NULL},
    [AC_VERIFY] = {"verify", F_TABLE, 0, AC_OFF(verify), 0, 0, NULL, verify_fields, verify_check, 0,
                   NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

const char *const rt_result_statuses[] = {
    "ok", "error", "timeout", "cpu_exceeded", "memory_exceeded", "cancelled", NULL};
const char *const rt_severities[] = {"info", "low", "medium", "high", "critical", NULL};

#define M_OFF(m) offsetof(rt_rule_match, m)
static const field rule_match_fields[] = {
    {"analyzer", F_STRING, 0, M_OFF(analyzer), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"status", F_ENUM_SET, 0, M_OFF(status), 0, 0, rt_result_statuses, NULL, NULL, 0, NULL},
    {"root_cause", F_STRING, 0, M_OFF(root_cause), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"conclusion", F_STRING, 0, M_OFF(conclusion), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"severity", F_ENUM_SET, 0, M_OFF(severity), 0, 0, rt_severities, NULL, NULL, 0, NULL},
    {"min_confidence", F_RATE, 0, M_OFF(min_confidence), 0, 1, NULL, NULL, NULL, 0, NULL},
    {"labels", F_MATCHERS, 0, M_OFF(labels), 0, 0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

static void rule_defaults(void *entry) {
    ((rt_rule *)entry)->dry_run = true;
}

/* A rule does something. */
static void rule_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                       yaml_mark_t where) {
    const rt_rule *r = base;
    (void)seen;
    if (r->n_actions == 0)
        problem(ld, where, path, "a rule needs at least one action");
}

#define RU_OFF(m) offsetof(rt_rule, m)
static const field rule_fields[] = {
    {"name", F_STRING, REQUIRED, RU_OFF(name), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"match", F_TABLE, 0, RU_OFF(match), 0, 0, NULL, rule_match_fields, NULL, 0, NULL},
    {"actions", F_LIST, REQUIRED, RU_OFF(actions), 0, 0, NULL, action_fields, action_check,
     sizeof(rt_action), NULL},
    {"dry_run", F_BOOL, 0, RU_OFF(dry_run), 0, 0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

/* ---- policies and the post-processor ----------------------------------------------------------
 */

static const char *const weekdays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", NULL};

/* "Fri 16:00" as seconds from Monday 00:00 UTC; -1 when 'text' is not that. */
static double weekly_time(const char *text) {
    int h = -1, m = -1, n = 0;
    for (int d = 0; weekdays[d]; d++)
        if (strncmp(text, weekdays[d], 3) == 0 && text[3] == ' ' &&
            sscanf(text + 4, "%2d:%2d%n", &h, &m, &n) == 2 && text[4 + n] == '\0' && h >= 0 &&
            h <= 24 && m >= 0 && m < 60 && h * 60 + m <= 24 * 60)
            return d * 86400.0 + h * 3600.0 + m * 60.0;
    return -1;
}

enum { FZ_START, FZ_END, FZ_REASON };

/* A freeze is two absolute times or two weekly ones; the texts become numbers here. */
static void freeze_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                         yaml_mark_t where) {
    rt_freeze *f = base;
    char why[128], here[PATH_MAX_LEN];
    (void)where;
    if (!f->start_text || !f->end_text)
        return; /* reported: required */
    double ws = weekly_time(f->start_text), we = weekly_time(f->end_text);
    f->weekly = ws >= 0 && we >= 0;
    if (f->weekly) {
        f->start = ws;
        f->end = we;
        return;
    }
    bool ok_start = ws < 0 && rt_time_parse(f->start_text, 0, &f->start, why) == 0;
    bool ok_end = we < 0 && rt_time_parse(f->end_text, 0, &f->end, why) == 0;
    for (int i = 0; i < 2; i++)
        if (!(i ? ok_end : ok_start)) {
            join_path(here, path, i ? "end" : "start");
            problem(ld, seen->value[i ? FZ_END : FZ_START], here,
                    "expected an RFC 3339 time, or a weekly one like \"Fri 16:00\" (UTC) at "
                    "both ends");
        }
    if (ok_start && ok_end && !(f->end > f->start))
        problem(ld, seen->value[FZ_END], path, "the freeze ends before it starts");
}

#define FZ_OFF(m) offsetof(rt_freeze, m)
static const field freeze_fields[] = {
    [FZ_START] = {"start", F_STRING, REQUIRED, FZ_OFF(start_text), 0, 0, NULL, NULL, NULL, 0, NULL},
    [FZ_END] = {"end", F_STRING, REQUIRED, FZ_OFF(end_text), 0, 0, NULL, NULL, NULL, 0, NULL},
    [FZ_REASON] = {"reason", F_STRING, 0, FZ_OFF(reason), 0, 0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

static void policy_defaults(void *entry) {
    ((rt_policy *)entry)->window = 3600;
}

enum { PO_NAME, PO_SERVICES, PO_ACTIONS, PO_MIN_CONFIDENCE, PO_WINDOW };

/* A policy names what it applies to. Its window is longer than 0: F_DURATION refuses 0. */
static void policy_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                         yaml_mark_t where) {
    const rt_policy *p = base;
    (void)seen;
    if (p->n_services == 0 || p->n_actions == 0)
        problem(ld, where, path, "a policy needs services and actions (globs; \"*\" for all)");
}

#define PO_OFF(m) offsetof(rt_policy, m)
static const field policy_fields[] = {
    [PO_NAME] = {"name", F_STRING, REQUIRED, PO_OFF(name), 0, 0, NULL, NULL, NULL, 0, NULL},
    [PO_SERVICES] = {"services", F_STRINGS, REQUIRED, PO_OFF(services), 0, 0, NULL, NULL, NULL, 0,
                     NULL},
    [PO_ACTIONS] = {"actions", F_STRINGS, REQUIRED, PO_OFF(actions), 0, 0, NULL, NULL, NULL, 0,
                    NULL},
    [PO_MIN_CONFIDENCE] = {"min_confidence", F_RATE, 0, PO_OFF(min_confidence), 0, 1, NULL, NULL,
                           NULL, 0, NULL},
    [PO_WINDOW] = {"window", F_DURATION, 0, PO_OFF(window), 0, 30 * 86400.0, NULL, NULL, NULL, 0,
                   NULL},
    {"max_per_service", F_INT, 0, PO_OFF(max_per_service), 0, 1000000, NULL, NULL, NULL, 0, NULL},
    {"blast_radius", F_INT, 0, PO_OFF(blast_radius), 0, 1000000, NULL, NULL, NULL, 0, NULL},
    {"freeze", F_LIST, 0, PO_OFF(freeze), 0, 0, NULL, freeze_fields, freeze_check,
     sizeof(rt_freeze), NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

#define PP_OFF(m) offsetof(rt_postproc, m)
static const field postproc_fields[] = {
    {"embedded", F_BOOL, 0, PP_OFF(embedded), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"incident_id", F_TEMPLATE, 0, PP_OFF(incident_id), 0, 0, analysis_roots, NULL, NULL, 0, NULL},
    {"claim_idle", F_DURATION, 0, PP_OFF(claim_idle), 0, 86400, NULL, NULL, NULL, 0, NULL},
    {"max_deliveries", F_INT, 0, PP_OFF(max_deliveries), 1, 1000, NULL, NULL, NULL, 0, NULL},
    {"lease", F_DURATION, 0, PP_OFF(lease), 0, 86400, NULL, NULL, NULL, 0, NULL},
    {"retries", F_INT, 0, PP_OFF(retries), 0, 100, NULL, NULL, NULL, 0, NULL},
    {"retry_backoff", F_DURATION, 0, PP_OFF(retry_backoff), 0, 3600, NULL, NULL, NULL, 0, NULL},
    {"audit_retention", F_DURATION, 0, PP_OFF(audit_retention), 0, 3660 * 86400.0, NULL, NULL, NULL,
     0, NULL},
    {"action_ttl", F_DURATION, 0, PP_OFF(action_ttl), 0, 3660 * 86400.0, NULL, NULL, NULL, 0, NULL},
    {"verify_timeout", F_DURATION, 0, PP_OFF(verify_timeout), 1, 7 * 86400.0, NULL, NULL, NULL, 0,
     NULL},
    {"approval_ttl", F_DURATION, 0, PP_OFF(approval_ttl), 1, 30 * 86400.0, NULL, NULL, NULL, 0,
     NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

/* The console's session key: from exactly one place, or none (a random key per start). */
enum { K_ENABLED, K_SESSION_TTL, K_KEY_ENV, K_KEY_FILE, K_KEY };

static void console_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                          yaml_mark_t where) {
    rt_console *c = base;
    char here[PATH_MAX_LEN];
    (void)where;
    if ((seen->bits & BIT(K_KEY_ENV)) && (seen->bits & BIT(K_KEY_FILE))) {
        join_path(here, path, "key_file");
        problem(ld, seen->key[K_KEY_FILE], here, "give one of key_env and key_file, not both");
        return;
    }
    if (!c->session_key.env && !c->session_key.file)
        return;
    c->session_key.type = RT_AUTH_BEARER;
    if (c->session_key.env && !getenv(c->session_key.env)) {
        join_path(here, path, "key_env");
        warning(ld, seen->value[K_KEY_ENV], here, "environment variable %s is not set",
                c->session_key.env);
    } else if (c->session_key.file && access(c->session_key.file, R_OK) != 0) {
        int err = errno;
        join_path(here, path, "key_file");
        warning(ld, seen->value[K_KEY_FILE], here, "cannot read secret file %s: %s",
                c->session_key.file, strerror(err));
    }
}

#define K_OFF(m) offsetof(rt_console, m)
static const field console_fields[] = {
    [K_ENABLED] = {"enabled", F_BOOL, 0, K_OFF(enabled), 0, 0, NULL, NULL, NULL, 0, NULL},
    [K_SESSION_TTL] = {"session_ttl", F_DURATION, 0, K_OFF(session_ttl), 0, 30 * 86400.0, NULL,
                       NULL, NULL, 0, NULL},
    [K_KEY_ENV] = {"key_env", F_ENV, 0, K_OFF(session_key.env), 0, 0, NULL, NULL, NULL, 0, NULL},
    [K_KEY_FILE] = {"key_file", F_FILE, 0, K_OFF(session_key.file), 0, 0, NULL, NULL, NULL, 0,
                    NULL},
    [K_KEY] = {"key", F_SECRET, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

/* ---- recordings ---------------------------------------------------------------------------- */

enum { REC_SHARE, REC_TTL, REC_MAX_BYTES };

/* Keeps where ttl is written: whether it outlives the queue's result_ttl is known only once the
 * whole file is read (cross_check). */
static void recordings_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                             yaml_mark_t where) {
    rt_recordings *r = base;
    (void)ld, (void)path, (void)where;
    if (seen->bits & (1u << REC_TTL)) {
        r->ttl_line = (int)seen->value[REC_TTL].line + 1;
        r->ttl_column = (int)seen->value[REC_TTL].column + 1;
    }
}

#define REC_OFF(m) offsetof(rt_recordings, m)
static const field recordings_fields[] = {
    [REC_SHARE] = {"share", F_FRACTION, 0, REC_OFF(share), 0, 1, NULL, NULL, NULL, 0, NULL},
    [REC_TTL] = {"ttl", F_DURATION, 0, REC_OFF(ttl), 0, 366 * 86400.0, NULL, NULL, NULL, 0, NULL},
    [REC_MAX_BYTES] = {"max_bytes", F_SIZE, 0, REC_OFF(max_bytes), 1024, 64.0 * 1024 * 1024, NULL,
                       NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

/* ---- feedback, insights, backtest reports ------------------------------------------------- */

enum { FB_TTL };

/* Keeps where ttl is written, for the check against the queue's result_ttl (console_settle). */
static void feedback_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                           yaml_mark_t where) {
    rt_feedback *f = base;
    (void)ld, (void)path, (void)where;
    if (seen->bits & (1u << FB_TTL)) {
        f->ttl_line = (int)seen->value[FB_TTL].line + 1;
        f->ttl_column = (int)seen->value[FB_TTL].column + 1;
    }
}

#define FB_OFF(m) offsetof(rt_feedback, m)
static const field feedback_fields[] = {
    [FB_TTL] = {"ttl", F_DURATION, 0, FB_OFF(ttl), 0, 3660 * 86400.0, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

enum { IN_ENABLED, IN_INTERVAL, IN_PERIOD, IN_RETENTION, IN_TOP };

/* Insights count by UTC day: a period is whole days, and no longer than the counts are kept. */
static void insights_check(loader *ld, void *base, const seen_keys *seen, const char *path,
                           yaml_mark_t where) {
    rt_insights *in = base;
    char here[PATH_MAX_LEN], period[32], retention[32];
    (void)where;
    if ((seen->bits & (1u << IN_PERIOD)) && fmod(in->period, 86400) != 0) {
        join_path(here, path, "period");
        problem(ld, seen->value[IN_PERIOD], here,
                "a period is counted in whole days (1d, 7d, 30d), as the counts are kept by day");
        in->period = 7 * 86400;
    } else if (in->period > in->retention) {
        join_path(here, path, (seen->bits & (1u << IN_PERIOD)) ? "period" : "retention");
        rt_duration_format(in->period, period);
        rt_duration_format(in->retention, retention);
        problem(ld, seen->value[(seen->bits & (1u << IN_PERIOD)) ? IN_PERIOD : IN_RETENTION], here,
                "the period (%s) is longer than the counts are kept (retention %s)", period,
                retention);
    }
}

#define IN_OFF(m) offsetof(rt_insights, m)
static const field insights_fields[] = {
    [IN_ENABLED] = {"enabled", F_BOOL, 0, IN_OFF(enabled), 0, 0, NULL, NULL, NULL, 0, NULL},
    [IN_INTERVAL] = {"interval", F_DURATION, 0, IN_OFF(interval), 0, 86400, NULL, NULL, NULL, 0,
                     NULL},
    [IN_PERIOD] = {"period", F_DURATION, 0, IN_OFF(period), 0, 3660 * 86400.0, NULL, NULL, NULL, 0,
                   NULL},
    [IN_RETENTION] = {"retention", F_DURATION, 0, IN_OFF(retention), 86399, 3660 * 86400.0, NULL,
                      NULL, NULL, 0, NULL},
    [IN_TOP] = {"top", F_INT, 0, IN_OFF(top), 1, 100, NULL, NULL, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

#define BT_OFF(m) offsetof(rt_backtests, m)
static const field backtests_fields[] = {
    {"reports", F_STRINGS, 0, BT_OFF(reports), 0, 0, NULL, NULL, NULL, 0, NULL},
    {"max_bytes", F_SIZE, 0, BT_OFF(max_bytes), 1024, 1024.0 * 1024 * 1024, NULL, NULL, NULL, 0,
     NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

static const field root_fields[] = {
    {"analyzers", F_DIRS, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
    {"limits", F_TABLE, 0, G_OFF(limits), 0, 0, NULL, limits_fields, NULL, 0, NULL},
    {"redis", F_TABLE, 0, 0, 0, 0, NULL, redis_fields, redis_check, 0, NULL},
    {"connectors", F_NAMED, 0, G_OFF(connectors), 0, 0, NULL, connector_fields, connector_check,
     sizeof(rt_connector), connector_defaults},
    {"server", F_TABLE, 0, G_OFF(server), 0, 0, NULL, server_fields, server_check, 0, NULL},
    {"queue", F_TABLE, 0, G_OFF(queue), 0, 0, NULL, queue_fields, NULL, 0, NULL},
    {"worker", F_TABLE, 0, G_OFF(worker), 0, 0, NULL, worker_fields, NULL, 0, NULL},
    {"tokens", F_NAMED, 0, G_OFF(tokens), 0, 0, NULL, token_fields, token_check, sizeof(rt_token),
     NULL},
    {"routes", F_LIST, NAMED, G_OFF(routes), 0, 0, NULL, route_fields, NULL, sizeof(rt_route),
     route_defaults},
    {"intake", F_TABLE, 0, G_OFF(intake), 0, 0, NULL, intake_fields, NULL, 0, NULL},
    {"rules", F_LIST, NAMED, G_OFF(rules), 0, 0, NULL, rule_fields, rule_check, sizeof(rt_rule),
     rule_defaults},
    {"policies", F_LIST, NAMED, G_OFF(policies), 0, 0, NULL, policy_fields, policy_check,
     sizeof(rt_policy), policy_defaults},
    {"postproc", F_TABLE, 0, G_OFF(postproc), 0, 0, NULL, postproc_fields, NULL, 0, NULL},
    {"console", F_TABLE, 0, G_OFF(console), 0, 0, NULL, console_fields, console_check, 0, NULL},

    {"recordings", F_TABLE, 0, G_OFF(recordings), 0, 0, NULL, recordings_fields, recordings_check,
     0, NULL},
    {"feedback", F_TABLE, 0, G_OFF(feedback), 0, 0, NULL, feedback_fields, feedback_check, 0, NULL},
    {"insights", F_TABLE, 0, G_OFF(insights), 0, 0, NULL, insights_fields, insights_check, 0, NULL},
    {"backtests", F_TABLE, 0, G_OFF(backtests), 0, 0, NULL, backtests_fields, NULL, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL},
};

/* The list layouts the loader relies on (list_slot, named_head). */
#define LIST_AT(type, items, n)                                                                    \
    _Static_assert(offsetof(type, n) == offsetof(type, items) + sizeof(void *), #type "." #n)
LIST_AT(rt_config, connectors, n_connectors);
LIST_AT(rt_config, tokens, n_tokens);
LIST_AT(rt_config, routes, n_routes);
LIST_AT(rt_config, rules, n_rules);
LIST_AT(rt_token, analyzers, n_analyzers);
LIST_AT(rt_token, teams, n_teams);
LIST_AT(rt_token, approve, n_approve);
LIST_AT(rt_route, match, n_match);
LIST_AT(rt_route, inputs, n_inputs);
LIST_AT(rt_rule, actions, n_actions);
LIST_AT(rt_rule_match, labels, n_labels);
LIST_AT(rt_action, args, n_args);
LIST_AT(rt_action, arg_types, n_arg_types);
LIST_AT(rt_verify, inputs, n_inputs);
LIST_AT(rt_verify, expect, n_expect);
LIST_AT(rt_config, policies, n_policies);
LIST_AT(rt_policy, services, n_services);
LIST_AT(rt_policy, actions, n_actions);
LIST_AT(rt_policy, freeze, n_freeze);
LIST_AT(rt_queue_config, team_caps, n_team_caps);
LIST_AT(rt_intake, generic, n_generic);
LIST_AT(rt_intake_mapping, resolved, n_resolved);
LIST_AT(rt_backtests, reports, n_reports);
#define NAMED_AT(type)                                                                             \
    _Static_assert(offsetof(type, name) == offsetof(named_head, name) &&                           \
                       offsetof(type, line) == offsetof(named_head, line),                         \
                   #type " begins with name and line")
NAMED_AT(rt_connector);
NAMED_AT(rt_token);
NAMED_AT(rt_route);
NAMED_AT(rt_rule);
NAMED_AT(rt_intake_generic);
NAMED_AT(rt_policy);

/* A recording kept longer than its analysis cannot become a case: `case from-analysis` reads
 * both. The ttl's default follows result_ttl. */
static void recordings_settle(loader *ld, rt_config *c) {
    rt_recordings *r = &c->recordings;
    if (r->ttl <= 0) {
        r->ttl = c->queue.result_ttl;
        return;
    }
    if (r->ttl > c->queue.result_ttl && r->ttl_line) {
        char ttl[32], result[32];
        yaml_mark_t at = {.line = (size_t)r->ttl_line - 1, .column = (size_t)r->ttl_column - 1};
        rt_duration_format(r->ttl, ttl);
        rt_duration_format(c->queue.result_ttl, result);
        warning(ld, at, "recordings.ttl",
                "recordings are kept %s but their analyses only %s (queue.result_ttl): a "
                "recording outliving its analysis cannot become a case",
                ttl, result);
    }
}

/* Feedback is what makes a wrong verdict a backtest case and an analyzer's precision: kept for
 * less time than its analysis, it is gone before the analysis is. */
static void feedback_settle(loader *ld, rt_config *c) {
    rt_feedback *f = &c->feedback;
    if (f->ttl < c->queue.result_ttl && f->ttl_line) {
        char ttl[32], result[32];
        yaml_mark_t at = {.line = (size_t)f->ttl_line - 1, .column = (size_t)f->ttl_column - 1};
        rt_duration_format(f->ttl, ttl);
        rt_duration_format(c->queue.result_ttl, result);
        warning(ld, at, "feedback.ttl",
                "feedback is kept %s, less than the analyses it judges (queue.result_ttl %s)", ttl,
                result);
    }
}

/* Checks across sections, once everything is read: what rules' actions name exists. The
 * connectors they name are reserved for them: with an action's connector, an analyzer could
 * post to a mitigation endpoint or a chat with its credentials, past policies, approvals, dry
 * runs and the audit. */
static void cross_check(loader *ld, rt_config *c) {
    for (size_t i = 0; i < c->n_rules; i++)
        for (size_t j = 0; j < c->rules[i].n_actions; j++) {
            const rt_action *a = &c->rules[i].actions[j];
            rt_connector *conn = NULL;
            for (size_t k = 0; a->connector && !conn && k < c->n_connectors; k++)
                if (c->connectors[k].name && strcmp(c->connectors[k].name, a->connector) == 0)
                    conn = &c->connectors[k];
            yaml_mark_t m = {.line = (size_t)c->rules[i].line - 1};
            char here[PATH_MAX_LEN];
            snprintf(here, sizeof here, "rules.%zu.actions.%zu.connector", i, j);
            if (conn)
                conn->reserved = true;
            if (a->connector && !conn)
                problem(ld, m, here, "no connector named '%s'", a->connector);
            else if (conn && conn->type != RT_CONNECTOR_HTTP)
                problem(ld, m, here, "actions go through an http connector ('%s' is %s)",
                        conn->name, rt_connector_type_name(conn->type));
            if (a->type != RT_ACTION_MITIGATION)
                continue;
            /* Valid, but it would only ever be policy_denied: say so before it is deployed. */
            const char *name = a->name ? a->name : "mitigation";
            bool allowed = false;
            for (size_t k = 0; k < c->n_policies && !allowed; k++)
                for (size_t g = 0; g < c->policies[k].n_actions && !allowed; g++)
                    allowed = fnmatch(c->policies[k].actions[g], name, 0) == 0;
            if (!allowed) {
                yaml_mark_t at = {.line = (size_t)a->line - 1, .column = (size_t)a->column - 1};
                snprintf(here, sizeof here, "rules.%zu.actions.%zu.name", i, j);
                warning(ld, at, here,
                        "no policy allows mitigation '%s': it will always be policy_denied (add "
                        "it to a policy's actions)",
                        name);
            }
        }
}

/* ---- loading ----------------------------------------------------------------------------------
 */

static void syntax_error(loader *ld, const yaml_parser_t *parser) {
    yaml_mark_t m = parser->problem_mark;
    if (parser->error == YAML_READER_ERROR) {
        /* The reader reports an offset, not a mark. */
        memset(&m, 0, sizeof m);
        for (size_t i = 0; i < parser->problem_offset && ld->text[i]; i++) {
            if (ld->text[i] == '\n') {
                m.line++;
                m.column = 0;
            } else
                m.column++;
        }
    }
    const char *what = parser->problem ? parser->problem : "cannot parse";
    if (parser->context)
        problem(ld, m, NULL, "YAML syntax error: %s (%s at line %d, column %d)", what,
                parser->context, (int)parser->context_mark.line + 1,
                (int)parser->context_mark.column + 1);
    else
        problem(ld, m, NULL, "YAML syntax error: %s", what);
}

static rt_config *config_new(const char *path) {
    rt_config *c = rt_xcalloc(1, sizeof *c);
    c->path = rt_xstrdup(path);
    c->analyzers = rt_xcalloc(1, sizeof *c->analyzers);
    c->analyzers[0] = rt_xstrdup("analyzers");
    c->n_analyzers = 1;
    c->limits.memory = (size_t)64 << 20;
    c->limits.instructions = 1000000000;
    c->limits.timeout = 30;
    c->limits.calls = 500;
    c->limits.call_bytes = (size_t)256 << 20;
    /* serve's clients wait on its Redis commands, and a hung Redis answers nothing while the
     * kernel still accepts connections: only this timeout tells. A busy but healthy Redis
     * answers sooner: a submit of 1000 in tens of ms; the fork of an AOF rewrite or a snapshot
     * stalls it 10 to 20 ms per GB of data; a slow fsync delays its AOF writes, not its replies
     * (appendfsync everysec, for up to 2 s), or costs a slow disk's tens of ms (always). Half a
     * second is several times those and still quick for a client, who retries on a 503. */
    c->redis_timeout = 0.5;
    c->server.listen = rt_xstrdup("127.0.0.1:8080");
    c->server.max_body = (size_t)1 << 20;
    c->server.max_connections = 1024;
    c->server.idle_timeout = 60;
    c->server.read_timeout = 10;
    c->queue.prefix = rt_xstrdup("inquest");
    c->queue.lease = 30;
    c->queue.max_deliveries = 3;
    c->queue.result_ttl = 7 * 86400;
    c->queue.dedup_window = 600;
    c->worker.concurrency = 64;
    c->postproc.incident_id = rt_xstrdup("{{ labels.incident_id }}");
    c->postproc.claim_idle = 60;
    c->postproc.max_deliveries = 5;
    c->postproc.lease = 60;
    c->postproc.verify_timeout = 3600;
    c->postproc.approval_ttl = 3600;
    c->postproc.retries = 4;
    c->postproc.retry_backoff = 2;
    c->postproc.audit_retention = 90 * 86400.0;
    c->postproc.action_ttl = 30 * 86400.0;
    c->console.enabled = true;
    c->console.session_ttl = 8 * 3600;

    c->recordings.max_bytes = (size_t)16 << 20;
    c->feedback.ttl = 90 * 86400.0;
    c->insights.enabled = false;
    c->insights.interval = 60;
    c->insights.period = 7 * 86400.0;
    c->insights.retention = 90 * 86400.0;
    c->insights.top = 10;
    c->backtests.max_bytes = (size_t)16 << 20;
    return c;
}

int rt_config_load(const char *path, rt_config **out, rt_diag *errors, rt_diag *warnings) {
    char why[256];
    char *text = NULL;
    size_t len = 0;
    yaml_parser_t parser;
    loader ld = {.file = path, .errors = errors, .warnings = warnings};
    rt_config *c = NULL;
    *out = NULL;
    int rc = rt_file_read(path, RT_CONFIG_FILE_MAX, &text, &len, why);
    if (rc < 0) {
        rt_diag_add(errors, path, 0, NULL, "%s", why);
        return rc;
    }
    ld.text = text;
    if (!yaml_parser_initialize(&parser))
        abort(); /* bookkeeping: libyaml's buffers */
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &ld.doc)) {
        syntax_error(&ld, &parser);
        rc = RT_EINPUT;
        goto out_parser;
    }
    c = config_new(path);
    const yaml_node_t *root = yaml_document_get_root_node(&ld.doc);
    if (root && !is_null(root)) {
        seen_keys seen;
        load_table(&ld, 1, root_fields, c, "", root->start_mark, &seen);
        cross_check(&ld, c);
    }
    recordings_settle(&ld, c);
    feedback_settle(&ld, c);
    yaml_document_delete(&ld.doc);
    /* A second document would be ignored silently: refuse it. */
    if (!yaml_parser_load(&parser, &ld.doc))
        syntax_error(&ld, &parser);
    else {
        root = yaml_document_get_root_node(&ld.doc);
        if (root)
            problem(&ld, root->start_mark, NULL, "a config file holds one YAML document");
        yaml_document_delete(&ld.doc);
    }
    rc = ld.n_errors ? RT_EINPUT : RT_OK;
out_parser:
    yaml_parser_delete(&parser);
    free(text);
    if (rc == RT_OK)
        *out = c;
    else
        rt_config_free(c);
    return rc;
}

static void auth_free(rt_auth *a) {
    free(a->username);
    free(a->header);
    free(a->env);
    free(a->file);
}

static void strings_free(char **strings, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(strings[i]);
    free(strings);
}

static void matchers_free(rt_matcher *m, size_t n) {
    for (size_t i = 0; i < n; i++)
        matcher_free(&m[i]);
    free(m);
}

static void templates_free(rt_template *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].text);
    }
    free(t);
}

static void connector_free(rt_connector *conn) {
    free(conn->name);
    free(conn->url);
    for (size_t j = 0; j < conn->n_headers; j++) {
        free(conn->headers[j].name);
        free(conn->headers[j].value);
    }
    free(conn->headers);
    auth_free(&conn->auth);
    free(conn->events.path);
    free(conn->events.items);
    free(conn->events.time);
    free(conn->events.kind);
    free(conn->events.service);
    free(conn->events.id);
    free(conn->events.text);
}

static void rule_free(rt_rule *r) {
    free(r->name);
    free(r->match.analyzer);
    free(r->match.root_cause);
    free(r->match.conclusion);
    matchers_free(r->match.labels, r->match.n_labels);
    for (size_t j = 0; j < r->n_actions; j++) {
        rt_action *a = &r->actions[j];
        free(a->connector);
        templates_free(a->args, a->n_args);
        free(a->name);
        free(a->service);
        free(a->path);
        templates_free(a->arg_types, a->n_arg_types);
        free(a->verify.analyzer);
        templates_free(a->verify.inputs, a->verify.n_inputs);
        strings_free(a->verify.expect, a->verify.n_expect);
    }
    free(r->actions);
}

static void intake_free(rt_intake *in) {
    for (int i = 0; i < RT_INTAKE_SOURCES; i++) {
        auth_free(&in->sources[i].auth);
        auth_free(&in->sources[i].signing);
        free(in->sources[i].signature_header);
        free(in->sources[i].timestamp_header);
    }
    for (size_t i = 0; i < in->n_generic; i++) {
        rt_intake_generic *g = &in->generic[i];
        rt_intake_mapping *m = &g->map;
        free(g->name);
        auth_free(&g->source.auth);
        auth_free(&g->source.signing);
        free(m->alerts);
        free(m->status);
        strings_free(m->resolved, m->n_resolved);
        free(m->labels);
        free(m->annotations);
        free(m->starts_at);
        free(m->ends_at);
        free(m->fingerprint);
        free(m->incident_id);
        free(m->group_key);
        free(m->generator_url);
    }
    free(in->generic);
}

static void policy_free(rt_policy *p) {
    free(p->name);
    strings_free(p->services, p->n_services);
    strings_free(p->actions, p->n_actions);
    for (size_t i = 0; i < p->n_freeze; i++) {
        free(p->freeze[i].reason);
        free(p->freeze[i].start_text);
        free(p->freeze[i].end_text);
    }
    free(p->freeze);
}

void rt_config_free(rt_config *c) {
    if (!c)
        return;
    strings_free(c->analyzers, c->n_analyzers);
    for (size_t i = 0; i < c->n_connectors; i++)
        connector_free(&c->connectors[i]);
    free(c->connectors);
    for (size_t i = 0; i < c->n_tokens; i++) {
        free(c->tokens[i].name);
        auth_free(&c->tokens[i].auth);
        strings_free(c->tokens[i].analyzers, c->tokens[i].n_analyzers);
        strings_free(c->tokens[i].teams, c->tokens[i].n_teams);
        strings_free(c->tokens[i].approve, c->tokens[i].n_approve);
    }
    free(c->tokens);
    for (size_t i = 0; i < c->n_routes; i++) {
        free(c->routes[i].name);
        free(c->routes[i].analyzer);
        matchers_free(c->routes[i].match, c->routes[i].n_match);
        templates_free(c->routes[i].inputs, c->routes[i].n_inputs);
    }
    free(c->routes);
    intake_free(&c->intake);
    for (size_t i = 0; i < c->n_rules; i++)
        rule_free(&c->rules[i]);
    free(c->rules);
    for (size_t i = 0; i < c->n_policies; i++)
        policy_free(&c->policies[i]);
    free(c->policies);
    free(c->postproc.incident_id);
    free(c->server.listen);
    free(c->server.external_url);
    free(c->queue.prefix);
    for (size_t i = 0; i < c->queue.n_team_caps; i++)
        free(c->queue.team_caps[i].team);
    free(c->queue.team_caps);
    free(c->worker.user);
    free(c->redis_url);
    auth_free(&c->redis_auth);
    auth_free(&c->console.session_key);
    strings_free(c->backtests.reports, c->backtests.n_reports);
    free(c->path);
    free(c);
}

const rt_connector *rt_config_connector(const rt_config *c, const char *name) {
    for (size_t i = 0; i < c->n_connectors; i++)
        if (c->connectors[i].name && strcmp(c->connectors[i].name, name) == 0)
            return &c->connectors[i];
    return NULL;
}

const char *rt_source_name(rt_source source) {
    return (unsigned)source < sizeof sources / sizeof sources[0] - 1 ? sources[source] : "?";
}

const char *rt_connector_type_name(rt_connector_type type) {
    return (unsigned)type < sizeof connector_types / sizeof connector_types[0] - 1
               ? connector_types[type]
               : "?";
}

int rt_connector_type_parse(const char *name, rt_connector_type *type) {
    for (int i = 0; name && connector_types[i]; i++)
        if (strcmp(name, connector_types[i]) == 0) {
            *type = (rt_connector_type)i;
            return 0;
        }
    return -1;
}

/* ---- secrets ----------------------------------------------------------------------------------
 */

int rt_config_secret(const rt_auth *auth, char **secret, size_t *len, char *why) {
    *secret = NULL;
    *len = 0;
    if (!auth || auth->type == RT_AUTH_NONE || (!auth->env && !auth->file)) {
        snprintf(why, 256, "no credential configured");
        return RT_ENOTFOUND;
    }
    if (auth->env) {
        const char *value = getenv(auth->env);
        if (!value) {
            snprintf(why, 256, "environment variable %s is not set", auth->env);
            return RT_ENOTFOUND;
        }
        size_t n = strlen(value);
        if (n > RT_CONFIG_SECRET_MAX) {
            snprintf(why, 256, "environment variable %s holds more than %d bytes", auth->env,
                     RT_CONFIG_SECRET_MAX);
            return RT_ETOOBIG;
        }
        *secret = rt_xstrdup(value);
        *len = n;
        return RT_OK;
    }
    /* rt_file_read's reason names the path and the cause, never the content. */
    int rc = rt_file_read(auth->file, RT_CONFIG_SECRET_MAX + 2, secret, len, why);
    if (rc < 0)
        return rc;
    if (*len > 0 && (*secret)[*len - 1] == '\n')
        (*secret)[--*len] = '\0';
    if (*len > 0 && (*secret)[*len - 1] == '\r')
        (*secret)[--*len] = '\0';
    if (*len > RT_CONFIG_SECRET_MAX) {
        rt_secret_free(*secret, *len);
        *secret = NULL;
        *len = 0;
        snprintf(why, 256, "secret file %s holds more than %d bytes", auth->file,
                 RT_CONFIG_SECRET_MAX);
        return RT_ETOOBIG;
    }
    return RT_OK;
}

#define BASIC_PREFIX "Authorization: Basic "

/* The header line that carries 'secret' ('len' bytes), the credential of 'auth' (malloc'd,
 * a secret itself). */
static char *auth_header(const rt_auth *auth, const char *secret, size_t len) {
    char *line;
    if (auth->type == RT_AUTH_BASIC) {
        size_t plain_len = strlen(auth->username) + 1 + len;
        char *plain = rt_xmalloc(plain_len + 1);
        snprintf(plain, plain_len + 1, "%s:%s", auth->username, secret);
        static const char prefix[] = BASIC_PREFIX;
        line = rt_xmalloc(sizeof prefix + 4 * (plain_len / 3 + 1));
        memcpy(line, prefix, sizeof prefix - 1);
        EVP_EncodeBlock((unsigned char *)line + sizeof prefix - 1, (unsigned char *)plain,
                        (int)plain_len);
        rt_secret_free(plain, plain_len);
    } else {
        const char *name = auth->type == RT_AUTH_BEARER ? "Authorization" : auth->header;
        const char *prefix = auth->type == RT_AUTH_BEARER ? "Bearer " : "";
        size_t n = strlen(name) + strlen(prefix) + len + 3;
        line = rt_xmalloc(n);
        snprintf(line, n, "%s: %s%s", name, prefix, secret);
    }
    return line;
}

int rt_connector_creds_load(const rt_connector *c, rt_connector_creds *out, char *why) {
    char *secret = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    if (c->auth.type != RT_AUTH_NONE) {
        int rc = rt_config_secret(&c->auth, &secret, &len, why);
        if (rc != RT_OK)
            return rc;
    }
    out->headers = rt_xcalloc(c->n_headers + 1, sizeof *out->headers);
    for (size_t h = 0; h < c->n_headers; h++) {
        size_t n = strlen(c->headers[h].name) + strlen(c->headers[h].value) + 3;
        out->headers[h] = rt_xmalloc(n);
        snprintf(out->headers[h], n, "%s: %s", c->headers[h].name, c->headers[h].value);
    }
    out->n_headers = c->n_headers;
    if (c->auth.type == RT_AUTH_PATH) {
        /* "https://hooks.slack.com" and "/services/T/B/X": one slash between them. */
        size_t n = strlen(c->url);
        while (n > 0 && c->url[n - 1] == '/')
            n--;
        const char *rest = secret;
        while (*rest == '/')
            rest++;
        size_t total = n + 1 + strlen(rest) + 1;
        out->base_url = rt_xmalloc(total);
        snprintf(out->base_url, total, "%.*s/%s", (int)n, c->url, rest);
    } else {
        out->base_url = rt_xstrdup(c->url);
        if (c->auth.type != RT_AUTH_NONE)
            out->headers[out->n_headers++] = auth_header(&c->auth, secret, len);
    }
    out->secrets = rt_xcalloc(2, sizeof *out->secrets);
    if (c->auth.type == RT_AUTH_PATH) {
        const char *path = secret;
        while (*path == '/') /* the path as the base URL holds it, after one slash */
            path++;
        out->secrets[out->n_secrets++] = rt_xstrdup(path);
    } else if (c->auth.type != RT_AUTH_NONE) {
        out->secrets[out->n_secrets++] = rt_xstrdup(secret);
    }
    if (c->auth.type == RT_AUTH_BASIC) /* base64 of user:password, as an echoed header shows */
        out->secrets[out->n_secrets++] =
            rt_xstrdup(out->headers[out->n_headers - 1] + sizeof BASIC_PREFIX - 1);
    rt_secret_free(secret, len);
    return RT_OK;
}

void rt_connector_creds_free(rt_connector_creds *creds) {
    if (!creds)
        return;
    for (size_t i = 0; i < creds->n_headers; i++)
        rt_secret_free(creds->headers[i], strlen(creds->headers[i]));
    free(creds->headers);
    if (creds->base_url)
        rt_secret_free(creds->base_url, strlen(creds->base_url));
    for (size_t i = 0; i < creds->n_secrets; i++)
        rt_secret_free(creds->secrets[i], strlen(creds->secrets[i]));
    free(creds->secrets);
    memset(creds, 0, sizeof *creds);
}
