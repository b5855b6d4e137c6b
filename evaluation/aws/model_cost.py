"""What a running Custom Labels model costs, said before it is started.

A running model is billed per inference-unit hour whether it answers anything or not ("hours running x
inference units", the Custom Labels guide); the price comes from the dated price table (prices.yaml, or
--price-table), and an unknown price is said to be unknown, never taken as free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evaluation.calls.prices import PriceTable
from evaluation.errors import UserError


@dataclass(frozen=True)
class HourlyCost:
    """What running a model costs per hour, before it is started; usd is None when the price is unknown."""

    min_inference_units: int
    max_inference_units: int | None
    usd_per_unit_hour: float | None
    source: str

    @property
    def usd_per_hour(self) -> float | None:
        """At the most units the model may scale to (MaxInferenceUnits), else at MinInferenceUnits."""
        if self.usd_per_unit_hour is None:
            return None
        return self.usd_per_unit_hour * (self.max_inference_units or self.min_inference_units)

    def at_most(self, hours: float) -> float | None:
        return None if self.usd_per_hour is None else self.usd_per_hour * hours

    def describe(self, max_runtime_s: float | None = None) -> str:
        units = f"{self.min_inference_units} inference unit(s)"
        if self.max_inference_units and self.max_inference_units != self.min_inference_units:
            units = f"{self.min_inference_units} to {self.max_inference_units} inference units (auto-scaling)"
        if self.usd_per_unit_hour is None:
            return (
                f"Cost while running, {units}: unknown: pass --price-table FILE with "
                f"custom_labels.<region>.inference_unit_hour ({self.source})"
            )
        text = (
            f"Cost while running, {units}: USD {self.usd_per_hour:,.2f} per hour at most "
            f"(USD {self.usd_per_unit_hour:,.2f} per inference-unit hour, billed while running, even idle; "
            f"{self.source})"
        )
        if max_runtime_s is not None:
            worst = self.at_most(max_runtime_s / 3600) or 0.0
            text += f"; stopped after at most {format_duration(max_runtime_s)}: at most USD {worst:,.2f}"
        return text


def hourly_cost(
    region: str | None,
    *,
    min_inference_units: int,
    max_inference_units: int | None = None,
    price_table: str | None = None,
) -> HourlyCost:
    price, source = PriceTable.load(price_table).inference_unit_hour(region)
    return HourlyCost(min_inference_units, max_inference_units, price, source)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """'2h', '90m', '1h30m', '45s', '0.5s' -> seconds; a unit is required: is '2' two hours or seconds?"""
    cleaned = str(text).strip().replace(" ", "")
    parts = _DURATION.findall(cleaned)
    if not parts or "".join(f"{n}{u}" for n, u in parts).lower() != cleaned.lower():
        raise UserError(f"--max-runtime: {text!r} is not a duration like 2h, 90m, 1h30m or 45s")
    seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise UserError(f"--max-runtime must be positive, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value)
