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


def pytest_collection_modifyitems(config, items):
    # Whole-notebook runs are the slow tier: nbval's cells of notebooks/*.ipynb and the papermill smoke runs.
    for item in items:
        if item.path.suffix == ".ipynb" or item.name.startswith("test_smoke_run"):
            item.add_marker(pytest.mark.slow)
