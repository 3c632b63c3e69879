"""Crystal readers: CIF files, CSV tables with a CIF column, JSON/JSONL dumps of pymatgen structures.

Each reader only finds records (`CrystalRecord`, or a `Failure` for one that cannot become a
structure); the shared `CrystalReader.documents` validates, standardises and renders them into
documents whose metadata carries the structure (compact form), its facts (formula, space group,
crystal system, ...) and the record's properties. A record that fails validation still becomes a
document, with empty text and `crystal_problem` set, so `CrystalValidationFilter` drops it with that
reason and the accounting sees it. The id is the database id (`mp-1234`, `cod-9008536`) when the
record has one, else the record's id inside its source, else a canonical hash of the structure.
"""

from __future__ import annotations

import csv
import os
from typing import Any, Iterator

import orjson
from datatrove.data import Document
from pydantic import Field

from corpus.crystals.structures import (
    CrystalParseError,
    CrystalRecord,
    CrystalSettings,
    cif_blocks,
    compact,
    database_id,
    density,
    parse_cif_block,
    read_cif_column,
    standardise,
    structure_from_dict,
    structure_hash,
    validate,
)
from corpus.crystals.text import RobocrysDescriber, render
from corpus.readers.base import Failure, ReaderOptions, SourceReader
from corpus.readers.bounded import bounded_lines, open_bounded, read_limited
from corpus.records import CRYSTAL

class CrystalReader(SourceReader):
    """Base of the crystal readers: record -> validated, standardised, rendered document(s)."""

    def __init__(self, *args, crystal_settings: CrystalSettings | None = None, work_folder: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = crystal_settings or CrystalSettings()
        cache = self.settings.robocrys_cache or os.path.join(work_folder or ".", "robocrys")
        self.robocrys = RobocrysDescriber(cache) if "robocrys" in self.settings.forms else None

    def records(self, filepath: str) -> Iterator[CrystalRecord | Failure]:
        raise NotImplementedError

    def read_records(self, filepath: str) -> Iterator[Document | Failure]:
        for item in self.records(filepath):
            if isinstance(item, Failure):
                yield item
                continue
            try:  # a cell numpy cannot handle (infinite lengths, singular metric) fails alone, not its whole file
                docs = list(self.documents(item))
            except Exception as e:  # noqa: BLE001
                yield Failure("invalid_structure", f"{type(e).__name__}: {e}")
                continue
            yield from docs

    def documents(self, record: CrystalRecord) -> Iterator[Document]:
        s = self.settings
        metadata: dict[str, Any] = {"kind": CRYSTAL, **record.metadata}
        if record.database_id:
            metadata["crystal_id"] = record.database_id
        if record.properties:
            metadata["properties"] = record.properties
        problem = record.problem or validate(record.structure, s)
        if problem:
            metadata["crystal_problem"] = problem
            metadata["formula"] = _safe_formula(record.structure) if record.structure is not None else None
            yield Document(text="", id="", metadata=metadata)
            return
        std = standardise(record.structure, s)
        comp = std.structure.composition
        if "crystal_id" not in metadata and "source_id" not in metadata:
            metadata["crystal_id"] = structure_hash(std.structure, s.symprec)
        metadata.update(
            formula=comp.reduced_formula,
            elements=sorted(el.symbol for el in comp.elements),
            spacegroup_symbol=std.spacegroup_symbol,
            spacegroup_number=std.spacegroup_number,
            crystal_system=std.crystal_system,
            nsites=len(std.structure),
            volume=round(std.structure.volume, 4),
            density=round(density(std.structure), 4),
            structure=compact(std.structure),
        )
        key = metadata.get("crystal_id") or metadata.get("source_id")
        texts = [(form, render(form, std, record.properties, s.decimals, s.symprec, self.robocrys, key)) for form in s.forms]
        if s.documents == "one":
            yield Document(text="\n\n".join(t for _, t in texts), id="", metadata=metadata)
            return
        for form, text in texts:  # one document per form: the id and the dedup group name the form
            md = dict(metadata, form=form)
            for k in ("crystal_id", "source_id"):
                if k in md:
                    md[k] = f"{md[k]}#{form}"
            yield Document(text=text, id="", metadata=md)

    def _record_from_dict(self, record: dict, structure: Any, id_value: Any, skip: set[str]) -> CrystalRecord:
        crystal = CrystalRecord(structure_from_dict(structure) if isinstance(structure, dict) else structure)
        crystal.database_id = database_id(id_value)
        if id_value not in (None, "") and crystal.database_id is None:
            crystal.metadata["source_id"] = str(id_value)
        crystal.properties = {k: v for k, v in record.items() if k not in skip and not k.startswith("@") and _scalar(v)}
        return crystal


def _safe_formula(structure) -> str | None:
    try:
        return structure.composition.reduced_formula
    except Exception:  # noqa: BLE001
        return None


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _number(v: str) -> Any:
    """CSV cells as numbers where they are numbers (properties are compared and printed as numbers)."""
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


class CifOptions(ReaderOptions):
    max_bytes: int = Field(64 * 2**20, gt=0, description="larger files fail as too_large")


class CifReader(CrystalReader):
    """CIF files and folders; every `data_` block of a multi-block file is a record."""

    name = "💎 CIF"
    Options = CifOptions
    default_globs = ("*.cif", "**/*.cif")

    def records(self, filepath: str) -> Iterator[CrystalRecord | Failure]:
        with open_bounded(self.data_folder, filepath, self.options.max_bytes) as f:
            data = read_limited(f, self.options.max_bytes)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # CIF 1.1 is ASCII; old files carry Latin-1 author names
        blocks = cif_blocks(text)
        if not blocks:
            yield Failure("unparsable_cif", "no data_ block in the file")
            return
        for line, block in blocks:
            try:
                yield parse_cif_block(block, self.settings)
            except CrystalParseError as e:
                yield Failure(e.kind, str(e), line)


class CsvOptions(ReaderOptions):
    cif_column: str = Field("cif", description="column holding the CIF text")
    id_column: str | None = Field("material_id", description="column holding the record id (a database id such as mp-1234, or the table's own)")
    property_columns: list[str] | None = Field(None, description="columns kept as properties; default: every column but the CIF and the id")
    separator: str = Field(",", description="column separator")
    max_bytes: int = Field(8 * 2**30, gt=0, description="a table larger than this (decompressed) fails as too_large")
    max_cell_bytes: int = Field(64 * 2**20, gt=0, description="a CIF cell larger than this fails the table as too_large")


class CrystalCsvReader(CrystalReader):
    """Tables with a CIF column: the CDVAE / MP-20 format (`material_id, cif, formation_energy_per_atom, ...`)."""

    name = "💎 Crystal CSV"
    Options = CsvOptions
    default_globs = ("*.csv",)

    def records(self, filepath: str) -> Iterator[CrystalRecord | Failure]:
        opt: CsvOptions = self.options
        csv.field_size_limit(opt.max_cell_bytes)
        with open_bounded(self.data_folder, filepath, opt.max_bytes, text=True, newline="", encoding="utf-8", errors="replace") as f:
            rows = csv.DictReader(f, delimiter=opt.separator)
            header = rows.fieldnames or []
            if opt.cif_column not in header:
                yield Failure("missing_column", f"no column {opt.cif_column!r}; columns: {header}")
                return
            keep = set(opt.property_columns) if opt.property_columns is not None else {c for c in header if c}
            skip = {opt.cif_column, opt.id_column} | {c for c in header if c not in keep}
            for n, row in enumerate(rows, 1):
                cif = row.get(opt.cif_column) or ""
                try:
                    record = parse_cif_block(read_cif_column(cif), self.settings)
                except CrystalParseError as e:
                    yield Failure(e.kind, str(e), n)
                    continue
                id_value = row.get(opt.id_column) if opt.id_column else None
                crystal = self._record_from_dict({k: _number(v) for k, v in row.items() if k and v not in (None, "")},
                                                 record.structure, id_value, skip)
                crystal.database_id = crystal.database_id or record.database_id
                if record.problem:
                    crystal.problem, crystal.metadata["cell"] = record.problem, record.metadata["cell"]
                yield crystal


class JsonOptions(ReaderOptions):
    structure_key: str = Field("structure", description="field holding the pymatgen structure dict (absent: the record is the structure)")
    id_key: str | None = Field("material_id", description="field holding the record id")
    records_key: str | None = Field(None, description="a .json file: the field holding the list of records (e.g. data); default: the top-level list")
    compression: str | None = Field("infer", description="infer (from the extension), gzip, zstd, or null")
    max_bytes: int = Field(2 * 2**30, gt=0, description="a .json file larger than this (decompressed) fails as too_large; use JSON Lines for large dumps")
    max_line_bytes: int = Field(64 * 2**20, gt=0, description="a .jsonl line larger than this fails as too_large (the next line is read)")


class CrystalJsonReader(CrystalReader):
    """JSON or JSON Lines dumps of pymatgen structure dicts with properties (Materials Project's export shape)."""

    name = "💎 Crystal JSON"
    Options = JsonOptions
    default_globs = ("*.json", "*.jsonl", "*.json.gz", "*.jsonl.gz")

    def records(self, filepath: str) -> Iterator[CrystalRecord | Failure]:
        opt: JsonOptions = self.options
        if ".jsonl" in os.path.basename(filepath):
            with self.data_folder.open(filepath, "rb", compression=opt.compression) as f:
                for n, line, size in bounded_lines(f, opt.max_line_bytes):
                    if line is None:
                        yield Failure("too_large", f"line of {size:,} bytes exceeds max_line_bytes={opt.max_line_bytes:,}", n)
                    elif line.strip():
                        yield self._one(line, n)
            return
        with open_bounded(self.data_folder, filepath, opt.max_bytes, compression=opt.compression) as f:
            data = read_limited(f, opt.max_bytes, "file (use JSON Lines for large dumps)")
        try:
            top = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            yield Failure("invalid_json", str(e))
            return
        items = top.get(opt.records_key) if opt.records_key and isinstance(top, dict) else top
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            yield Failure("not_a_list", f"expected a list of records{f' under {opt.records_key!r}' if opt.records_key else ''}, got {type(items).__name__}")
            return
        for n, item in enumerate(items, 1):
            yield self._one(item, n)

    def _one(self, item: Any, n: int) -> CrystalRecord | Failure:
        opt: JsonOptions = self.options
        if isinstance(item, (bytes, bytearray)):
            try:
                item = orjson.loads(item)
            except orjson.JSONDecodeError as e:
                return Failure("invalid_json", str(e), n)
        if not isinstance(item, dict):
            return Failure("not_an_object", f"record is a JSON {type(item).__name__}", n)
        structure = item.get(opt.structure_key, item if "lattice" in item else None)
        if structure is None:
            return Failure("missing_structure", f"no field {opt.structure_key!r}; fields: {sorted(item)[:20]}", n)
        try:
            return self._record_from_dict(item, structure, item.get(opt.id_key) if opt.id_key else None, {opt.structure_key})
        except CrystalParseError as e:
            return Failure(e.kind, str(e), n)
