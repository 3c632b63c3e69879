"""Quality reports: the per-document table, the HTML page and its figures, `corpus inspect` and `corpus diff`."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

from conftest import SAMPLES, base_manifest, run_cli, write_manifest

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Papers, general text and crystals, with drops of several kinds and a duplicate structure."""
    tmp = tmp_path_factory.mktemp("report")
    data = base_manifest()
    data["sources"][0]["options"]["metadata_columns"]["date"] = "Publication date"
    data["sources"][0]["options"]["metadata_columns"]["publisher"] = "Publisher"
    short = tmp / "short.jsonl"
    short.write_text("\n".join(json.dumps({"id": f"s{i}", "text": "Too short to keep. " * 3}) for i in range(4)) + "\n{broken\n")
    data["sources"] += [
        {"name": "short_notes", "reader": "jsonl", "paths": [str(short)], "options": {"id_key": "id"}},
        {"name": "cod", "reader": "cif", "paths": [str(SAMPLES / "crystals" / "cod_cifs")], "metadata": {"licence": "COD"}},
    ]
    data["components"][1]["sources"].append("short_notes")
    data["components"].append({"name": "crystals", "sources": ["cod"], "weight": 0.025})
    data["components"][0]["weight"] = 0.945
    data["components"][1]["weight"] = 0.03
    assert run_cli("build", write_manifest(tmp, data)) == 0
    return tmp / "out"


def _keys(page: str) -> dict[str, str]:
    return {html.unescape(k): html.unescape(v) for k, v in re.findall(r'data-key="([^"]+)"[^>]*>([^<]*)<', page)}


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def test_documents_table_has_a_row_per_input_with_what_the_report_groups_by(built):
    docs = pl.read_parquet(built / "stats" / "documents.parquet")
    s = json.loads((built / "summary.json").read_text())
    assert docs.height == s["inputs"] and docs["record"].n_unique() == docs.height
    assert docs.filter(pl.col("status") == "kept").height == s["kept"]
    assert int(docs["tokens"].sum()) == s["tokens"]
    papers = docs.filter(pl.col("source") == "sofc_papers")
    assert papers["journal"].null_count() == 0 and papers["year"].min() >= 2000 and set(papers["reader"]) == {"text"}
    assert docs.filter(pl.col("reader") == "cif")["spacegroup"].null_count() == 0
    assert set(docs.filter(pl.col("source") == "short_notes")["reason"].to_list()) == {"too_short", "invalid_json"}
    general = docs.filter((pl.col("source") == "general_english") & (pl.col("status") == "kept"))
    assert general["language"].to_list().count("en") == general.height and general["signal_stopword_ratio"].min() > 0
    dup = docs.filter(pl.col("reason") == "duplicate_structure")
    assert dup.height >= 1 and (dup["cluster_size"] >= 2).all()
    survivors = docs.filter(pl.col("record").is_in(dup["cluster"].implode()))
    assert set(survivors["status"]) == {"kept"}


def test_report_figures_equal_the_summary_and_the_table(built):
    page = (built / "report" / "index.html").read_text()
    keys = _keys(page)
    s = json.loads((built / "summary.json").read_text())
    for k in ("inputs", "kept", "dropped", "failed", "tokens"):
        assert _int(keys[k]) == s[k], k
    assert keys["reconciled"] == "reconciled"
    docs = pl.read_parquet(built / "stats" / "documents.parquet")
    for source in ("sofc_papers", "general_english", "cod", "short_notes"):
        assert _int(keys[f"source:{source}:inputs"]) == docs.filter(pl.col("source") == source).height
    assert _int(keys["source:short_notes:dropped:too_short"]) == 4
    assert _int(keys["source:short_notes:failed:invalid_json"]) == 1
    for comp, c in s["components"].items():
        assert _int(keys[f"component:{comp}:tokens"]) == c["tokens"]
        assert float(keys[f"component:{comp}:target"]) == c["target_weight"]
        assert float(keys[f"component:{comp}:epochs"]) == pytest.approx(s["mixture"]["components"][comp]["epochs"], abs=1e-3)
    assert _int(keys["step:kept after dedup (in shards):tokens"]) == s["tokens"]
    for reason, n in s["dropped_by_reason"].items():
        assert _int(keys[f"reason:{reason}:documents"]) == n
    assert "<svg" in page and "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert "too_short" in page and "Crystal records" in page and "journal" in page
    # examples: every drop reason and every source with kept documents has its expandable group of snippets
    kept_sources = set(docs.filter(pl.col("status") == "kept")["source"])
    for group in [*s["dropped_by_reason"], *kept_sources]:
        assert f"<details><summary>{group} " in page, group
    assert "Per publisher" in page and "Per journal" in page
    # what the corpus holds per year, licence and journal: each table's tokens are the ledger's
    kept = docs.filter(pl.col("status") == "kept")
    per_year = kept.group_by("year").agg(pl.col("tokens").sum()).drop_nulls("year").rows()
    assert per_year
    for year, tokens in per_year:
        assert _int(keys[f"year:{year}:tokens"]) == tokens
    assert "tokens per year" in page and "tokens per licence" in page and "tokens per journal" in page
    # thresholds on their columns' histograms, with the share of inputs their reason dropped
    assert {t["column"] for t in s["thresholds"]} >= {"chars", "signal_words", "language_score"}
    share = 100 * s["dropped_by_reason"]["too_short"] / s["inputs"]
    assert f"too_short &lt; 40, {share:.1f}% of inputs" in page
    md = (built / "report" / "summary.md").read_text()
    assert f"{s['kept']:,} kept" in md


def test_report_command_rewrites_the_page_the_same(built, tmp_path):
    before = (built / "report" / "index.html").read_bytes()
    assert run_cli("report", built) == 0
    assert (built / "report" / "index.html").read_bytes() == before
    assert run_cli("report", tmp_path) == 2  # not a build


def test_inspect_prints_examples_with_their_reason(built, capsys):
    assert run_cli("inspect", built, "--reason", "too_short", "-n", "2") == 0
    out = capsys.readouterr().out
    assert out.count("=== short_notes:s") == 2 and "[dropped: too_short]" in out and "Too short to keep." in out
    assert run_cli("inspect", built, "--status", "kept", "--source", "cod", "-n", "1") == 0
    out = capsys.readouterr().out
    assert "[kept]" in out and "crystallizes in the" in out
    assert run_cli("inspect", built, "--reason", "duplicate_structure", "-n", "1") == 0
    assert "duplicate of cod:" in capsys.readouterr().out


def test_diff_shows_what_a_threshold_change_did(built, tmp_path, capsys):
    data = yaml_of(built)
    data["stages"]["filters"]["min_chars"] = 20  # the short notes now pass both length rules...
    data["stages"]["filters"]["quality"] = {"min_words": 5}
    data["output_dir"] = str(tmp_path / "out")
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    capsys.readouterr()
    assert run_cli("diff", built, tmp_path / "out") == 0
    rows = {ln.split()[0]: ln.split()[1:] for ln in capsys.readouterr().out.splitlines()[1:] if len(ln.split()) == 4}
    assert rows["too_short"] == ["4", "0", "-4"]
    assert rows["duplicate_exact"] == ["0", "3", "+3"]  # ...and, being four copies of one text, three go as duplicates
    assert rows["short_notes"] == ["0", "1", "+1"]


def yaml_of(built: Path) -> dict:
    import yaml

    return yaml.safe_load((built.parent / "manifest.yaml").read_text())


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package chromium; `make test` installs it)")
def test_report_renders_in_headless_chromium_without_console_errors(built, tmp_path):
    page = built / "report" / "index.html"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=3000", "--dump-dom", page.as_uri()]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "CONSOLE" not in result.stderr, [ln for ln in result.stderr.splitlines() if "CONSOLE" in ln]
    dom = result.stdout
    s = json.loads((built / "summary.json").read_text())
    assert _int(_keys(dom)["kept"]) == s["kept"] and dom.count("<svg") >= 5
    shot = tmp_path / "report.png"
    subprocess.run(cmd[:-2] + [f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000  # a rendered page, not a blank one
