#!/usr/bin/env bash
# Starts a real Kubernetes control plane for tests and the lab: etcd and kube-apiserver (built by
# scripts/build-kube.sh), with the flags a real cluster uses (authorization Node,RBAC, the default
# admission plugins, service-account token signing, TLS with certificates made here by openssl).
#
#   bash scripts/kube-up.sh DIR      writes DIR/kubeconfig (cluster-admin), returns when /readyz is ok
#   bash scripts/kube-down.sh DIR    stops both, no process left
#   bash scripts/kube-down.sh DIR kube-apiserver, later kube-up.sh DIR again: an API server outage
#
# Ports (environment): KUBE_API_PORT (6443), ETCD_CLIENT_PORT (2379), ETCD_PEER_PORT (2380).
# kube-apiserver listens on 127.0.0.1 only. Lab network namespaces reach it through a forward of
# their own 127.0.0.1:PORT (src/lab/unix-forward.ts): the serving certificate names 127.0.0.1,
# localhost and the in-cluster names, so TLS verifies from both sides.
#
# DIR keeps the state: pki/ (CA, serving, admin and service-account keys), etcd/ (data), *.log,
# audit.log (every request's metadata), *.pid. Starting again on the same DIR reuses the keys and data.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/kube-versions.sh
. "$here/kube-versions.sh"

die() {
  echo "kube-up: $*" >&2
  exit 1
}
[ $# -eq 1 ] || die "usage: bash scripts/kube-up.sh DIR"
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
api_port="${KUBE_API_PORT:-6443}"
etcd_port="${ETCD_CLIENT_PORT:-2379}"
peer_port="${ETCD_PEER_PORT:-2380}"
pki="$dir/pki"

for b in etcd kube-apiserver kubectl; do
  [ -x "$KUBE_BIN/$b" ] || die "$KUBE_BIN/$b is missing: build it with 'bash scripts/build-kube.sh' (scripts/setup.sh runs it)"
done
for t in openssl curl ss setsid; do
  command -v "$t" >/dev/null 2>&1 || die "'$t' is not installed (scripts/setup.sh installs it)"
done

running() { # PIDFILE -> true when the process it names runs and is ours (its command line names DIR)
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/"
}
if running "$dir/kube-apiserver.pid"; then
  die "a control plane already runs from $dir (bash scripts/kube-down.sh $dir stops it)"
fi
# After `kube-down.sh DIR kube-apiserver` (an API server outage), etcd runs on: start the server only.
etcd_runs=false
if running "$dir/etcd.pid"; then etcd_runs=true; fi

port_free() { # PORT WHAT
  local who
  who="$(ss -Hltnp "sport = :$1" 2>/dev/null || true)"
  [ -z "$who" ] || die "port $1 for $2 is taken on this machine: $(echo "$who" | head -1 | sed 's/  */ /g'). Stop that, or set ${3}=<free port>"
}
port_free "$api_port" kube-apiserver KUBE_API_PORT
if ! $etcd_runs; then
  port_free "$etcd_port" "etcd (clients)" ETCD_CLIENT_PORT
  port_free "$peer_port" "etcd (peers)" ETCD_PEER_PORT
fi

# --- certificates (made once per DIR) ---------------------------------------------------------
mkdir -p "$pki"
ossl() { openssl "$@" 2>>"$pki/openssl.log" || die "openssl $1 failed, see $pki/openssl.log"; }
if [ ! -f "$pki/ca.crt" ]; then
  ossl genrsa -out "$pki/ca.key" 2048
  ossl req -x509 -new -key "$pki/ca.key" -days 3650 -subj "/CN=vipkeeper-test-ca" -out "$pki/ca.crt"
fi
signed() { # NAME SUBJECT EXTFILE-CONTENT
  local name="$1"
  [ -f "$pki/$name.crt" ] && return 0
  ossl genrsa -out "$pki/$name.key" 2048
  ossl req -new -key "$pki/$name.key" -subj "$2" -out "$pki/$name.csr"
  printf '%s\n' "$3" >"$pki/$name.ext"
  ossl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/$name.ext" -out "$pki/$name.crt"
}
signed apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:198.19.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
# cluster-admin through the system:masters group, as kubeadm's first admin.conf.
signed admin "/O=system:masters/CN=kubernetes-admin" "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
# The requests kube-apiserver itself makes to aggregated servers (front proxy), and its own client.
signed front-proxy-client "/CN=front-proxy-client" "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
if [ ! -f "$pki/sa.key" ]; then
  ossl genrsa -out "$pki/sa.key" 2048
  ossl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
fi

kubeconfig() { # SERVER-PORT -> stdout
  local b64
  b64() { base64 -w0 <"$1"; }
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: vipkeeper-test
  cluster:
    server: https://127.0.0.1:$1
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: kubernetes-admin
  user:
    client-certificate-data: $(b64 "$pki/admin.crt")
    client-key-data: $(b64 "$pki/admin.key")
contexts:
- name: vipkeeper-test
  context:
    cluster: vipkeeper-test
    user: kubernetes-admin
current-context: vipkeeper-test
EOF
}

# --- etcd -------------------------------------------------------------------------------------
# What a log says went wrong: its first errors (etcd's JSON "msg", klog's E/F lines), else its end.
tail_log() {
  local said
  said="$(grep -m4 -E '"level":"(fatal|panic|error)"|^[EF][0-9]{4} |^panic:|^Error:' "$1" 2>/dev/null |
    sed -E 's/.*"msg":"([^"]*)".*/\1/' | cut -c1-300)" || true
  [ -n "$said" ] || said="$(tail -n 10 "$1" 2>/dev/null)"
  echo "--- $1 says:" >&2
  echo "$said" | sed 's/^/  /' >&2
}

if $etcd_runs; then
  etcd_port="$(cat "$dir/etcd.port")"
  echo "kube-up: etcd already runs from $dir (port $etcd_port); starting kube-apiserver only" >&2
else
  mkdir -p "$dir/etcd"
  setsid "$KUBE_BIN/etcd" --name vipkeeper-test --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync >"$dir/etcd.log" 2>&1 </dev/null &
  echo $! >"$dir/etcd.pid"
  echo "$etcd_port" >"$dir/etcd.port"

  deadline=$((SECONDS + 30))
  until curl -fsS "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q '"health":"true"'; do
    if ! running "$dir/etcd.pid"; then
      tail_log "$dir/etcd.log"
      die "etcd exited during start-up (log: $dir/etcd.log)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail_log "$dir/etcd.log"
      bash "$here/kube-down.sh" "$dir" >/dev/null 2>&1 || true
      die "etcd was not ready at http://127.0.0.1:$etcd_port/health within 30 s (log: $dir/etcd.log)"
    fi
    sleep 0.2
  done
fi

# --- kube-apiserver ---------------------------------------------------------------------------
# An audit log of every request's metadata (who, verb, resource), as clusters keep: what
# bench/api-at-rest.ts counts the agents' and the controller's requests from.
cat >"$dir/audit-policy.yaml" <<'EOF_POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
EOF_POLICY
setsid "$KUBE_BIN/kube-apiserver" \
  --bind-address=127.0.0.1 --secure-port="$api_port" --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --cert-dir="$pki" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --authorization-mode=Node,RBAC --anonymous-auth=true \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --api-audiences=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range=198.19.0.0/16 \
  --allow-privileged=true \
  --requestheader-client-ca-file="$pki/ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
  --profiling=false \
  --audit-policy-file="$dir/audit-policy.yaml" --audit-log-path="$dir/audit.log" \
  --audit-log-format=json --audit-log-maxsize=64 --audit-log-maxbackup=1 \
  >"$dir/kube-apiserver.log" 2>&1 </dev/null &
echo $! >"$dir/kube-apiserver.pid"

kubeconfig "$api_port" >"$dir/kubeconfig"
chmod 600 "$dir/kubeconfig"

deadline=$((SECONDS + 90))
until [ "$(curl -sS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
  "https://127.0.0.1:$api_port/readyz" 2>/dev/null)" = "ok" ]; do
  if ! running "$dir/kube-apiserver.pid"; then
    tail_log "$dir/kube-apiserver.log"
    bash "$here/kube-down.sh" "$dir" >/dev/null 2>&1 || true
    die "kube-apiserver exited during start-up (log: $dir/kube-apiserver.log)"
  fi
  if [ $SECONDS -ge $deadline ]; then
    curl -sS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
      "https://127.0.0.1:$api_port/readyz?verbose" 2>&1 | grep -v '\[+\]' >&2 || true
    tail_log "$dir/kube-apiserver.log"
    bash "$here/kube-down.sh" "$dir" >/dev/null 2>&1 || true
    die "kube-apiserver was not ready at https://127.0.0.1:$api_port/readyz within 90 s (log: $dir/kube-apiserver.log)"
  fi
  sleep 0.3
done
echo "kube-up: kube-apiserver $KUBE_VERSION ready at https://127.0.0.1:$api_port; KUBECONFIG=$dir/kubeconfig" >&2
