"""Where a subject's NN@15 goes (docs/QUALITY_RESULTS.md, eighth pass).

    python benchmarks/neighbour_stages.py layout SUBJECT EPOCH ['{"cold_refine_lr": 0.2}']  # one epoch
    python benchmarks/neighbour_stages.py stages SUBJECT CACHE_DIR  # per epoch of a fitted run

``layout``: one epoch fitted with the temporal parts off (the engine's encoder and refinement,
no snapping), then umap-learn's own SGD (``optimize_layout_euclidean``, 500 epochs) and our
refinement (engine/refine.py) swapped across starts (our encoder's output, umap-learn's
spectral layout) and graphs (umap-learn's fuzzy graph of train + border points pruned at
max/500, and our complex: spatial graph of the training rows + boundary complex at 30 % of the
sampling weight, pruned at max/15). ``stages``: NN@15 of the encoder's output, of the refined
positions before the snapping (consistency.py) and of the drawn ones, per epoch of a cache
written by bench_quality.py (benchmarks/.cache/quality/SUBJECT/engine-*). One thread.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402
import torch  # noqa: E402

import quality_subjects as QS  # noqa: E402
from tensorboard_dvi.engine import EngineConfig  # noqa: E402
from tensorboard_dvi.engine import metrics as M  # noqa: E402
from tensorboard_dvi.engine.cache import RunCache  # noqa: E402
from tensorboard_dvi.engine.complex import build_complex, fuzzy_simplicial_set, knn_exact, prune  # noqa: E402
from tensorboard_dvi.engine.model import Visualizer  # noqa: E402
from tensorboard_dvi.engine.phases import train_visualizer  # noqa: E402
from tensorboard_dvi.engine.refine import refine_positions, sampling_weights  # noqa: E402


def train_rows(d):
    return np.nonzero(d["split"] == 0)[0]


def umap_sgd(graph, init, seed, epochs=500):
    """umap-learn's layout optimiser as ``fit`` runs it (init rescaled to [0, 10], move_other)."""
    import umap
    from umap.layouts import optimize_layout_euclidean
    from umap.umap_ import find_ab_params, make_epochs_per_sample
    g = graph.tocoo()
    emb = np.asarray(init, np.float64)
    emb = np.ascontiguousarray(10.0 * (emb - emb.min(0)) / (emb.max(0) - emb.min(0)), dtype=np.float32)
    a, b = find_ab_params(1.0, 0.1)
    rng = np.random.RandomState(seed).randint(np.iinfo(np.int32).min + 1, np.iinfo(np.int32).max - 1, 3)
    return optimize_layout_euclidean(emb, emb, g.row, g.col, epochs, len(emb), make_epochs_per_sample(g.data, epochs),
                                     a, b, rng.astype(np.int64), move_other=True), umap


def ours_refine(graph, init, repulsion, lr=0.05):
    g = graph.tocoo()
    gen = torch.Generator()
    gen.manual_seed(0)
    p = torch.as_tensor(init, dtype=torch.float32)
    delta = refine_positions(p, torch.as_tensor(g.row.astype(np.int64)), torch.as_tensor(g.col.astype(np.int64)),
                             torch.as_tensor(g.data, dtype=torch.float32), steps=500, edges_per_step=int(4.5 * len(p)),
                             lr=lr, negative_sample_rate=5, generator=gen, repulsion=repulsion)
    return (p + delta).numpy()


def layout(name, e, sets=None):
    from umap.spectral import spectral_layout
    d = QS.load_subject(name)
    tr = train_rows(d)
    x, border = d["reps"][e - 1][tr].astype(np.float32), d["border"][e - 1].astype(np.float32)
    n, nodes = len(x), np.concatenate([x, border])

    def show(label, emb):
        print(f"| {label} | {M.nn_preservation(x, emb[:n], 15):.2f} | {M.boundary_nn(x, border, emb[:n], emb[n:], 15):.2f} |",
              flush=True)
    cfg = EngineConfig(**{"temporal": False, **(sets or {})})
    cx = build_complex(x, border, n_neighbors=15, boundary_neighbors=15, prune_n_epochs=cfg.prune_n_epochs)
    torch.manual_seed(0)
    report = train_visualizer(Visualizer(x.shape[1], cfg.hidden, cfg.decoder_hidden), cx, cfg, device="cpu", seed=0)
    pos = report["positions"].numpy()
    p0 = pos - report["offsets"].numpy()
    print(f"{name}, epoch {e}, {sets or {}}: NN@15 train / boundary NN@15 (train rows + all border points)\n\n| layout | NN@15 | bNN@15 |\n|---|---|---|")
    show("engine, temporal parts off: encoder output", p0)
    show("engine, temporal parts off: refined (before snapping)", pos)
    ki, kd = knn_exact(nodes, nodes, 15, exclude_self_first=True)
    full = fuzzy_simplicial_set(ki, kd, len(nodes))
    g_umap = prune(full, 500)
    w = sampling_weights(torch.as_tensor(cx.weight), cx.n_spatial_edges, cfg.boundary_share).numpy()
    g_ours = scipy.sparse.coo_matrix((w, (cx.head, cx.tail)), shape=(len(nodes), len(nodes)))
    emb, umap = umap_sgd(g_umap, p0, e)
    show("umap-learn SGD, umap-learn graph, start: our encoder", emb)
    show("umap-learn `UMAP().fit_transform` (spectral start)",
         umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=e, n_jobs=1).fit_transform(nodes))
    spec = spectral_layout(nodes, full, 2, np.random.RandomState(e))
    show("umap-learn SGD, umap-learn graph, start: spectral", umap_sgd(g_umap, spec, e)[0])
    show("umap-learn SGD, our complex, start: our encoder", umap_sgd(g_ours, p0, e)[0])
    spec = spec * (p0.std() / spec.std())
    lr = cfg.cold_refine_lr or cfg.refine_lr
    for rep in (1.0, cfg.refine_repulsion):
        show(f"our refinement (repulsion {rep}), umap-learn graph, start: our encoder", ours_refine(g_umap, p0, rep, lr))
        show(f"our refinement (repulsion {rep}), our complex, start: our encoder", ours_refine(g_ours, p0, rep, lr))
    show("our refinement, umap-learn graph, start: spectral", ours_refine(g_umap, spec, cfg.refine_repulsion, lr))
    show("our refinement, our complex, start: spectral", ours_refine(g_ours, spec, cfg.refine_repulsion, lr))
    cx500 = build_complex(x, border, n_neighbors=15, boundary_neighbors=15, prune_n_epochs=500)
    w = sampling_weights(torch.as_tensor(cx500.weight), cx500.n_spatial_edges, cfg.boundary_share).numpy()
    g500 = scipy.sparse.coo_matrix((w, (cx500.head, cx500.tail)), shape=(len(nodes), len(nodes)))
    show("our refinement, our complex pruned at max/500, start: our encoder", ours_refine(g500, p0, cfg.refine_repulsion, lr))


def stages(name, cache_dir):
    d = QS.load_subject(name)
    tr = train_rows(d)
    cache = RunCache(cache_dir)
    print("| epoch | encoder | refined | drawn | snapped share | mean snap move |\n|---|---|---|---|---|---|")
    for e in cache.fitted_epochs():
        x = d["reps"][e - 1][tr]
        cfg = cache.epoch_info(e)["config"]
        model = Visualizer(x.shape[1], tuple(cfg["hidden"]),
                           None if cfg["decoder_hidden"] is None else tuple(cfg["decoder_hidden"]))
        model.load_state_dict(torch.load(cache.state_path(e), weights_only=True))
        with torch.no_grad():
            p0 = model.encoder(torch.as_tensor(x)).numpy()
        refined, drawn = p0 + cache.offsets(e), np.asarray(cache.embedding(e))[tr]
        move = np.linalg.norm(refined - drawn, axis=1)
        moved = move > 1e-6
        print(f"| {e} | {M.nn_preservation(x, p0, 15):.2f} | {M.nn_preservation(x, refined, 15):.2f} | "
              f"{M.nn_preservation(x, drawn, 15):.2f} | {moved.mean():.3f} | {move[moved].mean() if moved.any() else 0:.2f} |")


if __name__ == "__main__":
    torch.set_num_threads(1)
    cmd, subject, arg = sys.argv[1:4]
    if cmd == "layout":
        import json
        layout(subject, int(arg), json.loads(sys.argv[4]) if len(sys.argv) > 4 else None)
    else:
        stages(subject, arg)
