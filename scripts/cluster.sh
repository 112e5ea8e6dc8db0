#!/usr/bin/env bash
# A local cluster, as the service runs on in production: 3 MariaDB Galera nodes, HAProxy in
# TCP mode in front of them, and a 3-node NATS JetStream cluster. Everything listens on
# loopback, on ports clear of the single MariaDB (3306) and NATS (4222) the tests use.
# The cluster chaos test drives it; it is also the quickest way to try the service on a
# cluster by hand (README, "Running on a cluster").
#
#   scripts/cluster.sh start            a fresh cluster (what an earlier one left is wiped)
#   scripts/cluster.sh stop             stops everything and removes its directory
#   scripts/cluster.sh status           each node's state
#   scripts/cluster.sh env              the service's settings for this cluster
#   scripts/cluster.sh kill-db N        SIGKILLs Galera node N (1-3), as a crash would
#   scripts/cluster.sh start-db N       starts node N again; it rejoins (incremental transfer)
#   scripts/cluster.sh kill-nats N      SIGKILLs NATS node N (1-3)
#   scripts/cluster.sh start-nats N     starts NATS node N again on its own store
#
# Settings: ESCROW_CLUSTER_DIR (default $TMPDIR/escrow-cluster), ESCROW_CLUSTER_PORT (default
# 13300: HAProxy there, Galera nodes on +6..+8, NATS clients on +922..+924).
# The servers run as the `mysql` user: Galera's rsync state transfer fails as root.
set -euo pipefail

dir=${ESCROW_CLUSTER_DIR:-${TMPDIR:-/tmp}/escrow-cluster}
base=${ESCROW_CLUSTER_PORT:-13300}
proxy_port=$base
nodes=(1 2 3)

db_port() { echo $((base + 5 + $1)); }
# Galera's group communication port; +2 incremental transfer (IST), +3 full transfer (SST).
galera_port() { echo $((base + 1266 + $1 * 10)); }
nats_port() { echo $((base + 921 + $1)); }
nats_route_port() { echo $((base + 2921 + $1)); }
node_dir() { echo "$dir/db$1"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_mysql() { if [ "$(id -u)" = 0 ]; then runuser -u mysql -- "$@"; else sudo -u mysql "$@"; fi; }

sql() { # node, statement
  mariadb -uroot -h127.0.0.1 -P"$(db_port "$1")" --connect-timeout=2 -N -B -e "$2" 2>/dev/null
}

wait_for() { # seconds, what, command...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    if "$@"; then return 0; fi
    sleep 0.2
  done
  echo "cluster: $what did not happen within ${seconds}s" >&2
  return 1
}

node_synced() { [ "$(sql "$1" "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'wsrep_local_state_comment'")" = Synced ]; }
cluster_whole() { [ "$(sql "$1" "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'wsrep_cluster_size'")" = 3 ]; }

write_node_config() {
  local n=$1 d gport addresses=""
  d=$(node_dir "$n")
  gport=$(galera_port "$n")
  for m in "${nodes[@]}"; do addresses+="${addresses:+,}127.0.0.1:$(galera_port "$m")"; done
  cat >"$d/my.cnf" <<CNF
[mysqld]
datadir=$d/data
socket=$d/sock
port=$(db_port "$n")
bind-address=127.0.0.1
user=mysql
pid-file=$d/pid
log-error=$d/err.log
!include $(cd "$(dirname "$0")/.." && pwd)/deploy/galera.cnf
wsrep_node_name=db$n
wsrep_cluster_address=gcomm://$addresses
wsrep_node_address=127.0.0.1:$gport
wsrep_provider_options="gcache.size=128M;gmcast.listen_addr=tcp://127.0.0.1:$gport;ist.recv_addr=127.0.0.1:$((gport + 2))"
wsrep_sst_receive_address=127.0.0.1:$((gport + 3))
# A small test cluster: little memory, no thread pool tuning.
innodb_buffer_pool_size=64M
CNF
}

# Starts node N in the background; `new` bootstraps a new cluster with it.
launch_db() {
  local n=$1 mode=${2:-join} d position
  d=$(node_dir "$n")
  local args=(--defaults-file="$d/my.cnf")
  if [ "$mode" = new ]; then
    args+=(--wsrep-new-cluster)
  elif [ -f "$d/data/grastate.dat" ]; then
    # Where this node's data ends, so that it catches up by IST instead of a full copy.
    as_mysql /usr/sbin/mariadbd "${args[@]}" --wsrep-recover --log-error="$d/recover.log" >/dev/null 2>&1 || true
    position=$(sed -n 's/.*WSREP: Recovered position: *\([^ ]*\).*/\1/p' "$d/recover.log" | tail -1)
    rm -f "$d/recover.log"
    if [ -n "$position" ]; then args+=(--wsrep-start-position="$position"); fi
  fi
  as_root setsid /usr/sbin/mariadbd "${args[@]}" </dev/null >/dev/null 2>&1 &
  wait_for 90 "Galera node $n joining" node_synced "$n"
}

start_db_nodes() {
  for n in "${nodes[@]}"; do
    local d
    d=$(node_dir "$n")
    mkdir -p "$d"
    mariadb-install-db --no-defaults --datadir="$d/data" --user=mysql \
      --auth-root-authentication-method=normal >"$d/install.log" 2>&1
    write_node_config "$n"
    as_root chown -R mysql:mysql "$d"
  done
  launch_db 1 new
  launch_db 2
  launch_db 3
  wait_for 30 "a 3-node Galera cluster" cluster_whole 1
  # HAProxy's health check logs in as this user (no password, no rights).
  sql 1 "CREATE USER IF NOT EXISTS 'haproxy'@'127.0.0.1'"
}

start_proxy() {
  local config="$dir/haproxy.cfg"
  {
    sed -e "s/@PORT@/$proxy_port/" "$(cd "$(dirname "$0")/.." && pwd)/deploy/haproxy.cfg"
    for n in "${nodes[@]}"; do
      local role=""
      [ "$n" = 1 ] || role=" backup"
      echo "    server db$n 127.0.0.1:$(db_port "$n") check$role"
    done
  } >"$config"
  if ! command -v haproxy >/dev/null; then
    echo "cluster: haproxy is not installed (scripts/ensure-services.sh installs it)" >&2
    return 1
  fi
  haproxy -f "$config" -D -p "$dir/haproxy.pid"
}

launch_nats() {
  local n=$1 routes=""
  for m in "${nodes[@]}"; do routes+="${routes:+,}nats://127.0.0.1:$(nats_route_port "$m")"; done
  mkdir -p "$dir/nats$n"
  setsid nats-server -a 127.0.0.1 -p "$(nats_port "$n")" --server_name "nats$n" \
    --cluster_name escrow --cluster "nats://127.0.0.1:$(nats_route_port "$n")" \
    --routes "$routes" -js -sd "$dir/nats$n" -P "$dir/nats$n.pid" \
    </dev/null >"$dir/nats$n.log" 2>&1 &
  wait_for 30 "NATS node $n listening" bash -c "exec 3<>/dev/tcp/127.0.0.1/$(nats_port "$n")" 2>/dev/null
}

kill_pidfile() { # file
  if [ -f "$1" ]; then
    as_root kill -9 "$(cat "$1")" 2>/dev/null || true
    rm -f "$1"
  fi
}

nats_urls() {
  local urls=""
  for n in "${nodes[@]}"; do urls+="${urls:+,}nats://127.0.0.1:$(nats_port "$n")"; done
  echo "$urls"
}

stop_all() {
  kill_pidfile "$dir/haproxy.pid"
  for n in "${nodes[@]}"; do
    kill_pidfile "$(node_dir "$n")/pid"
    kill_pidfile "$dir/nats$n.pid"
  done
  as_root rm -rf "$dir"
}

case "${1:-}" in
start)
  stop_all
  mkdir -p "$dir"
  chmod 755 "$dir"
  start_db_nodes
  start_proxy
  for n in "${nodes[@]}"; do launch_nats "$n"; done
  echo "cluster: up in $dir"
  ;;
stop) stop_all ;;
status)
  for n in "${nodes[@]}"; do
    echo "db$n (port $(db_port "$n")): $(sql "$n" "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'wsrep_local_state_comment'" || echo down)"
  done
  for n in "${nodes[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$(nats_port "$n")") 2>/dev/null; then s=up; else s=down; fi
    echo "nats$n (port $(nats_port "$n")): $s"
  done
  ;;
env)
  echo "ESCROW_DATABASE_URL=mysql://root@127.0.0.1:$proxy_port/escrow"
  # Each node's server, for an instance that connects to one node directly.
  urls=""
  for n in "${nodes[@]}"; do urls+="${urls:+,}mysql://root@127.0.0.1:$(db_port "$n")"; done
  echo "ESCROW_CLUSTER_NODE_URLS=$urls"
  echo "ESCROW_NATS_URL=$(nats_urls)"
  echo "ESCROW_NATS_REPLICAS=3"
  ;;
kill-db) kill_pidfile "$(node_dir "$2")/pid" ;;
start-db) launch_db "$2" ;;
kill-nats) kill_pidfile "$dir/nats$2.pid" ;;
start-nats) launch_nats "$2" ;;
*)
  sed -n '2,18p' "$0" >&2
  exit 2
  ;;
esac
