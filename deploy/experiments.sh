#!/usr/bin/env bash
# The committed experiment set, as simulations/results/ holds it: heterogeneous ranks with the bounds, non-IID
# partitions, robustness (and the 100-client scale check). Resumable: a run whose results are already in the output
# directory for the same settings is kept, so the set can be stopped and continued (--resume). Prints each
# experiment's wall time. Usage: deploy/experiments.sh [--out DIR] [experiment names...]
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
use_huge_pages

mapfile -t corpora < <(missing_debian_packages "${CORPUS_PACKAGES[@]}")
apt_install "${corpora[@]}"

out="$REPO_ROOT/simulations/results"
if [ "${1:-}" = "--out" ]; then out="$2"; shift 2; fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(heterogeneous-ranks non-iid robustness scale-100)

echo "==> build fed-sim"
dotnet build simulations/Federated.Simulator -c Release -v quiet -nologo
for name in "${names[@]}"; do
  start=$(date +%s)
  echo "==> $name"
  dotnet run -c Release --no-build --project simulations/Federated.Simulator -- run "simulations/experiments/$name.json" --out "$out" --plain --resume
  echo "==> $name: $(( ($(date +%s) - start) / 60 )) min"
done
