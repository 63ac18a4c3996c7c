/* runtime/rt_util.c -- small services every command needs: bookkeeping allocation, whole-file
 * reads, whether a secret file is open to others, shell quoting, hashing, canonical JSON and
 * clocks. */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with realpath */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include "rt.h"

static void out_of_memory(size_t size) {
    fprintf(stderr, "inquest: out of memory allocating %zu bytes\n", size);
    abort();
}

void *rt_xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p)
        out_of_memory(size);
    return p;
}

void *rt_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size);
    return p;
}

void *rt_xrealloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q)
        out_of_memory(size);
    return q;
}

char *rt_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(rt_xmalloc(n), s, n);
}

char *rt_xstrndup(const char *s, size_t n) {
    char *copy = memcpy(rt_xmalloc(n + 1), s, n);
    copy[n] = '\0';
    return copy;
}

void rt_secret_free(char *secret, size_t len) {
    if (!secret)
        return;
    volatile char *p = secret; /* volatile: the writes to memory about to be freed must stay */
    for (size_t i = 0; i < len; i++)
        p[i] = 0;
    free(secret);
}

/* Reads what 'f' (opened on 'path') holds, as rt_file_read; does not close it. */
static int read_stream(FILE *f, const char *path, size_t cap, char **data, size_t *len, char *why) {
    int rc = RT_OK;
    char *buf = NULL;
    size_t used = 0, size = 0;
    for (;;) {
        if (used + 4096 + 1 > size) {
            size = size ? size * 2 : 8192;
            buf = rt_xrealloc(buf, size);
        }
        size_t n = fread(buf + used, 1, size - used - 1, f);
        used += n;
        if (used > cap) {
            snprintf(why, 256, "%s is larger than %zu bytes", path, cap);
            rc = RT_ETOOBIG;
            goto out;
        }
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(why, 256, "cannot read %s: %s", path, strerror(errno));
        rc = RT_EIO;
        goto out;
    }
    buf[used] = '\0';
    *data = buf;
    *len = used;
    buf = NULL;
out:
    free(buf);
    return rc;
}

int rt_file_read(const char *path, size_t cap, char **data, size_t *len, char *why) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, 256, "cannot open %s: %s", path, strerror(errno));
        return errno == ENOENT ? RT_ENOTFOUND : RT_EIO;
    }
    int rc = read_stream(f, path, cap, data, len, why);
    fclose(f);
    return rc;
}

int rt_file_read_plain(const char *path, size_t cap, char **data, size_t *len, char *why) {
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file ignores it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 && errno == ELOOP) {
        snprintf(why, 256, "%s is a symbolic link: it is read as it is, never through a link",
                 path);
        return RT_EINPUT;
    }
    if (fd < 0) {
        snprintf(why, 256, "cannot open %s: %s", path, strerror(errno));
        return errno == ENOENT ? RT_ENOTFOUND : RT_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, 256, "%s is not a regular file", path);
        close(fd);
        return RT_EINPUT;
    }
    if ((uintmax_t)st.st_size > cap) { /* refused before reading any of it */
        snprintf(why, 256, "%s is larger than %zu bytes", path, cap);
        close(fd);
        return RT_ETOOBIG;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        snprintf(why, 256, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return RT_EIO;
    }
    int rc = read_stream(f, path, cap, data, len, why);
    fclose(f);
    return rc;
}

char *rt_shell_word(const char *word) {
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                "_-.,:/=@%+";
    if (*word && strspn(word, plain) == strlen(word))
        return rt_xstrdup(word);
    char *out = rt_xmalloc(4 * strlen(word) + 3), *o = out; /* each ' becomes '\'' */
    *o++ = '\'';
    for (const char *p = word; *p; p++)
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    *o++ = '\'';
    *o = '\0';
    return out;
}

int rt_secret_file_exposed(const char *path, char *why, size_t size) {
    struct stat st, link;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
        return 0;
    unsigned mode = (unsigned)st.st_mode & 07777;
    if (!(mode & 077))
        return 0;
    const char *whom = (mode & 070) && (mode & 007) ? "its group and others"
                       : mode & 070                 ? "its group"
                                                    : "others";
    /* Through a link, the file named is the one whose mode it is: /dev/stdin redirected from a
     * file is that file, which `chmod 600 /dev/stdin` would miss. */
    char *real = lstat(path, &link) == 0 && S_ISLNK(link.st_mode) ? realpath(path, NULL) : NULL;
    char *word = rt_shell_word(real ? real : path);
    snprintf(why, size, "%s%s%s%s is open to %s (mode %04o); `chmod 600 %s` closes it", path,
             real ? " (" : "", real ? real : "", real ? ")" : "", whom, mode, word);
    free(word);
    free(real);
    return 1;
}

size_t rt_copy(char *out, size_t size, const char *src) {
    size_t n = strnlen(src, size - 1);
    memcpy(out, src, n);
    out[n] = '\0';
    return n;
}

char *rt_digits(char *end, unsigned long long u) {
    do
        *--end = (char)('0' + u % 10);
    while (u /= 10);
    return end;
}

size_t rt_concat(char *out, size_t size, ...) {
    va_list ap;
    size_t n = 0;
    out[0] = '\0';
    va_start(ap, size);
    for (const char *s; (s = va_arg(ap, const char *));)
        n += rt_copy(out + n, size - n, s);
    va_end(ap);
    return n;
}

/* SHA-256 as fetched from OpenSSL's provider once per process (each runs one thread): EVP_sha256()
 * makes every digest look its implementation up again (under a lock), which took twice as long as
 * hashing a submission. */
static const EVP_MD *sha256(void) {
    static EVP_MD *md;
    if (!md)
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    return md ? md : EVP_sha256();
}

void rt_sha256_hex(const void *data, size_t len, char *out) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, digest, &n, sha256(), NULL);
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (unsigned int i = 0; i < n; i++) { /* not snprintf: it was a third of a submit's cost */
        out[7 + 2 * i] = hex[digest[i] >> 4];
        out[8 + 2 * i] = hex[digest[i] & 15];
    }
    out[7 + 2 * n] = '\0';
}

json_t *rt_json_number(double value) {
    if (value > -9e15 && value < 9e15 && value == (double)(json_int_t)value)
        return json_integer((json_int_t)value);
    return json_real(value);
}

double rt_wallclock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double rt_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* True when the 'n' digits at 'p' are a number Redis takes in a stream id: at most 2^64 - 1. */
static bool u64_digits(const char *p, size_t n) {
    static const char max[] = "18446744073709551615";
    return n > 0 && (n < sizeof max - 1 || (n == sizeof max - 1 && strncmp(p, max, n) <= 0));
}

bool rt_stream_id(const char *s) {
    size_t ms = strspn(s, "0123456789");
    if (!u64_digits(s, ms) || s[ms] != '-')
        return false;
    size_t n = strspn(s + ms + 1, "0123456789");
    return u64_digits(s + ms + 1, n) && !s[ms + 1 + n];
}
