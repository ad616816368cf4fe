"""The security wrapper every route of the plugin goes through (dispatch level).

``Guard.wrap(app)`` is applied to the whole route table in ``DVIPlugin.get_plugin_apps``,
so a route added later inherits every protection here:

* **Host check** against DNS rebinding: a request whose ``Host`` is a *name* must name this
  machine (``localhost``, ``*.localhost``, TensorBoard's ``--host``, the machine's host names)
  or one of ``--dvi_allowed_hosts``; IP literals are always accepted (they cannot be rebound).
  ``--dvi_allowed_hosts='*'`` turns the check off.
* **Cross-site requests**: anything but GET/HEAD/OPTIONS must carry ``X-DVI-Request`` (a custom
  header, which a cross-site form or ``no-cors`` fetch cannot send) or an ``Origin`` equal to
  the server's own; otherwise 403 ``cross_site``. GET routes have no side effects.
* **Bounded work**: at most ``max_concurrent`` requests run their handler at once (the others
  wait, up to ``wait_s``, then 503 ``busy``), and at most one *heavy* request (exports: their
  answer grows with the run) at a time, which bounds the TensorBoard process's memory
  (docs/RELIABILITY.md: worst case).
* **Clean errors**: the logdir's and the cache's absolute paths are cut out of every error
  body and every JSON answer (job errors quote the engine); an unexpected exception is logged
  and answered 500 ``internal`` without a traceback.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from typing import Dict, Iterable, List, Optional

from tensorboard import errors
from tensorboard.backend import http_util
from werkzeug import wrappers

from . import codes

logger = logging.getLogger(__name__)

REQUEST_HEADER = "X-DVI-Request"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _host_name(host: str) -> str:
    """The host part of a Host header (port and IPv6 brackets removed), lower case."""
    host = (host or "").strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def machine_names(bind_host: Optional[str]) -> List[str]:
    names = ["localhost", bind_host or ""]
    for fn in (socket.gethostname, socket.getfqdn):
        try:
            names.append(fn())
        except OSError:
            pass
    return [n.lower().rstrip(".") for n in names if n]


class Guard:
    """See the module docstring. ``allowed_hosts``: extra names, or ``["*"]`` for any."""

    def __init__(self, *, bind_host: Optional[str] = None, allowed_hosts: Iterable[str] = (),
                 scrub: Optional[Dict[str, str]] = None, max_concurrent: int = 8, wait_s: float = 60.0):
        allowed = [h.strip().lower().rstrip(".") for h in allowed_hosts if h and h.strip()]
        self._any_host = "*" in allowed
        self._names = set(machine_names(bind_host)) | set(allowed)
        # {absolute path: what to say instead}, longest first (a path may contain another)
        self._scrub = sorted(((p, label) for p, label in (scrub or {}).items() if p and len(p) > 1),
                             key=lambda kv: len(kv[0]), reverse=True)
        self._slots = threading.BoundedSemaphore(max(1, int(max_concurrent)))
        self._heavy = threading.BoundedSemaphore(1)
        self._wait_s = float(wait_s)

    # ------------------------------------------------------------------ checks

    def host_ok(self, host_header: str) -> bool:
        if self._any_host:
            return True
        host = _host_name(host_header)
        if not host:
            return False
        return _is_ip(host) or host in self._names or host.endswith(".localhost")

    @staticmethod
    def same_origin(request) -> bool:
        origin = request.headers.get("Origin")
        if not origin or origin == "null":
            return False
        own = f"{request.scheme}://{request.host}"
        return origin.rstrip("/").lower() == own.lower()

    def scrubbed(self, text: str) -> str:
        for p, label in self._scrub:
            text = text.replace(p, label)
        return text

    # ------------------------------------------------------------------ wrapper

    def _refuse(self, request, status: int, code: str, message: str):
        return http_util.Respond(request, message, "text/plain", code=status, headers=[(codes.HEADER, code)])

    def _clean(self, resp):
        """The answer with absolute server paths cut out of its text (JSON and plain text only;
        TensorBoard gzips answers for browsers, so a gzipped body is unpacked, cleaned, repacked)."""
        if not self._scrub or resp.mimetype not in ("application/json", "text/plain") or \
                (resp.content_length or 0) > (4 << 20):
            return resp
        encoding = resp.headers.get("Content-Encoding", "")
        if encoding not in ("", "identity", "gzip"):
            return resp
        data = resp.get_data()
        if encoding == "gzip":
            import gzip
            data = gzip.decompress(data)
        cleaned = data
        for p, label in self._scrub:
            cleaned = cleaned.replace(p.encode("utf-8", "surrogateescape"), label.encode())
        if cleaned != data:
            if encoding == "gzip":
                import gzip
                cleaned = gzip.compress(cleaned)
            resp.set_data(cleaned)
        return resp

    def wrap(self, app, *, bounded: bool = True, heavy: bool = False):
        """``app`` (a WSGI app of one route) behind every check of this guard."""
        guard = self
        slots = [s for s, on in ((self._heavy, heavy), (self._slots, bounded)) if on]

        @wrappers.Request.application
        def guarded(request):
            if not guard.host_ok(request.headers.get("Host", "")):
                return guard._refuse(request, 403, "bad_host",
                                     "this host name is not allowed (DNS rebinding protection); start "
                                     "TensorBoard with --dvi_allowed_hosts=NAME to allow it")
            if request.method not in _SAFE_METHODS and not (
                    request.headers.get(REQUEST_HEADER) or guard.same_origin(request)):
                return guard._refuse(request, 403, "cross_site",
                                     f"cross-site request refused: send the header '{REQUEST_HEADER}: 1'")
            held = []
            for s in slots:
                if not s.acquire(timeout=guard._wait_s):
                    for h in held:
                        h.release()
                    return guard._refuse(request, 503, "busy", "the DVI plugin is busy; try again")
                held.append(s)
            try:
                return guard._clean(wrappers.Response.from_app(app, request.environ))
            except errors.PublicError as e:
                return http_util.Respond(request, guard.scrubbed(str(e)), "text/plain", code=e.http_code,
                                         headers=list(getattr(e, "headers", []) or []))
            except Exception:  # noqa: BLE001 - logged with the traceback, answered without it
                logger.exception("DVI plugin: unexpected error in %s", request.path)
                return guard._refuse(request, 500, "internal", "internal error in the DVI plugin (see "
                                     "TensorBoard's log)")
            finally:
                for h in held:
                    h.release()

        return guarded
