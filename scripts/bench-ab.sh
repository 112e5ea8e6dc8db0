#!/usr/bin/env bash
# Compares two builds with the load harness, run alternately in one session so that both
# meet the same machine (BENCHMARKS.md, "Comparing two builds"):
#
#   scripts/bench-ab.sh BASE_REV NEW_REV [escrow-bench flags]
#   scripts/bench-ab.sh main HEAD                            # every step, 3 pairs
#   BENCH_AB_PAIRS=5 scripts/bench-ab.sh main HEAD --db mysql --scenario lifecycle
#
# It builds `escrow` and `escrow-bench` of each revision from a clean export of that commit
# (uncommitted changes are not in it), then runs the harness BASE, NEW, BASE, NEW, ... and
# prints, per step and operation, the median over the runs of each build and NEW / BASE.
# A row is flagged `SLOWER` where NEW is more than 10 % slower than BASE: its throughput
# below BASE's / 1.10, or its p50 above 1.10 × BASE's. Exits 1 when a row is flagged.
#
# Environment:
#   BENCH_AB_PAIRS    pairs of runs (default 3)
#   BENCH_AB_HARNESS  each: each build's own harness drives its own service (default);
#                     new: NEW's harness drives both services, so only the service differs
#   BENCH_AB_PROFILE  cargo profile of the builds (default release)
#   BENCH_AB_CACHE    built binaries, one directory per commit and profile, reused by later
#                     runs (default ${XDG_CACHE_HOME:-~/.cache}/escrow-bench-ab)
#   BENCH_AB_TARGET_DIR  the cargo target directory both builds share, so the dependencies
#                     are compiled once (default $BENCH_AB_CACHE/target)
#   BENCH_AB_OUT      each run's tables and log, and summary.md (default
#                     artifacts/bench-ab-<UTC time>)
#   BENCH_MYSQL_URL, BENCH_NATS_URL, ...: passed on to the harness as with scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
  sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
base_rev=$1
new_rev=$2
shift 2

pairs="${BENCH_AB_PAIRS:-3}"
harness="${BENCH_AB_HARNESS:-each}"
profile="${BENCH_AB_PROFILE:-release}"
cache="${BENCH_AB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/escrow-bench-ab}"
target_dir="${BENCH_AB_TARGET_DIR:-$cache/target}"
out="${BENCH_AB_OUT:-artifacts/bench-ab-$(date -u +%Y%m%dT%H%M%SZ)}"
case "$harness" in each | new) ;; *) echo "BENCH_AB_HARNESS must be each or new" >&2; exit 2 ;; esac
case "$pairs" in '' | *[!0-9]* | 0) echo "BENCH_AB_PAIRS must be a positive number" >&2; exit 2 ;; esac
case "$profile" in
  debug | dev) cargo_profile=dev; profile_dir=debug ;;
  *) cargo_profile=$profile; profile_dir=$profile ;;
esac
mkdir -p "$cache" "$out"
cache=$(cd "$cache" && pwd)
out=$(cd "$out" && pwd)
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac

# The directory holding `escrow`, `escrow-bench` and `mariadb.cnf` built from commit $1.
build() {
  local sha=$1
  local dir="$cache/$profile_dir/$sha"
  if [ -x "$dir/escrow" ] && [ -x "$dir/escrow-bench" ] && [ -f "$dir/mariadb.cnf" ]; then
    echo "== $sha: built before, in $dir" >&2
    echo "$dir"
    return
  fi
  local src="$cache/src/$sha"
  rm -rf "$src" "$dir.partial"
  mkdir -p "$src" "$dir.partial"
  git archive "$sha" | tar -x -C "$src"
  # The export's files carry the commit's time, and cargo finds the workspace's crates by
  # their path within it: without fresh times an artifact of the other build looks current.
  find "$src" -type f -exec touch {} +
  echo "== building $sha ($profile_dir) in $src" >&2
  (cd "$src" && CARGO_TARGET_DIR="$target_dir" cargo build --locked --profile "$cargo_profile" \
    -p escrow -p escrow-bench >&2)
  cp "$target_dir/$profile_dir/escrow" "$target_dir/$profile_dir/escrow-bench" "$dir.partial/"
  cp "$src/deploy/mariadb.cnf" "$dir.partial/"
  rm -rf "$src" "$dir"
  mv "$dir.partial" "$dir"
  echo "$dir"
}

base_sha=$(git rev-parse --verify "$base_rev^{commit}")
new_sha=$(git rev-parse --verify "$new_rev^{commit}")
started=$(date +%s)
base_dir=$(build "$base_sha")
new_dir=$(build "$new_sha")
built=$(date +%s)
echo "== built in $((built - started)) s"

# As scripts/bench.sh: a private MariaDB server unless the flags or the environment name one.
private_server=yes
if [ -n "${BENCH_MYSQL_URL:-}" ]; then private_server=no; fi
for arg in "$@"; do
  case "$arg" in --mysql-url* | --mariadb-config*) private_server=no ;; esac
done

# Runs the harness on build $1 (BASE or NEW) for pair $2.
run() {
  local side=$1 pair=$2 dir harness_dir
  shift 2
  if [ "$side" = BASE ]; then dir=$base_dir; else dir=$new_dir; fi
  harness_dir=$dir
  if [ "$harness" = new ]; then harness_dir=$new_dir; fi
  local server=()
  if [ "$private_server" = yes ]; then server=(--mariadb-config "$harness_dir/mariadb.cnf"); fi
  local name
  name=$(printf '%02d-%s' "$pair" "$side")
  local t0
  t0=$(date +%s)
  echo "== pair $pair of $pairs: $side ($([ "$side" = BASE ] && echo "$base_sha" || echo "$new_sha"))"
  ESCROW_BIN="$dir/escrow" "$harness_dir/escrow-bench" --out "$out/$name.md" "${server[@]}" "$@" \
    >"$out/$name.log" 2>&1 || {
    echo "the harness failed on $side (pair $pair); its output: $out/$name.log" >&2
    tail -n 20 "$out/$name.log" >&2
    exit 1
  }
  echo "   $(($(date +%s) - t0)) s"
}

for pair in $(seq 1 "$pairs"); do
  run BASE "$pair" "$@"
  run NEW "$pair" "$@"
done
finished=$(date +%s)

summary="$out/summary.md"
{
  echo "# A/B: BASE $base_sha against NEW $new_sha"
  echo
  echo "$pairs pair(s) run alternately (BASE first), $(date -u -d "@$built" +%H:%M)-$(date -u -d "@$finished" +%H:%M) UTC;"
  echo "harness: $([ "$harness" = new ] && echo "NEW's for both services" || echo "each build's own");"
  echo "profile: $profile_dir; harness flags: ${*:-(defaults)}; builds took $((built - started)) s, the runs $((finished - built)) s."
  echo
} >"$summary"
status=0
python3 - "$out" "$pairs" >>"$summary" <<'PY' || status=$?
"""Medians of each step's figures per build, and NEW / BASE, from the runs' Figures tables."""
import statistics
import sys
from pathlib import Path

out, pairs = Path(sys.argv[1]), int(sys.argv[2])
LIMIT = 1.10


def figures(path):
    """(scenario, db, step, operation) -> {column: value} from a run's Figures table."""
    rows, header = {}, None
    for line in path.read_text().splitlines():
        if header and not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "scenario":
            header = cells
        elif header and not cells[0].startswith("---") and len(cells) == len(header):
            rows[tuple(cells[:4])] = dict(zip(header, cells))
    return rows


def number(row, column):
    try:
        return float(row[column])
    except (KeyError, ValueError):
        return None


runs = {side: [figures(out / f"{p:02d}-{side}.md") for p in range(1, pairs + 1)] for side in ("BASE", "NEW")}
keys = list(runs["BASE"][0])
keys += [k for k in runs["NEW"][0] if k not in keys]


def median(side, key, column):
    values = [v for r in runs[side] if key in r for v in [number(r[key], column)] if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def ratio(new, base):
    return None if new is None or base is None or base == 0 else new / base


print("| scenario | db | step | operation | per s BASE | per s NEW | NEW / BASE | p50 ms BASE | p50 ms NEW | NEW / BASE | service CPU NEW / BASE | errors BASE / NEW | |")
print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
slower = 0
for key in keys:
    rate = [median(s, key, "per s") for s in ("BASE", "NEW")]
    p50 = [median(s, key, "p50 ms") for s in ("BASE", "NEW")]
    cpu = [median(s, key, "server CPU ms/op") for s in ("BASE", "NEW")]
    errors = [sum(number(r[key], "errors") or 0 for r in runs[s] if key in r) for s in ("BASE", "NEW")]
    rate_ratio, p50_ratio = ratio(rate[1], rate[0]), ratio(p50[1], p50[0])
    flags = []
    if rate_ratio is not None and rate_ratio < 1 / LIMIT:
        flags.append("SLOWER (per s)")
    if p50_ratio is not None and p50_ratio > LIMIT:
        flags.append("SLOWER (p50)")
    if rate[0] is None or rate[1] is None:
        flags.append("only in " + ("NEW" if rate[0] is None else "BASE"))
    slower += any(f.startswith("SLOWER") for f in flags)
    print(
        f"| {' | '.join(key)} | {fmt(rate[0], 1)} | {fmt(rate[1], 1)} | {fmt(rate_ratio)} "
        f"| {fmt(p50[0])} | {fmt(p50[1])} | {fmt(p50_ratio)} | {fmt(ratio(cpu[1], cpu[0]))} "
        f"| {errors[0]:.0f} / {errors[1]:.0f} | {', '.join(flags)} |"
    )
print()
print(f"Rows where NEW is more than 10 % slower than BASE: {slower} of {len(keys)}.")
sys.exit(1 if slower else 0)
PY
cat "$summary"
echo
echo "each run's tables and log: $out"
exit "$status"
