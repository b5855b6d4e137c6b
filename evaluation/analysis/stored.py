"""The answers of a run as the analysis reads them from the response store, and answers recorded
elsewhere stored into it (`run --backend replay --answers FILE`).

Operations with a column codec (labels) are read from the store's columns (parsed once, when stored);
the others from their raw answers through the operation's adapter. Nothing here parses an answer to
learn what is stored or which model version answered: those are indexed lookups.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.calls.answers import model_version_of
from evaluation.calls.backends import Backend
from evaluation.calls.cache import ResponseCache
from evaluation.calls.columns import NotStored
from evaluation.calls.recorded import RecordedAnswers, images_to_store, store_recorded
from evaluation.calls.runner import ANSWERED, ImageOutcome
from evaluation.memory import give_back_freed_memory
from evaluation.operations import Operation
from evaluation.tablefiles import ANSWERS_FILE, AnswersOf


def codecs_for(operation: Operation, api: str) -> tuple[Any, ...]:
    """The column codec of the operation when the store keeps its answers as columns (labels)."""
    codec = operation.codec
    return (codec,) if codec is not None and codec.handles(api) else ()


def read_answers(store: ResponseCache, operation: Operation, api: str, images: Any) -> dict[str, Any]:
    """The answered rows' answers: from the store's columns where it keeps them (parsed once, when
    stored), else the raw responses for the operation's adapter."""
    keys = images.loc[images["status"].isin(ANSWERED), "cache_key"].tolist()
    codecs = codecs_for(operation, api)
    if codecs:
        answers = operation.answers_from_columns(store.read_columns(codecs[0], keys))
        give_back_freed_memory()  # the rows read, a batch at a time, and the columns before narrowing
        return {"answers": answers, "responses": StoredAnswers(store.path, keys, codecs)}
    return {"responses": {key: entry.response for key, entry in store.get_many(keys).items()}}


def stored_or_carried(recorded: Any, keys: list[str], cache: Any, operation: Operation) -> dict[str, Any]:
    """A finished run's answers for `analyse`: from the response store's columns when the cache holds
    every one of them at the model versions the run recorded (a key's answer is replaced only by a
    refresh, which brings a new model version), else those the folder carries (answers.jsonl.gz) or
    the cache's raw answers (`Recorded.responses`: a copied folder re-analyses alone). A run of an older
    model version than the cache's newest (--model-version, or a --refresh since) reads its own raw
    answers."""
    api = str((recorded.run.get("backend") or {}).get("operation") or operation.api)
    codecs = codecs_for(operation, api)
    cache_path = Path(cache) if cache else Path(recorded.run.get("cache") or "")
    if codecs and cache_path.is_file():
        with ResponseCache(cache_path, codecs=codecs) as store:
            read = _from_columns(recorded, store, keys, operation, api)
        if read is not None:
            carried = recorded.path / ANSWERS_FILE
            if carried.is_file():  # the folder's own answers file travels as it is (never parsed here)
                read["responses"] = CarriedAnswers(read["responses"], carried)
            return read
    return {"responses": recorded.responses(keys, cache)}


def _from_columns(
    recorded: Any, store: ResponseCache, keys: list[str], operation: Operation, api: str
) -> dict[str, Any] | None:
    """The run's answers from the store's columns, or None unless every one is stored (reading them is
    the check: no pass of its own over a million keys) at the model version the run recorded."""
    if not _same_versions(recorded, store, keys):
        return None
    try:
        return read_answers(store, operation, api, recorded.images)
    except NotStored:
        return None


def _same_versions(recorded: Any, store: ResponseCache, keys: list[str]) -> bool:
    """True when the store's newest answer of every key is of the model version the run recorded."""
    newest = model_versions(store, keys)
    return all(
        version is None or newest.get(key) == version for key, version in recorded.answered_versions.items()
    )


class StoredAnswers(Mapping[str, Any]):
    """The raw answers of a run by cache key, read from the cache only when asked (the run folder's
    answers.jsonl.gz is written from it in chunks of stored text, never parsed nor all held)."""

    def __init__(self, cache_path: Path, keys: Sequence[str], codecs: Sequence[Any] = ()) -> None:
        self.cache_path = Path(cache_path)
        self.keys_in_order = list(dict.fromkeys(keys))
        self.codecs = tuple(codecs)

    def __len__(self) -> int:
        return len(self.keys_in_order)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_in_order)

    def __getitem__(self, key: str) -> Any:
        if key not in set(self.keys_in_order):
            raise KeyError(key)
        return json.loads(dict(self.raw_chunks([key], size=1))[key])

    def raw_chunks(self, keys: Sequence[str], *, size: int = 5000) -> Iterator[tuple[str, str]]:
        """(key, the answer's stored canonical JSON text) for `keys`, in that order: copying answers that
        were checked when stored needs no parsing."""
        with ResponseCache(self.cache_path, codecs=self.codecs) as store:
            for start in range(0, len(keys), size):
                part = keys[start : start + size]
                found = store.raw_answers(part)
                for key in part:
                    yield key, found[key] if key in found else _missing(key)


class CarriedAnswers(AnswersOf):
    """A run's answers whose answers.jsonl.gz already exists (`source`): a rewritten run folder takes
    that file as it is, instead of writing a million answers again; the analysis reads the cache.

    Nothing is read from the file here, so nothing unchecked is used: a run folder read without its
    cache checks every answer of the file then (`Recorded.responses`)."""

    def __init__(self, answers: Mapping[str, Any], source: Path) -> None:
        super().__init__(answers)
        self.source = source


def _missing(key: str) -> Any:
    raise KeyError(key)


def model_versions(store: ResponseCache, keys: list[str]) -> dict[str, str | None]:
    """key -> the stored model version; for DetectCustomLabels (whose answers name none) the version
    ARN asked. No answer is read."""
    params_of: dict[str, dict[str, Any]] = {}
    versions: dict[str, str | None] = {}
    for key, (version, params_text) in store.newest_versions(keys).items():
        if version:
            versions[key] = version
            continue
        params = params_of.get(params_text)
        if params is None:
            params = params_of[params_text] = json.loads(params_text)
        versions[key] = params.get("ProjectVersionArn")
    return versions


def store_recorded_answers(
    path: str | Path,
    operation: Operation,
    backend: Backend,
    store: ResponseCache,
    outcomes: list[ImageOutcome],
    to_call: list[int],
) -> tuple[RecordedAnswers, list[int]]:
    """--answers FILE: store the recorded answers under the keys planned, so nothing is left to call
    for the images they answer (see evaluation.calls.recorded)."""
    keys_by_image, image_ids = images_to_store(outcomes)
    recorded = store_recorded(
        path,
        keys_by_image=keys_by_image,
        image_ids=image_ids,
        operation=backend.operation,
        params=backend.request_params(),
        cache=store,
        validate=operation.reader(backend.operation),
        model_version_of=model_version_of,
    )
    stored = store.stored_keys(outcomes[index].cache_key or "" for index in to_call)
    for outcome in outcomes:
        if outcome.status == "missing" and outcome.cache_key in stored:
            outcome.status = "cached"
    return recorded, [index for index in to_call if outcomes[index].cache_key not in stored]
