"""Train a small CNN on real MNIST and log DVI data: a clean and a noisy-label run.

    python demo/train_mnist.py --logdir demo/runs [--epochs 10]

Each run logs 10,000 fixed training samples and 2,000 test samples every
epoch (--logged-train, --logged-test), with a 256-wide penultimate layer. The
noisy run flips 20 % of the training labels to a different class (symmetric
noise) and logs which ids were flipped, so the DVI tab can show them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_data  # noqa: E402

from tensorboard_dvi import DVIWriter  # noqa: E402

N_LOGGED_TRAIN = 10_000
N_LOGGED_TEST = 2_000


class SmallCNN(nn.Module):
    def __init__(self, width: int = 256):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = nn.Linear(32 * 7 * 7, width)
        self.fc2 = nn.Linear(width, 10)  # the head: DVIWriter takes the last nn.Linear

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def symmetric_noise(labels: np.ndarray, fraction: float, rng: np.random.Generator):
    """Flip ``fraction`` of labels to a uniformly chosen *other* class."""
    noisy = labels.copy()
    idx = rng.choice(len(labels), size=int(round(fraction * len(labels))), replace=False)
    noisy[idx] = (labels[idx] + rng.integers(1, 10, size=len(idx))) % 10
    return noisy, np.sort(idx)


def train_run(name: str, logdir: str, data: dict, *, epochs: int, noise: float, train_size: int,
              seed: int = 0, batch_size: int = 128, log: bool = True, n_logged_train: int = N_LOGGED_TRAIN,
              n_logged_test: int = N_LOGGED_TEST, test_start: int = 0,
              channels_last: bool = True) -> dict:
    """Train SmallCNN on the first ``train_size`` MNIST training images (``noise``: the fraction
    of their labels flipped) and log, every epoch, the first ``n_logged_train`` of them (at most
    ``train_size``; ids = their index) and the MNIST test images ``test_start`` to
    ``test_start + n_logged_test - 1`` (ids = test index + 100000). The browser tests call it at
    a small size (tests/e2e/test_compare_e2e.py). Returns the per-epoch train and log times."""
    if n_logged_train < 1:
        raise ValueError(f"n_logged_train={n_logged_train} must be at least 1")
    n_logged_train = min(n_logged_train, train_size)
    if n_logged_test < 1 or test_start < 0 or test_start + n_logged_test > len(data["test_x"]):
        raise ValueError(f"test samples {test_start}:{test_start + n_logged_test} are not in the MNIST test set")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    x_train = torch.from_numpy(data["train_x"][:train_size]).float().div_(255).unsqueeze(1)
    y_clean = data["train_y"][:train_size]
    y_train, noisy_ids = (symmetric_noise(y_clean, noise, rng) if noise else (y_clean, None))
    test_idx = np.arange(test_start, test_start + n_logged_test)
    x_test = torch.from_numpy(data["test_x"][test_idx]).float().div_(255).unsqueeze(1)
    y_test = torch.from_numpy(data["test_y"][test_idx])
    y_train_t = torch.from_numpy(y_train)
    # channels_last, PyTorch's recommended memory format for CNNs: on this CPU max_pool2d is
    # ~4x and the eval forward (what DVIWriter runs) ~2x faster than in NCHW, training ~15 %
    model = SmallCNN()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    writer = None
    if log:
        noisy_logged = noisy_ids[noisy_ids < n_logged_train] if noisy_ids is not None else None
        writer = DVIWriter(os.path.join(logdir, name), model, x_train[:n_logged_train], y_train_t[:n_logged_train],
                           test_data=x_test, test_labels=y_test,
                           test_ids=test_idx + 100_000,  # MNIST test index + 100000
                           class_names=[str(i) for i in range(10)], thumbnails=True, noisy=noisy_logged,
                           seed=seed, on_exists="replace")
    times = {"train": [], "log": []}
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(train_size)
        for start in range(0, train_size, batch_size):
            idx = perm[start:start + batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x_train[idx]), y_train_t[idx]).backward()
            opt.step()
        t1 = time.perf_counter()
        if writer is not None:
            writer.log_epoch(epoch)
        t2 = time.perf_counter()
        times["train"].append(t1 - t0)
        times["log"].append(t2 - t1)
        with torch.no_grad():
            model.eval()
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(f"[{name}] epoch {epoch:2d}/{epochs}  train {t1 - t0:5.1f}s  log {t2 - t1:4.1f}s  "
              f"test acc {acc:.3f}", flush=True)
    if writer is not None:
        writer.close()
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=50_000,
                        help="MNIST training images per epoch (the first --logged-train are logged)")
    parser.add_argument("--logged-train", type=int, default=N_LOGGED_TRAIN,
                        help="training samples logged every epoch (default: %(default)s)")
    parser.add_argument("--logged-test", type=int, default=N_LOGGED_TEST,
                        help="MNIST test samples logged every epoch (default: %(default)s)")
    parser.add_argument("--sequential", action="store_true",
                        help="train the runs one after the other (default: both at once, one thread each, "
                             "which uses two cores better than one process with two threads)")
    parser.add_argument("--runs", default="clean,noisy", help="which runs to train (comma-separated)")
    args = parser.parse_args(argv)
    mnist_data.fetch()
    t = time.perf_counter()
    runs = tuple((name, noise) for name, noise in (("clean", 0.0), ("noisy", 0.2))
                 if name in args.runs.split(","))
    if args.sequential:
        data = mnist_data.load()
        for name, noise in runs:
            train_run(name, args.logdir, data, epochs=args.epochs, noise=noise, train_size=args.train_size,
                      n_logged_train=args.logged_train, n_logged_test=args.logged_test)
    else:
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_train_one, args=(name, noise, args)) for name, noise in runs]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        failed = [name for (name, _), p in zip(runs, procs) if p.exitcode != 0]
        if failed:
            raise SystemExit(f"demo training failed for run(s): {', '.join(failed)}")
    print(f"demo training done in {time.perf_counter() - t:.0f}s; runs in {args.logdir}")


def _train_one(name, noise, args):
    torch.set_num_threads(1)
    train_run(name, args.logdir, mnist_data.load(), epochs=args.epochs, noise=noise, train_size=args.train_size,
              n_logged_train=args.logged_train, n_logged_test=args.logged_test)


if __name__ == "__main__":
    main()
