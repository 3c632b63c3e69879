"""Outputs never touch inputs (the manifest check refuses an output_dir that is, holds or lies inside an input, symlinks
resolved; `--force` only empties folders with the build marker), and one build at a time holds an output folder."""

import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SAMPLES, base_manifest, run_cli, write_manifest


def _text_source(folder):
    folder.mkdir(parents=True)
    for p in sorted((SAMPLES / "papers" / "sofc_exp").glob("*.txt"))[:4]:
        shutil.copy(p, folder / p.name)
    return folder


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _manifest(tmp_path, source_folder, output):
    data = base_manifest()
    data["sources"] = [{"name": "papers", "reader": "text", "paths": [str(source_folder)]}]
    data["components"] = [{"name": "papers", "sources": ["papers"]}]
    data["output_dir"] = str(output)
    return write_manifest(tmp_path / "m", data)


@pytest.mark.parametrize("where", ["equal", "parent", "inside", "symlink_to_input", "input_through_symlink"])
def test_an_output_that_overlaps_an_input_is_refused_and_force_deletes_nothing(tmp_path, where, capsys):
    data_dir = _text_source(tmp_path / "data" / "papers")
    output = {"equal": data_dir, "parent": data_dir.parent, "inside": data_dir / "out"}.get(where)
    if where == "symlink_to_input":  # an output path that resolves into the input folder
        (tmp_path / "link").symlink_to(data_dir)
        output = tmp_path / "link" / "build"
    if where == "input_through_symlink":  # an input named through a link that resolves inside the output
        output = tmp_path / "data"
        (tmp_path / "alias").symlink_to(data_dir)
        data_dir = tmp_path / "alias"
    before = _snapshot(tmp_path / "data")
    manifest = _manifest(tmp_path, data_dir, output)
    for flags in ([], ["--force"], ["--dry-run"]):
        assert run_cli("build", manifest, *flags) == 2
        err = capsys.readouterr().err
        assert "output_dir" in err and "sources[0].paths[0]" in err and str(data_dir) in err, err
    assert _snapshot(tmp_path / "data") == before  # nothing deleted, nothing written among the inputs


def test_force_never_deletes_a_folder_that_is_not_a_build(tmp_path, capsys):
    data_dir = _text_source(tmp_path / "data")
    output = tmp_path / "mine"
    output.mkdir()
    (output / "thesis.tex").write_text("years of work")
    manifest = _manifest(tmp_path, data_dir, output)
    assert run_cli("build", manifest, "--force") == 2
    assert "never deleted" in capsys.readouterr().err
    assert (output / "thesis.tex").read_text() == "years of work" and sorted(os.listdir(output)) == ["thesis.tex"]


@pytest.mark.slow
def test_force_empties_a_real_build_and_builds_again(tmp_path):
    data_dir = _text_source(tmp_path / "data")
    manifest = _manifest(tmp_path, data_dir, tmp_path / "out")
    assert run_cli("build", manifest) == 0
    (tmp_path / "out" / "stray.txt").write_text("left by a user inside the build")
    assert run_cli("build", manifest, "--force") == 0
    assert not (tmp_path / "out" / "stray.txt").exists() and (tmp_path / "out" / "summary.json").exists()


def _hold_lock(folder):
    code = ("import sys, time; from corpus.buildlock import BuildLock\n"
            f"lock = BuildLock({str(folder)!r}).__enter__(); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.slow
def test_a_second_build_into_a_held_folder_fails_at_once_naming_the_holder_and_a_killed_holder_does_not_block(tmp_path, capsys):
    data_dir = _text_source(tmp_path / "data")
    manifest = _manifest(tmp_path, data_dir, tmp_path / "out")
    holder = _hold_lock(tmp_path / "out")
    try:
        start = time.monotonic()
        assert run_cli("build", manifest) == 2
        assert time.monotonic() - start < 30  # refused, not waiting
        err = capsys.readouterr().err
        assert "in use by another corpus build" in err and f"pid {holder.pid}" in err
        assert not (tmp_path / "out" / "summary.json").exists()
    finally:
        holder.kill()  # SIGKILL: the kernel drops the flock, nothing is left to clean
        holder.wait()
    assert run_cli("build", manifest) == 0


@pytest.mark.slow
def test_two_builds_started_together_never_both_write(tmp_path):
    data_dir = _text_source(tmp_path / "data")
    manifest = _manifest(tmp_path, data_dir, tmp_path / "out")
    cmd = [sys.executable, "-m", "corpus", "build", str(manifest)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    # either one was refused while the other built, or the second came after the first had finished (and resumed it)
    assert codes in ([0, 2], [0, 0]), results
    assert all("in use by another corpus build" in err for rc, err in results if rc == 2)
    assert run_cli("check", tmp_path / "out" / "shards") == 0


def _linked_source(tmp_path):
    src = _text_source(tmp_path / "data")
    (src / "etc").symlink_to("/etc")  # a folder link out of the source
    (src / "passwd.txt").symlink_to("/etc/passwd")  # a file link out of the source
    first = sorted(src.glob("*.txt"))[0]
    (src / "alias.txt").symlink_to(first)  # a link that stays inside the source
    return src


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["inside", False, "all"])
def test_symlinks_out_of_a_source_are_not_followed_and_are_accounted(tmp_path, policy):
    import json

    src = _linked_source(tmp_path)
    data = base_manifest()
    options = {} if policy == "inside" else {"follow_symlinks": policy}
    data["sources"] = [{"name": "papers", "reader": "text", "paths": [str(src)], "options": options}]
    data["components"] = [{"name": "papers", "sources": ["papers"]}]
    data["stages"] = {"filters": {"min_chars": 0, "quality_enabled": False, "language": {"enabled": False}}}
    out = tmp_path / "out"
    data["output_dir"] = str(out)
    assert run_cli("build", write_manifest(tmp_path / "m", data)) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["reconciled"]
    import zstandard

    def text_of(p):
        data = p.read_bytes()
        return zstandard.ZstdDecompressor().stream_reader(data).read() if p.name.endswith(".zst") else data

    failed = [json.loads(line) for f in sorted((out / "failed").glob("*.jsonl.zst")) for line in text_of(f).decode().splitlines()]
    everything = b"".join(text_of(p) for p in out.rglob("*") if p.is_file() and not p.name.endswith((".parquet", ".ds", ".index")))
    passwd = open("/etc/passwd", "rb").read().split(b"\n")[0]
    if policy == "all":  # the user asked for it: /etc's text files are read like any other
        assert s["failed_by_reason"].get("outside_source") is None and s["inputs"] > 6
        return
    reason = "outside_source" if policy == "inside" else "symlink_not_followed"
    links = {"etc", "passwd.txt"} if policy == "inside" else {"etc", "passwd.txt", "alias.txt"}
    assert s["failed_by_reason"] == {reason: len(links)}
    assert {os.path.basename(r["metadata"]["file_path"]) for r in failed} == links
    assert all("/etc" in r["metadata"]["error"] or "alias" in r["metadata"]["file_path"] for r in failed)  # link and target named
    assert passwd not in everything  # not in the shards, rejected/, failed/ or the report
    assert s["kept"] + s["dropped"] == (5 if policy == "inside" else 4)  # the 4 files, and the inside link when followed


def test_extract_follows_the_same_link_rule(tmp_path):
    from corpus.extract import extract

    src = _linked_source(tmp_path)
    got = {os.path.basename(p): (item.kind if hasattr(item, "kind") else "doc") for p, item in extract([str(src)], "text")}
    assert got["passwd.txt"] == "outside_source" and got["etc"] == "outside_source" and got["alias.txt"] == "doc"
    assert list(got.values()).count("doc") == 5
    got = {os.path.basename(p): getattr(item, "kind", "doc") for p, item in extract([str(src)], "text", {"follow_symlinks": False})}
    assert got["alias.txt"] == "symlink_not_followed"


def test_a_folder_that_cannot_be_listed_is_accounted_not_skipped(tmp_path, monkeypatch):
    from corpus.readers import paths

    src = _text_source(tmp_path / "data")
    (src / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path):  # as root, permissions cannot hide a folder: refuse it here instead
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(paths.os, "scandir", scandir)
    [(_, listed)] = paths.source_files([str(src)], ("*.txt",), "inside").items()
    assert str(src / "locked") in listed and len(listed) == 5
