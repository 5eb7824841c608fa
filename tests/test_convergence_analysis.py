"""The rules notebook 04 applies to saved runs, defined in its own cells (synthetic records, nothing trained), and
how its ``execute`` tells a diverged run from a failed one (the execution replaced, nothing run).

As in test_models, only the notebook's imports, ``def`` and ``class`` statements and simple constant
assignments are run, never its cells that read runs, execute notebooks or plot.
"""

import ast
import json
import math
import os
import types
from pathlib import Path

import numpy as np
import papermill
import pytest

from gan_utils import cells

NOTEBOOK = "04_convergence_analysis"
RULES = (
    "confidence",
    "confidence_summary",
    "figure2_verdict",
    "convergence_ratio",
    "oscillation",
    "final_quality",
    "sweep_table",
    "learning_rate_verdict",
    "diagnose",
)


def _constant(node):
    """``NAME = <number, string, bool or None>``, the only assignments run besides definitions."""
    value = node.value.operand if isinstance(node.value, ast.UnaryOp) else node.value
    return all(isinstance(t, ast.Name) for t in node.targets) and isinstance(value, ast.Constant)


def definitions(notebook=NOTEBOOK):
    """The namespace of ``notebook`` after its parameters cell and every top-level import, function, class and
    constant of its code cells; with ``sources``, the source of each top-level function."""
    code = cells.code_cells(notebook)
    i = code.index(cells.code_cells(notebook, "parameters")[0])
    ns = {"__name__": "nb_04_convergence_analysis"}
    exec(compile(code[i], "<04 parameters>", "exec"), ns)
    kinds, sources = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef), {}
    for k, cell in enumerate(code[i + 1 :], i + 1):
        tree = ast.parse(cell)
        tree.body = [n for n in tree.body if isinstance(n, kinds) or (isinstance(n, ast.Assign) and _constant(n))]
        sources.update((n.name, ast.get_source_segment(cell, n)) for n in tree.body if isinstance(n, ast.FunctionDef))
        exec(compile(tree, f"<04 cell {k}>", "exec"), ns)
    ns["sources"] = sources
    return ns


@pytest.fixture(scope="module")
def analysis():
    """Notebook 04's rules, as attributes (``analysis.diagnose``, ...)."""
    return types.SimpleNamespace(**definitions())


class FakeRun:
    def __init__(self, history, quality, metrics=None, diverged=None):
        self.history, self.quality, self.metrics, self.diverged = history, quality, metrics or {}, diverged


def _history(n=30, fake=0.4, real=0.6, loss=0.7, bad_at=None):
    rows = []
    for i in range(1, n + 1):
        r = {"iteration": i, "d_loss": loss, "g_loss": loss, "val_d_fake": fake, "val_d_real": real}
        if i == bad_at:
            r["d_loss"] = math.nan
        rows.append(r)
    return rows


def _quality(min_share=0.09, entropy=3.31, fid_ratio=3.0, epoch=1):
    return [
        {
            "epoch": epoch,
            "seconds": 10.0,
            "min_share": min_share,
            "entropy_bits": entropy,
            "fid_ratio": fid_ratio,
            "n_samples": 2000,
        }
    ]


def _wild(history):
    for i, r in enumerate(history):
        r["val_d_fake"] = 0.9 if i % 2 else 0.1
    return history


def test_healthy_run(analysis):
    assert analysis.diagnose(FakeRun(_history(), _quality())).startswith("healthy")


def test_divergence_is_named_with_its_iteration(analysis):
    assert "DIVERGED at iteration 7" in analysis.diagnose(FakeRun(_history(bad_at=7), _quality()))
    assert "DIVERGED at iteration 3" in analysis.diagnose(FakeRun(_history(bad_at=3, loss=0.7), []))
    exploding = _history()
    exploding[4]["g_loss"] = 5e3
    assert "DIVERGED at iteration 5" in analysis.diagnose(FakeRun(exploding, []))


def test_collapse_is_seen_in_the_digit_shares_not_the_losses(analysis):
    q = _quality() + _quality(min_share=0.001, entropy=1.2, epoch=2)
    verdict = analysis.diagnose(FakeRun(_history(), q))
    assert "MODE COLLAPSE" in verdict and "fell from 9.0%" in verdict and "DIVERGED" not in verdict
    # never covered the digits: an undertrained generator, not a collapse
    assert "LOW COVERAGE" in analysis.diagnose(FakeRun(_history(), _quality(min_share=0.001, entropy=1.2)))


def test_dead_discriminator_is_stalled_not_healthy(analysis):
    h = _history(n=300, loss=2 * math.log(2))
    for r in h:
        r["d_fake"] = r["d_real"] = 0.5
    assert "STALLED" in analysis.diagnose(FakeRun(h, _quality()))
    h[-1]["d_loss"] = 1.0  # the loss moved: not frozen
    assert "STALLED" not in analysis.diagnose(FakeRun(h, _quality()))
    # records of every 13th iteration (02): the last 200 iterations decide, not the last 200 rows
    sparse = _history(n=1400, loss=2 * math.log(2))[12::13]
    for r in sparse:
        r["d_fake"] = r["d_real"] = 0.5
    for r in sparse[:60]:  # a lively start, long before the stall
        r["d_loss"] = 3.0
    assert "STALLED" in analysis.diagnose(FakeRun(sparse, _quality()))


def test_discriminator_winning(analysis):
    assert "D HAS WON" in analysis.diagnose(FakeRun(_history(fake=0.01), _quality()))


def test_confidence_is_one_minus_d_on_generated_and_d_on_real(analysis):
    h = _history(n=10)
    for i, r in enumerate(h):
        r["val_d_fake"] = 0.1 + 0.04 * i  # D(G(z)) rises, so D's confidence 1 - D(G(z)) sinks
    h.append({"iteration": 11, "d_loss": 0.7, "g_loss": 0.7})  # a row without a validation check
    it, fake, real = analysis.confidence(h)
    assert len(it) == 10 and fake[0] == pytest.approx(0.9) and real[0] == pytest.approx(0.6)
    s = analysis.confidence_summary(h, part=0.2)
    assert s["fake_start"] == pytest.approx(1 - 0.12) and s["fake_end"] == pytest.approx(1 - 0.44)
    assert s["start"] == (1, 2) and s["end"] == (9, 10) and s["checks"] == 10
    assert analysis.confidence_summary([])["checks"] == 0


def test_figure2_verdict_speaks_of_confidence_and_its_equilibrium(analysis):
    v = analysis.figure2_verdict(dict(fake_start=0.78, fake_end=0.64, real_start=0.9, real_end=0.6))
    assert "confidence on generated digits 0.78 -> 0.64, toward its equilibrium 0.50" in v
    assert "on real digits 0.90 -> 0.60, toward its equilibrium 0.50" in v and "separation" in v and " shrank" in v
    # with label smoothing 0.1 the equilibria move to 0.55 and 0.45: 0.52 -> 0.58 approaches 0.55
    v = analysis.figure2_verdict(dict(fake_start=0.40, fake_end=0.58, real_start=0.2, real_end=0.1), 0.1)
    assert "0.40 -> 0.58, toward its equilibrium 0.55" in v and "0.20 -> 0.10, away from its equilibrium 0.45" in v
    # a change under 0.01 is no change: neither "toward" nor "shrank" (100 DCGAN epochs: 0.22 -> 0.22)
    v = analysis.figure2_verdict(dict(fake_start=0.638, fake_end=0.642, real_start=0.584, real_end=0.579))
    assert "0.64 -> 0.64, no closer to its equilibrium 0.50" in v and "stayed the same (0.22 -> 0.22" in v
    v = analysis.figure2_verdict(dict(fake_start=0.6, fake_end=0.8, real_start=0.6, real_end=0.7))
    assert "away from its equilibrium 0.50" in v and " grew (0.20 -> 0.50" in v


def test_oscillation_measures_swings_not_drift(analysis):
    drift = _history(n=40)
    for i, r in enumerate(drift):
        r["val_d_fake"] = 0.1 + 0.01 * i  # a steady approach is not oscillation
    assert analysis.oscillation(drift) < 0.01
    assert analysis.oscillation(_wild(_history(n=40))) > 0.3
    assert math.isnan(analysis.oscillation(_history(n=3)))


def test_convergence_ratio(analysis):
    dcgan = [{"epoch": 1, "seconds": 40.0, "fid_ratio": 10.0}, {"epoch": 2, "seconds": 80.0, "fid_ratio": 5.0}]
    dense = [{"epoch": e, "seconds": 2.0 * e, "fid_ratio": 100.0 / e} for e in range(1, 31)]
    r = analysis.convergence_ratio(dense, dcgan)
    assert r["dense_epoch"] == 10 and r["dense_seconds"] == 20.0 and r["seconds_ratio"] == pytest.approx(0.5)
    never = analysis.convergence_ratio(dense[:5], dcgan)
    assert never["dense_epoch"] is None and never["dense_best"] == pytest.approx(20.0)


def test_final_quality_is_the_last_quality_check_which_every_sweep_run_has_alike(analysis):
    r = FakeRun(_history(), _quality(fid_ratio=3.0), metrics={"fid_ratio": 2.5, "n": 500})
    assert analysis.final_quality(r)["fid_ratio"] == 3.0  # metrics.json: other noise, other n; a reused run has none
    assert analysis.final_quality(FakeRun(_history(), [], metrics={"fid_ratio": 2.5}))["fid_ratio"] == 2.5
    assert analysis.final_quality(FakeRun(_history(), [])) == {}


def test_sweep_table_names_the_best_and_the_most_oscillating(analysis):
    calm, wild = FakeRun(_history(), _quality(fid_ratio=2.0)), FakeRun(_wild(_history()), _quality(fid_ratio=9.0))
    broken = FakeRun(_history(bad_at=2), [], diverged="Training diverged at iteration 2")
    t = analysis.sweep_table({"dense, lr 0.0002": calm, "dense, lr 0.001": wild, "dense, lr 0.02": broken})
    assert t["best"] == "dense, lr 0.0002" and t["most_oscillating"] == "dense, lr 0.001"
    line = next(row for row in t["text"].splitlines() if row.startswith("dense, lr 0.02"))
    assert line.rstrip().endswith("yes") and "nan" in line


def test_learning_rate_verdict_follows_the_numbers(analysis):
    calm = FakeRun(_history(), _quality(fid_ratio=2.0))
    wild = FakeRun(_wild(_history()), _quality(fid_ratio=9.0))
    verdict = lambda low, high, **kw: analysis.learning_rate_verdict("dense GAN", [low], [high], 0.0002, 0.001, **kw)  # noqa: E731
    v = analysis.learning_rate_verdict("conditional DCGAN (03 defaults)", [calm], [wild], 0.0002, 0.001)
    assert v.startswith("conditional DCGAN (03 defaults): lr 0.001 ended worse") and "consistent with" in v
    v = verdict(wild, calm)
    assert "ended better" in v and "oscillated less" in v and "does not support" in v and "seed" not in v
    # D winning at the higher rate (its confidence stuck, so it does not oscillate) is the failure the report means
    d_won = FakeRun(_history(fake=0.001), _quality(fid_ratio=9.0))
    v = verdict(calm, d_won)
    assert "oscillated less" in v and "with D winning (D(G(z)) 0.001" in v and "consistent with" in v
    v = verdict(FakeRun(_history(), _quality(fid_ratio=20.0)), d_won)
    assert "ended better" in v and "does not support" in v  # D won, yet the low rate ended worse still
    diverged = FakeRun(_history(bad_at=2), [], diverged="diverged")
    assert "lr 0.001 diverged" in verdict(calm, diverged)
    # a run shorter than 10 epochs (this series' paper DCGAN run saw the failure by then) decides nothing against it...
    v = verdict(wild, calm, epochs=1)
    assert "inconclusive at this scale: 1 epoch(s)" in v and "does not support" not in v
    assert "inconclusive at this scale: 3 epoch(s)" in verdict(wild, calm, epochs=3)  # the classroom DCGAN sweep
    assert "does not support" in verdict(wild, calm, epochs=10)
    # ...but what it saw in favour of the claim still counts
    assert "consistent with" in verdict(calm, wild, epochs=1)


def test_learning_rate_verdict_over_seeds_gives_the_spread(analysis):
    calm = [FakeRun(_history(), _quality(fid_ratio=f)) for f in (2.0, 3.0, 4.0)]
    wild = [FakeRun(_wild(_history()), _quality(fid_ratio=f)) for f in (9.0, 1.0, 11.0)]
    v = analysis.learning_rate_verdict("DCGAN", calm, wild, 0.0002, 0.001, epochs=10)
    assert "ended worse in 2 of 3 seeds" in v and "oscillated more in 3" in v
    assert "FID ratio 7.0 (1.0-11.0) vs 3.0 (2.0-4.0)" in v and "seed mean (range)" in v
    assert v.endswith("inconclusive: consistent with the report's claim in 2 of 3 seeds.")
    v = analysis.learning_rate_verdict("DCGAN", calm, [wild[0], wild[2], wild[0]], 0.0002, 0.001, epochs=10)
    assert "consistent with the report's claim in every seed" in v
    v = analysis.learning_rate_verdict("DCGAN", wild, calm, 0.0002, 0.001, epochs=10)
    assert "ended worse in 1 of 3 seeds" in v and "does not support the report's claim in any seed" in v
    v = analysis.learning_rate_verdict("DCGAN", [wild[0]] * 3, calm, 0.0002, 0.001, epochs=1)
    assert "inconclusive at this scale" in v


def test_each_rate_above_the_reports_is_compared_with_the_reports(analysis):
    assert analysis.rates_to_compare([0.001, 0.0002]) == (0.0002, [0.001])
    wide = [0.0001, 0.0002, 0.0005, 0.001, 0.002]
    assert analysis.rates_to_compare(wide) == (0.0002, [0.0005, 0.001, 0.002])  # 0.0001: in the table only
    assert analysis.rates_to_compare([0.0005, 0.001, 0.0005]) == (0.0005, [0.001])  # no 0.0002: the smallest
    assert analysis.rates_to_compare([0.0002]) == (0.0002, [])


def test_a_dcgan_run_without_label_accuracy_is_named_as_one_without_labels(analysis):
    assert analysis.dcgan_kind({"accuracy": 0.99, "fid_ratio": 3.0}) == "conditional DCGAN"
    assert analysis.dcgan_kind({"fid_ratio": 17.4}) == "DCGAN without labels"
    assert analysis.dcgan_kind({}) == "conditional DCGAN"  # no metrics yet (an interrupted run): 03's kind


def test_score_every_ends_on_the_last_epoch(analysis):
    for n in range(1, 40):
        k = analysis.score_every(n)
        assert n % k == 0 and 1 <= k <= max(1, n // 5)
    assert [analysis.score_every(n) for n in (1, 4, 5, 10, 25)] == [1, 1, 1, 2, 5]


def test_analysis_trains_nothing(analysis):
    for name in RULES:
        src = analysis.sources[name]
        assert "keras" not in src and "tensorflow" not in src and "fit(" not in src, name
        assert len(ast.get_docstring(ast.parse(src).body[0]).splitlines()) == 1, f"{name}: one-line docstring"
    assert np.isfinite(analysis.EXPLODING_LOSS)


# --- execute: a run that diverged is read, any other failure stops 04 ---


def _failing_execution(run_dir, ename, marker=None, marker_time=None):
    """An execution that writes the records 02 writes before ``TrainingDiverged`` (``marker``: diverged.json's
    record), then fails in a cell with the error ``ename``."""

    def execute(notebook, output, parameters, cwd=None):
        assert parameters["RUN_DIR"] == str(run_dir) and parameters["LEARNING_RATE"] == 0.02
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "history.csv").write_text("iteration,d_loss,g_loss\n1,0.7,0.7\n2,nan,0.7\n")
        if marker is not None:
            (run_dir / "diverged.json").write_text(json.dumps(marker))
            if marker_time is not None:
                os.utime(run_dir / "diverged.json", (marker_time, marker_time))
        raise papermill.PapermillExecutionError(7, 5, "gan.fit(...)", ename, "a message", [])

    return execute


@pytest.fixture
def notebook_globals(analysis, tmp_path, monkeypatch):
    """The globals of 04's functions, with RUN_DIR in ``tmp_path``; tests replace ``execution`` in them."""
    ns = analysis.execute.__globals__
    monkeypatch.setitem(ns, "RUN_DIR", tmp_path / "04")
    return lambda fake: monkeypatch.setitem(ns, "execution", types.SimpleNamespace(execute=fake))


def test_a_diverged_run_is_read_with_the_message_of_its_diverged_json(analysis, notebook_globals, tmp_path, capsys):
    run_dir = tmp_path / "04" / "failure_lr0.02"
    message = "Training diverged at iteration 2 (epoch 1): d_loss = nan. Lower the learning rate."
    # recognised by the file 02 writes, whatever the exception's name
    notebook_globals(_failing_execution(run_dir, "RuntimeError", dict(iteration=2, epoch=1, message=message)))
    run = analysis.execute("02_dense_gan", run_dir, LEARNING_RATE=0.02)
    assert run.diverged == message and len(run.history) == 2
    assert "   Training diverged at iteration 2 (epoch 1): d_loss = nan." in capsys.readouterr().out
    assert json.loads((run_dir / "executed_by_04.json").read_text())["diverged"] == message


@pytest.mark.parametrize("marker_time", [None, 1e9], ids=["no diverged.json", "an earlier run's diverged.json"])
def test_any_other_failure_stops_the_notebook(analysis, notebook_globals, tmp_path, marker_time):
    run_dir = tmp_path / "04" / "failure_lr0.02"
    marker = None if marker_time is None else dict(iteration=1, epoch=1, message="old")
    notebook_globals(_failing_execution(run_dir, "TrainingDiverged", marker, marker_time))
    with pytest.raises(papermill.PapermillExecutionError):
        analysis.execute("02_dense_gan", run_dir, LEARNING_RATE=0.02)
    assert not (run_dir / "executed_by_04.json").exists()


def _trained_run(folder, notebook, epochs, steps, val_every, **settings):
    """A finished run's records as 02 or 03 write them (run_info with its fingerprint, history, epochs, quality)."""
    from gan_utils import records

    config = cells.planned(notebook, dict(settings, EPOCHS=epochs, VAL_EVERY=val_every))
    folder.mkdir(parents=True)
    config.write(folder)
    records.write_csv(
        folder / "history.csv",
        [{"iteration": i, "d_loss": 0.7, "g_loss": 0.7, "val_d_fake": 0.4} for i in range(1, epochs * steps + 1)],
    )
    records.write_csv(folder / "epochs.csv", [{"epoch": e, "seconds": 1.0} for e in range(1, epochs + 1)])
    quality = [dict(_quality(epoch=e)[0], n_samples=2000) for e in range(1, epochs + 1)]
    records.write_csv(folder / "quality.csv", quality)
    (folder / "metrics.json").write_text(json.dumps({"fid_ratio": 1.0}))


def test_a_sweep_run_that_02_or_03_trained_already_is_read_not_trained_again(
    analysis, notebook_globals, tmp_path, capsys
):
    settings = dict(LEARNING_RATE=0.001, BETA_1=0.5, BATCH_SIZE=128, SEED=0, TRAIN_IMAGES=1280)
    _trained_run(tmp_path / "03", "03_conditional_dcgan", 3, 10, 5, **settings)
    notebook_globals(lambda *a, **k: pytest.fail("executed a run that 03 had trained"))
    run = analysis.execute(
        "03_conditional_dcgan",
        tmp_path / "04" / "dcgan_lr0.001",
        reuse=[tmp_path / "missing", tmp_path / "03"],
        EPOCHS=2,
        VAL_EVERY=5,
        SCORE_EVERY=1,
        **settings,
    )
    assert [q["epoch"] for q in run.quality] == [1, 2] and run.history[-1]["iteration"] == 20
    assert run.metrics == {} and run.diverged is None and analysis.final_quality(run)["epoch"] == 2
    assert "the first 2 epochs of" in capsys.readouterr().out

    # anything that changes what is trained or how it is measured: executed
    executed = []

    def fake(notebook, out, parameters, cwd=None):
        executed.append(parameters)
        _trained_run(Path(parameters["RUN_DIR"]), notebook, parameters["EPOCHS"], 10, parameters["VAL_EVERY"])

    notebook_globals(fake)
    for i, change in enumerate(
        [dict(LEARNING_RATE=0.0002), dict(WIDTH=64), dict(VAL_EVERY=10), dict(EPOCHS=4), dict(SEED=1)]
    ):
        asked = {**settings, "EPOCHS": 2, "VAL_EVERY": 5, "SCORE_EVERY": 1, **change}
        analysis.execute("03_conditional_dcgan", tmp_path / "04" / f"run{i}", reuse=[tmp_path / "03"], **asked)
    assert len(executed) == 5
    # no quality check at the sweep's last epoch: executed too
    _trained_run(tmp_path / "02", "02_dense_gan", 3, 10, 5, **settings)
    (tmp_path / "02" / "quality.csv").write_text("epoch,fid_ratio\n3,1.0\n")
    analysis.execute(
        "02_dense_gan", tmp_path / "04" / "dense", reuse=[tmp_path / "02"], EPOCHS=2, VAL_EVERY=5, **settings
    )
    assert len(executed) == 6
