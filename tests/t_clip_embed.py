"""`dlut embed` on the upstream reference cases: the JSON it prints must
match the embeddings and logits that openai/CLIP and OFA-Sys/Chinese-CLIP
computed (ref/f64/*.npy, relative error 1e-4 of each array's max), using
the real image files and texts; and usage/failure exit codes must be 2/1."""
import json
import os
import subprocess
import sys

import numpy as np

DLUT = os.environ["DLUT"]
ROOT = os.path.join(os.environ["DLUT_SHARED"], "data", "clip-ref")
fails = 0


def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", msg)


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30)


for case in ("openai_tiny", "chinese_clip_tiny"):
    d = os.path.join(ROOT, case)
    texts = json.load(open(os.path.join(d, "texts.json"), encoding="utf-8"))
    summary = json.load(open(os.path.join(d, "reference_summary.json"), encoding="utf-8"))
    images = [os.path.join(d, im["file"]) for im in summary["images"]]
    cmd = [DLUT, "embed", "--model", d]
    for im in images:
        cmd += ["--image", im]
    for t in texts:
        cmd += ["--text", t]
    p = subprocess.run(cmd, capture_output=True)
    check(p.returncode == 0, f"{case}: exit {p.returncode}: {p.stderr.decode()}")
    if p.returncode != 0:
        continue
    out = json.loads(p.stdout)
    for key in ("image_embeds", "text_embeds", "logits_per_image"):
        ref = np.load(os.path.join(d, "ref", "f64", key + ".npy"))
        got = np.array(out[key])
        check(got.shape == ref.shape, f"{case} {key}: shape {got.shape} vs {ref.shape}")
        if got.shape == ref.shape:
            e = rel(got, ref)
            print(f"{case} {key}: rel err {e:.3g}")
            check(e < 1e-4, f"{case} {key}: rel err {e}")



def safetensors(path):
    """name -> float32 array, from a safetensors file (F32 tensors only)."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    hdr = json.loads(raw[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(v["shape"])
    return out


# --patch-tokens: post_layernorm + visual_projection of every patch token of
# the last block's output, recomputed here from the upstream activations
# (ref vision.block{L-1}_out) and the checkpoint's weights
for case in ("openai_tiny", "chinese_clip_tiny"):
    d = os.path.join(ROOT, case)
    summary = json.load(open(os.path.join(d, "reference_summary.json"), encoding="utf-8"))
    images = [os.path.join(d, im["file"]) for im in summary["images"]]
    cmd = [DLUT, "embed", "--model", d, "--patch-tokens"]
    for im in images:
        cmd += ["--image", im]
    p = subprocess.run(cmd, capture_output=True)
    check(p.returncode == 0, f"{case} --patch-tokens: exit {p.returncode}: {p.stderr.decode()}")
    if p.returncode != 0:
        continue
    got = np.array(json.loads(p.stdout)["patch_tokens"])
    cfg = json.load(open(os.path.join(d, "config.json")))["vision_config"]
    L, eps = cfg["num_hidden_layers"], cfg["layer_norm_eps"]
    x = np.load(os.path.join(d, "ref", "f64", f"vision.block{L - 1}_out.npy"))[:, 1:, :]
    w = safetensors(os.path.join(d, "model.safetensors"))
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps) * w["vision_model.post_layernorm.weight"] + w["vision_model.post_layernorm.bias"]
    ref = y @ w["visual_projection.weight"].T.astype(np.float64)
    check(got.shape == ref.shape, f"{case} patch_tokens shape {got.shape} vs {ref.shape}")
    if got.shape == ref.shape:
        e = rel(got, ref)
        print(f"{case} patch_tokens: rel err {e:.3g}")
        check(e < 1e-4, f"{case} patch_tokens: rel err {e}")

d = os.path.join(ROOT, "openai_tiny")
env = dict(os.environ)
env.pop("DLUT_MODEL", None)
p = subprocess.run([DLUT, "embed", "--text", "x"], capture_output=True, env=env)
check(p.returncode == 2, f"no model: exit {p.returncode}")
p = subprocess.run([DLUT, "embed", "--model", d], capture_output=True)
check(p.returncode == 2, f"nothing to embed: exit {p.returncode}")
p = subprocess.run([DLUT, "embed", "--model", d, "--image", "/nonexistent.png"], capture_output=True)
check(p.returncode == 1 and p.stderr.decode().startswith("dlut embed:"), f"bad image: exit {p.returncode}")
p = subprocess.run([DLUT, "embed", "--help"], capture_output=True)
check(p.returncode == 0 and b"usage" in p.stdout, "help")
p = subprocess.run([DLUT, "refcheck", "/nonexistent"], capture_output=True)
check(p.returncode == 1, f"refcheck on a missing folder: exit {p.returncode}")
sys.exit(1 if fails else 0)
