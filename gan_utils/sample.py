"""The sample command line: ``python -m gan_utils.sample GENERATOR.keras (--per-class N | --n N)
--seed 0 --out samples.npz``: uint8 ``images`` (N, 28, 28), plus int64 ``labels`` for a conditional generator (03).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from .sampling import NUM_CLASSES, check_generator, generate, load_generator, save_samples


def _whole(text, least=1):
    """An argparse type: a whole number >= ``least``."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < least:
        raise argparse.ArgumentTypeError(f"{v} must be " + ("a whole number >= 1" if least else ">= 0"))
    return v


def main(argv=None):
    """Entry point of ``python -m gan_utils.sample`` (03)."""
    p = argparse.ArgumentParser(
        prog="python -m gan_utils.sample",
        description="Draw digits from a saved generator into an .npz file; the same --seed gives the same images.",
    )
    p.add_argument("generator", help="a generator saved by a notebook, e.g. runs/03_conditional_dcgan/generator.keras")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--per-class", type=_whole, metavar="N", help="conditional generator: N samples of each digit")
    how.add_argument("--n", type=_whole, metavar="N", help="unconditional generator: N samples")
    p.add_argument("--seed", type=lambda text: _whole(text, 0), default=0, help="noise seed (default 0)")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="where to write the samples (.npz)")
    args = p.parse_args(argv)
    out = Path(args.out).expanduser()
    if out.suffix != ".npz":
        p.error(f"--out {out}: the file name must end in .npz (e.g. --out samples.npz).")
    folder = out.resolve().parent
    if not folder.is_dir():
        p.error(f"--out {out}: the folder {folder} does not exist (or is not a folder); create it first.")
    try:
        gen = load_generator(args.generator)
    except (FileNotFoundError, ValueError) as e:
        p.error(str(e))
    conditional = check_generator(gen)[1]
    if conditional and args.n is not None:
        p.error(f"{args.generator} is a conditional generator: use --per-class N (N samples of each digit), not --n.")
    if not conditional and args.per_class is not None:
        p.error(f"{args.generator} is an unconditional generator (no label input): use --n N, not --per-class.")
    labels = np.repeat(np.arange(NUM_CLASSES, dtype=np.int64), args.per_class) if conditional else None
    images = generate(gen, n=args.n, labels=labels, seed=args.seed)
    try:
        save_samples(out, images, labels)
    except OSError as e:
        p.error(f"--out {out}: cannot write it ({e.strerror or e}); choose another file name or folder.")
    what = f"{args.per_class} per digit" if conditional else "unconditional"
    print(f"Wrote {len(images)} samples ({what}, seed {args.seed}) from {args.generator} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
