#!/usr/bin/env bash
# Hostile input: schemathesis generates requests from /openapi.json (valid, edge-case and
# malformed) against a running service and fails on any 5xx or any response that breaks the
# documented schema. Self-contained: starts the service on a fresh SQLite file.
#   ESCROW_BIN   the escrow binary (default: <target>/debug/escrow)
#   ST_EXAMPLES  examples per operation (default 25)
set -euo pipefail
cd "$(dirname "$0")/../.."

target_dir="${CARGO_TARGET_DIR:-target}"
bin="${ESCROW_BIN:-$target_dir/debug/escrow}"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/escrow-tools/schemathesis"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/hostile/requirements.txt
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
db=$(mktemp -u /tmp/escrow-hostile-XXXXXX).db
ESCROW_DATABASE_URL="sqlite://$db" ESCROW_LISTEN="127.0.0.1:$port" ESCROW_LOG=error "$bin" serve &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$db" "$db-wal" "$db-shm"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

# A signed-in seller, so the protected operations are reached too. Taken before the run:
# schemathesis's own logins trip the failed-login throttle for this address.
curl -sf -X POST "$base/auth/signup" -H 'content-type: application/json' \
  -d '{"email":"hostile@example.kr","password":"password-123","name":"H","role":"seller"}' >/dev/null
token=$(curl -sf -X POST "$base/auth/login" -H 'content-type: application/json' \
  -d '{"email":"hostile@example.kr","password":"password-123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

"$venv/bin/st" run "$base/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --max-examples "${ST_EXAMPLES:-50}" --workers 2 --seed 1 --no-color \
  --phases examples,fuzzing,stateful
