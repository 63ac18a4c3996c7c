/* tests/fuzz/fuzz_recording.c -- the recording loader (runtime/rt_recording.c: its whitespace
 * squeezer, JSON checks and exchange index) on any file: it loads, or refuses with problems that
 * each name the file and a line or a field. What loads must write back (rt_recording_dumps) as a
 * recording that loads again and writes the same text: a backtest case made from a replay must
 * replay the same. Seeds: corpus/recording/. */
#include "fuzz_support.h"
#include "rt_recording.h"

static void check_items(const rt_diag *d, const char *path) {
    size_t i;
    json_t *item;
    json_array_foreach(d->items, i, item) {
        const char *message = json_string_value(json_object_get(item, "message"));
        const char *file = json_string_value(json_object_get(item, "file"));
        bool placed = json_object_get(item, "line") || json_object_get(item, "field");
        FUZZ_CHECK(message && *message, "problem %zu has no message", i);
        FUZZ_CHECK(file && strcmp(file, path) == 0, "problem %zu names no file: %s", i, message);
        FUZZ_CHECK(placed || strstr(message, "at the top") || strstr(message, "too many"),
                   "problem %zu says not where: %s", i, message);
    }
}

/* The text 'r' writes, loaded again, writes the same text. */
static void check_round_trip(const rt_recording *r) {
    char why[256] = "", *text = NULL, *again = NULL;
    size_t len = 0, again_len = 0;
    int rc = rt_recording_dumps(r, &text, &len, why);
    if (rc == RT_EINPUT) /* meta data that loads but may not be written: said in 'why' */
        FUZZ_CHECK(*why, "RT_EINPUT from dumps without a reason");
    if (rc != RT_OK)
        return free(text);
    rt_recording *reloaded = NULL;
    rt_diag diag = {0};
    const char *path = fuzz_scratch_file((const uint8_t *)text, len);
    rc = rt_recording_load(path, &reloaded, &diag);
    if (rc != RT_OK)
        rt_diag_print(&diag, stderr, "  ");
    FUZZ_CHECK(rc == RT_OK, "a recording as written does not load again: %s", rt_errname(rc));
    FUZZ_CHECK(rt_recording_count(reloaded) == rt_recording_count(r), "%zu exchanges, then %zu",
               rt_recording_count(r), rt_recording_count(reloaded));
    FUZZ_CHECK(rt_recording_dumps(reloaded, &again, &again_len, why) == RT_OK, "%s", why);
    FUZZ_CHECK(again_len == len && memcmp(again, text, len) == 0,
               "written twice, two texts:\n%s\n%s", text, again);
    free(again);
    free(text);
    rt_recording_free(reloaded);
    rt_diag_free(&diag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_scratch_file(data, size);
    rt_recording *r = NULL;
    rt_diag diag = {0};
    int rc = rt_recording_load(path, &r, &diag);
    if (rc == RT_OK) {
        FUZZ_CHECK(r && rt_diag_count(&diag) == 0, "RT_OK with problems or no recording");
        check_round_trip(r);
    } else {
        FUZZ_CHECK(r == NULL, "%s with a recording", rt_errname(rc));
        FUZZ_CHECK(rt_diag_count(&diag) > 0, "%s with no problem listed", rt_errname(rc));
        check_items(&diag, path);
    }
    rt_recording_free(r);
    rt_diag_free(&diag);
    return 0;
}
