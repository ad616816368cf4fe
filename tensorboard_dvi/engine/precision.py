"""bfloat16 products where the CPU has native bf16 instructions (``EngineConfig.bf16_products``).

The products with the D-wide representations (D = 512 on the benchmarks) are most of a training
step: the encoder's first layer (forward and weight gradient: ~2.7 of a step's ~4.8 ms at 2,000
rows, 1 thread) and the decoder's reconstruction gradient (x·W and xᵀ·h: ~0.7 of ~2 ms at 500
rows). With AVX512-BF16 or AMX they run 3.5-5x faster in bfloat16 (oneDNN: float32 accumulation,
the output rounded to bf16, 8 bits of mantissa). With the first layer in bf16, the encoder's 64-wide
hidden layers were a third of its step (six float32 2,000 x 64 x 64 products: ~170 µs each; bf16
~50 µs): :func:`mlp_bf16` takes them in bf16 too (tenth pass: 3.2 -> 2.5 ms a step at 2,000 rows).
The inputs and the weights' copies in the products are rounded; weights, biases, optimiser state and
the 2-D output layer stay float32, and the trained networks are evaluated in float32 (positions,
transform, background). On mnist_cnn (256-d, 4 seeds) the first-layer version moved the fit no
more than a rounding-level perturbation of the float32 fit moves it (docs/QUALITY_RESULTS.md, "Speed,
ninth pass"); the hidden layers' likewise ("Tenth pass, first epoch"). Where the CPU lacks the
instructions bf16 is emulated and slower, so the float32 path runs.
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


def linear_bf16(x_bf16: torch.Tensor, layer: torch.nn.Linear) -> torch.Tensor:
    """``layer(x)`` with the product in bfloat16 (``x_bf16``: x rounded), float32 out; the gradient
    reaches the float32 weight through the cast (its product in bf16 too), the bias is added in float32."""
    out = torch.nn.functional.linear(x_bf16, layer.weight.to(torch.bfloat16)).float()
    return out if layer.bias is None else out + layer.bias


def mlp_bf16(seq: torch.nn.Sequential, x_bf16: torch.Tensor) -> torch.Tensor:
    """``seq(x)`` for a Linear/activation stack with every Linear's product but the last in bfloat16
    (:func:`linear_bf16`; each hidden layer's input rounded to bf16, float32 out); the last Linear (the
    2-D output layer, a small product) stays float32."""
    last = max((i for i, m in enumerate(seq) if isinstance(m, torch.nn.Linear)), default=-1)
    h = x_bf16
    for i, m in enumerate(seq):
        if isinstance(m, torch.nn.Linear) and i != last:
            h = linear_bf16(h if h.dtype == torch.bfloat16 else h.to(torch.bfloat16), m)
        else:
            h = m(h if h.dtype == torch.float32 else h.float())
    return h
