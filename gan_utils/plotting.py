"""Digit grids, training plots, the architecture figure and saving figures (taught in 01_background).

``save_fig`` writes PNGs into the notebook's ``FIG_DIR`` and refuses a missing folder, so nothing lands in
the current directory by accident.
"""
from pathlib import Path

import numpy as np

DPI = 100


def _target(fig_dir, name, suffix):
    if fig_dir is None:
        raise ValueError("save_fig needs a folder: pass the notebook's FIG_DIR.")
    Path(fig_dir).mkdir(parents=True, exist_ok=True)
    return Path(fig_dir) / (name if name.endswith(suffix) else name + suffix)


def save_fig(fig, name, fig_dir, dpi=DPI):
    """Save ``fig`` as ``fig_dir/name.png`` and return the path (01)."""
    path = _target(fig_dir, name, ".png")
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
    return path


def image_grid(images, nrows=None, ncols=None, ax=None, row_labels=None, col_labels=None,
               title=None, pad=1, cmap="gray_r"):
    """Draw uint8 or [-1, 1] digits (N, 28, 28[, 1]) as one tiled image, row by row; returns the Axes (01)."""
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


def save_gif(snapshots, name, fig_dir, nrows=10, fps=2, title_fmt="epoch {}"):
    """Write ``fig_dir/name.gif``: one frame per epoch of ``snapshots`` (epoch -> uint8 digits) (02, 03)."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import PillowWriter

    path = _target(fig_dir, name, ".gif")
    fig = plt.figure(figsize=(3.0, 3.2), dpi=DPI)
    ax = fig.add_axes([0.02, 0.02, 0.96, 0.88])
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, str(path), dpi=DPI):
        for epoch in sorted(snapshots):
            ax.clear()
            image_grid(snapshots[epoch], nrows=nrows, ax=ax)
            ax.set_title(title_fmt.format(epoch), fontsize=10)
            writer.grab_frame()
    plt.close(fig)
    return path


def _inbound(model):
    """Layer name -> names of the layers feeding it, in order, from the functional model's config."""
    def walk(x):
        if isinstance(x, dict):
            if x.get("class_name") == "__keras_tensor__":
                return [x["config"]["keras_history"][0]]
            x = list(x.values())
        return [n for v in x for n in walk(v)] if isinstance(x, (list, tuple)) else []
    return {cfg["name"]: walk(cfg.get("inbound_nodes", [])) for cfg in model.get_config()["layers"]}


_MODIFIERS = {"Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "BatchNormalization",
              "LayerNormalization", "Dropout"}
_RESHAPES = {"Reshape", "Flatten", "UpSampling2D"}


def _shape(layer):
    return "×".join("?" if s is None else str(s) for s in layer.output.shape[1:])


def _describe(layer):
    k, c = type(layer).__name__, layer.get_config()
    act = {"relu": "ReLU", "linear": "", "None": ""}.get(str(c.get("activation")), str(c.get("activation")))
    extra = (f", {act}" if act else "") + ("" if c.get("use_bias", True) else ", no bias")
    if k.startswith("Conv"):
        return f"{k} {c['filters']}, {c['kernel_size'][0]}×{c['kernel_size'][1]}, stride {c['strides'][0]}{extra}"
    return {"InputLayer": f"{layer.name} ({_shape(layer)})", "Dense": f"Dense {c.get('units')}{extra}",
            "Activation": act, "BatchNormalization": "BatchNorm", "Dropout": f"Dropout {c.get('rate')}",
            "LeakyReLU": f"LeakyReLU {c.get('negative_slope', c.get('alpha'))}",
            "UpSampling2D": "UpSampling {}×{}".format(*(c.get("size") or "??"))}.get(k, k)


def _graph(model):
    """Blocks: a layer with the activation, normalization, dropout and reshape layers it alone feeds."""
    inbound = _inbound(model)
    uses = {n: sum(n in v for v in inbound.values()) for n in inbound}
    blocks, block_of = [], {}
    for layer in model.layers:
        src, k = inbound.get(layer.name, []), type(layer).__name__
        if k in _MODIFIERS | _RESHAPES and len(src) == 1 and uses[src[0]] == 1 and src[0] in block_of:
            b = block_of[src[0]]
            blocks[b]["layers"].append(layer)
        else:
            b = len(blocks)
            blocks.append({"layers": [layer], "kind": k, "inputs": list(dict.fromkeys(block_of[s] for s in src))})
        block_of[layer.name] = b
    for blk in blocks:
        lines, mod = [], False
        for layer in blk["layers"]:
            k, d = type(layer).__name__, _describe(layer)
            if k in _MODIFIERS and mod:
                lines[-1] += f", {d}"
            elif k in ("Reshape", "Flatten") and lines and not mod and "→" not in lines[-1]:
                lines[-1] += f" → {_shape(layer)}"
            elif k in _MODIFIERS or k in ("Dense", "InputLayer"):
                lines.append(d)
            else:
                lines += [d, f"→ {_shape(layer)}"] if len(d) > 24 else [f"{d} → {_shape(layer)}"]
            mod = k in _MODIFIERS
        blk["text"] = lines
    return blocks


def _layout(model, blocks):
    """(row, column) per block: the longest path from the first input down column 0, branches beside it."""
    n, users = len(blocks), [[] for _ in blocks]
    for b, blk in enumerate(blocks):
        for p in blk["inputs"]:
            users[p].append(b)
    row, dist = [0] * n, [None] * n
    first = model.get_config()["input_layers"]
    first = first[0] if isinstance(first[0], (list, tuple)) else first
    dist[next(b for b, blk in enumerate(blocks) if blk["layers"][0].name == first[0])] = 0
    for b in range(n):
        row[b] = 1 + max((row[p] for p in blocks[b]["inputs"]), default=-1)
        ds = [dist[p] for p in blocks[b]["inputs"] if dist[p] is not None]
        dist[b] = 1 + max(ds) if ds else dist[b]
    main, b = [], max(b for b in range(n) if not users[b] and dist[b] is not None)
    while b is not None:  # back along the longest path from the first input
        main.append(b)
        b = max((p for p in blocks[b]["inputs"] if dist[p] is not None), key=lambda p: dist[p], default=None)
    for b in reversed(range(n)):  # branches sit just above the block they join
        if b not in main and blocks[b]["inputs"] and users[b]:
            row[b] = min(row[c] for c in users[b]) - 1
    col, cells, passed = {b: 0 for b in main}, {(row[b], 0) for b in main}, set()

    def route(a, b):  # the grid cells an arrow from a to b passes (down, then sideways into b; or out, then down)
        (r1, c1), (r2, c2) = (row[a], col[a]), (row[b], col[b])
        if c2 < c1:
            return {(r, c1) for r in range(r1 + 1, r2 + 1)} | {(r2, c) for c in range(c2 + 1, c1)}
        return {(r1, c) for c in range(c1 + 1, c2 + 1)} | {(r, c2) for r in range(r1 + 1, r2)}

    for b in sorted(set(range(n)) - set(main), key=lambda b: (row[b], b)):
        for col[b] in range(1, n + 1):  # the first free column whose arrows cross no block
            crossed = set().union(*(route(p, b) for p in blocks[b]["inputs"] if p in col),
                                  *(route(b, q) for q in users[b] if q in col))
            if (row[b], col[b]) not in cells | passed and not crossed & cells:
                cells.add((row[b], col[b]))
                passed |= crossed
                break
    return row, col


_COLORS = {"InputLayer": "#dbe9f6", "Dense": "#fde2c8", "Conv2D": "#fde2c8", "Conv2DTranspose": "#fde2c8",
           "Concatenate": "#d9f0d3", "Add": "#d9f0d3", "Dot": "#d9f0d3", "Multiply": "#d9f0d3"}


def plot_architecture(models, titles=None, fig_width=None):
    """Report Figure 1 drawn from functional Keras models: blocks with sizes, arrows, inputs joining (02, 03).

    ``fig_width``: the least width in inches. Returns the Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    CH, LH, PAD, GAP = 0.066, 0.16, 0.1, 0.35  # inches: per character, per line, inside a box, between columns
    titles = titles or [m.name for m in models]
    drawn = []
    for model, title in zip(models, titles):
        blocks = _graph(model)
        row, col = _layout(model, blocks)
        ncol = max(col.values()) + 1
        width = [max([len(max(blk["text"], key=len)) * CH + 2 * PAD for b, blk in enumerate(blocks) if col[b] == c],
                     default=0.5) for c in range(ncol)]
        pitch = max(len(blk["text"]) for blk in blocks) * LH + 2 * PAD + 0.3
        x = [sum(width[:c]) + GAP * c + width[c] / 2 for c in range(ncol)]
        w = max(sum(width) + GAP * (ncol - 1), len(title) * 0.09)
        drawn.append((model, title, blocks, row, col, width, pitch, x, w, (max(row) + 1) * pitch - 0.25))
    height = max(d[-1] for d in drawn)
    fig_w = max(sum(d[-2] for d in drawn) + 0.5 * (len(drawn) - 1) + 0.4, fig_width or 0)
    fig = plt.figure(figsize=(fig_w, height + 1.1))
    left = 0.2 + (fig_w - 0.4 - sum(d[-2] for d in drawn) - 0.5 * (len(drawn) - 1)) / 2
    for model, title, blocks, row, col, width, pitch, x, w, _ in drawn:
        ax = fig.add_axes([left / fig_w, 0.4 / (height + 1.1), w / fig_w, height / (height + 1.1)])
        left += w + 0.5
        ax.set_xlim(0, w)
        ax.set_ylim(-height, 0)
        ax.axis("off")
        ax.set_title(f"{title}\n{model.count_params():,} parameters", fontsize=11)
        box = {}
        for b, blk in enumerate(blocks):
            bw, bh = width[col[b]], len(blk["text"]) * LH + 2 * PAD - 0.1
            bx, by = x[col[b]], -row[b] * pitch - 0.05 - bh / 2  # top-aligned in its row
            box[b] = (bx, by, bw, bh)
            ax.add_patch(FancyBboxPatch((bx - bw / 2, by - bh / 2), bw, bh, boxstyle="round,pad=0,rounding_size=0.05",
                                        fc=_COLORS.get(blk["kind"], "#eeeeee"), ec="#555555", lw=0.8))
            ax.text(bx, by, "\n".join(blk["text"]), ha="center", va="center", fontsize=8, linespacing=1.35)
        for b, blk in enumerate(blocks):
            for p in blk["inputs"]:
                (x1, y1, w1, h1), (x2, y2, w2, h2) = box[p], box[b]
                if col[p] == col[b]:
                    pts = [(x1, y1 - h1 / 2), (x2, y2 + h2 / 2)]
                elif col[b] < col[p]:
                    pts = [(x1, y1 - h1 / 2), (x1, y2), (x2 + w2 / 2, y2)]
                else:
                    pts = [(x1 + w1 / 2, y1), (x2, y1), (x2, y2 + h2 / 2)]
                (x1, y1), (x2, y2) = pts[-2:]
                d = max(abs(x2 - x1) + abs(y2 - y1), 1e-9)  # the head sits on the last 0.1 inch
                ax.plot(*zip(*pts), color="#444444", lw=0.8)
                ax.annotate("", xy=pts[-1], xytext=(x2 - 0.1 * (x2 - x1) / d, y2 - 0.1 * (y2 - y1) / d),
                            arrowprops=dict(arrowstyle="-|>", color="#444444", lw=0.8, mutation_scale=9,
                                            shrinkA=0, shrinkB=0))
    fig.text(0.5, 0.15 / (height + 1.1), "Each block: a layer with the activation, normalization and dropout layers "
             "that follow it; → output shape (batch left out).", ha="center", fontsize=8, color="#444444")
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
    """Report Figure 2: D's confidence 1 - D(G(z)) (left) and D(x) (right) at each validation step, smoothed,
    with 1/2 dashed and, for label smoothing s, the equilibria 1/2 +- s/2 dotted (02, 03, 04)."""
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
            ax.annotate(f"equilibrium with label smoothing {s:g}: {eq:g}", (0.02, eq),
                        xycoords=("axes fraction", "data"), xytext=(0, 3), textcoords="offset points", fontsize=8)
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
