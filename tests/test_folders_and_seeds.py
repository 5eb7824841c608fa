"""Default folders (gan_utils.paths), seeding (gan_utils.seeding) and the run's record of what it was made with."""

import json

import numpy as np

from gan_utils import paths, records, seeding


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
