"""Loading MNIST and feeding it to a GAN (taught in 02_dense_gan). ``load_mnist`` reads the ``path`` argument,
else ``$MNIST_PATH`` (offline classrooms, CI), else ``keras.datasets.mnist.load_data()``; files are read with
``allow_pickle=False``, so pickles are refused.
"""

import os
import zipfile
from pathlib import Path

import numpy as np

MNIST_PATH_VAR = "MNIST_PATH"
KEYS = ("x_train", "y_train", "x_test", "y_test")
_FIX = (
    "Download mnist.npz (for example with keras.datasets.mnist.load_data() on a machine with internet; Keras "
    "keeps it at ~/.keras/datasets/mnist.npz) and pass load_mnist(path=...) or set "
    f"{MNIST_PATH_VAR}=/path/to/mnist.npz."
)
_LOADED = {}  # one read per source and process: notebooks and the evaluation metrics share the arrays


class MnistDataError(ValueError):
    """The MNIST file is missing, unreadable or not the MNIST layout."""


def read_npz(path, keys, error, hint):
    """``({key: array} for the ``keys`` present, sorted names in the file)``, never unpickling (02, 03);
    a missing, unreadable or pickled file raises ``error`` with ``hint`` appended."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise error(f"{path}: file not found. {hint}")
    with open(path, "rb") as f:
        head = f.read(6)
    if not head:
        raise error(f"{path} is empty, not an .npz archive. {hint}")
    if head[:1] == b"\x80":  # a pickle's protocol byte: refused before NumPy sees it
        raise error(f"{path} is a pickled Python object, which is refused for safety (it could run code). {hint}")
    if not head.startswith((b"PK", b"\x93NUMPY")):  # neither a zip archive (.npz) nor a NumPy array (.npy)
        raise error(f"{path} is not an .npz archive (it does not start like a zip file). {hint}")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in keys if k in f.files}, sorted(f.files)
    except (AttributeError, TypeError):  # np.load gave a single array, which is no context manager
        raise error(f"{path} holds a single array, not an .npz archive. {hint}") from None
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise error(
                f"{path} holds pickled Python objects, which are refused for safety (they could run code). {hint}"
            ) from None
        raise error(f"{path} is not a readable .npz file ({e}). {hint}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise error(f"{path} is not a readable .npz file, perhaps truncated ({e}). {hint}") from None


def check_digits(images, labels, source, error, hint, names=("images", "labels")):
    """Check uint8 digits (N, 28, 28) and, unless None, their labels (integers 0-9, one per image); raises
    ``error`` naming ``source`` and ending with ``hint`` (02, 03)."""
    x, y = images, labels
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        raise error(
            f"{source}: {names[0]} has dtype {x.dtype} and shape {x.shape}; expected uint8 of shape "
            f"(N, 28, 28), values 0-255. {hint}"
        )
    if y is not None and (not np.issubdtype(y.dtype, np.integer) or y.shape != (len(x),)):
        raise error(
            f"{source}: {names[1]} has dtype {y.dtype} and shape {y.shape}; expected integers of shape "
            f"({len(x)},), one digit per image. {hint}"
        )
    if y is not None and (y.min() < 0 or y.max() > 9):
        raise error(f"{source}: {names[1]} holds labels from {y.min()} to {y.max()}; digits are 0-9. {hint}")
    return x, None if y is None else y.astype(np.uint8)


def _check(arrays, source):
    x_tr, y_tr = check_digits(arrays["x_train"], arrays["y_train"], source, MnistDataError, _FIX, KEYS[:2])
    x_te, y_te = check_digits(arrays["x_test"], arrays["y_test"], source, MnistDataError, _FIX, KEYS[2:])
    return x_tr, y_tr, x_te, y_te


def read_mnist_npz(path):
    """Read and check an ``mnist.npz`` file; never unpickles (02)."""
    arrays, found = read_npz(path, KEYS, MnistDataError, _FIX)
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise MnistDataError(
            f"{path}: missing arrays {missing} (found {found}); an MNIST file holds {list(KEYS)}. {_FIX}"
        )
    return _check(arrays, str(path))


def load_mnist(path=None):
    """``(x_train, y_train, x_test, y_test)`` as shared, read-only uint8 arrays, read once per source (02).

    Order: ``path``, then ``$MNIST_PATH``, then ``keras.datasets.mnist.load_data()``.
    """
    path = path or os.environ.get(MNIST_PATH_VAR)
    key = "keras"
    if path:
        p = Path(path).expanduser().resolve()
        if not p.is_file():
            return read_mnist_npz(p)  # raises the "not found" error that says what to do
        key = (str(p), p.stat().st_size, p.stat().st_mtime_ns)  # a replaced file is read again
    if key not in _LOADED:
        _LOADED[key] = read_mnist_npz(p) if path else _load_with_keras()
        for a in _LOADED[key]:
            a.setflags(write=False)
    return _LOADED[key]


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
    return (x[..., None] if x.ndim == 3 else x) / 127.5 - 1.0


def to_uint8(images):
    """Generator output in [-1, 1] -> uint8 digits (N, 28, 28) (03)."""
    x = np.asarray(images, dtype=np.float32)
    x = x[..., 0] if x.ndim == 4 else x
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def training_batches(images, labels=None, batch_size=128, seed=0, epochs=1, start_epoch=0, num_classes=10):
    """``(dataset, steps_per_epoch)``: shuffled batches in [-1, 1] (with one-hot labels) for epochs
    ``start_epoch..epochs-1``; each epoch's order depends only on ``(seed, epoch)``, so a resumed run sees the
    same batches. The last partial batch is dropped (02)."""
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
        return xb if y is None else (xb, tf.one_hot(tf.gather(y, idx), num_classes))

    ds = tf.data.Dataset.range(start_epoch, epochs).flat_map(epoch_batches)
    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE), steps
