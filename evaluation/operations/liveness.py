"""`--operation liveness`: the Face Liveness Confidence threshold that refuses attacks and lets real
people through, on sessions you recorded.

- Dataset: a CSV `session_id,live[,attack_type]` (live true for a real person, false for an attack;
  attack_type e.g. printed-photo, screen-replay, mask), then any columns to slice by.
- Calls: GetFaceLivenessSessionResults per session (evaluation.aws.faces.LivenessResults), stored
  without image bytes; or answers saved earlier (`--liveness-answers FILE.jsonl`, one answer a line).
- Adapter: `read_liveness`. A session whose Status is not SUCCEEDED has no Confidence: it is not judged
  and is listed (liveness_unjudged.csv).
- Scoring (ISO/IEC 30107-3's names): a session is accepted as live when Confidence >= threshold. APCER
  is the share of attacks accepted, BPCER the share of live sessions refused. liveness.csv gives both at
  every distinct Confidence and every whole number, with the worst attack type's APCER (the standard's
  APCER for several attack types); liveness_by_attack.csv gives each type's APCER; the recommended
  threshold is the lowest whose worst-type APCER is at most the target (bpcer-at-apcer:0.001 by default,
  the same objective as fnmr-at-fmr).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.aws.faces import LivenessResults
from evaluation.datasets import Dataset, DatasetItem
from evaluation.datasets.faces import load_face_dataset
from evaluation.labelmap import LabelMap
from evaluation.operations.answers import ResponseShapeError
from evaluation.operations.base import Scored
from evaluation.operations.biometric import (
    BiometricOperation,
    every_ten,
    rate_target,
    rates_and_slices,
    recommendation_lines,
    scored,
    table_lines,
)
from evaluation.stats.biometrics import error_tradeoff
from evaluation.stats.thresholds import Objective

LIVE = "live"
COLUMNS = (
    "threshold",
    "bona_fide",
    "attacks",
    "attacks_accepted",
    "bona_fide_rejected",
    "apcer",
    "bpcer",
    "apcer_worst_type",
)


@dataclass(frozen=True)
class LivenessAnswer:
    status: str
    confidence: float | None
    audit_images: int


def read_liveness(response: Mapping[str, Any]) -> LivenessAnswer:
    try:
        status = str(response["Status"])
        confidence = response.get("Confidence")
        return LivenessAnswer(
            status,
            float(confidence) if confidence is not None and status == "SUCCEEDED" else None,
            len(response.get("AuditImages") or []),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ResponseShapeError(f"not a GetFaceLivenessSessionResults answer: {exc!r}") from None


def liveness_table(
    confidence: np.ndarray, live: np.ndarray, attack_type: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(liveness.csv, liveness_by_attack.csv) from each judged session's Confidence and truth."""
    pooled = error_tradeoff(confidence[live], confidence[~live])
    table = pd.DataFrame(
        {
            "threshold": pooled["threshold"],
            "bona_fide": pooled["genuine"],
            "attacks": pooled["impostor"],
            "attacks_accepted": pooled["false_matches"],
            "bona_fide_rejected": pooled["false_non_matches"],
            "apcer": pooled["fmr"],
            "bpcer": pooled["fnmr"],
        }
    )
    by_type = []
    worst = np.zeros(len(table))
    for kind in sorted(set(attack_type[~live].tolist())):
        members = (~live) & (attack_type == kind)
        ordered = np.sort(confidence[members])
        accepted = ordered.size - np.searchsorted(ordered, table["threshold"].to_numpy(), side="left")
        rate = accepted / ordered.size
        worst = np.maximum(worst, rate)
        by_type.append(
            pd.DataFrame(
                {
                    "attack_type": kind,
                    "threshold": table["threshold"],
                    "attacks": ordered.size,
                    "attacks_accepted": accepted,
                    "apcer": rate,
                }
            )
        )
    table["apcer_worst_type"] = worst if by_type else np.nan
    frame = (
        pd.concat(by_type, ignore_index=True)
        if by_type
        else pd.DataFrame(columns=["attack_type", "threshold", "attacks", "attacks_accepted", "apcer"])
    )
    return table[list(COLUMNS)], frame


class Liveness(BiometricOperation):
    name = "liveness"
    api = "GetFaceLivenessSessionResults"
    label = LIVE
    needs = "sessions (session_id,live[,attack_type])"

    def read(self, response: Mapping[str, Any]) -> LivenessAnswer:
        return read_liveness(response)

    def load(self, source: str, **keywords: Any) -> Dataset:
        return load_face_dataset(source, expect=("sessions",), **keywords)

    def fetcher(
        self, client: Any, *, dataset: Dataset, liveness_answers: str | None = None, **settings: Any
    ) -> Any:
        settings.pop("max_faces", None)
        return LivenessResults(client, saved=liveness_answers, **settings)

    def settings_of(self, request: Any, s3_client: Any) -> dict[str, Any]:
        return {"liveness_answers": str(request.liveness_answers) if request.liveness_answers else None}

    def ground_truth(self, item: DatasetItem) -> dict[str, Any]:
        attributes = dict(item.attributes)
        return {
            "live": LIVE in item.labels,
            "attack_type": attributes.get("attack_type"),
            "attributes": attributes,
        }

    def score(
        self,
        answers: Sequence[Any],
        truths: Sequence[Mapping[str, Any]],
        *,
        images: Sequence[str],
        vocabulary: Sequence[str],
        label_map: LabelMap,
        use_parents: bool,
        floor: float,
        objective: Objective | None = None,
    ) -> Scored:
        judged = np.array([answer.confidence is not None for answer in answers], dtype=bool)
        unjudged = [
            {"name": images[i], "images": 1, "max_confidence": None, "status": answers[i].status}
            for i in range(len(answers))
            if not judged[i]
        ]
        kept = [truths[i] for i in np.flatnonzero(judged)]
        confidence = np.array([answers[i].confidence for i in np.flatnonzero(judged)], dtype=np.float64)
        live = np.array([bool(t["live"]) for t in kept], dtype=bool)
        attack = np.array([str(t.get("attack_type") or "unspecified") for t in kept], dtype=object)
        target = rate_target(objective)
        table, by_attack = liveness_table(confidence, live, attack)
        names = {
            "refused": "attack sessions",
            "accepted_rate": "APCER (worst attack type)",
            "rejected_rate": "BPCER",
        }

        def table_for(members: np.ndarray) -> pd.DataFrame:
            return liveness_table(confidence[members], live[members], attack[members])[0]

        recommended, slices = rates_and_slices(
            kept,
            table,
            table_for,
            target,
            refused="attacks",
            rates=("apcer_worst_type", "bpcer"),
            names=names,
        )
        details = {
            "sessions": len(answers),
            "judged": int(judged.sum()),
            "not_succeeded": len(unjudged),
            "bona_fide": int(live.sum()),
            "attacks": int((~live).sum()),
            "attack_types": sorted(set(attack[~live].tolist())),
            "recommended": recommended,
            "objective": f"bpcer-at-apcer:{target:g}",
        }
        markdown = [
            "## Face Liveness",
            "",
            f"{details['judged']} of {len(answers)} sessions judged ({details['bona_fide']} live, "
            f"{details['attacks']} attacks). APCER: attacks accepted; BPCER: live people refused.",
            "",
            *recommendation_lines(
                f"Confidence threshold for APCER <= {target:g}",
                "Confidence",
                recommended,
                ("apcer_worst_type", "bpcer"),
                ("APCER (worst type)", "BPCER"),
            ),
        ]
        if unjudged:
            markdown += [
                f"{len(unjudged)} session(s) did not succeed and are not judged (liveness_unjudged.csv).",
                "",
            ]
        markdown += [
            "### APCER and BPCER at whole thresholds (every 10)",
            "",
            *table_lines(every_ten(table), 11),
        ]
        if not slices.empty:
            markdown += ["### By group", "", *table_lines(slices)]
        tables = {
            "liveness": table,
            "liveness_by_attack": by_attack,
            "liveness_unjudged": pd.DataFrame(
                unjudged, columns=["name", "images", "max_confidence", "status"]
            ),
        }
        if not slices.empty:
            tables["liveness_slices"] = slices
        predictions = pd.DataFrame(
            {
                "session_id": [images[i] for i in np.flatnonzero(judged)],
                "live": live,
                "attack_type": np.where(live, "", attack),
                "confidence": confidence,
            }
        )
        return scored(
            label=LIVE,
            scores=confidence,
            is_true=live,
            predictions=predictions,
            tables=tables,
            details=details,
            markdown=markdown,
            key="liveness",
            parameter="Confidence",
            objective=f"bpcer-at-apcer:{target:g}",
            recommended=recommended,
        )


OPERATION = Liveness()
