"""Each notebook's validation cell stops bad parameters before any training, naming parameter and value."""
import os

import nbformat
import pytest

from gan_utils import paths
from gan_utils.params import ParameterError

NB = paths.PROJECT_ROOT / "notebooks"


def _validate(notebook, tmp_path, **overrides):
    """Run a notebook's parameters cell, the overrides (as papermill injects them) and its validation cell."""
    nb = nbformat.read(NB / f"{notebook}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    i = next(k for k, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    ns = {}
    exec(code[i].source, ns)
    ns.update(FIG_DIR=str(tmp_path / "figs"), **({"RUN_DIR": str(tmp_path / "run")} if "RUN_DIR" in ns else {}))
    ns.update(overrides)
    exec(code[i + 1].source, ns)
    return ns


CASES = [
    ("02_dense_gan", dict(EPOCHS=0), "EPOCHS = 0"),
    ("02_dense_gan", dict(EPOCHS=-3), "EPOCHS = -3"),
    ("02_dense_gan", dict(EPOCHS="10"), "EPOCHS = '10'"),
    ("02_dense_gan", dict(BATCH_SIZE=0), "BATCH_SIZE = 0"),
    ("02_dense_gan", dict(BATCH_SIZE=12.5), "BATCH_SIZE = 12.5"),
    ("02_dense_gan", dict(G_LOSS="minimax"), "G_LOSS = 'minimax'"),
    ("02_dense_gan", dict(D_OUTPUT="three_node"), "D_OUTPUT = 'three_node'"),
    ("02_dense_gan", dict(LEARNING_RATE=-0.1), "LEARNING_RATE = -0.1"),
    ("02_dense_gan", dict(BETA_1=1.0), "BETA_1 = 1.0"),
    ("02_dense_gan", dict(SNAPSHOT_EPOCHS=[0, 5, 99]), "SNAPSHOT_EPOCHS = [0, 5, 99]"),
    ("02_dense_gan", dict(RESUME="yes"), "RESUME = 'yes'"),
    ("03_conditional_dcgan", dict(EPOCHS=2, SNAPSHOT_EPOCHS=[0, 25]), "SNAPSHOT_EPOCHS = [0, 25]"),
    ("03_conditional_dcgan", dict(EMA_DECAY=1.5), "EMA_DECAY = 1.5"),
    ("03_conditional_dcgan", dict(EVAL_SAMPLES=1005), "EVAL_SAMPLES = 1005"),
    ("03_conditional_dcgan", dict(WIDTH=0), "WIDTH = 0"),
    ("04_convergence_analysis", dict(SWEEP_LEARNING_RATES=[0.001, "fast"]), "SWEEP_LEARNING_RATES"),
    ("04_convergence_analysis", dict(SWEEP_BETA_1=[]), "SWEEP_BETA_1 = []"),
    ("04_convergence_analysis", dict(DENSE_EPOCHS=0), "DENSE_EPOCHS = 0"),
]


@pytest.mark.parametrize("notebook, overrides, named", CASES, ids=[f"{n[:2]}-{next(iter(o))}" for n, o, _ in CASES])
def test_bad_parameter_stops_with_one_clear_sentence(notebook, overrides, named, tmp_path):
    with pytest.raises(ParameterError) as err:
        _validate(notebook, tmp_path, **overrides)
    msg = str(err.value)
    assert msg.startswith(named) and "is not allowed" in msg and "must be" in msg
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())  # nothing trained


@pytest.mark.parametrize("notebook", ["02_dense_gan", "03_conditional_dcgan", "04_convergence_analysis"])
def test_unwritable_output_folder(notebook, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ParameterError, match="RUN_DIR = .* must be a folder this user can write to"):
        _validate(notebook, tmp_path, RUN_DIR=str(blocker / "run"))
    with pytest.raises(ParameterError, match="FIG_DIR"):
        _validate(notebook, tmp_path, FIG_DIR=str(blocker / "figs"))


def test_defaults_pass(tmp_path):
    for nb in ("02_dense_gan", "03_conditional_dcgan", "04_convergence_analysis"):
        _validate(nb, tmp_path)
