"""Reading saved runs and testing convergence claims (taught in 04_convergence_analysis).

Notebook 04 reuses the runs that 02 and 03 saved when their recorded settings
match; otherwise it trains them here with the same recipes (``recipes``).
"""
import json
import math
from pathlib import Path

import numpy as np

from . import recipes, training

SNAPSHOTS = (0, 1, 2, 3, 4, 5, 6, 10, 15, 20, 25, 30, 50, 100)


def find_run(run_dir):
    """The saved run in ``run_dir``, or None if there is none (04)."""
    try:
        return training.load_run(run_dir)
    except FileNotFoundError:
        return None


def _finished_match(run_dir, settings, epochs):
    """A finished run in ``run_dir`` made with exactly ``settings`` and ``epochs``, else None."""
    run_dir = Path(run_dir)
    info_path, ckpt = run_dir / "run_info.json", run_dir / "checkpoint.npz"
    if not (info_path.is_file() and ckpt.is_file() and (run_dir / "history.csv").is_file()):
        return None, "no finished run there"
    recorded = json.loads(info_path.read_text()).get("parameters", {})
    wanted = dict(settings, EPOCHS=epochs)
    diff = {k: (recorded.get(k), v) for k, v in wanted.items() if recorded.get(k) != v}
    if diff:
        return None, "other settings: " + ", ".join(f"{k}={a!r} (need {b!r})" for k, (a, b) in diff.items())
    if int(training.read_checkpoint(ckpt)["epoch"]) != epochs:
        return None, "the run did not finish"
    return training.load_run(run_dir), "match"


def _settings(gan, batch_size, x_train):
    return dict(gan.settings, BATCH_SIZE=batch_size, TRAIN_IMAGES=len(x_train))


def reuse_or_train(model, source_dir, own_dir, *, epochs, seed, batch_size, data, score_every=1):
    """Load the run notebook 02 or 03 saved if its settings match, else train it into ``own_dir`` (04).

    ``model``: "dense" (notebook 02's defaults) or "conditional_dcgan" (03's).
    ``data``: (x_train, y_train, x_val, y_val). Prints which it did and why.
    """
    x_train, y_train, x_val, y_val = data
    gan = recipes.dense_gan(seed=seed) if model == "dense" else recipes.conditional_dcgan(seed=seed)
    wanted = _settings(gan, batch_size, x_train)
    for where in (source_dir, own_dir):
        run, why = _finished_match(where, wanted, epochs)
        if run is not None:
            print(f"{model}: reusing the finished run in {where}")
            return run
        print(f"{model}: not reusing {where} ({why})")
    print(f"{model}: training {epochs} epochs into {own_dir} with the same recipe")
    return recipes.train(gan, own_dir, x_train, y_train, x_val, y_val, epochs=epochs, batch_size=batch_size,
                         snapshot_epochs=[e for e in SNAPSHOTS if e <= epochs], score_every=score_every,
                         val_every=max(1, min(50 if model == "dense" else 100, len(x_train) // batch_size // 2)),
                         notebook="04_convergence_analysis",
                         log_every=max(1, epochs // 5))


def first_epochs_of(run_dir, settings, epochs):
    """The records of the first ``epochs`` epochs of a finished, longer run with the same settings, or None (04).

    Training is deterministic for a given seed, so those epochs are exactly what
    a new run of ``epochs`` epochs would record; the run must have a snapshot at
    ``epochs``.
    """
    run_dir = Path(run_dir)
    info_path = run_dir / "run_info.json"
    if not (info_path.is_file() and (run_dir / "checkpoint.npz").is_file()):
        return None
    recorded = json.loads(info_path.read_text()).get("parameters", {})
    same = all(recorded.get(k) == v for k, v in settings.items())
    done = int(training.read_checkpoint(run_dir / "checkpoint.npz")["epoch"])
    if not same or done < epochs:
        return None
    run = training.load_run(run_dir)
    if epochs not in run.snapshots:
        return None
    run.history = [r for r in run.history if r["epoch"] <= epochs]
    run.epoch_log = [r for r in run.epoch_log if r["epoch"] <= epochs]
    run.quality = [r for r in run.quality if r["epoch"] <= epochs]
    run.snapshots = {e: v for e, v in run.snapshots.items() if e <= epochs}
    return run


def train_dense(run_dir, *, epochs, seed, batch_size, learning_rate, beta_1, data, eval_samples=2000,
                stabilize=True, catch_divergence=False, reuse_from=()):
    """Train (or reload, if already finished) one dense-GAN run of a sweep (04).

    ``reuse_from``: run folders (notebook 02's) whose first ``epochs`` epochs
    may stand in for this run when the settings match. With
    ``catch_divergence``, a diverged run is returned with its history and
    ``run.diverged`` holding the message instead of raising.
    """
    x_train, y_train, x_val, y_val = data
    gan = recipes.dense_gan(learning_rate=learning_rate, beta_1=beta_1, seed=seed, stabilize=stabilize)
    settings = _settings(gan, batch_size, x_train)
    run, _ = _finished_match(run_dir, settings, epochs)
    if run is not None:
        print(f"lr {learning_rate:g}, beta_1 {beta_1:g}: reusing the finished run in {run_dir}")
        run.diverged = None
        return run
    for source in reuse_from:
        run = first_epochs_of(source, settings, epochs)
        if run is not None:
            print(f"lr {learning_rate:g}, beta_1 {beta_1:g}: the same recipe and seed as {source}; "
                  f"reusing its first {epochs} epochs (training is deterministic, so they are this run)")
            run.diverged = None
            return run
    print(f"lr {learning_rate:g}, beta_1 {beta_1:g}:", flush=True)
    try:
        run = recipes.train(gan, run_dir, x_train, None, x_val, y_val, epochs=epochs, batch_size=batch_size,
                            snapshot_epochs=list(range(epochs + 1)), score_every=1, score_samples=eval_samples,
                            notebook="04_convergence_analysis", log_every=epochs)
        run.diverged = None
    except training.TrainingDiverged as e:
        if not catch_divergence:
            raise
        print(f"  -> {e}")
        run = training.load_run(run_dir)
        run.diverged = str(e)
    return run


def confidence_summary(history, part=0.2):
    """Mean validation D on generated and real images over the first and the last ``part`` of a run (04)."""
    fake = np.array([h["val_d_fake"] for h in history if h.get("val_d_fake") is not None], dtype=float)
    real = np.array([h["val_d_real"] for h in history if h.get("val_d_real") is not None], dtype=float)
    if len(fake) == 0:
        nan = float("nan")
        return dict(fake_start=nan, fake_end=nan, real_start=nan, real_end=nan, checks=0)
    k = max(1, int(round(len(fake) * part)))
    return dict(fake_start=float(fake[:k].mean()), fake_end=float(fake[-k:].mean()), real_start=float(real[:k].mean()),
                real_end=float(real[-k:].mean()), checks=len(fake))


def figure2_verdict(summary, equilibrium=0.5):
    """One sentence: did D's outputs on generated and real images move toward ``equilibrium``? (04)"""
    parts = []
    for what, a, b in (("generated", summary["fake_start"], summary["fake_end"]),
                       ("real", summary["real_start"], summary["real_end"])):
        toward = abs(b - equilibrium) < abs(a - equilibrium)
        parts.append(f"on {what} digits {a:.3f} -> {b:.3f} ({'toward' if toward else 'away from'} {equilibrium:g})")
    gap_start = summary["real_start"] - summary["fake_start"]
    gap_end = summary["real_end"] - summary["fake_end"]
    closing = "closed" if abs(gap_end) < abs(gap_start) else "did not close"
    return (f"D's mean output {parts[0]}, {parts[1]}; the gap between real and generated {closing} "
            f"({gap_start:.3f} -> {gap_end:.3f}).")


def convergence_ratio(dense_quality, dcgan_quality):
    """When the dense GAN first matches the DCGAN's FID ratio after one epoch (04).

    Returns the DCGAN's epoch-1 value and seconds, the dense GAN's first epoch
    (and seconds) at or below it (None if never) and its best value.
    """
    first = min(dcgan_quality, key=lambda q: q["epoch"])
    target = first["fid_ratio"]
    hit = next((q for q in sorted(dense_quality, key=lambda q: q["epoch"]) if q["fid_ratio"] <= target), None)
    out = dict(dcgan_epoch1=target, dcgan_first_epoch=int(first["epoch"]), dcgan_seconds=first["seconds"],
               dense_best=min(q["fid_ratio"] for q in dense_quality), dense_epoch=None, dense_seconds=None,
               seconds_ratio=None)
    if hit is not None:
        out.update(dense_epoch=int(hit["epoch"]), dense_seconds=hit["seconds"],
                   seconds_ratio=hit["seconds"] / first["seconds"] if first["seconds"] else None)
    return out


def oscillation(history):
    """Standard deviation of D's validation output on generated images over the second half of a run (04)."""
    v = np.array([h["val_d_fake"] for h in history if h.get("val_d_fake") is not None], dtype=float)
    v = v[len(v) // 2:]
    return float(np.std(v)) if len(v) > 1 else float("nan")


def diagnose(run, d_won=0.05, min_share=0.02, min_entropy=3.0):
    """One line naming the failure a run's records show, or "healthy" with its numbers (04).

    Rules, from the saved records: a non-finite or exploding loss (DIVERGED);
    losses frozen over the last 200 iterations with D's outputs at 1/2 (STALLED:
    a dead discriminator passes no gradient, although D = 1/2 looks like the
    equilibrium); D's validation output on generated images below ``d_won`` at
    the last three checks (D HAS WON); the rarest digit under ``min_share`` or
    entropy under ``min_entropy`` bits at the last quality check: MODE COLLAPSE
    if coverage fell from an earlier check, LOW COVERAGE if it never was good
    (an undertrained generator, not yet a collapse).
    """
    flags = []
    for h in run.history:
        if not all(math.isfinite(h[k]) and abs(h[k]) <= training.EXPLODING_LOSS for k in ("d_loss", "g_loss")):
            flags.append(f"DIVERGED at iteration {int(h['iteration'])}")
            break
    tail = run.history[-200:]
    if len(tail) >= 50 and not flags:
        d = np.array([h["d_loss"] for h in tail])
        p = np.array([h["d_fake"] for h in tail] + [h["d_real"] for h in tail])
        if np.std(d) < 1e-4 and np.all(np.abs(p - 0.5) < 0.01):
            flags.append(f"STALLED (D's loss frozen at {d.mean():.3f}, D = 1/2 on everything: a dead discriminator)")
    fake = [h["val_d_fake"] for h in run.history if h.get("val_d_fake") is not None]
    if len(fake) >= 3 and max(fake[-3:]) < d_won:
        flags.append(f"D HAS WON (D(G(z)) {max(fake[-3:]):.3f} at the last checks)")
    q = run.quality[-1] if run.quality else None
    if q is not None and (q["min_share"] < min_share or q["entropy_bits"] < min_entropy):
        best = max(run.quality, key=lambda r: r["min_share"])
        what = (f"MODE COLLAPSE (rarest digit fell from {best['min_share']:.1%} at epoch {int(best['epoch'])} to "
                if best["min_share"] >= max(min_share, 2 * q["min_share"]) and best is not q
                else "LOW COVERAGE (rarest digit ")
        flags.append(what + f"{q['min_share']:.1%}, entropy {q['entropy_bits']:.2f} bits at epoch {int(q['epoch'])})")
    if flags:
        return "; ".join(flags)
    if q is None:
        return "no finite-loss problem; no quality check recorded"
    return (f"healthy: rarest digit {q['min_share']:.1%}, entropy {q['entropy_bits']:.2f} bits, "
            f"FID {q['fid_ratio']:.1f}x floor (n={int(q.get('n_samples') or 0)}) at epoch {int(q['epoch'])}")


def sweep_table(sweep):
    """A text table of a sweep's runs: final quality, oscillation, divergence; plus the best (04)."""
    rows = []
    for label, r in sweep.items():
        q = r.quality[-1] if r.quality else {}
        rows.append((label, q.get("fid_ratio", float("nan")), q.get("min_share", float("nan")),
                     oscillation(r.history), "yes" if getattr(r, "diverged", None) else "no"))
    head = f"{'setting':<24}{'FID/floor':>10}{'min share':>11}{'oscillation':>13}{'diverged':>10}"
    lines = [head, "-" * len(head)]
    lines += [f"{a:<24}{b:>10.1f}{c:>11.3f}{d:>13.3f}{e:>10}" for a, b, c, d, e in rows]
    finite = [r for r in rows if math.isfinite(r[1])]
    best = min(finite, key=lambda r: r[1])[0] if finite else None
    osc = [r for r in rows if math.isfinite(r[3])]
    most = max(osc, key=lambda r: r[3])[0] if osc else None
    return {"text": "\n".join(lines), "rows": rows, "best": best, "most_oscillating": most}


def learning_rate_verdict(sweep, low, high):
    """Sentences comparing the sweep's lowest and highest learning rate at each beta_1 (04).

    ``sweep`` maps labels "lr L, beta_1 B" to runs. Says, from the numbers,
    whether the higher rate oscillated more, ended worse or diverged.
    """
    def key(label):
        lr, b1 = label.replace("lr ", "").split(", beta_1 ")
        return float(lr), float(b1)

    runs = {key(k): r for k, r in sweep.items()}
    out = []
    for b1 in sorted({b for _, b in runs}):
        a, b = runs.get((low, b1)), runs.get((high, b1))
        if a is None or b is None or low == high:
            continue
        fa, fb = a.quality[-1]["fid_ratio"], b.quality[-1]["fid_ratio"]
        oa, ob = oscillation(a.history), oscillation(b.history)
        worse = fb > fa
        noisier = ob > oa
        diverged = bool(getattr(b, "diverged", None))
        agrees = diverged or (worse and noisier)
        out.append(
            f"beta_1 {b1:g}: lr {high:g} {'diverged' if diverged else 'ended ' + ('worse' if worse else 'better')} "
            f"(FID ratio {fb:.1f} vs {fa:.1f}) and oscillated {'more' if noisier else 'less'} ({ob:.3f} vs {oa:.3f}) "
            f"than lr {low:g}: {'consistent with' if agrees else 'does not support'} the report's claim in this run."
        )
    return "\n".join(out)
