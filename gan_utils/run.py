"""Run the notebooks headless, in order, through papermill (see the README).

    python -m gan_utils.run                      # the classroom preset: every notebook, defaults
    python -m gan_utils.run --preset paper       # the report's scale (hours on a CPU)
    python -m gan_utils.run --preset smoke       # the smallest run that executes every cell (CI)
    python -m gan_utils.run --only 02 03 -p EPOCHS 5 -p 03:SNAPSHOT_EPOCHS "[0, 1, 5]"

Every parameter a preset or ``-p`` names must exist in the notebook's
``parameters`` cell (papermill's notebook inspection); a misspelled one stops
the run before anything executes. Executed notebooks go to
``runs/executed/<preset>/``; figures go where each notebook's ``FIG_DIR``
says (by default ``figures/<notebook>/``).
"""
import argparse
import ast
import json
import logging
import os
import sys
import time
from pathlib import Path

from . import paths

NOTEBOOK_DIR = paths.PROJECT_ROOT / "notebooks"
NOTEBOOKS = ("01_background", "02_dense_gan", "03_conditional_dcgan", "04_convergence_analysis")

# Parameter overrides per preset and notebook; the classroom preset is every notebook's defaults.
PRESETS = {
    "classroom": {},
    "paper": {
        "02_dense_gan": {"EPOCHS": 100, "SNAPSHOT_EPOCHS": [0, 5, 10, 15, 20, 25, 50, 100], "COMPARE_EPOCHS": 100,
                         "SCORE_EVERY": 5, "VAL_EVERY": 25, "RESUME": True},
        "03_conditional_dcgan": {"EPOCHS": 100, "SNAPSHOT_EPOCHS": [0, 5, 10, 15, 20, 25], "SCORE_EVERY": 5,
                                 "VAL_EVERY": 25, "RESUME": True},
        "04_convergence_analysis": {"DENSE_EPOCHS": 100, "DCGAN_EPOCHS": 100, "SWEEP_EPOCHS": 25},
    },
    "smoke": {
        "01_background": {"TOY_STEPS": 60, "D_ALONE_STEPS": 60},
        "02_dense_gan": {"EPOCHS": 1, "TRAIN_IMAGES": 2560, "SNAPSHOT_EPOCHS": [0, 1], "COMPARE_EPOCHS": 1,
                         "SCORE_EVERY": 1, "EVAL_SAMPLES": 500, "VAL_EVERY": 5},
        "03_conditional_dcgan": {"EPOCHS": 1, "TRAIN_IMAGES": 1280, "SNAPSHOT_EPOCHS": [0, 1], "SCORE_EVERY": 1,
                                 "EVAL_SAMPLES": 500, "VAL_EVERY": 5},
        "04_convergence_analysis": {"DENSE_EPOCHS": 1, "DCGAN_EPOCHS": 1, "SWEEP_EPOCHS": 1, "TRAIN_IMAGES": 1280,
                                    "EVAL_SAMPLES": 500},
    },
}

# Measured wall-clock minutes per notebook on a 2-core CPU (see the README), for the plan's estimate.
EXPECTED_MINUTES = {
    "classroom": {"01_background": 0.3, "02_dense_gan": 2.1, "03_conditional_dcgan": 5.6, "04_convergence_analysis": 2.7},
    "paper": {"01_background": 1, "02_dense_gan": 20, "03_conditional_dcgan": 70, "04_convergence_analysis": 30},
    "smoke": {"01_background": 0.5, "02_dense_gan": 0.5, "03_conditional_dcgan": 0.7, "04_convergence_analysis": 1},
}


SUMMARY_METRICS = ("accuracy", "fid_ratio", "min_share", "entropy_bits", "seconds_per_epoch")


class ContractError(ValueError):
    """A preset or override names a parameter that a notebook does not have."""


def notebook_path(name):
    return NOTEBOOK_DIR / f"{name}.ipynb"


def select(only):
    """Notebook names matching ``only`` (prefixes like "02" or full names); all when empty."""
    if not only:
        return list(NOTEBOOKS)
    chosen = []
    for key in only:
        hits = [n for n in NOTEBOOKS if n == key or n.startswith(key)]
        if not hits:
            raise ContractError(f"--only {key!r} matches no notebook; choose from {', '.join(NOTEBOOKS)}.")
        chosen += [h for h in hits if h not in chosen]
    return [n for n in NOTEBOOKS if n in chosen]


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


def plan(preset, names, overrides=()):
    """Parameters per notebook for a preset plus ``-p`` overrides, checked against each notebook (README).

    ``overrides``: (name, value) pairs; a name ``NN:PARAM`` applies to one notebook only.
    Raises ContractError naming the notebook, the unknown parameter and the valid ones.
    """
    if preset not in PRESETS:
        raise ContractError(f"--preset {preset!r} is not a preset; choose from {', '.join(PRESETS)}.")
    declared = {n: notebook_parameters(n) for n in names}
    result = {n: dict(PRESETS[preset].get(n, {})) for n in names}
    for n in names:
        unknown = sorted(set(result[n]) - set(declared[n]))
        if unknown:
            raise ContractError(f"preset {preset!r} sets {unknown} for {n}, which has no such parameter; "
                                f"valid names: {', '.join(declared[n])}.")
    for key, value in overrides:
        target, _, name = key.rpartition(":")
        targets = select([target]) if target else names
        hits = [n for n in targets if n in names and name in declared[n]]
        if not hits:
            valid = sorted({p for n in (t for t in targets if t in names) for p in declared[n]})
            raise ContractError(f"-p {key}: no selected notebook has a parameter {name!r}; valid names: "
                                f"{', '.join(valid)}.")
        for n in hits:
            result[n][name] = value
    return result


def _failure_message(name, err):
    cell = getattr(err, "exec_count", None)
    index = getattr(err, "cell_index", None)
    where = f"cell {index}" + (f" (In [{cell}])" if cell is not None else "") if index is not None else "a cell"
    return f"{name} failed in {where}: {getattr(err, 'ename', type(err).__name__)}: {getattr(err, 'evalue', err)}"


def execute(name, parameters, out_dir, log_output=True):
    """Execute one notebook headless with papermill; returns seconds taken (README)."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    papermill.execute_notebook(str(notebook_path(name)), str(out_dir / f"{name}.ipynb"), parameters=parameters,
                               kernel_name="python3", cwd=str(NOTEBOOK_DIR), log_output=log_output,
                               progress_bar=False, request_save_on_cell_execute=True)
    return time.perf_counter() - t0


def _figures(name, parameters):
    d = paths.fig_dir(name, parameters.get("FIG_DIR"))
    return sorted(d.glob("*.png")) if d.is_dir() else []


def _metrics(name, parameters):
    d = paths.run_dir(name, parameters.get("RUN_DIR"))
    p = d / "metrics.json"
    return json.loads(p.read_text()) if p.is_file() else None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m gan_utils.run", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="classroom", help=f"one of {', '.join(PRESETS)} (default: classroom)")
    ap.add_argument("--only", nargs="+", default=[], metavar="NB", help="run only these notebooks (e.g. 02 03)")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override a parameter (NAME or NN:NAME for one notebook); VALUE is a Python literal")
    ap.add_argument("--out", default=None, help="folder for the executed notebooks (default: runs/executed/PRESET)")
    ap.add_argument("--check", action="store_true", help="check the plan and the parameter names, run nothing")
    ap.add_argument("--quiet", action="store_true", help="do not stream the notebooks' output")
    args = ap.parse_args(argv)

    try:
        names = select(args.only)
        params = plan(args.preset, names, [(k, parse_value(v)) for k, v in args.parameter])
    except ContractError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out_dir = Path(args.out).resolve() if args.out else paths.output_root() / "runs" / "executed" / args.preset
    expected = sum(EXPECTED_MINUTES[args.preset].get(n, 1) for n in names)
    print(f"Plan: preset {args.preset!r}, {len(names)} notebook(s), about {expected:g} min on a 2-core CPU "
          f"(plus about 1 min once to train the evaluation classifier if it is not cached).")
    for n in names:
        shown = ", ".join(f"{k}={v!r}" for k, v in params[n].items()) or "defaults"
        print(f"  {n}: {shown}")
    print(f"Executed notebooks -> {out_dir}", flush=True)
    if args.check:
        return 0

    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        logging.getLogger("papermill").setLevel(logging.INFO)
        for noisy in ("traitlets", "asyncio", "matplotlib"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    summary = []
    for i, n in enumerate(names, 1):
        print(f"\n[{i}/{len(names)}] {n} ...", flush=True)
        try:
            seconds = execute(n, params[n], out_dir, log_output=not args.quiet)
        except Exception as e:  # papermill's PapermillExecutionError carries the failing cell
            print(f"\nFAILED: {_failure_message(n, e)}\nThe executed notebook, with the error in place: "
                  f"{out_dir / (n + '.ipynb')}", file=sys.stderr, flush=True)
            return 1
        figs = _figures(n, params[n])
        summary.append({"notebook": n, "seconds": round(seconds, 1), "figures": [str(f) for f in figs],
                        "metrics": _metrics(n, params[n])})
        print(f"[{i}/{len(names)}] {n} done in {seconds:.0f} s, {len(figs)} figure(s)", flush=True)

    print("\nSummary")
    for s in summary:
        m = s["metrics"] or {}
        key = ", ".join(f"{k} {m[k]:.3g}" for k in SUMMARY_METRICS if isinstance(m.get(k), (int, float)))
        print(f"  {s['notebook']:<26} {s['seconds']:7.0f} s  {len(s['figures']):2d} figures  {key}")
    print(f"  total {sum(s['seconds'] for s in summary):.0f} s")
    (out_dir / "summary.json").write_text(json.dumps({"preset": args.preset, "parameters": params,
                                                      "notebooks": summary}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
