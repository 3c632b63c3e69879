"""A full nanotron config from one of our training configs, for clusters that run nanotron.

    ENGINE=nanotron NANOTRON_DIR=/path/to/nanotron NPROC=8 train/run.sh train/configs/llama2-7b-cpt.yaml
    python -m train.nanotron CONFIG.yaml [key=value ...] > nanotron_config.yaml

The data stages are the ones `corpus build` computed (the shards are nanotron's Nanoset format
already); model, optimiser, schedule, batch and sequence length are translated from our config
(the layout of nanotron's examples/config_tiny_llama.yaml). What this cannot do for you, honestly:
nanotron has no usable PyPI release (0.4 fails at `import nanotron.config`); its main branch needs
flash-attn and grouped_gemm built for your CUDA and a datatrove version with its Nanoset reader. A
LLaMA checkpoint must first be converted to nanotron's format with its
`examples/llama/convert_hf_to_nanotron.py`; pass the result as `resume_checkpoint_path=...`.
Data parallelism takes every process (dp = NPROC); set tp/pp by editing the emitted file.
tests/test_nanotron_vendor.py gives the emitted config to nanotron's own config loader and reads the shards with
nanotron's own reader (from the source snapshots in ../shared/vendor).
"""

from __future__ import annotations

import os
import sys

import yaml

from corpus.shards.format import read_train_data


def nanotron_config(cfg: dict, nproc: int, resume_checkpoint_path: str | None = None) -> dict:
    from train.trainer import shard_tokenizer, vocab_size_of

    data = read_train_data(cfg["data"]).model_dump()
    with open(os.path.join(os.path.dirname(cfg["data"]), "nanotron_data.yaml")) as f:
        stages = yaml.safe_load(f)["data_stages"]
    seq_len = cfg["seq_len"] or data["seq_len"]
    global_batch = cfg["global_batch_size"] or data["global_batch_size"]
    micro = cfg["micro_batch_size"]
    steps = cfg["max_steps"] or data["total_steps"]
    model = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 32, "max_position_embeddings": 4096, "tie_word_embeddings": False, **cfg["model"]}
    if cfg["init_from"] and os.path.exists(os.path.join(cfg["init_from"], "config.json")):
        import json

        with open(os.path.join(cfg["init_from"], "config.json")) as f:
            hf = json.load(f)
        model.update({k: hf[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                        "num_key_value_heads", "max_position_embeddings", "tie_word_embeddings", "rms_norm_eps",
                                        "rope_theta") if k in hf})
    tokenizer = shard_tokenizer(data["shards"])
    return {
        "checkpoints": {"checkpoint_interval": cfg["save_every"], "checkpoints_path": os.path.join(cfg["out_dir"], "nanotron"),
                        "checkpoints_path_is_shared_file_system": False, "resume_checkpoint_path": resume_checkpoint_path,
                        "save_initial_state": False},
        "data_stages": [s for s in stages if s["start_training_step"] <= steps] or stages[:1],  # stages after the last step would never run
        "general": {"benchmark_csv_path": None, "consumed_train_samples": None, "ignore_sanity_checks": True,
                    "project": "matcorpus", "run": os.path.basename(cfg["out_dir"].rstrip("/")), "seed": cfg["seed"], "step": None},
        "lighteval": None,
        "logging": {"iteration_step_info_interval": cfg["log_every"], "log_level": "info", "log_level_replica": "info"},
        "model": {"ddp_bucket_cap_mb": 25, "dtype": cfg["dtype"], "init_method": {"std": 0.02}, "make_vocab_size_divisible_by": 1,
                  "model_config": {"bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "initializer_range": 0.02,
                                   "is_llama_config": True, "pad_token_id": None, "pretraining_tp": 1, "rms_norm_eps": 1e-5,
                                   "rope_scaling": None, "use_cache": True, "vocab_size": vocab_size_of(data["shards"]),
                                   **{k: v for k, v in model.items() if k != "rope_theta"}}},
        "optimizer": {"accumulate_grad_in_fp32": True, "clip_grad": cfg["grad_clip"],
                      "learning_rate_scheduler": {"learning_rate": cfg["lr"], "lr_decay_starting_step": None,
                                                  "lr_decay_steps": max(1, steps - cfg["warmup_steps"]), "lr_decay_style": "cosine",
                                                  "lr_warmup_steps": cfg["warmup_steps"], "lr_warmup_style": "linear",
                                                  "min_decay_lr": cfg["min_lr"]},
                      "optimizer_factory": {"adam_beta1": cfg["betas"][0], "adam_beta2": cfg["betas"][1], "adam_eps": cfg["eps"],
                                            "name": "adamW", "torch_adam_is_fused": True},
                      "weight_decay": cfg["weight_decay"], "zero_stage": 1 if cfg["parallel"] == "fsdp" else 0},
        "parallelism": {"dp": nproc, "expert_parallel_size": 1, "pp": 1, "pp_engine": "1f1b", "tp": 1,
                        "tp_linear_async_communication": True, "tp_mode": "REDUCE_SCATTER"},
        "profiler": None,
        "tokenizer": {"tokenizer_max_length": None, "tokenizer_name_or_path": tokenizer, "tokenizer_revision": None},
        "tokens": {"batch_accumulation_per_replica": max(1, global_batch // (micro * nproc)), "limit_test_batches": 0,
                   "limit_val_batches": 0, "micro_batch_size": micro, "sequence_length": seq_len, "train_steps": steps,
                   "val_check_interval": -1},
    }


def main(argv: list[str]) -> int:
    from train.trainer import load_config

    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    resume = next((a.split("=", 1)[1] for a in argv[1:] if a.startswith("resume_checkpoint_path=")), None)
    cfg = load_config(argv[0], [a for a in argv[1:] if not a.startswith("resume_checkpoint_path=")])
    if not os.path.exists(cfg["data"]):
        print(f"error: {cfg['data']} not found; build the shards first (corpus build MANIFEST)", file=sys.stderr)
        return 2
    yaml.safe_dump(nanotron_config(cfg, int(os.environ.get("NPROC", 1)), resume), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
