"""What the training callbacks record (gan_utils.callbacks) when a notebook's training call runs: a history row
per call of the compiled step, D's validation check, the epoch log and progress file, the snapshots, the stop at
divergence, and the progress bar only in a live Jupyter session."""

import builtins
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from gan_fixtures import STEPS, X_VAL, GeneratorEMA, config, make_gan, rows, train

from gan_utils import callbacks, records


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory):
    gan = make_gan()
    run = train(gan, config(tmp_path_factory.mktemp("dense") / "run"))
    return gan, run


def test_one_raw_row_per_iteration_and_every_record_file(dense_run):
    gan, run = dense_run
    hist = rows(run)
    assert [r["iteration"] for r in hist] == list(range(1, 2 * STEPS + 1))
    assert [r["epoch"] for r in hist] == [1] * STEPS + [2] * STEPS
    # raw values of each step: Keras's running mean of step_seen would be 1, 1.5, 2, ...
    assert [r["step_seen"] for r in hist] == [float(i) for i in range(1, 2 * STEPS + 1)]
    assert len({r["d_loss"] for r in hist}) == 2 * STEPS
    # D's validation check every 4 iterations, in [0, 1]
    assert [r["iteration"] for r in hist if r.get("val_d_real") is not None] == [4, 8, 12, 16, 20]
    assert all(0 <= r[k] <= 1 for r in hist if r.get("val_d_fake") is not None for k in ("val_d_real", "val_d_fake"))
    # epochs.csv: one row per epoch, the mean of every step (the model's trackers)
    epochs = records.read_csv(run.dir / "epochs.csv")
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:
        mine = [r["d_loss"] for r in hist if r["epoch"] == e["epoch"]]
        assert e["d_loss"] == pytest.approx(np.mean(mine), rel=1e-5)  # the tracker, in float32
        assert "val_d_real" not in e and e["seconds"] > 0
    progress = json.loads((run.dir / "progress.json").read_text())
    assert progress["epoch"] == progress["epochs"] == 2 and progress["eta_seconds"] == 0
    # the notebook's GANMonitor: the fixed noise grid at the snapshot epochs
    with np.load(run.dir / "snapshots.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["epoch_0000", "epoch_0002"]
        s0, s2 = f["epoch_0000"], f["epoch_0002"]
    assert s0.dtype == np.uint8 and s0.shape == (100, 28, 28) and not np.array_equal(s0, s2)
    info = json.loads((run.dir / "run_info.json").read_text())
    assert info["seed"] == 0 and info["parameters"]["EPOCHS"] == 2
    assert info["environment"]["keras"] == keras.__version__ and info["environment"]["tensorflow"] == tf.__version__
    g = keras.saving.load_model(run.dir / "generator.keras", compile=False)
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    np.testing.assert_allclose(g.predict(z, verbose=0), gan.generator.predict(z, verbose=0), atol=1e-6)
    assert not list(run.dir.rglob("*.tmp"))


def test_several_steps_per_call_record_each_calls_last_step(dense_run, tmp_path):
    """With steps_per_execution 5 the callbacks run once per call: rows at iterations 5, 10, ..., with the numbers
    of those very steps, and the same training as one step per call."""
    gan, run = dense_run
    fast = make_gan(steps_per_execution=5)
    fast_run = train(fast, config(tmp_path / "run"))
    mine = rows(fast_run)
    assert [r["iteration"] for r in mine] == [5, 10, 15, 20]
    one_by_one = {r["iteration"]: r for r in rows(run)}
    for r in mine:
        assert r["step_seen"] == r["iteration"]
        assert r["d_loss"] == pytest.approx(one_by_one[r["iteration"]]["d_loss"], rel=1e-5)
    # the check every 4 iterations runs at the end of the call that reaches each multiple of 4
    assert [r["iteration"] for r in mine if r.get("val_d_real") is not None] == [5, 10, 15, 20]
    np.testing.assert_allclose(fast.generator.get_weights()[0], gan.generator.get_weights()[0], rtol=1e-5, atol=1e-6)
    # the epoch means still cover every step (the model's trackers), not only the rows kept
    means = [e["d_loss"] for e in records.read_csv(fast_run.dir / "epochs.csv")]
    assert means == pytest.approx([e["d_loss"] for e in records.read_csv(run.dir / "epochs.csv")], rel=1e-4)


@pytest.mark.parametrize("last_step", [False, True], ids=["keras-3.10", "keras-3.11+"])
def test_rows_do_not_depend_on_which_step_keras_reports_at_the_end_of_a_call(tmp_path, last_step):
    """With 5 steps per call Keras 3.10 passes on_train_batch_end the call's first step, 3.11+ its last: the
    iterations and epochs recorded are the same either way."""
    log = callbacks.IterationLog(records.Run(tmp_path))
    log.set_model(make_gan(steps_per_execution=5))
    log.set_params({"steps": STEPS, "epochs": 2})
    for epoch in range(2):
        log.on_epoch_begin(epoch)
        for begin in range(0, STEPS, 5):
            log.on_train_batch_begin(begin)
            log.on_train_batch_end(begin + 4 if last_step else begin, {"d_loss": 1.0})
    assert [(r["iteration"], r["epoch"]) for r in log.run.history] == [(5, 1), (10, 1), (15, 2), (20, 2)]


def test_validation_check_alone_adds_its_own_rows(tmp_path):
    gan, run = make_gan(), records.Run(tmp_path)
    check = callbacks.ValidationCheck(run, X_VAL, every=3, n=50)
    check.set_model(gan)
    check.set_params({"steps": STEPS, "epochs": 1})
    check.on_train_begin()
    check.on_epoch_begin(0)
    for batch in range(STEPS):
        check.on_train_batch_begin(batch)
        check.on_train_batch_end(batch)
    assert [r["iteration"] for r in run.history] == [3, 6, 9]
    assert all(set(r) == {"iteration", "epoch", "val_d_real", "val_d_fake"} for r in run.history)


def test_the_ema_generator_is_the_one_saved_and_sampled(tmp_path):
    gan = make_gan(cond=True)
    ema = GeneratorEMA(gan.generator)
    run = train(gan, config(tmp_path / "run"), ema=ema)
    z = np.random.default_rng(0).standard_normal((10, 8)).astype(np.float32)
    inputs = [z, np.eye(10, dtype=np.float32)]
    saved = keras.saving.load_model(run.dir / "generator.keras", compile=False)
    np.testing.assert_allclose(saved.predict(inputs, verbose=0), ema.average.predict(inputs, verbose=0), atol=1e-6)
    # the average lags behind the live generator, and is not trained by any optimizer
    assert not np.allclose(ema.average.predict(inputs, verbose=0), gan.generator.predict(inputs, verbose=0))
    assert not ema.average.trainable_weights


def test_a_nan_loss_stops_training_with_a_sentence_and_keeps_the_last_good_epoch(tmp_path):
    gan = make_gan(nan_from=STEPS + 3)  # iteration 13, in epoch 2
    with pytest.raises(callbacks.TrainingDiverged, match=r"iteration 13 \(epoch 2\).*d_loss = nan.*LEARNING_RATE"):
        train(gan, config(tmp_path / "run", epochs=3))
    saved = records.load_run(tmp_path / "run")
    assert [r["iteration"] for r in saved.history] == list(range(1, STEPS + 4))  # up to the bad iteration
    assert np.isnan(saved.history[-1]["d_loss"]) and np.isfinite(saved.history[-2]["d_loss"])
    assert [e["epoch"] for e in saved.epoch_log] == [1]
    diverged = json.loads((tmp_path / "run" / "diverged.json").read_text())
    assert diverged["iteration"] == 13 and diverged["epoch"] == 2 and "LEARNING_RATE" in diverged["message"]
    latest = json.loads((tmp_path / "run" / "checkpoint" / "latest.json").read_text())
    assert latest["epoch"] == 1 and latest["iteration"] == STEPS
    assert not (tmp_path / "run" / "generator.keras").exists()


def test_an_exploding_loss_counts_as_divergence(tmp_path):
    stop = callbacks.StopOnDivergence(records.Run(tmp_path))
    stop.set_model(make_gan())
    stop.set_params({"steps": STEPS, "epochs": 1})
    stop.on_epoch_begin(0)
    stop.on_train_batch_begin(0)
    stop.on_train_batch_end(0, {"g_loss": 999.0, "d_loss": -999.0, "d_real": 5e3})  # within bounds, or no loss
    stop.on_train_batch_begin(1)
    with pytest.raises(callbacks.TrainingDiverged, match=r"iteration 2 \(epoch 1\): g_loss = 10000.0"):
        stop.on_train_batch_end(1, {"g_loss": 10 * callbacks.EXPLODING_LOSS, "d_loss": 0.5})
    assert stop.model.stop_training


def test_progress_bar_only_in_an_interactive_jupyter_session(tmp_path, monkeypatch, capsys):
    """In a live Jupyter kernel a bar with elapsed time and ETA runs inside each epoch; in batch runs
    (GAN_NO_PROGRESS set by the runner and the tests) and outside IPython there is none."""

    class ZMQInteractiveShell:  # what get_ipython() returns inside a Jupyter kernel
        pass

    assert callbacks.progress_bar() == []  # plain Python
    monkeypatch.setattr(builtins, "get_ipython", lambda: ZMQInteractiveShell(), raising=False)
    monkeypatch.setenv("GAN_NO_PROGRESS", "1")
    assert callbacks.progress_bar() == []
    monkeypatch.delenv("GAN_NO_PROGRESS")
    bars = callbacks.progress_bar()
    assert [type(b) for b in bars] == [callbacks.ProgressBar]
    train(make_gan(steps_per_execution=5), config(tmp_path / "run", epochs=1), extra=bars)
    err = capsys.readouterr().err
    assert "epoch 1/1: " in err and f"5/{STEPS}" in err  # a bar over this epoch's iterations, 5 per call
