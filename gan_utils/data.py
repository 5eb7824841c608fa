"""Loading MNIST and feeding it to a GAN (taught in 02_dense_gan).

``load_mnist`` reads the ``path`` argument, else ``$MNIST_PATH`` (offline classrooms, CI), else
``keras.datasets.mnist.load_data()``. Files are read with ``allow_pickle=False``: pickles are refused.
"""
import os
import zipfile
from pathlib import Path

import numpy as np

MNIST_PATH_VAR = "MNIST_PATH"
KEYS = ("x_train", "y_train", "x_test", "y_test")
_FIX = (
    "Download mnist.npz (for example with keras.datasets.mnist.load_data() on a machine with internet; "
    "Keras keeps it at ~/.keras/datasets/mnist.npz) and pass load_mnist(path=...) or set "
    f"{MNIST_PATH_VAR}=/path/to/mnist.npz."
)


class MnistDataError(ValueError):
    """The MNIST file is missing, unreadable or not the MNIST layout."""


def read_npz(path, keys, error, hint):
    """``({key: array} for the ``keys`` present, sorted names in the file)``, never unpickling (02, 03).

    A missing, unreadable or pickled file raises ``error`` with ``hint`` appended.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise error(f"{path}: file not found. {hint}")
    try:
        f = np.load(path, allow_pickle=False)
        if not hasattr(f, "files"):
            raise error(f"{path} holds a single array, not an .npz archive. {hint}")
        with f:
            return {k: f[k] for k in keys if k in f.files}, sorted(f.files)
    except error:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise error(f"{path} holds pickled Python objects, which are refused for safety (they could run "
                        f"code). {hint}") from None
        raise error(f"{path} is not a readable .npz file ({e}). {hint}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise error(f"{path} is not a readable .npz file, perhaps truncated ({e}). {hint}") from None


def _check(arrays, source):
    x_tr, y_tr, x_te, y_te = (arrays[k] for k in KEYS)
    for name, x in (("x_train", x_tr), ("x_test", x_te)):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
            raise MnistDataError(
                f"{source}: {name} has dtype {x.dtype} and shape {x.shape}; MNIST images must be uint8 of "
                f"shape (N, 28, 28). The file is not MNIST in Keras's layout. {_FIX}"
            )
    for name, y, x in (("y_train", y_tr, x_tr), ("y_test", y_te, x_te)):
        if not np.issubdtype(y.dtype, np.integer) or y.shape != (len(x),):
            raise MnistDataError(
                f"{source}: {name} has dtype {y.dtype} and shape {y.shape}; labels must be integers of shape "
                f"({len(x)},), one per image. {_FIX}"
            )
        if y.size and (y.min() < 0 or y.max() > 9):
            raise MnistDataError(
                f"{source}: {name} holds labels from {y.min()} to {y.max()}; MNIST labels are 0-9. {_FIX}"
            )
    return x_tr, y_tr.astype(np.uint8), x_te, y_te.astype(np.uint8)


def read_mnist_npz(path):
    """Read and check an ``mnist.npz`` file; never unpickles (02)."""
    arrays, found = read_npz(path, KEYS, MnistDataError, _FIX)
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise MnistDataError(f"{path}: missing arrays {missing} (found {found}); an MNIST file holds "
                             f"{list(KEYS)}. {_FIX}")
    return _check(arrays, str(path))


_LOADED = {}  # one read per source and process: notebooks and the evaluation metrics share the arrays


def load_mnist(path=None):
    """``(x_train, y_train, x_test, y_test)`` as shared, read-only uint8 arrays, read once per source (02).

    Order: ``path``, then ``$MNIST_PATH``, then ``keras.datasets.mnist.load_data()``.
    """
    path = path or os.environ.get(MNIST_PATH_VAR)
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            return read_mnist_npz(p)  # raises the "not found" error that says what to do
        stat = p.resolve().stat()
        key = (str(p.resolve()), stat.st_size, stat.st_mtime_ns)  # a replaced file is read again
        if key not in _LOADED:
            _LOADED[key] = _read_only(read_mnist_npz(p))
        return _LOADED[key]
    if "keras" not in _LOADED:
        _LOADED["keras"] = _read_only(_load_with_keras())
    return _LOADED["keras"]


def _read_only(arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays


def _load_with_keras():
    import keras

    try:
        (x_tr, y_tr), (x_te, y_te) = keras.datasets.mnist.load_data()
    except Exception as e:
        raise MnistDataError(f"Keras could not download MNIST ({type(e).__name__}: {e}). Offline? {_FIX}") from None
    return _check(dict(x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te), "keras.datasets.mnist")


def to_unit_range(images):
    """uint8 digits (N, 28, 28) -> float32 in [-1, 1] of shape (N, 28, 28, 1) (02)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    return x / 127.5 - 1.0


def to_uint8(images):
    """Generator output in [-1, 1] -> uint8 digits (N, 28, 28) (03)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 4:
        x = x[..., 0]
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def training_batches(images, labels=None, batch_size=128, seed=0, epochs=1, start_epoch=0, num_classes=10):
    """``(dataset, steps_per_epoch)``: shuffled batches in [-1, 1] (with one-hot labels) for epochs
    ``start_epoch..epochs-1``; each epoch's order depends only on ``(seed, epoch)``, so a resumed run
    sees the same batches. The last partial batch is dropped (02)."""
    import tensorflow as tf

    n = len(images)
    steps = n // batch_size
    if steps < 1:
        raise ValueError(f"batch_size={batch_size} is larger than the {n} training images.")
    x = tf.constant(np.asarray(images, dtype=np.uint8))
    y = None if labels is None else tf.constant(np.asarray(labels, dtype=np.int32))

    def epoch_batches(epoch):
        perm = tf.random.experimental.stateless_shuffle(
            tf.range(n), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(tf.reshape(perm[: steps * batch_size], (steps, batch_size)))

    def gather(idx):
        xb = tf.cast(tf.gather(x, idx), tf.float32)[..., None] / 127.5 - 1.0
        if y is None:
            return xb
        return xb, tf.one_hot(tf.gather(y, idx), num_classes)

    ds = tf.data.Dataset.range(start_epoch, epochs).flat_map(epoch_batches)
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    return ds, steps
