"""Shared fixtures: small logdirs written by the real writer (sklearn digits, tiny MLP)."""

import os

import numpy as np
import pytest
import torch
# Defined here, not imported by each test module: a session fixture imported into two modules is two
# fixtures, i.e. two servers, and fsspec keeps the endpoint of the first (issue 14's 403 flake).
from gcs_fixtures import gcs_emulator, gcs_prefix  # noqa: F401
from s3_fixtures import moto_s3, s3_prefix, threaded_moto  # noqa: F401

torch.set_num_threads(1)


def make_run(run_dir, epochs=3, n_train=400, n_test=100, seed=0, noisy_fraction=0.0, border_points="auto",
             thumbnails=True, hidden=32, steps_per_epoch=10, writer_kwargs=None):
    """Train a tiny MLP on sklearn's digits and log ``epochs`` epochs into ``run_dir``.

    Returns the writer (closed). Deterministic for a given seed.
    """
    from sklearn.datasets import load_digits

    from tensorboard_dvi import DVIWriter

    g = torch.Generator().manual_seed(seed)
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.long)
    perm = torch.randperm(len(X), generator=g)
    X, y = X[perm], y[perm]
    train_x, train_y = X[:n_train], y[:n_train].clone()
    test_x, test_y = X[n_train:n_train + n_test], y[n_train:n_train + n_test]
    noisy = None
    if noisy_fraction:
        k = int(n_train * noisy_fraction)
        idx = torch.randperm(n_train, generator=g)[:k]
        train_y[idx] = (train_y[idx] + torch.randint(1, 10, (k,), generator=g)) % 10
        noisy = idx.numpy()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                                torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    images = (train_x.reshape(-1, 8, 8).numpy(), test_x.reshape(-1, 8, 8).numpy())
    thumbs = np.concatenate(images) if thumbnails else None
    writer = DVIWriter(os.fspath(run_dir), model, train_x, train_y, test_data=test_x, test_labels=test_y,
                       class_names=[f"digit {i}" for i in range(10)], thumbnails=thumbs, noisy=noisy,
                       border_points=border_points, seed=seed, **(writer_kwargs or {}))
    for epoch in range(1, epochs + 1):
        model.train()
        for _ in range(steps_per_epoch):
            idx = torch.randint(0, n_train, (64,), generator=g)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(train_x[idx]), train_y[idx]).backward()
            opt.step()
        writer.log_epoch(epoch)
    writer.close()
    writer.trained_model = model
    return writer


@pytest.fixture
def small_logdir(tmp_path):
    """A logdir with two runs ('clean', 'noisy') of 3 epochs each."""
    logdir = tmp_path / "logs"
    make_run(logdir / "clean", epochs=3, seed=0)
    make_run(logdir / "noisy", epochs=3, seed=1, noisy_fraction=0.2)
    return logdir
