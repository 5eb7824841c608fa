"""Scoring generated digits (gan_utils.scoring): the evaluation classifier, FID and its real-data floor, coverage,
label accuracy, precision and recall, the reference points and their cache, and the quality check during training.

Needs MNIST: set MNIST_PATH=/path/to/mnist.npz (or have Keras's cached copy);
otherwise these tests are skipped. The classifier trains once (about 40 s on
2 CPU cores) and is cached in runs/cache (or $GAN_CACHE_DIR).
"""

import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from gan_utils import scoring as ev  # noqa: E402
from gan_utils import seeding  # noqa: E402


def _mnist_file():
    p = os.environ.get("MNIST_PATH") or str(Path("~/.keras/datasets/mnist.npz").expanduser())
    return p if Path(p).is_file() else None


@pytest.fixture(scope="module")
def mnist():
    path = _mnist_file()
    if path is None:
        pytest.skip("MNIST not found: set MNIST_PATH=/path/to/mnist.npz to run the evaluation tests.")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MNIST_PATH", path)
        from gan_utils.data import load_mnist

        yield load_mnist()


@pytest.fixture(scope="module")
def held_out(mnist):
    """2,000 training digits that are not among the 10,000 forming the real-data floor."""
    x_tr, y_tr = mnist[:2]
    order = np.random.default_rng(ev.REFERENCE_SEED).permutation(len(x_tr))[ev.N_REFERENCE : ev.N_REFERENCE + 2000]
    return x_tr[order], y_tr[order].astype(np.int64)


@pytest.fixture(scope="module")
def ref(mnist):
    return ev.reference_points()


# ----------------------------------------------------------------------------- the classifier


def test_classifier_reaches_99_percent_on_test_digits(mnist):
    stats = ev.classifier_stats()
    assert stats["test_accuracy"] >= 0.99, stats
    assert stats["key"] == ev.classifier_key()
    acc = np.mean(ev.predict_digits(mnist[2]) == mnist[3])  # recomputed, not just trusted from the file
    assert acc >= 0.99
    assert abs(acc - stats["test_accuracy"]) < 2e-3


def test_features_accept_uint8_and_unit_range_floats(mnist):
    from gan_utils.data import to_unit_range

    x = mnist[2][:50]
    f8, ff = ev.features(x), ev.features(to_unit_range(x))
    assert f8.shape == (50, ev.CLASSIFIER_CONFIG["feature_dim"]) and f8.dtype == np.float64
    np.testing.assert_allclose(f8, ff, rtol=1e-5, atol=1e-5)
    with pytest.raises(ev.EvaluationError, match=r"\[-1, 1\]"):
        ev.features(x.astype(np.float32))  # 0-255 floats: the classic mistake
    with pytest.raises(ev.EvaluationError, match="shape"):
        ev.features(np.zeros((3, 32, 32), np.uint8))


# ----------------------------------------------------------------------------- reference points


def test_real_digits_sit_at_the_floor_and_noise_far_above(ref, held_out):
    real, noise = ref["real_train"], ref["uniform_noise"]
    assert real["n"] == noise["n"] == 10_000
    assert real["fid_ratio"] == pytest.approx(1.0) and real["fid"] < 2.0
    assert real["min_share"] > 0.08 and real["entropy_bits"] > 3.3 and real["accuracy"] > 0.99
    assert real["precision"] > 0.7 and real["recall"] > 0.7
    assert noise["fid_ratio"] > 20 and noise["fid"] > 50 * real["fid"]
    assert noise["min_share"] < 0.05 and noise["entropy_bits"] < 1.0 and noise["accuracy"] < 0.2
    assert noise["precision"] < 0.3 and noise["recall"] < 0.1
    # Other real digits, never part of the floor, also score as real data.
    s = ev.score(*held_out)
    assert 0.6 < s["fid_ratio"] < 1.5, s
    assert s["accuracy"] > 0.99 and s["min_share"] > 0.07
    assert ev.fid_floor(2000) > ev.fid_floor(10_000)  # FID is biased upward for small samples


def test_reference_points_are_cached_on_disk_and_reused(ref, monkeypatch):
    key = ev.classifier_key()
    # the newest reference file of this classifier: older ones belong to earlier versions of the scoring code
    path = max(ev.paths.cache_dir().glob(f"evaluation_reference_{key}_*.json"), key=lambda p: p.stat().st_mtime_ns)
    mtime = path.stat().st_mtime_ns
    assert ev.reference_points() is ref  # once per process
    monkeypatch.delitem(ev._MEMO, ("reference", key))

    def recomputed(*args, **kwargs):  # not among the functions the cache key hashes, so the key stays
        raise AssertionError("the reference points were recomputed instead of read from the cache")

    monkeypatch.setattr(ev, "_embed", recomputed)
    monkeypatch.setattr(ev, "atomic_write_text", recomputed)
    assert ev.reference_points() == ref
    assert path.stat().st_mtime_ns == mtime
    assert ("reference", key) in ev._MEMO


def test_metrics_table_shows_model_beside_references(ref, held_out):
    table = ev.metrics_table({"my GAN": ev.score(*held_out)})
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["n", "FID", "FID/floor"]
    assert [ln.split("  ")[0].strip() for ln in lines[2:5]] == [
        "my GAN",
        "real train digits (floor)",
        "uniform noise (worst)",
    ]
    assert f"{ref['uniform_noise']['fid']:.2f}" in table


# ----------------------------------------------------------------------------- FID


def test_fid_of_identical_sets_is_zero_and_matches_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3000, 16)) * np.linspace(0.5, 3, 16) + 2
    assert ev.fid(a, a) <= 1e-6 * np.trace(np.cov(a, rowvar=False))
    assert ev.fid(a, ev.feature_stats(a)) == ev.fid(a, a)
    # Gaussians with commuting (diagonal) covariances: |m1 - m2|^2 + sum (s1 - s2)^2.
    m1, m2, s1, s2 = np.zeros(4), np.array([1.0, 0, 0, 2]), np.array([1.0, 2, 3, 4]), np.array([2.0, 2, 1, 4])
    expected = np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2)
    assert ev.fid((m1, np.diag(s1**2)), (m2, np.diag(s2**2))) == pytest.approx(expected, rel=1e-9)
    # Rotating both distributions (non-diagonal covariances now) changes nothing.
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    rot = lambda m, s: (q @ m, q @ np.diag(s**2) @ q.T)  # noqa: E731
    assert ev.fid(rot(m1, s1), rot(m2, s2)) == pytest.approx(expected, rel=1e-8)


def test_fid_grows_monotonically_with_pixel_noise_and_shifts(ref, held_out):
    from gan_utils.data import to_unit_range

    x = to_unit_range(held_out[0][:2000])
    rng = np.random.default_rng(0)
    noisy = [
        ev.score(np.clip(x + s * rng.standard_normal(x.shape), -1, 1), pr_points=0)["fid"]
        for s in (0.0, 0.1, 0.25, 0.5, 1.0)
    ]
    assert all(a < b for a, b in zip(noisy, noisy[1:])), noisy
    shifted = [ev.score(np.roll(x, s, axis=2), pr_points=0)["fid"] for s in (0, 1, 2, 4)]
    assert all(a < b for a, b in zip(shifted, shifted[1:])), shifted


# ----------------------------------------------------------------------------- coverage, accuracy, precision/recall


def test_coverage_and_label_accuracy_by_hand():
    c = ev.coverage(np.full(500, 3))
    assert c["min_share"] == 0 and c["entropy_bits"] == 0 and c["shares"][3] == 1
    c = ev.coverage(np.arange(1000) % 10)
    assert c["min_share"] == pytest.approx(0.1) and c["entropy_bits"] == pytest.approx(np.log2(10))
    acc = ev.label_accuracy(np.array([1, 1, 2, 3]), np.array([1, 2, 2, 2]))
    assert acc["overall"] == 0.5 and acc["per_digit"] == {1: 1.0, 2: pytest.approx(1 / 3)}
    with pytest.raises(ev.EvaluationError, match="same"):
        ev.label_accuracy(np.array([1, 2]), np.array([1]))


def test_one_digit_collapse_is_detected(mnist, ref):
    x_tr, y_tr = mnist[:2]
    threes = x_tr[y_tr == 3][:2000]
    s = ev.score(threes, np.arange(2000) % 10)  # "asked" for every digit, got only 3s
    assert s["min_share"] == 0.0 and s["entropy_bits"] < 0.2 and s["shares"][3] > 0.97
    assert 0.08 < s["accuracy"] < 0.12 and s["accuracy_per_digit"][3] > 0.97 and s["accuracy_per_digit"][5] < 0.03
    assert s["fid_ratio"] > 20  # a collapse is far from the data even though every digit is a fine 3
    assert s["precision"] > 0.5 and s["recall"] < 0.35  # good-looking, but covers little of the data


# ----------------------------------------------------------------------------- the cache


def test_cache_key_follows_the_definition(monkeypatch):
    key = ev.classifier_key()
    assert ev.classifier_key() == key and len(key) == 16
    monkeypatch.setitem(ev.CLASSIFIER_CONFIG, "epochs", ev.CLASSIFIER_CONFIG["epochs"] + 1)
    key_config = ev.classifier_key()
    assert key_config != key
    monkeypatch.undo()
    assert ev.classifier_key() == key

    def _build_classifier(config):  # the same name, another body
        return None

    monkeypatch.setattr(ev, "_build_classifier", _build_classifier)
    assert ev.classifier_key() not in (key, key_config)
    assert ev.classifier_paths()[0].name == f"evaluation_classifier_{ev.classifier_key()}.keras"


def test_cache_is_reused_and_a_broken_cache_is_retrained(monkeypatch, tmp_path, capsys):
    calls = []

    forbidden = []

    def fake_train(config):  # the cache key hashes this function's source, so it is patched once, here
        if forbidden:
            raise AssertionError("the cached classifier was retrained")
        calls.append(dict(config))
        x = keras.Input((28, 28, 1))
        f = keras.layers.Dense(4, name="features")(keras.layers.Flatten()(x))
        return keras.Model(x, keras.layers.Dense(10)(f)), {"test_accuracy": 0.5, "train_seconds": 0.0}

    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(ev, "_MEMO", {})
    monkeypatch.setattr(ev, "_train_classifier", fake_train)
    model_path, stats_path = ev.classifier_paths()
    assert model_path.parent == tmp_path

    ev.evaluation_classifier()
    assert len(calls) == 1 and model_path.is_file() and "Trained the evaluation classifier" in capsys.readouterr().out
    assert json.loads(stats_path.read_text())["key"] == ev.classifier_key()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([model_path.name, stats_path.name])  # no temp files

    mtimes = model_path.stat().st_mtime_ns, stats_path.stat().st_mtime_ns

    ev._MEMO.clear()
    forbidden.append(True)
    assert ev.evaluation_classifier().get_layer("features").units == 4  # loaded from disk, not retrained
    forbidden.clear()
    assert (model_path.stat().st_mtime_ns, stats_path.stat().st_mtime_ns) == mtimes
    assert "Training the evaluation classifier" not in capsys.readouterr().out and len(calls) == 1

    good = model_path.read_bytes()
    for broken in (b"not a zip file", good[: len(good) // 2]):
        model_path.write_bytes(broken)
        ev._MEMO.clear()
        ev.evaluation_classifier()
        assert "could not be read" in capsys.readouterr().out
        assert zipfile.is_zipfile(model_path)
    assert len(calls) == 3

    stats = json.loads(stats_path.read_text())  # a stats file for another definition is not trusted either
    stats_path.write_text(json.dumps({**stats, "key": "0" * 16}))
    ev._MEMO.clear()
    ev.evaluation_classifier()
    assert len(calls) == 4 and "could not be read" in capsys.readouterr().out

    monkeypatch.setitem(ev.CLASSIFIER_CONFIG, "epochs", 99)  # a new definition -> a new file, trained afresh
    ev.evaluation_classifier()
    assert len(calls) == 5 and calls[-1]["epochs"] == 99
    assert len(list(tmp_path.glob("evaluation_classifier_*.keras"))) == 2


def test_building_the_classifier_leaves_global_random_state_alone():
    # seeding.set_seed, not keras.utils.set_random_seed: before Keras 3.13 the latter leaves Keras's global
    # SeedGenerator as it was, so the second unseeded draw would differ whatever the classifier did.
    seeding.set_seed(7)
    a = keras.ops.convert_to_numpy(keras.random.normal((5,))), np.random.random()
    seeding.set_seed(7)
    ev._MEMO.clear()  # the classifier is built again (from its cache on disk)
    ev.evaluation_classifier()
    b = keras.ops.convert_to_numpy(keras.random.normal((5,))), np.random.random()
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]


# ----------------------------------------------------------------------------- the quality check during training


class _TinyGAN(keras.Model):
    """Just enough of a notebook's GAN for the callback: fit runs, the generator never changes."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator
        self.d_optimizer = keras.optimizers.SGD()

    def train_step(self, data):
        self.d_optimizer.iterations.assign_add(1)
        return {"d_loss": 0.0}


class _FakeEpochLog(keras.callbacks.Callback):
    """What EpochLog records before the check runs: 10 s of training per epoch."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        self.run.epoch_log.append({"epoch": epoch + 1, "train_seconds": 10.0 * (epoch + 1)})


def test_quality_check_scores_the_chosen_epochs(mnist, ref, tmp_path, capsys, monkeypatch, tiny_generator):
    from gan_utils import callbacks, records

    real_score = ev.score

    def slow_score(*args, **kwargs):  # each evaluation takes >= 1 s
        time.sleep(1.0)
        return real_score(*args, **kwargs)

    monkeypatch.setattr(ev, "score", slow_score)
    run = records.Run(tmp_path)
    gan = _TinyGAN(tiny_generator(conditional=True))
    gan.compile(run_eagerly=True)
    check = callbacks.QualityCheck(run, gan.generator, epochs=[2, 4], n=200, seed=5)
    gan.fit(np.zeros((8, 1), np.float32), batch_size=4, epochs=4, verbose=0, callbacks=[_FakeEpochLog(run), check])
    assert [r["epoch"] for r in run.quality] == [2, 4]
    assert [r["iteration"] for r in run.quality] == [4, 8]
    assert [r["seconds"] for r in run.quality] == [20.0, 40.0]  # training time only, from the epoch log
    r2, r4 = run.quality
    assert set(ev.QUALITY_KEYS) <= set(r2) and r2["n_samples"] == 200
    assert r2["fid"] == r4["fid"]  # same fixed noise, unchanged generator
    assert r2["accuracy"] is not None and r2["fid_floor"] == pytest.approx(ev.fid_floor(200))
    assert min(r["eval_seconds"] for r in run.quality) >= 1.0
    assert capsys.readouterr().out.count("quality after epoch") == 2
    # the records write it as quality.csv and read it back
    run.save()
    back = records.load_run(tmp_path).quality
    assert [r["epoch"] for r in back] == [2, 4] and back[0]["fid"] == pytest.approx(r2["fid"])

    run_u = records.Run(tmp_path / "u")
    unconditional = _TinyGAN(tiny_generator(conditional=False))
    unconditional.compile(run_eagerly=True)
    check = callbacks.QualityCheck(run_u, unconditional.generator, epochs=[1], n=200)
    unconditional.fit(np.zeros((4, 1), np.float32), batch_size=4, epochs=1, verbose=0, callbacks=[check])
    assert len(run_u.quality) == 1 and run_u.quality[0]["accuracy"] is None
    assert run_u.quality[0]["seconds"] is None  # no EpochLog before it: no training time to report
