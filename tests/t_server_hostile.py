#!/usr/bin/python3
"""`dlut serve` against the findings of a hostile review, one check each:
POST /v1/apply's full-resolution decodes are limited to --concurrency (503
with Retry-After beyond); a mask job of an EXIF-rotated photo is checked
against the photo's displayed size; an unterminated quote in a part's
Content-Disposition is a 400; query strings are as strict as the bodies
(unknown or repeated parameters: 400 naming them; the page's own ?token=,
?limit=, ?strength= still work); a body without Content-Type is a 415; an
empty photo is called empty; a control character decoded from the path is
a 400; /v1/looks reports emoji it ignored; a Content-Length over the cap gets
one 413 (an unparsable one is libmicrohttpd's to answer: see content_length).
Exits non-zero on any failure."""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvlib import PHOTOS, Server, multipart, photo  # noqa: E402

FAILS = []
CUBE = b"LUT_3D_SIZE 2\n" + b"".join(b"%d %d %d\n" % (r, g, b) for b in (0, 1) for g in (0, 1) for r in (0, 1))


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def message(data):
    try:
        return json.loads(data)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""


def with_orientation(jpeg, o):
    """A JPEG with an APP1 Exif block holding only the orientation tag (TIFF 6.0 tag 274), right after SOI."""
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, o, 0) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def convert(args, td, name):
    out = os.path.join(td, name)
    subprocess.run(["convert"] + args + [out], check=True)
    return open(out, "rb").read()


def apply_busy(td):
    """5 parallel full-resolution applies on --concurrency 1: the decodes beyond the first get 503 + Retry-After."""
    big = convert([os.path.join(PHOTOS, "wood-4096.webp"), "-quality", "85"], td, "big.jpg")
    s = Server(args=["--model", "none", "--concurrency", "1"])
    try:
        body, ct = multipart({}, {"photo": ("big.jpg", big), "lut": ("l.cube", CUBE)})
        n = 5
        gate = threading.Barrier(n)

        def one(_):
            c = s.conn(300)
            c.connect()  # connected before the barrier, so the five bodies arrive together
            gate.wait()
            st, hd, data = s.request("POST", "/v1/apply", body, {"Content-Type": ct}, conn=c)
            c.close()
            return st, hd.get("retry-after"), message(data)

        with ThreadPoolExecutor(n) as ex:
            res = list(ex.map(one, range(n)))
        codes = sorted(st for st, _, _ in res)
        check(all(st in (200, 503) for st in codes) and codes.count(200) >= 1 and
              any(st == 503 and ra and "try again" in m for st, ra, m in res),
              "POST /v1/apply: %d parallel 16-megapixel decodes on --concurrency 1 -> some 503 with Retry-After (%s)"
              % (n, codes))
        body, ct = multipart({}, {"photo": ("big.jpg", big), "lut": ("l.cube", CUBE)})
        st, _, _ = s.request("POST", "/v1/apply", body, {"Content-Type": ct}, timeout=300)
        check(st == 200, "and one at a time it is answered (%s)" % st)
    finally:
        s.stop()


def rotated_mask(s, td):
    """A photo stored 64x48 with EXIF orientation 6 is 48x64 upright: its matte is 48x64, as `dlut grade` wants."""
    plain = convert([os.path.join(PHOTOS, "chelsea.png"), "-resize", "64x48!", "-strip"], td, "plain.jpg")
    rot = with_orientation(plain, 6)
    open(os.path.join(td, "rot6.jpg"), "wb").write(rot)
    o = subprocess.run(["identify", "-format", "%w %h %[orientation]", os.path.join(td, "rot6.jpg")],
                       capture_output=True, text=True).stdout
    check(o == "64 48 RightTop", "the test photo is stored 64x48 with orientation 6 (%s)" % o)
    upright = convert(["-size", "24x64", "xc:white", "-size", "24x64", "xc:black", "+append"], td, "m48x64.png")
    stored = convert(["-size", "32x48", "xc:white", "-size", "32x48", "xc:black", "+append"], td, "m64x48.png")
    st, j = s.submit_parts([("photo", ("rot6.jpg", rot)), ("prompt", "warm"), ("mask", ("m.png", upright)),
                            ("mask_prompt", "cold")])
    job = s.wait_state(j["id"]) if st == 202 else {}
    check(st == 202 and job.get("state") == "done",
          "a 48x64 matte of the rotated photo is taken and its job done (%s %s %s)"
          % (st, job.get("state"), (j.get("error") or job.get("error") or {}).get("message")))
    st, j = s.submit_parts([("photo", ("rot6.jpg", rot)), ("prompt", "warm"), ("mask", ("m.png", stored)),
                            ("mask_prompt", "cold")])
    msg = (j.get("error") or {}).get("message", "")
    check(st == 400 and "48x64" in msg, "a 64x48 matte (the stored size) is refused at submission (%s %s)" % (st, msg))


def content_disposition(s):
    """An unterminated quote in a part's Content-Disposition: 400, and nothing of another parameter leaks in."""
    b = (b'--B\r\nContent-Disposition: form-data; name="photo"; filename="a\r\n\r\n' + photo() +
         b'\r\n--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nwarm\r\n--B--\r\n')
    st, _, d = s.request("POST", "/v1/jobs", b, {"Content-Type": "multipart/form-data; boundary=B"})
    check(st == 400 and "malformed Content-Disposition" in message(d),
          "filename=\"a with no closing quote -> 400 malformed Content-Disposition (%s %s)" % (st, d[:120]))
    # a text field has no file name: the photo's parameter values must not become one
    b = (b'--B\r\nContent-Disposition: form-data; name="photo"; filename="x.png"\r\n\r\n' + photo() +
         b'\r\n--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nwarm\r\n--B--\r\n')
    st, j = s.json("POST", "/v1/jobs", b, {"Content-Type": "multipart/form-data; boundary=B"})
    job = s.wait_state(j["id"]) if st == 202 else {}
    check(st == 202 and job.get("photo_name") == "x.png",
          "a well-formed part keeps its own file name (%s %s)" % (st, job.get("photo_name")))
    # a missing closing quote in the first parameter: the next one's value must not fill the file name
    b = (b'--B\r\nContent-Disposition: form-data; name="photo"; filename="a.png\r\n\r\n' + photo() +
         b'\r\n--B--\r\n')
    st, _, d = s.request("POST", "/v1/jobs", b, {"Content-Type": "multipart/form-data; boundary=B"})
    check(st == 400 and "malformed Content-Disposition" in message(d), "and so is filename=\"a.png (%s)" % st)


def query_strict(s, td):
    st, j = s.submit({"prompt": "warm"}, {"photo": ("c.png", photo())})
    jid = s.wait_state(j["id"])["id"]
    cases = [
        ("/v1/jobs/%s/graded?strenght=0.1" % jid, "unknown query parameter 'strenght'", "strength"),
        ("/v1/jobs/%s/graded?strength=0.5&strength=1" % jid, "'strength' given twice", ""),
        ("/v1/jobs?limit=1&limit=2", "'limit' given twice", ""),
        ("/v1/jobs?foo=bar", "unknown query parameter 'foo'", "limit, before, state"),
        ("/healthz?foo=bar", "unknown query parameter 'foo'", "takes none"),
        ("/v1/jobs/%s?x=1" % jid, "unknown query parameter 'x'", "takes none"),
        ("/v1/jobs/%s/strip.png?strength=0.5" % jid, "unknown query parameter 'strength'", "takes none"),
        ("/?foo=1", "unknown query parameter 'foo'", "token"),
    ]
    for path, want, lists in cases:
        st, _, d = s.request("GET", path)
        m = message(d)
        check(st == 400 and want in m and lists in m, "GET %s -> 400 '%s' (%s %s)" % (path, want, st, m))
    # what the page sends (web/app.js) keeps working
    for path in ("/v1/jobs?limit=12", "/v1/jobs?limit=5&before=99999&state=done", "/v1/jobs/%s/graded?strength=0.5"
                 % jid, "/?token=abc", "/app.js"):
        st, _, _ = s.request("GET", path)
        check(st == 200, "GET %s -> 200 (%s)" % (path, st))
    body, ct = multipart({}, {"photo": ("c.png", photo()), "lut": ("l.cube", CUBE)})
    st, _, d = s.request("POST", "/v1/apply?strength=0.5", body, {"Content-Type": ct})
    check(st == 400 and "unknown query parameter 'strength'" in message(d),
          "POST /v1/apply?strength=0.5 -> 400 (the strength is a field) (%s)" % st)
    return jid


def messages(s, jid):
    # (a) a multipart body without Content-Type
    body, _ = multipart({"prompt": "warm"}, {"photo": ("c.png", photo())})
    st, _, d = s.request("POST", "/v1/jobs", body)
    check(st == 415 and "multipart/form-data" in message(d) and "control character" not in message(d),
          "a body with no Content-Type -> 415 'send multipart/form-data' (%s %s)" % (st, message(d)))
    # (a1) a LUT file at a strength out of range, or not a number
    for v in ("2", "-0.1", "abc", "nan", "1e999"):
        st, _, d = s.request("GET", "/v1/jobs/%s/look.cube?strength=%s" % (jid, v))
        check(st == 400 and "strength" in message(d), "look.cube?strength=%s -> 400 (%s %s)" % (v, st, message(d)))
    # (a2) a known query parameter with no value is not its default
    st, _, d = s.request("GET", "/v1/jobs/%s/graded?strength" % jid)
    check(st == 400 and "needs a value" in message(d), "?strength with no value -> 400 (%s %s)" % (st, message(d)))
    # (a3) an empty reference: called empty; a form's empty file field (no file chosen) is no reference
    st, j = s.submit({"prompt": "warm"}, {"photo": ("c.png", photo()), "reference": ("r.jpg", b"")})
    m = (j.get("error") or {}).get("message", "")
    check(st == 400 and "empty" in m and "r.jpg" in m, "an empty reference is called empty (%s %s)" % (st, m))
    st, j = s.submit({"prompt": "warm"}, {"photo": ("c.png", photo()), "reference": ("", b"")})
    check(st == 202, "a reference field with no file chosen is no reference (%s %s)" % (st, j))
    # (a4) a job cancelled while queued says so, as one cancelled while running does
    st, j = s.submit({"prompt": "warm"}, {"photo": ("c.png", photo())})
    s.json("DELETE", "/v1/jobs/" + j["id"])
    job = s.wait_state(j["id"])
    check(job["state"] != "cancelled" or (job.get("error") or {}).get("code") == "cancelled",
          "a job cancelled while queued has error code 'cancelled' (%s %s)" % (job["state"], job.get("error")))
    # (b) an empty photo
    st, j = s.submit({"prompt": "warm"}, {"photo": ("e.jpg", b"")})
    m = (j.get("error") or {}).get("message", "")
    check(st == 400 and "empty" in m and "e.jpg" in m, "an empty photo upload is called empty (%s %s)" % (st, m))
    # (c) a control character decoded from the path
    for path in ("/v1/jobs/%s%%00/look.cube" % jid, "/v1/jobs/%s/look.cube%%00" % jid, "/v1/jobs/%s%%0a" % jid,
                 "/v1/jobs?state=done%00"):
        st, _, d = s.request("GET", path)
        check(st == 400 and "control character" in message(d), "GET %s -> 400 (%s %s)" % (path, st, message(d)))
    # (d) /v1/looks reports an emoji-only prompt's text as ignored, as the job refuses it
    st, lk = s.json("POST", "/v1/looks", json.dumps({"prompt": "🔥"}), {"Content-Type": "application/json"})
    check(st == 200 and lk.get("understood") == "" and lk.get("ignored") == "🔥",
          "POST /v1/looks prompt=🔥: ignored '🔥' (%s %s)" % (st, {k: lk.get(k) for k in ("understood", "ignored")}))
    st, lk = s.json("POST", "/v1/looks", json.dumps({"prompt": "warm 🔥"}), {"Content-Type": "application/json"})
    check(st == 200 and lk.get("understood") == "warm" and lk.get("ignored") == "🔥",
          "POST /v1/looks 'warm 🔥': understood warm, ignored 🔥 (%s)" % {k: lk.get(k) for k in ("understood", "ignored")})
    # and a job of it is refused at submission on a server without a model (not queued to fail), with the
    # nearest terms; a prompt of only blanks is an empty one
    st, j = s.submit({"prompt": "你好世界"}, {"photo": ("c.png", photo())})
    m = (j.get("error") or {}).get("message", "")
    check(st == 400 and "?" not in m.replace("?)", "").replace("? (", "") and any(ord(ch) > 0x2E80 for ch in m),
          "an error message keeps its Chinese (the suggestion), not '???' (%s)" % m)
    for prompt, want in (("🔥", "understand no word"), ("cinemattik", "did you mean: cinematic"),
                         (" \r\n\t ", "empty prompt")):
        st, j = s.submit({"prompt": prompt}, {"photo": ("c.png", photo())})
        m = (j.get("error") or {}).get("message", "")
        check(st == 400 and want in m, "a job of %r is refused at submission: 400 '%s' (%s %s)" % (prompt, want, st, m))


def raw_exchange(s, req):
    """Send req as it is on a new connection; everything the server writes until it closes (or 10 s pass)."""
    so = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    so.sendall(req)
    out = b""
    try:
        while True:
            d = so.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    so.close()
    return out


def content_length(s):
    """Content-Length over the cap: our one 413. An unparsable one (-1, 10^22, 12abc) never reaches our code:
    libmicrohttpd answers it itself, and 0.9.75 sends that answer's header block twice (its state machine goes
    on to START_REPLY after parse_connection_headers queued the error; see docs/server.md). Checked here: the
    first response is a well-formed 400/413 and the connection is closed; a doubled header block is reported
    as the known limit, not as a failure, until the library is fixed."""
    for cl in (b"999999999999", b"99999999999999999999999", b"-1", b"12abc"):
        out = raw_exchange(s, b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                              b"boundary=b\r\nContent-Length: " + cl + b"\r\n\r\n")
        n = out.count(b"HTTP/1.1 ")
        ours = cl == b"999999999999"
        check(out.startswith((b"HTTP/1.1 400", b"HTTP/1.1 413")) and (n == 1 or not ours),
              "Content-Length: %s -> a 400/413, then the connection closed (%s)" % (cl.decode(), out[:30]))
        if n != 1 and not ours:
            print("known limit (libmicrohttpd 0.9.75): Content-Length: %s is answered by the library with its "
                  "header block %d times" % (cl.decode(), n), flush=True)
    check(s.request("GET", "/healthz")[0] == 200, "the server answers after them")


def head_events(s, jid):
    """HEAD on a job's event stream: its headers, no body, so the next request on the same connection reads
    cleanly (a chunked stream's 0\\r\\n\\r\\n was left in front of the next answer); Allow names HEAD."""
    so = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    so.sendall(b"HEAD /v1/jobs/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               % jid.encode())
    out = b""
    t0 = time.time()
    while out.count(b"HTTP/1.1 ") < 2 or not out.endswith(b"}") and time.time() - t0 < 10:
        d = so.recv(65536)
        if not d:
            break
        out += d
    so.close()
    first, _, rest = out.partition(b"\r\n\r\n")
    check(first.startswith(b"HTTP/1.1 200") and b"text/event-stream" in first and rest.startswith(b"HTTP/1.1 200"),
          "HEAD on events: headers only, and the next answer on the connection is whole (%r)" % rest[:20])
    st, hd, _ = s.request("PUT", "/v1/jobs/%s/events" % jid)
    check(st == 405 and hd.get("allow") == "GET, HEAD", "405 on events allows 'GET, HEAD' (%s)" % hd.get("allow"))


def rebinding_and_csrf(td):
    """A loopback server answers only to Host: localhost or an IP address (a DNS-rebinding page sends its own
    name), and refuses a change (POST, DELETE) from a page of another site (its Origin), which a plain HTML
    form can send without a preflight; the page's own requests, scripts and --allow-host still work."""
    s = Server(args=["--model", "none", "--allow-host", "dlut.example.org,proxy.lan"])
    try:
        own = "127.0.0.1:%d" % s.port
        body, ct = multipart({"prompt": "warm"}, {"photo": ("c.png", photo())})
        cases = [
            ("GET /v1/jobs, Host: rebind.evil.example", "GET", "/v1/jobs", None, {"Host": "rebind.evil.example:%d" % s.port}, 403),
            ("GET /healthz, Host: evil.example", "GET", "/healthz", None, {"Host": "evil.example"}, 403),
            ("POST from another site's page", "POST", "/v1/jobs", body, {"Content-Type": ct, "Origin": "http://evil.example"}, 403),
            ("POST from a sandboxed page (Origin: null)", "POST", "/v1/jobs", body, {"Content-Type": ct, "Origin": "null"}, 403),
            ("POST from another port of this host", "POST", "/v1/looks", b'{"prompt":"warm"}',
             {"Content-Type": "application/json", "Origin": "http://127.0.0.1:1"}, 403),
            ("POST from the page itself", "POST", "/v1/jobs", body, {"Content-Type": ct, "Origin": "http://" + own}, 202),
            ("POST from a script (no Origin)", "POST", "/v1/jobs", body, {"Content-Type": ct}, 202),
            ("GET with Host: localhost", "GET", "/v1/jobs", None, {"Host": "localhost:%d" % s.port}, 200),
            ("GET with Host: [::1]", "GET", "/v1/jobs", None, {"Host": "[::1]:%d" % s.port}, 200),
            ("GET with Host: app.localhost", "GET", "/v1/jobs", None, {"Host": "app.localhost:%d" % s.port}, 200),
            ("GET with an --allow-host name", "GET", "/v1/jobs", None, {"Host": "proxy.lan"}, 200),
            ("POST through the proxy name, the page there", "POST", "/v1/looks", b'{"prompt":"warm"}',
             {"Content-Type": "application/json", "Host": "dlut.example.org", "Origin": "https://dlut.example.org"}, 200),
            ("POST from the proxy name's page, the proxy passing Host: 127.0.0.1", "POST", "/v1/looks",
             b'{"prompt":"warm"}', {"Content-Type": "application/json", "Origin": "https://dlut.example.org"}, 200),
            ("GET /?token= (the page, an empty token)", "GET", "/?token=", None, {}, 200),
            # current browsers say where the page is from (Sec-Fetch-Site), whatever Host a proxy passes
            ("POST, Sec-Fetch-Site: cross-site", "POST", "/v1/looks", b'{"prompt":"warm"}',
             {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, 403),
            ("POST, Sec-Fetch-Site: same-site", "POST", "/v1/looks", b'{"prompt":"warm"}',
             {"Content-Type": "application/json", "Sec-Fetch-Site": "same-site", "Origin": "http://a.example"}, 403),
            ("the page behind a proxy renaming it (Origin dlut.lan, Host 127.0.0.1, same-origin)", "POST", "/v1/looks",
             b'{"prompt":"warm"}', {"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin",
                                    "Origin": "http://dlut.lan:8443"}, 200),
        ]
        for what, m, path, b, hd, want in cases:
            c = s.conn()
            c.putrequest(m, path, skip_host="Host" in hd)
            for k, v in hd.items():
                c.putheader(k, v)
            if b is not None:
                c.putheader("Content-Length", str(len(b)))
            c.endheaders(b)
            r = c.getresponse()
            data = r.read()
            c.close()
            ok = r.status == want and (want != 403 or b'"forbidden"' in data)
            check(ok, "%s -> %d (%d %s)" % (what, want, r.status, data[:90]))
    finally:
        s.stop()
    # a server on every interface with a token takes any Host (the token guards it); without one it checks
    # Host as on loopback (a LAN server reached through the user's own browser)
    for args, want in ((["--token", "t"], 200), ([], 403)):
        s = Server(args=["--model", "none", "--host", "0.0.0.0"] + args)
        try:
            c = s.conn()
            c.request("GET", "/healthz", headers={"Host": "dlut.example.net"})
            st = c.getresponse().status
            c.close()
            check(st == want, "on 0.0.0.0 %s: Host dlut.example.net -> %d (%d)" % ("with a token" if args else "without a token", want, st))
        finally:
            s.stop()


def framing(s):
    """Framing two parsers could read apart (request smuggling behind a proxy) is a 400 before the body:
    Content-Length twice with different values, Content-Length with Transfer-Encoding; and HTTP/1.1
    without Host. The same Content-Length twice, and HTTP/1.0 without Host, are fine."""
    body = b'{"prompt":"warm"}'
    head = b"POST /v1/looks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
    for what, req, want in (
            ("Content-Length 17 and 5", head + b"Content-Length: 17\r\nContent-Length: 5\r\n\r\n" + body, b" 400 "),
            ("Content-Length and Transfer-Encoding", head + b"Content-Length: 17\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"11\r\n" + body + b"\r\n0\r\n\r\n", b" 400 "),
            ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", b" 400 "),
            ("HTTP/1.2 without Host", b"GET /healthz HTTP/1.2\r\nConnection: close\r\n\r\n", b" 400 "),
            ("Transfer-Encoding: gzip, chunked", head + b"Transfer-Encoding: gzip, chunked\r\n\r\n", b" 400 "),
            ("Transfer-Encoding: gzip", head + b"Transfer-Encoding: gzip\r\n\r\n", b" 400 "),
            ("Transfer-Encoding: chunked", head + b"Transfer-Encoding: chunked\r\n\r\n11\r\n" + body + b"\r\n0\r\n\r\n",
             b" 200 "),
            ("the same Content-Length twice", head + b"Content-Length: 17\r\nContent-Length: 17\r\n\r\n" + body, b" 200 "),
            ("HTTP/1.0 without Host", b"GET /healthz HTTP/1.0\r\n\r\n", b" 200 "),
            ("an absolute-form target", b"GET http://127.0.0.1:%d/v1/jobs?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Connection: close\r\n\r\n" % s.port, b" 200 ")):
        out = raw_exchange(s, req)
        first = out.split(b"\r\n", 1)[0]
        check(want in first and (want != b" 400 " or b'"bad_request"' in out),
              "%s -> %s (%s)" % (what, want.strip().decode(), first.decode(errors="replace")))


def main():
    td = tempfile.mkdtemp(prefix="dlut-hostile-")
    apply_busy(td)
    rebinding_and_csrf(td)
    s = Server(args=["--model", "none"])
    try:
        rotated_mask(s, td)
        content_disposition(s)
        jid = query_strict(s, td)
        messages(s, jid)
        head_events(s, jid)
        framing(s)
        content_length(s)
    finally:
        check(s.stop() == 0, "server exits 0 on SIGTERM")
        log = s.log_text()
        check("ERROR: AddressSanitizer" not in log and "runtime error" not in log, "no sanitizer report in the log")
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
