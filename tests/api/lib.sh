# shellcheck shell=bash
# tests/api/lib.sh -- what the API scenarios share (sourced, not run), on top of
# tests/reliability/lib.sh (arguments, the stack in WORK/stack, fail/die/say/check/metric/wait_for):
# HTTP requests whose status, headers and body are kept for asserts, configs of our own (tokens,
# analyzer folders, leases) and `inquest serve` / `inquest worker` processes started from them.
# Every scenario script is run as
#
#   SCENARIO INQUEST LOADGEN MOCK_HTTP [WORKDIR]
#
# prints what it checked, and exits 0 when every assertion held, 1 when one failed (with the
# logs' tails), 2 on a usage or set-up error.
#
# Processes of our own are started by 'own_launch' with their output in WORK/own/NAME.log and
# their pid in WORK/own/pids; the exit trap stops exactly those pids, then the stack.

# shellcheck source=tests/reliability/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../reliability/lib.sh"

SVC_ANALYZERS=$ROOT/tests/service/analyzers
OWN=$WORK/own
mkdir -p "$OWN"
# Worker children drop to `nobody` when started as root: what they read must be readable by it.
chmod 755 "$WORK" "$OWN"
: >"$OWN/pids"

# ---- processes of our own -------------------------------------------------------------------

# True while process 'pid' runs (not a zombie).
own_alive() {
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# Starts 'command...' in the background as NAME (stdio detached: ctest waits for its pipes),
# output appended to WORK/own/NAME.log, pid recorded in WORK/own/pids. Sets STARTED.
own_launch() {
    local name=$1
    shift
    "$@" </dev/null >>"$OWN/$name.log" 2>&1 &
    STARTED=$!
    echo "$STARTED $name" >>"$OWN/pids"
}

# The pid of our process NAME (the last one started under that name).
own_pid() {
    awk -v n="$1" '$2 == n { p = $1 } END { if (p) print p }' "$OWN/pids"
}

# The children of process 'pid' (for a worker supervisor: its worker children).
own_children() {
    pgrep -P "$1" 2>/dev/null || true
}

# Waits up to 'seconds' for process 'pid' (a child of this shell) to exit; sets OWN_RC to its
# exit status (124 when it did not exit in time).
own_wait_exit() {
    local pid=$1 seconds=$2 deadline
    deadline=$((SECONDS + seconds))
    while own_alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    if own_alive "$pid"; then
        OWN_RC=124
        return 0
    fi
    OWN_RC=0
    { wait "$pid"; } 2>/dev/null || OWN_RC=$?
}

# Stops our process NAME: SIGTERM (or 'signal'), then SIGKILL after 20 s; also its children.
own_stop() {
    local name=$1 signal=${2:-TERM} pid kids
    pid=$(own_pid "$name")
    [[ -n "$pid" ]] && own_alive "$pid" || return 0
    kids=$(own_children "$pid")
    kill "-$signal" "$pid" 2>/dev/null || true
    own_wait_exit "$pid" 20
    if ((OWN_RC == 124)); then
        kill -KILL "$pid" 2>/dev/null || true
        own_wait_exit "$pid" 5
    fi
    for pid in $kids; do own_alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
    return 0
}

# Every process of ours still running: SIGTERM (serve and the supervisors drain), SIGKILL to
# what is left after 10 s, worker children included; then reaps them, quietly.
own_stop_all() {
    local pid name kid pids="" deadline
    [[ -s "$OWN/pids" ]] || return 0
    while read -r pid name; do
        own_alive "$pid" && pids+=" $pid"
    done <"$OWN/pids"
    [[ -n "$pids" ]] || return 0
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
    deadline=$((SECONDS + 10))
    for pid in $pids; do
        while own_alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
        if own_alive "$pid"; then
            for kid in $(own_children "$pid"); do kill -KILL "$kid" 2>/dev/null; done
            kill -KILL "$pid" 2>/dev/null
        fi
        { wait "$pid"; } 2>/dev/null
    done
    return 0
}

api_on_exit() {
    local rc=$? f
    set +e # '(exit rc)' below must not end the trap
    own_stop_all
    if ((rc != 0 || FAILED)); then
        for f in "$OWN"/*.log; do
            [[ -s "$f" ]] || continue
            printf '\n---- %s (last 15 lines) ----\n' "$f" >&2
            tail -n 15 "$f" >&2
        done
    fi
    (exit "$rc")
    on_exit
}
trap api_on_exit EXIT

# ---- configs and our own serve and workers ---------------------------------------------------

# Writes a config to FILE for the stack's Redis and mock_http with a fresh key prefix (nothing of
# the stack's own serve and workers is seen), then appends 'extra' (YAML text: tokens, ...).
# Settings from the environment: ANALYZERS (YAML list, default the service's test analyzers),
# LEASE (2s), MAX_DELIVERIES (3), PROCESSES (1), CONCURRENCY (64). Sets OWN_PREFIX (kept when set).
write_config() {
    local file=$1 extra=${2:-} user=""
    ((EUID == 0)) && user=", user: nobody"
    OWN_PREFIX=${OWN_PREFIX:-api$(date +%s)$RANDOM} # one per scenario: a rewritten config keeps it
    # shellcheck disable=SC2016 # YAML quotes, not shell
    cat >"$file" <<EOF
# Written by tests/api/$SCENARIO.
analyzers: ${ANALYZERS:-['$SVC_ANALYZERS']}
redis: { url: "$REDIS_URL" }
queue: { prefix: $OWN_PREFIX, lease: ${LEASE:-2s}, max_deliveries: ${MAX_DELIVERIES:-3} }
worker: { processes: ${PROCESSES:-1}, concurrency: ${CONCURRENCY:-64}$user }
connectors:
  mock: { type: http, url: "$MOCK_URL", concurrency: 1024, timeout: 120s }
$extra
EOF
    chmod 644 "$file"
}

# Starts `inquest serve --config FILE` as NAME on a free port and waits until /readyz is 200.
# Sets URL (and NAME's pid in WORK/own/pids).
own_serve() {
    local name=$1 config=$2 port="" deadline pid
    shift 2
    : >"$OWN/$name.log"
    own_launch "$name" "$INQUEST" serve --config "$config" --listen 127.0.0.1:0 "$@"
    pid=$STARTED
    deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        own_alive "$pid" || die "$name: inquest serve exited during start-up: $(tail -n 3 "$OWN/$name.log")"
        [[ -n "$port" ]] || port=$(grep -m1 '"msg":"listening"' "$OWN/$name.log" | sed -n 's/.*"port":\([0-9]*\).*/\1/p' || true)
        if [[ -n "$port" && $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz") == 200 ]]; then
            URL=http://127.0.0.1:$port
            return 0
        fi
        sleep 0.05
    done
    die "$name: inquest serve was not ready within 20 s"
}

# Starts `inquest worker --config FILE` as NAME and waits until its 'n' children (default 1) say
# they are ready.
own_worker() {
    local name=$1 config=$2 n=${3:-1} deadline ready
    : >"$OWN/$name.log"
    own_launch "$name" "$INQUEST" worker --config "$config"
    deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        ready=$(grep -c '"worker child ready"' "$OWN/$name.log" || true)
        ((ready >= n)) && return 0
        own_alive "$STARTED" || die "$name: inquest worker exited during start-up: $(tail -n 3 "$OWN/$name.log")"
        sleep 0.05
    done
    die "$name: the worker's children were not ready within 20 s"
}

# ---- HTTP ------------------------------------------------------------------------------------

# req NAME METHOD PATH [BODY] [CURL_ARGS...]: sends one request to $URL (default $API_URL) with
# $TOKEN as a bearer token when set. The body of the answer goes to WORK/NAME.json, its headers
# to WORK/NAME.hdr; sets CODE (the status, 000 when there was no answer) and TIME (seconds).
req() {
    local name=$1 method=$2 path=$3 body=${4-} out
    shift 3
    (($#)) && shift
    local args=(-s -o "$WORK/$name.json" -D "$WORK/$name.hdr" -w '%{http_code} %{time_total}'
        -X "$method" --max-time 75)
    [[ "$method" == HEAD ]] && args=(-s -I -o "$WORK/$name.json" -D "$WORK/$name.hdr" -w '%{http_code} %{time_total}' --max-time 75)
    [[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    [[ -n "${TOKEN:-}" ]] && args+=(-H "Authorization: Bearer $TOKEN")
    out=$(curl "${args[@]}" "$@" "${URL:-$API_URL}$path" 2>/dev/null) || true
    CODE=${out%% *}
    # shellcheck disable=SC2034 # for the scenarios
    TIME=${out##* }
    [[ -n "$CODE" ]] || CODE=000
}

# The value of header 'header' in the answer NAME (case-insensitive name; "" when absent).
header() {
    awk -v h="$(tr '[:upper:]' '[:lower:]' <<<"$2")" -F': ' '
        { k = tolower($1) } k == h { sub(/^[^:]*: /, ""); sub(/\r$/, ""); print; exit }' "$WORK/$1.hdr"
}

# Asserts that the last answer (CODE) is 'want'; 'what' says what it means. Prints the body on
# a failure.
expect_code() {
    local name=$1 want=$2 what=$3
    if [[ "$CODE" == "$want" ]]; then
        say "ok: $what ($CODE)"
    else
        fail "$what: expected $want, got $CODE: $(head -c 400 "$WORK/$name.json" 2>/dev/null)"
    fi
}

# Both: the status is 'want' and the jq expression 'expr' holds on the body.
expect() {
    local name=$1 want=$2 expr=$3 what=$4
    if [[ "$CODE" != "$want" ]]; then
        fail "$what: expected $want, got $CODE: $(head -c 400 "$WORK/$name.json" 2>/dev/null)"
    elif [[ "$(jq -r "$expr" "$WORK/$name.json" 2>/dev/null)" != true ]]; then
        fail "$what: $expr does not hold on $(head -c 600 "$WORK/$name.json")"
    else
        say "ok: $what"
    fi
}

# Asserts a condition given as a command: 'what' then 'command...'.
assert() {
    local what=$1
    shift
    if "$@"; then say "ok: $what"; else fail "$what"; fi
}

# The /metrics value of series 'series' (exact text, labels included) from $URL ($API_URL).
own_metric() {
    curl -s --max-time 5 "${URL:-$API_URL}/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

# Submits one analysis ('body' JSON) and prints its id; false (and why, on stderr) when it was
# refused. Run in $(...), it cannot set CODE for the caller.
submit_id() {
    req submit_id POST /v1/analyses "$1"
    if [[ "$CODE" != 202 ]]; then
        say "submit refused: $CODE $(head -c 300 "$WORK/submit_id.json")"
        return 1
    fi
    jq -r .id "$WORK/submit_id.json"
}

# The status of analysis 'id' now ("" when it cannot be read).
status_of() {
    req status_of GET "/v1/analyses/$1"
    [[ "$CODE" == 200 ]] && jq -r .status "$WORK/status_of.json"
}

# True when analysis 'id' has status 'want' now.
has_status() { [[ "$(status_of "$1")" == "$2" ]]; }

# A jq function: an RFC 3339 UTC time with or without a fraction ("…:05Z", "…:05.1Z",
# "…:05.123Z") as milliseconds since the epoch. The fraction's width varies, so the texts
# themselves do not sort.
# shellcheck disable=SC2034 # for the scenarios
JQ_MS='def ms: capture("^(?<s>[^.Z]+)(\\.(?<f>[0-9]+))?Z$") | ((.s + "Z" | fromdate) * 1000 + (((.f // "") + "000")[0:3] | tonumber));'

# Floating-point comparison: true when 'a' OP 'b' (awk syntax: <, <=, >, >=, ==).
num() { awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"; }
