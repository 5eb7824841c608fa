"""Training plumbing around ``model.fit``: records, checks, snapshots, checkpoints, resume (02, 03).

The notebooks define the GAN (a ``keras.Model`` with ``generator``,
``discriminator``, ``d_optimizer``, ``g_optimizer`` and its own
``train_step``); these callbacks work for any such model. The conventions they
rely on: ``train_step`` returns this step's raw numbers as a dict of scalars
(losses have names ending in ``loss``); a conditional GAN's generator takes
``[z, one_hot_label]`` and its discriminator ``[image, one_hot_label]``; the
discriminator returns logits, one ("real") or two ([generated, real]).
``fit`` wires them together and returns the run's records.
"""
import json
import math
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from . import checkpoint, data, evaluation, records

EXPLODING_LOSS = 1e3


class TrainingDiverged(RuntimeError):
    """A loss became NaN, infinite or exploded; training stopped."""


def is_conditional(gan):
    """True when the generator takes a label as its second input."""
    return len(gan.generator.inputs) == 2


def latent_dim(gan):
    """The length of the generator's noise vector."""
    return int(gan.generator.inputs[0].shape[-1])


def prob_real(d_out):
    """D's probability of "real" from its logits: sigmoid of one logit, or softmax of [generated, real]."""
    if d_out.shape[-1] == 2:
        return ops.softmax(d_out, axis=-1)[:, 1]
    return ops.sigmoid(d_out[:, 0])


def one_hot(labels, num_classes=10):
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels, dtype=int)]


def _inputs(x, labels):
    return x if labels is None else [x, labels]


def draw(generator, noise, labels=None):
    """uint8 digits from ``generator`` for fixed ``noise`` (and one-hot ``labels``), in inference mode."""
    out = generator.predict(_inputs(noise, labels), verbose=0, batch_size=500)
    return data.to_uint8(out)


class History(keras.callbacks.Callback):
    """One row per iteration of what ``train_step`` returned; D's validation check every ``val_every``
    iterations; stops with ``TrainingDiverged`` at the first NaN, infinite or exploding loss (02)."""

    def __init__(self, run, steps_per_epoch, val_every=0, check=None):
        super().__init__()
        self.run, self.steps, self.val_every, self.check = run, steps_per_epoch, val_every, check
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        it = self.epoch * self.steps + batch + 1
        row = {"iteration": it, "epoch": self.epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.run.history.append(row)
        bad = [k for k, v in row.items() if k.endswith("loss") and (not math.isfinite(v) or abs(v) > EXPLODING_LOSS)]
        if bad:
            self.model.stop_training = True
            raise TrainingDiverged(
                f"Training diverged at iteration {it} (epoch {self.epoch + 1}): "
                + ", ".join(f"{k} = {row[k]}" for k in bad)
                + ". Lower LEARNING_RATE (the report's 0.0002 is stable) and start again with RESUME = False "
                  "(resuming repeats the same steps exactly).")
        if self.check is not None and self.val_every and it % self.val_every == 0:
            row.update(self.check())


def validation_check(gan, real_images, real_labels=None, n=1000, seed=0):
    """A compiled check of D in inference mode: mean D on ``n`` held-out real digits and on ``n`` digits
    the live generator draws from fixed noise (the report's Figure 2). Returns a function -> dict (02)."""
    rng = np.random.default_rng([seed, 7])
    noise = tf.constant(rng.standard_normal((n, latent_dim(gan))).astype(np.float32))
    real = tf.constant(data.to_unit_range(real_images[:n]))
    labels = real_labels_1h = None
    if is_conditional(gan):  # generated digits are asked for in equal numbers; real ones keep their own label
        labels = tf.constant(one_hot(np.arange(n) % 10))
        real_labels_1h = tf.constant(one_hot(real_labels[:n]))

    @tf.function
    def check():
        fake = gan.generator(_inputs(noise, labels), training=False)
        d_real = prob_real(gan.discriminator(_inputs(real, real_labels_1h), training=False))
        d_fake = prob_real(gan.discriminator(_inputs(fake, labels), training=False))
        return ops.mean(d_real), ops.mean(d_fake)

    return lambda: dict(zip(("val_d_real", "val_d_fake"), (float(v) for v in check())))


class Snapshots(keras.callbacks.Callback):
    """A fixed 10x10 noise grid drawn at ``epochs`` (0: the untrained generator) into ``run.snapshots`` (02).

    For a conditional GAN, row r asks for digit r and column c uses the same noise in every row.
    """

    def __init__(self, run, epochs, generator, conditional, latent, seed=0):
        super().__init__()
        self.run, self.epochs, self.generator = run, set(epochs), generator
        rng = np.random.default_rng([seed, 11])
        if conditional:
            self.noise = np.tile(rng.standard_normal((10, latent)), (10, 1)).astype(np.float32)
            self.labels = one_hot(np.repeat(np.arange(10), 10))
        else:
            self.noise, self.labels = rng.standard_normal((100, latent)).astype(np.float32), None

    def on_train_begin(self, logs=None):
        if 0 in self.epochs and 0 not in self.run.snapshots:
            self.run.snapshots[0] = draw(self.generator, self.noise, self.labels)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs:
            self.run.snapshots[epoch + 1] = draw(self.generator, self.noise, self.labels)


class QualityCheck(keras.callbacks.Callback):
    """Score ``generator`` with the evaluation classifier after the given ``epochs``, on ``n`` samples (03, 04).

    Records epoch, iteration, seconds of training so far (the checks' own time excluded) and the metrics
    in ``run.quality``. Noise comes from a fixed seed, so the checks are comparable across epochs.
    """

    def __init__(self, run, generator, conditional, epochs, n=2000, seed=1234):
        super().__init__()
        self.run, self.generator, self.conditional, self.epochs, self.n, self.seed = \
            run, generator, conditional, set(epochs), n, seed

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 not in self.epochs:
            return
        from .sample import generate

        t0 = time.perf_counter()
        labels = np.repeat(np.arange(10), self.n // 10) if self.conditional else None
        images = generate(self.generator, n=None if self.conditional else self.n, labels=labels, seed=self.seed)
        s = evaluation.score(images, labels, pr_points=2000)
        rec = {"epoch": epoch + 1, "iteration": int(ops.convert_to_numpy(self.model.d_optimizer.iterations)),
               "seconds": round(self.run.train_seconds, 2), "n_samples": self.n}
        rec.update({k: s.get(k) for k in evaluation.QUALITY_KEYS})
        rec["eval_seconds"] = round(time.perf_counter() - t0, 2)
        self.run.quality.append(rec)
        acc = "" if rec["accuracy"] is None else f", requested digit read {rec['accuracy']:.1%}"
        print(f"   quality after epoch {epoch + 1}: FID {rec['fid_ratio']:.1f}x the real-data floor (n={self.n}), "
              f"rarest digit {rec['min_share']:.1%}{acc} ({rec['eval_seconds']:.0f} s)", flush=True)


class GeneratorEMA(keras.callbacks.Callback):
    """An exponential moving average of the generator's weights, updated after every train step (03).

    ``self.generator`` is the averaged copy to sample from; D keeps playing against the live generator.
    The decay warms up as min(decay, (1 + t) / (10 + t)) over the first steps t.
    """

    checkpoint_name = "ema_generator"

    def __init__(self, generator, decay=0.999):
        super().__init__()
        self.source, self.decay = generator, float(decay)
        self.generator = checkpoint.clone_network(generator)
        pairs = list(zip(self.generator.variables, self.source.variables))

        @tf.function
        def update(step):
            d = tf.minimum(self.decay, (1.0 + step) / (10.0 + step))
            for e, w in pairs:
                e.assign(d * e + (1.0 - d) * w)

        self._update = update

    def on_train_batch_end(self, batch, logs=None):
        self._update(tf.cast(self.model.g_optimizer.iterations, tf.float32))


class EpochLog(keras.callbacks.Callback):
    """One line per epoch: time, ETA and the epoch's mean raw values; saves records and the checkpoint (02)."""

    def __init__(self, run, epochs, fingerprint, extra_networks, every=1):
        super().__init__()
        self.run, self.epochs, self.fingerprint, self.extra, self.every = run, epochs, fingerprint, extra_networks, every

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._t0
        rows = [r for r in self.run.history if r["epoch"] == epoch + 1]
        keys = [k for k in rows[0] if k not in ("iteration", "epoch") and not k.startswith("val_")] if rows else []
        row = {"epoch": epoch + 1, "seconds": round(seconds, 3),
               "train_seconds": round(self.run.train_seconds + seconds, 3)}
        row.update({k: float(np.mean([r[k] for r in rows])) for k in keys})
        self.run.epoch_log.append(row)
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs or epoch == self.run.resumed_from:
            mean = np.mean([r["seconds"] for r in self.run.epoch_log[self.run.resumed_from:]])
            means = "  ".join(f"{k} {row[k]:.3f}" for k in keys)
            print(f"epoch {epoch + 1}/{self.epochs}  {seconds:.1f} s  ETA {mean * (self.epochs - epoch - 1):.0f} s  "
                  f"{means}", flush=True)

    def on_epoch_end_save(self, epoch):
        self.run.save()
        checkpoint.save(self.run.dir / "checkpoint.npz", self.model, epoch + 1, self.fingerprint, self.extra)


class _Save(keras.callbacks.Callback):
    # Last callback of every epoch: records first, then the checkpoint, each written atomically.
    def __init__(self, log):
        super().__init__()
        self.log = log

    def on_epoch_end(self, epoch, logs=None):
        self.log.on_epoch_end_save(epoch)


def fit(gan, config, x_train, y_train=None, *, x_val, y_val=None, callbacks=(), sampler=None, snapshot_epochs=(0,),
        val_every=50, score_epochs=(), score_samples=2000, log_every=1):
    """Train ``gan`` on uint8 digits with every record and checkpoint in ``config["RUN_DIR"]`` (02, 03).

    ``config``: the notebook's ``RunConfig`` (EPOCHS, BATCH_SIZE, SEED, RESUME, RUN_DIR). ``x_val``,
    ``y_val``: held-out digits for D's validation check every ``val_every`` iterations. ``snapshot_epochs``,
    ``score_epochs``: when to draw the fixed noise grid and score ``score_samples`` samples. ``callbacks``: more Keras callbacks (a
    ``GeneratorEMA`` is checkpointed with the rest). ``sampler``: the generator to draw snapshots and
    quality checks from (default ``gan.generator``). With RESUME it continues from the last complete
    epoch and gives the same numbers as an uninterrupted run. Returns the ``records.Run``.
    """
    epochs, seed, batch_size = config["EPOCHS"], config["SEED"], config["BATCH_SIZE"]
    run_dir = records.prepare_dir(config["RUN_DIR"], config.get("RESUME", False))
    run, fingerprint = records.Run(run_dir), config.fingerprint()
    extra = {cb.checkpoint_name: cb.generator for cb in callbacks if hasattr(cb, "checkpoint_name")}
    cond, sampler = is_conditional(gan), sampler or gan.generator
    ckpt = run_dir / "checkpoint.npz"
    if config.get("RESUME", False) and ckpt.is_file():
        start, iteration = checkpoint.restore(ckpt, gan, fingerprint, extra)  # refuses other settings first
        old = records.load_run(run_dir)
        run.history, run.epoch_log, run.quality, run.snapshots = old.history, old.epoch_log, old.quality, old.snapshots
        run.truncate(start, iteration)
        run.resumed_from = start
        print(f"Resumed from {ckpt}: epoch {start}, iteration {iteration}.")
    run.info = json.loads(config.write(run_dir).read_text())
    if run.resumed_from >= epochs:
        print(f"The run in {run_dir} already has {run.resumed_from} epochs (EPOCHS = {epochs}); nothing to train.")
        return run
    ds, steps = data.training_batches(x_train, y_train if cond else None, batch_size=batch_size, seed=seed,
                                      epochs=epochs, start_epoch=run.resumed_from)
    log = EpochLog(run, epochs, fingerprint, extra, every=log_every)
    cbs = [History(run, steps, val_every, validation_check(gan, x_val, y_val, seed=seed)), *callbacks, log,
           Snapshots(run, snapshot_epochs, sampler, cond, latent_dim(gan), seed)]
    if score_epochs:
        cbs.append(QualityCheck(run, sampler, cond, score_epochs, n=score_samples))
    cbs.append(_Save(log))
    print(f"Training epochs {run.resumed_from + 1}-{epochs} of {steps} iterations (batch {batch_size}); "
          f"records in {run_dir}", flush=True)
    try:
        gan.fit(ds, epochs=epochs, initial_epoch=run.resumed_from, steps_per_epoch=steps, callbacks=cbs, verbose=0, shuffle=False)
    except TrainingDiverged:
        run.save()
        raise
    except KeyboardInterrupt:
        print(f"Interrupted. The last complete epoch is saved in {ckpt}; run again with RESUME = True to continue.")
        raise
    sampler.save(run_dir / "generator.keras")
    return run
