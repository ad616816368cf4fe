"""Run B fitted from run A's layout (engine/reference.py) on two real runs of one model written by
DVIWriter (sklearn digits MLP, tests/conftest.make_run): same samples, clean vs 20 % noisy labels."""

import os

import numpy as np
import pytest
import torch

from conftest import make_run
from tensorboard_dvi.engine import EngineConfig, fit_run
from tensorboard_dvi.engine.cache import RunCache
from tensorboard_dvi.engine.reference import (ReferenceNotReady, fit_from_reference, fresh_epochs,
                                              reference_cache_dir, residual)
from tensorboard_dvi.storage import RunReader

CFG = dict(hidden=(64, 64), max_trainer_epochs=4, threads=1, temporal_sample=300, background_resolution=24)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ref")
    a, b = str(root / "logs" / "clean"), str(root / "logs" / "noisy")
    make_run(a, epochs=2, n_train=500, n_test=100, seed=0, noisy_fraction=0.0, thumbnails=False)
    make_run(b, epochs=2, n_train=500, n_test=100, seed=0, noisy_fraction=0.2, thumbnails=False)
    cfg = EngineConfig(**CFG)
    ca, cb = str(root / "cache" / "a"), str(root / "cache" / "b")
    fit_run(a, ca, config=cfg)
    fit_run(b, cb, config=cfg)
    cr = reference_cache_dir(cb, a)
    done = fit_from_reference(b, cr, reference_path=a, reference_cache=ca, config=cfg)
    return dict(a=a, b=b, ca=RunCache(ca), cb=RunCache(cb), cr=RunCache(cr), cr_dir=cr, done=done, cfg=cfg)


def test_reference_fit_lies_on_a_and_keeps_bs_neighbours(pair):
    assert pair["done"] == [1, 2]
    for e in (1, 2):
        a, own, ref = (np.asarray(pair[k].embedding(e)) for k in ("ca", "cb", "cr"))
        procrustes = residual(a, own)        # the tab's "rotate" alignment of B's own map
        fitted = residual(a, ref, align=False)  # drawn as fitted, no alignment
        assert fitted < 0.5 * procrustes, (e, fitted, procrustes)
        nn_own = pair["cb"].metrics(e)["nn_15"]
        nn_ref = pair["cr"].metrics(e)["nn_15"]
        assert nn_ref >= 0.9 * nn_own, (e, nn_ref, nn_own)


def test_reference_results_live_in_their_own_folder_and_stay_fresh(pair):
    assert pair["cr_dir"] != pair["cb"].cache_dir and pair["cr_dir"].startswith(pair["cb"].cache_dir)
    assert os.path.isdir(os.path.join(pair["cr_dir"], "epochs"))
    b_reader = RunReader(pair["b"])
    uids = {e: b_reader.epoch(e).uid for e in b_reader.epochs()}
    assert fresh_epochs(pair["cr"], uids, pair["ca"], [1, 2]) == [1, 2]
    # B's own cache is untouched: its embedding differs from the reference fit's
    assert not np.allclose(pair["cb"].embedding(1), pair["cr"].embedding(1))
    # A's epoch 2 missing -> only epoch 1 is fresh; refit is a no-op for fresh epochs
    assert fresh_epochs(pair["cr"], uids, pair["ca"], [1]) == [1]
    again = fit_from_reference(pair["b"], pair["cr_dir"], reference_path=pair["a"],
                               reference_cache=pair["ca"].cache_dir, config=pair["cfg"])
    assert again == []


def test_reference_not_fitted_is_a_clear_error(pair, tmp_path):
    with pytest.raises(ReferenceNotReady, match="fitted none of epochs"):
        fit_from_reference(pair["b"], str(tmp_path / "r"), reference_path=pair["a"],
                           reference_cache=str(tmp_path / "empty"), config=pair["cfg"])
