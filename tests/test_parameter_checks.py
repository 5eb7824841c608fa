"""Each notebook checks its parameters before anything runs: a bad value stops it in one sentence naming the
parameter and the value; the defaults pass and give the run configuration.

Every notebook declares its parameters' rules in a cell tagged ``checks`` right after its ``parameters`` cell
(``CHECKS = {"EPOCHS": params.whole(1), ...}``), and the next cell calls
``config = params.check(globals(), CHECKS, "<notebook>")``. These tests run the parameters cell, apply overrides
as papermill injects them, run the checks cell, and run the check cell with a sentinel line planted right after
the ``params.check`` call.
"""

import ast

import pytest

from gan_utils import cells, params
from gan_utils.params import ParameterError

NOTEBOOKS = ("01_background", "02_dense_gan", "03_conditional_dcgan", "04_convergence_analysis")
SENTINEL = "_PASSED_THE_CHECK_"


def _cells(notebook):
    """The parameters cell and the two code cells after it (the checks cell, the cell that checks)."""
    code = cells.code_cells(notebook)
    i = code.index(cells.code_cells(notebook, "parameters")[0])
    return code[i : i + 3]


def declared(notebook):
    """The names a notebook's parameters cell assigns, in order."""
    return [t.id for node in ast.parse(_cells(notebook)[0]).body for t in node.targets]


def _check_line(notebook):
    lines = _cells(notebook)[2].splitlines()
    call = f'params.check(globals(), CHECKS, "{notebook}")'
    found = [k for k, line in enumerate(lines) if call in line]
    if not found:
        pytest.fail(f"{notebook}: the cell after the checks cell does not call {call}")
    return lines, found[0]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_the_rules_follow_the_parameters_and_the_check_follows_the_rules(notebook):
    _, checks, _ = _cells(notebook)
    assert cells.code_cells(notebook, "checks") == [checks], f"{notebook}: the checks cell must follow the parameters"
    _check_line(notebook)


def run_check_cell(notebook, tmp_path, **overrides):
    """Parameters cell, overrides (FIG_DIR and RUN_DIR default to ``tmp_path``), checks cell, then the cell that
    checks with a sentinel after the ``params.check`` line. Returns the namespace; a raised error carries
    ``.check_lineno``."""
    parameters, checks, _ = _cells(notebook)
    lines, k = _check_line(notebook)
    ns = {"__name__": f"nb_{notebook}"}
    exec(parameters, ns)
    ns.update(FIG_DIR=str(tmp_path / "figs"), **({"RUN_DIR": str(tmp_path / "run")} if "RUN_DIR" in ns else {}))
    ns.update(overrides)
    exec(checks, ns)
    source = "\n".join(lines[: k + 1] + [f"{SENTINEL} = True"] + lines[k + 1 :])
    filename = f"<{notebook} check cell>"
    try:
        exec(compile(source, filename, "exec"), ns)
    except Exception as e:
        tb, where = e.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                where = tb.tb_lineno
            tb = tb.tb_next
        e.raised_at, e.check_lineno, e.namespace = where, k + 1, ns
        raise
    return ns


CASES = [
    ("02_dense_gan", dict(EPOCHS=0), "EPOCHS = 0"),
    ("02_dense_gan", dict(EPOCHS=-3), "EPOCHS = -3"),
    ("02_dense_gan", dict(EPOCHS="10"), "EPOCHS = '10'"),
    ("02_dense_gan", dict(EPOCHS=True), "EPOCHS = True"),
    ("02_dense_gan", dict(BATCH_SIZE=0), "BATCH_SIZE = 0"),
    ("02_dense_gan", dict(BATCH_SIZE=12.5), "BATCH_SIZE = 12.5"),
    ("02_dense_gan", dict(TRAIN_IMAGES=100), "TRAIN_IMAGES = 100"),  # fewer than one batch of 128
    ("02_dense_gan", dict(G_LOSS="minimax"), "G_LOSS = 'minimax'"),
    ("02_dense_gan", dict(D_OUTPUT="three_node"), "D_OUTPUT = 'three_node'"),
    ("02_dense_gan", dict(LEARNING_RATE=-0.1), "LEARNING_RATE = -0.1"),
    ("02_dense_gan", dict(LEARNING_RATE=float("nan")), "LEARNING_RATE = nan"),
    ("02_dense_gan", dict(BETA_1=1.0), "BETA_1 = 1.0"),
    ("02_dense_gan", dict(LABEL_SMOOTHING=0.7), "LABEL_SMOOTHING = 0.7"),
    ("02_dense_gan", dict(SNAPSHOT_EPOCHS="[0,1]"), "SNAPSHOT_EPOCHS = '[0,1]'"),
    ("02_dense_gan", dict(SNAPSHOT_EPOCHS=[]), "SNAPSHOT_EPOCHS = []"),
    ("02_dense_gan", dict(SNAPSHOT_EPOCHS=[0, -1]), "SNAPSHOT_EPOCHS = [0, -1]"),
    ("02_dense_gan", dict(RESUME="yes"), "RESUME = 'yes'"),
    ("02_dense_gan", dict(COMPARE_EPOCHS=-1), "COMPARE_EPOCHS = -1"),
    ("02_dense_gan", dict(RUN_DIR=5), "RUN_DIR = 5"),
    ("03_conditional_dcgan", dict(EMA_DECAY=1.5), "EMA_DECAY = 1.5"),
    ("03_conditional_dcgan", dict(EVAL_SAMPLES=1005), "EVAL_SAMPLES = 1005"),
    ("03_conditional_dcgan", dict(WIDTH=0), "WIDTH = 0"),
    ("03_conditional_dcgan", dict(SNAPSHOT_EPOCHS=(0, 2.5)), "SNAPSHOT_EPOCHS = (0, 2.5)"),
    ("03_conditional_dcgan", dict(PRECISION="fp8"), "PRECISION = 'fp8'"),
    ("03_conditional_dcgan", dict(LABEL_PLANES="no"), "LABEL_PLANES = 'no'"),
    ("04_convergence_analysis", dict(SWEEP_LEARNING_RATES=[0.001, "fast"]), "SWEEP_LEARNING_RATES = [0.001, 'fast']"),
    ("04_convergence_analysis", dict(SWEEP_BETA_1=[]), "SWEEP_BETA_1 = []"),
    ("04_convergence_analysis", dict(SWEEP_EPOCHS=0), "SWEEP_EPOCHS = 0"),
    ("04_convergence_analysis", dict(FAILURE_LEARNING_RATE=2), "FAILURE_LEARNING_RATE = 2"),
    ("04_convergence_analysis", dict(BATCH_SIZE=0), "BATCH_SIZE = 0"),
    ("01_background", dict(TOY_STEPS=1), "TOY_STEPS = 1"),
    ("01_background", dict(LATENT_DIM=0), "LATENT_DIM = 0"),
]


@pytest.mark.parametrize(
    "notebook, overrides, named",
    CASES,
    ids=[f"{n[:2]}-{next(iter(o))}={next(iter(o.values()))!r}" for n, o, _ in CASES],
)
def test_bad_parameter_stops_with_one_clear_sentence(notebook, overrides, named, tmp_path):
    name = next(iter(overrides))
    assert name in declared(notebook), f"{notebook} no longer declares {name}: update this case"
    with pytest.raises(ParameterError) as err:
        run_check_cell(notebook, tmp_path, **overrides)
    msg = str(err.value)
    assert msg.startswith(named + " is not allowed: " + name + " must be "), msg
    assert msg.count(". ") <= 1 and msg.endswith("."), msg  # one sentence
    # It stopped at the params.check line: nothing after it ran, no run configuration exists.
    e = err.value
    assert e.raised_at == e.check_lineno, f"raised at line {e.raised_at} of the check cell, not at params.check"
    assert SENTINEL not in e.namespace and "config" not in e.namespace
    # Nothing trained or written: no file anywhere under the run and figure folders.
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not written, written


def test_epoch_lists_past_epochs_are_cut_with_a_note(tmp_path, capsys):
    ns = run_check_cell("02_dense_gan", tmp_path, EPOCHS=40, SNAPSHOT_EPOCHS=[0, 5, 99])
    assert ns["SNAPSHOT_EPOCHS"] == [0, 5, 40] and ns["config"]["SNAPSHOT_EPOCHS"] == [0, 5, 40]
    assert "note: SNAPSHOT_EPOCHS cut to [0, 5, 40] (EPOCHS = 40)." in capsys.readouterr().out
    ns = run_check_cell("02_dense_gan", tmp_path, EPOCHS=40, SNAPSHOT_EPOCHS=[5, 0, 5, 40])
    assert ns["SNAPSHOT_EPOCHS"] == [0, 5, 40] and "note:" not in capsys.readouterr().out  # sorted, nothing cut


@pytest.mark.parametrize("notebook", [n for n in NOTEBOOKS if "EPOCHS" in declared(n)])
def test_epochs_alone_is_a_valid_override(notebook, tmp_path, capsys):
    """``-p EPOCHS 3`` alone works; every list of epochs is cut to it, with a note."""
    ns = run_check_cell(notebook, tmp_path, EPOCHS=3)
    cfg = ns["config"]
    assert SENTINEL in ns and isinstance(cfg, params.RunConfig) and cfg.notebook == notebook
    assert cfg["EPOCHS"] == 3 and ns["EPOCHS"] == 3
    assert max(cfg["SNAPSHOT_EPOCHS"]) == 3 and 3 in ns["SNAPSHOT_EPOCHS"] and 0 in ns["SNAPSHOT_EPOCHS"]
    for name in ("COMPARE_EPOCHS", "SCORE_EVERY"):
        if name in cfg.parameters:
            assert 0 <= cfg[name] <= 3, name
    assert "note: SNAPSHOT_EPOCHS cut to" in capsys.readouterr().out


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_defaults_pass_and_give_the_run_config(notebook, tmp_path):
    ns = run_check_cell(notebook, tmp_path)
    cfg = ns["config"]
    assert SENTINEL in ns and isinstance(cfg, params.RunConfig) and cfg.notebook == notebook
    # every declared parameter is checked (has a rule) and lands in the config
    names = declared(notebook)
    assert set(names) <= set(ns["CHECKS"]), set(names) - set(ns["CHECKS"])
    assert set(cfg.parameters) == set(names)
    assert str(ns["FIG_DIR"]) == str((tmp_path / "figs").resolve()) and ns["FIG_DIR"].is_dir()
    if "RUN_DIR" in names:
        assert ns["RUN_DIR"].is_dir() and not (ns["RUN_DIR"] / ".write_test").exists()  # the probe is gone
        assert {p.name for p in ns["RUN_DIR"].iterdir()} <= {"run_info.json"}  # nothing trained by the check cell


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_unwritable_output_folder(notebook, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    if "RUN_DIR" in declared(notebook):
        with pytest.raises(ParameterError, match="RUN_DIR = .* must be a folder this user can write to"):
            run_check_cell(notebook, tmp_path, RUN_DIR=str(blocker / "run"))
    with pytest.raises(ParameterError, match="FIG_DIR = .* must be a folder this user can write to"):
        run_check_cell(notebook, tmp_path, FIG_DIR=str(blocker / "figs"))
