"""What every face fetcher shares: planning per item, storing answers, counting calls, costs."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from evaluation.calls.backends.rekognition import is_aws_endpoint
from evaluation.calls.cache import ResponseCache
from evaluation.calls.prices import FACES_STORED, MIN_STORAGE_HOURS, Estimate, PriceTable, default_tps
from evaluation.calls.runner import (
    CACHED,
    CALLED,
    FAILED,
    MISSING,
    REJECTED,
    ImageOutcome,
    Interrupted,
    RunStats,
)
from evaluation.calls.tasks import TaskResult, error_code, run_tasks
from evaluation.datasets import Dataset
from evaluation.images import DETECT_LABELS_LIMITS, ImageLimits, ImageProblem, LoadedImage, Preparation
from evaluation.images import load_image as read_image

log = logging.getLogger(__name__)

MAX_SEARCH_FACES = 4096  # SearchFaces / SearchFacesByImage MaxFaces, and the most matches they return
MAX_USERS = 500  # SearchUsersByImage MaxUsers
ASSOCIATE_BATCH = 100  # AssociateFaces FaceIds per call, and faces per user


def storage_hours(needed: Mapping[str, float], tps: float | None) -> float:
    """How long a temporary collection is assumed to live, for an estimate: the run's calls at its pace
    (they are made one after another at `tps` calls a second), and at least MIN_STORAGE_HOURS."""
    calls = sum(count for api, count in needed.items() if api != FACES_STORED)
    seconds = calls / tps if tps else 0.0
    return max(MIN_STORAGE_HOURS, seconds / 3600.0)


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
    needed: dict[str, float] = field(default_factory=dict)  # the calls a fetch would make (from plan)
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
        """API -> calls a fetch would make now (and FACES_STORED -> faces a temporary collection holds)."""
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

    def plan_run(
        self,
        dataset: Dataset,
        cache_path: Path,
        preparation: Preparation,
        *,
        price_table: Any,
        tps: float | None,
    ) -> tuple[list[ImageOutcome], list[int], Estimate | None, float | None, str]:
        """(outcomes, items to call, estimate, pace, its source): what a RunPlan needs of a fetcher."""
        with ResponseCache(cache_path) as store:
            outcomes, to_call = self.plan(dataset, store, preparation)  # type: ignore[attr-defined]
        self.needed = self.calls_needed(outcomes, to_call)
        return (outcomes, to_call, *self.costs(price_table, tps))

    def costs(self, price_table: str | None, tps: float | None) -> tuple[Estimate | None, float | None, str]:
        """(the estimate of what a fetch would call now, the pace, where the pace comes from); AWS only."""
        endpoint = str(self.client.meta.endpoint_url) if self.client is not None else ""
        if not is_aws_endpoint(endpoint):
            self.tps = tps
            return None, tps, "--tps" if tps else "not an AWS endpoint"
        source = "--tps"
        if tps is None:
            tps, source = default_tps(self.operation, self.region)
        self.tps = tps
        estimate = PriceTable.load(price_table).estimate_calls(
            dict(self.needed), self.region, storage_hours=storage_hours(self.needed, tps)
        )
        return estimate, tps, source

    def cost_record(self, price_table: str | None, *, estimated: bool, calls: int) -> dict[str, Any]:
        """run.json's "cost": what the calls made now cost, API by API."""
        spent = (
            PriceTable.load(price_table).estimate_calls(dict(self.calls), self.region) if estimated else None
        )
        return {
            "estimated_usd": spent.usd if spent else None,
            "calls": calls,
            "calls_by_api": dict(self.calls),
            "source": spent.source if spent else None,
            "notes": spent.notes if spent else ["no price: not an AWS endpoint"],
        }

    def fetch_or_replay(
        self,
        dataset: Dataset,
        store: ResponseCache,
        planned: tuple[list[ImageOutcome], list[int]],
        *,
        replay: bool,
    ) -> tuple[list[ImageOutcome], RunStats]:
        """Fetch what is missing (replay: nothing; the missing stay missing); Ctrl-C raises the runner's
        Interrupted, so a face run stops as any run does."""
        outcomes, to_call = planned
        if replay or self.client is None:
            for index in to_call:
                outcomes[index].reason = "not in the response cache (--backend replay calls nothing)"
            return outcomes, self.finish(outcomes, time.monotonic())
        try:
            return self.fetch(dataset, store, planned)  # type: ignore[attr-defined]
        except FaceRunInterrupted as stop:
            raise Interrupted(stop.outcomes, stop.stats) from None

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


class FaceRunInterrupted(Exception):
    """Ctrl-C, SIGTERM or the deadline during a face run: the collection is gone, stored answers kept."""

    def __init__(self, outcomes: list[ImageOutcome], stats: RunStats, *, deadline: bool = False) -> None:
        super().__init__("interrupted")
        self.outcomes, self.stats, self.deadline = outcomes, stats, deadline


def _index_answer(response: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}
