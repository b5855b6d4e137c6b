"""What the dataset reader found and did not use reaches summary.json and the Problems sections; the
label map's "typo?" warning names only keys that are no label of the dataset at all."""

from __future__ import annotations

import json
import logging

from evaluation.pipeline import evaluate
from tests.support.fake_rekognition import label
from tests.support.images import png_bytes


def test_dataset_warnings_are_in_summary_and_problems(tmp_path, fake_rekognition, endpoint):
    root = tmp_path / "pets"
    (root / "Cat").mkdir(parents=True)
    (root / "Empty").mkdir()
    (root / "Empty" / "notes.txt").write_text("no image here")
    for index, folder in enumerate((root / "Cat", root)):
        data = png_bytes(100, 100, seed=index)
        (folder / f"{index}.png").write_bytes(data)
        fake_rekognition.answer_for_bytes(data, [label("Cat", 90.0 - 30 * index)])
    result = evaluate(
        root,
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "c.sqlite",
        min_support=1,
        progress=False,
        out=tmp_path / "run",
    )
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    warnings = summary["dataset"]["warnings"]
    assert len(warnings) == 1 and "Empty" in warnings[0] and "ignored" in warnings[0]
    assert str(tmp_path) not in warnings[0]  # shown relative to the dataset, as every path
    assert result.summary["dataset"]["warnings"] == warnings
    markdown = (tmp_path / "run" / "report.md").read_text()
    problems = markdown.split("## Problems", 1)[1].split("\n## ", 1)[0]
    assert "Empty hold no images" in problems and "None:" not in problems
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    section = page.split('<section id="problems"', 1)[1].split("</section>", 1)[0]
    assert 'id="dataset-warnings"' in section and "Empty hold no images" in section


def test_the_typo_warning_skips_labels_left_out_with_labels(tmp_path, fake_rekognition, endpoint, caplog):
    rows = []
    for index, truth in enumerate(("Cat", "Dog", "Cat;Dog")):
        data = png_bytes(100, 100, seed=10 + index)
        (tmp_path / f"{index}.png").write_bytes(data)
        fake_rekognition.answer_for_bytes(data, [label("Cat", 80.0), label("Dog", 70.0)])
        rows.append(f"{index}.png,{truth}")
    (tmp_path / "data.csv").write_text("image,labels\n" + "\n".join(rows) + "\n")
    (tmp_path / "map.yaml").write_text("Cat: Cat\nDog: [Dog, Puppy]\nCta: Cat\n")
    with caplog.at_level(logging.WARNING):
        evaluate(
            tmp_path / "data.csv",
            endpoint_url=endpoint.url,
            region="us-east-1",
            cache=tmp_path / "c.sqlite",
            label_map=tmp_path / "map.yaml",
            vocabulary=["Cat"],
            min_support=1,
            progress=False,
        )
    typos = [record.getMessage() for record in caplog.records if "label map entries" in record.getMessage()]
    assert len(typos) == 1
    assert "'Cta'" in typos[0] and "'Dog'" not in typos[0]
