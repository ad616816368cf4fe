"""Per-sample extras for the fake backend (docs/HTTP_API.md): texts, metadata, tabular features,
``search``, ``neighbours``, ``history`` and ``tags`` (kept in memory), mixed into ``FakeAPI``."""

import csv
import io
import json
import re

import numpy as np
from werkzeug.wrappers import Response

EXTRA_ROUTES = ("texts", "metadata", "search", "neighbours", "history", "tags", "tags_export")
WORDS = ["good", "bad", "movie", "plot", "actor", "boring", "great", "scene", "ending", "music"]
SOURCES = ["web", "book", "forum"]


def add_extras(r, rng):
    """Texts, two metadata columns (one categorical, one numeric), 3 features and fake high-D vectors."""
    r.texts = ["%s %s sample %d" % (WORDS[int(r.labels[i]) % len(WORDS)], WORDS[(i * 7) % len(WORDS)], int(r.ids[i]))
               for i in range(r.n)]
    r.metadata = {"source": [SOURCES[i % 3] if i % 11 else None for i in range(r.n)],
                  "length": [float(len(t)) for t in r.texts]}
    r.feature_names = ["age", "income", "score"]
    r.features = rng.normal(0, 1, (r.n, 3)).astype(np.float32)
    r.tags = {}


def _softmax_topk(r, e, k, names):
    p = np.full(r.c, (1 - float(r.data[e]["confidence"][k])) / max(r.c - 1, 1))
    p[int(r.data[e]["predictions"][k])] = float(r.data[e]["confidence"][k])
    order = np.argsort(-p)[:5]
    return p, [{"class": int(c), "class_name": names[int(c)], "prob": float(p[c])} for c in order]


class ExtrasMixin:
    def extra_run_json(self, r, d):
        d.update(has_texts=True, feature_names=r.feature_names, metadata_columns=list(r.metadata),
                 border_space="input", damaged_extras={})

    def extra_sample(self, r, k, d, e, names):
        d.update(text=r.texts[k], features=dict(zip(r.feature_names, map(float, r.features[k]))),
                 metadata={c: v[k] for c, v in r.metadata.items()})
        if e is not None:
            d["top_k"] = _softmax_topk(r, e, k, names)[1]

    def r_texts(self, req):
        return self._json({"texts": self._run(req).texts})

    def r_metadata(self, req):
        return self._json({"columns": self._run(req).metadata})

    def r_search(self, req):
        r = self._run(req)
        q, field = req.args.get("q", ""), req.args.get("field", "text")
        if not 1 <= len(q) <= 1000:
            raise ValueError("q must have 1 to 1000 characters")
        names = self.run_json(r)["class_names"]
        if field == "text":
            vals = r.texts
        elif field == "label":
            vals = [names[int(c)] for c in r.labels]
        elif field in r.metadata:
            vals = [None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in r.metadata[field]]
        else:
            raise ValueError("unknown field %r" % field)
        if req.args.get("regex") == "1":
            try:
                pat = re.compile(q, re.I)
            except re.error as e:
                raise ValueError("invalid regular expression: %s" % e)
            hit = [i for i, v in enumerate(vals) if v is not None and pat.search(v)]
        else:
            hit = [i for i, v in enumerate(vals) if v is not None and q.lower() in v.lower()]
        return self._json({"indices": hit, "count": len(hit), "field": field})

    def r_neighbours(self, req):
        r = self._run(req)
        e = self._epoch(req, r, need_fitted=False)
        k = self._index(r, req)
        kk = int(req.args.get("k", 10))
        if not 1 <= kk <= 200:
            raise ValueError("k must be in 1..200")
        hi = np.concatenate([r.data[e]["coords"], r.features], 1)  # a stand-in for the logged vectors
        d = np.linalg.norm(hi - hi[k], axis=1)
        d[k] = np.inf
        near = np.argsort(d)[:kk]
        fitted = e in r.fitted
        d2 = np.linalg.norm(r.data[e]["coords"] - r.data[e]["coords"][k], axis=1)
        d2[k] = np.inf
        on_map = set(np.argsort(d2)[:kk].tolist())
        nb = [{"id": int(r.ids[j]), "index": int(j), "distance": float(d[j]),
               "kept_on_map": (int(j) in on_map) if fitted else None} for j in near]
        recall = sum(n["kept_on_map"] for n in nb) / kk if fitted else None
        return self._json({"id": int(r.ids[k]), "index": k, "epoch": e, "k": kk, "space": "representation",
                           "neighbours": nb, "map_recall": recall})

    def r_history(self, req):
        r = self._run(req)
        k = self._index(r, req)
        names = self.run_json(r)["class_names"]
        lab = int(r.labels[k])
        probs, tops = zip(*[_softmax_topk(r, e, k, names) for e in r.epochs])
        return self._json({"id": int(r.ids[k]), "index": k, "label": lab, "label_name": names[lab],
                           "epochs": r.epochs, "predictions": [int(r.data[e]["predictions"][k]) for e in r.epochs],
                           "confidence": [float(r.data[e]["confidence"][k]) for e in r.epochs],
                           "label_prob": [float(p[lab]) for p in probs], "top_k": list(tops), "skipped": {}})

    def r_tags(self, req):
        r = self._run(req)
        if req.method == "POST":
            if req.headers.get("X-DVI-Request") != "1":
                return Response("missing X-DVI-Request header", 403, headers={"X-DVI-Error": "forbidden"})
            body = json.loads(req.get_data() or b"{}")
            tag, ids, op = body.get("tag"), body.get("ids") or [], body.get("op", "add")
            if not tag or len(tag) > 64 or tag[0] in "=+-@":
                raise ValueError("bad tag name %r" % tag)
            known = set(map(int, r.ids))
            bad = [i for i in ids if i not in known]
            if bad:
                return Response("unknown sample id %d" % bad[0], 404, headers={"X-DVI-Error": "unknown_sample"})
            if op in ("remove", "delete") and tag not in r.tags:
                raise ValueError("unknown tag %r" % tag)
            cur = set(r.tags.get(tag, []))
            if op == "delete":
                del r.tags[tag]
            else:
                r.tags[tag] = sorted(cur | set(ids) if op == "add" else cur - set(ids) if op == "remove" else set(ids))
        return self._json({"tags": r.tags})

    def r_tags_export(self, req):
        r = self._run(req)
        rows = [(i, t) for t in sorted(r.tags) for i in r.tags[t]]
        if req.args.get("format") == "json":
            body, mt = json.dumps({"count": len(rows), "columns": ["id", "tag"],
                                   "rows": [{"id": i, "tag": t} for i, t in rows]}), "application/json"
        else:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(["id", "tag"])
            w.writerows(rows)
            body, mt = buf.getvalue(), "text/csv"
        ext = "json" if mt == "application/json" else "csv"
        return Response(body, mimetype=mt, headers={"Content-Disposition": 'attachment; filename="%s-tags.%s"' % (r.name, ext)})
