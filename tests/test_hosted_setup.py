"""The first code cell of every notebook makes gan_utils importable in a hosted runtime (Colab, JupyterHub) and
does nothing in a local checkout; run here in an interpreter without site-packages, where gan_utils is missing."""
import shutil
import subprocess
import sys

import nbformat
import pytest

from gan_utils import paths, run


def _setup_cells():
    cells = {}
    for name in run.NOTEBOOKS:
        nb = nbformat.read(run.notebook_path(name), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "setup" in code[0].metadata.get("tags", []) and "parameters" in code[1].metadata.get("tags", [])
        cells[name] = code[0].source
    return cells


def test_every_notebook_opens_with_the_same_setup_cell():
    cells = _setup_cells()
    assert len(set(cells.values())) == 1, "the four setup cells differ"


def _exec_without_site_packages(cwd, env=None, prelude=""):
    """Run the setup cell with ``python -S`` (no site-packages: gan_utils is not installed) in ``cwd``."""
    cell = next(iter(_setup_cells().values()))
    script = prelude + "\n" + cell + "\nimport os, gan_utils\nprint(gan_utils.__file__)\nprint(os.environ.get('PYTHONPATH'))\n"
    return subprocess.run([sys.executable, "-S", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})


def _course_copy(folder):
    shutil.copytree(paths.PROJECT_ROOT / "gan_utils", folder / "gan_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.mark.parametrize("where", ["course", "course/notebooks", "."])
def test_a_course_folder_nearby_is_found(tmp_path, where):
    course = _course_copy(tmp_path / "course" if where != "." else tmp_path / "clones" / "course")
    (course / "notebooks").mkdir()
    cwd = tmp_path / where
    r = _exec_without_site_packages(cwd)
    assert r.returncode == 0, r.stderr
    module, pythonpath = r.stdout.split()
    assert module == str(course / "gan_utils" / "__init__.py")
    # the kernels a notebook starts (04 runs 02 and 03) inherit the folder, unless Python finds it in the cwd
    assert pythonpath == (str(course) if where != "course" else "None")


def test_no_course_stops_with_one_sentence_saying_what_to_do(tmp_path):
    r = _exec_without_site_packages(tmp_path)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: This notebook needs the course's gan_utils package: clone or upload")
    assert "GAN_COURSE_SOURCE" in last and last.count(". ") == 0


def test_a_named_source_is_installed_with_pip(tmp_path):
    # pip itself is replaced: it "installs" by copying the package where the interpreter finds it
    site = tmp_path / "site"
    prelude = f"""
import shutil, subprocess, sys
sys.path.insert(0, {str(site)!r})
def fake_run(cmd, check):
    assert cmd[1:5] == ["-m", "pip", "install", "-q"] and cmd[5] == "git+https://example.org/course.git", cmd
    shutil.copytree({str(paths.PROJECT_ROOT / "gan_utils")!r}, {str(site / "gan_utils")!r})
subprocess.run = fake_run
"""
    site.mkdir()
    r = _exec_without_site_packages(tmp_path, {"GAN_COURSE_SOURCE": "git+https://example.org/course.git"}, prelude)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == str(site / "gan_utils" / "__init__.py")


def test_a_hosted_runtime_installs_the_course_folder_it_finds(tmp_path):
    course = _course_copy(tmp_path / "course")
    prelude = f"""
import subprocess
calls = []
subprocess.run = lambda cmd, check: calls.append(cmd)
import atexit
atexit.register(lambda: print("pip:", *calls[0][1:]))
"""
    r = _exec_without_site_packages(tmp_path, {"JUPYTERHUB_USER": "student"}, prelude)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Installing the course's package") and lines[1] == str(course / "gan_utils" / "__init__.py")
    assert lines[-1] == f"pip: -m pip install -q {course}"
