#!/usr/bin/env bash
# DAP training end to end: `fold launch --nproc P -- fold train ... --set dist.dap=P`
# against the same run in one process, step by step: the logged losses must agree to fp32
# tolerance (the ranks split the Evoformer-family stacks' activations; the numbers are
# the same sums in another order). fp32 tolerance over a training run is measured, not
# assumed: a second single-process run with another thread count (another summation
# order) gives the spread that rounding alone produces, as training amplifies it and
# discrete steps (lDDT bins, the renamed ground truth) can flip. The DAP run passes if
# it stays within max(--tol, that spread).
# Data: --data H5 (e.g. the example set of tools/examples/make-dataset.sh), or by default
# the 2q2k chains of ../shared/data converted with fold prepare.
# usage: tools/train/check-dap.sh [--fold BIN] [--data H5] [--steps N] [--nproc P] [--tol T] [--work DIR]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fold_bin="$root/build/fold/fold"
shared="$root/../shared/data"
data=""
steps=20
nproc=2
tol=1e-4
work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fold) fold_bin="$2"; shift ;;
    --data) data="$2"; shift ;;
    --steps) steps="$2"; shift ;;
    --nproc) nproc="$2"; shift ;;
    --tol) tol="$2"; shift ;;
    --work) work="$2"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "check-dap.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$fold_bin" ] || { echo "check-dap.sh: no fold binary at $fold_bin" >&2; exit 1; }
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/fold-check-dap.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
log() { echo "[check-dap] $*" >&2; }
if [ -z "$data" ]; then
  [ -f "$shared/mmcif/2q2k.cif" ] || { echo "check-dap.sh: SKIP: $shared/mmcif/2q2k.cif not present" >&2; exit 77; }
  "$fold_bin" prepare --quiet --mmcif-dir "$shared/mmcif" --alignment-dir "$shared/alignments" \
    --chains 2q2k_A,2q2k_B --out "$work/data.h5" > /dev/null
  data="$work/data.h5"
fi
# Dropout stays on: the ranks draw the masks a single process would.
args=(train --config tiny --data "$data" --steps "$steps" --quiet --set train.log_every=1
  --set train.checkpoint_every=0 --set scheduler.warmup_no_steps=5 --set data.train.crop_size=48
  --set data.train.max_msa_clusters=16 --set data.train.max_extra_msa=32)

log "one process, $steps steps"
"$fold_bin" --threads 2 "${args[@]}" --out "$work/one" > /dev/null
log "one process with one thread (the rounding spread), $steps steps"
"$fold_bin" --threads 1 "${args[@]}" --out "$work/control" > /dev/null
log "$nproc ranks with dist.dap=$nproc, $steps steps"
threads=$(( $(nproc) / nproc )); [ "$threads" -ge 1 ] || threads=1
"$fold_bin" launch --nproc "$nproc" -- fold --threads "$threads" "${args[@]}" --out "$work/dap" --set dist.dap="$nproc" > /dev/null

python3 - "$work/one/log.jsonl" "$work/dap/log.jsonl" "$work/control/log.jsonl" "$tol" "$nproc" <<'PY'
import json, sys
def losses(path):
    return {r["step"]: r["loss"] for r in map(json.loads, open(path)) if r.get("loss") is not None}
one, dap, control = (losses(p) for p in sys.argv[1:4])
tol, nproc = float(sys.argv[4]), sys.argv[5]
if not (sorted(one) == sorted(dap) == sorted(control)):
    sys.exit(f"[check-dap] FAIL: logged steps differ: {sorted(one)} / {sorted(dap)} / {sorted(control)}")
rel = lambda a, b: abs(a - b) / abs(b)
print(f"step  1 process, 2 threads  DAP {nproc}        rel. diff   1 process, 1 thread  rel. diff")
for s in sorted(one):
    print(f"{s:4d}  {one[s]:<22.7g}  {dap[s]:<12.7g}  {rel(dap[s], one[s]):.2e}    {control[s]:<19.7g}  {rel(control[s], one[s]):.2e}")
worst = max(rel(dap[s], one[s]) for s in one)
spread = max(rel(control[s], one[s]) for s in one)
bound = max(tol, spread)
print(f"[check-dap] worst relative loss difference over {len(one)} steps: DAP {worst:.2e}, "
      f"thread-count spread {spread:.2e}; bound {bound:.2e}: {'PASS' if worst <= bound else 'FAIL'}")
sys.exit(0 if worst <= bound else 1)
PY
