/* tests/fuzz/fuzz_support.h -- what the harnesses of tests/fuzz/ share: a contract check that
 * fails the same way under libFuzzer and under the plain driver (driver.c), and a scratch file
 * for the loaders that read from a path. */
#ifndef INQUEST_FUZZ_SUPPORT_H
#define INQUEST_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken contract is a crash: abort() is what both libFuzzer and the driver report with the
 * input that caused it. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: contract broken: %s: ", __FILE__, __LINE__, #cond);            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The path of a scratch file holding the 'size' bytes at 'data': one per process, made on first
 * use in TMPDIR (default /tmp) and rewritten for each input; removed when the process exits. */
static char fuzz__scratch[4096];

static inline void fuzz__remove_scratch(void) {
    unlink(fuzz__scratch);
}

static inline const char *fuzz_scratch_file(const uint8_t *data, size_t size) {
    static int fd = -1;
    if (fd < 0) {
        const char *dir = getenv("TMPDIR");
        snprintf(fuzz__scratch, sizeof fuzz__scratch, "%s/inquest-fuzz-XXXXXX",
                 dir && *dir ? dir : "/tmp");
        fd = mkstemp(fuzz__scratch);
        FUZZ_CHECK(fd >= 0, "cannot make a scratch file in %s", fuzz__scratch);
        atexit(fuzz__remove_scratch);
    }
    /* Written over, then cut to its size: on ext4 a file cut to nothing, written again and closed
     * (as each load does) is flushed to the disk, a write to the disk per input (auto_da_alloc). */
    FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size && ftruncate(fd, (off_t)size) == 0,
               "cannot write %s", fuzz__scratch);
    return fuzz__scratch;
}

#endif
