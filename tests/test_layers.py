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

