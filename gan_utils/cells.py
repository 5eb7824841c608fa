"""Reading a notebook's code cells: all of them, those with a tag, its parameters' defaults and the ``CHECKS`` of its
``checks`` cell (the runner, 04, the tests and the benchmark)."""

import ast
import functools
import json
from pathlib import Path

from . import params, paths

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


@functools.cache
def _declared(path):
    import papermill

    return papermill.inspect_notebook(str(path))


def parse_value(text):
    """A parameter's value as written: a Python literal if it is one (5, 0.001, True, None, [0, 5]), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def declared(notebook):
    """The parameters the notebook's ``parameters`` cell declares, as papermill reads them (name -> details)."""
    return _declared(notebook_path(notebook).resolve())


def defaults(notebook):
    """The default values of the notebook's parameters, as written in its ``parameters`` cell."""
    return {k: parse_value(v["default"]) for k, v in declared(notebook).items()}


def planned(notebook, values):
    """The ``RunConfig`` a run of ``notebook`` with ``values`` (the others at their defaults) will have, folders
    left unresolved; a bad value raises ``params.ParameterError``."""
    rules = checks(notebook)
    checked, _ = params.validate({**defaults(notebook), **values}, rules)
    return params.RunConfig(Path(notebook).stem, checked, frozenset(k for k, r in rules.items() if not r.trained))
