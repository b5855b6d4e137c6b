"""`--operation text`: DetectText's words against the words each image shows; lines paired by box for CER.

- API and request: DetectText with Filters.WordFilter.MinConfidence 0 (the service's default is 80),
  so one call answers every threshold above.
- Limits: the image operations' (DETECT_LABELS_LIMITS). The service returns at most 100 words per image:
  an answer with 100 words may have lost some, and is complete only down to its least confident word
  (the floor rises to it, as for MaxLabels).
- Adapter: `read_text` below, the only reader of its response: TextDetections of Type WORD and LINE
  (DetectedText, Confidence, Id, ParentId, Geometry.BoundingBox) and TextModelVersion.
- Ground truth: the text of each image (`image,words` CSV), or its lines, some with boxes (a manifest with
  `lines`), see evaluation.datasets.textfile.
- Normalisation, before any comparison (`normalize_word`): Unicode NFKC (full-width letters, ligatures),
  case folded ("STOP" = "stop"), punctuation stripped from both ends of a word ("STOP!" = "stop",
  "(555)" = "555") but kept inside ("e-mail", "3.5", "don't"); a word of punctuation only is dropped.
  Ground-truth text is split into words at whitespace, then normalised the same way.
- Words: per image, detected WORDs most confident first each take one unmatched ground-truth occurrence
  of the same normalised word (a word that appears twice must be found twice); the rest are false
  positives, and the occurrences left are false negatives. Greedy by confidence, so the counts at every
  threshold come from one matching. One label, `word`: precision and recall of words per threshold.
- Lines (character error rate): each ground-truth line with a box is paired with the detected LINE that
  overlaps it most (IoU >= 0.5, one to one, best overlaps first). CER = edit distance between the
  normalised texts / characters of the ground truth, summed over lines; a line without a pair, or whose
  pair is below the threshold, counts as read as nothing (all its characters are errors). text_cer.csv
  has the CER at every whole-number threshold.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.datasets import Dataset, DatasetItem
from evaluation.images import DETECT_LABELS_LIMITS
from evaluation.labelmap import LabelMap
from evaluation.operations.answers import ResponseShapeError
from evaluation.operations.base import Operation, Scored, box_of, markdown_table, rounded
from evaluation.operations.detection import iou_matrix
from evaluation.stats.metrics import ScoredPairs

WORD = "word"
MAX_WORDS = 100  # DetectText's limit per image
LINE_IOU = 0.5


def _punctuation(character: str) -> bool:
    return unicodedata.category(character).startswith(("P", "S"))


def normalize_word(text: str) -> str:
    """The comparable form of a word: NFKC, case folded, punctuation (and symbols) stripped at both ends."""
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    start, end = 0, len(folded)
    while start < end and _punctuation(folded[start]):
        start += 1
    while end > start and _punctuation(folded[end - 1]):
        end -= 1
    return folded[start:end]


def words_of(text: str) -> list[str]:
    """A text's words, normalised, in order; words of punctuation only are dropped."""
    return [word for word in (normalize_word(part) for part in text.split()) if word]


def normalize_line(text: str) -> str:
    return " ".join(words_of(text))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of characters)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class Detected:
    text: str
    confidence: float
    box: tuple[float, float, float, float] | None
    identity: int | None
    parent: int | None


@dataclass(frozen=True)
class TextAnswer:
    """What DetectText said about one image: its words and its lines."""

    words: tuple[Detected, ...]
    lines: tuple[Detected, ...]
    model_version: str | None

    @property
    def lowest_confidence(self) -> float | None:
        return min((word.confidence for word in self.words), default=None)

    @property
    def truncated(self) -> bool:
        return len(self.words) >= MAX_WORDS


def read_text(response: Mapping[str, Any]) -> TextAnswer:
    """Read a DetectText response (as boto3 returns it, or as stored JSON)."""
    entries = response.get("TextDetections", []) if isinstance(response, Mapping) else None
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise ResponseShapeError("a DetectText response must be an object with a TextDetections list")
    words, lines = [], []
    for raw in entries:
        try:
            kind, text, confidence = str(raw["Type"]), str(raw["DetectedText"]), float(raw["Confidence"])
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"text detection without Type, DetectedText and a numeric Confidence: {raw!r}"
            raise ResponseShapeError(problem) from exc
        geometry = raw.get("Geometry") if isinstance(raw.get("Geometry"), Mapping) else {}
        detected = Detected(
            text, confidence, box_of(geometry.get("BoundingBox")), raw.get("Id"), raw.get("ParentId")
        )
        if kind == "WORD":
            words.append(detected)
        elif kind == "LINE":
            lines.append(detected)
        else:
            raise ResponseShapeError(f"text detection of unknown Type {kind!r} (WORD or LINE)")
    version = response.get("TextModelVersion")
    return TextAnswer(tuple(words), tuple(lines), str(version) if version is not None else None)


class TextOperation(Operation):
    name = "text"
    api = "DetectText"
    limits = DETECT_LABELS_LIMITS
    needs = "the words of each image: a CSV with the header image,words, or a manifest with lines"

    def request(self, *, min_confidence: float, max_labels: int) -> dict[str, Any]:
        return {"Filters": {"WordFilter": {"MinConfidence": float(min_confidence)}}}

    def requested_floor(self, request: Mapping[str, Any]) -> float:
        word_filter = (request.get("Filters") or {}).get("WordFilter") or {}
        return float(word_filter.get("MinConfidence", 0.0) or 0.0)

    def read(self, response: Mapping[str, Any]) -> TextAnswer:
        return read_text(response)

    def ground_truth(self, item: DatasetItem) -> dict[str, Any]:
        return {"lines": [[line.text, list(line.box) if line.box else None] for line in item.text]}

    def has_ground_truth(self, dataset: Dataset) -> bool:
        return any(item.text for item in dataset.items)

    def vocabulary(self, declared: Sequence[str], truths: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
        return (WORD,)

    def score(
        self,
        answers: Sequence[TextAnswer],
        truths: Sequence[Mapping[str, Any]],
        *,
        images: Sequence[str],
        vocabulary: Sequence[str],
        label_map: LabelMap,
        use_parents: bool,
        floor: float,
    ) -> Scored:
        confidence, is_true, rows = [], [], []
        support = 0
        for image, (answer, truth) in enumerate(zip(answers, truths, strict=True)):
            expected: dict[str, int] = {}
            for text, _ in truth.get("lines", ()):
                for word in words_of(str(text)):
                    expected[word] = expected.get(word, 0) + 1
            support += sum(expected.values())
            ranked = sorted(
                (w for w in answer.words if w.confidence >= floor and normalize_word(w.text)),
                key=lambda w: -w.confidence,
            )  # sorted() is stable: ties keep the answer's order
            for word in ranked:
                key = normalize_word(word.text)
                hit = expected.get(key, 0) > 0
                if hit:
                    expected[key] -= 1
                confidence.append(word.confidence)
                is_true.append(hit)
                rows.append((images[image], word.text, key, word.confidence, "tp" if hit else "fp"))
            rows.extend(
                (images[image], "", word, None, "fn") for word, left in expected.items() for _ in range(left)
            )
        n_entries = len(confidence)
        found = int(np.sum(is_true))
        pairs = ScoredPairs(
            labels=(WORD,),
            n_images=n_entries + (support - found),
            support=np.asarray([support], dtype=np.int64),
            label_idx=np.zeros(n_entries, dtype=np.int64),
            image_idx=np.arange(n_entries, dtype=np.int64),
            confidence=np.asarray(confidence, dtype=np.float64),
            is_true=np.asarray(is_true, dtype=bool),
            floor=floor,
        )
        negatives = np.asarray([n_entries - found], dtype=np.int64)
        lines, cer_curve = _lines(answers, truths, images, floor)
        cer_at_floor = float(cer_curve["cer"].iloc[0]) if not cer_curve.empty else None
        details = {
            "normalisation": "NFKC, case folded, punctuation stripped at both ends of each word",
            "ground_truth_words": support,
            "words_returned": n_entries,
            "answers_at_100_words": sum(answer.truncated for answer in answers),
            "lines_with_boxes": len(lines),
            "lines_paired": int(lines["detected"].notna().sum()) if len(lines) else 0,
            "cer_at_floor": rounded(cer_at_floor),
            "model_versions": sorted({a.model_version for a in answers if a.model_version}),
        }
        predictions = pd.DataFrame(rows, columns=["image", "detected", "word", "confidence", "outcome"])
        tables = {"text_lines": lines, "text_cer": cer_curve} if len(lines) else {}
        return Scored(
            pairs=pairs,
            ap=_ap(pairs),
            unjudged=pd.DataFrame(columns=["name", "images", "max_confidence"]),
            predictions=predictions,
            negatives=negatives,
            tables=tables,
            details=details,
            markdown=tuple(_markdown(details, cer_curve)),
        )


def _ap(pairs: ScoredPairs) -> np.ndarray:
    from evaluation.stats.metrics import average_precision

    return average_precision(pairs)


def _lines(
    answers: Sequence[TextAnswer], truths: Sequence[Mapping[str, Any]], images: Sequence[str], floor: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ground-truth lines with boxes paired with detected LINEs (best IoU first, one to one), and the CER
    at every whole-number threshold from the floor."""
    rows = []
    for image, (answer, truth) in enumerate(zip(answers, truths, strict=True)):
        boxed = [(str(text), tuple(box)) for text, box in truth.get("lines", ()) if box]
        if not boxed:
            continue
        detected = [line for line in answer.lines if line.box is not None and line.confidence >= floor]
        pairs: dict[int, int] = {}
        iou = np.zeros((len(boxed), len(detected)))
        if detected:
            iou = iou_matrix(
                np.asarray([b for _, b in boxed]), np.asarray([d.box for d in detected])
            ).reshape(len(boxed), len(detected))
            taken: set[int] = set()
            for flat in np.argsort(-iou, axis=None, kind="stable"):
                truth_index, line_index = divmod(int(flat), len(detected))
                if iou[truth_index, line_index] < LINE_IOU:
                    break
                if truth_index in pairs or line_index in taken:
                    continue
                pairs[truth_index] = line_index
                taken.add(line_index)
        for truth_index, (text, _) in enumerate(boxed):
            expected = normalize_line(text)
            line = detected[pairs[truth_index]] if truth_index in pairs else None
            read = normalize_line(line.text) if line else ""
            rows.append(
                {
                    "image": images[image],
                    "text": text,
                    "detected": line.text if line else None,
                    "confidence": line.confidence if line else None,
                    "iou": rounded(float(iou[truth_index, pairs[truth_index]])) if line else None,
                    "characters": len(expected),
                    "errors": edit_distance(expected, read) if line else len(expected),
                }
            )
    lines = pd.DataFrame(
        rows, columns=["image", "text", "detected", "confidence", "iou", "characters", "errors"]
    )
    if lines.empty:
        return lines, pd.DataFrame(columns=["threshold", "cer"])
    grid = np.arange(np.ceil(floor), 101, dtype=np.float64)
    characters = lines["characters"].to_numpy(np.float64)
    errors = lines["errors"].to_numpy(np.float64)
    seen = lines["confidence"].to_numpy(np.float64, na_value=-1.0)
    kept = seen[None, :] >= grid[:, None]  # (G, lines): paired at or above the threshold
    total = characters.sum()
    cer = (
        np.where(kept, errors[None, :], characters[None, :]).sum(axis=1) / total
        if total
        else np.full(grid.shape, np.nan)
    )
    return lines, pd.DataFrame({"threshold": grid, "cer": np.round(cer, 6)})


def _markdown(details: dict[str, Any], cer: pd.DataFrame) -> list[str]:
    lines = [
        "## Text: words per threshold",
        "",
        f"{details['ground_truth_words']} word(s) in the ground truth, {details['words_returned']} detected "
        "WORD(s) judged. Words are compared after normalisation: "
        f"{details['normalisation']} (a word that appears twice must be found twice).",
        "",
    ]
    if details["answers_at_100_words"]:
        lines += [
            f"{details['answers_at_100_words']} answer(s) hold 100 words, DetectText's limit: words below "
            "their least confident one may be missing, so nothing below it is evaluated.",
            "",
        ]
    if not cer.empty:
        shown = cer[cer["threshold"].isin([cer["threshold"].iloc[0], 50.0, 80.0, 90.0])]
        lines += [
            f"Character error rate over {details['lines_with_boxes']} ground-truth line(s) with boxes "
            f"({details['lines_paired']} paired with a detected LINE at IoU >= {LINE_IOU:g}); a line not "
            "read at a threshold counts all its characters as errors. Every threshold: `text_cer.csv`; "
            "every line: `text_lines.csv`.",
            "",
            *markdown_table(["MinConfidence", "CER"], shown.values.tolist()),
            "",
        ]
    return lines


OPERATION = TextOperation()
