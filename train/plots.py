"""A training run's curves as a picture: `OUT_DIR/loss.svg`, drawn from what the run already writes (`loss.json`,
`validation.json`, `metrics.jsonl`), so it can be redrawn for any run folder: `python -m train.plots OUT_DIR`.

Left: the training loss of every step and the held-out loss of each component at each evaluation (the domain and
general curves LLaMat's forgetting argument rests on). Right: the learning rate and the throughput at each logged
step. matplotlib (already installed with pymatgen) renders a static SVG: no network, no server, viewable anywhere;
the file is byte-identical for the same run (fixed SVG ids, no date).
"""

from __future__ import annotations

import json
import os
import sys


def read_metrics(out_dir: str) -> list[dict]:
    path = os.path.join(out_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_loss_plot(out_dir: str) -> str | None:
    """Draw OUT_DIR/loss.svg; None when the run has no loss yet."""
    path = os.path.join(out_dir, "loss.json")
    if not os.path.isfile(path):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(path) as f:
        loss = json.load(f)
    validation = []
    if os.path.isfile(os.path.join(out_dir, "validation.json")):
        with open(os.path.join(out_dir, "validation.json")) as f:
            validation = json.load(f)
    metrics = read_metrics(out_dir)
    plt.rcParams["svg.hashsalt"] = "matcorpus"  # the same ids every time
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    left.plot(range(1, len(loss) + 1), loss, color="0.6", linewidth=0.8, label="training loss (each step)")
    components = sorted({k for v in validation for k in v if k not in ("step", "tokens")})
    for name in components:
        points = [(v["step"], v[name]) for v in validation if name in v]
        left.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=f"held-out: {name}")
    left.set_xlabel("optimizer step")
    left.set_ylabel("cross-entropy (nats / token)")
    left.set_title("loss")
    left.legend(fontsize=8)
    if metrics:
        steps = [m["step"] for m in metrics]
        right.plot(steps, [m["lr"] for m in metrics], color="tab:blue", label="learning rate")
        right.set_xlabel("optimizer step")
        right.set_ylabel("learning rate", color="tab:blue")
        rate = right.twinx()
        rate.plot(steps, [m["tokens_per_s"] for m in metrics], color="tab:orange", label="tokens/s")
        rate.set_ylabel("tokens / s", color="tab:orange")
        right.set_title("schedule and throughput")
    else:
        right.set_axis_off()
    out = os.path.join(out_dir, "loss.svg")
    fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m train.plots OUT_DIR", file=sys.stderr)
        return 2
    out = write_loss_plot(argv[0])
    print(out or f"{argv[0]}: no loss.json yet")
    return 0 if out else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
