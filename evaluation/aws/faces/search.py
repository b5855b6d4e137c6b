"""face-search's calls: a gallery (temporary or existing collection) and a search per probe."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from evaluation.aws.collections import CollectionGuard
from evaluation.aws.faces.base import (
    ASSOCIATE_BATCH,
    MAX_SEARCH_FACES,
    MAX_USERS,
    FaceFetcher,
    FaceRunInterrupted,
    _fail,
    external_id,
    gallery_fingerprint,
    user_id,
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
from evaluation.errors import UserError
from evaluation.images import AS_IS, LoadedImage, Preparation

log = logging.getLogger(__name__)

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
                **{FACES_STORED: self._gallery_size},
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
