#!/usr/bin/env bash
# The LUT commands of `dlut` as a user meets them: apply, convert, info,
# strip. Exit statuses (0 ok, 1 failure, 2 usage), one-line messages that
# name the file and line, no output file on failure, inputs never
# overwritten, bit depth kept, several inputs into a folder, --help on each.
set -u
DLUT=${DLUT:-$PWD/build/dlut}
PY=${PY:-/usr/bin/python3}
SHARED=${DLUT_SHARED:-../shared}
PHOTO=$SHARED/data/photos/astronaut.png
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
# expect STATUS DESCRIPTION CMD...: run, check the exit status, keep stderr in $T/err
expect() {
  local want=$1 what=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  if [ "$got" = "$want" ]; then ok "$what (exit $got)"; else bad "$what: exit $got, want $want: $(head -3 "$T/err")"; fi
}
contains() { if grep -qF -- "$2" "$1"; then ok "$3"; else bad "$3: '$2' not in $(head -3 "$1")"; fi; }
one_line() { if [ "$(wc -l <"$T/err")" = 1 ]; then ok "$1: one line"; else bad "$1: $(wc -l <"$T/err") lines on stderr"; fi; }
# "W x H, D-bit/color RGB" from a PNG's IHDR, "JPEG" for a JPEG (no file(1) needed)
pnginfo() {
  "$PY" - "$1" <<'PYEOF'
import sys
d = open(sys.argv[1], "rb").read(32)
if d[:3] == b"\xff\xd8\xff":
    print("JPEG")
elif d[:8] == b"\x89PNG\r\n\x1a\n":
    kinds = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}
    print("%d x %d, %d-bit/color %s" % (int.from_bytes(d[16:20], "big"), int.from_bytes(d[20:24], "big"), d[24],
                                        kinds.get(d[25], "?")))
else:
    print("unknown")
PYEOF
}
absent() { if [ ! -e "$1" ]; then ok "no output $1"; else bad "output $1 exists after a failure"; fi; }

# An identity 17^3 .cube, a channel-swapping 2^3 .cube and a broken one.
"$PY" - "$T" <<'EOF'
import sys
t = sys.argv[1]
n = 17
with open(t + "/id.cube", "w") as f:
    f.write("TITLE \"identity\"\nLUT_3D_SIZE %d\n" % n)
    for b in range(n):
        for g in range(n):
            for r in range(n):
                f.write("%.7f %.7f %.7f\n" % (r / (n - 1), g / (n - 1), b / (n - 1)))
with open(t + "/rev.cube", "w") as f:  # reverses red: not monotone
    f.write("LUT_3D_SIZE 2\n")
    for b in range(2):
        for g in range(2):
            for r in range(2):
                f.write("%d %d %d\n" % (1 - r, g, b))
with open(t + "/rev4.cube", "w") as f:  # 4^3, red reversed: a Hald level 2 as it is
    f.write("LUT_3D_SIZE 4\n")
    for b in range(4):
        for g in range(4):
            for r in range(4):
                f.write("%g %g %g\n" % ((3 - r) / 3, g / 3, b / 3))
with open(t + "/bad.cube", "w") as f:
    f.write("LUT_3D_SIZE 2\n0 0 0\n1 0 0 0\n# padding: long enough for 8 entries, so line 3 is the error\n")
EOF

# ---- --help everywhere, usage errors exit 2
for c in apply convert info strip; do
  expect 0 "$c --help" "$DLUT" "$c" --help
  contains "$T/out" "usage: dlut $c" "$c --help shows usage"
  contains "$T/out" "example" "$c --help has an example"
done
expect 2 "apply without arguments" "$DLUT" apply
one_line "apply without arguments"
expect 2 "apply unknown option" "$DLUT" apply "$PHOTO" --lut "$T/id.cube" -o "$T/x.png" --bogus
expect 2 "apply --strength 2" "$DLUT" apply "$PHOTO" --lut "$T/id.cube" -o "$T/x.png" --strength 2
expect 2 "apply --interp cubic" "$DLUT" apply "$PHOTO" --lut "$T/id.cube" -o "$T/x.png" --interp cubic
expect 2 "apply unknown output extension" "$DLUT" apply "$PHOTO" --lut "$T/id.cube" -o "$T/x.xyz"
expect 2 "apply to .pgm (read, not written: a usage error like any unknown one)" "$DLUT" apply "$PHOTO" --lut "$T/id.cube" -o "$T/x.pgm"
expect 1 "looks --params with a missing file" "$DLUT" looks --params "$T/missing.json"
[ "$(grep -o "missing.json" "$T/err" | wc -l)" = 1 ] && ok "the missing file is named once" || bad "named: $(cat "$T/err")"
expect 2 "convert one argument" "$DLUT" convert "$T/id.cube"
expect 2 "convert --size 1" "$DLUT" convert "$T/id.cube" "$T/y.cube" --size 1
expect 2 "convert unknown extension" "$DLUT" convert "$T/id.cube" "$T/y.txt"
expect 2 "convert --size above what a .cube holds" "$DLUT" convert "$T/id.cube" "$T/y.cube" --size 200
contains "$T/err" "at most 129" "convert says how large a .cube may be"
[ ! -e "$T/y.cube" ] || bad "convert --size 200 wrote y.cube"
expect 2 "info without a file" "$DLUT" info
expect 2 "strip without -o" "$DLUT" strip "$T/id.cube"
absent "$T/x.png"

# ---- failures exit 1, one line naming file and line, no output
expect 1 "apply with a malformed LUT" "$DLUT" apply "$PHOTO" --lut "$T/bad.cube" -o "$T/x.png"
one_line "malformed LUT"
contains "$T/err" "dlut apply: $T/bad.cube:3: expected 3 numbers (R G B), found 4" "message names file and line"
absent "$T/x.png"
expect 1 "apply with a missing input" "$DLUT" apply "$T/missing.png" --lut "$T/id.cube" -o "$T/x.png"
absent "$T/x.png"
expect 1 "convert a malformed LUT" "$DLUT" convert "$T/bad.cube" "$T/y.3dl"
contains "$T/err" "bad.cube:3:" "convert names file and line"
absent "$T/y.3dl"
expect 1 "info on a malformed LUT" "$DLUT" info "$T/bad.cube"
expect 1 "strip of a malformed LUT" "$DLUT" strip "$T/bad.cube" -o "$T/s.png"
absent "$T/s.png"
ls "$T" | grep -q '\.tmp\.' && bad "temporary files left behind" || ok "no temporary files left"

# ---- inputs are never overwritten
cp "$PHOTO" "$T/in.png"
sum0=$(md5sum <"$T/in.png")
expect 2 "apply onto its own input" "$DLUT" apply "$T/in.png" --lut "$T/rev.cube" -o "$T/in.png"
expect 2 "apply into the input's folder" "$DLUT" apply "$T/in.png" --lut "$T/rev.cube" -o "$T/"
[ "$(md5sum <"$T/in.png")" = "$sum0" ] && ok "input unchanged" || bad "input changed"

# ---- identity LUT and strength 0 leave pixels as they are; bit depth kept
pixels() { "$PY" -c "
import sys, subprocess
fmt = sys.argv[2]
sys.stdout.buffer.write(subprocess.run(['ffmpeg', '-v', 'error', '-i', sys.argv[1], '-f', 'rawvideo', '-pix_fmt', fmt, '-'], capture_output=True, check=True).stdout)
" "$1" "$2" | md5sum; }
expect 0 "apply identity" "$DLUT" apply "$PHOTO" --lut "$T/id.cube" -o "$T/id.png"
[ "$(pixels "$T/id.png" rgb24)" = "$(pixels "$PHOTO" rgb24)" ] && ok "identity LUT keeps 8-bit pixels" || bad "identity LUT changed pixels"
expect 0 "apply strength 0" "$DLUT" apply "$PHOTO" --lut "$T/rev.cube" --strength 0 -o "$T/s0.png"
[ "$(pixels "$T/s0.png" rgb24)" = "$(pixels "$PHOTO" rgb24)" ] && ok "strength 0 keeps pixels" || bad "strength 0 changed pixels"
ffmpeg -v error -i "$PHOTO" -vf format=rgb48be -pix_fmt rgb48be "$T/in16.png"
expect 0 "apply to a 16-bit PNG" "$DLUT" apply "$T/in16.png" --lut "$T/rev.cube" -o "$T/out16.png"
pnginfo "$T/out16.png" | grep -q "16-bit/color RGB" && ok "16-bit in, 16-bit out" || bad "16-bit depth lost: $(pnginfo "$T/out16.png")"
expect 0 "apply 16-bit identity" "$DLUT" apply "$T/in16.png" --lut "$T/id.cube" -o "$T/id16.png"
[ "$(pixels "$T/id16.png" rgb48le)" = "$(pixels "$T/in16.png" rgb48le)" ] && ok "identity keeps 16-bit pixels" || bad "identity changed 16-bit pixels"
expect 0 "apply 8-bit PNG" "$DLUT" apply "$PHOTO" --lut "$T/rev.cube" -o "$T/out8.png"
pnginfo "$T/out8.png" | grep -q "8-bit/color RGB" && ok "8-bit in, 8-bit out" || bad "8-bit depth changed"

convert "$PHOTO" -depth 32 -define quantum:format=floating-point -strip "$T/f32.tif"
expect 0 "apply to a float TIFF" "$DLUT" apply "$T/f32.tif" --lut "$T/rev.cube" -o "$T/f32o.tif"
[ "$(identify -format '%z %[quantum:format]' "$T/f32o.tif")" = "32 floating-point" ] && ok "float TIFF in, float TIFF out" ||
  bad "float TIFF output is $(identify -format '%z %[quantum:format]' "$T/f32o.tif")"
expect 0 "grade a float TIFF" "$DLUT" grade "$T/f32.tif" --prompt "warm film" -o "$T/f32g"
g=$(ls "$T"/f32g/graded* 2>/dev/null | head -1)
[ -n "$g" ] && [ "$(identify -format '%z %[quantum:format]' "$g")" = "32 floating-point" ] && ok "dlut grade: float TIFF in, float TIFF out" ||
  bad "dlut grade's graded photo of a float TIFF is $([ -n "$g" ] && identify -format '%z %[quantum:format]' "$g")"

# ---- several inputs: -o is a folder, created, outputs named like inputs
cp "$SHARED/data/photos/rocket.jpg" "$T/rocket.jpg"
expect 0 "apply two inputs" "$DLUT" apply "$PHOTO" "$T/rocket.jpg" --lut "$T/rev.cube" -o "$T/graded/deeper"
[ -s "$T/graded/deeper/astronaut.png" ] && [ -s "$T/graded/deeper/rocket.jpg" ] && ok "folder created, names kept" ||
  bad "folder outputs missing: $(ls -R "$T/graded" 2>&1)"
pnginfo "$T/graded/deeper/rocket.jpg" | grep -q JPEG && ok "JPEG stays JPEG" || bad "rocket.jpg is not a JPEG"
# On a terminal (script(1) provides one) there is a progress line per file;
# into a pipe, none.
script -qec "'$DLUT' apply '$PHOTO' '$T/rocket.jpg' --lut '$T/rev.cube' -o '$T/tty'" /dev/null >"$T/tty.log" 2>&1
grep -q "\[1/2\] .*astronaut.png -> $T/tty/astronaut.png" "$T/tty.log" && grep -q "\[2/2\] " "$T/tty.log" &&
  ok "progress lines on a terminal" || bad "no progress lines on a terminal: $(head -2 "$T/tty.log")"
"$DLUT" apply "$PHOTO" "$T/rocket.jpg" --lut "$T/rev.cube" -o "$T/notty" 2>"$T/err" </dev/null
[ ! -s "$T/err" ] && ok "no progress lines into a pipe" || bad "stderr not empty without a terminal: $(head -2 "$T/err")"
# -q is --quiet, as in every dlut command; '-q N' with a number is still the quality
script -qec "'$DLUT' apply -q '$PHOTO' '$T/rocket.jpg' --lut '$T/rev.cube' -o '$T/ttyq'" /dev/null >"$T/tty.log" 2>&1
[ -s "$T/ttyq/rocket.jpg" ] && ! grep -q "\[1/2\]" "$T/tty.log" && ok "-q: quiet on a terminal" ||
  bad "-q: $(head -2 "$T/tty.log")"
expect 0 "-q 20 is the JPEG quality" "$DLUT" apply "$T/rocket.jpg" -q 20 --lut "$T/rev.cube" -o "$T/q20.jpg"
[ "$(stat -c %s "$T/q20.jpg")" -lt "$(stat -c %s "$T/ttyq/rocket.jpg")" ] && ok "-q 20 writes a smaller JPEG than 95" ||
  bad "-q 20: $(stat -c %s "$T/q20.jpg") bytes vs $(stat -c %s "$T/ttyq/rocket.jpg")"
expect 2 "two inputs with the same name" "$DLUT" apply "$PHOTO" "$T/in.png" "$T/in.png" --lut "$T/id.cube" -o "$T/dup"
absent "$T/dup"

# ---- convert and info
expect 0 "convert .cube -> .3dl" "$DLUT" convert "$T/id.cube" "$T/id.3dl"
expect 0 "convert .3dl -> .cube" "$DLUT" convert "$T/id.3dl" "$T/id2.cube"
expect 0 "info --json of the round trip" "$DLUT" info --json "$T/id2.cube"
"$PY" - "$T/out" <<'EOF' && ok "info: identity round trip through .3dl is identity-close, monotone, size 17" || bad "info json: $(cat "$T/out")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["kind"] == "3D" and j["size"] == 17 and j["format"] == "cube", j
assert j["monotone"] is True and j["identity_close"] is True, j
assert j["identity_max_deviation"] <= 0.5 / 4095 + 1e-6, j
EOF
expect 0 "info of the reversing LUT" "$DLUT" info "$T/rev.cube"
contains "$T/out" "monotone:  no (red decreases along red" "info says a reversed channel is not monotone"
contains "$T/out" "identity:  no" "info says it is not the identity"
expect 0 "info of the identity" "$DLUT" info "$T/id.cube"
contains "$T/out" "title:     identity" "info shows the TITLE"
contains "$T/out" "identity:  close" "info says identity-close"
expect 0 "convert .cube -> Hald level 2" "$DLUT" convert "$T/rev4.cube" "$T/rev.png" --hald-level 2 --bits 8
pnginfo "$T/rev.png" | grep -q "8 x 8, 8-bit/color RGB" && ok "Hald level 2 is 8x8 8-bit" || bad "Hald: $(pnginfo "$T/rev.png")"
expect 0 "info of the Hald" "$DLUT" info --json "$T/rev.png"
"$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['size']==4 and j['format']=='hald' and not j['monotone'], j" "$T/out" 2>/dev/null &&
  ok "Hald reads back as a 4^3 LUT" || bad "Hald info: $(cat "$T/out")"
# A Hald is data: an embedded ICC profile (here Adobe RGB 1998, assigned
# without converting pixels) must not change the table that is read.
ICC=/usr/share/color/icc/ghostscript/a98.icc
if [ -r "$ICC" ]; then
  expect 0 "convert to a 16-bit Hald" "$DLUT" convert "$T/id.cube" "$T/h.png" --hald-level 4
  convert "$T/h.png" -profile "$ICC" "$T/h98.png"
  identify -verbose "$T/h98.png" | grep -q "icc:description: .*A98" && ok "profile embedded" || bad "ImageMagick did not embed the profile"
  expect 0 "info of the Hald" "$DLUT" info --json "$T/h.png"; cp "$T/out" "$T/i1"
  expect 0 "info of the ICC-tagged Hald" "$DLUT" info --json "$T/h98.png"
  "$PY" -c "
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ('value_min', 'value_max', 'identity_max_deviation', 'size'):
    assert a[k] == b[k], (k, a[k], b[k])
assert b['identity_close'], b
" "$T/i1" "$T/out" 2>"$T/err" && ok "ICC profile ignored: same table" || bad "ICC-tagged Hald read differently: $(tail -1 "$T/err")"
else
  bad "no ICC profile at $ICC for the Hald test (install ghostscript's icc files)"
fi
# A Hald CLUT saved as TIFF (16-bit and float, as ImageMagick writes hald:4) reads as the same table as
# the PNG, and convert writes one that ImageMagick reads
convert hald:4 -depth 16 "$T/hald4.png"
convert hald:4 -depth 16 "$T/hald4.tif"
convert hald:4 -depth 32 -define quantum:format=floating-point "$T/hald4f.tif" 2>/dev/null
expect 0 "convert a 16-bit Hald TIFF" "$DLUT" convert "$T/hald4.tif" "$T/h4t.cube"
expect 0 "convert a float Hald TIFF" "$DLUT" convert "$T/hald4f.tif" "$T/h4f.cube"
expect 0 "convert the Hald PNG" "$DLUT" convert "$T/hald4.png" "$T/h4p.cube"
expect 0 "convert .cube -> Hald TIFF" "$DLUT" convert "$T/h4p.cube" "$T/h4o.tif"
"$PY" - "$T" <<'PYEOF' && ok "Hald TIFF (16-bit, float) reads as the PNG's table; ours is a 64x64 16-bit TIFF" || bad "Hald TIFF: $(tail -1 "$T/err")"
import sys, subprocess
t = sys.argv[1]
def table(p):
    return [list(map(float, l.split())) for l in open(p) if l[:1].isdigit() or l[:1] == "-"]
a, b, c = table(t + "/h4p.cube"), table(t + "/h4t.cube"), table(t + "/h4f.cube")
assert len(a) == 4096 and len(b) == 4096 and len(c) == 4096, (len(a), len(b), len(c))
d = max(abs(x - y) for p, q in zip(a, b) for x, y in zip(p, q))
e = max(abs(x - y) for p, q in zip(a, c) for x, y in zip(p, q))
assert d < 1e-6 and e < 1e-4, (d, e)
info = subprocess.run(["identify", "-format", "%m %w %h %z", t + "/h4o.tif"], capture_output=True, text=True).stdout
assert info == "TIFF 64 64 16", info
PYEOF
expect 0 "convert --size 9" "$DLUT" convert "$T/id.cube" "$T/id9.cube" --size 9
expect 0 "info of the resized" "$DLUT" info --json "$T/id9.cube"
"$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['size']==9 and j['identity_close'], j" "$T/out" 2>/dev/null &&
  ok "resampled identity is size 9 and identity" || bad "resize: $(cat "$T/out")"

# ---- strip
expect 0 "strip" "$DLUT" strip "$T/id.cube" -o "$T/strip.png" --scale 2
pnginfo "$T/strip.png" | grep -q "578 x 34, 8-bit/color RGB" && ok "strip of 17^3 at scale 2 is 578x34" || bad "strip: $(pnginfo "$T/strip.png")"

echo "$fails failed"
[ "$fails" = 0 ]
