"""The one owner of a run folder: its file names and columns, the only writer and the only reader.

A run folder is everything a run leaves on disk, for programs (CSV, JSON, YAML), for people (report.md,
report.html, rendered by evaluation.reports and handed here to write) and for re-analysis (run.json,
images.csv, ground_truth.jsonl and answers.jsonl.gz, the answers judged: the folder re-analyses without the
response cache). Every file is written beside and renamed, so a reader never sees half a file; and the
folder as a whole is written into a staging folder beside it and swapped in, so a kill while it is written
leaves the old folder or the new one, never a mix. Files in an existing folder that the run does not
write are carried over (hard links where the file system has them).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import yaml

from evaluation import staging as swap
from evaluation.analysis.result import EvaluationResult
from evaluation.analysis.score_table import ScoreTable
from evaluation.calls.answers import answer_problem
from evaluation.calls.runner import ANSWERED, ImageOutcome
from evaluation.datasets import Dataset
from evaluation.datasets.types import DATASET_COLUMN_PREFIX
from evaluation.errors import UserError
from evaluation.memory import give_back_freed_memory
from evaluation.operations.labels import encode_labels
from evaluation.tablefiles import (
    ANSWERS_FILE,
    CURVES_CSV_FILE,
    CURVES_FILE,
    read_curves,
    shared_values,
    write_answers,
    write_answers_to,
    write_csv,
    write_curves,
    write_parquet,
)

RUN_FILE = "run.json"
IMAGES_FILE = "images.csv"
SUMMARY_FILE = "summary.json"
LABELS_FILE = "labels.csv"
THRESHOLDS_FILE = "thresholds.yaml"
GROUND_TRUTH_FILE = "ground_truth.jsonl"
SCORES_FILE = "scores.parquet"  # one row per (image, label) scored: millions at scale, so columnar
SCORES_CSV_FILE = "scores.csv"  # what runs wrote before
PREDICTIONS_FILE = "predictions.csv"

METRICS_COLUMNS = ["label", "threshold", "tp", "fp", "fn", "tn", "precision", "recall", "f1", "support"]
# Wilson intervals at every whole-number threshold, where the analysis computed them (older results lack them)
METRICS_INTERVALS = ["precision_low", "precision_high", "recall_low", "recall_high"]
IMAGES_COLUMNS = [
    "image",
    "source",
    "labels",
    "status",
    "image_id",
    "cache_key",
    "model_version",
    "reason",
    "error_code",
    "orientation",
    "changes",
]
# Request parameters that name where answers come from rather than what was asked: they differ between
# backends by design, so they are not worth a warning.
IDENTITY_PARAMETERS = frozenset(
    {"Endpoint", "Model", "ModelSha256", "HierarchySha256", "ReportedFloor", "ProjectVersionArn"}
)
# labels.csv columns compare reads as numbers
NUMERIC = ("support", "ap", "threshold", "precision", "recall", "f1")


class Unfinished(Protocol):
    """Work a renderer left running (report.html's plots, drawn in a process of their own)."""

    def wait(self) -> None: ...

    def cancel(self) -> None: ...


# A renderer writes its documents from the result alone (never from the folder's tables), so it runs
# first; what it returns, if anything, is waited for once the tables are written.
Renderer = Callable[[EvaluationResult, Path], "Unfinished | None"]


def default_run_dir(dataset_name: str, reports_dir: str | Path = "reports") -> Path:
    """reports/<dataset>-<UTC time>: sortable, and never overwrites an earlier run."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset_name).strip("-") or "dataset"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(reports_dir) / f"{safe}-{stamp}"


def check_writable(out_dir: str | Path, *, option: str = "--out") -> None:
    """Refuse, before any call is paid for, a run folder that could not be written: a file in its place,
    a file on its path, or a folder (or its nearest existing parent) where nothing can be created."""
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: exists and is not a folder")
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {path}: {existing} is not a folder")
    # the folder is staged beside itself and swapped in (see `write`): its parent must take files too
    places = [existing, Path(os.path.abspath(path)).parent] if path.exists() else [existing]
    for place in places:
        try:
            handle, probe = tempfile.mkstemp(prefix=".rekognition-eval-probe-", dir=place)
            os.close(handle)
            os.unlink(probe)
        except OSError as error:
            raise UserError(f"{option} {path}: cannot write in {place} ({error.strerror or error})") from None


def atomic_write(path: Path, content: str | bytes) -> None:
    """Write beside and rename, so a reader never sees half a file."""
    temporary = path.with_name(path.name + ".tmp")
    if isinstance(content, bytes):
        temporary.write_bytes(content)
    else:
        temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, path)


def images_frame(
    dataset: Dataset,
    outcomes: Sequence[ImageOutcome],
    model_versions: Mapping[str, str | None],
    answer_columns: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """images.csv: one row per image. Text columns are object dtype: an absent value stays None, not NaN.

    `model_versions` maps an answered image's cache key to the model version that answered it;
    `answer_columns` maps it to what its answer says about the image as a whole (image quality, dominant
    colours, content types), and the dataset's own columns per item follow as `dataset.<name>`: both
    are slice keys, and only present when some image has them (older folders keep their columns).
    """
    answer_columns = answer_columns or {}
    rows = [
        {
            "image": item.image.uri,
            "source": item.source,
            "labels": encode_labels(item.labels),
            "status": outcome.status,
            "image_id": outcome.image_id,
            "cache_key": outcome.cache_key,
            "model_version": model_versions.get(outcome.cache_key) if outcome.cache_key else None,
            "reason": outcome.reason,
            "error_code": outcome.error_code,
            "orientation": outcome.orientation,
            "changes": outcome.changes,
            **(answer_columns.get(outcome.cache_key or "") or {} if outcome.answered else {}),
            **{f"{DATASET_COLUMN_PREFIX}{name}": value for name, value in item.attributes},
        }
        for item, outcome in zip(dataset.items, outcomes, strict=True)
    ]
    extra = list(dict.fromkeys(name for row in rows for name in row if name not in IMAGES_COLUMNS))
    return pd.DataFrame(rows, columns=[*IMAGES_COLUMNS, *extra], dtype=object)


def read_images_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).astype(object)
    frame = shared_values(frame.where(frame != "", None))
    give_back_freed_memory()  # the reader's columns and the copies before these: a gigabyte at a million
    return frame


def ground_truth_text(records: Iterable[Mapping[str, Any]]) -> str:
    """One JSON object per images.csv row, in that order, each naming its image."""
    return "".join(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n" for record in records)


def read_ground_truth(run_dir: Path, images: pd.DataFrame) -> list[dict[str, Any]]:
    """The run's ground_truth.jsonl, checked against images.csv row by row (same images, same order)."""
    path = run_dir / GROUND_TRUTH_FILE
    if not path.is_file():
        raise UserError(f"{run_dir} has no {GROUND_TRUTH_FILE}: this operation's ground truth is not stored")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    uris = [str(uri) for uri in images["image"]]
    if [str(record.get("image")) for record in records] != uris:
        raise UserError(f"{path} does not list the images of images.csv in the same order; rerun the run")
    return records


def answers_bytes(responses: Mapping[str, Any]) -> bytes:
    """answers.jsonl.gz: sorted by key, with no time stamp in the gzip header, so the same answers give
    the same bytes."""
    buffer = io.BytesIO()
    write_answers_to(buffer, responses)
    return buffer.getvalue()


def read_answers(path: Path, api: str | None = None) -> dict[str, Any]:
    """The answers a run folder carries, by cache key (empty when it carries none: an older run); each
    checked against `api`'s documented output shape, as the cache checks what it reads back."""
    if not path.is_file():
        return {}
    try:
        lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        answers = {str(record["key"]): record["response"] for record in records}
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise UserError(f"{path}: cannot read the stored answers ({exc}); rerun with --cache PATH") from None
    for key, response in answers.items() if api else ():
        problem = answer_problem(str(api), response)
        if problem:
            raise UserError(f"{path}: the answer for key {key[:12]}... is not valid ({problem})")
    return answers


def write(
    result: EvaluationResult,
    out_dir: str | Path,
    *,
    renderers: Sequence[Renderer] = (),
    curves_csv: bool = False,
) -> Path:
    """Write every table of `result`, then let each renderer add its documents (report.md, report.html).
    The exact curves go to curves.parquet (with `curves_csv`, to curves.csv as well).

    All of it goes into a staging folder beside `out_dir` (a copy of the existing folder, if any), which
    then takes `out_dir`'s place in one rename: a kill at any moment leaves the old folder or the new one.
    """
    given = Path(out_dir)
    out_dir = Path(os.path.abspath(given))  # "." has no name to stage beside
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file, not a folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    swap.recover(out_dir)
    staging = swap.sibling(out_dir, "staging")
    if out_dir.is_dir():
        shutil.copytree(out_dir, staging, symlinks=True, copy_function=swap.link_or_copy)
    else:
        staging.mkdir()
    try:
        before = swap.file_identities(staging)
        _write_into(result, staging, renderers, curves_csv=curves_csv)
        written = tuple(
            name for name, identity in swap.file_identities(staging).items() if before.get(name) != identity
        )
        swap.swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result.out_dir = given
    result.files = written
    return given


def _write_into(
    result: EvaluationResult, out_dir: Path, renderers: Sequence[Renderer], *, curves_csv: bool
) -> None:
    """The large tables (the answers, predictions, images, scores, curves: most of a large run's bytes)
    are written by threads of their own while the renderers write the documents and this thread the
    small tables: pyarrow, zlib and SQLite let go of the GIL, the page is mostly Python, and each only
    reads the result. The folder is complete only once every part is done, whether the rest succeeds
    or not."""
    unfinished: list[Unfinished] = []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="tables") as pool:
        background = []
        if result.responses:  # gigabytes of JSON at a million images, copied and compressed
            background.append(pool.submit(write_answers, out_dir / ANSWERS_FILE, result.responses))
        background.append(pool.submit(_write_per_image_tables, result, out_dir))
        background.append(pool.submit(write_curves, out_dir, result.curve_table, csv=curves_csv))
        try:
            for render in renderers:
                if (work := render(result, out_dir)) is not None:
                    unfinished.append(work)
            _write_other_tables(result, out_dir)
            # each image's confidence and truth per label (compare's test): made once the renderers'
            # peaks are over, written by a thread and let go once written (millions of rows at scale)
            if result.score_table is not None:  # made a row group at a time as it is written
                background.append(pool.submit(_write_scores, result.score_table, out_dir))
            for part in background:
                part.result()
        except BaseException:
            for work in unfinished:
                work.cancel()
            raise
    for work in unfinished:
        work.wait()


def _write_per_image_tables(result: EvaluationResult, out_dir: Path) -> None:
    write_csv(out_dir / IMAGES_FILE, result.images)
    write_csv(out_dir / PREDICTIONS_FILE, result.predictions)


def _write_scores(scores: pd.DataFrame | ScoreTable, out_dir: Path) -> None:
    write_parquet(out_dir / SCORES_FILE, scores)
    (out_dir / SCORES_CSV_FILE).unlink(missing_ok=True)  # an older write's, never two different ones


def _write_other_tables(result: EvaluationResult, out_dir: Path) -> None:
    atomic_write(out_dir / RUN_FILE, json.dumps(result.run, indent=2, sort_keys=True) + "\n")
    columns = METRICS_COLUMNS + [name for name in METRICS_INTERVALS if name in result.metrics.columns]
    atomic_write(out_dir / "metrics.csv", result.metrics[columns].to_csv(index=False))
    atomic_write(out_dir / "averages.csv", result.averages.to_csv(index=False))
    atomic_write(out_dir / LABELS_FILE, result.labels.to_csv(index=False))
    atomic_write(out_dir / "unjudged.csv", result.unjudged.to_csv(index=False))
    atomic_write(out_dir / SUMMARY_FILE, json.dumps(result.summary, indent=2, allow_nan=False) + "\n")
    # the pure-Python emitter (0.15 s at 10,000 images): libyaml's (CSafeDumper, 0.02 s) writes other bytes
    # for some label names (emoji escaped, keys over 128 characters or empty written another way)
    atomic_write(
        out_dir / THRESHOLDS_FILE, yaml.safe_dump(result.thresholds, sort_keys=False, allow_unicode=True)
    )
    for name, table in result.extra_tables.items():  # an operation's own tables
        atomic_write(out_dir / f"{name}.csv", table.to_csv(index=False))
    for name, document in result.documents.items():  # e.g. the review band's A2I activation conditions
        _write_document(out_dir / name, document)
    if result.ground_truth:  # what images.csv cannot hold, so `report` needs no dataset
        atomic_write(out_dir / GROUND_TRUTH_FILE, ground_truth_text(result.ground_truth))


REVIEW_BAND_TABLE = "review_band"


def write_review_band(result: EvaluationResult, out_dir: str | Path) -> list[Path]:
    """The review band's files alone (review_band.csv and its A2I JSON or YAML), for `thresholds`."""
    out_dir = Path(out_dir)
    written = []
    if REVIEW_BAND_TABLE in result.extra_tables:
        path = out_dir / f"{REVIEW_BAND_TABLE}.csv"
        atomic_write(path, result.extra_tables[REVIEW_BAND_TABLE].to_csv(index=False))
        written.append(path)
    for name, document in result.documents.items():
        path = out_dir / name
        _write_document(path, document)
        written.append(path)
    return written


def _write_document(path: Path, document: Any) -> None:
    if path.suffix == ".json":
        atomic_write(path, json.dumps(document, indent=2, allow_nan=False) + "\n")
    else:
        atomic_write(path, yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


@dataclass(frozen=True)
class Recorded:
    """What re-analysis reads from a run folder: run.json and images.csv (and the run's ground truth,
    for operations that store it, read by `ground_truth`)."""

    path: Path
    run: dict[str, Any]
    images: pd.DataFrame

    @classmethod
    def load(cls, run_dir: str | Path) -> Recorded:
        run_dir = Path(run_dir)
        run_file, images_file = run_dir / RUN_FILE, run_dir / IMAGES_FILE
        if not run_file.is_file() or not images_file.is_file():
            raise UserError(f"{run_dir} is not a run folder (no run.json and images.csv in it)")
        run = json.loads(run_file.read_text(encoding="utf-8"))
        return cls(path=run_dir, run=run, images=read_images_csv(images_file))

    @property
    def answered_keys(self) -> list[str]:
        return self.images.loc[self.images["status"].isin(ANSWERED), "cache_key"].dropna().tolist()

    @property
    def answered_versions(self) -> dict[str, str | None]:
        """Each answered cache key with the model version that answered it (None: not recorded)."""
        rows = self.images[self.images["status"].isin(ANSWERED) & self.images["cache_key"].notna()]
        versions = rows["model_version"] if "model_version" in rows.columns else [None] * len(rows)
        return {
            str(key): (None if v is None else str(v))
            for key, v in zip(rows["cache_key"], versions, strict=True)
        }

    def ground_truth(self) -> list[dict[str, Any]]:
        return read_ground_truth(self.path, self.images)

    def responses(self, keys: Sequence[str], cache: str | Path | None = None) -> dict[str, Any]:
        """The answers of `keys`: the folder's own (answers.jsonl.gz), else from the response cache the
        run used (`cache` names another); a UserError says what to pass when neither has them."""
        from evaluation.calls.cache import ResponseCache

        carried = self.answers()
        found = {key: carried[key] for key in keys if key in carried}
        wanted = [key for key in keys if key not in found]
        if not wanted:
            return found
        cache_path = Path(cache) if cache else Path(self.run["cache"])
        if not cache_path.is_file():
            raise UserError(
                f"{self.path / ANSWERS_FILE} is missing and the run's response cache {cache_path} does not "
                "exist; pass --cache PATH"
            )
        versions = self.answered_versions
        with ResponseCache(cache_path) as store:  # the answers of the version the run used, not newer ones
            stored = store.get_versions({key: versions.get(key) for key in wanted})
        lost = sorted(set(wanted) - set(stored))
        if lost:
            raise UserError(
                f"{len(lost)} answers of this run are not in {cache_path} (e.g. key {lost[0][:12]}...); "
                "pass the cache the run used with --cache"
            )
        return found | {key: entry.response for key, entry in stored.items()}

    def answers(self) -> dict[str, Any]:
        """The answers the folder carries (answers.jsonl.gz), by cache key; empty for older runs."""
        return read_answers(self.path / ANSWERS_FILE, (self.run.get("backend") or {}).get("operation"))


def api_and_operation(summary: Mapping[str, Any]) -> tuple[str | None, str]:
    """(the API called, what was judged) from a summary.json, old or new.

    Before the two had their own names, "operation" held the API and "evaluation"."operation" what
    was judged (absent for labels).
    """
    if "api" in summary:
        return summary.get("api"), str(summary.get("operation") or "labels")
    judged = (summary.get("evaluation") or {}).get("operation") or "labels"
    return summary.get("operation"), str(judged)


@dataclass(frozen=True)
class RunFolder:
    """What compare reads from a run folder: its summary, its recommendations and its images."""

    path: Path
    summary: dict[str, Any]
    labels: pd.DataFrame
    images: pd.DataFrame = field(repr=False)
    run: dict[str, Any] = field(default_factory=dict, repr=False)  # run.json: the request as sent

    @classmethod
    def load(cls, path: str | Path) -> RunFolder:
        path = Path(path)
        missing = [name for name in (SUMMARY_FILE, LABELS_FILE, IMAGES_FILE) if not (path / name).is_file()]
        if missing:
            raise UserError(f"{path} is not a run folder (no {', '.join(missing)} in it)")
        try:
            summary = json.loads((path / SUMMARY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path / SUMMARY_FILE}: cannot read it: {exc}") from None
        labels = pd.read_csv(path / LABELS_FILE, dtype=str, keep_default_na=False)  # a label "NA" stays
        for name in NUMERIC:
            if name not in labels.columns:
                raise UserError(f"{path / LABELS_FILE} has no column {name!r}: was it written by this tool?")
            labels[name] = pd.to_numeric(labels[name].replace("", np.nan), errors="coerce")
        if "threshold_low" in labels.columns:  # older runs have no threshold_low
            low = labels["threshold_low"].replace("", np.nan)
            labels["threshold_low"] = pd.to_numeric(low, errors="coerce")
        images = pd.read_csv(path / IMAGES_FILE, dtype=str, keep_default_na=False)
        for name in ("image", "labels", "status"):
            if name not in images.columns:
                raise UserError(f"{path / IMAGES_FILE} has no column {name!r}: was it written by this tool?")
        run: dict[str, Any] = {}
        if (path / RUN_FILE).is_file():
            try:
                run = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UserError(f"{path / RUN_FILE}: cannot read it: {exc}") from None
        return cls(path=path, summary=summary, labels=labels, images=images, run=run)

    def scores(self) -> pd.DataFrame | None:
        """scores.parquet (image, label, confidence, positive; scores.csv in folders written before it),
        or None for runs written without it."""
        if (self.path / SCORES_FILE).is_file():
            frame = pd.read_parquet(self.path / SCORES_FILE)
            for name in ("image", "label"):
                frame[name] = frame[name].astype(str).astype(object)
        elif (self.path / SCORES_CSV_FILE).is_file():
            frame = pd.read_csv(
                self.path / SCORES_CSV_FILE,
                dtype={"image": str, "label": str},
                keep_default_na=False,
                na_values={"confidence": [""]},
            )
        else:
            return None
        frame["confidence"] = pd.to_numeric(frame["confidence"], errors="coerce")
        frame["positive"] = frame["positive"].astype(int).astype(bool)
        return frame

    def metrics(self) -> pd.DataFrame | None:
        """metrics.csv: every label at every whole-number threshold (None when absent)."""
        path = self.path / "metrics.csv"
        if not path.is_file():
            return None
        frame = pd.read_csv(path, dtype={"label": str}, keep_default_na=False)
        for name in ("threshold", "tp", "fp", "fn", "precision", "recall", "f1"):
            frame[name] = pd.to_numeric(frame[name].replace("", np.nan), errors="coerce")
        return frame

    def curves(self) -> pd.DataFrame:
        """The exact curves: every label's counts at each distinct confidence (threshold descending), from
        curves.parquet or, in folders written before it, curves.csv."""
        if not (self.path / CURVES_FILE).is_file() and not (self.path / CURVES_CSV_FILE).is_file():
            raise UserError(f"{self.path} has no {CURVES_FILE}: was it written by this tool?")
        frame = read_curves(self.path)
        frame["label"] = frame["label"].astype(str)
        for name in ("threshold", "tp", "fp", "fn"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        return frame

    @property
    def title(self) -> str:
        """Backend and model version(s), the usual reason to compare two runs."""
        versions = ", ".join(self.summary.get("model_versions") or []) or "no model version"
        return f"{self.summary.get('backend') or '?'} {versions}"

    @property
    def request(self) -> dict[str, Any]:
        """What was asked with every image (MinConfidence, MaxLabels, ...): run.json's, else summary's."""
        return dict(self.run.get("request") or self.summary.get("request") or {})

    @property
    def evaluated_from(self) -> float | None:
        value = (self.summary.get("floor") or {}).get("evaluated_from")
        return float(value) if isinstance(value, (int, float)) else None

    def facts(self) -> list[tuple[str, str]]:
        summary = self.summary
        images = summary.get("images", {})
        asked = ", ".join(
            f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
            for key, value in self.request.items()
            if key not in IDENTITY_PARAMETERS and value is not None
        )
        floor = self.evaluated_from
        return [
            ("Folder", str(self.path)),
            ("Backend", f"{summary.get('backend') or '–'} · {api_and_operation(summary)[0] or '–'}"),
            ("Model version(s)", ", ".join(summary.get("model_versions") or []) or "–"),
            ("Images", f"{images.get('evaluated', '?')} evaluated of {images.get('total', '?')}"),
            ("Request", asked or "–"),
            ("Evaluated from", "–" if floor is None else f"confidence {floor:g}"),
            ("Objective", f"{summary.get('objective')}, minimum support {summary.get('min_support')}"),
            ("Date", str(summary.get("created_at") or "–")),
        ]
