"""Realistic bad documents made from real text: the failures paper pipelines actually produce.

Test tooling (not a filter): used by the tests and by benchmarks/filters.py to measure how much garbage the
quality filter catches, per kind. Each maker
takes a real document's text and a seeded RNG and returns the damaged version.
"""

from __future__ import annotations

import random
import textwrap


def font_garble(text: str, rng: random.Random) -> str:
    """A PDF font without a ToUnicode map: most glyphs come out as (cid:NN)."""
    out = []
    for ch in text[:6000]:
        out.append(f"(cid:{ord(ch) % 90 + 3})" if ch.isalnum() and rng.random() < 0.8 else ch)
    return "".join(out)


def encoding_garble(text: str, rng: random.Random) -> str:
    """UTF-8 read as Windows-1252 (mojibake), then written back with undecodable bytes replaced."""
    damaged = text[:8000].encode("utf-8").decode("cp1252", errors="replace")
    return "".join("\ufffd" if ch.isalpha() and rng.random() < 0.03 else ch for ch in damaged)


def letter_spaced(text: str, rng: random.Random) -> str:
    """OCR of a letter-spaced title page or a bad text layer: 'T h e  s a m p l e'."""
    return "  ".join(" ".join(word) for word in text[:5000].split())


def _columns(text: str, rng: random.Random) -> tuple[list[str], list[str]]:
    """The text set in two columns of a width typical of two-column papers (30-60 characters)."""
    width, half = rng.randint(30, 60), len(text) // 2
    return textwrap.wrap(text[:half], width), textwrap.wrap(text[half:], width)


def interleaved_columns(text: str, rng: random.Random) -> str:
    """Two columns read across: line i of the left column, then line i of the right column, on one line (joined by
    a space, or by the run of spaces a layout-keeping extractor writes)."""
    left, right = _columns(text, rng)
    gap = " " * rng.choice([1, 1, 4])
    return "\n".join(f"{a}{gap}{b}" for a, b in zip(left, right))


def interleaved_lines(text: str, rng: random.Random) -> str:
    """Two columns read across, each column line its own output line: left 1, right 1, left 2, right 2, ..."""
    left, right = _columns(text, rng)
    return "\n".join(line for pair in zip(left, right) for line in pair)


def number_dump(text: str, rng: random.Random) -> str:
    """A table body extracted without its prose: rows of measured values."""
    rows = []
    for _ in range(60):
        rows.append("  ".join(f"{rng.uniform(0, 1000):.{rng.choice([1, 2, 3])}f}" for _ in range(rng.randint(4, 8))))
    return "\n".join(rows)


def repeated_lines(text: str, rng: random.Random) -> str:
    """An extraction loop: the same few lines again and again."""
    lines = textwrap.wrap(text[:600], 80)
    return "\n".join(lines * 25)


def boilerplate(text: str, rng: random.Random) -> str:
    """A publisher notice with nothing else: erratum, retraction or table of contents."""
    title = " ".join(text.split()[:12])
    kind = rng.choice(["erratum", "retraction", "toc"])
    if kind == "erratum":
        return f"Erratum\n{title}\nThe authors regret that the affiliation of the second author was printed incorrectly. The correct affiliation is given below. The authors apologise for any inconvenience caused."
    if kind == "retraction":
        return f"Retraction notice to \"{title}\"\nThis article has been retracted at the request of the Editor-in-Chief. Please see the journal policy on article withdrawal."
    return "Table of contents\n" + "\n".join(f"{title} ... {rng.randint(1, 400)}" for _ in range(8))


def non_english(text: str, rng: random.Random) -> str:
    """Materials papers in other languages (hand-written examples: the shared data holds no non-English papers)."""
    return rng.choice(NON_ENGLISH)


NON_ENGLISH = [
    "Die Festoxidbrennstoffzelle wurde bei 800 °C betrieben. Die Kathode aus Lanthan-Strontium-Kobaltit zeigte nach "
    "tausend Stunden eine deutliche Degradation, die wir auf die Segregation von Strontium an der Oberfläche zurückführen. "
    "Impedanzspektroskopie und Röntgenbeugung bestätigen, dass sich eine isolierende Zwischenschicht gebildet hat, deren "
    "Dicke mit der Betriebsdauer zunimmt. Wir schlagen eine Schutzschicht aus Ceroxid vor, um diesen Effekt zu verhindern.",
    "Les couches minces de dioxyde de titane ont été déposées par pulvérisation cathodique sur des substrats de silicium. "
    "La phase anatase apparaît après un recuit à 450 °C, tandis que la phase rutile domine au-delà de 700 °C. Les mesures "
    "de photoluminescence montrent que la densité de défauts diminue avec la température de recuit, ce qui améliore "
    "l'activité photocatalytique sous irradiation ultraviolette.",
    "Las aleaciones de alta entropía presentan una resistencia mecánica notable a temperaturas elevadas. En este trabajo "
    "estudiamos la microestructura de una aleación equimolar de cobalto, cromo, hierro, manganeso y níquel mediante "
    "microscopía electrónica de transmisión, y observamos que la formación de maclas durante la deformación explica "
    "el aumento simultáneo de la resistencia y la ductilidad a temperaturas criogénicas.",
    "本文研究了锂离子电池正极材料磷酸铁锂的电化学性能。通过碳包覆和纳米化处理，材料的倍率性能显著提高，在十倍率下"
    "仍保持百分之八十以上的容量。循环测试表明，经过一千次充放电循环后，容量保持率达到百分之九十五，说明该材料具有"
    "良好的结构稳定性和应用前景。此外，我们利用X射线衍射和透射电子显微镜分析了材料的晶体结构和形貌，发现碳包覆层厚度"
    "约为三纳米，均匀地覆盖在颗粒表面，有效抑制了颗粒团聚并改善了电子电导率。电化学阻抗谱显示电荷转移电阻明显降低，"
    "锂离子扩散系数提高了一个数量级。这些结果为高功率锂离子电池正极材料的设计提供了新的思路。",
]

KINDS = {
    "font_garble": font_garble,
    "encoding_garble": encoding_garble,
    "letter_spaced_ocr": letter_spaced,
    "interleaved_columns": interleaved_columns,
    "interleaved_lines": interleaved_lines,
    "number_dump": number_dump,
    "repeated_lines": repeated_lines,
    "boilerplate": boilerplate,
    "non_english": non_english,
}
