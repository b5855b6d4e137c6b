"""The dated data tables the harness ships: default TPS quotas and per-image prices.

Both are snapshots of AWS pages (each file names its source and date); both can be overridden, since
an account's quotas are often raised and prices change. A price that is not known is None, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from evaluation.errors import UserError

DEFAULT_REGION_FOR_PRICES = "us-east-1"


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
                    notes.append(f"the price above {lower:,} images a month is not in the table")
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

    def estimate_calls(self, needed: dict[str, float], region: str | None) -> Estimate:
        """Several APIs' calls (and "FaceStorageMonth": face-months stored, "CreateUser" and the like are
        free), added up; None when any needed price is unknown."""
        region = region or DEFAULT_REGION_FOR_PRICES
        total: float | None = 0.0
        notes: list[str] = []
        free = set(self.document.get("free_operations") or [])
        for api, count in needed.items():
            if not count or api in free:
                continue
            if api == "FaceStorageMonth":
                price, where = self.unit_price("face_storage_month", region)
            elif api == "FaceLivenessCheck":
                price, where = self.unit_price("face_liveness_check", region)
            else:
                part = self.estimate(api, region, int(count))
                notes += [f"{api}: {note}" for note in part.notes if "before any free tier" not in note]
                total = None if total is None or part.usd is None else total + part.usd
                continue
            if price is None:
                notes.append(where)
                total = None
            elif total is not None:
                total += price * count
        notes.append("list price before any free tier")
        calls = int(sum(count for api, count in needed.items() if api != "FaceStorageMonth"))
        what = ", ".join(f"{count:g} {api}" for api, count in needed.items() if count)
        return Estimate(calls, None if total is None else round(total, 6), region, what, self.source, notes)

    def unit_price(self, name: str, region: str) -> tuple[float | None, str]:
        by_region = (self.document.get("faces") or {}).get(name) or {}
        priced = region if region in by_region else DEFAULT_REGION_FOR_PRICES
        price = by_region.get(priced)
        if price is None:
            return None, f"no {name} price for {region} in {self.where}"
        return float(price), priced
