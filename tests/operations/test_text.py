"""`--operation text`: normalisation, word matching and the character error rate, worked by hand."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evaluation.errors import UserError
from evaluation.operations.answers import ResponseShapeError
from evaluation.operations.text import edit_distance, normalize_word, read_text, words_of
from evaluation.pipeline import evaluate, reanalyse
from tests.support.fake_rekognition import text_detection as td
from tests.support.images import png_bytes
from tests.support.operations import check_run_folder, run_operation


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("STOP", "stop"),
        ("STOP!", "stop"),
        ("(555)", "555"),
        ("e-mail", "e-mail"),
        ("3.5", "3.5"),
        ("Don't", "don't"),
        ("\u201cQuoted,\u201d", "quoted"),
        ("ＳＴＯＰ", "stop"),  # full-width letters (NFKC)
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # case folding, not just lower()
        ("...", ""),
        ("$5", "5"),
    ],
)
def test_normalisation(raw, expected):
    assert normalize_word(raw) == expected


def test_ground_truth_text_splits_at_whitespace_and_drops_punctuation_words():
    assert words_of("  Main St.  -  OPEN 24h ") == ["main", "st", "open", "24h"]


@pytest.mark.parametrize(
    "a, b, distance",
    [("main st", "main sr", 1), ("", "abc", 3), ("kitten", "sitting", 3), ("same", "same", 0)],
)
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b) == distance == edit_distance(b, a)


def test_the_adapter_reads_words_and_lines():
    answer = read_text(
        {
            "TextDetections": [
                td("MAIN ST", "LINE", 0, 99.0, (0.1, 0.1, 0.5, 0.1)),
                td("MAIN", "WORD", 1, 99.5, (0.1, 0.1, 0.2, 0.1), parent=0),
                td("ST", "WORD", 2, 98.5, (0.35, 0.1, 0.1, 0.1), parent=0),
            ],
            "TextModelVersion": "3.0",
        }
    )
    assert [w.text for w in answer.words] == ["MAIN", "ST"] and answer.words[1].parent == 0
    assert answer.lines[0].box == (0.1, 0.1, 0.5, 0.1) and answer.lowest_confidence == 98.5
    assert answer.model_version == "3.0" and not answer.truncated
    with pytest.raises(ResponseShapeError, match="unknown Type"):
        read_text({"TextDetections": [{"Type": "PARAGRAPH", "DetectedText": "x", "Confidence": 1}]})


BOX = (0.1, 0.4, 0.5, 0.1)


@pytest.fixture
def dataset(tmp_path, fake_rekognition):
    """Image a (CSV words, no boxes): "STOP stop Main St."; image b: a manifest line with a boxed line."""
    a, b = png_bytes(120, 90, seed=1), png_bytes(120, 90, seed=2)
    (tmp_path / "a.png").write_bytes(a)
    (tmp_path / "b.png").write_bytes(b)
    fake_rekognition.script(
        "DetectText",
        a,
        [
            td("STOP", "WORD", 1, 99.0, (0.1, 0.1, 0.2, 0.1), parent=0),
            td("Stop", "WORD", 2, 50.0, (0.1, 0.3, 0.2, 0.1), parent=0),
            td("MAIN", "WORD", 3, 80.0, (0.1, 0.5, 0.2, 0.1), parent=0),
            td("Sr", "WORD", 4, 70.0, (0.3, 0.5, 0.1, 0.1), parent=0),
            td("Ave", "WORD", 5, 30.0, (0.5, 0.5, 0.1, 0.1), parent=0),
            td("STOP Stop MAIN Sr Ave", "LINE", 0, 70.0, (0.1, 0.1, 0.5, 0.5)),
        ],
    )
    fake_rekognition.script(
        "DetectText",
        b,
        [
            td("MAIN SR", "LINE", 0, 85.0, BOX),
            td("MAIN", "WORD", 1, 90.0, (0.1, 0.4, 0.2, 0.1), parent=0),
            td("SR", "WORD", 2, 85.0, (0.35, 0.4, 0.1, 0.1), parent=0),
        ],
    )
    csv = tmp_path / "text.csv"
    csv.write_text('image,words\na.png,"STOP stop Main St."\n')
    manifest = tmp_path / "text.manifest"
    line = {
        "source-ref": "b.png",
        "lines": [
            {"text": "Main St", "box": dict(zip(("left", "top", "width", "height"), BOX, strict=True))}
        ],
    }
    manifest.write_text(json.dumps(line) + "\n")
    return csv, manifest


def run(path, endpoint, tmp_path, **options):
    return evaluate(
        path,
        operation="text",
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "c.sqlite",
        progress=False,
        min_support=1,
        **options,
    )


def counts(result, threshold):
    row = result.metrics[result.metrics["threshold"] == threshold].iloc[0]
    return int(row["tp"]), int(row["fp"]), int(row["fn"]), int(row["tn"])


def test_words_worked_by_hand(dataset, endpoint, tmp_path, fake_rekognition):
    """Ground truth stop, stop, main, st. STOP 99 and Stop 50 find both stops, MAIN 80 main; Sr 70 and
    Ave 30 are false. At 30: tp 3, fp 2, fn 1. At 60: tp 2 (STOP, MAIN), fp 1 (Sr), fn 2, and Ave
    below the threshold is a true negative."""
    result = run(dataset[0], endpoint, tmp_path, out=tmp_path / "run")
    assert list(result.labels["label"]) == ["word"]
    assert counts(result, 30) == (3, 2, 1, 0)
    assert counts(result, 60) == (2, 1, 2, 1)
    assert counts(result, 100) == (0, 0, 4, 2)
    predictions = result.predictions
    assert predictions[predictions["outcome"] == "fn"]["word"].tolist() == ["st"]
    assert result.summary["request"]["Filters"] == {"WordFilter": {"MinConfidence": 0.0}}
    assert all(r["Filters"]["WordFilter"]["MinConfidence"] == 0.0 for r in fake_rekognition.requests)
    assert "Text: words per threshold" in (tmp_path / "run" / "report.md").read_text()


def test_character_error_rate_of_paired_lines(dataset, endpoint, tmp_path):
    """ "Main St" read as "MAIN SR": 1 error in 7 characters while the line is kept (up to 85), then 7/7."""
    result = run(dataset[1], endpoint, tmp_path, out=tmp_path / "run")
    assert result.summary["evaluation"]["lines_paired"] == 1
    assert result.summary["evaluation"]["cer_at_floor"] == pytest.approx(1 / 7, abs=1e-6)
    cer = pd.read_csv(tmp_path / "run" / "text_cer.csv").set_index("threshold")["cer"]
    assert cer.loc[85.0] == pytest.approx(1 / 7, abs=1e-6) and cer.loc[86.0] == 1.0
    lines = pd.read_csv(tmp_path / "run" / "text_lines.csv")
    assert lines.loc[0, "detected"] == "MAIN SR" and lines.loc[0, "iou"] == 1.0
    assert counts(result, 85) == (1, 1, 1, 0)  # MAIN found, SR false, st missed


def test_an_answer_at_100_words_raises_the_floor(tmp_path, fake_rekognition, endpoint):
    data = png_bytes(100, 100, seed=9)
    (tmp_path / "a.png").write_bytes(data)
    words = [td(f"w{i}", "WORD", i + 1, 40.0 + i * 0.5, (0.0, 0.0, 0.1, 0.1), parent=0) for i in range(100)]
    fake_rekognition.script("DetectText", data, words)
    (tmp_path / "t.csv").write_text("image,words\na.png,w1 w99\n")
    result = run(tmp_path / "t.csv", endpoint, tmp_path)
    assert result.summary["floor"]["evaluated_from"] == 40.0
    assert result.summary["floor"]["answers_truncated_at_max_labels"] == 1
    assert result.summary["evaluation"]["answers_at_100_words"] == 1


def test_a_labels_csv_is_refused_for_text(tmp_path, endpoint):
    (tmp_path / "a.png").write_bytes(png_bytes(100, 100))
    (tmp_path / "d.csv").write_text("image,labels\na.png,Car\n")
    with pytest.raises(UserError, match="--operation text needs the words of each image"):
        run(tmp_path / "d.csv", endpoint, tmp_path)


def test_run_operation_text_and_report(dataset, endpoint, tmp_path):
    out = tmp_path / "cli"
    code = run_operation("text", dataset[0], endpoint, tmp_path, out)
    assert code == 0
    summary = check_run_folder(out, "text", tmp_path)
    assert summary["api"] == "DetectText" and summary["model_versions"] == ["3.0"]
    dataset[0].unlink()
    assert reanalyse(out).labels["tp"].tolist() == pd.read_csv(out / "labels.csv")["tp"].tolist()
