#!/usr/bin/env bash
# Start the system spec as a plain process deployment, configured ONLY by the environment variables the real
# agents read (PROTOCOL.md §4): a redis-server per host and each docker group as one stand-in process, no run
# plan, no aisys-verify launcher. Nothing here knows about the framework's stacks: it is "their" deployment.
#
#   start-processes.sh WORKDIR NETWORK [PORT_OFFSET]     e.g. start-processes.sh /tmp/dep 127.44.7 0
#
# Hosts: mainpc at NETWORK.2, pc2 at NETWORK.3. Writes WORKDIR/groups.tsv (host, group, pid) and
# WORKDIR/redis.tsv (host, address, port, pid); logs under WORKDIR/logs. Run it in its own process group
# (setsid) so the caller can stop everything with one kill of the group.
set -euo pipefail

WORKDIR=${1:?usage: start-processes.sh WORKDIR NETWORK [PORT_OFFSET]}
NETWORK=${2:?usage: start-processes.sh WORKDIR NETWORK [PORT_OFFSET]}
OFFSET=${3:-0}
PYTHON=${PYTHON:-python3}
SPEC=${SPEC:-$(cd "$(dirname "$0")/../.." && pwd)/system}
MAIN_PC_IP="$NETWORK.2"
PC2_IP="$NETWORK.3"
REDIS_PORT=$((6379 + OFFSET))

mkdir -p "$WORKDIR/logs"
cd "$WORKDIR"  # stand-ins keep their stores under ./.aisys/data
: > groups.tsv
: > redis.tsv

for pair in "mainpc $MAIN_PC_IP" "pc2 $PC2_IP"; do
  set -- $pair
  mkdir -p "redis/$1"
  redis-server --bind "$2" --port "$REDIS_PORT" --save "" --appendonly no --dir "redis/$1" \
    --logfile "$WORKDIR/logs/redis-$1.log" &
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$REDIS_PORT" "$!" >> redis.tsv
done

# the groups of each host, in the spec's start order (those a group needs come first)
"$PYTHON" - "$SPEC" <<'PY' > order.tsv
import sys
from aisys_verify.plan.order import start_layers
from aisys_verify.spec.loader import load_spec
for layer in start_layers(load_spec([sys.argv[1]], {})):
    print(" ".join(f"{host}:{group}" for host, group in layer))
PY

while read -r layer; do
  for item in $layer; do
    host=${item%%:*}
    group=${item#*:}
    if [ "$host" = mainpc ]; then own=$MAIN_PC_IP; else own=$PC2_IP; fi
    env MAIN_PC_IP="$MAIN_PC_IP" PC2_IP="$PC2_IP" BIND_ADDRESS="$own" PORT_OFFSET="$OFFSET" \
        REDIS_URL="redis://$own:$REDIS_PORT/0" \
        "$PYTHON" -m aisys_verify.standin run --spec "$SPEC" --host "$host" --group "$group" \
        > "logs/$host-$group.log" 2>&1 &
    printf '%s\t%s\t%s\n' "$host" "$group" "$!" >> groups.tsv
  done
  sleep 0.3  # the real launcher starts dependencies first; a moment lets them bind
done < order.tsv
echo "started $(wc -l < groups.tsv) groups on $MAIN_PC_IP (mainpc) and $PC2_IP (pc2)"
