"""A scripted Rekognition Custom Labels: projects, model versions with a lifecycle, and canned answers.

Served by RekognitionProtocolServer, so boto3 (its waiters included) talks to it as to the service:
DescribeProjects, DescribeProjectVersions, StartProjectVersion, StopProjectVersion, DetectCustomLabels.
States move as on AWS, but over a few DescribeProjectVersions calls instead of minutes: STARTING becomes
RUNNING (or FAILED with a StatusMessage, for a model scripted to fail), STOPPING becomes STOPPED. A model
that is not RUNNING answers DetectCustomLabels with ResourceNotReadyException, as the service does.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from evaluation.server.protocol import ServiceError, decode_image_bytes

REGION, ACCOUNT = "us-east-1", "123456789012"


def project_arn(name: str) -> str:
    return f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/{name}/1700000000000"


def version_arn(project: str, version: str) -> str:
    return f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/{project}/version/{version}/1700000000001"


def custom_label(name: str, confidence: float, box: tuple[float, float, float, float] | None = None) -> dict:
    entry: dict[str, Any] = {"Name": name, "Confidence": confidence}
    if box is not None:
        left, top, width, height = box
        entry["Geometry"] = {"BoundingBox": {"Left": left, "Top": top, "Width": width, "Height": height}}
    return entry


@dataclass
class Model:
    arn: str
    status: str = "TRAINING_COMPLETED"
    status_message: str | None = None
    fail_to_start: str | None = None  # a StatusMessage: the next start ends in FAILED
    min_inference_units: int | None = None
    max_inference_units: int | None = None
    countdown: int = 0  # DescribeProjectVersions calls left before the current transition completes
    history: list[str] = field(default_factory=list)


class FakeCustomLabels:
    """handler(operation, request) for RekognitionProtocolServer, with a record of every call."""

    def __init__(self, *, steps: int = 2, detect_latency_s: float = 0.0) -> None:
        self.steps = steps  # describes per transition: STARTING -> RUNNING takes `steps` polls
        self.detect_latency_s = detect_latency_s
        self.projects: dict[str, str] = {}
        self.models: dict[str, Model] = {}
        self.answers: dict[str, list[dict]] = {}
        self.calls: Counter[str] = Counter()
        self.detected: Counter[str] = Counter()  # image digest -> DetectCustomLabels calls answered
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    # -- scripting

    def add_model(
        self, project: str, version: str, *, status: str = "TRAINING_COMPLETED", **kwargs: Any
    ) -> str:
        self.projects[project] = project_arn(project)
        arn = version_arn(project, version)
        self.models[arn] = Model(arn=arn, status=status, **kwargs)
        return arn

    def answer_for_bytes(self, data: bytes, labels: list[dict]) -> None:
        self.answers[hashlib.sha256(data).hexdigest()] = labels

    def status(self, arn: str) -> str:
        return self.models[arn].status

    # -- the protocol

    def __call__(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls[operation] += 1
            self.requests.append((operation, {k: v for k, v in request.items() if k != "Image"}))
        handler = getattr(self, f"_{operation}", None)
        if handler is None:
            raise ServiceError("UnknownOperationException", f"{operation} is not scripted")
        return handler(request)

    def _DescribeProjects(self, request: dict[str, Any]) -> dict[str, Any]:
        names = request.get("ProjectNames") or list(self.projects)
        return {
            "ProjectDescriptions": [
                {"ProjectArn": self.projects[name], "CreationTimestamp": 1700000000, "Status": "CREATED"}
                for name in names
                if name in self.projects
            ]
        }

    def _DescribeProjectVersions(self, request: dict[str, Any]) -> dict[str, Any]:
        wanted = request.get("VersionNames")
        project = request["ProjectArn"].split(":project/", 1)[1].rsplit("/", 1)[0]
        if project not in self.projects:
            raise ServiceError("ResourceNotFoundException", f"project {project} not found")
        descriptions = []
        with self._lock:
            for arn, model in self.models.items():
                name = arn.split("/version/", 1)[1].rsplit("/", 1)[0]
                if not arn.startswith(self.projects[project].rsplit("/", 1)[0] + "/version/"):
                    continue
                if wanted and name not in wanted:
                    continue
                self._advance(model)
                description: dict[str, Any] = {
                    "ProjectVersionArn": arn,
                    "CreationTimestamp": 1700000001,
                    "Status": model.status,
                    "EvaluationResult": {
                        "F1Score": 0.9,
                        "Summary": {
                            "S3Object": {
                                "Bucket": "output",
                                "Name": f"EvaluationSummary-{project}-{name}.json",
                            }
                        },
                    },
                }
                if model.status_message:
                    description["StatusMessage"] = model.status_message
                if model.min_inference_units is not None:
                    description["MinInferenceUnits"] = model.min_inference_units
                if model.max_inference_units is not None:
                    description["MaxInferenceUnits"] = model.max_inference_units
                descriptions.append(description)
        return {"ProjectVersionDescriptions": descriptions}

    def _advance(self, model: Model) -> None:
        if model.status not in ("STARTING", "STOPPING"):
            return
        model.countdown -= 1
        if model.countdown > 0:
            return
        if model.status == "STARTING":
            if model.fail_to_start:
                model.status, model.status_message = "FAILED", model.fail_to_start
            else:
                model.status, model.status_message = "RUNNING", "The model is running."
        else:
            model.status, model.status_message = "STOPPED", "The model is stopped."
        model.history.append(model.status)

    def _model(self, request: dict[str, Any]) -> Model:
        model = self.models.get(request.get("ProjectVersionArn", ""))
        if model is None:
            raise ServiceError("ResourceNotFoundException", "model version not found")
        return model

    def _StartProjectVersion(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            model = self._model(request)
            if model.status not in ("TRAINING_COMPLETED", "STOPPED", "FAILED"):
                raise ServiceError("ResourceInUseException", f"the model is {model.status}")
            model.status, model.countdown = "STARTING", self.steps
            model.status_message = "The model is being started."
            model.min_inference_units = int(request["MinInferenceUnits"])
            model.max_inference_units = request.get("MaxInferenceUnits")
            model.history.append("STARTING")
            return {"Status": "STARTING"}

    def _StopProjectVersion(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            model = self._model(request)
            if model.status != "RUNNING":
                raise ServiceError("ResourceInUseException", f"the model is {model.status}, not RUNNING")
            model.status, model.countdown = "STOPPING", self.steps
            model.history.append("STOPPING")
            return {"Status": "STOPPING"}

    def _DetectCustomLabels(self, request: dict[str, Any]) -> dict[str, Any]:
        model = self._model(request)
        if model.status != "RUNNING":
            raise ServiceError("ResourceNotReadyException", f"The model is {model.status}.")
        data = decode_image_bytes(request)
        if data is None:
            raise ServiceError("InvalidS3ObjectException", "S3 images are not scripted")
        digest = hashlib.sha256(data).hexdigest()
        labels = self.answers.get(digest)
        if labels is None:
            raise ServiceError("InvalidImageFormatException", "Request has invalid image format")
        if self.detect_latency_s:
            time.sleep(self.detect_latency_s)
        with self._lock:
            self.detected[digest] += 1
        floor = float(request.get("MinConfidence", 50.0))  # omitted: the service uses assumed thresholds
        kept = sorted(
            (entry for entry in labels if entry["Confidence"] > floor), key=lambda e: -e["Confidence"]
        )
        if "MaxResults" in request:
            kept = kept[: int(request["MaxResults"])]
        return {"CustomLabels": kept}
