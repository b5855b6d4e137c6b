"""Write a folder so that a kill leaves the old one or the new one, never a mix.

The new folder is built in a hidden staging folder beside the old one (on the same file system, so a
rename between them is atomic), starting as a hard-linked copy of it, and then swapped in: one
renameat2(RENAME_EXCHANGE) on Linux, two renames elsewhere (undone by the next write if a kill falls
between them). Every writer must replace files (write beside and rename), never write into one: a hard
link shares the old folder's file. Used by evaluation.runfolder, which knows what a run folder holds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import stat
import sys
from pathlib import Path

_STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<kind>staging|previous)-(?P<pid>\d+)$")


def sibling(out_dir: Path, kind: str) -> Path:
    """A hidden folder beside `out_dir` on the same file system, so renames between them are atomic."""
    return out_dir.with_name(f".{out_dir.name}.{kind}-{os.getpid()}")


def link_or_copy(source: str, target: str) -> None:
    """Hard link an existing file into the staging folder (every writer here replaces a file, never writes
    into it, so the old folder is untouched); copy where the file system has no hard links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def recover(out_dir: Path) -> None:
    """Undo what a killed writer left beside `out_dir`: its staging folder is dropped; an old folder moved
    aside by the two-rename swap (where an atomic exchange is not available) is put back if `out_dir` is
    missing, else dropped."""
    for entry in out_dir.parent.iterdir():
        found = _STAGING.match(entry.name)
        if not found or found["name"] != out_dir.name or _alive(int(found["pid"])):
            continue
        if found["kind"] == "previous" and not out_dir.exists():
            os.rename(entry, out_dir)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def swap_in(staging: Path, out_dir: Path) -> None:
    """Put `staging` in `out_dir`'s place: one atomic exchange on Linux, else two renames (recovered by
    the next write if a kill falls between them); then the old folder is removed."""
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    if exchange(staging, out_dir):
        shutil.rmtree(staging, ignore_errors=True)  # now the old folder
        return
    previous = sibling(out_dir, "previous")
    os.rename(out_dir, previous)
    os.rename(staging, out_dir)
    shutil.rmtree(previous, ignore_errors=True)


def exchange(first: Path, second: Path) -> bool:
    """renameat2(RENAME_EXCHANGE): swap two paths atomically; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    code = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    return code == 0


def file_identities(folder: Path) -> dict[str, tuple[int, int]]:
    """Every regular file under `folder` (no symlink followed) by relative POSIX path: (device, inode).
    A file this write created or replaced has a new identity; one carried over keeps its own."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root, name)
            status = path.lstat()
            if stat.S_ISREG(status.st_mode):
                found[path.relative_to(folder).as_posix()] = (status.st_dev, status.st_ino)
    return found
