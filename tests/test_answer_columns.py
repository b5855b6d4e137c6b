"""The response store's columns (evaluation.calls.cache + evaluation.operations.label_columns) and
`run --backend replay --answers FILE.jsonl` (evaluation.calls.recorded)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from evaluation.calls.cache import ResponseCache
from evaluation.cli import main
from evaluation.operations.answers import labels_from_detect_custom_labels, labels_from_detect_labels
from evaluation.operations.base import ChunkedFrame
from evaluation.operations.label_columns import (
    LABELS_CODEC,
    LabelColumns,
    LabelsCodec,
    LazyAnswers,
    parents_text,
    predictions_chunks,
)
from evaluation.operations.labels import predictions_table
from evaluation.operations.matching import predictions_frame
from tests.support.scale_answers import answers as generated_answers

PARAMS = {"MinConfidence": 0.0, "MaxLabels": 1000}


def _store(cache: ResponseCache, responses: list[dict], operation: str = "DetectLabels") -> list[str]:
    keys = [f"k{index}" for index in range(len(responses))]
    for key, response in zip(keys, responses, strict=True):
        cache.put(
            key, image_id=key, operation=operation, params=PARAMS, response=response, model_version=None
        )
    return keys


def _responses(count: int) -> list[dict]:
    return [response for _, response, _ in generated_answers(count, seed=3)]


def test_columns_rebuild_every_answer_exactly_as_the_adapter_reads_it(tmp_path):
    responses = _responses(40)
    responses.append({"Labels": []})  # an answer with no label
    with ResponseCache(tmp_path / "c.sqlite", codecs=(LABELS_CODEC,)) as cache:
        keys = _store(cache, responses)
        order = [keys[5], keys[0], keys[40], keys[5]]  # any order, a key twice
        columns = LabelColumns.from_store(cache.read_columns(LABELS_CODEC, order))
    expected = [labels_from_detect_labels(responses[int(key[1:])]) for key in order]
    answers = LazyAnswers(columns)
    assert len(answers) == 4
    assert [answers[i] for i in range(4)] == [
        type(e)(labels=e.labels, model_version=None, entries=e.entries) for e in expected
    ]
    lowest = columns.lowest_confidence()
    assert lowest[0] == expected[0].lowest_confidence and np.isnan(lowest[2])


def test_a_batch_packs_each_answers_columns_as_storing_it_alone_does(tmp_path):
    responses = _responses(30)
    responses.insert(7, {"Labels": []})  # an answer with nothing in any field, inside the batch
    entries = [
        {"key": f"k{i}", "image_id": f"k{i}", "operation": "DetectLabels", "params": PARAMS}
        | {"response": response, "model_version": None}
        for i, response in enumerate(responses)
    ]
    with ResponseCache(tmp_path / "one.sqlite", codecs=(LABELS_CODEC,)) as alone:
        _store(alone, responses)
    with ResponseCache(tmp_path / "batch.sqlite", codecs=(LABELS_CODEC,)) as batch:
        batch.put_many(entries)

    interned = [name for name, _, is_interned in LABELS_CODEC.fields if is_interned]

    def stored(path):
        """Each answer's fields as stored; interned names as text (codes are the store's own)."""
        with sqlite3.connect(path) as connection:
            names = dict(connection.execute("SELECT code, name FROM names"))
            fields = [name for name, _, _ in LABELS_CODEC.fields]
            rows = connection.execute(f"SELECT key, {', '.join(fields)} FROM columns_labels ORDER BY key")
            return [
                (
                    key,
                    *[
                        tuple(names[code] for code in np.frombuffer(blob, np.int32))
                        if field in interned
                        else blob
                        for field, blob in zip(fields, blobs, strict=True)
                    ],
                )
                for key, *blobs in rows
            ]

    batch_rows = stored(tmp_path / "batch.sqlite")
    assert len(batch_rows) == len(responses)
    assert batch_rows == stored(tmp_path / "one.sqlite")  # byte for byte, every field of every answer


def test_custom_labels_columns_keep_entries_for_truncation(tmp_path):
    response = {
        "CustomLabels": [
            {"Name": "a", "Confidence": 80.0},
            {"Name": "a", "Confidence": 60.0, "Geometry": {"BoundingBox": {"Left": 0.1, "Top": 0.2}}},
            {"Name": "b", "Confidence": 70.0},
        ]
    }
    with ResponseCache(tmp_path / "c.sqlite", codecs=(LABELS_CODEC,)) as cache:
        keys = _store(cache, [response], operation="DetectCustomLabels")
        columns = LabelColumns.from_store(cache.read_columns(LABELS_CODEC, keys))
    expected = labels_from_detect_custom_labels(response)
    assert columns.answer(0).labels == expected.labels
    assert columns.returned().tolist() == [3]  # raw entries, not the 2 labels


def test_answers_stored_without_columns_or_by_an_older_codec_are_rebuilt_from_the_raw_answer(tmp_path):
    path = tmp_path / "c.sqlite"
    responses = _responses(5)
    with ResponseCache(path) as cache:  # no codec: as an older harness (or the batch ingest) stores them
        keys = _store(cache, responses)
    with ResponseCache(path, codecs=(LABELS_CODEC,)) as cache:
        first = LabelColumns.from_store(cache.read_columns(LABELS_CODEC, keys))
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM columns_labels WHERE version = 1").fetchone() == (5,)
        # stale columns: a wrong name under an old version number
        connection.execute("UPDATE columns_labels SET version = 0, name = x'01000000'")

    class NextCodec(LabelsCodec):
        version = 2

    newer = NextCodec()
    with ResponseCache(path, codecs=(newer,)) as cache:
        again = LabelColumns.from_store(cache.read_columns(newer, keys))
    assert [again.answer(i) for i in range(5)] == [first.answer(i) for i in range(5)]
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT DISTINCT version FROM columns_labels").fetchall() == [(2,)]


def test_names_are_interned_once_and_missing_keys_are_refused(tmp_path):
    path = tmp_path / "c.sqlite"
    with ResponseCache(path, codecs=(LABELS_CODEC,)) as cache:
        keys = _store(cache, _responses(30))
        assert cache.stored_keys([*keys, "nope"]) == set(keys)
        with pytest.raises(KeyError, match="1 of the 2"):
            cache.read_columns(LABELS_CODEC, [keys[0], "nope"])
    with sqlite3.connect(path) as connection:
        names = connection.execute("SELECT COUNT(*), COUNT(DISTINCT name) FROM names").fetchone()
    assert names[0] == names[1] and names[0] < 30 * 30  # far fewer names than labels stored


def test_vectorised_predictions_equal_the_per_label_loop():
    answers = [labels_from_detect_labels(response) for response in _responses(60)]
    for use_parents in (True, False):
        frame = predictions_frame(answers, use_parents=use_parents)
        # the reference: one row per (image, name) at its highest confidence, own or through a child
        # that lists it; direct when it was returned on its own at all
        best: dict[tuple[int, str], tuple[float, bool]] = {}
        for image, answer in enumerate(answers):
            for label in answer.labels:
                implied = (*label.parents, *label.aliases) if use_parents else ()
                for direct, name in [(True, label.name), *((False, n) for n in implied)]:
                    key = (image, name.casefold())
                    seen, was_direct = best.get(key, (-1.0, False))
                    best[key] = (max(seen, label.confidence), was_direct or direct)
        got = {
            (int(i), str(n)): (float(c), bool(d))
            for i, n, d, c in zip(
                frame["image"], frame["name"], frame["direct"], frame["confidence"], strict=True
            )
        }
        assert got == best
    rows = [
        (image, label.name, label.confidence, ";".join(label.parents), len(label.instances))
        for image, answer in zip(range(60), answers, strict=True)
        for label in answer.labels
    ]
    table = predictions_table([str(i) for i in range(60)], answers).to_frame()
    assert table.astype({"image": int}).values.tolist() == [list(row) for row in rows]


def _many_parents(count: int) -> dict:
    """An answer whose labels have `count` parents: too many to pack one list's codes in an integer."""
    parents = [{"Name": f"P{index}"} for index in range(count)]
    labels = [
        {"Name": f"L{index}", "Confidence": 50.0 + index, "Parents": parents[index:]} for index in range(3)
    ]
    return {"Labels": [*labels, {"Name": "Lone", "Confidence": 9.5, "Parents": []}]}


@pytest.mark.parametrize("extra", [[], [_many_parents(20)]], ids=["packed", "rows"])
def test_parents_text_joins_each_labels_parents_in_order(extra):
    answers = [labels_from_detect_labels(response) for response in [*_responses(50), {"Labels": []}, *extra]]
    code, texts = parents_text(LabelColumns.from_answers(answers), ";")
    expected = [";".join(label.parents) for answer in answers for label in answer.labels]
    assert [texts[index] for index in code] == expected
    assert len(set(texts)) == len(texts)  # each distinct list joined once


def test_predictions_csv_has_the_bytes_of_the_per_label_frame_written_by_arrow(tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from evaluation.tablefiles import write_csv

    responses = [*_responses(30), {"Labels": []}, _many_parents(3)]
    answers = [labels_from_detect_labels(response) for response in responses]
    uris = [f's3://b/{index}, "q".jpg' for index in range(len(answers))]
    frame = pd.DataFrame(
        [
            (uri, label.name, label.confidence, ";".join(label.parents), len(label.instances))
            for uri, answer in zip(uris, answers, strict=True)
            for label in answer.labels
        ],
        columns=["image", "label", "confidence", "parents", "instances"],
    )
    options = pa_csv.WriteOptions(quoting_style="needed")
    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "reference.csv", options)
    write_csv(tmp_path / "predictions.csv", predictions_table(uris, answers))
    assert (tmp_path / "predictions.csv").read_bytes() == (tmp_path / "reference.csv").read_bytes()
    columns = LabelColumns.from_answers(answers)
    parts = ChunkedFrame(
        frame.columns, lambda: predictions_chunks(uris, columns, separator=";", chunk_answers=7)
    )
    write_csv(tmp_path / "parts.csv", parts)
    assert (tmp_path / "parts.csv").read_bytes() == (tmp_path / "reference.csv").read_bytes()
    assert parts.to_frame().equals(frame)


@pytest.fixture
def recorded(tmp_path):
    lines, dataset = [], ["image,labels"]
    for uri, response, truth in generated_answers(12, seed=5):
        lines.append(json.dumps({"image": uri, "response": response, "model_version": "3.0"}))
        dataset.append(f"{uri},{';'.join(truth)}")
    lines[3] = "{not json"
    lines[4] = json.dumps({"image": "s3://elsewhere/x.jpg", "response": {"Labels": []}})
    lines[5] = json.dumps({"image": json.loads(lines[6])["image"], "response": {"Labels": [{"Name": "x"}]}})
    lines.append(lines[7])  # the same image again
    (tmp_path / "answers.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "dataset.csv").write_text("\n".join(dataset) + "\n")
    return tmp_path


def test_replay_answers_names_bad_lines_stores_the_rest_and_calls_nothing(recorded, capsys):
    tmp = recorded
    argv = ["run", "--backend", "replay", "--answers", str(tmp / "answers.jsonl"), "--dataset"]
    argv += [str(tmp / "dataset.csv"), "--cache", str(tmp / "c.sqlite"), "--out", str(tmp / "run"), "--quiet"]
    assert main(argv) == 1  # incomplete: three images have no (good) answer
    messages = capsys.readouterr().err
    assert "answers.jsonl:4: not JSON" in messages
    assert "answers.jsonl:5: s3://elsewhere/x.jpg: not an image of the dataset" in messages
    assert "answers.jsonl:6:" in messages and "not a DetectLabels answer" in messages
    assert "answers.jsonl:13:" in messages and "given again (line 8 is kept)" in messages
    run = json.loads((tmp / "run" / "run.json").read_text())
    assert run["recorded_answers"]["stored"] == 9 and run["recorded_answers"]["bad_lines"] == 4
    assert run["stats"]["api_calls"] == 0
    images = pd.read_csv(tmp / "run" / "images.csv")
    assert (images["status"] == "cached").sum() == 9
    assert set(images.loc[images["status"] != "cached", "status"]) == {"missing"}
    # the answers were stored under the keys a live run uses: a plain replay finds them
    again = ["run", "--backend", "replay", "--dataset", str(tmp / "dataset.csv"), "--cache"]
    again += [str(tmp / "c.sqlite"), "--out", str(tmp / "run2"), "--quiet"]
    assert main(again) == 1
    assert (pd.read_csv(tmp / "run2" / "images.csv")["status"] == "cached").sum() == 9


def test_answers_needs_the_replay_backend(recorded, capsys):
    argv = ["run", "--answers", str(recorded / "answers.jsonl"), "--dataset", str(recorded / "dataset.csv")]
    assert main(argv) == 2
    assert "--backend replay" in capsys.readouterr().err


@pytest.mark.parametrize("use_parents", [True, False])
def test_predictions_matched_a_part_at_a_time_equal_all_at_once(monkeypatch, use_parents):
    """Parts of 7 answers (and an answer with no label) give the frame of one part: same rows, same
    order, same categories in the same order (first appearance over every answer)."""
    from evaluation.operations import matching

    answers = [labels_from_detect_labels(response) for response in _responses(60)]
    answers.insert(20, labels_from_detect_labels({"Labels": []}))
    columns = LabelColumns.from_answers(answers)
    whole = predictions_frame(columns, use_parents=use_parents)
    monkeypatch.setattr(matching, "CHUNK_ANSWERS", 7)
    parted = predictions_frame(columns, use_parents=use_parents)
    assert len(whole) > 1000
    pd.testing.assert_frame_equal(parted, whole)
    assert list(parted["name"].cat.categories) == list(whole["name"].cat.categories)
    assert list(parted["display"].cat.categories) == list(whole["display"].cat.categories)


def test_newest_versions_read_the_same_by_lookups_as_by_one_pass_over_the_store(tmp_path, monkeypatch):
    with ResponseCache(tmp_path / "c.sqlite", codecs=(LABELS_CODEC,)) as cache:
        keys = _store(cache, _responses(12))
        for index, key in enumerate(keys[:4]):  # some answers of another model version
            cache.put(
                key,
                image_id=key,
                operation="DetectLabels",
                params=PARAMS,
                response={"Labels": [], "LabelModelVersion": f"3.{index}"},
                model_version=f"3.{index}",
            )
        asked = [keys[0], keys[5], keys[2], "nope", keys[5]]
        found = {}
        for fraction in (1, 10**9):  # a lookup per key; one pass over the table
            monkeypatch.setattr("evaluation.calls.columns.SCAN_FRACTION", fraction)
            found[fraction] = cache.newest_versions(asked)
    assert found[1] == found[10**9]
    assert set(found[1]) == {keys[0], keys[5], keys[2]}
    assert [found[1][key][0] for key in (keys[0], keys[2], keys[5])] == ["3.0", "3.2", None]
