"""2-process gloo DDP training of an MLP with BatchNorm1d, logged with DVIWriter given the DDP model.

Usage: python writer_ddp.py RUN_DIR [EPOCHS]. Before the fix rank 0 hung in the third log_epoch:
its forward passes went through DDP, which synchronises buffers, while rank 1 was training.
"""

import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn


def worker(rank: int, run_dir: str, epochs: int, port: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    from tensorboard_dvi import DVIWriter
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    ddp = nn.parallel.DistributedDataParallel(model)
    g = torch.Generator().manual_seed(rank)
    x = torch.randn(64, 6, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    writer = DVIWriter(run_dir, ddp, x, y, border_points=6, batch_size=16)
    for epoch in range(1, epochs + 1):
        for i in range(0, 64, 16):
            opt.zero_grad()
            nn.functional.cross_entropy(ddp(x[i:i + 16]), y[i:i + 16]).backward()
            opt.step()
        writer.log_epoch(epoch)  # rank 1 returns at once and goes on training
    writer.close()
    dist.barrier()
    dist.destroy_process_group()
    print(f"rank {rank} done", flush=True)
    # Skip the interpreter's teardown: on a loaded machine gloo's threads occasionally met
    # static destructors there and aborted ("terminate called without an active exception")
    # after all the work above had finished. The harness checks both ranks printed "done".
    os._exit(0)


if __name__ == "__main__":
    run_dir, epochs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4
    port = os.environ.get("DVI_TEST_PORT", "29533")
    mp.spawn(worker, args=(run_dir, epochs, port), nprocs=2, join=True)
    print("done")
