"""General-English retention tasks: what LLaMat checks its materials models still do (SQuAD, HellaSwag, BoolQ,
StoryCloze), and ARC and PIQA as further checks. Items from the public sets laid out as in
../shared/data/eval/general_english/ (the official files), StoryCloze from a path the user gives (its authors
distribute it on request: the official CSV layout, `InputStoryid, InputSentence1..4, RandomFifthSentenceQuiz1,
RandomFifthSentenceQuiz2, AnswerRightEnding`).

  squad          SQuAD v1.1 dev: passage + question -> a span; scored by SQuAD's official exact match and token F1
                 (max over the gold answers, the official answer normalisation): eval/scoring.py `score_general`
  hellaswag      HellaSwag validation: context + four endings (A-D)
  boolq          BoolQ dev: passage + yes/no question
  arc_easy, arc_challenge   ARC test: question + 3-5 labelled options (A-E, or 1-4 where ARC labels them so)
  piqa           PIQA validation: goal + two solutions (A, B)
  story_cloze    four sentences + two endings (A, B)

The multiple-choice tasks are scored as LLaMat scored its classification tasks: the answer is mapped to the nearest
allowed answer (an option label the answer starts with, else the option text nearest by Levenshtein distance),
then micro and macro F1 over the option labels (micro F1 is accuracy here).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re

from eval.items import Item

TASKS = ("squad", "hellaswag", "boolq", "arc_easy", "arc_challenge", "piqa", "story_cloze")
GROUP = "general_english"
MAX_FILE = 256 << 20  # bytes: the largest official file (HellaSwag, 12 MB) with room; a bigger one is not these sets
SYSTEM = "You are a helpful assistant. Answer the question."
SQUAD_SYSTEM = "Read the passage and answer the question with the shortest span of the passage that answers it."
CHOICE_SYSTEM = "Read the question and the options and answer with the label of the correct option only."
BOOLQ_SYSTEM = "Read the passage and answer the question with yes or no only."


def _read(path: str, binary_gzip: bool = False) -> str:
    size = os.path.getsize(path)
    if size > MAX_FILE:
        raise ValueError(f"{path}: {size} bytes, more than the {MAX_FILE} expected of an evaluation file")
    if binary_gzip:
        with gzip.open(path, "rb") as f:
            data = f.read(MAX_FILE + 1)  # capped while reading: a gzip bomb stops here
        if len(data) > MAX_FILE:
            raise ValueError(f"{path}: decompresses past {MAX_FILE} bytes")
        return data.decode("utf-8")
    with open(path, encoding="utf-8") as f:
        return f.read()


def _jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in _read(path, path.endswith(".gz")).splitlines() if line.strip()]


def choice_item(task: str, key: str, stem: str, options: list[str], labels: list[str], answer: str) -> Item:
    lines = [stem.strip(), ""] + [f"{label}. {text.strip()}" for label, text in zip(labels, options)]
    lines += ["", f"Answer with {', '.join(labels[:-1])} or {labels[-1]}."]
    return Item(f"{task}:{key}", task, GROUP, CHOICE_SYSTEM, "\n".join(lines), answer,
                {"options": [o.strip() for o in options], "labels": labels})


def squad(path: str) -> list[Item]:
    out = []
    for article in json.loads(_read(path))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa["answers"]]
                out.append(Item(f"squad:{qa['id']}", "squad", GROUP, SQUAD_SYSTEM,
                                f"Passage: {paragraph['context'].strip()}\n\nQuestion: {qa['question'].strip()}", answers[0],
                                {"answers": answers}))
    return out


def _hellaswag_text(text: str) -> str:
    """WikiHow contexts carry section markers ("[header]", "[title]", "[step]"): a title ends a sentence, the rest go."""
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\s{2,}", " ", re.sub(r"\[.*?\]", "", text)).strip()


def hellaswag(path: str) -> list[Item]:
    labels = ["A", "B", "C", "D"]
    # `ind` repeats across HellaSwag's two split types: the row's position is the id
    return [choice_item("hellaswag", str(n), f"{row['activity_label']}: {_hellaswag_text(row['ctx'])} ...\nWhich ending is the most likely?",
                        [_hellaswag_text(e) for e in row["endings"]], labels, labels[int(row["label"])])
            for n, row in enumerate(_jsonl(path))]


def boolq(path: str) -> list[Item]:
    return [Item(f"boolq:{n}", "boolq", GROUP, BOOLQ_SYSTEM,
                 f"Passage ({row['title']}): {row['passage'].strip()}\n\nQuestion: {row['question'].strip()}?",
                 "yes" if row["answer"] else "no", {"options": ["yes", "no"], "labels": ["yes", "no"]})
            for n, row in enumerate(_jsonl(path))]


def arc(path: str, task: str) -> list[Item]:
    out = []
    for row in _jsonl(path):
        choices = row["question"]["choices"]
        out.append(choice_item(task, row["id"], row["question"]["stem"], [c["text"] for c in choices], [c["label"] for c in choices],
                               row["answerKey"]))
    return out


def piqa(questions: str, labels: str) -> list[Item]:
    rows, answers = _jsonl(questions), _read(labels).split()
    if len(rows) != len(answers):
        raise ValueError(f"{labels}: {len(answers)} labels for {len(rows)} questions in {questions}")
    return [choice_item("piqa", str(n), f"Goal: {row['goal']}\nWhich solution achieves the goal?", [row["sol1"], row["sol2"]],
                        ["A", "B"], "AB"[int(answer)]) for n, (row, answer) in enumerate(zip(rows, answers))]


STORY_CLOZE_COLUMNS = ("InputStoryid", "InputSentence1", "InputSentence2", "InputSentence3", "InputSentence4",
                       "RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2", "AnswerRightEnding")


def story_cloze(path: str) -> list[Item]:
    with io.StringIO(_read(path), newline="") as f:  # size-capped like the public sets
        reader = csv.DictReader(f)
        missing = [c for c in STORY_CLOZE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"--story-cloze: {path} lacks the official columns {', '.join(missing)}")
        rows = list(reader)
    out = []
    for row in rows:
        if row["AnswerRightEnding"].strip() not in ("1", "2"):
            raise ValueError(f"--story-cloze: {path}, story {row['InputStoryid']}: AnswerRightEnding is {row['AnswerRightEnding']!r}, not 1 or 2")
        story = " ".join(row[f"InputSentence{k}"].strip() for k in range(1, 5))
        out.append(choice_item("story_cloze", row["InputStoryid"], f"{story}\nWhich ending fits the story?",
                               [row["RandomFifthSentenceQuiz1"], row["RandomFifthSentenceQuiz2"]], ["A", "B"],
                               "AB"[int(row["AnswerRightEnding"]) - 1]))
    return out


def _reading(path: str, read):
    """`read(path)`, with a file that is not in its set's official layout (a missing field, a row that is not JSON, a
    label out of range) failing as one ValueError that names the file, instead of a traceback."""
    try:
        return read(path)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError, UnicodeDecodeError) as e:
        if isinstance(e, ValueError) and not isinstance(e, json.JSONDecodeError) and path in str(e):
            raise  # our own message, which names the file already
        raise ValueError(f"{path}: not in the official layout ({type(e).__name__}: {e})") from None


def general_english(folder: str, story_cloze_path: str | None = None) -> list[Item]:
    """Every general-English item: the public sets under `folder` (laid out as ../shared/data/eval/general_english),
    and StoryCloze when its path is given."""
    if not os.path.isdir(folder):
        raise ValueError(f"general_english: {folder} is not a folder (the public sets, laid out as ../shared/data/eval/general_english)")
    items = _reading(os.path.join(folder, "squad_v1.1_dev", "dev-v1.1.json"), squad)
    items += _reading(os.path.join(folder, "hellaswag_val", "hellaswag_val.jsonl.gz"), hellaswag)
    items += _reading(os.path.join(folder, "boolq_dev", "dev.jsonl"), boolq)
    items += _reading(os.path.join(folder, "arc_test", "ARC-Easy-Test.jsonl"), lambda p: arc(p, "arc_easy"))
    items += _reading(os.path.join(folder, "arc_test", "ARC-Challenge-Test.jsonl"), lambda p: arc(p, "arc_challenge"))
    labels = os.path.join(folder, "piqa_valid", "valid-labels.lst")
    items += _reading(os.path.join(folder, "piqa_valid", "valid.jsonl"), lambda p: piqa(p, labels))
    if story_cloze_path:
        items += _reading(story_cloze_path, story_cloze)
    return items
