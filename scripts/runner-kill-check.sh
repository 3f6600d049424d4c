#!/bin/bash
# Kills the vitest runner (SIGKILL) in the middle of a UML-based lab test and shows what is left:
# nothing of what the test started should outlive the runner, and the next run of the same test
# still passes (it sweeps whatever the killed run could not remove). Root; about 4 minutes.
#   bash scripts/runner-kill-check.sh [test file, default test/uml/lvs-dr.test.ts] [lab prefix, default vkud-]
set -u
cd "$(dirname "$0")/.." && . scripts/env.sh
TEST=${1:-test/uml/lvs-dr.test.ts}
PREFIX=${2:-vkud-}
uml() { ps -eo stat=,comm= | awk '$2=="linux.uml" && $1 !~ /^Z/' | wc -l; }
nss() { ip netns list | awk '{print $1}' | grep "^$PREFIX" | tr '\n' ' '; }
node node_modules/vitest/vitest.mjs run "$TEST" > /tmp/runner-kill-check.1.log 2>&1 &
V=$!
for _ in $(seq 1 120); do [ "$(uml)" -ge 2 ] && break; sleep 1; done
sleep 15
desc() { local p; for p in $(ps -eo pid=,ppid= | awk -v P="$1" '$2==P{print $1}'); do echo "$p"; desc "$p"; done; }
ALL=$(desc $V | tr '\n' ' ')
echo "mid-run: runner $V with $(echo $ALL | wc -w) descendants, $(uml) linux.uml; namespaces: $(nss)"
for ns in $(nss); do echo "  $ns: $(ip netns pids "$ns" | xargs -r ps -o comm= -p | sort | uniq -c | tr '\n' ' ')"; done
kill -9 $V
sleep 5
left=""; for p in $ALL; do [ -e /proc/$p ] && left="$left $p($(cat /proc/$p/comm))"; done
echo "5 s after SIGKILL of the runner: descendants alive:${left:- none}; linux.uml: $(uml); namespaces: $(nss | wc -w)"
for ns in $(nss); do echo "  $ns: $(ip netns pids "$ns" | wc -l) processes (namespace left)"; done
node node_modules/vitest/vitest.mjs run "$TEST" > /tmp/runner-kill-check.2.log 2>&1
rc=$?
sleep 5
echo "second run: exit $rc, $(grep -E 'Tests ' /tmp/runner-kill-check.2.log | tail -1 | sed 's/\x1b\[[0-9;]*m//g' | xargs)"
echo "5 s after it: linux.uml: $(uml); $PREFIX namespaces: $(nss | wc -w)"
