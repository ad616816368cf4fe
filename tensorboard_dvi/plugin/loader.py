"""Import-light entry point registered under ``tensorboard_plugins``.

TensorBoard imports this module at start-up without a try/except, so it must
import nothing heavy (no numpy, no torch, no engine): the plugin itself is
imported inside :meth:`DVILoader.load`.
"""

from __future__ import annotations

import re

from tensorboard.plugins import base_plugin

_DEVICE_RE = re.compile(r"^(cpu|cuda(:[0-9]+)?|mps|xpu(:[0-9]+)?)$")


class DVILoader(base_plugin.TBLoader):
    """Defines the ``--dvi_*`` flags and builds :class:`~tensorboard_dvi.plugin.plugin.DVIPlugin`."""

    def define_flags(self, parser):
        group = parser.add_argument_group("DeepVisualInsight (dvi) plugin")
        group.add_argument(
            "--dvi_cache_dir", metavar="DIR", type=str, default="",
            help="Where trained visualizers, projections and backgrounds are cached, one folder per "
                 "run keyed by the run's absolute path. Default: $TENSORBOARD_DVI_CACHE, else the user "
                 "cache directory (~/.cache/tensorboard-dvi). Never inside the logdir, so read-only "
                 "logdirs work.")
        group.add_argument(
            "--dvi_device", metavar="DEVICE", type=str, default="cpu",
            help="Torch device of the background fitting workers: cpu (default), cuda, cuda:N, mps.")
        group.add_argument(
            "--dvi_workers", metavar="N", type=int, default=1,
            help="Maximum number of background fitting processes (one run each; default 1).")
        group.add_argument(
            "--dvi_allowed_hosts", metavar="NAMES", type=str, default="",
            help="Comma-separated host names (besides localhost, this machine's names, --host and IP "
                 "addresses) under which the DVI routes answer; protects against DNS rebinding. '*' "
                 "allows any name (e.g. behind a reverse proxy that checks it).")

    def fix_flags(self, flags):
        workers = getattr(flags, "dvi_workers", 1)
        if workers is None or workers < 1 or workers > 64:
            raise base_plugin.FlagsError("--dvi_workers must be between 1 and 64")
        device = getattr(flags, "dvi_device", "cpu") or "cpu"
        if not _DEVICE_RE.match(device):
            raise base_plugin.FlagsError(f"--dvi_device: unknown device {device!r} (cpu, cuda, cuda:N, mps)")

    def load(self, context):
        from .plugin import DVIPlugin

        return DVIPlugin(context)
