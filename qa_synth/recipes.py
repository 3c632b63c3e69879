"""Text-mined synthesis recipes (Kononova et al. solid-state, Wang et al. sol-gel; CederGroupHub) -> grounded QA pairs.

Every answer is read from the structured record, never written by hand:

  recipe_precursors  which precursors make the target by this method       <- precursors
  recipe_reaction    the balanced reaction from the named precursors        <- reaction_string
  recipe_route       the operations in order with their conditions          <- operations
  recipe_heating     heating temperatures, times and atmospheres            <- HeatingOperation conditions

The paragraph text in the public release is truncated ("<...>"), so questions name the target and
precursors instead of quoting it. A target made by several papers from the same precursors gives the
same question; the build's exact and near-duplicate passes keep one.
"""

from __future__ import annotations

import json
import lzma
import os
import random
import re
from collections.abc import Iterator

from corpus.tasks.pairs import QAPair

SYSTEM = "You are a materials scientist who plans inorganic syntheses."

PROMPTS = {
    "recipe_precursors": ["Which precursors can be used to make {target} by {method} synthesis?",
                          "Suggest starting materials for the {method} synthesis of {target}.",
                          "What precursors would you use to prepare {target} by a {method} route?",
                          "List suitable precursors for synthesising {target} ({method} method)."],
    "recipe_reaction": ["Write the balanced reaction for making {target} from {precursors} by {method} synthesis.",
                        "Balance the {method} synthesis reaction of {target} from {precursors}.",
                        "Give the balanced chemical equation for preparing {target} from {precursors}.",
                        "What is the balanced reaction when {precursors} react to form {target}?"],
    "recipe_route": ["Outline a {method} synthesis of {target} from {precursors}: list the operations in order, with conditions.",
                     "Describe, step by step, how to make {target} from {precursors} by a {method} route.",
                     "Give the sequence of synthesis operations for {target} starting from {precursors}.",
                     "What steps does a {method} synthesis of {target} from {precursors} take?"],
    "recipe_heating": ["At what temperature and for how long is {target} heated when made from {precursors}?",
                       "Give the heating conditions (temperature, time, atmosphere) for the {method} synthesis of {target}.",
                       "What heat treatment does the synthesis of {target} from {precursors} use?",
                       "Report the firing temperatures and durations used to prepare {target}."],
}
TASKS = tuple(PROMPTS)

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _operation_name(kind: str) -> str:
    """'HeatingOperation' -> 'heating', 'LiquidGrinding' -> 'liquid grinding'."""
    return _CAMEL.sub(" ", (kind or "").removesuffix("Operation")).lower().strip() or "operation"


def _number(x: float) -> str:
    return f"{x:g}"


def _quantity(q: dict) -> str | None:
    units = {"C": "°C", "K": "K"}.get(q.get("units") or "", q.get("units") or "")
    values = [v for v in q.get("values") or [] if v is not None]
    lo, hi = q.get("min_value"), q.get("max_value")
    if values:
        text = " or ".join(_number(v) for v in values)
    elif lo is not None and hi is not None and lo != hi:
        text = f"{_number(lo)}-{_number(hi)}"
    elif lo is not None or hi is not None:
        text = _number(lo if lo is not None else hi)
    else:
        return None
    return f"{text} {units}".strip()


def _listed(value) -> list[str]:
    if not value:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value]) if v]


def _conditions(op: dict) -> str:
    c = op.get("conditions") or {}
    parts = []
    temperatures = [t for t in (_quantity(q) for q in c.get("heating_temperature") or []) if t]
    times = [t for t in (_quantity(q) for q in c.get("heating_time") or []) if t]
    if temperatures:
        parts.append("at " + ", ".join(temperatures))
    if times:
        parts.append("for " + ", ".join(times))
    if _listed(c.get("heating_atmosphere")):
        parts.append("in " + ", ".join(_listed(c.get("heating_atmosphere"))))
    if _listed(c.get("mixing_media")):
        parts.append("with " + ", ".join(_listed(c.get("mixing_media"))))
    if _listed(c.get("mixing_device")):
        parts.append("using " + ", ".join(_listed(c.get("mixing_device"))))
    return " ".join(parts)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def recipe_answers(r: dict) -> dict[str, str]:
    """Each task's answer for one recipe; a task the record cannot answer is absent."""
    out = {}
    precursors = [p.get("material_formula") or p.get("material_string") for p in r.get("precursors") or []]
    precursors = list(dict.fromkeys(p for p in precursors if p))
    if precursors:
        out["recipe_precursors"] = _and(precursors)
    if r.get("reaction_string") and precursors:
        out["recipe_reaction"] = r["reaction_string"].replace(" == ", " → ")
    steps = []
    for op in r.get("operations") or []:
        name = _operation_name(op.get("type"))
        detail = _conditions(op)
        steps.append(f"{len(steps) + 1}. {name} ({op.get('token')})" + (f" {detail}" if detail else ""))
    if len(steps) >= 2 and precursors:
        out["recipe_route"] = "\n".join(steps)
    heating = [_conditions(op) for op in r.get("operations") or [] if _operation_name(op.get("type")) == "heating"]
    heating = [h for h in heating if "at " in h or "for " in h]
    if heating and precursors:
        out["recipe_heating"] = "\n".join(f"Heating step {k + 1}: {h}" for k, h in enumerate(heating))
    return out


def load(path: str) -> list[dict]:
    """A CederGroupHub release (JSON, optionally .xz): {"reactions": [...]} or a bare list."""
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    return data["reactions"] if isinstance(data, dict) else data


def pairs(path: str, method: str, rng: random.Random, tasks: list[str] | None = None) -> Iterator[QAPair]:
    """Pairs of one release; `method` names the route in the questions ('solid-state', 'sol-gel')."""
    stem = os.path.basename(path).split("_")[0]
    for n, r in enumerate(load(path)):
        target = (r.get("target") or {}).get("material_formula") or ", ".join(r.get("targets_string") or [])
        if not target:
            continue
        answers = recipe_answers(r)
        precursors = answers.get("recipe_precursors", "")
        for task in tasks or TASKS:
            if task in answers:
                question = rng.choice(PROMPTS[task]).format(target=target, precursors=precursors, method=method)
                yield QAPair(f"recipe:{stem}:{n}:{task}", "synthesis_recipes", task, SYSTEM, question, answers[task])
