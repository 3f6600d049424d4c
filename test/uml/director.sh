#!/bin/sh
# A director host inside a UML guest (test/uml/lvs-dr.test.ts boots it): takes its address on
# eth0, optionally serves a local sorry server, runs the vipkeeper agent from a keepalived.conf (or
# keepalived itself, with DIRECTOR=keepalived), and every second writes what the kernel holds
# (eth0's addresses, IPVS's table) where the test reads it.
# Args: ADDRESS/PREFIX CONFIG NODE [SORRY_NAME]
set -u
ip addr add "$1" dev eth0
if [ -n "${4:-}" ]; then node src/lab/http-backend.ts 80 "$4" > "$OUT/sorry.log" 2>&1 & fi
if [ "${DIRECTOR:-vipkeeper}" = keepalived ]; then
  keepalived --dont-fork --log-console --log-detail -f "$2" -p /run/keepalived.pid -r /run/vrrp.pid \
    -c /run/checkers.pid > "$OUT/agent.log" 2>&1 &
else
  node bin/vipkeeper.js agent --config "$2" --node "$3" > "$OUT/agent.log" 2>&1 &
fi
while true; do
  { ip -o addr show dev eth0; ipvsadm -Ln; } > "$OUT/state.tmp" 2>&1
  mv "$OUT/state.tmp" "$OUT/state.txt"
  sleep 1
done
