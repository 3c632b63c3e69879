"""Crystallographic records as first-class documents: pymatgen objects inside, datatrove steps outside.

- `structures`: parsing (CIF blocks, pymatgen dicts), validation, standardisation, the compact form a
  structure travels in through the pipeline, and canonical structure ids;
- `text`: the textual forms a record is rendered as (P1 CIF, symmetrised CIF, crystal string,
  property sentences, robocrystallographer descriptions);
- `matching`: `StructureMatcher` grouped by (reduced formula, space group), shared by structure dedup
  and by decontamination against benchmark test sets.

The readers live in `corpus.readers.crystals`, the drop rules in `corpus.filters.crystals`.
"""
