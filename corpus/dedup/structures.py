"""Structure dedup: the same crystal from several databases (or twice in one) keeps one record.

Text MinHash cannot tell that two CIFs describe the same structure (different settings, site
orders, supercells), and it would call two polymorphs with near-identical CIF boilerplate
duplicates. Crystal records are therefore deduplicated by structure: candidates grouped by
(reduced formula, space group[, textual form]), then pymatgen's `StructureMatcher` within a group,
so the cost grows with the group sizes, not with the square of the corpus. Within a group the
records are visited best first by the manifest's rule (source priority, lowest energy above hull,
lowest volume per formula unit, then record key) and each is compared with the group's survivors
so far: a match is removed with its survivor recorded.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pyarrow as pa
from pymatgen.core import Composition

from corpus.crystals.matching import matcher, same_crystal
from corpus.crystals.structures import from_compact

STRUCTURE_SCHEMA = pa.schema(
    [
        ("record", pa.string()),
        ("id", pa.string()),
        ("source", pa.string()),
        ("component", pa.string()),
        ("priority", pa.int32()),
        ("formula", pa.string()),
        ("spacegroup", pa.int32()),
        ("form", pa.string()),
        ("e_above_hull", pa.float64()),
        ("volume_per_formula_unit", pa.float64()),
        ("structure", pa.string()),
    ]
)

def structure_row(doc, priority: int) -> dict:
    md = doc.metadata
    s = md["structure"]
    e_hull = (md.get("properties") or {}).get("e_above_hull")
    n_atoms = len(s["species"])
    units = n_atoms / max(Composition(md["formula"]).num_atoms, 1e-9) if md.get("formula") else 1
    return {
        "record": md["record"],
        "id": doc.id,
        "source": md.get("source"),
        "component": md.get("component"),
        "priority": priority,
        "formula": md.get("formula"),
        "spacegroup": md.get("spacegroup_number"),
        "form": md.get("form"),
        "e_above_hull": float(e_hull) if isinstance(e_hull, (int, float)) else None,
        "volume_per_formula_unit": md["volume"] / units if units else None,
        "structure": json.dumps(s, separators=(",", ":")),
    }


def sort_key(row: dict, prefer: list[str]):
    key = []
    for rule in prefer:
        if rule == "priority":
            key.append(-row["priority"])
        else:  # lowest first; a record without the value goes after those with it
            value = row.get(rule)
            key.append(math.inf if value is None else value)
    return (*key, row["record"])


def structure_duplicates(table: pa.Table, prefer: list[str]) -> list[dict]:
    """Removed rows (record, reason, survivor, cluster, cluster_size), deterministic for the same input."""
    rows = table.to_pylist()
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["formula"], row["spacegroup"], row["form"])].append(row)
    m = matcher()
    removed: list[tuple[dict, dict]] = []
    for key in sorted(groups, key=lambda k: tuple("" if x is None else str(x) for x in k)):
        members = sorted(groups[key], key=lambda r: sort_key(r, prefer))
        if len(members) < 2:
            continue
        survivors: list[tuple[dict, object]] = []
        for row in members:
            structure = from_compact(json.loads(row["structure"]))
            hit = next((s for s, st in survivors if same_crystal(m, st, structure)), None)
            if hit is None:
                survivors.append((row, structure))
            else:
                removed.append((row, hit))
    sizes: dict[str, int] = defaultdict(lambda: 1)
    for _, survivor in removed:
        sizes[survivor["record"]] += 1
    return [
        {"record": row["record"], "reason": "duplicate_structure", "survivor": s["record"], "cluster": s["record"],
         "cluster_size": sizes[s["record"]]}
        for row, s in sorted(removed, key=lambda pair: pair[0]["record"])
    ]
