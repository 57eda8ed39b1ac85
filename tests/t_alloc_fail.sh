#!/usr/bin/env bash
# Allocation failures injected into whole commands, as SQLite's tests do:
# tests/tools/malloc_fail.c (LD_PRELOAD) makes the Nth allocation of the
# process fail, for N swept over every allocation the command makes (every
# one of the first 32, then evenly spaced, about 100 runs a command). Each
# run must end in success with the very same output as without the failure,
# or in a clean error (exit 1 or 2 with a message), never a crash, and no
# run leaves a temporary file. Two sweeps: the LD_PRELOAD shim fails every
# allocation of the process (other libraries' too) in the plain build's
# binary (ASan's allocator cannot be interposed that way); and
# $BUILD/tests/dlut-allocfail, linked with tests/tools/wrap_alloc.c, fails
# the allocations of DLUT's own code in the current build, which under
# AddressSanitizer (BUILD=build-san) also means LeakSanitizer checks every
# one of those error paths for leaks. LittleCMS allocates through DLUT
# (src/image/icc.c), so its allocations are among DLUT's own. Both sweeps
# take looks, convert to Hald, an offline grade (its output folder compared
# whole) and apply, of a PNG and of small JPEG (Adobe RGB profile), grey
# PNG (grey profile) and WebP files; DLUT's own allocations are also swept
# for TIFF (16-bit in and out), convert to .3dl and from Hald, info and
# strip. TIFF is left out of the shim's sweep: libtiff 4.5 crashes inside
# itself when one of its own allocations fails (in TIFFReadDirectory,
# TIFFGetField, TIFFFlush), which no caller can prevent.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if [ ! -x build/dlut ]; then make -j"$(nproc)" build/dlut >/dev/null || { echo "FAIL: cannot build build/dlut"; exit 1; }; fi
DLUT=$PWD/build/dlut
WRAPPED=$PWD/$BUILD/tests/dlut-allocfail
[ -x "$WRAPPED" ] || { echo "FAIL: $WRAPPED is not built (make)"; exit 1; }
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
PRELOAD=
SHARED=${DLUT_SHARED:-../shared}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
SHIM=$T/libmallocfail.so
cc -shared -fPIC -O1 -o "$SHIM" tests/tools/malloc_fail.c -ldl || { echo "FAIL: cannot build the shim"; exit 1; }
P="$SHARED/data/photos/chelsea.png"
"$DLUT" looks "warm film" -o "$T/warm.cube" >/dev/null
# small inputs in the other formats (the encoders and the ICC paths, not the pixels, are what is swept):
# JPEG with an Adobe RGB (1998) profile (lcms, then DLUT's matrix/shaper kernel), PNG with a grey
# profile (lcms's grey path), WebP, 16-bit TIFF; and a Hald LUT of level 4
mkdir "$T/in"
convert "$SHARED/data/photos/rocket.jpg" -resize 96x64 "$T/in/rocket.jpg"
convert "$P" -resize 96x64 -colorspace Gray -profile /usr/share/color/icc/ghostscript/sgray.icc "$T/in/grey.png"
convert "$P" -resize 96x64 -depth 16 "$T/in/c16.tif"
convert "$P" -resize 96x64 "$T/in/c.webp"
"$DLUT" convert "$T/warm.cube" "$T/h4.png" --hald-level 4 >/dev/null
IN=("$T/in/rocket.jpg" "$T/in/grey.png" "$T/in/c.webp")
fails=0

# NAME OUTPUT WHAT_TO_COMPARE CMD...: WHAT_TO_COMPARE is a file or a folder
# (compared whole); an OUTPUT ending in .txt receives the command's stdout.
sweep() {
  local name=$1 out=$2 check=$3; shift 3
  local stdout=/dev/null t0=$SECONDS
  case "$out" in *.txt) stdout=$out ;; esac
  rm -rf "$out" "$T/count" "$T/expected"
  DLUT_FAIL_COUNT="$T/count" LD_PRELOAD="$PRELOAD" "$@" >"$stdout" 2>"$T/err"
  cp -r "$check" "$T/expected" 2>/dev/null || { echo "FAIL: $name: no output without failures"; fails=$((fails + 1)); return; }
  local total; total=$(cat "$T/count" 2>/dev/null || echo 0)
  [ "$total" -gt 0 ] || { echo "FAIL: $name: could not count allocations ($(head -2 "$T/err"))"; fails=$((fails + 1)); return; }
  local stride=$(( total / 64 )); [ $stride -lt 1 ] && stride=1
  local runs=0 ok=0 clean=0 bad=0 n
  for ((n = 1; n <= total; n = n < 32 ? n + 1 : n + stride)); do
    rm -rf "$out"
    DLUT_FAIL_AT=$n LD_PRELOAD="$PRELOAD" "$@" >"$stdout" 2>"$T/err"
    local rc=$?
    runs=$((runs + 1))
    if [ $rc -eq 0 ]; then
      ok=$((ok + 1))
      if ! diff -r -q "$check" "$T/expected" >/dev/null 2>&1; then
        bad=$((bad + 1)); [ $bad -le 3 ] && echo "  $name: allocation $n failed, exit 0, but the output differs"
      fi
    elif grep -q "LeakSanitizer" "$T/err"; then
      bad=$((bad + 1))
      [ $bad -le 3 ] && echo "  $name: allocation $n failed and leaked: $(grep -m3 -E 'Direct leak|#[0-9] ' "$T/err" | tr '\n' ' ' | cut -c1-300)"
    elif { [ $rc -eq 1 ] || [ $rc -eq 2 ]; } && [ -s "$T/err" ]; then
      clean=$((clean + 1))
    else
      bad=$((bad + 1))
      [ $bad -le 3 ] && echo "  $name: allocation $n of $total: exit $rc: $(grep -m3 -E 'ERROR|SUMMARY|dlut|runtime' "$T/err" | head -3)"
      continue
    fi
    # whether it succeeded or failed cleanly, no temporary file may be left
    local left; left=$(find "$T" -name '*.tmp.*' -o -name '.dlut-stage.*' | wc -l)
    if [ "$left" -ne 0 ]; then
      bad=$((bad + 1)); [ $bad -le 3 ] && echo "  $name: allocation $n failed (exit $rc) and left $left temporary files"
      find "$T" \( -name '*.tmp.*' -o -name '.dlut-stage.*' \) -prune -exec rm -rf {} + 2>/dev/null
    fi
  done
  if [ $bad -eq 0 ]; then
    echo "ok: $name: $runs runs over $total allocations: $ok succeeded with the same output, $clean clean errors, no crash, nothing left behind${LEAKS:+, no leak} ($((SECONDS - t0)) s)"
  else
    echo "FAIL: $name: $bad of $runs runs crashed, leaked or left files"
    fails=$((fails + 1))
  fi
}

sweeps() { # BINARY LABEL
  sweep "dlut looks -o, $2" "$T/l.cube" "$T/l.cube" "$1" looks "cold teal night, high contrast" -o "$T/l.cube"
  sweep "dlut apply, $2" "$T/a.png" "$T/a.png" "$1" apply "$P" --lut "$T/warm.cube" -o "$T/a.png"
  sweep "dlut convert (Hald), $2" "$T/h.png" "$T/h.png" "$1" convert "$T/warm.cube" "$T/h.png"
  sweep "dlut grade (offline), $2" "$T/g" "$T/g" "$1" grade "$P" "warm sunset film" -o "$T/g" -q
  sweep "dlut apply (JPEG, PNG, WebP; Hald LUT), $2" "$T/multi" "$T/multi" "$1" apply "${IN[@]}" --lut "$T/h4.png" -o "$T/multi"
}
PRELOAD=$SHIM LEAKS= sweeps "$DLUT" "every allocation of the process"
LEAKS=$([ "$BUILD" = build-san ] && echo 1) PRELOAD= sweeps "$WRAPPED" "DLUT's own allocations ($BUILD)"
# TIFF, the other LUT formats, info, strip: DLUT's own allocations
more_sweeps() { # BINARY LABEL
  sweep "dlut apply (TIFF), $2" "$T/t.tif" "$T/t.tif" "$1" apply "$T/in/c16.tif" --lut "$T/warm.cube" -o "$T/t.tif"
  sweep "dlut convert (.3dl), $2" "$T/c.3dl" "$T/c.3dl" "$1" convert "$T/warm.cube" "$T/c.3dl"
  sweep "dlut convert (Hald -> .cube), $2" "$T/c.cube" "$T/c.cube" "$1" convert "$T/h4.png" "$T/c.cube"
  sweep "dlut info (Hald), $2" "$T/i.txt" "$T/i.txt" "$1" info "$T/h4.png"
  sweep "dlut strip, $2" "$T/s.png" "$T/s.png" "$1" strip "$T/warm.cube" -o "$T/s.png"
}
LEAKS=$([ "$BUILD" = build-san ] && echo 1) PRELOAD= more_sweeps "$WRAPPED" "DLUT's own allocations ($BUILD)"
# grading by region with a matte (masks, region LUTs, the composite, mask-N.png): DLUT's own allocations
convert -size 451x300 xc:black -fill white -draw "rectangle 200,0 450,299" -depth 16 "$T/m.png"
LEAKS=$([ "$BUILD" = build-san ] && echo 1) PRELOAD= sweep "dlut grade --mask (offline), DLUT's own allocations ($BUILD)" \
  "$T/r" "$T/r" "$WRAPPED" grade "$P" "warm sunset film" --mask "$T/m.png=deep teal" --feather 8 -o "$T/r" -q
echo "$fails failures"
[ $fails -eq 0 ]
