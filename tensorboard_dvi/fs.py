"""Locations as URLs: ``s3://``, ``gs://``, ``memory://`` through fsspec; plain paths stay local.

Every place that takes a path (logdir, run, cache dir, CLI) accepts a URL. A
plain path or ``file://`` URL is *local*: callers keep using ``os`` and the
atomic rename code path of :mod:`tensorboard_dvi.storage`. Anything else is
an object store (no rename, no directories): callers use the fsspec
filesystem returned by :func:`get_fs` and the commit-marker protocol of
:mod:`tensorboard_dvi.publish`. No hand-written clients: fsspec and its
backends (s3fs, gcsfs) do the talking; the endpoint and credentials come from
their usual settings (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...,
``FSSPEC_S3_ENDPOINT_URL``).

Errors from the backends (missing credentials, access denied, no such bucket,
network down) are turned into :class:`RemoteError` naming the URL.
"""

from __future__ import annotations

import os
from typing import Tuple

LOCAL_PROTOCOLS = ("file", "local")
#: Package that provides each well-known scheme (for the "install X" message).
BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}


class RemoteError(OSError):
    """An object-store operation failed; the message names the URL and the reason."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def protocol(path) -> str:
    """The scheme of a URL ('s3', 'memory', ...); 'file' for a plain path."""
    text = os.fspath(path)
    if "://" not in text:
        return "file"
    return text.split("://", 1)[0].lower()


def is_local(path) -> bool:
    return protocol(path) in LOCAL_PROTOCOLS


def local_path(path) -> str:
    """A plain filesystem path for a local location (``file://`` stripped)."""
    text = os.fspath(path)
    if not is_local(text):
        raise ValueError(f"{text} is not a local path")
    return text.split("://", 1)[1] if "://" in text else text


def join(base, *parts: str) -> str:
    """``base/part/...``: ``os.path.join`` for local paths, '/' for URLs."""
    base = os.fspath(base)
    if "://" not in base:
        return os.path.join(base, *parts)
    out = base.rstrip("/")
    for p in parts:
        out += "/" + p.strip("/")
    return out


def normalise(path) -> str:
    """Local: the absolute path (``file://`` dropped). URL: scheme + path, no trailing '/'."""
    text = os.fspath(path)
    if is_local(text):
        return os.path.abspath(local_path(text))
    scheme, rest = text.split("://", 1)
    return scheme.lower() + "://" + rest.strip("/")


def get_fs(url) -> Tuple[object, str]:
    """(fsspec filesystem, backend path) for a URL; RemoteError for an unusable scheme."""
    import fsspec
    text = os.fspath(url)
    proto = protocol(text)
    try:
        return fsspec.core.url_to_fs(text)
    except ImportError as e:
        pkg = BACKENDS.get(proto, f"the fsspec backend for {proto}://")
        raise RemoteError(f"{text}: reading or writing {proto}:// needs {pkg} (pip install {pkg}): {e}") from None
    except ValueError as e:
        raise RemoteError(f"{text}: {e}") from None


def read_bytes(url: str) -> bytes:
    """One object's bytes; FileNotFoundError when absent, RemoteError (naming it) otherwise."""
    fsys, path = get_fs(url)
    try:
        return fsys.cat_file(path)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001
        raise remote_error(url, "read", e) from e


def write_bytes(url: str, data: bytes) -> None:
    """Write one object in one PUT (atomic on object stores: readers see old or new)."""
    fsys, path = get_fs(url)
    try:
        fsys.pipe_file(path, data)
    except Exception as e:  # noqa: BLE001
        raise remote_error(url, "write", e) from e


def describe(err: BaseException) -> str:
    """A short reason for a backend error, with the hint a user needs."""
    name = type(err).__name__
    text = str(err) or name
    low = text.lower()
    if name == "NoCredentialsError" or "unable to locate credentials" in low:
        return "no credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)"
    if isinstance(err, PermissionError) or "accessdenied" in low.replace(" ", "") \
            or "invalidaccesskeyid" in low or "signaturedoesnotmatch" in low or "forbidden" in low:
        return f"access denied: wrong or insufficient credentials ({text})"
    if "nosuchbucket" in low or "bucket does not exist" in low:
        return f"the bucket does not exist ({text})"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ClientConnectorError",
                "ServerDisconnectedError", "ConnectionClosedError") or isinstance(err, ConnectionError):
        return f"cannot reach the storage server ({text})"
    return f"{name}: {text}"


def remote_error(url: str, action: str, err: BaseException) -> RemoteError:
    """A RemoteError naming ``url``; keeps FileNotFoundError's errno for callers that test it."""
    import errno
    code = getattr(err, "errno", None) or (errno.EACCES if isinstance(err, PermissionError) else errno.EIO)
    return RemoteError(code, f"could not {action} {url}: {describe(err)}")
