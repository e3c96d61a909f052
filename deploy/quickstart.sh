#!/usr/bin/env bash
# The main job: a federated LoRA simulation on this machine. The real coordinator runs in-process on the
# embedded default (no Redis, no cluster); 6 virtual clients hold their own WordNet domains and fine-tune the
# committed base (simulations/models/small-en) with LoRA at ranks 4/8/16; FLoRA stacking (exact for mixed ranks)
# is compared with FedIT. Results: out/quickstart/
# Other experiments: deploy/quickstart.sh simulations/experiments/<name>.json [--out DIR]
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
use_huge_pages

# The text corpora simulations train on (CORPUS_PACKAGES, env.sh), from Debian when missing.
mapfile -t corpora < <(missing_debian_packages "${CORPUS_PACKAGES[@]}")
apt_install "${corpora[@]}"

# An experiment file first, if any; options (--out DIR, ...) go to fed-sim run.
experiment=simulations/experiments/quickstart.json
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then experiment="$1"; shift; fi
echo "==> build fed-sim"
dotnet build simulations/Federated.Simulator -c Release -v quiet -nologo
echo "==> run $experiment"
out=(--out "$REPO_ROOT/out")
[[ " $* " == *" --out "* ]] && out=()
dotnet run -c Release --no-build --project simulations/Federated.Simulator -- run "$experiment" "${out[@]}" "$@"
