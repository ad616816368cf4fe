"""The engine on runs written by the real writer, through fit_run and the CLI."""

import numpy as np
import pytest

from conftest import make_run
from engine_testdata import TINY
from tensorboard_dvi import cli
from tensorboard_dvi.engine import EngineConfig, fit_run
from tensorboard_dvi.engine import metrics as M
from tensorboard_dvi.engine.cache import RunCache, default_cache_dir


@pytest.fixture(scope="module")


def logdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("logs")
    make_run(d / "clean", epochs=4, n_train=300, n_test=60, seed=0)
    return d


def test_fit_run_on_a_written_run(logdir, tmp_path):
    done = fit_run(str(logdir / "clean"), str(tmp_path / "c"), config=EngineConfig(**TINY))
    assert done == [1, 2, 3, 4]
    cache = RunCache(str(tmp_path / "c"))
    assert cache.embedding(4).shape == (360, 2)
    m = cache.metrics(4)
    assert m["tr_chain"] is not None and -1 <= m["tr_chain"] <= 1  # three earlier epochs in the chain
    assert m["tnn_5_chain"] is None  # needs six
    from tensorboard_dvi.storage import RunReader
    reader = RunReader(str(logdir / "clean"))
    uids = {e: reader.epoch(e).uid for e in reader.epochs()}
    assert cache.fitted_epochs(uids) == [1, 2, 3, 4]
    assert cache.input_uid(2) == uids[2]
    # run level, every epoch an anchor: recomputed here from the logdir and the cache alone
    run = cache.run_metrics()
    assert run["epochs"] == [1, 2, 3, 4] and run["n_samples"] == 300 and isinstance(run["n_samples"], int)  # a count, printed as one
    rows = np.nonzero(np.asarray(reader.static().split) == 0)[0]
    high = np.stack([np.asarray(reader.epoch(e).representations)[rows] for e in run["epochs"]])
    low = np.stack([np.asarray(cache.embedding(e))[rows] for e in run["epochs"]])
    tnn3, tr = M.temporal_ranking(high, low, 3)
    assert run["tr"] == pytest.approx(tr, abs=1e-5) and run["tnn_3"] is None and tnn3 is None  # 3 others
    assert run["tnn_5"] is None and -1 <= run["temporal_corr"] <= 1
    assert run["mean"]["nn_15"] == pytest.approx(np.mean([cache.metrics(e)["nn_15"] for e in range(1, 5)]))
    # border points' drawn positions are stored, so boundary NN is recomputable from the cache
    pos, brows = cache.border_embedding(4)
    border = np.asarray(reader.epoch(4).border)[brows]
    x_tr, y_tr = np.asarray(reader.epoch(4).representations)[rows], np.asarray(cache.embedding(4))[rows]
    assert M.boundary_nn(x_tr, border, y_tr, np.asarray(pos), 15) == pytest.approx(m["boundary_nn_15"])


def test_cli_fit_then_eval(logdir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_config", lambda args: EngineConfig(**TINY, threads=args.threads), raising=False)
    cache_dir = str(tmp_path / "cc")
    assert cli.main(["eval", str(logdir), "--run", "clean", "--cache-dir", cache_dir]) == 0
    out = capsys.readouterr().out
    assert "4 epoch(s) not fitted yet" in out and "tensorboard-dvi fit" in out
    assert cli.main(["fit", str(logdir), "--run", "clean", "--epochs", "1:2", "--cache-dir", cache_dir,
                     "--quiet"]) == 0
    assert RunCache(cache_dir).fitted_epochs() == [1, 2]
    assert cli.main(["eval", str(logdir), "--run", "clean", "--cache-dir", cache_dir]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit() and len(ln.split()) == 12]
    assert [ln.split()[0] for ln in lines] == ["1", "2"]
    assert "NN@15" in out and "PPR train" in out and "2 epoch(s) not fitted yet" in out
    assert "run level over 2 epochs" in out and "tnn@5 -" in out  # tnn@5 needs 6 other epochs


def test_cli_errors(logdir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["fit", str(logdir), "--run", "nope"])
    with pytest.raises(SystemExit):
        cli.main(["fit", str(logdir), "--epochs", "a:b"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match="no DVI runs"):
        cli.main(["fit", str(empty)])


def test_cli_default_cache_is_the_plugins(logdir, monkeypatch, tmp_path):
    monkeypatch.setenv("TENSORBOARD_DVI_CACHE", str(tmp_path / "root"))
    monkeypatch.setattr(cli, "_config", lambda args: EngineConfig(**TINY), raising=False)
    assert cli.main(["fit", str(logdir), "--run", "clean", "--epochs", "1:1", "--quiet"]) == 0
    assert RunCache(default_cache_dir(str(logdir / "clean"))).fitted_epochs() == [1]
