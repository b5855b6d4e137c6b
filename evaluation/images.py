"""Where an image lives: a local file or an S3 object.

Everything else (reading bytes, hashing, checks against an operation's limits) takes an ImageRef, so a
dataset reader never needs to know how an image will be sent.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class ImageRef:
    """A local absolute path or an ``s3://bucket/key`` URI."""

    uri: str

    def __post_init__(self) -> None:
        if not self.uri:
            raise ValueError("ImageRef needs a non-empty uri")
        if self.uri.startswith("s3://"):
            bucket, _, key = self.uri[5:].partition("/")
            if not bucket or not key:
                raise ValueError(f"not an S3 object URI (s3://bucket/key): {self.uri!r}")

    @classmethod
    def from_text(cls, text: str, base_dir: Path | None = None) -> ImageRef:
        """Resolve a path as written in a dataset: s3:// URIs as they are, relative paths from base_dir."""
        text = text.strip()
        if text.startswith("s3://"):
            return cls(text)
        path = Path(text).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            return cls(str(path.resolve()))
        except (RuntimeError, OSError):
            # a symlink loop (RuntimeError before Python 3.13): keep the path as written, so the entry is
            # reported by `local_file_problem` as a bad entry instead of aborting the whole load
            return cls(os.path.abspath(path))

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @property
    def bucket(self) -> str:
        self._require_s3()
        return self.uri[5:].partition("/")[0]

    @property
    def key(self) -> str:
        self._require_s3()
        return self.uri[5:].partition("/")[2]

    @property
    def path(self) -> Path:
        if self.is_s3:
            raise ValueError(f"{self.uri} is an S3 object, not a local file")
        return Path(self.uri)

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    def _require_s3(self) -> None:
        if not self.is_s3:
            raise ValueError(f"{self.uri} is a local file, not an S3 object")

    def __str__(self) -> str:
        return self.uri


# --- reading and checking images before any call ------------------------------------------------------

MB = 1024 * 1024


@dataclass(frozen=True)
class ImageLimits:
    """What one Rekognition operation accepts; an image outside them is rejected before it costs a call."""

    max_bytes: int = 5 * MB
    max_s3_bytes: int = 15 * MB
    min_side: int = 80
    max_side: int = 10_000
    formats: tuple[str, ...] = ("jpeg", "png")
    max_aspect_ratio: float | None = None  # longer side / shorter side; None: no documented limit


DETECT_LABELS_LIMITS = ImageLimits()
# DetectCustomLabels (Custom Labels guide, "Guidelines and quotas", Detection): 4 MB as bytes, 15 MB in S3,
# 64 to 4096 px a side, aspect ratio at most 20:1, PNG or JPEG.
CUSTOM_LABELS_LIMITS = ImageLimits(
    max_bytes=4 * MB, max_s3_bytes=15 * MB, min_side=64, max_side=4096, max_aspect_ratio=20.0
)


class ImageProblem(Exception):
    """An image that cannot be sent; the message is the reason shown in the report."""


@dataclass(frozen=True)
class LoadedImage:
    """An image ready to send: its bytes for a local file, nothing for S3 (the service reads it there)."""

    ref: ImageRef
    image_id: str
    data: bytes | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    changes: tuple[str, ...] = ()


_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"GIF87a", 0, "gif"),
    (b"GIF89a", 0, "gif"),
    (b"BM", 0, "bmp"),
    (b"II*\x00", 0, "tiff"),
    (b"MM\x00*", 0, "tiff"),
)


def sniff_format(head: bytes) -> str | None:
    """The format from the file's first bytes (never from its name, which often lies)."""
    for signature, offset, name in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"avif"):
        return "avif" if head[8:12] == b"avif" else "heic"
    return None


def image_dimensions(data: bytes, image_format: str) -> tuple[int, int] | None:
    """Width and height from a PNG or JPEG header; None when the header is missing or cut short."""
    if image_format == "png":
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return None
    if image_format == "jpeg":
        return _jpeg_dimensions(data)
    return None


_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    position = 2
    size = len(data)
    while position + 4 <= size:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in _JPEG_SOF_MARKERS:
            if position + 9 > size:
                return None
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return width, height
        if length < 2:
            return None
        position += 2 + length
    return None


def _megabytes(count: int) -> str:
    return f"{count / MB:.1f} MB" if count >= MB / 10 else f"{count / 1024:.0f} KB"


@dataclass(frozen=True)
class Preparation:
    """What the harness may do to an image the operation would refuse, instead of rejecting it."""

    convert: bool = False  # re-encode WebP, GIF, BMP, TIFF, HEIC (with pillow-heif) and CMYK JPEG as RGB JPEG
    fit: bool = False  # shrink an image over the byte or pixel limits until it fits

    def hint(self, flag: str) -> str:
        return f"; {flag} would fix it" if not getattr(self, flag.lstrip("-")) else ""


READ_LIMIT_WHEN_FITTING = 256 * MB


def jpeg_components(data: bytes) -> int | None:
    """Colour channels of a JPEG (1 grey, 3 YCbCr, 4 CMYK), from its frame header."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        if marker in _JPEG_SOF_MARKERS:
            return data[position + 9] if position + 9 < len(data) else None
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def is_truncated(data: bytes, image_format: str) -> bool:
    """A file cut short (an interrupted copy or download) lacks its closing marker."""
    if image_format == "png":
        return b"IEND" not in data[-64:]
    if image_format == "jpeg":
        return b"\xff\xd9" not in data[-1024:]
    return False


def local_file_problem(path: str | Path) -> str | None:
    """Why a local path can never be read as an image file, or None (a regular file, or a missing one).

    Checked without opening the file: a FIFO named x.jpg would block an open or a read forever, and
    /dev/zero would be read without end. A missing file is left to `load_image` ("file not found"), so
    that a dataset can be checked before all its images exist.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a symlink loop (too many levels of symbolic links), not an image file"
        return None  # permission and the like: load_image says so per image
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None  # a folder is load_image's "is a directory", as before
    return f"{_file_kind(mode)}, not a regular image file"


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """At most `max_bytes` of a regular file; ImageProblem for anything else or anything longer.

    The file is opened with O_NONBLOCK (a FIFO cannot block the open) and checked with fstat (a device or
    a FIFO swapped in after a stat is still refused), then read in chunks up to `max_bytes` + 1, so a
    file that grows, or lies about its size, is never read without bound.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise ImageProblem("file not found") from None
    except IsADirectoryError:
        raise ImageProblem("is a directory, not an image file") from None
    except PermissionError:
        raise ImageProblem("cannot read: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageProblem("cannot read: a symlink loop (too many levels of symbolic links)") from None
        raise ImageProblem(f"cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise ImageProblem("is a directory, not an image file")
        if not stat.S_ISREG(mode):
            raise ImageProblem(f"{_file_kind(mode)}, not a regular image file: not read")
        chunks: list[bytes] = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(descriptor, min(remaining, MB))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise ImageProblem(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise ImageProblem(f"too large to read: more than {_megabytes(max_bytes)}")
    return data


def _read(ref: ImageRef, limits: ImageLimits, preparation: Preparation) -> bytes:
    path = ref.path
    problem = local_file_problem(path)
    if problem is not None:
        raise ImageProblem(problem)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageProblem("file not found") from None
    except OSError as exc:
        raise ImageProblem(f"cannot read: {exc.strerror or exc}") from None
    if size > limits.max_bytes and not preparation.fit:
        raise ImageProblem(
            f"too large: {_megabytes(size)} as bytes, the limit is {_megabytes(limits.max_bytes)}; "
            f"--fit shrinks it, or put it in S3 (limit {_megabytes(limits.max_s3_bytes)})"
        )
    if size > READ_LIMIT_WHEN_FITTING:
        raise ImageProblem(f"too large to read: {_megabytes(size)}")
    bound = READ_LIMIT_WHEN_FITTING if preparation.fit else limits.max_bytes
    try:
        return read_regular_file(path, bound)
    except ImageProblem as problem:
        if str(problem).startswith("too large to read") and not preparation.fit:
            raise ImageProblem(
                f"too large: more than {_megabytes(limits.max_bytes)} as bytes (the file grew while "
                "it was read); --fit shrinks it, or put it in S3"
            ) from None
        raise


AS_IS = Preparation()


def load_image(
    ref: ImageRef, limits: ImageLimits = DETECT_LABELS_LIMITS, preparation: Preparation = AS_IS
) -> LoadedImage:
    """Read and check a local image; an S3 image is passed by reference and checked by the service.

    Raises ImageProblem with a reason a person can act on. With `preparation`, images the operation
    would refuse are re-encoded or shrunk; the image id then names the change, so the cache never mixes
    answers about an original and its converted copy.
    """
    if ref.is_s3:
        return LoadedImage(ref=ref, image_id=ref.uri)
    original = _read(ref, limits, preparation)
    if not original:
        raise ImageProblem("empty file")
    image_format = sniff_format(original[:16])
    if image_format is None:
        raise ImageProblem("not an image: unknown format (JPEG and PNG are accepted)")
    data, changes = original, []
    if image_format == "jpeg" and jpeg_components(original) == 4:
        if not preparation.convert:
            raise ImageProblem("CMYK JPEG: Rekognition needs RGB" + preparation.hint("--convert"))
        data, changes = _convert(data, "CMYK JPEG"), ["rgb-jpeg"]
        image_format = "jpeg"
    elif image_format not in limits.formats:
        accepted = " and ".join(name.upper() for name in limits.formats)
        if not preparation.convert:
            raise ImageProblem(
                f"unsupported format {image_format.upper()} (only {accepted} are accepted)"
                + preparation.hint("--convert")
            )
        data, changes = _convert(data, image_format.upper()), ["rgb-jpeg"]
        image_format = "jpeg"
    dimensions = image_dimensions(data, image_format)
    if dimensions is None:
        raise ImageProblem(f"corrupt or truncated {image_format.upper()}: no image size in its header")
    if is_truncated(data, image_format):
        raise ImageProblem(f"truncated {image_format.upper()}: the file ends before the image does")
    width, height = dimensions
    if min(width, height) < limits.min_side:
        raise ImageProblem(f"too small: {width}x{height} px, at least {limits.min_side} px a side")
    if limits.max_aspect_ratio and max(width, height) > limits.max_aspect_ratio * min(width, height):
        raise ImageProblem(
            f"too elongated: {width}x{height} px, the aspect ratio may be at most "
            f"{limits.max_aspect_ratio:g}:1"
        )
    if max(width, height) > limits.max_side or len(data) > limits.max_bytes:
        if not preparation.fit:
            if max(width, height) > limits.max_side:
                raise ImageProblem(
                    f"too big: {width}x{height} px, at most {limits.max_side} px a side"
                    + preparation.hint("--fit")
                )
            raise ImageProblem(
                f"too large: {_megabytes(len(data))} as bytes, the limit is {_megabytes(limits.max_bytes)}"
                + preparation.hint("--fit")
            )
        from evaluation.imagefix import ConversionError, fit_within

        try:
            data, (width, height) = fit_within(data, max_bytes=limits.max_bytes, max_side=limits.max_side)
        except ConversionError as exc:
            raise ImageProblem(f"cannot fit {image_format.upper()} within the limits: {exc}") from None
        image_format = "jpeg"
        changes.append(f"fit-{limits.max_bytes}-{limits.max_side}")
    digest = hashlib.sha256(original).hexdigest()
    image_id = f"sha256:{digest}" + "".join(f"+{change}" for change in changes)
    return LoadedImage(
        ref=ref,
        image_id=image_id,
        data=data,
        format=image_format,
        width=width,
        height=height,
        orientation=exif_orientation(data) if image_format == "jpeg" else None,
        changes=tuple(changes),
    )


def _convert(data: bytes, what: str) -> bytes:
    from evaluation.imagefix import ConversionError, to_rgb_jpeg

    try:
        return to_rgb_jpeg(data)
    except ConversionError as exc:
        raise ImageProblem(f"cannot convert {what}: {exc}") from None


def exif_orientation(data: bytes) -> int | None:
    """EXIF orientation (1-8): the service applies it, so boxes are in the rotated image's frame."""
    from evaluation.imagefix import read_orientation

    return read_orientation(data)
