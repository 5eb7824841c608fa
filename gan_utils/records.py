"""A run's records on disk (02, 03, 04): ``run_info.json``, ``history.csv`` (one row per recorded iteration),
``epochs.csv``, ``quality.csv``, ``snapshots.npz`` (the fixed-noise grid), ``metrics.json``, ``progress.json``,
``findings.json``, ``diverged.json`` (a run that diverged), the ``checkpoint/`` folder and ``generator.keras``,
each written atomically.
"""

import csv
import io
import json
import time
from pathlib import Path

import numpy as np

from .atomic import atomic_write, atomic_write_text
from .machine import environment_info

try:
    import resource
except ImportError:  # not on Windows
    resource = None


class Run:
    """A run's records in memory: ``history``, ``epoch_log`` and ``quality`` (lists of dicts), ``snapshots``
    (epoch -> uint8 images), ``info`` (run_info.json) and its folder ``dir``."""

    def __init__(self, run_dir, info=None):
        self.dir, self.info = Path(run_dir), info or {}
        self.history, self.epoch_log, self.quality, self.snapshots = [], [], [], {}
        self.resumed_from = 0

    @property
    def train_seconds(self):
        """Seconds of training so far: D's validation checks included, the quality checks excluded."""
        return self.epoch_log[-1]["train_seconds"] if self.epoch_log else 0.0

    @property
    def parameters(self):
        """The run's parameters, as recorded in run_info.json."""
        return self.info.get("parameters", {})

    def save(self):
        """Write every record file of the run folder."""
        for name, rows in (("history", self.history), ("epochs", self.epoch_log), ("quality", self.quality)):
            write_csv(self.dir / f"{name}.csv", rows)
        if self.snapshots:
            arrays = {f"epoch_{e:04d}": v for e, v in sorted(self.snapshots.items())}
            atomic_write(self.dir / "snapshots.npz", lambda f: np.savez_compressed(f, **arrays))

    def truncate(self, epoch, iteration):
        """Keep only the records up to ``epoch`` (and ``iteration``), the state a checkpoint restores, and resume
        from there; returns the run."""
        self.history = [r for r in self.history if r["iteration"] <= iteration]
        self.epoch_log = [r for r in self.epoch_log if r["epoch"] <= epoch]
        self.quality = [r for r in self.quality if r["epoch"] <= epoch]
        self.snapshots = {e: v for e, v in self.snapshots.items() if e <= epoch}
        self.resumed_from = epoch
        return self


def write_csv(path, rows):
    """Write a list of dicts as CSV; the columns are the union of the rows' keys, in first-seen order."""
    out = io.StringIO()
    writer = csv.DictWriter(out, list(dict.fromkeys(k for r in rows for k in r)), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, out.getvalue())


def _number(text):
    if text == "":
        return None
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def read_csv(path):
    """Read a CSV written by ``write_csv``: numbers back as int or float, empty cells as None."""
    if not Path(path).is_file():
        return []
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(f)]


def load_run(run_dir):
    """Read a finished or interrupted run from ``run_dir`` (04); FileNotFoundError names what to run first."""
    run_dir = Path(run_dir)
    if not (run_dir / "history.csv").is_file():
        raise FileNotFoundError(f"{run_dir} holds no run (no history.csv). Run the notebook that trains it first.")
    info, metrics = run_dir / "run_info.json", run_dir / "metrics.json"
    run = Run(run_dir, json.loads(info.read_text()) if info.is_file() else {})
    run.history, run.epoch_log, run.quality = (read_csv(run_dir / f"{n}.csv") for n in ("history", "epochs", "quality"))
    if (run_dir / "snapshots.npz").is_file():
        with np.load(run_dir / "snapshots.npz", allow_pickle=False) as f:
            run.snapshots = {int(k.split("_")[1]): f[k] for k in f.files}
    run.metrics = json.loads(metrics.read_text()) if metrics.is_file() else {}
    return run


def prepare_dir(run_dir, resume):
    """Make ``run_dir`` ready: kept as it is to resume; otherwise an earlier run is moved, never deleted, to the
    first free ``<name>-previous-N`` (N = 1, 2, ...: the higher, the more recent)."""
    run_dir = Path(run_dir)
    if resume and not any((run_dir / f).is_file() for f in ("checkpoint/latest.json", "checkpoint.npz")):
        print(f"RESUME = True but {run_dir} holds no checkpoint yet: starting from epoch 0.")
    if not resume and run_dir.exists() and any(p.name != ".write_test" for p in run_dir.iterdir()):
        n = 1
        while run_dir.with_name(f"{run_dir.name}-previous-{n}").exists():
            n += 1
        previous = run_dir.rename(run_dir.with_name(f"{run_dir.name}-previous-{n}"))
        print(f"{run_dir} held an earlier run; it was kept as {previous} (set RESUME = True to continue a run).")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def save_metrics(run_dir, scores, run=None):
    """Write the final scores (and timing) of a run to ``run_dir/metrics.json`` (02, 03)."""
    out = {k: v for k, v in scores.items() if isinstance(v, (int, float, list, dict))}
    if run is not None and run.epoch_log:
        out.update(
            epochs=int(run.epoch_log[-1]["epoch"]),
            train_seconds=float(run.train_seconds),
            seconds_per_epoch=float(np.median([r["seconds"] for r in run.epoch_log])),
        )
    if resource is not None:  # this kernel's peak resident memory so far (Linux reports KiB)
        out["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    atomic_write_text(Path(run_dir) / "metrics.json", json.dumps(out, indent=1, default=float))
    return out


def write_run_info(run_dir, params, seed, notebook, extra=None):
    """Record parameters, seed and library versions in ``run_dir/run_info.json`` (every notebook)."""
    info = {
        "notebook": notebook,
        "seed": seed,
        "parameters": params,
        "environment": environment_info(),
        "written": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        **(extra or {}),
    }
    return atomic_write_text(Path(run_dir) / "run_info.json", json.dumps(info, indent=2, default=str))


def write_findings(run_dir, notebook, findings, **numbers):
    """Write a notebook's findings (sentences) and any key ``numbers`` to ``run_dir/findings.json``, where the
    runner and 04 read them (02, 03, 04)."""
    record = {"notebook": notebook, "findings": list(findings), "numbers": numbers}
    return write_json(Path(run_dir) / "findings.json", record)


def write_progress(run_dir, **progress):
    """Write ``run_dir/progress.json`` (epoch, epochs, seconds, ETA), which the runner shows while a notebook runs
    (02, 03)."""
    return write_json(Path(run_dir) / "progress.json", progress)


def write_json(path, record):
    """Write ``record`` as JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(record, indent=1, default=float))
