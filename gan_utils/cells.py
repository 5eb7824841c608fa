"""Reading a notebook's code cells: all of them, those with a tag, and the ``CHECKS`` of its ``checks`` cell (the
runner, 04, the tests and the benchmark)."""

import json
from pathlib import Path

from . import paths

NOTEBOOK_DIR = paths.PROJECT_ROOT / "notebooks"


def notebook_path(notebook):
    """The file of ``notebook``: a path, or a name such as "03_conditional_dcgan" in the project's notebooks."""
    path = Path(notebook)
    return path if path.suffix == ".ipynb" else NOTEBOOK_DIR / f"{notebook}.ipynb"


def code_cells(notebook, tag=None):
    """The sources of the notebook's code cells, in order; only those tagged ``tag`` if given."""
    cells = json.loads(notebook_path(notebook).read_text(encoding="utf-8"))["cells"]
    return [
        "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and (tag is None or tag in c.get("metadata", {}).get("tags", []))
    ]


def checks(notebook):
    """The ``CHECKS`` (parameter name -> ``params`` rule) that the notebook's cell tagged ``checks`` defines. The
    cell is the project's own code and only builds the dict; it is run here without the rest of the notebook."""
    found = code_cells(notebook, "checks")
    if len(found) != 1:
        raise ValueError(f"{notebook_path(notebook)} has {len(found)} cells tagged 'checks'; it needs exactly one.")
    namespace = {}
    exec(compile(found[0], f"<{Path(notebook).stem} checks cell>", "exec"), namespace)
    return namespace["CHECKS"]
