#!/usr/bin/python3
"""`dlut serve` end to end on loopback: the API, its results against FFmpeg
and OpenColorIO, hostile requests, the token, a SIGKILL mid-queue, load
(200 concurrent submissions and 100 SSE clients), memory over 10,000
requests, and a CLIP job (tiny random model) with live progress, previews
and cancellation. Every server is started here on a free port and stopped
at the end. Exits non-zero on any failure."""
import http.client
import json
import shutil
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import PyOpenColorIO as OCIO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvlib import DLUT, SHARED, Server, ffmpeg_rgb, multipart, multipart_parts, photo  # noqa: E402

FAILS = []
SANITIZED = "build-san" in os.environ.get("BUILD", "")


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def api_basics(s):
    st, h = s.json("GET", "/healthz")
    check(st == 200 and h.get("ok") is True and h.get("model") is None, "healthz, no model")
    st, doc = s.json("GET", "/v1/openapi.json")
    check(st == 200 and doc.get("openapi", "").startswith("3.") and "/v1/jobs/{id}/events" in doc.get("paths", {}),
          "OpenAPI 3 document at /v1/openapi.json")
    st, hd, page = s.request("GET", "/")
    check(st == 200 and b"<title>DLUT" in page and "text/html" in hd.get("content-type", ""), "the page at /")
    st, hd, js = s.request("GET", "/app.js")
    check(st == 200 and b"/v1/jobs" in js, "the page's script")

    # one job through the API
    st, j = s.submit({"prompt": "cold teal night, high contrast", "lut_size": "33"},
                     {"photo": ("chelsea.png", photo())})
    check(st == 202 and len(j.get("id", "")) == 16, "POST /v1/jobs -> 202 with an id (%s %s)" % (st, j))
    jid = j["id"]
    evs = s.events(jid)
    names = [e for e, _ in evs]
    check(names[0] == "state" and names[-1] == "end" and evs[-1][1]["state"] == "done",
          "events: current state first, end last (%s)" % names)
    st, job = s.json("GET", "/v1/jobs/" + jid)
    check(st == 200 and job["state"] == "done" and job["method"] == "looks" and "teal" in job["understood"]
          and job["timings"]["run_s"] >= 0, "GET /v1/jobs/{id}: done, method, what was understood, timings")
    # late SSE client: the current (final) state, then the end
    evs2 = s.events(jid)
    check([e for e, _ in evs2][0] == "state" and evs2[-1][0] == "end", "a late SSE client gets the state and the end")

    # results: .cube through OCIO and FFmpeg against the server's graded photo
    tmp = tempfile.mkdtemp()
    st, hd, cube = s.request("GET", "/v1/jobs/%s/look.cube" % jid)
    check(st == 200 and b"LUT_3D_SIZE 33" in cube and "attachment" in hd.get("content-disposition", ""),
          "look.cube downloads")
    cube_path = os.path.join(tmp, "look.cube")
    open(cube_path, "wb").write(cube)
    st_p, hd_p, orig_up = s.request("GET", "/v1/jobs/%s/photo" % jid)
    check(st_p == 200 and orig_up == photo() and hd_p.get("content-type") == "image/png"
          and "chelsea.png" in hd_p.get("content-disposition", ""),
          "GET photo: the upload as it was, under its name (%s %s)" % (st_p, hd_p.get("content-disposition")))
    st, _, graded = s.request("GET", "/v1/jobs/%s/graded" % jid)
    check(st == 200 and graded[:8] == b"\x89PNG\r\n\x1a\n", "graded photo in the photo's format (PNG)")
    w, h, ours = ffmpeg_rgb(graded)
    src = os.path.join(SHARED, "data", "photos", "chelsea.png")
    _, _, ff = ffmpeg_rgb(src, "lut3d=file=%s:interp=tetrahedral" % cube_path)
    a, b = np.frombuffer(ours, np.uint8).astype(int), np.frombuffer(ff, np.uint8).astype(int)
    check(a.shape == b.shape and np.abs(a - b).max() <= 1, "FFmpeg lut3d with the served .cube matches graded (max %d)"
          % (np.abs(a - b).max() if a.shape == b.shape else -1))
    _, _, orig = ffmpeg_rgb(src)
    img = (np.frombuffer(orig, np.uint8).reshape(h, w, 3) / 255.0).astype(np.float32)
    cfg = OCIO.Config.CreateRaw()
    proc = cfg.getProcessor(OCIO.FileTransform(src=cube_path, interpolation=OCIO.INTERP_TETRAHEDRAL)).getDefaultCPUProcessor()
    o = img.copy()
    proc.applyRGB(o)
    oc = np.clip(np.round(o * 255), 0, 255).astype(int).reshape(-1)
    check(np.abs(oc - a).max() <= 1, "OpenColorIO with the served .cube matches graded (max %d)" % np.abs(oc - a).max())
    st, _, d3 = s.request("GET", "/v1/jobs/%s/look.3dl" % jid)
    p3 = os.path.join(tmp, "look.3dl")
    open(p3, "wb").write(d3)
    proc3 = cfg.getProcessor(OCIO.FileTransform(src=p3, interpolation=OCIO.INTERP_TETRAHEDRAL)).getDefaultCPUProcessor()
    o3 = img.copy()
    proc3.applyRGB(o3)
    check(st == 200 and np.abs(np.round(o3 * 255).astype(int).reshape(-1) - a).max() <= 2, "look.3dl loads in OCIO")
    st, _, hald = s.request("GET", "/v1/jobs/%s/hald.png" % jid)
    ph = os.path.join(tmp, "hald.png")
    open(ph, "wb").write(hald)
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", src, "-i", ph, "-filter_complex", "[0][1]haldclut",
                        "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True)
    hb = np.frombuffer(r.stdout, np.uint8).astype(int)
    check(st == 200 and hb.shape == a.shape and np.abs(hb - a).max() <= 3, "hald.png loads in FFmpeg haldclut")
    st, _, half = s.request("GET", "/v1/jobs/%s/graded?strength=0.5" % jid)
    _, _, hf = ffmpeg_rgb(half)
    hfa = np.frombuffer(hf, np.uint8).astype(int)
    mid = (a + np.frombuffer(orig, np.uint8).astype(int)) / 2
    check(st == 200 and np.abs(hfa - mid).max() <= 1.5, "graded?strength=0.5 is halfway")
    # the LUT files at a strength: FFmpeg with look.cube?strength=0.3 gives graded?strength=0.3; the .3dl and
    # the Hald at that strength load in OCIO and FFmpeg alike
    st, hd3, c3 = s.request("GET", "/v1/jobs/%s/look.cube?strength=0.3" % jid)
    p30 = os.path.join(tmp, "look30.cube")
    open(p30, "wb").write(c3)
    _, _, ff30 = ffmpeg_rgb(src, "lut3d=file=%s:interp=tetrahedral" % p30)
    _, _, g30 = ffmpeg_rgb(s.request("GET", "/v1/jobs/%s/graded?strength=0.3" % jid)[2])
    d30 = np.abs(np.frombuffer(ff30, np.uint8).astype(int) - np.frombuffer(g30, np.uint8).astype(int)).max()
    check(st == 200 and d30 <= 1 and "-30.cube" in hd3.get("content-disposition", ""),
          "look.cube?strength=0.3 in FFmpeg is graded?strength=0.3 (max %d; %s)" % (d30, hd3.get("content-disposition")))
    st3, _, d3s = s.request("GET", "/v1/jobs/%s/look.3dl?strength=0.3" % jid)
    p3s = os.path.join(tmp, "look30.3dl")
    open(p3s, "wb").write(d3s)
    o3s = img.copy()
    cfg.getProcessor(OCIO.FileTransform(src=p3s, interpolation=OCIO.INTERP_TETRAHEDRAL)).getDefaultCPUProcessor().applyRGB(o3s)
    d3d = np.abs(np.round(o3s * 255).astype(int).reshape(-1) - np.frombuffer(g30, np.uint8).astype(int)).max()
    sth, _, h30 = s.request("GET", "/v1/jobs/%s/hald.png?strength=0.3" % jid)
    ph30 = os.path.join(tmp, "hald30.png")
    open(ph30, "wb").write(h30)
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", src, "-i", ph30, "-filter_complex", "[0][1]haldclut",
                        "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True)
    dh = np.abs(np.frombuffer(r.stdout, np.uint8).astype(int) - np.frombuffer(g30, np.uint8).astype(int)).max()
    check(st3 == 200 and d3d <= 2 and sth == 200 and dh <= 3,
          "look.3dl (OCIO, max %d) and hald.png (FFmpeg haldclut, max %d) at strength 0.3 too" % (d3d, dh))
    for name, magic in (("strip.png", b"\x89PNG"), ("preview.jpg", b"\xff\xd8"), ("before.jpg", b"\xff\xd8"),
                        ("report.json", b"{")):
        st, _, d = s.request("GET", "/v1/jobs/%s/%s" % (jid, name))
        check(st == 200 and d.startswith(magic), name)
    st, rep = s.json("GET", "/v1/jobs/%s/report.json" % jid)
    check(rep.get("method") == "looks" and rep["settings"]["lut_size"] == 33, "report.json from the options used")

    # listing and paging
    st, lst = s.json("GET", "/v1/jobs?limit=1")
    check(st == 200 and len(lst["jobs"]) == 1 and lst["jobs"][0]["id"] == jid, "GET /v1/jobs, newest first")

    # /v1/looks: fast preview and the LUT
    small = photo("rocket.jpg")
    body, ct = multipart({"prompt": "温暖的日落胶片风"}, {"photo": ("r.jpg", small)})
    st, lk = s.json("POST", "/v1/looks", body, {"Content-Type": ct})
    check(st == 200 and lk.get("understood") and lk.get("preview", "").startswith("data:image/jpeg;base64,"),
          "POST /v1/looks: understood + preview (%s)" % lk.get("understood"))
    st, _, c2 = s.request("POST", "/v1/looks", json.dumps({"prompt": "warm film", "output": "cube"}),
                          {"Content-Type": "application/json"})
    check(st == 200 and b"LUT_3D_SIZE 33" in c2, "POST /v1/looks output=cube (JSON body)")
    # a prompt of two lines as a browser's textarea sends it (CRLF) is text, for the preview and the job
    body, ct = multipart({"prompt": "warm film\r\nteal shadows"}, {"photo": ("r.jpg", small)})
    st, lk = s.json("POST", "/v1/looks", body, {"Content-Type": ct})
    st2, j2 = s.submit({"prompt": "warm film\r\nteal shadows"}, {"photo": ("r.jpg", small)})
    check(st == 200 and "teal shadows" in lk.get("understood", "") and st2 == 202,
          "a CRLF in the prompt is a line end (%s %s, %s)" % (st, lk.get("understood") or lk, st2))
    # /v1/looks: suggestions, every parameter, the look read back from them, the strengths
    jh = {"Content-Type": "application/json"}
    st, lk = s.json("POST", "/v1/looks", json.dumps({"prompt": "cinemattik warm film"}), jh)
    check(st == 200 and lk.get("ignored") == "cinemattik" and lk.get("suggested") == "cinematic" and
          lk.get("params", {}).get("temp", 0) > 0 and len(lk["params"].get("band_hue", [])) == 8,
          "POST /v1/looks: suggested + params (%s)" % {k: lk.get(k) for k in ("ignored", "suggested")})
    st, lk2 = s.json("POST", "/v1/looks", json.dumps({"prompt": "cinematik, a picture at sunset, I want it cold"}), jh)
    check(st == 200 and lk2.get("corrected") == "cinematik \u2192 cinematic" and lk2.get("scene") == "sunset" and
          "cinematik" in lk2.get("understood", "") and not lk2.get("ignored"),
          "POST /v1/looks: a typing slip read as meant, a scene word not graded (%s)" %
          {k: lk2.get(k) for k in ("corrected", "scene", "understood", "ignored")})
    st, _, c3 = s.request("POST", "/v1/looks", json.dumps({"params": json.dumps(lk.get("params", {})),
                                                           "output": "cube"}), jh)
    st2, _, c4 = s.request("POST", "/v1/looks", json.dumps({"prompt": "cinemattik warm film", "output": "cube"}), jh)
    check(st == 200 and st2 == 200 and c3 == c4, "POST /v1/looks params= gives the prompt's LUT")
    st, lk0 = s.json("POST", "/v1/looks", json.dumps({"prompt": "very warm", "color_strength": "0"}), jh)
    check(st == 200 and lk0.get("params", {}).get("temp") == 0, "POST /v1/looks color_strength=0")
    for what, body in (("strength out of range", {"prompt": "warm", "tone_strength": "3"}),
                       ("prompt and params", {"prompt": "warm", "params": "{}"}),
                       ("params unknown field", {"params": "{\"warmth\": 1}"}),
                       ("params not JSON", {"params": "{\"temp\": "})):
        st, e = s.json("POST", "/v1/looks", json.dumps(body), jh)
        check(st == 400, "POST /v1/looks %s: 400 (%s)" % (what, e.get("error", {}) if isinstance(e, dict) else e))
    st, _, ca = s.request("POST", "/v1/looks", json.dumps({"prompt": "very cold", "output": "cube"}), jh)
    st2, _, cb = s.request("POST", "/v1/looks", json.dumps({"prompt": "very cold", "output": "cube", "skin_protect": 0}),
                           jh)
    check(st == 200 and st2 == 200 and ca != cb, "POST /v1/looks skin_protect=0 changes the LUT")
    # /v1/apply: the served .cube applied to the photo equals graded
    body, ct = multipart({}, {"photo": ("c.png", photo()), "lut": ("look.cube", cube)})
    st, _, ap = s.request("POST", "/v1/apply", body, {"Content-Type": ct})
    check(st == 200 and np.array_equal(np.frombuffer(ffmpeg_rgb(ap)[2], np.uint8).astype(int), a),
          "POST /v1/apply gives the graded photo")
    return jid


def bad_requests(s, jid):
    ct_bad = "multipart/form-data; boundary=xyz"
    truncated = multipart({"prompt": "warm"}, {"photo": ("a.png", photo())})
    cases = [
        ("no photo", "POST", "/v1/jobs", *multipart({"prompt": "warm"}, {}), 400),
        ("not an image", "POST", "/v1/jobs", *multipart({"prompt": "warm"}, {"photo": ("a.jpg", b"hello world")}), 415),
        ("unknown field", "POST", "/v1/jobs", *multipart({"prompt": "warm", "bogus": "1"}, {"photo": ("a.png", photo())}), 400),
        ("steps not a number", "POST", "/v1/jobs", *multipart({"prompt": "warm", "steps": "abc"}, {"photo": ("a.png", photo())}), 400),
        ("steps 0", "POST", "/v1/jobs", *multipart({"prompt": "warm", "steps": "0"}, {"photo": ("a.png", photo())}), 400),
        ("steps over the server cap", "POST", "/v1/jobs", *multipart({"prompt": "warm", "steps": "999999"}, {"photo": ("a.png", photo())}), 400),
        ("lut_size 999", "POST", "/v1/jobs", *multipart({"prompt": "warm", "lut_size": "999"}, {"photo": ("a.png", photo())}), 400),
        ("strength 2", "POST", "/v1/jobs", *multipart({"prompt": "warm", "strength": "2"}, {"photo": ("a.png", photo())}), 400),
        ("empty prompt", "POST", "/v1/jobs", *multipart({"prompt": ""}, {"photo": ("a.png", photo())}), 400),
        ("prompt not UTF-8", "POST", "/v1/jobs", *multipart({"prompt": b"\xff\xfe"}, {"photo": ("a.png", photo())}), 400),
        ("duplicate field", "POST", "/v1/jobs", *multipart_parts([("prompt", "a"), ("photo", ("a.png", photo())), ("prompt", "b")]), 400),
        ("truncated multipart", "POST", "/v1/jobs", truncated[0][:5000], truncated[1], 400),
        ("multipart without Content-Type", "POST", "/v1/jobs", truncated[0], None, 415),
        ("no boundary", "POST", "/v1/jobs", b"--xyz\r\n\r\n", "multipart/form-data", 400),
        ("garbage multipart", "POST", "/v1/jobs", b"\x00\x01garbage", ct_bad, 400),
        ("headers never end", "POST", "/v1/jobs", b"--xyz\r\nContent-Disposition: form-data; name=a", ct_bad, 400),
        ("bad JSON", "POST", "/v1/looks", b"{\"prompt\": ", "application/json", 400),
        ("JSON not an object", "POST", "/v1/looks", b"[1,2]", "application/json", 400),
        ("JSON nested", "POST", "/v1/looks", b"{\"prompt\": {\"a\": 1}}", "application/json", 400),
        ("looks without prompt", "POST", "/v1/looks", b"{}", "application/json", 400),
        ("looks bad output", "POST", "/v1/looks", b"{\"prompt\":\"warm\",\"output\":\"exe\"}", "application/json", 400),
        ("unsupported content type", "POST", "/v1/looks", b"prompt=warm", "text/plain", 415),
        ("apply without lut", "POST", "/v1/apply", *multipart({}, {"photo": ("a.png", photo())}), 400),
        ("apply with a broken lut", "POST", "/v1/apply", *multipart({}, {"photo": ("a.png", photo()), "lut": ("l.cube", b"LUT_3D_SIZE 2\n1 2\n")}), 400),
        ("apply with a text photo", "POST", "/v1/apply", *multipart({}, {"photo": ("a.png", b"text"), "lut": ("l.cube", b"LUT_3D_SIZE 2\n")}), 415),
        ("bad job id", "GET", "/v1/jobs/zzzz", None, None, 404),
        ("job id of 16 non-hex", "GET", "/v1/jobs/ZZZZZZZZZZZZZZZZ", None, None, 404),
        ("unknown job", "GET", "/v1/jobs/0123456789abcdef", None, None, 404),
        ("unknown file", "GET", "/v1/jobs/%s/secret.txt" % jid, None, None, 404),
        ("traversal", "GET", "/v1/jobs/%s/../../dlut.db" % jid, None, None, 404),
        ("traversal 2", "GET", "/v1/jobs/../jobs/%s/look.cube" % jid, None, None, 404),
        ("dot file", "GET", "/v1/jobs/%s/.." % jid, None, None, 404),
        ("encoded traversal", "GET", "/v1/jobs/%s/..%%2f..%%2fdlut.db" % jid, None, None, 404),
        ("bad limit", "GET", "/v1/jobs?limit=0", None, None, 400),
        ("bad limit 2", "GET", "/v1/jobs?limit=abc", None, None, 400),
        ("bad state", "GET", "/v1/jobs?state=bogus", None, None, 400),
        ("bad strength", "GET", "/v1/jobs/%s/graded?strength=9" % jid, None, None, 400),
        ("method", "PUT", "/v1/jobs", b"", None, 405),
        ("method 2", "POST", "/healthz", b"", None, 405),
        ("no route", "GET", "/v2/jobs", None, None, 404),
        ("long path", "GET", "/v1/" + "a" * 3000, None, None, 414),
        ("huge content-length", "POST", "/v1/jobs", b"", {"Content-Length": "999999999999"}, 413),
    ]
    for name, method, path, body, ct, want in cases:
        headers = ct if isinstance(ct, dict) else ({"Content-Type": ct} if ct else {})
        try:
            st, hd, data = s.request(method, path, body, headers)
        except Exception as e:  # noqa: BLE001
            st, data = -1, str(e).encode()
        ok = st == want
        if ok and st >= 400 and data:
            try:
                ok = json.loads(data)["error"]["status"] == st
            except (ValueError, KeyError, TypeError):
                ok = False
        check(ok, "bad request '%s' -> %s (got %s %s)" % (name, want, st, data[:120]))
    # /v1/looks and /v1/apply are as strict as /v1/jobs: each is refused with 400 and says why
    cube = b"LUT_3D_SIZE 2\n" + b"".join(b"%d %d %d\n" % (r, g, b) for b in (0, 1) for g in (0, 1) for r in (0, 1))
    apply_ok = {"photo": ("a.png", photo()), "lut": ("l.cube", cube)}
    body, ct = multipart({"strength": "0.5"}, apply_ok)
    st, _, _ = s.request("POST", "/v1/apply", body, {"Content-Type": ct})
    check(st == 200, "POST /v1/apply with a valid LUT and strength (the strict cases below differ by one field) (%s)" % st)
    with tempfile.TemporaryDirectory() as td:  # a float TIFF in gives a float TIFF back
        subprocess.run(["convert", os.path.join(SHARED, "data/photos/chelsea.png"), "-depth", "32", "-define",
                        "quantum:format=floating-point", "-strip", td + "/f.tif"], check=True)
        body, ct = multipart({}, {"photo": ("f.tif", open(td + "/f.tif", "rb").read()), "lut": ("l.cube", cube)})
        st, _, out = s.request("POST", "/v1/apply", body, {"Content-Type": ct})
        open(td + "/o.tif", "wb").write(out)
        fmt = subprocess.run(["identify", "-format", "%z %[quantum:format]", td + "/o.tif"], capture_output=True,
                             text=True).stdout if st == 200 else ""
        check(fmt == "32 floating-point", "POST /v1/apply: a float TIFF in, a float TIFF out (%s %s)" % (st, fmt))
    strict = [
        ("looks unknown field", "/v1/looks", b'{"prompt":"warm","strenght":0.5}', "application/json", "unknown field 'strenght'"),
        ("looks field twice", "/v1/looks", b"prompt=warm&prompt=cold", "application/x-www-form-urlencoded", "given twice"),
        ("looks prompt as a file", "/v1/looks", *multipart({}, {"prompt": ("p.txt", b"warm")}), "must be text"),
        ("JSON \\u0000 in a string", "/v1/looks", b'{"prompt":"warm\\u0000 cold"}', "application/json", "NUL"),
        ("JSON with text after it", "/v1/looks", b'{"prompt":"warm"} x', "application/json", "after the object"),
        ("broken percent escape", "/v1/looks", b"prompt=warm%ZZ", "application/x-www-form-urlencoded", "two hex digits"),
        ("apply unknown field", "/v1/apply", *multipart({"strenght": "0.5"}, apply_ok), "unknown field 'strenght'"),
        ("apply strength as a file", "/v1/apply", *multipart({}, dict(apply_ok, strength=("s.txt", b"0.5"))), "must be text"),
        ("apply photo twice", "/v1/apply", *multipart_parts([("photo", ("a.png", photo())), ("lut", ("l.cube", cube)),
                                                             ("photo", ("b.png", photo()))]), "given twice"),
        ("looks photo twice", "/v1/looks", *multipart_parts([("prompt", "warm"), ("photo", ("a.png", photo())),
                                                             ("photo", ("b.png", photo()))]), "field 'photo' given twice"),
        # /v1/jobs: the same refusals through the same check (srv_form_check with the job's rule table)
        ("jobs unknown field", "/v1/jobs", *multipart({"prompt": "warm", "bogus": "1"}, {"photo": ("a.png", photo())}),
         "unknown field 'bogus'"),
        ("jobs option twice", "/v1/jobs", *multipart_parts([("photo", ("a.png", photo())), ("prompt", "warm"),
                                                            ("prompt", "cold")]), "field 'prompt' given twice"),
        ("jobs option as a file", "/v1/jobs", *multipart({}, {"photo": ("a.png", photo()), "prompt": ("p.txt", b"warm")}),
         "field 'prompt' must be text"),
        ("jobs option holding a NUL", "/v1/jobs", *multipart({"prompt": b"warm\0cold"}, {"photo": ("a.png", photo())}),
         "field 'prompt' must be text"),
        ("jobs mask_prompt as a file", "/v1/jobs", *multipart_parts([("photo", ("a.png", photo())), ("prompt", "warm"),
                                                                     ("mask", ("m.png", photo())),
                                                                     ("mask_prompt", ("t.txt", b"teal"))]),
         "field 'mask_prompt' must be text"),
        ("jobs region as a file", "/v1/jobs", *multipart_parts([("photo", ("a.png", photo())), ("prompt", "warm"),
                                                                ("region", ("r.txt", b"sky=teal"))]),
         "field 'region' must be text (\"WHERE=PROMPT\", one per line)"),
        ("jobs reference twice", "/v1/jobs", *multipart_parts([("photo", ("a.png", photo())), ("prompt", "warm"),
                                                               ("reference", ("r.png", photo())),
                                                               ("reference", ("s.png", photo()))]),
         "field 'reference' given twice"),
    ]
    for name, path, body, ct, want in strict:
        st, _, data = s.request("POST", path, body, {"Content-Type": ct})
        try:
            msg = json.loads(data)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            msg = ""
        check(st == 400 and want in msg, "strict request '%s' -> 400 '%s' (got %s %s)" % (name, want, st, data[:120]))
    # more hostile uploads, each answered at submission from the header alone
    png_huge = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xea\x60\x00\x00\xea\x60\x08\x02\x00\x00\x00"
                + b"\x00" * 64)
    for name, files, fields, want in (
            ("PNG header claiming 60000x60000", {"photo": ("h.png", png_huge)}, {"prompt": "warm"}, 413),
            ("truncated JPEG", {"photo": ("t.jpg", photo("rocket.jpg")[:300])}, {"prompt": "warm"}, 400),
            ("JPEG of 3 bytes", {"photo": ("t.jpg", b"\xff\xd8\xff")}, {"prompt": "warm"}, 400),
            ("reference not an image", {"photo": ("a.png", photo()), "reference": ("r.png", b"nope")}, {"prompt": "warm"}, 415)):
        st, j = s.submit(fields, files)
        check(st == want, "bad upload '%s' -> %d at submission (got %s %s)" % (name, want, st, j.get("error")))
    # uploads whose header is fine but which are not whole: refused at submission by a cheap structural
    # check (dlut_image_check_whole), not queued to fail in the worker (before: 202, then "truncated JPEG data")
    from io import BytesIO
    from PIL import Image
    frames = [Image.new("RGB", (64, 48), (80 * i, 40, 0)) for i in range(3)]
    anim = BytesIO()
    frames[0].save(anim, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    jpg, png, webp = photo("rocket.jpg"), photo("chelsea.png"), photo("wood-4096.webp")
    plain = BytesIO()  # a JPEG with no metadata: its frame header within the first 200 bytes, its scan not
    Image.new("RGB", (640, 480), (200, 120, 40)).save(plain, "JPEG", quality=90)
    plain = plain.getvalue()
    for name, parts, want, say in (
            ("JPEG cut in half", [("photo", ("t.jpg", jpg[:len(jpg) // 2]))], 400, "truncated JPEG"),
            ("JPEG cut to 200 bytes", [("photo", ("t.jpg", jpg[:200]))], 400, "JPEG"),
            ("JPEG cut to 200 bytes, its frame header in them", [("photo", ("t.jpg", plain[:200]))], 400,
             "truncated JPEG"),
            ("JPEG without its last 100 bytes", [("photo", ("t.jpg", jpg[:-100]))], 400, "end-of-image"),
            ("PNG cut in half", [("photo", ("t.png", png[:len(png) // 2]))], 400, "truncated PNG"),
            ("WebP cut in half", [("photo", ("t.webp", webp[:len(webp) // 2]))], 400, "truncated WebP"),
            ("animated WebP", [("photo", ("a.webp", anim.getvalue()))], 415, "animated"),
            ("truncated reference", [("photo", ("a.png", png)), ("reference", ("r.jpg", jpg[:len(jpg) // 2]))], 400,
             "the reference"),
            ("a set with a truncated second photo", [("photo", ("a.png", png)), ("photo", ("b.jpg", jpg[:len(jpg) // 2]))],
             400, "truncated JPEG")):
        st, j = s.submit_parts(parts + [("prompt", "warm")])
        msg = j.get("error", {}).get("message", "")
        check(st == want and say in msg, "not whole: '%s' -> %d at submission (got %s: %s)" % (name, want, st, msg))
    # and no false alarm: a JPEG with bytes after its end marker (a trailer, as some cameras write) is whole
    st, j = s.submit({"prompt": "warm"}, {"photo": ("t.jpg", jpg + b"maker trailer" * 10)})
    check(st == 202 and s.wait_state(j["id"])["state"] == "done", "a JPEG with a trailer after its end marker runs (%s)" % st)
    # a quoted parameter cannot smuggle in another: this part is named "prompt", a file, so no photo
    b = (b'--B\r\nContent-Disposition: form-data; filename="a;name=photo;"; name="prompt"\r\n\r\n' + photo() +
         b'\r\n--B--\r\n')
    st, _, d = s.request("POST", "/v1/jobs", b, {"Content-Type": "multipart/form-data; boundary=B"})
    check(st == 400, "multipart parameters are split outside quotes only (%s %s)" % (st, d[:100]))
    b = (b'--B\r\nContent-Disposition: form-data; name="prompt\x00zz"\r\n\r\nwarm\r\n--B--\r\n')
    st, _, _ = s.request("POST", "/v1/looks", b, {"Content-Type": "multipart/form-data; boundary=B"})
    check(st == 400, "a NUL in a field name is refused (%s)" % st)
    # a file name that is not UTF-8 still gives valid JSON everywhere
    b = (b'--B\r\nContent-Disposition: form-data; name="photo"; filename="\xff\xfe\xc3(.png"\r\n\r\n' + photo() +
         b'\r\n--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nwarm\r\n--B--\r\n')
    st, j = s.json("POST", "/v1/jobs", b, {"Content-Type": "multipart/form-data; boundary=B"})
    s.wait_state(j["id"])
    ok = True
    for path in ("/v1/jobs/" + j["id"], "/v1/jobs?limit=100"):
        st, _, d = s.request("GET", path)
        try:
            json.loads(d.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            ok = False
    check(ok, "a file name with invalid UTF-8 leaves every JSON answer valid UTF-8")
    for q in ("0x1p-1", "%200.5", "nan", "inf", "1e309"):
        st, _, _ = s.request("GET", "/v1/jobs/%s/graded?strength=%s" % (jid, q))
        check(st == 400, "strength=%s is refused (%s)" % (q, st))
    st, j = s.submit({"prompt": "warm", "strength": "0x1p-1"}, {"photo": ("a.png", photo())})
    check(st == 400, "a hex float option is refused (%s)" % st)
    st, _, _ = s.request("POST", "/v1/looks", b'{"prompt":"warm"}', {"Content-Type": "application/jsonp"})
    check(st == 415, "Content-Type application/jsonp is not JSON (%s)" % st)
    st, hd, _ = s.request("PUT", "/v1/jobs/" + jid)
    check(st == 405 and "GET" in hd.get("allow", ""), "405 says what is allowed (%s)" % hd.get("allow"))
    # a 1x1 photo: bad input at submission
    tiny = open(os.path.join(SHARED, "data", "photos", "chelsea.png"), "rb").read()
    one = subprocess.run(["ffmpeg", "-v", "error", "-i", "-", "-vf", "scale=1:1", "-f", "image2pipe", "-vcodec", "png", "-"],
                         input=tiny, capture_output=True).stdout
    st, j = s.submit({"prompt": "warm"}, {"photo": ("one.png", one)})
    check(st == 400 and j["error"]["code"] == "bad_input", "a 1x1 photo is bad input (%s)" % st)

    # a request line that is not HTTP, and a header flood: answered, and the server lives on
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 100000 + b"\r\n\r\n"):
        so = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        so.sendall(raw)
        try:
            resp = so.recv(100)
        except OSError:
            resp = b""
        so.close()
        check(resp.startswith(b"HTTP/1.1 4") or resp == b"", "raw junk answered with a 4xx or closed (%s)" % resp[:20])
    check(s.alive() and s.json("GET", "/healthz")[0] == 200, "the server lives on after every bad request")


def cancel_offline(s):
    """DELETE on a running offline-look job (a 16-megapixel WebP takes a while) ends it cancelled."""
    big = photo("wood-4096.webp")
    st, j = s.submit({"prompt": "warm film"}, {"photo": ("w.webp", big)})
    t0 = time.time()
    while s.json("GET", "/v1/jobs/" + j["id"])[1]["state"] == "queued" and time.time() - t0 < 30:
        time.sleep(0.005)
    st, d = s.json("DELETE", "/v1/jobs/" + j["id"])
    job = s.wait_state(j["id"])
    check(st == 200 and (d.get("cancel_requested") or d["state"] == "cancelled") and job["state"] == "cancelled",
          "DELETE on a running offline job cancels it (%s, then %s)" % (d.get("state"), job["state"]))
    st, _, _ = s.request("GET", "/v1/jobs/%s/look.cube" % j["id"])
    check(st == 404, "a cancelled job's files: 404 (%s)" % st)


_BIG = []


def big_png(side=7000):
    """A smooth side x side PNG (49 megapixels by default: decoding, grading and encoding it takes about a
    second on a CPU core), made once with numpy and PIL; the same bytes serve as every photo of a set."""
    if not _BIG:
        from io import BytesIO
        from PIL import Image
        x = (np.arange(side) * 255 // side).astype(np.uint8)
        a = np.empty((side, side, 3), np.uint8)
        a[:, :, 0] = x[None, :]
        a[:, :, 1] = x[:, None]
        a[:, :, 2] = 128
        b = BytesIO()
        Image.fromarray(a).save(b, "PNG", compress_level=1)
        _BIG.append(b.getvalue())
    return _BIG[0]


def big_set(s, n=3, prompt="warm film"):
    return s.submit_parts([("photo", ("big%d.png" % i, big_png())) for i in range(n)] + [("prompt", prompt)])


def leftovers(s, jid):
    """What a stopped job must not leave in its folder: results, staging folders, previews, thumbnails."""
    d = os.path.join(s.data, "d", "jobs", jid)
    return sorted(n for n in os.listdir(d) if n == "out" or n.startswith(("out.tmp.", "preview", "thumb-")))


def stop_offline_set():
    """--job-timeout and DELETE reach a job without a model between its stages: a set of three 49-megapixel
    photos (about 6 s of decoding, grading and encoding) stops within about one photo's work and leaves
    nothing half-written. (Before, only the per-step callback looked, and an offline job has no steps.)"""
    s = Server(args=["--model", "none", "--concurrency", "1", "--job-timeout", "1"])
    try:
        st, j = big_set(s)
        job = s.wait_state(j["id"], timeout=120)
        run = job["timings"].get("run_s", 99)
        check(st == 202 and job["state"] == "failed" and job.get("error", {}).get("code") == "timeout" and run < 3.5,
              "--job-timeout 1 stops an offline set of 3 large photos (%s after %.1f s: %s)"
              % (job["state"], run, job.get("error")))
        check(leftovers(s, j["id"]) == [], "a timed-out set leaves no results, staging or thumbnails (%s)"
              % leftovers(s, j["id"]))
    finally:
        s.stop()
    s = Server(args=["--model", "none", "--concurrency", "1"])
    try:
        st, j = big_set(s)
        t0 = time.time()
        while s.json("GET", "/v1/jobs/" + j["id"])[1]["state"] == "queued" and time.time() - t0 < 30:
            time.sleep(0.01)
        time.sleep(0.8)  # into the decoding of the photos
        t1 = time.time()
        st, d = s.json("DELETE", "/v1/jobs/" + j["id"])
        job = s.wait_state(j["id"], timeout=120)
        lag = time.time() - t1
        check(st == 200 and job["state"] == "cancelled" and lag < 2.5,
              "DELETE stops a running offline set within about a photo's work (%s %.1f s after it)" % (job["state"], lag))
        check(leftovers(s, j["id"]) == [], "a cancelled set leaves no results, staging or thumbnails (%s)"
              % leftovers(s, j["id"]))
        # the server goes on: the next job runs whole
        st, j2 = s.submit({"prompt": "warm"}, {"photo": ("c.png", photo())})
        check(s.wait_state(j2["id"])["state"] == "done", "the next job after a stopped set is done")
    finally:
        check(s.stop() == 0, "server stops cleanly after a stopped set")


def retention():
    """--keep-hours: finished jobs and their folders go once they are that old."""
    s = Server(args=["--model", "none", "--keep-hours", "0.001"])  # 3.6 s
    try:
        st, j = s.submit({"prompt": "warm"}, {"photo": ("c.png", photo())})
        s.wait_state(j["id"])
        folder = os.path.join(s.data, "d", "jobs", j["id"])
        check(os.path.isdir(folder) and s.request("GET", "/v1/jobs/" + j["id"])[0] == 200, "a finished job is kept at first")
        t0 = time.time()
        while s.request("GET", "/v1/jobs/" + j["id"])[0] == 200 and time.time() - t0 < 30:
            time.sleep(0.2)
        gone = time.time() - t0
        check(s.request("GET", "/v1/jobs/" + j["id"])[0] == 404 and not os.path.exists(folder) and gone < 15,
              "after --keep-hours the job and its folder are gone (%.1f s)" % gone)
    finally:
        s.stop()


def upload_statuses(s, body, ct, times):
    """POST body to /v1/jobs `times` times without waiting for an answer first (as http.client does): the
    statuses, or the name of the error a reset gave instead."""
    seen = []
    for _ in range(times):
        try:
            seen.append(s.request("POST", "/v1/jobs", body, {"Content-Type": ct})[0])
        except OSError as e:
            seen.append(type(e).__name__)
    return seen


def upload_caps():
    s = Server(args=["--model", "none", "--max-upload-mb", "1", "--max-pixels", "100000"])
    try:
        st, j = s.submit({"prompt": "warm"}, {"photo": ("big.png", photo("astronaut.png"))})  # 790 kB, 512x512
        check(st == 413 and j["error"]["code"] == "too_large",
              "an image over --max-pixels is refused at submission from its header (%s)" % j.get("error"))
        big = photo("wood-4096.webp")  # 1.1 MB
        # Content-Length over the cap: 413 before the body is sent to a client that waits for it
        # (Expect: 100-continue), without uploading anything
        so = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        so.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                   b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(big))
        resp = so.recv(4096)
        so.close()
        check(resp.startswith(b"HTTP/1.1 413") and b"too_large" in resp, "an upload over --max-upload-mb is 413 (%s)" % resp[:40])
        # a client that sends it all without waiting (Python's http.client) reads the 413 after it, not a
        # reset in the middle of its upload; five times, as the reset was a race
        body, ct = multipart({"prompt": "warm"}, {"photo": ("w.webp", big * 8)})  # 9 MB
        seen = upload_statuses(s, body, ct, 5)
        check(seen == [413] * 5, "an upload over the cap sent without waiting reads its 413 (%s)" % seen)
        # chunked upload (no Content-Length) over the cap
        c = s.conn()
        body, ct = multipart({"prompt": "warm"}, {"photo": ("w.webp", big)})
        c.putrequest("POST", "/v1/jobs")
        c.putheader("Content-Type", ct)
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        for i in range(0, len(body), 65536):
            ch = body[i:i + 65536]
            c.send(b"%x\r\n%s\r\n" % (len(ch), ch))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        check(r.status == 413, "a chunked upload over the cap is 413 (%d)" % r.status)
        c.close()
    finally:
        check(s.stop() == 0, "server stops cleanly on SIGTERM")


def token():
    s = Server(args=["--model", "none", "--token", "s3cret"])
    try:
        check(s.request("GET", "/healthz")[0] == 200, "token: /healthz stays open")
        check(s.request("GET", "/v1/jobs")[0] == 401, "token: no header -> 401")
        check(s.request("GET", "/v1/jobs", headers={"Authorization": "Bearer nope"})[0] == 401, "token: wrong -> 401")
        check(s.request("GET", "/v1/jobs", headers={"Authorization": "Bearer s3cret"})[0] == 200, "token: right -> 200")
        # the page's own files open without it (a browser cannot send the header on a navigation;
        # the page then sends it from #token=), and carry no data
        st, hd, page = s.request("GET", "/")
        check(st == 200 and b"<title>DLUT" in page, "token: the page itself opens without the header (%d)" % st)
        check(s.request("GET", "/app.js")[0] == 200 and s.request("HEAD", "/style.css")[0] == 200,
              "token: and its script and style")
        check(s.request("POST", "/", body=b"x", headers={"Content-Type": "text/plain"})[0] == 401,
              "token: but not another method on it")
        check(s.request("GET", "/v1/openapi.json")[0] == 401 and s.request("GET", "/metrics")[0] == 401,
              "token: the API's routes still need it")
        st, j = s.submit({"prompt": "warm"}, {"photo": ("c.png", photo())}, headers={"Authorization": "Bearer s3cret"})
        check(st == 202, "token: submit with the token")
        st, _ = s.submit({"prompt": "warm"}, {"photo": ("c.png", photo())})
        check(st == 401, "token: submit without it -> 401")
        # a big upload without it reads its 401 after sending (the body is read away, not reset)
        body, ct = multipart({"prompt": "warm"}, {"photo": ("w.webp", photo("wood-4096.webp") * 8)})
        seen = upload_statuses(s, body, ct, 3)
        check(seen == [401] * 3, "token: a 9 MB upload without it reads its 401 (%s)" % seen)
    finally:
        s.stop()


def startup():
    """One server per data folder and per port; a --ready-file that cannot be written stops the start."""
    a = Server(args=["--model", "none"])
    try:
        r = subprocess.run([DLUT, "serve", "--port", "0", "--data", os.path.join(a.data, "d"), "--model", "none"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and "in use by another dlut serve (pid %d)" % a.proc.pid in r.stderr,
              "a second server on the same data folder is refused: " + r.stderr.strip())
        other = tempfile.mkdtemp(prefix="dlut-serve-")
        r = subprocess.run([DLUT, "serve", "--port", str(a.port), "--data", other, "--model", "none"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and "Address already in use" in r.stderr,
              "a second server on a port in use is refused: " + r.stderr.strip())
        check(a.request("GET", "/healthz")[0] == 200, "and the first one still answers")
        r = subprocess.run([DLUT, "serve", "--port", "0", "--data", other, "--model", "none",
                            "--ready-file", os.path.join(other, "no", "such", "folder", "ready")],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and "cannot create" in r.stderr,
              "a --ready-file that cannot be written stops the server: " + r.stderr.strip())
    finally:
        a.stop()
    r = subprocess.run([DLUT, "serve", "--host", "example.org", "--port", "0", "--model", "none",
                        "--data", tempfile.mkdtemp(prefix="dlut-serve-")], capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "--host must be an IP address" in r.stderr,
          "--host with a name is a usage error: " + r.stderr.strip()[-120:])
    ipv6()


def ipv6():
    """--host ::1 serves on IPv6 loopback; --host :: on every interface, IPv4 clients too (dual stack)."""
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError as e:
        print("not tested here: this machine has no IPv6 loopback (%s)" % e, flush=True)
        return
    for host, clients in (("::1", ["::1"]), ("::", ["::1", "127.0.0.1"])):
        s = Server(args=["--model", "none", "--host", host])
        try:
            got = []
            for c in clients:
                conn = http.client.HTTPConnection(c, s.port, timeout=10)
                conn.request("GET", "/healthz")
                got.append(conn.getresponse().status)
                conn.close()
            check(s.url == "http://[%s]:%d/" % (host, s.port) and got == [200] * len(clients),
                  "--host %s: %s answers %s over %s" % (host, s.url, got, clients))
        finally:
            check(s.stop() == 0, "--host %s: stops cleanly" % host)


def crash_restart():
    """SIGKILL the server with jobs queued; on restart every accepted job finishes."""
    s = Server(args=["--model", "none", "--concurrency", "1"])
    pic = photo("astronaut.png")
    ids = []
    c = s.conn()
    for i in range(40):
        st, j = s.submit({"prompt": "warm film %d" % i}, {"photo": ("a.png", pic)}, conn=c)
        if st == 202:
            ids.append(j["id"])
    c.close()
    st, lst = s.json("GET", "/v1/jobs?limit=100&state=queued")
    pending = len(lst.get("jobs", []))
    s.kill()
    check(len(ids) == 40, "40 jobs accepted before the kill")
    check(pending > 0, "jobs were still queued at SIGKILL (%d)" % pending)
    s.start()
    states = [s.wait_state(i, timeout=180)["state"] for i in ids]
    check(all(x == "done" for x in states), "after SIGKILL + restart every accepted job finished (%d/%d)"
          % (states.count("done"), len(ids)))
    for i in ids[-3:]:
        st, _, d = s.request("GET", "/v1/jobs/%s/look.cube" % i)
        check(st == 200 and d.rstrip().count(b"\n") > 35000, "results of a resumed job are whole")
    s.stop()


def stale_staging():
    """A run killed while writing leaves its staging folder (out.tmp.XXXXXX); the job's next run removes it.
    Made deterministic: SIGKILL while a big set runs and a second job waits, then a staging folder with a
    partial result planted in each job's folder before the restart."""
    s = Server(args=["--model", "none", "--concurrency", "1"])
    try:
        st, a = big_set(s)
        st2, b = s.submit({"prompt": "warm"}, {"photo": ("c.png", photo())})
        t0 = time.time()
        while s.json("GET", "/v1/jobs/" + a["id"])[1]["state"] == "queued" and time.time() - t0 < 30:
            time.sleep(0.01)
        s.kill()
        planted = []
        for jid in (a["id"], b["id"]):
            st_dir = os.path.join(s.data, "d", "jobs", jid, "out.tmp.abc123")
            os.makedirs(os.path.join(st_dir, "graded"))
            open(os.path.join(st_dir, "graded", "big0.png"), "wb").write(b"\x89PNG partial")
            open(os.path.join(st_dir, "look.cube"), "w").write("LUT_3D_SIZE 33\n")
            planted.append(st_dir)
        s.start()
        ja, jb = s.wait_state(a["id"], timeout=180), s.wait_state(b["id"], timeout=180)
        check(ja["state"] == "done" and ja["attempts"] == 2 and jb["state"] == "done",
              "after SIGKILL + restart the interrupted set and the queued job are done (%s attempts %s, %s)"
              % (ja["state"], ja["attempts"], jb["state"]))
        check(not any(os.path.exists(p) for p in planted),
              "a staging folder left by a killed run is removed when its job runs again (%s)"
              % [os.path.relpath(p, s.data) for p in planted if os.path.exists(p)])
    finally:
        s.stop()


def load(s):
    """200 concurrent submissions and 100 SSE clients."""
    pic = photo("rocket.jpg")
    results, ends, errors = [], {}, []
    lock = threading.Lock()

    def submit_one(i):
        for _ in range(200):
            st, j = s.submit({"prompt": ["warm", "cold teal", "faded film", "日系清新"][i % 4]}, {"photo": ("r.jpg", pic)})
            if st == 202:
                return j["id"]
            if st != 429:
                with lock:
                    errors.append((st, j))
                return None
            time.sleep(0.05)
        return None

    def follow(jid):
        try:
            evs = s.events(jid, timeout=300)
            with lock:
                ends[jid] = evs[-1][1]["state"] if evs and evs[-1][0] == "end" else None
        except Exception as e:  # noqa: BLE001
            with lock:
                errors.append(("sse", str(e)))

    t0 = time.time()
    with ThreadPoolExecutor(64) as ex:
        ids = list(ex.map(submit_one, range(200)))
    accepted = [i for i in ids if i]
    with ThreadPoolExecutor(100) as ex:
        list(ex.map(follow, accepted[:100]))
    finals = [s.wait_state(i, timeout=300)["state"] for i in accepted]
    dt = time.time() - t0
    check(not errors, "load: no request failed except by 429 (%s)" % errors[:3])
    check(len(accepted) == 200, "load: all 200 submissions accepted (with retries after 429)")
    check(all(x == "done" for x in finals), "load: every accepted job finished (%d done)" % finals.count("done"))
    check(len(ends) == 100 and all(v == "done" for v in ends.values()),
          "load: every one of 100 SSE clients saw its job's final event")
    print("load: 200 jobs in %.1f s (%.0f jobs/s)" % (dt, 200 / dt))
    st, _, m = s.request("GET", "/metrics")
    m = m.decode()
    check(st == 200 and 'dlut_jobs{state="done"}' in m and "dlut_http_request_duration_seconds_bucket" in m
          and "dlut_queue_depth 0" in m, "metrics in Prometheus text format")


def queue_full():
    s = Server(args=["--model", "none", "--concurrency", "1", "--queue-size", "2"])
    try:
        pic = photo("astronaut.png")
        codes = []
        for _ in range(12):
            body, ct = multipart({"prompt": "warm"}, {"photo": ("a.png", pic)})
            st, hd, data = s.request("POST", "/v1/jobs", body, {"Content-Type": ct})
            codes.append((st, hd.get("retry-after")))
        check(any(c == 429 and r for c, r in codes), "a full queue answers 429 with Retry-After (%s)" % [c for c, _ in codes])
        check(all(c in (202, 429) for c, _ in codes), "only 202 or 429 while full")
    finally:
        s.stop()


def memory_flat(s, jid):
    pic = photo("rocket.jpg")
    body, ct = multipart({"prompt": "warm"}, {"photo": ("r.jpg", pic)})
    bad, bct = multipart({"prompt": "warm", "steps": "x"}, {"photo": ("r.jpg", pic)})
    looks = json.dumps({"prompt": "cold teal night"})

    def burst(n):
        c = s.conn()
        for i in range(n):
            k = i % 5
            if k == 0:
                s.request("GET", "/v1/jobs/" + jid, conn=c)
            elif k == 1:
                s.request("POST", "/v1/jobs", bad, {"Content-Type": bct}, conn=c)
            elif k == 2:
                s.request("POST", "/v1/looks", looks, {"Content-Type": "application/json"}, conn=c)
            elif k == 3:
                s.request("GET", "/v1/jobs/zz/../x", conn=c)
            else:
                s.request("GET", "/v1/jobs?limit=5", conn=c)
        c.close()

    burst(1000)
    r0 = s.rss_kb()
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(burst, [2500] * 4))
    r1 = s.rss_kb()
    limit = 40000 if SANITIZED else 8000
    check(r1 - r0 < limit, "memory flat over 10,000 requests: RSS %d -> %d kB (limit +%d)" % (r0, r1, limit))


def clip_job():
    tiny = os.path.join(SHARED, "data", "clip-ref", "openai_tiny")
    s = Server(args=["--model", tiny])
    try:
        st, h = s.json("GET", "/healthz")
        check(h.get("model") == "loaded" and h.get("workers") == 1, "a model server runs one worker")
        st, j = s.submit({"prompt": "warm film", "steps": "12", "lut_size": "9", "samples": "256"},
                         {"photo": ("c.png", photo())})
        evs = s.events(j["id"])
        prog = [d for e, d in evs if e == "progress"]
        prev = [d for e, d in evs if e == "preview"]
        end = evs[-1][1]
        check(end["state"] == "done" and end["method"] == "clip" and end["steps"] == 12 and len(end["losses"]) == 12,
              "CLIP job done through the API, 12 losses (%s)" % end.get("state"))
        check(len(prog) >= 10 and prog[-1]["step"] == 12, "progress every step (%d events)" % len(prog))
        check(len(prev) >= 1 and all(p["jpeg"].startswith("/9j/") for p in prev), "previews while it runs (%d)" % len(prev))
        # cancellation of a long job while it runs
        st, j = s.submit({"prompt": "warm film", "steps": "2000", "lut_size": "9", "samples": "256"},
                         {"photo": ("c.png", photo())})
        t0 = time.time()
        while s.json("GET", "/v1/jobs/" + j["id"])[1].get("step", 0) < 3 and time.time() - t0 < 60:
            time.sleep(0.05)
        st_b, hd_b, before = s.request("GET", "/v1/jobs/%s/before.jpg" % j["id"])
        check(st_b == 200 and before[:2] == b"\xff\xd8" and hd_b.get("content-type") == "image/jpeg",
              "a running job serves its photo as before.jpg, for the page's job card (%s)" % st_b)
        st, _ = s.json("DELETE", "/v1/jobs/" + j["id"])
        at = s.json("GET", "/v1/jobs/" + j["id"])[1]["step"]
        job = s.wait_state(j["id"])
        check(st == 200 and job["state"] == "cancelled" and job["step"] <= at + 2,
              "DELETE stops a running job within a step (asked at %d, stopped at %d)" % (at, job["step"]))
        st, _, _ = s.request("GET", "/v1/jobs/%s/look.cube" % j["id"])
        st_b = s.request("GET", "/v1/jobs/%s/before.jpg" % j["id"])[0]
        check(st == 404 and st_b == 404, "a cancelled job serves no results, nor before.jpg (%s %s)" % (st, st_b))
    finally:
        check(s.stop() == 0, "model server stops cleanly")
    # the time limit per job
    s = Server(args=["--model", tiny, "--job-timeout", "1", "--max-steps", "1000000"])
    try:
        st, j = s.submit({"prompt": "warm film", "steps": "500000", "lut_size": "9", "samples": "256"},
                         {"photo": ("c.png", photo())})
        job = s.wait_state(j["id"], timeout=60)
        run = job["timings"].get("run_s", 99)
        check(job["state"] == "failed" and job["error"]["code"] == "timeout" and run < 5,
              "--job-timeout stops a long job (%s after %.1f s: %s)" % (job["state"], run, job.get("error")))
    finally:
        s.stop()


def hald_cache():
    """hald.png and look.3dl are encoded once (a 65^3 Hald is a 45 MB PNG), under the limit on heavy work:
    parallel first requests get the file or 503 busy, never a pile of encodes; later ones the same bytes
    from the file. (Before, every request encoded its own, and 8 at once took 2.6 GB.)"""
    s = Server(args=["--model", "none", "--concurrency", "1"])
    try:
        st, j = s.submit({"prompt": "warm", "lut_size": "65"}, {"photo": ("c.png", photo())})
        check(s.wait_state(j["id"])["state"] == "done", "a 65^3 job is done")
        rss0 = s.rss_kb()
        url = "/v1/jobs/%s/hald.png" % j["id"]
        with ThreadPoolExecutor(6) as ex:
            first = list(ex.map(lambda _: s.request("GET", url), range(6)))
        codes = sorted(r[0] for r in first)
        bodies = {r[2] for r in first if r[0] == 200}
        rss1 = s.rss_kb()
        check(set(codes) <= {200, 503} and codes.count(200) >= 1 and len(bodies) == 1,
              "6 parallel first hald.png requests: %s, one Hald" % codes)
        check(all(r[1].get("retry-after") == "1" for r in first if r[0] == 503), "a 503 says Retry-After: 1")
        again = [s.request("GET", url) for _ in range(3)]
        check([r[0] for r in again] == [200] * 3 and {r[2] for r in again} == bodies,
              "later requests: the same bytes from the file (%s)" % [r[0] for r in again])
        big = len(next(iter(bodies)))
        check(rss1 - rss0 < 400 * 1024, "memory while they ran: +%d MB for a %d MB Hald" % ((rss1 - rss0) // 1024,
                                                                                      big >> 20))
        st3, _, d3 = s.request("GET", "/v1/jobs/%s/look.3dl" % j["id"])
        st4, _, d4 = s.request("GET", "/v1/jobs/%s/look.3dl" % j["id"])
        check(st3 == 200 and d3 == d4 and b"\n" in d3, "look.3dl too (%s)" % st3)
    finally:
        s.stop()


def stop_requeues():
    """The server's own stop (SIGTERM, Ctrl-C) is not the user's cancel: a running job, a CLIP one at its
    next step and an offline set between its photos, stops at once and is queued again on disk; the next
    start runs it whole. (Before, a stopped CLIP job ended 'cancelled' for good, and an offline set held
    the stop until it finished.)"""
    tiny = os.path.join(SHARED, "data", "clip-ref", "openai_tiny")
    data = tempfile.mkdtemp(prefix="dlut-srv-stop-")
    for what, args, submit in (
            ("a CLIP job", ["--model", tiny],
             lambda s: s.submit({"prompt": "warm film", "steps": "2000", "lut_size": "9", "samples": "256"},
                                {"photo": ("c.png", photo())})),
            ("an offline set of 3 large photos", ["--model", "none", "--concurrency", "1"], big_set)):
        s = Server(data=os.path.join(data, what[:6].strip().replace(" ", "_")), args=args)
        try:
            st, j = submit(s)
            check(st == 202, "%s: submitted (%s %s)" % (what, st, j))
            t0 = time.time()
            while time.time() - t0 < 60:
                job = s.json("GET", "/v1/jobs/" + j["id"])[1]
                if job["state"] == "running" and (job.get("step", 0) >= 3 or "set" in what):
                    break
                time.sleep(0.05)
            time.sleep(0.5 if "set" in what else 0)
            t1 = time.time()
            rc = s.stop(timeout=60)
            lag = time.time() - t1
            check(rc == 0 and lag < 3, "%s: the server stops within %.1f s of SIGTERM while it runs" % (what, lag))
            s.start()
            st, job = s.json("GET", "/v1/jobs/" + j["id"])
            check(job.get("state") in ("queued", "running"), "%s: queued again after the restart (%s, %s)"
                  % (what, job.get("state"), job.get("error")))
            if "CLIP" in what:
                s.json("DELETE", "/v1/jobs/" + j["id"])  # 2000 steps: the user's cancel ends it
                job = s.wait_state(j["id"], timeout=60)
                check(job["state"] == "cancelled", "%s: the user's DELETE still cancels it (%s)" % (what, job["state"]))
            else:
                job = s.wait_state(j["id"], timeout=180)
                check(job["state"] == "done" and job.get("attempts") == 2,
                      "%s: done after the restart, on its second attempt (%s, %s)"
                      % (what, job["state"], job.get("attempts")))
        finally:
            s.stop()
    shutil.rmtree(data, ignore_errors=True)


def main():
    # under AddressSanitizer a small quarantine, so freed memory is reused and RSS means something
    env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4:thread_local_quarantine_size_kb=64"}
    s = Server(args=["--model", "none"], env=env if SANITIZED else None)
    try:
        jid = api_basics(s)
        bad_requests(s, jid)
        cancel_offline(s)
        load(s)
        memory_flat(s, jid)
    finally:
        code = s.stop()
        check(code == 0, "server exits 0 on SIGTERM")
        log = s.log_text()
        check("ERROR: AddressSanitizer" not in log and "runtime error" not in log, "no sanitizer report in the log")
    stop_offline_set()
    upload_caps()
    retention()
    token()
    startup()
    queue_full()
    crash_restart()
    stale_staging()
    clip_job()
    hald_cache()
    stop_requeues()
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
