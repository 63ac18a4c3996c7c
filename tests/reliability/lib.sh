# shellcheck shell=bash
# tests/reliability/lib.sh -- what the reliability scenarios share (sourced, not run): arguments,
# a stack of the service in a work folder (tests/support/stack), the loadgen checker
# (tests/support/loadgen.c), assertions and memory readings. Every scenario script is run as
#
#   SCENARIO INQUEST LOADGEN MOCK_HTTP [WORKDIR]
#
# (or with $INQUEST, $LOADGEN, $MOCK_HTTP set), prints what it measured, and exits 0 when every
# assertion held, 1 when one failed (with the logs' tails), 2 on a usage or set-up error.
set -euo pipefail

RELIABILITY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$RELIABILITY/../.." && pwd)
STACK=$ROOT/tests/support/stack
SCENARIO=$(basename "$0")

INQUEST=${1:-${INQUEST:-}}
LOADGEN=${2:-${LOADGEN:-}}
MOCK_HTTP=${3:-${MOCK_HTTP:-}}
WORK=${4:-}
for v in INQUEST LOADGEN MOCK_HTTP; do
    if [[ -z "${!v}" || ! -x "${!v}" ]]; then
        echo "$SCENARIO: $v '${!v}' is not an executable (usage: $SCENARIO INQUEST LOADGEN MOCK_HTTP [WORKDIR])" >&2
        exit 2
    fi
done
export INQUEST LOADGEN MOCK_HTTP
OWN_WORK=0
if [[ -z "$WORK" ]]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/inquest-$SCENARIO.XXXXXX")
    OWN_WORK=1
else
    rm -rf "$WORK" # a kept folder of an earlier run must not leak into this one
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
FAILED=0
T0=$SECONDS

say() { printf '%s [%3ds]: %s\n' "$SCENARIO" $((SECONDS - T0)) "$*" >&2; }

# Records a failed assertion; the scenario goes on, and exits 1 at the end.
fail() {
    say "FAIL: $*"
    FAILED=1
}

# Ends the scenario at once (set-up went wrong, or what follows makes no sense).
die() {
    say "FAIL: $*"
    FAILED=1
    exit 1
}

on_exit() {
    local rc=$? f
    if ((rc != 0 || FAILED)); then
        for f in "$WORK"/stack/*.log "$WORK"/stack/redis/redis.log; do
            [[ -s "$f" ]] || continue
            printf '\n---- %s (last 15 lines) ----\n' "$f" >&2
            tail -n 15 "$f" >&2
        done
    fi
    [[ -n "${SAMPLER:-}" ]] && kill "$SAMPLER" 2>/dev/null
    "$STACK" stop "$WORK/stack" >/dev/null 2>&1 || true
    if ((rc == 0 && FAILED == 0)); then
        say "PASS ($((SECONDS - T0)) s)"
        # A folder we made goes; in one we were given, only the stack's data (Redis' AOF).
        if [[ -z "${KEEP:-}" ]]; then
            if ((OWN_WORK)); then rm -rf "$WORK"; else rm -rf "$WORK/stack"; fi
        fi
        exit 0
    fi
    say "FAILED ($((SECONDS - T0)) s); the work folder is kept: $WORK"
    exit 1
}
trap on_exit EXIT

# Starts the service in WORK/stack with the stack options given; sets API_URL, REDIS_PORT, PREFIX.
stack_start() {
    "$STACK" start "$WORK/stack" --inquest "$INQUEST" --mock "$MOCK_HTTP" "$@" ||
        die "the stack did not start"
    # shellcheck disable=SC1091
    . "$WORK/stack/env"
    export API_URL REDIS_URL REDIS_PORT PREFIX
}

# loadgen MODE ARGS... with --url, its summary in WORK/NAME.json; fails the scenario (and prints
# the summary's failures) when loadgen's checks fail. NAME is the first argument.
lg() {
    local name=$1 mode=$2 rc=0
    shift 2
    "$LOADGEN" "$mode" --url "$API_URL" "$@" >"$WORK/$name.json" || rc=$?
    say "$name: $(jq -c 'del(.failures) | del(.cases)' "$WORK/$name.json" 2>/dev/null || cat "$WORK/$name.json")"
    if ((rc != 0)); then
        fail "$name: loadgen $mode: $(jq -c .failures "$WORK/$name.json" 2>/dev/null || echo "exit $rc")"
    fi
    return 0
}

# The value of jq expression 'expr' in WORK/NAME.json.
val() { jq -r "$2" "$WORK/$1.json"; }

# Asserts that the jq expression 'expr' holds on WORK/NAME.json; 'what' says what it means.
check() {
    local name=$1 expr=$2 what=$3
    if [[ "$(jq -r "$expr" "$WORK/$name.json" 2>/dev/null)" == true ]]; then
        say "ok: $what"
    else
        fail "$what ($expr on $name.json)"
    fi
}

# Field 'field' of analysis 'id''s status hash in Redis.
analysis_field() {
    redis-cli -p "$REDIS_PORT" HGET "{$PREFIX}:a:$1" "$2"
}

# The /metrics value of series 'name' (its exact text, labels included).
metric() {
    curl -s --max-time 5 "$API_URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

# Peak and current resident memory of 'pid', in KiB: "HWM RSS" (0 0 when it is gone).
memory_kib() {
    awk '/^VmHWM:/ { h = $2 } /^VmRSS:/ { r = $2 } END { print h + 0, r + 0 }' "/proc/$1/status" 2>/dev/null || echo "0 0"
}

# CPU seconds (user + system) 'pid' has used.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# Waits up to 'seconds' for command 'cmd...' to succeed; false when it never did.
wait_for() {
    local seconds=$1 deadline
    shift
    deadline=$(($(date +%s%N) + seconds * 1000000000))
    until "$@"; do
        (($(date +%s%N) < deadline)) || return 1
        sleep 0.05
    done
}

# The pid of a process of the stack by its name in WORK/stack/pids (serve, worker.1, mock_http).
stack_pid() {
    awk -v n="$1" '$2 == n { print $1 }' "$WORK/stack/pids"
}

# How many requests mock_http has seen with ?key='key' (svc.slow's input 'key' puts it on its
# call), 0 when it cannot be read: an analysis' call has reached mock_http once this counts it.
mock_count() {
    local n
    n=$(curl -s --max-time 5 "$MOCK_URL/count/$1" | jq -r .count 2>/dev/null) || true
    if [[ "$n" =~ ^[0-9]+$ ]]; then echo "$n"; else echo 0; fi
}

# For each id in file 'ids': "ID N", N the lines of the results stream of queue prefix 'prefix'
# that name it. An analysis is published there once, as it becomes final, as a line "id status ms
# analyzer" of the entry of the call that made it final (docs/queue.md): N is 1 for an analysis
# with exactly one result; a second accepted completion would add another.
results_per_id() {
    redis-cli -p "$REDIS_PORT" XRANGE "{$1}:results" - + |
        awk 'NR == FNR { n[$1] = 0; next } NF >= 3 && ($1 in n) { n[$1]++ }
             END { for (i in n) print i, n[i] }' "$2" -
}
