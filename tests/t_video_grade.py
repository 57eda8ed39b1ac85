#!/usr/bin/python3
"""`dlut grade CLIP "PROMPT"`: frames sampled over a clip, graded as a set.

Clips made here by the ffmpeg CLI (160x90, 24 fps, AAC):
  scenes.mp4  1.5 s of coffee.png, then 1.5 s of chelsea.png (two still
              shots: every other sampled frame repeats one already kept)
  pan.mp4     2 s panning over coffee.png (every frame differs)
Checks (no model: the offline looks grade the set):
 1. scenes.mp4 --frames 6: exactly 2 frames kept, one from each shot (the
    near-duplicates skipped); look.cube, strip.png, contact.jpg,
    report.json (listing the 2 frames), graded/frame-*.png written.
 2. pan.mp4 --frames 4: 4 frames, the i-th inside the i-th quarter of the
    clip (spread over it).
 3. --render: OUTDIR/graded.mp4 with the clip's streams, frame count and
    timestamps, audio packets bit-identical, its pictures those of
    `dlut apply CLIP --lut OUTDIR/look.cube` (PSNR > 30 dB against the
    lossless apply) and not the source's.
 4. Errors: --render on a photo and --frames 0 are usage errors (exit 2);
    a truncated clip exits 1 and leaves no output folder.
Needs $DLUT, $DLUT_SHARED, ffmpeg/ffprobe.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

DLUT = os.environ.get("DLUT") or os.path.abspath("build/dlut")
SHARED = os.environ.get("DLUT_SHARED", "../shared")
PH = os.path.join(SHARED, "data", "photos")
failures = 0


def check(ok, what):
    global failures
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures += 1


def sh(*cmd):
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        sys.exit("command failed: %s\n%s" % (" ".join(cmd), r.stderr.decode(errors="replace")[-2000:]))
    return r.stdout


def ffmpeg(*args):
    return sh("ffmpeg", "-v", "error", "-nostdin", "-y", *args)


def frames(path, pix_fmt="yuv420p"):
    return np.frombuffer(ffmpeg("-i", path, "-map", "0:v", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt",
                                pix_fmt, "-"), np.uint8).astype(float)


def probe(path, *args):
    return json.loads(sh("ffprobe", "-v", "error", "-print_format", "json", *args, path))


def dlut(*args):
    return subprocess.run([DLUT, *args], capture_output=True)


tmp = tempfile.mkdtemp(prefix="dlut-video-grade.")
os.chdir(tmp)
shot = "scale=160:90:force_original_aspect_ratio=increase,crop=160:90,setsar=1,fps=24,format=yuv420p"
ffmpeg("-loop", "1", "-t", "1.5", "-i", os.path.join(PH, "coffee.png"), "-loop", "1", "-t", "1.5", "-i",
       os.path.join(PH, "chelsea.png"), "-f", "lavfi", "-i", "sine=f=330:d=3", "-filter_complex",
       "[0]%s[a];[1]%s[b];[a][b]concat=n=2:v=1:a=0[v]" % (shot, shot), "-map", "[v]", "-map", "2", "-r", "24",
       "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-c:a", "aac", "-colorspace", "bt709", "scenes.mp4")
ffmpeg("-loop", "1", "-i", os.path.join(PH, "coffee.png"), "-f", "lavfi", "-i", "sine=f=440:d=2", "-t", "2", "-r",
       "24", "-filter_complex", "[0]scale=320:-2,crop=160:90:'t*60':'t*30',format=yuv420p[v]", "-map", "[v]", "-map",
       "1", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-c:a", "aac", "pan.mp4")
PROMPT = "warm golden hour, soft contrast"

# 1. two shots: the duplicates skipped
r = dlut("grade", "scenes.mp4", PROMPT, "--frames", "6", "-o", "g1", "-q")
check(r.returncode == 0, "scenes: exit 0 %s" % r.stderr.decode()[-300:])
names = sorted(os.listdir("g1/graded")) if os.path.isdir("g1/graded") else []
times = [float(n.split("-")[2][:-5]) for n in names]
check(len(names) == 2 and times[0] < 1.5 <= times[1], "scenes: 2 frames kept, one per shot (%s)" % names)
for f in ("look.cube", "strip.png", "contact.jpg", "report.json"):
    check(os.path.getsize(os.path.join("g1", f)) > 0, "scenes: %s written" % f)
rep = json.load(open("g1/report.json"))
check(len(rep.get("photos", [])) == 2 and rep["photos"][0]["input"].startswith("frame-01-"),
      "scenes: report.json lists the frames (%s)" % [p["input"] for p in rep.get("photos", [])])

# 2. a pan: spread over the clip
r = dlut("grade", "pan.mp4", PROMPT, "--frames", "4", "-o", "g2", "-q", "--render")
names = sorted(os.listdir("g2/graded")) if os.path.isdir("g2/graded") else []
times = [float(n.split("-")[2][:-5]) for n in names]
check(r.returncode == 0 and len(times) == 4 and all(i * 0.5 <= t < (i + 1) * 0.5 for i, t in enumerate(times)),
      "pan: 4 frames, one in each quarter of the clip (%s)" % times)

# 3. the render
pa, pb = probe("pan.mp4", "-show_streams"), probe("g2/graded.mp4", "-show_streams")
va, vb = pa["streams"][0], pb["streams"][0]
check([s["codec_name"] for s in pa["streams"]] == [s["codec_name"] for s in pb["streams"]] and
      va["nb_frames"] == vb["nb_frames"] and va["r_frame_rate"] == vb["r_frame_rate"],
      "render: same streams, frame count and rate (%s, %s frames)" % ([s["codec_name"] for s in pb["streams"]],
                                                                     vb["nb_frames"]))
md5 = lambda p: sh("ffmpeg", "-v", "error", "-i", p, "-map", "0:a", "-c", "copy", "-f", "md5", "-")
check(md5("pan.mp4") == md5("g2/graded.mp4"), "render: audio packets bit-identical")
r = dlut("apply", "pan.mp4", "--lut", "g2/look.cube", "--crf", "0", "-o", "lossless.mp4")
x, y, s = frames("g2/graded.mp4"), frames("lossless.mp4"), frames("pan.mp4")
psnr = lambda a, b: 10 * np.log10(255**2 / max(np.mean((a - b)**2), 1e-9))
check(r.returncode == 0 and psnr(x, y) > 30 and psnr(x, s) < psnr(x, y) - 3,
      "render: the clip through look.cube (PSNR %.1f dB to the lossless apply, %.1f dB to the source)" %
      (psnr(x, y), psnr(x, s)))

# 4. errors
open("p.ppm", "wb").write(b"P6\n2 2\n255\n" + bytes(12))
r = dlut("grade", "p.ppm", PROMPT, "--render", "-o", "g4")
check(r.returncode == 2 and not os.path.exists("g4"), "--render on a photo: usage error")
r = dlut("grade", "pan.mp4", PROMPT, "--frames", "0", "-o", "g5")
check(r.returncode == 2 and not os.path.exists("g5"), "--frames 0: usage error")
data = open("pan.mp4", "rb").read()
open("cut.mp4", "wb").write(data[:len(data) // 2])
r = dlut("grade", "cut.mp4", PROMPT, "-o", "g6")
check(r.returncode == 1 and not os.path.exists("g6") and b"cut.mp4" in r.stderr,
      "truncated clip: exit 1, no output folder: %s" % r.stderr.decode().strip().splitlines()[-1:])

print("%d failure(s)" % failures)
subprocess.run(["rm", "-rf", tmp])
sys.exit(1 if failures else 0)
