"""Coverage fingerprints on real model generations (issue 34: the synthetic benchmark, benchmarks/coverage.py, uses
noisy copies of MP-20 crystals, and real generations cost far more): LLaMat-2's generations as its authors parsed them
(../shared/data/eval/llamat_generations/llamat2_parsed_even_rows.csv), the crystals CDVAE constructs, fingerprinted
by eval/fingerprints.py's `fingerprint` (eval/crystalnn.py's CrystalNN "ops" fingerprint, symmetry-distinct sites)
with no cache, by `--workers` processes, each crystal timed.

Reported: seconds per crystal (median, p90, p99, max), timeouts at `--time-limit`, the wall time, the projection to
10,000 generations at this machine's rate (labelled as a projection), and how the time splits between structurally
valid crystals and crowded ones (two atoms closer than 0.5 Å: CDVAE's structurally invalid), which is what decides
whether a pre-check could pay.

With `--of valid` (LLaMat's protocol, mateval's default) only the valid generations are fingerprinted, as
crystal-text-llm's `Crystal` does; `--of constructed` (CDVAE's original) fingerprints every constructed one. The
projection is per generation read either way (10,000 generations of this distribution).

Crowded cells (eval/crystalnn.py `crowded_radius`: near-flat generated lattices) are counted and timed apart;
`--check-crowded` fingerprints each of them again with pymatgen's full 7 Å search and reports the largest difference
(the geometric argument says none but rounding; qhull may split a degenerate vertex differently).

    .venv/bin/python benchmarks/coverage_real.py [--n 1000] [--workers 2] [--time-limit 60] [--site-time-limit 5]
        [--of valid|constructed] [--check-crowded] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CRYSTALNN_CUTOFF = 7.0  # CrystalNN's search_cutoff in matminer's "ops" preset
GENERATIONS = ROOT.parent / "shared" / "data" / "eval" / "llamat_generations" / "llamat2_parsed_even_rows.csv"


def _crowded(crystal) -> bool:
    from eval.crystalnn import crowded_radius

    return crowded_radius(crystal.volume / len(crystal), CRYSTALNN_CUTOFF) is not None


def _timed(job):
    from eval.crystal_metrics import structure_validity
    from eval.fingerprints import fingerprint

    crystal, limit, site_limit = job
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        status = fingerprint(crystal, limit, site_limit).status
        seconds = time.perf_counter() - started
        try:
            valid = bool(structure_validity(crystal))
        except Exception:  # noqa: BLE001 - a cell whose distances cannot be computed
            valid = False
    return seconds, status, valid, len(crystal), _crowded(crystal)


def _crowded_difference(crystal) -> float | None:
    """The largest difference between the crystal's structure fingerprint found from the shrunk sphere and from
    pymatgen's full 7 Å search (None when either has no fingerprint)."""
    import eval.crystalnn as crystalnn
    from eval.fingerprints import _compute

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shrunk = _compute(crystal)
        keep = crystalnn.crowded_radius
        crystalnn.crowded_radius = lambda volume_per_site, cutoff: None
        try:
            full = _compute(crystal)
        finally:
            crystalnn.crowded_radius = keep
    if shrunk.structure is None or full.structure is None:
        return None
    return float(abs(shrunk.structure - full.structure).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="the first N constructed generations")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--site-time-limit", type=float, default=5.0)
    parser.add_argument("--check-crowded", action="store_true",
                        help="also fingerprint each crowded crystal with pymatgen's full search and report the largest difference")
    parser.add_argument("--of", choices=["valid", "constructed"], default="valid")
    parser.add_argument("--json")
    args = parser.parse_args()
    import multiprocessing

    from eval.crystal_metrics import read_generations
    from eval.fingerprints import _featurizers

    constructed = [g.structure for g in read_generations(str(GENERATIONS)) if g.structure is not None][: args.n]
    _featurizers()  # built before the fork
    started = time.perf_counter()
    crystals = constructed
    if args.of == "valid":  # the validity checks are part of the cost: timed with the fingerprints
        from eval.crystal_metrics import composition_validity, structure_validity

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            crystals = [c for c in constructed if structure_validity(c) and composition_validity(c)]
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("fork")) as pool:
        rows = list(pool.map(_timed, [(c, args.time_limit, args.site_time_limit) for c in crystals], chunksize=4))
    wall = time.perf_counter() - started
    seconds = sorted(r[0] for r in rows)

    def q(p: float) -> float:
        return round(seconds[min(len(seconds) - 1, int(p * len(seconds)))], 3)

    crowded = [r for r in rows if not r[2]]
    dense = [r for r in rows if r[4]]
    result = {
        "generations": len(constructed), "fingerprinted": args.of, "crystals": len(rows), "workers": args.workers, "time_limit_s": args.time_limit, "wall_s": round(wall, 1),
        "median_s": round(statistics.median(seconds), 3), "mean_s": round(statistics.fmean(seconds), 3), "p90_s": q(0.9), "p99_s": q(0.99),
        "max_s": round(seconds[-1], 2), "timeouts": sum(r[1] == "timeout" for r in rows),
        "statuses": {s: sum(r[1] == s for r in rows) for s in sorted({r[1] for r in rows})},
        "structurally_invalid": len(crowded), "share_of_time_in_structurally_invalid": round(sum(r[0] for r in crowded) / max(sum(seconds), 1e-9), 3),
        "projection_10000_s": round(wall / len(constructed) * 10000, 0),
        "crowded_cells": len(dense), "crowded_seconds": round(sum(r[0] for r in dense), 1),
        "crowded_max_s": round(max((r[0] for r in dense), default=0.0), 2),
    }
    if args.check_crowded:  # after the timing: the full search is what the shrunk sphere avoids
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("fork")) as pool:
            differences = [d for d in pool.map(_crowded_difference, [c for c in crystals if _crowded(c)]) if d is not None]
        result["crowded_checked"] = len(differences)
        result["crowded_max_difference"] = max(differences, default=0.0)
        result["crowded_over_1e-6"] = sum(d > 1e-6 for d in differences)
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"command": " ".join(sys.argv), **result}, indent=1) + "\n")


if __name__ == "__main__":
    main()
