"""Writing Custom Labels manifests: round trips through the reader, the documented shapes, and the limits.

A dataset written here and read back by evaluation/datasets/manifest.py must give the same images, labels
and boxes; every broken limit of the Custom Labels guide is named with its manifest and dataset lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evaluation.cli import main
from evaluation.datasets import load_dataset
from evaluation.datasets.manifest_writer import ManifestError, build_manifest, write_manifest
from evaluation.datasets.types import Dataset, DatasetItem, GroundTruthBox
from evaluation.errors import UserError
from evaluation.images import ImageRef
from tests.datasets.builders import detection_line, jsonl
from tests.support.images import png_bytes


def csv_dataset(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    for index, (name, _) in enumerate(rows):
        (tmp_path / "images" / name).write_bytes(png_bytes(96, 72, seed=index))
    path = tmp_path / "data.csv"
    path.write_text("image,labels\n" + "".join(f"images/{name},{labels}\n" for name, labels in rows))
    return path


def truth(dataset: Dataset, strip: str = "") -> dict[str, frozenset[str]]:
    return {item.image.uri.replace(strip, ""): item.labels for item in dataset.items}


def fixed_size(ref: ImageRef) -> tuple[str, tuple[int, int], int]:
    return "png", (100, 100), 1000


def item(index: int, labels: set[str], boxes: tuple = ()) -> DatasetItem:
    return DatasetItem(
        ImageRef(f"s3://bucket/images/{index}.png"), frozenset(labels), f"data.csv:{index + 2}", boxes
    )


def dataset_of(items: list[DatasetItem]) -> Dataset:
    vocabulary = tuple(sorted({label for i in items for label in i.labels}))
    return Dataset("d", "data.csv", "csv", items, [], vocabulary)


def test_classification_round_trip_with_several_labels_and_a_negative_label(tmp_path):
    source = csv_dataset(
        tmp_path, [("a.png", "dent"), ("b.png", "dent;scratch"), ("c.png", "scratch"), ("d.png", "")]
    )
    dataset = load_dataset(source)
    out = tmp_path / "out" / "test.manifest"
    manifest = write_manifest(dataset, out, negative_label="background")
    assert manifest.kind == "classification" and not manifest.errors
    back = load_dataset(out)
    expected = truth(dataset)
    expected[str((tmp_path / "images" / "d.png").resolve())] = frozenset({"background"})
    assert truth(back) == expected
    # the documented image-level shape: one classification attribute per label
    second = json.loads(out.read_text().splitlines()[1])
    assert second["source-ref"] == "../images/b.png"
    names = {
        second[f"{key}-metadata"]["class-name"]
        for key in ("rekognition-eval-class-0", "rekognition-eval-class-1")
    }
    assert names == {"dent", "scratch"}
    metadata = second["rekognition-eval-class-0-metadata"]
    assert set(metadata) == {
        "confidence",
        "job-name",
        "class-name",
        "human-annotated",
        "creation-date",
        "type",
    }
    assert metadata["type"] == "groundtruth/image-classification" and metadata["human-annotated"] == "yes"


def test_an_image_without_a_label_needs_a_negative_label_in_classification(tmp_path):
    dataset = load_dataset(csv_dataset(tmp_path, [("a.png", "dent"), ("b.png", "scratch"), ("c.png", "")]))
    with pytest.raises(ManifestError, match=r"line 3 \(.*data.csv:4\): no label") as caught:
        write_manifest(dataset, tmp_path / "x.manifest")
    assert "--negative-label" in str(caught.value.manifest.errors[0])
    assert not (tmp_path / "x.manifest").exists()


def test_detection_round_trip_keeps_boxes_and_images_without_boxes(write, tmp_path):
    for name in ("a.png", "b.png"):
        write(f"images/{name}", png_bytes(640, 480, seed=len(name)))
    source = write(
        "in.manifest",
        jsonl(
            detection_line(
                "images/a.png",
                [
                    {"class_id": 1, "top": 251, "left": 399, "width": 155, "height": 101},
                    {"class_id": 0, "top": 65, "left": 86, "width": 220, "height": 334},
                ],
                {"0": "Echo", "1": "Echo Dot"},
            ),
            detection_line("images/b.png", [], {}),
        ),
    )
    first = load_dataset(source)
    out = tmp_path / "out.manifest"
    manifest = write_manifest(first, out)
    assert manifest.kind == "detection" and not manifest.errors
    back = load_dataset(out)
    assert truth(back) == truth(first)
    for before, after in zip(first.items, back.items, strict=True):
        assert [box.label for box in before.boxes] == [box.label for box in after.boxes]
        for a, b in zip(before.boxes, after.boxes, strict=True):  # whole pixels in, whole pixels out
            assert (a.left, a.top, a.width, a.height) == pytest.approx(
                (b.left, b.top, b.width, b.height), abs=1e-9
            )
    line = json.loads(out.read_text().splitlines()[0])
    value, metadata = line["rekognition-eval-boxes"], line["rekognition-eval-boxes-metadata"]
    assert value["image_size"] == [{"width": 640, "height": 480, "depth": 3}]
    assert {"class_id", "top", "left", "width", "height"} == set(value["annotations"][0])
    assert metadata["type"] == "groundtruth/object-detection" and len(metadata["objects"]) == 2
    assert sorted(metadata["class-map"].values()) == ["Echo", "Echo Dot"]
    assert json.loads(out.read_text().splitlines()[1])["rekognition-eval-boxes"]["annotations"] == []


def test_s3_prefix_maps_local_images_under_their_common_folder(tmp_path):
    dataset = load_dataset(csv_dataset(tmp_path, [("a.png", "dent"), ("b.png", "scratch")]))
    out = tmp_path / "up.manifest"
    manifest = write_manifest(dataset, out, s3_prefix="s3://bucket/datasets/parts")
    refs = [json.loads(line)["source-ref"] for line in out.read_text().splitlines()]
    assert refs == ["s3://bucket/datasets/parts/a.png", "s3://bucket/datasets/parts/b.png"]
    assert manifest.upload_root == str((tmp_path / "images").resolve()) and not manifest.warnings
    back = load_dataset(out)
    assert truth(back, "s3://bucket/datasets/parts/") == {
        name: labels for name, labels in zip(("a.png", "b.png"), truth(dataset).values(), strict=True)
    }


def test_local_paths_are_a_warning_since_custom_labels_imports_s3_only(tmp_path):
    dataset = load_dataset(csv_dataset(tmp_path, [("a.png", "dent"), ("b.png", "scratch")]))
    manifest = build_manifest(dataset, manifest_path=tmp_path / "m.manifest")
    assert [p.severity for p in manifest.problems] == ["warning"]
    assert "--s3-prefix" in manifest.problems[0].message


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            [item(0, {f"l{i}" for i in range(51)}), item(1, {"x"})],
            r"line 1 \(data.csv:2\): 51 labels, at most 50 per image",
        ),
        ([item(i, {f"l{i}", "common"}) for i in range(250)], "251 distinct labels: at most 250"),
        ([item(0, {"only"}), item(1, {"only"})], "a classification dataset needs at least 2"),
        (
            [
                item(0, {"a"}, tuple(GroundTruthBox("a", 0.1, 0.1, 0.1, 0.1) for _ in range(51))),
                item(1, {"b"}),
            ],
            r"line 1 \(data.csv:2\): 51 boxes, at most 50",
        ),
        (
            [item(0, {"a"}), DatasetItem(ImageRef("s3://other/x.png"), frozenset({"b"}), "data.csv:3")],
            "images in 2 buckets",
        ),
    ],
)
def test_limits_are_named_with_their_lines(items, message):
    manifest = build_manifest(dataset_of(items), manifest_path="m.manifest", sizes=fixed_size)
    assert any(re.search(message, str(p)) for p in manifest.errors), manifest.problems


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((63, 100), "63x100 px: Custom Labels takes 64 to 4096 px a side"),
        ((5000, 300), "5000x300 px: Custom Labels takes 64 to 4096 px a side"),
        ((2100, 100), "2100x100 px: the aspect ratio may be at most 20:1"),
    ],
)
def test_image_sizes_are_checked(size, message):
    items = [item(0, {"a"}), item(1, {"b"})]
    sizes = {items[0].image: ("png", size, 1000), items[1].image: ("png", (100, 100), 1000)}
    manifest = build_manifest(dataset_of(items), manifest_path="m.manifest", sizes=sizes.__getitem__)
    assert [str(p) for p in manifest.errors] == [f"error: line 1 (data.csv:2): {message}"]


def test_the_command_writes_checks_and_lists_problems(tmp_path, capsys):
    source = csv_dataset(tmp_path, [("a.png", "dent"), ("b.png", "scratch"), ("c.png", "")])
    assert main(["--quiet", "manifest", str(source)]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "data.csv:4" in err and "no label" in err
    out = tmp_path / "x.manifest"
    args = ["--quiet", "manifest", str(source), "--out", str(out), "--negative-label", "background"]
    assert main([*args, "--s3-prefix", "s3://bucket/x/"]) == 0
    printed = capsys.readouterr().out
    assert "3 image(s), 3 label(s), classification" in printed and "aws s3 sync" in printed
    assert len(out.read_text().splitlines()) == 3
    with pytest.raises(UserError, match="--s3-prefix must be"):
        build_manifest(load_dataset(source), manifest_path=out, s3_prefix="bucket/x")
