#!/usr/bin/env python3
"""tests/t_region.py - grading by region with a user matte, no model, end to
end on a real photo, checked by tools nobody here wrote:
  - mask-N.png is read back by ImageMagick and by FFmpeg as a 16-bit grey
    matte at the photo's size with the same values (a 16-bit matte at the
    photo's size comes back unchanged, code for code);
  - pixels where the mask is 0 are the global LUT's (FFmpeg lut3d,
    tetrahedral, on look.cube: within 1 code), where it is 1 the region
    LUT's (region-N.cube), and in between (1 - m) G + m R;
  - the feathered edge ramps over exactly the pixels --feather asks for;
  - with the tiny random CLIP model: text regions and mattes numbered in
    command-line order, heatmap.png, masks from text, and the composite law
    for the LUTs optimised together;
  - the matte's channel (grey, alpha, luma), resampling of other sizes,
    --mask-threshold, report.json, stale region files of an earlier run,
    and the refusals (a text region without a model, a matte of another
    shape, a missing file).
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradelib import SHARED, check, failed, run  # noqa: E402

PHOTO = f"{SHARED}/data/photos/coffee.png"  # 600 x 400, 8-bit RGB
W, H = 600, 400


def ffmpeg_raw(path, pix_fmt, ch, dtype, vf=None):
    cmd = ["ffmpeg", "-v", "error", "-i", path]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype=dtype).reshape(H, W, ch) if ch > 1 else np.frombuffer(out, dtype=dtype).reshape(H, W)


def magick_grey16(path):
    ident = subprocess.run(["identify", "-format", "%w %h %z %[colorspace]", path], capture_output=True, text=True,
                           check=True).stdout.split()
    out = subprocess.run(["convert", path, "-depth", "16", "-endian", "MSB", "gray:-"], capture_output=True,
                         check=True).stdout
    return ident, np.frombuffer(out, dtype=">u2").reshape(int(ident[1]), int(ident[0]))


def write_pgm16(path, a):
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n65535\n" % (a.shape[1], a.shape[0]))
        f.write(a.astype(">u2").tobytes())


with tempfile.TemporaryDirectory() as tmp:
    # ---- a 16-bit matte at the photo's size: a hard edge at x = 300 on the
    # right, and a smooth 16-bit ramp (values that are not multiples of 257)
    # in the top band, saved as PNG by ImageMagick
    m = np.zeros((H, W), np.uint16)
    m[:, 300:] = 65535
    m[:40, :] = (np.arange(W) * 65535 // (W - 1)).astype(np.uint16)[None, :]
    write_pgm16(f"{tmp}/m.pgm", m)
    subprocess.run(["convert", f"{tmp}/m.pgm", "-depth", "16", f"PNG48:{tmp}/sky16.png"], check=True)
    subprocess.run(["convert", f"{tmp}/m.pgm", "-depth", "16", "-define", "png:color-type=0", f"{tmp}/sky16g.png"],
                   check=True)
    out = f"{tmp}/out"
    r = run("grade", PHOTO, "warm golden film", "--mask", f"{tmp}/sky16g.png=deep teal", "-o", out, "-q")
    check(r.returncode == 0, f"grade with a 16-bit matte: rc {r.returncode} {r.stderr.strip()}")
    names = sorted(os.listdir(out))
    check(names == ["graded.png", "look.cube", "mask-1.png", "region-1.cube", "report.json", "strip.png"],
          f"outputs {names}")
    ident, im = magick_grey16(f"{out}/mask-1.png")
    check(ident[:3] == [str(W), str(H), "16"] and ident[3] == "Gray", f"ImageMagick identify: {ident}")
    check(np.array_equal(im, m), f"ImageMagick reads mask-1.png as the matte, code for code "
          f"(max diff {np.abs(im.astype(int) - m).max()})")
    ff = ffmpeg_raw(f"{out}/mask-1.png", "gray16le", 1, "<u2")
    check(np.array_equal(ff, m), "FFmpeg reads mask-1.png (gray16le) with the same values")
    rep = json.load(open(f"{out}/report.json"))
    reg = rep.get("regions", [{}])[0]
    check(reg.get("number") == 1 and reg.get("kind") == "mask" and reg.get("prompt") == "deep teal" and
          reg.get("mask_file", "").endswith("sky16g.png") and reg.get("channel") == "grey" and
          reg.get("lut") == "region-1.cube" and reg.get("mask") == "mask-1.png" and reg.get("method") == "looks",
          f"report.json region: {reg}")
    cov = (m / 65535.0).mean()
    check(abs(reg.get("coverage", -1) - cov) < 1e-6, f"coverage {reg.get('coverage')} vs {cov:.6f}")

    # ---- the composite, against FFmpeg applying each LUT on its own
    def composite_check(outdir, mask16, what):
        g = ffmpeg_raw(PHOTO, "rgb24", 3, np.uint8, f"lut3d=file={outdir}/look.cube:interp=tetrahedral").astype(float)
        rr = ffmpeg_raw(PHOTO, "rgb24", 3, np.uint8, f"lut3d=file={outdir}/region-1.cube:interp=tetrahedral")
        rr = rr.astype(float)
        got = ffmpeg_raw(f"{outdir}/graded.png", "rgb24", 3, np.uint8).astype(float)
        mm = (mask16 / 65535.0)[..., None]
        outside, inside = mask16 == 0, mask16 == 65535
        d_out = np.abs(got - g)[outside].max()
        d_in = np.abs(got - rr)[inside].max()
        # FFmpeg truncates where DLUT rounds: 1 code, and 1 more where the
        # blend mixes two rounded values
        d_mix = np.abs(got - ((1 - mm) * g + mm * rr)).max()
        check(d_out <= 1, f"{what}: outside the mask = global LUT (FFmpeg lut3d) within 1 code ({d_out:.0f})")
        check(d_in <= 1, f"{what}: inside the mask = region LUT (FFmpeg lut3d) within 1 code ({d_in:.0f})")
        check(d_mix <= 2, f"{what}: everywhere (1-m) G + m R within 2 codes ({d_mix:.1f})")
        # the two grades really differ, so the checks above could fail
        check(np.abs(g - rr)[inside].mean() > 5, f"{what}: region and global grades differ "
              f"(mean {np.abs(g - rr)[inside].mean():.1f} codes)")
    composite_check(out, m, "16-bit matte")

    # ---- feathering: the hard edge at x = 300 (rows below the ramp band)
    # ramps over exactly 24 pixels: 288..311 strictly between 0 and 1
    out2 = f"{tmp}/out2"
    r = run("grade", PHOTO, "warm golden film", "--mask", f"{tmp}/sky16.png=deep teal", "--feather", "24", "-o", out2,
            "-q")
    check(r.returncode == 0, f"--feather 24: rc {r.returncode} {r.stderr.strip()}")
    _, fm = magick_grey16(f"{out2}/mask-1.png")
    row = fm[200].astype(int)
    between = np.nonzero((row > 0) & (row < 65535))[0]
    check(len(between) == 24 and between[0] == 288 and between[-1] == 311,
          f"feather 24: ramp over x = {between[0]}..{between[-1]} ({len(between)} px), expected 288..311")
    check(np.all(np.diff(row[280:320]) >= 0), "the ramp is monotone")
    check(abs(row[299] + row[300] - 65535) <= 2, f"the ramp is centred on the edge ({row[299]}, {row[300]})")
    check(np.all(fm[100:, :288] == 0) and np.all(fm[100:, 312:] == 65535),
          "pixels farther than 12 px from the edge keep their value")
    composite_check(out2, fm, "feathered")

    # ---- an 8-bit RGB matte of another size (150 x 100), resampled;
    # --mask-threshold makes it hard before the feathering
    small = np.zeros((100, 150, 3), np.uint8)
    small[:, 75:] = 255
    small[:, 60:75] = 128  # a soft band the threshold decides
    with open(f"{tmp}/small.ppm", "wb") as f:
        f.write(b"P6\n150 100\n255\n" + small.tobytes())
    subprocess.run(["convert", f"{tmp}/small.ppm", "-type", "TrueColor", f"{tmp}/small.png"], check=True)
    out3 = f"{tmp}/out3"
    r = run("grade", PHOTO, "warm", "--mask", f"{tmp}/small.png=cold blue", "--mask-threshold", "0.6", "-o", out3,
            "-q")
    check(r.returncode == 0, f"a 150x100 matte: rc {r.returncode} {r.stderr.strip()}")
    _, sm = magick_grey16(f"{out3}/mask-1.png")
    check(sm.shape == (H, W), f"resampled to the photo's size {sm.shape}")
    check(set(np.unique(sm)) <= {0, 65535}, "--mask-threshold 0.6: the mask is hard")
    edge = np.nonzero(sm[200] == 65535)[0][0]
    check(abs(edge - 300) <= 2, f"the 128 band is outside at threshold 0.6: edge at x = {edge} (300 expected)")
    rep = json.load(open(f"{out3}/report.json"))
    check(rep["regions"][0]["threshold"] == 0.6 and rep["regions"][0]["channel"] == "grey",
          f"report: threshold and channel {rep['regions'][0]}")

    # ---- channels: alpha (RGBA, not opaque) and luma (a colour matte)
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere: only alpha tells the region
    rgba[:, :200, 3] = 0
    rgba[:, 200:, 3] = 255
    with open(f"{tmp}/a.pam", "wb") as f:
        f.write(b"P7\nWIDTH %d\nHEIGHT %d\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n" % (W, H) + rgba.tobytes())
    subprocess.run(["convert", f"{tmp}/a.pam", f"PNG32:{tmp}/alpha.png"], check=True)
    col = np.zeros((H, W, 3), np.uint8)
    col[:, 300:] = (255, 0, 0)  # pure red: luma 0.2126
    with open(f"{tmp}/c.ppm", "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (W, H) + col.tobytes())
    subprocess.run(["convert", f"{tmp}/c.ppm", f"{tmp}/colour.tif"], check=True)
    out4 = f"{tmp}/out4"
    r = run("grade", PHOTO, "warm", "--mask", f"{tmp}/alpha.png=cold", "--mask", f"{tmp}/colour.tif=teal", "-o", out4,
            "-q")
    check(r.returncode == 0, f"two masks: rc {r.returncode} {r.stderr.strip()}")
    rep = json.load(open(f"{out4}/report.json"))
    chans = [g["channel"] for g in rep["regions"]]
    check(chans == ["alpha", "luma"], f"channels {chans}")
    _, a1 = magick_grey16(f"{out4}/mask-1.png")
    _, a2 = magick_grey16(f"{out4}/mask-2.png")
    check(np.all(a1[:, :200] == 0) and np.all(a1[:, 200:] == 65535), "alpha matte used as the mask")
    check(np.all(a2[:, :300] == 0) and np.all(np.abs(a2[:, 300:].astype(int) - round(0.2126 * 65535)) <= 1),
          f"colour matte: Rec.709 luma ({a2[0, 400]})")

    # ---- a greyscale JPEG matte (8-bit, lossy): read as grey, close to what was painted
    subprocess.run(["convert", f"{tmp}/m.pgm", "-depth", "8", "-colorspace", "Gray", "-quality", "95",
                    f"{tmp}/matte.jpg"], check=True)
    out7 = f"{tmp}/out7"
    r = run("grade", PHOTO, "warm", "--mask", f"{tmp}/matte.jpg=cold", "-o", out7, "-q")
    check(r.returncode == 0, f"a JPEG matte: rc {r.returncode} {r.stderr.strip()}")
    if r.returncode == 0:
        rep = json.load(open(f"{out7}/report.json"))
        _, jm = magick_grey16(f"{out7}/mask-1.png")
        err = np.abs(jm[60:, :].astype(float) - m[60:, :]).mean() / 65535
        check(rep["regions"][0]["channel"] == "grey" and err < 0.01,
              f"JPEG matte: channel {rep['regions'][0]['channel']}, mean |mask - painted| {err:.4f}")

    # ---- an earlier run's region-2 files do not survive a run with one region
    r = run("grade", PHOTO, "warm", "--mask", f"{tmp}/alpha.png=cold", "-o", out4, "-q")
    names = sorted(os.listdir(out4))
    check(r.returncode == 0 and "region-2.cube" not in names and "mask-2.png" not in names,
          f"stale region files removed: {names}")

    # ---- refusals
    r = run("grade", PHOTO, "warm", "--region", "the sky=deep teal", "-o", f"{tmp}/no")
    check(r.returncode != 0 and "CLIP model" in r.stderr and "--mask" in r.stderr and not os.path.exists(f"{tmp}/no"),
          f"a text region without a model is refused, saying what is needed: {r.stderr.strip()}")
    r = run("grade", PHOTO, "warm", "--mask", f"{tmp}/missing.png=teal")
    check(r.returncode == 2 and "no such file" in r.stderr, f"missing matte: {r.stderr.strip()}")
    r = run("grade", PHOTO, "warm", "--mask", f"{tmp}/sky16.png")
    check(r.returncode == 2 and "FILE=PROMPT" in r.stderr, f"matte without a prompt: {r.stderr.strip()}")
    sq = np.zeros((300, 300, 3), np.uint8)
    with open(f"{tmp}/sq.ppm", "wb") as f:
        f.write(b"P6\n300 300\n255\n" + sq.tobytes())
    r = run("grade", PHOTO, "warm", "--mask", f"{tmp}/sq.ppm=teal", "-o", f"{tmp}/sq")
    check(r.returncode == 1 and "shape" in r.stderr, f"a matte of another shape: {r.stderr.strip()}")
    r = run("grade", PHOTO, "warm", "--mask", f"{tmp}/sky16.png=xyzzy qwerty", "-o", f"{tmp}/q")
    check(r.returncode == 1 and "region 1" in r.stderr, f"a region prompt the looks cannot read: {r.stderr.strip()}")

    # ---- with a model (the tiny random OpenAI one): the global and region
    # LUTs optimised together; regions numbered in command-line order over
    # --region and --mask together; the composite law holds for the
    # optimised LUTs too
    TINY = f"{SHARED}/data/clip-ref/openai_tiny"
    out5 = f"{tmp}/out5"
    r = run("grade", PHOTO, "warm golden film", "--region", "the sky=deep teal", "--mask", f"{tmp}/sky16g.png=cold blue",
            "--region", "skin=keep natural", "--model", TINY, "--steps", "5", "-o", out5, "-q")
    check(r.returncode == 0, f"model + regions: rc {r.returncode} {r.stderr.strip()}")
    names = sorted(os.listdir(out5)) if r.returncode == 0 else []
    check(names == ["graded.png", "heatmap.png", "look.cube", "mask-1.png", "mask-2.png", "mask-3.png", "region-1.cube",
                    "region-2.cube", "region-3.cube", "report.json", "strip.png"], f"outputs {names}")
    if names:
        rep = json.load(open(f"{out5}/report.json"))
        kinds = [(g["number"], g["kind"], g.get("control", g.get("mask_file", "")).split("/")[-1]) for g in rep["regions"]]
        check(kinds == [(1, "text", "the sky"), (2, "mask", "sky16g.png"), (3, "text", "skin")], f"numbering {kinds}")
        check(rep["method"] == "clip" and all(g["method"] == "clip" and "local_end" in g for g in rep["regions"]),
              "report: method clip, a local term per region")
        ident = subprocess.run(["identify", "-format", "%w %h %z", f"{out5}/heatmap.png"], capture_output=True,
                               text=True).stdout.split()
        check(ident[:2] == [str(W), str(H)], f"heatmap.png at the photo's size {ident}")
        for k in (1, 3):
            _, tm = magick_grey16(f"{out5}/mask-{k}.png")
            check(tm.shape == (H, W) and tm.min() < tm.max(), f"text mask {k}: at the photo's size, not constant")
        # only the matte region, alone, keeps the composite checkable against FFmpeg: a second run
        out6 = f"{tmp}/out6"
        r = run("grade", PHOTO, "warm golden film", "--mask", f"{tmp}/sky16g.png=cold blue", "--model", TINY, "--steps",
                "5", "-o", out6, "-q")
        check(r.returncode == 0, f"model + one matte: rc {r.returncode} {r.stderr.strip()}")
        if r.returncode == 0:
            composite_check(out6, m, "optimised (model)")

print("t_region:", "FAILED" if failed() else "all ok")
sys.exit(1 if failed() else 0)
