#!/usr/bin/env bash
# The load harness in one command: builds the service and the harness, then runs every
# scenario on SQLite and on MariaDB beside the HTTP and database ceilings, and prints one
# table per step and the ratios against the targets (see BENCHMARKS.md).
#
#   scripts/bench.sh                  # the full run (release build; ~20 min on 2 cores)
#   scripts/bench.sh --smoke          # ~1 s per step, tiny tables, debug build, checks not judged: for CI (~1 min)
#   scripts/bench.sh --db sqlite --scenario catalogue --duration 10s   # any escrow-bench flag
#
# The MariaDB half runs on a private server the harness starts from deploy/mariadb.cnf (the
# settings the project recommends; needs Debian's mariadb-server installed, not running); set
# BENCH_MYSQL_URL (or pass --mysql-url) to measure an existing server instead. The figures
# and ratios are also written to artifacts/bench-results.md (BENCH_OUT to change).
# BENCH_PROFILE=release|debug overrides the build profile (default: debug for --smoke,
# release otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${BENCH_PROFILE:-}"
if [ -z "$profile" ]; then
  profile=release
  for arg in "$@"; do
    if [ "$arg" = "--smoke" ]; then profile=debug; fi
  done
fi
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac

if [ "$profile" = release ]; then
  cargo build --release --locked -p escrow -p escrow-bench
  out_dir="$target_dir/release"
else
  cargo build --locked -p escrow -p escrow-bench
  out_dir="$target_dir/debug"
fi
export ESCROW_BIN="${ESCROW_BIN:-$out_dir/escrow}"
server=(--mariadb-config deploy/mariadb.cnf)
if [ -n "${BENCH_MYSQL_URL:-}" ]; then server=(); fi
for arg in "$@"; do
  case "$arg" in --mysql-url* | --mariadb-config*) server=() ;; esac
done
mkdir -p artifacts
exec "$out_dir/escrow-bench" --out "${BENCH_OUT:-artifacts/bench-results.md}" "${server[@]}" "$@"
