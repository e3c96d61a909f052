# syntax=docker/dockerfile:1
# The coordinator silo image. Build from the repository root:
#   docker build -f deploy/coordinator.Dockerfile -t federated-coordinator .
# Runs as the images' non-root user (UID 1654) and writes only to /tmp and /var/lib/federated, so it
# runs with a read-only root file system. No HEALTHCHECK: Kubernetes probes /healthz and /readyz on 5080.
ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
WORKDIR /src
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Shared build settings, the native-library build step, the contract, then the sources.
COPY global.json Directory.Build.props Directory.Build.targets Directory.Packages.props ./
COPY protos/ protos/
COPY src/ src/
# The NuGet cache survives between builds (BuildKit cache mount); the published app goes to /app.
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish src/Federated.Coordinator/Federated.Coordinator.csproj -c Release -o /app -p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS runtime
WORKDIR /app
# Owned by root and not writable by the app user: the application files never change at run time.
COPY --from=build /app ./
# The data directory (embedded mode: grain state and updates; cluster mode keeps both in Redis).
RUN mkdir -p /var/lib/federated && chown 1654:1654 /var/lib/federated
ENV Coordinator__DataDirectory=/var/lib/federated \
    # glibc backs its heap with transparent huge pages (a round's updates read through fewer TLB misses) from one arena
    # (freed tensor memory reused round after round, not unmapped and faulted in again; only here: a process that trains
    # keeps glibc's arenas, deploy/README.md).
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1 \
    # Kestrel's endpoints come from configuration (Kestrel:Endpoints); the image's default port 8080 is not used.
    ASPNETCORE_HTTP_PORTS= \
    TMPDIR=/tmp
VOLUME ["/var/lib/federated"]
# 5080 admin API, /metrics, /healthz, /readyz (HTTP/1.1) - 5081 agents' gRPC (HTTP/2) and grpc.health.v1 -
# 11111 Orleans silo-to-silo - 30000 Orleans gateway.
EXPOSE 5080 5081 11111 30000
# The non-root `app` user of the .NET images ($APP_UID), numeric so Kubernetes can verify runAsNonRoot.
USER 1654:1654
ENTRYPOINT ["dotnet", "/app/Federated.Coordinator.dll"]
