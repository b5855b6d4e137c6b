"""liveness's calls: GetFaceLivenessSessionResults per session, or answers saved earlier."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.aws.faces.base import (
    FaceFetcher,
    FaceRunInterrupted,
    _fail,
    _without_image_bytes,
)
from evaluation.calls.cache import ResponseCache, cache_key
from evaluation.calls.runner import (
    CACHED,
    MISSING,
    ImageOutcome,
    RunStats,
)
from evaluation.calls.tasks import TaskResult, TasksInterrupted
from evaluation.datasets import Dataset
from evaluation.errors import UserError
from evaluation.images import AS_IS, DETECT_LABELS_LIMITS, ImageLimits, Preparation

log = logging.getLogger(__name__)

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
