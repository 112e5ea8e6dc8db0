#!/usr/bin/env bash
# Builds the web UI and the service, then serves both on http://127.0.0.1:8080/ with the
# embedded SQLite database (./escrow.db) and the built-in PortOne sandbox.
# Any ESCROW_* / PORTONE_* variable set in the environment is passed through (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f web/package.json ]; then
  if command -v npm >/dev/null 2>&1; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build)
  else
    echo "npm not found: serving the API without the web UI (install Node.js 20+ for the UI)" >&2
  fi
fi
cargo build --release -p escrow --locked
export ESCROW_WEB_DIR="${ESCROW_WEB_DIR:-$PWD/web/dist}"
echo "escrow: open http://${ESCROW_LISTEN:-127.0.0.1:8080}/ (API docs at /docs)"
exec "${CARGO_TARGET_DIR:-target}/release/escrow" serve
