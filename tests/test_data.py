import os

import numpy as np
import pytest

from gan_utils import data
from gan_utils.data import MnistDataError


def _fake(n_train=64, n_test=32, **over):
    rng = np.random.default_rng(0)
    arrays = dict(
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train).astype(np.uint8),
        x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, n_test).astype(np.uint8),
    )
    arrays.update(over)
    return arrays


def _write(tmp_path, name="mnist.npz", **over):
    p = tmp_path / name
    np.savez(p, **_fake(**over))
    return p


def test_reads_a_valid_file(tmp_path):
    x_tr, y_tr, x_te, y_te = data.load_mnist(_write(tmp_path))
    assert x_tr.shape == (64, 28, 28) and x_tr.dtype == np.uint8
    assert y_tr.shape == (64,) and x_te.shape == (32, 28, 28) and y_te.shape == (32,)


def test_explicit_path_wins_over_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(data.MNIST_PATH_VAR, str(tmp_path / "nowhere.npz"))
    x_tr, *_ = data.load_mnist(_write(tmp_path))
    assert len(x_tr) == 64


def test_environment_variable_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv(data.MNIST_PATH_VAR, str(_write(tmp_path, n_train=40)))
    assert len(data.load_mnist()[0]) == 40


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(MnistDataError, match="not found.*MNIST_PATH"):
        data.load_mnist(tmp_path / "missing.npz")


def test_corrupt_file(tmp_path):
    good = _write(tmp_path).read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(MnistDataError, match="not a readable .npz"):
        data.load_mnist(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file at all")
    with pytest.raises(MnistDataError, match="MNIST_PATH"):
        data.load_mnist(junk)


@pytest.mark.parametrize(
    "over, message",
    [
        (dict(x_train=np.zeros((64, 32, 32), np.uint8)), "shape"),
        (dict(x_train=np.zeros((64, 28, 28), np.float32)), "uint8"),
        (dict(y_train=np.zeros(63, np.uint8)), "one digit per image"),
        (dict(y_test=np.full(32, 12, np.uint8)), "0-9"),
    ],
)
def test_wrong_layout(tmp_path, over, message):
    with pytest.raises(MnistDataError, match=message):
        data.load_mnist(_write(tmp_path, **over))


def test_missing_keys(tmp_path):
    p = tmp_path / "partial.npz"
    np.savez(p, x_train=np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(MnistDataError, match="missing arrays"):
        data.load_mnist(p)


def test_pickled_object_arrays_are_refused(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > /dev/null",))

    arrays = _fake()
    arrays["x_train"] = np.array([Boom()], dtype=object)
    p = tmp_path / "evil.npz"
    np.savez(p, **arrays)
    with pytest.raises(MnistDataError, match="pickled"):
        data.load_mnist(p)


def test_no_network_gives_clear_message(monkeypatch):
    import keras

    monkeypatch.delenv(data.MNIST_PATH_VAR, raising=False)

    def offline():
        raise Exception("URL fetch failure on https://...: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(MnistDataError, match="could not download MNIST.*MNIST_PATH"):
        data.load_mnist()


def test_scaling_round_trip():
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16).repeat(1, 0)
    x = np.resize(np.arange(256, dtype=np.uint8), (2, 28, 28))
    u = data.to_unit_range(x)
    assert u.shape == (2, 28, 28, 1) and u.dtype == np.float32
    assert u.min() == -1.0 and u.max() == 1.0
    np.testing.assert_array_equal(data.to_uint8(u), x)


def test_batches_are_deterministic_per_epoch_and_cover_the_data():
    x = np.resize(np.arange(100, dtype=np.uint8), (100, 28, 28))
    x[:, 0, 0] = np.arange(100)
    y = np.arange(100) % 10
    ds, steps = data.training_batches(x, y, batch_size=10, seed=3, epochs=3)
    assert steps == 10
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 30
    xb, yb = batches[0]
    assert xb.shape == (10, 28, 28, 1) and yb.shape == (10, 10)
    ids = [np.rint((b[0][:, 0, 0, 0] + 1) * 127.5).astype(int) for b in batches]
    epoch0 = np.concatenate(ids[:10])
    assert sorted(epoch0) == list(range(100))  # every image once per epoch
    assert not np.array_equal(epoch0, np.concatenate(ids[10:20]))  # reshuffled each epoch
    # labels travel with their images
    for (_, yb), i in zip(batches, ids):
        np.testing.assert_array_equal(yb.argmax(1), i % 10)
    # starting at epoch 2 gives exactly the batches of epoch 2
    ds2, _ = data.training_batches(x, y, batch_size=10, seed=3, epochs=3, start_epoch=2)
    later = [np.rint((b[0][:, 0, 0, 0] + 1) * 127.5).astype(int) for b in ds2.as_numpy_iterator()]
    np.testing.assert_array_equal(np.concatenate(later), np.concatenate(ids[20:30]))


def test_batch_larger_than_data_is_refused():
    with pytest.raises(ValueError, match="larger than"):
        data.training_batches(np.zeros((5, 28, 28), np.uint8), batch_size=10)


def test_real_mnist_file(mnist):
    x_tr, y_tr, x_te, y_te = mnist
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28)
    assert np.bincount(y_tr, minlength=10).min() > 5000


def test_a_file_is_read_once_per_process_and_shared_read_only(tmp_path):
    p = _write(tmp_path)
    first = data.load_mnist(p)
    assert data.load_mnist(p) is first  # notebooks and the metrics share one copy
    with pytest.raises(ValueError, match="read-only"):
        first[0][0, 0, 0] = 1
    import os as _os

    np.savez(p, **_fake(n_train=40))
    _os.utime(p, ns=(1, 1))  # a replaced file is read again
    assert len(data.load_mnist(p)[0]) == 40
