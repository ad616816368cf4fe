"""Quality benchmark on several subjects (issue 12): ours vs the baselines, per epoch and per run.

    python benchmarks/bench_quality.py [--subjects a b] [--methods ours umap ...] [--set key=value ...]
                                       [--markdown docs/QUALITY_RESULTS.md]

Subjects (benchmarks/quality_subjects.py): the MNIST demo CNN, a residual net on
generated colour images, a text classifier on generated token ids, a tabular MLP;
8 epochs, 2,500 train + 500 test samples logged, 250 border points per epoch.
``--subjects mnist_cnn512 mnist_hard512`` are the held-out-shaped checks (5,000 + 1,000 logged,
512-d; the second on corrupted MNIST with 20 % label noise; not in the default run); ``mlp_sgd512``
is a third in that shape from another family (an MLP with BatchNorm trained with SGD), added after the
defaults were chosen.
``--runs demo/runs/clean demo/runs/noisy`` adds logged runs as subjects (the demo's: 10 epochs of a
CNN trained to convergence on all of MNIST, where late epochs barely change).
Methods, on the very same representations:

- ``ours``: the engine (``--set`` overrides EngineConfig fields, for tuning);
- ``ours_independent``: the engine with the temporal parts off (``temporal=False``);
- ``umap``: umap-learn fitted per epoch on train + border points (the authors' baseline),
  test rows placed with ``transform``;
- ``aligned``: umap-learn's ``AlignedUMAP`` over all epochs of the run (train rows,
  identity relations; the continuity baseline: no inverse, not incremental);
- ``pca``: PCA per epoch on the train rows, with its inverse (PPR).

Metrics as the DVI/TimeVis evaluator defines them (engine/faithfulness.py,
engine/run_metrics.py): NN@15 train; NN@15 test among train + test together;
boundary NN@15 with the epoch's border points; PPR; run-level tnn@5, tr, temporal r
with every epoch an anchor. One thread everywhere (torch and numba). Results are
cached per subject, method and settings under benchmarks/.cache/quality/.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import quality_subjects as QS  # noqa: E402
from tensorboard_dvi.engine import EngineConfig, fit_run  # noqa: E402
from tensorboard_dvi.engine import metrics as M  # noqa: E402
from tensorboard_dvi.engine.cache import RunCache  # noqa: E402
from tensorboard_dvi.engine.run_metrics import temporal_figures  # noqa: E402

METHODS = ("ours", "ours_independent", "umap", "aligned", "pca")
OUT = os.path.join(QS.CACHE, "quality")


@functools.lru_cache(maxsize=None)
def code_hash() -> str:
    """Hash of the engine's sources: a code change refits instead of reusing cached results. Taken once per
    process (the code it imported), so an edit while it runs does not file old results under the new code."""
    src = os.path.join(HERE, "..", "tensorboard_dvi", "engine")
    h = hashlib.sha1()
    for name in sorted(os.listdir(src)):
        if name.endswith(".py"):
            with open(os.path.join(src, name), "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()[:10]


def parse_sets(items):
    out = {}
    for it in items or []:
        k, v = it.split("=", 1)
        out[k] = json.loads(v)
    return out


def spatial(d, e, emb, border_emb, recon_pred=None):
    """Per-epoch reference metrics of one layout (emb: all logged rows; border_emb or None)."""
    reps, split = d["reps"][e - 1], d["split"]
    tr, te = np.nonzero(split == 0)[0], np.nonzero(split == 1)[0]
    border = d["border"][e - 1]
    m = {"nn_15": M.nn_preservation(reps[tr], emb[tr], 15)}
    joint = np.concatenate([tr, te])
    m["nn_15_test"] = float(M.nn_preservation_rows(reps[joint], emb[joint], 15).mean())
    m["boundary_nn_15"] = (M.boundary_nn(reps[tr], border, emb[tr], border_emb, 15)
                           if border_emb is not None and len(border) >= 15 else None)
    if recon_pred is not None:
        pred = d["logits"][e - 1].argmax(1)
        m["ppr_train"] = M.ppr(pred[tr], recon_pred[tr])
        m["ppr_test"] = M.ppr(pred[te], recon_pred[te])
    return m


def temporal(d, embs):
    tr = np.nonzero(d["split"] == 0)[0]
    return temporal_figures(lambda i: d["reps"][i][tr], lambda i: embs[i][tr], len(embs))


def run_ours(name, d, sets):
    cfg = EngineConfig(**sets)
    cache_dir = os.path.join(OUT, name, f"engine-{code_hash()}-{cfg.config_hash()}")
    fit_run(QS.ArrayReader(d), cache_dir, config=cfg)
    cache = RunCache(cache_dir)
    epochs = cache.fitted_epochs()
    per = []
    for e in epochs:
        m = cache.metrics(e)
        info = cache.epoch_info(e)
        t = info["timings"]
        per.append({k: m.get(k) for k in ("nn_15", "nn_15_test", "boundary_nn_15", "ppr_train", "ppr_test")}
                   | {"time_s": t["complex"] + t["train"] + t["background"], "time_metrics_s": t["metrics"]})
    run = cache.run_metrics()
    return per, {k: run.get(k) for k in ("tnn_5", "tnn_3", "tr", "temporal_corr")}


def run_umap(name, d):
    import umap
    per, embs = [], []
    for e in range(1, len(d["reps"]) + 1):
        reps, split, border = d["reps"][e - 1], d["split"], d["border"][e - 1]
        tr, te = np.nonzero(split == 0)[0], np.nonzero(split == 1)[0]
        t0 = time.perf_counter()
        u = umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=e, n_jobs=1)
        fitted = u.fit_transform(np.concatenate([reps[tr], border]))
        t_fit = time.perf_counter() - t0
        emb = np.zeros((len(split), 2), np.float32)
        emb[tr] = fitted[:len(tr)]
        emb[te] = u.transform(reps[te])
        per.append(spatial(d, e, emb, fitted[len(tr):]) | {"time_s": t_fit})
        embs.append(emb)
    return per, temporal(d, embs)


def run_aligned(name, d):
    import umap
    tr = np.nonzero(d["split"] == 0)[0]
    n_ep = len(d["reps"])
    t0 = time.perf_counter()
    rel = [{i: i for i in range(len(tr))} for _ in range(n_ep - 1)]
    au = umap.AlignedUMAP(n_neighbors=15, min_dist=0.1, random_state=0).fit([d["reps"][i][tr] for i in range(n_ep)],
                                                                             relations=rel)
    t_fit = time.perf_counter() - t0
    per, embs = [], []
    for i in range(n_ep):
        emb = np.zeros((len(d["split"]), 2), np.float32)
        emb[tr] = au.embeddings_[i]
        per.append({"nn_15": M.nn_preservation(d["reps"][i][tr], emb[tr], 15), "time_s": t_fit / n_ep})
        embs.append(emb)
    return per, temporal(d, embs)


def run_pca(name, d):
    from sklearn.decomposition import PCA
    per, embs = [], []
    for e in range(1, len(d["reps"]) + 1):
        reps, split = d["reps"][e - 1], d["split"]
        tr = np.nonzero(split == 0)[0]
        p = PCA(2, random_state=0).fit(reps[tr])
        emb = p.transform(reps).astype(np.float32)
        border = d["border"][e - 1]
        recon = p.inverse_transform(emb)
        pred = (recon @ d["head_w"][e - 1].T + d["head_b"][e - 1]).argmax(1)
        b_emb = p.transform(border) if len(border) else None
        per.append(spatial(d, e, emb, b_emb, pred))
        embs.append(emb)
    return per, temporal(d, embs)


def run_method(method, name, d, sets):
    ours = method.startswith("ours")
    key = json.dumps(({"m": method, "s": sets, "code": code_hash()} if ours else {"m": method, "s": {}})
                     | ({"uid": d["uid"]} if "uid" in d else {}), sort_keys=True)
    path = os.path.join(OUT, "results", f"{name}-{method}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    t0 = time.perf_counter()
    if method == "ours":
        per, run = run_ours(name, d, sets)
    elif method == "ours_independent":
        per, run = run_ours(name, d, {**sets, "temporal": False})
    else:
        per, run = {"umap": run_umap, "aligned": run_aligned, "pca": run_pca}[method](name, d)
    res = {"subject": name, "method": method, "sets": sets, "per_epoch": per, "run": run,
           "wall_s": time.perf_counter() - t0}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    return res


def mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def targets(res):
    """The issue's targets for one subject, from ours and umap results."""
    o, u = res["ours"], res.get("umap")
    po, out = o["per_epoch"], {}
    if u:
        pu = u["per_epoch"]
        for k in ("nn_15", "nn_15_test", "boundary_nn_15"):
            out[k + "_ratio"] = mean([a[k] for a in po]) / mean([b[k] for b in pu]) if mean([b[k] for b in pu]) else None
    out["ppr_train_min_e3"] = min(a["ppr_train"] for a in po[2:])
    out["ppr_test_min_e3"] = min(a["ppr_test"] for a in po[2:])
    out.update({k: o["run"][k] for k in ("tr", "temporal_corr", "tnn_5")})
    ok = {"nn_15_ratio": lambda v: v >= 0.95, "nn_15_test_ratio": lambda v: v >= 0.95,
          "boundary_nn_15_ratio": lambda v: v >= 1.1, "ppr_train_min_e3": lambda v: v >= 0.95,
          "ppr_test_min_e3": lambda v: v >= 0.93, "tr": lambda v: v >= 0.70,
          "temporal_corr": lambda v: v <= -0.30, "tnn_5": lambda v: v >= 4.15}
    out["met"] = {k: bool(v is not None and ok[k](v)) for k, v in out.items() if k in ok}
    return out


def f(v, d=2):
    return "-" if v is None else f"{v:.{d}f}"


def markdown(all_res):
    lines = ["| subject | method | NN@15 train | NN@15 test | boundary NN@15 | PPR train/test (min from ep. 3) "
             "| tnn@5 | tr | temporal r | s/epoch |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, res in all_res.items():
        for meth, r in res.items():
            p = r["per_epoch"]
            ppr = ("-" if p[0].get("ppr_train") is None else
                   f"{min(a['ppr_train'] for a in p[2:]):.3f}/{min(a['ppr_test'] for a in p[2:]):.3f}")
            lines.append(f"| {name} | {meth} | {f(mean([a.get('nn_15') for a in p]))} | "
                         f"{f(mean([a.get('nn_15_test') for a in p]))} | {f(mean([a.get('boundary_nn_15') for a in p]))} | "
                         f"{ppr} | {f(r['run'].get('tnn_5'))} | {f(r['run'].get('tr'))} | "
                         f"{f(r['run'].get('temporal_corr'))} | {f(mean([a.get('time_s') for a in p]), 1)} |")
    return "\n".join(lines)


def main(argv=None):
    code_hash()  # the sources as this process imported them
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", nargs="*", default=list(QS.SUBJECTS))
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    ap.add_argument("--set", nargs="*", default=[], help="EngineConfig overrides for ours, key=json")
    ap.add_argument("--subject-seed", type=int, default=0,
                    help="train the subjects with this seed (another training run of the same model and data "
                         "family; results are kept apart as <subject>-s<seed>)")
    ap.add_argument("--runs", nargs="*", default=[],
                    help="logged runs (e.g. demo/runs/noisy, after demo/train_mnist.py) measured as more subjects, "
                         "named run-<folder>")
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--markdown", help="write the results table here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sets = parse_sets(args.set)
    all_res = {}
    todo = [(s, None) for s in args.subjects] + [(None, r) for r in args.runs]
    for subject, run in todo:
        if run is not None:
            d, name = QS.load_logged_run(run), QS.run_name(run)
        else:
            d = QS.load_subject(subject, args.subject_seed)
            name = subject if args.subject_seed == 0 else f"{subject}-s{args.subject_seed}"
        all_res[name] = {m: run_method(m, name, d, sets) for m in args.methods}
        if "ours" in all_res[name]:
            t = targets(all_res[name])
            print(name, json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in t.items()}),
                  flush=True)
    table = markdown(all_res)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table + "\n")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(all_res, fh, indent=1)


if __name__ == "__main__":
    main()
