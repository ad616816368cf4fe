"""Inputs as models take them: integer ids, dicts, tuples, Datasets, autocast, channels_last; bad input."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from tensorboard_dvi import DVIWriter, storage
from tensorboard_dvi.border import MARGIN, normalised_margin

VOCAB, SEQ = 50, 12


class BagOfWords(nn.Module):
    """token ids -> nn.Embedding -> masked mean -> Linear -> Linear (the issue's text classifier)."""

    def __init__(self, classes=3):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16)
        self.hidden = nn.Linear(16, 16)
        self.out = nn.Linear(16, classes)

    def forward(self, input_ids, attention_mask=None):
        e = self.emb(input_ids)
        m = torch.ones_like(input_ids, dtype=e.dtype) if attention_mask is None else attention_mask.to(e.dtype)
        pooled = (e * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp_min(1)
        return self.out(torch.relu(self.hidden(pooled)))


class NeedsMask(BagOfWords):
    def forward(self, input_ids, attention_mask):
        return super().forward(input_ids, attention_mask)


def _text_data(n=90, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (n, SEQ), generator=g)
    lengths = torch.randint(4, SEQ + 1, (n,), generator=g)
    mask = (torch.arange(SEQ)[None] < lengths[:, None]).long()
    ids = ids * mask
    y = torch.remainder(ids[:, 0], 3)
    return ids, mask, y


def _trained(model, batch, y, steps=60):
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(steps):
        opt.zero_grad()
        out = model(**batch) if isinstance(batch, dict) else model(*batch)
        nn.functional.cross_entropy(out, y).backward()
        opt.step()
    return model


def _assert_border_ambiguous(run):
    e = storage.RunReader(str(run)).epoch(1)
    assert len(e.border) > 0
    with torch.no_grad():
        margin = normalised_margin(e.head_module()(torch.from_numpy(e.border)))
    assert float(margin.max()) < MARGIN
    return e


def test_token_ids_stay_integer_and_border_points_use_the_embedding(tmp_path):
    torch.manual_seed(0)
    ids, mask, y = _text_data()
    model = _trained(BagOfWords(), (ids,), y)
    w = DVIWriter(str(tmp_path / "run"), model, ids, y, border_points=20)
    assert w.border_space == "embedding:emb"
    w.log_epoch(1)
    r = storage.RunReader(str(tmp_path / "run"))
    assert r.meta["border_space"] == "embedding:emb"
    e = _assert_border_ambiguous(tmp_path / "run")
    with torch.no_grad():
        np.testing.assert_allclose(e.logits, model(ids).numpy(), atol=1e-5)
    assert e.representations.shape == (90, 16)


def test_dict_tuple_and_dataset_inputs_give_the_same_representations(tmp_path):
    torch.manual_seed(1)
    ids, mask, y = _text_data()
    model = _trained(NeedsMask(), {"input_ids": ids, "attention_mask": mask}, y)
    whole = {"input_ids": ids, "attention_mask": mask}

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return len(ids)

        def __getitem__(self, i):  # the Hugging Face layout: label under "labels"
            return {"input_ids": ids[i], "attention_mask": mask[i], "labels": y[i]}

    runs = {"dict": dict(train_data=whole, train_labels=y), "tuple": dict(train_data=(ids, mask), train_labels=y),
            "dataset": dict(train_data=Items())}
    try:
        from transformers import BatchEncoding
        runs["batch_encoding"] = dict(train_data=BatchEncoding(whole), train_labels=y.tolist())
    except ImportError:
        pass
    reps = {}
    for name, kw in runs.items():
        w = DVIWriter(str(tmp_path / name), model, batch_size=32, border_points=10, **kw)
        w.log_epoch(1)
        reps[name] = _assert_border_ambiguous(tmp_path / name).representations
        np.testing.assert_array_equal(storage.RunReader(str(tmp_path / name)).static().labels, y.numpy())
    for name in runs:
        np.testing.assert_allclose(reps[name], reps["dict"], atol=1e-6)


def test_mixed_float_and_categorical_tuple_inputs_from_a_dataset(tmp_path):
    class Tabular(nn.Module):
        def __init__(self):
            super().__init__()
            self.cat = nn.Embedding(5, 4)
            self.body = nn.Sequential(nn.Linear(7, 12), nn.ReLU())
            self.fc = nn.Linear(12, 2)

        def forward(self, num, cat):
            return self.fc(self.body(torch.cat([num, self.cat(cat)], 1)))

    torch.manual_seed(2)
    num, cat = torch.randn(80, 3, dtype=torch.float64), torch.randint(0, 5, (80,))
    y = ((num[:, 0] > 0) ^ (cat > 2)).long()
    model = _trained(Tabular(), (num.float(), cat), y)
    ds = torch.utils.data.TensorDataset(num, cat, y)  # items (num, cat, label); float64 is cast to the model's dtype
    w = DVIWriter(str(tmp_path / "run"), model, ds, border_points=10)
    assert w.border_space == "embedding:cat"
    w.log_epoch(1)
    _assert_border_ambiguous(tmp_path / "run")


def test_variable_length_items_with_a_collate_function(tmp_path):
    ids, mask, y = _text_data(40)
    items = [(ids[i][mask[i].bool()].tolist(), int(y[i])) for i in range(40)]  # ragged lists of ints

    def collate(batch):
        length = max(len(t) for t, _ in batch)
        x = torch.zeros(len(batch), length, dtype=torch.long)
        for i, (t, _) in enumerate(batch):
            x[i, :len(t)] = torch.tensor(t)
        return x, torch.tensor([label for _, label in batch])

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return len(items)

        def __getitem__(self, i):
            return items[i]

    with pytest.raises(TypeError, match="train_data items.*collate_fn="):
        DVIWriter(str(tmp_path / "a"), BagOfWords(), Items())
    w = DVIWriter(str(tmp_path / "b"), _trained(BagOfWords(), (ids,), y), Items(), collate_fn=collate,
                  border_points=5)
    w.log_epoch(1)
    assert storage.RunReader(str(tmp_path / "b")).epoch(1).representations.shape == (40, 16)


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 8),
                         nn.ReLU(), nn.Linear(8, 3))


def test_channels_last_and_autocast(tmp_path):
    torch.manual_seed(3)
    x, y = torch.randn(60, 1, 8, 8), torch.randint(0, 3, (60,))
    model = _cnn()
    DVIWriter(str(tmp_path / "nchw"), model, x, y, border_points=0).log_epoch(1)
    last = _cnn()
    last.load_state_dict(model.state_dict())
    last = last.to(memory_format=torch.channels_last)
    w = DVIWriter(str(tmp_path / "cl"), last, x, y, border_points=0)
    w.log_epoch(1)
    ref = storage.RunReader(str(tmp_path / "nchw")).epoch(1)
    np.testing.assert_allclose(storage.RunReader(str(tmp_path / "cl")).epoch(1).representations,
                               ref.representations, atol=1e-5)
    for dtype in ("float32", "float16"):
        DVIWriter(str(tmp_path / f"amp-{dtype}"), model, x, y, autocast="bfloat16", dtype=dtype,
                  border_points=6).log_epoch(1)
        e = storage.RunReader(str(tmp_path / f"amp-{dtype}")).epoch(1)
        assert e.representations_raw.dtype == np.dtype(dtype)
        assert np.isfinite(e.representations).all()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            expected = model(x).float().argmax(1).numpy()
        assert (e.predictions == expected).mean() > 0.95
        np.testing.assert_allclose(e.representations, ref.representations, atol=0.1)


# ----------------------------------------------------------------------------- bad input

def test_unbatchable_inputs_fail_at_construction(tmp_path):
    from PIL import Image
    images = [Image.new("L", (8, 8)) for _ in range(4)]
    with pytest.raises(TypeError, match="cannot batch a list of Image.*collate_fn="):
        DVIWriter(str(tmp_path / "r"), _cnn(), images, [0] * 4)
    with pytest.raises(TypeError, match="cannot batch.*collate_fn="):
        DVIWriter(str(tmp_path / "r"), _cnn(), [[1, 2], [3]], [0, 1])
    with pytest.raises(TypeError, match="cannot stack its tensors.*collate_fn="):
        DVIWriter(str(tmp_path / "r"), _cnn(), [torch.rand(1, 8, 8), torch.rand(1, 9, 9)], [0, 1])
    w = DVIWriter(str(tmp_path / "ok"), _cnn(), [torch.rand(1, 8, 8) for _ in range(4)], [0, 1, 2, 0])
    assert w.train.n == 4  # a list of per-sample tensors of one shape is stacked

    class Strings(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return "some text", 0

    with pytest.raises(TypeError, match=r"train_data items is a str, not a tensor.*collate_fn="):
        DVIWriter(str(tmp_path / "r"), _cnn(), Strings())
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("labels,match", [
    (["cat", "dog", "cat", "dog"], "str values.*class_names="),
    (np.eye(3)[[0, 1, 2, 0]], r"shape \(4, 3\).*one-hot.*argmax"),
    ([0, 1, 2, 7], "label 7 is out of range for a head with 3 outputs"),
    ([0, 1, -1, 0], "non-negative"),
    ([0.5, 1, 2, 0], "integer class indices"),
])
def test_bad_labels(tmp_path, labels, match):
    with pytest.raises(ValueError, match=match):
        DVIWriter(str(tmp_path / "r"), _cnn(), torch.randn(4, 1, 8, 8), labels)
    assert not (tmp_path / "r").exists()


def test_forward_needing_arguments_not_given(tmp_path):
    ids, mask, y = _text_data(10)
    with pytest.raises(TypeError, match="needs attention_mask that the logged inputs do not provide"):
        DVIWriter(str(tmp_path / "r"), NeedsMask(), ids, y)
    with pytest.raises(TypeError, match="takes no argument named token_type_ids"):
        DVIWriter(str(tmp_path / "r"), NeedsMask(), {"input_ids": ids, "attention_mask": mask,
                                                     "token_type_ids": mask}, y)


def test_nothing_written_for_a_failed_epoch(tmp_path):
    model = _cnn()
    w = DVIWriter(str(tmp_path / "r"), model, torch.randn(10, 1, 8, 8), [0, 1, 2] * 3 + [0], border_points=0)
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN or inf"):
        w.log_epoch(1)
    assert not storage.RunReader(str(tmp_path / "r")).exists()
    assert storage.RunReader(str(tmp_path / "r")).epochs() == []


def test_border_space_choices(tmp_path):
    class OneHot(nn.Module):  # integer inputs, no embedding module: representations are mixed
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(5 * 4, 16), nn.ReLU())
            self.fc = nn.Linear(16, 3)

        def forward(self, codes):
            return self.fc(self.body(nn.functional.one_hot(codes, 5).float().flatten(1)))

    torch.manual_seed(4)
    codes = torch.randint(0, 5, (90, 4))
    y = torch.remainder(codes[:, 0] + codes[:, 1], 3)
    model = _trained(OneHot(), (codes,), y, steps=80)
    w = DVIWriter(str(tmp_path / "run"), model, codes, y, border_points=15)
    assert w.border_space == "representation"
    w.log_epoch(1)
    assert storage.RunReader(str(tmp_path / "run")).meta["border_space"] == "representation"
    _assert_border_ambiguous(tmp_path / "run")
    with pytest.raises(ValueError, match="border_space='input': the inputs include integer tensors"):
        DVIWriter(str(tmp_path / "bad"), model, codes, y, border_space="input")
    ids, mask, ty = _text_data()
    with pytest.raises(ValueError, match="border_space='embedding:nope': the model has no submodule"):
        DVIWriter(str(tmp_path / "bad"), BagOfWords(), ids, ty, border_space="embedding:nope")
    with pytest.raises(ValueError, match="border_space must be"):
        DVIWriter(str(tmp_path / "bad"), BagOfWords(), ids, ty, border_space="mixup")
    named = DVIWriter(str(tmp_path / "named"), _trained(BagOfWords(), (ids,), ty), ids, ty, border_points=10,
                      border_space="embedding:emb")
    named.log_epoch(1)
    _assert_border_ambiguous(tmp_path / "named")


def test_bfloat16_model(tmp_path):
    torch.manual_seed(5)
    x, y = torch.randn(60, 1, 8, 8), torch.randint(0, 3, (60,))
    model = _trained(_cnn(), (x,), y, steps=30).to(torch.bfloat16)
    DVIWriter(str(tmp_path / "run"), model, x, y, border_points=6).log_epoch(1)  # float32 inputs cast to bf16
    e = storage.RunReader(str(tmp_path / "run")).epoch(1)
    assert e.representations_raw.dtype == np.float32 and np.isfinite(e.representations).all()
    with torch.no_grad():
        assert (e.predictions == model(x.to(torch.bfloat16)).float().argmax(1).numpy()).mean() > 0.95


def test_two_class_margin_is_the_probability_difference():
    """Min-max normalisation maps any two logits to (1, 0); for two classes the margin is |p0 - p1|,
    the same in numpy (plugin flags) and torch (border search)."""
    from tensorboard_dvi.scoring import near_boundary
    z = np.array([[0.1, 0.0], [3.0, -1.0], [-0.2, 0.2]], np.float32)
    p = torch.softmax(torch.from_numpy(z), 1).numpy()
    np.testing.assert_allclose(normalised_margin(z), np.abs(p[:, 0] - p[:, 1]), atol=1e-6)
    np.testing.assert_allclose(normalised_margin(torch.from_numpy(z)).numpy(), np.abs(p[:, 0] - p[:, 1]), atol=1e-6)
    assert near_boundary(z).tolist() == [True, False, False]
