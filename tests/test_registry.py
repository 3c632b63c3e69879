"""The step registry: the default order, the order rules a manifest is checked against, and that the process
pipeline is built in exactly the listed order."""

from __future__ import annotations

import pytest

from conftest import base_manifest, write_manifest


def test_a_filter_after_dedup_is_refused_naming_why(tmp_path):
    from corpus.manifest import ManifestError, load_manifest

    m = base_manifest()
    m["stages"] = {"order": ["min_chars", "annotate", "dedup", "quality"]}
    with pytest.raises(ManifestError, match=r"steps.order\[2\]: 'dedup' must be the last step, but 'quality' follows it \(it signs"):
        load_manifest(write_manifest(tmp_path, m))


def test_order_rules_name_position_and_reason():
    from corpus.registry import order_problems

    assert order_problems(["prose", "language", "dedup"]) == [
        "steps.order[0]: 'prose' must come after 'language' (the stopword rule is for English, so it judges what the language filter kept)"]
    assert any("listed twice" in p for p in order_problems(["min_chars", "min_chars"]))
    assert order_problems(["min_chars", "crystal_validation"])[0].startswith("steps.order[0]: 'min_chars' must come after 'crystal_validation'")
    from corpus.registry import default_order

    assert order_problems(default_order()) == []


def test_the_process_pipeline_runs_the_listed_steps_in_order(tmp_path):
    from corpus.manifest import expand_inputs, load_manifest
    from corpus.pipeline import OutputLayout, build_pipelines

    m = base_manifest()
    m["stages"] = {"order": ["language", "min_chars", "annotate", "quality"]}  # a legal reordering, dedup left out
    manifest = load_manifest(write_manifest(tmp_path, m))
    names = [p for p in build_pipelines(manifest, expand_inputs(manifest), OutputLayout(str(tmp_path / "out")))]
    process = names[0].step_names
    assert [n for n in process if n in ("🌍 Language", "📏 Min chars", "🔬 Annotate", "🧪 Science quality")] == [
        "🌍 Language", "📏 Min chars", "🔬 Annotate", "🧪 Science quality"]
    assert [p.name for p in names] == ["process", "shards", "summary"]  # no dedup listed: no dedup pipeline
