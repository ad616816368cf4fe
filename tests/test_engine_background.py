"""Background image, palette, PNG encoder, and the cache's reading side."""

import json
import os

import numpy as np
import pytest

from tensorboard_dvi.engine import background as bg
from tensorboard_dvi.engine.cache import RunCache, default_cache_dir
from tensorboard_dvi.engine.palette import PALETTE, class_colors_rgb
from tensorboard_dvi.engine.png import decode_png_rgb, encode_png


def test_png_round_trip_and_signature():
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (7, 5, 3)).astype(np.uint8)
    data = encode_png(img)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(decode_png_rgb(data), img)
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4, 2), np.uint8))


def test_square_bounds_add_ten_percent_and_are_square():
    pts = np.array([[0.0, 0.0], [10.0, 2.0]])
    x0, y0, x1, y1 = bg.square_bounds(pts)
    assert (x0, x1) == pytest.approx((-1.0, 11.0))
    assert x1 - x0 == pytest.approx(y1 - y0)
    assert (y0 + y1) / 2 == pytest.approx(1.0)


def test_colorize_white_at_boundary_saturation_capped_and_palette_fixed():
    logits = np.array([[5.0, 4.9, 0.0],    # diff 0.02 -> white
                       [10.0, 0.0, 0.0],   # diff 1 -> the full 60 % of class 0
                       [0.0, 0.0, 10.0],   # class 2
                       [10.0, 7.0, 0.0]])  # diff 0.3 -> 15 % + 45 % * sqrt(0.15 / 0.45)
    rgb, cls, prob = bg.colorize(logits, 3)
    assert tuple(rgb[0]) == (255, 255, 255)
    c0 = class_colors_rgb(3)[0].astype(float)
    assert np.allclose(rgb[1], np.round(255 * 0.4 + 0.6 * c0), atol=1)
    s = 0.15 + 0.45 * np.sqrt(0.15 / 0.45)
    assert np.allclose(rgb[3], np.round(255 * (1 - s) + s * c0), atol=1)
    assert list(cls) == [0, 0, 2, 0]
    assert prob[1] == pytest.approx(np.exp(10) / (np.exp(10) + 2), rel=1e-5)
    # class 2's colour does not depend on which classes appear (the reference's trap)
    rgb_only2, _, _ = bg.colorize(logits[2:3], 3)
    rgb_many, _, _ = bg.colorize(np.array([[0.0, 0.0, 10.0, 0.0, 0.0]]), 5)
    assert tuple(rgb_only2[0]) == tuple(rgb[2]) == tuple(rgb_many[0])


def test_palette_is_hex_and_distinct():
    assert len(PALETTE) >= 10 and len(set(PALETTE[:10])) == 10
    assert all(len(c) == 7 and c[0] == "#" for c in PALETTE)


def _write_background_epoch(cache, epoch, emb, classify, resolution=8):
    png, meta, cls, conf = bg.render(classify, emb, resolution, 2)
    cache.write_epoch(epoch, {"embedding.npy": emb, "grid_classes.npy": cls, "grid_confidence.npy": conf},
                      {"background.json": meta, "metrics.json": {"nn_15": 1.0},
                       "epoch.json": {"cache_format": 1, "input_uid": f"u{epoch}", "prev_epoch": None}},
                      {"background.png": png})
    return png, meta, cls


def test_render_orientation_and_predict_at(tmp_path):
    # the "decoder + head": class 1 where y > 0 (top half), class 0 below
    def classify(pts):
        return np.c_[-pts[:, 1], pts[:, 1]].astype(np.float32) * 10

    emb = np.array([[-1.0, -1.0], [1.0, 1.0]], dtype=np.float32)
    cache = RunCache(str(tmp_path / "c"))
    png, meta, cls = _write_background_epoch(cache, 3, emb, classify)
    assert meta["resolution"] == 8 and meta["bounds"] == pytest.approx([-1.2, -1.2, 1.2, 1.2])
    assert np.all(cls[:4] == 1) and np.all(cls[4:] == 0)  # row 0 = y_max
    img = decode_png_rgb(cache.background_png(3))
    assert img.shape == (8, 8, 3)
    assert tuple(img[0, 0]) != tuple(img[-1, 0])
    assert cache.predict_at(3, 0.5, 0.9) == (1, pytest.approx(float(cache.grid(3)[1][0, 6])), True)
    c, conf, inside = cache.predict_at(3, 0.0, -50.0)
    assert c == 0 and inside is False
    assert cache.embedding(3).shape == (2, 2) and cache.metrics(3) == {"nn_15": 1.0}
    assert cache.background_meta(3) == json.loads(json.dumps(meta))


def test_fitted_epochs_freshness_follows_the_chain(tmp_path):
    cache = RunCache(str(tmp_path))
    for e, prev in ((1, None), (2, 1), (3, 2)):
        cache.write_epoch(e, {}, {"epoch.json": {"cache_format": 1, "input_uid": f"u{e}", "prev_epoch": prev,
                                                 "prev_uid": f"u{prev}" if prev else None}}, {})
    assert cache.fitted_epochs() == [1, 2, 3]
    assert cache.fitted_epochs({1: "u1", 2: "u2", 3: "u3"}) == [1, 2, 3]
    # epoch 2 was re-logged: 2 and everything warm-started from it are stale
    assert cache.fitted_epochs({1: "u1", 2: "new", 3: "u3"}) == [1]
    assert cache.fitted_epochs({1: "u1", 3: "u3"}) == [1]
    # a rewrite replaces the folder atomically and leaves no temporary folders
    cache.write_epoch(2, {}, {"epoch.json": {"cache_format": 1, "input_uid": "new", "prev_epoch": 1,
                                             "prev_uid": "u1"}}, {})
    assert cache.input_uid(2) == "new"
    assert sorted(os.listdir(cache.epochs_dir)) == ["epoch-000001", "epoch-000002", "epoch-000003"]


def test_default_cache_dir(tmp_path, monkeypatch):
    run = tmp_path / "logs" / "run"
    run.mkdir(parents=True)
    monkeypatch.setenv("TENSORBOARD_DVI_CACHE", str(tmp_path / "cc"))
    d = default_cache_dir(str(run))
    assert os.path.dirname(d) == str(tmp_path / "cc") and len(os.path.basename(d)) == 16
    assert d == default_cache_dir(str(run) + "/")  # same real path, same key
    monkeypatch.delenv("TENSORBOARD_DVI_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    d2 = default_cache_dir(str(run))
    assert d2.startswith(str(tmp_path / "xdg" / "tensorboard-dvi")) and not d2.startswith(str(run))
