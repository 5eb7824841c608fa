"""Checking a notebook's parameters before anything runs (taught in 01_background).

Every check raises :class:`ParameterError` with one sentence that names the
parameter, the value it got and what is allowed, so a mistyped papermill
``-p`` option stops the run before any training starts.
"""
import numbers
import os
from pathlib import Path


class ParameterError(ValueError):
    """A notebook parameter has a value that is not allowed."""


def _fail(name, value, allowed):
    raise ParameterError(f"{name} = {value!r} is not allowed: {name} must be {allowed}.")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(name, value, minimum=1, maximum=None):
    """Check a whole number in [minimum, maximum] and return it (01)."""
    allowed = f"a whole number >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if not _is_int(value) or value < minimum or (maximum is not None and value > maximum):
        _fail(name, value, allowed)
    return int(value)


def number(name, value, low=None, high=None, low_open=False, high_open=False):
    """Check a real number inside the given bounds and return it as float (01)."""
    lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
    allowed = "a number" + (f" {lo}" if lo else "") + (" and" if lo and hi else "") + (f" {hi}" if hi else "")
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value != value:
        _fail(name, value, allowed)
    if low is not None and (value <= low if low_open else value < low):
        _fail(name, value, allowed)
    if high is not None and (value >= high if high_open else value > high):
        _fail(name, value, allowed)
    return float(value)


def boolean(name, value):
    """Check a True/False flag (01)."""
    if not isinstance(value, bool):
        _fail(name, value, "True or False")
    return value


def choice(name, value, choices):
    """Check that ``value`` is one of ``choices`` (02)."""
    if value not in choices:
        _fail(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def int_list(name, value, minimum=0, maximum=None, allow_empty=False):
    """Check a list of whole numbers in [minimum, maximum]; returns a sorted list (03)."""
    allowed = f"a list of whole numbers >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if not isinstance(value, (list, tuple)) or (not value and not allow_empty):
        _fail(name, value, allowed + ("" if allow_empty else ", not empty"))
    for v in value:
        if not _is_int(v) or v < minimum or (maximum is not None and v > maximum):
            _fail(name, value, allowed)
    return sorted(set(int(v) for v in value))


def writable_dir(name, path):
    """Create ``path`` if needed and check that files can be written there (01)."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ParameterError(
            f"{name} = {str(path)!r} is not allowed: {name} must be a folder this user can write to "
            f"({e.strerror or e}); pass another folder, for example -p {name} /tmp/gan_runs."
        ) from None
    return p.resolve()


def float_list(name, value):
    """Check a non-empty list of real numbers; returns it as floats (04)."""
    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
        _fail(name, value, "a non-empty list of numbers, for example [0.0002, 0.001]")
    return [float(v) for v in value]
