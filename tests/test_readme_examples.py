"""The README's "Your model" examples run as written (stand-in data in the blocks themselves).

Two seams, both for things that cannot happen here: torchvision 0.28 (the release for torch
2.13) ships only a CUDA build, so when it does not import, ``torchvision.models.resnet18`` is
the hand-built ResNet-18 in resnet_standin.py; and ``from_pretrained`` would download, so it
returns a tiny randomly initialised BERT and an in-memory word-level tokenizer.
"""

import os
import re
import sys
import types

import pytest

from tensorboard_dvi import storage

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _blocks():
    text = open(README, encoding="utf-8").read()
    section = text.split("\n## Your model\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_there_are_four_examples():
    blocks = _blocks()
    assert len(blocks) == 4
    assert [("resnet18" in b, "Trainer(" in b, "feature_names" in b) for b in blocks] == [
        (False, False, False), (True, False, False), (False, True, False), (False, False, True)]


def _exec(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md (Your model)", "exec"), {"__name__": "readme_example"})


def test_cnn_example(tmp_path, monkeypatch):
    _exec(_blocks()[0], tmp_path, monkeypatch)
    r = storage.RunReader(str(tmp_path / "runs" / "cnn"))
    assert r.epochs() == [1, 2] and r.meta["has_thumbnails"] and r.meta["border_space"] == "input"


def test_resnet_example(tmp_path, monkeypatch):
    try:
        import torchvision.models  # noqa: F401
    except (ImportError, RuntimeError):
        import resnet_standin
        tv = types.ModuleType("torchvision")
        tv.models = types.ModuleType("torchvision.models")
        tv.models.resnet18 = resnet_standin.resnet18
        monkeypatch.setitem(sys.modules, "torchvision", tv)
        monkeypatch.setitem(sys.modules, "torchvision.models", tv.models)
    _exec(_blocks()[1], tmp_path, monkeypatch)
    r = storage.RunReader(str(tmp_path / "runs" / "resnet"))
    assert r.epochs() == [1, 2] and r.meta["dim"] == 512


def test_transformers_example(tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from test_transformers import make_tokenizer, tiny_bert
    code = _blocks()[2]
    words = re.findall(r"[a-z]+", " ".join(re.findall(r'"([^"]*)"', code)))
    tokenizer = make_tokenizer(words)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: tokenizer)
    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained",
                        lambda *a, num_labels=2, **k: tiny_bert(len(tokenizer), num_labels))
    _exec(code, tmp_path, monkeypatch)
    r = storage.RunReader(str(tmp_path / "out" / "dvi"))
    assert r.epochs() == [1, 2]
    assert r.meta["border_space"] == "embedding:bert.embeddings.word_embeddings"
    assert r.texts()[:1] == ["the match ended with a late goal"]


def test_tabular_example(tmp_path, monkeypatch):
    _exec(_blocks()[3], tmp_path, monkeypatch)
    r = storage.RunReader(str(tmp_path / "runs" / "tabular"))
    assert r.epochs() == [1, 2, 3]
    assert r.feature_names() == ["age", "income", "lat", "score"] and r.features().shape == (300, 4)
    assert set(r.metadata_columns()["region"]) == {"north", "south"}
