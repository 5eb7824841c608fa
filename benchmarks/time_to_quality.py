"""Time to good digits on this machine: throughput, loop efficiency and time to quality.

    python benchmarks/time_to_quality.py                      # dense (3 min) and dcgan (10 min), float32 and auto
    python benchmarks/time_to_quality.py --models dense --minutes 1 --precisions auto
    python benchmarks/time_to_quality.py --models dcgan --minutes 5 --no-loop \
        --arm default --arm lr5e-4 LEARNING_RATE=0.0005 --arm width32 WIDTH=32      # a recipe ablation

Each model comes from its notebook, so the benchmark measures what students train: the ``parameters`` cell,
then overrides (as papermill injects them), then every code cell up to the one defining ``make_gan``. For
each model (dense = 02, dcgan = 03) and precision it measures the bare compiled ``train_step`` on a resident
batch (just before and just after the loop, averaged), the notebooks' loop (``gan.fit`` with the training cell's
callbacks, the mean of its epochs after the first: 2-4 for dense, 2 for dcgan) and, within a budget of training time,
quality after every epoch (2,000 samples) and at fixed marks (10,000 samples). A fixed float32 reference step
is timed in the same run, so results from different machines compare as ratios. Training seconds are fit's
epoch times (tracing, per-iteration records, D's validation checks and EMA updates included); wall seconds add
the quality checks, the marks' scoring and the snapshot and checkpoint writing, each reported. It prints tables
and writes JSON. A script, not a test: nothing fails on a slow machine.

A recipe ablation (``--arm NAME KEY=VALUE ...``, repeated) trains each arm for the same training time, one after
the other in one process, and scores every arm at the same marks. An arm sets the notebook's parameters, as
papermill would; ``D_LEARNING_RATE`` (D's own rate, for two time scales) is applied to the built model, since the
notebooks give both networks one rate. The marks fall mid-epoch where the clock says (scoring stops the clock).
"""

import argparse
import ast
import contextlib
import io
import json
import linecache
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import gan_utils  # noqa: E402,F401  (sets TF's log level before TensorFlow loads)

NOTEBOOKS = {"dense": "02_dense_gan", "dcgan": "03_conditional_dcgan"}
BUDGET = {"dense": 3.0, "dcgan": 10.0}  # minutes of training
MARKS = {"dense": (1, 2, 3), "dcgan": (2, 5, 10)}  # minutes of training at which 10,000 samples are scored
MODEL_ONLY = ("D_LEARNING_RATE",)  # arm settings applied to the built model rather than to the notebook
ACCURACY_LEVELS = (0.95, 0.98, 0.99)
BATCH = 128


def load_notebook(model, overrides):
    """The namespace of notebook ``model`` after its cells up to ``def make_gan`` ran with ``overrides``, and the
    classes of its later cells (the callbacks its training cell uses: ``GANMonitor``, ``GeneratorEMA``)."""
    from gan_utils import cells

    code = cells.code_cells(NOTEBOOKS[model])
    first = code.index(cells.code_cells(NOTEBOOKS[model], "parameters")[0])
    last = next(i for i, source in enumerate(code) if source.lstrip().startswith("def make_gan"))
    ns = {"__name__": f"notebook_{model}"}

    def run_cell(i):  # registered in linecache, as Jupyter does, so that AutoGraph can read the source
        name = f"<{NOTEBOOKS[model]} cell {i}>"
        linecache.cache[name] = (len(code[i]), None, code[i].splitlines(True), name)
        exec(compile(code[i], name, "exec"), ns)

    run_cell(first)
    ns.update(overrides)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # summaries, figures: not ours
        warnings.simplefilter("ignore")
        for i in range(first + 1, last + 1):
            run_cell(i)
        for i in range(last + 1, len(code)):
            if code[i].startswith("class "):
                run_cell(i)
    ns["plt"].close("all")
    return ns


def reference_step(steps=50):
    """Steps/s of a fixed float32 workload independent of the notebooks: a small conv net's train step."""
    import keras
    import tensorflow as tf
    from keras import layers

    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    net = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(10),
        ]
    )
    opt, rng = keras.optimizers.Adam(1e-3), np.random.default_rng(0)
    x = tf.constant(rng.uniform(-1, 1, (BATCH, 28, 28, 1)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, BATCH))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, net(x, training=True), from_logits=True)
            )
        opt.apply(tape.gradient(loss, net.trainable_weights), net.trainable_weights)
        return loss

    return timed(step, (), steps)


def timed(fn, args, steps):
    """Calls per second of ``fn(*args)`` after 10 warm-up calls; synchronised by reading a float."""
    for _ in range(10):
        out = fn(*args)
    sync = lambda out: float(out["d_loss"] if isinstance(out, dict) else out)  # noqa: E731
    sync(out)
    t0 = time.perf_counter()
    for _ in range(steps):
        out = fn(*args)
    sync(out)
    return steps / (time.perf_counter() - t0)


def bare_rate(gan, conditional, steps):
    """Images/s of ``tf.function(gan.train_step)`` alone on one resident batch of 128."""
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (BATCH, 28, 28, 1)).astype(np.float32))
    batch = (x, tf.one_hot(np.arange(BATCH) % 10, 10)) if conditional else x
    return BATCH * timed(tf.function(gan.train_step), (batch,), steps)


def marks_callback(sampler, conditional, marks, budget_s):
    """Scores 10,000 samples when the training clock passes each mark (minutes) and stops training past ``budget_s``.

    The clock runs like fit's epoch times (every callback's work inside the epoch counts), checked after every call
    of the compiled step, so a mark may fall mid-epoch; the scoring itself is kept off the clock.
    """
    import keras

    from gan_utils import sampling, scoring

    class Marks(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train_s, self.done, self.results, self.eval_s, self.epochs = 0.0, set(), {}, 0.0, 0.0

        def clock(self):
            return self.train_s + time.perf_counter() - self._t0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self._t0 = epoch, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.epochs = self.epoch + (batch + 1) / self.params["steps"]  # epochs trained so far
            now = self.clock()
            due = [m for m in marks if now >= 60 * m and m not in self.done]
            for m in due:
                self.done.add(m)
                self.score(m, now)
            if now >= budget_s:
                self.model.stop_training = True

        def score(self, m, at):
            t0 = time.perf_counter()
            labels = np.repeat(np.arange(10), 1000) if conditional else None
            s = scoring.score(
                sampling.generate(sampler, n=None if conditional else 10000, labels=labels, seed=1),
                labels,
                pr_points=0,
            )
            took = time.perf_counter() - t0
            self._t0 += took  # off the clock
            self.eval_s += took
            self.results[key := f"{m:g} min"] = {
                "epoch": round(self.epochs, 2),
                "train_seconds": round(at, 1),
                "n": 10000,
                "accuracy": s.get("accuracy"),
                "worst_digit_accuracy": min(s["accuracy_per_digit"].values()) if conditional else None,
                "fid_ratio": s["fid_ratio"],
                "rarest_digit_share": s["min_share"],
                "eval_seconds": round(took, 1),
            }
            print(f"  {key}: {self.results[key]}", flush=True)

        def on_epoch_end(self, epoch, logs=None):
            self.train_s = self.clock()

        def on_train_end(self, logs=None):
            self.clock_at_stop = self.train_s

    return Marks()


def measure(model, policy, args, tmp, arm="default", settings=None):
    from gan_utils import callbacks, checkpoint, data

    settings = dict(settings or {})
    tmp = Path(tmp) / f"{model}_{policy}_{arm}"
    overrides = {"PRECISION": policy, "RUN_DIR": str(tmp / "notebook_run"), "FIG_DIR": str(tmp / "figures")}
    if args.train_images:
        overrides["TRAIN_IMAGES"] = args.train_images
    model_only = {k: settings.pop(k) for k in MODEL_ONLY if k in settings}
    ns = load_notebook(model, {**overrides, **settings})
    unknown = sorted(set(settings) - set(ns["CHECKS"]))
    if unknown:
        raise SystemExit(f"--arm {arm}: {', '.join(unknown)} is not a parameter of {NOTEBOOKS[model]}.")
    config, cond = ns["config"], model == "dcgan"

    def make_gan():
        gan = ns["make_gan"]()
        if "D_LEARNING_RATE" in model_only:
            gan.d_optimizer.learning_rate.assign(model_only["D_LEARNING_RATE"])
        return gan

    x, y = ns["x_train"], ns["y_train"]
    minutes = BUDGET[model] if args.minutes is None else min(args.minutes, BUDGET[model])
    marks = [m for m in MARKS[model] if m <= minutes] or [minutes]

    def train(epochs, name, extra=(), score_epochs=(), log_every=1):  # as the notebook's training cell does
        gan = make_gan()
        ema = ns["GeneratorEMA"](gan.generator) if cond and ns["EMA_DECAY"] else None
        sampler = ema.average if ema else gan.generator
        networks = {"ema_generator": sampler} if ema else {}
        cfg = config.replace(EPOCHS=epochs, RUN_DIR=tmp / name, RESUME=False)
        run = checkpoint.resume_or_start(cfg, gan, networks)
        dataset, steps = data.training_batches(
            x, y if cond else None, batch_size=ns["BATCH_SIZE"], seed=ns["SEED"], epochs=epochs
        )
        extra = [f(sampler) for f in extra]
        y_val = ns["y_test"] if cond else None
        gan.fit(
            dataset,
            epochs=epochs,
            steps_per_epoch=steps,
            shuffle=False,
            verbose=0,
            callbacks=[
                *extra,  # first: the marks' clock stops before the epoch-end checks and checkpoints
                callbacks.IterationLog(run),
                callbacks.StopOnDivergence(run),
                callbacks.ValidationCheck(run, ns["x_test"], y_val, every=ns["VAL_EVERY"], seed=ns["SEED"]),
                *([ema] if ema else []),
                callbacks.EpochLog(run, every=log_every),
                ns["GANMonitor"](sampler, [0], run.snapshots),
                callbacks.QualityCheck(run, sampler, epochs=score_epochs),
                checkpoint.Checkpoint(run, cfg, networks),
            ],
        )
        return run, extra

    load, ref = os.getloadavg()[0], reference_step()  # how busy the machine was, and how fast, just before
    print(f"{model} {policy} {arm} {settings or ''}{model_only or ''}: reference step {ref:.1f} steps/s", flush=True)
    before = after = loop = bare = None
    if not args.no_loop:
        # 1. the bare step, timed just before and just after 2. the loop, so that a change in the machine's speed
        # during the measurement (it varies here by up to 2x over minutes) shows instead of biasing the ratio
        bare_steps, loop_epochs = (468, 4) if model == "dense" else (60, 2)
        bare_gan = make_gan()
        before = bare_rate(bare_gan, cond, steps=bare_steps)
        run, _ = train(loop_epochs, "loop")  # epochs after the first have no tracing in them
        batch = ns["BATCH_SIZE"]
        loop = (len(x) // batch) * batch / float(np.mean([r["seconds"] for r in run.epoch_log[1:]]))
        after = bare_rate(bare_gan, cond, steps=bare_steps)
        bare = (before + after) / 2
        print(
            f"{model} {policy} {arm}: bare step {before:.0f} img/s before the loop and {after:.0f} after, loop "
            f"{loop:.0f} img/s (epochs 2-{loop_epochs}), efficiency {loop / bare:.2f}",
            flush=True,
        )

    t0 = time.perf_counter()  # 3. time to quality within the budget
    run, (mk,) = train(
        1000,
        "ttq",
        extra=[lambda s: marks_callback(s, cond, marks, 60 * minutes)],
        score_epochs=range(1, 1001),
        log_every=1 if cond else 10,
    )
    wall = time.perf_counter() - t0
    checks = [
        {k: r.get(k) for k in ("epoch", "seconds", "accuracy", "fid_ratio", "min_share", "eval_seconds")}
        for r in run.quality
    ]
    first = lambda ok: next((r["seconds"] for r in checks if ok(r)), None)  # noqa: E731
    if cond:
        to = {f"accuracy >= {a:.0%}": first(lambda r, a=a: r["accuracy"] >= a) for a in ACCURACY_LEVELS}
    else:
        to = {"every digit >= 5%": first(lambda r: r["min_share"] >= 0.05)}
    check_s = sum(r["eval_seconds"] for r in checks)
    train_s = run.train_seconds - mk.eval_s  # the marks' scoring fell inside fit's epochs
    r2 = lambda v: None if v is None else round(v, 1)  # noqa: E731
    return {
        "arm": arm,
        "settings": {**settings, **model_only},
        "policy": policy,
        "reference_steps_per_s": round(ref, 2),
        "load_average": load,
        "budget_minutes": minutes,
        "bare_step_images_per_s": r2(bare),
        "bare_step_before_after": [r2(before), r2(after)],
        "loop_images_per_s": r2(loop),
        "loop_efficiency": None if loop is None else round(loop / bare, 3),
        "train_images": len(x),
        "epochs_trained": round(mk.epochs, 2),
        "seconds_per_epoch": round(mk.clock_at_stop / mk.epochs, 2),
        "train_seconds": round(train_s, 1),
        "wall_seconds": round(wall, 1),
        "check_seconds": round(check_s, 1),
        "mark_seconds": round(mk.eval_s, 1),
        "other_seconds": round(wall - train_s - check_s - mk.eval_s, 1),
        "seconds_to": to,
        "marks": mk.results,
        "checks": checks,
    }


def targets(model, r):
    """The targets set for the benchmark, as (target, MET/MISSED/not measured, numbers)."""
    eff = r["loop_efficiency"]
    out = [("loop efficiency >= 0.9", eff is not None and eff >= 0.9, eff and f"{eff:.2f}")]
    m5, m10, m1, m3 = (r["marks"].get(k) for k in ("5 min", "10 min", "1 min", "3 min"))
    if model == "dcgan":
        out += [
            ("5 min: accuracy >= 99.0%", m5 and m5["accuracy"] >= 0.99, m5 and f"{m5['accuracy']:.2%}"),
            (
                "5 min: every digit >= 98%",
                m5 and m5["worst_digit_accuracy"] >= 0.98,
                m5 and f"worst {m5['worst_digit_accuracy']:.2%}",
            ),
            ("5 min: FID ratio <= 3", m5 and m5["fid_ratio"] <= 3, m5 and f"{m5['fid_ratio']:.2f}"),
            ("10 min: accuracy >= 99.5%", m10 and m10["accuracy"] >= 0.995, m10 and f"{m10['accuracy']:.2%}"),
            ("10 min: FID ratio <= 2", m10 and m10["fid_ratio"] <= 2, m10 and f"{m10['fid_ratio']:.2f}"),
        ]
    else:
        t = r["seconds_to"]["every digit >= 5%"]
        out.append(("every digit >= 5% within 1 min", t is not None and t <= 60, f"after {t} s" if t else "never"))
        best = min((m["fid_ratio"] for m in (m1, m3) if m), default=None)
        out.append(("FID ratio <= 30 within 3 min", best is not None and best <= 30, best and f"{best:.1f}"))
    return [(name, "not measured" if num is None else "MET" if ok else "MISSED", num or "") for name, ok, num in out]


def report(results):
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    print(
        f"\nReference step (fixed float32 conv net, batch {BATCH}): {results['reference_steps_per_s']} steps/s "
        f"at the start, {results['reference_steps_per_s_end']} at the end (ref st/s: just before each row)"
    )
    num = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    print(
        f"\n{'model':<6}{'run (precision, arm)':<28}{'ref st/s':>9}{'bare img/s':>11}{'loop img/s':>11}{'eff':>6}"
        f"{'s/ep':>7}{'epochs':>7}{'train s':>8}{'wall s':>8}  time to target (training s, 2,000-sample checks)"
    )
    for model, per in results["models"].items():
        for p, r in per.items():
            to = ", ".join(f"{k}: {v if v is not None else '-'}" for k, v in r["seconds_to"].items())
            print(
                f"{model:<6}{p:<28}{r['reference_steps_per_s']:>9.1f}{num(r['bare_step_images_per_s'], '.0f'):>11}"
                f"{num(r['loop_images_per_s'], '.0f'):>11}{num(r['loop_efficiency'], '.2f'):>6}"
                f"{r['seconds_per_epoch']:>7.1f}{r['epochs_trained']:>7}{r['train_seconds']:>8.0f}"
                f"{r['wall_seconds']:>8.0f}  {to}"
            )
            print(
                f"{'':<34}{r['settings'] or 'the notebook defaults'}; wall = training {r['train_seconds']:.0f} s + "
                f"checks {r['check_seconds']:.0f} s + marks {r['mark_seconds']:.0f} s + other "
                f"{r['other_seconds']:.0f} s"
            )
    print("\nAblation at equal training time (same seed), 10,000 samples per mark:")
    print(
        f"{'model':<6}{'mark':<9}{'run (precision, arm)':<28}{'epoch':>6}{'train s':>8}{'accuracy':>9}"
        f"{'worst digit':>12}{'FID/floor':>10}{'rarest':>8}"
    )
    for model, per in results["models"].items():
        for mark in dict.fromkeys(k for r in per.values() for k in r["marks"]):
            for p, r in per.items():
                a = r["marks"].get(mark)
                if a:
                    print(
                        f"{model:<6}{mark:<9}{p:<28}{a['epoch']:>6}{a['train_seconds']:>8.0f}"
                        f"{pct(a['accuracy']):>9}{pct(a['worst_digit_accuracy']):>12}{a['fid_ratio']:>10.2f}"
                        f"{pct(a['rarest_digit_share']):>8}"
                    )
    print("\nTargets:")
    for model, per in results["models"].items():
        for p, r in per.items():
            for name, verdict, number in r["targets"]:
                print(f"  {model:<6}{p:<28}{name:<34}{verdict:<13}{number}")


def save(results, out):
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=1, default=float))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["dense", "dcgan"], choices=list(NOTEBOOKS))
    ap.add_argument("--minutes", type=float, help="training minutes per run (default 10 for dcgan; dense: at most 3)")
    ap.add_argument(
        "--precisions",
        nargs="+",
        default=["float32", "auto"],
        choices=["auto", "float32", "mixed_bfloat16", "mixed_float16"],
    )
    ap.add_argument("--train-images", type=int, help="training digits per epoch (default: the notebooks' 60,000)")
    ap.add_argument(
        "--arm",
        nargs="+",
        action="append",
        metavar=("NAME", "KEY=VALUE"),
        help="a recipe to train: a name, then notebook parameters (Python literals); repeat for an ablation",
    )
    ap.add_argument("--no-loop", action="store_true", help="skip the bare-step and loop-efficiency measurement")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = ap.parse_args(argv)
    arms = {}
    for name, *pairs in args.arm or [["default"]]:
        try:
            arms[name] = {k: ast.literal_eval(v) for k, v in (pair.split("=", 1) for pair in pairs)}
        except (ValueError, SyntaxError):
            ap.error(f"--arm {name}: write each setting as KEY=VALUE with a Python literal, e.g. WIDTH=32.")

    with tempfile.TemporaryDirectory(prefix="ttq_") as tmp:
        os.environ["GAN_OUTPUT_ROOT"] = tmp  # anything the notebooks' cells write goes here
        from gan_utils import machine as machine_info
        from gan_utils import precision, scoring

        scoring.reference_points()  # load (or train) the classifier before any clock starts
        auto = dict(zip(("policy", "reason"), precision.choose("auto")))
        chosen = {p: precision.choose(p) for p in args.precisions}  # asked -> (policy, why)
        policies = list(dict.fromkeys(policy for policy, _ in chosen.values()))
        machine = machine_info.environment_info()
        print(
            f"Machine: {machine['cpu']}, {machine['cpu_count']} cores, GPUs {machine['gpus'] or 'none'}, "
            f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}\n"
            f"PRECISION = 'auto' chooses {auto['policy']}: {auto['reason']}. Measuring: {', '.join(policies)}",
            flush=True,
        )
        results = {
            "machine": machine,
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "auto_precision": auto,
            "precisions": chosen,
            "command": " ".join(sys.argv),
            "reference_steps_per_s": round(reference_step(), 2),
            "models": {},
        }
        for model in args.models:
            results["models"][model] = {}
            for p in policies:
                for arm, settings in arms.items():
                    r = measure(model, p, args, tmp, arm, settings)
                    r["targets"] = targets(model, r)
                    r.update(machine=machine["cpu"], date=results["date"])
                    results["models"][model][p if list(arms) == ["default"] else f"{p} {arm}"] = r
                    save(results, args.out)  # after every measurement: a crash keeps what was measured
        results["reference_steps_per_s_end"] = round(reference_step(), 2)
    save(results, args.out)
    report(results)
    print(f"\nWritten: {args.out}")
    return results


if __name__ == "__main__":
    main()
