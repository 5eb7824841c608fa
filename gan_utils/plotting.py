"""Digit grids, training plots, the architecture figure and saving figures (taught in 01_background).

``save_fig`` writes into the notebook's ``FIG_DIR`` and refuses a missing folder.
"""

import json
import re
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import PillowWriter
from matplotlib.patches import FancyBboxPatch

DPI = 100


def _target(fig_dir, name, suffix):
    if fig_dir is None:
        raise ValueError("save_fig needs a folder: pass the notebook's FIG_DIR.")
    Path(fig_dir).mkdir(parents=True, exist_ok=True)
    return Path(fig_dir) / (name if name.endswith(suffix) else name + suffix)


FORMATS = ("png", "pdf", "svg")


def save_fig(fig, name, fig_dir, fmt="png", dpi=DPI):
    """Save ``fig`` as ``fig_dir/name.<fmt>`` (png, or pdf/svg for reports) and return the path (01)."""
    if fmt not in FORMATS:
        raise ValueError(f"FIG_FORMAT = {fmt!r} is not allowed: use one of {', '.join(FORMATS)}.")
    path = _target(fig_dir, name, "." + fmt)
    # Fixed metadata: the same figure gives the same bytes, so a rerun does not show up as a change in git.
    metadata = {"png": None, "pdf": {"CreationDate": None}, "svg": {"Date": None}}[fmt]
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white", metadata=metadata)
    return path


def image_grid(
    images, nrows=None, ncols=None, ax=None, row_labels=None, col_labels=None, title=None, pad=1, cmap="gray_r"
):
    """Draw uint8 or [-1, 1] digits (N, 28, 28[, 1]) as one tiled image, row by row; returns the Axes (01)."""
    x = np.asarray(images)
    x = x[..., 0] if x.ndim == 4 else x
    if x.dtype != np.uint8:
        x = np.clip((x.astype(np.float32) + 1.0) * 127.5, 0, 255)
    n, h, w = x.shape
    ncols = ncols or int(np.ceil(np.sqrt(n) if nrows is None else n / nrows))
    nrows = nrows or int(np.ceil(n / ncols))
    canvas = np.zeros((nrows * (h + pad) - pad, ncols * (w + pad) - pad), dtype=np.float32)
    for i in range(min(n, nrows * ncols)):
        r, c = divmod(i, ncols)
        canvas[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = x[i]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(2.0, ncols * 0.45), max(2.0, nrows * 0.45)))
    ax.imshow(canvas, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([c * (w + pad) + w / 2 for c in range(len(col_labels or []))], col_labels or [])
    ax.set_yticks([r * (h + pad) + h / 2 for r in range(len(row_labels or []))], row_labels or [])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    if title:
        ax.set_title(title)
    return ax


def save_gif(snapshots, name, fig_dir, nrows=10, fps=2, title_fmt="epoch {}"):
    """Write ``fig_dir/name.gif``: one frame per epoch of ``snapshots`` (epoch -> uint8 digits) (02, 03)."""
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


_MODIFIERS = {
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "Softmax",
    "BatchNormalization",
    "LayerNormalization",
    "Dropout",
}
_WORDS = {
    "InputLayer": "{name} ({shape})",
    "Dense": "Dense {units}{extra}",
    "Activation": "{act}",
    "BatchNormalization": "BatchNorm",
    "Dropout": "Dropout {rate}",
    "LeakyReLU": "LeakyReLU {negative_slope}",
    "UpSampling2D": "UpSampling {size[0]}×{size[1]}",
    "Conv": "{kind} {filters}, {kernel_size[0]}×{kernel_size[1]}, stride {strides[0]}{extra}",
}
_COLORS = {
    "InputLayer": "#dbe9f6",
    "Dense": "#fde2c8",
    "Conv2D": "#fde2c8",
    "Conv2DTranspose": "#fde2c8",
    "Concatenate": "#d9f0d3",
    "Add": "#d9f0d3",
    "Dot": "#d9f0d3",
    "Multiply": "#d9f0d3",
}


def _describe(layer):
    """A layer in words, then its output shape where that says more, e.g. "Conv2D 64, 4×4, stride 2 → 14×14×64"."""
    kind, c = type(layer).__name__, layer.get_config()
    act = {"relu": "ReLU", "linear": "", "None": ""}.get(str(c.get("activation")), str(c.get("activation")))
    extra = (f", {act}" if act else "") + ("" if c.get("use_bias", True) else ", no bias")
    shape = "×".join("?" if s is None else str(s) for s in layer.output.shape[1:])
    words = _WORDS.get("Conv" if kind.startswith("Conv") else kind, kind)
    words = words.format_map({**c, "kind": kind, "act": act, "extra": extra, "shape": shape})
    if kind in _MODIFIERS or kind in ("InputLayer", "Dense"):
        return words
    return words + ("\n→ " if len(words) > 24 else " → ") + shape


def _blocks(model):
    """Blocks in ``model.layers`` order (topological): a layer with the activation, normalization and reshape layers
    it alone feeds. Each has its first layer's ``kind``, lines of ``text`` and the blocks that are its ``inputs``."""
    inbound = {
        c["name"]: re.findall(r'"keras_history": \["([^"]+)"', json.dumps(c.get("inbound_nodes", [])))
        for c in model.get_config()["layers"]
    }
    uses = Counter(n for src in inbound.values() for n in src)
    blocks, block_of = [], {}
    for layer in model.layers:
        src, kind, words = inbound[layer.name], type(layer).__name__, _describe(layer)
        if kind in _MODIFIERS | {"Reshape", "Flatten", "UpSampling2D"} and len(src) == 1 and uses[src[0]] == 1:
            b = block_of[src[0]]
            blocks[b]["names"].append(layer.name)
            if kind in _MODIFIERS and blocks[b]["last"] in _MODIFIERS:
                blocks[b]["text"][-1] += ", " + words
            elif kind in ("Reshape", "Flatten") and blocks[b]["last"] in ("Dense", "InputLayer"):
                blocks[b]["text"][-1] += words[len(kind) :]
            else:
                blocks[b]["text"] += words.split("\n")
            blocks[b]["last"] = kind
        else:
            b = len(blocks)
            blocks.append(
                {
                    "kind": kind,
                    "last": kind,
                    "text": words.split("\n"),
                    "inputs": list(dict.fromkeys(block_of[s] for s in src)),
                    "names": [layer.name],
                }
            )
        block_of[layer.name] = b
    return blocks


def _layout(blocks):
    """Boxes (block, row, column) and arrows (box, box it feeds): the path from the output back through first inputs
    runs down column 0; any other input joins from the right in the row of the block it feeds, drawn once per use."""
    main = [len(blocks) - 1]
    while blocks[main[-1]]["inputs"]:
        main.append(blocks[main[-1]]["inputs"][0])
    boxes, arrows = [(b, row, 0) for row, b in enumerate(reversed(main))], []
    on_main = {b: i for i, (b, _, _) in enumerate(boxes)}

    def join(target, row, col):  # draws the inputs of box ``target``; returns the next free column of the row
        for p in blocks[boxes[target][0]]["inputs"]:
            if p in on_main:
                arrows.append((on_main[p], target))
            else:
                boxes.append((p, row, col))
                arrows.append((len(boxes) - 1, target))
                col = join(len(boxes) - 1, row, col + 1)
        return col

    for row in range(len(main)):
        join(row, row, 1)
    return boxes, arrows


def _slots(sizes, slot_of):
    """Each row or column as big as its biggest box, 0.35 inch apart: their sizes and centres (inches)."""
    big = [max(s for s, k in zip(sizes, slot_of) if k == i) for i in range(max(slot_of) + 1)]
    return big, [sum(big[:i]) + 0.35 * i + b / 2 for i, b in enumerate(big)]


def plot_architecture(models, titles=None, fig_width=None, marked=(), marked_note=""):
    """Report Figure 1 from functional Keras models: blocks with sizes and shapes, arrows, and each further input
    (the digit label) joining beside the block it enters (02, 03). ``fig_width``: least width, inches. Blocks holding
    a layer named in ``marked`` get a red dashed edge, explained by ``marked_note``."""
    CH, LH, PAD = 0.066, 0.16, 0.1  # inches: per character, per line, inside a box
    fig, panels, repeated, marked = plt.figure(), [], False, set(marked)
    for model, title in zip(models, titles or [m.name for m in models]):
        blocks = _blocks(model)
        boxes, arrows = _layout(blocks)
        repeated |= len({b for b, _, _ in boxes}) < len(boxes)
        text = [blocks[b]["text"] for b, _, _ in boxes]
        col_w, xs = _slots([max(map(len, t)) * CH + 2 * PAD for t in text], [c for *_, c in boxes])
        row_h, ys = _slots([len(t) * LH + 2 * PAD for t in text], [r for _, r, _ in boxes])
        geo = [(xs[c], -ys[r], col_w[c], len(t) * LH + 2 * PAD) for (_, r, c), t in zip(boxes, text)]
        ax = fig.add_axes((0, 0, 1, 1))
        ax.axis("off")
        ax.set_title(f"{title}\n{model.count_params():,} parameters", fontsize=11)
        for (b, _, _), (x, y, w, h) in zip(boxes, geo):
            ax.add_patch(
                FancyBboxPatch(
                    (x - w / 2, y - h / 2),
                    w,
                    h,
                    boxstyle="round,pad=0,rounding_size=0.05",
                    fc=_COLORS.get(blocks[b]["kind"], "#eeeeee"),
                    **(
                        dict(ec="#c0392b", lw=1.6, ls="--")
                        if marked.intersection(blocks[b]["names"])
                        else dict(ec="#555555", lw=0.8)
                    ),
                )
            )
            ax.text(x, y, "\n".join(blocks[b]["text"]), ha="center", va="center", fontsize=8, linespacing=1.35)
        for p, b in arrows:
            (xp, yp, wp, hp), (xb, yb, wb, hb) = geo[p], geo[b]
            if xp == xb:  # down the main column
                pts = [(xp, yp - hp / 2), (xb, yb + hb / 2)]
            elif xp > xb:  # an input joining from the right
                pts = [(xp - wp / 2, yp), (xb + wb / 2, yb)]
            else:  # out of the main column to the right, then down into a side block
                pts = [(xp + wp / 2, yp), (xb, yp), (xb, yb + hb / 2)]
            ax.plot(*zip(*pts[:-1]), color="#444444", lw=0.8)
            ax.annotate(
                "",
                pts[-1],
                pts[-2],
                arrowprops=dict(arrowstyle="-|>", color="#444444", lw=0.8, mutation_scale=9, shrinkA=0, shrinkB=0),
            )
        panels.append((ax, max(xs[-1] + col_w[-1] / 2, len(title) * 0.09), ys[-1] + row_h[-1] / 2))
    height = max(h for *_, h in panels) + 1.1  # inches, with room for the titles and the note
    used = sum(w for _, w, _ in panels) + 0.5 * (len(panels) - 1)
    fig.set_size_inches(max(used + 0.4, fig_width or 0), height)
    left = (fig.get_figwidth() - used) / 2
    for ax, width, _ in panels:  # side by side, 0.5 inch apart, one data unit an inch
        ax.set(
            position=(left / fig.get_figwidth(), 0.4 / height, width / fig.get_figwidth(), 1 - 1.1 / height),
            xlim=(0, width),
            ylim=(1.1 - height, 0),
        )
        left += width + 0.5
    note = (
        "Each block: a layer with the activation, normalization and dropout layers that follow it; → output shape "
        "(batch left out)." + (" An input used in several places is drawn beside each block it enters." * repeated)
    ) + (f" Red dashed: {marked_note}" if marked and marked_note else "")
    fig.text(0.5, 0.15 / height, note, ha="center", fontsize=8, color="#444444")
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
        (ax_real, "val_d_real", False, "real digits are real", "D(x)", 0.5 - s / 2),
    ):
        v = np.array([r[key] for r in history if r.get(key) is not None], dtype=np.float64)
        v = 1.0 - v if flip else v
        pts = ax.plot(it, v, ".", ms=3, alpha=0.35, color=color)
        ax.plot(it, smooth(v, window), "-", lw=1.8, color=pts[0].get_color(), label=label)
        ax.axhline(0.5, color="k", ls="--", lw=0.8)
        if s:  # in the legend, which matplotlib places where it hides the least data
            ax.axhline(eq, color="k", ls=":", lw=0.9, label=f"equilibrium with label smoothing {s:g}: {eq:g}")
        if s or label:
            ax.legend(loc="best", fontsize=8)
        ax.set(
            ylim=(-0.02, 1.02),
            xlabel="iteration",
            ylabel=f"mean {sym}, validation",
            title=f"D's confidence that {title}",
        )
    return ax_fake, ax_real


def plot_losses(history, ax, window=50, label_prefix=""):
    """Raw D and G losses of the recorded iterations with a moving average over ``window`` rows (02, 03)."""
    it = np.array([r["iteration"] for r in history], dtype=np.float64)
    for key, name in (("d_loss", "D loss"), ("g_loss", "G loss")):
        v = np.array([r[key] for r in history], dtype=np.float64)
        pts = ax.plot(it, v, ",", alpha=0.25)
        ax.plot(it, smooth(v, window), "-", color=pts[0].get_color(), label=label_prefix + name)
    ax.set(xlabel="iteration", ylabel="loss", title="losses: recorded (dots), moving average")
    ax.legend()
    return ax
