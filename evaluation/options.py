"""Every setting of a run, validated once where it is built: `RunRequest` (the calls) and
`AnalysisOptions` (the judging). The parsed objects travel through the pipeline, not strings or long
keyword lists; the CLI and the notebook API build them, nothing else parses options again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from evaluation.datasets import Dataset
from evaluation.errors import UserError
from evaluation.labelmap import LabelMap
from evaluation.operations import check_backend, check_operation
from evaluation.stats.thresholds import Objective

BACKENDS = ("rekognition", "replay", "local", "custom-labels")


@dataclass(frozen=True)
class AnalysisOptions:
    """Everything that changes the numbers but not the calls: change them freely with `reanalyse`.

    `objective` and `label_map` accept text (an objective, a YAML path) and are parsed here, once.
    """

    objective: Objective = field(default_factory=lambda: Objective.parse("best-f1"))
    min_support: int = 10
    use_parents: bool = True
    label_map: LabelMap = field(default_factory=LabelMap.identity)
    label_map_path: str | None = None
    vocabulary: tuple[str, ...] | None = None
    # A Custom Labels EvaluationSummary, parsed (evaluation.aws.evaluation_summary.AwsEvaluation), to put
    # beside this run's numbers; None: the run's own, if it had one.
    aws_evaluation: Any = None

    @classmethod
    def build(
        cls,
        *,
        objective: str | Objective | None = None,
        min_support: int | None = None,
        use_parents: bool | None = None,
        label_map: str | Path | None = None,
        vocabulary: Sequence[str] | None = None,
        aws_evaluation: Any = None,
    ) -> AnalysisOptions:
        """From plain values (None: the default); every mistake is a UserError naming the option."""
        if min_support is not None and min_support < 0:
            raise UserError(f"--min-support must not be negative, got {min_support}")
        parsed = objective if isinstance(objective, Objective) else Objective.parse(objective or "best-f1")
        return cls(
            objective=parsed,
            min_support=10 if min_support is None else int(min_support),
            use_parents=True if use_parents is None else bool(use_parents),
            label_map=LabelMap.load(label_map) if label_map else LabelMap.identity(),
            label_map_path=str(label_map) if label_map else None,
            vocabulary=tuple(vocabulary) if vocabulary is not None else None,
            aws_evaluation=aws_evaluation,
        )

    @classmethod
    def from_dict(cls, recorded: Mapping[str, Any], **changes: Any) -> AnalysisOptions:
        """A run's recorded options (run.json's "analysis") with `changes` (None: keep the run's)."""
        unknown = set(changes) - ANALYSIS_KEYWORDS
        if unknown:
            raise TypeError(f"unknown analysis options: {sorted(unknown)}")
        values = {key: recorded.get(key) for key in ANALYSIS_KEYWORDS if key != "aws_evaluation"}
        values.update({key: value for key, value in changes.items() if value is not None})
        return cls.build(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": str(self.objective),
            "min_support": self.min_support,
            "use_parents": self.use_parents,
            "label_map": self.label_map_path,
            "vocabulary": list(self.vocabulary) if self.vocabulary is not None else None,
        }


ANALYSIS_KEYWORDS = frozenset(
    {"objective", "min_support", "use_parents", "label_map", "vocabulary", "aws_evaluation"}
)


@dataclass(frozen=True)
class RunRequest:
    """Everything about the calls of a run: what is read, who answers, what is asked, how fast, at what
    cost. Validated in __post_init__, before the dataset is read or anything is paid for."""

    dataset: str | Path | Dataset
    backend: str = "rekognition"
    operation: str = "labels"
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    min_confidence: float = 0.0
    max_labels: int = 1000
    cache: str | Path | None = None
    dataset_format: str | None = None
    skip_bad_lines: bool = False
    vocabulary: tuple[str, ...] | None = None  # read only these labels of the dataset
    workers: int = 8
    tps: float | None = None
    convert: bool = False
    fit: bool = False
    max_cost: float | None = None
    price_table: str | Path | None = None
    progress: bool = True
    project_version_arn: str | None = None
    max_results: int | None = None
    answers: str | Path | None = None  # recorded answers (JSON lines) to store before a replay run

    def __post_init__(self) -> None:
        check_operation(self.operation)
        if self.backend not in BACKENDS:
            raise UserError(f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}")
        check_backend(self.backend, self.operation)
        if not 0.0 <= self.min_confidence <= 100.0:
            raise UserError(f"--min-confidence must be within 0 and 100, got {self.min_confidence:g}")
        if not 1 <= self.max_labels <= 1000:
            raise UserError(f"--max-labels must be within 1 and 1000, got {self.max_labels}")
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        if self.tps is not None and self.tps <= 0:
            raise UserError(f"--tps must be positive, got {self.tps:g}")
        if self.max_cost is not None and self.max_cost < 0:
            raise UserError(f"--max-cost must not be negative, got {self.max_cost:g}")
        if self.answers is not None and self.backend != "replay":
            raise UserError(
                "--answers FILE takes recorded answers for --backend replay; add --backend replay"
            )
        if self.vocabulary is not None and not isinstance(self.vocabulary, tuple):
            object.__setattr__(self, "vocabulary", tuple(self.vocabulary))

    def but(self, **changes: Any) -> RunRequest:
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)


RUN_KEYWORDS = frozenset(f.name for f in fields(RunRequest))


def split_keywords(keywords: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The notebook API's keywords, sorted once into RunRequest's and AnalysisOptions' (vocabulary is
    both: the labels read from the dataset and the labels judged)."""
    unknown = set(keywords) - RUN_KEYWORDS - ANALYSIS_KEYWORDS
    if unknown:
        raise TypeError(f"unknown keyword(s): {', '.join(sorted(unknown))}")
    run = {key: value for key, value in keywords.items() if key in RUN_KEYWORDS}
    analysis = {key: value for key, value in keywords.items() if key in ANALYSIS_KEYWORDS}
    return run, analysis
