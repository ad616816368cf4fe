"""Writer overhead on the demo workload, as a ratio of the training epoch time.

    python benchmarks/bench_writer.py [--epochs 4] [--train-size 50000] [--threads 1] [--nchw]

Trains the demo's CNN on MNIST (50k images per epoch) and logs 10k train + 2k test
samples with border points after each epoch, exactly as demo/train_mnist.py does.
Prints per-epoch times and the median overhead ratio log_epoch / training epoch
(target <= 10 %). Both are timed in the same process, one after the other.
The demo's CNN runs in channels_last (PyTorch's recommended memory format for
CNNs); ``--nchw`` keeps the default NCHW layout, where CPU max_pool2d is ~4x
slower and the writer's eval passes weigh more against training.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "demo"))

import mnist_data  # noqa: E402
import train_mnist  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--train-size", type=int, default=50_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--nchw", action="store_true", help="train in the default NCHW memory format")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = mnist_data.load()
    with tempfile.TemporaryDirectory() as logdir:
        times = train_mnist.train_run("bench", logdir, data, epochs=args.epochs, noise=0.0,
                                      train_size=args.train_size, channels_last=not args.nchw)
    ratios = [lg / tr for tr, lg in zip(times["train"], times["log"])]
    # the first epoch also writes the static data (thumbnails): report it, judge on the rest
    steady = ratios[1:] or ratios
    print(f"\ntraining epoch: median {statistics.median(times['train']):.2f}s over {args.epochs} epochs "
          f"({args.train_size} images, {args.threads} thread(s), "
          f"{'NCHW' if args.nchw else 'channels_last'})")
    print(f"log_epoch:      median {statistics.median(times['log'][1:] or times['log']):.2f}s "
          f"(first epoch, with static data: {times['log'][0]:.2f}s)")
    print(f"writer overhead: median {statistics.median(steady):.1%} of a training epoch "
          f"(per epoch: {', '.join(f'{r:.1%}' for r in ratios)}); target <= 10%")


if __name__ == "__main__":
    main()
