"""Drawing digits from a generator of this series: checking it, loading a saved one, noise to uint8 images, and
writing them to an .npz (03, the sample CLI, the benchmark)."""

import zipfile
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .data import to_uint8

NUM_CLASSES = 10


def check_generator(model, name=None):
    """``(latent_dim, conditional)`` of a generator of this series: inputs z (and a one-hot label), output
    (N, 28, 28, 1); raises ValueError for any other model (03)."""
    ins = [tuple(t.shape) for t in getattr(model, "inputs", None) or []]
    outs = [tuple(t.shape) for t in getattr(model, "outputs", None) or []]
    if not (
        len(ins) in (1, 2)
        and all(len(s) == 2 and s[1] for s in ins)
        and (len(ins) == 1 or ins[1][1] == NUM_CLASSES)
        and outs == [(None, 28, 28, 1)]
    ):
        raise ValueError(
            f"{name or getattr(model, 'name', 'the model')} is not a generator of this series: it has "
            f"inputs {ins} and outputs {outs}; expected inputs [(None, latent_dim)] (unconditional) or "
            "[(None, latent_dim), (None, 10)] (conditional) and one output (None, 28, 28, 1)."
        )
    return ins[0][1], len(ins) == 2


def load_generator(path):
    """Load a saved ``generator.keras`` (no compiling) and check it is a generator of this series (03)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Generator file not found: {path}. Train the notebook that saves it "
            "(runs/<notebook>/generator.keras) or pass the right path."
        )
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a Keras model file (not a zip archive ending in .keras; truncated or "
            "another format?). Save the generator with model.save('generator.keras')."
        )
    import keras

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:
        raise ValueError(
            f"{path} could not be loaded as a Keras model ({type(e).__name__}: {str(e).strip()[:300]}). "
            "Is it truncated, or saved by another Keras version?"
        ) from None
    check_generator(model, f"{path}: {model.name}")
    return model


def one_hot(labels, num_classes=NUM_CLASSES):
    """Digits (N,) -> one-hot float32 (N, 10) (03)."""
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels, dtype=int)]


def generate(generator, n=None, labels=None, seed=0, batch_size=500):
    """uint8 digits (N, 28, 28) from noise ``np.random.default_rng(seed)``: the same seed, the same images (03).
    A conditional generator takes ``labels`` (digits 0-9), an unconditional one ``n`` and no labels."""
    latent_dim, conditional = check_generator(generator)
    if conditional:
        if labels is None:
            raise ValueError("This generator is conditional: pass labels=array of digits 0-9 (n is their count).")
        labels = np.asarray(labels)
        if labels.ndim != 1 or not labels.size or labels.dtype.kind not in "iu" or not np.isin(labels, range(10)).all():
            raise ValueError(
                f"labels must be a non-empty 1-D array of integer digits 0-9 (got dtype {labels.dtype}, "
                f"shape {labels.shape})."
            )
        if n is not None and n != len(labels):
            raise ValueError(f"n = {n} but {len(labels)} labels: for a conditional generator leave n out.")
        n = len(labels)
    elif labels is not None:
        raise ValueError("This generator is unconditional: it takes no labels; pass n=number of images only.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n = {n!r}: pass the number of images to generate, a whole number >= 1.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size = {batch_size!r}: pass a whole number >= 1.")
    import keras

    z = np.random.default_rng(seed).standard_normal((int(n), latent_dim)).astype(np.float32)
    y = one_hot(labels) if conditional else None
    batches = (
        z[i : i + batch_size] if y is None else [z[i : i + batch_size], y[i : i + batch_size]]
        for i in range(0, int(n), batch_size)
    )
    return np.concatenate([to_uint8(keras.ops.convert_to_numpy(generator(b, training=False))) for b in batches])


def save_samples(path, images, labels=None):
    """Write ``images`` (and ``labels``) to a compressed .npz atomically (03)."""
    arrays = {"images": np.asarray(images, dtype=np.uint8)}
    if labels is not None:
        arrays["labels"] = np.asarray(labels, dtype=np.int64)
    return atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
