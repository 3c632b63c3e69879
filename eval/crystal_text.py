"""Reading a crystal as a language model writes it (LLaMat's and crystal-text-llm's layout): a line of three lengths, a
line of three angles, then an element line and a line of three fractional coordinates per atom.

Real generations do not keep to it (LLaMat's repository keeps the ones its parser refused: prose before the numbers,
a lattice line missing, coordinates without their element, a structure cut off by the token limit). A string is read
as a careful person would read it, and only where that reading is unambiguous:

- prose before the lattice is passed over (`prose_before`), as are words before the three lengths on their line
  ("The lattice is 3.1 3.1 4.2");
- prose after the last whole atom is passed over (`prose_after`) when no number follows it;
- anything else that breaks the layout is a named outcome, never a guess: `no_lattice` (no line of three numbers
  followed by a line of three numbers), `incomplete_lattice` (one line of three numbers where a lattice needs two: lengths, then angles), `odd_lines` (coordinates with no
  element before them, or an element with none after it, inside the structure), `truncated` (the text ends inside
  an atom: an element without coordinates, or fewer than three coordinates), `unknown_species` (a line where an
  element stands that names none, with more numbers after it).
An atom is never invented, dropped or reassigned: a reading that would need one is a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
SPECIES = re.compile(r"^[A-Z][a-z]?(?:\d*[+-])?$")  # an element symbol as a model writes it: "Fe", "Fe2+", "O2-"


class CrystalTextError(ValueError):
    """A string that does not read as a crystal; `outcome` names why."""

    def __init__(self, outcome: str, message: str):
        super().__init__(message)
        self.outcome = outcome


@dataclass
class CrystalText:
    lengths: list[float]
    angles: list[float]
    species: list[str]
    coords: list[list[float]]
    passed_over: list[str] = field(default_factory=list)  # what was read past: prose_before, prose_after


def numbers(line: str) -> list[float] | None:
    """The line's numbers when it is only numbers (commas and brackets read as spaces), else None."""
    tokens = line.replace(",", " ").replace("[", " ").replace("]", " ").split()
    if not tokens or not all(NUMBER.match(t) for t in tokens):
        return None
    return [float(t) for t in tokens]


def trailing_three(line: str) -> list[float] | None:
    """The three numbers that end a line of words ("the lattice is 3.1 3.1 4.2"), when exactly three do."""
    tokens = line.replace(",", " ").split()
    tail = []
    for token in reversed(tokens):
        if not NUMBER.match(token):
            break
        tail.append(float(token))
    return tail[::-1] if len(tail) == 3 else None


def _element_like(line: str) -> bool:
    return bool(SPECIES.match(line.strip()))


def read_crystal_text(text: str) -> CrystalText:
    """The lattice and atoms of a generated crystal string; CrystalTextError naming why there are none."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if not lines:
        raise CrystalTextError("empty", "no text")
    passed: list[str] = []
    start, lone = None, None
    for i, line in enumerate(lines[:-1]):
        values = numbers(line)
        three = values if values is not None and len(values) == 3 else trailing_three(line) if values is None else None
        if three is None:
            continue
        angles = numbers(lines[i + 1])
        if angles is None or len(angles) != 3:
            lone = lone or (three, lines[i + 1])
            if i == 0 and values is not None:
                break  # the layout's own first line, without angles after it: nothing was passed over to look further
            continue
        if i == 0 and values is not None:  # the layout as written: read as it stands, as CDVAE's parser would
            start, lengths = i, three
            break
        # past words, the numbers found must be a lattice's: two lines of coordinates in [0, 1] after some prose are
        # atoms whose element lines are lost, not lengths and angles
        if all(1.0 < a < 179.0 for a in angles) and max(three) > 1.0:
            start, lengths = i, three
            passed.append("prose_before")
            break
    if start is None:
        if lone is not None:
            raise CrystalTextError("incomplete_lattice", f"the lengths {lone[0]} are not followed by three angles: {lone[1][:60]!r}")
        raise CrystalTextError("no_lattice", "no line of three lengths followed by a line of three angles")
    angles = numbers(lines[start + 1])
    species: list[str] = []
    coords: list[list[float]] = []
    rest = lines[start + 2:]
    i = 0
    while i < len(rest):
        line = rest[i]
        values = numbers(line)
        if values is not None:  # a coordinate line where an element should stand
            if len(values) < 3 and i == len(rest) - 1:
                raise CrystalTextError("truncated", f"the text ends inside atom {len(species) + 1}: {line[:60]!r}")
            raise CrystalTextError("odd_lines", f"coordinates with no element before them, after atom {len(species)}: {line[:60]!r}")
        if not _element_like(line):
            if not any(numbers(later) is not None for later in rest[i + 1:]) and species:
                passed.append("prose_after")  # words after the last whole atom, and no number after them
                break
            raise CrystalTextError("unknown_species", f"{line[:40]!r} stands where an element should")
        if i + 1 == len(rest):
            raise CrystalTextError("truncated", f"the text ends after the element of atom {len(species) + 1} ({line})")
        values = numbers(rest[i + 1])
        if values is None:
            if _element_like(rest[i + 1]):
                raise CrystalTextError("odd_lines", f"element {line} of atom {len(species) + 1} has no coordinates")
            if not any(numbers(later) is not None for later in rest[i + 2:]):
                raise CrystalTextError("truncated", f"the text ends after the element of atom {len(species) + 1} ({line})")
            raise CrystalTextError("odd_lines", f"element {line} of atom {len(species) + 1} is followed by {rest[i + 1][:40]!r}")
        if len(values) != 3:
            if i + 2 == len(rest):
                raise CrystalTextError("truncated", f"the text ends inside atom {len(species) + 1}: {rest[i + 1][:60]!r}")
            raise CrystalTextError("odd_lines", f"atom {len(species) + 1} has {len(values)} coordinates")
        species.append(line)
        coords.append(values)
        i += 2
    if not species:
        raise CrystalTextError("empty", "a lattice and no atoms")
    return CrystalText(lengths, angles, species, coords, passed)
