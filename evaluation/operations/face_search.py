"""`--operation face-search`: the FaceMatchThreshold for 1:N identification against a gallery.

- Datasets: probes (an identity dataset; identity `unknown`, or anyone not in the gallery, for people
  not enrolled) and a gallery: `--gallery DATASET` (an identity dataset, indexed into a temporary
  collection, one face per image) or `--collection NAME` (an existing collection, read and never
  modified; a face's ExternalImageId is taken as its identity).
- Calls: SearchFacesByImage per probe (FaceMatchThreshold 0, MaxFaces up to the gallery's size, at
  most 4,096); with `--users`, each identity becomes a user (CreateUser, AssociateFaces) and the probes
  are searched with SearchUsersByImage (UserMatchThreshold 0).
- Scoring: a probe's candidate is its best match. At a threshold, an enrolled ("mated") probe is
  identified when its candidate is its own identity and scores at or above the threshold; a probe of
  someone not enrolled is a false positive when its candidate scores at or above it. identification.csv:
  rank-1 identification rate, FNIR (1 - that rate) and FPIR (false positives / non-mated probes) at every
  distinct score and whole number; the recommended FaceMatchThreshold is the lowest with FPIR at most the
  target (fnir-at-fpir:0.001 by default, the same objective as fnmr-at-fmr).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.aws.faces import GallerySearch
from evaluation.datasets import Dataset, DatasetItem
from evaluation.datasets.faces import UNKNOWN, load_face_dataset
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
from evaluation.stats.thresholds import Objective

IDENTIFIED = "identified"
COLUMNS = ("threshold", "mated", "non_mated", "identified", "false_positives", "rank1_rate", "fnir", "fpir")


@dataclass(frozen=True)
class SearchAnswer:
    face: bool
    candidates: tuple[tuple[str, float], ...]  # (identity, similarity), best first


def read_search(response: Mapping[str, Any]) -> SearchAnswer:
    try:
        identities = response.get("Identities") or {}
        if "SearchUsersByImage" in response:
            answer = response["SearchUsersByImage"]
            if "Error" in answer or (answer.get("SearchedFace") is None and not answer.get("UserMatches")):
                return SearchAnswer("Error" not in answer and bool(answer.get("UserMatches")), ())
            matches = [
                (identities.get(m["User"]["UserId"], m["User"]["UserId"]), float(m["Similarity"]))
                for m in answer.get("UserMatches") or []
            ]
        else:
            answer = response["SearchFacesByImage"]
            if "Error" in answer:
                return SearchAnswer(False, ())
            matches = []
            for match in answer.get("FaceMatches") or []:
                key = str(match["Face"].get("ExternalImageId") or match["Face"]["FaceId"])
                matches.append((identities.get(key, key), float(match["Similarity"])))
        return SearchAnswer(True, tuple(sorted(matches, key=lambda m: -m[1])))
    except (KeyError, TypeError, ValueError) as exc:
        raise ResponseShapeError(f"not a face-search answer: {exc!r}") from None


def identification_table(top_score: np.ndarray, correct: np.ndarray, mated: np.ndarray) -> pd.DataFrame:
    """identification.csv from each probe's best score, whether that candidate is right, and whether the
    probe's person is enrolled."""
    thresholds = np.union1d(np.unique(top_score), np.arange(0.0, 101.0))
    right = np.sort(top_score[mated & correct])
    impostor = np.sort(top_score[~mated])
    n_mated, n_non = int(mated.sum()), int((~mated).sum())
    identified = right.size - np.searchsorted(right, thresholds, side="left")
    false_positives = impostor.size - np.searchsorted(impostor, thresholds, side="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        rank1 = identified / n_mated if n_mated else np.full(thresholds.size, np.nan)
        fpir = false_positives / n_non if n_non else np.full(thresholds.size, np.nan)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "mated": n_mated,
            "non_mated": n_non,
            "identified": identified.astype(np.int64),
            "false_positives": false_positives.astype(np.int64),
            "rank1_rate": rank1,
            "fnir": 1 - rank1,
            "fpir": fpir,
        }
    )[list(COLUMNS)]


class FaceSearch(BiometricOperation):
    name = "face-search"
    api = "SearchFacesByImage"
    label = IDENTIFIED
    needs = "probes with identities (image,identity; 'unknown' for people not enrolled)"

    def read(self, response: Mapping[str, Any]) -> SearchAnswer:
        return read_search(response)

    def load(self, source: str, **keywords: Any) -> Dataset:
        return load_face_dataset(source, expect=("identity",), **keywords)

    def fetcher(
        self,
        client: Any,
        *,
        dataset: Dataset,
        gallery: str | None = None,
        collection: str | None = None,
        users: bool = False,
        max_faces: int | None = None,
        dataset_keywords: Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> Any:
        gallery_set = self.load(gallery, **(dataset_keywords or {})) if gallery else None
        return GallerySearch(
            client,
            gallery=gallery_set,
            existing_collection=collection,
            users=users,
            max_faces=max_faces,
            **settings,
        )

    def settings_of(self, request: Any, s3_client: Any) -> dict[str, Any]:
        return {
            "gallery": str(request.gallery) if request.gallery else None,
            "collection": request.collection,
            "users": request.users,
            "dataset_keywords": {
                "format": None,
                "skip_bad_lines": request.skip_bad_lines,
                "s3_client": s3_client,
            },
        }

    def ground_truth(self, item: DatasetItem) -> dict[str, Any]:
        return {"identity": next(iter(item.labels), UNKNOWN), "attributes": dict(item.attributes)}

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
        enrolled: frozenset[str] | None = None,
    ) -> Scored:
        identities = [str(t.get("identity") or UNKNOWN) for t in truths]
        known = (
            enrolled if enrolled is not None else frozenset(name for a in answers for name, _ in a.candidates)
        )
        mated = np.array([ident != UNKNOWN and ident in known for ident in identities], dtype=bool)
        top = np.array([a.candidates[0][1] if a.candidates else 0.0 for a in answers], dtype=np.float64)
        correct = np.array(
            [
                bool(a.candidates) and a.candidates[0][0] == ident
                for a, ident in zip(answers, identities, strict=True)
            ],
            dtype=bool,
        )
        target = rate_target(objective)
        table = identification_table(top, correct, mated)
        names = {"refused": "probes of people not enrolled", "accepted_rate": "FPIR", "rejected_rate": "FNIR"}

        def table_for(members: np.ndarray) -> pd.DataFrame:
            return identification_table(top[members], correct[members], mated[members])

        recommended, slices = rates_and_slices(
            truths, table, table_for, target, refused="non_mated", rates=("fpir", "fnir"), names=names
        )
        not_enrolled = sorted({i for i, m in zip(identities, mated, strict=True) if not m and i != UNKNOWN})
        details = {
            "probes": len(answers),
            "mated_probes": int(mated.sum()),
            "non_mated_probes": int((~mated).sum()),
            "probes_without_face": int(sum(not a.face for a in answers)),
            "rank1_accuracy": float(correct[mated].mean()) if mated.any() else None,
            "identities_not_in_gallery": not_enrolled[:50],
            "recommended": recommended,
            "objective": f"fnir-at-fpir:{target:g}",
        }
        markdown = [
            "## Face search (1:N identification)",
            "",
            f"{len(answers)} probes: {details['mated_probes']} of enrolled people, "
            f"{details['non_mated_probes']} of "
            "people not enrolled. Rank-1 identification rate: the best match is the right person at or "
            "above the "
            "threshold; FPIR: probes of people not enrolled matched to someone.",
            "",
            *recommendation_lines(
                f"FaceMatchThreshold for FPIR <= {target:g}",
                "FaceMatchThreshold",
                recommended,
                ("fpir", "fnir"),
                ("FPIR", "FNIR"),
            ),
        ]
        if not_enrolled:
            markdown += [
                f"{len(not_enrolled)} probe identities are not in the gallery and count as not enrolled.",
                "",
            ]
        markdown += [
            "### Identification at whole thresholds (every 10)",
            "",
            *table_lines(every_ten(table), 11),
        ]
        if not slices.empty:
            markdown += ["### By group", "", *table_lines(slices)]
        tables = {"identification": table}
        if not slices.empty:
            tables["identification_slices"] = slices
        predictions = pd.DataFrame(
            {
                "image": list(images),
                "identity": identities,
                "enrolled": mated,
                "candidate": [a.candidates[0][0] if a.candidates else None for a in answers],
                "similarity": top,
                "correct": correct,
            }
        )
        entries = mated | ~mated  # every probe is an entry: right top-1 candidates are the true ones
        return scored(
            label=IDENTIFIED,
            scores=top[entries],
            is_true=(correct & mated)[entries],
            support=int(mated.sum()),
            predictions=predictions,
            tables=tables,
            details=details,
            markdown=markdown,
            key="face_search",
            parameter="FaceMatchThreshold",
            objective=f"fnir-at-fpir:{target:g}",
            recommended=recommended,
        )


OPERATION = FaceSearch()
