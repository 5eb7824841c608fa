"""Time to good digits on this machine: throughput, loop efficiency and time to quality.

    python benchmarks/time_to_quality.py                 # both default models, 10 min of DCGAN training
    python benchmarks/time_to_quality.py --minutes 3 --models dense

For each training notebook's default model (the recipes of 02 and 03) it measures

- throughput in images per second through the series' own training loop
  (``training.train_gan``, over a full epoch, the second of two so that no
  tracing is counted, records and validation included) beside the bare
  compiled ``train_step`` on one resident batch;
  their ratio is the loop's efficiency;
- time to quality: the default recipe trained for ``--minutes`` of wall time,
  scored after every epoch by the evaluation classifier (2,000 samples for the
  checks, 10,000 at the 5- and 10-minute marks), giving the seconds until the
  requested digit is read in 95% and 98% of samples (conditional model), and
  FID (as a multiple of the real-data floor) and digit coverage at 5 and 10
  minutes; for the dense GAN, the seconds until every digit is at least 5% of
  samples.

It prints a table and writes ``benchmarks/results.json`` with the machine (CPU,
cores, library versions) beside every number. Neither model nor the
classifier sees the 10,000 test digits during training. This is a script, not
a test: nothing here fails on a slow machine.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gan_utils  # noqa: E402,F401  (sets TF's log level before TensorFlow loads)
import numpy as np  # noqa: E402

from gan_utils import data, evaluation, recipes, repro, sample, training  # noqa: E402


def bare_step_rate(gan, batch_size, steps):
    """Images per second of the compiled train step alone, on one resident batch."""
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch_size, 28, 28, 1)).astype(np.float32))
    batch = (x, tf.one_hot(tf.range(batch_size) % 10, 10)) if gan.num_classes else x
    step = tf.function(gan.train_step)
    for _ in range(10):
        step(batch)
    t0 = time.perf_counter()
    for _ in range(steps):
        out = step(batch)
    float(out["d_loss"])
    return steps * batch_size / (time.perf_counter() - t0)


def make(model):
    return recipes.dense_gan() if model == "dense" else recipes.conditional_dcgan()


def measure(model, minutes, x_train, y_train, x_val, y_val, workdir):
    # 1. Throughput: the bare step, then the series' loop over one full epoch.
    bare = bare_step_rate(make(model), 128, steps=468 if model == "dense" else 60)
    gan = make(model)
    run = training.train_gan(gan, x_train, y_train if gan.num_classes else None, run_dir=workdir / f"{model}_epoch",
                             epochs=2, val_real=x_val, val_real_labels=y_val, val_every=50 if model == "dense" else 100,
                             settings=gan.settings)
    loop = (len(x_train) // 128) * 128 / run.epoch_log[1]["seconds"]  # the second epoch: no tracing in it
    result = {"bare_step_images_per_s": round(bare, 1), "loop_images_per_s": round(loop, 1),
              "loop_efficiency": round(loop / bare, 3)}
    print(f"{model}: bare step {bare:.0f} img/s, training loop {loop:.0f} img/s, efficiency {loop / bare:.2f}",
          flush=True)

    # 2. Time to quality: the default recipe for `minutes` of wall time, scored after every epoch.
    gan = make(model)
    q = evaluation.QualityCallback(every=1, n_samples=2000, seed=0, pr_points=0, verbose=False)
    marks = {}

    import keras

    class Marks(keras.callbacks.Callback):  # 10,000-sample scores at the first epoch end past 5 and 10 min; stop
        def on_epoch_end(self, epoch, logs=None):
            t = q.records[-1]["seconds"] if q.records else 0
            for m in (5, 10):
                if t >= 60 * m and m not in marks and m <= minutes:
                    t0 = time.perf_counter()
                    labels = np.repeat(np.arange(10), 1000) if gan.num_classes else None
                    imgs = sample.generate(self.model.sampling_generator, n=None if labels is not None else 10000,
                                           labels=labels, seed=1)
                    s = evaluation.score(imgs, labels, pr_points=0)
                    marks[m] = {"at_seconds": t, "epoch": epoch + 1, "fid_ratio": s["fid_ratio"],
                                "min_share": s["min_share"], "accuracy": s.get("accuracy"),
                                "min_digit_accuracy": min(s["accuracy_per_digit"].values()) if labels is not None else None}
                    q._eval_seconds += time.perf_counter() - t0  # not training time
            if t >= 60 * minutes:  # training seconds, evaluation excluded
                self.model.stop_training = True

    run = training.train_gan(gan, x_train, y_train if gan.num_classes else None, run_dir=workdir / f"{model}_ttq",
                             epochs=1000, val_real=x_val, val_real_labels=y_val, val_every=50 if model == "dense" else 100,
                             settings=gan.settings, extra_callbacks=[q, Marks()],
                             log_every=5 if model == "dense" else 1)
    recs = q.records
    first = lambda cond: next((r["seconds"] for r in recs if cond(r)), None)
    result.update({
        "epochs_trained": len(run.epoch_log),
        "seconds_per_epoch": round(float(np.median([r["seconds"] for r in run.epoch_log])), 2),
        "checks": [{k: r[k] for k in ("epoch", "seconds", "fid_ratio", "min_share", "accuracy")} for r in recs],
        "at_5_min": marks.get(5), "at_10_min": marks.get(10),
    })
    if gan.num_classes:
        result["seconds_to_95pct"] = first(lambda r: r["accuracy"] >= 0.95)
        result["seconds_to_98pct"] = first(lambda r: r["accuracy"] >= 0.98)
    else:
        result["seconds_to_full_coverage"] = first(lambda r: r["min_share"] >= 0.05)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["dense", "dcgan"], choices=["dense", "dcgan"])
    ap.add_argument("--minutes", type=float, default=10.0, help="wall minutes of training per model (default 10)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = ap.parse_args(argv)

    repro.set_seed(0)
    x_train, y_train, x_test, y_test = data.load_mnist()
    evaluation.reference_points()  # train or load the classifier before any clock starts
    machine = repro.environment_info()
    print(f"Machine: {machine['cpu']}, {machine['cpu_count']} cores, TensorFlow {machine['tensorflow']}, "
          f"Keras {machine['keras']}", flush=True)
    results = {"machine": machine, "date": time.strftime("%Y-%m-%d"), "minutes": args.minutes, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for m in args.models:
            minutes = min(args.minutes, 3.0) if m == "dense" else args.minutes
            results["models"][m] = measure(m, minutes, x_train, y_train, x_test, y_test, Path(tmp))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, default=float))

    print("\nmodel   img/s bare  img/s loop  efficiency  s/epoch  time to target")
    for m, r in results["models"].items():
        target = (f"95%: {r['seconds_to_95pct']} s, 98%: {r['seconds_to_98pct']} s" if m == "dcgan"
                  else f"every digit >= 5%: {r['seconds_to_full_coverage']} s")
        print(f"{m:<7}{r['bare_step_images_per_s']:>11.0f}{r['loop_images_per_s']:>12.0f}{r['loop_efficiency']:>12.2f}"
              f"{r['seconds_per_epoch']:>9.1f}  {target}")
        for mark in ("at_5_min", "at_10_min"):
            if r.get(mark):
                a = r[mark]
                acc = "" if a["accuracy"] is None else f", accuracy {a['accuracy']:.3f} (worst digit {a['min_digit_accuracy']:.3f})"
                print(f"        {mark}: FID {a['fid_ratio']:.1f}x floor, rarest digit {a['min_share']:.3f}{acc}")
    print(f"\nWritten: {args.out}")


if __name__ == "__main__":
    main()
