"""Charts as inline SVG strings (matplotlib's SVG backend), so the report is one self-contained file."""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                     "svg.hashsalt": "matcorpus"})  # a fixed salt: the same data gives the same SVG bytes
KEPT, DROPPED = "#2a7ab0", "#d1495b"


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prologue and DOCTYPE: the SVG sits inside HTML
    return re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)  # RDF boilerplate, nothing a reader sees


def bars(labels: list[str], values: list[float], title: str, xlabel: str = "", color: str = KEPT, targets: list[float | None] | None = None) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 0.3 * max(len(labels), 3) + 0.8))
    y = np.arange(len(labels))
    ax.barh(y, values, color=color, label="actual")
    if targets and any(t is not None for t in targets):
        ax.scatter([t if t is not None else np.nan for t in targets], y, marker="|", s=300, color="black", label="target", zorder=3)
        ax.legend(loc="lower right", frameon=False)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_title(title, loc="left")
    ax.set_xlabel(xlabel)
    return _svg(fig)


def histogram(h, title: str, thresholds: list[dict] | None = None) -> str:
    """Kept and dropped documents' counts per bin (a `corpus.report.tables.Histogram`), overlaid; each threshold a
    filter applies to this column as a vertical line, labelled with its reason and the share of inputs it dropped
    (`removed`, when the summary has it)."""
    fig, ax = plt.subplots(figsize=(4.2, 2.6))
    for counts, n, color, label in ((h.kept, h.kept_n, KEPT, "kept"), (h.dropped, h.dropped_n, DROPPED, "dropped")):
        if counts.sum():
            ax.stairs(counts, h.edges, fill=True, color=color, alpha=0.6, label=f"{label} ({n:,})")
    for t in thresholds or []:
        if h.log and t["value"] <= 0:
            continue
        removed = f", {100 * t['removed']:.1f}% of inputs" if t.get("removed") is not None else ""
        ax.axvline(t["value"], color="black", linestyle="--", linewidth=1,
                   label=f"{t['reason']} {'<' if t['keep'] == 'above' else '>'} {t['value']:g}{removed}")
    if h.log:
        ax.set_xscale("log")
    ax.set_title(title, loc="left")
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)
