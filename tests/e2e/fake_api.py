"""A fake DVI backend for developing and benchmarking the tab without TensorBoard.

It serves ``tensorboard_dvi/static/`` and synthetic data that follows
``docs/HTTP_API.md`` exactly (including the binary container), inside a page that
mimics TensorBoard's plugin iframe (``data/plugin_entry.html`` with
``<base href="plugin/dvi/">`` and the same Content-Security-Policy).

    python tests/e2e/fake_api.py --port 6123 --n 2000 --epochs 8 [--fit-seconds 1.5]

Then open http://127.0.0.1:6123/#dvi . ``--fit-seconds`` simulates the background
engine: epochs become fitted one by one, and ``status``/``runs`` report progress.
"""

import argparse
import base64
import hashlib
import io
import json
import math
import os
import struct
import threading
import time

import numpy as np
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

try:
    from fake_extras import EXTRA_ROUTES, ExtrasMixin, add_extras
except ImportError:  # imported as tests.e2e.fake_api
    from .fake_extras import EXTRA_ROUTES, ExtrasMixin, add_extras

STATIC = os.path.join(os.path.dirname(__file__), "..", "..", "tensorboard_dvi", "static")
STATIC = os.path.abspath(STATIC)

PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]

ENTRY_SCRIPT = 'import("./index.js").then((m) => void m.render());'

# GET catalogue (docs/HTTP_API.md). The query defaults differ on purpose from the tab's built-in
# fallback (static/catalogue.js) so that a test can see which one the tab used.
CATALOGUE = {
    "flags": {"misclassified": 1, "noisy": 2, "near_boundary": 4},
    "near_boundary_margin": 0.1,
    "palette": ["#%02x%02x%02x" % c for c in PALETTE] + [
        "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"],
    "signals": [
        {"name": "mislabel_score", "label": "Mislabel score", "help": "how likely the label is wrong", "kind": "float",
         "min": 0, "max": 1},
        {"name": "conf_mean", "label": "Confidence (mean)", "help": "mean confidence in the label", "kind": "float",
         "min": 0, "max": 1},
        {"name": "conf_std", "label": "Variability", "help": "std of that confidence", "kind": "float", "min": 0},
        {"name": "forgetting", "label": "Forgetting events", "help": "correct to wrong", "kind": "count", "min": 0},
        {"name": "final_correct", "label": "Correct at the last epoch", "help": "0/1", "kind": "flag", "min": 0, "max": 1},
    ],
    "queries": [
        {"name": "largest_movers", "label": "Largest movers on the map", "help": "longest 2-D distance",
         "params": [{"name": "n", "type": "int", "default": 77, "min": 1, "help": "how many"},
                    {"name": "split", "type": "choice", "default": "all", "choices": ["all", "train", "test"],
                     "help": "which samples"}]},
        {"name": "crossed_boundary", "label": "Crossed the boundary ≥ k times", "help": "boundary crossings",
         "params": [{"name": "k", "type": "int", "default": 3, "min": 0, "help": "at least k"}]},
    ],
}


class FakeError(Exception):
    """An error answer: HTTP status, the X-DVI-Error code and the message (as the real plugin)."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code = status, code


def _csp(script_sha=None):
    scripts = "'self' 'unsafe-eval'" + (" 'sha256-%s'" % script_sha if script_sha else "")
    return ";".join([
        "default-src 'self'", "font-src 'self' data:", "frame-src 'self'",
        "img-src 'self' data: blob:", "object-src 'none'",
        "style-src 'self' https://www.gstatic.com data: 'unsafe-inline'",
        "connect-src 'self'", "script-src " + scripts,
    ])


def pack_container(arrays, header_extra):
    """The binary container of HTTP_API.md."""
    meta, blobs, offset = {}, [], 0
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        meta[name] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "offset": offset}
        b = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        pad = (-len(b)) % 8
        blobs.append(b + b"\0" * pad)
        offset += len(b) + pad
    header = dict(header_extra, arrays=meta)
    hb = json.dumps(header).encode("utf-8")
    hb += b" " * ((-(4 + len(hb))) % 8)
    return struct.pack("<I", len(hb)) + hb + b"".join(blobs)


class FakeRun:
    def __init__(self, name, n, epochs, num_classes=10, seed=0, noisy=True, id_offset=0):
        rng = np.random.default_rng(seed)
        self.name = name
        self.n = n
        self.c = num_classes
        self.epochs = list(range(1, epochs + 1))
        self.ids = (np.arange(n) * 3 + 7 + id_offset).astype(np.int32)
        self.labels = rng.integers(0, num_classes, n).astype(np.int16)
        self.split = (rng.random(n) < 0.2).astype(np.uint8)
        self.noisy = (rng.random(n) < 0.03).astype(np.uint8) if noisy else None
        ang = 2 * math.pi * np.arange(num_classes) / num_classes
        self.centers = np.stack([np.cos(ang), np.sin(ang)], 1) * 6.0
        self.start = rng.normal(0, 2.5, (n, 2))
        self.noise = rng.normal(0, 1, (n, 2))
        self.hard = rng.random(n)
        self.data = {}
        for i, e in enumerate(self.epochs):
            t = (i + 1) / len(self.epochs)
            # hard samples end up in a wrong cluster more often early on
            wrong = self.hard < 0.35 * (1 - t) + 0.04
            target = np.where(wrong, (self.labels + 1 + (self.hard * 100).astype(int) % (num_classes - 1)) % num_classes,
                              self.labels).astype(np.int16)
            spread = 2.2 - 1.5 * t
            coords = (self.start * (1 - t) + self.centers[target] * t + self.noise * spread * 0.5)
            conf = np.clip(0.35 + 0.6 * t * (1 - self.hard * 0.5) + rng.normal(0, 0.05, n), 0.1, 1.0)
            flags = (target != self.labels).astype(np.uint8)
            if self.noisy is not None:
                flags |= (self.noisy * 2).astype(np.uint8)
            flags |= ((conf < 0.5) * 4).astype(np.uint8)
            self.data[e] = dict(coords=coords.astype(np.float32), predictions=target,
                                confidence=conf.astype(np.float32), flags=flags)
        self.fitted = list(self.epochs)
        self.job = {"state": "done", "stage": None, "epoch": None, "epochs_done": len(self.epochs),
                    "epochs_total": len(self.epochs), "eta_s": 0.0, "error": None, "message": "all epochs fitted"}
        self._bg_cache = {}
        self.lock = threading.Lock()
        add_extras(self, rng)

    def bounds(self, e):
        c = self.data[e]["coords"]
        lo, hi = c.min(0), c.max(0)
        pad = (hi - lo) * 0.05
        return [float(lo[0] - pad[0]), float(lo[1] - pad[1]), float(hi[0] + pad[0]), float(hi[1] + pad[1])]

    def _grid_predict(self, e, xs, ys):
        t = (self.epochs.index(e) + 1) / len(self.epochs)
        pts = np.stack([xs, ys], -1)
        d = np.linalg.norm(pts[..., None, :] - self.centers * max(t, 0.3), axis=-1)
        cls = d.argmin(-1)
        ds = np.sort(d, -1)
        conf = np.clip((ds[..., 1] - ds[..., 0]) / 3.0, 0, 1)
        return cls, conf

    def background_png(self, e, bounds=None, r=200):
        """The epoch's image over its own bounds (cached), or over ``bounds`` (a zoomed tile)."""
        if bounds is None and e in self._bg_cache:
            return self._bg_cache[e]
        from PIL import Image
        x0, y0, x1, y1 = bounds or self.bounds(e)
        xs = np.linspace(x0, x1, r)
        ys = np.linspace(y1, y0, r)  # row 0 is y_max
        gx, gy = np.meshgrid(xs, ys)
        cls, conf = self._grid_predict(e, gx, gy)
        col = np.array(PALETTE, dtype=np.float32)[cls % len(PALETTE)]
        a = (0.15 + 0.45 * conf)[..., None]
        img = (col * a + 255 * (1 - a)).clip(0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img, "RGB").save(buf, "PNG")
        if bounds is None:
            self._bg_cache[e] = buf.getvalue()
        return buf.getvalue()

    def metrics(self, e):
        i = self.epochs.index(e)
        t = (i + 1) / len(self.epochs)
        poor = (i == 1)
        m = {"epoch": e, "nn_10": 10 * (0.5 + 0.3 * t), "nn_15": 15 * (0.52 + 0.3 * t), "nn_20": 20 * (0.55 + 0.3 * t),
             "boundary_nn_15": 15 * (0.3 + 0.4 * t), "ppr_train": 0.8 + 0.18 * t, "ppr_test": 0.78 + 0.17 * t,
             "inv_conf_diff": 0.1 * (1 - t), "trustworthiness": 0.9 + 0.08 * t,
             "nn_15_test": 15 * (0.5 + 0.3 * t), "tnn_5_chain": None if i == 0 else 5 * (0.4 + 0.2 * t),
             "tr_chain": None if i == 0 else 0.6, "temporal_corr_chain": None if i < 3 else -0.2 - 0.4 * t,
             "poor": poor, "warnings": []}
        if poor:
            m["ppr_train"] = 0.55
            m["warnings"] = ["PPR train 0.55 < 0.70: the background disagrees with the classifier for many samples"]
        return m


class FakeAPI(ExtrasMixin):
    def __init__(self, runs, fit_seconds=0.0, fail_run=None, catalogue=True, slow=None):
        self.runs = {r.name: r for r in runs}
        self.catalogue = catalogue  # False: a server that predates GET catalogue (404 without a code)
        self.fit_seconds = fit_seconds
        self.slow = dict(slow or {})  # run name -> factor on fit_seconds (one run fits slower)
        self.fail_run = fail_run
        self.zoom_requests = []  # query args of every background request (tests)
        self.zoom_fail = False  # tests: answer every background?bounds= with a 500
        if fit_seconds > 0:
            for r in runs:
                r.fitted = []
                r.job = {"state": "idle", "stage": None, "epoch": None, "epochs_done": 0,
                         "epochs_total": len(r.epochs), "eta_s": None, "error": None, "message": "not started"}
                r.started = None

    # --- simulated engine ----------------------------------------------------
    def _secs(self, r):
        return self.fit_seconds * self.slow.get(r.name, 1.0)

    def _advance(self, r):
        if self.fit_seconds <= 0 or getattr(r, "started", None) is None:
            return
        with r.lock:
            if r.job["state"] in ("cancelled", "error"):
                return
            done = int((time.time() - r.started) / self._secs(r))
            if r.name == self.fail_run and done >= 2:
                r.fitted = r.epochs[:2]
                r.job.update(state="error", stage=None, error="the visualizer diverged at epoch 3 (loss is NaN); "
                             "lower --dvi_lr or check the logged representations", message="failed")
                return
            r.fitted = r.epochs[:min(done, len(r.epochs))]
            if len(r.fitted) == len(r.epochs):
                r.job.update(state="done", stage=None, epoch=None, epochs_done=len(r.epochs), eta_s=0.0,
                             message="all epochs fitted")
            else:
                nxt = r.epochs[len(r.fitted)]
                left = (len(r.epochs) - len(r.fitted)) * self._secs(r) - ((time.time() - r.started) % self._secs(r))
                r.job.update(state="running", stage="train", epoch=nxt,
                             epochs_done=len(r.fitted) - getattr(r, "resumed_from", 0),
                             eta_s=round(left, 1), message="training visualizer for epoch %d" % nxt)

    def _schedule(self, r):
        if self.fit_seconds > 0 and getattr(r, "started", None) is None and r.job["state"] == "idle":
            r.started = time.time()
            r.job.update(state="queued", message="waiting for a worker")

    def run_json(self, r):
        self._advance(r)
        d = {"name": r.name, "epochs": r.epochs, "fitted": list(r.fitted), "damaged": {},
             "num_classes": r.c, "class_names": ["class %d" % i if r.c != 10 else
                                                  ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                                   "frog", "horse", "ship", "truck"][i] for i in range(r.c)],
             "n_train": int((r.split == 0).sum()), "n_test": int((r.split == 1).sum()), "dim": 64,
             "has_thumbnails": True, "has_noisy": r.noisy is not None, "job": dict(r.job)}
        self.extra_run_json(r, d)
        return d

    # --- WSGI ----------------------------------------------------------------
    def __call__(self, environ, start_response):
        req = Request(environ)
        try:
            resp = self.dispatch(req)
        except FakeError as e:
            resp = Response(str(e), e.status, mimetype="text/plain", headers={"X-DVI-Error": e.code})
        except ValueError as e:
            resp = Response("bad parameter: %s" % e, 400, mimetype="text/plain", headers={"X-DVI-Error": "bad_param"})
        return resp(environ, start_response)

    def _run(self, req):
        name = req.args.get("run")
        if name is None:
            raise ValueError("missing run")
        if name not in self.runs:
            raise FakeError(404, "unknown_run", "unknown run %r" % name)
        return self.runs[name]

    def _epoch(self, req, r, need_fitted=True):
        try:
            e = int(req.args["epoch"])
        except (KeyError, ValueError):
            raise ValueError("epoch must be a non-negative integer")
        if e not in r.epochs:
            raise FakeError(404, "unknown_epoch", "unknown epoch %d" % e)
        self._advance(r)
        if need_fitted and e not in r.fitted:
            raise FakeError(404, "not_fitted", "epoch %d not fitted yet" % e)
        return e

    def dispatch(self, req):
        p = req.path
        if p == "/":
            return Response(
                "<!DOCTYPE html><html><head><title>Fake TensorBoard</title><style>"
                "body{margin:0;font-family:Roboto,sans-serif}header{height:64px;background:#f57c00;color:#fff;"
                "display:flex;align-items:center;padding:0 16px;font-size:18px}"
                "iframe{border:0;width:100%;height:calc(100vh - 64px);display:block}</style></head>"
                "<body><header>TensorBoard (fake) &nbsp; DVI</header>"
                "<iframe src=\"data/plugin_entry.html?name=dvi\"></iframe></body></html>",
                mimetype="text/html", headers={"Content-Security-Policy": _csp()})
        if p == "/data/plugin_entry.html":
            sha = base64.b64encode(hashlib.sha256(ENTRY_SCRIPT.encode()).digest()).decode()
            html = ('<!DOCTYPE html>\n<head><base href="plugin/dvi/" /></head>\n'
                    '<body><script type="module">%s</script></body>\n' % ENTRY_SCRIPT)
            return Response(html, mimetype="text/html", headers={"Content-Security-Policy": _csp(sha)})
        if p == "/favicon.ico":  # as TensorBoard serves one (a 404 would be a console error)
            return Response(b"", 204)
        prefix = "/data/plugin/dvi/"
        if not p.startswith(prefix):
            return Response("not found", 404, mimetype="text/plain")
        route = p[len(prefix):]
        if route == "catalogue" and self.catalogue:
            return self._json(CATALOGUE)
        if route in ("runs", "status", "fit", "cancel", "samples", "projection", "background",
                     "background_meta", "predict_at", "metrics", "sample", "thumbnail", "trajectories") + EXTRA_ROUTES:
            return getattr(self, "r_" + route)(req)
        fn = os.path.normpath(os.path.join(STATIC, route))
        if not fn.startswith(STATIC + os.sep) or not os.path.isfile(fn):
            return Response("not found: %s" % route, 404, mimetype="text/plain")
        mt = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml",
              "png": "image/png", "html": "text/html"}.get(route.rsplit(".", 1)[-1], "application/octet-stream")
        with open(fn, "rb") as f:
            return Response(f.read(), mimetype=mt, headers={"Cache-Control": "no-cache"})

    def _json(self, obj, code=200):
        return Response(json.dumps(obj), code, mimetype="application/json")

    def r_runs(self, req):
        return self._json({"runs": [self.run_json(r) for r in self.runs.values()]})

    def r_status(self, req):
        r = self._run(req)
        self._schedule(r)
        d = self.run_json(r)
        return self._json(dict(d["job"], fitted=d["fitted"], epochs=d["epochs"]))

    def r_fit(self, req):
        r = self._run(req)
        if req.method != "POST":
            return Response("use POST", 405)
        with r.lock:
            if r.job["state"] in ("cancelled", "error", "idle"):
                r.job.update(state="queued", error=None, message="waiting for a worker",
                             epochs_total=len(r.epochs) - len(r.fitted), epochs_done=0)
                r.resumed_from = len(r.fitted)
                r.started = time.time() - len(r.fitted) * self._secs(r)
        return self._json(dict(r.job), 202)

    def r_cancel(self, req):
        r = self._run(req)
        if req.method != "POST":
            return Response("use POST", 405)
        self._advance(r)
        with r.lock:
            if r.job["state"] in ("queued", "running"):
                r.job.update(state="cancelled", message="cancelled by the user", eta_s=None)
        return self._json(dict(r.job), 202)

    def r_samples(self, req):
        r = self._run(req)
        arrays = {"ids": r.ids, "labels": r.labels, "split": r.split}
        if r.noisy is not None:
            arrays["noisy"] = r.noisy
        return Response(pack_container(arrays, {"n": r.n, "epoch": None}), mimetype="application/octet-stream")

    def r_projection(self, req):
        r = self._run(req)
        e = self._epoch(req, r)
        return Response(pack_container(r.data[e], {"n": r.n, "epoch": e}), mimetype="application/octet-stream")

    def r_background(self, req):
        r = self._run(req)
        e = self._epoch(req, r)
        zoom = self._zoom(req)
        if zoom is not None and not isinstance(zoom, tuple):
            return zoom
        self.zoom_requests.append(dict(req.args))
        if zoom and self.zoom_fail:
            return Response("render worker failed", status=500, headers={"X-DVI-Error": "internal"})
        return Response(r.background_png(e, *(zoom or ())), mimetype="image/png")

    def r_background_meta(self, req):
        r = self._run(req)
        e = self._epoch(req, r)
        zoom = self._zoom(req)
        if zoom is not None and not isinstance(zoom, tuple):
            return zoom
        if zoom:
            return self._json({"bounds": list(zoom[0]), "resolution": zoom[1], "full_bounds": r.bounds(e)})
        return self._json({"bounds": r.bounds(e), "resolution": 200})

    def _zoom(self, req):
        """(bounds, resolution) of ``background?bounds=`` (docs/HTTP_API.md), None without, or a 400."""
        if "bounds" not in req.args:
            return None
        try:
            b = tuple(float(v) for v in req.args["bounds"].split(","))
            res = int(req.args.get("resolution", "200"))
            ok = len(b) == 4 and all(np.isfinite(b)) and b[0] < b[2] and b[1] < b[3] and 1 <= res <= 400
        except ValueError:
            ok = False
        if not ok:
            return Response("bad bounds or resolution", status=400, headers={"X-DVI-Error": "bad_param"})
        return b, res

    def r_predict_at(self, req):
        r = self._run(req)
        e = self._epoch(req, r)
        x, y = float(req.args["x"]), float(req.args["y"])
        b = r.bounds(e)
        cls, conf = r._grid_predict(e, np.array(x), np.array(y))
        names = self.run_json(r)["class_names"]
        return self._json({"class": int(cls), "class_name": names[int(cls)], "confidence": float(0.5 + conf / 2),
                           "inside": bool(b[0] <= x <= b[2] and b[1] <= y <= b[3])})

    def r_metrics(self, req):
        r = self._run(req)
        if "epoch" in req.args:
            e = self._epoch(req, r)
            return self._json(r.metrics(e))
        self._advance(r)
        fitted = list(r.fitted)
        # as engine/fit.py: run_metrics.json is written when a fit of the run finishes
        run_level = None if len(fitted) < 2 or r.job["state"] != "done" else {
            "epochs": fitted, "tnn_3": 2.5, "tnn_5": 4.2, "tr": 0.71, "temporal_corr": -0.33, "mean": {}}
        return self._json({"epochs": fitted, "metrics": [r.metrics(e) for e in fitted], "run": run_level})

    def _index(self, r, req):
        try:
            i = int(req.args["id"])
        except (KeyError, ValueError):
            raise ValueError("id must be an integer")
        idx = np.nonzero(r.ids == i)[0]
        if len(idx) == 0:
            raise FakeError(404, "unknown_sample", "unknown sample id %d" % i)
        return int(idx[0])

    def r_sample(self, req):
        r = self._run(req)
        k = self._index(r, req)
        names = self.run_json(r)["class_names"]
        d = {"id": int(r.ids[k]), "index": k, "split": "test" if r.split[k] else "train",
             "label": int(r.labels[k]), "label_name": names[int(r.labels[k])],
             "noisy": bool(r.noisy[k]) if r.noisy is not None else False, "has_thumbnail": True}
        if "epoch" in req.args:
            e = self._epoch(req, r)
            p = int(r.data[e]["predictions"][k])
            d.update(prediction=p, prediction_name=names[p], confidence=float(r.data[e]["confidence"][k]))
        self.extra_sample(r, k, d, e if "epoch" in req.args else None, names)
        return self._json(d)

    def r_thumbnail(self, req):
        from PIL import Image, ImageDraw
        r = self._run(req)
        k = self._index(r, req)
        img = Image.new("L", (28, 28), 0)
        ImageDraw.Draw(img).text((9, 8), str(int(r.labels[k])), fill=255)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return Response(buf.getvalue(), mimetype="image/png")

    def r_trajectories(self, req):
        r = self._run(req)
        try:
            ids = [int(s) for s in req.args["ids"].split(",") if s != ""]
        except (KeyError, ValueError):
            raise ValueError("ids must be a comma-separated list of integers")
        if len(ids) > 5000:
            raise ValueError("at most 5000 ids")
        self._advance(r)
        start = int(req.args.get("start", r.epochs[0]))
        end = int(req.args.get("end", r.epochs[-1]))
        eps = [e for e in r.epochs if start <= e <= end]
        pos = {int(v): i for i, v in enumerate(r.ids)}
        out = []
        for i in ids:
            if i not in pos:
                raise FakeError(404, "unknown_sample", "unknown sample id %d" % i)
            k = pos[i]
            out.append([r.data[e]["coords"][k].tolist() if e in r.fitted else None for e in eps])
        return self._json({"ids": ids, "epochs": eps, "positions": out})


def make_api(n=2000, epochs=8, fit_seconds=0.0, fail_run=None, catalogue=True, slow=None):
    runs = [FakeRun("clean", n, epochs, seed=0), FakeRun("noisy/labels-20", n, epochs, seed=1),
            FakeRun("cifar100-ish", max(n // 2, 10), max(epochs - 2, 2), num_classes=20, seed=2, noisy=False)]
    return FakeAPI(runs, fit_seconds=fit_seconds, fail_run=fail_run, catalogue=catalogue, slow=slow)


class FakeServer:
    """Runs the fake API in a background thread (for tests and the benchmark)."""

    def __init__(self, port=0, quiet=True, **kw):
        if quiet:
            import logging
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.api = make_api(**kw)
        self.srv = make_server("127.0.0.1", port, self.api, threaded=True)
        self.port = self.srv.server_port
        self.url = "http://127.0.0.1:%d/" % self.port
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.srv.shutdown()
        self.srv.server_close()  # frees the port: a test may start the server again on it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=6123)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--fit-seconds", type=float, default=0.0)
    ap.add_argument("--fail-run", default=None)
    a = ap.parse_args()
    with FakeServer(a.port, quiet=False, n=a.n, epochs=a.epochs, fit_seconds=a.fit_seconds, fail_run=a.fail_run) as s:
        print("fake DVI backend on", s.url + "#dvi", flush=True)
        s.thread.join()


if __name__ == "__main__":
    main()
