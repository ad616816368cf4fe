"""A minimal PNG encoder (8-bit RGB), so the engine needs no imaging library."""

import struct
import zlib

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode_png(image: np.ndarray, level: int = 6) -> bytes:
    """Encode a uint8 image (H x W grey, H x W x 1, x 3 RGB or x 4 RGBA; row 0 = top) as PNG."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.asarray(img, dtype=np.uint8) if img.dtype.kind in "iub" else None
        if img is None:
            raise ValueError(f"expected a uint8 image, got dtype {np.asarray(image).dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        colour, channels = 0, 1
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        colour, channels = (2, 3) if img.shape[2] == 3 else (6, 4)
    else:
        raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 image, got shape {img.shape}")
    h, w = img.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"empty image of shape {img.shape}")
    # Filter type 0 (none) in front of every scanline.
    raw = np.zeros((h, 1 + channels * w), dtype=np.uint8)
    raw[:, 1:] = np.ascontiguousarray(img).reshape(h, channels * w)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level)) + _chunk(b"IEND", b""))


def decode_png_rgb(data: bytes) -> np.ndarray:
    """Decode what :func:`encode_png` writes (filter 0, RGB8 only); for tests."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, b""
    w = h = None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) & 0xFFFFFFFF != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            raise ValueError(f"bad CRC in {kind!r}")
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 3 * w)
    if np.any(raw[:, 0] != 0):
        raise ValueError("only filter type 0 is supported")
    return raw[:, 1:].reshape(h, w, 3).copy()
