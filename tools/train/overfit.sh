#!/usr/bin/env bash
# Overfit check of the whole training stack: the tiny AlphaFold2 (configs/tiny.toml:
# c_m 32, c_z 32, 2 Evoformer blocks, 1 extra-MSA block, 2 structure-module layers)
# trained from scratch on one real chain, 2q2k chain A (70 residues, its real 21-row
# MSA, from ../shared/data), then scored on that chain's true structure with its EMA
# weights. AF2's losses, optimizer, clipping and schedule as configured, except: no
# warm-up, one recycling iteration, EMA decay 0.99 (0.999 averages over ~1000 steps,
# longer than this run).
# Writes RUN/summary.json, RUN/log.jsonl and the curve RUN/curve.png; prints steps,
# time, final loss (mean of the last 10% of logged steps) and lDDT-Ca.
# usage: tools/train/overfit.sh [--fold BIN] [--steps N] [--precision fp32|bf16|fp16]
#                               [--work DIR] [--check MIN_LDDT_CA] [--threads N]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fold_bin="$root/build/fold/fold"
shared="$root/../shared/data"
steps=4000
precision=fp32
work=""
check=""
threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --fold) fold_bin="$2"; shift ;;
    --steps) steps="$2"; shift ;;
    --precision) precision="$2"; shift ;;
    --work) work="$2"; shift ;;
    --check) check="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "overfit.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$fold_bin" ] || { echo "overfit.sh: no fold binary at $fold_bin" >&2; exit 1; }
[ -f "$shared/mmcif/2q2k.cif" ] || { echo "overfit.sh: SKIP: $shared/mmcif/2q2k.cif not present" >&2; exit 77; }
[ -n "$work" ] || work=$(mktemp -d /tmp/fold-overfit.XXXXXX)
mkdir -p "$work"
run="$work/run-$precision"
rm -rf "$run"
mkdir -p "$run"

"$fold_bin" prepare --quiet --mmcif-dir "$shared/mmcif" --alignment-dir "$shared/alignments" --chains 2q2k_A \
  --out "$work/data.h5" > /dev/null
start=$(date +%s)
"$fold_bin" --threads "$threads" train --config tiny --data "$work/data.h5" --chains 2q2k_A \
  --valid-data "$work/data.h5" --valid-chains 2q2k_A --out "$run" --steps "$steps" --precision "$precision" \
  --workers 1 --quiet --set scheduler.warmup_no_steps=0 --set data.common.max_recycling_iters=0 \
  --set optimizer.ema_decay=0.99 --set train.validate_every=100 --set train.log_every=10 \
  --set train.checkpoint_every=500 > "$run/summary.json"
seconds=$(( $(date +%s) - start ))
"$root/tools/train/plot-log.sh" "$run/log.jsonl" "$run/curve.png" "tiny model, 2q2k_A, $precision" > /dev/null || true

python3 - "$run" "$seconds" "$check" <<'PY'
import json, math, sys
run, seconds, check = sys.argv[1], int(sys.argv[2]), sys.argv[3]
summary = json.load(open(run + "/summary.json"))
records = [json.loads(l) for l in open(run + "/log.jsonl")]
losses = [r["loss"] for r in records if r.get("loss") is not None]
tail = losses[-max(1, len(losses) // 10):]
final = sum(tail) / len(tail)
lddt = summary["validation"]["lddt_ca"]
nonfinite = sum(1 for r in records if r.get("loss") is None or not math.isfinite(r["loss"]))
print(f"steps {summary['steps'][1]}  time {seconds} s  final loss {final:.4f} (mean of last {len(tail)} logged)  "
      f"lDDT-Ca {lddt:.3f}  GDT-TS {summary['validation']['gdt_ts']:.3f}  drmsd {summary['validation']['drmsd']:.2f} A  "
      f"skipped steps {summary['skipped_steps']}  non-finite logged losses {nonfinite}")
json.dump({"final_loss": final, "lddt_ca": lddt, "seconds": seconds}, open(run + "/result.json", "w"))
if check and lddt < float(check):
    print(f"FAIL: lDDT-Ca {lddt:.3f} < {check}")
    sys.exit(1)
PY
