#!/usr/bin/env bash
# Runs `dlut refcheck` on every reference case in $DLUT_SHARED/data/clip-ref/
# (each folder with a ref/ directory): the CLIP engine against arrays made by
# the upstream openai/CLIP and OFA-Sys/Chinese-CLIP code, against both the
# float64 and the float32 upstream runs. Then, on a copy of the first case:
# the weights read from pytorch_model.bin alone must pass too, and a
# perturbed reference array must make refcheck fail (exit 1).
set -u
root="${DLUT_SHARED:?DLUT_SHARED not set}/data/clip-ref"
PY=${PY:-/usr/bin/python3}
[ -d "$root" ] || { echo "no $root"; exit 1; }
n=0; fails=0; first=
for case in "$root"/*/; do
  [ -d "$case/ref" ] || continue
  n=$((n+1)); first=${first:-$case}
  "$DLUT" refcheck -q "$case" || fails=$((fails+1))
  "$DLUT" refcheck -q --f32 "$case" || fails=$((fails+1))
done
[ "$n" -gt 0 ] || { echo "no reference cases under $root"; exit 1; }

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# a copy without model.safetensors: the loader falls back to pytorch_model.bin
mkdir "$tmp/bin"
for f in "$first"/*; do
  [ "$(basename "$f")" = model.safetensors ] || ln -s "$f" "$tmp/bin/$(basename "$f")"
done
"$DLUT" refcheck -q "$tmp/bin" || { echo "FAIL: pytorch_model.bin copy"; fails=$((fails+1)); }
# a copy whose reference image embedding is off by 1e-3 relative: must fail
mkdir -p "$tmp/bad/ref"
for f in "$first"/*; do
  [ "$(basename "$f")" = ref ] || ln -s "$f" "$tmp/bad/$(basename "$f")"
done
cp -r "$first/ref/." "$tmp/bad/ref/"
chmod -R u+w "$tmp/bad/ref"
"$PY" -c "
import numpy as np, sys
p = sys.argv[1] + '/ref/f64/image_embeds.npy'
a = np.load(p); a[1, 3] += 1e-3 * np.abs(a).max(); np.save(p, a)
" "$tmp/bad" || fails=$((fails+1))
"$DLUT" refcheck -q "$tmp/bad" > "$tmp/out.txt"; rc=$?
if [ "$rc" -ne 1 ] || ! grep -q "FAIL  image_embeds " "$tmp/out.txt"; then
  echo "FAIL: a perturbed reference was not detected (exit $rc)"; cat "$tmp/out.txt"; fails=$((fails+1))
fi
echo "$n cases, $fails failed runs"
[ "$fails" -eq 0 ]
