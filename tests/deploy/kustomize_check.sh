#!/bin/sh
# Renders deploy/kubernetes/{base,overlays/*} with `kubectl kustomize` (offline) and checks each
# rendering with k8s_check.js (bundled Kubernetes schemas + policy; see that file).
# usage: kustomize_check.sh REPO_ROOT [NAME...]   NAME: base | sidecar | sharded (default: all)
# Exit 77 (skip) when kubectl with kustomize v4+ (kubectl 1.21+), node or the npm packages
# (npm ci in tests/deploy) are missing. Debian 12's kubernetes-client (kubectl 1.20, kustomize
# v2) cannot render these kustomizations.
set -u
root=${1:?usage: kustomize_check.sh REPO_ROOT [NAME...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
[ "$#" -gt 0 ] || set -- base sidecar sharded
if ! command -v kubectl >/dev/null 2>&1; then
  echo "kubectl not found; skipping"
  exit 77
fi
version=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\).*/\1/p')
if [ -z "$version" ] || [ "$version" -lt 4 ]; then
  echo "kubectl has no kustomize v4+ ($(kubectl version --client 2>&1 | head -1)); skipping"
  exit 77
fi
if ! command -v node >/dev/null 2>&1 || [ ! -d "$here/node_modules/kubernetes-models" ]; then
  echo "node or tests/deploy/node_modules missing (cd tests/deploy && npm ci); skipping"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failed=0
for name in "$@"; do
  case $name in
    base) path=$root/deploy/kubernetes/base ;;
    *) path=$root/deploy/kubernetes/overlays/$name ;;
  esac
  echo "== $name: kubectl kustomize $path"
  if ! kubectl kustomize "$path" >"$dir/$name.yaml" 2>"$dir/$name.err"; then
    cat "$dir/$name.err"
    echo "FAIL kubectl kustomize $name"
    failed=1
    continue
  fi
  if [ -s "$dir/$name.err" ]; then
    cat "$dir/$name.err"
    echo "FAIL kubectl kustomize $name printed warnings"
    failed=1
  fi
  node "$here/k8s_check.js" "$name" "$dir/$name.yaml" || failed=1
done
exit "$failed"
