"""load_dataset: choosing the format, and the rules all formats share (duplicates, emptiness, vocabulary)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from evaluation.datasets import FORMATS, load_dataset
from evaluation.errors import DatasetError, UserError
from tests.datasets.builders import classification_line, detection_line, jsonl, multilabel_line

Write = Callable[..., Path]


@pytest.mark.parametrize("name", ["a.manifest", "a.jsonl", "a.json", "a.MANIFEST"])
def test_manifest_extensions(write: Write, name: str) -> None:
    path = write(name, jsonl(classification_line("s3://b/a.jpg", "Dog")))
    assert load_dataset(path).format == "manifest"


def test_an_unknown_extension_lists_the_formats_and_the_way_out(write: Write) -> None:
    path = write("labels.txt", "image,labels\na.jpg,Dog\n")
    with pytest.raises(DatasetError) as raised:
        load_dataset(path)
    message = str(raised.value)
    assert "cannot tell the format of" in message and "'.txt'" in message
    for hint in ("manifest (.manifest .jsonl .json)", "csv (.csv)", "folders (a folder", "format="):
        assert hint in message
    assert load_dataset(path, format="csv").items[0].labels == {"Dog"}


def test_an_unknown_format_name_is_refused(write: Write) -> None:
    path = write("a.csv", "image,labels\na.jpg,Dog\n")
    with pytest.raises(
        UserError, match="unknown dataset format 'parquet'; the formats are manifest, csv, folders, coco"
    ):
        load_dataset(path, format="parquet")
    assert FORMATS == ("manifest", "csv", "folders", "coco")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dataset not found: .*nope\.manifest"):
        load_dataset(tmp_path / "nope.manifest")
    with pytest.raises(DatasetError, match=r"dataset not found: .*nope\.manifest"):
        load_dataset(tmp_path / "nope.manifest", format="manifest")


def test_a_folder_read_as_a_file_format_says_so(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=r"is a folder; pass --format folders \(dataset_format='folders' in Python\)"
    ):
        load_dataset(tmp_path, format="csv")


def test_an_empty_manifest_is_an_error(write: Write) -> None:
    with pytest.raises(DatasetError, match=r"e\.manifest: the dataset is empty \(no entries\)"):
        load_dataset(write("e.manifest", "\n\n"))


def test_all_lines_bad_is_an_error_even_when_skipping(write: Write) -> None:
    path = write("bad.manifest", "{\n[]\n")
    with pytest.raises(
        DatasetError, match=r"no usable images; 2 bad line\(s\) were skipped, the first: .*:1: invalid"
    ):
        load_dataset(path, skip_bad_lines=True)


def test_the_same_image_twice_with_the_same_labels_is_read_once(write: Write) -> None:
    line = classification_line("s3://b/a.jpg", "Dog")
    dataset = load_dataset(write("d.manifest", jsonl(line, line)))
    assert len(dataset.items) == 1
    assert dataset.bad_lines == []


def test_the_same_image_with_other_labels_is_a_bad_line(write: Write) -> None:
    path = write(
        "d.manifest",
        jsonl(
            classification_line("s3://b/a.jpg", "Dog"),
            classification_line("s3://b/b.jpg", "Dog"),
            classification_line("s3://b/a.jpg", "Cat"),
        ),
    )
    with pytest.raises(DatasetError, match=r"d\.manifest:3: duplicate image, first seen at line 1"):
        load_dataset(path)
    dataset = load_dataset(path, skip_bad_lines=True)
    assert [item.labels for item in dataset.items] == [frozenset({"Dog"}), frozenset({"Dog"})]
    (bad,) = dataset.bad_lines
    assert (
        str(bad) == f"{path}:3: duplicate image, first seen at line 1 with other labels (Dog there, Cat here)"
    )


def test_duplicates_are_found_after_paths_resolve(write: Write) -> None:
    path = write("d.csv", "image,labels\nimages/a.jpg,Dog\n./images/../images/a.jpg,\n")
    with pytest.raises(DatasetError, match=r"d\.csv:3: duplicate image, first seen at line 2"):
        load_dataset(path)


def test_a_declared_vocabulary_keeps_only_its_labels_and_counts_the_rest(write: Write) -> None:
    path = write(
        "v.manifest",
        jsonl(
            multilabel_line("s3://b/a.jpg", {"0": "dog", "1": "Cat", "2": "Bird"}, [0, 1, 2]),
            multilabel_line("s3://b/b.jpg", {"0": "Cat"}, [0]),
            detection_line(
                "s3://b/c.jpg",
                [
                    {"class_id": 0, "top": 0, "left": 0, "width": 10, "height": 10},
                    {"class_id": 1, "top": 0, "left": 0, "width": 10, "height": 10},
                ],
                {"0": "dog", "1": "Cat"},
            ),
        ),
    )
    dataset = load_dataset(path, vocabulary=["Dog", "Bird"])
    assert dataset.vocabulary == ("Dog", "Bird")  # declared order and spelling
    assert [item.labels for item in dataset.items] == [
        frozenset({"Dog", "Bird"}),
        frozenset(),
        frozenset({"Dog"}),
    ]
    assert [box.label for box in dataset.items[2].boxes] == ["Dog"]
    assert dataset.ignored_labels == {"Cat": 3}
    assert dataset.support() == {"Dog": 2, "Bird": 1}


def test_without_a_vocabulary_every_label_is_kept_in_sorted_order(write: Write) -> None:
    path = write("v.csv", "image,labels\na.jpg,beta;Alpha\nb.jpg,gamma\n")
    dataset = load_dataset(path)
    assert dataset.vocabulary == ("Alpha", "beta", "gamma")
    assert dataset.ignored_labels == {}


def test_a_vocabulary_label_on_no_image_is_an_error_with_a_hint(write: Write) -> None:
    path = write("v.csv", "image,labels\na.jpg,Golden Retriever\nb.jpg,Cat\n")
    with pytest.raises(DatasetError) as raised:
        load_dataset(path, vocabulary=["Cat", "Golden Retreiver"])
    message = str(raised.value)
    assert "'Golden Retreiver' (did you mean 'Golden Retriever'?)" in message
    assert "the dataset's labels are: Cat, Golden Retriever" in message


def test_a_vocabulary_over_a_set_of_negatives_is_allowed(write: Write) -> None:
    # images known to contain none of the labels: what they measure is false positives
    dataset = load_dataset(write("neg.csv", "image,labels\na.jpg,\nb.jpg,\n"), vocabulary=["Weapon"])
    assert dataset.vocabulary == ("Weapon",)
    assert dataset.support() == {"Weapon": 0}


@pytest.mark.parametrize(
    "vocabulary, error",
    [
        ("Dog", "vocabulary must be a list of labels, not the string 'Dog'"),
        ([], "vocabulary is empty"),
        (["Dog", " dog "], "vocabulary: 'Dog' and ' dog ' are the same label"),
        (["Dog", ""], "vocabulary: '' is not a label name"),
    ],
)
def test_a_bad_vocabulary_is_refused_before_reading(write: Write, vocabulary: object, error: str) -> None:
    path = write("a.csv", "image,labels\na.jpg,Dog\n")
    with pytest.raises(UserError, match=error):
        load_dataset(path, vocabulary=vocabulary)  # type: ignore[arg-type]


def test_labels_differing_only_in_case_are_one_label(write: Write, caplog: pytest.LogCaptureFixture) -> None:
    # matching compares names without case, so two spellings as two labels would steal each other's hits
    path = write("c.csv", "image,labels\na.jpg,Dog\nb.jpg,dog\nc.jpg,dog\n")
    with caplog.at_level(logging.WARNING):
        dataset = load_dataset(path)
    assert dataset.vocabulary == ("dog",)  # the most frequent spelling
    assert [item.labels for item in dataset.items] == [frozenset({"dog"})] * 3
    assert (
        "'Dog', 'dog' differ only in case, spacing or Unicode form (NFC/NFD): counted as one label, 'dog'"
        in caplog.text
    )
    merged = load_dataset(path, vocabulary=["Dog"])
    assert [item.labels for item in merged.items] == [frozenset({"Dog"})] * 3


def test_a_path_object_and_a_string_give_the_same_dataset(write: Write) -> None:
    path = write("a.csv", "image,labels\na.jpg,Dog\n")
    assert load_dataset(path) == load_dataset(str(path))
