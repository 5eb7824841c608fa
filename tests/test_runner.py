"""The runner's command line (the papermill contract itself is in test_notebooks)."""
import subprocess
import sys

from gan_utils import paths, run


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "gan_utils.run", *args], cwd=paths.PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)


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

    msg = run._failure_message("02_dense_gan", Err())
    assert msg == "02_dense_gan failed in cell 4 (In [3]): ParameterError: EPOCHS = -1 is not allowed"
