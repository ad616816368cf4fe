"""Routes about single samples and their extras: sample, thumbnail, texts, metadata, search, history.

``GET sample`` answers one sample's label, prediction and extras, ``GET thumbnail`` its logged image;
``GET texts``, ``GET metadata``, ``GET search`` serve the run's optional extras
(extras.py); ``GET history`` a sample's label, prediction and top-k classes at
every readable epoch, reading only that sample's row of each epoch's logits.
:func:`sample_fields` is what ``GET sample`` adds (text, features, metadata,
top-k). Contracts: docs/HTTP_API.md, "Texts, metadata and search" and
"Neighbours and history".
"""

from __future__ import annotations

import json
import time
from typing import List, Optional

import numpy as np
from tensorboard.backend import http_util
from werkzeug import wrappers

from .. import metadata as md
from .. import scoring, storage
from ..engine.png import encode_png
from . import codes, validate
from .extras import TEXTS_FILE, METADATA_FILE, Extras, ExtrasStore

TOP_K = 5
MAX_QUERY_LEN = 1000
REGEX_VALUE_CHARS = 1000
SEARCH_BUDGET_S = 2.0



def respond_json(request, obj, code: int = 200, headers=None):
    body = json.dumps(scoring.json_clean(obj), separators=(",", ":"))
    return http_util.Respond(request, body, "application/json", code=code, headers=headers)


def class_name(run, c: int) -> str:
    names = run.reader.meta.get("class_names") or []
    return names[c] if 0 <= c < len(names) else str(c)


def top_k(run, logits_row: np.ndarray, k: int = TOP_K) -> List[dict]:
    """The ``k`` most probable classes of one sample (softmax of its logits), most probable first."""
    p = scoring.softmax(np.asarray(logits_row, dtype=np.float64)[None, :])[0]
    order = np.argsort(-p, kind="stable")[:k]
    return [{"class": int(c), "class_name": class_name(run, int(c)), "prob": float(p[c])} for c in order]


def _as_text(v) -> Optional[str]:
    """A metadata value as searched: strings as they are, numbers as their JSON text."""
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v)


class SampleRoutes:
    """Handlers of the per-sample routes; ``runs`` is the plugin's :class:`runs.Runs`."""

    def __init__(self, runs, extras: Optional[ExtrasStore] = None):
        self.runs = runs
        self.extras = extras or ExtrasStore()

    def sample_fields(self, run, idx: int, logits_row: Optional[np.ndarray]) -> dict:
        """What ``GET sample`` adds: text, features, metadata, and top-k when an epoch is given."""
        out = self.extras.get(run).of_sample(idx)
        if logits_row is not None:
            out["top_k"] = top_k(run, logits_row)
        return out

    @wrappers.Request.application
    def sample(self, request):
        run = self.runs.open(request.args)
        sid = validate.sample_id(request.args)
        e, _ = self.runs.epoch(run, request.args, optional=True)
        idx = int(self.runs.index_of(run, [sid])[0])
        static = self.runs.static(run)
        label = int(static.labels[idx])
        out = {"id": sid, "index": idx, "split": "train" if static.split[idx] == md.SPLIT_TRAIN else "test",
               "label": label, "label_name": class_name(run, label),
               "noisy": bool(static.noisy[idx]) if static.noisy is not None else False,
               "has_thumbnail": bool(run.reader.meta.get("has_thumbnails"))}
        if e is not None:
            ep = self.runs.epoch_data(run, e)
            try:
                pred = int(ep.predictions[idx])
                logits = ep.logits_rows(slice(idx, idx + 1))
            except storage.DamagedEpochError as err:
                raise codes.Damaged(f"epoch {e} of run {run.name!r} is damaged: {err.reason}") from None
            out.update({"epoch": e, "prediction": pred, "prediction_name": class_name(run, pred),
                        "confidence": float(scoring.softmax_confidence(logits)[0])})
        out.update(self.sample_fields(run, idx, logits[0] if e is not None else None))
        return respond_json(request, out)

    @wrappers.Request.application
    def thumbnail(self, request):
        run = self.runs.open(request.args)
        sid = validate.sample_id(request.args)
        idx = int(self.runs.index_of(run, [sid])[0])
        try:
            thumbs = run.reader.thumbnails()
        except storage.FormatError as err:
            raise codes.Damaged(f"thumbnails of run {run.name!r} are unreadable: {err}") from None
        if thumbs is None:
            raise codes.UnknownSample(f"run {run.name!r} has no thumbnails")
        try:
            png = encode_png(np.array(thumbs[idx]))
        except ValueError as err:
            raise codes.Damaged(f"thumbnail of sample {sid} cannot be shown: {err}") from None
        return http_util.Respond(request, png, "image/png", expires=3600)

    def _extras(self, run) -> Extras:
        self.runs.touch(run)
        return self.extras.get(run)

    @staticmethod
    def _damaged(run, ex: Extras, fname: str):
        if fname in ex.damaged:
            raise codes.Damaged(f"run {run.name!r}: {fname} {ex.damaged[fname]}")

    @wrappers.Request.application
    def texts(self, request):
        run = self.runs.open(request.args)
        ex = self._extras(run)
        self._damaged(run, ex, TEXTS_FILE)
        if ex.texts is None:
            raise codes.UnknownFile(f"run {run.name!r} logged no texts")
        return respond_json(request, {"texts": ex.texts})

    @wrappers.Request.application
    def metadata(self, request):
        run = self.runs.open(request.args)
        ex = self._extras(run)
        self._damaged(run, ex, METADATA_FILE)
        return respond_json(request, {"columns": ex.columns})

    def _field_values(self, run, ex: Extras, field: str) -> List[Optional[str]]:
        """The searched text of every sample for ``field`` (memoised with the parsed extras, but
        ``label``, which comes from the static labels: see :meth:`_memo`)."""
        memo = self._memo(ex, field)
        if field in memo:
            return memo[field]
        if field == "text":
            self._damaged(run, ex, TEXTS_FILE)
            if ex.texts is None:
                raise codes.BadParam(f"run {run.name!r} logged no texts to search")
            values = ex.texts
        elif field == "label":
            values = [class_name(run, int(c)) for c in self.runs.static(run).labels]
        elif field in ex.columns:
            values = [_as_text(v) for v in ex.columns[field]]
        else:
            known = ", ".join(["text", "label", *ex.columns])
            raise codes.BadParam(f"unknown search field {field[:80]!r}; this run has: {known}")
        memo[field] = values
        return values

    @staticmethod
    def _memo(ex: Extras, field: str) -> dict:
        return {} if field == "label" else ex.memo

    @wrappers.Request.application
    def search(self, request):
        run = self.runs.open(request.args)
        q = validate.required(request.args, "q")
        if len(q) > MAX_QUERY_LEN:
            raise codes.BadParam(f"parameter 'q' is longer than {MAX_QUERY_LEN} characters")
        use_regex = validate.choice(request.args, "regex", ["0", "1"], default="0") == "1"
        field = request.args.get("field") or "text"
        pattern = validate.regex(request.args) if use_regex else None
        ex = self._extras(run)
        values = self._field_values(run, ex, field)
        if pattern is None:
            folded = self._memo(ex, field).setdefault(("folded", field), [v.casefold() if v is not None else None
                                                            for v in values])
            needle = q.casefold()
            indices = [i for i, v in enumerate(folded) if v is not None and needle in v]
        else:
            indices = self._regex_search(pattern, values)
        return respond_json(request, {"indices": indices, "count": len(indices), "field": field})

    @staticmethod
    def _regex_search(pattern, values) -> List[int]:
        deadline = time.monotonic() + SEARCH_BUDGET_S
        out = []
        for i, v in enumerate(values):
            if v is not None and pattern.search(v[:REGEX_VALUE_CHARS]):
                out.append(i)
            if i % 64 == 0 and time.monotonic() > deadline:
                raise codes.BadParam(f"the regular expression took more than {SEARCH_BUDGET_S:g} s "
                                     f"(stopped at sample {i} of {len(values)}); simplify it")
        return out

    @wrappers.Request.application
    def history(self, request):
        run = self.runs.open(request.args)
        sid = validate.sample_id(request.args)
        idx = int(self.runs.index_of(run, [sid])[0])
        label = int(self.runs.static(run).labels[idx])
        _, uids, damaged = self.runs.scan(run)
        skipped = {str(e): r for e, r in damaged.items()}
        epochs, preds, conf, label_prob, tops = [], [], [], [], []
        for e in sorted(uids):
            try:
                row = self.runs.epoch_data(run, e).logits_rows([idx])[0].astype(np.float64)
            except storage.DamagedEpochError as err:
                skipped[str(e)] = err.reason
                continue
            except (codes.Damaged, codes.UnknownEpoch) as err:  # replaced or removed meanwhile
                skipped[str(e)] = str(err)
                continue
            p = scoring.softmax(row[None, :])[0]
            epochs.append(e)
            preds.append(int(np.argmax(row)))
            conf.append(float(p.max()))
            label_prob.append(float(p[label]) if 0 <= label < len(p) else None)
            tops.append(top_k(run, row))
        return respond_json(request, {"id": sid, "index": idx, "label": label,
                                      "label_name": class_name(run, label), "epochs": epochs,
                                      "predictions": preds, "confidence": conf, "label_prob": label_prob,
                                      "top_k": tops, "skipped": skipped})
