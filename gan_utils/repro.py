"""Seeding and recording what a run was made with (taught in 01_background)."""
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np


def set_seed(seed):
    """Seed Python, NumPy and Keras/TensorFlow in one call (01).

    The same seed then gives the same numbers on the same CPU.
    """
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def cpu_model():
    """The processor's name, as the operating system reports it (04, benchmarks)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_info():
    """Library versions and the machine, to store next to results (01)."""
    import keras
    import matplotlib
    import tensorflow as tf

    try:
        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # pragma: no cover - depends on the machine
        gpus = []
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "matplotlib": matplotlib.__version__,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
    }


def atomic_write_text(path, text):
    """Write a text file so that a crash never leaves it half-written (02)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_run_info(run_dir, params, seed, notebook, extra=None):
    """Record parameters, seed and library versions in ``run_dir/run_info.json`` (01)."""
    info = {
        "notebook": notebook,
        "seed": seed,
        "parameters": params,
        "environment": environment_info(),
        "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if extra:
        info.update(extra)
    path = Path(run_dir) / "run_info.json"
    atomic_write_text(path, json.dumps(info, indent=2, default=str))
    return path
