"""Helpers for the tests and benchmarks of `dlut serve`: start a server on a
free port in its own data folder, talk HTTP to it (multipart bodies, JSON,
Server-Sent Events) with nothing but the standard library."""
import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid

DLUT = os.environ.get("DLUT") or os.path.abspath("build/dlut")
SHARED = os.environ.get("DLUT_SHARED") or os.path.abspath("../shared")
PHOTOS = os.path.join(SHARED, "data", "photos")


class Server:
    """`dlut serve --port 0` in a data folder; .url, .port, .stop(), .kill()."""

    def __init__(self, data=None, args=(), env=None):
        self.data = data or tempfile.mkdtemp(prefix="dlut-serve-")
        os.makedirs(self.data, exist_ok=True)
        self.ready = os.path.join(self.data, "ready.txt")
        self.log_path = os.path.join(self.data, "server.log")
        self.args = list(args)
        self.env = env
        self.proc = None
        self.start()

    def start(self):
        if os.path.exists(self.ready):
            os.unlink(self.ready)
        env = dict(os.environ, **(self.env or {}))
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([DLUT, "serve", "--port", "0", "--data", os.path.join(self.data, "d"),
                                      "--ready-file", self.ready, "-q"] + self.args,
                                     stdout=self.log, stderr=self.log, env=env)
        t0 = time.time()
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None:
                raise RuntimeError("dlut serve exited %d: %s" % (self.proc.returncode, self.log_text()[-2000:]))
            if time.time() - t0 > 60:
                raise RuntimeError("dlut serve did not start: " + self.log_text()[-2000:])
            time.sleep(0.02)
        self.url = open(self.ready).read().strip()
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))

    def log_text(self):
        try:
            return open(self.log_path, "rb").read().decode(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def rss_kb(self):
        for line in open("/proc/%d/status" % self.proc.pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None, timeout=60):
        """(status, headers dict (lower-case names), body bytes)."""
        own = conn is None
        c = conn or self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if own:
                c.close()

    def json(self, method, path, body=None, headers=None, conn=None):
        st, h, data = self.request(method, path, body, headers, conn)
        try:
            return st, json.loads(data)
        except ValueError:
            return st, {"_raw": data[:200]}

    def submit(self, fields, files, headers=None, conn=None):
        body, ct = multipart(fields, files)
        hd = {"Content-Type": ct}
        hd.update(headers or {})
        return self.json("POST", "/v1/jobs", body, hd, conn)

    def submit_parts(self, parts, headers=None, conn=None):
        """parts: [(name, str) or (name, (filename, bytes))], in order, names may repeat."""
        body, ct = multipart_parts(parts)
        hd = {"Content-Type": ct}
        hd.update(headers or {})
        return self.json("POST", "/v1/jobs", body, hd, conn)

    def events(self, job_id, timeout=120, headers=None):
        """Every (event, data) of a job's SSE stream until it ends."""
        c = self.conn(timeout)
        c.request("GET", "/v1/jobs/%s/events" % job_id, headers=headers or {})
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError("events: %d %s" % (r.status, r.read()[:200]))
        out, ev, data, buf = [], None, [], b""
        while True:
            line = r.readline()
            if not line:
                break
            line = line.rstrip(b"\r\n").decode()
            if line == "":
                if data:
                    out.append((ev or "message", json.loads("".join(data))))
                    if ev == "end":
                        break
                ev, data = None, []
            elif line.startswith(":"):
                continue
            elif line.startswith("event:"):
                ev = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        c.close()
        return out

    def wait_state(self, job_id, states=("done", "failed", "cancelled"), timeout=120):
        t0 = time.time()
        while time.time() - t0 < timeout:
            st, j = self.json("GET", "/v1/jobs/" + job_id)
            if st == 200 and j.get("state") in states:
                return j
            time.sleep(0.05)
        raise RuntimeError("job %s did not reach %s" % (job_id, states))


def multipart(fields, files):
    """fields: {name: str}; files: {name: (filename, bytes)}. (body, content type)."""
    b = "dlut" + uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" %
                     (b.encode(), k.encode(), v.encode() if isinstance(v, str) else v))
    for k, (fn, data) in files.items():
        parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                     b"Content-Type: application/octet-stream\r\n\r\n" % (b.encode(), k.encode(), fn.encode()) + data + b"\r\n")
    parts.append(b"--%s--\r\n" % b.encode())
    return b"".join(parts), "multipart/form-data; boundary=" + b


def multipart_parts(parts):
    """[(name, str|bytes) or (name, (filename, bytes))] in order (names may repeat). (body, content type)."""
    b = "dlut" + uuid.uuid4().hex
    out = []
    for k, v in parts:
        if isinstance(v, tuple):
            fn, data = v
            out.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                       b"Content-Type: application/octet-stream\r\n\r\n" % (b.encode(), k.encode(), fn.encode()) + data
                       + b"\r\n")
        else:
            out.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" %
                       (b.encode(), k.encode(), v.encode() if isinstance(v, str) else v))
    out.append(b"--%s--\r\n" % b.encode())
    return b"".join(out), "multipart/form-data; boundary=" + b


def photo(name="chelsea.png"):
    return open(os.path.join(PHOTOS, name), "rb").read()


def ffmpeg_rgb(path_or_bytes, vf=None):
    """Decode an image with FFmpeg to (w, h, rgb24 bytes)."""
    src = path_or_bytes
    tmp = None
    if isinstance(path_or_bytes, bytes):
        fd, tmp = tempfile.mkstemp()
        os.write(fd, path_or_bytes)
        os.close(fd)
        src = tmp
    try:
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                "stream=width,height", "-of", "csv=p=0", src], capture_output=True, check=True)
        w, h = map(int, probe.stdout.decode().strip().split(",")[:2])
        cmd = ["ffmpeg", "-v", "error", "-i", src]
        if vf:
            cmd += ["-vf", vf]
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        return w, h, subprocess.run(cmd, capture_output=True, check=True).stdout
    finally:
        if tmp:
            os.unlink(tmp)
