"""Folder datasets: root/<label>/<images>, on disk and under an S3 prefix."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evaluation.datasets import load_dataset
from evaluation.datasets.folders import IMAGE_EXTENSIONS
from evaluation.errors import DatasetError
from tests.datasets.builders import BUCKET

Write = Callable[..., Path]


def _names(dataset: Any) -> list[tuple[str, frozenset[str]]]:
    return [(item.image.name, item.labels) for item in dataset.items]


def test_sub_folder_names_are_labels_and_root_images_are_negatives(write: Write, tmp_path: Path) -> None:
    for name in ("pets/dog/a.jpg", "pets/dog/b.JPEG", "pets/cat/c.png", "pets/none.jpg"):
        write(name)
    dataset = load_dataset(tmp_path / "pets")
    assert dataset.format == "folders"
    assert dataset.name == "pets"
    assert dataset.source == str(tmp_path / "pets")
    assert _names(dataset) == [
        ("c.png", frozenset({"cat"})),
        ("a.jpg", frozenset({"dog"})),
        ("b.JPEG", frozenset({"dog"})),
        ("none.jpg", frozenset()),
    ]
    assert dataset.vocabulary == ("cat", "dog")
    assert dataset.items[0].source == str(tmp_path / "pets" / "cat" / "c.png")
    assert dataset.items[0].image.uri == str((tmp_path / "pets" / "cat" / "c.png").resolve())


def test_images_deeper_in_a_label_folder_keep_that_label(write: Write, tmp_path: Path) -> None:
    write("root/dog/2021/summer/a.jpg")
    assert _names(load_dataset(tmp_path / "root")) == [("a.jpg", frozenset({"dog"}))]


def test_every_image_extension_is_kept_for_the_image_checks_to_judge(write: Write, tmp_path: Path) -> None:
    for extension in sorted(IMAGE_EXTENSIONS):
        write(f"root/x/image{extension.upper()}")
    dataset = load_dataset(tmp_path / "root")
    assert len(dataset.items) == len(IMAGE_EXTENSIONS) == 10
    assert {".webp", ".heic", ".tiff", ".gif", ".bmp"} <= IMAGE_EXTENSIONS


def test_hidden_and_system_files_are_skipped_and_other_files_are_listed(write: Write, tmp_path: Path) -> None:
    for name in (
        "root/dog/a.jpg",
        "root/dog/.b.jpg",
        "root/.DS_Store",
        "root/.cache/dog/c.jpg",
        "root/__MACOSX/dog/d.jpg",
        "root/dog/Thumbs.db",
        "root/README.md",
        "root/dog/labels",
    ):
        write(name)
    dataset = load_dataset(tmp_path / "root")
    assert _names(dataset) == [("a.jpg", frozenset({"dog"}))]
    assert dataset.ignored_files == [
        str(tmp_path / "root" / "README.md"),
        str(tmp_path / "root" / "dog" / "labels"),
    ]
    assert dataset.bad_lines == []  # a stray file does not make the load partial


def test_a_folder_of_stray_files_only_is_an_empty_dataset(write: Write, tmp_path: Path) -> None:
    write("root/dog/notes.txt")
    with pytest.raises(
        DatasetError, match=r"no images; 1 file\(s\) without an image extension, such as .*notes\.txt"
    ):
        load_dataset(tmp_path / "root")


def test_an_empty_folder_is_an_empty_dataset(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: the dataset is empty \(no images\)"):
        load_dataset(tmp_path / "empty")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinked_folders_are_followed_once(write: Write, tmp_path: Path) -> None:
    write("store/a.jpg")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "dog").symlink_to(tmp_path / "store", target_is_directory=True)
    (tmp_path / "store" / "loop").symlink_to(tmp_path / "store", target_is_directory=True)
    dataset = load_dataset(tmp_path / "root")
    assert _names(dataset) == [("a.jpg", frozenset({"dog"}))]


def test_folders_format_on_a_file_is_refused(write: Write) -> None:
    path = write("a.csv", "image,labels\n")
    with pytest.raises(DatasetError, match="is a file, not a folder"):
        load_dataset(path, format="folders")


def _put(s3: Any, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"")


def test_an_s3_prefix_is_read_as_label_folders(s3: Any) -> None:
    _put(
        s3,
        "sets/pets/dog/a.jpg",
        "sets/pets/dog/deeper/b.png",
        "sets/pets/cat/",  # a console "folder" marker
        "sets/pets/cat/c.webp",
        "sets/pets/root.jpg",
        "sets/pets/.hidden/x.jpg",
        "sets/pets/notes.txt",
        "sets/other/dog/z.jpg",
    )
    dataset = load_dataset(f"s3://{BUCKET}/sets/pets/", s3_client=s3)
    assert dataset.format == "folders"
    assert dataset.name == "pets"
    assert [(item.image.uri, item.labels) for item in dataset.items] == [
        (f"s3://{BUCKET}/sets/pets/cat/c.webp", frozenset({"cat"})),
        (f"s3://{BUCKET}/sets/pets/dog/a.jpg", frozenset({"dog"})),
        (f"s3://{BUCKET}/sets/pets/dog/deeper/b.png", frozenset({"dog"})),
        (f"s3://{BUCKET}/sets/pets/root.jpg", frozenset()),
    ]
    assert dataset.ignored_files == [f"s3://{BUCKET}/sets/pets/notes.txt"]


def test_an_s3_prefix_without_the_slash_needs_the_format(s3: Any) -> None:
    _put(s3, "pets/dog/a.jpg")
    dataset = load_dataset(f"s3://{BUCKET}/pets", format="folders", s3_client=s3)
    assert [item.labels for item in dataset.items] == [frozenset({"dog"})]


def test_a_whole_bucket_can_be_a_folders_dataset(s3: Any) -> None:
    _put(s3, "dog/a.jpg")
    dataset = load_dataset(f"s3://{BUCKET}", s3_client=s3)
    assert dataset.name == BUCKET
    assert [item.labels for item in dataset.items] == [frozenset({"dog"})]


def test_an_empty_s3_prefix_is_an_empty_dataset(s3: Any) -> None:
    with pytest.raises(DatasetError, match="the dataset is empty"):
        load_dataset(f"s3://{BUCKET}/nothing/", s3_client=s3)


def test_a_missing_bucket_is_named(s3: Any) -> None:
    with pytest.raises(DatasetError, match=r"dataset not found: s3://no-such-bucket/x/ \(NoSuchBucket"):
        load_dataset("s3://no-such-bucket/x/", s3_client=s3)
