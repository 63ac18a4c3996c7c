/* runtime/rt_time.c -- durations, times and byte sizes as users write them ("1h30m", "now-1h",
 * "2026-11-21T12:00:00Z", "64MiB"): parsing with a reason for every refusal, and formatting in
 * the shortest natural form. The SDK's input types (sdk/sdk_types.c) build on these. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "rt.h"

/* Inputs longer than this are not durations or times: refusing them early bounds all the work. */
#define TEXT_MAX 64
/* The longest duration: 10000 weeks (about 191 years) keeps now ± a duration inside the years
 * 0001-9999 that RFC 3339 can write, and far from where doubles lose the milliseconds. */
#define DURATION_MAX (10000.0 * 604800.0)
/* Times are limited to what RFC 3339 can write: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
#define TIME_MIN (-62135596800.0)
#define TIME_END 253402300800.0
#define WHY_SIZE 128

/* ---- helpers -------------------------------------------------------------------------------- */

/* Copies at most 32 characters of 'text' into 'out' (48 bytes) for a message, escaping anything
 * outside printable ASCII: the text may be any bytes, and the message must stay valid UTF-8 and
 * harmless on a terminal. */
static const char *quote(const char *text, char *out) {
    size_t n = 0;
    for (int shown = 0; *text && n < 40; text++, shown++) {
        unsigned char c = (unsigned char)*text;
        if (shown == 32) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            n += (size_t)snprintf(out + n, 5, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return out;
}

static int is_digit(char c) {
    return c >= '0' && c <= '9';
}

static int is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Reads a decimal number as users write one in a duration or a size: digits with an optional
 * fraction ("1.5"), no sign, no exponent, so that "1e6", hex, "inf" and "nan" are never numbers.
 * Fraction digits past the ninth are read but ignored. More than 15 integer digits give
 * +infinity, which the callers' bounds refuse. Returns the end, or NULL when 'p' does not start
 * with a number. */
static const char *scan_decimal(const char *p, double *value) {
    double whole = 0, frac = 0, scale = 1;
    int digits = 0;
    if (!is_digit(*p))
        return NULL;
    for (; is_digit(*p); p++)
        if (whole > 0 || *p != '0')
            whole = ++digits > 15 ? INFINITY : whole * 10 + (*p - '0');
    if (*p == '.') {
        if (!is_digit(p[1]))
            return NULL;
        for (p++; is_digit(*p); p++)
            if (scale < 1e9) {
                frac = frac * 10 + (*p - '0');
                scale *= 10;
            }
    }
    *value = whole + frac / scale;
    return p;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil): no
 * time zone, no timegm, valid for any year. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* ---- durations ------------------------------------------------------------------------------ */

/* Largest first: a duration names each unit at most once, in this order, so that every duration
 * has one spelling and "30m1h" or "1m1m" (usually typos) are refused. */
static const struct unit {
    const char *name;
    double seconds;
    double divisor; /* dividing (not multiplying by 0.001) keeps "250ms" exactly 0.25 */
} units[] = {
    {"w", 604800, 1}, {"d", 86400, 1}, {"h", 3600, 1}, {"m", 60, 1}, {"s", 1, 1}, {"ms", 1, 1000},
};
#define NUNITS ((int)(sizeof units / sizeof units[0]))

static int find_unit(const char *p, size_t len) {
    for (int i = 0; i < NUNITS; i++)
        if (strlen(units[i].name) == len && memcmp(units[i].name, p, len) == 0)
            return i;
    return -1;
}

/* One "<number><unit>" at 'p' (the unit may be missing only when the number is all of 'text').
 * Adds its seconds to '*total', updates '*last' (the index of the last unit) and returns the
 * end, or NULL with the reason in 'why'. */
static const char *duration_part(const char *text, const char *p, int *last, double *total,
                                 char *why) {
    char q1[48], q2[48];
    double v = 0;
    const char *end = scan_decimal(p, &v);
    if (!end) {
        if (p == text)
            snprintf(why, WHY_SIZE, "cannot read \"%s\" as a duration (like 90s, 1h30m, 500ms, 2d)",
                     quote(text, q1));
        else
            snprintf(why, WHY_SIZE, "unexpected \"%s\" in duration \"%s\"", quote(p, q1),
                     quote(text, q2));
        return NULL;
    }
    const char *u = end;
    while (is_alpha(*u))
        u++;
    if (u == end) {
        if (*end == '\0' && p == text) { /* plain seconds */
            *total = v;
            return end;
        }
        if (*end == '\0')
            snprintf(why, WHY_SIZE, "missing unit after \"%.*s\" in \"%s\" (use ms, s, m, h, d, w)",
                     (int)(end - p), p, quote(text, q2));
        else
            snprintf(why, WHY_SIZE, "unexpected \"%s\" in duration \"%s\"", quote(end, q1),
                     quote(text, q2));
        return NULL;
    }
    int i = find_unit(end, (size_t)(u - end));
    if (i < 0) {
        snprintf(why, WHY_SIZE, "unknown unit \"%.*s\" in \"%s\" (use ms, s, m, h, d, w)",
                 (int)(u - end > 8 ? 8 : u - end), end, quote(text, q2));
        return NULL;
    }
    if (i <= *last) {
        snprintf(why, WHY_SIZE,
                 "units out of order in \"%s\" (write each unit once, largest first: 1h30m)",
                 quote(text, q2));
        return NULL;
    }
    *last = i;
    *total += v * units[i].seconds / units[i].divisor;
    return u;
}

/* 'text' as a duration into '*total', without the bound that rt_duration_parse applies: the
 * callers bound it each as they need. */
static int duration_sum(const char *text, double *total, char *why) {
    char q[48];
    if (!text || !*text) {
        snprintf(why, WHY_SIZE, "empty duration (like 90s, 1h30m, 500ms, 2d)");
        return -1;
    }
    if (strlen(text) > TEXT_MAX) {
        snprintf(why, WHY_SIZE, "duration \"%s\" is too long to be one", quote(text, q));
        return -1;
    }
    if (*text == '-') {
        snprintf(why, WHY_SIZE, "duration \"%s\" is negative", quote(text, q));
        return -1;
    }
    int last = -1;
    *total = 0;
    for (const char *p = text; *p;)
        if (!(p = duration_part(text, p, &last, total, why)))
            return -1;
    return 0;
}

int rt_duration_parse(const char *text, double *seconds, char *why) {
    char q[48];
    double total = 0;
    if (duration_sum(text, &total, why) < 0)
        return -1;
    if (!(total <= DURATION_MAX)) {
        snprintf(why, WHY_SIZE, "duration \"%s\" is too large (at most 10000w)", quote(text, q));
        return -1;
    }
    *seconds = total;
    return 0;
}

/* Appends "<n><unit>" when 'n' is not zero. */
static size_t put_part(char *out, size_t n, int64_t count, const char *unit) {
    if (count == 0)
        return n;
    return n + (size_t)snprintf(out + n, 32 - n, "%lld%s", (long long)count, unit);
}

/* Appends ".fffffffff" for 'ns' nanoseconds, without trailing zeros. */
static size_t put_fraction(char *out, size_t n, int64_t ns) {
    int width = 9;
    while (ns % 10 == 0) {
        ns /= 10;
        width--;
    }
    return n + (size_t)snprintf(out + n, 32 - n, ".%0*lld", width, (long long)ns);
}

void rt_duration_format(double seconds, char *out) {
    size_t n = 0;
    if (!isfinite(seconds) || fabs(seconds) > 9e9) { /* beyond what parsing accepts */
        snprintf(out, 32, "%.6gs", seconds);
        return;
    }
    if (seconds < 0) {
        out[n++] = '-';
        seconds = -seconds;
    }
    /* Whole nanoseconds, rounded to 15 significant digits: what a double really holds, so that
     * 1.1 prints as "1.1s" and not with its binary noise. */
    int64_t ns = llround(seconds * 1e9), q = 1;
    while (ns / q >= 1000000000000000)
        q *= 10;
    ns = (ns + q / 2) / q * q;
    if (ns == 0) {
        snprintf(out, 32, "0s");
        return;
    }
    int64_t whole = ns / 1000000000, frac = ns % 1000000000;
    if (whole == 0) { /* below a second: milliseconds, with a fraction when needed */
        n = put_part(out, n, frac / 1000000, "");
        if (frac / 1000000 == 0)
            out[n++] = '0';
        if (frac % 1000000)
            n = put_fraction(out, n, (frac % 1000000) * 1000);
        snprintf(out + n, 32 - n, "ms");
        return;
    }
    n = put_part(out, n, whole / 604800, "w");
    n = put_part(out, n, whole % 604800 / 86400, "d");
    n = put_part(out, n, whole % 86400 / 3600, "h");
    n = put_part(out, n, whole % 3600 / 60, "m");
    if (whole % 60 || frac) {
        n += (size_t)snprintf(out + n, 32 - n, "%lld", (long long)(whole % 60));
        if (frac)
            n = put_fraction(out, n, frac);
        snprintf(out + n, 32 - n, "s");
    }
}

/* ---- times ---------------------------------------------------------------------------------- */

/* True when 'p' starts with the shape 'tmpl': 'd' is a digit, 'T' is T, t or a space (RFC 3339
 * 5.6 allows all three), anything else stands for itself. Stops at the first mismatch, so it
 * never reads past the end of 'p'. */
static int shape(const char *p, const char *tmpl) {
    for (; *tmpl; p++, tmpl++) {
        int ok = *tmpl == 'd'   ? is_digit(*p)
                 : *tmpl == 'T' ? *p == 'T' || *p == 't' || *p == ' '
                                : *p == *tmpl;
        if (!ok)
            return 0;
    }
    return 1;
}

/* The value of the two digits at 'p' (checked by shape() first). */
static int two(const char *p) {
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static int range_check(const char *text, double t, char *why) {
    char q[48];
    if (t >= TIME_MIN && t < TIME_END)
        return 0;
    snprintf(why, WHY_SIZE, "time \"%s\" is outside the years 0001 to 9999", quote(text, q));
    return -1;
}

/* Reads the zone of an RFC 3339 time at 'p': Z or ±hh:mm, into seconds east of UTC. */
static int rfc3339_zone(const char *text, const char *p, double *offset, char *why) {
    char q[48];
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        *offset = 0;
        return 0;
    }
    if ((*p == '+' || *p == '-') && shape(p + 1, "dd:dd") && p[6] == '\0' && two(p + 1) <= 23 &&
        two(p + 4) <= 59) {
        *offset = (*p == '-' ? -1 : 1) * (two(p + 1) * 3600.0 + two(p + 4) * 60.0);
        return 0;
    }
    snprintf(why, WHY_SIZE, "%s time zone in \"%s\" (end with Z or an offset like +02:00)",
             *p ? "bad" : "missing", quote(text, q));
    return -1;
}

/* Reads ".fff" at 'p' (at least one digit; digits past the ninth are ignored) into '*frac'.
 * Returns the end, or NULL. */
static const char *fraction(const char *p, double *frac) {
    double scale = 1, v = 0;
    if (*p != '.' || !is_digit(p[1]))
        return NULL;
    for (p++; is_digit(*p); p++)
        if (scale < 1e9) {
            v = v * 10 + (*p - '0');
            scale *= 10;
        }
    *frac = v / scale;
    return p;
}

/* RFC 3339: 2026-11-21T12:00:00[.fff](Z|±hh:mm), also with t, z, or a space for T. A second of
 * 60 (a leap second) becomes the first second of the next minute, as in Unix time. */
static int rfc3339_parse(const char *text, double *t, char *why) {
    char q[48];
    if (!shape(text, "dddd-dd-dd")) {
        snprintf(why, WHY_SIZE, "cannot read \"%s\" as a date (like 2026-11-21T12:00:00Z)",
                 quote(text, q));
        return -1;
    }
    int y = two(text) * 100 + two(text + 2), mo = two(text + 5), d = two(text + 8);
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) {
        snprintf(why, WHY_SIZE, "no such date: \"%s\"", quote(text, q));
        return -1;
    }
    const char *p = text + 10;
    if (!shape(p, "Tdd:dd:dd") || two(p + 1) > 23 || two(p + 4) > 59 || two(p + 7) > 60) {
        snprintf(why, WHY_SIZE, "%s time of day in \"%s\" (like 2026-11-21T12:00:00Z)",
                 *p ? "bad" : "missing", quote(text, q));
        return -1;
    }
    int64_t s =
        days_from_civil(y, mo, d) * 86400 + two(p + 1) * 3600 + two(p + 4) * 60 + two(p + 7);
    double frac = 0, offset = 0;
    p += 9;
    if (*p == '.' && !(p = fraction(p, &frac))) {
        snprintf(why, WHY_SIZE, "missing digits after '.' in \"%s\"", quote(text, q));
        return -1;
    }
    if (rfc3339_zone(text, p, &offset, why) < 0)
        return -1;
    *t = (double)s + frac - offset;
    return 0;
}

/* Unix seconds, perhaps negative or with a fraction. Returns 1 when 'text' is one. */
static int unix_parse(const char *text, double *t) {
    double v;
    const char *end = scan_decimal(text + (*text == '-'), &v);
    if (!end || *end)
        return 0;
    *t = *text == '-' ? -v : v;
    return 1;
}

/* "now", "now-<duration>", "now+<duration>". */
static int relative_parse(const char *text, double now, double *t, char *why) {
    char q[48];
    const char *p = text + 3;
    double d = 0;
    if (*p == '\0') {
        *t = now;
        return 0;
    }
    if ((*p != '-' && *p != '+') || p[1] == '\0') {
        snprintf(why, WHY_SIZE, "cannot read \"%s\" as a time (like now, now-1h, now+5m)",
                 quote(text, q));
        return -1;
    }
    if (rt_duration_parse(p + 1, &d, why) < 0)
        return -1;
    *t = *p == '-' ? now - d : now + d;
    return 0;
}

int rt_time_relative(const char *text) {
    return strncmp(text, "now", 3) == 0;
}

int rt_time_parse(const char *text, double now, double *unix_seconds, char *why) {
    char q[48];
    double t = 0;
    int rc = 0;
    if (!text || !*text) {
        snprintf(why, WHY_SIZE, "empty time (like 2026-11-21T12:00:00Z, now or now-1h)");
        return -1;
    }
    if (strlen(text) > TEXT_MAX) {
        snprintf(why, WHY_SIZE, "time \"%s\" is too long to be one", quote(text, q));
        return -1;
    }
    if (rt_time_relative(text))
        rc = relative_parse(text, now, &t, why);
    else if (unix_parse(text, &t))
        rc = 0;
    else if (shape(text, "dddd-"))
        rc = rfc3339_parse(text, &t, why);
    else if (*text == '-') {
        snprintf(why, WHY_SIZE, "cannot read \"%s\" as a time (for one before now, write now%s)",
                 quote(text, q), q);
        rc = -1;
    } else {
        snprintf(why, WHY_SIZE,
                 "cannot read \"%s\" as a time (use RFC 3339 like 2026-11-21T12:00:00Z, Unix "
                 "seconds, now or now-1h)",
                 quote(text, q));
        rc = -1;
    }
    if (rc < 0 || range_check(text, t, why) < 0)
        return -1;
    *unix_seconds = t;
    return 0;
}

int rt_time_check(double unix_seconds, char *why) {
    char text[40];
    snprintf(text, sizeof text, "%.15g", unix_seconds);
    return range_check(text, unix_seconds, why);
}

void rt_time_format(double unix_seconds, char *out) {
    if (!(unix_seconds >= TIME_MIN && unix_seconds < TIME_END)) {
        snprintf(out, 40, "%.15g", unix_seconds);
        return;
    }
    /* Microseconds: a double holding today's Unix time carries about that much, so finer
     * digits would print noise (1763726400.1 is really 1763726400.099999905). */
    double whole = floor(unix_seconds);
    int64_t us = llround((unix_seconds - whole) * 1e6), secs = (int64_t)whole;
    if (us == 1000000) {
        secs++;
        us = 0;
    }
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400), y;
    int64_t rem = secs - days * 86400;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, 40, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem % 3600 / 60), (int)(rem % 60));
    if (us) {
        int width = 6;
        while (us % 10 == 0) {
            us /= 10;
            width--;
        }
        n += snprintf(out + n, (size_t)(40 - n), ".%0*lld", width, (long long)us);
    }
    snprintf(out + n, (size_t)(40 - n), "Z");
}

/* ---- deadlines ------------------------------------------------------------------------------ */

/* The time 'text' names, when it is written as one (a number, RFC 3339, "now…", or a sign):
 * 1 with '*t' or with 'why' set by rt_time_parse ('*rc' 0 or -1); 0 when it is no time. */
static int deadline_time(const char *text, double now, double *t, int *rc, char *why) {
    double ignored;
    if (!unix_parse(text, &ignored) && !shape(text, "dddd-") && !rt_time_relative(text) &&
        *text != '-')
        return 0;
    *rc = rt_time_parse(text, now, t, why);
    return 1;
}

/* 'text' as a duration from now: more than nothing, and at most the furthest a deadline goes. */
static int deadline_duration(const char *text, double *d, char *why) {
    char q[48];
    if (duration_sum(text, d, why) < 0) {
        if (!is_digit(*text)) /* not a duration that went wrong: neither one nor the other */
            snprintf(why, WHY_SIZE,
                     "cannot read \"%s\" as a duration from now (5m) or a time (RFC 3339, Unix "
                     "seconds)",
                     quote(text, q));
        return -1;
    }
    if (*d <= 0) {
        snprintf(why, WHY_SIZE, "the duration \"%s\" is zero: give one to come, such as 5m",
                 quote(text, q));
        return -1;
    }
    if (!(*d <= RT_DEADLINE_MAX_DAYS * 86400.0)) {
        snprintf(why, WHY_SIZE,
                 "the duration \"%s\" is longer than the %dd a deadline may be ahead",
                 quote(text, q), RT_DEADLINE_MAX_DAYS);
        return -1;
    }
    return 0;
}

int rt_deadline_parse(const char *text, double now, double *unix_seconds, char *why) {
    char q[48];
    double t = 0, d = 0, ignored;
    int rc = 0;
    if (!text || !*text) {
        snprintf(why, WHY_SIZE, "empty: give a duration from now (5m) or a time (RFC 3339)");
        return -1;
    }
    if (deadline_time(text, now, &t, &rc, why)) {
        if (rc < 0)
            return -1;
    } else if (deadline_duration(text, &d, why) < 0)
        return -1;
    else
        t = now + d;
    if (t <= now) { /* queued, it could only end as a timeout */
        snprintf(why, WHY_SIZE, "\"%s\" has passed already: give a time to come%s", quote(text, q),
                 unix_parse(text, &ignored) ? " (a bare number is Unix seconds: 300s is a duration)"
                                            : "");
        return -1;
    }
    if (t > now + RT_DEADLINE_MAX_DAYS * 86400.0) {
        snprintf(why, WHY_SIZE, "\"%s\" is more than %dd ahead: give a nearer time, or none",
                 quote(text, q), RT_DEADLINE_MAX_DAYS);
        return -1;
    }
    *unix_seconds = t;
    return 0;
}

/* ---- sizes ---------------------------------------------------------------------------------- */

static const struct size_unit {
    const char *name; /* compared without regard to case */
    double bytes;
} size_units[] = {
    {"", 1},
    {"b", 1},
    {"kib", 1024.0},
    {"mib", 1048576.0},
    {"gib", 1073741824.0},
    {"tib", 1099511627776.0},
    {"kb", 1e3},
    {"mb", 1e6},
    {"gb", 1e9},
    {"tb", 1e12},
};

/* True when 's' is 'lower' but for the case of its letters. */
static int same_lowercase(const char *s, const char *lower) {
    for (; *s && *lower; s++, lower++)
        if ((*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s) != *lower)
            return 0;
    return *s == *lower;
}

int rt_size_parse(const char *text, size_t *bytes) {
    double v = 0;
    const char *unit = text ? scan_decimal(text, &v) : NULL;
    if (!unit || strlen(text) > TEXT_MAX)
        return -1;
    for (size_t i = 0; i < sizeof size_units / sizeof size_units[0]; i++) {
        if (!same_lowercase(unit, size_units[i].name))
            continue;
        double b = v * size_units[i].bytes;
        /* Whole bytes only ("1.5KiB" is 1536, "1.5B" is nothing), and exact in a double. */
        if (!(b <= 9007199254740992.0) || b != floor(b) || b > (double)SIZE_MAX)
            return -1;
        *bytes = (size_t)b;
        return 0;
    }
    return -1;
}
