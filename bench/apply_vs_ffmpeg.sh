#!/usr/bin/env bash
# DLUT's LUT application against FFmpeg's lut3d filter, measured in the same
# run on the same image and the same LUT.
#
#   bash bench/apply_vs_ffmpeg.sh            (after `make bench`; BUILD=build by default)
#
# 1. Kernel throughput per thread. FFmpeg: `ffmpeg -threads 1 -filter_threads 1
#    ... -vf lut3d=file=X.cube:interp=tetrahedral -f null -` over several
#    frames of a 4096x4096 RGB24 picture, minus the same pipeline with
#    `-vf null` (decoding, looping and the null muxer), both in CPU seconds
#    (user+sys), so the difference is the filter's own cost on one thread.
#    DLUT: bench_apply --image/--lut, 1 thread, CPU seconds. Ratio = DLUT/FFmpeg.
# 2. Whole process: a 4096x4096 PPM through a 33-point .cube,
#    `dlut apply in.ppm --lut X.cube -o out.ppm` against
#    `ffmpeg -i in.ppm -vf lut3d=...:interp=tetrahedral out.ppm`, wall
#    seconds (best of 3, all threads each tool wants), and the largest
#    per-channel difference between the two outputs, in 8-bit steps.
#    (FFmpeg 5.1 truncates float results to 8 bits, av_clip_uint8(v*255),
#    where DLUT rounds to nearest, so up to 1 step is expected.)
# The source picture is the shared wood-4096.webp (a real 4096^2 photograph);
# the LUT is a smooth random "look" written by numpy. Writes to $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DLUT=${DLUT:-$PWD/$BUILD/dlut}
BENCH=$PWD/$BUILD/bench/bench_apply
PY=${PY:-/usr/bin/python3}
SHARED=${DLUT_SHARED:-}
if [ -z "$SHARED" ]; then
  for d in ../shared /work/shared; do [ -d "$d/data" ] && SHARED=$(cd "$d" && pwd) && break; done
fi
SRC=$SHARED/data/photos/wood-4096.webp
FRAMES=${FRAMES:-8}
for f in "$DLUT" "$BENCH" "$SRC"; do [ -e "$f" ] || { echo "apply_vs_ffmpeg: missing $f (make bench? DLUT_SHARED?)" >&2; exit 1; }; done
command -v ffmpeg >/dev/null || { echo "apply_vs_ffmpeg: ffmpeg not found" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/dlut-vs-ffmpeg.XXXXXX")
trap 'rm -rf "$W"' EXIT

# The picture, as 8-bit RGB PPM, 4096x4096.
ffmpeg -v error -y -i "$SRC" -vf scale=4096:4096 -pix_fmt rgb24 "$W/in.ppm"
# A 33-point look: gentle curves, cross-talk and a little noise, red fastest.
"$PY" - "$W/look.cube" <<'EOF'
import sys, numpy as np
n = 33
rng = np.random.default_rng(1)
b, g, r = np.meshgrid(*(np.linspace(0, 1, n),) * 3, indexing="ij")
out = np.stack([0.9 * r ** 1.1 + 0.08 * g * b + 0.02,
                0.5 * g + 0.45 * np.sin(1.3 * g) + 0.04 * r,
                0.85 * b + 0.12 * r * r], axis=-1)
out += rng.normal(0, 0.01, out.shape)
with open(sys.argv[1], "w") as f:
    f.write("TITLE \"bench look\"\nLUT_3D_SIZE %d\n" % n)
    for v in out.reshape(-1, 3):
        f.write("%.6f %.6f %.6f\n" % tuple(v))
EOF

cpu_seconds() { # run "$@", print user+sys CPU seconds
  /usr/bin/time -f '%U %S' -o "$W/time" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  awk '{printf "%.3f\n", $1 + $2}' "$W/time"
}
best_of_3() { # best of 3 of a command printing one number
  local best="" v
  for _ in 1 2 3; do
    v=$("$@")
    if [ -z "$best" ] || awk -v a="$v" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$v; fi
  done
  echo "$best"
}
[ -x /usr/bin/time ] || { echo "apply_vs_ffmpeg: needs /usr/bin/time (Debian package 'time')" >&2; exit 1; }

MP=$(awk -v f="$FRAMES" 'BEGIN{print f * 4096 * 4096 / 1e6}')
ff1() { cpu_seconds ffmpeg -v error -threads 1 -filter_threads 1 -stream_loop $((FRAMES - 1)) -i "$W/in.ppm" \
          -vf "$1" -f null -; }
T_LUT=$(best_of_3 ff1 "lut3d=file=$W/look.cube:interp=tetrahedral")
T_NUL=$(best_of_3 ff1 null)
FF_MPS=$(awk -v mp="$MP" -v a="$T_LUT" -v b="$T_NUL" 'BEGIN{printf "%.1f", mp / (a - b)}')
T_LUT_TRI=$(best_of_3 ff1 "lut3d=file=$W/look.cube:interp=trilinear")
FF_MPS_TRI=$(awk -v mp="$MP" -v a="$T_LUT_TRI" -v b="$T_NUL" 'BEGIN{printf "%.1f", mp / (a - b)}')
OUR_MPS=$("$BENCH" --image "$W/in.ppm" --lut "$W/look.cube" --threads 1)
OUR_MPS_TRI=$("$BENCH" --image "$W/in.ppm" --lut "$W/look.cube" --threads 1 --interp trilinear)
echo "# 1. kernel, one thread, 4096x4096 RGB24, 33-point LUT (MP/s per thread; CPU time)"
echo "ffmpeg lut3d tetrahedral: $FF_MPS   (filter $T_LUT s - pipeline $T_NUL s for $FRAMES frames)"
echo "dlut tetrahedral:         $OUR_MPS"
awk -v a="$OUR_MPS" -v b="$FF_MPS" 'BEGIN{printf "ratio dlut/ffmpeg:        %.1fx\n", a / b}'
echo "ffmpeg lut3d trilinear:   $FF_MPS_TRI"
echo "dlut trilinear:           $OUR_MPS_TRI"
awk -v a="$OUR_MPS_TRI" -v b="$FF_MPS_TRI" 'BEGIN{printf "ratio dlut/ffmpeg:        %.1fx\n", a / b}'

wall() { # wall seconds of "$@"
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", b - a}'
}
run_dlut() { rm -f "$W/dlut.ppm"; wall "$DLUT" apply "$W/in.ppm" --lut "$W/look.cube" -o "$W/dlut.ppm"; }
run_ff() { wall ffmpeg -v error -y -i "$W/in.ppm" -vf "lut3d=file=$W/look.cube:interp=tetrahedral" "$W/ff.ppm"; }
TD=$(best_of_3 run_dlut)
TF=$(best_of_3 run_ff)
echo "# 2. whole process, 4096x4096 PPM in and out, 33-point .cube, tetrahedral, $(nproc) cores (wall s, best of 3)"
echo "dlut apply:   $TD s"
echo "ffmpeg lut3d: $TF s"
awk -v a="$TD" -v b="$TF" 'BEGIN{printf "ratio ffmpeg/dlut: %.1fx faster\n", b / a}'
"$PY" - "$W/dlut.ppm" "$W/ff.ppm" <<'EOF'
import sys, numpy as np
def ppm(p):
    d = open(p, "rb").read()
    parts, i = [], 0
    while len(parts) < 4:  # P6 w h maxval, with comments
        while d[i:i+1].isspace(): i += 1
        if d[i:i+1] == b"#":
            while d[i:i+1] not in (b"\n", b""): i += 1
            continue
        j = i
        while not d[j:j+1].isspace(): j += 1
        parts.append(d[i:j]); i = j
    w, h, m = int(parts[1]), int(parts[2]), int(parts[3])
    return np.frombuffer(d, np.uint8 if m < 256 else ">u2", w * h * 3, i + 1).reshape(h, w, 3).astype(int)
a, b = ppm(sys.argv[1]), ppm(sys.argv[2])
d = np.abs(a - b)
print("max per-channel difference dlut vs ffmpeg: %d (8-bit steps); mean %.3f; share of samples differing %.1f%%"
      % (d.max(), d.mean(), 100.0 * (d > 0).mean()))
EOF
