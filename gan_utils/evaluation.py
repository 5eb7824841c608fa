"""The evaluation classifier and sample-quality metrics (taught in 02_dense_gan, 03 and 04).

A small CNN trained once on the 60,000 MNIST training digits (cached in ``paths.cache_dir()`` under a hash
of its definition) judges generated digits: its 128-number ``features`` layer is the space for FID and
precision/recall, its predictions give digit coverage and label accuracy. Scores are shown beside real
training digits (the floor) and uniform noise (the worst); ``fid_ratio`` divides FID by the floor at the
same sample size, since FID is biased upward for small samples.
"""
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
from .repro import atomic_write_text

NUM_CLASSES = 10
ENTROPY_MAX_BITS = math.log2(NUM_CLASSES)
N_REFERENCE = 10_000  # test digits for the reference statistics; training / noise images for the reference points
REFERENCE_SEED = 0  # which training digits form the floor (a fixed random order of all 60,000)
NOISE_SEED = 1
PR_SEED = 2

CLASSIFIER_CONFIG = {
    "seed": 20_241,
    "filters": (32, 64),
    "feature_dim": 128,
    "dropout": 0.25,
    "epochs": 4,
    "batch_size": 128,
    "learning_rate": 2e-3,  # Adam, cosine-decayed to 0 over the run
}

_MEMO = {}  # in-process caches, keyed by the classifier's key (tests clear it)


class EvaluationError(ValueError):
    """Images, labels or features that the metrics cannot score."""


# ----------------------------------------------------------------------------- the classifier


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
    """Train on the 60,000 training digits; return ``(model, stats)`` with the test accuracy.

    Every random choice has its own seed (initializers, dropout, the epoch
    order), so Keras's global random state is never touched: a notebook's own
    seeded run is the same whether or not the classifier was cached.
    """
    x_tr, y_tr, x_te, y_te = gdata.load_mnist()
    model = _build_classifier(config)
    steps = config["epochs"] * math.ceil(len(x_tr) / config["batch_size"])
    lr = keras.optimizers.schedules.CosineDecay(config["learning_rate"], steps)
    model.compile(keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = gdata.to_unit_range(x_tr)
    y = y_tr.astype(np.int64)
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
    h = hashlib.sha256()
    for f in (_build_classifier, _train_classifier):
        h.update(inspect.getsource(f).encode())
    h.update(json.dumps(CLASSIFIER_CONFIG, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def classifier_paths(key=None):
    """``(model_path, stats_path)`` of the cached classifier in ``paths.cache_dir()`` (02)."""
    key = key or classifier_key()
    d = paths.cache_dir()
    return d / f"evaluation_classifier_{key}.keras", d / f"evaluation_classifier_{key}.json"


def _load_cached(model_path, stats_path, key):
    model = keras.saving.load_model(model_path, compile=False)
    stats = json.loads(Path(stats_path).read_text())
    if stats.get("key") != key:
        raise ValueError(f"{stats_path} is for key {stats.get('key')!r}, not {key!r}")
    model.get_layer("features")  # raises ValueError if this is some other model
    return model, stats


def evaluation_classifier():
    """The evaluation classifier (a Keras model giving logits), trained once and cached; an unreadable
    cache is retrained, never trusted (02)."""
    key = classifier_key()
    if ("classifier", key) in _MEMO:
        return _MEMO["classifier", key]
    model_path, stats_path = classifier_paths(key)
    model = None
    if model_path.exists() or stats_path.exists():
        try:
            model, stats = _load_cached(model_path, stats_path, key)
        except Exception as e:  # any unreadable cache is rebuilt, never trusted
            print(f"Evaluation classifier cache {model_path.name} could not be read "
                  f"({type(e).__name__}: {str(e)[:150]}); retraining.", flush=True)
            model = None
    if model is None:
        print("Training the evaluation classifier once (about a minute on a 2-core CPU; cached afterwards) ...",
              flush=True)
        policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy("float32")  # whatever precision the GANs train in
        try:
            model, stats = _train_classifier(CLASSIFIER_CONFIG)
        finally:
            keras.mixed_precision.set_global_policy(policy)
        stats.update(key=key, config=CLASSIFIER_CONFIG, keras=keras.__version__,
                     trained=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
        model_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = model_path.with_name(f"{model_path.stem}.tmp-{os.getpid()}.keras")
        model.save(tmp)
        os.replace(tmp, model_path)
        atomic_write_text(stats_path, json.dumps(stats, indent=2, default=str))
        print(f"Trained the evaluation classifier in {stats['train_seconds']:.0f} s: test accuracy "
              f"{stats['test_accuracy']:.2%} (cached in {model_path}).", flush=True)
    _MEMO["classifier", key] = model
    _MEMO["stats", key] = stats
    return model


def classifier_stats():
    """The cached classifier's record: test accuracy, training seconds, key, config (02)."""
    evaluation_classifier()
    return dict(_MEMO["stats", classifier_key()])


# ----------------------------------------------------------------------------- features and predictions


def _model_input(images):
    x = np.asarray(images)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        raise EvaluationError(
            f"images have shape {x.shape}; pass digits of shape (N, 28, 28) or (N, 28, 28, 1) with N >= 1.")
    if x.dtype == np.uint8:
        return gdata.to_unit_range(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise EvaluationError(f"images have dtype {x.dtype}; pass uint8 digits (0-255) or floats in [-1, 1].")
    if not np.all(np.isfinite(x)):
        raise EvaluationError("images hold NaN or infinite values (did training diverge?).")
    if x.min() < -1.01 or x.max() > 1.01:
        raise EvaluationError(
            f"float images range from {x.min():.3g} to {x.max():.3g}; floats must be in [-1, 1] (the generator's "
            "tanh output). Pass uint8 digits (0-255) as uint8, or scale with data.to_unit_range.")
    return x.astype(np.float32)[..., None]


def _embed(images, batch_size=1000):
    """(features float64 (N, d), predicted digits int64 (N,)) in one pass."""
    key = classifier_key()
    if ("embedder", key) not in _MEMO:
        clf = evaluation_classifier()
        _MEMO["embedder", key] = keras.Model(clf.inputs, [clf.get_layer("features").output, clf.outputs[0]])
    feats, logits = _MEMO["embedder", key].predict(_model_input(images), batch_size=batch_size, verbose=0)
    return feats.astype(np.float64), logits.argmax(axis=1).astype(np.int64)


def features(images):
    """Classifier features (N, 128) float64 of uint8 (N, 28, 28) or [-1, 1] (N, 28, 28, 1) digits (02)."""
    return _embed(images)[0]


def predict_digits(images):
    """The digit (0-9) the evaluation classifier sees in each image (02)."""
    return _embed(images)[1]


# ----------------------------------------------------------------------------- metrics


def feature_stats(feats):
    """Mean and covariance (float64) of features (N, d), N >= 2: the Gaussian fit FID uses (02)."""
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise EvaluationError(f"features have shape {f.shape}; FID needs an (N, d) array with N >= 2.")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(s):
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def fid(feats_a, feats_b):
    """Frechet distance between Gaussian fits of two (N, d) feature arrays or ``(mean, cov)`` pairs (02).

    tr sqrt(S1 S2) is taken as tr sqrt(sqrt(S1) S2 sqrt(S1)), symmetric, so eigendecompositions suffice.
    """
    (m1, s1), (m2, s2) = (x if isinstance(x, tuple) else feature_stats(x) for x in (feats_a, feats_b))
    if m1.shape != m2.shape:
        raise EvaluationError(f"feature sizes differ: {m1.shape[0]} and {m2.shape[0]}.")
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    d = float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)
    return max(d, 0.0)


def _labels(values, name):
    v = np.asarray(values)
    if v.ndim != 1 or not np.issubdtype(v.dtype, np.integer) or (v.size and (v.min() < 0 or v.max() > 9)):
        raise EvaluationError(f"{name} must be a 1-D array of integer digits 0-9 (got dtype {v.dtype}, "
                              f"shape {v.shape}).")
    return v.astype(np.int64)


def label_accuracy(pred, requested):
    """``{"overall": share, "per_digit": {digit: share}}`` of samples read as the digit requested (03)."""
    pred, requested = _labels(pred, "pred"), _labels(requested, "requested labels")
    if pred.shape != requested.shape or pred.size == 0:
        raise EvaluationError(f"pred {pred.shape} and requested labels {requested.shape} must have the same "
                              "non-zero length: one requested label per sample.")
    hit = pred == requested
    return {"overall": float(hit.mean()),
            "per_digit": {int(d): float(hit[requested == d].mean()) for d in np.unique(requested)}}


def coverage(pred):
    """``{"shares": per digit, "min_share", "entropy_bits"}``: 0.1 and 3.32 bits for a perfect spread (02)."""
    pred = _labels(pred, "pred")
    if pred.size == 0:
        raise EvaluationError("pred is empty: coverage needs at least one sample.")
    shares = np.bincount(pred, minlength=NUM_CLASSES) / pred.size
    nz = shares[shares > 0]
    entropy = max(0.0, float(-(nz * np.log2(nz)).sum()))  # max() turns -0.0 into 0.0
    return {"shares": shares, "min_share": float(shares.min()), "entropy_bits": entropy}


def _sq_dists(a, b):
    return np.clip((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0, None)


def _unit(f):
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def _knn_radii(x, k, chunk=1000):
    """Squared distance from each point to its k-th nearest other point."""
    out = np.empty(len(x))
    for i in range(0, len(x), chunk):
        out[i:i + chunk] = np.partition(_sq_dists(x[i:i + chunk], x), k, axis=1)[:, k]  # column 0 is the point
    return out


def _inside(points, centres, radii, chunk=1000):
    return np.concatenate([(_sq_dists(points[i:i + chunk], centres) <= radii[None, :]).any(axis=1)
                           for i in range(0, len(points), chunk)])


def precision_recall(real_feats, fake_feats, k=3, max_points=5000, seed=PR_SEED):
    """k-NN precision and recall (Kynkaanniemi et al. 2019) on at most ``max_points`` of each set (04).

    Features are L2-normalised first: with raw features, featureless images (noise) sit near the origin,
    inside the huge k-NN balls of a few odd real digits, and score a precision above 0.9.
    """
    real, fake = (_unit(np.asarray(f, dtype=np.float64)) for f in (real_feats, fake_feats))
    m = min(len(real), len(fake), max_points)
    if m <= k:
        raise EvaluationError(f"precision/recall with k={k} needs more than {k} points in each set (got {m}).")
    rng = np.random.default_rng(seed)
    real = real[np.sort(rng.choice(len(real), m, replace=False))]
    fake = fake[np.sort(rng.choice(len(fake), m, replace=False))]
    return {"precision": float(_inside(fake, real, _knn_radii(real, k)).mean()),
            "recall": float(_inside(real, fake, _knn_radii(fake, k)).mean())}


# ----------------------------------------------------------------------------- reference statistics


def _mnist():
    if "mnist" not in _MEMO:
        _MEMO["mnist"] = gdata.load_mnist()
    return _MEMO["mnist"]


def _test_reference(n_ref):
    key = classifier_key()
    if not 2 <= n_ref <= 10_000:
        raise EvaluationError(f"n_ref = {n_ref}: use between 2 and the 10,000 test digits.")
    if ("test", key) not in _MEMO:
        _MEMO["test", key] = _embed(_mnist()[2])[0]
    if ("test_stats", key, n_ref) not in _MEMO:
        _MEMO["test_stats", key, n_ref] = feature_stats(_MEMO["test", key][:n_ref])
    return _MEMO["test", key][:n_ref], _MEMO["test_stats", key, n_ref]


def _train_reference(n):
    """(uint8 images, labels, features) of the first ``n`` training digits in a fixed random order."""
    key = classifier_key()
    x_tr, y_tr = _mnist()[:2]
    if not 2 <= n <= len(x_tr):
        raise EvaluationError(f"n = {n}: the real-data floor needs between 2 and {len(x_tr)} training digits.")
    order = np.random.default_rng(REFERENCE_SEED).permutation(len(x_tr))[:n]
    have = _MEMO.get(("train", key), np.empty((0, 0)))
    if len(have) < n:
        have = _embed(x_tr[order])[0]
        _MEMO["train", key] = have
    return x_tr[order], y_tr[order].astype(np.int64), have[:n]


def fid_floor(n, n_ref=N_REFERENCE):
    """FID of ``n`` real training digits against the test digits: the best a generator can do at n (02)."""
    key = classifier_key()
    if ("floor", key, n, n_ref) not in _MEMO:
        _MEMO["floor", key, n, n_ref] = fid(_train_reference(n)[2], _test_reference(n_ref)[1])
    return _MEMO["floor", key, n, n_ref]


def score(images, labels=None, n_ref=N_REFERENCE, pr_points=5000):
    """Every metric of uint8 or [-1, 1] digits as a dict of plain numbers; ``labels`` (digits requested)
    add label accuracy, ``pr_points=0`` skips precision/recall (02, 03)."""
    feats, pred = _embed(images)
    n = len(feats)
    if n < 2:
        raise EvaluationError("score needs at least 2 images (FID fits a covariance).")
    test_feats, test_stats = _test_reference(n_ref)
    f = fid(feats, test_stats)
    floor = fid_floor(n, n_ref) if n <= len(_mnist()[0]) else float("nan")
    cov = coverage(pred)
    out = {"n": n, "fid": f, "fid_floor": floor, "fid_ratio": f / floor if floor > 0 else float("nan"),
           "min_share": cov["min_share"], "entropy_bits": cov["entropy_bits"],
           "shares": [float(s) for s in cov["shares"]]}
    if labels is not None:
        labels = _labels(labels, "labels")
        if len(labels) != n:
            raise EvaluationError(f"{len(labels)} labels for {n} images: pass one requested digit per image.")
        acc = label_accuracy(pred, labels)
        out["accuracy"], out["accuracy_per_digit"] = acc["overall"], acc["per_digit"]
    if pr_points and n > 3:
        out.update(precision_recall(test_feats, feats, max_points=pr_points))
    return out


def _reference_key():
    """A hash of this module's source, the classifier's key and the MNIST arrays."""
    h = hashlib.sha256(Path(__file__).read_bytes() + classifier_key().encode())
    for a in _mnist():
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def reference_points():
    """``{"real_train": score, "uniform_noise": score}`` of 10,000 real training digits (the floor) and
    10,000 noise images (the worst), cached next to the classifier (02)."""
    key = classifier_key()
    if ("reference", key) in _MEMO:
        return _MEMO["reference", key]
    path = paths.cache_dir() / f"evaluation_reference_{key}_{_reference_key()}.json"
    ref = None
    if path.is_file():
        try:
            ref = json.loads(path.read_text())
            for r in ref.values():
                r["accuracy_per_digit"] = {int(d): v for d, v in r["accuracy_per_digit"].items()}
        except (ValueError, KeyError, AttributeError, TypeError):
            print(f"Reference cache {path.name} could not be read; recomputing.", flush=True)
            ref = None
    if ref is None:
        x, y, _ = _train_reference(N_REFERENCE)
        noise = np.random.default_rng(NOISE_SEED).integers(0, 256, (N_REFERENCE, 28, 28), dtype=np.uint8)
        ref = {"real_train": score(x, y), "uniform_noise": score(noise, np.arange(N_REFERENCE) % NUM_CLASSES)}
        atomic_write_text(path, json.dumps(ref, indent=1))
    _MEMO["reference", key] = ref
    return ref


# ----------------------------------------------------------------------------- reporting

TABLE_COLUMNS = (("n", "n", "{:d}"), ("fid", "FID", "{:.2f}"), ("fid_ratio", "FID/floor", "{:.1f}"),
                 ("min_share", "min share", "{:.3f}"), ("entropy_bits", "entropy", "{:.2f}"),
                 ("accuracy", "label acc", "{:.3f}"), ("precision", "precision", "{:.3f}"),
                 ("recall", "recall", "{:.3f}"))


def metrics_table(results, reference=True, columns=TABLE_COLUMNS):
    """A plain-text table of score dicts (name -> score) and the reference points; "-" for missing (02, 03)."""
    rows = dict(results)
    if reference:
        ref = reference_points()
        rows["real train digits (floor)"] = ref["real_train"]
        rows["uniform noise (worst)"] = ref["uniform_noise"]

    def cell(r, key, fmt):
        v = r.get(key)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return fmt.format(int(v) if fmt.endswith("d}") else v)

    table = [["", *[h for _, h, _ in columns]]] + [[name, *[cell(r, k, f) for k, _, f in columns]]
                                                    for name, r in rows.items()]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in table]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"FID/floor: FID over that of the same number of real training digits (1 = as good as real data); "
                 f"entropy max {ENTROPY_MAX_BITS:.2f} bits.")
    return "\n".join(lines)


# The metrics a quality check during training records (callbacks.QualityCheck).
QUALITY_KEYS = ("fid", "fid_floor", "fid_ratio", "min_share", "entropy_bits", "accuracy", "precision", "recall")
