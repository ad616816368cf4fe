"""Damaged and hostile files in a logdir (fast).

* A matrix of damage (truncated, empty, wrong dtype, wrong shape, garbage, missing, corrupt
  header) over every file of an epoch: each damaged epoch is reported with its reason, by the
  reader, by ``runs`` / ``status`` and with a 404 on its data routes, while the intact epochs
  are served and fitted by the real engine.
* Malicious pickles where arrays, the head, static arrays and the engine's ``.pt`` state are
  expected: the payload (which creates a file when unpickled, proven on a control copy) never
  runs, through the reader, every route and the engine.
"""

import json
import os
import pickle
import shutil
import warnings

import numpy as np
import pytest

from relkit import PREFIX, append_epoch, epoch_dir, fake_fit, make_client, make_run, static_dir
from tensorboard_dvi import metadata as md
from tensorboard_dvi.engine.cache import RunCache, default_cache_dir
from tensorboard_dvi.plugin.jobs import JobManager
from tensorboard_dvi.storage import RunReader

SMALL = dict(max_trainer_epochs=1, hidden=(32, 32), background_resolution=20, threads=1, batch_size=256)
N_TRAIN, N_TEST = 200, 50
N = N_TRAIN + N_TEST


# --------------------------------------------------------------------------- damage kinds

def _npy(dtype=None, shape=None):
    def damage(path):
        a = np.load(path, allow_pickle=False)
        if shape is not None:
            a = np.resize(a, shape(a.shape))
        if dtype is not None:
            a = a.astype(dtype)
        np.save(path, a, allow_pickle=False)
    return damage


def _truncate(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])


def _empty(path):
    open(path, "wb").close()


def _garbage(path):
    size = max(os.path.getsize(path), 64)
    with open(path, "wb") as f:
        f.write(np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8).tobytes())


def _missing(path):
    os.remove(path)


def _bad_header(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:  # keep the magic, break the header dict
        f.write(data[:10] + b"{'descr': <f4, 'fortran_order': Fa" + data[45:])


def _huge_shape(path):
    with open(path, "wb") as f:  # a header that claims 10^12 rows
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 12, 8)})
        f.write(b"\0" * 64)


def _json_text(text):
    def damage(path):
        with open(path, "w") as f:
            f.write(text)
    return damage


def _epoch_json_other_epoch(path):
    with open(path) as f:
        info = json.load(f)
    info["epoch"] = info["epoch"] + 1000
    with open(path, "w") as f:
        json.dump(info, f)


def _npz(**arrays):
    def damage(path):
        np.savez(path, **arrays)
    return damage


def _npz_transposed(path):
    with np.load(path, allow_pickle=False) as z:
        t = {k: z[k] for k in z.files}
    t["weight"] = t["weight"].T.copy()
    with open(path, "wb") as f:
        np.savez(f, **t)


def _npz_drop_bias(path):
    with np.load(path, allow_pickle=False) as z:
        t = {k: z[k] for k in z.files if k != "bias"}
    with open(path, "wb") as f:
        np.savez(f, **t)


R, L, P, B = md.REPRESENTATIONS_FILE, md.LOGITS_FILE, md.PREDICTIONS_FILE, md.BORDER_FILE
E, HJ, HZ = md.EPOCH_FILE, md.HEAD_SPEC_FILE, md.HEAD_WEIGHTS_FILE

CASES = [  # (file, kind, damage)
    (R, "truncated", _truncate), (R, "empty", _empty), (R, "garbage", _garbage), (R, "missing", _missing),
    (R, "wrong dtype (int32)", _npy(np.int32)), (R, "wrong dtype (complex64)", _npy(np.complex64)),
    (R, "wrong shape (N-1 rows)", _npy(shape=lambda s: (s[0] - 1, s[1]))),
    (R, "wrong shape (D+1 cols)", _npy(shape=lambda s: (s[0], s[1] + 1))),
    (R, "wrong shape (1-D)", _npy(shape=lambda s: (s[0] * s[1],))),
    (R, "corrupt header", _bad_header), (R, "header claims 10^12 rows", _huge_shape),
    (L, "truncated", _truncate), (L, "empty", _empty), (L, "garbage", _garbage), (L, "missing", _missing),
    (L, "wrong dtype (<U8 strings)", _npy("<U8")), (L, "wrong shape (C-1 cols)", _npy(shape=lambda s: (s[0], s[1] - 1))),
    (P, "truncated", _truncate), (P, "empty", _empty), (P, "garbage", _garbage), (P, "missing", _missing),
    (P, "wrong dtype (float32)", _npy(np.float32)), (P, "wrong shape (2-D)", _npy(shape=lambda s: (s[0], 2))),
    (B, "truncated", _truncate), (B, "empty", _empty), (B, "garbage", _garbage), (B, "missing", _missing),
    (B, "wrong dtype (bool)", _npy(bool)), (B, "wrong shape (D-1 cols)", _npy(shape=lambda s: (s[0], s[1] - 1))),
    (E, "truncated", _truncate), (E, "empty", _empty), (E, "garbage", _garbage), (E, "missing", _missing),
    (E, "wrong type (a list)", _json_text("[1, 2, 3]")), (E, "names another epoch", _epoch_json_other_epoch),
    (HJ, "truncated", _truncate), (HJ, "empty", _empty), (HJ, "garbage", _garbage), (HJ, "missing", _missing),
    (HJ, "not a head spec", _json_text('{"format": "other"}')),
    (HZ, "truncated", _truncate), (HZ, "empty", _empty), (HZ, "garbage", _garbage), (HZ, "missing", _missing),
    (HZ, "wrong dtype (strings)", _npz(weight=np.array(["a"] * 4), bias=np.array(["b"]))),
    (HZ, "wrong shape (weight transposed)", _npz_transposed), (HZ, "missing tensor (bias)", _npz_drop_bias),
]


@pytest.fixture(scope="module")
def damaged_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    logdir = root / "logs"
    run = logdir / "run"
    make_run(run, epochs=1, n_train=N_TRAIN, n_test=N_TEST, hidden=16, seed=3)
    damaged = {}
    for i, (fname, kind, damage) in enumerate(CASES):
        e = 2 + i
        append_epoch(run, 1, e)
        damage(os.path.join(epoch_dir(run, e), fname))
        damaged[e] = (fname, kind)
    good = [1, 2 + len(CASES)]
    append_epoch(run, 1, good[1])
    cache_root = root / "cache"
    cache_dir = os.path.join(cache_root, os.path.basename(default_cache_dir(os.fspath(run))))
    fake_fit(os.fspath(run), cache_dir, epochs=good)
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"),
                                 cache_root=os.fspath(cache_root), autofit=False, watch_interval_s=0)
    yield {"client": client, "plugin": plugin, "run": run, "damaged": damaged, "good": good, "root": root}
    plugin.close()


def _get(client, route, **params):
    r = client.get(PREFIX + route, query_string=params)
    return r.status_code, r.get_data().decode("utf-8", "replace")


def _reason_names_file(fname, reason):
    stem = fname.split(".")[0]
    return fname in reason or (stem.startswith("head") and "head" in reason)


def test_reader_reports_every_damaged_epoch_with_its_reason(damaged_env, report):
    reader = RunReader(os.fspath(damaged_env["run"]))
    found = reader.damaged()
    expected = damaged_env["damaged"]
    missed = {e: expected[e] for e in expected if e not in found}
    wrong = {e: (expected[e], found[e]) for e in expected if e in found and not _reason_names_file(expected[e][0], found[e])}
    extra = sorted(set(found) - set(expected))
    ok = not missed and not wrong and not extra
    files = sorted({f for f, _ in expected.values()})
    report("reader", f"damaged epoch files ({len(files)} files x truncated/empty/garbage/missing/dtype/shape/header)",
           len(expected), ok, f"{len(found)} reported damaged with a reason naming the file; missed {len(missed)}, "
                              f"false alarms {len(extra)}")
    assert not missed, missed
    assert not wrong, wrong
    assert not extra, extra
    for e in damaged_env["good"]:
        assert reader.epoch(e).representations.shape == (N, 16)


def test_routes_report_damage_and_serve_the_rest(damaged_env, report):
    c = damaged_env["client"]
    good, damaged = damaged_env["good"], damaged_env["damaged"]
    runs = json.loads(_get(c, "runs")[1])["runs"]
    listed = runs[0]["damaged"]
    problems = []
    if sorted(int(k) for k in listed) != sorted(damaged):
        problems.append(("runs.damaged", sorted(listed), sorted(damaged)))
    if runs[0]["fitted"] != good:
        problems.append(("runs.fitted", runs[0]["fitted"]))
    status = json.loads(_get(c, "status", run="run")[1])
    if sorted(int(k) for k in status["damaged"]) != sorted(damaged):
        problems.append(("status.damaged", status["damaged"]))
    routes = [("projection", {}), ("background", {}), ("background_meta", {}), ("metrics", {}),
              ("predict_at", {"x": 0.0, "y": 0.0}), ("sample", {"id": 5})]
    n_requests = 0
    for e in sorted(damaged):
        for route, extra in routes:
            code, body = _get(c, route, run="run", epoch=e, **extra)
            n_requests += 1
            if code != 404 or "damaged" not in body:
                problems.append((route, e, code, body[:120]))
    for e in good:
        for route, extra in routes:
            code, body = _get(c, route, run="run", epoch=e, **extra)
            n_requests += 1
            if code != 200:
                problems.append((route, e, code, body[:120]))
    for route, params in (("samples", {}), ("metrics", {}), ("thumbnail", {"id": 3}),
                          ("trajectories", {"ids": "0,1,2"})):
        code, body = _get(c, route, run="run", **params)
        n_requests += 1
        if code != 200:
            problems.append((route, code, body[:120]))
    traj = json.loads(_get(c, "trajectories", run="run", ids="0,1")[1])
    if traj["epochs"] != good:
        problems.append(("trajectories.epochs", traj["epochs"]))
    report("backend", "every data route on each damaged and each intact epoch", n_requests, not problems,
           f"{len(damaged)} damaged epochs: 404 + reason; {len(good)} intact epochs: 200; "
           f"{len(problems)} deviations")
    assert not problems, problems[:10]


def test_engine_skips_damaged_epochs_and_fits_the_rest(damaged_env, tmp_path, report):
    from tensorboard_dvi.engine import EngineConfig, fit_run
    good = damaged_env["good"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = None
        try:
            done = fit_run(os.fspath(damaged_env["run"]), os.fspath(tmp_path / "cache"), config=EngineConfig(**SMALL))
        except Exception as e:  # noqa: BLE001 - reported in the table
            done, error = [], f"{type(e).__name__}: {e}"
    skipped = [str(w.message) for w in caught if "skipping epoch" in str(w.message)]
    # The engine does not read predictions.npy, so it may fit those epochs; the plugin never asks
    # it to (it submits readable epochs only) and never serves them (404, see above).
    unread = {e for e, (f, _) in damaged_env["damaged"].items() if f == P}
    extra = sorted(set(done) - set(good))
    ok = error is None and set(good) <= set(done) and set(extra) <= unread \
        and len(skipped) == len(damaged_env["damaged"]) - len(extra)
    report("engine", "fit_run over the run with every kind of damaged epoch", len(damaged_env["damaged"]), ok,
           f"intact {good} fitted; {len(skipped)} skipped with a warning; {len(extra)} with a bad "
           f"predictions.npy fitted (unused by the engine)" + (f"; {error}" if error else ""))
    assert error is None, error
    assert set(good) <= set(done) and set(extra) <= unread, (done, unread)
    assert len(skipped) == len(damaged_env["damaged"]) - len(extra), skipped


# --------------------------------------------------------------------------- malicious pickles

class Payload:
    """Unpickling this creates ``marker`` (a file): proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.open, (self.marker, os.O_CREAT | os.O_WRONLY, 0o644))


def _object_npy(path, marker):
    arr = np.empty(3, dtype=object)
    arr[:] = [Payload(marker), 1, 2]
    np.save(path, arr, allow_pickle=True)


def _raw_pickle(path, marker, protocol=pickle.HIGHEST_PROTOCOL):
    with open(path, "wb") as f:
        pickle.dump(Payload(marker), f, protocol=protocol)


def _object_npz(path, marker):
    arr = np.empty(2, dtype=object)
    arr[:] = [Payload(marker), 0]
    with open(path, "wb") as f:
        np.savez(f, weight=arr, bias=np.zeros(10, np.float32))


def _torch_pt(path, marker):
    import torch
    torch.save({"state": Payload(marker)}, path)


@pytest.fixture(scope="module")
def evil_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("evil")
    markers = root / "markers"
    markers.mkdir()
    logdir = root / "logs"
    run, srun = logdir / "evil", logdir / "evil_static"
    make_run(run, epochs=1, n_train=N_TRAIN, n_test=N_TEST, hidden=16, seed=4)
    shutil.copytree(run, srun)
    plants = []  # (where, how, marker)

    def plant(path, how, fn):
        marker = os.fspath(markers / f"{len(plants):02d}-{os.path.basename(path)}")
        fn(path, marker)
        plants.append((os.path.relpath(path, root), how, marker))

    epoch_plants = [(R, "raw pickle", _raw_pickle), (L, "object .npy", _object_npy), (HZ, "object array in .npz", _object_npz),
                    (P, "object .npy", _object_npy), (B, "raw pickle (protocol 2)", lambda p, m: _raw_pickle(p, m, 2)),
                    (HZ, "raw pickle", _raw_pickle), (R, "object .npy", _object_npy), (HJ, "raw pickle", _raw_pickle)]
    pred_only = []
    for i, (fname, how, fn) in enumerate(epoch_plants):
        e = 2 + i
        if fname == P:
            pred_only.append(e)
        append_epoch(run, 1, e)
        plant(os.path.join(epoch_dir(run, e), fname), how, fn)
        for extra in ("model.pt", "head.pt", "representations.pkl"):  # files no one should read
            plant(os.path.join(epoch_dir(run, e), extra), "torch.save pickle" if extra.endswith(".pt") else "raw pickle",
                  _torch_pt if extra.endswith(".pt") else _raw_pickle)
    good = [1, 2 + len(epoch_plants)]
    append_epoch(run, 1, good[1])
    plant(os.path.join(static_dir(srun), md.IDS_FILE), "object .npy", _object_npy)
    plant(os.path.join(static_dir(srun), md.THUMBNAILS_FILE), "raw pickle", _raw_pickle)
    plant(os.path.join(static_dir(srun), "meta.pt"), "torch.save pickle", _torch_pt)

    # Control: the payload is live. Loading a copy with pickle enabled creates its marker.
    control = root / "control"
    control.mkdir()
    _object_npy(control / "c.npy", os.fspath(control / "ran-npy"))
    np.load(control / "c.npy", allow_pickle=True)
    _raw_pickle(control / "c.pkl", os.fspath(control / "ran-pkl"))
    with open(control / "c.pkl", "rb") as f:
        pickle.load(f)
    import torch
    _torch_pt(control / "c.pt", os.fspath(control / "ran-pt"))
    torch.load(control / "c.pt", weights_only=False)
    live = all(os.path.exists(control / m) for m in ("ran-npy", "ran-pkl", "ran-pt"))

    cache_root = root / "cache"

    def cache_dir(r):
        return os.path.join(cache_root, os.path.basename(default_cache_dir(os.fspath(r))))

    fake_fit(os.fspath(run), cache_dir(run), epochs=good)
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"),
                                 cache_root=os.fspath(cache_root), autofit=False, watch_interval_s=0)
    yield {"client": client, "plugin": plugin, "run": run, "srun": srun, "plants": plants, "live": live,
           "good": good, "pred_only": pred_only, "evil_epochs": list(range(2, 2 + len(epoch_plants))), "root": root}
    plugin.close()


def _executed(plants):
    return [p for p in plants if os.path.exists(p[2])]


def test_malicious_pickles_never_run(evil_env, tmp_path, report):
    from tensorboard_dvi.engine import EngineConfig, fit_run
    assert evil_env["live"], "the control payload did not run: the proof would be void"
    c = evil_env["client"]
    routes = [("projection", {}), ("background", {}), ("background_meta", {}), ("metrics", {}),
              ("predict_at", {"x": 0.0, "y": 0.0}), ("sample", {"id": 1})]
    codes = {}
    n = 0
    for run in ("evil", "evil_static"):
        for route, params in [("runs", {}), ("status", {"run": run}), ("samples", {"run": run}),
                              ("metrics", {"run": run}), ("sample", {"run": run, "id": 1}),
                              ("thumbnail", {"run": run, "id": 1}), ("trajectories", {"run": run, "ids": "1,2"})]:
            code, _ = _get(c, route, **params)
            codes[(run, route)] = code
            n += 1
        for e in range(1, 2 + len(evil_env["evil_epochs"]) + 1):
            for route, params in routes:
                code, _ = _get(c, route, run=run, epoch=e, **params)
                codes[(run, route, e)] = code
                n += 1
    reader = RunReader(os.fspath(evil_env["run"]))
    damaged = reader.damaged()
    engine_errors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            done = fit_run(os.fspath(evil_env["run"]), os.fspath(tmp_path / "cache"), config=EngineConfig(**SMALL))
        except Exception as e:  # noqa: BLE001
            done = []
            engine_errors.append(f"{type(e).__name__}: {e}")
        try:
            fit_run(os.fspath(evil_env["srun"]), os.fspath(tmp_path / "cache2"), config=EngineConfig(**SMALL))
            engine_errors.append("evil_static: fitted although its static arrays are pickles")
        except Exception as e:  # noqa: BLE001 - expected: EngineError naming the file
            static_error = f"{type(e).__name__}: {e}"
        # A malicious visualizer.pt in the engine's cache: the warm start of the next epoch reads it.
        cache = RunCache(os.fspath(tmp_path / "cache"))
        pt_marker = os.fspath(tmp_path / "ran-visualizer-pt")
        pt_result, pt_ok = "not read", False
        if done:
            for e in done[:-1]:  # whichever epoch the warm start picks
                _torch_pt(cache.state_path(e), pt_marker)
            cache.remove_epoch(done[-1])
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    refit = fit_run(os.fspath(evil_env["run"]), os.fspath(tmp_path / "cache"),
                                    config=EngineConfig(**SMALL))
                advice = [str(w.message) for w in caught if "weights_only=False" in str(w.message)]
                pt_result = (f"refused by torch.load(weights_only=True); epoch {done[-1]} refitted from a cold "
                             f"start: {done[-1] in refit}; unsafe advice shown: {len(advice)}")
                pt_ok = done[-1] in refit and not advice
            except Exception as e:  # noqa: BLE001 - refusing the state is fine, running it is not
                pt_result, pt_ok = f"the fit failed ({type(e).__name__}) instead of cold-starting", False
    ran = _executed(evil_env["plants"]) + ([("cache/visualizer.pt", "torch.save", pt_marker)]
                                           if os.path.exists(pt_marker) else [])
    evil = evil_env["evil_epochs"]
    not_damaged = [e for e in evil if e not in damaged]
    bad_codes = {k: v for k, v in codes.items() if v >= 500}
    evil_served = {k: v for k, v in codes.items() if len(k) == 3 and k[0] == "evil" and k[2] in evil and v == 200}
    static_served = {k: v for k, v in codes.items() if k[0] == "evil_static" and k[1] in ("samples", "thumbnail")
                     and v == 200}
    fitted_ok = set(evil_env["good"]) <= set(done) and all(
        e in evil_env["pred_only"] for e in set(done) - set(evil_env["good"]))
    ok = not ran and not not_damaged and not bad_codes and not evil_served and not static_served and fitted_ok \
        and pt_ok
    report("security", "malicious pickles as .npy/.npz/head/static/.pt, every route + engine",
           len(evil_env["plants"]) + 1, ok,
           f"payload ran {len(ran)} times (control: ran); {len(evil) - len(not_damaged)}/{len(evil)} epochs "
           f"damaged; {n} requests, {len(bad_codes)} 5xx, 0 served; engine fitted {done}; static run refused "
           f"({static_error.split(':')[0]}); pickled visualizer.pt: {pt_result}")
    assert not ran, ran
    assert not not_damaged, (not_damaged, damaged)
    assert not bad_codes, bad_codes
    assert not evil_served, evil_served
    assert not static_served, static_served
    assert fitted_ok, (done, engine_errors)
    assert pt_ok, pt_result
