#!/usr/bin/env bash
# Runs every test: the C test binaries in $BUILD/tests/, then the scripted
# tests tests/t_*.sh and tests/t_*.py (which use $BUILD/dlut and the
# reference tools: FFmpeg, OpenColorIO, ImageMagick). Prints one line per
# test and exits non-zero if any failed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
export DLUT="$PWD/$BUILD/dlut"
if [ -z "${DLUT_SHARED:-}" ]; then
  for d in ../shared /work/shared; do
    if [ -d "$d/data" ]; then DLUT_SHARED=$(cd "$d" && pwd); break; fi
  done
fi
export DLUT_SHARED=${DLUT_SHARED:-../shared}
PY=/usr/bin/python3   # Debian's python, where python3-numpy and python3-pyopencolorio live
export PY
fails=0; n=0; failed=()
run() {
  local name=$1; shift
  n=$((n+1))
  local log; log=$(mktemp)
  local t0=$SECONDS
  if "$@" >"$log" 2>&1; then
    printf 'ok    %-40s %3ds\n' "$name" $((SECONDS-t0))
  else
    printf 'FAIL  %-40s %3ds\n' "$name" $((SECONDS-t0))
    # the failing checks first (a long test's FAIL line can sit far above its last 40 lines), then the tail
    grep -E 'FAIL|CHECK failed|ERROR|Sanitizer|runtime error' "$log" | head -20 | sed 's/^/    !! /'
    sed 's/^/    /' "$log" | tail -40
    fails=$((fails+1)); failed+=("$name")
  fi
  rm -f "$log"
}
filter=${TEST_FILTER:-}
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  case "$t" in *.o|*.d) continue;; esac
  [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
  run "$(basename "$t")" "$t"
done
for t in tests/t_*.sh; do
  [ -e "$t" ] || continue
  [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
  run "$(basename "$t")" bash "$t"
done
for t in tests/t_*.py; do
  [ -e "$t" ] || continue
  [ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
  run "$(basename "$t")" "$PY" "$t"
done
echo "$((n-fails))/$n passed"
[ "$fails" -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
