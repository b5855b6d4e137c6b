"""CSV datasets: the header, label lists, and what spreadsheets and Windows do to CSV files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evaluation.datasets import load_dataset
from evaluation.errors import DatasetError

Write = Callable[..., Path]


def test_labels_are_split_on_semicolons_and_trimmed(write: Write, tmp_path: Path) -> None:
    path = write(
        "pets.csv",
        "image,labels\n"
        "images/a.jpg,Dog\n"
        "images/b.jpg, Dog ; Cat ;\n"
        "images/c.jpg,\n"  # none of the labels
        "s3://bucket/d.jpg,Bird;;Bird\n",
    )
    dataset = load_dataset(path)
    assert dataset.format == "csv"
    assert dataset.name == "pets"
    assert [(item.image.uri, item.labels) for item in dataset.items] == [
        (str(tmp_path / "images" / "a.jpg"), frozenset({"Dog"})),
        (str(tmp_path / "images" / "b.jpg"), frozenset({"Dog", "Cat"})),
        (str(tmp_path / "images" / "c.jpg"), frozenset()),
        ("s3://bucket/d.jpg", frozenset({"Bird"})),
    ]
    assert dataset.vocabulary == ("Bird", "Cat", "Dog")
    assert [item.source for item in dataset.items] == [f"{path}:{n}" for n in (2, 3, 4, 5)]


def test_absolute_paths_stand_as_they_are(write: Write, tmp_path: Path) -> None:
    image = tmp_path / "elsewhere" / "x.png"
    dataset = load_dataset(write("sub/a.csv", f"image,labels\n{image},Dog\n"))
    assert dataset.items[0].image.uri == str(image)


def test_bom_crlf_quotes_and_extra_columns(write: Write, tmp_path: Path) -> None:
    # what Excel's "CSV UTF-8" writes: a byte-order mark, CRLF, quotes around fields with commas
    text = (
        "\ufeffImage,Labels,notes\r\n"
        '"my photos/a, b.jpg","Dog;Cat","seen ""twice"""\r\n'
        '"c.jpg",,"a note\r\non two lines"\r\n'
        "d.jpg,Dog\r\n"
        ",,\r\n"  # spreadsheets end with empty rows
    )
    dataset = load_dataset(write("excel.csv", text.encode("utf-8")))
    assert [(item.image.name, item.labels) for item in dataset.items] == [
        ("a, b.jpg", frozenset({"Dog", "Cat"})),
        ("c.jpg", frozenset()),
        ("d.jpg", frozenset({"Dog"})),
    ]
    assert dataset.items[0].image.uri == str(tmp_path / "my photos" / "a, b.jpg")
    # a quoted field over two lines: the next row's line number is still the physical line
    assert dataset.items[2].source.endswith("excel.csv:5")


def test_backslashes_in_relative_paths_are_folder_separators(write: Write, tmp_path: Path) -> None:
    dataset = load_dataset(write("w.csv", "image,labels\r\nimages\\dogs\\a.jpg,Dog\r\n"))
    assert dataset.items[0].image.uri == str(tmp_path / "images" / "dogs" / "a.jpg")


@pytest.mark.parametrize(
    "header",
    ["img,labels", "labels,image", "image", "image;labels", "path,label"],
)
def test_a_wrong_header_is_named(write: Write, header: str) -> None:
    path = write("h.csv", f"{header}\na.jpg,Dog\n")
    with pytest.raises(
        DatasetError, match=r"h\.csv:1: the header must start with the columns 'image,labels'"
    ) as e:
        load_dataset(path)
    assert f"found '{header}'" in str(e.value)


def test_an_empty_file_has_no_header(write: Write) -> None:
    with pytest.raises(DatasetError, match=r"e\.csv: empty file; expected a header line 'image,labels'"):
        load_dataset(write("e.csv", ""))


def test_a_header_alone_is_an_empty_dataset(write: Write) -> None:
    with pytest.raises(DatasetError, match=r"only\.csv: the dataset is empty \(no entries\)"):
        load_dataset(write("only.csv", "image,labels\n\n"))


BAD_ROWS = {
    "one column": ("a.jpg", "expected at least 2 columns (image,labels), found 1"),
    "empty image": (" ,Dog", "empty image path"),
    "other scheme": ("https://example.com/a.jpg,Dog", "'https://example.com/a.jpg': only s3:// URIs"),
    "bucket only": ("s3://bucket/,Dog", "not an S3 object URI"),
}


@pytest.mark.parametrize("row, problem", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_a_bad_row_names_the_file_the_line_and_the_problem(write: Write, row: str, problem: str) -> None:
    path = write("data/test.csv", f"image,labels\na.jpg,Dog\n{row}\nb.jpg,Cat\n")
    with pytest.raises(DatasetError) as raised:
        load_dataset(path)
    assert str(raised.value).startswith(f"{path}:3: {problem}")

    dataset = load_dataset(path, skip_bad_lines=True)
    assert [item.image.name for item in dataset.items] == ["a.jpg", "b.jpg"]
    assert [(bad.line, bad.problem.startswith(problem)) for bad in dataset.bad_lines] == [(3, True)]


def test_an_unclosed_quote_is_caught_instead_of_swallowing_the_file(write: Write) -> None:
    path = write("q.csv", 'image,labels\na.jpg,Dog\n"b.jpg,Cat\nc.jpg,Dog\n')
    dataset = load_dataset(path, skip_bad_lines=True)
    assert [item.image.name for item in dataset.items] == ["a.jpg", "c.jpg"]
    assert dataset.bad_lines[0].line == 3
    assert "unclosed quote" in dataset.bad_lines[0].problem


def test_text_that_is_not_utf8_is_named_with_its_line(write: Write) -> None:
    path = write("latin1.csv", "image,labels\na.jpg,Dog\nb.jpg,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"latin1\.csv:3: not UTF-8 text"):
        load_dataset(path)


def test_utf16_gets_a_hint(write: Write) -> None:
    path = write("u16.csv", "image,labels\na.jpg,Dog\n".encode("utf-16"))
    with pytest.raises(DatasetError, match="UTF-16; save it as UTF-8"):
        load_dataset(path)


def test_an_unclosed_quote_in_a_notes_column_loses_only_its_own_row(write: Write) -> None:
    text = (
        'image,labels,notes\na.jpg,Cat,ok\nb.jpg,Cat,"unclosed note\nc.jpg,Dog,fine\nd.jpg,Dog,"two\nlines"\n'
    )
    dataset = load_dataset(write("n.csv", text), skip_bad_lines=True)
    assert [item.image.name for item in dataset.items] == ["a.jpg", "c.jpg", "d.jpg"]
    assert [bad.line for bad in dataset.bad_lines] == [3]
    assert "unclosed quote" in dataset.bad_lines[0].problem
    with pytest.raises(DatasetError, match=r"m\.csv:2: malformed CSV: unexpected end of data"):
        load_dataset(write("m.csv", 'image,labels,notes\na.jpg,Cat,"never closed\n'), skip_bad_lines=True)
