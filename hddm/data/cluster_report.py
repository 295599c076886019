"""What a clustering looks like: a per-cluster table (size, share, top classes, purity) and a sample grid.

Purity of a cluster = share of its most common class; overall purity = sum of those majority counts / N.
Both only where the data has class labels (MNIST digits); real-scale data has none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hddm.io import atomic_write


def cluster_rows(assignment: np.ndarray, k: int, labels: np.ndarray | None, top: int = 3) -> list[dict]:
    rows = []
    for cluster in range(k):
        members = assignment == cluster
        size = int(members.sum())
        row = {"cluster": cluster, "size": size, "share": round(size / len(assignment), 4)}
        known = labels[members & (labels >= 0)] if labels is not None else np.empty(0)  # -1: an unlabelled item
        if len(known):
            classes, counts = np.unique(known, return_counts=True)
            order = np.argsort(-counts, kind="stable")[:top]
            row["top_classes"] = [[int(classes[i]), round(int(counts[i]) / len(known), 4)] for i in order]
            row["purity"] = round(int(counts[order[0]]) / len(known), 4)
        rows.append(row)
    return rows


def overall_purity(assignment: np.ndarray, k: int, labels: np.ndarray) -> float:
    """The share of labelled items in their cluster's majority class (unlabelled items, -1, left out)."""
    known = labels >= 0
    majority = sum(
        np.bincount(labels[(assignment == c) & known]).max() for c in range(k) if ((assignment == c) & known).any()
    )
    return round(float(majority) / max(int(known.sum()), 1), 4)


def markdown_table(rows: list[dict], class_names: list[str] | None = None) -> str:
    """class_names: what the label indices of the top classes are called, where the data names them."""
    name = (lambda c: class_names[c]) if class_names else str
    labelled = any("purity" in row for row in rows)
    header = "| cluster | size | share |" + (" top classes (share) | purity |" if labelled else "")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        line = f"| {row['cluster']} | {row['size']} | {row['share']:.1%} |"
        if labelled and "purity" in row:
            line += f" {', '.join(f'{name(c)}: {s:.0%}' for c, s in row['top_classes'])} | {row['purity']:.1%} |"
        elif labelled:  # an empty cluster
            line += " - | - |"
        lines.append(line)
    return "\n".join(lines)


def image_strip(images: list[torch.Tensor], columns: int, pad: int = 1) -> np.ndarray:
    """uint8 [C, H, W] images (grey or RGB, one size) side by side with grey gaps, then white up to `columns`
    tiles, so every row of the grid starts at the left and has the same scale."""
    tiles = [
        np.pad(image.expand(3, -1, -1).permute(1, 2, 0).numpy(), ((pad, pad), (pad, 0), (0, 0)), constant_values=128)
        for image in images
    ]
    strip = np.pad(np.concatenate(tiles, axis=1), ((0, 0), (0, pad), (0, 0)), constant_values=128)
    return np.pad(strip, ((0, 0), (0, (columns - len(images)) * tiles[0].shape[1]), (0, 0)), constant_values=255)


def sample_grid(images_per_cluster: list[list[torch.Tensor]], rows: list[dict], path: str | Path) -> Path:
    """One row of sample images per cluster, labelled with its id, size and purity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max((len(images) for images in images_per_cluster), default=1) or 1
    fig, axes = plt.subplots(len(rows), 1, figsize=(min(0.9 * columns + 1.2, 20), 1.0 * len(rows) + 0.3), squeeze=False)
    for axis, images, row in zip(axes[:, 0], images_per_cluster, rows):
        axis.set_xticks([]), axis.set_yticks([])
        label = f"c{row['cluster']}\nn={row['size']}" + (f"\np={row['purity']:.0%}" if "purity" in row else "")
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        if images:
            axis.imshow(image_strip(images, columns), interpolation="nearest")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return Path(path)
