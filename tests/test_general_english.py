"""General-English retention tasks (eval/general_english.py): the official public sets read whole, scored as LLaMat
scored them (nearest allowed answer, micro/macro F1; SQuAD's official exact match and F1), beside the paper's values,
and StoryCloze from a user's file in its official layout. The scorers are property-tested on any text."""

from __future__ import annotations

import csv
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from eval.items import Item
from eval.scoring import choice_label, score, squad_f1, squad_normalise

GENERAL = SHARED / "eval" / "general_english"
STORIES = [  # written for this test in StoryCloze's layout (the real set may not be redistributed)
    {"InputStoryid": "s1", "InputSentence1": "Ana bought a kettle.", "InputSentence2": "She filled it with water.",
     "InputSentence3": "She switched it on.", "InputSentence4": "It whistled after a while.",
     "RandomFifthSentenceQuiz1": "Ana made tea.", "RandomFifthSentenceQuiz2": "Ana sold the ocean.", "AnswerRightEnding": "1"},
    {"InputStoryid": "s2", "InputSentence1": "Tom lost his keys.", "InputSentence2": "He searched the house.",
     "InputSentence3": "He checked his coat.", "InputSentence4": "They were in the pocket.",
     "RandomFifthSentenceQuiz1": "Tom painted the moon.", "RandomFifthSentenceQuiz2": "Tom was relieved.", "AnswerRightEnding": "2"},
]


def _stories(path, rows=STORIES, drop=None):
    fields = [c for c in rows[0] if c != drop]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    if not GENERAL.is_dir():
        pytest.skip("../shared/data is not beside the repository")
    from eval.general_english import general_english

    return general_english(str(GENERAL), str(_stories(tmp_path_factory.mktemp("sc") / "stories.csv")))


def test_the_official_sets_are_read_whole(items):
    counts = {}
    for i in items:
        counts[i.task] = counts.get(i.task, 0) + 1
    assert counts == {"squad": 10570, "hellaswag": 10042, "boolq": 3270, "arc_easy": 2376, "arc_challenge": 1172, "piqa": 1838,
                      "story_cloze": 2}
    assert len({i.id for i in items}) == len(items)
    for i in items:
        if i.task != "squad":
            assert i.reference in i.meta["labels"] and len(i.meta["labels"]) == len(i.meta["options"]) >= 2, i.id
    assert not any("[header]" in i.question or "[title]" in i.question for i in items if i.task == "hellaswag")


def test_gold_answers_and_option_texts_score_the_maximum_and_wrong_ones_do_not(items):
    sample = [i for n, i in enumerate(items) if n % 7 == 0]
    by_label = score(sample, {i.id: i.reference for i in sample})
    by_text = score(sample, {i.id: (i.meta["options"][i.meta["labels"].index(i.reference)] if i.task != "squad" else
                                    f"Answer: {i.meta['answers'][-1]}") for i in sample})
    for scores in (by_label, by_text):
        for task, metrics in scores.items():
            for metric, value in metrics.items():
                if metric != "items":
                    assert value == pytest.approx(100.0), (task, metric)
    # always the first option: micro F1 is the share of items whose answer is the first option
    first = score(sample, {i.id: i.meta["labels"][0] if i.task != "squad" else "" for i in sample})
    hella = [i for i in sample if i.task == "hellaswag"]
    assert first["hellaswag"]["micro_f1"] == pytest.approx(100 * sum(i.reference == "A" for i in hella) / len(hella))
    assert first["squad"] == {"exact_match": 0.0, "f1": 0.0, "items": sum(i.task == "squad" for i in sample)}


def test_run_reports_the_papers_values_beside_ours(tmp_path, items):
    from eval.cli import main

    predictions = tmp_path / "p.jsonl"
    with open(predictions, "w") as f:
        for i in items:
            f.write(json.dumps({"id": i.id, "prediction": i.reference}) + "\n")
    assert main(["run", "--predictions", str(predictions), "--tasks", "general_english", "--limit", "30", "--data", str(SHARED),
                 "--story-cloze", str(_stories(tmp_path / "stories.csv")), "--out", str(tmp_path / "out")]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| hellaswag | micro_f1 | 30 | 100.00 | 78.18 | 81.86 |" in report  # LLaMat3-chat, LLaMat2-chat (reference/)
    assert "| squad | f1 | 30 | 100.00 | 85.26 | 86.46 |" in report
    assert "| story_cloze | micro_f1 | 2 | 100.00 | 98.46 | 97.53 |" in report
    assert "| piqa | micro_f1 | 30 | 100.00 |  |  |" in report


def test_story_cloze_errors_name_the_field(tmp_path, capsys):
    from eval.cli import main

    args = ["run", "--predictions", str(tmp_path / "none.jsonl"), "--tasks", "general_english", "--data", str(SHARED), "--out", str(tmp_path / "o")]
    assert main(args + ["--story-cloze", str(_stories(tmp_path / "a.csv", drop="AnswerRightEnding"))]) == 2
    assert "AnswerRightEnding" in capsys.readouterr().err
    assert main(args + ["--story-cloze", str(tmp_path / "missing.csv")]) == 2
    assert "--story-cloze" in capsys.readouterr().err
    assert main(["run", "--predictions", "x.jsonl", "--tasks", "matnlp", "--story-cloze", str(tmp_path / "a.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "general_english" in capsys.readouterr().err


def test_answers_as_models_write_them():
    labels, options = ["A", "B", "C", "D"], ["is using wrap", "is ripping tiles off", "is holding a cube", "starts pulling up roofing"]
    assert [choice_label(t, labels, options) for t in ("B", "(C) is holding", "Answer: D", "The correct option is A.", "C.\nbecause")] == list("BCDAC")
    assert choice_label("A man starts pulling up roofing on a roof", labels, options) == "D"  # the ending's text, not option A
    assert [choice_label(t, ["yes", "no"], ["yes", "no"]) for t in ("Yes, it does.", "no", "NO.", "yes\n")] == ["yes", "no", "no", "yes"]
    assert squad_normalise("The  Denver Broncos!") == "denver broncos" and squad_f1("Broncos of Denver", "the Denver Broncos") == 0.8
    item = Item("q", "squad", "general_english", "", "", "Denver Broncos", {"answers": ["Denver Broncos", "the Broncos"]})
    assert score([item], {"q": "Answer: Broncos"})["squad"]["f1"] == 100.0  # the best of the gold answers


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_squad_metrics_on_any_text(prediction, gold):
    f1 = squad_f1(prediction, gold)
    assert 0.0 <= f1 <= 1.0 and f1 == squad_f1(gold, prediction)
    assert squad_normalise(squad_normalise(prediction)) == squad_normalise(prediction)
    if squad_normalise(prediction) == squad_normalise(gold) and squad_normalise(gold):
        assert f1 == 1.0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.lists(st.text(min_size=1, max_size=30), min_size=2, max_size=5))
def test_any_answer_maps_to_an_allowed_label(prediction, options):
    labels = list("ABCDE")[: len(options)]
    assert choice_label(prediction, labels, options) in labels


def test_rigidity_takes_the_general_tasks_as_its_general_axis(tmp_path):
    from eval.rigidity import analyse

    run = tmp_path / "run"
    (run / "mateval").mkdir(parents=True)
    (run / "validation.json").write_text(json.dumps([{"step": 0, "tokens": 0, "papers": 3.0, "general": 2.0},
                                                     {"step": 10, "tokens": 1000, "papers": 2.5, "general": 2.1}]))

    def scores(path, sie, hella, squad):
        path.write_text(json.dumps({"scores": {"sie_doping": {"items": 5, "exact_match": sie},
                                               "hellaswag": {"items": 5, "micro_f1": hella, "macro_f1": hella},
                                               "squad": {"items": 5, "exact_match": squad, "f1": squad}}}))

    scores(run / "mateval" / "scores.json", 40.0, 70.0, 60.0)
    scores(tmp_path / "base.json", 20.0, 80.0, 80.0)
    row = analyse([f"x={run}"], ["general"], {"x": str(tmp_path / "base.json")})[0]
    assert row["task_gain"] == 20.0  # the materials task alone
    assert row["general_task_change"] == -15.0  # (-10 - 10 - 20 - 20) / 4: forgetting, measured on tasks
    assert row["general_drift"] == pytest.approx(0.1)


def test_files_not_in_the_official_layout_fail_naming_the_file(tmp_path, capsys):
    import gzip
    import shutil

    from eval.cli import main
    from eval.general_english import general_english

    if not GENERAL.is_dir():
        pytest.skip("../shared/data is not beside the repository")
    data = tmp_path / "data"
    shutil.copytree(GENERAL, data / "eval" / "general_english")
    boolq = data / "eval" / "general_english" / "boolq_dev" / "dev.jsonl"
    for broken in ('{"question": "is it", "answer": true}\n', "not json\n", ""):  # a missing field, not JSON, empty
        boolq.write_text(broken)
        if broken:
            with pytest.raises(ValueError, match="dev.jsonl: not in the official layout"):
                general_english(str(data / "eval" / "general_english"))
        else:
            assert not [i for i in general_english(str(data / "eval" / "general_english")) if i.task == "boolq"]
    boolq.write_text('{"question": "is it", "title": "t", "answer": true, "passage": "p"}\n')
    hella = data / "eval" / "general_english" / "hellaswag_val" / "hellaswag_val.jsonl.gz"
    with gzip.open(hella, "wb") as f:  # a label past the endings
        f.write(b'{"ind": 1, "activity_label": "a", "ctx": "c", "label": 7, "endings": ["x", "y"]}\n')
    assert main(["run", "--predictions", str(tmp_path / "p.jsonl"), "--tasks", "general_english", "--data", str(data),
                 "--out", str(tmp_path / "o")]) == 2
    assert "hellaswag_val.jsonl.gz: not in the official layout" in capsys.readouterr().err
