"""The package as people install it: `python -m build` makes a wheel, it installs in a fresh virtual
environment outside the repo, and `rekognition-eval demo` there evaluates the sample it carries.

The fresh environment gets the wheel only (`--no-deps`); its dependencies come from this test
environment through a .pth line placed after the venv's own site-packages, so the `evaluation` imported
is the wheel's, never the repo's. .ci/run does the same with every dependency installed from the index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode and "Could not find a version" in done.stdout + done.stderr:
        pytest.skip("no package index for the isolated build's setuptools")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (found,) = out.glob("rekognition_eval-*.whl")
    return found


def test_the_wheel_carries_the_sample_the_model_and_the_page_assets(wheel: Path) -> None:
    from evaluation.version import __version__

    assert wheel.name.startswith(f"rekognition_eval-{__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    sample = {name for name in names if name.startswith("evaluation/data/sample/images/")}
    assert len(sample) == 72
    for name in (
        "evaluation/data/sample/manifest.jsonl",
        "evaluation/data/sample/label_map.yaml",
        "evaluation/data/local_model/efficientnet_lite0.onnx",
        "evaluation/reports/assets/report.js",
        "evaluation/cli/demo.py",
    ):
        assert name in names
    assert not any(name.startswith(("tests/", "datasets/")) for name in names)


def test_demo_runs_from_the_installed_wheel_outside_the_repo(wheel: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    python = environment / "bin" / "python"
    # nothing of this repo or of this test environment on the path (a PYTHONPATH holding the repo would
    # make pip think the package is installed already)
    env = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")
    } | {"MPLCONFIGDIR": str(tmp_path / "mpl"), "HOME": str(tmp_path / "home")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
            env=env,
        ).strip()
    )
    # the dependencies from this environment, after the wheel's own site-packages
    (site / "zz-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.check_output(
        [str(python), "-c", "import evaluation; print(evaluation.__file__)"], cwd=work, env=env, text=True
    )
    assert Path(where.strip()).is_relative_to(environment)  # the wheel's copy, not the repo's
    done = subprocess.run(
        [str(environment / "bin" / "rekognition-eval"), "demo", "--cache", str(tmp_path / "cache.sqlite")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    page = work / "reports" / "sample-demo" / "report.html"
    assert page.is_file() and str(page.resolve()) in done.stdout
    assert "Person" in done.stdout and "72 evaluated of 72" in done.stdout
    # a first run says nothing but ours: no third-party chatter such as matplotlib's font cache line; the
    # warnings are the sample's labels with positives never returned
    lines = done.stderr.splitlines()
    assert lines and all(line.startswith("warning: ") and "never returned" in line for line in lines)
