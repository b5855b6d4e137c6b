"""From answers and ground truth to scored (image, label) pairs for the dataset's vocabulary.

Three rules decide what counts as a prediction of a dataset label:
- the label map says which Rekognition names count for it (a label not in the map counts for itself);
- names are compared after `normalize_name` (case and spacing do not matter);
- with `use_parents` (the default) a label's Parents, and its Aliases, count as predicted at that
  label's confidence; a name's score on an image is the highest of its own confidence and those of the
  returned labels that list it. That is what the service does: at MinConfidence t it returns the entries
  at t or above, and a parent returned on its own below t still comes back through a child above t (Dog
  80 with parent Animal, Animal 55: at MinConfidence 70 the image is an Animal), so the score is the
  highest t at which the name is predicted, and a recommended MinConfidence reproduces its precision.
Names that map to no label of the vocabulary are not false positives: the ground truth says nothing
about them. They are counted as unjudged instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd

from evaluation.labelmap import LabelMap, normalize_name
from evaluation.operations.answers import LabelsAnswer
from evaluation.operations.label_columns import LabelColumns, as_columns, rank_in_group
from evaluation.stats.metrics import ScoredPairs

DIRECT, IMPLIED = 0, 1


@dataclass(frozen=True)
class Matched:
    pairs: ScoredPairs
    unjudged: pd.DataFrame  # name, images, max_confidence, mean_confidence
    # every ground-truth positive (image_idx, label_idx), returned or not, image by image, labels ascending
    positives: tuple[np.ndarray, np.ndarray]


CHUNK_ANSWERS = 20_000  # answers matched at a time: the temporaries of millions of rows, bounded


def predictions_frame(
    answers: Sequence[LabelsAnswer] | LabelColumns, *, use_parents: bool = True
) -> pd.DataFrame:
    """Every name an answer predicts, one row per (image, name): image (position), name (normalised),
    display (as the service spelled it), confidence (the highest MinConfidence at which the service
    predicts the name: its own or a child's that lists it), direct (returned on its own at all).

    Works on the answers' columns: names are integer codes (a dataset has a few thousand distinct names
    over millions of rows), so normalising costs one pass over the distinct names, and the rows (each
    label, then the parents and aliases it implies, in the order the service listed them) are built by
    array operations, never one Python object per name, a bounded number of answers at a time (a group
    is one image's: none spans two parts). Displays and names are numbered in order of first appearance
    over every answer: parts are read in order and a part only appends to the numbering of the ones
    before it, so each part's rows are built once and get their final codes at once.
    """
    columns = as_columns(answers)
    codes = _Codes(columns.names)
    found = list(_predicted_parts(columns, codes, use_parents))
    displays = pd.Index([columns.names[code] for code in codes.used], dtype=object)
    name_of_display = np.asarray(codes.name_of_display, dtype=np.int32)  # from_codes narrows them anyway
    display_codes = np.concatenate([np.zeros(0, np.int32)] + [rows[1] for rows in found])
    return pd.DataFrame(
        {
            "image": np.concatenate([np.zeros(0, np.int64)] + [rows[0] for rows in found]),
            "name": pd.Categorical.from_codes(
                name_of_display[display_codes], categories=pd.Index(codes.normalised, dtype=object)
            ),
            "display": pd.Categorical.from_codes(display_codes, categories=displays),
            "confidence": np.concatenate([np.zeros(0, np.float64)] + [rows[2] for rows in found]),
            "direct": np.concatenate([np.zeros(0, bool)] + [rows[3] for rows in found]),
        }
    )


def _predicted_parts(
    columns: LabelColumns, codes: _Codes, use_parents: bool
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """predictions_frame's rows part by part (image, display number, confidence, direct), `codes`
    numbering the displays and names as the parts come: a part's numbers are final when it is given."""
    for first in range(0, len(columns), CHUNK_ANSWERS):
        part = columns.between(first, min(first + CHUNK_ANSWERS, len(columns)))
        owner, display_code, label_row = _rows(part, use_parents)
        codes.add(pd.unique(display_code))  # in order of first appearance, hashed: no sort
        image, display, confidence, direct = _best_rows(part, owner, display_code, label_row, codes)
        del owner, display_code, label_row
        image += first
        yield image, display, confidence, direct


class _Codes:
    """Displays (as stored codes) numbered in order of first appearance, and their normalised names in
    order of first appearance over the displays: what `pd.factorize` of every display's name gives."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = names
        self.dense = np.full(len(names), -1, dtype=np.int32)  # stored code -> display number
        self.used: list[int] = []  # display number -> stored code
        self.name_of_display: list[int] = []
        self.normalised: dict[str, int] = {}

    def add(self, appearing: np.ndarray) -> None:
        for code in appearing[self.dense[appearing] < 0].tolist():
            self.dense[code] = len(self.used)
            self.used.append(code)
            name = normalize_name(self.names[code])
            self.name_of_display.append(self.normalised.setdefault(name, len(self.normalised)))


def _rows(columns: LabelColumns, use_parents: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner, display code, first row of each label): one row per label, then the parents and aliases
    it implies; `owner` is the label each row comes from (32-bit codes, gathered late)."""
    n_labels = len(columns.name)
    implied_count = (
        (columns.parent_count + columns.alias_count) if use_parents else np.zeros(n_labels, np.int64)
    )
    rows_per_label = 1 + implied_count
    label_row = np.zeros(n_labels + 1, dtype=np.int64)
    np.cumsum(rows_per_label, out=label_row[1:])
    owner = np.repeat(np.arange(n_labels, dtype=np.int32), rows_per_label)
    display_code = np.empty(int(label_row[-1]), dtype=np.int32)
    display_code[label_row[:-1]] = columns.name
    if use_parents:  # after each label its parents, then its aliases
        parent_row = label_row[:-1] + 1
        parent_rank = rank_in_group(columns.parent_count)
        display_code[np.repeat(parent_row, columns.parent_count) + parent_rank] = columns.parent
        del parent_rank
        alias_row = parent_row + columns.parent_count
        alias_rank = rank_in_group(columns.alias_count)
        display_code[np.repeat(alias_row, columns.alias_count) + alias_rank] = columns.alias
    return owner, display_code, label_row


def _best_rows(
    columns: LabelColumns, owner: np.ndarray, display_code: np.ndarray, label_row: np.ndarray, codes: _Codes
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(image, display number, confidence, direct) per (image, name) of these answers: the most confident
    row, direct or implied (a direct one first on a tie, then the first listed), by one sort by (image,
    name, row); most names come once to an image, so only the groups of several rows are reduced."""
    total = len(owner)
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float64), np.zeros(0, bool)
    image_of_label = columns.answer_of_label
    display = codes.dense[display_code]
    n_names = max(len(codes.normalised), 1)
    group_key = image_of_label[owner] * n_names
    group_key += np.asarray(codes.name_of_display, dtype=np.int64)[display]
    order, group_key = _sorted_by_key_then_row(group_key, bound=len(columns) * n_names)
    boundary = np.empty(total + 1, dtype=bool)  # a group starts at row i, and ends before it
    boundary[0] = boundary[-1] = True
    np.not_equal(group_key[1:], group_key[:-1], out=boundary[1:-1])
    del group_key
    starts = np.flatnonzero(boundary[:-1])
    confidence = columns.confidence[owner[order]]
    direct_row = np.zeros(total, dtype=bool)
    direct_row[label_row[:-1]] = True
    direct_row = direct_row[order]
    chosen, best, direct = starts.copy(), confidence[starts], direct_row[starts]
    shared = ~(boundary[:-1] & boundary[1:])  # rows of groups of several rows
    if shared.any():
        several = ~boundary[1:][starts]  # groups that do not end where they start
        rows = np.flatnonzero(shared)
        chosen_in, best[several], direct[several] = _best_in_groups(
            confidence[rows], direct_row[rows], np.flatnonzero(boundary[:-1][rows])
        )
        chosen[several] = rows[chosen_in]
    first = order[chosen]
    return image_of_label[owner[first]], display[first], best, direct


def _best_in_groups(
    confidence: np.ndarray, direct_row: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chosen row, its confidence, any direct) per group of consecutive rows starting at `starts`: the
    first most confident row, a direct one before an implied one."""
    total = len(confidence)
    segment = np.repeat(np.arange(starts.size, dtype=np.int32), np.diff(np.r_[starts, total]))
    best = np.maximum.reduceat(confidence, starts)
    candidate = confidence == best[segment]
    candidate &= direct_row | ~np.maximum.reduceat(candidate & direct_row, starts)[segment]
    del segment
    chosen = np.minimum.reduceat(np.where(candidate, np.arange(total), total), starts)
    return chosen, best, np.maximum.reduceat(direct_row, starts)


def _sorted_by_key_then_row(key: np.ndarray, *, bound: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, key[order]) of a stable argsort of `key` (values below `bound`): key and row packed in
    one integer and sorted unstably, which is faster than a stable sort and gives the same order (no
    two packed values are equal); a stable argsort where the packed values would not fit."""
    total = len(key)
    if bound * total < 2**63:
        packed = key * total
        packed += np.arange(total)
        packed.sort()
        order = packed % total
        packed //= total  # the keys, in place: one array of the part's rows fewer at the peak
        return order, packed
    order = np.argsort(key, kind="stable")
    return order, key[order]


def match(
    answers: Sequence[LabelsAnswer] | LabelColumns,
    truths: Sequence[frozenset[str]],
    *,
    vocabulary: Sequence[str],
    label_map: LabelMap | None = None,
    use_parents: bool = True,
    floor: float = 0.0,
) -> Matched:
    """Score every (image, vocabulary label) pair that was predicted; answers[i] belongs to truths[i]."""
    if len(answers) != len(truths):
        raise ValueError(f"{len(answers)} answers for {len(truths)} ground-truth entries")
    label_map = label_map or LabelMap.identity()
    labels = tuple(vocabulary)
    n_labels = len(labels)
    targets = pd.DataFrame(
        [
            (normalize_name(target), index)
            for index, label in enumerate(labels)
            for target in label_map.targets(label)
        ],
        columns=["name", "label_idx"],
    ).drop_duplicates()

    image_idx, label_idx, confidence, unjudged = _scored_parts(
        as_columns(answers), targets, use_parents=use_parents, floor=floor
    )

    label_position = {normalize_name(label): index for index, label in enumerate(labels)}
    truth_codes = _truth_codes(truths, label_position, n_labels)
    support = np.bincount(truth_codes % n_labels, minlength=n_labels) if n_labels else np.zeros(0, np.int64)
    positive = np.unique(truth_codes)  # two spellings of one label are one positive
    is_true = _is_positive(image_idx, label_idx, n_labels, positive)
    pairs = ScoredPairs(
        labels=labels,
        n_images=len(answers),
        support=support.astype(np.int64),
        label_idx=label_idx,
        image_idx=image_idx,
        confidence=confidence,
        is_true=is_true,
        floor=float(floor),
        take_arrays=True,  # built here for it alone: not copied
    )
    positives = (positive // max(n_labels, 1), positive % max(n_labels, 1))
    return Matched(pairs=pairs, unjudged=unjudged, positives=positives)


def _scored_parts(
    columns: LabelColumns, targets: pd.DataFrame, *, use_parents: bool, floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """(image, label, best confidence) of every (image, vocabulary label) predicted at the floor or
    above, and the unjudged table: predictions_frame's rows reduced part by part as they are built
    (groups never span parts, and parts come in image order), so its tens of millions of rows are
    never all held; only the unjudged names' direct rows are kept, in the same order, for the table."""
    codes = _Codes(columns.names)
    judged_names = set(targets["name"])
    found = []
    unjudged = _UnjudgedRows()
    for image, display, confidence, direct in _predicted_parts(columns, codes, use_parents):
        name = np.asarray(codes.name_of_display, dtype=np.int32)[display]
        names = pd.Index(codes.normalised, dtype=object)
        best = _best_of_rows(image, name, confidence, names, targets)
        keep = best[2] >= floor  # below the floor nothing is known: not a prediction
        found.append(tuple(values[keep] for values in best))
        is_judged = np.fromiter((n in judged_names for n in names), dtype=bool, count=len(names))
        kept = direct & ~is_judged[name]
        unjudged.add(name[kept], display[kept], confidence[kept], len(names))
        del image, display, confidence, direct, name, best, kept
    displays = pd.Index([columns.names[code] for code in codes.used], dtype=object)
    table = unjudged.table(displays)
    del unjudged
    by_column = [list(parts) for parts in zip(*found, strict=True)] if found else [[], [], []]
    found.clear()
    whole = []
    for parts, dtype in zip(by_column, (np.int64, np.int64, np.float64), strict=True):
        whole.append(np.concatenate([np.zeros(0, dtype), *parts]))
        parts.clear()  # a column's parts go once it is whole: never every part and every column at once
    return whole[0], whole[1], whole[2], table


PAIRS_PER_BLOCK = 1 << 20  # pairs looked up among the positives at a time


def _is_positive(
    image_idx: np.ndarray, label_idx: np.ndarray, n_labels: int, positive: np.ndarray
) -> np.ndarray:
    """`np.isin(image_idx * n_labels + label_idx, positive)` (`positive`: sorted unique codes), a block
    of pairs at a time by binary search: no code, offset or mask per pair at once (0.7 GB at 28 million)."""
    is_true = np.zeros(image_idx.shape[0], dtype=bool)
    if not positive.size:
        return is_true
    for start in range(0, image_idx.shape[0], PAIRS_PER_BLOCK):
        block = slice(start, start + PAIRS_PER_BLOCK)
        code = image_idx[block] * n_labels
        code += label_idx[block]
        at = np.minimum(np.searchsorted(positive, code), positive.size - 1)
        is_true[block] = positive[at] == code
    return is_true


def _truth_codes(
    truths: Sequence[frozenset[str]], label_position: dict[str, int], n_labels: int
) -> np.ndarray:
    """image * n_labels + label of every ground-truth label of the vocabulary, image by image as `truths`
    lists them: each distinct spelling normalised and looked up once (hashed), not once per image."""
    sizes = np.fromiter(map(len, truths), dtype=np.int64, count=len(truths))
    spelled, spellings = pd.factorize(pd.Series(list(chain.from_iterable(truths)), dtype=object))
    position = np.fromiter(
        (label_position.get(normalize_name(spelling), -1) for spelling in spellings),
        dtype=np.int64,
        count=len(spellings),
    )
    code = position[spelled]
    codes = np.repeat(np.arange(len(truths), dtype=np.int64) * n_labels, sizes) + code
    return codes[code >= 0]


def _best_of_rows(
    image: np.ndarray, code: np.ndarray, confidence: np.ndarray, names: pd.Index, targets: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every (image, vocabulary label) that some predicted name (`code` into `names`) counts for:
    its best confidence, ordered by image, then label.

    A name may count for several labels (a label map): each row is repeated once per label it claims,
    by lookup over the names (a few thousand), then one sort by (image, label) and a maximum per group
    (the maximum does not depend on the order within a group: any sort will do)."""
    position = pd.Index(names).get_indexer(targets["name"])
    claimed = targets[position >= 0].assign(code=position[position >= 0]).sort_values(["code", "label_idx"])
    claims = np.bincount(claimed["code"].to_numpy(np.int64), minlength=len(names))
    first_claim = np.cumsum(claims) - claims
    claimed_label = claimed["label_idx"].to_numpy(np.int64)
    if claims.max(initial=0) <= 1:  # each name counts for one label at most: the rows that count
        rows = np.flatnonzero(claims[code])
        label = claimed_label[first_claim[code[rows]]]
    else:
        repeats = claims[code]
        rows = np.repeat(np.arange(code.size), repeats)
        rank = np.arange(rows.size) - np.repeat(np.cumsum(repeats) - repeats, repeats)
        label = claimed_label[first_claim[code[rows]] + rank]
    n_labels = max(int(claimed_label.max(initial=0)) + 1, 1)
    key = image.astype(np.int64, copy=False)[rows] * n_labels + label
    del label
    order, key = _sorted_by_key_then_row(key, bound=(int(key.max(initial=0)) + 1))
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.zeros(0, np.int64)
    chosen = confidence.astype(np.float64, copy=False)[rows[order]]
    del rows, order
    best = np.maximum.reduceat(chosen, starts) if key.size else np.zeros(0, np.float64)
    return key[starts] // n_labels, key[starts] % n_labels, best


class _UnjudgedRows:
    """The unjudged table's reductions, part by part: per name its images (rows), first spelling and
    highest confidence as the parts come; its mean needs every row in order, so a part keeps only its
    confidences, sorted by name (a stable sort: each name's rows in order), as float32 when that is
    exact. At a million images 26 million rows: 0.1 GB kept instead of 0.8 GB of rows, frame and
    groupby copies at once.

    The means are pandas' groupby means a block of names at a time, by the kernel the whole table's
    groupby used: a compensated sum row by row, or, when the names came in ascending order without NaN
    (group ids already sorted), numpy's sum of each name's rows (pandas' reduceat path)."""

    ROWS_PER_MEAN = 1 << 21  # rows of whole names whose means are taken at a time

    def __init__(self) -> None:
        self.counts: list[np.ndarray] = []  # per part, rows per name (as many names as known then)
        self.values: list[np.ndarray] = []  # per part, its confidences by name, then row
        self.display = np.zeros(0, np.int32)  # per name its first row's spelling (-1: none yet)
        self.highest = np.zeros(0, np.float64)
        self.last_code = -1  # the last row's name, while every name so far came in ascending order
        self.ascending_without_nan = True

    def add(self, code: np.ndarray, display: np.ndarray, confidence: np.ndarray, n_names: int) -> None:
        grow = n_names - self.display.size
        self.display = np.append(self.display, np.full(grow, -1, np.int32))
        self.highest = np.append(self.highest, np.full(grow, np.nan))
        if code.size and self.ascending_without_nan:
            self.ascending_without_nan = bool(
                code[0] >= self.last_code and (code[1:] >= code[:-1]).all() and not np.isnan(confidence).any()
            )
            self.last_code = int(code[-1])
        # by name, each name's rows in order: 16-bit codes sort by radix (the few thousand names of a run)
        order = np.argsort(code.astype(np.uint16) if n_names <= 1 << 16 else code, kind="stable")
        count = np.bincount(code, minlength=n_names)
        values = confidence[order]
        self.counts.append(count)
        narrow = values.astype(np.float32)
        self.values.append(narrow if np.array_equal(narrow, values) else values)  # NaN: kept wide
        present = np.flatnonzero(count)
        if not present.size:
            return
        starts = (np.cumsum(count) - count)[present]
        new = self.display[present] < 0
        self.display[present[new]] = display[order[starts[new]]]
        # pandas' max skips NaN: fmax does too (NaN only when every row is)
        self.highest[present] = np.fmax(self.highest[present], np.fmax.reduceat(values, starts))

    def table(self, displays: pd.Index) -> pd.DataFrame:
        """name, images, max_confidence, mean_confidence: see `_unjudged_order`."""
        counts = np.zeros((len(self.counts), self.display.size), np.int64)
        for part, count in enumerate(self.counts):
            counts[part, : count.size] = count
        images = counts.sum(axis=0)
        present = np.flatnonzero(images)
        if not present.size:
            return pd.DataFrame(columns=["name", "images", "max_confidence", "mean_confidence"])
        block = np.cumsum(images[present]) // self.ROWS_PER_MEAN
        blocks = np.split(present, np.flatnonzero(np.diff(block)) + 1)  # names ascending, whole
        grouped = pd.DataFrame(
            {
                "display": self.display[present],
                "images": images[present],
                "max_confidence": self.highest[present],
                "mean_confidence": np.concatenate([self._means(counts, names) for names in blocks]),
            }
        )
        return _unjudged_order(grouped, displays)

    def _means(self, counts: np.ndarray, names: np.ndarray) -> np.ndarray:
        """Per name of `names` (ascending, all present) the mean of its rows, as the whole groupby."""
        low, high = int(names[0]), int(names[-1]) + 1
        sizes = counts[:, low:high].sum(axis=1)
        # pandas sums a name's rows by reduceat when the ids are sorted, as the whole table's were when the
        # names came in ascending order without NaN; else row by row: one row of a name beyond them first
        # (ids unsorted, as the whole table's were)
        extra = 0 if self.ascending_without_nan else 1
        value = np.empty(extra + int(sizes.sum()), np.float64)
        code = np.empty(value.size, np.int32)
        value[:extra], code[:extra] = 0.0, high
        at = extra
        for count, part, size in zip(counts, self.values, sizes.tolist(), strict=True):
            first = int(count[:low].sum())
            value[at : at + size] = part[first : first + size]
            code[at : at + size] = np.repeat(np.arange(low, high, dtype=np.int32), count[low:high])
            at += size
        if self.ascending_without_nan:
            order = np.argsort(code, kind="stable")
            value, code = value[order], code[order]
        means = pd.Series(value).groupby(code).mean()
        return means.to_numpy(np.float64)[: names.size]


def _unjudged_order(grouped: pd.DataFrame, displays: pd.Index) -> pd.DataFrame:
    """The unjudged table (name, images, max_confidence, mean_confidence of the direct rows of the names
    no label counts, in predictions_frame's row order) from its reductions per name (by code
    ascending; display, its first row's spelling in `displays`): most images first, then by name."""
    table = grouped.reset_index(drop=True).rename(columns={"display": "name"})
    table["name"] = displays[table["name"].to_numpy()].astype(object)
    return table.sort_values(["images", "name"], ascending=[False, True]).reset_index(drop=True)
