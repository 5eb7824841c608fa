"""Executing a notebook headless through papermill in this environment's kernel: the one place that does it (the
runner, 04, the tests and the benchmark)."""

import contextlib
import logging

from . import cells, kernel


@contextlib.contextmanager
def _papermill_log_to(handler):
    """Give papermill's log (its messages and, with ``log_output``, the kernel's output) to ``handler`` alone."""
    if handler is None:
        yield
        return
    logger = logging.getLogger("papermill")
    saved = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def execute(notebook, output, parameters=None, cwd=None, log_handler=None, log_output=False, save_each_cell=False):
    """Execute ``notebook`` (a path, or a name such as "02_dense_gan" in the project's notebooks) into ``output``
    with ``parameters`` injected as papermill does, in a kernel that runs this interpreter, in the working
    directory ``cwd`` (default: the notebook's folder). ``log_handler``: a ``logging.Handler`` that receives
    papermill's log while it runs, the kernel's output too if ``log_output``. ``save_each_cell``: write
    ``output`` after every cell, so that a failure leaves every cell run so far in it. Returns the executed
    notebook; a failing cell raises ``papermill.PapermillExecutionError``."""
    import papermill

    source = cells.notebook_path(notebook)
    with _papermill_log_to(log_handler):
        return papermill.execute_notebook(
            str(source),
            str(output),
            parameters=dict(parameters or {}),
            kernel_name=kernel.name(),
            cwd=str(cwd or source.parent),
            log_output=log_output,
            progress_bar=False,
            request_save_on_cell_execute=save_each_cell,
        )
