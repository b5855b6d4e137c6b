"""The notebook API: what a result shows, how its tables are indexed, keywords by the CLI's names,
plot/explore, and reanalyse on a run folder copied without its response cache."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evaluation.errors import UserError
from evaluation.pipeline import Evaluation, evaluate, reanalyse
from evaluation.runfolder import ANSWERS_FILE
from tests.support.reports import make_run
from tests.support.runs import build_dataset


@pytest.fixture
def run(tmp_path: Path, fake_rekognition, endpoint) -> Path:  # type: ignore[no-untyped-def]
    csv, _ = build_dataset(tmp_path, fake_rekognition, count=80)
    return make_run(csv, endpoint.url, tmp_path / "run", tmp_path / "cache.sqlite")


def test_a_result_shows_a_short_summary_not_its_dataframes(run: Path) -> None:
    result = reanalyse(run)
    text = repr(result)
    assert len(text) < 2500 and text.startswith("Evaluation: ")
    labels = pd.read_csv(run / "labels.csv")
    for name in labels["label"]:
        assert name in text
    assert "80 of 80 images evaluated" in text and "rekognition" in text and "problems:" in text
    page = result._repr_html_()
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    assert body.count("<tr") == len(labels)  # one row per label (all of them: fewer than REPR_LABELS)
    assert len(page) < 10_000 and "min_confidence" in page


def test_labels_are_indexed_by_label_and_keep_their_column(run: Path) -> None:
    result = reanalyse(run)
    labels = pd.read_csv(run / "labels.csv")
    assert list(result.labels.index) == list(labels["label"])
    assert result.labels.loc["Cat", "support"] == labels.set_index("label").loc["Cat", "support"]
    assert list(result.labels["label"]) == list(labels["label"])  # labels.csv unchanged
    recommended = result.recommended()
    thresholds = yaml.safe_load((run / "thresholds.yaml").read_text())
    for name, entry in thresholds["labels"].items():
        expected = entry["min_confidence"]
        got = recommended.loc[name, "min_confidence"]
        assert (pd.isna(got) and expected is None) or got == expected


def test_never_returned_counts_positives_without_any_confidence(run: Path) -> None:
    result = reanalyse(run)
    curves = pd.read_parquet(run / "curves.parquet")
    labels = pd.read_csv(run / "labels.csv").set_index("label")
    for name, never in result.never_returned.items():
        tp_max = curves.loc[curves["label"] == name, "tp"].max()
        assert never == labels.loc[name, "support"] - (0 if pd.isna(tp_max) else tp_max)


def test_keywords_by_the_cli_names_are_the_same_settings(tmp_path: Path, fake_rekognition, endpoint) -> None:  # type: ignore[no-untyped-def]
    csv, _ = build_dataset(tmp_path, fake_rekognition, count=40)
    common = {"endpoint_url": endpoint.url, "cache": tmp_path / "c.sqlite", "progress": False}
    by_cli = evaluate(csv, labels="Cat,Dog", parents=False, format="csv", **common)
    by_field = evaluate(csv, vocabulary=["Cat", "Dog"], use_parents=False, dataset_format="csv", **common)
    assert isinstance(by_cli, Evaluation)
    assert list(by_cli.labels.index) == list(by_field.labels.index) == ["Cat", "Dog"]
    pd.testing.assert_frame_equal(by_cli.labels, by_field.labels)
    assert by_cli.run["analysis"]["use_parents"] is False
    with pytest.raises(TypeError, match="labels= or vocabulary="):
        evaluate(csv, labels="Cat", vocabulary=["Cat"], **common)


def test_plot_and_explore(run: Path, tmp_path: Path) -> None:
    result = reanalyse(run)
    figure = result.plot("Cat")
    assert figure._repr_png_().startswith(b"\x89PNG")
    assert "All labels" in result.plot()._suptitle.get_text()
    with pytest.raises(KeyError, match="no label 'Kat'"):
        result.plot("Kat")
    explorer = result.explore(height=500)
    frame = explorer._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "height:500px" in frame and "&lt;script" in frame
    saved = explorer.save(tmp_path / "page.html")
    assert saved.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_reanalyse_writes_only_when_given_out(run: Path, tmp_path: Path) -> None:
    before = {path.name: path.stat().st_mtime_ns for path in run.iterdir() if path.is_file()}
    again = reanalyse(run, objective="precision-at-recall:0.5")
    assert again.out_dir is None
    assert {path.name: path.stat().st_mtime_ns for path in run.iterdir() if path.is_file()} == before
    elsewhere = reanalyse(run, objective="precision-at-recall:0.5", out=tmp_path / "p50")
    assert elsewhere.out_dir == tmp_path / "p50" and (tmp_path / "p50" / "report.html").is_file()
    assert "precision-at-recall" in (tmp_path / "p50" / "thresholds.yaml").read_text()


def test_a_copied_run_folder_reanalyses_without_its_cache(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "colleague" / "run"
    shutil.copytree(run, copy)
    (tmp_path / "cache.sqlite").unlink()  # the cache the run used is gone
    records = [json.loads(line) for line in gzip.decompress((copy / ANSWERS_FILE).read_bytes()).splitlines()]
    images = pd.read_csv(copy / "images.csv")
    assert sorted(record["key"] for record in records) == sorted(images["cache_key"].dropna())
    again = reanalyse(copy)
    pd.testing.assert_frame_equal(
        again.labels.reset_index(drop=True),
        pd.read_csv(copy / "labels.csv", keep_default_na=False, na_values=[""]).astype(
            again.labels.dtypes.to_dict()
        ),
        check_dtype=False,
    )
    from evaluation.cli import main

    assert main(["report", str(copy), "--objective", "precision-at-recall:0.5"]) == 0
    # an older folder, without the answers and without the cache, says what to pass
    (copy / ANSWERS_FILE).unlink()
    with pytest.raises(UserError, match="--cache PATH"):
        reanalyse(copy)


def test_the_answers_file_is_the_same_bytes_for_the_same_answers(run: Path, tmp_path: Path) -> None:
    first = (run / ANSWERS_FILE).read_bytes()
    reanalyse(run, out=run)
    assert (run / ANSWERS_FILE).read_bytes() == first


def test_a_tampered_answers_file_is_refused_with_its_name(run: Path, tmp_path: Path) -> None:
    path = run / ANSWERS_FILE
    records = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    records[0]["response"] = {"Labels": "not a list"}
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
    expected = pd.read_csv(run / "labels.csv")
    # with the run's cache, the analysis reads the cache's checked answers, never the folder's file
    pd.testing.assert_frame_equal(
        pd.read_csv(reanalyse(run, out=tmp_path / "again").out_dir / "labels.csv"), expected
    )
    # without it, the file is what is read: every answer is checked, and the bad one named
    (tmp_path / "cache.sqlite").unlink()
    with pytest.raises(UserError, match=r"answers.jsonl.gz: the answer for key .* is not valid"):
        reanalyse(run)


def test_a_cache_missing_one_answer_falls_back_to_the_folders_answers(run: Path, tmp_path: Path) -> None:
    expected = pd.read_csv(run / "labels.csv")
    with sqlite3.connect(tmp_path / "cache.sqlite") as connection:  # one answer gone (a hand edit, a prune)
        connection.execute("DELETE FROM responses WHERE key = (SELECT MIN(key) FROM responses)")
    again = reanalyse(run, out=tmp_path / "again")
    pd.testing.assert_frame_equal(pd.read_csv(again.out_dir / "labels.csv"), expected)
    (run / ANSWERS_FILE).unlink()  # and without the folder's file, the missing answer is named
    with pytest.raises(UserError, match="are not in"):
        reanalyse(run)
