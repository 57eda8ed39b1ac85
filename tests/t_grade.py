#!/usr/bin/env python3
"""tests/t_grade.py - `dlut grade` and `dlut fit` end to end, checked by tools
nobody here wrote: the outputs must load in FFmpeg (lut3d) and OpenColorIO
(FileTransform), and both must reproduce graded.png from the photo and
look.cube. Uses the tiny random CLIP models of the shared reference set.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradelib import DLUT, SHARED, TINY, check, failed, ffmpeg_rgb, ocio_apply, run  # noqa: E402

PHOTO = f"{SHARED}/data/photos/chelsea.png"
TINY_ZH = f"{SHARED}/data/clip-ref/chinese_clip_tiny"


with tempfile.TemporaryDirectory() as tmp:
    out = f"{tmp}/out"
    r = run("grade", PHOTO, "cold teal night, high contrast", "--model", TINY, "--steps", "30", "--size", "17",
            "--seed", "7", "-o", out)
    check(r.returncode == 0, f"dlut grade runs (rc {r.returncode}: {r.stderr.strip()})")
    for name in ("look.cube", "graded.png", "strip.png", "report.json"):
        check(os.path.exists(f"{out}/{name}"), f"writes {name}")
    rep = json.load(open(f"{out}/report.json"))
    for k in ("prompt", "model", "settings", "seed", "steps", "seconds", "start", "end"):
        check(k in rep, f"report.json has {k}")
    for k in ("total", "clip", "mono", "smooth", "vol", "shift", "eigen"):
        check(k in rep["start"] and k in rep["end"], f"report.json start/end have {k}")
    check(rep["end"]["total"] < rep["start"]["total"],
          f"L_total decreases: {rep['start']['total']:.4f} -> {rep['end']['total']:.4f}")
    check(rep["settings"].get("start", "").startswith("offline look: ") and "teal" in rep["settings"]["start"],
          f"the optimisation starts from the prompt's offline look ({rep['settings'].get('start')})")
    out_id = f"{tmp}/out-identity"
    r = run("grade", PHOTO, "cold teal night, high contrast", "--model", TINY, "--steps", "2", "--size", "17",
            "--start", "identity", "-o", out_id)
    rep_id = json.load(open(f"{out_id}/report.json")) if r.returncode == 0 else {}
    check(rep_id.get("settings", {}).get("start") == "identity" and rep_id["start"]["shift"] == 0,
          "--start identity starts from no grade (no colour shift at the start)")
    check(rep["start"]["shift"] > 0, "the look start shifts the colours before the first step")
    check(run("grade", PHOTO, "warm", "--start", "bogus").returncode == 2, "--start takes look or identity")
    w = rep["settings"]["weights"]
    tot = sum(w[k] * rep["end"][k] for k in ("clip", "mono", "smooth", "vol", "shift", "eigen"))
    check(abs(tot - rep["end"]["total"]) < 1e-6 * max(1, abs(tot)), "total is the weighted sum of the terms")
    check(rep["steps"] == 30 and rep["seed"] == 7, "report records steps and seed")
    # the strip: size*size wide, size tall (scaled up for small LUTs)
    strip = ffmpeg_rgb(f"{out}/strip.png")
    check(strip.shape[1] == strip.shape[0] * 17, f"strip.png is 17 slices side by side ({strip.shape[1]}x{strip.shape[0]})")

    photo = ffmpeg_rgb(PHOTO)
    graded = ffmpeg_rgb(f"{out}/graded.png").astype(np.int32)
    check(np.abs(graded - photo.astype(np.int32)).mean() > 0.5, "the grade changes the photo")
    # FFmpeg applies the LUT to the photo (and loads graded.png with it, as the brief's example)
    ff = ffmpeg_rgb(PHOTO, f"lut3d=file={out}/look.cube:interp=tetrahedral").astype(np.int32)
    ffmpeg_rgb(f"{out}/graded.png", f"lut3d=file={out}/look.cube")
    # FFmpeg's 8-bit lut3d truncates where DLUT rounds: its pixels are DLUT's or one code below (about
    # half of them, so a mean of 0.5 is what agreement looks like; a mean bound there was a coin toss)
    d = graded - ff
    check(d.min() >= -1 and d.max() <= 2 and (d > 1).mean() < 1e-3,
          f"FFmpeg lut3d reproduces graded.png up to its truncation (DLUT - FFmpeg {d.min()}..{d.max()}, "
          f"mean {d.mean():.3f}, {100 * (d > 1).mean():.3f}% beyond one code)")
    # OpenColorIO
    oc = np.clip(np.rint(ocio_apply(f"{out}/look.cube", photo) * 255), 0, 255).astype(np.int32)
    d = np.abs(oc - graded)
    check(d.max() <= 1 and d.mean() < 0.1, f"OpenColorIO reproduces graded.png (max {d.max()}, mean {d.mean():.3f})")

    # determinism: the same inputs and seed give the same LUT file
    out2 = f"{tmp}/out2"
    r = run("grade", PHOTO, "cold teal night, high contrast", "--model", TINY, "--steps", "30", "--size", "17",
            "--seed", "7", "-q", "-o", out2)
    check(r.returncode == 0 and open(f"{out}/look.cube", "rb").read() == open(f"{out2}/look.cube", "rb").read(),
          "same seed, same look.cube (bitwise)")

    # Chinese-CLIP with a Chinese prompt, the original field parameterisation
    out3 = f"{tmp}/out3"
    r = run("grade", PHOTO, "温暖的日落胶片风", "--model", TINY_ZH, "--steps", "8", "--size", "9", "--param", "field",
            "--lr", "0.002", "-q", "-o", out3)
    check(r.returncode == 0, f"Chinese-CLIP, field parameterisation ({r.stderr.strip()})")
    rep3 = json.load(open(f"{out3}/report.json"))
    check(rep3["end"]["total"] < rep3["start"]["total"] and rep3["settings"]["param"] == "field",
          f"field lowers the loss: {rep3['start']['total']:.4f} -> {rep3['end']['total']:.4f}")

    # a reference photo, through $DLUT_MODEL
    out4 = f"{tmp}/out4"
    r = run("grade", PHOTO, "--ref", f"{SHARED}/data/photos/coffee.png", "--transfer", "--steps", "10", "--size", "9",
            "-q", "-o", out4, env={"DLUT_MODEL": TINY})
    check(r.returncode == 0 and json.load(open(f"{out4}/report.json"))["model"] == TINY,
          f"--ref with the model from $DLUT_MODEL ({r.stderr.strip()})")

    # the download folder is searched when nothing else is given
    models = f"{tmp}/models"
    os.makedirs(models)
    os.symlink(TINY, f"{models}/a-tiny")
    out5 = f"{tmp}/out5"
    r = run("grade", PHOTO, "vivid", "--steps", "3", "--size", "5", "-q", "-o", out5, env={"DLUT_MODELS": models})
    check(r.returncode == 0 and json.load(open(f"{out5}/report.json"))["model"].endswith("a-tiny"),
          "finds a model in $DLUT_MODELS")
    # with both families there, the prompt's language picks the model
    both = f"{tmp}/both"
    os.makedirs(both)
    os.symlink(TINY_ZH, f"{both}/a-zh")
    os.symlink(TINY, f"{both}/b-en")
    r = run("grade", PHOTO, "vivid", "--steps", "2", "--size", "5", "-q", "-o", out5, env={"DLUT_MODELS": both})
    check(r.returncode == 0 and json.load(open(f"{out5}/report.json"))["model"].endswith("b-en"),
          "an English prompt picks the OpenAI model")
    r = run("grade", PHOTO, "鲜艳", "--steps", "2", "--size", "5", "-q", "-o", out5, env={"DLUT_MODELS": both})
    check(r.returncode == 0 and json.load(open(f"{out5}/report.json"))["model"].endswith("a-zh"),
          "a Chinese prompt picks the Chinese-CLIP model")

    # no model: the offline looks, said in one line
    out6 = f"{tmp}/out6"
    r = run("grade", PHOTO, "warm film", "-o", out6)
    check(r.returncode == 0 and "offline looks" in r.stderr and "download-models.sh" in r.stderr,
          "without a model: offline looks, and how to get a model")
    check(os.path.exists(f"{out6}/look.cube") and json.load(open(f"{out6}/report.json"))["start"]["clip"] is None,
          "offline looks still write every output")

    # a hostile prompt (invalid UTF-8) is refused in one line; quotes, newline
    # and backslashes still give a LUT every tool loads
    r = subprocess.run([DLUT, "grade", PHOTO, 'bad \udcff', "--model", TINY, "--steps", "2", "-q", "-o", f"{tmp}/bad"],
                       capture_output=True, env={**os.environ, "DLUT_MODELS": "/nonexistent"}, errors="surrogateescape")
    check(r.returncode == 2 and "UTF-8" in r.stderr and r.stderr.count("\n") == 1 and not os.path.exists(f"{tmp}/bad"),
          f"a prompt that is not UTF-8 is refused ({r.stderr.strip()})")
    out7 = f"{tmp}/out7"
    r = subprocess.run([DLUT, "grade", PHOTO, 'say "hi"\nthere \\ ok', "--model", TINY, "--steps", "2",
                        "--size", "5", "-q", "-o", out7], capture_output=True,
                       env={**os.environ, "DLUT_MODELS": "/nonexistent"}, errors="surrogateescape")
    ok = r.returncode == 0
    if ok:
        ocio_apply(f"{out7}/look.cube", photo[:4, :4].copy())
        ffmpeg_rgb(PHOTO, f"lut3d=file={out7}/look.cube")
    check(ok, "a prompt with quotes, newline and backslashes gives a loadable look.cube")

    # Ctrl-C stops between steps and still writes the best LUT so far
    import signal, time
    out8 = f"{tmp}/out8"
    e = dict(os.environ, DLUT_MODELS="/nonexistent")
    pr = subprocess.Popen([DLUT, "grade", PHOTO, "warm", "--model", TINY, "--steps", "1000000", "--size", "5",
                           "--samples", "64", "-q", "-o", out8], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    time.sleep(3)
    pr.send_signal(signal.SIGINT)
    try:
        pr.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        pr.kill()
        pr.communicate()
    ok = pr.returncode == 130 and os.path.exists(f"{out8}/report.json")
    rep8 = json.load(open(f"{out8}/report.json")) if ok else {}
    check(ok and "cancel" in rep8.get("stopped", "") and os.path.exists(f"{out8}/look.cube"),
          f"Ctrl-C keeps the best LUT (rc {pr.returncode}, {rep8.get('steps')} steps)")

    # bad input: clear one-line errors, right exit codes, never a crash
    r = run("grade", PHOTO, "", "--model", TINY)
    check(r.returncode == 2 and "empty prompt" in r.stderr, "empty prompt is a usage error")
    r = run("grade", PHOTO, "warm", "--model", f"{tmp}/no-such-model")
    check(r.returncode == 1 and r.stderr.count("\n") == 1 and "model" in r.stderr, "missing model folder: one line")
    os.makedirs(f"{tmp}/broken-model")
    open(f"{tmp}/broken-model/config.json", "w").write("{ not json")
    r = run("grade", PHOTO, "warm", "--model", f"{tmp}/broken-model")
    check(r.returncode == 1 and r.stderr.startswith("dlut grade:"), f"unreadable model: {r.stderr.strip()}")
    open(f"{tmp}/bad.png", "wb").write(b"\x89PNG\r\n\x1a\nnot really")
    r = run("grade", f"{tmp}/bad.png", "warm", "--model", TINY)
    check(r.returncode == 1 and r.stderr.startswith("dlut grade:"), "unreadable photo: an error, not a crash")
    r = run("grade", PHOTO, "warm", "--model", TINY, "--size", "1")
    check(r.returncode == 2, "bad --size is a usage error")

    # dlut fit: recover the graded look from the before/after pair
    fitted = f"{tmp}/fit.cube"
    r = run("fit", PHOTO, f"{out}/graded.png", "-o", fitted, "--size", "17")
    check(r.returncode == 0, f"dlut fit runs ({r.stderr.strip()})")
    fo = np.clip(np.rint(ocio_apply(fitted, photo) * 255), 0, 255).astype(np.int32)
    d = np.abs(fo - graded)
    check(d.mean() < 1.0, f"fitted LUT (through OpenColorIO) reproduces the grade: mean {d.mean():.3f}/255")
    r = run("fit", PHOTO, f"{SHARED}/data/photos/coffee.png", "-o", fitted)
    check(r.returncode == 1 and "size" in r.stderr, "fit refuses photos of different sizes")

print(f"{failed()} failed")
sys.exit(1 if failed() else 0)
