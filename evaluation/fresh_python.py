"""Fresh interpreters running this package's own code: the PNGs' process and the recorded answers'
readers. Not multiprocessing: spawning re-runs the caller's unguarded script (a notebook's, a user's),
and forking a process whose other threads may hold locks can hang the child."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# `python -c` puts the working directory first on the import path, before PYTHONPATH: a folder holding
# another version of this package (a checkout) or a user's own package named `evaluation` would be
# imported instead, and the child would fail or, worse, run other code. Dropped before the first import.
_NOT_FROM_THE_WORKING_DIRECTORY = "import sys\nif sys.path[:1] == ['']:\n    del sys.path[0]\n"


def package_python(code: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a fresh interpreter that runs `code` with this very package
    importable (an installed one or a source checkout's)."""
    package_root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    return [sys.executable, "-c", _NOT_FROM_THE_WORKING_DIRECTORY + code], {**os.environ, "PYTHONPATH": path}
