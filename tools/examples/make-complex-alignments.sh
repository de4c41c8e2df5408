#!/usr/bin/env bash
# A real heteromer's alignments in OpenFold's multimer layout, from the example data that
# tools/setup.sh fetches (run it with --with-swissprot): PDB 4HHB's alpha and beta
# chains (haemoglobin, r-bioc-rcpi's 4HHB.pdb, SEQRES) as
#   OUT/4hhb.fasta                    records 4hhb_A and 4hhb_B
#   OUT/4hhb_{A,B}/uniprot_hits.sto   jackhmmer over the 20,000 UniProt sequences of
#                                     mmseqs2-examples, whose names carry the species
#                                     that AF-Multimer pairs rows by
#   OUT/4hhb_{A,B}/uniref90_hits.sto  jackhmmer over Swiss-Prot 2014 (metastudent-data,
#                                     486,000 sequences without species names): the
#                                     deep unpaired MSAs
# Both searches are `fold msa --tool jackhmmer` with AF2's flags (seconds each).
# usage: tools/examples/make-complex-alignments.sh [--out DIR] [--fold BIN]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache="$root/examples/.cache"
out="$root/examples/complexes"
fold_bin="$root/build/fold/fold"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(realpath -m "$2"); shift ;;
    --fold) fold_bin="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "make-complex-alignments.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "make-complex-alignments.sh: $*" >&2; exit 1; }
[ -x "$fold_bin" ] || die "no fold binary at $fold_bin (build first, or --fold BIN)"
pdb="$cache/r-bioc-rcpi/usr/lib/R/site-library/Rcpi/protseq/4HHB.pdb"
uniprot="$cache/mmseqs2-examples/usr/share/doc/mmseqs2/example-data/DB.fasta.gz"
sprot_db="$cache/metastudent-data/usr/share/metastudent-data/dataset_201401/BPO/goasp.fasta"
[ -f "$pdb" ] && [ -f "$uniprot" ] || die "$cache is missing its data; run tools/setup.sh"
[ -f "$sprot_db.psq" ] || die "no Swiss-Prot 2014 in $cache; run tools/setup.sh --with-swissprot"
command -v blastdbcmd >/dev/null || die "blastdbcmd not found: it is in Debian's ncbi-blast+ (tools/setup.sh --with-swissprot installs it)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
# The searches name their output after the database file: uniprot_hits, uniref90_hits.
ln -s "$uniprot" "$work/uniprot.fasta.gz"
blastdbcmd -db "$sprot_db" -entry all -out "$work/uniref90.fasta"
awk 'BEGIN { split("ALA A ARG R ASN N ASP D CYS C GLN Q GLU E GLY G HIS H ILE I LEU L LYS K MET M PHE F PRO P SER S THR T TRP W TYR Y VAL V", t, " ")
             for (i = 1; i < 40; i += 2) one[t[i]] = t[i + 1] }
     /^SEQRES/ && (substr($0, 12, 1) == "A" || substr($0, 12, 1) == "B") {
       c = substr($0, 12, 1); n = split(substr($0, 20), r, " ")
       for (i = 1; i <= n; ++i) seq[c] = seq[c] one[r[i]] }
     END { print ">4hhb_A"; print seq["A"]; print ">4hhb_B"; print seq["B"] }' "$pdb" > "$out/4hhb.fasta"
"$fold_bin" msa --fasta "$out/4hhb.fasta" --db "$work/uniprot.fasta.gz" --db "$work/uniref90.fasta" \
  --tool jackhmmer --out "$out" --jobs 2 --tmp-dir "$work"
echo "4HHB alpha/beta: $out/4hhb.fasta, alignments in $out/4hhb_A and $out/4hhb_B"
