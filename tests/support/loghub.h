/* tests/support/loghub.h -- the Loghub samples of the shared data (../shared/data/loghub, see its
 * README) for test_logpattern and bench_logpattern: each line's Content and EventId from a
 * *_structured.csv, and grouping accuracy as the logparser benchmark defines it. */
#ifndef INQUEST_TESTS_LOGHUB_H
#define INQUEST_TESTS_LOGHUB_H

#include <stddef.h>

/* The four samples, in the order the README lists their published figures. */
#define LH_DATASETS 4
extern const char *const lh_names[LH_DATASETS]; /* "HDFS", "Zookeeper", "OpenSSH", "Proxifier" */
extern const double lh_drain[LH_DATASETS];      /* Drain's published grouping accuracy */
extern const double lh_brain[LH_DATASETS];      /* Brain's */

typedef struct lh_data {
    size_t n;
    const char **content; /* each line's Content column, NUL-terminated */
    size_t *len;
    const char **event; /* each line's EventId */
    char *text;         /* owns the strings */
} lh_data;

/* Reads DATA/loghub/NAME/NAME_2k.log_structured.csv, a CSV with a header row and quoted fields
 * (RFC 4180: "" inside quotes, separators and line breaks inside quotes). Returns 0, or -1 with
 * what went wrong and where in 'why' (256 bytes). */
int lh_load(const char *data, const char *name, lh_data *out, char *why);
void lh_free(lh_data *d);

/* The share of lines whose group 'group[i]' holds exactly the lines that share their EventId. */
double lh_accuracy(const lh_data *d, const size_t *group);

#endif
