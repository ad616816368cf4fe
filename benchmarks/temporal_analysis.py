"""What limits the run-level temporal figures of one fitted quality subject (docs/QUALITY_RESULTS.md).

    python benchmarks/temporal_analysis.py mnist_cnn [CACHE_DIR]

Reads a subject (quality_subjects.py) and the engine's cache of it (default: the newest
``benchmarks/.cache/quality/<subject>/engine-*`` that bench_quality.py wrote) and prints tnn@5 / tr /
temporal r of: the drawn layouts; the same after a rigid Procrustes alignment of each epoch to the
previous (global drift); an ideal layout whose distances only grow with the time gap (how much of tr
is the gap); a fixed linear map of all epochs (one PCA for the run); and, per sample, how tr relates
to the straightness of its 2-D path and to the length of that path.
"""

from __future__ import annotations

import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402

import quality_subjects as QS  # noqa: E402
from tensorboard_dvi.engine import metrics as M  # noqa: E402
from tensorboard_dvi.engine.cache import RunCache  # noqa: E402
from tensorboard_dvi.engine.run_metrics import pairwise_epoch_distances, temporal_figures  # noqa: E402


def procrustes_chain(embs):
    out = [embs[0]]
    for e in embs[1:]:
        a, b = out[-1], e
        u, _, vt = np.linalg.svd((b - b.mean(0)).T @ (a - a.mean(0)))
        out.append((b - b.mean(0)) @ (u @ vt) + a.mean(0))
    return out


def per_sample_tr(dh, dl):
    t = dh.shape[0]
    acc = np.zeros(dh.shape[2])
    for e in range(t):
        o = [x for x in range(t) if x != e]
        acc += np.nan_to_num(M._pearson_rows(M._ranks(dh[e, o].T), M._ranks(dl[e, o].T)))
    return acc / t


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    name = argv[0]
    cache_dir = argv[1] if len(argv) > 1 else max(
        glob.glob(os.path.join(QS.CACHE, "quality", name, "engine-*")), key=os.path.getmtime)
    d, cache = QS.load_subject(name), RunCache(cache_dir)
    tr_rows = np.nonzero(d["split"] == 0)[0]
    eps = cache.fitted_epochs()
    high = [d["reps"][e - 1][tr_rows] for e in eps]
    low = [np.asarray(cache.embedding(e))[tr_rows] for e in eps]
    t = len(eps)

    def show(label, embs):
        r = temporal_figures(lambda i: high[i], lambda i: embs[i], t)
        nn = np.mean([M.nn_preservation(high[i], embs[i], 15) for i in range(t)])
        print(f"{label:34s} tnn@5 {r['tnn_5']:.2f}  tr {r['tr']:.3f}  temporal r {r['temporal_corr']:.3f}  NN@15 {nn:.2f}")

    show("drawn layouts", low)
    show("Procrustes chain", procrustes_chain(low))
    from sklearn.decomposition import PCA
    pca = PCA(2).fit(np.concatenate(high))
    show("one PCA for the run (fixed map)", [pca.transform(h) for h in high])
    dh = pairwise_epoch_distances(lambda i: high[i], t)
    dl = pairwise_epoch_distances(lambda i: low[i], t)
    gap = np.abs(np.arange(t)[:, None] - np.arange(t)[None, :]).astype(np.float32)
    rng = np.random.default_rng(0)
    dg = gap[:, :, None] + 1e-3 * rng.random(dh.shape).astype(np.float32)  # ties broken at random
    print("tr / tnn@5 of distance = time gap, against high-D: %.3f / %.2f" % M.temporal_ranking_dist(dh, dg, 5)[::-1])
    print("tr / tnn@5 of the drawn layouts against the time gap: %.3f / %.2f" % M.temporal_ranking_dist(dl, dg, 5)[::-1])
    per = per_sample_tr(dh, dl)
    path = sum(np.linalg.norm(low[i] - low[i - 1], axis=1) for i in range(1, t))
    straight = np.linalg.norm(low[-1] - low[0], axis=1) / np.maximum(path, 1e-9)
    print("per-sample tr: corr with path straightness %.2f, with path length %.2f"
          % (np.corrcoef(per, straight)[0, 1], np.corrcoef(per, path)[0, 1]))


if __name__ == "__main__":
    main()
