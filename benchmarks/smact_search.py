"""Compositional validity: the pruned oxidation-state search (`smact_validity`) against CDVAE's exhaustive loop
(`smact_validity_exhaustive`) on compositions of 2 to 16 elements, in the same run (issue 32: SMACT's search grew
exponentially with the number of distinct elements and hung mateval).

For each size, a fixed seeded set of compositions (elements drawn from the 40 most common in MP-20-like crystals,
counts 1-4, gcd 1): the median seconds per composition of each, their ratio, and whether the verdicts agree. The
exhaustive loop is stopped at `--exhaustive-budget` seconds per composition (it is the thing that hangs); a stopped
one is shown as "> budget" and is left out of the agreement count.

    .venv/bin/python benchmarks/smact_search.py [--json benchmarks/results/smact_search.json]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.crystal_metrics import SearchBounded, smact_validity, smact_validity_exhaustive  # noqa: E402

ELEMENTS = ["H", "Li", "B", "C", "N", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "V", "Cr", "Mn",
            "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Sr", "Y", "Zr", "Nb", "Mo", "Ag", "Sn", "Sb", "Te", "Ba"]


def compositions(n: int, k: int, seed: int) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
    from pymatgen.core import Element

    rng = random.Random(seed * 1000 + n)
    out = []
    while len(out) < k:
        elements = tuple(sorted(rng.sample(ELEMENTS, n), key=lambda e: Element(e).Z))
        counts = tuple(rng.randint(1, 4) for _ in elements)
        if math.gcd(*counts) == 1:
            out.append((elements, counts))
    return out


def _exhaustive(args, queue) -> None:
    elements, counts = args
    started = time.perf_counter()
    verdict = smact_validity_exhaustive(elements, counts)
    queue.put((verdict, time.perf_counter() - started))


def exhaustive_with_budget(elements, counts, budget: float) -> tuple[bool | None, float]:
    """CDVAE's loop in a child process, stopped after `budget` seconds: (verdict or None, seconds)."""
    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_exhaustive, args=((elements, counts), queue))
    child.start()
    child.join(budget)
    if child.is_alive():
        child.kill()
        child.join()
        return None, budget
    return queue.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,4,6,8,10,12,14,16")
    parser.add_argument("--per-size", type=int, default=10)
    parser.add_argument("--exhaustive-budget", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        ours, theirs, agree, compared, stopped, bounded = [], [], 0, 0, 0, 0
        for elements, counts in compositions(n, args.per_size, args.seed):
            started = time.perf_counter()
            try:
                verdict = smact_validity(elements, counts)
            except SearchBounded:
                verdict, bounded = None, bounded + 1
            ours.append(time.perf_counter() - started)
            reference, seconds = exhaustive_with_budget(elements, counts, args.exhaustive_budget)
            theirs.append(seconds)
            if reference is None:
                stopped += 1
            elif verdict is not None:
                compared += 1
                agree += verdict == reference
        row = {"elements": n, "compositions": len(ours), "pruned_median_s": round(statistics.median(ours), 5),
               "pruned_max_s": round(max(ours), 4), "exhaustive_median_s": round(statistics.median(theirs), 4),
               "exhaustive_stopped": stopped, "ratio": round(statistics.median(theirs) / max(statistics.median(ours), 1e-9), 1),
               "verdicts_agree": f"{agree}/{compared}", "pruned_bounded": bounded}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
