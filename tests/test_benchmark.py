"""Smoke test of benchmarks/time_to_quality.py: a few seconds of dense-GAN training end to end (about 40 s, plus
the evaluation classifier's training where it is not cached yet: minutes on a slow CPU)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_benchmark_runs_and_writes_results(mnist, tmp_path):
    out = tmp_path / "results.json"
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "time_to_quality.py"),
        "--models",
        "dense",
        "--minutes",
        "0.05",
        "--train-images",
        "1280",
        "--precisions",
        "float32",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=dict(os.environ, MPLBACKEND="Agg"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Targets:" in proc.stdout and "Ablation" in proc.stdout
    results = json.loads(out.read_text())
    assert results["reference_steps_per_s"] > 0 and results["machine"]["cpu"]
    r = results["models"]["dense"]["float32"]
    assert r["bare_step_images_per_s"] > 0 and r["loop_images_per_s"] > 0 and r["train_images"] == 1280
    assert r["checks"] and r["marks"]["0.05 min"]["n"] == 10000
    assert r["wall_seconds"] >= r["train_seconds"] > 0
    assert {name for name, _, _ in r["targets"]} >= {"loop efficiency >= 0.9", "every digit >= 5% within 1 min"}
