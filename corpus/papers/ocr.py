"""OCR for PDF pages without a usable text layer (scans of older literature), on the CPU, with Tesseract.

Tesseract 5 (Debian's `tesseract-ocr`, its English LSTM model in the package: nothing downloaded at run time)
reads a page rendered at `dpi`; its TSV output gives every word with its block, paragraph and line and their
boxes, which become the same `Line`/`Block` objects the text layer gives, so OCR'd pages go through the same
layout logic (columns, running heads, headings, captions, references) and section policy. Chosen over
rapidocr (PP-OCR ONNX models in the wheel) because it is one Debian package with no Python dependencies and
gives paragraph and line structure, which the layout logic needs; its accuracy and speed on the de-layered
1987/89 SuperMat scans are in BENCHMARKS.md ("OCR").

A page needs OCR when its text layer has fewer than `min_chars` characters, or when what it has is garbage: a
font without a Unicode map (`(cid:12)` runs, U+FFFD) or mostly characters that are neither letters, digits,
spaces nor punctuation.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from collections import defaultdict

_CID = re.compile(r"\(cid:\d+\)")


def tesseract() -> str | None:
    return shutil.which("tesseract")


_VISIBLE = re.compile(r"\S")
_ORDINARY = re.compile(r"[^\W_]|[.,;:()\[\]\-'\"%/+=<>]")  # letters and digits of any script, common punctuation


def garbage_layer(text: str) -> bool:
    """A text layer that holds no readable text: unmapped glyphs or symbol soup. (Run on every page of every PDF,
    so it counts with regular expressions rather than a Python loop over the characters.)"""
    visible = len(_VISIBLE.findall(text))
    if not visible:
        return False
    if len(_CID.findall(text)) * 6 > 0.3 * visible or text.count("\ufffd") > 0.1 * visible:
        return True
    return len(_ORDINARY.findall(text)) < 0.6 * visible


def ocr_page_words(png: bytes, timeout_s: float = 120) -> list[dict]:
    """Tesseract's words of one page image: text, conf, block/par/line ids and the box in pixels."""
    done = subprocess.run([tesseract() or "tesseract", "stdin", "stdout", "--psm", "3", "-l", "eng", "tsv"],
                          input=png, capture_output=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"tesseract exit {done.returncode}: {done.stderr.decode('utf-8', 'replace')[-300:]}")
    rows = csv.DictReader(io.StringIO(done.stdout.decode("utf-8", "replace")), delimiter="\t", quoting=csv.QUOTE_NONE)
    words = []
    for r in rows:
        if r.get("level") != "5" or not (r.get("text") or "").strip():
            continue
        try:
            words.append({"text": r["text"], "conf": float(r["conf"]), "block": int(r["block_num"]), "par": int(r["par_num"]),
                          "line": int(r["line_num"]), "box": (int(r["left"]), int(r["top"]), int(r["left"]) + int(r["width"]),
                                                              int(r["top"]) + int(r["height"]))})
        except (KeyError, ValueError):
            continue
    return words


def group_lines(words: list[dict]) -> dict[tuple[int, int], list[tuple[str, tuple, float]]]:
    """(block, paragraph) -> its lines in order: (text, box in pixels, height in pixels)."""
    lines: dict[tuple[int, int, int], list[dict]] = defaultdict(list)
    for w in words:
        lines[(w["block"], w["par"], w["line"])].append(w)
    out: dict[tuple[int, int], list[tuple[str, tuple, float]]] = defaultdict(list)
    for (block, par, _), ws in sorted(lines.items()):
        ws.sort(key=lambda w: w["box"][0])
        box = (min(w["box"][0] for w in ws), min(w["box"][1] for w in ws), max(w["box"][2] for w in ws), max(w["box"][3] for w in ws))
        heights = sorted(w["box"][3] - w["box"][1] for w in ws)
        out[(block, par)].append((" ".join(w["text"] for w in ws), box, heights[len(heights) // 2]))
    return out
