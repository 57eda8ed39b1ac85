#!/usr/bin/python3
"""bench/peer_torch_vision.py - DLUT's CLIP vision tower against the same
tower in PyTorch, forward and backward to the pixels, timed alternately in
one script on the same weights and the same number of threads.

The peer is the upstream code's own structure: openai/CLIP clip/model.py
VisionTransformer (conv1, class_embedding, positional_embedding, ln_pre,
ResidualAttentionBlock with nn.MultiheadAttention, QuickGELU, ln_post,
proj), which Chinese-CLIP's vision tower also is. Its parameters are frozen
(requires_grad False, as a grading loop freezes the model), so its backward
computes only the pixel gradient, like DLUT's.

For every size a random-weight checkpoint is written in Hugging Face
CLIPModel layout (config.json + model.safetensors, F32; a one-layer text
tower so the folder is a complete CLIPModel) into a temporary folder, never
into the repository. DLUT loads it with build/bench/bench_clip_tower, the
peer reads the same file back with a small safetensors reader and maps the
HF names onto the upstream ones (q/k/v -> in_proj_weight, fc1 -> c_fc, ...).
Both compute the same fixed image and the same d_embed; the script prints
the cosine between their embeddings and pixel gradients before timing.

Timing: R rounds, each one DLUT forward+backward then one PyTorch
forward+backward (after one warm-up each); the ratio per round is
torch / dlut, and the median ratio is reported with the median times, in
wall time and in process CPU time (all threads; on a machine shared with
other jobs the wall clock counts their time slices too, CPU time does not,
but it does count a runtime's idle threads spinning).

  /usr/bin/python3 bench/peer_torch_vision.py                 # all four sizes, 5 rounds
  /usr/bin/python3 bench/peer_torch_vision.py ViT-B/16 7      # one size (or a comma list), 7 rounds
  DLUT_CLIP_PRECISION=fp32 /usr/bin/python3 bench/peer_torch_vision.py

Needs Debian's python3-torch and python3-numpy (tools/bench-packages.txt)
and `make bench`. Threads: $DLUT_THREADS (default 2) for both; $PEER_TORCH_THREADS
sets PyTorch's alone (on 2 vCPUs PyTorch is often faster at 1: report the faster).
"""
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")

SIZES = OrderedDict(
    [  # name: (image, patch, width, layers, heads, embed)
        ("ViT-B/32", (224, 32, 768, 12, 12, 512)),
        ("ViT-B/16", (224, 16, 768, 12, 12, 512)),
        ("ViT-L/14", (224, 14, 1024, 24, 16, 768)),
        ("ViT-L/14-336", (336, 14, 1024, 24, 16, 768)),
    ]
)

# ==== the upstream modules (openai/CLIP clip/model.py, as written there) ====


class LayerNorm(nn.LayerNorm):
    """Subclass torch's LayerNorm to handle fp16."""

    def forward(self, x):
        orig_type = x.dtype
        ret = super().forward(x.type(torch.float32))
        return ret.type(orig_type)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(d_model, d_model * 4)),
                    ("gelu", QuickGELU()),
                    ("c_proj", nn.Linear(d_model * 4, d_model)),
                ]
            )
        )
        self.ln_2 = LayerNorm(d_model)
        self.attn_mask = attn_mask

    def attention(self, x):
        self.attn_mask = self.attn_mask.to(dtype=x.dtype, device=x.device) if self.attn_mask is not None else None
        return self.attn(x, x, x, need_weights=False, attn_mask=self.attn_mask)[0]

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, heads, output_dim):
        super().__init__()
        self.input_resolution = input_resolution
        self.output_dim = output_dim
        self.conv1 = nn.Conv2d(in_channels=3, out_channels=width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)  # shape = [*, width, grid, grid]
        x = x.reshape(x.shape[0], x.shape[1], -1)  # shape = [*, width, grid ** 2]
        x = x.permute(0, 2, 1)  # shape = [*, grid ** 2, width]
        x = torch.cat(
            [
                self.class_embedding.to(x.dtype)
                + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device),
                x,
            ],
            dim=1,
        )  # shape = [*, grid ** 2 + 1, width]
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = x.permute(1, 0, 2)  # NLD -> LND
        x = self.transformer(x)
        x = x.permute(1, 0, 2)  # LND -> NLD
        x = self.ln_post(x[:, 0, :])
        if self.proj is not None:
            x = x @ self.proj
        return x


# ==== safetensors (F32 only), written and read here ====


def write_safetensors(path, tensors):
    header, off = {}, 0
    for name in sorted(tensors):
        t = tensors[name]
        n = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name in sorted(tensors):
            f.write(tensors[name].contiguous().numpy().astype("<f4").tobytes())


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        assert v["dtype"] == "F32"
        b, e = v["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype="<f4").reshape(v["shape"]).copy())
    return out


# ==== checkpoints ====


def make_checkpoint(folder, size, seed=1234):
    S, p, C, L, NH, E = SIZES[size]
    g = torch.Generator().manual_seed(seed)

    def rn(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    T, Ct, It = (S // p) ** 2 + 1, 64, 256
    w = {}
    v = "vision_model."
    w[v + "embeddings.patch_embedding.weight"] = rn(C, 3, p, p)
    w[v + "embeddings.class_embedding"] = rn(C, std=C**-0.5)
    w[v + "embeddings.position_embedding.weight"] = rn(T, C, std=C**-0.5)
    for ln in ("pre_layrnorm", "post_layernorm"):
        w[v + ln + ".weight"] = 1 + rn(C, std=0.1)
        w[v + ln + ".bias"] = rn(C, std=0.1)

    def block(prefix, C_, I_):
        for q in ("q_proj", "k_proj", "v_proj", "out_proj"):
            w[prefix + "self_attn." + q + ".weight"] = rn(C_, C_, std=C_**-0.5)
            w[prefix + "self_attn." + q + ".bias"] = rn(C_)
        for ln in ("layer_norm1", "layer_norm2"):
            w[prefix + ln + ".weight"] = 1 + rn(C_, std=0.1)
            w[prefix + ln + ".bias"] = rn(C_, std=0.1)
        w[prefix + "mlp.fc1.weight"] = rn(I_, C_, std=C_**-0.5)
        w[prefix + "mlp.fc1.bias"] = rn(I_)
        w[prefix + "mlp.fc2.weight"] = rn(C_, I_, std=I_**-0.5)
        w[prefix + "mlp.fc2.bias"] = rn(C_)

    for l in range(L):
        block(v + "encoder.layers.%d." % l, C, 4 * C)
    w["visual_projection.weight"] = rn(E, C, std=C**-0.5)
    t = "text_model."
    w[t + "embeddings.token_embedding.weight"] = rn(1000, Ct)
    w[t + "embeddings.position_embedding.weight"] = rn(77, Ct)
    block(t + "encoder.layers.0.", Ct, It)
    w[t + "final_layer_norm.weight"] = 1 + rn(Ct, std=0.1)
    w[t + "final_layer_norm.bias"] = rn(Ct, std=0.1)
    w["text_projection.weight"] = rn(E, Ct, std=Ct**-0.5)
    w["logit_scale"] = torch.tensor(2.6592)
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, "model.safetensors"), w)
    act = "quick_gelu"
    cfg = {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": E,
        "logit_scale_init_value": 2.6592,
        "vision_config": {
            "hidden_size": C,
            "intermediate_size": 4 * C,
            "num_hidden_layers": L,
            "num_attention_heads": NH,
            "image_size": S,
            "patch_size": p,
            "hidden_act": act,
            "layer_norm_eps": 1e-5,
            "num_channels": 3,
            "projection_dim": E,
        },
        "text_config": {
            "hidden_size": Ct,
            "intermediate_size": It,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "vocab_size": 1000,
            "max_position_embeddings": 77,
            "hidden_act": act,
            "layer_norm_eps": 1e-5,
            "eos_token_id": 999,
            "projection_dim": E,
        },
    }
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def torch_tower(folder, size):
    """The upstream VisionTransformer with the HF-named weights of folder."""
    S, p, C, L, NH, E = SIZES[size]
    sd = read_safetensors(os.path.join(folder, "model.safetensors"))
    m = VisionTransformer(S, p, C, L, NH, E)
    v = "vision_model."
    up = {
        "conv1.weight": sd[v + "embeddings.patch_embedding.weight"],
        "class_embedding": sd[v + "embeddings.class_embedding"],
        "positional_embedding": sd[v + "embeddings.position_embedding.weight"],
        "ln_pre.weight": sd[v + "pre_layrnorm.weight"],
        "ln_pre.bias": sd[v + "pre_layrnorm.bias"],
        "ln_post.weight": sd[v + "post_layernorm.weight"],
        "ln_post.bias": sd[v + "post_layernorm.bias"],
        "proj": sd["visual_projection.weight"].t().contiguous(),
    }
    for l in range(L):
        h, u = v + "encoder.layers.%d." % l, "transformer.resblocks.%d." % l
        qkv = ("q_proj", "k_proj", "v_proj")
        up[u + "attn.in_proj_weight"] = torch.cat([sd[h + "self_attn." + q + ".weight"] for q in qkv])
        up[u + "attn.in_proj_bias"] = torch.cat([sd[h + "self_attn." + q + ".bias"] for q in qkv])
        up[u + "attn.out_proj.weight"] = sd[h + "self_attn.out_proj.weight"]
        up[u + "attn.out_proj.bias"] = sd[h + "self_attn.out_proj.bias"]
        up[u + "ln_1.weight"], up[u + "ln_1.bias"] = sd[h + "layer_norm1.weight"], sd[h + "layer_norm1.bias"]
        up[u + "ln_2.weight"], up[u + "ln_2.bias"] = sd[h + "layer_norm2.weight"], sd[h + "layer_norm2.bias"]
        up[u + "mlp.c_fc.weight"], up[u + "mlp.c_fc.bias"] = sd[h + "mlp.fc1.weight"], sd[h + "mlp.fc1.bias"]
        up[u + "mlp.c_proj.weight"], up[u + "mlp.c_proj.bias"] = sd[h + "mlp.fc2.weight"], sd[h + "mlp.fc2.bias"]
    m.load_state_dict(up, strict=True)
    m.eval()
    m.requires_grad_(False)
    return m


def test_inputs(S, E):
    n = 3 * S * S
    i = np.arange(n, dtype=np.int64)
    pix = ((i * 7919) % 1000).astype(np.float32) / np.float32(500.0) - np.float32(1.0)
    de = (np.arange(E) % 3).astype(np.float32) - 1.0
    return torch.from_numpy(pix.reshape(1, 3, S, S)), torch.from_numpy(de.reshape(1, E))


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def cpu_flags():
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            f = set(line.split(":", 1)[1].split())
            return ",".join(x for x in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if x in f) or "none"
    return "?"


def run_size(size, rounds, threads, tmp):
    S, p, C, L, NH, E = SIZES[size]
    folder = os.path.join(tmp, size.replace("/", "_"))
    make_checkpoint(folder, size)
    dump = os.path.join(folder, "dlut_out.f32")
    env = dict(os.environ, DLUT_THREADS=str(threads))
    proc = subprocess.Popen(
        [os.path.join(ROOT, BUILD, "bench", "bench_clip_tower"), folder, dump],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    ready = proc.stdout.readline().split()
    if not ready or ready[0] != "ready":
        raise SystemExit("bench_clip_tower failed for %s" % size)
    precision = ready[1]
    m = torch_tower(folder, size)
    pix0, de = test_inputs(S, E)

    def torch_fb():
        pix = pix0.clone().requires_grad_(True)
        emb = m(pix)
        (emb * de).sum().backward()
        return emb.detach(), pix.grad

    def dlut_fb():
        proc.stdin.write("fb\n")
        proc.stdin.flush()
        wall, cpu = proc.stdout.readline().split()
        return float(wall), float(cpu)

    # the same computation?
    emb_t, grad_t = torch_fb()
    out = np.fromfile(dump, dtype="<f4")
    emb_d, grad_d = out[:E], out[E:]
    ce, cg = cosine(emb_d, emb_t.numpy()), cosine(grad_d, grad_t.numpy())
    # timing, alternating (one warm-up each first)
    dlut_fb()
    times_d, times_t, ratios, cpu_d, cpu_t, cpu_ratios = [], [], [], [], [], []
    for _ in range(rounds):
        td, cd = dlut_fb()
        t0, c0 = time.perf_counter(), time.process_time()
        torch_fb()
        tt, ct = time.perf_counter() - t0, time.process_time() - c0
        times_d.append(td)
        times_t.append(tt)
        ratios.append(tt / td)
        cpu_d.append(cd)
        cpu_t.append(ct)
        cpu_ratios.append(ct / cd)
    proc.stdin.write("q\n")
    proc.stdin.flush()
    proc.wait()
    del m
    os.remove(os.path.join(folder, "model.safetensors"))
    r = {
        "size": size,
        "precision": precision,
        "threads": threads,
        "dlut_s": statistics.median(times_d),
        "torch_s": statistics.median(times_t),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "dlut_cpu_s": statistics.median(cpu_d),
        "torch_cpu_s": statistics.median(cpu_t),
        "cpu_ratio": statistics.median(cpu_ratios),
        "load": float(open("/proc/loadavg").read().split()[0]),
        "cos_embed": ce,
        "cos_grad": cg,
    }
    print(
        "%-13s dlut %-4s fwd+bwd wall %7.1f ms, torch %7.1f ms: torch/dlut %.2fx (%.2f-%.2f, %d rounds) | "
        "CPU time %7.1f vs %7.1f ms: %.2fx | cosine dlut vs torch: embed %.6f, pixel grad %.6f | load %.1f"
        % (size, precision, r["dlut_s"] * 1e3, r["torch_s"] * 1e3, r["ratio"], r["ratio_min"], r["ratio_max"],
           rounds, r["dlut_cpu_s"] * 1e3, r["torch_cpu_s"] * 1e3, r["cpu_ratio"], ce, cg, r["load"]),
        flush=True,
    )
    return r


def main():
    sizes = list(SIZES) if len(sys.argv) < 2 or sys.argv[1] == "all" else sys.argv[1].split(",")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    threads = int(os.environ.get("DLUT_THREADS", "2"))
    # PEER_TORCH_THREADS: PyTorch's own count (default: DLUT's), for a 2-vCPU machine where
    # PyTorch's OpenMP pool at 2 threads is slower than at 1 and the fair peer is its faster setting
    torch_threads = int(os.environ.get("PEER_TORCH_THREADS", str(threads)))
    torch.set_num_threads(torch_threads)
    torch.set_num_interop_threads(1)
    la = open("/proc/loadavg").read().split()[0]
    print(
        "CPU: %s (%d online, flags %s), load average %s; torch %s, %d threads (DLUT %d); DLUT_CLIP_PRECISION=%s"
        % (cpu_model(), os.cpu_count(), cpu_flags(), la, torch.__version__, torch_threads, threads,
           os.environ.get("DLUT_CLIP_PRECISION", "auto")),
        flush=True,
    )
    res = []
    with tempfile.TemporaryDirectory(prefix="dlut-peer-") as tmp:
        for s in sizes:
            res.append(run_size(s, rounds, threads, tmp))
    if os.environ.get("PEER_JSON"):
        with open(os.environ["PEER_JSON"], "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
