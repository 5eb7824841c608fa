"""The runner's command line (the papermill contract itself is in test_notebooks)."""

import hashlib
import io
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from gan_utils import cells, execution, paths, records, run


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "gan_utils.run", *args],
        cwd=paths.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_prints_the_plan_without_running():
    r = _cli("--check", "--preset", "paper")
    assert r.returncode == 0, r.stderr
    assert "preset 'paper'" in r.stdout and "03_conditional_dcgan: EPOCHS=100" in r.stdout


def test_misspelled_parameter_fails_before_anything_runs():
    r = _cli("--only", "02", "-p", "EPOCS", "3")
    assert r.returncode == 2
    assert "EPOCS" in r.stderr and "valid names" in r.stderr and "EPOCHS" in r.stderr
    assert "Plan:" not in r.stdout


def test_unknown_preset_and_notebook():
    assert _cli("--preset", "huge", "--check").returncode == 2
    r = _cli("--only", "07", "--check")
    assert r.returncode == 2 and "matches no notebook" in r.stderr


def test_select_by_prefix():
    assert run.select(["03", "01"]) == ["01_background", "03_conditional_dcgan"]


def test_failure_names_the_notebook_and_cell():
    class Err(Exception):
        cell_index, exec_count, ename, evalue = 4, 3, "ParameterError", "EPOCHS = -1 is not allowed"

    log = run.KernelLog("progress", stream=io.StringIO())
    text = run._failure_report("02_dense_gan", Err(), log, Path("/x/02.ipynb"), Path("/x/02.log"))
    first = text.splitlines()[1]
    assert first == "FAILED: 02_dense_gan failed in cell 4 (In [3]): ParameterError: EPOCHS = -1 is not allowed"


# --- where a run's figures and runs go (a smoke or custom run never touches the committed gallery) ---


def _inside(path, folder):
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def test_classroom_writes_the_gallery_and_nothing_else_does(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.OUTPUT_ROOT_VAR, str(tmp_path))
    names = list(run.NOTEBOOKS)
    label, p = run.parameters("classroom", names)
    assert label == "classroom" and all(not p[n] for n in names)  # the notebooks' defaults: figures/<notebook>/
    gallery = paths.PROJECT_ROOT / "figures"
    for preset, overrides in (
        ("smoke", ()),
        ("classroom", [("EPOCHS", 3)]),
        ("paper", [("02:EPOCHS", 3)]),
        ("smoke", [("SEED", 1)]),
    ):
        label, p = run.parameters(preset, names, overrides, name="mine")
        assert label == ("smoke" if preset == "smoke" and not overrides else "custom")
        top = tmp_path / "runs" / label / ("mine" if label == "custom" else "")
        for n in names:
            fig, runs = run.where(n, p[n])
            assert fig == top / "figures" / n and not _inside(fig, gallery)
            assert not _inside(fig, tmp_path / "figures")
            if "RUN_DIR" in run.notebook_parameters(n):
                assert runs == top / n
        assert p["04_convergence_analysis"]["DENSE_RUN_DIR"] == str(top / "02_dense_gan")
        assert p["04_convergence_analysis"]["DCGAN_RUN_DIR"] == str(top / "03_conditional_dcgan")
    assert "RUN_DIR" not in run.parameters("smoke", ["01_background"])[1]["01_background"]  # only declared names


def test_paper_preset_has_its_own_folders(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.OUTPUT_ROOT_VAR, str(tmp_path))
    # restating a preset's own value, or only moving or resuming a run, is not a custom run
    label, p = run.parameters("paper", list(run.NOTEBOOKS), [("03:EPOCHS", 100), ("RESUME", True)])
    assert label == "paper"
    assert p["02_dense_gan"]["FIG_DIR"] == str(tmp_path / "figures" / "paper" / "02_dense_gan")
    assert p["03_conditional_dcgan"]["RUN_DIR"] == str(tmp_path / "runs" / "paper" / "03_conditional_dcgan")
    assert p["04_convergence_analysis"]["DCGAN_RUN_DIR"] == str(tmp_path / "runs" / "paper" / "03_conditional_dcgan")
    assert p["02_dense_gan"]["EPOCHS"] == 100 and p["02_dense_gan"]["SNAPSHOT_EPOCHS"][-1] == 100


def test_explicit_folders_win(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.OUTPUT_ROOT_VAR, str(tmp_path))
    label, p = run.parameters(
        "smoke",
        ["02_dense_gan", "04_convergence_analysis"],
        [("02:FIG_DIR", "/tmp/mine"), ("DENSE_RUN_DIR", "/tmp/dense")],
        figures=tmp_path / "f",
    )
    assert label == "smoke"
    assert p["02_dense_gan"]["FIG_DIR"] == "/tmp/mine"
    assert p["04_convergence_analysis"]["FIG_DIR"] == str(tmp_path / "f" / "04_convergence_analysis")
    assert p["04_convergence_analysis"]["DENSE_RUN_DIR"] == "/tmp/dense"
    label, p = run.parameters("classroom", ["02_dense_gan"], figures=tmp_path / "f")
    assert label == "classroom" and p["02_dense_gan"] == {"FIG_DIR": str(tmp_path / "f" / "02_dense_gan")}


def test_epochs_alone_is_a_valid_override(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.OUTPUT_ROOT_VAR, str(tmp_path))
    label, p = run.parameters("classroom", ["02_dense_gan"], [("EPOCHS", 3)])
    shown = {k: v for k, v in p["02_dense_gan"].items() if k not in run.locations("02_dense_gan")}
    assert label == "custom" and shown == {"EPOCHS": 3}
    r = _cli("--check", "--only", "02", "-p", "EPOCHS", "3")
    assert r.returncode == 0, r.stderr
    assert "02_dense_gan: EPOCHS=3" in r.stdout and "figures -> " in r.stdout and "custom" in r.stdout


def test_folder_parameters_come_from_the_notebooks_rules(tmp_path):
    assert set(run.locations("04_convergence_analysis")) == {"RUN_DIR", "FIG_DIR", "DENSE_RUN_DIR", "DCGAN_RUN_DIR"}
    assert set(run.locations("01_background")) == {"FIG_DIR"} and run.run_folders("01_background", {}) == []
    folders = run.run_folders(
        "04_convergence_analysis", {"RUN_DIR": str(tmp_path / "04"), "DENSE_RUN_DIR": str(tmp_path / "dense")}
    )
    assert (tmp_path / "04", "") in folders and (tmp_path / "dense", "dense") in folders
    assert (paths.run_dir("03_conditional_dcgan"), "03_conditional_dcgan") in folders  # the default of DCGAN_RUN_DIR


# --- progress mode: epochs from progress.json, findings from findings.json ---


def _progress(folder, epoch, epochs):
    records.write_progress(
        folder,
        notebook="02_dense_gan",
        epoch=epoch,
        epochs=epochs,
        epoch_seconds=2.0,
        eta_seconds=2.0 * (epochs - epoch),
    )


def test_a_line_per_new_epoch_of_each_run(tmp_path):
    own, upstream = tmp_path / "04_convergence_analysis", tmp_path / "02_dense_gan"
    (own / "dense_lr0.001").mkdir(parents=True)
    _progress(own / "dense_lr0.001", 5, 5)
    os.utime(own / "dense_lr0.001" / "progress.json", (1e9, 1e9))  # an earlier run's record
    out = io.StringIO()
    watch = run.ProgressWatch(
        "04_convergence_analysis",
        [(own, ""), (upstream, "02_dense_gan")],
        stream=out,
        clock=iter([100.0, 112.4, 130.0, 131.0, 140.0]).__next__,
    )
    watch.poll()
    (own / "dcgan_lr0.0002").mkdir()
    _progress(own / "dcgan_lr0.0002", 1, 3)
    watch.poll()
    watch.poll()  # nothing new
    _progress(own / "dcgan_lr0.0002", 2, 3)
    upstream.mkdir()
    _progress(upstream, 1, 40)
    _progress(own, 1, 2)  # a progress file in the notebook's own run folder has no run name
    watch.poll()
    assert out.getvalue().splitlines() == [
        "  04_convergence_analysis: dcgan_lr0.0002: epoch 1/3, 12 s elapsed, ETA 4 s",
        "  04_convergence_analysis: dcgan_lr0.0002: epoch 2/3, 30 s elapsed, ETA 2 s",
        "  04_convergence_analysis: epoch 1/2, 31 s elapsed, ETA 2 s",
        "  04_convergence_analysis: 02_dense_gan: epoch 1/40, 40 s elapsed, ETA 78 s",
    ]


def test_findings_are_read_from_findings_json(tmp_path):
    long = "The DCGAN has 1,044,930 parameters, 0.70x the dense GAN's 1,486,352: fewer, but not 'many fewer'; " * 2
    records.write_findings(tmp_path, "02_dense_gan", ["Training took 7 s.", long], fid_ratio=3.1)
    lines = run.findings_lines("02_dense_gan", tmp_path, since=time.time() - 60)
    assert lines[:2] == ["  02_dense_gan: Findings:", "  02_dense_gan: - Training took 7 s."]
    assert len(lines) > 3 and all(len(line) <= 120 for line in lines) and lines[3].startswith(" " * 18 + "DCGAN")
    assert run.findings_lines("02_dense_gan", tmp_path, since=time.time() + 60) == []  # an earlier run's
    assert run.findings_lines("01_background", tmp_path / "nothing") == []


def test_progress_mode_shows_epochs_and_findings_while_a_notebook_runs(monkeypatch, tmp_path, capsys):
    """main with the notebook's execution replaced by one that writes what 02 writes: progress, then findings."""
    monkeypatch.setenv(paths.OUTPUT_ROOT_VAR, str(tmp_path))
    monkeypatch.setattr(run, "POLL_SECONDS", 0.05)

    def notebook_writing_records(notebook, output, parameters, **options):
        run_dir = Path(parameters["RUN_DIR"])
        for epoch in (1, 2, 3):
            _progress(run_dir, epoch, 3)
            time.sleep(0.3)
        records.write_findings(run_dir, notebook, ["It learned the digits."])
        Path(output).write_text("{}")

    monkeypatch.setattr(execution, "execute", notebook_writing_records)
    assert run.main(["--preset", "smoke", "--only", "02"]) == 0
    out = capsys.readouterr().out
    for epoch in (1, 2, 3):
        assert out.count(f"  02_dense_gan: epoch {epoch}/3, ") == 1, out
    assert "  02_dense_gan: Findings:\n  02_dense_gan: - It learned the digits.\n[1/1] 02_dense_gan done" in out
    assert run.main(["--preset", "smoke", "--only", "02", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/3" not in out and "Findings" not in out and "Summary" in out


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_the_log_keeps_every_line_and_the_kernels_own_output(tmp_path):
    source = _notebook(
        tmp_path / "in.ipynb", "print('epoch 1/3 from the kernel')", "import sys\nprint('oops', file=sys.stderr)"
    )
    shown = io.StringIO()
    log = run.KernelLog("verbose", log_file=tmp_path / "nb.log", stream=shown)
    execution.execute(source, tmp_path / "out.ipynb", log_handler=log, log_output=True)
    log.close()
    full = (tmp_path / "nb.log").read_text()
    assert "Executing Cell 1" in full and "epoch 1/3 from the kernel" in full and "oops" in full
    assert shown.getvalue() == full  # verbose: every line printed as it comes
    assert list(log.lines) == ["epoch 1/3 from the kernel", "oops"]  # the kernel's output, for a failure report
    quiet = run.KernelLog("progress", stream=shown)
    quiet.emit(logging.LogRecord("papermill", logging.INFO, __file__, 1, "epoch 2/3", None, None))
    assert shown.getvalue() == full  # progress mode prints nothing of the log


def test_failure_report_shows_the_cell_and_traceback():
    class Err(Exception):
        cell_index, exec_count, ename, evalue = 4, 3, "ValueError", "bad"
        source = "x = compute()"
        traceback = ["\x1b[0;31mValueError\x1b[0m: bad"]

    log = run.KernelLog("progress", stream=io.StringIO())
    log.lines.append("epoch 1/3 ...")
    text = run._failure_report("02_dense_gan", Err(), log, Path("/x/02.ipynb"), Path("/x/02.log"))
    assert "FAILED: 02_dense_gan failed in cell 4 (In [3])" in text and "x = compute()" in text
    assert "ValueError: bad" in text and "\x1b" not in text and "epoch 1/3" in text


# --- end to end: the smoke preset of 01 (about 20 s), default log and --verbose ---


def _digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_smoke_run_keeps_the_gallery_and_the_log_short(tmp_path):
    gallery = paths.PROJECT_ROOT / "figures"
    before = _digest(gallery)
    env = dict(os.environ, **{paths.OUTPUT_ROOT_VAR: str(tmp_path)})
    r = subprocess.run(
        [sys.executable, "-m", "gan_utils.run", "--preset", "smoke", "--only", "01"],
        cwd=paths.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Executing Cell" not in r.stdout + r.stderr and len(r.stdout.splitlines()) < 60, r.stdout
    assert f"figures -> {tmp_path / 'runs' / 'smoke' / 'figures' / '01_background'}" in r.stdout
    written = {p.name for p in (tmp_path / "runs" / "smoke" / "figures" / "01_background").glob("*.png")}
    assert written and not (tmp_path / "figures").exists()
    assert _digest(gallery) == before
    assert "Executing Cell" in (tmp_path / "runs" / "executed" / "smoke" / "01_background.log").read_text()

    v = subprocess.run(
        [sys.executable, "-m", "gan_utils.run", "--preset", "smoke", "--only", "01", "--verbose"],
        cwd=paths.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert v.returncode == 0, v.stderr[-3000:]
    assert "Executing Cell" in v.stdout and len(v.stdout.splitlines()) > len(r.stdout.splitlines())
    assert _digest(gallery) == before


def test_nbval_runs_every_training_notebook_at_ci_scale():
    """conftest.py appends TRAIN_IMAGES to the parameters cell of exactly the notebooks that train (02, 03, 04),
    and leaves the notebooks as committed with --nbval-train-images 60000."""
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("root_conftest", paths.PROJECT_ROOT / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)

    def items(n):
        out = []
        for name in run.NOTEBOOKS:
            source = cells.code_cells(name, "parameters")[0]
            cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]})
            out.append(
                SimpleNamespace(path=run.notebook_path(name), name="Cell 0", cell=cell, add_marker=lambda m: None)
            )
        config = SimpleNamespace(getoption=lambda opt: n)
        conftest.pytest_collection_modifyitems(config, out)
        return {name: item.cell.source for name, item in zip(run.NOTEBOOKS, out)}

    scaled, committed = items(15000), items(60000)
    changed = [n for n in run.NOTEBOOKS if scaled[n] != committed[n]]
    assert changed == ["02_dense_gan", "03_conditional_dcgan", "04_convergence_analysis"]
    for n in changed:
        namespace = {}
        exec(scaled[n], namespace)
        assert namespace["TRAIN_IMAGES"] == 15000
        exec(committed[n], namespace)
        assert namespace["TRAIN_IMAGES"] == 60000


# --- values are checked before anything runs; custom runs never share a folder ---


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--only", "02", "-p", "EPOCHS", "0", "-p", "LEARNING_RATE", "fast"],
            "02_dense_gan: EPOCHS = 0 is not allowed: EPOCHS must be a whole number >= 1.",
        ),
        (["--only", "02", "-p", "LEARNING_RATE", "fast"], "LEARNING_RATE = 'fast' is not allowed"),
        (["--only", "03", "-p", "PRECISION", "float8"], "PRECISION = 'float8' is not allowed"),
        (["--only", "04", "-p", "SWEEP_LEARNING_RATES", "[0.0002, 2]"], "SWEEP_LEARNING_RATES = [0.0002, 2]"),
        (["-p", "FIG_FORMAT", "jpg"], "01_background: FIG_FORMAT = 'jpg' is not allowed"),
        (["--preset", "paper", "-p", "02:TRAIN_IMAGES", "10"], "TRAIN_IMAGES = 10 is not allowed"),
    ],
)
def test_check_refuses_bad_values_in_one_sentence(args, message):
    r = _cli("--check", *args)
    assert r.returncode == 2 and "Plan:" not in r.stdout, r.stdout
    assert r.stderr.startswith("error: ") and message in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_the_estimate_follows_the_overrides():
    default = run.estimate("classroom", "03_conditional_dcgan", {})
    assert default == run.EXPECTED_MINUTES["classroom"]["03_conditional_dcgan"]
    longer = run.estimate("classroom", "03_conditional_dcgan", {"EPOCHS": 100})
    fewer = run.estimate("classroom", "03_conditional_dcgan", {"TRAIN_IMAGES": 15000})
    assert longer > 12 * default and fewer < 0.4 * default
    paper = run.estimate("paper", "02_dense_gan", {"EPOCHS": 10, "COMPARE_EPOCHS": 10})
    assert paper < run.EXPECTED_MINUTES["paper"]["02_dense_gan"] / 5
    three_seeds = run.estimate("paper", "04_convergence_analysis", run.PRESETS["paper"]["04_convergence_analysis"])
    assert three_seeds > 2.5 * run.EXPECTED_MINUTES["paper"]["04_convergence_analysis"]  # measured with one seed
    r = _cli("--check", "--only", "03", "-p", "EPOCHS", "100")
    assert r.returncode == 0 and "min on a 2-core CPU (scaled by the overrides)" in r.stdout, r.stdout
    assert "Precision on this machine: auto -> " in r.stdout


def test_custom_runs_get_folders_of_their_own(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.OUTPUT_ROOT_VAR, str(tmp_path))
    first = run.parameters("classroom", ["02_dense_gan"], [("EPOCHS", 3)])[1]["02_dense_gan"]["RUN_DIR"]
    Path(first).mkdir(parents=True)  # the first run has started
    second = run.parameters("classroom", ["02_dense_gan"], [("EPOCHS", 3)])[1]["02_dense_gan"]["RUN_DIR"]
    assert first != second and Path(first).parent.parent == Path(second).parent.parent == tmp_path / "runs" / "custom"
    named = run.parameters("classroom", ["02_dense_gan"], [("EPOCHS", 3)], name="lr-test")[1]["02_dense_gan"]
    assert named["RUN_DIR"] == str(tmp_path / "runs" / "custom" / "lr-test" / "02_dense_gan")
    r = _cli("--check", "--name", "x")
    assert r.returncode == 2 and "drop --name" in r.stderr
