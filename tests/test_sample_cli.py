"""The sampling and scoring command lines (gan_utils.sample, gan_utils.evaluate).

Tiny generators (z -> Dense(784, tanh) -> 28x28x1) stand in for trained ones.
The evaluate tests need MNIST (MNIST_PATH) and are skipped without it.
"""

import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from gan_utils import sample, sampling  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gens(tmp_path_factory, tiny_generator):
    d = tmp_path_factory.mktemp("generators")
    paths = {"cond": d / "cond.keras", "uncond": d / "uncond.keras", "clf": d / "classifier.keras"}
    tiny_generator(True).save(paths["cond"])
    tiny_generator(False).save(paths["uncond"])
    x = keras.Input((28, 28, 1))
    keras.Model(x, keras.layers.Dense(10)(keras.layers.Flatten()(x))).save(paths["clf"])  # not a generator
    good = paths["cond"].read_bytes()
    paths["truncated"] = d / "truncated.keras"
    paths["truncated"].write_bytes(good[: len(good) // 2])
    paths["text"] = d / "text.keras"
    paths["text"].write_text("hello")
    paths["zip"] = d / "other.keras"  # a zip archive, but not a Keras model
    with zipfile.ZipFile(paths["zip"], "w") as z:
        z.writestr("readme.txt", "hello")
    return paths


def _run(module, *args, env=None):
    e = dict(os.environ, **(env or {}))
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), e.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], cwd=ROOT, env=e, capture_output=True, text=True, timeout=900
    )


def _main_exit(capsys, *args):
    """Run ``sample.main`` in-process; returns (exit code, stderr)."""
    with pytest.raises(SystemExit) as e:
        sample.main([str(a) for a in args])
    return e.value.code, capsys.readouterr().err


# ----------------------------------------------------------------------------- sampling


def test_sample_cli_conditional_writes_labelled_npz(gens, tmp_path):
    out = tmp_path / "s.npz"
    r = _run("gan_utils.sample", gens["cond"], "--per-class", 4, "--seed", 3, "--out", out)
    assert r.returncode == 0, r.stderr
    assert "Wrote 40 samples" in r.stdout and len(r.stdout.strip().splitlines()) == 1
    with np.load(out, allow_pickle=False) as f:
        assert sorted(f.files) == ["images", "labels"]
        images, labels = f["images"], f["labels"]
    assert images.dtype == np.uint8 and images.shape == (40, 28, 28)
    assert labels.dtype == np.int64 and labels.tolist() == [d for d in range(10) for _ in range(4)]
    assert images.min() < 60 and images.max() > 190  # 0-255, not [-1, 1]
    # The same seed in Python gives the same images; a different seed others.
    gen = sampling.load_generator(gens["cond"])
    np.testing.assert_array_equal(sampling.generate(gen, labels=labels, seed=3), images)
    assert not np.array_equal(sampling.generate(gen, labels=labels, seed=4), images)
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no temporary file left behind


def test_sample_cli_unconditional_and_same_seed_same_images(gens, tmp_path, capsys):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert sample.main([str(gens["uncond"]), "--n", "7", "--out", str(a)]) == 0
    assert sample.main([str(gens["uncond"]), "--n", "7", "--seed", "0", "--out", str(b)]) == 0
    with np.load(a) as fa, np.load(b) as fb:
        assert fa.files == ["images"] and fa["images"].shape == (7, 28, 28) and fa["images"].dtype == np.uint8
        np.testing.assert_array_equal(fa["images"], fb["images"])
    assert capsys.readouterr().out.count("Wrote 7 samples") == 2


def test_generate_checks_its_arguments(gens):
    cond, uncond = sampling.load_generator(gens["cond"]), sampling.load_generator(gens["uncond"])
    with pytest.raises(ValueError, match="conditional: pass labels"):
        sampling.generate(cond, n=10)
    with pytest.raises(ValueError, match="unconditional"):
        sampling.generate(uncond, n=10, labels=np.zeros(10, int))
    with pytest.raises(ValueError, match="digits 0-9"):
        sampling.generate(cond, labels=np.array([3, 10]))
    with pytest.raises(ValueError, match="n = 0"):
        sampling.generate(uncond, n=0)
    x = sampling.generate(uncond, n=1200, seed=1, batch_size=500)  # batches of 500, 500, 200
    np.testing.assert_array_equal(x[:10], sampling.generate(uncond, n=10, seed=1))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--per-class", "0"], "must be a whole number >= 1"),
        (["--per-class", "-3"], "must be a whole number >= 1"),
        (["--per-class", "ten"], "not a whole number"),
        (["--n", "5", "--per-class", "5"], "not allowed with argument"),
        ([], "one of the arguments --per-class --n is required"),
        (["--per-class", "5", "--seed", "-1"], "must be >= 0"),
        (["--per-class", "5", "--out", "{tmp}/samples.txt"], "must end in .npz"),
        (["--per-class", "5", "--out", "{tmp}/no/such/folder/s.npz"], "does not exist"),
        (["--per-class", "5", "--out", "{tmp}/a_file/s.npz"], "does not exist (or is not a folder)"),
        (["--n", "5"], "conditional generator: use --per-class"),
    ],
)
def test_sample_cli_refuses_bad_arguments(gens, tmp_path, capsys, args, message):
    (tmp_path / "a_file").write_text("x")
    args = [a.format(tmp=tmp_path) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "s.npz")]
    code, err = _main_exit(capsys, gens["cond"], *args)
    assert code == 2 and message in err, err
    assert not (tmp_path / "s.npz").exists()


@pytest.mark.parametrize(
    "which, args, message",
    [
        ("uncond", ["--per-class", "5"], "unconditional generator (no label input): use --n"),
        (
            "clf",
            ["--n", "5"],
            "is not a generator of this series: it has inputs [(None, 28, 28, 1)] and outputs [(None, 10)]",
        ),
        ("truncated", ["--n", "5"], "truncated"),
        ("zip", ["--n", "5"], "could not be loaded as a Keras model"),
        ("text", ["--n", "5"], "not a Keras model file (not a zip archive"),
        ("missing", ["--n", "5"], "Generator file not found"),
    ],
)
def test_sample_cli_refuses_wrong_generator_files(gens, tmp_path, capsys, which, args, message):
    path = gens.get(which, tmp_path / "missing.keras")
    code, err = _main_exit(capsys, path, *args, "--out", tmp_path / "s.npz")
    assert code == 2 and message in err, err


def test_sample_cli_errors_exit_2_without_traceback(gens, tmp_path):
    r = _run("gan_utils.sample", gens["clf"], "--n", 5, "--out", tmp_path / "s.npz")
    assert r.returncode == 2 and "not a generator of this series" in r.stderr and "Traceback" not in r.stderr
    r = _run("gan_utils.sample", gens["cond"], "--per-class", 0, "--out", tmp_path / "s.npz")
    assert r.returncode == 2 and "--per-class" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- scoring


@pytest.fixture(scope="module")
def mnist_env():
    path = os.environ.get("MNIST_PATH") or str(Path("~/.keras/datasets/mnist.npz").expanduser())
    if not Path(path).is_file():
        pytest.skip("MNIST not found: set MNIST_PATH=/path/to/mnist.npz to run the evaluate tests.")
    from gan_utils.data import load_mnist

    return {"MNIST_PATH": path}, load_mnist(path)


def test_evaluate_cli_prints_one_json_object(mnist_env, tmp_path):
    env, (_, _, x_te, y_te) = mnist_env
    path = tmp_path / "real.npz"
    np.savez_compressed(path, images=x_te[:300], labels=y_te[:300].astype(np.int64))
    r = _run("gan_utils.evaluate", path, env=env)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)  # stdout is nothing but the JSON object
    assert result["n"] == 300 and set(result["reference"]) == {"real_train", "uniform_noise"}
    model = result["model"]
    for key in ("fid", "fid_floor", "fid_ratio", "min_share", "entropy_bits", "accuracy", "precision", "recall"):
        assert isinstance(model[key], float), key
    assert model["accuracy"] > 0.95 and model["fid_ratio"] < 2 and len(model["shares"]) == 10
    assert set(model["accuracy_per_digit"]) == {str(d) for d in range(10)}
    assert result["reference"]["uniform_noise"]["fid_ratio"] > 20
    assert result["classifier"]["test_accuracy"] >= 0.99


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"pictures": np.zeros((20, 28, 28), np.uint8)}, "no 'images'"),
        ({"images": np.zeros((20, 28, 28), np.float32)}, "expected uint8"),
        ({"images": np.zeros((20, 32, 32), np.uint8)}, "expected uint8 of shape (N, 28, 28)"),
        ({"images": np.zeros((20, 28, 28), np.uint8), "labels": np.zeros(19, np.int64)}, "one digit per image"),
        ({"images": np.zeros((20, 28, 28), np.uint8), "labels": np.full(20, 12)}, "digits are 0-9"),
        (
            {"images": np.zeros((20, 28, 28), np.uint8), "labels": np.array([None] * 20, dtype=object)},
            "pickled Python objects",
        ),
        ({"images": np.zeros((3, 28, 28), np.uint8)}, "at least 10"),
    ],
)
def test_evaluate_refuses_bad_files(tmp_path, capsys, arrays, message):
    from gan_utils import evaluate

    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(SystemExit) as e:
        evaluate.main([str(path)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err, err


def test_evaluate_cli_bad_file_exits_2_without_traceback(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    r = _run("gan_utils.evaluate", path)
    assert r.returncode == 2 and r.stdout == "" and "not a readable .npz" in r.stderr and "Traceback" not in r.stderr
    r = _run("gan_utils.evaluate", tmp_path / "missing.npz")
    assert r.returncode == 2 and "file not found" in r.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        (b"hello\n", "is not an .npz archive"),
        (b"", "is empty, not an .npz archive"),
        (pickle.dumps({"images": [0] * 10}), "is a pickled Python object, which is refused"),
    ],
)
def test_evaluate_names_what_a_non_npz_file_is(tmp_path, content, message):
    path = tmp_path / "samples.npz"
    path.write_bytes(content)
    r = _run("gan_utils.evaluate", path)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr, r.stderr
    assert message in r.stderr and r.stderr.count("\n") == 1, r.stderr
