"""Domain classifier on real data: held-out precision/recall/F1 of `corpus train-classifier`.

Positives: arXiv materials abstracts, JARVIS superconductor abstracts, SOFC-Exp papers, SuperMat papers.
Negatives: the general-English sample and the unarXive papers (HEP, maths, CS: scientific, not materials).
A seeded 20% is held out.   .venv/bin/python benchmarks/domain_classifier.py
"""

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from corpus.cli import main as corpus  # noqa: E402
from filters import unarxive_papers  # noqa: E402

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        unarxive = Path(tmp) / "unarxive.jsonl"
        unarxive.write_text("".join(json.dumps({"text": t}) + "\n" for t in unarxive_papers()))
        sys.exit(corpus([
            "train-classifier", "--positive",
            str(SHARED / "abstracts" / "arxiv_ai4mat_abstracts.jsonl"), str(SHARED / "abstracts" / "jarvis_supercon_abstracts.jsonl"),
            str(SHARED / "papers" / "sofc_exp_texts"), str(SHARED / "papers" / "pdf_supermat" / "groundtruth_txt"),
            "--negative", str(SHARED / "general" / "general_english_sample.jsonl.gz"), str(unarxive),
            "-o", str(Path(tmp) / "materials.bin"),
        ]))
