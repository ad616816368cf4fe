"""Typed HTTP errors: every error answer names its cause in the ``X-DVI-Error`` header.

The tab decides what to do from that machine code (keep polling on
``not_fitted``, show a banner on ``damaged``, ...) and never from the message
text, which stays plain prose for people (docs/HTTP_API.md, "Errors").
The classes subclass TensorBoard's ``InvalidArgumentError`` (400) and
``NotFoundError`` (404), so TensorBoard answers them as plain text with our header.
"""

from __future__ import annotations

from tensorboard import errors

HEADER = "X-DVI-Error"

#: code -> when it is sent (HTTP status in brackets).
CODES = {
    "bad_param": "a malformed, missing or unknown query parameter (400)",
    "forbidden": "a run name or path that would reach outside the logdir or the static folder (400/404)",
    "unknown_run": "no run of that name holds DVI data (404)",
    "unknown_epoch": "the epoch has not been logged (or the run has no epoch yet) (404)",
    "unknown_sample": "no sample with that id, or no thumbnail for it (404)",
    "not_fitted": "the epoch is logged but its map is not (yet) in the cache, or it is being "
                  "rewritten: try again later (404)",
    "reference_not_fitted": "run B laid out from run A (``ref=A``): A has not fitted that epoch (or any "
                            "epoch B logs) yet; fit A first (409)",
    "damaged": "the run's or the epoch's files (or its cached results) cannot be read (404)",
    "unknown_file": "no such file in the tab's static folder (404)",
    "method": "the route does not take this HTTP method (405, with an Allow header)",
    "bad_host": "the Host header names a machine this TensorBoard does not answer for (DNS rebinding "
                "protection; --dvi_allowed_hosts) (403)",
    "cross_site": "a state-changing request without the X-DVI-Request header or a same-origin Origin (403)",
    "busy": "too many DVI requests at once; waited too long for a slot (503)",
    "internal": "an unexpected error; logged by TensorBoard, no details in the answer (500)",
}


class _Coded:
    code = ""

    def __init__(self, message: str):
        super().__init__(message)
        self.headers.append((HEADER, self.code))


def _coded(name: str, base, code: str):
    """An error class answering ``base``'s status with ``X-DVI-Error: code``."""
    assert code in CODES, code
    return type(name, (_Coded, base), {"code": code, "__doc__": CODES[code], "__module__": __name__})


BadParam = _coded("BadParam", errors.InvalidArgumentError, "bad_param")
#: A run name of a form that can only point out of the logdir (400).
ForbiddenName = _coded("ForbiddenName", errors.InvalidArgumentError, "forbidden")
#: A path that resolves out of the logdir (404, as if it did not exist).
Forbidden = _coded("Forbidden", errors.NotFoundError, "forbidden")
UnknownRun = _coded("UnknownRun", errors.NotFoundError, "unknown_run")
UnknownEpoch = _coded("UnknownEpoch", errors.NotFoundError, "unknown_epoch")
UnknownSample = _coded("UnknownSample", errors.NotFoundError, "unknown_sample")
NotFitted = _coded("NotFitted", errors.NotFoundError, "not_fitted")
Damaged = _coded("Damaged", errors.NotFoundError, "damaged")
#: ``ref=A`` asks for B laid out from A, but A's epoch is not fitted yet (409 Conflict).
ReferenceNotFitted = _coded("ReferenceNotFitted", errors.NotFoundError, "reference_not_fitted")
ReferenceNotFitted.http_code = 409
#: A file the run did not log (an extra such as texts.json) or the static folder lacks (404).
UnknownFile = _coded("UnknownFile", errors.NotFoundError, "unknown_file")
#: A state-changing request without the ``X-DVI-Request: 1`` header, where a route demands it (403).
MissingHeader = _coded("MissingHeader", errors.PermissionDeniedError, "forbidden")


def method_headers(methods) -> list:
    """Headers of a 405 answer."""
    return [("Allow", ", ".join(methods)), (HEADER, "method")]
