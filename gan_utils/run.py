"""Run the notebooks headless, in order, through papermill, with a preset (classroom, paper, smoke) and ``-p``
overrides (README). A parameter that a notebook lacks, or a value its rules refuse, stops the run before anything
executes; only the classroom preset writes the committed ``figures/<notebook>/`` (or a run given ``--figures figures``
in the repository root), the paper and smoke presets write under ``runs/<preset>/``, and each custom run (any
override) under its own ``runs/custom/<name>/``.
"""

import argparse
import collections
import contextlib
import functools
import json
import logging
import os
import re
import sys
import textwrap
import threading
import time
from pathlib import Path

from . import cells, execution, params, paths

try:
    import resource
except ImportError:  # not on Windows
    resource = None

NOTEBOOK_DIR = cells.NOTEBOOK_DIR
NOTEBOOKS = ("01_background", "02_dense_gan", "03_conditional_dcgan", "04_convergence_analysis")

# Parameter overrides per preset and notebook; the classroom preset is every notebook's defaults.
PRESETS = {
    "classroom": {},
    "paper": {
        "02_dense_gan": {
            "EPOCHS": 100,
            "LEARNING_RATE": 0.0002,  # the report's rate
            "SNAPSHOT_EPOCHS": [0, 1, 5, 10, 15, 20, 25, 50, 100],  # the report's epochs, and epoch 1
            "COMPARE_EPOCHS": 100,
            "SCORE_EVERY": 5,
            "VAL_EVERY": 25,
            "RESUME": True,
        },
        "03_conditional_dcgan": {
            "EPOCHS": 100,
            "LEARNING_RATE": 0.0002,  # the report's rate
            "WIDTH": 64,  # the series' width before the classroom default became 32
            "SNAPSHOT_EPOCHS": [0, 1, 5, 10, 15, 20, 25],  # the report's Figure 3, and epoch 1
            "SCORE_EVERY": 5,
            "VAL_EVERY": 25,
            "RESUME": True,
        },
        "04_convergence_analysis": {"SWEEP_EPOCHS": 25, "DCGAN_SWEEP_EPOCHS": 10, "SWEEP_SEEDS": 3},
    },
    "smoke": {
        "01_background": {"TOY_STEPS": 60, "D_ALONE_STEPS": 60},
        "02_dense_gan": {
            "EPOCHS": 1,
            "TRAIN_IMAGES": 2560,
            "SNAPSHOT_EPOCHS": [0, 1],
            "COMPARE_EPOCHS": 1,
            "SCORE_EVERY": 1,
            "EVAL_SAMPLES": 500,
            "VAL_EVERY": 5,
        },
        "03_conditional_dcgan": {
            "EPOCHS": 1,
            "TRAIN_IMAGES": 1280,
            "SNAPSHOT_EPOCHS": [0, 1],
            "SCORE_EVERY": 1,
            "EVAL_SAMPLES": 500,
            "VAL_EVERY": 5,
        },
        "04_convergence_analysis": {
            "SWEEP_EPOCHS": 1,
            "DCGAN_SWEEP_EPOCHS": 1,
            "TRAIN_IMAGES": 1280,
            "EVAL_SAMPLES": 500,
        },
    },
}

# Measured wall-clock minutes per notebook on a 2-core CPU (docs/results.md), for the plan's estimate; overrides
# scale the part that trains (see ``estimate``).
EXPECTED_MINUTES = {
    # classroom: measured on 2026-12-07 in float32 on a 2-core AVX2-only CPU, beside the test suite: the slow end
    # (the gallery's float32 run on a 2-core AVX-512 CPU took 592 s in all; docs/results.md)
    "classroom": {
        "01_background": 0.6,
        "02_dense_gan": 5.8,
        "03_conditional_dcgan": 11.6,
        "04_convergence_analysis": 9.4,
    },
    # paper: measured end to end on 2026-11-29 on a slow 2-core Intel Xeon in bfloat16 (03's epochs took 52-112 s as
    # its speed varied): the slow end; on 2026-12-07 a 2-core AVX-512 CPU took 2 h 33 min in all, 04 with 3 seeds
    "paper": {"01_background": 0.5, "02_dense_gan": 39, "03_conditional_dcgan": 137, "04_convergence_analysis": 35},
    "smoke": {"01_background": 0.5, "02_dense_gan": 0.5, "03_conditional_dcgan": 0.7, "04_convergence_analysis": 1},
}

# Where a preset changed after its time was measured: the values it was measured with. The paper preset's 04 ran
# with one seed per sweep setting; it now runs three.
MEASURED_WITH = {"paper": {"04_convergence_analysis": {"SWEEP_SEEDS": 1}}}

FIXED_MINUTES = 0.5  # a notebook's start, data and evaluation: what does not grow with epochs or digits
# A conditional DCGAN epoch at width 32 costs 10-13 dense ones in float32: 04 printed 10.0 on a 2-core AVX-512 CPU and
# 12.0 on an AVX2-only one, where the benchmark's epochs (58-77 s against about 6 s) give up to 13.
DCGAN_EPOCH_IN_DENSE_EPOCHS = 13


def dcgan_epoch(width):
    """A conditional DCGAN epoch in dense epochs: the convolutions' cost grows about as width ** 1.8 (docs/benchmark.md:
    width 64 took 3.4 times as long per epoch as width 32)."""
    return DCGAN_EPOCH_IN_DENSE_EPOCHS * (width / 32) ** 1.8


FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
# What `PRECISION = "auto"` picks on the CPU each preset's EXPECTED_MINUTES were measured on: float32 on a CPU without
# native bfloat16. Such CPUs were the slower ones, in either arithmetic: an earlier classroom preset took 2,657 s in
# float32 on a 2-core AVX2-only CPU against 1,214 s in bfloat16 on an AVX-512 one (about 2.2 times as long), and the
# current one 592 s in float32 and 645 s in bfloat16 on a 2-core AVX-512 CPU. So the estimate scales by the kind of
# CPU, not by the arithmetic asked for.
MEASURED_IN = {"classroom": "float32", "paper": "mixed_bfloat16", "smoke": "mixed_bfloat16"}
FLOAT32_CPU_FACTOR = 2.2

SUMMARY_METRICS = ("accuracy", "fid_ratio", "min_share", "entropy_bits", "seconds_per_epoch", "peak_memory_mb")
POLL_SECONDS = 2  # how often progress mode looks for a new epoch in the notebook's run folders


class ContractError(ValueError):
    """A preset or override names a parameter that a notebook does not have."""


notebook_path = cells.notebook_path  # the notebook file of a name such as "02_dense_gan"


def select(only):
    """Notebook names starting with one of ``only`` ("02" or a full name); all when empty."""
    for key in only:
        if not any(n.startswith(key) for n in NOTEBOOKS):
            raise ContractError(f"--only {key!r} matches no notebook; choose from {', '.join(NOTEBOOKS)}.")
    return [n for n in NOTEBOOKS if not only or n.startswith(tuple(only))]


def notebook_parameters(name):
    """The parameters a notebook declares in its ``parameters`` cell, via papermill (README)."""
    return cells.declared(notebook_path(name))


parse_value = cells.parse_value  # a ``-p`` value: a Python literal if it is one, else the string


def defaults(name):
    """The default values of a notebook's parameters, as written in its ``parameters`` cell."""
    return cells.defaults(notebook_path(name))


@functools.cache
def checks(name):
    """The rules of a notebook's parameters, from its ``checks`` cell."""
    return cells.checks(notebook_path(name))


def locations(name):
    """A notebook's folder parameters (name -> rule): where it writes, or which run it reads (``rule.of``); they
    never change its results."""
    return {k: rule for k, rule in checks(name).items() if rule.folder}


def checked(name, values):
    """All of a notebook's parameter values (defaults, then ``values``) after the notebook's own rules, and the
    notes on what the rules changed (an epoch list cut to EPOCHS); ContractError says which value is refused."""
    try:
        values, notes = params.validate({**defaults(name), **values}, checks(name))
    except params.ParameterError as e:
        raise ContractError(f"{name}: {e}") from None
    return values, [f"note: {note}" for note in notes]


def _work(name, p):
    """What a notebook's training time grows with: training digits times epochs (DCGAN epochs weighted)."""
    images = p.get("TRAIN_IMAGES", 60000)
    if name == "02_dense_gan":
        return images * (p["EPOCHS"] + 2 * p["COMPARE_EPOCHS"])
    if name == "03_conditional_dcgan":
        return images * p["EPOCHS"] * dcgan_epoch(p["WIDTH"])
    if name == "04_convergence_analysis":
        rates = len(p["SWEEP_LEARNING_RATES"]) * p["SWEEP_SEEDS"]
        return images * (
            rates * len(p["SWEEP_BETA_1"]) * p["SWEEP_EPOCHS"]
            + rates * p["DCGAN_SWEEP_EPOCHS"] * dcgan_epoch(checked("03_conditional_dcgan", {})[0]["WIDTH"])
        )
    return None


def estimate(preset, name, values):
    """Expected minutes of a notebook: the preset's measured time, its training part scaled by the work that
    ``values`` ask for against the preset's own values."""
    measured = EXPECTED_MINUTES[preset].get(name, 1)
    as_measured = {**PRESETS[preset].get(name, {}), **MEASURED_WITH.get(preset, {}).get(name, {})}
    base, new = (_work(name, checked(name, v)[0]) for v in (as_measured, values))
    if not base or new is None:
        return measured
    return FIXED_MINUTES + max(measured - FIXED_MINUTES, 0) * new / base


def plan(preset, names, overrides=()):
    """Parameters per notebook: a preset plus ``-p`` (name, value) overrides (``NN:PARAM`` for one notebook);
    ContractError names an unknown preset or parameter and the valid ones."""
    if preset not in PRESETS:
        raise ContractError(f"--preset {preset!r} is not a preset; choose from {', '.join(PRESETS)}.")
    result = {n: dict(PRESETS[preset].get(n, {})) for n in names}
    for n in names:
        unknown = sorted(set(result[n]) - set(notebook_parameters(n)))
        if unknown:
            raise ContractError(
                f"preset {preset!r} sets {unknown} for {n}, which has no such parameter; "
                f"valid names: {', '.join(notebook_parameters(n))}."
            )
    for key, value in overrides:
        target, _, name = key.rpartition(":")
        targets = [n for n in select([target]) if n in names] if target else names
        hits = [n for n in targets if name in notebook_parameters(n)]
        if not hits:
            valid = sorted({p for n in targets for p in notebook_parameters(n)})
            raise ContractError(
                f"-p {key}: no selected notebook has a parameter {name!r}; valid names: {', '.join(valid)}."
            )
        for n in hits:
            result[n][name] = value
    for n in names:
        checked(n, result[n])  # a refused value stops here, before anything runs
    return result


def custom_name():
    """A new custom run's name: the date and time it starts, never the name of an earlier run."""
    stamp, n = time.strftime("%Y%m%d-%H%M%S"), 1
    name = stamp
    while (paths.output_root() / "runs" / "custom" / name).exists():
        n += 1
        name = f"{stamp}-{n}"
    return name


def parameters(preset, names, overrides=(), figures=None, name=None):
    """(label, ``plan`` plus the folders that are not given explicitly). The label is the preset, or "custom" when
    overrides change a result-bearing value; classroom keeps the defaults, paper and smoke write under
    ``runs/<label>/``, a custom run under ``runs/custom/<name>/`` (``name``: default the date and time)."""
    planned = plan(preset, names, overrides)
    custom = any(
        k not in locations(n) and k != "RESUME" and (k, v) not in PRESETS[preset].get(n, {}).items()
        for n, p in planned.items()
        for k, v in p.items()
    )
    label = "custom" if custom else preset
    runs = None if label == "classroom" else paths.output_root() / "runs" / label
    if label == "custom":
        runs = runs / (name or custom_name())
    figs = paths.output_root() / "figures" / "paper" if label == "paper" else runs and runs / "figures"
    figs = Path(figures).expanduser().resolve() if figures else figs
    for n in names:
        for k, rule in locations(n).items():
            v = (figs and figs / n) if rule.folder == "figures" else (runs and runs / (rule.of or n))
            if v is not None and k in notebook_parameters(n):
                planned[n].setdefault(k, str(v))
    return label, planned


def where(name, parameters):
    """(figure folder, run folder) a notebook writes to with these parameters."""
    return paths.fig_dir(name, parameters.get("FIG_DIR")), paths.run_dir(name, parameters.get("RUN_DIR"))


def precision_on_this_machine(values):
    """(``PRECISION`` as asked, the policy it means on this machine, why)."""
    from . import precision

    asked = values.get("PRECISION", "auto")
    return (asked, *precision.choose(asked))


# papermill's function that logs what the kernel printed (``log_output``); its own messages come from others.
KERNEL_OUTPUT = "log_output_message"
TAIL_LINES = 80  # the kernel's last lines that a failure report shows


class KernelLog(logging.Handler):
    """Handler for papermill's log: writes every message to ``log_file``, keeps the last lines the kernel printed
    (for a failure report) and, in ``mode`` "verbose", prints every message."""

    def __init__(self, mode="progress", log_file=None, stream=None):
        super().__init__(logging.INFO)
        self.mode, self.log_file, self.stream = mode, log_file, stream or sys.stdout
        self.lines = collections.deque(maxlen=TAIL_LINES)

    def emit(self, record):
        msg = record.getMessage().rstrip("\n")
        if self.log_file:
            with open(self.log_file, "a", encoding="utf-8") as f:
                print(msg, file=f)
        if self.mode == "verbose":
            print(msg, file=self.stream, flush=True)
        if record.funcName == KERNEL_OUTPUT:
            self.lines.extend(msg.splitlines())


def run_folders(name, values):
    """(folder, label) of each run folder a notebook writes to or reads from with these parameters: its own
    ``RUN_DIR`` (label "") and, for 04, the runs of 02 and 03 (labelled with their folder's name)."""
    folders = []
    for k, rule in locations(name).items():
        if rule.folder == "run":
            folder = params.resolve_folder(rule, name, values.get(k))
            folders.append((folder, folder.name if rule.of else ""))
    return folders


class ProgressWatch:
    """Progress mode's lines while a notebook runs: one whenever a ``progress.json`` in one of its run folders, or
    in a sub-folder (04's sweep runs), reports a new epoch. ``poll()`` looks once; as a context manager it polls
    every ``POLL_SECONDS`` in a background thread, and once more at the end. Files older than the watch (an
    earlier run's) are not shown."""

    def __init__(self, name, folders, stream=None, clock=time.perf_counter, every=None):
        self.name, self.folders, self.stream, self.clock = name, folders, stream or sys.stdout, clock
        self.every = every or POLL_SECONDS
        self.t0, self.since = clock(), time.time_ns() - 10**9  # 1 s: file times may lag the clock slightly
        self.shown = {}  # progress file -> the epoch shown last
        self._stop, self._thread = threading.Event(), None

    def _files(self):
        """(progress file, the run it is of: "" for the notebook's own, else its folder under a run folder)."""
        done = set()
        for root, label in self.folders:
            try:
                found = sorted(set(Path(root).rglob("progress.json")) - done)
            except OSError:  # a folder moved away while it was searched
                continue
            done.update(found)
            yield from ((path, "/".join(filter(None, (label, *path.parent.relative_to(root).parts)))) for path in found)

    def poll(self):
        """Print a line for every progress file of this run that reports an epoch not shown yet."""
        for path, run in self._files():
            try:
                if path.stat().st_mtime_ns < self.since:  # an earlier run's
                    continue
                progress = json.loads(path.read_text(encoding="utf-8"))
                epoch, epochs = progress["epoch"], progress["epochs"]
            except (OSError, ValueError, KeyError, TypeError):  # being replaced, or not a progress record
                continue
            if self.shown.get(path) == epoch:
                continue
            self.shown[path] = epoch
            eta = progress.get("eta_seconds")
            print(
                f"  {self.name}: {run + ': ' if run else ''}epoch {epoch}/{epochs}, "
                f"{self.clock() - self.t0:.0f} s elapsed" + (f", ETA {eta:.0f} s" if eta is not None else ""),
                file=self.stream,
                flush=True,
            )

    def _loop(self):
        while not self._stop.wait(self.every):
            self.poll()

    def __enter__(self):
        self._thread = threading.Thread(target=self._loop, name=f"progress of {self.name}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.poll()  # the last epoch, written after the last look
        return False


def findings_lines(name, run_dir, since=0.0, width=120):
    """The lines progress mode prints after a notebook: the sentences of the ``findings.json`` it wrote into
    ``run_dir`` (at ``since`` or later, seconds since the epoch), wrapped; none if it wrote none."""
    path = Path(run_dir) / "findings.json"
    try:
        if path.stat().st_mtime < since:  # an earlier run's
            return []
        findings = json.loads(path.read_text(encoding="utf-8"))["findings"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    lines = [f"  {name}: Findings:"] if findings else []
    for sentence in findings:
        lines += textwrap.wrap(
            str(sentence), width, initial_indent=f"  {name}: - ", subsequent_indent=" " * (len(name) + 6)
        )
    return lines


def _failure_report(name, err, log, notebook, log_file, tail=TAIL_LINES):
    """What a failure prints: which cell failed and how, the kernel's last output, the cell and its traceback
    (papermill's PapermillExecutionError carries them; another error has only its type and message)."""
    index, count = getattr(err, "cell_index", None), getattr(err, "exec_count", None)
    where = "a cell" if index is None else f"cell {index}" + ("" if count is None else f" (In [{count}])")
    out = [
        f"\nFAILED: {name} failed in {where}: {getattr(err, 'ename', type(err).__name__)}: "
        f"{getattr(err, 'evalue', err)}"
    ]
    if log.mode != "verbose" and log.lines:
        out += [f"--- last {min(tail, len(log.lines))} lines of the kernel's output (all: {log_file}) ---"]
        out += list(log.lines)[-tail:]
    if getattr(err, "source", None):
        out += [f"--- the failing cell (index {index}) ---", err.source]
    if getattr(err, "traceback", None):
        out += ["--- traceback ---", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", "\n".join(err.traceback))]
    return "\n".join(out + [f"The executed notebook, with the error in place: {notebook}"])


@contextlib.contextmanager
def _stderr_to(path):
    """Send this process's stderr, which a kernel inherits (TensorFlow's start-up lines), to ``path``."""
    saved = os.dup(2)
    with open(path, "a", encoding="utf-8") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def main(argv=None):
    """The command line: print the plan, run each notebook, print and save the summary (README)."""
    ap = argparse.ArgumentParser(
        prog="python -m gan_utils.run",
        description=__doc__,
        epilog="example: python -m gan_utils.run --preset smoke --only 02 03 -p 03:SNAPSHOT_EPOCHS '[0, 1]'",
    )
    ap.add_argument("--preset", default="classroom", help=f"one of {', '.join(PRESETS)} (default: classroom)")
    ap.add_argument("--only", nargs="+", default=[], metavar="NB", help="run only these notebooks (e.g. 02 03)")
    ap.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter (NAME or NN:NAME for one notebook); VALUE is a Python literal",
    )
    ap.add_argument("--figures", default=None, metavar="DIR", help="write figures to DIR/<notebook>/")
    ap.add_argument("--out", default=None, help="folder for the executed notebooks (default: runs/executed/LABEL)")
    ap.add_argument(
        "--name",
        default=None,
        help="a custom run's folder name under runs/custom/ (default: the date "
        "and time; give an earlier run's name with -p RESUME True to continue it)",
    )
    ap.add_argument(
        "--check", action="store_true", help="check the plan, the parameter names and their values; run nothing"
    )
    log_mode = ap.add_mutually_exclusive_group()
    log_mode.add_argument("--verbose", action="store_true", help="stream every line of the notebooks' output")
    log_mode.add_argument("--quiet", action="store_true", help="print nothing but the plan and the summary")
    args = ap.parse_args(argv)
    os.environ.setdefault("GAN_NO_PROGRESS", "1")  # kernels inherit it: one line per epoch, no progress bars
    try:
        names = select(args.only)
        overrides = [(k, parse_value(v)) for k, v in args.parameter]
        name = args.name or custom_name()
        label, planned = parameters(args.preset, names, overrides, args.figures, name)
        values = {n: checked(n, planned[n]) for n in names}
    except ContractError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.name and label != "custom":
        print(
            f"error: --name names a custom run's folder, but this is the {label!r} preset without overrides; "
            "drop --name.",
            file=sys.stderr,
        )
        return 2
    runs_root = paths.output_root() / "runs"
    sub = Path(label, name) if label == "custom" else Path(label)
    out_dir = Path(args.out).resolve() if args.out else runs_root / "executed" / sub
    with _stderr_to(os.devnull):  # TensorFlow's start-up lines
        precisions = sorted({precision_on_this_machine(values[n][0]) for n in names if "PRECISION" in values[n][0]})
        auto_here = precision_on_this_machine({})
    # A CPU without native bfloat16 takes about FLOAT32_CPU_FACTOR times as long as one with it (see MEASURED_IN).
    here_float32 = auto_here[1] == "float32" and not auto_here[2].startswith("a GPU")
    there_float32 = MEASURED_IN.get(args.preset, "mixed_bfloat16") == "float32"
    slower = FLOAT32_CPU_FACTOR ** (here_float32 - there_float32)
    expected = sum(estimate(args.preset, n, planned[n]) * (slower if n != "01_background" else 1) for n in names)
    print(
        f"Plan: preset {args.preset!r}"
        + (" with overrides (a custom run)" if label == "custom" else "")
        + f", {len(names)} notebook(s), about {expected:.{0 if expected >= 10 else 1}f} min on a 2-core CPU"
        + (" (scaled by the overrides)" if label == "custom" else "")
        + (
            f" (a CPU without bfloat16: the times measured on one with it, x {FLOAT32_CPU_FACTOR:g})"
            if slower > 1
            else ""
        )
        + (f" (a CPU with bfloat16: the times measured on one without, / {FLOAT32_CPU_FACTOR:g})" if slower < 1 else "")
        + " (plus about 1 min once to train the evaluation classifier if it is not cached)."
    )
    for n in names:
        for note in values[n][1]:
            print(f"  {n}: {note}")
    for asked, policy, why in precisions:
        print(f"Precision on this machine: {asked} -> {policy} ({why}).")
    for n in names:
        figs, runs = where(n, planned[n])
        shown = ", ".join(f"{k}={v!r}" for k, v in planned[n].items() if k not in locations(n))
        print(f"  {n}: {shown or 'defaults'}\n      figures -> {figs}")
        if "RUN_DIR" in notebook_parameters(n):
            print(f"      runs    -> {runs}")
        for k, rule in locations(n).items():
            if rule.of and planned[n].get(k):
                print(f"      reads   -> {planned[n][k]} ({k})")
    print(f"Executed notebooks and logs -> {out_dir}", flush=True)
    if args.check:
        return 0

    mode = "verbose" if args.verbose else "quiet" if args.quiet else "progress"
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = []
    for i, n in enumerate(names, 1):
        if mode != "quiet":
            print(f"\n[{i}/{len(names)}] {n} ...", flush=True)
        log_file, notebook = out_dir / f"{n}.log", out_dir / f"{n}.ipynb"
        log_file.write_text("")
        log = KernelLog(mode, log_file=log_file)
        watch = ProgressWatch(n, run_folders(n, planned[n])) if mode == "progress" else contextlib.nullcontext()
        t0, started = time.perf_counter(), time.time()
        try:
            with contextlib.nullcontext() if mode == "verbose" else _stderr_to(log_file), watch:
                execution.execute(
                    n,
                    notebook,
                    planned[n],
                    cwd=NOTEBOOK_DIR,
                    log_handler=log,
                    log_output=True,
                    save_each_cell=True,
                )
        except Exception as e:  # papermill's PapermillExecutionError carries the failing cell
            print(_failure_report(n, e, log, notebook, log_file), file=sys.stderr, flush=True)
            return 1
        finally:
            log.close()
        seconds = time.perf_counter() - t0
        fig_dir, run_dir = where(n, planned[n])
        figs = sorted(f for f in fig_dir.glob("*") if f.suffix in FIGURE_SUFFIXES)
        metrics = run_dir / "metrics.json"
        summary.append(
            {
                "notebook": n,
                "seconds": round(seconds, 1),
                "figures": [str(f) for f in figs],
                "metrics": json.loads(metrics.read_text()) if metrics.is_file() else None,
            }
        )
        own = [folder for folder, label in run_folders(n, planned[n]) if not label]
        for line in findings_lines(n, own[0], since=started - 1) if own and mode == "progress" else []:
            print(line, flush=True)
        if mode != "quiet":
            print(f"[{i}/{len(names)}] {n} done in {seconds:.0f} s, {len(figs)} figure(s) in {fig_dir}", flush=True)

    print("\nSummary")
    for s in summary:
        m = s["metrics"] or {}
        key = ", ".join(f"{k} {m[k]:.3g}" for k in SUMMARY_METRICS if isinstance(m.get(k), (int, float)))
        print(f"  {s['notebook']:<26} {s['seconds']:7.0f} s  {len(s['figures']):2d} figures  {key}")
    print(f"  total {sum(s['seconds'] for s in summary):.0f} s")
    # The largest finished kernel, 04's own papermill children included (Linux reports KiB).
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if resource else None
    if peak:
        print(f"  peak memory of any kernel: {peak:.0f} MB")
    record = {
        "preset": args.preset,
        "label": label,
        "parameters": planned,
        "notebooks": summary,
        "peak_memory_mb": peak,
    }
    (out_dir / "summary.json").write_text(json.dumps(record, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
