"""Scores as LLaMat computed them, per task, from (item, prediction) pairs.

- MatNLP: every predicted label is mapped to the nearest allowed label by Levenshtein distance
  (rapidfuzz), then sklearn's micro and macro F1. Token tasks (`word : label` lines) are aligned by
  position, a missing line counting as `null`, and scored over the entity labels (not `null`);
  classification and relation tasks take the answer's first line; event-argument tasks score the
  set of (argument, role) lines of each item.
- MatSIE: parsability of the JSON, exact match of the parsed JSON, Jaro-Winkler similarity of the
  two strings, entity F1 over (field, value) leaves and link F1 over (dopant, host) pairs (doping)
  or (first field value, field, value) triples (lists of records), summed over items.
- MaScQA: accuracy per question type: the option letters after "Answer:" (else the last standalone
  A-D) for MCQS, MATCH and MCQS-NUM, against MaScQA's key (one letter; all of several; either of
  'C OR D'; 'Marks to all' counts any answer); for NUM the number after "Answer:" (else the last
  number), right when inside the answer range.
- Crystal understanding: every number of the reference matched within 1% (space group: its
  number), else the first word, case-insensitive.
- Crystal generation: CDVAE's validity (over all generations and over parsed ones), coverage and
  Wasserstein distances, all generations of the run against the test crystals they were asked for; and LLaMat's
  conditional-generation metrics (formula match, parse success, valid match rate, space-group match, by crystal
  system and element count: eval/conditional_generation.py) against each prompt's formula and space group.
- General English (eval/general_english.py): SQuAD's official exact match and token F1; the multiple-choice
  sets (HellaSwag, BoolQ, ARC, PIQA, StoryCloze) mapped to the nearest allowed answer, then micro/macro F1.
All scores are percentages (0-100) except Jaro-Winkler similarity and the SIE F1s (0-1, as the
paper prints them).
"""

from __future__ import annotations

import re
import string
from collections import Counter, defaultdict

from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler, Levenshtein
from sklearn.metrics import f1_score

from corpus.readers.bounded import TooDeep, loads_bounded

_PUNCTUATION = set(string.punctuation)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def nearest_label(text: str, labels: list[str]) -> str:
    text = text.strip().lower()
    if text in labels:
        return text
    return process.extractOne(text, labels, scorer=Levenshtein.distance)[0]


def _lines(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.strip().splitlines():
        word, sep, label = line.rpartition(" : ")
        if sep:
            out.append((word.strip(), label.strip().lower()))
    return out


TOKEN_TASKS = ("ner_matscholar", "ner_sofc", "sf_sofc", "sar")
EVENT_TASKS = ("ee_sc_comics", "ee_synthesis")


def _f1(y_true: list[str], y_pred: list[str], labels: list[str]) -> dict:
    if not labels or not y_true:
        return {"micro_f1": 0.0, "macro_f1": 0.0}
    return {"micro_f1": 100 * f1_score(y_true, y_pred, labels=labels, average="micro", zero_division=0),
            "macro_f1": 100 * f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)}


def score_matnlp(task: str, pairs: list[tuple]) -> dict:
    if task in TOKEN_TASKS:
        labels = sorted({lab for item, _ in pairs for _, lab in _lines(item.reference)} | {"null"})
        y_true, y_pred = [], []
        for item, prediction in pairs:
            gold, got = _lines(item.reference), _lines(prediction)
            y_true += [lab for _, lab in gold]
            y_pred += [nearest_label(got[k][1], labels) if k < len(got) else "null" for k in range(len(gold))]
        return _f1(y_true, y_pred, [lab for lab in labels if lab != "null"])
    if task in EVENT_TASKS:
        roles = sorted({lab for item, _ in pairs for _, lab in _lines(item.reference)}) or ["none"]
        tp, fp, fn = Counter(), Counter(), Counter()
        for item, prediction in pairs:
            gold = {(w.lower(), r) for w, r in _lines(item.reference)}
            got = {(w.lower(), nearest_label(r, roles)) for w, r in _lines(prediction)}
            for w, r in got & gold:
                tp[r] += 1
            for w, r in got - gold:
                fp[r] += 1
            for w, r in gold - got:
                fn[r] += 1
        f1 = {r: (2 * tp[r] / (2 * tp[r] + fp[r] + fn[r]) if tp[r] + fp[r] + fn[r] else 1.0) for r in roles}
        total = sum(tp.values()), sum(fp.values()), sum(fn.values())
        micro = 2 * total[0] / (2 * total[0] + total[1] + total[2]) if sum(total) else 1.0
        return {"micro_f1": 100 * micro, "macro_f1": 100 * sum(f1.values()) / len(f1)}
    labels = sorted({item.reference.strip().lower() for item, _ in pairs})
    y_true = [item.reference.strip().lower() for item, _ in pairs]
    y_pred = [nearest_label((prediction.strip().splitlines() or [""])[0], labels) for _, prediction in pairs]
    return _f1(y_true, y_pred, labels)


def parse_json(text: str):
    """The JSON value in a model's answer (also inside prose or a code fence), or raises ValueError."""
    text = text.strip()
    try:
        return loads_bounded(text, what="an answer")
    except TooDeep:
        raise
    except ValueError:
        pass
    for open_, close in (("{", "}"), ("[", "]")):
        a, b = text.find(open_), text.rfind(close)
        if 0 <= a < b:
            try:
                return loads_bounded(text[a : b + 1], what="an answer")
            except TooDeep:
                raise
            except ValueError:
                continue
    raise ValueError("no JSON in the answer")


def _leaves(value, path: str = "") -> set[tuple[str, str]]:
    """(field path without list positions or host/dopant keys, lower-cased value) of every non-empty leaf."""
    out = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "dopants2basemats":  # references between keys: scored as links, not entities
                continue
            key = path if re.fullmatch(r"[bdh]\d+", str(k)) else f"{path}.{k}" if path else str(k)
            out |= _leaves(v, key)
    elif isinstance(value, list):
        for v in value:
            out |= _leaves(v, path)
    elif value not in (None, ""):
        out.add((path, str(value).strip().lower()))
    return out


# The field each MatSIE record task links from, as the paper's per-link tables do (mof1_all.csv: formula|||name,
# ...; mof2_all.csv: name_of_mof|||mof_formula, ...). The records' key order varies within a file, so the head is
# named, not taken as the first key; a record whose head is empty has nothing to link from.
LINK_HEADS = {"sie_mof1": "formula", "sie_mof2": "name_of_mof"}


def _links(value, head: str | None = None) -> set[tuple]:
    if isinstance(value, dict) and "dopants2basemats" in value:  # doping: (dopant, host) pairs
        dop, hosts = value.get("dopants") or {}, value.get("basemats") or {}
        return {(str(dop.get(d, d)).lower(), str(hosts.get(h, h)).lower())
                for d, hs in (value.get("dopants2basemats") or {}).items() for h in (hs or [])}
    if isinstance(value, list):  # records: (head field's value, other field, its value); head: the task's or the first key
        out = set()
        for rec in value:
            if isinstance(rec, dict) and rec:
                key = head if head is not None else list(rec)[0]
                if head is not None and (not isinstance(rec.get(key), str) or not rec[key].strip()):
                    continue
                value_of_head = str(rec.get(key)).lower()
                for k in [k for k in rec if k != key]:
                    for v in rec[k] if isinstance(rec[k], list) else [rec[k]]:
                        if v not in (None, ""):
                            out.add((value_of_head, k, str(v).lower()))
        return out
    return set()


def _prf(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def _count(counts: list[int], gold: set, predicted: set) -> None:
    counts[0] += len(gold & predicted)
    counts[1] += len(predicted - gold)
    counts[2] += len(gold - predicted)


def _count_by(by: dict[str, list[int]], label, gold: set, predicted: set) -> None:
    for k in {label(x) for x in gold | predicted}:
        _count(by.setdefault(k, [0, 0, 0]), {x for x in gold if label(x) == k}, {x for x in predicted if label(x) == k})


def score_sie(task: str, pairs: list[tuple]) -> dict:
    """Entity and link F1 pooled over the items, Jaro-Winkler similarity, exact match and parsability; for the
    record tasks the paper breaks down (LINK_HEADS), also entity F1 per field and link F1 per head|||field."""
    parsable = exact = 0
    similarity = 0.0
    ent, link = [0, 0, 0], [0, 0, 0]
    per_field: dict[str, list[int]] = {}
    per_link: dict[str, list[int]] = {}
    head = LINK_HEADS.get(task)
    for item, prediction in pairs:
        gold = parse_json(item.reference)
        similarity += JaroWinkler.normalized_similarity(prediction.strip(), item.reference.strip())
        try:
            got = parse_json(prediction)
            parsable += 1
        except ValueError:
            got = None
        exact += int(got == gold)
        g_ent, p_ent = _leaves(gold), _leaves(got) if got is not None else set()
        g_link, p_link = _links(gold, head), _links(got, head) if got is not None else set()
        _count(ent, g_ent, p_ent)
        _count(link, g_link, p_link)
        if head:
            _count_by(per_field, lambda x: x[0].split(".")[0], g_ent, p_ent)
            _count_by(per_link, lambda x: f"{head}|||{x[1]}", g_link, p_link)
    n = max(1, len(pairs))
    out = {"entity_f1": _prf(*ent), "link_f1": _prf(*link), "similarity": similarity / n, "exact_match": 100 * exact / n,
           "parsable": 100 * parsable / n}
    out.update({f"entity_f1:{k}": _prf(*c) for k, c in sorted(per_field.items())})
    out.update({f"link_f1:{k}": _prf(*c) for k, c in sorted(per_link.items())})
    return out


def _letters(text: str) -> list[str]:
    return re.findall(r"(?<![A-Za-z])\(?([A-D])\)?(?![A-Za-z])", text)


def mascqa_correct(item, prediction: str) -> bool:
    """MaScQA's key: one letter; several ('B,D': all of them, no more); 'C OR D' (either); 'Marks to all' (any answer)."""
    ref = item.reference.strip().upper()
    if ref == "MARKS TO ALL":
        return True
    tail = re.split(r"answer\s*(?:is)?\s*[:\-]?", prediction, flags=re.IGNORECASE)
    if item.meta.get("qtype") == "NUM":
        numbers = _NUMBER.findall(tail[-1] if len(tail) > 1 else prediction)
        if not numbers:
            return False
        value = float(numbers[0] if len(tail) > 1 else numbers[-1])
        bounds = [float(x) for x in _NUMBER.findall(ref)]
        return min(bounds) - 1e-9 <= value <= max(bounds) + 1e-9
    # the letters after the last "Answer:", else the last letter written
    short = len(prediction.strip()) <= 20  # a bare answer such as "B, D"
    got = _letters(tail[-1].upper()) if len(tail) > 1 or short else _letters(prediction.upper())[-1:]
    if not got:
        return False
    if " OR " in ref:
        return got[0] in _letters(ref)
    if len(want := _letters(ref)) > 1:
        return set(got) == set(want)
    return got[0] == ref


def score_mascqa(task: str, pairs: list[tuple]) -> dict:
    return {"accuracy": 100 * sum(mascqa_correct(i, p) for i, p in pairs) / max(1, len(pairs))}


def crystal_correct(item, prediction: str) -> bool:
    ref = item.reference
    if item.task == "crystal_space_group":
        want = re.search(r"No\. (\d+)", ref).group(1)
        return re.search(rf"(?<!\d){want}(?!\d)", prediction) is not None
    numbers = [float(x) for x in _NUMBER.findall(ref)]
    if numbers and item.task != "crystal_formula":
        got = [float(x) for x in _NUMBER.findall(prediction)]
        return len(got) >= len(numbers) and all(abs(g - w) <= 0.01 * max(abs(w), 1e-9) + 1e-9 for g, w in zip(got, numbers))
    words = prediction.strip().split()
    return bool(words) and words[0].strip(".,").lower() == ref.strip().split()[0].lower()


def score_crystal(task: str, pairs: list[tuple]) -> dict:
    return {"accuracy": 100 * sum(crystal_correct(i, p) for i, p in pairs) / max(1, len(pairs))}


def score_generation(task: str, pairs: list[tuple]) -> dict:
    """All generations together against the structures they were asked for (CDVAE's metrics, eval/crystal_metrics.py)."""
    from eval.crystal_metrics import cutoffs_for, metrics, parse_generation, parse_structure

    from eval.conditional_generation import conditional_metrics

    reference = [s for s in (parse_structure(item.reference) for item, _ in pairs) if s is not None]
    read = [parse_generation(p) for _, p in pairs]
    out = metrics([g.structure for g in read], reference, cutoffs_for(pairs[0][0].meta.get("reference_set", "")) if pairs else None,
                  outcomes=[g.outcome for g in read], species=[g.species for g in read])
    # each item asked for a formula and a space group: LLaMat's conditional-generation metrics
    out.update(conditional_metrics([g.structure for g in read], [i.meta.get("formula") for i, _ in pairs],
                                   [i.meta.get("spacegroup") for i, _ in pairs]))
    return out


def squad_normalise(text: str) -> str:
    """SQuAD v1.1's official answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def squad_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 of one answer against one gold answer (0-1)."""
    got, want = squad_normalise(prediction).split(), squad_normalise(gold).split()
    common = sum((Counter(got) & Counter(want)).values())
    if not common:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def squad_answer(prediction: str) -> str:
    """The answer a chat model gives: its first non-empty line, without an "Answer:" lead."""
    return re.sub(r"^(?:the\s+)?answer\s*(?:is)?\s*[:\-]\s*", "", _first_line(prediction), flags=re.IGNORECASE)


def choice_label(prediction: str, labels: list[str], options: list[str]) -> str:
    """The allowed answer nearest to a model's answer: an option label it starts with ("B", "(B)", "B. ..."), else the
    label of the option text (or label word: yes/no) nearest by Levenshtein distance."""
    first = re.sub(r"^(?:the\s+)?(?:correct\s+)?(?:answer|option)\s*(?:is)?\s*[:\-]?\s*", "", _first_line(prediction), flags=re.IGNORECASE)
    for label in labels:
        # a one-character label stands alone or before ) . : , ("A man ..." is an ending's text, not option A);
        # a word label (yes/no) starts the answer as a word, in any case
        pattern = rf"^\(?{re.escape(label)}(?:\)|\.|:|,|$)" if len(label) == 1 else rf"^{re.escape(label)}\b"
        if re.match(pattern, first, flags=0 if len(label) == 1 else re.IGNORECASE):
            return label
    texts = [o.lower() for o in options] + [lab.lower() for lab in labels]
    return labels[texts.index(nearest_label(first, texts)) % len(labels)]


def score_general(task: str, pairs: list[tuple]) -> dict:
    """SQuAD: official exact match and token F1 (max over gold answers), in percent. Multiple choice: the answer
    mapped to the nearest allowed answer, micro and macro F1 over the option labels (eval/general_english.py)."""
    if task == "squad":
        em = f1 = 0.0
        for item, prediction in pairs:
            answer = squad_answer(prediction)
            golds = item.meta.get("answers") or [item.reference]
            em += max(float(squad_normalise(answer) == squad_normalise(g)) for g in golds)
            f1 += max(squad_f1(answer, g) for g in golds)
        n = max(1, len(pairs))
        return {"exact_match": 100 * em / n, "f1": 100 * f1 / n}
    y_true = [item.reference for item, _ in pairs]
    y_pred = [choice_label(prediction, item.meta["labels"], item.meta["options"]) for item, prediction in pairs]
    # macro over the labels answered or asked for (sklearn's default): ARC's rare E and 1-4 labels would otherwise
    # count as classes scored 0 in a sample without them
    return _f1(y_true, y_pred, sorted(set(y_true) | set(y_pred)))


SCORERS = {"matnlp": score_matnlp, "matsie": score_sie, "mascqa": score_mascqa, "crystal_understanding": score_crystal,
           "crystal_generation": score_generation, "general_english": score_general}


def score(items: list, predictions: dict[str, str]) -> dict[str, dict]:
    """task -> its scores (plus `items`, the number scored); an item without a prediction scores as an empty answer."""
    by_task = defaultdict(list)
    for item in items:
        by_task[(item.group, item.task)].append((item, predictions.get(item.id, "")))
    return {task: {**SCORERS[group](task, pairs), "items": len(pairs)} for (group, task), pairs in sorted(by_task.items())}
