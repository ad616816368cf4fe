"""Checked IVF joins for mid-sized epochs: the exact cross-searches' answer for less, where the data allows.

From ``JOIN_IVF_FROM`` (15k) training rows up to ``complex.APPROX_KNN_FROM`` (20k), where the exact join
(knn.exact_join) is the alternative, an epoch's test rows <-> training rows cross-search goes through the
IVF index of the training rows (knn.IVFIndex.join, the index the first epoch's self-kNN built,
knn.knn_self_ivf) and is checked: both directions' exact neighbours of ``knn.CHECKED_QUERIES`` random rows
(queries among the base, base rows among the queries) must be found at a recall of at least
``JOIN_MIN_RECALL``, else the exact join runs (and the next epochs skip the try, ``CheckedJoins``). The
checked rows keep their exact lists. The border points' join is exact (``PROBE_SHARES``): real CNN features
refused it at every try (mnist_speed20k, recall 0.955-0.978), where the test rows' is kept (1.0)
(docs/QUALITY_RESULTS.md, "Speed, tenth pass" and "Twenty-second pass").
"""

from __future__ import annotations

from typing import List

import numpy as np

#: training rows from which (up to complex.APPROX_KNN_FROM, CPU only) the cross-searches are checked IVF joins.
#: 15k (was 10k): below, the exact join is the cheaper one. mnist_speed20k's real 512-d features, epoch 3's
#: test rows, 1 thread, CPU s: 10k + 1,111 rows exact 0.23 against checked IVF 0.48 (0.40 through an index
#: already built, as the first epoch's); 18k + 2k exact 0.66 against 0.59 (0.44) (docs/QUALITY_RESULTS.md,
#: "Tenth pass, warm epoch")
JOIN_IVF_FROM = 15_000
#: the least recall of both directions on the checked rows (one miss in 256 x 15 is 0.99974)
JOIN_MIN_RECALL = 0.999
#: the joins tried through the index, with the share of the cells each probes: the training rows' nearest
#: test rows need more than the unchecked joins' 1/8 on real features (mnist_speed20k, 18k x 512: recall
#: 0.9968 at 1/8, 0.99988 at 3/8); 1/4 (was 3/8; tenth pass, warm epoch): recall 1.0 both ways at epochs 2-4
#: there, 0.47 -> 0.38 s of CPU per join. The border points' join is not tried (exact): the training rows'
#: nearest border points lie across cells, and real features refused it at every try (mnist_speed20k, 18k:
#: recall 0.955-0.978), each try 0.7-0.8 s for nothing on the first epoch and every RETRY_AFTER + 1 after
#: (twenty-second pass); generated clusters kept it (bench_speed, recall 1.0), saving ~0.3 s an epoch there
PROBE_SHARES = {"test": 0.25}
#: after a refused join (the exact join ran), the next this many epochs join exactly without trying
RETRY_AFTER = 3


def applies(n_train: int, device) -> bool:
    """Whether an epoch with ``n_train`` training rows joins through a checked IVF index."""
    from .complex import APPROX_KNN_FROM
    return JOIN_IVF_FROM <= n_train < APPROX_KNN_FROM and str(device).startswith("cpu")


def skips_after(record) -> int:
    """How many epochs in a row a join will have skipped its IVF try, from its previous epoch's record
    (``epoch.json`` ``joins``): 0 to try it, 1 after a refusal, up to ``RETRY_AFTER``, then tried again."""
    if not isinstance(record, dict):
        return 0
    if "skipped" in record:
        from .knn_warm import recorded_skips
        skipped = recorded_skips(record["skipped"])  # an edited epoch.json's count reads as none
        return 0 if skipped is None else skipped + 1 if skipped < RETRY_AFTER else 0
    return 0 if record.get("kept", True) else 1


def previous_record(cache, prev):
    """The previous epoch's ``joins`` record (epoch.json), or None."""
    if prev is None:
        return None
    try:
        record = cache.epoch_info(prev).get("joins")
    except (OSError, ValueError, KeyError):
        return None
    return record if isinstance(record, dict) else None


class CheckedJoins:
    """One epoch's checked joins (knn.Among.join with ``checked``): each named join of ``PROBE_SHARES``
    ("test") tried through the IVF index unless refused in the previous epoch (``skips_after``), any other
    ("border") exact; ``record`` is what epoch.json keeps as ``joins``: per tried join its two recall
    estimates and whether the IVF answer was kept, or how many epochs in a row it has skipped the try."""

    def __init__(self, previous=None):
        self.skips = {name: skips_after(rec) for name, rec in (previous or {}).items()}
        self.record = {}

    def join(self, among, queries, k: int, name: str):
        from .knn import exact_join
        if name not in PROBE_SHARES:  # never tried: exact, and not recorded
            return exact_join(queries, among.base, k, device=among.device)
        skipped = self.skips.get(name, 0)
        if skipped:
            self.record[name] = {"skipped": skipped}
            return exact_join(queries, among.base, k, device=among.device)
        recalls = []
        found = checked_join(among, queries, k, probe_share=PROBE_SHARES[name], recalls=recalls)
        self.record[name] = {"recall": [round(r, 5) for r in recalls], "kept": min(recalls) >= JOIN_MIN_RECALL}
        return found


def among_train(x_train, device, previous=None):
    """The searches among an epoch's training rows (knn.Among): IVF from complex.APPROX_KNN_FROM rows
    (knn.approximate), checked IVF joins from ``JOIN_IVF_FROM`` (``previous``: the previous epoch's
    ``joins`` record), exact below; 1 sqrt(N) cells, as knn.knn_self_ivf's index, so the first epoch's
    self-kNN and the joins share one index."""
    from .knn import Among, approximate
    checked = CheckedJoins(previous) if applies(len(x_train), device) else None
    return Among(x_train, approx=approximate(len(x_train), device), device=device, cells_per_sqrt=1.0,
                 checked=checked)


def checked_join(among, queries, k: int, *, probe_share: float, min_recall: float = JOIN_MIN_RECALL,
                 recalls: List[float] = None):
    """``among.join``'s answer through its IVF index, checked on random rows of both directions against
    the exact search (their exact lists put in); the exact join when either recall is below
    ``min_recall``. ``recalls`` (a list), when given, receives the two estimates."""
    from .complex import knn_exact
    from .knn import CHECKED_QUERIES, exact_join, list_recall
    base = np.asarray(among.base)
    queries = np.asarray(queries)
    (qi, qd), (bi, bd) = among.index().join(queries, k, probe_share=probe_share)
    rs = np.random.RandomState(0)
    q_rows = np.sort(rs.choice(len(queries), min(CHECKED_QUERIES, len(queries)), replace=False))
    b_rows = np.sort(rs.choice(len(base), min(CHECKED_QUERIES, len(base)), replace=False))
    eq = knn_exact(queries[q_rows], base, qi.shape[1], device=among.device)
    eb = knn_exact(base[b_rows], queries, bi.shape[1], device=among.device)
    got = [list_recall(qi[q_rows], eq[0]), list_recall(bi[b_rows], eb[0])]
    if recalls is not None:
        recalls.extend(got)
    if min(got) < min_recall:
        return exact_join(queries, base, k, device=among.device)
    qi[q_rows], qd[q_rows] = eq
    bi[b_rows], bd[b_rows] = eb
    return (qi, qd), (bi, bd)
