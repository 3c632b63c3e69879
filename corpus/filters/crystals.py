"""Drop rules for crystal records: validation problems, and structures that are benchmark test crystals.

Pretraining on the test crystals of MP-20, Perov-5 or Carbon-24 contaminates every crystal
generation result, and text n-grams cannot see it (the same crystal has countless CIF
renderings). `StructureDecontaminationFilter` compares structures instead: pymatgen's
`StructureMatcher` against every benchmark test structure with the same reduced formula and
space group. Hits per benchmark go to OUT/stats/crystal_contamination/ for the summary.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from functools import cached_property

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from corpus.crystals.matching import StructureIndex
from corpus.crystals.structures import CrystalSettings, from_compact
from corpus.records import is_crystal
from corpus.registry import StepContext, StepSpec, register


class CrystalValidationFilter(BaseFilter):
    """Drops crystal records whose validation found a problem, with that problem as the reason
    (no_sites, bad_volume, atoms_too_close, disordered, unknown_element, too_many_sites)."""

    name = "💎 Crystal validation"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        problem = doc.metadata.get("crystal_problem") if is_crystal(doc) else None
        return (False, problem) if problem else True


class StructureDecontaminationFilter(BaseFilter):
    """`benchmark_structure`: the record is a test structure of a benchmark (`contamination` names which)."""

    name = "💎 Structure decontamination"

    def __init__(self, benchmarks: list[dict], settings: CrystalSettings, stats_folder: str,
                 exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.benchmarks, self.settings, self.stats_folder = benchmarks, settings, stats_folder
        self.hits: Counter = Counter()
        self._rank = 0

    @cached_property
    def index(self) -> StructureIndex:
        return StructureIndex.load(self.benchmarks, self.settings)

    def run(self, data, rank: int = 0, world_size: int = 1):
        self._rank = rank
        yield from super().run(data, rank, world_size)
        os.makedirs(self.stats_folder, exist_ok=True)
        with open(os.path.join(self.stats_folder, f"{rank:05d}.json"), "w") as f:
            json.dump({"hits": dict(sorted(self.hits.items())), "test_structures": dict(sorted(self.index.counts.items()))}, f)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        md = doc.metadata
        if not is_crystal(doc) or "structure" not in md:
            return True
        ref = self.index.match(from_compact(md["structure"]), md["spacegroup_number"])
        if ref is None:
            return True
        md["contamination"] = [f"{ref.benchmark}:{ref.item}"]
        self.hits[ref.benchmark] += 1
        return False, "benchmark_structure"


# ---- registration (corpus/registry.py)


def _validation_step(ctx: StepContext):
    return CrystalValidationFilter(exclusion_writer=ctx.rejected("crystal_validation")) if ctx.has_crystals else None


def _decontamination_step(ctx: StepContext):
    crystals = ctx.manifest.steps.crystals
    if not (ctx.has_crystals and crystals.decontamination):
        return None
    return StructureDecontaminationFilter([b.model_dump() for b in crystals.decontamination], crystals.crystal_settings(),
                                          ctx.layout.crystal_contamination, exclusion_writer=ctx.rejected("crystal_decontamination"))


def crystal_contamination(layout) -> dict:
    """summary.json's `crystal_contamination`: per benchmark, its test structures and how many corpus records were
    one of them (summed over tasks)."""
    out: dict[str, dict[str, int]] = {}
    for path in layout.task_files(layout.crystal_contamination, ".json"):
        with open(path) as f:
            rec = json.load(f)
        for bench, n in rec["test_structures"].items():
            out.setdefault(bench, {"test_structures": n, "hits": 0})
        for bench, n in rec["hits"].items():
            out.setdefault(bench, {"test_structures": 0, "hits": 0})["hits"] += n
    return {"crystal_contamination": out} if out else {}


CRYSTAL_FIRST = "a crystal record that failed validation has no text for the text rules, so the crystal steps come first"

register(StepSpec(
    "crystal_validation", "drops crystal records whose validation found a problem (crystal sources only)",
    process=_validation_step, reasons=("no_sites", "bad_volume", "bad_cell", "atoms_too_close", "disordered", "unknown_element", "too_many_sites"),
))
register(StepSpec(
    "crystal_decontamination", "drops records that are a benchmark's test structure (stages.crystals.decontamination)",
    process=_decontamination_step, reasons=("benchmark_structure",), after=("crystal_validation",), why=CRYSTAL_FIRST,
    cleanup=lambda layout: [layout.task_glob(layout.crystal_contamination, ".json")], summary=crystal_contamination,
))
