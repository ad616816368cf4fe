"""bfloat16 products for gradients where the CPU has native bf16 instructions (``EngineConfig.bf16_products``).

The products with the D-wide representations (D = 512 on the benchmarks) are most of a training
step. The gradients' share of them runs ~3.5-4x faster in bfloat16 with AVX512-BF16 or AMX
(oneDNN; the output is rounded to bf16, 8 bits of mantissa): the encoder's first-layer weight
gradient gᵀ·x (~1.3 of a step's ~4.8 ms at 2,000 rows, 1 thread) and the decoder's two
reconstruction-gradient products x·W and xᵀ·h (~0.7 of ~2 ms at 500 rows). Only gradients are
rounded (Adam's steps see ~0.4 % noise per entry); the maps themselves (the encoder's forward
pass, the decoder's outputs), weights, biases and optimiser state stay float32. Rounding the
encoder's forward product too (twice the saving) lowered NN@15 by ~1 % on all four mnist_cnn seeds
(docs/QUALITY_RESULTS.md, "Speed, ninth pass"). Where the CPU lacks the instructions bf16 is
emulated and slower, so the float32 path runs.
"""

from __future__ import annotations

import functools

import torch

#: /proc/cpuinfo flags of CPUs whose bf16 matrix products are native
NATIVE_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=None)
def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (Linux: its /proc/cpuinfo flags)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return any(f in flags for f in NATIVE_FLAGS)
    except OSError:
        pass
    return False


#: representations narrower than this keep float32 products: there the D-wide products are no
#: larger than the hidden layers' (the tabular and text subjects: 64-96 dims)
MIN_DIM = 256


def use_bf16(enabled: bool, device, dim: int) -> bool:
    """bf16 products for this fit: asked for, ``dim``-wide representations of at least ``MIN_DIM``,
    on the CPU, and native there."""
    return bool(enabled) and dim >= MIN_DIM and str(device).startswith("cpu") and native_bf16_cpu()


def mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` in float32; when ``a`` is bfloat16 (rounded representations), the product is taken
    in bfloat16 with ``b`` rounded too (float32 accumulation)."""
    if a.dtype == torch.bfloat16:
        return (a @ b.to(torch.bfloat16)).float()
    return a @ b


class _Bf16WeightGrad(torch.autograd.Function):
    """x·Wᵀ in float32; only the weight's gradient gᵀ·x in bfloat16 (inputs carry no gradient)."""

    @staticmethod
    def forward(ctx, x, x_bf16, weight):
        ctx.save_for_backward(x_bf16)
        return x @ weight.t()

    @staticmethod
    def backward(ctx, grad):
        (x_bf16,) = ctx.saved_tensors
        return None, None, (grad.to(torch.bfloat16).t() @ x_bf16).float()


def linear_bf16_grad(x: torch.Tensor, x_bf16: torch.Tensor, layer: torch.nn.Linear) -> torch.Tensor:
    """``layer(x)`` (float32: the map itself is not rounded); its weight's gradient gᵀ·x as a
    bfloat16 product (``x_bf16``: x rounded), the only one of the two products in bf16."""
    out = _Bf16WeightGrad.apply(x, x_bf16, layer.weight)
    return out if layer.bias is None else out + layer.bias

