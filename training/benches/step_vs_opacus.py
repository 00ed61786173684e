"""PyTorch / Opacus twin of `step_vs_opacus.rs` (issue 18): the same GPT (vocabulary 1024, d 128,
2 layers, 4 heads, sequence 64, batch 32, 667,136 parameters, untied head, pre-LayerNorm,
GELU-tanh, learned positions), the same AdamW (betas 0.9/0.95, eps 1e-8, weight decay 0.01 on the
linear matrices), the same loss (mean over examples of each example's mean token NLL).

Non-private: forward, backward, AdamW. DP-SGD: Opacus per-sample gradients by hooks
(GradSampleModule), flat clipping at 1.0, noise multiplier 1.0, fixed batch (no Poisson sampling),
then AdamW: the whole `DPOptimizer.step`.

Run: `python training/benches/step_vs_opacus.py --threads 1` (needs `pip install torch opacus`;
the project itself never needs Python). Rounds alternate the two steps; the median of each is
printed, and last a line `torch_non_private_ms=<x> opacus_dp_ms=<y> threads=<n>` for scripts.
"""

import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, D, LAYERS, HEADS, SEQ, BATCH = 1024, 128, 2, 4, 64, 32


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D, eps=1e-5)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D, eps=1e-5)
        self.fc1 = nn.Linear(D, 4 * D)
        self.fc2 = nn.Linear(4 * D, D)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        heads = lambda z: z.view(b, t, HEADS, D // HEADS).transpose(1, 2)
        y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, D))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D)
        self.wpe = nn.Embedding(SEQ, D)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(D, eps=1e-5)
        self.lm_head = nn.Linear(D, VOCAB, bias=False)
        # GPT-2 init, as vg-training's Gpt::new: N(0, 0.02), residual projections / sqrt(2L).
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln" in name:
                nn.init.ones_(p)
            else:
                scale = 1 / math.sqrt(2 * LAYERS) if name.endswith(("proj.weight", "fc2.weight")) else 1.0
                nn.init.normal_(p, 0.0, 0.02 * scale)

    def forward(self, ids, pos):
        x = self.wte(ids) + self.wpe(pos)
        for blk in self.blocks:
            x = blk(x)
        return self.lm_head(self.ln_f(x))


def loss_fn(logits, targets):
    nll = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), reduction="none")
    return nll.view(BATCH, SEQ).mean(1).mean()


def adamw(model):
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "wte" not in n and "wpe" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "wte" not in n and "wpe" not in n)]
    groups = [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95), eps=1e-8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    g = torch.Generator().manual_seed(1)
    data = torch.randint(3, VOCAB, (BATCH, SEQ + 1), generator=g)
    ids, targets = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    pos = torch.arange(SEQ).unsqueeze(0).expand(BATCH, SEQ).contiguous()

    plain = Gpt()
    assert sum(p.numel() for p in plain.parameters()) == 667_136
    plain_opt = adamw(plain)
    dp_model = GradSampleModule(Gpt(), batch_first=True, loss_reduction="mean")
    dp_opt = DPOptimizer(adamw(dp_model), noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=BATCH, loss_reduction="mean")

    def plain_step():
        t = time.perf_counter()
        plain_opt.zero_grad(set_to_none=True)
        loss_fn(plain(ids, pos), targets).backward()
        plain_opt.step()
        return time.perf_counter() - t

    def dp_step():
        t = time.perf_counter()
        dp_opt.zero_grad(set_to_none=True)
        loss_fn(dp_model(ids, pos), targets).backward()
        dp_opt.step()
        return time.perf_counter() - t

    plain_step(), dp_step()  # warm-up
    p, d = [], []
    for _ in range(args.rounds):
        p.append(plain_step())
        d.append(dp_step())
    tp, td = statistics.median(p) * 1e3, statistics.median(d) * 1e3
    print(
        f"torch {torch.__version__} V {VOCAB} d {D} L {LAYERS} H {HEADS} T {SEQ} B {BATCH}, {args.rounds} rounds, "
        f"{args.threads} thread(s): non-private {tp:.1f} ms/step (range {min(p)*1e3:.1f}-{max(p)*1e3:.1f}) | "
        f"Opacus hooks {td:.1f} ms/step (range {min(d)*1e3:.1f}-{max(d)*1e3:.1f}) | DP/non-private {td/tp:.2f}x"
    )
    print(f"torch_non_private_ms={tp:.1f} opacus_dp_ms={td:.1f} threads={args.threads}")


if __name__ == "__main__":
    main()
