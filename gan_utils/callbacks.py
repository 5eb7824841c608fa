"""Training plumbing around ``model.fit`` (02, 03): per-iteration records, D's validation check, snapshots,
quality checks, checkpoints and exact resume, for any GAN ``keras.Model`` with ``generator``, ``discriminator``,
``d_optimizer``, ``g_optimizer`` and a ``train_step`` returning scalars (losses named ``*loss``).
"""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from . import checkpoint, data, records, scoring
from .sampling import check_generator, generate, one_hot

EXPLODING_LOSS = 1e3


class TrainingDiverged(RuntimeError):
    """A loss became NaN, infinite or exploded; training stopped."""


def prob_real(d_out):
    """D's probability of "real" from its logits: sigmoid of one logit, or softmax of [generated, real]."""
    return ops.softmax(d_out, axis=-1)[:, 1] if d_out.shape[-1] == 2 else ops.sigmoid(d_out[:, 0])


def _inputs(x, labels):
    return x if labels is None else [x, labels]


def _steps_done(model, begin, batch, steps):
    """Steps of the epoch done when the call that began at step ``begin`` ends (``batch``: what Keras passed to
    ``on_train_batch_end``). Keras 3.11+ passes the call's last step, Keras 3.10 its first, which differ when
    ``steps_per_execution`` > 1: there the call ran ``steps_per_execution`` steps, fewer at the epoch's end."""
    return batch + 1 if batch != begin else min(begin + model.steps_per_execution, steps)


class StepLog:
    """Keeps every step's returned numbers in the graph, so Keras may run several short steps per call of the
    compiled function and the history still gets one row per iteration (02). Wraps ``gan.train_step`` (the
    notebook's step is unchanged) until ``remove()``."""

    SIZE, WIDTH = 256, 16

    def __init__(self, gan):
        self.gan, self.keys = gan, []
        self.buffer = keras.Variable(np.zeros((self.SIZE, self.WIDTH), np.float32), trainable=False)
        self.count = keras.Variable(0, dtype="int32", trainable=False)
        step = gan.train_step

        def train_step(batch):
            logs = step(batch)
            self.keys[:] = list(logs)
            row = ops.pad(
                ops.stack([ops.cast(logs[k], "float32") for k in self.keys]), [[0, self.WIDTH - len(self.keys)]]
            )
            slot = ops.reshape(ops.mod(self.count, self.SIZE), (1, 1))
            self.buffer.assign(ops.scatter_update(self.buffer, slot, ops.reshape(row, (1, self.WIDTH))))
            self.count.assign_add(1)
            return logs

        gan.train_step = train_step

    def rows(self, first, n):
        """The returned numbers of steps ``first`` .. ``first + n - 1`` of this fit, as dicts."""
        log = ops.convert_to_numpy(self.buffer)
        return [dict(zip(self.keys, map(float, log[(first + k) % self.SIZE]))) for k in range(n)]

    def remove(self):
        """Give the model its own ``train_step`` back."""
        del self.gan.train_step


class History(keras.callbacks.Callback):
    """One row per iteration of what ``train_step`` returned, D's validation check every ``val_every``
    iterations (at the end of the call that reaches it), and a stop at the first NaN, infinite or exploding loss."""

    def __init__(self, run, steps_per_epoch, val_every=0, check=None, step_log=None):
        super().__init__()
        self.run, self.steps, self.val_every, self.check, self.log = run, steps_per_epoch, val_every, check, step_log
        self.epoch, self.seen, self.begin = 0, 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.begin = batch

    def on_train_batch_end(self, batch, logs=None):
        end = self.epoch * self.steps + _steps_done(self.model, self.begin, batch, self.steps)
        last = self.run.history[-1]["iteration"] if self.run.history else self.epoch * self.steps
        values = self.log.rows(self.seen, end - last) if self.log else [{k: float(v) for k, v in logs.items()}]
        self.seen += end - last
        for it, numbers in zip(range(last + 1, end + 1), values):
            self.run.history.append(dict(iteration=it, epoch=self.epoch + 1, **numbers))
            bad = [f"{k} = {v}" for k, v in numbers.items() if k.endswith("loss") and not abs(v) <= EXPLODING_LOSS]
            if bad:
                self.model.stop_training = True
                raise TrainingDiverged(
                    f"Training diverged at iteration {it} (epoch {self.epoch + 1}): {', '.join(bad)}. Lower "
                    "LEARNING_RATE (the report's 0.0002 is stable) and start again with RESUME = False (resuming "
                    "repeats the same steps exactly)."
                )
        if self.check is not None and self.val_every and end // self.val_every > last // self.val_every:
            self.run.history[-1].update(self.check())


def steps_per_call(steps_per_epoch, val_every=0, most=16):
    """Steps per call of the compiled function: a divisor of the epoch, of ``val_every`` too if possible."""
    divisors = [d for d in range(1, most + 1) if steps_per_epoch % d == 0]
    both = [d for d in divisors if val_every and val_every % d == 0]
    return max(both) if both and max(both) >= 4 else max(divisors)


def validation_check(gan, real_images, real_labels=None, n=1000, seed=0):
    """A compiled check of D in inference mode (the report's Figure 2): mean D on ``n`` held-out real digits and
    on ``n`` digits the live generator draws from fixed noise, as a function returning a dict (02)."""
    latent, conditional = check_generator(gan.generator)
    noise = tf.constant(np.random.default_rng([seed, 7]).standard_normal((n, latent)).astype(np.float32))
    real = tf.constant(data.to_unit_range(real_images[:n]))
    labels = real_1h = None
    if conditional:  # generated digits are asked for in equal numbers; real ones keep their own label
        labels, real_1h = tf.constant(one_hot(np.arange(n) % 10)), tf.constant(one_hot(real_labels[:n]))

    @tf.function
    def check():
        fake = gan.generator(_inputs(noise, labels), training=False)
        d_real = prob_real(gan.discriminator(_inputs(real, real_1h), training=False))
        return ops.mean(d_real), ops.mean(prob_real(gan.discriminator(_inputs(fake, labels), training=False)))

    return lambda: dict(zip(("val_d_real", "val_d_fake"), (float(v) for v in check())))


class Snapshots(keras.callbacks.Callback):
    """A fixed 10x10 noise grid drawn at ``epochs`` (0: the untrained generator) into ``run.snapshots``; for a
    conditional GAN row r asks for digit r and column c uses the same noise in every row (02)."""

    def __init__(self, run, epochs, generator, seed=0):
        super().__init__()
        self.run, self.epochs, self.generator = run, set(epochs), generator
        latent, conditional = check_generator(generator)
        rng = np.random.default_rng([seed, 11])
        self.noise = (
            np.tile(rng.standard_normal((10, latent)), (10, 1)).astype(np.float32)
            if conditional
            else rng.standard_normal((100, latent)).astype(np.float32)
        )
        self.labels = one_hot(np.repeat(np.arange(10), 10)) if conditional else None

    def draw(self, epoch):
        out = self.generator.predict(_inputs(self.noise, self.labels), verbose=0, batch_size=500)
        self.run.snapshots[epoch] = data.to_uint8(out)

    def on_train_begin(self, logs=None):
        if 0 in self.epochs and 0 not in self.run.snapshots:
            self.draw(0)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs:
            self.draw(epoch + 1)


class QualityCheck(keras.callbacks.Callback):
    """Score ``n`` samples from fixed noise after each of ``epochs`` into ``run.quality``, with the training
    seconds so far (the checks' own time excluded) (03, 04)."""

    def __init__(self, run, generator, conditional, epochs, n=2000, seed=1234):
        super().__init__()
        self.run, self.generator, self.conditional, self.epochs, self.n, self.seed = (
            run,
            generator,
            conditional,
            set(epochs),
            n,
            seed,
        )

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 not in self.epochs:
            return
        t0 = time.perf_counter()
        labels = np.repeat(np.arange(10), self.n // 10) if self.conditional else None
        images = generate(self.generator, n=None if self.conditional else self.n, labels=labels, seed=self.seed)
        s = scoring.score(images, labels, pr_points=2000)
        rec = {
            "epoch": epoch + 1,
            "iteration": int(ops.convert_to_numpy(self.model.d_optimizer.iterations)),
            "seconds": round(self.run.train_seconds, 2),
            "n_samples": self.n,
            **{k: s.get(k) for k in scoring.QUALITY_KEYS},
            "eval_seconds": round(time.perf_counter() - t0, 2),
        }
        self.run.quality.append(rec)
        acc = "" if rec["accuracy"] is None else f", requested digit read {rec['accuracy']:.1%}"
        print(
            f"   quality after epoch {epoch + 1}: FID {rec['fid_ratio']:.1f}x the real-data floor (n={self.n}), "
            f"rarest digit {rec['min_share']:.1%}{acc} ({rec['eval_seconds']:.0f} s)",
            flush=True,
        )


class GeneratorEMA(keras.callbacks.Callback):
    """``self.generator``: an exponential moving average of the generator's weights, updated every step with the
    decay warming up as min(decay, (1 + t) / (10 + t)); D plays against the live generator (03)."""

    checkpoint_name = "ema_generator"

    def __init__(self, generator, decay=0.999):
        super().__init__()
        self.decay = float(decay)
        self.generator = checkpoint.clone_network(generator)
        pairs = list(zip(self.generator.variables, generator.variables))

        @tf.function
        def update(step):
            d = tf.minimum(self.decay, (1.0 + step) / (10.0 + step))
            for e, w in pairs:
                e.assign(d * e + (1.0 - d) * w)

        self._update = update

    def on_train_batch_end(self, batch, logs=None):
        self._update(tf.cast(self.model.g_optimizer.iterations, tf.float32))


class EpochLog(keras.callbacks.Callback):
    """Records each epoch's time and mean raw values; prints them with the ETA every ``every`` epochs (02)."""

    def __init__(self, run, epochs, every=1):
        super().__init__()
        self.run, self.epochs, self.every = run, epochs, every

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._t0
        rows = [r for r in self.run.history if r["epoch"] == epoch + 1]
        keys = [k for k in rows[0] if k not in ("iteration", "epoch") and not k.startswith("val_")] if rows else []
        row = {
            "epoch": epoch + 1,
            "seconds": round(seconds, 3),
            "train_seconds": round(self.run.train_seconds + seconds, 3),
            **{k: float(np.mean([r[k] for r in rows])) for k in keys},
        }
        self.run.epoch_log.append(row)
        if (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs or epoch == self.run.resumed_from:
            mean = np.mean([r["seconds"] for r in self.run.epoch_log[self.run.resumed_from :]])
            eta = mean * (self.epochs - epoch - 1)
            means = "  ".join(f"{k} {row[k]:.3f}" for k in keys)
            print(f"epoch {epoch + 1}/{self.epochs}  {seconds:.1f} s  ETA {eta:.0f} s  {means}", flush=True)


class Progress(keras.callbacks.Callback):
    """A bar with elapsed time and ETA inside each epoch (tqdm's notebook widget, one output however many steps),
    in interactive Jupyter sessions only; batch runs keep one line per epoch (the runner and the tests set
    ``GAN_NO_PROGRESS=1``)."""

    @staticmethod
    def wanted():
        """True inside a live Jupyter kernel, unless ``GAN_NO_PROGRESS`` is set."""
        try:
            shell = get_ipython().__class__.__name__  # noqa: F821 (defined inside IPython only)
        except NameError:
            return False
        return shell == "ZMQInteractiveShell" and not os.environ.get("GAN_NO_PROGRESS")

    def on_epoch_begin(self, epoch, logs=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.params["steps"], desc=f"epoch {epoch + 1}/{self.params['epochs']}", leave=False)

    def on_train_batch_begin(self, batch, logs=None):
        self.begin = batch

    def on_train_batch_end(self, batch, logs=None):  # Keras may report several steps at once
        self.bar.update(_steps_done(self.model, self.begin, batch, self.params["steps"]) - self.bar.n)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.close()


def fit(
    gan,
    config,
    x_train,
    y_train=None,
    *,
    x_val,
    y_val=None,
    callbacks=(),
    sampler=None,
    snapshot_epochs=(0,),
    val_every=50,
    score_epochs=(),
    score_samples=2000,
    log_every=1,
    steps_per_call_at_most=1,
):
    """Train ``gan`` on uint8 digits per ``config`` (a ``RunConfig``) with records and checkpoints in its RUN_DIR;
    returns the ``records.Run`` (02, 03).

    D is checked on ``x_val``/``y_val`` every ``val_every`` iterations; the noise grid is drawn at
    ``snapshot_epochs`` and ``score_samples`` samples of ``sampler`` (default ``gan.generator``) are scored at
    ``score_epochs``. A ``GeneratorEMA`` among ``callbacks`` is checkpointed too. RESUME continues from the last
    complete epoch with the same numbers as an uninterrupted run. ``steps_per_call_at_most`` > 1 lets Keras run
    several short steps per call (not with a ``GeneratorEMA``, which updates after every step).
    """
    epochs, batch_size = config["EPOCHS"], config["BATCH_SIZE"]
    run_dir = records.prepare_dir(config["RUN_DIR"], config.get("RESUME", False))
    run, fingerprint, ckpt = records.Run(run_dir), config.fingerprint(), run_dir / "checkpoint.npz"
    extra = {cb.checkpoint_name: cb.generator for cb in callbacks if hasattr(cb, "checkpoint_name")}
    sampler = sampler or gan.generator
    if config.get("RESUME", False) and ckpt.is_file():
        start, iteration = checkpoint.restore(ckpt, gan, fingerprint, extra)  # refuses other settings first
        run = records.load_run(run_dir).truncate(start, iteration)
        print(f"Resumed from {ckpt}: epoch {start}, iteration {iteration}.")
    run.info = json.loads(config.write(run_dir).read_text())
    if run.resumed_from >= epochs:
        print(f"The run in {run_dir} already has {run.resumed_from} epochs (EPOCHS = {epochs}); nothing to train.")
        return run
    conditional = check_generator(gan.generator)[1]
    ds, steps = data.training_batches(
        x_train,
        y_train if conditional else None,
        batch_size=batch_size,
        seed=config["SEED"],
        epochs=epochs,
        start_epoch=run.resumed_from,
    )

    def save(epoch, logs=None):  # the last callback of every epoch: records first, then the checkpoint
        run.save()
        checkpoint.save(ckpt, gan, epoch + 1, fingerprint, extra)

    per_call = 1 if extra else steps_per_call(steps, val_every, steps_per_call_at_most)
    step_log = StepLog(gan) if per_call > 1 else None
    gan.steps_per_execution, gan.train_function = per_call, None
    check = validation_check(gan, x_val, y_val, seed=config["SEED"])
    cbs = [
        History(run, steps, val_every, check, step_log),
        *callbacks,
        EpochLog(run, epochs, every=log_every),
        Snapshots(run, snapshot_epochs, sampler, config["SEED"]),
    ]
    if score_epochs:
        cbs.append(QualityCheck(run, sampler, conditional, score_epochs, n=score_samples))
    if Progress.wanted():
        cbs.insert(1, Progress())
    cbs.append(keras.callbacks.LambdaCallback(on_epoch_end=save))
    print(
        f"Training epochs {run.resumed_from + 1}-{epochs} of {steps} iterations (batch {batch_size}); "
        f"records in {run_dir}",
        flush=True,
    )
    try:
        gan.fit(
            ds,
            epochs=epochs,
            initial_epoch=run.resumed_from,
            steps_per_epoch=steps,
            callbacks=cbs,
            verbose=0,
            shuffle=False,
        )
    except TrainingDiverged:
        run.save()
        raise
    except KeyboardInterrupt:
        print(f"Interrupted. The last complete epoch is saved in {ckpt}; run again with RESUME = True to continue.")
        raise
    finally:
        if step_log is not None:
            step_log.remove()
    sampler.save(run_dir / "generator.keras")
    return run
