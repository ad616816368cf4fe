"""tensorboard-dvi: DeepVisualInsight as a TensorBoard plugin for PyTorch.

Public API: :class:`DVIWriter` (log an epoch from a training loop),
:class:`DVICallback` (PyTorch Lightning) and :func:`load_projection` (a fitted
epoch's projection, inverse and head, umap-learn style; ``projection.py``). Imported lazily so that TensorBoard's
plugin loader can import this package without importing torch.
"""

__version__ = "0.1.0"
__all__ = ["DVIWriter", "DVICallback", "load_projection", "__version__"]


def __getattr__(name):
    if name == "DVIWriter":
        from .writer import DVIWriter
        return DVIWriter
    if name == "DVICallback":
        from .integrations.lightning import DVICallback
        return DVICallback
    if name == "load_projection":
        from .projection import load_projection
        return load_projection
    raise AttributeError(f"module 'tensorboard_dvi' has no attribute {name!r}")
