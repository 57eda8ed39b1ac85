#!/usr/bin/python3
"""Checkpoint loading against independent readers (numpy + json, Python's
pickle and zipfile), through `$BUILD/tests/test_ckpt --dump DIR OUT`, which
writes OUT.txt (name dtype dims...) and OUT.bin (each float tensor as F32,
via dlut_ckpt_f32).

1. The reference folders' model.safetensors, parsed by hand with numpy,
   equal what dlut reads, bitwise.
2. F16, BF16 and unaligned-F32 safetensors variants written here by hand:
   dlut's values equal the F32 ones rounded (numpy float16 / round-to-
   nearest-even bfloat16).
3. pytorch_model.bin re-zipped deflated, and with zip64 records written by a
   tiny zip writer here: same tensors.
4. A torch-style state dict pickled by Python's own pickle module (fake
   torch globals, protocols 2 and 4): half/bfloat16 storages, a transposed
   view, a shared storage, nn.Parameter, _metadata: values equal numpy's.
5. Hostile archives: forbidden globals (os.system via a hand-made pickle,
   never executed), a missing storage, a view past its storage, a lying
   storage size, encrypted flag: clear errors, exit status 1, no crash.
6. tools/download-models.sh passes `bash -n` and `--help`, and
7. runs end to end against a local fake of huggingface.co (HF_ENDPOINT):
   404 fallback, intact files, second run, interrupted download, SHA-256.
"""
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import types
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
TOOL = os.path.join(ROOT, BUILD, "tests", "test_ckpt")
SHARED = os.environ.get("DLUT_SHARED", os.path.join(ROOT, "..", "shared"))
REF = os.path.join(SHARED, "data", "clip-ref")
failures = 0
checks = 0


def check(cond, msg):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", msg, file=sys.stderr)


# ==== dlut side ====


def dlut_dump(folder, tmp):
    out = os.path.join(tmp, "dump")
    r = subprocess.run([TOOL, "--dump", folder, out], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return None, r.stderr.strip()
    tensors = OrderedDict()
    raw = np.fromfile(out + ".bin", dtype="<f4")
    pos = 0
    for line in open(out + ".txt"):
        f = line.split()
        name, dtype, shape = f[0], f[1], tuple(int(x) for x in f[2:])
        if dtype == "other":
            tensors[name] = None
            continue
        n = int(np.prod(shape)) if shape else 1
        tensors[name] = raw[pos:pos + n].reshape(shape)
        pos += n
    check(pos == raw.size, f"{folder}: dump has {raw.size} floats, listing needs {pos}")
    return tensors, ""


def expect_error(folder, tmp, substr, what):
    t, err = dlut_dump(folder, tmp)
    check(t is None, f"{what}: dlut accepted it")
    check(substr in err, f"{what}: expected {substr!r} in error, got {err!r}")


# ==== safetensors by hand ====

ST_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8", "U8": "u1"}


def read_safetensors(path):
    buf = open(path, "rb").read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    header.pop("__metadata__", None)
    data = buf[8 + n:]
    out = OrderedDict()
    for name, e in header.items():
        b, end = e["data_offsets"]
        if e["dtype"] == "BF16":
            out[name] = bf16_to_f32(np.frombuffer(data[b:end], dtype="<u2")).reshape(e["shape"])
        else:
            out[name] = np.frombuffer(data[b:end], dtype=ST_DTYPES[e["dtype"]]).reshape(e["shape"])
    return out


def write_safetensors(path, tensors, lead_pad=0):
    """tensors: name -> (dtype string, numpy array with the raw values)."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    if lead_pad:  # a U8 tensor first makes every later offset odd: unaligned F32
        pad = np.arange(lead_pad, dtype=np.uint8)
        header["pad"] = {"dtype": "U8", "shape": [lead_pad], "data_offsets": [0, lead_pad]}
        blobs.append(pad.tobytes())
        off = lead_pad
    for name, (dt, arr) in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)  # upstream pads the header with spaces to 8 bytes, so data starts aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def to_bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even (what torch's .to(bfloat16) does)."""
    u = x.astype(np.float32).view(np.uint32).astype(np.int64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_to_f32(bits):
    u = np.atleast_1d(bits).astype(np.uint32) << np.uint32(16)
    return u.view(np.float32).reshape(np.shape(bits))


def make_folder(tmp, name, src_model):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(src_model, "config.json"), d)
    return d


# ==== A small zip writer (stored or with forced zip64 records) ====


def write_zip(path, entries, zip64=False, flags=0):
    """entries: list of (name, bytes). Stored, 64-byte aligned data like torch.
    zip64=True puts every size and offset in zip64 extra fields and writes
    the zip64 end record and locator (APPNOTE 4.3.14-15, 4.5.3)."""
    out = open(path, "wb")
    central = []
    for name, data in entries:
        nb = name.encode()
        crc = zlib.crc32(data) & 0xFFFFFFFF
        off = out.tell()
        x64 = struct.pack("<HHQQ", 1, 16, len(data), len(data)) if zip64 else b""
        base = off + 30 + len(nb) + len(x64)
        pad = (-(base + 4)) % 64
        extra = x64 + struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # torch's "FB" padding field
        sz = 0xFFFFFFFF if zip64 else len(data)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, flags, 0, 0, 0x21, crc, sz, sz,
                              len(nb), len(extra)) + nb + extra)
        out.write(data)
        central.append((nb, crc, len(data), off))
    cd_off = out.tell()
    for nb, crc, n, off in central:
        if zip64:
            extra = struct.pack("<HHQQQ", 1, 24, n, n, off)
            s32, o32 = 0xFFFFFFFF, 0xFFFFFFFF
        else:
            extra, s32, o32 = b"", n, off
        out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45 if zip64 else 20, flags, 0, 0, 0x21, crc,
                              s32, s32, len(nb), len(extra), 0, 0, 0, 0, o32) + nb + extra)
    cd_size = out.tell() - cd_off
    count = len(central)
    if zip64:
        z64 = out.tell()
        out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size, cd_off))
        out.write(struct.pack("<IIQI", 0x07064B50, 0, z64, 1))
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    else:
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, cd_size, cd_off, 0))
    out.close()


# ==== A torch-style pickle without torch ====
# Fake modules so that Python's pickler writes the same GLOBALs torch does.

torch_mod = types.ModuleType("torch")
utils_mod = types.ModuleType("torch._utils")
torch_mod._utils = utils_mod


def _rebuild_tensor_v2(*a):
    raise RuntimeError("never called")


def _rebuild_parameter(*a):
    raise RuntimeError("never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
_rebuild_parameter.__module__ = "torch._utils"
utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
utils_mod._rebuild_parameter = _rebuild_parameter
STORAGE_TYPES = {}
for tname in ["FloatStorage", "HalfStorage", "BFloat16Storage", "LongStorage"]:
    cls = type(tname, (), {})
    cls.__module__ = "torch"
    setattr(torch_mod, tname, cls)
    STORAGE_TYPES[tname] = cls
sys.modules["torch"] = torch_mod
sys.modules["torch._utils"] = utils_mod


class Storage:
    def __init__(self, key, stype, raw, numel):
        self.key, self.stype, self.raw, self.numel = key, stype, raw, numel


class Tensor:
    def __init__(self, storage, offset, size, stride, param=False):
        self.storage, self.offset, self.size, self.stride, self.param = storage, offset, size, stride, param

    def __reduce__(self):
        if self.param:  # nn.Parameter: _rebuild_parameter(tensor, requires_grad, hooks)
            return (_rebuild_parameter, (_Inner(self), True, OrderedDict()))
        return (_rebuild_tensor_v2, (self.storage, self.offset, self.size, self.stride, False, OrderedDict()))


class _Inner:
    """The tensor inside an nn.Parameter."""

    def __init__(self, t):
        self.t = t

    def __reduce__(self):
        t = self.t
        return (_rebuild_tensor_v2, (t.storage, t.offset, t.size, t.stride, False, OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", STORAGE_TYPES[obj.stype], obj.key, "cpu", obj.numel)
        return None


def torch_zip(path, sd, storages, prefix="archive", protocol=2, metadata=True, zip64=False):
    buf = io.BytesIO()
    if metadata:  # state_dict()'s _metadata attribute, pickled through BUILD
        sd._metadata = OrderedDict([("", {"version": 1})])
    TorchPickler(buf, protocol=protocol).dump(sd)
    entries = [(f"{prefix}/data.pkl", buf.getvalue()), (f"{prefix}/byteorder", b"little")]
    entries += [(f"{prefix}/data/{s.key}", s.raw) for s in storages]
    entries.append((f"{prefix}/version", b"3\n"))
    write_zip(path, entries, zip64=zip64)


def synthetic_state_dict():
    rng = np.random.default_rng(7)
    a = rng.standard_normal(24).astype(np.float32)
    h = rng.standard_normal(12).astype(np.float16)
    b = to_bf16_bits(rng.standard_normal(8).astype(np.float32))
    s0 = Storage("0", "FloatStorage", a.tobytes(), 24)
    s1 = Storage("1", "HalfStorage", h.tobytes(), 12)
    s2 = Storage("2", "BFloat16Storage", b.tobytes(), 8)
    s3 = Storage("3", "LongStorage", np.arange(5, dtype="<i8").tobytes(), 5)
    sd = OrderedDict()
    expect = {}
    sd["f.weight"] = Tensor(s0, 0, (4, 3), (3, 1))
    expect["f.weight"] = a[:12].reshape(4, 3)
    sd["f.weight_t"] = Tensor(s0, 0, (3, 4), (1, 3))  # transposed view of the same storage
    expect["f.weight_t"] = a[:12].reshape(4, 3).T
    sd["f.bias"] = Tensor(s0, 12, (12,), (1,), param=True)
    expect["f.bias"] = a[12:]
    sd["h.weight"] = Tensor(s1, 2, (2, 5), (5, 1))
    expect["h.weight"] = h[2:12].astype(np.float32).reshape(2, 5)
    sd["b.scale"] = Tensor(s2, 0, (2, 2, 2), (4, 2, 1))
    expect["b.scale"] = bf16_to_f32(b).reshape(2, 2, 2)
    sd["scalar"] = Tensor(s0, 23, (), ())
    expect["scalar"] = a[23].reshape(())
    sd["position_ids"] = Tensor(s3, 0, (1, 5), (5, 1))
    expect["position_ids"] = None
    return sd, [s0, s1, s2, s3], expect


def compare(tag, got, expect, exact=True):
    check(got is not None, f"{tag}: dlut failed")
    if got is None:
        return
    check(list(got.keys()) == list(expect.keys()) or set(got) == set(expect),
          f"{tag}: names differ: {sorted(set(got) ^ set(expect))[:5]}")
    bad = []
    for k, v in expect.items():
        g = got.get(k, "missing")
        if v is None:
            if g is not None:
                bad.append(k)
            continue
        if isinstance(g, str) or g.shape != v.shape:
            bad.append(k)
            continue
        v32 = v.astype(np.float32)
        if exact and not np.array_equal(g.view(np.uint32), v32.view(np.uint32)):
            bad.append(k)
    check(not bad, f"{tag}: {len(bad)} tensors differ, e.g. {bad[:3]}")


def check_download_script(tmp, script):
    """Serve <repo>/resolve/main/<file> from a temp folder over HTTP on
    localhost, with huggingface.co's X-Linked-Size / X-Linked-Etag headers on
    the weights, and run tools/download-models.sh against it (HF_ENDPOINT):
    the safetensors 404 falls back to pytorch_model.bin, files arrive intact,
    dlut opens the result, a second run keeps the files, a partial download
    is completed, and a wrong SHA-256 is caught."""
    import hashlib
    import http.server
    import threading

    hub = os.path.join(tmp, "hub")
    repo = os.path.join(hub, "openai", "clip-vit-base-patch32", "resolve", "main")
    os.makedirs(repo)
    src = os.path.join(REF, "openai_tiny")
    for f in ["config.json", "preprocessor_config.json", "pytorch_model.bin", "vocab.json", "merges.txt",
              "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(os.path.join(src, f), repo)
    lie = {"sha": False}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=hub, **k)

        def end_headers(self):
            path = self.translate_path(self.path)
            if path.endswith((".bin", ".safetensors")) and os.path.isfile(path):
                data = open(path, "rb").read()
                sha = hashlib.sha256(data).hexdigest()
                if lie["sha"]:
                    sha = "0" * 64
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("X-Linked-Etag", f'"{sha}"')
            super().end_headers()

        def log_message(self, *a):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # curl hanging up (e.g. when it finds no range support) is expected

    srv = Server(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    models = os.path.join(tmp, "models")
    env = dict(os.environ, DLUT_MODELS=models, HF_ENDPOINT=f"http://127.0.0.1:{srv.server_address[1]}")
    env.pop("HF_TOKEN", None)
    for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(k, None)  # the fake hub is on localhost
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"

    def run():
        return subprocess.run(["bash", script, "clip-vit-base-patch32"], capture_output=True, text=True, env=env,
                              timeout=120)

    try:
        out = os.path.join(models, "clip-vit-base-patch32")
        r = run()
        check(r.returncode == 0, f"download-models.sh against the local hub: {r.stdout}{r.stderr}")
        for f in os.listdir(repo):
            same = os.path.exists(os.path.join(out, f)) and open(os.path.join(out, f), "rb").read() == open(
                os.path.join(repo, f), "rb").read()
            check(same, f"download-models.sh: {f} missing or different")
        check(not os.path.exists(os.path.join(out, "model.safetensors")), "download-models.sh: 404 not handled")
        check(not [f for f in os.listdir(out) if f.endswith(".part")], "download-models.sh left .part files")
        got, err = dlut_dump(out, tmp)
        check(got is not None, f"dlut cannot open the downloaded folder: {err}")
        r = run()
        check(r.returncode == 0 and "already here" in r.stdout, f"second run: {r.stdout}{r.stderr}")
        # an interrupted download: the .part holds the first half (this server has no ranges: restart)
        binp = os.path.join(out, "pytorch_model.bin")
        data = open(binp, "rb").read()
        os.remove(binp)
        with open(binp + ".part", "wb") as f:
            f.write(data[:len(data) // 2])
        r = run()
        check(r.returncode == 0 and open(binp, "rb").read() == data, f"resume: {r.stdout}{r.stderr}")
        # a corrupt transfer (announced hash differs)
        os.remove(binp)
        lie["sha"] = True
        r = run()
        check(r.returncode == 1 and "SHA-256 mismatch" in r.stderr and not os.path.exists(binp),
              f"sha mismatch: {r.stdout}{r.stderr}")
    finally:
        srv.shutdown()
        srv.server_close()


def main():
    check(os.access(TOOL, os.X_OK), f"{TOOL} not built")
    tmp = tempfile.mkdtemp(prefix="dlut-t_ckpt-")
    try:
        for model in ["openai_tiny", "chinese_clip_tiny"]:
            src = os.path.join(REF, model)
            ref = read_safetensors(os.path.join(src, "model.safetensors"))
            # 1. reference safetensors, bitwise
            got, err = dlut_dump(src, tmp)
            compare(f"{model} safetensors", got, {k: (None if v.dtype.kind in "iu" else v) for k, v in ref.items()})

            floats = {k: v for k, v in ref.items() if v.dtype == np.float32}
            # 2. F16 / BF16 / unaligned F32 variants
            d = make_folder(tmp, f"{model}-f16", src)
            write_safetensors(os.path.join(d, "model.safetensors"),
                              {k: ("F16", v.astype(np.float16)) for k, v in floats.items()})
            got, err = dlut_dump(d, tmp)
            compare(f"{model} F16", got, {k: v.astype(np.float16) for k, v in floats.items()})

            d = make_folder(tmp, f"{model}-bf16", src)
            bf = {k: to_bf16_bits(v) for k, v in floats.items()}
            write_safetensors(os.path.join(d, "model.safetensors"), {k: ("BF16", v) for k, v in bf.items()})
            got, err = dlut_dump(d, tmp)
            compare(f"{model} BF16", got,
                    {k: bf16_to_f32(v) for k, v in bf.items()})
            # the rounding is real: BF16 differs from F32 but by at most 2^-8 relative
            if got is not None:
                w = "visual_projection.weight"
                diff = np.abs(got[w] - floats[w])
                check(diff.max() > 0 and np.all(diff <= np.abs(floats[w]) * 2.0 ** -8 + 1e-30),
                      f"{model} BF16 rounding out of bounds")

            d = make_folder(tmp, f"{model}-unaligned", src)
            write_safetensors(os.path.join(d, "model.safetensors"), {k: ("F32", v) for k, v in floats.items()},
                              lead_pad=3)
            got, err = dlut_dump(d, tmp)
            exp = dict(floats)
            exp["pad"] = None
            compare(f"{model} unaligned F32", got, exp)

            # 3. pytorch_model.bin deflated, and with zip64 records
            zin = zipfile.ZipFile(os.path.join(src, "pytorch_model.bin"))
            d = make_folder(tmp, f"{model}-deflated", src)
            with zipfile.ZipFile(os.path.join(d, "pytorch_model.bin"), "w", zipfile.ZIP_DEFLATED) as zout:
                for info in zin.infolist():
                    zout.writestr(info.filename, zin.read(info.filename))
            got, err = dlut_dump(d, tmp)
            compare(f"{model} deflated bin", got, floats)
            check(got is not None or print(err), err)

            d = make_folder(tmp, f"{model}-zip64", src)
            write_zip(os.path.join(d, "pytorch_model.bin"), [(i.filename, zin.read(i.filename)) for i in zin.infolist()],
                      zip64=True)
            got, err = dlut_dump(d, tmp)
            compare(f"{model} zip64 bin", got, floats)
            check(got is not None or print(err), err)

            # 3b. sharded: the safetensors split in two with an index, and the .bin likewise
            names = list(floats)
            half = len(names) // 2
            d = make_folder(tmp, f"{model}-sharded", src)
            wm = {}
            for i, part in enumerate((names[:half], names[half:])):
                fn = f"model-0000{i + 1}-of-00002.safetensors"
                write_safetensors(os.path.join(d, fn), {k: ("F32", floats[k]) for k in part})
                wm.update({k: fn for k in part})
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f)
            got, err = dlut_dump(d, tmp)
            compare(f"{model} sharded safetensors", got, floats)
            check(got is not None or print(err), err)
            wm["not.in.any.shard"] = wm[names[0]]
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"weight_map": wm}, f)
            expect_error(d, tmp, "tensor 'not.in.any.shard' is not in its shard", "index lists a missing tensor")
            del wm["not.in.any.shard"]
            wm[names[0]] = "../model.safetensors"
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"weight_map": wm}, f)
            expect_error(d, tmp, "plain file name", "shard outside the folder")

        # 4. torch-style pickles from Python's pickler
        src = os.path.join(REF, "openai_tiny")
        for proto in (2, 4):
            for z64 in (False, True):
                sd, storages, expect = synthetic_state_dict()
                d = make_folder(tmp, f"synthetic-p{proto}-z{int(z64)}", src)
                torch_zip(os.path.join(d, "pytorch_model.bin"), sd, storages, prefix="some_name", protocol=proto,
                          zip64=z64)
                got, err = dlut_dump(d, tmp)
                check(got is not None, f"synthetic protocol {proto}: {err}")
                compare(f"synthetic protocol {proto} zip64={z64}", got, expect)

        # 4b. a sharded pytorch_model.bin (two torch archives and an index)
        sd, storages, expect = synthetic_state_dict()
        d = make_folder(tmp, "sharded-bin", src)
        keys = list(sd)
        wm = {}
        for i, part in enumerate((keys[:3], keys[3:])):
            fn = f"pytorch_model-0000{i + 1}-of-00002.bin"
            torch_zip(os.path.join(d, fn), OrderedDict((k, sd[k]) for k in part), storages,
                      prefix=fn[:-4], metadata=False)
            wm.update({k: fn for k in part})
        with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": wm}, f)
        got, err = dlut_dump(d, tmp)
        check(got is not None, f"sharded bin: {err}")
        compare("sharded pytorch_model.bin", got, expect)

        # 5. hostile archives
        evil = b"\x80\x02cos\nsystem\nq\x00X\x0b\x00\x00\x00touch /tmp/dlut-pwnedq\x01\x85q\x02Rq\x03."
        d = make_folder(tmp, "evil", src)
        write_zip(os.path.join(d, "pytorch_model.bin"), [("archive/data.pkl", evil)])
        expect_error(d, tmp, "refusing pickle global 'os.system'", "os.system pickle")
        check(not os.path.exists("/tmp/dlut-pwned"), "the forbidden global ran")

        # a pickled builtins.eval via Python's own pickler (protocol 2 REDUCE)
        class Evil:
            def __reduce__(self):
                return (eval, ("1+1",))

        d = make_folder(tmp, "evil2", src)
        write_zip(os.path.join(d, "pytorch_model.bin"),
                  [("archive/data.pkl", pickle.dumps({"w": Evil()}, protocol=2))])
        expect_error(d, tmp, "eval' (not part of a torch state dict)", "builtins.eval pickle")  # __builtin__ in protocol 2
        d = make_folder(tmp, "evil4", src)
        write_zip(os.path.join(d, "pytorch_model.bin"),
                  [("archive/data.pkl", pickle.dumps({"w": Evil()}, protocol=4))])
        expect_error(d, tmp, "refusing pickle global 'builtins.eval'", "builtins.eval pickle, protocol 4")

        cases = []
        sd, storages, _ = synthetic_state_dict()
        cases.append(("missing storage", sd, storages[1:], "storage entry 'archive/data/0' is missing"))
        sd, storages, _ = synthetic_state_dict()
        sd["f.weight"] = Tensor(storages[0], 20, (4, 3), (3, 1))
        cases.append(("view past storage", sd, storages, "runs past the end of its storage"))
        sd, storages, _ = synthetic_state_dict()
        storages[0].numel = 25
        cases.append(("storage size lie", sd, storages, "expected 25 elements"))
        sd, storages, _ = synthetic_state_dict()
        sd["x"] = 3
        cases.append(("non-tensor value", sd, storages, "is not a tensor"))
        for i, (what, sd, st, err) in enumerate(cases):
            d = make_folder(tmp, f"hostile{i}", src)
            torch_zip(os.path.join(d, "pytorch_model.bin"), sd, st)
            expect_error(d, tmp, err, what)

        d = make_folder(tmp, "encrypted", src)
        write_zip(os.path.join(d, "pytorch_model.bin"), [("archive/data.pkl", b"\x80\x02}.")], flags=1)
        expect_error(d, tmp, "encrypted", "encrypted entry")
        d = make_folder(tmp, "legacy", src)
        with open(os.path.join(d, "pytorch_model.bin"), "wb") as f:
            f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))  # torch < 1.6 starts with its magic number
        expect_error(d, tmp, "legacy", "pre-1.6 torch file")

        # 6. the download script parses and explains itself
        script = os.path.join(ROOT, "tools", "download-models.sh")
        r = subprocess.run(["bash", "-n", script], capture_output=True, text=True)
        check(r.returncode == 0, f"bash -n download-models.sh: {r.stderr}")
        r = subprocess.run(["bash", script, "--help"], capture_output=True, text=True)
        check(r.returncode == 0 and "huggingface.co" in r.stdout and "DLUT_MODELS" in r.stdout,
              "download-models.sh --help")
        r = subprocess.run(["bash", script, "no-such-model"], capture_output=True, text=True,
                           env=dict(os.environ, DLUT_MODELS=os.path.join(tmp, "models")))
        check(r.returncode == 2 and "unknown model" in r.stderr, f"download-models.sh bad name: {r.stderr}")
        # 7. the download script end to end against a local fake of huggingface.co
        check_download_script(tmp, script)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"t_ckpt: {checks} checks, {failures} failed", file=sys.stderr)
    return 1 if failures else 0


def clip_vit_l14_shapes():
    """Tensor names and shapes of openai/clip-vit-large-patch14 (HF CLIPModel)."""
    sh = OrderedDict()

    def layer(pfx, w, mlp):
        for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sh[f"{pfx}.self_attn.{p}.weight"] = (w, w)
            sh[f"{pfx}.self_attn.{p}.bias"] = (w,)
        for p in ("layer_norm1", "layer_norm2"):
            sh[f"{pfx}.{p}.weight"] = (w,)
            sh[f"{pfx}.{p}.bias"] = (w,)
        sh[f"{pfx}.mlp.fc1.weight"] = (mlp, w)
        sh[f"{pfx}.mlp.fc1.bias"] = (mlp,)
        sh[f"{pfx}.mlp.fc2.weight"] = (w, mlp)
        sh[f"{pfx}.mlp.fc2.bias"] = (w,)

    sh["logit_scale"] = ()
    sh["text_model.embeddings.token_embedding.weight"] = (49408, 768)
    sh["text_model.embeddings.position_embedding.weight"] = (77, 768)
    for i in range(12):
        layer(f"text_model.encoder.layers.{i}", 768, 3072)
    sh["text_model.final_layer_norm.weight"] = (768,)
    sh["text_model.final_layer_norm.bias"] = (768,)
    sh["vision_model.embeddings.class_embedding"] = (1024,)
    sh["vision_model.embeddings.patch_embedding.weight"] = (1024, 3, 14, 14)
    sh["vision_model.embeddings.position_embedding.weight"] = (257, 1024)
    sh["vision_model.pre_layrnorm.weight"] = (1024,)
    sh["vision_model.pre_layrnorm.bias"] = (1024,)
    for i in range(24):
        layer(f"vision_model.encoder.layers.{i}", 1024, 4096)
    sh["vision_model.post_layernorm.weight"] = (1024,)
    sh["vision_model.post_layernorm.bias"] = (1024,)
    sh["visual_projection.weight"] = (768, 1024)
    sh["text_projection.weight"] = (768, 768)
    return sh


def bench(tmp_root):
    """Time dlut on a ViT-L/14-sized checkpoint (random weights, 428M
    parameters) as F32 and F16 safetensors and as pytorch_model.bin, against
    numpy reading the same safetensors (the peer), in the same run. The
    files are read once first so every timing is from the page cache."""
    import time
    tmp = tempfile.mkdtemp(prefix="dlut-ckpt-bench-", dir=tmp_root)
    try:
        rng = np.random.default_rng(0)
        shapes = clip_vit_l14_shapes()
        floats = OrderedDict(
            (k, np.asarray(rng.standard_normal(v, dtype=np.float32) * 0.02, dtype=np.float32)) for k, v in shapes.items())
        nparam = sum(v.size for v in floats.values())
        cfg = os.path.join(tmp, "config.json")
        with open(cfg, "w") as f:
            f.write("{}")
        dirs = {}
        for tag in ("f32", "f16", "bin"):
            d = os.path.join(tmp, tag)
            os.makedirs(d)
            shutil.copy(cfg, d)
            dirs[tag] = d
        write_safetensors(os.path.join(dirs["f32"], "model.safetensors"), {k: ("F32", v) for k, v in floats.items()})
        write_safetensors(os.path.join(dirs["f16"], "model.safetensors"),
                          {k: ("F16", v.astype(np.float16)) for k, v in floats.items()})
        storages, sd = [], OrderedDict()
        for i, (k, v) in enumerate(floats.items()):
            st = Storage(str(i), "FloatStorage", v.tobytes(), v.size)
            storages.append(st)
            sd[k] = Tensor(st, 0, v.shape, tuple(int(x) // 4 for x in v.strides))
        torch_zip(os.path.join(dirs["bin"], "pytorch_model.bin"), sd, storages, prefix="pytorch_model", zip64=True)
        del floats, storages, sd
        results = {}
        for tag, d in dirs.items():
            runs = []
            for rep in range(4):  # first run warms the page cache; keep the best of the rest
                r = subprocess.run([TOOL, "--bench", d], capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"test_ckpt --bench {d}: {r.stderr.strip()}")
                f = r.stdout.split()
                runs.append((float(f[1]), float(f[3]), float(f[5])))
            results[tag] = min(runs[1:], key=lambda x: sum(x))
        peer = {}
        for tag in ("f32", "f16"):
            best = None
            for rep in range(4):
                t0 = time.perf_counter()
                path = os.path.join(dirs[tag], "model.safetensors")
                with open(path, "rb") as f:
                    (n,) = struct.unpack("<Q", f.read(8))
                    header = json.loads(f.read(n))
                mm = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
                t1 = time.perf_counter()
                arrs = []
                for k, e in header.items():
                    if k == "__metadata__":
                        continue
                    b, end = e["data_offsets"]
                    arrs.append(mm[b:end].view("<f4" if e["dtype"] == "F32" else "<f2").astype(np.float32, copy=False))
                t2 = time.perf_counter()
                total = sum(float(a.sum()) for a in arrs)
                t3 = time.perf_counter()
                del mm, arrs
                if rep and (best is None or (t3 - t0) * 1e3 < sum(best)):
                    best = ((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
            peer[tag] = best
        conv = subprocess.run([TOOL, "--bench-convert"], capture_output=True, text=True).stdout.strip()
        gb = nparam * 4 / 1e9
        print(f"ViT-L/14-sized checkpoint: {len(shapes)} tensors, {nparam / 1e6:.1f}M parameters, {gb:.2f} GB as F32")
        print(f"threads: {os.environ.get('DLUT_THREADS', os.cpu_count())}")
        print(f"{'reader':<30}{'open ms':>9}{'to f32 ms':>11}{'sum ms':>9}{'total ms':>10}")
        rows = [("dlut model.safetensors F32", results["f32"]), ("numpy model.safetensors F32", peer["f32"]),
                ("dlut model.safetensors F16", results["f16"]), ("numpy model.safetensors F16", peer["f16"]),
                ("dlut pytorch_model.bin F32", results["bin"])]
        for label, (o, c, sm) in rows:
            print(f"{label:<30}{o:>9.1f}{c:>11.1f}{sm:>9.1f}{o + c + sm:>10.1f}")
        print(conv)
        print("to f32: dlut_ckpt_f32 on every float tensor (F32: zero-copy pointers into the map; .bin: plus the CRC-32"
              " of every storage) / numpy astype(float32, copy=False); sum: one pass over all values (first touch of"
              " mapped pages)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_corpus(out):
    """Seeds for fuzz/fuzz_ckpt.c: first byte = parser (0 safetensors, 1 pickle, 2 zip, 3 torch zip)."""
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="dlut-corpus-")
    seeds = {}
    p = os.path.join(tmp, "x")
    rng = np.random.default_rng(1)
    write_safetensors(p, {"a": ("F32", rng.standard_normal((2, 3)).astype(np.float32)),
                          "b": ("F16", rng.standard_normal(4).astype(np.float16)),
                          "c": ("BF16", to_bf16_bits(rng.standard_normal(3).astype(np.float32)))}, lead_pad=1)
    seeds["st_small"] = b"\0" + open(p, "rb").read()
    for proto in (2, 4):
        sd, storages, _ = synthetic_state_dict()
        torch_zip(p, sd, storages, protocol=proto, zip64=proto == 4)
        raw = open(p, "rb").read()
        seeds[f"bin_p{proto}"] = b"\3" + raw
        seeds[f"zip_p{proto}"] = b"\2" + raw
        seeds[f"pkl_p{proto}"] = b"\1" + zipfile.ZipFile(p).read("archive/data.pkl")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", b"\0" * 64)
    seeds["zip_deflated"] = b"\2" + buf.getvalue()
    seeds["bin_deflated"] = b"\3" + buf.getvalue()
    seeds["pkl_openai_tiny"] = b"\1" + zipfile.ZipFile(os.path.join(REF, "openai_tiny", "pytorch_model.bin")).read(
        "pytorch_model/data.pkl")
    for k, v in seeds.items():
        with open(os.path.join(out, k), "wb") as f:
            f.write(v)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--bench":
        bench(sys.argv[2] if len(sys.argv) > 2 else None)
        sys.exit(0)
    if len(sys.argv) == 3 and sys.argv[1] == "--make-corpus":
        make_corpus(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
