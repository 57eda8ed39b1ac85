#!/usr/bin/env bash
# The promises every command keeps under hostile use (issue 9): no command
# writes over one of its inputs, whatever the path spelling; signals leave no
# temporary file or staging folder behind; a failed grade leaves the earlier
# set as it was; long output names work; a device is refused from its first
# bytes; a PNG with EXIF carries one eXIf chunk; a replaced file keeps its
# mode. Prints one line per check, exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
DLUT=${DLUT:-$PWD/build/dlut}
SHARED=${DLUT_SHARED:-../shared}
PY=${PY:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
sum() { md5sum "$1" | cut -d' ' -f1; }

P="$SHARED/data/photos/chelsea.png"
cp "$P" "$T/before.png"
"$DLUT" looks "warm film" -o "$T/warm.cube" >/dev/null
"$DLUT" apply "$T/before.png" --lut "$T/warm.cube" -o "$T/after.png" 2>/dev/null
"$DLUT" convert "$T/warm.cube" "$T/warm.png" 2>/dev/null

# ---- no command writes over one of its inputs ----
ln -sf "$T/after.png" "$T/link.png"
ln -f "$T/after.png" "$T/hard.png"
a0=$(sum "$T/after.png")
for o in "$T/after.png" "$T/./after.png" "$T/link.png" "$T/hard.png"; do
  "$DLUT" fit "$T/before.png" "$T/after.png" -o "$o" 2>"$T/err"; rc=$?
  [ $rc -eq 2 ] && [ "$(sum "$T/after.png")" = "$a0" ] && grep -q "overwrite" "$T/err" \
    && ok "fit -o $(basename "$o") (its AFTER input) refused" || bad "fit -o $o: rc $rc $(cat "$T/err")"
done
h0=$(sum "$T/warm.png")
"$DLUT" apply "$T/before.png" --lut "$T/warm.png" -o "$T/warm.png" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ "$(sum "$T/warm.png")" = "$h0" ] && ok "apply -o its own Hald LUT refused" || bad "apply over its LUT: rc $rc"
"$DLUT" convert "$T/warm.cube" "$T/./warm.cube" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && ok "convert onto its input refused" || bad "convert onto its input: rc $rc"
mkdir -p "$T/g"
"$DLUT" grade "$T/before.png" "warm" -o "$T/g" -q 2>/dev/null
g0=$(sum "$T/g/graded.png")
"$DLUT" grade "$T/g/graded.png" "cold" -o "$T/g" -q 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ "$(sum "$T/g/graded.png")" = "$g0" ] && ok "grade DIR/graded.png -o DIR refused, nothing changed" \
  || bad "grade over its photo: rc $rc"
"$DLUT" grade "$T/before.png" --ref "$T/g/graded.png" -o "$T/g" -q 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ "$(sum "$T/g/graded.png")" = "$g0" ] && ok "grade --ref DIR/graded.png -o DIR refused" \
  || bad "grade over its reference: rc $rc"
cp "$T/g/look.cube" "$T/look-before.cube"
"$DLUT" grade "$T/before.png" "warm" -o "$T/g" -q 2>/dev/null
cmp -s "$T/g/look.cube" "$T/look-before.cube" && ok "the same grade again gives the same set" || bad "re-run changed look.cube"

# ---- signals leave nothing behind ----
"$PY" - "$T/big.ppm" <<'EOF'
import sys
w = h = 4096
with open(sys.argv[1], "wb") as f:
    f.write(b"P6\n%d %d\n65535\n" % (w, h))
    row = bytes((x * 7) & 255 for x in range(w * 6))
    for y in range(h):
        f.write(row)
EOF
left=0
for i in 1 2 3 4 5 6 7 8; do
  for sig in TERM INT; do
    "$DLUT" apply "$T/big.ppm" --lut "$T/warm.cube" -o "$T/sig/out$i.tif" >/dev/null 2>&1 &
    mkdir -p "$T/sig"
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill -$sig $pid 2>/dev/null
    wait $pid 2>/dev/null
  done
done
left=$(find "$T/sig" -name '*.tmp.*' | wc -l)
[ "$left" -eq 0 ] && ok "SIGTERM/SIGINT during 16 encodes of a 4096² image leave no temporary file" \
  || bad "$left temporary files left by signals"
# a grade killed while it writes its set: no staging folder, the earlier set untouched
mkdir -p "$T/gs"
"$DLUT" grade "$T/big.ppm" "warm" -o "$T/gs" -q 2>/dev/null
s0=$(sum "$T/gs/report.json")
for d in 0.1 0.2 0.3 0.5 0.7; do
  "$DLUT" grade "$T/big.ppm" "cold teal night" -o "$T/gs" -q >/dev/null 2>&1 &
  pid=$!
  sleep $d
  kill -TERM $pid 2>/dev/null
  wait $pid 2>/dev/null
done
junk=$(find "$T" -maxdepth 2 -name '.dlut-stage.*' -o -maxdepth 2 -name 'gs.tmp.*' -o -maxdepth 2 -name '*.tmp.*' | wc -l)
n=$(ls "$T/gs" | wc -l)
# whichever set is there (the earlier one, or a new one that finished) is whole: its look.cube is the
# look of the prompt its report names
prompt=$("$PY" -c "import json; print(json.load(open('$T/gs/report.json'))['prompt'])")
"$DLUT" looks "$prompt" -o "$T/expect.cube" >/dev/null 2>&1
if [ "$junk" -eq 0 ] && [ "$n" -eq 4 ] && cmp -s <(grep -v TITLE "$T/expect.cube") <(grep -v TITLE "$T/gs/look.cube"); then
  ok "grades killed while writing leave a whole set ('$prompt') and no staging folder"
else
  bad "after killed grades: $junk staging/temporary entries, $n files ($(ls -A "$T/gs" | tr '\n' ' ')), set for '$prompt'"
fi

# ---- long output names ----
long=$(printf 'n%.0s' $(seq 250)).png
"$DLUT" apply "$T/before.png" --lut "$T/warm.cube" -o "$T/$long" 2>"$T/err" && [ -s "$T/$long" ] \
  && ok "an output name of 254 bytes works" || bad "long output name: $(cat "$T/err")"

# ---- a device is refused from its first bytes ----
start=$(date +%s%N)
"$DLUT" apply /dev/zero --lut "$T/warm.cube" -o "$T/z.png" 2>"$T/err"; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc -ne 0 ] && [ $ms -lt 2000 ] && [ "$(wc -l < "$T/err")" -eq 1 ] && ok "apply /dev/zero refused in $ms ms: $(cat "$T/err")" \
  || bad "apply /dev/zero: rc $rc after $ms ms"

# ---- one eXIf chunk in a PNG written from an input with EXIF ----
"$PY" - "$P" "$T/exif.png" <<'EOF'
import struct, sys, zlib
src, dst = sys.argv[1:]
d = open(src, "rb").read()
exif = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00"
chunk = struct.pack(">I", len(exif)) + b"eXIf" + exif + struct.pack(">I", zlib.crc32(b"eXIf" + exif) & 0xffffffff)
i = 8 + 8 + 13 + 4  # after IHDR
open(dst, "wb").write(d[:i] + chunk + d[i:])
EOF
"$DLUT" apply "$T/exif.png" --lut "$T/warm.cube" -o "$T/exif-out.png" 2>/dev/null
n=$("$PY" - "$T/exif-out.png" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
i, n = 8, 0
while i < len(d):
    ln, = struct.unpack(">I", d[i:i + 4])
    n += d[i + 4:i + 8] == b"eXIf"
    i += 12 + ln
print(n)
EOF
)
[ "$n" = "1" ] && ok "a PNG written from an input with EXIF has one eXIf chunk" || bad "$n eXIf chunks"

# ---- a replaced file keeps its mode ----
chmod 640 "$T/after.png"
"$DLUT" apply "$T/before.png" --lut "$T/warm.cube" -o "$T/after.png" 2>/dev/null
m=$(stat -c %a "$T/after.png")
[ "$m" = "640" ] && ok "a replaced output keeps its mode (640)" || bad "mode became $m"

# ---- .3dl files whose bit depth no reader can mistake ----
"$PY" - "$T" <<'EOF'
import sys
d = sys.argv[1]
for name, k in (("dark", 0.4), ("black", 0.1)):
    n = 9
    with open("%s/%s.cube" % (d, name), "w") as f:
        f.write("LUT_3D_SIZE %d\n" % n)
        for b in range(n):
            for g in range(n):
                for r in range(n):
                    f.write("%.6f %.6f %.6f\n" % (k * r / (n - 1), k * g / (n - 1), k * b / (n - 1)))
EOF
"$DLUT" convert "$T/dark.cube" "$T/dark.3dl" 2>"$T/err" && "$PY" - "$T/dark.cube" "$T/dark.3dl" <<'EOF' \
  && ok ".3dl of a LUT whose outputs stay below 0.5 reads back right in OpenColorIO" || bad ".3dl of a dark LUT: $(cat "$T/err")"
import sys
import numpy as np
import PyOpenColorIO as OCIO
cfg = OCIO.Config.CreateRaw()
px = np.random.default_rng(1).random((4096, 3)).astype(np.float32)
out = []
for p in sys.argv[1:]:
    proc = cfg.getProcessor(OCIO.FileTransform(src=p, interpolation=OCIO.INTERP_TETRAHEDRAL)).getDefaultCPUProcessor()
    a = px.copy()
    proc.applyRGB(a)
    out.append(a)
err = float(np.abs(out[0] - out[1]).max())
print("  .cube vs .3dl through OCIO: max %.2e" % err)
sys.exit(0 if err < 1.0 / 4095 else 1)
EOF
"$DLUT" convert "$T/dark.cube" "$T/dark12.3dl" --bits 12 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "misread" "$T/err" && [ ! -e "$T/dark12.3dl" ] && ok "a 12-bit .3dl that readers would misread is refused" \
  || bad "12-bit dark .3dl: rc $rc"
"$DLUT" convert "$T/black.cube" "$T/black.3dl" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "cube instead" "$T/err" && ok "a LUT below 0.125 everywhere is refused as .3dl: $(cat "$T/err")" \
  || bad "near-black .3dl: rc $rc"

# ---- a Resolve shaper + 3D .cube with a title loads in OpenColorIO ----
printf 'LUT_1D_SIZE 3\nLUT_3D_SIZE 2\n0 0 0\n0.6 0.6 0.6\n1 1 1\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n' > "$T/res.cube"
"$DLUT" convert "$T/res.cube" "$T/res-titled.cube" --title "my look" 2>"$T/err"
"$PY" -c "
import sys, PyOpenColorIO as O
p = O.Config.CreateRaw().getProcessor(O.FileTransform(src='$T/res-titled.cube')).getDefaultCPUProcessor()
v = p.applyRGB([0.5, 0.5, 0.5])
sys.exit(0 if abs(v[0] - 0.6) < 1e-4 else 1)" 2>"$T/err2" && grep -q "my look" "$T/res-titled.cube" \
  && ok "a shaper + 3D .cube written with a title loads in OpenColorIO" || bad "titled Resolve .cube: $(tail -2 "$T/err2")"

# ---- errors that name the real cause ----
cp "$T/warm.png" "$T/hald-named.cube"
"$DLUT" apply "$T/before.png" --lut "$T/hald-named.cube" -o "$T/hn.png" 2>"$T/err" && ok "a Hald PNG named .cube is read by its content" \
  || bad "Hald named .cube: $(cat "$T/err")"
printf 'LUT_3D_SIZE 2\n0 0 0\n' | iconv -t UTF-16 > "$T/u16.cube"
"$DLUT" info "$T/u16.cube" 2>"$T/err"; grep -q "UTF-16" "$T/err" && ok "a UTF-16 .cube says so" || bad "UTF-16: $(cat "$T/err")"
"$DLUT" info "$T" 2>"$T/err"; grep -q "folder" "$T/err" && ok "a folder given as a LUT says so" || bad "folder: $(cat "$T/err")"
printf 'LUT_3D_SIZE 2 # two points\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n' > "$T/cmt.cube"
"$DLUT" info "$T/cmt.cube" >/dev/null 2>"$T/err" && ok "a comment after LUT_3D_SIZE is a comment" || bad "keyword comment: $(cat "$T/err")"
"$DLUT" looks $'\xff' 2>"$T/err"; ! grep -q "looks: looks" "$T/err" && ok "no doubled prefix: $(cat "$T/err")" || bad "$(cat "$T/err")"
DLUT_THREADS=lots "$DLUT" looks warm >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q DLUT_THREADS "$T/err" && ok "a garbage DLUT_THREADS is refused" || bad "DLUT_THREADS=lots: rc $rc"

# ---- decided on purpose ----
printf 'LUT_3D_SIZE 2\nLUT_1D_INPUT_RANGE 0 2\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n' > "$T/r1d.cube"
"$DLUT" info "$T/r1d.cube" 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q ":2: LUT_1D_INPUT_RANGE given, but the file has no LUT_1D_SIZE" "$T/err" \
  && ok "LUT_1D_INPUT_RANGE in a 3D-only .cube is refused at its line" || bad "1D range in a 3D cube: $(cat "$T/err")"
printf 'P6\n2 1\n100\n\x00\x00\x00\xff\xff\xff' > "$T/over.ppm"   # samples above maxval: clamped (documented)
"$DLUT" apply "$T/over.ppm" --lut "$T/warm.cube" --strength 0 -o "$T/over-out.ppm" 2>/dev/null \
  && [ "$(tail -c 3 "$T/over-out.ppm" | od -An -tu1 | tr -s ' ')" = " 255 255 255" ] \
  && ok "PPM samples above maxval are clamped to white (as documented)" || bad "PPM above maxval"
"$DLUT" info "$T/a"$'\x1b'"[31mred.cube" 2>"$T/err"; ! grep -q $'\x1b' "$T/err" && ok "control characters in paths are not echoed raw" \
  || bad "raw escape echoed"

# ---- a model truncated while a grade runs: one clear line, no crash report ----
mkdir -p "$T/model"
for f in config.json merges.txt model.safetensors preprocessor_config.json special_tokens_map.json tokenizer_config.json vocab.json; do
  cp "$SHARED/data/clip-ref/openai_tiny/$f" "$T/model/"
done
"$DLUT" grade "$T/before.png" "warm" --model "$T/model" --steps 1000000 --size 9 --samples 256 -q -o "$T/trunc" 2>"$T/err" &
pid=$!
sleep 1.5
truncate -s 4096 "$T/model/model.safetensors"
wait $pid; rc=$?
[ $rc -eq 1 ] && grep -q "truncated or changed" "$T/err" && [ "$(wc -l < "$T/err")" -le 2 ] && [ ! -e "$T/trunc" ] \
  && ok "a model truncated mid-grade gives one clear line (rc 1): $(tail -1 "$T/err")" || bad "truncated model: rc $rc: $(cat "$T/err")"

# ---- folding a shaper into a plain table: within 1 code at 8 bits through OpenColorIO, or a note ----
"$PY" - "$T/shaper5.cube" <<'EOF'
import sys
n1, n3 = 256, 5
with open(sys.argv[1], "w") as f:
    f.write("LUT_1D_SIZE %d\nLUT_3D_SIZE %d\nLUT_1D_INPUT_RANGE 0 1\nLUT_3D_INPUT_RANGE 0 1\n" % (n1, n3))
    for i in range(n1):
        x = i / (n1 - 1)
        v = 0.5 * (x + 3 * x * x - 2 * x ** 3)  # a smooth S-curve
        f.write("%.6f %.6f %.6f\n" % (v, v, v))
    for b in range(n3):
        for g in range(n3):
            for r in range(n3):
                x, y, z = r / (n3 - 1), g / (n3 - 1), b / (n3 - 1)
                f.write("%.6f %.6f %.6f\n" % (x * x, 0.5 * y + 0.5 * y * y, z ** 3))
EOF
for ext in 3dl png; do
  "$DLUT" convert "$T/shaper5.cube" "$T/fold.$ext" 2>"$T/err"
  "$PY" - "$T/shaper5.cube" "$T/fold.$ext" "$SHARED/data/photos/coffee.png" <<'EOF' && [ ! -s "$T/err" ] \
    && ok "shaper + 5^3 .cube folded into .$ext reads within 1 code (OCIO; FFmpeg haldclut, which truncates, within 2), without a note" \
    || bad "folded .$ext: $(cat "$T/err")"
import subprocess, sys
import numpy as np
import PyOpenColorIO as OCIO
cube, folded, photo = sys.argv[1:]
raw = subprocess.run(["ffmpeg", "-v", "error", "-i", photo, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
px = (np.frombuffer(raw, np.uint8).reshape(-1, 3) / 255.0).astype(np.float32)
cfg = OCIO.Config.CreateRaw()
def ocio(p):
    a = px.copy()
    cfg.getProcessor(OCIO.FileTransform(src=p, interpolation=OCIO.INTERP_TETRAHEDRAL)).getDefaultCPUProcessor().applyRGB(a)
    return np.round(np.clip(a, 0, 1) * 255)
want = ocio(cube)
if folded.endswith(".3dl"):
    got = ocio(folded)
else:  # Hald: FFmpeg's haldclut
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", photo, "-i", folded, "-filter_complex", "[0][1]haldclut",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    got = np.frombuffer(out, np.uint8).reshape(-1, 3).astype(float)
d = np.abs(got - want).max()
print("  max %d codes" % d)
# FFmpeg's haldclut truncates where OCIO rounds: one more code for the Hald path
sys.exit(0 if d <= (1 if folded.endswith(".3dl") else 2) else 1)
EOF
done

# a shaper as steep as x^0.45 near black cannot be held by a 65-point .3dl: said in a note
"$PY" -c "
n1, n3 = 256, 2
f = open('$T/steep.cube', 'w')
f.write('LUT_1D_SIZE %d\\nLUT_3D_SIZE %d\\n' % (n1, n3))
for i in range(n1):
    v = (i / (n1 - 1)) ** 0.45
    f.write('%.6f %.6f %.6f\\n' % (v, v, v))
for b in range(n3):
    for g in range(n3):
        for r in range(n3):
            f.write('%d %d %d\\n' % (r, g, b))
"
"$DLUT" convert "$T/steep.cube" "$T/steep.3dl" 2>"$T/err" && grep -q "8-bit codes off" "$T/err" \
  && ok "when a .3dl cannot reach 1 code it says so: $(cat "$T/err")" || bad "steep shaper .3dl: $(cat "$T/err")"

# ---- JSON outputs stay valid JSON ----
printf 'TITLE "bad \xff\xfe title"\nLUT_3D_SIZE 2\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n' > "$T/badt.cube"
"$DLUT" info "$T/badt.cube" --json | "$PY" -c "import sys, json; json.loads(sys.stdin.buffer.read().decode('utf-8'))" 2>/dev/null \
  && ok "info --json with a title that is not UTF-8 is valid UTF-8 JSON" || bad "info --json: invalid JSON"

# ---- a model that says it is something else is refused, not read by its architectures ----
mkdir -p "$T/llama"
cp "$SHARED/data/clip-ref/openai_tiny/"*.json "$SHARED/data/clip-ref/openai_tiny/merges.txt" "$SHARED/data/clip-ref/openai_tiny/model.safetensors" "$T/llama/"
"$PY" -c "import json; p='$T/llama/config.json'; c=json.load(open(p)); c['model_type']='llama'; json.dump(c, open(p, 'w'))"
"$DLUT" embed --model "$T/llama" --text hi >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'model_type "llama"' "$T/err" && ok "model_type llama is refused: $(cat "$T/err")" || bad "llama: rc $rc $(cat "$T/err")"

# ---- a hostile 2 MB pickle is refused with memory bounded by the caps ----
mkdir -p "$T/pk"
cp "$SHARED/data/clip-ref/openai_tiny/"*.json "$SHARED/data/clip-ref/openai_tiny/merges.txt" "$T/pk/"
"$PY" - "$T/pk/pytorch_model.bin" <<'EOF'
import sys, zipfile
data = b"\x80\x02" + b"K\x01" * 1000000 + b"."   # a million small objects on the stack, 2 MB
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", data)
    z.writestr("archive/version", "3\n")
EOF
/usr/bin/time -f "%M" -o "$T/rss" "$DLUT" embed --model "$T/pk" --text hi >/dev/null 2>"$T/err"; rc=$?
rss=$(tail -1 "$T/rss")
[ $rc -eq 1 ] && [ "$rss" -lt 300000 ] && ok "a 2 MB hostile pickle is refused using $((rss / 1024)) MB: $(head -1 "$T/err" | cut -c1-120)" \
  || bad "hostile pickle: rc $rc, $rss kB: $(head -2 "$T/err")"

# ---- a TIFF that declares 16 tiles and stores 1 is refused ----
"$PY" - "$T/tiles.tif" "$T/tiles-ok.tif" <<'EOF'
import struct, sys
def tiff(path, stored):
    w = h = 64; tw = th = 16; n = (w // tw) * (h // th); tile = bytes([200, 100, 50]) * (tw * th)
    entries = []
    def e(tag, typ, count, value): entries.append((tag, typ, count, value))
    data_off = 8
    n_e = 11
    ifd_size = 2 + n_e * 12 + 4
    arrays_off = data_off + ifd_size
    offs_off, cnts_off, bps_off = arrays_off, arrays_off + 4 * n, arrays_off + 8 * n
    tiles_off = bps_off + 8
    offsets = [tiles_off + i * len(tile) if i < stored else 0 for i in range(n)]
    counts = [len(tile) if i < stored else 0 for i in range(n)]
    e(256, 3, 1, w); e(257, 3, 1, h); e(258, 3, 3, bps_off); e(259, 3, 1, 1); e(262, 3, 1, 2)
    e(277, 3, 1, 3); e(284, 3, 1, 1); e(322, 3, 1, tw); e(323, 3, 1, th); e(324, 4, n, offs_off); e(325, 4, n, cnts_off)
    out = bytearray(b"II*\x00" + struct.pack("<I", data_off))
    out += struct.pack("<H", n_e)
    for tag, typ, count, value in entries:
        out += struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", value, 0) if typ == 3 and count == 1 else struct.pack("<I", value))
    out += struct.pack("<I", 0)
    out += b"".join(struct.pack("<I", o) for o in offsets) + b"".join(struct.pack("<I", c) for c in counts)
    out += struct.pack("<HHHH", 8, 8, 8, 0)
    out += tile * stored
    open(path, "wb").write(out)
tiff(sys.argv[1], 1)
tiff(sys.argv[2], 16)
EOF
"$DLUT" apply "$T/tiles-ok.tif" --lut "$T/warm.cube" -o "$T/tiles-ok-out.png" 2>"$T/err0"; rc0=$?
"$DLUT" apply "$T/tiles.tif" --lut "$T/warm.cube" -o "$T/tiles-out.png" 2>"$T/err"; rc=$?
[ $rc0 -eq 0 ] && [ $rc -eq 1 ] && grep -q "declares 16 tiles" "$T/err" && ok "a TIFF that stores 1 of its 16 tiles is refused (the whole one loads): $(cat "$T/err")" \
  || bad "tiles: rc $rc0/$rc $(cat "$T/err0" "$T/err")"

# ---- a JPEG missing only its end marker: decided by its kind ----
convert "$P" "$T/base.jpg" && convert "$P" -interlace JPEG "$T/prog.jpg"
head -c -2 "$T/base.jpg" > "$T/base-noeoi.jpg"; head -c -2 "$T/prog.jpg" > "$T/prog-noeoi.jpg"
"$DLUT" apply "$T/base-noeoi.jpg" --lut "$T/warm.cube" -o "$T/b.png" 2>/dev/null; rb=$?
"$DLUT" apply "$T/prog-noeoi.jpg" --lut "$T/warm.cube" -o "$T/p.png" 2>"$T/err"; rp=$?
[ $rb -eq 0 ] && [ $rp -eq 1 ] && grep -q "cut between scans" "$T/err" \
  && ok "a baseline JPEG missing only its EOI loads (every pixel is there); a progressive one is refused, saying why" \
  || bad "JPEG without EOI: baseline rc $rb, progressive rc $rp $(cat "$T/err")"

# ---- libpng and libtiff failures: one line that names the file, in our words ----
"$PY" -c "
d = bytearray(open('$P', 'rb').read()); i = d.find(b'IDAT'); d[i + 40] ^= 0xff; open('$T/crc.png', 'wb').write(d)"
convert "$P" "$T/c.tif" && head -c 20000 "$T/c.tif" > "$T/ctrunc.tif"
for f in crc.png ctrunc.tif; do
  "$DLUT" apply "$T/$f" --lut "$T/warm.cube" -o "$T/o-$f.png" 2>"$T/err"; rc=$?
  [ $rc -eq 1 ] && [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q "$f: damaged" "$T/err" && ok "$(cat "$T/err")" || bad "$f: rc $rc $(cat "$T/err")"
done

# ---- a full disk (a file-size limit here) is named as such in every format ----
for e in png jpg tif webp ppm; do
  ( ulimit -f 30; trap '' XFSZ; "$DLUT" apply "$SHARED/data/photos/astronaut.png" --lut "$T/warm.cube" -o "$T/full.$e" 2>"$T/err" ); rc=$?
  [ $rc -eq 1 ] && grep -q "cannot write: File too large" "$T/err" && [ ! -e "$T/full.$e" ] \
    && ok ".$e on a full disk: $(cut -d: -f3- "$T/err")" || bad ".$e on a full disk: rc $rc $(cat "$T/err")"
done

# ---- an option given twice is refused, in every command ----
for cmd in "apply $P --lut $T/warm.cube --lut $T/warm.cube -o $T/d.png" "convert $T/warm.cube $T/d.cube --size 9 --size 17" \
           "fit $P $P -o $T/f.cube -o $T/g.cube" "looks warm -o $T/l1.cube -o $T/l2.cube"; do
  "$DLUT" $cmd >/dev/null 2>"$T/err"; rc=$?
  [ $rc -eq 2 ] && grep -q "given twice" "$T/err" && ok "dlut ${cmd%% *}: $(cut -d: -f2- "$T/err" | cut -c1-60)" || bad "duplicate option in '$cmd': rc $rc"
done
# ---- an error names the option as it was typed (an alias, not the table's name) ----
"$DLUT" grade "$P" --prompt warm -o "$T/gs" --size 1 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "^dlut grade: --size must be an integer" "$T/err" && ok "$(cat "$T/err")" || bad "--size 1: rc $rc $(cat "$T/err")"
"$DLUT" fit "$P" "$SHARED/data/photos/coffee.png" -o "$T/f.cube" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && ! grep -q "fit: fit:" "$T/err" && grep -q "differ in size" "$T/err" && ok "$(cat "$T/err" | cut -c1-80)" \
  || bad "fit of two sizes: rc $rc $(cat "$T/err")"
"$DLUT" embed --model "$SHARED/data/clip-ref/openai_tiny" --text a --text b >/dev/null 2>&1 && ok "embed's --text may repeat" || bad "embed --text twice refused"

echo "$fails failures"
[ $fails -eq 0 ]
