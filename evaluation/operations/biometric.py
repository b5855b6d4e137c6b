"""What the three face operations share: comparisons scored 0-100, one label for the shared analysis,
a rate objective (fnmr-at-fmr:F by default) judged over an error-tradeoff table, slices by a dataset column.

The shared analysis sees one label (e.g. "same person") and one entry per comparison, so metrics.csv,
curves, labels.csv (best F1 and the harness's other objectives) and reports work as for any operation;
the operation's own table (verification.csv, identification.csv, liveness.csv) and its recommendation
under the rate objective go beside them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.calls.backends import make_client
from evaluation.calls.backends.rekognition import custom_endpoint
from evaluation.datasets import Dataset, DatasetItem
from evaluation.operations.base import Operation, Scored, markdown_table
from evaluation.stats.biometrics import recommend_at_rate
from evaluation.stats.metrics import ScoredPairs, average_precision
from evaluation.stats.thresholds import Objective

DEFAULT_RATE_OBJECTIVE = "fnmr-at-fmr:0.001"
MAX_SLICE_VALUES = 20  # a column with more distinct values is an id, not a group


class BiometricOperation(Operation):
    """An operation judged over comparisons; the pipeline fetches through `fetcher` (evaluation.aws)."""

    default_objective = DEFAULT_RATE_OBJECTIVE
    judges_rates = True
    backends: tuple[str, ...] = ("rekognition", "replay")

    def request(self, *, min_confidence: float, max_labels: int) -> dict[str, Any]:
        return {}

    def summary_request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return dict(request)

    def floor(self, answers: Sequence[Any], request: Mapping[str, Any]) -> tuple[float, dict[str, Any]]:
        """Every comparison is asked at threshold 0: nothing is cut off below any threshold."""
        return 0.0, {
            "requested_min_confidence": 0.0,
            "lowest_confidence_seen": None,
            "answers_truncated_at_max_labels": 0,
            "truncation_floor": None,
            "evaluated_from": 0.0,
        }

    def vocabulary(self, declared: Sequence[str], truths: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
        return (self.label,)

    label = "match"

    def load(self, source: str, **keywords: Any) -> Dataset:
        raise NotImplementedError

    def fetcher(self, client: Any, **settings: Any) -> Any:
        raise NotImplementedError

    def fetcher_for(
        self, request: Any, dataset: Dataset, *, client: Any, session: Any, s3_client: Any
    ) -> Any:
        """The fetcher for a RunRequest: its client (none for replay), endpoint, pace and face settings."""
        if request.backend == "rekognition" and client is None:
            client = make_client(
                session=session,
                region=request.region,
                profile=request.profile,
                endpoint_url=request.endpoint_url,
                max_pool_connections=max(10, request.workers),
            )
        if request.backend != "rekognition":
            client = None
        settings: dict[str, Any] = {
            "dataset": dataset,
            "endpoint": custom_endpoint(str(client.meta.endpoint_url)) if client else request.endpoint_url,
            "region": client.meta.region_name if client else request.region,
            "workers": request.workers,
            "tps": request.tps,
            "max_runtime_s": request.max_runtime_s,
            "max_faces": request.max_faces,
            **self.settings_of(request, s3_client),
        }
        return self.fetcher(client, **settings)

    def settings_of(self, request: Any, s3_client: Any) -> dict[str, Any]:
        """The request's settings only this operation's fetcher takes."""
        return {}


def attributes_of(item: DatasetItem) -> dict[str, str]:
    return dict(item.attributes)


def slice_columns(truths: Sequence[Mapping[str, Any]]) -> list[str]:
    """Dataset columns worth slicing by: present on some items, with 2 to MAX_SLICE_VALUES values."""
    values: dict[str, set[str]] = {}
    for truth in truths:
        for name, value in (truth.get("attributes") or {}).items():
            values.setdefault(name, set()).add(str(value))
    return [name for name, seen in sorted(values.items()) if 2 <= len(seen) <= MAX_SLICE_VALUES]


def one_label_pairs(
    label: str, scores: np.ndarray, is_true: np.ndarray, support: int | None = None
) -> ScoredPairs:
    """Every comparison as one entry of one label (the shared analysis's shape)."""
    count = int(scores.size)
    return ScoredPairs(
        labels=(label,),
        n_images=count,
        support=np.array([int(is_true.sum()) if support is None else support], dtype=np.int64),
        label_idx=np.zeros(count, dtype=np.int64),
        image_idx=np.arange(count, dtype=np.int64),
        confidence=np.clip(scores.astype(np.float64), 0.0, 100.0),
        is_true=is_true.astype(bool),
    )


def rate_target(objective: Objective | None) -> float:
    if objective is not None and objective.kind == "fnmr-at-fmr" and objective.target is not None:
        return float(objective.target)
    return float(Objective.parse(DEFAULT_RATE_OBJECTIVE).target or 0.001)


def recommendation_lines(
    title: str, parameter: str, recommended: Mapping[str, Any], rates: tuple[str, str], names: tuple[str, str]
) -> list[str]:
    accepted, rejected = rates
    if recommended.get("threshold") is None:
        return [f"**{title}:** none. {recommended.get('note', '')}".rstrip(), ""]
    accepted_value, rejected_value = recommended.get(accepted), recommended.get(rejected)
    line = (
        f"**{title}:** {parameter} {recommended['threshold']:g}: "
        f"{names[0]} {_number(accepted_value)}, {names[1]} {_number(rejected_value)} "
        f"(status {recommended['status']}; about {recommended['needed']:,} comparisons of the refused kind "
        "are needed to support the target)"
    )
    return [line + (f". {recommended['note']}" if recommended.get("note") else ""), ""]


def sliced(
    truths: Sequence[Mapping[str, Any]],
    table_for: Callable[[np.ndarray], pd.DataFrame],
    target: float,
    *,
    refused: str,
    rates: tuple[str, str],
    at_threshold: float | None,
) -> pd.DataFrame:
    """Per value of every slice column: the recommendation on that group alone and the rates at the
    overall recommended threshold (does one threshold serve every group?)."""
    rows = []
    accepted, rejected = rates
    for column in slice_columns(truths):
        values = np.array([str((t.get("attributes") or {}).get(column, "")) for t in truths], dtype=object)
        for value in sorted(set(values) - {""}):
            members = values == value
            table = table_for(members)
            if table.empty:
                continue
            chosen = recommend_at_rate(
                table, target, refused=refused, accepted_rate=accepted, rejected_rate=rejected
            )
            at = {}
            if at_threshold is not None:
                row = table[table["threshold"] <= at_threshold].tail(1)
                if not row.empty:
                    at = {
                        f"{accepted}_at_overall": float(row[accepted].iloc[0]),
                        f"{rejected}_at_overall": float(row[rejected].iloc[0]),
                    }
            rows.append(
                {
                    "column": column,
                    "value": value,
                    "members": int(members.sum()),
                    **{
                        name: int(table[name].iloc[0])
                        for name in table.columns
                        if name in ("genuine", "impostor", "mated", "non_mated", "bona_fide", "attacks")
                    },
                    "threshold": chosen.get("threshold"),
                    accepted: chosen.get(accepted),
                    rejected: chosen.get(rejected),
                    "needed": chosen.get("needed"),
                    "status": chosen.get("status"),
                    **at,
                }
            )
    return pd.DataFrame(rows)


def rates_and_slices(
    truths: Sequence[Mapping[str, Any]],
    table: pd.DataFrame,
    table_for: Callable[[np.ndarray], pd.DataFrame],
    target: float,
    *,
    refused: str,
    rates: tuple[str, str],
    names: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The recommendation over the whole error-tradeoff `table` at `target`, and the same per group of
    every slice column (with each group's rates at the overall threshold)."""
    accepted, rejected = rates
    recommended = recommend_at_rate(
        table, target, refused=refused, accepted_rate=accepted, rejected_rate=rejected, names=names
    )
    slices = sliced(
        truths, table_for, target, refused=refused, rates=rates, at_threshold=recommended.get("threshold")
    )
    return recommended, slices


def every_ten(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of an error-tradeoff table at thresholds 0, 10, ..., 100 (report.md's short table)."""
    return table[table["threshold"].isin(np.arange(0.0, 101.0, 10.0))].reset_index(drop=True)


def scored(
    *,
    label: str,
    scores: np.ndarray,
    is_true: np.ndarray,
    support: int | None = None,
    predictions: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    details: dict[str, Any],
    markdown: list[str],
    key: str,
    parameter: str,
    objective: str,
    recommended: Mapping[str, Any],
) -> Scored:
    """The Scored of a rate-judged operation: one label, every comparison an entry, nothing unjudged in
    the shared sense, and thresholds.yaml's entry `key` (the parameter to set, the objective, the
    recommendation with its note)."""
    pairs = one_label_pairs(label, scores, is_true, support)
    return Scored(
        pairs=pairs,
        ap=average_precision(pairs),
        unjudged=pd.DataFrame(columns=["name", "images", "max_confidence"]),
        predictions=predictions,
        tables=tables,
        details=details,
        markdown=tuple(markdown),
        thresholds={key: {"parameter": parameter, "objective": objective, **recommended}},
    )


def table_lines(frame: pd.DataFrame, limit: int = 30) -> list[str]:
    if frame.empty:
        return []
    rows = list(frame.head(limit).itertuples(index=False, name=None))
    return [*markdown_table(list(frame.columns), rows), ""]


def _number(value: Any) -> str:
    return "–" if value is None else f"{float(value):.4g}"
