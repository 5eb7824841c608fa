"""The training plumbing of 02 and 03 as Keras callbacks, each usable on its own in ``gan.fit(callbacks=[...])``:
per-iteration records, a stop at divergence, D's validation check, quality checks, the epoch log and a progress
bar. They record into one ``records.Run``; checkpoints for exact resume are in ``checkpoint.py``.

The callbacks ask of the model only what ``fit`` gives them: the numbers ``train_step`` returns (losses named
``*loss``), ``steps_per_execution``, and for the checks a generator and a discriminator.
"""

import os
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from . import data, records, scoring
from .sampling import check_generator, generate, one_hot

EXPLODING_LOSS = 1e3


class TrainingDiverged(RuntimeError):
    """A loss became NaN, infinite or exploded; training stopped."""


def prob_real(d_out):
    """D's probability of "real" from its logits: sigmoid of one logit, or softmax of [generated, real]."""
    return ops.softmax(d_out, axis=-1)[:, 1] if d_out.shape[-1] == 2 else ops.sigmoid(d_out[:, 0])


def steps_per_call(steps_per_epoch, most=16):
    """The largest divisor of the epoch up to ``most``: ``steps_per_execution`` for a short step (02), so that
    every call of the compiled function runs the same number of steps."""
    return max(d for d in range(1, most + 1) if steps_per_epoch % d == 0)


class _IterationCounter(keras.callbacks.Callback):
    """Knows the iteration at the end of each call of the compiled step. Keras 3.11+ passes ``on_train_batch_end``
    the call's last step, Keras 3.10 its first; they differ when ``steps_per_execution`` > 1."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.begin = batch

    def iteration(self, batch):
        """Iterations done since training began (epochs before this fit included) when this call ends."""
        steps, per_call = self.params["steps"], self.model.steps_per_execution
        done = batch + 1 if batch != self.begin else min(self.begin + per_call, steps)
        return self.epoch * steps + done


def _row(run, iteration, epoch):
    """The history row of ``iteration``, appended if the last row is another iteration's."""
    if not run.history or run.history[-1]["iteration"] != iteration:
        run.history.append({"iteration": iteration, "epoch": epoch})
    return run.history[-1]


class IterationLog(_IterationCounter):
    """One row in ``run.history`` per call of the compiled step: its last iteration and what ``train_step``
    returned there (every iteration when ``steps_per_execution`` is 1). Keras's ``History`` keeps epoch means."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_train_batch_end(self, batch, logs=None):
        row = _row(self.run, self.iteration(batch), self.epoch + 1)
        row.update({k: float(v) for k, v in (logs or {}).items()})


class StopOnDivergence(_IterationCounter):
    """Stops at the first NaN, infinite or exploding (> ``EXPLODING_LOSS``) loss: saves the records, writes
    ``diverged.json`` in the run folder and raises ``TrainingDiverged`` with one sentence. Keras's
    ``TerminateOnNaN`` watches one loss for NaN only and stops without a word."""

    def __init__(self, run, limit=EXPLODING_LOSS):
        super().__init__()
        self.run, self.limit = run, limit

    def on_train_batch_end(self, batch, logs=None):
        bad = [f"{k} = {float(v)}" for k, v in (logs or {}).items() if k.endswith("loss") and not abs(v) <= self.limit]
        if not bad:
            return
        it = self.iteration(batch)
        self.model.stop_training = True
        message = (
            f"Training diverged at iteration {it} (epoch {self.epoch + 1}): {', '.join(bad)}. Lower LEARNING_RATE "
            "(the report's 0.0002 is stable) and start again with RESUME = False (resuming repeats the same steps "
            "exactly)."
        )
        self.run.save()
        records.write_json(
            self.run.dir / "diverged.json", {"iteration": it, "epoch": self.epoch + 1, "message": message}
        )
        raise TrainingDiverged(message)


class ValidationCheck(_IterationCounter):
    """The report's Figure 2: every ``every`` iterations (at the end of the call that reaches it), D's mean
    probability of "real" in inference mode on ``n`` held-out real digits and on ``n`` digits the live generator
    draws from fixed noise, as ``val_d_real`` and ``val_d_fake`` in that iteration's history row."""

    def __init__(self, run, x_val, y_val=None, every=50, n=1000, seed=0):
        super().__init__()
        self.run, self.x_val, self.y_val, self.every, self.n, self.seed = run, x_val, y_val, every, n, seed

    def on_train_begin(self, logs=None):
        gan, n = self.model, self.n
        latent, conditional = check_generator(gan.generator)
        noise = tf.constant(np.random.default_rng([self.seed, 7]).standard_normal((n, latent)).astype(np.float32))
        real = tf.constant(data.to_unit_range(self.x_val[:n]))
        if conditional:  # generated digits are asked for in equal numbers; real ones keep their own label
            labels, real_1h = tf.constant(one_hot(np.arange(n) % 10)), tf.constant(one_hot(self.y_val[:n]))
            real, fake_in = [real, real_1h], lambda: [gan.generator([noise, labels], training=False), labels]
        else:
            fake_in = lambda: gan.generator(noise, training=False)  # noqa: E731

        @tf.function
        def check():
            d_real = prob_real(gan.discriminator(real, training=False))
            return ops.mean(d_real), ops.mean(prob_real(gan.discriminator(fake_in(), training=False)))

        self.check = check

    def on_train_batch_end(self, batch, logs=None):
        it, before = self.iteration(batch), self.epoch * self.params["steps"] + self.begin  # before this call
        if it // self.every > before // self.every:
            d_real, d_fake = (float(v) for v in self.check())
            _row(self.run, it, self.epoch + 1).update(val_d_real=d_real, val_d_fake=d_fake)


class QualityCheck(keras.callbacks.Callback):
    """Scores ``n`` samples of ``generator`` from fixed noise after each of ``epochs`` into ``run.quality``, with
    the training seconds ``EpochLog`` recorded so far (put it after ``EpochLog``)."""

    def __init__(self, run, generator, epochs, n=2000, seed=1234):
        super().__init__()
        self.run, self.generator, self.epochs, self.n, self.seed = run, generator, set(epochs), n, seed
        self.conditional = check_generator(generator)[1]

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 not in self.epochs:
            return
        t0 = time.perf_counter()
        labels = np.repeat(np.arange(10), self.n // 10) if self.conditional else None
        images = generate(self.generator, n=None if self.conditional else self.n, labels=labels, seed=self.seed)
        s = scoring.score(images, labels, pr_points=2000)
        logged = [r for r in self.run.epoch_log if r["epoch"] == epoch + 1]
        rec = {
            "epoch": epoch + 1,
            "iteration": (epoch + 1) * self.params["steps"],
            "seconds": round(logged[-1]["train_seconds"], 2) if logged else None,
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


class EpochLog(keras.callbacks.Callback):
    """Each epoch's seconds and the means of the model's metric trackers (over every step, whatever the records
    keep) into ``run.epoch_log`` and ``progress.json``; a line with the ETA every ``every`` epochs (one line per
    epoch at most: batch logs stay readable). Keras's ``verbose=2`` prints such a line but records nothing."""

    def __init__(self, run, every=1):
        super().__init__()
        self.run, self.every = run, every

    def on_train_begin(self, logs=None):
        self.first = None

    def on_epoch_begin(self, epoch, logs=None):
        self.first = epoch if self.first is None else self.first
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds, epochs = time.perf_counter() - self.t0, self.params["epochs"]
        means = {m.name: float(m.result()) for m in self.model.metrics}  # the model's trackers: this epoch's means
        if not means:  # a model without trackers: the mean of the recorded rows
            rows = [r for r in self.run.history if r["epoch"] == epoch + 1]
            keys = [k for k in rows[0] if k not in ("iteration", "epoch") and not k.startswith("val_")] if rows else []
            means = {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
        keys = list(means)
        row = {
            "epoch": epoch + 1,
            "seconds": round(seconds, 3),
            "train_seconds": round(self.run.train_seconds + seconds, 3),
            **means,
        }
        self.run.epoch_log.append(row)
        mean = np.mean([r["seconds"] for r in self.run.epoch_log if r["epoch"] > self.first])
        eta = mean * (epochs - epoch - 1)
        records.write_progress(
            self.run.dir,
            notebook=self.run.info.get("notebook"),
            epoch=epoch + 1,
            epochs=epochs,
            epoch_seconds=seconds,
            eta_seconds=eta,
        )
        if (epoch + 1) % self.every == 0 or epoch + 1 == epochs or epoch == self.first:
            means = "  ".join(f"{k} {row[k]:.3f}" for k in keys)
            print(f"epoch {epoch + 1}/{epochs}  {seconds:.1f} s  ETA {eta:.0f} s  {means}", flush=True)


class ProgressBar(_IterationCounter):
    """A bar with elapsed time and ETA inside each epoch (tqdm's notebook widget: one output however many steps).
    Keras's own bar (``verbose=1``) writes a line per update into a batch log."""

    @staticmethod
    def wanted():
        """True inside a live Jupyter kernel, unless ``GAN_NO_PROGRESS`` is set (the runner and the tests)."""
        try:
            shell = get_ipython().__class__.__name__  # noqa: F821 (defined inside IPython only)
        except NameError:
            return False
        return shell == "ZMQInteractiveShell" and not os.environ.get("GAN_NO_PROGRESS")

    def on_epoch_begin(self, epoch, logs=None):
        from tqdm.auto import tqdm

        super().on_epoch_begin(epoch, logs)
        self.bar = tqdm(total=self.params["steps"], desc=f"epoch {epoch + 1}/{self.params['epochs']}", leave=False)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(self.iteration(batch) - self.epoch * self.params["steps"] - self.bar.n)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.close()


def progress_bar():
    """``[ProgressBar()]`` in a live Jupyter session, ``[]`` in batch runs: add it to the callbacks with ``*``."""
    return [ProgressBar()] if ProgressBar.wanted() else []
