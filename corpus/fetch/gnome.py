"""GNoME (Google DeepMind's Graph Networks for Materials Exploration): the ~520k crystals it found stable or within
1 meV/atom of the hull, from its public bucket as its DATASET.md lays it out (`gs://gdm_materials_discovery`, served
over HTTPS at storage.googleapis.com): `gnome_data/stable_materials_summary.csv` (one row per material: MaterialId,
Reduced Formula, NSites, Space Group Number, Formation Energy Per Atom, Decomposition Energy Per Atom, Bandgap, ...)
and `gnome_data/by_id.zip` (one CIF per material, named by its MaterialId). No key is needed. GNoME is CC BY-NC 4.0:
not for a commercial-use corpus, and the side-car says so.

The job is two items, both kept under `.bulk/` (a dot-folder the readers pass over; the ledger's items, so a rerun
skips them by checksum): the summary, then the zip. Once the zip is in, the materials the job's filters select from
the summary (ids, elements, sizes, decomposition energy) are written as one `gnome.csv` in the shape the
`crystal_csv` reader reads (MP-20's: `material_id`, `cif`, then every summary column as a property, snake_cased).
A selected material without a CIF in the zip is named in the side-car (`missing_cif`), never silently dropped.
To change the selection, give the job another `into` (its zip is fetched again) or delete `gnome.csv` and its ledger
rows.
"""

from __future__ import annotations

import csv
import json
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from corpus.fetch.http import FetchFailed, PoliteClient
from corpus.fetch.manifest import GnomeJob
from corpus.fetch.service import Item
from corpus.records import SIDECAR_SUFFIX

LICENCE = "CC-BY-NC-4.0"
SUMMARY = "stable_materials_summary.csv"
STRUCTURES = "by_id.zip"
OUTPUT = "gnome.csv"
CIF_CAP = 16 * 2**20  # one crystal's CIF is a few kB; a member larger than this (or a bomb) is not read
MAX_RATIO = 200  # a member that inflates more than this is not a CIF


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


class GnomeService:
    def __init__(self, job: GnomeJob, client: PoliteClient):
        self.job, self.client = job, client
        self.base = job.endpoint.rstrip("/")
        self.notes: list[str] = []

    def count(self) -> int | None:
        self.notes.append(f"2 files: {SUMMARY} (~150 MB) and {STRUCTURES} (~460 MB); the filters then select from the summary; "
                          f"licence {LICENCE} (not for commercial use)")
        return 2

    def discover(self) -> Iterator[Item]:
        for name, expect in ((SUMMARY, "csv"), (STRUCTURES, "zip")):
            yield Item(id=name, filename=f".bulk/{name}", expect=expect, url=f"{self.base}/{name}", licence=LICENCE,
                       meta={"database": "GNoME"})

    def finalise(self, path: Path) -> Path:
        if path.name != STRUCTURES:
            return path
        summary = path.with_name(SUMMARY)
        if not summary.is_file():
            raise FetchFailed("no_summary", f"{SUMMARY} is not beside {STRUCTURES}: its item failed; rerun the job")
        rows, id_column, columns = self._select(summary)
        folder = path.parent.parent
        written, missing = self._write(path, {str(r[id_column]): r for r in rows}, columns, folder / OUTPUT)
        side = {"id": OUTPUT, "service": "gnome", "licence": LICENCE, "database": "GNoME", "selected": len(rows),
                "written": written, "missing_cif": len(missing), "missing_cif_ids": missing[:100],
                "filters": self.job.model_dump(include={"ids", "elements", "exclude_elements", "max_nelements", "max_sites",
                                                        "max_decomposition_energy"}, exclude_defaults=True)}
        (folder / (OUTPUT + SIDECAR_SUFFIX)).write_text(json.dumps(side, ensure_ascii=False, sort_keys=True) + "\n")
        return path

    def _select(self, summary: Path) -> tuple[list[dict], str, list[str]]:
        """The summary's rows the filters keep (polars reads the 150 MB table in a second or two)."""
        import polars as pl

        try:
            table = pl.read_csv(summary, infer_schema_length=0)  # every cell as its text: written back as it came
        except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as e:
            raise FetchFailed("bad_listing", f"{SUMMARY} is not a readable CSV: {e}") from None
        by_name = {_snake(c): c for c in table.columns}
        if "materialid" not in by_name:
            raise FetchFailed("bad_listing", f"{SUMMARY} has no MaterialId column (columns: {table.columns[:8]}...)")
        job = self.job
        keep = pl.lit(True)
        formula = pl.col(by_name.get("reduced_formula") or by_name.get("composition") or by_name["materialid"])
        elements = formula.str.extract_all(r"[A-Z][a-z]?")
        if job.ids:
            keep &= pl.col(by_name["materialid"]).is_in([str(i) for i in job.ids])
        for element in job.elements:
            keep &= elements.list.contains(element)
        for element in job.exclude_elements:
            keep &= ~elements.list.contains(element)
        if job.max_nelements is not None:
            keep &= elements.list.unique().list.len() <= job.max_nelements
        for limit, column in ((job.max_sites, "nsites"), (job.max_decomposition_energy, "decomposition_energy_per_atom")):
            if limit is not None:
                if column not in by_name:
                    raise FetchFailed("bad_listing", f"{SUMMARY} has no {column} column to filter on")
                keep &= pl.col(by_name[column]).cast(pl.Float64, strict=False) <= limit
        chosen = table.filter(keep)
        columns = [c for c in table.columns if _snake(c) not in ("materialid", "")]
        return chosen.to_dicts(), by_name["materialid"], columns

    def _write(self, archive: Path, wanted: dict[str, dict], columns: list[str], out: Path) -> tuple[int, list[str]]:
        """gnome.csv, atomically: one row per selected material (MaterialId -> its summary row) with its CIF; the ids
        without one."""
        found: dict[str, bytes] = {}
        try:
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    stem, ext = os.path.splitext(os.path.basename(info.filename))
                    if info.is_dir() or ext.lower() != ".cif" or stem not in wanted:
                        continue
                    if info.file_size > CIF_CAP or info.file_size > MAX_RATIO * max(info.compress_size, 1):
                        continue  # not a CIF (too large, or a bomb): this material counts as missing
                    found[stem] = z.read(info)
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as e:
            raise FetchFailed("bad_zip", f"{archive.name}: {e}") from None
        partial = out.with_name(out.name + ".partial")
        names = ["material_id", "cif", *(_snake(c) for c in columns)]
        with open(partial, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(names)
            for material_id, row in wanted.items():  # the summary's order
                if material_id in found:
                    cif = found[material_id].decode("utf-8", errors="replace")
                    writer.writerow([material_id, cif, *(row.get(c) or "" for c in columns)])
        os.replace(partial, out)
        return len(found), [m for m in wanted if m not in found]

