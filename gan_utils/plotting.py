"""Digit grids and saving figures (taught in 01_background).

``save_fig`` writes PNGs into the folder a notebook's ``FIG_DIR`` parameter
names (by default ``figures/<notebook>/``), works headless, and refuses a bare
file name so nothing lands in the current directory by accident.
"""
import re
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


def _inbound(model):
    """Layer name -> names of the layers feeding it, from the functional model's config."""
    out = {}
    for cfg in model.get_config().get("layers", []):
        names = []

        def walk(x):
            if isinstance(x, dict):
                hist = x.get("config", {}).get("keras_history") if x.get("class_name") == "__keras_tensor__" else None
                if hist:
                    names.append(hist[0])
                else:
                    for v in x.values():
                        walk(v)
            elif isinstance(x, (list, tuple)):
                for v in x:
                    walk(v)

        walk(cfg.get("inbound_nodes", []))
        out[cfg["name"]] = names
    return out


def _layer_rows(model):
    rows = []
    inbound = _inbound(model)
    previous = None
    for layer in model.layers:
        shape = layer.output.shape if hasattr(layer, "output") else None
        shape = "x".join("?" if s is None else str(s) for s in shape[1:]) if shape is not None else ""
        kind = type(layer).__name__
        detail = ""
        cfg = layer.get_config()
        if kind == "Dense":
            detail = f"{cfg['units']} unit" + ("s" if cfg["units"] > 1 else "") + (f", {cfg['activation']}" if cfg.get("activation") not in (None, "linear") else "")
        elif kind in ("Conv2D", "Conv2DTranspose"):
            detail = f"{cfg['filters']} filters {cfg['kernel_size'][0]}x{cfg['kernel_size'][1]}, stride {cfg['strides'][0]}"
            if cfg.get("activation") not in (None, "linear"):
                detail += f", {cfg['activation']}"
        elif kind == "LeakyReLU":
            detail = f"slope {cfg.get('negative_slope', cfg.get('alpha'))}"
        elif kind == "Dropout":
            detail = f"rate {cfg['rate']}"
        elif kind == "InputLayer":
            kind = f"Input '{layer.name}'"
        default_name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(layer).__name__).lower()
        if not kind.startswith("Input") and re.sub(r"_\d+$", "", layer.name) != default_name:
            kind += f" '{layer.name}'"
        params = layer.count_params()
        sources = inbound.get(layer.name, [])
        chained = sources == [previous] if previous is not None else False
        if sources and not chained:
            detail = (detail + "; " if detail else "") + "from " + " + ".join(sources)
        rows.append((kind, detail, shape, params, chained))
        previous = layer.name
    return rows


def plot_architecture(models, titles=None, fig_width=5.0):
    """Draw Keras models as columns of boxes: layer, settings, output shape, parameters (02, 03).

    Drawn from the models themselves, so the figure cannot disagree with the code.
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    tables = [_layer_rows(m) for m in models]
    n_rows = max(len(t) for t in tables)
    fig, axes = plt.subplots(1, len(models), figsize=(fig_width * len(models), 0.55 * n_rows + 1.5), squeeze=False)
    for ax, model, rows, title in zip(axes[0], models, tables, titles or [m.name for m in models]):
        ax.set_xlim(0, 1)
        ax.set_ylim(-n_rows - 0.3, 0.8)
        ax.axis("off")
        ax.set_title(f"{title}\n{model.count_params():,} parameters", fontsize=11)
        for i, (kind, detail, shape, params, chained) in enumerate(rows):
            y = -i
            color = "#dbe9f6" if kind.startswith("Input") else ("#fde2c8" if kind in ("Dense", "Conv2D", "Conv2DTranspose") else "#eeeeee")
            ax.add_patch(FancyBboxPatch((0.03, y - 0.36), 0.94, 0.72, boxstyle="round,pad=0.01", fc=color, ec="#555555", lw=0.8))
            ax.text(0.06, y + (0.13 if detail else 0), kind, va="center", ha="left", fontsize=8.5)
            if detail:
                ax.text(0.06, y - 0.17, detail, va="center", ha="left", fontsize=7, color="#444444")
            ax.text(0.94, y, f"{shape}" + (f"  [{params:,}]" if params else ""), va="center", ha="right", fontsize=8, color="#333333")
            if chained:
                ax.annotate("", xy=(0.5, y + 0.36), xytext=(0.5, y + 0.64), arrowprops=dict(arrowstyle="->", lw=0.7))
    fig.text(0.5, 0.005, "Each box: layer, its settings and inputs (when not the box above); right: output shape "
             "and [trainable + non-trainable parameters]. Arrows join a layer to the one it feeds.",
             ha="center", fontsize=8, color="#444444")
    fig.tight_layout()
    return fig


def smooth(values, window=50):
    """Moving average that ignores NaN, same length as ``values`` (02, 04)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    ok = np.isfinite(v)
    k = np.ones(max(1, min(int(window), len(v))))
    num = np.convolve(np.where(ok, v, 0.0), k, mode="same")
    den = np.convolve(ok.astype(np.float64), k, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def plot_d_confidence(history, ax_fake, ax_real, label=None, window=5, color=None, label_smoothing=0.0):
    """Report Figure 2: D's confidence at each validation step against iteration (02, 03, 04).

    Left: confidence that generated digits are fake, 1 - D(G(z)); right: confidence that real digits are
    real, D(x). Raw validation points, a smoothed line, 1/2 (dashed) and, with one-sided label smoothing s,
    the equilibrium values 1/2 + s/2 and 1/2 - s/2 (dotted).
    """
    it = np.array([r["iteration"] for r in history if r.get("val_d_fake") is not None], dtype=np.float64)
    s = float(label_smoothing)
    for ax, key, flip, title, sym, eq in (
            (ax_fake, "val_d_fake", True, "generated digits are fake", "1 - D(G(z))", 0.5 + s / 2),
            (ax_real, "val_d_real", False, "real digits are real", "D(x)", 0.5 - s / 2)):
        v = np.array([r[key] for r in history if r.get(key) is not None], dtype=np.float64)
        v = 1.0 - v if flip else v
        pts = ax.plot(it, v, ".", ms=3, alpha=0.35, color=color)
        ax.plot(it, smooth(v, window), "-", lw=1.8, color=pts[0].get_color(), label=label)
        ax.axhline(0.5, color="k", ls="--", lw=0.8)
        if s:
            ax.axhline(eq, color="k", ls=":", lw=0.9)
            ax.annotate(f"equilibrium with label smoothing {s:g}: {eq:g}", (0.02, eq), xycoords=("axes fraction", "data"),
                        xytext=(0, 3), textcoords="offset points", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"mean {sym}, validation")
        ax.set_title(f"D's confidence that {title}")
    return ax_fake, ax_real


def plot_losses(history, ax, window=50, label_prefix=""):
    """Raw per-iteration D and G losses with a moving average (02, 03)."""
    it = np.array([r["iteration"] for r in history], dtype=np.float64)
    for key, name in (("d_loss", "D loss"), ("g_loss", "G loss")):
        v = np.array([r[key] for r in history], dtype=np.float64)
        pts = ax.plot(it, v, ",", alpha=0.25)
        ax.plot(it, smooth(v, window), "-", color=pts[0].get_color(), label=label_prefix + name)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title("losses per iteration (dots) and moving average")
    ax.legend()
    return ax
