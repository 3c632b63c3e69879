"""Rebuild the bundled samples from ../shared/data (run once by a maintainer, not by the demo).

Only rows that ../shared/data/README.md marks "may copy" are copied, each with its licence.
The general-English slice is deterministic: the first N records of every sub-source, so that
every licence of the original sample is represented.
"""

import gzip
import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
PER_SUBSOURCE = 40


def copy_sofc() -> None:
    src = SHARED / "papers" / "sofc_exp_texts"
    dst = HERE / "papers" / "sofc_exp"
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        shutil.copyfile(f, dst / f.name)


def copy_general() -> None:
    by_source: dict[str, list[dict]] = defaultdict(list)
    with gzip.open(SHARED / "general" / "general_english_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if len(by_source[record["source"]]) < PER_SUBSOURCE:
                by_source[record["source"]].append(record)
    dst = HERE / "general" / "general_english_slice.jsonl.gz"
    dst.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the file byte-identical across rebuilds
    with open(dst, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for source in sorted(by_source):
            for record in by_source[source]:
                gz.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))


PDFS = ["PhysRevX.8.041024-CC", "piva2015combined-CC", "PHC1580183-CC"]  # the CC BY 4.0 SuperMat papers


def copy_papers() -> None:
    pdf = HERE / "papers" / "pdf"
    xml = HERE / "papers" / "xml"
    pdf.mkdir(parents=True, exist_ok=True)
    xml.mkdir(parents=True, exist_ok=True)
    for name in PDFS:
        shutil.copyfile(SHARED / "papers" / "pdf_supermat" / "pdf" / f"{name}.pdf", pdf / f"{name}.pdf")
    shutil.copyfile(SHARED / "papers" / "publisher_xml" / "springer_jats_10.1186_s11671-021-03631-x.xml", xml / "springer_jats_10.1186_s11671-021-03631-x.xml")
    shutil.copyfile(SHARED / "papers" / "grobid_tei" / "s41598-020-58065-9.training.fulltext.tei.xml", xml / "s41598-020-58065-9.training.fulltext.tei.xml")
    for folder in (pdf, xml):
        shutil.copyfile(SHARED / "papers" / "sofc_exp_texts" / "LICENSE.CC-BY-4.0", folder / "LICENSE.CC-BY-4.0")


def copy_latex() -> None:
    """One arXiv source in arXiv's download form (a .tar.gz): Li-ion diffusion in LLZO, REVTeX 4.2, CC BY 4.0."""
    src, dst = SHARED / "papers" / "latex", HERE / "papers" / "latex"
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "msd-diffusion-revtex42.tar.gz", dst / "msd-diffusion-revtex42.tar.gz")
    shutil.copyfile(src / "msd-diffusion-revtex42" / "SOURCE.txt", dst / "msd-diffusion-revtex42.SOURCE.txt")
    shutil.copyfile(src / "msd-diffusion-revtex42" / "LICENSE", dst / "msd-diffusion-revtex42.LICENSE")


def make_scan() -> None:
    """One scanned page without a text layer (what older literature looks like): page 2 of the bundled 1989 paper
    PHC1580183 rendered at 200 dpi, so the demo and the OCR test read a real scan."""
    import pymupdf

    src = pymupdf.open(SHARED / "papers" / "pdf_supermat" / "pdf" / "PHC1580183-CC.pdf")
    out = pymupdf.open()
    page = src[1]
    pix = page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY)
    new = out.new_page(width=page.rect.width, height=page.rect.height)
    new.insert_image(new.rect, stream=pix.tobytes("png"))
    (HERE / "papers" / "scan").mkdir(parents=True, exist_ok=True)
    out.save(HERE / "papers" / "scan" / "PHC1580183-CC.page2.scan.pdf", deflate=True)


def copy_eval() -> None:
    dst = HERE / "eval" / "llamat_sie"
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("LICENSE.MIT", "doping_test.jsonl", "mof1_test.jsonl", "mof2_test.jsonl"):
        shutil.copyfile(SHARED / "eval" / "llamat_sie" / name, dst / name)


def copy_tokenizer() -> None:
    src = SHARED / "tokenizers" / "llama2"
    dst = HERE / "tokenizers" / "llama2"
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "LICENSE", "USE_POLICY.md"):
        shutil.copyfile(src / name, dst / name)


def copy_crystals() -> None:
    """The COD CIFs (COD: open data) and the MP-20 subset as CDVAE CSVs (MIT; Materials Project data CC BY 4.0)."""
    cod = HERE / "crystals" / "cod_cifs"
    mp20 = HERE / "crystals" / "mp_20"
    cod.mkdir(parents=True, exist_ok=True)
    mp20.mkdir(parents=True, exist_ok=True)
    for f in sorted((SHARED / "crystals" / "cod_cifs").glob("*.cif")):
        shutil.copyfile(f, cod / f.name)
    for name in ("train.csv", "val.csv", "test.csv"):
        shutil.copyfile(SHARED / "crystals" / "mp_20_subset" / name, mp20 / name)
    shutil.copyfile(SHARED / "crystals" / "LICENSE.cdvae.MIT", mp20 / "LICENSE.cdvae.MIT")


if __name__ == "__main__":
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found: the samples are rebuilt from the shared data folder")
    copy_sofc()
    copy_papers()
    copy_latex()
    make_scan()
    copy_general()
    copy_eval()
    copy_crystals()
    copy_tokenizer()
    print("samples rebuilt under", HERE)
