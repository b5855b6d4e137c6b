"""What every operation provides, and the pieces they share (the confidence floor, ground-truth records).

An operation is one way of judging Rekognition: which API it calls with which parameters, which images
that API accepts, how its answer is read (its adapter, the only reader of that response shape), what
ground truth it needs from a dataset item, and how answers and ground truth become `Scored`: the
ScoredPairs the shared metrics, thresholds and reports work on, plus whatever only that operation knows
(COCO's AP, a category roll-up, a character error rate), as extra columns, tables and a report section.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.datasets import Dataset, DatasetItem
from evaluation.images import DETECT_LABELS_LIMITS, ImageLimits
from evaluation.labelmap import LabelMap
from evaluation.stats.metrics import ScoredPairs


class ChunkedFrame:
    """A table too large to hold as one DataFrame (predictions.csv at a million images): made a bounded
    number of rows at a time by `chunks()`, as Arrow tables (their text columns are taken from a few
    distinct strings by index, never made as a Python string per row), written so by the run folder;
    `to_frame()` builds it whole."""

    def __init__(self, columns: Sequence[str], chunks: Callable[[], Iterator[Any]]) -> None:
        self.columns = list(columns)
        self._chunks = chunks

    def chunks(self) -> Iterator[Any]:
        """pyarrow.Table parts, in order, each of the same schema."""
        return self._chunks()

    def to_frame(self) -> pd.DataFrame:
        import pyarrow as pa

        parts = list(self.chunks())
        if not parts:
            return pd.DataFrame(columns=self.columns)
        return pa.concat_tables(parts).to_pandas()


@dataclass(frozen=True)
class Scored:
    """An operation's judgement of a run, in the shape the shared analysis takes.

    `negatives` is None when `pairs` are (image, label) pairs, so true negatives are images; for
    detections (boxes, faces, words) each entry is one detection, and a threshold's true negatives are
    the false detections it removes: `negatives` per label, minus the false positives at that threshold.
    `image_level` says the pairs index the evaluated images (then the report can show them).
    """

    pairs: ScoredPairs
    ap: np.ndarray  # per label: the `ap` column of labels.csv, in the operation's own definition
    unjudged: pd.DataFrame
    predictions: pd.DataFrame | ChunkedFrame
    negatives: np.ndarray | None = None
    image_level: bool = False
    label_columns: dict[str, Any] = field(default_factory=dict)  # more columns for labels.csv, after `ap`
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # more files: <name>.csv
    details: dict[str, Any] = field(default_factory=dict)  # summary.json's "evaluation"
    markdown: tuple[str, ...] = ()  # report.md's section for this operation
    thresholds: dict[str, Any] = field(default_factory=dict)  # more entries for thresholds.yaml
    # Every ground-truth positive (image_idx, label_idx) of `pairs`, returned or not: the bootstrap over
    # images needs to know which images the positives are. None for detections (each entry is its own
    # unit there, and the analysis derives them from the pairs: see `unit_positives`).
    positives: tuple[np.ndarray, np.ndarray] | None = None
    # More tables and report.md lines that need the recommended thresholds ({label: threshold, None when
    # there is none}); the analysis calls it once, after recommending (video time lines).
    after_thresholds: (
        Callable[[Mapping[str, float | None]], tuple[dict[str, pd.DataFrame], list[str]]] | None
    ) = None


class Operation:
    """The interface; each module in this package defines one subclass and one instance of it."""

    name: str = ""  # what --operation says
    api: str = ""  # the Rekognition API it calls
    limits: ImageLimits = DETECT_LABELS_LIMITS
    needs: str = ""  # the ground truth it needs, in words, for the message when a dataset lacks it
    backends: tuple[str, ...] = ("rekognition", "replay")  # the backends that can answer it
    stores_ground_truth = True  # written as ground_truth.jsonl (images.csv cannot hold it)
    default_objective = "best-f1"  # the objective when none is given
    judges_rates = False  # True: score() takes the objective (a rate objective such as fnmr-at-fmr:F)

    def load(self, source: str, **keywords: Any) -> Dataset | None:
        """The operation's own dataset reader (face CSVs); None: the usual `load_dataset`."""
        return None

    def fetcher(self, client: Any, **settings: Any) -> Any:
        """An object that fetches whole datasets (`plan`, `fetch`, `calls_needed`; evaluation.aws.faces)
        for operations whose calls are not one per image; None: the image runner and a Backend."""
        return None

    def dataset_ground_truth(self, dataset: Dataset) -> list[dict[str, Any]]:
        """ground_truth.jsonl's records, one per item (an operation may need the whole dataset: pairs)."""
        return [self.ground_truth(item) for item in dataset.items]

    # how the response store keeps this operation's answers as columns (evaluation.calls.cache), or None:
    # then the analysis reads the raw answers with `reader`
    codec: Any = None

    def answers_from_columns(self, columns: Any) -> Sequence[Any]:
        """The answers, in order, from the store's columns of them (operations with a `codec`)."""
        raise NotImplementedError

    def request(self, *, min_confidence: float, max_labels: int) -> dict[str, Any]:
        """Every request parameter besides the image: the lowest floor the service honours."""
        raise NotImplementedError

    def read(self, response: Mapping[str, Any]) -> Any:
        """The adapter: the only code that reads this API's raw response."""
        raise NotImplementedError

    def reader(self, api: str) -> Any:
        """The adapter for answers of `api` (the API the run called); an operation reads its own API's."""
        return self.read

    def ground_truth(self, item: DatasetItem) -> dict[str, Any]:
        """The item's ground truth as plain JSON, for the run folder's ground_truth.jsonl."""
        raise NotImplementedError

    def truths(self, images: pd.DataFrame, ground_truth: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The ground truth of each images.csv row, in the shape `score` takes."""
        return list(ground_truth)

    def has_ground_truth(self, dataset: Dataset) -> bool:
        """False when no item carries what the operation scores (e.g. boxes), so the run is refused."""
        return True

    def vocabulary(self, declared: Sequence[str], truths: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
        """The labels to report: the declared ones (dataset or --labels), or those in the ground truth."""
        return tuple(declared)

    def score_options(self, options: Any) -> dict[str, Any]:
        """Analysis options only this operation's `score` takes (as keywords), from AnalysisOptions."""
        return {}

    def image_columns(self, response: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
        """What an answer says about the image as a whole, for images.csv (and so for slices)."""
        return {}

    def describes_images(self, request: Mapping[str, Any]) -> bool:
        """True when answers to `request` carry `image_columns` (the run then reads the raw answers)."""
        return False

    def requested_floor(self, request: Mapping[str, Any]) -> float:
        return float(request.get("MinConfidence", 0.0) or 0.0)

    def summary_request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """summary.json's "request": what was asked with every image."""
        return {"MinConfidence": self.requested_floor(request), "MaxLabels": None, **request}

    def floor(self, answers: Sequence[Any], request: Mapping[str, Any]) -> tuple[float, dict[str, Any]]:
        """The lowest threshold the answers can be trusted at (see `confidence_floor`)."""
        return confidence_floor(
            [answer.lowest_confidence for answer in answers],
            [answer.lowest_confidence for answer in answers if answer.truncated],
            requested=self.requested_floor(request),
        )

    def score(
        self,
        answers: Sequence[Any],
        truths: Sequence[Mapping[str, Any]],
        *,
        images: Sequence[str],
        vocabulary: Sequence[str],
        label_map: LabelMap,
        use_parents: bool,
        floor: float,
    ) -> Scored:
        raise NotImplementedError


def positive_pairs(positive_labels: Sequence[Iterable[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(image_idx, label_idx) of every positive, from each image's set of positive label indices."""
    image = [index for index, labels in enumerate(positive_labels) for _ in set(labels)]
    label = [label for labels in positive_labels for label in sorted(set(labels))]
    return np.asarray(image, dtype=np.int64), np.asarray(label, dtype=np.int64)


def unit_positives(pairs: ScoredPairs) -> tuple[np.ndarray, np.ndarray]:
    """The positives of detection pairs (each entry its own unit; real boxes or words never returned are
    the units after the entries, label by label): the true entries and those missed units."""
    n_entries = pairs.n_pairs
    found = np.bincount(pairs.label_idx[pairs.is_true], minlength=pairs.n_labels)
    missed = pairs.support - found
    if pairs.n_images != n_entries + int(missed.sum()):
        raise ValueError("detection pairs must number missed positives after their entries")
    missed_label = np.repeat(np.arange(pairs.n_labels, dtype=np.int64), missed)
    image = np.concatenate((pairs.image_idx[pairs.is_true], n_entries + np.arange(missed_label.size)))
    label = np.concatenate((pairs.label_idx[pairs.is_true], missed_label))
    return image.astype(np.int64), label.astype(np.int64)


def confidence_floor(
    lowest: Sequence[float | None], truncated: Sequence[float | None], *, requested: float
) -> tuple[float, dict[str, Any]]:
    """The lowest threshold the answers can be trusted at, with the evidence, for any operation.

    Below the requested MinConfidence nothing was asked for; when the service returned nothing below
    some confidence it may not honour a lower request; an answer cut at the operation's own limit
    (MaxLabels, 100 words) is complete only down to its lowest confidence. Evaluating below any of these
    would count what was never returned as misses. The evidence uses labels' keys, so reports read both.
    """
    seen = [value for value in lowest if value is not None]
    cut = [value for value in truncated if value is not None]
    observed = min(seen) if seen else None
    truncation_floor = max(cut) if cut else None
    floor = float(requested)
    if observed is not None and observed > requested:
        floor = max(floor, float(math.floor(observed)))
    if truncation_floor is not None:
        floor = max(floor, float(truncation_floor))
    return floor, {
        "requested_min_confidence": float(requested),
        "lowest_confidence_seen": observed,
        "answers_truncated_at_max_labels": len(cut),
        "truncation_floor": truncation_floor,
        "evaluated_from": floor,
    }


def box_of(raw: Any) -> tuple[float, float, float, float] | None:
    """A Rekognition BoundingBox (ratios: Left, Top, Width, Height) as a tuple; None when absent."""
    if not isinstance(raw, Mapping):
        return None
    try:
        return (
            float(raw.get("Left", 0.0)),
            float(raw.get("Top", 0.0)),
            float(raw.get("Width", 0.0)),
            float(raw.get("Height", 0.0)),
        )
    except (TypeError, ValueError):
        return None


def rounded(value: float | None, digits: int = 6) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


# Characters that make Markdown structure inline (emphasis, code, links, tables, strikethrough, escapes).
_MARKDOWN_PUNCTUATION = frozenset("\\`*_[]|~")
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def markdown_text(value: Any) -> str:
    """Any text (a label, a name, a path, a reason) as literal Markdown: HTML can neither start nor be
    spelt with entities (< > & become entities), inline structure is backslash-escaped, and line breaks
    (every kind a renderer may honour) become spaces, so the text stays in its table cell or line."""
    text = "" if value is None else str(value)
    out = []
    for char in text:
        if char in _HTML_ENTITIES:
            out.append(_HTML_ENTITIES[char])
        elif char in _MARKDOWN_PUNCTUATION:
            out.append("\\" + char)
        elif char in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029":
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def markdown_code(value: Any) -> str:
    """Any text as an inline code span: a fence longer than any run of backticks in it, so it cannot end
    the span early (nothing inside a code span is HTML or Markdown). Not for table cells (a `|` splits)."""
    text = " ".join(str(value).splitlines()) if value is not None else ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if isinstance(value, float):
            return f"{value:.3f}"
        return markdown_text(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
