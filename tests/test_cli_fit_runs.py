"""`tensorboard-dvi fit`: a run prefix as Lightning names runs, and "already fitted"."""

import pytest

from conftest import make_run
from engine_testdata import TINY
from tensorboard_dvi import cli
from tensorboard_dvi.engine import EngineConfig
from tensorboard_dvi.engine.cache import RunCache


def test_prefix_names_one_run_then_already_fitted(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_config", lambda args: EngineConfig(**TINY), raising=False)
    make_run(tmp_path / "my_run" / "version_0", epochs=2, n_train=150, n_test=30)
    cache = str(tmp_path / "cache")
    assert cli.main(["fit", str(tmp_path), "--run", "my_run", "--cache-dir", cache, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "using my_run/version_0" in captured.err and "fitted 2 epoch(s)" in captured.out
    assert RunCache(cache).fitted_epochs() == [1, 2]
    assert cli.main(["fit", str(tmp_path), "--run", "my_run", "--cache-dir", cache]) == 0
    captured = capsys.readouterr()
    assert "my_run/version_0: already fitted (2 epoch(s))" in captured.out
    assert "0/0" not in captured.err + captured.out and "%" not in captured.err  # no progress bar at all
    make_run(tmp_path / "my_run" / "version_1", epochs=1, n_train=150, n_test=30)
    with pytest.raises(SystemExit, match="--run my_run matches 2 runs: my_run/version_0, my_run/version_1"):
        cli.main(["fit", str(tmp_path), "--run", "my_run", "--cache-dir", cache])


def test_changed_engine_settings_refit_instead_of_already_fitted(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_config", lambda args: EngineConfig(**TINY), raising=False)
    make_run(tmp_path / "run", epochs=2, n_train=150, n_test=30)
    cache = str(tmp_path / "cache")
    assert cli.main(["fit", str(tmp_path / "run"), "--cache-dir", cache, "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(cli, "_config", lambda args: EngineConfig(**{**TINY, "anchor_strength": 0.5}), raising=False)
    assert cli.main(["fit", str(tmp_path / "run"), "--cache-dir", cache, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "already fitted" not in out and "fitted 2 epoch(s)" in out
    assert {RunCache(cache).epoch_info(e)["config"]["anchor_strength"] for e in (1, 2)} == {0.5}
