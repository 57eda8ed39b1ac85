#!/usr/bin/python3
"""Scale-out through Redis: `dlut serve --queue redis://...` and `dlut worker`
processes, with Debian's redis-server started here on a free port (AOF on).
Proves: jobs run on workers that need only the queue's address; a worker
SIGKILLed mid-job leaves its job to another (XAUTOCLAIM past --claim-idle),
whose results are recorded once; a job cancelled while a remote worker runs
it stops within a step; Redis restarted mid-queue loses nothing; the server
SIGKILLed while workers run picks up every result on restart."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvlib import DLUT, SHARED, Server, ffmpeg_rgb, photo  # noqa: E402

FAILS = []
TINY = os.path.join(SHARED, "data", "clip-ref", "openai_tiny")


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Redis:
    def __init__(self, d):
        self.dir, self.port, self.proc = d, free_port(), None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                                      "--appendonly", "yes", "--save", "", "--protected-mode", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True)
        return r.stdout.strip()

    def stop(self):
        """SHUTDOWN: Redis writes its AOF and exits."""
        self.cli("SHUTDOWN")
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port


class Worker:
    def __init__(self, queue, log, *args):
        self.log = open(log, "ab")
        self.proc = subprocess.Popen([DLUT, "worker", "--queue", queue, *args], stdout=self.log, stderr=self.log)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def wait_step(s, jid, n, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        j = s.json("GET", "/v1/jobs/" + jid)[1]
        if j.get("step", 0) >= n or j.get("state") in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.02)
    return s.json("GET", "/v1/jobs/" + jid)[1]


def region_and_set(s, rd, tmp, wlog):
    """Submitted while no worker runs (so the job hashes can be read), then
    run by a worker: every input is a field of dlut:job:ID, every output of
    the bundle comes back, and they are the CLI's on the same files."""
    import io
    from PIL import Image
    from srvlib import PHOTOS
    coffee = os.path.join(PHOTOS, "coffee.png")
    a = np.zeros((400, 600), np.uint8)
    a[:, 300:] = 255
    b = io.BytesIO()
    Image.fromarray(a, "L").save(b, "PNG")
    matte = b.getvalue()
    mp = os.path.join(tmp, "half.png")
    open(mp, "wb").write(matte)
    st, rj = s.submit_parts([("photo", ("coffee.png", photo("coffee.png"))), ("prompt", "warm golden film"),
                             ("mask", ("half.png", matte)), ("mask_prompt", "deep teal"), ("feather", "24")])
    names = ["coffee.png", "chelsea.png", "astronaut.png"]
    st2, sj = s.submit_parts([("photo", (n, photo(n))) for n in names] + [("prompt", "warm golden film")])
    check(st == 202 and st2 == 202, "a region job and a set job are accepted through Redis (%s, %s)" % (st, st2))
    rk = set(rd.cli("HKEYS", "dlut:job:" + rj["id"]).split())
    sk = set(rd.cli("HKEYS", "dlut:job:" + sj["id"]).split())
    check({"photo", "mask.1", "options"} <= rk and {"photo", "photo.2", "photo.3", "options"} <= sk,
          "the matte and the set's photos are fields of the job's hash (%s; %s)" % (sorted(rk), sorted(sk)))
    w = Worker(rd.url, wlog, "--model", "none")
    try:
        rjob = s.wait_state(rj["id"], timeout=120)
        sjob = s.wait_state(sj["id"], timeout=120)
    finally:
        w.stop()
    check(rjob["state"] == "done" and sjob["state"] == "done",
          "both finish on a remote worker (%s %s, %s %s)" % (rjob["state"], rjob.get("error"), sjob["state"],
                                                             sjob.get("error")))
    cli = os.path.join(tmp, "cli-region")
    subprocess.run([DLUT, "grade", coffee, "warm golden film", "--mask", mp + "=deep teal", "--feather", "24", "-o",
                    cli, "-q"], check=True)
    ok = True
    for n in ("look.cube", "region-1.cube", "mask-1.png"):
        st, _, d = s.request("GET", "/v1/jobs/%s/%s" % (rj["id"], n))
        ok &= st == 200 and d == open(os.path.join(cli, n), "rb").read()
    st, _, g = s.request("GET", rjob.get("files", {}).get("graded.png", "/none"))
    same = st == 200 and np.array_equal(np.array(Image.open(io.BytesIO(g))), np.array(Image.open(os.path.join(cli, "graded.png"))))
    check(ok and same, "the remote region job's look.cube, region-1.cube, mask-1.png and composite are the CLI's")
    cli = os.path.join(tmp, "cli-set")
    subprocess.run([DLUT, "grade", *[os.path.join(PHOTOS, n) for n in names], "warm golden film", "-o", cli, "-q"],
                   check=True)
    st, _, cube = s.request("GET", "/v1/jobs/%s/look.cube" % sj["id"])
    ok = st == 200 and cube == open(os.path.join(cli, "look.cube"), "rb").read()
    for i, p in enumerate(sjob.get("photos", [])):
        st, _, g = s.request("GET", p["graded"])
        ok &= st == 200 and np.array_equal(np.array(Image.open(io.BytesIO(g))),
                                           np.array(Image.open(os.path.join(cli, "graded", names[i]))))
        st, h, t = s.request("GET", p["thumb"])
        ok &= st == 200 and h.get("content-type") == "image/jpeg"
    st, _, sheet = s.request("GET", "/v1/jobs/%s/contact.jpg" % sj["id"])
    ok &= st == 200 and Image.open(io.BytesIO(sheet)).size == Image.open(os.path.join(cli, "contact.jpg")).size
    check(ok and len(sjob.get("photos", [])) == 3,
          "the remote set job's look.cube and graded photos are the CLI's; thumbnails and contact.jpg served")


def main():
    tmp = tempfile.mkdtemp(prefix="dlut-redis-")
    os.makedirs(os.path.join(tmp, "redis"))
    rd = Redis(os.path.join(tmp, "redis"))
    s = Server(data=os.path.join(tmp, "srv"), args=["--queue", rd.url])
    wlog = os.path.join(tmp, "workers.log")
    workers = []
    try:
        # ---- a region job and a set job: their inputs travel through Redis ----
        region_and_set(s, rd, tmp, wlog)

        # ---- jobs on a worker that knows only the queue's address ----
        w = Worker(rd.url, wlog, "--model", "none")
        workers.append(w)
        ids = []
        for i in range(6):
            st, j = s.submit({"prompt": ["warm film", "cold teal night"][i % 2]}, {"photo": ("c.png", photo())})
            check(st == 202, "submit through Redis (%s)" % st) if i == 0 else None
            ids.append(j["id"])
        jobs = [s.wait_state(i, timeout=60) for i in ids]
        check(all(j["state"] == "done" and j["method"] == "looks" for j in jobs),
              "jobs run on a remote worker (%s)" % [j["state"] for j in jobs])
        st, _, cube = s.request("GET", "/v1/jobs/%s/look.cube" % ids[0])
        p = os.path.join(tmp, "a.cube")
        open(p, "wb").write(cube)
        st2, _, graded = s.request("GET", "/v1/jobs/%s/graded" % ids[0])
        src = os.path.join(SHARED, "data", "photos", "chelsea.png")
        a = np.frombuffer(ffmpeg_rgb(graded)[2], np.uint8).astype(int)
        b = np.frombuffer(ffmpeg_rgb(src, "lut3d=file=%s:interp=tetrahedral" % p)[2], np.uint8).astype(int)
        check(st == 200 and st2 == 200 and np.abs(a - b).max() <= 1,
              "a remote job's .cube and graded photo are served and agree with FFmpeg")
        evs = s.events(ids[1])
        check(evs[0][0] == "state" and evs[-1][0] == "end" and evs[-1][1]["state"] == "done", "SSE for a remote job")
        w.stop()
        workers.remove(w)

        # ---- a worker SIGKILLed mid-job: another takes it over ----
        w1 = Worker(rd.url, wlog, "--model", TINY, "--name", "w1", "--claim-idle", "2")
        workers.append(w1)
        st, j = s.submit({"prompt": "warm film", "steps": "2000", "lut_size": "9", "samples": "256"},
                         {"photo": ("c.png", photo())})
        jid = j["id"]
        at = wait_step(s, jid, 20)
        check(at.get("state") == "running" and at.get("step", 0) >= 20, "the CLIP job runs on worker 1 (step %s)" % at.get("step"))
        w1.kill()
        workers.remove(w1)
        time.sleep(0.3)
        frozen = s.json("GET", "/v1/jobs/" + jid)[1]["step"]
        w2 = Worker(rd.url, wlog, "--model", TINY, "--name", "w2", "--claim-idle", "2")
        workers.append(w2)
        job = s.wait_state(jid, timeout=180)
        check(job["state"] == "done" and job["attempts"] >= 2 and job["step"] == 2000,
              "after SIGKILL of its worker (at step %d) the job finished on another (attempts %d, %s)"
              % (frozen, job["attempts"], job["state"]))
        check(rd.cli("GET", "dlut:done:" + jid) == "w2", "its results were recorded once, by the worker that finished")
        st, _, d = s.request("GET", "/v1/jobs/%s/look.cube" % jid)
        check(st == 200 and b"LUT_3D_SIZE 9" in d, "and they are served")

        # ---- cancel while a remote worker runs it ----
        st, j = s.submit({"prompt": "cold", "steps": "2000", "lut_size": "9", "samples": "256"},
                         {"photo": ("c.png", photo())})
        at = wait_step(s, j["id"], 10)
        st, _ = s.json("DELETE", "/v1/jobs/" + j["id"])
        asked = s.json("GET", "/v1/jobs/" + j["id"])[1]["step"]
        job = s.wait_state(j["id"], timeout=60)
        time.sleep(0.5)
        after = s.json("GET", "/v1/jobs/" + j["id"])[1]
        check(job["state"] == "cancelled" and after["step"] <= asked + 3,
              "a job cancelled on a remote worker stops within a step (asked at %d, stopped at %d)" % (asked, after["step"]))
        w2.stop()
        workers.remove(w2)

        # ---- a worker's own stop (SIGTERM) in the middle of an offline set: it stops between the stages at
        # once, the job stays pending in Redis, and another worker takes it over and finishes it ----
        from io import BytesIO
        from PIL import Image
        side = 7000
        x = (np.arange(side) * 255 // side).astype(np.uint8)
        a = np.empty((side, side, 3), np.uint8)
        a[:, :, 0], a[:, :, 1], a[:, :, 2] = x[None, :], x[:, None], 128
        bb = BytesIO()
        Image.fromarray(a).save(bb, "PNG", compress_level=1)
        big = bb.getvalue()
        w3 = Worker(rd.url, wlog, "--model", "none", "--name", "w3", "--claim-idle", "2")
        workers.append(w3)
        st, j = s.submit_parts([("photo", ("b%d.png" % i, big)) for i in range(3)] + [("prompt", "warm film")])
        t0 = time.time()
        while s.json("GET", "/v1/jobs/" + j["id"])[1].get("state") == "queued" and time.time() - t0 < 60:
            time.sleep(0.02)
        time.sleep(0.8)  # into the decoding of the photos
        t1 = time.time()
        rc = w3.stop()
        lag = time.time() - t1
        workers.remove(w3)
        mid = s.json("GET", "/v1/jobs/" + j["id"])[1]
        check(st == 202 and rc == 0 and lag < 3 and mid.get("state") in ("running", "queued"),
              "a worker stopped in the middle of an offline set exits within %.1f s, the job not ended (%s)"
              % (lag, mid.get("state")))
        w4 = Worker(rd.url, wlog, "--model", "none", "--name", "w4", "--claim-idle", "2")
        workers.append(w4)
        job = s.wait_state(j["id"], timeout=180)
        check(job["state"] == "done" and job.get("attempts", 0) >= 2,
              "another worker takes the set over and finishes it (%s, attempt %s)" % (job["state"], job.get("attempts")))
        w4.stop()
        workers.remove(w4)

        # ---- Redis restarted mid-queue (AOF on): nothing lost ----
        ids = []
        for i in range(10):
            st, j = s.submit({"prompt": "faded film %d" % i}, {"photo": ("c.png", photo())})
            if st == 202:
                ids.append(j["id"])
        check(len(ids) == 10 and rd.cli("XLEN", "dlut:jobs") == "10", "10 jobs waiting in Redis")
        rd.stop()
        st, j = s.submit({"prompt": "warm"}, {"photo": ("c.png", photo())})
        check(st == 503, "while Redis is down a submission gets 503 (%s)" % st)
        rd.start()
        w = Worker(rd.url, wlog, "--model", "none")
        workers.append(w)
        jobs = [s.wait_state(i, timeout=120) for i in ids]
        check(all(x["state"] == "done" for x in jobs), "after a Redis restart every queued job finished (%d/10)"
              % sum(x["state"] == "done" for x in jobs))

        # ---- the server SIGKILLed while workers run: results picked up on restart ----
        ids = []
        for i in range(20):
            st, j = s.submit({"prompt": "warm %d" % i}, {"photo": ("a.png", photo("astronaut.png"))})
            if st == 202:
                ids.append(j["id"])
        s.kill()
        time.sleep(2)  # the worker keeps finishing jobs with no server listening
        s.start()
        jobs = [s.wait_state(i, timeout=120) for i in ids]
        check(len(ids) == 20 and all(x["state"] == "done" for x in jobs),
              "after a server SIGKILL every job's result arrived (%d/%d)" % (sum(x["state"] == "done" for x in jobs), len(ids)))
    finally:
        for w in workers:
            w.stop()
        code = s.stop()
        check(code == 0, "the server stops cleanly")
        rd.stop()
        log = open(wlog, "rb").read().decode(errors="replace") + s.log_text()
        check("AddressSanitizer" not in log and "runtime error" not in log, "no sanitizer report")
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
