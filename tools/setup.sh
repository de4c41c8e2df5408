#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine for this project, idempotently:
#   1. Debian packages (compilers, HDF5, gemmi, CLI11, toml++, json, gtest, HMMER, MMseqs2,
#      HH-suite, OpenMM and PDBFixer for relaxation, ...)
#   2. LibTorch through PyTorch's CUDA-enabled wheel (torch==2.11.*, the GPU hosts' version)
#   3. real example data from Debian's data-only packages into examples/.cache (git-ignored)
#   4. the build (build/, Ninja, ccache), and the readers' fuzz targets beside it
#      (build-fuzz/: clang, ASan, UBSan, libFuzzer; tools/fuzz/run.sh)
# usage: tools/setup.sh [--no-build] [--no-data] [--with-swissprot] [--build-dir DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$root/build"
do_build=1 do_data=1 swissprot=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) do_build=0 ;;
    --no-data) do_data=0 ;;
    --with-swissprot) swissprot=1 ;;
    --build-dir) build_dir=$(realpath -m "$2"); shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
export DEBIAN_FRONTEND=noninteractive

packages=(
  build-essential cmake ninja-build ccache pkg-config git python3 python3-pip
  zlib1g-dev libhdf5-dev gemmi-dev tao-pegtl-dev libstb-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libgtest-dev
  libgloo-dev hmmer mmseqs2 hhsuite gnuplot-nox
  python3-pdbfixer libopenmm-plugins clang-14 libclang-rt-14-dev
)
# Swiss-Prot 2014 comes as a BLAST database: blastdbcmd dumps it to FASTA.
[ "$swissprot" -eq 1 ] && packages+=(ncbi-blast+)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $sudo_ apt-get update -qq
  $sudo_ apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages present"
fi

torch_version() { python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || true; }
if [[ "$(torch_version)" != 2.11.* ]]; then
  log "installing PyTorch 2.11 (LibTorch with CUDA) from PyPI"
  # Debian's own python3 refuses global pip installs (PEP 668) unless told.
  python3 -m pip install -q 'torch==2.11.*' ||
    python3 -m pip install -q --break-system-packages 'torch==2.11.*'
fi
# NumPy: the tests check that NumPy reads the .npz files we write.
python3 -c 'import numpy' 2>/dev/null || python3 -m pip install -q numpy ||
  python3 -m pip install -q --break-system-packages numpy
log "LibTorch $(torch_version)"

# Example data: data-only Debian packages unpacked without their dependencies
# (../shared/data/DEBIAN-DATA.md lists what each one holds).
fetch_deb() {
  local pkg=$1 dest="$root/examples/.cache/$1"
  [ -f "$dest/.done" ] && return 0
  log "fetching example data: $pkg"
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) ||
    { $sudo_ apt-get update -qq && (cd "$tmp" && apt-get download "$pkg" >/dev/null); }
  rm -rf "$dest"; mkdir -p "$dest"
  dpkg -x "$tmp"/*.deb "$dest"
  rm -rf "$tmp"
  touch "$dest/.done"
}
if [ "$do_data" -eq 1 ]; then
  for pkg in theseus-examples python3-csb hmmer-doc r-bioc-rcpi freesasa libcifpp-dev mmseqs2-examples; do
    fetch_deb "$pkg"
  done
  [ "$swissprot" -eq 1 ] && fetch_deb metastudent-data
fi

if [ "$do_build" -eq 1 ]; then
  log "building in $build_dir"
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build_dir"
  log "building the fuzz targets in $build_dir-fuzz"
  "$root/tools/fuzz/run.sh" --build --build-dir "$build_dir-fuzz"
fi
log "done"
