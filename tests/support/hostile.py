"""Hostile inputs made in the tests (decompression bombs) and a way to run code with bounded memory.

Code that may blow up on today's main runs in a child process with an address-space limit and a timeout,
so a regression fails the test instead of taking the shared machine's memory or hanging it.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

GB = 1024**3

# colour type -> samples a pixel: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA
_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width: int, height: int, colour_type: int = 2) -> bytes:
    """A valid PNG of width x height blank pixels, compressed row by row (never whole in memory): a few
    hundred KB that decode to width * height * samples bytes."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * _SAMPLES[colour_type])
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    palette = _chunk(b"PLTE", b"\xff\xff\xff" * 2) if colour_type == 3 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + palette
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def run_bounded(code: str, *, memory_limit: int = 3 * GB, timeout: float = 60) -> dict[str, object]:
    """Run `code` in a fresh Python with at most `memory_limit` of address space.

    Returns {"returncode", "stdout", "stderr", "peak_rss"} (peak resident memory in bytes, as the child
    measured it: /proc's VmHWM, else getrusage); a timeout is returncode None.
    """
    footer = (
        "\nimport json as _json, resource as _resource, sys as _sys\n"
        # VmHWM is this program's own high-water mark; ru_maxrss keeps the forking parent's across exec
        "try:\n"
        "    _hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
        "    _peak = int(_hwm.split()[1]) * 1024\n"
        "except (OSError, IndexError):\n"
        "    _peak = _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "_sys.stdout.write('\\nPEAK ' + _json.dumps(_peak))\n"
    )

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", code + footer],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
        )
    except subprocess.TimeoutExpired as expired:
        return {
            "returncode": None,
            "stdout": str(expired.stdout),
            "stderr": str(expired.stderr),
            "peak_rss": None,
        }
    peak = None
    if "\nPEAK " in done.stdout:
        peak = json.loads(done.stdout.rsplit("\nPEAK ", 1)[1])
    return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "peak_rss": peak}
