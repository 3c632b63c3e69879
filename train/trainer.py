"""Continued pretraining (and SFT on masked shards) of a LLaMA on corpus shards: one loop, nothing hidden.

    train/run.sh train/configs/tiny.yaml            (torchrun; NPROC=2 for two processes)
    python -m train.trainer train/configs/tiny.yaml key=value ...

The model is transformers' `LlamaForCausalLM` with SDPA attention, built from the config's `model`
block (a fresh tiny LLaMA for CPU runs) or loaded from `init_from` (a local Hugging Face checkpoint,
e.g. LLaMA-2 7B). Batches come from `train.data` (the shards' `train_data.yaml`). Optimiser AdamW,
cosine schedule with warmup to `min_lr`, gradient clipping, gradient accumulation up to the global
batch, bf16 autocast on GPU. With several processes: DDP or FSDP2 (`parallel: ddp | fsdp`), gloo on
CPU, NCCL on GPU. A checkpoint (model, optimiser, schedule, sampler and RNG state) is written every
`save_every` steps and at the end; starting again with the same `out_dir` resumes from it and
continues the same loss curve. `export` writes a `from_pretrained`-loadable model at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time

from typing import Any, Literal

import torch
import torch.nn.functional as F
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpus.lineage import RUN_RECORD, run_record
from corpus.shards.format import read_train_data
from train.data import BlendedSampler, batch, load_stages
from train.plots import read_metrics, write_loss_plot

class TrainConfig(BaseModel):
    """The training config: every key, its type and default. A misspelt or unknown key, a wrong type or a bad value
    fails before any work, naming the field (the corpus manifest's error format); `key=value` overrides are
    validated by the same model."""

    model_config = ConfigDict(extra="forbid")
    data: str = "out/demo/train_data.yaml"  # written by `corpus build`
    out_dir: str = "out/train/tiny"
    init_from: str | None = None  # a local Hugging Face model folder; None: a fresh model from `model`
    model: dict[str, Any] = Field(default_factory=dict)  # LlamaConfig fields for a fresh model
    seq_len: int | None = Field(None, gt=0)  # default: the data's
    global_batch_size: int | None = Field(None, gt=0)  # sequences per step over all ranks; default: the data's
    micro_batch_size: int = Field(4, gt=0)  # sequences per forward pass per rank
    max_steps: int | None = Field(None, gt=0)  # default: the data's total_steps
    lr: float = Field(3e-4, gt=0)
    min_lr: float = Field(3e-5, ge=0)
    warmup_steps: int = Field(2000, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    betas: list[float] = Field(default_factory=lambda: [0.9, 0.95], min_length=2, max_length=2)
    eps: float = Field(1e-5, gt=0)
    grad_clip: float = Field(1.0, ge=0)
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"  # autocast dtype on GPU (float32 on CPU)
    parallel: Literal["ddp", "fsdp"] = "ddp"  # FSDP2 fully_shard per decoder layer
    compile: bool = False
    seed: int = 1234
    activation_checkpointing: bool = False  # recompute activations in backward: less memory, ~30% more compute
    val_fraction: float = Field(0.01, ge=0, lt=1)  # share of every component's windows held out for validation loss
    eval_every: int = Field(200, ge=0)  # validation loss per component every eval_every steps (0: never) ...
    eval_windows: int = Field(8, ge=0)  # ... on this many windows
    log_every: int = Field(10, gt=0)
    save_every: int = Field(500, gt=0)
    export: bool = True
    stop_after: int | None = Field(None, gt=0)  # leave after this many steps of this run, with a checkpoint (a planned interruption)


DEFAULTS = TrainConfig().model_dump()


def load_config(path: str, overrides: list[str]) -> dict:
    from corpus.config import ConfigError, expand_env, format_validation_error

    with open(path) as f:
        raw = yaml.safe_load(f) or {}
    if not isinstance(raw, dict):
        raise SystemExit(f"{path}: a training config is a YAML mapping of the keys: {', '.join(DEFAULTS)}")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"override {item!r}: write key=value (keys: {', '.join(DEFAULTS)})")
        raw[key] = yaml.safe_load(value)
    try:  # ${VAR} from the environment, e.g. init_from: ${LLAMA2_7B}
        raw = expand_env(raw, "")
        cfg = TrainConfig.model_validate(raw).model_dump()
    except ConfigError as e:
        raise SystemExit(str(e)) from None
    except ValidationError as e:
        raise SystemExit(format_validation_error(e, path, "training config") + f"\n  keys: {', '.join(DEFAULTS)}") from None
    base = os.path.dirname(os.path.abspath(path))
    root = os.path.dirname(os.path.dirname(base))  # configs live in train/configs/: relative paths are from the project root
    for key in ("data", "out_dir", "init_from"):
        if cfg[key] and not os.path.isabs(cfg[key]):
            cfg[key] = os.path.join(root, cfg[key])
    return cfg


def flops_per_token(model, seq_len: int) -> int:
    """6 x parameters + 12 x layers x hidden x seq (the PaLM / nanoGPT count), for the MFU estimate."""
    c = model.config
    return 6 * sum(p.numel() for p in model.parameters()) + 12 * c.num_hidden_layers * c.hidden_size * seq_len


PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12}  # dense


@torch.no_grad()
def validation_loss(model, components, eval_windows: int, micro: int, device, autocast) -> dict[str, float]:
    """Mean loss per component on its held-out windows (the same windows every time)."""
    model.eval()
    out = {}
    for name, comp in components.items():
        if not comp.val_windows:
            continue
        picks = [(name, comp.windows + k) for k in range(min(eval_windows, comp.val_windows))]
        total, count = 0.0, 0
        for i in range(0, len(picks), micro):
            b = {k: v.to(device) for k, v in batch(components, picks[i : i + micro]).items()}
            with autocast:
                logits = model(input_ids=b["input_ids"], position_ids=b["position_ids"]).logits
            total += float(F.cross_entropy(logits.float().view(-1, logits.size(-1)), b["labels"].view(-1), ignore_index=-100, reduction="sum"))
            count += int((b["labels"] != -100).sum())
        out[name] = round(total / max(count, 1), 5)
    model.train()
    return out


def build_model(cfg: dict, vocab_size: int, device: torch.device):
    from transformers import LlamaConfig, LlamaForCausalLM

    if cfg["init_from"]:
        return LlamaForCausalLM.from_pretrained(cfg["init_from"], attn_implementation="sdpa", torch_dtype=torch.float32).to(device)
    config = LlamaConfig(**{"vocab_size": vocab_size, **cfg["model"]}, attn_implementation="sdpa")
    torch.manual_seed(cfg["seed"])
    return LlamaForCausalLM(config).to(device)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    cfg = load_config(argv[0], argv[1:])
    if not os.path.exists(cfg["data"]):
        print(f"error: {cfg['data']} not found. Build the shards first:  make demo  (or: .venv/bin/corpus build manifests/demo.yaml)",
              file=sys.stderr)
        return 2
    try:  # a malformed train_data.yaml fails here, naming the field, before any process group starts
        train_data = read_train_data(cfg["data"])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    # ---- processes and device
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    if world > 1:
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    master = rank == 0

    # ---- data
    components, stages, data_cfg = load_stages(train_data, cfg["seq_len"], cfg["val_fraction"])
    seq_len = cfg["seq_len"] or data_cfg.seq_len
    global_batch = cfg["global_batch_size"] or data_cfg.global_batch_size
    max_steps = cfg["max_steps"] or data_cfg.total_steps
    micro = cfg["micro_batch_size"]
    if global_batch % (micro * world):
        raise SystemExit(f"global_batch_size {global_batch} is not a multiple of micro_batch_size {micro} x {world} processes")
    accumulation = global_batch // (micro * world)
    sampler = BlendedSampler(components, stages, data_cfg.seed)
    vocab = vocab_size_of(data_cfg.shards)

    # ---- model and optimiser
    model = build_model(cfg, vocab, device)
    if cfg["activation_checkpointing"]:
        model.gradient_checkpointing_enable()
    raw = model
    if world > 1 and cfg["parallel"] == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
    elif world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg["compile"]:
        model = torch.compile(model)
    decay = [p for n, p in raw.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in raw.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"], fused=device.type == "cuda")
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    # linear warmup, then cosine to min_lr at max_steps (LLaMat: 3e-4 -> 3e-5 after 2000 warmup steps)
    scheduler = get_cosine_with_min_lr_schedule_with_warmup(optimizer, cfg["warmup_steps"], max_steps, min_lr=cfg["min_lr"])
    autocast = torch.autocast(device.type, dtype=getattr(torch, cfg["dtype"]), enabled=device.type == "cuda")
    peak = next((v for k, v in PEAK_BF16.items() if device.type == "cuda" and k in torch.cuda.get_device_name(device)), None)
    model_flops = flops_per_token(raw, seq_len)

    # ---- resume
    os.makedirs(cfg["out_dir"], exist_ok=True)
    if rank == 0:  # which data and which base this run trains on (corpus/lineage.py; `corpus lineage OUT_DIR`)
        with open(os.path.join(cfg["out_dir"], RUN_RECORD), "w") as f:
            json.dump(run_record(cfg["data"], cfg, cfg["init_from"]), f, indent=1)
    ckpt_path = os.path.join(cfg["out_dir"], f"checkpoint-rank{rank}.pt")
    step, history, validation = 0, [], []
    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        raw.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        sampler.load_state_dict(ckpt["sampler"])
        torch.set_rng_state(ckpt["rng"])
        step, history, validation = ckpt["step"], ckpt["history"], ckpt.get("validation", [])
        if master:
            print(f"resumed from step {step}")
    n_params = sum(p.numel() for p in raw.parameters())
    if master:
        print(f"model {n_params / 1e6:.1f}M parameters; {world} process(es) on {device.type}; "
              f"global batch {global_batch} x {seq_len} tokens, {accumulation} accumulation step(s); steps {step + 1}..{max_steps}")

    if step == 0 and cfg["eval_every"]:  # the starting point of every validation curve (forgetting is measured from it)
        val = validation_loss(model, components, cfg["eval_windows"], micro, device, autocast)
        if val:
            validation.append({"step": 0, "tokens": 0, **val})

    # ---- metrics.jsonl: one line per logged step; a resumed run drops the lines past its checkpoint and goes on
    metrics_path = os.path.join(cfg["out_dir"], "metrics.jsonl")
    if master:
        kept = [m for m in read_metrics(cfg["out_dir"]) if m["step"] <= step]
        with open(metrics_path, "w") as f:
            f.writelines(json.dumps(m) + "\n" for m in kept)

    # ---- the loop
    t0, first = time.perf_counter(), step
    while step < max_steps:
        step += 1
        lr = scheduler.get_last_lr()[0]
        picks = sampler.step(step, global_batch)[rank::world]  # every rank draws the same global batch, takes its share
        total_loss = torch.zeros((), device=device)
        micro_batches = [batch(components, picks[i : i + micro]) for i in range(0, len(picks), micro)]
        targets = sum(int((b["labels"] != -100).sum()) for b in micro_batches)
        for k, b in enumerate(micro_batches):
            b = {key: v.to(device) for key, v in b.items()}
            sync = k == len(micro_batches) - 1
            context = model.no_sync() if world > 1 and cfg["parallel"] == "ddp" and not sync else contextlib.nullcontext()
            with context, autocast:
                logits = model(input_ids=b["input_ids"], position_ids=b["position_ids"]).logits
                # sum over this micro-batch's counted tokens / all counted tokens of the step: the mean over the step
                loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), b["labels"].view(-1), ignore_index=-100,
                                       reduction="sum") / max(targets, 1)
            loss.backward()
            total_loss += loss.detach()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if world > 1:
            torch.distributed.all_reduce(total_loss)
            total_loss /= world
        history.append(round(float(total_loss), 6))
        if master and (step % cfg["log_every"] == 0 or step == max_steps or step == 1):
            dt = time.perf_counter() - t0
            rate = global_batch * seq_len * (step - first) / max(dt, 1e-9)
            mfu = f" | MFU {model_flops * rate / (peak * world):.1%}" if peak else ""
            print(f"step {step:>6} | loss {history[-1]:.4f} | lr {lr:.2e} | grad norm {float(norm):.3f} | {rate:,.0f} tokens/s{mfu}", flush=True)
            with open(metrics_path, "a") as f:
                f.write(json.dumps({"step": step, "loss": history[-1], "lr": lr, "grad_norm": round(float(norm), 6),
                                    "tokens_per_s": round(rate, 1)}) + "\n")
        if cfg["eval_every"] and (step % cfg["eval_every"] == 0 or step == max_steps):
            val = validation_loss(model, components, cfg["eval_windows"], micro, device, autocast)
            if val:
                validation.append({"step": step, "tokens": step * global_batch * seq_len, **val})
                if master:
                    print(f"step {step:>6} | validation " + " | ".join(f"{k} {v:.4f}" for k, v in val.items()), flush=True)
        stopping = cfg["stop_after"] is not None and step - first >= cfg["stop_after"]
        if step % cfg["save_every"] == 0 or step == max_steps or stopping:
            torch.save({"model": raw.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "sampler": sampler.state_dict(), "rng": torch.get_rng_state(), "step": step, "history": history,
                        "validation": validation}, ckpt_path + ".tmp")
            os.replace(ckpt_path + ".tmp", ckpt_path)
        if stopping:
            if master:
                print(f"stopped after step {step} (stop_after); run again to resume")
            break
    if master:
        with open(os.path.join(cfg["out_dir"], "loss.json"), "w") as f:
            json.dump(history, f)
        with open(os.path.join(cfg["out_dir"], "validation.json"), "w") as f:
            json.dump(validation, f)
        print(f"curves: {write_loss_plot(cfg['out_dir'])} (python -m train.plots {cfg['out_dir']} redraws them)")
    if master and step == max_steps and cfg["export"] and world == 1:
        raw.save_pretrained(os.path.join(cfg["out_dir"], "hf"))
        _save_tokenizer(data_cfg.shards, os.path.join(cfg["out_dir"], "hf"))
        print(f"exported {os.path.join(cfg['out_dir'], 'hf')} (transformers from_pretrained)")
    if world > 1:
        torch.distributed.destroy_process_group()
    return 0


def shard_tokenizer(shards: str) -> str | None:
    """The tokenizer the shards were made with: the name on the first line of their .ds.metadata (nanotron reads it too)."""
    import glob

    from corpus.shards.format import read_metadata

    ds = sorted(glob.glob(os.path.join(shards, "*", "*.ds")))
    return read_metadata(ds[0])[0] if ds else None


def _save_tokenizer(shards: str, folder: str) -> None:
    """The shards' tokenizer next to the exported model."""
    from transformers import AutoTokenizer

    name = shard_tokenizer(shards)
    if name:
        try:
            AutoTokenizer.from_pretrained(name).save_pretrained(folder)
        except Exception as e:  # noqa: BLE001 - a hub name without network: the model is still exported
            print(f"warning: tokenizer {name} not saved with the model: {e}", file=sys.stderr)


def vocab_size_of(shards: str) -> int:
    """The tokenizer's vocabulary, from the provenance side-car the shard writer records it in."""
    import glob

    from corpus.shards.format import read_provenance_info

    for path in sorted(glob.glob(os.path.join(shards, "*", "*.provenance.parquet"))):
        info = read_provenance_info(path)
        if "vocab_size" in info:
            return int(info["vocab_size"])
    raise SystemExit(f"cannot tell the vocabulary size from the provenance side-cars under {shards}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
