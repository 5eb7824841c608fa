"""The first code cell of every notebook installs gan_utils in a hosted runtime (Colab, JupyterHub) and does nothing
where it is installed; run here in an interpreter without site-packages, where gan_utils is missing, with pip
replaced by a stand-in that "installs" by copying the package where that interpreter looks."""

import shutil
import subprocess
import sys

import pytest

from gan_utils import cells, paths, run


def _setup_cells():
    """Each notebook's first code cell, tagged ``setup``; its parameters cell follows."""
    setup = {}
    for name in run.NOTEBOOKS:
        code = cells.code_cells(name)
        assert cells.code_cells(name, "setup") == code[:1] and cells.code_cells(name, "parameters") == code[1:2]
        setup[name] = code[0]
    return setup


def test_every_notebook_opens_with_the_same_setup_cell():
    cells = _setup_cells()
    assert len(set(cells.values())) == 1, "the four setup cells differ"
    assert "sys.path" not in next(iter(cells.values())), "install the package; never edit the import path"


def _run_cell(tmp_path, cwd, env=None):
    """The setup cell under ``python -S`` (gan_utils is not installed) in ``cwd``; pip is a stand-in that copies the
    package into ``tmp_path/site`` and records what it was asked. Prints the pip call and where gan_utils came from."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    prelude = f"""
import shutil, subprocess, sys
sys.path.append({str(site)!r})
def fake_pip(cmd, check):
    print("pip:", *cmd[1:])
    shutil.copytree({str(paths.PROJECT_ROOT / "gan_utils")!r}, {str(site / "gan_utils")!r})
subprocess.run = fake_pip
"""
    cell = next(iter(_setup_cells().values()))
    script = prelude + cell + "\nimport gan_utils\nprint('from:', gan_utils.__file__)\n"
    return subprocess.run(
        [sys.executable, "-S", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def _course_copy(folder):
    shutil.copytree(
        paths.PROJECT_ROOT / "gan_utils", folder / "gan_utils", ignore=shutil.ignore_patterns("__pycache__")
    )
    (folder / "notebooks").mkdir()
    return folder


@pytest.mark.parametrize("where", ["course/notebooks", "."])
def test_a_hosted_runtime_installs_the_course_folder_it_finds(tmp_path, where):
    course = _course_copy(tmp_path / "work" / "course")
    r = _run_cell(tmp_path, tmp_path / "work" / where, {"JUPYTERHUB_USER": "student"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"Installing the course's package and what it needs from {course} ..."
    assert lines[1] == f"pip: -m pip install -q {course}"
    assert lines[2] == f"from: {tmp_path / 'site' / 'gan_utils' / '__init__.py'}"


def test_a_named_source_is_installed_anywhere(tmp_path):
    r = _run_cell(tmp_path, tmp_path, {"GAN_COURSE_SOURCE": "git+https://example.org/course.git"})
    assert r.returncode == 0, r.stderr
    assert "pip: -m pip install -q git+https://example.org/course.git" in r.stdout.splitlines()


def _last_line(r):
    assert r.returncode != 0 and "pip:" not in r.stdout
    return r.stderr.strip().splitlines()[-1]


def test_a_local_checkout_without_the_package_says_the_install_command(tmp_path):
    course = _course_copy(tmp_path / "course")
    last = _last_line(_run_cell(tmp_path, course / "notebooks"))
    assert last == (
        f"ModuleNotFoundError: This notebook needs the course's gan_utils package: run `{sys.executable} "
        f"-m pip install -e {course}`, restart the kernel and run again."
    )


def test_no_course_stops_with_one_sentence_saying_what_to_do(tmp_path):
    (tmp_path / "empty").mkdir()
    last = _last_line(_run_cell(tmp_path, tmp_path / "empty"))
    assert last.startswith("ModuleNotFoundError: This notebook needs the course's gan_utils package: clone or upload")
    assert "GAN_COURSE_SOURCE" in last and last.count(". ") == 0


def test_nothing_happens_where_the_package_is_installed():
    cell = next(iter(_setup_cells().values()))
    r = subprocess.run([sys.executable, "-c", cell + "\nprint('ok')"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == "ok\n", r.stdout + r.stderr
