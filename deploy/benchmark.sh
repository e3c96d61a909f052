#!/usr/bin/env bash
# Benchmarks (Release). With no arguments or BenchmarkDotNet arguments: aggregation throughput
# (BenchmarkDotNet), e.g. deploy/benchmark.sh --filter '*Stacking*'; results in BenchmarkDotNet.Artifacts/results/.
#   deploy/benchmark.sh training                      LoRA vs full fine-tuning step time (the modes taking turns in one
#                                                     process, medians) and peak memory (a process per mode), and LoRA
#                                                     on a bf16 base (the GPU precision, on the CPU)
#   deploy/benchmark.sh coordinator [embedded|redis]  coordinator overhead per round: 10,000 clients, 1,000 per
#                                                     round, on a real silo (Redis mode starts its own redis-server);
#                                                     appends the tables to tests/Federated.Benchmarks/RESULTS.md
#   deploy/benchmark.sh upload [throughput|memory]    agent upload throughput (64 MB and 256 MB adapters over loopback
#                                                     gRPC to a real coordinator process, in 64 KiB and 1 MiB messages)
#                                                     vs the same messages to a discarding gRPC server and raw TCP copies
#                                                     of the same bytes, and coordinator RSS under 20 concurrent 64 MB uploads;
#                                                     appends to tests/Federated.Benchmarks/RESULTS.md
#   deploy/benchmark.sh export                        a federation's whole history (Qwen2-0.5B q/v, 10 rounds of 10 clients
#                                                     at rank 16) exported exactly and truncated to rank 64, against a memory
#                                                     copy of it: wall time and peak RSS (a process per mode); appends to RESULTS.md
#   deploy/benchmark.sh ingest [1] [3] [--clients N] [--rounds N]
#                                                     1,000 agents (one process, many concurrent gRPC streams) upload real
#                                                     rank-16 q/v adapters of Qwen2-0.5B's shapes (4.3 GB) into a round, two
#                                                     rounds by default (a fresh process, then its steady state), on one
#                                                     coordinator silo, then three sharing a redis-server: round and
#                                                     aggregation time, CPU per GB, peak RSS per silo, after the same
#                                                     uploads into a floor process (receive, SHA-256 and APPEND to Redis,
#                                                     then GET and sum, nothing else); appends to RESULTS.md
#   deploy/benchmark.sh module-reads                  one module of 300 stored payloads at a time from Redis into tensors,
#                                                     the store's read against an array per reply: CPU per GB; appends
#                                                     to RESULTS.md
#   deploy/benchmark.sh aggregate-vs-numpy [--runs N] [--clients 10,100] [--ops fedit,flora,krum,median,trimmed-mean] [--no-append]
#                                                     our aggregation (the library call after a warm-up, and the whole
#                                                     `fed aggregate` process) against numpy doing the same math
#                                                     (/usr/bin/python3 with Debian's python3-numpy), K = 10 and 100
#                                                     rank-16 Qwen2-0.5B q/v adapters, interleaved runs, medians; peak RSS
#                                                     per process, bandwidth fraction against a memory copy, and the
#                                                     coordinate-wise rules' memory over 10 calls; appends to RESULTS.md
#   deploy/benchmark.sh bounded-global [--no-append]  a FLoRA round's global at K = 10, 100 and 1,000 rank-16 clients on
#                                                     Qwen2-0.5B q/v: size and time of the plain stack, the lossless bound
#                                                     (rank <= min(d_out, d_in)) and the energy threshold at 0.99 and 0.9,
#                                                     independent and aligned updates; appends to RESULTS.md
#   deploy/benchmark.sh security [names...] [--strict] issue 15's attack suite against fresh real processes (coordinator,
#                                                     cluster mode with its own redis-server for stalled-downloads, fed-agent
#                                                     facing a hostile coordinator): per attack the outcome, the verdict
#                                                     (REFUSED/BOUNDED/FAILED) and the attacked process's peak RSS growth and
#                                                     CPU time (targets < 100 MiB, < 1 s); appends the table to RESULTS.md.
#                                                     Names: admin-anonymous bomb pattern-cpu uploads-per-client abandoned-upload
#                                                     stalled-downloads sybil unauthenticated-flood log-injection inflated-examples
#                                                     agent-path-traversal agent-oversized-download agent-bomb-global (all by
#                                                     default). Exit 0 (a report); --strict: 1 when an attack misses its target
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
use_huge_pages
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--filter '*')
if [ "${args[0]}" = security ] && ! command -v redis-server >/dev/null 2>&1; then
  echo "warning: redis-server is not installed (apt-get install redis-server): stalled-downloads will fail to run" >&2
fi
if [[ "${args[0]}" = ingest || "${args[0]}" = module-reads ]] && ! command -v redis-server >/dev/null 2>&1; then
  echo "error: 'deploy/benchmark.sh ${args[0]}' needs redis-server (apt-get install redis-server)" >&2
  exit 1
fi
if [ "${args[0]}" = aggregate-vs-numpy ] && ! /usr/bin/python3 -c 'import numpy' >/dev/null 2>&1; then
  echo "error: 'deploy/benchmark.sh aggregate-vs-numpy' needs /usr/bin/python3 with numpy (apt-get install python3-numpy)" >&2
  exit 1
fi
if [ "${args[0]}" = coordinator ] && ! command -v redis-server >/dev/null 2>&1 && [[ " ${args[*]:1} " != " embedded " ]]; then
  echo "error: 'deploy/benchmark.sh coordinator' needs redis-server for cluster mode (apt-get install redis-server)," >&2
  echo "       or run 'deploy/benchmark.sh coordinator embedded'" >&2
  exit 1
fi
dotnet run -c Release --project tests/Federated.Benchmarks -- "${args[@]}"
