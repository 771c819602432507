# Shared shell functions of the loopback benches (benches/load.sh, benches/fleet.sh): process
# control by pid, test files, the HF-like origin (nginx) and its access-log count of body
# fetches, a hubcache configuration, the time limit and the temp dir. Sourced, not run.
#
# The sourcing script sets, before calling these: T (temp dir), CURL (curl command array),
# NGINX, ORG REPO COMMIT, KEEP, and the associative arrays SIZE SHA LABEL (declare -A); and
# calls bench_env first. For a second origin capped per connection (load.sh case f) it also
# sets ORIGIN_CAP_PORT, CAP_RATE (an nginx `limit_rate` value) and CAP_CONCURRENCY.

# Loopback only: no proxy from the environment may catch a request (curl, or hubcache's client).
bench_env() { unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY; }

log() { printf '[%s %(%H:%M:%S)T] %s\n' "${0##*/}" -1 "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# ---- process control (only our own pids) -----------------------------------------------------

children_of() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | sed '/^$/d' || true; }
alive() { kill -0 "$1" 2>/dev/null; }
# running PID: exists and is not a zombie waiting to be reaped.
running() { local st; st=$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null || true); [ -n "$st" ] && [ "$st" != Z ]; }

# stop_pid PID SIGNAL SECONDS: signal, poll until gone, SIGKILL after SECONDS; reap.
stop_pid() {
    local pid=$1 sig=$2 secs=$3 deadline
    running "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -s "$sig" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + secs))
    while running "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.02; done
    if running "$pid"; then
        log "pid $pid did not stop on SIG$sig within ${secs}s; SIGKILL"
        kill -s KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# stop_nginx MASTER: fast shutdown of our nginx master; its workers too if it had to be killed.
stop_nginx() {
    local master=$1 kids
    kids=$(children_of "$master")
    stop_pid "$master" TERM 20
    for k in $kids; do alive "$k" && kill -s KILL "$k" 2>/dev/null || true; done
}

# keep_tmp RC: on --keep or a failure, keeps the temp dir (without the large files); else removes it.
keep_tmp() {
    [ -n "$T" ] && [ -d "$T" ] || return 0
    if [ "$KEEP" = 1 ] || [ "$1" -ne 0 ]; then
        log "temp dir kept: $T"
        # the large files are not worth keeping
        rm -rf "$T/files" "$T/dl" "$T"/*/cache "$T"/*/*/cache 2>/dev/null || true
    else
        rm -rf "$T"
    fi
}

# start_watchdog SECONDS: hard time limit, SIGTERM to this script (its EXIT trap then stops
# everything it started). Sets WATCHDOG_PID.
start_watchdog() {
    ( trap 'kill "$sp" 2>/dev/null; exit 0' TERM; sleep "$1" & sp=$!; wait "$sp"
      echo "[${0##*/}] time limit of ${1}s reached" >&2; kill -s TERM $$ ) &
    WATCHDOG_PID=$!
}
stop_watchdog() {
    [ -n "$WATCHDOG_PID" ] && { kill "$WATCHDOG_PID" 2>/dev/null || true; wait "$WATCHDOG_PID" 2>/dev/null || true; }
}

# bench_bin ROOT BIN: the absolute path of BIN; without one, `cargo build --release` in ROOT
# and its release binary.
bench_bin() {
    local root=$1 bin=$2
    if [ -z "$bin" ]; then
        log "building hubcache (cargo build --release)"
        (cd "$root" && cargo build --release --quiet) || die "cargo build --release failed"
        bin=$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
            | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/hubcache
    fi
    bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
    [ -x "$bin" ] || die "no hubcache binary at $bin"
    echo "$bin"
}

# ---- helpers ---------------------------------------------------------------------------------

median() { # numbers as arguments
    printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR==0) {print "nan"; exit}
        if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2 }'
}

# CPU time (clock ticks, user + system) of a pid and its children, summed.
cpu_ticks() { local p s=0 v; for p in "$1" $(children_of "$1"); do
    v=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12 + $13}' || true); s=$((s + ${v:-0})); done; echo $s; }
# Peak RSS (VmHWM, KiB) of a pid and its children, summed; and the RSS now.
hwm_kib() { local p s=0 v; for p in "$1" $(children_of "$1"); do
    v=$(awk '/^VmHWM:/{print $2}' /proc/"$p"/status 2>/dev/null || true); s=$((s + ${v:-0})); done; echo $s; }
rss_kib() { local p s=0 v; for p in "$1" $(children_of "$1"); do
    v=$(awk '/^VmRSS:/{print $2}' /proc/"$p"/status 2>/dev/null || true); s=$((s + ${v:-0})); done; echo $s; }

human() { awk -v b="$1" 'BEGIN{ if (b>=1073741824) printf "%g GiB", b/1073741824;
    else if (b>=1048576) printf "%g MiB", b/1048576; else printf "%g KiB", b/1024 }'; }

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    else
        local p used; used=$(ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://')
        while :; do p=$((20000 + RANDOM % 40000)); grep -qx "$p" <<<"$used" || { echo "$p"; return; }; done
    fi
}

# gen_file PATH SIZE SEED: deterministic, incompressible bytes (AES-CTR keystream; a text
# pattern when openssl is missing).
gen_file() {
    local path=$1 size=$2 seed=$3
    if command -v openssl >/dev/null 2>&1; then
        { openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$seed")" -iv 00000000000000000000000000000000 \
            -in /dev/zero 2>/dev/null || true; } | head -c "$size" >"$path"
    else
        { yes "hubcache bench file $seed" || true; } | head -c "$size" >"$path"
    fi
    [ "$(stat -c %s "$path")" = "$size" ] || die "could not generate $path"
}

file_path() { echo "/$ORG/$REPO/resolve/$COMMIT/$1"; }

# make_file NAME SIZE SEED: the origin's file NAME; sets SIZE, SHA and LABEL of NAME.
make_file() {
    local f=$T/files$(file_path "$1")
    mkdir -p "$(dirname "$f")"
    gen_file "$f" "$2" "$3"
    SIZE[$1]=$2; LABEL[$1]=$(human "$2")
    SHA[$1]=$(sha256sum "$f" | cut -d' ' -f1)
}


# wait_http URL CODE PID WHAT: poll until URL answers CODE; fail fast if PID dies.
wait_http() {
    local url=$1 want=$2 pid=$3 what=$4 code deadline=$((SECONDS + 60))
    while :; do
        code=$("${CURL[@]}" --max-time 2 -o /dev/null -w '%{http_code}' "$url" 2>/dev/null || true)
        [ "$code" = "$want" ] && return 0
        running "$pid" || die "$what exited during start-up (see $T)"
        [ $SECONDS -lt $deadline ] || die "$what not ready after 60 s (last status ${code:-none})"
        sleep 0.05
    done
}

# ---- origin ----------------------------------------------------------------------------------

nginx_common() { # PREFIX
    [ "$(id -u)" = 0 ] && echo "user root;"
    cat <<EOF
worker_processes 2;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}
nginx_http_common() { # PREFIX
    cat <<EOF
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    types { } default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
EOF
}

# origin_locations NAME...: the locations of the files NAME..., with the Hub's headers.
origin_locations() {
    local name
    for name in "$@"; do
        cat <<EOF
        location = $(file_path "$name") {
            add_header X-Repo-Commit $COMMIT always;
            add_header X-Linked-Etag '"${SHA[$name]}"' always;
            add_header X-Linked-Size ${SIZE[$name]} always;
        }
EOF
    done
}

# start_origin NAME...: the HF-like origin serving the files NAME... (made by make_file) on
# ORIGIN_PORT, and when ORIGIN_CAP_PORT is set, the same files on that port at CAP_RATE per
# connection (as the Hub's CDN: one connection is slow, many are not); one access log for
# both. Sets ORIGIN_PID.
start_origin() {
    local d=$T/origin port
    mkdir -p "$d/tmp"
    {
        nginx_common "$d"
        echo "http {"
        nginx_http_common "$d"
        echo "    log_format bench '\$request_method \$status \$body_bytes_sent \$uri \$request_time \$msec \$remote_port';"
        for port in "$ORIGIN_PORT" ${ORIGIN_CAP_PORT:-}; do
            cat <<EOF
    server {
        listen 127.0.0.1:$port;
        access_log $d/access.log bench;
        root $T/files;
        location = /__status { stub_status; access_log off; }
EOF
            [ "$port" = "$ORIGIN_PORT" ] || echo "        limit_rate $CAP_RATE;"
            origin_locations "$@"
            echo "    }"
        done
        echo "}"
    } >"$d/nginx.conf"
    "$NGINX" -p "$d/" -e "$d/error.log" -c "$d/nginx.conf" -g 'daemon off;' >>"$d/stderr.log" 2>&1 &
    ORIGIN_PID=$!
    wait_http "http://127.0.0.1:$ORIGIN_PORT/__status" 200 "$ORIGIN_PID" "origin nginx"
}

# Origin body fetches since log line FROM for NAME: "<count> <bytes>" (GET, 200/206, bytes > 0).
origin_lines() { wc -l <"$T/origin/access.log"; }
origin_fetches() { # FROM NAME
    awk -v from="$1" -v uri="$(file_path "$2")" \
        'NR>from && $1=="GET" && $4==uri && ($2==200||$2==206) && $3>0 {c++; b+=$3}
         END {printf "%.0f %.0f\n", c, b}' "$T/origin/access.log"
}
# Waits until the origin writes no response (stub_status "Writing: 1" is this request).
origin_idle() {
    local w deadline=$((SECONDS + 60))
    while :; do
        w=$("${CURL[@]}" "http://127.0.0.1:$ORIGIN_PORT/__status" | awk '/Writing:/{print $4}')
        [ "$w" = 1 ] && return 0
        [ $SECONDS -lt $deadline ] || die "origin still writing responses after 60 s"
        sleep 0.02
    done
}

# ---- transfers (the sourcing script defines url_of TARGET NAME, CURL_MAX and the array
# STARTED_PIDS, which its EXIT trap kills) --------------------------------------------------------

# fetch_verify TARGET NAME: one whole body to a file; status, length and sha256 checked.
fetch_verify() {
    local target=$1 name=$2 res f=$T/dl/verify
    rm -f "$f"
    res=$("${CURL[@]}" -o "$f" -w '%{http_code} %{size_download}' "$(url_of "$target" "$name")") \
        || die "$target: GET $name failed: $res"
    [ "$res" = "200 ${SIZE[$name]}" ] || die "$target: GET $name: status/length '$res', want '200 ${SIZE[$name]}'"
    [ "$(sha256sum "$f" | cut -d' ' -f1)" = "${SHA[$name]}" ] || die "$target: $name: sha256 mismatch"
    rm -f "$f"
}

# par_get TARGET NAME N VERIFY: N parallel GETs (stream 1 to a file and sha256-checked when
# VERIFY=1, the others to /dev/null); every status and length checked. Sets PAR_MIBS: total
# bytes / slowest stream's time_total, in MiB/s; PAR_TTFB_MS: the slowest first byte
# (time_starttransfer), in ms.
par_get() {
    local target=$1 name=$2 n=$3 verify=$4 url i out pids=() failed=0 max=0 ttfb=0 code size secs first
    url=$(url_of "$target" "$name")
    rm -f "$T"/dl/par.*
    for ((i = 1; i <= n; i++)); do
        out=/dev/null; [ "$verify" = 1 ] && [ $i = 1 ] && out=$T/dl/par.body
        "${CURL[@]}" -o "$out" -w '%{http_code} %{size_download} %{time_total} %{time_starttransfer}\n' "$url" \
            >"$T/dl/par.$i" 2>"$T/dl/par.$i.err" &
        pids+=($!); STARTED_PIDS+=($!)
    done
    for ((i = 1; i <= n; i++)); do wait "${pids[$((i - 1))]}" || failed=$i; done
    STARTED_PIDS=()
    [ $failed = 0 ] || die "$target: GET $name (stream $failed of $n) failed: $(cat "$T/dl/par.$failed.err")"
    for ((i = 1; i <= n; i++)); do
        read -r code size secs first <"$T/dl/par.$i"
        [ "$code $size" = "200 ${SIZE[$name]}" ] || die "$target: GET $name (stream $i of $n): status/length '$code $size', want '200 ${SIZE[$name]}'"
        max=$(awk -v a="$max" -v b="$secs" 'BEGIN{print (b>a)?b:a}')
        ttfb=$(awk -v a="$ttfb" -v b="$first" 'BEGIN{print (b>a)?b:a}')
    done
    if [ "$verify" = 1 ]; then
        [ "$(sha256sum "$T/dl/par.body" | cut -d' ' -f1)" = "${SHA[$name]}" ] || die "$target: $name: sha256 mismatch"
    fi
    rm -f "$T"/dl/par.*
    PAR_MIBS=$(awk -v n="$n" -v s="${SIZE[$name]}" -v t="$max" 'BEGIN{printf "%.1f", (t>0)?n*s/t/1048576:0}')
    PAR_TTFB_MS=$(awk -v t="$ttfb" 'BEGIN{printf "%.1f", t*1000}')
}

# pss_sampler PID FILE: in the background, every 50 ms, sums Pss (proportional set size: shared
# pages split between the processes sharing them) over PID and its children; when FILE.stop
# appears (or after CURL_MAX s), writes the largest sum (KiB) to FILE. Sets SAMPLER_PID.
pss_sampler() {
    local pid=$1 file=$2
    rm -f "$file" "$file.stop"
    (
        max=0 end=$((SECONDS + CURL_MAX))
        while :; do   # at least one sample, also after the stop
            s=0
            for p in "$pid" $(children_of "$pid"); do
                v=$(awk '/^Pss:/{print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || true)
                s=$((s + ${v:-0}))
            done
            [ $s -gt $max ] && max=$s
            [ -e "$file.stop" ] || [ $SECONDS -ge $end ] && break
            sleep 0.05
        done
        echo "$max" >"$file"
    ) &
    SAMPLER_PID=$!; STARTED_PIDS+=($!)
}
pss_sampler_stop() { # FILE: sets PSS_KIB (call it in this shell, not in $(...))
    touch "$1.stop"; wait "$SAMPLER_PID" || true
    PSS_KIB=$(cat "$1" 2>/dev/null || true)
    [ -n "$PSS_KIB" ] || die "the PSS sampler wrote no figure"
}

# ---- hubcache --------------------------------------------------------------------------------

# hub_conf DIR PORT METRICS [EXTRA]: DIR/hubcache.yaml, a node on 127.0.0.1:PORT with its cache
# and state in DIR, the origin as its on_demand remote, distribution `bench` (and with
# ORIGIN_CAP_PORT set, the capped origin as remote `capped` with `download_concurrency:
# CAP_CONCURRENCY`, distribution `capped`); METRICS is the metrics listen value (null, or
# "127.0.0.1:<port>"); EXTRA is more YAML (e.g. `fleet:`). Checked with --check.
cap_yaml() { [ -z "${ORIGIN_CAP_PORT:-}" ] || printf '%s\n' "$1"; }
hub_conf() {
    local d=$1
    mkdir -p "$d"
    cat >"$d/hubcache.yaml" <<EOF2
listen: "127.0.0.1:$2"
metrics:
  listen: $3
cache:
  dir: "$d/cache"
  max_size: "16GiB"
state:
  path: "$d/state.yaml"
users:
  - username: admin
    password: "load-sh-only"
server:
  threads: null
  grace_period: "1s"
  graceful_shutdown_timeout: "1s"
remotes:
  - name: origin
    url: "http://127.0.0.1:$ORIGIN_PORT"
    policy: on_demand
$(cap_yaml "  - name: capped
    url: \"http://127.0.0.1:${ORIGIN_CAP_PORT:-}\"
    policy: on_demand
    download_concurrency: ${CAP_CONCURRENCY:-}")
distributions:
  - name: bench
    base_path: bench
    remote: origin
$(cap_yaml "  - name: capped
    base_path: capped
    remote: capped")
EOF2
    [ -z "${4:-}" ] || printf '%s\n' "$4" >>"$d/hubcache.yaml"
    "$BIN" --config "$d/hubcache.yaml" --check >"$d/check.log" 2>&1 \
        || { cat "$d/check.log" >&2; die "hubcache rejected the bench configuration"; }
}
