"""Contracts the tab codes against: ``GET catalogue`` and the ``X-DVI-Error`` codes (docs/HTTP_API.md)."""

import json
import os
import re

import numpy as np
import pytest

from conftest import make_run
from plugin_fakes import PREFIX, fake_fit, make_client
from tensorboard_dvi import catalogue, scoring
from tensorboard_dvi.engine import dynamics
from tensorboard_dvi.engine.cache import default_cache_dir
from tensorboard_dvi.engine.palette import PALETTE
from tensorboard_dvi.plugin import codes, wire
from tensorboard_dvi.plugin.jobs import JobManager

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("contracts")
    logdir, cache_root = root / "logs", root / "cache"
    make_run(logdir / "clean", epochs=3, seed=0)
    make_run(logdir / "plain", epochs=1, seed=1, thumbnails=False)
    logits = logdir / "clean" / "plugins" / "dvi" / "epochs" / "epoch-000002" / "logits.npy"
    fake_fit(os.fspath(logdir / "clean"), os.path.join(cache_root, os.path.basename(
        default_cache_dir(os.fspath(logdir / "clean")))), epochs=[1])
    logits.write_bytes(logits.read_bytes()[:200])  # epoch 2 damaged
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"),
                                 cache_root=os.fspath(cache_root), autofit=False, watch_interval_s=0)
    yield client
    plugin.close()


def test_catalogue_route_shape(env):
    r = env.get(PREFIX + "catalogue")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    cat = json.loads(r.get_data())
    assert set(cat) == {"flags", "near_boundary_margin", "palette", "signals", "queries"}
    assert cat["flags"] == {"misclassified": 1, "noisy": 2, "near_boundary": 4}
    assert cat["near_boundary_margin"] == scoring.NEAR_BOUNDARY_MARGIN == 0.1
    assert cat["palette"] == PALETTE and all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in cat["palette"])
    for s in cat["signals"]:
        assert {"name", "label", "help", "kind"} <= set(s) and s["kind"] in ("float", "count", "flag")
        assert s["label"] and s["help"]
    for q in cat["queries"]:
        assert {"name", "label", "help", "params"} <= set(q)
        for p in q["params"]:
            assert {"name", "type", "default", "help"} <= set(p) and p["type"] in ("int", "float", "choice")
            assert p["type"] != "choice" or p["default"] in p["choices"]


def test_catalogue_matches_what_is_served(env):
    """Every colourable array of GET dynamics is in the catalogue, with the dtype its kind says."""
    cat = json.loads(env.get(PREFIX + "catalogue").get_data())
    header, arrays = wire.decode(env.get(PREFIX + "dynamics", query_string={"run": "clean"}).get_data())
    kinds = {s["name"]: s["kind"] for s in cat["signals"]}
    assert set(arrays) == set(kinds) | {"final_prediction"}
    dtype_of_kind = {"float": np.float32, "count": np.uint16, "flag": np.uint8}
    for name, kind in kinds.items():
        assert arrays[name].dtype == dtype_of_kind[kind], name
    assert [q["name"] for q in cat["queries"]] and set(q["name"] for q in cat["queries"]) == set(dynamics.QUERIES)
    # Projection flags use the served bits.
    proj = wire.decode(env.get(PREFIX + "projection", query_string={"run": "clean", "epoch": 1}).get_data())[1]
    assert set(np.unique(proj["flags"])) <= set(range(8))


def test_catalogue_defaults_are_the_engines_and_the_docs():
    rng = np.random.default_rng(0)
    logits = [rng.normal(size=(60, 4)) for _ in range(5)]
    labels = rng.integers(0, 4, 60)
    coords = [rng.normal(size=(60, 2)) for _ in range(5)]
    signals = dynamics.compute_signals(logits, labels, coords)
    doc = open(os.path.join(DOCS, "DYNAMICS.md"), encoding="utf-8").read()
    for q in catalogue.QUERIES:
        for p in q["params"]:
            if p["default"] is None or p["name"] == "split":
                continue
            implicit = dynamics.run_queries(signals, q["name"])
            explicit = dynamics.run_queries(signals, q["name"], **{p["name"]: p["default"]})
            assert implicit.tolist() == explicit.tolist(), (q["name"], p["name"])
            row = next(line for line in doc.splitlines() if line.startswith(f"| `{q['name']}`"))
            assert f"(default {p['default']:g})" in row, (q["name"], row)
    assert catalogue.default("crossed_boundary", "k") == 1
    assert catalogue.default("largest_movers", "n") == 100
    assert catalogue.default("stuck_near_boundary", "fraction") == 0.5


CASES = [
    ("status", {}, 400, "bad_param"),
    ("projection", {"run": "clean", "epoch": "x"}, 400, "bad_param"),
    ("projection", {"run": "..", "epoch": 1}, 400, "forbidden"),
    ("projection", {"run": "/etc", "epoch": 1}, 400, "forbidden"),
    ("projection", {"run": "nope", "epoch": 1}, 404, "unknown_run"),
    ("projection", {"run": "clean", "epoch": 9}, 404, "unknown_epoch"),
    ("projection", {"run": "clean", "epoch": 3}, 404, "not_fitted"),
    ("background", {"run": "clean", "epoch": 3}, 404, "not_fitted"),
    ("projection", {"run": "clean", "epoch": 2}, 404, "damaged"),
    ("sample", {"run": "clean", "id": 987654321}, 404, "unknown_sample"),
    ("thumbnail", {"run": "plain", "id": 0}, 404, "unknown_sample"),
    ("trajectories", {"run": "clean", "ids": "0", "start": 3, "end": 1}, 400, "bad_param"),
    ("predict_at", {"run": "clean", "epoch": 1, "x": "nan", "y": 0}, 400, "bad_param"),
    ("dynamics_query", {"run": "clean", "query": "bogus"}, 400, "bad_param"),
    ("dynamics_query", {"run": "clean", "query": "crossed_boundary", "k": "0"}, 400, "bad_param"),
    ("dynamics_query", {"run": "clean", "query": "crossed_boundary", "n": "3"}, 400, "bad_param"),
    ("dynamics_export", {"run": "clean", "format": "xml", "ids": "0"}, 400, "bad_param"),
    ("dynamics_export", {"run": "clean", "ids": "987654321"}, 404, "unknown_sample"),
    ("no_such_file.js", {}, 404, "unknown_file"),
]


@pytest.mark.parametrize("route,params,status,code", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_error_answers_carry_a_code(env, route, params, status, code):
    r = env.get(PREFIX + route, query_string=params)
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.headers.get(codes.HEADER) == code
    assert code in codes.CODES
    assert r.headers["Content-Type"].startswith("text/plain") and r.get_data(as_text=True).strip()


def test_method_code_and_unchanged_messages(env):
    r = env.get(PREFIX + "fit", query_string={"run": "clean"})
    assert r.status_code == 405 and r.headers[codes.HEADER] == "method" and r.headers["Allow"] == "POST"
    r = env.get(PREFIX + "projection", query_string={"run": "clean", "epoch": 3})
    assert "epoch 3 of run 'clean' is not fitted yet" in r.get_data(as_text=True)
    r = env.get(PREFIX + "projection", query_string={"run": "clean", "epoch": 1})
    assert r.status_code == 200 and codes.HEADER not in r.headers


def test_symlinked_run_is_forbidden(tmp_path):
    logdir = tmp_path / "logs"
    make_run(tmp_path / "outside", epochs=1, seed=0, thumbnails=False)
    os.makedirs(logdir / "run" / "plugins")
    os.symlink(tmp_path / "outside" / "plugins" / "dvi", logdir / "run" / "plugins" / "dvi")
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"),
                                 cache_root=os.fspath(tmp_path / "c"), autofit=False, watch_interval_s=0)
    try:
        r = client.get(PREFIX + "status", query_string={"run": "run"})
        assert r.status_code == 404 and r.headers[codes.HEADER] == "forbidden"
    finally:
        plugin.close()
