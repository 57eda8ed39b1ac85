#!/usr/bin/python3
"""Regions and sets through `dlut serve` (POST /v1/jobs), against the CLI and
FFmpeg:
  - a mask region job (matte upload + mask_prompt, feather) gives the same
    look.cube, region-1.cube, mask-1.png and composite as `dlut grade --mask`
    on the same files; where the mask is 0 the graded photo is FFmpeg lut3d
    with look.cube, where it is 1 with region-1.cube (within 1 code);
  - regions keep the order of the body's region and mask parts; several
    region lines in one field; text regions need a model (400 without one),
    with the tiny random CLIP model they run and give heatmap.png;
  - a set job (repeated photo field) gives the CLI's set bundle: one
    look.cube, every graded photo (FFmpeg lut3d of that cube within 1 code,
    in its own format, names as the CLI gives them), contact.jpg of the
    CLI's size, thumbnails; the job JSON lists every download;
  - hostile input: too many regions, bad syntax, a matte of another shape,
    not an image, a header claiming a huge matte, masks without prompts,
    regions with a set, too many photos, a set over the pixel total, bodies
    over the cap and with too many fields: each a clear 4xx, nothing kept;
  - set and region jobs survive a restart (their inputs and names are in
    the store)."""
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
import struct

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvlib import DLUT, SHARED, Server, ffmpeg_rgb, photo  # noqa: E402

FAILS = []
PHOTOS = os.path.join(SHARED, "data", "photos")
TINY = os.path.join(SHARED, "data", "clip-ref", "openai_tiny")


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def png_bytes(img):
    b = io.BytesIO()
    img.save(b, "PNG")
    return b.getvalue()


def half_matte(w=600, h=400, x0=300):
    """A hard matte: 1 right of x0 (8-bit grey PNG)."""
    a = np.zeros((h, w), np.uint8)
    a[:, x0:] = 255
    return png_bytes(Image.fromarray(a, "L"))


def huge_png_header(w=60000, h=60000):
    """A 33-byte-ish PNG that claims w x h pixels (IHDR only)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def rgb(data):
    w, h, px = ffmpeg_rgb(data)
    return np.frombuffer(px, np.uint8).reshape(h, w, 3).astype(int)


def lut3d(src_path, cube_path):
    w, h, px = ffmpeg_rgb(src_path, "lut3d=file=%s:interp=tetrahedral" % cube_path)
    return np.frombuffer(px, np.uint8).reshape(h, w, 3).astype(int)


def get(s, path):
    st, h, data = s.request("GET", path)
    return st, h, data


def mask_region_vs_cli(s, tmp):
    coffee = os.path.join(PHOTOS, "coffee.png")
    matte = half_matte()
    mp = os.path.join(tmp, "half.png")
    open(mp, "wb").write(matte)
    st, j = s.submit_parts([("photo", ("coffee.png", photo("coffee.png"))), ("prompt", "warm golden film"),
                            ("mask", ("half.png", matte)), ("mask_prompt", "deep teal"), ("feather", "24")])
    check(st == 202, "a mask region job is accepted (%s %s)" % (st, j))
    job = s.wait_state(j["id"])
    check(job["state"] == "done", "it finishes (%s %s)" % (job["state"], job.get("error")))
    files = job.get("files", {})
    want = {"look.cube", "graded.png", "strip.png", "report.json", "region-1.cube", "mask-1.png"}
    check(want <= set(files) and "heatmap.png" not in files and "contact.jpg" not in files,
          "the job JSON lists the region downloads (%s)" % sorted(files))
    r = job.get("regions", [{}])
    check(len(r) == 1 and r[0].get("kind") == "mask" and r[0].get("prompt") == "deep teal"
          and r[0].get("lut", "").endswith("/region-1.cube"), "and the region itself (%s)" % r)
    out = {}
    for name in ("look.cube", "region-1.cube", "mask-1.png", "graded.png", "report.json"):
        st, h, out[name] = get(s, files[name])
        if st != 200:
            check(False, "%s served (%s)" % (name, st))
            return
    # the CLI on the same files
    cli = os.path.join(tmp, "cli-region")
    r = subprocess.run([DLUT, "grade", coffee, "warm golden film", "--mask", mp + "=deep teal", "--feather", "24",
                        "-o", cli, "-q"], capture_output=True, text=True)
    check(r.returncode == 0, "the CLI grades the same region (%s)" % r.stderr[-300:])
    same = all(open(os.path.join(cli, n), "rb").read() == out[n] for n in ("look.cube", "region-1.cube"))
    check(same, "look.cube and region-1.cube are the CLI's, byte for byte")
    m_srv = np.array(Image.open(io.BytesIO(out["mask-1.png"])))
    m_cli = np.array(Image.open(os.path.join(cli, "mask-1.png")))
    check(m_srv.dtype == np.uint16 or m_srv.max() > 255, "mask-1.png is 16-bit (%s)" % m_srv.dtype)
    check(m_srv.shape == (400, 600) and np.array_equal(m_srv, m_cli), "mask-1.png is the CLI's (photo-sized, %s)"
          % (m_srv.shape,))
    ramp = int(((m_srv[200] > 0) & (m_srv[200] < 65535)).sum())
    check(ramp == 24, "feather 24 ramps over 24 pixels (%d)" % ramp)
    g_srv = rgb(out["graded.png"])
    g_cli = rgb(os.path.join(cli, "graded.png"))
    check(np.array_equal(g_srv, g_cli), "the composite graded.png is the CLI's pixel for pixel")
    lp, rp = os.path.join(tmp, "l.cube"), os.path.join(tmp, "r.cube")
    open(lp, "wb").write(out["look.cube"])
    open(rp, "wb").write(out["region-1.cube"])
    gl, gr = lut3d(coffee, lp), lut3d(coffee, rp)
    m = m_srv.astype(float) / 65535
    out0, in1 = m == 0, m == 1
    d0 = np.abs(g_srv[out0] - gl[out0]).max()
    d1 = np.abs(g_srv[in1] - gr[in1]).max()
    apart = np.abs(gl - gr).mean()
    check(d0 <= 1 and d1 <= 1 and apart > 5,
          "outside the mask FFmpeg lut3d of look.cube, inside of region-1.cube (max %d / %d codes; the two %.1f apart)"
          % (d0, d1, apart))
    # the finished job's preview (what the page shows) is the composite, not the global look alone
    st, _, pv = get(s, files["preview.jpg"])
    pvi = np.array(Image.open(io.BytesIO(pv)).convert("RGB")).astype(int) if st == 200 else np.zeros((1, 1, 3))
    if pvi.shape == g_srv.shape:
        to_comp, to_global = np.abs(pvi[in1] - g_srv[in1]).mean(), np.abs(pvi[in1] - gl[in1]).mean()
    else:
        to_comp, to_global = 99, 0
    check(to_comp < 5 and to_global > 3 * to_comp, "preview.jpg (JPEG q85) shows the regions (inside the mask %.1f codes from the composite, "
          "%.1f from the global look)" % (to_comp, to_global))
    # another strength re-renders the composite (regions included), blended with the photo
    st, _, half = get(s, "/v1/jobs/%s/graded?strength=0.5" % j["id"])
    orig = rgb(coffee)
    d = np.abs(rgb(half) - (orig + g_srv) / 2).max() if st == 200 else 99
    check(d <= 1, "graded?strength=0.5 of a region job is half the composite, half the photo (max %.1f codes)" % d)
    rep = json.loads(out["report.json"])
    rr = rep.get("regions", [])
    check(len(rr) == 1 and rr[0].get("kind") == "mask" and abs(rr[0].get("feather", 0) - 24) < 1e-6,
          "report.json describes the region (%s)" % (rr[:1],))


def regions_order_and_lines(s):
    a, b = half_matte(x0=300), half_matte(x0=100)
    st, j = s.submit_parts([("photo", ("coffee.png", photo("coffee.png"))), ("prompt", "warm"),
                            ("mask", ("b.png", b)), ("mask", ("a.png", a)),
                            ("mask_prompt", "deep teal"), ("mask_prompt", "cold blue")])
    job = s.wait_state(j["id"]) if st == 202 else {}
    r = job.get("regions", [])
    check(st == 202 and job.get("state") == "done" and [x.get("where") for x in r] == ["b.png", "a.png"]
          and [x.get("prompt") for x in r] == ["deep teal", "cold blue"],
          "two masks keep their order, each with its prompt (%s)" % [(x.get("where"), x.get("prompt")) for x in r])
    st1, _, m1 = get(s, "/v1/jobs/%s/mask-1.png" % j["id"])
    st2, _, m2 = get(s, "/v1/jobs/%s/mask-2.png" % j["id"])
    c1 = np.array(Image.open(io.BytesIO(m1))).mean() / 65535 if st1 == 200 else 0
    c2 = np.array(Image.open(io.BytesIO(m2))).mean() / 65535 if st2 == 200 else 0
    check(abs(c1 - 5 / 6) < 0.01 and abs(c2 - 0.5) < 0.01, "mask-1 is the first matte, mask-2 the second (%.3f, %.3f)"
          % (c1, c2))


def hostile(s, tmp, d):
    c = photo("coffee.png")
    matte = half_matte()
    cases = [
        ("nine regions", [("photo", ("c.png", c)), ("prompt", "warm")] + [("mask", ("m.png", matte))] * 9
         + [("mask_prompt", "teal")] * 9, 400, "at most 8 regions"),
        ("nine region lines", [("photo", ("c.png", c)), ("prompt", "warm"),
                               ("region", "\n".join("thing %d=teal" % i for i in range(9)))], 400, "at most 8"),
        ("a region without '='", [("photo", ("c.png", c)), ("prompt", "warm"), ("region", "the sky teal")], 400,
         "WHERE=PROMPT"),
        ("a region with an empty look", [("photo", ("c.png", c)), ("prompt", "warm"), ("region", "the sky=")], 400,
         "empty"),
        ("a region with a control character", [("photo", ("c.png", c)), ("prompt", "warm"),
                                               ("region", "the sky=te\x01al")], 400, "control"),
        ("a text region on a server without a model", [("photo", ("c.png", c)), ("prompt", "warm"),
                                                       ("region", "the sky=teal")], 400, "needs a CLIP model"),
        ("a matte of another shape", [("photo", ("c.png", c)), ("prompt", "warm"),
                                      ("mask", ("sq.png", half_matte(400, 400, 200))), ("mask_prompt", "teal")], 400,
         "different shape"),
        ("a matte that is not an image", [("photo", ("c.png", c)), ("prompt", "warm"),
                                          ("mask", ("m.png", b"hello, not a picture")), ("mask_prompt", "teal")], 415,
         "not a PNG"),
        ("a matte given as text", [("photo", ("c.png", c)), ("prompt", "warm"), ("mask", "sky.png"),
                                   ("mask_prompt", "teal")], 415, "not a PNG"),
        ("a matte whose header claims 60000 x 60000", [("photo", ("c.png", c)), ("prompt", "warm"),
                                                       ("mask", ("big.png", huge_png_header())),
                                                       ("mask_prompt", "teal")], 413, "exceeds"),
        ("a matte cut inside its header", [("photo", ("c.png", c)), ("prompt", "warm"), ("mask", ("t.png", matte[:20])),
                                           ("mask_prompt", "teal")], 400, "mask"),
        ("a mask without its prompt", [("photo", ("c.png", c)), ("prompt", "warm"), ("mask", ("m.png", matte))], 400,
         "mask_prompt"),
        ("a prompt without its mask", [("photo", ("c.png", c)), ("prompt", "warm"), ("mask_prompt", "teal")], 400,
         "mask_prompt"),
        ("a region given as a file", [("photo", ("c.png", c)), ("prompt", "warm"), ("region", ("r.txt", b"sky=teal"))],
         400, "must be text"),
        ("regions with a set", [("photo", ("c.png", c)), ("photo", ("d.png", c)), ("prompt", "warm"),
                                ("mask", ("m.png", matte)), ("mask_prompt", "teal")], 400, "one photo"),
        ("five photos (cap 4)", [("photo", ("c.png", c))] * 5 + [("prompt", "warm")], 413, "at most 4 photos"),
        ("a set with one photo that is not an image", [("photo", ("c.png", c)), ("photo", ("x.png", b"GIF89a..."))
                                                        , ("prompt", "warm")], 415, "photo 2"),
        ("a set photo whose header claims 60000 x 60000", [("photo", ("c.png", c)),
                                                           ("photo", ("x.png", huge_png_header())),
                                                           ("prompt", "warm")], 413, "photo 2"),
        ("130 fields", [("photo", ("c.png", c)), ("prompt", "warm")] + [("seed", "1")] * 128, 400, "more than 128"),
    ]
    before = sorted(os.listdir(os.path.join(d, "jobs")))
    for what, parts, want, words in cases:
        st, j = s.submit_parts(parts)
        msg = j.get("error", {}).get("message", "") if isinstance(j, dict) else ""
        check(st == want and words.lower() in msg.lower(), "%s: %d (%s)" % (what, st, msg[:140]))
    after = sorted(os.listdir(os.path.join(d, "jobs")))
    check(before == after, "no refused submission left a folder behind")
    # a matte cut after its header is not whole: refused at submission (dlut_image_check_whole)
    st, j = s.submit_parts([("photo", ("c.png", c)), ("prompt", "warm"), ("mask", ("t.png", matte[:60])),
                            ("mask_prompt", "teal")])
    msg = j.get("error", {}).get("message", "") if isinstance(j, dict) else ""
    check(st == 400 and "region 1's mask" in msg and "truncated PNG" in msg,
          "a matte cut after its header is 400 at submission, naming it (%s: %s)" % (st, msg[:120]))
    # one whose structure is whole but whose image data is damaged passes the checks at submission (as a
    # photo does) and fails the job, saying why
    bad = bytearray(matte)
    bad[len(bad) // 2:len(bad) // 2 + 64] = b"\x5a" * 64
    st, j = s.submit_parts([("photo", ("c.png", c)), ("prompt", "warm"), ("mask", ("t.png", bytes(bad))),
                            ("mask_prompt", "teal")])
    job = s.wait_state(j["id"]) if st == 202 else {}
    msg = job.get("error", {}).get("message", "")
    check(job.get("state") == "failed" and job["error"]["code"] == "bad_input" and "t.png" in msg,
          "a matte damaged inside its image data fails the job, naming it (%s %s: %s)" % (st, job.get("state"), msg[:120]))
    st, h = s.json("GET", "/healthz")
    check(st == 200, "the server lives on")


def set_vs_cli(s, tmp):
    names = ["coffee.png", "chelsea.png", "rocket.jpg"]
    # rocket.jpg uploaded as "shot.png": the graded file takes its content's extension
    parts = [("photo", ("coffee.png", photo("coffee.png"))), ("photo", ("chelsea.png", photo("chelsea.png"))),
             ("photo", ("shot.png", photo("rocket.jpg"))), ("prompt", "warm golden film")]
    st, j = s.submit_parts(parts)
    check(st == 202, "a set job with 3 photos is accepted (%s %s)" % (st, j))
    job = s.wait_state(j["id"])
    check(job["state"] == "done" and job.get("kind") == "set" and job.get("n_photos") == 3,
          "it finishes as a set (%s, %s)" % (job["state"], job.get("error")))
    ph = job.get("photos", [])
    check([p.get("name") for p in ph] == ["coffee.png", "chelsea.png", "shot.jpg"],
          "each photo keeps its name, with its content's extension (%s)" % [p.get("name") for p in ph])
    files = job.get("files", {})
    check({"look.cube", "contact.jpg", "strip.png", "report.json"} <= set(files) and not any(
        k.startswith("graded.") for k in files), "the job JSON lists the set's downloads (%s)" % sorted(files))
    st, _, cube = get(s, files["look.cube"])
    cp = os.path.join(tmp, "set.cube")
    open(cp, "wb").write(cube)
    cli = os.path.join(tmp, "cli-set")
    srcs = [os.path.join(PHOTOS, n) for n in names]
    r = subprocess.run([DLUT, "grade", *srcs, "warm golden film", "-o", cli, "-q"], capture_output=True, text=True)
    check(r.returncode == 0, "the CLI grades the same set (%s)" % r.stderr[-300:])
    check(open(os.path.join(cli, "look.cube"), "rb").read() == cube, "the set's look.cube is the CLI's, byte for byte")
    worst = 0
    kinds = []
    for i, (p, src) in enumerate(zip(ph, srcs)):
        st, h, g = get(s, p["graded"])
        kinds.append((st, h.get("content-type")))
        if st == 200:
            worst = max(worst, np.abs(rgb(g) - lut3d(src, cp)).max() if not src.endswith(".jpg") else 0)
    check(all(k[0] == 200 for k in kinds) and [k[1] for k in kinds] == ["image/png", "image/png", "image/jpeg"],
          "photos/1..3 served in their own formats (%s)" % kinds)
    check(worst <= 1, "every PNG of the set is FFmpeg lut3d of the one look.cube within 1 code (max %d)" % worst)
    # the JPEG: the server writes standard Huffman tables (fast_encode), the same pixels as the CLI's
    st, _, g3 = get(s, ph[2]["graded"])
    a = np.array(Image.open(io.BytesIO(g3)).convert("RGB")).astype(int)
    b = np.array(Image.open(os.path.join(cli, "graded", "rocket.jpg")).convert("RGB")).astype(int)
    check(a.shape == b.shape and np.array_equal(a, b), "the JPEG of the set has the CLI's pixels")
    st, _, g2 = get(s, ph[1]["graded"])
    st2, h2, half = get(s, ph[1]["graded"] + "?strength=0.5")
    d = np.abs(rgb(half) - (rgb(srcs[1]) + rgb(g2)) / 2).max() if st == st2 == 200 else 99
    st3, _, _ = get(s, ph[1]["graded"] + "?strength=2")
    check(d <= 1 and h2.get("content-type") == "image/png" and st3 == 400,
          "photos/2?strength=0.5 blends the graded photo with the original (max %.1f codes); strength=2 is 400" % d)
    st, _, sheet = get(s, files["contact.jpg"])
    w_srv = Image.open(io.BytesIO(sheet)).size if st == 200 else None
    w_cli = Image.open(os.path.join(cli, "contact.jpg")).size
    check(w_srv == w_cli, "contact.jpg has the CLI's layout (%s vs %s)" % (w_srv, w_cli))
    sizes = []
    for p in ph:
        st, h, t = get(s, p["thumb"])
        sizes.append(Image.open(io.BytesIO(t)).size if st == 200 and h.get("content-type") == "image/jpeg" else None)
    check(all(sz and max(sz) <= 320 and max(sz) >= 200 for sz in sizes), "thumbnails of 320 px at most (%s)" % sizes)
    st, _, rep = get(s, files["report.json"])
    rp = json.loads(rep).get("photos", [])
    check(len(rp) == 3, "report.json lists the 3 photos (%s)" % rp)
    st, _, e = get(s, "/v1/jobs/%s/photos/4" % j["id"])
    st2, _, _ = get(s, "/v1/jobs/%s/photos/0" % j["id"])
    st3, _, e3 = get(s, "/v1/jobs/%s/graded" % j["id"])
    st4, _, _ = get(s, "/v1/jobs/%s/photos/..%%2f..%%2fphoto" % j["id"])
    check(st == 404 and st2 == 404 and st3 == 404 and b"photos/1" in e3 and st4 == 404,
          "photos/4, photos/0, a climbing name: 404; 'graded' of a set says where its photos are")
    # two uploads of the same name: the second gets -2, as the CLI does
    st, j2 = s.submit_parts([("photo", ("a.png", photo("coffee.png"))), ("photo", ("a.png", photo("chelsea.png"))),
                             ("prompt", "cold")])
    job2 = s.wait_state(j2["id"]) if st == 202 else {}
    check([p.get("name") for p in job2.get("photos", [])] == ["a.png", "a-2.png"],
          "the same name twice: a.png, a-2.png (%s)" % [p.get("name") for p in job2.get("photos", [])])
    # a name that is not ASCII stays the photo's name, and its download's (filename*=UTF-8'', RFC 6266)
    long_name = "日落" * 40 + ".png"  # 244 bytes of UTF-8: cut to 195 at a character boundary
    st, j3 = s.submit_parts([("photo", ("照片.png", photo("coffee.png"))), ("photo", (long_name, photo("chelsea.png"))),
                             ("photo", ("日落" * 120 + ".png", photo("rocket.jpg"))),  # over 255 bytes: cut too
                             ("prompt", "cold")])
    job3 = s.wait_state(j3["id"]) if st == 202 else {}
    nm = [p.get("name", "") for p in job3.get("photos", [])]
    st, h, _ = get(s, "/v1/jobs/%s/photos/1" % j3["id"]) if nm else (0, {}, b"")
    check(len(nm) == 3 and nm[0] == "照片.png" and nm[1] == ("日落" * 33)[:65] + ".png" and nm[2] == ("日落" * 33)[:65] + ".jpg" and st == 200
          and h.get("content-disposition") == "attachment; filename=\"__.png\"; filename*=UTF-8''%E7%85%A7%E7%89%87.png",
          "UTF-8 names are kept (long ones, over 255 bytes too, cut at a character boundary); their downloads "
          "carry them as filename*= beside an ASCII fallback (%s, %s)"
          % ([len(x.encode()) for x in nm], h.get("content-disposition")))
    # a Windows path as it comes (backslashes unescaped, as browsers and curl send them) names its file;
    # a hidden file's name keeps its letters
    st, j4 = s.submit_parts([("photo", ("C:\\Users\\me\\win.png", photo("coffee.png"))),
                             ("photo", (".hidden.png", photo("chelsea.png"))), ("photo", ("..a.png", photo("coffee.png"))),
                             ("prompt", "cold")])
    job4 = s.wait_state(j4["id"]) if st == 202 else {}
    nm = [p.get("name", "") for p in job4.get("photos", [])]
    check(nm == ["win.png", "hidden.png", "a.png"] and job4.get("photo_name") == "win.png",
          "a Windows path and hidden names: %s (the job's photo_name %s)" % (nm, job4.get("photo_name")))
    return j["id"]


def text_region_with_model(tmp):
    s = Server(args=["--model", TINY])
    try:
        st, j = s.submit_parts([("photo", ("coffee.png", photo("coffee.png"))), ("prompt", "warm golden film"),
                                ("region", "the sky=deep teal\r\nskin=keep natural"),
                                ("mask", ("half.png", half_matte())), ("mask_prompt", "cold blue"),
                                ("steps", "4"), ("lut_size", "9"), ("samples", "256")])
        check(st == 202, "text regions are accepted by a server with a model (%s %s)" % (st, j))
        job = s.wait_state(j["id"], timeout=300) if st == 202 else {}
        r = job.get("regions", [])
        check(job.get("state") == "done" and job.get("method") == "clip" and [x["kind"] for x in r] == ["text", "text", "mask"]
              and [x["where"] for x in r] == ["the sky", "skin", "half.png"],
              "two region lines and a mask, numbered in order, optimised through CLIP (%s %s)"
              % (job.get("state"), [(x.get("kind"), x.get("where")) for x in r]))
        files = job.get("files", {})
        st, h, hm = get(s, files.get("heatmap.png", "/v1/jobs/%s/heatmap.png" % j["id"]))
        check(st == 200 and h.get("content-type") == "image/png" and hm[:4] == b"\x89PNG", "heatmap.png is served")
        ok = True
        for k in (1, 2, 3):
            st, _, m = get(s, "/v1/jobs/%s/mask-%d.png" % (j["id"], k))
            ok &= st == 200 and Image.open(io.BytesIO(m)).size == (600, 400)
            st, _, cube = get(s, "/v1/jobs/%s/region-%d.cube" % (j["id"], k))
            ok &= st == 200 and b"LUT_3D_SIZE 9" in cube
        check(ok, "region-1..3.cube (9^3) and photo-sized mask-1..3.png")
    finally:
        check(s.stop() == 0, "the model server stops cleanly")


def caps(tmp):
    # a set over the pixel total: 6 x 240 000 pixels > 4 x 250 000
    s = Server(args=["--model", "none", "--max-pixels", "250000", "--max-photos", "8"])
    try:
        st, j = s.submit_parts([("photo", ("c.png", photo("coffee.png")))] * 6 + [("prompt", "warm")])
        check(st == 413 and "4 x the pixel cap" in j.get("error", {}).get("message", ""),
              "a set over 4 x --max-pixels is 413 (%s %s)" % (st, j.get("error", {}).get("message")))
        st, j = s.submit_parts([("photo", ("c.png", photo("coffee.png")))] * 4 + [("prompt", "warm")])
        check(st == 202, "4 x 240 000 pixels is within it (%s)" % st)
    finally:
        s.stop()
    s = Server(args=["--model", "none", "--max-upload-mb", "1"])
    try:
        st, _ = s.submit_parts([("photo", ("c.png", photo("chelsea.png")))] * 6 + [("prompt", "warm")])
        check(st == 413, "a set over --max-upload-mb is 413 (%s)" % st)
    finally:
        s.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="dlut-srv-rs-")
    data = os.path.join(tmp, "srv")
    s = Server(data=data, args=["--model", "none", "--max-photos", "4"])
    try:
        mask_region_vs_cli(s, tmp)
        regions_order_and_lines(s)
        hostile(s, tmp, os.path.join(data, "d"))
        set_id = set_vs_cli(s, tmp)
        # a restart keeps what each job is
        check(s.stop() == 0, "the server stops cleanly")
        s.start()
        st, job = s.json("GET", "/v1/jobs/" + set_id)
        st2, _, g = get(s, "/v1/jobs/%s/photos/2" % set_id)
        check(st == 200 and job.get("kind") == "set" and len(job.get("photos", [])) == 3 and st2 == 200,
              "after a restart the set job still lists and serves its photos")
    finally:
        s.stop()
        log = s.log_text()
        check("AddressSanitizer" not in log and "runtime error" not in log, "no sanitizer report")
    text_region_with_model(tmp)
    caps(tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
