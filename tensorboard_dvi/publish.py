"""Atomic folders on object stores, where rename does not exist: files first, a commit marker last.

A folder ``parent/name`` (an epoch, the static data, a cache epoch) is stored as::

    parent/name.v-<12 hex>/...        the files of one version, uploaded first
    parent/name.commit.json           the marker, one small object written last:
                                      {"folder": "name.v-<hex>", "files": {file: bytes}, ...}

A single PUT is atomic on S3/GCS (readers see the old object or the new one), so
readers that go through the marker see a whole folder or none: a writer that
dies mid-upload leaves only a version folder no marker points to, and readers
ignore it. ``replace`` uploads a new version and then swaps the marker; the
version the old marker named is kept (a reader that just read the old marker
can finish), older unreferenced versions are deleted. Listing ``parent`` once
tells every committed name (``committed_names``): names with a marker.

Local paths never come here: they keep the rename protocol of storage.py.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from typing import Dict, Optional

import numpy as np

from .fs import RemoteError, remote_error

COMMIT_SUFFIX = ".commit.json"
VERSION_INFIX = ".v-"
_VERSION_RE = re.compile(r"^[A-Za-z0-9_-]+\.v-[0-9a-f]{12}$")


class FolderExistsError(FileExistsError):
    """The folder is committed already and ``replace`` was not asked for."""


def npy_bytes(name: str, array: np.ndarray) -> bytes:
    """``.npy`` bytes of an array (object arrays refused: nothing is ever pickled)."""
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise TypeError(f"{name}: object arrays cannot be stored")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def json_bytes(obj) -> bytes:
    return json.dumps(obj, indent=1, sort_keys=True).encode("utf-8")


def marker_path(parent: str, name: str) -> str:
    return f"{parent.rstrip('/')}/{name}{COMMIT_SUFFIX}"


def _strip(fs, path: str) -> str:
    return fs._strip_protocol(path).rstrip("/")


def _ls_names(fs, parent: str):
    """Base names directly under ``parent`` (fresh listing: the backend's cache is dropped)."""
    parent = _strip(fs, parent)
    fs.invalidate_cache(parent)
    try:
        entries = fs.ls(parent, detail=False)
    except FileNotFoundError:
        return []
    return [e.rstrip("/").rsplit("/", 1)[-1] for e in entries]


def read_marker(fs, parent: str, name: str) -> Optional[dict]:
    """The commit marker of ``parent/name``, or None when the folder is not committed."""
    try:
        raw = fs.cat_file(marker_path(_strip(fs, parent), name))
    except FileNotFoundError:
        return None
    try:
        marker = json.loads(raw.decode("utf-8"))
    except ValueError:
        return None
    folder = marker.get("folder") if isinstance(marker, dict) else None
    # The marker may only name a version folder of this very name (never '..', never elsewhere).
    if not isinstance(folder, str) or not _VERSION_RE.match(folder) or not folder.startswith(name + VERSION_INFIX):
        return None
    return marker


def committed_folder(fs, parent: str, name: str) -> Optional[str]:
    """Backend path of the committed version of ``parent/name``; None if not committed."""
    marker = read_marker(fs, parent, name)
    return None if marker is None else f"{_strip(fs, parent)}/{marker['folder']}"


def committed_names(fs, parent: str):
    """Names under ``parent`` that have a commit marker (one listing)."""
    return sorted(n[:-len(COMMIT_SUFFIX)] for n in _ls_names(fs, parent) if n.endswith(COMMIT_SUFFIX))


def write_folder(fs, parent: str, name: str, files: Dict[str, bytes], *, replace: bool = False,
                 url: Optional[str] = None) -> str:
    """Upload ``files`` as a new version of ``parent/name``, then commit it; returns its path.

    Raises :class:`FolderExistsError` when committed already and not ``replace``,
    :class:`RemoteError` naming ``url`` for any backend failure (the marker is
    untouched then: readers keep seeing the old folder, or none).
    """
    parent = _strip(fs, parent)
    url = url or f"{fs.unstrip_protocol(parent)}/{name}"
    try:
        previous = read_marker(fs, parent, name)
    except Exception as e:  # noqa: BLE001 (backends raise many types; all become one error)
        raise remote_error(url, "write", e) from e
    if previous is not None and not replace:
        raise FolderExistsError(f"{url} already exists")
    version = f"{name}{VERSION_INFIX}{uuid.uuid4().hex[:12]}"
    folder = f"{parent}/{version}"
    try:
        for fname, blob in files.items():
            fs.pipe_file(f"{folder}/{fname}", blob)
        marker = {"folder": version, "files": {k: len(v) for k, v in files.items()}, "time": time.time(),
                  "previous": previous["folder"] if previous else None}
        fs.pipe_file(marker_path(parent, name), json_bytes(marker))
    except Exception as e:  # noqa: BLE001
        _try_remove(fs, folder)
        raise remote_error(url, "write", e) from e
    keep = {version, previous["folder"] if previous else None}
    _collect_garbage(fs, parent, name, keep)
    return folder


def write_arrays(parent_url: str, name: str, arrays: Dict[str, np.ndarray], jsons: Dict[str, object], *,
                 replace: bool = False, extra_files: Optional[Dict[str, bytes]] = None) -> str:
    """:func:`write_folder` for a URL with ``storage.write_folder``'s arguments (arrays as
    ``.npy``, JSON files, raw blobs); returns the URL of the committed version folder."""
    from .fs import get_fs, join
    files = {fname: npy_bytes(fname, a) for fname, a in arrays.items()}
    files.update(extra_files or {})
    files.update({fname: json_bytes(obj) for fname, obj in jsons.items()})
    fsys, parent = get_fs(parent_url)
    folder = write_folder(fsys, parent, name, files, replace=replace, url=join(parent_url, name))
    return join(parent_url, folder.rsplit("/", 1)[-1])


def remove_folder(fs, parent: str, name: str, url: Optional[str] = None) -> None:
    """Uncommit ``parent/name`` (marker first, so it disappears at once), then delete its versions."""
    parent = _strip(fs, parent)
    try:
        if fs.exists(marker_path(parent, name)):
            fs.rm_file(marker_path(parent, name))
    except Exception as e:  # noqa: BLE001
        raise remote_error(url or f"{fs.unstrip_protocol(parent)}/{name}", "remove", e) from e
    _collect_garbage(fs, parent, name, keep=set())


def _try_remove(fs, folder: str) -> None:
    try:
        fs.rm(folder, recursive=True)
    except Exception:  # noqa: BLE001 (best effort: the folder is invisible without a marker)
        pass


def _collect_garbage(fs, parent: str, name: str, keep) -> None:
    """Delete versions of ``name`` that no marker names (crashed or superseded uploads)."""
    try:
        names = _ls_names(fs, parent)
    except Exception:  # noqa: BLE001
        return
    for n in names:
        if n.startswith(name + VERSION_INFIX) and n not in keep:
            _try_remove(fs, f"{parent}/{n}")


__all__ = ["COMMIT_SUFFIX", "FolderExistsError", "RemoteError", "committed_folder", "committed_names",
           "json_bytes", "marker_path", "npy_bytes", "read_marker", "remove_folder", "write_arrays",
           "write_folder"]
