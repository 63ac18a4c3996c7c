/* integrations/ig_route.c -- the config's routes over alerts (docs/config.md, routes): which route
 * takes which alert and why not, the templates that build an analyzer's inputs, the plan of
 * starts and resolves one payload makes, and the check of routes against analyzer schemas. The
 * alerts come from ig_alert.c; the server acts on the plan in ig_intake.c.
 *
 * Design notes. A route's analysis stands for an alert (per: alert, the default) or for a
 * notification group (per: group). Either way it has a dedup key that names the route, the source
 * and the alert's fingerprint (or the group key): the queue's submit (rt_queue.lua) maps that key
 * to one analysis for the route's window, atomically, so any number of repeats, in one payload or
 * in concurrent ones, start one analysis; a resolve stamps every analysis the alert started and
 * leaves a tombstone with the alert's start, so that only a later episode starts anew (the
 * queue's intake section, rt_queue.lua). 'started' on each step is that start. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ig_intake.h"

/* ---- matching ---------------------------------------------------------------------------------
 */

static const char *alert_text(const json_t *alert, const char *key) {
    const char *s = json_string_value(json_object_get(alert, key));
    return s ? s : "";
}

/* The value a matcher sees: the label or annotation, NULL when the alert has none. */
static const char *matched_value(const rt_matcher *m, const json_t *alert) {
    json_t *set = json_object_get(alert, m->annotation ? "annotations" : "labels");
    return json_string_value(json_object_get(set, m->name));
}

static const char *op_text(rt_match_op op) {
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    return ops[op];
}

/* The route's sources as "a, b" into 'out' of 'size' bytes. */
static void sources_text(unsigned bits, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    for (int i = RT_SOURCE_ALERTMANAGER; i <= RT_SOURCE_GENERIC; i++)
        if (bits & (1u << i)) {
            int n = snprintf(out + len, size - len, "%s%s", len ? ", " : "",
                             rt_source_name((rt_source)i));
            if (n > 0 && (size_t)n < size - len)
                len += (size_t)n;
        }
}

bool ig_route_takes(const rt_route *route, const json_t *alert, char *why, size_t size) {
    rt_source source = RT_SOURCE_GENERIC;
    ig_source_parse(alert_text(alert, "source"), &source);
    if (route->sources && !(route->sources & (1u << source))) {
        char list[128];
        sources_text(route->sources, list, sizeof list);
        snprintf(why, size, "the alert comes from %s; the route takes %s", rt_source_name(source),
                 list);
        return false;
    }
    for (size_t i = 0; i < route->n_match; i++) {
        const rt_matcher *m = &route->match[i];
        const char *v = matched_value(m, alert);
        if (rt_matcher_matches(m, v))
            continue;
        /* Every text cut at a character, and short enough that 'why' (256 bytes at least)
         * is never cut: it goes into JSON, which takes only whole characters. */
        const char *where = m->annotation ? "annotations" : "labels";
        int name = rt_utf8_fit(m->name, 40), value = rt_utf8_fit(m->value, 60);
        if (v)
            snprintf(why, size, "%s%.*s%s\"%.*s\" does not hold: %s.%.*s is \"%.*s\"",
                     m->annotation ? "annotations." : "", name, m->name, op_text(m->op), value,
                     m->value, where, name, m->name, rt_utf8_fit(v, 80), v);
        else
            snprintf(why, size, "%s%.*s%s\"%.*s\" does not hold: %s.%.*s is not set",
                     m->annotation ? "annotations." : "", name, m->name, op_text(m->op), value,
                     m->value, where, name, m->name);
        return false;
    }
    return true;
}

/* ---- templates --------------------------------------------------------------------------------
 */

/* The value of template name 'name' ('n' bytes, trimmed) over 'alert', or "". */
static const char *lookup(const json_t *alert, const char *name, size_t n) {
    char key[256];
    const char *dot = memchr(name, '.', n);
    if (n >= sizeof key)
        return "";
    if (dot && (((size_t)(dot - name) == 6 && strncmp(name, "labels", 6) == 0) ||
                ((size_t)(dot - name) == 11 && strncmp(name, "annotations", 11) == 0))) {
        snprintf(key, sizeof key, "%.*s", (int)(n - (size_t)(dot - name) - 1), dot + 1);
        json_t *set = json_object_get(alert, dot - name == 6 ? "labels" : "annotations");
        const char *v = json_string_value(json_object_get(set, key));
        return v ? v : "";
    }
    snprintf(key, sizeof key, "%.*s", (int)n, name);
    return alert_text(alert, key);
}

/* A growing text. */
typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = rt_xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

char *ig_template_render(const char *text, const json_t *alert) {
    buf b = {0};
    const char *p = text;
    buf_add(&b, "", 0);
    for (const char *open = strstr(p, "{{"); open; open = strstr(p, "{{")) {
        const char *close = strstr(open + 2, "}}");
        if (!close) /* the config loader refuses this; kept as text */
            break;
        buf_add(&b, p, (size_t)(open - p));
        const char *a = open + 2, *z = close;
        while (a < z && *a == ' ')
            a++;
        while (z > a && z[-1] == ' ')
            z--;
        const char *v = lookup(alert, a, (size_t)(z - a));
        buf_add(&b, v, strlen(v));
        p = close + 2;
    }
    buf_add(&b, p, strlen(p));
    return b.data;
}

json_t *ig_route_inputs(const rt_route *route, const json_t *alert) {
    json_t *inputs = json_object();
    for (size_t i = 0; i < route->n_inputs; i++) {
        char *v = ig_template_render(route->inputs[i].text, alert);
        if (*v)
            json_object_set_new(inputs, route->inputs[i].name, json_string(v));
        free(v);
    }
    return inputs;
}

/* ---- plans ------------------------------------------------------------------------------------
 */

/* "intake\nROUTE\nSOURCE[/WEBHOOK]\n[group\n]ID": one key per route, source and alert (or
 * group), so that routes and senders never share an analysis by accident. */
static char *dedup_key(const rt_route *route, const json_t *alert, bool group) {
    const char *webhook = json_string_value(json_object_get(alert, "webhook"));
    const char *id = alert_text(alert, group ? "groupKey" : "fingerprint");
    if (group && !*id)
        id = alert_text(alert, "fingerprint");
    size_t n = strlen(route->name) + strlen(id) + (webhook ? strlen(webhook) : 0) + 64;
    char *key = rt_xmalloc(n);
    snprintf(key, n, "intake\n%s\n%s%s%s\n%s%s", route->name, alert_text(alert, "source"),
             webhook ? "/" : "", webhook ? webhook : "", group ? "group\n" : "", id);
    return key;
}

static ig_step *step_add(ig_plan *plan, size_t *cap) {
    if (plan->n_steps == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        plan->steps = rt_xrealloc(plan->steps, *cap * sizeof *plan->steps);
    }
    ig_step *s = &plan->steps[plan->n_steps++];
    memset(s, 0, sizeof *s);
    return s;
}

static bool is_resolved(const json_t *alert) {
    return strcmp(alert_text(alert, "status"), "resolved") == 0;
}

/* Keeps in object 'common' only the members that 'other' has with the same value. */
static void intersect(json_t *common, const json_t *other) {
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(common, tmp, key, v) {
        if (!json_equal(v, json_object_get(other, key)))
            json_object_del(common, key);
    }
}

/* The view of a group of alerts ('members', indexes into 'alerts', 'n' of them) that a per-group
 * analysis sees: the first alert with the labels and annotations they all share, the earliest
 * start, and "firing" while any of them fires. New reference. */
static json_t *group_view(const json_t *alerts, const size_t *members, size_t n) {
    json_t *view = json_deep_copy(json_array_get(alerts, members[0]));
    bool firing = false;
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(alerts, members[i]);
        intersect(json_object_get(view, "labels"), json_object_get(a, "labels"));
        intersect(json_object_get(view, "annotations"), json_object_get(a, "annotations"));
        const char *start = alert_text(a, "startsAt");
        const char *earliest = alert_text(view, "startsAt");
        if (*start && (!*earliest || strcmp(start, earliest) < 0))
            json_object_set_new(view, "startsAt", json_string(start));
        firing = firing || !is_resolved(a);
    }
    json_object_set_new(view, "status", json_string(firing ? "firing" : "resolved"));
    if (*alert_text(view, "groupKey"))
        json_object_set(view, "fingerprint", json_object_get(view, "groupKey"));
    return view;
}

/* The alert's startsAt as Unix seconds; 0 when it has none (or Alertmanager's year 1). */
static double start_of(const json_t *alert) {
    char why[256];
    double t = 0;
    const char *text = alert_text(alert, "startsAt");
    if (!*text || rt_time_parse(text, 0, &t, why) != 0 || !(t > 0))
        return 0;
    return t;
}

static void plan_step(ig_plan *plan, size_t *cap, const rt_route *route, json_t *alert, bool group,
                      size_t alerts, double started) {
    ig_step *s = step_add(plan, cap);
    s->route = route;
    s->alert = alert; /* stolen */
    s->resolve = is_resolved(alert);
    s->inputs = s->resolve ? NULL : ig_route_inputs(route, alert);
    s->dedup_key = dedup_key(route, alert, group);
    s->alerts = alerts;
    s->started = started;
}

/* When a group's episode started, for telling a late firing from a new one: the latest start of
 * its firing members (of all of them when none fires). A new episode has a member that started
 * after the last resolve; a retried notification of the old one has none. */
static double group_started(const json_t *alerts, const size_t *members, size_t n) {
    double latest = 0, latest_firing = 0;
    bool firing = false;
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(alerts, members[i]);
        double t = start_of(a);
        latest = t > latest ? t : latest;
        if (!is_resolved(a)) {
            firing = true;
            latest_firing = t > latest_firing ? t : latest_firing;
        }
    }
    return firing ? latest_firing : latest;
}

/* per: group: the alerts 'route' took ('taken', 'n'), one step per group key. */
static void plan_groups(ig_plan *plan, size_t *cap, const rt_route *route, const json_t *alerts,
                        const size_t *taken, size_t n) {
    size_t *members = rt_xcalloc(n ? n : 1, sizeof *members);
    bool *done = rt_xcalloc(n ? n : 1, sizeof *done);
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const char *key = alert_text(json_array_get(alerts, taken[i]), "groupKey");
        size_t m = 0;
        for (size_t j = i; j < n; j++)
            if (!done[j] &&
                strcmp(alert_text(json_array_get(alerts, taken[j]), "groupKey"), key) == 0) {
                done[j] = true;
                members[m++] = taken[j];
            }
        plan_step(plan, cap, route, group_view(alerts, members, m), true, m,
                  group_started(alerts, members, m));
    }
    free(members);
    free(done);
}

static void plan_miss(ig_plan *plan, size_t *cap, const rt_route *route, size_t alert,
                      const char *why) { /* 'why' fits: ig_route_takes writes it so */
    if (plan->n_misses == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        plan->misses = rt_xrealloc(plan->misses, *cap * sizeof *plan->misses);
    }
    ig_miss *m = &plan->misses[plan->n_misses++];
    m->route = route;
    m->alert = alert;
    snprintf(m->why, sizeof m->why, "%s", why);
}

void ig_plan_make(const rt_config *config, const ig_payload *p, bool explain, ig_plan *plan) {
    size_t n = json_array_size(p->alerts), step_cap = 0, miss_cap = 0;
    size_t *taken = rt_xcalloc(n ? n : 1, sizeof *taken);
    bool *routed = rt_xcalloc(n ? n : 1, sizeof *routed);
    memset(plan, 0, sizeof *plan);
    for (size_t r = 0; r < config->n_routes; r++) {
        const rt_route *route = &config->routes[r];
        size_t n_taken = 0;
        for (size_t i = 0; i < n; i++) {
            char why[256];
            json_t *alert = json_array_get(p->alerts, i);
            if (!ig_route_takes(route, alert, why, sizeof why)) {
                if (explain)
                    plan_miss(plan, &miss_cap, route, i, why);
                continue;
            }
            routed[i] = true;
            if (route->per == RT_ROUTE_PER_GROUP)
                taken[n_taken++] = i;
            else
                plan_step(plan, &step_cap, route, json_incref(alert), false, 1, start_of(alert));
        }
        if (route->per == RT_ROUTE_PER_GROUP)
            plan_groups(plan, &step_cap, route, p->alerts, taken, n_taken);
    }
    for (size_t i = 0; i < n; i++)
        plan->unrouted += !routed[i];
    free(taken);
    free(routed);
}

void ig_plan_free(ig_plan *plan) {
    for (size_t i = 0; i < plan->n_steps; i++) {
        json_decref(plan->steps[i].alert);
        json_decref(plan->steps[i].inputs);
        free(plan->steps[i].dedup_key);
    }
    free(plan->steps);
    free(plan->misses);
    memset(plan, 0, sizeof *plan);
}

/* ---- routes against analyzer schemas ----------------------------------------------------------
 */

/* The input a validation problem's field is about: "tags[2]" and "labels.env" are about "tags"
 * and "labels". Into 'out' of 128 bytes. */
static void field_root(const char *field, char *out) {
    size_t n = strcspn(field ? field : "", ".[");
    snprintf(out, 128, "%.*s", (int)(n < 127 ? n : 127), field ? field : "");
}

static const rt_template *route_input(const rt_route *route, const char *name) {
    for (size_t i = 0; i < route->n_inputs; i++)
        if (strcmp(route->inputs[i].name, name) == 0)
            return &route->inputs[i];
    return NULL;
}

/* "a, b, c": the names of the schema's inputs, into 'out' of 512 bytes. */
static void known_inputs(const json_t *schema, char *out) {
    const char *name;
    json_t *v;
    size_t len = 0;
    out[0] = '\0';
    json_object_foreach((json_t *)schema, name, v) {
        int n = snprintf(out + len, 512 - len, "%s%s", len ? ", " : "", name);
        if (n > 0 && (size_t)n < 512 - len)
            len += (size_t)n;
    }
    if (!len)
        snprintf(out, 512, "none");
}

/* The problems of route 'i' against the schema 'schema' and the validation 'problems' of its
 * inputs written without templates. */
static size_t check_inputs(const rt_config *config, size_t i, const json_t *schema,
                           const rt_diag *problems, rt_diag *diag) {
    const rt_route *route = &config->routes[i];
    char field[300], known[512], root[128];
    size_t found = 0, k;
    json_t *item;
    for (size_t j = 0; j < route->n_inputs; j++)
        if (!json_object_get(schema, route->inputs[j].name)) {
            known_inputs(schema, known);
            snprintf(field, sizeof field, "routes.%zu.inputs.%s", i, route->inputs[j].name);
            rt_diag_add(diag, config->path, route->line, field,
                        "analyzer %s has no input '%s' (its inputs: %s)", route->analyzer,
                        route->inputs[j].name, known);
            found++;
        }
    json_array_foreach(problems->items, k, item) {
        const char *f = json_string_value(json_object_get(item, "field"));
        const char *message = json_string_value(json_object_get(item, "message"));
        field_root(f, root);
        const rt_template *t = route_input(route, root);
        if (!json_object_get(schema, root) || (t && strstr(t->text, "{{")))
            continue; /* reported above, or known only when an alert fills it */
        snprintf(field, sizeof field, "routes.%zu.inputs.%s", i, f ? f : "");
        if (!t)
            rt_diag_add(diag, config->path, route->line, field,
                        "analyzer %s requires this input: give it a template", route->analyzer);
        else
            rt_diag_add(diag, config->path, route->line, field, "%s", message ? message : "");
        found++;
    }
    return found;
}

size_t ig_routes_check(wk_engine *engine, const rt_config *config, rt_diag *diag) {
    size_t found = 0;
    for (size_t i = 0; i < config->n_routes; i++) {
        const rt_route *route = &config->routes[i];
        json_t *literal = json_object();
        for (size_t j = 0; j < route->n_inputs; j++)
            if (!strstr(route->inputs[j].text, "{{"))
                json_object_set_new(literal, route->inputs[j].name,
                                    json_string(route->inputs[j].text));
        const wk_info *info = NULL;
        rt_diag problems = {0};
        char field[64];
        snprintf(field, sizeof field, "routes.%zu.analyzer", i);
        int rc = wk_validate(engine, route->analyzer, literal, 0, &info, NULL, &problems);
        if (rc == RT_ENOTFOUND || rc == RT_EANALYZER || !info) {
            json_t *first = json_array_get(problems.items, 0);
            const char *m = json_string_value(json_object_get(first, "message"));
            if (rc == RT_ENOTFOUND)
                rt_diag_add(diag, config->path, route->line, field,
                            "no analyzer named '%s' on the analyzer path", route->analyzer);
            else
                rt_diag_add(diag, config->path, route->line, field, "analyzer %s does not load: %s",
                            route->analyzer, m ? m : "(no reason given)");
            found++;
        } else
            found += check_inputs(config, i, info->inputs, &problems, diag);
        rt_diag_free(&problems);
        json_decref(literal);
    }
    return found;
}
