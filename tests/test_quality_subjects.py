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
