"""scores.parquet written a row group at a time (ScoreTable.blocks through write_parquet): the bytes of
the whole frame converted and written at once (pq.write_table, as before), and the same frame read back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evaluation import tablefiles
from evaluation.analysis.score_table import ScoreTable
from evaluation.tablefiles import write_parquet
from tests.support.scored import pairs_of


def table_of(
    seed: int, n_images: int, n_labels: int, *, shuffled: bool = False, duplicates: bool = False
) -> ScoreTable:
    rng = np.random.default_rng(seed)
    truth = rng.random((n_images, n_labels)) < 0.3
    returned = rng.random(truth.shape) < np.where(truth, 0.7, 0.3)
    image_idx, label_idx = np.nonzero(returned)
    image_idx = image_idx.astype(np.int32)
    confidence = np.round(rng.uniform(50, 100, image_idx.size), 1)
    if shuffled:
        order = rng.permutation(image_idx.size)
        image_idx, label_idx, confidence = image_idx[order], label_idx[order], confidence[order]
    pairs = pairs_of(truth, image_idx, label_idx, confidence, floor=50.0)
    positives = np.nonzero(truth)
    names = [f"img{i % (n_images // 2) if duplicates else i}.jpg" for i in range(n_images)]
    return ScoreTable(pairs, positives, names)


def one_shot(table: ScoreTable, path: Path, row_group_size: int | None = None) -> Path:
    """The former write: the whole frame converted, then pq.write_table."""
    frame = pa.Table.from_pandas(table.frame(), preserve_index=False)
    pq.write_table(frame, path, compression="zstd", row_group_size=row_group_size)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("n_images", "n_labels", "rows", "shuffled", "duplicates"),
    [
        (60, 7, 50, False, False),  # int8 image codes; several row groups
        (300, 5, 64, False, False),  # int16 image codes
        (300, 5, 64, False, True),  # names repeated: a string per row, not a dictionary
        (300, 5, 64, True, False),  # pairs out of order: the whole frame, cut into row groups
        (40, 3, 10_000, False, False),  # one row group
    ],
)
def test_blocks_write_the_bytes_of_the_whole_frame(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    n_images: int,
    n_labels: int,
    rows: int,
    shuffled: bool,
    duplicates: bool,
) -> None:
    table = table_of(n_images + n_labels, n_images, n_labels, shuffled=shuffled, duplicates=duplicates)
    monkeypatch.setattr(tablefiles, "PARQUET_ROW_GROUP_ROWS", rows)
    write_parquet(tmp_path / "new.parquet", table)
    reference = one_shot(table, tmp_path / "old.parquet", row_group_size=rows)
    assert digest(tmp_path / "new.parquet") == digest(reference)
    groups = pq.ParquetFile(tmp_path / "new.parquet").metadata
    assert groups.num_row_groups == -(-len(table.frame()) // rows)
    back, expected = pd.read_parquet(tmp_path / "new.parquet"), pd.read_parquet(reference)
    pd.testing.assert_frame_equal(back, expected)
    frame = table.frame()  # the frame itself, NaN as not returned
    assert back["image"].astype(object).tolist() == frame["image"].astype(object).tolist()
    assert back["label"].astype(object).tolist() == frame["label"].astype(object).tolist()
    np.testing.assert_array_equal(back["confidence"].to_numpy(), frame["confidence"].to_numpy())
    np.testing.assert_array_equal(back["positive"].to_numpy(), frame["positive"].to_numpy())


@pytest.mark.parametrize("rows", [1, 7, 50, 333])
def test_the_blocks_are_the_frame_converted(rows: int) -> None:
    """Every block cut to `rows` rows and the schema with its pandas metadata, positives never returned
    falling on either side of a block's edge."""
    table = table_of(rows, 120, 6)
    blocks = list(table.blocks(rows))
    whole = pa.Table.from_pandas(table.frame(), preserve_index=False)
    assert [block.num_rows for block in blocks[:-1]] == [rows] * (len(blocks) - 1)
    assert 0 < blocks[-1].num_rows <= rows
    joined = pa.concat_tables(blocks)
    assert joined.schema.equals(whole.schema, check_metadata=True)
    assert joined.equals(whole)


def test_no_pairs_and_no_positives(tmp_path: Path) -> None:
    truth = np.zeros((5, 3), dtype=bool)
    empty = np.zeros(0, np.int64)
    table = ScoreTable(pairs_of(truth, empty, empty, np.zeros(0)), (empty, empty), list("abcde"))
    write_parquet(tmp_path / "new.parquet", table)
    assert digest(tmp_path / "new.parquet") == digest(one_shot(table, tmp_path / "old.parquet"))
    assert len(pd.read_parquet(tmp_path / "new.parquet")) == 0


def test_at_pyarrows_own_row_group_size(tmp_path: Path) -> None:
    """PARQUET_ROW_GROUP_ROWS is pq.write_table's default: a table of more rows than that, written in
    blocks, has the bytes of pq.write_table given the whole (and no row_group_size)."""
    table = table_of(1, 9_000, 300)  # 1.3 million rows
    assert len(table.frame()) > tablefiles.PARQUET_ROW_GROUP_ROWS
    write_parquet(tmp_path / "new.parquet", table)
    reference = one_shot(table, tmp_path / "old.parquet")
    assert digest(tmp_path / "new.parquet") == digest(reference)
    metadata = pq.ParquetFile(reference).metadata
    assert metadata.row_group(0).num_rows == tablefiles.PARQUET_ROW_GROUP_ROWS


def test_a_block_cut_short_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A block ending inside a row group would cut it: other bytes than the whole table's."""

    class Uneven:
        def blocks(self, rows: int):
            frame = pa.table({"x": np.arange(10)})
            yield frame.slice(0, 3)
            yield frame.slice(3)

    monkeypatch.setattr(tablefiles, "PARQUET_ROW_GROUP_ROWS", 4)
    with pytest.raises(ValueError, match="row group"):
        write_parquet(tmp_path / "x.parquet", Uneven())
    assert not list(tmp_path.iterdir())  # nothing left behind


@pytest.mark.parametrize("step", [1, 5, 64])
@pytest.mark.parametrize("case", ["ordered", "duplicate names", "out of order at a slice's edge"])
def test_the_frame_made_a_block_at_a_time_is_the_former_one(
    monkeypatch: pytest.MonkeyPatch, step: int, case: str
) -> None:
    """scores_frame's columns filled a block of `step` rows at a time, the pairs' order checked a slice
    at a time (pairs out of order only where two slices meet are sorted as before)."""
    from evaluation.analysis import score_table
    from tests.analysis.test_scores_frame import former_scores

    monkeypatch.setattr(score_table, "_STEP", step)
    rng = np.random.default_rng(step)
    n_images, n_labels = 80, 6
    truth = rng.random((n_images, n_labels)) < 0.3
    image_idx, label_idx = np.nonzero(rng.random(truth.shape) < np.where(truth, 0.7, 0.3))
    confidence = np.round(rng.uniform(50, 100, image_idx.size), 1)
    if case.startswith("out of order"):  # two ordered runs: the second starts where a slice does
        cut = step * (image_idx.size // step // 2)
        order = np.r_[cut : image_idx.size, 0:cut]
        image_idx, label_idx, confidence = image_idx[order], label_idx[order], confidence[order]
    pairs = pairs_of(truth, image_idx, label_idx, confidence, floor=50.0)
    names = [f"img{i % 30 if case == 'duplicate names' else i}.jpg" for i in range(n_images)]
    assert (score_table._inserted(pairs, np.nonzero(truth), n_labels) is None) == case.startswith("out")
    new = score_table.scores_frame(pairs, np.nonzero(truth), names)
    old = former_scores(pairs, np.nonzero(truth), names)
    assert old is not None
    pd.testing.assert_frame_equal(new, old)
    for name in ("image", "label"):
        if isinstance(old[name].dtype, pd.CategoricalDtype):
            assert new[name].cat.codes.dtype == old[name].cat.codes.dtype
