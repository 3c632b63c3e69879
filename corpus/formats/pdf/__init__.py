"""The PDF reader, in stages (issue 33), one module each; `reader.PdfExtractor` runs them:

1. page.py: PyMuPDF's text layer -> `PageBlock`s (text with hyphens and ligatures repaired, a manuscript's line
   numbers removed, listings line by line, fonts, boxes); ocr.py: a scanned page's blocks from Tesseract (and the
   rule that routes a page there); tables.py: table bodies as Markdown (`keep_tables`);
2. order.py: reading order, one stated policy (full-width bands cut the page into stripes; left column, then right);
3. roles/features.py: layout and text-shape features of each block, relative to its page, its document and its
   neighbours; roles/model.py: gradient-boosted trees, a first pass and a second that reads its neighbours'
   probabilities, learned from training/align.py's block labels (a paper's ground truth aligned with its blocks);
4. assemble.py: the kept blocks -> a `Paper` (title, abstract, headings, captions, keywords), through the shared
   section policy.

It is the reader `corpus build` and `corpus extract` use; `corpus extract --explain FILE.pdf` prints every block's
role and why. Measured for generalisation (leave-one-collection-out, SuperMat 5-fold by paper) by
benchmarks/pdf_learned.py, which also trains the shipped model (roles/role_model.json.gz).
"""
