"""Scoring a samples file from the command line (taught in 03_conditional_dcgan; README step 05).

    python -m gan_utils.evaluate samples.npz > scores.json

Reads ``images`` (uint8 (N, 28, 28)) and optional ``labels`` from an .npz such as ``gan_utils.sample``
writes and prints ONE JSON object (``model``, ``classifier``, ``reference`` scores) to stdout; log lines
go to stderr. Bad input exits with code 2 and one message on stderr.
"""
import argparse
import contextlib
import json
import sys

import numpy as np

from .data import read_npz


class SamplesError(ValueError):
    """A samples file that is missing or not in the expected layout."""


_LAYOUT = ("Expected an .npz with 'images' (uint8, shape (N, 28, 28), 0-255) and optionally 'labels' (integers "
           "0-9, shape (N,)), as written by python -m gan_utils.sample.")


def read_samples(path):
    """Read and check a samples .npz; returns ``(images uint8 (N, 28, 28), labels int64 or None)`` (03)."""
    arrays, found = read_npz(path, ("images", "labels"), SamplesError, _LAYOUT)
    if "images" not in arrays:
        raise SamplesError(f"{path} has arrays {found} but no 'images'. {_LAYOUT}")
    images, labels = arrays["images"], arrays.get("labels")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise SamplesError(f"{path}: 'images' has dtype {images.dtype} and shape {images.shape}; expected uint8 of "
                           "shape (N, 28, 28) with values 0-255 (convert generator output with data.to_uint8).")
    if len(images) < 10:
        raise SamplesError(f"{path}: only {len(images)} images; scoring needs at least 10 (use 2,000 or more, since "
                           "FID is biased upward for small samples).")
    if labels is not None:
        if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (len(images),):
            raise SamplesError(f"{path}: 'labels' has dtype {labels.dtype} and shape {labels.shape}; expected "
                               f"integers of shape ({len(images)},), one digit per image.")
        if labels.min() < 0 or labels.max() > 9:
            raise SamplesError(f"{path}: 'labels' range from {labels.min()} to {labels.max()}; digits are 0-9.")
        labels = labels.astype(np.int64)
    return images, labels


def evaluate_file(path):
    """Score a samples file; returns the dict that the command prints as JSON (03)."""
    images, labels = read_samples(path)
    from . import evaluation

    model = evaluation.score(images, labels)
    stats = evaluation.classifier_stats()
    return {"n": int(len(images)), "model": model,
            "classifier": {"key": stats["key"], "test_accuracy": stats["test_accuracy"]},
            "reference": evaluation.reference_points()}


def _plain(x):
    """NaN -> null, numpy scalars -> Python numbers, so the output is strict JSON."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if not np.isfinite(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def main(argv=None):
    """Entry point of ``python -m gan_utils.evaluate`` (03)."""
    parser = argparse.ArgumentParser(
        prog="python -m gan_utils.evaluate",
        description="Score generated digits in an .npz (images uint8 (N, 28, 28), optional labels) and print one "
                    "JSON object with the metrics and the real-data / noise reference points.")
    parser.add_argument("samples", help="an .npz written by python -m gan_utils.sample")
    args = parser.parse_args(argv)
    from .data import MnistDataError

    try:
        with contextlib.redirect_stdout(sys.stderr):  # any log line goes to stderr; stdout stays pure JSON
            result = evaluate_file(args.samples)
    except (SamplesError, MnistDataError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    json.dump(_plain(result), sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
