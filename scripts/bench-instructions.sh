#!/usr/bin/env bash
# The service's instructions per request, counted by valgrind's callgrind: exact where the
# harness's throughput moves with the machine (BENCHMARKS.md, "Instructions per request").
#
#   scripts/bench-instructions.sh DIR [escrow-bench flags]
#   scripts/bench-instructions.sh ~/.cache/escrow-bench-ab/release/<sha> \
#       --db sqlite --scenario lifecycle --duration 8s --warmup 2s
#
# DIR holds a build's `escrow` and `escrow-bench` (scripts/bench-ab.sh leaves them there).
# The harness runs as usual but with `escrow serve` under callgrind, whose counts are dumped
# every 3 s. Each dump is one line: the instructions the service ran in it (every thread, its
# jobs and SQLite included; the kernel's work not), the requests it answered (counted where
# the metrics middleware finishes one), their ratio, and the handlers that answered them. A
# step's dumps in its steady middle agree within a few per cent; compare those of two builds.
# Environment: BENCH_INSTRUCTIONS_OUT, where the dumps go (default artifacts/instructions-<time>).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ ! -x "$1/escrow" ]; then
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
out="${BENCH_INSTRUCTIONS_OUT:-artifacts/instructions-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The harness starts `escrow serve` through this wrapper, and everything else directly.
cat >"$out/escrow" <<EOF
#!/usr/bin/env bash
if [ "\$1" = serve ]; then
  exec valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" "$build/escrow" "\$@"
fi
exec "$build/escrow" "\$@"
EOF
chmod +x "$out/escrow"

(
  while sleep 3; do
    for pid in $(pgrep -f "callgrind-out-file=$out/" || true); do
      callgrind_control --dump "$pid" >/dev/null 2>&1 || true
    done
  done
) &
dumper=$!
status=0
ESCROW_BIN="$out/escrow" "$build/escrow-bench" --out "$out/harness.md" "$@" >"$out/harness.log" 2>&1 || status=$?
kill "$dumper" 2>/dev/null || true
pkill -TERM -f "callgrind-out-file=$out/" 2>/dev/null || true
sleep 2
if [ "$status" != 0 ]; then
  echo "the harness failed; its output: $out/harness.log" >&2
  tail -n 20 "$out/harness.log" >&2
  exit 1
fi

python3 - "$out" <<'PY'
"""One line per callgrind dump: instructions, requests, instructions per request, handlers."""
import collections
import re
import sys
from pathlib import Path

REQUEST = "drop_in_place<escrow_http::middleware::record_metrics::{{closure}}>"
HANDLER = re.compile(r"drop_in_place<escrow_http::(?:[a-z_]+::)+([a-z_]+)::\{\{closure\}\}>$")
LAYERS = ("escrow_http::middleware::", "escrow_http::idempotency::")


def read(path):
    """The dump's total Ir and how often each function was called."""
    names, calls, total, callee = {}, collections.Counter(), 0, None
    with open(path, errors="replace") as dump:
        for line in dump:
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
            elif line.startswith(("fn=", "cfn=")):
                number, _, name = line.rstrip("\n").partition(" ")
                key = number.split("=", 1)[1]
                if name:
                    names[key] = name
                if line.startswith("cfn="):
                    callee = names.get(key)
            elif line.startswith("calls=") and callee:
                calls[callee] += int(line[6:].split()[0])
    return total, calls


def process_and_part(path):
    """callgrind.<pid> is a process's last dump (0), callgrind.<pid>.<n> its n-th."""
    pid, _, part = path.name.removeprefix("callgrind.").partition(".")
    return int(pid), int(part or 0)


out = Path(sys.argv[1])
process = None
for path in sorted(out.glob("callgrind.*"), key=process_and_part):
    pid, part = process_and_part(path)
    if pid != process:
        process = pid
        print(f"\nescrow serve, process {pid}")
        print(f"{'dump':>5} {'instructions':>14} {'requests':>9} {'per request':>12}  handlers")
    total, calls = read(path)
    requests = sum(n for name, n in calls.items() if name.endswith(REQUEST))
    handlers = collections.Counter()
    for name, n in calls.items():
        match = HANDLER.search(name)
        if match and not any(layer in name for layer in LAYERS):
            handlers[match.group(1)] += n
    per = f"{total / requests:12.0f}" if requests else f"{'-':>12}"
    top = ", ".join(f"{name} {n}" for name, n in handlers.most_common(3))
    print(f"{part:>5} {total:>14} {requests:>9} {per}  {top}")
PY
echo "dumps, harness tables and log: $out"
