/* backtest/bt_report_stub.c -- stand-ins for the report's renderings (bt.h) until
 * backtest/bt_report.c (branch bt-report) lands: each prints the JSON report. CMakeLists.txt
 * builds this file only while bt_report.c does not define them; delete it after the merge. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "bt.h"

static void print_json(const json_t *report, FILE *out) {
    json_dumpf(report, out, JSON_INDENT(2) | JSON_SORT_KEYS);
    fputc('\n', out);
}

void bt_report_text(const json_t *report, FILE *out, bool color) {
    (void)color;
    print_json(report, out);
}

void bt_report_markdown(const json_t *report, FILE *out) {
    print_json(report, out);
}

void bt_report_junit(const json_t *report, FILE *out) {
    print_json(report, out);
}

int bt_report_save(const json_t *report, const char *dir, char *why) {
    char path[4096];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(why, 256, "cannot make the folder: %s", strerror(errno));
        return RT_EIO;
    }
    snprintf(path, sizeof path, "%s/%s-%s.json", dir,
             json_string_value(json_object_get(report, "started_at")),
             json_string_value(json_object_get(report, "id")));
    if (json_dump_file(report, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
        snprintf(why, 256, "cannot write %.200s", path);
        return RT_EIO;
    }
    return RT_OK;
}
