"""Query-parameter validation and safe path resolution, in one place.

Every handler goes through these helpers: a malformed parameter raises
:class:`codes.BadParam` (400), a name that would leave the logdir
:class:`codes.ForbiddenName`/:class:`codes.Forbidden`, an unknown run
:class:`codes.UnknownRun` (404), each with a message that names the problem.
"""

from __future__ import annotations

import math
import os
import re
from typing import Iterable, List, Optional

from .codes import BadParam, Forbidden, ForbiddenName, UnknownRun

MAX_IDS = 5000
_INT_RE = re.compile(r"^[0-9]{1,12}$")
_SIGNED_INT_RE = re.compile(r"^-?[0-9]{1,18}$")
_MAX_RUN_LEN = 4096


def required(args, name: str) -> str:
    value = args.get(name)
    if value is None or value == "":
        raise BadParam(f"missing query parameter '{name}'")
    return value


def run_name(args) -> str:
    """The raw ``run`` parameter, checked for forms that can never be a run name."""
    name = required(args, "run")
    if len(name) > _MAX_RUN_LEN:
        raise BadParam("parameter 'run' is too long")
    if "\0" in name or "\\" in name:
        raise BadParam(f"invalid run name {name!r}")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ForbiddenName(f"invalid run name {name!r}: absolute paths are not run names")
    parts = name.split("/")
    if name != "." and any(p in ("", ".", "..") for p in parts):
        raise ForbiddenName(f"invalid run name {name!r}: use a name listed by 'runs'")
    return name


def epoch(args, name: str = "epoch", *, optional: bool = False) -> Optional[int]:
    value = args.get(name)
    if value is None or value == "":
        if optional:
            return None
        raise BadParam(f"missing query parameter '{name}'")
    if not _INT_RE.match(value):
        raise BadParam(f"parameter '{name}' must be a non-negative integer, got {value!r}")
    return int(value)


def sample_id(args, name: str = "id") -> int:
    value = required(args, name)
    if not _SIGNED_INT_RE.match(value):
        raise BadParam(f"parameter '{name}' must be an integer, got {value!r}")
    return int(value)


def id_list(args, name: str = "ids", *, limit: int = MAX_IDS, per: str = "request") -> List[int]:
    """Comma-separated integers (a trailing comma is allowed), at most ``limit`` of them."""
    value = required(args, name)
    items = value.split(",")
    if len(items) > 1 and items[-1].strip() == "":
        items.pop()
    if len(items) > limit:
        raise BadParam(f"at most {limit} ids per {per}, got {len(items)}")
    out = []
    for item in items:
        item = item.strip()
        if not _SIGNED_INT_RE.match(item):
            raise BadParam(f"parameter '{name}' must be comma-separated integers, got {item[:40]!r}")
        out.append(int(item))
    if len(set(out)) != len(out):  # repeated ids would multiply the work and the answer's size
        seen, dup = set(), None
        for i in out:
            if i in seen:
                dup = i
                break
            seen.add(i)
        raise BadParam(f"parameter '{name}' repeats the id {dup}; give each id once")
    return out


def choice(args, name: str, choices, default: Optional[str] = None) -> str:
    """One of ``choices``; ``default`` when absent (required when there is no default)."""
    value = args.get(name)
    if value is None or value == "":
        if default is not None:
            return default
        raise BadParam(f"missing query parameter '{name}' (one of {', '.join(choices)})")
    if value not in choices:
        if name == "query":
            raise BadParam(f"unknown query {value[:80]!r}; known: {', '.join(choices)}")
        raise BadParam(f"parameter '{name}' must be {' or '.join(choices)}, got {value[:80]!r}")
    return value


def extra_params(args, reserved) -> dict:
    """Every parameter not in ``reserved`` and not starting with ``_`` (cache busters)."""
    return {k: args.get(k) for k in args.keys() if k not in reserved and not k.startswith("_")}


def typed_params(args, specs: dict, reserved, owner: str) -> dict:
    """The parameters besides ``reserved``, typed by ``specs`` ({name: catalogue parameter spec}).

    Unknown names, malformed values and values outside ``min``/``max`` are :class:`BadParam`.
    """
    given = extra_params(args, reserved)
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise BadParam(f"{owner} has no parameter {', '.join(map(repr, unknown))} (it takes: {', '.join(specs)})")
    out = {}
    for name, value in given.items():
        if value is None or value == "":
            continue
        spec = specs[name]
        if spec["type"] == "choice":
            out[name] = choice(args, name, spec["choices"])
            continue
        if spec["type"] == "int":
            if not isinstance(value, str) or not _SIGNED_INT_RE.match(value.strip()):
                raise BadParam(f"parameter '{name}' must be an integer, got {str(value)[:40]!r}")
            x = int(value)
        else:
            x = finite_float(args, name)
        if ("min" in spec and x < spec["min"]) or ("max" in spec and x > spec["max"]):
            bounds = f"[{spec.get('min', '-inf')}, {spec.get('max', 'inf')}]"
            raise BadParam(f"parameter '{name}' must lie in {bounds}, got {value!r}")
        out[name] = x
    return out


def finite_float(args, name: str) -> float:
    value = required(args, name)
    if len(value) > 64:
        raise BadParam(f"parameter '{name}' is too long")
    try:
        x = float(value)
    except ValueError:
        raise BadParam(f"parameter '{name}' must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise BadParam(f"parameter '{name}' must be finite, got {value!r}")
    return x


def is_inside(path: str, root: str) -> bool:
    """Whether realpath(path) lies inside realpath(root) (symlinks resolved)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def resolve_run(logdir: str, name: str, known: Iterable[str]) -> str:
    """The absolute path of run ``name``; it must be one of ``known`` (exact match)."""
    if name not in set(known):
        raise UnknownRun(f"unknown run {name!r}")
    path = os.path.abspath(os.path.join(logdir, *([] if name == "." else name.split("/"))))
    if not is_inside(path, logdir):
        raise Forbidden(f"unknown run {name!r}")
    # The plugin folder must not be a symlink pointing out of the logdir either.
    from .. import storage
    if not is_inside(storage.plugin_dir(path), logdir):
        raise Forbidden(f"run {name!r} points outside the logdir")
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


def run_name_problem(name: str) -> Optional[str]:
    """Why a run found on disk could not be opened by name (None: it can), so it is not listed."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "the folder name is not valid UTF-8"
    try:
        run_name({"run": name})
    except (BadParam, ForbiddenName) as err:
        return re.sub(r"^Invalid argument: ", "", str(err))
    return None


MAX_REGEX_LEN = 200
MAX_REGEX_REPEATS = 2


def _regex_risk(items, inside_repeat: bool = False) -> Optional[str]:
    """Why a parsed pattern may backtrack catastrophically (None: it is linear-ish)."""
    import re._parser as sre  # Python >= 3.11
    c = sre.constants if hasattr(sre, "constants") else sre
    count = 0
    for op, av in items:
        if op in (c.GROUPREF, c.GROUPREF_EXISTS):
            return "backreferences are not supported"
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            lo, hi, body = av
            many = hi is c.MAXREPEAT or hi > 1
            if inside_repeat and lo != hi:
                return "a repeated group that holds a repeat (like (a+)+ or (a?){9}) is not supported"
            if hi is c.MAXREPEAT:
                count += 1
            found = _regex_risk(body, inside_repeat or many)
        elif op is c.BRANCH:
            if inside_repeat:
                return "an alternative inside a repeat (like (a|b)*) is not supported"
            found = next(filter(None, (_regex_risk(b, inside_repeat) for b in av[1])), None)
        elif op is c.SUBPATTERN:
            found = _regex_risk(av[-1], inside_repeat)
        elif op in (c.ASSERT, c.ASSERT_NOT):
            found = _regex_risk(av[1], inside_repeat)
        elif op is getattr(c, "ATOMIC_GROUP", None):
            found = _regex_risk(av, inside_repeat)
        else:
            found = None
        if isinstance(found, int):
            count += found
        elif found:
            return found
    if count > MAX_REGEX_REPEATS and not inside_repeat:
        return f"at most {MAX_REGEX_REPEATS} unbounded repeats (*, +, {{n,}}) are supported"
    return count or None


def regex(args, name: str = "q"):
    """A case-insensitive compiled pattern, refused (BadParam) when invalid, too long or prone to
    catastrophic backtracking (Python's ``re`` has no timeout)."""
    pattern = required(args, name)
    if len(pattern) > MAX_REGEX_LEN:
        raise BadParam(f"parameter '{name}': a regular expression of at most {MAX_REGEX_LEN} characters")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
        import re._parser as sre
        risk = _regex_risk(sre.parse(pattern))
    except re.error as err:
        raise BadParam(f"parameter '{name}' is not a valid regular expression: {err}") from None
    if isinstance(risk, str):
        raise BadParam(f"parameter '{name}': {risk}")
    return compiled
