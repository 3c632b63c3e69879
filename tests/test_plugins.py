"""A step from another installed package: registered through the `matcorpus.steps` entry point, listed in a manifest's
steps.order with its settings under steps.plugins, its drops counted and reported like any built-in reason.

The example package (tests/plugins/matcorpus_digits) is really installed, with pip, into a folder of its own that the
build's interpreter gets on PYTHONPATH, so the test's own environment is left as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, base_manifest, write_manifest

pytestmark = pytest.mark.slow  # a pip install and a full build

PLUGIN = ROOT / "tests" / "plugins" / "matcorpus_digits"
ORDER = ["min_chars", "annotate", "max_digit_share", "quality", "language", "prose", "dedup"]  # before quality, which drops number dumps too


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(target), str(PLUGIN)], check=True, capture_output=True)
    return target


def corpus(args, plugin_path, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin_path), str(ROOT)]))
    return subprocess.run([sys.executable, "-m", "corpus", *args], cwd=cwd, env=env, capture_output=True, text=True)


def digit_documents(folder, n=5):
    path = folder / "tables.jsonl"
    rows = [{"id": f"table-{i}", "text": " ".join(str(1000 + i * 7 + k) for k in range(120))} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_plugin_step_runs_from_a_manifest_and_its_drops_reconcile(tmp_path, plugin_path):
    m = base_manifest()
    m["output_dir"] = str(tmp_path / "out")
    m["sources"].append({"name": "tables", "reader": "jsonl", "paths": [str(digit_documents(tmp_path))]})
    m["components"][0]["sources"].append("tables")
    m["stages"] = {"order": ORDER, "filters": {"min_chars": 200}, "plugins": {"max_digit_share": {"max_share": 0.6}}}
    done = corpus(["build", str(write_manifest(tmp_path, m))], plugin_path, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Max digit share" in done.stdout  # in the printed plan, in the order given
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["reconciled"], summary["problems"]
    assert summary["dropped_by_reason"]["too_many_digits"] == 5
    assert summary["sources"]["tables"] == {**summary["sources"]["tables"], "inputs": 5, "dropped": 5, "kept": 0}
    assert (tmp_path / "out" / "rejected" / "max_digit_share-00000.jsonl.zst").exists() or \
        (tmp_path / "out" / "rejected" / "max_digit_share-00001.jsonl.zst").exists()
    report = (tmp_path / "out" / "report" / "summary.md").read_text()
    assert "too_many_digits" in report


def test_plugin_settings_are_validated_by_its_own_model(tmp_path, plugin_path):
    m = base_manifest()
    m["stages"] = {"order": ORDER, "plugins": {"max_digit_share": {"max_shar": 0.6}}}
    done = corpus(["build", "--dry-run", str(write_manifest(tmp_path, m))], plugin_path, tmp_path)
    assert done.returncode == 2
    assert "steps.plugins.max_digit_share.max_shar: unknown field" in done.stderr


def test_a_manifest_naming_a_step_nobody_installed_fails_naming_it(tmp_path):
    from corpus.manifest import ManifestError, load_manifest

    m = base_manifest()
    m["stages"] = {"order": ORDER}
    with pytest.raises(ManifestError, match=r"steps.order\[2\]: 'max_digit_share' is not a known step"):
        load_manifest(write_manifest(tmp_path, m))


@pytest.mark.parametrize("module, expected", [
    ("raise RuntimeError('the plugin is broken')\n", "broken = broken_plugin:STEP (matcorpus.steps) cannot be loaded: RuntimeError: the plugin is broken"),
    ("STEP = 42\n", "broken = broken_plugin:STEP (matcorpus.steps) is neither a StepSpec nor a SourceReader subclass"),
])
def test_a_broken_plugin_fails_the_manifest_naming_its_entry_point(tmp_path, module, expected):
    """An installed distribution whose entry point cannot be loaded (or is not a step) stops the build before any
    work, with the entry point named, instead of a traceback from inside the registry."""
    site = tmp_path / "site"
    info = site / "broken_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[matcorpus.steps]\nbroken = broken_plugin:STEP\n")
    (site / "broken_plugin.py").write_text(module)
    done = corpus(["build", "--dry-run", str(write_manifest(tmp_path, base_manifest()))], site, tmp_path)
    assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
