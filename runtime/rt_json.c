/* runtime/rt_json.c -- canonical JSON, the one form in which results are written and compared
 * (docs/sdk.md, "The result"). Numbers are made in rt_util.c (rt_json_number). */
#include "rt.h"

/* jansson already prints what the canonical form needs: integers as integers, reals with "%.15g"
 * plus ".0" when that looks whole (0.8 -> 0.8, 3.0 -> 3.0, 1e21 -> 1e21), keys sorted bytewise,
 * non-ASCII as UTF-8. JSON_ENCODE_ANY lets a bare string or number be canonicalised too. */
char *rt_json_canonical(const json_t *value) {
    return json_dumps(value,
                      JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY);
}
