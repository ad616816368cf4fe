"""Benchmark the DVI engine on logged runs against baselines in the same process.

    python benchmarks/bench_engine.py demo/runs [--runs clean noisy] [--epochs 1:10] [--device cpu]

Per epoch it prints the engine's time by stage and its metrics, then, on the
same representations: umap-learn's UMAP (fit_transform time, NN@15, boundary
NN@15), PCA with its inverse (NN@15, boundary NN@15, PPR), and the engine with
the temporal parts switched off (independent epochs), and the ratios the
targets in docs/ENGINE_RESULTS.md are stated in. Timings on a shared machine
are noisy: medians are reported, and every baseline runs in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

T_IMPORT = time.perf_counter()
import torch  # noqa: E402

from tensorboard_dvi.engine import EngineConfig, fit_run  # noqa: E402
from tensorboard_dvi.engine import metrics as M  # noqa: E402
from tensorboard_dvi.engine.cache import RunCache  # noqa: E402
from tensorboard_dvi.storage import RunReader  # noqa: E402

T_IMPORT = time.perf_counter() - T_IMPORT


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def f(v, d=3):
    return "-" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fit(run_path, cfg, device, epochs):
    cache_dir = tempfile.mkdtemp(prefix="bench-dvi-")
    t = time.perf_counter()
    done = fit_run(run_path, cache_dir, config=cfg, device=device, epochs=epochs)
    return RunCache(cache_dir), done, time.perf_counter() - t


def run_level_temporal(reader, cache, epochs, rows):
    """TimeVis tnn@5 / tr over all epochs (every epoch an anchor) and DVI's correlation."""
    n_train = reader.meta["n_train"]
    high = np.stack([np.asarray(reader.epoch(e).representations_raw[rows], np.float32) for e in epochs])
    low = np.stack([np.asarray(cache.embedding(e))[rows] for e in epochs])
    tnn, tr = M.temporal_ranking(high, low, 5)
    # DVI correlation: NPR between consecutive epochs (recomputed: the ablation stores none)
    knns = [M.knn(np.asarray(reader.epoch(e).representations_raw[:n_train], np.float32), 15) for e in epochs]
    nprs = [M.neighbour_preserving_rate(a, b) for a, b in zip(knns[:-1], knns[1:])]
    embs = [np.asarray(cache.embedding(e))[:n_train] for e in epochs]
    disp = [np.linalg.norm(b - a, axis=1) for a, b in zip(embs[:-1], embs[1:])]
    corr = M.temporal_correlation(np.array(nprs), np.array(disp))
    return tnn, tr, corr


def bench_run(name, run_path, args):
    reader = RunReader(run_path)
    n_train, n_test = reader.meta["n_train"], reader.meta["n_test"]
    epochs = reader.epochs()
    if args.epochs:
        lo, hi = args.epochs
        epochs = [e for e in epochs if lo <= e <= hi]
    print(f"\n=== run {name}: {n_train} train + {n_test} test samples, dim {reader.meta['dim']}, "
          f"epochs {epochs[0]}..{epochs[-1]} ({len(epochs)}), engine torch threads {args.threads}", flush=True)
    cfg = EngineConfig(threads=args.threads)

    # ---- engine (temporal) ----
    cache, done, t_total = fit(run_path, cfg, args.device, epochs)
    rows = []
    for e in done:
        info, m = cache.epoch_info(e), cache.metrics(e)
        rows.append((e, info["timings"], info["trainer_epochs"], m))
    print("\nengine (temporal, warm start): time by stage [s] and metrics")
    print(f"{'ep':>3} {'load':>5} {'cmplx':>6} {'train':>6} {'bg':>5} {'metr':>5} {'total':>6} {'te':>3} "
          f"{'NN@15':>6} {'bNN15':>6} {'PPRtr':>6} {'PPRte':>6} {'trust':>6} {'tnn5':>5} {'tr':>6} {'tcorr':>6}")
    for e, t, te, m in rows:
        tot = sum(t.values())
        print(f"{e:>3} {t['load']:5.1f} {t['complex']:6.1f} {t['train']:6.1f} {t['background']:5.1f} "
              f"{t['metrics']:5.1f} {tot:6.1f} {te:>3} {f(m['nn_15'], 2):>6} {f(m['boundary_nn_15'], 2):>6} "
              f"{f(m['ppr_train']):>6} {f(m['ppr_test']):>6} {f(m['trustworthiness']):>6} "
              f"{f(m['tnn_5'], 2):>5} {f(m['tr']):>6} {f(m['temporal_corr']):>6}", flush=True)
    warm = [sum(t.values()) for e, t, te, m in rows[1:]] or [sum(rows[0][1].values())]
    warm_fit = [sum(v for k, v in t.items() if k != "metrics") for e, t, te, m in rows[1:]] or [0]

    # ---- ablation: independent epochs ----
    abl_cache, abl_done, _ = fit(run_path, EngineConfig(threads=args.threads, temporal=False), args.device, epochs)
    abl = {e: abl_cache.metrics(e) for e in abl_done}
    abl_time = [sum(abl_cache.epoch_info(e)["timings"].values()) for e in abl_done]

    # ---- baselines: UMAP and PCA on the same arrays ----
    import umap
    from sklearn.decomposition import PCA
    base = {}
    umap_cold = None
    for i, e in enumerate(done):
        ed = reader.epoch(e)
        x = ed.representations
        xtr, border = x[:n_train], ed.border
        head = ed.head_module()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            u = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=None)
            y = u.fit_transform(xtr)
            t_umap = time.perf_counter() - t
            if umap_cold is None:  # first call compiles numba: time it again, warm
                umap_cold = t_umap
                t = time.perf_counter()
                u = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=None)
                y = u.fit_transform(xtr)
                t_umap = time.perf_counter() - t
            yb = u.transform(border) if len(border) >= 15 else None
        knn_tr = M.knn(xtr, 15)
        r = {"umap_time": t_umap, "umap_nn15": M.nn_preservation(xtr, y, 15, high_knn=knn_tr),
             "umap_bnn15": M.boundary_nn(xtr, border, y, yb, 15) if yb is not None else None}
        t = time.perf_counter()
        p = PCA(2, random_state=0).fit(xtr)
        r["pca_time"] = time.perf_counter() - t
        ptr, pb = p.transform(xtr), p.transform(border) if len(border) else None
        r["pca_nn15"] = M.nn_preservation(xtr, ptr.astype(np.float32), 15, high_knn=knn_tr)
        r["pca_bnn15"] = M.boundary_nn(xtr, border, ptr.astype(np.float32), pb.astype(np.float32), 15) \
            if pb is not None else None
        with torch.no_grad():
            rec = head(torch.from_numpy(p.inverse_transform(p.transform(x)).astype(np.float32))).numpy()
        pred = ed.logits.argmax(1)
        r["pca_ppr_train"] = M.ppr(pred[:n_train], rec[:n_train].argmax(1))
        r["pca_ppr_test"] = M.ppr(pred[n_train:], rec[n_train:].argmax(1)) if n_test else None
        base[e] = r

    print("\nbaselines on the same representations (UMAP fitted on the train rows, border points transformed)")
    print(f"{'ep':>3} {'UMAP s':>7} {'UMAP NN':>8} {'UMAP bNN':>9} {'PCA NN':>7} {'PCA bNN':>8} {'PCA PPRtr':>9} "
          f"{'PCA PPRte':>9} {'abl NN':>7} {'abl bNN':>8} {'abl PPRtr':>9} {'abl PPRte':>9}")
    for e in done:
        b, a = base[e], abl.get(e, {})
        print(f"{e:>3} {b['umap_time']:7.1f} {b['umap_nn15']:8.2f} {f(b['umap_bnn15'], 2):>9} {b['pca_nn15']:7.2f} "
              f"{f(b['pca_bnn15'], 2):>8} {f(b['pca_ppr_train']):>9} {f(b['pca_ppr_test']):>9} "
              f"{f(a.get('nn_15'), 2):>7} {f(a.get('boundary_nn_15'), 2):>8} {f(a.get('ppr_train')):>9} "
              f"{f(a.get('ppr_test')):>9}", flush=True)

    # ---- temporal, run level ----
    rs = np.random.RandomState(0)
    rows_t = np.sort(rs.choice(n_train, min(2000, n_train), replace=False))
    tl = run_level_temporal(reader, cache, done, rows_t) if len(done) >= 7 else (None, None, None)
    ta = run_level_temporal(reader, abl_cache, abl_done, rows_t) if len(abl_done) >= 7 else (None, None, None)

    # ---- summary ----
    umap_warm = med([base[e]["umap_time"] for e in done])
    last = rows[-1][3]
    s = {
        "run": name,
        "engine_epoch_s_median_warm": med(warm),
        "engine_fit_s_median_warm_no_metrics": med(warm_fit),
        "engine_epoch_s_first": sum(rows[0][1].values()),
        "ablation_epoch_s_median": med(abl_time),
        "umap_fit_transform_s_median_warm": umap_warm,
        "umap_first_call_s": umap_cold,
        "import_torch_engine_s": T_IMPORT,
        "ratio_time_engine_vs_umap": ratio(med(warm), umap_warm),
        "ratio_time_engine_no_metrics_vs_umap": ratio(med(warm_fit), umap_warm),
        "nn15_engine_mean": mean([r[3]["nn_15"] for r in rows]),
        "nn15_umap_mean": mean([base[e]["umap_nn15"] for e in done]),
        "nn15_pca_mean": mean([base[e]["pca_nn15"] for e in done]),
        "bnn15_engine_mean": mean([r[3]["boundary_nn_15"] for r in rows]),
        "bnn15_umap_mean": mean([base[e]["umap_bnn15"] for e in done]),
        "bnn15_pca_mean": mean([base[e]["pca_bnn15"] for e in done]),
        "ppr_train_last": last["ppr_train"], "ppr_test_last": last["ppr_test"],
        "pca_ppr_train_last": base[done[-1]]["pca_ppr_train"], "pca_ppr_test_last": base[done[-1]]["pca_ppr_test"],
        "tnn5_run_engine": tl[0], "tnn5_run_ablation": ta[0],
        "tr_run_engine": tl[1], "tr_run_ablation": ta[1],
        "tcorr_run_engine": tl[2], "tcorr_run_ablation": ta[2],
    }
    s["ratio_nn15_engine_vs_umap"] = ratio(s["nn15_engine_mean"], s["nn15_umap_mean"])
    s["ratio_bnn15_engine_vs_umap"] = ratio(s["bnn15_engine_mean"], s["bnn15_umap_mean"])
    print("\nsummary")
    for k, v in s.items():
        print(f"  {k:40s} {f(v) if not isinstance(v, str) else v}")
    return s


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("logdir")
    p.add_argument("--runs", nargs="*", default=None)
    p.add_argument("--epochs", default=None, help="A:B inclusive")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the summaries here")
    args = p.parse_args(argv)
    if args.epochs:
        a, b = args.epochs.split(":")
        args.epochs = (int(a), int(b))
    torch.set_num_threads(args.threads)
    from tensorboard_dvi.storage import list_runs
    runs = args.runs or list_runs(args.logdir)
    out = []
    for name in runs:
        out.append(bench_run(name, args.logdir if name == "." else os.path.join(args.logdir, name), args))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
