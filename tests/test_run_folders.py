"""Starting a run again never deletes an earlier one (records.prepare_dir, used by 02 and 03 with RESUME = False)."""

from gan_utils import records


def _run_in(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "history.csv").write_text(text)


def test_three_successive_fresh_starts_keep_every_earlier_run(tmp_path, capsys):
    run = tmp_path / "runs" / "02_dense_gan"
    for i in range(1, 5):  # four runs started with RESUME = False in the same RUN_DIR
        assert records.prepare_dir(run, resume=False) == run
        assert not any(run.iterdir()), "the folder is empty for the new run"
        _run_in(run, f"run {i}")
    kept = {p.name: (p / "history.csv").read_text() for p in run.parent.iterdir() if p != run}
    assert kept == {
        "02_dense_gan-previous-1": "run 1",
        "02_dense_gan-previous-2": "run 2",
        "02_dense_gan-previous-3": "run 3",
    }
    assert (run / "history.csv").read_text() == "run 4"
    out = capsys.readouterr().out
    assert f"it was kept as {run}-previous-3" in out and "RESUME = True" in out


def test_resuming_keeps_the_run_in_place(tmp_path, capsys):
    run = tmp_path / "run"
    _run_in(run, "first")
    records.prepare_dir(run, resume=True)
    assert (run / "history.csv").read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["run"]
    assert "holds no checkpoint yet" in capsys.readouterr().out


def test_an_empty_folder_is_used_as_it_is(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    records.prepare_dir(run, resume=False)
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
