"""Structured-extraction and instruction datasets -> QA pairs: LLaMat's MatSIE files, Dunn et al.'s NERRE sets, MatSci-Instruct.

- `sie(paths)`: the paper's own MatSIE JSONL ({system, question, answer}; doping, general
  materials "mof1", MOF "mof2"), taken as they are; only `*_train` files belong in a manifest.
- `nerre(path, kind)`: Dunn et al.'s general-materials and MOF annotations ({prompt, completion},
  the completion a JSON list ending in `END`), asked with the schema spelled out; the answer is the
  JSON re-serialised, so it always parses. These files are not split: the abstracts LLaMat tests on
  (mof1_test, mof2_test) are in them, and the build's evaluation filter removes them.
- `matsci_instruct(path)`: MatSci-Instruct items {instruction, input, output}.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from corpus.tasks.pairs import QAPair

SYSTEM_EXTRACT = "You are a materials scientist. Extract the requested information and answer in JSON that follows the schema."
SYSTEM_INSTRUCT = "You are a materials science expert. Follow the instruction."

NERRE_SCHEMA = {
    "general": ('[{"name": ..., "formula": ..., "acronym": ..., "structure_or_phase": [...], "description": [...], '
                '"applications": [...]}]'),
    "mof": '[{"name_of_mof": ..., "mof_formula": ..., "mof_description": [...], "guest_species": [...], "applications": [...]}]',
}


def _jsonl(path: str) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def sie(paths: list[str]) -> Iterator[QAPair]:
    for path in paths:
        task = os.path.basename(path).split(".")[0].removesuffix("_train")
        for n, row in enumerate(_jsonl(path)):
            yield QAPair(f"sie:{task}:{n}", "sie", f"sie_{task}", row["system"].strip(), row["question"].strip(),
                         row["answer"].strip(), context=row["question"].strip())


def nerre(path: str, kind: str) -> Iterator[QAPair]:
    if kind not in NERRE_SCHEMA:
        raise ValueError(f"unknown NERRE set {kind!r}; known: {', '.join(NERRE_SCHEMA)}")
    for n, row in enumerate(_jsonl(path)):
        text = row["prompt"].removesuffix("\n\n###\n\n").strip()
        completion = row["completion"].strip().removesuffix("END").strip()
        try:
            answer = json.dumps(json.loads(completion), ensure_ascii=False)
        except json.JSONDecodeError:
            continue  # counted by the caller as not converted
        question = (f"{text}\n\nExtract every material mentioned in this abstract as a JSON list of this form: "
                    f"{NERRE_SCHEMA[kind]}")
        yield QAPair(f"nerre:{kind}:{n}", "nerre", f"nerre_{kind}", SYSTEM_EXTRACT, question, answer, context=text)


def matsci_instruct(path: str) -> Iterator[QAPair]:
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    for n, row in enumerate(rows):
        instruction, given, output = (str(row.get(k) or "").strip() for k in ("instruction", "input", "output"))
        if instruction and output:
            yield QAPair(f"matsci_instruct:{n}", "matsci_instruct", "instruct", SYSTEM_INSTRUCT,
                         f"{instruction}\n\n{given}" if given else instruction, output, context=given)
