#!/usr/bin/env bash
# Builds the example training and validation datasets from the real structures and
# family alignments that tools/setup.sh fetches from Debian (examples/.cache):
#   theseus trypsins (*.pdb.gz + tryps.a2m) and LDH (*.pdb.gz + ldh.a2m),
#   d1nz0a_ (RNase P, pdb + a3m), 4HHB chains A-D (globins4.sto rows HBA/HBB).
# Each family alignment is turned into one a3m per chain with that chain as the query
# (OpenFold's per-chain layout), then `fold prepare` converts them: every 10th chain
# (in id order) goes to valid.h5, the rest to train.h5. Chains whose alignment row is
# not their structure's sequence are reported by fold prepare and left out.
# usage: tools/examples/make-dataset.sh [--out DIR] [--families trypsins,ldh,rnasep,globins] [--jobs N] [--fold BIN]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache="$root/examples/.cache"
out="$root/examples/dataset"
families="trypsins,ldh,rnasep,globins"
jobs=2
fold_bin="$root/build/fold/fold"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$(realpath -m "$2"); shift ;;
    --families) families="$2"; shift ;;
    --jobs) jobs="$2"; shift ;;
    --fold) fold_bin="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "make-dataset.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$fold_bin" ] || { echo "make-dataset.sh: no fold binary at $fold_bin (build first, or --fold BIN)" >&2; exit 1; }
[ -d "$cache/theseus-examples" ] || { echo "make-dataset.sh: $cache is missing its data; run tools/setup.sh" >&2; exit 1; }

rm -rf "$out/structures" "$out/alignments"
mkdir -p "$out/structures" "$out/alignments"
theseus="$cache/theseus-examples/usr/share/doc/theseus/examples"

# One a3m per chain from a family alignment (a2m or Stockholm): the chain's row is the
# query; columns where it has a residue are kept, other rows' residues elsewhere become
# insertions (lower case), so deletion counts come out as in a search MSA.
python3 - "$out" "$families" "$theseus" "$cache" <<'PY'
import gzip, os, re, sys
out, families, theseus, cache = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4]

def read_a2m(path):
    opener = gzip.open if path.endswith(".gz") else open
    rows, name = {}, None
    with opener(path, "rt") as f:
        for line in f:
            line = line.strip()
            if line.startswith(">"):
                name = line[1:].split()[0]
                rows[name] = ""
            elif name:
                rows[name] += line
    return rows

def read_sto(path):
    rows = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or line.startswith("//") or not line.strip():
                continue
            name, seq = line.split()
            rows[name] = rows.get(name, "") + seq
    return rows

def chain_a3m(rows, query):
    q = rows[query]
    keep = [i for i, c in enumerate(q) if c.isalpha()]
    lines = []
    for name, seq in [(query, q)] + [(n, s) for n, s in rows.items() if n != query]:
        text, k = [], 0
        for i, c in enumerate(seq):
            if q[i].isalpha():
                text.append(c.upper() if c.isalpha() else "-")
            elif c.isalpha():
                text.append(c.lower())
        lines.append(">%s\n%s\n" % (name, "".join(text)))
    return "".join(lines)

def pdb_chain(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", errors="replace") as f:
        for line in f:
            if line.startswith("ATOM"):
                return line[21].strip() or "A"
    return None

def link(src, name):
    dst = os.path.join(out, "structures", name)
    if not os.path.exists(dst):
        os.symlink(src, dst)

def write(chain_id, text):
    d = os.path.join(out, "alignments", chain_id)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "family.a3m"), "w") as f:
        f.write(text)

for family in families:
    if family in ("trypsins", "ldh"):
        folder = os.path.join(theseus, family)
        rows = read_a2m(os.path.join(folder, "tryps.a2m.gz" if family == "trypsins" else "ldh.a2m.gz"))
        for name in sorted(rows):
            path = os.path.join(folder, name + ".gz")
            if not os.path.exists(path):
                continue
            entry = name[: -len(".pdb")]
            link(path, entry + ".pdb.gz")
            write(entry + "_" + pdb_chain(path), chain_a3m(rows, name))
    elif family == "rnasep":
        base = os.path.join(cache, "python3-csb/usr/lib/python3/dist-packages/csb/test/data/d1nz0a_")
        link(base + ".pdb", "d1nz0a_.pdb")
        d = os.path.join(out, "alignments", "d1nz0a__A")
        os.makedirs(d, exist_ok=True)
        os.symlink(base + ".a3m", os.path.join(d, "hhblits.a3m")) if not os.path.exists(os.path.join(d, "hhblits.a3m")) else None
    elif family == "globins":
        rows = read_sto(os.path.join(cache, "hmmer-doc/usr/share/doc/hmmer/tutorial/globins4.sto"))
        link(os.path.join(cache, "r-bioc-rcpi/usr/lib/R/site-library/Rcpi/protseq/4HHB.pdb"), "4HHB.pdb")
        for chain, row in (("A", "HBA_HUMAN"), ("B", "HBB_HUMAN"), ("C", "HBA_HUMAN"), ("D", "HBB_HUMAN")):
            write("4HHB_" + chain, chain_a3m(rows, row))
    else:
        sys.exit("make-dataset.sh: unknown family " + family)
PY

ls "$out/alignments" | sort > "$out/all_chains.txt"
awk 'NR % 10 == 0' "$out/all_chains.txt" > "$out/valid_chains.txt"
awk 'NR % 10 != 0' "$out/all_chains.txt" > "$out/train_chains.txt"
echo "[make-dataset] $(wc -l < "$out/train_chains.txt") training and $(wc -l < "$out/valid_chains.txt") validation chains with alignments"
for split in train valid; do
  [ -s "$out/${split}_chains.txt" ] || { echo "[make-dataset] $split: no chains, $split.h5 not written"; continue; }
  # fold prepare exits 1 when some inputs could not be converted; they are listed in
  # its summary and the rest of the dataset is complete.
  "$fold_bin" prepare --mmcif-dir "$out/structures" --alignment-dir "$out/alignments" \
    --chains "@$out/${split}_chains.txt" --out "$out/$split.h5" --jobs "$jobs" --quiet > "$out/$split-prepare.json" || true
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("[make-dataset] %s: %d added, %d already present, %d not converted" % (sys.argv[2], j["added"], j["already_present"], len(j["failed"])))' \
    "$out/$split-prepare.json" "$out/$split.h5"
done
