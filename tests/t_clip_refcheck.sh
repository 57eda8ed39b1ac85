#!/usr/bin/env bash
# Runs `dlut refcheck` on every reference case in $DLUT_SHARED/data/clip-ref/
# (each folder with a ref/ directory): the CLIP engine against arrays made by
# the upstream openai/CLIP and OFA-Sys/Chinese-CLIP code, against both the
# float64 and the float32 upstream runs. Then, on a copy of the first case:
# the weights read from pytorch_model.bin alone must pass too, and a
# perturbed reference array must make refcheck fail (exit 1). Then the
# ColorizeDiffusion manipulation cases (ref/manipulation/): every case id
# checked and passed, and corrupted copies detected.
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
# ColorizeDiffusion's manipulation cases (ref/manipulation/): every case id
# index.json lists must be named by refcheck as checked and within tolerance,
# and nothing else; a copy with one case's stored output and one step
# intermediate off by 1e-3 relative must fail, naming exactly those cases.
nm=0
for case in "$root"/*/; do
  [ -f "$case/ref/manipulation/index.json" ] || continue
  nm=$((nm+1)); name=$(basename "$case")
  "$DLUT" refcheck "$case" > "$tmp/m-$name.txt"; rc=$?
  [ "$rc" -eq 0 ] || { echo "FAIL: refcheck $name exit $rc"; grep FAIL "$tmp/m-$name.txt"; fails=$((fails+1)); }
  "$PY" - "$case/ref/manipulation/index.json" "$tmp/m-$name.txt" "$name" <<'PYEOF' || { echo "FAIL: manipulation cases of $name"; fails=$((fails+1)); }
import json, re, sys
ids = [c["id"] for c in json.load(open(sys.argv[1]))["cases"]]
lines = open(sys.argv[2]).read().splitlines()
seen = {}
for l in lines:
    m = re.match(r"^(ok  |FAIL)  manip (\S+)\s+worst rel err (\S+)", l)
    if m:
        seen.setdefault(m.group(2), []).append((m.group(1), float(m.group(3))))
bad = [i for i in ids if seen.get(i) != [("ok  ", seen.get(i, [("", 0)])[0][1])] or not seen[i][0][1] <= 1e-4]
extra = sorted(set(seen) - set(ids))
worst = max(v[0][1] for v in seen.values()) if seen else float("nan")
print(f"  {sys.argv[3]}: {len(ids) - len(bad)}/{len(ids)} manipulation case ids checked and passed, worst rel err {worst:.3g}")
if bad or extra or len(ids) == 0:
    print("  not checked or not passed:", bad, "unexpected:", extra)
    sys.exit(1)
PYEOF
  # a copy whose case ids are renamed and whose cases are in reverse order:
  # refcheck must name the new ids (nothing is keyed on the public ids)
  mkdir -p "$tmp/mren-$name/ref"
  for f in "$case"/*; do [ "$(basename "$f")" = ref ] || ln -s "$f" "$tmp/mren-$name/$(basename "$f")"; done
  for f in "$case"/ref/*; do [ "$(basename "$f")" = manipulation ] || ln -s "$f" "$tmp/mren-$name/ref/$(basename "$f")"; done
  mkdir "$tmp/mren-$name/ref/manipulation"
  for f in "$case"/ref/manipulation/*; do ln -s "$f" "$tmp/mren-$name/ref/manipulation/$(basename "$f")"; done
  rm "$tmp/mren-$name/ref/manipulation/index.json"
  "$PY" - "$case/ref/manipulation/index.json" "$tmp/mren-$name/ref/manipulation/index.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["cases"] = [dict(c, id="renamed_" + c["id"][::-1]) for c in reversed(d["cases"])]
json.dump(d, open(sys.argv[2], "w"))
PYEOF
  "$DLUT" refcheck "$tmp/mren-$name" > "$tmp/mren-$name.txt" || { echo "FAIL: renamed copy of $name"; fails=$((fails+1)); }
  got=$(grep -c "^ok    manip renamed_" "$tmp/mren-$name.txt")
  want_n=$("$PY" -c "import json,sys; print(len(json.load(open(sys.argv[1]))['cases']))" "$case/ref/manipulation/index.json")
  [ "$got" -eq "$want_n" ] || { echo "FAIL: renamed copy of $name: $got of $want_n ids named"; fails=$((fails+1)); }
  # the corrupted copy
  mkdir -p "$tmp/mbad-$name/ref"
  for f in "$case"/*; do
    [ "$(basename "$f")" = ref ] || ln -s "$f" "$tmp/mbad-$name/$(basename "$f")"
  done
  for f in "$case"/ref/*; do
    [ "$(basename "$f")" = manipulation ] || ln -s "$f" "$tmp/mbad-$name/ref/$(basename "$f")"
  done
  cp -r "$case/ref/manipulation" "$tmp/mbad-$name/ref/"
  chmod -R u+w "$tmp/mbad-$name/ref/manipulation"
  want=$("$PY" - "$tmp/mbad-$name/ref/manipulation" <<'PYEOF'
import json, sys, numpy as np
d = sys.argv[1]
cases = json.load(open(d + "/index.json"))["cases"]
# only files no other case shares
use = {}
for c in cases:
    for f in [o["file"] for o in c["outputs"].values()] + [o["file"] for s in c["steps"] for o in s["outputs"].values()]:
        use.setdefault(f, set()).add(c["id"])
loc = [c for c in cases if c["kind"] == "local" and len(use[c["outputs"]["tokens"]["file"]]) == 1][-1]
p = d + "/" + loc["outputs"]["tokens"]["file"]
a = np.load(p); a.flat[a.size // 2] += 1e-3 * np.abs(a).max(); np.save(p, a)
st = [(c, f) for c in cases if c["kind"] == "local" and c["id"] != loc["id"]
      for s in c["steps"] for k, o in s["outputs"].items() for f in [o["file"]] if k == "pwm" and len(use[f]) == 1][0]
p = d + "/" + st[1]
a = np.load(p); a.flat[0] += 1e-3 * np.abs(a).max(); np.save(p, a)
print(loc["id"], st[0]["id"])
PYEOF
)
  "$DLUT" refcheck -q "$tmp/mbad-$name" > "$tmp/mbad-$name.txt"; rc=$?
  nfail=$(grep -c "^FAIL  manip " "$tmp/mbad-$name.txt")
  for id in $want; do grep -q "^FAIL  manip $id " "$tmp/mbad-$name.txt" || nfail=-1; done
  if [ "$rc" -ne 1 ] || [ "$nfail" -ne 2 ]; then
    echo "FAIL: corrupted manipulation references ($want) of $name not detected exactly (exit $rc)"
    cat "$tmp/mbad-$name.txt"; fails=$((fails+1))
  fi
done
[ "$nm" -ge 2 ] || { echo "FAIL: expected manipulation cases for openai_tiny and chinese_clip_tiny, found $nm"; fails=$((fails+1)); }
echo "$n cases, $fails failed runs"
[ "$fails" -eq 0 ]
