#!/usr/bin/env bash
# The GPU kit's scripts without a GPU (the fast part CI runs): both parse, the dry run
# names every step and the targets the device builds, and bad arguments are refused
# with exit 2 and a message. The full rehearsal (a build from the packed folder with
# Debian's copies hidden) is the slow test gpu_kit_rehearsal.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
check="$root/tools/gpu/check.sh" pack="$root/tools/gpu/pack.sh"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for s in "$check" "$pack"; do bash -n "$s" || fail "$s does not parse"; done

out=$("$check" --dry-run 2>&1) || fail "--dry-run exited $?"
for step in env build gpu-tests attention predict train sanitizer ablate long-sequence profile; do
  grep -q "^  $step " <<< "$out" || fail "--dry-run does not list step $step"
done
for target in fold fold_bench_attention test_kernels_gpu test_nccl_gpu; do
  grep -q "targets:.* $target\b" <<< "$out" || fail "--dry-run does not build $target"
done
out=$("$check" --dry-run --steps env,attention 2>&1) || fail "--dry-run --steps exited $?"
[ "$(grep -c ' limit ' <<< "$out")" -eq 2 ] || fail "--steps env,attention should list two steps: $out"

refused() {  # refused EXPECTED_MESSAGE ARGS...: exit 2 with that message
  local msg=$1; shift
  local text rc
  text=$("$@" 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "$* exited $rc, not 2"
  grep -q "$msg" <<< "$text" || fail "$* did not say '$msg': $text"
}
refused "unknown option --bogus" "$check" --bogus
refused "unknown step nope" "$check" --dry-run --steps env,nope
refused "positive number" "$check" --dry-run --jobs 0
refused "needs seconds" "$check" --dry-run --deadline x
refused "set OUT" env -u OUT "$check" --steps env
refused "unknown option --bogus" "$pack" --bogus

[ $failures -eq 0 ] && echo "gpu kit scripts: all checks passed"
exit $((failures > 0))
