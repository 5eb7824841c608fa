"""The shared GAN train step, its records, checkpoints and resume."""
import numpy as np
import pytest

import keras
from gan_utils import models, repro, training


def _data(n=640, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    x[:, 8:20, 12:16] = 255  # a bar, so there is something to learn
    return x, (np.arange(n) % 10).astype(np.uint8)


def _gan(cond=False, seed=0, lr=2e-4, **kw):
    repro.set_seed(seed)
    if cond:
        g, d = models.conditional_generator(width=8), models.conditional_discriminator(width=8)
    else:
        g, d = models.dense_generator(), models.dense_discriminator(style=kw.pop("style", "leaky_dropout"))
    return training.build_gan(g, d, learning_rate=lr, num_classes=10 if cond else 0, seed=seed, **kw)


def _train(gan, run_dir, epochs, cond=False, **kw):
    x, y = _data()
    return training.train_gan(gan, x, y if cond else None, run_dir=run_dir, epochs=epochs, batch_size=64,
                              val_real=x[:100], val_real_labels=y[:100], val_every=5, n_val=100, **kw)


def test_two_node_head_equals_a_logit():
    out = np.array([[0.3, 1.5], [2.0, -1.0]], np.float32)
    np.testing.assert_allclose(training.real_logit(out), [1.2, -3.0], rtol=1e-6)
    p_softmax = np.exp(out[:, 1]) / np.exp(out).sum(1)
    np.testing.assert_allclose(1 / (1 + np.exp(-training.real_logit(out))), p_softmax, rtol=1e-6)


def test_losses_match_their_formulas():
    l = np.array([-2.0, 0.0, 3.0], np.float32)
    s = 1 / (1 + np.exp(-l))
    np.testing.assert_allclose(training.bce_with_logits(l, 1.0), np.mean(-np.log(s)), rtol=1e-5)
    np.testing.assert_allclose(training.bce_with_logits(l, 0.0), np.mean(-np.log(1 - s)), rtol=1e-5)
    np.testing.assert_allclose(training.generator_loss(l, "saturating"), np.mean(np.log(1 - s)), rtol=1e-5)
    np.testing.assert_allclose(training.generator_loss(l, "nonsaturating"), np.mean(-np.log(s)), rtol=1e-5)


def test_discriminator_loss_falls_on_a_fixed_batch():
    gan = _gan(style="report", lr=1e-3)
    x = (np.random.default_rng(1).uniform(-1, 1, (64, 28, 28, 1)) * 0.1 + 0.5).astype(np.float32)
    losses = [float(gan.train_step(x)["d_loss"]) for _ in range(15)]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("cond", [False, True])
def test_each_optimizer_moves_only_its_own_network(cond):
    gan = _gan(cond=cond)
    applied = {}
    for name in ("d_optimizer", "g_optimizer"):
        opt = getattr(gan, name)
        original = opt.apply

        def spy(grads, variables, _orig=original, _name=name):
            applied[_name] = {id(v) for v in variables}
            return _orig(grads, variables)

        opt.apply = spy
    x, y = _data(64)
    batch = (x[..., None].astype(np.float32) / 127.5 - 1,)
    if cond:
        batch = (batch[0], np.eye(10, dtype=np.float32)[y])
    g_before = [w.numpy() for w in gan.generator.trainable_weights]
    d_before = [w.numpy() for w in gan.discriminator.trainable_weights]
    gan.train_step(batch if cond else batch[0])
    assert applied["d_optimizer"] == {id(v) for v in gan.discriminator.trainable_weights}
    assert applied["g_optimizer"] == {id(v) for v in gan.generator.trainable_weights}
    assert all(not np.array_equal(a, b.numpy()) for a, b in zip(g_before, gan.generator.trainable_weights) if a.ndim > 1)
    assert all(not np.array_equal(a, b.numpy()) for a, b in zip(d_before, gan.discriminator.trainable_weights) if a.ndim > 1)


def test_history_has_one_raw_row_per_iteration(tmp_path):
    run = _train(_gan(), tmp_path / "r", epochs=2)
    assert [r["iteration"] for r in run.history] == list(range(1, 21))
    assert set(training.HISTORY_COLUMNS) <= set(run.history[0]) | {"val_d_real", "val_d_fake"}
    # raw values differ step to step (not running averages) and validation comes every 5 iterations
    assert len({r["d_loss"] for r in run.history}) == 20
    assert [r["iteration"] for r in run.history if r.get("val_d_real") is not None] == [5, 10, 15, 20]
    saved = training.load_run(tmp_path / "r")
    assert len(saved.history) == 20 and saved.history[4]["val_d_fake"] == pytest.approx(run.history[4]["val_d_fake"])
    header = (tmp_path / "r" / "history.csv").read_text().splitlines()[0].split(",")
    assert header == list(training.HISTORY_COLUMNS)
    assert sorted(saved.snapshots) == [0]
    assert [r["epoch"] for r in saved.epoch_log] == [1, 2]


@pytest.mark.parametrize("cond", [False, True])
def test_saved_generator_loads_and_samples(tmp_path, cond):
    gan = _gan(cond=cond, ema_decay=0.9 if cond else 0.0)
    _train(gan, tmp_path / "r", epochs=1, cond=cond)
    g = keras.saving.load_model(tmp_path / "r" / "generator.keras", compile=False)
    z = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    inputs = [z, np.eye(10, dtype=np.float32)[:4]] if cond else z
    out = g.predict(inputs, verbose=0)
    assert out.shape == (4, 28, 28, 1) and np.abs(out).max() <= 1.0
    np.testing.assert_allclose(out, gan.sampling_generator.predict(inputs, verbose=0), atol=1e-6)


@pytest.mark.parametrize("cond", [False, True])
def test_resume_gives_the_same_history_and_weights(tmp_path, cond):
    kw = dict(ema_decay=0.9) if cond else {}
    a = _gan(cond=cond, **kw)
    _train(a, tmp_path / "a", epochs=3, cond=cond)
    b = _gan(cond=cond, **kw)
    _train(b, tmp_path / "b", epochs=1, cond=cond)  # "interrupted" after epoch 1
    b = _gan(cond=cond, **kw)  # a fresh process would rebuild the model
    run_b = _train(b, tmp_path / "b", epochs=3, cond=cond, resume=True)
    assert run_b.resumed_from == 1
    for va, vb in zip(a.state_variables(), b.state_variables()):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-5, atol=1e-6, err_msg=va.path)
    ha, hb = training.load_run(tmp_path / "a").history, training.load_run(tmp_path / "b").history
    assert len(ha) == len(hb) == 30
    np.testing.assert_allclose([r["g_loss"] for r in ha], [r["g_loss"] for r in hb], rtol=1e-5)


def test_same_seed_same_numbers(tmp_path):
    r1 = _train(_gan(seed=3), tmp_path / "a", epochs=1)
    r2 = _train(_gan(seed=3), tmp_path / "b", epochs=1)
    assert [r["d_loss"] for r in r1.history] == [r["d_loss"] for r in r2.history]
    np.testing.assert_array_equal(r1.snapshots[0], r2.snapshots[0])


def test_killed_mid_write_leaves_the_previous_checkpoint_usable(tmp_path, monkeypatch):
    gan = _gan()
    _train(gan, tmp_path / "r", epochs=1)
    good = (tmp_path / "r" / "checkpoint.npz").read_bytes()

    def killed(f, **arrays):  # the process dies while writing the new checkpoint
        f.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(training.np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        _train(_gan(), tmp_path / "r", epochs=2, resume=True)
    monkeypatch.undo()
    assert (tmp_path / "r" / "checkpoint.npz").read_bytes() == good
    run = _train(_gan(), tmp_path / "r", epochs=2, resume=True)
    assert run.resumed_from == 1 and len(run.history) == 20


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    _train(_gan(), tmp_path / "r", epochs=1)
    with pytest.raises(training.CheckpointError, match="another architecture|other settings"):
        _train(_gan(cond=True), tmp_path / "r", epochs=2, cond=True, resume=True)
    with pytest.raises(training.CheckpointError, match="other settings"):
        _train(_gan(), tmp_path / "r", epochs=2, resume=True, settings={"LEARNING_RATE": 0.001})


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    _train(_gan(), tmp_path / "r", epochs=1)
    p = tmp_path / "r" / "checkpoint.npz"
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(training.CheckpointError, match="not a readable checkpoint"):
        _train(_gan(), tmp_path / "r", epochs=2, resume=True)


def test_starting_again_keeps_the_earlier_run(tmp_path):
    _train(_gan(), tmp_path / "r", epochs=1)
    _train(_gan(), tmp_path / "r", epochs=1)
    assert (tmp_path / "r-previous" / "checkpoint.npz").is_file()


def test_divergence_stops_with_a_message_and_keeps_history(tmp_path):
    class BlowUp(keras.callbacks.Callback):  # after a good epoch 1, wreck D at the start of epoch 2
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                w = self.model.discriminator.layers[-1].kernel
                w.assign(w.numpy() * 1e6)

    with pytest.raises(training.TrainingDiverged, match=r"iteration 11 .*Lower LEARNING_RATE"):
        _train(_gan(style="report"), tmp_path / "r", epochs=3, extra_callbacks=[BlowUp()])
    saved = training.load_run(tmp_path / "r")
    assert [r["iteration"] for r in saved.history] == list(range(1, 12))  # up to the bad iteration
    assert not np.isfinite(saved.history[-1]["d_loss"]) or abs(saved.history[-1]["d_loss"]) > 1e3
    assert training.read_checkpoint(tmp_path / "r" / "checkpoint.npz")["epoch"] == 1  # last good one
