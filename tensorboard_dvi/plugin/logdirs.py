"""Where runs come from: ``--logdir`` or ``--logdir_spec name:path,...``, as run names.

TensorBoard gives plugins ``context.logdir`` only for ``--logdir``; with
``--logdir_spec`` it is empty and the spec is in ``context.flags.logdir_spec``.
Runs of a named spec entry are served as ``<name>/<run>`` (``<name>`` when the
folder itself is a run), as TensorBoard's own dashboards name them; each stays
confined to its own folder. A name the routes would refuse (backslash, drive
letter, not UTF-8, ``..``) is never listed: it is reported as skipped instead.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from .. import mirror, storage
from . import validate

_URI = re.compile(r"[a-zA-Z][0-9a-zA-Z.]*://.*")


class Root(NamedTuple):
    prefix: Optional[str]  # the spec name, None for --logdir or an unnamed spec entry
    path: str              # absolute real path


def parse_spec(spec: str) -> List[Root]:
    """Roots of a ``--logdir_spec`` value (TensorBoard's rules: ``name:path`` or ``path``).

    URIs (``s3://...``) are read through their local mirror folder (mirror.py).
    """
    roots = []
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        prefix = None
        path = item
        if _URI.match(item) is None and ":" in item and item[0] != "/" and not os.path.splitdrive(item)[0]:
            prefix, _, path = item.partition(":")
        if _URI.match(path) is not None:
            roots.append(Root(prefix or None, mirror.localize(path)))
            continue
        roots.append(Root(prefix or None, os.path.realpath(os.path.expanduser(path))))
    return roots


def roots_from_context(context) -> List[Root]:
    """The plugin's roots: ``context.logdir``, else the flags' ``logdir_spec``."""
    logdir = getattr(context, "logdir", None)
    if logdir:
        return [Root(None, mirror.localize(logdir))]
    flags = getattr(context, "flags", None)
    return parse_spec(getattr(flags, "logdir_spec", "") or "")


def printable(name: str) -> str:
    """A run name as JSON-safe text (undecodable bytes as ``\\xNN``)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def list_runs(roots: List[Root]) -> Tuple[Dict[str, Tuple[Root, str]], List[dict]]:
    """({run name: (root, name relative to the root)}, [{"name", "reason"} skipped])."""
    found: Dict[str, Tuple[Root, str]] = {}
    skipped: List[dict] = []
    for root in roots:
        try:
            rels = storage.list_runs(root.path)
        except OSError as err:
            skipped.append({"name": printable(root.prefix or root.path), "reason": f"cannot be listed: {err}"})
            continue
        for rel in rels:
            name = rel if root.prefix is None else (root.prefix if rel == "." else f"{root.prefix}/{rel}")
            reason = validate.run_name_problem(name) or validate.run_name_problem(rel)
            if reason is None and name in found:
                reason = "the name is taken by an earlier --logdir_spec entry"
            if reason is not None:
                skipped.append({"name": printable(name), "reason": reason})
                continue
            found[name] = (root, rel)
    return found, skipped
