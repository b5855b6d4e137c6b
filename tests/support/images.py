"""Tiny real image files for tests, written without an image library."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bytes(width: int = 96, height: int = 96, seed: int = 0) -> bytes:
    """A valid RGB PNG whose pixels depend on `seed`, so every seed gives different bytes."""
    colour = bytes(((seed * 37) % 256, (seed // 256) % 256, (seed * 11 + 5) % 256))
    row = b"\x00" + colour * width
    raw = row * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def jpeg_header_bytes(width: int, height: int) -> bytes:
    """The start of a baseline JPEG with its SOF0 frame header: enough for size checks, not for decoding."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"
