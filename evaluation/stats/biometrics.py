"""Error rates of a biometric decision at every threshold: verification (FMR/FNMR), identification
(rank-1 identification rate, FPIR, FNIR) and presentation-attack detection (APCER/BPCER).

All three are the same sweep: comparisons (pairs, probes, sessions) that should be accepted
("genuine": the same person, an enrolled probe, a live person) and comparisons that should be refused
("impostor": two people, a probe nobody enrolled, an attack), each with a score 0-100 as Rekognition
reports it; a comparison is accepted when its score is at or above the threshold, as
SimilarityThreshold, FaceMatchThreshold and a liveness Confidence threshold work. Counts come from one
sort and `searchsorted`, no loop over thresholds. Rates with nothing to count are NaN, never 0.

A target on the refusal side (FMR <= 0.001) needs enough impostors to mean anything: with none
accepted among n impostors, the 95% upper bound of the true rate is about 3/n (the rule of three), so
about 3/target impostors are needed before a measured FMR of 0 supports the target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "TRADEOFF_COLUMNS",
    "error_tradeoff",
    "impostors_needed",
    "recommend_at_rate",
]

TRADEOFF_COLUMNS = (
    "threshold",
    "genuine",
    "impostor",
    "false_matches",
    "false_non_matches",
    "fmr",
    "fnmr",
)


def _scores(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size and (not np.isfinite(array).all() or array.min() < 0 or array.max() > 100):
        raise ValueError(f"{name} scores must be finite and within 0-100")
    return np.sort(array)


def error_tradeoff(genuine: Any, impostor: Any, *, whole_numbers: bool = True) -> pd.DataFrame:
    """FMR and FNMR at every distinct score (exact) and, with `whole_numbers`, at 0, 1, ..., 100.

    Columns: threshold, genuine, impostor (how many of each were compared), false_matches (impostors
    scored >= threshold), false_non_matches (genuine scored < threshold), fmr, fnmr. Sorted by threshold.
    """
    genuine_sorted, impostor_sorted = _scores(genuine, "genuine"), _scores(impostor, "impostor")
    thresholds = np.union1d(genuine_sorted, impostor_sorted)
    if whole_numbers:
        thresholds = np.union1d(thresholds, np.arange(0.0, 101.0))
    n_genuine, n_impostor = genuine_sorted.size, impostor_sorted.size
    false_matches = n_impostor - np.searchsorted(impostor_sorted, thresholds, side="left")
    false_non_matches = np.searchsorted(genuine_sorted, thresholds, side="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        fmr = np.where(n_impostor > 0, false_matches / max(n_impostor, 1), np.nan)
        fnmr = np.where(n_genuine > 0, false_non_matches / max(n_genuine, 1), np.nan)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "genuine": np.full(thresholds.size, n_genuine, dtype=np.int64),
            "impostor": np.full(thresholds.size, n_impostor, dtype=np.int64),
            "false_matches": false_matches.astype(np.int64),
            "false_non_matches": false_non_matches.astype(np.int64),
            "fmr": fmr,
            "fnmr": fnmr,
        },
        columns=list(TRADEOFF_COLUMNS),
    )


def impostors_needed(target: float) -> int:
    """Impostor comparisons needed for a measured rate of 0 to support `target` at about 95% (3 / target)."""
    if not 0.0 < target <= 1.0:
        raise ValueError(f"the target rate must be in (0, 1]; got {target!r}")
    return math.ceil(3.0 / target - 1e-9)


def recommend_at_rate(
    table: pd.DataFrame,
    target: float,
    *,
    refused: str = "impostor",
    accepted_rate: str = "fmr",
    rejected_rate: str = "fnmr",
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The lowest threshold whose `accepted_rate` (FMR, FPIR, APCER) is at most `target`: at the lowest
    such threshold the other error (FNMR, FNIR, BPCER) is smallest, as it only grows with the threshold.

    `table` has a `threshold` column, the two rate columns and the count column `refused` (impostors,
    unknown probes, attacks). Returns plain values: threshold, both rates, the counts, `needed` (about
    3 / target of `refused`), and `status`: ok, too-few-impostors (the data cannot support the target),
    no-impostors, or unreachable (no threshold reaches the target). `names` words the note.
    """
    words = {"refused": "impostor pairs", "accepted_rate": "FMR", "rejected_rate": "FNMR", **(names or {})}
    needed = impostors_needed(target)
    if table.empty:
        return {
            "threshold": None,
            "status": "no-comparisons",
            "needed": needed,
            "note": "nothing was compared",
        }
    count = int(table[refused].iloc[0])
    base: dict[str, Any] = {"target": float(target), refused: count, "needed": needed}
    if count == 0:
        return {
            **base,
            "threshold": None,
            "status": "no-impostors",
            "note": f"no {words['refused']}: {words['accepted_rate']} cannot be measured; about {needed:,} "
            f"are needed to support {words['accepted_rate']} <= {target:g}",
        }
    ordered = table.sort_values("threshold", kind="stable").reset_index(drop=True)
    feasible = ordered[ordered[accepted_rate] <= target]
    if feasible.empty:
        return {
            **base,
            "threshold": None,
            "status": "unreachable",
            "note": f"{words['accepted_rate']} <= {target:g} is not reached at any threshold up to 100",
        }
    row = feasible.iloc[0]
    result = {
        **base,
        "threshold": float(row["threshold"]),
        accepted_rate: _plain(row[accepted_rate]),
        rejected_rate: _plain(row[rejected_rate]),
        **{
            name: int(row[name])
            for name in row.index
            if name not in ("threshold", accepted_rate, rejected_rate) and _is_count(row[name])
        },
    }
    if count < needed:
        result["status"] = "too-few-impostors"
        result["note"] = (
            f"{count:,} {words['refused']}, fewer than the about {needed:,} (3 / {target:g}) needed to "
            f"support {words['accepted_rate']} <= {target:g}: the threshold is a guess beyond what the "
            "data can show"
        )
    else:
        result["status"] = "ok"
        result["note"] = ""
    return result


def _is_count(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _plain(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
