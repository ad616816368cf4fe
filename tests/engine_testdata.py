"""In-memory runs for engine tests: the RunReader API over numpy arrays.

Lets the tests craft bad input (NaN, a changed width, a class predicted once,
no border points) that the real writer would never produce.
"""

import hashlib

import numpy as np
import torch

TINY = dict(hidden=(32, 32), max_trainer_epochs=3, edges_per_trainer_epoch=3000, batch_size=500,
            decoder_min_steps=100, refine_steps_small=None,
            background_resolution=16, temporal_sample=100)


from tensorboard_dvi.storage import DamagedEpochError as FakeDamaged  # the real error type


class Static:
    def __init__(self, labels, split):
        self.ids = np.arange(len(labels), dtype=np.int64)
        self.labels = labels.astype(np.int64)
        self.split = split.astype(np.uint8)
        self.noisy = None


class Epoch:
    def __init__(self, e, reps, head, border, damaged=None):
        self.epoch = e
        self.representations = reps.astype(np.float32)
        with torch.no_grad():
            self.logits = head(torch.from_numpy(np.nan_to_num(self.representations))).numpy()
        self.predictions = self.logits.argmax(1).astype(np.int64)
        self.border = border.astype(np.float32)
        self._head = head
        self.uid = hashlib.sha1(self.representations.tobytes() + self.border.tobytes()).hexdigest()[:12]

    def head_module(self):
        return self._head


class FakeReader:
    """``epochs``: dict epoch -> (reps, head, border); ``damaged``: dict epoch -> reason."""

    def __init__(self, labels, split, epochs, damaged=None, num_classes=None):
        self._static = Static(labels, split)
        self._epochs = {e: Epoch(e, *v) for e, v in epochs.items()}
        self._damaged = dict(damaged or {})
        dims = {v[0].shape[1] for v in epochs.values()}
        self.meta = {"format_version": 1, "num_classes": num_classes or int(labels.max()) + 1,
                     "class_names": None, "n_train": int((split == 0).sum()), "n_test": int((split == 1).sum()),
                     "dim": max(dims) if dims else 0, "has_thumbnails": False, "has_noisy": False}

    def static(self):
        return self._static

    def epochs(self):
        return sorted(set(self._epochs) | set(self._damaged))

    def epoch(self, e):
        if e in self._damaged:
            raise FakeDamaged(e, self._damaged[e])
        return self._epochs[e]


def linear_head(centres):
    """Nearest-centre classifier as a Linear layer: logits = x.c - |c|^2/2."""
    c = torch.as_tensor(centres, dtype=torch.float32)
    head = torch.nn.Linear(c.shape[1], c.shape[0])
    with torch.no_grad():
        head.weight.copy_(c)
        head.bias.copy_(-(c * c).sum(1) / 2)
    return head.eval()


def border_points(x, head, n, rng):
    """Points between pairs predicted differently, bisected to where the two logits tie."""
    with torch.no_grad():
        pred = head(torch.from_numpy(x)).argmax(1).numpy()
    out = []
    for _ in range(n * 20):
        if len(out) >= n:
            break
        i, j = rng.randint(len(x), size=2)
        if pred[i] == pred[j]:
            continue
        lo, hi = 0.0, 1.0
        for _ in range(20):
            mid = (lo + hi) / 2
            p = x[i] * (1 - mid) + x[j] * mid
            with torch.no_grad():
                logit = head(torch.from_numpy(p[None].astype(np.float32)))[0].numpy()
            if logit[pred[i]] > logit[pred[j]]:
                lo = mid
            else:
                hi = mid
        out.append(x[i] * (1 - lo) + x[j] * lo)
    return np.array(out, dtype=np.float32).reshape(-1, x.shape[1])


def blobs_run(n_train=240, n_test=60, dim=16, classes=4, epochs=(1, 2, 3), n_border=40, seed=0,
              drift=0.3, spread=1.0):
    """A run where class blobs drift a little each epoch; the head is the nearest centre."""
    rng = np.random.RandomState(seed)
    n = n_train + n_test
    labels = rng.randint(classes, size=n)
    centres = rng.randn(classes, dim).astype(np.float32) * 3
    base = (centres[labels] + spread * rng.randn(n, dim)).astype(np.float32)
    split = np.r_[np.zeros(n_train), np.ones(n_test)].astype(np.uint8)
    head = linear_head(centres)
    out = {}
    x = base
    for e in epochs:
        x = (x + drift * rng.randn(n, dim)).astype(np.float32)
        out[e] = (x, head, border_points(x[:n_train], head, n_border, rng))
    return labels, split, out
