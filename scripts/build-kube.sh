#!/usr/bin/env bash
# Builds the real Kubernetes tools the e2e suite and `vipkeeper lab --cluster` run, from Go modules
# (the Go module proxy; no prebuilt binaries are downloaded):
#   kube-apiserver, kubectl   k8s.io/kubernetes at KUBE_VERSION
#   etcd                      go.etcd.io/etcd/server/v3 (embed), at the version kubernetes pins
#   helm                      helm.sh/helm/v4/cmd/helm at HELM_VERSION
# into $VIPKEEPER_KUBE_CACHE/kube-$KUBE_VERSION/bin (default /var/cache/vipkeeper), outside the work
# tree so a fresh clone on the same machine reuses them. Skipped when that folder already holds all
# four from the same versions (bin/VERSIONS). Prints the folder on stdout.
#
# k8s.io/kubernetes's go.mod points its staging modules (k8s.io/api, apimachinery, ...) at folders
# inside its own repository (`=> ./staging/src/...`), which Go ignores outside it, so it cannot be
# `go install`ed. A wrapper module requires it and replaces every staging module with the published
# v0.<minor>.<patch>, lines generated from that release's own go.mod.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/kube-versions.sh
. "$here/kube-versions.sh"

cache_root="$VIPKEEPER_KUBE_CACHE"
dest="$cache_root/kube-$KUBE_VERSION"
stamp="KUBE_VERSION=$KUBE_VERSION HELM_VERSION=$HELM_VERSION BUILD_REV=$KUBE_BUILD_REV"

complete() {
  local b
  for b in etcd kube-apiserver kubectl helm; do [ -x "$dest/bin/$b" ] || return 1; done
  [ "$(cat "$dest/bin/VERSIONS" 2>/dev/null)" = "$stamp" ]
}

if complete; then
  echo "$dest/bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "build-kube: 'go' is not on PATH; Go 1.26 or later is needed to build kube-apiserver, kubectl, etcd and helm" >&2
  exit 1
fi

mkdir -p "$cache_root"
# Two set-ups at once (several worktrees on one machine) build once: the second waits, then finds it done.
exec 9>"$cache_root/.build-kube.lock"
flock 9
if complete; then
  echo "$dest/bin"
  exit 0
fi

start=$(date +%s)
work="$(mktemp -d "$cache_root/.build-XXXXXX")"
trap 'rm -rf "$work"' EXIT
out="$work/bin"
mkdir -p "$out" "$work/wrap/etcd"

export CGO_ENABLED=0 GOFLAGS="-mod=mod -trimpath -buildvcs=false" GOTOOLCHAIN=local
log() { echo "build-kube: $*" >&2; }

log "reading k8s.io/kubernetes@$KUBE_VERSION's go.mod"
kube_mod="$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
[ -f "$kube_mod" ] || { log "could not download k8s.io/kubernetes@$KUBE_VERSION from the Go module proxy ($(go env GOPROXY))"; exit 1; }
staging_version="v0.${KUBE_VERSION#v1.}"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$kube_mod")"
[ -n "$etcd_version" ] || { log "no go.etcd.io/etcd/server/v3 in k8s.io/kubernetes@$KUBE_VERSION's go.mod"; exit 1; }

{
  echo "module vipkeeper.local/kube-build"
  echo
  echo "go 1.26"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes $KUBE_VERSION"
  echo "	go.etcd.io/etcd/server/v3 $etcd_version"
  echo ")"
  echo
  echo "replace ("
  # Every `k8s.io/<m> => ./staging/src/k8s.io/<m>` of the release becomes the published module.
  sed -n 's|^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/.*$|\1|p' "$kube_mod" | sort -u |
    while read -r m; do echo "	$m => $m $staging_version"; done
  echo ")"
} >"$work/wrap/go.mod"
n_replace=$(grep -c ' => ' "$work/wrap/go.mod")
[ "$n_replace" -gt 10 ] || { log "found only $n_replace staging modules in $kube_mod"; exit 1; }
cp "$here/kube-etcd/main.go" "$work/wrap/etcd/main.go"

# What `kubectl version` and the server's /version say (the release's own build sets the same).
vpkg=k8s.io/component-base/version
cpkg=k8s.io/client-go/pkg/version
minor="${KUBE_VERSION#v1.}"
minor="${minor%%.*}"
kldflags="-s -w"
for p in $vpkg $cpkg; do
  kldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

log "building kube-apiserver, kubectl ($KUBE_VERSION) and etcd ($etcd_version) into $dest/bin (this takes a while)"
(cd "$work/wrap" && go build -ldflags="$kldflags" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./etcd)

log "building helm $HELM_VERSION"
GOBIN="$out" go install -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"

echo "$stamp" >"$out/VERSIONS"
rm -rf "$dest.old"
[ -d "$dest" ] && mv "$dest" "$dest.old"
mkdir -p "$dest"
mv "$out" "$dest/bin"
rm -rf "$dest.old"
log "built in $(($(date +%s) - start)) s: $(du -sh "$dest/bin" | cut -f1) in $dest/bin"
echo "$dest/bin"
