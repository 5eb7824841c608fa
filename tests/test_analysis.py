"""analysis: the rules notebook 04 applies to saved runs."""
import math

import pytest

from gan_utils import analysis


class FakeRun:
    def __init__(self, history, quality):
        self.history, self.quality = history, quality


def _history(n=30, fake=0.4, real=0.6, loss=0.7, bad_at=None):
    rows = []
    for i in range(1, n + 1):
        r = {"iteration": i, "d_loss": loss, "g_loss": loss, "val_d_fake": fake, "val_d_real": real}
        if i == bad_at:
            r["d_loss"] = math.nan
        rows.append(r)
    return rows


def _quality(min_share=0.09, entropy=3.31, fid_ratio=3.0):
    return [{"epoch": 1, "seconds": 10.0, "min_share": min_share, "entropy_bits": entropy, "fid_ratio": fid_ratio}]


def test_healthy_run():
    assert analysis.diagnose(FakeRun(_history(), _quality())).startswith("healthy")


def test_divergence_is_named_with_its_iteration():
    assert "DIVERGED at iteration 7" in analysis.diagnose(FakeRun(_history(bad_at=7), _quality()))


def test_collapse_is_seen_in_the_digit_shares_not_the_losses():
    q = _quality() + [dict(_quality(min_share=0.001, entropy=1.2)[0], epoch=2)]
    verdict = analysis.diagnose(FakeRun(_history(), q))
    assert "MODE COLLAPSE" in verdict and "fell from 9.0%" in verdict and "DIVERGED" not in verdict
    # never covered the digits: an undertrained generator, not a collapse
    assert "LOW COVERAGE" in analysis.diagnose(FakeRun(_history(), _quality(min_share=0.001, entropy=1.2)))


def test_dead_discriminator_is_stalled_not_healthy():
    h = _history(n=300, loss=1.3863)
    for r in h:
        r["d_fake"] = r["d_real"] = 0.5
    assert "STALLED" in analysis.diagnose(FakeRun(h, _quality()))


def test_discriminator_winning():
    assert "D HAS WON" in analysis.diagnose(FakeRun(_history(fake=0.01), _quality()))


def test_confidence_summary_and_oscillation():
    h = _history(n=10)
    for i, r in enumerate(h):
        r["val_d_fake"] = 0.1 + 0.04 * i
    s = analysis.confidence_summary(h, part=0.2)
    assert s["fake_start"] == pytest.approx(0.12) and s["fake_end"] == pytest.approx((0.42 + 0.46) / 2)
    v = analysis.figure2_verdict(dict(fake_start=0.2, fake_end=0.4, real_start=0.9, real_end=0.6))
    assert "0.200 -> 0.400 (toward 0.5)" in v and "gap between real and generated closed" in v
    assert analysis.oscillation(_history()) == pytest.approx(0.0, abs=1e-12)
    assert analysis.oscillation(h) > 0.0


def test_convergence_ratio():
    dcgan = [{"epoch": 1, "seconds": 40.0, "fid_ratio": 10.0}, {"epoch": 2, "seconds": 80.0, "fid_ratio": 5.0}]
    dense = [{"epoch": e, "seconds": 2.0 * e, "fid_ratio": 100.0 / e} for e in range(1, 31)]
    r = analysis.convergence_ratio(dense, dcgan)
    assert r["dense_epoch"] == 10 and r["dense_seconds"] == 20.0 and r["seconds_ratio"] == pytest.approx(0.5)
    never = analysis.convergence_ratio(dense[:5], dcgan)
    assert never["dense_epoch"] is None and never["dense_best"] == pytest.approx(20.0)


def test_sweep_table_names_the_best_and_the_most_oscillating():
    calm, wild = FakeRun(_history(), _quality(fid_ratio=2.0)), FakeRun(_history(), _quality(fid_ratio=9.0))
    for i, r in enumerate(wild.history):
        r["val_d_fake"] = 0.9 if i % 2 else 0.1
    t = analysis.sweep_table({"lr 0.0002": calm, "lr 0.001": wild})
    assert t["best"] == "lr 0.0002" and t["most_oscillating"] == "lr 0.001"
    assert "lr 0.001" in t["text"]


def test_learning_rate_verdict_follows_the_numbers():
    calm = FakeRun(_history(), _quality(fid_ratio=2.0))
    wild = FakeRun(_history(), _quality(fid_ratio=9.0))
    for i, r in enumerate(wild.history):
        r["val_d_fake"] = 0.9 if i % 2 else 0.1
    v = analysis.learning_rate_verdict({"lr 0.0002, beta_1 0.5": calm, "lr 0.001, beta_1 0.5": wild}, 0.0002, 0.001)
    assert "ended worse" in v and "consistent with" in v
    v = analysis.learning_rate_verdict({"lr 0.0002, beta_1 0.5": wild, "lr 0.001, beta_1 0.5": calm}, 0.0002, 0.001)
    assert "ended better" in v and "does not support" in v


def test_first_epochs_of_a_longer_run_are_a_shorter_run(tmp_path):
    import numpy as np

    from gan_utils import recipes

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (640, 28, 28), dtype=np.uint8)
    kw = dict(epochs=None, batch_size=64, snapshot_epochs=[0, 1, 2, 3], score_every=0, val_every=5)

    def train(folder, epochs):
        gan = recipes.dense_gan(seed=1)
        recipes.train(gan, tmp_path / folder, x, None, x[:100], **dict(kw, epochs=epochs))
        return analysis._settings(gan, 64, x)

    settings = train("long", 3)
    prefix = analysis.first_epochs_of(tmp_path / "long", settings, 2)
    train("short", 2)
    from gan_utils import training

    short = training.load_run(tmp_path / "short")
    assert [r["d_loss"] for r in prefix.history] == [r["d_loss"] for r in short.history]
    np.testing.assert_array_equal(prefix.snapshots[2], short.snapshots[2])
    assert analysis.first_epochs_of(tmp_path / "long", dict(settings, LEARNING_RATE=0.001), 2) is None
    assert analysis.first_epochs_of(tmp_path / "long", settings, 5) is None  # longer than the run
