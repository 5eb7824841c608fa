"""params (the rules and check), paths, repro and plotting (plot_architecture: tests/test_plotting.py)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from gan_utils import params, paths, plotting, records, seeding
from gan_utils.params import ParameterError


def _rule(rule, value, name="X", **others):
    return rule(name, value, others)


@pytest.mark.parametrize("value", [0, -3, 2.5, "10", True, None])
def test_whole_rejects(value):
    with pytest.raises(ParameterError, match=r"^EPOCHS = .* is not allowed: EPOCHS must be a whole number >= 1\.$"):
        _rule(params.whole(1), value, "EPOCHS")


def test_whole_accepts_and_bounds_may_name_another_parameter():
    assert _rule(params.whole(1), 5) == 5 and _rule(params.whole(0), 0) == 0
    assert _rule(params.whole(1), np.int64(3)) == 3 and type(_rule(params.whole(1), np.int64(3))) is int
    assert _rule(params.whole("BATCH_SIZE", 60000), 128, BATCH_SIZE=128) == 128
    with pytest.raises(ParameterError, match=r"TRAIN_IMAGES = 100 .* >= 128 and <= 60000"):
        _rule(params.whole("BATCH_SIZE", 60000), 100, "TRAIN_IMAGES", BATCH_SIZE=128)


@pytest.mark.parametrize("value", [0.0, -1e-4, 1.5, "0.1", float("nan"), True])
def test_real_bounds(value):
    with pytest.raises(ParameterError, match=r"^LEARNING_RATE = .* must be a number > 0 and <= 1\.$"):
        _rule(params.real(0, 1, low_open=True), value, "LEARNING_RATE")


def test_real_accepts_ints_and_floats():
    assert _rule(params.real(0, 1, high_open=True), 0.5) == 0.5
    assert _rule(params.real(0), 1) == 1.0 and isinstance(_rule(params.real(0), 1), float)
    assert _rule(params.real(0, 0.5), 0.5) == 0.5  # closed bounds include the bound
    with pytest.raises(ParameterError, match="< 1"):
        _rule(params.real(0, 1, high_open=True), 1.0, "BETA_1")


def test_one_of_lists_the_allowed_values():
    with pytest.raises(ParameterError, match="one of 'nonsaturating', 'saturating'"):
        _rule(params.one_of("nonsaturating", "saturating"), "minimax", "G_LOSS")
    assert _rule(params.one_of("a", "b"), "b") == "b"


def test_flag():
    with pytest.raises(ParameterError, match="True or False"):
        params.flag("RESUME", "yes", {})
    with pytest.raises(ParameterError, match="True or False"):
        params.flag("RESUME", 1, {})
    assert params.flag("RESUME", False, {}) is False


def test_epoch_list_sorts_dedupes_and_cuts_to_epochs_with_a_note(capsys):
    rule = params.epoch_list()
    assert _rule(rule, [5, 0, 5], EPOCHS=10) == [0, 5] and capsys.readouterr().out == ""
    assert _rule(rule, [0, 25], "SNAPSHOT_EPOCHS", EPOCHS=10) == [0, 10]
    assert capsys.readouterr().out == "note: SNAPSHOT_EPOCHS cut to [0, 10] (EPOCHS = 10).\n"
    assert _rule(rule, [50, 60], EPOCHS=3) == [3]
    for bad in ([], "[0, 1]", [0, -1], [0, 1.5], [True], None):
        with pytest.raises(ParameterError, match="non-empty list of whole numbers >= 0"):
            _rule(rule, bad, EPOCHS=10)


def test_capped_cuts_to_epochs_and_zero_switches_off(capsys):
    rule = params.capped()
    assert _rule(rule, 0, EPOCHS=3) == 0 and _rule(rule, 2, EPOCHS=3) == 2 and capsys.readouterr().out == ""
    assert _rule(rule, 4, "COMPARE_EPOCHS", EPOCHS=3) == 3
    assert "note: COMPARE_EPOCHS cut from 4 to 3" in capsys.readouterr().out
    with pytest.raises(ParameterError, match="COMPARE_EPOCHS = -1"):
        _rule(rule, -1, "COMPARE_EPOCHS", EPOCHS=3)


def test_real_list_and_multiple_of_10_and_folder():
    assert _rule(params.real_list(), [0.0002, 1e-3]) == [0.0002, 0.001]
    for bad in ([], [0.5, "fast"], [1.0], 0.5):
        with pytest.raises(ParameterError, match="non-empty list of numbers > 0 and < 1"):
            _rule(params.real_list(), bad, "SWEEP_BETA_1")
    assert params.multiple_of_10("EVAL_SAMPLES", 2000, {}) == 2000
    for bad in (1005, 90, 100.0):
        with pytest.raises(ParameterError, match="multiple of 10"):
            params.multiple_of_10("EVAL_SAMPLES", bad, {})
    assert params.folder("RUN_DIR", None, {}) is None and params.folder("RUN_DIR", "/tmp/x", {}) == "/tmp/x"
    with pytest.raises(ParameterError, match="None or a folder path"):
        params.folder("RUN_DIR", 5, {})


def test_check_returns_a_frozen_config_and_puts_checked_values_back(tmp_path, capsys):
    ns = {
        "EPOCHS": 3,
        "SNAPSHOT_EPOCHS": [0, 9],
        "LEARNING_RATE": 1,
        "RUN_DIR": str(tmp_path / "r"),
        "FIG_DIR": None,
        "UNRELATED": object(),
    }
    cfg = params.check(ns, "02_dense_gan")
    assert isinstance(cfg, params.RunConfig) and cfg.notebook == "02_dense_gan"
    assert set(cfg.parameters) == {"EPOCHS", "SNAPSHOT_EPOCHS", "LEARNING_RATE", "RUN_DIR", "FIG_DIR"}
    assert ns["SNAPSHOT_EPOCHS"] == cfg["SNAPSHOT_EPOCHS"] == [0, 3] and "note:" in capsys.readouterr().out
    assert ns["LEARNING_RATE"] == 1.0 and isinstance(ns["LEARNING_RATE"], float)
    assert ns["RUN_DIR"] == (tmp_path / "r").resolve() and isinstance(ns["RUN_DIR"], Path)
    assert cfg["RUN_DIR"] == str((tmp_path / "r").resolve())  # a string in the config (JSON, fingerprint)
    assert ns["FIG_DIR"] == paths.fig_dir("02_dense_gan") and ns["FIG_DIR"].is_dir()
    # the rules run in RULES order, so a later rule sees the checked value of an earlier one
    with pytest.raises(ParameterError, match="EPOCHS = 0"):
        params.check({"EPOCHS": 0, "SNAPSHOT_EPOCHS": [0]}, "x")


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

    seeding.set_seed(7)
    a = (np.random.rand(3), keras.random.normal((3,)).numpy())
    seeding.set_seed(7)
    b = (np.random.rand(3), keras.random.normal((3,)).numpy())
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_run_info_records_parameters_seed_and_versions(tmp_path):
    p = records.write_run_info(tmp_path, {"EPOCHS": 3}, seed=5, notebook="02_dense_gan")
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


def test_smooth_ignores_nan():
    v = np.array([1.0, np.nan, 3.0, 3.0])
    s = plotting.smooth(v, 3)
    assert np.all(np.isfinite(s)) and s[1] == pytest.approx(2.0)
