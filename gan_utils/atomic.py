"""Writing files so that a crash never leaves one half-written (records, checkpoints, samples)."""

import os
from pathlib import Path


def atomic_write(path, write, mode="wb"):
    """Write ``path`` through ``write(file)`` under a temporary name, then rename: never half-written (02)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path, text):
    """Write a text file so that a crash never leaves it half-written (02)."""
    return atomic_write(path, lambda f: f.write(text), mode="w")
