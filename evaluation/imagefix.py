"""Pillow's part in image preparation: decoding other formats, re-encoding, shrinking, EXIF.

Imported only when an image needs it, so checking ordinary JPEGs and PNGs never decodes pixels.

Every decoder goes through `open_for_decoding` (or, for code that opens images itself, calls
`check_decode_size` between `Image.open` and `load`): the pixel count is read from the header and an
image over `MAX_DECODE_PIXELS` is refused before a single pixel is decoded. A decompression bomb (a
300 KB PNG of 10,000 x 10,000 blank pixels) then costs a header read, not gigabytes.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

JPEG_QUALITY = 90
_QUALITY_STEPS = (90, 85, 80, 70)


# The largest image looked at at all (its header). Pillow refuses images over ~179 Mpx as possible
# decompression bombs; a 20,000 x 10,000 drone mosaic is a real photo, and a JPEG that large can still be
# decoded at a reduced scale (below), so fitting allows more, but not without bound.
MAX_PIXELS = 400_000_000

# The most pixels decoded at once. The API takes at most 10,000 px a side (100 Mpx), but decoding costs
# 3 bytes a pixel (RGB) and up to 8 while an image with transparency or a palette is flattened on white:
# 100 Mpx would be about 800 MB for one image, several GB for a few at once. 50 Mpx (a 50 MP photo,
# 8160 x 6120, decodes whole) keeps one decode well under 1 GB (measured about 600 MB with its copies),
# and `decode_slot` lets one image be decoded at a time.
# A JPEG over it is decoded at 1/2, 1/4 or 1/8 scale (Pillow's draft mode, no full-size pixels ever
# exist); any other format over it is refused, with the reason, before anything is decoded.
MAX_DECODE_PIXELS = 50_000_000


# How many images may be decoded at once in this process, whatever the number of threads. One: a decode
# at the bound, with its copies and the allocator's slack, measured about 600 MB; two at once measured
# 1.2 GB. Decoding is the exception (--fit, --convert, the local baseline), so one at a time costs little.
# Every decoder holds the slot from decoding to its last full-size copy (`decode_slot`).
MAX_CONCURRENT_DECODES = 1
_DECODE_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_DECODES)


@contextmanager
def decode_slot() -> Iterator[None]:
    """Hold one of the process's decode slots (not re-entrant: take it once, around the whole decode)."""
    with _DECODE_SLOTS:
        yield


class ConversionError(Exception):
    """An image Pillow cannot decode (or re-encode)."""


class TooManyPixels(ConversionError, ValueError):
    """An image whose header promises more pixels than may be decoded; raised before any is decoded.

    A ValueError too, so code that already turns Pillow's ValueErrors into a refusal refuses it as well.
    """


# Pillow allocates pixels in blocks of 16 MB by default: under glibc's largest mmap threshold (32 MB),
# so freed blocks stay in the allocating thread's arena and every thread that ever decoded keeps its
# peak (measured: four threads fitting one image at a time held 1.7 GB). Blocks of 64 MB are mapped and
# unmapped, so memory goes back to the system as soon as an image is freed (four threads: 0.64 GB).
PILLOW_BLOCK_SIZE = 64 * 1024 * 1024


def _return_freed_pixels_to_the_system() -> None:
    from PIL import Image

    if Image.core.get_block_size() < PILLOW_BLOCK_SIZE:
        Image.core.set_block_size(PILLOW_BLOCK_SIZE)


def decode_size_problem(width: int, height: int, *, max_pixels: int = MAX_DECODE_PIXELS) -> str | None:
    """Why an image of width x height px may not be decoded (a reason for a person), or None."""
    if width * height > max_pixels:
        return (
            f"{width}x{height} px is {width * height / 1e6:.1f} Mpx, over the {max_pixels / 1e6:g} Mpx "
            "decoded at most (a possible decompression bomb): not decoded"
        )
    return None


def check_decode_size(image, *, max_pixels: int = MAX_DECODE_PIXELS) -> None:  # type: ignore[no-untyped-def]
    """Raise TooManyPixels when decoding `image` would exceed `max_pixels`.

    `image` is opened and not yet loaded (`Image.open` reads only the header); call this after any
    `draft()`, which shrinks the size a JPEG will decode at, and before `load()`, `convert()` or anything
    else that decodes.
    """
    _return_freed_pixels_to_the_system()
    width, height = image.size
    problem = decode_size_problem(width, height, max_pixels=max_pixels)
    if problem is not None:
        raise TooManyPixels(problem)


def open_for_decoding(data: bytes, *, max_pixels: int = MAX_DECODE_PIXELS):  # type: ignore[no-untyped-def]
    """A Pillow image opened (header only) and safe to decode: at most `max_pixels` will be decoded.

    A JPEG over the bound is set to decode at the largest of 1/2, 1/4 or 1/8 scale that fits; anything
    else over it raises TooManyPixels. Other undecodable input raises ConversionError.
    """
    from PIL import Image, UnidentifiedImageError

    try:  # HEIC/HEIF decode only where pillow-heif is installed
        from pillow_heif import register_heif_opener

        register_heif_opener()
    except ImportError:
        pass
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    _return_freed_pixels_to_the_system()
    try:
        with warnings.catch_warnings():  # the size is checked here, with a reason a person can act on
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise TooManyPixels(f"{width}x{height} px is too many pixels to decode here")
        if width * height > max_pixels and image.format == "JPEG":
            for divisor in (2, 4, 8):
                if -(-width // divisor) * -(-height // divisor) <= max_pixels:
                    image.draft(image.mode, (max(1, width // divisor), max(1, height // divisor)))
                    break
        check_decode_size(image, max_pixels=max_pixels)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"too many pixels to decode safely: {exc}") from None
    except UnidentifiedImageError:
        raise ConversionError("no installed decoder reads this format (HEIC needs pillow-heif)") from None
    except ConversionError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise ConversionError(f"decoding failed: {exc}") from None
    return image


def _open(data: bytes):  # type: ignore[no-untyped-def]
    """Decode `data`, within `MAX_DECODE_PIXELS` (checked on the header first)."""
    from PIL import Image

    image = open_for_decoding(data)
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"too many pixels to decode safely: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ConversionError(f"decoding failed: {exc}") from None
    return image


def _rgb(image):  # type: ignore[no-untyped-def]
    """RGB, transparency flattened on white; without copies that are not needed (memory: see above)."""
    from PIL import Image

    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # an animation: its first frame
    if image.mode == "RGB":
        return image
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if transparent:
        rgba = image if image.mode in ("RGBA", "LA") else image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba)
        return background
    return image.convert("RGB")


def to_rgb_jpeg(data: bytes, quality: int = JPEG_QUALITY) -> bytes:
    """Any decodable image as an RGB JPEG, keeping its EXIF (and so its orientation)."""
    with decode_slot():
        image = _open(data)
        return _jpeg_with_exif(_rgb(image), image, quality)


def _jpeg_with_exif(rgb, source, quality: int) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    exif = source.getexif()
    rgb.save(buffer, format="JPEG", quality=quality, exif=exif.tobytes() if len(exif) else b"")
    return buffer.getvalue()


def fit_within(data: bytes, *, max_bytes: int, max_side: int) -> tuple[bytes, tuple[int, int]]:
    """Shrink to at most `max_side` px a side and `max_bytes`, as JPEG: lower quality first, then size."""
    with decode_slot():
        return _fit_within(data, max_bytes=max_bytes, max_side=max_side)


def _fit_within(data: bytes, *, max_bytes: int, max_side: int) -> tuple[bytes, tuple[int, int]]:
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
