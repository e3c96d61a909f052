# Sourced by the scripts in this folder: quiet, reproducible dotnet invocations from the repo root.
set -euo pipefail
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET 10 SDK is required (https://dot.net); 'dotnet' is not on PATH" >&2
  exit 1
fi

# Real text corpora nobody in this project wrote, for simulations, the base model and the data tests: WordNet glosses
# (/usr/share/wordnet), fortune collections in English, German, Spanish and Italian (/usr/share/games/fortunes) and
# the GNU Collaborative International Dictionary of English (/usr/share/dictd/gcide.dict.dz), the base model's corpus.
CORPUS_PACKAGES=(wordnet-base fortunes fortunes-min fortunes-de fortunes-es fortunes-it dict-gcide)

# Prints those of the given Debian packages that are not installed, one per line.
missing_debian_packages() {
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || echo "$package"
  done
}

# apt-installs the given Debian packages (through sudo unless root).
apt_install() {
  [ $# -gt 0 ] || return 0
  echo "==> install $* (Debian)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "$@" >/dev/null
}

# Processes that aggregate (the coordinator, fed-sim, the benchmarks) run with glibc's malloc backing its heap with
# transparent huge pages (the kernel's "madvise" mode honours it): a round's updates are then read through far fewer TLB
# misses (FedAvg of 100 rank-16 adapters: 0.89x the time, RESULTS.md). The images set the same; an explicit GLIBC_TUNABLES,
# even an empty one, is kept.
use_huge_pages() {
  export GLIBC_TUNABLES="${GLIBC_TUNABLES-glibc.malloc.hugetlb=1}"
}
