#!/usr/bin/env bash
# Installs what hubcache needs on a fresh Debian machine with Rust. Idempotent: installs only
# what is missing.
#
#   .ci/setup.sh          building and running: cmake and a C compiler (pingora's zlib-ng, zstd)
#   .ci/setup.sh --test   the test suite too (.ci/test.sh calls it): python3-venv, nginx and
#                         wrk (the load script), promtool (metrics checks), and three
#                         virtualenvs of real clients: huggingface_hub (the latest release and
#                         0.36.2) and Pulp's own tools (pulp-cli, pulp-glue, the generated
#                         pulp_hugging_face_client and pulpcore_client, latest releases),
#                         and PostgreSQL's server binaries (initdb, postgres, psql, pg_dump)
set -euo pipefail

test=false
case "${1:-}" in
    --test) test=true ;;
    "") ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v cc >/dev/null || need+=(build-essential)
if $test; then
    command -v nginx >/dev/null || need+=(nginx-light)
    command -v wrk >/dev/null || need+=(wrk)
    command -v promtool >/dev/null || need+=(prometheus)
    python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
    # The PostgreSQL state scenarios start a throwaway cluster (tests/it/support/postgres.rs).
    command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
        || need+=(postgresql)
fi
if ((${#need[@]})); then
    echo "setup: installing ${need[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
$test || exit 0

# make_venv DIR PROBE PACKAGE…: creates DIR with PACKAGE… unless its python runs PROBE.
make_venv() {
    local dir=$1 probe=$2
    shift 2
    if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c "$probe" 2>/dev/null; then
        echo "setup: creating $dir with $*"
        python3 -m venv "$dir"
        "$dir/bin/pip" install -q --disable-pip-version-check "$@"
    fi
}
root=$(cd "$(dirname "$0")/.." && pwd)
make_venv "$root/.venv-hf-latest" 'import huggingface_hub' huggingface_hub hf_xet
make_venv "$root/.venv-hf-0x" 'import huggingface_hub' huggingface_hub==0.36.2 hf_xet
make_venv "$root/.venv-pulp" \
    'import pulp_cli, pulp_glue.common, pulpcore.client.pulpcore, pulpcore.client.pulp_hugging_face' \
    pulp-cli pulp-glue pulp_hugging_face_client pulpcore_client
