"""Crystal QA pairs: answers re-derived independently from the question's CIF, test structures kept out,
loss masks exactly on the answer tokens, and the SFT shards train."""

import json
import re

import numpy as np
import pytest
from pymatgen.io.cif import CifParser
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from tokenizers import Tokenizer

from conftest import ROOT, SAMPLES, SHARED

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from qa_synth.cli import build

    out = tmp_path_factory.mktemp("qa") / "out"
    summary = build(str(ROOT / "manifests" / "sft_crystals.yaml"), str(out))
    return out, summary


def _pairs(out):
    return [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]


def test_every_task_is_built_with_distinct_ids(built):
    out, summary = built
    pairs = _pairs(out)
    assert len(pairs) == summary["pairs"] > 3000 and len({p["id"] for p in pairs}) == len(pairs)
    assert set(summary["per_task"]) == {"atom_count", "lattice_lengths", "lattice_angles", "space_group", "cell_volume", "formula",
                                        "element_at", "swap_same", "generate", "infill", "lattice_from_sites"}


def test_answers_rederived_from_the_cif_in_the_question(built):
    out, _ = built
    pairs = _pairs(out)[::7]  # a sample across tasks and sources
    agree = {"space_group": [0, 0]}
    from pymatgen.core import Composition

    for p in pairs:
        if p["task"] == "generate":  # the crystal string's sites make up the formula asked for
            lines = p["answer"].split("\n")
            species = lines[2::2]
            assert len(lines[0].split()) == 3 and len(lines[1].split()) == 3 and len(species) * 2 + 2 == len(lines)
            assert Composition(" ".join(species)).reduced_formula in p["question"]
            assert all(0 <= float(x) < 1 for ln in lines[3::2] for x in ln.split())
            if p["source"] == "mp20":  # MP-20 rows condition the generation on their energies
                assert "formation energy" in p["question"] and "energy above hull" in p["question"]
            continue
        if p["task"] == "lattice_from_sites":
            lengths, angles = (list(map(float, ln.split())) for ln in p["answer"].split("\n"))
            assert len(lengths) == len(angles) == 3 and all(x > 0 for x in lengths) and all(0 < x < 180 for x in angles)
            continue
        if p["task"] == "infill":
            assert p["question"].split("\n").count("[MASK]") == 1 and re.fullmatch(r"[A-Z][a-z]?", p["answer"])
            continue
        s = CifParser.from_str(p["question"][p["question"].index("# generated"):]).parse_structures(primitive=False)[0]
        a, task = p["answer"], p["task"]
        if task == "atom_count":
            assert a == str(len(s))
        elif task == "formula":
            assert a == s.composition.reduced_formula
        elif task == "cell_volume":
            assert abs(float(a.split()[0]) - s.volume) < 0.01 * s.volume
        elif task == "lattice_lengths":
            assert np.allclose([float(x) for x in re.findall(r"= ([\d.]+) Å", a)], s.lattice.abc, atol=2e-3)
        elif task == "lattice_angles":
            assert np.allclose([float(x) for x in re.findall(r"= ([\d.]+)°", a)], s.lattice.angles, atol=1e-2)
        elif task == "element_at":
            xyz = np.array([float(x) for x in re.search(r"(-?\d\.\d{4}), (-?\d\.\d{4}), (-?\d\.\d{4})", p["question"]).groups()])
            d = s.lattice.get_all_distances(s.frac_coords, [xyz])[:, 0]
            assert a == s[int(np.argmin(d))].species_string and d.min() < 0.01  # coordinates are printed to 4 decimals
        elif task == "space_group":  # re-derived with spglib (pymatgen), not the moyo analysis that wrote it
            agree["space_group"][1] += 1
            agree["space_group"][0] += int(a.endswith(f"(No. {SpacegroupAnalyzer(s, symprec=0.1).get_space_group_number()})"))
        elif task == "swap_same":
            assert a in ("yes", "no")
    ok, n = agree["space_group"]
    assert n > 20 and ok >= 0.95 * n, agree  # the two libraries differ at the tolerance edge (BENCHMARKS.md: ~1% on MP-20)


def test_benchmark_test_structures_are_kept_out(built):
    out, summary = built
    from corpus.crystals.matching import StructureIndex, spacegroup_number
    from corpus.crystals.structures import CrystalSettings
    from corpus.tasks.crystal import read_structures as structures

    index = StructureIndex.load([{"name": "mp_20", "paths": [str(SAMPLES / "crystals" / "mp_20" / "test.csv")]}], CrystalSettings())
    hits = [r for r, s, _ in structures([str(SAMPLES / "crystals" / "mp_20" / "train.csv")], CrystalSettings())
            if not isinstance(s, str) and index.match(s, spacegroup_number(s, 0.1))]
    assert summary["skipped_structures"].get("benchmark_structure", 0) == len(hits) >= 1
    questions = {p["id"].split("#")[0] for p in _pairs(out)}
    assert not any(f"mp20:{h}" in questions for h in hits)


def test_loss_mask_covers_exactly_the_answer_tokens(built):
    out, _ = built
    ds = out / "shards" / "sft" / "00000.ds"
    tokens = np.fromfile(ds, dtype="<u2")
    mask = np.fromfile(str(ds) + ".loss", dtype=np.uint8)
    ends = np.fromfile(str(ds) + ".index", dtype="<u8")
    assert len(mask) == len(tokens) == ends[-1]
    tok = Tokenizer.from_file(str(SAMPLES / "tokenizers" / "llama2" / "tokenizer.json"))
    by_question = {p["question"]: p["answer"] for p in _pairs(out)}
    for k in range(0, len(ends), max(1, len(ends) // 25)):
        start = int(ends[k - 1]) if k else 0
        doc, m = tokens[start : int(ends[k])], mask[start : int(ends[k])]
        assert m[0] == 0 and m[-1] == 1 and np.all(np.diff(m.astype(int)) >= 0)  # prompt first, then answer to the end
        answer = tok.decode(doc[m == 1].tolist(), skip_special_tokens=False)
        prompt = tok.decode(doc[m == 0].tolist(), skip_special_tokens=False)
        question = prompt.split("<|im_start|>question\n", 1)[1].rsplit("<|im_end|>", 1)[0]
        assert answer.strip() == by_question[question].strip() + "<|im_end|></s>"


def test_sft_shards_train_with_the_trainer(built, tmp_path):
    out, _ = built
    from train.trainer import main as train

    assert train([str(ROOT / "train" / "configs" / "tiny.yaml"), f"data={out / 'train_data.yaml'}", f"out_dir={tmp_path}",
                  "max_steps=3", "seq_len=256", "eval_every=0", "export=false"]) == 0
    assert len(json.loads((tmp_path / "loss.json").read_text())) == 3


# ---- the full source set on the shared public data (skipped where ../shared is absent) ----

SHARED_EVAL = SHARED / "eval"


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    if not (SHARED_EVAL / "matsci_nlp").is_dir():
        pytest.skip("../shared/data is not beside the repository")
    import yaml

    from qa_synth.cli import build

    d = str(SHARED)
    manifest = {
        "name": "public", "output_dir": "out", "seed": 3, "validation_fraction": 0.01,
        "tokenizer": {"path": str(SAMPLES / "tokenizers" / "llama2"), "eos_token": "</s>"}, "seq_len": 512, "global_batch_size": 8,
        "sources": [
            {"name": "matsci_nlp", "kind": "matsci_nlp", "root": f"{d}/eval/matsci_nlp"},
            {"name": "sie", "kind": "sie", "paths": [f"{d}/eval/llamat_sie/*_train.jsonl"]},
            {"name": "nerre", "kind": "nerre", "sets": {"general": f"{d}/eval/nerre/general_materials_information_annotations.jsonl",
                                                         "mof": f"{d}/eval/nerre/mof_annotations.jsonl"}},
            {"name": "matsci_instruct", "kind": "matsci_instruct", "path": f"{d}/instruct/honeybee_matsci_instruct_2307.json"},
            {"name": "crystals", "kind": "crystals", "per_structure": 2, "paths": [f"{d}/crystals/mp_20_subset/train.csv"]},
            {"name": "recipes", "kind": "recipes", "target": 20000,
             "releases": [{"path": f"{d}/papers/ceder_synthesis_recipes/sol-gel_dataset_20200713.json.xz", "method": "sol-gel"}]},
        ],
        "exclude": [
            {"name": "mp_20", "kind": "structures", "paths": [f"{d}/crystals/mp_20_subset/test.csv"]},
            {"name": "mascqa", "kind": "mascqa", "paths": [f"{d}/eval/mascqa/mascqa_650.jsonl"]},
            {"name": "matsci_nlp_test", "kind": "matsci_nlp", "root": f"{d}/eval/matsci_nlp"},
            {"name": "matsie_test", "kind": "sie", "paths": [f"{d}/eval/llamat_sie/*_test*.jsonl"]},
        ],
    }
    root = tmp_path_factory.mktemp("public")
    (root / "m.yaml").write_text(yaml.safe_dump(manifest))
    summary = build(str(root / "m.yaml"), str(root / "out"))
    return root / "out", summary


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_public_build_reconciles_and_has_every_source(public):
    out, summary = public
    train, validation, removed = _rows(out / "pairs.jsonl"), _rows(out / "validation.jsonl"), _rows(out / "removed.jsonl")
    assert sum(summary["converted"].values()) == len(train) + len(validation) + len(removed)
    ids = [r["id"] for r in train + validation + removed]
    assert len(ids) == len(set(ids))
    assert set(summary["per_source"]) == {"matsci_nlp", "sie", "nerre", "matsci_instruct", "crystals", "recipes"}
    assert summary["per_source"]["recipes"] + sum(1 for r in validation if r["source"] == "recipes") == 20000  # the target
    keys = {(r["system"].lower(), " ".join(r["question"].lower().split())) for r in train + validation}
    assert len(keys) == len(train) + len(validation)  # no exact duplicate question survives
    assert (out / "summary.md").read_text().count("| recipes |") >= 4


def test_no_evaluation_item_reaches_the_training_pairs(public):
    out, _ = public
    from corpus.tasks import matsci_nlp
    from corpus.tasks.pairs import normalised

    text = "\n".join(normalised(r["question"] + " " + r["answer"]) for r in _rows(out / "pairs.jsonl") + _rows(out / "validation.jsonl"))
    tests = [json.loads(x)["question"] for x in (SHARED_EVAL / "mascqa" / "mascqa_650.jsonl").read_text().splitlines() if x.strip()]
    for f in sorted((SHARED_EVAL / "llamat_sie").glob("*_test*.jsonl")):
        # the passage of each test item: its longest paragraph (the rest is the instruction and schema every item shares)
        tests += [max(json.loads(x)["question"].split("\n\n"), key=len) for x in f.read_text().splitlines() if x.strip()]
    tests += list({p.context for p in matsci_nlp.pairs(str(SHARED_EVAL / "matsci_nlp"), "test")})
    found = [t for t in tests if len(normalised(t)) > 60 and normalised(t) in text]
    assert not found, found[:3]
    assert len(tests) > 6000


def test_test_abstracts_in_the_unsplit_nerre_files_are_removed(public):
    out, summary = public
    removed = [r for r in _rows(out / "removed.jsonl") if r["source"] == "nerre" and r["reason"].startswith("evaluation_overlap")]
    assert len(removed) >= 100  # LLaMat tests on 62 general-materials and 51 MOF abstracts from these files
    assert summary["removed_per_source"]["nerre"]["evaluation_overlap:matsie_test"] == len(removed)


def test_recipe_answers_come_from_the_record(public):
    out, _ = public
    from qa_synth.recipes import load

    recipes = load(str(SHARED / "papers" / "ceder_synthesis_recipes" / "sol-gel_dataset_20200713.json.xz"))
    checked = 0
    for r in _rows(out / "pairs.jsonl"):
        if r["source"] != "recipes":
            continue
        _, _, n, task = r["id"].split(":")
        rec = recipes[int(n)]
        if task == "recipe_reaction":
            assert r["answer"] == rec["reaction_string"].replace(" == ", " → ")
        elif task == "recipe_precursors":
            assert set(r["answer"].replace(" and ", ", ").split(", ")) <= {p["material_formula"] for p in rec["precursors"]} | {""}
        elif task == "recipe_route":
            assert len(r["answer"].splitlines()) == len(rec["operations"])
        checked += 1
    assert checked > 10000


def test_matsci_nlp_split_is_disjoint_and_stable():
    if not (SHARED_EVAL / "matsci_nlp").is_dir():
        pytest.skip("../shared/data is not beside the repository")
    from corpus.tasks import matsci_nlp

    root = str(SHARED_EVAL / "matsci_nlp")
    train = {p.context for p in matsci_nlp.pairs(root, "train")}
    test = {p.context for p in matsci_nlp.pairs(root, "test")}
    # documents are split whole; an identical sentence in two documents (one fragment in SOFC-Exp) can still sit on both
    # sides, and the build's evaluation filter removes it from training (test_no_evaluation_item_reaches_the_training_pairs)
    assert len(train & test) <= 0.001 * len(test) and len(test) > 0.1 * (len(train) + len(test))
    again = [p.id for p in matsci_nlp.pairs(root, "test", ["pc_glass"])]
    assert again == [p.id for p in matsci_nlp.pairs(root, "test", ["pc_glass"])]


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["sources"][0].update(kind="pdfs"), "sources[0].kind"),
    (lambda m: m["sources"][0].update(paths=["/nowhere/*.cif"]), "sources[0].paths"),
    (lambda m: m["sources"][0].update(target=-1), "sources[0].target"),
    (lambda m: m["exclude"][0].update(kind="web"), "exclude[0].kind"),
    (lambda m: m.pop("seed"), "seed: required field is missing"),
    (lambda m: m["sources"][0].update(tasks=["dance"]), "sources[0].tasks"),
])
def test_bad_manifest_fails_before_any_work_naming_the_field(tmp_path, edit, message):
    import yaml

    from qa_synth.cli import main

    m = yaml.safe_load((ROOT / "manifests" / "sft_crystals.yaml").read_text())
    for part in m["sources"] + m["exclude"]:
        part["paths"] = [str((ROOT / "manifests" / p).resolve()) for p in part["paths"]]
    m["tokenizer"]["path"] = str(SAMPLES / "tokenizers" / "llama2")
    edit(m)
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(m))
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["build", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out")]) == 2
    assert message in err.getvalue() and not (tmp_path / "out").exists()


def test_public_shards_train_with_the_sft_config(public, tmp_path):
    """train/configs/sft.yaml as shipped (LLaMat's schedule), pointed at the built shards and a tiny exported model."""
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    from train.trainer import main as train

    out, _ = public
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=4, max_position_embeddings=1024)).save_pretrained(tmp_path / "base")
    assert train([str(ROOT / "train" / "configs" / "sft.yaml"), f"data={out / 'train_data.yaml'}", f"init_from={tmp_path / 'base'}",
                  f"out_dir={tmp_path / 'run'}", "max_steps=4", "seq_len=512", "global_batch_size=4", "micro_batch_size=2",
                  "warmup_steps=1", "eval_every=0", "export=false"]) == 0
    losses = json.loads((tmp_path / "run" / "loss.json").read_text())
    assert len(losses) == 4 and all(np.isfinite(v) for v in losses)


def test_a_file_that_cannot_be_converted_is_reported_and_the_build_goes_on(tmp_path):
    import yaml

    from qa_synth.cli import build

    good = tmp_path / "doping_train.jsonl"
    good.write_text("".join(json.dumps({"system": "Extract.", "question": f"Passage {k}: ZnO doped with Al.",
                                        "answer": json.dumps({"dopants": ["Al"], "k": k})}) + "\n" for k in range(3)))
    broken = tmp_path / "mof1_train.jsonl"
    broken.write_bytes(b'{"system": "x", "question": \xff\xfe not json\n')
    m = {"name": "t", "output_dir": str(tmp_path / "out"), "seed": 1, "seq_len": 256, "global_batch_size": 2,
         "tokenizer": {"path": str(SAMPLES / "tokenizers" / "llama2"), "eos_token": "</s>"},
         "sources": [{"name": "sie", "kind": "sie", "paths": [str(good), str(broken)]},
                     {"name": "cod", "kind": "crystals", "per_structure": 1, "tasks": ["generate"],
                      "paths": [str(SAMPLES / "crystals" / "cod_cifs" / "BaTiO3_cubic.cif")]}],
         "exclude": []}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(m))
    summary = build(str(tmp_path / "m.yaml"), str(tmp_path / "out"))
    assert summary["converted"] == {"sie": 3, "cod": 1}
    assert [f["path"] for f in summary["failed_files"]] == [str(broken)] and "Error" in summary["failed_files"][0]["error"]
    assert str(broken) in (tmp_path / "out" / "summary.md").read_text()
    pairs = _pairs(tmp_path / "out") + [json.loads(x) for x in (tmp_path / "out" / "validation.jsonl").read_text().splitlines()]
    assert {p["task"] for p in pairs} == {"sie_doping", "generate"}


def test_a_misspelt_key_in_a_qa_synth_manifest_fails_naming_it(tmp_path):
    import yaml

    from qa_synth.cli import load_manifest

    m = yaml.safe_load((ROOT / "manifests" / "sft_crystals.yaml").read_text())
    m["sources"][0]["per_strucure"] = 4
    m["seed"] = "seven"
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(m))
    with pytest.raises(ValueError) as e:
        load_manifest(str(path))
    assert "sources[0].per_strucure: unknown field" in str(e.value)
    assert "seed:" in str(e.value) and "'seven'" in str(e.value)
