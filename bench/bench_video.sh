#!/usr/bin/env bash
# `dlut apply` on a video against the FFmpeg command that does the same,
# with the same encoder settings, measured in the same run.
#
#   bash bench/bench_video.sh            (after `make`; BUILD=build by default)
#   SECS=3 PRESETS="ultrafast medium" RUNS=2 bash bench/bench_video.sh
#
# The clip: the shared wood-4096.webp photograph, a 1920x1080 window panning
# over it, SECS seconds at 24 fps, H.264 yuv420p (x264 ultrafast, CRF 16)
# with an AAC track. The LUT: a smooth random 33-point look written by numpy.
# For each x264 preset in PRESETS:
#   ffmpeg -i src.mp4 -vf lut3d=file=look.cube:interp=tetrahedral \
#          -c:v libx264 -preset P -crf 18 -c:a copy out.mp4
#   dlut apply src.mp4 --lut look.cube --preset P --crf 18 -o out.mp4
# wall and CPU (user+sys) seconds, best of RUNS each, and the ratio
# FFmpeg / DLUT (above 1 = DLUT faster). Both use every core they want.
# (FFmpeg converts to 8-bit RGB for lut3d and back; DLUT converts to float
# RGB and back, exactly, docs/video.md.) Prints the CPU model. Writes to
# $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DLUT=${DLUT:-$PWD/$BUILD/dlut}
PY=${PY:-/usr/bin/python3}
SECS=${SECS:-3}
RUNS=${RUNS:-2}
PRESETS=${PRESETS:-"ultrafast medium"}
SHARED=${DLUT_SHARED:-}
if [ -z "$SHARED" ]; then
  for d in ../shared /work/shared; do [ -d "$d/data" ] && SHARED=$(cd "$d" && pwd) && break; done
fi
SRC=$SHARED/data/photos/wood-4096.webp
for f in "$DLUT" "$SRC"; do [ -e "$f" ] || { echo "bench_video: missing $f (make? DLUT_SHARED?)" >&2; exit 1; }; done
W=$(mktemp -d "${TMPDIR:-/tmp}/dlut-bench-video.XXXXXX")
trap 'rm -rf "$W"' EXIT

ffmpeg -v error -y -loop 1 -i "$SRC" -f lavfi -i "sine=f=440:d=$SECS" -t "$SECS" -r 24 \
  -filter_complex "[0]scale=2560:-2,crop=1920:1080:'t*100':'t*60',format=yuv420p[v]" -map '[v]' -map 1 \
  -c:v libx264 -preset ultrafast -crf 16 -colorspace bt709 -color_primaries bt709 -color_trc bt709 \
  -c:a aac "$W/src.mp4"
"$PY" - "$W/look.cube" <<'PYEOF'
import sys, numpy as np
n = 33
rng = np.random.default_rng(7)
g = np.linspace(0, 1, n)
b, gg, r = np.meshgrid(g, g, g, indexing="ij")
rgb = np.stack([r, gg, b], -1)
m = np.eye(3) + 0.15 * rng.standard_normal((3, 3))
out = np.clip(rgb @ m.T, 0, 1) ** 0.9
out = 0.5 + (out - 0.5) * 1.2 + 0.05 * np.sin(6 * rgb)
with open(sys.argv[1], "w") as f:
    f.write("LUT_3D_SIZE %d\n" % n)
    for e in np.clip(out, 0, 1).reshape(-1, 3):
        f.write("%.6f %.6f %.6f\n" % tuple(e))
PYEOF

best() { # best wall and CPU seconds of RUNS runs of "$@"
  local bw=999999 bc=999999 w c
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S" -o "$W/t" "$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
    read -r w u s <"$W/t"
    c=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
    bw=$(awk -v a="$w" -v b="$bw" 'BEGIN { print (a < b) ? a : b }')
    bc=$(awk -v a="$c" -v b="$bc" 'BEGIN { print (a < b) ? a : b }')
  done
  echo "$bw $bc"
}

frames=$((SECS * 24))
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "clip: 1920x1080 yuv420p H.264, $frames frames + AAC; 33-point LUT; libx264 -crf 18, best of $RUNS"
printf '%-10s %22s %22s %14s %14s\n' preset "ffmpeg wall / cpu s" "dlut wall / cpu s" "wall ratio" "cpu ratio"
for p in $PRESETS; do
  read -r fw fc < <(best ffmpeg -v error -y -i "$W/src.mp4" -map 0 -vf "lut3d=file=$W/look.cube:interp=tetrahedral" \
    -c:v libx264 -preset "$p" -crf 18 -c:a copy "$W/ff.mp4")
  read -r dw dc < <(best "$DLUT" apply "$W/src.mp4" --lut "$W/look.cube" --preset "$p" --crf 18 -o "$W/dl.mp4")
  printf '%-10s %10.2f / %-9.2f %10.2f / %-9.2f %13.2fx %13.2fx\n' "$p" "$fw" "$fc" "$dw" "$dc" \
    "$(awk -v a="$fw" -v b="$dw" 'BEGIN { print a / b }')" "$(awk -v a="$fc" -v b="$dc" 'BEGIN { print a / b }')"
done
# how far apart the two outputs are (both lossy; FFmpeg goes through 8-bit RGB)
"$PY" - "$W/ff.mp4" "$W/dl.mp4" <<'PYEOF'
import subprocess, sys, numpy as np
def y(p):
    return np.frombuffer(subprocess.run(["ffmpeg", "-v", "error", "-i", p, "-frames:v", "8", "-f", "rawvideo",
                                         "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout,
                         np.uint8).astype(float)
a, b = y(sys.argv[1]), y(sys.argv[2])
print("outputs: PSNR between FFmpeg's and DLUT's first 8 frames %.1f dB" % (10 * np.log10(255**2 / np.mean((a - b)**2))))
PYEOF
