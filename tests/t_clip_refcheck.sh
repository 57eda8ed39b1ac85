#!/usr/bin/env bash
# Runs `dlut refcheck` on every reference case in $DLUT_SHARED/data/clip-ref/
# (each folder with a ref/ directory): the CLIP engine against arrays made by
# the upstream openai/CLIP and OFA-Sys/Chinese-CLIP code. Both precisions.
set -u
root="${DLUT_SHARED:?DLUT_SHARED not set}/data/clip-ref"
[ -d "$root" ] || { echo "no $root"; exit 1; }
n=0; fails=0
for case in "$root"/*/; do
  [ -d "$case/ref" ] || continue
  n=$((n+1))
  "$DLUT" refcheck -q "$case" || fails=$((fails+1))
  "$DLUT" refcheck -q --f32 "$case" || fails=$((fails+1))
done
[ "$n" -gt 0 ] || { echo "no reference cases under $root"; exit 1; }
echo "$n cases, $fails failed runs"
[ "$fails" -eq 0 ]
