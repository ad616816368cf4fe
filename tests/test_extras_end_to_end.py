"""The writer's per-sample extras, served by the plugin's routes: a text model on token ids and a
tabular MLP logged with DVIWriter (texts=, feature_names=, metadata=), read back through
GET runs / sample / texts / metadata / search exactly as the tab reads them."""

import os

import torch
import torch.nn as nn

from tensorboard_dvi import DVIWriter
from tensorboard_dvi.engine.cache import default_cache_dir
from tensorboard_dvi.plugin.jobs import JobManager
from plugin_fakes import fake_fit, make_client


class BagOfTokens(nn.Module):
    def __init__(self, vocab=50, dim=16, classes=3):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.hidden = nn.Linear(dim, 12)
        self.out = nn.Linear(12, classes)

    def forward(self, ids):
        return self.out(torch.relu(self.hidden(self.emb(ids).mean(dim=1))))


def _get(client, route, **params):
    r = client.get(f"/data/plugin/dvi/{route}", query_string=params)
    assert r.status_code == 200, (route, r.status_code, r.get_data(as_text=True))
    return r.get_json()


def test_text_and_tabular_runs_served_with_their_extras(tmp_path):
    torch.manual_seed(0)
    logdir, cache_root = tmp_path / "logs", tmp_path / "cache"
    n_train, n_test = 40, 10
    ids = torch.randint(0, 50, (n_train + n_test, 7))
    labels = torch.arange(n_train + n_test) % 3
    texts = [f"review {i} {'good' if i % 3 == 0 else 'bad'}" for i in range(n_train + n_test)]
    source = ["web" if i % 2 else "book" for i in range(n_train + n_test)]
    text_run = os.fspath(logdir / "text")
    w = DVIWriter(text_run, BagOfTokens(), ids[:n_train], labels[:n_train], test_data=ids[n_train:],
                  test_labels=labels[n_train:], texts=texts, metadata={"source": source}, border_points=8)
    for e in (1, 2):
        w.log_epoch(e)
    w.close()

    x = torch.randn(n_train, 4)
    tab_run = os.fspath(logdir / "tab")
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    w = DVIWriter(tab_run, mlp, x, labels[:n_train], feature_names=["a", "b", "c", "d"], border_points=0)
    w.log_epoch(1)
    w.close()

    fake_fit(text_run, os.path.join(cache_root, os.path.basename(default_cache_dir(text_run))), epochs=[1])
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"),
                                 cache_root=os.fspath(cache_root), autofit=False, watch_interval_s=0)
    try:
        runs = {r["name"]: r for r in _get(client, "runs")["runs"]}
        assert runs["text"]["has_texts"] and runs["text"]["metadata_columns"] == ["source"]
        assert runs["text"]["border_space"].startswith("embedding:")   # token ids cannot be mixed
        assert runs["tab"]["feature_names"] == ["a", "b", "c", "d"] and not runs["tab"]["has_texts"]

        s = _get(client, "sample", run="text", id=n_train + 3, epoch=2)
        assert s["text"] == texts[n_train + 3] and s["metadata"] == {"source": source[n_train + 3]}
        assert len(s["top_k"]) == 3 and abs(sum(k["prob"] for k in s["top_k"]) - 1) < 1e-4
        assert _get(client, "texts", run="text")["texts"] == texts
        hits = _get(client, "search", run="text", q="GOOD", field="text")
        assert hits["indices"] == [i for i, t in enumerate(texts) if "good" in t]
        hits = _get(client, "search", run="text", q="^bo+k$", field="source", regex=1)
        assert hits["count"] == source.count("book")

        t = _get(client, "sample", run="tab", id=5)
        assert t["features"] == {k: float(v) for k, v in zip("abcd", x[5].tolist())}
    finally:
        plugin.close()
