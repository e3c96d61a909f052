#!/usr/bin/env bash
# The main job (until the simulator lands): four clients with different LoRA ranks, shaped like
# Qwen2-0.5B, aggregated with each heterogeneous-rank strategy by the `fed` CLI. Output: out/quickstart/
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# The text corpora simulations train on (CORPUS_PACKAGES, env.sh), from Debian when missing.
mapfile -t corpora < <(missing_debian_packages "${CORPUS_PACKAGES[@]}")
apt_install "${corpora[@]}"

out="$REPO_ROOT/out/quickstart"
rm -rf "$out" && mkdir -p "$out"
echo "==> build fed"
dotnet build src/Federated.Cli -c Release -v quiet -nologo -o "$out/bin"
fed() { dotnet "$out/bin/fed.dll" "$@"; }

echo "==> four clients train at the rank their GPU affords (here: random adapters, seeded)"
ranks=(4 8 16 32)
for i in "${!ranks[@]}"; do
  fed adapters random --rank "${ranks[$i]}" --modules q_proj,v_proj --seed "$i" --out "$out/clients/client-$i"
done
clients=("$out"/clients/client-*)
examples=120,480,200,900   # each client's example count: the aggregation weights

echo "==> aggregate the mixed ranks"
for strategy in flora flexlora zero-padding hetlora; do
  fed aggregate --strategy "$strategy" --weights "$examples" --out "$out/global-$strategy" "${clients[@]}"
done

echo "==> fedit needs equal ranks: it refuses the mixed set, then averages two rank-8 clients"
fed aggregate --strategy fedit --out "$out/global-fedit" "${clients[@]}" || true
fed adapters random --rank 8 --modules q_proj,v_proj --seed 7 --out "$out/clients-r8/a"
fed adapters random --rank 8 --modules q_proj,v_proj --seed 8 --out "$out/clients-r8/b"
fed aggregate --strategy fedit --weights 300,100 --out "$out/global-fedit" "$out"/clients-r8/*

echo "==> the exact FLoRA stack, as HF PEFT would load it"
fed inspect "$out/global-flora" > "$out/global-flora.txt"
head -n 12 "$out/global-flora.txt"
echo "done: adapters in $out (each a PEFT directory: adapter_model.safetensors + adapter_config.json)"
