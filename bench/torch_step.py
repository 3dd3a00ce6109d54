"""PyTorch peer of the fast path (bench/step.ts runs it when /usr/bin/python3 has torch): the spec §2
model (2-layer attention-only, d 64, 8 heads, RoPE, pre-LN, 512-d exemplars, L = 5), one training step
= forward + backward + torch.optim.Adam, one thread. Prints JSON {batch: [ms per step, ...]}.
Run: LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread python3 bench/torch_step.py 32 256
"""
import json, math, sys, time
import torch

torch.set_num_threads(1)
torch.manual_seed(0)
D_MODEL, HEADS, DEPTH, LABELS, IN_DIM, CTX = 64, 8, 2, 5, 512, 2
T = 2 * CTX + 1
HD = D_MODEL // HEADS


def lecun(out_f, in_f):
    w = torch.empty(out_f, in_f)
    torch.nn.init.trunc_normal_(w, std=math.sqrt(1 / in_f) / 0.87962566, a=-2 * math.sqrt(1 / in_f) / 0.87962566, b=2 * math.sqrt(1 / in_f) / 0.87962566)
    return torch.nn.Parameter(w)


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w_ex = lecun(D_MODEL, IN_DIM); self.b_ex = torch.nn.Parameter(torch.zeros(D_MODEL))
        self.w_lab = torch.nn.Parameter(0.02 * torch.nn.init.trunc_normal_(torch.empty(LABELS, D_MODEL), a=-2, b=2))
        self.ln = torch.nn.ModuleList([torch.nn.LayerNorm(D_MODEL, eps=1e-5) for _ in range(DEPTH)])
        self.qkv = torch.nn.ParameterList([lecun(3 * D_MODEL, D_MODEL) for _ in range(DEPTH)])
        self.proj = torch.nn.ParameterList([lecun(D_MODEL, D_MODEL) for _ in range(DEPTH)])
        self.ln_f = torch.nn.LayerNorm(D_MODEL, eps=1e-5)
        self.w_un = lecun(LABELS, D_MODEL); self.b_un = torch.nn.Parameter(torch.zeros(LABELS))
        pos = torch.arange(T, dtype=torch.float32)[:, None]
        inv = 10000 ** (-torch.arange(0, HD, 2, dtype=torch.float32) / HD)
        ang = (pos * inv).repeat_interleave(2, dim=1)  # [T, HD]
        self.register_buffer('cos', ang.cos()); self.register_buffer('sin', ang.sin())
        self.register_buffer('mask', torch.tril(torch.ones(T, T)))

    def rope(self, x):  # x [B, H, T, HD], interleaved pairs
        x2 = torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)
        return x * self.cos + x2 * self.sin

    def forward(self, ex, lab):  # ex [B, C+1, IN], lab [B, C] (context labels)
        B = ex.shape[0]
        e = ex @ self.w_ex.T + self.b_ex                 # [B, C+1, d]
        u = self.w_lab[lab]                              # [B, C, d]
        h = torch.empty(B, T, D_MODEL)
        h = torch.stack([e[:, 0], u[:, 0], e[:, 1], u[:, 1], e[:, 2]], dim=1)
        for l in range(DEPTH):
            z = self.ln[l](h)
            qkv = (z @ self.qkv[l].T).view(B, T, 3, HEADS, HD).permute(2, 0, 3, 1, 4)  # [3, B, H, T, HD]
            q, k, v = self.rope(qkv[0]), self.rope(qkv[1]), qkv[2]
            s = (q @ k.transpose(-1, -2)) / math.sqrt(HD)
            s = s * self.mask + (1 - self.mask) * -1e20
            o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D_MODEL)
            h = h + o @ self.proj[l].T
        logits = self.ln_f(h) @ self.w_un.T + self.b_un  # [B, T, L] at every position, as the reference
        return logits[:, -1]


def bench(B, steps, warm):
    m = Model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-5, betas=(0.9, 0.999), eps=1e-8)
    g = torch.Generator().manual_seed(1)
    pool = [(torch.rand(B, CTX + 1, IN_DIM, generator=g), torch.randint(0, LABELS, (B, CTX + 1), generator=g)) for _ in range(16)]
    times = []
    for i in range(warm + steps):
        ex, lab = pool[i % len(pool)]
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(m(ex, lab[:, :CTX]), lab[:, CTX])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warm:
            times.append((time.perf_counter() - t0) * 1000)
    return times


if __name__ == '__main__':
    sizes = [int(a) for a in sys.argv[1:]] or [32, 256]
    out = {str(B): bench(B, steps=600 if B <= 64 else 100, warm=50 if B <= 64 else 10) for B in sizes}
    out['torch'] = torch.__version__
    out['blas'] = [l.strip() for l in torch.__config__.show().splitlines() if 'BLAS' in l][:2]
    print(json.dumps(out))
