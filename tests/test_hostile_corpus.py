"""One build over a hostile corpus: every failure mode of the reliability work in one manifest, next to real files.
It must reconcile, end each input with its stated outcome, and leave no traceback in the logs."""

import pytest
import gzip
import json
import os
import shutil
import zlib

from conftest import SAMPLES, base_manifest, run_cli, write_manifest

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out


def test_a_hostile_corpus_reconciles_with_every_outcome_stated(tmp_path):
    texts = tmp_path / "in" / "texts"
    texts.mkdir(parents=True)
    for p in sorted((SAMPLES / "papers" / "sofc_exp").glob("*.txt"))[:3]:
        shutil.copy(p, texts / p.name)
    (texts / "passwd.txt").symlink_to("/etc/passwd")
    (texts / "etc").symlink_to("/etc")
    (texts / "latin1.txt").write_bytes("Caf\xe9 ".encode("latin-1") * 100)
    jsonl = tmp_path / "in" / "jsonl"
    jsonl.mkdir()
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = comp.compress(b'{"text": "' + b"a" * (3 << 20)) + comp.compress(b'"}\n{"text": "a good line of text after it"}\n[1, 2]\nnot json\n')
    (jsonl / "bomb.jsonl.gz").write_bytes(body + comp.flush())
    lines = "".join(json.dumps({"text": f"record {i} of a download cut short, {os.urandom(24).hex()}"}) + "\n" for i in range(200))
    packed = gzip.compress(lines.encode())
    (jsonl / "cut.jsonl.gz").write_bytes(packed[: len(packed) * 2 // 3])
    pdfs = tmp_path / "in" / "pdfs"
    pdfs.mkdir()
    real = (SAMPLES / "papers" / "pdf" / "PHC1580183-CC.pdf").read_bytes()  # a scan with a text layer, objects in order
    (pdfs / "cut.pdf").write_bytes(real[: len(real) // 2])
    (pdfs / "page.pdf").write_bytes(b"<html>Access denied</html>")
    shutil.copy(SAMPLES / "papers" / "pdf" / "PhysRevX.8.041024-CC.pdf", pdfs / "good.pdf")
    cifs = tmp_path / "in" / "cifs"
    cifs.mkdir()
    fe = (SAMPLES / "crystals" / "cod_cifs" / "Fe.cif").read_text()
    (cifs / "negative.cif").write_text(fe.replace("_cell_length_a                   2.8665", "_cell_length_a -2.8665"))
    (cifs / "zero.cif").write_text(fe.replace("_cell_length_b                   2.8665", "_cell_length_b 0"))
    (cifs / "good.cif").write_text(fe)

    data = base_manifest()
    data["sources"] = [
        {"name": "texts", "reader": "text", "paths": [str(texts)]},
        {"name": "jsonl", "reader": "jsonl", "paths": [str(jsonl)], "options": {"max_line_bytes": 1 << 20}},
        {"name": "pdfs", "reader": "pdf", "paths": [str(pdfs)]},
        {"name": "cifs", "reader": "cif", "paths": [str(cifs)]},
    ]
    data["components"] = [{"name": "text", "sources": ["texts", "jsonl", "pdfs"]}, {"name": "crystals", "sources": ["cifs"]}]
    data["stages"] = {"filters": {"min_chars": 10}}
    data["output_dir"] = str(tmp_path / "out")
    manifest = write_manifest(tmp_path, data)
    assert run_cli("build", manifest) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["reconciled"], s["problems"]
    assert s["inputs"] == s["kept"] + s["dropped"] + s["failed"]
    failed = s["failed_by_reason"]
    assert failed["outside_source"] == 2 and failed["too_large"] == 1 and failed["damaged_pdf"] == 1 and failed["not_a_pdf"] == 1
    assert failed["not_utf8"] == 1 and failed["not_an_object"] == 1 and failed["invalid_json"] == 1
    assert failed.get("truncated_file", 0) + failed.get("unreadable_file", 0) == 1
    assert s["dropped_by_reason"]["bad_cell"] == 1 and s["dropped_by_reason"]["bad_volume"] == 1
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "out" / "logs").rglob("*") if p.is_file() and p.suffix in (".log", ""))
    assert "Traceback" not in logs
    assert run_cli("check", tmp_path / "out" / "shards") == 0
    # and the same manifest cannot be pointed at its own inputs, --force or not
    assert run_cli("build", manifest, "--output", str(tmp_path / "in"), "--force") == 2
    assert (texts / "latin1.txt").exists() and (pdfs / "good.pdf").exists()
