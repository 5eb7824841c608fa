"""Checkpoints for exact resume (02, 03). Keras's own ``save_weights`` stores the GAN (both networks, both
optimizers, the BatchNorm statistics) and any extra network (the EMA generator); a small JSON file adds what
``save_weights`` leaves out: the noise generators' states, the epoch, the iteration and the run's fingerprint.

A GAN here is a ``keras.Model`` with ``generator``, ``discriminator``, ``d_optimizer`` and ``g_optimizer``.
Each complete epoch is written to ``RUN_DIR/checkpoint/epoch-NNNN/`` and then named in ``latest.json`` (written
atomically), so a crash never leaves a half-written checkpoint in use.
"""

import json
import shutil
import warnings
from pathlib import Path

import keras
import numpy as np
from keras import ops

from . import records
from .atomic import atomic_write_text

FOLDER, LATEST, FORMAT = "checkpoint", "latest.json", 2
OLD_FORMAT = "checkpoint.npz"  # the series' earlier checkpoint file, refused with a sentence


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used with this model."""


def seed_states(model):
    """The states of the noise generators inside ``model`` (its own SeedGenerator, the Dropout layers'), in a fixed
    order: ``save_weights`` leaves them out, and without them a resumed run would draw other noise."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


def _models(gan, networks):
    return {"gan": gan, **(networks or {})}


def _build_optimizers(gan):
    """Create the optimizers' slots before loading into them (they are made lazily at the first step)."""
    for opt, net in ((gan.d_optimizer, gan.discriminator), (gan.g_optimizer, gan.generator)):
        if not opt.built:
            opt.build(net.trainable_variables)
    gan.built = True  # a GAN model is never called itself; its networks are built, which is all save_weights needs


def fingerprint(config):
    """What a checkpoint must match to be resumed: the run's trained settings and the precision policy in use
    (``PRECISION = "auto"`` may choose another on another machine)."""
    return config.replace(POLICY=keras.mixed_precision.global_policy().name).fingerprint()


def has_checkpoint(run_dir):
    """True if ``run_dir`` holds a checkpoint of this format or of the earlier one."""
    run_dir = Path(run_dir)
    return (run_dir / FOLDER / LATEST).is_file() or (run_dir / OLD_FORMAT).is_file()


def save(run_dir, gan, epoch, iteration, fingerprint, networks=None):
    """Write the checkpoint of ``epoch`` (``networks``: {name: extra model}) and make it the latest (02)."""
    root = Path(run_dir) / FOLDER
    folder = root / f"epoch-{epoch:04d}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _build_optimizers(gan)
    models = _models(gan, networks)
    for name, model in models.items():
        model.save_weights(folder / f"{name}.weights.h5")
    state = {
        "format": FORMAT,
        "epoch": epoch,
        "iteration": iteration,
        "fingerprint": fingerprint,
        "folder": folder.name,
        "seed_states": {name: [ops.convert_to_numpy(v).tolist() for v in seed_states(m)] for name, m in models.items()},
    }
    atomic_write_text(root / LATEST, json.dumps(state, indent=1))
    for old in root.glob("epoch-*"):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)


def restore(run_dir, gan, fingerprint, networks=None):
    """Load the latest checkpoint of ``run_dir`` into ``gan`` (and ``networks``); returns (epoch, iteration).
    Refuses one made with other settings, another architecture or the earlier format, in one sentence (02)."""
    root = Path(run_dir) / FOLDER
    if not (root / LATEST).is_file():
        raise CheckpointError(
            f"{Path(run_dir) / OLD_FORMAT} is a checkpoint of an earlier version of this series, which this one "
            "cannot read: set RESUME = False to train again (the old run is kept) or choose another RUN_DIR."
        )
    try:
        state = json.loads((root / LATEST).read_text())
        folder = root / state["folder"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(
            f"{root / LATEST} is not a readable checkpoint ({type(e).__name__}: {e}). Set RESUME = False (the old "
            "run is kept) or choose another RUN_DIR."
        ) from None
    if state.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"{root} was made with other settings ({state.get('fingerprint')}) than this run ({fingerprint}). "
            "Resume with the settings of that run, or set RESUME = False (the old run is kept), or choose another "
            "RUN_DIR."
        )
    _build_optimizers(gan)
    models = _models(gan, networks)
    for name, model in models.items():
        saved = state["seed_states"].get(name)
        here = seed_states(model)
        try:
            if saved is None or len(saved) != len(here):
                raise ValueError(f"{name}: {len(here)} noise generators here, {len(saved or [])} in the checkpoint")
            with warnings.catch_warnings():  # Keras only warns when it skips a mismatched layer or optimizer
                warnings.simplefilter("error", UserWarning)
                model.load_weights(folder / f"{name}.weights.h5")
        except (ValueError, OSError, UserWarning) as e:
            raise CheckpointError(
                f"{root} comes from another architecture ({str(e).strip().splitlines()[0][:200]}). Set RESUME = "
                "False (the old run is kept) or choose another RUN_DIR."
            ) from None
        for v, value in zip(here, saved):
            v.assign(np.asarray(value, dtype=v.dtype))
    return int(state["epoch"]), int(state["iteration"])


def resume_or_start(config, gan, networks=None):
    """The run's records (a ``records.Run``) before ``fit``. With ``RESUME`` and a checkpoint in ``RUN_DIR``: the
    last complete epoch restored into ``gan`` and ``networks`` (weights, optimizers, noise) and the records cut to
    it, ``run.resumed_from`` = that epoch. Otherwise a fresh run; an earlier run in ``RUN_DIR`` is kept as
    ``<RUN_DIR>-previous-N``. Writes ``run_info.json`` (02, 03)."""
    run_dir = records.prepare_dir(config["RUN_DIR"], config.get("RESUME", False))
    run = records.Run(run_dir)
    if config.get("RESUME", False) and has_checkpoint(run_dir):
        epoch, iteration = restore(run_dir, gan, fingerprint(config), networks)  # refuses other settings first
        run = records.load_run(run_dir).truncate(epoch, iteration)
        print(f"Resumed from {run_dir / FOLDER}: epoch {epoch}, iteration {iteration}.")
    run.info = json.loads(config.write(run_dir).read_text())
    if run.resumed_from >= config["EPOCHS"]:
        done, epochs = run.resumed_from, config["EPOCHS"]
        print(f"The run in {run_dir} already has {done} epochs (EPOCHS = {epochs}); nothing to train.")
    return run


class Checkpoint(keras.callbacks.Callback):
    """After each epoch: the records (``run.save()``), then the checkpoint, so that the last complete epoch can
    always be resumed with the same numbers as an uninterrupted run. ``keras.callbacks.BackupAndRestore`` keeps no
    noise state, no EMA copy and no fingerprint, and deletes its backup when training ends. Put it last."""

    def __init__(self, run, config, networks=None):
        super().__init__()
        self.run, self.fingerprint, self.networks = run, fingerprint(config), networks

    def on_train_begin(self, logs=None):
        first, last, steps = self.run.resumed_from + 1, self.params["epochs"], self.params["steps"]
        if first > last:
            return
        print(
            f"Training epochs {first}-{last} of {steps} iterations; records and a checkpoint after each epoch in "
            f"{self.run.dir} (after an interruption, RESUME = True continues from the last complete epoch).",
            flush=True,
        )

    def on_epoch_end(self, epoch, logs=None):
        self.run.save()
        save(self.run.dir, self.model, epoch + 1, (epoch + 1) * self.params["steps"], self.fingerprint, self.networks)
