"""Checking a notebook's parameters before anything runs (every notebook, and the runner).

``check(globals(), notebook)`` runs right after the ``parameters`` cell; a bad value raises ``ParameterError``
naming the parameter, the value and what is allowed. Epoch settings past ``EPOCHS`` are cut to it, with a note.
"""

import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from . import paths
from .records import write_run_info


class ParameterError(ValueError):
    """A notebook parameter has a value that is not allowed."""


def _fail(name, value, allowed):
    raise ParameterError(f"{name} = {value!r} is not allowed: {name} must be {allowed}.")


def _is(value, kind):
    return isinstance(value, kind) and not isinstance(value, bool) and value == value  # NaN is no number


def whole(minimum=1, maximum=None):
    """Rule: a whole number in [minimum, maximum]; either bound may name another parameter."""

    def rule(name, value, p):
        low, top = (p[b] if isinstance(b, str) else b for b in (minimum, maximum))
        if not _is(value, numbers.Integral) or value < low or (top is not None and value > top):
            _fail(name, value, f"a whole number >= {low}" + (f" and <= {top}" if top is not None else ""))
        return int(value)

    return rule


def real(low=None, high=None, low_open=False, high_open=False):
    """Rule: a real number inside the given bounds, returned as float."""
    bounds = [f"{'>' if low_open else '>='} {low}"] * (low is not None) + [f"{'<' if high_open else '<='} {high}"] * (
        high is not None
    )
    allowed = " ".join(["a number", " and ".join(bounds)]).strip()

    def rule(name, value, p):
        if (
            not _is(value, numbers.Real)
            or (low is not None and (value <= low if low_open else value < low))
            or (high is not None and (value >= high if high_open else value > high))
        ):
            _fail(name, value, allowed)
        return float(value)

    return rule


def flag(name, value, p):
    """Rule: True or False."""
    if not isinstance(value, bool):
        _fail(name, value, "True or False")
    return value


def one_of(*choices):
    """Rule: one of ``choices``."""

    def rule(name, value, p):
        if value not in choices:
            _fail(name, value, "one of " + ", ".join(map(repr, choices)))
        return value

    return rule


def _list(name, value, ok, allowed):
    if not isinstance(value, (list, tuple)) or not value or not all(ok(v) for v in value):
        _fail(name, value, allowed)
    return value


def epoch_list(epochs_name="EPOCHS"):
    """Rule: a list of epochs; those past ``EPOCHS`` are dropped with a note, and ``EPOCHS`` itself is kept."""

    def rule(name, value, p):
        _list(
            name,
            value,
            lambda v: _is(v, numbers.Integral) and v >= 0,
            "a non-empty list of whole numbers >= 0, for example [0, 1, 5]",
        )
        last = p[epochs_name]
        kept = sorted({int(v) for v in value if v <= last})
        if len(kept) < len(set(value)):
            kept = sorted(set(kept) | {last})
            print(f"note: {name} cut to {kept} ({epochs_name} = {last}).")
        return kept

    return rule


def real_list(low=0, high=1):
    """Rule: a non-empty list of numbers in (low, high)."""

    def rule(name, value, p):
        _list(
            name,
            value,
            lambda v: _is(v, numbers.Real) and low < v < high,
            f"a non-empty list of numbers > {low} and < {high}, for example [0.0002, 0.001]",
        )
        return [float(v) for v in value]

    return rule


def multiple_of_10(name, value, p):
    """Rule: a whole number >= 100 that is a multiple of 10 (the same number of samples of each digit)."""
    if not _is(value, numbers.Integral) or value < 100 or value % 10:
        _fail(name, value, "a whole number >= 100 and a multiple of 10 (the same number of each digit)")
    return int(value)


def capped(epochs_name="EPOCHS"):
    """Rule: a whole number >= 0, cut to ``EPOCHS`` with a note (0 switches the feature off)."""

    def rule(name, value, p):
        value, last = whole(0)(name, value, p), p[epochs_name]
        if value > last:
            print(f"note: {name} cut from {value} to {last} ({epochs_name} = {last}).")
        return min(value, last)

    return rule


def folder(name, value, p):
    """Rule: None (the default folder) or a folder path given as a string."""
    if value is not None and not isinstance(value, (str, Path)):
        _fail(name, value, "None or a folder path")
    return value


# One rule per parameter name, shared by every notebook that has the parameter (checked in this order).
RULES = {
    "EPOCHS": whole(1),
    "BATCH_SIZE": whole(1, 60000),
    "SEED": whole(0),
    "TRAIN_IMAGES": whole("BATCH_SIZE", 60000),
    "LEARNING_RATE": real(0, 1, low_open=True),
    "BETA_1": real(0, 1, high_open=True),
    "LATENT_DIM": whole(1, 1024),
    "D_OUTPUT": one_of("two_node", "logit"),
    "G_LOSS": one_of("nonsaturating", "saturating"),
    "STABILIZE": flag,
    "LABEL_SMOOTHING": real(0, 0.5),
    "COMPARE_EPOCHS": capped(),
    "SNAPSHOT_EPOCHS": epoch_list(),
    "VAL_EVERY": whole(1),
    "SCORE_EVERY": capped(),
    "EVAL_SAMPLES": multiple_of_10,
    "RESUME": flag,
    "WIDTH": whole(8, 512),
    "EMA_DECAY": real(0, 1, high_open=True),
    "LABEL_PLANES": flag,
    "PROJECTION": flag,
    "PRECISION": one_of("auto", "float32", "mixed_bfloat16", "mixed_float16"),
    "TOY_STEPS": whole(2),
    "D_ALONE_STEPS": whole(1),
    "SWEEP_LEARNING_RATES": real_list(),
    "SWEEP_BETA_1": real_list(),
    "SWEEP_EPOCHS": whole(1),
    "DCGAN_SWEEP_EPOCHS": whole(0),
    "FAILURE_LEARNING_RATE": real(0, 1),
    "SWEEP_STABILIZE": flag,
    "TRAIN_MISSING": flag,
    "DETERMINISTIC": flag,
    "FIG_FORMAT": one_of("png", "pdf", "svg"),
    "RUN_DIR": folder,
    "FIG_DIR": folder,
    "DENSE_RUN_DIR": folder,
    "DCGAN_RUN_DIR": folder,
}


def writable_dir(name, path):
    """Create ``path`` if needed and check that files can be written there."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        (p / ".write_test").write_text("ok")
        (p / ".write_test").unlink()
    except OSError as e:
        raise ParameterError(
            f"{name} = {str(path)!r} is not allowed: {name} must be a folder this user can write to "
            f"({e.strerror or e}); pass another folder, for example -p {name} /tmp/gan_runs."
        ) from None
    return p.resolve()


def validate(values, rules=RULES):
    """The checked values of the parameters in ``values`` that have a rule (the runner checks a plan with it
    before anything runs); the first bad value raises ``ParameterError``. Touches no file."""
    p = {}
    for name, rule in rules.items():
        if name in values:
            p[name] = rule(name, values[name], p)
    return p


def check(namespace, notebook, rules=RULES):
    """Check the parameters in ``namespace`` (a notebook's ``globals()``), put the checked values back (epoch
    lists cut, RUN_DIR and FIG_DIR resolved and writable) and return a ``RunConfig``."""
    p = validate(namespace, rules)
    for name, default in (("FIG_DIR", paths.fig_dir), ("RUN_DIR", paths.run_dir)):
        if name in p:
            p[name] = str(writable_dir(name, default(notebook, p[name])))
    namespace.update({k: Path(v) if k in ("RUN_DIR", "FIG_DIR") else v for k, v in p.items()})
    return RunConfig(notebook, p)


# Parameters that may change between an interrupted run and its resume: they do not change the training itself.
NOT_IN_FINGERPRINT = frozenset(
    {
        "EPOCHS",
        "RESUME",
        "RUN_DIR",
        "FIG_DIR",
        "SNAPSHOT_EPOCHS",
        "VAL_EVERY",
        "SCORE_EVERY",
        "EVAL_SAMPLES",
        "COMPARE_EPOCHS",
        "DENSE_RUN_DIR",
        "DCGAN_RUN_DIR",
        "FIG_FORMAT",
        "DETERMINISTIC",
    }
)


@dataclass(frozen=True)
class RunConfig:
    """One run's checked parameters, frozen: from the parameters cell to run_info.json and the checkpoint."""

    notebook: str
    parameters: MappingProxyType = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    def __getitem__(self, name):
        return self.parameters[name]

    def get(self, name, default=None):
        return self.parameters.get(name, default)

    def replace(self, **changes):
        """A new config with some parameters changed (a comparison run, its own RUN_DIR)."""
        return RunConfig(self.notebook, dict(self.parameters, **changes))

    def fingerprint(self):
        """The settings a checkpoint depends on, as sorted JSON (resuming with other settings is refused)."""
        kept = {k: v for k, v in self.parameters.items() if k not in NOT_IN_FINGERPRINT}
        return json.dumps(dict(kept, notebook=self.notebook), sort_keys=True, default=str)

    def write(self, run_dir, extra=None):
        """Write ``run_dir/run_info.json``: parameters, seed, library versions, machine."""
        return write_run_info(
            run_dir,
            dict(self.parameters),
            self.get("SEED", 0),
            self.notebook,
            dict(extra or {}, fingerprint=self.fingerprint()),
        )
