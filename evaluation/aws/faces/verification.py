"""face-verification's calls: a guarded temporary collection, or CompareFaces per pair."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from evaluation.aws.collections import CollectionGuard
from evaluation.aws.faces.base import (
    MAX_SEARCH_FACES,
    FaceFetcher,
    FaceRunInterrupted,
    _fail,
    _index_answer,
    external_id,
    gallery_fingerprint,
)
from evaluation.calls.backends.rekognition import image_argument
from evaluation.calls.cache import ResponseCache, cache_key
from evaluation.calls.prices import FACES_STORED
from evaluation.calls.runner import (
    ImageOutcome,
    RunStats,
)
from evaluation.calls.tasks import TaskResult, TasksInterrupted, error_code
from evaluation.datasets import Dataset
from evaluation.images import AS_IS, LoadedImage, Preparation

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------- verification


@dataclass
class CollectionVerification(FaceFetcher):
    """IndexFaces once and SearchFaces once per image in a temporary collection (see the module)."""

    operation: str = "SearchFaces"
    quality_filter: str = "AUTO"
    max_faces: int | None = None  # per search; default: the collection's size, at most 4,096
    _gallery: str = ""
    _size: int = 0

    def base_params(self) -> dict[str, Any]:
        return {
            "FaceMatchThreshold": 0.0,
            "MaxFaces": self._max_faces(),
            "IndexFaces": {"MaxFaces": 1, "QualityFilter": self.quality_filter},
            "Gallery": self._gallery,
        }

    def _max_faces(self) -> int:
        wanted = self.max_faces if self.max_faces is not None else max(self._size, 1)
        return max(1, min(MAX_SEARCH_FACES, wanted))

    def plan(
        self, dataset: Dataset, store: ResponseCache, preparation: Preparation = AS_IS
    ) -> tuple[list[ImageOutcome], list[int]]:
        loaded = self.load(dataset, preparation)
        ids = [image.image_id for image in loaded if isinstance(image, LoadedImage)]
        self._gallery, self._size = gallery_fingerprint(ids), len(set(ids))
        if self._size > MAX_SEARCH_FACES and self.max_faces is None:
            self.notes.append(
                f"{self._size} images but a search returns at most {MAX_SEARCH_FACES} faces: each image is "
                f"compared with its {MAX_SEARCH_FACES} most similar; the other pairs are scored 0"
            )
        params = self.request_params()
        keys = [
            cache_key(image.image_id, self.operation, params) if isinstance(image, LoadedImage) else None
            for image in loaded
        ]
        self._loaded = loaded
        return self.outcomes_for(dataset, loaded, keys, store)

    def calls_needed(self, outcomes: Sequence[ImageOutcome], to_call: Sequence[int]) -> dict[str, float]:
        if not to_call:
            return {}
        return {
            "CreateCollection": 1,
            "IndexFaces": self._size,
            "SearchFaces": len(to_call),
            FACES_STORED: self._size,
        }

    def fetch(
        self,
        dataset: Dataset,
        store: ResponseCache,
        planned: tuple[list[ImageOutcome], list[int]],
    ) -> tuple[list[ImageOutcome], RunStats]:
        started = time.monotonic()
        outcomes, to_call = planned
        if not to_call:
            return outcomes, self.finish(outcomes, started)
        loaded = {img.image_id: img for img in self._loaded if isinstance(img, LoadedImage)}
        indexed: dict[str, dict[str, Any]] = {}
        index_errors: dict[str, BaseException] = {}
        interrupted = False
        guard = CollectionGuard(
            self.client, purpose="verification", max_runtime_s=self.max_runtime_s, say=self.say
        )
        with guard:
            self.collection = guard.name
            self.count("CreateCollection")
            try:

                def index(image: LoadedImage) -> dict[str, Any]:
                    return self.client.index_faces(
                        CollectionId=guard.name,
                        Image=image_argument(image),
                        ExternalImageId=external_id(image.image_id),
                        MaxFaces=1,
                        QualityFilter=self.quality_filter,
                        DetectionAttributes=["DEFAULT"],
                    )

                for result in self.run(list(loaded.values()), index, "IndexFaces"):
                    if result.ok:
                        indexed[result.task.image_id] = result.value
                    elif result.error is not None:
                        index_errors[result.task.image_id] = result.error
                wanted = [i for i in to_call if outcomes[i].image_id in indexed]
                for i in to_call:
                    error = index_errors.get(str(outcomes[i].image_id))
                    if error is not None:
                        _fail(outcomes[i], error, "IndexFaces")
                searchable = []
                for i in wanted:
                    answer = _index_answer(indexed[str(outcomes[i].image_id)])
                    records = answer.get("FaceRecords") or []
                    if records:
                        searchable.append(i)
                    else:  # no face to search with: the answer says so, no call
                        self.store_answer(store, outcomes[i], {"IndexFaces": answer, "SearchFaces": None})
                max_faces = self._max_faces()

                def search(index_: int) -> dict[str, Any]:
                    face_id = indexed[str(outcomes[index_].image_id)]["FaceRecords"][0]["Face"]["FaceId"]
                    return self.client.search_faces(
                        CollectionId=guard.name, FaceId=face_id, FaceMatchThreshold=0.0, MaxFaces=max_faces
                    )

                def stored(result: TaskResult[int]) -> None:
                    outcome = outcomes[result.task]
                    if result.ok:
                        answer = {
                            "IndexFaces": _index_answer(indexed[str(outcome.image_id)]),
                            "SearchFaces": {k: v for k, v in result.value.items() if k != "ResponseMetadata"},
                        }
                        self.store_answer(store, outcome, answer)
                    elif result.error is not None:
                        _fail(outcome, result.error, "SearchFaces")

                self.run(searchable, search, "SearchFaces", on_done=stored)
            except (TasksInterrupted, KeyboardInterrupt):
                interrupted = True
        if guard.deadline_passed:
            self.notes.append(
                "--max-runtime passed: the collection was deleted before every image was searched"
            )
        stats = self.finish(outcomes, started, interrupted=interrupted)
        if interrupted:
            raise FaceRunInterrupted(outcomes, stats, deadline=guard.deadline_passed)
        return outcomes, stats


# ----------------------------------------------------------------------------------------- pairs


@dataclass
class PairComparison(FaceFetcher):
    """CompareFaces per explicit pair, each call cached by both images and the request."""

    operation: str = "CompareFaces"
    quality_filter: str = "NONE"

    def base_params(self) -> dict[str, Any]:
        return {"SimilarityThreshold": 0.0, "QualityFilter": self.quality_filter}

    def plan(
        self, dataset: Dataset, store: ResponseCache, preparation: Preparation = AS_IS
    ) -> tuple[list[ImageOutcome], list[int]]:
        loaded = self.load(dataset, preparation)
        self._loaded = loaded
        partners: dict[int, list[int]] = {index: [] for index in range(len(loaded))}
        for pair in dataset.pairs:
            partners[pair.first].append(pair.second)
        self._partners = partners
        keys: list[str | None] = []
        for index, image in enumerate(loaded):
            if not isinstance(image, LoadedImage):
                keys.append(None)
                continue
            targets = sorted(
                loaded[other].image_id for other in partners[index] if isinstance(loaded[other], LoadedImage)
            )
            keys.append(
                cache_key(image.image_id, "CompareFacesPairs", {**self.request_params(), "Targets": targets})
            )
        outcomes, to_call = self.outcomes_for(dataset, loaded, keys, store)
        self._pending = self._missing_pairs(store, to_call)
        return outcomes, to_call

    def pair_key(self, first: str, second: str) -> str:
        return cache_key(f"{first}|{second}", self.operation, self.request_params())

    def _missing_pairs(self, store: ResponseCache, to_call: Sequence[int]) -> list[tuple[int, int, str]]:
        wanted = []
        for index in to_call:
            first = self._loaded[index]
            for other in self._partners[index]:
                second = self._loaded[other]
                if isinstance(first, LoadedImage) and isinstance(second, LoadedImage):
                    wanted.append((index, other, self.pair_key(first.image_id, second.image_id)))
        stored = store.get_many(key for _, _, key in wanted)
        return [entry for entry in wanted if entry[2] not in stored]

    def calls_needed(self, outcomes: Sequence[ImageOutcome], to_call: Sequence[int]) -> dict[str, float]:
        return {"CompareFaces": len(self._pending)} if self._pending else {}

    def fetch(
        self,
        dataset: Dataset,
        store: ResponseCache,
        planned: tuple[list[ImageOutcome], list[int]],
    ) -> tuple[list[ImageOutcome], RunStats]:
        started = time.monotonic()
        outcomes, to_call = planned
        pending = self._missing_pairs(store, to_call)
        params = self.request_params()

        def compare(entry: tuple[int, int, str]) -> dict[str, Any]:
            first, second = self._loaded[entry[0]], self._loaded[entry[1]]
            assert isinstance(first, LoadedImage) and isinstance(second, LoadedImage)
            try:
                answer = self.client.compare_faces(
                    SourceImage=image_argument(first),
                    TargetImage=image_argument(second),
                    SimilarityThreshold=0.0,
                    QualityFilter=self.quality_filter,
                )
            except ClientError as error:
                if error_code(error) != "InvalidParameterException":
                    raise
                # no face in one of the images: an answer about the pair, scored 0 and named
                answer = {"Error": {"Code": "InvalidParameterException", "Message": str(error)}}
            return {k: v for k, v in answer.items() if k != "ResponseMetadata"}

        failures: dict[int, BaseException] = {}

        def stored(result: TaskResult[tuple[int, int, str]]) -> None:
            first, _, key = result.task
            if result.ok:
                first_image = self._loaded[first]
                assert isinstance(first_image, LoadedImage)
                store.put(
                    key,
                    image_id=first_image.image_id,
                    operation=self.operation,
                    params=params,
                    response=result.value,
                    model_version=None,
                )
            elif result.error is not None:
                failures[first] = result.error

        interrupted = False
        try:
            self.run(pending, compare, "CompareFaces", on_done=stored)
        except TasksInterrupted:
            interrupted = True
        for index in to_call:
            if index in failures:
                _fail(outcomes[index], failures[index], "CompareFaces")
                continue
            first = self._loaded[index]
            assert isinstance(first, LoadedImage)
            seconds = [
                (other, self._loaded[other])
                for other in self._partners[index]
                if isinstance(self._loaded[other], LoadedImage)
            ]
            keys = {other: self.pair_key(first.image_id, image.image_id) for other, image in seconds}  # type: ignore[union-attr]
            found = store.get_many(keys.values())
            if len(found) < len(set(keys.values())):
                continue  # interrupted before every pair of this image was compared
            answer = {
                "CompareFaces": {
                    image.image_id: found[keys[other]].response  # type: ignore[union-attr]
                    for other, image in seconds
                }
            }
            self.store_answer(store, outcomes[index], answer)
        stats = self.finish(outcomes, started, interrupted=interrupted)
        if interrupted:
            raise FaceRunInterrupted(outcomes, stats)
        return outcomes, stats
