#!/usr/bin/env bash
# Builds small search databases from the real example data that tools/setup.sh fetches
# from Debian (examples/.cache), with HMMER's and HH-suite's own formats and tools, so
# that `fold msa` runs AF2's whole search offline:
#   DIR/uniref90.fasta         jackhmmer target: the four globins of HMMER's tutorial
#                              (globins4.sto) among UniProt sequences (mmseqs2-examples)
#   DIR/bfd/bfd_*              HH-suite database for hhblits (BFD/UniClust-style): the
#                              same globins among fewer UniProt sequences, one entry each
#   DIR/pdb70/pdb70_*          HH-suite database for hhsearch (PDB70-style): one entry per
#                              protein chain of the example structures, named PDBID_CHAIN
#   DIR/structures/            those structures as <pdbid>.pdb / .cif.gz (--template-mmcif-dir)
#   DIR/query.fasta            human haemoglobin beta (4HHB chain B), whose search finds
#                              the alpha chains of 4HHB as templates
# Each HH-suite database is ffindex_build (the A3M entries), ffindex_apply hhmake (the
# HMMs) and cstranslate (the column states hhblits prefilters with), as HH-suite's own
# database recipes do.
# usage: tools/examples/make-hhsuite-dbs.sh [--out DIR] [--fold BIN] [--decoys N]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache="$root/examples/.cache"
out="$root/examples/search-dbs"
fold_bin="$root/build/fold/fold"
decoys=40
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(realpath -m "$2"); shift ;;
    --fold) fold_bin="$2"; shift ;;
    --decoys) decoys="$2"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "make-hhsuite-dbs.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "make-hhsuite-dbs.sh: $*" >&2; exit 1; }
[ -x "$fold_bin" ] || die "no fold binary at $fold_bin (build first, or --fold BIN)"
[ -d "$cache/hmmer-doc" ] || die "$cache is missing its data; run tools/setup.sh"
for tool in ffindex_build ffindex_apply hhmake; do
  command -v "$tool" >/dev/null || die "$tool not found: it is part of HH-suite (Debian package hhsuite; tools/setup.sh installs it)"
done

# Debian ships cstranslate off PATH, one build per SIMD level, behind a wrapper that
# does not run from where it is installed: pick the build as that wrapper means to.
cstranslate=$(command -v cstranslate || true)
if [ -z "$cstranslate" ]; then
  for simd in avx2 avx sse4.1 ssse3 sse3 sse2 plain; do
    candidate=/usr/libexec/hhsuite/cstranslate-$simd
    if [ -x "$candidate" ] && { [ "$simd" = plain ] || grep -qw "${simd/./_}" /proc/cpuinfo; }; then
      cstranslate=$candidate
      break
    fi
  done
fi
[ -n "$cstranslate" ] || die "cstranslate not found (HH-suite; Debian package hhsuite)"
hhlib_data=${HHLIB:-/usr/share/hhsuite}/data
[ -f "$hhlib_data/cs219.lib" ] || hhlib_data=/usr/lib/hhsuite/data
[ -f "$hhlib_data/cs219.lib" ] || die "HH-suite's cs219.lib not found (Debian package hhsuite-data, or set HHLIB)"

globins="$cache/hmmer-doc/usr/share/doc/hmmer/tutorial/globins4.sto"
uniprot="$cache/mmseqs2-examples/usr/share/doc/mmseqs2/example-data/DB.fasta.gz"
structures=(
  "$cache/r-bioc-rcpi/usr/lib/R/site-library/Rcpi/protseq/4HHB.pdb"
  "$cache/libcifpp-dev/usr/share/doc/libcifpp-dev/examples/1cbs.cif.gz"
  "$cache/freesasa/usr/share/freesasa/test-data/1ubq.pdb"
)
for f in "$globins" "$uniprot" "${structures[@]}"; do [ -f "$f" ] || die "missing $f; run tools/setup.sh"; done

rm -rf "$out"
mkdir -p "$out/structures" "$out/work"
work="$out/work"

# Stockholm rows -> FASTA (gaps removed), in file order.
awk '/^#|^\/\/|^$/ {next} { if (!($1 in seq)) order[n++] = $1; seq[$1] = seq[$1] $2 }
     END { for (i = 0; i < n; i++) { s = seq[order[i]]; gsub(/[-.]/, "", s); print ">" order[i]; print s } }' \
  "$globins" > "$work/globins.fasta"
awk '/^>HBB_HUMAN/ {getline s; print ">HBB_HUMAN haemoglobin beta (4HHB chain B)"; print s}' \
  "$work/globins.fasta" > "$out/query.fasta"

# awk reads to the end: an early exit would fail gzip with SIGPIPE under pipefail.
first_records() { gzip -dc "$uniprot" | awk -v n="$1" '/^>/ {k++} k <= n {print}'; }
{ cat "$work/globins.fasta"; first_records 2000; } > "$out/uniref90.fasta"
{ cat "$work/globins.fasta"; first_records "$decoys"; } > "$work/bfd.fasta"

# One single-sequence A3M per record (its name and the record's header).
split_fasta() {
  mkdir -p "$2"
  awk -v dir="$2" '/^>/ { f = sprintf("%s/%05d.a3m", dir, ++k) } { print > f }' "$1"
}

# The chains of the example structures, from `fold inspect`, named <pdbid>_<chain>.
for f in "${structures[@]}"; do
  name=$(basename "$f"); id=$(echo "${name%%.*}" | tr 'A-Z' 'a-z'); ext=${name#*.}
  ln -s "$f" "$out/structures/$id.$ext"
  "$fold_bin" inspect "$f" | python3 -c '
import json, sys
pdb_id = sys.argv[1]
for c in json.load(sys.stdin)["chains"]:
    if c.get("sequence_length", 0) > 0:
        seq = c["sequence"]
        print(">%s_%s mol:protein length:%d" % (pdb_id, c["id"], len(seq)))
        print(seq)
' "$id" >> "$work/pdb70.fasta"
done

build_hhsuite_db() {  # FASTA, database prefix
  local entries="$work/$(basename "$2")_entries"
  split_fasta "$1" "$entries"
  ffindex_build -s "$2_a3m.ffdata" "$2_a3m.ffindex" "$entries" >/dev/null
  ffindex_apply "$2_a3m.ffdata" "$2_a3m.ffindex" -i "$2_hhm.ffindex" -d "$2_hhm.ffdata" \
    -- hhmake -i stdin -o stdout -v 0 >/dev/null
  "$cstranslate" -f -x 0.3 -c 4 -I a3m -i "$2_a3m" -o "$2_cs219" \
    -A "$hhlib_data/cs219.lib" -D "$hhlib_data/context_data.lib" >/dev/null
  echo "$2: $(wc -l < "$2_a3m.ffindex") entries"
}
mkdir -p "$out/bfd" "$out/pdb70"
build_hhsuite_db "$work/bfd.fasta" "$out/bfd/bfd"
build_hhsuite_db "$work/pdb70.fasta" "$out/pdb70/pdb70"
rm -rf "$work"
echo "query: $out/query.fasta; structures: $out/structures; jackhmmer: $out/uniref90.fasta"
