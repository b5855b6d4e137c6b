"""The exact curves written from the analysis' CurveTable, a row group (or CSV chunk) at a time, are the
bytes of its whole frame written at once; the answers file written ahead is the bytes of a direct write."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
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


class _Stored(dict):
    """Answers as the store gives them: their stored text by `raw_chunks`, failing when told to."""

    fail = False

    def raw_chunks(self, keys, *, size: int = 5000):
        for key in keys:
            if self.fail:
                raise OSError("no space left on device")
            yield key, json.dumps(self[key], sort_keys=True, separators=(",", ":"))


def _answers(count: int = 12_000) -> _Stored:
    return _Stored(
        {f"k{index:05d}": {"Labels": [{"Name": "Cat", "Confidence": index % 100}]} for index in range(count)}
    )


def _direct(tmp_path: Path, answers) -> bytes:
    with open(tmp_path / "direct.gz", "wb") as handle:
        tablefiles.write_answers_to(handle, answers)
    return (tmp_path / "direct.gz").read_bytes()


def test_answers_written_ahead_are_moved_into_place_with_the_bytes_of_a_direct_write(tmp_path):
    answers = _answers()
    ahead = tablefiles.AnswersAhead(answers, tmp_path)
    assert (
        len(ahead) == len(answers) and ahead["k00003"] == answers["k00003"] and list(ahead) == list(answers)
    )
    target = tmp_path / "run" / tablefiles.ANSWERS_FILE
    target.parent.mkdir()
    tablefiles.write_answers(target, ahead)
    assert not ahead.path.exists()
    assert target.read_bytes() == _direct(tmp_path, answers)
    assert json.loads(gzip.decompress(target.read_bytes()).splitlines()[1]) == {
        "key": "k00001",
        "response": answers["k00001"],
    }
    again = tmp_path / "again.gz"
    tablefiles.write_answers(again, ahead)  # the file is gone: written from the answers, the same bytes
    assert again.read_bytes() == target.read_bytes()


def test_answers_written_ahead_cross_file_systems_by_a_copy_beside(tmp_path, monkeypatch):
    answers = _answers(50)
    ahead = tablefiles.AnswersAhead(answers, tmp_path)
    replace = os.replace

    def across(source, destination):
        if Path(source) == ahead.path:
            raise OSError(18, "Invalid cross-device link")
        replace(source, destination)

    monkeypatch.setattr(tablefiles.os, "replace", across)
    target = tmp_path / "linked.gz"
    (tmp_path / "old.gz").write_bytes(b"the old run folder's file")
    os.link(tmp_path / "old.gz", target)  # a staged folder's files are hard links to the old folder's
    tablefiles.write_answers(target, ahead)
    assert target.read_bytes() == _direct(tmp_path, answers)
    assert (tmp_path / "old.gz").read_bytes() == b"the old run folder's file"
    assert not ahead.path.exists()


def test_answers_ahead_that_fail_or_are_discarded_leave_no_file(tmp_path):
    answers = _answers()
    answers.fail = True
    failed = tablefiles.AnswersAhead(answers, tmp_path)
    failed._thread.join()
    assert not failed.path.exists()  # removed at once: a full disk gets its space back
    with pytest.raises(OSError, match="no space left"):  # the run folder's own write names the error
        tablefiles.write_answers(tmp_path / "a.gz", failed)
    answers.fail = False
    tablefiles.write_answers(tmp_path / "a.gz", failed)
    assert (tmp_path / "a.gz").read_bytes() == _direct(tmp_path, answers)

    discarded = tablefiles.AnswersAhead(_answers(), tmp_path)
    discarded.discard()
    discarded._thread.join()
    assert not discarded.path.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.gz", "direct.gz"]
