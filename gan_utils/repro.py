"""Seeding, recording what a run was made with, and writing files atomically (every notebook)."""

import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np


def set_seed(seed):
    """Seed Python, NumPy and Keras/TensorFlow in one call: the same seed gives the same numbers (01)."""
    import keras
    from keras.src.backend.common import global_state

    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy's global generator and TensorFlow too
    # Unseeded keras.random calls draw from Keras's global SeedGenerator. Keras 3.13+ drops it here so that it is
    # made again from the new seed; 3.10-3.12 keep it, and its next draws would not repeat: drop it on all.
    global_state.set_global_attribute("global_seed_generator", None)


def cpuinfo(field):
    """The value of the first ``field`` line of /proc/cpuinfo ("model name", "flags"), or None."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(field)), None)
    except OSError:
        return None


def cpu_model():
    """The processor's name, as the operating system reports it (04, benchmarks)."""
    return cpuinfo("model name") or platform.processor() or platform.machine()


def environment_info():
    """Library versions and the machine, to store next to results (01)."""
    import keras
    import matplotlib
    import tensorflow as tf

    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "matplotlib": matplotlib.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }


def atomic_write(path, write, mode="wb"):
    """Write ``path`` through ``write(file)`` under a temporary name, then rename: never half-written (02)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path, text):
    """Write a text file so that a crash never leaves it half-written (02)."""
    return atomic_write(path, lambda f: f.write(text), mode="w")


def write_run_info(run_dir, params, seed, notebook, extra=None):
    """Record parameters, seed and library versions in ``run_dir/run_info.json`` (01)."""
    info = {
        "notebook": notebook,
        "seed": seed,
        "parameters": params,
        "environment": environment_info(),
        "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        **(extra or {}),
    }
    return atomic_write_text(Path(run_dir) / "run_info.json", json.dumps(info, indent=2, default=str))


# Parameters that may change between an interrupted run and its resume: they do not change the training itself.
NOT_IN_FINGERPRINT = frozenset(
    {
        "EPOCHS",
        "RESUME",
        "RUN_DIR",
        "FIG_DIR",
        "SNAPSHOT_EPOCHS",
        "VAL_EVERY",
        "SCORE_EVERY",
        "EVAL_SAMPLES",
        "COMPARE_EPOCHS",
        "DENSE_RUN_DIR",
        "DCGAN_RUN_DIR",
        "FIG_FORMAT",
        "DETERMINISTIC",
    }
)


@dataclass(frozen=True)
class RunConfig:
    """One run's checked parameters, frozen: from the parameters cell to run_info.json and the checkpoint."""

    notebook: str
    parameters: MappingProxyType = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    def __getitem__(self, name):
        return self.parameters[name]

    def get(self, name, default=None):
        return self.parameters.get(name, default)

    def replace(self, **changes):
        """A new config with some parameters changed (a comparison run, its own RUN_DIR)."""
        return RunConfig(self.notebook, dict(self.parameters, **changes))

    def fingerprint(self):
        """The settings a checkpoint depends on, as sorted JSON (resuming with other settings is refused)."""
        kept = {k: v for k, v in self.parameters.items() if k not in NOT_IN_FINGERPRINT}
        return json.dumps(dict(kept, notebook=self.notebook), sort_keys=True, default=str)

    def write(self, run_dir, extra=None):
        """Write ``run_dir/run_info.json``: parameters, seed, library versions, machine."""
        return write_run_info(
            run_dir,
            dict(self.parameters),
            self.get("SEED", 0),
            self.notebook,
            dict(extra or {}, fingerprint=self.fingerprint()),
        )
