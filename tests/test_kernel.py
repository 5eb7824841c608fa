"""The kernel that runs notebooks headless (gan_utils.kernel, through gan_utils.execution) starts this interpreter,
whatever kernelspec a user has installed under the name python3."""

import json
import subprocess
import sys

from gan_utils import paths

SCRIPT = """
import sys
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from gan_utils import execution, kernel
name = kernel.name()
nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                       "language": "python"}})
nb.cells = [nbformat.v4.new_code_cell("import sys, gan_utils; print(sys.executable)")]
nbformat.write(nb, sys.argv[1] + "/in.ipynb")
out = execution.execute(sys.argv[1] + "/in.ipynb", sys.argv[1] + "/out.ipynb")
print(name, KernelSpecManager().get_kernel_spec(name).argv[0], out.cells[0].outputs[0]["text"].strip())
"""


def _spec(folder, argv0):
    (folder / "kernels" / "python3").mkdir(parents=True)
    spec = {
        "argv": [argv0, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
    }
    (folder / "kernels" / "python3" / "kernel.json").write_text(json.dumps(spec))


def _run(tmp_path, argv0):
    _spec(tmp_path / "jupyter", argv0)
    env = {
        "JUPYTER_PATH": str(tmp_path / "jupyter"),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(paths.PROJECT_ROOT),
    }
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.split()


def test_a_python3_kernelspec_of_another_python_is_not_used(tmp_path):
    name, argv0, executed_by = _run(tmp_path, "/nonexistent/other-python/bin/python3")
    assert name == "gan-course-python" and argv0 == executed_by == sys.executable


def test_the_usual_python3_kernelspec_is_kept(tmp_path):
    name, _, executed_by = _run(tmp_path, "python")  # jupyter_client starts "python" as the calling interpreter
    assert name == "python3" and executed_by == sys.executable
