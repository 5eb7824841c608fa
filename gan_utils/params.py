"""Checking a notebook's parameters before anything runs, and the checked set of one run (every notebook, the
runner).

Each notebook declares its parameters' rules in its ``checks`` cell, ``CHECKS = {"EPOCHS": params.whole(1), ...}``,
and calls ``config = params.check(globals(), CHECKS, "<notebook>")``. A bad value raises ``ParameterError`` naming
the parameter, the value and what is allowed. The check changes nothing in the notebook: what it resolves (the
default folders, epoch lists cut to ``EPOCHS``) is in the returned ``RunConfig``, and the notebook assigns it.
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


@dataclass(frozen=True)
class Rule:
    """One parameter's rule. ``check(name, value, checked, notes)`` returns the checked value (``checked``: the
    parameters checked before it; ``notes``: a list for what was changed) or raises ``ParameterError``.
    ``trained``: the value changes what is trained (part of the checkpoint's fingerprint; the others may differ
    when a run resumes). ``folder``: "run" or "figures" for a folder parameter, ``of``: the notebook it belongs to
    when that is another notebook (04 reads 02's and 03's runs)."""

    check: object
    trained: bool = True
    folder: str = None
    of: str = None

    def __call__(self, name, value, checked, notes):
        return self.check(name, value, checked, notes)


def whole(minimum=1, maximum=None, trained=True):
    """A whole number in [minimum, maximum]; either bound may name another parameter."""

    def check(name, value, p, notes):
        low, top = (p[b] if isinstance(b, str) else b for b in (minimum, maximum))
        if not _is(value, numbers.Integral) or value < low or (top is not None and value > top):
            _fail(name, value, f"a whole number >= {low}" + (f" and <= {top}" if top is not None else ""))
        return int(value)

    return Rule(check, trained)


def real(low=None, high=None, low_open=False, high_open=False, trained=True):
    """A real number inside the given bounds, returned as float."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high}")
    allowed = " ".join(["a number", " and ".join(bounds)]).strip()

    def check(name, value, p, notes):
        if not _is(value, numbers.Real):
            _fail(name, value, allowed)
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            _fail(name, value, allowed)
        return float(value)

    return Rule(check, trained)


def flag(trained=True):
    """True or False."""

    def check(name, value, p, notes):
        if not isinstance(value, bool):
            _fail(name, value, "True or False")
        return value

    return Rule(check, trained)


def one_of(*choices, trained=True):
    """One of ``choices``."""

    def check(name, value, p, notes):
        if value not in choices:
            _fail(name, value, "one of " + ", ".join(map(repr, choices)))
        return value

    return Rule(check, trained)


def _list(name, value, ok, allowed):
    if not isinstance(value, (list, tuple)) or not value or not all(ok(v) for v in value):
        _fail(name, value, allowed)
    return value


def epoch_list(epochs_name="EPOCHS", trained=False):
    """A list of epochs; those past ``EPOCHS`` are dropped (with a note) and then ``EPOCHS`` itself is added."""

    def check(name, value, p, notes):
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
            notes.append(f"{name} cut to {kept} ({epochs_name} = {last}).")
        return kept

    return Rule(check, trained)


def real_list(low=0, high=1, trained=True):
    """A non-empty list of numbers in (low, high)."""

    def check(name, value, p, notes):
        _list(
            name,
            value,
            lambda v: _is(v, numbers.Real) and low < v < high,
            f"a non-empty list of numbers > {low} and < {high}, for example [0.0002, 0.001]",
        )
        return [float(v) for v in value]

    return Rule(check, trained)


def multiple_of_10(trained=False):
    """A whole number >= 100 that is a multiple of 10 (the same number of samples of each digit)."""

    def check(name, value, p, notes):
        if not _is(value, numbers.Integral) or value < 100 or value % 10:
            _fail(name, value, "a whole number >= 100 and a multiple of 10 (the same number of each digit)")
        return int(value)

    return Rule(check, trained)


def capped(epochs_name="EPOCHS", trained=False):
    """A whole number >= 0, cut to ``EPOCHS`` with a note (0 switches the feature off)."""

    def check(name, value, p, notes):
        value, last = whole(0).check(name, value, p, notes), p[epochs_name]
        if value > last:
            notes.append(f"{name} cut from {value} to {last} ({epochs_name} = {last}).")
        return min(value, last)

    return Rule(check, trained)


def folder(kind="run", of=None):
    """None (the default folder: ``runs/<notebook>`` or ``figures/<notebook>``) or a folder path as a string;
    ``of``: another notebook whose run folder this is."""

    def check(name, value, p, notes):
        if value is not None and not isinstance(value, (str, Path)):
            _fail(name, value, "None or a folder path")
        return value

    return Rule(check, trained=False, folder=kind, of=of)


def validate(values, checks):
    """(checked values, notes) of the parameters in ``values`` that ``checks`` has a rule for, in the order of
    ``checks``; the first bad value raises ``ParameterError``. Touches no file (the runner checks a plan with it
    before anything runs)."""
    checked, notes = {}, []
    for name, rule in checks.items():
        if name in values:
            checked[name] = rule(name, values[name], checked, notes)
    return checked, notes


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


def resolve_folder(rule, notebook, value):
    """The folder a folder parameter means: ``value``, or the default of its kind for ``notebook`` (or ``of``)."""
    if rule.folder == "figures":
        return paths.fig_dir(notebook, value)
    return paths.run_dir(rule.of or notebook, value)


def check(namespace, checks, notebook):
    """Check the parameters in ``namespace`` (a notebook's ``globals()``) against ``checks``; print the notes and
    return the ``RunConfig``, with the folders resolved (the notebook's own made and checked writable).
    ``namespace`` is not changed."""
    values, notes = validate(namespace, checks)
    for note in notes:
        print("note:", note)
    for name, rule in checks.items():
        if rule.folder and name in values:
            where = resolve_folder(rule, notebook, values[name])
            values[name] = where if rule.of else writable_dir(name, where)
    return RunConfig(notebook, values, frozenset(k for k, r in checks.items() if not r.trained))


@dataclass(frozen=True)
class RunConfig:
    """One run's checked parameters, frozen: from the parameters cell to run_info.json and the checkpoint.
    ``not_trained``: the names that do not change what is trained (they may differ when a run resumes)."""

    notebook: str
    parameters: MappingProxyType = field(default_factory=dict)
    not_trained: frozenset = frozenset()

    def __post_init__(self):
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    def __getitem__(self, name):
        return self.parameters[name]

    def get(self, name, default=None):
        return self.parameters.get(name, default)

    def replace(self, **changes):
        """A new config with some parameters changed (a comparison run, its own RUN_DIR)."""
        return RunConfig(self.notebook, dict(self.parameters, **changes), self.not_trained)

    def fingerprint(self):
        """The settings a checkpoint depends on, as sorted JSON (resuming with other settings is refused)."""
        kept = {k: v for k, v in self.parameters.items() if k not in self.not_trained}
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
