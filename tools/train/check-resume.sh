#!/usr/bin/env bash
# Exact resume and kill safety of `fold train`, end to end:
#   1. train S steps uninterrupted (a checkpoint every step);
#   2. train the same run again and SIGKILL it at a random moment after its step-S/2
#      checkpoint exists (mid-step or mid-write of the next checkpoint);
#   3. check that what the kill left loads (the newest complete checkpoint; a
#      half-written one only ever exists under a .partial name);
#   4. `fold train --resume` the killed run to S;
#   5. compare the step-S weights, EMA and optimizer state byte for byte.
# Data: the 2q2k chains of ../shared/data (converted with fold prepare).
# usage: tools/train/check-resume.sh [--fold BIN] [--steps S] [--work DIR] [--keep]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fold_bin="$root/build/fold/fold"
shared="$root/../shared/data"
steps=10
work=""
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --fold) fold_bin="$2"; shift ;;
    --steps) steps="$2"; shift ;;
    --work) work="$2"; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "check-resume.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$fold_bin" ] || { echo "check-resume.sh: no fold binary at $fold_bin" >&2; exit 1; }
[ -f "$shared/mmcif/2q2k.cif" ] || { echo "check-resume.sh: SKIP: $shared/mmcif/2q2k.cif not present" >&2; exit 77; }
[ $((steps % 2)) -eq 0 ] && [ "$steps" -ge 2 ] || { echo "check-resume.sh: --steps must be even and >= 2" >&2; exit 2; }
[ -n "$work" ] || work=$(mktemp -d /tmp/fold-check-resume.XXXXXX)
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
log() { echo "[check-resume] $*" >&2; }

"$fold_bin" prepare --quiet --mmcif-dir "$shared/mmcif" --alignment-dir "$shared/alignments" \
  --chains 2q2k_A,2q2k_B --out "$work/data.h5" > /dev/null
train=("$fold_bin" --threads 2 train --config tiny --data "$work/data.h5" --steps "$steps" --quiet
  --set train.checkpoint_every=1 --set train.keep_checkpoints=3 --set scheduler.warmup_no_steps=2
  --set data.train.crop_size=32 --set data.train.max_msa_clusters=8 --set data.train.max_extra_msa=16)

log "uninterrupted run of $steps steps"
"${train[@]}" --out "$work/whole" > /dev/null

half=$(printf 'step-%08d' $((steps / 2)))
log "interrupted run: SIGKILL after $half exists"
"${train[@]}" --out "$work/killed" > /dev/null 2>&1 &
pid=$!
while [ ! -d "$work/killed/checkpoints/$half" ]; do
  kill -0 "$pid" 2> /dev/null || { log "FAIL: the run ended before $half appeared"; exit 1; }
  sleep 0.05
done
sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
kill -KILL "$pid" 2> /dev/null || true
wait "$pid" 2> /dev/null || true
log "killed; left: $(ls "$work/killed/checkpoints" | tr '\n' ' ')"
last=$(printf 'step-%08d' "$steps")
# A run that finished before the kill would make the comparison below trivial.
[ ! -d "$work/killed/checkpoints/$last" ] || { log "FAIL: the run finished before the kill; use more --steps"; exit 1; }

log "resuming to step $steps"
"$fold_bin" --threads 2 train --resume "$work/killed" --quiet > /dev/null

status=0
for f in model.safetensors ema.safetensors optimizer.safetensors; do
  if cmp -s "$work/whole/checkpoints/$last/$f" "$work/killed/checkpoints/$last/$f"; then
    log "$last/$f: bit-identical"
  else
    log "FAIL: $last/$f differs between the uninterrupted and the resumed run"
    status=1
  fi
done
[ "$status" = 0 ] && log "PASS: the resumed run equals the uninterrupted one"
exit "$status"
