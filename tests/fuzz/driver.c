/* tests/fuzz/driver.c -- runs a libFuzzer harness (LLVMFuzzerTestOneInput) without libFuzzer:
 * over the seed corpus, then over deterministic mutations of the seeds, so that ctest (gcc, and
 * gcc with ASan+UBSan) fuzzes a little on every run. The real fuzzer is `make fuzz` (clang,
 * INQUEST_FUZZ); docs/fuzzing.md says how both are used.
 *
 *   driver [-n N] [-t SECONDS] [-s SEED] [-o DIR] CORPUS_DIR   seeds, then N mutations
 *   driver FILE...                                              replays those inputs only
 *
 * Every input is written to DIR/NAME.current before it runs (one pwrite), so that whatever ends
 * the process -- a crash, a sanitizer report, the per-input alarm, ctest's timeout -- leaves
 * the input behind; the driver names it on the way down when it can. */
#define _POSIX_C_SOURCE 200809L /* pwrite, ftruncate, sigaction */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS      256
#define MAX_INPUT      (1024 * 1024) /* bytes a mutation may grow an input to */
#define INPUT_ALARM    10            /* seconds one input may take before it counts as a hang */
#define DEFAULT_ROUNDS 1000

typedef struct input {
    uint8_t *data;
    size_t size;
} input;

static char current_path[4096]; /* where the running input is kept */
static int current_fd = -1;

/* ---- keeping the running input ------------------------------------------------------------ */

static void say(const char *s) {
    ssize_t ignored = write(STDERR_FILENO, s, strlen(s));
    (void)ignored;
}

/* Async-signal-safe: names the input that was running when the process is brought down. */
static void name_current(void) {
    if (current_fd < 0)
        return;
    say("\nfuzz driver: the input that was running is kept in ");
    say(current_path);
    say("\nfuzz driver: replay it with: <this driver> ");
    say(current_path);
    say("\n");
}

static void on_fatal(int sig) {
    if (sig == SIGALRM)
        say("\nfuzz driver: one input ran longer than the alarm: a hang");
    name_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ASan and UBSan call this before they exit on a report (the driver does not need them: the
 * weak symbol is NULL in a plain build). */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void watch_for_the_end(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_fatal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(name_current);
}

static int keep_open(const char *dir, const char *name) {
    snprintf(current_path, sizeof current_path, "%s/%s.current", dir, name);
    current_fd = open(current_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (current_fd < 0) {
        fprintf(stderr, "fuzz driver: %s: %s\n", current_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Written over, then cut to its size: a file cut to nothing and written again is flushed to the
 * disk when closed on ext4 (auto_da_alloc), which made an input cost milliseconds. */
static void keep(const input *in) {
    if (current_fd < 0)
        return;
    if (pwrite(current_fd, in->data, in->size, 0) < 0 ||
        ftruncate(current_fd, (off_t)in->size) != 0) {
        fprintf(stderr, "fuzz driver: %s: %s\n", current_path, strerror(errno));
        exit(2);
    }
}

/* Runs the harness on a copy of exactly 'in->size' bytes, so that ASan sees any read past it. */
static void run_one(const input *in) {
    keep(in);
    uint8_t *copy = malloc(in->size ? in->size : 1);
    if (!copy)
        abort();
    memcpy(copy, in->data, in->size);
    alarm(INPUT_ALARM);
    LLVMFuzzerTestOneInput(copy, in->size);
    alarm(0);
    free(copy);
}

/* ---- reading inputs -------------------------------------------------------------------------- */

static int read_file(const char *path, input *out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    out->data = malloc(MAX_INPUT);
    out->size = out->data ? fread(out->data, 1, MAX_INPUT, f) : 0;
    int failed = !out->data || ferror(f);
    fclose(f);
    if (failed) {
        fprintf(stderr, "fuzz driver: %s: cannot read\n", path);
        free(out->data);
        return -1;
    }
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads every regular file of 'dir' into 'seeds', in name order (readdir's order is the file
 * system's, and a fixed seed must give the same run everywhere). Returns the count, or -1. */
static int read_corpus(const char *dir, input *seeds) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz driver: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char *names[MAX_SEEDS];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_SEEDS)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && read_file(path, &seeds[kept]) == 0)
            kept++;
        free(names[i]);
    }
    return kept;
}

/* ---- mutations ------------------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void) { /* xorshift64*: small, and the same sequence on every machine */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t below(size_t n) {
    return n ? (size_t)(rng() % n) : 0;
}

/* Bytes and strings that parsers treat specially: limits, quotes, escapes, structure. */
static const char *const interesting[] = {
    "\0",
    "\xff",
    "\x7f",
    "\x80",
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\n",
    "-",
    "0",
    "-1",
    "1e999",
    "-0",
    "NaN",
    "null",
    "true",
    "\\u0000",
    "\\ud800",
    "\xc3(",
    "\xf4\x90\x80\x80",
    "4294967296",
    "9223372036854775808",
    "18446744073709551616",
    "%s%n",
    "{{",
    "}}",
    "*",
    "&a",
    "!!binary",
    "---\n",
    "\t",
    "\r\n",
    "~",
    "<<",
    "?",
};

static void insert(input *in, size_t at, const void *bytes, size_t n) {
    if (in->size + n > MAX_INPUT)
        return;
    memmove(in->data + at + n, in->data + at, in->size - at);
    memmove(in->data + at, bytes, n); /* 'bytes' may lie in 'in' itself */
    in->size += n;
}

static void erase(input *in, size_t at, size_t n) {
    memmove(in->data + at, in->data + at + n, in->size - at - n);
    in->size -= n;
}

/* One random change to 'in' (a buffer of MAX_INPUT bytes), with 'seeds' for splices. */
static void mutate_once(input *in, const input *seeds, int n_seeds) {
    size_t at = below(in->size + 1);
    switch (below(8)) {
    case 0: /* a bit flip */
        if (in->size)
            in->data[below(in->size)] ^= (uint8_t)(1u << below(8));
        break;
    case 1: /* a random byte, replaced or inserted */
        if (in->size && below(2))
            in->data[below(in->size)] = (uint8_t)rng();
        else {
            uint8_t b = (uint8_t)rng();
            insert(in, at, &b, 1);
        }
        break;
    case 2: { /* a run of bytes deleted */
        size_t n = below(in->size - at < 16 ? in->size - at + 1 : 17);
        erase(in, at, n);
        break;
    }
    case 3: { /* an interesting value inserted */
        const char *v = interesting[below(sizeof interesting / sizeof interesting[0])];
        insert(in, at, v, v[0] ? strlen(v) : 1);
        break;
    }
    case 4: /* truncated */
        in->size = at;
        break;
    case 5: { /* a piece of another seed spliced in */
        const input *s = &seeds[below((size_t)n_seeds)];
        size_t from = below(s->size), n = below(s->size - from + 1);
        insert(in, at, s->data + from, n > 256 ? 256 : n);
        break;
    }
    case 6: { /* a piece of itself repeated: deep nesting, long strings */
        size_t n = below(in->size - at < 32 ? in->size - at + 1 : 33);
        for (size_t k = below(8) + 1; k > 0 && n; k--)
            insert(in, at, in->data + at, n);
        break;
    }
    default: /* two bytes swapped */
        if (in->size >= 2) {
            size_t i = below(in->size), j = below(in->size);
            uint8_t t = in->data[i];
            in->data[i] = in->data[j];
            in->data[j] = t;
        }
        break;
    }
}

static void mutate(input *in, const input *seed, const input *seeds, int n_seeds) {
    memcpy(in->data, seed->data, seed->size);
    in->size = seed->size;
    for (size_t k = below(4) + 1; k > 0; k--)
        mutate_once(in, seeds, n_seeds);
}

/* ---- main ----------------------------------------------------------------------------------- */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int usage(const char *prog) {
    fprintf(stderr,
            "usage: %s [-n MUTATIONS] [-t SECONDS] [-s SEED] [-o DIR] CORPUS_DIR\n"
            "       %s FILE...   (replays those inputs)\n",
            prog, prog);
    return 2;
}

static int replay(int argc, char **argv, int first) {
    for (int i = first; i < argc; i++) {
        input in;
        if (read_file(argv[i], &in) != 0)
            return 2;
        fprintf(stderr, "fuzz driver: running %s (%zu bytes)\n", argv[i], in.size);
        run_one(&in);
        free(in.data);
    }
    fprintf(stderr, "fuzz driver: %d input(s) ran without a fault\n", argc - first);
    return 0;
}

int main(int argc, char **argv) {
    long rounds = DEFAULT_ROUNDS;
    double seconds = 0; /* 0: no time cap */
    unsigned long long seed = 1;
    const char *out_dir = ".";
    int opt;
    while ((opt = getopt(argc, argv, "n:t:s:o:")) != -1) {
        if (opt == 'n')
            rounds = atol(optarg);
        else if (opt == 't')
            seconds = atof(optarg);
        else if (opt == 's')
            seed = strtoull(optarg, NULL, 0);
        else if (opt == 'o')
            out_dir = optarg;
        else
            return usage(argv[0]);
    }
    if (optind >= argc)
        return usage(argv[0]);
    watch_for_the_end();
    struct stat st;
    if (stat(argv[optind], &st) != 0 || !S_ISDIR(st.st_mode))
        return replay(argc, argv, optind);

    static input seeds[MAX_SEEDS];
    int n_seeds = read_corpus(argv[optind], seeds);
    if (n_seeds <= 0) {
        fprintf(stderr, "fuzz driver: %s: no seed files\n", argv[optind]);
        return 2;
    }
    if (keep_open(out_dir, base_name(argv[0])) != 0)
        return 2;
    for (int i = 0; i < n_seeds; i++)
        run_one(&seeds[i]);

    rng_state = seed ? seed : 1;
    input in = {malloc(MAX_INPUT), 0};
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long done = 0;
    for (; done < rounds; done++) {
        if (seconds > 0 && (done & 63) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
                break;
        }
        mutate(&in, &seeds[below((size_t)n_seeds)], seeds, n_seeds);
        run_one(&in);
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    printf("fuzz driver: %d seeds and %ld mutations (seed %llu) in %.1f s, no fault\n", n_seeds,
           done, seed, (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9);
    free(in.data);
    for (int i = 0; i < n_seeds; i++)
        free(seeds[i].data);
    close(current_fd);
    unlink(current_path);
    current_fd = -1;
    return 0;
}
