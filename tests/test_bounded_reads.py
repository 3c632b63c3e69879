"""Size limits hold while reading: over-long lines are skipped without being held (a gzip bomb stays under 500 MB),
whole-file readers stop one byte past their limit, and the line splitter agrees with a plain split on any input."""

import gzip
import io
import json
import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, SAMPLES
from corpus.readers import bounded
from corpus.readers.bounded import TooLarge, bounded_lines, read_limited


def _reference(data: bytes, limit: int):
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [(i, line if len(line) <= limit else None, len(line)) for i, line in enumerate(lines, 1)]


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.one_of(st.binary(max_size=40), st.just(b"\n"), st.just(b"x" * 70)), max_size=30).map(b"".join),
       limit=st.integers(1, 50), buffered=st.booleans())
def test_bounded_lines_matches_a_plain_split(data, limit, buffered):
    bounded.CHUNK = 7  # tiny chunks: every boundary case of the skipping loop is reached
    stream = io.BufferedReader(io.BytesIO(data), buffer_size=8) if buffered else _Unbuffered(data)
    assert list(bounded_lines(stream, limit)) == _reference(data, limit)


class _Unbuffered:
    """A stream with read() only (like zstandard's reader)."""

    def __init__(self, data):
        self.io = io.BytesIO(data)

    def read(self, n=-1):
        return self.io.read(n)


@pytest.fixture(autouse=True)
def _restore_chunk():
    chunk = bounded.CHUNK
    yield
    bounded.CHUNK = chunk


def test_read_limited_stops_one_byte_past_the_limit():
    stream = io.BytesIO(b"x" * 1000)
    with pytest.raises(TooLarge):
        read_limited(stream, 100)
    assert stream.tell() == 101
    assert read_limited(io.BytesIO(b"abc"), 3) == b"abc"


def _gzip_bomb(path, line_bytes: int, after: bytes):
    """A tiny .gz holding one `line_bytes`-long line of 'a', then `after` (written without ever holding the line)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    block = b"a" * (64 << 20)
    with open(path, "wb") as f:
        for _ in range(line_bytes // len(block)):
            f.write(comp.compress(block))
        f.write(comp.compress(b"\n" + after))
        f.write(comp.flush())


def _peak_rss_mb(cmd) -> tuple[int, subprocess.CompletedProcess]:
    code = ("import resource, subprocess, sys, json; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode, p.stderr[-3000:]]))")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, cwd=ROOT, check=True)
    rss_kb, rc, err = json.loads(out.stdout)
    return rss_kb // 1024, rc, err


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["jsonl", "crystal_json"])
def test_a_gzip_bomb_line_fails_as_too_large_in_bounded_memory(tmp_path, reader):
    good = json.dumps({"text": "a real line after the bomb " * 20, "id": "ok"}).encode() + b"\n"
    if reader == "crystal_json":
        from pymatgen.core import Structure

        good = json.dumps({"material_id": "mp-ok", "structure": Structure.from_file(SAMPLES / "crystals" / "cod_cifs" / "Cu.cif").as_dict()}).encode() + b"\n"
    bomb = tmp_path / "bomb.jsonl.gz"
    _gzip_bomb(bomb, 1 << 30, good)  # 1 GiB line
    assert bomb.stat().st_size < 2 << 20
    rss, rc, err = _peak_rss_mb([sys.executable, "-m", "corpus", "extract", str(bomb), "--reader", reader, "-o", str(tmp_path / "x.jsonl")])
    assert "too_large" in err and "line of 1,073,741,824 bytes" in err, err
    assert (tmp_path / "x.jsonl").read_text().count("\n") == 1  # the line after the bomb is read
    assert rss < 500, f"peak resident memory {rss} MB"


def test_whole_file_readers_refuse_files_over_their_limit(tmp_path):
    from corpus.extract import extract

    jats = SAMPLES / "papers" / "xml" / "springer_jats_10.1186_s11671-021-03631-x.xml"
    pdf = SAMPLES / "papers" / "pdf" / "PhysRevX.8.041024-CC.pdf"
    cif = SAMPLES / "crystals" / "cod_cifs" / "Cu.cif"
    for path, reader in ((jats, "jats"), (pdf, "pdf"), (cif, "cif")):
        [(_, item)] = list(extract([str(path)], reader, {"max_bytes": 500}))
        assert getattr(item, "kind", None) == "too_large", (reader, item)
    big = tmp_path / "dump.json.gz"
    big.write_bytes(gzip.compress(b"[" + b" " * 5000 + b"]"))  # small on disk, larger decompressed
    [(_, item)] = list(extract([str(big)], "crystal_json", {"max_bytes": 1000}))
    assert item.kind == "too_large" and "decompressed" in item.error
