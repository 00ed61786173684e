"""transformers' side of benches/hf_scoring.rs: per-token scoring (log p of the actual next token,
mu and sigma of log p under the full next-token distribution) of the same inputs with the same
checkpoint, one full-sequence forward per batch, on the CPU with the given number of threads.

Usage: python hf_scoring.py CHECKPOINT_DIR INPUTS.json THREADS REPS
Prints one JSON line: seconds (median of REPS), tokens_per_s, threads, versions, mean_logprob.
"""
import json
import statistics
import sys
import time

import torch
import transformers


def score(model, ids):
    logits = model(ids).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1)
    lp = logp.gather(2, ids[:, 1:, None])[..., 0]
    p = logp.exp()
    mu = (p * logp).sum(-1)
    sigma = ((p * logp * logp).sum(-1) - mu * mu).clamp(min=0).sqrt()
    return lp, mu, sigma


def main(ckpt, inputs, threads, reps):
    torch.set_num_threads(int(threads))
    model = transformers.AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32, use_kernels=False).eval()
    ids = torch.tensor(json.load(open(inputs)), dtype=torch.long)
    tokens = ids.shape[0] * (ids.shape[1] - 1)
    times = []
    with torch.inference_mode():
        score(model, ids[:1])  # warm-up
        for _ in range(int(reps)):
            t0 = time.perf_counter()
            lp, mu, sigma = score(model, ids)
            times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    print(json.dumps({
        "seconds": s, "tokens_per_s": tokens / s, "threads": torch.get_num_threads(),
        "attn_implementation": model.config._attn_implementation,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "mean_logprob": lp.double().mean().item(), "mean_mu": mu.double().mean().item(),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:5])
