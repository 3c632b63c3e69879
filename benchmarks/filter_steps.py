"""Where the filter chain's time goes (issue 38): each step of benchmarks/filters.py's chain timed on its own, over the
same real papers, one core, median of 3 passes. The index of the decontamination step is built before timing.

    .venv/bin/python benchmarks/filter_steps.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import filters as chain  # noqa: E402
from datatrove.data import Document  # noqa: E402
from loguru import logger  # noqa: E402


def main() -> None:
    logger.remove()
    papers = [t for texts in chain.datasets()["papers"].values() for t in texts]
    decontaminate = chain.DecontaminationFilter(chain.EVAL_SETS)
    decontaminate.index  # noqa: B018 - built before timing
    steps = [chain.ScienceQualityFilter(), chain.LanguageFilter(["en"]), chain.ProseFilter(), chain.InterleaveFilter(), decontaminate]
    annotator = chain.Annotator()
    runs = []
    for _ in range(3):
        seconds = {"annotate": 0.0, **{type(s).__name__: 0.0 for s in steps}}
        for text in papers:
            doc = Document(text=text, id="x")
            started = time.perf_counter()
            next(annotator.run(iter([doc])))
            seconds["annotate"] += time.perf_counter() - started
            for step in steps:
                started = time.perf_counter()
                kept = step.filter(doc)
                seconds[type(step).__name__] += time.perf_counter() - started
                if kept is not True:
                    break
        runs.append(seconds)
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    mb = sum(len(t.encode()) for t in papers) / 1e6
    print(f"{len(papers)} papers, {mb:.2f} MB, one pass: " + ", ".join(f"{k} {v:.3f} s" for k, v in median.items())
          + f"; all {sum(median.values()):.3f} s")


if __name__ == "__main__":
    main()
