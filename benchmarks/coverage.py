"""Coverage of 10,000 generated crystals: eval/fingerprints.py (eval/crystalnn.py's batched CrystalNN fingerprint,
symmetry-distinct sites, a worker per core, disk cache, per-crystal time limit) against CDVAE's way (matminer's
fingerprint of every site, one process), in the same run.

Generations: real MP-20 crystals (samples/crystals/mp_20 train + val) written as LLaMat crystal strings (lengths to
0.1 Å, angles to 1°, coordinates to 0.01), a third as they are, two thirds with their fractional coordinates moved
by Gaussian noise (σ 0.01 and 0.02, seed 0) as a model's imperfect samples are, cycled up to `--n`; read back
through `read_generations` like a user's file. Reference: samples/crystals/mp_20/test.csv (142 crystals; the full
MP-20 test split is not in ../shared/data). The baseline is timed on the first `--baseline-n` generations and
extrapolated per crystal; the batched fingerprint alone (every site, one process) and ours are timed on the same ones (agreement: largest fingerprint difference, and the
coverage both give) and then on all `--n`, once with an empty cache and once from it.

    .venv/bin/python benchmarks/coverage.py [--n 10000] [--baseline-n 200] [--workers 2] [--json FILE]

`--sets` measures instead, on the first `--per-set` crystals of every real crystal set there is (the bundled MP-20
test split and ../shared/data's MP-20 subset, Perov-5 and Carbon-24 test splits), per set and worst case:
eval/crystalnn.py's batched fingerprint against matminer's (every site; seconds per crystal, largest difference),
the symmetry shortcut on top of it, the share of matminer's fingerprint time spent finding neighbours (CrystalNN's
Voronoi step) rather than on order parameters, and the
conditional metrics' ceiling: each set's crystals scored against their own formula and space group.

    .venv/bin/python benchmarks/coverage.py --sets [--per-set 30] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from corpus.crystals.text import crystal_string  # noqa: E402
from eval.crystal_metrics import coverage, read_generations, reference_structures  # noqa: E402
from eval.crystalnn import CrystalNNOpsFingerprint  # noqa: E402
from eval.fingerprints import fingerprints  # noqa: E402

MP20 = ROOT / "samples" / "crystals" / "mp_20"


def cdvae_fingerprints(crystals, site_fp=None):
    """CDVAE's `compute_cov` fingerprinting as mateval did it before: every site's CrystalNN fingerprint (matminer's,
    or `site_fp`), one process."""
    from matminer.featurizers.composition.composite import ElementProperty
    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint
    from pymatgen.core import Composition

    site_fp = site_fp or CrystalNNFingerprint.from_preset("ops")
    comp_fp = ElementProperty.from_preset("magpie", impute_nan=True)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in crystals:
            try:
                out.append((np.mean([site_fp.featurize(c, i) for i in range(len(c))], axis=0),
                            np.asarray(comp_fp.featurize(Composition(c.composition)), dtype=float)))
            except Exception:  # noqa: BLE001
                out.append((None, None))
    return out


def generations(n: int, folder: str) -> str:
    rng = np.random.default_rng(0)
    crystals = reference_structures(str(MP20 / "train.csv")) + reference_structures(str(MP20 / "val.csv"))
    random.Random(0).shuffle(crystals)
    path = os.path.join(folder, "generations.jsonl")
    with open(path, "w") as f:
        for i in range(n):
            c = crystals[i % len(crystals)].copy()
            sigma = (0.0, 0.01, 0.02)[i % 3]
            if sigma:
                for j in range(len(c)):
                    c.replace(j, c[j].species, np.mod(c[j].frac_coords + rng.normal(0, sigma, 3), 1.0))
            f.write(json.dumps({"id": i, "prediction": crystal_string(c)}) + "\n")
    return path


SHARED = ROOT.parent / "shared" / "data" / "crystals"
SETS = {"mp_20 (bundled)": MP20 / "test.csv", "mp_20_subset": SHARED / "mp_20_subset" / "test.csv",
        "perov_5": SHARED / "perov_5" / "test.csv", "carbon_24": SHARED / "carbon_24" / "test.csv"}


def real_sets(per_set: int) -> dict:
    import csv

    from eval.conditional_generation import conditional_metrics, prompt_of
    from eval.crystal_metrics import parse_structure

    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint

    neighbours = CrystalNNFingerprint.from_preset("ops").cnn  # the neighbour search alone, as the fingerprint runs it
    out = {}
    for name, path in SETS.items():
        if not path.exists():
            print(f"{name}: {path} not here, skipped", flush=True)
            continue
        with open(path, newline="") as f:
            rows = [row for _, row in zip(range(per_set), csv.DictReader(f))]
        crystals = [parse_structure(r["cif"]) for r in rows]
        prompts = [prompt_of(r) for r in rows]
        start = time.perf_counter()
        every = cdvae_fingerprints(crystals)
        every_s = (time.perf_counter() - start) / len(crystals)
        start = time.perf_counter()
        batched = cdvae_fingerprints(crystals, CrystalNNOpsFingerprint())
        batched_s = (time.perf_counter() - start) / len(crystals)
        start = time.perf_counter()
        ours = fingerprints(crystals, 1, None, progress=False)
        ours_s = (time.perf_counter() - start) / len(crystals)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c in crystals:
                for i in range(len(c)):
                    neighbours.get_nn_data(c, i)
        neighbours_s = (time.perf_counter() - start) / len(crystals)
        diffs = [float(np.abs(a - f.structure).max()) for (a, _), f in zip(every, ours) if a is not None and f.structure is not None]
        cond = conditional_metrics(crystals, [f for f, _ in prompts], [g for _, g in prompts])
        out[name] = {"crystals": len(crystals), "median_sites": statistics.median(len(c) for c in crystals),
                     "every_site_s_per_crystal": round(every_s, 4), "batched_every_site_s_per_crystal": round(batched_s, 4),
                     "batched_speedup": round(every_s / batched_s, 2),
                     "batched_max_difference": max(float(np.abs(a - b).max()) for (a, _), (b, _) in zip(every, batched) if a is not None and b is not None),
                     "ours_one_worker_s_per_crystal": round(ours_s, 4), "symmetry_speedup": round(batched_s / ours_s, 2), "max_fingerprint_difference": max(diffs),
                     "neighbour_share": round(neighbours_s / every_s, 2),
                     "s_per_site": round(every_s / statistics.mean(len(c) for c in crystals), 4),
                     "formula_match_ceiling": cond.get("formula_match"), "spacegroup_match_ceiling": cond.get("spacegroup_match")}
        print(f"{name}: {json.dumps(out[name])}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--baseline-n", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--json")
    parser.add_argument("--sets", action="store_true", help="measure on every real crystal set instead (see above)")
    parser.add_argument("--per-set", type=int, default=30)
    args = parser.parse_args()
    if args.sets:
        result = real_sets(args.per_set)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        return
    tmp = tempfile.mkdtemp(prefix="coverage-bench-")
    read = read_generations(generations(args.n, tmp))
    generated = [s for s, _ in read if s is not None]
    reference = reference_structures(str(MP20 / "test.csv"))
    sites = [len(c) for c in generated]
    print(f"{len(read)} generations, {len(generated)} structures (median {statistics.median(sites)} sites, max {max(sites)}); "
          f"reference {len(reference)}", flush=True)

    subset = generated[: args.baseline_n]
    start = time.perf_counter()
    base = cdvae_fingerprints(subset)
    base_s = (time.perf_counter() - start) / len(subset)
    start = time.perf_counter()
    batched = cdvae_fingerprints(subset, CrystalNNOpsFingerprint())  # eval/crystalnn.py alone: every site, one process
    batched_s = (time.perf_counter() - start) / len(subset)
    batched_diff = max(float(np.abs(a - b).max()) for (a, _), (b, _) in zip(base, batched) if a is not None and b is not None)
    start = time.perf_counter()
    ours = fingerprints(subset, args.workers, None, progress=False)
    ours_s = (time.perf_counter() - start) / len(subset)
    diffs = [float(np.abs(a - f.structure).max()) for (a, _), f in zip(base, ours) if a is not None and f.structure is not None]
    start = time.perf_counter()
    fingerprints(subset, 1, None, progress=False)
    single_s = (time.perf_counter() - start) / len(subset)
    print(f"subset of {len(subset)}: CDVAE way {base_s:.3f} s/crystal; batched CrystalNN, every site {batched_s:.3f} "
          f"({base_s / batched_s:.2f}x, largest difference from matminer {batched_diff:.1e}); with the symmetry shortcut "
          f"{single_s:.3f} on 1 worker ({base_s / single_s:.2f}x), {ours_s:.3f} on {args.workers} workers "
          f"({base_s / ours_s:.2f}x); largest fingerprint difference {max(diffs):.2e} (median {statistics.median(diffs):.1e})",
          flush=True)

    cache = os.path.join(tmp, "fingerprints.sqlite")
    start = time.perf_counter()
    cold = coverage(generated, reference, 0.4, 10.0, generations=len(read), workers=args.workers, cache=cache)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    warm = coverage(generated, reference, 0.4, 10.0, generations=len(read), workers=args.workers, cache=cache)
    warm_s = time.perf_counter() - start
    assert warm["cov_recall"] == cold["cov_recall"] and warm["cov_precision"] == cold["cov_precision"]
    result = {
        "generations": len(read), "structures": len(generated), "reference": len(reference), "workers": args.workers,
        "baseline_s_per_crystal": round(base_s, 4), "batched_every_site_s_per_crystal": round(batched_s, 4),
        "batched_max_difference_from_matminer": batched_diff, "ours_s_per_crystal_subset": round(ours_s, 4),
        "ours_one_worker_s_per_crystal_subset": round(single_s, 4), "speedup_subset": round(base_s / ours_s, 2),
        "max_fingerprint_difference": max(diffs), "baseline_extrapolated_s": round(base_s * len(generated), 1),
        "ours_cold_s": round(cold_s, 1), "ours_cached_s": round(warm_s, 2), "coverage": cold,
    }
    print(f"all {len(generated)}: ours {cold_s:.0f} s with an empty cache (reference included), {warm_s:.1f} s from the cache; "
          f"the CDVAE way, extrapolated: {base_s * len(generated):.0f} s; COV-R {cold['cov_recall']:.2f} COV-P {cold['cov_precision']:.2f}; "
          f"timeouts {cold['coverage_timeout']}, failed {cold['coverage_failed']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
