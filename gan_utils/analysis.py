"""Small rules that notebook 04 applies to the records of saved runs (taught in 04_convergence_analysis).

Every function takes records as ``records.load_run`` returns them (lists of
dicts) and trains nothing. D's *confidence* is what the report's Figure 2
plots: 1 - D(G(z)) on generated digits, D(x) on real ones.
"""
import math

import numpy as np

from .plotting import smooth

EXPLODING_LOSS = 1e3  # the limit callbacks.History stops a run at


def confidence(history):
    """(iterations, confidence on generated 1 - D(G(z)), confidence on real D(x)) at the validation checks."""
    rows = [h for h in history if h.get("val_d_fake") is not None and h.get("val_d_real") is not None]
    it, fake, real = (np.array([h[k] for h in rows], dtype=float) for k in ("iteration", "val_d_fake", "val_d_real"))
    return it, 1.0 - fake, real


def confidence_summary(history, part=0.2):
    """Mean confidence on generated and on real digits over the first and the last ``part`` of the checks,
    with the iterations those means cover (to draw them on Figure 2)."""
    it, fake, real = confidence(history)
    if len(it) == 0:
        nan = float("nan")
        return dict(fake_start=nan, fake_end=nan, real_start=nan, real_end=nan, checks=0, start=(nan, nan),
                    end=(nan, nan))
    k = max(1, int(round(len(it) * part)))
    return dict(fake_start=float(fake[:k].mean()), fake_end=float(fake[-k:].mean()), real_start=float(real[:k].mean()),
                real_end=float(real[-k:].mean()), checks=len(it), start=(it[0], it[k - 1]), end=(it[-k], it[-1]))


def figure2_verdict(summary, label_smoothing=0.0):
    """One sentence: did D's confidence on generated and on real digits sink toward its equilibrium?

    With one-sided label smoothing s the equilibria are 1/2 + s/2 (generated) and 1/2 - s/2 (real). The
    separation D(x) - D(G(z)) = conf_real + conf_fake - 1 is 0 at equilibrium, whatever s is.
    """
    s, parts = float(label_smoothing), []
    for what, a, b, eq in (("generated", summary["fake_start"], summary["fake_end"], 0.5 + s / 2),
                           ("real", summary["real_start"], summary["real_end"], 0.5 - s / 2)):
        toward = "toward" if abs(b - eq) < abs(a - eq) else "away from"
        parts.append(f"on {what} digits {a:.2f} -> {b:.2f}, {toward} its equilibrium {eq:.2f}")
    sep = [summary["real_start"] + summary["fake_start"] - 1, summary["real_end"] + summary["fake_end"] - 1]
    closing = "shrank" if abs(sep[1]) < abs(sep[0]) else "did not shrink"
    return (f"D's confidence {parts[0]}; {parts[1]}; the separation D(x) - D(G(z)) {closing} "
            f"({sep[0]:.2f} -> {sep[1]:.2f}; 0 at equilibrium).")


def convergence_ratio(dense_quality, dcgan_quality):
    """When the dense GAN first matches the DCGAN's FID ratio after its first scored epoch.

    Returns that value and its seconds, the dense GAN's first epoch (and seconds) at or below it (None if
    never), its best value and the ratio of seconds.
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


def oscillation(history, window=5):
    """How much D's confidence on generated digits swings from check to check: the standard deviation of
    the validation points around their moving average (``window`` checks), over the second half of a run.

    A steady drift toward 1/2 is not oscillation and scores about 0; NaN with fewer than 4 checks.
    """
    _, fake, _ = confidence(history)
    if len(fake) < 4:
        return float("nan")
    wiggle = (fake - smooth(fake, window))[len(fake) // 2:]
    return float(np.std(wiggle))


def final_quality(run):
    """The run's final scores: metrics.json if written, else its last quality check, else {}."""
    if getattr(run, "metrics", None) and "fid_ratio" in run.metrics:
        return run.metrics
    return run.quality[-1] if run.quality else {}


def diagnose(run, d_won=0.05, min_share=0.02, min_entropy=3.0):
    """One line naming the failure a run's records show, or "healthy" with its numbers.

    DIVERGED: a non-finite or exploding loss. STALLED: losses frozen over the last 200 iterations with D at
    1/2 on everything (a dead discriminator passes no gradient). D HAS WON: D(G(z)) below ``d_won`` at the
    last three checks. At the last quality check, the rarest digit under ``min_share`` or entropy under
    ``min_entropy`` bits: MODE COLLAPSE if coverage fell from an earlier check, else LOW COVERAGE.
    """
    flags = []
    bad = next((h for h in run.history if not all(math.isfinite(h[k]) and abs(h[k]) <= EXPLODING_LOSS
                                                  for k in ("d_loss", "g_loss"))), None)
    if bad is not None:
        flags.append(f"DIVERGED at iteration {int(bad['iteration'])}")
    tail = run.history[-200:]
    if len(tail) >= 50 and not flags and all("d_fake" in h for h in tail):
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
        fell = best is not q and best["min_share"] >= max(min_share, 2 * q["min_share"])
        flags.append((f"MODE COLLAPSE (rarest digit fell from {best['min_share']:.1%} at epoch {int(best['epoch'])} to "
                      if fell else "LOW COVERAGE (rarest digit ") +
                     f"{q['min_share']:.1%}, entropy {q['entropy_bits']:.2f} bits at epoch {int(q['epoch'])})")
    if flags:
        return "; ".join(flags)
    if q is None:
        return "no finite-loss problem; no quality check recorded"
    return (f"healthy: rarest digit {q['min_share']:.1%}, entropy {q['entropy_bits']:.2f} bits, "
            f"FID {q['fid_ratio']:.1f}x floor (n={int(q.get('n_samples') or 0)}) at epoch {int(q['epoch'])}")


def sweep_table(sweep):
    """A text table of sweep runs (label -> run): final FID ratio, its n, rarest digit, oscillation, divergence;
    with the label of the best final FID ratio and of the most oscillating run."""
    rows = []
    for label, r in sweep.items():
        q = final_quality(r)
        rows.append((label, q.get("fid_ratio", math.nan), q.get("n", q.get("n_samples")), q.get("min_share", math.nan),
                     oscillation(r.history), "yes" if getattr(r, "diverged", None) else "no"))
    width = max([len("setting")] + [len(r[0]) for r in rows]) + 2
    head = f"{'setting':<{width}}{'FID/floor':>10}{'n':>7}{'min share':>11}{'oscillation':>13}{'diverged':>10}"
    lines = [head, "-" * len(head)] + [f"{a:<{width}}{b:>10.1f}{str(n or '-'):>7}{c:>11.3f}{d:>13.3f}{e:>10}"
                                       for a, b, n, c, d, e in rows]
    finite = [r for r in rows if math.isfinite(r[1])]
    osc = [r for r in rows if math.isfinite(r[4])]
    return {"text": "\n".join(lines), "rows": rows, "best": min(finite, key=lambda r: r[1])[0] if finite else None,
            "most_oscillating": max(osc, key=lambda r: r[4])[0] if osc else None}


def learning_rate_verdict(model, low_run, high_run, low, high):
    """One sentence for ``model`` (its name and recipe): did the higher rate oscillate more and end worse, or
    diverge, as the report says of 0.001 against 0.0002?"""
    diverged = bool(getattr(high_run, "diverged", None))
    fa, fb = final_quality(low_run).get("fid_ratio", math.nan), final_quality(high_run).get("fid_ratio", math.nan)
    oa, ob = oscillation(low_run.history), oscillation(high_run.history)
    worse, noisier = fb > fa, ob > oa
    agrees = diverged or (worse and noisier)
    return (f"{model}: lr {high:g} {'diverged' if diverged else 'ended ' + ('worse' if worse else 'better')} "
            f"(FID ratio {fb:.1f} vs {fa:.1f}) and oscillated {'more' if noisier else 'less'} ({ob:.3f} vs {oa:.3f}) "
            f"than lr {low:g}: {'consistent with' if agrees else 'does not support'} the report's claim in this run.")
