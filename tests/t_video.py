#!/usr/bin/python3
"""`dlut apply` on video, against FFmpeg and ffprobe.

Test clips are made here by the ffmpeg CLI from a real photo (coffee.png,
a 160x90 window panning over it for 2 s at 24 fps), with an AAC audio track
and a subtitle track:
  src8.mkv    H.264 yuv420p, lossless (-qp 0), BT.709 tags
  src10.mkv   HEVC yuv420p10le, lossless (x265 lossless=1), BT.709 tags
  rgb8.mkv / rgb10.mkv   FFV1 gbrp / gbrp10le (the same frames as RGB)
  a.mp4       H.264 yuv420p lossy, AAC, mov_text subtitles, rotated 90
              degrees (display matrix), BT.709 tags: the default path

Checks (each can fail):
 1. RGB sources, 8 and 10 bit: `dlut apply --codec ffv1` against
    `ffmpeg -vf lut3d=file=L.cube:interp=tetrahedral` on the same decoded
    frames (FFV1 both sides, so no encoder loss), on a ROUGH 17-point LUT
    (every entry independent noise): every sample within 1 code.
 2. YUV sources, 8 and 10 bit: `dlut apply --codec ffv1` against a reference
    made of FFmpeg's lut3d and numpy: the decoded Y'CbCr frames converted to
    RGB by the BT.709 formulas (each chroma sample for its 2x2 block; the
    formulas themselves checked against zimg, FFmpeg's zscale filter, on
    4:4:4 frames both ways: 1e-4 / 1 code), as
    16-bit RGB through `ffmpeg -vf lut3d` (gbrp16le, tetrahedral), back to
    Y'CbCr (chroma: the block's mean), values beyond [0,1] keeping their
    excess (docs/video.md): every sample within 1 code.
 3. Identity LUT on the YUV sources: every sample within 1 code (in fact 0).
 4. Default path (a.mp4 -> b.mp4): H.264, yuv420p, same colour tags, frame
    rate, frame count and every frame's timestamp, rotation (display matrix),
    audio and subtitle packets bit-identical (ffmpeg -c copy -f md5), bit
    rate comparable (0.5x..2x), pictures close to the lossless result.
 5. A truncated file (moov at the end; moov first; Matroska) and a file that
    is not a video: exit 1, one line naming the file, no output, no
    temporary file. A video with several inputs, or --crf on photos: exit 2.
 6. SIGINT during a slower encode: the process dies of it and leaves no
    output and no temporary file.
Needs $DLUT, $DLUT_SHARED, ffmpeg/ffprobe with libx264, libx265 and FFV1.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

DLUT = os.environ.get("DLUT") or os.path.abspath("build/dlut")
SHARED = os.environ.get("DLUT_SHARED", "../shared")
PHOTO = os.path.join(SHARED, "data", "photos", "coffee.png")
W, H = 160, 90
failures = 0


T0 = time.time()


def check(ok, what):
    global failures
    print(("ok    " if ok else "FAIL  ") + "%5.1fs  " % (time.time() - T0) + what, flush=True)
    if not ok:
        failures += 1


def sh(*cmd, stdin=None):
    r = subprocess.run(cmd, input=stdin, capture_output=True)
    if r.returncode != 0:
        sys.exit("command failed: %s\n%s" % (" ".join(cmd), r.stderr.decode(errors="replace")[-2000:]))
    return r.stdout


def ffmpeg(*args, stdin=None):
    return sh("ffmpeg", "-v", "error", "-nostdin" if stdin is None else "-y", "-y", *args, stdin=stdin)


def frames(path, pix_fmt):
    """decoded video frames as (n, plane bytes) integers"""
    dt = np.uint16 if ("10" in pix_fmt or "16" in pix_fmt) else np.uint8
    return np.frombuffer(ffmpeg("-i", path, "-map", "0:v", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"), dt).astype(
        np.int64)


def probe(path, *args):
    return json.loads(sh("ffprobe", "-v", "error", "-print_format", "json", *args, path))


def md5(path, sel):
    return sh("ffmpeg", "-v", "error", "-i", path, "-map", sel, "-c", "copy", "-f", "md5", "-").decode().strip()


def write_cube(path, table, n):
    with open(path, "w") as f:
        f.write("LUT_3D_SIZE %d\n" % n)
        for e in table.reshape(-1, 3):  # red fastest
            f.write("%.6f %.6f %.6f\n" % tuple(e))


# libx265's own leak of one x265_param per encoder, suppressed narrowly (see the file) for the ASan build
SUPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan-video.supp")
ENV = dict(os.environ, LSAN_OPTIONS="suppressions=" + SUPP + ":print_suppressions=0")


def dlut(*args):
    return subprocess.run([DLUT, *args], capture_output=True, env=ENV)


def no_leftovers(d, name):
    return not [f for f in os.listdir(d) if f.startswith(name)]


# ==== the clips ====
tmp = tempfile.mkdtemp(prefix="dlut-video.")
os.chdir(tmp)
with open("s.srt", "w") as f:
    f.write("1\n00:00:00,000 --> 00:00:01,000\nhello\n\n2\n00:00:01,000 --> 00:00:02,000\nworld\n")
pan = "[0]scale=320:-2,crop=%d:%d:'t*60':'t*30',format=%%s[v]" % (W, H)
common = ["-loop", "1", "-i", PHOTO, "-f", "lavfi", "-i", "sine=f=440:d=2", "-i", "s.srt", "-t", "2", "-r", "24"]
tags = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]
maps = ["-map", "[v]", "-map", "1", "-map", "2", "-c:a", "aac", "-b:a", "64k"]
ffmpeg(*common, "-filter_complex", pan % "yuv420p", *maps, "-c:s", "srt", "-c:v", "libx264", "-qp", "0", *tags,
       "src8.mkv")
ffmpeg(*common, "-filter_complex", pan % "yuv420p10le", *maps, "-c:s", "srt", "-c:v", "libx265", "-x265-params",
       "lossless=1:log-level=error", *tags, "src10.mkv")
for b, pf in ((8, "gbrp"), (10, "gbrp10le")):
    ffmpeg(*common, "-filter_complex", pan % pf, *maps, "-c:s", "srt", "-c:v", "ffv1", "rgb%d.mkv" % b)
ffmpeg(*common, "-filter_complex", pan % "yuv420p", *maps, "-c:s", "mov_text", "-c:v", "libx264", "-preset",
       "ultrafast", "-crf", "20", *tags, "a0.mp4")
ffmpeg("-i", "a0.mp4", "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=90", "a.mp4")  # display matrix

rng = np.random.default_rng(12)
N = 17
rough = rng.random((N, N, N, 3))  # [b][g][r][c]: red fastest when flattened
write_cube("rough.cube", rough, N)
ident = np.stack(np.meshgrid(np.linspace(0, 1, N), np.linspace(0, 1, N), np.linspace(0, 1, N), indexing="ij"), -1)
write_cube("id.cube", ident[..., ::-1], N)  # (b,g,r) grid -> entries (r,g,b)

# ==== 1. RGB sources against FFmpeg lut3d ====
# (FFV1 keeps 8-bit RGB as bgr0, 10-bit as gbrp10le; frames are compared as rgb24 / gbrp10le)
for b, pf, cmp in ((8, "bgr0", "rgb24"), (10, "gbrp10le", "gbrp10le")):
    r = dlut("apply", "rgb%d.mkv" % b, "--lut", "rough.cube", "--codec", "ffv1", "-o", "d_rgb%d.mkv" % b)
    check(r.returncode == 0, "rgb %d-bit: dlut apply exits 0 %s" % (b, r.stderr.decode()[-300:]))
    ffmpeg("-i", "rgb%d.mkv" % b, "-map", "0:v", "-fps_mode", "passthrough", "-vf", "lut3d=file=rough.cube:interp=tetrahedral", "-c:v", "ffv1",
           "-pix_fmt", pf, "f_rgb%d.mkv" % b)
    pout = probe("d_rgb%d.mkv" % b, "-show_streams")["streams"][0]
    pin = probe("rgb%d.mkv" % b, "-show_streams")["streams"][0]
    check(pin["pix_fmt"] == pout["pix_fmt"] == pf and pout["codec_name"] == "ffv1",
          "rgb %d-bit: output is ffv1 %s like the source (%s)" % (b, pf, pout["pix_fmt"]))
    x, y = frames("d_rgb%d.mkv" % b, cmp), frames("f_rgb%d.mkv" % b, cmp)
    d = np.abs(x - y)
    src = frames("rgb%d.mkv" % b, cmp)
    check(x.size == y.size == 48 * W * H * 3 and d.max() <= 1,
          "rgb %d-bit: %d frames within 1 code of ffmpeg lut3d tetrahedral (max %d, mean %.3f; LUT moved "
          "samples by %.0f codes on average)" % (b, x.size // (W * H * 3), d.max(), d.mean(), np.abs(x - src).mean()))


# ==== 2. YUV sources against numpy conversion + FFmpeg lut3d ====
def yuv_reference(path, bits, cube, kr=0.2126, kb=0.0722, full=False):
    kg = 1 - kr - kb
    s = float(1 << (bits - 8))
    top = (1 << bits) - 1
    # (full-range 8-bit H.264 decodes as yuvj420p: read as that, or FFmpeg would squeeze it to limited range)
    a = frames(path, "yuv420p10le" if bits == 10 else "yuvj420p" if full else "yuv420p").reshape(
        -1, W * H * 3 // 2).astype(np.float64)
    n = a.shape[0]
    Y = a[:, :W * H].reshape(n, H, W)
    U = a[:, W * H:W * H * 5 // 4].reshape(n, H // 2, W // 2)
    V = a[:, W * H * 5 // 4:].reshape(n, H // 2, W // 2)
    up = lambda c: np.repeat(np.repeat(c, 2, 1), 2, 2)
    if full:  # BT.2100 full range / AVCOL_RANGE_JPEG
        y, cb, cr = Y / top, (up(U) - (top + 1) / 2) / top, (up(V) - (top + 1) / 2) / top
    else:
        y, cb, cr = (Y / s - 16) / 219, (up(U) / s - 128) / 224, (up(V) / s - 128) / 224
    R = y + 2 * (1 - kr) * cr
    B = y + 2 * (1 - kb) * cb
    G = (y - kr * R - kb * B) / kg
    rgb = np.stack([R, G, B], -1)
    q = np.clip(np.round(rgb * 65535), 0, 65535).astype("<u2")
    planes = np.stack([q[..., 1], q[..., 2], q[..., 0]], 1)  # gbrp16le: planes G, B, R
    out = np.frombuffer(
        ffmpeg("-f", "rawvideo", "-pix_fmt", "gbrp16le", "-s", "%dx%d" % (W, H), "-i", "-", "-vf",
               "lut3d=file=%s:interp=tetrahedral" % cube, "-f", "rawvideo", "-pix_fmt", "gbrp16le", "-",
               stdin=planes.tobytes()), "<u2").reshape(n, 3, H, W).astype(np.float64) / 65535
    o = np.stack([out[:, 2], out[:, 0], out[:, 1]], -1)  # R, G, B
    o = o + (rgb - np.clip(rgb, 0, 1))  # beyond the LUT's range: the excess is kept
    Yo = kr * o[..., 0] + kg * o[..., 1] + kb * o[..., 2]
    Cb = (o[..., 2] - Yo) / (2 * (1 - kb))
    Cr = (o[..., 0] - Yo) / (2 * (1 - kr))
    box = lambda c: c.reshape(n, H // 2, 2, W // 2, 2).mean((2, 4))
    q8 = lambda v: np.clip(np.round(v), 0, top)
    if full:
        planes = [Yo * top, box(Cb) * top + (top + 1) / 2, box(Cr) * top + (top + 1) / 2]
    else:
        planes = [(219 * Yo + 16) * s, (224 * box(Cb) + 128) * s, (224 * box(Cr) + 128) * s]
    return np.concatenate([q8(p).reshape(n, -1) for p in planes], 1).astype(np.int64).ravel()


# the reference's BT.709 arithmetic checked against an independent implementation in FFmpeg, zimg (the
# zscale filter, float RGB, no dither), on 4:4:4 10-bit frames so that no chroma filter enters, both ways.
# (swscale's fixed-point path is not used: it is off by up to 3.9 10-bit codes here, accurate_rnd or not.)
ffmpeg(*common, "-filter_complex", pan % "yuv444p10le", "-map", "[v]", "-c:v", "ffv1", *tags, "s444.mkv")
a = frames("s444.mkv", "yuv444p10le").reshape(-1, 3, H, W).astype(np.float64)
y_, cb_, cr_ = (a[:, 0] / 4 - 16) / 219, (a[:, 1] / 4 - 128) / 224, (a[:, 2] / 4 - 128) / 224
R_ = y_ + 2 * (1 - 0.2126) * cr_
B_ = y_ + 2 * (1 - 0.0722) * cb_
G_ = (y_ - 0.2126 * R_ - 0.0722 * B_) / (1 - 0.2126 - 0.0722)
mine = np.stack([G_, B_, R_], 1)  # gbrp order
zs = np.frombuffer(
    ffmpeg("-i", "s444.mkv", "-vf", "zscale=matrixin=709:rangein=limited:range=full:dither=none,format=gbrpf32le",
           "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gbrpf32le", "-"), "<f4").reshape(mine.shape)
inside = ((mine >= 0) & (mine <= 1)).all(1, keepdims=True).repeat(3, 1)
d = np.abs(mine - zs)[inside] * 1023
check(inside.mean() > 0.9 and d.max() < 0.01,
      "reference Y'CbCr->RGB (BT.709 tv) = zimg's within %.5f 10-bit codes (%.1f%% of pixels inside the cube)" %
      (d.max(), 100 * inside.mean()))
ffmpeg("-f", "rawvideo", "-pix_fmt", "gbrpf32le", "-s", "%dx%d" % (W, H), "-i", "-", "-vf",
       "zscale=matrix=709:range=limited:rangein=full:dither=none,format=yuv444p10le", "-c:v", "ffv1", "back.mkv",
       stdin=np.clip(zs, 0, 1).astype("<f4").tobytes())
fb = frames("back.mkv", "yuv444p10le").reshape(a.shape)
g, b_, r_ = np.clip(zs, 0, 1)[:, 0], np.clip(zs, 0, 1)[:, 1], np.clip(zs, 0, 1)[:, 2]
Yr = 0.2126 * r_ + (1 - 0.2126 - 0.0722) * g + 0.0722 * b_
mine_back = np.stack([(219 * Yr + 16) * 4, (224 * (b_ - Yr) / (2 * (1 - 0.0722)) + 128) * 4,
                      (224 * (r_ - Yr) / (2 * (1 - 0.2126)) + 128) * 4], 1)
d = np.abs(np.round(mine_back) - fb)
check(d.max() <= 1, "reference RGB->Y'CbCr (BT.709 tv) = zimg's within %d 10-bit code (%.3f%% differ)" %
      (d.max(), 100 * (d > 0).mean()))

for b, pf in ((8, "yuv420p"), (10, "yuv420p10le")):
    r = dlut("apply", "src%d.mkv" % b, "--lut", "rough.cube", "--codec", "ffv1", "-o", "d%d.mkv" % b)
    check(r.returncode == 0, "yuv %d-bit: dlut apply exits 0 %s" % (b, r.stderr.decode()[-300:]))
    pout = probe("d%d.mkv" % b, "-show_streams")["streams"][0]
    check(pout["pix_fmt"] == pf and pout.get("color_space") == "bt709",
          "yuv %d-bit: output stays %s, bt709 (%s %s)" % (b, pf, pout["pix_fmt"], pout.get("color_space")))
    x, ref = frames("d%d.mkv" % b, pf), yuv_reference("src%d.mkv" % b, b, "rough.cube")
    d = np.abs(x - ref)
    check(x.size == ref.size and d.max() <= 1,
          "yuv %d-bit: %d frames within 1 code of BT.709 + ffmpeg lut3d (max %d, mean %.4f, %.2f%% differ)" %
          (b, x.size // (W * H * 3 // 2), d.max(), d.mean(), 100 * (d > 0).mean()))
    # 3. identity
    r = dlut("apply", "src%d.mkv" % b, "--lut", "id.cube", "--codec", "ffv1", "-o", "id%d.mkv" % b)
    x, src = frames("id%d.mkv" % b, pf), frames("src%d.mkv" % b, pf)
    d = np.abs(x - src)
    check(r.returncode == 0 and x.size == src.size and d.max() <= 1,
          "yuv %d-bit: identity LUT gives the source back (max %d codes, %.4f%% differ)" % (b, d.max(),
                                                                                        100 * (d > 0).mean()))
    check(md5("src%d.mkv" % b, "0:a") == md5("d%d.mkv" % b, "0:a") and
          md5("src%d.mkv" % b, "0:s") == md5("d%d.mkv" % b, "0:s"),
          "yuv %d-bit: audio and subtitle packets bit-identical" % b)

# other matrices and ranges: BT.601 full range 8-bit (H.264), BT.2020 limited 10-bit (HEVC)
ffmpeg(*common, "-filter_complex", pan % "yuv420p", "-map", "[v]", "-c:v", "libx264", "-qp", "0", "-colorspace",
       "smpte170m", "-color_range", "pc", "s601pc.mkv")
ffmpeg(*common, "-filter_complex", pan % "yuv420p10le", "-map", "[v]", "-c:v", "libx265", "-x265-params",
       "lossless=1:log-level=error", "-colorspace", "bt2020nc", "-color_primaries", "bt2020", "-color_trc",
       "smpte2084", "s2020.mkv")
for name, b, pf, kr, kb, full in (("s601pc", 8, "yuv420p", 0.299, 0.114, True),
                                   ("s2020", 10, "yuv420p10le", 0.2627, 0.0593, False)):
    r = dlut("apply", name + ".mkv", "--lut", "rough.cube", "--codec", "ffv1", "-o", "d_%s.mkv" % name)
    x, ref = frames("d_%s.mkv" % name, pf), yuv_reference(name + ".mkv", b, "rough.cube", kr, kb, full)
    d = np.abs(x - ref)
    pi, po = probe(name + ".mkv", "-show_streams")["streams"][0], probe("d_%s.mkv" % name, "-show_streams")["streams"][0]
    keys = ("color_space", "color_range", "color_primaries", "color_transfer", "pix_fmt")
    same = lambda k: pi.get(k) == po.get(k) or (k == "pix_fmt" and pi[k] == "yuvj420p" and po[k] == "yuv420p")
    check(r.returncode == 0 and x.size == ref.size and d.max() <= 1 and all(same(k) for k in keys),
          "%s: within 1 code of its matrix + ffmpeg lut3d (max %d, %.2f%% differ), tags kept %s" %
          (name, d.max(), 100 * (d > 0).mean(), [po.get(k) for k in keys]))

# ==== 4. the default path: mp4, H.264, AAC, mov_text, rotation ====
r = dlut("apply", "a.mp4", "--lut", "rough.cube", "-o", "b.mp4")
check(r.returncode == 0 and not r.stderr, "mp4 default: exits 0, quiet when stderr is not a terminal %r" % r.stderr[-300:])
pa, pb = probe("a.mp4", "-show_streams", "-show_format"), probe("b.mp4", "-show_streams", "-show_format")
va = [s for s in pa["streams"] if s["codec_type"] == "video"][0]
vb = [s for s in pb["streams"] if s["codec_type"] == "video"][0]
for k in ("codec_name", "pix_fmt", "width", "height", "r_frame_rate", "avg_frame_rate", "nb_frames", "color_space",
          "color_primaries", "color_transfer", "color_range"):
    check(va.get(k) == vb.get(k), "mp4 default: %s kept (%s -> %s)" % (k, va.get(k), vb.get(k)))
rot = lambda s: [d.get("rotation") for d in s.get("side_data_list", []) if "rotation" in d]
check(rot(va) == rot(vb) and rot(va) and rot(va)[0] != 0, "mp4 default: rotation kept (%s -> %s)" % (rot(va), rot(vb)))
check(sorted(s["codec_type"] for s in pa["streams"]) == sorted(s["codec_type"] for s in pb["streams"]),
      "mp4 default: the same streams (%s)" % [s["codec_name"] for s in pb["streams"]])
check(md5("a.mp4", "0:a") == md5("b.mp4", "0:a"), "mp4 default: audio packets bit-identical")
check(md5("a.mp4", "0:s") == md5("b.mp4", "0:s"), "mp4 default: subtitle packets bit-identical")
pts = lambda p: [f["pts_time"] for f in probe(p, "-select_streams", "v", "-show_frames", "-show_entries",
                                                "frame=pts_time")["frames"]]
ta, tb = pts("a.mp4"), pts("b.mp4")
check(ta == tb and len(ta) == 48, "mp4 default: every frame's timestamp kept (%d frames, %s..%s)" %
      (len(tb), tb[:1], tb[-1:]))
ra, rb = int(va["bit_rate"]), int(vb["bit_rate"])
check(0.5 * ra < rb < 2 * ra, "mp4 default: comparable bit rate (%d -> %d bit/s)" % (ra, rb))
r = dlut("apply", "a.mp4", "--lut", "rough.cube", "--crf", "0", "-o", "b_lossless.mp4")  # x264 8-bit: lossless
x, y = frames("b.mp4", "yuv420p").astype(float), frames("b_lossless.mp4", "yuv420p").astype(float)
psnr = 10 * np.log10(255**2 / max(np.mean((x - y)**2), 1e-9))
check(r.returncode == 0 and psnr > 30, "mp4 default: close to the lossless result (PSNR %.1f dB)" % psnr)
r = dlut("apply", "a.mp4", "--lut", "rough.cube", "--crf", "30", "--preset", "veryfast", "-o", "c.mp4")
rc = int(probe("c.mp4", "-show_streams")["streams"][0]["bit_rate"])
check(r.returncode == 0 and rc < rb, "--crf 30 --preset veryfast: smaller (%d < %d bit/s)" % (rc, rb))
r = dlut("apply", "src10.mkv", "--lut", "rough.cube", "--bitrate", "200k", "-o", "e10.mkv")
pe = probe("e10.mkv", "-show_streams")["streams"][0]
check(r.returncode == 0 and pe["codec_name"] == "hevc" and pe["pix_fmt"] == "yuv420p10le",
      "10-bit HEVC default: stays hevc yuv420p10le (%s %s)" % (pe["codec_name"], pe["pix_fmt"]))

# progress with an ETA on a terminal (a pty), none with --quiet
def on_tty(*args):
    import pty
    m, sl = pty.openpty()
    p = subprocess.Popen([DLUT, *args], stdout=subprocess.DEVNULL, stderr=sl, env=ENV)
    os.close(sl)
    out = b""
    while True:
        try:
            d = os.read(m, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    os.close(m)
    return p.wait(), out.decode(errors="replace")


rc_, err = on_tty("apply", "a.mp4", "--lut", "rough.cube", "-o", "tty.mp4")
check(rc_ == 0 and "ETA" in err and "frame 48/48" in err and "100%" in err,
      "progress on a terminal: %r" % err.replace("\r", "|")[-90:])
rc_, err = on_tty("apply", "a.mp4", "--lut", "rough.cube", "--quiet", "-o", "tty2.mp4")
check(rc_ == 0 and err == "", "--quiet: nothing on the terminal %r" % err[-80:])
# --input LOG on a clip: the camera-log input transform baked in, as for photos
r = dlut("apply", "src8.mkv", "--input", "slog3", "--lut", "id.cube", "--codec", "ffv1", "-o", "log.mkv")
x, src = frames("log.mkv", "yuv420p"), frames("src8.mkv", "yuv420p")
check(r.returncode == 0 and x.size == src.size and np.abs(x - src).mean() > 5,
      "--input slog3 on a clip: graded as log footage (mean change %.1f codes)" % np.abs(x - src).mean())

# ==== 5. bad and truncated files ====
data = open("a.mp4", "rb").read()
open("cut.mp4", "wb").write(data[:len(data) * 6 // 10])
ffmpeg("-i", "a.mp4", "-map", "0", "-c", "copy", "-movflags", "+faststart", "fs.mp4")
data = open("fs.mp4", "rb").read()
open("cutfs.mp4", "wb").write(data[:len(data) * 6 // 10])
data = open("src8.mkv", "rb").read()
open("cut.mkv", "wb").write(data[:len(data) * 6 // 10])
open("junk.mp4", "wb").write(b"this is not a video at all\n" * 100)
for bad in ("cut.mp4", "cutfs.mp4", "cut.mkv", "junk.mp4", "missing.mp4"):
    out = "o_" + bad
    r = dlut("apply", bad, "--lut", "rough.cube", "-o", out)
    err = r.stderr.decode()
    check(r.returncode == 1 and err.count("\n") == 1 and bad in err and no_leftovers(".", out),
          "%s: exit 1, one line, no output: %s" % (bad, err.strip()))
r = dlut("apply", "a.mp4", "src8.mkv", "--lut", "rough.cube", "-o", "outdir/")
check(r.returncode == 2, "two videos: usage error")
open("p.ppm", "wb").write(b"P6\n2 1\n255\n" + bytes(6))
r = dlut("apply", "p.ppm", "--lut", "rough.cube", "--crf", "20", "-o", "q.ppm")
check(r.returncode == 2 and not os.path.exists("q.ppm"), "--crf on a photo: usage error")
r = dlut("apply", "a.mp4", "--lut", "rough.cube", "--codec", "nosuchcodec", "-o", "z.mp4")
check(r.returncode == 1 and "nosuchcodec" in r.stderr.decode() and no_leftovers(".", "z.mp4"),
      "unknown --codec: exit 1, no output")

# ==== 6. SIGINT during a slower encode ====
ffmpeg("-f", "lavfi", "-i", "testsrc2=s=640x360:r=24:d=8", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt",
       "yuv420p", "long.mp4")
p = subprocess.Popen([DLUT, "apply", "long.mp4", "--lut", "rough.cube", "--preset", "slow", "-o", "long_out.mp4"],
                     stderr=subprocess.PIPE, env=ENV)
time.sleep(1.5)
running = p.poll() is None
grew = [f for f in os.listdir(".") if f.startswith("long_out.mp4.tmp")]
p.send_signal(signal.SIGINT)
p.wait(timeout=30)
check(running and grew, "SIGINT: the encode was still running, writing %s" % grew)
check(p.returncode in (-signal.SIGINT, 130) and no_leftovers(".", "long_out.mp4"),
      "SIGINT: dies of it (%s), no output, no temporary file" % p.returncode)

print("%d failure(s)" % failures)
subprocess.run(["rm", "-rf", tmp])
sys.exit(1 if failures else 0)
