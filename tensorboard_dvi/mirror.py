"""Local mirrors of remote runs and caches, so that everything reads local files.

A remote URL (``s3://bucket/logs/run``) is mirrored at
``<mirror root>/s3/bucket/logs/run`` in the ordinary local format: each committed
folder (see :mod:`tensorboard_dvi.publish`) is downloaded once, checked against the
sizes its marker lists, and published with the local atomic writer
(``storage.write_folder``: temporary folder, fsync, rename). Remote versions are
immutable, so a mirrored folder is fetched again only when its marker names a new
version (replace); a folder uncommitted remotely disappears locally. The reader, its
checks (confinement, safe reads, memory maps) and the plugin's change detection then
work on the mirror unchanged, and a partial remote epoch is never visible.

Mirror root: ``$TENSORBOARD_DVI_MIRROR``, else ``($XDG_CACHE_HOME or ~/.cache)/tensorboard-dvi/mirror``.
Readers refresh a mirror at most every ``$TENSORBOARD_DVI_SYNC_S`` seconds (default 2);
when the store cannot be reached they keep serving the mirror as it is.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from typing import Dict, List, Optional

from . import fs as dfs
from . import metadata as md
from . import publish

log = logging.getLogger(__name__)
SOURCE_FILE = ".source-version"  # inside a mirrored folder: the remote version it holds
STATIC_MARKER = "/".join(md.PLUGIN_DIR) + "/" + md.STATIC_DIR + publish.COMMIT_SUFFIX
_lock = threading.Lock()
_folder_locks: Dict[str, threading.Lock] = {}
_last_sync: Dict[str, float] = {}


def mirror_root() -> str:
    root = os.environ.get("TENSORBOARD_DVI_MIRROR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "tensorboard-dvi", "mirror")
    return os.path.abspath(root)


def local_for(url: str) -> str:
    """The mirror folder of a remote URL (no I/O). Refuses '.', '..' and empty components."""
    norm = dfs.normalise(url)
    scheme, rest = norm.split("://", 1)
    parts = [p for p in rest.split("/")]
    if not rest or any(p in ("", ".", "..") for p in parts):
        raise dfs.RemoteError(f"{url}: not a usable location (empty, '.' or '..' path components)")
    return os.path.join(mirror_root(), scheme, *parts)


def source_url(path: str) -> Optional[str]:
    """The remote URL a mirror folder stands for; None for any other local path."""
    root = mirror_root()
    real = os.path.abspath(path)
    if not real.startswith(root + os.sep):
        return None
    parts = os.path.relpath(real, root).split(os.sep)
    if len(parts) < 2:
        return None
    return parts[0] + "://" + "/".join(parts[1:])


def localize(path) -> str:
    """A local path for any location: a URL's mirror folder, a local path made absolute."""
    text = os.fspath(path)
    if dfs.is_local(text):
        return os.path.abspath(dfs.local_path(text))
    return local_for(text)


def _folder_lock(key: str) -> threading.Lock:
    with _lock:
        return _folder_locks.setdefault(key, threading.Lock())


def _read_source(folder: str) -> Optional[str]:
    try:
        with open(os.path.join(folder, SOURCE_FILE), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def sync_folder(fs, rparent: str, lparent: str, name: str, url: str) -> bool:
    """Bring ``lparent/name`` to the committed version of ``rparent/name``; True if it changed."""
    from . import storage
    local = os.path.join(lparent, name)
    with _folder_lock(local):
        marker = publish.read_marker(fs, rparent, name)
        if marker is None:
            return _drop(lparent, name)
        version = marker["folder"]
        if _read_source(local) == version:
            return False
        blobs = {}
        for fname, size in (marker.get("files") or {}).items():
            if "/" in fname or fname.startswith(".") or fname in ("", ".."):
                raise dfs.RemoteError(f"{url}: the commit marker lists a bad file name {fname!r}")
            blob = fs.cat_file(f"{publish._strip(fs, rparent)}/{version}/{fname}")
            if len(blob) != size:
                raise dfs.RemoteError(f"{url}/{fname}: {len(blob)} bytes, the commit marker says {size}")
            blobs[fname] = blob
        blobs[SOURCE_FILE] = version.encode("utf-8")
        storage.write_folder(lparent, name, {}, {}, replace=True, extra_files=blobs)
        return True


def _drop(lparent: str, name: str) -> bool:
    """Remove a mirrored folder whose remote counterpart is no longer committed."""
    local = os.path.join(lparent, name)
    if _read_source(local) is None:
        return False  # not a mirrored folder (or absent): leave it
    trash = os.path.join(lparent, md.TRASH_PREFIX + name + "-" + uuid.uuid4().hex[:8])
    try:
        os.rename(local, trash)
    except OSError:
        return False
    shutil.rmtree(trash, ignore_errors=True)
    return True


def sync_children(url: str, lparent: str, keep=None) -> List[str]:
    """Mirror every committed folder under ``url`` (``keep(name)`` filters); drop the uncommitted."""
    fsys, rparent = dfs.get_fs(url)
    try:
        names = [n for n in publish.committed_names(fsys, rparent) if keep is None or keep(n)]
        for name in names:
            sync_folder(fsys, rparent, lparent, name, dfs.join(url, name))
    except dfs.RemoteError:
        raise
    except Exception as e:  # noqa: BLE001 (backend errors of every kind become one, naming the URL)
        raise dfs.remote_error(url, "read", e) from e
    if os.path.isdir(lparent):
        for name in os.listdir(lparent):
            if name not in names and (keep is None or keep(name)):
                _drop(lparent, name)
    return names


def _is_epoch(name: str) -> bool:
    return md.parse_epoch_dir_name(name) is not None


def sync_run(url: str, epochs: bool = True) -> str:
    """Mirror one run (its static data, and its epochs unless ``epochs`` is False); its local path."""
    local = local_for(url)
    plugin = dfs.join(url, *md.PLUGIN_DIR)
    lplugin = os.path.join(local, *md.PLUGIN_DIR)
    sync_children(plugin, lplugin, keep=lambda n: n == md.STATIC_DIR)
    if epochs:
        sync_children(dfs.join(plugin, md.EPOCHS_DIR), os.path.join(lplugin, md.EPOCHS_DIR), keep=_is_epoch)
    return local


def remote_runs(url: str) -> List[str]:
    """Run names ('/'-separated, '.' for the logdir itself) under a remote logdir: one listing."""
    fsys, root = dfs.get_fs(url)
    root = publish._strip(fsys, root)
    try:
        fsys.invalidate_cache(root)
        keys = fsys.find(root)
    except FileNotFoundError as e:
        raise dfs.remote_error(url, "list", e) from e
    except Exception as e:  # noqa: BLE001
        raise dfs.remote_error(url, "list", e) from e
    runs = []
    for key in keys:
        key = key.rstrip("/")
        if key.endswith("/" + STATIC_MARKER) or key == STATIC_MARKER:
            rel = key[len(root):].strip("/")[:-len(STATIC_MARKER)].strip("/")
            if not any(p.startswith(".") or p in ("", "..") for p in rel.split("/") if rel):
                runs.append(rel or ".")
    return sorted(runs)


def sync_logdir(url: str, epochs: bool = False) -> List[str]:
    """Mirror the static data of every run under a remote logdir (epochs when asked); run names."""
    names = remote_runs(url)
    for name in names:
        sync_run(url if name == "." else dfs.join(url, *name.split("/")), epochs=epochs)
    return names


def _due(key: str, interval: Optional[float]) -> bool:
    every = float(os.environ.get("TENSORBOARD_DVI_SYNC_S", "2")) if interval is None else interval
    now = time.monotonic()
    if now - _last_sync.get(key, -1e18) < every:
        return False
    _last_sync[key] = now
    return True


class RemoteRun:
    """A run on an object store, read through its local mirror, lazily: listing epochs costs one
    request, an epoch is downloaded when it is first read (again only when replaced remotely).

    ``strict``: errors propagate (a reader made from a URL: the CLI, a fit); otherwise (the
    plugin, on a mirror path) they are logged and the mirror is used as it is.
    """

    def __init__(self, url: str, strict: bool = True):
        self.url, self.strict = dfs.normalise(url), strict
        self.local = local_for(self.url)
        self._plugin = dfs.join(self.url, *md.PLUGIN_DIR)
        self._lplugin = os.path.join(self.local, *md.PLUGIN_DIR)
        self.errors: Dict[int, str] = {}  # epoch -> why it could not be mirrored (lenient readers)

    def _guard(self, fn, *args, epoch: Optional[int] = None):
        try:
            out = fn(*args)
            self.errors.pop(epoch, None)
            return out
        except Exception as e:  # noqa: BLE001
            err = e if isinstance(e, dfs.RemoteError) else dfs.remote_error(self.url, "read", e)
            if self.strict:
                raise err from e
            log.warning("tensorboard-dvi: keeping the local mirror of %s: %s", self.url, err)
            if epoch is not None:
                self.errors[epoch] = str(err)
            return None

    def ensure_static(self) -> None:
        if _due("static:" + self.local, None if not self.strict else 0.0) or not os.path.isdir(
                os.path.join(self._lplugin, md.STATIC_DIR)):
            self._guard(sync_children, self._plugin, self._lplugin, lambda n: n == md.STATIC_DIR)

    def list_epochs(self) -> Optional[List[int]]:
        """Committed epochs (one listing); mirrored epochs no longer committed are dropped."""
        def listing():
            fsys, parent = dfs.get_fs(dfs.join(self._plugin, md.EPOCHS_DIR))
            names = [n for n in publish.committed_names(fsys, parent) if _is_epoch(n)]
            ldir = os.path.join(self._lplugin, md.EPOCHS_DIR)
            if os.path.isdir(ldir):
                for n in os.listdir(ldir):
                    if _is_epoch(n) and n not in names:
                        _drop(ldir, n)
            return sorted(md.parse_epoch_dir_name(n) for n in names)
        return self._guard(listing)

    def ensure_epoch(self, epoch: int) -> None:
        name = md.epoch_dir_name(epoch)
        ldir = os.path.join(self._lplugin, md.EPOCHS_DIR)
        if not _due(f"epoch:{ldir}/{name}", None) and os.path.isdir(os.path.join(ldir, name)):
            return
        fsys, parent = dfs.get_fs(dfs.join(self._plugin, md.EPOCHS_DIR))
        self._guard(sync_folder, fsys, parent, ldir, name, dfs.join(self._plugin, md.EPOCHS_DIR, name), epoch=epoch)


def remote_run(path) -> Optional[RemoteRun]:
    """The RemoteRun behind a URL (strict) or a mirror folder (lenient); None for local runs."""
    text = os.fspath(path)
    if not dfs.is_local(text):
        return RemoteRun(text, strict=True)
    url = source_url(text)
    return RemoteRun(url, strict=False) if url else None


def sync_logdir_of(path) -> str:
    """Mirror a logdir's runs (static data) before a local listing: strictly for a URL, at most
    every few seconds and leniently for a mirror folder (the plugin); the local folder to list."""
    text = os.fspath(path)
    if not dfs.is_local(text):
        sync_logdir(text)
        return local_for(text)
    refresh(text, "logdir")
    return text


def refresh(path: str, what: str = "run", *, strict: bool = False, interval: Optional[float] = None) -> bool:
    """Re-sync the mirror at ``path`` (a no-op for paths that are not mirrors), at most every
    ``interval`` seconds. ``what``: "run", "logdir" or "children" (a cache's epochs). Errors are
    logged and the mirror kept (``strict`` re-raises them)."""
    url = source_url(path)
    if url is None:
        return False
    # One sync at a time per mirror: a caller arriving meanwhile waits for it instead of
    # reading a half-synchronised folder (the plugin's watcher and request threads).
    with _folder_lock(f"{what}:{path}"):
        if not _due(f"{what}:{path}", interval):
            return False
        try:
            if what == "logdir":
                sync_logdir(url)
            elif what == "run":
                sync_run(url)
            else:
                sync_children(url, path, keep=_is_epoch)
            return True
        except OSError as e:
            if strict:
                raise
            log.warning("tensorboard-dvi: keeping the local mirror of %s: %s", url, e)
            return False
