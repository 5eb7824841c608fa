"""Run the notebooks headless, in order, through papermill, with a preset (classroom, paper, smoke) and ``-p``
overrides (README). A parameter that a notebook lacks, or a value its rules refuse, stops the run before anything
executes; only the classroom preset writes the committed ``figures/<notebook>/``, the paper and smoke presets write
under ``runs/<preset>/``, and each custom run (any override) under its own ``runs/custom/<name>/``.
"""

import argparse
import ast
import contextlib
import functools
import io
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

from . import kernel, paths
from .params import ParameterError, validate

try:
    import resource
except ImportError:  # not on Windows
    resource = None

NOTEBOOK_DIR = paths.PROJECT_ROOT / "notebooks"
NOTEBOOKS = ("01_background", "02_dense_gan", "03_conditional_dcgan", "04_convergence_analysis")

# Parameter overrides per preset and notebook; the classroom preset is every notebook's defaults.
PRESETS = {
    "classroom": {},
    "paper": {
        "02_dense_gan": {
            "EPOCHS": 100,
            "SNAPSHOT_EPOCHS": [0, 5, 10, 15, 20, 25, 50, 100],
            "COMPARE_EPOCHS": 100,
            "SCORE_EVERY": 5,
            "VAL_EVERY": 25,
            "RESUME": True,
        },
        "03_conditional_dcgan": {
            "EPOCHS": 100,
            "SNAPSHOT_EPOCHS": [0, 5, 10, 15, 20, 25],
            "SCORE_EVERY": 5,
            "VAL_EVERY": 25,
            "RESUME": True,
        },
        "04_convergence_analysis": {"SWEEP_EPOCHS": 25, "DCGAN_SWEEP_EPOCHS": 10},
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
    "classroom": {
        "01_background": 0.5,
        "02_dense_gan": 4.4,
        "03_conditional_dcgan": 8.6,
        "04_convergence_analysis": 6.7,
    },
    # paper: measured end to end on 2026-11-29 (slow machine; 03's epochs took 52-112 s as its speed varied)
    "paper": {"01_background": 0.5, "02_dense_gan": 39, "03_conditional_dcgan": 137, "04_convergence_analysis": 35},
    "smoke": {"01_background": 0.5, "02_dense_gan": 0.5, "03_conditional_dcgan": 0.7, "04_convergence_analysis": 1},
}

FIXED_MINUTES = 0.5  # a notebook's start, data and evaluation: what does not grow with epochs or digits
DCGAN_EPOCH_IN_DENSE_EPOCHS = 15  # one conditional DCGAN epoch costs about as much as 15 dense ones (docs/results.md)
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
# EXPECTED_MINUTES were measured with bfloat16 on an AVX-512 CPU; the classroom preset took 2,657 s in float32 on a
# 2-core AVX2-only CPU against 1,214 s there: about 2.2 times as long.
FLOAT32_CPU_FACTOR = 2.2

SUMMARY_METRICS = ("accuracy", "fid_ratio", "min_share", "entropy_bits", "seconds_per_epoch", "peak_memory_mb")
# Parameters that say where things go (or resume a run) without changing its results.
LOCATIONS = ("FIG_DIR", "RUN_DIR", "DENSE_RUN_DIR", "DCGAN_RUN_DIR")
UPSTREAM = {"DENSE_RUN_DIR": "02_dense_gan", "DCGAN_RUN_DIR": "03_conditional_dcgan"}


class ContractError(ValueError):
    """A preset or override names a parameter that a notebook does not have."""


def notebook_path(name):
    """The notebook file of ``name``."""
    return NOTEBOOK_DIR / f"{name}.ipynb"


def select(only):
    """Notebook names starting with one of ``only`` ("02" or a full name); all when empty."""
    for key in only:
        if not any(n.startswith(key) for n in NOTEBOOKS):
            raise ContractError(f"--only {key!r} matches no notebook; choose from {', '.join(NOTEBOOKS)}.")
    return [n for n in NOTEBOOKS if not only or n.startswith(tuple(only))]


@functools.cache
def notebook_parameters(name):
    """The parameters a notebook declares in its ``parameters`` cell, via papermill (README)."""
    import papermill

    return papermill.inspect_notebook(str(notebook_path(name)))


def parse_value(text):
    """A ``-p`` value: a Python literal if it is one (5, 0.001, True, None, [0, 5]), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def defaults(name):
    """The default values of a notebook's parameters, as written in its ``parameters`` cell."""
    return {k: parse_value(v["default"]) for k, v in notebook_parameters(name).items()}


def checked(name, values):
    """All of a notebook's parameter values (defaults, then ``values``) after the notebooks' own rules, and the
    notes the rules printed (an epoch list cut to EPOCHS); ContractError says which value is refused and why."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            return validate({**defaults(name), **values}), out.getvalue().splitlines()
    except ParameterError as e:
        raise ContractError(f"{name}: {e}") from None


def _work(name, p):
    """What a notebook's training time grows with: training digits times epochs (DCGAN epochs weighted)."""
    images = p.get("TRAIN_IMAGES", 60000)
    if name == "02_dense_gan":
        return images * (p["EPOCHS"] + 2 * p["COMPARE_EPOCHS"])
    if name == "03_conditional_dcgan":
        return images * p["EPOCHS"] * DCGAN_EPOCH_IN_DENSE_EPOCHS
    if name == "04_convergence_analysis":
        rates = len(p["SWEEP_LEARNING_RATES"])
        return images * (
            rates * len(p["SWEEP_BETA_1"]) * p["SWEEP_EPOCHS"]
            + rates * p["DCGAN_SWEEP_EPOCHS"] * DCGAN_EPOCH_IN_DENSE_EPOCHS
        )
    return None


def estimate(preset, name, values):
    """Expected minutes of a notebook: the preset's measured time, its training part scaled by the work that
    ``values`` ask for against the preset's own values."""
    measured = EXPECTED_MINUTES[preset].get(name, 1)
    base, new = (_work(name, checked(name, v)[0]) for v in (PRESETS[preset].get(name, {}), values))
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
    params = plan(preset, names, overrides)
    neutral = LOCATIONS + ("RESUME",)
    custom = any(
        k not in neutral and (k, v) not in PRESETS[preset].get(n, {}).items()
        for n, p in params.items()
        for k, v in p.items()
    )
    label = "custom" if custom else preset
    runs = None if label == "classroom" else paths.output_root() / "runs" / label
    if label == "custom":
        runs = runs / (name or custom_name())
    figs = paths.output_root() / "figures" / "paper" if label == "paper" else runs and runs / "figures"
    figs = Path(figures).expanduser().resolve() if figures else figs
    for n in names:
        wanted = {
            "FIG_DIR": figs and figs / n,
            "RUN_DIR": runs and runs / n,
            **{k: runs and runs / up for k, up in UPSTREAM.items()},
        }
        for k, v in wanted.items():
            if v is not None and k in notebook_parameters(n):
                params[n].setdefault(k, str(v))
    return label, params


def where(name, parameters):
    """(figure folder, run folder) a notebook writes to with these parameters."""
    return paths.fig_dir(name, parameters.get("FIG_DIR")), paths.run_dir(name, parameters.get("RUN_DIR"))


def precision_on_this_machine(values):
    """(``PRECISION`` as asked, the policy it means on this machine, why)."""
    from . import precision

    asked = values.get("PRECISION", "auto")
    return (asked, *precision.choose(asked))


PAPERMILL_LINE = re.compile(
    r"Executing Cell|Ending Cell|Executing notebook with kernel|Input Notebook:|"
    r"Output Notebook:|Working directory:"
)
EPOCH_LINE = re.compile(r"epoch (\d+/\d+)\s+[\d.]+ s\s+(ETA \d+ s)")
KEEP_LINE = re.compile(
    r"note:|Findings|Notebook finished|Resumed from|Interrupted|The run in .* nothing to train|"
    r"\S+: (executing|reusing) |Training epochs \S+ of .*records in "
)


class KernelLog(logging.Handler):
    """Handler for papermill's logger: writes every message to ``log_file`` and keeps the kernel's output;
    prints all of it (``mode`` "verbose"), a line per epoch, notes and findings ("progress"), or nothing."""

    def __init__(self, name, mode="progress", log_file=None, stream=None, clock=time.perf_counter):
        super().__init__(logging.INFO)
        self.name, self.mode, self.stream, self.clock = name, mode, stream or sys.stdout, clock
        self.t0, self.lines, self.in_findings, self.log_file = clock(), [], False, log_file

    def emit(self, record):
        msg = record.getMessage()
        if self.log_file:
            with open(self.log_file, "a", encoding="utf-8") as f:
                print(msg.rstrip("\n"), file=f)
        if self.mode == "verbose":
            print(msg.rstrip("\n"), file=self.stream, flush=True)
        if PAPERMILL_LINE.match(msg):
            return
        for line in msg.splitlines():
            self.lines.append(line)
            line, epoch = line.rstrip(), EPOCH_LINE.match(line)
            follows = self.in_findings and line.startswith(("- ", "  "))
            self.in_findings = follows or line.startswith("Findings")
            if self.mode != "progress" or not (epoch or follows or KEEP_LINE.match(line)):
                continue
            if epoch:
                line = f"epoch {epoch[1]}, {self.clock() - self.t0:.0f} s elapsed, {epoch[2]}"
            line = re.sub(r"^Training epochs (\S+) of .*records in (.*)", r"training epochs \1 -> \2", line)
            print(f"  {self.name}: {line}", file=self.stream, flush=True)


def _failure_report(name, err, log, notebook, log_file, tail=80):
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
        out += log.lines[-tail:]
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
        label, params = parameters(args.preset, names, overrides, args.figures, name)
        values = {n: checked(n, params[n]) for n in names}
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
    # The measured times are bfloat16 times: a run in float32 on a CPU takes longer.
    slower = (
        FLOAT32_CPU_FACTOR
        if any(policy == "float32" and not why.startswith("a GPU") for _, policy, why in precisions)
        else 1.0
    )
    expected = sum(estimate(args.preset, n, params[n]) * (slower if n != "01_background" else 1) for n in names)
    print(
        f"Plan: preset {args.preset!r}"
        + (" with overrides (a custom run)" if label == "custom" else "")
        + f", {len(names)} notebook(s), about {expected:.{0 if expected >= 10 else 1}f} min on a 2-core CPU"
        + (" (scaled by the overrides)" if label == "custom" else "")
        + (f" (float32 on this CPU: the bfloat16 times measured, x {FLOAT32_CPU_FACTOR:g})" if slower > 1 else "")
        + " (plus about 1 min once to train the evaluation classifier if it is not cached)."
    )
    for n in names:
        for note in values[n][1]:
            print(f"  {n}: {note}")
    for asked, policy, why in precisions:
        print(f"Precision on this machine: {asked} -> {policy} ({why}).")
    for n in names:
        figs, runs = where(n, params[n])
        shown = ", ".join(f"{k}={v!r}" for k, v in params[n].items() if k not in LOCATIONS)
        print(f"  {n}: {shown or 'defaults'}\n      figures -> {figs}")
        if "RUN_DIR" in notebook_parameters(n):
            print(f"      runs    -> {runs}")
        for k in UPSTREAM:
            if params[n].get(k):
                print(f"      reads   -> {params[n][k]} ({k})")
    print(f"Executed notebooks and logs -> {out_dir}", flush=True)
    if args.check:
        return 0

    import papermill

    mode = "verbose" if args.verbose else "quiet" if args.quiet else "progress"
    pm_logger = logging.getLogger("papermill")
    pm_logger.setLevel(logging.INFO)
    pm_logger.propagate = False
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = []
    for i, n in enumerate(names, 1):
        if mode != "quiet":
            print(f"\n[{i}/{len(names)}] {n} ...", flush=True)
        log_file, notebook = out_dir / f"{n}.log", out_dir / f"{n}.ipynb"
        log_file.write_text("")
        log = KernelLog(n, mode, log_file=log_file)
        pm_logger.addHandler(log)
        t0 = time.perf_counter()
        try:
            with contextlib.nullcontext() if mode == "verbose" else _stderr_to(log_file):
                papermill.execute_notebook(
                    str(notebook_path(n)),
                    str(notebook),
                    parameters=params[n],
                    kernel_name=kernel.name(),
                    cwd=str(NOTEBOOK_DIR),
                    log_output=True,
                    progress_bar=False,
                    request_save_on_cell_execute=True,
                )
        except Exception as e:  # papermill's PapermillExecutionError carries the failing cell
            print(_failure_report(n, e, log, notebook, log_file), file=sys.stderr, flush=True)
            return 1
        finally:
            pm_logger.removeHandler(log)
            log.close()
        seconds = time.perf_counter() - t0
        fig_dir, run_dir = where(n, params[n])
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
    record = {"preset": args.preset, "label": label, "parameters": params, "notebooks": summary, "peak_memory_mb": peak}
    (out_dir / "summary.json").write_text(json.dumps(record, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
