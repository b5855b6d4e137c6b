"""The dated data tables the harness ships: default TPS quotas and per-image prices.

Both are snapshots of AWS pages (each file names its source and date); both can be overridden, since
an account's quotas are often raised and prices change. A price that is not known is None, never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from evaluation.errors import UserError

DEFAULT_REGION_FOR_PRICES = "us-east-1"
FACES_STORED = "FacesStored"  # in a calls mapping: faces a temporary collection holds while the run lasts
LIVENESS_READ = "GetFaceLivenessSessionResults"  # reads a check's results: the check was billed already
HOURS_PER_MONTH = 730.0  # face storage is billed per face-month, pro-rated
MIN_STORAGE_HOURS = 1.0  # the shortest life assumed for a temporary collection in an estimate


def _load_yaml(path: str | Path | None, packaged: str) -> dict[str, Any]:
    if path is None:
        text = resources.files("evaluation.data").joinpath(packaged).read_text(encoding="utf-8")
        where = f"the packaged {packaged}"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot read {where}: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise UserError(f"{where} must be a mapping")
    return document


@lru_cache(maxsize=1)
def _quotas() -> dict[str, Any]:
    return _load_yaml(None, "quotas.yaml")


def default_tps(operation: str, region: str | None) -> tuple[float, str]:
    """The documented default quota for the operation in the region, and where that number came from."""
    table = _quotas()
    regions = table.get("regions", {})
    value = regions.get(region or "", {}).get(operation)
    if value is not None:
        return float(
            value
        ), f"default quota for {operation} in {region} (quotas.yaml, {table.get('retrieved')})"
    fallback = float(table.get("default_tps", 5))
    return fallback, f"no default known for {operation} in {region}: using the smallest default, {fallback:g}"


def default_concurrent_jobs() -> tuple[int, str]:
    """Rekognition Video's default quota of concurrent stored-video jobs per account, and its source."""
    table = _quotas()
    source = f"default quota of concurrent video jobs (quotas.yaml, {table.get('retrieved')})"
    return int(table.get("video_concurrent_jobs", 20)), source


@dataclass(frozen=True)
class Estimate:
    """What a number of calls is expected to cost; usd is None when a needed price is unknown."""

    calls: int
    usd: float | None
    region: str
    operation: str
    source: str
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        cost = f"USD {self.usd:,.4f}" if self.usd is not None else "unknown cost"
        text = f"{self.calls} {self.operation} call(s) in {self.region}: {cost} ({self.source})"
        return "; ".join([text, *self.notes])


@dataclass(frozen=True)
class PriceTable:
    document: dict[str, Any]
    where: str

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        document = _load_yaml(path, "prices.yaml")
        for key in ("operations", "groups"):
            if not isinstance(document.get(key), dict):
                raise UserError(f"{path or 'prices.yaml'}: missing the mapping '{key}'")
        return cls(document, str(path) if path else "prices.yaml")

    @property
    def source(self) -> str:
        return f"{self.where}, retrieved {self.document.get('retrieved', 'on an unknown date')}"

    def tiers(self, operation: str, region: str) -> tuple[list[dict[str, Any]] | None, str]:
        group = self.document["operations"].get(operation)
        if group is None:
            return None, f"{operation} has no price in {self.where}"
        by_region = self.document["groups"].get(group, {})
        if region in by_region:
            return by_region[region], region
        if DEFAULT_REGION_FOR_PRICES in by_region:
            return by_region[DEFAULT_REGION_FOR_PRICES], DEFAULT_REGION_FOR_PRICES
        return None, f"no {group} prices for {region} in {self.where}"

    def inference_unit_hour(self, region: str | None) -> tuple[float | None, str]:
        """USD per inference-unit hour of a running Custom Labels model, and where that number came from.

        None when the table has no price: callers must say "unknown", never assume free.
        """
        region = region or DEFAULT_REGION_FOR_PRICES
        by_region = self.document.get("custom_labels") or {}
        priced_region = region if region in by_region else DEFAULT_REGION_FOR_PRICES
        price = (by_region.get(priced_region) or {}).get("inference_unit_hour")
        if price is None:
            return None, f"no Custom Labels inference-unit-hour price for {region} in {self.where}"
        note = "" if priced_region == region else f"; {region} is not in the table, {priced_region}'s price"
        return float(price), f"{self.source}{note}"

    def estimate_video(
        self, operation: str, region: str | None, videos: int, minutes: float | None
    ) -> Estimate:
        """The list price of `minutes` of stored video analysed by `operation` (per-minute pricing)."""
        region = region or DEFAULT_REGION_FOR_PRICES
        by_region = (self.document.get("video") or {}).get(operation) or {}
        priced_region = region if region in by_region else DEFAULT_REGION_FOR_PRICES
        price = (by_region.get(priced_region) or {}).get("usd_per_minute")
        notes = [] if minutes is None else [f"{minutes:,.2f} minutes of video"]
        if priced_region != region and by_region:
            notes.append(f"prices for {region} are not in the table; {priced_region}'s are used")
        if videos == 0:
            return Estimate(0, 0.0, region, operation, self.source, notes)
        if minutes is None:
            notes.append("the duration of some videos is unknown")
            return Estimate(videos, None, region, operation, self.source, notes)
        if price is None:
            notes.append(f"no per-minute price for {operation} in {self.where}")
            return Estimate(videos, None, region, operation, self.source, notes)
        notes.append("list price before any free tier")
        return Estimate(videos, round(minutes * float(price), 6), region, operation, self.source, notes)

    def estimate(
        self, operation: str, region: str | None, calls: int, *, already_this_month: int = 0
    ) -> Estimate:
        """The list price of `calls` more images this month, walking the monthly volume tiers."""
        region = region or DEFAULT_REGION_FOR_PRICES
        tiers, priced_region = self.tiers(operation, region)
        notes: list[str] = []
        if tiers is None:
            return Estimate(calls, None, region, operation, self.source, [priced_region])
        if priced_region != region:
            notes.append(f"prices for {region} are not in the table; {priced_region}'s are used")
        if calls == 0:
            return Estimate(0, 0.0, region, operation, self.source, notes)
        total, start, remaining = 0.0, already_this_month, calls
        lower = 0
        for tier in tiers:
            upper = tier.get("up_to_images")
            room = remaining if upper is None else max(0, min(remaining, int(upper) - max(start, lower)))
            if room:
                price = tier.get("usd_per_image")
                if price is None:
                    group = self.document["operations"].get(operation)
                    notes.append(
                        f"no {group} price in {self.where}"
                        if lower == 0
                        else f"the price above {lower:,} images a month is not in the table"
                    )
                    return Estimate(calls, None, region, operation, self.source, notes)
                total += room * float(price)
                remaining -= room
                start += room
            if upper is not None:
                lower = int(upper)
            if remaining == 0:
                break
        notes.append("list price before any free tier")
        return Estimate(calls, round(total, 6), region, operation, self.source, notes)

    def estimate_calls(
        self, needed: Mapping[str, float], region: str | None, *, storage_hours: float = MIN_STORAGE_HOURS
    ) -> Estimate:
        """Several APIs' calls added up, API by API (one note each), None when any needed price is unknown.

        Image APIs of one price group share its monthly volume tiers (IndexFaces and SearchFaces are both
        Group 1: the second starts where the first ends); the calls in `free_operations` (CreateCollection,
        CreateUser, GetFaceLivenessSessionResults...) cost nothing. FACES_STORED is the number of faces a
        temporary collection holds: billed per face-month, pro-rated, for `storage_hours` (the caller's
        assumption of how long the collection lives). LIVENESS_SESSIONS are sessions whose results are
        read: their checks were billed when they were recorded, so they are named, not added.
        """
        region = region or DEFAULT_REGION_FOR_PRICES
        total: float | None = 0.0
        notes: list[str] = []
        free = set(self.document.get("free_operations") or [])
        used: dict[str, int] = {}  # price group -> images already counted in this estimate
        for api, count in needed.items():
            if not count:
                continue
            if api == FACES_STORED:
                months = count * storage_hours / HOURS_PER_MONTH
                price, where = self.unit_price("face_storage_month", region)
                what = (
                    f"face storage: {count:,.0f} faces for {storage_hours:,.2f} hour(s) = {months:.6g} "
                    "face-months (assumed: the collection lives as long as the run, at least one hour)"
                )
                if price is None:
                    notes.append(f"{what}: price unknown ({where})")
                    total = None
                else:
                    cost = price * months
                    notes.append(f"{what} x USD {price:g} = USD {cost:.6g}")
                    total = None if total is None else total + cost
                continue
            if api in free:
                notes.append(f"{api}: {count:,.0f} call(s), not billed")
                if api == LIVENESS_READ:
                    notes.append(self._liveness_note(int(count), region))
                continue
            group = self.document["operations"].get(api)
            part = self.estimate(api, region, int(count), already_this_month=used.get(group, 0))
            used[group] = used.get(group, 0) + int(count)
            named = f"{api}: {int(count):,} image(s)" + (f" ({group})" if group else "")
            if part.usd is None:
                why = "; ".join(note for note in part.notes if "before any free tier" not in note)
                notes.append(f"{named}: price unknown ({why})")
                total = None
            else:
                notes.append(f"{named}: USD {part.usd:.6g}")
                total = None if total is None else total + part.usd
        notes.append("list price before any free tier")
        calls = int(sum(count for api, count in needed.items() if api != FACES_STORED))
        return Estimate(
            calls, None if total is None else round(total, 6), region, "face API", self.source, notes
        )

    def _liveness_note(self, sessions: int, region: str) -> str:
        price, where = self.unit_price("face_liveness_check", region)
        cost = f"price unknown: {where}"
        if price is not None:
            cost = f"USD {price * sessions:.6g} at {price:g} a check"
        return (
            f"the {sessions:,} Face Liveness check(s) read were billed when recorded, not by this run "
            f"({cost})"
        )

    def unit_price(self, name: str, region: str) -> tuple[float | None, str]:
        by_region = (self.document.get("faces") or {}).get(name) or {}
        priced = region if region in by_region else DEFAULT_REGION_FOR_PRICES
        price = by_region.get(priced)
        if price is None:
            return None, f"no {name} price for {region} in {self.where}"
        return float(price), priced
