"""Paper readers on real files: JATS, Elsevier (fixture from the public structure), TEI, PDF; hostile inputs."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pymupdf
import pytest

from conftest import ROOT, SAMPLES, SHARED, base_manifest, run_cli, write_manifest
from corpus.extract import extract
from corpus.papers.model import Paper, Section, SectionPolicy, section_kind
from corpus.readers import READERS, Failure

JATS = SAMPLES / "papers" / "xml" / "springer_jats_10.1186_s11671-021-03631-x.xml"
TEI_TRAINING = SAMPLES / "papers" / "xml" / "s41598-020-58065-9.training.fulltext.tei.xml"
ELSEVIER = ROOT / "tests" / "fixtures" / "elsevier" / "S0000000000000001.xml"
PRX = SAMPLES / "papers" / "pdf" / "PhysRevX.8.041024-CC.pdf"


def read_one(path: Path, reader: str, **options):
    docs = [item for _, item in extract([str(path)], reader, options)]
    assert len(docs) == 1
    return docs[0]


# ---- section policy ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "title,kind",
    [
        ("References", "references"),
        ("REFERENCES AND NOTES", "references"),
        ("Acknowledgments", "acknowledgements"),
        ("5. Acknowledgement", "acknowledgements"),
        ("Funding", "funding"),
        ("Authors’ contributions", "author_contributions"),
        ("CRediT authorship contribution statement", "author_contributions"),
        ("Declaration of Competing Interest", "competing_interests"),
        ("Conflicts of interest", "competing_interests"),
        ("Availability of data and materials", "data_availability"),
        ("Appendix A. Supplementary data", "appendix"),
        ("III. RESULTS AND DISCUSSION", "body"),
        ("2.1 Synthesis of LiFePO4", "body"),
    ],
)
def test_section_kinds(title, kind):
    assert section_kind(title) == kind


def test_policy_keeps_science_and_drops_back_matter_appendices_by_option():
    paper = Paper(
        title="T",
        abstract=["A."],
        sections=[Section("Results", ["R."]), Section("Appendix A", ["X."], kind="appendix"), Section("Funding", ["F."])],
        captions=["Fig. 1 C."],
    )
    text, spans, dropped = SectionPolicy().render(paper)
    assert text == "T\n\nA.\n\nResults\nR.\n\nFig. 1 C."
    assert dropped == ["Appendix A", "Funding"]
    assert [(s["name"], text[s["start"] : s["end"]]) for s in spans][2] == ("Results", "Results\nR.")
    text, _, dropped = SectionPolicy(keep_appendices=True).render(paper)
    assert "Appendix A\nX." in text and dropped == ["Funding"]


# ---- JATS ------------------------------------------------------------------------------
def _jats_tree():
    data = JATS.read_bytes()
    return ET.fromstring(data[data.index(b"<response>") :])


def test_jats_title_abstract_sections_metadata():
    doc = read_one(JATS, "jats")
    md = doc.metadata
    assert doc.id == "doi:10.1186/s11671-021-03631-x"
    assert md["title"] == "Nano and Battery Anode: A Review" and doc.text.startswith("Nano and Battery Anode: A Review\n\n")
    assert (md["journal"], md["publisher"], md["year"], md["licence"]) == ("Nanoscale Research Letters", "Springer US", 2021, "CC BY 4.0")
    tree = _jats_tree()
    abstract = "".join(tree.find(".//abstract").find(".//p").itertext()).split()
    assert " ".join(abstract[:12]) in doc.text
    body_titles = ["".join(t.itertext()) for t in tree.find(".//body").iter("title")]
    kept = [s["name"] for s in md["sections"] if s["kind"] == "body"]
    assert kept == body_titles and len(kept) == 14
    assert {"Acknowledgements", "References", "Competing Interests", "Funding", "Authors’ Contributions"} <= set(md["dropped_sections"])


def test_jats_drops_references_and_acknowledgements_and_keeps_formulas_whole():
    doc = read_one(JATS, "jats")
    tree = _jats_tree()
    ref_titles = ["".join(t.itertext()) for t in tree.iter("article-title") if t is not tree.find(".//title-group/article-title")]
    assert len(ref_titles) > 100
    assert not [t for t in ref_titles if len(t) > 40 and t in doc.text]  # no reference entry made it
    ack = " ".join("".join(tree.find(".//ack").itertext()).split())
    assert ack[20:80] not in doc.text
    # every <sub> in a body paragraph: its word ("Li" + "4" + "Ti", "TiO" + "2") is one unbroken token in the output
    checked = 0
    body = tree.find(".//body")
    in_tables = {id(p) for table in body.iter("table-wrap") for p in table.iter("p")}  # table bodies are dropped by default
    for p in (p for p in body.iter("p") if id(p) not in in_tables):
        previous_tail = p.text or ""
        for child in p:
            if child.tag == "sub" and child.text:
                before = re.search(r"[A-Za-z0-9]*$", previous_tail).group(0)
                after = re.match(r"[A-Za-z0-9]*", child.tail or "").group(0)
                if before:
                    assert f"{before}{child.text}{after}" in doc.text, (before, child.text, after)
                    checked += 1
            previous_tail = child.tail or ""
    assert checked > 20


def test_jats_llamat_markers():
    doc = read_one(JATS, "jats", markers="llamat")
    cites = re.findall(r"\[BIB_REF\](.+?)\[/BIB_REF\]", doc.text)
    assert len(cites) > 50 and all(", by " in c or len(c) > 10 for c in cites)
    assert "[FIG_REF]Fig. " in doc.text


# ---- Elsevier (fixture) ------------------------------------------------------------------
def test_elsevier_reader_on_the_public_structure():
    doc = read_one(ELSEVIER, "elsevier")
    md = doc.metadata
    assert doc.id == "doi:10.1016/j.test.2020.100001"
    assert md["title"] == "Oxygen vacancy ordering in La0.6Sr0.4CoO3 cathodes studied by in situ diffraction"
    assert (md["journal"], md["year"], md["licence"], md["open_access"]) == ("Journal of Test Materials", 2020, "CC BY 4.0", True)
    assert "MUST NOT APPEAR" not in doc.text and "APPENDIX TEXT" not in doc.text
    assert "La0.6Sr0.4CoO3−δ" in doc.text and "Fig. 1 Unit cell of the ordered phase." in doc.text
    assert [s["name"] for s in md["sections"]] == ["title", "abstract", "Introduction", "Experimental", "Synthesis", "Results and discussion", "captions"]
    assert "APPENDIX TEXT" in read_one(ELSEVIER, "elsevier", keep_appendices=True).text
    assert "a (Å) | 3.84" in read_one(ELSEVIER, "elsevier", keep_tables=True).text
    llamat = read_one(ELSEVIER, "elsevier", markers="llamat").text
    assert "[BIB_REF]Fast oxygen transport in acceptor doped oxides, by Kilner[/BIB_REF]" in llamat
    assert "[FIG_REF]Fig. 1 Unit cell of the ordered phase.[/FIG_REF]" in llamat and "[TEX]\\delta=0.1[/TEX]" in llamat


# ---- TEI --------------------------------------------------------------------------------
def test_tei_training_file_joins_line_break_hyphens():
    doc = read_one(TEI_TRAINING, "tei")
    assert "hydrogen and sulfur systems" in doc.text and "sul-" not in doc.text
    assert doc.text.count("\n") < 100 and len(doc.text) > 15_000


@pytest.mark.skipif(not (SHARED / "papers" / "pdf_supermat").is_dir(), reason="../shared/data is not present")
def test_tei_supermat_header():
    doc = read_one(SHARED / "papers" / "pdf_supermat" / "groundtruth_tei" / "PhysRevX.8.041024-CC.superconductors.tei.xml", "tei")
    assert doc.metadata["title"].startswith("Direct Visualization of the Nematic Superconductivity")
    assert doc.metadata["licence"] == "CC BY 4.0"
    assert doc.text.split("\n\n")[1].startswith("Cu x Bi 2 Se 3 hosts both")


# ---- PDF --------------------------------------------------------------------------------
def test_pdf_reader_on_a_two_column_paper():
    doc = read_one(PRX, "pdf")
    text = doc.text
    assert doc.id == "doi:10.1103/physrevx.8.041024"
    assert text.startswith("Direct Visualization of the Nematic Superconductivity in CuxBi2Se3")
    assert "CuxBi2Se3 hosts both topological surface states" in text
    assert "I. INTRODUCTION\nTopological superconductors" in text  # the heading opens its section
    assert "FIG. 1." in text  # captions kept
    assert "PHYSICAL REVIEW X" not in text and "041024-" not in text  # running header and page numbers
    assert "Fudan University" not in text and "@fudan.edu.cn" not in text  # affiliations and e-mails
    assert "[1] X. L. Qi" not in text and "Rev. Mod. Phys. 83" not in text  # the reference list
    assert "We thank Guoqing Zheng" not in text  # acknowledgements
    assert "fer- mions" not in text and "Majorana fermions" in text  # hyphenation repaired
    assert doc.metadata["pages"] == 9 and doc.metadata["no_text_pages"] == []


def _pdf_with_text(text: str) -> bytes:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 720), text, fontsize=10)
    return doc.tobytes()


def _hostile_folder(folder: Path) -> Path:
    folder.mkdir()
    good = PRX.read_bytes()
    (folder / "good.pdf").write_bytes(good)
    (folder / "truncated.pdf").write_bytes(good[: len(good) // 3])
    (folder / "page.pdf").write_bytes(b"<html><body>Access denied</body></html>")
    (folder / "empty.pdf").write_bytes(b"")
    encrypted = pymupdf.open(stream=_pdf_with_text("secret " * 50))
    (folder / "encrypted.pdf").write_bytes(encrypted.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o"))
    blank = pymupdf.open()
    blank.new_page()
    (folder / "scan.pdf").write_bytes(blank.tobytes())
    return folder


def _hostile_xml(folder: Path) -> Path:
    folder.mkdir()
    (folder / "good.xml").write_bytes(JATS.read_bytes())
    (folder / "bomb.xml").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><article><front><article-meta><title-group><article-title>&c;</article-title>'
        b"</title-group></article-meta></front></article>"
    )
    (folder / "xxe.xml").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE article [<!ENTITY x SYSTEM "file:///etc/passwd">]><article><body><p>&x;</p></body></article>'
    )
    (folder / "truncated.xml").write_bytes(JATS.read_bytes()[:5000])
    (folder / "not_jats.xml").write_bytes(b"<html><body><p>Hello</p></body></html>")
    return folder


@pytest.mark.slow
def test_hostile_pdfs_and_xml_fail_with_reasons_and_the_run_goes_on(tmp_path):
    data = base_manifest()
    data["sources"] = [
        {"name": "pdfs", "reader": "pdf", "paths": [str(_hostile_folder(tmp_path / "pdfs"))]},
        {"name": "jats", "reader": "jats", "paths": [str(_hostile_xml(tmp_path / "xml"))]},
    ]
    data["components"] = [{"name": "papers", "sources": ["pdfs", "jats"]}]
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["reconciled"] and s["kept"] == 2
    assert s["failed_by_reason"] == {
        "encrypted_pdf": 1,
        "invalid_xml": 1,
        "no_pages": 1,
        "no_text_layer": 1,
        "not_a_pdf": 2,
        "not_jats": 1,
        "xml_entities_forbidden": 2,
    }


def test_extract_command_writes_jsonl_and_reports_failures(tmp_path, capsys):
    out = tmp_path / "x.jsonl"
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf")
    assert run_cli("extract", JATS, ELSEVIER, TEI_TRAINING, PRX, bad, "-o", out) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["metadata"]["source_format"] for r in records] == ["jats", "elsevier", "tei", "pdf"]
    assert all(r["id"] and r["text"] and r["metadata"]["file_path"].startswith("/") for r in records)
    err = capsys.readouterr().err
    assert "bad.pdf: not_a_pdf" in err and "4 document(s), 1 failure(s)" in err
    assert run_cli("extract", ELSEVIER, "--reader", "elsevier", "--option", "markers=llamat") == 0
    assert "[BIB_REF]" in capsys.readouterr().out


def test_every_reader_is_registered_with_its_formats():
    assert {"jsonl", "text", "jats", "elsevier", "tei", "pdf"} <= set(READERS)
    assert isinstance(read_one(Path(__file__), "jats"), Failure)


def test_pdf_repository_cover_sheet_is_dropped_and_its_metadata_kept():
    doc = read_one(SAMPLES / "papers" / "pdf" / "PHC1580183-CC.pdf", "pdf")
    assert doc.id == "doi:10.1088/0031-8949/1989/t29/017"  # read from the eScholarship cover sheet
    assert doc.metadata["licence"] == "CC BY 4.0"
    assert "Permalink" not in doc.text and "eScholarship" not in doc.text and "Powered by" not in doc.text
    assert "neutron" in doc.text.lower() and len(doc.text) > 5_000


def test_pdf_cover_sheet_title_field_is_the_fallback_title():
    # a scan whose own title page is not in larger type (PHC1480411's) takes its title from the cover's "Title" field;
    # the field's block has its lines joined, so the title runs on from the label up to the next field
    from corpus.formats.pdf.page import page_blocks
    from corpus.formats.pdf.reader import COVER_TITLE as _COVER_TITLE

    with pymupdf.open(SAMPLES / "papers" / "pdf" / "PHC1580183-CC.pdf") as doc:
        cover = "\n".join(b.text for b in page_blocks(doc[0], 0))
    title = _COVER_TITLE.search(cover)
    assert title and " ".join(title.group(1).split()) == "THE CRYSTAL-STRUCTURE OF SUPERCONDUCTING LA2CUO4.032 BY NEUTRON- DIFFRACTION"  # as the cover prints it
    assert _COVER_TITLE.search("Title\nA Paper on Oxides\nPermalink https://x").group(1) == "A Paper on Oxides"
    assert _COVER_TITLE.search("Titled notes without fields\nmore text") is None


def test_truncated_real_pdfs_fail_as_damaged_unless_kept_with_a_flag(tmp_path):
    # a download cut short: MuPDF repairs what it can see, which would otherwise pass as a shorter paper
    pdfs = sorted((SAMPLES / "papers" / "pdf").glob("*.pdf"))
    for pdf in pdfs:
        data = pdf.read_bytes()
        for fraction in (0.35, 0.6, 0.85, 0.98):
            (tmp_path / f"{pdf.stem}-{int(fraction * 100)}.pdf").write_bytes(data[: int(len(data) * fraction)])
    results = list(extract([str(tmp_path)], "pdf"))
    assert len(results) == 4 * len(pdfs)
    kinds = {item.kind if isinstance(item, Failure) else "kept" for _, item in results}
    # a cut so early that no page survives is no_pages; every other cut is damaged_pdf, never a document
    assert kinds <= {"damaged_pdf", "no_pages"} and "damaged_pdf" in kinds
    kept = [item for _, item in extract([str(tmp_path)], "pdf", {"keep_damaged": True}) if not isinstance(item, Failure)]
    assert kept and all(doc.metadata["repaired"] is True for doc in kept)
    whole = [item for _, item in extract([str(p) for p in pdfs], "pdf")]
    assert all(not isinstance(d, Failure) and "repaired" not in d.metadata for d in whole)


def test_back_matter_titles_of_the_livecoms_kind_are_typed():
    from corpus.papers.model import section_kind

    assert section_kind("Other Contributions") == "acknowledgements"
    assert section_kind("Potentially Conflicting Interests") == "competing_interests"
    assert section_kind("Author Contributions") == "author_contributions"
