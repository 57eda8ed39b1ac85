#!/usr/bin/env bash
# `dlut grade --ref REF --edit "TARGET|ANCHOR|SCALE[|ENHANCE]"` (repeatable):
# ColorizeDiffusion's global edits of the reference through the command. The
# edits land in report.json in order with enhance read as a real boolean;
# edits whose scales are all <= 0 manipulate nothing (the original pipeline's
# gate), so they grade exactly as the plain reference does; a positive scale
# changes the grade; malformed edits, edits without a reference and edits
# with --ref-mode are usage errors (exit 2).
set -u
S="${DLUT_SHARED:?DLUT_SHARED not set}/data"
PY=${PY:-/usr/bin/python3}
M="$S/clip-ref/openai_tiny"; P="$S/photos/chelsea.png"; R="$S/photos/coffee.png"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
g() { "$DLUT" grade "$P" --ref "$R" --model "$M" --steps 4 --size 9 --samples 512 --start identity -q "$@"; }

g --edit "warm golden light|cold blue light|6" --edit " film grain | none | 2.5 | False " -o "$tmp/a" || fail "grade with two edits"
"$PY" - "$tmp/a/report.json" <<'PYEOF' || fail "report.json edits"
import json, sys
e = json.load(open(sys.argv[1]))["settings"]["ref_edits"]
assert e == [{"target": "warm golden light", "anchor": "cold blue light", "scale": 6, "enhance": False},
             {"target": "film grain", "anchor": None, "scale": 2.5, "enhance": False}], e
PYEOF
g --ref-mode image -o "$tmp/plain" || fail "plain reference grade"
g --edit "warm golden light||0" --edit "film grain|cold blue light|0|true" -o "$tmp/zero" || fail "zero-scale edits"
cmp -s "$tmp/plain/look.cube" "$tmp/zero/look.cube" || fail "edits with s = 0 changed the grade (the original does not manipulate)"
cmp -s "$tmp/plain/look.cube" "$tmp/a/look.cube" && fail "edits with s > 0 did not change the grade"
for bad in "warm||x" "warm|1" "|none|1" "warm||1|maybe"; do
  g --edit "$bad" -o "$tmp/bad" 2>/dev/null; rc=$?
  [ "$rc" -eq 2 ] || fail "--edit '$bad' exit $rc, not 2"
done
"$DLUT" grade "$P" "warm" --model "$M" --edit "warm||1" -q -o "$tmp/bad" 2>/dev/null; rc=$?
[ "$rc" -eq 2 ] || fail "--edit without --ref exit $rc"
g --edit "warm||1" --ref-mode anchor -o "$tmp/bad" 2>/dev/null; rc=$?
[ "$rc" -eq 2 ] || fail "--edit with --ref-mode exit $rc"
[ "$fails" -eq 0 ] && echo "grade edits: ok"
[ "$fails" -eq 0 ]
