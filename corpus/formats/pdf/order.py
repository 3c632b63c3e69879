"""Stage 2: reading order, apart from roles.

One stated policy, for every layout: a block that straddles the page's middle (a title, a full-width figure or
table, a single-column paragraph) is a band; the bands cut the page into horizontal stripes, and inside a stripe
the left column is read top to bottom before the right one. Floats (figures, tables, their captions) stand where
the page has them. A one-column page is the case where every block is a band.
"""

from __future__ import annotations

from corpus.formats.pdf.page import PageBlock

STRADDLE = 0.04  # a block reaching this far (a share of the page width) past the middle on both sides is a band


def is_band(block: PageBlock) -> bool:
    middle = block.page_width / 2
    reach = STRADDLE * block.page_width
    return block.bbox[0] < middle - reach and block.bbox[2] > middle + reach


def page_order(blocks: list[PageBlock]) -> list[PageBlock]:
    """The page's blocks in reading order."""
    if not blocks:
        return []
    bands = sorted((b for b in blocks if is_band(b)), key=lambda b: (b.bbox[1], b.bbox[0]))
    columns = [b for b in blocks if not is_band(b)]
    # each column block belongs to the stripe above the first band that starts below its middle
    stripes: list[list[PageBlock]] = [[] for _ in range(len(bands) + 1)]
    for b in columns:
        centre = (b.bbox[1] + b.bbox[3]) / 2
        k = next((i for i, band in enumerate(bands) if band.bbox[1] >= centre), len(bands))
        stripes[k].append(b)
    out: list[PageBlock] = []
    for k in range(len(bands) + 1):
        middle = blocks[0].page_width / 2
        left = sorted((b for b in stripes[k] if (b.bbox[0] + b.bbox[2]) / 2 < middle), key=lambda b: (b.bbox[1], b.bbox[0]))
        right = sorted((b for b in stripes[k] if (b.bbox[0] + b.bbox[2]) / 2 >= middle), key=lambda b: (b.bbox[1], b.bbox[0]))
        out += left + right
        if k < len(bands):
            out.append(bands[k])
    return out


def reading_order(pages: list[list[PageBlock]]) -> list[PageBlock]:
    """Every block of the document in reading order, page after page."""
    return [b for page in pages for b in page_order(page)]
