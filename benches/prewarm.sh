#!/usr/bin/env bash
# Prewarm timing (issue 13): how long `hubcache prewarm` takes to fill the cache with a model
# repository, against a plain `huggingface_hub.snapshot_download` of the same repository from
# the same origin, and how long a snapshot_download through hubcache takes afterwards.
#
# Starts, in a temp dir: a Hub-like origin (benches/prewarm_origin.py, loopback, sendfile) with
# one repository of SIZE bytes in FILES files, and hubcache (its remote pointing at the origin).
# Prints the three times and the ratio prewarm / direct. Checks every downloaded byte (sha256).
#
# Usage: benches/prewarm.sh [--bin PATH] [--python PATH] [--size MIB] [--files N]
#   --bin     hubcache binary (default target/release/hubcache, built if missing)
#   --python  a python with huggingface_hub (default .venv-hf-latest/bin/python)
#   --size    repository size in MiB (default 1024)   --files  number of files (default 4)
# Only loopback addresses are used; only processes this script started are stopped (by pid).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="" PY="$ROOT/.venv-hf-latest/bin/python" SIZE_MIB=1024 FILES=4
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=${2:?}; shift ;;
        --python) PY=${2:?}; shift ;;
        --size) SIZE_MIB=${2:?}; shift ;;
        --files) FILES=${2:?}; shift ;;
        -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "prewarm.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$BIN" ]; then
    BIN=$ROOT/target/release/hubcache
    (cd "$ROOT" && cargo build --release --locked >/dev/null)
fi
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY="*" HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_XET=1 HF_HUB_ETAG_TIMEOUT=60

T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
now() { date +%s.%N; }
wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "timeout: $1" >&2; exit 1; }

mkdir -p "$T/repo"
per=$((SIZE_MIB * 1048576 / FILES))
for i in $(seq 1 "$FILES"); do
    head -c "$per" /dev/urandom >"$T/repo/model-0000$i-of-0000$FILES.safetensors"
done
echo '{"model_type": "bench"}' >"$T/repo/config.json"
(cd "$T/repo" && sha256sum -- * | sort -k2) >"$T/want.sha256"

"$PY" "$ROOT/benches/prewarm_origin.py" "$T/repo" bench/model "$T/origin.port" &
PIDS+=($!)
wait_file "$T/origin.port"
ORIGIN="http://127.0.0.1:$(cat "$T/origin.port")"

download() { # ENDPOINT DEST
    HF_HOME="$2/home" HF_ENDPOINT="$1" "$PY" - "$2" <<'PY'
import sys
from huggingface_hub import snapshot_download
print(snapshot_download("bench/model", local_dir=sys.argv[1] + "/files"))
PY
    (cd "$2/files" && sha256sum -- * | sort -k2) | diff - "$T/want.sha256" >/dev/null \
        || { echo "prewarm.sh: $2: downloaded bytes differ" >&2; exit 1; }
}

t0=$(now); download "$ORIGIN" "$T/direct" >/dev/null; t1=$(now)
direct=$(awk "BEGIN {print $t1 - $t0}")

port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$T/hubcache.yaml" <<YAML
listen: "127.0.0.1:$port"
metrics: { listen: null }
cache: { dir: "$T/cache", max_size: "$((SIZE_MIB * 2 + 64))MiB" }
state: { path: "$T/state.yaml" }
users: [{ username: admin, password: bench-password }]
remotes: [{ name: origin, url: "$ORIGIN" }]
distributions: [{ name: bench, base_path: bench, remote: origin }]
YAML
"$BIN" --config "$T/hubcache.yaml" >"$T/hubcache.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/pulp/api/v3/status/" >/dev/null && break; sleep 0.05; done

t0=$(now)
HUBCACHE_ADMIN_PASSWORD=bench-password "$BIN" prewarm --server "http://127.0.0.1:$port" \
    --remote origin bench/model >"$T/prewarm.out" 2>"$T/prewarm.err"
t1=$(now)
prewarm=$(awk "BEGIN {print $t1 - $t0}")
t0=$(now); download "http://127.0.0.1:$port/pulp/content/bench" "$T/warm" >/dev/null; t1=$(now)
warm=$(awk "BEGIN {print $t1 - $t0}")

printf 'repository: %d MiB in %d files (+ config.json)\n' "$SIZE_MIB" "$FILES"
printf 'snapshot_download from the origin:     %6.2f s\n' "$direct"
printf 'hubcache prewarm (cold, to completed):  %6.2f s  (%.2fx the direct download)\n' "$prewarm" "$(awk "BEGIN {print $prewarm / $direct}")"
printf 'snapshot_download through hubcache after the prewarm: %6.2f s\n' "$warm"
echo "prewarm printed:"; sed 's/^/  /' "$T/prewarm.err" "$T/prewarm.out"
