"""FSDP2 (fully_shard) on a 1-process gloo CPU mesh: DVIWriter refuses it with a message saying what to do.

(FSDP1 needs an accelerator, so only FSDP2 can be tried on CPU; both are detected the same way.)
"""

import os

import torch
import torch.distributed as dist
import torch.nn as nn

if __name__ == "__main__":
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ.get("DVI_TEST_PORT", "29535"))
    dist.init_process_group("gloo", rank=0, world_size=1)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from tensorboard_dvi import DVIWriter
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    fully_shard(model, mesh=init_device_mesh("cpu", (1,)))
    try:
        DVIWriter("unused_run", model, torch.randn(10, 4), torch.arange(10) % 3)
    except TypeError as e:
        print("refused:", e)
    dist.destroy_process_group()
