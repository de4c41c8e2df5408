#!/usr/bin/env bash
# Overfit check of the whole training stack: the tiny AlphaFold2 (configs/tiny.toml:
# c_m 32, c_z 32, 2 Evoformer blocks, 1 extra-MSA block, 2 structure-module layers)
# trained from scratch on one real chain, 2q2k chain A (70 residues, its real 21-row
# MSA, from ../shared/data), then scored on that chain's true structure with its EMA
# weights. AF2's losses, optimizer, clipping and schedule as configured, except: no
# warm-up, one recycling iteration, EMA decay 0.99 (0.999 averages over ~1000 steps,
# longer than this run).
# --complex: the same for AlphaFold-Multimer (configs/tiny_multimer.toml) on the whole
# 2Q2K homodimer (chains A and B, 2 x 70 residues, each its own MSA), trained on crops
# of CROP residues (OpenFold's contiguous and spatial-interface crops) and scored on the
# whole complex after the chain permutation: the check is on interface lDDT-Ca (the
# C-alpha pairs across the two chains), lDDT-Ca and GDT-TS are reported beside it;
# 3000 steps unless --steps.
# Writes RUN/summary.json, RUN/log.jsonl and the curve RUN/curve.png; prints steps,
# time, final loss (mean of the last 10% of logged steps) and lDDT-Ca.
# usage: tools/train/overfit.sh [--fold BIN] [--steps N] [--precision fp32|bf16|fp16]
#                               [--work DIR] [--check MIN_SCORE] [--threads N]
#                               [--complex [--crop CROP]]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fold_bin="$root/build/fold/fold"
shared="$root/../shared/data"
steps=""
precision=fp32
work=""
check=""
threads=2
complex=""
crop=96
while [ $# -gt 0 ]; do
  case "$1" in
    --fold) fold_bin="$2"; shift ;;
    --steps) steps="$2"; shift ;;
    --precision) precision="$2"; shift ;;
    --work) work="$2"; shift ;;
    --check) check="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --complex) complex=1 ;;
    --crop) crop="$2"; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
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

if [ -n "$complex" ]; then
  prepared=2q2k_A,2q2k_B
  target=2q2k
  metric=interface_lddt_ca
  model=(--config tiny_multimer --set data.train.crop_size="$crop")
  [ -n "$steps" ] || steps=3000
else
  prepared=2q2k_A
  target=2q2k_A
  metric=lddt_ca
  model=(--config tiny)
  [ -n "$steps" ] || steps=4000
fi
"$fold_bin" prepare --quiet --mmcif-dir "$shared/mmcif" --alignment-dir "$shared/alignments" --chains "$prepared" \
  --out "$work/data.h5" > /dev/null
start=$(date +%s)
"$fold_bin" --threads "$threads" train "${model[@]}" --data "$work/data.h5" --chains "$target" \
  --valid-data "$work/data.h5" --valid-chains "$target" --out "$run" --steps "$steps" --precision "$precision" \
  --workers 1 --quiet --set scheduler.warmup_no_steps=0 --set data.common.max_recycling_iters=0 \
  --set optimizer.ema_decay=0.99 --set train.validate_every=100 --set train.log_every=10 \
  --set train.checkpoint_every=500 > "$run/summary.json"
seconds=$(( $(date +%s) - start ))
"$root/tools/train/plot-log.sh" "$run/log.jsonl" "$run/curve.png" "${model[1]} model, $target, $precision" > /dev/null || true

python3 - "$run" "$seconds" "$check" "$metric" <<'PY'
import json, math, sys
run, seconds, check, metric = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
summary = json.load(open(run + "/summary.json"))
records = [json.loads(l) for l in open(run + "/log.jsonl")]
losses = [r["loss"] for r in records if r.get("loss") is not None]
tail = losses[-max(1, len(losses) // 10):]
final = sum(tail) / len(tail)
validation = summary["validation"]
if metric not in validation:
    print(f"FAIL: the validation reports no {metric}: {validation}")
    sys.exit(1)
score = validation[metric]
# A validation-only line (the run's last step off the validation interval) has no loss.
nonfinite = sum(1 for r in records if "loss" in r and (r["loss"] is None or not math.isfinite(r["loss"])))
interface = f"interface lDDT-Ca {validation['interface_lddt_ca']:.3f}  " if "interface_lddt_ca" in validation else ""
print(f"steps {summary['steps'][1]}  time {seconds} s  final loss {final:.4f} (mean of last {len(tail)} logged)  "
      f"{interface}lDDT-Ca {validation['lddt_ca']:.3f}  GDT-TS {validation['gdt_ts']:.3f}  "
      f"drmsd {validation['drmsd']:.2f} A  skipped steps {summary['skipped_steps']}  "
      f"non-finite logged losses {nonfinite}")
json.dump({"final_loss": final, metric: score, "seconds": seconds}, open(run + "/result.json", "w"))
if check and score < float(check):
    print(f"FAIL: {metric} {score:.3f} < {check}")
    sys.exit(1)
PY
