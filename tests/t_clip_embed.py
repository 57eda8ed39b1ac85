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
