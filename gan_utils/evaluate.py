"""Scoring a samples file (03_conditional_dcgan; README step 05): ``python -m gan_utils.evaluate samples.npz``
prints ONE JSON object (``model``, ``classifier``, ``reference`` scores) to stdout and log lines to stderr;
bad input exits with code 2 and one message on stderr.
"""

import argparse
import contextlib
import json
import sys

import numpy as np

from .data import MnistDataError, check_digits, read_npz


class SamplesError(ValueError):
    """A samples file that is missing or not in the expected layout."""


_LAYOUT = (
    "Expected an .npz with 'images' (uint8, shape (N, 28, 28), 0-255) and optionally 'labels' (integers "
    "0-9, shape (N,)), as written by python -m gan_utils.sample."
)


def read_samples(path):
    """Read and check a samples .npz; returns ``(images uint8 (N, 28, 28), labels int64 or None)`` (03)."""
    arrays, found = read_npz(path, ("images", "labels"), SamplesError, _LAYOUT)
    if "images" not in arrays:
        raise SamplesError(f"{path} has arrays {found} but no 'images'. {_LAYOUT}")
    images, labels = arrays["images"], arrays.get("labels")
    images = images[..., 0] if images.ndim == 4 and images.shape[-1] == 1 else images
    images, labels = check_digits(images, labels, path, SamplesError, _LAYOUT, ("'images'", "'labels'"))
    if len(images) < 10:
        raise SamplesError(
            f"{path}: only {len(images)} images; scoring needs at least 10 (use 2,000 or more, since "
            "FID is biased upward for small samples)."
        )
    return images, None if labels is None else labels.astype(np.int64)


def evaluate_file(path):
    """Score a samples file; returns the dict that the command prints as JSON (03)."""
    images, labels = read_samples(path)
    from . import scoring

    model = scoring.score(images, labels)
    stats = scoring.classifier_stats()
    return {
        "n": len(images),
        "model": model,
        "classifier": {k: stats[k] for k in ("key", "test_accuracy")},
        "reference": scoring.reference_points(),
    }


def main(argv=None):
    """Entry point of ``python -m gan_utils.evaluate`` (03)."""
    parser = argparse.ArgumentParser(
        prog="python -m gan_utils.evaluate",
        description="Score the digits in an .npz "
        "and print one JSON object: the metrics and the real-data / noise references.",
    )
    parser.add_argument("samples", help="an .npz written by python -m gan_utils.sample")
    args = parser.parse_args(argv)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # log lines go to stderr; stdout stays pure JSON
            result = evaluate_file(args.samples)
    except (SamplesError, MnistDataError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    # Strict JSON: numpy scalars become Python numbers, NaN and infinities become null.
    plain = json.loads(json.dumps(result, default=lambda x: x.item()), parse_constant=lambda name: None)
    print(json.dumps(plain, indent=1, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
