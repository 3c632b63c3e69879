"""mateval's scores beside the paper's, as a picture: `OUT/scores.svg`, one row per task and metric the paper
reports, this model's score (a black diamond) beside each of the paper's models (circles), on one axis (the paper's
values are on our scale: eval/paper.py). matplotlib renders a static SVG, byte-stable (fixed ids, no date)."""

from __future__ import annotations

import os


def write_scores_plot(out: str, rows: list[dict], models: tuple[str, ...], title: str) -> str | None:
    """rows: {task, metric, score, <model>: value or ""}; None (and no file) when the paper reports none of them."""
    shown = [r for r in rows if any(r.get(m, "") != "" for m in models)]
    if not shown:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "matcorpus"
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.28 * len(shown)), constrained_layout=True)
    ys = list(range(len(shown)))[::-1]
    for k, model in enumerate(models):
        points = [(r[model], y) for r, y in zip(shown, ys) if r.get(model, "") != ""]
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=22, alpha=0.8, label=model, color=f"C{k}")
    ax.scatter([r["score"] for r in shown], ys, marker="D", s=30, color="black", label="this model", zorder=3)
    ax.set_yticks(ys, [f"{r['task']} {r['metric']}"[:48] for r in shown], fontsize=7)
    ax.set_xlabel("score (the paper's values on our scale)")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    path = os.path.join(out, "scores.svg")
    fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return path
