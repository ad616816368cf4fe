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


def png(image: np.ndarray) -> bytes:
    """A PNG of a uint8 image (H×W grey, H×W×1, ×3 RGB or ×4 RGBA); stdlib only."""
    import zlib

    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"image dtype {img.dtype}, expected uint8")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        colour, channels = 0, 1
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        colour, channels = (2, 3) if img.shape[2] == 3 else (6, 4)
    else:
        raise ValueError(f"image shape {img.shape} is not H×W, H×W×3 or H×W×4")
    h, w = img.shape[:2]
    rows = np.ascontiguousarray(img).reshape(h, w * channels)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
