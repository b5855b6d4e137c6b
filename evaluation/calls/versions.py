"""Answers across model versions: `--model-version V` (the stored answers of V, nothing called) and
`--canary N` (re-call a fixed, seeded sample of cached images and stop when the model changed).

Every answer is also kept by the model version the service reported (see evaluation.calls.cache), so a
`--refresh` after a model update loses nothing and either version can be evaluated later.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.calls.answers import model_version_of
from evaluation.calls.backends.base import Backend
from evaluation.calls.cache import ResponseCache
from evaluation.calls.runner import ImageOutcome
from evaluation.errors import UserError
from evaluation.images import ImageRef, Preparation, load_image


def at_model_version(outcomes: list[ImageOutcome], store: ResponseCache, version: str) -> list[int]:
    """--model-version: the stored answers of that version, nothing called (the service answers with its
    current model only); an image without one is missing, and says so."""
    keys = {o.cache_key: version for o in outcomes if o.cache_key}
    found = store.get_versions(keys)
    for outcome in outcomes:
        if outcome.cache_key is None:
            continue
        if outcome.cache_key in found:
            outcome.status = "cached"
        else:
            outcome.status = "missing"
            outcome.reason = (
                f"no stored answer of model version {version} (calls answer with the current model)"
            )
    return []


class ModelChanged(UserError):
    """--canary: the service answers with another model version than the cached answers were made by."""


def versions_to_call(
    outcomes: list[ImageOutcome], to_call: list[int], store: ResponseCache, refresh: bool, version: str | None
) -> list[int]:
    """The images to call after `plan`: all again with --refresh (once per distinct content), none with
    --model-version (its stored answers, see at_model_version), else those without an answer."""
    if refresh:
        for outcome in outcomes:
            outcome.status = "missing" if outcome.status == "cached" else outcome.status
        keys = {o.cache_key: i for i, o in reversed(list(enumerate(outcomes))) if o.cache_key}
        return sorted(keys.values())
    return at_model_version(outcomes, store, version) if version is not None else to_call


def run_canary(run_plan: Any) -> dict[str, Any]:
    """--canary on a pipeline RunPlan (its outcomes, backend, cache and preparation); see canary."""
    request = run_plan.request
    return canary(
        run_plan.outcomes,
        run_plan.backend,
        run_plan.cache_path,
        preparation=run_plan.preparation,
        count=int(request.canary),
        seed=request.canary_seed,
    )


def canary(
    outcomes: Sequence[ImageOutcome],
    backend: Backend,
    cache_path: Path,
    *,
    preparation: Preparation,
    count: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Re-call a fixed, seeded sample of cached images; stop before the run when the model changed.

    The sample is drawn from the cached images sorted by content (image_id) with the request's seed, so
    the same dataset gives the same canaries. Fresh answers are kept by model version only: the run
    still uses the cached ones, which are all of one kind.
    """
    cached = {o.cache_key: o for o in outcomes if o.status == "cached" and o.cache_key}
    ordered = sorted(cached.values(), key=lambda o: (o.image_id or "", o.image))
    count = min(count, len(ordered))
    sample = random.Random(seed).sample(ordered, count) if count else []
    changed, shifts, params = [], [], backend.request_params()
    with ResponseCache(cache_path) as store:
        stored = store.get_many(o.cache_key for o in sample if o.cache_key)
        for outcome in sample:
            key = outcome.cache_key or ""
            loaded = load_image(ImageRef(outcome.image), backend.limits, preparation)
            response = backend.call(loaded)
            version = model_version_of(response)
            store.put(
                key,
                image_id=loaded.image_id,
                operation=backend.operation,
                params=params,
                response=response,
                model_version=version,
                newest=False,
            )
            before = stored[key]
            if version != before.model_version:
                changed.append((outcome.image, before.model_version, version))
            shifts.append(_largest_confidence_change(before.response, response))
    record = {
        "images": count,
        "seed": seed,
        "changed": len(changed),
        "largest_confidence_change": max(shifts, default=None),
    }
    if changed:
        image, old, new = changed[0]
        cached_versions = sorted({str(c[1]) for c in changed})
        raise ModelChanged(
            f"canary: {len(changed)} of {count} re-called images were answered by model version {new}, "
            f"but the cached answers are of {', '.join(cached_versions)} (e.g. {image}): the cache is "
            f"stale. Nothing else was called. Run again with --refresh to call all "
            f"{len(cached)} cached images anew (kept beside the old answers), or with --model-version "
            f"{old} to evaluate the old answers on purpose."
        )
    return record


def _largest_confidence_change(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    """The largest change of one name's confidence between two answers to the same request."""

    def scores(response: dict[str, Any]) -> dict[str, float]:
        entries = response.get("Labels") or response.get("ModerationLabels") or []
        return {str(e.get("Name")): float(e.get("Confidence", 0.0)) for e in entries if isinstance(e, dict)}

    old, new = scores(before), scores(after)
    changes = [abs(old.get(name, 0.0) - new.get(name, 0.0)) for name in set(old) | set(new)]
    return round(max(changes), 4) if changes else None
