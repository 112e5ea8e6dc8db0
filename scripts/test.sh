#!/usr/bin/env bash
# The whole test suite: formatting and lints, the Rust tests (every API scenario on SQLite and
# on MariaDB, each on a fresh database), the PortOne client against the sandbox, and the web
# UI's unit and browser tests. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-services.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test (SQLite and MariaDB)"
# No backtraces: a failing test's own message then ends its output, where a log's tail shows it.
RUST_BACKTRACE=0 cargo test --workspace --locked

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
export ESCROW_BIN="$target_dir/debug/escrow"
cargo build -p escrow --locked

echo "== hostile input: schemathesis against /openapi.json"
bash tests/hostile/schemathesis.sh

echo "== the official PortOne clients (PyPI, npm) against the sandbox"
bash tests/clients/run.sh

echo "== load harness: a short smoke run of every scenario (its checks are not judged; figures: BENCHMARKS.md)"
# With the events relayed to NATS, as in production, so the relay runs under load too.
BENCH_NATS_URL="${ESCROW_TEST_NATS_URL:-nats://127.0.0.1:4222}" bash scripts/bench.sh --smoke

if [ -f web/package.json ]; then
  echo "== web: install, unit tests, build"
  (cd web && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run build)
  echo "== web: browser tests"
  export ARTIFACTS_DIR="$PWD/artifacts"
  (cd web && npm run e2e)
fi
