"""tensorboard-dvi: DeepVisualInsight as a TensorBoard plugin for PyTorch.

Public API: :class:`DVIWriter` (log an epoch from a training loop) and
:class:`DVICallback` (PyTorch Lightning). Imported lazily so that TensorBoard's
plugin loader can import this package without importing torch.
"""

__version__ = "0.1.0"
__all__ = ["DVIWriter", "DVICallback", "__version__"]


def __getattr__(name):
    if name == "DVIWriter":
        from .writer import DVIWriter
        return DVIWriter
    if name == "DVICallback":
        from .integrations.lightning import DVICallback
        return DVICallback
    raise AttributeError(f"module 'tensorboard_dvi' has no attribute {name!r}")
