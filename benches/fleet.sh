#!/usr/bin/env bash
# A fleet of hubcache nodes against independent nodes and one node, on loopback (issue 14).
#
# Starts, in a temp dir, the HF-like ORIGIN of benches/load.sh (nginx; its access log counts
# body fetches) with FILES files of SIZE, then three runs, each from empty caches:
#   fleet        3 nodes with `fleet:` (same peers list, itself included, and secret; own
#                cache, state and metrics port), once every node's metrics show
#                hubcache_fleet_nodes{state="up"} 3
#   independent  the same 3 nodes without `fleet:` (three islands)
#   one node     1 node
# Each run makes a cold pass, then a warm pass, of the same client load: every file once
# through each of 3 node slots (FILES x 3 downloads; job k gets file k % FILES through slot
# (k % FILES + k / FILES) % 3, so the slots take turns and each slot gets each file once; with
# one node every slot is that node), PARALLEL curl at a time. Per pass: origin body fetches
# and aggregate throughput (bytes delivered / wall time of the pass). Every body's status,
# length and sha256 are checked (the clients hash while they download).
# Exits non-zero when a transfer fails or a body is wrong, and when the origin body fetches are
# not FILES (fleet, one node) and 3 x FILES (independent) cold, and 0 warm.
#
# Usage: benches/fleet.sh [--smoke] [--out FILE] [--bin PATH] [--files N] [--size MIB]
#                         [--parallel P] [--max-time S] [--keep]
#   --smoke       8 files of 2 MiB, the test-suite mode (well under 60 s). Default: 8 x 64 MiB.
#   --out FILE    also write the report to FILE
#   --bin PATH    the hubcache binary (default: `cargo build --release`, then its binary)
#   --files N     number of files (default 8)     --size MIB  size of each (default 64; smoke 2)
#   --parallel P  downloads at a time (default 12)
#   --max-time S  hard limit for the whole run (default 900; smoke 120)
#   --keep        keep the temp dir (logs, configs); it is also kept (without the large files)
#                 when the run fails
# Environment: NGINX (default /usr/sbin/nginx), TMPDIR.
#
# Only loopback addresses are used; only processes this script started are stopped (by pid).

set -euo pipefail

SMOKE=0 OUT="" BIN="" FILES=8 SIZE_MIB="" PARALLEL=12 MAX_TIME="" KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --out) OUT=${2:?--out needs a file}; shift ;;
        --bin) BIN=${2:?--bin needs a path}; shift ;;
        --files) FILES=${2:?}; shift ;;
        --size) SIZE_MIB=${2:?}; shift ;;
        --parallel) PARALLEL=${2:?}; shift ;;
        --max-time) MAX_TIME=${2:?}; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "fleet.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NGINX=${NGINX:-/usr/sbin/nginx}
MIB=1048576
if [ "$SMOKE" = 1 ]; then
    SIZE_MIB=${SIZE_MIB:-2} MAX_TIME=${MAX_TIME:-120} CURL_MAX=60
else
    SIZE_MIB=${SIZE_MIB:-64} MAX_TIME=${MAX_TIME:-900} CURL_MAX=300
fi
FILE_SIZE=$((SIZE_MIB * MIB)) SLOTS=3
ORG=bench-org REPO=bench-model COMMIT=5f1b0c3a9e7d2b4c6a8e0f1d3b5c7e9a1b3d5f70

source "$ROOT/benches/lib.sh"
bench_env
CURL=(curl -sS --noproxy '*' --max-time "$CURL_MAX")
# The clients hash what they receive: openssl uses the CPU's SHA extensions (~4x coreutils'
# sha256sum here), so hashing takes less of the CPU the nodes share.
HASH=(sha256sum); command -v openssl >/dev/null 2>&1 && HASH=(openssl dgst -sha256 -r)

T="" STARTED_PIDS=() WATCHDOG_PID="" NODE_PIDS=() NODE_PORTS=() METRICS_PORTS=()
declare -A SIZE SHA LABEL R

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    stop_watchdog
    for p in "${STARTED_PIDS[@]}"; do alive "$p" && kill -s KILL "$p" 2>/dev/null || true; done
    for p in "${NODE_PIDS[@]}"; do stop_pid "$p" INT 10; done
    [ -n "${ORIGIN_PID:-}" ] && stop_nginx "$ORIGIN_PID"
    keep_tmp $rc
    exit $rc
}
trap cleanup EXIT
trap 'die "interrupted"' INT TERM

name_of() { printf 'shard-%02d.bin' "$1"; }

# ---- nodes -----------------------------------------------------------------------------------

# ports N: N free loopback ports, distinct from each other and from the origin's.
ports() {
    local out=() p
    while [ ${#out[@]} -lt "$1" ]; do
        p=$(free_port)
        [[ " ${out[*]} $ORIGIN_PORT " == *" $p "* ]] || out+=("$p")
    done
    echo "${out[@]}"
}

metrics_of() { "${CURL[@]}" --max-time 5 "http://127.0.0.1:${METRICS_PORTS[$1]}/metrics"; }

# start_nodes RUN N FLEET: N nodes (FLEET=1: with `fleet:` over all of them), fresh dirs.
start_nodes() {
    local run=$1 n=$2 fleet=$3 i peers="" extra="" secret deadline
    read -r -a NODE_PORTS <<<"$(ports "$n")"
    read -r -a METRICS_PORTS <<<"$(ports "$n")"
    for ((i = 0; i < n; i++)); do peers+="${peers:+, }\"127.0.0.1:${NODE_PORTS[$i]}\""; done
    secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')   # this run's; never printed
    NODE_PIDS=()
    for ((i = 0; i < n; i++)); do
        [ "$fleet" = 1 ] && extra="fleet:
  advertise: \"127.0.0.1:${NODE_PORTS[$i]}\"
  peers: [$peers]
  secret: \"$secret\""
        hub_conf "$T/$run/node$i" "${NODE_PORTS[$i]}" "\"127.0.0.1:${METRICS_PORTS[$i]}\"" "$extra"
        "$BIN" --config "$T/$run/node$i/hubcache.yaml" >>"$T/$run/node$i/stdout.log" 2>>"$T/$run/node$i/stderr.log" &
        NODE_PIDS+=($!)
    done
    for ((i = 0; i < n; i++)); do
        wait_http "http://127.0.0.1:${NODE_PORTS[$i]}/pulp/content/" 200 "${NODE_PIDS[$i]}" "$run node $i"
    done
    [ "$fleet" = 1 ] || return 0
    # Every node sees every node up (the ring's health checks run each second).
    for ((i = 0; i < n; i++)); do
        deadline=$((SECONDS + 30))
        until metrics_of "$i" | grep -qx "hubcache_fleet_nodes{state=\"up\"} $n"; do
            running "${NODE_PIDS[$i]}" || die "$run node $i exited during start-up (see $T/$run)"
            [ $SECONDS -lt $deadline ] || die "$run node $i does not see $n nodes up after 30 s"
            sleep 0.1
        done
    done
    log "$run: $n nodes up (ports ${NODE_PORTS[*]})"
}

stop_nodes() {
    local p
    for p in "${NODE_PIDS[@]}"; do stop_pid "$p" INT 10; done   # SIGINT: Pingora's fast shutdown
    NODE_PIDS=()
    rm -rf "$T/$1"/node*/cache
    sync -f "$T"   # the next run must not pay for this one's writeback
}

# Bytes sent to clients, summed over the running nodes, by source: "<cache> <upstream> <peer>".
# Printed with %.0f: mawk's %d stops at 2^31 - 1, so a counter past 2 GiB would read 2 GiB.
sources() {
    local i
    for ((i = 0; i < ${#NODE_PIDS[@]}; i++)); do metrics_of "$i"; done | awk '
        /^hubcache_response_bytes_total\{/ { for (s in b) if (index($1, "source=\"" s "\"")) b[s] += $2 }
        BEGIN { b["cache"] = 0; b["upstream"] = 0; b["peer"] = 0 }
        END { printf "%.0f %.0f %.0f\n", b["cache"], b["upstream"], b["peer"] }'
}

# ---- the client load -------------------------------------------------------------------------

# get_job DIR K N: download job K (see the header) through node slot % N; writes DIR/K.job
# ("<file> <node>"), DIR/K.err (curl's errors and "RESULT <status> <bytes>"), DIR/K.sha.
get_job() {
    local d=$1 k=$2 f=$(($2 % FILES)) node
    node=$(( (f + k / FILES) % SLOTS % $3 ))
    echo "$(name_of "$f") $node" >"$d/$k.job"
    ( set -o pipefail
      "${CURL[@]}" -o - -w '%{stderr}RESULT %{http_code} %{size_download}\n' \
          "http://127.0.0.1:${NODE_PORTS[$node]}/pulp/content/bench$(file_path "$(name_of "$f")")" 2>"$d/$k.err" \
          | "${HASH[@]}" | cut -d' ' -f1 >"$d/$k.sha" ) || true
}

# run_pass RUN PASS N: the client load over N nodes; records RUN.PASS.{mibs,fetches,secs,src}.
run_pass() {
    local run=$1 pass=$2 n=$3 d=$T/dl/$1.$2 jobs=$((FILES * SLOTS)) w k pids=() from t0 t1 name node res
    local fetches=0 c s0 s1
    mkdir -p "$d"
    origin_idle; from=$(origin_lines); s0=$(sources)
    t0=$EPOCHREALTIME
    for ((w = 0; w < PARALLEL && w < jobs; w++)); do
        ( for ((k = w; k < jobs; k += PARALLEL)); do get_job "$d" "$k" "$n"; done ) &
        pids+=($!); STARTED_PIDS+=($!)
    done
    for w in "${pids[@]}"; do wait "$w" || true; done
    t1=$EPOCHREALTIME
    STARTED_PIDS=()
    for ((k = 0; k < jobs; k++)); do
        read -r name node <"$d/$k.job"
        res=$(sed -n 's/^RESULT //p' "$d/$k.err")
        [ "$res" = "200 ${SIZE[$name]}" ] || die "$run $pass: GET $name via node $node: '$res' (want '200 ${SIZE[$name]}'): $(grep -v '^RESULT' "$d/$k.err" || true)"
        [ "$(cat "$d/$k.sha")" = "${SHA[$name]}" ] || die "$run $pass: GET $name via node $node: sha256 mismatch"
    done
    origin_idle
    for ((k = 0; k < FILES; k++)); do
        read -r c _ <<<"$(origin_fetches "$from" "$(name_of "$k")")"; fetches=$((fetches + c))
    done
    s1=$(sources)
    R[$run.$pass.fetches]=$fetches
    R[$run.$pass.secs]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
    R[$run.$pass.mibs]=$(awk -v n="$jobs" -v s="$FILE_SIZE" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n*s/(b-a)/1048576}')
    R[$run.$pass.src]=$(awk -v a="$s0" -v b="$s1" 'BEGIN{split(a, x); split(b, y)
        printf "%.0f %.0f %.0f", (y[1]-x[1])/1048576, (y[2]-x[2])/1048576, (y[3]-x[3])/1048576}')
    log "$run $pass: $jobs bodies checked in ${R[$run.$pass.secs]} s, ${R[$run.$pass.mibs]} MiB/s; origin body fetches $fetches"
    rm -rf "$d"
    sync -f "$T"
}

# bench RUN N FLEET WANT: start, cold pass, warm pass, stop; WANT = cold origin fetches due.
FAILS=()
bench() {
    start_nodes "$1" "$2" "$3"
    run_pass "$1" cold "$2"
    run_pass "$1" warm "$2"
    stop_nodes "$1"
    [ "${R[$1.cold.fetches]}" = "$4" ] || FAILS+=("$1: $4 origin body fetches due cold, saw ${R[$1.cold.fetches]}")
    [ "${R[$1.warm.fetches]}" = 0 ] || FAILS+=("$1: no origin body fetch due warm, saw ${R[$1.warm.fetches]}")
}

# ---- the run ---------------------------------------------------------------------------------

START=$SECONDS LOAD0=$(cut -d' ' -f1 /proc/loadavg)
for c in "$NGINX" curl sha256sum awk od; do command -v "$c" >/dev/null || die "missing: $c"; done
BIN=$(bench_bin "$ROOT" "$BIN")

T=$(mktemp -d "${TMPDIR:-/tmp}/hubcache-fleet.XXXXXX")
need=$(( FILES * FILE_SIZE * 5 / 1024 ))
avail=$(df -Pk "$T" | awk 'NR==2{print $4}')
[ "$avail" -gt "$need" ] || die "need ~$((need / 1024)) MiB free in $T, have $((avail / 1024)) MiB"
start_watchdog "$MAX_TIME"

log "temp dir $T; hubcache $BIN; $FILES files of $SIZE_MIB MiB; $PARALLEL downloads at a time"
names=()
for ((k = 0; k < FILES; k++)); do make_file "$(name_of "$k")" "$FILE_SIZE" $((k + 1)); names+=("$(name_of "$k")"); done
ORIGIN_PORT=$(free_port)
start_origin "${names[@]}"
log "origin :$ORIGIN_PORT (pid $ORIGIN_PID)"

bench fleet 3 1 "$FILES"
bench independent 3 0 $((3 * FILES))
bench one 1 0 "$FILES"

# ---- report ----------------------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0==0) print "-"; else printf "%.2f", a/b }'; }
report() {
    local run label
    echo "hubcache fleet benchmark ($([ "$SMOKE" = 1 ] && echo smoke || echo full) mode): $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo); hubcache $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty') ($BIN)"
    echo "load average (1 min) at start $LOAD0, at end $(cut -d' ' -f1 /proc/loadavg): the nodes, the origin and the clients share these CPUs"
    echo "$FILES files of $(human "$FILE_SIZE"); each pass: $((FILES * SLOTS)) downloads ($(human $((FILES * SLOTS * FILE_SIZE)))), $PARALLEL at a time, sha256 of every body (${HASH[*]})"
    echo
    echo "| run | nodes | origin body fetches, cold (warm) | cold aggregate MiB/s | warm aggregate MiB/s |"
    echo "|---|---:|---:|---:|---:|"
    for run in fleet independent one; do
        label=$run; [ $run = one ] && label="one node"
        printf '| %s | %s | %s (%s) | %s | %s |\n' "$label" "$([ $run = one ] && echo 1 || echo 3)" \
            "${R[$run.cold.fetches]}" "${R[$run.warm.fetches]}" "${R[$run.cold.mibs]}" "${R[$run.warm.mibs]}"
    done
    for run in fleet independent; do
        printf '| %s / one node | | | %s | %s |\n' "$run" \
            "$(ratio "${R[$run.cold.mibs]}" "${R[one.cold.mibs]}")" "$(ratio "${R[$run.warm.mibs]}" "${R[one.warm.mibs]}")"
    done
    echo
    echo "bytes sent by the nodes, MiB, summed over the nodes (an owner's answers to peers count as its cache/upstream bytes):"
    echo
    echo "| run, pass | seconds | cache | upstream | peer |"
    echo "|---|---:|---:|---:|---:|"
    for run in fleet independent one; do
        for pass in cold warm; do
            read -r c u p <<<"${R[$run.$pass.src]}"
            printf '| %s %s | %s | %s | %s | %s |\n' "$run" "$pass" "${R[$run.$pass.secs]}" "$c" "$u" "$p"
        done
    done
    echo
    if [ ${#FAILS[@]} -gt 0 ]; then echo "FAILED:"; printf '  - %s\n' "${FAILS[@]}"
    else echo "origin body fetches as due (fleet $FILES, independent $((3 * FILES)), one node $FILES; 0 warm)"; fi
    echo "all $((FILES * SLOTS * 6)) bodies checked (status, length, sha256); run took $((SECONDS - START)) s"
}
report | tee ${OUT:+"$OUT"}
[ ${#FAILS[@]} = 0 ] || die "origin body fetches not as due"
