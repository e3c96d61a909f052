# syntax=docker/dockerfile:1
# The client agent image (fed-agent), built from the repository root:
#   docker build -f deploy/agent.Dockerfile -t federated-agent .                                  # libtorch CPU
#   docker build -f deploy/agent.Dockerfile --build-arg TORCH_BACKEND=cuda -t federated-agent:cuda .   # CUDA
# The CUDA flavour publishes with -p:TorchBackend=cuda (TorchSharp-cuda-linux 0.107 = libtorch 2.10 for CUDA 12.8,
# which needs a feed that serves it, e.g. nuget.org) on an nvidia/cuda runtime base; the GPU driver comes from the
# host (NVIDIA container toolkit / the Kubernetes device plugin).
# `--target tools` builds an image with the `fed` CLI instead (compose.yaml uses it to create a base model).
# Runs as UID 1654 and writes only to /tmp and its state directory (/var/lib/fed-agent): read-only-root friendly.
ARG DOTNET_VERSION=10.0
ARG TORCH_BACKEND=cpu
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS source
WORKDIR /src
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props ./
COPY protos/ protos/
COPY src/ src/

FROM source AS build
ARG TORCH_BACKEND
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    case "$TORCH_BACKEND" in cpu|cuda) ;; *) echo "TORCH_BACKEND must be cpu or cuda, not '$TORCH_BACKEND'" >&2; exit 1;; esac \
 && dotnet publish src/Federated.Agent/Federated.Agent.csproj -c Release -o /app -p:TorchBackend=${TORCH_BACKEND} -p:UseAppHost=false \
 && if [ ! -f /app/fed-agent.dll ]; then echo "expected /app/fed-agent.dll (the agent's AssemblyName is fed-agent)" >&2; exit 1; fi

# Only for `--target tools`: the default target never builds this stage.
FROM source AS build-tools
ARG TORCH_BACKEND
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish src/Federated.Cli/Federated.Cli.csproj -c Release -o /tools -p:TorchBackend=${TORCH_BACKEND} -p:UseAppHost=false

# CPU: the plain .NET runtime image (Ubuntu 24.04; its libstdc++ already has what libtorch needs).
FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION} AS base-cpu

# CUDA: NVIDIA's runtime image plus the .NET runtime copied from the official image, and the same non-root user.
FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION} AS dotnet-runtime
FROM ${CUDA_IMAGE} AS base-cuda
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3t64 libstdc++6 libgcc-s1 zlib1g tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && (getent passwd 1654 || (groupadd --gid 1654 app && useradd --no-log-init --uid 1654 --gid 1654 --create-home app))
COPY --from=dotnet-runtime /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_RUNNING_IN_CONTAINER=true APP_UID=1654 NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1

# The `fed` CLI (model init, federation verbs) for local clusters: docker build --target tools ...
FROM base-${TORCH_BACKEND} AS tools
WORKDIR /tools
COPY --from=build-tools /tools ./
# A place for `fed model init --out /models/...` that a fresh named volume inherits (owner 1654).
RUN mkdir -p /models && chown 1654:1654 /models
ENV TMPDIR=/tmp
USER 1654:1654
ENTRYPOINT ["dotnet", "/tools/fed.dll"]

FROM base-${TORCH_BACKEND} AS agent
WORKDIR /app
COPY --from=build /app ./
RUN mkdir -p /var/lib/fed-agent && chown 1654:1654 /var/lib/fed-agent
ENV Agent__StateDirectory=/var/lib/fed-agent \
    TMPDIR=/tmp
VOLUME ["/var/lib/fed-agent"]
USER 1654:1654
ENTRYPOINT ["dotnet", "/app/fed-agent.dll"]
