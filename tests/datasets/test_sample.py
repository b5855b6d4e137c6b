"""The bundled sample dataset, and `make demo`'s command run on it exactly as the Makefile writes it."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from PIL import Image

from evaluation.cli import main
from evaluation.datasets import load_dataset
from evaluation.images import DETECT_LABELS_LIMITS, load_image
from evaluation.labelmap import LabelMap

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "datasets" / "sample"
VOCABULARY = ["Animal", "Building", "Cat", "Coffee", "Cup", "Flower", "Person", "Rocket", "Tripod"]


def photo_of(uri: str) -> str:
    """The photograph an image was made from: `chelsea-mirror-rot-6.jpg` -> `chelsea`."""
    return re.sub(r"-(a|mirror|crop|rot7|mirror-rot-6|exif)\.jpg$", "", Path(uri).name)


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(str(SAMPLE / "manifest.jsonl"))


def test_the_manifest_reads_with_no_bad_line(dataset):
    assert dataset.format == "manifest"
    assert dataset.bad_lines == () or list(dataset.bad_lines) == []
    assert len(dataset.items) >= 36
    assert sorted(dataset.vocabulary) == VOCABULARY


def test_every_label_has_positives_and_negatives(dataset):
    for label in VOCABULARY:
        positives = sum(label in item.labels for item in dataset.items)
        assert 5 <= positives < len(dataset.items), label


def test_every_image_passes_the_image_checks_and_is_small(dataset):
    for item in dataset.items:
        loaded = load_image(item.image, DETECT_LABELS_LIMITS)
        assert loaded.format == "jpeg"
        assert max(loaded.width, loaded.height) <= 640
        assert len(loaded.data) < 120_000, item.image.uri


def test_the_manifest_and_the_images_folder_agree(dataset):
    referenced = {Path(item.image.uri).name for item in dataset.items}
    on_disk = {path.name for path in (SAMPLE / "images").iterdir()}
    assert referenced == on_disk


def test_copies_of_one_photograph_share_its_labels(dataset):
    by_photo: dict[str, set[frozenset[str]]] = {}
    for item in dataset.items:
        by_photo.setdefault(photo_of(item.image.uri), set()).add(item.labels)
    assert all(len(labels) == 1 for labels in by_photo.values()), by_photo


def test_the_readme_states_source_and_licence_of_every_photograph(dataset):
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    photos = {photo_of(item.image.uri) for item in dataset.items}
    rows = {line.split("|")[1].strip(" `*-") for line in readme.splitlines() if line.startswith("| `")}
    assert photos <= rows
    for line in readme.splitlines():
        if line.startswith("| `"):
            assert re.search(r"CC0|CC BY 2\.0|public domain|no known copyright restrictions", line), line


def test_exif_copies_are_stored_turned():
    for path in (SAMPLE / "images").glob("*-exif.jpg"):
        with Image.open(path) as image:
            assert image.getexif().get(0x0112) == 6, path.name


def test_the_label_map_loads():
    label_map = LabelMap.load(SAMPLE / "label_map.yaml")
    assert "Coffee Cup" in label_map.targets("Cup")
    assert yaml.safe_load((SAMPLE / "label_map.yaml").read_text(encoding="utf-8"))


def demo_arguments() -> list[str]:
    """The arguments `make demo` passes to `python -m evaluation`, read from the Makefile itself."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    recipe = re.search(r"^demo:.*\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe, "the Makefile has a demo target"
    words = shlex.split(recipe.group(1))
    assert words[:3] == ["$(DEMO_VENV)/bin/python", "-m", "evaluation"], words
    return words[3:]


def test_the_demo_command_runs_offline_and_writes_a_complete_report(tmp_path, capsys):
    arguments = demo_arguments()
    assert "--backend" in arguments and arguments[arguments.index("--backend") + 1] == "local"
    out = tmp_path / "sample-demo"
    code = main([*arguments, "--out", str(out), "--cache", str(tmp_path / "cache.sqlite")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"Report: {out / 'report.md'}" in printed
    assert "One MinConfidence for all labels" in printed
    for name in ("report.md", "summary.json", "thresholds.yaml", "metrics.csv", "images.csv", "run.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["images"]["not_evaluated"] == 0 and summary["backend"] == "local"
    assert summary["model_versions"] == ["efficientnet-lite0-imagenet:1"]
    assert summary["labels"]["Cat"]["recommended"]["recall"] == 1.0
    thresholds = yaml.safe_load((out / "thresholds.yaml").read_text(encoding="utf-8"))
    assert thresholds
    assert_the_demo_recommends_and_stays_honest(out, printed)


# Support 6 with recall 1 and precision 1 needs 6 positives for Wilson 95% intervals within +-0.2 (the
# planning rule of evaluation.stats.sample_size); Person and Building (recall 0.5 over 12 positives) need 21.
RECOMMENDED = {"Animal", "Cat", "Coffee", "Cup", "Flower", "Rocket", "Tripod"}
TOO_FEW = {"Building": 21, "Person": 21}


def assert_the_demo_recommends_and_stays_honest(out: Path, printed: str) -> None:
    """7 of the 9 labels get a recommendation with status ok; the two weak ones still say too few."""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    statuses = {label: row["recommended"]["status"] for label, row in summary["labels"].items()}
    assert {label for label, status in statuses.items() if status == "ok"} == RECOMMENDED
    assert sum(status == "ok" for status in statuses.values()) == 7
    for label, needed in TOO_FEW.items():
        recommended = summary["labels"][label]["recommended"]
        assert recommended["status"] == "too-few-positives" and recommended["positives_needed"] == needed
        assert f"label about {needed - 12} more images with {label}" in recommended["note"]
    assert summary["intervals"]["half_width"] == 0.2
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "within +-0.2 (set with --half-width 0.2; the default is +-0.05)" in report
    thresholds = yaml.safe_load((out / "thresholds.yaml").read_text(encoding="utf-8"))
    assert thresholds["intervals"]["half_width"] == 0.2
    assert {label for label, row in thresholds["labels"].items() if row["status"] == "ok"} == RECOMMENDED
    table = {
        line.split()[0]: line.split()[-1]
        for line in printed.splitlines()
        if line.split()[-1:] in (["ok"], ["too-few-positives"])
    }
    assert table == statuses


def test_the_makefile_and_the_demo_command_use_the_same_settings():
    from evaluation.cli.demo import DEMO_HALF_WIDTH, DEMO_MIN_SUPPORT

    arguments = demo_arguments()
    assert float(arguments[arguments.index("--half-width") + 1]) == DEMO_HALF_WIDTH
    assert int(arguments[arguments.index("--min-support") + 1]) == DEMO_MIN_SUPPORT


def test_the_demo_subcommand_recommends_and_says_why_its_settings_differ(tmp_path, capsys):
    """`rekognition-eval demo` (the wheel's entry point) judges as `make demo` does, and says what it set;
    at the default half-width every label of the sample would be too-few-positives (no recommendation)."""
    pytest.importorskip("onnxruntime")
    from evaluation.pipeline import reanalyse

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--cache", str(tmp_path / "cache.sqlite")]) == 0
    printed = capsys.readouterr().out
    assert_the_demo_recommends_and_stays_honest(out, printed)
    assert (
        "Demo settings: --min-support 5 --half-width 0.2. The default +-0.05 needs at least 35 positives a "
        "label; the sample has 6 to 12" in printed
    )
    default = reanalyse(out, half_width=0.05, resamples=0)
    assert set(default.labels["status"]) == {"too-few-positives"}
