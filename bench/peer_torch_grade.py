#!/usr/bin/python3
"""bench/peer_torch_grade.py - DLUT's grading step against the original
CLIP-DLUT pipeline's step in PyTorch, timed alternately in one script, and
the grade's result with bf16 against fp32.

Part 1 (speed, default ViT-L/14-336). The original's step, written here
in plain PyTorch modules:
  * the vision tower: bench/peer_torch_vision.py's upstream VisionTransformer
    (frozen), on a random-weight checkpoint written to a temporary folder;
    DLUT's build/bench/bench_grade_step loads the same safetensors;
  * the original's MLP field (GradientPredictor as DLUT's `field`
    reproduces it, src/grade/field.c, docs/grading.md): 3->512->512->512->3,
    LeakyReLU(0.01), torch.nn.Linear's default init, last layer zero; its
    input is the current LUT's vertex values (33^3 x 3, in [0,1]); each
    step T = clamp(L + eps/2 phi(L), 0, 1), eps = 2e-3, then L <- T.detach();
  * T applied to the photo's pixels (grid_sample, trilinear): the working
    image (short side = the model's side, bicubic; centre crop; CLIP
    normalisation) through the tower, and a fixed sample of 16384 pixels
    for the colour terms;
  * the CLIP loss towards a reference photo (DLUT's speed benches grade
    towards a reference too: random weights have no tokenizer; the per-step
    work is the same): directional 10 (1 - edit.style) with the smoothed
    norm (eps 3e-2) + content 0.7 (1 - f_edit.f_target);
  * the colour terms: sRGB -> Lab (L/100, a/128, b/128), mean and unbiased
    covariance + 1e-6 I; relu(logdet drop), relu(lambda_min drop), |mean
    shift|; and the lattice terms mono + smooth along the three axes;
    weights 1,1,1,1,20,10000;
  * forward, backward, AdamW (lr 2e-4, wd 0.01).
The original runs at $DLUT_THREADS torch threads and at 1 (on a shared
2-vCPU machine Debian's PyTorch is often faster at 1) and the ratios divide
by its faster time of each round.
DLUT's step: dlut_grade_run (bench_grade_step) with the field and with the
lattice, DLUT_CLIP_PRECISION=auto (bf16 on AMX) and fp32. Each round runs
every variant for STEPS steps; a variant's time per step is the median of
its steps 2..STEPS (step 1 carries the set-up), its figure the median over
rounds; ratios are torch / DLUT per round, median (min-max) reported.

Part 2 (result, default ViT-B/16): the same photo, reference, checkpoint,
seed and steps graded by DLUT with the lattice once with bf16 and once
with fp32; CIEDE2000 between the two LUTs over the 17^3 lattice and between
the two graded photos (mean, 99th percentile, max).

  /usr/bin/python3 bench/peer_torch_grade.py                       # both parts
  /usr/bin/python3 bench/peer_torch_grade.py speed [SIZE] [STEPS] [ROUNDS]   # default ViT-L/14-336 2 3
  /usr/bin/python3 bench/peer_torch_grade.py result [SIZE] [STEPS] [PARAM]   # default ViT-B/16 30 lattice

Photos: $PHOTOS (default /work/shared/data/photos) chelsea.png graded
towards coffee.png. Threads: $DLUT_THREADS (default 2) for both. Needs
`make bench` and tools/bench-packages.txt.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_torch_vision as pv  # noqa: E402

ROOT = pv.ROOT
PHOTOS = os.environ.get("PHOTOS", "/work/shared/data/photos")
PHOTO, REF = os.path.join(PHOTOS, "chelsea.png"), os.path.join(PHOTOS, "coffee.png")
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)

# ==== the original's step in PyTorch ====


class Field(nn.Module):
    """The MLP field: 3 -> h -> h -> h -> 3, LeakyReLU(0.01), last layer zero."""

    def __init__(self, h=512):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3, h), nn.LeakyReLU(0.01),
            nn.Linear(h, h), nn.LeakyReLU(0.01),
            nn.Linear(h, h), nn.LeakyReLU(0.01),
            nn.Linear(h, 3),
        )
        nn.init.zeros_(self.net[6].weight)
        nn.init.zeros_(self.net[6].bias)

    def forward(self, x):
        return self.net(x)


def apply_lut(lut, rgb):
    """lut (n,n,n,3) indexed [b][g][r]; rgb (..., 3) in [0,1] -> (..., 3), trilinear."""
    shape = rgb.shape
    g = rgb.reshape(1, 1, 1, -1, 3) * 2 - 1  # grid x = r, y = g, z = b
    vol = lut.permute(3, 0, 1, 2).unsqueeze(0)  # (1, 3, b, g, r)
    out = F.grid_sample(vol, g, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(3, -1).t().reshape(shape)


def srgb_to_lab(c):
    lin = torch.where(c <= 0.04045, c / 12.92, ((c.clamp(min=0) + 0.055) / 1.055) ** 2.4)
    M = torch.tensor([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                      [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ M.t() / torch.tensor([0.95047, 1.0, 1.08883])
    d = 6.0 / 29.0
    f = torch.where(xyz > d**3, xyz.clamp(min=1e-12) ** (1.0 / 3.0), xyz / (3 * d * d) + 4.0 / 29.0)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], 1)


def colour_stats(lab):
    x = lab / torch.tensor([100.0, 128.0, 128.0])
    mu = x.mean(0)
    c = x - mu
    cov = c.t() @ c / (x.shape[0] - 1) + 1e-6 * torch.eye(3)
    return mu, cov


def lattice_terms(t):
    mono = smooth = 0
    for ax in range(3):
        d = torch.diff(t, dim=ax)
        mono = mono + torch.relu(-d).mean()
        smooth = smooth + (torch.diff(d, dim=ax) ** 2).mean()
    return mono, smooth


def load_rgb(path):
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0)


def working(img, S):
    """(h,w,3) -> (1,3,h',w') with the short side S (bicubic)."""
    h, w = img.shape[:2]
    k = S / min(h, w)
    x = img.permute(2, 0, 1).unsqueeze(0)
    return F.interpolate(x, size=(max(S, round(h * k)), max(S, round(w * k))), mode="bicubic",
                         align_corners=False, antialias=True).clamp(0, 1)


def preprocess(x, S):
    h, w = x.shape[2:]
    y0, x0 = (h - S) // 2, (w - S) // 2
    return (x[:, :, y0:y0 + S, x0:x0 + S] - MEAN) / STD


class Original:
    def __init__(self, tower, S, photo, ref, n=33, seed=0):
        self.tower, self.S = tower, S
        self.W = working(photo, S)
        g = torch.Generator().manual_seed(seed)
        flat = photo.reshape(-1, 3)
        self.sample = flat[torch.randint(0, flat.shape[0], (16384,), generator=g)]
        with torch.no_grad():
            self.f_orig = F.normalize(tower(preprocess(self.W, S)), dim=-1)
            f_ref = F.normalize(tower(preprocess(working(ref, S), S)), dim=-1)
            self.f_target = f_ref
            self.style = F.normalize(f_ref - self.f_orig, dim=-1)
            mu, cov = colour_stats(srgb_to_lab(self.sample))
            self.mu0, self.logdet0, self.lmin0 = mu, torch.logdet(cov), torch.linalg.eigvalsh(cov)[0]
        r = torch.linspace(0, 1, n)
        bb, gg, rr = torch.meshgrid(r, r, r, indexing="ij")
        self.L = torch.stack([rr, gg, bb], -1)  # (b,g,r,3): the identity
        self.field = Field(512)
        self.opt = torch.optim.AdamW(self.field.parameters(), lr=2e-4, weight_decay=0.01)

    def step(self):
        T = (self.L + 1e-3 * self.field(self.L)).clamp(0, 1)
        graded = apply_lut(T, self.W.squeeze(0).permute(1, 2, 0)).permute(2, 0, 1).unsqueeze(0)
        f_edit = F.normalize(self.tower(preprocess(graded, self.S)), dim=-1)
        e = f_edit - self.f_orig
        edit = e / torch.sqrt((e * e).sum() + 3e-2**2)
        l_clip = 10 * (1 - (edit * self.style).sum()) + 0.7 * (1 - (f_edit * self.f_target).sum())
        mu, cov = colour_stats(srgb_to_lab(apply_lut(T, self.sample)))
        l_vol = torch.relu(self.logdet0 - torch.logdet(cov))
        l_eig = torch.relu(self.lmin0 - torch.linalg.eigvalsh(cov)[0])
        l_shift = (mu - self.mu0).norm()
        mono, smooth = lattice_terms(T)
        loss = l_clip + mono + smooth + l_vol + 20 * l_shift + 10000 * l_eig
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.L = T.detach()
        return float(loss)


# ==== DLUT's step ====


class Dlut:
    def __init__(self, folder, threads):
        env = dict(os.environ, DLUT_THREADS=str(threads))
        self.p = subprocess.Popen([os.path.join(ROOT, pv.BUILD, "bench", "bench_grade_step"), folder, PHOTO, REF],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
        if self.p.stdout.readline().strip() != "ready":
            raise SystemExit("bench_grade_step failed")

    def grade(self, param, prec, steps, seed=0, dump="-"):
        self.p.stdin.write("grade %s %s %d %d %s\n" % (param, prec, steps, seed, dump))
        self.p.stdin.flush()
        ans = self.p.stdout.readline().split()
        if not ans or ans[0] == "error":
            raise SystemExit("bench_grade_step: %s" % " ".join(ans))
        return ans[0], [float(t) for t in ans[1:]]

    def close(self):
        self.p.stdin.write("q\n")
        self.p.stdin.flush()
        self.p.wait()


def header(threads):
    print("%s UTC | CPU: %s (%d online, flags %s), load average %s | torch %s, %d threads (interop 1)"
          % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), pv.cpu_model(), os.cpu_count(), pv.cpu_flags(),
             open("/proc/loadavg").read().split()[0], torch.__version__, threads), flush=True)


def speed(size, steps, rounds, threads, tmp):
    S = pv.SIZES[size][0]
    folder = os.path.join(tmp, size.replace("/", "_"))
    pv.make_checkpoint(folder, size)
    d = Dlut(folder, threads)
    tower = pv.torch_tower(folder, size)
    photo, ref = load_rgb(PHOTO), load_rgb(REF)
    variants = [("field", "auto"), ("field", "fp32"), ("lattice", "auto"), ("lattice", "fp32")]
    # Debian's PyTorch at 2 threads on a shared 2-vCPU machine is often slower than at 1 (its OpenMP
    # pool waits on a descheduled thread at every small op), so the original runs both ways and
    # the ratios divide by its faster one, as docs/clip.md's tower table does
    tthreads = [threads, 1] if threads > 1 else [threads]
    per = {v: [] for v in variants}
    for n in tthreads:
        per["torch%d" % n] = []
    per["torch"] = []
    used = {}
    for r in range(rounds):
        for v in variants:
            prec, ts = d.grade(v[0], v[1], steps)
            used[v] = prec
            per[v].append(statistics.median(ts[1:]) if len(ts) > 1 else ts[0])
        for n in tthreads:
            torch.set_num_threads(n)
            orig = Original(tower, S, photo, ref)
            ts = []
            for _ in range(steps):
                t0 = time.perf_counter()
                orig.step()
                ts.append(time.perf_counter() - t0)
            per["torch%d" % n].append(statistics.median(ts[1:]) if len(ts) > 1 else ts[0])
        torch.set_num_threads(threads)
        per["torch"].append(min(per["torch%d" % n][-1] for n in tthreads))
        print("round %d: " % (r + 1) + ", ".join(
            "%s %s %.2f s" % (v[0], used[v], per[v][-1]) for v in variants) + ", original (torch) " + ", ".join(
            "%d thr %.2f s" % (n, per["torch%d" % n][-1]) for n in tthreads) + " | load %s"
            % open("/proc/loadavg").read().split()[0], flush=True)
    d.close()
    os.remove(os.path.join(folder, "model.safetensors"))
    tt = statistics.median(per["torch"])
    print("%s, %d steps x %d rounds, s/step wall (median of steps 2..%d, median over rounds):" % (size, steps,
                                                                                              rounds, steps))
    for n in tthreads:
        print("  original pipeline (PyTorch tower + MLP field + losses + AdamW), torch %d thread(s): %.2f s"
              % (n, statistics.median(per["torch%d" % n])))
    print("  original, the faster of those per round: %.2f s (ratios below divide by it)" % tt)
    for v in variants:
        ratios = [a / b for a, b in zip(per["torch"], per[v])]
        print("  DLUT %-7s %-4s (DLUT_CLIP_PRECISION=%s): %.2f s  -> original/DLUT %.2fx (%.2f-%.2f)"
              % (v[0], used[v], v[1], statistics.median(per[v]), statistics.median(ratios), min(ratios),
                 max(ratios)), flush=True)


# ==== CIEDE2000 (Sharma, Wu and Dalal 2005) ====


def lab_np(rgb):
    return srgb_to_lab(torch.from_numpy(rgb.reshape(-1, 3).astype(np.float32))).double().numpy()


def ciede2000(lab1, lab2):
    L1, a1, b1 = lab1.T
    L2, a2, b2 = lab2.T
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    Cm = (C1 + C2) / 2
    G = 0.5 * (1 - np.sqrt(Cm**7 / (Cm**7 + 25.0**7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dLp, dCp = L2 - L1, C2p - C1p
    dh = h2p - h1p
    dh = np.where(C1p * C2p == 0, 0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)))
    dHp = 2 * np.sqrt(C1p * C2p) * np.sin(np.radians(dh / 2))
    Lpm, Cpm = (L1 + L2) / 2, (C1p + C2p) / 2
    hs = h1p + h2p
    hpm = np.where(C1p * C2p == 0, hs, np.where(np.abs(h1p - h2p) <= 180, hs / 2,
                                               np.where(hs < 360, (hs + 360) / 2, (hs - 360) / 2)))
    T = (1 - 0.17 * np.cos(np.radians(hpm - 30)) + 0.24 * np.cos(np.radians(2 * hpm))
         + 0.32 * np.cos(np.radians(3 * hpm + 6)) - 0.20 * np.cos(np.radians(4 * hpm - 63)))
    dtheta = 30 * np.exp(-(((hpm - 275) / 25) ** 2))
    Rc = 2 * np.sqrt(Cpm**7 / (Cpm**7 + 25.0**7))
    Sl = 1 + 0.015 * (Lpm - 50) ** 2 / np.sqrt(20 + (Lpm - 50) ** 2)
    Sc, Sh = 1 + 0.045 * Cpm, 1 + 0.015 * Cpm * T
    Rt = -np.sin(np.radians(2 * dtheta)) * Rc
    return np.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh))


def result(size, steps, param, threads, tmp):
    folder = os.path.join(tmp, "res_" + size.replace("/", "_"))
    pv.make_checkpoint(folder, size)
    d = Dlut(folder, threads)
    out = {}
    for prec in ("bf16", "fp32"):
        path = os.path.join(tmp, "res_%s.f32" % prec)
        used, ts = d.grade(param, prec, steps, seed=7, dump=path)
        out[prec] = (used, np.fromfile(path, dtype="<f4"), sum(ts))
    d.close()
    os.remove(os.path.join(folder, "model.safetensors"))
    k = 17**3 * 3
    a, b = out["bf16"][1], out["fp32"][1]
    ident = np.stack(np.meshgrid(*(np.linspace(0, 1, 17),) * 3, indexing="ij")[::-1], -1).reshape(-1)
    for name, x, y, z in (("LUT over the 17^3 lattice", a[:k], b[:k], ident),
                          ("graded photo %s" % os.path.basename(PHOTO), a[k:], b[k:], None)):
        de = ciede2000(lab_np(x), lab_np(y))
        moved = ""
        if z is not None:
            m = ciede2000(lab_np(z), lab_np(y))
            moved = " | the fp32 grade moved the lattice from the identity by mean %.2f, max %.2f" % (m.mean(), m.max())
        print("  %s: CIEDE2000 bf16 vs fp32 mean %.4f, p99 %.4f, max %.4f%s"
              % (name, de.mean(), np.percentile(de, 99), de.max(), moved), flush=True)
    print("  (%s, %s, %d steps, seed 7, towards %s; paths taken: %s / %s; %.1f s / %.1f s)"
          % (size, param, steps, os.path.basename(REF), out["bf16"][0], out["fp32"][0], out["bf16"][2],
             out["fp32"][2]), flush=True)


def main():
    threads = int(os.environ.get("DLUT_THREADS", "2"))
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    header(threads)
    with tempfile.TemporaryDirectory(prefix="dlut-peer-grade-") as tmp:
        if what in ("all", "speed"):
            size = sys.argv[2] if what == "speed" and len(sys.argv) > 2 else "ViT-L/14-336"
            steps = int(sys.argv[3]) if what == "speed" and len(sys.argv) > 3 else 2
            rounds = int(sys.argv[4]) if what == "speed" and len(sys.argv) > 4 else 3
            speed(size, steps, rounds, threads, tmp)
        if what in ("all", "result"):
            size = sys.argv[2] if what == "result" and len(sys.argv) > 2 else "ViT-B/16"
            steps = int(sys.argv[3]) if what == "result" and len(sys.argv) > 3 else 30
            param = sys.argv[4] if what == "result" and len(sys.argv) > 4 else "lattice"
            print("bf16 vs fp32, the grade's result:")
            result(size, steps, param, threads, tmp)


if __name__ == "__main__":
    main()
