"""Where a notebook's runs and figures go (01_background): ``runs/<notebook>/`` and ``figures/<notebook>/`` under
the project or under ``$GAN_OUTPUT_ROOT`` (the tests use it); never the current working directory."""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OUTPUT_ROOT_VAR = "GAN_OUTPUT_ROOT"
CACHE_DIR_VAR = "GAN_CACHE_DIR"


def output_root():
    """The folder holding ``runs/`` and ``figures/`` (01_background)."""
    root = os.environ.get(OUTPUT_ROOT_VAR)
    return Path(root).expanduser().resolve() if root else PROJECT_ROOT


def run_dir(notebook, run_dir=None):
    """The run folder: ``run_dir`` if given, else ``runs/<notebook>`` (02)."""
    if run_dir:
        return Path(run_dir).expanduser().resolve()
    return output_root() / "runs" / notebook


def fig_dir(notebook, fig_dir=None):
    """The figure folder: ``fig_dir`` if given, else ``figures/<notebook>`` (01)."""
    if fig_dir:
        return Path(fig_dir).expanduser().resolve()
    return output_root() / "figures" / notebook


def cache_dir():
    """Cache for the evaluation classifier: ``$GAN_CACHE_DIR`` or ``runs/cache`` (02)."""
    d = os.environ.get(CACHE_DIR_VAR)
    return Path(d).expanduser().resolve() if d else PROJECT_ROOT / "runs" / "cache"
