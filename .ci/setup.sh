#!/usr/bin/env bash
# Installs what building and testing hubcache needs on a fresh Debian machine with Rust:
# cmake and a C compiler (pingora's zlib-ng and zstd), python3-venv, nginx and wrk (the load
# script), promtool (metrics checks). Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v cc >/dev/null || need+=(build-essential)
command -v nginx >/dev/null || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v promtool >/dev/null || need+=(prometheus)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
    echo "setup: installing ${need[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The real Hugging Face clients the test suite drives: the latest release, and one 0.x.
make_venv() {
    local dir=$1 spec=$2
    if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c 'import huggingface_hub' 2>/dev/null; then
        echo "setup: creating $dir with $spec"
        python3 -m venv "$dir"
        "$dir/bin/pip" install -q --disable-pip-version-check "$spec" hf_xet
    fi
}
root=$(cd "$(dirname "$0")/.." && pwd)
make_venv "$root/.venv-hf-latest" "huggingface_hub"
make_venv "$root/.venv-hf-0x" "huggingface_hub==0.36.2"
