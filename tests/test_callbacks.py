"""The training plumbing (gan_utils.callbacks, checkpoint, records, params.RunConfig) around a tiny GAN.

The notebooks define their own GANs; the plumbing must work for any ``keras.Model``
with ``generator``, ``discriminator``, ``d_optimizer``, ``g_optimizer`` and a
``train_step`` returning this step's raw numbers. ``TinyGAN`` below is such a
model, small enough that a 2-epoch run of 10 iterations takes a few seconds:
an unconditional dense variant (one logit) and a conditional one (G takes
[z, one_hot], D takes [image, one_hot], two-node head).
"""

import json
import re
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers, ops

from gan_utils import callbacks, checkpoint, params, records, seeding
from gan_utils.checkpoint import CheckpointError

LATENT = 8
STEPS = 10  # 640 images, batches of 64


def _data(n=640, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    x[:, 8:20, 12:16] = 255  # a bar, so there is something to learn
    return x, (np.arange(n) % 10).astype(np.uint8)


X, Y = _data()
X_VAL, Y_VAL = _data(100, seed=1)


class TinyGAN(keras.Model):
    """The smallest GAN with the notebooks' conventions; ``step_seen`` is the optimizer's iteration
    after this step, so a running mean in place of raw values shows at once."""

    def __init__(self, generator, discriminator, seed=0, nan_from=None):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.conditional = len(generator.inputs) == 2
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.nan_from = nan_from  # report a NaN d_loss from this iteration on (a planted divergence)
        self.trackers = [keras.metrics.Mean(name=n) for n in ("d_loss", "g_loss", "d_real", "d_fake")]

    @property
    def metrics(self):  # Keras's running means, as in the notebooks; the records must not use them
        return self.trackers

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    @staticmethod
    def _logit(out):
        return out[:, 1] - out[:, 0] if out.shape[-1] == 2 else out[:, 0]

    def train_step(self, batch):
        real, labels = batch if self.conditional else (batch, None)
        n = ops.shape(real)[0]
        g_in = lambda z: [z, labels] if self.conditional else z  # noqa: E731
        d_in = lambda x: [x, labels] if self.conditional else x  # noqa: E731
        z = keras.random.normal((n, LATENT), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(g_in(z), training=True)
            real_l = self._logit(self.discriminator(d_in(real), training=True))
            fake_l = self._logit(self.discriminator(d_in(fake), training=True))
            d_loss = ops.mean(ops.softplus(-real_l)) + ops.mean(ops.softplus(fake_l))
        w = self.discriminator.trainable_weights
        self.d_optimizer.apply(tape.gradient(d_loss, w), w)
        z = keras.random.normal((n, LATENT), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            g_loss = ops.mean(
                ops.softplus(
                    -self._logit(self.discriminator(d_in(self.generator(g_in(z), training=True)), training=True))
                )
            )
        w = self.generator.trainable_weights
        self.g_optimizer.apply(tape.gradient(g_loss, w), w)
        step = ops.cast(self.d_optimizer.iterations, "float32")
        if self.nan_from is not None:
            d_loss = ops.where(step >= self.nan_from, float("nan"), d_loss)
        logs = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": ops.mean(ops.sigmoid(real_l)),
            "d_fake": ops.mean(ops.sigmoid(fake_l)),
            "step_seen": step,
        }
        for t in self.trackers:
            t.update_state(logs[t.name])
        return logs


def build_generator(cond=False, widths=(16,)):
    z = keras.Input((LATENT,))
    ins = [z, keras.Input((10,))] if cond else [z]
    h = layers.Concatenate()(ins) if cond else z
    for w in widths:
        h = layers.Dense(w, activation="relu")(h)
    out = layers.Reshape((28, 28, 1))(layers.Dense(784, activation="tanh")(h))
    return keras.Model(ins if cond else z, out)


def build_discriminator(cond=False):
    x = keras.Input((28, 28, 1))
    ins = [x, keras.Input((10,))] if cond else [x]
    h = layers.Flatten()(x)
    if cond:
        h = layers.Concatenate()([h, ins[1]])
    h = layers.Dropout(0.3)(layers.LeakyReLU(0.2)(layers.Dense(16)(h)))  # dropout: a random state to restore
    return keras.Model(ins if cond else x, layers.Dense(2 if cond else 1)(h))


def make_gan(cond=False, seed=0, lr=2e-3, nan_from=None, widths=(16,)):
    seeding.set_seed(seed)
    gan = TinyGAN(build_generator(cond, widths), build_discriminator(cond), seed=seed, nan_from=nan_from)
    gan.compile(d_optimizer=keras.optimizers.Adam(lr, beta_1=0.5), g_optimizer=keras.optimizers.Adam(lr, beta_1=0.5))
    return gan


def config(run_dir, epochs=2, resume=False, **more):
    return params.RunConfig(
        "test",
        dict(EPOCHS=epochs, BATCH_SIZE=64, SEED=0, LEARNING_RATE=2e-3, RESUME=resume, RUN_DIR=str(run_dir), **more),
    )


def train(gan, cfg, cond=False, ema=None, cbs=(), **kw):
    extra = ([ema] if ema else []) + list(cbs)
    kw.setdefault("snapshot_epochs", (0, 2))
    return callbacks.fit(
        gan,
        cfg,
        X,
        Y if cond else None,
        x_val=X_VAL,
        y_val=Y_VAL if cond else None,
        callbacks=extra,
        val_every=4,
        sampler=ema.generator if ema else None,
        **kw,
    )


def weights(gan, ema=None):
    """Every variable of the training state, as numpy, by checkpoint key."""
    extra = {"ema_generator": ema.generator} if ema else None
    return {k: ops.convert_to_numpy(v).copy() for k, v in checkpoint.named_state(gan, extra).items()}


def rows(run):
    return records.load_run(run.dir).history


VARIANTS = {"dense": dict(cond=False, ema=False), "conditional+ema": dict(cond=True, ema=True)}


def _new(variant, **kw):
    v = VARIANTS[variant]
    gan = make_gan(v["cond"], **kw)
    return gan, (callbacks.GeneratorEMA(gan.generator, decay=0.9) if v["ema"] else None), v["cond"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted 2-epoch runs, one per variant, trained once per module."""
    cache = {}

    def get(variant):
        if variant not in cache:
            gan, ema, cond = _new(variant)
            run = train(gan, config(tmp_path_factory.mktemp(variant) / "run"), cond, ema)
            cache[variant] = dict(run=run, history=rows(run), state=weights(gan, ema), gan=gan, ema=ema)
        return cache[variant]

    return get


def assert_same_run(a_hist, a_state, b_hist, b_state):
    assert a_hist == b_hist
    assert a_state.keys() == b_state.keys()
    for k in a_state:
        np.testing.assert_array_equal(a_state[k], b_state[k], err_msg=k)


# ----------------------------------------------------------------------------- records


def test_records_one_raw_row_per_iteration_and_every_file(reference):
    ref = reference("dense")
    run, hist = ref["run"], ref["history"]
    assert [r["iteration"] for r in hist] == list(range(1, 2 * STEPS + 1))
    assert [r["epoch"] for r in hist] == [1] * STEPS + [2] * STEPS
    # raw values of each step: Keras's running mean of step_seen would be 1, 1.5, 2, ...
    assert [r["step_seen"] for r in hist] == [float(i) for i in range(1, 2 * STEPS + 1)]
    assert len({r["d_loss"] for r in hist}) == 2 * STEPS
    # D's validation check every val_every = 4 iterations, in [0, 1]
    assert [r["iteration"] for r in hist if r.get("val_d_real") is not None] == [4, 8, 12, 16, 20]
    assert all(0 <= r[k] <= 1 for r in hist if r.get("val_d_fake") is not None for k in ("val_d_real", "val_d_fake"))
    # epochs.csv: one row per epoch, the mean of that epoch's raw rows, which differ from it
    epochs = records.read_csv(run.dir / "epochs.csv")
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:
        mine = [r["d_loss"] for r in hist if r["epoch"] == e["epoch"]]
        assert e["d_loss"] == pytest.approx(np.mean(mine), rel=1e-9)
        assert any(abs(v - e["d_loss"]) > 1e-6 for v in mine)
        assert "val_d_real" not in e and e["seconds"] > 0
    # the fixed noise grid at the snapshot epochs
    with np.load(run.dir / "snapshots.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["epoch_0000", "epoch_0002"]
        s0, s2 = f["epoch_0000"], f["epoch_0002"]
    assert s0.dtype == np.uint8 and s0.shape == (100, 28, 28) and not np.array_equal(s0, s2)
    # run_info.json: seed, parameters, library versions
    info = json.loads((run.dir / "run_info.json").read_text())
    assert info["seed"] == 0 and info["notebook"] == "test"
    assert info["parameters"]["EPOCHS"] == 2 and info["parameters"]["LEARNING_RATE"] == 2e-3
    assert info["environment"]["keras"] == keras.__version__ and info["environment"]["tensorflow"] == tf.__version__
    assert info["fingerprint"] == config(run.dir).fingerprint()
    # the generator, saved and loadable
    g = keras.saving.load_model(run.dir / "generator.keras", compile=False)
    z = np.random.default_rng(0).standard_normal((3, LATENT)).astype(np.float32)
    np.testing.assert_allclose(g.predict(z, verbose=0), ref["gan"].generator.predict(z, verbose=0), atol=1e-6)
    assert checkpoint.read(run.dir / "checkpoint.npz")["epoch"] == 2
    assert not list(run.dir.glob("*.tmp*"))


def test_ema_generator_is_the_one_saved_and_sampled(reference):
    ref = reference("conditional+ema")
    ema, gan = ref["ema"], ref["gan"]
    z = np.random.default_rng(0).standard_normal((10, LATENT)).astype(np.float32)
    inputs = [z, np.eye(10, dtype=np.float32)]
    saved = keras.saving.load_model(ref["run"].dir / "generator.keras", compile=False)
    np.testing.assert_allclose(saved.predict(inputs, verbose=0), ema.generator.predict(inputs, verbose=0), atol=1e-6)
    # the average lags behind the live generator, and is not trained by any optimizer
    assert not np.allclose(ema.generator.predict(inputs, verbose=0), gan.generator.predict(inputs, verbose=0))
    assert not ema.generator.trainable_weights
    assert [r["iteration"] for r in ref["history"]][-1] == 2 * STEPS


# ----------------------------------------------------------------------------- resume


@pytest.mark.parametrize("variant", VARIANTS)
def test_resume_after_a_complete_epoch_is_exact(variant, reference, tmp_path, capsys):
    ref = reference(variant)
    gan, ema, cond = _new(variant)
    train(gan, config(tmp_path / "run", epochs=1), cond, ema)
    gan2, ema2, _ = _new(variant)  # a fresh model, as a new kernel would build it (other Keras layer names)
    assert gan2.generator.layers[1].name != gan.generator.layers[1].name
    run = train(gan2, config(tmp_path / "run", epochs=2, resume=True), cond, ema2)
    assert run.resumed_from == 1 and "Resumed from" in capsys.readouterr().out
    assert_same_run(ref["history"], ref["state"], rows(run), weights(gan2, ema2))
    assert sorted(run.snapshots) == [0, 2]
    assert [e["epoch"] for e in records.read_csv(run.dir / "epochs.csv")] == [1, 2]


class _Interrupt(keras.callbacks.Callback):
    """Ctrl-C in the middle of epoch 2."""

    def on_train_batch_end(self, batch, logs=None):
        if self.model.d_optimizer.iterations.numpy() == STEPS + 4:
            raise KeyboardInterrupt


@pytest.mark.parametrize("variant", VARIANTS)
def test_interrupted_mid_epoch_then_resumed_is_exact(variant, reference, tmp_path, capsys):
    ref = reference(variant)
    gan, ema, cond = _new(variant)
    with pytest.raises(KeyboardInterrupt):
        train(gan, config(tmp_path / "run"), cond, ema, cbs=[_Interrupt()])
    assert "RESUME = True" in capsys.readouterr().out
    assert checkpoint.read(tmp_path / "run" / "checkpoint.npz")["epoch"] == 1
    gan2, ema2, _ = _new(variant)
    run = train(gan2, config(tmp_path / "run", resume=True), cond, ema2)
    assert run.resumed_from == 1
    assert_same_run(ref["history"], ref["state"], rows(run), weights(gan2, ema2))


def test_resume_of_a_finished_run_trains_nothing(reference, capsys):
    ref = reference("dense")
    gan, _, _ = _new("dense")
    before = weights(gan)
    run = train(gan, config(ref["run"].dir, epochs=2, resume=True))
    assert "nothing to train" in capsys.readouterr().out and run.resumed_from == 2
    assert len(run.history) == 2 * STEPS
    after = weights(gan)
    assert any(not np.array_equal(before[k], after[k]) for k in before)  # restored...
    assert_same_run([], ref["state"], [], after)  # ...to the finished run's state


def test_killed_while_writing_a_checkpoint_keeps_the_old_one(reference, tmp_path, monkeypatch):
    ref = reference("dense")
    gan, _, _ = _new("dense")
    train(gan, config(tmp_path / "run", epochs=1))
    path = tmp_path / "run" / "checkpoint.npz"
    good = path.read_bytes()

    real_savez = np.savez

    def killed(file, *args, **arrays):  # the process dies halfway through writing the new checkpoint
        if "epoch" not in arrays:
            return real_savez(file, *args, **arrays)
        file.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        train(_new("dense")[0], config(tmp_path / "run", resume=True))
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert checkpoint.read(path)["epoch"] == 1
    gan3, _, _ = _new("dense")
    run = train(gan3, config(tmp_path / "run", resume=True))
    assert run.resumed_from == 1
    assert_same_run(ref["history"], ref["state"], rows(run), weights(gan3))


def test_same_seed_same_numbers_other_seed_others(reference, tmp_path):
    ref = reference("dense")
    gan, _, _ = _new("dense")
    run = train(gan, config(tmp_path / "a"))
    assert_same_run(ref["history"], ref["state"], rows(run), weights(gan))
    other = params.RunConfig("test", dict(config(tmp_path / "b").parameters, SEED=1))
    run_b = train(make_gan(seed=1), other, snapshot_epochs=(0,))
    assert [r["d_loss"] for r in run_b.history] != [r["d_loss"] for r in ref["history"]]


def test_starting_again_moves_the_earlier_run_aside(reference, tmp_path):
    train(_new("dense")[0], config(tmp_path / "run", epochs=1), snapshot_epochs=(0,))
    first = (tmp_path / "run" / "checkpoint.npz").read_bytes()
    train(_new("dense")[0], config(tmp_path / "run", epochs=1), snapshot_epochs=(0,))
    assert (tmp_path / "run-previous-1" / "checkpoint.npz").read_bytes() == first
    assert len(records.load_run(tmp_path / "run").history) == STEPS


# ----------------------------------------------------------------------------- divergence


def test_a_nan_loss_stops_training_and_keeps_the_last_good_epoch(tmp_path):
    gan = make_gan(nan_from=STEPS + 3)  # iteration 13, in epoch 2
    with pytest.raises(callbacks.TrainingDiverged, match=r"iteration 13 \(epoch 2\).*d_loss = nan.*LEARNING_RATE"):
        train(gan, config(tmp_path / "run", epochs=3))
    saved = records.load_run(tmp_path / "run")
    assert [r["iteration"] for r in saved.history] == list(range(1, STEPS + 4))  # up to the bad iteration
    assert np.isnan(saved.history[-1]["d_loss"]) and np.isfinite(saved.history[-2]["d_loss"])
    assert [e["epoch"] for e in saved.epoch_log] == [1]
    ckpt = checkpoint.read(tmp_path / "run" / "checkpoint.npz")
    assert ckpt["epoch"] == 1 and ckpt["iteration"] == STEPS
    assert not (tmp_path / "run" / "generator.keras").exists()


def test_an_exploding_loss_counts_as_divergence(tmp_path):
    hist = callbacks.History(records.Run(tmp_path), STEPS)
    hist.set_model(make_gan())
    hist.on_train_batch_end(0, {"g_loss": 999.0, "d_loss": -999.0, "d_real": 5e3})  # within bounds, or not a loss
    with pytest.raises(callbacks.TrainingDiverged, match=r"iteration 2 \(epoch 1\): g_loss = 10000.0"):
        hist.on_train_batch_end(1, {"g_loss": 10 * callbacks.EXPLODING_LOSS, "d_loss": 0.5})
    assert len(hist.run.history) == 2 and hist.model.stop_training


# ----------------------------------------------------------------------------- the checkpoint


def test_checkpoint_keys_name_position_and_variable_not_keras_names():
    gan, ema, _ = _new("conditional+ema")
    state = checkpoint.named_state(gan, {"ema_generator": ema.generator})
    assert len({id(v) for v in state.values()}) == len(state)
    nets = [k for k in state if k.split("/")[0] in ("generator", "discriminator", "ema_generator")]
    assert nets and all(re.fullmatch(r"(ema_)?(generator|discriminator)/\d\d\.[A-Za-z]+/\d+\.\w+", k) for k in nets), (
        nets
    )
    # Keras's session-wide names (dense_7) appear nowhere, so a rebuilt model finds its keys
    keras_names = {l.name for n in (gan.generator, gan.discriminator, ema.generator) for l in n.layers}
    assert not any(name in part.split(".") for k in state for part in k.split("/") for name in keras_names)
    # the two kernels of G's two Dense layers have their own keys
    kernels = [k for k in nets if k.startswith("generator/") and k.endswith(".kernel")]
    assert len(kernels) == 2 and kernels[0] != kernels[1]
    opt = [k for k in state if k.startswith("g_optimizer/generator/")]
    assert {k.rsplit("/", 1)[1] for k in opt} == {"momentum", "velocity"} and len(opt) == 2 * 4
    assert any(k.startswith("model/") and "seed_generator" in k for k in state)  # the GAN's noise stream


def _two_same_layers(reverse, seed):
    """G: z(16) -> Dense(16) -> Dense(16) -> Dense(784); with ``reverse``, the two 16x16 layers are
    created in the opposite order, so their Keras names are in the opposite order to their positions."""
    seeding.set_seed(seed)
    a, b = layers.Dense(16), layers.Dense(16)
    if reverse:
        b, a = layers.Dense(16), layers.Dense(16)
    z = keras.Input((16,))
    g = keras.Model(z, layers.Reshape((28, 28, 1))(layers.Dense(784)(b(a(z)))))
    gan = TinyGAN(g, build_discriminator())
    gan.compile(d_optimizer=keras.optimizers.Adam(), g_optimizer=keras.optimizers.Adam())
    return gan


def test_same_shaped_layers_restore_by_position(tmp_path):
    src = _two_same_layers(reverse=False, seed=1)
    for opt, net in ((src.g_optimizer, src.generator), (src.d_optimizer, src.discriminator)):
        opt.build(net.trainable_variables)
        for v in [v for v in opt.variables if len(v.shape)]:  # distinct slots, to see where each lands
            v.assign(np.random.default_rng(len(v.path)).standard_normal(v.shape).astype(v.dtype))
    checkpoint.save(tmp_path / "c.npz", src, 1, "fp")
    dst = _two_same_layers(reverse=True, seed=2)
    names = [l.name for l in dst.generator.layers[1:3]]
    assert names != sorted(names, key=lambda s: int(s.split("_")[-1]) if "_" in s else 0)  # really reversed
    assert checkpoint.restore(tmp_path / "c.npz", dst, "fp") == (1, 0)
    for ls, ld in zip(src.generator.layers[1:3], dst.generator.layers[1:3]):
        np.testing.assert_array_equal(ls.kernel.numpy(), ld.kernel.numpy())
        for slot in ("momentum", "velocity"):
            find = lambda opt, var: next(
                v
                for v in opt.variables  # noqa: E731
                if v.name == f"{var.path.replace('/', '_')}_{slot}"
            )
            np.testing.assert_array_equal(
                find(src.g_optimizer, ls.kernel).numpy(), find(dst.g_optimizer, ld.kernel).numpy()
            )


def test_checkpoint_is_refused_for_another_architecture_or_other_settings(reference, tmp_path):
    ref = reference("dense")
    path = ref["run"].dir / "checkpoint.npz"
    fp = config(ref["run"].dir).fingerprint()
    for other in (make_gan(widths=(16, 16)), make_gan(widths=(32,)), make_gan(cond=True)):
        with pytest.raises(CheckpointError, match="another architecture"):
            checkpoint.restore(path, other, fp)
    ema = callbacks.GeneratorEMA(make_gan().generator)  # an EMA the run did not have
    with pytest.raises(CheckpointError, match="another architecture"):
        checkpoint.restore(path, make_gan(), fp, {"ema_generator": ema.generator})
    # through fit: other settings (a learning rate of another run) are refused, and nothing is overwritten
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="other settings"):
        train(make_gan(), config(ref["run"].dir, epochs=3, resume=True).replace(LEARNING_RATE=1e-3))
    assert path.read_bytes() == before
    # what may change on resume: EPOCHS, RESUME, RUN_DIR, snapshot epochs...
    fp_other = config(tmp_path / "x", epochs=9, resume=True, SNAPSHOT_EPOCHS=[0, 9], VAL_EVERY=7).fingerprint()
    assert fp_other == fp


def test_a_refused_resume_leaves_the_old_runs_records_alone(tmp_path):
    train(make_gan(), config(tmp_path / "run", epochs=1), snapshot_epochs=(0,))
    info = (tmp_path / "run" / "run_info.json").read_text()
    with pytest.raises(CheckpointError, match="other settings"):
        train(make_gan(), config(tmp_path / "run", resume=True).replace(LEARNING_RATE=1e-3))
    assert json.loads((tmp_path / "run" / "run_info.json").read_text())["parameters"]["LEARNING_RATE"] == 2e-3
    assert (tmp_path / "run" / "run_info.json").read_text() == info


@pytest.mark.parametrize("damage", ["truncated", "garbage", "pickle", "empty"])
def test_unreadable_checkpoint_is_a_clear_error(damage, reference, tmp_path):
    good = (reference("dense")["run"].dir / "checkpoint.npz").read_bytes()
    path = tmp_path / "run" / "checkpoint.npz"
    path.parent.mkdir()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif damage == "pickle":
        np.savez(path, state=np.array([object()], dtype=object))
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        train(make_gan(), config(tmp_path / "run", resume=True))


# ----------------------------------------------------------------------------- RunConfig


def test_run_config_is_frozen_and_its_fingerprint_holds_what_training_depends_on(tmp_path):
    cfg = config(tmp_path)
    with pytest.raises(Exception):
        cfg.notebook = "other"
    with pytest.raises(TypeError):
        cfg.parameters["EPOCHS"] = 5
    assert cfg["EPOCHS"] == 2 and cfg.get("MISSING", 7) == 7
    fp = json.loads(cfg.fingerprint())
    assert fp["LEARNING_RATE"] == 2e-3 and fp["SEED"] == 0 and fp["notebook"] == "test"
    assert not {"EPOCHS", "RESUME", "RUN_DIR"} & set(fp)
    for name in ("EPOCHS", "RESUME", "RUN_DIR", "FIG_DIR", "SNAPSHOT_EPOCHS", "VAL_EVERY", "SCORE_EVERY"):
        assert cfg.replace(**{name: 123}).fingerprint() == cfg.fingerprint(), name
    for name, value in (("LEARNING_RATE", 1e-3), ("SEED", 1), ("BATCH_SIZE", 32), ("G_LOSS", "saturating")):
        assert cfg.replace(**{name: value}).fingerprint() != cfg.fingerprint(), name
    assert params.RunConfig("other", dict(cfg.parameters)).fingerprint() != cfg.fingerprint()
    new = cfg.replace(EPOCHS=5, RUN_DIR="elsewhere")
    assert new["EPOCHS"] == 5 and new["RUN_DIR"] == "elsewhere" and cfg["EPOCHS"] == 2  # a copy
    assert new.notebook == cfg.notebook
    info = json.loads(cfg.write(tmp_path).read_text())
    assert info["parameters"] == dict(cfg.parameters) and info["fingerprint"] == cfg.fingerprint()


def test_several_steps_per_call_give_the_same_rows_and_weights(reference, tmp_path):
    """With a StepLog, Keras runs 5 steps per call and the history still has every step's raw numbers."""
    ref = reference("dense")
    gan, ema, cond = _new("dense")
    run = train(gan, config(tmp_path / "run"), cond, ema, steps_per_call_at_most=5)
    assert gan.steps_per_execution == 5 and "train_step" not in vars(gan)  # the notebook's step is back
    strip = lambda hist: [{k: v for k, v in r.items() if not k.startswith("val_")} for r in hist]  # noqa: E731
    assert_same_run(strip(rows(run)), weights(gan), strip(ref["history"]), ref["state"])
    checked = [r["iteration"] for r in rows(run) if r.get("val_d_real") is not None]
    assert checked == [5, 10, 15, 20]  # at the end of the call that reaches each multiple of val_every (4)


@pytest.mark.parametrize("last_step", [False, True], ids=["keras-3.10", "keras-3.11+"])
def test_rows_do_not_depend_on_which_step_keras_reports_at_the_end_of_a_call(tmp_path, last_step):
    """With 5 steps per call Keras 3.10 passes on_train_batch_end the call's first step, 3.11+ its last: the
    iterations and epochs recorded are the same either way."""
    gan = make_gan()
    gan.steps_per_execution = 5
    step_log = SimpleNamespace(rows=lambda first, n: [{"step": first + k} for k in range(n)])  # what StepLog gives
    hist = callbacks.History(records.Run(tmp_path), STEPS, step_log=step_log)
    hist.set_model(gan)
    for epoch in range(2):
        hist.on_epoch_begin(epoch)
        for begin in range(0, STEPS, 5):
            hist.on_train_batch_begin(begin)
            hist.on_train_batch_end(begin + 4 if last_step else begin, {})
    assert [(r["iteration"], r["epoch"], r["step"]) for r in hist.run.history] == [
        (i, 1 + (i - 1) // STEPS, i - 1) for i in range(1, 2 * STEPS + 1)
    ]


def test_progress_bar_only_in_an_interactive_jupyter_session(tmp_path, monkeypatch, capsys):
    """In a live Jupyter kernel a bar with elapsed time and ETA runs inside each epoch; in batch runs
    (GAN_NO_PROGRESS set by the runner and the tests) and outside IPython there is none."""
    import builtins

    class ZMQInteractiveShell:  # what get_ipython() returns inside a Jupyter kernel
        pass

    assert not callbacks.Progress.wanted()  # plain Python
    monkeypatch.setattr(builtins, "get_ipython", lambda: ZMQInteractiveShell(), raising=False)
    monkeypatch.setenv("GAN_NO_PROGRESS", "1")
    assert not callbacks.Progress.wanted()
    monkeypatch.delenv("GAN_NO_PROGRESS")
    assert callbacks.Progress.wanted()
    gan, ema, cond = _new("dense")
    train(gan, config(tmp_path / "run", epochs=1), cond, ema, steps_per_call_at_most=5)
    err = capsys.readouterr().err
    assert "epoch 1/1: " in err and f"/{STEPS}" in err  # a bar over this epoch's iterations
