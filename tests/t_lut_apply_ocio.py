#!/usr/bin/python3
"""DLUT's interpolation kernels against OpenColorIO and FFmpeg on ROUGH LUTs.

Smooth LUTs hide interpolation mistakes (on a smooth table tetrahedral,
trilinear and even a wrong tetrahedron split agree to within a code), so
here every table entry is independent uniform noise in [0,1]: a wrong
split, a wrong vertex or a wrong axis order shows up as a large error.

For sizes 2, 5, 17 and 33 (16-bit) and 17, 33, 65 (8-bit), a random .cube
is written by numpy and 65536 random colours (plus the cube's corners)
go through
  - `dlut apply in.ppm --lut x.cube -o out.ppm [--interp trilinear]` (PPM,
    16-bit or 8-bit: the U16 and the SIMD U8 paths),
  - OpenColorIO (FileTransform, INTERP_TETRAHEDRAL / INTERP_LINEAR, float),
    rounded to the bit depth: must agree within 1 code,
  - FFmpeg lut3d (rgb48 / rgb24, interp=tetrahedral / trilinear), which
    truncates (av_clip_uintN(v * max)): must agree within 1 code.
Also checks that tetrahedral and trilinear really differ on these tables
(so the comparison has teeth). Needs $DLUT. Exits non-zero on a mismatch.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import PyOpenColorIO as ocio

DLUT = os.environ.get("DLUT", "build/dlut")
failures = 0


def check(ok, what):
    global failures
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures += 1


def write_ppm(path, rgb, maxval):
    h, w, _ = rgb.shape
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n%d\n" % (w, h, maxval))
        f.write(rgb.astype(">u2" if maxval > 255 else np.uint8).tobytes())


def read_ppm(path, maxval):
    d = open(path, "rb").read()
    fields, i = [], 0
    while len(fields) < 4:
        while d[i:i + 1].isspace():
            i += 1
        if d[i:i + 1] == b"#":
            while d[i:i + 1] != b"\n":
                i += 1
            continue
        j = i
        while not d[j:j + 1].isspace():
            j += 1
        fields.append(d[i:j])
        i = j
    w, h, m = int(fields[1]), int(fields[2]), int(fields[3])
    assert m == maxval, f"{path}: maxval {m}, expected {maxval}"
    return np.frombuffer(d, ">u2" if m > 255 else np.uint8, w * h * 3, i + 1).reshape(h, w, 3).astype(np.int64)


def write_cube(path, table):  # table[b, g, r, c], red fastest in the file
    n = table.shape[0]
    with open(path, "w") as f:
        f.write(f"LUT_3D_SIZE {n}\n")
        for v in table.reshape(-1, 3):
            f.write("%.7f %.7f %.7f\n" % tuple(v))


def ocio_apply(cube, rgb_float, interp):
    cfg = ocio.Config.CreateRaw()
    t = ocio.FileTransform(src=cube, interpolation=interp, direction=ocio.TRANSFORM_DIR_FORWARD)
    cpu = cfg.getProcessor(t).getDefaultCPUProcessor()
    img = np.ascontiguousarray(rgb_float, dtype=np.float32).copy()
    cpu.applyRGB(img)
    return img


def ffmpeg_apply(ppm, cube, interp, w, h, maxval):
    fmt = "rgb48le" if maxval > 255 else "rgb24"
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", ppm, "-vf", f"lut3d=file={cube}:interp={interp}",
                          "-pix_fmt", fmt, "-f", "rawvideo", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(out, "<u2" if maxval > 255 else np.uint8).reshape(h, w, 3).astype(np.int64)


def main():
    rng = np.random.default_rng(20261121)
    w, h = 256, 256
    with tempfile.TemporaryDirectory() as tmp:
        for maxval in (65535, 255):
            src = rng.integers(0, maxval + 1, (h, w, 3))
            src[0, :8] = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1],
                                   [0.5, 0.5, 0.5], [1, 1, 0], [0.01, 0.99, 0.4]]) * maxval // 1
            ppm = f"{tmp}/in{maxval}.ppm"
            write_ppm(ppm, src, maxval)
            bits = 16 if maxval > 255 else 8
            for n in ((2, 5, 17, 33) if bits == 16 else (17, 33, 65)):
                table = rng.random((n, n, n, 3))
                cube = f"{tmp}/rough{n}-{bits}.cube"  # a new name: OpenColorIO caches files by path
                write_cube(cube, table)
                ours = {}
                for mode, oi in (("tetrahedral", ocio.INTERP_TETRAHEDRAL), ("trilinear", ocio.INTERP_LINEAR)):
                    what = f"{bits}-bit size {n} {mode}"
                    out = f"{tmp}/out-{bits}-{n}-{mode}.ppm"
                    r = subprocess.run([DLUT, "apply", ppm, "--lut", cube, "--interp", mode, "-o", out],
                                       capture_output=True, text=True)
                    check(r.returncode == 0, f"dlut apply {what} {r.stderr.strip()}")
                    if r.returncode != 0:
                        continue
                    got = read_ppm(out, maxval)
                    ours[mode] = got
                    ref = ocio_apply(cube, src / float(maxval), oi)
                    refq = np.clip(np.rint(ref * maxval), 0, maxval).astype(np.int64)
                    d = np.abs(got - refq)
                    check(d.max() <= 1, f"{what}: OpenColorIO max diff {d.max()} codes (mean {d.mean():.4f})")
                    ff = ffmpeg_apply(ppm, cube, mode, w, h, maxval)
                    d = np.abs(got - ff)
                    check(d.max() <= 1, f"{what}: FFmpeg max diff {d.max()} codes (mean {d.mean():.4f})")
                if n > 2 and len(ours) == 2:
                    d = np.abs(ours["tetrahedral"] - ours["trilinear"])
                    check(d.max() > maxval // 30, f"{bits}-bit size {n}: tetrahedral and trilinear differ "
                          f"(max {d.max()} codes)")
    print(f"t_lut_apply_ocio: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
