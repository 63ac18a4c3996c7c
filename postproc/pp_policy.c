/* postproc/pp_policy.c -- whether a mitigation may run (docs/config.md, policies): the first
 * policy whose services and actions match it decides; none matching is a denial, so a new
 * mitigation does nothing until an operator allows it. A policy sets the least confidence of the
 * finding behind it, change-freeze windows, and how much may run within its window (per service,
 * and across services: the blast radius). The counts come from Redis (pp_chain.lua), which
 * reserves an execution and counts the others in one atomic call. */
#define _POSIX_C_SOURCE 200809L
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "pp.h"

static bool any_glob(char *const *globs, size_t n, const char *value) {
    for (size_t i = 0; i < n; i++)
        if (fnmatch(globs[i], value, 0) == 0)
            return true;
    return false;
}

const rt_policy *pp_policy_find(const rt_config *c, const char *service, const char *name) {
    for (size_t i = 0; i < c->n_policies; i++) {
        const rt_policy *p = &c->policies[i];
        if (any_glob(p->services, p->n_services, service) &&
            any_glob(p->actions, p->n_actions, name))
            return p;
    }
    return NULL;
}

/* Seconds since Monday 00:00 UTC of Unix time 't' (1970-01-01 was a Thursday). */
static double week_seconds(double t) {
    double w = fmod(t + 3 * 86400.0, 7 * 86400.0);
    return w < 0 ? w + 7 * 86400.0 : w;
}

bool pp_policy_frozen(const rt_policy *p, double now, char *reason) {
    for (size_t i = 0; i < p->n_freeze; i++) {
        const rt_freeze *f = &p->freeze[i];
        bool holds;
        if (f->weekly) {
            double w = week_seconds(now);
            /* A weekly window may wrap around Monday 00:00 ("Fri 16:00" to "Mon 08:00"). */
            holds = f->start <= f->end ? w >= f->start && w < f->end : w >= f->start || w < f->end;
        } else
            holds = now >= f->start && now < f->end;
        if (holds) {
            snprintf(reason, 256, "change freeze of policy %s (%s to %s)%s%s", p->name,
                     f->start_text, f->end_text, f->reason ? ": " : "", f->reason ? f->reason : "");
            return true;
        }
    }
    return false;
}

int pp_policy_decide(const rt_config *c, const char *service, const char *name, double confidence,
                     double now, const pp_usage *usage, const rt_policy **policy, char *why) {
    const rt_policy *p = pp_policy_find(c, service, name);
    *policy = p;
    if (!p) {
        snprintf(why, 256, "no policy allows %s on service '%s'", name, service);
        return RT_ELIMIT;
    }
    if (confidence < p->min_confidence) {
        snprintf(why, 256, "confidence %.2f is below policy %s's minimum %.2f", confidence, p->name,
                 p->min_confidence);
        return RT_ELIMIT;
    }
    if (pp_policy_frozen(p, now, why))
        return RT_ELIMIT;
    if (!usage)
        return RT_OK;
    char window[32];
    rt_duration_format(p->window, window);
    if (p->max_per_service > 0 && usage->per_service >= p->max_per_service) {
        snprintf(why, 256, "rate limit of policy %s: %d on '%s' within %s already", p->name,
                 usage->per_service, service, window);
        return RT_ELIMIT;
    }
    if (p->blast_radius > 0 && !usage->service_seen && usage->services >= p->blast_radius) {
        snprintf(why, 256, "blast radius of policy %s: %d services acted on within %s already",
                 p->name, usage->services, window);
        return RT_ELIMIT;
    }
    return RT_OK;
}
