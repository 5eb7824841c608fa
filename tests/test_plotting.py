"""plotting: the fixed-noise GIF and the architecture figure (report Figure 1)."""

import numpy as np
import pytest

from gan_utils import plotting


def test_save_gif_writes_one_frame_per_epoch(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    snaps = {e: rng.integers(0, 256, (100, 28, 28), dtype=np.uint8) for e in (0, 1, 5, 10)}
    path = plotting.save_gif(snaps, "grid", tmp_path / "figs", fps=4)
    assert path == tmp_path / "figs" / "grid.gif" and path.is_file()
    assert path.stat().st_size < 600_000
    with Image.open(path) as im:
        assert im.format == "GIF" and getattr(im, "n_frames", 1) == len(snaps)
        assert max(im.size) <= 400
    assert plotting.save_gif({0: snaps[0][:, :, :, None]}, "one.gif", tmp_path).name == "one.gif"


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def test_architecture_of_a_dense_gan(keras, tmp_path):
    import matplotlib.pyplot as plt
    from keras import layers

    z = keras.Input((100,), name="z")
    x = layers.Dense(150, activation="relu")(z)
    x = layers.Dense(784, activation="tanh")(x)
    g = keras.Model(z, layers.Reshape((28, 28, 1))(x))
    image = keras.Input((28, 28, 1), name="image")
    h = layers.Dropout(0.3)(layers.LeakyReLU(0.2)(layers.Dense(300)(layers.Flatten()(image))))
    d = keras.Model(image, layers.Dense(2)(h))
    fig = plotting.plot_architecture([g, d], ["G", "D"])
    texts = _texts(fig)
    assert {
        "z (100)",
        "Dense 150, ReLU",
        "Dense 784, tanh → 28×28×1",
        "image (28×28×1) → 784",
        "Dense 300\nLeakyReLU 0.2, Dropout 0.3",
        "Dense 2",
    } <= set(texts), texts
    assert not any("from " in t for t in texts)
    assert [ax.get_title() for ax in fig.axes] == [
        f"G\n{g.count_params():,} parameters",
        f"D\n{d.count_params():,} parameters",
    ]
    plotting.save_fig(fig, "dense", tmp_path)
    plt.close(fig)


def test_architecture_shows_where_the_label_joins(keras, tmp_path):
    import matplotlib.pyplot as plt
    from keras import layers

    z, label = keras.Input((16,), name="z"), keras.Input((10,), name="label")
    x = layers.Dense(7 * 7 * 8, use_bias=False)(layers.Concatenate()([z, label]))
    x = layers.ReLU()(layers.BatchNormalization()(layers.Reshape((7, 7, 8))(x)))
    planes = layers.UpSampling2D((7, 7))(layers.Reshape((1, 1, 10))(label))
    x = layers.Concatenate()([x, planes])
    x = layers.Conv2DTranspose(4, 4, strides=2, padding="same", activation="tanh")(x)
    g = keras.Model([z, label], x)
    fig = plotting.plot_architecture([g])
    texts = _texts(fig)
    assert "label (10)" in texts and "z (16)" in texts
    assert "Dense 392, no bias → 7×7×8\nBatchNorm, ReLU" in texts
    assert "Reshape → 1×1×10\nUpSampling 7×7 → 7×7×10" in texts
    assert "Concatenate → 7×7×18" in texts
    assert any(t.startswith("Conv2DTranspose 4, 4×4, stride 2, tanh") and "→ 14×14×4" in t for t in texts)
    # where the boxes are drawn: (text, x, y) of each box's label, in data units (inches)
    where = [(b.get_text(), *b.get_position()) for ax in fig.axes for b in ax.texts if b.get_text()]
    x_main = next(x for s, x, _ in where if s == "z (16)")
    main = sorted((-y, s.split()[0]) for s, x, y in where if x == x_main)
    assert [s for _, s in main] == ["z", "Concatenate", "Dense", "Concatenate", "Conv2DTranspose"]  # top to bottom

    def left_of(bx, by):  # the nearest box at the same height to the left of the point (bx, by)
        return max((x, s) for s, x, y in where if y == by and x < bx)[1]

    labels = [(x, y) for s, x, y in where if s == "label (10)"]
    assert len(labels) == 2  # the label enters two blocks and is drawn beside each
    assert sorted(left_of(x, y).split()[0] for x, y in labels) == ["Concatenate", "Reshape"]
    planes = next((x, y) for s, x, y in where if s.startswith("Reshape → 1×1×10"))
    assert left_of(*planes) == "Concatenate → 7×7×18"  # the label planes join the feature maps
    plotting.save_fig(fig, "conditional", tmp_path)
    plt.close(fig)


def test_architecture_marks_the_named_additions(keras):
    import matplotlib.pyplot as plt
    from keras import layers
    from matplotlib.patches import FancyBboxPatch

    z, label = keras.Input((16,), name="z"), keras.Input((10,), name="label")
    x = layers.Reshape((7, 7, 8))(layers.Dense(7 * 7 * 8)(z))
    planes = layers.UpSampling2D((7, 7), name="label_planes")(layers.Reshape((1, 1, 10))(label))
    g = keras.Model([z, label], layers.Concatenate(name="with_planes")([x, planes]))
    fig = plotting.plot_architecture([g], marked={"label_planes"}, marked_note="beyond the report.")
    red = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch) and p.get_linestyle() == "--"]
    assert len(red) == 1 and len(fig.axes[0].patches) > 1  # the Reshape + UpSampling block only
    assert fig.texts[-1].get_text().endswith(" Red dashed: beyond the report.")
    plt.close(fig)
    plain = plotting.plot_architecture([g])
    assert not any(p.get_linestyle() == "--" for p in plain.axes[0].patches)
    assert "Red dashed" not in plain.texts[-1].get_text()
    plt.close(plain)


def test_figure2_plots_confidence_as_the_report_does():
    """Left panel: D's confidence that generated digits are fake, 1 - D(G(z)); right: D(x); equilibria drawn."""
    import matplotlib.pyplot as plt

    from gan_utils import plotting

    history = [{"iteration": i, "val_d_fake": 0.2, "val_d_real": 0.7} for i in range(1, 11)]
    fig, (left, right) = plt.subplots(1, 2)
    plotting.plot_d_confidence(history, left, right, label_smoothing=0.1)
    assert np.allclose(left.lines[0].get_ydata(), 0.8) and np.allclose(right.lines[0].get_ydata(), 0.7)
    flat = lambda ax: sorted(round(float(line.get_ydata()[0]), 3) for line in ax.lines[2:])  # noqa: E731
    assert flat(left) == [0.5, 0.55] and flat(right) == [0.45, 0.5]
    assert "fake" in left.get_title() and "1 - D(G(z))" in left.get_ylabel()
    plt.close(fig)


def test_save_fig_writes_png_into_the_given_folder(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    fig, ax = plt.subplots()
    plotting.image_grid(np.zeros((12, 28, 28), np.uint8), nrows=3, ax=ax, row_labels=list("abc"))
    out = plotting.save_fig(fig, "grid", tmp_path / "figs")
    plt.close(fig)
    assert out == tmp_path / "figs" / "grid.png" and out.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["figs"]  # nothing in the working directory
    with pytest.raises(ValueError, match="FIG_DIR"):
        plotting.save_fig(fig, "grid", None)


def test_image_grid_places_digits_row_by_row():
    import matplotlib.pyplot as plt

    imgs = np.zeros((6, 28, 28), np.uint8)
    imgs[4] = 255  # row 1, column 1 of a 2x3 grid
    ax = plotting.image_grid(imgs, nrows=2, ncols=3, pad=1)
    canvas = ax.images[0].get_array()
    assert canvas.shape == (57, 86)
    assert canvas[29:57, 29:57].min() == 255 and canvas[:28, :28].max() == 0
    plt.close("all")


def test_smooth_ignores_nan():
    v = np.array([1.0, np.nan, 3.0, 3.0])
    s = plotting.smooth(v, 3)
    assert np.all(np.isfinite(s)) and s[1] == pytest.approx(2.0)
