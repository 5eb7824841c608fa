"""A tiny GAN with the notebooks' conventions, and the notebooks' training call around it, for the tests of the
training plumbing (records, checkpoints, resume).

``TinyGAN`` is a ``keras.Model`` with ``generator``, ``discriminator``, ``d_optimizer``, ``g_optimizer`` and a
``train_step`` returning this step's raw numbers, small enough that a 2-epoch run of 10 iterations takes seconds:
an unconditional dense variant (one logit) and a conditional one (G takes [z, one_hot], D takes [image, one_hot],
two-node head). ``train`` is the training cell of notebooks 02 and 03, with the notebooks' own ``GANMonitor`` and
``GeneratorEMA`` classes read from them.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from gan_utils import callbacks, cells, checkpoint, data, params, records, seeding

LATENT = 8
STEPS = 10  # 640 images, batches of 64


def digits(n=640, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    x[:, 8:20, 12:16] = 255  # a bar, so there is something to learn
    return x, (np.arange(n) % 10).astype(np.uint8)


X, Y = digits()
X_VAL, Y_VAL = digits(100, seed=1)


def notebook_class(notebook, name, **names):
    """The class ``name`` as the notebook's cell defines it, with ``names`` as the notebook's globals."""
    source = next(c for c in cells.code_cells(notebook) if c.startswith(f"class {name}("))
    namespace = {"keras": keras, "tf": tf, "np": np, "data": data, **names}
    exec(compile(source, f"<{notebook}: class {name}>", "exec"), namespace)
    return namespace[name]


GeneratorEMA = notebook_class("03_conditional_dcgan", "GeneratorEMA", EMA_DECAY=0.9)
ConditionalMonitor = notebook_class("03_conditional_dcgan", "GANMonitor", SEED=0, LATENT_DIM=LATENT)
DenseMonitor = notebook_class("02_dense_gan", "GANMonitor", SEED=0, LATENT_DIM=LATENT)


class TinyGAN(keras.Model):
    """The smallest GAN with the notebooks' conventions; ``step_seen`` is the optimizer's iteration after this
    step, so a running mean in place of raw values shows at once."""

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

    def _g_in(self, z, labels):
        return [z, labels] if self.conditional else z

    def _d_in(self, x, labels):
        return [x, labels] if self.conditional else x

    def train_step(self, batch):
        real, labels = batch if self.conditional else (batch, None)
        n = ops.shape(real)[0]
        z = keras.random.normal((n, LATENT), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(self._g_in(z, labels), training=True)
            real_l = self._logit(self.discriminator(self._d_in(real, labels), training=True))
            fake_l = self._logit(self.discriminator(self._d_in(fake, labels), training=True))
            d_loss = ops.mean(ops.softplus(-real_l)) + ops.mean(ops.softplus(fake_l))
        w = self.discriminator.trainable_weights
        self.d_optimizer.apply(tape.gradient(d_loss, w), w)
        z = keras.random.normal((n, LATENT), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(self._g_in(z, labels), training=True)
            g_loss = ops.mean(ops.softplus(-self._logit(self.discriminator(self._d_in(fake, labels), training=True))))
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


def make_gan(cond=False, seed=0, lr=2e-3, nan_from=None, widths=(16,), steps_per_execution=1):
    seeding.set_seed(seed)
    gan = TinyGAN(build_generator(cond, widths), build_discriminator(cond), seed=seed, nan_from=nan_from)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(lr, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(lr, beta_1=0.5),
        steps_per_execution=steps_per_execution,
    )
    return gan


def config(run_dir, epochs=2, resume=False, **more):
    values = {**dict(EPOCHS=epochs, BATCH_SIZE=64, SEED=0, LEARNING_RATE=2e-3, RESUME=resume, RUN_DIR=run_dir), **more}
    return params.RunConfig("test", values, frozenset({"EPOCHS", "RESUME", "RUN_DIR", "SNAPSHOT_EPOCHS", "VAL_EVERY"}))


def train(gan, cfg, ema=None, extra=(), snapshot_epochs=(0, 2), val_every=4, score_epochs=()):
    """What the training cells of 02 and 03 do, on the tiny data; returns the run's records."""
    sampler = ema.average if ema else gan.generator
    networks = {"ema_generator": sampler} if ema else {}
    run = checkpoint.resume_or_start(cfg, gan, networks)
    dataset, steps = data.training_batches(
        X, Y if gan.conditional else None, batch_size=64, seed=0, epochs=cfg["EPOCHS"], start_epoch=run.resumed_from
    )
    monitor = (ConditionalMonitor if gan.conditional else DenseMonitor)(sampler, snapshot_epochs, run.snapshots)
    gan.fit(
        dataset,
        epochs=cfg["EPOCHS"],
        initial_epoch=run.resumed_from,
        steps_per_epoch=steps,
        shuffle=False,
        verbose=0,
        callbacks=[
            callbacks.IterationLog(run),
            callbacks.StopOnDivergence(run),
            callbacks.ValidationCheck(run, X_VAL, Y_VAL if gan.conditional else None, every=val_every),
            *([ema] if ema else []),
            callbacks.EpochLog(run),
            monitor,
            callbacks.QualityCheck(run, sampler, epochs=score_epochs, n=100),
            checkpoint.Checkpoint(run, cfg, networks),
            *extra,
        ],
    )
    sampler.save(cfg["RUN_DIR"] / "generator.keras")
    return run


def state(gan, ema=None):
    """Every number of the training state, as numpy: the networks, both optimizers, the noise generators."""
    models = [gan, gan.d_optimizer, gan.g_optimizer] + ([ema.average] if ema else [])
    return [ops.convert_to_numpy(v).copy() for m in models for v in m.variables]


def rows(run):
    return records.load_run(run.dir).history
