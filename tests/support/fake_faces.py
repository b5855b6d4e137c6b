"""A scripted Rekognition for the face operations, served through evaluation.server.protocol.

A scenario says who is in each image (by the sha256 of its bytes), whether a face is found in it, and
the similarity of every two images (a function of the two digests); liveness sessions have scripted
answers. The fake keeps collections, faces and users as the service does and answers in botocore's
documented shapes: CreateCollection, DeleteCollection, ListCollections, DescribeCollection,
ListTagsForResource, IndexFaces, SearchFaces, SearchFacesByImage, CompareFaces, CreateUser,
AssociateFaces, SearchUsersByImage, GetFaceLivenessSessionResults.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from evaluation.server.protocol import ServiceError, decode_image_bytes

ARN = "arn:aws:rekognition:us-east-1:123456789012:collection/{}"


def _box() -> dict[str, float]:
    return {"Width": 0.4, "Height": 0.5, "Left": 0.3, "Top": 0.2}


class FakeFaces:
    """handler(operation, request) with a record of every call (`calls`) and the live collections."""

    def __init__(self, similarity: Callable[[str, str], float]) -> None:
        self.similarity = similarity  # (digest a, digest b) -> 0-100, symmetric
        self.no_face: set[str] = set()
        self.collections: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.fault: Callable[[str, dict[str, Any]], None] | None = None  # may raise, or interrupt
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ helpers
    def _digest(self, request: dict[str, Any], key: str = "Image") -> str:
        data = decode_image_bytes({"Image": request.get(key)})
        if data is None:
            raise ServiceError("InvalidS3ObjectException", "S3 images are not scripted")
        return hashlib.sha256(data).hexdigest()

    def _collection(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request.get("CollectionId")
        if name not in self.collections:
            raise ServiceError("ResourceNotFoundException", f"The collection id: {name} does not exist")
        return self.collections[name]

    def _no_face(self) -> ServiceError:
        return ServiceError(
            "InvalidParameterException", "There are no faces in the image. Should be at least 1."
        )

    def add_collection(self, name: str, tags: dict[str, str] | None = None) -> None:
        """A collection someone else made (for tests that it is never touched)."""
        self.collections[name] = {"faces": {}, "users": {}, "tags": dict(tags or {})}

    # ------------------------------------------------------------------ dispatch
    def __call__(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls[operation] += 1
        if self.fault is not None:
            self.fault(operation, request)
        method = getattr(self, "_" + operation, None)
        if method is None:
            raise ServiceError("UnknownOperationException", f"{operation} is not scripted")
        with self._lock:
            return method(request)

    def _CreateCollection(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["CollectionId"]
        if name in self.collections:
            raise ServiceError("ResourceAlreadyExistsException", f"The collection id: {name} already exists")
        self.collections[name] = {"faces": {}, "users": {}, "tags": dict(request.get("Tags") or {})}
        return {"StatusCode": 200, "CollectionArn": ARN.format(name), "FaceModelVersion": "7.0"}

    def _DeleteCollection(self, request: dict[str, Any]) -> dict[str, Any]:
        self._collection(request)
        del self.collections[request["CollectionId"]]
        self.deleted.append(request["CollectionId"])
        return {"StatusCode": 200}

    def _ListCollections(self, request: dict[str, Any]) -> dict[str, Any]:
        names = sorted(self.collections)
        return {"CollectionIds": names, "FaceModelVersions": ["7.0"] * len(names)}

    def _DescribeCollection(self, request: dict[str, Any]) -> dict[str, Any]:
        collection = self._collection(request)
        return {
            "FaceCount": len(collection["faces"]),
            "UserCount": len(collection["users"]),
            "FaceModelVersion": "7.0",
            "CollectionARN": ARN.format(request["CollectionId"]),
            "CreationTimestamp": 1764633600,
        }

    def _ListTagsForResource(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["ResourceArn"].rsplit("/", 1)[1]
        if name not in self.collections:
            raise ServiceError("ResourceNotFoundException", "no such resource")
        return {"Tags": dict(self.collections[name]["tags"])}

    def _IndexFaces(self, request: dict[str, Any]) -> dict[str, Any]:
        collection = self._collection(request)
        digest = self._digest(request)
        if digest in self.no_face:
            return {"FaceRecords": [], "UnindexedFaces": [], "FaceModelVersion": "7.0"}
        face_id = str(uuid.uuid5(uuid.NAMESPACE_OID, request["CollectionId"] + digest))
        face = {
            "FaceId": face_id,
            "BoundingBox": _box(),
            "ImageId": str(uuid.uuid5(uuid.NAMESPACE_URL, digest)),
            "ExternalImageId": request.get("ExternalImageId"),
            "Confidence": 99.9,
            "IndexFacesModelVersion": "7.0",
        }
        collection["faces"][face_id] = {"face": face, "digest": digest, "user": None}
        return {
            "FaceRecords": [{"Face": face, "FaceDetail": {"BoundingBox": _box(), "Confidence": 99.9}}],
            "FaceModelVersion": "7.0",
            "UnindexedFaces": [],
        }

    def _matches(
        self, collection: dict[str, Any], digest: str, exclude: str | None, limit: int, floor: float
    ) -> list:
        found = []
        for face_id, entry in collection["faces"].items():
            if face_id == exclude:
                continue
            similarity = float(self.similarity(digest, entry["digest"]))
            if similarity >= floor:
                found.append({"Similarity": similarity, "Face": dict(entry["face"])})
        found.sort(key=lambda match: -match["Similarity"])
        return found[:limit]

    def _SearchFaces(self, request: dict[str, Any]) -> dict[str, Any]:
        collection = self._collection(request)
        face_id = request["FaceId"]
        if face_id not in collection["faces"]:
            raise ServiceError("InvalidParameterException", f"face {face_id} not found")
        limit = int(request.get("MaxFaces", 4096))
        if not 1 <= limit <= 4096:
            raise ServiceError("ValidationException", "MaxFaces must be within 1 and 4096")
        digest = collection["faces"][face_id]["digest"]
        return {
            "SearchedFaceId": face_id,
            "FaceMatches": self._matches(
                collection, digest, face_id, limit, float(request.get("FaceMatchThreshold", 80))
            ),
            "FaceModelVersion": "7.0",
        }

    def _SearchFacesByImage(self, request: dict[str, Any]) -> dict[str, Any]:
        collection = self._collection(request)
        digest = self._digest(request)
        if digest in self.no_face:
            raise self._no_face()
        limit = int(request.get("MaxFaces", 4096))
        return {
            "SearchedFaceBoundingBox": _box(),
            "SearchedFaceConfidence": 99.9,
            "FaceMatches": self._matches(
                collection, digest, None, limit, float(request.get("FaceMatchThreshold", 80))
            ),
            "FaceModelVersion": "7.0",
        }

    def _CompareFaces(self, request: dict[str, Any]) -> dict[str, Any]:
        source, target = self._digest(request, "SourceImage"), self._digest(request, "TargetImage")
        if source in self.no_face or target in self.no_face:
            raise self._no_face()
        similarity = float(self.similarity(source, target))
        face = {"BoundingBox": _box(), "Confidence": 99.9}
        matched = similarity >= float(request.get("SimilarityThreshold", 80))
        return {
            "SourceImageFace": face,
            "FaceMatches": [{"Similarity": similarity, "Face": face}] if matched else [],
            "UnmatchedFaces": [] if matched else [face],
        }

    def _CreateUser(self, request: dict[str, Any]) -> dict[str, Any]:
        collection = self._collection(request)
        collection["users"][request["UserId"]] = []
        return {}

    def _AssociateFaces(self, request: dict[str, Any]) -> dict[str, Any]:
        collection = self._collection(request)
        user = request["UserId"]
        if user not in collection["users"]:
            raise ServiceError("ResourceNotFoundException", f"user {user} not found")
        if not 1 <= len(request["FaceIds"]) <= 100:
            raise ServiceError("ValidationException", "FaceIds must hold 1 to 100 ids")
        done, failed = [], []
        for face_id in request["FaceIds"]:
            if face_id not in collection["faces"]:
                failed.append({"FaceId": face_id, "UserId": user, "Reasons": ["FACE_NOT_FOUND"]})
                continue
            collection["faces"][face_id]["user"] = user
            collection["users"][user].append(face_id)
            done.append({"FaceId": face_id})
        return {"AssociatedFaces": done, "UnsuccessfulFaceAssociations": failed, "UserStatus": "ACTIVE"}

    def _SearchUsersByImage(self, request: dict[str, Any]) -> dict[str, Any]:
        collection = self._collection(request)
        digest = self._digest(request)
        if digest in self.no_face:
            return {"UserMatches": [], "FaceModelVersion": "7.0", "UnsearchedFaces": []}
        floor = float(request.get("UserMatchThreshold", 80))
        matches = []
        for user, faces in collection["users"].items():
            best = max(
                (float(self.similarity(digest, collection["faces"][f]["digest"])) for f in faces), default=0.0
            )
            if faces and best >= floor:
                matches.append({"Similarity": best, "User": {"UserId": user, "UserStatus": "ACTIVE"}})
        matches.sort(key=lambda match: -match["Similarity"])
        return {
            "UserMatches": matches[: int(request.get("MaxUsers", 500))],
            "FaceModelVersion": "7.0",
            "SearchedFace": {"FaceDetail": {"BoundingBox": _box(), "Confidence": 99.9}},
        }

    def _GetFaceLivenessSessionResults(self, request: dict[str, Any]) -> dict[str, Any]:
        session = request["SessionId"]
        if session not in self.sessions:
            raise ServiceError("SessionNotFoundException", f"session {session} not found")
        return self.sessions[session]


def liveness_answer(session: str, confidence: float | None, status: str = "SUCCEEDED") -> dict[str, Any]:
    """A GetFaceLivenessSessionResults answer with a reference image as bytes and one in S3."""
    answer: dict[str, Any] = {"SessionId": session, "Status": status}
    if confidence is not None:
        answer["Confidence"] = confidence
        answer["ReferenceImage"] = {"Bytes": "aGVsbG8=", "BoundingBox": _box()}
        answer["AuditImages"] = [
            {"S3Object": {"Bucket": "b", "Name": f"audit/{session}/1.jpg"}, "BoundingBox": _box()}
        ]
    return answer
