"""Training throughput: tokens/s and MFU of the trainer's step (forward, backward, AdamW) on whatever device is present.

On a GPU: a ~1B-parameter LLaMA (hidden 2048, 16 layers, 16 heads, intermediate 5632, LLaMA-2 vocabulary) at seq 2048,
bf16 autocast, SDPA attention, with and without torch.compile. On CPU: the same code on the tiny config (it must run,
slowly). MFU = model FLOPs per token (6 x parameters + 12 x layers x hidden x seq, the PaLM/nanoGPT count) x tokens/s
over the device's peak dense bf16 FLOP/s (known GPUs only). Random token batches: the data path is not what is timed.

    .venv/bin/python benchmarks/train_throughput.py [--steps 10] [--micro-batch 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12}  # dense, no sparsity
ONE_B = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=16, num_attention_heads=16, num_key_value_heads=16,
             max_position_embeddings=4096, vocab_size=32000)
TINY = dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
            max_position_embeddings=4096, vocab_size=32000, tie_word_embeddings=True)


def run(model_cfg: dict, seq: int, micro: int, steps: int, compile_: bool, device: torch.device) -> dict:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**model_cfg, attn_implementation="sdpa")).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=device.type == "cuda")
    step_model = torch.compile(model) if compile_ else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    x = torch.randint(0, model_cfg["vocab_size"], (micro, seq + 1), device=device)
    times = []
    for i in range(steps + 3):  # 3 warm-up steps (compilation, allocator)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with autocast:
            logits = step_model(input_ids=x[:, :-1]).logits
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t)
    tokens_per_s = micro * seq / statistics.median(times)
    flops_per_token = 6 * n_params + 12 * model_cfg["num_hidden_layers"] * model_cfg["hidden_size"] * seq
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    return {"device": name, "parameters": n_params, "seq_len": seq, "micro_batch": micro, "compile": compile_,
            "tokens_per_s": round(tokens_per_s, 1), "mfu": round(flops_per_token * tokens_per_s / peak, 4) if peak else None,
            "memory_gb": round(torch.cuda.max_memory_allocated(device) / 2**30, 1) if device.type == "cuda" else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--micro-batch", type=int, default=None)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        cfg, seq, micro = ONE_B, 2048, args.micro_batch or 8
    else:
        cfg, seq, micro = TINY, 256, args.micro_batch or 4
    rows = []
    for compile_ in (False, True):
        try:
            rows.append(run(cfg, seq, micro, args.steps, compile_, device))
        except Exception as e:  # noqa: BLE001 - torch.compile needs a C compiler and may fail on some hosts: say so
            rows.append({"device": str(device), "compile": compile_, "error": f"{type(e).__name__}: {str(e)[:200]}"})
        print(rows[-1], flush=True)
    (ROOT / "benchmarks" / "results" / f"train_throughput_{device.type}.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
