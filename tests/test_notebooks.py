"""The notebooks as files, the papermill contract, and smoke runs of every notebook.

The default-parameter runs happen under nbval (``pytest --nbval-lax notebooks``,
configured in pytest.ini); here each notebook also runs through papermill with the
``smoke`` preset into temporary folders, and must write the figures it declares
there and nothing anywhere else.
"""

import ast
import json
import os
import re
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest

from gan_utils import cells, execution, paths, run

NOTEBOOKS = sorted((paths.PROJECT_ROOT / "notebooks").glob("*.ipynb"))
SHARED = ("EPOCHS", "BATCH_SIZE", "SEED", "LEARNING_RATE", "BETA_1", "RUN_DIR", "FIG_DIR")


def _nb(path):
    return nbformat.read(path, as_version=4)


def test_the_series_is_complete():
    assert [p.stem for p in NOTEBOOKS] == list(run.NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_clean(path):
    with warnings.catch_warnings():  # a cell without an id is only a warning today, an error in later nbformat
        warnings.simplefilter("error")
        nb = _nb(path)
        nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    with_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not with_outputs, f"{path.name}: cells {with_outputs} have outputs; strip them (nbstripout)"
    tagged = cells.code_cells(path, "parameters")
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    # the parameters cell holds plain literals only, one assignment per line
    for node in ast.parse(tagged[0]).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        ast.literal_eval(node.value)
    for i, source in enumerate(cells.code_cells(path)):
        for line in source.splitlines():
            assert not re.match(r"\s*[!%]", line), f"{path.name} code cell {i}: shell magic {line!r}"
        assert "input(" not in source, f"{path.name} code cell {i}: input() blocks headless runs"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "Exercises" in nb.cells[-1].source or "Exercises" in nb.cells[-2].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_shared_parameter_names(path):
    names = set(run.notebook_parameters(path.stem))
    assert {"SEED", "FIG_DIR"} <= names
    if "EPOCHS" in names:  # a training notebook has every shared knob
        assert set(SHARED) <= names, set(SHARED) - names


def test_every_preset_names_only_real_parameters():
    for preset in run.PRESETS:
        run.plan(preset, list(run.NOTEBOOKS))


def test_contract_rejects_a_misspelled_parameter(monkeypatch):
    planted = dict(run.PRESETS["smoke"])
    planted["02_dense_gan"] = dict(planted["02_dense_gan"], EPOCSH=1)
    monkeypatch.setitem(run.PRESETS, "smoke", planted)
    with pytest.raises(run.ContractError, match=r"EPOCSH.*valid names: .*EPOCHS"):
        run.plan("smoke", list(run.NOTEBOOKS))
    with pytest.raises(run.ContractError, match="LERNING_RATE"):
        run.plan("classroom", ["02_dense_gan"], [("LERNING_RATE", 0.1)])
    assert run.main(["--check", "-p", "EPOCSH", "3"]) == 2


def test_overrides_reach_only_their_notebook():
    p = run.plan("classroom", ["02_dense_gan", "03_conditional_dcgan"], [("03:EPOCHS", 2), ("SEED", 5)])
    assert p["03_conditional_dcgan"] == {"EPOCHS": 2, "SEED": 5}
    assert p["02_dense_gan"] == {"SEED": 5}
    assert run.parse_value("[0, 5]") == [0, 5] and run.parse_value("two_node") == "two_node"


def _declared_figures(path):
    src = "\n".join(cells.code_cells(path))
    return set(re.findall(r"save_fig\(\s*\w+\s*,\s*\"([\w-]+)\"", src))


def _files(root):
    skip = {".git", "runs", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        out |= {(Path(dirpath) / f, (Path(dirpath) / f).stat().st_mtime_ns) for f in filenames}
    return out


SMOKE_RUNS = {}  # notebook -> run folder of its smoke run, so 04 reads the tiny runs of 02 and 03


def _smoke_params(name, tmp_path):
    params = dict(run.PRESETS["smoke"].get(name, {}))
    params["FIG_DIR"] = str(tmp_path / "figs")
    declared = run.notebook_parameters(name)
    if "RUN_DIR" in declared:
        params["RUN_DIR"] = str(tmp_path / "run")
    for key, rule in cells.checks(name).items():
        if rule.of and key in declared:  # another notebook's run folder
            if rule.of not in SMOKE_RUNS:  # run alone: make the tiny upstream run first
                _execute(rule.of, _smoke_params(rule.of, tmp_path / rule.of), tmp_path / rule.of)
            params[key] = SMOKE_RUNS[rule.of]
    return params


def _execute(name, params, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    execution.execute(name, tmp_path / "executed.ipynb", params, cwd=cwd)
    if "RUN_DIR" in params and name != "04_convergence_analysis":
        SMOKE_RUNS[name] = params["RUN_DIR"]
    return cwd


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_run_writes_its_figures_and_nothing_else(path, tmp_path, monkeypatch):
    name = path.stem
    out_root = tmp_path / "out"
    monkeypatch.setenv(paths.OUTPUT_ROOT_VAR, str(out_root))
    params = _smoke_params(name, tmp_path)
    before = _files(paths.PROJECT_ROOT)
    cwd = _execute(name, params, tmp_path)
    written = {p.stem for p in (tmp_path / "figs").glob("*.png")}
    declared = _declared_figures(path)
    assert declared, f"{name} declares no figures"
    assert declared <= written, f"{name}: declared figures not written: {declared - written}"
    assert written <= declared, f"{name}: undeclared figures: {written - declared}"
    assert not any(cwd.iterdir()), f"{name} wrote into the working directory: {list(cwd.iterdir())}"
    assert not out_root.exists() or not any(p.is_file() for p in out_root.rglob("*")), (
        f"{name} wrote under the default output root although RUN_DIR and FIG_DIR were given"
    )
    assert _files(paths.PROJECT_ROOT) == before, f"{name} changed files in the project"
    if "RUN_DIR" in params and name != "04_convergence_analysis":
        run_dir = Path(params["RUN_DIR"])
        info = json.loads((run_dir / "run_info.json").read_text())
        assert info["seed"] == 0 and info["environment"]["keras"].startswith("3.")
        assert (run_dir / "generator.keras").is_file() and (run_dir / "history.csv").is_file()
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert 0 <= metrics["min_share"] <= 1 and metrics["fid"] > 0
        assert metrics["g_params"] > 0 and metrics["d_params"] > 0
        assert 100 < metrics["peak_memory_mb"] < 4096, "the kernel's peak memory, recorded for the README"


def test_a_resumed_notebook_run_equals_an_uninterrupted_one(tmp_path):
    """The paper preset's RESUME mechanism at smoke scale: 03 stopped after epoch 1 and rerun with RESUME = True
    to epoch 2 records exactly what one 2-epoch run records."""
    from gan_utils import records

    base = dict(run.PRESETS["smoke"]["03_conditional_dcgan"], SCORE_EVERY=0, EVAL_SAMPLES=100)
    straight = dict(base, EPOCHS=2, SNAPSHOT_EPOCHS=[0, 2], RUN_DIR=str(tmp_path / "straight"))
    _execute("03_conditional_dcgan", dict(straight, FIG_DIR=str(tmp_path / "f1")), tmp_path / "a")
    first = dict(straight, EPOCHS=1, SNAPSHOT_EPOCHS=[0, 1], RUN_DIR=str(tmp_path / "resumed"))
    _execute("03_conditional_dcgan", dict(first, FIG_DIR=str(tmp_path / "f2")), tmp_path / "b")
    _execute(
        "03_conditional_dcgan",
        dict(first, EPOCHS=2, SNAPSHOT_EPOCHS=[0, 2], RESUME=True, FIG_DIR=str(tmp_path / "f3")),
        tmp_path / "c",
    )
    a, b = records.load_run(tmp_path / "straight"), records.load_run(tmp_path / "resumed")
    assert len(a.history) == len(b.history) > 0 and a.history == b.history
    np.testing.assert_array_equal(a.snapshots[2], b.snapshots[2])
