"""Where a notebook's runs and figures go (01_background): ``runs/<notebook>/`` and ``figures/<notebook>/`` under
the project or under ``$GAN_OUTPUT_ROOT`` (the tests use it); never the current working directory."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_ROOT_VAR = "GAN_OUTPUT_ROOT"
CACHE_DIR_VAR = "GAN_CACHE_DIR"


def _given_or(given, default):
    return Path(given).expanduser().resolve() if given else default


def output_root():
    """The folder holding ``runs/`` and ``figures/`` (01_background)."""
    return _given_or(os.environ.get(OUTPUT_ROOT_VAR), PROJECT_ROOT)


def run_dir(notebook, run_dir=None):
    """The run folder: ``run_dir`` if given, else ``runs/<notebook>`` (02)."""
    return _given_or(run_dir, output_root() / "runs" / notebook)


def fig_dir(notebook, fig_dir=None):
    """The figure folder: ``fig_dir`` if given, else ``figures/<notebook>`` (01)."""
    return _given_or(fig_dir, output_root() / "figures" / notebook)


def cache_dir():
    """Cache for the evaluation classifier: ``$GAN_CACHE_DIR`` or ``runs/cache`` (02)."""
    return _given_or(os.environ.get(CACHE_DIR_VAR), PROJECT_ROOT / "runs" / "cache")
