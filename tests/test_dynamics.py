"""Training-dynamics signals, queries, exports and routes (tensorboard_dvi/engine/dynamics.py)."""

import csv
import io
import json
import math
import os

import numpy as np
import pytest

from tensorboard_dvi.engine import dynamics
from tensorboard_dvi.engine.dynamics import DynamicsError, SignalAccumulator, compute_signals, run_queries

E2 = math.exp(2.0)

# Three samples (labels 0, 1, 2), three classes, four epochs. Logits chosen so that
# every count can be read off by hand:
#   sample 0: predicted 0,1,0,1 -> correct T,F,T,F: 2 forgettings, 3 crossings, 3 flips;
#             near the boundary only at epoch 4 ([0, 1, 0.95]: normalised gap 0.05).
#   sample 1: predicted 0,0,1,1 -> F,F,T,T: 0 forgettings, 1 crossing, 1 flip;
#             near at epochs 2 and 3 ([1, .95, 0] and [.95, 1, 0]), not at the last.
#   sample 2: predicted 0,1,0,1, never its label 2: 0 forgettings, 0 crossings, 3 flips.
LOGITS = [
    np.array([[2, 0, 0], [2, 0, 0], [2, 0, 0]], np.float32),
    np.array([[0, 2, 0], [1, .95, 0], [0, 2, 0]], np.float32),
    np.array([[2, 0, 0], [.95, 1, 0], [2, 0, 0]], np.float32),
    np.array([[0, 1, .95], [0, 2, 0], [0, 2, 0]], np.float32),
]
LABELS = np.array([0, 1, 2])


def softmax_row(z, c):
    z = np.asarray(z, np.float64)
    return math.exp(z[c]) / sum(math.exp(v) for v in z)


def test_hand_made_counts():
    s = compute_signals(LOGITS, LABELS)
    assert s.n_epochs == 4
    assert s["forgetting"].tolist() == [2, 0, 0]
    assert s["boundary_crossings"].tolist() == [3, 1, 0]
    assert s["flips"].tolist() == [3, 1, 3]
    assert s["correct_rate"].tolist() == [0.5, 0.5, 0.0]
    assert s["near_boundary_epochs"].tolist() == [1, 2, 0]
    assert s["final_near_boundary"].tolist() == [True, False, False]
    assert s["final_correct"].tolist() == [False, True, False]
    assert s["final_prediction"].tolist() == [1, 1, 1]
    assert np.isnan(s["distance_travelled"]).all()


def test_hand_made_confidence():
    s = compute_signals(LOGITS, LABELS)
    # sample 0, label 0: e^2/(e^2+2), 1/(e^2+2), e^2/(e^2+2), 1/(1+e+e^.95)
    p0 = [E2 / (E2 + 2), 1 / (E2 + 2), E2 / (E2 + 2), 1 / (1 + math.e + math.exp(.95))]
    mean = sum(p0) / 4
    std = math.sqrt(sum((p - mean) ** 2 for p in p0) / 4)  # population std (cartography)
    assert s["conf_mean"][0] == pytest.approx(mean, abs=1e-6)
    assert s["conf_std"][0] == pytest.approx(std, abs=1e-6)
    # final loss = -log p(label) at the last epoch; loss_mean over all epochs
    assert s["final_loss"][0] == pytest.approx(-math.log(p0[3]), abs=1e-5)
    assert s["loss_mean"][0] == pytest.approx(-sum(math.log(p) for p in p0) / 4, abs=1e-5)
    # AUM: logit[label] - max other: 2, -2, 2, -1
    assert s["margin_mean"][0] == pytest.approx((2 - 2 + 2 - 1) / 4, abs=1e-6)
    # sample 2 (label 2): p = 1/(e^2+2) every epoch -> variability 0
    assert s["conf_mean"][2] == pytest.approx(1 / (E2 + 2), abs=1e-6)
    assert s["conf_std"][2] == pytest.approx(0.0, abs=1e-6)
    # mislabel score: (1 - correct_rate)/2 + (1 - exp(-loss_mean))/2
    expect = 0.5 * (1 - 0.0) + 0.5 * (1 - 1 / (E2 + 2))
    assert s["mislabel_score"][2] == pytest.approx(expect, abs=1e-6)
    assert np.argmax(s["mislabel_score"]) == 2


def test_single_epoch_and_undecided_logits():
    s = compute_signals([np.zeros((2, 4), np.float32)], [0, 3])
    assert s["conf_mean"].tolist() == pytest.approx([0.25, 0.25])
    assert s["conf_std"].tolist() == [0.0, 0.0]
    assert s["near_boundary_epochs"].tolist() == [1, 1]  # all-equal logits: undecided
    assert s["forgetting"].tolist() == [0, 0] and s["flips"].tolist() == [0, 0]


def test_near_boundary_matches_writer_criterion():
    torch = pytest.importorskip("torch")
    from tensorboard_dvi.border import MARGIN, normalised_margin
    rng = np.random.default_rng(3)
    z = rng.normal(size=(500, 10)).astype(np.float32)
    z[:100, 1] = z[:100, 0] + rng.uniform(-0.3, 0.3, 100)  # many close calls
    expect = (normalised_margin(torch.from_numpy(z)) < MARGIN).numpy()
    s = compute_signals([z], rng.integers(0, 10, 500))
    assert s["near_boundary_epochs"].astype(bool).tolist() == expect.tolist()


def brute_force(logits, labels):
    """Naive reference over the full [T, N, C] tensor."""
    z = np.stack(logits).astype(np.float64)
    p = np.exp(z - z.max(2, keepdims=True))
    p /= p.sum(2, keepdims=True)
    n = len(labels)
    pl = p[:, np.arange(n), labels]
    pred = z.argmax(2)
    corr = pred == labels
    return {"conf_mean": pl.mean(0), "conf_std": pl.std(0), "correct_rate": corr.mean(0),
            "forgetting": (corr[:-1] & ~corr[1:]).sum(0), "flips": (pred[1:] != pred[:-1]).sum(0),
            "boundary_crossings": (corr[1:] != corr[:-1]).sum(0), "final_loss": -np.log(pl[-1]),
            "loss_mean": -np.log(pl).mean(0)}


def test_online_equals_batch_and_brute_force():
    rng = np.random.default_rng(0)
    n, c, t = 300, 7, 12
    labels = rng.integers(0, c, n)
    logits = [(rng.normal(size=(n, c)) * 3).astype(np.float32) for _ in range(t)]
    coords = [rng.normal(size=(n, 2)).astype(np.float32) for _ in range(t)]
    batch = compute_signals(logits, labels, coords)
    acc = SignalAccumulator(labels)
    for z, xy in zip(logits, coords):
        acc.add(z, xy)
        mid = acc.copy().result()  # taking a result mid-way must not disturb the state
        assert mid.n_epochs == acc.epochs
    online = acc.result()
    gen = compute_signals(iter(logits), labels, iter(coords))  # iterators, consumed once
    for name in dynamics.SIGNALS:
        np.testing.assert_allclose(online[name], batch[name], rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(gen[name], batch[name], rtol=1e-6, err_msg=name)
    for name, ref in brute_force(logits, labels).items():
        np.testing.assert_allclose(batch[name], ref, rtol=1e-4, atol=1e-6, err_msg=name)
    steps = sum(np.linalg.norm(coords[i + 1].astype(np.float64) - coords[i], axis=1) for i in range(t - 1))
    np.testing.assert_allclose(batch["distance_travelled"], steps, rtol=1e-5)


def test_distance_skips_unfitted_epochs():
    labels = [0, 0]
    c0 = np.array([[0, 0], [1, 1]], np.float32)
    c2 = np.array([[3, 4], [1, 1]], np.float32)
    c3 = np.array([[3, 5], [1, 2]], np.float32)
    s = compute_signals([np.zeros((2, 2))] * 4, labels, [c0, None, c2, c3])
    assert s["distance_travelled"].tolist() == pytest.approx([5 + 1, 0 + 1])
    assert s.n_coord_epochs == 3
    one = compute_signals([np.zeros((2, 2))], labels, [c0])
    assert one["distance_travelled"].tolist() == [0.0, 0.0]


def test_bad_input():
    with pytest.raises(DynamicsError, match="shape"):
        compute_signals([np.zeros((3, 2))], [0, 1])
    with pytest.raises(DynamicsError, match="labels"):
        compute_signals([np.zeros((2, 2))], [0, 2])
    with pytest.raises(DynamicsError, match="classes"):
        compute_signals([np.zeros((2, 2)), np.zeros((2, 3))], [0, 1])
    with pytest.raises(DynamicsError, match="no epochs"):
        compute_signals([], [0, 1])
    with pytest.raises(DynamicsError, match="coords"):
        compute_signals([np.zeros((2, 2))], [0, 1], [np.zeros((3, 2))])


# --------------------------------------------------------------------------- queries


@pytest.fixture
def hand():
    coords = [np.array([[0, 0], [0, 0], [0, 0]], np.float32), np.array([[1, 0], [0, 3], [0, 0]], np.float32)]
    return compute_signals(LOGITS, LABELS, coords)


def test_queries(hand):
    assert run_queries(hand, "crossed_boundary").tolist() == [0, 1]
    assert run_queries(hand, "crossed_boundary", k=2).tolist() == [0]
    assert run_queries(hand, "crossed_boundary", k="3").tolist() == [0]
    assert run_queries(hand, "crossed_boundary", k=4).tolist() == []
    assert run_queries(hand, "still_misclassified").tolist() == [0, 2]
    # near in >= 25 % of epochs *and* at the last: only sample 0 (sample 1 left the boundary)
    assert run_queries(hand, "stuck_near_boundary", fraction=0.25).tolist() == [0]
    assert run_queries(hand, "stuck_near_boundary", fraction=0.5).tolist() == []
    assert run_queries(hand, "largest_movers", n=2).tolist() == [1, 0]  # ranked, largest first
    assert run_queries(hand, "largest_movers", n=10).tolist() == [1, 0, 2]
    assert run_queries(hand, "likely_mislabelled", n=1).tolist() == [2]
    order = np.argsort(-hand["mislabel_score"], kind="stable").tolist()
    assert run_queries(hand, "likely_mislabelled").tolist() == order
    t = float(np.sort(hand["mislabel_score"])[-2])
    assert run_queries(hand, "likely_mislabelled", threshold=t).tolist() == order[:2]
    assert run_queries(hand, "likely_mislabelled", fraction=0.34).tolist() == order[:1]


def test_query_split_filter(hand):
    split = np.array([0, 0, 1], np.uint8)
    assert run_queries(hand, "still_misclassified", sample_split=split, split="train").tolist() == [0]
    assert run_queries(hand, "still_misclassified", sample_split=split, split="test").tolist() == [2]
    assert run_queries(hand, "likely_mislabelled", sample_split=split, n=5, split="train").tolist() == [
        i for i in np.argsort(-hand["mislabel_score"], kind="stable") if i != 2]


def test_largest_movers_without_map():
    s = compute_signals(LOGITS, LABELS)
    assert run_queries(s, "largest_movers").tolist() == []


@pytest.mark.parametrize("query,params,message", [
    ("nope", {}, "unknown query 'nope'"),
    ("crossed_boundary", {"n": 3}, "no parameter 'n'"),
    ("crossed_boundary", {"k": "two"}, "'k' must be an integer"),
    ("crossed_boundary", {"k": 0}, "'k' must be >= 1"),
    ("crossed_boundary", {"k": 1.5}, "'k' must be an integer"),
    ("largest_movers", {"n": -1}, "'n' must be >= 1"),
    ("stuck_near_boundary", {"fraction": 2}, "'fraction' must lie in"),
    ("stuck_near_boundary", {"fraction": "nan"}, "'fraction' must lie in"),
    ("likely_mislabelled", {"n": 3, "threshold": 0.5}, "one of n, fraction, threshold"),
    ("likely_mislabelled", {"threshold": "x"}, "'threshold' must be a number"),
    ("still_misclassified", {"split": "val"}, "'split' must be train, test or all"),
])
def test_query_errors(hand, query, params, message):
    with pytest.raises(DynamicsError, match=message.replace("(", r"\(")):
        run_queries(hand, query, sample_split=np.zeros(3, np.uint8), **params)


def test_split_filter_needs_split(hand):
    with pytest.raises(DynamicsError, match="split"):
        run_queries(hand, "still_misclassified", split="train")


# --------------------------------------------------------------------------- export


def test_csv_export(hand):
    ids = np.array([10, 11, 12])
    text = dynamics.to_csv(ids, hand, [2, 0], extra={"label": LABELS})
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == ["12", "10"]
    assert list(rows[0])[:3] == ["id", "label", "conf_mean"]
    assert set(dynamics.SIGNALS) <= set(rows[0])
    assert rows[1]["forgetting"] == "2" and rows[1]["final_correct"] == "0"
    assert float(rows[1]["conf_mean"]) == pytest.approx(hand["conf_mean"][0], rel=1e-6)
    s = compute_signals(LOGITS, LABELS)  # no map: NaN distance -> empty field
    assert list(csv.DictReader(io.StringIO(dynamics.to_csv(ids, s, [0]))))[0]["distance_travelled"] == ""
    assert dynamics.to_csv(ids, s, []).count("\n") == 1  # header only


def test_json_export(hand):
    ids = np.array([10, 11, 12])
    s = compute_signals(LOGITS, LABELS)
    out = json.loads(dynamics.to_json(ids, s, [1], extra={"split": np.array(["train", "train", "test"])},
                                      query="x"))
    assert out["count"] == 1 and out["query"] == "x"
    sample = out["samples"][0]
    assert sample["id"] == 11 and sample["split"] == "train" and sample["distance_travelled"] is None
    assert sample["boundary_crossings"] == 1 and sample["final_correct"] == 1
    assert out["columns"][0] == "id"
    with pytest.raises(DynamicsError, match="row indices"):
        dynamics.to_json(ids, s, [3])


# --------------------------------------------------------------------------- routes


@pytest.fixture
def noisy_run(tmp_path):
    from conftest import make_run
    make_run(tmp_path / "noisy", epochs=3, seed=1, noisy_fraction=0.2, border_points=0, thumbnails=False)
    return str(tmp_path / "noisy"), str(tmp_path / "cache")


def _route_run(run_path, cache_dir):
    """(runs, run state) as the plugin builds them; the clock jumps 10 s per call (no memo hits)."""
    import itertools
    from tensorboard_dvi.engine.cache import RunCache
    from tensorboard_dvi.plugin.runs import Runs
    ticks = itertools.count(0, 10)
    runs = Runs(os.path.dirname(run_path), cache_root=None, cache_factory=lambda _d: RunCache(cache_dir),
                generation=lambda _name: 0, clock=lambda: next(ticks))
    return runs, runs.get(os.path.basename(run_path), run_path)


def _serve(route, state, params):
    from tensorboard_dvi.plugin import dynamics_route
    runs, run = state
    return dynamics_route.serve(route, run, params, runs)


def _dyn(state):
    return _serve("dynamics", state, {}).body


def _write_fitted(run_path, cache_dir, epochs, scale=1.0):
    from tensorboard_dvi import storage
    from tensorboard_dvi.engine.cache import CACHE_FORMAT, RunCache
    reader = storage.RunReader(run_path)
    n = len(reader.static().ids)
    cache = RunCache(cache_dir)
    prev = None
    for e in epochs:
        uid = reader.epoch(e).uid
        xy = np.zeros((n, 2), np.float32)
        xy[:, 0] = scale * e
        cache.write_epoch(e, {"embedding.npy": xy}, {"epoch.json": {
            "cache_format": CACHE_FORMAT, "input_uid": uid, "prev_epoch": prev,
            "prev_uid": reader.epoch(prev).uid if prev else None}}, {})
        prev = e
    return cache


def test_routes(noisy_run):
    from tensorboard import errors
    from tensorboard_dvi import storage
    from tensorboard_dvi.plugin import wire
    run_path, cache_dir = noisy_run
    state = _route_run(run_path, cache_dir)
    reader = storage.RunReader(run_path)
    static = reader.static()
    r = _serve("dynamics", state, {})
    blob, mime = r.body, r.mimetype
    assert mime == "application/octet-stream"
    header, arrays = wire.decode(blob)
    assert header["n"] == len(static.ids) and header["epochs"] == [1, 2, 3] and header["n_epochs"] == 3
    assert arrays["forgetting"].dtype == np.uint16 and arrays["final_correct"].dtype == np.uint8
    assert arrays["conf_mean"].dtype == np.float32 and np.isnan(arrays["distance_travelled"]).all()
    ref = compute_signals([reader.epoch(e).logits for e in (1, 2, 3)], static.labels)
    np.testing.assert_allclose(arrays["mislabel_score"], ref["mislabel_score"], rtol=1e-6)

    r = _serve("dynamics_query", state, {"query": "likely_mislabelled", "n": "5", "split": "train"})
    out = json.loads(r.body)
    assert r.mimetype == "application/json" and out["count"] == 5
    assert out["ids"] == static.ids[out["indices"]].tolist()
    assert all(static.split[i] == 0 for i in out["indices"])
    with pytest.raises(errors.InvalidArgumentError, match="unknown query"):
        _serve("dynamics_query", state, {"query": "x"})
    with pytest.raises(errors.InvalidArgumentError, match="missing query parameter 'query'"):
        _serve("dynamics_query", state, {})
    with pytest.raises(errors.InvalidArgumentError, match="no parameter 'bogus'"):
        _serve("dynamics_query", state, {"query": "still_misclassified", "bogus": 1})

    ids = static.ids[[3, 0]].tolist()
    r = _serve("dynamics_export", state, {"format": "csv", "ids": ",".join(map(str, ids))})
    rows = list(csv.DictReader(io.StringIO(r.body.decode())))
    assert r.mimetype == "text/csv" and [int(x["id"]) for x in rows] == ids
    assert rows[0]["split"] == "train" and rows[0]["noisy"] in ("0", "1")
    assert ("Content-Disposition", 'attachment; filename="dvi-dynamics-noisy-selection.csv"') in r.headers
    r = _serve("dynamics_export", state, {"format": "json", "query": "crossed_boundary", "k": "1"})
    out = json.loads(r.body)
    assert out["query"] == "crossed_boundary" and out["count"] == len(out["samples"])
    assert all(s["boundary_crossings"] >= 1 for s in out["samples"])
    for params, exc, msg in [({"format": "xml", "ids": "1"}, errors.InvalidArgumentError, "csv or json"),
                             ({"format": "csv"}, errors.InvalidArgumentError, "exactly one"),
                             ({"ids": "1", "query": "still_misclassified"}, errors.InvalidArgumentError,
                              "exactly one"),
                             ({"ids": "1,x"}, errors.InvalidArgumentError, "comma-separated"),
                             ({"ids": "987654321"}, errors.NotFoundError, "unknown sample id")]:
        with pytest.raises(exc, match=msg):
            _serve("dynamics_export", state, params)


def test_route_cache_is_incremental_and_keyed_by_uid(noisy_run, monkeypatch):
    from tensorboard_dvi import storage
    from tensorboard_dvi.plugin import wire
    run_path, cache_dir = noisy_run
    state = _route_run(run_path, cache_dir)
    reads = []
    orig = storage.EpochData.logits

    def counting(self):
        reads.append(self.epoch)
        return orig.fget(self)
    monkeypatch.setattr(storage.EpochData, "logits", property(counting))
    first = _dyn(state)
    assert sorted(reads) == [1, 2, 3]
    again = _dyn(state)
    assert again is first and sorted(reads) == [1, 2, 3]  # nothing re-read

    # A new epoch: only it is read; result equals a from-scratch computation.
    reader = storage.RunReader(run_path)
    ep3 = reader.epoch(3)
    arrays = {name: np.load(os.path.join(ep3.folder, name)) for name in os.listdir(ep3.folder) if name.endswith(".npy")}
    info = dict(ep3.info, epoch=4, uid="new-epoch-4")
    storage.write_folder(os.path.dirname(ep3.folder), "epoch-000004", arrays, {"epoch.json": info},
                         extra_files={n: open(os.path.join(ep3.folder, n), "rb").read()
                                      for n in os.listdir(ep3.folder) if n.startswith("head")})
    reads.clear()
    _, a4 = wire.decode(_dyn(state))
    assert reads == [4]
    state = _route_run(run_path, cache_dir)  # a fresh plugin: nothing memoised
    reads.clear()
    h, fresh = wire.decode(_dyn(state))
    assert sorted(reads) == [1, 2, 3, 4] and h["epochs"] == [1, 2, 3, 4]
    for k in a4:
        np.testing.assert_array_equal(a4[k], fresh[k])

    # Replacing epoch 2 (new uid) recomputes from scratch.
    storage.write_folder(os.path.dirname(ep3.folder), "epoch-000002", arrays, {"epoch.json": dict(info, epoch=2,
                         uid="replaced-2")}, replace=True,
                         extra_files={n: open(os.path.join(ep3.folder, n), "rb").read()
                                      for n in os.listdir(ep3.folder) if n.startswith("head")})
    reads.clear()
    _dyn(state)
    assert sorted(reads) == [1, 2, 3, 4]


def test_route_distance_from_fitted_maps(noisy_run):
    from tensorboard_dvi.plugin import wire
    run_path, cache_dir = noisy_run
    state = _route_run(run_path, cache_dir)
    h, a = wire.decode(_dyn(state))
    assert h["fitted_epochs"] == [] and np.isnan(a["distance_travelled"]).all()
    _write_fitted(run_path, cache_dir, [1, 2])
    h, a = wire.decode(_dyn(state))
    assert h["fitted_epochs"] == [1, 2] and np.allclose(a["distance_travelled"], 1.0)
    _write_fitted(run_path, cache_dir, [1, 2, 3])
    h, a = wire.decode(_dyn(state))
    assert h["fitted_epochs"] == [1, 2, 3] and np.allclose(a["distance_travelled"], 2.0)
    out = json.loads(_serve("dynamics_query", state, {"query": "largest_movers", "n": "3"}).body)
    assert out["count"] == 3 and "warning" not in out
    # A refit of the same epochs (new embedding files) is picked up.
    _write_fitted(run_path, cache_dir, [1, 2, 3], scale=2.0)
    h, a = wire.decode(_dyn(state))
    assert np.allclose(a["distance_travelled"], 4.0)


def test_route_unknown_run(tmp_path):
    from tensorboard import errors
    with pytest.raises(errors.NotFoundError):
        _dyn(_route_run(str(tmp_path / "none"), str(tmp_path / "c")))


def test_routes_wired_into_tensorboard(tmp_path):
    """The dynamics routes of the real plugin, on TensorBoardWSGI: status codes and types."""
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug import test as wtest
    from werkzeug import wrappers

    from conftest import make_run
    from tensorboard_dvi.plugin import wire
    from tensorboard_dvi.plugin.jobs import JobManager
    from tensorboard_dvi.plugin.plugin import DVIPlugin

    logdir = tmp_path / "logs"
    make_run(logdir / "noisy", epochs=2, seed=1, noisy_fraction=0.2, border_points=0, thumbnails=False)
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(os.fspath(logdir))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, os.fspath(logdir))
    ctx = base_plugin.TBContext(logdir=os.fspath(logdir), multiplexer=mux, data_provider=provider)
    plugin = DVIPlugin(ctx, jobs=JobManager(fit="plugin_fakes:fake_fit"), cache_root=os.fspath(tmp_path / "c"),
                   autofit=False, watch_interval_s=0)
    client = wtest.Client(application.TensorBoardWSGI([plugin], data_provider=provider), wrappers.Response)
    try:
        p = "/data/plugin/dvi/"
        r = client.get(p + "dynamics", query_string={"run": "noisy"})
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/octet-stream"
        header, arrays = wire.decode(r.get_data())
        assert header["epochs"] == [1, 2] and "mislabel_score" in arrays
        r = client.get(p + "dynamics_query", query_string={"run": "noisy", "query": "still_misclassified"})
        assert r.status_code == 200 and json.loads(r.get_data())["query"] == "still_misclassified"
        r = client.get(p + "dynamics_query", query_string={"run": "noisy", "query": "bogus"})
        assert r.status_code == 400 and "unknown query" in r.get_data(as_text=True)
        r = client.get(p + "dynamics_query", query_string={"run": "noisy", "query": "crossed_boundary", "k": "-1"})
        assert r.status_code == 400
        r = client.get(p + "dynamics", query_string={"run": "nope"})
        assert r.status_code == 404
        ids = ",".join(str(i) for i in range(50))
        r = client.post(p + "dynamics_export", query_string={"run": "noisy", "format": "csv"}, data={"ids": ids},
                        headers={"Origin": "http://localhost"})  # a browser's same-origin POST (plugin/guard.py)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
        assert r.headers["Content-Disposition"].startswith("attachment")
        assert r.get_data(as_text=True).count("\n") == 51
        r = client.get(p + "dynamics_export", query_string={"run": "noisy", "ids": "123456789"})
        assert r.status_code == 404
    finally:
        plugin.close()


def test_study_metrics_match_sklearn():
    import sys
    from sklearn.metrics import roc_auc_score
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    import noisy_label_study as study
    rng = np.random.default_rng(1)
    pos = rng.random(400) < 0.2
    score = np.round(rng.normal(size=400) + pos, 1)  # with ties
    assert study.auroc(score, pos) == pytest.approx(roc_auc_score(pos, score), abs=1e-12)
    p, r = study.at_k(score, pos, int(pos.sum()))
    assert p == pytest.approx(r)
    assert study.at_k(np.array([3.0, 2.0, 1.0]), np.array([True, False, True]), 2) == (0.5, 0.5)
