/* runtime/rt.h -- the public face of the runtime: error codes, diagnostics, time and duration
 * parsing, hashing, UTF-8 and canonical JSON. Used by every other folder. */
#ifndef INQUEST_RT_H
#define INQUEST_RT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define INQUEST_VERSION "0.1.0"

/* Error codes: negative, from one table, so every message a user sees comes from one place. */
#define RT_ERRNO_MAP(XX)                                                                           \
    XX(EINTERNAL, "internal error")                                                                \
    XX(ENOMEM, "out of memory")                                                                    \
    XX(EUSAGE, "usage error")                                                                      \
    XX(ENOTFOUND, "not found")                                                                     \
    XX(EIO, "input/output error")                                                                  \
    XX(EINPUT, "invalid inputs")                                                                   \
    XX(EANALYZER, "invalid analyzer")                                                              \
    XX(ETOOBIG, "payload exceeds limit")                                                           \
    XX(ESYNTAX, "syntax error")                                                                    \
    XX(ETIMEDOUT, "timed out")                                                                     \
    XX(ECONNREFUSED, "connection refused")                                                         \
    XX(ECONNECT, "connection failed")                                                              \
    XX(ETLS, "TLS failure")                                                                        \
    XX(EHTTP, "HTTP error status")                                                                 \
    XX(EBADRESPONSE, "malformed response")                                                         \
    XX(EBACKEND, "backend error")                                                                  \
    XX(ELIMIT, "limit reached")                                                                    \
    XX(EREPLAY, "no recorded response")                                                            \
    XX(ECANCELED, "canceled")

enum {
    RT_OK = 0,
#define XX(name, msg) RT_##name,
    RT__FIRST_ERROR = -100,
    RT_ERRNO_MAP(XX)
#undef XX
};

/* For what cannot happen but must not crash a production process (SQLite): fails an assertion
 * in debug builds, and is the condition's value otherwise: if (NEVER(x)) return RT_EINTERNAL; */
#ifdef NDEBUG
#define NEVER(x) (x)
#else
#define NEVER(x) ((x) ? (assert(!#x), 1) : 0)
#endif

/* The message of error code 'rc'. */
const char *rt_strerror(int rc);
/* The symbolic name of error code 'rc' ("EINPUT"). */
const char *rt_errname(int rc);
/* The code named by the first word of 'msg' ("EINPUT the priority…", as the Redis function
 * libraries raise errors), with '*rest' after that word; RT_EBACKEND and all of 'msg' when the
 * first word names no code. */
int rt_errcode_of(const char *msg, const char **rest);

/* How urgent an analysis is: workers take higher priorities first (DESIGN §6). Names in
 * rt_queue.h (rt_priority_name, rt_priority_parse). */
typedef enum rt_priority {
    RT_PRIORITY_INTERACTIVE = 0,
    RT_PRIORITY_ALERT,
    RT_PRIORITY_BATCH,
} rt_priority;

/* Diagnostics: the list of problems one operation found, each with where it is, so that the user
 * is told everything to fix at once. Kept as a JSON array of { file, line, field, message }. */
typedef struct rt_diag {
    json_t *items;     /* owned; NULL until the first problem */
    const char *label; /* printed after each place, e.g. "warning"; NULL for none */
} rt_diag;

/* Appends a problem. 'file' may be NULL, 'line' 0 and 'field' NULL when unknown. */
void rt_diag_add(rt_diag *d, const char *file, int line, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The same with a 'column' (1-based; 0 when unknown). */
void rt_diag_add_at(rt_diag *d, const char *file, int line, int column, const char *field,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
size_t rt_diag_count(const rt_diag *d);
/* Writes each problem as "file:line:column: label: field: message" on its own line, indented
 * by 'indent'; the parts not known are left out. */
void rt_diag_print(const rt_diag *d, FILE *out, const char *indent);
void rt_diag_free(rt_diag *d);

/* Parses a duration ("90s", "1h30m", "500ms", "2d", "1w", or plain seconds "45") into seconds.
 * Returns 0, or -1 with a reason in 'why' (at least 128 bytes). */
int rt_duration_parse(const char *text, double *seconds, char *why);
/* Formats 'seconds' the way users write durations ("1h30m", "90ms"). 'out' holds 32 bytes. */
void rt_duration_format(double seconds, char *out);
/* Parses a time: RFC 3339, Unix seconds, "now", "now-1h", "now+5m"; 'now' is the clock to use.
 * Returns 0, or -1 with a reason in 'why' (at least 128 bytes). */
int rt_time_parse(const char *text, double now, double *unix_seconds, char *why);
/* True when rt_time_parse reads 'text' against its 'now' ("now", "now-1h"): the time it names
 * depends on when it is read. */
int rt_time_relative(const char *text);
/* The range check rt_time_parse applies, for a time given as a number (Unix seconds in JSON):
 * 0 when 'unix_seconds' lies in the years 0001 to 9999, else -1 with a reason in 'why' (at
 * least 128 bytes). Callers that turn times into integers rely on it. */
int rt_time_check(double unix_seconds, char *why);
/* The furthest ahead a deadline may be, in days (docs/api.md, "deadline"). The queue would take
 * one up to Unix 1e11 (the year 5138); a year is far past the life of any analysis, so a time
 * beyond it is taken for the typo it most likely is. */
#define RT_DEADLINE_MAX_DAYS 365
/* Parses a deadline as the API and `inquest submit --deadline` take it: a duration from 'now'
 * ("5m"; more than 0), or a time as rt_time_parse reads it (RFC 3339, Unix seconds: a bare
 * number is a time, as everywhere a time is read; "now+5m"). It must lie after 'now' and at most
 * RT_DEADLINE_MAX_DAYS after it. Returns 0 with '*unix_seconds', or -1 with a reason in 'why'
 * (at least 128 bytes) that names what is wrong: a time passed or too far, a zero or too long
 * duration, or text that is neither. */
int rt_deadline_parse(const char *text, double now, double *unix_seconds, char *why);
/* Formats Unix seconds as RFC 3339 UTC ("2026-11-21T12:00:00Z"; fractions when present).
 * 'out' holds 40 bytes. */
void rt_time_format(double unix_seconds, char *out);
/* Wall clock (Unix seconds) and a monotonic clock (seconds), as doubles. */
double rt_wallclock(void);
double rt_monotonic(void);

/* Parses a byte size ("64MiB", "512KiB", "1GiB", "1000"). Returns 0 or -1. */
int rt_size_parse(const char *text, size_t *bytes);

/* True when 's' is a Redis stream entry id, MS-SEQ, each part a number Redis takes (at most
 * 2^64 - 1): what a cursor into a stream must be before Redis sees it. */
bool rt_stream_id(const char *s);

/* 'src' (not NULL) into 'out' of 'size' bytes (at least 1), cut to fit and NUL-terminated, as
 * snprintf's "%s" would, without parsing a format: ids and keys are copied so for every
 * analysis. Returns the length written. */
size_t rt_copy(char *out, size_t size, const char *src);

/* Writes the decimal digits of 'u' so that they end just before 'end'; returns where they
 * start (at most 20 bytes before 'end'). printf costs more than the rest of a number's way into
 * a result or a command. */
char *rt_digits(char *end, unsigned long long u);

/* The strings after 'size', up to a NULL, one after another into 'out' (rt_copy each). */
size_t rt_concat(char *out, size_t size, ...) __attribute__((sentinel));

/* "sha256:" followed by the hex SHA-256 of 'len' bytes at 'data'. 'out' holds 72 bytes. */
void rt_sha256_hex(const void *data, size_t len, char *out);

/* UTF-8, as strictly as JSON wants it: no overlong forms, no surrogates, nothing above U+10FFFF.
 * Text from analyzers and users may be any bytes; a byte that is not part of a well-formed
 * character counts as a character of its own, which rt_utf8_repair replaces by U+FFFD. */

/* True when the 'n' bytes at 's' are well-formed UTF-8. */
int rt_utf8_valid(const char *s, size_t n);
/* Copies the 'n' bytes at 's' to 'out', each byte that is not part of a well-formed character
 * replaced by U+FFFD (3 bytes), and stops before the first character that would take the copy
 * past 'cap' bytes. Returns the length of the copy, which is not NUL-terminated; with 'out' NULL
 * it only measures (SIZE_MAX as 'cap': the whole). */
size_t rt_utf8_repair(const char *s, size_t n, char *out, size_t cap);
/* The length of the longest prefix of the 'n' bytes at 's' that is at most 'cap' bytes and does
 * not end inside a well-formed character. */
size_t rt_utf8_cut(const char *s, size_t n, size_t cap);
/* The precision of printf's "%.*s" that prints at most 'cap' bytes of the NUL-terminated 's'
 * without cutting a character, so that the text stays UTF-8 (json_string refuses a cut one):
 * printf("%.*s", rt_utf8_fit(s, 80), s). 's' NULL: 0. */
int rt_utf8_fit(const char *s, size_t cap);
/* The number of characters in the 'n' bytes at 's'. */
size_t rt_utf8_count(const char *s, size_t n);
/* A JSON string of the 'n' bytes at 's', repaired as by rt_utf8_repair when they are not UTF-8.
 * NULL only when out of memory. */
json_t *rt_json_text(const char *s, size_t n);
/* The same for the NUL-terminated 's' cut to at most 'cap' bytes at a character boundary: for
 * text that comes from analyzer code and goes into results, where sizes are bounded. */
json_t *rt_json_text_cut(const char *s, size_t cap);

/* Canonical JSON: sorted keys, compact, at most 15 significant digits. Returns a malloc'd
 * string the caller frees, or NULL when out of memory. */
char *rt_json_canonical(const json_t *value);

/* A JSON number for 'value': an integer when it is whole, so that 3600 does not print as 3600.0. */
json_t *rt_json_number(double value);

/* Reads a whole file into a malloc'd, NUL-terminated buffer of at most 'cap' bytes. Returns
 * RT_OK, RT_ENOTFOUND, RT_ETOOBIG or RT_EIO; 'why' (at least 256 bytes) says what happened. */
int rt_file_read(const char *path, size_t cap, char **data, size_t *len, char *why);
/* As rt_file_read, for a file found in a folder that someone else wrote (a backtest case): 'path'
 * must be a regular file, not a symbolic link (O_NOFOLLOW), a FIFO or a device, so that a link
 * cannot make the reader quote /etc/passwd or wait on /dev/stdin. RT_EINPUT when it is not,
 * with 'why' saying so. */
int rt_file_read_plain(const char *path, size_t cap, char **data, size_t *len, char *why);
/* Whether the secret file 'path' is open to other users, judged as ssh judges a private key: a
 * regular file of this process' user that grants its group or others any permission. Then
 * 'why' ('size' bytes) names the file, says to whom it is open, its mode and the command that
 * closes it ("F is open to others (mode 0644); `chmod 600 F` closes it"; a symbolic link is
 * named with the file it leads to, which the command names), and the result is 1; else 0. Not
 * judged: a pipe or a device (/dev/stdin, <(pass …)), whose mode says nothing of who may read a
 * secret passing through; and a file of another owner, shared on purpose (root's mount of
 * secrets read by a service account, a group's file) and not this user's to chmod. */
int rt_secret_file_exposed(const char *path, char *why, size_t size);
/* 'word' for a POSIX shell (malloc'd): as it is when nothing in it needs quotes, else in single
 * quotes, so that a command printed with it can be pasted. */
char *rt_shell_word(const char *word);

/* Bookkeeping allocations: abort with the size printed when memory runs out. */
void *rt_xmalloc(size_t size);
void *rt_xcalloc(size_t n, size_t size);
void *rt_xrealloc(void *p, size_t size);
char *rt_xstrdup(const char *s);
/* The first 'n' bytes at 's' (which must be readable), NUL-terminated. */
char *rt_xstrndup(const char *s, size_t n);
/* Overwrites the 'len' bytes of a secret (a credential read from the config) and frees it;
 * accepts NULL. */
void rt_secret_free(char *secret, size_t len);

#endif
