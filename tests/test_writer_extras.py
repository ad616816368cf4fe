"""texts=, feature_names= and metadata= are validated at construction and stored in the run (FORMAT.md)."""

import json
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from tensorboard_dvi import DVIWriter, storage

X, Y = torch.randn(12, 3), torch.arange(12) % 2
XT, YT = torch.randn(4, 3), torch.arange(4) % 2


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))


def test_extras_round_trip(tmp_path):
    run = str(tmp_path / "run")
    texts = [f"sample {i}" for i in range(16)]
    meta = {"source": ["web"] * 8 + ["book"] * 8, "score": np.linspace(0, 1, 16), "flag": [True, False] * 8,
            "missing": [None, float("nan")] + [np.int64(3)] * 14}
    DVIWriter(run, _mlp(), X, Y, test_data=XT, test_labels=YT, texts=texts, feature_names=["a", "b", "c"],
              metadata=meta, border_points=0).log_epoch(1)
    r = storage.RunReader(run)
    assert r.texts() == texts
    assert r.feature_names() == ["a", "b", "c"]
    np.testing.assert_array_equal(r.features(), torch.cat([X, XT]).numpy())
    assert r.features().dtype == np.float32
    cols = r.metadata_columns()
    assert cols["source"][:2] == ["web", "web"] and cols["flag"][:2] == [1, 0]
    assert cols["missing"][:3] == [None, None, 3]
    np.testing.assert_allclose(cols["score"], np.linspace(0, 1, 16))
    with open(os.path.join(storage.plugin_dir(run), "static", "metadata.json")) as f:
        assert set(json.load(f)) == {"columns"}
    assert r.meta["metadata_columns"] == ["source", "score", "flag", "missing"]
    assert r.meta["has_texts"] and r.meta["has_features"] and r.meta["border_space"] == "input"
    plain = str(tmp_path / "plain")
    DVIWriter(plain, _mlp(), X, Y, border_points=0).log_epoch(1)
    p = storage.RunReader(plain)
    assert p.texts() is None and p.features() is None and p.metadata_columns() is None


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(texts=["x"] * 11), ValueError, r"texts= has 11 entries, expected 12"),
    (dict(texts=["x"] * 11 + [3]), TypeError, r"texts\[11\] is a int"),
    (dict(texts="one string"), TypeError, "texts= must be a list"),
    (dict(feature_names=["a", "b"]), ValueError, "feature_names= has 2 names but the inputs have 3 columns"),
    (dict(feature_names=["a", "a", "b"]), ValueError, "duplicate"),
    (dict(metadata={"source": ["x"] * 5}), ValueError, r"metadata\['source'\] has 5 values, expected 12"),
    (dict(metadata={"source": [{"a": 1}] * 12}), TypeError, r"metadata\['source'\]\[0\] is a dict"),
    (dict(metadata=["source"]), TypeError, "metadata= must be a non-empty dict"),
])
def test_extras_bad_input(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        DVIWriter(str(tmp_path / "run"), _mlp(), X, Y, **kwargs)
    assert not (tmp_path / "run").exists()


def test_feature_names_need_tabular_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"feature_names= needs tabular inputs.*\(12, 1, 3\)"):
        DVIWriter(str(tmp_path / "run"), nn.Sequential(nn.Flatten(), _mlp()), X[:, None], Y, feature_names=["a"])
