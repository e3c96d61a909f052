#!/usr/bin/env bash
# deploy/compose.yaml as local processes, without Docker: redis-server (append-only) on a free loopback port, two
# coordinator silos in cluster mode forming one Orleans cluster through it, a tiny base model (`fed model init`), the
# `demo` federation, and three fed-agents with their own data and ranks, split across the silos. Ctrl-C stops everything.
#
#   deploy/local-cluster.sh             # state in out/local-cluster (kept: a second run resumes), logs in .../logs
#   deploy/local-cluster.sh --clean     # start over
#   deploy/local-cluster.sh --dry-run   # print what would run, start nothing
#
# The federation's flags, ClusterId/ServiceId, the enrollment token and each agent's silo order, data and reported
# GPU memory are read from compose.yaml, so the two stay one configuration. What differs: loopback addresses and ports
# instead of the compose network (silo 1: HTTP 5080, gRPC 5081; silo 2: 5180, 5181, as compose publishes them;
# FED_LOCAL_PORTS="5080 5081 5180 5181" to change), Coordinator:AdvertisedAddress=127.0.0.1, and plaintext only on loopback.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

COMPOSE="$REPO_ROOT/deploy/compose.yaml"
OUT="${FED_LOCAL_CLUSTER_DIR:-$REPO_ROOT/out/local-cluster}"
dry_run=false
for arg in "$@"; do
  case "$arg" in
    --clean) rm -rf "$OUT" ;;
    --dry-run) dry_run=true ;;
    *) echo "usage: deploy/local-cluster.sh [--clean] [--dry-run]" >&2; exit 2 ;;
  esac
done

# compose_value BLOCK KEY: KEY's value inside the compose.yaml block whose header matches the regex BLOCK
# (first occurrence, quotes removed). Enough YAML for this file's flat `KEY: value` environment entries.
compose_value() {
  awk -v start="$1" -v key="$2" '
    f && /[^ ]/ && $0 !~ /^ *#/ { match($0, /[^ ]/); if (RSTART - 1 <= indent) exit }
    f { line = $0; sub(/^ */, "", line)
        if (index(line, key ": ") == 1) { v = substr(line, length(key) + 3); gsub(/^"|"$/, "", v); print v; found = 1; exit } }
    !f && $0 ~ start { f = 1; match($0, /[^ ]/); indent = RSTART - 1 }
    END { if (!found) exit 1 }' "$COMPOSE" || { echo "error: no $2 under $1 in $COMPOSE" >&2; exit 1; }
}
# ${VAR:-default} as compose resolves it, from this environment.
resolve() { local v="$1"; if [[ "$v" =~ ^\$\{([A-Za-z_][A-Za-z0-9_]*):-(.*)\}$ ]]; then v="${!BASH_REMATCH[1]:-${BASH_REMATCH[2]}}"; fi; echo "$v"; }

cluster_id="$(compose_value '^x-coordinator-env:' Coordinator__ClusterId)"
service_id="$(compose_value '^x-coordinator-env:' Coordinator__ServiceId)"
silo_token_key="Coordinator__EnrollmentTokens__$(compose_value '^x-agent-env:' Agent__FederationId)__0"
token="$(resolve "$(compose_value '^x-coordinator-env:' "$silo_token_key")")"
federation="$(compose_value '^x-agent-env:' Agent__FederationId)"
# The operator key: its hash and roles for the silos, the key itself for fed (as the compose `federation` service).
api_key_hash_key="Coordinator__Operators__ApiKeys__demo__Sha256"
api_key_roles_key="Coordinator__Operators__ApiKeys__demo__Roles"
api_key_hash="$(resolve "$(compose_value '^x-coordinator-env:' "$api_key_hash_key")")"
api_key_roles="$(compose_value '^x-coordinator-env:' "$api_key_roles_key")"
FED_API_KEY="$(resolve "$(compose_value '^  federation:' FED_API_KEY)")"
export FED_API_KEY
# The `federation` service's create command, minus the container's paths and address.
create_flags="$(awk '/federation create/ { f = 1 } f { printf "%s ", $0 } f && /; do/ { exit }' "$COMPOSE" \
  | sed -E 's/.*federation create [^ ]+ --coordinator [^ ]+ +//; s/;.*//; s/ +/ /g; s/ $//')"
[ -n "$create_flags" ] || { echo "error: no 'federation create' command in $COMPOSE" >&2; exit 1; }

read -r http1 grpc1 http2 grpc2 <<< "${FED_LOCAL_PORTS:-5080 5081 5180 5181}"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
redis_port="$(free_port)"
# Silo-to-silo and gateway ports, distinct per silo (compose uses 11111/30000 in each container).
silo1=11111 gateway1=30000 silo2=11112 gateway2=30001
# compose's service addresses -> this machine's.
local_address() { sed -e "s#coordinator-1:5081#127.0.0.1:$grpc1#g; s#coordinator-2:5081#127.0.0.1:$grpc2#g"; }

BIN=bin/Release/net10.0
COORDINATOR_DIR="$REPO_ROOT/src/Federated.Coordinator/$BIN"
FED="$REPO_ROOT/src/Federated.Cli/$BIN/fed.dll"
AGENT="$REPO_ROOT/src/Federated.Agent/$BIN/fed-agent.dll"
LOGS="$OUT/logs"
MODEL="$OUT/models/base"
# Compose's base model volume is the local model directory here.
create_flags="${create_flags//\/models\/base/$MODEL}"

coordinator_env() { # N HTTP GRPC SILO GATEWAY
  echo "Coordinator__Mode=Cluster Coordinator__Redis=127.0.0.1:$redis_port Coordinator__ClusterId=$cluster_id" \
    "Coordinator__ServiceId=$service_id Coordinator__AdvertisedAddress=127.0.0.1 Coordinator__SiloPort=$4" \
    "Coordinator__GatewayPort=$5 Kestrel__Endpoints__http__Url=http://127.0.0.1:$2 Kestrel__Endpoints__grpc__Url=http://127.0.0.1:$3" \
    "$silo_token_key=$token $api_key_hash_key=$api_key_hash $api_key_roles_key=$api_key_roles" \
    "GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1" # as the coordinator image: one malloc arena
}
agent_env() { # N
  local n="$1"
  echo "Agent__FederationId=$federation Agent__EnrollmentToken=$token Agent__StateDirectory=$OUT/agent-$n-state" \
    "Agent__ModelDirectory=$MODEL Agent__Data=$REPO_ROOT/deploy/compose/data/agent-$n/train.jsonl" \
    "Agent__Device=$(compose_value '^x-agent-env:' Agent__Device)" \
    "Agent__Coordinator=$(compose_value "^  agent-$n:" Agent__Coordinator | local_address)" \
    "Agent__GpuMemoryBytes=$(compose_value "^  agent-$n:" Agent__GpuMemoryBytes)"
}

if $dry_run; then
  echo "redis-server --port $redis_port --bind 127.0.0.1 --appendonly yes --save '' --dir $OUT/redis"
  echo "coordinator-1: $(coordinator_env 1 "$http1" "$grpc1" "$silo1" "$gateway1")"
  echo "coordinator-2: $(coordinator_env 2 "$http2" "$grpc2" "$silo2" "$gateway2")"
  echo "fed model init --preset tiny --out $MODEL"
  echo "fed: FED_API_KEY=$FED_API_KEY"
  echo "fed federation create $federation --coordinator http://127.0.0.1:$http1 $create_flags"
  echo "fed federation start $federation --coordinator http://127.0.0.1:$http1"
  for n in 1 2 3; do echo "agent-$n: $(agent_env "$n")"; done
  exit 0
fi

command -v redis-server >/dev/null 2>&1 || { echo "error: redis-server is required (apt-get install redis-server)" >&2; exit 1; }
for port in "$http1" "$grpc1" "$http2" "$grpc2" "$silo1" "$gateway1" "$silo2" "$gateway2"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "error: port $port on 127.0.0.1 is in use (docker compose still up? FED_LOCAL_PORTS changes the HTTP/gRPC ports)" >&2; exit 1
  fi
done

echo "==> build coordinator, fed, fed-agent (Release)"
for project in Federated.Coordinator Federated.Cli Federated.Agent; do
  dotnet build "src/$project" -c Release -v quiet -nologo
done

mkdir -p "$OUT/redis" "$LOGS"
pids=() redis_pid=""
# Agents and coordinators first (SIGTERM: they save progress / leave the cluster), Redis last; SIGKILL after 30 s.
stop_all() {
  trap - EXIT INT TERM
  echo "==> stopping"
  stop "${pids[@]}"
  [ -z "$redis_pid" ] || stop "$redis_pid"
}
stop() {
  kill -TERM "$@" 2>/dev/null || true
  local pid
  for _ in $(seq 1 300); do
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && break; pid=""; done
    [ -n "$pid" ] || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM
# start NAME ENV... -- COMMAND...: runs COMMAND with ENV in the background, output to logs/NAME.log, in its own
# session so that Ctrl-C reaches only this script, which stops everything in order.
start() {
  local name="$1"; shift
  local env=()
  while [ "$1" != "--" ]; do env+=("$1"); shift; done; shift
  setsid env "${env[@]}" "$@" >"$LOGS/$name.log" 2>&1 &
  last_pid="$!"
}
wait_http() { # URL NAME
  for _ in $(seq 1 120); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "error: $2 did not answer $1; see $LOGS/$2.log" >&2; exit 1
}

echo "==> redis-server on 127.0.0.1:$redis_port (append-only, $OUT/redis)"
start redis -- redis-server --port "$redis_port" --bind 127.0.0.1 --appendonly yes --save "" --dir "$OUT/redis"
redis_pid="$last_pid"
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break; sleep 0.1; done

echo "==> coordinator-1 and coordinator-2 (cluster $cluster_id/$service_id)"
# The content root (appsettings.json) is the working directory.
cd "$COORDINATOR_DIR"
# shellcheck disable=SC2046
start coordinator-1 $(coordinator_env 1 "$http1" "$grpc1" "$silo1" "$gateway1") -- dotnet Federated.Coordinator.dll
pids+=("$last_pid")
wait_http "http://127.0.0.1:$http1/readyz" coordinator-1
# shellcheck disable=SC2046
start coordinator-2 $(coordinator_env 2 "$http2" "$grpc2" "$silo2" "$gateway2") -- dotnet Federated.Coordinator.dll
pids+=("$last_pid")
wait_http "http://127.0.0.1:$http2/readyz" coordinator-2
cd "$REPO_ROOT"

if [ ! -f "$MODEL/config.json" ]; then
  echo "==> base model: fed model init --preset tiny"
  dotnet "$FED" model init --preset tiny --out "$MODEL"
fi

echo "==> federation $federation: $create_flags"
# shellcheck disable=SC2086
dotnet "$FED" federation create "$federation" --coordinator "http://127.0.0.1:$http1" $create_flags >/dev/null

echo "==> agents"
for n in 1 2 3; do
  # shellcheck disable=SC2046
  start "agent-$n" $(agent_env "$n") -- dotnet "$AGENT"
  pids+=("$last_pid")
done
# As the compose `federation` service: start once enough agents enrolled for a quorum (already running: fine).
for _ in $(seq 1 120); do
  status="$(dotnet "$FED" federation show "$federation" --coordinator "http://127.0.0.1:$http1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || true)"
  [ "$status" != "Created" ] && [ -n "$status" ] && break
  dotnet "$FED" federation start "$federation" --coordinator "http://127.0.0.1:$http1" >/dev/null 2>&1 && break
  sleep 2
done

cat <<EOF

Local cluster (deploy/compose.yaml without Docker) is up; Ctrl-C stops everything.
  redis-server   127.0.0.1:$redis_port  (append-only in $OUT/redis)
  coordinator-1  admin http://127.0.0.1:$http1  gRPC http://127.0.0.1:$grpc1  silo $silo1  gateway $gateway1
  coordinator-2  admin http://127.0.0.1:$http2  gRPC http://127.0.0.1:$grpc2  silo $silo2  gateway $gateway2
  agents         $OUT/agent-{1,2,3}-state, data deploy/compose/data/agent-{1,2,3}
  base model     $MODEL
  logs           $LOGS/{redis,coordinator-1,coordinator-2,agent-1,agent-2,agent-3}.log

  export FED_API_KEY=$FED_API_KEY   # the demo operator key (admin), from compose.yaml
  dotnet $FED federation show $federation --coordinator http://127.0.0.1:$http1
  dotnet $FED round show $federation 1 --coordinator http://127.0.0.1:$http2
EOF
wait
