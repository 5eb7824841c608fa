"""The evaluation classifier and sample-quality metrics (02_dense_gan, 03, 04): a small CNN trained once (cached
under a hash of its definition) whose ``features`` layer is the space for FID and precision/recall and whose
predictions give coverage and label accuracy; ``fid_ratio`` is FID over that of as many real training digits."""

import hashlib
import inspect
import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np
from keras import layers

from . import data as gdata
from . import paths
from .atomic import atomic_write_text

NUM_CLASSES = 10
N_REFERENCE = 10_000  # test digits for the reference statistics; training / noise images for the reference points
REFERENCE_SEED, NOISE_SEED, PR_SEED = 0, 1, 2  # the floor's training digits, the noise images, precision/recall
CLASSIFIER_CONFIG = {
    "seed": 20_241,
    "filters": (32, 64),
    "feature_dim": 128,
    "dropout": 0.25,
    "epochs": 4,
    "batch_size": 128,
    "learning_rate": 2e-3,
}  # Adam, cosine-decayed to 0 over the run
_MEMO = {}  # in-process caches, keyed by the classifier's key (tests clear it)


class EvaluationError(ValueError):
    """Images, labels or features that the metrics cannot score."""


def _memo(name, make, *args):
    """``make()``, computed once per classifier definition (and ``args``)."""
    key = (name, classifier_key(), *args)
    if key not in _MEMO:
        _MEMO[key] = make()
    return _MEMO[key]


def _build_classifier(config):
    """The evaluation CNN: logits out, the ``features`` layer is the feature space."""
    seed = config["seed"]
    init = lambda i: keras.initializers.GlorotUniform(seed=seed + i)  # noqa: E731
    f1, f2 = config["filters"]
    x = inp = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(f1, 3, activation="relu", kernel_initializer=init(1))(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(f2, 3, activation="relu", kernel_initializer=init(2))(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(config["dropout"], seed=seed + 3)(x)
    x = layers.Dense(config["feature_dim"], activation="relu", kernel_initializer=init(4), name="features")(x)
    x = layers.Dropout(config["dropout"], seed=seed + 5)(x)
    out = layers.Dense(NUM_CLASSES, kernel_initializer=init(6), name="logits")(x)
    return keras.Model(inp, out, name="evaluation_classifier")


def _train_classifier(config):
    """Train on the 60,000 training digits; ``(model, stats)``. Every random draw has its own seed (initializers,
    dropout, epoch order), so a notebook's seeded run is the same whether or not the classifier was cached."""
    x_tr, y_tr, x_te, y_te = gdata.load_mnist()
    model = _build_classifier(config)
    steps = config["epochs"] * math.ceil(len(x_tr) / config["batch_size"])
    lr = keras.optimizers.schedules.CosineDecay(config["learning_rate"], steps)
    model.compile(keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = gdata.to_unit_range(x_tr), y_tr.astype(np.int64)
    rng = np.random.default_rng(config["seed"])
    start = time.perf_counter()
    for _ in range(config["epochs"]):
        order = rng.permutation(len(x))
        model.fit(x[order], y[order], batch_size=config["batch_size"], epochs=1, shuffle=False, verbose=0)
    seconds = time.perf_counter() - start
    pred = model.predict(gdata.to_unit_range(x_te), batch_size=1000, verbose=0).argmax(axis=1)
    return model, {"test_accuracy": float(np.mean(pred == y_te)), "train_seconds": round(seconds, 1)}


def classifier_key():
    """A hash of the classifier's definition (builder and trainer source, config): its cache file's key (02)."""
    text = "".join(inspect.getsource(f) for f in (_build_classifier, _train_classifier))
    text += json.dumps(CLASSIFIER_CONFIG, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def classifier_paths(key=None):
    """``(model_path, stats_path)`` of the cached classifier in ``paths.cache_dir()`` (02)."""
    stem = paths.cache_dir() / f"evaluation_classifier_{key or classifier_key()}"
    return stem.with_suffix(".keras"), stem.with_suffix(".json")


def _load_or_train():
    """``(model, stats)`` from the cache, else trained in float32 and cached; an unreadable cache is retrained."""
    key = classifier_key()
    model_path, stats_path = classifier_paths(key)
    if model_path.exists() or stats_path.exists():
        try:
            stats = json.loads(stats_path.read_text())
            if stats.get("key") != key:
                raise ValueError(f"{stats_path.name} is for key {stats.get('key')!r}, not {key!r}")
            model = keras.saving.load_model(model_path, compile=False)
            model.get_layer("features")  # raises ValueError if this is some other model
            return model, stats
        except Exception as e:  # any unreadable cache is rebuilt, never trusted
            print(
                f"Evaluation classifier cache {model_path.name} could not be read "
                f"({type(e).__name__}: {str(e)[:150]}); retraining.",
                flush=True,
            )
    print("Training the evaluation classifier once (about a minute on a 2-core CPU; cached afterwards) ...", flush=True)
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # whatever precision the GANs train in
    try:
        model, stats = _train_classifier(CLASSIFIER_CONFIG)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    stats.update(
        key=key, config=CLASSIFIER_CONFIG, keras=keras.__version__, trained=time.strftime("%Y-%m-%d %H:%M:%S %Z")
    )
    atomic_write_text(stats_path, json.dumps(stats, indent=2, default=str))  # creates the folder too
    tmp = model_path.with_name(f"{model_path.stem}.tmp-{os.getpid()}.keras")
    model.save(tmp)
    os.replace(tmp, model_path)
    print(
        f"Trained the evaluation classifier in {stats['train_seconds']:.0f} s: test accuracy "
        f"{stats['test_accuracy']:.2%} (cached in {model_path}).",
        flush=True,
    )
    return model, stats


def evaluation_classifier():
    """The evaluation classifier (a Keras model giving logits), trained once and cached (02)."""
    return _memo("classifier", _load_or_train)[0]


def classifier_stats():
    """The cached classifier's record: test accuracy, training seconds, key, config (02)."""
    return dict(_memo("classifier", _load_or_train)[1])


def _embed(images):
    """(features float64 (N, d), predicted digits int64 (N,)) of uint8 or [-1, 1] float digits, in one pass."""
    x = np.asarray(images)
    x = x[..., 0] if x.ndim == 4 and x.shape[-1] == 1 else x
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        raise EvaluationError(f"images have shape {x.shape}; pass digits (N, 28, 28) or (N, 28, 28, 1), N >= 1.")
    x = gdata.to_unit_range(x)[..., 0] if x.dtype == np.uint8 else x
    if not np.issubdtype(x.dtype, np.floating):
        raise EvaluationError(f"images have dtype {x.dtype}; pass uint8 digits (0-255) or floats in [-1, 1].")
    if not -1.01 <= x.min() <= x.max() <= 1.01:  # NaN fails too
        raise EvaluationError(
            f"float images range from {x.min():.3g} to {x.max():.3g}; floats must be in [-1, 1] "
            "(the generator's tanh output; NaN: did training diverge?). Pass 0-255 digits as uint8."
        )
    clf = evaluation_classifier()
    embedder = _memo("embedder", lambda: keras.Model(clf.inputs, [clf.get_layer("features").output, clf.outputs[0]]))
    feats, logits = embedder.predict(x.astype(np.float32)[..., None], batch_size=1000, verbose=0)
    return feats.astype(np.float64), logits.argmax(axis=1).astype(np.int64)


def features(images):
    """Classifier features (N, 128) float64 of uint8 (N, 28, 28) or [-1, 1] (N, 28, 28, 1) digits (02)."""
    return _embed(images)[0]


def predict_digits(images):
    """The digit (0-9) the evaluation classifier sees in each image (02)."""
    return _embed(images)[1]


def feature_stats(feats):
    """Mean and covariance (float64) of features (N, d), N >= 2: the Gaussian fit FID uses (02)."""
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise EvaluationError(f"features have shape {f.shape}; FID needs an (N, d) array with N >= 2.")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def fid(feats_a, feats_b):
    """Frechet distance between Gaussian fits of two (N, d) feature arrays or ``(mean, cov)`` pairs (02);
    tr sqrt(S1 S2) is taken as tr sqrt(sqrt(S1) S2 sqrt(S1)), symmetric, so eigendecompositions suffice."""
    (m1, s1), (m2, s2) = (x if isinstance(x, tuple) else feature_stats(x) for x in (feats_a, feats_b))
    if m1.shape != m2.shape:
        raise EvaluationError(f"feature sizes differ: {m1.shape[0]} and {m2.shape[0]}.")
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r1 @ s2 @ r1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return max(float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean), 0.0)


def _labels(values, name):
    v = np.asarray(values)
    if v.ndim != 1 or not np.issubdtype(v.dtype, np.integer) or v.size == 0 or v.min() < 0 or v.max() > 9:
        raise EvaluationError(
            f"{name} must be a non-empty 1-D array of integer digits 0-9 (got dtype {v.dtype}, shape {v.shape})."
        )
    return v.astype(np.int64)


def label_accuracy(pred, requested):
    """``{"overall": share, "per_digit": {digit: share}}`` of samples read as the digit requested (03)."""
    pred, requested = _labels(pred, "pred"), _labels(requested, "requested labels")
    if pred.shape != requested.shape:
        raise EvaluationError(
            f"{requested.size} requested labels for {pred.size} samples: pass the same number, "
            "one requested digit per sample."
        )
    hit = pred == requested
    return {
        "overall": float(hit.mean()),
        "per_digit": {int(d): float(hit[requested == d].mean()) for d in np.unique(requested)},
    }


def coverage(pred):
    """``{"shares": per digit, "min_share", "entropy_bits"}``: 0.1 and 3.32 bits for a perfect spread (02)."""
    pred = _labels(pred, "pred")
    shares = np.bincount(pred, minlength=NUM_CLASSES) / pred.size
    nz = shares[shares > 0]
    entropy = max(0.0, float(-(nz * np.log2(nz)).sum()))  # max() turns -0.0 into 0.0
    return {"shares": shares, "min_share": float(shares.min()), "entropy_bits": entropy}


def precision_recall(real_feats, fake_feats, k=3, max_points=5000, seed=PR_SEED):
    """k-NN precision and recall (Kynkaanniemi et al. 2019) on at most ``max_points`` of each set (04)."""
    real, fake = (np.asarray(f, dtype=np.float64) for f in (real_feats, fake_feats))
    # L2-normalised: else featureless noise sits near the origin, inside the huge k-NN balls of odd real digits.
    real, fake = (f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12) for f in (real, fake))
    m = min(len(real), len(fake), max_points)
    if m <= k:
        raise EvaluationError(f"precision/recall with k={k} needs more than {k} points in each set (got {m}).")
    rng = np.random.default_rng(seed)
    real = real[np.sort(rng.choice(len(real), m, replace=False))]
    fake = fake[np.sort(rng.choice(len(fake), m, replace=False))]

    def by_rows(a, b, f):  # f of the squared distances from 1,000 rows of a at a time to all of b
        return np.concatenate(
            [
                f(np.clip((x * x).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * x @ b.T, 0, None))
                for x in (a[i : i + 1000] for i in range(0, len(a), 1000))
            ]
        )

    radii = [by_rows(x, x, lambda d: np.partition(d, k, axis=1)[:, k]) for x in (real, fake)]  # d[:, 0]: itself
    return {
        "precision": float(by_rows(fake, real, lambda d: (d <= radii[0]).any(axis=1)).mean()),
        "recall": float(by_rows(real, fake, lambda d: (d <= radii[1]).any(axis=1)).mean()),
    }


def _test_reference(n_ref):
    """Features of the first ``n_ref`` test digits and their ``(mean, cov)``."""
    if not 2 <= n_ref <= 10_000:
        raise EvaluationError(f"n_ref = {n_ref}: use between 2 and the 10,000 test digits.")
    feats = _memo("test", lambda: features(gdata.load_mnist()[2]))[:n_ref]
    return feats, _memo("test_stats", lambda: feature_stats(feats), n_ref)


def _floor_digits(n):
    """The first ``n`` training digits (uint8) and their labels in a fixed random order: the real-data floor."""
    x_tr, y_tr = gdata.load_mnist()[:2]
    if not 2 <= n <= len(x_tr):
        raise EvaluationError(f"n = {n}: the real-data floor needs between 2 and {len(x_tr)} training digits.")
    order = np.random.default_rng(REFERENCE_SEED).permutation(len(x_tr))[:n]
    return x_tr[order], y_tr[order].astype(np.int64)


def fid_floor(n, n_ref=N_REFERENCE):
    """FID of ``n`` real training digits against the test digits: the best a generator can do at n (02)."""
    return _memo("floor", lambda: fid(features(_floor_digits(n)[0]), _test_reference(n_ref)[1]), n, n_ref)


def score(images, labels=None, n_ref=N_REFERENCE, pr_points=5000):
    """Every metric of uint8 or [-1, 1] digits; ``labels`` (digits requested) add accuracy; ``pr_points=0`` skips
    precision/recall (02, 03)."""
    feats, pred = _embed(images)
    n = len(feats)
    if n < 2:
        raise EvaluationError("score needs at least 2 images (FID fits a covariance).")
    test_feats, test_stats = _test_reference(n_ref)
    f = fid(feats, test_stats)
    floor = fid_floor(n, n_ref) if n <= len(gdata.load_mnist()[0]) else float("nan")
    cov = coverage(pred)
    out = {
        "n": n,
        "fid": f,
        "fid_floor": floor,
        "fid_ratio": f / floor if floor > 0 else float("nan"),
        "min_share": cov["min_share"],
        "entropy_bits": cov["entropy_bits"],
        "shares": [float(s) for s in cov["shares"]],
    }
    if labels is not None:
        acc = label_accuracy(pred, labels)
        out["accuracy"], out["accuracy_per_digit"] = acc["overall"], acc["per_digit"]
    if pr_points and n > 3:
        out.update(precision_recall(test_feats, feats, max_points=pr_points))
    return out


def _reference_key():
    """A hash of this module's source, the classifier's key and the MNIST arrays: the reference cache's key."""
    h = hashlib.sha256(Path(__file__).read_bytes() + classifier_key().encode())
    for a in gdata.load_mnist():
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def reference_points():
    """Scores of 10,000 real training digits ("real_train", the floor) and noise images ("uniform_noise"),
    cached on disk next to the classifier (02)."""

    def load_or_compute():
        path = paths.cache_dir() / f"evaluation_reference_{classifier_key()}_{_reference_key()}.json"
        try:
            ref = json.loads(path.read_text())
            for r in ref.values():
                r["accuracy_per_digit"] = {int(d): v for d, v in r["accuracy_per_digit"].items()}
            return ref
        except (OSError, ValueError, KeyError, AttributeError, TypeError):  # missing or unreadable: recompute
            x, y = _floor_digits(N_REFERENCE)
            noise = np.random.default_rng(NOISE_SEED).integers(0, 256, (N_REFERENCE, 28, 28), dtype=np.uint8)
            ref = {"real_train": score(x, y), "uniform_noise": score(noise, np.arange(N_REFERENCE) % NUM_CLASSES)}
            atomic_write_text(path, json.dumps(ref, indent=1))
            return ref

    return _memo("reference", load_or_compute)


TABLE_COLUMNS = (
    ("n", "n", "{:.0f}"),
    ("fid", "FID", "{:.2f}"),
    ("fid_ratio", "FID/floor", "{:.1f}"),
    ("min_share", "min share", "{:.3f}"),
    ("entropy_bits", "entropy", "{:.2f}"),
    ("accuracy", "label acc", "{:.3f}"),
    ("precision", "precision", "{:.3f}"),
    ("recall", "recall", "{:.3f}"),
)


def metrics_table(results, reference=True, columns=TABLE_COLUMNS):
    """A plain-text table of score dicts (name -> score) and the reference points; "-" for missing (02, 03)."""
    rows = dict(results)
    if reference:
        ref = reference_points()
        rows.update({"real train digits (floor)": ref["real_train"], "uniform noise (worst)": ref["uniform_noise"]})
    table = [["", *(h for _, h, _ in columns)]]
    for name, r in rows.items():
        table.append([name, *("-" if r.get(k) is None or np.isnan(r[k]) else f.format(r[k]) for k, _, f in columns)])
    widths = [max(map(len, column)) for column in zip(*table)]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in table
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(
        f"FID/floor: FID over that of the same number of real training digits (1 = as good as real data); "
        f"entropy max {math.log2(NUM_CLASSES):.2f} bits."
    )
    return "\n".join(lines)


# The metrics a quality check during training records (callbacks.QualityCheck).
QUALITY_KEYS = ("fid", "fid_floor", "fid_ratio", "min_share", "entropy_bits", "accuracy", "precision", "recall")
