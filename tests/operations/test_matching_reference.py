"""The matching step against the code it replaced (kept here as the reference): the same predictions frame
(rows, order, categories and their order), pairs, unjudged table and positives, on random answers with
spellings that normalise alike, parents and aliases also returned on their own, ties, empty answers,
label maps that claim a name for several labels, and parts of every size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.labelmap import LabelMap, normalize_name
from evaluation.operations import matching
from evaluation.operations.answers import LabelsAnswer, PredictedLabel
from evaluation.operations.label_columns import LabelColumns
from tests.support.operations import best_of_frame

# --- the reference: matching as it was before each part's rows were built once -------------------------


def reference_frame(columns: LabelColumns, use_parents: bool, chunk: int) -> pd.DataFrame:
    parts = [columns.between(f, min(f + chunk, len(columns))) for f in range(0, len(columns), chunk)]
    seen: dict[int, None] = {}
    for part in parts:
        codes, first_seen = np.unique(matching._rows(part, use_parents)[1], return_index=True)
        seen.update(dict.fromkeys(codes[np.argsort(first_seen, kind="stable")].tolist()))
    used = np.fromiter(seen, dtype=np.int64, count=len(seen))
    dense = np.full(len(columns.names), -1, dtype=np.int32)
    dense[used] = np.arange(len(used))
    displays = pd.Index([columns.names[code] for code in used], dtype=object)
    name_of_display, normalised = pd.factorize(pd.Series([normalize_name(d) for d in displays], dtype=object))
    found = [reference_best_rows(p, use_parents, dense, name_of_display, len(normalised)) for p in parts]
    offsets = np.cumsum([0] + [len(part) for part in parts])
    image = np.concatenate([np.zeros(0, np.int64)] + [r[0] + o for r, o in zip(found, offsets, strict=False)])
    display_codes = np.concatenate([np.zeros(0, np.int32)] + [rows[1] for rows in found])
    return pd.DataFrame(
        {
            "image": image,
            "name": pd.Categorical.from_codes(
                name_of_display[display_codes], categories=pd.Index(normalised)
            ),
            "display": pd.Categorical.from_codes(display_codes, categories=displays),
            "confidence": np.concatenate([np.zeros(0, np.float64)] + [rows[2] for rows in found]),
            "direct": np.concatenate([np.zeros(0, bool)] + [rows[3] for rows in found]),
        }
    )


def reference_best_rows(columns, use_parents, dense, name_of_display, n_names):
    owner, display_code, label_row = matching._rows(columns, use_parents)
    total = len(owner)
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float64), np.zeros(0, bool)
    image_of_label = columns.answer_of_label
    group_key = image_of_label[owner].astype(np.int64) * max(n_names, 1)
    group_key += name_of_display[dense[display_code]]
    order = np.argsort(group_key, kind="stable")
    group_key = group_key[order]
    starts = np.flatnonzero(np.r_[True, group_key[1:] != group_key[:-1]])
    segment = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, len(order)]))
    confidence = columns.confidence[owner[order]]
    direct_row = np.zeros(total, dtype=bool)
    direct_row[label_row[:-1]] = True
    direct_row = direct_row[order]
    best = np.maximum.reduceat(confidence, starts)
    candidate = confidence == best[segment]
    candidate &= direct_row | ~np.maximum.reduceat(candidate & direct_row, starts)[segment]
    chosen = np.minimum.reduceat(np.where(candidate, np.arange(total), total), starts)
    direct = np.maximum.reduceat(direct_row, starts)
    first = order[chosen]
    return image_of_label[owner[first]], dense[display_code[first]], best, direct.astype(bool)


def reference_best_per_image_and_label(predicted, targets):
    categories = predicted["name"].cat.categories
    position = pd.Index(categories).get_indexer(targets["name"])
    claimed = targets[position >= 0].assign(code=position[position >= 0]).sort_values(["code", "label_idx"])
    claims = np.bincount(claimed["code"].to_numpy(np.int64), minlength=len(categories))
    first_claim = np.cumsum(claims) - claims
    claimed_label = claimed["label_idx"].to_numpy(np.int64)
    code = predicted["name"].cat.codes.to_numpy(np.int64)
    repeats = claims[code]
    rows = np.repeat(np.arange(code.size), repeats)
    rank = np.arange(rows.size) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    label = claimed_label[first_claim[code[rows]] + rank]
    image = predicted["image"].to_numpy(np.int64)[rows]
    confidence = predicted["confidence"].to_numpy(np.float64)[rows]
    key = image * max(int(claimed_label.max(initial=0)) + 1, 1) + label
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.zeros(0, np.int64)
    best = np.maximum.reduceat(confidence[order], starts) if key.size else np.zeros(0, np.float64)
    first = order[starts]
    return image[first], label[first], best


def reference_unjudged(predicted, judged_names):
    names = predicted["name"].cat.categories
    codes = predicted["name"].cat.codes.to_numpy()
    judged = names.get_indexer(list(judged_names))
    keep = predicted["direct"].to_numpy() & ~np.isin(codes, judged[judged >= 0])
    if not keep.any():
        return pd.DataFrame(columns=["name", "images", "max_confidence", "mean_confidence"])
    direct = pd.DataFrame(
        {
            "code": codes[keep],
            "display": predicted["display"].cat.codes.to_numpy()[keep],
            "image": predicted["image"].to_numpy()[keep],
            "confidence": predicted["confidence"].to_numpy()[keep],
        }
    )
    grouped = direct.groupby("code").agg(
        display=("display", "first"),
        images=("image", "nunique"),
        max_confidence=("confidence", "max"),
        mean_confidence=("confidence", "mean"),
    )
    table = grouped.reset_index(drop=True).rename(columns={"display": "name"})
    table["name"] = predicted["display"].cat.categories[table["name"].to_numpy()].astype(object)
    return table.sort_values(["images", "name"], ascending=[False, True]).reset_index(drop=True)


def reference_truth_codes(truths, labels):
    n_labels = len(labels)
    label_position = {normalize_name(label): index for index, label in enumerate(labels)}
    return np.fromiter(
        (
            image * n_labels + code
            for image, truth in enumerate(truths)
            for code in (label_position.get(normalize_name(label), -1) for label in truth)
            if code >= 0
        ),
        dtype=np.int64,
    )


# --- random answers ----------------------------------------------------------------------------------

SPELLINGS = ["Dog", "dog", "Dog ", "Cat", "CAT", "Animal", "Mammal", "Pet", "Car", "Vehicle", "Tree", "Plant"]
PARENTS = {"Dog": ("Animal", "Mammal"), "Cat": ("Mammal", "Animal"), "Car": ("Vehicle",), "Tree": ("Plant",)}


def random_answers(seed: int, n: int = 80) -> list[LabelsAnswer]:
    rng = np.random.default_rng(seed)
    confidences = [50.0, 70.0, 80.0, 99.5]  # ties between a child and its parent, and between children
    answers = []
    for _ in range(n):
        labels = []
        for _ in range(int(rng.integers(0, 8))):  # a name may come twice, under two spellings
            name = str(rng.choice(SPELLINGS))
            key = name.strip().capitalize()
            labels.append(
                PredictedLabel(
                    name,
                    float(rng.choice(confidences)) if rng.random() < 0.7 else float(rng.uniform(0, 100)),
                    parents=PARENTS.get(key, ()),
                    aliases=("Pet",) if key in ("Dog", "Cat") and rng.random() < 0.5 else (),
                )
            )
        answers.append(LabelsAnswer(labels=tuple(labels), model_version="3.0"))
    return answers


def assert_same_frame(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected)
    for column in ("name", "display"):
        assert got[column].cat.categories.equals(expected[column].cat.categories)
        assert got[column].cat.categories.dtype == expected[column].cat.categories.dtype
        assert np.array_equal(got[column].cat.codes.to_numpy(), expected[column].cat.codes.to_numpy())


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_predictions_frame_equals_the_reference(monkeypatch, seed, chunk):
    columns = LabelColumns.from_answers(random_answers(seed))
    monkeypatch.setattr(matching, "CHUNK_ANSWERS", chunk)
    for use_parents in (True, False):
        got = matching.predictions_frame(columns, use_parents=use_parents)
        assert_same_frame(got, reference_frame(columns, use_parents, chunk))


def test_no_answers_and_answers_without_labels():
    for answers in ([], [LabelsAnswer(labels=(), model_version="3.0")] * 3):
        columns = LabelColumns.from_answers(answers)
        assert_same_frame(matching.predictions_frame(columns), reference_frame(columns, True, 5))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("chunk", "rows_per_mean"), [(1, 1), (7, 5), (7, 1 << 21), (20_000, 3)])
def test_match_equals_the_reference(monkeypatch, seed, chunk, rows_per_mean):
    """match reduces predictions_frame's rows part by part: the same as the whole frame's reductions."""
    monkeypatch.setattr(matching, "CHUNK_ANSWERS", chunk)
    monkeypatch.setattr(matching._UnjudgedRows, "ROWS_PER_MEAN", rows_per_mean)
    if seed % 2:  # pairs looked up among the positives a few at a time
        monkeypatch.setattr(matching, "PAIRS_PER_BLOCK", seed)
    rng = np.random.default_rng(seed)
    answers = random_answers(seed)
    columns = LabelColumns.from_answers(answers)
    vocabulary = ["beast", "Car", "mammal", "Vehicle", "Plant", "Nobody"]
    label_map = LabelMap.from_dict(
        {"beast": ["Animal", "Pet", "dog"], "Car": "Car", "mammal": ["Mammal", "Dog"], "Plant": "tree"}
    )
    spellings = [*vocabulary, "BEAST", " car", "unknown"]
    truths = [frozenset(str(s) for s in rng.choice(spellings, int(rng.integers(0, 4)))) for _ in answers]
    for use_parents, floor in ((True, 0.0), (False, 0.0), (True, 60.0)):
        got = matching.match(
            columns, truths, vocabulary=vocabulary, label_map=label_map, use_parents=use_parents, floor=floor
        )
        targets = pd.DataFrame(
            [(normalize_name(t), i) for i, label in enumerate(vocabulary) for t in label_map.targets(label)],
            columns=["name", "label_idx"],
        ).drop_duplicates()
        predicted = reference_frame(columns, use_parents, matching.CHUNK_ANSWERS)
        image, label, confidence = reference_best_per_image_and_label(predicted, targets)
        keep = confidence >= floor
        truth_codes = reference_truth_codes(truths, vocabulary)
        pairs = got.pairs
        assert np.array_equal(pairs.image_idx, image[keep]) and pairs.image_idx.dtype == np.int32
        assert np.array_equal(pairs.label_idx, label[keep]) and pairs.label_idx.dtype == np.int32
        assert np.array_equal(pairs.confidence, confidence[keep])
        n = len(vocabulary)
        assert np.array_equal(pairs.is_true, np.isin(image[keep] * n + label[keep], truth_codes))
        assert np.array_equal(pairs.support, np.bincount(truth_codes % n, minlength=n))
        positive = np.unique(truth_codes)
        assert np.array_equal(got.positives[0], positive // n)
        assert np.array_equal(got.positives[1], positive % n)
        pd.testing.assert_frame_equal(got.unjudged, reference_unjudged(predicted, set(targets["name"])))


@pytest.mark.parametrize("seed", range(3))
def test_best_per_image_and_label_with_one_claim_per_name_equals_the_reference(seed):
    rng = np.random.default_rng(seed)
    names = [f"n{i}" for i in range(40)]
    rows = 3000
    predicted = pd.DataFrame(
        {
            "image": np.sort(rng.integers(0, 200, rows)),
            "name": pd.Categorical(rng.choice(names[:35], rows), categories=names),
            "confidence": rng.choice(np.linspace(50, 100, 30), rows),
        }
    )
    targets = pd.DataFrame({"name": [*names[::2], "nobody"], "label_idx": rng.permutation(21)})
    got = best_of_frame(predicted, targets)
    for ours, theirs in zip(got, reference_best_per_image_and_label(predicted, targets), strict=True):
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


def test_sort_by_key_then_row_is_the_stable_argsort_whether_or_not_packed():
    rng = np.random.default_rng(0)
    key = rng.integers(0, 50, 5000)
    expected = np.argsort(key, kind="stable")
    for bound in (50, 2**62):  # packed in one integer, and too large to pack
        order, sorted_key = matching._sorted_by_key_then_row(key.copy(), bound=bound)
        assert np.array_equal(order, expected) and np.array_equal(sorted_key, key[expected])


def whole_unjudged_table(code, display, confidence, displays):
    """The unjudged table as it was made before it was reduced part by part: every row at once."""
    if not code.size:
        return pd.DataFrame(columns=["name", "images", "max_confidence", "mean_confidence"])
    direct = pd.DataFrame({"code": code, "display": display, "confidence": confidence})
    grouped = direct.groupby("code").agg(
        display=("display", "first"),
        max_confidence=("confidence", "max"),
        mean_confidence=("confidence", "mean"),
    )
    grouped.insert(1, "images", np.bincount(code)[grouped.index.to_numpy()])
    table = grouped.reset_index(drop=True).rename(columns={"display": "name"})
    table["name"] = displays[table["name"].to_numpy()].astype(object)
    return table.sort_values(["images", "name"], ascending=[False, True]).reset_index(drop=True)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("rows_per_mean", [1, 40, 1 << 21])
def test_unjudged_rows_part_by_part_equal_the_whole_table_bit_for_bit(monkeypatch, seed, rows_per_mean):
    """Parts of float32 values (kept narrow), of float64 ones, with NaN, empty; names known as they come;
    and (odd seeds) names in ascending order without NaN, where pandas sums by another kernel."""
    monkeypatch.setattr(matching._UnjudgedRows, "ROWS_PER_MEAN", rows_per_mean)
    if seed % 2:  # pairs looked up among the positives a few at a time
        monkeypatch.setattr(matching, "PAIRS_PER_BLOCK", seed)
    rng = np.random.default_rng(seed)
    n_displays = 30
    name_of_display = rng.integers(0, 20, n_displays).astype(np.int32)
    displays = pd.Index([f"D{i}" for i in range(n_displays)], dtype=object)
    parts = []
    for part in range(int(rng.integers(0, 12))):
        size = int(rng.integers(0, 300)) if part % 4 else 0
        display = rng.integers(0, n_displays, size).astype(np.int32)
        confidence = rng.uniform(0, 100, size)
        if part % 3 == 1:
            confidence = confidence.astype(np.float32).astype(np.float64)
        if part % 5 == 2 and size and seed % 2 == 0:
            confidence[rng.integers(0, size, 3)] = np.nan
        parts.append((name_of_display[display], display, confidence))
    whole = [
        np.concatenate([np.zeros(0, t)] + [p[i] for p in parts])
        for i, t in enumerate((np.int32, np.int32, float))
    ]
    if seed % 2:  # every name's rows together, names ascending: the same parts' sizes
        order = np.argsort(whole[0], kind="stable")
        whole = [values[order] for values in whole]
        cuts = np.cumsum([len(p[0]) for p in parts])[:-1]
        parts = list(zip(*(np.split(values, cuts) for values in whole), strict=True)) if parts else []
    rows = matching._UnjudgedRows()
    n_names = 0
    for code, display, confidence in parts:
        n_names = max(n_names, int(code.max(initial=-1)) + 1, int(rng.integers(0, 20)))
        rows.add(code, display, confidence, n_names)
    expected = whole_unjudged_table(*whole, displays)
    got = rows.table(displays)
    assert got.equals(expected) and list(got.dtypes) == list(expected.dtypes)
    assert np.array_equal(
        got["mean_confidence"].to_numpy(np.float64).view(np.int64),
        expected["mean_confidence"].to_numpy(np.float64).view(np.int64),
    )
