"""The DVI engine: logged epochs -> 2-D projections, inverse projections,
decision-boundary backgrounds and quality metrics. Usable without TensorBoard.

Heavy imports (torch) happen only when ``fit_run``/``EngineConfig`` are first
used; ``tensorboard_dvi.engine.cache`` is import-light for the plugin.
"""

__all__ = ["fit_run", "EngineConfig", "EngineError", "RunCache", "default_cache_dir"]


def __getattr__(name):
    if name in ("fit_run", "EngineConfig", "EngineError"):
        from . import fit
        return getattr(fit, name)
    if name in ("RunCache", "default_cache_dir"):
        from . import cache
        return getattr(cache, name)
    raise AttributeError(name)
