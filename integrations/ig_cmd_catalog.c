/* integrations/ig_cmd_catalog.c -- the commands that read analyzer definitions without running
 * them: `check`, `list` and `describe`. */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ig_cli.h"
#include "sdk.h"

enum { OPT_JSON = 256, OPT_ANALYZERS };

static const struct option catalog_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"analyzers", required_argument, NULL, OPT_ANALYZERS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct catalog_args {
    int json;
    ig_dirs dirs;
    int first; /* index of the first positional argument */
} catalog_args;

/* Parses --json, --analyzers and --help. Returns IG_EXIT_OK, an exit code, or -1 after help.
 * From --json on, the command's errors are JSON on stdout too (ig_error_json). */
static int parse(int argc, char **argv, const char *usage, catalog_args *a) {
    int opt;
    optind = 1;
    memset(a, 0, sizeof *a);
    while ((opt = getopt_long(argc, argv, "h", catalog_options, NULL)) != -1) {
        if (opt == OPT_JSON) {
            a->json = 1;
            ig_error_json(argv[0]);
        } else if (opt == OPT_ANALYZERS && ig_dirs_add(&a->dirs, argv[0], optarg) != IG_EXIT_OK)
            return IG_EXIT_USAGE;
        else if (opt == 'h') {
            fputs(usage, stdout);
            return -1;
        } else if (opt != OPT_ANALYZERS)
            return ig_usage_error(argv[0], "unknown option");
    }
    a->first = optind;
    return IG_EXIT_OK;
}

/* ---- check -------------------------------------------------------------------------------- */

static const char check_usage[] =
    "Usage: inquest check [PATH|NAME…] [--analyzers DIR]\n"
    "\n"
    "Loads and validates analyzer definitions without running them, and reports every problem\n"
    "with file:line. With no argument, checks every analyzer on the analyzer path; a folder is\n"
    "checked with everything in it.\n"
    "\n"
    "Exit codes: 0 all valid; 1 problems found; 2 usage error. The report is text only: there is\n"
    "no --json.\n";

typedef struct check_state {
    wk_engine *engine;
    int checked, failed;
} check_state;

static void check_one(const char *path, void *ud) {
    check_state *s = ud;
    wk_info info;
    rt_diag diag = {0};
    s->checked++;
    if (wk_inspect(s->engine, path, &info, &diag) == RT_OK) {
        printf("ok      %-32s %s\n", info.name, path);
    } else {
        s->failed++;
        printf("FAILED  %s\n", path);
        rt_diag_print(&diag, stdout, "  ");
    }
    wk_info_free(&info);
    rt_diag_free(&diag);
}

static void check_arg(check_state *s, const char *arg) {
    struct stat st;
    char *path = NULL;
    rt_diag diag = {0};
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* The analyzer path's engine, so that names are checked against its roots. */
        wk_each_analyzer(s->engine, arg, check_one, s);
    } else if (wk_resolve(s->engine, arg, &path, &diag) == RT_OK) {
        check_one(path, s);
    } else {
        s->checked++;
        s->failed++;
        printf("FAILED  %s\n", arg);
        rt_diag_print(&diag, stdout, "  ");
    }
    free(path);
    rt_diag_free(&diag);
}

int ig_cmd_check(int argc, char **argv) {
    catalog_args a;
    int code = parse(argc, argv, check_usage, &a);
    if (code != IG_EXIT_OK)
        return code < 0 ? IG_EXIT_OK : code;
    if (a.json) /* it was taken, and ignored, before: a script got text where it asked JSON */
        return ig_usage_error("check", "prints a text report only: there is no --json");
    check_state s = {.engine = ig_engine(a.dirs.dirs, a.dirs.n)};
    if (a.first == argc)
        wk_each_analyzer(s.engine, NULL, check_one, &s);
    for (int i = a.first; i < argc; i++)
        check_arg(&s, argv[i]);
    wk_engine_free(s.engine);
    printf("checked %d analyzer%s: %d with problems\n", s.checked, s.checked == 1 ? "" : "s",
           s.failed);
    return s.failed ? IG_EXIT_FAILED : IG_EXIT_OK;
}

/* ---- list --------------------------------------------------------------------------------- */

static const char list_usage[] =
    "Usage: inquest list [--json] [--analyzers DIR]\n"
    "\n"
    "Lists the analyzers on the analyzer path: name, owner and description. Files that do not\n"
    "load are reported on stderr (see `inquest check`).\n"
    "\n"
    "  --json            print the list as a JSON array of {name, owner, description, file};\n"
    "                    a failure as {\"error\": {\"code\", \"message\"}} (docs/operating.md)\n";

typedef struct list_state {
    wk_engine *engine;
    json_t *rows;
} list_state;

static void list_one(const char *path, void *ud) {
    list_state *s = ud;
    wk_info info;
    rt_diag diag = {0};
    if (wk_inspect(s->engine, path, &info, &diag) == RT_OK)
        json_array_append_new(s->rows,
                              json_pack("{s:s, s:s, s:s, s:s}", "name", info.name, "owner",
                                        info.owner, "description", info.description, "file", path));
    else
        fprintf(stderr, "inquest list: %s does not load (run `inquest check %s`)\n", path, path);
    wk_info_free(&info);
    rt_diag_free(&diag);
}

static void print_rows(json_t *rows) {
    size_t i, name_width = 4, owner_width = 5;
    json_t *row;
    json_array_foreach(rows, i, row) {
        size_t n = strlen(json_string_value(json_object_get(row, "name")));
        size_t m = strlen(json_string_value(json_object_get(row, "owner")));
        name_width = n > name_width ? n : name_width;
        owner_width = m > owner_width ? m : owner_width;
    }
    printf("%-*s  %-*s  %s\n", (int)name_width, "NAME", (int)owner_width, "OWNER", "DESCRIPTION");
    json_array_foreach(rows, i, row) {
        printf("%-*s  %-*s  %s\n", (int)name_width, json_string_value(json_object_get(row, "name")),
               (int)owner_width, json_string_value(json_object_get(row, "owner")),
               json_string_value(json_object_get(row, "description")));
    }
}

int ig_cmd_list(int argc, char **argv) {
    catalog_args a;
    int code = parse(argc, argv, list_usage, &a);
    if (code != IG_EXIT_OK)
        return code < 0 ? IG_EXIT_OK : code;
    if (a.first < argc)
        return ig_usage_error("list", "takes no arguments (got \"%s\")", argv[a.first]);
    list_state s = {.engine = ig_engine(a.dirs.dirs, a.dirs.n), .rows = json_array()};
    wk_each_analyzer(s.engine, NULL, list_one, &s);
    if (a.json) {
        ig_print_json_text(rt_json_canonical(s.rows));
    } else {
        print_rows(s.rows);
    }
    json_decref(s.rows);
    wk_engine_free(s.engine);
    return IG_EXIT_OK;
}

/* ---- describe ----------------------------------------------------------------------------- */

static const char describe_usage[] =
    "Usage: inquest describe NAME|PATH [--json] [--analyzers DIR]\n"
    "\n"
    "Shows an analyzer's owner, description and inputs. With --json, prints the inputs as a\n"
    "JSON Schema (draft 2020-12) that user interfaces and routes can check against, and a\n"
    "failure as {\"error\": {\"code\", \"message\", \"fields\"}}: unknown_analyzer (exit 2),\n"
    "invalid_analyzer with every problem of a file that does not load (exit 1), usage\n"
    "(docs/operating.md, \"Errors with --json\").\n";

/* "string, pattern ^[a-z]+$, max_length 4096": the type and its options, for people. */
static void print_constraints(const json_t *spec) {
    const char *key;
    json_t *value;
    printf("%s", json_string_value(json_object_get(spec, "type")));
    json_object_foreach((json_t *)spec, key, value) {
        if (!strcmp(key, "type") || !strcmp(key, "required") || !strcmp(key, "description") ||
            !strcmp(key, "default"))
            continue;
        char *text = rt_json_canonical(value);
        printf(", %s %s", key, text ? text : "?");
        free(text);
    }
}

static void print_inputs(const json_t *inputs) {
    const char *name;
    json_t *spec;
    if (json_object_size(inputs) == 0)
        printf("  (none)\n");
    json_object_foreach((json_t *)inputs, name, spec) {
        json_t *def = json_object_get(spec, "default");
        printf("  %-16s ", name);
        print_constraints(spec);
        if (def) {
            char *text = rt_json_canonical(def);
            printf("; default %s", text ? text : "?");
            free(text);
        } else {
            printf("; %s",
                   json_is_true(json_object_get(spec, "required")) ? "required" : "optional");
        }
        const char *description = json_string_value(json_object_get(spec, "description"));
        printf("%s%s\n", description ? "\n                   " : "",
               description ? description : "");
    }
}

static void describe_text(const wk_info *info) {
    printf("%s%s%s\n", info->name, info->version ? " " : "", info->version ? info->version : "");
    printf("  %s\n\n", info->description);
    printf("owner:  %s\nfile:   %s\nhash:   %s\n", info->owner, info->path, info->hash);
    if (json_array_size(info->tags)) {
        size_t i;
        json_t *tag;
        printf("tags:  ");
        json_array_foreach(info->tags, i, tag) printf(" %s", json_string_value(tag));
        printf("\n");
    }
    printf("\ninputs:\n");
    print_inputs(info->inputs);
}

static int describe(wk_engine *engine, const char *arg, int json) {
    char *path = NULL;
    rt_diag diag = {0};
    wk_info info = {0};
    int code = IG_EXIT_USAGE;
    if (wk_resolve(engine, arg, &path, &diag) != RT_OK) {
        ig_error_fields_under(
            ig_error_diag(stderr, "describe", IG_ERROR_UNKNOWN_ANALYZER, &diag, NULL), "analyzer",
            false);
    } else if (wk_inspect(engine, path, &info, &diag) != RT_OK) {
        ig_error_fields_under(ig_error_diag(stderr, "describe", IG_ERROR_INVALID_ANALYZER, &diag,
                                            "%s does not load", path),
                              "analyzer", false);
        code = IG_EXIT_FAILED;
    } else if (json) {
        json_t *schema = sdk_schema_to_json_schema(info.inputs, info.name);
        json_object_set_new(schema, "description", json_string(info.description));
        ig_print_json_text(
            json_dumps(schema, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)));
        json_decref(schema);
        code = IG_EXIT_OK;
    } else {
        describe_text(&info);
        code = IG_EXIT_OK;
    }
    wk_info_free(&info);
    rt_diag_free(&diag);
    free(path);
    return code;
}

int ig_cmd_describe(int argc, char **argv) {
    catalog_args a;
    int code = parse(argc, argv, describe_usage, &a);
    if (code != IG_EXIT_OK)
        return code < 0 ? IG_EXIT_OK : code;
    if (a.first != argc - 1)
        return ig_usage_error("describe", "expected one analyzer name or path");
    wk_engine *engine = ig_engine(a.dirs.dirs, a.dirs.n);
    code = describe(engine, argv[a.first], a.json);
    wk_engine_free(engine);
    return code;
}
