#!/usr/bin/env python3
"""tests/t_grade_set_log.py - `dlut grade --input NAME` on camera log footage,
checked with OpenColorIO: the look.cube written (a 1D shaper + 3D table in
Resolve's layout, for log input), applied by OCIO to the log-encoded image,
matches DLUT's own graded result within 1 code; the same for a set of log
frames with the tiny CLIP model. The log images are real photos encoded with
Sony's published S-Log3 formula (S-Log3 technical summary, Sony 2016),
written here in numpy.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradelib import PHOTOS, TINY, check, failed, run  # noqa: E402
import PyOpenColorIO as ocio


def ffmpeg_rgb16(path):
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    w, h = map(int, probe.stdout.strip().split(","))
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb48le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, "<u2").reshape(h, w, 3).astype(np.float64) / 65535


def slog3_encode(x):
    """Sony S-Log3: scene-linear reflectance -> code value / 1023."""
    return np.where(x >= 0.01125, (420.0 + np.log10((x + 0.01) / (0.18 + 0.01)) * 261.5) / 1023.0,
                    (x * (171.2102946929 - 95.0) / 0.01125 + 95.0) / 1023.0)


def write_ppm16(path, img):
    h, w, _ = img.shape
    q = np.rint(np.clip(img, 0, 1) * 65535).astype(">u2")
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n65535\n" % (w, h) + q.tobytes())


def read_ppm16(path):
    d = open(path, "rb").read()
    parts = d.split(b"\n", 3)
    w, h = map(int, parts[1].split())
    return np.frombuffer(parts[3], ">u2").reshape(h, w, 3).astype(np.float64) / 65535


def log_frame(photo, path, gain):
    srgb = ffmpeg_rgb16(photo)
    lin = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4) * gain
    write_ppm16(path, slog3_encode(lin))
    return read_ppm16(path)  # exactly the code values dlut reads


def ocio_apply(lut, img):
    cfg = ocio.Config.CreateRaw()
    t = ocio.FileTransform(src=lut, interpolation=ocio.INTERP_TETRAHEDRAL, direction=ocio.TRANSFORM_DIR_FORWARD)
    out = img.astype(np.float32).copy()
    cfg.getProcessor(t).getDefaultCPUProcessor().applyRGB(out)
    return np.clip(out.astype(np.float64), 0, 1)


def header(lut):
    return [ln for ln in open(lut).read(4000).splitlines() if ln.startswith("LUT_")]


with tempfile.TemporaryDirectory() as tmp:
    r = run("grade", "--input", "help")
    check(r.returncode == 0 and "slog3" in r.stdout and "acescct" in r.stdout, "dlut grade --input help lists them")
    r = run("grade", f"{PHOTOS}/coffee.png", "warm", "--input", "bogus", "-o", f"{tmp}/x")
    check(r.returncode == 2 and "applelog" in r.stderr and not os.path.exists(f"{tmp}/x"),
          f"--input bogus: usage error naming the valid ones ({r.stderr.strip()})")

    src = f"{tmp}/chelsea_slog3.ppm"
    codes = log_frame(f"{PHOTOS}/chelsea.png", src, 1.5)
    out = f"{tmp}/out"
    r = run("grade", src, "teal and orange, high contrast", "--input", "slog3", "-o", out, "-q")
    check(r.returncode == 0, f"dlut grade LOG.ppm --input slog3 runs offline (rc {r.returncode}: {r.stderr.strip()})")
    if r.returncode == 0:
        h = header(f"{out}/look.cube")
        check("LUT_1D_SIZE 4096" in h and "LUT_3D_SIZE 65" in h, f"look.cube: shaper + 3D for log input {h}")
        rep = json.load(open(f"{out}/report.json"))
        check(rep["settings"].get("input") == "slog3", "report.json: input slog3")
        got = read_ppm16(f"{out}/graded.ppm")
        ref = ocio_apply(f"{out}/look.cube", codes)
        err = np.abs(got - ref) * 255
        check(err.max() <= 1.0, f"OCIO applying look.cube to the log image = DLUT's graded.ppm: worst {err.max():.3f}, "
              f"mean {err.mean():.4f} (x/255)")
        # the grade is a real one, and it is graded on the displayed picture, not on flat log values
        check(np.abs(got - codes).mean() * 255 > 10, "the log image is rendered and graded (not left flat)")

    # a set of log frames through the tiny model: one LUT, every graded frame = look.cube in OCIO
    srcs = []
    for name, gain in (("coffee.png", 1.0), ("astronaut.png", 2.0)):
        p = f"{tmp}/{name[:-4]}_slog3.ppm"
        log_frame(f"{PHOTOS}/{name}", p, gain)
        srcs.append(p)
    o = f"{tmp}/set"
    r = run("grade", *srcs, "cold teal night", "--input", "slog3", "--model", TINY, "--steps", "5", "--size", "17",
            "-o", o, "-q")
    check(r.returncode == 0, f"a set of log frames through CLIP (rc {r.returncode}: {r.stderr.strip()})")
    if r.returncode == 0:
        worst = 0.0
        for p in srcs:
            got = read_ppm16(f"{o}/graded/{os.path.basename(p)}")
            ref = ocio_apply(f"{o}/look.cube", read_ppm16(p))
            worst = max(worst, float(np.abs(got - ref).max() * 255))
        check(worst <= 1.0, f"every graded frame = OCIO applying the set's look.cube to it: worst {worst:.3f}/255")

print(f"t_grade_set_log: {'FAIL' if failed() else 'ok'} ({failed()} failed)")
sys.exit(1 if failed() else 0)
