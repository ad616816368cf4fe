"""The benchmarks' in-memory run reader (benchmarks/quality_subjects.ArrayReader), without training a subject."""

import hashlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import quality_subjects as QS  # noqa: E402


def test_array_reader_uid_is_the_arrays_hash_computed_when_asked():
    """The uid is computed on first use (the engine's re-reads of earlier epochs' rows do not pay the hash),
    and it is the arrays' hash: the same for the same arrays, another for other ones."""
    rng = np.random.default_rng(0)
    d = {"labels": np.zeros(6, np.int64), "split": np.zeros(6, np.uint8), "classes": 2,
         "reps": rng.normal(size=(2, 6, 4)).astype(np.float32), "logits": np.zeros((2, 6, 2), np.float32),
         "border": [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(2)],
         "head_w": np.zeros((2, 2, 4), np.float32), "head_b": np.zeros((2, 2), np.float32)}
    reader = QS.ArrayReader(d)
    ed = reader.epoch(1)
    assert ed._uid is None  # not hashed until asked for
    want = hashlib.sha1(d["reps"][0].tobytes() + d["border"][0].tobytes()).hexdigest()[:12]
    assert ed.uid == want == reader.epoch(1).uid
    assert reader.epoch(2).uid != want
