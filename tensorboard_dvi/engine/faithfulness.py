"""How faithful one fitted epoch's map is: the per-epoch metrics written to metrics.json.

Per-epoch figures follow the DVI authors' evaluator (spec 8): NN@k of the training
rows; ``nn_15_test`` among train + test embedded together (every row of the joint
set, as the reference's test evaluation); boundary NN@15 with the same epoch's border
points (train, and test rows as ``boundary_nn_15_test``); PPR on the decoded drawn
position. The temporal figures here are *chain-limited* (``*_chain``): they look
back along the fitted chain only (``EngineConfig.temporal_window``), so the tab can
show them as soon as an epoch exists. The reference's run-level temporal figures
(every epoch an anchor) are in ``run_metrics.py``.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from . import metrics as M
from .cache import NotFittedError, RunCache
from .config import EngineConfig
from .model import apply_in_batches, decoded_prediction

#: keys of the chain-limited temporal variants (None until enough epochs are fitted)
CHAIN_KEYS = ("tnn_5_chain", "tr_chain", "temporal_corr_chain")
#: trustworthiness is never estimated from fewer rows than this (config ``trust_distances``)
TRUST_MIN_ROWS = 500


def chain(cache: RunCache, e: int, window: int) -> List[int]:
    """e and its predecessors in the fitted chain, oldest first (at most ``window``)."""
    out = [e]
    cur = e
    while len(out) < window:
        try:
            prev = cache.epoch_info(cur).get("prev_epoch")
        except NotFittedError:
            break
        if prev is None:
            break
        out.append(prev)
        cur = prev
    return out[::-1]


def damaged_error_types() -> tuple:
    """The storage layer's damaged-epoch error (a typed error, never matched by name)."""
    from ..storage import DamagedEpochError
    return (DamagedEpochError,)


def rows_of(reader, epoch: int, rows: np.ndarray) -> np.ndarray:
    """Some rows of an epoch's representations (memory-mapped when possible)."""
    ed = reader.epoch(epoch)
    src = getattr(ed, "representations_raw", None)
    if src is None:
        src = ed.representations
    return np.asarray(src[rows], dtype=np.float32)


def spatial_metrics(cfg: EngineConfig, device: str, train_rows: np.ndarray, test_rows: np.ndarray,
                    reps: np.ndarray, logits: np.ndarray, border: np.ndarray, emb: np.ndarray,
                    emb_border: np.ndarray, recon_logits: np.ndarray, knn20: Tuple[np.ndarray, np.ndarray],
                    border_knn: Optional[np.ndarray], test_knn=None, approx: bool = False,
                    train_test_knn=None, test_border_knn=None, x_train: Optional[np.ndarray] = None) -> dict:
    """NN@k, test NN@15 (joint), boundary NN@15, PPR, inverse confidence difference, trustworthiness.
    ``approx``: the test rows' search among themselves goes through an IVF index (knn.py), as
    the fit of a large epoch searched across the other sets; ``train_test_knn``: the
    training rows' neighbours among the test rows when the fit found them (with ``test_knn``);
    ``test_border_knn``: the test rows' nearest border points, when searched (large epochs); ``x_train``:
    ``reps[train_rows]`` when the caller has it (copies of N x D rows cost 0.3 s at 18k x 512)."""
    tr_rows, te_rows = train_rows, test_rows
    pred, pred_r = logits.argmax(1), recon_logits.argmax(1)
    m = {}
    x_tr, y_tr = reps[tr_rows] if x_train is None else x_train, emb[tr_rows]
    x_te = reps[te_rows]
    low20 = M.knn(y_tr, 20)
    for k in (10, 15, 20):
        m[f"nn_{k}"] = M.nn_preservation(x_tr, y_tr, k, high_knn=knn20[0], low_knn=low20, device=device)
    m["nn_15_test"], m["nn_15_test_rows"] = None, None
    if len(te_rows):
        joint = np.concatenate([tr_rows, te_rows])
        jk = (M.knn_joint(x_tr, x_te, knn20, 15, device=device, knn_ba=test_knn, approx=approx,
                              knn_ab=train_test_knn)
              if knn20[0].shape[1] >= 15 else None)
        per_row = M.nn_preservation_rows(reps[joint] if jk is None else None, emb[joint], 15, device=device,
                                         high_knn=jk)
        m["nn_15_test"] = float(per_row.mean())
        m["nn_15_test_rows"] = float(per_row[len(tr_rows):].mean())
    m["boundary_nn_15"], m["boundary_nn_15_test"] = None, None
    if border_knn is not None and border_knn.shape[1] >= 15:
        m["boundary_nn_15"] = M.boundary_nn(x_tr, border, y_tr, emb_border, 15, high_knn=border_knn, device=device)
        if len(te_rows):
            m["boundary_nn_15_test"] = M.boundary_nn(x_te, border, emb[te_rows], emb_border, 15,
                                                     high_knn=test_border_knn, device=device)
    m["ppr_train"] = M.ppr(pred[tr_rows], pred_r[tr_rows])
    m["ppr_test"] = M.ppr(pred[te_rows], pred_r[te_rows]) if len(te_rows) else None
    m["inv_conf_diff"] = M.inverse_confidence_difference(logits[tr_rows], recon_logits[tr_rows])
    m["trustworthiness"] = M.trustworthiness(x_tr, y_tr, 15, device=device, max_rows=trust_rows(cfg, len(x_tr)),
                                             seed=cfg.seed, low_knn=low20)
    return m


def trust_rows(cfg: EngineConfig, n: int) -> Optional[int]:
    """Rows that estimate trustworthiness: ``trust_rows``, fewer on large epochs (``trust_distances``)."""
    rows = cfg.trust_rows
    if cfg.trust_distances is not None and n:
        bound = max(TRUST_MIN_ROWS, cfg.trust_distances // n)
        rows = bound if rows is None else min(rows, bound)
    return rows


def chain_temporal(cache: RunCache, reader, cfg: EngineConfig, train_rows: np.ndarray,
                   temporal_rows: np.ndarray, e: int, prev: int, reps: np.ndarray, emb: np.ndarray,
                   npr: np.ndarray, uid: Optional[str] = None) -> dict:
    """Chain-limited temporal metrics of epoch e (the chain that ends at e, window-limited). The high-D
    distances come from (and go to) the remembered pairs (epoch_pairs.py) under epoch e's input ``uid``
    (None: computed, not remembered)."""
    ch = chain(cache, prev, cfg.temporal_window - 1) + [e]
    out = {}
    nprs, disps = [], []
    embs = {c: np.asarray(cache.embedding(c))[train_rows] for c in ch[:-1]}
    embs[e] = emb[train_rows]
    for a, b in zip(ch[:-1], ch[1:]):
        r = npr if b == e else cache.npr(b)
        if r is None:
            continue
        nprs.append(np.asarray(r))
        disps.append(np.linalg.norm(embs[b] - embs[a], axis=1))
    out["temporal_corr_chain"] = (M.temporal_correlation(np.array(nprs), np.array(disps))
                                  if len(nprs) >= 3 else None)
    low = np.stack([embs[c][temporal_rows] for c in ch])
    from .epoch_pairs import PAIRS
    dist = PAIRS.table([cache.input_uid(c) for c in ch[:-1]] + [uid], train_rows,
                       lambda i: reps[train_rows] if i == len(ch) - 1 else rows_of(reader, ch[i], train_rows))
    dh = dist[-1:, :, temporal_rows]                                      # epoch e as the anchor
    dl = np.linalg.norm(low - low[-1][None], axis=-1)[None]
    out["tnn_5_chain"], out["tr_chain"] = M.temporal_ranking_dist(dh, dl, 5, anchors=[len(ch) - 1])
    return out


def faithfulness_warnings(cfg: EngineConfig, m: dict) -> List[str]:
    """'faithfulness:' warnings when too few samples keep their class through 2-D and back."""
    warns = []
    if m["ppr_train"] is not None and m["ppr_train"] < cfg.ppr_train_warn:
        warns.append(f"faithfulness: only {m['ppr_train']:.0%} of training samples keep their "
                     "predicted class when mapped to 2-D and back; the regions drawn may not "
                     "match what the model does")
    if m["ppr_test"] is not None and m["ppr_test"] < cfg.ppr_test_warn:
        warns.append(f"faithfulness: only {m['ppr_test']:.0%} of test samples keep their predicted "
                     "class when mapped to 2-D and back")
    return warns


def _test_border_knn(fitter, reps, border):
    """Large epochs: the test rows' 15 nearest border points through the fit's index of the border
    points (knn.py; None, and an exact search in the metrics, otherwise)."""
    among = getattr(fitter, "among_border", None)
    if among is None or not len(fitter.test_rows) or len(border) < 15:
        return None
    return among(reps[fitter.test_rows], 15)[0]


def epoch_metrics(fitter, e, prev, reps, logits, border, emb, emb_border, model, head, cx, knn20, npr,
                  test_knn=None, uid=None):
    """Every per-epoch metric of a fitted epoch (``fitter``: the epoch pipeline's run context;
    ``test_knn``: the test rows' exact training neighbours when the placement searched them; ``uid``: the
    epoch's input uid)."""
    cfg, dev = fitter.cfg, fitter.device
    warns: List[str] = []
    # what the map shows: the head on the decoded position of each sample
    recon_logits = apply_in_batches(decoded_prediction(model, head), emb, dev)
    m = spatial_metrics(cfg, dev, fitter.train_rows, fitter.test_rows, reps, logits, border, emb, emb_border,
                        recon_logits, knn20, cx.border_knn, test_knn, fitter.among_train.approx,
                        fitter.train_test_knn, _test_border_knn(fitter, reps, border),
                        x_train=cx.nodes[:cx.n_train])
    m["npr_mean"] = float(npr.mean()) if npr is not None else None
    m.update({k: None for k in CHAIN_KEYS})
    if prev is not None:
        try:
            m.update(chain_temporal(fitter.cache, fitter.reader, cfg, fitter.train_rows, fitter.temporal_rows,
                                    e, prev, reps, emb, npr, uid))
        except (NotFittedError, OSError, KeyError) + damaged_error_types() as err:
            warns.append(f"temporal metrics skipped: {err}")
    return m, warns + faithfulness_warnings(cfg, m)
