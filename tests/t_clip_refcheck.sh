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
# every case again with a config.json stripped of the fields that equal the
# transformers defaults (as save_pretrained writes hub configs): the loader
# must fill them in
for case in "$root"/*/; do
  [ -d "$case/ref" ] || continue
  name=$(basename "$case"); mkdir "$tmp/min-$name"
  for f in "$case"/*; do
    [ "$(basename "$f")" = config.json ] || ln -s "$f" "$tmp/min-$name/$(basename "$f")"
  done
  "$PY" - "$case/config.json" "$tmp/min-$name/config.json" <<'PYEOF' || fails=$((fails+1))
import json, sys
cfg = json.load(open(sys.argv[1]))
clip = cfg["model_type"] == "clip"
text_defaults = ({"vocab_size": 49408, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                  "layer_norm_eps": 1e-05, "eos_token_id": 49407} if clip else
                 {"hidden_act": "gelu", "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
                  "type_vocab_size": 2, "pad_token_id": 0, "position_embedding_type": "absolute"})
vision_defaults = {"hidden_act": "quick_gelu", "layer_norm_eps": 1e-05, "num_channels": 3}
for sub, dflt in (("text_config", text_defaults), ("vision_config", vision_defaults)):
    for k, v in dflt.items():
        assert cfg[sub].get(k) == v, (sub, k)
        del cfg[sub][k]
    for k in ("attention_dropout", "dropout", "initializer_factor", "initializer_range", "architectures"):
        cfg[sub].pop(k, None)
json.dump(cfg, open(sys.argv[2], "w"), indent=1)
PYEOF
  "$DLUT" refcheck -q "$tmp/min-$name" || { echo "FAIL: minimal config.json for $name"; fails=$((fails+1)); }
done
echo "$n cases, $fails failed runs"
[ "$fails" -eq 0 ]
