"""What a report holds at a million images, made smaller without changing a value (issue 19): the stored
columns read a batch of rows at a time and narrowed, images.csv's equal cells as one object, the truths
of equal label texts as one set, the scores made by insertion, a run's images.csv frame made
afresh once the items it was made among are let go. Each against the way it replaces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from evaluation.calls import columns as stored_columns
from evaluation.calls.cache import ResponseCache
from evaluation.calls.columns import NotStored
from evaluation.memory import give_back_freed_memory
from evaluation.operations.label_columns import (
    _INT_FIELDS,
    LABELS_CODEC,
    LabelColumns,
    _narrowed,
    parents_text,
    predictions_chunks,
)
from evaluation.operations.labels import OPERATION, encode_labels
from evaluation.operations.matching import match, predictions_frame
from evaluation.tablefiles import PackedText, shared_values
from tests.support.scale_answers import answers as generated_answers

PARAMS = {"MinConfidence": 0.0, "MaxLabels": 1000}


def _stored(tmp_path, count: int) -> tuple[ResponseCache, list[str], list[list[str]]]:
    generated = list(generated_answers(count, seed=5))
    cache = ResponseCache(tmp_path / "c.sqlite", codecs=(LABELS_CODEC,))
    keys = [f"k{index}" for index in range(count)]
    for key, (_, response, _) in zip(keys, generated, strict=True):
        cache.put(
            key, image_id=key, operation="DetectLabels", params=PARAMS, response=response, model_version=None
        )
    return cache, keys, [truth for _, _, truth in generated]


def test_columns_read_a_batch_at_a_time_are_those_of_one_read(tmp_path, monkeypatch):
    cache, keys, _ = _stored(tmp_path, 30)
    order = [keys[7], *keys, keys[0], keys[7]]  # any order, keys twice
    with cache:
        whole = cache.read_columns(LABELS_CODEC, order)
        monkeypatch.setattr(stored_columns, "FETCH_ROWS", 4)
        batched = cache.read_columns(LABELS_CODEC, order)
        empty = cache.read_columns(LABELS_CODEC, [])
        with pytest.raises(NotStored, match="2 of the 33 answers"):  # missing rows in a later batch
            cache.read_columns(LABELS_CODEC, [*keys, "nope", "nope", keys[1]])
    assert batched.names == whole.names
    for name in whole.fields:
        assert batched.fields[name].dtype == whole.fields[name].dtype
        np.testing.assert_array_equal(batched.fields[name], whole.fields[name])
        np.testing.assert_array_equal(batched.counts[name], whole.counts[name])
        assert empty.fields[name].size == 0 and empty.counts[name].dtype == np.int64


def test_narrowed_columns_hold_the_same_values_and_score_the_same(tmp_path):
    cache, keys, truths = _stored(tmp_path, 60)
    with cache:
        columns = LabelColumns.from_store(cache.read_columns(LABELS_CODEC, keys))
    wide = dataclasses.replace(
        columns, **{name: getattr(columns, name).astype(np.int32) for name in _INT_FIELDS}
    )
    assert all(getattr(columns, name).itemsize < 4 for name in _INT_FIELDS)
    for name in _INT_FIELDS:
        np.testing.assert_array_equal(getattr(columns, name), getattr(wide, name))
    for use_parents in (True, False):
        pd.testing.assert_frame_equal(
            predictions_frame(columns, use_parents=use_parents),
            predictions_frame(wide, use_parents=use_parents),
        )
    sets = [frozenset(truth) for truth in truths]
    vocabulary = sorted(set().union(*sets))
    narrow_match, wide_match = (
        match(columns, sets, vocabulary=vocabulary),
        match(wide, sets, vocabulary=vocabulary),
    )
    for field in ("label_idx", "image_idx", "confidence", "is_true", "support"):
        np.testing.assert_array_equal(getattr(narrow_match.pairs, field), getattr(wide_match.pairs, field))
    pd.testing.assert_frame_equal(narrow_match.unjudged, wide_match.unjudged)
    codes, texts = parents_text(columns, ";")
    assert (codes.tolist(), texts) == tuple(
        x.tolist() if i == 0 else x for i, x in enumerate(parents_text(wide, ";"))
    )
    images = [f"i{index}" for index in range(len(columns))]
    for narrow_part, wide_part in zip(
        predictions_chunks(images, columns, separator=";", chunk_answers=7),
        predictions_chunks(images, wide, separator=";", chunk_answers=7),
        strict=True,
    ):
        assert narrow_part.equals(wide_part)
    for position in (0, 13, len(columns) - 1):
        assert columns.answer(position) == wide.answer(position)
        flags = np.zeros(len(columns.names), dtype=bool)
        flags[1::3] = True
        for through in (True, False):
            np.testing.assert_array_equal(
                columns.counting_boxes(position, flags, through_parents=through),
                wide.counting_boxes(position, flags, through_parents=through),
            )


def test_counts_are_narrowed_only_where_two_of_them_and_one_fit():
    # matching adds a label's parents and aliases, plus one: twice the largest count, plus one, must fit
    assert _narrowed(np.array([0, 63], np.int32)).dtype == np.int8
    assert _narrowed(np.array([64], np.int32)).dtype == np.int16
    assert _narrowed(np.array([2**14 - 1], np.int32)).dtype == np.int16
    assert _narrowed(np.array([2**14], np.int32)).dtype == np.int32
    assert _narrowed(np.zeros(0, np.int32)).dtype == np.int8
    codes = np.array([0, 5, 199], np.int32)  # codes: only indices, below the number of names
    assert _narrowed(codes, 200).dtype == np.int16 and _narrowed(codes, 127).dtype == np.int8
    assert _narrowed(codes, 2**15).dtype == np.int32
    np.testing.assert_array_equal(_narrowed(codes, 2**15), codes)


def test_images_frame_shares_equal_cells_without_changing_a_value():
    uris = [f"s3://b/{index}.jpg" for index in range(2000)]
    frame = pd.DataFrame(
        {
            "image": list(uris),
            "labels": [encode_labels({f"L{index % 7}"}) for index in range(2000)],
            "status": ["cached" if index % 5 else "failed" for index in range(2000)],
            "image_id": [f"s3://b/{index}.jpg" if index % 9 != 8 else "other" for index in range(2000)],
            "reason": [None] * 2000,
            "model_version": [None if index % 3 else "3.0" for index in range(2000)],
        },
        dtype=object,
    )
    before = {name: frame[name].tolist() for name in frame.columns}
    shared = shared_values(frame.copy())
    assert [str(dtype) for dtype in shared.dtypes] == ["object"] * len(frame.columns)
    assert {name: shared[name].tolist() for name in shared.columns} == before
    status = shared["status"].tolist()
    assert status[1] is status[2]
    assert len({id(value) for value in shared["labels"]}) == 7
    image, image_id = shared["image"].tolist(), shared["image_id"].tolist()
    assert image_id[1] is image[1] and image_id[8] == "other"


def test_packed_text_gives_the_frame_again_with_its_strings_made_afresh():
    frame = pd.DataFrame(
        {
            "image": [f"s3://b/{index}.jpg" for index in range(50)],
            "status": ["cached" if index % 5 else "failed" for index in range(50)],
            "reason": [None] * 50,
            "empty": [""] * 50,
            "surrogate": [f"/data/caf\udce9{index}.jpg" for index in range(50)],  # a file name's bytes
            "numbers": [index if index % 2 else None for index in range(50)],
            "nan": ["x" if index % 3 else float("nan") for index in range(50)],
            "bytes": [b"x"] * 50,  # Arrow would read bytes as text: kept as they are
            "mixed": ["a", 1.5] * 25,
        },
        dtype=object,
        index=pd.RangeIndex(0, 50),
    )
    before = {name: frame[name].tolist() for name in frame.columns}
    packed = PackedText(frame)
    assert set(packed.columns) == set(frame.columns)
    assert not isinstance(packed.columns["image"], np.ndarray)  # held as Arrow, no str object per cell
    assert not isinstance(packed.columns["reason"], np.ndarray)
    for kept in ("surrogate", "numbers", "nan", "bytes", "mixed"):
        assert isinstance(packed.columns[kept], np.ndarray)
    again = packed.unpacked()
    assert list(again.columns) == list(frame.columns)
    assert again.index.equals(frame.index)
    assert [str(dtype) for dtype in again.dtypes] == ["object"] * len(frame.columns)
    for name, values in before.items():
        got = again[name].tolist()
        assert [type(value) for value in got] == [type(value) for value in values], name
        assert [repr(value) for value in got] == [repr(value) for value in values], name
    # new strings: the old ones can go with what they were made among
    assert all(new is not old for new, old in zip(again["image"], before["image"], strict=True))
    assert again["status"].iloc[1] is again["status"].iloc[2]  # equal cells shared, as images.csv's


def test_packed_text_of_an_empty_frame():
    frame = pd.DataFrame({"image": [], "reason": []}, dtype=object)
    again = PackedText(frame).unpacked()
    assert list(again.columns) == ["image", "reason"] and len(again) == 0
    assert [str(dtype) for dtype in again.dtypes] == ["object", "object"]


def test_equal_label_texts_give_one_truth():
    texts = [encode_labels({"a", "b"}), encode_labels({"a", "b"}), None, encode_labels({"c"}), None]
    truths = OPERATION.truths(pd.DataFrame({"labels": texts}, dtype=object), ())
    assert truths == [
        frozenset({"a", "b"}),
        frozenset({"a", "b"}),
        frozenset(),
        frozenset({"c"}),
        frozenset(),
    ]
    assert truths[0] is truths[1] and truths[2] is truths[4]


def test_giving_back_freed_memory_changes_nothing():
    values = np.arange(10)
    give_back_freed_memory()
    give_back_freed_memory()
    np.testing.assert_array_equal(values, np.arange(10))


@pytest.mark.parametrize("order", ["by image and label", "shuffled", "empty"])
def test_scores_inserted_among_ordered_pairs_are_the_former_frame(order):
    from evaluation.analysis.score_table import scores_frame as _scores
    from tests.analysis.test_scores_frame import former_scores
    from tests.support.scored import pairs_of

    rng = np.random.default_rng(7)
    n_images, n_labels = 300, 9
    truth = rng.random((n_images, n_labels)) < 0.3
    returned = rng.random(truth.shape) < np.where(truth, 0.7, 0.2)
    if order == "empty":
        returned[:] = False
    image_idx, label_idx = np.nonzero(returned)
    confidence = np.round(rng.uniform(50, 100, image_idx.size), 1)
    if order == "shuffled":
        shuffle = rng.permutation(image_idx.size)
        image_idx, label_idx, confidence = image_idx[shuffle], label_idx[shuffle], confidence[shuffle]
    pairs = pairs_of(truth, image_idx, label_idx, confidence, floor=50.0)
    positive_images, positive_labels = np.nonzero(truth)
    names = [f"img{i}.jpg" for i in range(n_images)]
    for positives in (
        (positive_images, positive_labels),
        (positive_images[::-1], positive_labels[::-1]),  # in any order
        (np.zeros(0, np.int64), np.zeros(0, np.int64)),
    ):
        pd.testing.assert_frame_equal(
            _scores(pairs, positives, names), former_scores(pairs, positives, names)
        )
