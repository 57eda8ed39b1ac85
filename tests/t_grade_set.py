#!/usr/bin/env python3
"""tests/t_grade_set.py - `dlut grade` over a set of photos, end to end,
checked by tools nobody here wrote: one look.cube for the set, and every
graded/NAME equal to that LUT applied to its input by FFmpeg (lut3d,
tetrahedral) and by OpenColorIO within 1 code; the contact sheet's size
(ImageMagick's identify); report.json lists every photo; bad inputs are
clear errors that leave no output folder behind; with a tiny CLIP model a
set (with augmentation) grades too.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradelib import DLUT, PHOTOS, TINY, check, failed, ffmpeg_rgb, ocio_apply, run  # noqa: E402


def identify(path):
    r = subprocess.run(["identify", "-format", "%w %h %m", path], capture_output=True, text=True)
    w, h, fmt = r.stdout.split()
    return int(w), int(h), fmt


def contact_size(n):
    """The documented layout (include/dlut/job.h, src/job/contact.c)."""
    cols = min(n, 3)
    if (n + cols - 1) // cols > 200:
        cols = (n + 199) // 200
    rows = (n + cols - 1) // cols
    return 16 + cols * (644 + 16), 16 + rows * (268 + 16)


def leftovers(parent):
    return [f for f in os.listdir(parent) if ".tmp." in f or f.startswith(".dlut")]


with tempfile.TemporaryDirectory() as tmp:
    # two folders, one holding a photo with the same name as one in the other
    a, b = f"{tmp}/day1", f"{tmp}/day2"
    os.makedirs(a)
    os.makedirs(b)
    shutil.copy(f"{PHOTOS}/chelsea.png", a)
    shutil.copy(f"{PHOTOS}/coffee.png", a)
    subprocess.run(["ffmpeg", "-v", "error", "-i", f"{PHOTOS}/astronaut.png", "-vf", "scale=256:-1",
                    f"{b}/chelsea.png"], check=True)
    open(f"{a}/notes.txt", "w").write("not a photo")
    out = f"{tmp}/out"
    r = run("grade", a, b, f"{PHOTOS}/rocket.jpg", "warm sunset film", "-o", out, "-q")
    check(r.returncode == 0, f"dlut grade FOLDER FOLDER FILE PROMPT runs offline (rc {r.returncode}: {r.stderr.strip()})")
    inputs = [f"{a}/chelsea.png", f"{a}/coffee.png", f"{b}/chelsea.png", f"{PHOTOS}/rocket.jpg"]
    names = ["chelsea.png", "coffee.png", "chelsea-2.png", "rocket.jpg"]
    for name in ("look.cube", "strip.png", "report.json", "contact.jpg"):
        check(os.path.exists(f"{out}/{name}"), f"writes {name} once")
    check(sorted(os.listdir(f"{out}/graded")) == sorted(names),
          f"graded/ holds every photo, the duplicate name as chelsea-2.png: {sorted(os.listdir(out + '/graded'))}")
    rep = json.load(open(f"{out}/report.json"))
    check([p["input"] for p in rep.get("photos", [])] == inputs, "report.json lists every photo in order")
    check([p["graded"] for p in rep.get("photos", [])] == [f"graded/{n}" for n in names],
          "report.json names every graded photo")
    check(rep.get("method") == "looks" and rep.get("contact_sheet") == "contact.jpg", "report: offline look, contact")
    w, h, fmt = identify(f"{out}/contact.jpg")
    check((w, h) == contact_size(4) and fmt == "JPEG", f"contact.jpg is {w}x{h} {fmt}, layout says {contact_size(4)}")
    # every graded photo is the one LUT applied to its input
    lut = f"{out}/look.cube"
    for src, name in zip(inputs, names):
        g = ffmpeg_rgb(f"{out}/graded/{name}")
        s = ffmpeg_rgb(src)
        if name.endswith(".png"):
            ff = ffmpeg_rgb(src, f"lut3d=file={lut}:interp=tetrahedral")
            oc = np.clip(np.rint(ocio_apply(lut, s) * 255), 0, 255)
            d_ff = int(np.abs(g.astype(int) - ff).max())
            d_oc = int(np.abs(g.astype(int) - oc).max())
            check(d_ff <= 1 and d_oc <= 1, f"graded/{name} = look.cube on its input: FFmpeg lut3d within "
                  f"{d_ff}, OpenColorIO within {d_oc} codes")
        else:  # a JPEG is re-encoded (4:2:0 at quality 95: this saturated night photo loses ~2-5 codes)
            oc = np.clip(np.rint(ocio_apply(lut, s) * 255), 0, 255)
            mad = float(np.abs(g.astype(float) - oc).mean())
            run("apply", src, "--lut", lut, "-o", f"{tmp}/applied.jpg")  # look.cube as read back from the file
            ap = ffmpeg_rgb(f"{tmp}/applied.jpg").astype(int)
            d_ap = float(np.abs(g.astype(int) - ap).mean())
            check(identify(f"{out}/graded/{name}")[2] == "JPEG" and mad < 6.0 and d_ap < 0.2,
                  f"graded/{name} is a JPEG of look.cube on its input (mean |diff| to OpenColorIO {mad:.2f} codes, "
                  f"to dlut apply with look.cube {d_ap:.3f})")
    check(not leftovers(tmp), "no staging folder left")

    # grading the set again into the same folder replaces graded/ whole
    r = run("grade", f"{PHOTOS}/coffee.png", f"{PHOTOS}/chelsea.png", "cold teal night", "-o", out, "-q")
    check(r.returncode == 0 and sorted(os.listdir(f"{out}/graded")) == ["chelsea.png", "coffee.png"],
          f"a second set replaces graded/ whole: {sorted(os.listdir(out + '/graded'))}")
    check(identify(f"{out}/contact.jpg")[:2] == contact_size(2), "and its contact sheet")
    check(not [f for f in os.listdir(out) if f.startswith(".dlut")], "no staging folder left inside")

    # graded/ is replaced whole, so a file DLUT did not write there (not in report.json) is refused, named,
    # and left as it was with the earlier set (before, it was deleted)
    mine = f"{out}/graded/my-edit.jpg"
    shutil.copy(f"{PHOTOS}/rocket.jpg", mine)
    before = open(f"{out}/report.json").read()
    r = run("grade", f"{PHOTOS}/coffee.png", f"{PHOTOS}/chelsea.png", "warm", "-o", out, "-q")
    check(r.returncode in (1, 2) and "my-edit.jpg" in r.stderr and "another output folder" in r.stderr and
          os.path.exists(mine) and open(f"{out}/report.json").read() == before and not leftovers(tmp) and
          not [f for f in os.listdir(out) if f.startswith(".dlut")],
          f"a file of the user's in graded/ is refused, named and kept (rc {r.returncode}: {r.stderr.strip()})")
    if os.path.exists(mine):
        os.unlink(mine)
    r = run("grade", f"{PHOTOS}/coffee.png", f"{PHOTOS}/chelsea.png", "warm", "-o", out, "-q")
    check(r.returncode == 0, "without it the set replaces graded/ again")
    # the set's report lists its files, as a single photo's does
    rep = json.load(open(f"{out}/report.json"))
    check(sorted(rep.get("files", [])) == ["contact.jpg", "graded/chelsea.png", "graded/coffee.png", "look.cube",
                                           "report.json", "strip.png"], f"a set's report lists its files: {rep.get('files')}")
    # a single photo graded into the set's folder replaces the set's bundle: its graded/ and contact sheet go
    # (before, they stayed beside the new look for good); the set can be graded there again, and then the
    # single photo's graded.jpg goes
    r = run("grade", f"{PHOTOS}/rocket.jpg", "warm", "-o", out, "-q")
    rep = json.load(open(f"{out}/report.json"))
    check(r.returncode == 0 and sorted(os.listdir(out)) == ["graded.jpg", "look.cube", "report.json", "strip.png"] and
          sorted(rep.get("files", [])) == ["graded.jpg", "look.cube", "report.json", "strip.png"],
          f"a single photo in the set's folder leaves only its own bundle: {sorted(os.listdir(out))}, files "
          f"{rep.get('files')} ({r.stderr.strip()})")
    r = run("grade", f"{PHOTOS}/coffee.png", f"{PHOTOS}/chelsea.png", "cold", "-o", out, "-q")
    check(r.returncode == 0 and sorted(os.listdir(f"{out}/graded")) == ["chelsea.png", "coffee.png"] and
          sorted(os.listdir(out)) == ["contact.jpg", "graded", "look.cube", "report.json", "strip.png"],
          f"set, single photo, set again into one folder: only the set's bundle ({r.returncode}: "
          f"{sorted(os.listdir(out))} {r.stderr.strip()})")
    # an input is never removed as the earlier bundle's: a photo of the set's graded/ graded again into the
    # folder keeps graded/ (and the contact sheet); a single photo's graded.png in a set keeps it
    ins = f"{tmp}/ins"
    run("grade", f"{PHOTOS}/coffee.png", f"{PHOTOS}/chelsea.png", "warm", "-o", ins, "-q")
    r = run("grade", f"{ins}/graded/coffee.png", "cold", "-o", ins, "-q")
    check(r.returncode == 0 and os.path.exists(f"{ins}/graded/coffee.png") and os.path.exists(f"{ins}/contact.jpg"),
          f"a photo from graded/ graded into its folder keeps graded/ and contact.jpg ({r.stderr.strip()})")
    ins2 = f"{tmp}/ins2"
    run("grade", f"{PHOTOS}/coffee.png", "warm", "-o", ins2, "-q")
    r = run("grade", f"{ins2}/graded.png", f"{PHOTOS}/chelsea.png", "cold", "-o", ins2, "-q")
    check(r.returncode == 0 and os.path.exists(f"{ins2}/graded.png"),
          f"a set with the folder's graded.png as an input keeps it ({r.returncode}: {r.stderr.strip()})")
    # files of the user's with a bundle's names, in a folder no DLUT run wrote, are never overwritten
    mine = f"{tmp}/mine"
    os.makedirs(mine)
    shutil.copy(f"{PHOTOS}/chelsea.png", f"{mine}/strip.png")
    shutil.copy(f"{PHOTOS}/rocket.jpg", f"{mine}/graded.png")
    shutil.copy(f"{PHOTOS}/coffee.png", f"{mine}/in.png")
    before = {f: open(f"{mine}/{f}", "rb").read() for f in os.listdir(mine)}
    r = run("grade", f"{mine}/in.png", "warm", "-o", mine, "-q")
    check(r.returncode in (1, 2) and ("strip.png" in r.stderr or "graded.png" in r.stderr) and
          "another output folder" in r.stderr and
          {f: open(f"{mine}/{f}", "rb").read() for f in os.listdir(mine)} == before,
          f"a user's strip.png and graded.png are refused, named and kept (rc {r.returncode}: {r.stderr.strip()})")
    r = run("grade", f"{mine}/in.png", f"{PHOTOS}/rocket.jpg", "warm", "-o", mine, "-q")
    check(r.returncode in (1, 2) and "strip.png" in r.stderr and
          {f: open(f"{mine}/{f}", "rb").read() for f in os.listdir(mine)} == before,
          f"and by a set too (rc {r.returncode}: {r.stderr.strip()})")
    # a folder of photos graded into itself can be graded again: its own results are not taken for photos
    selfd = f"{tmp}/self"
    os.makedirs(selfd)
    shutil.copy(f"{PHOTOS}/chelsea.png", f"{selfd}/a.png")
    shutil.copy(f"{PHOTOS}/coffee.png", f"{selfd}/b.png")
    r1 = run("grade", selfd, "warm", "-o", selfd, "-q")
    r2 = run("grade", selfd, "cold", "-o", selfd, "-q")
    rep = json.load(open(f"{selfd}/report.json")) if os.path.exists(f"{selfd}/report.json") else {}
    check(r1.returncode == 0 and r2.returncode == 0 and len(rep.get("photos", [])) == 2,
          f"a folder graded into itself twice: rc {r1.returncode}, {r2.returncode}, {len(rep.get('photos', []))} "
          f"photos ({r2.stderr.strip()})")
    # a single photo's stale graded.EXT is removed only when the last report lists it as DLUT's
    solo = f"{tmp}/solo"
    r = run("grade", f"{PHOTOS}/coffee.png", "warm", "-o", solo, "-q")
    r2 = run("grade", f"{PHOTOS}/rocket.jpg", "warm", "-o", solo, "-q")
    check(r.returncode == 0 and r2.returncode == 0 and sorted(os.listdir(solo)) ==
          ["graded.jpg", "look.cube", "report.json", "strip.png"],
          f"DLUT's own graded.png of the last run gives way to graded.jpg: {sorted(os.listdir(solo))}")
    shutil.copy(f"{PHOTOS}/coffee.png", f"{solo}/graded.png")  # the user's own file of that name
    r = run("grade", f"{PHOTOS}/rocket.jpg", "cold", "-o", solo, "-q")
    check(r.returncode == 0 and os.path.exists(f"{solo}/graded.png") and
          open(f"{solo}/graded.png", "rb").read() == open(f"{PHOTOS}/coffee.png", "rb").read(),
          f"a graded.png the last report does not list is kept: {sorted(os.listdir(solo))}")
    own = f"{tmp}/own"  # a folder of the user's with a graded/ of their own and no report.json
    os.makedirs(f"{own}/graded")
    shutil.copy(f"{PHOTOS}/rocket.jpg", f"{own}/graded/rocket.jpg")
    r = run("grade", f"{PHOTOS}/coffee.png", f"{PHOTOS}/chelsea.png", "warm", "-o", own, "-q")
    check(r.returncode in (1, 2) and "rocket.jpg" in r.stderr and sorted(os.listdir(own)) == ["graded"] and
          os.listdir(f"{own}/graded") == ["rocket.jpg"],
          f"a graded/ DLUT did not write (no report.json) is refused and kept ({r.stderr.strip()})")

    # the prompt: --prompt takes one that is a file's name; a missing photo-like name is not taken for one
    r = run("grade", f"{PHOTOS}/coffee.png", f"{PHOTOS}/chelsea.png", "--prompt", "warm", "-o", f"{tmp}/p", "-q")
    check(r.returncode == 0 and json.load(open(f"{tmp}/p/report.json"))["prompt"] == "warm", "--prompt")
    r = run("grade", f"{PHOTOS}/coffee.png", f"{PHOTOS}/chelsea.png", "missing.jpg", "-o", f"{tmp}/m")
    check(r.returncode == 1 and "missing.jpg: no such file" in r.stderr and not os.path.exists(f"{tmp}/m"),
          f"a missing photo-like last argument is an error, not a prompt: {r.stderr.strip()}")

    # bad inputs: a clear error naming the input, and no output folder
    bad = f"{tmp}/bad.png"
    open(bad, "w").write("this is not a PNG")
    empty = f"{tmp}/empty"
    os.makedirs(empty)
    cases = [
        ("a missing photo", [f"{PHOTOS}/coffee.png", f"{tmp}/nope.png", "warm"], "nope.png"),
        ("an unreadable image", [f"{PHOTOS}/coffee.png", bad, "warm"], "bad.png"),
        ("an empty folder", [f"{PHOTOS}/coffee.png", empty, "warm"], "no photos"),
        ("an unquoted prompt", [f"{PHOTOS}/coffee.png", "warm", "sunset"], "quote"),
    ]
    for what, args, say in cases:
        o = f"{tmp}/bad-out"
        r = run("grade", *args, "-o", o)
        line = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        check(r.returncode in (1, 2) and say in line and not os.path.exists(o) and not leftovers(tmp),
              f"{what}: exit {r.returncode}, '{line}', no output folder")
    r = run("grade", f"{PHOTOS}/coffee.png", "warm", "sunset", "-o", f"{tmp}/bad-out")
    check(r.returncode == 2, f"an unquoted prompt is a usage error: exit {r.returncode}")
    # staging folders a run killed outright (SIGKILL: no handler) left are removed by the next run into the
    # folder, when this host's process that made them is gone; a live one's are left alone
    import re
    import socket
    host = re.sub(r"[^A-Za-z0-9]", "-", socket.gethostname())[:40] or "host"
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no process has now
    sweep = f"{tmp}/sweep"
    r = run("grade", f"{PHOTOS}/coffee.png", "warm", "-o", sweep, "-q")
    stale_in = f"{sweep}/.dlut-stage.{host}.{dead.pid}.abcdef"
    live_in = f"{sweep}/.dlut-stage.{host}.{os.getpid()}.ghijkl"
    stale_beside = f"{tmp}/sweep2.tmp.{host}.{dead.pid}.mnopqr"
    for dd in (stale_in, live_in, f"{stale_in}/old.graded", stale_beside):
        os.makedirs(dd, exist_ok=True)
        open(f"{dd}/look.cube", "w").write("x")
    r = run("grade", f"{PHOTOS}/coffee.png", "cold", "-o", sweep, "-q")
    r2 = run("grade", f"{PHOTOS}/coffee.png", "cold", "-o", f"{tmp}/sweep2", "-q")
    check(r.returncode == 0 and r2.returncode == 0 and not os.path.exists(stale_in) and os.path.exists(live_in) and
          os.path.exists(stale_beside),
          f"a dead run's staging folder inside is swept, a live one's kept, and none beside (a shared parent): "
          f"{sorted(os.listdir(sweep))}")
    # a link named like a dead run's staging folder is removed as a link: what it points to stays
    victim = f"{tmp}/victim"
    os.makedirs(victim, exist_ok=True)
    open(f"{victim}/precious.txt", "w").write("keep")
    os.symlink(victim, f"{sweep}/.dlut-stage.{host}.{dead.pid}.stuvwx")
    r = run("grade", f"{PHOTOS}/coffee.png", "warm", "-o", sweep, "-q")
    check(r.returncode == 0 and os.path.exists(f"{victim}/precious.txt"),
          "a symlink in the folder named like a staging folder is never followed")
    for p in (live_in, stale_beside):
        shutil.rmtree(p)
    # an output folder typed with a trailing slash, new or existing, for a photo and for a set
    r1 = run("grade", f"{PHOTOS}/coffee.png", "warm", "-o", f"{tmp}/slash/", "-q")
    r2 = run("grade", f"{PHOTOS}/coffee.png", f"{PHOTOS}/chelsea.png", "warm", "-o", f"{tmp}/slash2//", "-q")
    r3 = run("grade", f"{PHOTOS}/coffee.png", "cold", "-o", f"{tmp}/slash/", "-q")
    check(r1.returncode == 0 and r2.returncode == 0 and r3.returncode == 0 and
          os.path.exists(f"{tmp}/slash/graded.png") and os.path.exists(f"{tmp}/slash2/contact.jpg"),
          f"-o DIR/ works ({r1.stderr.strip()} {r2.stderr.strip()} {r3.stderr.strip()})")
    # "--" ends the options: a photo whose name starts with '-'
    dash = f"{tmp}/-dash.png"
    shutil.copy(f"{PHOTOS}/coffee.png", dash)
    e = dict(os.environ, DLUT_MODELS="/nonexistent-dlut-models")
    e.pop("DLUT_MODEL", None)
    r = subprocess.run([os.path.abspath(DLUT), "grade", "-o", f"{tmp}/dash-out", "-q", "--", "-dash.png",
                        "warm"], cwd=tmp, capture_output=True, text=True, env=e)
    check(r.returncode == 0 and os.path.exists(f"{tmp}/dash-out/graded.png"),
          f"'--' then a photo named -dash.png: exit {r.returncode} ({r.stderr.strip()})")

    # SIGTERM at any moment: the output folder is there whole or not at all, no staging left
    big = f"{tmp}/big"
    os.makedirs(big)
    subprocess.run(["ffmpeg", "-v", "error", "-i", f"{PHOTOS}/wood-4096.webp", "-vf", "scale=1200:-1",
                    f"{big}/w1.png"], check=True)
    for k in (2, 3):
        shutil.copy(f"{big}/w1.png", f"{big}/w{k}.png")
    import time
    t0 = time.monotonic()
    r = run("grade", big, "warm", "-o", f"{tmp}/whole", "-q")
    full = time.monotonic() - t0
    e = dict(os.environ, DLUT_MODELS="/nonexistent-dlut-models")
    e.pop("DLUT_MODEL", None)
    states = []
    for frac in (0.35, 0.7):
        o = f"{tmp}/killed"
        p = subprocess.Popen([DLUT, "grade", big, "warm", "-o", o, "-q"], env=e, stderr=subprocess.DEVNULL)
        time.sleep(full * frac)
        p.terminate()
        p.wait()
        whole = os.path.isdir(o) and sorted(os.listdir(f"{o}/graded")) == ["w1.png", "w2.png", "w3.png"] and \
            os.path.exists(f"{o}/report.json")
        states.append("whole" if whole else "nothing" if not os.path.exists(o) else "PARTIAL")
        check((whole or not os.path.exists(o)) and not leftovers(tmp),
              f"SIGTERM at {frac:.0%} of a {full:.1f} s set: output {states[-1]}, no staging folder left")
        shutil.rmtree(o, ignore_errors=True)

    # Ctrl-C without a model (no optimisation to cut short): it says so at once, stops at the next photo,
    # writes nothing and exits 130 (before, it went on silently for seconds and exited 0)
    from PIL import Image
    huge = f"{tmp}/huge"
    os.makedirs(huge)
    side = 7000  # 49 megapixels: about 2 s a photo to decode, grade and encode
    x = (np.arange(side) * 255 // side).astype(np.uint8)
    px = np.empty((side, side, 3), np.uint8)
    px[:, :, 0], px[:, :, 1], px[:, :, 2] = x[None, :], x[:, None], 128
    Image.fromarray(px).save(f"{huge}/h1.png", compress_level=1)
    del px
    for k in (2, 3):
        shutil.copy(f"{huge}/h1.png", f"{huge}/h{k}.png")
    for delay in (0.5, 2.5):  # while the photos load, and while graded/ is written
        o = f"{tmp}/interrupted"
        p = subprocess.Popen([DLUT, "grade", huge, "warm", "-o", o], env=e, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        t1 = time.monotonic()
        p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        lag = time.monotonic() - t1
        # one photo's render and encode at most; AddressSanitizer makes that work about 3x slower
        max_lag = 2.5 * (3 if "build-san" in os.environ.get("BUILD", "") else 1)
        check(p.returncode == 130 and "stopping at the next photo" in err and "nothing written" in err and
              not os.path.exists(o) and not leftovers(tmp) and lag < max_lag,
              f"Ctrl-C {delay} s into a no-model set: exit {p.returncode} {lag:.1f} s later, says so, writes nothing"
              f" ({err.strip().splitlines()[-1] if err.strip() else ''})")
        shutil.rmtree(o, ignore_errors=True)

    # with a model: the set grades through CLIP (with augmentation), one LUT for all
    o = f"{tmp}/clip"
    r = run("grade", f"{PHOTOS}/coffee.png", f"{PHOTOS}/chelsea.png", "cold teal night", "--model", TINY, "--steps",
            "8", "--size", "17", "--augment", "2", "-o", o, "-q")
    check(r.returncode == 0, f"a set through the tiny CLIP model (rc {r.returncode}: {r.stderr.strip()})")
    if r.returncode == 0:
        rep = json.load(open(f"{o}/report.json"))
        check(rep["method"] == "clip" and rep["steps"] == 8 and rep["settings"].get("augment") == 2 and
              len(rep["photos"]) == 2, "report: clip, 8 steps, augment 2, two photos")
        g = ffmpeg_rgb(f"{o}/graded/coffee.png")
        ff = ffmpeg_rgb(f"{PHOTOS}/coffee.png", f"lut3d=file={o}/look.cube:interp=tetrahedral")
        check(int(np.abs(g.astype(int) - ff).max()) <= 1, "its graded photo is look.cube applied (FFmpeg)")

print(f"t_grade_set: {'FAIL' if failed() else 'ok'} ({failed()} failed)")
sys.exit(1 if failed() else 0)
