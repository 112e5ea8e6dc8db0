#!/usr/bin/env bash
# Makes sure what the test suite needs is installed and running on this machine:
# MariaDB on 127.0.0.1:3306 (root, empty password), NATS with JetStream on 127.0.0.1:4222
# (and its `nats-server`, which a test also starts on a port of its own), what the cluster
# chaos test's local cluster runs on (Galera, HAProxy, rsync) and, for the browser tests,
# Chromium.
# Safe to run again: it only acts on what is missing.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

mariadb_up() { mysqladmin -uroot -h127.0.0.1 --connect-timeout=2 status >/dev/null 2>&1; }

if ! mariadb_up; then
  if [ ! -x /usr/sbin/mariadbd ]; then
    echo "installing MariaDB..."
    apt_install mariadb-server mariadb-client
  fi
  echo "starting MariaDB..."
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do mariadb_up && break; sleep 1; done
  mariadb_up || { echo "MariaDB did not come up on 127.0.0.1:3306" >&2; exit 1; }
fi

nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }

if [ ! -x /usr/sbin/nats-server ]; then
  echo "installing NATS..."
  apt_install nats-server
fi
if ! nats_up; then
  echo "starting NATS..."
  as_root mkdir -p /var/lib/nats-server
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server
  for _ in $(seq 1 30); do nats_up && break; sleep 1; done
  nats_up || { echo "NATS did not come up on 127.0.0.1:4222" >&2; exit 1; }
fi

# The cluster chaos test's local cluster (scripts/cluster.sh): Galera comes with MariaDB;
# HAProxy sits in front of its nodes, and rsync makes a node's full state transfer.
if [ ! -x /usr/sbin/haproxy ] || [ ! -x /usr/bin/rsync ] || [ ! -f /usr/lib/galera/libgalera_smm.so ]; then
  echo "installing HAProxy, rsync and Galera for the cluster test..."
  apt_install haproxy rsync galera-4
fi

if [ "${SKIP_BROWSER:-}" != 1 ]; then
  # Korean text in the screenshots needs a Hangul font. The font list is read whole (no
  # `grep -q` on a pipe: it exits at the first match, fc-list dies of SIGPIPE, and under
  # pipefail the font then looks missing).
  fonts=$(fc-list 2>/dev/null || true)
  if [ ! -x /usr/bin/chromium ] || ! grep -qi nanum <<<"$fonts"; then
    echo "installing Chromium and a Korean font for the browser tests..."
    apt_install chromium fonts-nanum
  fi
fi
