#!/usr/bin/env bash
# Stops what `bash scripts/kube-up.sh DIR` started (kube-apiserver, then etcd) and waits until no
# process of it is left. DIR (keys, etcd data, logs) stays; remove it to start from nothing.
# `kube-down.sh DIR kube-apiserver` kills the API server only, at once, as a crash (an outage: its
# clients' connections drop there and then; kube-up.sh DIR starts it again on the same etcd).
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] && { [ $# -eq 1 ] || [ "$2" = kube-apiserver ]; } ||
  { echo "usage: bash scripts/kube-down.sh DIR [kube-apiserver]" >&2; exit 1; }
[ -d "$1" ] || exit 0
dir="$(cd "$1" && pwd)"

ours() { # PID -> true while it runs and its command line names DIR (a reused pid is left alone)
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "$dir/"
}
stop() { # NAME [SIGNAL]
  local f="$dir/$1.pid" pid i
  pid="$(cat "$f" 2>/dev/null)" || return 0
  if [ -n "$pid" ] && ours "$pid"; then
    kill "-${2:-TERM}" "$pid" 2>/dev/null || true
    for i in $(seq 100); do ours "$pid" || break; sleep 0.1; done
    if ours "$pid"; then
      echo "kube-down: $1 (pid $pid) did not stop within 10 s of SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 50); do ours "$pid" || break; sleep 0.1; done
    fi
    if ours "$pid"; then
      echo "kube-down: $1 (pid $pid) is still running" >&2
      return 1
    fi
  fi
  rm -f "$f"
}
if [ "${2:-}" = kube-apiserver ]; then
  stop kube-apiserver KILL
else
  stop kube-apiserver
  stop etcd
fi
