"""Shared test set-up.

Every output of a test run (runs, figures, executed notebooks) goes under a
temporary folder through ``GAN_OUTPUT_ROOT``, so the tests never touch the
committed figures. The evaluation classifier's cache stays in ``runs/cache``
(or ``$GAN_CACHE_DIR``) so it is trained once, not per test run.
"""
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GAN_OUTPUT_ROOT", tempfile.mkdtemp(prefix="gan_tests_"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Kernels started by nbval and papermill import gan_utils from the project.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)

import gan_utils  # noqa: E402  (after the environment is set)


def mnist_path():
    return os.environ.get("MNIST_PATH")


@pytest.fixture(scope="session")
def mnist():
    """The MNIST arrays, from $MNIST_PATH or Keras's cache; skipped when neither is there."""
    from gan_utils.data import MnistDataError, load_mnist

    try:
        return load_mnist()
    except MnistDataError as e:
        pytest.skip(f"MNIST not available: {e}")


def tiny_generator(conditional, seed=0):
    """A one-layer generator with the series' inputs and output, for tests that need a saved generator."""
    import keras

    z = keras.Input((100,), name="z")
    ins = [z, keras.Input((10,), name="label_one_hot")] if conditional else [z]
    h = keras.layers.Concatenate()(ins) if conditional else z
    h = keras.layers.Dense(784, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed))(h)
    return keras.Model(ins if conditional else z, keras.layers.Reshape((28, 28, 1))(h))
