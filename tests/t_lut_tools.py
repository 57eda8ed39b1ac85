#!/usr/bin/python3
"""dlut's LUT files and `dlut apply` checked against tools nobody here wrote.

For every variant below, a random but smooth LUT is written by numpy (the
file is the ground truth), applied to real photos by `dlut apply`, by
OpenColorIO 2.1 (FileTransform, INTERP_TETRAHEDRAL / INTERP_LINEAR, on the
float image) and by FFmpeg (lut3d / haldclut, interp=tetrahedral|trilinear),
and the results must agree within 1 code (8-bit and 16-bit photos):

  cube-adobe      .cube, LUT_3D_SIZE 33                       OCIO, FFmpeg
  cube-1d         .cube, LUT_1D_SIZE 1024                     OCIO, FFmpeg lut1d
  cube-domain02   .cube, DOMAIN_MAX 2 2 2 (min 0)             OCIO, FFmpeg
  cube-domain     .cube, DOMAIN -0.25..1.25 (min != 0)        OCIO (FFmpeg ignores DOMAIN_MIN, see docs)
  cube-resolve    .cube, 1D shaper + 3D, LUT_*_INPUT_RANGE    OCIO (FFmpeg lut3d cannot read it)
  3dl             .3dl size 17, 12-bit                        OCIO, FFmpeg
  hald            Hald CLUT .png level 4 (16^3)               FFmpeg haldclut; ImageMagick -hald-clut
  converted-*     LUTs written by `dlut convert` (.cube with domain, 1D .cube, .cube with shaper, .3dl, Hald)
                  read by OCIO / FFmpeg / ImageMagick and compared with dlut applying the original

ImageMagick's -hald-clut interpolates trilinearly through its own pixel
interpolation; it is compared with dlut --interp trilinear (stated
tolerance below) and exactly at lattice points.

Also: the same random colours (16-bit image, every pixel different) through
dlut and OCIO for each file written by `dlut convert`, within 1 16-bit code.

Exits non-zero on any mismatch. Needs $DLUT (the binary), $DLUT_SHARED.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import PyOpenColorIO as OCIO

DLUT = os.environ.get("DLUT") or os.path.abspath("build/dlut")
SHARED = os.environ.get("DLUT_SHARED") or os.path.abspath("../shared")
PHOTOS = os.path.join(SHARED, "data", "photos")
FAILS = []
ROWS = []
# Tool launches dominate the run time; independent comparisons run on a few
# threads (each waits on its own subprocesses). Rows are printed in
# submission order.
POOL = ThreadPoolExecutor(max_workers=6)
JOBS = []


def submit(fn, *args):
    JOBS.append(POOL.submit(fn, *args))


def sh(*cmd, stdin=None):
    r = subprocess.run(list(cmd), input=stdin, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.decode(errors="replace")[-800:]))
    return r.stdout


def probe(path):
    """(width, height) of a PNG from its IHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise RuntimeError("%s: not a PNG" % path)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def read_ppm(path):
    """A binary PPM (P6, 8 or 16 bit) as (H, W, 3) int64."""
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1
    assert fields[0] == b"P6", path
    w, h, maxv = int(fields[1]), int(fields[2]), int(fields[3])
    dt = np.uint8 if maxv < 256 else ">u2"
    return np.frombuffer(data, dtype=dt, count=w * h * 3, offset=pos).reshape(h, w, 3).astype(np.int64)


def decode(path, bits):
    """Pixels of an image as (H, W, 3) uint8/uint16 through FFmpeg's decoder."""
    w, h = probe(path)
    fmt, dt = ("rgb24", np.uint8) if bits == 8 else ("rgb48le", "<u2")
    raw = sh("ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", fmt, "-")
    return np.frombuffer(raw, dtype=dt).reshape(h, w, 3).astype(np.int64)


def encode_png(arr, path):
    """(H, W, 3) uint8/uint16 array to PNG via FFmpeg."""
    h, w, _ = arr.shape
    if arr.dtype == np.uint8:
        fmt, data = "rgb24", arr.tobytes()
    else:
        fmt, data = "rgb48le", arr.astype("<u2").tobytes()
    pix = "rgb24" if fmt == "rgb24" else "rgb48be"
    sh("ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", fmt, "-s", "%dx%d" % (w, h), "-i", "-",
       "-pix_fmt", pix, path, stdin=data)


# ==== LUT generation (numpy) and writers ====

def smooth_lut(n, seed, lo=0.0, hi=1.0):
    """A random smooth grade on an n^3 lattice over [lo,hi]^3, red fastest:
    per-channel monotone curves, a luminance-dependent hue twist about the
    grey axis and a saturation change. (n^3, 3) float64."""
    rng = np.random.default_rng(seed)
    g = np.linspace(lo, hi, n)
    b, gg, r = np.meshgrid(g, g, g, indexing="ij")
    x = np.stack([r, gg, b], -1).reshape(-1, 3)
    xc = np.clip(x, 0, 1)
    gam = rng.uniform(0.7, 1.4, 3)
    lift = rng.uniform(-0.03, 0.05, 3)
    gain = rng.uniform(0.9, 1.05, 3)
    y = lift + (gain - lift) * xc ** gam
    y = y + 0.06 * np.sin(np.pi * xc) * rng.uniform(-1, 1, 3)
    y = y + 0.1 * (x - xc)  # gentle slope outside [0,1] for wide domains
    lum = y @ np.array([0.2126, 0.7152, 0.0722])
    ang = rng.uniform(-0.5, 0.5) * (lum - 0.5)
    k = np.ones(3) / np.sqrt(3)
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    rot = y * c + np.cross(k, y) * s + np.outer(y @ k, k) * (1 - c)
    sat = rng.uniform(0.8, 1.2)
    return lum[:, None] + sat * (rot - lum[:, None])


def fmt6(v):
    return "%.7f" % v


def write_cube(path, table, n, title=None, domain=None, shaper=None, r1=None, r3=None):
    with open(path, "w") as f:
        if title:
            f.write('TITLE "%s"\n' % title)
        if shaper is not None:
            f.write("LUT_1D_SIZE %d\n" % len(shaper))
            f.write("LUT_1D_INPUT_RANGE %s %s\n" % (fmt6(r1[0]), fmt6(r1[1])))
            f.write("LUT_3D_SIZE %d\n" % n)
            f.write("LUT_3D_INPUT_RANGE %s %s\n" % (fmt6(r3[0]), fmt6(r3[1])))
            for v in shaper:
                f.write("%s %s %s\n" % tuple(fmt6(t) for t in v))
        else:
            f.write("LUT_3D_SIZE %d\n" % n)
            if domain:
                f.write("DOMAIN_MIN %s %s %s\n" % ((fmt6(domain[0]),) * 3))
                f.write("DOMAIN_MAX %s %s %s\n" % ((fmt6(domain[1]),) * 3))
        for v in table:
            f.write("%s %s %s\n" % tuple(fmt6(t) for t in v))


def write_3dl(path, table, n, bits=12):
    m = (1 << bits) - 1
    t = table.reshape(n, n, n, 3)  # [b][g][r]
    with open(path, "w") as f:
        f.write("# numpy-written .3dl\n")
        f.write(" ".join(str(int(round(i * 1023 / (n - 1)))) for i in range(n)) + "\n")
        for r in range(n):
            for g in range(n):
                for b in range(n):
                    q = np.round(np.clip(t[b, g, r], 0, 1) * m).astype(int)
                    f.write("%d %d %d\n" % tuple(q))
    # what the file really holds, for references that read it exactly
    return np.round(np.clip(table, 0, 1) * m) / m


def write_hald(path, table, level, bits=16):
    w = level ** 3
    m = 255 if bits == 8 else 65535
    q = np.round(np.clip(table, 0, 1) * m).astype(np.uint8 if bits == 8 else np.uint16)
    encode_png(q.reshape(w, w, 3), path)


# ==== The three implementations ====

def dlut_apply(img_path, lut_path, interp, out_path):
    """dlut's result as pixels; written as PPM (same bit depth as the input)
    so that reading it back needs no other decoder."""
    out_path = os.path.splitext(out_path)[0] + ".ppm"
    sh(DLUT, "apply", img_path, "--lut", lut_path, "--interp", interp, "-o", out_path)
    return read_ppm(out_path)


def ocio_apply(lut_path, pixels, bits, interp):
    cfg = OCIO.Config.CreateRaw()
    ft = OCIO.FileTransform(src=lut_path, interpolation=OCIO.INTERP_TETRAHEDRAL if interp == "tetrahedral"
                            else OCIO.INTERP_LINEAR, direction=OCIO.TRANSFORM_DIR_FORWARD)
    cpu = cfg.getProcessor(ft).getDefaultCPUProcessor()
    m = 255.0 if bits == 8 else 65535.0
    f = (pixels.astype(np.float32) / np.float32(m)).reshape(-1, 3).copy()
    cpu.applyRGB(f)
    return np.round(np.clip(f, 0, 1) * m).astype(np.int64).reshape(pixels.shape)


def ffmpeg_lut3d(img_path, lut_path, bits, interp):
    w, h = probe(img_path)
    fmt, dt = ("rgb24", np.uint8) if bits == 8 else ("rgb48le", "<u2")
    raw = sh("ffmpeg", "-v", "error", "-i", img_path, "-vf", "format=%s,lut3d=file=%s:interp=%s" % (
        "rgb24" if bits == 8 else "rgb48le", lut_path, interp), "-f", "rawvideo", "-pix_fmt", fmt, "-")
    return np.frombuffer(raw, dtype=dt).reshape(h, w, 3).astype(np.int64)


def ffmpeg_lut1d(img_path, lut_path, bits, interp):
    w, h = probe(img_path)
    fmt, dt = ("rgb24", np.uint8) if bits == 8 else ("rgb48le", "<u2")
    raw = sh("ffmpeg", "-v", "error", "-i", img_path, "-vf", "format=%s,lut1d=file=%s:interp=linear" % (fmt, lut_path),
             "-f", "rawvideo", "-pix_fmt", fmt, "-")
    return np.frombuffer(raw, dtype=dt).reshape(h, w, 3).astype(np.int64)


def ffmpeg_haldclut(img_path, hald_path, bits, interp):
    w, h = probe(img_path)
    fmt, dt = ("rgb24", np.uint8) if bits == 8 else ("rgb48le", "<u2")
    raw = sh("ffmpeg", "-v", "error", "-i", img_path, "-i", hald_path, "-filter_complex",
             "[0:v]format=%s[a];[1:v]format=rgb48le[b];[a][b]haldclut=interp=%s" % (fmt, interp),
             "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", fmt, "-")
    return np.frombuffer(raw, dtype=dt).reshape(h, w, 3).astype(np.int64)


def imagemagick_hald(img_path, hald_path, out_path, bits):
    sh("convert", img_path, hald_path, "-hald-clut", "-depth", str(bits), out_path)
    return decode(out_path, bits)


def compare(variant, photo, interp, name, ours, ref, tol, bits):
    d = np.abs(ours - ref)
    mx = int(d.max())
    row = (variant, photo, bits, interp, name, mx, float(d.mean()), float((d == 0).mean() * 100))
    ROWS.append(row)  # list.append is atomic under the GIL
    if mx > tol:
        FAILS.append("%s %s %d-bit %s vs %s: max diff %d > %d codes" % (variant, photo, bits, interp, name, mx, tol))


def main():
    tmp = tempfile.mkdtemp(prefix="dlut-t_lut_tools-")
    try:
        run(tmp)
        for j in JOBS:
            j.result()  # re-raises a failed tool run
    finally:
        POOL.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%-22s %-14s %4s %-12s %-22s %5s %9s %8s" % ("variant", "photo", "bits", "interp", "reference", "max",
                                                        "mean", "exact%"))
    for r in sorted(ROWS):
        print("%-22s %-14s %4d %-12s %-22s %5d %9.4f %8.2f" % r)
    if FAILS:
        print("\nFAILED:\n  " + "\n  ".join(FAILS))
        sys.exit(1)
    print("\nall %d comparisons within tolerance" % len(ROWS))


def run(tmp):
    # Inputs: a mosaic of real photos side by side (astronaut.png,
    # coffee.png and rocket.jpg, the JPEG decoded once so that every tool
    # sees the same pixels; one image keeps the number of tool launches
    # down), and a 16-bit PNG with real 16-bit content made from chelsea.png.
    parts = []
    for name in ("astronaut.png", "coffee.png", "rocket.jpg"):
        p = os.path.join(PHOTOS, name)
        if name.endswith(".jpg"):
            q = os.path.join(tmp, "rocket.png")
            sh("convert", p, "-strip", "-resize", "400x400", q)
            p = q
        a = decode(p, 8)
        parts.append(a[:400, :400])
    h = max(a.shape[0] for a in parts)
    mosaic = np.zeros((h, sum(a.shape[1] for a in parts), 3), np.uint8)
    x = 0
    for a in parts:
        mosaic[:a.shape[0], x:x + a.shape[1]] = a
        x += a.shape[1]
    p8 = os.path.join(tmp, "photos8.png")
    encode_png(mosaic, p8)
    p16 = os.path.join(tmp, "chelsea16.png")
    src = decode(os.path.join(PHOTOS, "chelsea.png"), 8).astype(np.float64) / 255.0
    encode_png(np.round(src ** 0.9 * 65535).astype(np.uint16), p16)
    photos = [("photos8", p8, 8), ("chelsea16", p16, 16)]
    pix = {name: decode(path, bits) for name, path, bits in photos}
    interps = ("tetrahedral", "trilinear")

    def check_file(variant, lut_path, refs, ffmpeg_3dl=False):
        for name, path, bits in photos:
            for it in interps:
                submit(one, variant, lut_path, refs, ffmpeg_3dl, name, path, bits, it)

    def one(variant, lut_path, refs, ffmpeg_3dl, name, path, bits, it):
        ours = dlut_apply(path, lut_path, it, os.path.join(tmp, "out-%s-%s-%s" % (variant, it, name)))
        if "ocio" in refs:
            compare(variant, name, it, "OCIO", ours, ocio_apply(lut_path, pix[name], bits, it), 1, bits)
        if "ffmpeg1d" in refs:  # a 1D LUT is linear whatever --interp says
            compare(variant, name, it, "FFmpeg lut1d linear", ours, ffmpeg_lut1d(path, lut_path, bits, it), 1, bits)
        if "ffmpeg" in refs:
            ref = ffmpeg_lut3d(path, lut_path, bits, it)
            if ffmpeg_3dl and bits == 16:
                # FFmpeg 5.1 parse_3dl divides 12-bit codes by 4096, not
                # 4095: its output is ours * 4095/4096 (16 codes at white).
                compare(variant, name, it, "FFmpeg lut3d (ours*4095/4096)", np.round(ours * 4095 / 4096), ref, 1,
                        bits)
            else:
                compare(variant, name, it, "FFmpeg lut3d", ours, ref, 1, bits)

    # -- .cube, Adobe, 33^3
    f = os.path.join(tmp, "adobe.cube")
    write_cube(f, smooth_lut(33, 1), 33, title="adobe random")
    check_file("cube-adobe", f, ("ocio", "ffmpeg"))

    # -- .cube, 1D only (per-channel curves, 1024 entries, one reversed)
    xs = np.linspace(0, 1, 1024)
    f = os.path.join(tmp, "oned.cube")
    with open(f, "w") as fh:
        fh.write("LUT_1D_SIZE 1024\n")
        for v in xs:
            fh.write("%.7f %.7f %.7f\n" % (v ** 0.7, 0.5 - 0.5 * np.cos(np.pi * v), 1 - v))
    check_file("cube-1d", f, ("ocio", "ffmpeg1d"))

    # -- .cube, DOMAIN 0..2: lattice spans [0,2], photos use the lower half.
    f = os.path.join(tmp, "domain02.cube")
    write_cube(f, smooth_lut(17, 2, 0.0, 2.0), 17, domain=(0.0, 2.0))
    check_file("cube-domain02", f, ("ocio", "ffmpeg"))

    # -- .cube, DOMAIN -0.25..1.25 (FFmpeg 5.1 ignores DOMAIN_MIN: OCIO only)
    f = os.path.join(tmp, "domain.cube")
    write_cube(f, smooth_lut(17, 3, -0.25, 1.25), 17, domain=(-0.25, 1.25))
    check_file("cube-domain", f, ("ocio",))

    # -- .cube, Resolve: 1D shaper (a log-like curve over [0,1]) then 3D
    # over the shaper's output range [0,1]. FFmpeg's lut3d cannot read it.
    xs = np.linspace(0, 1, 1024)
    shaper = np.repeat((np.log2(1 + 15 * xs) / 4)[:, None], 3, 1)
    resolve = os.path.join(tmp, "resolve.cube")
    write_cube(resolve, smooth_lut(33, 4), 33, shaper=shaper, r1=(0.0, 1.0), r3=(0.0, 1.0))
    check_file("cube-resolve", resolve, ("ocio",))

    # -- .3dl, 17^3 (the only size FFmpeg reads), 12-bit
    f = os.path.join(tmp, "look.3dl")
    write_3dl(f, smooth_lut(17, 5), 17)
    check_file("3dl", f, ("ocio", "ffmpeg"), ffmpeg_3dl=True)

    # -- Hald level 4 (16^3), 16-bit PNG: FFmpeg haldclut (both interps),
    # ImageMagick -hald-clut (trilinear).
    hald = os.path.join(tmp, "hald.png")
    write_hald(hald, smooth_lut(16, 6), 4)
    check_hald("hald", hald, photos, pix, tmp)

    # ==== LUTs written by dlut convert, read by the others ====
    # Sources are kept inside [0,1]: .3dl and Hald clamp on writing, and a
    # clamp at the lattice differs from a clamp after interpolation.
    # .cube with a domain -> .cube (dlut's writer: DOMAIN, TITLE)
    dom_src = os.path.join(tmp, "dom-src.cube")
    write_cube(dom_src, smooth_lut(17, 8, 0.0, 2.0), 17, domain=(0.0, 2.0))
    conv_dom = os.path.join(tmp, "conv-domain.cube")
    sh(DLUT, "convert", dom_src, conv_dom, "--title", "converted")
    check_pair("converted-cube-domain", dom_src, conv_dom, ("ocio", "ffmpeg"), photos, pix, tmp)
    # 1D .cube through dlut's writer: OCIO and FFmpeg lut1d
    conv_1d = os.path.join(tmp, "conv-1d.cube")
    sh(DLUT, "convert", os.path.join(tmp, "oned.cube"), conv_1d, "--title", "one d")
    check_pair("converted-cube-1d", os.path.join(tmp, "oned.cube"), conv_1d, ("ocio", "ffmpeg1d"), photos, pix, tmp)
    # Resolve shaper .cube through dlut's writer
    conv_res = os.path.join(tmp, "conv-resolve.cube")
    sh(DLUT, "convert", resolve, conv_res)
    check_pair("converted-cube-resolve", resolve, conv_res, ("ocio",), photos, pix, tmp)
    # .cube -> .3dl (12-bit, 17^3): OCIO and FFmpeg read dlut's .3dl. The
    # 12-bit rounding of the entries is at most 0.5/4095: 9 16-bit codes.
    src_cube = os.path.join(tmp, "src.cube")
    write_cube(src_cube, np.clip(smooth_lut(17, 7), 0, 1), 17)
    conv_3dl = os.path.join(tmp, "conv.3dl")
    sh(DLUT, "convert", src_cube, conv_3dl)
    check_pair("converted-3dl", src_cube, conv_3dl, ("ocio",), photos, pix, tmp, tol16=9)
    check_pair("converted-3dl", conv_3dl, conv_3dl, ("ffmpeg",), photos[:1], pix, tmp)
    # .cube (16^3) -> Hald level 4, no resampling: FFmpeg haldclut + IM
    src16 = os.path.join(tmp, "src16.cube")
    write_cube(src16, np.clip(smooth_lut(16, 9), 0, 1), 16)
    conv_hald = os.path.join(tmp, "conv-hald.png")
    sh(DLUT, "convert", src16, conv_hald, "--hald-level", "4")
    check_hald("converted-hald", conv_hald, photos, pix, tmp, ours_lut=src16)

    # Random colours, 16-bit, every pixel different: dlut's written files
    # through OCIO vs dlut applying them, within 1 code.
    rng = np.random.default_rng(11)
    rnd = rng.integers(0, 65536, size=(128, 128, 3)).astype(np.uint16)
    rnd_path = os.path.join(tmp, "random16.png")
    encode_png(rnd, rnd_path)
    rnd_px = rnd.astype(np.int64)

    def rnd_one(variant, lut, it):
        ours = dlut_apply(rnd_path, lut, it, os.path.join(tmp, "rnd-%s-%s" % (variant, it)))
        compare(variant, "random16", it, "OCIO", ours, ocio_apply(lut, rnd_px, 16, it), 1, 16)

    for variant, lut in (("converted-cube-domain", conv_dom), ("converted-cube-resolve", conv_res),
                         ("converted-3dl", conv_3dl)):
        for it in interps:
            submit(rnd_one, variant, lut, it)


def check_pair(variant, original, written, refs, photos, pix, tmp, tol16=1):
    """dlut applying `original` vs the references reading `written`."""
    for name, path, bits in photos:
        for it in ("tetrahedral", "trilinear"):
            submit(pair_one, variant, original, written, refs, pix, tmp, tol16 if bits == 16 else 1, name, path, bits,
                   it)


def pair_one(variant, original, written, refs, pix, tmp, tol, name, path, bits, it):
    ours = dlut_apply(path, original, it, os.path.join(tmp, "pair-%s-%s-%s-%s" % (variant, it, name,
                                                                                 refs[0])))
    if "ocio" in refs:
        compare(variant, name, it, "OCIO(written)", ours, ocio_apply(written, pix[name], bits, it), tol, bits)
    if "ffmpeg" in refs:
        compare(variant, name, it, "FFmpeg(written)", ours, ffmpeg_lut3d(path, written, bits, it), tol, bits)
    if "ffmpeg1d" in refs:
        compare(variant, name, it, "FFmpeg lut1d(written)", ours, ffmpeg_lut1d(path, written, bits, it), tol, bits)


def check_hald(variant, hald, photos, pix, tmp, ours_lut=None):
    lut = ours_lut or hald
    for name, path, bits in photos:
        for it in ("tetrahedral", "trilinear"):
            submit(hald_one, variant, hald, lut, tmp, name, path, bits, it)
    submit(hald_lattice, variant, hald, lut, tmp)


def hald_one(variant, hald, lut, tmp, name, path, bits, it):
    ours = dlut_apply(path, lut, it, os.path.join(tmp, "h-%s-%s-%s" % (variant, it, name)))
    compare(variant, name, it, "FFmpeg haldclut", ours, ffmpeg_haldclut(path, hald, bits, it), 1, bits)
    if it == "trilinear":
        im = imagemagick_hald(path, hald, os.path.join(tmp, "im-%s-%s.png" % (variant, name)), bits)
        # ImageMagick (Q16) blends in its own pixel interpolation;
        # measured within 1 code on these photos.
        compare(variant, name, it, "ImageMagick", ours, im, 1, bits)


def hald_lattice(variant, hald, lut, tmp):
    # At lattice points every interpolation must return the table itself:
    # the identity Hald image of the same level, through dlut and ImageMagick.
    level = round(probe(hald)[0] ** (1 / 3))
    n = level * level
    ident = os.path.join(tmp, "identity-%s.png" % variant)
    g = np.round(np.linspace(0, 1, n) * 65535).astype(np.uint16)
    b, gg, r = np.meshgrid(g, g, g, indexing="ij")
    encode_png(np.stack([r, gg, b], -1).reshape(level ** 3, level ** 3, 3), ident)
    table = decode(hald, 16)
    for it in ("tetrahedral", "trilinear"):
        ours = dlut_apply(ident, lut, it, os.path.join(tmp, "hid-%s-%s" % (variant, it)))
        compare(variant, "lattice", it, "the Hald pixels", ours, table, 1, 16)
    im = imagemagick_hald(ident, hald, os.path.join(tmp, "imid-%s.png" % variant), 16)
    compare(variant, "lattice", "trilinear", "ImageMagick", im, table, 1, 16)


if __name__ == "__main__":
    main()
