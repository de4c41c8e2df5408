#!/usr/bin/env bash
# Packs what a GPU host lacks into one git-ignored folder (default .gpu-kit/, at most
# 60 MiB) that travels with the working tree to it: the GPU host has PyTorch 2.11 with
# CUDA, nvcc, CMake and ninja, but no apt and no internet.
#   usr/     Debian's headers, libraries and CMake package files of the build's
#            dependencies (HDF5, gemmi + PEGTL + stb, CLI11, toml++, nlohmann-json,
#            GoogleTest, Gloo's headers, zlib), in Debian's /usr layout
#   sysdeps/ the shared libraries those need that a usual Linux system already has
#            (libcurl, OpenSSL, ...): tools/gpu/check.sh links only the missing ones
#   data/    the real inputs of the device checks: 6KWC chain 1 with its alignment
#            (predict), 2q2k chains with their alignments (train) and one lactate
#            dehydrogenase chain as a `fold prepare` dataset (ablate at crop 256)
#   MANIFEST the packages and versions packed, and the source commit
# Run it here after tools/setup.sh (it uses the Debian packages and build/fold/fold).
# usage: tools/gpu/pack.sh [--out DIR] [--fold BIN]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out="$root/.gpu-kit"
fold_bin="$root/build/fold/fold"
shared="$root/../shared/data"
limit_mib=60
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(realpath -m "$2"); shift ;;
    --fold) fold_bin="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "pack.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$fold_bin" ] || { echo "pack.sh: no fold binary at $fold_bin (run tools/setup.sh first)" >&2; exit 1; }
[ -f "$shared/mmcif/2q2k.cif" ] || { echo "pack.sh: $shared is missing (real example data)" >&2; exit 1; }
[ -d "$root/examples/.cache" ] || { echo "pack.sh: examples/.cache is missing (run tools/setup.sh)" >&2; exit 1; }

packages=(libhdf5-dev libhdf5-103-1 gemmi-dev tao-pegtl-dev libstb-dev libcli11-dev libtomlplusplus-dev
  nlohmann-json3-dev libtomlplusplus3 libgtest-dev libgloo-dev zlib1g-dev)
multi=/usr/lib/x86_64-linux-gnu
rm -rf "$out"
mkdir -p "$out/usr/include" "$out/usr/lib/x86_64-linux-gnu/cmake" "$out/usr/share/cmake" "$out/sysdeps" "$out/data"
lib="$out/usr/lib/x86_64-linux-gnu"

for d in gemmi tao stb CLI toml++ nlohmann gtest hdf5 gloo zlib.h zconf.h; do
  [ -e "/usr/include/$d" ] || { echo "pack.sh: /usr/include/$d is missing (tools/setup.sh installs it)" >&2; exit 1; }
  cp -a "/usr/include/$d" "$out/usr/include/"
done
# The libraries the build links by name; static GoogleTest, shared HDF5 and toml++.
for l in libhdf5_serial.so libtomlplusplus.so libgtest.a libgtest_main.a; do
  cp -a "$multi/$l"* "$lib/"
done
cp -a "$multi/hdf5" "$lib/"
for c in GTest tomlplusplus; do cp -a "$multi/cmake/$c" "$lib/cmake/"; done
# GoogleMock is not used: its target file (included only if present) would name libraries not packed.
rm -f "$lib/cmake/GTest/GMockTargets"*.cmake
for c in CLI11 nlohmann_json; do cp -a "/usr/share/cmake/$c" "$out/usr/share/cmake/"; done
# zlib's link library sits in usr/ (the build names it); its runtime copy is a sysdep.
cp -L "$multi/libz.so" "$lib/libz.so"
# Everything those shared libraries load, except the C runtime and the compiler's own.
skip='^(libc|libm|libdl|librt|libpthread|libresolv|ld-linux|linux-vdso|libstdc\+\+|libgcc_s|libgomp)\.'
for so in "$multi"/libhdf5_serial.so "$multi"/libtomlplusplus.so "$multi"/libz.so; do
  for dep in $(ldd "$so" | awk '/=>/ {print $3}'); do
    b=$(basename "$dep")
    [[ $b =~ $skip ]] && continue
    [ -e "$lib/$b" ] && continue
    cp -L "$dep" "$out/sysdeps/$b"
  done
done

# Data for the device checks (real proteins, read from ../shared and examples/.cache).
cp "$shared/mmcif/2q2k.cif" "$out/data/"
mkdir -p "$out/data/alignments"
cp -r "$shared/alignments/2q2k_A" "$shared/alignments/2q2k_B" "$out/data/alignments/"
mkdir -p "$out/data/6KWC_1"
cp "$shared/fasta/6kwc.fasta" "$shared/alignments/6KWC_1/bfd_uniref_hits.a3m" "$out/data/6KWC_1/"
# One lactate dehydrogenase chain (1CIV A, 374 residues) of the example set: long enough
# for crop 256.
ldh=$(mktemp -d)
"$root/tools/examples/make-dataset.sh" --families ldh --fold "$fold_bin" --out "$ldh" > "$ldh/log" 2>&1 ||
  { cat "$ldh/log" >&2; echo "pack.sh: make-dataset.sh failed" >&2; exit 1; }
"$fold_bin" prepare --quiet --mmcif-dir "$ldh/structures" --alignment-dir "$ldh/alignments" --chains 1civ_A_A \
  --out "$out/data/ldh.h5" > /dev/null
rm -rf "$ldh"
"$fold_bin" prepare --quiet --mmcif-dir "$out/data" --alignment-dir "$out/data/alignments" --chains 2q2k_A,2q2k_B \
  --out "$out/data/2q2k.h5" > /dev/null

{
  echo "packed $(date -u +%FT%TZ) from $(git -C "$root" rev-parse --short HEAD) on $(. /etc/os-release; echo "$PRETTY_NAME")"
  dpkg-query -W -f='${Package} ${Version}\n' "${packages[@]}"
  echo "sysdeps: $(cd "$out/sysdeps" && ls | tr '\n' ' ')"
} > "$out/MANIFEST"

mib=$(du -sm "$out" | cut -f1)
echo "pack.sh: $out holds ${mib} MiB (limit ${limit_mib} MiB)"
[ "$mib" -le "$limit_mib" ] || { echo "pack.sh: over the ${limit_mib} MiB limit" >&2; exit 1; }
