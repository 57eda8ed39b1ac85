#!/usr/bin/env bash
# DLUT's page in a real browser: Debian's Chromium driven by playwright-core
# (tests/browser/page.test.js) against a `dlut serve` started here on a free
# port. The .cube downloaded through the page must load in FFmpeg (and give
# the graded photo the page downloaded) and in OpenColorIO. Screenshots of
# the finished page (desktop, Chinese, phone) are kept in
# $BUILD/test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DLUT=${DLUT:-$PWD/$BUILD/dlut}
SHARED=${DLUT_SHARED:-../shared}
PY=${PY:-/usr/bin/python3}
ART=$PWD/$BUILD/test-artifacts
mkdir -p "$ART"
[ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium is missing (apt-get install chromium)"; exit 1; }
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund >/dev/null)
fi
tmp=$(mktemp -d)
cleanup() { kill ${pid:-} ${pid2:-} ${pid3:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$DLUT" serve --port 0 --data "$tmp/data" --model none --ready-file "$tmp/ready" -q 2>"$tmp/log" &
pid=$!
for _ in $(seq 200); do [ -s "$tmp/ready" ] && break; sleep 0.05; done
url=$(cat "$tmp/ready")
# a second server with a tiny random-weight CLIP model, for a CLIP job through the page
"$DLUT" serve --port 0 --data "$tmp/data2" --model "$SHARED/data/clip-ref/openai_tiny" --ready-file "$tmp/ready2" -q 2>"$tmp/log2" &
pid2=$!
for _ in $(seq 200); do [ -s "$tmp/ready2" ] && break; sleep 0.05; done
url2=$(cat "$tmp/ready2")
# a third with --token: the page opens, says how to give the token, and works once given it as #token=
"$DLUT" serve --port 0 --data "$tmp/data3" --model none --token s3cret --ready-file "$tmp/ready3" -q 2>"$tmp/log3" &
pid3=$!
for _ in $(seq 200); do [ -s "$tmp/ready3" ] && break; sleep 0.05; done
url3=$(cat "$tmp/ready3")
printf 'this is not an image\n' > "$tmp/notes.jpg"
photo="$SHARED/data/photos/chelsea.png"
# a matte of the photo's shape (white = the right half), and a set of three photos
"$PY" -c "
from PIL import Image; import sys
w, h = Image.open(sys.argv[1]).size
m = Image.new('L', (w, h), 0); m.paste(255, (w // 2, 0, w, h)); m.save(sys.argv[2])" "$photo" "$tmp/right-half.png"
P=$SHARED/data/photos
# photo 2 of the set has a Chinese name: its download keeps it (Content-Disposition filename*=UTF-8'')
cp "$P/rocket.jpg" "$tmp/火箭.jpg"
DLUT_MASK="$tmp/right-half.png" DLUT_SET="$P/coffee.png,$tmp/火箭.jpg,$P/astronaut.png" DLUT_TOKEN_URL="$url3" DLUT_TOKEN=s3cret \
  node tests/browser/page.test.js "$url" "$ART" "$photo" "$tmp/notes.jpg" "$url2"
# the downloaded .cube in FFmpeg gives the graded photo the page downloaded (within 1 code) ...
"$PY" - "$ART/page-look.cube" "$photo" "$ART/page-graded.png" <<'PYEOF'
import subprocess, sys
import numpy as np
import PyOpenColorIO as OCIO
cube, src, graded = sys.argv[1:]
def raw(*a):
    return np.frombuffer(subprocess.run(["ffmpeg", "-v", "error", *a, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                                        capture_output=True, check=True).stdout, np.uint8).astype(int)
ff = raw("-i", src, "-vf", "lut3d=file=%s:interp=tetrahedral" % cube)
ours = raw("-i", graded)
d = int(np.abs(ff - ours).max())
print(("ok" if d <= 1 else "FAIL") + ": FFmpeg lut3d with the page's .cube matches the page's graded photo (max %d)" % d)
# ... and OpenColorIO loads it
cfg = OCIO.Config.CreateRaw()
p = cfg.getProcessor(OCIO.FileTransform(src=cube, interpolation=OCIO.INTERP_TETRAHEDRAL)).getDefaultCPUProcessor()
px = np.array([0.2, 0.5, 0.8], np.float32)
p.applyRGB(px)
ok_ocio = bool(np.all((px >= 0) & (px <= 1)) and np.abs(px - [0.2, 0.5, 0.8]).max() > 0.01)
print(("ok" if ok_ocio else "FAIL") + ": OpenColorIO loads the page's .cube and grades with it (0.2,0.5,0.8 -> %s)" % px.round(4))
sys.exit(0 if d <= 1 and ok_ocio else 1)
PYEOF
echo "screenshots: $ART/page-done.png page-zh.png page-phone.png page-region.png page-set.png page-set-zh.png page-phone-controls.png page-phone-set.png page-clip-running.png page-clip-done.png"
