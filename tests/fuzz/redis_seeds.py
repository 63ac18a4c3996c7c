#!/usr/bin/env python3
# tests/fuzz/redis_seeds.py -- makes the seeds of fuzz_redis (tests/fuzz/corpus/redis/): real
# replies of the queue's function library (runtime/rt_queue.lua) and of the plain commands the
# queue sends (XREVRANGE, XREAD, HGETALL, GET), from a redis-server on loopback (start one with
# tests/support/redis), each saved as the raw RESP bytes Redis sent, behind the byte that tells
# fuzz_redis which parser gets it and how many items the call sent. The calls are built as
# runtime/rt_queue.c builds them; run it again when the library's replies change.
#
#   tests/fuzz/redis_seeds.py PORT [OUT_DIR]       (default OUT_DIR: tests/fuzz/corpus/redis)
#
# PORT is a fresh server's (`tests/support/redis start DIR`): the replies depend on what the keys
# of the prefix {seed}: already hold. The regress-* seeds of OUT_DIR are written by hand and left
# alone.
import os
import re
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
P = '{seed}:'  # the queue's key prefix, as rt_queue.c makes it
STREAMS = [P + 'q:interactive', P + 'q:alert', P + 'q:batch']
LEASES, RUNNING, STATS, RESULTS = P + 'leases', P + 'running', P + 'stats', P + 'results'
DEAD, HELD, LISTING = P + 'dead', P + 'held', P + 'listing'
FIXED = STREAMS + [LEASES, RUNNING, STATS, RESULTS, DEAD, HELD]  # a round's first nine keys
TTL = '604800000'

# rt__queue_reply (runtime/rt_queue_internal.h), in order: the low four bits of the first byte.
PARSERS = ['submit', 'intake', 'claim', 'complete', 'extend', 'cancel', 'get', 'list', 'dead',
           'resolve', 'stats', 'count', 'connectors', 'recording', 'watch_start', 'watch']


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port))
        self.buf = b''

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError('redis closed the connection')
        self.buf += chunk

    def _line(self, at):
        while b'\r\n' not in self.buf[at:]:
            self._more()
        end = self.buf.index(b'\r\n', at)
        return self.buf[at:end], end + 2

    def _skip(self, at):
        """The offset just past the reply that starts at 'at'."""
        line, at = self._line(at)
        kind, n = line[:1], line[1:]
        if kind == b'$' and int(n) >= 0:
            while len(self.buf) < at + int(n) + 2:
                self._more()
            return at + int(n) + 2
        if kind == b'*':
            for _ in range(max(int(n), 0)):
                at = self._skip(at)
        return at

    def raw(self, *args):
        """Sends one command; returns its reply's bytes as they came."""
        out = b'*%d\r\n' % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b'$%d\r\n%s\r\n' % (len(a), a)
        self.sock.sendall(out)
        end = self._skip(0)
        reply, self.buf = self.buf[:end], self.buf[end:]
        return reply


def library():
    """The library as rt_fnlib_versioned loads it: renamed inquest_vN, then the prelude."""
    text = open(os.path.join(ROOT, 'runtime/rt_queue.lua')).read()
    prelude = open(os.path.join(ROOT, 'runtime/rt_fnlib_prelude.lua')).read()
    version = int(re.search(r'\nlocal VERSION = (\d+)', text).group(1))
    name = 'inquest_v%d' % version
    head = "#!lua name=%s\nlocal LIBRARY = '%s'\n" % (name, name)
    return version, head + prelude + text[text.index('\n'):]


def strings(reply):
    """The bulk strings of a reply, in order (ids and entry ids to call with next)."""
    return [m.group(1).decode() for m in re.finditer(rb'\$\d+\r\n([^\r]*)\r\n', reply)]


class Seeds:
    def __init__(self, r, version, out):
        self.r, self.fn, self.out, self.made = r, 'inquest_v%d_' % version, out, 0

    def fcall(self, name, keys, args, ro=False):
        return self.r.raw('FCALL_RO' if ro else 'FCALL', self.fn + name, len(keys), *keys, *args)

    def save(self, name, parser, reply, count=0, misfits=0):
        assert len(reply) < 4096, name
        n = (misfits << 2 | count) if parser == 'intake' else count
        assert n < 16, name
        with open(os.path.join(self.out, name), 'wb') as f:
            f.write(bytes([n << 4 | PARSERS.index(parser)]) + reply)
        self.made += 1
        return reply


def request(i, analyzer='http.error_spike', team='edge', priority='interactive', window=0,
            record='0'):
    inputs = '{"service":"checkout-%d","window":"30m"}' % i
    return ['%016x' % (0xfeed0000 + i), analyzer, team, priority, inputs, '{"env":"prod"}',
            window, 0, record]


def submit(s, reqs, dedup):
    keys, args = [LISTING], [P, TTL, '86400000', len(reqs)]
    for r, d in zip(reqs, dedup):
        keys += [P + 'a:' + r[0], P + 'd:' + d]
        args += r
    return s.fcall('submit', keys, args)


def round_(s, results, max_claims, consumer='host:1:w1'):
    """A worker's round (inquest_claim): 'results' (id, status, result, recording) to store,
    then up to 'max_claims' claims."""
    keys, args = list(FIXED), [P, consumer, max_claims, 30000, 2000, 3, TTL, 100000, 10000, 0, 0,
                               TTL, 0, len(results)]
    for rid, status, result, rec in results:
        keys += [P + 'a:' + rid, P + 'r:' + rid]
        args += [rid, status, result, rec]
    return s.fcall('claim', keys, args)


def queue_seeds(s):
    r = s.r
    reqs = [request(1, record='1'), request(2, team='', priority='batch'),
            request(3, analyzer='db.slow_queries', priority='alert', window=60000)]
    ids = [q[0] for q in reqs]
    s.save('submit-3', 'submit', submit(s, reqs, ['d1', 'd2', 'd3']), 3)
    again = request(4, analyzer='db.slow_queries', priority='alert', window=60000)
    s.save('submit-deduplicated', 'submit', submit(s, [again], ['d3']), 1)
    s.save('claim-0-results-2-claimed', 'claim', round_(s, [], 2), 0)
    s.save('claim-nothing-claimed', 'claim', round_(s, [], 0, 'host:1:w2'), 0)
    held = [ids[0], ids[2]]  # by priority: interactive, then alert
    s.save('extend-2-held', 'extend',
           s.fcall('extend', [LEASES] + [P + 'a:' + i for i in held],
                   [P, 'host:1:w1', 30000] + held), 2)
    s.save('cancel-flagged', 'cancel',
           s.fcall('cancel', [P + 'a:' + ids[0]], [P, ids[0], TTL, 100000]))
    s.save('extend-cancelled-lost', 'extend',
           s.fcall('extend', [LEASES] + [P + 'a:' + i for i in held + ['ffff0000ffff0000']],
                   [P, 'host:1:w1', 30000] + held + ['ffff0000ffff0000']), 3)
    recording = '{"exchanges":[]}'
    results = [(ids[0], 'cancelled', '{"status":"cancelled"}', ''),
               (ids[2], 'ok', '{"status":"ok","findings":[]}', recording)]
    s.save('claim-2-results-1-claimed', 'claim', round_(s, results, 1), 2)
    s.save('complete-finished', 'complete', round_(s, [results[1]], 0), 1)
    s.save('complete-not-found', 'complete',
           round_(s, [('abababababababab', 'ok', '{}', '')], 0), 1)
    s.save('cancel-finished', 'cancel', s.fcall('cancel', [P + 'a:' + ids[2]], [P, ids[2], TTL, 1]))
    s.save('cancel-not-found', 'cancel',
           s.fcall('cancel', [P + 'a:abab'], [P, 'abab', TTL, 100000]))
    five = request(5)
    submit(s, [five], ['d5'])
    s.save('cancel-queued', 'cancel', s.fcall('cancel', [P + 'a:' + five[0]], [P, five[0], TTL, 1]))
    s.save('get-finished', 'get', s.fcall('get', [P + 'a:' + ids[2], P + 'r:' + ids[2]], [P], True))
    s.save('get-running', 'get', s.fcall('get', [P + 'a:' + ids[1], P + 'r:' + ids[1]], [P], True))
    s.save('get-not-found', 'get', s.fcall('get', [P + 'a:abab', P + 'r:abab'], [P], True))
    page = s.save('list-page-2', 'list',
                  s.fcall('list', [LISTING], [P, '+', '', 2, '', '', 40, '', '', ''], True))
    entry, left = strings(page)[:2]
    s.save('list-last-page', 'list',
           s.fcall('list', [LISTING], [P, entry, left, 2, '', '', 40, '', '', ''], True))
    s.save('list-filtered', 'list', s.fcall('list', [LISTING], [P, '+', '', 5, 'ok', '', 100,
                                                               'env', 'prod', ''], True))
    s.save('get-recording', 'recording', r.raw('GET', P + 'rec:' + ids[2]))
    s.save('get-recording-none', 'recording', r.raw('GET', P + 'rec:' + ids[0]))
    return ids


def dead_seeds(s):
    """A request delivered max_deliveries times, and a misfit of the intake."""
    stuck = request(6, analyzer='k8s.crashloop', priority='batch')
    submit(s, [stuck], ['d6'])
    for attempt in range(4):  # leases of 10 ms: each round takes back the last one's
        args = [P, 'host:2:w%d' % attempt, 1, 10, 2000, 3, TTL, 100000, 10000, 0, 0, TTL, 0, 0]
        s.fcall('claim', list(FIXED), args)
        time.sleep(0.03)
    misfit = ['60000', 10, 'analyzer', 'http.error_spike', 'team', 'edge', 'priority', 'alert',
              'inputs', '{"service":""}', 'reason', 'input service: must match ^[a-z0-9-]+$',
              'route', 'edge-5xx', 'source', 'alertmanager', 'fingerprint', '3f2a9c1d',
              'alert', '{"labels":{"alertname":"High5xx"}}',
              'errors', '[{"field":"service","message":"must match ^[a-z0-9-]+$"}]']
    alert = request(7, priority='alert')
    keys = [LISTING, P + 'a:' + alert[0], P + 'd:k7', P + 'ar:k7', DEAD, STATS, P + 'dl:m1']
    args = [P, TTL, '86400000', 1] + alert + ['1700000000000', 10000, 1] + misfit
    s.save('intake-1-request-1-misfit', 'intake', s.fcall('submit_intake', keys, args), 1, 1)
    s.save('intake-repeat', 'intake',
           s.fcall('submit_intake', [LISTING, DEAD, STATS, P + 'dl:m1'],
                   [P, TTL, '86400000', 0, 10000, 1] + misfit), 0, 1)
    s.save('dead-letters', 'dead', s.r.raw('XREVRANGE', DEAD, '+', '-', 'COUNT', 50), 15)
    s.save('dead-letters-full-page', 'dead', s.r.raw('XREVRANGE', DEAD, '+', '-', 'COUNT', 1), 1)
    s.save('dead-letters-empty', 'dead', s.r.raw('XREVRANGE', DEAD, '(0-1', '-', 'COUNT', 5), 5)


def alert_seeds(s):
    a, b = request(8, priority='alert'), request(9, priority='alert')
    keys = [LISTING, P + 'a:' + a[0], P + 'd:k8', P + 'a:' + b[0], P + 'd:k9', P + 'ar:k8',
            P + 'ar:k9']
    args = [P, TTL, '86400000', 2] + a + b + ['1700000000000', '0']
    s.save('submit-alerts-2', 'submit', s.fcall('submit_alerts', keys, args), 2)
    s.save('resolve-2', 'resolve',
           s.fcall('resolve', [STATS, P + 'd:k8', P + 'ar:k8', P + 'd:kx', P + 'ar:kx'],
                   [P, '1700000000000', 60000, '0', 0]), 2)
    late = request(10, priority='alert')
    keys = [LISTING, P + 'a:' + late[0], P + 'd:k8', P + 'ar:k8']
    s.save('submit-alerts-late', 'submit',
           s.fcall('submit_alerts', keys, [P, TTL, '86400000', 1] + late + ['1700000000000']), 1)


def other_seeds(s):
    r = s.r
    s.save('stats', 'stats', s.fcall('stats', FIXED[:4] + [STATS, DEAD, RESULTS, HELD], [P], True))
    s.save('count', 'count', s.fcall('count', [P + 'connectors'],
                                     [P, 'prom|calls', '3', 'prom|seconds', '0.25', 'prom|b2', '2',
                                      'prom|b4', '1', 'loki|calls', '1', 'loki|errors', '1']))
    s.save('connectors', 'connectors', r.raw('HGETALL', P + 'connectors'))
    s.save('connectors-none', 'connectors', r.raw('HGETALL', P + 'nothing'))
    s.save('watch-start', 'watch_start', r.raw('XREVRANGE', RESULTS, '+', '-', 'COUNT', 1))
    s.save('watch-start-empty', 'watch_start', r.raw('XREVRANGE', P + 'nothing', '+', '-',
                                                     'COUNT', 1))
    s.save('watch-entries', 'watch', r.raw('XREAD', 'COUNT', 1000, 'STREAMS', RESULTS, '0-0'))
    s.save('watch-timeout', 'watch', r.raw('XREAD', 'COUNT', 1000, 'BLOCK', 10, 'STREAMS',
                                           RESULTS, '$'))
    # Error replies, as the queue maps them: an rt error name from the library, Redis' own.
    s.save('error-einput', 'claim', round_(s, [], 'many'))
    s.save('error-function-not-found', 'submit', r.raw('FCALL', 'inquest_v0_submit', 0), 1)


def main():
    if len(sys.argv) < 2:
        sys.exit('usage: redis_seeds.py PORT [OUT_DIR]')
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, 'corpus', 'redis')
    os.makedirs(out, exist_ok=True)
    r = Redis(int(sys.argv[1]))
    version, text = library()
    r.raw('FUNCTION', 'LOAD', 'REPLACE', text)
    s = Seeds(r, version, out)
    s.fcall('init', STREAMS, [P])
    queue_seeds(s)
    dead_seeds(s)
    alert_seeds(s)
    other_seeds(s)
    print('%d seeds in %s' % (s.made, out))


if __name__ == '__main__':
    main()
