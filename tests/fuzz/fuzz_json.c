/* tests/fuzz/fuzz_json.c -- the canonical JSON writer (runtime/rt_json.c) against jansson's
 * reader, as results and dedup keys use them: any JSON text jansson reads is written canonical,
 * and that text reads back (jansson) and writes again to the very same bytes; strings and keys
 * with NUL and odd UTF-8 included. A text jansson refuses comes with a position. Seeds:
 * corpus/json/. */
#include "fuzz_support.h"
#include "rt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_error_t error;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (!v) {
        FUZZ_CHECK(error.text[0] && error.line >= -1, "refused without a reason");
        return 0;
    }
    char *first = rt_json_canonical(v);
    FUZZ_CHECK(first, "no canonical text for a value jansson read");
    json_t *again = json_loads(first, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    FUZZ_CHECK(again, "the canonical text does not read back: %s at %d:%d\n%s", error.text,
               error.line, error.column, first);
    char *second = rt_json_canonical(again);
    FUZZ_CHECK(second && strcmp(first, second) == 0, "written twice, two texts:\n%s\n%s", first,
               second ? second : "(none)");
    free(second);
    free(first);
    json_decref(again);
    json_decref(v);
    return 0;
}
