"""Describing the machine and the library versions a run used (records, runner, benchmark)."""

import os
import platform
import sys

import numpy as np


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
