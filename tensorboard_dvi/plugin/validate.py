"""Query-parameter validation and safe path resolution, in one place.

Every handler goes through these helpers: a malformed parameter raises
``InvalidArgumentError`` (400), an unknown run / epoch / id ``NotFoundError``
(404), each with a message that names the problem.
"""

from __future__ import annotations

import math
import os
import re
from typing import Iterable, List, Optional

from tensorboard import errors

MAX_IDS = 5000
_INT_RE = re.compile(r"^[0-9]{1,12}$")
_SIGNED_INT_RE = re.compile(r"^-?[0-9]{1,18}$")
_MAX_RUN_LEN = 4096


def required(args, name: str) -> str:
    value = args.get(name)
    if value is None or value == "":
        raise errors.InvalidArgumentError(f"missing query parameter '{name}'")
    return value


def run_name(args) -> str:
    """The raw ``run`` parameter, checked for forms that can never be a run name."""
    name = required(args, "run")
    if len(name) > _MAX_RUN_LEN:
        raise errors.InvalidArgumentError("parameter 'run' is too long")
    if "\0" in name or "\\" in name:
        raise errors.InvalidArgumentError(f"invalid run name {name!r}")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise errors.InvalidArgumentError(f"invalid run name {name!r}: absolute paths are not run names")
    parts = name.split("/")
    if name != "." and any(p in ("", ".", "..") for p in parts):
        raise errors.InvalidArgumentError(f"invalid run name {name!r}: use a name listed by 'runs'")
    return name


def epoch(args, name: str = "epoch", *, optional: bool = False) -> Optional[int]:
    value = args.get(name)
    if value is None or value == "":
        if optional:
            return None
        raise errors.InvalidArgumentError(f"missing query parameter '{name}'")
    if not _INT_RE.match(value):
        raise errors.InvalidArgumentError(f"parameter '{name}' must be a non-negative integer, got {value!r}")
    return int(value)


def sample_id(args, name: str = "id") -> int:
    value = required(args, name)
    if not _SIGNED_INT_RE.match(value):
        raise errors.InvalidArgumentError(f"parameter '{name}' must be an integer, got {value!r}")
    return int(value)


def id_list(args, name: str = "ids") -> List[int]:
    value = required(args, name)
    items = value.split(",")
    if len(items) > MAX_IDS:
        raise errors.InvalidArgumentError(f"at most {MAX_IDS} ids per request, got {len(items)}")
    out = []
    for item in items:
        item = item.strip()
        if not _SIGNED_INT_RE.match(item):
            raise errors.InvalidArgumentError(f"parameter '{name}' must be comma-separated integers, got {item!r}")
        out.append(int(item))
    return out


def finite_float(args, name: str) -> float:
    value = required(args, name)
    if len(value) > 64:
        raise errors.InvalidArgumentError(f"parameter '{name}' is too long")
    try:
        x = float(value)
    except ValueError:
        raise errors.InvalidArgumentError(f"parameter '{name}' must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise errors.InvalidArgumentError(f"parameter '{name}' must be finite, got {value!r}")
    return x


def is_inside(path: str, root: str) -> bool:
    """Whether realpath(path) lies inside realpath(root) (symlinks resolved)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def resolve_run(logdir: str, name: str, known: Iterable[str]) -> str:
    """The absolute path of run ``name``; it must be one of ``known`` (exact match)."""
    if name not in set(known):
        raise errors.NotFoundError(f"unknown run {name!r}")
    path = os.path.abspath(os.path.join(logdir, *([] if name == "." else name.split("/"))))
    if not is_inside(path, logdir):
        raise errors.NotFoundError(f"unknown run {name!r}")
    # The plugin folder must not be a symlink pointing out of the logdir either.
    from .. import storage
    if not is_inside(storage.plugin_dir(path), logdir):
        raise errors.NotFoundError(f"run {name!r} points outside the logdir")
    return path


def static_file(static_root: str, rel: str) -> Optional[str]:
    """The file ``rel`` inside ``static_root``, or None when it is not a plain file inside."""
    if not rel or "\0" in rel or "\\" in rel or rel.startswith("/"):
        return None
    parts = rel.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    path = os.path.join(static_root, *parts)
    if not is_inside(path, static_root) or not os.path.isfile(path):
        return None
    return path
