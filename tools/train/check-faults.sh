#!/usr/bin/env bash
# Faults in a distributed run (`fold launch --nproc 2 -- fold train ... --set dist.dap=2`),
# each with its outcome asserted (no hang within the time limit, the message, the exit
# code), then the run resumed from its newest checkpoint and compared bit for bit (model,
# EMA and optimizer files) with a run never interrupted:
#   --fault sigterm     SIGTERM to the launcher mid-run (what SLURM sends before it kills a
#                       job): every rank finishes the step, one checkpoint is written, the
#                       launcher exits 0
#   --fault kill-rank   SIGKILL to one rank mid-step: the launcher stops the other, says
#                       which rank died and exits non-zero
#   --fault nonfinite   the loss turns NaN on every rank from step 5
#                       (FOLD_INJECT_NONFINITE_LOSS_AT_STEP): each such step is skipped and
#                       logged; past train.max_skipped_steps = 3 in a row the run stops,
#                       non-zero, naming the last checkpoint, which is intact
#   --fault write-fail  the checkpoint write of step 4 fails halfway (a file-size limit
#                       stands in for a full disk: write() fails with EFBIG): the run stops,
#                       non-zero, with the system's reason, naming the step-2 checkpoint
# Data: the 2q2k chains of ../shared/data converted with fold prepare (skips without them).
# usage: tools/train/check-faults.sh --fault sigterm|kill-rank|nonfinite|write-fail [--fold BIN] [--work DIR] [--limit SECONDS]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fold_bin="$root/build/fold/fold"
shared="$root/../shared/data"
fault=""
work=""
limit=120
while [ $# -gt 0 ]; do
  case "$1" in
    --fault) fault="$2"; shift ;;
    --fold) fold_bin="$2"; shift ;;
    --work) work="$2"; shift ;;
    --limit) limit="$2"; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "check-faults.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
case "$fault" in
  sigterm|kill-rank|nonfinite|write-fail) ;;
  *) echo "check-faults.sh: --fault must be sigterm, kill-rank, nonfinite or write-fail, got '$fault'" >&2; exit 2 ;;
esac
[ -x "$fold_bin" ] || { echo "check-faults.sh: no fold binary at $fold_bin" >&2; exit 1; }
[ -f "$shared/mmcif/2q2k.cif" ] || { echo "check-faults.sh: SKIP: $shared/mmcif/2q2k.cif not present" >&2; exit 77; }
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/fold-check-faults.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
log() { echo "[check-faults] $*" >&2; }
fail() { echo "[check-faults] FAIL: $*" >&2; exit 1; }

"$fold_bin" prepare --quiet --mmcif-dir "$shared/mmcif" --alignment-dir "$shared/alignments" \
  --chains 2q2k_A,2q2k_B --out "$work/data.h5" > /dev/null
# --steps is far beyond what runs: the faulted run must still be running when hit.
train=(train --config tiny --data "$work/data.h5" --steps 100000 --quiet --threads 1 --set train.log_every=1
  --set train.checkpoint_every=2 --set data.train.crop_size=32 --set data.train.max_msa_clusters=8
  --set data.train.max_extra_msa=16 --set dist.dap=2)
launch() { "$fold_bin" launch --nproc 2 --grace 20 -- fold "$@"; }
logged_steps() { [ -f "$1" ] && wc -l < "$1" || echo 0; }

log "fault: $fault, in a DAP-2 run under fold launch"
# Not through the function: $! must be the launcher itself (the faults signal it).
case "$fault" in
  sigterm|kill-rank)
    "$fold_bin" launch --nproc 2 --grace 20 -- fold "${train[@]}" --out "$work/run" > "$work/run.out" 2> "$work/run.err" &
    launcher=$!
    for _ in $(seq $((limit * 10))); do [ "$(logged_steps "$work/run/log.jsonl")" -ge 3 ] && break; sleep 0.1; done
    [ "$(logged_steps "$work/run/log.jsonl")" -ge 3 ] || { kill -KILL "$launcher"; cat "$work/run.err" >&2; fail "no 3 steps in ${limit} s"; }
    if [ "$fault" = sigterm ]; then
      kill -TERM "$launcher"
    else
      rank=$(pgrep -P "$launcher" | tail -n 1)
      log "SIGKILL to rank process $rank"
      kill -KILL "$rank"
    fi ;;
  nonfinite)
    FOLD_INJECT_NONFINITE_LOSS_AT_STEP=5 "$fold_bin" launch --nproc 2 --grace 20 -- fold "${train[@]}" \
      --set train.max_skipped_steps=3 --out "$work/run" > "$work/run.out" 2> "$work/run.err" &
    launcher=$! ;;
  write-fail)
    launch "${train[@]}" --out "$work/run" --stop-after 2 > /dev/null 2> "$work/run.err" ||
      { cat "$work/run.err" >&2; fail "the run to step 2 failed"; }
    # With SIGXFSZ ignored, a write past the limit fails with EFBIG: the tiny model's
    # files (~200 KiB) cannot be written, log lines can.
    bash -c 'trap "" XFSZ; ulimit -f 64; exec "$0" launch --nproc 2 --grace 20 -- fold train --resume "$1" --quiet --threads 1' \
      "$fold_bin" "$work/run" > "$work/run.out" 2> "$work/run.err" &
    launcher=$! ;;
esac
start=$(date +%s)
for _ in $(seq $((limit * 10))); do kill -0 "$launcher" 2> /dev/null || break; sleep 0.1; done
if kill -0 "$launcher" 2> /dev/null; then
  pkill -KILL -P "$launcher" || true
  kill -KILL "$launcher"
  fail "the launcher still ran ${limit} s after the fault (a hang)"
fi
code=0
wait "$launcher" || code=$?
log "the launcher exited with code $code after $(( $(date +%s) - start )) s"
if [ "$fault" = sigterm ]; then
  [ "$code" -eq 0 ] || { cat "$work/run.err" >&2; fail "exit code $code after SIGTERM, not 0"; }
  grep -q "stop requested: checkpointing at step" "$work/run.err" || fail "no stop message in the log"
  grep -q "every rank stopped cleanly after the signal" "$work/run.err" || fail "no launcher message"
elif [ "$fault" = kill-rank ]; then
  [ "$code" -ne 0 ] || fail "exit code 0 after a rank was killed"
  grep -q "exited with code 137; stopping the other ranks" "$work/run.err" || { cat "$work/run.err" >&2; fail "no message naming the killed rank"; }
elif [ "$fault" = nonfinite ]; then
  [ "$code" -ne 0 ] || fail "exit code 0 after non-finite losses"
  grep -q "4 updates in a row skipped (non-finite loss or gradients) up to step 8" "$work/run.err" ||
    { cat "$work/run.err" >&2; fail "no message about the skipped updates"; }
  # Step 6's checkpoint comes after two skipped updates: it must hold step 4's weights.
  grep -q "The last checkpoint is intact: $work/run/checkpoints/step-00000006 " "$work/run.err" ||
    { cat "$work/run.err" >&2; fail "the message does not name the step-6 checkpoint"; }
  skipped=$(grep -c '"stepped":false' "$work/run/log.jsonl" || true)
  [ "$skipped" -eq 4 ] || fail "$skipped skipped steps in log.jsonl, not 4"
  for file in model.safetensors ema.safetensors; do
    cmp -s "$work/run/checkpoints/step-00000004/$file" "$work/run/checkpoints/step-00000006/$file" ||
      fail "$file of step 6 differs from step 4's: a skipped update changed the weights"
  done
  launch train --resume "$work/run" --quiet --threads 1 --stop-after 2 > /dev/null 2> "$work/resume.err" ||
    { cat "$work/resume.err" >&2; fail "resume from the intact checkpoint failed"; }
  [ -d "$work/run/checkpoints/step-00000008" ] || fail "the resumed run wrote no step-8 checkpoint"
  log "PASS: nonfinite handled (exit code $code): 4 skipped updates, stopped naming step 6 (step 4's weights), resumed to step 8"
  exit 0
else
  [ "$code" -ne 0 ] || fail "exit code 0 after a failed checkpoint write"
  grep -q "writing the checkpoint of step 4 failed" "$work/run.err" || { cat "$work/run.err" >&2; fail "no message about the write"; }
  grep -q "File too large" "$work/run.err" || { cat "$work/run.err" >&2; fail "the system's reason is not given"; }
  grep -q "the previous checkpoint is intact: $work/run/checkpoints/step-00000002" "$work/run.err" ||
    { cat "$work/run.err" >&2; fail "the message does not name the step-2 checkpoint"; }
fi

# Resume from the newest checkpoint for 2 more steps; a fresh run to the same step must
# give the same bytes.
checkpoint=$(ls -d "$work/run/checkpoints/step-"* | grep -v partial | sort | tail -n 1)
at=$((10#${checkpoint##*step-}))
target=$((at + 2))
log "resuming from step $at to step $target; the reference runs to step $target uninterrupted"
launch train --resume "$work/run" --quiet --threads 1 --stop-after 2 > /dev/null 2> "$work/resume.err" ||
  { cat "$work/resume.err" >&2; fail "resume failed"; }
launch "${train[@]}" --out "$work/reference" --stop-after "$target" > /dev/null 2> "$work/reference.err" ||
  { cat "$work/reference.err" >&2; fail "reference run failed"; }
name="step-$(printf %08d "$target")"
for file in model.safetensors ema.safetensors optimizer.safetensors; do
  cmp -s "$work/run/checkpoints/$name/$file" "$work/reference/checkpoints/$name/$file" ||
    fail "$file at step $target differs from the uninterrupted run's"
done
log "PASS: $fault handled (exit code $code); resumed from step $at, step $target is bit for bit the uninterrupted run's"
