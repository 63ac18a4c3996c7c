/* integrations/ig_cmd_new.c -- `inquest new NAME`: writes an analyzer skeleton that passes
 * `inquest check` and runs, and the empty backtest case folder beside it (DESIGN §7). */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ig_cli.h"

static const char new_usage[] =
    "Usage: inquest new NAME [--owner TEAM] [--analyzers DIR]\n"
    "\n"
    "Writes DIR/<domain>/<name>.lua for NAME = domain.name (DIR is the first folder of the\n"
    "analyzer path, ./analyzers by default) and the backtest case folder\n"
    "DIR/<domain>/<name>.cases/ beside it. Refuses to overwrite anything.\n";

static const char skeleton[] =
    "-- %s: what question does this analyzer answer? See docs/sdk.md.\n"
    "local inquest = require \"inquest\"\n"
    "local t = inquest.types\n"
    "\n"
    "return inquest.analyzer {\n"
    "  name        = \"%s\",\n"
    "  owner       = \"%s\",\n"
    "  description = \"TODO: the question this analyzer answers\",\n"
    "  inputs = {\n"
    "    service = t.string   { pattern = \"^[a-z0-9-]+$\", description = \"the service\" },\n"
    "    at      = t.time     { default = \"now\", description = \"when it happened\" },\n"
    "    window  = t.duration { default = \"30m\", min = \"1m\", max = \"24h\" },\n"
    "  },\n"
    "  run = function(ctx, input)\n"
    "    ctx.log(\"looking at %%s from %%s\", input.service, os.date(\"%%H:%%M\", input.at - "
    "input.window))\n"
    "    -- Investigate here, record what you find with ctx:finding{…}, then conclude.\n"
    "    ctx:conclude(\"inconclusive\", \"nothing examined yet\")\n"
    "  end,\n"
    "}\n";

static const char cases_readme[] =
    "# Backtest cases of %s\n"
    "\n"
    "Each case is a folder here: `case.json` (analyzer inputs, the frozen `now`, the expected\n"
    "outcome) and the recorded connector responses. A recorded run becomes a case; see docs/.\n";

static int make_dirs(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int write_new_file(const char *path, const char *fmt, const char *a, const char *b,
                          const char *c) {
    FILE *f = fopen(path, "wx");
    if (!f) {
        fprintf(stderr, "inquest new: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, fmt, a, b, c);
    return fclose(f);
}

static int is_new_name(const char *name) {
    const char *dot = strchr(name, '.');
    if (!dot || dot == name || !dot[1] || strchr(dot + 1, '.'))
        return 0;
    for (const char *p = name; *p; p++)
        if (!(*p == '.' || *p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return 0;
    return !(dot[1] >= '0' && dot[1] <= '9') && !(name[0] >= '0' && name[0] <= '9');
}

static int scaffold(const char *root, const char *name, const char *owner) {
    char dir[1024], file[1100], cases[1100], readme[1200];
    const char *dot = strchr(name, '.');
    /* A cut path would name another place: refuse it rather than write there. */
    if ((size_t)snprintf(dir, sizeof dir, "%s/%.*s", root, (int)(dot - name), name) >= sizeof dir ||
        (size_t)snprintf(file, sizeof file, "%s/%s.lua", dir, dot + 1) >= sizeof file ||
        (size_t)snprintf(cases, sizeof cases, "%s/%s.cases", dir, dot + 1) >= sizeof cases ||
        (size_t)snprintf(readme, sizeof readme, "%s/README.md", cases) >= sizeof readme) {
        fprintf(stderr, "inquest new: the path under %s is too long\n", root);
        return IG_EXIT_USAGE;
    }
    struct stat st;
    if (stat(file, &st) == 0 || stat(cases, &st) == 0) {
        fprintf(stderr, "inquest new: %s already exists; nothing written\n",
                stat(file, &st) == 0 ? file : cases);
        return IG_EXIT_USAGE;
    }
    if (make_dirs(cases) != 0) {
        fprintf(stderr, "inquest new: cannot create %s: %s\n", cases, strerror(errno));
        return IG_EXIT_FAILED;
    }
    if (write_new_file(file, skeleton, name, name, owner) != 0 ||
        write_new_file(readme, cases_readme, name, "", "") != 0)
        return IG_EXIT_FAILED;
    printf("created %s\ncreated %s/\n\nnext: edit it, then `inquest check %s` and "
           "`inquest run %s service=…`\n",
           file, cases, file, name);
    return IG_EXIT_OK;
}

int ig_cmd_new(int argc, char **argv) {
    static const struct option options[] = {
        {"owner", required_argument, NULL, 'o'},
        {"analyzers", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *owner = "team-unknown";
    char *root = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'o')
            owner = optarg;
        else if (opt == 'a' && !*optarg)
            return ig_usage_error("new", "--analyzers needs a folder (got an empty one)");
        else if (opt == 'a')
            root = optarg;
        else if (opt == 'h') {
            fputs(new_usage, stdout);
            return IG_EXIT_OK;
        } else
            return ig_usage_error("new", "unknown option");
    }
    if (optind != argc - 1)
        return ig_usage_error("new", "expected one NAME such as http.error_spike");
    const char *name = argv[optind];
    if (!is_new_name(name))
        return ig_usage_error("new",
                              "'%s' must be domain.name: lower-case letters, digits and "
                              "_, starting with a letter",
                              name);
    if (strchr(owner, '"') || strchr(owner, '\\') || strchr(owner, '\n'))
        return ig_usage_error("new", "--owner must not contain quotes, backslashes or newlines");
    ig_path path;
    ig_path_init(&path, root ? &root : NULL, root ? 1 : 0);
    int code = scaffold(path.dirs[0], name, owner);
    ig_path_free(&path);
    return code;
}
