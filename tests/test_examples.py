"""The example notebook runs, top to bottom, on the bundled sample: documentation that cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_executes_and_shows_short_results(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("onnxruntime")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # kept clean
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [cell.outputs for cell in notebook.cells if cell.cell_type == "code"]
    first = outputs[0][0]["data"]
    # the result displays as a short summary, not 30,000 characters of DataFrames
    assert len(first["text/plain"]) < 3000 and "Person" in first["text/plain"]
    assert "never returned" in first["text/plain"] and "<table" in first["text/html"]
    assert "0.4097" in json.dumps(outputs[1])  # result.labels.loc["Person", ...]
    assert any("image/png" in output.get("data", {}) for output in outputs[3])  # result.plot("Cup")
    assert "<iframe" in outputs[4][0]["data"]["text/html"]  # result.explore()
    assert "unreachable" in json.dumps(outputs[5])  # stricter objective: Person cannot reach recall 0.9
    assert "answers.jsonl.gz" in json.dumps(outputs[6]) and "report.html" in json.dumps(outputs[6])
