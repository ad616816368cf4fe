"""The on-disk format: atomic folder writes, and the one reader re-exported (docs/FORMAT.md).

Writer, engine (its cache too) and plugin all go through this module; the
reading half lives in reader.py (re-exported here: ``storage.RunReader``).
Arrays are ``.npy`` files read with ``allow_pickle=False``, metadata is JSON,
the head is JSON + ``.npz``: nothing in a logdir is ever unpickled.

An epoch folder is built under a dot-prefixed temporary name inside the run and
renamed into place only when complete, so a reader sees a whole epoch or none.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import uuid
from typing import Dict, List, Optional

import numpy as np

from . import fs as dfs
from . import metadata as md
from .reader import (DamagedEpochError, EpochData, FormatError, RunReader, StaticData,  # noqa: F401
                     list_runs, plugin_dir)


class EpochExistsError(FileExistsError):
    """An epoch was logged twice while the writer was told to refuse that."""


class StorageError(OSError):
    """Writing failed (disk full, permissions); nothing already written was touched."""


# --------------------------------------------------------------------------- writing


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _save_array(folder: str, name: str, array: np.ndarray) -> None:
    path = os.path.join(folder, name)
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise TypeError(f"{name}: object arrays cannot be stored")
    with open(path, "wb") as f:
        # Header + raw bytes through Python's file object (np.save's tofile path
        # reports a full disk without errno).
        np.lib.format.write_array_header_1_0(f, np.lib.format.header_data_from_array_1_0(array))
        if array.size:
            f.write(array.data)
        f.flush()
        os.fsync(f.fileno())


def _save_json(folder: str, name: str, obj) -> None:
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


_renameat2 = None


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two existing paths (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False where the system or the filesystem cannot do it (the caller falls back).
    """
    global _renameat2
    import ctypes
    if _renameat2 is None:
        try:
            fn = ctypes.CDLL(None, use_errno=True).renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _renameat2 = fn
        except (OSError, AttributeError):
            _renameat2 = False
    if not _renameat2:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if _renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), b)


def _publish(tmp: str, final: str, replace: bool) -> None:
    """Rename a finished temporary folder into place (readable by everyone)."""
    os.chmod(tmp, 0o755)
    for name in os.listdir(tmp):
        os.chmod(os.path.join(tmp, name), 0o644)
    _fsync_dir(tmp)
    parent = os.path.dirname(final)
    if os.path.exists(final):
        if not replace:
            raise EpochExistsError(f"{final} already exists")
        if _exchange(tmp, final):
            # One atomic step: the new epoch is in place, the old one under the temporary name.
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            # Move the old folder aside first: rename(dir, existing dir) fails.
            trash = os.path.join(parent, md.TRASH_PREFIX + os.path.basename(final) + "-" + uuid.uuid4().hex[:8])
            os.rename(final, trash)
            try:
                os.rename(tmp, final)
            except OSError:
                os.rename(trash, final)  # put the old epoch back
                raise
            shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(tmp, final)
    _fsync_dir(parent)


#: Temporary or trash folders older than this are left by a killed writer: the next write removes them.
STALE_TEMP_S = 600.0


def replace_file(path: str, data: bytes) -> None:
    """Replace one small file atomically: a URL is one PUT (readers see the old or the new
    document); a local path is a temporary file beside it, fsynced, then ``os.replace``."""
    if not dfs.is_local(path):
        dfs.write_bytes(path, data)
        return
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=md.TEMP_PREFIX, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def clean_stale(parent: str, now: Optional[float] = None) -> List[str]:
    """Remove ``.tmp-*``/``.trash-*`` folders in ``parent`` older than :data:`STALE_TEMP_S`
    (a writer killed mid-write leaves one); never fails, returns the names removed."""
    import time
    now = time.time() if now is None else now
    removed = []
    try:
        with os.scandir(parent) as it:
            for d in it:
                if (d.name.startswith((md.TEMP_PREFIX, md.TRASH_PREFIX)) and d.is_dir(follow_symlinks=False)
                        and now - d.stat(follow_symlinks=False).st_mtime > STALE_TEMP_S):
                    shutil.rmtree(d.path, ignore_errors=True)
                    removed.append(d.name)
    except OSError:
        pass
    return removed


def write_folder(parent: str, name: str, arrays: Dict[str, np.ndarray], jsons: Dict[str, object],
                 *, replace: bool = False, extra_files: Optional[Dict[str, bytes]] = None) -> str:
    """Write ``arrays`` (.npy) and ``jsons`` into ``parent/name`` atomically.

    Any OSError (disk full, read-only) removes the temporary folder and is
    re-raised as :class:`StorageError` naming the folder; what was already in
    place is untouched. ``parent`` may be a URL: object stores get the commit-marker
    protocol of publish.py (the returned path is then the committed version's URL).
    """
    if not dfs.is_local(parent):
        return _write_remote(parent, name, arrays, jsons, replace, extra_files)
    parent = dfs.local_path(parent)
    final = os.path.join(parent, name)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise StorageError(e.errno, f"cannot create {parent}: {e.strerror}") from e
    if os.path.exists(final) and not replace:
        raise EpochExistsError(
            f"{final} already exists; pass on_exists='replace' to overwrite it or 'skip' to keep it")
    clean_stale(parent)
    tmp = None
    try:
        tmp = tempfile.mkdtemp(prefix=md.TEMP_PREFIX + name + "-", dir=parent)
        for fname, array in arrays.items():
            _save_array(tmp, fname, array)
        for fname, blob in (extra_files or {}).items():
            with open(os.path.join(tmp, fname), "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
        for fname, obj in jsons.items():
            _save_json(tmp, fname, obj)
        _publish(tmp, final, replace)
        tmp = None
    except OSError as e:
        if isinstance(e, EpochExistsError):
            raise
        reason = os.strerror(e.errno) if e.errno else str(e)
        if e.errno == errno.ENOSPC or (e.errno is None and "requested and" in str(e)):
            reason = "no space left on device"  # numpy reports a short write without an errno
        raise StorageError(e.errno or errno.EIO, f"could not write {final}: {reason}") from e
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _write_remote(parent, name, arrays, jsons, replace, extra_files) -> str:
    from . import publish
    try:
        return publish.write_arrays(parent, name, arrays, jsons, replace=replace, extra_files=extra_files)
    except publish.FolderExistsError as e:
        raise EpochExistsError(f"{e}; pass on_exists='replace' to overwrite it or 'skip' to keep it") from None
    except dfs.RemoteError as e:
        raise StorageError(e.errno, str(e)) from e


def folder_exists(parent: str, name: str) -> bool:
    """Whether ``parent/name`` is there: a folder locally, a committed folder on object stores."""
    if dfs.is_local(parent):
        return os.path.isdir(os.path.join(dfs.local_path(parent), name))
    from . import publish
    fsys, path = dfs.get_fs(parent)
    try:
        return publish.read_marker(fsys, path, name) is not None
    except Exception as e:  # noqa: BLE001
        raise StorageError(getattr(e, "errno", None) or errno.EIO, str(dfs.remote_error(dfs.join(parent, name), "read", e))) from e
