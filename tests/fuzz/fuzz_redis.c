/* tests/fuzz/fuzz_redis.c -- the parsers of the queue's Redis replies (runtime/rt_queue.c: submit,
 * the intake's submit, claim, complete, extend, cancel, get, list, dead letters, resolve, stats,
 * connector counts, recordings, the watch's two reads) on any reply, through the seam of
 * runtime/rt_queue_internal.h. The first byte picks the parser (its low four bits) and how many
 * items the call sent (its high four: results of a round, ids, requests, a page's limit; for the
 * intake's submit, two bits of requests and two of misfits). The rest is RESP, which hiredis' own
 * reader turns into the tree the parser gets; bytes that are not one whole reply are skipped.
 * Contract: the operation's callback is called exactly once, either with RT_OK and a result of
 * the shape the call asked for (one verdict per result, one lease per id, enums within their
 * values, finite numbers, strings that can be read, no empty cursor), or with an error and a
 * message ("queue: unexpected reply to claim"). The watch has no error to give: it calls its
 * callback once per entry, with strings and a duration of 0 or more. Seeds: corpus/redis/, replies
 * of a real redis-server with the library loaded (redis_seeds.py makes them), the first byte put
 * before them; the regress-* ones by hand. */
#include <math.h>
#include "fuzz_support.h"
#include "rt_queue.h"
#include "rt_queue_internal.h"

/* An array longer than this is refused by the reader: hiredis allocates an array's element
 * pointers from its header, before any element has come, so "*2000000000" asks for 16 GB, which
 * libFuzzer's malloc limit (make fuzz) reports as a crash of the harness, not of the queue. */
#define MAX_ELEMENTS 4096

typedef struct call {
    int calls;
    size_t sent, misfits; /* what the call sent */
} call;

static volatile size_t sink; /* what reading a string adds up to, so that it is not left out */

/* Reads the string 's' to its end: ASan sees a pointer that is not one. */
static void readable(const char *s, const char *what) {
    FUZZ_CHECK(s, "%s is NULL", what);
    sink += strlen(s);
}

static void readable_bytes(const char *s, size_t len, const char *what) {
    FUZZ_CHECK(s || len == 0, "%s is NULL with %zu bytes", what, len);
    for (size_t i = 0; i < len; i++)
        sink += (unsigned char)s[i];
}

/* What every callback checks first: it is counted, and an error says what and comes without a
 * result ('no_result'). Returns true on success, whose result the callback then checks. */
static bool called(void *ud, int rc, const char *msg, bool no_result) {
    call *c = ud;
    c->calls++;
    readable(msg, "the message");
    FUZZ_CHECK(rc == RT_OK || (rc < 0 && *msg), "rc %d (%s) with message '%s'", rc, rt_errname(rc),
               msg);
    FUZZ_CHECK(rc == RT_OK || no_result, "a result with %s", rt_errname(rc));
    return rc == RT_OK;
}

static void check_verdicts(const rt_queue_verdict *verdicts, size_t n) {
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(verdicts[i] >= RT_COMPLETE_ACCEPTED && verdicts[i] <= RT_COMPLETE_NOT_FOUND,
                   "verdict %zu is %d", i, (int)verdicts[i]);
}

static void check_submitted(const rt_queue_submitted *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(memchr(out[i].id, '\0', sizeof out[i].id), "id %zu not terminated", i);
}

static void check_analysis(const rt_queue_analysis *a) {
    const char *strings[] = {a->id,     a->status,  a->analyzer, a->team,
                             a->labels, a->message, a->consumer, a->priority};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        readable(strings[i], "a string of an analysis");
    readable_bytes(a->result, a->result_len, "the result");
    double times[] = {a->submitted_at, a->started_at, a->finished_at, a->deadline, a->resolved_at};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        FUZZ_CHECK(isfinite(times[i]), "time %zu of an analysis is %g", i, times[i]);
}

/* ---- one callback per operation ------------------------------------------------------------ */

static void submitted(int rc, const char *msg, const rt_queue_submitted *out, size_t n, void *ud) {
    call *c = ud;
    if (!called(ud, rc, msg, !out && n == 0))
        return;
    FUZZ_CHECK(n == c->sent, "%zu outcomes of %zu requests", n, c->sent);
    check_submitted(out, n);
}

static void intake_submitted(int rc, const char *msg, const rt_queue_submitted *out, size_t n,
                             const rt_queue_buried *buried, size_t m, void *ud) {
    call *c = ud;
    if (!called(ud, rc, msg, !out && !buried))
        return;
    FUZZ_CHECK(n == c->sent && m == c->misfits, "%zu and %zu outcomes of %zu requests, %zu misfits",
               n, m, c->sent, c->misfits);
    check_submitted(out, n);
    for (size_t j = 0; j < m; j++)
        FUZZ_CHECK(memchr(buried[j].entry, '\0', sizeof buried[j].entry), "entry %zu", j);
}

static void claimed(int rc, const char *msg, const rt_queue_verdict *verdicts, size_t n_verdicts,
                    const rt_queue_claimed *items, size_t n, void *ud) {
    call *c = ud;
    if (!called(ud, rc, msg, !verdicts && !items))
        return;
    FUZZ_CHECK(n_verdicts == c->sent, "%zu verdicts of %zu results", n_verdicts, c->sent);
    check_verdicts(verdicts, n_verdicts);
    for (size_t i = 0; i < n; i++) {
        const rt_queue_claimed *it = &items[i];
        readable(it->id, "id");
        readable(it->entry, "entry");
        readable(it->analyzer, "analyzer");
        readable(it->team, "team");
        readable_bytes(it->inputs, it->inputs_len, "inputs");
        FUZZ_CHECK(it->priority >= RT_PRIORITY_INTERACTIVE && it->priority <= RT_PRIORITY_BATCH,
                   "claimed %zu has priority %d", i, (int)it->priority);
        FUZZ_CHECK(isfinite(it->deadline) && isfinite(it->dequeued_at), "claimed %zu: times", i);
    }
}

static void completed(int rc, const char *msg, const rt_queue_verdict *verdicts, size_t n,
                      void *ud) {
    call *c = ud;
    if (!called(ud, rc, msg, !verdicts))
        return;
    FUZZ_CHECK(n == c->sent, "%zu verdicts of %zu results", n, c->sent);
    check_verdicts(verdicts, n);
}

static void extended(int rc, const char *msg, const rt_queue_lease *leases, size_t n, void *ud) {
    call *c = ud;
    if (!called(ud, rc, msg, !leases))
        return;
    FUZZ_CHECK(n == c->sent, "%zu leases of %zu ids", n, c->sent);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(leases[i] >= RT_LEASE_HELD && leases[i] <= RT_LEASE_LOST, "lease %zu is %d", i,
                   (int)leases[i]);
}

static void cancelled(int rc, const char *msg, rt_queue_cancel_outcome outcome, const char *status,
                      void *ud) {
    called(ud, rc, msg, true);
    readable(status, "status");
    FUZZ_CHECK(outcome >= RT_CANCEL_DONE && outcome <= RT_CANCEL_FINISHED, "outcome %d",
               (int)outcome);
}

static void got(int rc, const char *msg, const rt_queue_analysis *a, void *ud) {
    if (!called(ud, rc, msg, !a))
        return;
    FUZZ_CHECK(a, "no analysis");
    check_analysis(a);
}

static void listed(int rc, const char *msg, const rt_queue_analysis *items, size_t n,
                   const char *next_cursor, void *ud) {
    if (!called(ud, rc, msg, !items && !next_cursor))
        return;
    for (size_t i = 0; i < n; i++)
        check_analysis(&items[i]);
    if (next_cursor) /* "" would ask for the first page again */
        FUZZ_CHECK(*next_cursor, "an empty cursor");
}

static void dead_listed(int rc, const char *msg, const rt_queue_dead *items, size_t n,
                        const char *next_cursor, void *ud) {
    if (!called(ud, rc, msg, !items && !next_cursor))
        return;
    for (size_t i = 0; i < n; i++) {
        const rt_queue_dead *d = &items[i];
        const char *strings[] = {d->entry,       d->id,     d->analyzer, d->team,  d->priority,
                                 d->inputs,      d->reason, d->origin,   d->route, d->source,
                                 d->fingerprint, d->alert,  d->errors};
        for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
            readable(strings[k], "a string of a dead letter");
        FUZZ_CHECK(isfinite(d->at), "dead letter %zu at %g", i, d->at);
    }
    if (next_cursor) /* "" would ask for the first page again */
        FUZZ_CHECK(*next_cursor, "an empty cursor");
}

static void resolved(int rc, const char *msg, const rt_queue_resolved *out, size_t n, void *ud) {
    call *c = ud;
    if (!called(ud, rc, msg, !out))
        return;
    FUZZ_CHECK(n == c->sent, "%zu outcomes of %zu alerts", n, c->sent);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < out[i].n_ids; k++)
            readable(out[i].ids[k], "an id");
}

static void stats_read(int rc, const char *msg, const rt_queue_stats *stats, void *ud) {
    if (called(ud, rc, msg, !stats))
        FUZZ_CHECK(stats, "no stats");
}

static void counted(int rc, const char *msg, void *ud) {
    called(ud, rc, msg, true);
}

static void connectors_read(int rc, const char *msg, const rt_queue_connector_stats *stats,
                            size_t n, void *ud) {
    if (!called(ud, rc, msg, !stats))
        return;
    for (size_t i = 0; i < n; i++) {
        const rt_queue_connector_stats *st = &stats[i];
        FUZZ_CHECK(memchr(st->connector, '\0', sizeof st->connector), "name %zu", i);
        FUZZ_CHECK(isfinite(st->calls) && isfinite(st->errors) && isfinite(st->seconds),
                   "connector %zu: %g calls, %g errors, %g s", i, st->calls, st->errors,
                   st->seconds);
        for (int b = 0; b <= RT_QUEUE_LATENCY_BUCKETS; b++)
            FUZZ_CHECK(isfinite(st->buckets[b]), "connector %zu: bucket %d %g", i, b,
                       st->buckets[b]);
    }
}

static void recording_read(int rc, const char *msg, const char *text, size_t len, void *ud) {
    if (!called(ud, rc, msg, !text))
        return;
    FUZZ_CHECK(text, "no text");
    readable_bytes(text, len, "the recording");
}

static void watched(const char *id, const char *analyzer, const char *status, double seconds,
                    void *ud) {
    ((call *)ud)->calls++;
    readable(id, "id");
    readable(analyzer, "analyzer");
    readable(status, "status");
    FUZZ_CHECK(isfinite(seconds) && seconds >= 0, "an analysis took %g s", seconds);
}

static void (*const callbacks[RT__N_REPLIES])(void) = {
    [RT__REPLY_SUBMIT] = (void (*)(void))submitted,
    [RT__REPLY_INTAKE] = (void (*)(void))intake_submitted,
    [RT__REPLY_CLAIM] = (void (*)(void))claimed,
    [RT__REPLY_COMPLETE] = (void (*)(void))completed,
    [RT__REPLY_EXTEND] = (void (*)(void))extended,
    [RT__REPLY_CANCEL] = (void (*)(void))cancelled,
    [RT__REPLY_GET] = (void (*)(void))got,
    [RT__REPLY_LIST] = (void (*)(void))listed,
    [RT__REPLY_DEAD] = (void (*)(void))dead_listed,
    [RT__REPLY_RESOLVE] = (void (*)(void))resolved,
    [RT__REPLY_STATS] = (void (*)(void))stats_read,
    [RT__REPLY_COUNT] = (void (*)(void))counted,
    [RT__REPLY_CONNECTORS] = (void (*)(void))connectors_read,
    [RT__REPLY_RECORDING] = (void (*)(void))recording_read,
    [RT__REPLY_WATCH_START] = (void (*)(void))watched,
    [RT__REPLY_WATCH] = (void (*)(void))watched,
};

/* ---- the reply ------------------------------------------------------------------------------ */

static void *(*create_array)(const redisReadTask *task, int elements);

static void *capped_array(const redisReadTask *task, int elements) {
    return elements > MAX_ELEMENTS ? NULL : create_array(task, elements);
}

/* The reply that 'size' bytes at 'data' make, or NULL when they make none (not RESP, or not
 * all of one reply). */
static redisReply *reply_of(const uint8_t *data, size_t size) {
    static redisReplyObjectFunctions capped;
    redisReader *reader = redisReaderCreate();
    void *reply = NULL;
    FUZZ_CHECK(reader, "redisReaderCreate");
    if (!create_array) { /* hiredis' own functions, but for the cap */
        capped = *reader->fn;
        create_array = capped.createArray;
        capped.createArray = capped_array;
    }
    reader->fn = &capped;
    if (redisReaderFeed(reader, (const char *)data, size) != REDIS_OK ||
        redisReaderGetReply(reader, &reply) != REDIS_OK)
        reply = NULL;
    redisReaderFree(reader);
    return reply;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    rt__queue_reply which = (rt__queue_reply)((data[0] & 15) % RT__N_REPLIES);
    size_t count = data[0] >> 4;
    call c = {.sent = which == RT__REPLY_INTAKE ? count & 3 : count,
              .misfits = which == RT__REPLY_INTAKE ? count >> 2 : 0};
    redisReply *reply = reply_of(data + 1, size - 1);
    if (!reply)
        return 0;
    rt__queue_parse(which, c.sent, c.misfits, reply, callbacks[which], &c);
    if (which == RT__REPLY_WATCH_START)
        FUZZ_CHECK(c.calls == 0, "the watch's start reported %d analyses", c.calls);
    else if (which != RT__REPLY_WATCH)
        FUZZ_CHECK(c.calls == 1, "the callback was called %d times", c.calls);
    freeReplyObject(reply);
    return 0;
}
