"""Publisher formulas (JATS, Elsevier) become LaTeX, display formulas their own `$$..$$`, and no formula leaves
glued words or a space before punctuation behind; every dropped section is listed."""

from __future__ import annotations

import re
from xml.etree.ElementTree import fromstring

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from corpus.extract import extract
from corpus.papers.maths import mathml_to_latex

MML = 'xmlns:mml="http://www.w3.org/1998/Math/MathML"'
ELSEVIER = ROOT / "tests" / "fixtures" / "elsevier" / "S0000000000000001.xml"


def _read(tmp_path, name, xml, reader, **options):
    path = tmp_path / name
    path.write_text(xml)
    out = [d for _, d in extract([str(path)], reader, options or None)]
    assert len(out) == 1 and hasattr(out[0], "text"), out
    return out[0]


def _elsevier_with(tmp_path, para: str, tail_extra: str = "", body_extra: str = "") -> object:
    xml = ELSEVIER.read_text()
    xml = xml.replace("<ce:para>Powders were prepared by a sol–gel route and calcined at 1000 °C for 5 h.</ce:para>", para)
    xml = xml.replace("</ce:sections>", "</ce:sections>" + body_extra, 1)
    return _read(tmp_path, "e.xml", xml, "elsevier")


DISPLAY = ('<ce:para>The conductivity is given by<ce:display><ce:formula id="fd1"><ce:label>(1)</ce:label>'
           '<mml:math display="block"><mml:mi>σ</mml:mi><mml:mo>=</mml:mo><mml:mfrac><mml:mrow><mml:mi>n</mml:mi>'
           '<mml:msup><mml:mi>e</mml:mi><mml:mn>2</mml:mn></mml:msup><mml:mi>τ</mml:mi></mml:mrow><mml:mi>m</mml:mi>'
           '</mml:mfrac></mml:math></ce:formula></ce:display>where <ce:italic>n</ce:italic> is the carrier density, '
           'as in <ce:cross-ref refid="t0005">Table 1</ce:cross-ref> .</ce:para>')


def test_an_elsevier_display_formula_is_latex_and_glues_nothing(tmp_path):
    doc = _elsevier_with(tmp_path, DISPLAY)
    assert "The conductivity is given by $$\\sigma=\\frac{ne^2\\tau}{m}$$ where n is the carrier density, as in Table 1." in doc.text
    assert "bywhere" not in doc.text and "(1)" not in doc.text


def test_acknowledgements_in_the_body_are_dropped_and_listed(tmp_path):
    ack = '<ce:acknowledgment><ce:section-title>Acknowledgments</ce:section-title><ce:para>FUNDER THANKS</ce:para></ce:acknowledgment>'
    doc = _elsevier_with(tmp_path, "<ce:para>Plain.</ce:para>", body_extra=ack)
    assert "FUNDER THANKS" not in doc.text and "Acknowledgments" in doc.metadata["dropped_sections"]


JATS = ('<article xmlns:xlink="http://www.w3.org/1999/xlink" ' + MML + '><front><article-meta><title-group><article-title>T'
        '</article-title></title-group></article-meta></front><body><sec><title>Theory</title>'
        '<p>The energy is<disp-formula id="e1"><label>(2)</label><alternatives><tex-math>E = \\hbar\\omega</tex-math>'
        '<mml:math><mml:mi>E</mml:mi></mml:math></alternatives></disp-formula>where ω is the frequency and '
        '<inline-formula><mml:math><mml:msub><mml:mi>T</mml:mi><mml:mi>c</mml:mi></mml:msub></mml:math></inline-formula>'
        ' the critical temperature.</p>'
        '<disp-formula id="e2"><mml:math><mml:msqrt><mml:mi>x</mml:mi></mml:msqrt></mml:math></disp-formula>'
        '<p>An image-only formula <inline-formula><graphic xlink:href="f.gif"/></inline-formula> stays marked.</p>'
        '</sec></body></article>')


def test_jats_formulas_take_tex_math_or_converted_mathml(tmp_path):
    doc = _read(tmp_path, "a.xml", JATS, "jats")
    assert "The energy is $$E = \\hbar\\omega$$ where ω is the frequency and $T_c$ the critical temperature." in doc.text
    assert "\n$$\\sqrt{x}$$\n" in doc.text  # a display formula between paragraphs is a paragraph of its own
    assert "formula [FORMULA] stays marked." in doc.text
    llamat = _read(tmp_path, "a.xml", JATS, "jats", markers="llamat").text
    assert "[TEX]E = \\hbar\\omega[/TEX] where" in llamat and "[TEX]T_c[/TEX] the critical" in llamat


def _mml(body: str):
    return fromstring(f'<math xmlns="http://www.w3.org/1998/Math/MathML">{body}</math>')


def test_mathml_constructs_hand_checked():
    cases = {
        "<msubsup><mi>x</mi><mi>i</mi><mn>2</mn></msubsup>": "x_i^2",
        "<mroot><mi>x</mi><mn>3</mn></mroot>": "\\sqrt[3]{x}",
        "<munderover><mo>∑</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>N</mi></munderover>": "\\sum_{i=1}^N",
        "<mover><mi>x</mi><mo>^</mo></mover>": "\\hat{x}",
        "<mfenced><mi>a</mi><mi>b</mi></mfenced>": "\\left(a,b\\right)",
        "<mi>sin</mi><mi>θ</mi>": "\\sin\\theta",
        "<mtext>for all</mtext><mi>x</mi>": "\\text{for all}x",
        "<mi>Li</mi><mn>2</mn>": "\\mathrm{Li}2",
        "<mtable><mtr><mtd><mn>1</mn></mtd><mtd><mn>0</mn></mtd></mtr><mtr><mtd><mn>0</mn></mtd><mtd><mn>1</mn></mtd></mtr></mtable>":
            "\\begin{matrix}1 & 0 \\\\ 0 & 1\\end{matrix}",
        '<semantics><mi>x</mi><annotation encoding="application/x-tex">\\mathcal{X}</annotation></semantics>': "\\mathcal{X}",
    }
    for body, tex in cases.items():
        assert mathml_to_latex(_mml(body)) == tex, body


TAGS = ["mi", "mn", "mo", "mtext", "mrow", "msub", "msup", "msubsup", "mfrac", "msqrt", "mroot", "mover", "munder",
        "munderover", "mfenced", "mtable", "mtr", "mtd", "menclose", "mstyle", "semantics", "annotation", "unknown"]


def _tree(draw_tag, children, text):
    return f"<{draw_tag}>{text}{''.join(children)}</{draw_tag}>"


trees = st.recursive(
    st.builds(lambda t, x: f"<{t}>{x}</{t}>", st.sampled_from(["mi", "mn", "mo", "mtext"]),
              st.sampled_from(["x", "12", "α", "∑", "{", "}", "#", "%", "_", "sin", ""])),
    lambda kids: st.builds(lambda t, cs: f"<{t}>{''.join(cs)}</{t}>", st.sampled_from(TAGS), st.lists(kids, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_any_mathml_converts_to_balanced_latex(body):
    tex = mathml_to_latex(_mml(body))
    unescaped = re.sub(r"\\[{}]", "", tex)
    depth = 0
    for c in unescaped:
        depth += {"{": 1, "}": -1}.get(c, 0)
        assert depth >= 0, tex
    assert depth == 0, tex


def test_mathml_nested_past_the_recursion_limit_keeps_its_text_not_a_lost_paper(tmp_path):
    deep = "<mml:mrow>" * 5000 + "<mml:mi>x</mml:mi>" + "</mml:mrow>" * 5000
    xml = JATS.replace('<inline-formula><mml:math><mml:msub>', f'<inline-formula><mml:math>{deep}<mml:msub>', 1)
    doc = _read(tmp_path, "deep.xml", xml, "jats")
    assert "the frequency and xTc the critical temperature." in doc.text  # the formula's text, spaced: not LaTeX, not lost
