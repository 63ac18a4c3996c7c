/* tests/fuzz/fuzz_config.c -- the config loader (runtime/rt_config.c) on any YAML text: it loads
 * the file, or refuses it with problems that each say what is wrong and where (a line, 1-based);
 * never a crash, a leak or a config handed out beside errors. Seeds: corpus/config/. */
#include "fuzz_support.h"
#include "rt_config.h"

/* Every problem of 'd' has a message and a line of the file. */
static void check_items(const rt_diag *d, const char *path) {
    size_t i;
    json_t *item;
    json_array_foreach(d->items, i, item) {
        const char *message = json_string_value(json_object_get(item, "message"));
        const char *file = json_string_value(json_object_get(item, "file"));
        json_int_t line = json_integer_value(json_object_get(item, "line"));
        FUZZ_CHECK(message && *message, "problem %zu has no message", i);
        FUZZ_CHECK(file && strcmp(file, path) == 0, "problem %zu names no file: %s", i, message);
        FUZZ_CHECK(line > 0, "problem %zu names no line: %s", i, message);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_scratch_file(data, size);
    rt_config *config = NULL;
    rt_diag errors = {0}, warnings = {0};
    int rc = rt_config_load(path, &config, &errors, &warnings);
    if (rc == RT_OK) {
        FUZZ_CHECK(config != NULL, "RT_OK without a config");
        FUZZ_CHECK(rt_diag_count(&errors) == 0, "RT_OK with %zu errors", rt_diag_count(&errors));
    } else {
        FUZZ_CHECK(config == NULL, "%s with a config", rt_errname(rc));
        FUZZ_CHECK(rt_diag_count(&errors) > 0, "%s with no problem listed", rt_errname(rc));
        if (rc == RT_EINPUT)
            check_items(&errors, path);
    }
    rt_config_free(config);
    rt_diag_free(&errors);
    rt_diag_free(&warnings);
    return 0;
}
