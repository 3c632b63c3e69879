"""Training backend on CPU: data stages, the shard reader, a tiny LLaMA whose loss falls, exact resume, export."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import ROOT, base_manifest, run_cli, write_manifest
from corpus.mixture import stages
from train.data import BlendedSampler, ComponentShards, batch, load_stages
from train.trainer import main as train

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out

TINY = ROOT / "train" / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    data = base_manifest()
    data["components"][0]["weight"] = 0.97
    data["components"][1]["weight"] = 0.03
    data["components"][1]["start_fraction"] = 0.5
    data["mixture"] = {"train_tokens": 200_000, "seq_len": 128, "global_batch_size": 8}
    assert run_cli("build", write_manifest(tmp, data)) == 0
    return tmp / "out"


def test_data_stages_follow_the_targets_and_nanotron_layout(shards):
    nano = yaml.safe_load((shards / "nanotron_data.yaml").read_text())["data_stages"]
    assert [s["start_training_step"] for s in nano] == [1, 99]  # 200k tokens / (128 x 8) -> 196 steps; general after step 98
    for stage in nano:
        assert set(stage) == {"name", "start_training_step", "data"} and set(stage["data"]) == {"dataset", "seed", "num_loading_workers"}
        ds = stage["data"]["dataset"]
        assert isinstance(ds["dataset_folder"], list) and len(ds["dataset_folder"]) == len(ds["dataset_weights"])
        assert abs(sum(ds["dataset_weights"]) - 1) < 1e-5 and all(Path(f).is_dir() for f in ds["dataset_folder"])
    assert nano[0]["data"]["dataset"]["dataset_folder"] == [str(shards / "shards" / "papers")]
    assert nano[1]["data"]["dataset"]["dataset_weights"] == pytest.approx([0.06, 0.94], abs=1e-6)  # 0.03 over half the run
    # nanotron loads the tokenizer named on the first line of every .ds.metadata with AutoTokenizer
    from transformers import AutoTokenizer

    names = {meta.read_text().splitlines()[0].rsplit("|", 1)[0] for meta in (shards / "shards").glob("*/*.ds.metadata")}
    assert len(names) == 1 and len(AutoTokenizer.from_pretrained(names.pop())) == 32000
    mix = json.loads((shards / "summary.json").read_text())["mixture"]
    assert mix["components"]["general"]["epochs"] == pytest.approx(0.03 * 200_000 / mix["components"]["general"]["tokens"], abs=1e-4)


def test_stage_weights_keep_the_overall_share():
    st = stages([{"name": "papers", "weight": 0.944}, {"name": "general", "weight": 0.0305},
                 {"name": "crystals", "weight": 0.025, "start_fraction": 0.9}], total_steps=1000)
    assert [s["start_step"] for s in st] == [1, 901]
    overall = {n: 0.9 * st[0]["weights"].get(n, 0) + 0.1 * st[1]["weights"][n] for n in st[1]["weights"]}
    assert overall == pytest.approx({"papers": 0.944 / 0.9995, "general": 0.0305 / 0.9995, "crystals": 0.025 / 0.9995}, abs=1e-5)
    with pytest.raises(ValueError):
        stages([{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5, "start_fraction": 0.9}], total_steps=100)


def test_windows_positions_and_loss_masks(shards, tmp_path):
    comp = ComponentShards(str(shards / "shards" / "papers"), seq_len=128)
    ends = comp.doc_ends
    tokens, positions, mask = comp.window(int(np.searchsorted(ends, ends[3]) // 1))  # any window
    assert tokens.shape == (129,) and positions.shape == (128,) and mask.all()
    # position ids restart right after a document end
    i = int(ends[0] // 128)
    _, positions, _ = comp.window(i)
    at = int(ends[0] - i * 128)
    if at < 128:
        assert positions[at] == 0 and (at == 0 or positions[at - 1] == positions[at - 1])
    # a .ds.loss mask (SFT: answers only) turns masked targets into -100
    folder = tmp_path / "sft"
    folder.mkdir()
    for f in (shards / "shards" / "papers").iterdir():
        os.symlink(f, folder / f.name)
    first = sorted(folder.glob("*.ds"))[0]
    n = os.path.getsize(first) // 2
    loss = np.zeros(n, dtype=np.uint8)
    loss[n // 2 :] = 1
    loss.tofile(str(first) + ".loss")
    sft = ComponentShards(str(folder), seq_len=128)
    b = batch({"c": sft}, [("c", 0), ("c", (n // 2) // 128 + 1)])
    assert (b["labels"][0] == -100).all() and (b["labels"][1] != -100).all()
    assert torch.equal(b["labels"][1], b["input_ids"][1].roll(-1)[:-1].new_tensor(sft.window((n // 2) // 128 + 1)[0][1:]))


def test_sft_loss_counts_only_unmasked_tokens():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    labels = torch.randint(0, 11, (2, 5))
    labels[0, :3] = -100
    kept = [(b, t) for b in range(2) for t in range(5) if labels[b, t] != -100]
    by_hand = sum(-torch.log_softmax(logits[b, t], -1)[labels[b, t]] for b, t in kept) / len(kept)
    ours = torch.nn.functional.cross_entropy(logits.view(-1, 11), labels.view(-1), ignore_index=-100, reduction="sum") / len(kept)
    assert torch.allclose(ours, by_hand)


def _run(shards, out: Path, *extra: str) -> list[float]:
    assert train([str(TINY), f"data={shards / 'train_data.yaml'}", f"out_dir={out}", "log_every=100", *extra]) == 0
    return json.loads((out / "loss.json").read_text())


def test_tiny_llama_loss_falls_resumes_exactly_and_exports(shards, tmp_path):
    full = _run(shards, tmp_path / "full", "max_steps=24", "save_every=100")
    assert len(full) == 24 and np.mean(full[-4:]) < full[0] - 2.0  # from ~10.4 (log 32000) well down
    part = _run(shards, tmp_path / "resumed", "max_steps=24", "save_every=100", "stop_after=10")
    assert len(part) == 10
    resumed = _run(shards, tmp_path / "resumed", "max_steps=24", "save_every=100")
    assert resumed == pytest.approx(full, abs=1e-4)  # the same curve as the uninterrupted run
    # the curves: metrics.jsonl has each logged step once (the resumed run dropped nothing and repeated nothing), and
    # loss.svg draws the training loss, the held-out curves, the learning rate and the throughput
    for run in ("full", "resumed"):
        metrics = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        assert [m["step"] for m in metrics] == [1, 24] and all(m["tokens_per_s"] > 0 and m["lr"] >= 0 for m in metrics)
        svg = (tmp_path / run / "loss.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "tokens / s" in svg and "held-out" in svg
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(tmp_path / "full" / "hf")
    ckpt = torch.load(tmp_path / "full" / "checkpoint-rank0.pt", weights_only=False)
    components, stages_, cfg = load_stages(str(shards / "train_data.yaml"), 128)
    b = batch(components, BlendedSampler(components, stages_, cfg.seed).step(1, 2))
    from train.trainer import build_model, load_config

    fresh = build_model({**load_config(str(TINY), []), "init_from": None}, model.config.vocab_size, torch.device("cpu"))
    fresh.load_state_dict(ckpt["model"])
    with torch.no_grad():
        assert torch.equal(model(input_ids=b["input_ids"]).logits, fresh(input_ids=b["input_ids"]).logits)


def test_missing_shards_say_how_to_build_them(tmp_path, capsys):
    assert train([str(TINY), f"data={tmp_path / 'nothing.yaml'}"]) == 2
    assert "corpus build manifests/demo.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_process_torchrun_on_gloo_matches_one_process(shards, tmp_path, parallel):
    import subprocess
    import sys

    single = _run(shards, tmp_path / "single", "max_steps=4")
    env = {**os.environ, "NPROC": "2", "PYTHON": sys.executable}
    cmd = ["bash", str(ROOT / "train" / "run.sh"), str(TINY), f"data={shards / 'train_data.yaml'}", f"out_dir={tmp_path / parallel}",
           "max_steps=4", f"parallel={parallel}", "log_every=100"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / parallel / "loss.json").read_text()) == pytest.approx(single, abs=1e-4)
    assert (tmp_path / parallel / "checkpoint-rank1.pt").exists()


def test_llamat_configs_are_complete(monkeypatch, tmp_path):
    from train.trainer import DEFAULTS, load_config

    monkeypatch.setenv("LLAMA2_7B", str(tmp_path / "llama2"))
    monkeypatch.setenv("LLAMA3_8B", str(tmp_path / "llama3"))
    for name in ("llama2-7b-cpt", "llama3-8b-cpt", "sft", "tiny"):
        cfg = load_config(str(ROOT / "train" / "configs" / f"{name}.yaml"), [])
        assert set(cfg) == set(DEFAULTS)
        if name != "tiny":
            assert cfg["seq_len"] == 2048 and cfg["dtype"] == "bfloat16" and cfg["parallel"] == "fsdp" and cfg["init_from"]
    cpt = load_config(str(ROOT / "train" / "configs" / "llama2-7b-cpt.yaml"), [])
    assert (cpt["global_batch_size"], cpt["lr"], cpt["min_lr"], cpt["warmup_steps"], cpt["betas"], cpt["eps"]) == (1024, 3e-4, 3e-5, 2000, [0.9, 0.95], 1e-5)
    assert cpt["init_from"] == str(tmp_path / "llama2")
    monkeypatch.delenv("LLAMA2_7B")
    with pytest.raises(SystemExit, match="LLAMA2_7B"):
        load_config(str(ROOT / "train" / "configs" / "llama2-7b-cpt.yaml"), [])


def test_nanotron_config_has_nanotron_layout(shards, tmp_path):
    """The keys of nanotron's examples/config_tiny_llama.yaml, every one, at every level."""
    from train.nanotron import nanotron_config
    from train.trainer import load_config

    cfg = load_config(str(TINY), [f"data={shards / 'train_data.yaml'}", f"out_dir={tmp_path}", "max_steps=150"])
    nano = nanotron_config(cfg, nproc=2)
    assert set(nano) == {"checkpoints", "data_stages", "general", "lighteval", "logging", "model", "optimizer", "parallelism",
                         "profiler", "tokenizer", "tokens"}
    assert set(nano["optimizer"]) == {"accumulate_grad_in_fp32", "clip_grad", "learning_rate_scheduler", "optimizer_factory",
                                      "weight_decay", "zero_stage"}
    assert set(nano["tokens"]) == {"batch_accumulation_per_replica", "limit_test_batches", "limit_val_batches", "micro_batch_size",
                                   "sequence_length", "train_steps", "val_check_interval"}
    assert set(nano["model"]["model_config"]) >= {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                                  "num_key_value_heads", "vocab_size", "is_llama_config", "tie_word_embeddings"}
    assert nano["model"]["model_config"]["vocab_size"] == 32000 and nano["model"]["model_config"]["hidden_size"] == 64
    assert [s["start_training_step"] for s in nano["data_stages"]] == [1, 99]  # both stages fall inside 150 steps
    assert nano["tokens"]["batch_accumulation_per_replica"] * nano["tokens"]["micro_batch_size"] * nano["parallelism"]["dp"] == 8
    assert nano["tokenizer"]["tokenizer_name_or_path"].endswith("llama2")


def test_token_budget_takes_its_share_and_the_weights_share_the_rest(tmp_path):
    from types import SimpleNamespace

    from corpus.mixture import plan

    comp = lambda name, weight=None, budget=None: SimpleNamespace(name=name, weight=weight, token_budget=budget, start_fraction=0.0)  # noqa: E731
    manifest = SimpleNamespace(mixture=SimpleNamespace(train_tokens=1_000_000, seq_len=100, global_batch_size=10),
                               components=[comp("papers", 0.9), comp("general", 0.1), comp("forum", budget=50_000)])
    p = plan(manifest, {"components": {"papers": {"tokens": 900_000}, "general": {"tokens": 500_000}, "forum": {"tokens": 25_000}}})
    assert p["stages"][0]["weights"] == pytest.approx({"forum": 0.05, "general": 0.095, "papers": 0.855})
    assert p["components"]["forum"]["epochs"] == pytest.approx(2.0)
    data = base_manifest()
    data["components"][1]["token_budget"] = 1000
    from corpus.manifest import ManifestError, load_manifest

    with pytest.raises(ManifestError, match="train_tokens"):
        load_manifest(write_manifest(tmp_path, data))


def test_a_misspelt_or_bad_training_key_fails_before_work_naming_it(tmp_path):
    from train.trainer import load_config

    config = tmp_path / "c.yaml"
    config.write_text(TINY.read_text() + "max_step: 200\n")  # the key is max_steps: this used to train for the default
    with pytest.raises(SystemExit, match=r"max_step: unknown field"):
        load_config(str(config), [])
    with pytest.raises(SystemExit, match=r"parallel: 'tp' is not allowed"):
        load_config(str(TINY), ["parallel=tp"])
    with pytest.raises(SystemExit, match=r"micro_batch_size: Input should be greater than 0"):
        load_config(str(TINY), ["micro_batch_size=0"])
    assert load_config(str(TINY), ["lr=1e-3"])["lr"] == 1e-3  # YAML 1.1's string "1e-3" is a number here


def test_train_data_is_read_through_one_schema_and_a_bad_file_fails_naming_the_field(shards, tmp_path, capsys):
    """train_data.yaml is written by `corpus build` (and qa-synth) and read by the trainer with the shard format's
    TrainData; a misspelt key, a bad value or stages out of order fail before training, naming the field."""
    import yaml

    from corpus.shards.format import read_train_data
    from train.trainer import main

    written = shards / "train_data.yaml"
    data = read_train_data(str(written))
    assert data.stages[0].start_step == 1 and set(data.components()) == {c.name for c in (shards / "shards").iterdir() if c.is_dir()}
    raw = yaml.safe_load(written.read_text())
    for change, expected in [
        (lambda r: r.update(total_step=r.pop("total_steps")), "total_step: unknown field"),
        (lambda r: r["stages"][0].update(start_step=0), "stages[0].start_step: Input should be greater than or equal to 1"),
        (lambda r: r["stages"][0].update(weights={"papers": -1.0}), "stages[0].weights: weights must be >= 0"),
        (lambda r: r["stages"].append(dict(r["stages"][0])), "must start after stage"),
    ]:
        bad = yaml.safe_load(written.read_text())
        change(bad)
        path = tmp_path / "train_data.yaml"
        path.write_text(yaml.safe_dump(bad))
        assert main([str(TINY), f"data={path}", f"out_dir={tmp_path / 'run'}"]) == 2
        err = capsys.readouterr().err
        assert expected in err and str(path) in err, err
        assert not (tmp_path / "run").exists()  # nothing started
    assert raw == yaml.safe_load(written.read_text())
