"""A fake fit function with the engine's signature, for the plugin's job tests.

It writes real cache folders (engine.cache.RunCache.write_epoch) with a cheap
"projection" (two fixed random directions), so the plugin's routes serve them
exactly as they would serve the engine's results. Behaviour is steered by the
``config`` dict: ``delay`` (seconds per epoch), ``crash_at`` (epoch at which the
process kills itself; only while the file ``crash_flag`` exists, if given), ``raise_at`` (epoch that raises), ``ignore_stop``
(never look at should_stop), ``marker`` (a file touched when fitting starts).

Top-level and importable by name, so spawn workers can unpickle it.
"""

import json
import os
import signal
import time

import numpy as np
from werkzeug import test as wtest

RES = 16


def fake_epoch_results(reader, epoch, prev=None):
    meta = reader.meta
    ep = reader.epoch(epoch)
    reps = ep.representations
    rng = np.random.default_rng(0)
    w = rng.standard_normal((reps.shape[1], 2)).astype(np.float32)
    emb = (reps @ w).astype(np.float32)
    lo, hi = emb.min(axis=0), emb.max(axis=0)
    bounds = [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]
    c = meta["num_classes"]
    classes = (np.arange(RES * RES).reshape(RES, RES) % c).astype(np.uint8)
    conf = np.linspace(0.1, 1.0, RES * RES, dtype=np.float32).reshape(RES, RES)
    from tensorboard_dvi.engine.png import encode_png
    png = encode_png(np.stack([classes * 20, classes * 10, 255 - classes * 20], axis=-1).astype(np.uint8))
    metrics = {"nn_10": 0.5, "nn_15": 0.55, "nn_20": 0.6, "boundary_nn_15": 0.4, "ppr_train": 0.9,
               "ppr_test": float("nan"), "inv_conf_diff": 0.1, "trustworthiness": 0.8,
               "tnn_5": None if prev is None else 0.3, "tr": None, "temporal_corr": None, "poor": False,
               "warnings": []}
    info = {"input_uid": ep.uid, "cache_format": 1, "prev_epoch": prev,
            "prev_uid": None if prev is None else reader.epoch(prev).uid, "config_hash": "fake",
            # the whole map's move as engine/drift.py records it: along x by 0.5 per epoch of the chain
            "drift": {"shift": [0.0 if prev is None else 0.5 * epoch, 0.0], "scale": 1.0}}
    return ({"embedding.npy": emb, "grid_classes.npy": classes, "grid_confidence.npy": conf},
            {"background.json": {"bounds": bounds, "resolution": RES}, "metrics.json": metrics,
             "epoch.json": info},
            {"background.png": png})


def fake_fit(run_path, cache_dir, *, epochs=None, config=None, device="cpu", progress=None, should_stop=None):
    from tensorboard_dvi.engine.cache import RunCache
    from tensorboard_dvi.storage import RunReader

    cfg = dict(config or {})
    if cfg.get("marker"):
        with open(cfg["marker"], "a") as f:
            f.write(f"{os.getpid()} {json.dumps(epochs)}\n")
    reader = RunReader(run_path)
    cache = RunCache(cache_dir)
    logged = reader.epochs() if epochs is None else list(epochs)
    uids = {e: reader.epoch(e).uid for e in logged}
    fresh = set(cache.fitted_epochs(uids))
    todo = [e for e in logged if e not in fresh]
    done = []
    for e in todo:
        if should_stop is not None and should_stop() and not cfg.get("ignore_stop"):
            break
        if progress:
            progress({"stage": "train", "epoch": e, "epochs_done": len(done), "epochs_total": len(todo),
                      "fraction": len(done) / max(len(todo), 1), "message": f"training visualizer for epoch {e}"})
        if cfg.get("crash_at") == e and (not cfg.get("crash_flag") or os.path.exists(cfg["crash_flag"])):
            os.kill(os.getpid(), signal.SIGKILL)
        if cfg.get("raise_at") == e:
            raise RuntimeError(f"boom at epoch {e}")
        t_end = time.monotonic() + float(cfg.get("delay", 0.0))
        while time.monotonic() < t_end:
            if should_stop is not None and should_stop() and not cfg.get("ignore_stop"):
                return done
            time.sleep(0.01)
        prev = max([p for p in (fresh | set(done)) if p < e], default=None)
        arrays, jsons, blobs = fake_epoch_results(reader, e, prev)
        cache.write_epoch(e, arrays, jsons, blobs)
        done.append(e)
        if progress:
            progress({"stage": "metrics", "epoch": e, "epochs_done": len(done), "epochs_total": len(todo),
                      "fraction": len(done) / max(len(todo), 1), "message": f"epoch {e} done"})
    return done


def make_client(logdir, flags=None, **plugin_kwargs):
    """(werkzeug test client, plugin) over TensorBoardWSGI with a real data provider.

    ``logdir=""`` with ``flags.logdir_spec`` set: as ``tensorboard --logdir_spec`` passes them."""
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug import test as wtest
    from werkzeug import wrappers

    from tensorboard_dvi.plugin.plugin import DVIPlugin

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    if logdir:
        multiplexer.AddRunsFromDirectory(os.fspath(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, os.fspath(logdir))
    context = base_plugin.TBContext(logdir=os.fspath(logdir), multiplexer=multiplexer, data_provider=provider,
                                    flags=flags)
    plugin = DVIPlugin(context, **plugin_kwargs)
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    return TabClient(app, wrappers.Response), plugin


class TabClient(wtest.Client):
    """A test client that, like the tab (static/api.js), sends ``X-DVI-Request: 1`` on every
    request; pass ``headers=...`` explicitly to send other headers (or none)."""

    def open(self, *args, **kwargs):
        if "headers" not in kwargs and not (args and not isinstance(args[0], str)):
            kwargs["headers"] = {"X-DVI-Request": "1"}
        return super().open(*args, **kwargs)


PREFIX = "/data/plugin/dvi/"
