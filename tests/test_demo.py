"""The demo users run first: manifests/demo.yaml end to end, then `corpus check` on its shards."""

import json

import pytest

from conftest import ROOT, run_cli

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out


def test_demo_manifest_builds_and_checks(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run_cli("build", ROOT / "manifests" / "demo.yaml", "--output", out) == 0
    printed = capsys.readouterr().out
    assert "Accounting reconciled; shard check passed" in printed and str(out / "summary.json") in printed
    summary = json.loads((out / "summary.json").read_text())
    crystals = 87 + 847 + 123  # the COD CIFs and the MP-20 train and validation rows
    assert summary["reconciled"] and summary["inputs"] == 290 + 1 + 1 + crystals  # + the arXiv LaTeX source, the scanned page
    assert summary["sources"]["arxiv_latex"]["kept"] == 1
    assert set(summary["components"]) == {"papers", "general", "crystals"}
    assert summary["crystal_contamination"]["mp_20"]["test_structures"] == 142
    assert run_cli("check", out / "shards") == 0


def test_help_explains_the_commands(capsys):
    import pytest

    for args in (["--help"], ["build", "--help"], ["check", "--help"]):
        with pytest.raises(SystemExit) as e:
            run_cli(*args)
        assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--dry-run" in text and "EOS at every document end" in text and "resumes" in text
