#!/usr/bin/python3
"""Real-world LUT files through `dlut convert`, read back by OpenColorIO.

The film-emulation Hald CLUTs in shared/data/film-refs (RawTherapee's
collection, level 12 = 144^3; read there, never copied) are converted by
dlut to .cube and .3dl, and OpenColorIO applies what dlut wrote to a real
photo. That must match, within 1 code at 8 bits, dlut applying the original
Hald, and within 2 codes FFmpeg's haldclut applying the original (FFmpeg
truncates where the others round). OpenColorIO reads lattices of at most
129 points, so the 144^3 references are resampled to 129; where that costs
more than half a code, `dlut convert` says so ("up to X 8-bit codes off"),
and then the bound is the one it stated (plus a code of rounding). Exits
non-zero on any mismatch."""
import math
import re
import os
import subprocess
import sys
import tempfile

import numpy as np
import PyOpenColorIO as OCIO

DLUT = os.environ.get("DLUT") or os.path.abspath("build/dlut")
SHARED = os.environ.get("DLUT_SHARED") or os.path.abspath("../shared")
REFS = os.path.join(SHARED, "data", "film-refs")
PHOTO = os.path.join(SHARED, "data", "photos", "coffee.png")
STOCKS = ["kodak_portra_160.png", "fuji_velvia_100_generic.png", "ilford_delta_100.png", "lomography_redscale_100.png"]


def raw(*args):
    out = subprocess.run(["ffmpeg", "-v", "error", *args, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, 3).astype(int)


def main():
    fails = 0
    px = (raw("-i", PHOTO) / 255.0).astype(np.float32)
    cfg = OCIO.Config.CreateRaw()
    with tempfile.TemporaryDirectory() as tmp:
        for stock in STOCKS:
            src = os.path.join(REFS, stock)
            if not os.path.exists(src):
                print("FAIL: %s missing (set DLUT_SHARED)" % src)
                return 1
            ours = os.path.join(tmp, "ours.png")
            subprocess.run([DLUT, "apply", PHOTO, "--lut", src, "-o", ours], check=True)
            want = raw("-i", ours)
            ff = raw("-i", PHOTO, "-i", src, "-filter_complex", "[0][1]haldclut")
            for ext in ("cube", "3dl"):
                out = os.path.join(tmp, stock[:-4] + "." + ext)  # a name per LUT: OCIO caches files by path
                r = subprocess.run([DLUT, "convert", src, out], capture_output=True, text=True)
                if r.returncode != 0:
                    print("FAIL %s -> .%s: %s" % (stock, ext, r.stderr.strip()))
                    fails += 1
                    continue
                a = px.copy()
                proc = cfg.getProcessor(OCIO.FileTransform(src=out, interpolation=OCIO.INTERP_TETRAHEDRAL))
                proc.getDefaultCPUProcessor().applyRGB(a)
                got = np.round(np.clip(a, 0, 1) * 255).astype(int)
                d_dlut, d_ff = int(np.abs(got - want).max()), int(np.abs(got - ff).max())
                m = re.search(r"up to ([0-9.]+) 8-bit codes off", r.stderr)
                stated = math.ceil(float(m.group(1))) if m else 0  # what convert said the format cost
                ok = d_dlut <= max(1, stated + 1) and d_ff <= max(2, stated + 2)
                if m:
                    print("     (dlut convert said: %s)" % r.stderr.strip().split("note: ", 1)[-1][:90])
                print("%s %-32s .%-4s OCIO vs dlut(original) %d, vs FFmpeg haldclut(original) %d"
                      % ("ok  " if ok else "FAIL", stock, ext, d_dlut, d_ff))
                fails += not ok
    print("%d failures" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
