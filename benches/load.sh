#!/usr/bin/env bash
# hubcache vs nginx proxy_cache, side by side on loopback (issue 6).
#
# Starts, in a temp dir: an HF-like ORIGIN (nginx serving /<org>/<repo>/resolve/<commit>/<file>
# with X-Repo-Commit, X-Linked-Etag: "<sha256>", X-Linked-Size, Accept-Ranges), nginx
# proxy_cache in front of it, and hubcache in front of it; then measures both proxies in
# alternation, ROUNDS rounds, and prints medians and the ratio hubcache / nginx:
#   a) cached small file: requests/s and p99 latency, wrk -t2 -c64
#   b) cached large file: throughput, 1 and 4 parallel streams
#   c) cold large file: throughput, against fetching it from the origin directly
#   d) 32 concurrent cold requests for one mid-size file: origin body fetches
#   e) peak RSS while serving 4 x the large file in parallel
#   f) cold file from an origin capped per connection (nginx `limit_rate`, as the Hub's CDN),
#      hubcache with `download_concurrency: 8` (issue 15): throughput against one direct
#      connection and against nginx, origin bytes / file size, time to first byte, proxy CPU
#      seconds per GiB (cold fill; cached hits, 4 streams) and peak RSS after the cold fill
# (d is the worst round, not the median), plus each proxy's CPU use during a, b and c.
# Exits non-zero when a transfer fails, a status or length is wrong, or a body's sha256 is
# wrong (every case checks at least one whole body). Targets are reported, not enforced.
#
# Usage: benches/load.sh [--smoke] [--out FILE] [--bin PATH] [--rounds N] [--duration S]
#                        [--only CASES] [--max-time S] [--keep]
#   --smoke       1 KiB / 4 MiB / 16 MiB files, f: 64 MiB at 40 MiB/s per connection, 1 round,
#                 1 s wrk runs: the test-suite mode (whole run well under 60 s). Default:
#                 1 KiB / 64 MiB / 1 GiB, f: 1 GiB at 50 MiB/s per connection, 3 rounds, 8 s
#                 (about 7-8 min on 2 CPUs, f half of it).
#   --out FILE    also write the report (table and raw samples) to FILE
#   --bin PATH    the hubcache binary to run (default: `cargo build --release`, then
#                 target/release/hubcache; the test suite passes its debug build)
#   --rounds N    rounds (default 3; smoke 1)
#   --duration S  seconds per wrk run (default 8; smoke 1)
#   --max-time S  hard limit for the whole run (default 900; smoke 120)
#   --only CASES  run only these cases, e.g. `--only c` or `--only ab` (for profiling); the
#                 default is all, abcdef
#   --keep        keep the temp dir (logs, configs) for inspection; it is also kept (without
#                 the large files) when the run fails
# Environment: NGINX (default /usr/sbin/nginx), WRK (default wrk), TMPDIR.
#
# Only loopback addresses are used; only processes this script started are stopped (by pid).

set -euo pipefail

SMOKE=0 OUT="" BIN="" ROUNDS="" DURATION="" MAX_TIME="" KEEP=0 ONLY=abcdef
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --out) OUT=${2:?--out needs a file}; shift ;;
        --bin) BIN=${2:?--bin needs a path}; shift ;;
        --rounds) ROUNDS=${2:?}; shift ;;
        --duration) DURATION=${2:?}; shift ;;
        --max-time) MAX_TIME=${2:?}; shift ;;
        --only) ONLY=${2:?}; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "load.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

[[ $ONLY =~ ^[a-f]+$ ]] || { echo "load.sh: --only takes letters a to f" >&2; exit 2; }
want() { [[ $ONLY == *$1* ]]; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NGINX=${NGINX:-/usr/sbin/nginx}
WRK=${WRK:-wrk}
MIB=1048576
if [ "$SMOKE" = 1 ]; then
    SMALL_SIZE=1024 MID_SIZE=$((4 * MIB)) BIG_SIZE=$((16 * MIB)) CAP_SIZE=$((64 * MIB)) CAP_RATE=40m
    ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-1} MAX_TIME=${MAX_TIME:-120} CURL_MAX=60
else
    SMALL_SIZE=1024 MID_SIZE=$((64 * MIB)) BIG_SIZE=$((1024 * MIB)) CAP_SIZE=$((1024 * MIB)) CAP_RATE=50m
    ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-8} MAX_TIME=${MAX_TIME:-900} CURL_MAX=300
fi
CONCURRENT=32     # d)
PARALLEL=4        # b) and e)
WRK_CONNS=64      # a)
CAP_CONCURRENCY=8 # f) hubcache's download_concurrency on the capped remote
ORG=bench-org REPO=bench-model COMMIT=5f1b0c3a9e7d2b4c6a8e0f1d3b5c7e9a1b3d5f70

source "$ROOT/benches/lib.sh"
bench_env
CURL=(curl -sS --noproxy '*' --max-time "$CURL_MAX")

T="" STARTED_PIDS=() WATCHDOG_PID=""
declare -A SIZE SHA LABEL

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_watchdog
    [ -n "${HUB_PID:-}" ] && stop_pid "$HUB_PID" INT 10
    [ -n "${PROXY_PID:-}" ] && stop_nginx "$PROXY_PID"
    [ -n "${ORIGIN_PID:-}" ] && stop_nginx "$ORIGIN_PID"
    for p in "${STARTED_PIDS[@]}"; do alive "$p" && kill -s KILL "$p" 2>/dev/null || true; done
    keep_tmp $rc
    exit $rc
}
trap cleanup EXIT
trap 'die "interrupted"' INT TERM

# ---- helpers ---------------------------------------------------------------------------------

url_of() { # TARGET NAME (capped.bin: through the capped origin, f)
    local o=$ORIGIN_PORT p=$PROXY_PORT b=bench
    [ "$2" != capped.bin ] || o=$ORIGIN_CAP_PORT p=$PROXY_CAP_PORT b=capped
    case "$1" in
        origin) echo "http://127.0.0.1:$o$(file_path "$2")" ;;
        nginx) echo "http://127.0.0.1:$p$(file_path "$2")" ;;
        hubcache) echo "http://127.0.0.1:$HUB_PORT/pulp/content/$b$(file_path "$2")" ;;
    esac
}

# ---- nginx proxy_cache -----------------------------------------------------------------------

# One server per origin: PROXY_PORT in front of ORIGIN_PORT, PROXY_CAP_PORT in front of the
# capped origin (f); one cache zone (the file names differ).
write_proxy_conf() {
    local d=$T/nginx up
    mkdir -p "$d/tmp" "$d/cache"
    {
        nginx_common "$d"
        echo "http {"
        nginx_http_common "$d"
        cat <<EOF
    log_format bench '\$request_method \$status \$body_bytes_sent \$uri \$upstream_cache_status';
    # sizes of the cache are generous: nothing may be evicted during the run
    proxy_cache_path $d/cache levels=1:2 keys_zone=bench:16m max_size=16g inactive=1d use_temp_path=off;
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 32; }
    upstream capped { server 127.0.0.1:$ORIGIN_CAP_PORT; keepalive 32; }
EOF
        for up in "origin $PROXY_PORT" "capped $PROXY_CAP_PORT"; do
            set -- $up
            cat <<EOF
    server {
        listen 127.0.0.1:$2;
        access_log $d/access.log bench;
        location = /__ready { return 204; }
        location / {
            proxy_pass http://$1;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_key \$uri;
            proxy_cache_valid 200 206 1d;
            proxy_cache_lock on;
            # the default 5 s would send waiting requests upstream, uncached, on a slow fill
            proxy_cache_lock_timeout 10m;
            proxy_cache_lock_age 10m;
            proxy_buffering on;
            # cacheable responses always go to the cache file, whatever this is; for the
            # others, buffer to disk rather than hold the origin to the client's pace
            proxy_max_temp_file_size 16384m;
        }
    }
EOF
        done
        echo "}"
    } >"$d/nginx.conf"
}

start_proxy() {
    local d=$T/nginx
    "$NGINX" -p "$d/" -e "$d/error.log" -c "$d/nginx.conf" -g 'daemon off;' >>"$d/stderr.log" 2>&1 &
    PROXY_PID=$!
    wait_http "http://127.0.0.1:$PROXY_PORT/__ready" 204 "$PROXY_PID" "nginx proxy"
}
stop_proxy() { stop_nginx "$PROXY_PID"; PROXY_PID=""; }
restart_proxy_cold() { stop_proxy; rm -rf "$T/nginx/cache"; mkdir -p "$T/nginx/cache"; start_proxy; }

# Graceful reload (SIGHUP): fresh workers (so their VmHWM covers what follows), same cache zone.
reload_proxy() {
    local old new deadline=$((SECONDS + 30)) k gone
    old=$(children_of "$PROXY_PID")
    kill -s HUP "$PROXY_PID"
    while :; do
        new=$(children_of "$PROXY_PID"); gone=1
        for k in $old; do grep -qx "$k" <<<"$new" && gone=0; done
        [ $gone = 1 ] && [ "$(wc -w <<<"$new")" -ge 2 ] && break
        [ $SECONDS -lt $deadline ] || die "nginx reload did not replace its workers in 30 s"
        sleep 0.02
    done
    wait_http "http://127.0.0.1:$PROXY_PORT/__ready" 204 "$PROXY_PID" "nginx proxy"
}

# ---- hubcache --------------------------------------------------------------------------------

write_hub_conf() { hub_conf "$T/hubcache" "$HUB_PORT" null; }

start_hub() {
    "$BIN" --config "$T/hubcache/hubcache.yaml" >>"$T/hubcache/stdout.log" 2>>"$T/hubcache/stderr.log" &
    HUB_PID=$!
    wait_http "http://127.0.0.1:$HUB_PORT/pulp/content/" 200 "$HUB_PID" "hubcache"
}
stop_hub() { stop_pid "$HUB_PID" INT 10; HUB_PID=""; }   # SIGINT: Pingora's fast shutdown
restart_hub() { stop_hub; start_hub; }
restart_hub_cold() { stop_hub; rm -rf "$T/hubcache/cache"; start_hub; }

restart_cold() { # TARGET
    case "$1" in
        hubcache) restart_hub_cold ;;
        nginx) restart_proxy_cold ;;
        origin) ;;
    esac
}

# ---- transfers -------------------------------------------------------------------------------

# wrk_run TARGET NAME: sets WRK_RPS and WRK_P99 (ms); fails on non-2xx or many errors.
wrk_run() {
    local target=$1 name=$2 out=$T/wrk.out errs reqs non2xx
    timeout $((DURATION + 30)) "$WRK" -t2 -c"$WRK_CONNS" -d"${DURATION}s" --timeout 5s --latency \
        "$(url_of "$target" "$name")" >"$out" 2>&1 || { cat "$out" >&2; die "$target: wrk failed"; }
    WRK_RPS=$(awk '/^Requests\/sec:/{print $2}' "$out")
    WRK_P99=$(awk '$1=="99%"{v=$2; u=v; sub(/[0-9.]+/,"",u); sub(/[a-z]+$/,"",v);
        f=(u=="us")?0.001:(u=="ms")?1:(u=="s")?1000:(u=="m")?60000:-1; printf "%.3f", v*f}' "$out")
    reqs=$(awk '/requests in/{print $1}' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$out")
    errs=$(awk '/Socket errors:/{gsub(/,/,""); print $4+$6+$8+$10}' "$out")
    [ -n "$WRK_RPS" ] && [ -n "$WRK_P99" ] && [ -n "$reqs" ] || { cat "$out" >&2; die "$target: cannot read wrk output"; }
    [ "${non2xx:-0}" = 0 ] || { cat "$out" >&2; die "$target: wrk saw $non2xx non-2xx responses"; }
    [ $(( ${errs:-0} * 1000 )) -le "$reqs" ] || { cat "$out" >&2; die "$target: wrk saw $errs socket errors"; }
    [ "${errs:-0}" = 0 ] || log "$target: wrk socket errors: $errs of $reqs requests"
}

CLK_TCK=$(getconf CLK_TCK)
per_gib() { awk -v c="$1" -v n="$2" -v s="${SIZE[capped.bin]}" 'BEGIN{printf "%.2f", c/(n*s/1073741824)}'; } # CPU_S COPIES
pid_of() { case "$1" in hubcache) echo "$HUB_PID" ;; nginx) echo "$PROXY_PID" ;; origin) echo "$ORIGIN_PID" ;; esac; }
# cpu_begin TARGET ... cpu_end TARGET KEY: records KEY = the target's CPU use in between, in
# cores (1.00 = one core busy all the time); sets CPU_S, the CPU seconds in between.
cpu_begin() { CPU_T0=$EPOCHREALTIME; CPU_C0=$(cpu_ticks "$(pid_of "$1")"); }
cpu_end() {
    local c1 t1=$EPOCHREALTIME; c1=$(cpu_ticks "$(pid_of "$1")")
    CPU_S=$(awk -v c="$((c1 - CPU_C0))" -v hz="$CLK_TCK" 'BEGIN{printf "%.3f", c/hz}')
    add "$2" "$(awk -v c="$((c1 - CPU_C0))" -v hz="$CLK_TCK" -v a="$CPU_T0" -v b="$t1" 'BEGIN{printf "%.2f", c/hz/(b-a)}')"
}


# ---- results ---------------------------------------------------------------------------------

declare -A R   # R[key] = space-separated samples, one per round
add() { R[$1]="${R[$1]:-}${R[$1]:+ }$2"; log "  $1 = $2"; }
med() { [ -n "${R[$1]:-}" ] || { echo nan; return; }; median ${R[$1]}; }
worst() { [ -n "${R[$1]:-}" ] || { echo nan; return; }; printf '%s\n' ${R[$1]} | sort -g | tail -1; }
NOTES=()
note() { NOTES+=("$*"); log "NOTE: $*"; }

# ---- the run ---------------------------------------------------------------------------------

START=$SECONDS LOAD0=$(cut -d' ' -f1 /proc/loadavg)
for c in "$NGINX" curl sha256sum awk timeout; do command -v "$c" >/dev/null || die "missing: $c"; done
command -v "$WRK" >/dev/null || die "missing: $WRK"

BIN=$(bench_bin "$ROOT" "$BIN")

T=$(mktemp -d "${TMPDIR:-/tmp}/hubcache-load.XXXXXX")
need=$(( (BIG_SIZE * 6 + MID_SIZE * 4 + CAP_SIZE * 4) / 1024 ))
avail=$(df -Pk "$T" | awk 'NR==2{print $4}')
[ "$avail" -gt "$need" ] || die "need ~$((need / 1024)) MiB free in $T, have $((avail / 1024)) MiB"

start_watchdog "$MAX_TIME"

log "temp dir $T; hubcache $BIN; $ROUNDS round(s); smoke=$SMOKE"
mkdir -p "$T/dl"
seed=1
for spec in "small.bin $SMALL_SIZE" "mid.bin $MID_SIZE" "big.bin $BIG_SIZE"; do
    read -r name size <<<"$spec"
    make_file "$name" "$size" "$seed"; seed=$((seed + 1))
done
names=(small.bin mid.bin big.bin)
want f && make_file capped.bin "$CAP_SIZE" "$seed" && names+=(capped.bin)
log "files: small ${LABEL[small.bin]}, mid ${LABEL[mid.bin]}, big ${LABEL[big.bin]}"

ORIGIN_PORT=$(free_port); PROXY_PORT=$(free_port); HUB_PORT=$(free_port)
ORIGIN_CAP_PORT=$(free_port); PROXY_CAP_PORT=$(free_port)
start_origin "${names[@]}"
hdrs=$("${CURL[@]}" -I "$(url_of origin big.bin)" | tr -d '\r')
for h in "X-Repo-Commit: $COMMIT" "X-Linked-Etag: \"${SHA[big.bin]}\"" "X-Linked-Size: ${SIZE[big.bin]}" "Accept-Ranges: bytes"; do
    grep -qiF "$h" <<<"$hdrs" || die "origin HEAD lacks '$h'"
done
for name in small.bin mid.bin big.bin; do fetch_verify origin "$name"; done
write_proxy_conf; start_proxy
write_hub_conf; start_hub
log "origin :$ORIGIN_PORT (pid $ORIGIN_PID), nginx :$PROXY_PORT (pid $PROXY_PID), hubcache :$HUB_PORT (pid $HUB_PID)"

order() { if [ $(($1 % 2)) = 1 ]; then echo "hubcache nginx"; else echo "nginx hubcache"; fi; }

for ((round = 1; round <= ROUNDS; round++)); do
    log "== round $round of $ROUNDS"
    first=$([ $round = 1 ] && echo 1 || echo 0)

    # d) CONCURRENT concurrent cold requests for the mid file: origin body fetches.
    want d && for t in $(order $round); do
        restart_cold "$t"; origin_idle; from=$(origin_lines)
        par_get "$t" mid.bin "$CONCURRENT" 1
        origin_idle; read -r n bytes <<<"$(origin_fetches "$from" mid.bin)"
        [ "$n" -ge 1 ] || die "$t: no origin body fetch seen for a cold file: is the access-log count broken?"
        add "d.$t.fetches" "$n"
        add "d.$t.bytes" "$(awk -v b="$bytes" -v s="${SIZE[mid.bin]}" 'BEGIN{printf "%.2f", b/s}')"
    done

    # c) cold big file, against the origin directly. Round 1 first checks one cold body whole.
    targets="origin $(order $round)"
    if want c && [ $first = 1 ]; then
        for t in $targets; do restart_cold "$t"; fetch_verify "$t" big.bin; sync -f "$T"; done
    fi
    want c && for t in $targets; do
        restart_cold "$t"; origin_idle; from=$(origin_lines)
        cpu_begin "$t"; par_get "$t" big.bin 1 0; cpu_end "$t" "c.$t.cpu"
        add "c.$t.mibs" "$PAR_MIBS"
        origin_idle; read -r n _ <<<"$(origin_fetches "$from" big.bin)"
        [ "$n" -ge 1 ] || die "$t: cold fetch made no origin body fetch"
        sync -f "$T"   # the next figure must not pay for this fill's writeback
    done

    # a) cached small file: wrk.
    want a && for t in $(order $round); do
        fetch_verify "$t" small.bin; fetch_verify "$t" small.bin   # fill, then a hit
        from=$(origin_lines)
        cpu_begin "$t"; wrk_run "$t" small.bin; cpu_end "$t" "a.$t.cpu"
        add "a.$t.rps" "$WRK_RPS"; add "a.$t.p99" "$WRK_P99"
        origin_idle; read -r n _ <<<"$(origin_fetches "$from" small.bin)"
        [ "$n" = 0 ] || note "round $round: $t fetched the small file from the origin $n times during the cached wrk run"
    done

    # b) cached big file (filled by c, else by the first check), 1 and PARALLEL streams.
    want b && for t in $(order $round); do
        [ $first = 1 ] && fetch_verify "$t" big.bin
        from=$(origin_lines)
        cpu_begin "$t"; par_get "$t" big.bin 1 0; cpu_end "$t" "b1.$t.cpu"; add "b1.$t.mibs" "$PAR_MIBS"
        cpu_begin "$t"; par_get "$t" big.bin "$PARALLEL" 0; cpu_end "$t" "b4.$t.cpu"; add "b4.$t.mibs" "$PAR_MIBS"
        origin_idle; read -r n _ <<<"$(origin_fetches "$from" big.bin)"
        [ "$n" = 0 ] || note "round $round: $t fetched the big file from the origin $n times in the cached case"
    done

    # e) peak RSS serving PARALLEL x big file (cached), from a fresh process (hubcache
    # restarted, cache kept) / fresh workers (nginx reloaded).
    want e && for t in $(order $round); do
        want b || want c || [ $first = 0 ] || fetch_verify "$t" big.bin   # fill the cache
        if [ "$t" = hubcache ]; then restart_hub; pid=$HUB_PID; else reload_proxy; pid=$PROXY_PID; fi
        add "e0.$t.mib" "$(awk -v k="$(rss_kib "$pid")" 'BEGIN{printf "%.1f", k/1024}')"
        from=$(origin_lines)
        pss_sampler "$pid" "$T/pss"
        par_get "$t" big.bin "$PARALLEL" "$first"
        pss_sampler_stop "$T/pss"
        add "e.$t.pss" "$(awk -v k="$PSS_KIB" 'BEGIN{printf "%.1f", k/1024}')"
        add "e.$t.mib" "$(awk -v k="$(hwm_kib "$pid")" 'BEGIN{printf "%.1f", k/1024}')"
        origin_idle; read -r n _ <<<"$(origin_fetches "$from" big.bin)"
        [ "$n" = 0 ] || note "round $round: $t fetched the big file from the origin $n times in the RSS case"
    done

    # f) cold file from the origin capped per connection (issue 15): one direct connection,
    # then each proxy cold (fresh process, empty cache): throughput, first byte, origin bytes,
    # CPU per GiB and peak RSS of the fill; then PARALLEL cached streams: CPU per GiB of hits.
    want f && par_get origin capped.bin 1 "$first" && add f.origin.mibs "$PAR_MIBS" && add f.origin.ttfb "$PAR_TTFB_MS"
    want f && for t in $(order $round); do
        restart_cold "$t"; origin_idle; from=$(origin_lines)
        cpu_begin "$t"; par_get "$t" capped.bin 1 "$first"; cpu_end "$t" "f.$t.cpu"
        add "f.$t.mibs" "$PAR_MIBS"; add "f.$t.ttfb" "$PAR_TTFB_MS"; add "f.$t.fill" "$(per_gib "$CPU_S" 1)"
        add "f.$t.rss" "$(awk -v k="$(hwm_kib "$(pid_of "$t")")" 'BEGIN{printf "%.1f", k/1024}')"
        origin_idle; read -r n bytes <<<"$(origin_fetches "$from" capped.bin)"
        [ "$n" -ge 1 ] || die "$t: cold fetch of the capped file made no origin body fetch"
        add "f.$t.fetches" "$n"; add "f.$t.bytes" "$(awk -v b="$bytes" -v s="${SIZE[capped.bin]}" 'BEGIN{printf "%.3f", b/s}')"
        sync -f "$T"
        from=$(origin_lines)
        cpu_begin "$t"; par_get "$t" capped.bin "$PARALLEL" "$first"; cpu_end "$t" "f.$t.hitcpu"
        add "f.$t.hit" "$(per_gib "$CPU_S" "$PARALLEL")"
        origin_idle; read -r n _ <<<"$(origin_fetches "$from" capped.bin)"
        [ "$n" = 0 ] || note "round $round: $t fetched the capped file from the origin $n times in the cached case"
    done
done

# ---- report ----------------------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0==0) print "-"; else printf "%.2f", a/b }'; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN{printf f, v}'; }
row() { # CASE METRIC H N [RATIO_OVERRIDE] [NOTE]
    local r=${5:-$(ratio "$3" "$4")}
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$r" "${6:-}"
}
S=${LABEL[small.bin]} M=${LABEL[mid.bin]} B=${LABEL[big.bin]}
# f, against the targets of issue 15 (reported, not enforced)
report_f() {
    local C="cold ${LABEL[capped.bin]}, origin ${CAP_RATE}/conn" H="cached ${LABEL[capped.bin]}" d
    d=$(med f.origin.mibs)
    row "f) $C" "MiB/s" "$(fmt "$(med f.hubcache.mibs)" %.1f)" "$(fmt "$(med f.nginx.mibs)" %.1f)" "" "≥ 4.0; direct 1 conn: $(fmt "$d" %.1f) MiB/s"
    row "f) $C" "÷ direct 1 conn" "$(ratio "$(med f.hubcache.mibs)" "$d")" "$(ratio "$(med f.nginx.mibs)" "$d")" "-" "≥ 4.0 (hubcache, download_concurrency $CAP_CONCURRENCY)"
    row "f) $C" "origin bytes ÷ file size, worst round" "$(worst f.hubcache.bytes)" "$(worst f.nginx.bytes)" "-" "≤ 1.05; origin body fetches (worst): $(worst f.hubcache.fetches) / $(worst f.nginx.fetches)"
    row "f) $C" "first byte, ms, worst round" "$(worst f.hubcache.ttfb)" "$(worst f.nginx.ttfb)" "" "≤ 100; direct: $(worst f.origin.ttfb)"
    row "f) $C" "proxy CPU s per GiB" "$(med f.hubcache.fill)" "$(med f.nginx.fill)" "" "hubcache hashes (sha256), nginx does not"
    row "f) $C" "peak RSS (VmHWM) after the fill, MiB" "$(med f.hubcache.rss)" "$(med f.nginx.rss)" "" "< 64 (hubcache); fresh process; nginx: master + workers"
    row "f) $H, $PARALLEL streams" "proxy CPU s per GiB" "$(med f.hubcache.hit)" "$(med f.nginx.hit)" "" ""
}
ORIGIN_C=$(med c.origin.mibs)
report() {
    echo "hubcache load benchmark ($([ "$SMOKE" = 1 ] && echo smoke || echo full) mode): $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM; $(uname -r)"
    echo "hubcache $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty') ($BIN); $("$NGINX" -v 2>&1 | sed 's/.*: //'); wrk $("$WRK" -v 2>&1 | awk 'NR==1{print $2}')"
    echo "load average (1 min) at start $LOAD0, at end $(cut -d' ' -f1 /proc/loadavg): the proxies, the origin and the clients share these CPUs (so does anything else running)"
    echo "$ROUNDS round(s), medians (d: worst round); proxies in alternation; wrk -t2 -c$WRK_CONNS -d${DURATION}s; files $S / $M / $B$([ "$ONLY" = abcde ] || echo "; cases: $ONLY")"
    echo
    echo "| case | metric | hubcache | nginx | hubcache / nginx | target, note |"
    echo "|---|---|---:|---:|---:|---|"
    want a && row "a) cached $S, $WRK_CONNS conns" "requests/s" "$(fmt "$(med a.hubcache.rps)" %.0f)" "$(fmt "$(med a.nginx.rps)" %.0f)" "" "≥ 1.0"
    want a && row "a) cached $S, $WRK_CONNS conns" "proxy CPU, cores" "$(med a.hubcache.cpu)" "$(med a.nginx.cpu)" "" "of $(nproc), shared with wrk"
    want a && row "a) cached $S, $WRK_CONNS conns" "p99 latency, ms" "$(fmt "$(med a.hubcache.p99)" %.2f)" "$(fmt "$(med a.nginx.p99)" %.2f)" "" "lower is better"
    want b && row "b) cached $B, 1 stream" "MiB/s" "$(fmt "$(med b1.hubcache.mibs)" %.0f)" "$(fmt "$(med b1.nginx.mibs)" %.0f)" "" "≥ 0.9"
    want b && row "b) cached $B, 1 stream" "proxy CPU, cores" "$(med b1.hubcache.cpu)" "$(med b1.nginx.cpu)" "" ""
    want b && row "b) cached $B, $PARALLEL streams" "MiB/s, total" "$(fmt "$(med b4.hubcache.mibs)" %.0f)" "$(fmt "$(med b4.nginx.mibs)" %.0f)" "" "≥ 0.9"
    want b && row "b) cached $B, $PARALLEL streams" "proxy CPU, cores" "$(med b4.hubcache.cpu)" "$(med b4.nginx.cpu)" "" ""
    want c && row "c) cold $B, 1 stream" "MiB/s" "$(fmt "$(med c.hubcache.mibs)" %.0f)" "$(fmt "$(med c.nginx.mibs)" %.0f)" "" "origin direct: $(fmt "$ORIGIN_C" %.0f) MiB/s"
    want c && row "c) cold $B, 1 stream" "proxy CPU, cores" "$(med c.hubcache.cpu)" "$(med c.nginx.cpu)" "" "origin direct: $(med c.origin.cpu) (origin nginx)"
    want c && row "c) cold $B, 1 stream" "÷ origin direct" "$(ratio "$(med c.hubcache.mibs)" "$ORIGIN_C")" "$(ratio "$(med c.nginx.mibs)" "$ORIGIN_C")" "-" "≥ 0.9 (hubcache)"
    want d && row "d) $CONCURRENT concurrent cold $M" "origin body fetches, worst round" "$(worst d.hubcache.fetches)" "$(worst d.nginx.fetches)" "-" "one fill (hubcache: a file of 64 MiB or more comes in ranged pieces)"
    want d && row "d) $CONCURRENT concurrent cold $M" "origin bytes ÷ file size, worst round" "$(worst d.hubcache.bytes)" "$(worst d.nginx.bytes)" "-" "1.00: each byte once"
    want e && row "e) $PARALLEL × $B cached" "peak RSS (VmHWM), MiB" "$(med e.hubcache.mib)" "$(med e.nginx.mib)" "" "< 64 MiB + buffers; nginx: sum over master + workers"
    want e && row "e) $PARALLEL × $B cached" "peak PSS (sampled), MiB" "$(med e.hubcache.pss)" "$(med e.nginx.pss)" "" "every 50 ms; shared pages counted once"
    want e && row "e) before the transfer" "RSS, MiB" "$(med e0.hubcache.mib)" "$(med e0.nginx.mib)" "" "idle, after (re)start / reload"
    want f && report_f
    echo
    echo "samples per round (in run order):"
    local k
    for k in $(printf '%s\n' "${!R[@]}" | sort); do echo "  $k: ${R[$k]}"; done
    if [ ${#NOTES[@]} -gt 0 ]; then echo; echo "notes:"; printf '  - %s\n' "${NOTES[@]}"; fi
    echo
    echo "all bodies checked (status, length; sha256 at least once per case); run took $((SECONDS - START)) s"
}
report | tee ${OUT:+"$OUT"}
