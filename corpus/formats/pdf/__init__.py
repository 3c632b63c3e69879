"""The learned PDF reader, in stages (issue 33), one module each:

1. page.py: PyMuPDF's text layer -> `PageBlock`s (text with hyphens and ligatures repaired, fonts, boxes);
2. order.py: reading order, one stated policy (full-width bands cut the page into stripes; left column, then right);
3. roles/features.py: layout and text-shape features of each block, relative to its page, its document and its
   neighbours; roles/model.py: gradient-boosted trees, a first pass and a second that reads its neighbours'
   probabilities, learned from
4. training/align.py: block labels from a paper's ground-truth text.

Measured for generalisation (leave-one-collection-out, SuperMat 5-fold by paper) by benchmarks/pdf_learned.py.
Not yet the default reader: corpus/papers/pdf.py (the rule reader) still reads PDFs in `corpus build` and
`corpus extract`; the assembly into a `Paper`, `--explain` and a shipped model are the next steps.
"""
