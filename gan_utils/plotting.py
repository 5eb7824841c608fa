"""Digit grids and saving figures (taught in 01_background).

``save_fig`` writes PNGs into the folder a notebook's ``FIG_DIR`` parameter
names (by default ``figures/<notebook>/``), works headless, and refuses a bare
file name so nothing lands in the current directory by accident.
"""
from pathlib import Path

import numpy as np

DPI = 100


def save_fig(fig, name, fig_dir, dpi=DPI):
    """Save ``fig`` as ``fig_dir/name.png`` and return the path (01)."""
    if fig_dir is None:
        raise ValueError("save_fig needs a folder: pass the notebook's FIG_DIR.")
    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    path = fig_dir / (name if name.endswith(".png") else name + ".png")
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
    return path


def image_grid(images, nrows=None, ncols=None, ax=None, row_labels=None, col_labels=None,
               title=None, pad=1, cmap="gray_r"):
    """Draw digits as one tiled image, row by row (01).

    ``images``: (N, 28, 28) or (N, 28, 28, 1), uint8 (0-255) or float in [-1, 1].
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    x = np.asarray(images)
    if x.ndim == 4:
        x = x[..., 0]
    if x.dtype != np.uint8:
        x = np.clip((x.astype(np.float32) + 1.0) * 127.5, 0, 255)
    n, h, w = x.shape
    if ncols is None:
        ncols = int(np.ceil(np.sqrt(n))) if nrows is None else int(np.ceil(n / nrows))
    if nrows is None:
        nrows = int(np.ceil(n / ncols))
    canvas = np.zeros((nrows * (h + pad) - pad, ncols * (w + pad) - pad), dtype=np.float32)
    for i in range(min(n, nrows * ncols)):
        r, c = divmod(i, ncols)
        canvas[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = x[i]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(2.0, ncols * 0.45), max(2.0, nrows * 0.45)))
    ax.imshow(canvas, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([] if col_labels is None else [c * (w + pad) + w / 2 for c in range(len(col_labels))])
    ax.set_yticks([] if row_labels is None else [r * (h + pad) + h / 2 for r in range(len(row_labels))])
    if col_labels is not None:
        ax.set_xticklabels(col_labels)
        ax.xaxis.tick_top()
    if row_labels is not None:
        ax.set_yticklabels(row_labels)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    if title:
        ax.set_title(title)
    return ax
