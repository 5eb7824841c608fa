"""Checkpoints and resume (gan_utils.checkpoint): a run interrupted after a complete epoch or in the middle of one
continues with the same numbers as an uninterrupted run; a checkpoint of other settings, another architecture, the
earlier format or a damaged file is refused in one sentence, and nothing is lost."""

import json

import keras
import numpy as np
import pytest
from gan_fixtures import STEPS, GeneratorEMA, config, make_gan, rows, state, train

from gan_utils import checkpoint, records
from gan_utils.checkpoint import CheckpointError

VARIANTS = {"dense": False, "conditional+ema": True}


def _new(variant, **kw):
    gan = make_gan(VARIANTS[variant], **kw)
    return gan, (GeneratorEMA(gan.generator) if VARIANTS[variant] else None)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted 2-epoch runs, one per variant, trained once per module."""
    cache = {}

    def get(variant):
        if variant not in cache:
            gan, ema = _new(variant)
            run = train(gan, config(tmp_path_factory.mktemp(variant) / "run"), ema)
            cache[variant] = dict(run=run, history=rows(run), state=state(gan, ema))
        return cache[variant]

    return get


def assert_same_run(a_hist, a_state, b_hist, b_state):
    assert a_hist == b_hist
    assert len(a_state) == len(b_state)
    for a, b in zip(a_state, b_state):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("variant", VARIANTS)
def test_resume_after_a_complete_epoch_is_exact(variant, reference, tmp_path, capsys):
    ref = reference(variant)
    gan, ema = _new(variant)
    train(gan, config(tmp_path / "run", epochs=1), ema)
    gan2, ema2 = _new(variant)  # a fresh model, as a new kernel would build it (other Keras layer names)
    assert gan2.generator.layers[1].name != gan.generator.layers[1].name
    run = train(gan2, config(tmp_path / "run", epochs=2, resume=True), ema2)
    assert run.resumed_from == 1 and "Resumed from" in capsys.readouterr().out
    assert_same_run(ref["history"], ref["state"], rows(run), state(gan2, ema2))
    assert sorted(run.snapshots) == [0, 2]
    assert [e["epoch"] for e in records.read_csv(run.dir / "epochs.csv")] == [1, 2]


class _Interrupt(keras.callbacks.Callback):
    """Ctrl-C in the middle of epoch 2."""

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.d_optimizer.iterations.numpy()) == STEPS + 4:
            raise KeyboardInterrupt


@pytest.mark.parametrize("variant", VARIANTS)
def test_interrupted_mid_epoch_then_resumed_is_exact(variant, reference, tmp_path, capsys):
    ref = reference(variant)
    gan, ema = _new(variant)
    with pytest.raises(KeyboardInterrupt):
        train(gan, config(tmp_path / "run"), ema, extra=[_Interrupt()])
    assert "RESUME = True" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "checkpoint" / "latest.json").read_text())["epoch"] == 1
    gan2, ema2 = _new(variant)
    run = train(gan2, config(tmp_path / "run", resume=True), ema2)
    assert run.resumed_from == 1
    assert_same_run(ref["history"], ref["state"], rows(run), state(gan2, ema2))


def test_resume_of_a_finished_run_trains_nothing(reference, capsys):
    ref = reference("dense")
    gan, _ = _new("dense")
    before = state(gan)
    run = train(gan, config(ref["run"].dir, epochs=2, resume=True))
    assert "nothing to train" in capsys.readouterr().out and run.resumed_from == 2
    assert len(run.history) == 2 * STEPS
    after = state(gan)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))  # restored...
    assert_same_run([], ref["state"], [], after)  # ...to the finished run's state


def test_killed_while_writing_a_checkpoint_keeps_the_old_one(reference, tmp_path, monkeypatch):
    ref = reference("dense")
    train(_new("dense")[0], config(tmp_path / "run", epochs=1))
    latest = tmp_path / "run" / "checkpoint" / "latest.json"
    good = latest.read_text()
    real_save = keras.Model.save_weights

    def killed(self, path, *args, **kwargs):  # the process dies halfway through writing the new checkpoint
        real_save(self, path, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save_weights", killed)
    with pytest.raises(KeyboardInterrupt):
        train(_new("dense")[0], config(tmp_path / "run", resume=True))
    monkeypatch.undo()
    assert latest.read_text() == good
    gan3, _ = _new("dense")
    run = train(gan3, config(tmp_path / "run", resume=True))
    assert run.resumed_from == 1
    assert_same_run(ref["history"], ref["state"], rows(run), state(gan3))


def test_same_seed_same_numbers_other_seed_others(reference, tmp_path):
    ref = reference("dense")
    gan, _ = _new("dense")
    run = train(gan, config(tmp_path / "a"))
    assert_same_run(ref["history"], ref["state"], rows(run), state(gan))
    run_b = train(make_gan(seed=1), config(tmp_path / "b", SEED=1))
    assert [r["d_loss"] for r in run_b.history] != [r["d_loss"] for r in ref["history"]]


def test_starting_again_moves_the_earlier_run_aside(tmp_path):
    train(make_gan(), config(tmp_path / "run", epochs=1))
    first = (tmp_path / "run" / "history.csv").read_text()
    train(make_gan(seed=1), config(tmp_path / "run", epochs=1, SEED=1))
    assert (tmp_path / "run-previous-1" / "history.csv").read_text() == first
    assert (tmp_path / "run-previous-1" / "checkpoint" / "latest.json").is_file()
    assert (tmp_path / "run" / "history.csv").read_text() != first


def test_checkpoint_is_refused_for_another_architecture_or_other_settings(reference):
    ref = reference("dense")
    run_dir = ref["run"].dir
    fp = checkpoint.fingerprint(config(run_dir))
    sgd = make_gan()  # the same networks, but G trained by another optimizer, with other state
    sgd.compile(d_optimizer=keras.optimizers.Adam(), g_optimizer=keras.optimizers.SGD(momentum=0.9))
    for other in (make_gan(widths=(16, 16)), make_gan(widths=(32,)), make_gan(cond=True), sgd):
        with pytest.raises(CheckpointError, match="another architecture"):
            checkpoint.restore(run_dir, other, fp)
    ema = GeneratorEMA(make_gan().generator)  # an EMA the run did not have
    with pytest.raises(CheckpointError, match="another architecture"):
        checkpoint.restore(run_dir, make_gan(), fp, {"ema_generator": ema.average})
    before = (run_dir / "checkpoint" / "latest.json").read_text()
    with pytest.raises(CheckpointError, match="other settings"):
        train(make_gan(), config(run_dir, epochs=3, resume=True, LEARNING_RATE=1e-3))
    assert (run_dir / "checkpoint" / "latest.json").read_text() == before
    # what may change on resume: EPOCHS, RESUME, RUN_DIR, snapshot epochs, check spacing
    later = config(run_dir / "x", epochs=9, resume=True, SNAPSHOT_EPOCHS=[0, 9], VAL_EVERY=7)
    assert checkpoint.fingerprint(later) == fp


def test_a_refused_resume_leaves_the_old_runs_records_alone(tmp_path):
    train(make_gan(), config(tmp_path / "run", epochs=1))
    info = (tmp_path / "run" / "run_info.json").read_text()
    with pytest.raises(CheckpointError, match="other settings"):
        train(make_gan(), config(tmp_path / "run", resume=True, LEARNING_RATE=1e-3))
    assert (tmp_path / "run" / "run_info.json").read_text() == info


def test_a_checkpoint_of_the_earlier_format_is_refused_in_one_sentence(tmp_path):
    (tmp_path / "run").mkdir()
    np.savez(tmp_path / "run" / "checkpoint.npz", epoch=np.array(1))
    with pytest.raises(CheckpointError, match=r"earlier version of this series.*RESUME = False") as e:
        train(make_gan(), config(tmp_path / "run", resume=True))
    assert str(e.value).count(". ") <= 1


@pytest.mark.parametrize("damage", ["garbage", "empty", "weights"])
def test_a_damaged_checkpoint_is_a_clear_error(damage, tmp_path):
    train(make_gan(), config(tmp_path / "run", epochs=1))
    latest = tmp_path / "run" / "checkpoint" / "latest.json"
    if damage == "weights":
        for f in (tmp_path / "run" / "checkpoint").rglob("*.h5"):
            f.write_bytes(b"not hdf5")
        match = "another architecture|not a readable"
    else:
        latest.write_text("" if damage == "empty" else "not json at all")
        match = "not a readable checkpoint"
    with pytest.raises(CheckpointError, match=match):
        train(make_gan(), config(tmp_path / "run", resume=True))
