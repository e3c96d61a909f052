#!/usr/bin/env bash
# Aggregation throughput benchmarks (BenchmarkDotNet, Release). Extra arguments go to BenchmarkDotNet,
# e.g. deploy/benchmark.sh --filter '*Stacking*'. Results: BenchmarkDotNet.Artifacts/results/
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--filter '*')
dotnet run -c Release --project tests/Federated.Benchmarks -- "${args[@]}"
