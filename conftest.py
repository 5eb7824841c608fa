"""The one test configuration of the project, for ``pytest tests`` and ``pytest notebooks`` alike.

Loaded before anything is collected, so it also covers the notebook runs under
nbval (whose kernels inherit this process's environment):

* every output of a test run (runs, figures, executed notebooks) goes under a
  temporary folder through ``GAN_OUTPUT_ROOT``, so no test ever overwrites the
  committed figures or runs; the folder is printed in pytest's header;
* the evaluation classifier's cache stays where it is (``runs/cache`` or
  ``$GAN_CACHE_DIR``), so the classifier is trained once, not per test run;
* Matplotlib draws off screen and TensorFlow's start-up chatter is silenced.

``gan_utils`` is imported from the editable install (``pip install -r
requirements.txt``); only when it is not installed is the project put on
``PYTHONPATH`` for the kernels, which then import the very same files.

Tiers (the ``slow`` marker, see pytest.ini): notebook runs (nbval's default
runs and the papermill smoke runs) are marked ``slow`` here.

CI scale: nbval executes every cell of every committed notebook with its
default parameters but one: ``TRAIN_IMAGES`` is set to
``--nbval-train-images`` (15,000 of the 60,000 digits by default) by a line
added to the end of the ``parameters`` cell, as papermill injects parameters.
Epochs, snapshot epochs, comparisons and sweeps keep their defaults, so every
code path a student runs is executed, in about a quarter of the training time.
``--nbval-train-images 60000`` runs the notebooks exactly as committed.
"""

import importlib.metadata
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

_root = os.environ.get("GAN_OUTPUT_ROOT")
if not _root or Path(_root).expanduser().resolve() == ROOT:  # the project itself is never a test's output root
    os.environ["GAN_OUTPUT_ROOT"] = tempfile.mkdtemp(prefix="gan_tests_")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("GAN_NO_PROGRESS", "1")  # no in-epoch progress bars in nbval and papermill runs
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    importlib.metadata.distribution("gan-utils")
    INSTALLED = True
except importlib.metadata.PackageNotFoundError:  # fallback: kernels find the project's gan_utils on PYTHONPATH
    INSTALLED = False
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)


def pytest_report_header(config):
    how = "editable install" if INSTALLED else "PYTHONPATH (not installed: pip install -e . --no-deps)"
    return [f"GAN_OUTPUT_ROOT (test outputs): {os.environ['GAN_OUTPUT_ROOT']}", f"gan_utils from: {how}"]


def pytest_addoption(parser):
    parser.addoption(
        "--nbval-train-images",
        type=int,
        default=15000,
        metavar="N",
        help="TRAIN_IMAGES for the notebooks nbval runs (default 15000; 60000 = as committed)",
    )


def pytest_collection_modifyitems(config, items):
    # Whole-notebook runs are the slow tier: nbval's cells of notebooks/*.ipynb and the papermill smoke runs.
    n = config.getoption("--nbval-train-images")
    for item in items:
        if item.path.suffix == ".ipynb" or item.name.startswith("test_smoke_run"):
            item.add_marker(pytest.mark.slow)
        cell = getattr(item, "cell", None)  # an nbval cell
        if (
            cell is not None
            and "parameters" in cell.get("metadata", {}).get("tags", [])
            and "TRAIN_IMAGES =" in cell.source
            and n != 60000
        ):
            cell.source += f"\nTRAIN_IMAGES = {n}  # CI scale, set by conftest.py (--nbval-train-images)\n"
