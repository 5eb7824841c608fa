"""The shared GAN training step, its records and checkpoints (taught in 02_dense_gan).

``GAN`` is a ``keras.Model`` with its own ``train_step``: one discriminator
update on a real and a generated batch, then one generator update, each with
its own optimizer. It serves unconditional GANs (02) and label-conditional
ones (03) alike. ``train_gan`` wires it to the records a notebook needs:

- ``history.csv``: one row per iteration with the raw (not averaged) losses
  and discriminator outputs, plus validation columns every ``val_every``
  iterations (the report's Figure 2);
- ``epochs.csv``: epoch means and seconds per epoch;
- ``snapshots.npz``: a fixed-noise sample grid at chosen epochs (Figure 3);
- ``checkpoint.npz``: every variable of both networks, both optimizers and
  the random-number state, written atomically each epoch, so ``resume=True``
  continues exactly where an interrupted run stopped;
- ``generator.keras``: the trained generator, for later notebooks.
"""
import csv
import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from . import data as gdata
from .repro import atomic_write_text, write_run_info

G_LOSSES = ("nonsaturating", "saturating")
HISTORY_COLUMNS = ("iteration", "epoch", "d_loss", "g_loss", "d_real", "d_fake", "val_d_real", "val_d_fake")
EXPLODING_LOSS = 1e3
STEP_LOG_SIZE = 64  # raw values of the last 64 steps stay in the graph, so Keras may run several steps per call


class TrainingDiverged(RuntimeError):
    """A loss became NaN, infinite or exploded; training stopped."""


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used with this model."""


def real_logit(d_out):
    """One logit of "real" from a discriminator's output (02).

    A two-node head [generated, real] with a softmax gives
    p(real) = exp(l1) / (exp(l0) + exp(l1)) = sigmoid(l1 - l0): the same model
    as a single logit, so both heads share every loss below.
    """
    if d_out.shape[-1] == 2:
        return d_out[:, 1] - d_out[:, 0]
    return d_out[:, 0]


def bce_with_logits(logits, target):
    """Mean binary cross-entropy of logits against a constant target in [0, 1] (02)."""
    # -t log s(l) - (1 - t) log(1 - s(l)) = softplus(l) - t * l, stable for any l
    return ops.mean(ops.softplus(logits) - target * logits)


def generator_loss(fake_logits, kind):
    """The generator's loss on D's logits for generated images (02).

    ``"saturating"``: minimise log(1 - D(G(z))) = -softplus(l), the report's
    minimax form. ``"nonsaturating"``: minimise -log D(G(z)) = softplus(-l).
    """
    if kind == "saturating":
        return ops.mean(-ops.softplus(fake_logits))
    return ops.mean(ops.softplus(-fake_logits))


@keras.saving.register_keras_serializable(package="gan_utils")
class GAN(keras.Model):
    """A generator and a discriminator trained against each other (02).

    ``num_classes=0``: unconditional, the dataset yields images. ``num_classes=10``:
    conditional, the dataset yields (images, one-hot labels) and both networks
    take the label as a second input. ``ema_decay > 0`` keeps an exponential
    moving average of the generator's weights (``ema_generator``), which is
    what ``sampling_generator`` returns (03).
    """

    def __init__(self, generator, discriminator, latent_dim=100, num_classes=0, g_loss="nonsaturating",
                 label_smoothing=0.0, ema_decay=0.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        if g_loss not in G_LOSSES:
            raise ValueError(f"g_loss={g_loss!r}: use one of {G_LOSSES}.")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)
        self.g_loss_kind = g_loss
        self.label_smoothing = float(label_smoothing)
        self.ema_decay = float(ema_decay)
        self.noise_seed = keras.random.SeedGenerator(seed)
        self.ema_generator = None
        if self.ema_decay > 0:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_generator.trainable = False
            for e, w in zip(self.ema_generator.weights, generator.weights):
                assert tuple(e.shape) == tuple(w.shape), (e.path, w.path)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("d_loss", "g_loss", "d_real", "d_fake")}
        # Row (iteration - 1) % STEP_LOG_SIZE holds that step's raw d_loss, g_loss, D(x), D(G(z)).
        self.step_log = keras.Variable(np.zeros((STEP_LOG_SIZE, 4), np.float32), trainable=False, name="step_log")

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def sampling_generator(self):
        """The generator to draw samples from: the EMA copy if there is one (03)."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    def iteration_count(self):
        """How many train steps have run (02)."""
        return int(ops.convert_to_numpy(self.d_optimizer.iterations))

    def _g_inputs(self, z, labels):
        return z if labels is None else [z, labels]

    def _d_inputs(self, images, labels):
        return images if labels is None else [images, labels]

    def train_step(self, data):
        if self.num_classes:
            real, labels = data[0], data[1]
        else:
            real, labels = (data[0] if isinstance(data, (tuple, list)) else data), None
        real = ops.convert_to_tensor(real)
        labels = None if labels is None else ops.convert_to_tensor(labels)
        batch = ops.shape(real)[0]

        # 1. Discriminator: real images towards 1 (or 1 - label_smoothing), generated towards 0.
        #    Real and generated images go through D separately, so batch normalization
        #    never mixes them in one batch.
        z = keras.random.normal((batch, self.latent_dim), seed=self.noise_seed)
        with tf.GradientTape() as tape:
            fake = self.generator(self._g_inputs(z, labels), training=True)
            l_real = real_logit(self.discriminator(self._d_inputs(real, labels), training=True))
            l_fake = real_logit(self.discriminator(self._d_inputs(fake, labels), training=True))
            d_loss = bce_with_logits(l_real, 1.0 - self.label_smoothing) + bce_with_logits(l_fake, 0.0)
        d_weights = self.discriminator.trainable_weights
        self.d_optimizer.apply(tape.gradient(d_loss, d_weights), d_weights)

        # 2. Generator: fresh noise, make D call its images real. Only G's weights move.
        z = keras.random.normal((batch, self.latent_dim), seed=self.noise_seed)
        with tf.GradientTape() as tape:
            fake = self.generator(self._g_inputs(z, labels), training=True)
            l_gen = real_logit(self.discriminator(self._d_inputs(fake, labels), training=True))
            g_loss = generator_loss(l_gen, self.g_loss_kind)
        g_weights = self.generator.trainable_weights
        self.g_optimizer.apply(tape.gradient(g_loss, g_weights), g_weights)

        # 3. Optional moving average of G's weights (warms up over the first steps).
        if self.ema_generator is not None:
            step = ops.cast(self.g_optimizer.iterations, "float32")
            decay = ops.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
            for e, w in zip(self.ema_generator.weights, self.generator.weights):
                e.assign(decay * e + (1.0 - decay) * w)

        # Raw values of this step (the per-iteration records); the trackers keep epoch means.
        step_values = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": ops.mean(ops.sigmoid(l_real)),
            "d_fake": ops.mean(ops.sigmoid(l_fake)),
        }
        for name, value in step_values.items():
            self.trackers[name].update_state(value)
        slot = ops.mod(ops.cast(self.d_optimizer.iterations, "int32") - 1, STEP_LOG_SIZE)
        row = ops.reshape(ops.stack([ops.cast(v, "float32") for v in step_values.values()]), (1, 4))
        self.step_log.assign(ops.scatter_update(self.step_log, ops.reshape(slot, (1, 1)), row))
        return step_values

    def state_variables(self):
        """Every variable a checkpoint must hold: both networks, EMA, RNG state, optimizers (02)."""
        for opt, model in ((self.d_optimizer, self.discriminator), (self.g_optimizer, self.generator)):
            if not opt.built:
                opt.build(model.trainable_weights)
        variables = list(self.generator.variables) + list(self.discriminator.variables)
        if self.ema_generator is not None:
            variables += list(self.ema_generator.variables)
        variables += list(self.noise_seed.state if isinstance(self.noise_seed.state, list) else [self.noise_seed.state])
        variables += list(self.d_optimizer.variables) + list(self.g_optimizer.variables)
        return variables


def build_gan(generator, discriminator, learning_rate=2e-4, beta_1=0.5, **gan_kwargs):
    """A compiled ``GAN`` with one Adam optimizer per network (02)."""
    gan = GAN(generator, discriminator, **gan_kwargs)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, name="d_adam"),
        g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1, name="g_adam"),
    )
    return gan


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(gan, path, epoch, fingerprint):
    """Write every state variable and the epoch to ``path`` atomically (02)."""
    arrays = {f"v{i:04d}": ops.convert_to_numpy(v) for i, v in enumerate(gan.state_variables())}
    arrays["epoch"] = np.array(epoch, dtype=np.int64)
    arrays["iteration"] = np.array(gan.iteration_count(), dtype=np.int64)
    arrays["fingerprint"] = np.frombuffer(fingerprint.encode(), dtype=np.uint8)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_checkpoint(path):
    """Read a checkpoint file without unpickling; returns a dict of arrays (02)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as e:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(e).__name__}: {e}). Delete it or choose another RUN_DIR."
        ) from None


def load_checkpoint(gan, path, fingerprint):
    """Restore a checkpoint into ``gan``; returns (epoch, iteration) (02)."""
    ckpt = read_checkpoint(path)
    saved_fp = bytes(ckpt.get("fingerprint", np.zeros(0, np.uint8))).decode(errors="replace")
    if saved_fp != fingerprint:
        raise CheckpointError(
            f"{path} was made with other settings ({saved_fp}) than this run ({fingerprint}). "
            "Resume with the settings of that run, or set RESUME = False (the old run is kept), "
            "or choose another RUN_DIR."
        )
    variables = gan.state_variables()
    names = sorted(k for k in ckpt if k.startswith("v"))
    if len(names) != len(variables):
        raise CheckpointError(
            f"{path} holds {len(names)} variables but this model has {len(variables)}: it comes from another "
            "architecture. Set RESUME = False or choose another RUN_DIR."
        )
    for name, var in zip(names, variables):
        if tuple(ckpt[name].shape) != tuple(var.shape):
            raise CheckpointError(
                f"{path}: variable {var.path} has shape {tuple(ckpt[name].shape)} in the checkpoint but "
                f"{tuple(var.shape)} in this model: another architecture. Set RESUME = False or choose another RUN_DIR."
            )
    for name, var in zip(names, variables):
        var.assign(ckpt[name])
    return int(ckpt["epoch"]), int(ckpt["iteration"])


# ----------------------------------------------------------------------------- callbacks


def _write_csv(path, columns, rows):
    lines = [",".join(columns)]
    for r in rows:
        lines.append(",".join("" if r.get(c) is None else (repr(r[c]) if isinstance(r[c], float) else str(r[c]))
                              for c in columns))
    atomic_write_text(path, "\n".join(lines) + "\n")


class HistoryRecorder(keras.callbacks.Callback):
    """Per-iteration raw records, validation checks and divergence detection (02).

    Every ``val_every`` iterations it also records mean D on ``val_real``
    (held-out real images, never trained on) and on images generated from the
    fixed ``val_noise`` (and ``val_labels`` for conditional GANs). When Keras
    runs several steps per call, the check runs at the end of the call that
    reaches a multiple of ``val_every`` and is recorded at that iteration.
    """

    def __init__(self, steps_per_epoch, val_every, val_real, val_noise, val_labels=None, rows=None,
                 val_real_labels=None):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.val_every = val_every
        self.val_real = val_real
        self.val_noise = val_noise
        self.val_labels = val_labels
        self.val_real_labels = val_labels if val_real_labels is None else val_real_labels
        self.rows = list(rows or [])
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_begin(self, logs=None):
        gan = self.model
        noise = tf.constant(self.val_noise)
        real = tf.constant(self.val_real)
        labels = None if self.val_labels is None else tf.constant(self.val_labels)
        real_labels = None if self.val_real_labels is None else tf.constant(self.val_real_labels)

        @tf.function
        def check():  # compiled once: D in inference mode on held-out real and fixed-noise fake images
            fake = gan.generator(gan._g_inputs(noise, labels), training=False)
            d_real = ops.sigmoid(real_logit(gan.discriminator(gan._d_inputs(real, real_labels), training=False)))
            d_fake = ops.sigmoid(real_logit(gan.discriminator(gan._d_inputs(fake, labels), training=False)))
            return ops.mean(d_real), ops.mean(d_fake)

        self._check = check

    def validation(self):
        """Mean D on the held-out real images and on fixed-noise generated images."""
        d_real, d_fake = self._check()
        return float(d_real), float(d_fake)

    def on_train_batch_end(self, batch, logs=None):
        # Keras may run several steps per call (steps_per_execution): read each step's raw values
        # from the model's in-graph log, so the history still has one row per iteration.
        end = self.epoch * self.steps_per_epoch + batch + 1
        last = int(self.rows[-1]["iteration"]) if self.rows else self.epoch * self.steps_per_epoch
        log = ops.convert_to_numpy(self.model.step_log)
        for iteration in range(last + 1, end + 1):
            values = log[(iteration - 1) % STEP_LOG_SIZE]
            row = {"iteration": iteration, "epoch": self.epoch + 1}
            row.update({k: float(v) for k, v in zip(("d_loss", "g_loss", "d_real", "d_fake"), values)})
            bad = [k for k in ("d_loss", "g_loss") if not math.isfinite(row[k]) or abs(row[k]) > EXPLODING_LOSS]
            if bad:
                self.rows.append(row)
                self.model.stop_training = True
                self.diverged = (
                    f"Training diverged at iteration {iteration} (epoch {self.epoch + 1}): "
                    + ", ".join(f"{k} = {row[k]}" for k in bad)
                    + ". Lower LEARNING_RATE (the report's 0.0002 is stable; 0.001 oscillated or diverged)"
                    " and start again, or resume from the last good checkpoint with RESUME = True."
                )
                raise TrainingDiverged(self.diverged)
            self.rows.append(row)
        if self.val_every and end // self.val_every > last // self.val_every:
            self.rows[-1]["val_d_real"], self.rows[-1]["val_d_fake"] = self.validation()


class EpochLog(keras.callbacks.Callback):
    """One readable line per epoch (no progress bar), and seconds per epoch (02)."""

    def __init__(self, epochs, rows=None, every=1):
        super().__init__()
        self.epochs = epochs
        self.rows = list(rows or [])
        self.every = every

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._t0
        prev = self.rows[-1]["train_seconds"] if self.rows else 0.0
        row = {"epoch": epoch + 1, "seconds": round(seconds, 3), "train_seconds": round(prev + seconds, 3)}
        row.update({k: float(logs[k]) for k in ("d_loss", "g_loss", "d_real", "d_fake")})
        self.rows.append(row)
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs:
            print(f"epoch {epoch + 1:3d}/{self.epochs}  {seconds:5.1f}s  d_loss {row['d_loss']:.3f}  "
                  f"g_loss {row['g_loss']:.3f}  D(x) {row['d_real']:.3f}  D(G(z)) {row['d_fake']:.3f}", flush=True)


class SampleSnapshots(keras.callbacks.Callback):
    """Samples from one fixed noise grid at chosen epochs, kept in memory (02, 03).

    Epoch 0 is the untrained generator. ``snapshots`` maps epoch -> uint8 images.
    """

    def __init__(self, epochs_to_keep, noise, labels=None, snapshots=None):
        super().__init__()
        self.epochs_to_keep = set(epochs_to_keep)
        self.noise = noise
        self.labels = labels
        self.snapshots = dict(snapshots or {})

    def draw(self):
        gen = self.model.sampling_generator
        inputs = self.noise if self.labels is None else [self.noise, self.labels]
        return gdata.to_uint8(gen.predict(inputs, verbose=0, batch_size=500))

    def on_train_begin(self, logs=None):
        if 0 in self.epochs_to_keep and 0 not in self.snapshots:
            self.snapshots[0] = self.draw()

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs_to_keep:
            self.snapshots[epoch + 1] = self.draw()


class Checkpointer(keras.callbacks.Callback):
    """At each epoch's end, write records first and the checkpoint last, atomically (02)."""

    def __init__(self, run, every=1):
        super().__init__()
        self.run = run
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        self.run.save_records()
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.run.epochs:
            save_checkpoint(self.model, self.run.dir / "checkpoint.npz", epoch + 1, self.run.fingerprint)


# ----------------------------------------------------------------------------- the run


def fingerprint(settings):
    """A short, readable identity of the settings a checkpoint depends on (02)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return text if len(text) < 300 else hashlib.sha256(text.encode()).hexdigest()[:16]


class Run:
    """What ``train_gan`` returns and saves: records, snapshots, timing (02).

    ``history`` (per iteration), ``epoch_log`` (per epoch) and ``quality``
    (per evaluation) are lists of dicts; ``snapshots`` maps epoch -> images.
    """

    def __init__(self, run_dir, epochs, fingerprint_text):
        self.dir = Path(run_dir)
        self.epochs = epochs
        self.fingerprint = fingerprint_text
        self.history, self.epoch_log, self.quality, self.snapshots = [], [], [], {}
        self.recorder = self.logger = self.snapshotter = self.quality_cb = None
        self.resumed_from = 0

    def save_records(self):
        if self.recorder is not None:
            self.history = self.recorder.rows
            self.epoch_log = self.logger.rows
            self.snapshots = self.snapshotter.snapshots
            if self.quality_cb is not None:
                self.quality = list(self.quality_cb.records)
        _write_csv(self.dir / "history.csv", HISTORY_COLUMNS, self.history)
        if self.epoch_log:
            _write_csv(self.dir / "epochs.csv", list(self.epoch_log[0]), self.epoch_log)
        if self.quality:
            _write_csv(self.dir / "quality.csv", list(self.quality[-1]), self.quality)
        if self.snapshots:
            tmp = self.dir / "snapshots.tmp.npz"
            np.savez_compressed(tmp, **{f"epoch_{e:04d}": v for e, v in sorted(self.snapshots.items())})
            os.replace(tmp, self.dir / "snapshots.npz")

    @property
    def train_seconds(self):
        return self.epoch_log[-1]["train_seconds"] if self.epoch_log else 0.0


def load_run(run_dir):
    """Read a finished or interrupted run's records from ``run_dir`` (04).

    Returns a ``Run`` with history, epoch_log, quality and snapshots; raises
    FileNotFoundError naming the folder if it holds no run.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "history.csv").is_file():
        raise FileNotFoundError(f"{run_dir} holds no run (no history.csv). Run the notebook that trains it first.")
    info = json.loads((run_dir / "run_info.json").read_text()) if (run_dir / "run_info.json").is_file() else {}
    run = Run(run_dir, info.get("parameters", {}).get("EPOCHS"), info.get("fingerprint", ""))
    run.info = info

    def rows(name):
        p = run_dir / name
        if not p.is_file():
            return []
        with open(p, newline="") as f:
            return [{k: (None if v == "" else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]

    run.history, run.epoch_log, run.quality = rows("history.csv"), rows("epochs.csv"), rows("quality.csv")
    if (run_dir / "snapshots.npz").is_file():
        with np.load(run_dir / "snapshots.npz", allow_pickle=False) as f:
            run.snapshots = {int(k.split("_")[1]): f[k] for k in f.files}
    return run


def _prepare_dir(run_dir, resume):
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoint.npz"
    if resume:
        if not ckpt.is_file():
            print(f"RESUME = True but {run_dir} holds no checkpoint yet: starting from epoch 0.")
        return run_dir
    if run_dir.exists() and any(run_dir.iterdir()):
        previous = run_dir.with_name(run_dir.name + "-previous")
        if previous.exists():
            shutil.rmtree(previous)
        run_dir.rename(previous)
        print(f"{run_dir} held an earlier run; it was moved to {previous} (set RESUME = True to continue a run).")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def steps_per_call(steps_per_epoch, val_every=0, most=16):
    """How many train steps Keras runs per call: a divisor of the epoch, of ``val_every`` if possible (02)."""
    divisors = [d for d in range(1, most + 1) if steps_per_epoch % d == 0]
    both = [d for d in divisors if val_every and val_every % d == 0]
    return max(both) if both and max(both) >= 4 else max(divisors)


def train_gan(gan, images, labels=None, *, run_dir, epochs, batch_size=128, seed=0, resume=False,
              val_real=None, val_real_labels=None, val_every=50, n_val=1000, snapshot_epochs=(0,), snapshot_noise=None,
              snapshot_labels=None, settings=None, extra_callbacks=(), log_every=1, checkpoint_every=1, notebook="",
              steps_per_execution=None):
    """Train ``gan`` on uint8 ``images`` (and ``labels``) and save everything in ``run_dir`` (02).

    ``val_real``: held-out uint8 real images for the validation step (the first
    ``n_val`` are used), with their digits ``val_real_labels`` for a conditional
    GAN (D must judge each real digit under its own label). ``settings``: the parameters a checkpoint must match
    to be resumed; they are recorded with the seed and library versions in
    ``run_dir/run_info.json``. ``steps_per_execution``: train steps per call of
    the compiled function (None: ``steps_per_call`` chooses). Returns a ``Run``. Raises ``TrainingDiverged`` (after
    saving the history) if a loss becomes NaN or explodes.
    """
    run_dir = _prepare_dir(run_dir, resume)
    fp = fingerprint(settings or {})
    info_path = write_run_info(run_dir, params=dict(settings or {}, EPOCHS=epochs), seed=seed, notebook=notebook,
                               extra={"fingerprint": fp})
    run = Run(run_dir, epochs, fp)
    run.info = json.loads(info_path.read_text())
    start_epoch = 0
    ckpt = run_dir / "checkpoint.npz"
    if resume and ckpt.is_file():
        start_epoch, iteration = load_checkpoint(gan, ckpt, fp)
        old = load_run(run_dir)
        run.history = [r for r in old.history if r["iteration"] <= iteration]
        run.epoch_log = [r for r in old.epoch_log if r["epoch"] <= start_epoch]
        run.quality = [r for r in old.quality if r["epoch"] <= start_epoch]
        run.snapshots = {e: v for e, v in old.snapshots.items() if e <= start_epoch}
        for r in run.history + run.epoch_log:
            for k in ("iteration", "epoch"):
                if r.get(k) is not None:
                    r[k] = int(r[k])
        run.resumed_from = start_epoch
        print(f"Resumed from {ckpt}: epoch {start_epoch}, iteration {iteration}.")
    if start_epoch >= epochs:
        print(f"The run in {run_dir} already has {start_epoch} epochs (EPOCHS = {epochs}); nothing to train.")
        return run

    rng = np.random.default_rng([seed, 7])
    val_noise = rng.standard_normal((n_val, gan.latent_dim)).astype(np.float32)
    val_labels = None
    if gan.num_classes:
        val_labels = np.eye(gan.num_classes, dtype=np.float32)[np.arange(n_val) % gan.num_classes]
    if val_real is None:
        val_real, val_real_labels = images, labels
    val_x = gdata.to_unit_range(val_real[:n_val])
    real_onehot = None
    if gan.num_classes:
        if val_real_labels is None:
            raise ValueError("A conditional GAN's validation check needs val_real_labels, the digits of val_real.")
        real_onehot = np.eye(gan.num_classes, dtype=np.float32)[np.asarray(val_real_labels[:n_val], dtype=int)]
    if snapshot_noise is None:  # a 10x10 grid; for a conditional GAN row r is digit r, column c one fixed "pen"
        srng = np.random.default_rng([seed, 11])
        if gan.num_classes:
            snapshot_noise = np.tile(srng.standard_normal((10, gan.latent_dim)), (gan.num_classes, 1)).astype(np.float32)
            snapshot_labels = np.repeat(np.eye(gan.num_classes, dtype=np.float32), 10, axis=0)
        else:
            snapshot_noise = srng.standard_normal((100, gan.latent_dim)).astype(np.float32)

    ds, steps = gdata.training_batches(images, labels, batch_size=batch_size, seed=seed, epochs=epochs,
                                       start_epoch=start_epoch, num_classes=gan.num_classes or 10)
    # Several steps per call to the compiled function save Python overhead per step; the step
    # count divides the epoch (and, where it can, val_every, so checks fall on exact multiples).
    per_call = steps_per_execution or steps_per_call(steps, val_every)
    gan.compile(d_optimizer=gan.d_optimizer, g_optimizer=gan.g_optimizer, steps_per_execution=per_call)
    run.recorder = HistoryRecorder(steps, val_every, val_x, val_noise, val_labels, rows=run.history,
                                   val_real_labels=real_onehot)
    run.logger = EpochLog(epochs, rows=run.epoch_log, every=log_every)
    run.snapshotter = SampleSnapshots(snapshot_epochs, snapshot_noise, snapshot_labels, snapshots=run.snapshots)
    callbacks = [run.recorder, run.logger, run.snapshotter, *extra_callbacks]
    for cb in extra_callbacks:
        if hasattr(cb, "records"):
            run.quality_cb = cb
            cb.records[:0] = run.quality
            if hasattr(cb, "seconds_offset") and run.epoch_log:
                cb.seconds_offset = run.epoch_log[-1]["train_seconds"]
    callbacks.append(Checkpointer(run, every=checkpoint_every))

    print(f"Training {epochs - start_epoch} epochs of {steps} iterations (batch {batch_size}) from epoch {start_epoch}; "
          f"records in {run_dir}", flush=True)
    try:
        gan.fit(ds, epochs=epochs, initial_epoch=start_epoch, steps_per_epoch=steps, callbacks=callbacks,
                verbose=0, shuffle=False)
    except TrainingDiverged:
        run.history = run.recorder.rows
        _write_csv(run_dir / "history.csv", HISTORY_COLUMNS, run.history)
        raise
    except KeyboardInterrupt:
        print(f"Interrupted. The last complete epoch is saved in {ckpt}; run again with RESUME = True to continue.")
        raise
    run.save_records()
    gan.sampling_generator.save(run_dir / "generator.keras")
    return run


def save_metrics(run_dir, scores, run=None):
    """Write the final scores (and timing) of a run to ``run_dir/metrics.json`` (02, 03).

    The runner's summary and notebook 04 read it; lists such as digit shares are kept.
    """
    out = {k: v for k, v in scores.items() if isinstance(v, (int, float, list, dict))}
    if run is not None and run.epoch_log:
        out["epochs"] = int(run.epoch_log[-1]["epoch"])
        out["train_seconds"] = float(run.train_seconds)
        out["seconds_per_epoch"] = float(np.median([r["seconds"] for r in run.epoch_log]))
    atomic_write_text(Path(run_dir) / "metrics.json", json.dumps(out, indent=1, default=float))
    return out
