"""The parameter rules (gan_utils.params): what each rule accepts and refuses, in one sentence; the check, which
changes nothing in the notebook and returns the resolved values; the run's frozen config and its fingerprint."""

import json
import os

import numpy as np
import pytest

from gan_utils import cells, params, paths
from gan_utils.params import ParameterError


def _rule(rule, value, name="X", notes=None, **others):
    return rule(name, value, others, [] if notes is None else notes)


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
        _rule(params.flag(), "yes", "RESUME")
    with pytest.raises(ParameterError, match="True or False"):
        _rule(params.flag(), 1, "RESUME")
    assert _rule(params.flag(), False, "RESUME") is False


def test_epoch_list_sorts_dedupes_and_cuts_to_epochs_with_a_note():
    rule, notes = params.epoch_list(), []
    assert _rule(rule, [5, 0, 5], notes=notes, EPOCHS=10) == [0, 5] and notes == []
    assert _rule(rule, [0, 25], "SNAPSHOT_EPOCHS", notes, EPOCHS=10) == [0, 10]
    assert notes == ["SNAPSHOT_EPOCHS cut to [0, 10] (EPOCHS = 10)."]
    assert _rule(rule, [50, 60], EPOCHS=3) == [3]
    for bad in ([], "[0, 1]", [0, -1], [0, 1.5], [True], None):
        with pytest.raises(ParameterError, match="non-empty list of whole numbers >= 0"):
            _rule(rule, bad, EPOCHS=10)


def test_capped_cuts_to_epochs_and_zero_switches_off():
    rule, notes = params.capped(), []
    assert _rule(rule, 0, notes=notes, EPOCHS=3) == 0 and _rule(rule, 2, notes=notes, EPOCHS=3) == 2 and not notes
    assert _rule(rule, 4, "COMPARE_EPOCHS", notes, EPOCHS=3) == 3
    assert notes == ["COMPARE_EPOCHS cut from 4 to 3 (EPOCHS = 3)."]
    with pytest.raises(ParameterError, match="COMPARE_EPOCHS = -1"):
        _rule(rule, -1, "COMPARE_EPOCHS", EPOCHS=3)


def test_real_list_and_multiple_of_10_and_folder():
    assert _rule(params.real_list(), [0.0002, 1e-3]) == [0.0002, 0.001]
    for bad in ([], [0.5, "fast"], [1.0], 0.5):
        with pytest.raises(ParameterError, match="non-empty list of numbers > 0 and < 1"):
            _rule(params.real_list(), bad, "SWEEP_BETA_1")
    assert _rule(params.multiple_of_10(), 2000, "EVAL_SAMPLES") == 2000
    for bad in (1005, 90, 100.0):
        with pytest.raises(ParameterError, match="multiple of 10"):
            _rule(params.multiple_of_10(), bad, "EVAL_SAMPLES")
    assert _rule(params.folder(), None, "RUN_DIR") is None and _rule(params.folder(), "/tmp/x", "RUN_DIR") == "/tmp/x"
    with pytest.raises(ParameterError, match="None or a folder path"):
        _rule(params.folder(), 5, "RUN_DIR")


CHECKS = {
    "EPOCHS": params.whole(1, trained=False),
    "SNAPSHOT_EPOCHS": params.epoch_list(),
    "LEARNING_RATE": params.real(0, 1, low_open=True),
    "RUN_DIR": params.folder("run"),
    "FIG_DIR": params.folder("figures"),
    "UPSTREAM_DIR": params.folder("run", of="02_dense_gan"),
}


def test_check_changes_nothing_and_returns_the_resolved_values(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(paths.OUTPUT_ROOT_VAR, str(tmp_path / "root"))
    ns = {
        "EPOCHS": 3,
        "SNAPSHOT_EPOCHS": [0, 9],
        "LEARNING_RATE": 1,
        "RUN_DIR": str(tmp_path / "r"),
        "FIG_DIR": None,
        "UPSTREAM_DIR": None,
        "UNRELATED": object(),
    }
    before = dict(ns)
    cfg = params.check(ns, CHECKS, "03_conditional_dcgan")
    assert ns == before  # the notebook's variables are the notebook's to assign
    assert isinstance(cfg, params.RunConfig) and cfg.notebook == "03_conditional_dcgan"
    assert set(cfg.parameters) == set(CHECKS)
    assert (
        cfg["SNAPSHOT_EPOCHS"] == [0, 3]
        and capsys.readouterr().out == "note: SNAPSHOT_EPOCHS cut to [0, 3] (EPOCHS = 3).\n"
    )
    assert cfg["LEARNING_RATE"] == 1.0 and isinstance(cfg["LEARNING_RATE"], float)
    assert cfg["RUN_DIR"] == (tmp_path / "r").resolve() and cfg["RUN_DIR"].is_dir()
    assert cfg["FIG_DIR"] == tmp_path / "root" / "figures" / "03_conditional_dcgan" and cfg["FIG_DIR"].is_dir()
    upstream = tmp_path / "root" / "runs" / "02_dense_gan"
    assert cfg["UPSTREAM_DIR"] == upstream and not upstream.exists()  # another notebook's folder: only named
    # the rules run in CHECKS order, so a later rule sees the checked value of an earlier one
    with pytest.raises(ParameterError, match="EPOCHS = 0"):
        params.check({"EPOCHS": 0, "SNAPSHOT_EPOCHS": [0]}, CHECKS, "x")


def test_validate_touches_no_file_and_returns_the_notes(tmp_path):
    values, notes = params.validate({"EPOCHS": 2, "SNAPSHOT_EPOCHS": [0, 5], "RUN_DIR": str(tmp_path / "n")}, CHECKS)
    assert values == {"EPOCHS": 2, "SNAPSHOT_EPOCHS": [0, 2], "RUN_DIR": str(tmp_path / "n")}
    assert notes == ["SNAPSHOT_EPOCHS cut to [0, 2] (EPOCHS = 2)."] and not (tmp_path / "n").exists()


def test_run_config_is_frozen_and_its_fingerprint_holds_only_what_is_trained(tmp_path):
    cfg = params.RunConfig(
        "test", {"EPOCHS": 2, "LEARNING_RATE": 2e-3, "SEED": 0, "RUN_DIR": "r"}, frozenset({"EPOCHS", "RUN_DIR"})
    )
    with pytest.raises(AttributeError):
        cfg.notebook = "other"
    with pytest.raises(TypeError):
        cfg.parameters["EPOCHS"] = 5
    assert cfg["EPOCHS"] == 2 and cfg.get("MISSING", 7) == 7
    fp = json.loads(cfg.fingerprint())
    assert fp == {"LEARNING_RATE": 2e-3, "SEED": 0, "notebook": "test"}
    assert cfg.replace(EPOCHS=9, RUN_DIR="x").fingerprint() == cfg.fingerprint()
    for name, value in (("LEARNING_RATE", 1e-3), ("SEED", 1), ("G_LOSS", "saturating")):
        assert cfg.replace(**{name: value}).fingerprint() != cfg.fingerprint(), name
    assert params.RunConfig("other", dict(cfg.parameters), cfg.not_trained).fingerprint() != cfg.fingerprint()
    new = cfg.replace(EPOCHS=5)
    assert new["EPOCHS"] == 5 and cfg["EPOCHS"] == 2 and new.not_trained == cfg.not_trained  # a copy
    info = json.loads(cfg.write(tmp_path).read_text())
    assert info["parameters"] == dict(cfg.parameters) and info["fingerprint"] == cfg.fingerprint()


@pytest.mark.parametrize(
    "notebook", ["01_background", "02_dense_gan", "03_conditional_dcgan", "04_convergence_analysis"]
)
def test_each_notebooks_checks_cover_exactly_its_parameters(notebook):
    declared = {k for k in ast_names(cells.code_cells(notebook, "parameters")[0])}
    assert set(cells.checks(notebook)) == declared


def ast_names(source):
    import ast

    return [t.id for node in ast.parse(source).body for t in node.targets]


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
