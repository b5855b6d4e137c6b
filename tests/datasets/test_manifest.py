"""Ground Truth / Custom Labels manifests: each documented line shape, and each way a line breaks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from evaluation.datasets import BadLine, GroundTruthBox, load_dataset
from evaluation.errors import DatasetError
from tests.datasets.builders import classification_line, detection_line, jsonl, multilabel_line

Write = Callable[..., Path]


def test_single_label_lines_take_the_class_name_not_the_id(write: Write) -> None:
    # class ids are local to a line: the same id 0 names two different classes here
    path = write(
        "test.manifest",
        jsonl(
            classification_line("s3://bucket/images/sunrise.png", "Sunrise", class_id=0),
            classification_line("s3://bucket/images/dot.png", "Echo Dot", class_id=0),
        ),
    )
    dataset = load_dataset(path)
    assert dataset.format == "manifest"
    assert dataset.name.endswith("-test")  # a generic stem is named with its folder
    assert [(item.image.uri, item.labels) for item in dataset.items] == [
        ("s3://bucket/images/sunrise.png", frozenset({"Sunrise"})),
        ("s3://bucket/images/dot.png", frozenset({"Echo Dot"})),
    ]
    assert dataset.vocabulary == ("Echo Dot", "Sunrise")
    assert dataset.items[1].source == f"{path}:2"
    assert dataset.bad_lines == []


def test_multi_label_lines_join_ids_on_the_class_map(write: Write) -> None:
    path = write(
        "pets.manifest",
        jsonl(
            multilabel_line("s3://bucket/a.jpg", {"0": "Dog", "1": "Cat"}, [1, 0]),
            multilabel_line("s3://bucket/b.jpg", {"0": "Cat", "3": "Bird"}, [3]),
            multilabel_line("s3://bucket/c.jpg", {"0": "Dog"}, []),  # a negative
        ),
    )
    dataset = load_dataset(path)
    assert [item.labels for item in dataset.items] == [
        frozenset({"Dog", "Cat"}),
        frozenset({"Bird"}),
        frozenset(),
    ]
    assert dataset.vocabulary == ("Bird", "Cat", "Dog")


def test_detection_lines_give_labels_and_boxes_as_ratios(write: Write) -> None:
    # the example line of the Custom Labels guide ("Object localization in manifest files")
    line = detection_line(
        "s3://bucket/images/IMG_1186.png",
        [
            {"class_id": 1, "top": 251, "left": 399, "width": 155, "height": 101},
            {"class_id": 0, "top": 65, "left": 86, "width": 220, "height": 334},
        ],
        {"0": "Echo", "1": "Echo Dot"},
        width=640,
        height=480,
    )
    dataset = load_dataset(write("boxes.manifest", jsonl(line)))
    (item,) = dataset.items
    assert item.labels == {"Echo", "Echo Dot"}
    assert item.boxes == (
        GroundTruthBox("Echo Dot", left=399 / 640, top=251 / 480, width=155 / 640, height=101 / 480),
        GroundTruthBox("Echo", left=86 / 640, top=65 / 480, width=220 / 640, height=334 / 480),
    )


def test_image_size_as_an_object_rather_than_a_list_is_accepted(write: Write) -> None:
    line = detection_line(
        "s3://b/a.jpg", [{"class_id": 0, "top": 0, "left": 50, "width": 100, "height": 50}], {"0": "X"}
    )
    line["bounding-box"]["image_size"] = {"width": 200, "height": 100}
    (item,) = load_dataset(write("o.manifest", jsonl(line))).items
    assert item.boxes == (GroundTruthBox("X", left=0.25, top=0.0, width=0.5, height=0.5),)


def test_pretty_printed_json_gets_a_hint(write: Write) -> None:
    path = write("pretty.json", '{\n  "source-ref": "s3://b/a.jpg"\n}\n')
    with pytest.raises(DatasetError, match=r"pretty\.json:1: invalid JSON: .* is this pretty-printed JSON\?"):
        load_dataset(path)


def test_detection_line_without_annotations_is_a_negative(write: Write) -> None:
    dataset = load_dataset(write("d.manifest", jsonl(detection_line("s3://b/empty.jpg", [], {}))))
    assert dataset.items[0].labels == frozenset()
    assert dataset.items[0].boxes == ()


def test_several_label_attributes_on_one_line_are_united(write: Write) -> None:
    # the shape AWS suggests for multi-label images with single-label attributes, plus boxes
    line = classification_line("s3://b/match.jpg", "football", attribute="sport0", class_id=0)
    line |= {
        k: v
        for k, v in classification_line("", "ball", attribute="sport1", class_id=1).items()
        if k != "source-ref"
    }
    boxes = detection_line(
        "", [{"class_id": 5, "top": 0, "left": 0, "width": 10, "height": 10}], {"5": "Person"}
    )
    line |= {k: v for k, v in boxes.items() if k != "source-ref"}
    dataset = load_dataset(write("m.manifest", jsonl(line)))
    (item,) = dataset.items
    assert item.labels == {"football", "ball", "Person"}
    assert [box.label for box in item.boxes] == ["Person"]


def test_relative_source_refs_resolve_against_the_manifest_folder(write: Write, tmp_path: Path) -> None:
    path = write("data/test.manifest", jsonl(classification_line("images/a.jpg", "Dog")))
    dataset = load_dataset(path)
    assert dataset.items[0].image.uri == str((tmp_path / "data" / "images" / "a.jpg").resolve())


def test_blank_lines_and_windows_line_endings_are_fine(write: Write) -> None:
    text = jsonl(classification_line("s3://b/a.jpg", "Dog")).replace("\n", "\r\n") + "\r\n   \r\n"
    text += json.dumps(classification_line("s3://b/b.jpg", "Cat"))  # no newline at the end
    dataset = load_dataset(write("crlf.manifest", text))
    assert [item.source.rsplit(":", 1)[1] for item in dataset.items] == ["1", "4"]


def test_a_json_string_holding_a_unicode_line_separator_stays_one_line(write: Write) -> None:
    line = classification_line("s3://b/a.jpg", "Dog")
    line["note"] = "split\u2028here"
    dataset = load_dataset(write("u.manifest", json.dumps(line, ensure_ascii=False) + "\n"))
    assert len(dataset.items) == 1


def test_machine_labeled_lines_are_kept_and_counted(write: Write) -> None:
    path = write(
        "auto.manifest",
        jsonl(
            classification_line("s3://b/a.jpg", "Dog", human_annotated="no"),
            classification_line("s3://b/b.jpg", "Cat"),
        ),
    )
    dataset = load_dataset(path)
    assert len(dataset.items) == 2
    assert dataset.machine_labeled == 1


def test_metadata_without_type_is_read_by_the_shape_of_the_value(write: Write) -> None:
    single = {"source-ref": "s3://b/a.jpg", "k": 3, "k-metadata": {"class-name": "Dog"}}
    multi = {"source-ref": "s3://b/b.jpg", "k": [0], "k-metadata": {"class-map": {"0": "Cat"}}}
    dataset = load_dataset(write("untyped.manifest", jsonl(single, multi)))
    assert [item.labels for item in dataset.items] == [frozenset({"Dog"}), frozenset({"Cat"})]


def test_attributes_of_other_types_are_skipped(write: Write) -> None:
    line = classification_line("s3://b/a.jpg", "Dog")
    line["verify"] = "1"
    line["verify-metadata"] = {"class-name": "bad", "type": "groundtruth/label-verification"}
    dataset = load_dataset(write("v.manifest", jsonl(line)))
    assert dataset.items[0].labels == {"Dog"}


def test_class_ids_written_as_strings_are_accepted(write: Write) -> None:
    line = classification_line("s3://b/a.jpg", "Dog")
    line["sport"] = "1"
    dataset = load_dataset(write("s.manifest", jsonl(line)))
    assert dataset.items[0].labels == {"Dog"}


def _failed_line() -> dict[str, object]:
    return {
        "source-ref": "s3://b/failed.jpg",
        "sport-metadata": {"failure-reason": "ClientError: the image could not be read", "retry-count": 1},
    }


def _broken_box() -> dict[str, object]:
    return detection_line(
        "s3://b/a.jpg", [{"class_id": 0, "top": 0, "left": 0, "width": 0, "height": 5}], {"0": "X"}
    )


BAD_LINES = {
    "not json": (
        '{"source-ref": "s3://b/a.jpg" "x": 1}',
        "invalid JSON: Expecting ',' delimiter (column 31)",
    ),
    "not an object": ('["s3://b/a.jpg"]', "expected a JSON object per line (JSON Lines), found a list"),
    "no source-ref": ({"sport": 0, "sport-metadata": {"class-name": "Dog"}}, 'no "source-ref"'),
    "source-ref not a string": ({"source-ref": 7}, '"source-ref" is a number, not a string'),
    "https source-ref": (
        classification_line("https://example.com/a.jpg", "Dog"),
        "\"source-ref\": 'https://example.com/a.jpg': only s3:// URIs and file paths are supported, not https://",
    ),
    "bucket only": (classification_line("s3://bucket", "Dog"), '"source-ref": not an S3 object URI'),
    "no label attribute": ({"source-ref": "s3://b/a.jpg", "sport": 0}, 'no label attribute (a key "K" with'),
    "metadata without attribute": (
        {"source-ref": "s3://b/a.jpg", "sport-metadata": {"class-name": "Dog"}},
        '"sport-metadata" without "sport"',
    ),
    "labeling failed": (
        _failed_line(),
        'labeling failed for "sport": ClientError: the image could not be read',
    ),
    "no class-name": (
        {"source-ref": "s3://b/a.jpg", "s": 0, "s-metadata": {"type": "groundtruth/image-classification"}},
        '"s-metadata" has no "class-name"',
    ),
    "id missing from class-map": (
        multilabel_line("s3://b/a.jpg", {"0": "Dog"}, [0, 4]),
        '"animals": class id 4 is not in its "class-map"',
    ),
    "box without image_size": (
        {
            "source-ref": "s3://b/a.jpg",
            "bb": {"annotations": []},
            "bb-metadata": {"type": "groundtruth/object-detection", "class-map": {}},
        },
        '"bb": "image_size" must be',
    ),
    "box of zero width": (
        _broken_box(),
        '"bounding-box": annotation 0: width and height must be positive, found 0 x 5 pixels',
    ),
    "only other types": (
        {"source-ref": "s3://b/a.jpg", "v": "1", "v-metadata": {"type": "groundtruth/label-verification"}},
        'no image-label attribute; skipped attributes of other types: "v" (groundtruth/label-verification)',
    ),
}


@pytest.mark.parametrize("line, problem", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_a_bad_line_names_the_file_the_line_and_the_problem(
    write: Write, line: dict[str, object] | str, problem: str
) -> None:
    good = classification_line("s3://b/good.jpg", "Dog")
    path = write("data/test.manifest", jsonl(good, "", line, good))
    with pytest.raises(DatasetError) as raised:
        load_dataset(path)
    assert str(raised.value).startswith(f"{path}:3: {problem}")

    dataset = load_dataset(path, skip_bad_lines=True)
    assert len(dataset.items) == 1
    (bad,) = dataset.bad_lines
    assert (bad.path, bad.line) == (str(path), 3)
    assert bad.problem.startswith(problem)


def test_skipping_reads_every_good_line_after_a_bad_one(write: Write) -> None:
    lines = [classification_line(f"s3://b/{n}.jpg", "Dog") for n in range(5)]
    text = jsonl(*lines[:2], "{oops", *lines[2:], "[]")
    dataset = load_dataset(write("t.manifest", text), skip_bad_lines=True)
    assert len(dataset.items) == 5
    assert [bad.line for bad in dataset.bad_lines] == [3, 7]
    assert all(isinstance(bad, BadLine) for bad in dataset.bad_lines)
