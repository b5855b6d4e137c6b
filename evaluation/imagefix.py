"""Pillow's part in image preparation: decoding other formats, re-encoding, shrinking, EXIF.

Imported only when an image needs it, so checking ordinary JPEGs and PNGs never decodes pixels.
"""

from __future__ import annotations

import io
import warnings

JPEG_QUALITY = 90
_QUALITY_STEPS = (90, 85, 80, 70)


# Pillow refuses images over ~179 Mpx as possible decompression bombs; a 20,000 x 10,000 drone mosaic is
# a real photo, so fitting allows more, but not without bound (memory: 3 bytes a pixel).
MAX_PIXELS = 400_000_000


class ConversionError(Exception):
    """An image Pillow cannot decode (or re-encode)."""


def _open(data: bytes):  # type: ignore[no-untyped-def]
    from PIL import Image, UnidentifiedImageError

    try:  # HEIC/HEIF decode only where pillow-heif is installed
        from pillow_heif import register_heif_opener

        register_heif_opener()
    except ImportError:
        pass
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():  # the size is checked here, with a reason a person can act on
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise ConversionError(f"{image.width}x{image.height} px is too many pixels to decode here")
        image.load()
    except Image.DecompressionBombError as exc:
        raise ConversionError(f"too many pixels to decode safely: {exc}") from None
    except UnidentifiedImageError:
        raise ConversionError("no installed decoder reads this format (HEIC needs pillow-heif)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ConversionError(f"decoding failed: {exc}") from None
    return image


def _rgb(image):  # type: ignore[no-untyped-def]
    from PIL import Image

    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # an animation: its first frame
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def to_rgb_jpeg(data: bytes, quality: int = JPEG_QUALITY) -> bytes:
    """Any decodable image as an RGB JPEG, keeping its EXIF (and so its orientation)."""
    image = _open(data)
    return _jpeg_with_exif(_rgb(image), image, quality)


def _jpeg_with_exif(rgb, source, quality: int) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    exif = source.getexif()
    rgb.save(buffer, format="JPEG", quality=quality, exif=exif.tobytes() if len(exif) else b"")
    return buffer.getvalue()


def fit_within(data: bytes, *, max_bytes: int, max_side: int) -> tuple[bytes, tuple[int, int]]:
    """Shrink to at most `max_side` px a side and `max_bytes`, as JPEG: lower quality first, then size."""
    image = _open(data)
    rgb = _rgb(image)
    scale = min(1.0, max_side / max(rgb.size))
    while True:
        size = (max(1, int(rgb.width * scale)), max(1, int(rgb.height * scale)))
        resized = rgb if size == rgb.size else rgb.resize(size)
        for quality in _QUALITY_STEPS:
            encoded = _jpeg_with_exif(resized, image, quality)
            if len(encoded) <= max_bytes:
                return encoded, size
        scale *= 0.8
        if max(size) < 80:
            raise ConversionError("cannot shrink it under the byte limit")


def read_orientation(data: bytes) -> int | None:
    """The EXIF orientation tag, read from the header only (no pixels decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            value = image.getexif().get(0x0112)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    return int(value) if value else None
