"""The Jupyter kernel that executes notebooks headless (the runner, 04, the tests): one that starts this very
interpreter, so a kernelspec pointing at another Python (a user-level ``python3``) cannot break an import."""

import functools
import json
import os
import sys
import tempfile
from pathlib import Path

DEFAULT = "python3"
OWN = "gan-course-python"


def _runs_this_python(argv0):
    # jupyter_client starts "python", "python3" and "python3.X" with the interpreter that asks for the kernel.
    major, minor = sys.version_info[:2]
    return argv0 in ("python", f"python{major}", f"python{major}.{minor}") or os.path.abspath(argv0) == os.path.abspath(
        sys.executable
    )


@functools.cache
def name():
    """``python3`` when that kernel runs this interpreter; otherwise a kernelspec for ``sys.executable`` in a
    temporary folder put first on ``JUPYTER_PATH`` (inherited by the kernels and notebooks started later)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        if _runs_this_python(KernelSpecManager().get_kernel_spec(DEFAULT).argv[0]):
            return DEFAULT
    except NoSuchKernel:
        pass
    folder = Path(tempfile.mkdtemp(prefix="gan_kernel_"))
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python {sys.version.split()[0]} ({sys.executable})",
        "language": "python",
    }
    (folder / "kernels" / OWN).mkdir(parents=True)
    (folder / "kernels" / OWN / "kernel.json").write_text(json.dumps(spec, indent=1))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("JUPYTER_PATH")]))
    return OWN
