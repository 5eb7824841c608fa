"""gan_utils.execution: a notebook executed through papermill in this interpreter's kernel, with parameters
injected, in the working directory asked for, its log given to a handler (tiny temporary notebooks)."""

import json
import logging
import sys

import nbformat
import papermill
import pytest

from gan_utils import execution


def _notebook(path, *sources, parameters="GREETING = 'hello'"):
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_notebook_runs_with_its_parameters_in_this_interpreter(tmp_path):
    source = _notebook(
        tmp_path / "in.ipynb",
        "import json, os, sys\nprint(json.dumps([GREETING, os.getcwd(), sys.executable]))",
    )
    (tmp_path / "cwd").mkdir()
    log = Collect()
    before = logging.getLogger("papermill").handlers[:]
    out = execution.execute(
        source, tmp_path / "out.ipynb", {"GREETING": "hi"}, cwd=tmp_path / "cwd", log_handler=log, log_output=True
    )
    printed = json.loads(out.cells[-1].outputs[0]["text"])
    assert printed == ["hi", str(tmp_path / "cwd"), sys.executable]
    injected = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[1]
    assert "injected-parameters" in injected.metadata.tags and "GREETING" in injected.source
    assert any('"hi"' in m for m in log.messages), log.messages  # the kernel's output, through the handler
    assert logging.getLogger("papermill").handlers == before  # the handler is removed afterwards


def test_a_failing_cell_raises_and_the_output_shows_the_cells_run(tmp_path):
    source = _notebook(tmp_path / "in.ipynb", "print('first')", "raise ValueError('bad value')", "print('never')")
    out = tmp_path / "out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as err:
        execution.execute(source, out, save_each_cell=True)
    assert err.value.ename == "ValueError" and err.value.evalue == "bad value"
    code = {c.source: c for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"}
    assert code["print('first')"].outputs[0]["text"] == "first\n" and not code["print('never')"].outputs
