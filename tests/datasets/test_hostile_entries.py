"""Issue 18's dataset items: one image in two label folders (6), Unicode in labels and lines (8), entries
that are not image files or JSON nested without end (10), and messages for a wrong format or a folder one
level too high (23)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evaluation.datasets import load_dataset
from evaluation.errors import DatasetError
from tests.datasets.builders import BUCKET, classification_line, jsonl
from tests.support.images import png_bytes

Write = Callable[..., Path]

CAFE_NFC = "Caf\u00e9"
CAFE_NFD = "Cafe\u0301"


def _labels(dataset: Any) -> list[tuple[str, frozenset[str]]]:
    return [(item.image.name, item.labels) for item in dataset.items]


# --- item 6: the same image in two label folders is one image with both labels --------------------------


def test_a_copy_of_an_image_in_two_label_folders_is_one_image_with_both_labels(
    write: Write, tmp_path: Path
) -> None:
    shared = png_bytes(100, 100, seed=1)
    write("pets/dog/shared.png", shared)
    write("pets/cat/same-bytes-other-name.png", shared)
    write("pets/dog/only-dog.png", png_bytes(100, 100, seed=2))  # the same size, other bytes: its own image
    write("pets/cat/only-cat.png", png_bytes(100, 100, seed=3))
    dataset = load_dataset(tmp_path / "pets")
    assert _labels(dataset) == [
        ("only-cat.png", frozenset({"cat"})),
        ("same-bytes-other-name.png", frozenset({"cat", "dog"})),
        ("only-dog.png", frozenset({"dog"})),
    ]
    assert dataset.support() == {"cat": 2, "dog": 2}
    assert dataset.bad_lines == []


def test_one_file_linked_into_two_label_folders_is_one_image_not_a_duplicate_error(
    write: Write, tmp_path: Path
) -> None:
    original = write("store/a.png", png_bytes(100, 100, seed=4))
    write("pets/dog/x.png", png_bytes(90, 90))
    (tmp_path / "pets" / "cat").mkdir()
    (tmp_path / "pets" / "cat" / "a.png").symlink_to(original)
    (tmp_path / "pets" / "dog" / "a.png").symlink_to(original)
    dataset = load_dataset(tmp_path / "pets")
    assert [(item.image.uri, item.labels) for item in dataset.items] == [
        (str(original), frozenset({"cat", "dog"})),
        (str((tmp_path / "pets" / "dog" / "x.png").resolve()), frozenset({"dog"})),
    ]


def test_a_negative_at_the_root_and_its_copy_in_a_label_folder_are_one_positive(
    write: Write, tmp_path: Path
) -> None:
    shared = png_bytes(100, 100, seed=5)
    write("pets/a.png", shared)
    write("pets/dog/a.png", shared)
    assert _labels(load_dataset(tmp_path / "pets")) == [("a.png", frozenset({"dog"}))]


def test_the_same_object_in_two_s3_label_folders_is_one_image(s3: Any) -> None:
    shared = png_bytes(100, 100, seed=6)
    for key, body in (
        ("pets/cat/a.png", shared),
        ("pets/dog/a.png", shared),
        ("pets/dog/b.png", png_bytes(100, 100, seed=7)),
    ):
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    dataset = load_dataset(f"s3://{BUCKET}/pets/", s3_client=s3)
    assert [(item.image.uri, item.labels) for item in dataset.items] == [
        (f"s3://{BUCKET}/pets/cat/a.png", frozenset({"cat", "dog"})),
        (f"s3://{BUCKET}/pets/dog/b.png", frozenset({"dog"})),
    ]


# --- item 8: Unicode ---------------------------------------------------------------------------------------


def test_nfc_and_nfd_spellings_of_a_label_are_one_label(
    write: Write, caplog: pytest.LogCaptureFixture
) -> None:
    path = write("cafes.csv", f"image,labels\na.jpg,{CAFE_NFC}\nb.jpg,{CAFE_NFD}\nc.jpg,{CAFE_NFC}\n")
    with caplog.at_level(logging.WARNING):
        dataset = load_dataset(path)
    assert dataset.vocabulary == (CAFE_NFC,)
    assert [item.labels for item in dataset.items] == [frozenset({CAFE_NFC})] * 3
    assert dataset.support() == {CAFE_NFC: 3}
    assert "Unicode form" in caplog.text


def test_a_declared_vocabulary_in_nfc_matches_nfd_labels(write: Write) -> None:
    path = write("cafes.csv", f"image,labels\na.jpg,{CAFE_NFD}\nb.jpg,Bar\n")
    dataset = load_dataset(path, vocabulary=[CAFE_NFC])
    assert [item.labels for item in dataset.items] == [frozenset({CAFE_NFC}), frozenset()]


def test_label_folders_named_in_nfc_and_nfd_are_one_label(write: Write, tmp_path: Path) -> None:
    write(f"root/{CAFE_NFC}/a.png", png_bytes(100, 100, seed=1))
    write(f"root/{CAFE_NFD}/b.png", png_bytes(100, 100, seed=2))
    dataset = load_dataset(tmp_path / "root")
    assert len(dataset.vocabulary) == 1
    assert dataset.support() == {dataset.vocabulary[0]: 2}


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\x1c", "\x1d", "\x1e", "\x0b", "\x0c"])
def test_csv_rows_are_split_at_line_feeds_only(write: Write, separator: str) -> None:
    path = write(
        "odd.csv",
        f"image,labels\na.jpg,Left{separator}Right\nb.jpg,Dog\n,no image here\nc.jpg,Cat\n",
    )
    dataset = load_dataset(path, skip_bad_lines=True)
    assert [(item.image.name, item.labels) for item in dataset.items] == [
        ("a.jpg", frozenset({f"Left{separator}Right"})),
        ("b.jpg", frozenset({"Dog"})),
        ("c.jpg", frozenset({"Cat"})),
    ]
    assert [item.source.rsplit(":", 1)[1] for item in dataset.items] == ["2", "3", "5"]
    assert [(bad.line, bad.problem) for bad in dataset.bad_lines] == [(4, "empty image path")]


def test_crlf_csv_files_still_read(write: Write) -> None:
    dataset = load_dataset(write("win.csv", "image,labels\r\na.jpg,Dog\r\nb.jpg,\r\n"))
    assert [item.labels for item in dataset.items] == [frozenset({"Dog"}), frozenset()]


def test_text_csv_rows_are_split_at_line_feeds_only(write: Write) -> None:
    dataset = load_dataset(write("words.csv", "image,words\na.jpg,MAIN\u2028ST\nb.jpg,EXIT\n"))
    assert [[line.text for line in item.text] for item in dataset.items] == [["MAIN\u2028ST"], ["EXIT"]]
    assert [item.source.rsplit(":", 1)[1] for item in dataset.items] == ["2", "3"]


# --- item 10: entries that are not image files, JSON nested without end ------------------------------------


@pytest.fixture
def hostile_paths(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    return {"fifo": fifo, "zero": Path("/dev/zero"), "loop": loop}


def test_csv_entries_that_are_no_image_files_are_named_bad_lines(
    write: Write, hostile_paths: dict[str, Path]
) -> None:
    fifo, zero, loop = hostile_paths["fifo"], hostile_paths["zero"], hostile_paths["loop"]
    path = write("h.csv", f"image,labels\nok.jpg,Dog\n{fifo},Dog\n{zero},Dog\nloop.jpg,Cat\n")
    dataset = load_dataset(path, skip_bad_lines=True)
    assert [item.image.name for item in dataset.items] == ["ok.jpg"]
    assert [(bad.path, bad.line, bad.problem) for bad in dataset.bad_lines] == [
        (str(path), 3, f"{fifo}: a FIFO (named pipe), not a regular image file"),
        (str(path), 4, "/dev/zero: a character device, not a regular image file"),
        (str(path), 5, f"{loop}: a symlink loop (too many levels of symbolic links), not an image file"),
    ]
    with pytest.raises(DatasetError, match=rf"^{path}:3: {fifo}: a FIFO .*--skip-bad-lines"):
        load_dataset(path)


def test_manifest_entries_that_are_no_image_files_are_named_bad_lines(
    write: Write, hostile_paths: dict[str, Path]
) -> None:
    lines = [classification_line(str(hostile_paths[name]), "Dog") for name in ("fifo", "zero", "loop")]
    path = write("h.manifest", jsonl(classification_line("ok.jpg", "Dog"), *lines))
    dataset = load_dataset(path, skip_bad_lines=True)
    assert [item.image.name for item in dataset.items] == ["ok.jpg"]
    assert [(bad.path, bad.line) for bad in dataset.bad_lines] == [
        (str(path), 2),
        (str(path), 3),
        (str(path), 4),
    ]


def test_folder_entries_that_are_no_image_files_are_named_bad_entries(write: Write, tmp_path: Path) -> None:
    write("root/dog/a.png", png_bytes(100, 100))
    os.mkfifo(tmp_path / "root" / "dog" / "x.jpg")
    (tmp_path / "root" / "dog" / "loop.jpg").symlink_to(tmp_path / "root" / "dog" / "loop.jpg")
    dataset = load_dataset(tmp_path / "root", skip_bad_lines=True)
    assert _labels(dataset) == [("a.png", frozenset({"dog"}))]
    assert [str(bad) for bad in dataset.bad_lines] == [
        f"{tmp_path}/root/dog/loop.jpg: a symlink loop (too many levels of symbolic links), "
        "not an image file",
        f"{tmp_path}/root/dog/x.jpg: a FIFO (named pipe), not a regular image file",
    ]
    with pytest.raises(DatasetError, match=r"loop\.jpg: a symlink loop"):
        load_dataset(tmp_path / "root")


DEEP = 100_000


def test_a_deeply_nested_manifest_line_is_a_bad_line(write: Write) -> None:
    deep = '{"source-ref": "b.jpg", "x": ' + "[" * DEEP + "]" * DEEP + "}"
    path = write(
        "deep.manifest", jsonl(classification_line("a.jpg", "Dog"), deep, classification_line("c.jpg", "Cat"))
    )
    dataset = load_dataset(path, skip_bad_lines=True)
    assert [item.image.name for item in dataset.items] == ["a.jpg", "c.jpg"]
    assert [str(bad) for bad in dataset.bad_lines] == [f"{path}:2: invalid JSON: nested too deeply to read"]
    with pytest.raises(DatasetError, match=r"deep\.manifest:2: invalid JSON: nested too deeply"):
        load_dataset(path)


def test_a_deeply_nested_text_manifest_line_is_a_bad_line(write: Write) -> None:
    deep = '{"source-ref": "a.jpg", "lines": ' + "[" * DEEP + "]" * DEEP + "}"
    good = json.dumps({"source-ref": "b.jpg", "words": "EXIT"})
    path = write("words.jsonl", f"{good}\n{deep}\n")
    dataset = load_dataset(path, skip_bad_lines=True)
    assert [item.image.name for item in dataset.items] == ["b.jpg"]
    assert [str(bad) for bad in dataset.bad_lines] == [f"{path}:2: invalid JSON: nested too deeply to read"]
    first_deep = write("first.jsonl", f"{deep}\n{good}\n")  # the format sniffing reads the first line
    assert [bad.line for bad in load_dataset(first_deep, skip_bad_lines=True).bad_lines] == [1]


def test_a_deeply_nested_coco_document_names_the_file(write: Write) -> None:
    path = write("deep.json", '{"images": [], "annotations": ' + "[" * DEEP + "]" * DEEP + "}")
    with pytest.raises(DatasetError, match=r"deep\.json: invalid JSON: nested too deeply"):
        load_dataset(path)


def test_a_device_given_as_the_dataset_file_is_refused_without_reading_it() -> None:
    from tests.support.hostile import GB, run_bounded

    code = """
from evaluation.datasets import load_dataset
from evaluation.errors import DatasetError
try:
    load_dataset("/dev/zero", format="csv")
    print("read")
except DatasetError as err:
    print("refused:", err)
"""
    result = run_bounded(code, memory_limit=1 * GB, timeout=30)
    assert result["returncode"] == 0, (result["returncode"], str(result["stderr"])[-1500:])
    assert "refused: /dev/zero is not a regular file (a device or a socket): not read" in str(
        result["stdout"]
    )


# --- item 23: messages --------------------------------------------------------------------------------------


def test_an_unknown_extension_names_the_cli_option_and_the_python_keyword(write: Write) -> None:
    with pytest.raises(DatasetError) as raised:
        load_dataset(write("data.txt", "image,labels\n"))
    message = str(raised.value)
    assert "--format" in message and "dataset_format=" in message
    assert "pass format=" not in message


def test_a_dataset_folder_one_level_too_high_says_what_it_ignored(
    write: Write, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write("data/pets/dog/a.png", png_bytes(100, 100, seed=1))
    write("data/pets/cat/b.png", png_bytes(100, 100, seed=2))
    write("data/pets/labels.csv", "image,labels\n")
    with caplog.at_level(logging.WARNING):
        dataset = load_dataset(tmp_path / "data")
    assert dataset.vocabulary == ("pets",)  # what the layout says; the warning says why it is likely wrong
    (warning,) = dataset.warnings
    assert "no image is directly in a label folder, all are in sub-folders (pets/cat, pets/dog)" in warning
    assert "the sub-folders' names (cat, dog) are ignored" in warning
    assert f"one level lower, e.g. {tmp_path / 'data' / 'pets'}" in warning
    assert warning in caplog.text


def test_folders_without_images_are_named_not_dropped_in_silence(write: Write, tmp_path: Path) -> None:
    write("root/dog/a.png", png_bytes(100, 100))
    write("root/cat/notes.txt", "cats go here")
    (tmp_path / "root" / "bird").mkdir()
    dataset = load_dataset(tmp_path / "root")
    assert dataset.warnings == [
        f"{tmp_path / 'root'}: bird, cat hold no images, so they are no label and are ignored"
    ]


def test_an_ordinary_folder_dataset_has_no_warnings(write: Write, tmp_path: Path) -> None:
    write("root/dog/a.png", png_bytes(100, 100, seed=1))
    write("root/cat/b.png", png_bytes(100, 100, seed=2))
    write("root/neg.png", png_bytes(100, 100, seed=3))
    assert load_dataset(tmp_path / "root").warnings == []
