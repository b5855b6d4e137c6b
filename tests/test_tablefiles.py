"""The exact curves written from the analysis' CurveTable, a row group (or CSV chunk) at a time, are the
bytes of its whole frame written at once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation import tablefiles
from evaluation.stats.metrics import ScoredPairs, exact_curve_table
from evaluation.tablefiles import CURVES_CSV_FILE, CURVES_FILE, read_curves, write_curves


def _pairs(seed: int, n_images: int = 400) -> ScoredPairs:
    rng = np.random.default_rng(seed)
    truth = rng.random((n_images, 5)) < np.array([0.4, 0.1, 0.02, 0.0, 0.3])
    returned = rng.random(truth.shape) < np.where(truth, 0.8, 0.4)
    returned[:, 4] = False  # a label never returned: no rows
    image, label = np.nonzero(returned)
    return ScoredPairs(
        labels=("Cat", "Dog", 'Ünïcode, "quoted"', "Empty", "Never"),
        n_images=n_images,
        support=truth.sum(axis=0),
        label_idx=label,
        image_idx=image,
        confidence=np.round(rng.uniform(50, 100, image.size), 3),
        is_true=truth[image, label],
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("seed", "rows"), [(0, 7), (1, 64), (2, 10**6)])
def test_curves_from_the_table_are_the_bytes_of_its_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, rows: int
) -> None:
    monkeypatch.setattr(tablefiles, "PARQUET_ROW_GROUP_ROWS", rows)  # many row groups, the last short
    monkeypatch.setattr(tablefiles, "CSV_CHUNK_ROWS", rows)
    table = exact_curve_table(_pairs(seed))
    whole, blocks = tmp_path / "whole", tmp_path / "blocks"
    whole.mkdir(), blocks.mkdir()
    frame = table.frame()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False),
        whole / CURVES_FILE,
        compression="zstd",
        row_group_size=rows,
    )
    frame.to_csv(whole / CURVES_CSV_FILE, index=False)
    write_curves(blocks, table, csv=True)
    assert _digest(blocks / CURVES_FILE) == _digest(whole / CURVES_FILE)
    assert _digest(blocks / CURVES_CSV_FILE) == _digest(whole / CURVES_CSV_FILE)
    pd.testing.assert_frame_equal(read_curves(blocks), pd.read_parquet(whole / CURVES_FILE))
    write_curves(blocks, table)  # without --curves-csv: an earlier curves.csv goes
    assert not (blocks / CURVES_CSV_FILE).exists()


def test_an_empty_curve_table_writes_the_empty_frames_bytes(tmp_path: Path) -> None:
    empty = exact_curve_table(ScoredPairs(("A",), 3, np.array([1]), [], [], [], []))
    whole, blocks = tmp_path / "whole", tmp_path / "blocks"
    whole.mkdir(), blocks.mkdir()
    write_curves(whole, empty.frame(), csv=True)
    write_curves(blocks, empty, csv=True)
    assert _digest(blocks / CURVES_FILE) == _digest(whole / CURVES_FILE)
    assert _digest(blocks / CURVES_CSV_FILE) == _digest(whole / CURVES_CSV_FILE)
