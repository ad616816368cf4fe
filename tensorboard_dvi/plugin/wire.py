"""The binary container of the HTTP API (docs/HTTP_API.md, "Binary container").

``uint32 LE L`` + ``L`` bytes of UTF-8 JSON header (space padded so that the
arrays start at a multiple of 8 bytes) + the arrays back to back, each starting
at a multiple of 8 bytes relative to the end of the header. Little-endian.
"""

from __future__ import annotations

import json
import struct
from typing import Dict, Tuple

import numpy as np

ALIGN = 8


def _pad(n: int) -> int:
    return (-n) % ALIGN


def encode(arrays: Dict[str, np.ndarray], **header_fields) -> bytes:
    """One container holding ``arrays`` (insertion order) and extra header fields."""
    parts = []
    layout = {}
    offset = 0
    for name, arr in arrays.items():
        a = np.asarray(arr)
        le = a.dtype.newbyteorder("<")
        a = np.ascontiguousarray(a, dtype=le)
        raw = a.tobytes()
        layout[name] = {"dtype": a.dtype.name, "shape": list(a.shape), "offset": offset}
        parts.append(raw)
        pad = _pad(len(raw))
        if pad:
            parts.append(b"\0" * pad)
        offset += len(raw) + pad
    header = dict(header_fields)
    header["arrays"] = layout
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * _pad(4 + len(text))
    return b"".join([struct.pack("<I", len(text)), text] + parts)


def decode(blob: bytes) -> Tuple[dict, Dict[str, np.ndarray]]:
    """Inverse of :func:`encode` (used by tests and benchmarks)."""
    (length,) = struct.unpack_from("<I", blob, 0)
    header = json.loads(blob[4:4 + length].decode("utf-8"))
    base = 4 + length
    if base % ALIGN:
        raise ValueError("arrays do not start at a multiple of 8 bytes")
    out = {}
    for name, spec in header["arrays"].items():
        dtype = np.dtype(spec["dtype"]).newbyteorder("<")
        shape = tuple(spec["shape"])
        count = int(np.prod(shape)) if shape else 1
        if spec["offset"] % ALIGN:
            raise ValueError(f"array {name} is not 8-byte aligned")
        out[name] = np.frombuffer(blob, dtype=dtype, count=count, offset=base + spec["offset"]).reshape(shape)
    return header, out
