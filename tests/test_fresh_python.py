"""A fresh interpreter started for this package's work imports this package, wherever it is started."""

from __future__ import annotations

import subprocess
from pathlib import Path

import evaluation
from evaluation.fresh_python import package_python


def test_it_imports_this_package_not_one_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "__init__.py").write_text("raise ImportError('another version')\n")
    command, env = package_python("import evaluation; print(evaluation.__file__)")
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert Path(done.stdout.strip()) == Path(evaluation.__file__).resolve()


def test_the_working_directory_is_dropped_only_when_python_put_it_first(tmp_path: Path) -> None:
    command, env = package_python("import sys; print(repr(sys.path[0]))")
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() not in ("''", repr(str(tmp_path)))
