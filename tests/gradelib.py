"""What the grading tests (t_grade.py, t_grade_set.py, t_grade_set_log.py,
t_region.py) share: where dlut and the shared data are, check() and the
count of failed checks, running dlut with no CLIP model to be found, and
the reference tools' side (an image decoded by FFmpeg, a LUT applied by
OpenColorIO)."""
import os
import subprocess
import sys

import numpy as np

DLUT = os.environ.get("DLUT", "build/dlut")
SHARED = os.environ.get("DLUT_SHARED", "../shared")
PHOTOS = f"{SHARED}/data/photos"
TINY = f"{SHARED}/data/clip-ref/openai_tiny"

_fails = 0


def check(cond, what):
    """Print ok or FAIL (on stderr) for one check; failed() counts the FAILs."""
    global _fails
    if not cond:
        _fails += 1
        print(f"FAIL: {what}", file=sys.stderr)
    else:
        print(f"ok: {what}")


def failed():
    return _fails


def run(*args, env=None):
    """dlut ARGS with no model to be found ($DLUT_MODEL unset, $DLUT_MODELS empty), plus env."""
    e = dict(os.environ)
    e.pop("DLUT_MODEL", None)
    e["DLUT_MODELS"] = "/nonexistent-dlut-models"
    if env:
        e.update(env)
    return subprocess.run([DLUT, *args], capture_output=True, text=True, env=e)


def ffmpeg_rgb(path, vf=None):
    """Decode an image with FFmpeg to an (h, w, 3) uint8 array."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    w, h = map(int, probe.stdout.strip().split(","))
    cmd = ["ffmpeg", "-v", "error", "-i", path]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(h, w, 3)


def ocio_apply(lut_path, rgb8):
    """The LUT file applied by OpenColorIO (tetrahedral) to 8-bit codes:
    an (h, w, 3) float32 array in [0,1] units."""
    import PyOpenColorIO as ocio

    cfg = ocio.Config.CreateRaw()
    t = ocio.FileTransform(src=lut_path, interpolation=ocio.INTERP_TETRAHEDRAL, direction=ocio.TRANSFORM_DIR_FORWARD)
    cpu = cfg.getProcessor(t).getDefaultCPUProcessor()
    img = (rgb8.astype(np.float32) / 255.0).copy()
    cpu.applyRGB(img)
    return img
