"""Layers point down, through public names (ARCHITECTURE.md): corpus <- qa_synth, train <- eval.

Read from the source with `ast`, so the rule holds for imports inside functions too."""

from __future__ import annotations

import ast

from conftest import ROOT

PACKAGES = ("corpus", "qa_synth", "train", "eval")
# what each package may import from the others
ALLOWED = {"corpus": set(), "qa_synth": {"corpus"}, "train": {"corpus"}, "eval": {"corpus", "train"}}


def imports():
    """(file, line, importing package, imported module, imported names) of every import in the four packages."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    yield path.relative_to(ROOT), node.lineno, package, node.module, [a.name for a in node.names]
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        yield path.relative_to(ROOT), node.lineno, package, alias.name, []


def test_layers_point_down():
    wrong = [f"{f}:{line}: {pkg} imports {module}" for f, line, pkg, module, _ in imports()
             if module.split(".")[0] in PACKAGES and module.split(".")[0] != pkg and module.split(".")[0] not in ALLOWED[pkg]]
    assert not wrong, "\n".join(wrong)


def test_no_underscore_name_crosses_a_package():
    """Neither another package of ours nor a library is used through its private names."""
    wrong = []
    for f, line, pkg, module, names in imports():
        top = module.split(".")[0]
        if top == pkg or top == "__future__":
            continue
        private = [n for n in names if n.startswith("_")] + [p for p in module.split(".") if p.startswith("_")]
        if private:
            wrong.append(f"{f}:{line}: {module} {', '.join(private)}")
    assert not wrong, "\n".join(wrong)



def _modules_after(code: str) -> set[str]:
    import subprocess
    import sys

    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    return set(json.loads(done.stdout.strip().splitlines()[-1]))


HEAVY = ("pymatgen", "datatrove.pipeline.filters", "corpus.manifest", "polars", "torch", "pypandoc")


def test_commands_start_without_what_they_do_not_run():
    """`corpus --help` imports no reader and no step; `corpus extract paper.pdf` imports the PDF reader only (issue 35:
    a command imports what it runs; it used to import every step, pymatgen and datatrove's filters first)."""
    helped = _modules_after("import contextlib, io\nfrom corpus.cli import main\n"
                            "with contextlib.redirect_stdout(io.StringIO()):\n"
                            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass")
    assert not [m for m in helped if m.startswith(HEAVY + ("pymupdf", "corpus.readers.base"))]
    pdf = ROOT / "samples" / "papers" / "pdf" / "PhysRevX.8.041024-CC.pdf"
    extracted = _modules_after(f"from corpus.cli import main\nassert main(['extract', {str(pdf)!r}, '-o', '/dev/null']) == 0")
    assert "corpus.readers.pdf" in extracted
    assert not [m for m in extracted if m.startswith(HEAVY + ("corpus.readers.latex", "corpus.readers.crystals"))]


def test_a_reader_module_imported_alone_knows_its_manifest_name():
    """A spawned worker imports one reader module: its documents still carry the reader's manifest name."""
    names = _modules_after("from corpus.readers.text import TextFolderReader\nassert TextFolderReader.key == 'text', TextFolderReader.key")
    assert "corpus.readers.text" in names
