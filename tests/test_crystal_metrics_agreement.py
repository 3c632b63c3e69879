"""mateval's crystal-generation metrics against an independent implementation (tests/crystal_metrics_reference.py),
on real generations: what a tiny LLaMA trained on MP-20 generation pairs wrote for the MP-20 test prompts
(samples/eval/tiny_generations.jsonl, made by benchmarks/crystal_generation_tiny.py). Issue 9's bar: the two agree
to 0.005 (as fractions; these metrics are in percent, so 0.5). The tiny model's crystals are poor -- most run past
the token limit, the rest put atoms on top of each other -- so a second check mixes them with the crystal strings
of test crystals, which brings structural validity, the property distances and recall into play."""

import json

import pytest

from conftest import ROOT

pytest.importorskip("ase")
pytest.importorskip("smact")
import crystal_metrics_reference as independent  # noqa: E402
from eval.crystal_metrics import metrics, parse_structure, reference_structures  # noqa: E402

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out

GENERATIONS = ROOT / "samples" / "eval" / "tiny_generations.jsonl"
REFERENCE = ROOT / "samples" / "crystals" / "mp_20" / "test.csv"
CUTOFFS = (0.4, 10.0)  # MP-20's


def _texts() -> list[str]:
    return [json.loads(line)["prediction"] for line in GENERATIONS.read_text().splitlines() if line.strip()]


def _agree(texts: list[str], n_reference: int, coverage_of: str) -> tuple[dict, dict]:
    reference = reference_structures(str(REFERENCE))[:n_reference]  # a slice keeps the fingerprinting short
    ours = metrics([parse_structure(t) for t in texts], reference, cutoffs=CUTOFFS, coverage_of=coverage_of)
    theirs = independent.metrics(texts, independent.reference_from_csv(str(REFERENCE))[:n_reference], cutoffs=CUTOFFS,
                                 coverage_of=coverage_of)
    assert (ours["generations"], ours["parsed"]) == (theirs["generations"], theirs["parsed"])
    outcomes = {k: v for k, v in ours.items() if k.startswith("outcome_")}  # ours alone says how each one ended
    assert sum(outcomes.values()) == ours["generations"] and outcomes["outcome_scored"] == ours["parsed"]
    # ours alone also says how each parsed generation's coverage fingerprint ended, and how long it took
    statuses = {k: v for k, v in ours.items() if k.startswith("coverage_") and not k.startswith("coverage_seconds")}
    fingerprinted = round(ours["validity_all"] * ours["generations"] / 100) if coverage_of == "valid" else ours["parsed"]
    assert sum(statuses.values()) == fingerprinted, statuses
    assert ours.pop("valid_only_coverage") == (coverage_of == "valid")
    assert ours.pop("compositional_search_bounded") == 0  # ours alone bounds the oxidation-state search; real rows stay under it
    ours = {k: v for k, v in ours.items() if k not in outcomes and not k.startswith("coverage_")}
    assert ours.keys() == theirs.keys()
    for key in ours:
        bar = 0.005 if key.startswith("wdist_") else 0.5
        assert abs(ours[key] - theirs[key]) <= bar, (key, ours[key], theirs[key])
    return ours, theirs


def test_metrics_agree_on_the_real_generations():
    ours, _ = _agree(_texts(), 40, "constructed")  # CDVAE's original: every constructed generation is fingerprinted
    # real generations: some parse, none is perfect
    assert ours["generations"] == 142 and 0 < ours["parsed"] < ours["generations"]
    assert ours["compositional_validity_all"] > 0 and ours["validity_all"] < 100


def test_metrics_agree_on_real_generations_mixed_with_test_crystals():
    from corpus.crystals.text import crystal_string

    reference = reference_structures(str(REFERENCE))
    texts = _texts()[:80] + [crystal_string(s) for s in reference[:20]]
    ours, _ = _agree(texts, 40, "valid")  # LLaMat's protocol (crystal-text-llm): only the valid ones
    assert 0 < ours["validity_all"] < 100 and "wdist_density" in ours and "wdist_num_elems" in ours
    assert ours["cov_recall"] >= 40 and ours["cov_precision"] >= 15


LLAMAT2 = ROOT.parent / "shared" / "data" / "eval" / "llamat_generations" / "llamat2_parsed_even_rows.csv"


@pytest.mark.skipif(not LLAMAT2.exists(), reason="../shared is not beside the project")
def test_coverage_agrees_with_matminer_on_llamat2_generations():
    """Coverage as LLaMat's evaluation computes it (matminer's CrystalNN "ops" fingerprint on every site, magpie, the
    MP-20 cutoffs) against mateval's (symmetry-distinct sites, the vectorised order parameters, the shrunk sphere for
    crowded cells, the per-site limit) on LLaMat-2's real generations: the first 60 rows and the crowded cells among
    them and beyond (near-flat lattices, the ones the shrunk sphere serves)."""
    from corpus.crystals.text import crystal_string
    from eval.crystal_metrics import read_generations
    from eval.crystalnn import crowded_radius

    constructed = [g.structure for g in read_generations(str(LLAMAT2)) if g.structure is not None]
    crowded = [c for c in constructed if crowded_radius(c.volume / len(c), 7.0) is not None and c.volume / len(c) > 0.3]
    from eval.crystal_metrics import composition_validity, structure_validity

    crowded = [c for c in crowded if structure_validity(c) and composition_validity(c)][:6]  # fingerprinted ones
    assert len(crowded) == 6
    texts = [crystal_string(c) for c in constructed[:60] + crowded]
    ours, theirs = _agree(texts, 40, "valid")
    assert ours["cov_recall"] == theirs["cov_recall"] and ours["cov_precision"] == theirs["cov_precision"]
    assert 0 < ours["cov_precision"] < 100
