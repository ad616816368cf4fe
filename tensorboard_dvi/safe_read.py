"""Safe reading of untrusted files of the format: the checks every reader applies first.

A logdir may hold anything: a FIFO or device where a file should be (opening it would block a
request thread forever), JSON of the wrong type or nested 100k deep, sizes declared to make a
reader allocate gigabytes. These helpers turn each into a :class:`FormatError` that names the
run-relative file, never an absolute server path (docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import stat

from . import metadata as md


class FormatError(Exception):
    """The logdir holds DVI data this version cannot read."""



#: Limits on what a run may declare (meta.json); larger values are refused with a clear
#: error instead of being allocated. Predictions travel as int16, hence the class limit.
MAX_CLASSES = 32767
MAX_DIM = 65536
MAX_SAMPLES = 10_000_000
#: logits are copied as float32 by some routes: at most this many elements (N x classes).
MAX_LOGIT_ELEMENTS = 1 << 27
#: Largest JSON file of the format that is read (meta.json with many class names is the biggest).
MAX_JSON_BYTES = 16 << 20
#: The plugin's folder inside a run, as error messages name it (never an absolute path).
REL_ROOT = "/".join(md.PLUGIN_DIR)


def _reason(e: BaseException) -> str:
    """An exception in words, without the absolute path an OSError carries."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    if isinstance(e, RecursionError):
        return "nested too deeply"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def check_regular(path: str, rel: str, exc=None) -> os.stat_result:
    """``os.stat`` of ``path``; anything but a regular file (FIFO, device, socket, folder) is an
    error naming ``rel``, so that no open() can block or read a device. Missing: FileNotFoundError."""
    exc = exc or FormatError
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as e:  # ENOTDIR (a parent is a file), ELOOP, EACCES, ...
        if isinstance(e, NotADirectoryError):
            raise FileNotFoundError(e.errno, e.strerror) from None
        raise exc(f"{rel} is unreadable ({_reason(e)})") from None
    if not stat.S_ISREG(st.st_mode):
        raise exc(f"{rel} is not a regular file")
    return st


def read_json(path: str, rel: str, max_bytes: int = MAX_JSON_BYTES):
    """A JSON file of the format, read safely: regular files only (opened non-blocking), at most
    ``max_bytes``, any syntax, encoding or nesting problem is a :class:`FormatError` naming ``rel``.
    A missing file raises FileNotFoundError."""
    st = check_regular(path, rel)
    if st.st_size > max_bytes:
        raise FormatError(f"{rel} is too large ({st.st_size} bytes, limit {max_bytes})")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as e:
        raise FormatError(f"{rel} is unreadable ({_reason(e)})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else after the stat
            raise FormatError(f"{rel} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise FormatError(f"{rel} is unreadable ({_reason(e)})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise FormatError(f"{rel} is too large (limit {max_bytes} bytes)")
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError, MemoryError) as e:
        raise FormatError(f"{rel} is not valid JSON ({_reason(e)[:200]})") from None


def _int_field(meta: dict, key: str, lo: int, hi: int, rel: str) -> int:
    v = meta.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise FormatError(f"{rel}: '{key}' must be an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise FormatError(f"{rel}: '{key}' = {v} is outside [{lo}, {hi}] (the limit of this tensorboard-dvi)")
    return v


def check_meta(meta, rel: str) -> dict:
    """The fields of meta.json every reader relies on, typed and within the limits."""
    if not isinstance(meta, dict):
        raise FormatError(f"{rel} must hold a JSON object, got {type(meta).__name__}")
    version = meta.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version < 1:
        raise FormatError(f"{rel}: format version {version} is not a version of this format")
    if not isinstance(version, int) or isinstance(version, bool) or version > md.FORMAT_VERSION:
        raise FormatError(f"{rel}: format version {str(version)[:40]!r} is newer than this "
                          f"tensorboard-dvi understands ({md.FORMAT_VERSION}); upgrade the package")
    n_train = _int_field(meta, "n_train", 0, MAX_SAMPLES, rel)
    n_test = _int_field(meta, "n_test", 0, MAX_SAMPLES, rel)
    if n_train + n_test > MAX_SAMPLES:
        raise FormatError(f"{rel}: {n_train + n_test} samples exceed the limit {MAX_SAMPLES}")
    _int_field(meta, "dim", 1, MAX_DIM, rel)
    c = _int_field(meta, "num_classes", 1, MAX_CLASSES, rel)
    if (n_train + n_test) * c > MAX_LOGIT_ELEMENTS:
        raise FormatError(f"{rel}: {n_train + n_test} samples x {c} classes exceed the limit of "
                          f"{MAX_LOGIT_ELEMENTS} logits")
    names = meta.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(x, str) for x in names)):
        raise FormatError(f"{rel}: 'class_names' must be a list of strings")
    for key in ("has_noisy", "has_thumbnails"):
        if not isinstance(meta.get(key, False), (bool, int, type(None))):
            raise FormatError(f"{rel}: '{key}' must be true or false")
    return meta
