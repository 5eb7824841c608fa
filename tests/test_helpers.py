"""params, paths, repro and plotting."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from gan_utils import params, paths, plotting, repro
from gan_utils.params import ParameterError


@pytest.mark.parametrize("value", [0, -3, 2.5, "10", True, None])
def test_positive_int_rejects(value):
    with pytest.raises(ParameterError, match=r"EPOCHS = .* is not allowed: EPOCHS must be a whole number >= 1\."):
        params.positive_int("EPOCHS", value)


def test_positive_int_accepts():
    assert params.positive_int("EPOCHS", 5) == 5
    assert params.positive_int("N", 0, minimum=0) == 0


@pytest.mark.parametrize("value", [0.0, -1e-4, 1.5, "0.1", float("nan")])
def test_number_bounds(value):
    with pytest.raises(ParameterError, match="LEARNING_RATE"):
        params.number("LEARNING_RATE", value, low=0, high=1, low_open=True)


def test_number_accepts_ints_and_floats():
    assert params.number("BETA_1", 0.5, 0, 1, high_open=True) == 0.5
    assert params.number("X", 1, 0) == 1.0


def test_choice_lists_the_allowed_values():
    with pytest.raises(ParameterError, match="'nonsaturating', 'saturating'"):
        params.choice("G_LOSS", "minimax", ("nonsaturating", "saturating"))


def test_boolean():
    with pytest.raises(ParameterError, match="True or False"):
        params.boolean("RESUME", "yes")


def test_int_list():
    assert params.int_list("SNAPSHOT_EPOCHS", [5, 0, 5], maximum=10) == [0, 5]
    with pytest.raises(ParameterError, match="<= 10"):
        params.int_list("SNAPSHOT_EPOCHS", [0, 25], maximum=10)
    with pytest.raises(ParameterError, match="not empty"):
        params.int_list("SNAPSHOT_EPOCHS", [])


def test_writable_dir(tmp_path):
    assert params.writable_dir("RUN_DIR", tmp_path / "a" / "b").is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ParameterError, match="RUN_DIR = .* must be a folder this user can write to"):
        params.writable_dir("RUN_DIR", blocker / "sub")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_writable_dir_read_only(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(ParameterError):
        params.writable_dir("FIG_DIR", ro / "x")


def test_default_folders_follow_output_root(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.OUTPUT_ROOT_VAR, str(tmp_path))
    assert paths.run_dir("02_dense_gan") == tmp_path / "runs" / "02_dense_gan"
    assert paths.fig_dir("02_dense_gan") == tmp_path / "figures" / "02_dense_gan"
    assert paths.fig_dir("x", tmp_path / "custom") == tmp_path / "custom"
    monkeypatch.delenv(paths.OUTPUT_ROOT_VAR)
    assert paths.fig_dir("01_background") == paths.PROJECT_ROOT / "figures" / "01_background"


def test_set_seed_repeats_numbers():
    import keras

    repro.set_seed(7)
    a = (np.random.rand(3), keras.random.normal((3,)).numpy())
    repro.set_seed(7)
    b = (np.random.rand(3), keras.random.normal((3,)).numpy())
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_run_info_records_parameters_seed_and_versions(tmp_path):
    p = repro.write_run_info(tmp_path, {"EPOCHS": 3}, seed=5, notebook="02_dense_gan")
    info = json.loads(p.read_text())
    assert info["seed"] == 5 and info["parameters"] == {"EPOCHS": 3}
    assert info["environment"]["tensorflow"] and info["environment"]["keras"].startswith("3.")


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


def test_architecture_figure_lists_every_layer():
    import matplotlib.pyplot as plt

    from gan_utils import models

    g = models.dense_generator()
    fig = plotting.plot_architecture([g], ["G"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sum("Dense" in t for t in texts) == 3
    assert any("28x28x1" in t for t in texts)
    assert f"{g.count_params():,}" in fig.axes[0].get_title()
    plt.close(fig)


def test_smooth_ignores_nan():
    v = np.array([1.0, np.nan, 3.0, 3.0])
    s = plotting.smooth(v, 3)
    assert np.all(np.isfinite(s)) and s[1] == pytest.approx(2.0)
