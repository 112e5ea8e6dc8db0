#!/usr/bin/env bash
# Cross-check of the PortOne V1 sandbox with the gateway's own published REST clients
# (PyPI iamport-rest-client, npm iamport-rest-client-nodejs), unchanged but for the base URL;
# of the V2 sandbox with PortOne's official V2 server SDKs (PyPI portone-server-sdk, npm
# @portone/server-sdk), unchanged but for the base URL, including their webhook verification;
# and of the service's outgoing webhooks with the Standard Webhooks reference libraries
# (PyPI and npm standardwebhooks), verifying what a receiver gets.
#
#   tests/clients/run.sh            # after: cargo build -p escrow
#
# ESCROW_BIN      the escrow binary (default ${CARGO_TARGET_DIR:-target}/debug/escrow,
#                 relative to the repository root)
# XDG_CACHE_HOME  the Python environment lives in ${XDG_CACHE_HOME:-$HOME/.cache}/escrow-xcheck
#
# Needs python3 with pip, node >= 18 and npm. Starts `escrow sandbox` on a free local port,
# runs both checks against it; then `escrow serve` on a temporary SQLite database for the
# webhook checks; stops both, and exits non-zero if any check failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

bin="${ESCROW_BIN:-${CARGO_TARGET_DIR:-target}/debug/escrow}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
if [[ ! -x "$bin" ]]; then
  echo "run.sh: no escrow binary at $bin (build it: cargo build -p escrow, or set ESCROW_BIN)" >&2
  exit 2
fi
for tool in python3 node npm; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 2; }
done

export SANDBOX_KEY="xcheck_imp_key"
export SANDBOX_SECRET="xcheck_imp_secret_$RANDOM$RANDOM"
export V2_SECRET="xcheck_v2_secret_$RANDOM$RANDOM"
export V2_STORE_ID="store-xcheck-$RANDOM"
export V2_WEBHOOK_SECRET="whsec_$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"

# ---- Python environment: a venv, or (no ensurepip, e.g. Debian without python3-venv)
# ---- a `pip install --target` directory. Both are reused while requirements.txt is unchanged.
cache="${XDG_CACHE_HOME:-$HOME/.cache}/escrow-xcheck"
mkdir -p "$cache"
req="$here/python/requirements.txt"
stamp_of() { python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }
want="$(stamp_of "$req")"
venv="$cache/venv"
pylib="$cache/pylib"
py=""
pypath=""
if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  py="$venv/bin/python"
elif python3 -m venv "$venv" >/dev/null 2>&1 && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  py="$venv/bin/python"
else
  rm -rf "$venv" # a half-made venv (no pip) would only mislead the next run
  python3 -m pip --version >/dev/null 2>&1 || { echo "run.sh: python3 has no pip" >&2; exit 2; }
  py="python3"
  pypath="$pylib"
fi
if [[ -z "$pypath" ]]; then
  if [[ "$(cat "$venv/.xcheck-stamp" 2>/dev/null)" != "$want" ]]; then
    echo "run.sh: installing the Python client into $venv"
    "$py" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$venv/.xcheck-stamp"
  fi
else
  if [[ "$(cat "$pylib/.xcheck-stamp" 2>/dev/null)" != "$want" ]]; then
    echo "run.sh: no usable venv; installing the Python client into $pylib"
    rm -rf "$pylib"
    python3 -m pip install --quiet --disable-pip-version-check --no-user --target "$pylib" -r "$req"
    echo "$want" >"$pylib/.xcheck-stamp"
  fi
fi

# ---- Node: exactly the locked versions.
echo "run.sh: npm ci in tests/clients/node"
(cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# ---- The sandbox, V1 and V2 faces on free ports (V2 at an origin's root: the JS SDK
# ---- drops any base path); its waits (webhook retries, refunds) a thousand times shorter.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
port="$(free_port)"
v2_port="$(free_port)"
export SANDBOX_URL="http://127.0.0.1:$port"
export V2_SANDBOX_URL="http://127.0.0.1:$v2_port"
log="$(mktemp "${TMPDIR:-/tmp}/escrow-xcheck-sandbox.XXXXXX")"
PORTONE_IMP_KEY="$SANDBOX_KEY" PORTONE_IMP_SECRET="$SANDBOX_SECRET" \
  PORTONE_API_SECRET="$V2_SECRET" PORTONE_STORE_ID="$V2_STORE_ID" \
  PORTONE_WEBHOOK_SECRET="$V2_WEBHOOK_SECRET" ESCROW_SANDBOX_TIME_SCALE=0.001 \
  "$bin" sandbox --listen "127.0.0.1:$port" --v2-listen "127.0.0.1:$v2_port" >"$log" 2>&1 &
sandbox_pid=$!
service_pid=""
workdir="$(mktemp -d "${TMPDIR:-/tmp}/escrow-xcheck.XXXXXX")"
stop() {
  for pid in "$sandbox_pid" $service_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -f "$log"
  rm -rf "$workdir"
}
trap stop EXIT

ready=""
for _ in $(seq 1 100); do
  if ! kill -0 "$sandbox_pid" 2>/dev/null; then break; fi
  if python3 -c 'import sys, urllib.request; [urllib.request.urlopen(u, timeout=1).read() for u in sys.argv[1:]]' \
    "$SANDBOX_URL/iamport.js" "$V2_SANDBOX_URL/browser-sdk.js" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  echo "run.sh: the sandbox did not come up on $SANDBOX_URL and $V2_SANDBOX_URL; its output:" >&2
  cat "$log" >&2
  exit 2
fi
echo "run.sh: sandbox at $SANDBOX_URL, its V2 face at $V2_SANDBOX_URL"

status=0
echo "== python: iamport-rest-client"
if [[ -n "$pypath" ]]; then
  PYTHONPATH="$pypath${PYTHONPATH:+:$PYTHONPATH}" PYTHONNOUSERSITE=1 "$py" "$here/python/check.py" || status=1
else
  "$py" "$here/python/check.py" || status=1
fi
echo "== node: iamport-rest-client-nodejs"
(cd "$here/node" && node check.mjs) || status=1
echo "== python: portone-server-sdk (V2)"
if [[ -n "$pypath" ]]; then
  PYTHONPATH="$pypath${PYTHONPATH:+:$PYTHONPATH}" PYTHONNOUSERSITE=1 "$py" "$here/python/check_v2.py" || status=1
else
  "$py" "$here/python/check_v2.py" || status=1
fi
echo "== node: @portone/server-sdk (V2)"
(cd "$here/node" && node check_v2.mjs) || status=1

# ---- Outgoing webhooks: the service in development (a loopback receiver is accepted).
export ESCROW_DATABASE_URL="sqlite://$workdir/escrow.db"
export ADMIN_EMAIL="xcheck-admin@example.kr"
export ADMIN_PASSWORD="xcheck-admin-password-$RANDOM"
export WEBHOOKS_OUT="$workdir/webhooks.json"
"$bin" admin create --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" >>"$workdir/service.log" 2>&1
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
export ESCROW_URL="http://127.0.0.1:$port"
ESCROW_LISTEN="127.0.0.1:$port" "$bin" serve >>"$workdir/service.log" 2>&1 &
service_pid=$!
ready=""
for _ in $(seq 1 100); do
  if ! kill -0 "$service_pid" 2>/dev/null; then break; fi
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1).read()' \
    "$ESCROW_URL" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  echo "run.sh: the service did not come up on $ESCROW_URL; its output:" >&2
  cat "$workdir/service.log" >&2
  exit 2
fi
echo "== python: standardwebhooks"
if [[ -n "$pypath" ]]; then
  PYTHONPATH="$pypath${PYTHONPATH:+:$PYTHONPATH}" PYTHONNOUSERSITE=1 "$py" "$here/python/webhooks.py" || status=1
else
  "$py" "$here/python/webhooks.py" || status=1
fi
echo "== node: standardwebhooks"
(cd "$here/node" && node webhooks.mjs) || status=1

if [[ $status -ne 0 ]]; then
  echo "run.sh: FAILED (see above)"
else
  echo "run.sh: the official V1 clients and V2 SDKs agree with the sandbox, the standardwebhooks libraries verify our webhooks"
fi
exit $status
