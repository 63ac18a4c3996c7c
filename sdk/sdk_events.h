/* sdk/sdk_events.h -- event isolation: change events (deploys, config pushes, flag flips)
 * ranked as the likely trigger of an anomaly, by their time before its onset, the overlap of
 * their scope with where the anomaly is, and their kind (inquest.events, docs/sdk.md "Event
 * isolation"). The C core scores; the Lua binding matches labels and writes the reasons. */
#ifndef INQUEST_SDK_EVENTS_H
#define INQUEST_SDK_EVENTS_H

#include <stddef.h>
#include <lua.h>

typedef struct sdk_events_opts {
    double half_life; /* seconds before the onset at which an event's time score halves */
    double horizon;   /* events longer before the onset than this score 0 */
    double grace;     /* events this little after the onset count as at it (clock skew) */
} sdk_events_opts;

/* How a scope label of the anomaly compares with the event's. */
typedef enum sdk_scope_match {
    SDK_SCOPE_MISMATCH = -1, /* the event names other values */
    SDK_SCOPE_UNKNOWN = 0,   /* the event does not say */
    SDK_SCOPE_MATCH = 1,     /* the event names one of the anomaly's values */
} sdk_scope_match;

#define SDK_EVENTS_AFTER    0.05 /* the time score of an event just after the onset */
#define SDK_SCOPE_F_UNKNOWN 0.5  /* a label's factor when the event does not say */
#define SDK_SCOPE_F_MISS    0.05 /* and when it names other values */

/* Seconds from the event to the onset: 'onset' - 'time' (negative: after the onset); an event
 * with an 'end' (a rollout; NaN: none) counts from its end, and 0 when the onset falls in it. */
double sdk_events_before(double onset, double time, double end);

/* The time score, 0..1, of an event 'before' seconds before the onset: 1 at the onset (or up
 * to 'grace' after it), halving every 'half_life' before it, 0 past 'horizon';
 * SDK_EVENTS_AFTER halving every 'half_life' after the grace. */
double sdk_events_time_score(double before, const sdk_events_opts *o);

/* The scope score, 0..1: the geometric mean, weighted by 'weight', of a factor per label (1 a
 * match, SDK_SCOPE_F_UNKNOWN, SDK_SCOPE_F_MISS); 1 without labels. */
double sdk_events_scope_score(const sdk_scope_match *match, const double *weight, size_t n);

/* The default weight of the kind of event 'kind' (deploy 1, config 0.9, flag 0.8, migration
 * 0.8, rollback 0.6, maintenance 0.6, scale 0.4, restart 0.4, anything else 0.5), and its
 * canonical name in '*canonical' ("deployment", "release" and "rollout" are deploys, …). */
double sdk_events_kind_weight(const char *kind, const char **canonical);

/* A lua_CFunction that pushes the table inquest.events: rank(events, onset, scope, opts). */
int sdk_events_open(lua_State *L);

#endif
