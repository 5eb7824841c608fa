"""Fixtures shared by the unit tests.

The environment (temporary ``GAN_OUTPUT_ROOT``, Agg backend, quiet TensorFlow)
is set by the project's root ``conftest.py``, for the notebook runs too.
``gan_utils`` comes from the editable install (``pip install -r requirements.txt``).
"""

import os

import pytest


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


def _tiny_generator(conditional, seed=0):
    """A one-layer generator with the series' inputs and output, for tests that need a saved generator."""
    import keras

    z = keras.Input((100,), name="z")
    ins = [z, keras.Input((10,), name="label_one_hot")] if conditional else [z]
    h = keras.layers.Concatenate()(ins) if conditional else z
    h = keras.layers.Dense(784, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed))(h)
    return keras.Model(ins if conditional else z, keras.layers.Reshape((28, 28, 1))(h))


@pytest.fixture(scope="session")
def tiny_generator():
    """``tiny_generator(conditional, seed=0)``: a one-layer generator (a fixture, since two conftest.py
    files share the module name ``conftest`` and cannot be imported from by name)."""
    return _tiny_generator
