"""`--operation face-verification`: the SimilarityThreshold (CompareFaces) or FaceMatchThreshold
(SearchFaces) that tells the same person from two people, on your images.

- Datasets: an identity dataset (CSV `image,identity[,columns...]`, label folders named by identity, a
  manifest whose one class per image is the identity): every pair of images is compared, genuine when
  both show the same identity. Or explicit pairs (CSV `image_a,image_b,same`): only those pairs.
- Calls (evaluation.aws.faces): an identity dataset goes through a temporary collection, IndexFaces
  and SearchFaces once per image (about two calls per image for all n(n-1)/2 pairs); explicit pairs
  through CompareFaces, one call per pair. Every threshold is asked as 0.
- Adapter: `read_verification`, the only reader of these answers.
- Scoring: a pair's similarity is the one the first image's search returned for the second (or, when it
  did not return it, the second's for the first); a pair neither search returned is scored 0, as is a
  pair with an image in which no face was indexed (each counted and named). A false match is an impostor
  pair at or above the threshold, a false non-match a genuine pair below it. verification.csv gives
  FMR and FNMR at every distinct similarity and at every whole number; the recommended threshold is the
  lowest whose FMR is at most the objective's target (fnmr-at-fmr:0.001 by default), with the impostor
  pairs that target needs (about 3 / FMR); verification_slices.csv does the same within each group of a
  dataset column (pairs of two images of the group), with each group's rates at the overall threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.aws.faces import CollectionVerification, PairComparison, external_id
from evaluation.datasets import Dataset, DatasetItem
from evaluation.datasets.faces import load_face_dataset
from evaluation.errors import UserError
from evaluation.labelmap import LabelMap
from evaluation.operations.answers import ResponseShapeError
from evaluation.operations.base import Scored
from evaluation.operations.biometric import (
    BiometricOperation,
    every_ten,
    rate_target,
    rates_and_slices,
    recommendation_lines,
    scored,
    table_lines,
)
from evaluation.stats.biometrics import error_tradeoff
from evaluation.stats.thresholds import Objective

SAME_PERSON = "same person"


@dataclass(frozen=True)
class VerificationAnswer:
    """One image's answer: whether a face was indexed, and its similarity to other images (by key)."""

    face: bool
    similarities: dict[str, float] = field(default_factory=dict)  # external id or image id -> similarity
    no_face_with: frozenset[str] = frozenset()  # explicit pairs the service refused (no face in one)
    reasons: tuple[str, ...] = ()  # why no face was indexed (UnindexedFaces reasons)
    pair_mode: bool = False


def read_verification(response: Mapping[str, Any]) -> VerificationAnswer:
    try:
        if "CompareFaces" in response:
            similarities, refused = {}, set()
            for target, answer in (response["CompareFaces"] or {}).items():
                if "Error" in answer:
                    refused.add(str(target))
                    continue
                best = max(
                    (float(match["Similarity"]) for match in answer.get("FaceMatches") or []), default=0.0
                )
                similarities[str(target)] = best
            return VerificationAnswer(True, similarities, frozenset(refused), pair_mode=True)
        index = response["IndexFaces"]
        records = index.get("FaceRecords") or []
        reasons = tuple(
            sorted(
                {reason for face in index.get("UnindexedFaces") or [] for reason in face.get("Reasons") or []}
            )
        )
        if not records or response.get("SearchFaces") is None:
            return VerificationAnswer(False, reasons=reasons)
        search = response["SearchFaces"]
        matches = search.get("FaceMatches") or []
        similarities: dict[str, float] = {}
        for match in matches:
            external = str(match["Face"]["ExternalImageId"])
            similarities[external] = max(similarities.get(external, 0.0), float(match["Similarity"]))
        return VerificationAnswer(True, similarities)
    except (KeyError, TypeError, ValueError) as exc:
        raise ResponseShapeError(f"not a face-verification answer: {exc!r}") from None


class FaceVerification(BiometricOperation):
    name = "face-verification"
    api = "SearchFaces"
    label = SAME_PERSON
    needs = "identities (image,identity) or explicit pairs (image_a,image_b,same)"

    def read(self, response: Mapping[str, Any]) -> VerificationAnswer:
        return read_verification(response)

    def load(self, source: str, **keywords: Any) -> Dataset:
        return load_face_dataset(source, expect=("identity", "pairs"), **keywords)

    def fetcher(self, client: Any, *, dataset: Dataset, max_faces: int | None = None, **settings: Any) -> Any:
        if dataset.pairs:
            return PairComparison(client, **settings)
        return CollectionVerification(client, max_faces=max_faces, **settings)

    def ground_truth(self, item: DatasetItem) -> dict[str, Any]:
        return {"identity": next(iter(item.labels), None), "attributes": dict(item.attributes)}

    def dataset_ground_truth(self, dataset: Dataset) -> list[dict[str, Any]]:
        records = [self.ground_truth(item) for item in dataset.items]
        for pair in dataset.pairs:
            records[pair.first].setdefault("pairs", []).append(
                {"with": dataset.items[pair.second].image.uri, "same": pair.same}
            )
        return records

    def truths(self, images: pd.DataFrame, ground_truth: Sequence[Mapping[str, Any]]) -> list[Any]:
        ids = images["image_id"].tolist() if "image_id" in images.columns else [None] * len(images)
        return [
            {**record, "image_id": image_id, "key": external_id(image_id) if image_id else None}
            for record, image_id in zip(ground_truth, ids, strict=True)
        ]

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
        objective: Objective | None = None,
    ) -> Scored:
        pair_mode = any(answer.pair_mode for answer in answers) or any("pairs" in truth for truth in truths)
        first, second, similarity, genuine, how = (
            _explicit_pairs(answers, truths, images) if pair_mode else _all_pairs(answers, truths)
        )
        target = rate_target(objective)
        table = error_tradeoff(similarity[genuine], similarity[~genuine])
        parameter = "SimilarityThreshold" if pair_mode else "FaceMatchThreshold"

        def table_for(members: np.ndarray) -> pd.DataFrame:
            keep = members[first] & members[second]
            return error_tradeoff(similarity[keep & genuine], similarity[keep & ~genuine])

        recommended, slices = rates_and_slices(
            truths, table, table_for, target, refused="impostor", rates=("fmr", "fnmr")
        )
        no_face = [
            {
                "image": images[i],
                "identity": truths[i].get("identity"),
                "reasons": ";".join(answers[i].reasons),
            }
            for i in range(len(answers))
            if not answers[i].face
        ]
        counts = {name: int((how == name).sum()) for name in ("returned", "not-returned", "no-face")}
        predictions = pd.DataFrame(
            {
                "image_a": np.asarray(images, dtype=object)[first] if len(first) else [],
                "image_b": np.asarray(images, dtype=object)[second] if len(second) else [],
                "genuine": genuine,
                "similarity": np.round(similarity, 6),
                "scored": how,
            }
        )
        details = {
            "mode": "explicit pairs (CompareFaces)"
            if pair_mode
            else "identity dataset (IndexFaces + SearchFaces)",
            "images": len(answers),
            "identities": len({truth.get("identity") for truth in truths if truth.get("identity")}),
            "genuine_pairs": int(genuine.sum()),
            "impostor_pairs": int((~genuine).sum()),
            "pairs_returned": counts["returned"],
            "pairs_not_returned_scored_0": counts["not-returned"],
            "pairs_with_no_face_scored_0": counts["no-face"],
            "images_without_face": len(no_face),
            "recommended": recommended,
            "objective": f"fnmr-at-fmr:{target:g}",
        }
        markdown = [
            "## Face verification",
            "",
            f"{details['mode']}: {len(answers)} images, {details['genuine_pairs']:,} genuine and "
            f"{details['impostor_pairs']:,} impostor pairs. A false match is an impostor pair at or above "
            "the "
            "threshold, a false non-match a genuine pair below it.",
            "",
            *recommendation_lines(
                f"{parameter} for FMR <= {target:g}", parameter, recommended, ("fmr", "fnmr"), ("FMR", "FNMR")
            ),
        ]
        if counts["not-returned"]:
            markdown += [
                f"{counts['not-returned']:,} pairs were not returned by either search and are scored 0.",
                "",
            ]
        if no_face:
            markdown += [
                f"{len(no_face)} image(s) had no face indexed; their pairs are scored 0 (no_face.csv).",
                "",
            ]
        if not slices.empty:
            markdown += ["### By group (pairs within a group)", "", *table_lines(slices)]
        markdown += [
            "### FMR and FNMR at whole thresholds (every 10)",
            "",
            *table_lines(every_ten(table), 11),
        ]
        tables = {
            "verification": table,
            "no_face": pd.DataFrame(no_face, columns=["image", "identity", "reasons"]),
        }
        if not slices.empty:
            tables["verification_slices"] = slices
        return scored(
            label=SAME_PERSON,
            scores=similarity,
            is_true=genuine,
            predictions=predictions,
            tables=tables,
            details=details,
            markdown=markdown,
            key="face_verification",
            parameter=parameter,
            objective=f"fnmr-at-fmr:{target:g}",
            recommended=recommended,
        )


def _all_pairs(
    answers: Sequence[VerificationAnswer], truths: Sequence[Mapping[str, Any]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair of images i < j, scored from i's search (else j's), 0 when neither returned it."""
    count = len(answers)
    first, second = np.triu_indices(count, k=1)
    keys = [truth.get("key") for truth in truths]
    identities = np.array([str(truth.get("identity")) for truth in truths], dtype=object)
    similarity = np.zeros(first.size)
    how = np.full(first.size, "not-returned", dtype=object)
    position = {key: index for index, key in enumerate(keys) if key}
    lookup: dict[tuple[int, int], float] = {}
    for i, answer in enumerate(answers):
        for key, value in answer.similarities.items():
            j = position.get(key)
            if j is not None and j != i:
                lookup[(i, j)] = value
    for n, (i, j) in enumerate(zip(first.tolist(), second.tolist(), strict=True)):
        if not answers[i].face or not answers[j].face:
            how[n] = "no-face"
            continue
        value = lookup.get((i, j), lookup.get((j, i)))
        if value is not None:
            similarity[n], how[n] = value, "returned"
    genuine = identities[first] == identities[second]
    return first, second, similarity, genuine, how


def _explicit_pairs(
    answers: Sequence[VerificationAnswer], truths: Sequence[Mapping[str, Any]], images: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    position = {uri: index for index, uri in enumerate(images)}
    first, second, similarity, genuine, how = [], [], [], [], []
    for i, truth in enumerate(truths):
        for pair in truth.get("pairs") or []:
            j = position.get(pair["with"])
            if j is None:
                continue  # the other image was not evaluated (rejected or failed)
            key = truths[j].get("image_id")
            first.append(i)
            second.append(j)
            genuine.append(bool(pair["same"]))
            if key in answers[i].no_face_with:
                similarity.append(0.0)
                how.append("no-face")
            elif key in answers[i].similarities:
                similarity.append(answers[i].similarities[key])
                how.append("returned")
            else:
                similarity.append(0.0)
                how.append("not-returned")
    return (
        np.array(first, dtype=np.int64),
        np.array(second, dtype=np.int64),
        np.array(similarity, dtype=np.float64),
        np.array(genuine, dtype=bool),
        np.array(how, dtype=object),
    )


def check_dataset(dataset: Dataset) -> None:
    if not dataset.pairs and len({next(iter(item.labels)) for item in dataset.items}) < 2:
        raise UserError("face-verification needs at least two identities (or explicit pairs)")


OPERATION = FaceVerification()
