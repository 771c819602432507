#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (.ci/setup.sh --test),
# then checks formatting, builds, validates the shipped config, runs unit and integration tests
# (the integration tests drive real huggingface_hub clients and Pulp's own pulp-cli and
# generated clients from the virtualenvs), checks
# the observability files, and runs the load script's smoke mode (benches compile with the
# other targets).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash .ci/setup.sh --test

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

echo "== docs"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps

echo "== build"
cargo build --locked --all-targets

echo "== shipped configuration"
./target/debug/hubcache --config conf/hubcache.yaml --check

echo "== tests"
export HUBCACHE_PYTHONS="$root/.venv-hf-latest/bin/python:$root/.venv-hf-0x/bin/python"
# pulp-cli, pulp-glue and the generated Pulp clients; `pulp` is beside this python.
export HUBCACHE_PULP_PYTHON="$root/.venv-pulp/bin/python"
results=$(mktemp)
cargo test --locked -- --test-threads 4 2>&1 | tee "$results"
read -r passed failed < <(awk '/^test result:/ {
    for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
} END { print p + 0, f + 0 }' "$results")
rm -f "$results"

echo "== observability files"
bash .ci/check-observability.sh

# The benches are compiled (and linted) with every other target above: `cargo bench --no-run`
# would only add a third build of pingora, in the release profile.
echo "== load script smoke run (checks every body, not the figures)"
bash benches/load.sh --smoke --bin target/debug/hubcache
bash benches/fleet.sh --smoke --bin target/debug/hubcache   # fails unless 8 vs 24 origin fetches

echo "hubcache: $passed passed, $failed failed"
