# The versions scripts/build-kube.sh builds and scripts/kube-up.sh runs (sourced by both).
# kube-apiserver and kubectl from k8s.io/kubernetes; etcd at the version that release pins.
KUBE_VERSION=v1.37.2
HELM_VERSION=v4.3.2
# Bump when the build itself changes (flags, the etcd main), so caches built the old way are rebuilt.
KUBE_BUILD_REV=1
VIPKEEPER_KUBE_CACHE="${VIPKEEPER_KUBE_CACHE:-/var/cache/vipkeeper}"
KUBE_BIN="$VIPKEEPER_KUBE_CACHE/kube-$KUBE_VERSION/bin"
