"""Train a small CNN on real MNIST and log DVI data: a clean and a noisy-label run.

    python demo/train_mnist.py --logdir demo/runs [--epochs 10]

Each run logs 10,000 fixed training samples and 2,000 test samples every
epoch, with a 256-wide penultimate layer. The noisy run flips 20 % of the
training labels to a different class (symmetric noise) and logs which ids
were flipped, so the DVI tab can show them.
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
              seed: int = 0, batch_size: int = 128, log: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    x_train = torch.from_numpy(data["train_x"][:train_size]).float().div_(255).unsqueeze(1)
    y_clean = data["train_y"][:train_size]
    y_train, noisy_ids = (symmetric_noise(y_clean, noise, rng) if noise else (y_clean, None))
    x_test = torch.from_numpy(data["test_x"][:N_LOGGED_TEST]).float().div_(255).unsqueeze(1)
    y_test = torch.from_numpy(data["test_y"][:N_LOGGED_TEST])
    y_train_t = torch.from_numpy(y_train)
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    writer = None
    if log:
        noisy_logged = noisy_ids[noisy_ids < N_LOGGED_TRAIN] if noisy_ids is not None else None
        writer = DVIWriter(os.path.join(logdir, name), model, x_train[:N_LOGGED_TRAIN], y_train_t[:N_LOGGED_TRAIN],
                           test_data=x_test, test_labels=y_test,
                           test_ids=np.arange(N_LOGGED_TEST) + 100_000,  # MNIST test index + 100000
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
                        help="MNIST training images per epoch (the first 10,000 are logged)")
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
            train_run(name, args.logdir, data, epochs=args.epochs, noise=noise, train_size=args.train_size)
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
    train_run(name, args.logdir, mnist_data.load(), epochs=args.epochs, noise=noise, train_size=args.train_size)


if __name__ == "__main__":
    main()
