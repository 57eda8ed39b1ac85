#!/usr/bin/env bash
# The semantic suite through the command line: `dlut grade PHOTO "PROMPT"`
# writes graded photos, and the checker of tests/test_looks_semantic.c
# (--check mode) measures each against its original, with the checks of
# tests/semantic_prompts.tsv. Without a model (the default here) this
# tests the offline looks end to end (parser, bake, LUT application, image
# encode); with DLUT_SEMANTIC_MODEL=DIR it grades with that CLIP model
# instead, so the same table judges the CLIP path. Also checks the
# `dlut looks` command: listing, reporting, LUT output, usage errors.
set -u
BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
DLUT=${DLUT:-$BUILD/dlut}
CHECK=$BUILD/tests/test_looks_semantic
SHARED=${DLUT_SHARED:-../shared}
TSV=tests/semantic_prompts.tsv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

[ -x "$DLUT" ] || { echo "no $DLUT"; exit 1; }
[ -x "$CHECK" ] || { echo "no $CHECK"; exit 1; }

# ---- dlut looks ----
# the skin protection: on by default, off with --no-skin-protect, and off for a prompt about skin
"$DLUT" looks "very cold" --json | grep -q '"skin_follow":[[:space:]]*0,' || bad "very cold: skin not protected by default"
"$DLUT" looks "very cold" --no-skin-protect --json | grep -q '"skin_follow":[[:space:]]*1,' || bad "--no-skin-protect did not turn it off"
"$DLUT" looks "warmer skin" --json | grep -q '"skin_follow":[[:space:]]*1,' || bad "a prompt about skin keeps the protection on"
"$DLUT" looks "very cold" -o "$tmp/sp1.cube" -s 9 >/dev/null && "$DLUT" looks "very cold" --no-skin-protect -o "$tmp/sp0.cube" -s 9 >/dev/null &&
  ! cmp -s "$tmp/sp1.cube" "$tmp/sp0.cube" || bad "--no-skin-protect wrote the same LUT"
"$DLUT" looks >"$tmp/list" || bad "dlut looks exits non-zero"
for w in "== film ==" "portra" "港风" "莫兰迪" "== modifiers" "不要太" "not too"; do
  grep -q -- "$w" "$tmp/list" || bad "dlut looks does not list '$w'"
done
"$DLUT" looks --colors | grep -q "#008080  teal" || bad "dlut looks --colors does not list teal"
"$DLUT" looks --colors | grep -q "霁青" || bad "dlut looks --colors does not list 霁青"
"$DLUT" looks "warm film sparkle" >"$tmp/rep" || bad "dlut looks PROMPT exits non-zero"
grep -q "^understood: warm, film$" "$tmp/rep" || bad "understood line: $(cat "$tmp/rep")"
grep -q "^ignored:    sparkle$" "$tmp/rep" || bad "ignored line: $(cat "$tmp/rep")"
grep -q "^look: .*temp=+" "$tmp/rep" || bad "look line has no temp"
"$DLUT" looks "温暖的日落胶片风，不要太饱和" -o "$tmp/look.cube" -s 17 >"$tmp/rep2" || bad "dlut looks -o failed"
grep -q "^understood: 温暖, 日落, 胶片风, 不要太饱和$" "$tmp/rep2" || bad "Chinese understood line: $(head -1 "$tmp/rep2")"
grep -q "^LUT_3D_SIZE 17" "$tmp/look.cube" || bad "look.cube is not a 17^3 .cube"
[ "$(grep -cE '^[0-9.eE+-]+ [0-9.eE+-]+ [0-9.eE+-]+$' "$tmp/look.cube")" -eq $((17 * 17 * 17)) ] || bad "look.cube does not have 17^3 rows"
"$DLUT" looks --help | grep -q "^usage: dlut looks" || bad "no --help"
"$DLUT" looks "very warm film sparkle" --json >"$tmp/rep.json" || bad "dlut looks --json failed"
"$PY" - "$tmp/rep.json" <<'PYEOF' || bad "dlut looks --json: $(cat "$tmp/rep.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["understood"] == "very warm, film" and r["ignored"] == "sparkle", r
assert [m["term"] for m in r["matches"]] == ["warm", "film"] and r["matches"][0]["weight"] == 1.6, r
assert r["params"]["temp"] > 2 and r["look"].startswith("temp=+"), r
PYEOF
# suggestions: an ignored word gets the nearest terms; nothing understood is never silent
"$DLUT" looks "cinemattik warm" >"$tmp/sug" || bad "dlut looks with a typo exits non-zero"
grep -q "^ignored:    cinemattik (did you mean: cinematic?)$" "$tmp/sug" || bad "suggestion line: $(cat "$tmp/sug")"
# a 6-letter slip is read as meant with the system's word list, and only suggested without one
"$DLUT" looks "dreemy warm" >"$tmp/slip" || bad "dlut looks with a slip exits non-zero"
grep -q "^read as:    dreemy → dreamy$" "$tmp/slip" || bad "slip with the word list: $(cat "$tmp/slip")"
DLUT_WORDS="$tmp/no-such-list" "$DLUT" looks "dreemy warm" >"$tmp/slip2" || bad "dlut looks without a word list failed"
grep -q "^ignored:    dreemy (did you mean: dreamy?)$" "$tmp/slip2" || bad "slip without the word list: $(cat "$tmp/slip2")"
"$DLUT" looks "wram portr" >/dev/null 2>"$tmp/sug.err" || bad "nothing understood (no -o) exits non-zero"
grep -q "no word of the prompt is in the vocabulary (did you mean: warm, portra" "$tmp/sug.err" ||
  bad "nothing understood says nothing on stderr: $(cat "$tmp/sug.err")"
"$DLUT" looks "xyzzy" -o "$tmp/none.cube" >/dev/null 2>&1; [ $? -eq 1 ] || bad "nothing understood with -o is not a failure"
[ -e "$tmp/none.cube" ] && bad "nothing understood wrote a LUT"
# the editable look: --json -> --params gives the same LUT; hostile params files are clear errors
"$DLUT" looks "温暖的日落胶片风，不要太饱和" --json >"$tmp/look.json" || bad "--json failed"
"$DLUT" looks --params "$tmp/look.json" -o "$tmp/p.cube" -s 17 >/dev/null || bad "--params -o failed"
cmp -s <(grep -v TITLE "$tmp/look.cube") <(grep -v TITLE "$tmp/p.cube") || bad "--params does not give the prompt's LUT"
"$PY" - "$tmp/look.json" "$tmp/edit.json" <<'PYEOF' || bad "--json params: $(head -c 300 "$tmp/look.json")"
import json, sys
r = json.load(open(sys.argv[1]))
p = r["params"]
assert len(p["band_hue"]) == 8 and len(p["shadow_ab"]) == 2 and len(p["mono_mix"]) == 3, p
assert p["temp"] > 2 and "suggested" in r, r
json.dump({"temp": -1.5, "contrast": 0.4}, open(sys.argv[2], "w"))
PYEOF
"$DLUT" looks --params "$tmp/edit.json" | grep -q "^look:       temp=-1.50 contrast=+0.40$" || bad "edited params not read"
printf '{"temp": 1, "warmth": 2}' >"$tmp/bad.json"
"$DLUT" looks --params "$tmp/bad.json" >/dev/null 2>"$tmp/bad.err"; [ $? -eq 1 ] || bad "unknown field is not a failure"
grep -q "unknown field 'warmth'" "$tmp/bad.err" || bad "unknown field message: $(cat "$tmp/bad.err")"
printf '{"contrast": 1e999}' >"$tmp/bad.json"
"$DLUT" looks --params "$tmp/bad.json" >/dev/null 2>"$tmp/bad.err"; [ $? -eq 1 ] || bad "infinite value is not a failure"
"$DLUT" looks --params "$tmp/nosuch.json" >/dev/null 2>&1; [ $? -eq 1 ] || bad "missing params file is not a failure"
"$DLUT" looks warm --params "$tmp/edit.json" >/dev/null 2>&1; [ $? -eq 2 ] || bad "prompt and --params is not a usage error"
# strengths
"$DLUT" looks "high contrast, brighter" --tone-strength 0 | grep -q "^look:       (identity)$" || bad "tone strength 0"
"$DLUT" looks "warm, high contrast" --color-strength 0 | grep -q "^look:       contrast=+0.60$" || bad "colour strength 0"
"$DLUT" looks warm --color-strength 2.5 >/dev/null 2>&1; [ $? -eq 2 ] || bad "colour strength 2.5 is not a usage error"
"$DLUT" looks --bogus >/dev/null 2>&1; [ $? -eq 2 ] || bad "unknown option is not a usage error (2)"
"$DLUT" looks a b >/dev/null 2>&1; [ $? -eq 2 ] || bad "two prompts is not a usage error (2)"
"$DLUT" looks -o x.cube >/dev/null 2>&1; [ $? -eq 2 ] || bad "-o without a prompt is not a usage error (2)"
"$DLUT" looks --group nosuch >/dev/null 2>&1; [ $? -eq 2 ] || bad "unknown group is not a usage error (2)"
"$DLUT" looks "$(printf 'warm \xff')" >/dev/null 2>"$tmp/err"; [ $? -eq 1 ] || bad "invalid UTF-8 is not a failure (1)"
grep -q "^dlut looks: .*UTF-8" "$tmp/err" || bad "invalid UTF-8 message: $(cat "$tmp/err")"
"$DLUT" looks warm -o /nonexistent-dir/x.cube >/dev/null 2>&1; [ $? -eq 1 ] || bad "unwritable output is not a failure (1)"

# ---- the semantic suite through dlut grade ----
model_args=()
if [ -n "${DLUT_SEMANTIC_MODEL:-}" ]; then
  model_args=(--model "$DLUT_SEMANTIC_MODEL")
  echo "grading with the CLIP model $DLUT_SEMANTIC_MODEL"
else
  export DLUT_MODEL= DLUT_MODELS="$tmp/no-models"   # make sure the offline looks are used
fi
# a slice: every 8th row (22 of the 170 prompts, both languages), on two photos; all rows with DLUT_SEMANTIC_ALL=1
step=${DLUT_SEMANTIC_ALL:+1}
step=${step:-8}
photos=("$SHARED/data/photos/chelsea.png" "$SHARED/data/photos/coffee.png")
graded() { # PHOTO PROMPT -> path of the graded photo (cached per prompt and photo)
  local key; key=$(printf '%s|%s' "$1" "$2" | md5sum | cut -c1-12)
  if [ ! -e "$tmp/g-$key/graded.png" ]; then
    "$DLUT" grade "$1" "$2" -o "$tmp/g-$key" -q "${model_args[@]}" >/dev/null 2>"$tmp/g-$key.err" ||
      { bad "dlut grade '$2': $(cat "$tmp/g-$key.err")"; return 1; }
  fi
  echo "$tmp/g-$key/graded.png"
}
n=0; rows=0
while IFS=$'\t' read -r prompt checks compare; do
  case "$prompt" in ''|'#'*) continue;; esac
  rows=$((rows + 1))
  [ $(((rows - 1) % step)) -eq 0 ] || continue
  for ph in "${photos[@]}"; do
    g=$(graded "$ph" "$prompt") || continue
    c=()
    if [ -n "${compare:-}" ]; then gc=$(graded "$ph" "$compare") || continue; c=("$gc"); fi
    if ! "$CHECK" --check "$ph" "$g" "$checks" "${c[@]}" 2>"$tmp/chk"; then
      bad "'$prompt' ($checks) on $(basename "$ph"): $(cat "$tmp/chk")"
    fi
    n=$((n + 1))
  done
done <"$TSV"
echo "checked $n graded photos from $rows prompts"
[ "$n" -ge 20 ] || bad "only $n graded photos checked"
# dlut grade (offline): the suggestion in the note and in report.json; the strengths
"$DLUT" grade "${photos[0]}" "cinemattik warm" -o "$tmp/gs" >"$tmp/gs.out" 2>/dev/null || bad "dlut grade with a typo failed"
grep -q 'ignored "cinemattik" (did you mean: cinematic?)' "$tmp/gs.out" || bad "grade note: $(cat "$tmp/gs.out")"
grep -q '"suggested":[[:space:]]*"cinematic"' "$tmp/gs/report.json" || bad "report.json has no suggestion"
"$DLUT" grade "${photos[0]}" "cinemattik" -o "$tmp/gs2" >/dev/null 2>"$tmp/gs2.err"; [ $? -ne 0 ] || bad "grade with nothing understood succeeded"
grep -q "did you mean: cinematic" "$tmp/gs2.err" || bad "grade error has no suggestion: $(cat "$tmp/gs2.err")"
"$DLUT" grade "${photos[0]}" "very warm" --color-strength 0 -o "$tmp/gs3" >/dev/null 2>&1 || bad "grade --color-strength failed"
"$CHECK" --check "${photos[0]}" "$tmp/gs3/graded.png" "b<= b>=" 2>/dev/null || bad "colour strength 0 still changes b*"
grep -q '"color_strength":[[:space:]]*0' "$tmp/gs3/report.json" || bad "report.json has no color_strength"
"$DLUT" grade "${photos[0]}" warm --mask "${photos[0]}=cinemattik" -o "$tmp/gs4" >/dev/null 2>"$tmp/gs4.err"
grep -q "region 1 .*did you mean: cinematic" "$tmp/gs4.err" || bad "region prompt error has no suggestion: $(cat "$tmp/gs4.err")"
# the checker is not a rubber stamp: an ungraded photo fails "warm"
"$CHECK" --check "${photos[0]}" "${photos[0]}" "b+" 2>/dev/null && bad "the checker passed an ungraded photo as warm"
exit $fail
