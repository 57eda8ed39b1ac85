#!/usr/bin/python3
"""Speed of `dlut serve` end to end through HTTP, client and server on the
same machine (the client's CPU counts against the server's):

  1. offline-look jobs on a 1-megapixel JPEG: N jobs submitted by C client
     threads, timed from the first submission to the last job done (jobs/s);
  2. GET /v1/jobs/{id} latency while (1) runs (p50 / p99);
  3. POST /v1/looks on a 512-px JPEG preview, one client (p50 / p99).

usage: bench/bench_server.py [N_JOBS] [CLIENTS]      (make first; DLUT=build/dlut)
"""
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from srvlib import PHOTOS, Server, multipart  # noqa: E402


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def server_cpu(s):
    f = open("/proc/%d/stat" % s.proc.pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def jpeg(src, w, h, path):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, "-vf", "scale=%d:%d" % (w, h), "-q:v", "3", path],
                   check=True)
    return open(path, "rb").read()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    n_jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    tmp = tempfile.mkdtemp(prefix="dlut-bench-")
    big = jpeg(os.path.join(PHOTOS, "coffee.png"), 1224, 816, os.path.join(tmp, "1mp.jpg"))   # 1.0 MP
    small = jpeg(os.path.join(PHOTOS, "coffee.png"), 512, 341, os.path.join(tmp, "512.jpg"))
    extra = os.environ.get("BENCH_SERVER_ARGS", "").split()
    s = Server(data=os.path.join(tmp, "srv"), args=["--model", "none", "--queue-size", str(n_jobs + 10)] + extra)
    print("CPU: %s, %d cores; dlut serve --model none (offline looks), %d in-process workers"
          % (cpu_name(), os.cpu_count(), os.cpu_count()))
    prompts = ["warm sunset film", "cold teal night, high contrast", "温暖的日落胶片风", "faded film, soft"]
    bodies = [multipart({"prompt": p}, {"photo": ("photo.jpg", big)}) for p in prompts]

    # warm up
    st, j = s.submit({"prompt": "warm"}, {"photo": ("photo.jpg", big)})
    s.wait_state(j["id"])
    probe_id = j["id"]

    ids, lock = [], threading.Lock()
    lat_get = []
    stop = threading.Event()

    def submitter(k):
        c = s.conn()
        mine = []
        for i in range(k, n_jobs, clients):
            body, ct = bodies[i % len(bodies)]
            st, hd, data = s.request("POST", "/v1/jobs", body, {"Content-Type": ct}, conn=c)
            if st != 202:
                raise RuntimeError("submit: %d %s" % (st, data[:200]))
            mine.append(data.split(b'"id":"')[1][:16].decode())
        c.close()
        with lock:
            ids.extend(mine)

    def poller():
        c = s.conn()
        while not stop.is_set():
            t0 = time.perf_counter()
            s.request("GET", "/v1/jobs/" + probe_id, conn=c)
            lat_get.append(time.perf_counter() - t0)
            time.sleep(0.005)
        c.close()

    pt = threading.Thread(target=poller)
    ru0 = os.times()
    srv0 = server_cpu(s)
    t0 = time.perf_counter()
    pt.start()
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(submitter, range(clients)))
    t_sub = time.perf_counter() - t0
    # done when the last job is: poll the listing, cheap on the server
    while True:
        st, lst = s.json("GET", "/v1/jobs?state=queued&limit=1")
        st2, lst2 = s.json("GET", "/v1/jobs?state=running&limit=1")
        if not lst["jobs"] and not lst2["jobs"]:
            break
        time.sleep(0.01)
    dt = time.perf_counter() - t0
    ru1 = os.times()
    srv1 = server_cpu(s)
    stop.set()
    pt.join()
    failed = [i for i in ids if s.json("GET", "/v1/jobs/" + i)[1]["state"] != "done"]
    print("offline-look jobs, 1 MP JPEG, %d jobs, %d clients: %.1f jobs/s (submitted in %.2f s, all done in %.2f s, %d not done)"
          % (n_jobs, clients, n_jobs / dt, t_sub, dt, len(failed)))
    print("CPU seconds during the run: server %.2f, this client %.2f (wall %.2f; %.1f ms of server CPU per job)"
          % (srv1 - srv0, (ru1.user + ru1.system) - (ru0.user + ru0.system), dt, (srv1 - srv0) / n_jobs * 1e3))
    print("GET /v1/jobs/{id} under that load: p50 %.2f ms, p99 %.2f ms (%d requests)"
          % (pct(lat_get, 50) * 1e3, pct(lat_get, 99) * 1e3, len(lat_get)))

    lat = []
    c = s.conn()
    for i in range(300):
        body, ct = multipart({"prompt": prompts[i % len(prompts)] + (" " * (i % 3))}, {"photo": ("p.jpg", small)})
        t1 = time.perf_counter()
        st, hd, data = s.request("POST", "/v1/looks", body, {"Content-Type": ct}, conn=c)
        lat.append(time.perf_counter() - t1)
        assert st == 200, data[:200]
    c.close()
    print("POST /v1/looks, 512x341 JPEG preview: p50 %.2f ms, p99 %.2f ms" % (pct(lat, 50) * 1e3, pct(lat, 99) * 1e3))
    s.stop()


if __name__ == "__main__":
    main()
