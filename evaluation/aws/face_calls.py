"""The calls of the face operations: fewer, bigger steps than one call per image, and a collection that
must not outlive the run.

Each fetcher plans without a call (every image read and checked, every stored answer found: what a dry
run prints and --max-cost checks) and fetches what is missing, storing one answer per dataset item in
the response cache, as the image runner does, so images.csv, re-analysis and reports work unchanged:

- `CollectionVerification` (face-verification on an identity dataset): every image is indexed once into
  a temporary collection (IndexFaces, MaxFaces 1: the one face kept is the service's best, normally the
  largest) and searched once by its FaceId (SearchFaces, FaceMatchThreshold 0, MaxFaces = the
  collection's size, at most 4,096): about two calls per image give the similarity of every pair. An
  item's answer is {"IndexFaces": ..., "SearchFaces": ...} as the service sent them; faces are named by
  ExternalImageId = `external_id(image_id)`, so the answers read without the collection. The answer's
  key holds a fingerprint of the whole gallery: a rerun over the same images calls nothing.
- `PairComparison` (face-verification on explicit pairs): CompareFaces at SimilarityThreshold 0, one call
  per pair, each cached by both images' ids and the request; an item's answer holds the comparisons in
  which it is the first image.
- `GallerySearch` (face-search): the gallery is indexed into a temporary collection (or an existing
  collection is read, never modified), and each probe is searched (SearchFacesByImage, or with users
  SearchUsersByImage after CreateUser/AssociateFaces per identity).
- `LivenessResults` (liveness): GetFaceLivenessSessionResults per session, stored without image bytes
  (S3 references are kept); or answers saved earlier (a JSON Lines file) stored as if called.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from evaluation.aws.collections import CollectionGuard
from evaluation.calls.backends.rekognition import image_argument
from evaluation.calls.cache import ResponseCache, cache_key
from evaluation.calls.runner import CACHED, CALLED, FAILED, MISSING, REJECTED, ImageOutcome, RunStats
from evaluation.calls.tasks import TaskResult, TasksInterrupted, error_code, run_tasks
from evaluation.datasets import Dataset
from evaluation.errors import UserError
from evaluation.images import AS_IS, DETECT_LABELS_LIMITS, ImageLimits, ImageProblem, LoadedImage, Preparation
from evaluation.images import load_image as read_image

log = logging.getLogger(__name__)

MAX_SEARCH_FACES = 4096  # SearchFaces / SearchFacesByImage MaxFaces, and the most matches they return
MAX_USERS = 500  # SearchUsersByImage MaxUsers
ASSOCIATE_BATCH = 100  # AssociateFaces FaceIds per call, and faces per user
# How long a temporary collection's faces are assumed stored, for the storage line of an estimate.
ASSUMED_STORAGE_HOURS = 1.0
HOURS_PER_MONTH = 730.0

__all__ = [
    "CollectionVerification",
    "FaceFetcher",
    "GallerySearch",
    "LivenessResults",
    "PairComparison",
    "external_id",
    "gallery_fingerprint",
]


def external_id(image_id: str) -> str:
    """The ExternalImageId an image is indexed under: its id's sha256 (S3 URIs hold characters the
    service refuses there), so a search answer names images without the collection."""
    return hashlib.sha256(image_id.encode("utf-8")).hexdigest()


def gallery_fingerprint(image_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(set(image_ids))).encode("utf-8")).hexdigest()


def user_id(identity: str) -> str:
    """A UserId for an identity (1-128 of [a-zA-Z0-9_.-:]); other characters are hex-escaped."""
    safe = re.sub(r"[^a-zA-Z0-9_.\-]", lambda m: f":{ord(m.group()):x}", identity)
    return safe[:100] + ("" if len(safe) <= 100 else "~" + hashlib.sha256(identity.encode()).hexdigest()[:16])


def _without_image_bytes(response: Mapping[str, Any]) -> dict[str, Any]:
    """A liveness answer as stored: reference and audit images keep their S3 reference and box, never
    their bytes (biometric data the cache has no need for)."""

    def strip(image: Any) -> Any:
        if not isinstance(image, Mapping):
            return image
        kept = {key: value for key, value in image.items() if key != "Bytes"}
        if "Bytes" in image:
            kept["BytesLength"] = len(image["Bytes"] or b"")
        return kept

    answer = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    if "ReferenceImage" in answer:
        answer["ReferenceImage"] = strip(answer["ReferenceImage"])
    if "AuditImages" in answer:
        answer["AuditImages"] = [strip(image) for image in answer["AuditImages"] or []]
    return answer


@dataclass
class FaceFetcher:
    """The shared part: the Backend-like face a RunPlan shows, planning per item, and storing answers."""

    client: Any
    endpoint: str | None = None
    region: str | None = None
    workers: int = 8
    tps: float | None = None
    max_runtime_s: float | None = None
    say: Callable[[str], None] = log.info
    name: str = "rekognition"
    operation: str = ""
    limits: ImageLimits = DETECT_LABELS_LIMITS
    calls: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    collection: str | None = None  # the collection used by the last fetch
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # --- Backend protocol (for RunPlan.describe and run.json)
    def request_params(self) -> dict[str, Any]:
        return self._params()

    def _params(self) -> dict[str, Any]:
        params = dict(self.base_params())
        if self.endpoint:
            params["Endpoint"] = self.endpoint
        return params

    def base_params(self) -> dict[str, Any]:
        raise NotImplementedError

    def call(self, image: LoadedImage) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} answers whole datasets: use plan() and fetch()")

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "operation": self.operation,
            "region": self.region,
            "endpoint_url": self.client.meta.endpoint_url if self.client is not None else None,
            "request": self.request_params(),
            "calls_by_api": dict(self.calls),
            **({"collection": self.collection} if self.collection else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
        }

    def count(self, api: str, number: int = 1) -> None:
        with self._lock:
            self.calls[api] = self.calls.get(api, 0) + number

    # --- planning
    def load(self, dataset: Dataset, preparation: Preparation) -> list[ImageOutcome | LoadedImage]:
        """Every item read and checked: its LoadedImage, or an outcome saying why it cannot be sent."""
        loaded: list[ImageOutcome | LoadedImage] = []
        for item in dataset.items:
            try:
                loaded.append(read_image(item.image, self.limits, preparation))
            except ImageProblem as problem:
                loaded.append(ImageOutcome(image=item.image.uri, status=REJECTED, reason=str(problem)))
        return loaded

    def outcomes_for(
        self,
        dataset: Dataset,
        loaded: Sequence[ImageOutcome | LoadedImage],
        keys: Sequence[str | None],
        store: ResponseCache,
    ) -> tuple[list[ImageOutcome], list[int]]:
        stored = store.get_many(key for key in keys if key)
        outcomes, to_call, seen = [], [], set()
        for index, (item, image, key) in enumerate(zip(dataset.items, loaded, keys, strict=True)):
            if isinstance(image, ImageOutcome):
                outcomes.append(image)
                continue
            outcome = ImageOutcome(
                image=item.image.uri,
                status=CACHED if key in stored else MISSING,
                cache_key=key,
                image_id=image.image_id,
                orientation=image.orientation,
                changes=";".join(image.changes) or None,
            )
            outcomes.append(outcome)
            if outcome.status == MISSING and key not in seen:
                seen.add(str(key))
                to_call.append(index)
        return outcomes, to_call

    def store_answer(self, store: ResponseCache, outcome: ImageOutcome, answer: Mapping[str, Any]) -> None:
        store.put(
            str(outcome.cache_key),
            image_id=str(outcome.image_id),
            operation=self.operation,
            params=self.request_params(),
            response=answer,
            model_version=_face_model_version(answer),
        )
        outcome.status = CALLED

    def calls_needed(self, outcomes: Sequence[ImageOutcome], to_call: Sequence[int]) -> dict[str, float]:
        """API -> calls a fetch would make now (and "FaceStorageMonth" -> face-months stored)."""
        raise NotImplementedError

    def finish(self, outcomes: list[ImageOutcome], started: float, *, interrupted: bool = False) -> RunStats:
        """Duplicates share an answer; the stats count API calls, not items."""
        by_key = {o.cache_key: o for o in outcomes if o.cache_key and o.status in (CALLED, CACHED, FAILED)}
        for outcome in outcomes:
            if (
                outcome.status == MISSING
                and outcome.cache_key in by_key
                and by_key[outcome.cache_key] is not outcome
            ):
                source = by_key[outcome.cache_key]
                outcome.status = {CALLED: CACHED}.get(source.status, source.status)
                outcome.reason, outcome.error_code = source.reason, source.error_code
            elif outcome.status == MISSING and interrupted and outcome.reason is None:
                outcome.reason = "not called: the run was interrupted"
        stats = RunStats(images=len(outcomes))
        stats.calls = sum(self.calls.values())
        stats.cache_hits = sum(o.status == CACHED for o in outcomes)
        stats.rejected = sum(o.status == REJECTED for o in outcomes)
        stats.failed = sum(o.status == FAILED for o in outcomes)
        stats.missing = sum(o.status == MISSING for o in outcomes)
        codes: dict[str, int] = {}
        for outcome in outcomes:
            if outcome.error_code:
                codes[outcome.error_code] = codes.get(outcome.error_code, 0) + 1
        stats.error_codes = codes
        stats.interrupted = interrupted
        stats.wall_s = round(time.monotonic() - started, 3)
        return stats

    def run(
        self,
        tasks: Sequence[Any],
        call: Callable[[Any], Any],
        api: str,
        on_done: Callable[[TaskResult[Any]], None] | None = None,
    ) -> list[TaskResult[Any]]:
        def counted(task: Any) -> Any:
            self.count(api)
            return call(task)

        return run_tasks(tasks, counted, workers=self.workers, tps=self.tps, on_done=on_done)


def _face_model_version(answer: Mapping[str, Any]) -> str | None:
    for part in ("SearchFaces", "IndexFaces", "SearchFacesByImage", "SearchUsersByImage"):
        value = answer.get(part)
        if isinstance(value, Mapping) and value.get("FaceModelVersion"):
            return str(value["FaceModelVersion"])
    if answer.get("FaceModelVersion"):
        return str(answer["FaceModelVersion"])
    return None


def _fail(outcome: ImageOutcome, error: BaseException, api: str) -> None:
    code = error_code(error)
    message = (
        error.response.get("Error", {}).get("Message", "") if isinstance(error, ClientError) else str(error)
    )
    outcome.status, outcome.error_code = FAILED, code
    outcome.reason = f"{api}: {code}: {message}".rstrip(": ")
    log.error("%s %s: %s", api, outcome.image, outcome.reason)


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
            "FaceStorageMonth": self._size * ASSUMED_STORAGE_HOURS / HOURS_PER_MONTH,
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


class FaceRunInterrupted(Exception):
    """Ctrl-C, SIGTERM or the deadline during a face run: the collection is gone, stored answers kept."""

    def __init__(self, outcomes: list[ImageOutcome], stats: RunStats, *, deadline: bool = False) -> None:
        super().__init__("interrupted")
        self.outcomes, self.stats, self.deadline = outcomes, stats, deadline


def _index_answer(response: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


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


# ----------------------------------------------------------------------------------------- search


@dataclass
class GallerySearch(FaceFetcher):
    """face-search: a gallery (indexed into a temporary collection, or an existing collection read as
    it is) and one search per probe."""

    operation: str = "SearchFacesByImage"
    gallery: Dataset | None = None
    existing_collection: str | None = None
    users: bool = False
    max_faces: int | None = None
    quality_filter: str = "AUTO"
    gallery_identities: dict[str, str] = field(default_factory=dict)  # external id -> identity
    gallery_problems: list[str] = field(default_factory=list)
    _fingerprint: str = ""
    _gallery_size: int = 0

    def __post_init__(self) -> None:
        if (self.gallery is None) == (self.existing_collection is None):
            raise UserError("face-search needs a gallery: --gallery DATASET or --collection NAME (not both)")
        if self.users:
            self.operation = "SearchUsersByImage"

    def base_params(self) -> dict[str, Any]:
        params: dict[str, Any] = (
            {"MaxFaces": self._max_faces()} if not self.users else {"MaxUsers": self._max_users()}
        )
        params["FaceMatchThreshold" if not self.users else "UserMatchThreshold"] = 0.0
        if self.existing_collection:
            params["CollectionId"] = self.existing_collection
        else:
            params["Gallery"] = self._fingerprint
            params["IndexFaces"] = {"MaxFaces": 1, "QualityFilter": self.quality_filter}
        return params

    def _max_faces(self) -> int:
        wanted = self.max_faces if self.max_faces is not None else max(self._gallery_size, 1)
        return max(1, min(MAX_SEARCH_FACES, wanted))

    def _max_users(self) -> int:
        identities = len(set(self.gallery_identities.values())) or 1
        return max(1, min(MAX_USERS, self.max_faces or identities))

    def plan(
        self, dataset: Dataset, store: ResponseCache, preparation: Preparation = AS_IS
    ) -> tuple[list[ImageOutcome], list[int]]:
        if self.gallery is not None:
            self._gallery_loaded = self.load(self.gallery, preparation)
            ids = []
            for item, image in zip(self.gallery.items, self._gallery_loaded, strict=True):
                if isinstance(image, LoadedImage):
                    ids.append(image.image_id)
                    self.gallery_identities[external_id(image.image_id)] = next(iter(item.labels))
                else:
                    self.gallery_problems.append(f"{image.image}: {image.reason}")
            self._fingerprint = gallery_fingerprint(
                [f"{i}\t{self.gallery_identities[external_id(i)]}" for i in ids]
            )
            self._gallery_size = len(set(ids))
        else:
            described = self.client.describe_collection(CollectionId=self.existing_collection)
            self._gallery_size = int(described.get("FaceCount") or 0)
            self.notes.append(
                f"existing collection {self.existing_collection} ({self._gallery_size} faces) read, never "
                "modified; a face's ExternalImageId (or its user) is taken as its identity"
            )
        loaded = self.load(dataset, preparation)
        self._loaded = loaded
        params = self.request_params()
        keys = [
            cache_key(i.image_id, self.operation, params) if isinstance(i, LoadedImage) else None
            for i in loaded
        ]
        return self.outcomes_for(dataset, loaded, keys, store)

    def calls_needed(self, outcomes: Sequence[ImageOutcome], to_call: Sequence[int]) -> dict[str, float]:
        if not to_call:
            return {}
        needed: dict[str, float] = {self.operation: len(to_call)}
        if self.gallery is not None:
            needed.update(
                CreateCollection=1,
                IndexFaces=self._gallery_size,
                FaceStorageMonth=self._gallery_size * ASSUMED_STORAGE_HOURS / HOURS_PER_MONTH,
            )
            if self.users:
                identities = len(set(self.gallery_identities.values()))
                needed["CreateUser"] = identities
                needed["AssociateFaces"] = identities
        return needed

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
        interrupted, deadline = False, False
        if self.existing_collection:
            self.collection = self.existing_collection
            try:
                self._search(self.existing_collection, outcomes, to_call, store)
            except (TasksInterrupted, KeyboardInterrupt):
                interrupted = True
        else:
            guard = CollectionGuard(
                self.client, purpose="search", max_runtime_s=self.max_runtime_s, say=self.say
            )
            with guard:
                self.collection = guard.name
                self.count("CreateCollection")
                try:
                    self._enrol(guard.name)
                    self._search(guard.name, outcomes, to_call, store)
                except (TasksInterrupted, KeyboardInterrupt):
                    interrupted = True
            deadline = guard.deadline_passed
        stats = self.finish(outcomes, started, interrupted=interrupted)
        if interrupted:
            raise FaceRunInterrupted(outcomes, stats, deadline=deadline)
        return outcomes, stats

    def _enrol(self, collection: str) -> None:
        assert self.gallery is not None
        images = [
            (image, next(iter(item.labels)))
            for item, image in zip(self.gallery.items, self._gallery_loaded, strict=True)
            if isinstance(image, LoadedImage)
        ]
        unique = list({image.image_id: (image, identity) for image, identity in images}.values())

        def index(entry: tuple[LoadedImage, str]) -> dict[str, Any]:
            return self.client.index_faces(
                CollectionId=collection,
                Image=image_argument(entry[0]),
                ExternalImageId=external_id(entry[0].image_id),
                MaxFaces=1,
                QualityFilter=self.quality_filter,
                DetectionAttributes=["DEFAULT"],
            )

        faces_by_identity: dict[str, list[str]] = {}
        for result in self.run(unique, index, "IndexFaces"):
            image, identity = result.task
            if not result.ok:
                self.gallery_problems.append(f"{image.ref.uri}: IndexFaces {error_code(result.error)}")  # type: ignore[arg-type]
                continue
            records = result.value.get("FaceRecords") or []
            if not records:
                reasons = [
                    r for face in result.value.get("UnindexedFaces") or [] for r in face.get("Reasons", [])
                ]
                self.gallery_problems.append(
                    f"{image.ref.uri}: no face indexed"
                    + (f" ({', '.join(sorted(set(reasons)))})" if reasons else "")
                )
                continue
            faces_by_identity.setdefault(identity, []).append(records[0]["Face"]["FaceId"])
        if not self.users:
            return
        for identity, faces in faces_by_identity.items():
            user = user_id(identity)
            self.count("CreateUser")
            self.client.create_user(CollectionId=collection, UserId=user)
            if len(faces) > ASSOCIATE_BATCH:
                self.gallery_problems.append(
                    f"{identity}: {len(faces)} faces, a user holds at most {ASSOCIATE_BATCH}; "
                    "the first are associated"
                )
            self.count("AssociateFaces")
            answer = self.client.associate_faces(
                CollectionId=collection, UserId=user, FaceIds=faces[:ASSOCIATE_BATCH], UserMatchThreshold=0.0
            )
            for failed in answer.get("UnsuccessfulFaceAssociations") or []:
                self.gallery_problems.append(
                    f"{identity}: face {failed.get('FaceId')} not associated "
                    f"({', '.join(failed.get('Reasons') or [])})"
                )
        self.user_identities = {user_id(identity): identity for identity in faces_by_identity}

    def _search(
        self, collection: str, outcomes: list[ImageOutcome], to_call: Sequence[int], store: ResponseCache
    ) -> None:
        def search(index: int) -> dict[str, Any]:
            image = self._loaded[index]
            assert isinstance(image, LoadedImage)
            try:
                if self.users:
                    return self.client.search_users_by_image(
                        CollectionId=collection,
                        Image=image_argument(image),
                        UserMatchThreshold=0.0,
                        MaxUsers=self._max_users(),
                    )
                return self.client.search_faces_by_image(
                    CollectionId=collection,
                    Image=image_argument(image),
                    FaceMatchThreshold=0.0,
                    MaxFaces=self._max_faces(),
                )
            except ClientError as error:
                if error_code(error) != "InvalidParameterException":
                    raise
                return {"Error": {"Code": "InvalidParameterException", "Message": str(error)}}  # no face

        def stored(result: TaskResult[int]) -> None:
            outcome = outcomes[result.task]
            if result.ok:
                answer = {k: v for k, v in result.value.items() if k != "ResponseMetadata"}
                self.store_answer(
                    store, outcome, {self.operation: answer, "Identities": self._identities(answer)}
                )
            elif result.error is not None:
                _fail(outcome, result.error, self.operation)

        self.run(list(to_call), search, self.operation, on_done=stored)

    def _identities(self, answer: Mapping[str, Any]) -> dict[str, str]:
        """Who each returned face or user is, so the stored answer reads without the gallery."""
        if self.users:
            users = getattr(self, "user_identities", {}) or {}
            return {
                str(match["User"]["UserId"]): users.get(match["User"]["UserId"], match["User"]["UserId"])
                for match in answer.get("UserMatches") or []
            }
        found = {}
        for match in answer.get("FaceMatches") or []:
            external = str(match["Face"].get("ExternalImageId") or match["Face"].get("FaceId"))
            found[external] = self.gallery_identities.get(external, external)
        return found

    def gallery_record(self) -> dict[str, Any]:
        """run.json's "gallery": what the probes were searched against, so `report` needs no dataset."""
        return {
            "collection": self.existing_collection,
            "source": self.gallery.source if self.gallery is not None else None,
            "images": self._gallery_size,
            "identities": dict(self.gallery_identities),
            "users": dict(getattr(self, "user_identities", {}) or {}),
            "problems": list(self.gallery_problems),
        }


# ----------------------------------------------------------------------------------------- liveness


@dataclass
class LivenessResults(FaceFetcher):
    """GetFaceLivenessSessionResults per session, or answers saved earlier (JSON Lines)."""

    operation: str = "GetFaceLivenessSessionResults"
    saved: str | None = None
    limits: ImageLimits = DETECT_LABELS_LIMITS

    def base_params(self) -> dict[str, Any]:
        return {}

    def plan(
        self, dataset: Dataset, store: ResponseCache, preparation: Preparation = AS_IS
    ) -> tuple[list[ImageOutcome], list[int]]:
        params = self.request_params()
        if self.saved:
            self._store_saved(dataset, store, params)
        keys = [cache_key(item.image.uri, self.operation, params) for item in dataset.items]
        stored = store.get_many(keys)
        outcomes, to_call = [], []
        for index, (item, key) in enumerate(zip(dataset.items, keys, strict=True)):
            outcomes.append(
                ImageOutcome(
                    image=item.image.uri,
                    status=CACHED if key in stored else MISSING,
                    cache_key=key,
                    image_id=item.image.uri,
                )
            )
            if key not in stored:
                to_call.append(index)
        return outcomes, to_call

    def _store_saved(self, dataset: Dataset, store: ResponseCache, params: dict[str, Any]) -> None:
        path = Path(str(self.saved))
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UserError(f"cannot read --liveness-answers {path}: {exc.strerror or exc}") from None
        wanted = {item.image.uri for item in dataset.items}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                answer = json.loads(line)
            except ValueError as exc:
                raise UserError(f"{path}:{number}: not JSON: {exc}") from None
            if not isinstance(answer, dict) or not isinstance(answer.get("SessionId"), str):
                raise UserError(
                    f"{path}:{number}: a GetFaceLivenessSessionResults answer needs its SessionId"
                )
            if answer["SessionId"] in wanted:
                store.put(
                    cache_key(answer["SessionId"], self.operation, params),
                    image_id=answer["SessionId"],
                    operation=self.operation,
                    params=params,
                    response=_without_image_bytes(answer),
                    model_version=None,
                )

    def calls_needed(self, outcomes: Sequence[ImageOutcome], to_call: Sequence[int]) -> dict[str, float]:
        return {"GetFaceLivenessSessionResults": len(to_call)} if to_call else {}

    def fetch(
        self,
        dataset: Dataset,
        store: ResponseCache,
        planned: tuple[list[ImageOutcome], list[int]],
    ) -> tuple[list[ImageOutcome], RunStats]:
        started = time.monotonic()
        outcomes, to_call = planned

        def get(index: int) -> dict[str, Any]:
            return self.client.get_face_liveness_session_results(SessionId=outcomes[index].image)

        def stored(result: TaskResult[int]) -> None:
            outcome = outcomes[result.task]
            if result.ok:
                self.store_answer(store, outcome, _without_image_bytes(result.value))
            elif result.error is not None:
                _fail(outcome, result.error, self.operation)

        try:
            self.run(list(to_call), get, self.operation, on_done=stored)
        except TasksInterrupted:
            stats = self.finish(outcomes, started, interrupted=True)
            raise FaceRunInterrupted(outcomes, stats) from None
        return outcomes, self.finish(outcomes, started)


def describe_calls(needed: Mapping[str, float]) -> str:
    return ", ".join(f"{value:g} {api}" for api, value in needed.items()) or "none"
