"""The quality benchmark's subject helpers (benchmarks/quality_subjects.py), without training a subject."""

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import quality_subjects as QS  # noqa: E402


def test_sizes_per_subject_and_unknown_name_named():
    assert QS.sizes("mnist_cnn") == (2500, 500)
    assert QS.sizes("mnist_cnn512") == (5000, 1000)
    with pytest.raises(ValueError, match="'mnist_cnn1024'"):
        QS.sizes("mnist_cnn1024")


def test_held_out_shaped_subject_is_by_name_only_and_cached_apart():
    assert "mnist_cnn512" not in QS.SUBJECTS and "mnist_cnn512" in QS.EXTRA_SUBJECTS
    # the four tuned subjects keep their cache file names (reused from the shared cache)
    assert os.path.basename(QS.subject_path("mnist_cnn")) == "mnist_cnn-s0-e8-n2500.npz"
    assert os.path.basename(QS.subject_path("mnist_cnn512", 1)) == "mnist_cnn512-s1-e8-n5000.npz"


def test_cnn512_logs_512d_representations_without_dropout_in_eval():
    torch.manual_seed(0)
    m = QS.CNN512()
    x = torch.rand(6, 1, 28, 28)
    m.eval()
    with torch.no_grad():
        a, b = m.features(x), m.features(x)
    assert a.shape == (6, 512) and m.head(a).shape == (6, 10)
    assert torch.equal(a, b) and (a >= 0).all()
    m.train()
    with torch.no_grad():
        assert not torch.equal(m.features(x), a)  # dropout acts while training only


def test_mlp_sgd512_is_an_untuned_extra_with_batchnorm_512d_features():
    assert "mlp_sgd512" in QS.EXTRA_SUBJECTS and "mlp_sgd512" not in QS.SUBJECTS
    assert QS.sizes("mlp_sgd512") == (5000, 1000) and QS.NOISE["mlp_sgd512"] == 0.1
    torch.manual_seed(0)
    m = QS.MLPBN()
    x = torch.rand(8, 1, 28, 28)
    m.train()
    m.features(x)  # BatchNorm's running statistics move in training mode
    m.eval()
    with torch.no_grad():
        a, b = m.features(x), m.features(x)
    assert a.shape == (8, 512) and m.head(a).shape == (8, 10)
    assert torch.equal(a, b) and (a >= 0).all()  # eval: running statistics, no dropout; ReLU features
    assert any(isinstance(layer, torch.nn.BatchNorm1d) for layer in m.body)


def test_text_docs_reads_real_docstrings_into_balanced_enough_windows():
    import numpy as np
    win = QS.docstring_windows()
    labels = np.array([f for _, f in win])
    assert all(len(ws) == QS.DOC_WINDOW for ws, _ in win)
    counts = np.bincount(labels, minlength=len(QS.DOC_FAMILIES))
    assert counts.min() > 200 and counts.sum() > QS.N_TRAIN + QS.N_TEST  # every family has text, enough rows
    x, y, xt, yt, classes = QS.docs_data(np.random.default_rng(0))
    assert classes == len(QS.DOC_FAMILIES) and len(xt) == QS.N_TEST and len(x) + len(xt) == len(win)
    assert x.max() < QS.DOC_VOCAB and x.min() >= 1  # ids of the vocabulary, 1 = unknown word
    m = QS.DocTransformer(classes).eval()
    with torch.no_grad():
        r = m.features(m.embed(x[:5]))
    assert r.shape == (5, 128) and m.head(r).shape == (5, classes)


def test_a_logged_run_reads_as_a_subject_with_its_linear_head(tmp_path):
    import numpy as np

    from conftest import make_run
    from tensorboard_dvi.reader import RunReader

    run = tmp_path / "logs" / "clean"
    w = make_run(run, epochs=2, seed=0, n_train=120, n_test=30, border_points=20)
    d = QS.load_logged_run(str(run))
    reader = RunReader(str(run))
    assert d["reps"].shape[0] == 2 and len(d["border"]) == 2
    np.testing.assert_array_equal(d["reps"][1], reader.epoch(2).representations)
    np.testing.assert_array_equal(d["split"], reader.static().split)
    # the rebuilt head is the trained model's last layer
    head = w.trained_model[-1]
    np.testing.assert_allclose(d["head_w"][1], head.weight.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(d["head_b"][1], head.bias.detach().numpy(), rtol=1e-6)
    other = tmp_path / "logs" / "other"
    make_run(other, epochs=2, seed=1, n_train=120, n_test=30, border_points=20)
    assert d["uid"] != QS.load_logged_run(str(other))["uid"]    # cached results follow the run's content
    with pytest.raises(ValueError, match="no DVI run"):
        QS.load_logged_run(str(tmp_path / "missing"))
