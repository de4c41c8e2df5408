#!/usr/bin/env bash
# The OpenFold parity tools (tools/parity) without OpenFold: the scripts parse, the
# Python compiles, and runs without an OpenFold checkout or a build are refused with
# exit 2 and a message. Running them needs OpenFold (README, AlphaFold-Multimer).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for s in "$root"/tools/parity/*.sh; do bash -n "$s" || fail "$s does not parse"; done
# Parsed, not byte-compiled: nothing is written into the source tree.
python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' "$root"/tools/parity/*.py ||
  fail "tools/parity/*.py do not parse"

refused() {  # refused EXPECTED_MESSAGE ARGS...: exit 2 with that message
  local msg=$1; shift
  local text rc
  text=$("$@" 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "$* exited $rc, not 2"
  grep -q -- "$msg" <<< "$text" || fail "$* did not say '$msg': $text"
}
for s in multimer-modules.sh multimer-model.sh; do
  refused "--openfold must name an OpenFold checkout" "$root/tools/parity/$s"
  refused "--openfold must name an OpenFold checkout" "$root/tools/parity/$s" --openfold /nonexistent
  refused "unknown option --bogus" "$root/tools/parity/$s" --bogus
done
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/openfold"
refused "no build in" "$root/tools/parity/multimer-modules.sh" --openfold "$scratch" --build "$scratch/nobuild"
refused "not built" "$root/tools/parity/multimer-model.sh" --openfold "$scratch" --fold "$scratch/nofold"
refused "stereo_chemical_props.txt is missing" "$root/tools/parity/multimer-model.sh" --openfold "$scratch" --fold /bin/true

[ $failures -eq 0 ] && echo "parity scripts: all checks passed"
exit $((failures > 0))
