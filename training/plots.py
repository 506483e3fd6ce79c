"""PNG plots of an evaluation: confusion matrices, reliability diagram, resolution scatter.

matplotlib is imported lazily with the Agg backend (files only, no display). Each function
writes one file and returns its name, or None when the metrics have nothing to plot.
"""

from pathlib import Path

import numpy as np


def write_plots(metrics: dict, resolution_points: dict | None, out_dir: Path) -> list[str]:
    """Write every plot that applies to ``metrics`` into ``out_dir``; return the file names."""
    plt = _pyplot()
    written = []
    for head in ("priority", "sentiment"):
        if metrics.get(head, {}).get("n"):
            written.append(_confusion(plt, metrics[head]["model"]["confusion"], head, out_dir))
    if metrics.get("priority", {}).get("n"):
        written.append(_reliability(plt, metrics["priority"], out_dir))
    if resolution_points and len(resolution_points.get("true", [])):
        written.append(_resolution(plt, resolution_points, out_dir))
    return written


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _confusion(plt, confusion: dict, head: str, out_dir: Path) -> str:
    labels, matrix = confusion["labels"], np.array(confusion["matrix"], dtype=float)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=110)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, int(count), ha="center", va="center",
                color="white" if share[i, j] > 0.6 else "black", fontsize=8)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{head}: confusion (row share)")
    return _save(plt, fig, out_dir / f"{head}_confusion.png")


def _reliability(plt, priority: dict, out_dir: Path) -> str:
    bins = priority["model"]["calibration"]["bins"]
    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=110)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o",
            label=f"model (ECE {priority['model']['calibration']['ece']})")
    ax.set_xlabel("top-class probability")
    ax.set_ylabel("accuracy")
    ax.set_title("priority: reliability")
    ax.legend(loc="upper left", fontsize=8)
    return _save(plt, fig, out_dir / "priority_reliability.png")


def _resolution(plt, points: dict, out_dir: Path) -> str:
    true, p50 = np.asarray(points["true"]), np.asarray(points["p50"])
    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=110)
    ax.scatter(true, p50, s=4, alpha=0.35, label="resolved test tickets")
    low, high = 0.05, max(true.max(), p50.max()) * 1.5
    grid = np.array([low, high])
    ax.plot(grid, grid, color="grey", linestyle=":")
    ax.fill_between(grid, grid / 2, grid * 2, color="grey", alpha=0.15, label="within 2x")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("true hours")
    ax.set_ylabel("predicted p50 hours")
    ax.set_title("resolution time")
    ax.legend(loc="upper left", fontsize=8)
    return _save(plt, fig, out_dir / "resolution_scatter.png")


def _save(plt, fig, path: Path) -> str:
    fig.tight_layout()
    # A fixed creation date keeps PNGs byte-identical between runs of the same model.
    fig.savefig(path, metadata={"Software": None, "Creation Time": None})
    plt.close(fig)
    return path.name
