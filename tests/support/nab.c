/* tests/support/nab.c -- reading the NAB series and labelled windows of ../shared/data/nab, and
 * scoring detections on them event by event (nab.h says how). */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "rt.h"
#include "sdk_anomaly.h"
#include "nab.h"

/* Days from 1970-01-01 to the civil date 'y'-'m'-'d' (proleptic Gregorian), without timegm. */
static long days_from_civil(long y, long m, long d) {
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "2015-02-26 21:42:53" (a fraction may follow), UTC. Returns 0, or -1 when malformed. */
static int parse_time(const char *s, double *out) {
    int y, mo, d, h, mi;
    double sec;
    if (sscanf(s, "%d-%d-%d %d:%d:%lf", &y, &mo, &d, &h, &mi, &sec) != 6)
        return -1;
    *out = (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
    return 0;
}

static int load_csv(const char *path, nab_series *s, char *why, size_t whylen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "cannot open %s (the public data set: see ../shared/data/README.md)",
                 path);
        return -1;
    }
    char line[256];
    size_t cap = 0, lineno = 1;
    int rc = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, "timestamp,value", 15) != 0) {
        snprintf(why, whylen, "%s: no timestamp,value header", path);
        rc = -1;
    }
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *comma = strchr(line, ',');
        if (s->n == cap) {
            cap = cap ? 2 * cap : 4096;
            s->t = rt_xrealloc(s->t, cap * sizeof *s->t);
            s->v = rt_xrealloc(s->v, cap * sizeof *s->v);
        }
        char *end;
        if (!comma || parse_time(line, &s->t[s->n]) < 0 ||
            (s->v[s->n] = strtod(comma + 1, &end), end == comma + 1)) {
            snprintf(why, whylen, "%s:%zu: not a timestamp,value line", path, lineno);
            rc = -1;
        }
        s->n++;
    }
    fclose(f);
    return rc;
}

static int load_windows(json_t *list, nab_series *s, char *why, size_t whylen) {
    size_t i;
    json_t *w;
    s->win = rt_xcalloc(json_array_size(list) + 1, sizeof *s->win);
    json_array_foreach(list, i, w) {
        const char *a = json_string_value(json_array_get(w, 0));
        const char *b = json_string_value(json_array_get(w, 1));
        if (!a || !b || parse_time(a, &s->win[i][0]) < 0 || parse_time(b, &s->win[i][1]) < 0) {
            snprintf(why, whylen, "windows.json: %s: window %zu is not [start, end]", s->name, i);
            return -1;
        }
        s->n_win++;
    }
    return 0;
}

long nab_load(const char *dir, nab_series **out, char *why, size_t whylen) {
    char path[4096];
    json_error_t err;
    snprintf(path, sizeof path, "%s/windows.json", dir);
    json_t *root = json_load_file(path, 0, &err);
    *out = NULL;
    if (!root) {
        snprintf(why, whylen,
                 "cannot read %s: %s (the public data set: see ../shared/data/README.md)", path,
                 err.text);
        return -1;
    }
    nab_series *all = rt_xcalloc(json_object_size(root) + 1, sizeof *all);
    long n = 0;
    const char *key;
    json_t *list;
    json_object_foreach(root, key, list) {
        nab_series *s = &all[n++];
        s->name = rt_xstrdup(key);
        snprintf(path, sizeof path, "%s/%s", dir, key);
        if (load_windows(list, s, why, whylen) < 0 || load_csv(path, s, why, whylen) < 0) {
            nab_free(all, (size_t)n);
            json_decref(root);
            return -1;
        }
    }
    json_decref(root);
    *out = all;
    return n;
}

void nab_free(nab_series *s, size_t n) {
    for (size_t i = 0; s && i < n; i++) {
        free(s[i].name);
        free(s[i].t);
        free(s[i].v);
        free(s[i].win);
    }
    free(s);
}

void nab_score_add(nab_score *acc, const nab_series *s, const unsigned char *flags) {
    size_t warm = (size_t)((double)s->n * NAB_WARMUP);
    double warm_end = warm < s->n ? s->t[warm] : s->t[s->n - 1];
    for (size_t w = 0; w < s->n_win; w++) {
        if (s->win[w][1] < warm_end) {
            acc->skipped++;
            continue;
        }
        acc->windows++;
        for (size_t i = warm; i < s->n; i++)
            if (flags[i] && s->t[i] >= s->win[w][0] && s->t[i] <= s->win[w][1]) {
                acc->found++;
                break;
            }
    }
    int in_run = 0; /* the previous point was a false positive */
    for (size_t i = warm; i < s->n; i++) {
        int outside = 1;
        for (size_t w = 0; w < s->n_win && outside; w++)
            outside = !(s->t[i] >= s->win[w][0] && s->t[i] <= s->win[w][1]);
        int fp = flags[i] && outside;
        acc->fp += fp && !in_run;
        in_run = fp;
    }
}

void nab_score_finish(nab_score *acc) {
    double tp = (double)acc->found;
    acc->precision = tp + (double)acc->fp > 0 ? tp / (tp + (double)acc->fp) : 0;
    acc->recall = acc->windows ? tp / (double)acc->windows : 0;
    acc->f1 = acc->precision + acc->recall > 0
                  ? 2 * acc->precision * acc->recall / (acc->precision + acc->recall)
                  : 0;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int nab_score_toolkit(const nab_series *s, size_t n, void (*adjust)(sdk_anomaly_opts *, void *),
                      void *ud, nab_score *out, size_t *points, double *seconds) {
    sdk_anomaly_opts o;
    char why[256];
    sdk_anomaly_defaults(&o);
    if (adjust)
        adjust(&o, ud);
    if (sdk_anomaly_check(&o, why, sizeof why))
        return -1;
    size_t size = sdk_anomaly_stream_size(&o);
    void *mem = rt_xmalloc(size);
    *out = (nab_score){0};
    for (size_t k = 0; k < n; k++) {
        unsigned char *flags = rt_xcalloc(s[k].n, 1);
        sdk_anomaly_stream *st = sdk_anomaly_stream_init(mem, size, &o);
        double t0 = now_seconds();
        for (size_t i = 0; i < s[k].n; i++) {
            int rc = sdk_anomaly_stream_push(st, s[k].t[i], s[k].v[i], NULL, NULL);
            flags[i] = rc > 0 && (rc & 1);
        }
        if (seconds)
            *seconds += now_seconds() - t0;
        if (points)
            *points += s[k].n;
        nab_score_add(out, &s[k], flags);
        free(flags);
    }
    free(mem);
    nab_score_finish(out);
    return 0;
}

/* Flags the points of 's' whose z against the last NAB_GAUSS_WINDOW values is >= 'threshold'. */
static void gaussian_flags(const nab_series *s, double threshold, unsigned char *flags) {
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t n = i < NAB_GAUSS_WINDOW ? i : NAB_GAUSS_WINDOW;
        flags[i] = 0;
        if (n > 0) {
            double mean = sum / (double)n, var = sum2 / (double)n - mean * mean;
            double sd = var > 0 ? sqrt(var) : 0;
            if (sd == 0)
                sd = 1e-6; /* as NAB does */
            flags[i] = fabs(s->v[i] - mean) / sd >= threshold;
        }
        sum += s->v[i];
        sum2 += s->v[i] * s->v[i];
        if (i >= NAB_GAUSS_WINDOW) {
            sum -= s->v[i - NAB_GAUSS_WINDOW];
            sum2 -= s->v[i - NAB_GAUSS_WINDOW] * s->v[i - NAB_GAUSS_WINDOW];
        }
    }
}

void nab_score_gaussian_best(const nab_series *s, size_t n, nab_score *out, double *threshold) {
    *out = (nab_score){0};
    *threshold = 0;
    for (int half = 4; half <= 80; half++) {
        double z = half / 2.0;
        nab_score sc = {0};
        for (size_t k = 0; k < n; k++) {
            unsigned char *flags = rt_xcalloc(s[k].n, 1);
            gaussian_flags(&s[k], z, flags);
            nab_score_add(&sc, &s[k], flags);
            free(flags);
        }
        nab_score_finish(&sc);
        if (sc.f1 > out->f1) {
            *out = sc;
            *threshold = z;
        }
    }
}
